//! The headers that switch message tracing on, read as nats-server 2.15.1
//! reads them, and the `Nats-Trace-Hop` header written on each hop.
//!
//! Rules (observed on the wire and in nats-server's `msgtrace.go`):
//! - the block must start with exactly `NATS/1.0\r\n` (a status line such
//!   as `NATS/1.0 503` is never traced);
//! - a line's key is everything before its first `:`; leading spaces and
//!   tabs of the value are skipped and trailing ones trimmed; a line whose
//!   key or value is then empty is ignored;
//! - `Nats-Trace-Dest` is matched case-sensitively, and its first value is
//!   the destination; the value `trace disabled` turns tracing off;
//! - `Nats-Trace-Only` is true for `1`, `true` or `on` in any case.

use bytes::Bytes;

/// The header naming the subject trace events go to.
const DEST: &[u8] = b"Nats-Trace-Dest";
/// The header asking for events only, no delivery.
const ONLY: &[u8] = b"Nats-Trace-Only";
/// The header numbering the hop a message took between servers.
pub(crate) const HOP: &[u8] = b"Nats-Trace-Hop";
/// A legacy header that turns tracing off.
pub(crate) const ORIGIN_ACCOUNT: &[u8] = b"Nats-Trace-Origin-Account";
/// The header asking for a compressed event.
const ACCEPT_ENCODING: &[u8] = b"Accept-Encoding";
/// The `Nats-Trace-Dest` value that means "do not trace".
const DISABLED: &[u8] = b"trace disabled";
/// The W3C trace-context header (any case).
const TRACEPARENT: &[u8] = b"traceparent";
/// The line every header block starts with.
const HEADER_LINE: &[u8] = b"NATS/1.0\r\n";

/// How the event message's body is encoded, from `Accept-Encoding`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// No `Accept-Encoding`: plain JSON, no header.
    #[default]
    None,
    /// Any value but gzip: plain JSON with `Content-Encoding: identity`.
    /// (nats-server answers `snappy` and `s2` with S2 in snappy-compatible
    /// framing; Canopy does not write S2 yet, and identity is a valid
    /// answer to any request.)
    Identity,
    /// `gzip`: a gzip member with `Content-Encoding: gzip`.
    Gzip,
}

/// The trace request a message's headers make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TraceRequest {
    /// Where the events go (the first `Nats-Trace-Dest` value, trimmed;
    /// empty when `external`).
    pub(crate) dest: Bytes,
    /// Only a sampled `traceparent` asked: the events go where the
    /// account's `msg_trace` says, and `Nats-Trace-Only` is not read.
    pub(crate) external: bool,
    /// `Nats-Trace-Only` said so: events, but no delivery to clients.
    pub(crate) only: bool,
    /// The first `Nats-Trace-Hop` value (empty when absent).
    pub(crate) hop: Bytes,
    /// `Nats-Trace-Origin-Account` is present: tracing is refused.
    pub(crate) origin_account: bool,
    /// How to encode the event.
    pub(crate) encoding: Encoding,
    /// Every non-empty header, keys sorted bytewise as Go marshals a map,
    /// values in order of appearance.
    pub(crate) header: Vec<(Bytes, Vec<Bytes>)>,
}

