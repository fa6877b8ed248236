//! async-nats (the official Rust client) over loopback, against canopy and,
//! with the very same test bodies, against nats-server 2.15.1 so the tests
//! themselves are known to be right. Each test starts its own server.
//!
//! Test names: `canopy::<test>` (canopy on tokio), `canopy_smol::<test>`
//! (canopy on smol) and `nats_server::<test>`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::{
    Client, ConnectErrorKind, ConnectOptions, HeaderMap, Message, RequestErrorKind, Subscriber,
};
use bytes::Bytes;
use canopy_tests::{Impl, Server, ServerBuilder};
use futures::StreamExt;
use tokio::time::timeout;

/// Upper bound on any single wait for a message or reply.
const WAIT: Duration = Duration::from_secs(5);
/// A whole test may take at most this long.
const TEST_LIMIT: Duration = Duration::from_secs(60);

async fn connect(server: &Server) -> Client {
    timeout(WAIT, async_nats::connect(server.url()))
        .await
        .unwrap_or_else(|_| panic!("{}: connect timed out", server.imp()))
        .unwrap_or_else(|e| panic!("{}: connect failed: {e}", server.imp()))
}

async fn next(sub: &mut Subscriber) -> Message {
    timeout(WAIT, sub.next())
        .await
        .expect("timed out waiting for a message")
        .expect("subscription ended early")
}

/// Asserts nothing more arrives within a short while (the subscription may end).
async fn assert_no_more(sub: &mut Subscriber) {
    if let Ok(Some(m)) = timeout(Duration::from_millis(300), sub.next()).await {
        panic!("unexpected extra message on {}: {:?}", m.subject, m.payload);
    }
}

async fn flush(c: &Client) {
    timeout(WAIT, c.flush())
        .await
        .expect("flush timed out")
        .expect("flush failed");
}

/// A round trip through the server on this connection: async-nats' `flush`
/// only empties the socket buffer, so this is the barrier that proves the
/// server processed everything sent before it, and (the barrier message
/// being queued behind them) that everything already routed to this
/// connection has arrived. It adds one message to `in_messages`.
async fn sync(c: &Client) {
    let inbox = c.new_inbox();
    let mut s = c.subscribe(inbox.clone()).await.expect("barrier subscribe");
    c.publish(inbox, "barrier".into())
        .await
        .expect("barrier publish");
    flush(c).await;
    let m = timeout(WAIT, s.next())
        .await
        .expect("barrier round trip timed out")
        .expect("barrier subscription ended");
    assert_eq!(m.payload, "barrier");
    s.unsubscribe().await.expect("barrier unsubscribe");
}

fn in_messages(c: &Client) -> u64 {
    c.statistics().in_messages.load(Ordering::Relaxed)
}

/// Publish, subscribe, ordering, payload bytes, INFO basics.
async fn pub_sub(imp: Impl) {
    let server = Server::start(imp, &[]);
    let sub_client = connect(&server).await;
    let info = sub_client.server_info();
    assert_eq!(info.max_payload, 1024 * 1024, "INFO max_payload");
    assert!(info.headers, "INFO headers");
    assert_eq!(info.proto, 1, "INFO proto");
    let mut sub = sub_client.subscribe("greet.joe").await.unwrap();
    sync(&sub_client).await;

    let pub_client = connect(&server).await;
    for i in 0..10 {
        pub_client
            .publish("greet.joe", format!("hello {i}").into())
            .await
            .unwrap();
    }
    pub_client.publish("greet.joe", Bytes::new()).await.unwrap();
    pub_client
        .publish("greet.other", "nope".into())
        .await
        .unwrap();
    let big = Bytes::from(vec![0xa5u8; 512 * 1024]);
    pub_client.publish("greet.joe", big.clone()).await.unwrap();
    sync(&pub_client).await;

    for i in 0..10 {
        let m = next(&mut sub).await;
        assert_eq!(m.subject.as_str(), "greet.joe");
        assert_eq!(m.payload, format!("hello {i}").as_bytes());
        assert!(m.reply.is_none());
    }
    assert!(next(&mut sub).await.payload.is_empty(), "empty payload");
    assert_eq!(next(&mut sub).await.payload, big, "512 KiB payload");
    assert_no_more(&mut sub).await;
}

