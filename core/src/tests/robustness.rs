//! Split invariance and panic freedom at the engine level: the same session
//! fed whole, at every split point, and one byte at a time gives the same
//! bytes out.

use super::harness::Harness;
use super::route_peer::{cluster, clustered, peer_info, route_connect};
use crate::Options;
use proptest::prelude::*;

/// Sessions covering every op, payload sizes, headers and error endings.
fn corpus() -> Vec<Vec<u8>> {
    let big = "y".repeat(5000);
    let mut sessions: Vec<String> = vec![
        "CONNECT {\"verbose\":true,\"headers\":true}\r\nSUB a 1\r\nPUB a 3\r\nabc\r\nPING\r\n".into(),
        "SUB x 1\r\nPUB x 1\r\nz\r\nPING\r\n".into(),
        "sub low 5\r\npub low 1\r\nx\r\nping\r\npong\r\n".into(),
        "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB h 1\r\nHPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nHPUB h rep 12 12\r\nNATS/1.0\r\n\r\n\r\n".into(),
        "CONNECT {\"verbose\":false}\r\nSUB q g 1\r\nSUB q g 2\r\nPUB q 1\r\nx\r\nPUB q 1\r\ny\r\nUNSUB 1\r\nPUB q 1\r\nz\r\n".into(),
        "SUB a.* 1\r\nSUB a.> 2\r\nSUB > 3\r\nPUB a.b.c 0\r\n\r\nPUB a.b 2\r\nhi\r\n".into(),
        "SUB foo..bar 2\r\nSUB foo.>.bar 3\r\nSUB * 4\r\nPUB foo.* 1\r\nw\r\n".into(),
        "CONNECT {\"protocol\":1,\"verbose\":false}\r\nPING\r\nPING\r\nINFO {}\r\n+OK\r\n".into(),
        "PINGxyz\r\nPING\nSUB\t tab  6\r\nPUB  \ttab   2\r\nhi\r\n".into(),
        format!("SUB big 1\r\nPUB big 5000\r\n{big}\r\nPUB big reply 5000\r\n{big}\r\n"),
        "SUB a 1\r\nUNSUB 1 2\r\nPUB a 1\r\n1\r\nPUB a 1\r\n2\r\nPUB a 1\r\n3\r\n".into(),
        "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB in.1 9\r\nPUB nobody in.1 2\r\nhi\r\n".into(),
        "SUB foo 1\r\nPUB foo 2\r\nabc\r\n".into(),
        "PUB foo 2000000\r\n".into(),
        "FOO bar\r\n".into(),
        "PUB foo\r\n".into(),
        "CONNECT {\"protocol\":2}\r\n".into(),
        "CONNECT {bad json\r\nPING\r\n".into(),
        "HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n".into(),
        format!("PUB {} 1\r\n", "c".repeat(5000)),
        "SUB dup 30\r\nSUB other 30\r\nPUB other 1\r\na\r\nPUB dup 1\r\nb\r\n".into(),
        "CONNECT {\"echo\":false,\"verbose\":false}\r\nSUB e 1\r\nPUB e 1\r\nx\r\nPING\r\n".into(),
        "MSG foo 1 1\r\nx\r\n".into(),
        "\r\n".into(),
        "-ERR 'boom'\r\n".into(),
    ];
    sessions.push("PUB a 1\r\nxy\r\nPING\r\n".into());
    sessions.into_iter().map(String::into_bytes).collect()
}

/// Feeds `session` in the given chunks and returns (output, closed).
fn run(session: &[u8], cuts: &[usize]) -> (String, bool) {
    let mut h = Harness::default_server();
    let c = h.client();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&session.len())) {
        if cut > start {
            h.send_bytes(c, &session[start..cut]);
            start = cut;
        }
    }
    (h.take(c), h.is_closed(c))
}