/// Reads the header block `block` (the message's first `header_len`
/// bytes). `None` when the message asks for no trace: no
/// `Nats-Trace-Dest`, the value `trace disabled`, or a block that does
/// not start with `NATS/1.0\r\n`.
pub(crate) fn parse(block: &[u8]) -> Option<TraceRequest> {
    if !may_trace(block) {
        return None;
    }
    let rest = block.strip_prefix(HEADER_LINE)?;
    let mut header: Vec<(Bytes, Vec<Bytes>)> = Vec::new();
    let (mut found, mut sampled) = (false, false);
    for (key, value) in lines(rest) {
        if !sampled && key.eq_ignore_ascii_case(TRACEPARENT) {
            sampled = is_sampled(value);
        } else if !found && key == DEST {
            if value == DISABLED {
                return None;
            }
            found = true;
        }
        let value = Bytes::copy_from_slice(value);
        match header.iter_mut().find(|(k, _)| k == key) {
            Some((_, values)) => values.push(value),
            None => header.push((Bytes::copy_from_slice(key), vec![value])),
        }
    }
    if !found && !sampled {
        return None;
    }
    // Traced for the account's `msg_trace` alone: no trace-only.
    let external = !found;
    header.sort_by(|a, b| a.0.cmp(&b.0));
    let first = |name: &[u8]| {
        header
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.first().cloned())
    };
    let only = !external
        && first(ONLY).is_some_and(|v| {
            v.eq_ignore_ascii_case(b"1")
                || v.eq_ignore_ascii_case(b"true")
                || v.eq_ignore_ascii_case(b"on")
        });
    let encoding = match first(ACCEPT_ENCODING) {
        None => Encoding::None,
        Some(v) => {
            let v = v.to_ascii_lowercase();
            let has = |s: &[u8]| memchr::memmem::find(&v, s).is_some();
            // nats-server prefers S2 when both are named.
            if has(b"snappy") || has(b"s2") {
                Encoding::Identity
            } else if has(b"gzip") {
                Encoding::Gzip
            } else {
                Encoding::Identity
            }
        }
    };
    Some(TraceRequest {
        dest: first(DEST).unwrap_or_default(),
        external,
        only,
        hop: first(HOP).unwrap_or_default(),
        origin_account: first(ORIGIN_ACCOUNT).is_some(),
        encoding,
        header,
    })
}

/// The cheap test before [`parse`]: whether the header block `block`
/// can ask for a trace at all (most never do). False means `parse` gives
/// `None`.
#[inline]
pub(crate) fn may_trace(block: &[u8]) -> bool {
    block
        .strip_prefix(HEADER_LINE)
        .is_some_and(may_ask_for_trace)
}

/// Whether a line of `block` starts with `Nats-Trace-Dest` or (in any
/// case) `traceparent`: a look at each line's first bytes.
fn may_ask_for_trace(block: &[u8]) -> bool {
    let mut line = block;
    loop {
        match line.first() {
            Some(b'N') if line.starts_with(DEST) => return true,
            Some(b't' | b'T')
                if line.len() >= TRACEPARENT.len()
                    && line[..TRACEPARENT.len()].eq_ignore_ascii_case(TRACEPARENT) =>
            {
                return true
            }
            _ => {}
        }
        match memchr::memchr(b'\n', line) {
            Some(i) => line = &line[i + 1..],
            None => return false,
        }
    }
}

/// Whether a `traceparent` value (`version-traceid-parentid-flags`) has
/// the sampled flag: four parts, the last two characters that read as a
/// signed 8-bit hex number (Go's `ParseInt(x, 16, 8)`), bit 0 set.
fn is_sampled(value: &[u8]) -> bool {
    let parts: Vec<&[u8]> = value.split(|&b| b == b'-').collect();
    let [_, _, _, flags] = parts[..] else {
        return false;
    };
    flags.len() == 2
        && std::str::from_utf8(flags)
            .ok()
            .and_then(|f| i8::from_str_radix(f, 16).ok())
            .is_some_and(|v| v & 1 == 1)
}

/// The (key, value) lines of a header block after its first line, as
/// nats-server splits them: lines with an empty key or value are left out.
fn lines(mut rest: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || loop {
        let colon = memchr::memchr(b':', rest)?;
        let key = &rest[..colon];
        let mut v = colon + 1;
        while v < rest.len() && (rest[v] == b' ' || rest[v] == b'\t') {
            v += 1;
        }
        let nl = memchr::memmem::find(&rest[v..], b"\r\n")?;
        let mut end = v + nl;
        while end > v && (rest[end - 1] == b' ' || rest[end - 1] == b'\t') {
            end -= 1;
        }
        let value = &rest[v..end];
        rest = &rest[v + nl + 2..];
        if !key.is_empty() && !value.is_empty() {
            return Some((key, value));
        }
    })
}

