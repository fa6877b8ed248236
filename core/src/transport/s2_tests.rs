use super::*;
use crate::outbound::Outbound;
use crate::transport::{Layer, Transport};
use proptest::prelude::*;
use std::io::{Read, Write};

const MIB: usize = 1 << 20;
const LEVELS: [S2Level; 4] = [
    S2Level::Uncompressed,
    S2Level::Fast,
    S2Level::Better,
    S2Level::Best,
];

fn s2(level: S2Level, max_block: usize) -> Layer {
    Layer::S2(S2Layer::new(level, max_block))
}

/// A transport with an S2 layer on from the start.
fn transport(level: S2Level, max_block: usize) -> Transport {
    let mut t = Transport::default();
    let d = t.push_inner(s2(level, max_block), Bytes::new(), &Outbound::default());
    assert!(d.plain.is_empty() && d.failed.is_none());
    t
}

/// What one flush of `chunks` puts on the wire at `level`.
fn flush(level: S2Level, chunks: &[&[u8]]) -> Vec<u8> {
    let mut t = transport(level, MIB);
    let mut out = Outbound::default();
    for c in chunks {
        out.push_payload(&Bytes::copy_from_slice(c));
    }
    let mut dst = Vec::new();
    let n = t.take(&mut out, &mut dst).expect("s2 encodes anything");
    let wire = dst.concat();
    assert_eq!(n, wire.len());
    assert_eq!(t.written(n, &mut out), plain(chunks));
    assert_eq!(out.pending(), 0);
    wire
}

fn plain(chunks: &[&[u8]]) -> usize {
    chunks.iter().map(|c| c.len()).sum()
}

/// What reading `wire` in reads of `step` bytes gives (draining what the
/// layer holds back after each, as the engine does): the plaintext, the
/// failure, and the most the layer held between reads.
fn read(wire: &[u8], step: usize, max_block: usize) -> (Vec<u8>, Option<TransportError>, usize) {
    let mut t = transport(S2Level::Fast, max_block);
    let mut got = Vec::new();
    let mut failed = None;
    let mut held = 0;
    for piece in wire.chunks(step.max(1)) {
        let mut d = t.decode(Bytes::copy_from_slice(piece));
        loop {
            got.extend_from_slice(&d.plain);
            failed = failed.or(d.failed);
            held = held.max(t.buffered());
            if !t.has_pending() {
                break;
            }
            d = t.decode(Bytes::new());
        }
    }
    (got, failed, held)
}

/// A chunk of `kind` with `body`.
fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut c = vec![kind, len as u8, (len >> 8) as u8, (len >> 16) as u8];
    c.extend_from_slice(body);
    c
}

/// An uncompressed chunk of `data`.
fn raw(data: &[u8]) -> Vec<u8> {
    let mut body = masked_crc(data).to_le_bytes().to_vec();
    body.extend_from_slice(data);
    chunk(CHUNK_UNCOMPRESSED, &body)
}

/// A compressed chunk of `block`, which decodes to `data`.
fn packed(block: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = masked_crc(data).to_le_bytes().to_vec();
    body.extend_from_slice(block);
    chunk(CHUNK_COMPRESSED, &body)
}

/// A block whose ops are a literal, a copy and two repeat-offset copies
/// (S2 only), and what it decodes to.
fn repeat_block() -> (Vec<u8>, Vec<u8>) {
    let block = vec![
        26, // decoded length
        0x0c, b'a', b'b', b'c', b'd', // literal "abcd"
        0x0e, 4, 0, // copy, offset 4, length 4
        0x11, 0, // repeat (copy1, offset 0), length 8
        0x15, 0, 2, // repeat, length 2 + 8
    ];
    (block, b"abcd".repeat(7)[..26].to_vec())
}

/// Sample plaintext: protocol lines and compressible and random payloads.
fn sample(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = seed | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 3 {
            0 => out.extend_from_slice(b"LMSG foo.bar 12\r\nhello world!\r\n"),
            1 => out.extend(std::iter::repeat_n(b'z', (x >> 8) as usize % 300)),
            _ => out.extend((0..(x >> 16) % 64).map(|i| (x >> (i % 56)) as u8)),
        }
    }
    out.truncate(len);
    out
}

/// The chunks of a stream: (type, body).
fn chunks_of(wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = wire;
    while rest.len() >= 4 {
        let len = usize::from(rest[1]) | usize::from(rest[2]) << 8 | usize::from(rest[3]) << 16;
        out.push((rest[0], rest[4..4 + len].to_vec()));
        rest = &rest[4 + len..];
    }
    assert!(rest.is_empty(), "whole chunks");
    out
}

#[test]
fn crc32c_matches_the_reference() {
    let mut c = Crc32c::new();
    c.update(b"123456789");
    assert_eq!(c.0, 0xe306_9283);
    let data = sample(3000, 7);
    for cut in [0, 1, 7, 8, 9, 100, 2999, 3000] {
        let mut c = Crc32c::new();
        c.update(&data[..cut]);
        c.update(&data[cut..]);
        assert_eq!(c.masked(), minlz::crc::crc(&data), "cut {cut}");
    }
    assert_eq!(masked_crc(b""), minlz::crc::crc(b""));
}

#[test]
fn level_names_are_nats_servers() {
    let names = LEVELS.map(S2Level::as_str);
    assert_eq!(
        names,
        ["s2_uncompressed", "s2_fast", "s2_better", "s2_best"]
    );
    let mut l = S2Layer::new(S2Level::Best, MIB);
    assert_eq!(l.level(), S2Level::Best);
    l.set_level(S2Level::Fast);
    assert_eq!(l.level(), S2Level::Fast);
}