/// `*` and `>` wildcards, one subscription each.
async fn wildcards(imp: Impl) {
    let server = Server::start(imp, &[]);
    let c = connect(&server).await;
    let patterns = ["a.*", "a.>", ">", "*.b", "a", "a.*.c"];
    let mut subs = Vec::new();
    for p in patterns {
        subs.push((p, c.subscribe(p).await.unwrap()));
    }
    sync(&c).await;
    let p = connect(&server).await;
    for subj in ["a.b", "a", "a.b.c", "x.b", "a.x.c.d"] {
        p.publish(subj, subj.into()).await.unwrap();
    }
    sync(&p).await;
    sync(&c).await;
    let expected: BTreeMap<&str, Vec<&str>> = [
        ("a.*", vec!["a.b"]),
        ("a.>", vec!["a.b", "a.b.c", "a.x.c.d"]),
        (">", vec!["a.b", "a", "a.b.c", "x.b", "a.x.c.d"]),
        ("*.b", vec!["a.b", "x.b"]),
        ("a", vec!["a"]),
        ("a.*.c", vec!["a.b.c"]),
    ]
    .into_iter()
    .collect();
    for (pat, sub) in &mut subs {
        let want = &expected[pat];
        let mut got = Vec::new();
        // `>` also sees the barriers' inbox messages: skip those.
        while got.len() < want.len() {
            let m = next(sub).await;
            if m.subject.starts_with("_INBOX.") {
                continue;
            }
            assert_eq!(m.payload, m.subject.as_bytes());
            got.push(m.subject.to_string());
        }
        assert_eq!(&got, want, "subscription {pat}");
        // After the barriers every delivery is already in the channel.
        while let Ok(Some(m)) = timeout(Duration::from_millis(20), sub.next()).await {
            assert!(
                m.subject.starts_with("_INBOX."),
                "{pat}: unexpected extra message on {}",
                m.subject
            );
        }
    }
}

/// 10 members of one queue group: 1000 messages, each delivered exactly once
/// to the group (and to a plain subscriber), spread over several members.
async fn queue_groups(imp: Impl) {
    let server = Server::start(imp, &[]);
    let mut members = Vec::new();
    for _ in 0..10 {
        let c = connect(&server).await;
        let s = c.queue_subscribe("work", "workers".into()).await.unwrap();
        sync(&c).await;
        members.push((c, s));
    }
    let plain_client = connect(&server).await;
    let mut plain = plain_client.subscribe("work").await.unwrap();
    sync(&plain_client).await;

    let p = connect(&server).await;
    const N: usize = 1000;
    for i in 0..N {
        p.publish("work", i.to_string().into()).await.unwrap();
    }
    sync(&p).await;

    let mut seen = BTreeSet::new();
    let mut per_member = Vec::new();
    for (c, _) in &members {
        flush(c).await;
    }
    for (_, s) in &mut members {
        let mut n = 0;
        // After the barriers every delivery is already in the channel.
        while let Ok(Some(m)) = timeout(Duration::from_millis(50), s.next()).await {
            let i: usize = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
            assert!(seen.insert(i), "message {i} delivered twice to the group");
            n += 1;
        }
        per_member.push(n);
    }
    assert_eq!(
        seen.len(),
        N,
        "group got {} of {N} messages (per member {per_member:?})",
        seen.len()
    );
    let active = per_member.iter().filter(|&&n| n > 0).count();
    assert!(
        active >= 2,
        "queue deliveries are not spread over members: {per_member:?}"
    );
    for i in 0..N {
        let m = next(&mut plain).await;
        assert_eq!(
            m.payload,
            i.to_string().as_bytes(),
            "plain subscriber order"
        );
    }
    assert_no_more(&mut plain).await;
}

