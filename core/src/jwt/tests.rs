use super::*;
use crate::nkey::{PREFIX_ACCOUNT, PREFIX_OPERATOR, PREFIX_USER};
use ed25519_dalek::Signer;
use proptest::prelude::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seed and its public key, of the given kind, drawn from `rng`.
fn key(rng: &mut ChaCha8Rng, prefix: u8) -> (String, String) {
    let mut raw = [0u8; 32];
    rng.fill_bytes(&mut raw);
    let seed = seed_from_raw(prefix, &raw);
    let public = public_of_any_seed(&seed).expect("a valid seed");
    (seed, public)
}

struct Chain {
    op: (String, String),
    acc: (String, String),
    user: (String, String),
}

fn chain(n: u64) -> Chain {
    let mut rng = ChaCha8Rng::seed_from_u64(n);
    Chain {
        op: key(&mut rng, PREFIX_OPERATOR),
        acc: key(&mut rng, PREFIX_ACCOUNT),
        user: key(&mut rng, PREFIX_USER),
    }
}

fn claims(sub: &str, iat: i64, body: Body) -> Claims {
    Claims {
        sub: sub.to_string(),
        name: "test".into(),
        iat,
        body,
        ..Claims::default()
    }
}

/// Signs a hand-written payload (any JSON) with `seed`, header first.
fn sign_raw(header: &str, payload: &str, seed: &str) -> String {
    let raw = crate::nkey::decode_nkeys(seed).expect("seed");
    let secret: [u8; 32] = raw[2..].try_into().expect("32 bytes");
    let key = ed25519_dalek::SigningKey::from_bytes(&secret);
    let signed = format!(
        "{}.{}",
        crate::auth::base64_url_encode(header.as_bytes()),
        crate::auth::base64_url_encode(payload.as_bytes())
    );
    let sig = key.sign(signed.as_bytes()).to_bytes();
    format!("{signed}.{}", crate::auth::base64_url_encode(&sig))
}

const HEADER: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

#[test]
fn seeds_of_each_kind() {
    let c = chain(1);
    assert!(c.op.0.starts_with("SO") && c.op.1.starts_with('O'));
    assert!(c.acc.0.starts_with("SA") && c.acc.1.starts_with('A'));
    assert!(c.user.0.starts_with("SU") && c.user.1.starts_with('U'));
    assert_eq!(
        crate::auth::public_of_seed(&c.user.0).as_deref(),
        Some(c.user.1.as_str())
    );
    assert_eq!(public_of_any_seed(&c.user.1), None, "a public key");
    assert_eq!(public_of_any_seed("SUAAAA"), None);
}

#[test]
fn operator_round_trip() {
    let c = chain(2);
    let body = OperatorClaims {
        signing_keys: vec![chain(3).op.1],
        system_account: c.acc.1.clone(),
        operator_service_urls: vec!["nats://127.0.0.1:4222".into()],
        strict_signing_key_usage: true,
        assert_server_version: "2.10.0".into(),
        ..OperatorClaims::default()
    };
    let mut cl = claims(&c.op.1, 1_700_000_000, Body::Operator(body.clone()));
    cl.tags = vec!["a".into()];
    let jwt = encode(&cl, &c.op.0).expect("encodes");
    let back = decode(&jwt).expect("decodes");
    assert_eq!(back.operator(), Some(&body));
    assert!(back.is_operator() && back.is_self_signed());
    assert_eq!(
        (back.iss.as_str(), back.iat, back.version),
        (c.op.1.as_str(), 1_700_000_000, 2)
    );
    assert_eq!(back.tags, vec!["a".to_string()]);
    assert_eq!(back.jti.len(), 52, "base32 of 32 bytes, unpadded");
    assert!(crate::auth::verify_jwt(&jwt).is_ok());
}

