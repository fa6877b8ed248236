//! The websocket port and ws:// leaf remotes through the engine: the
//! upgrade, the INFO as the first frame, refusals, the handshake timer,
//! the block's own authorization, and a leaf remote reading the 101 and
//! the hub's first frame from one read at every split. The peer's frames
//! come from the WebSocket layer itself in the other role.

use super::harness::Harness;
use super::layer_peer::Peer;
use super::leaf::{hub_options, remote, spoke_options};
use crate::transport::{Layer, WsLayer, WsOptions, WsRole};
use crate::{CloseReason, ConnId, ListenerKind, Options, RemoteWebsocket, WebsocketOptions};
use std::time::Duration;

/// The RFC 6455 sample key and its accept value.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// One end of a WebSocket, as a peer runs it.
fn ws_peer(role: WsRole) -> Peer {
    let opts = WsOptions {
        role,
        compress: false,
        mask: role == WsRole::Client,
        require_masked: role == WsRole::Server,
        max_message: 1 << 20,
        frame_limit: 0,
        fragment_compressed: true,
    };
    Peer::new(Layer::Ws(Box::new(WsLayer::new(opts, 7))))
}

fn ws_options(extra: impl FnOnce(&mut WebsocketOptions)) -> Options {
    let mut w = WebsocketOptions {
        host: "127.0.0.1".into(),
        port: 8080,
        ..WebsocketOptions::default()
    };
    extra(&mut w);
    Options {
        host: "127.0.0.1".into(),
        port: 4222,
        websocket: Some(w),
        ..Options::default()
    }
}

fn accept_ws(h: &mut Harness) -> ConnId {
    let peer: core::net::SocketAddr = "127.0.0.1:50010".parse().expect("address");
    let now = h.now;
    let id = h.server.handle_accept(ListenerKind::Websocket, peer, now);
    h.drain();
    id
}