/// Request/reply through a responder on another connection.
async fn request_reply(imp: Impl) {
    let server = Server::start(imp, &[]);
    let responder = connect(&server).await;
    let mut svc = responder.subscribe("svc.upper").await.unwrap();
    sync(&responder).await;
    let r2 = responder.clone();
    let task = tokio::spawn(async move {
        while let Some(m) = svc.next().await {
            let reply = m.reply.expect("request has a reply subject");
            let up = String::from_utf8_lossy(&m.payload).to_uppercase();
            r2.publish(reply, up.into()).await.unwrap();
        }
    });
    let requester = connect(&server).await;
    for i in 0..20 {
        let resp = timeout(
            WAIT,
            requester.request("svc.upper", format!("hi {i}").into()),
        )
        .await
        .expect("request timed out")
        .expect("request failed");
        assert_eq!(resp.payload, format!("HI {i}").as_bytes());
    }
    // Many requests in flight at once.
    let futs = (0..50).map(|i| {
        let r = requester.clone();
        async move {
            let resp = r
                .request("svc.upper", format!("x{i}").into())
                .await
                .expect("request");
            assert_eq!(resp.payload, format!("X{i}").as_bytes());
        }
    });
    timeout(WAIT, futures::future::join_all(futs))
        .await
        .expect("concurrent requests timed out");
    task.abort();
}

/// Headers survive the round trip (multiple values, reply, request).
async fn headers(imp: Impl) {
    let server = Server::start(imp, &[]);
    let c = connect(&server).await;
    let mut sub = c.subscribe("hdr").await.unwrap();
    sync(&c).await;
    let p = connect(&server).await;
    let mut h = HeaderMap::new();
    h.insert("X-Test", "one");
    h.append("X-Multi", "a");
    h.append("X-Multi", "b");
    p.publish_with_headers("hdr", h.clone(), "body".into())
        .await
        .unwrap();
    p.publish_with_reply_and_headers("hdr", "hdr.reply", h, Bytes::new())
        .await
        .unwrap();
    sync(&p).await;

    let m = next(&mut sub).await;
    assert_eq!(m.payload, "body");
    let hs = m.headers.expect("headers delivered");
    assert_eq!(hs.get("X-Test").map(|v| v.as_str()), Some("one"));
    let multi: Vec<&str> = hs.get_all("X-Multi").map(|v| v.as_str()).collect();
    assert_eq!(multi, vec!["a", "b"]);
    let m = next(&mut sub).await;
    assert_eq!(m.reply.as_deref(), Some("hdr.reply"));
    assert!(m.payload.is_empty());
    assert_eq!(
        m.headers
            .expect("headers")
            .get("X-Test")
            .map(|v| v.as_str()),
        Some("one")
    );

    // A request whose reply carries headers.
    let mut svc = c.subscribe("hsvc").await.unwrap();
    sync(&c).await;
    let c2 = c.clone();
    let task = tokio::spawn(async move {
        let m = svc.next().await.expect("request");
        let mut rh = HeaderMap::new();
        rh.insert(
            "Echo",
            m.headers
                .as_ref()
                .and_then(|h| h.get("Q"))
                .map(|v| v.as_str().to_string())
                .unwrap_or_default()
                .as_str(),
        );
        c2.publish_with_headers(m.reply.unwrap(), rh, "ok".into())
            .await
            .unwrap();
    });
    let mut qh = HeaderMap::new();
    qh.insert("Q", "42");
    let resp = timeout(WAIT, p.request_with_headers("hsvc", qh, "q".into()))
        .await
        .expect("request timed out")
        .expect("request failed");
    assert_eq!(resp.payload, "ok");
    assert_eq!(
        resp.headers
            .expect("reply headers")
            .get("Echo")
            .map(|v| v.as_str()),
        Some("42")
    );
    task.await.unwrap();
}

/// A request nobody listens to fails fast with NoResponders (the server's
/// 503 status), not with a timeout.
async fn no_responders(imp: Impl) {
    let server = Server::start(imp, &[]);
    let c = connect(&server).await;
    let started = std::time::Instant::now();
    let err = timeout(WAIT * 2, c.request("nobody.home", "anyone?".into()))
        .await
        .expect("request hung")
        .expect_err("request to a subject without subscribers must fail");
    assert_eq!(
        err.kind(),
        RequestErrorKind::NoResponders,
        "expected NoResponders, got {err:?} after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "no-responders took {:?}",
        started.elapsed()
    );
}

