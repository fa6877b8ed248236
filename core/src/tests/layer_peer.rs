//! One end of a transport layer as a peer runs it (S2, WebSocket), for
//! the engine tests: what it encodes is what the engine reads, and it
//! decodes what the engine writes.

use crate::outbound::Outbound;
use crate::transport::{Layer, Transport};
use bytes::Bytes;

/// A peer's transport with one layer on.
pub(crate) struct Peer {
    pub(crate) transport: Transport,
    pub(crate) out: Outbound,
}

impl Peer {
    pub(crate) fn new(layer: Layer) -> Self {
        let mut transport = Transport::default();
        let out = Outbound::default();
        let _ = transport.push_inner(layer, Bytes::new(), &out);
        Peer { transport, out }
    }

    /// `plain` as the peer's wire bytes (one flush).
    pub(crate) fn encode(&mut self, plain: &str) -> Vec<u8> {
        self.out.push_slice(plain.as_bytes());
        let mut chunks = Vec::new();
        let n = self
            .transport
            .take(&mut self.out, &mut chunks)
            .expect("encode");
        self.transport.written(n, &mut self.out);
        chunks.concat()
    }

    /// The engine's wire bytes as plaintext; the layer must not fail.
    pub(crate) fn decode(&mut self, wire: &[u8]) -> String {
        let d = self.transport.decode(Bytes::copy_from_slice(wire));
        assert!(d.failed.is_none(), "{:?}", d.failed);
        String::from_utf8(d.plain.to_vec()).expect("utf-8")
    }

    /// The engine's wire bytes as text, whatever follows them (a close
    /// frame ends a WebSocket peer's stream).
    pub(crate) fn decode_lossy(&mut self, wire: &[u8]) -> String {
        let d = self.transport.decode(Bytes::copy_from_slice(wire));
        String::from_utf8_lossy(&d.plain).into_owned()
    }
}
