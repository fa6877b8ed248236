//! The system account's subscriptions: the list nats-server 2.15.1's
//! `initEventTracking` makes at start (55 in the system account), the
//! system account's own `$SYS.REQ.USER.INFO` import, and the four
//! service imports every other account gets (`addSystemAccountImports`),
//! 56 + 4 per account in all, as `/subsz` counts them there.
//!
//! Each entry says which service answers it ([`Service`]) and whether its
//! interest is told to routes, leafs and gateways (nats-server's
//! `sysSubscribe`) or kept local (`sysSubscribeInternal`, and the import
//! subscriptions, which never propagate).

pub(crate) use super::claims::ClaimsSubject;

/// A monitoring endpoint served on `$SYS.REQ.SERVER.PING.<E>` and
/// `$SYS.REQ.SERVER.<id>.<E>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Idz,
    Statsz,
    Varz,
    Subsz,
    Connz,
    Routez,
    Gatewayz,
    Leafz,
    Accountz,
    Jsz,
    Healthz,
    Profilez,
    Expvarz,
    Ipqueuesz,
    Raftz,
}

impl Endpoint {
    /// Every endpoint with its subject token, in nats-server's `monSrvc`.
    pub(crate) const ALL: [(Endpoint, &'static str); 15] = [
        (Endpoint::Idz, "IDZ"),
        (Endpoint::Statsz, "STATSZ"),
        (Endpoint::Varz, "VARZ"),
        (Endpoint::Subsz, "SUBSZ"),
        (Endpoint::Connz, "CONNZ"),
        (Endpoint::Routez, "ROUTEZ"),
        (Endpoint::Gatewayz, "GATEWAYZ"),
        (Endpoint::Leafz, "LEAFZ"),
        (Endpoint::Accountz, "ACCOUNTZ"),
        (Endpoint::Jsz, "JSZ"),
        (Endpoint::Healthz, "HEALTHZ"),
        (Endpoint::Profilez, "PROFILEZ"),
        (Endpoint::Expvarz, "EXPVARZ"),
        (Endpoint::Ipqueuesz, "IPQUEUESZ"),
        (Endpoint::Raftz, "RAFTZ"),
    ];
}

/// A per-account endpoint: `$SYS.REQ.ACCOUNT.<acc>.<E>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccountEndpoint {
    Subsz,
    Connz,
    Leafz,
    Jsz,
    Info,
    Statz,
    Conns,
}

impl AccountEndpoint {
    /// Every per-account endpoint with its subject token.
    pub(crate) const ALL: [(AccountEndpoint, &'static str); 7] = [
        (AccountEndpoint::Subsz, "SUBSZ"),
        (AccountEndpoint::Connz, "CONNZ"),
        (AccountEndpoint::Leafz, "LEAFZ"),
        (AccountEndpoint::Jsz, "JSZ"),
        (AccountEndpoint::Info, "INFO"),
        (AccountEndpoint::Statz, "STATZ"),
        (AccountEndpoint::Conns, "CONNS"),
    ];
}

/// What answers a delivery to one of the system subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    /// `$SYS.REQ.SERVER.PING`: the statsz reply.
    Ping,
    /// `$SYS.REQ.SERVER.PING.<E>` and `$SYS.REQ.SERVER.<id>.<E>`.
    Server(Endpoint),
    /// `$SYS.REQ.ACCOUNT.*.<E>`: the account is the subject's 4th token.
    Account(AccountEndpoint),
    /// `$SYS.REQ.ACCOUNT.PING.STATZ`.
    AccountPingStatz,
    /// `$SYS.REQ.USER.*.INFO` (the imported `$SYS.REQ.USER.INFO` lands
    /// here in nats-server).
    UserInfo,
    /// An import subscription of a non-system account: the request is
    /// answered for that account (`$SYS.REQ.SERVER.PING.CONNZ` and
    /// `$SYS.REQ.ACCOUNT.PING.CONNZ` as its CONNZ, `...PING.STATZ` as its
    /// STATZ, `$SYS.REQ.USER.INFO` as the requester's user info).
    Imported(AccountEndpoint),
    /// `$SYS.REQ.USER.INFO` imported by any account.
    ImportedUserInfo,
    /// Claims and resolver subjects, the other engineer's (claims.rs).
    Claims(ClaimsSubject),
    /// Subscribed for nats-server's sake (counts, interest), answered by
    /// nothing here yet: remote statsz, shutdowns, lame duck, remote
    /// conns, latency, leafnode connects, nsubs, debug subscribers,
    /// reload, kick, ldm, the server's inboxes.
    Quiet,
}

/// One system subscription to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    pub(crate) subject: String,
    pub(crate) service: Service,
    /// Told to routes, leafs and gateways (`sysSubscribe`).
    pub(crate) propagate: bool,
    /// The queue group (`sysSubscribeQ`), if any.
    pub(crate) queue: Option<&'static str>,
}

fn spec(subject: String, service: Service, propagate: bool) -> Spec {
    Spec {
        subject,
        service,
        propagate,
        queue: None,
    }
}

/// The two account-update subjects (the old event and the request).
fn update_subs() -> [Spec; 2] {
    [
        spec(
            "$SYS.ACCOUNT.*.CLAIMS.UPDATE".into(),
            Service::Claims(ClaimsSubject::UpdateOld),
            true,
        ),
        spec(
            "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE".into(),
            Service::Claims(ClaimsSubject::Update),
            true,
        ),
    ]
}

