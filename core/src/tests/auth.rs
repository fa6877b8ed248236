//! Checks 36 to 42, 47 and 48 of protocol-core.md section 8 (NKey users,
//! no_auth_user, permissions, reserved replies, allow_responses, accounts,
//! imports) with exact bytes, through the engine alone.

use super::harness::{info_json, Harness};
use super::route_peer::{cluster, peer_hello};
use crate::auth::{encode_user_seed, public_of_seed, sign_nonce, NkeyEntry, UserEntry};
use crate::options::AccountImport;
use crate::perms::{Entry, Permissions, Responses, Rule};
use crate::Options;
use std::time::Duration;

fn user(account: &str, permissions: Option<Permissions>) -> UserEntry {
    UserEntry {
        password: "pw".into(),
        permissions,
        account: account.into(),
    }
}

fn rule(allow: Option<&[&str]>, deny: &[&str]) -> Rule {
    Rule {
        allow: allow.map(|a| a.iter().map(|e| Entry::parse(e)).collect()),
        deny: deny.iter().map(|e| Entry::parse(e)).collect(),
    }
}

fn login(h: &mut Harness, name: &str) -> crate::ConnId {
    h.connected(&format!(
        "{{\"verbose\":false,\"pedantic\":false,\"user\":\"{name}\",\"pass\":\"pw\"}}"
    ))
}

/// The reply subject of the message `out` that starts with `head`.
fn reply_of(out: &str, head: &str) -> String {
    out.strip_prefix(head)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no {head:?} in {out:?}"))
        .to_string()
}

#[test]
fn c36_nkey_user_signs_the_nonce() {
    let seed = encode_user_seed(&[11u8; 32]);
    let public = public_of_seed(&seed).expect("public");
    let mut options = Options::default();
    options.nkeys.insert(
        public.clone(),
        NkeyEntry {
            permissions: None,
            account: "$G".into(),
        },
    );
    let mut h = Harness::new(options);
    let good = h.accept();
    let info = info_json(&h.take(good));
    let nonce = info["nonce"].as_str().expect("nonce").to_string();
    assert_eq!(nonce.len(), 15);
    assert_eq!(info["auth_required"], true);
    let sig = sign_nonce(&seed, nonce.as_bytes()).expect("sig");
    h.send(
        good,
        &format!("CONNECT {{\"verbose\":false,\"protocol\":1,\"nkey\":\"{public}\",\"sig\":\"{sig}\"}}\r\nPING\r\n"),
    );
    let out = h.take(good);
    assert!(out.starts_with("PONG\r\nINFO {"), "{out}");
    assert!(out.contains("\"remote_account\":\"$G\""), "{out}");
    // Another connection has another nonce: the old signature fails.
    let bad = h.accept();
    let other = info_json(&h.take(bad));
    assert_ne!(other["nonce"], info["nonce"]);
    h.send(
        bad,
        &format!("CONNECT {{\"verbose\":false,\"nkey\":\"{public}\",\"sig\":\"{sig}\"}}\r\n"),
    );
    assert_eq!(h.take(bad), "-ERR 'Authorization Violation'\r\n");
    assert!(h.is_closed(bad));
}

/// A server whose only user, b1 (account B), is also its no_auth_user.
fn no_auth_user_b1() -> Harness {
    let mut options = Options {
        accounts: vec!["B".into()],
        no_auth_user: Some("b1".into()),
        ..Options::default()
    };
    options.users.insert("b1".into(), user("B", None));
    Harness::new(options)
}

#[test]
fn c37_no_auth_user_binds_anonymous_clients() {
    let mut h = no_auth_user_b1();
    let c = h.accept();
    let info = info_json(&h.take(c));
    assert!(info.get("auth_required").is_none(), "{info}");
    // Telnet style: no CONNECT at all (so verbose, as nats-server), and
    // already in b1's account: b1's publish reaches it (observed).
    h.send(c, "SUB foo 1\r\nPUB foo 2\r\nhi\r\n");
    assert_eq!(h.take(c), "+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n");
    let b = login(&mut h, "b1");
    h.send(b, "PUB foo 1\r\nx\r\n");
    assert_eq!(h.take(c), "MSG foo 1 1\r\nx\r\n");
}

