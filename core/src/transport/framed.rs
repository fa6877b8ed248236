//! A toy layer for tests: length-prefixed frames.
//!
//! It changes sizes (three header bytes a frame), buffers partial frames
//! up to a limit, answers pings on its own and says goodbye with a close
//! frame, so the switch at an exact byte, the write accounting and the
//! failure paths are exercised before TLS, WebSocket and S2 exist.
//!
//! A frame is a kind byte, a big-endian `u16` payload length and the
//! payload. Kinds: data, ping (answered with a pong carrying the same
//! payload), pong (ignored) and close (the peer ends the layer; echoed).

use super::{Decoded, Ending, ErrorKind, TransportError};
use crate::events::CloseReason;
use bytes::{Bytes, BytesMut};

/// Frame kind: payload is stream data.
pub(crate) const DATA: u8 = 0;
/// Frame kind: the peer asks for a pong.
pub(crate) const PING: u8 = 1;
/// Frame kind: an answer to a ping.
pub(crate) const PONG: u8 = 2;
/// Frame kind: the peer ends the layer.
pub(crate) const CLOSE: u8 = 3;
/// Kind byte plus length.
pub(crate) const HEADER: usize = 3;

/// The toy layer's state on one connection.
#[derive(Debug)]
pub struct Framed {
    /// Largest payload of one frame, read or written.
    max_frame: usize,
    /// Input of a frame not yet complete (fewer than `HEADER + max_frame`
    /// bytes after every call).
    input: BytesMut,
    /// Decoded data of the current call.
    decoded: BytesMut,
    /// Encoded frames of the current call.
    encoded: BytesMut,
    /// A pong owed to the peer: only the latest ping is answered, so a
    /// peer pinging a connection that does not drain cannot grow it.
    pong: Option<Bytes>,
    /// A close frame is owed (the engine is closing, or the peer closed).
    closing: bool,
    /// The close frame went out; no more data may follow.
    goodbye_sent: bool,
}

impl Framed {
    /// A layer whose frames carry at most `max_frame` payload bytes
    /// (at most `u16::MAX`).
    pub(crate) fn new(max_frame: usize) -> Framed {
        Framed {
            max_frame: max_frame.clamp(1, u16::MAX as usize),
            input: BytesMut::new(),
            decoded: BytesMut::new(),
            encoded: BytesMut::new(),
            pong: None,
            closing: false,
            goodbye_sent: false,
        }
    }

    /// Decodes whole frames; keeps a partial one. Data before a bad frame
    /// is returned with the failure.
    pub(crate) fn decode(&mut self, input: Bytes) -> Decoded {
        self.input.extend_from_slice(&input);
        let failed = self.frames().err();
        Decoded {
            plain: self.decoded.split().freeze(),
            failed,
        }
    }

    fn frames(&mut self) -> Result<(), TransportError> {
        while self.input.len() >= HEADER {
            let kind = self.input[0];
            let len = u16::from_be_bytes([self.input[1], self.input[2]]) as usize;
            if kind > CLOSE {
                return Err(fail(
                    ErrorKind::Malformed,
                    Ending::Silent,
                    CloseReason::ReadError,
                ));
            }
            if len > self.max_frame {
                return Err(fail(
                    ErrorKind::TooLarge,
                    Ending::Silent,
                    CloseReason::ReadError,
                ));
            }
            if self.input.len() < HEADER + len {
                break;
            }
            let frame = self.input.split_to(HEADER + len);
            let payload = &frame[HEADER..];
            match kind {
                DATA => self.decoded.extend_from_slice(payload),
                PING => self.pong = Some(Bytes::copy_from_slice(payload)),
                PONG => {}
                // CLOSE: other kinds were refused at the header.
                _ => {
                    self.closing = true;
                    let reason = CloseReason::ClientClosed;
                    return Err(fail(ErrorKind::PeerClosed, Ending::Flush, reason));
                }
            }
        }
        Ok(())
    }

    /// Frames `input`: an owed pong first, then the data, then an owed
    /// close frame.
    pub(crate) fn encode(
        &mut self,
        input: &[Bytes],
        out: &mut Vec<Bytes>,
    ) -> Result<(), TransportError> {
        if self.goodbye_sent && input.iter().any(|c| !c.is_empty()) {
            let reason = CloseReason::WriteError;
            return Err(fail(ErrorKind::WriteAfterClose, Ending::Silent, reason));
        }
        if let Some(payload) = self.pong.take() {
            self.frame(PONG, &payload);
        }
        for chunk in input {
            for piece in chunk.chunks(self.max_frame) {
                self.frame(DATA, piece);
            }
        }
        if self.closing && !self.goodbye_sent {
            self.frame(CLOSE, b"");
            self.goodbye_sent = true;
        }
        if !self.encoded.is_empty() {
            out.push(self.encoded.split().freeze());
        }
        Ok(())
    }

