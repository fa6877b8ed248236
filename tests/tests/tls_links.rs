//! TLS on the links between servers, over real sockets: routes in a mixed
//! cluster, leaf nodes (hub and leaf each nats-server 2.15.1 or canopy)
//! and gateways between two clusters. Clients are plain async-nats
//! clients; only the links use TLS. Certificates come from
//! `common/tls.rs` (the server certificate is good for both ends of a
//! link; an unrelated CA makes the untrusted cases).
//!
//! Every scenario runs once per implementation pair, in a module named
//! after it: `all_nats_server` is the reference, `a_canopy_b_nats_server`
//! and `a_nats_server_b_canopy` mix (for leafs `a` is the hub and `b` the
//! leaf; for routes `a` is the seed and `b` dials it), `all_canopy` and
//! `all_canopy_smol` are canopy alone on each runtime.
//!
//! A link is up when a probe published on one side reaches a subscriber on
//! the other, in both directions; the subscriptions a test counts on are
//! made before that wait. A link that must not form is checked the same
//! way, after the nats-server side (when there is one) has logged the
//! failed attempt, so the check is not vacuous: over [`NEVER_AFTER_LOG`]
//! then, over [`NEVER`] from the start when both sides are canopy. What
//! nats-server 2.15.1 logs in the mismatch cases, and these tests look
//! for:
//!
//! * hub-only `handshake_first`: the hub waits for a ClientHello, the
//!   leaf waits for an INFO and gives up after a second; the hub logs
//!   `[ERR] … TLS leafnode handshake error: EOF` and `Leafnode connection
//!   closed: TLS Handshake Failure`, the leaf `Leafnode connection closed:
//!   Read Error`;
//! * leaf-only `handshake_first`: the leaf's ClientHello meets the hub's
//!   plain INFO; the leaf logs (at debug level) `TLS leafnode handshake
//!   error: tls: first record does not look like a TLS handshake`;
//! * a leaf trusting another CA: the leaf logs `[ERR] … TLS leafnode
//!   handshake error: tls: failed to verify certificate: x509: certificate
//!   signed by unknown authority (CN=localhost,O=Canopy …)`, the hub
//!   `TLS leafnode handshake error: remote error: tls: bad certificate`;
//! * a route dialer trusting another CA: it logs `[ERR] … TLS route
//!   handshake error: tls: failed to verify certificate: x509: certificate
//!   signed by unknown authority (CN=localhost,O=Canopy …)`, the seed `TLS
//!   route handshake error: remote error: tls: bad certificate`;
//! * a hub with `verify: true` and a leaf certificate from another CA: a
//!   nats-server leaf does not send it at all (Go's client only presents
//!   a certificate issued by one of the CAs the server's
//!   CertificateRequest names), so the hub logs `TLS leafnode handshake
//!   error: tls: client didn't provide a certificate`.

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::time::Duration;

use async_nats::Client;
use canopy_tests::{free_port, Impl, Server, ServerBuilder};
use common::{connect, reaches, rt, sync, WAIT};
use tls::{assert_no_more, next, Certs};
use tokio::time::timeout;

/// How long a link may take to form (nats-server dials leafs at once,
/// routes at once, gateways after a second, and retries every second or
/// so).
const LINK: Duration = Duration::from_secs(10);
/// How long a link that must never form is watched for when no log line
/// showed the failed attempt (canopy on both sides).
const NEVER: Duration = Duration::from_secs(2);
/// How long it is watched for once a nats-server side logged the failed
/// attempt (a retry is due within about a second).
const NEVER_AFTER_LOG: Duration = Duration::from_secs(1);
/// Messages each way.
const N: usize = 10;

// ---- servers -----------------------------------------------------------------

fn start(imp: Impl, config: &str, args: &[&str]) -> Server {
    ServerBuilder::new(imp)
        .config(config)
        .args(args.iter().copied())
        .start()
}

/// `-D` for nats-server, whose handshake errors on the dialing side of a
/// leaf are debug lines; nothing for canopy.
fn debug_if_nats_server(imp: Impl) -> &'static [&'static str] {
    if imp == Impl::NatsServer {
        &["-D"]
    } else {
        &[]
    }
}

/// The last lines of each server's log, named, without message traces.
fn logs(servers: &[(&str, &Server)]) -> String {
    let mut s = String::new();
    for (name, srv) in servers {
        let log = srv.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| !l.contains("PING") && !l.contains("PONG"))
            .collect();
        s.push_str(&format!(
            "--- {name} ({}) log:\n{}\n",
            srv.imp(),
            lines[lines.len().saturating_sub(30)..].join("\n")
        ));
    }
    s
}