#[test]
fn account_round_trip() {
    let c = chain(4);
    let scoped = chain(5).acc.1;
    let mut template = UserClaims::default();
    template.permissions.pub_allow = vec!["scoped.>".into()];
    let body = AccountClaims {
        imports: vec![Import {
            offer: Offer {
                name: "svc".into(),
                subject: "help".into(),
                kind: ExportKind::Service,
            },
            account: chain(6).acc.1,
            local_subject: "local.help".into(),
            share: true,
            ..Import::default()
        }],
        exports: vec![
            Export {
                offer: Offer {
                    subject: "z.>".into(),
                    kind: ExportKind::Stream,
                    ..Offer::default()
                },
                ..Export::default()
            },
            Export {
                offer: Offer {
                    subject: "a.*".into(),
                    kind: ExportKind::Service,
                    ..Offer::default()
                },
                response_type: "Stream".into(),
                response_threshold_ns: 5_000_000_000,
                account_token_position: 2,
                revocations: [("*".to_string(), 10)].into(),
                ..Export::default()
            },
        ],
        limits: AccountLimits {
            conn: 5,
            nats: NatsLimits {
                payload: 1024,
                ..NatsLimits::default()
            },
            ..AccountLimits::default()
        },
        signing_keys: vec![
            SigningKey::Key(chain(7).acc.1),
            SigningKey::Scoped(Box::new(UserScope {
                key: scoped.clone(),
                role: "r".into(),
                template: template.clone(),
                description: String::new(),
            })),
        ],
        revocations: [(c.user.1.clone(), 100)].into(),
        description: "an account".into(),
        ..AccountClaims::default()
    };
    let jwt = encode(&claims(&c.acc.1, 50, Body::Account(body.clone())), &c.op.0).unwrap();
    let back = decode(&jwt).expect("decodes");
    let acc = back.account().expect("account");
    // Exports come back sorted by subject, as Go writes them.
    assert_eq!(acc.exports[0].offer.subject, "a.*");
    assert_eq!(acc.exports[1].offer.subject, "z.>");
    assert_eq!(acc.imports, body.imports);
    assert_eq!(acc.limits, body.limits);
    assert_eq!(acc.revocations, body.revocations);
    assert_eq!(acc.description, "an account");
    let scope = acc.signing_key(&scoped).and_then(SigningKey::scope);
    assert_eq!(scope.map(|s| &s.template), Some(&template));
    assert!(acc.signing_key(&c.user.1).is_none());
    // An account may also be signed by itself, not by a user.
    assert!(encode(&claims(&c.acc.1, 1, Body::Account(body.clone())), &c.acc.0).is_ok());
    assert_eq!(
        encode(&claims(&c.acc.1, 1, Body::Account(body)), &c.user.0),
        Err(JwtError::IssuerPrefix("account operator"))
    );
}

#[test]
fn user_round_trip_and_defaults() {
    let c = chain(8);
    let mut user = UserClaims {
        src: vec!["127.0.0.1/32".into()],
        times: vec![TimeRange {
            start: "01:00:00".into(),
            end: "02:00:00".into(),
        }],
        times_location: "UTC".into(),
        limits: NatsLimits {
            subs: 10,
            ..NatsLimits::default()
        },
        bearer_token: true,
        allowed_connection_types: vec!["STANDARD".into()],
        ..UserClaims::default()
    };
    user.permissions.pub_deny = vec!["x".into()];
    user.permissions.sub_allow = vec!["q g".into()];
    user.permissions.resp = Some(ResponsePermission {
        max: 1,
        ttl_ns: 1_000,
    });
    let mut cl = claims(&c.user.1, 7, Body::User(user.clone()));
    cl.issuer_account = c.acc.1.clone();
    cl.exp = 100;
    let jwt = encode(&cl, &c.acc.0).unwrap();
    let back = decode(&jwt).unwrap();
    assert_eq!(back.user(), Some(&user));
    assert_eq!(back.issuer_account, c.acc.1);
    assert_eq!((back.exp, back.iss.as_str()), (100, c.acc.1.as_str()));
    // Only an account may sign users; the subject must be a user key.
    assert_eq!(encode(&cl, &c.op.0), Err(JwtError::IssuerPrefix("account")));
    cl.sub = c.acc.1.clone();
    assert_eq!(
        encode(&cl, &c.acc.0),
        Err(JwtError::SubjectKind("user public key"))
    );
    cl.sub.clear();
    assert_eq!(encode(&cl, &c.acc.0), Err(JwtError::NoSubject));
}

#[test]
fn go_json_shapes() {
    let c = chain(9);
    // src as a comma-separated string, missing limits, null fields.
    let payload = format!(
        r#"{{"jti":"J","iat":3,"iss":"{}","sub":"{}","nats":{{"src":"10.0.0.0/8, 192.168.0.0/16,10.0.0.0/8","pub":null,"times":[{{"start":"00:00:00","end":"01:00:00"}}],"unknown":{{"x":1}},"type":"user","version":2}}}}"#,
        c.acc.1, c.user.1
    );
    let back = decode(&sign_raw(HEADER, &payload, &c.acc.0)).expect("decodes");
    let user = back.user().unwrap();
    assert_eq!(user.src, vec!["10.0.0.0/8", "192.168.0.0/16"]);
    assert_eq!(user.limits, NatsLimits::zero());
    assert_eq!(user.times[0].end, "01:00:00");
    // An account without limits has zero limits; a scope without a
    // template gets Go's -1 template limits.
    let payload = format!(
        r#"{{"iat":3,"iss":"{0}","sub":"{1}","nats":{{"signing_keys":["{1}",{{"kind":"user_scope","key":"{2}"}}],"type":"account","version":2}}}}"#,
        c.op.1,
        c.acc.1,
        chain(10).acc.1
    );
    let back = decode(&sign_raw(HEADER, &payload, &c.op.0)).expect("decodes");
    let acc = back.account().unwrap();
    assert_eq!(acc.limits, AccountLimits::zero());
    let scope = acc.signing_keys[1].scope().expect("scoped");
    assert_eq!(scope.template.limits, NatsLimits::default());
    assert!(acc.signing_keys[0].scope().is_none());
    // An unknown scope kind or export type is an error, as in Go.
    let bad = payload.replace("user_scope", "other_scope");
    assert!(matches!(
        decode(&sign_raw(HEADER, &bad, &c.op.0)),
        Err(JwtError::Json(_))
    ));
}

