//! Operator mode through the engine: clients that prove a user JWT of an
//! account the trusted operator signed, with JWTs made in the test.

use super::harness::{info_json, Harness};
use crate::jwt;
use crate::trust::testkit::{Chain, Keys};
use crate::{CloseReason, ConnId, Options};
use std::time::Duration;

/// The wall clock the tests run at: 2026-12-07 13:00:00 UTC.
const NOW: i64 = 1_796_648_400;

/// A server trusting `chain`'s operator with `account_jwt` preloaded
/// (a memory resolver).
fn server(chain: &Chain, account_jwt: &str) -> Harness {
    server_with(chain, chain.options(account_jwt))
}

/// A server (with its system account's services) in operator mode.
fn server_with(chain: &Chain, trust: crate::trust::TrustOptions) -> Harness {
    let options = Options {
        trust: Some(trust),
        system_account: chain.sys.public.clone(),
        ..Options::default()
    };
    let mut h = Harness::with_system(options);
    let now = h.now;
    h.server
        .handle_wall_clock(i128::from(NOW) * 1_000_000_000, now);
    h
}

/// Connects with a user JWT, signing the INFO's nonce with `seed` (or
/// not, for `None`); returns the connection and what it got back after
/// `CONNECT` and `PING`.
fn login(h: &mut Harness, seed: Option<&str>, jwt: &str) -> (ConnId, String) {
    let id = h.accept();
    let info = info_json(&h.take(id));
    assert_eq!(info["auth_required"], true);
    let nonce = info["nonce"].as_str().expect("a nonce").to_string();
    let sig = seed.map_or(String::new(), |s| {
        let sig = crate::auth::sign_nonce(s, nonce.as_bytes()).expect("sig");
        format!(",\"sig\":\"{sig}\"")
    });
    h.send(
        id,
        &format!("CONNECT {{\"verbose\":false,\"protocol\":1,\"jwt\":\"{jwt}\"{sig}}}\r\nPING\r\n"),
    );
    let out = h.take(id);
    (id, out)
}

const REFUSED: &str = "-ERR 'Authorization Violation'\r\n";

/// Whether `out` is an accepted login into `account`: the PONG, then
/// the INFO naming the account the JWT bound the client to (as
/// nats-server sends to clients outside the global account).
fn accepted(out: &str, account: &str) -> bool {
    out.starts_with("PONG\r\nINFO {") && out.contains(&format!("\"remote_account\":\"{account}\""))
}

#[test]
fn a_user_of_a_trusted_account_connects_and_messages_flow() {
    let mut c = Chain::new(21, NOW);
    let mut h = server(&c, &c.account_jwt(|_, _| {}));
    let (u, jwt) = c.user(|_, _| {});
    let (a, out) = login(&mut h, Some(&u.seed), &jwt);
    assert!(accepted(&out, &c.acc.public), "{out}");
    let (v, jwt2) = c.user(|_, _| {});
    let (b, out) = login(&mut h, Some(&v.seed), &jwt2);
    assert!(accepted(&out, &c.acc.public), "{out}");
    h.send(b, "SUB in 1\r\nPING\r\n");
    assert_eq!(h.take(b), "PONG\r\n");
    h.send(a, "PUB in 2\r\nhi\r\n");
    assert_eq!(h.take(b), "MSG in 1 2\r\nhi\r\n");
}

#[test]
fn refused_users_get_an_authorization_violation() {
    let mut c = Chain::new(22, NOW);
    let mut h = server(&c, &c.account_jwt(|_, _| {}));
    let (u, expired) = c.user(|cl, _| cl.exp = NOW - 5);
    let (a, out) = login(&mut h, Some(&u.seed), &expired);
    assert_eq!(out, REFUSED);
    assert!(h.is_closed(a));
    assert_eq!(
        h.close_reason(a),
        Some(CloseReason::AuthenticationViolation)
    );
    // Not yet valid, unsigned, and no JWT at all.
    let (u, early) = c.user(|cl, _| cl.nbf = NOW + 60);
    assert_eq!(login(&mut h, Some(&u.seed), &early).1, REFUSED);
    let (_, good) = c.user(|_, _| {});
    assert_eq!(login(&mut h, None, &good).1, REFUSED);
    let id = h.client();
    h.send(
        id,
        "CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"b\"}\r\n",
    );
    assert_eq!(h.take(id), REFUSED);
}