// ---- clients -----------------------------------------------------------------

/// A payload spanning several TLS records.
fn big() -> bytes::Bytes {
    tls::big("", 100_000)
}

/// Answers `n` requests on `subject` from a task; the subscription is in
/// place at the server when this returns.
async fn answer(c: &Client, subject: &str, n: usize) -> tokio::task::JoinHandle<()> {
    let mut sub = c.subscribe(subject.to_string()).await.expect("svc");
    sync(c).await;
    let c = c.clone();
    let who = subject.to_string();
    tokio::spawn(async move {
        for _ in 0..n {
            let m = next(&mut sub).await;
            let mut a = format!("{who}:").into_bytes();
            a.extend_from_slice(&m.payload);
            c.publish(m.reply.expect("reply subject"), a.into())
                .await
                .expect("answer");
        }
        c.flush().await.expect("answer flush");
    })
}

/// Across the link between `x`'s server and `y`'s, both ways: [`N`]
/// messages and a large one each way, each received exactly once, and
/// request/reply each way (a large request included).
async fn exchange(label: &str, x: &Client, y: &Client, logs: &dyn Fn() -> String) {
    let mut at_x = x.subscribe("to.x").await.expect("subscribe");
    let mut at_y = y.subscribe("to.y").await.expect("subscribe");
    let sx = answer(x, "svc.x", 2).await;
    let sy = answer(y, "svc.y", 2).await;
    for (p, s, dir) in [(x, y, "x -> y"), (y, x, "y -> x")] {
        assert!(
            reaches(p, s, LINK).await,
            "{label}: no {dir} delivery within {LINK:?}\n{}",
            logs()
        );
    }
    for (p, subject) in [(x, "to.y"), (y, "to.x")] {
        for i in 0..N {
            p.publish(subject, format!("{i}").into())
                .await
                .expect("publish");
        }
        p.publish(subject, big()).await.expect("publish big");
        p.flush().await.expect("flush");
    }
    for (sub, dir) in [(&mut at_y, "x -> y"), (&mut at_x, "y -> x")] {
        for i in 0..N {
            let m = next(sub).await;
            assert_eq!(m.payload, format!("{i}"), "{label}: {dir}, message {i}");
        }
        assert_eq!(
            next(sub).await.payload,
            big(),
            "{label}: {dir}, large message"
        );
    }
    for (c, svc, dir) in [(x, "svc.y", "x -> y"), (y, "svc.x", "y -> x")] {
        let r = timeout(WAIT, c.request(svc, "q".into()))
            .await
            .unwrap_or_else(|_| panic!("{label}: {dir} request timed out\n{}", logs()))
            .unwrap_or_else(|e| panic!("{label}: {dir} request failed: {e}\n{}", logs()));
        assert_eq!(r.payload, format!("{svc}:q"), "{label}: {dir}");
        let r = timeout(WAIT, c.request(svc, big()))
            .await
            .expect("large request timed out")
            .expect("large request failed");
        assert_eq!(
            r.payload.len(),
            svc.len() + 1 + big().len(),
            "{label}: {dir}"
        );
    }
    sx.await.expect("x answers");
    sy.await.expect("y answers");
    futures::join!(
        assert_no_more(&mut at_x, label),
        assert_no_more(&mut at_y, label)
    );
}

/// Asserts no message crosses between `x`'s server and `y`'s within
/// [`NEVER_AFTER_LOG`] when the failed attempt was `seen` in a log, else
/// [`NEVER`], either way.
async fn assert_no_link(
    label: &str,
    x: &Client,
    y: &Client,
    seen: bool,
    logs: &dyn Fn() -> String,
) {
    let within = if seen { NEVER_AFTER_LOG } else { NEVER };
    let (xy, yx) = futures::join!(reaches(x, y, within), reaches(y, x, within));
    assert!(
        !xy && !yx,
        "{label}: a link formed (x -> y {xy}, y -> x {yx})\n{}",
        logs()
    );
}

// ---- routes ------------------------------------------------------------------