/// `unsubscribe_after(3)`: the server stops after 3 messages (counted at the
/// connection, not only by the client library).
async fn unsubscribe_after(imp: Impl) {
    let server = Server::start(imp, &[]);
    let c = connect(&server).await;
    let mut sub = c.subscribe("limited").await.unwrap();
    sub.unsubscribe_after(3).await.unwrap();
    sync(&c).await;
    let base = in_messages(&c);
    let p = connect(&server).await;
    for i in 0..5 {
        p.publish("limited", i.to_string().into()).await.unwrap();
    }
    sync(&p).await;
    sync(&c).await;
    // Every message has arrived; the barrier itself is one.
    let received = in_messages(&c) - base - 1;
    assert_eq!(
        received, 3,
        "the server sent {received} messages for UNSUB max 3"
    );
    for i in 0..3 {
        assert_eq!(next(&mut sub).await.payload, i.to_string().as_bytes());
    }
    let end = timeout(WAIT, sub.next())
        .await
        .expect("subscription did not end");
    assert!(end.is_none(), "subscription delivered a 4th message");

    // A plain unsubscribe stops delivery too.
    let mut sub2 = c.subscribe("gone").await.unwrap();
    sync(&c).await;
    sub2.unsubscribe().await.unwrap();
    sync(&c).await;
    let before = in_messages(&c);
    p.publish("gone", "x".into()).await.unwrap();
    sync(&p).await;
    sync(&c).await;
    assert_eq!(
        in_messages(&c) - before,
        1,
        "only the barrier arrives after UNSUB"
    );
}

/// flush() succeeds and what was published before it arrives in order.
async fn flush_and_order(imp: Impl) {
    let server = Server::start(imp, &[]);
    let c = connect(&server).await;
    let mut sub = c.subscribe("fl").await.unwrap();
    sync(&c).await;
    let p = connect(&server).await;
    for i in 0..500 {
        p.publish("fl", format!("{i:04}").into()).await.unwrap();
    }
    flush(&p).await;
    for i in 0..500 {
        assert_eq!(next(&mut sub).await.payload, format!("{i:04}").as_bytes());
    }
    // The server handled all 500 publishes before the publisher's barrier;
    // the subscriber's barrier message is queued behind the 500 messages.
    sync(&p).await;
    let before = in_messages(&c);
    sync(&c).await;
    assert_eq!(in_messages(&c) - before, 1, "no duplicates after the 500");
    assert_no_more(&mut sub).await;
}

/// drain: a subscription drains its pending messages then ends; a drained
/// client closes.
async fn drain(imp: Impl) {
    let server = Server::start(imp, &[]);
    let c = connect(&server).await;
    let mut sub = c.subscribe("dr").await.unwrap();
    sync(&c).await;
    let p = connect(&server).await;
    for i in 0..50 {
        p.publish("dr", i.to_string().into()).await.unwrap();
    }
    sync(&p).await;
    sync(&c).await;
    sub.drain().await.unwrap();
    for i in 0..50 {
        assert_eq!(next(&mut sub).await.payload, i.to_string().as_bytes());
    }
    let end = timeout(WAIT, sub.next())
        .await
        .expect("drained subscription did not end");
    assert!(end.is_none());
    // After the drain, nothing more is delivered to that connection.
    sync(&c).await;
    let before = in_messages(&c);
    p.publish("dr", "late".into()).await.unwrap();
    sync(&p).await;
    sync(&c).await;
    assert_eq!(
        in_messages(&c) - before,
        1,
        "a drained subscription still gets messages"
    );

    // Client drain: pending messages still arrive, then the client closes.
    let c2 = connect(&server).await;
    let mut s2 = c2.subscribe("dr2").await.unwrap();
    sync(&c2).await;
    for i in 0..20 {
        p.publish("dr2", i.to_string().into()).await.unwrap();
    }
    sync(&p).await;
    sync(&c2).await;
    timeout(WAIT, c2.drain())
        .await
        .expect("client drain timed out")
        .expect("client drain failed");
    let mut n = 0;
    while let Ok(Some(_)) = timeout(WAIT, s2.next()).await {
        n += 1;
    }
    assert_eq!(n, 20, "messages delivered during client drain");
    assert!(
        c2.publish("dr2", "after".into()).await.is_err() || c2.flush().await.is_err(),
        "a drained client must not publish"
    );
}

