//! S2 compression on route and leaf links through the engine: who sends
//! which INFO, the switch at the exact byte, the modes each side ends
//! with, no PING during the exchange, `s2_auto` on PONG, and bad S2
//! input. The peer is the S2 layer itself (a `Transport` of its own),
//! so what the engine writes is checked by decoding it as a peer would.

use super::harness::{info_json, Harness};

/// The JSON of an INFO line, with or without nats-server's trailing space.
fn json(line: &str) -> serde_json::Value {
    let start = line.find('{').expect("INFO has JSON");
    let end = line.rfind('}').expect("INFO has JSON");
    serde_json::from_str(&line[start..=end]).expect("INFO JSON parses")
}
use super::layer_peer::Peer;
use super::leaf::{get_text, hub_options, remote, spoke_options};
use super::route_peer::{cluster, clustered};
use crate::compression::{Compression, Mode};
use crate::outbound::Outbound;
use crate::transport::{Layer, S2Layer, S2Level, Transport};
use crate::{CloseReason, ClusterOptions, ConnId, RemoteLeafOptions};
use bytes::Bytes;
use std::time::Duration;

/// One end of an S2 stream, as a peer runs it.
fn s2_peer(level: S2Level) -> Peer {
    Peer::new(Layer::S2(S2Layer::new(level, 1 << 20)))
}

/// The S2 stream identifier every flush starts with.
const STREAM_ID: &[u8] = b"\xff\x06\x00\x00S2sTwO";

fn compression(mode: Mode) -> Compression {
    Compression::new(mode)
}

// ---- leaf links --------------------------------------------------------------

/// A hub (default `s2_auto`) and a leaf link that sent its compression
/// INFO naming `mode`; returns the link and the hub's answer (raw).
fn hub_link_after_info(h: &mut Harness, mode: &str) -> (ConnId, Vec<u8>) {
    let l = h.accept_leaf();
    let first = h.take(l);
    assert_eq!(info_json(&first)["compression"], "s2_auto", "{first}");
    h.send(
        l,
        &format!("INFO {{\"client_id\":7,\"compression\":\"{mode}\"}}\r\n"),
    );
    (l, h.take_bytes(l))
}

#[test]
fn c4_a_hub_answers_a_leafs_compression_info_in_s2() {
    let mut h = Harness::new(hub_options());
    let (l, answer) = hub_link_after_info(&mut h, "s2_fast");
    assert!(answer.starts_with(STREAM_ID), "{answer:?}");
    let mut peer = s2_peer(S2Level::Fast);
    let info = peer.decode(&answer);
    let j = json(&info);
    // Configured auto: the INFO says `s2_auto`, with the nonce again.
    assert_eq!(j["compression"], "s2_auto", "{info}");
    assert_eq!(j["nonce"].as_str().map(str::len), Some(15), "{info}");
    // The CONNECT comes compressed; the connect-info INFO and the
    // interest go back compressed.
    let connect = peer.encode(
        "CONNECT {\"version\":\"2.15.1\",\"server_id\":\"NLEAF\",\"name\":\"LEAF\",\"cluster\":\"LEAF\",\"headers\":true,\"compress_mode\":\"s2_fast\",\"remote_account\":\"$G\",\"protocol\":3}\r\n",
    );
    h.send_bytes(l, &connect);
    let out = peer.decode(&h.take_bytes(l));
    assert!(out.starts_with("INFO {"), "{out}");
    assert!(out.contains("\"connect_info\":true"), "{out}");
    assert!(out.contains("LS+ $LDS."), "{out}");
    assert!(!h.is_closed(l));
    // Over loopback time (no delay) s2_auto picks `s2_uncompressed`.
    let leafz = get_text(&mut h, "/leafz");
    assert!(
        leafz.contains("\"compression\": \"s2_uncompressed\""),
        "{leafz}"
    );
}

