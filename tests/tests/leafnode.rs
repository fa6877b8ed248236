//! Leaf nodes over real sockets with async-nats clients: a hub (accepting
//! side, `leafnodes { port }`) and a leaf (soliciting side,
//! `leafnodes { remotes }`), each either nats-server 2.15.1 or canopy.
//!
//! Every scenario runs once per (hub, leaf) pair, in a module named after
//! the pair: `hub_nats_server_leaf_nats_server` (the reference),
//! `hub_canopy_leaf_nats_server`, `hub_nats_server_leaf_canopy`,
//! `hub_canopy_leaf_canopy` and `hub_canopy_smol_leaf_canopy_smol`.
//!
//! No config sets `compression` or `tls`: a default-configured nats-server
//! peer must connect to canopy as it is. Every `leafnodes` listener sets
//! `host: 127.0.0.1`, since nats-server listens for leafnodes on `0.0.0.0`
//! when only `-a 127.0.0.1` is given.
//!
//! The link is never taken as up from a log line: both nats-server sides
//! log `Leafnode connection created` before the hub has checked the
//! credentials (a refused leaf logs it on every retry). A link is up when a
//! probe published on one side reaches a subscriber on the other, in both
//! directions. Every count is exact.

mod common;

use common::{reaches, rt};
use std::time::Duration;

use async_nats::{Client, ConnectOptions, HeaderMap, Message, Subscriber};
use bytes::Bytes;
use canopy_tests::{free_port, Impl, Server, ServerBuilder};
use futures::StreamExt;
use tokio::time::{sleep, timeout};

/// Upper bound on any single wait for a message or reply.
const WAIT: Duration = Duration::from_secs(5);
/// How long a leaf link may take to form. A nats-server leaf dials at once
/// and links in well under a second on loopback (it retries every second or
/// two after a failed dial); the bound stays short so that a canopy without
/// the link fails each test quickly.
const LINK: Duration = Duration::from_secs(10);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(500);

// ---- servers -----------------------------------------------------------------

/// A hub started with `config`, the whole config text (its `leafnodes`
/// block comes from [`listen`]).
fn start_hub(imp: Impl, config: &str) -> Server {
    ServerBuilder::new(imp).config(config).start()
}

/// A leaf whose `leafnodes { remotes = [ { REMOTE } ] }` has `remote` as
/// the one remote's body.
fn start_leaf(imp: Impl, remote: &str) -> Server {
    let config = format!(
        "leafnodes {{\n    remotes = [\n        {{\n          {remote}\n        }},\n    ]\n}}\n"
    );
    ServerBuilder::new(imp).config(&config).start()
}

/// The `host`/`port` lines of a hub's `leafnodes` block.
fn listen(leaf_port: u16) -> String {
    format!("host: 127.0.0.1\n    port: {leaf_port}")
}

fn label(hub: Impl, leaf: Impl) -> String {
    format!("hub {hub}, leaf {leaf}")
}

fn logs(hub: &Server, leaves: &[&Server]) -> String {
    let mut s = format!("--- hub ({}) log:\n{}\n", hub.imp(), hub.log_tail(40));
    for l in leaves {
        s.push_str(&format!(
            "--- leaf ({}) log:\n{}\n",
            l.imp(),
            l.log_tail(40)
        ));
    }
    s
}

// ---- clients -----------------------------------------------------------------

async fn connect(url: &str) -> Client {
    connect_with(ConnectOptions::new(), url).await
}

async fn connect_with(opts: ConnectOptions, url: &str) -> Client {
    timeout(WAIT, opts.connect(url))
        .await
        .unwrap_or_else(|_| panic!("connect to {url} timed out"))
        .unwrap_or_else(|e| panic!("connect to {url} failed: {e}"))
}

async fn login(user: &str, pass: &str, url: &str) -> Client {
    connect_with(
        ConnectOptions::with_user_and_password(user.into(), pass.into()),
        url,
    )
    .await
}

async fn next(sub: &mut Subscriber) -> Message {
    timeout(WAIT, sub.next())
        .await
        .expect("timed out waiting for a message")
        .expect("subscription ended early")
}

/// Asserts nothing more arrives within [`QUIET`].
async fn assert_no_more(sub: &mut Subscriber, what: &str) {
    if let Ok(Some(m)) = timeout(QUIET, sub.next()).await {
        panic!(
            "{what}: unexpected message on {}: {:?}",
            m.subject, m.payload
        );
    }
}