#[test]
fn every_split_point_gives_the_same_output() {
    for session in corpus() {
        let whole = run(&session, &[]);
        for cut in 1..session.len() {
            assert_eq!(
                run(&session, &[cut]),
                whole,
                "split at {cut} of {:?}",
                String::from_utf8_lossy(&session)
            );
        }
        let bytewise: Vec<usize> = (1..session.len()).collect();
        assert_eq!(run(&session, &bytewise), whole, "byte at a time");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400), cut in 0usize..400) {
        let cut = cut.min(data.len());
        let whole = run(&data, &[]);
        prop_assert_eq!(run(&data, &[cut]), whole);
    }

    #[test]
    fn random_op_soup_is_split_invariant(
        ops in proptest::collection::vec(prop_oneof![
            Just("SUB a 1\r\n"), Just("SUB a.* 2\r\n"), Just("SUB > q 3\r\n"), Just("UNSUB 1\r\n"),
            Just("UNSUB 2 1\r\n"), Just("PUB a 1\r\nx\r\n"), Just("PUB a.b r 0\r\n\r\n"),
            Just("HPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), Just("PING\r\n"), Just("PONG\r\n"),
            Just("CONNECT {\"verbose\":false,\"headers\":true}\r\n"), Just("CONNECT {}\r\n"),
            Just("pub a 1\r\n"), Just("x\r\n"), Just(" "), Just("\r\n"),
        ], 0..30),
        cuts in proptest::collection::vec(0usize..600, 0..6),
    ) {
        let session: Vec<u8> = ops.concat().into_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(session.len())).collect();
        cuts.sort_unstable();
        prop_assert_eq!(run(&session, &cuts), run(&session, &[]));
    }
}

/// A clustered server with one client subscribed on `a.>` and in queue `q`.
fn route_harness() -> (Harness, crate::ConnId) {
    let mut h = Harness::new(clustered(cluster()));
    let client = h.connected("{\"verbose\":false,\"headers\":true}");
    h.send(client, "SUB a.> 1\r\nSUB a.b q 2\r\n");
    h.take(client);
    (h, client)
}

/// Feeds a route connection `session` in chunks; returns what the route
/// and the client received, and whether the route was closed.
fn run_route(session: &[u8], cuts: &[usize]) -> (String, String, bool) {
    let (mut h, client) = route_harness();
    let r = h.accept_route();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&session.len())) {
        if cut > start {
            h.send_bytes(r, &session[start..cut]);
            start = cut;
        }
    }
    (h.take(r), h.take(client), h.is_closed(r))
}

/// A peer's CONNECT and INFO: what every route session starts with.
fn route_hello() -> String {
    route_connect("NPEER", "testc") + &peer_info("NPEER", 6223, "127.0.0.1:4223")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_route_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400), cut in 0usize..600) {
        let mut session = route_hello().into_bytes();
        session.extend_from_slice(&data);
        let cut = cut.min(session.len());
        prop_assert_eq!(run_route(&session, &[cut]), run_route(&session, &[]));
    }

    #[test]
    fn random_route_op_soup_is_split_invariant(
        ops in proptest::collection::vec(prop_oneof![
            Just("RS+ $G a.b\r\n"), Just("RS+ $G a.* q 3\r\n"), Just("RS- $G a.b\r\n"),
            Just("RS- $G a.* q\r\n"), Just("RS+ NOPE x\r\n"), Just("RMSG $G a.b 1\r\nx\r\n"),
            Just("RMSG $G a.b + r q 1\r\nx\r\n"), Just("RMSG $G a.b | q z 0\r\n\r\n"),
            Just("HMSG $G a.c r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), Just("RMSG NOPE a 1\r\nx\r\n"),
            Just("PING\r\n"), Just("PONG\r\n"), Just("INFO {\"server_id\":\"NOTHER\",\"ip\":\"nats-route://127.0.0.1:7000/\"}\r\n"),
            Just("RMSG $G\r\n"), Just(" "), Just("\r\n"), Just("-ERR 'x'\r\n"),
        ], 0..30),
        cuts in proptest::collection::vec(0usize..900, 0..6),
    ) {
        let session: Vec<u8> = (route_hello() + &ops.concat()).into_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(session.len())).collect();
        cuts.sort_unstable();
        prop_assert_eq!(run_route(&session, &cuts), run_route(&session, &[]));
    }
}

/// A hub with one client subscribed on `a.>` and in queue `q`, and one
/// other registered leaf link (so that interest and messages relay).
fn leaf_hub() -> (Harness, crate::ConnId, crate::ConnId) {
    let mut h = Harness::new(Options {
        leaf: Some(crate::LeafOptions {
            host: "127.0.0.1".into(),
            port: 7422,
            ..crate::LeafOptions::default()
        }),
        ..Options::default()
    });
    let client = h.connected("{\"verbose\":false,\"headers\":true}");
    h.send(client, "SUB a.> 1\r\nSUB a.b q 2\r\n");
    h.take(client);
    let other = h.accept_leaf();
    h.send(other, &format!("{}\r\nLS+ a.*\r\n", leaf_connect("OTHER")));
    h.take(other);
    (h, client, other)
}

fn leaf_connect(name: &str) -> String {
    format!(
        "CONNECT {{\"version\":\"2.15.1\",\"server_id\":\"N{name}\",\"name\":\"{name}\",\"cluster\":\"{name}\",\"headers\":true,\"remote_account\":\"$G\",\"protocol\":3}}"
    )
}