#[test]
fn each_level_round_trips_at_every_read_size() {
    let data = sample(1500, 3);
    let (a, b) = data.split_at(600);
    for level in LEVELS {
        let wire = flush(level, &[a, b]);
        assert_eq!(&wire[..10], &STREAM_ID);
        for step in 1..=wire.len() {
            let (got, failed, held) = read(&wire, step, MIB);
            assert_eq!(failed, None, "{level:?} step {step}");
            assert!(got == data, "{level:?} step {step}");
            assert!(held < wire.len());
        }
    }
}

#[test]
fn compressed_levels_compress_and_uncompressed_does_not() {
    let data = sample(20_000, 11);
    for level in LEVELS {
        let wire = flush(level, &[&data]);
        let kinds: Vec<u8> = chunks_of(&wire).iter().map(|c| c.0).collect();
        if level == S2Level::Uncompressed {
            assert_eq!(kinds, [CHUNK_STREAM_ID, CHUNK_UNCOMPRESSED]);
            assert_eq!(wire.len(), 10 + 8 + data.len());
        } else {
            assert_eq!(kinds, [CHUNK_STREAM_ID, CHUNK_COMPRESSED], "{level:?}");
            assert!(wire.len() < data.len() / 2, "{level:?}: {}", wire.len());
        }
    }
}

#[test]
fn encoder_output_reads_whole_and_byte_by_byte() {
    for level in LEVELS {
        for data in [sample(5000, 5), b"PING\r\n".to_vec(), vec![0; 100_000]] {
            let wire = flush(level, &[&data]);
            for step in [wire.len(), 1] {
                let (got, failed, _) = read(&wire, step, MIB);
                assert_eq!(failed, None, "{level:?}");
                assert!(got == data, "{level:?} step {step}");
            }
        }
    }
}

#[test]
fn three_mib_make_four_chunks_of_at_most_one_mib() {
    let data = sample(3 * MIB + 5, 13);
    for level in LEVELS {
        // Cut where the block boundaries are not.
        let (a, rest) = data.split_at(1000);
        let (b, c) = rest.split_at(MIB + 77);
        let wire = flush(level, &[a, b, c]);
        let chunks = chunks_of(&wire);
        assert_eq!(chunks[0], (CHUNK_STREAM_ID, S2_MAGIC.to_vec()));
        let mut decoded = Vec::new();
        for (kind, body) in &chunks[1..] {
            let block = match *kind {
                CHUNK_UNCOMPRESSED => body[4..].to_vec(),
                CHUNK_COMPRESSED => minlz::s2::decode(&body[4..]).expect("block"),
                other => panic!("chunk type {other}"),
            };
            assert!(block.len() <= MIB);
            assert_eq!(crc_field(body), masked_crc(&block));
            decoded.extend(block);
        }
        assert_eq!(chunks.len(), 1 + 4, "{level:?}");
        assert!(decoded == data, "{level:?}");
        let (got, failed, held) = read(&wire, 64 * 1024, MIB);
        assert!(failed.is_none() && got == data && held <= MIB + 16);
    }
}

/// Whether an S2 block uses a repeat-offset copy (S2's addition to
/// Snappy): a one-byte-offset copy with offset 0.
fn has_repeat(block: &[u8]) -> bool {
    let (_, mut at) = minlz::s2::decode_len(block).expect("block length");
    while let Some(&tag) = block.get(at) {
        at += match tag & 3 {
            0 => match tag >> 2 {
                x @ 0..=59 => 1 + usize::from(x) + 1,
                60 => 2 + usize::from(block[at + 1]) + 1,
                61 => 3 + usize::from(u16::from_le_bytes([block[at + 1], block[at + 2]])) + 1,
                _ => panic!("no literal that long here"),
            },
            1 if tag >> 5 == 0 && block[at + 1] == 0 => return true,
            1 => 2,
            2 => 3,
            _ => 5,
        };
    }
    false
}

#[test]
fn the_better_encoder_writes_repeat_offsets_we_read() {
    let data = b"PUB foo.bar 5\r\nhello\r\nPUB foo.baz 5\r\nhellx\r\n".repeat(40);
    for level in [S2Level::Better, S2Level::Best] {
        let wire = flush(level, &[&data]);
        let chunks = chunks_of(&wire);
        assert_eq!(chunks[1].0, CHUNK_COMPRESSED);
        assert!(has_repeat(&chunks[1].1[4..]), "{level:?}");
        for step in [1, 3, wire.len()] {
            let (got, failed, _) = read(&wire, step, MIB);
            assert!(failed.is_none() && got == data, "{level:?} step {step}");
        }
    }
    assert!(has_repeat(&repeat_block().0));
}

#[test]
fn an_empty_flush_writes_nothing() {
    let mut layer = S2Layer::new(S2Level::Fast, MIB);
    let mut out = Vec::new();
    layer.encode(&[], &mut out).expect("no failure");
    layer
        .encode(&[Bytes::new(), Bytes::new()], &mut out)
        .expect("no failure");
    assert!(out.is_empty());
    assert!(!layer.wants_write());
    layer.queue_goodbye();
    assert!(!layer.wants_write());
}