/// A round trip through the server on this connection: everything sent
/// before it has been processed by that server.
async fn sync(c: &Client) {
    let inbox = c.new_inbox();
    let mut s = c.subscribe(inbox.clone()).await.expect("barrier subscribe");
    c.publish(inbox, "barrier".into()).await.expect("barrier");
    let m = next(&mut s).await;
    assert_eq!(m.payload, "barrier");
    s.unsubscribe().await.expect("barrier unsubscribe");
}

/// Waits until the link carries messages both ways between `hub_c` (a
/// client of the hub) and `leaf_c` (a client of the leaf), and until each
/// side knows the interest the other's client registered before this call.
async fn await_link(hub: &Server, leaf: &Server, hub_c: &Client, leaf_c: &Client) {
    for (p, s, dir) in [
        (leaf_c, hub_c, "leaf -> hub"),
        (hub_c, leaf_c, "hub -> leaf"),
    ] {
        assert!(
            reaches(p, s, LINK).await,
            "{}: no {dir} delivery over the leaf link within {LINK:?}\n{}",
            label(hub.imp(), leaf.imp()),
            logs(hub, &[leaf])
        );
    }
}

/// A replier answering `answer` on `subject` from a task, until stopped.
struct Replier {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<usize>,
}

impl Replier {
    /// Subscribes (the server has the subscription when this returns) and
    /// starts answering.
    async fn start(c: &Client, subject: &str, answer: &'static str) -> Replier {
        let mut sub = c
            .subscribe(subject.to_string())
            .await
            .expect("replier subscribe");
        sync(c).await;
        let c = c.clone();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut answered = 0;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    m = sub.next() => {
                        let Some(m) = m else { break };
                        if let Some(reply) = m.reply {
                            answered += 1;
                            c.publish(reply, answer.into()).await.expect("reply");
                            c.flush().await.expect("reply flush");
                        }
                    }
                }
            }
            sub.unsubscribe().await.expect("replier unsubscribe");
            sync(&c).await;
            answered
        });
        Replier { stop, task }
    }

    /// Unsubscribes (the server has processed it when this returns) and
    /// returns how many requests were answered.
    async fn stop(self) -> usize {
        let _ = self.stop.send(());
        self.task.await.expect("replier task")
    }
}

async fn request(c: &Client, subject: &str) -> Message {
    timeout(WAIT, c.request(subject.to_string(), Bytes::new()))
        .await
        .unwrap_or_else(|_| panic!("request on {subject} timed out"))
        .unwrap_or_else(|e| panic!("request on {subject} failed: {e}"))
}

// ---- scenarios ---------------------------------------------------------------

/// The leaf node tutorial of the NATS docs: a hub with token authorization
/// (`s3cr3t`), a leaf whose remote carries the token in its URL, a replier
/// on `q` answering `42`. Then the reverse: the replier on the leaf.
fn tutorial_request_reply(hub_imp: Impl, leaf_imp: Impl) {
    let leaf_port = free_port();
    // The tutorial's hub config, with the port and host filled in.
    let hub = start_hub(
        hub_imp,
        &format!(
            "leafnodes {{\n    {}\n}}\nauthorization {{\n    token: \"s3cr3t\"\n}}\n",
            listen(leaf_port)
        ),
    );
    let leaf = start_leaf(
        leaf_imp,
        &format!("url: \"nats://s3cr3t@127.0.0.1:{leaf_port}\""),
    );
    rt().block_on(async {
        let hub_c = connect_with(ConnectOptions::with_token("s3cr3t".into()), &hub.url()).await;
        let leaf_c = connect(&leaf.url()).await;

        // Replier at the hub, requester on the leaf.
        let at_hub = Replier::start(&hub_c, "q", "42").await;
        await_link(&hub, &leaf, &hub_c, &leaf_c).await;
        for _ in 0..5 {
            let m = request(&leaf_c, "q").await;
            assert_eq!(m.payload, "42", "reply from the hub's replier");
        }
        assert_eq!(
            at_hub.stop().await,
            5,
            "requests the hub's replier answered"
        );

        // Replier on the leaf, requester at the hub.
        let at_leaf = Replier::start(&leaf_c, "q", "42").await;
        await_link(&hub, &leaf, &hub_c, &leaf_c).await;
        for _ in 0..5 {
            let m = request(&hub_c, "q").await;
            assert_eq!(m.payload, "42", "reply from the leaf's replier");
        }
        assert_eq!(
            at_leaf.stop().await,
            5,
            "requests the leaf's replier answered"
        );
    });
}

