//! The user-JWT checks, each case with JWTs made in the test.

use super::testkit::Chain;
use super::*;
use crate::nkey::{PREFIX_ACCOUNT, PREFIX_OPERATOR};

/// 2026-12-07 13:00:00 UTC.
const NOW: i64 = 1_796_648_400;

fn asker<'a>(jwt: &'a str, sig: Option<&'a str>, nonce: &'a str) -> Asker<'a> {
    Asker {
        jwt: Some(jwt),
        sig,
        nonce,
        conn_type: "STANDARD",
        ip: Some("127.0.0.1".parse().unwrap()),
        now_unix: NOW,
        #[cfg(feature = "mutations")]
        skip_nonce_check: false,
    }
}

/// Signs the nonce with the user's seed and asks.
fn connect(trust: &Trust, seed: &str, jwt: &str) -> Result<Grant, Refusal> {
    let nonce = "aNonceOf15Chars";
    let sig = crate::auth::sign_nonce(seed, nonce.as_bytes()).unwrap();
    trust.authenticate(&asker(jwt, Some(&sig), nonce))
}

fn trust_with(chain: &Chain, account_jwt: &str) -> Trust {
    Trust::new(&chain.options(account_jwt))
}

#[test]
fn a_good_chain_binds_the_user_to_its_account() {
    let mut c = Chain::new(1, NOW);
    let t = trust_with(&c, &c.account_jwt(|_, _| {}));
    assert_eq!(
        operator_system_account(std::slice::from_ref(&c.op_jwt)),
        Some(c.sys.public.clone())
    );
    let (u, jwt) = c.user(|_, _| {});
    let g = connect(&t, &u.seed, &jwt).expect("accepted");
    assert_eq!(g.account, c.acc.public);
    assert_eq!(g.user, u.public);
    assert_eq!(g.permissions, None);
    assert!(g.default_permissions);
    assert_eq!((g.max_subs, g.max_payload, g.ends_at), (None, None, None));
}

#[test]
fn signatures_are_required_and_checked() {
    let mut c = Chain::new(2, NOW);
    let t = trust_with(&c, &c.account_jwt(|_, _| {}));
    let (u, jwt) = c.user(|_, _| {});
    let nonce = "aNonceOf15Chars";
    assert_eq!(
        t.authenticate(&asker(&jwt, None, nonce)),
        Err(Refusal::SignatureMissing)
    );
    let other = c.keys(crate::nkey::PREFIX_USER);
    let wrong = crate::auth::sign_nonce(&other.seed, nonce.as_bytes()).unwrap();
    assert_eq!(
        t.authenticate(&asker(&jwt, Some(&wrong), nonce)),
        Err(Refusal::SignatureInvalid)
    );
    let sig = crate::auth::sign_nonce(&u.seed, b"another nonce").unwrap();
    assert_eq!(
        t.authenticate(&asker(&jwt, Some(&sig), nonce)),
        Err(Refusal::SignatureInvalid)
    );
    assert_eq!(
        t.authenticate(&asker("", None, nonce)),
        Err(Refusal::Missing)
    );
    assert_eq!(
        t.authenticate(&asker("not.a.jwt", None, nonce)),
        Err(Refusal::Invalid)
    );
}

#[test]
fn expired_and_not_yet_valid_users_are_refused() {
    let mut c = Chain::new(3, NOW);
    let t = trust_with(&c, &c.account_jwt(|_, _| {}));
    let (u, jwt) = c.user(|cl, _| cl.exp = NOW - 1);
    assert_eq!(connect(&t, &u.seed, &jwt), Err(Refusal::NoLongerValid));
    let (u, jwt) = c.user(|cl, _| cl.nbf = NOW + 60);
    assert_eq!(connect(&t, &u.seed, &jwt), Err(Refusal::NoLongerValid));
    // A future expiry is the grant's end.
    let (u, jwt) = c.user(|cl, _| cl.exp = NOW + 90);
    assert_eq!(connect(&t, &u.seed, &jwt).unwrap().ends_at, Some(NOW + 90));
}