#[test]
fn every_flush_is_a_whole_stream_at_the_current_level() {
    let data = vec![b'x'; 4000];
    let mut layer = S2Layer::new(S2Level::Uncompressed, MIB);
    let mut wire = Vec::new();
    for level in [S2Level::Uncompressed, S2Level::Best, S2Level::Fast] {
        layer.set_level(level);
        let mut out = Vec::new();
        layer
            .encode(&[Bytes::from(data.clone())], &mut out)
            .expect("no failure");
        let flushed = out.concat();
        assert_eq!(&flushed[..10], &STREAM_ID);
        let kind = chunks_of(&flushed)[1].0;
        let want = match level {
            S2Level::Uncompressed => CHUNK_UNCOMPRESSED,
            S2Level::Fast | S2Level::Better | S2Level::Best => CHUNK_COMPRESSED,
        };
        assert_eq!(kind, want, "{level:?}");
        wire.extend(flushed);
    }
    // Identifiers repeated at each flush are read through.
    let (got, failed, _) = read(&wire, 7, MIB);
    assert_eq!(failed, None);
    assert!(got == data.repeat(3));
}

#[test]
fn blocks_that_do_not_compress_go_out_uncompressed() {
    // Random bytes, and a block under 32 bytes: Go's encoders give up.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    for level in [S2Level::Fast, S2Level::Better, S2Level::Best] {
        for data in [&noise[..], &[b'a'; 31][..]] {
            let wire = flush(level, &[data]);
            let chunks = chunks_of(&wire);
            assert_eq!(chunks.len(), 2);
            assert_eq!(chunks[1].0, CHUNK_UNCOMPRESSED, "{level:?} {}", data.len());
            assert_eq!(&chunks[1].1[4..], data);
        }
        // 32 equal bytes do compress.
        let wire = flush(level, &[&[b'a'; 32]]);
        assert_eq!(chunks_of(&wire)[1].0, CHUNK_COMPRESSED, "{level:?}");
    }
    // Go's rule, block body against the block length.
    assert_eq!(worth_limit(S2Level::Fast, 1000), 1000 - 31 - 9);
    assert_eq!(worth_limit(S2Level::Better, 1000), 1000 - 31 - 6);
    assert_eq!(worth_limit(S2Level::Best, 1000), 995);
}

#[test]
fn large_pieces_of_uncompressed_chunks_are_not_copied() {
    let big = Bytes::from(vec![7u8; 10_000]);
    let mut layer = S2Layer::new(S2Level::Uncompressed, MIB);
    let mut out = Vec::new();
    let input = [Bytes::from_static(b"MSG a 1 10000\r\n"), big.clone()];
    layer.encode(&input, &mut out).expect("no failure");
    assert!(out.iter().any(|c| c.as_ptr() == big.as_ptr()));
    // Read back, a chunk wholly inside one read is not copied either.
    let wire = Bytes::from(out.concat());
    let mut reader = S2Layer::new(S2Level::Fast, MIB);
    let d = reader.decode(wire.clone());
    assert_eq!(d.failed, None);
    assert_eq!(d.plain.len(), 15 + 10_000);
    assert_eq!(d.plain.as_ptr(), wire[18..].as_ptr());
}

#[test]
fn steady_flushes_and_reads_reuse_their_buffers() {
    // Per round trip: uncompressed chunks allocate nothing; a compressed
    // block allocates what minlz returns it in, and nothing else.
    let message = b"LMSG foo.bar 64\r\n".repeat(12);
    for (level, most) in [(S2Level::Uncompressed, 0), (S2Level::Fast, 1)] {
        let mut writer = transport(level, MIB);
        let mut reader = transport(S2Level::Fast, MIB);
        let mut out = Outbound::default();
        let mut dst = Vec::with_capacity(8);
        let mut round = |writer: &mut Transport, reader: &mut Transport| {
            out.push_slice(&message);
            let n = writer.take(&mut out, &mut dst).expect("no failure");
            assert_eq!(writer.written(n, &mut out), message.len());
            for wire in dst.drain(..) {
                let d = reader.decode(wire);
                assert!(d.failed.is_none() && d.plain.len() == message.len());
            }
        };
        // The first rounds size the buffers and the encoder's tables.
        for _ in 0..3 {
            round(&mut writer, &mut reader);
        }
        let info = allocation_counter::measure(|| {
            for _ in 0..100 {
                round(&mut writer, &mut reader);
            }
        });
        assert!(
            info.count_total <= 100 * most,
            "{level:?}: {}",
            info.count_total
        );
    }
}

#[test]
fn our_stream_reads_with_minlz_reader() {
    let data = sample(2 * MIB + 300, 17);
    for level in LEVELS {
        // Two flushes: two streams back to back, as on a link.
        let mut wire = flush(level, &[&data[..MIB + 10]]);
        wire.extend(flush(level, &[&data[MIB + 10..]]));
        let mut got = Vec::new();
        minlz::s2::Reader::new(&wire[..])
            .read_to_end(&mut got)
            .expect("minlz reads it");
        assert!(got == data, "{level:?}");
    }
}

#[test]
fn minlz_writer_stream_with_index_and_padding_reads() {
    let data = sample(MIB + 4000, 19);
    let mut wire = Vec::new();
    {
        let mut w = minlz::s2::Writer::with_padding(&mut wire, 4096);
        w.enable_index();
        w.write_all(&data).expect("write");
    }
    assert_eq!(wire.len() % 4096, 0);
    let kinds: Vec<u8> = chunks_of(&wire).iter().map(|c| c.0).collect();
    assert!(kinds.contains(&0xfe) && kinds.contains(&0x99), "{kinds:x?}");
    for step in [1, 1000, wire.len()] {
        let (got, failed, held) = read(&wire, step, MIB);
        assert_eq!(failed, None);
        assert!(got == data, "step {step}");
        assert!(held <= MIB + 16);
    }
}