/// 100 messages each way, exactly once each and in order; a header survives.
fn pub_sub_both_ways(hub_imp: Impl, leaf_imp: Impl) {
    let leaf_port = free_port();
    let hub = start_hub(
        hub_imp,
        &format!("leafnodes {{\n    {}\n}}\n", listen(leaf_port)),
    );
    let leaf = start_leaf(leaf_imp, &format!("url: \"nats://127.0.0.1:{leaf_port}\""));
    rt().block_on(async {
        let hub_c = connect(&hub.url()).await;
        let leaf_c = connect(&leaf.url()).await;
        let mut at_hub = hub_c.subscribe("up.>").await.unwrap();
        let mut at_leaf = leaf_c.subscribe("down.>").await.unwrap();
        await_link(&hub, &leaf, &hub_c, &leaf_c).await;

        for (from, to, sub, dir) in [
            (&leaf_c, &hub_c, &mut at_hub, "up"),
            (&hub_c, &leaf_c, &mut at_leaf, "down"),
        ] {
            for i in 0..100 {
                let subject = format!("{dir}.{i}");
                let payload = Bytes::from(format!("{dir}:{i}"));
                if i == 50 {
                    let mut h = HeaderMap::new();
                    h.insert("X-Leaf-Test", format!("{dir}-hdr").as_str());
                    from.publish_with_headers(subject, h, payload)
                        .await
                        .unwrap();
                } else {
                    from.publish(subject, payload).await.unwrap();
                }
            }
            sync(from).await;
            for i in 0..100 {
                let m = next(sub).await;
                assert_eq!(m.subject.as_str(), format!("{dir}.{i}"), "{dir} order");
                assert_eq!(m.payload, format!("{dir}:{i}"), "{dir} payload");
                if i == 50 {
                    let h = m.headers.as_ref().expect("headers kept over the leaf link");
                    assert_eq!(
                        h.get("X-Leaf-Test").map(|v| v.as_str()),
                        Some(format!("{dir}-hdr").as_str()),
                        "{dir} header"
                    );
                } else if let Some(h) = &m.headers {
                    assert!(h.is_empty(), "{dir} message {i} grew headers: {h:?}");
                }
            }
            sync(to).await;
            assert_no_more(sub, &format!("{dir} (exactly 100)")).await;
        }
    });
}

/// A queue group with one member on each side: each side's publishes go to
/// its own member; with the hub member gone, the hub's go to the leaf.
fn queue_local_preference(hub_imp: Impl, leaf_imp: Impl) {
    let leaf_port = free_port();
    let hub = start_hub(
        hub_imp,
        &format!("leafnodes {{\n    {}\n}}\n", listen(leaf_port)),
    );
    let leaf = start_leaf(leaf_imp, &format!("url: \"nats://127.0.0.1:{leaf_port}\""));
    rt().block_on(async {
        let hub_c = connect(&hub.url()).await;
        let leaf_c = connect(&leaf.url()).await;
        let mut qh = hub_c.queue_subscribe("work", "g".into()).await.unwrap();
        let mut ql = leaf_c.queue_subscribe("work", "g".into()).await.unwrap();
        await_link(&hub, &leaf, &hub_c, &leaf_c).await;

        stays_local("hub", &hub_c, &leaf_c, &mut qh, &mut ql).await;
        stays_local("leaf", &leaf_c, &hub_c, &mut ql, &mut qh).await;

        // The hub member leaves: the hub's publishes go over the link.
        qh.unsubscribe().await.unwrap();
        sync(&hub_c).await;
        for i in 0..20 {
            hub_c
                .publish("work", format!("after:{i}").into())
                .await
                .unwrap();
        }
        sync(&hub_c).await;
        for i in 0..20 {
            let m = next(&mut ql).await;
            assert_eq!(m.payload, format!("after:{i}"), "leaf member, in order");
        }
        sync(&leaf_c).await;
        assert_no_more(&mut ql, "leaf member (exactly 20)").await;
    });
}

