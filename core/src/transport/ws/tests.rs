use super::handshake::{self, HandshakeError, WsKind};
use super::*;
use crate::outbound::Outbound;
use crate::transport::{Layer, Transport};
use flate2::{Compress, Compression, FlushCompress};
use proptest::prelude::*;

// ---------------------------------------------------------------------
// Helpers: a peer's frames, written here independently of `frame.rs`.
// ---------------------------------------------------------------------

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame as a peer writes it.
fn frame_with(b0: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![b0];
    let m = if key.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        f.push(m | n as u8);
    } else if n < 65536 {
        f.push(m | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(m | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match key {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// A final binary frame, masked as a client's.
fn masked(payload: &[u8]) -> Vec<u8> {
    frame_with(0x82, payload, Some(KEY))
}

/// What a browser sends for one compressed message: raw deflate, sync
/// flush, the tail dropped.
fn browser_deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, FlushCompress::None)
        .expect("deflate");
    loop {
        out.reserve(256);
        let before = out.len();
        c.compress_vec(&[], &mut out, FlushCompress::Sync)
            .expect("flush");
        if out.len() == before || out.capacity() > out.len() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn server_opts() -> WsOptions {
    WsOptions {
        role: WsRole::Server,
        compress: true,
        mask: false,
        require_masked: true,
        max_message: 1 << 20,
        frame_limit: 0,
        fragment_compressed: true,
    }
}

fn client_opts() -> WsOptions {
    WsOptions {
        role: WsRole::Client,
        compress: true,
        mask: true,
        require_masked: false,
        max_message: 1 << 20,
        frame_limit: 0,
        fragment_compressed: true,
    }
}

/// The outcome of feeding reads to a layer.
#[derive(Debug, PartialEq)]
struct Run {
    plain: Vec<u8>,
    failed: Option<TransportError>,
}

/// Feeds `reads` to `layer` as the engine does: after each read, empty
/// decodes while the layer holds input back (its plaintext budget).
fn run(layer: &mut WsLayer, reads: &[&[u8]]) -> Run {
    let mut plain = Vec::new();
    let mut failed = None;
    for r in reads {
        let mut d = layer.decode(Bytes::copy_from_slice(r));
        loop {
            plain.extend_from_slice(&d.plain);
            if d.failed.is_some() {
                failed = failed.or(d.failed);
            }
            if !layer.has_pending() {
                break;
            }
            d = layer.decode(Bytes::new());
        }
        assert!(layer.buffered() <= frame::MAX_HEADER + frame::MAX_CONTROL_PAYLOAD);
    }
    Run { plain, failed }
}

/// Feeds `stream` cut once at every point, then one byte a read, and
/// checks each run gives `want` and leaves the layer in the same state
/// (`check`).
fn at_every_split(opts: WsOptions, stream: &[u8], want: &Run, check: impl Fn(&mut WsLayer, &str)) {
    for cut in 0..=stream.len() {
        let mut l = WsLayer::new(opts, 1);
        let got = run(&mut l, &[&stream[..cut], &stream[cut..]]);
        assert_eq!(&got, want, "cut at {cut}");
        check(&mut l, &format!("cut at {cut}"));
    }
    let mut l = WsLayer::new(opts, 1);
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    let got = run(&mut l, &bytes);
    assert_eq!(&got, want, "one byte a read");
    check(&mut l, "one byte a read");
}

fn ok(plain: &[u8]) -> Run {
    Run {
        plain: plain.to_vec(),
        failed: None,
    }
}

/// Everything the layer writes for `input` now.
fn encode(l: &mut WsLayer, input: &[&[u8]]) -> Vec<u8> {
    let chunks: Vec<Bytes> = input.iter().map(|c| Bytes::copy_from_slice(c)).collect();
    let mut out = Vec::new();
    l.encode(&chunks, &mut out).expect("encode");
    out.concat()
}

fn peer_closed() -> Option<TransportError> {
    Some(TransportError {
        kind: ErrorKind::PeerClosed,
        ending: Ending::Flush,
        reason: CloseReason::ClientClosed,
    })
}

fn read_error(kind: ErrorKind) -> Option<TransportError> {
    Some(TransportError {
        kind,
        ending: Ending::Silent,
        reason: CloseReason::ReadError,
    })
}

// ---------------------------------------------------------------------
// Read side at every split point.
// ---------------------------------------------------------------------

#[test]
fn masked_client_frames_at_every_split() {
    let long: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    let mut stream = masked(b"PING\r\n");
    stream.extend(masked(b""));
    stream.extend(frame_with(0x81, b"PUB a 2\r\nhi\r\n", Some([1, 2, 3, 4])));
    stream.extend(masked(&long));
    let mut want = b"PING\r\nPUB a 2\r\nhi\r\n".to_vec();
    want.extend_from_slice(&long);
    at_every_split(server_opts(), &stream, &ok(&want), |l, at| {
        assert_eq!(l.buffered(), 0, "{at}");
        assert!(!l.wants_write(), "{at}");
    });
}

#[test]
fn a_64_bit_length_frame_streams_out_as_it_arrives() {
    let big = vec![b'x'; 70_000];
    let stream = masked(&big);
    assert_eq!(stream[1], 0x80 | 127);
    let mut l = WsLayer::new(server_opts(), 1);
    // The header and a little payload: the payload is handed on at once.
    let d = l.decode(Bytes::copy_from_slice(&stream[..20]));
    assert_eq!(&d.plain[..], &big[..6]);
    let mut got = d.plain.to_vec();
    for piece in stream[20..].chunks(4093) {
        let d = l.decode(Bytes::copy_from_slice(piece));
        assert!(d.failed.is_none());
        assert_eq!(d.plain.len(), piece.len());
        got.extend_from_slice(&d.plain);
        assert_eq!(l.buffered(), 0);
    }
    assert_eq!(got, big);
}

#[test]
fn unmasked_frames_when_no_masking_was_agreed() {
    let opts = WsOptions {
        require_masked: false,
        ..server_opts()
    };
    let mut stream = frame_with(0x82, b"CONNECT {}\r\n", None);
    stream.extend(frame_with(0x82, &[b'y'; 200], None));
    let mut want = b"CONNECT {}\r\n".to_vec();
    want.extend_from_slice(&[b'y'; 200]);
    at_every_split(opts, &stream, &ok(&want), |l, at| {
        assert_eq!(l.buffered(), 0, "{at}");
    });
    // One frame in one read comes out as a slice of the read: no copy.
    let mut l = WsLayer::new(opts, 1);
    let read = Bytes::from(frame_with(0x82, &[b'z'; 300], None));
    let d = l.decode(read.clone());
    assert_eq!(d.plain.as_ptr(), read[4..].as_ptr());
    // A masked frame from such a peer is still read right.
    let d = l.decode(Bytes::from(masked(b"PING\r\n")));
    assert_eq!(&d.plain[..], b"PING\r\n");
}

#[test]
fn a_fragmented_message_at_every_split() {
    let mut stream = frame_with(0x02, b"PUB a 5\r\n", Some(KEY));
    stream.extend(frame_with(0x00, b"hel", Some([9, 9, 9, 9])));
    stream.extend(frame_with(0x00, b"", Some(KEY)));
    stream.extend(frame_with(0x80, b"lo\r\n", Some([5, 6, 7, 8])));
    stream.extend(masked(b"PING\r\n"));
    at_every_split(
        server_opts(),
        &stream,
        &ok(b"PUB a 5\r\nhello\r\nPING\r\n"),
        |_, _| {},
    );
}

#[test]
fn a_ping_inside_a_fragmented_message_is_answered() {
    let mut stream = frame_with(0x01, b"PI", Some(KEY));
    stream.extend(frame_with(0x89, b"are you there", Some([4, 3, 2, 1])));
    stream.extend(frame_with(0x80, b"NG\r\n", Some(KEY)));
    at_every_split(server_opts(), &stream, &ok(b"PING\r\n"), |l, at| {
        assert!(l.wants_write(), "{at}");
        let wire = encode(l, &[]);
        assert_eq!(wire, frame_with(0x8a, b"are you there", None), "{at}");
        assert!(!l.wants_write());
    });
}

#[test]
fn only_the_latest_ping_is_answered_and_pongs_are_ignored() {
    let mut stream = frame_with(0x89, b"1", Some(KEY));
    stream.extend(frame_with(0x8a, b"pong", Some(KEY)));
    stream.extend(frame_with(0x89, b"2", Some(KEY)));
    let mut l = WsLayer::new(server_opts(), 1);
    assert_eq!(run(&mut l, &[&stream]), ok(b""));
    let wire = encode(&mut l, &[b"PONG\r\n"]);
    let mut want = frame_with(0x8a, b"2", None);
    want.extend(frame_with(0x82, b"PONG\r\n", None));
    assert_eq!(wire, want);
}

#[test]
fn compressed_messages_at_every_split() {
    let one = b"PUB greeting 11\r\nhello world\r\n".repeat(4);
    let two: Vec<u8> = (0..2000u32)
        .map(|i| b"abcdefgh"[(i % 8) as usize])
        .collect();
    let c1 = browser_deflate(&one);
    let c2 = browser_deflate(&two);
    // One message in one frame, one in three fragments, with an
    // uncompressed message between.
    let mut stream = frame_with(0xc2, &c1, Some(KEY));
    stream.extend(masked(b"PING\r\n"));
    let (a, rest) = c2.split_at(c2.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    stream.extend(frame_with(0x42, a, Some([1, 1, 2, 2])));
    stream.extend(frame_with(0x00, b, Some([3, 1, 4, 1])));
    stream.extend(frame_with(0x80, c, Some([5, 9, 2, 6])));
    let mut want = one.clone();
    want.extend_from_slice(b"PING\r\n");
    want.extend_from_slice(&two);
    at_every_split(server_opts(), &stream, &ok(&want), |l, at| {
        assert_eq!(l.buffered(), 0, "{at}");
    });
}

#[test]
fn a_compressed_message_above_the_limit_fails_without_growing_past_it() {
    let opts = WsOptions {
        max_message: 4096,
        ..server_opts()
    };
    let bomb = browser_deflate(&vec![0u8; 1 << 20]);
    let mut stream = masked(b"PING\r\n");
    stream.extend(frame_with(0xc2, &bomb, Some(KEY)));
    let mut l = WsLayer::new(opts, 1);
    let got = run(&mut l, &[&stream]);
    // nats-server parses the first max_payload bytes, then fails.
    assert_eq!(got.plain.len(), 6 + 4096);
    assert_eq!(got.failed, read_error(ErrorKind::TooLarge));
    assert_eq!(l.error(), Some(WsError::MaxPayload));
    assert!(!l.wants_write(), "no close frame for a size error");
    // Compressed bytes are bounded too: eight times the limit.
    let opts = WsOptions {
        max_message: 10,
        ..server_opts()
    };
    let mut l = WsLayer::new(opts, 1);
    let mut header = vec![0xc2, 0x80 | 126];
    header.extend_from_slice(&81u16.to_be_bytes());
    header.extend_from_slice(&KEY);
    let got = run(&mut l, &[&header, &[0u8; 81]]);
    assert_eq!(got.failed, read_error(ErrorKind::TooLarge));
}

#[test]
fn corrupt_compressed_data_is_a_read_error() {
    let mut l = WsLayer::new(server_opts(), 1);
    let got = run(&mut l, &[&frame_with(0xc2, &[0xff; 20], Some(KEY))]);
    assert_eq!(got.failed, read_error(ErrorKind::Malformed));
    assert!(matches!(l.error(), Some(WsError::CorruptInput(_))));
}

#[test]
fn a_close_frame_ends_the_stream_at_every_split() {
    let mut stream = masked(b"PING\r\n");
    stream.extend(frame_with(0x88, b"\x03\xe8bye", Some(KEY)));
    stream.extend(masked(b"never read\r\n"));
    let want = Run {
        plain: b"PING\r\n".to_vec(),
        failed: peer_closed(),
    };
    at_every_split(server_opts(), &stream, &want, |l, at| {
        assert!(l.wants_write(), "{at}");
        // The echo: status and body (nats-server, observed).
        assert_eq!(encode(l, &[]), b"\x88\x05\x03\xe8bye", "{at}");
        assert!(!l.wants_write());
        let late = l.encode(&[Bytes::from_static(b"x")], &mut Vec::new());
        assert_eq!(late.map_err(|e| e.kind), Err(ErrorKind::WriteAfterClose));
    });
}

#[test]
fn close_frames_are_echoed_as_nats_server_does() {
    // (payload from the peer, what nats-server sent back: observed)
    let cases: [(&[u8], Option<&[u8]>); 6] = [
        (b"", Some(b"\x88\x00")),
        (b"\x03\xe8bye", Some(b"\x88\x05\x03\xe8bye")),
        (b"\x0f\xa0", Some(b"\x88\x02\x0f\xa0")),
        (
            b"\x03\xe9\xff\xfe",
            Some(b"\x88\x22\x03\xefinvalid utf8 body in close frame"),
        ),
        // Protocol errors: closed without a word.
        (b"\x03", None),
        (b"\x03\xed", None),
    ];
    for (payload, echo) in cases {
        let mut l = WsLayer::new(server_opts(), 1);
        let got = run(&mut l, &[&frame_with(0x88, payload, Some(KEY))]);
        match echo {
            Some(echo) => {
                assert_eq!(got.failed, peer_closed(), "{payload:?}");
                assert_eq!(encode(&mut l, &[]), echo, "{payload:?}");
            }
            None => {
                assert_eq!(got.failed, read_error(ErrorKind::Malformed), "{payload:?}");
                assert!(!l.wants_write(), "{payload:?}");
            }
        }
    }
}

#[test]
fn each_frame_rule_has_its_error() {
    let m = |b0: u8, payload: &[u8]| frame_with(b0, payload, Some(KEY));
    let open = |then: Vec<u8>| [m(0x02, b"x"), then].concat();
    let no_deflate = WsOptions {
        compress: false,
        ..server_opts()
    };
    let len64 = [&[0x82, 0xff, 0x80][..], &[0; 7], &KEY].concat();
    let cases: Vec<(Vec<u8>, WsOptions, WsError)> = [
        (m(0xa2, b"x"), WsError::ReservedBits),
        (m(0x92, b"x"), WsError::ReservedBits),
        (frame_with(0x82, b"x", None), WsError::MaskMissing),
        (m(0x89, &[b'x'; 126]), WsError::ControlTooLong),
        (m(0x09, b"x"), WsError::ControlNotFinal),
        (m(0xc9, b"x"), WsError::ControlCompressed),
        (open(m(0x82, b"y")), WsError::NewMessageBeforeFinal),
        (m(0x80, b"x"), WsError::InvalidContinuation),
        (open(m(0xc0, b"y")), WsError::InvalidContinuation),
        (m(0x83, b"x"), WsError::UnknownOpcode(3)),
        (m(0x8b, b"x"), WsError::UnknownOpcode(11)),
        (len64, WsError::Invalid64BitLength),
    ]
    .into_iter()
    .map(|(stream, e)| (stream, server_opts(), e))
    .chain([(m(0xc2, b"x"), no_deflate, WsError::CompressedWithoutDeflate)])
    .collect();
    for (stream, opts, want) in cases {
        at_every_split(
            opts,
            &stream,
            &Run {
                plain: stream_prefix_plain(&stream),
                failed: read_error(ErrorKind::Malformed),
            },
            |l, at| {
                assert_eq!(l.error(), Some(want), "{at}");
                // nats-server closes without flushing its 1002 close frame.
                assert!(!l.wants_write(), "{at}");
            },
        );
    }
    assert_eq!(
        WsError::ControlTooLong.to_string(),
        "control frame length bigger than maximum allowed of 125 bytes"
    );
    assert_eq!(WsError::UnknownOpcode(3).to_string(), "unknown opcode 3");
}

/// The data a rule-breaking stream of the cases above delivers first.
fn stream_prefix_plain(stream: &[u8]) -> Vec<u8> {
    // Only the two-frame cases start with a valid (unfinished) frame
    // carrying "x".
    if stream[0] == 0x02 {
        b"x".to_vec()
    } else {
        Vec::new()
    }
}

#[test]
fn a_failed_layer_stays_failed() {
    let mut l = WsLayer::new(server_opts(), 1);
    let d = l.decode(Bytes::from(frame_with(0x82, b"x", None)));
    let e = d.failed.expect("unmasked");
    let again = l.decode(Bytes::from(masked(b"PING\r\n")));
    assert!(again.plain.is_empty());
    assert_eq!(again.failed, Some(e));
}

// ---------------------------------------------------------------------
// Write side.
// ---------------------------------------------------------------------

#[test]
fn the_server_writes_one_binary_frame_per_flush_without_copying() {
    let mut l = WsLayer::new(
        WsOptions {
            compress: false,
            ..server_opts()
        },
        1,
    );
    let big = Bytes::from(vec![b'p'; 5000]);
    let chunks = [
        Bytes::from_static(b"MSG a 1 5000\r\n"),
        big.clone(),
        Bytes::from_static(b"\r\n"),
    ];
    let mut out = Vec::new();
    l.encode(&chunks, &mut out).expect("encode");
    assert_eq!(&out[0][..], &[0x82, 126, 0x13, 0x98]);
    assert!(out.iter().any(|c| c.as_ptr() == big.as_ptr()));
    let mut want = vec![0x82, 126, 0x13, 0x98];
    want.extend_from_slice(&chunks.concat());
    assert_eq!(out.concat(), want);
    // Sizes at each length form.
    for (n, head) in [(125usize, 2usize), (126, 4), (65535, 4), (65536, 10)] {
        let wire = encode(&mut l, &[&vec![0u8; n]]);
        assert_eq!(wire.len(), head + n, "{n}");
    }
}

#[test]
fn flushes_above_64_bytes_are_compressed_with_rsv1() {
    let mut l = WsLayer::new(server_opts(), 1);
    let small = encode(&mut l, &[&[b'a'; 64]]);
    assert_eq!(&small[..2], &[0x82, 64]);
    let data = b"MSG foo 1 5\r\nhello\r\n".repeat(10);
    let wire = encode(&mut l, &[&data[..100], &data[100..]]);
    assert_eq!(wire[0], 0xc2);
    assert!(wire.len() < data.len());
    // Each flush is a message of its own: a fresh reader inflates both.
    let wire2 = encode(&mut l, &[&data]);
    let mut peer = WsLayer::new(client_opts(), 7);
    let got = run(&mut peer, &[&wire, &wire2]);
    assert_eq!(got.failed, None);
    assert_eq!(got.plain, [data.clone(), data].concat());
}

#[test]
fn browsers_get_frames_of_at_most_4096_bytes_cut_as_nats_server_cuts() {
    let opts = WsOptions {
        compress: false,
        frame_limit: BROWSER_FRAME_SIZE,
        ..server_opts()
    };
    let mut l = WsLayer::new(opts, 1);
    // 3000 fits; 3000 more does not: a new frame. 10000 is cut at 4096,
    // and its last 1808 stay open for the 100 after it.
    let sizes = [3000usize, 3000, 10_000, 100];
    let chunks: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| vec![i as u8; n])
        .collect();
    let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    let wire = encode(&mut l, &refs);
    let mut lens = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        assert_eq!(wire[at], 0x82);
        let (len, head) = match wire[at + 1] {
            126 => (u16::from_be_bytes([wire[at + 2], wire[at + 3]]) as usize, 4),
            n => (n as usize, 2),
        };
        lens.push(len);
        at += head + len;
    }
    assert_eq!(lens, vec![3000, 3000, 4096, 4096, 1908]);
    let mut peer = WsLayer::new(client_opts(), 1);
    assert_eq!(run(&mut peer, &[&wire]).plain, chunks.concat());
}

#[test]
fn compressed_messages_to_browsers_are_fragmented_except_for_safari() {
    let data: Vec<u8> = (0..60_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for fragment in [true, false] {
        let opts = WsOptions {
            frame_limit: BROWSER_FRAME_SIZE,
            fragment_compressed: fragment,
            ..server_opts()
        };
        let mut l = WsLayer::new(opts, 1);
        let wire = encode(&mut l, &[&data]);
        assert_eq!(wire[0], if fragment { 0x42 } else { 0xc2 });
        if fragment {
            // The first continuation frame follows the first 4096 bytes.
            assert_eq!(&wire[1..4], &[126, 0x10, 0x00]);
            assert_eq!(wire[4 + 4096] & 0x4f, 0x00);
        }
        let mut peer = WsLayer::new(client_opts(), 1);
        let got = run(&mut peer, &[&wire]);
        assert_eq!(got.failed, None);
        assert_eq!(got.plain, data);
    }
}

#[test]
fn a_client_masks_every_frame_with_a_fresh_key() {
    let mut c = WsLayer::new(client_opts(), 42);
    let mut server = WsLayer::new(server_opts(), 1);
    let a = encode(&mut c, &[b"CONNECT {}\r\n"]);
    let b = encode(&mut c, &[b"CONNECT {}\r\n"]);
    assert_eq!(a[1] & 0x80, 0x80);
    assert_ne!(a[2..6], b[2..6], "a fresh key per frame");
    let big = vec![b'q'; 1000];
    let d = encode(&mut c, &[&big]);
    assert_eq!(d[0], 0xc2);
    let got = run(&mut server, &[&a, &b, &d]);
    assert_eq!(got.failed, None);
    assert_eq!(
        got.plain,
        [&b"CONNECT {}\r\nCONNECT {}\r\n"[..], &big].concat()
    );
    // The same seed gives the same keys.
    let mut again = WsLayer::new(client_opts(), 42);
    assert_eq!(encode(&mut again, &[b"CONNECT {}\r\n"]), a);
    // Without masking agreed, frames go out plain.
    let plain = WsOptions {
        mask: false,
        compress: false,
        ..client_opts()
    };
    let mut c = WsLayer::new(plain, 42);
    assert_eq!(encode(&mut c, &[b"PING\r\n"]), b"\x82\x06PING\r\n");
}

#[test]
fn pong_goes_before_the_data_and_close_after_it() {
    let mut l = WsLayer::new(server_opts(), 1);
    assert_eq!(run(&mut l, &[&frame_with(0x89, b"p", Some(KEY))]), ok(b""));
    l.queue_close_for(CloseReason::AuthenticationViolation);
    let wire = encode(&mut l, &[b"-ERR 'Authorization Violation'\r\n"]);
    // As nats-server 2.15.1 sent it (observed), after the pong.
    let mut want = b"\x8a\x01p".to_vec();
    want.extend_from_slice(
        b"\x82 -ERR 'Authorization Violation'\r\n\x88\x18\x03\xf0Authentication Failure",
    );
    assert_eq!(wire, want);
    let late = l.encode(&[Bytes::from_static(b"x")], &mut Vec::new());
    assert_eq!(late.map_err(|e| e.kind), Err(ErrorKind::WriteAfterClose));
    // Nothing to say after it.
    assert_eq!(encode(&mut l, &[]), b"");
}

#[test]
fn goodbye_is_a_normal_close_unless_another_was_chosen() {
    let mut l = WsLayer::new(server_opts(), 1);
    l.queue_goodbye();
    assert!(l.wants_write());
    assert_eq!(encode(&mut l, &[]), b"\x88\x02\x03\xe8");
    let mut l = WsLayer::new(server_opts(), 1);
    l.queue_close(1001, &"x".repeat(200));
    l.queue_goodbye();
    let wire = encode(&mut l, &[]);
    assert_eq!(&wire[..4], &[0x88, 125, 0x03, 0xe9]);
    assert!(wire.ends_with(b"xxx..."));
    assert_eq!(wire.len(), 127);
}

#[test]
fn goodbye_through_the_transport_follows_the_last_data() {
    let mut t = Transport::default();
    let mut out = Outbound::default();
    let opts = WsOptions {
        compress: false,
        ..server_opts()
    };
    let d = t.push_inner(
        Layer::Ws(Box::new(WsLayer::new(opts, 1))),
        Bytes::new(),
        &out,
    );
    assert!(d.plain.is_empty() && d.failed.is_none());
    out.push_slice(b"-ERR 'Stale Connection'\r\n");
    if let Some(ws) = t.ws_mut() {
        ws.queue_close_for(CloseReason::StaleConnection);
    }
    t.queue_goodbye();
    assert!(t.wants_write());
    let mut dst = Vec::new();
    let n = t.take(&mut out, &mut dst).expect("take");
    let mut want = frame_with(0x82, b"-ERR 'Stale Connection'\r\n", None);
    want.extend(frame_with(0x88, b"\x03\xe9Stale Connection", None));
    assert_eq!(dst.concat(), want);
    // The plaintext counts, the frame bytes do not.
    assert_eq!(t.written(n, &mut out), 25);
    assert_eq!(out.pending(), 0);
    out.push_slice(b"PING\r\n");
    let e = t
        .take(&mut out, &mut Vec::new())
        .expect_err("after the close");
    assert_eq!(e.kind, ErrorKind::WriteAfterClose);
}

#[test]
fn close_statuses_follow_nats_server() {
    assert_eq!(close_status(CloseReason::ClientClosed), 1000);
    assert_eq!(close_status(CloseReason::ServerShutdown), 1001);
    assert_eq!(close_status(CloseReason::StaleConnection), 1001);
    assert_eq!(close_status(CloseReason::ProtocolViolation), 1002);
    assert_eq!(close_status(CloseReason::AuthenticationTimeout), 1008);
    assert_eq!(close_status(CloseReason::SlowConsumerPendingBytes), 1008);
    assert_eq!(close_status(CloseReason::MaxPayloadExceeded), 1009);
    assert_eq!(close_status(CloseReason::DuplicateRemoteLeafnode), 1011);
    assert_eq!(close_status(CloseReason::TlsHandshakeError), 1015);
}

#[test]
fn the_plain_hot_path_does_not_allocate() {
    let opts = WsOptions {
        compress: false,
        ..server_opts()
    };
    let mut t = Transport::default();
    let mut out = Outbound::default();
    let _ = t.push_inner(
        Layer::Ws(Box::new(WsLayer::new(opts, 1))),
        Bytes::new(),
        &out,
    );
    let read = Bytes::from(masked(b"PUB a 5\r\nhello\r\n"));
    let payload = Bytes::from(vec![b'm'; 256]);
    let mut dst = Vec::with_capacity(8);
    let mut round = |t: &mut Transport, out: &mut Outbound| {
        let d = t.decode(read.clone());
        assert_eq!(&d.plain[..], b"PUB a 5\r\nhello\r\n");
        drop(d);
        out.push_slice(b"MSG a 1 256\r\n");
        out.push_payload(&payload);
        out.push_slice(b"\r\n");
        let n = t.take(out, &mut dst).expect("take");
        assert_eq!(t.written(n, out), 13 + 256 + 2);
        dst.clear();
    };
    for _ in 0..3 {
        round(&mut t, &mut out);
    }
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            round(&mut t, &mut out);
        }
    });
    assert_eq!(info.count_total, 0);
}

// ---------------------------------------------------------------------
// Through the transport, switched on at the exact byte.
// ---------------------------------------------------------------------

/// The RFC's sample key, also what the captures below used.
const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn upgrade_request(extra: &str) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:18222\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// A transport that switches a layer with `opts` on with `rest` (what
/// followed the handshake in its read), then reads `later`: the
/// transport, its queue and the plaintext.
fn switch_on(opts: WsOptions, rest: &[u8], later: &[u8]) -> (Transport, Outbound, Vec<u8>) {
    let mut t = Transport::default();
    let out = Outbound::default();
    let layer = Layer::Ws(Box::new(WsLayer::new(opts, 9)));
    let d = t.push_inner(layer, Bytes::copy_from_slice(rest), &out);
    assert_eq!(d.failed, None);
    let mut plain = d.plain.to_vec();
    let d = t.decode(Bytes::copy_from_slice(later));
    assert_eq!(d.failed, None);
    plain.extend_from_slice(&d.plain);
    (t, out, plain)
}

#[test]
fn the_server_switches_on_at_the_byte_after_the_request() {
    let mut stream = upgrade_request("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    let head = stream.len();
    stream.extend(masked(b"CONNECT {}\r\n"));
    stream.extend(frame_with(0xc2, &browser_deflate(b"PING\r\n"), Some(KEY)));
    for cut in head..=stream.len() {
        // The engine reads the request and whatever followed it.
        let (req, n) = handshake::parse_request(&stream[..cut], false)
            .expect("valid")
            .expect("complete");
        assert_eq!(n, head);
        assert!(req.compress_offered);
        let opts = req.server_options(true, 1 << 20);
        let (t, _, plain) = switch_on(opts, &stream[n..cut], &stream[cut..]);
        assert_eq!(plain, b"CONNECT {}\r\nPING\r\n", "cut at {cut}");
        assert!(t.ws().is_some_and(WsLayer::compress));
    }
    // Before the blank line there is nothing to decide.
    for cut in 0..head {
        assert_eq!(
            handshake::parse_request(&stream[..cut], false),
            Ok(None),
            "{cut}"
        );
    }
}

#[test]
fn the_client_switches_on_at_the_byte_after_the_101() {
    let key = handshake::client_key([7; 16]);
    let mut stream = handshake::response_101(&key, true, true, &[]);
    let head = stream.len();
    // The server's INFO in a frame and a compressed PING, in the same read.
    stream.extend(frame_with(0x82, b"INFO {}\r\n", None));
    stream.extend(frame_with(
        0xc2,
        &browser_deflate(&b"PING\r\n".repeat(20)),
        None,
    ));
    for cut in head..=stream.len() {
        let (agreed, n) = handshake::parse_response(&stream[..cut], &key, true, true)
            .expect("valid")
            .expect("complete");
        assert_eq!(n, head);
        assert_eq!(
            agreed,
            handshake::Agreed {
                compress: true,
                no_masking: true
            }
        );
        let opts = agreed.client_options(1 << 20);
        let (mut t, mut out, plain) = switch_on(opts, &stream[n..cut], &stream[cut..]);
        assert_eq!(
            plain,
            [&b"INFO {}\r\n"[..], &b"PING\r\n".repeat(20)].concat()
        );
        // No masking agreed: the CONNECT goes out plain.
        out.push_slice(b"CONNECT {}\r\n");
        let mut dst = Vec::new();
        t.take(&mut out, &mut dst).expect("take");
        assert_eq!(dst.concat(), b"\x82\x0cCONNECT {}\r\n");
    }
    for cut in 0..head {
        assert_eq!(
            handshake::parse_response(&stream[..cut], &key, true, true),
            Ok(None)
        );
    }
}

// ---------------------------------------------------------------------
// Handshakes, against nats-server 2.15.1's bytes.
// ---------------------------------------------------------------------

const DATE: &str = "Mon, 07 Dec 2026 20:48:52 GMT";

#[test]
fn the_101_is_nats_servers() {
    assert_eq!(
        handshake::accept_key(SAMPLE_KEY),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    let base = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    let pmc = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n";
    let nm = "Nats-No-Masking: true\r\n";
    let cases = [
        (false, false, format!("{base}\r\n")),
        (true, false, format!("{base}{pmc}\r\n")),
        (false, true, format!("{base}{nm}\r\n")),
        (true, true, format!("{base}{pmc}{nm}\r\n")),
    ];
    for (compress, no_masking, want) in cases {
        let got = handshake::response_101(SAMPLE_KEY, compress, no_masking, &[]);
        assert_eq!(String::from_utf8(got).expect("ascii"), want);
    }
    let extra = [("X-Custom".to_string(), "v".to_string())];
    let got = handshake::response_101(SAMPLE_KEY, false, false, &extra);
    assert!(got.ends_with(b"=\r\nX-Custom: v\r\n\r\n"));
}

/// The request and the answer nats-server 2.15.1 gave it (captured over a
/// socket; `Date` set to `DATE`), with whether it kept the connection.
fn refusals() -> Vec<(&'static str, Vec<u8>, &'static str, bool)> {
    let good = upgrade_request("");
    let swap = |from: &str, to: &str| {
        String::from_utf8(good.clone())
            .expect("ascii")
            .replacen(from, to, 1)
            .into_bytes()
    };
    let upgrade_err = |status: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nDate: {DATE}\r\nContent-Length: {}\r\n\r\n{body}\n",
            body.len() + 1
        )
    };
    let bad = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request";
    vec![
        ("post", swap("GET", "POST"), leak(upgrade_err("405 Method Not Allowed", "Method Not Allowed")), true),
        ("no host", swap("Host: 127.0.0.1:18222\r\n", ""), "HTTP/1.1 400 Bad Request: missing required Host header\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: missing required Host header", false),
        ("no host, HTTP/1.0", swap("Host: 127.0.0.1:18222\r\n", "").replace_first(b"HTTP/1.1", b"HTTP/1.0"), leak(upgrade_err("400 Bad Request", "Bad Request").replacen("HTTP/1.1", "HTTP/1.0", 1)), false),
        ("empty host", swap("Host: 127.0.0.1:18222", "Host: "), leak(upgrade_err("400 Bad Request", "Bad Request")), true),
        ("bad upgrade", swap("Upgrade: websocket", "Upgrade: foo"), leak(upgrade_err("400 Bad Request", "Bad Request")), true),
        ("bad connection", swap("Connection: Upgrade", "Connection: keep-alive"), leak(upgrade_err("400 Bad Request", "Bad Request")), true),
        ("no key", swap(&format!("Sec-WebSocket-Key: {SAMPLE_KEY}\r\n"), ""), leak(upgrade_err("400 Bad Request", "Bad Request")), true),
        ("short key", swap(SAMPLE_KEY, "abc"), leak(upgrade_err("400 Bad Request", "Bad Request")), true),
        ("unpadded key", swap(SAMPLE_KEY, "dGhlIHNhbXBsZSBub25jZQ"), leak(upgrade_err("400 Bad Request", "Bad Request")), true),
        ("bad version", swap("Version: 13", "Version: 12"), leak(upgrade_err("400 Bad Request", "Bad Request")), true),
        ("mqtt", swap("GET /", "GET /mqtt"), leak(upgrade_err("404 Not Found", "Not Found")), true),
        ("garbage", b"HELLO\r\n\r\n".to_vec(), bad, false),
        ("short request line", b"GET /\r\n\r\n".to_vec(), bad, false),
        ("trailing space", swap("HTTP/1.1", "HTTP/1.1 "), bad, false),
        ("bad method", swap("GET", "G(T"), bad, false),
        ("HTTP/2.0", swap("HTTP/1.1", "HTTP/2.0"), "HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n505 HTTP Version Not Supported: unsupported protocol version", false),
        ("two hosts", swap("Upgrade:", "Host: x\r\nUpgrade:"), bad, false),
        ("bad host", swap("127.0.0.1:18222", "a b"), "HTTP/1.1 400 Bad Request: malformed Host header\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: malformed Host header", false),
        ("no colon", swap("Upgrade:", "Foo\r\nUpgrade:"), bad, false),
        ("space in name", swap("Upgrade:", "Fo o: x\r\nUpgrade:"), "HTTP/1.1 400 Bad Request: invalid header name\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: invalid header name", false),
        ("@ in name", swap("Upgrade:", "X@: a\r\nUpgrade:"), bad, false),
        ("control byte in value", swap("Upgrade:", "X: a\x01b\r\nUpgrade:"), bad, false),
        ("leading space", swap("\r\nHost", "\r\n Host"), bad, false),
        ("relative target", swap("GET /", "GET foo"), bad, false),
        ("bad escape", swap("GET /", "GET /a%zz"), bad, false),
        ("bad content length", swap("Upgrade:", "Content-Length: x\r\nUpgrade:"), bad, false),
        ("gzip", swap("Upgrade:", "Transfer-Encoding: gzip\r\nUpgrade:"), "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nUnsupported transfer encoding", false),
        ("star", swap("GET /", "GET *"), leak(format!("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nDate: {DATE}\r\nContent-Length: 0\r\n\r\n")), false),
        ("options star", swap("GET /", "OPTIONS *"), leak(format!("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: {DATE}\r\n\r\n")), true),
        ("h2 preface", b"PRI * HTTP/2.0\r\n\r\n".to_vec(), leak(format!("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nDate: {DATE}\r\nContent-Length: 0\r\n\r\n")), false),
        ("double slash", swap("GET /", "GET //leafnode"), leak(format!("HTTP/1.1 307 Temporary Redirect\r\nContent-Type: text/html; charset=utf-8\r\nLocation: /leafnode\r\nDate: {DATE}\r\nContent-Length: 45\r\n\r\n<a href=\"/leafnode\">Temporary Redirect</a>.\n\n")), true),
        ("dot dot", swap("GET /", "GET /a/../leafnode?q=1"), leak(format!("HTTP/1.1 307 Temporary Redirect\r\nContent-Type: text/html; charset=utf-8\r\nLocation: /leafnode?q=1\r\nDate: {DATE}\r\nContent-Length: 49\r\n\r\n<a href=\"/leafnode?q=1\">Temporary Redirect</a>.\n\n")), true),
        ("post redirect", swap("GET /", "POST //x"), leak(format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: /x\r\nDate: {DATE}\r\nContent-Length: 0\r\n\r\n")), true),
        ("head redirect", swap("GET /", "HEAD //x"), leak(format!("HTTP/1.1 307 Temporary Redirect\r\nContent-Type: text/html; charset=utf-8\r\nLocation: /x\r\nDate: {DATE}\r\n\r\n")), true),
        ("trailing slash kept", swap("GET /", "GET /a/./b/"), leak(format!("HTTP/1.1 307 Temporary Redirect\r\nContent-Type: text/html; charset=utf-8\r\nLocation: /a/b/\r\nDate: {DATE}\r\nContent-Length: 41\r\n\r\n<a href=\"/a/b/\">Temporary Redirect</a>.\n\n")), true),
        ("connection close", swap("GET", "POST").replace_first(b"Upgrade: websocket", b"Upgrade: websocket\r\nConnection: close"), leak(format!("HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nDate: {DATE}\r\nContent-Length: 19\r\nConnection: close\r\n\r\nMethod Not Allowed\n")), false),
        ("HTTP/1.0 keep-alive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec(), leak(format!("HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nDate: {DATE}\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nBad Request\n")), true),
    ]
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

trait ReplaceFirst {
    fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceFirst for Vec<u8> {
    fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = self
            .windows(from.len())
            .position(|w| w == from)
            .expect("present");
        [&self[..at], to, &self[at + from.len()..]].concat()
    }
}

#[test]
fn refusals_are_nats_servers_bytes() {
    for (name, request, want, keep_alive) in refusals() {
        let err = handshake::parse_request(&request, false).expect_err(name);
        let got = handshake::error_response(&err, DATE);
        assert_eq!(String::from_utf8_lossy(&got), want, "{name}");
        assert_eq!(err.keep_alive, keep_alive, "{name}");
    }
}

#[test]
fn refusals_carry_nats_servers_log_texts() {
    let good = String::from_utf8(upgrade_request("")).expect("ascii");
    let cases = [
        ("GET", "POST", "request method must be GET"),
        (
            "Upgrade: websocket",
            "Upgrade: foo",
            "invalid value for header 'Upgrade'",
        ),
        (
            "Connection: Upgrade",
            "Connection: x",
            "invalid value for header 'Connection'",
        ),
        (SAMPLE_KEY, "", "key missing"),
        (SAMPLE_KEY, "AAAA", "invalid websocket key"),
        ("Version: 13", "Version: 8", "invalid version"),
        (
            "Host: 127.0.0.1:18222",
            "Host: ",
            "'Host' missing in request",
        ),
        (
            "GET /",
            "GET /x/mqtt",
            "mqtt websocket endpoint not enabled",
        ),
    ];
    for (from, to, text) in cases {
        let req = good.replacen(from, to, 1);
        let err = handshake::parse_request(req.as_bytes(), false).expect_err(text);
        assert_eq!(err.text, text);
        assert!(err.logged);
    }
}

#[test]
fn requests_nats_server_accepts() {
    let cases = [
        // Tokens are matched ignoring case, in lists; values trimmed.
        "GET /x HTTP/1.1\r\nhost: h\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-key:   dGhlIHNhbXBsZSBub25jZQ==  \r\nsec-websocket-version: 8, 13\r\n\r\n",
        // Bare line feeds.
        "GET / HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n\n",
        // HTTP/1.2 is HTTP/1; a folded header line.
        "GET / HTTP/1.2\r\nHost: h\r\nX: a\r\n b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ];
    for req in cases {
        let (r, n) = handshake::parse_request(req.as_bytes(), false)
            .expect(req)
            .expect("complete");
        assert_eq!(n, req.len());
        assert_eq!(r.key, SAMPLE_KEY);
        assert_eq!(r.kind, WsKind::Client);
    }
}

#[test]
fn what_a_request_tells() {
    let req = "GET http://hub:8080/x/leafnode?y=1 HTTP/1.1\r\nHost: other\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: foo, x; permessage-deflate\r\nNats-No-Masking: true\r\nCookie: a=1; jwt=\"tok\"; bad name=3; c=x y\r\nCookie: d=\"q\r\nUser-Agent: Mozilla/5.0 Version/17 Safari/605\r\nX-Forwarded-For: 10.1.2.3\r\nOrigin: http://hub:8080\r\n\r\n";
    let (r, _) = handshake::parse_request(req.as_bytes(), false)
        .expect("valid")
        .expect("complete");
    assert_eq!(r.kind, WsKind::Leaf);
    assert_eq!(r.path, "/x/leafnode");
    assert_eq!(r.host, "hub:8080");
    assert!(r.compress_offered && r.no_masking);
    assert_eq!(
        r.cookies,
        vec![
            ("a".to_string(), "1".to_string()),
            ("jwt".to_string(), "tok".to_string()),
            ("c".to_string(), "x y".to_string()),
        ]
    );
    assert_eq!(r.forwarded_for.as_deref(), Some("10.1.2.3"));
    // A leaf is never a browser.
    assert!(!r.is_browser());
    let client = handshake::UpgradeRequest {
        kind: WsKind::Client,
        ..r.clone()
    };
    assert!(client.is_browser() && client.is_safari());
    let o = client.server_options(true, 1000);
    assert_eq!(
        (
            o.compress,
            o.require_masked,
            o.frame_limit,
            o.fragment_compressed
        ),
        (true, false, BROWSER_FRAME_SIZE, false)
    );
    // `Nats-No-Masking` must be exactly `true`.
    let other = req.replace("Nats-No-Masking: true", "Nats-No-Masking: True");
    let (r, _) = handshake::parse_request(other.as_bytes(), false)
        .expect("valid")
        .expect("complete");
    assert!(!r.no_masking);
}

#[test]
fn data_after_the_request_is_for_the_engine_to_refuse() {
    let mut req = upgrade_request("");
    let n = req.len();
    req.extend_from_slice(b"\x81\x80abcd");
    let (_, used) = handshake::parse_request(&req, false)
        .expect("valid")
        .expect("complete");
    assert_eq!(used, n);
    let e = HandshakeError::data_before_handshake(used);
    assert!(e.is_silent() && e.logged);
    assert_eq!(handshake::error_response(&e, DATE), b"");
}

#[test]
fn a_head_that_never_ends_is_refused_at_the_bound() {
    let mut req = b"GET / HTTP/1.1\r\n".to_vec();
    while req.len() <= handshake::MAX_REQUEST_HEAD {
        req.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    let err = handshake::parse_request(&req, false).expect_err("too large");
    assert_eq!(
        handshake::error_response(&err, DATE),
        b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large"
    );
    // A request line alone, without its end, as well.
    let line = vec![b'a'; handshake::MAX_REQUEST_HEAD + 1];
    assert_eq!(
        handshake::parse_request(&line, false).map_err(|e| e.status),
        Err(431)
    );
}

#[test]
fn origins_as_nats_server_checks_them() {
    let with_origin = |origin: &str, host: &str| {
        let req = format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
        );
        handshake::parse_request(req.as_bytes(), false)
            .expect("valid")
            .expect("complete")
            .0
    };
    let allowed = vec![
        "https://app.example.com".to_string(),
        "http://x:8080".to_string(),
    ];
    let check = |origin: &str, host: &str, same: bool, list: &[String], tls: bool| {
        handshake::check_origin(&with_origin(origin, host), same, list, tls).map_err(|e| e.text)
    };
    // Nothing configured: anything goes.
    assert_eq!(check("http://evil", "h", false, &[], false), Ok(()));
    // Same origin: scheme, host (any case) and port, defaults filled in.
    assert_eq!(check("http://H:80", "h", true, &[], false), Ok(()));
    assert_eq!(check("https://h", "h:443", true, &[], true), Ok(()));
    assert_eq!(
        check("http://h:81", "h", true, &[], false),
        Err("origin not allowed: not same origin".into())
    );
    assert_eq!(
        check("https://h", "h", true, &[], false),
        Err("origin not allowed: not same origin".into())
    );
    // The allowed list.
    assert_eq!(
        check("https://APP.example.com:443", "h", false, &allowed, false),
        Ok(())
    );
    assert_eq!(
        check("http://x:8080/path", "h", false, &allowed, false),
        Ok(())
    );
    assert_eq!(
        check("http://app.example.com", "h", false, &allowed, false),
        Err("origin not allowed: not in the allowed list".into())
    );
    assert_eq!(
        check("null", "h", false, &allowed, false),
        Err("origin not allowed: parse \"null\": invalid URI for request".into())
    );
    assert_eq!(
        check("http://a:b:c", "h", false, &allowed, false),
        Err("origin not allowed: parse \"http://a:b:c\": invalid port \":c\" after host".into())
    );
    let refusal = handshake::check_origin(&with_origin("http://z", "h"), true, &[], false)
        .expect_err("refused");
    assert_eq!(
        String::from_utf8(handshake::error_response(&refusal, DATE)).expect("ascii"),
        format!("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nDate: {DATE}\r\nContent-Length: 10\r\n\r\nForbidden\n")
    );
}

#[test]
fn the_leaf_request_is_a_go_leafs() {
    // Observed from nats-server 2.15.1 leafs through a relay.
    let key = "Yq1q1JN7FaC7EwjHMKa7NQ==";
    assert_eq!(
        String::from_utf8(handshake::client_request("127.0.0.1:18223", "/leafnode", key, true, true)).expect("ascii"),
        "GET /leafnode HTTP/1.1\r\nHost: 127.0.0.1:18223\r\nUser-Agent: Go-http-client/1.1\r\nConnection: Upgrade\r\nNats-No-Masking: true\r\nSec-WebSocket-Key: Yq1q1JN7FaC7EwjHMKa7NQ==\r\nSec-WebSocket-Version: 13\r\nSec-Websocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\nUpgrade: websocket\r\n\r\n"
    );
    let path = handshake::leaf_path("/some/path");
    assert_eq!(path, "/some/path/leafnode");
    assert_eq!(
        String::from_utf8(handshake::client_request("127.0.0.1:18224", &path, "zPmOz1bVxrWIIE60H572ag==", false, false)).expect("ascii"),
        "GET /some/path/leafnode HTTP/1.1\r\nHost: 127.0.0.1:18224\r\nUser-Agent: Go-http-client/1.1\r\nConnection: Upgrade\r\nSec-WebSocket-Key: zPmOz1bVxrWIIE60H572ag==\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n\r\n"
    );
    assert_eq!(handshake::leaf_path(""), "/leafnode");
    assert_eq!(handshake::leaf_path("/"), "/leafnode");
    assert_eq!(handshake::leaf_path("/a/"), "/a/leafnode");
    assert_eq!(handshake::client_key([0; 16]), "AAAAAAAAAAAAAAAAAAAAAA==");
    // What the hub answered (observed), accepted.
    let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bOABCerK28y5dnl91zvF9nhzZEE=\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\nNats-No-Masking: true\r\n\r\n";
    assert_eq!(
        handshake::parse_response(answer, key, true, true),
        Ok(Some((
            handshake::Agreed {
                compress: true,
                no_masking: true
            },
            answer.len()
        )))
    );
}

#[test]
fn responses_a_leaf_refuses_or_downgrades() {
    let key = handshake::client_key([1; 16]);
    let accept = handshake::accept_key(&key);
    let resp = |extra: &str| {
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n")
    };
    let parse = |r: &str, c: bool, m: bool| {
        handshake::parse_response(r.as_bytes(), &key, c, m).map(|o| o.map(|(a, _)| a))
    };
    let agreed = |compress, no_masking| {
        Ok(Some(handshake::Agreed {
            compress,
            no_masking,
        }))
    };
    // No extension and no masking answer: silently off.
    assert_eq!(parse(&resp(""), true, true), agreed(false, false));
    // The extension without both parameters.
    assert_eq!(
        parse(
            &resp("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            true,
            false
        ),
        Err("compression negotiation error".into())
    );
    // Not asked for: ignored.
    assert_eq!(
        parse(
            &resp("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            false,
            false
        ),
        agreed(false, false)
    );
    let invalid = Err("invalid websocket connection".to_string());
    assert_eq!(
        parse(&resp("").replace("101", "200"), false, false),
        invalid
    );
    assert_eq!(
        parse(&resp("").replace(&accept, "x"), false, false),
        invalid
    );
    assert_eq!(
        parse(
            &resp("").replace("Connection: Upgrade", "Connection: upgrade, x"),
            false,
            false
        ),
        invalid
    );
    assert_eq!(
        parse("HTTP/1.1 1O1 x\r\n\r\n", false, false),
        Err("malformed HTTP status code \"1O1\"".into())
    );
    assert_eq!(
        parse("HTTP/1.1\r\n\r\n", false, false),
        Err("malformed HTTP response \"HTTP/1.1\"".into())
    );
}

// ---------------------------------------------------------------------
// The plaintext budget of a call: decompression bombs.
// ---------------------------------------------------------------------

const KIB64: usize = 64 * 1024;

/// A server reading a browser, messages of at most `max_message` bytes.
fn bomb_opts(max_message: usize) -> WsOptions {
    WsOptions {
        max_message,
        ..server_opts()
    }
}

/// The byte message `i` of a bomb is made of (message 0 is zeros).
fn fill(i: usize) -> u8 {
    (i % 4) as u8
}

/// The frames of bomb messages `0..4`: `len` bytes of `fill(i)` each,
/// compressed as a browser does (raw deflate), in one masked frame with
/// RSV1; a few dozen bytes each on the wire.
fn bomb_frames(len: usize) -> Vec<Vec<u8>> {
    (0..4)
        .map(|i| frame_with(0xc2, &browser_deflate(&vec![fill(i); len]), Some(KEY)))
        .collect()
}

/// A decompression bomb: `count` such messages.
fn bomb(count: usize, len: usize) -> Vec<u8> {
    let frames = bomb_frames(len);
    (0..count).flat_map(|i| frames[i % 4].clone()).collect()
}

/// Checks that `got` continues the plaintext of a bomb of `len`-byte
/// messages at `*pos`, and moves `*pos` on.
fn check_bomb(got: &[u8], pos: &mut usize, len: usize) {
    let mut rest = got;
    while !rest.is_empty() {
        let (i, at) = (*pos / len, *pos % len);
        let n = (len - at).min(rest.len());
        assert!(
            rest[..n].iter().all(|&b| b == fill(i)),
            "plaintext at {}",
            *pos
        );
        rest = &rest[n..];
        *pos += n;
    }
}

/// Most bytes one decode call may have allocated and in use at once:
/// the plaintext it returns (below `budget + max_message`) in a buffer
/// grown by doubling, the inflater's state and window, and slack.
fn alloc_bound(budget: usize, max_message: usize) -> u64 {
    (2 * (budget + max_message) + 128 * 1024) as u64
}

#[test]
fn a_bomb_of_tiny_compressed_messages_decodes_one_budget_a_call() {
    const COUNT: usize = 300;
    let max_message = KIB64;
    let wire = Bytes::from(bomb(COUNT, max_message));
    // Over 18 MiB of plaintext in far less than one read (256 KiB).
    assert!(wire.len() < 64 * 1024, "{} bytes", wire.len());
    let mut l = WsLayer::new(bomb_opts(max_message), 1);
    let budget = l.budget();
    assert_eq!(budget, KIB64);
    let mut d = None;
    let info = allocation_counter::measure(|| d = Some(l.decode(wire.clone())));
    let d = d.expect("decoded");
    assert_eq!(d.failed, None);
    // One message reaches the budget: the call stops at the next frame
    // header, far below budget + one message.
    assert_eq!(d.plain.len(), max_message);
    assert!(
        info.bytes_max < alloc_bound(budget, max_message),
        "{info:?}"
    );
    assert!(l.has_pending());
    // What is held is the rest of the read, not more.
    assert!(l.buffered() < wire.len());
    let mut pos = 0;
    check_bomb(&d.plain, &mut pos, max_message);
    let mut calls = 1;
    // The parser may keep slices of what a call returned (payloads): the
    // next call then decodes into a new buffer, within the same bound.
    let mut kept = d.plain;
    while l.has_pending() {
        let mut d = None;
        let info = allocation_counter::measure(|| d = Some(l.decode(Bytes::new())));
        let d = d.expect("decoded");
        assert_eq!(d.failed, None);
        assert_eq!(d.plain.len(), max_message, "call {calls}");
        assert!(
            info.bytes_max < alloc_bound(budget, max_message),
            "{info:?}"
        );
        assert!(l.buffered() < wire.len());
        check_bomb(&d.plain, &mut pos, max_message);
        if calls % 2 == 0 {
            kept = d.plain;
        }
        calls += 1;
    }
    drop(kept);
    assert_eq!((calls, pos), (COUNT, COUNT * max_message));
    assert_eq!(l.buffered(), 0);
    assert!(!l.wants_write());
    // Nothing more: an empty decode returns nothing.
    let d = l.decode(Bytes::new());
    assert!(d.plain.is_empty() && d.failed.is_none() && !l.has_pending());
}

#[test]
fn messages_smaller_than_the_budget_fill_it_and_one_more() {
    // Compressed messages of many sizes (one fragmented), uncompressed
    // frames and pings, against a 64 KiB budget and limit.
    let max_message = KIB64;
    let sizes = [40_000, 30_000, 1, max_message, 20_000, 5_000, 65_000];
    let mut wire = Vec::new();
    let mut want = Vec::new();
    for round in 0..12u8 {
        for (i, &n) in sizes.iter().enumerate() {
            let byte = round.wrapping_mul(7).wrapping_add(i as u8);
            let data = vec![byte; n];
            match i {
                5 => wire.extend(masked(&data)),
                6 => {
                    let c = browser_deflate(&data);
                    let (a, b) = c.split_at(c.len() / 2);
                    wire.extend(frame_with(0x42, a, Some(KEY)));
                    wire.extend(frame_with(0x89, b"p", Some(KEY)));
                    wire.extend(frame_with(0x80, b, Some(KEY)));
                }
                _ => wire.extend(frame_with(0xc2, &browser_deflate(&data), Some(KEY))),
            }
            want.extend_from_slice(&data);
        }
    }
    let wire = Bytes::from(wire);
    let mut l = WsLayer::new(bomb_opts(max_message), 1);
    let budget = l.budget();
    let mut got = Vec::new();
    let mut d = l.decode(wire.clone());
    let mut calls = 1;
    loop {
        assert_eq!(d.failed, None);
        // Below the budget, plus at most one message.
        assert!(d.plain.len() < budget + max_message, "{}", d.plain.len());
        assert!(l.buffered() <= wire.len());
        got.extend_from_slice(&d.plain);
        if !l.has_pending() {
            break;
        }
        // Stopped only once the budget was reached.
        assert!(d.plain.len() >= budget, "{}", d.plain.len());
        d = l.decode(Bytes::new());
        calls += 1;
    }
    assert!(got == want);
    assert!(calls > want.len() / (budget + max_message));
    assert_eq!(l.buffered(), 0);
}

#[test]
fn uncompressed_data_fills_the_budget_exactly_as_slices_of_the_read() {
    // A leaf's unmasked frames: one frame larger than the budget comes
    // out a budget a call, each a slice of the read.
    let opts = WsOptions {
        require_masked: false,
        max_message: 1000,
        ..server_opts()
    };
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let read = Bytes::from(frame_with(0x82, &data, None));
    let mut l = WsLayer::new(opts, 1);
    assert_eq!(l.budget(), KIB64);
    let mut d = l.decode(read.clone());
    let mut at = 10;
    loop {
        assert_eq!(d.failed, None);
        assert_eq!(d.plain.as_ptr(), read[at..].as_ptr(), "no copy");
        assert_eq!(d.plain.len(), KIB64.min(read.len() - at));
        at += d.plain.len();
        assert_eq!(l.buffered(), read.len() - at);
        if !l.has_pending() {
            break;
        }
        d = l.decode(Bytes::new());
    }
    assert_eq!(at, read.len());
    // A compressed message, then uncompressed data: the call stops where
    // the budget is full, inside the uncompressed frame.
    let mut l = WsLayer::new(opts, 1);
    let mut stream = frame_with(0xc2, &browser_deflate(&[b'c'; 1000]), None);
    stream.extend(frame_with(0x82, &data, None));
    let d = l.decode(Bytes::from(stream));
    assert_eq!(d.plain.len(), KIB64);
    assert_eq!(&d.plain[..1000], &[b'c'; 1000][..]);
    assert!(d.plain[1000..] == data[..KIB64 - 1000]);
    assert!(l.has_pending());
}

#[test]
fn a_bomb_at_every_split() {
    // Two messages of the budget each, data and pings between: every
    // split, drained after each read, gives the same plaintext and
    // answers the latest ping.
    let len = KIB64;
    let frames = bomb_frames(len);
    let mut stream = masked(b"PING\r\n");
    stream.extend(&frames[0]);
    stream.extend(frame_with(0x89, b"1", Some(KEY)));
    stream.extend(&frames[1]);
    stream.extend(frame_with(0x89, b"2", Some(KEY)));
    stream.extend(masked(b"PONG\r\n"));
    let mut want = b"PING\r\n".to_vec();
    want.extend(std::iter::repeat_n(fill(0), len));
    want.extend(std::iter::repeat_n(fill(1), len));
    want.extend_from_slice(b"PONG\r\n");
    at_every_split(bomb_opts(len), &stream, &ok(&want), |l, at| {
        assert!(!l.has_pending() && l.buffered() == 0, "{at}");
        assert_eq!(encode(l, &[]), frame_with(0x8a, b"2", None), "{at}");
    });
}

#[test]
fn a_read_handed_in_before_draining_follows_what_is_held() {
    let len = 4096;
    let wire = bomb(40, len);
    let tail = [
        masked(b"PING\r\n"),
        frame_with(0xc2, &browser_deflate(&vec![9; len]), Some(KEY)),
    ]
    .concat();
    let mut l = WsLayer::new(bomb_opts(len), 1);
    let mut got = l.decode(Bytes::from(wire)).plain.to_vec();
    assert!(l.has_pending());
    // The engine drains first; a read that comes anyway is decoded after
    // the held input, in order.
    let d = l.decode(Bytes::from(tail));
    assert_eq!(d.failed, None);
    got.extend_from_slice(&d.plain);
    while l.has_pending() {
        let d = l.decode(Bytes::new());
        assert_eq!(d.failed, None);
        got.extend_from_slice(&d.plain);
    }
    let mut pos = 0;
    check_bomb(&got[..40 * len], &mut pos, len);
    assert_eq!(&got[40 * len..][..6], b"PING\r\n");
    assert!(got[40 * len + 6..] == vec![9; len][..]);
}

#[test]
fn a_failure_after_held_input_comes_after_its_plaintext() {
    let len = KIB64;
    let mut wire = bomb(5, len);
    wire.extend(frame_with(0x82, b"x", None)); // not masked: fails
    let mut l = WsLayer::new(bomb_opts(len), 1);
    let mut got = Vec::new();
    let mut d = l.decode(Bytes::from(wire));
    while d.failed.is_none() {
        assert!(l.has_pending());
        got.extend_from_slice(&d.plain);
        d = l.decode(Bytes::new());
    }
    got.extend_from_slice(&d.plain);
    let mut pos = 0;
    check_bomb(&got, &mut pos, len);
    assert_eq!(pos, 5 * len);
    assert_eq!(d.failed, read_error(ErrorKind::Malformed));
    assert_eq!(l.error(), Some(WsError::MaskMissing));
    assert!(!l.has_pending() && l.buffered() == 0);
    let again = l.decode(Bytes::new());
    assert!(again.plain.is_empty() && again.failed == d.failed);
}

#[test]
fn pongs_and_close_echoes_of_held_input_are_queued_in_order() {
    let len = KIB64;
    let frames = bomb_frames(len);
    let mut stream = frames[0].clone();
    stream.extend(frame_with(0x89, b"1", Some(KEY)));
    stream.extend(&frames[1]);
    stream.extend(frame_with(0x89, b"2", Some(KEY)));
    stream.extend(&frames[2]);
    stream.extend(frame_with(0x88, b"\x03\xe8bye", Some(KEY)));
    stream.extend(&frames[3]);
    let mut l = WsLayer::new(bomb_opts(len), 1);
    // Each call stops at the control frame after its message: what
    // follows is read, and answered, only when drained.
    let d = l.decode(Bytes::from(stream));
    assert_eq!((d.plain.len(), d.failed), (len, None));
    assert!(l.has_pending() && !l.wants_write());
    let d = l.decode(Bytes::new());
    assert_eq!((d.plain.len(), d.failed), (len, None));
    assert!(l.wants_write());
    let d = l.decode(Bytes::new());
    assert_eq!((d.plain.len(), d.failed), (len, None));
    assert!(l.has_pending());
    // The close frame ends the stream after all the data before it.
    let d = l.decode(Bytes::new());
    assert!(d.plain.is_empty());
    assert_eq!(d.failed, peer_closed());
    assert!(!l.has_pending() && l.buffered() == 0);
    // The latest ping is answered, then the close is echoed.
    let mut want = frame_with(0x8a, b"2", None);
    want.extend_from_slice(b"\x88\x05\x03\xe8bye");
    assert_eq!(encode(&mut l, &[]), want);
    assert!(!l.wants_write());
}

/// A transport with the layer for `opts` on, behind a toy framing layer
/// when `outer` (as a WebSocket behind TLS).
fn ws_transport(opts: WsOptions, outer: bool) -> Transport {
    let mut t = Transport::default();
    let out = Outbound::default();
    if outer {
        let toy = Layer::Framed(crate::transport::framed::Framed::new(u16::MAX as usize));
        assert!(t.push_inner(toy, Bytes::new(), &out).failed.is_none());
    }
    let ws = Layer::Ws(Box::new(WsLayer::new(opts, 1)));
    assert!(t.push_inner(ws, Bytes::new(), &out).failed.is_none());
    t
}

#[test]
fn the_transport_drains_a_bomb_through_outer_layers() {
    use crate::transport::framed::{frame_all, DATA};
    let len = KIB64;
    let count = 60;
    let stream = bomb(count, len);
    for outer in [false, true] {
        let mut t = ws_transport(bomb_opts(len), outer);
        let read = if outer {
            Bytes::from(frame_all(DATA, &stream, u16::MAX as usize))
        } else {
            Bytes::from(stream.clone())
        };
        let mut d = t.decode(read.clone());
        let (mut pos, mut calls) = (0, 0);
        loop {
            assert_eq!(d.failed, None);
            assert!(d.plain.len() < 2 * len);
            assert!(t.buffered() <= read.len());
            check_bomb(&d.plain, &mut pos, len);
            calls += 1;
            if !t.has_pending() {
                break;
            }
            d = t.decode(Bytes::new());
        }
        assert_eq!(
            (calls, pos, t.buffered()),
            (count, count * len, 0),
            "{outer}"
        );
    }
}

#[test]
fn an_outer_failure_waits_for_the_plaintext_held_inside() {
    use crate::transport::framed::{frame_all, DATA};
    let len = KIB64;
    let count = 8;
    let mut wire = frame_all(DATA, &bomb(count, len), u16::MAX as usize);
    wire.extend([0xee, 0, 0]); // a bad toy frame after the WebSocket data
    let mut t = ws_transport(bomb_opts(len), true);
    let mut got = Vec::new();
    let mut d = t.decode(Bytes::from(wire));
    while d.failed.is_none() {
        assert!(t.has_pending(), "the failure comes at the end");
        got.extend_from_slice(&d.plain);
        d = t.decode(Bytes::new());
    }
    got.extend_from_slice(&d.plain);
    let mut pos = 0;
    check_bomb(&got, &mut pos, len);
    assert_eq!(pos, count * len);
    let e = d.failed.expect("the toy's failure");
    assert_eq!(e.kind, ErrorKind::Malformed);
    assert!(!t.has_pending());
    let again = t.decode(Bytes::new());
    assert!(again.plain.is_empty() && again.failed == Some(e));
}

/// One piece of a generated client stream: a message of `n` bytes of
/// `byte` (kind 0: compressed in one frame, 1: compressed in three
/// fragments, 2: uncompressed, at most 3000 bytes), or a ping (kind 3).
fn piece(kind: u8, n: usize, byte: u8, stream: &mut Vec<u8>, want: &mut Vec<u8>) {
    if kind == 3 {
        stream.extend(frame_with(0x89, &[byte], Some(KEY)));
        return;
    }
    // Uncompressed data takes its size on the wire.
    let n = if kind == 2 { n.min(3000) } else { n };
    let data = vec![byte; n];
    match kind {
        0 => stream.extend(frame_with(0xc2, &browser_deflate(&data), Some(KEY))),
        1 => {
            let c = browser_deflate(&data);
            let (a, rest) = c.split_at(c.len() / 3);
            let (b, c) = rest.split_at(rest.len() / 2);
            stream.extend(frame_with(0x42, a, Some(KEY)));
            stream.extend(frame_with(0x00, b, Some([1, 2, 3, 4])));
            stream.extend(frame_with(0x80, c, Some([4, 3, 2, 1])));
        }
        _ => stream.extend(masked(&data)),
    }
    want.extend_from_slice(&data);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Messages that inflate to up to `max_message` each, in any reads,
    /// drained with empty decodes (or sometimes not before the next
    /// read): the plaintext comes back whole and in order, every call
    /// below its budget plus one message.
    #[test]
    fn messages_round_trip_in_any_reads_a_budget_a_call(
        max_message in 16usize..100_000,
        pieces in prop::collection::vec((0u8..4, any::<prop::sample::Index>(), any::<u8>()), 1..24),
        mut cuts in prop::collection::vec(0usize..4000, 0..12),
        late in prop::collection::vec(any::<bool>(), 13),
    ) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for (kind, len, byte) in &pieces {
            piece(*kind, len.index(max_message + 1), *byte, &mut wire, &mut want);
        }
        cuts.sort_unstable();
        cuts.push(wire.len());
        let mut l = WsLayer::new(bomb_opts(max_message), 1);
        let budget = l.budget();
        let mut got = Vec::new();
        let mut start = 0;
        for (k, &end) in cuts.iter().enumerate() {
            let end = end.clamp(start, wire.len());
            let last = end == wire.len();
            let d = l.decode(Bytes::copy_from_slice(&wire[start..end]));
            prop_assert_eq!(d.failed, None);
            prop_assert!(d.plain.len() < budget + max_message);
            got.extend_from_slice(&d.plain);
            // Not draining before the next read breaks the engine's side
            // of the contract, but not the order.
            let drain = last || !late.get(k).copied().unwrap_or(false);
            while drain && l.has_pending() {
                let d = l.decode(Bytes::new());
                prop_assert_eq!(d.failed, None);
                prop_assert!(d.plain.len() < budget + max_message);
                got.extend_from_slice(&d.plain);
            }
            if drain {
                prop_assert!(l.buffered() <= frame::MAX_HEADER + frame::MAX_CONTROL_PAYLOAD);
            }
            start = end;
        }
        prop_assert!(!l.has_pending());
        prop_assert!(got == want);
    }
}

// ---------------------------------------------------------------------
// No input panics or grows the layer.
// ---------------------------------------------------------------------

/// A valid client stream to mutate: masked frames, fragments, pings and
/// compressed messages.
fn sample_stream() -> Vec<u8> {
    let mut s = masked(b"CONNECT {}\r\nPING\r\n");
    s.extend(frame_with(0x01, b"PUB a 3\r\n", Some(KEY)));
    s.extend(frame_with(0x89, b"ping", Some(KEY)));
    s.extend(frame_with(0x80, b"abc\r\n", Some(KEY)));
    s.extend(frame_with(
        0xc2,
        &browser_deflate(&b"PUB b 1\r\nx\r\n".repeat(30)),
        Some(KEY),
    ));
    s.extend(frame_with(
        0xc2,
        &browser_deflate(&vec![b'0'; 50_000]),
        Some([0, 0, 0, 0]),
    ));
    s.extend(masked(&[b'z'; 300]));
    s
}

fn check_bounded(opts: WsOptions, stream: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let mut l = WsLayer::new(opts, 5);
    let mut start = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(stream.len())).collect();
    ends.sort_unstable();
    ends.push(stream.len());
    let budget = l.budget();
    for end in ends {
        let end = end.max(start);
        let read = Bytes::copy_from_slice(&stream[start..end]);
        let mut d = l.decode(read.clone());
        start = end;
        // Drained as the engine drains: every call within its budget,
        // what is held never more than the read.
        loop {
            prop_assert!(d.plain.len() < budget + opts.max_message);
            prop_assert!(l.inflated() <= opts.max_message);
            if d.failed.is_some() || !l.has_pending() {
                break;
            }
            prop_assert!(l.buffered() <= read.len());
            d = l.decode(Bytes::new());
        }
        prop_assert!(!l.has_pending());
        prop_assert!(l.buffered() <= frame::MAX_HEADER + frame::MAX_CONTROL_PAYLOAD);
        let mut out = Vec::new();
        let _ = l.encode(&[], &mut out);
        let own: usize = out.iter().map(Bytes::len).sum();
        prop_assert!(own <= 2 * (2 + frame::MAX_CONTROL_PAYLOAD));
        if d.failed.is_some() {
            break;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_input_never_panics(
        stream in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(0usize..600, 0..12),
        compress in any::<bool>(),
        masks in any::<bool>(),
    ) {
        let opts = WsOptions {
            compress,
            require_masked: masks,
            max_message: 1000,
            ..server_opts()
        };
        check_bounded(opts, &stream, &cuts)?;
    }

    #[test]
    fn mutated_streams_never_panic(
        flips in prop::collection::vec((0usize..100_000, any::<u8>()), 1..6),
        cuts in prop::collection::vec(0usize..2000, 0..12),
        max_message in 1usize..70_000,
    ) {
        let mut stream = sample_stream();
        for (at, x) in flips {
            let at = at % stream.len();
            stream[at] ^= x;
        }
        let opts = WsOptions { max_message, ..server_opts() };
        check_bounded(opts, &stream, &cuts)?;
    }
}