#[test]
fn c6_a_hub_with_accept_follows_the_leafs_level() {
    let mut o = hub_options();
    if let Some(l) = o.leaf.as_mut() {
        l.compression = compression(Mode::Accept);
    }
    let mut h = Harness::new(o);
    let l = h.accept_leaf();
    assert_eq!(info_json(&h.take(l))["compression"], "accept");
    h.send(
        l,
        "INFO {\"client_id\":7,\"compression\":\"s2_better\"}\r\n",
    );
    let mut peer = s2_peer(S2Level::Better);
    let info = peer.decode(&h.take_bytes(l));
    assert_eq!(json(&info)["compression"], "s2_better", "{info}");
}

#[test]
fn c6_a_hub_with_compression_off_says_off_and_stays_plain() {
    let mut o = hub_options();
    if let Some(l) = o.leaf.as_mut() {
        l.compression = compression(Mode::Off);
    }
    let mut h = Harness::new(o);
    let l = h.accept_leaf();
    assert_eq!(info_json(&h.take(l))["compression"], "off");
    // The leaf answers with a plain CONNECT naming `off`.
    h.send(
        l,
        "CONNECT {\"server_id\":\"NLEAF\",\"name\":\"LEAF\",\"cluster\":\"LEAF\",\"headers\":true,\"compress_mode\":\"off\",\"remote_account\":\"$G\"}\r\n",
    );
    let out = h.take(l);
    assert!(
        out.starts_with("INFO {") && out.contains("LS+ $LDS."),
        "{out}"
    );
    let leafz = get_text(&mut h, "/leafz");
    assert!(leafz.contains("\"compression\": \"off\""), "{leafz}");
}

#[test]
fn c7_a_leaf_without_compression_field_is_not_supported() {
    let mut h = Harness::new(hub_options());
    let l = h.accept_leaf();
    h.take(l);
    h.send(
        l,
        "CONNECT {\"server_id\":\"NLEAF\",\"name\":\"LEAF\",\"cluster\":\"LEAF\",\"headers\":true,\"remote_account\":\"$G\"}\r\n",
    );
    assert!(h.take(l).contains("LS+ $LDS."));
    let leafz = get_text(&mut h, "/leafz");
    assert!(
        leafz.contains("\"compression\": \"not supported\""),
        "{leafz}"
    );
}

#[test]
fn the_hub_switches_at_the_exact_byte_after_the_leafs_info_at_every_split() {
    let info = "INFO {\"client_id\":7,\"compression\":\"s2_fast\"}\r\n";
    let mut peer = s2_peer(S2Level::Fast);
    // A leaf that does not wait for the answer: its CONNECT follows the
    // INFO in the same bytes, compressed.
    let connect = peer.encode(
        "CONNECT {\"server_id\":\"NLEAF\",\"name\":\"LEAF\",\"cluster\":\"LEAF\",\"headers\":true,\"compress_mode\":\"s2_fast\",\"remote_account\":\"$G\"}\r\n",
    );
    let mut all = info.as_bytes().to_vec();
    all.extend_from_slice(&connect);
    for cut in 1..all.len() {
        let mut h = Harness::new(hub_options());
        let l = h.accept_leaf();
        h.take(l);
        h.send_bytes(l, &all[..cut]);
        h.send_bytes(l, &all[cut..]);
        let mut ours = s2_peer(S2Level::Fast);
        let out = ours.decode(&h.take_bytes(l));
        assert!(!h.is_closed(l), "cut {cut}: {:?}", h.close_reason(l));
        assert!(out.contains("\"connect_info\":true"), "cut {cut}: {out}");
    }
}

const HUB_INFO_AUTO: &str = "INFO {\"server_id\":\"NHUB\",\"server_name\":\"HUB\",\"version\":\"2.15.1\",\"proto\":3,\"headers\":true,\"auth_required\":true,\"max_payload\":1048576,\"client_id\":5,\"nonce\":\"abc\",\"compression\":\"s2_auto\",\"api_lvl\":5,\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:7422\"]} \r\n";

/// A spoke (default `s2_auto`) that dialed its hub.
fn spoke() -> (Harness, ConnId) {
    let mut h = Harness::new(spoke_options(remote("nats://127.0.0.1:7422")));
    h.advance(Duration::ZERO);
    let (l, _) = h.dials[0].clone();
    h.dialed(l);
    assert_eq!(h.take(l), "");
    (h, l)
}

