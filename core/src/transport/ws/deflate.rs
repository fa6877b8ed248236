//! permessage-deflate (RFC 7692) with no context takeover either way, as
//! nats-server always agrees: raw deflate, one stream per message, the
//! `00 00 ff ff` tail of a sync flush left off on the wire and put back
//! before inflating.

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The tail of a sync flush, dropped from each compressed message.
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Largest step of output room given to the inflater at a time.
const INFLATE_STEP: usize = 32 * 1024;

/// An inflate failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The message inflates to more than the limit.
    TooLarge,
    /// The data is not deflate; the offset is into the message's
    /// compressed bytes.
    Corrupt(u64),
}

/// Inflates the messages of one connection, one at a time.
pub(crate) struct Inflater {
    d: Decompress,
    /// Bytes the current message inflated to so far.
    out: usize,
    /// The deflate stream ended (a final block) before the message did;
    /// the rest of the message is ignored, as Go's reader does.
    ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("out", &self.out)
            .field("ended", &self.ended)
            .finish()
    }
}

impl Inflater {
    pub(crate) fn new() -> Self {
        Inflater {
            d: Decompress::new(false),
            out: 0,
            ended: false,
        }
    }

    /// Starts a new message (no context takeover).
    pub(crate) fn reset(&mut self) {
        self.d.reset(false);
        self.out = 0;
        self.ended = false;
    }

    /// Bytes the current message inflated to so far.
    #[cfg(test)]
    pub(crate) fn inflated(&self) -> usize {
        self.out
    }

    /// Inflates `input` (the next compressed bytes of the message) onto
    /// `dst`. The message's output never exceeds `limit` bytes in `dst`:
    /// one byte more fails it, after the first `limit` bytes were kept.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        dst: &mut BytesMut,
        limit: usize,
    ) -> Result<(), InflateError> {
        self.run(input, dst, limit, FlushDecompress::None)
    }

    /// Ends the message: inflates the dropped tail and flushes.
    pub(crate) fn finish(&mut self, dst: &mut BytesMut, limit: usize) -> Result<(), InflateError> {
        self.run(&TAIL, dst, limit, FlushDecompress::Sync)
    }

    fn run(
        &mut self,
        mut input: &[u8],
        dst: &mut BytesMut,
        limit: usize,
        flush: FlushDecompress,
    ) -> Result<(), InflateError> {
        loop {
            if self.ended {
                return Ok(());
            }
            // One byte past the limit shows the message is too large
            // without making room for more.
            let room = (limit - self.out.min(limit))
                .saturating_add(1)
                .min(INFLATE_STEP);
            let start = dst.len();
            dst.resize(start + room, 0);
            let (in0, out0) = (self.d.total_in(), self.d.total_out());
            let status = self.d.decompress(input, &mut dst[start..], flush);
            let consumed = (self.d.total_in() - in0) as usize;
            let produced = (self.d.total_out() - out0) as usize;
            dst.truncate(start + produced);
            input = &input[consumed..];
            self.out += produced;
            if self.out > limit {
                dst.truncate(dst.len() - (self.out - limit));
                self.out = limit;
                return Err(InflateError::TooLarge);
            }
            match status {
                Err(_) => return Err(InflateError::Corrupt(self.d.total_in())),
                Ok(Status::StreamEnd) => self.ended = true,
                Ok(Status::Ok | Status::BufError) => {
                    // Done when the input is used up and the output had
                    // room to spare (nothing left pending inside).
                    if (input.is_empty() && produced < room) || (consumed == 0 && produced == 0) {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Compresses the flushes of one connection, each on its own.
pub(crate) struct Deflater {
    c: Compress,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deflater")
    }
}

impl Deflater {
    /// nats-server compresses with `flate.BestSpeed`.
    pub(crate) fn new() -> Self {
        Deflater {
            c: Compress::new(Compression::fast(), false),
        }
    }

    /// Compresses `input` as one message onto `dst`, without the tail;
    /// returns the number of bytes appended.
    pub(crate) fn message(&mut self, input: &[Bytes], dst: &mut BytesMut) -> usize {
        self.c.reset();
        let start = dst.len();
        let total: usize = input.iter().map(Bytes::len).sum();
        dst.reserve(total / 2 + 64);
        for chunk in input {
            let mut rest: &[u8] = chunk;
            while !rest.is_empty() {
                let (consumed, _, _) = self.step(rest, dst, FlushCompress::None);
                rest = &rest[consumed..];
            }
        }
        // The flush is done when it leaves room to spare.
        loop {
            let (_, produced, room) = self.step(&[], dst, FlushCompress::Sync);
            if produced < room {
                break;
            }
        }
        if dst[start..].ends_with(&TAIL) {
            dst.truncate(dst.len() - TAIL.len());
        }
        dst.len() - start
    }

    /// One call to the compressor with the spare room of `dst` (at least
    /// 64 bytes); returns bytes consumed, bytes produced and the room.
    fn step(
        &mut self,
        input: &[u8],
        dst: &mut BytesMut,
        flush: FlushCompress,
    ) -> (usize, usize, usize) {
        let room = dst.capacity().saturating_sub(dst.len()).max(64);
        let start = dst.len();
        dst.resize(start + room, 0);
        let (in0, out0) = (self.c.total_in(), self.c.total_out());
        // Raw deflate into memory cannot fail: flate2 reports only
        // misuse (a buffer error is "no progress", handled by the caller).
        let _ = self.c.compress(input, &mut dst[start..], flush);
        let consumed = (self.c.total_in() - in0) as usize;
        let produced = (self.c.total_out() - out0) as usize;
        dst.truncate(start + produced);
        if produced == room {
            dst.reserve(room);
        }
        (consumed, produced, room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut d = Deflater::new();
        let mut out = BytesMut::new();
        d.message(&[Bytes::copy_from_slice(data)], &mut out);
        out.to_vec()
    }

    #[test]
    fn a_message_round_trips_without_its_tail() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let wire = deflate(&data);
        assert!(!wire.ends_with(&TAIL));
        let mut inf = Inflater::new();
        let mut out = BytesMut::new();
        inf.feed(&wire, &mut out, 1 << 20).expect("inflate");
        inf.finish(&mut out, 1 << 20).expect("finish");
        assert_eq!(&out[..], &data[..]);
        // The next message starts from nothing.
        inf.reset();
        let mut out = BytesMut::new();
        inf.feed(&deflate(b"hello"), &mut out, 100)
            .expect("inflate");
        inf.finish(&mut out, 100).expect("finish");
        assert_eq!(&out[..], b"hello");
    }

    #[test]
    fn output_stops_at_the_limit() {
        let wire = deflate(&vec![0u8; 1 << 20]);
        assert!(wire.len() < 10_000);
        let mut inf = Inflater::new();
        let mut out = BytesMut::new();
        let r = inf
            .feed(&wire, &mut out, 5000)
            .and_then(|()| inf.finish(&mut out, 5000));
        assert_eq!(r, Err(InflateError::TooLarge));
        assert_eq!(out.len(), 5000);
        assert!(out.capacity() < 5000 + INFLATE_STEP);
    }

    #[test]
    fn garbage_is_corrupt() {
        let mut inf = Inflater::new();
        let mut out = BytesMut::new();
        let r = inf
            .feed(&[0xff; 16], &mut out, 5000)
            .and_then(|()| inf.finish(&mut out, 5000));
        assert!(matches!(r, Err(InflateError::Corrupt(_))), "{r:?}");
    }
}