/// A two-node cluster whose routes use TLS with `verify: true` both ways:
/// `a` is the seed, `b` dials it. Messages and requests cross both ways.
fn route_tls(a: Impl, b: Impl) {
    let certs = Certs::new();
    let (ra, rb) = (free_port(), free_port());
    let tls = certs.server_tls(&format!(
        "{}\n    verify: true\n    timeout: 2",
        certs.ca_conf()
    ));
    let node = |imp: Impl, name: &str, port: u16, routes: &str| {
        start(
            imp,
            &format!(
                "server_name: {name}\ncluster {{\n  name: tlsc\n  host: 127.0.0.1\n  port: {port}\n  \
                 {routes}\n  {tls}\n}}\n"
            ),
            &[],
        )
    };
    let sa = node(a, "A", ra, "");
    let sb = node(
        b,
        "B",
        rb,
        &format!("routes: [\"nats-route://127.0.0.1:{ra}\"]"),
    );
    let label = format!("route: seed {a}, dialer {b}");
    rt().block_on(async {
        let (ca, cb) = (connect(&sa.url()).await, connect(&sb.url()).await);
        exchange(&label, &ca, &cb, &|| logs(&[("A", &sa), ("B", &sb)])).await;
    });
}

/// A route dialer trusting another CA never joins the cluster.
fn route_untrusted(a: Impl, b: Impl) {
    let certs = Certs::new();
    let (ra, rb) = (free_port(), free_port());
    let cluster = |name: &str, port: u16, routes: &str, tls: &str| {
        format!(
            "server_name: {name}\ncluster {{\n  name: tlsc\n  host: 127.0.0.1\n  port: {port}\n  \
             {routes}\n  {tls}\n}}\n"
        )
    };
    let sa = start(
        a,
        &cluster("A", ra, "", &certs.server_tls(&certs.ca_conf())),
        &[],
    );
    let sb = start(
        b,
        &cluster(
            "B",
            rb,
            &format!("routes: [\"nats-route://127.0.0.1:{ra}\"]"),
            &certs.server_tls(&certs.other_ca_conf()),
        ),
        &[],
    );
    if b == Impl::NatsServer {
        sb.wait_for_log(
            "TLS route handshake error: tls: failed to verify certificate: x509: \
             certificate signed by unknown authority",
            LINK,
        );
    }
    if a == Impl::NatsServer {
        sa.wait_for_log("TLS route handshake error", LINK);
    }
    let label = format!("untrusted route: seed {a}, dialer {b}");
    rt().block_on(async {
        let (ca, cb) = (connect(&sa.url()).await, connect(&sb.url()).await);
        let seen = a == Impl::NatsServer || b == Impl::NatsServer;
        assert_no_link(&label, &ca, &cb, seen, &|| logs(&[("A", &sa), ("B", &sb)])).await;
    });
}

// ---- leaf nodes --------------------------------------------------------------

/// A hub whose `leafnodes` listener has the server certificate and
/// `tls_extra`.
fn hub(imp: Impl, certs: &Certs, tls_extra: &str, args: &[&str]) -> (Server, u16) {
    let port = free_port();
    let srv = start(
        imp,
        &format!(
            "leafnodes {{\n  host: 127.0.0.1\n  port: {port}\n  {}\n}}\n",
            certs.server_tls(tls_extra)
        ),
        args,
    );
    (srv, port)
}

/// A leaf with one remote, `url` and the remote's `tls { tls }` body.
fn leaf(imp: Impl, url: &str, tls: &str, args: &[&str]) -> Server {
    start(
        imp,
        &format!(
            "leafnodes {{\n  remotes = [\n    {{\n      url: \"{url}\"\n      tls {{\n        {tls}\n      }}\n    }}\n  ]\n}}\n"
        ),
        args,
    )
}

fn leaf_exchange(h: &Server, l: &Server, what: &str) {
    let label = format!("{what}: hub {}, leaf {}", h.imp(), l.imp());
    rt().block_on(async {
        let (hc, lc) = (connect(&h.url()).await, connect(&l.url()).await);
        exchange(&label, &hc, &lc, &|| logs(&[("hub", h), ("leaf", l)])).await;
    });
}

fn leaf_no_link(h: &Server, l: &Server, what: &str, seen: bool) {
    let label = format!("{what}: hub {}, leaf {}", h.imp(), l.imp());
    rt().block_on(async {
        let (hc, lc) = (connect(&h.url()).await, connect(&l.url()).await);
        assert_no_link(&label, &hc, &lc, seen, &|| logs(&[("hub", h), ("leaf", l)])).await;
    });
}

/// The hub requires client certificates from the CA (`verify: true`); the
/// remote dials a `tls://` URL, trusts the CA and presents the server
/// certificate.
fn leaf_tls_url_verify(a: Impl, b: Impl) {
    let certs = Certs::new();
    let (h, port) = hub(
        a,
        &certs,
        &format!("{}\n    verify: true", certs.ca_conf()),
        &[],
    );
    let l = leaf(
        b,
        &format!("tls://127.0.0.1:{port}"),
        &format!("{}\n        {}", certs.server.conf(), certs.ca_conf()),
        &[],
    );
    leaf_exchange(&h, &l, "tls:// remote, verify");
}

