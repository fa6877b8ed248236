//! The request services: `$SYS.REQ.SERVER.PING[.<E>]`,
//! `$SYS.REQ.SERVER.<id>.<E>`, `$SYS.REQ.ACCOUNT.<acc>.<E>` and
//! `$SYS.REQ.USER.INFO`, answered with the monitoring endpoints' JSON in
//! nats-server's envelope (`{"server":{...},"data":{...}}`, or
//! `"error":{"code","description"}`). A request's payload may carry the
//! endpoint's options as JSON (`{"subs":true}`) and nats-server's filters
//! (`server_name`, `cluster`, `host`: servers that do not match stay
//! silent).

use super::subs::{AccountEndpoint, Endpoint, Service};
use super::Delivery;
use crate::engine::Server;
use crate::monitor::http::{Body, Request};
use crate::time::Instant;
use serde_json::Value;

/// What one answer holds.
enum Answer {
    /// `"data"`: JSON text.
    Data(String),
    /// `"error"`.
    Error(u16, String),
    /// The whole body as is (IDZ has no envelope).
    Bare(String),
    /// No answer (nats-server's `errSkipZreq`, or a service canopy lacks).
    Skip,
}

impl Answer {
    /// `f` of the data; any other answer as it is.
    fn and_then(self, f: impl FnOnce(String) -> Answer) -> Answer {
        match self {
            Answer::Data(s) => f(s),
            a @ (Answer::Error(..) | Answer::Bare(_) | Answer::Skip) => a,
        }
    }
}

impl Server {
    /// Answers one request to a system subscription.
    pub(super) fn system_request(&mut self, d: &Delivery, now: Instant) {
        let Some(reply) = d.reply.clone() else {
            return;
        };
        let opts: Option<Value> = serde_json::from_slice(d.payload()).ok();
        if !self.filter_matches(opts.as_ref()) {
            return;
        }
        let query = query_of(opts.as_ref());
        let answer = match d.service {
            Service::Ping | Service::Server(Endpoint::Statsz) => {
                let body = self.statsz_message(now);
                self.system_publish(d.account, &reply, body, now);
                return;
            }
            Service::Server(e) => self.server_endpoint(e, &query, now),
            Service::Account(e) => match account_token(&d.subject) {
                Some(acc) => self.account_endpoint(e, &acc, &query, now),
                None => Answer::Skip,
            },
            Service::Imported(e) => {
                let acc = self.accounts[d.account.0 as usize].name.clone();
                self.account_endpoint(e, &acc, &query, now)
            }
            Service::AccountPingStatz => self.account_statz(None, now),
            Service::UserInfo | Service::ImportedUserInfo => self.user_info(d),
            Service::Claims(_) | Service::Quiet => Answer::Skip,
        };
        let body = match answer {
            Answer::Skip => return,
            Answer::Bare(s) => s.into_bytes(),
            Answer::Data(data) => self.envelope("data", &data, now),
            Answer::Error(code, text) => {
                let e = serde_json::json!({"code": code, "description": text});
                self.envelope("error", &e.to_string(), now)
            }
        };
        self.system_publish(d.account, &reply, body, now);
    }

    /// `{"server":{...},"<key>":<json>}`.
    pub(super) fn envelope(&mut self, key: &str, json: &str, now: Instant) -> Vec<u8> {
        let server = serde_json::to_string(&self.server_facts(now)).unwrap_or_default();
        format!("{{\"server\":{server},\"{key}\":{json}}}").into_bytes()
    }

    /// nats-server's `EventFilterOptions`: a request naming another
    /// server, cluster or host is not for us.
    fn filter_matches(&self, opts: Option<&Value>) -> bool {
        let Some(o) = opts.and_then(Value::as_object) else {
            return true;
        };
        let want = |key: &str, have: &str| {
            o.get(key)
                .and_then(Value::as_str)
                .is_none_or(|w| w.is_empty() || have.contains(w))
        };
        want("server_name", &self.info.server_name)
            && want("cluster", self.cluster_name().unwrap_or_default())
            && want("host", &self.info.host)
    }

    /// A monitoring endpoint rendered as `/path?query` renders it.
    fn render(&self, path: &str, query: &str, now: Instant) -> Answer {
        let req = Request {
            method: "GET".into(),
            path: format!(
                "{}{path}",
                self.options.http_base_path.trim_end_matches('/')
            ),
            query: query.to_string(),
            http10: false,
            keep_alive: false,
            close_requested: false,
        };
        match crate::monitor::respond(self, &req, now) {
            Body::Json(s) => Answer::Data(s),
            Body::JsonStatus(code, s) | Body::Error(code, s) => Answer::Error(code, s),
            Body::Html(_) | Body::NotFound => Answer::Skip,
        }
    }

