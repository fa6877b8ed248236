//! Scripted scenarios: a small builder DSL over a [`World`] with one
//! engine (or a cluster of them, [`Scenario::cluster`]) and named clients. Each call acts on the world at once and
//! returns the scenario, so a test reads top to bottom:
//!
//! ```
//! use canopy_sim::scenario::Scenario;
//! Scenario::new()
//!     .client("c1")
//!     .subscribe("c1", "foo.*")
//!     .client("c2")
//!     .publish("c2", "foo.bar", 3)
//!     .run_until_idle()
//!     .expect_delivered("c1", 3);
//! ```
//!
//! The reference model checks every delivery as in swarm runs; every
//! `expect_*` also asserts that no violation was found. A failed
//! expectation panics with the violations and the last events.

use crate::client_model::{ClientSpec, MsgKey, SubSpec};
use crate::faults::Fault;
use crate::link::{DirRules, LinkRules};
use crate::rng::{Purpose, SimRng};
use crate::world::World;
use canopy_core::{CloseReason, Options};
use std::time::Duration;

/// How long `run_until_idle` and the implicit waits may take (virtual).
const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// A scripted scenario.
pub struct Scenario {
    world: World,
    seed: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::new()
    }
}

impl Scenario {
    /// One engine with default options (seed 1).
    pub fn new() -> Scenario {
        Scenario::with_options(Options {
            host: "127.0.0.1".to_string(),
            port: 4222,
            ..Options::default()
        })
    }

    /// One engine with `options` (seed 1).
    pub fn with_options(options: Options) -> Scenario {
        Scenario::build(options, 1)
    }

    fn build(options: Options, seed: u64) -> Scenario {
        Scenario::build_nodes(vec![options], seed)
    }

    fn build_nodes(options: Vec<Options>, seed: u64) -> Scenario {
        let mut world = World::new(seed, options, 50);
        world.delivery_log = Some(Vec::new());
        world.start();
        let mut s = Scenario { world, seed };
        if s.world.nodes.len() > 1 {
            s = s.wait_mesh();
        }
        s
    }

    /// `n` engines joined by routes as the swarm's clusters are (node 0
    /// has no configured routes; the others have one to node 0 and find
    /// each other by gossip), with default options (seed 1). Waits until
    /// the full mesh is up.
    pub fn cluster(n: usize) -> Scenario {
        Scenario::cluster_with(n, |_, _| {})
    }

    /// Like [`Scenario::cluster`], with `f` adjusting node `i`'s options.
    pub fn cluster_with(n: usize, f: impl Fn(usize, &mut Options)) -> Scenario {
        let mut options: Vec<Options> = (0..n)
            .map(|_| Options {
                port: 4222,
                ..Options::default()
            })
            .collect();
        let mut rng = SimRng::new(1, Purpose::Topology, 1);
        crate::swarm::cluster_options(&mut options, &mut rng);
        for (i, o) in options.iter_mut().enumerate() {
            if let Some(c) = o.cluster.as_mut() {
                c.ping_interval = Duration::from_secs(1);
                c.connect_retries = 10;
            }
            f(i, o);
        }
        Scenario::build_nodes(options, 1)
    }

    /// Adds a client whose home is node `node` and waits until it is
    /// connected.
    pub fn client_on(self, name: &str, node: usize) -> Scenario {
        self.client_spec_on(ClientSpec::scripted(name), node)
    }

    /// Adds a client with `spec` whose home is node `node`, and waits until
    /// it is connected and its interest reached the other nodes.
    pub fn client_spec_on(mut self, spec: ClientSpec, node: usize) -> Scenario {
        assert!(node < self.world.nodes.len(), "no node {node}");
        assert!(
            self.world.client_index(&spec.name).is_none(),
            "client {} exists",
            spec.name
        );
        let idx = self.world.clients.len();
        let rng = SimRng::new(self.seed, Purpose::Workload, 1 + idx as u64);
        let now = self.world.now();
        self.world
            .add_client_to(node, spec, rng, LinkRules::default(), now);
        self.wait_settled(idx).wait_interest()
    }