/// Under no_auth_user only the INFO on accept leaves `auth_required` out:
/// the one after the first PONG (and any later one) has it, as nats-server
/// 2.15.1 sends them (observed, with and without credentials).
#[test]
fn c37_no_auth_user_later_infos_say_auth_required() {
    let mut h = no_auth_user_b1();
    for creds in ["", ",\"user\":\"b1\",\"pass\":\"pw\""] {
        let c = h.accept();
        assert!(info_json(&h.take(c)).get("auth_required").is_none());
        h.send(
            c,
            &format!("CONNECT {{\"verbose\":false,\"protocol\":1{creds}}}\r\nPING\r\n"),
        );
        let out = h.take(c);
        let info = info_json(out.strip_prefix("PONG\r\n").expect("PONG first"));
        assert_eq!(info["auth_required"], true, "{out}");
        assert_eq!(info["connect_info"], true, "{out}");
        assert_eq!(info["remote_account"], "B", "{out}");
    }
}

#[test]
fn c38_c39_publish_subscribe_and_queue_permissions() {
    let mut options = Options::default();
    let perms = Permissions {
        publish: Some(rule(None, &["foo.secret"])),
        subscribe: Some(rule(Some(&["foo.>", "foo v1"]), &["bar"])),
        responses: None,
    };
    options.users.insert("u".into(), user("$G", Some(perms)));
    let mut h = Harness::new(options);
    let c = login(&mut h, "u");
    h.send(
        c,
        "PUB foo.secret 1\r\nx\r\nSUB bar 1\r\nSUB foo v2 3\r\nSUB foo 4\r\nSUB foo v1 5\r\nPING\r\n",
    );
    assert_eq!(
        h.take(c),
        concat!(
            "-ERR 'Permissions Violation for Publish to \"foo.secret\"'\r\n",
            "-ERR 'Permissions Violation for Subscription to \"bar\"'\r\n",
            "-ERR 'Permissions Violation for Subscription to \"foo\" using queue \"v2\"'\r\n",
            "-ERR 'Permissions Violation for Subscription to \"foo\"'\r\n",
            "PONG\r\n"
        )
    );
    assert!(!h.is_closed(c), "violations keep the connection");
}

#[test]
fn c40_reserved_reply_prefix() {
    let mut h = Harness::default_server();
    let c = h.connected("{\"verbose\":false}");
    h.send(
        c,
        "SUB foo 1\r\nPUB foo _R_.abc 1\r\nx\r\nPUB foo _R_ 1\r\ny\r\n",
    );
    assert_eq!(
        h.take(c),
        "-ERR 'Permissions Violation for Publish with Reply of \"_R_.abc\"'\r\nMSG foo 1 _R_ 1\r\ny\r\n"
    );
}

#[test]
fn c42_allow_responses_once() {
    let mut options = Options::default();
    let svc = Permissions {
        publish: Some(rule(Some(&[]), &[])),
        subscribe: None,
        responses: Some(Responses {
            max: 1,
            expires: Duration::from_secs(120),
        }),
    };
    options.users.insert("req".into(), user("$G", None));
    options.users.insert("svc".into(), user("$G", Some(svc)));
    let mut h = Harness::new(options);
    let req = login(&mut h, "req");
    let svc = login(&mut h, "svc");
    h.send(req, "SUB inbox 1\r\n");
    h.send(svc, "SUB q 1\r\n");
    h.send(req, "PUB q inbox 2\r\nhi\r\n");
    assert_eq!(h.take(svc), "MSG q 1 inbox 2\r\nhi\r\n");
    h.send(svc, "PUB inbox 2\r\nok\r\nPUB inbox 2\r\nno\r\n");
    assert_eq!(
        h.take(svc),
        "-ERR 'Permissions Violation for Publish to \"inbox\"'\r\n"
    );
    assert_eq!(h.take(req), "MSG inbox 1 2\r\nok\r\n");
}