/// The remote's URL is `nats://`, with a `tls { ca_file }` block: the hub
/// requires TLS (its INFO says so) and the leaf upgrades.
fn leaf_nats_url_upgrades(a: Impl, b: Impl) {
    let certs = Certs::new();
    let (h, port) = hub(a, &certs, "", &[]);
    let l = leaf(
        b,
        &format!("nats://127.0.0.1:{port}"),
        &certs.ca_conf(),
        &[],
    );
    leaf_exchange(&h, &l, "nats:// remote upgraded");
}

/// Check 39 and users-voice 14: a `nats://` remote with no `tls` block
/// still upgrades when the hub's INFO requires TLS, and checks the hub's
/// certificate against the system roots, which do not hold the test CA:
/// no link, and never a plaintext CONNECT.
fn leaf_no_block_upgrades_and_checks(a: Impl, b: Impl) {
    let certs = Certs::new();
    let (h, port) = hub(a, &certs, "", &[]);
    let l = start(
        b,
        &format!("leafnodes {{\n  remotes = [ {{ url: \"nats://127.0.0.1:{port}\" }} ]\n}}\n"),
        &[],
    );
    if a == Impl::NatsServer {
        // The leaf's ClientHello reached the hub, which logs the alert.
        h.wait_for_log("TLS leafnode handshake error", LINK);
    }
    // Each leaf names the failed check: the handshake happened.
    let why = if b == Impl::NatsServer {
        "certificate signed by unknown authority"
    } else {
        "TLS leafnode handshake error: invalid peer certificate: UnknownIssuer"
    };
    l.wait_for_log(why, LINK);
    leaf_no_link(
        &h,
        &l,
        "nats:// remote without a tls block, untrusted hub",
        true,
    );
}

/// `handshake_first: true` on both ends: TLS before the INFO, and the link
/// works.
fn leaf_handshake_first_both(a: Impl, b: Impl) {
    let certs = Certs::new();
    let (h, port) = hub(a, &certs, "handshake_first: true", &[]);
    let l = leaf(
        b,
        &format!("tls://127.0.0.1:{port}"),
        &format!("{}\n        handshake_first: true", certs.ca_conf()),
        &[],
    );
    leaf_exchange(&h, &l, "handshake_first both");
}

/// Users-voice 13: a hub with `handshake_first` and a fallback duration
/// takes both kinds of leaf: one that starts TLS at once, and one that
/// waits for the INFO (which the hub sends when the fallback expires).
fn leaf_hub_first_with_fallback(a: Impl, b: Impl) {
    let certs = Certs::new();
    let (h, port) = hub(a, &certs, "handshake_first: \"300ms\"", &[]);
    let url = format!("tls://127.0.0.1:{port}");
    let waits = leaf(b, &url, &certs.ca_conf(), &[]);
    leaf_exchange(
        &h,
        &waits,
        "a leaf waiting for the INFO, after the fallback",
    );
    let first = leaf(
        b,
        &url,
        &format!("{}\n        handshake_first: true", certs.ca_conf()),
        &[],
    );
    leaf_exchange(&h, &first, "a TLS-first leaf, before the fallback");
}

/// A leaf link that must not form: the hub's `tls {}` extra lines, the
/// remote's `tls {}` body, and what each side logs when it is nats-server
/// (the leaf runs with `-D`, since a dialing nats-server logs some
/// handshake errors at debug level).
struct Mismatch<'a> {
    what: &'a str,
    hub_tls: String,
    remote_tls: String,
    hub_log: &'a str,
    leaf_log: &'a str,
}

fn leaf_mismatch(a: Impl, b: Impl, certs: &Certs, m: &Mismatch<'_>) {
    let (h, port) = hub(a, certs, &m.hub_tls, &[]);
    let l = leaf(
        b,
        &format!("tls://127.0.0.1:{port}"),
        &m.remote_tls,
        debug_if_nats_server(b),
    );
    let mut seen = false;
    if a == Impl::NatsServer && !m.hub_log.is_empty() {
        h.wait_for_log(m.hub_log, LINK);
        seen = true;
    }
    if b == Impl::NatsServer && !m.leaf_log.is_empty() {
        l.wait_for_log(m.leaf_log, LINK);
        seen = true;
    }
    leaf_no_link(&h, &l, m.what, seen);
}

