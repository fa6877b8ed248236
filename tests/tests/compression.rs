//! S2 compression on routes and leaf nodes, over real sockets, written
//! test-first: nats-server 2.15.1 defines what is right, and the same
//! scenarios run against canopy once its engine compresses (until then
//! the canopy variants fail).
//!
//! Every scenario runs once per implementation pair, in a module named
//! after it: `all_nats_server` is the reference, `a_canopy_b_nats_server`
//! and `a_nats_server_b_canopy` mix, `all_canopy` and `all_canopy_smol`
//! are canopy alone on each runtime. For routes `a` is the seed and `b`
//! dials it; for leafs `a` is the hub and `b` the leaf. Checks of one
//! server at a time run on `a` and on `b`.
//!
//! Each link carries, both ways, small messages, a 200 KiB compressible
//! one and queue-group request/reply (each exactly once; `common/relay.rs`
//! `exchange`); then each side's `/routez` or `/leafz` `compression` must
//! be what nats-server 2.15.1 reports for the same configs. Over loopback
//! (RTT well under 10 ms) 2.15.1 reported:
//!
//! Routes (`cluster { compression }`; the default is `accept`, so two
//! default servers do not compress):
//!
//! | a (seed)  | b (dialer) | a's /routez       | b's /routez |
//! |-----------|------------|-------------------|-------------|
//! | default   | default    | `off`             | `off`       |
//! | default   | `s2_fast`  | `s2_fast`         | `s2_fast`   |
//! | `s2_best` | `accept`   | `s2_best`         | `s2_best`   |
//! | `s2_auto` | default    | `s2_uncompressed` | `s2_fast`   |
//! | `off`     | `s2_fast`  | `off`             | `off`       |
//!
//! Leafs (`leafnodes { compression }` on the hub, the remote's
//! `compression` on the leaf; the default is `s2_auto` on both):
//!
//! | hub         | leaf        | hub's /leafz      | leaf's /leafz     |
//! |-------------|-------------|-------------------|-------------------|
//! | default     | default     | `s2_uncompressed` | `s2_uncompressed` |
//! | `accept`    | `accept`    | `off`             | `off`             |
//! | `off`       | `s2_fast`   | `off`             | `off`             |
//! | `s2_best`   | `off`       | `off`             | `off`             |
//! | `accept`    | `s2_best`   | `s2_best`         | `s2_best`         |
//! | `s2_better` | `accept`    | `s2_better`       | `s2_better`       |
//! | `accept`    | default     | `s2_fast`         | `s2_uncompressed` |
//! | default     | `accept`    | `s2_uncompressed` | `s2_fast`         |
//! | `s2_auto`   | `s2_best`   | `s2_uncompressed` | `s2_best`         |
//! | `s2_best`   | `s2_auto`   | `s2_best`         | `s2_uncompressed` |
//! | `s2_fast`   | `s2_better` | `s2_fast`         | `s2_better`       |
//!
//! An `s2_auto` side picks its level from the RTT (≤ 10 ms: uncompressed)
//! and an `accept` side facing `s2_auto` uses `s2_fast`; every other side
//! writes with its own configured level, or `off` when either side is
//! `off` or both `accept`.
//!
//! `s2_uncompressed` is a level `s2_auto` can choose, not a mode one can
//! configure: 2.15.1 refuses `compression: s2_uncompressed` (and
//! `uncompressed`) at start-up with `unsupported compression mode
//! "s2_uncompressed"`.
//!
//! On the wire (through `common/relay.rs`): a compressing route dialer
//! sends `CONNECT` and `INFO` in clear, the seed its `INFO`, and then
//! both sides' bytes are an S2 framed stream (`ff 06 00 00 S2sTwO`, the
//! identifier repeated at each flush); two servers that do not compress
//! never send that identifier. A default leaf sends, after the hub's
//! clear INFO (`"compression":"s2_auto"`), a near-empty clear INFO of its
//! own (`"compression":"s2_auto"`, its `client_id`), and then its CONNECT
//! inside the S2 stream; the hub's next bytes are S2 too (doc check 4).
//! The relay adds latency, so the level is read from `/routez` and
//! `/leafz`, not the relay.

mod common;
#[path = "common/relay.rs"]
mod relay;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use canopy_tests::{free_port, Impl, Server, ServerBuilder};
use common::{connect, rt};
use relay::{each, logs, monitor, Dir, Relay};
use serde_json::Value;