/// 50 publishes at `from` all reach `mine` (the member on the same server),
/// in order, and none reaches `other`.
async fn stays_local(
    name: &str,
    from: &Client,
    to: &Client,
    mine: &mut Subscriber,
    other: &mut Subscriber,
) {
    for i in 0..50 {
        from.publish("work", format!("{name}:{i}").into())
            .await
            .unwrap();
    }
    sync(from).await;
    for i in 0..50 {
        let m = next(mine).await;
        assert_eq!(m.payload, format!("{name}:{i}"), "{name} member, in order");
    }
    sync(to).await;
    assert_no_more(mine, &format!("{name} member (exactly 50)")).await;
    assert_no_more(other, &format!("publishes at the {name} stay local")).await;
}

/// The leaf's user is bound to the hub account APP: APP clients at the hub
/// and the leaf's $G exchange messages; the hub's $G sees none of it.
fn account_binding(hub_imp: Impl, leaf_imp: Impl) {
    account_binding_with(
        hub_imp,
        leaf_imp,
        "authorization { user: leafu, password: leafp, account: APP }",
    );
}

/// The same with the leaf authorization's users list: `leafu` is bound to
/// APP, another user to `$G`.
fn account_binding_users_list(hub_imp: Impl, leaf_imp: Impl) {
    account_binding_with(
        hub_imp,
        leaf_imp,
        "authorization { users = [ {user: other, password: o}, {user: leafu, password: leafp, account: APP} ] }",
    );
}

fn account_binding_with(hub_imp: Impl, leaf_imp: Impl, leaf_auth: &str) {
    let leaf_port = free_port();
    let hub = start_hub(
        hub_imp,
        &format!(
            "accounts {{\n    APP {{ users [ {{user: a, password: a}} ] }}\n}}\n\
             authorization {{\n    users [ {{user: g, password: g}} ]\n}}\n\
             leafnodes {{\n    {}\n    {leaf_auth}\n}}\n",
            listen(leaf_port)
        ),
    );
    let leaf = start_leaf(
        leaf_imp,
        &format!("url: \"nats://leafu:leafp@127.0.0.1:{leaf_port}\""),
    );
    rt().block_on(async {
        let app = login("a", "a", &hub.url()).await;
        let global = login("g", "g", &hub.url()).await;
        let leaf_c = connect(&leaf.url()).await;
        let mut app_sub = app.subscribe("acc.up").await.unwrap();
        let mut global_sub = global.subscribe("acc.up").await.unwrap();
        let mut leaf_sub = leaf_c.subscribe("acc.down").await.unwrap();
        sync(&global).await;
        await_link(&hub, &leaf, &app, &leaf_c).await;

        for i in 0..10 {
            leaf_c
                .publish("acc.up", format!("up:{i}").into())
                .await
                .unwrap();
        }
        sync(&leaf_c).await;
        for i in 0..10 {
            assert_eq!(
                next(&mut app_sub).await.payload,
                format!("up:{i}"),
                "APP at the hub"
            );
        }
        app.publish("acc.down", "from APP".into()).await.unwrap();
        global.publish("acc.down", "from $G".into()).await.unwrap();
        sync(&app).await;
        sync(&global).await;
        assert_eq!(
            next(&mut leaf_sub).await.payload,
            "from APP",
            "leaf gets APP's message"
        );
        sync(&leaf_c).await;
        assert_no_more(&mut app_sub, "APP at the hub (exactly 10)").await;
        assert_no_more(
            &mut global_sub,
            "the hub's $G must not see the leaf's messages",
        )
        .await;
        assert_no_more(&mut leaf_sub, "the leaf must not see the hub's $G messages").await;
    });
}