/// The system account's subscriptions, in nats-server's order of
/// creation. `id` is the server id, `hash` the 8-character hash of the
/// server name ([`node_hash`]); `pack_inbox` (a full resolver's inbox for
/// pack replies, operator mode only) adds the resolver's subjects.
pub(crate) fn system_subs(id: &str, hash: &str, pack_inbox: Option<&str>) -> Vec<Spec> {
    let resolver = pack_inbox.is_some();
    let mut v = vec![
        spec(format!("$SYS._INBOX.{hash}.*"), Service::Quiet, true),
        spec("$SYS.SERVER.ACCOUNT.*.CONNS".into(), Service::Quiet, true),
        spec(format!("$SYS._INBOX_.{id}"), Service::Quiet, true),
        spec("$SYS.REQ.ACCOUNT.NSUBS".into(), Service::Quiet, true),
        spec("$SYS.SERVER.*.STATSZ".into(), Service::Quiet, true),
        spec("$SYS.SERVER.*.SHUTDOWN".into(), Service::Quiet, true),
        spec("$SYS.SERVER.*.LAMEDUCK".into(), Service::Quiet, true),
    ];
    // The update subjects: nats-server's own handler, or (operator mode
    // with a resolver that keeps JWTs) the resolver's, subscribed later.
    if !resolver {
        v.extend(update_subs());
    }
    v.push(spec("$SYS.REQ.SERVER.PING".into(), Service::Ping, true));
    for (e, name) in Endpoint::ALL {
        v.push(spec(
            format!("$SYS.REQ.SERVER.{id}.{name}"),
            Service::Server(e),
            true,
        ));
        v.push(spec(
            format!("$SYS.REQ.SERVER.PING.{name}"),
            Service::Server(e),
            true,
        ));
    }
    for (e, name) in AccountEndpoint::ALL {
        v.push(spec(
            format!("$SYS.REQ.ACCOUNT.*.{name}"),
            Service::Account(e),
            true,
        ));
    }
    v.push(spec(
        "$SYS.REQ.USER.*.INFO".into(),
        Service::UserInfo,
        false,
    ));
    v.push(spec(
        "$SYS.REQ.ACCOUNT.PING.STATZ".into(),
        Service::AccountPingStatz,
        true,
    ));
    v.push(spec(
        "$SYS.ACCOUNT.*.LEAFNODE.CONNECT".into(),
        Service::Quiet,
        true,
    ));
    v.push(spec(
        format!("$SYS.LATENCY.M2.{hash}"),
        Service::Quiet,
        true,
    ));
    v.push(spec("$SYS.DEBUG.SUBSCRIBERS".into(), Service::Quiet, false));
    for what in ["RELOAD", "KICK", "LDM"] {
        v.push(spec(
            format!("$SYS.REQ.SERVER.{id}.{what}"),
            Service::Quiet,
            true,
        ));
    }
    if resolver {
        v.extend(update_subs());
        for (which, subject) in ClaimsSubject::RESOLVER {
            let mut s = spec(subject.to_string(), Service::Claims(which), true);
            // One server of a cluster answers a pack request.
            if which == ClaimsSubject::Pack {
                s.queue = Some("responder");
            }
            v.push(s);
        }
        if let Some(inbox) = pack_inbox {
            v.push(spec(
                inbox.to_string(),
                Service::Claims(ClaimsSubject::PackReply),
                true,
            ));
        }
    }
    // The system account imports its own user info service.
    v.push(spec(
        "$SYS.REQ.USER.INFO".into(),
        Service::ImportedUserInfo,
        false,
    ));
    v
}

/// The import subscriptions every other account gets: never told to
/// peers (nats-server's service import subscriptions).
pub(crate) fn import_subs() -> [Spec; 4] {
    [
        spec(
            "$SYS.REQ.ACCOUNT.PING.CONNZ".into(),
            Service::Imported(AccountEndpoint::Connz),
            false,
        ),
        spec(
            "$SYS.REQ.SERVER.PING.CONNZ".into(),
            Service::Imported(AccountEndpoint::Connz),
            false,
        ),
        spec(
            "$SYS.REQ.ACCOUNT.PING.STATZ".into(),
            Service::Imported(AccountEndpoint::Statz),
            false,
        ),
        spec(
            "$SYS.REQ.USER.INFO".into(),
            Service::ImportedUserInfo,
            false,
        ),
    ]
}

/// nats-server's `getHash`: the SHA-256 of `name`, its first 8 bytes as
/// base-62 digits. Names the server in `$SYS._INBOX.<hash>.*` and
/// `$SYS.LATENCY.M2.<hash>`.
pub(crate) fn node_hash(name: &str) -> String {
    use sha2::Digest;
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let sum = sha2::Sha256::digest(name.as_bytes());
    sum.iter()
        .take(8)
        .map(|b| char::from(DIGITS[(*b % 62) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_nats_servers_counts() {
        let v = system_subs("NID", "hash", None);
        assert_eq!(v.len(), 56, "55 internal + the user info import");
        assert_eq!(v.iter().filter(|s| s.propagate).count(), 53);
        let mut subjects: Vec<_> = v.iter().map(|s| s.subject.as_str()).collect();
        subjects.sort_unstable();
        subjects.dedup();
        assert_eq!(subjects.len(), 56, "no subject twice");
    }

    #[test]
    fn node_hash_is_eight_base62_digits() {
        let h = node_hash("A");
        assert_eq!(h.len(), 8);
        assert!(h.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
