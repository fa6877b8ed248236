//! Scripted scenarios: each one drives named clients against one engine
//! through the simulator, with the reference model checking every delivery.

use canopy_core::Options;
use canopy_sim::client_model::MsgKey;
use canopy_sim::scenario::Scenario;
use std::time::Duration;

#[test]
fn basic_pub_sub_with_wildcards() {
    Scenario::new()
        .client("c1")
        .subscribe("c1", "foo.*")
        .client("c2")
        .subscribe("c2", "foo.>")
        .client("c3")
        .publish("c3", "foo.bar", 5)
        .publish("c3", "foo.bar.baz", 3)
        .publish("c3", "bar", 2)
        .run_until_idle()
        .expect_delivered("c1", 5)
        .expect_delivered("c2", 8)
        .expect_delivered("c3", 0)
        .expect_converged();
}

#[test]
fn unsubscribe_stops_delivery() {
    Scenario::new()
        .client("c1")
        .subscribe("c1", "news")
        .client("c2")
        .publish("c2", "news", 4)
        .run_until_idle()
        .expect_delivered("c1", 4)
        .unsubscribe("c1", "news")
        .publish("c2", "news", 4)
        .run_until_idle()
        .expect_delivered("c1", 4)
        .expect_converged();
}

#[test]
fn echo_false_hides_own_messages() {
    Scenario::new()
        .client_no_echo("quiet")
        .subscribe("quiet", "chat")
        .client("loud")
        .subscribe("loud", "chat")
        .publish("quiet", "chat", 3)
        .publish("loud", "chat", 2)
        .run_until_idle()
        .expect_delivered("quiet", 2)
        .expect_delivered("loud", 5)
        .expect_converged();
}

#[test]
fn queue_group_splits_and_plain_subscriber_sees_all() {
    let s = Scenario::new()
        .client("w1")
        .queue_subscribe("w1", "jobs.*", "workers")
        .client("w2")
        .queue_subscribe("w2", "jobs.*", "workers")
        .client("audit")
        .subscribe("audit", "jobs.>")
        .client("boss")
        .publish("boss", "jobs.build", 100)
        .run_until_idle()
        .expect_delivered("audit", 100)
        .expect_converged();
    let (w1, w2) = (s.delivered("w1"), s.delivered("w2"));
    assert_eq!(w1 + w2, 100, "each message goes to exactly one worker");
    assert!(w1 > 0 && w2 > 0, "both workers get a share: {w1} / {w2}");
}

#[test]
fn request_reply_and_no_responders() {
    Scenario::new()
        .client("server")
        .respond("server", "svc.echo", None)
        .client("caller")
        .request("caller", "svc.echo", 10)
        .run_until_idle()
        // Ten replies.
        .expect_delivered("caller", 10)
        .expect_delivered("server", 10)
        .request("caller", "svc.missing", 1)
        .run_until_idle()
        // Plus one no-responders status.
        .expect_delivered("caller", 11)
        .expect_converged();
}

#[test]
fn request_reply_through_a_queue_of_responders() {
    let s = Scenario::new()
        .client("r1")
        .respond("r1", "svc.*", Some("pool"))
        .client("r2")
        .respond("r2", "svc.*", Some("pool"))
        .client("caller")
        .request("caller", "svc.sum", 40)
        .run_until_idle()
        .expect_delivered("caller", 40)
        .expect_converged();
    assert_eq!(s.delivered("r1") + s.delivered("r2"), 40);
}

#[test]
fn slow_consumer_is_cut_and_others_carry_on() {
    let options = Options {
        max_pending: 32 * 1024,
        ..Options::default()
    };
    Scenario::with_options(options)
        .client("slow")
        // A small socket buffer, so the engine's queue fills quickly.
        .link("slow", |d| d.window = 4096)
        .subscribe("slow", "big.*")
        .client("fast")
        .subscribe("fast", "big.*")
        .client("producer")
        .stall("slow", Duration::from_secs(30))
        .publish_sized("producer", "big.data", 200, 1000)
        .run_for(Duration::from_secs(2))
        .expect_slow_consumer("slow")
        .expect_delivered("fast", 200)
        .run_until_idle()
        .expect_converged();
}

#[test]
fn reset_link_reconnects_and_resubscribes() {
    Scenario::new()
        .client("c1")
        .subscribe("c1", "a.b")
        .client("c2")
        .publish("c2", "a.b", 3)
        .run_until_idle()
        .expect_delivered("c1", 3)
        .reset_link("c1")
        .publish("c2", "a.b", 3)
        .run_until_idle()
        .expect_delivered("c1", 6)
        .expect_converged();
}

/// One fixed exchange, with every link cut into pieces of `piece` bytes.
fn chunked_run(piece: usize) -> (Vec<MsgKey>, Vec<MsgKey>) {
    let s = Scenario::new()
        .client("sub")
        .chunking("sub", piece)
        .subscribe("sub", "x.*")
        .queue_subscribe("sub", "x.y", "q")
        .client("pub")
        .chunking("pub", piece)
        .publish_sized("pub", "x.y", 20, 300)
        .publish_sized("pub", "x.z", 5, 5000)
        .client("req")
        .chunking("req", piece)
        .respond("sub", "svc", None)
        .request("req", "svc", 5)
        .run_until_idle()
        .expect_converged();
    (s.received("sub"), s.received("req"))
}

#[test]
fn byte_by_byte_chunking_changes_nothing() {
    let whole = chunked_run(usize::MAX);
    // x.* and the queue on x.y, x.z, the requests to the responder.
    assert_eq!(whole.0.len(), 20 * 2 + 5 + 5);
    assert_eq!(whole.1.len(), 5);
    for piece in [1, 2, 7] {
        assert_eq!(chunked_run(piece), whole, "pieces of {piece} bytes");
    }
}