#[test]
fn revoked_users_are_refused() {
    let mut c = Chain::new(4, NOW);
    let (u, jwt) = c.user(|_, _| {});
    let (v, vjwt) = c.user(|_, _| {});
    let revoked_at = NOW - 3600; // the users' iat: revoked at or after it
    let acc = c.account_jwt(|_, a| {
        a.revocations.insert(u.public.clone(), revoked_at);
    });
    let t = trust_with(&c, &acc);
    assert_eq!(connect(&t, &u.seed, &jwt), Err(Refusal::Revoked));
    assert!(connect(&t, &v.seed, &vjwt).is_ok());
    // A user issued after the revocation time is fine again.
    let acc = c.account_jwt(|_, a| {
        a.revocations.insert(u.public.clone(), revoked_at - 1);
    });
    assert!(connect(&trust_with(&c, &acc), &u.seed, &jwt).is_ok());
    // `*` revokes everyone issued until then.
    let acc = c.account_jwt(|_, a| {
        a.revocations.insert("*".into(), NOW);
    });
    assert_eq!(
        connect(&trust_with(&c, &acc), &v.seed, &vjwt),
        Err(Refusal::Revoked)
    );
}

#[test]
fn issuers_must_be_the_account_or_its_signing_keys() {
    let mut c = Chain::new(5, NOW);
    let t = trust_with(&c, &c.account_jwt(|_, _| {}));
    // A signing key the account lists, naming the account.
    let signer = c.acc_signer.seed.clone();
    let acc = c.acc.public.clone();
    let (u, jwt) = c.user_signed_by(&signer, |cl, _| cl.issuer_account = acc.clone());
    let g = connect(&t, &u.seed, &jwt).expect("signing key accepted");
    assert_eq!(g.account, c.acc.public);
    // An account key the account does not list.
    let stranger = c.keys(PREFIX_ACCOUNT);
    let (u, jwt) = c.user_signed_by(&stranger.seed, |cl, _| cl.issuer_account = acc.clone());
    assert_eq!(connect(&t, &u.seed, &jwt), Err(Refusal::UnknownIssuer));
    // An account the resolver does not know.
    let (u, jwt) = c.user_signed_by(&stranger.seed, |_, _| {});
    assert_eq!(connect(&t, &u.seed, &jwt), Err(Refusal::UnknownAccount));
}

#[test]
fn accounts_signed_by_another_operator_are_not_taken() {
    let mut c = Chain::new(6, NOW);
    let rogue = c.keys(PREFIX_OPERATOR);
    let mut claims = c.claims(
        &c.acc.public.clone(),
        jwt::Body::Account(Default::default()),
    );
    claims.name = "rogue".into();
    let rogue_acc = jwt::encode(&claims, &rogue.seed).unwrap();
    let mut t = trust_with(&c, &c.account_jwt(|_, _| {}));
    assert_eq!(t.update(&rogue_acc), Err(AccountRefusal::Untrusted));
    let mut opts = c.options(&rogue_acc);
    opts.preload.remove(&c.sys.public);
    let t = Trust::new(&opts);
    let (u, jwt) = c.user(|_, _| {});
    assert_eq!(connect(&t, &u.seed, &jwt), Err(Refusal::UnknownAccount));
}