/// The server goes away and comes back on the same port: the client
/// reconnects, resubscribes and sends what it buffered meanwhile.
async fn reconnect(imp: Impl) {
    let mut server = Server::start(imp, &[]);
    let port = server.port();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let c = ConnectOptions::new()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .event_callback(move |e| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(e.to_string());
            }
        })
        .connect(server.url())
        .await
        .expect("connect");
    let mut sub = c.subscribe("rc").await.unwrap();
    sync(&c).await;
    c.publish("rc", "before".into()).await.unwrap();
    assert_eq!(next(&mut sub).await.payload, "before");

    server.stop();
    // Wait until the client noticed the disconnect.
    timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if e == "disconnected" {
                return;
            }
        }
    })
    .await
    .expect("client did not notice the server going away");
    c.publish("rc", "buffered".into()).await.unwrap();

    let server2 = ServerBuilder::new(imp).port(port).start();
    timeout(Duration::from_secs(15), async {
        while let Some(e) = events.recv().await {
            if e == "connected" {
                return;
            }
        }
    })
    .await
    .expect("client did not reconnect");
    sync(&c).await;
    assert_eq!(
        next(&mut sub).await.payload,
        "buffered",
        "message published while disconnected"
    );
    let other = connect(&server2).await;
    other.publish("rc", "after".into()).await.unwrap();
    sync(&other).await;
    assert_eq!(
        next(&mut sub).await.payload,
        "after",
        "subscription restored on the new server"
    );
}

async fn expect_auth_failure(opts: ConnectOptions, server: &Server, what: &str) {
    let res = timeout(WAIT, opts.connect(server.url()))
        .await
        .unwrap_or_else(|_| panic!("{what}: connect hung"));
    match res {
        Ok(_) => panic!("{what}: connect succeeded, expected an authorization failure"),
        Err(e) => assert_eq!(
            e.kind(),
            ConnectErrorKind::AuthorizationViolation,
            "{what}: {e}"
        ),
    }
}

async fn round_trip(c: &Client, subject: &str) {
    let mut s = c.subscribe(subject.to_string()).await.unwrap();
    flush(c).await;
    c.publish(subject.to_string(), "ping".into()).await.unwrap();
    assert_eq!(next(&mut s).await.payload, "ping");
}

/// `--user/--pass`.
async fn user_password_auth(imp: Impl) {
    let server = Server::start(imp, &["--user", "alice", "--pass", "s3cret"]);
    assert!(
        timeout(WAIT, async_nats::connect(server.url()))
            .await
            .expect("connect hung")
            .is_err(),
        "connect without credentials must fail"
    );
    expect_auth_failure(
        ConnectOptions::with_user_and_password("alice".into(), "wrong".into()),
        &server,
        "wrong password",
    )
    .await;
    expect_auth_failure(
        ConnectOptions::with_user_and_password("bob".into(), "s3cret".into()),
        &server,
        "wrong user",
    )
    .await;
    let c = ConnectOptions::with_user_and_password("alice".into(), "s3cret".into())
        .connect(server.url())
        .await
        .expect("good credentials");
    assert!(c.server_info().auth_required, "INFO auth_required");
    round_trip(&c, "auth.up").await;
}