/// Feeds a leaf link `session` in chunks; returns what the link, the
/// client and the other link received, and whether the link closed.
fn run_leaf(session: &[u8], cuts: &[usize]) -> (String, String, String, bool) {
    let (mut h, client, other) = leaf_hub();
    let l = h.accept_leaf();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&session.len())) {
        if cut > start {
            h.send_bytes(l, &session[start..cut]);
            start = cut;
        }
    }
    let out = h.take(l);
    (out, h.take(client), h.take(other), h.is_closed(l))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_leaf_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400), cut in 0usize..600) {
        let mut session = format!("{}\r\n", leaf_connect("LEAF")).into_bytes();
        session.extend_from_slice(&data);
        let cut = cut.min(session.len());
        prop_assert_eq!(run_leaf(&session, &[cut]), run_leaf(&session, &[]));
    }

    #[test]
    fn random_leaf_op_soup_is_split_invariant(
        ops in proptest::collection::vec(prop_oneof![
            Just("LS+ a.b\r\n"), Just("LS+ a.* q 3\r\n"), Just("LS- a.b\r\n"),
            Just("LS- a.* q\r\n"), Just("LS+ a b\r\n"), Just("LMSG a.b 1\r\nx\r\n"),
            Just("LMSG a.b + r q 1\r\nx\r\n"), Just("LMSG a.b | q z 0\r\n\r\n"),
            Just("HMSG a.c r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), Just("LMSG a.x r 1\r\nx\r\n"),
            Just("PING\r\n"), Just("PONG\r\n"), Just("INFO {\"server_id\":\"X\"}\r\n"),
            Just("LMSG\r\n"), Just(" "), Just("\r\n"), Just("-ERR 'x'\r\n"),
            Just("RMSG $G a 1\r\nx\r\n"), Just("SUB a 1\r\n"),
        ], 0..30),
        cuts in proptest::collection::vec(0usize..900, 0..6),
    ) {
        let session: Vec<u8> = (format!("{}\r\n", leaf_connect("LEAF")) + &ops.concat()).into_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(session.len())).collect();
        cuts.sort_unstable();
        prop_assert_eq!(run_leaf(&session, &cuts), run_leaf(&session, &[]));
    }
}

/// A spoke that dialed its hub: random bytes from the "hub", before and
/// after a valid handshake, never panic and are split invariant.
fn run_spoke(session: &[u8], cuts: &[usize]) -> (String, bool) {
    let mut h = Harness::new(Options {
        server_name: "SPOKE".into(),
        leaf: Some(crate::LeafOptions {
            remotes: vec![crate::RemoteLeafOptions {
                urls: vec![crate::route::RouteAddr::parse("nats://127.0.0.1:7422").expect("url")],
                ..crate::RemoteLeafOptions::default()
            }],
            ..crate::LeafOptions::default()
        }),
        ..Options::default()
    });
    h.advance(std::time::Duration::ZERO);
    let (l, _) = h.dials[0].clone();
    h.dialed(l);
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&session.len())) {
        if cut > start {
            h.send_bytes(l, &session[start..cut]);
            start = cut;
        }
    }
    (h.take(l), h.is_closed(l))
}

const SPOKE_HELLO: &str = "INFO {\"server_id\":\"NHUB\",\"client_id\":5,\"nonce\":\"n\",\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:7422\"]} \r\nINFO {\"server_id\":\"NHUB\",\"connect_info\":true,\"remote_account\":\"$G\"} \r\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_hub_bytes_never_panic_a_spoke(data in proptest::collection::vec(any::<u8>(), 0..400), cut in 0usize..600, hello in any::<bool>()) {
        let mut session = if hello { SPOKE_HELLO.as_bytes().to_vec() } else { Vec::new() };
        session.extend_from_slice(&data);
        let cut = cut.min(session.len());
        prop_assert_eq!(run_spoke(&session, &[cut]), run_spoke(&session, &[]));
    }
}

