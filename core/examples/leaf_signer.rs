//! An embedder that signs a leaf remote's nonce itself, with a key that
//! never touches a file or the options (nats-server's `SignatureCB`).
//!
//! Two engines run in memory: a hub that admits one NKey user, and a leaf
//! whose remote has `external_signer: true`. When the leaf's engine gets
//! the hub's INFO it asks, with `Action::SignNonce`, for the nonce to be
//! signed; the embedder answers with `Server::handle_signature` whenever
//! it likes (here at once, from a key held in memory). The engine never
//! blocks on it: every other connection goes on meanwhile.
//!
//! Run with `cargo run -p canopy-core --example leaf_signer`.

use bytes::Bytes;
use canopy_core::auth::{encode_user_seed, sign_with_seed, NkeyEntry};
use canopy_core::route::RouteAddr;
use canopy_core::{
    Action, ConnId, Instant, LeafOptions, ListenerKind, Options, RemoteLeafOptions, Server,
};

fn main() {
    // The embedder's key: here a fixed secret; in real life an HSM, a
    // vault, or another process.
    let seed = encode_user_seed(&[7u8; 32]);
    let public = canopy_core::auth::public_of_seed(&seed).expect("a user seed");

    let mut hub_options = Options {
        server_name: "hub".into(),
        leaf: Some(LeafOptions {
            port: 7422,
            ..LeafOptions::default()
        }),
        ..Options::default()
    };
    hub_options.nkeys.insert(
        public.clone(),
        NkeyEntry {
            account: "$G".into(),
            ..NkeyEntry::default()
        },
    );
    let leaf_options = Options {
        server_name: "leaf".into(),
        leaf: Some(LeafOptions {
            remotes: vec![RemoteLeafOptions {
                urls: vec![RouteAddr::parse("nats-leaf://127.0.0.1:7422").expect("url")],
                external_signer: true,
                ..RemoteLeafOptions::default()
            }],
            ..LeafOptions::default()
        }),
        ..Options::default()
    };
    let now = Instant::ZERO;
    let mut hub = Server::new(hub_options, [1; 32], now);
    let mut leaf = Server::new(leaf_options, [2; 32], now);

    // The leaf dials at once; the "socket" is two engine connections.
    leaf.handle_timeout(now);
    let peer = "127.0.0.1:7422".parse().expect("address");
    let mut link: Option<(ConnId, ConnId)> = None;
    for _ in 0..20 {
        while let Some(action) = leaf.poll_action() {
            match action {
                Action::Dial { conn, .. } => {
                    let hub_end = hub.handle_accept(ListenerKind::Leaf, peer, now);
                    leaf.handle_dialed(conn, peer, now);
                    link = Some((conn, hub_end));
                }
                Action::SignNonce { conn, nonce, .. } => {
                    println!("leaf asks for a signature of nonce {nonce:?}");
                    let signed = sign_with_seed(&seed, nonce.as_bytes());
                    leaf.handle_signature(conn, signed, now);
                }
                // In memory every byte is moved below, every time.
                Action::Flush(_)
                | Action::Close { .. }
                | Action::PauseReading { .. }
                | Action::ResumeReading { .. }
                | Action::StoreAccountJwt { .. } => {}
            }
        }
        while hub.poll_action().is_some() {}
        // Move bytes both ways.
        if let Some((leaf_end, hub_end)) = link {
            let mut chunks = Vec::new();
            let n = hub.take_outbound(hub_end, &mut chunks, now);
            hub.handle_written(hub_end, n, now);
            for c in chunks.drain(..) {
                leaf.handle_read(leaf_end, c, now);
            }
            let n = leaf.take_outbound(leaf_end, &mut chunks, now);
            leaf.handle_written(leaf_end, n, now);
            for c in chunks.drain(..) {
                print!("leaf -> hub: {}", String::from_utf8_lossy(&c));
                hub.handle_read(hub_end, Bytes::clone(&c), now);
            }
        }
    }
    println!("hub has {} leaf link(s) registered", hub.leaf_count());
}
