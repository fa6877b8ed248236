//! The INFO and CONNECT of the leaf protocol: what a hub sends on accept
//! and after a good CONNECT (the "connect info"), what a soliciting side
//! sends, and the fields Canopy reads from each.

use crate::info::{push_json_string, push_url_list, ServerInfo};
use serde::Deserialize;
use std::fmt::Write as _;

/// The leaf protocol version Canopy speaks (nats-server's `proto` 3).
pub(crate) const LEAF_PROTO: u32 = 3;

/// A permission list as the connect-info INFO carries it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct PermList {
    /// Allowed subjects (`None`: all).
    pub(crate) allow: Option<Vec<String>>,
    /// Denied subjects.
    pub(crate) deny: Option<Vec<String>>,
}

/// The INFO a hub sends on a leaf link (the fields Canopy reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct LeafInfo {
    pub(crate) server_id: String,
    pub(crate) server_name: String,
    /// Our connection's number at the hub: 0 means this is no leaf port.
    pub(crate) client_id: u64,
    pub(crate) nonce: String,
    pub(crate) cluster: String,
    pub(crate) headers: bool,
    /// The hub requires TLS.
    pub(crate) tls_required: bool,
    /// Present on a leaf port (with `info_on_connect`).
    pub(crate) leafnode_urls: Option<Vec<String>>,
    /// The hub cluster's websocket URLs (what a `ws://` remote may dial).
    pub(crate) ws_connect_urls: Option<Vec<String>>,
    /// The hub answers CONNECT with a connect-info INFO.
    pub(crate) info_on_connect: bool,
    /// This is that answer.
    pub(crate) connect_info: bool,
    /// The hub account the link is bound to.
    pub(crate) remote_account: String,
    /// The hub user's subscribe permissions: what we may import.
    pub(crate) import: Option<PermList>,
    /// The hub user's publish permissions: what we may export.
    pub(crate) export: Option<PermList>,
    /// The hub's compression mode (empty: it predates compression).
    pub(crate) compression: String,
}

/// The CONNECT a soliciting side sends on a leaf link (the fields Canopy
/// reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct LeafConnect {
    /// Set by clients only: a client that dialed the leaf port.
    pub(crate) lang: Option<String>,
    pub(crate) version: String,
    pub(crate) server_id: String,
    pub(crate) name: String,
    pub(crate) cluster: String,
    /// The soliciting side is the hub of this link (`hub: true`).
    pub(crate) is_hub: bool,
    pub(crate) headers: bool,
    pub(crate) user: Option<String>,
    pub(crate) pass: Option<String>,
    pub(crate) auth_token: Option<String>,
    pub(crate) nkey: Option<String>,
    pub(crate) sig: Option<String>,
    pub(crate) jwt: Option<String>,
    /// The soliciting side's `deny_imports`: never send these to it.
    pub(crate) deny_pub: Vec<String>,
    /// `request_isolation`: no other leafs' interest for this link.
    pub(crate) isolate: bool,
    /// The soliciting side's local account (duplicate detection).
    pub(crate) remote_account: String,
    /// Set by gateways that dialed the leaf port.
    pub(crate) gateway: Option<String>,
    /// The soliciting side's compression mode (empty: it predates
    /// compression).
    pub(crate) compress_mode: String,
}

/// What differs between the hub's INFOs on one link.
#[derive(Clone, Debug, Default)]
pub(crate) struct LeafInfoExtra<'a> {
    /// The link's connection number (`client_id`), 0 for none.
    pub(crate) client_id: u64,
    /// The nonce of the first INFO.
    pub(crate) nonce: Option<&'a str>,
    /// Our cluster name, when clustered.
    pub(crate) cluster: &'a str,
    /// The connect-info INFO: the account the link is bound to.
    pub(crate) remote_account: Option<&'a str>,
    /// The bound user's subscribe permissions (the leaf's imports).
    pub(crate) import: Option<&'a crate::perms::Rule>,
    /// The bound user's publish permissions (the leaf's exports).
    pub(crate) export: Option<&'a crate::perms::Rule>,
    /// This server's leaf URLs and those of its cluster peers.
    pub(crate) leafnode_urls: &'a [String],
    /// The leaf listener's host and port (INFO `host`, `port`, and `ip` as
    /// `host:port`).
    pub(crate) listen: (&'a str, u16),
    /// The leaf port's TLS: `tls_required`, and `tls_verify` when client
    /// certificates are checked.
    pub(crate) tls: (bool, bool),
    /// The `compression` field (left out when `None`).
    pub(crate) compression: Option<&'a str>,
}