/// `handshake_first` on the hub only: the hub waits for a ClientHello
/// while the leaf waits for the INFO; no link.
fn leaf_hub_only_handshake_first(a: Impl, b: Impl) {
    let certs = Certs::new();
    let m = Mismatch {
        what: "hub-only handshake_first",
        hub_tls: "handshake_first: true".into(),
        remote_tls: certs.ca_conf(),
        hub_log: "TLS leafnode handshake error",
        leaf_log: "",
    };
    leaf_mismatch(a, b, &certs, &m);
}

/// `handshake_first` on the leaf only: its ClientHello meets the hub's
/// plain INFO; no link.
fn leaf_leaf_only_handshake_first(a: Impl, b: Impl) {
    let certs = Certs::new();
    let m = Mismatch {
        what: "leaf-only handshake_first",
        hub_tls: String::new(),
        remote_tls: format!("{}\n        handshake_first: true", certs.ca_conf()),
        hub_log: "",
        leaf_log:
            "TLS leafnode handshake error: tls: first record does not look like a TLS handshake",
    };
    leaf_mismatch(a, b, &certs, &m);
}

/// The remote trusts another CA: it refuses the hub's certificate; no link.
fn leaf_untrusted_hub(a: Impl, b: Impl) {
    let certs = Certs::new();
    let m = Mismatch {
        what: "leaf trusting another CA",
        hub_tls: String::new(),
        remote_tls: certs.other_ca_conf(),
        hub_log: "TLS leafnode handshake error",
        leaf_log: "TLS leafnode handshake error: tls: failed to verify certificate: x509: \
                   certificate signed by unknown authority",
    };
    leaf_mismatch(a, b, &certs, &m);
}

/// The hub verifies client certificates; the remote presents one from
/// another CA: the hub refuses it; no link. A nats-server leaf keeps a
/// certificate that the hub's list of acceptable CAs does not name to
/// itself (`client didn't provide a certificate`); a leaf that sends it
/// anyway gets `certificate signed by unknown authority
/// (CN=alice,O=Canopy …)`.
fn leaf_untrusted_leaf(a: Impl, b: Impl) {
    let certs = Certs::new();
    let m = Mismatch {
        what: "leaf certificate from another CA",
        hub_tls: format!("{}\n    verify: true", certs.ca_conf()),
        remote_tls: format!("{}\n        {}", certs.rogue_client.conf(), certs.ca_conf()),
        hub_log: if b == Impl::NatsServer {
            "TLS leafnode handshake error: tls: client didn't provide a certificate"
        } else {
            "TLS leafnode handshake error"
        },
        leaf_log: "",
    };
    leaf_mismatch(a, b, &certs, &m);
}

// ---- gateways ----------------------------------------------------------------

/// Cluster A (one server running `a`) and cluster B (one running `b`),
/// gatewayed over TLS with `verify: true` (each side dials the other, so
/// both directions of the handshake run); messages and requests cross
/// both ways.
fn gateway_tls(a: Impl, b: Impl) {
    let certs = Certs::new();
    let (ga, gb) = (free_port(), free_port());
    let tls = certs.server_tls(&format!("{}\n    verify: true", certs.ca_conf()));
    let conf = |name: &str, port: u16| {
        format!(
            "server_name: {name}\ngateway {{\n  name: {name}\n  host: 127.0.0.1\n  port: {port}\n  \
             {tls}\n  gateways: [\n    {{name: A, url: \"nats://127.0.0.1:{ga}\"}},\n    \
             {{name: B, url: \"nats://127.0.0.1:{gb}\"}},\n  ]\n}}\n"
        )
    };
    let sa = start(a, &conf("A", ga), &[]);
    let sb = start(b, &conf("B", gb), &[]);
    let label = format!("gateway: A {a}, B {b}");
    rt().block_on(async {
        let (ca, cb) = (connect(&sa.url()).await, connect(&sb.url()).await);
        exchange(&label, &ca, &cb, &|| logs(&[("A", &sa), ("B", &sb)])).await;
    });
}

canopy_tests::per_pair! {
    route_tls,
    route_untrusted,
    leaf_tls_url_verify,
    leaf_nats_url_upgrades,
    leaf_no_block_upgrades_and_checks,
    leaf_handshake_first_both,
    leaf_hub_first_with_fallback,
    leaf_hub_only_handshake_first,
    leaf_leaf_only_handshake_first,
    leaf_untrusted_hub,
    leaf_untrusted_leaf,
    gateway_tls,
}