#[test]
fn hand_built_stream_with_every_chunk_type() {
    let (block, block_data) = repeat_block();
    assert_eq!(minlz::s2::decode(&block).expect("valid block"), block_data);
    let mut wire = Vec::new();
    let mut want: Vec<u8> = Vec::new();
    wire.extend(STREAM_ID);
    wire.extend(STREAM_ID);
    wire.extend(chunk(0xfe, &[0; 5])); // padding
    wire.extend(raw(b"INFO {}\r\n"));
    want.extend(b"INFO {}\r\n");
    wire.extend(chunk(0x80, b"skip me")); // skippable
    wire.extend(chunk(0xfd, b""));
    wire.extend(packed(&block, &block_data));
    want.extend(&block_data);
    wire.extend(chunk(0x99, &[1; 300])); // an index chunk
    wire.extend(chunk(CHUNK_STREAM_ID, SNAPPY_MAGIC));
    wire.extend(raw(b"PING\r\n"));
    want.extend(b"PING\r\n");
    // An empty compressed block and an empty uncompressed chunk.
    wire.extend(packed(&[0], b""));
    wire.extend(raw(b""));
    wire.extend(STREAM_ID);
    wire.extend(packed(&block, &block_data));
    want.extend(&block_data);
    for step in 1..=wire.len() {
        let (got, failed, _) = read(&wire, step, MIB);
        assert_eq!(failed, None, "step {step}");
        assert_eq!(got, want, "step {step}");
    }
    // minlz's reader agrees on the same bytes (it ignores the index chunk).
    let mut got = Vec::new();
    minlz::s2::Reader::new(&wire[..])
        .read_to_end(&mut got)
        .expect("minlz reads it");
    assert_eq!(got, want);
}

/// Reads `wire` in one piece and one byte a read: the failure, the
/// plaintext that came before it, which is the same both ways.
fn fails(wire: &[u8], max_block: usize) -> (ErrorKind, Vec<u8>) {
    let (got, failed, _) = read(wire, wire.len(), max_block);
    let e = failed.expect("a failure");
    assert_eq!(
        (e.ending, e.reason),
        (Ending::Silent, CloseReason::ReadError)
    );
    let (got1, failed1, _) = read(wire, 1, max_block);
    assert_eq!((got1, failed1), (got.clone(), Some(e)));
    (e.kind, got)
}

#[test]
fn bad_streams_fail_after_the_plaintext_before_them() {
    let (block, block_data) = repeat_block();
    let good = [STREAM_ID.to_vec(), raw(b"PING\r\n")].concat();
    let mut bad_crc = raw(b"PONG\r\n");
    bad_crc[4] ^= 1;
    let mut bad_block_crc = packed(&block, &block_data);
    bad_block_crc[5] ^= 1;
    let mut corrupt_block = block.clone();
    corrupt_block[6] = 0x0e | 0xf0; // a copy longer than the block
    let snappy_big = [chunk(0xff, SNAPPY_MAGIC), raw(&[1; MAX_SNAPPY_BLOCK + 1])].concat();
    let cases: [(&str, Vec<u8>); 12] = [
        ("bad crc", bad_crc),
        ("bad block crc", bad_block_crc),
        ("corrupt block", packed(&corrupt_block, &block_data)),
        ("no block length", chunk(0, &[0; 4])),
        ("reserved 0x02", chunk(0x02, b"")),
        ("reserved 0x7f", chunk(0x7f, b"x")),
        ("short data chunk", chunk(1, b"abc")),
        ("short block chunk", chunk(0, b"")),
        ("bad identifier", chunk(0xff, b"S2sTwX")),
        ("identifier length", chunk(0xff, b"S2sTwO!")),
        (
            "block length lies",
            packed(&[27, 0x0c, b'a', b'b', b'c', b'd'], b"abcd"),
        ),
        ("snappy block above 64 KiB", snappy_big),
    ];
    for (what, bad) in cases {
        let wire = [good.clone(), bad].concat();
        let want = (ErrorKind::Malformed, b"PING\r\n".to_vec());
        assert_eq!(fails(&wire, MIB), want, "{what}");
    }
    // Data, padding or a skippable chunk before the first identifier.
    for first in [raw(b"PING\r\n"), chunk(0xfe, b""), chunk(0x80, b"")] {
        let wire = [first, STREAM_ID.to_vec()].concat();
        assert_eq!(fails(&wire, MIB), (ErrorKind::Malformed, Vec::new()));
    }
}

#[test]
fn failures_stick() {
    let mut t = transport(S2Level::Fast, MIB);
    let wire = [STREAM_ID.to_vec(), raw(b"PING\r\n"), chunk(0x02, b"")].concat();
    let d = t.decode(Bytes::from(wire));
    assert_eq!(&d.plain[..], b"PING\r\n");
    let e = d.failed.expect("reserved chunk");
    let again = t.decode(Bytes::from(raw(b"PONG\r\n")));
    assert!(again.plain.is_empty());
    assert_eq!(again.failed, Some(e));
    assert_eq!(t.buffered(), 0);
    // The write side still works (the engine closes without flushing).
    let mut out = Outbound::default();
    out.push_slice(b"PONG\r\n");
    let mut dst = Vec::new();
    assert!(t.take(&mut out, &mut dst).is_ok());
}