/// Writes a hub's leaf INFO, in nats-server's field order, ending
/// `} \r\n`. The first INFO has a nonce and `compression` (the leaf
/// port's mode); the connect-info INFO has neither, and `connect_info`
/// with the bound account instead.
pub(crate) fn write_leaf_info(info: &ServerInfo, extra: &LeafInfoExtra<'_>, out: &mut String) {
    out.push_str("INFO {\"server_id\":");
    push_json_string(out, &info.server_id);
    out.push_str(",\"server_name\":");
    push_json_string(out, &info.server_name);
    out.push_str(",\"version\":");
    push_json_string(out, &info.version);
    let _ = write!(out, ",\"proto\":{LEAF_PROTO},\"git_commit\":");
    push_json_string(out, &info.git_commit);
    out.push_str(",\"go\":");
    push_json_string(out, &info.toolchain);
    let (host, port) = extra.listen;
    out.push_str(",\"host\":");
    push_json_string(out, host);
    let _ = write!(
        out,
        ",\"port\":{port},\"headers\":{},\"auth_required\":true",
        info.headers
    );
    if extra.tls.0 {
        out.push_str(",\"tls_required\":true");
    }
    if extra.tls.1 {
        out.push_str(",\"tls_verify\":true");
    }
    let _ = write!(out, ",\"max_payload\":{}", info.max_payload);
    if port != 0 {
        out.push_str(",\"ip\":");
        push_json_string(out, &crate::route::join_host_port(host, port));
    }
    if extra.client_id != 0 {
        let _ = write!(out, ",\"client_id\":{}", extra.client_id);
    }
    if let Some(nonce) = extra.nonce {
        out.push_str(",\"nonce\":");
        push_json_string(out, nonce);
    }
    if !extra.cluster.is_empty() {
        out.push_str(",\"cluster\":");
        push_json_string(out, extra.cluster);
    }
    if let Some(mode) = extra.compression {
        out.push_str(",\"compression\":");
        push_json_string(out, mode);
    }
    if let Some(acc) = extra.remote_account {
        out.push_str(",\"connect_info\":true,\"remote_account\":");
        push_json_string(out, acc);
    }
    for (key, rule) in [("import", extra.import), ("export", extra.export)] {
        if let Some(rule) = rule {
            // `,"allow":[..],"deny":[..]`, each left out when empty.
            let mut lists = String::new();
            let allow: Vec<String> = rule.allow.iter().flatten().map(entry_text).collect();
            push_url_list(&mut lists, "allow", &allow);
            let deny: Vec<String> = rule.deny.iter().map(entry_text).collect();
            push_url_list(&mut lists, "deny", &deny);
            let _ = write!(out, ",\"{key}\":{{{}}}", lists.get(1..).unwrap_or_default());
        }
    }
    out.push_str(",\"api_lvl\":5,\"info_on_connect\":true");
    push_url_list(out, "leafnode_urls", extra.leafnode_urls);
    out.push_str("} \r\n");
}

/// A permission entry as the config wrote it.
fn entry_text(e: &crate::perms::Entry) -> String {
    match &e.queue {
        Some(q) => format!("{} {q}", e.subject),
        None => e.subject.clone(),
    }
}