    /// Waits until every node is up and routed to every other one.
    pub fn wait_mesh(mut self) -> Scenario {
        if !self.run_until_true(Duration::from_millis(5), World::mesh_complete) {
            self.fail("the route mesh did not form");
        }
        self
    }

    /// Waits until the mesh is up and every route's interest equals the
    /// model (each node holds, per peer, exactly the peer's local
    /// subscriptions, queue weights = member counts).
    pub fn wait_interest(mut self) -> Scenario {
        if self.world.nodes.len() < 2 {
            return self;
        }
        let converged = self.run_until_true(Duration::from_millis(1), |w| {
            w.mesh_complete() && w.route_interest_diffs().is_empty()
        });
        if !converged && !self.world.failed() {
            let diffs = self.world.route_interest_diffs().join("\n  ");
            self.fail(&format!("route interest did not converge:\n  {diffs}"));
        }
        self
    }

    /// Crashes node `node` (state lost) and restarts it after `down_for`;
    /// returns at once (clients reconnect by themselves).
    pub fn crash_node(mut self, node: usize, down_for: Duration) -> Scenario {
        assert!(self.world.crash_node(node, down_for), "node {node} is down");
        self
    }

    /// Shuts node `node` down gracefully; it restarts after `down_for`.
    pub fn shutdown_node(mut self, node: usize, down_for: Duration) -> Scenario {
        assert!(
            self.world.shutdown_node(node, down_for),
            "node {node} is down"
        );
        self
    }

    /// Resets the route connection between nodes `a` and `b` now.
    pub fn reset_route(mut self, a: usize, b: usize) -> Scenario {
        assert!(self.world.reset_route(a, b), "no route between {a} and {b}");
        self
    }

    /// Nothing on the route between `a` and `b` arrives for `dur` (a
    /// silent partition; only the route PINGs notice).
    pub fn partition_route(mut self, a: usize, b: usize, dur: Duration) -> Scenario {
        let fault = Fault::RoutePartition { a, b, dur };
        assert!(
            self.world.apply_fault(fault),
            "no route between {a} and {b}"
        );
        self
    }

    /// Every dial from or to node `node` fails for `dur`.
    pub fn block_dials(mut self, node: usize, dur: Duration) -> Scenario {
        let fault = Fault::DialFail { node, dur };
        assert!(self.world.apply_fault(fault));
        self
    }

    /// Waits until every client is connected and subscribed again, the
    /// mesh is whole and route interest converged.
    pub fn wait_recovered(mut self) -> Scenario {
        if !self.run_until_true(Duration::from_millis(5), World::all_settled) {
            self.fail("clients did not reconnect");
        }
        self.wait_mesh().wait_interest()
    }

    /// Uses `seed` for every random choice (call before adding clients).
    pub fn seed(self, seed: u64) -> Scenario {
        assert!(
            self.world.clients.is_empty(),
            "set the seed before adding clients"
        );
        let options = self.world.nodes[0].options.clone();
        Scenario::build(options, seed)
    }

    /// Adds a client with a default link and waits until it is connected.
    pub fn client(self, name: &str) -> Scenario {
        self.client_with(ClientSpec::scripted(name), LinkRules::default())
    }

    /// Adds a client that connects with `"echo":false`.
    pub fn client_no_echo(self, name: &str) -> Scenario {
        let mut spec = ClientSpec::scripted(name);
        spec.echo = false;
        self.client_with(spec, LinkRules::default())
    }