/// `deny_exports` keeps `secret.>` on the leaf, `deny_imports` keeps
/// `private.>` off it; `public.>` flows both ways (`public.up` from the
/// leaf, `public.down` from the hub).
fn deny_exports_and_imports(hub_imp: Impl, leaf_imp: Impl) {
    let leaf_port = free_port();
    let hub = start_hub(
        hub_imp,
        &format!("leafnodes {{\n    {}\n}}\n", listen(leaf_port)),
    );
    let leaf = start_leaf(
        leaf_imp,
        &format!(
            "url: \"nats://127.0.0.1:{leaf_port}\"\n          \
             deny_exports: [\"secret.>\"]\n          deny_imports: [\"private.>\"]"
        ),
    );
    rt().block_on(async {
        let hub_c = connect(&hub.url()).await;
        let leaf_c = connect(&leaf.url()).await;
        let mut hub_secret = hub_c.subscribe("secret.>").await.unwrap();
        let mut hub_public = hub_c.subscribe("public.up").await.unwrap();
        let mut leaf_private = leaf_c.subscribe("private.>").await.unwrap();
        let mut leaf_public = leaf_c.subscribe("public.down").await.unwrap();
        await_link(&hub, &leaf, &hub_c, &leaf_c).await;

        // Up: the denied message is published first, so once the allowed
        // one arrived the denied one would have too.
        leaf_c.publish("secret.x", "secret".into()).await.unwrap();
        leaf_c.publish("public.up", "up".into()).await.unwrap();
        sync(&leaf_c).await;
        assert_eq!(
            next(&mut hub_public).await.payload,
            "up",
            "public.up reaches the hub"
        );
        // Down.
        hub_c.publish("private.x", "private".into()).await.unwrap();
        hub_c.publish("public.down", "down".into()).await.unwrap();
        sync(&hub_c).await;
        assert_eq!(
            next(&mut leaf_public).await.payload,
            "down",
            "public.down reaches the leaf"
        );
        sync(&hub_c).await;
        sync(&leaf_c).await;
        assert_no_more(
            &mut hub_secret,
            "deny_exports: secret.x must not reach the hub",
        )
        .await;
        assert_no_more(
            &mut leaf_private,
            "deny_imports: private.x must not reach the leaf",
        )
        .await;
        assert_no_more(&mut hub_public, "public.up at the hub (exactly once)").await;
        assert_no_more(&mut leaf_public, "public.down at the leaf (exactly once)").await;
    });
}

/// A leaf with the wrong password never carries a message either way, while
/// a leaf with the right one (same hub, same implementation) does.
fn wrong_password_is_refused(hub_imp: Impl, leaf_imp: Impl) {
    let leaf_port = free_port();
    let hub = start_hub(
        hub_imp,
        &format!(
            "leafnodes {{\n    {}\n    authorization {{ user: leafu, password: leafp }}\n}}\n",
            listen(leaf_port)
        ),
    );
    let bad = start_leaf(
        leaf_imp,
        &format!("url: \"nats://leafu:wrong@127.0.0.1:{leaf_port}\""),
    );
    let good = start_leaf(
        leaf_imp,
        &format!("url: \"nats://leafu:leafp@127.0.0.1:{leaf_port}\""),
    );
    rt().block_on(async {
        let hub_c = connect(&hub.url()).await;
        let bad_c = connect(&bad.url()).await;
        let good_c = connect(&good.url()).await;
        let mut at_hub = hub_c.subscribe("wp.up.>").await.unwrap();
        let mut at_bad = bad_c.subscribe("wp.down").await.unwrap();
        let mut at_good = good_c.subscribe("wp.down").await.unwrap();
        sync(&bad_c).await;
        // The good leaf proves the hub serves leafs at all.
        await_link(&hub, &good, &hub_c, &good_c).await;

        // The bad leaf dialed when the good one did, and retries every second.
        if hub_imp == Impl::NatsServer {
            hub.wait_for_log("authentication error - User \"leafu\"", LINK);
        }
        if leaf_imp == Impl::NatsServer {
            // What the hub sent back (`-ERR 'Authorization Violation'`), as
            // the nats-server leaf reports it.
            bad.wait_for_log("Leafnode Error 'Authorization Violation'", LINK);
        }

        // Over about 1.5 s (more than one retry of the bad leaf), nothing
        // from the bad leaf reaches the hub.
        for i in 0..6 {
            bad_c
                .publish("wp.up.bad", format!("bad:{i}").into())
                .await
                .unwrap();
            sync(&bad_c).await;
            sleep(Duration::from_millis(250)).await;
        }
        good_c.publish("wp.up.good", "good".into()).await.unwrap();
        sync(&good_c).await;
        let m = next(&mut at_hub).await;
        assert_eq!(
            (m.subject.as_str(), &m.payload[..]),
            ("wp.up.good", &b"good"[..]),
            "only the good leaf's message reaches the hub\n{}",
            logs(&hub, &[&bad, &good])
        );
        assert_no_more(&mut at_hub, "nothing from the bad leaf").await;

        hub_c.publish("wp.down", "down".into()).await.unwrap();
        sync(&hub_c).await;
        assert_eq!(
            next(&mut at_good).await.payload,
            "down",
            "the good leaf gets the hub's message"
        );
        sync(&bad_c).await;
        assert_no_more(&mut at_bad, "the bad leaf must get nothing from the hub").await;
        assert_no_more(&mut at_good, "the good leaf (exactly once)").await;
    });
}

