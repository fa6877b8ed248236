//! The per-connection outbound queue.
//!
//! Protocol lines and message headers are appended to a small buffer;
//! payloads above [`COPY_THRESHOLD`] are queued as shared `Bytes` slices so
//! a message fanned out to many subscribers is copied into kernel buffers,
//! not into per-subscriber heaps. The driver takes the queued chunks, writes
//! them, and reports progress; bytes count as pending until reported
//! written, which is what slow-consumer detection measures.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Payloads shorter than this are copied into the line buffer: below a few
/// KiB one copy is cheaper than an extra buffer per message in every write
/// (measured with `scripts/bench.sh --only "1 KiB"`); larger ones are shared.
pub const COPY_THRESHOLD: usize = 4096;
/// Capacity reserved for the line buffer when it runs out.
const LINE_BUFFER_CHUNK: usize = 32 * 1024;

/// Outbound bytes of one connection.
#[derive(Debug, Default)]
pub struct Outbound {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    queued: usize,
    in_flight: usize,
}

impl Outbound {
    /// Appends protocol bytes (copied).
    pub fn push_slice(&mut self, data: &[u8]) {
        self.reserve(data.len());
        self.tail.extend_from_slice(data);
        self.queued += data.len();
    }

    /// Appends `-ERR '<text>'\r\n`.
    pub fn push_err(&mut self, text: &str) {
        self.push_slice(b"-ERR '");
        self.push_slice(text.as_bytes());
        self.push_slice(b"'\r\n");
    }

    /// Appends a payload: copied when small, queued by reference when large.
    pub fn push_payload(&mut self, payload: &Bytes) {
        if payload.len() < COPY_THRESHOLD {
            self.push_slice(payload);
            return;
        }
        self.seal_tail();
        self.queued += payload.len();
        self.chunks.push_back(payload.clone());
    }

    /// Appends the rest of a route's or leaf link's message line after
    /// `<subject> `: the queue list with the reply (`+ <reply> <q>.. `),
    /// without it (`| <q>.. `), or the bare reply (`<reply> `); then the
    /// header size when `header_len` is not 0, the size, CRLF, the message
    /// and its CRLF. With `always_header_size` the header size is written
    /// even when 0 (a route's `LMSG`).
    pub fn push_routed_rest<'a>(
        &mut self,
        reply: Option<&[u8]>,
        queues: impl Iterator<Item = &'a Bytes>,
        header_len: usize,
        always_header_size: bool,
        message: &Bytes,
    ) {
        let mut queues = queues.peekable();
        if queues.peek().is_some() {
            match reply {
                Some(r) => {
                    self.push_slice(b"+ ");
                    self.push_slice(r);
                    self.push_slice(b" ");
                }
                None => self.push_slice(b"| "),
            }
            for q in queues {
                self.push_slice(q);
                self.push_slice(b" ");
            }
        } else if let Some(r) = reply {
            self.push_slice(r);
            self.push_slice(b" ");
        }
        if header_len > 0 || always_header_size {
            self.push_decimal(header_len as u64);
            self.push_slice(b" ");
        }
        self.push_decimal(message.len() as u64);
        self.push_slice(b"\r\n");
        self.push_payload(message);
        self.push_slice(b"\r\n");
    }

    /// Appends an interest line: `<plus> <heads..> <subject>[ <queue>
    /// <n>]` while `n` members remain, else `<minus> <heads..>
    /// <subject>[ <queue>]` (`RS+`/`RS-` with the account, a route's
    /// `LS+`/`LS-` with origin and account, a leaf link's with neither).
    pub fn push_interest(
        &mut self,
        (plus, minus): (&[u8], &[u8]),
        heads: &[&[u8]],
        subject: &[u8],
        queue: Option<&Bytes>,
        n: u32,
    ) {
        self.push_slice(if n > 0 { plus } else { minus });
        for head in heads {
            self.push_slice(b" ");
            self.push_slice(head);
        }
        self.push_slice(b" ");
        self.push_slice(subject);
        if let Some(q) = queue {
            self.push_slice(b" ");
            self.push_slice(q);
            if n > 0 {
                self.push_slice(b" ");
                self.push_decimal(u64::from(n));
            }
        }
        self.push_slice(b"\r\n");
    }

    /// Appends a decimal number.
    pub fn push_decimal(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push_slice(&digits[i..]);
    }

    /// Moves every queued chunk into `dst`; the bytes stay pending until
    /// [`Outbound::written`] reports them. Returns the number of bytes moved.
    pub fn take(&mut self, dst: &mut Vec<Bytes>) -> usize {
        self.seal_tail();
        let n = self.queued;
        dst.extend(self.chunks.drain(..));
        self.in_flight += n;
        self.queued = 0;
        n
    }

    /// Records that `n` taken bytes reached the socket.
    pub fn written(&mut self, n: usize) {
        self.in_flight = self.in_flight.saturating_sub(n);
    }

    /// Bytes queued or taken but not yet written.
    pub fn pending(&self) -> usize {
        self.queued + self.in_flight
    }

    /// Bytes taken by the driver but not yet reported written.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Bytes waiting to be taken.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Drops everything queued (the connection is closing without flush).
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.tail.clear();
        self.queued = 0;
    }

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
    }

    fn reserve(&mut self, n: usize) {
        if self.tail.capacity() - self.tail.len() < n {
            self.tail.reserve(n.max(LINE_BUFFER_CHUNK));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concat(chunks: &[Bytes]) -> Vec<u8> {
        chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    #[test]
    fn small_and_large_payloads_keep_order() {
        let mut o = Outbound::default();
        o.push_slice(b"MSG a 1 3\r\n");
        o.push_payload(&Bytes::from_static(b"abc"));
        o.push_slice(b"\r\n");
        let big = Bytes::from(vec![b'x'; 5000]);
        o.push_slice(b"MSG b 1 5000\r\n");
        o.push_payload(&big);
        o.push_slice(b"\r\n");
        let mut out = Vec::new();
        let n = o.take(&mut out);
        let all = concat(&out);
        assert_eq!(n, all.len());
        assert!(all.starts_with(b"MSG a 1 3\r\nabc\r\nMSG b 1 5000\r\nxxx"));
        assert!(all.ends_with(b"x\r\n"));
        // The large payload is shared, not copied.
        assert!(out.iter().any(|c| c.as_ptr() == big.as_ptr()));
        assert_eq!(o.pending(), n);
        o.written(n - 1);
        assert_eq!(o.pending(), 1);
        o.written(5);
        assert_eq!(o.pending(), 0);
    }

    #[test]
    fn decimals() {
        let mut o = Outbound::default();
        for n in [0u64, 7, 10, 1234567890, u64::MAX] {
            o.push_decimal(n);
            o.push_slice(b",");
        }
        let mut out = Vec::new();
        o.take(&mut out);
        assert_eq!(
            concat(&out),
            b"0,7,10,1234567890,18446744073709551615,".to_vec()
        );
    }
}