/// `--auth TOKEN`.
async fn token_auth(imp: Impl) {
    let server = Server::start(imp, &["--auth", "t0ken"]);
    expect_auth_failure(
        ConnectOptions::with_token("nope".into()),
        &server,
        "wrong token",
    )
    .await;
    assert!(
        timeout(WAIT, async_nats::connect(server.url()))
            .await
            .expect("connect hung")
            .is_err(),
        "connect without a token must fail"
    );
    let c = ConnectOptions::with_token("t0ken".into())
        .connect(server.url())
        .await
        .expect("good token");
    round_trip(&c, "auth.tok").await;
}

/// NKey users: async-nats signs the server's nonce with the seed; a
/// different seed, or none, is refused.
async fn nkey_auth(imp: Impl) {
    let seed = canopy_core::auth::encode_user_seed(&[42u8; 32]);
    let public = canopy_core::auth::public_of_seed(&seed).expect("public key");
    let other = canopy_core::auth::encode_user_seed(&[43u8; 32]);
    let server = canopy_tests::ServerBuilder::new(imp)
        .config(&format!(
            "authorization {{\n  users: [\n    {{nkey: {public}}}\n  ]\n}}\n"
        ))
        .start();
    expect_auth_failure(ConnectOptions::with_nkey(other), &server, "unknown nkey").await;
    assert!(
        timeout(WAIT, async_nats::connect(server.url()))
            .await
            .expect("connect hung")
            .is_err(),
        "connect without an nkey must fail"
    );
    let c = ConnectOptions::with_nkey(seed)
        .connect(server.url())
        .await
        .expect("the right seed");
    assert!(c.server_info().nonce.len() == 15, "15-character nonce");
    round_trip(&c, "auth.nkey").await;
}

/// Accounts: a user of account B never sees account A's messages, and a
/// user of A does.
async fn accounts_isolate(imp: Impl) {
    let server = canopy_tests::ServerBuilder::new(imp)
        .config("accounts {\n  A: { users: [ {user: a, password: a} ] }\n  B: { users: [ {user: b, password: b} ] }\n}\n")
        .start();
    let a1 = ConnectOptions::with_user_and_password("a".into(), "a".into())
        .connect(server.url())
        .await
        .expect("a");
    let a2 = ConnectOptions::with_user_and_password("a".into(), "a".into())
        .connect(server.url())
        .await
        .expect("a again");
    let b = ConnectOptions::with_user_and_password("b".into(), "b".into())
        .connect(server.url())
        .await
        .expect("b");
    let mut sub_a = a1.subscribe("iso").await.expect("sub a");
    let mut sub_b = b.subscribe("iso").await.expect("sub b");
    a1.flush().await.expect("flush");
    b.flush().await.expect("flush");
    // Publish until A's subscriber has it (the reference has been seen to
    // take a moment to register a new account's first subscription).
    let deadline = std::time::Instant::now() + WAIT;
    let got = loop {
        a2.publish("iso", "from A".into()).await.expect("pub");
        a2.flush().await.expect("flush");
        if let Ok(Some(m)) = timeout(Duration::from_millis(200), sub_a.next()).await {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{imp}: A never got its message"
        );
    };
    assert_eq!(&got.payload[..], b"from A");
    assert!(
        timeout(Duration::from_millis(300), sub_b.next())
            .await
            .is_err(),
        "{imp}: account B received account A's message"
    );
}