#[test]
fn c4_a_spoke_sends_its_info_then_compresses_its_connect() {
    let (mut h, l) = spoke();
    h.send(l, HUB_INFO_AUTO);
    // Plain INFO naming its mode (configured auto: `s2_auto`), nothing
    // after it until the hub's compressed INFO.
    let info = h.take(l);
    assert!(
        info.starts_with("INFO {") && info.ends_with("}\r\n"),
        "{info}"
    );
    let j = json(&info);
    assert_eq!(j["compression"], "s2_auto", "{info}");
    assert_eq!(j["client_id"], 1, "{info}");
    let mut hub = s2_peer(S2Level::Uncompressed);
    h.send_bytes(l, &hub.encode(HUB_INFO_AUTO));
    let out = h.take_bytes(l);
    assert!(out.starts_with(STREAM_ID), "{out:?}");
    let connect = hub.decode(&out);
    assert!(connect.starts_with("CONNECT {"), "{connect}");
    assert!(
        connect.contains("\"compress_mode\":\"s2_uncompressed\""),
        "{connect}"
    );
}

#[test]
fn c6_a_spoke_and_a_hub_that_accept_stay_plain_with_off() {
    let mut o = spoke_options(RemoteLeafOptions {
        compression: compression(Mode::Accept),
        ..remote("nats://127.0.0.1:7422")
    });
    o.server_name = "SPOKE".into();
    let mut h = Harness::new(o);
    h.advance(Duration::ZERO);
    let (l, _) = h.dials[0].clone();
    h.dialed(l);
    h.send(l, &HUB_INFO_AUTO.replace("s2_auto", "accept"));
    let connect = h.take(l);
    assert!(connect.starts_with("CONNECT {"), "{connect}");
    assert!(connect.contains("\"compress_mode\":\"off\""), "{connect}");
}