#[test]
fn a_revoked_user_is_refused_and_a_wrong_issuer_too() {
    let mut c = Chain::new(23, NOW);
    let (u, jwt) = c.user(|_, _| {});
    let key = u.public.clone();
    let acc = c.account_jwt(|_, a| {
        a.revocations.insert(key, NOW);
    });
    let mut h = server(&c, &acc);
    assert_eq!(login(&mut h, Some(&u.seed), &jwt).1, REFUSED);
    let stranger = c.keys(crate::nkey::PREFIX_ACCOUNT);
    let (u, jwt) = c.user_signed_by(&stranger.seed.clone(), |_, _| {});
    assert_eq!(login(&mut h, Some(&u.seed), &jwt).1, REFUSED);
}

#[test]
fn a_signing_key_user_and_a_bearer_token() {
    let mut c = Chain::new(24, NOW);
    let mut h = server(&c, &c.account_jwt(|_, _| {}));
    let acc = c.acc.public.clone();
    let signer = c.acc_signer.seed.clone();
    let (u, jwt) = c.user_signed_by(&signer, |cl, _| cl.issuer_account = acc.clone());
    assert!(accepted(&login(&mut h, Some(&u.seed), &jwt).1, &acc));
    let (_, bearer) = c.user(|_, uc| uc.bearer_token = true);
    assert!(accepted(&login(&mut h, None, &bearer).1, &acc));
}

#[test]
fn permissions_from_claims_apply() {
    let mut c = Chain::new(25, NOW);
    let mut h = server(&c, &c.account_jwt(|_, _| {}));
    let (u, jwt) = c.user(|_, uc| {
        uc.permissions.pub_allow = vec!["ok.>".into()];
        uc.permissions.sub_deny = vec!["secret".into()];
    });
    let (a, _) = login(&mut h, Some(&u.seed), &jwt);
    h.send(
        a,
        "PUB nope 1\r\nx\r\nSUB secret 1\r\nPUB ok.1 1\r\nx\r\nPING\r\n",
    );
    assert_eq!(
        h.take(a),
        "-ERR 'Permissions Violation for Publish to \"nope\"'\r\n\
         -ERR 'Permissions Violation for Subscription to \"secret\"'\r\nPONG\r\n"
    );
    assert!(!h.is_closed(a));
}

#[test]
fn an_account_update_tightens_default_permissions_on_a_live_connection() {
    let mut c = Chain::new(26, NOW);
    let mut h = server(&c, &c.account_jwt(|_, _| {}));
    let (u, jwt) = c.user(|_, _| {});
    let (a, _) = login(&mut h, Some(&u.seed), &jwt);
    h.send(
        a,
        "SUB private.x 1\r\nSUB public 2\r\nPUB private.x 1\r\nx\r\nPING\r\n",
    );
    assert_eq!(h.take(a), "MSG private.x 1 1\r\nx\r\nPONG\r\n");
    let tighter = c.account_jwt(|cl, acc| {
        cl.iat = NOW;
        acc.default_permissions.sub_deny = vec!["private.>".into()];
        acc.default_permissions.pub_deny = vec!["private.>".into()];
    });
    let now = h.now;
    h.server.update_account_jwt(&tighter, now).expect("taken");
    h.send(a, "PING\r\n");
    assert_eq!(
        h.take(a),
        "-ERR 'Permissions Violation for Subscription to \"private.x\" (sid \"1\")'\r\nPONG\r\n"
    );
    h.send(a, "PUB private.x 1\r\nx\r\nPUB public 1\r\ny\r\nPING\r\n");
    assert_eq!(
        h.take(a),
        "-ERR 'Permissions Violation for Publish to \"private.x\"'\r\nMSG public 2 1\r\ny\r\nPONG\r\n"
    );
}