    fn server_endpoint(&mut self, e: Endpoint, query: &str, now: Instant) -> Answer {
        let path = match e {
            Endpoint::Idz => {
                let idz = serde_json::json!({
                    "name": self.info.server_name,
                    "host": self.info.host,
                    "id": self.info.server_id,
                });
                return Answer::Bare(idz.to_string());
            }
            Endpoint::Healthz => {
                return self
                    .render("/healthz", query, now)
                    .and_then(|_| Answer::Data(r#"{"status":"ok","status_code":200}"#.into()));
            }
            Endpoint::Varz => "/varz",
            Endpoint::Subsz => "/subsz",
            Endpoint::Connz => "/connz",
            Endpoint::Routez => "/routez",
            Endpoint::Gatewayz => "/gatewayz",
            Endpoint::Leafz => "/leafz",
            Endpoint::Accountz => "/accountz",
            Endpoint::Statsz
            | Endpoint::Jsz
            | Endpoint::Profilez
            | Endpoint::Expvarz
            | Endpoint::Ipqueuesz
            | Endpoint::Raftz => return Answer::Skip,
        };
        self.render(path, query, now)
    }

    fn account_endpoint(
        &mut self,
        e: AccountEndpoint,
        acc: &str,
        query: &str,
        now: Instant,
    ) -> Answer {
        let with_acc = |key: &str| {
            let mut q = query.to_string();
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(key);
            q.push('=');
            q.push_str(acc);
            q
        };
        match e {
            AccountEndpoint::Connz => self.render("/connz", &with_acc("acc"), now),
            AccountEndpoint::Leafz => self.render("/leafz", &with_acc("acc"), now),
            AccountEndpoint::Subsz => {
                let mut q = query.to_string();
                q.push_str(if q.is_empty() { "subs=1" } else { "&subs=1" });
                self.render("/subsz", &q, now)
                    .and_then(|s| Answer::Data(only_account(&s, acc)))
            }
            AccountEndpoint::Info => {
                self.render("/accountz", &with_acc("acc"), now)
                    .and_then(|s| {
                        serde_json::from_str::<Value>(&s)
                            .ok()
                            .and_then(|mut v| v.get_mut("account_detail").map(Value::take))
                            .map_or(Answer::Skip, |d| Answer::Data(d.to_string()))
                    })
            }
            AccountEndpoint::Statz => {
                if acc == "PING" {
                    return Answer::Skip;
                }
                self.account_statz(Some(acc), now)
            }
            AccountEndpoint::Conns => {
                let Some(id) = self.account_by_name(acc.as_bytes()) else {
                    return Answer::Skip;
                };
                if self.clients_in(id) == 0 {
                    return Answer::Skip;
                }
                Answer::Bare(self.account_conns_json(id, now))
            }
            AccountEndpoint::Jsz => Answer::Skip,
        }
    }

    /// `/accstatz` of one account (`None`: every account with
    /// connections); nothing when there is none to show.
    fn account_statz(&mut self, acc: Option<&str>, now: Instant) -> Answer {
        let Answer::Data(s) = self.render("/accstatz", "", now) else {
            return Answer::Skip;
        };
        let Ok(mut v) = serde_json::from_str::<Value>(&s) else {
            return Answer::Skip;
        };
        if let (Some(acc), Some(list)) = (
            acc,
            v.get_mut("account_statz").and_then(Value::as_array_mut),
        ) {
            list.retain(|a| a.get("acc").and_then(Value::as_str) == Some(acc));
        }
        let empty = v
            .get("account_statz")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if empty {
            return Answer::Skip;
        }
        Answer::Data(v.to_string())
    }

    /// `$SYS.REQ.USER.INFO`: who the requester is (its user and account).
    fn user_info(&self, d: &Delivery) -> Answer {
        let Some(info) = self
            .conns
            .get(&d.publisher)
            .and_then(|c| crate::client::inspect::conn_info(c, &self.accounts, None))
        else {
            return Answer::Skip;
        };
        let v = serde_json::json!({
            "user": info.user,
            "account": info.account,
            "account_name": info.account,
        });
        Answer::Data(v.to_string())
    }
}

/// `$SYS.REQ.ACCOUNT.<acc>.<E>`'s account.
fn account_token(subject: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(subject).ok()?;
    let mut t = s.split('.');
    match (t.next(), t.next(), t.next(), t.next(), t.next(), t.next()) {
        (Some("$SYS"), Some("REQ"), Some("ACCOUNT"), Some(acc), Some(_), None) => {
            Some(acc.to_string())
        }
        _ => None,
    }
}

/// A JSON options object as a query string (`{"subs":true}` ->
/// `subs=true`), with nats-server's JSON names mapped to the query's.
fn query_of(opts: Option<&Value>) -> String {
    let Some(o) = opts.and_then(Value::as_object) else {
        return String::new();
    };
    let mut q = String::new();
    for (k, v) in o {
        let key = match k.as_str() {
            "subscriptions" => "subs",
            "account" => "acc",
            "server_name" | "cluster" | "host" | "tags" | "domain" => continue,
            k => k,
        };
        let val = match v {
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            Value::Null | Value::Array(_) | Value::Object(_) => continue,
        };
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(key);
        q.push('=');
        q.push_str(&val);
    }
    q
}

/// `/subsz` JSON keeping only `acc`'s subscriptions.
fn only_account(json: &str, acc: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(json) else {
        return json.to_string();
    };
    if let Some(list) = v
        .get_mut("subscriptions_list")
        .and_then(Value::as_array_mut)
    {
        list.retain(|s| s.get("account").and_then(Value::as_str) == Some(acc));
        let n = list.len();
        v["total"] = Value::from(n);
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_requests_name_their_account() {
        assert_eq!(
            account_token(b"$SYS.REQ.ACCOUNT.APP.CONNZ").as_deref(),
            Some("APP")
        );
        assert_eq!(account_token(b"$SYS.REQ.ACCOUNT.APP"), None);
    }

    #[test]
    fn json_options_become_a_query() {
        let v: Value = serde_json::from_str(r#"{"subscriptions":true,"limit":2}"#).unwrap();
        let q = query_of(Some(&v));
        assert!(q.contains("subs=true") && q.contains("limit=2"), "{q}");
    }
}