    /// Adds a client with `spec` and `link` and waits until it is connected.
    pub fn client_with(mut self, spec: ClientSpec, link: LinkRules) -> Scenario {
        assert!(
            self.world.client_index(&spec.name).is_none(),
            "client {} exists",
            spec.name
        );
        let idx = self.world.clients.len() as u64;
        let rng = SimRng::new(self.seed, Purpose::Workload, 1 + idx);
        let now = self.world.now();
        self.world.add_client(spec, rng, link, now);
        let c = idx as usize;
        self.wait_settled(c)
    }

    /// Changes both directions of a client's link.
    pub fn link(mut self, name: &str, f: impl Fn(&mut DirRules)) -> Scenario {
        let c = self.idx(name);
        let mut rules = self.world.links[c];
        f(&mut rules.up);
        f(&mut rules.down);
        self.world.set_link(c, rules);
        self
    }

    /// Cuts everything a client sends and receives into pieces of at most
    /// `max_piece` bytes (1: byte by byte).
    pub fn chunking(self, name: &str, max_piece: usize) -> Scenario {
        self.link(name, |d| d.max_piece = max_piece)
    }

    /// Subscribes and waits for the PONG that confirms it.
    pub fn subscribe(self, name: &str, pattern: &str) -> Scenario {
        self.sub(name, pattern, None, false)
    }

    /// Joins a queue group and waits for the confirmation.
    pub fn queue_subscribe(self, name: &str, pattern: &str, queue: &str) -> Scenario {
        self.sub(name, pattern, Some(queue), false)
    }

    /// Answers every request on `pattern` (optionally as a queue member).
    pub fn respond(self, name: &str, pattern: &str, queue: Option<&str>) -> Scenario {
        self.sub(name, pattern, queue, true)
    }

    /// Unsubscribes the first subscription on `pattern` and waits for the
    /// confirmation.
    pub fn unsubscribe(mut self, name: &str, pattern: &str) -> Scenario {
        let c = self.idx(name);
        let mut found = false;
        self.world
            .with_client(c, |m, _| found = m.unsubscribe(pattern));
        assert!(found, "{name} has no subscription on {pattern}");
        // An UNSUB is not confirmed by the client; let it reach the engine
        // (and its routes) before going on.
        self.wait_settled(c).run_until_idle().wait_interest()
    }

    /// Publishes `n` messages (16-byte payloads) in one write.
    pub fn publish(self, name: &str, subject: &str, n: usize) -> Scenario {
        self.publish_sized(name, subject, n, 16)
    }

    /// Publishes `n` messages of `size` bytes in one write.
    pub fn publish_sized(mut self, name: &str, subject: &str, n: usize, size: usize) -> Scenario {
        let c = self.idx(name);
        let mut ok = true;
        self.world.with_client(c, |m, _| {
            for _ in 0..n {
                ok &= m.publish(subject, None, false, size, None);
            }
        });
        assert!(ok, "{name} is not connected");
        self
    }

    /// Sends `n` requests on `subject` (replies come to the inbox).
    pub fn request(mut self, name: &str, subject: &str, n: usize) -> Scenario {
        let c = self.idx(name);
        let mut ok = true;
        self.world.with_client(c, |m, _| {
            for _ in 0..n {
                ok &= m.request(subject);
            }
        });
        assert!(ok, "{name} is not connected");
        self
    }

    /// The client stops reading for `dur`.
    pub fn stall(mut self, name: &str, dur: Duration) -> Scenario {
        let c = self.idx(name);
        assert!(
            self.world.apply_fault(Fault::Stall { client: c, dur }),
            "{name} is not connected"
        );
        self
    }

    /// Resets the client's connection now (both sides see it close); the
    /// client reconnects and resubscribes, and the scenario waits for it.
    pub fn reset_link(mut self, name: &str) -> Scenario {
        let c = self.idx(name);
        assert!(self.world.reset_client(c), "{name} is not connected");
        self.wait_settled(c)
    }

    /// Runs for `dur` of virtual time.
    pub fn run_for(mut self, dur: Duration) -> Scenario {
        let until = self.world.now() + dur;
        self.world.run_until(until);
        self
    }