#[test]
fn an_oversized_chunk_fails_at_its_header() {
    let max_block = 64 * 1024;
    let limit = max_encoded_len(max_block) + CRC_LEN;
    let len3 = |n: usize| [n as u8, (n >> 8) as u8, (n >> 16) as u8];
    for (kind, len) in [
        (0u8, limit + 1),
        (1, max_block + CRC_LEN + 1),
        (0, 0xff_ffff),
    ] {
        let mut t = transport(S2Level::Fast, max_block);
        let mut wire = STREAM_ID.to_vec();
        wire.push(kind);
        wire.extend(len3(len));
        // The header alone fails: nothing of the body is waited for.
        let d = t.decode(Bytes::from(wire));
        let e = d.failed.expect("too large");
        assert_eq!(e.kind, ErrorKind::TooLarge, "type {kind} length {len}");
        assert_eq!(t.buffered(), 0);
        // The same header arriving one byte a read holds at most 3 bytes.
        let mut wire = STREAM_ID.to_vec();
        wire.push(kind);
        wire.extend(len3(len));
        wire.extend(vec![0; 100]);
        let (_, failed, held) = read(&wire, 1, max_block);
        assert_eq!(failed.map(|e| e.kind), Some(ErrorKind::TooLarge));
        assert!(held <= 6, "held {held}");
    }
    // The largest legal chunks are accepted, and held while they arrive.
    let data = vec![9u8; max_block];
    let wire = [STREAM_ID.to_vec(), raw(&data)].concat();
    let (got, failed, held) = read(&wire, 1000, max_block);
    assert!(failed.is_none() && got == data);
    assert!(held < max_block + 16);
    let block = {
        let mut b = vec![0x80, 0x80, 0x04]; // varint 65536
        b.extend([61 << 2, 0xff, 0xff]); // literal of 65536 bytes
        b.extend(&data);
        b
    };
    assert_eq!(minlz::s2::decode(&block).expect("all literal"), data);
    let wire = [STREAM_ID.to_vec(), packed(&block, &data)].concat();
    let (got, failed, held) = read(&wire, 1000, max_block);
    assert!(failed.is_none() && got == data);
    assert!(held < max_block + 16);
}

#[test]
fn a_block_announcing_too_much_fails_before_decoding() {
    // Five bytes claiming 1 MiB + 1 decoded bytes.
    let n = MIB + 1;
    let varint = [0x81, 0x80, 0x40];
    assert_eq!(minlz::s2::decode_len(&varint).expect("varint").0, n);
    let wire = [STREAM_ID.to_vec(), raw(b"PING\r\n"), packed(&varint, b"")].concat();
    assert_eq!(
        fails(&wire, MIB),
        (ErrorKind::TooLarge, b"PING\r\n".to_vec())
    );
    // A bad varint is malformed.
    let wire = [STREAM_ID.to_vec(), packed(&[0xff; 6], b"")].concat();
    assert_eq!(fails(&wire, MIB).0, ErrorKind::Malformed);
}

#[test]
fn skippable_chunks_are_skipped_without_being_held() {
    let mut wire = STREAM_ID.to_vec();
    wire.extend(chunk(0x80, &vec![3; 300_000]));
    wire.extend(chunk(0xfe, &vec![0; 70_000]));
    wire.extend(raw(b"PING\r\n"));
    let (got, failed, held) = read(&wire, 4096, 1024);
    assert_eq!((got, failed), (b"PING\r\n".to_vec(), None));
    assert!(held <= 3, "held {held}");
}

#[test]
fn the_switch_happens_at_the_exact_byte_after_the_info() {
    // A route reads the peer's INFO and the start of its S2 stream in one
    // read; the S2 layer takes over at the byte after the INFO.
    let payload = sample(3000, 23);
    let mut server_out = Outbound::default();
    server_out.push_slice(b"CONNECT {}\r\n");
    server_out.push_slice(&payload);
    let mut server = transport(S2Level::Best, MIB);
    let mut dst = Vec::new();
    server.take(&mut server_out, &mut dst).expect("no failure");
    let stream = dst.concat();
    let mut wire = b"INFO {\"compression\":\"s2_auto\"}\r\n".to_vec();
    wire.extend(&stream);
    let limits = crate::proto::Limits {
        max_control_line: 4096,
        max_payload: MIB,
        headers: false,
        dialect: crate::proto::Dialect::Client,
    };
    for cut in 0..=wire.len() {
        let mut t = Transport::default();
        let out = Outbound::default();
        let mut parser = crate::proto::Parser::new();
        let mut got = Vec::new();
        let mut after = Vec::new();
        for read in [&wire[..cut], &wire[cut..]] {
            let d = t.decode(Bytes::copy_from_slice(read));
            assert_eq!(d.failed, None);
            let mut data = d.plain;
            if t.is_plain() {
                match parser.decode(&mut data, &limits).expect("parse") {
                    Some(crate::proto::ClientOp::Info(_)) => {
                        let rest = std::mem::take(&mut data);
                        let d = t.push_inner(s2(S2Level::Fast, MIB), rest, &out);
                        assert_eq!(d.failed, None);
                        got.push("INFO");
                        data = d.plain;
                    }
                    None => {}
                    Some(op) => panic!("unexpected {op:?}"),
                }
            }
            after.extend_from_slice(&data);
        }
        assert_eq!(got, ["INFO"], "cut {cut}");
        let mut want = b"CONNECT {}\r\n".to_vec();
        want.extend(&payload);
        assert!(after == want, "cut {cut}");
        assert!(t.s2().is_some() && t.tls().is_none());
        assert_eq!(t.buffered(), 0);
    }
}