fn import_world() -> Harness {
    let mut options = Options {
        accounts: vec!["A".into(), "B".into()],
        ..Options::default()
    };
    options.users.insert("a".into(), user("A", None));
    options.users.insert("b".into(), user("B", None));
    options.imports = vec![
        AccountImport {
            importer: "B".into(),
            exporter: "A".into(),
            subject: "pubA.>".into(),
            to: String::new(),
            prefix: "fromA".into(),
            service: false,
        },
        AccountImport {
            importer: "B".into(),
            exporter: "A".into(),
            subject: "svcA.echo".into(),
            to: "echo".into(),
            prefix: String::new(),
            service: true,
        },
    ];
    Harness::new(options)
}

#[test]
fn c47_isolation_and_stream_import() {
    let mut h = import_world();
    let a = login(&mut h, "a");
    let b = login(&mut h, "b");
    h.send(a, "SUB pubA.x 1\r\nSUB fromA.> 2\r\n");
    h.send(b, "SUB pubA.x 1\r\nSUB fromA.> 2\r\n");
    h.send(b, "PUB pubA.x 1\r\nb\r\n");
    assert_eq!(h.take(a), "", "B's publish stays in B");
    assert_eq!(h.take(b), "MSG pubA.x 1 1\r\nb\r\n");
    h.send(a, "PUB pubA.x 1\r\na\r\n");
    assert_eq!(h.take(a), "MSG pubA.x 1 1\r\na\r\n");
    assert_eq!(h.take(b), "MSG fromA.pubA.x 2 1\r\na\r\n");
}

#[test]
fn c48_service_import_rewrites_and_returns_the_reply() {
    let mut h = import_world();
    let a = login(&mut h, "a");
    let b = login(&mut h, "b");
    h.send(a, "SUB svcA.echo 10\r\n");
    h.send(b, "SUB echo.reply 3\r\nPUB echo echo.reply 3\r\nabc\r\n");
    let got = h.take(a);
    let reply = reply_of(&got, "MSG svcA.echo 10 ");
    assert!(reply.starts_with("_R_.") && reply.len() == 17, "{reply}");
    assert_eq!(got, format!("MSG svcA.echo 10 {reply} 3\r\nabc\r\n"));
    h.send(a, &format!("PUB {reply} 3\r\nABC\r\n"));
    assert_eq!(h.take(b), "MSG echo.reply 3 3\r\nABC\r\n");
    // Answered once: a second answer goes nowhere.
    h.send(a, &format!("PUB {reply} 3\r\nXYZ\r\n"));
    assert_eq!(h.take(b), "");
}