/// A request from account B through a service import (`to: echo`)
/// reaches A's responder on `svcA.echo` and the answer comes back.
async fn cross_account_service(imp: Impl) {
    let server = canopy_tests::ServerBuilder::new(imp)
        .config("accounts {\n  A: {\n    users: [ {user: a, password: a} ]\n    exports: [ {service: \"svcA.echo\"} ]\n  }\n  B: {\n    users: [ {user: b, password: b} ]\n    imports: [ {service: {account: A, subject: \"svcA.echo\"}, to: echo} ]\n  }\n}\n")
        .start();
    let a = ConnectOptions::with_user_and_password("a".into(), "a".into())
        .connect(server.url())
        .await
        .expect("a");
    let b = ConnectOptions::with_user_and_password("b".into(), "b".into())
        .connect(server.url())
        .await
        .expect("b");
    let mut svc = a.subscribe("svcA.echo").await.expect("sub");
    // The barrier, not flush: B's request must not overtake A's SUB.
    sync(&a).await;
    let responder = a.clone();
    tokio::spawn(async move {
        while let Some(m) = svc.next().await {
            assert!(
                m.reply.as_ref().is_some_and(|r| r.starts_with("_R_.")),
                "reply rewritten: {:?}",
                m.reply
            );
            let mut body = b"echo: ".to_vec();
            body.extend_from_slice(&m.payload);
            let _ = responder.publish(m.reply.unwrap(), body.into()).await;
        }
    });
    // The reference has been seen to answer the very first request with
    // no responders under load (its account wiring is asynchronous):
    // retry that one alone.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match timeout(WAIT, b.request("echo", "warm-up".into()))
            .await
            .expect("request hung")
        {
            Ok(resp) => {
                assert_eq!(&resp.payload[..], b"echo: warm-up");
                break;
            }
            Err(e) if e.kind() == RequestErrorKind::NoResponders => {
                assert!(std::time::Instant::now() < deadline, "{imp}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{imp}: {e}"),
        }
    }
    for i in 0..3 {
        let resp = timeout(WAIT, b.request("echo", format!("hi {i}").into()))
            .await
            .expect("request hung")
            .expect("answered");
        assert_eq!(resp.payload, format!("echo: hi {i}").as_bytes());
    }
    // A stream of A's is not visible to B without an import.
    let mut plain = b.subscribe("svcA.echo").await.expect("sub");
    sync(&b).await;
    a.publish("svcA.echo", "direct".into()).await.expect("pub");
    a.flush().await.expect("flush");
    assert!(
        timeout(Duration::from_millis(300), plain.next())
            .await
            .is_err(),
        "{imp}: account B saw account A's subject"
    );
}

/// no_echo: the connection does not get its own messages.
async fn no_echo(imp: Impl) {
    let server = Server::start(imp, &[]);
    let c = ConnectOptions::new()
        .no_echo()
        .connect(server.url())
        .await
        .unwrap();
    // (No `sync` on `c`: its barrier would never come back to it.)
    let mut own = c.subscribe("echo").await.unwrap();
    let other = connect(&server).await;
    let mut theirs = other.subscribe("echo").await.unwrap();
    sync(&other).await;
    c.publish("echo", "mine".into()).await.unwrap();
    flush(&c).await;
    // `other` receiving it proves the server processed c's SUB before.
    assert_eq!(next(&mut theirs).await.payload, "mine");
    other.publish("echo", "yours".into()).await.unwrap();
    flush(&other).await;
    // Had "mine" been echoed, it would have arrived before "yours".
    assert_eq!(next(&mut own).await.payload, "yours");
    assert_no_more(&mut own).await;
}

async fn run<F, Fut>(imp: Impl, f: F)
where
    F: FnOnce(Impl) -> Fut,
    Fut: Future<Output = ()>,
{
    // Missing binaries fail here, with how to get them.
    let _ = imp.bin();
    timeout(TEST_LIMIT, f(imp))
        .await
        .unwrap_or_else(|_| panic!("{imp}: test did not finish within {TEST_LIMIT:?}"));
}

macro_rules! interop_tests {
    ($($name:ident),* $(,)?) => {
        /// Against canopy on tokio.
        mod canopy {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(canopy_tests::Impl::Canopy, super::$name).await;
                }
            )*
        }
        /// Against canopy on smol.
        mod canopy_smol {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(canopy_tests::Impl::CanopySmol, super::$name).await;
                }
            )*
        }
        /// The same tests against nats-server 2.15.1.
        mod nats_server {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(canopy_tests::Impl::NatsServer, super::$name).await;
                }
            )*
        }
    };
}

interop_tests! {
    pub_sub,
    wildcards,
    queue_groups,
    request_reply,
    headers,
    no_responders,
    unsubscribe_after,
    flush_and_order,
    drain,
    reconnect,
    user_password_auth,
    token_auth,
    nkey_auth,
    accounts_isolate,
    cross_account_service,
    no_echo,
}