#[test]
fn the_level_changes_through_the_transport() {
    let mut t = transport(S2Level::Uncompressed, MIB);
    assert_eq!(t.s2().map(S2Layer::level), Some(S2Level::Uncompressed));
    t.s2_mut().expect("on").set_level(S2Level::Better);
    assert_eq!(t.s2().map(S2Layer::level), Some(S2Level::Better));
    let mut out = Outbound::default();
    out.push_slice(&[b'q'; 1000]);
    let mut dst = Vec::new();
    let n = t.take(&mut out, &mut dst).expect("no failure");
    assert!(n < 100);
    assert_eq!(out.pending(), 1000);
    assert_eq!(t.written(n, &mut out), 1000);
    assert!(Transport::default().s2().is_none());
}

/// A compressed chunk of `n` bytes of `byte`: a few dozen bytes on the
/// wire however large `n` is (repeat copies).
fn run_chunk(byte: u8, n: usize) -> Vec<u8> {
    let data = vec![byte; n];
    packed(&minlz::s2::encode_best(&data), &data)
}

/// A decompression bomb: the identifier, then `count` chunks of
/// `max_block` bytes each (chunk `i` all `i % 4 + 1`), a few KiB in all.
fn bomb(count: usize, max_block: usize) -> Vec<u8> {
    let chunks: Vec<Vec<u8>> = (1..=4).map(|b| run_chunk(b, max_block)).collect();
    let mut wire = STREAM_ID.to_vec();
    for i in 0..count {
        wire.extend(&chunks[i % 4]);
    }
    wire
}

/// Checks that `got` continues the bomb's plaintext at `*pos`, and moves
/// `*pos` on.
fn check_bomb(got: &[u8], pos: &mut usize, max_block: usize) {
    let runs: Vec<Vec<u8>> = (1..=4).map(|b| vec![b; max_block]).collect();
    let mut rest = got;
    while !rest.is_empty() {
        let (i, at) = (*pos / max_block, *pos % max_block);
        let n = (max_block - at).min(rest.len());
        assert!(rest[..n] == runs[i % 4][..n], "plaintext at {}", *pos);
        rest = &rest[n..];
        *pos += n;
    }
}

#[test]
fn a_bomb_of_tiny_chunks_decodes_one_budget_a_call() {
    const COUNT: usize = 200;
    let wire = Bytes::from(bomb(COUNT, MIB));
    assert!(wire.len() < 16 * 1024, "{} bytes", wire.len());
    let mut layer = S2Layer::new(S2Level::Fast, MIB);
    let mut d = None;
    let info = allocation_counter::measure(|| d = Some(layer.decode(wire.clone())));
    let d = d.expect("decoded");
    assert_eq!(d.failed, None);
    // The budget is `max_block`: one call stops at the first chunk
    // boundary at or past it, here after one chunk.
    assert_eq!(d.plain.len(), MIB);
    assert!(info.bytes_max < 2 * MIB as u64, "{info:?}");
    assert!(layer.has_pending());
    // What is held is the rest of the read, not more.
    assert!(layer.buffered() <= wire.len());
    let mut pos = 0;
    check_bomb(&d.plain, &mut pos, MIB);
    drop(d);
    let mut calls = 1;
    while layer.has_pending() {
        let mut d = None;
        let info = allocation_counter::measure(|| d = Some(layer.decode(Bytes::new())));
        let d = d.expect("decoded");
        assert_eq!(d.failed, None);
        assert_eq!(d.plain.len(), MIB, "call {calls}");
        assert!(info.bytes_max < 2 * MIB as u64, "{info:?}");
        assert!(layer.buffered() <= wire.len());
        check_bomb(&d.plain, &mut pos, MIB);
        calls += 1;
    }
    assert_eq!((calls, pos), (COUNT, COUNT * MIB));
    assert_eq!(layer.buffered(), 0);
    // Nothing more: an empty decode returns nothing.
    let d = layer.decode(Bytes::new());
    assert!(d.plain.is_empty() && d.failed.is_none() && !layer.has_pending());
}

#[test]
fn chunks_smaller_than_the_budget_fill_it_and_one_more() {
    // Chunks of 24 000, 40 000, 10 and 65 536 bytes (compressed,
    // uncompressed and the largest) against a 64 KiB budget.
    let max_block = 64 * 1024;
    let sizes = [24_000, 40_000, 10, max_block, 30_000, 1, max_block];
    let mut wire = STREAM_ID.to_vec();
    let mut want = Vec::new();
    for round in 0..20u8 {
        for (i, &n) in sizes.iter().enumerate() {
            let byte = round.wrapping_mul(7).wrapping_add(i as u8);
            if n < 100 {
                wire.extend(raw(&vec![byte; n]));
            } else {
                wire.extend(run_chunk(byte, n));
            }
            want.extend(std::iter::repeat_n(byte, n));
        }
        wire.extend(chunk(0xfe, &[0; 3]));
    }
    let wire = Bytes::from(wire);
    let mut layer = S2Layer::new(S2Level::Fast, max_block);
    let mut got = Vec::new();
    let mut d = layer.decode(wire.clone());
    loop {
        assert_eq!(d.failed, None);
        // Below the budget, plus at most one chunk.
        assert!(d.plain.len() < 2 * max_block, "{}", d.plain.len());
        assert!(layer.buffered() <= wire.len());
        got.extend_from_slice(&d.plain);
        if !layer.has_pending() {
            break;
        }
        // Stopped only once the budget was reached.
        assert!(d.plain.len() >= max_block, "{}", d.plain.len());
        d = layer.decode(Bytes::new());
    }
    assert!(got == want);
    assert_eq!(layer.buffered(), 0);
}