#[test]
fn bad_s2_after_the_switch_closes_only_that_link() {
    let mut h = Harness::new(hub_options());
    let c = h.connected("{\"verbose\":false,\"pedantic\":false}");
    let (l, _) = hub_link_after_info(&mut h, "s2_fast");
    // Not an S2 stream: plaintext where compressed bytes must be.
    h.send(l, "CONNECT {}\r\n");
    assert!(h.is_closed(l));
    assert_eq!(h.close_reason(l), Some(CloseReason::ReadError));
    assert!(!h.is_closed(c));
    h.send(c, "PING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
}

#[test]
fn an_oversized_chunk_is_refused_before_it_is_held() {
    let mut h = Harness::new(hub_options());
    let (l, _) = hub_link_after_info(&mut h, "s2_fast");
    // A compressed chunk announcing 16 MiB.
    let mut bomb = STREAM_ID.to_vec();
    bomb.extend_from_slice(&[0x00, 0xff, 0xff, 0xff]);
    h.send_bytes(l, &bomb);
    assert!(h.is_closed(l));
}

// ---- routes ------------------------------------------------------------------

fn route_connect(id: &str) -> String {
    format!(
        "CONNECT {{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"headers\":true,\"name\":\"{id}\",\"cluster\":\"testc\"}}\r\n"
    )
}

fn route_info(id: &str, compression: &str) -> String {
    format!(
        "INFO {{\"server_id\":\"{id}\",\"server_name\":\"{id}\",\"version\":\"2.15.1\",\"proto\":3,\"host\":\"127.0.0.1\",\"port\":16300,\"headers\":true,\"max_payload\":1048576,\"cluster\":\"testc\",\"compression\":\"{compression}\"}}\r\n"
    )
}

#[test]
fn an_accepting_route_switches_after_the_peers_info_and_answers_compressed() {
    let mut h = Harness::new(clustered(cluster()));
    let c = h.connected("{\"verbose\":false,\"pedantic\":false}");
    h.send(c, "SUB foo 1\r\n");
    let r = h.accept_route();
    assert_eq!(info_json(&h.take(r))["compression"], "accept");
    // A peer configured s2_fast: CONNECT, then its INFO naming s2_fast.
    h.send(
        r,
        &format!(
            "{}{}",
            route_connect("NPEER"),
            route_info("NPEER", "s2_fast")
        ),
    );
    let mut peer = s2_peer(S2Level::Fast);
    let answer = peer.decode(&h.take_bytes(r));
    assert_eq!(json(&answer)["compression"], "s2_fast", "{answer}");
    // The peer's delayed INFO (compressed) registers the route: our
    // interest comes back compressed.
    h.send_bytes(r, &peer.encode(&route_info("NPEER", "s2_fast")));
    let out = peer.decode(&h.take_bytes(r));
    assert!(out.contains("RS+ $G foo"), "{out}");
    // Messages both ways, compressed.
    h.send_bytes(r, &peer.encode("RMSG $G foo 5\r\nhello\r\n"));
    assert_eq!(h.take(c), "MSG foo 1 5\r\nhello\r\n");
    let routez = get_text(&mut h, "/routez");
    assert!(routez.contains("\"compression\": \"s2_fast\""), "{routez}");
}

#[test]
fn a_soliciting_route_delays_its_info_and_sends_it_before_compressing() {
    let mut h = Harness::new(clustered(ClusterOptions {
        routes: vec![crate::route::RouteAddr::parse("nats-route://127.0.0.1:16300").expect("url")],
        compression: compression(Mode::Level(S2Level::Best)),
        ..cluster()
    }));
    h.advance(Duration::ZERO);
    let (d, _) = h.dials[0].clone();
    h.dialed(d);
    let connect = h.take(d);
    assert!(
        connect.starts_with("CONNECT {") && connect.matches("\r\n").count() == 1,
        "{connect}"
    );
    // The seed says accept: we pick our own level and say so in plain.
    h.send(d, &route_info("NSEED", "accept"));
    let info = h.take(d);
    assert_eq!(json(&info)["compression"], "s2_best", "{info}");
    // The seed's compressed INFO: we register and send our INFO again,
    // compressed.
    let mut seed = s2_peer(S2Level::Fast);
    h.send_bytes(d, &seed.encode(&route_info("NSEED", "s2_fast")));
    let out = seed.decode(&h.take_bytes(d));
    assert!(out.starts_with("INFO {"), "{out}");
}

#[test]
fn no_ping_goes_out_during_the_exchange_but_a_silent_peer_goes_stale() {
    let mut h = Harness::new(clustered(cluster()));
    let r = h.accept_route();
    h.take(r);
    h.send(r, &route_connect("NPEER"));
    // No INFO ever: no PING for minutes, then the link is stale.
    h.advance(Duration::from_secs(3));
    assert_eq!(h.take(r), "");
    assert!(!h.is_closed(r));
    h.advance(Duration::from_secs(400));
    assert!(h.is_closed(r));
    assert_eq!(h.close_reason(r), Some(CloseReason::StaleConnection));
}

#[test]
fn s2_auto_chooses_its_level_again_on_pong() {
    let (mut h, l) = spoke();
    h.send(l, HUB_INFO_AUTO);
    h.take(l);
    let mut hub = s2_peer(S2Level::Fast);
    h.send_bytes(l, &hub.encode(HUB_INFO_AUTO));
    hub.decode(&h.take_bytes(l));
    h.send_bytes(
        l,
        &hub.encode("INFO {\"server_id\":\"NHUB\",\"client_id\":5,\"connect_info\":true,\"remote_account\":\"$G\",\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:7422\"]}\r\n"),
    );
    hub.decode(&h.take_bytes(l));
    let leafz = get_text(&mut h, "/leafz");
    assert!(
        leafz.contains("\"compression\": \"s2_uncompressed\""),
        "{leafz}"
    );
    // The first PING goes out (within 1.2 s); a PONG 60 ms later
    // measures the round trip.
    let mut waited = 0;
    loop {
        h.advance(Duration::from_millis(1));
        let out = h.take_bytes(l);
        if !out.is_empty() {
            assert_eq!(hub.decode(&out), "PING\r\n");
            break;
        }
        waited += 1;
        assert!(waited < 1300, "no PING");
    }
    h.advance(Duration::from_millis(60));
    h.send_bytes(l, &hub.encode("PONG\r\n"));
    let leafz = get_text(&mut h, "/leafz");
    assert!(leafz.contains("\"compression\": \"s2_better\""), "{leafz}");
}

#[test]
fn a_read_of_many_large_chunks_is_parsed_a_budget_at_a_time_and_all_of_it() {
    let mut h = Harness::new(clustered(cluster()));
    let c = h.connected("{\"verbose\":false,\"pedantic\":false}");
    h.send(c, "SUB foo 1\r\n");
    let r = h.accept_route();
    h.take(r);
    h.send(
        r,
        &format!(
            "{}{}",
            route_connect("NPEER"),
            route_info("NPEER", "s2_fast")
        ),
    );
    let mut peer = s2_peer(S2Level::Fast);
    peer.decode(&h.take_bytes(r));
    h.send_bytes(r, &peer.encode(&route_info("NPEER", "s2_fast")));
    peer.decode(&h.take_bytes(r));
    h.take(c);
    // Three messages of a megabyte of zeros: a few hundred compressed
    // bytes that decode to three blocks, more than one decode budget.
    let zeros = "0".repeat(1_000_000);
    let mut wire = Vec::new();
    for _ in 0..3 {
        wire.extend(peer.encode(&format!("RMSG $G foo 1000000\r\n{zeros}\r\n")));
    }
    assert!(wire.len() < 300_000, "{}", wire.len());
    h.send_bytes(r, &wire);
    let got = h.take(c);
    assert_eq!(got.matches("MSG foo 1 1000000\r\n").count(), 3);
    assert!(!h.is_closed(r));
}

#[test]
fn s2_around_websocket_frames_drains_innermost_first_and_holds_little() {
    use crate::transport::{WsLayer, WsOptions, WsRole};
    const MSG: usize = 64 << 10;
    let ws = |role: WsRole| WsOptions {
        role,
        compress: true,
        mask: role == WsRole::Client,
        require_masked: role == WsRole::Server,
        max_message: MSG,
        frame_limit: 0,
        fragment_compressed: true,
    };
    // The peer: permessage-deflate frames of 64 KiB of zeros each (a
    // hundred bytes apiece), in S2 flushes of 60 KiB of frames (nats-
    // server's order on a ws leaf with S2), 100 such flushes.
    let mut frames = Transport::default();
    let mut fout = Outbound::default();
    let _ = frames.push_inner(
        Layer::Ws(Box::new(WsLayer::new(ws(WsRole::Client), 1))),
        Bytes::new(),
        &fout,
    );
    let zeros = vec![0u8; MSG];
    let mut one = Vec::new();
    fout.push_slice(&zeros);
    let n = frames.take(&mut fout, &mut one).expect("frame");
    frames.written(n, &mut fout);
    let frame = one.concat();
    let per_flush = (60 << 10) / frame.len();
    let mut s2 = s2_peer(S2Level::Best);
    let mut wire = Vec::new();
    for _ in 0..100 {
        s2.out.push_slice(&frame.repeat(per_flush));
        let mut chunks = Vec::new();
        let n = s2.transport.take(&mut s2.out, &mut chunks).expect("s2");
        s2.transport.written(n, &mut s2.out);
        wire.extend(chunks.concat());
    }
    let wire_len = wire.len();
    // Ours: [S2, WebSocket], as the engine stacks them, with a 64 KiB
    // S2 block bound so each drain step is small.
    let mut ours = Transport::default();
    let out = Outbound::default();
    let _ = ours.push_inner(
        Layer::Ws(Box::new(WsLayer::new(ws(WsRole::Server), 2))),
        Bytes::new(),
        &out,
    );
    ours.insert(0, Layer::S2(S2Layer::new(S2Level::Fast, MSG)), &out);
    let mut total = 0;
    let mut d = ours.decode(Bytes::from(wire));
    loop {
        assert!(d.failed.is_none(), "{:?}", d.failed);
        total += d.plain.len();
        // What the read brought, plus one S2 budget of frames held by
        // the WebSocket layer: never the frames of many budgets.
        assert!(
            ours.buffered() <= wire_len + 3 * MSG,
            "held {} of a {wire_len}-byte read",
            ours.buffered()
        );
        if !ours.has_pending() {
            break;
        }
        d = ours.decode(Bytes::new());
    }
    assert_eq!(total, 100 * per_flush * MSG);
}