/// The hub logs where it listens for leafnodes (`127.0.0.1`, since the
/// block sets `host`), and that a leaf connection was created.
fn hub_log_lines(hub_imp: Impl, leaf_imp: Impl) {
    let leaf_port = free_port();
    let hub = start_hub(
        hub_imp,
        &format!("leafnodes {{\n    {}\n}}\n", listen(leaf_port)),
    );
    let want = format!("Listening for leafnode connections on 127.0.0.1:{leaf_port}");
    let log = hub.wait_for_log(&want, WAIT);
    assert!(
        log.lines()
            .any(|l| l.trim_end().ends_with(&want) && l.contains("[INF] ")),
        "{hub_imp}: no [INF] line ending with {want:?}:\n{log}"
    );
    let leaf = start_leaf(leaf_imp, &format!("url: \"nats://127.0.0.1:{leaf_port}\""));
    rt().block_on(async {
        let hub_c = connect(&hub.url()).await;
        let leaf_c = connect(&leaf.url()).await;
        await_link(&hub, &leaf, &hub_c, &leaf_c).await;
    });
    // `127.0.0.1:<leaf's port> - lid:N - Leafnode connection created `
    let log = hub.wait_for_log(" - Leafnode connection created", WAIT);
    assert!(
        log.lines().any(|l| l.contains("[INF] 127.0.0.1:")
            && l.contains(" - lid:")
            && l.trim_end().ends_with(" - Leafnode connection created")),
        "{hub_imp}: no `[INF] 127.0.0.1:P - lid:N - Leafnode connection created` line:\n{log}"
    );
}

/// The leaf logs the link it created, with its local account.
fn leaf_log_lines(hub_imp: Impl, leaf_imp: Impl) {
    let leaf_port = free_port();
    let hub = start_hub(
        hub_imp,
        &format!("leafnodes {{\n    {}\n}}\n", listen(leaf_port)),
    );
    let leaf = start_leaf(leaf_imp, &format!("url: \"nats://127.0.0.1:{leaf_port}\""));
    rt().block_on(async {
        let hub_c = connect(&hub.url()).await;
        let leaf_c = connect(&leaf.url()).await;
        await_link(&hub, &leaf, &hub_c, &leaf_c).await;
    });
    // `127.0.0.1:<hub leaf port> - lid:N - Leafnode connection created for account: $G `
    let want = format!("127.0.0.1:{leaf_port} - lid:");
    let log = leaf.wait_for_log("Leafnode connection created for account: $G", WAIT);
    assert!(
        log.lines().any(|l| l.contains("[INF] ")
            && l.contains(&want)
            && l.trim_end()
                .ends_with("Leafnode connection created for account: $G")),
        "{leaf_imp}: no `[INF] {want}N - Leafnode connection created for account: $G` line:\n{log}"
    );
}

/// A remote with `nkey: <seed>` authenticates to a hub whose users list
/// names the public key (the seed is made here, from no public source):
/// the leaf signs the hub's nonce. A remote with another key is refused.
fn nkey_remote(hub_imp: Impl, leaf_imp: Impl) {
    let leaf_port = free_port();
    let mut secret = [0u8; 32];
    for (i, b) in secret.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(leaf_port as u8);
    }
    let seed = canopy_core::auth::encode_user_seed(&secret);
    let public = canopy_core::auth::public_of_seed(&seed).expect("a user seed");
    let other = canopy_core::auth::encode_user_seed(&[9u8; 32]);
    let hub = start_hub(
        hub_imp,
        &format!(
            "leafnodes {{\n    {}\n}}\nauthorization {{\n    users = [ {{ nkey: {public} }}, {{ user: app, password: app }} ]\n}}\n",
            listen(leaf_port)
        ),
    );
    let leaf = start_leaf(
        leaf_imp,
        &format!("url: \"nats://127.0.0.1:{leaf_port}\"\n          nkey: \"{seed}\""),
    );
    let stranger = start_leaf(
        leaf_imp,
        &format!("url: \"nats://127.0.0.1:{leaf_port}\"\n          nkey: \"{other}\""),
    );
    rt().block_on(async {
        let hub_c = login("app", "app", &hub.url()).await;
        let leaf_c = connect(&leaf.url()).await;
        let stranger_c = connect(&stranger.url()).await;
        // Subscribed before the link wait, so the leaf knows it after.
        let mut sub = hub_c.subscribe("from.leaf").await.unwrap();
        await_link(&hub, &leaf, &hub_c, &leaf_c).await;
        assert!(
            !reaches(&stranger_c, &hub_c, Duration::from_millis(1500)).await,
            "{}: a leaf with an unknown key linked:\n{}",
            label(hub_imp, leaf_imp),
            logs(&hub, &[&stranger])
        );
        leaf_c.publish("from.leaf", "signed".into()).await.unwrap();
        leaf_c.flush().await.unwrap();
        assert_eq!(next(&mut sub).await.payload, "signed");
        assert_no_more(&mut sub, "from.leaf").await;
    });
}