#[test]
fn a_read_handed_in_before_draining_follows_what_is_held() {
    let max_block = 4096;
    let wire = bomb(10, max_block);
    let tail = [raw(b"PING\r\n"), run_chunk(9, max_block)].concat();
    let mut layer = S2Layer::new(S2Level::Fast, max_block);
    let mut got = layer.decode(Bytes::from(wire)).plain.to_vec();
    assert!(layer.has_pending());
    // The engine drains first; a read that comes anyway is decoded after
    // the held input, in order.
    let d = layer.decode(Bytes::from(tail));
    got.extend_from_slice(&d.plain);
    while layer.has_pending() {
        let d = layer.decode(Bytes::new());
        assert_eq!(d.failed, None);
        got.extend_from_slice(&d.plain);
    }
    let mut pos = 0;
    check_bomb(&got[..10 * max_block], &mut pos, max_block);
    assert_eq!(&got[10 * max_block..][..6], b"PING\r\n");
    assert!(got[10 * max_block + 6..] == vec![9; max_block][..]);
}

#[test]
fn a_failure_after_held_input_comes_after_its_plaintext() {
    let max_block = 4096;
    let mut wire = bomb(5, max_block);
    wire.extend(chunk(0x02, b"")); // reserved: fails
    let mut layer = S2Layer::new(S2Level::Fast, max_block);
    let mut got = Vec::new();
    let mut d = layer.decode(Bytes::from(wire));
    while d.failed.is_none() {
        assert!(layer.has_pending());
        got.extend_from_slice(&d.plain);
        d = layer.decode(Bytes::new());
    }
    got.extend_from_slice(&d.plain);
    assert_eq!(got.len(), 5 * max_block);
    assert_eq!(d.failed.map(|e| e.kind), Some(ErrorKind::Malformed));
    assert!(!layer.has_pending() && layer.buffered() == 0);
    let again = layer.decode(Bytes::new());
    assert!(again.plain.is_empty() && again.failed == d.failed);
}

/// A transport with a toy framing layer outside an S2 layer.
fn framed_s2(max_block: usize) -> Transport {
    let mut t = Transport::default();
    let out = Outbound::default();
    let toy = Layer::Framed(crate::transport::framed::Framed::new(u16::MAX as usize));
    assert!(t.push_inner(toy, Bytes::new(), &out).failed.is_none());
    assert!(t
        .push_inner(s2(S2Level::Fast, max_block), Bytes::new(), &out)
        .failed
        .is_none());
    t
}

#[test]
fn the_transport_drains_pending_plaintext_through_outer_layers() {
    use crate::transport::framed::{frame_all, DATA};
    let max_block = 64 * 1024;
    let count = 50;
    let stream = bomb(count, max_block);
    let wire = Bytes::from(frame_all(DATA, &stream, u16::MAX as usize));
    for mut t in [transport(S2Level::Fast, max_block), framed_s2(max_block)] {
        let framed = t.layers() == 2;
        let read = if framed {
            wire.clone()
        } else {
            Bytes::from(stream.clone())
        };
        let mut d = t.decode(read.clone());
        let mut pos = 0;
        let mut calls = 0;
        loop {
            assert_eq!(d.failed, None);
            assert!(d.plain.len() < 2 * max_block);
            assert!(t.buffered() <= read.len());
            check_bomb(&d.plain, &mut pos, max_block);
            calls += 1;
            if !t.has_pending() {
                break;
            }
            d = t.decode(Bytes::new());
        }
        assert_eq!((calls, pos, t.buffered()), (count, count * max_block, 0));
    }
}

#[test]
fn an_outer_failure_waits_for_the_plaintext_held_inside() {
    use crate::transport::framed::{frame_all, DATA};
    let max_block = 4096;
    let count = 8;
    let mut wire = frame_all(DATA, &bomb(count, max_block), u16::MAX as usize);
    wire.extend([0xee, 0, 0]); // a bad toy frame after the S2 data
    let mut t = framed_s2(max_block);
    let mut got = Vec::new();
    let mut d = t.decode(Bytes::from(wire));
    while d.failed.is_none() {
        assert!(t.has_pending(), "the failure comes at the end");
        got.extend_from_slice(&d.plain);
        d = t.decode(Bytes::new());
    }
    got.extend_from_slice(&d.plain);
    let mut pos = 0;
    check_bomb(&got, &mut pos, max_block);
    assert_eq!(pos, count * max_block);
    let e = d.failed.expect("the toy's failure");
    assert_eq!(e.kind, ErrorKind::Malformed);
    assert!(!t.has_pending());
    let again = t.decode(Bytes::new());
    assert!(again.plain.is_empty() && again.failed == Some(e));
}

/// A valid stream of `data` cut into flushes at `cuts`, at `level`.
fn stream_of(level: S2Level, data: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut layer = S2Layer::new(level, MIB);
    let mut wire = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&data.len())) {
        let end = end.clamp(start, data.len());
        let mut out = Vec::new();
        let input = [Bytes::copy_from_slice(&data[start..end])];
        layer.encode(&input, &mut out).expect("no failure");
        wire.extend(out.concat());
        start = end;
    }
    wire
}