/// A gateway `A` with one client subscribed on `a.>` and in queue `q`;
/// `session` goes to an inbound link (`inbound`) or, after the solicit
/// delay, to the outbound one it dialed. Returns what the link and the
/// client received, and whether the link closed.
fn run_gateway(session: &[u8], cuts: &[usize], inbound: bool) -> (String, String, bool) {
    let mut h = Harness::new(Options {
        server_name: "A1".into(),
        gateway: Some(crate::GatewayOptions {
            name: "A".into(),
            host: "127.0.0.1".into(),
            port: 7222,
            gateways: vec![crate::RemoteGatewayOptions {
                tls: None,
                name: "B".into(),
                urls: vec![crate::route::RouteAddr::parse("127.0.0.1:7223").expect("url")],
            }],
            ..crate::GatewayOptions::default()
        }),
        ..Options::default()
    });
    let client = h.connected("{\"verbose\":false,\"headers\":true}");
    h.send(client, "SUB a.> 1\r\nSUB a.b q 2\r\n");
    h.take(client);
    let g = if inbound {
        h.accept_gateway()
    } else {
        h.advance(std::time::Duration::from_secs(1));
        let (g, _) = h.dials[0].clone();
        h.dialed(g);
        g
    };
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&session.len())) {
        if cut > start {
            h.send_bytes(g, &session[start..cut]);
            start = cut;
        }
    }
    // The client publishes too, so outbound interest is exercised.
    h.send(client, "PUB a.b r 1\r\nx\r\nPUB a.c 1\r\ny\r\n");
    (h.take(g), h.take(client), h.is_closed(g))
}

/// What a peer of cluster `B` says first: CONNECT and INFO on an inbound
/// link, INFO on an outbound one.
fn gateway_hello(inbound: bool) -> String {
    let info = "INFO {\"server_id\":\"NB\",\"gateway\":\"B\",\"gateway_urls\":[\"127.0.0.1:7223\"],\"headers\":true,\"gateway_nrp\":true,\"gateway_iom\":true}\r\n";
    if inbound {
        format!("CONNECT {{\"name\":\"NB\",\"gateway\":\"B\"}}\r\n{info}")
    } else {
        info.to_string()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_gateway_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..400),
        cut in 0usize..600,
        inbound in any::<bool>(),
        hello in any::<bool>(),
    ) {
        let mut session = if hello { gateway_hello(inbound).into_bytes() } else { Vec::new() };
        session.extend_from_slice(&data);
        let cut = cut.min(session.len());
        prop_assert_eq!(run_gateway(&session, &[cut], inbound), run_gateway(&session, &[], inbound));
    }

    #[test]
    fn random_gateway_op_soup_is_split_invariant(
        ops in proptest::collection::vec(prop_oneof![
            Just("RS+ $G a.b\r\n"), Just("RS+ $G a.* q 1\r\n"), Just("RS- $G a.b\r\n"),
            Just("RS- $G a.* q\r\n"), Just("RS+ NOACC x\r\n"), Just("A- $G\r\n"), Just("A+ $G\r\n"),
            Just("A- NOACC\r\n"), Just("RMSG $G a.b 1\r\nx\r\n"), Just("RMSG NOACC a.b 1\r\nx\r\n"),
            Just("RMSG $G a.b + r q 1\r\nx\r\n"), Just("RMSG $G a.b | q z 0\r\n\r\n"),
            Just("HMSG $G a.c r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"),
            Just("RMSG $G _GR_.NUmM6c.abcdef.a.b 1\r\nx\r\n"), Just("RMSG $G _GR_.zzzzzz.abcdef.a.b 1\r\nx\r\n"),
            Just("RMSG $G _GR_.x 1\r\nx\r\n"), Just("RMSG $G a.b _GR_.zzzzzz.abcdef.r 1\r\nx\r\n"),
            Just("INFO {\"gateway\":\"B\",\"gateway_cmd\":2,\"gateway_cmd_payload\":\"JEc=\"}\r\n"),
            Just("INFO {\"gateway\":\"B\",\"gateway_cmd\":3,\"gateway_cmd_payload\":\"JEc=\"}\r\n"),
            Just("INFO {\"gateway\":\"B\",\"gateway_cmd\":2}\r\n"),
            Just("INFO {\"gateway\":\"C\",\"gateway_urls\":[\"127.0.0.1:7224\"],\"gateway_cmd\":1}\r\n"),
            Just("INFO {\"gateway\":\"B\",\"gateway_cmd\":9}\r\n"),
            Just("PING\r\n"), Just("PONG\r\n"), Just("RMSG\r\n"), Just(" "), Just("\r\n"),
            Just("-ERR 'x'\r\n"), Just("LS+ a\r\n"), Just("SUB a 1\r\n"),
        ], 0..30),
        cuts in proptest::collection::vec(0usize..900, 0..6),
        inbound in any::<bool>(),
    ) {
        let session: Vec<u8> = (gateway_hello(inbound) + &ops.concat()).into_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(session.len())).collect();
        cuts.sort_unstable();
        prop_assert_eq!(run_gateway(&session, &cuts, inbound), run_gateway(&session, &[], inbound));
    }
}