/// Imports in a cluster: the route snapshot holds the stream subject and
/// this server's `_R_` response prefix in the exporting account; a routed
/// stream message reaches the importer; a service request whose responder
/// sits behind the route travels there in the exporter's account, and the
/// routed response comes back to the requester.
#[test]
fn imports_across_a_route() {
    let mut options = import_world().server.options.clone();
    options.cluster = Some(cluster());
    let mut h = Harness::new(options);
    let r = h.route();
    h.send(r, &peer_hello("NPEER", 6223, "127.0.0.1:4223"));
    let snapshot = h.take(r);
    let prefix = snapshot
        .lines()
        .find_map(|l| l.strip_prefix("RS+ A _R_."))
        .and_then(|rest| rest.strip_suffix(".>"))
        .expect("response interest")
        .to_string();
    assert_eq!(prefix.len(), 6, "{snapshot}");
    assert_eq!(
        snapshot,
        format!("RS+ A _R_.{prefix}.>\r\nRS+ A pubA.>\r\nPONG\r\n")
    );
    let b = login(&mut h, "b");
    h.send(b, "SUB fromA.> 2\r\nSUB echo.reply 3\r\n");
    h.take(r);
    // A stream published behind the route.
    h.send(r, "RMSG A pubA.x 2\r\nhi\r\n");
    assert_eq!(h.take(b), "MSG fromA.pubA.x 2 2\r\nhi\r\n");
    // A service whose responder is behind the route.
    h.send(r, "RS+ A svcA.echo\r\n");
    h.send(b, "PUB echo echo.reply 3\r\nabc\r\n");
    let sent = h.take(r);
    // The request is routed in the exporter's account.
    let reply = reply_of(&sent, "RMSG A svcA.echo ");
    assert!(reply.starts_with(&format!("_R_.{prefix}.")), "{sent}");
    assert_eq!(sent, format!("RMSG A svcA.echo {reply} 3\r\nabc\r\n"));
    h.send(r, &format!("RMSG A {reply} 3\r\nABC\r\n"));
    assert_eq!(h.take(b), "MSG echo.reply 3 3\r\nABC\r\n");
    // Routed requests in the importing account are not mapped again.
    h.send(r, "RMSG B echo r 1\r\nx\r\n");
    assert_eq!(h.take(r), "");
}

/// Reload re-checks live clients, as nats-server 2.15.1 does: a revoked
/// subscription is removed with its `-ERR` (sid included) while the
/// connection stays; a removed user is closed silently; a changed
/// password is an authorization violation.
#[test]
fn reload_revokes_what_the_new_authorization_forbids() {
    let mut before = Options::default();
    for name in ["alice", "bob", "carol"] {
        before.users.insert(name.into(), user("$G", None));
    }
    let mut h = Harness::new(before.clone());
    let alice = login(&mut h, "alice");
    let bob = login(&mut h, "bob");
    let carol = login(&mut h, "carol");
    let publisher = login(&mut h, "alice");
    h.send(
        alice,
        "SUB _INBOX.x 1\r\nSUB _INBOX.q grp 2\r\nSUB foo 3\r\nPING\r\n",
    );
    assert_eq!(h.take(alice), "PONG\r\n");

    let mut after = before.clone();
    after.users.remove("bob");
    after.users.insert(
        "alice".into(),
        user(
            "$G",
            Some(Permissions {
                subscribe: Some(rule(None, &["_INBOX.>"])),
                ..Permissions::default()
            }),
        ),
    );
    after.users.insert(
        "carol".into(),
        UserEntry {
            password: "changed".into(),
            permissions: None,
            account: "$G".into(),
        },
    );
    let now = h.now;
    h.server.reload(after, now).expect("reloadable");
    h.drain();
    assert_eq!(
        h.take(alice),
        "-ERR 'Permissions Violation for Subscription to \"_INBOX.x\" (sid \"1\")'\r\n\
         -ERR 'Permissions Violation for Subscription to \"_INBOX.q\" using queue \"grp\" (sid \"2\")'\r\n"
    );
    assert!(!h.is_closed(alice));
    assert!(h.is_closed(bob));
    assert_eq!(h.take(bob), "", "a removed user is closed silently");
    assert_eq!(h.close_reason(bob), Some(crate::CloseReason::ClientClosed));
    assert!(h.is_closed(carol));
    assert_eq!(h.take(carol), "-ERR 'Authorization Violation'\r\n");
    assert_eq!(
        h.close_reason(carol),
        Some(crate::CloseReason::AuthenticationViolation)
    );
    // Revoked subscriptions receive nothing; the others still do.
    h.send(publisher, "PUB _INBOX.x 2\r\nhi\r\nPUB foo 2\r\nyo\r\n");
    assert_eq!(h.take(alice), "MSG foo 3 2\r\nyo\r\n");
}