#[test]
fn jti_is_the_hash_of_the_registered_claims() {
    let c = chain(11);
    let mut cl = claims(
        &c.op.1,
        1_600_000_000,
        Body::Operator(OperatorClaims::default()),
    );
    cl.name = "a<b".into();
    let jwt = encode(&cl, &c.op.0).unwrap();
    let back = decode(&jwt).unwrap();
    let hashed = format!(
        r#"{{"iat":1600000000,"iss":"{0}","name":"a\u003cb","sub":"{0}"}}"#,
        c.op.1
    );
    use sha2::Digest;
    let want = crate::nkey::base32(&sha2::Sha512_256::digest(hashed.as_bytes()));
    assert_eq!(back.jti, want);
    assert_eq!(back.name, "a<b");
    // Same claims, same JWT: nothing random goes in.
    assert_eq!(encode(&cl, &c.op.0).unwrap(), jwt);
}

#[test]
fn tampering_and_wrong_signers_fail() {
    let c = chain(12);
    let cl = claims(&c.user.1, 5, Body::User(UserClaims::default()));
    let jwt = encode(&cl, &c.acc.0).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut other = cl.clone();
    other.name = "changed".into();
    let other_jwt = encode(&other, &c.acc.0).unwrap();
    let other_payload = other_jwt.split('.').nth(1).unwrap();
    let tampered = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
    assert_eq!(decode(&tampered), Err(JwtError::Signature(2)));
    assert_eq!(
        JwtError::Signature(2).to_string(),
        "claim failed V2 signature verification"
    );
    // Claiming another issuer than the signer.
    let forged = sign_raw(
        HEADER,
        &format!(
            r#"{{"iss":"{}","sub":"{}","nats":{{"type":"user","version":2}}}}"#,
            chain(13).acc.1,
            c.user.1
        ),
        &c.acc.0,
    );
    assert_eq!(decode(&forged), Err(JwtError::Signature(2)));
    // A user JWT issued by an operator key.
    let by_op = sign_raw(
        HEADER,
        &format!(
            r#"{{"iss":"{}","sub":"{}","nats":{{"type":"user","version":2}}}}"#,
            c.op.1, c.user.1
        ),
        &c.op.0,
    );
    assert_eq!(decode(&by_op), Err(JwtError::IssuerPrefix("account")));
    assert_eq!(decode("a.b"), Err(JwtError::Chunks));
    assert_eq!(
        decode("a.b.c.d").unwrap_err().to_string(),
        "expected 3 chunks"
    );
    // Headers.
    let hs = sign_raw(r#"{"typ":"JWT","alg":"HS256"}"#, "{}", &c.acc.0);
    assert_eq!(decode(&hs), Err(JwtError::Algorithm("HS256".into())));
    let typ = sign_raw(r#"{"typ":"XYZ","alg":"ed25519-nkey"}"#, "{}", &c.acc.0);
    assert_eq!(
        decode(&typ).unwrap_err().to_string(),
        "not supported type \"XYZ\""
    );
    let newer = sign_raw(HEADER, r#"{"nats":{"type":"user","version":3}}"#, &c.acc.0);
    assert_eq!(decode(&newer), Err(JwtError::NewerVersion));
    let padded = format!("{}=", jwt);
    assert_eq!(decode(&padded), Err(JwtError::Base64));
}

#[test]
fn generic_claims_follow_the_header_algorithm() {
    let c = chain(14);
    let payload = format!(
        r#"{{"iss":"{0}","sub":"{0}","nats":{{"type":"generic"}}}}"#,
        c.op.1
    );
    let back = decode(&sign_raw(HEADER, &payload, &c.op.0)).expect("generic");
    assert_eq!(back.body, Body::Other("generic".into()));
    // Without any nats part too (what auth's old test signed).
    let bare = format!(r#"{{"iss":"{0}","sub":"{0}"}}"#, c.op.1);
    assert!(decode(&sign_raw(HEADER, &bare, &c.op.0)).is_ok());
    assert_eq!(
        decode(&sign_raw(HEADER, r#"{"nats":{"type":"server"}}"#, &c.op.0))
            .unwrap_err()
            .to_string(),
        "ServerClaims are not supported"
    );
}

#[test]
fn decorated_files_and_creds() {
    let c = chain(15);
    let op = encode(
        &claims(&c.op.1, 1, Body::Operator(OperatorClaims::default())),
        &c.op.0,
    )
    .unwrap();
    let file = decorate_jwt(&op).unwrap();
    assert!(file.starts_with("-----BEGIN NATS OPERATOR JWT-----\n"));
    assert!(file.ends_with("\n------END NATS OPERATOR JWT------\n\n"));
    assert_eq!(decode(&file).unwrap().sub, c.op.1);
    let user = encode(
        &claims(&c.user.1, 1, Body::User(UserClaims::default())),
        &c.acc.0,
    )
    .unwrap();
    let creds = creds_file(&user, &c.user.0);
    let want = format!(
        "-----BEGIN NATS USER JWT-----\n{user}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n",
        c.user.0
    );
    assert_eq!(creds, want);
    let parsed = crate::auth::parse_creds(&creds).expect("parses");
    assert_eq!((parsed.jwt, parsed.seed), (user.clone(), c.user.0.clone()));
    assert!(crate::auth::check_creds(&creds).is_ok());
    assert!(decode(&creds).unwrap().is_user());
}

#[test]
fn time_checks() {
    let cl = Claims {
        exp: 100,
        nbf: 50,
        ..Claims::default()
    };
    assert!(cl.not_yet_valid(49) && !cl.not_yet_valid(50));
    assert!(!cl.expired(100) && cl.expired(101));
    let open = Claims::default();
    assert!(!open.expired(i64::MAX) && !open.not_yet_valid(i64::MIN));
}

#[test]
fn revocations() {
    let c = chain(16);
    let mut acc = AccountClaims::default();
    acc.revocations.insert(c.user.1.clone(), 100);
    assert!(acc.is_revoked(&c.user.1, 100));
    assert!(acc.is_revoked(&c.user.1, 99));
    assert!(!acc.is_revoked(&c.user.1, 101));
    assert!(!acc.is_revoked("UOTHER", 1));
    acc.revocations.insert("*".into(), 200);
    assert!(acc.is_revoked("UOTHER", 200));
    assert!(acc.is_revoked(&c.user.1, 150));
    assert!(!acc.is_revoked("UOTHER", 201));
}

#[test]
fn operator_did_sign() {
    let c = chain(17);
    let sk = chain(18).op.1;
    let mut op = OperatorClaims {
        signing_keys: vec![sk.clone()],
        ..OperatorClaims::default()
    };
    assert!(op.did_sign(&c.op.1, &c.op.1, &c.acc.1));
    assert!(op.did_sign(&c.op.1, &sk, &c.acc.1));
    assert!(!op.did_sign(&c.op.1, &c.acc.1, &c.acc.1));
    op.strict_signing_key_usage = true;
    assert!(!op.did_sign(&c.op.1, &c.op.1, &c.acc.1));
}

fn sample_jwt() -> String {
    let c = chain(19);
    let mut user = UserClaims::default();
    user.permissions.pub_allow = vec!["a.>".into()];
    let mut cl = claims(&c.user.1, 9, Body::User(user));
    cl.issuer_account = c.acc.1;
    encode(&cl, &c.acc.0).unwrap()
}

proptest! {
    #[test]
    fn random_text_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = decode(&text);
        let _ = decorate_jwt(&text);
        let _ = public_of_any_seed(&text);
    }

    #[test]
    fn mutated_jwts_never_panic_and_never_verify(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)
    ) {
        let jwt = sample_jwt();
        let mut bytes = jwt.clone().into_bytes();
        for (at, b) in edits {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let result = decode(&text);
        if text != jwt {
            // A changed character may still decode to the same bytes
            // (base64 leftover bits); then the claims are the original's.
            if let Ok(c) = result {
                prop_assert_eq!(c, decode(&jwt).unwrap());
            }
        }
    }

    #[test]
    fn mutated_payload_json_never_panics(
        at in any::<usize>(), b in any::<u8>(), seed in any::<u64>()
    ) {
        let c = chain(seed);
        let mut payload = format!(
            r#"{{"iss":"{}","sub":"{}","nats":{{"src":"1.2.3.4/32","signing_keys":[{{"kind":"user_scope","key":"k","template":{{}}}}],"exports":[{{"type":"stream"}}],"limits":{{"conn":1}},"type":"account","version":2}}}}"#,
            c.acc.1, c.acc.1
        ).into_bytes();
        let i = at % payload.len();
        payload[i] = b;
        let text = String::from_utf8_lossy(&payload).into_owned();
        let _ = decode(&sign_raw(HEADER, &text, &c.acc.0));
    }
}