/// Feeds `wire` to a layer in reads cut at `cuts` (sorted, clamped),
/// draining what it holds back after each read with empty decodes, as
/// the engine does; checks the bounds on what a call returns and on what
/// the layer holds after every call.
fn feed(wire: &[u8], cuts: &[usize], max_block: usize) -> (Vec<u8>, Option<TransportError>) {
    let mut layer = S2Layer::new(S2Level::Fast, max_block);
    let mut got = Vec::new();
    let mut failed = None;
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
        let end = end.clamp(start, wire.len());
        let read = Bytes::copy_from_slice(&wire[start..end]);
        let mut d = layer.decode(read.clone());
        loop {
            got.extend_from_slice(&d.plain);
            if failed.is_some() {
                assert!(d.plain.is_empty() && d.failed == failed, "sticky");
            }
            failed = failed.or(d.failed);
            assert!(d.plain.len() < 2 * max_block.max(1), "budget");
            assert!(layer.buffered() <= read.len().max(max_block + 15));
            if layer.has_pending() {
                assert!(failed.is_none() && d.plain.len() >= max_block);
            } else {
                break;
            }
            d = layer.decode(Bytes::new());
        }
        assert!(layer.buffered() < max_block + 16);
        start = end;
    }
    (got, failed)
}

fn level() -> impl Strategy<Value = S2Level> {
    prop_oneof![
        Just(S2Level::Uncompressed),
        Just(S2Level::Fast),
        Just(S2Level::Better),
        Just(S2Level::Best),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any valid stream, read in any reads, gives its data back.
    #[test]
    fn valid_streams_round_trip_in_any_reads(
        level in level(),
        seed in any::<u64>(),
        len in 0usize..5000,
        mut flushes in prop::collection::vec(0usize..5000, 0..4),
        mut cuts in prop::collection::vec(0usize..6000, 0..12),
    ) {
        let data = sample(len, seed);
        flushes.sort_unstable();
        cuts.sort_unstable();
        let wire = stream_of(level, &data, &flushes);
        let (got, failed) = feed(&wire, &cuts, MIB);
        prop_assert_eq!(failed, None);
        prop_assert!(got == data);
    }

    /// Streams of chunks that decode to much more than they take, up to
    /// `max_block` each, in any reads, drained with empty decodes (or
    /// sometimes not before the next read): the plaintext comes back
    /// whole and in order, every call within its budget.
    #[test]
    fn bombs_round_trip_in_any_reads(
        max_block in 16usize..3000,
        pieces in prop::collection::vec((0u8..4, any::<prop::sample::Index>(), any::<u8>()), 1..60),
        mut cuts in prop::collection::vec(0usize..4000, 0..12),
        late in prop::collection::vec(any::<bool>(), 12),
    ) {
        let mut wire = STREAM_ID.to_vec();
        let mut want = Vec::new();
        for (kind, len, byte) in &pieces {
            let n = len.index(max_block + 1);
            match kind {
                0 | 1 => wire.extend(run_chunk(*byte, n)),
                2 => wire.extend(raw(&vec![*byte; n])),
                _ => {
                    wire.extend(chunk(0xfe, &vec![0; n % 50]));
                    continue;
                }
            }
            want.extend(std::iter::repeat_n(*byte, n));
        }
        cuts.sort_unstable();
        let mut layer = S2Layer::new(S2Level::Fast, max_block);
        let mut got = Vec::new();
        let mut start = 0;
        cuts.push(wire.len());
        for (k, &end) in cuts.iter().enumerate() {
            let end = end.clamp(start, wire.len());
            let last = end == wire.len();
            let d = layer.decode(Bytes::copy_from_slice(&wire[start..end]));
            prop_assert_eq!(d.failed, None);
            prop_assert!(d.plain.len() < 2 * max_block);
            got.extend_from_slice(&d.plain);
            // Not draining before the next read breaks the engine's side
            // of the contract, but not the order.
            let drain = last || !late.get(k).copied().unwrap_or(false);
            while drain && layer.has_pending() {
                let d = layer.decode(Bytes::new());
                prop_assert_eq!(d.failed, None);
                prop_assert!(d.plain.len() < 2 * max_block);
                got.extend_from_slice(&d.plain);
            }
            if drain {
                prop_assert!(layer.buffered() < max_block + 16);
            }
            start = end;
        }
        prop_assert!(!layer.has_pending());
        prop_assert!(got == want);
    }

    /// Random bytes, with or without an identifier first, never make the
    /// reader panic or hold more than its bound.
    #[test]
    fn random_bytes_never_panic(
        mut wire in prop::collection::vec(any::<u8>(), 0..3000),
        identifier in any::<bool>(),
        max_block in 0usize..5000,
        mut cuts in prop::collection::vec(0usize..3100, 0..12),
    ) {
        if identifier {
            wire.splice(0..0, STREAM_ID);
        }
        cuts.sort_unstable();
        let _ = feed(&wire, &cuts, max_block);
    }

    /// Valid streams with bytes changed or cut off: no panic, the bound
    /// holds, failures stick.
    #[test]
    fn mutated_streams_never_panic(
        level in level(),
        seed in any::<u64>(),
        len in 1usize..4000,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncate in any::<prop::sample::Index>(),
        mut cuts in prop::collection::vec(0usize..5000, 0..10),
        max_block in prop_oneof![Just(MIB), 16usize..2000],
    ) {
        let data = sample(len, seed);
        let mut wire = stream_of(level, &data, &[len / 2]);
        for (i, x) in &flips {
            let at = i.index(wire.len());
            wire[at] ^= x | 1;
        }
        if truncate.index(4) == 0 {
            wire.truncate(truncate.index(wire.len() + 1));
        }
        cuts.sort_unstable();
        let _ = feed(&wire, &cuts, max_block);
    }
}