    fn frame(&mut self, kind: u8, payload: &[u8]) {
        // `payload` is at most max_frame, which fits a u16.
        let len = payload.len() as u16;
        self.encoded.extend_from_slice(&[kind]);
        self.encoded.extend_from_slice(&len.to_be_bytes());
        self.encoded.extend_from_slice(payload);
    }

    pub(crate) fn wants_write(&self) -> bool {
        self.pong.is_some() || (self.closing && !self.goodbye_sent)
    }

    pub(crate) fn buffered(&self) -> usize {
        self.input.len()
    }

    pub(crate) fn queue_goodbye(&mut self) {
        self.closing = true;
    }
}

fn fail(kind: ErrorKind, ending: Ending, reason: CloseReason) -> TransportError {
    TransportError {
        kind,
        ending,
        reason,
    }
}

/// Frames `data` the way a peer's toy layer would (for tests).
pub(crate) fn frame_all(kind: u8, data: &[u8], max_frame: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if data.is_empty() {
        return vec![kind, 0, 0];
    }
    for piece in data.chunks(max_frame.max(1)) {
        out.push(kind);
        out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
        out.extend_from_slice(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any split of a framed stream into reads decodes to the data,
        /// and a partial frame never holds more than a frame's worth.
        #[test]
        fn any_split_decodes_to_the_data(
            data in prop::collection::vec(any::<u8>(), 0..200),
            max_frame in 1usize..40,
            mut cuts in prop::collection::vec(0usize..300, 0..20),
        ) {
            let wire = frame_all(DATA, &data, max_frame);
            cuts.sort_unstable();
            let mut layer = Framed::new(max_frame);
            let mut decoded = Vec::new();
            let mut start = 0;
            for end in cuts.into_iter().chain(std::iter::once(wire.len())) {
                let end = end.clamp(start, wire.len());
                let d = layer.decode(Bytes::copy_from_slice(&wire[start..end]));
                prop_assert!(d.failed.is_none());
                decoded.extend_from_slice(&d.plain);
                prop_assert!(layer.buffered() < HEADER + max_frame);
                start = end;
            }
            prop_assert_eq!(decoded, data);
            prop_assert_eq!(layer.buffered(), 0);
        }
    }

    #[test]
    fn an_oversized_frame_fails_before_it_is_buffered() {
        let mut layer = Framed::new(16);
        let d = layer.decode(Bytes::from_static(&[DATA, 0, 17]));
        let e = d.failed.expect("17 > 16");
        assert_eq!((e.kind, e.ending), (ErrorKind::TooLarge, Ending::Silent));
        assert_eq!(e.reason, CloseReason::ReadError);
    }

    #[test]
    fn data_before_a_bad_frame_is_still_decoded() {
        let mut layer = Framed::new(16);
        let mut wire = frame_all(DATA, b"PING\r\n", 16);
        wire.extend_from_slice(&[9, 0, 0]);
        let d = layer.decode(Bytes::from(wire));
        assert_eq!(&d.plain[..], b"PING\r\n");
        assert_eq!(d.failed.map(|e| e.kind), Some(ErrorKind::Malformed));
    }

    #[test]
    fn pings_are_answered_with_the_latest_payload_only() {
        let mut layer = Framed::new(16);
        let mut wire = frame_all(PING, b"a", 16);
        wire.extend(frame_all(PING, b"b", 16));
        let d = layer.decode(Bytes::from(wire));
        assert!(d.plain.is_empty() && d.failed.is_none());
        assert!(layer.wants_write());
        let mut out = Vec::new();
        layer.encode(&[], &mut out).expect("no goodbye yet");
        assert_eq!(out.concat(), frame_all(PONG, b"b", 16));
        assert!(!layer.wants_write());
    }

    #[test]
    fn a_peer_close_is_echoed_then_writes_refused() {
        let mut layer = Framed::new(16);
        let d = layer.decode(Bytes::from(frame_all(CLOSE, b"", 16)));
        let e = d.failed.expect("peer closed");
        assert_eq!((e.kind, e.ending), (ErrorKind::PeerClosed, Ending::Flush));
        assert!(layer.wants_write());
        let mut out = Vec::new();
        layer.encode(&[], &mut out).expect("the echo");
        assert_eq!(out.concat(), vec![CLOSE, 0, 0]);
        let late = layer.encode(&[Bytes::from_static(b"x")], &mut out);
        assert_eq!(late.map_err(|e| e.kind), Err(ErrorKind::WriteAfterClose));
    }
}