#[test]
fn an_account_update_that_revokes_a_user_closes_it() {
    let mut c = Chain::new(27, NOW);
    let mut h = server(&c, &c.account_jwt(|_, _| {}));
    let (u, jwt) = c.user(|_, _| {});
    let (v, jwt2) = c.user(|_, _| {});
    let (a, _) = login(&mut h, Some(&u.seed), &jwt);
    let (b, _) = login(&mut h, Some(&v.seed), &jwt2);
    let key = u.public.clone();
    let revoking = c.account_jwt(|cl, acc| {
        cl.iat = NOW;
        acc.revocations.insert(key, NOW);
    });
    let now = h.now;
    h.server.update_account_jwt(&revoking, now).expect("taken");
    h.send(b, "PING\r\n");
    assert_eq!(h.take(a), "-ERR 'User Authentication Revoked'\r\n");
    assert_eq!(h.close_reason(a), Some(CloseReason::Revocation));
    assert!(!h.is_closed(b));
    // The resolver is memory: nothing to store.
    assert!(h.stored.is_empty());
}

#[test]
fn the_jwt_expiry_closes_the_connection() {
    let mut c = Chain::new(28, NOW);
    let mut h = server(&c, &c.account_jwt(|_, _| {}));
    let (u, jwt) = c.user(|cl, _| cl.exp = NOW + 90);
    let (a, out) = login(&mut h, Some(&u.seed), &jwt);
    assert!(accepted(&out, &c.acc.public), "{out}");
    h.advance(Duration::from_secs(89));
    assert!(!h.is_closed(a));
    h.take(a);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take(a), "-ERR 'User Authentication Expired'\r\n");
    assert_eq!(h.close_reason(a), Some(CloseReason::AuthenticationExpired));
}

#[test]
fn account_and_user_limits() {
    let mut c = Chain::new(29, NOW);
    let mut h = server(
        &c,
        &c.account_jwt(|_, a| {
            a.limits.conn = 1;
        }),
    );
    let (u, jwt) = c.user(|_, uc| {
        uc.limits.subs = 1;
        uc.limits.payload = 4;
    });
    let (a, out) = login(&mut h, Some(&u.seed), &jwt);
    assert!(accepted(&out, &c.acc.public), "{out}");
    let (_, out) = login(&mut h, Some(&u.seed), &jwt);
    assert_eq!(
        out,
        "-ERR 'maximum account active connections exceeded'\r\n"
    );
    h.send(a, "SUB a 1\r\nSUB b 2\r\nPING\r\n");
    assert_eq!(
        h.take(a),
        "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n"
    );
    h.send(a, "PUB a 4\r\nfour\r\nPUB a 5\r\nfive!\r\n");
    assert_eq!(
        h.take(a),
        "MSG a 1 4\r\nfour\r\n-ERR 'Maximum Payload Violation'\r\n"
    );
    assert!(h.is_closed(a));
}

/// A server (no system client) with `options` in operator mode, trusting
/// `chain` with `account_jwt` preloaded, at the tests' wall clock.
fn trusting(mut options: Options, chain: &Chain, account_jwt: &str) -> Harness {
    options.trust = Some(chain.options(account_jwt));
    options.system_account = chain.sys.public.clone();
    let mut h = Harness::new(options);
    let now = h.now;
    h.server
        .handle_wall_clock(i128::from(NOW) * 1_000_000_000, now);
    h
}

/// A server with a `full` resolver.
fn full_server(chain: &Chain, account_jwt: &str) -> Harness {
    let mut trust = chain.options(account_jwt);
    trust.resolver = crate::trust::Resolver::Full {
        dir: "jwt".into(),
        allow_delete: false,
        interval: Duration::from_secs(120),
        limit: 1000,
    };
    server_with(chain, trust)
}