#[test]
fn scoped_signing_keys_impose_their_template() {
    let mut c = Chain::new(7, NOW);
    let acc = c.acc.public.clone();
    let signer = c.acc_signer.clone();
    let acc_jwt = c.account_jwt(|_, a| {
        let mut template = jwt::UserClaims::default();
        template.permissions.pub_allow = vec!["scoped.>".into()];
        a.signing_keys = vec![jwt::SigningKey::Scoped(Box::new(jwt::UserScope {
            key: signer.public.clone(),
            role: "r".into(),
            template,
            description: String::new(),
        }))];
    });
    let t = trust_with(&c, &acc_jwt);
    // A scoped user carries nothing of its own (Go's empty permissions).
    let empty = |cl: &mut jwt::Claims, u: &mut jwt::UserClaims| {
        cl.issuer_account = acc.clone();
        u.limits.subs = 0;
        u.limits.data = 0;
        u.limits.payload = 0;
    };
    let (u, jwt) = c.user_signed_by(&signer.seed, empty);
    let g = connect(&t, &u.seed, &jwt).expect("scoped user");
    let p = g.permissions.expect("the template's");
    assert!(p.can_publish(b"scoped.x"));
    assert!(!p.can_publish(b"other"));
    let (u, jwt) = c.user_signed_by(&signer.seed, |cl, uc| {
        cl.issuer_account = acc.clone();
        uc.permissions.pub_allow = vec![">".into()];
    });
    assert_eq!(connect(&t, &u.seed, &jwt), Err(Refusal::Scope));
}

#[test]
fn bearer_tokens_need_no_signature_unless_the_account_refuses_them() {
    let mut c = Chain::new(8, NOW);
    let t = trust_with(&c, &c.account_jwt(|_, _| {}));
    let (_, jwt) = c.user(|_, u| u.bearer_token = true);
    assert!(t.authenticate(&asker(&jwt, None, "n")).is_ok());
    let acc = c.account_jwt(|_, a| a.limits.disallow_bearer = true);
    assert_eq!(
        trust_with(&c, &acc).authenticate(&asker(&jwt, None, "n")),
        Err(Refusal::BearerRefused)
    );
}

#[test]
fn permissions_from_claims_and_account_defaults() {
    let mut c = Chain::new(9, NOW);
    let acc = c.account_jwt(|_, a| {
        a.default_permissions.sub_deny = vec!["secret.>".into()];
    });
    let t = trust_with(&c, &acc);
    let (u, jwt) = c.user(|_, uc| {
        uc.permissions.pub_allow = vec!["a.>".into()];
        uc.permissions.pub_deny = vec!["a.b".into()];
        uc.permissions.sub_allow = vec!["in.* q1".into()];
    });
    let g = connect(&t, &u.seed, &jwt).unwrap();
    assert!(!g.default_permissions);
    let p = g.permissions.unwrap();
    assert!(p.can_publish(b"a.x") && !p.can_publish(b"a.b") && !p.can_publish(b"b"));
    assert!(p.can_subscribe(b"in.x", Some(b"q1")));
    assert!(!p.can_subscribe(b"in.x", Some(b"q2")));
    // No permissions of its own: the account's defaults.
    let (u, jwt) = c.user(|_, _| {});
    let g = connect(&t, &u.seed, &jwt).unwrap();
    assert!(g.default_permissions);
    let p = g.permissions.unwrap();
    assert!(!p.can_subscribe(b"secret.x", None) && p.can_subscribe(b"open", None));
    // A response permission turns publishing off but for replies.
    let (u, jwt) = c.user(|_, uc| {
        uc.permissions.resp = Some(jwt::ResponsePermission { max: 0, ttl_ns: 0 });
    });
    let p = connect(&t, &u.seed, &jwt).unwrap().permissions.unwrap();
    assert!(!p.can_publish(b"anything"));
    let r = p.responses.unwrap();
    assert_eq!((r.max, r.expires.as_secs()), (1, 120));
}