/// What a soliciting side puts in its CONNECT.
#[derive(Clone, Debug, Default)]
pub(crate) struct OwnLeafConnect<'a> {
    pub(crate) nkey: Option<&'a str>,
    pub(crate) jwt: Option<&'a str>,
    pub(crate) sig: Option<&'a str>,
    pub(crate) user: Option<&'a str>,
    pub(crate) pass: Option<&'a str>,
    pub(crate) server_id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) is_hub: bool,
    pub(crate) cluster: &'a str,
    pub(crate) deny_pub: &'a [String],
    pub(crate) isolate: bool,
    pub(crate) remote_account: &'a str,
    /// The link's compression mode (`off`, `not supported`, a level).
    pub(crate) compress_mode: &'a str,
}

impl OwnLeafConnect<'_> {
    /// Writes `CONNECT {...}\r\n` in nats-server's field order. A user with no
    /// password goes as both `user` and `auth_token`, as nats-server
    /// sends it (a token in the URL).
    pub(crate) fn write(&self, out: &mut String) {
        let _ = write!(out, "CONNECT {{\"version\":\"{}\"", crate::options::VERSION);
        for (key, value) in [("nkey", self.nkey), ("jwt", self.jwt), ("sig", self.sig)] {
            if let Some(v) = value {
                let _ = write!(out, ",\"{key}\":");
                push_json_string(out, v);
            }
        }
        match (self.user, self.pass) {
            (Some(u), Some(p)) => {
                out.push_str(",\"user\":");
                push_json_string(out, u);
                out.push_str(",\"pass\":");
                push_json_string(out, p);
            }
            (Some(u), None) => {
                out.push_str(",\"user\":");
                push_json_string(out, u);
                out.push_str(",\"auth_token\":");
                push_json_string(out, u);
            }
            (None, _) => {}
        }
        out.push_str(",\"server_id\":");
        push_json_string(out, self.server_id);
        out.push_str(",\"name\":");
        push_json_string(out, self.name);
        if self.is_hub {
            out.push_str(",\"is_hub\":true");
        }
        out.push_str(",\"cluster\":");
        push_json_string(out, self.cluster);
        out.push_str(",\"headers\":true");
        if !self.deny_pub.is_empty() {
            out.push_str(",\"deny_pub\":[");
            for (i, s) in self.deny_pub.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(out, s);
            }
            out.push(']');
        }
        if self.isolate {
            out.push_str(",\"isolate\":true");
        }
        out.push_str(",\"compress_mode\":");
        push_json_string(out, self.compress_mode);
        out.push_str(",\"remote_account\":");
        push_json_string(out, self.remote_account);
        let _ = write!(out, ",\"protocol\":{LEAF_PROTO}}}\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_carries_url_credentials_as_nats_server_sends_them() {
        let mut out = String::new();
        OwnLeafConnect {
            user: Some("s3cr3t"),
            server_id: "NID",
            name: "LEAF",
            cluster: "LEAF",
            remote_account: "$G",
            compress_mode: "off",
            ..Default::default()
        }
        .write(&mut out);
        assert_eq!(
            out,
            "CONNECT {\"version\":\"2.15.1\",\"user\":\"s3cr3t\",\"auth_token\":\"s3cr3t\",\
             \"server_id\":\"NID\",\"name\":\"LEAF\",\"cluster\":\"LEAF\",\"headers\":true,\
             \"compress_mode\":\"off\",\"remote_account\":\"$G\",\"protocol\":3}\r\n"
        );
    }

    #[test]
    fn a_hub_info_is_read_for_what_a_leaf_needs() {
        let info: LeafInfo = serde_json::from_str(
            r#"{"server_id":"N","client_id":5,"nonce":"x","info_on_connect":true,
                "leafnode_urls":["127.0.0.1:7422"],"import":{"allow":["a.>"]},"export":{"deny":["b"]}}"#,
        )
        .expect("json");
        assert_eq!(info.client_id, 5);
        assert!(info.info_on_connect);
        assert_eq!(
            info.import.and_then(|p| p.allow),
            Some(vec!["a.>".to_string()])
        );
        assert_eq!(
            info.export.and_then(|p| p.deny),
            Some(vec!["b".to_string()])
        );
    }
}