/// A system-account user logged in and listening on `_INBOX.x`.
fn system_user(h: &mut Harness, c: &mut Chain) -> ConnId {
    let sys = c.sys.clone();
    let (u, jwt) = c.user_signed_by(&sys.seed, |_, _| {});
    let (id, out) = login(h, Some(&u.seed), &jwt);
    assert!(accepted(&out, &sys.public), "{out}");
    h.send(id, "SUB _INBOX.x 1\r\nPING\r\n");
    assert_eq!(h.take(id), "PONG\r\n");
    id
}

/// The JSON of the one message `out` holds.
fn message_json(out: &str) -> serde_json::Value {
    let body = out.split("\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_claims_update_through_the_system_account_is_kept_applied_and_answered() {
    let mut c = Chain::new(30, NOW);
    let mut h = full_server(&c, &c.account_jwt(|_, _| {}));
    let (u, jwt) = c.user(|_, _| {});
    let (a, _) = login(&mut h, Some(&u.seed), &jwt);
    h.send(a, "SUB private.x 1\r\nPING\r\n");
    assert_eq!(h.take(a), "PONG\r\n");
    let sys = system_user(&mut h, &mut c);
    let tighter = c.account_jwt(|cl, acc| {
        cl.iat = NOW;
        acc.default_permissions.sub_deny = vec!["private.>".into()];
    });
    h.send(
        sys,
        &format!(
            "PUB $SYS.REQ.CLAIMS.UPDATE _INBOX.x {}\r\n{tighter}\r\n",
            tighter.len()
        ),
    );
    let reply = message_json(&h.take(sys));
    assert_eq!(reply["data"]["account"], c.acc.public.as_str());
    assert_eq!(reply["data"]["code"], 200);
    assert_eq!(reply["data"]["message"], "jwt updated");
    assert!(reply["server"]["id"]
        .as_str()
        .is_some_and(|i| i.starts_with('N')));
    assert_eq!(h.stored, vec![(c.acc.public.clone(), tighter.clone())]);
    assert_eq!(
        h.take(a),
        "-ERR 'Permissions Violation for Subscription to \"private.x\" (sid \"1\")'\r\n"
    );
    // A lookup answers the JWT now held; an older one is refused.
    let acc = c.acc.public.clone();
    h.send(
        sys,
        &format!("PUB $SYS.REQ.ACCOUNT.{acc}.CLAIMS.LOOKUP _INBOX.x 0\r\n\r\n"),
    );
    let out = h.take(sys);
    assert!(out.ends_with(&format!("{tighter}\r\n")), "{out}");
    let older = c.account_jwt(|cl, _| cl.iat = NOW - 7200);
    h.send(
        sys,
        &format!(
            "PUB $SYS.REQ.ACCOUNT.{acc}.CLAIMS.UPDATE _INBOX.x {}\r\n{older}\r\n",
            older.len()
        ),
    );
    let reply = message_json(&h.take(sys));
    assert_eq!(reply["error"]["code"], 500, "{reply}");
    // The subject's account must be the JWT's.
    let other = c.sys.public.clone();
    h.send(
        sys,
        &format!(
            "PUB $SYS.REQ.ACCOUNT.{other}.CLAIMS.UPDATE _INBOX.x {}\r\n{tighter}\r\n",
            tighter.len()
        ),
    );
    let reply = message_json(&h.take(sys));
    assert_eq!(
        reply["error"]["description"],
        "jwt update resulted in error - subject does not match jwt content"
    );
}

#[test]
fn a_memory_resolver_applies_updates_only_to_accounts_in_use() {
    let mut c = Chain::new(31, NOW);
    let mut h = server(&c, &c.account_jwt(|_, _| {}));
    let sys = system_user(&mut h, &mut c);
    let newer = c.account_jwt(|cl, _| cl.iat = NOW);
    let acc = c.acc.public.clone();
    let push = format!(
        "PUB $SYS.REQ.ACCOUNT.{acc}.CLAIMS.UPDATE _INBOX.x {}\r\n{newer}\r\n",
        newer.len()
    );
    h.send(sys, &push);
    assert_eq!(
        message_json(&h.take(sys))["data"]["message"],
        "jwt update skipped"
    );
    let (u, jwt) = c.user(|_, _| {});
    login(&mut h, Some(&u.seed), &jwt);
    h.send(sys, &push);
    assert_eq!(message_json(&h.take(sys))["data"]["message"], "jwt updated");
    assert!(h.stored.is_empty());
}

/// A leaf link sending `CONNECT` with a user JWT (signing the hub's
/// nonce with `seed`, unless `None`): what the hub answers.
fn leaf_login(h: &mut Harness, seed: Option<&str>, jwt: &str) -> String {
    let l = h.accept_leaf();
    let info = info_json(&h.take(l));
    let nonce = info["nonce"].as_str().expect("a leaf nonce").to_string();
    let sig = seed.map_or(String::new(), |s| {
        let sig = crate::auth::sign_nonce(s, nonce.as_bytes()).expect("sig");
        format!(",\"sig\":\"{sig}\"")
    });
    let connect = super::leaf::LEAF_CONNECT.replace(
        "\"server_id\"",
        &format!("\"jwt\":\"{jwt}\"{sig},\"server_id\""),
    );
    h.send(l, &format!("{connect}\r\n"));
    h.take(l)
}

#[test]
fn a_leaf_presenting_a_user_jwt_is_bound_to_its_account() {
    let mut c = Chain::new(32, NOW);
    let mut h = trusting(super::leaf::hub_options(), &c, &c.account_jwt(|_, _| {}));
    let (u, jwt) = c.user(|_, _| {});
    let out = leaf_login(&mut h, Some(&u.seed), &jwt);
    assert!(
        out.contains(&format!("\"remote_account\":\"{}\"", c.acc.public)),
        "{out}"
    );
    // Unsigned, expired, or a user only allowed as a plain client.
    assert_eq!(leaf_login(&mut h, None, &jwt), REFUSED);
    let (u, expired) = c.user(|cl, _| cl.exp = NOW - 1);
    assert_eq!(leaf_login(&mut h, Some(&u.seed), &expired), REFUSED);
    let (u, clients_only) = c.user(|_, uc| uc.allowed_connection_types = vec!["STANDARD".into()]);
    assert_eq!(leaf_login(&mut h, Some(&u.seed), &clients_only), REFUSED);
    let (u, leafs) = c.user(|_, uc| uc.allowed_connection_types = vec!["LEAFNODE".into()]);
    assert!(leaf_login(&mut h, Some(&u.seed), &leafs).contains("connect_info"));
}

#[test]
fn the_accounts_leaf_limit() {
    let mut c = Chain::new(35, NOW);
    let acc = c.account_jwt(|_, a| a.limits.leaf = 1);
    let mut h = trusting(super::leaf::hub_options(), &c, &acc);
    let (u, jwt) = c.user(|_, _| {});
    assert!(leaf_login(&mut h, Some(&u.seed), &jwt).contains("connect_info"));
    assert_eq!(
        leaf_login(&mut h, Some(&u.seed), &jwt),
        "-ERR 'maximum account active connections exceeded'\r\n"
    );
}

/// An exporting account `EXP` (a stream `news.>`, a public service
/// `svc.>`, and a service `private.>` that needs an activation token)
/// preloaded beside `acc`, whose JWT `f` shapes.
fn with_exporter(c: &mut Chain, f: impl FnOnce(&str, &mut jwt::AccountClaims)) -> (Harness, Keys) {
    let exp = c.keys(crate::nkey::PREFIX_ACCOUNT);
    let offer = |subject: &str, kind| jwt::Export {
        offer: jwt::Offer {
            name: subject.into(),
            subject: subject.into(),
            kind,
        },
        ..jwt::Export::default()
    };
    let exp_jwt = c.account_jwt_of(&exp.public, |_, a| {
        a.exports = vec![
            offer("news.>", jwt::ExportKind::Stream),
            offer("svc.>", jwt::ExportKind::Service),
            jwt::Export {
                token_req: true,
                ..offer("private.>", jwt::ExportKind::Service)
            },
        ];
    });
    let key = exp.public.clone();
    let acc_jwt = c.account_jwt(|_, a| f(&key, a));
    let mut trust = c.options(&acc_jwt);
    trust.preload.insert(exp.public.clone(), exp_jwt);
    (server_with(c, trust), exp)
}

/// An import of `subject` (a `kind`) from `account`.
fn import(account: &str, subject: &str, kind: jwt::ExportKind) -> jwt::Import {
    jwt::Import {
        offer: jwt::Offer {
            name: subject.into(),
            subject: subject.into(),
            kind,
        },
        account: account.into(),
        ..jwt::Import::default()
    }
}

/// A user of `account` (its seed signs it), logged in.
fn login_to(h: &mut Harness, c: &mut Chain, account: &Keys) -> ConnId {
    let (u, jwt) = c.user_signed_by(&account.seed, |_, _| {});
    let (id, out) = login(h, Some(&u.seed), &jwt);
    assert!(accepted(&out, &account.public), "{out}");
    id
}

#[test]
fn jwt_imports_of_streams_and_services() {
    let mut c = Chain::new(33, NOW);
    let (mut h, exp) = with_exporter(&mut c, |exp, a| {
        a.imports = vec![
            jwt::Import {
                to: "ext".into(),
                ..import(exp, "news.>", jwt::ExportKind::Stream)
            },
            jwt::Import {
                local_subject: "echo".into(),
                ..import(exp, "svc.echo", jwt::ExportKind::Service)
            },
            // Needs a token it does not have: not imported.
            import(exp, "private.x", jwt::ExportKind::Service),
            // Not exported at all: not imported.
            import(exp, "secret.>", jwt::ExportKind::Stream),
        ];
    });
    let acc = c.acc.clone();
    let importer = login_to(&mut h, &mut c, &acc);
    let exporter = login_to(&mut h, &mut c, &exp);
    h.send(
        importer,
        "SUB ext.news.> 1\r\nSUB secret.> 2\r\nSUB answers 3\r\nPING\r\n",
    );
    h.send(exporter, "SUB svc.echo 1\r\nSUB private.x 2\r\nPING\r\n");
    assert_eq!(h.take(importer), "PONG\r\n");
    assert_eq!(h.take(exporter), "PONG\r\n");
    // The stream, under its prefix.
    h.send(
        exporter,
        "PUB news.today 2\r\nhi\r\nPUB secret.x 1\r\nx\r\n",
    );
    assert_eq!(h.take(importer), "MSG ext.news.today 1 2\r\nhi\r\n");
    // The service, on its local subject, with the reply rewritten.
    h.send(
        importer,
        "PUB echo answers 4\r\nping\r\nPUB private.x answers 1\r\nx\r\n",
    );
    let got = h.take(exporter);
    let reply = got
        .strip_prefix("MSG svc.echo 1 ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("{got}"))
        .to_string();
    assert!(reply.starts_with("_R_."), "{got}");
    assert!(!got.contains("private"), "{got}");
    h.send(exporter, &format!("PUB {reply} 4\r\npong\r\n"));
    assert_eq!(h.take(importer), "MSG answers 3 4\r\npong\r\n");
}

#[test]
fn an_activation_token_opens_a_private_export() {
    let mut c = Chain::new(34, NOW);
    let acc_public = c.acc.public.clone();
    let (mut h, exp) = with_exporter(&mut c, |_, _| {});
    // The exporter issues the importer a token; the importer's JWT is
    // updated with the import and its token.
    let mut token = c.claims(&acc_public, jwt::Body::Other("activation".into()));
    token.name = "private.x".into();
    let token = jwt::encode(&token, &exp.seed).expect("activation");
    let exp_public = exp.public.clone();
    let with_token = c.account_jwt(|cl, a| {
        cl.iat = NOW;
        a.imports = vec![jwt::Import {
            token: token.clone(),
            ..import(&exp_public, "private.x", jwt::ExportKind::Service)
        }];
    });
    let now = h.now;
    h.server
        .update_account_jwt(&with_token, now)
        .expect("taken");
    let acc = c.acc.clone();
    let importer = login_to(&mut h, &mut c, &acc);
    let exporter = login_to(&mut h, &mut c, &exp);
    h.send(exporter, "SUB private.x 1\r\nPING\r\n");
    assert_eq!(h.take(exporter), "PONG\r\n");
    h.send(importer, "PUB private.x 2\r\nhi\r\nPING\r\n");
    assert_eq!(h.take(importer), "PONG\r\n");
    assert_eq!(h.take(exporter), "MSG private.x 1 2\r\nhi\r\n");
}

#[test]
fn a_reload_applies_a_newer_preload_and_refuses_other_operators() {
    let mut c = Chain::new(36, NOW);
    let mut h = server(&c, &c.account_jwt(|_, _| {}));
    let (u, jwt) = c.user(|_, _| {});
    let (a, _) = login(&mut h, Some(&u.seed), &jwt);
    let key = u.public.clone();
    let revoking = c.account_jwt(|cl, acc| {
        cl.iat = NOW;
        acc.revocations.insert(key, NOW);
    });
    let mut options = h.server.options().clone();
    if let Some(t) = options.trust.as_mut() {
        t.preload.insert(c.acc.public.clone(), revoking);
    }
    let now = h.now;
    h.server.reload(options.clone(), now).expect("reloaded");
    h.drain();
    assert_eq!(h.take(a), "-ERR 'User Authentication Revoked'\r\n");
    let other = Chain::new(37, NOW);
    if let Some(t) = options.trust.as_mut() {
        t.operators = vec![other.op_jwt.clone()];
    }
    assert_eq!(
        h.server.reload(options.clone(), now),
        Err("config reload not supported for TrustedOperators".into())
    );
    options.trust = None;
    assert_eq!(
        h.server.reload(options, now),
        Err("config reload does not support moving to or from an account resolver".into())
    );
}

#[test]
fn an_expiring_account_closes_its_clients() {
    let mut c = Chain::new(38, NOW);
    let mut h = server(&c, &c.account_jwt(|cl, _| cl.exp = NOW + 60));
    let (u, jwt) = c.user(|_, _| {});
    let (a, out) = login(&mut h, Some(&u.seed), &jwt);
    assert!(accepted(&out, &c.acc.public), "{out}");
    h.advance(Duration::from_secs(59));
    assert!(!h.is_closed(a));
    h.take(a);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take(a), "-ERR 'Account Authentication Expired'\r\n");
    assert_eq!(h.close_reason(a), Some(CloseReason::AuthenticationExpired));
    // New users of the expired account are refused.
    assert_eq!(login(&mut h, Some(&u.seed), &jwt).1, REFUSED);
}

#[test]
fn gateway_interest_in_an_account_not_yet_used_here_is_kept() {
    let mut c = Chain::new(39, NOW);
    let options = super::gateway::gateway_options(vec![super::gateway::remote("B", 7223)]);
    let mut h = trusting(options, &c, &c.account_jwt(|_, _| {}));
    let (out_link, _) = super::gateway::outbound(&mut h);
    // B switches the account to interest-only and subscribes before any
    // client of the account is here (nats-server loads the account from
    // its resolver for that).
    let acc = c.acc.public.clone();
    let payload = crate::auth::base64_std_encode(acc.as_bytes());
    h.send(
        out_link,
        &format!(
            "INFO {{\"gateway\":\"B\",\"gateway_cmd\":2,\"gateway_cmd_payload\":\"{payload}\"}}\r\nRS+ {acc} foo.*\r\nINFO {{\"gateway\":\"B\",\"gateway_cmd\":3,\"gateway_cmd_payload\":\"{payload}\"}}\r\n"
        ),
    );
    let (u, jwt) = c.user(|_, _| {});
    let (a, _) = login(&mut h, Some(&u.seed), &jwt);
    h.take(out_link);
    h.send(a, "PUB bar 2\r\nno\r\nPUB foo.x 2\r\nhi\r\n");
    assert_eq!(h.take(out_link), format!("RMSG {acc} foo.x 2\r\nhi\r\n"));
}