fn upgrade(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Upgrades a websocket client: returns it, its peer and the INFO.
fn ws_client(h: &mut Harness) -> (ConnId, Peer, String) {
    let c = accept_ws(h);
    assert_eq!(h.take(c), "", "nothing before the request");
    h.send(c, &upgrade("/"));
    let out = h.take_bytes(c);
    let head_end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP head")
        + 4;
    let head = String::from_utf8_lossy(&out[..head_end]).into_owned();
    assert_eq!(
        head,
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n")
    );
    // The INFO is one unmasked binary frame.
    assert_eq!(out[head_end], 0x82);
    let mut peer = ws_peer(WsRole::Client);
    let info = peer.decode_lossy(&out[head_end..]);
    (c, peer, info)
}

#[test]
fn a_websocket_client_gets_its_info_as_a_frame_naming_the_websocket_port() {
    let mut h = Harness::new(ws_options(|_| {}));
    let (c, mut peer, info) = ws_client(&mut h);
    assert!(
        info.starts_with("INFO {") && info.ends_with("} \r\n"),
        "{info}"
    );
    assert!(info.contains("\"port\":8080"), "{info}");
    h.send_bytes(c, &peer.encode("CONNECT {\"verbose\":false}\r\nPING\r\n"));
    assert_eq!(peer.decode_lossy(&h.take_bytes(c)), "PONG\r\n");
    // Messages both ways with a plain client.
    let plain = h.connected("{\"verbose\":false,\"pedantic\":false}");
    h.send_bytes(c, &peer.encode("SUB ws 1\r\nPING\r\n"));
    peer.decode_lossy(&h.take_bytes(c));
    h.send(plain, "PUB ws 2\r\nhi\r\n");
    assert_eq!(peer.decode_lossy(&h.take_bytes(c)), "MSG ws 1 2\r\nhi\r\n");
}

#[test]
fn a_request_split_at_every_byte_upgrades_the_same() {
    let req = upgrade("/");
    for cut in 1..req.len() {
        let mut h = Harness::new(ws_options(|_| {}));
        let c = accept_ws(&mut h);
        h.send(c, &req[..cut]);
        assert_eq!(h.take(c), "", "cut {cut}");
        h.send(c, &req[cut..]);
        let out = h.take_bytes(c);
        assert!(out.starts_with(b"HTTP/1.1 101 "), "cut {cut}");
    }
}

#[test]
fn a_refused_request_gets_nats_servers_answer() {
    let mut h = Harness::new(ws_options(|_| {}));
    let c = accept_ws(&mut h);
    h.send(c, &upgrade("/").replacen("GET", "POST", 1));
    let out = h.take(c);
    assert!(
        out.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{out}"
    );
    assert!(out.contains("Sec-Websocket-Version: 13\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nMethod Not Allowed\n"), "{out}");
}

#[test]
fn an_upgrade_that_never_finishes_is_dropped_at_the_handshake_timeout() {
    let mut h = Harness::new(ws_options(|w| {
        w.handshake_timeout = Some(Duration::from_secs(3))
    }));
    let c = accept_ws(&mut h);
    h.send(c, "GET / HTTP/1.1\r\n");
    h.advance(Duration::from_millis(2999));
    assert!(!h.is_closed(c));
    h.advance(Duration::from_millis(1));
    assert!(h.is_closed(c));
}

#[test]
fn a_leaf_path_without_a_leaf_port_is_closed_after_the_101() {
    let mut h = Harness::new(ws_options(|_| {}));
    let c = accept_ws(&mut h);
    h.send(c, &upgrade("/leafnode"));
    let out = h.take_bytes(c);
    assert!(out.starts_with(b"HTTP/1.1 101 "));
    assert!(h.is_closed(c));
}

#[test]
fn a_leaf_path_becomes_a_leaf_link_whose_info_is_the_first_frame() {
    let mut o = hub_options();
    o.websocket = ws_options(|_| {}).websocket;
    let mut h = Harness::new(o);
    let c = accept_ws(&mut h);
    h.send(c, &upgrade("/leafnode"));
    let out = h.take_bytes(c);
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let mut peer = ws_peer(WsRole::Client);
    let info = peer.decode_lossy(&out[head_end..]);
    assert!(info.contains("\"info_on_connect\":true"), "{info}");
    assert!(info.contains("\"compression\":\"s2_auto\""), "{info}");
}

#[test]
fn the_blocks_own_authorization_applies_to_websocket_clients_only() {
    let mut h = Harness::new(ws_options(|w| {
        w.credentials = Some(("web".into(), "pw".into()));
    }));
    let (c, mut peer, info) = ws_client(&mut h);
    assert!(info.contains("\"auth_required\":true"), "{info}");
    h.send_bytes(
        c,
        &peer.encode("CONNECT {\"verbose\":false,\"user\":\"web\",\"pass\":\"nope\"}\r\n"),
    );
    let out = peer.decode_lossy(&h.take_bytes(c));
    assert!(out.starts_with("-ERR 'Authorization Violation'"), "{out}");
    assert!(h.is_closed(c));
    let (c, mut peer, _) = ws_client(&mut h);
    h.send_bytes(
        c,
        &peer.encode("CONNECT {\"verbose\":false,\"user\":\"web\",\"pass\":\"pw\"}\r\nPING\r\n"),
    );
    assert_eq!(peer.decode_lossy(&h.take_bytes(c)), "PONG\r\n");
    // A plain client needs nothing.
    let plain = h.client();
    h.send(plain, "CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert_eq!(h.take(plain), "PONG\r\n");
}

const HUB_INFO: &str = "INFO {\"server_id\":\"NHUB\",\"server_name\":\"HUB\",\"version\":\"2.15.1\",\"proto\":3,\"headers\":true,\"auth_required\":true,\"max_payload\":1048576,\"client_id\":5,\"nonce\":\"abc\",\"compression\":\"off\",\"api_lvl\":5,\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:7422\"]} \r\n";

#[test]
fn a_ws_remote_reads_the_101_and_the_hubs_info_from_one_read_at_every_split() {
    let reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nNats-No-Masking: true\r\n\r\n";
    let mut hub = ws_peer(WsRole::Server);
    let frame = hub.encode(HUB_INFO);
    for cut in 1..200 {
        let mut h = Harness::new(spoke_options(crate::RemoteLeafOptions {
            websocket: Some(RemoteWebsocket {
                compression: false,
                no_masking: true,
                paths: vec![String::new()],
            }),
            ..remote("nats://127.0.0.1:8080")
        }));
        h.advance(Duration::ZERO);
        let (l, _) = h.dials[0].clone();
        h.dialed(l);
        let request = h.take(l);
        assert!(
            request.starts_with("GET /leafnode HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"),
            "{request}"
        );
        assert!(request.contains("Nats-No-Masking: true\r\n"), "{request}");
        let key = request
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("key");
        let accept = crate::transport::ws_handshake::accept_key(key);
        let mut all = reply.replace("{accept}", &accept).into_bytes();
        all.extend_from_slice(&frame);
        let cut = cut.min(all.len() - 1);
        h.send_bytes(l, &all[..cut]);
        h.send_bytes(l, &all[cut..]);
        // No masking was agreed: our CONNECT is one unmasked frame.
        let out = h.take_bytes(l);
        assert_eq!(out.first(), Some(&0x82), "cut {cut}");
        let text = String::from_utf8_lossy(&out[2..]).into_owned();
        assert!(text.contains("CONNECT {"), "cut {cut}: {text}");
        assert!(!h.is_closed(l), "cut {cut}: {:?}", h.close_reason(l));
    }
}

#[test]
fn a_bad_101_closes_the_link() {
    let mut h = Harness::new(spoke_options(crate::RemoteLeafOptions {
        websocket: Some(RemoteWebsocket::default()),
        ..remote("nats://127.0.0.1:8080")
    }));
    h.advance(Duration::ZERO);
    let (l, _) = h.dials[0].clone();
    h.dialed(l);
    h.take(l);
    h.send(l, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert!(h.is_closed(l));
    assert_eq!(h.close_reason(l), Some(CloseReason::ReadError));
}