/// A remote with a `.creds` file (a user JWT of an operator-mode account,
/// minted in the test) authenticates to a hub in operator mode: the leaf
/// sends the JWT and signs the hub's nonce with the file's seed, and is
/// bound to the JWT's account.
fn creds_remote_to_an_operator_hub(hub_imp: Impl, leaf_imp: Impl) {
    use canopy_tests::operator::{Operator, Resolver};
    let leaf_port = free_port();
    let mut op = Operator::new(u64::from(leaf_port));
    let acc = op.account("acc");
    let leaf_creds = op.user(&acc, "leaf", |_, _| {}).creds_path;
    let hub_creds = op.user(&acc, "hubc", |_, _| {}).creds_path;
    let hub = start_hub(
        hub_imp,
        &format!(
            "{}leafnodes {{\n    {}\n}}\n",
            op.config_text(&Resolver::Memory),
            listen(leaf_port)
        ),
    );
    let leaf = start_leaf(
        leaf_imp,
        &format!(
            "url: \"nats://127.0.0.1:{leaf_port}\"\n          credentials: \"{}\"",
            leaf_creds.display()
        ),
    );
    rt().block_on(async {
        let opts = ConnectOptions::with_credentials_file(hub_creds.clone())
            .await
            .expect("hub creds");
        let hub_c = connect_with(opts, &hub.url()).await;
        let leaf_c = connect(&leaf.url()).await;
        // Subscribed before the link wait, so the leaf knows it after.
        let mut sub = hub_c.subscribe("from.leaf").await.unwrap();
        await_link(&hub, &leaf, &hub_c, &leaf_c).await;
        leaf_c.publish("from.leaf", "jwt".into()).await.unwrap();
        leaf_c.flush().await.unwrap();
        assert_eq!(next(&mut sub).await.payload, "jwt");
        assert_no_more(&mut sub, "from.leaf").await;
    });
}

/// Declares each named `fn(hub: Impl, leaf: Impl)` scenario once per pair.
macro_rules! per_pair {
    ($($name:ident),* $(,)?) => {
        /// The reference: nats-server on both sides.
        mod hub_nats_server_leaf_nats_server {
            $(#[test] fn $name() { super::$name(canopy_tests::Impl::NatsServer, canopy_tests::Impl::NatsServer); })*
        }
        /// A canopy hub (tokio) with a nats-server leaf.
        mod hub_canopy_leaf_nats_server {
            $(#[test] fn $name() { super::$name(canopy_tests::Impl::Canopy, canopy_tests::Impl::NatsServer); })*
        }
        /// A nats-server hub with a canopy leaf (tokio).
        mod hub_nats_server_leaf_canopy {
            $(#[test] fn $name() { super::$name(canopy_tests::Impl::NatsServer, canopy_tests::Impl::Canopy); })*
        }
        /// Canopy (tokio) on both sides.
        mod hub_canopy_leaf_canopy {
            $(#[test] fn $name() { super::$name(canopy_tests::Impl::Canopy, canopy_tests::Impl::Canopy); })*
        }
        /// Canopy on smol on both sides.
        mod hub_canopy_smol_leaf_canopy_smol {
            $(#[test] fn $name() { super::$name(canopy_tests::Impl::CanopySmol, canopy_tests::Impl::CanopySmol); })*
        }
    };
}

per_pair! {
    tutorial_request_reply,
    pub_sub_both_ways,
    queue_local_preference,
    account_binding,
    deny_exports_and_imports,
    wrong_password_is_refused,
    hub_log_lines,
    leaf_log_lines,
    nkey_remote,
    account_binding_users_list,
    creds_remote_to_an_operator_hub,
}