    /// Runs until no traffic or client activity is pending.
    pub fn run_until_idle(mut self) -> Scenario {
        if !self.world.run_until_idle(WAIT_LIMIT) {
            self.fail(&format!("not idle after {WAIT_LIMIT:?}"));
        }
        self
    }

    /// Asserts that `name` received exactly `n` messages (status messages
    /// such as no-responders included) and that nothing was violated.
    pub fn expect_delivered(self, name: &str, n: u64) -> Scenario {
        let got = self.delivered(name);
        if got != n {
            self.fail(&format!("{name} received {got} messages, expected {n}"));
        }
        self.expect_no_violations()
    }

    /// Asserts that the engine closed `name` as a slow consumer at least
    /// once.
    pub fn expect_slow_consumer(self, name: &str) -> Scenario {
        let c = self.idx(name);
        let slow = self.world.close_reasons(c).iter().any(|r| {
            matches!(
                r,
                CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
            )
        });
        if !slow {
            self.fail(&format!("{name} was never closed as a slow consumer"));
        }
        self.expect_no_violations()
    }

    /// Checks quiescence: every owed delivery happened, interest matches
    /// the model (in clusters: every route's too), every client is
    /// connected.
    pub fn expect_converged(mut self) -> Scenario {
        self.world.convergence_check();
        self.expect_no_violations()
    }

    /// Asserts that the checkers found nothing.
    pub fn expect_no_violations(self) -> Scenario {
        if self.world.failed() {
            self.fail("violations found");
        }
        self
    }

    /// Messages `name` received so far.
    pub fn delivered(&self, name: &str) -> u64 {
        self.world.clients[self.idx(name)].delivered
    }

    /// The ids of the messages `name` received, in arrival order.
    pub fn received(&self, name: &str) -> Vec<MsgKey> {
        let c = self.idx(name);
        self.world
            .delivery_log
            .iter()
            .flatten()
            .filter(|&&(d, _)| d == c)
            .map(|&(_, k)| k)
            .collect()
    }

    /// The world, for checks the DSL does not cover.
    pub fn world(&mut self) -> &mut World {
        &mut self.world
    }

    fn sub(mut self, name: &str, pattern: &str, queue: Option<&str>, respond: bool) -> Scenario {
        let c = self.idx(name);
        self.world.with_client(c, |m, _| {
            m.subscribe(SubSpec {
                pattern: pattern.to_string(),
                queue: queue.map(str::to_string),
                respond,
            })
        });
        self.wait_settled(c).wait_interest()
    }

    fn wait_settled(mut self, c: usize) -> Scenario {
        if !self.run_until_true(Duration::from_millis(1), |w| w.settled(c)) {
            let name = self.world.clients[c].spec.name.clone();
            self.fail(&format!("{name} did not connect and subscribe"));
        }
        self
    }

    /// Runs the world `step` at a time until `done` holds, the world
    /// fails, or [`WAIT_LIMIT`] passes; whether `done` holds.
    fn run_until_true(&mut self, step: Duration, done: impl Fn(&World) -> bool) -> bool {
        let end = self.world.now() + WAIT_LIMIT;
        while !done(&self.world) && !self.world.failed() && self.world.now() < end {
            let next = self.world.now() + step;
            self.world.run_until(next);
        }
        done(&self.world)
    }

    fn idx(&self, name: &str) -> usize {
        self.world
            .client_index(name)
            .unwrap_or_else(|| panic!("no client {name}"))
    }

    fn fail(&self, what: &str) -> ! {
        let mut text = format!("scenario failed: {what}\n");
        for v in &self.world.checker.violations {
            text.push_str(&format!("  violation: {v}\n"));
        }
        text.push_str("last events:\n");
        for line in self.world.trace.lines() {
            text.push_str(&format!("  {line}\n"));
        }
        panic!("{text}");
    }
}