#[test]
fn connection_types_sources_and_times() {
    let mut c = Chain::new(10, NOW);
    let t = trust_with(&c, &c.account_jwt(|_, _| {}));
    let (u, jwt) = c.user(|_, uc| uc.allowed_connection_types = vec!["WEBSOCKET".into()]);
    assert_eq!(connect(&t, &u.seed, &jwt), Err(Refusal::ConnectionType));
    let (u, jwt) = c.user(|_, uc| {
        uc.allowed_connection_types = vec!["MQTT".into(), "standard".into()];
    });
    assert!(connect(&t, &u.seed, &jwt).is_ok());
    // Only types this server does not know: refused.
    let (u, jwt) = c.user(|_, uc| uc.allowed_connection_types = vec!["CARRIER_PIGEON".into()]);
    assert_eq!(connect(&t, &u.seed, &jwt), Err(Refusal::ConnectionType));
    let (u, jwt) = c.user(|_, uc| uc.src = vec!["10.0.0.0/8".into()]);
    assert_eq!(connect(&t, &u.seed, &jwt), Err(Refusal::Source));
    let (u, jwt) = c.user(|_, uc| uc.src = vec!["127.0.0.0/8".into()]);
    assert!(connect(&t, &u.seed, &jwt).is_ok());
    let window = |s: &str, e: &str| jwt::TimeRange {
        start: s.into(),
        end: e.into(),
    };
    let (u, jwt) = c.user(|_, uc| uc.times = vec![window("14:00:00", "15:00:00")]);
    assert_eq!(connect(&t, &u.seed, &jwt), Err(Refusal::Times));
    let (u, jwt) = c.user(|_, uc| uc.times = vec![window("12:00:00", "13:30:00")]);
    assert_eq!(
        connect(&t, &u.seed, &jwt).unwrap().ends_at,
        Some(NOW + 1800)
    );
}

#[test]
fn limits_take_the_tighter_of_user_and_account() {
    let mut c = Chain::new(11, NOW);
    let acc = c.account_jwt(|_, a| {
        a.limits.nats.subs = 10;
        a.limits.nats.payload = -1;
    });
    let t = trust_with(&c, &acc);
    let (u, jwt) = c.user(|_, uc| {
        uc.limits.subs = 20;
        uc.limits.payload = 512;
    });
    let g = connect(&t, &u.seed, &jwt).unwrap();
    assert_eq!((g.max_subs, g.max_payload), (Some(10), Some(512)));
}

#[test]
fn updates_replace_older_jwts_only() {
    let c = Chain::new(12, NOW);
    let mut t = trust_with(&c, &c.account_jwt(|_, _| {}));
    let newer = c.account_jwt(|cl, a| {
        cl.iat = NOW;
        a.limits.conn = 3;
    });
    assert_eq!(t.update(&newer), Ok(c.acc.public.clone()));
    assert_eq!(t.account(&c.acc.public).unwrap().account.limits.conn, 3);
    let older = c.account_jwt(|cl, _| cl.iat = NOW - 7200);
    assert_eq!(t.update(&older), Err(AccountRefusal::Older));
    assert!(matches!(
        t.update("garbage"),
        Err(AccountRefusal::Invalid(_))
    ));
    assert_eq!(t.update(&c.op_jwt), Err(AccountRefusal::NotAccount));
}

#[test]
fn a_strict_operator_trusts_only_its_signing_keys() {
    let c = Chain::new(13, NOW);
    let mut rng_chain = Chain::new(14, NOW);
    let signer = rng_chain.keys(PREFIX_OPERATOR);
    let mut claims = c.claims(&c.op.public, jwt::Body::Operator(Default::default()));
    if let jwt::Body::Operator(o) = &mut claims.body {
        o.strict_signing_key_usage = true;
        o.signing_keys = vec![signer.public.clone()];
    }
    let strict_op = jwt::encode(&claims, &c.op.seed).unwrap();
    let mut opts = c.options(&c.account_jwt(|_, _| {}));
    opts.operators = vec![strict_op];
    let mut t = Trust::new(&opts);
    // Accounts the identity key signed are not taken; the signing key's are.
    assert!(t.account(&c.acc.public).is_none());
    let mut acc = c.claims(&c.acc.public, jwt::Body::Account(Default::default()));
    acc.iat = NOW;
    let by_signer = jwt::encode(&acc, &signer.seed).unwrap();
    assert_eq!(t.update(&by_signer), Ok(c.acc.public.clone()));
}