/// How long a link may take to form (a nats-server leaf or route dials
/// at once and retries about every second).
const LINK: Duration = Duration::from_secs(10);
/// How long a monitoring field may take to show the negotiated mode.
const SETTLE: Duration = Duration::from_secs(3);

// ---- servers -----------------------------------------------------------------

/// A server with `config` and a monitoring port; (server, monitoring port).
fn start(imp: Impl, config: &str) -> (Server, u16) {
    let http = free_port();
    let srv = ServerBuilder::new(imp)
        .config(config)
        .args(["-m".to_string(), http.to_string()])
        .start();
    (srv, http)
}

/// `compression: MODE` or nothing (the default).
fn mode_line(mode: Option<&str>) -> String {
    mode.map_or_else(String::new, |m| format!("compression: {m}"))
}

/// The `compression` of every connection in `/routez` (`key` "routes") or
/// `/leafz` ("leafs").
fn modes(http: u16, path: &str, key: &str) -> Vec<String> {
    monitor(http, path)[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["compression"].as_str().unwrap_or("<none>").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a link's mode `got` is `want`. `s2_uncompressed` is what
/// `s2_auto` picks for a round trip up to 10 ms; on a loaded machine the
/// handshake can take longer and the same configuration picks `s2_fast`
/// (up to 50 ms), so that counts too (never `off` or another level).
fn mode_is(got: &str, want: &str) -> bool {
    got == want || (want == "s2_uncompressed" && got == "s2_fast")
}

/// Waits until every connection `path` lists (at least one) shows
/// `want`, then asserts it.
fn assert_modes(what: &str, http: u16, path: &str, key: &str, want: &str) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let got = modes(http, path, key);
        if !got.is_empty() && got.iter().all(|m| mode_is(m, want)) {
            return;
        }
        if Instant::now() >= deadline {
            panic!("{what}: {path} compression {got:?}, expected every one {want:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads the first line a server sends on a fresh connection to `port`
/// (which may start listening a moment after the client port).
fn first_line(port: u16) -> String {
    let deadline = Instant::now() + SETTLE;
    let s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) if Instant::now() >= deadline => panic!("connect to {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("first line");
    line
}

/// The JSON of an `INFO {…}` line.
fn info_json(line: &str) -> Value {
    let json = line
        .strip_prefix("INFO ")
        .unwrap_or_else(|| panic!("not an INFO line: {line:?}"));
    serde_json::from_str(json.trim_end()).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

// ---- routes ------------------------------------------------------------------

/// A two-node cluster, `a` the seed with `mode_a`, `b` dialing it (through
/// `relay` when given) with `mode_b`; traffic both ways, then each side's
/// `/routez` compression.
fn route_case(
    a: Impl,
    b: Impl,
    (mode_a, mode_b): (Option<&str>, Option<&str>),
    (want_a, want_b): (&str, &str),
    relay: bool,
) -> Option<Relay> {
    let (ra, rb) = (free_port(), free_port());
    let node = |imp: Impl, name: &str, port: u16, routes: &str, mode: Option<&str>| {
        start(
            imp,
            &format!(
                "server_name: {name}\ncluster {{\n  name: s2c\n  host: 127.0.0.1\n  port: {port}\n  \
                 {routes}\n  {}\n}}\n",
                mode_line(mode)
            ),
        )
    };
    let (sa, ha) = node(a, "A", ra, "", mode_a);
    let relay = relay.then(|| Relay::start(ra));
    let dial = relay.as_ref().map_or(ra, Relay::port);
    let (sb, hb) = node(
        b,
        "B",
        rb,
        &format!("routes: [\"nats-route://127.0.0.1:{dial}\"]"),
        mode_b,
    );
    let label = format!("route: seed {a} {mode_a:?}, dialer {b} {mode_b:?}");
    let show = || logs(&[("A", &sa), ("B", &sb)]);
    rt().block_on(async {
        let (ca, cb) = (connect(&sa.url()).await, connect(&sb.url()).await);
        relay::exchange(&label, &ca, &cb, LINK, &show).await;
    });
    assert_modes(&format!("{label}: A"), ha, "/routez", "routes", want_a);
    assert_modes(&format!("{label}: B"), hb, "/routez", "routes", want_b);
    relay
}

/// Both default: 2.15.1's route default is `accept`, and accept/accept
/// does not compress: `off` on both sides.
fn route_default_default(a: Impl, b: Impl) {
    route_case(a, b, (None, None), ("off", "off"), false);
}

/// A default (`accept`) seed follows an `s2_fast` dialer: both `s2_fast`.
/// Through the relay: the dialer's `CONNECT` and `INFO` and the seed's
/// `INFO` are in clear, everything after them is S2 on every route
/// connection (nats-server pools four).
fn route_default_s2_fast(a: Impl, b: Impl) {
    let relay =
        route_case(a, b, (None, Some("s2_fast")), ("s2_fast", "s2_fast"), true).expect("relay");
    let conns = relay.conn_count();
    assert!(conns >= 1, "no route went through the relay");
    for conn in 0..conns {
        for (dir, lines, what) in [
            (Dir::Up, 2, "dialer -> seed, after CONNECT and INFO"),
            (Dir::Down, 1, "seed -> dialer, after INFO"),
        ] {
            let ok = relay.wait_for(conn, dir, SETTLE, |b| {
                relay::after_lines(b, lines).is_some_and(relay::is_s2_stream)
            });
            let b = relay.bytes(conn, dir);
            assert!(
                ok,
                "route connection {conn}, {what}: not an S2 stream ({:?}); the clear lines: {:?}",
                relay::after_lines(&b, lines).map(relay::s2_chunks),
                relay.lines(conn, dir, lines)
            );
        }
        let up = relay.lines(conn, Dir::Up, 2);
        assert!(
            up[0].starts_with("CONNECT ") && up[1].starts_with("INFO "),
            "route connection {conn}: the dialer's clear lines {up:?}"
        );
        assert_eq!(
            info_json(&up[1])["compression"],
            "s2_fast",
            "the dialer's INFO"
        );
    }
}

/// `s2_best` seed, `accept` dialer: the dialer follows, both `s2_best`.
fn route_s2_best_accept(a: Impl, b: Impl) {
    route_case(
        a,
        b,
        (Some("s2_best"), Some("accept")),
        ("s2_best", "s2_best"),
        false,
    );
}

/// `s2_auto` seed, default (`accept`) dialer: the seed picks
/// `s2_uncompressed` by RTT, the dialer `s2_fast` (what `accept` answers
/// to `s2_auto`).
fn route_s2_auto_default(a: Impl, b: Impl) {
    route_case(
        a,
        b,
        (Some("s2_auto"), None),
        ("s2_uncompressed", "s2_fast"),
        false,
    );
}

/// `off` seed, `s2_fast` dialer: no compression, and (through the relay)
/// no S2 identifier in either direction on any connection.
fn route_off_s2_fast(a: Impl, b: Impl) {
    let relay =
        route_case(a, b, (Some("off"), Some("s2_fast")), ("off", "off"), true).expect("relay");
    for conn in 0..relay.conn_count() {
        for dir in [Dir::Up, Dir::Down] {
            let b = relay.bytes(conn, dir);
            assert!(
                !b.windows(relay::S2_MAGIC.len())
                    .any(|w| w == relay::S2_MAGIC),
                "route connection {conn} {dir:?}: S2 on an `off` route"
            );
        }
    }
}

/// Starts `imp` once per `(mode, want)`, with `block(port, mode line)` as
/// its config, and asserts the first line on `port` is an INFO whose
/// `compression` is `want`.
fn assert_first_info(
    imp: Impl,
    what: &str,
    block: impl Fn(u16, &str) -> String,
    cases: &[(Option<&str>, &str)],
) {
    for &(mode, want) in cases {
        let port = free_port();
        let _s = start(imp, &block(port, &mode_line(mode)));
        let info = info_json(&first_line(port));
        assert_eq!(
            info["compression"], want,
            "{imp}: {what} INFO with compression {mode:?}: {info}"
        );
    }
}

/// The INFO a seed sends first on its route port names its configured
/// mode: `accept` by default.
fn route_info_compression(a: Impl, b: Impl) {
    for imp in each(a, b) {
        assert_first_info(
            imp,
            "route",
            |port, mode| {
                format!(
                    "cluster {{\n  name: s2c\n  host: 127.0.0.1\n  port: {port}\n  {mode}\n}}\n"
                )
            },
            &[
                (None, "accept"),
                (Some("s2_fast"), "s2_fast"),
                (Some("off"), "off"),
            ],
        );
    }
}

// ---- leaf nodes --------------------------------------------------------------

/// Hub `a` with `hub_mode`, leaf `b` with `leaf_mode` dialing it (through
/// `relay` when given); traffic both ways, then each side's `/leafz`
/// compression (`want`: None when only `s2_*` is asserted, with the
/// relay's latency).
fn leaf_case(
    a: Impl,
    b: Impl,
    (hub_mode, leaf_mode): (Option<&str>, Option<&str>),
    want: Option<(&str, &str)>,
    relay: bool,
) -> Option<Relay> {
    let port = free_port();
    let (h, hh) = start(
        a,
        &format!(
            "server_name: HUB\nleafnodes {{\n  host: 127.0.0.1\n  port: {port}\n  {}\n}}\n",
            mode_line(hub_mode)
        ),
    );
    let relay = relay.then(|| Relay::start(port));
    let dial = relay.as_ref().map_or(port, Relay::port);
    let (l, lh) = start(
        b,
        &format!(
            "server_name: LEAF\nleafnodes {{\n  remotes = [\n    {{\n      url: \"nats://127.0.0.1:{dial}\"\n      \
             {}\n    }}\n  ]\n}}\n",
            mode_line(leaf_mode)
        ),
    );
    let label = format!("leaf: hub {a} {hub_mode:?}, leaf {b} {leaf_mode:?}");
    let show = || logs(&[("hub", &h), ("leaf", &l)]);
    rt().block_on(async {
        let (hc, lc) = (connect(&h.url()).await, connect(&l.url()).await);
        relay::exchange(&label, &hc, &lc, LINK, &show).await;
    });
    match want {
        Some((want_h, want_l)) => {
            assert_modes(&format!("{label}: hub"), hh, "/leafz", "leafs", want_h);
            assert_modes(&format!("{label}: leaf"), lh, "/leafz", "leafs", want_l);
        }
        None => {
            for (who, http) in [("hub", hh), ("leaf", lh)] {
                let got = modes(http, "/leafz", "leafs");
                assert!(
                    got.len() == 1 && got[0].starts_with("s2_"),
                    "{label}: {who} /leafz compression {got:?}, expected one s2_ level"
                );
            }
        }
    }
    relay
}

/// Declares leaf scenarios: name, hub mode, leaf mode, the hub's and the
/// leaf's `/leafz` compression.
macro_rules! leaf_modes {
    ($($name:ident: $hub:expr, $leaf:expr => $want_h:literal, $want_l:literal;)*) => {
        $(
            #[doc = concat!("Hub `", stringify!($hub), "`, leaf `", stringify!($leaf),
                "`: `", $want_h, "` on the hub, `", $want_l, "` on the leaf.")]
            fn $name(a: Impl, b: Impl) {
                leaf_case(a, b, ($hub, $leaf), Some(($want_h, $want_l)), false);
            }
        )*
    };
}

leaf_modes! {
    leaf_default_default: None, None => "s2_uncompressed", "s2_uncompressed";
    leaf_accept_accept: Some("accept"), Some("accept") => "off", "off";
    leaf_off_s2_fast: Some("off"), Some("s2_fast") => "off", "off";
    leaf_s2_best_off: Some("s2_best"), Some("off") => "off", "off";
    leaf_accept_s2_best: Some("accept"), Some("s2_best") => "s2_best", "s2_best";
    leaf_s2_better_accept: Some("s2_better"), Some("accept") => "s2_better", "s2_better";
    leaf_accept_default: Some("accept"), None => "s2_fast", "s2_uncompressed";
    leaf_default_accept: None, Some("accept") => "s2_uncompressed", "s2_fast";
    leaf_s2_auto_s2_best: Some("s2_auto"), Some("s2_best") => "s2_uncompressed", "s2_best";
    leaf_s2_best_s2_auto: Some("s2_best"), Some("s2_auto") => "s2_best", "s2_uncompressed";
    leaf_s2_fast_s2_better: Some("s2_fast"), Some("s2_better") => "s2_fast", "s2_better";
}

/// Doc check 4, both at default, through the relay: the hub's first INFO
/// is clear and says `s2_auto`; the leaf answers with a clear INFO of
/// its own saying `s2_auto` (no clear CONNECT); after those one line
/// each, both directions are an S2 stream.
fn leaf_default_on_the_wire(a: Impl, b: Impl) {
    let relay = leaf_case(a, b, (None, None), None, true).expect("relay");
    assert_eq!(relay.conn_count(), 1, "leaf connections through the relay");
    for (dir, what) in [(Dir::Down, "hub -> leaf"), (Dir::Up, "leaf -> hub")] {
        let ok = relay.wait_for(0, dir, SETTLE, |b| {
            relay::after_lines(b, 1).is_some_and(relay::is_s2_stream)
        });
        let b = relay.bytes(0, dir);
        assert!(
            ok,
            "{what}: after the first line, not an S2 stream ({:?}); first line {:?}",
            relay::after_lines(&b, 1).map(relay::s2_chunks),
            relay.lines(0, dir, 1)
        );
        let line = &relay.lines(0, dir, 1)[0];
        let info = info_json(line);
        assert_eq!(info["compression"], "s2_auto", "{what}: {line}");
        assert!(
            info["client_id"].as_u64().is_some_and(|id| id > 0),
            "{what}: client_id in {line}"
        );
    }
}

/// Doc check 1: a hub's first INFO on its leafnodes port says
/// `"compression":"s2_auto"` by default and the configured mode
/// otherwise.
fn leaf_hub_info_compression(a: Impl, b: Impl) {
    for imp in each(a, b) {
        assert_first_info(
            imp,
            "leafnodes",
            |port, mode| format!("leafnodes {{\n  host: 127.0.0.1\n  port: {port}\n  {mode}\n}}\n"),
            &[
                (None, "s2_auto"),
                (Some("s2_auto"), "s2_auto"),
                (Some("accept"), "accept"),
                (Some("off"), "off"),
                (Some("s2_fast"), "s2_fast"),
                (Some("s2_best"), "s2_best"),
            ],
        );
    }
}

/// `s2_uncompressed` (or `uncompressed`) is not a mode one can configure:
/// the server refuses to start, on a leaf listener, a remote and a
/// cluster alike, naming the value.
fn s2_uncompressed_is_refused(a: Impl, b: Impl) {
    for imp in each(a, b) {
        for (value, config) in [
            (
                "s2_uncompressed",
                "leafnodes {\n  port: -1\n  compression: s2_uncompressed\n}\n".to_string(),
            ),
            (
                "uncompressed",
                format!(
                    "leafnodes {{\n  remotes = [ {{ url: \"nats://127.0.0.1:{}\", compression: uncompressed }} ]\n}}\n",
                    free_port()
                ),
            ),
            (
                "s2_uncompressed",
                "cluster {\n  name: s2c\n  port: -1\n  compression: s2_uncompressed\n}\n".to_string(),
            ),
        ] {
            let dir = canopy_tests::TempDir::new("s2conf");
            let conf = dir.path().join("server.conf");
            std::fs::write(&conf, &config).expect("write config");
            let mut cmd = imp.command();
            cmd.arg("-c")
                .arg(&conf)
                .args(["-a", "127.0.0.1", "-p", "-1"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("spawn");
            let deadline = Instant::now() + Duration::from_secs(5);
            let status = loop {
                if let Some(s) = child.try_wait().expect("wait") {
                    break Some(s);
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let out = child.wait_with_output().expect("output");
            let text = String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout);
            assert!(
                status.is_some_and(|s| !s.success()),
                "{imp}: started with compression {value}:\n{config}\n{text}"
            );
            let msg = format!("unsupported compression mode \"{value}\"");
            assert!(text.contains(&msg), "{imp}: no {msg:?} in {text:?}");
        }
    }
}

canopy_tests::per_pair! {
    route_default_default,
    route_default_s2_fast,
    route_s2_best_accept,
    route_s2_auto_default,
    route_off_s2_fast,
    route_info_compression,
    leaf_default_default,
    leaf_accept_accept,
    leaf_off_s2_fast,
    leaf_s2_best_off,
    leaf_accept_s2_best,
    leaf_s2_better_accept,
    leaf_accept_default,
    leaf_default_accept,
    leaf_s2_auto_s2_best,
    leaf_s2_best_s2_auto,
    leaf_s2_fast_s2_better,
    leaf_default_on_the_wire,
    leaf_hub_info_compression,
    s2_uncompressed_is_refused,
}