/// The message with its `name` header set to `value`: an existing line
/// for `name` is removed and the new one appended as the block's last
/// line (nats-server's `setHeader`). Returns the new message and its
/// header length. `header_len` must cover a block ending in a blank line.
pub(crate) fn set_header(
    message: &[u8],
    header_len: usize,
    name: &[u8],
    value: &[u8],
) -> (Bytes, usize) {
    let header_len = header_len.min(message.len());
    let (block, payload) = message.split_at(header_len);
    let body = block.strip_suffix(b"\r\n").unwrap_or(block);
    let mut out = Vec::with_capacity(message.len() + name.len() + value.len() + 4);
    let mut first = true;
    for line in body.split_inclusive(|&b| b == b'\n') {
        let keep = first || !line_has_key(line, name);
        first = false;
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n\r\n");
    let new_len = out.len();
    out.extend_from_slice(payload);
    (Bytes::from(out), new_len)
}

/// The message with its trace turned off for every server after this
/// one: `Nats-Trace-Dest: trace disabled` (see [`set_header`]).
pub(crate) fn disable(message: &[u8], header_len: usize) -> (Bytes, usize) {
    set_header(message, header_len, DEST, DISABLED)
}

/// Whether header line `line` is for key `name` (exact case).
fn line_has_key(line: &[u8], name: &[u8]) -> bool {
    line.strip_prefix(name)
        .is_some_and(|rest| rest.first() == Some(&b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(block: &str) -> Option<TraceRequest> {
        parse(block.as_bytes())
    }

    #[test]
    fn the_dest_header_starts_a_trace_with_every_header_sorted() {
        let r = req("NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nX-Custom: a\r\nX-Custom: b\r\nA-First: z\r\n\r\n").unwrap();
        assert_eq!(&r.dest[..], b"trace.dest");
        assert!(!r.only);
        let keys: Vec<&[u8]> = r.header.iter().map(|(k, _)| &k[..]).collect();
        assert_eq!(keys, [&b"A-First"[..], b"Nats-Trace-Dest", b"X-Custom"]);
        assert_eq!(r.header[2].1, [Bytes::from("a"), Bytes::from("b")]);
        assert_eq!(r.encoding, Encoding::None);
    }

    #[test]
    fn what_does_not_start_a_trace() {
        assert!(req("NATS/1.0\r\nX: y\r\n\r\n").is_none());
        assert!(
            req("NATS/1.0\r\nnats-trace-dest: x\r\n\r\n").is_none(),
            "case-sensitive"
        );
        assert!(req("NATS/1.0 503\r\nNats-Trace-Dest: x\r\n\r\n").is_none());
        assert!(req("NATS/1.0\r\nNats-Trace-Dest: trace disabled\r\n\r\n").is_none());
        assert!(
            req("NATS/1.0\r\nNats-Trace-Dest:   \r\n\r\n").is_none(),
            "empty value"
        );
        assert!(req("NATS/1.0\r\nNats-Trace-Only: true\r\n\r\n").is_none());
        assert!(req("").is_none());
        assert!(
            req("NATS/1.0\r\nNats-Trace-Dest: x").is_none(),
            "no line end"
        );
    }

    #[test]
    fn values_are_trimmed_and_the_first_dest_wins() {
        let r = req("NATS/1.0\r\nNats-Trace-Dest:\t trace.other \t\r\nNats-Trace-Dest: trace.dest\r\nNats-Trace-Only: \r\n\r\n").unwrap();
        assert_eq!(&r.dest[..], b"trace.other");
        assert_eq!(r.header.len(), 1, "the empty Nats-Trace-Only is left out");
        assert_eq!(r.header[0].1.len(), 2);
    }

    #[test]
    fn trace_only_takes_one_true_or_on_in_any_case() {
        for (v, only) in [
            ("1", true),
            ("true", true),
            ("TRUE", true),
            ("On", true),
            ("yes", false),
            ("false", false),
        ] {
            let r = req(&format!(
                "NATS/1.0\r\nNats-Trace-Dest: t\r\nNats-Trace-Only: {v}\r\n\r\n"
            ))
            .unwrap();
            assert_eq!(r.only, only, "{v}");
        }
    }

    #[test]
    fn accept_encoding_picks_the_event_encoding() {
        for (v, e) in [
            ("gzip", Encoding::Gzip),
            ("br, GZIP", Encoding::Gzip),
            ("snappy", Encoding::Identity),
            ("gzip, s2", Encoding::Identity),
            ("br", Encoding::Identity),
        ] {
            let r = req(&format!(
                "NATS/1.0\r\nNats-Trace-Dest: t\r\nAccept-Encoding: {v}\r\n\r\n"
            ))
            .unwrap();
            assert_eq!(r.encoding, e, "{v}");
        }
    }

    #[test]
    fn a_sampled_traceparent_asks_for_the_accounts_trace() {
        let parent = |v: &str| {
            req(&format!(
                "NATS/1.0\r\nTraceParent: {v}\r\nNats-Trace-Only: true\r\n\r\n"
            ))
        };
        let r = parent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert!(r.external && r.dest.is_empty() && !r.only, "{r:?}");
        assert!(parent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03").is_some());
        for unsampled in [
            "00-a-b-00",
            "00-a-b-81",
            "00-a-b-ff",
            "00-a-b-1",
            "00-a-b",
            "00-a-b-01-x",
        ] {
            assert!(parent(unsampled).is_none(), "{unsampled}");
        }
        assert!(parent("00-a-b-+1").is_some(), "Go reads a signed number");
        // With a destination, the header's trace is not external.
        let r = req("NATS/1.0\r\ntraceparent: 00-a-b-01\r\nNats-Trace-Dest: t\r\n\r\n").unwrap();
        assert!(!r.external);
    }

    #[test]
    fn hop_and_origin_account_are_read() {
        let r = req("NATS/1.0\r\nNats-Trace-Dest: t\r\nNats-Trace-Hop: 1.2\r\nNats-Trace-Origin-Account: A\r\n\r\n").unwrap();
        assert_eq!(&r.hop[..], b"1.2");
        assert!(r.origin_account);
    }

    #[test]
    fn the_hop_header_replaces_an_old_one_at_the_end_of_the_block() {
        let block = "NATS/1.0\r\nNats-Trace-Hop: 1\r\nNats-Trace-Dest: trace.dest\r\n\r\n";
        let msg = format!("{block}hello");
        let (out, len) = set_header(msg.as_bytes(), block.len(), HOP, b"1.1");
        assert_eq!(
            &out[..],
            b"NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nNats-Trace-Hop: 1.1\r\n\r\nhello"
        );
        assert_eq!(len, out.len() - 5);
        let block = "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\n\r\n";
        let (out, len) = set_header(block.as_bytes(), block.len(), HOP, b"1");
        assert_eq!(
            &out[..],
            b"NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nNats-Trace-Hop: 1\r\n\r\n"
        );
        assert_eq!(len, 60, "the spec's 46-byte message grows to 65");
    }

    proptest::proptest! {
        #[test]
        fn any_block_parses_without_panicking(block in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), dest in proptest::prelude::any::<bool>()) {
            let mut b = b"NATS/1.0\r\n".to_vec();
            if dest {
                b.extend_from_slice(b"Nats-Trace-Dest: x\r\n");
            }
            b.extend_from_slice(&block);
            let _ = parse(&b);
            let _ = set_header(&b, b.len() / 2, HOP, b"1");
        }
    }
}
