//! Client helpers the link suites share (`leafnode.rs`,
//! `leafnode_cluster.rs`, `gateway.rs`): a runtime, a connection, a
//! barrier, and the probe that tells when interest has crossed the links.
//! Each suite uses only some of them.
#![allow(dead_code)]

use async_nats::Client;
use futures::StreamExt;
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// Upper bound on any single wait for a connection or message.
pub const WAIT: Duration = Duration::from_secs(5);

/// A current-thread tokio runtime for one test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// An async-nats client of `url`, or a panic saying why not.
pub async fn connect(url: &str) -> Client {
    timeout(WAIT, async_nats::connect(url))
        .await
        .unwrap_or_else(|_| panic!("connect to {url} timed out"))
        .unwrap_or_else(|e| panic!("connect to {url} failed: {e}"))
}

/// A round trip through the server on this connection: everything sent
/// before it has been processed by that server.
pub async fn sync(c: &Client) {
    let inbox = c.new_inbox();
    let mut s = c.subscribe(inbox.clone()).await.expect("barrier subscribe");
    c.publish(inbox, "barrier".into()).await.expect("barrier");
    let m = timeout(WAIT, s.next())
        .await
        .expect("barrier timed out")
        .expect("barrier subscription ended");
    assert_eq!(m.payload, "barrier");
    s.unsubscribe().await.expect("barrier unsubscribe");
}

/// Whether `publisher`'s server learns, within `within`, the interest that
/// `subscriber` registered before this call: a probe subscription made now
/// travels the same links after the earlier ones (and after earlier
/// unsubscribes), so once the publisher's server forwards to the probe it
/// has the earlier interest too.
pub async fn reaches(publisher: &Client, subscriber: &Client, within: Duration) -> bool {
    let probe = subscriber.new_inbox();
    let mut s = subscriber.subscribe(probe.clone()).await.expect("probe");
    sync(subscriber).await;
    let deadline = Instant::now() + within;
    let ok = loop {
        publisher
            .publish(probe.clone(), "probe".into())
            .await
            .expect("probe publish");
        if let Ok(Some(_)) = timeout(Duration::from_millis(50), s.next()).await {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
    };
    s.unsubscribe().await.expect("probe unsubscribe");
    sync(subscriber).await;
    // Drain probes still in flight.
    sync(publisher).await;
    ok
}
