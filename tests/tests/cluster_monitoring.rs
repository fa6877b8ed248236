//! Monitoring a mixed cluster: one Canopy node and one nats-server 2.15.1
//! node, each configured with a route to the other and a monitoring port.
//! Each one's `/routez` lists the other (one route: Canopy does not pool,
//! and nats-server keeps a single connection to a non-pooling peer) with
//! the right id and name and message counters that follow the traffic;
//! `/varz` counts the route and describes the cluster. Canopy's route and
//! cluster objects have the same keys as nats-server's.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use canopy_tests::{free_port, Impl, Server, ServerBuilder};
use serde_json::Value;

const CLUSTER: &str = "monc";
/// How long the cluster may take to form, or a counter to move.
const MESH: Duration = Duration::from_secs(20);

struct Node {
    server: Server,
    http: u16,
    name: String,
    route_port: u16,
}

fn start(imp: Impl, name: &str, route_port: u16, peer_route_port: u16) -> Node {
    let http = free_port();
    let server = ServerBuilder::new(imp)
        .args([
            "-n".to_string(),
            name.to_string(),
            "-m".to_string(),
            http.to_string(),
            "--cluster".to_string(),
            format!("nats://127.0.0.1:{route_port}"),
            "--cluster_name".to_string(),
            CLUSTER.to_string(),
            "--routes".to_string(),
            format!("nats-route://127.0.0.1:{peer_route_port}"),
        ])
        .start();
    Node {
        server,
        http,
        name: name.to_string(),
        route_port,
    }
}

/// One raw HTTP/1.1 GET: the JSON body.
fn json(n: &Node, path: &str) -> Value {
    let (status, body) = canopy_tests::http_get(n.http, path);
    assert_eq!(status, 200, "{} {path}: {body}", n.server.imp());
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// The only route of `n`'s `/routez` (panics unless exactly one).
fn only_route(n: &Node, path: &str) -> Value {
    let rz = json(n, path);
    assert_eq!(rz["num_routes"], 1, "{} {path}: {rz:#}", n.server.imp());
    let routes = rz["routes"].as_array().expect("routes array");
    assert_eq!(routes.len(), 1, "{} {path}: {rz:#}", n.server.imp());
    routes[0].clone()
}

/// Polls until `ok` holds for `n`'s `/routez` at `path` (or panics with it).
fn wait_routez(n: &Node, path: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + MESH;
    loop {
        let rz = json(n, path);
        if ok(&rz) {
            return rz;
        }
        assert!(
            Instant::now() < deadline,
            "{}: {what} never happened; /routez: {rz:#}\nlog:\n{}",
            n.server.imp(),
            n.server.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A raw client that said CONNECT and `ops`, and got the PONG of a PING.
fn client(n: &Node, ops: &str) -> (TcpStream, BufReader<TcpStream>) {
    let mut s = n.server.connect();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    write!(s, "CONNECT {{\"verbose\":false}}\r\n{ops}PING\r\n").unwrap();
    await_line(&mut r, "PONG\r\n");
    (s, r)
}

/// Reads lines until `want` (returns the lines before it).
fn await_line(r: &mut BufReader<TcpStream>, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).expect("read");
        assert!(n > 0, "closed before {want:?}; saw {seen:?}");
        if line == want {
            return seen;
        }
        seen.push(line);
    }
}

fn counter(route: &Value, key: &str) -> u64 {
    route[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key}: {route}"))
}

fn counters(route: &Value) -> [u64; 4] {
    ["in_msgs", "in_bytes", "out_msgs", "out_bytes"].map(|k| counter(route, k))
}

fn interest(route: &Value) -> Vec<String> {
    route["subscriptions_list"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn routez_and_varz_of_a_mixed_cluster() {
    let (ours_route, theirs_route) = (free_port(), free_port());
    let theirs = start(Impl::NatsServer, "mon-ns", theirs_route, ours_route);
    let ours = start(Impl::Canopy, "mon-canopy", ours_route, theirs_route);
    let our_id = json(&ours, "/varz")["server_id"]
        .as_str()
        .unwrap()
        .to_string();
    let their_id = json(&theirs, "/varz")["server_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Formed: one route each way, settled (both dialed each other, so
    // whichever connection was kept counts as solicited and configured
    // on both sides once the duplicate is gone).
    let settled = |peer_id: &str| {
        let peer_id = peer_id.to_string();
        move |rz: &Value| {
            rz["num_routes"] == 1
                && rz["routes"][0]["remote_id"] == peer_id.as_str()
                && rz["routes"][0]["did_solicit"] == true
                && rz["routes"][0]["is_configured"] == true
        }
    };
    wait_routez(
        &ours,
        "/routez",
        "the route to nats-server",
        settled(&their_id),
    );
    wait_routez(&theirs, "/routez", "the route to canopy", settled(&our_id));

    for (n, peer, peer_id) in [(&ours, &theirs, &their_id), (&theirs, &ours, &our_id)] {
        let route = only_route(n, "/routez");
        let imp = n.server.imp();
        assert_eq!(route["remote_id"], peer_id.as_str(), "{imp}: {route:#}");
        assert_eq!(route["remote_name"], peer.name.as_str(), "{imp}: {route:#}");
        assert_eq!(route["ip"], "127.0.0.1", "{imp}: {route:#}");
        assert!(route["rid"].as_u64().unwrap() > 0, "{imp}: {route:#}");
        assert!(route["rtt"].is_string(), "{imp}: {route:#}");
        // Both ends at the default `accept`: neither starts compression,
        // and each shows `off`, as two nats-servers do.
        assert_eq!(route["compression"], "off", "{imp}: {route:#}");
    }

    // Interest both ways: a subscriber on each side.
    let (_sub_theirs, mut sub_theirs_r) = client(&theirs, "SUB mon.a 1\r\n");
    let (_sub_ours, mut sub_ours_r) = client(&ours, "SUB mon.b 1\r\n");
    wait_routez(&ours, "/routez?subs=1", "nats-server's interest", |rz| {
        interest(&rz["routes"][0]).contains(&"mon.a".to_string())
    });
    wait_routez(&theirs, "/routez?subs=1", "canopy's interest", |rz| {
        interest(&rz["routes"][0]).contains(&"mon.b".to_string())
    });

    // Key sets agree (with and without the subscription list).
    for path in ["/routez", "/routez?subs=1"] {
        let (a, b) = (json(&ours, path), json(&theirs, path));
        assert_eq!(keys(&a), keys(&b), "{path} top level");
        let (ra, rb) = (&a["routes"][0], &b["routes"][0]);
        assert_eq!(
            keys(ra),
            keys(rb),
            "{path} route object:\ncanopy {ra:#}\nnats-server {rb:#}"
        );
    }

    let before_ours = counters(&only_route(&ours, "/routez"));
    let before_theirs = counters(&only_route(&theirs, "/routez"));

    // 3 messages (15 bytes) Canopy -> nats-server, 2 (4 bytes) back.
    let (mut p, mut pr) = client(&ours, "");
    p.write_all(
        b"PUB mon.a 5\r\nhello\r\nPUB mon.a 5\r\nworld\r\nPUB mon.a 5\r\nagain\r\nPING\r\n",
    )
    .unwrap();
    await_line(&mut pr, "PONG\r\n");
    let (mut q, mut qr) = client(&theirs, "");
    q.write_all(b"PUB mon.b 2\r\nhi\r\nPUB mon.b 2\r\nyo\r\nPING\r\n")
        .unwrap();
    await_line(&mut qr, "PONG\r\n");
    for _ in 0..3 {
        let mut line = String::new();
        sub_theirs_r.read_line(&mut line).unwrap();
        assert!(line.starts_with("MSG mon.a 1 5"), "{line}");
        line.clear();
        sub_theirs_r.read_line(&mut line).unwrap();
    }
    for _ in 0..2 {
        let mut line = String::new();
        sub_ours_r.read_line(&mut line).unwrap();
        assert!(line.starts_with("MSG mon.b 1 2"), "{line}");
        line.clear();
        sub_ours_r.read_line(&mut line).unwrap();
    }

    // in_msgs, in_bytes, out_msgs, out_bytes moved by exactly the traffic.
    let moved = |n: &Node, before: [u64; 4], want: [u64; 4]| {
        wait_routez(n, "/routez", "the counters to move", |rz| {
            let now = counters(&rz["routes"][0]);
            (0..4).all(|i| now[i] - before[i] >= want[i])
        });
        let now = counters(&only_route(n, "/routez"));
        let delta: Vec<u64> = (0..4).map(|i| now[i] - before[i]).collect();
        assert_eq!(
            delta,
            want.to_vec(),
            "{}: [in_msgs, in_bytes, out_msgs, out_bytes] deltas",
            n.server.imp()
        );
    };
    moved(&ours, before_ours, [2, 4, 3, 15]);
    moved(&theirs, before_theirs, [3, 15, 2, 4]);

    // /varz: the route, the peers, and the cluster block.
    let (va, vb) = (json(&ours, "/varz"), json(&theirs, "/varz"));
    for (v, n, peer) in [(&va, &ours, &theirs), (&vb, &theirs, &ours)] {
        let imp = n.server.imp();
        assert_eq!(v["routes"], 1, "{imp}");
        assert_eq!(v["remotes"], 1, "{imp}");
        let c = &v["cluster"];
        assert_eq!(c["name"], CLUSTER, "{imp}: {c}");
        assert_eq!(c["addr"], "127.0.0.1", "{imp}: {c}");
        assert_eq!(c["cluster_port"], n.route_port, "{imp}: {c}");
        assert_eq!(c["auth_timeout"], 2, "{imp}: {c}");
        assert_eq!(c["tls_timeout"], 2, "{imp}: {c}");
        assert_eq!(
            c["urls"],
            serde_json::json!([format!("127.0.0.1:{}", peer.route_port)]),
            "{imp}: {c}"
        );
        let urls: BTreeSet<&str> = v["connect_urls"]
            .as_array()
            .unwrap_or_else(|| panic!("{imp}: no connect_urls"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let want: BTreeSet<String> = [n, peer]
            .iter()
            .map(|x| format!("127.0.0.1:{}", x.server.port()))
            .collect();
        assert_eq!(
            urls,
            want.iter().map(String::as_str).collect(),
            "{imp} connect_urls"
        );
    }
    // nats-server pools 3 connections per peer by default; Canopy does not
    // pool and says so as nats-server does with pooling off.
    assert_eq!(va["cluster"]["pool_size"], -1);
    assert_eq!(vb["cluster"]["pool_size"], 3);
    assert_eq!(keys(&va["cluster"]), keys(&vb["cluster"]), "/varz cluster");
    // The rest of /varz: the same keys, apart from nats-server's own.
    let without = |v: &Value| -> BTreeSet<String> {
        keys(v).difference(&reference_only()).cloned().collect()
    };
    assert_eq!(without(&va), without(&vb), "/varz");
}

/// `/varz` keys only nats-server prints (see `tests/monitoring.rs`).
fn reference_only() -> BTreeSet<String> {
    ["system_account"].iter().map(|s| s.to_string()).collect()
}

// ---- gateways ----------------------------------------------------------------

/// One server of a one-server cluster of a super-cluster: gateway `name`
/// on `port`, with one `gateways` entry, `peer` at `peer_port` (no entry
/// for itself: Canopy does not keep it, and nats-server lists only what
/// is configured in `/varz`).
fn gateway_node(imp: Impl, name: &str, port: u16, peer: &str, peer_port: u16) -> Node {
    let http = free_port();
    let config = format!(
        "server_name: {name}1\nhttp_port: {http}\ngateway {{\n  name: {name}\n  host: 127.0.0.1\n  port: {port}\n  gateways: [\n    {{name: {peer}, url: \"nats://127.0.0.1:{peer_port}\"}}\n  ]\n}}\n"
    );
    let server = ServerBuilder::new(imp).config(&config).start();
    Node {
        server,
        http,
        name: name.to_string(),
        route_port: port,
    }
}

/// Polls `n`'s `/gatewayz` at `path` until both links to `peer` are
/// listed with their accounts (or panics with it).
fn wait_gateway_links(n: &Node, path: &str, peer: &str) -> Value {
    let deadline = Instant::now() + MESH;
    loop {
        let gz = json(n, path);
        let out = &gz["outbound_gateways"][peer];
        let inb = &gz["inbound_gateways"][peer][0];
        let accounts = |v: &Value| v["accounts"].as_array().map_or(0, Vec::len);
        if accounts(out) >= 2 && accounts(inb) >= 2 {
            return gz;
        }
        assert!(
            Instant::now() < deadline,
            "{}: the gateway links to {peer} never came up; /gatewayz: {gz:#}\nlog:\n{}",
            n.server.imp(),
            n.server.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `(name, interest_mode)` of each account of a link, sorted by name
/// (both servers list them in map order).
fn account_modes(link: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = link["accounts"]
        .as_array()
        .unwrap_or_else(|| panic!("no accounts: {link:#}"))
        .iter()
        .map(|a| {
            assert_eq!(a["interest_only_threshold"], 1000, "{a}");
            (
                a["name"].as_str().unwrap_or_default().to_string(),
                a["interest_mode"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A two-cluster super-cluster, A Canopy and B nats-server: each one's
/// `/gatewayz` names itself and lists one outbound and one inbound link
/// to the other, with the same keys, the peer's server id, and every
/// account interest-only both ways; `/varz` describes the gateway with
/// the same keys.
#[test]
fn gatewayz_and_varz_of_a_mixed_super_cluster() {
    let (pa, pb) = (free_port(), free_port());
    let a = gateway_node(Impl::Canopy, "A", pa, "B", pb);
    let b = gateway_node(Impl::NatsServer, "B", pb, "A", pa);
    let path = "/gatewayz?accs=1";
    let ga = wait_gateway_links(&a, path, "B");
    let gb = wait_gateway_links(&b, path, "A");
    let id = |n: &Node| json(n, "/varz")["server_id"].clone();
    let (id_a, id_b) = (id(&a), id(&b));

    for (n, gz, own, peer, own_port, peer_id) in [
        (&a, &ga, "A", "B", pa, &id_b),
        (&b, &gb, "B", "A", pb, &id_a),
    ] {
        let imp = n.server.imp();
        assert_eq!(gz["name"], own, "{imp}");
        assert_eq!(gz["host"], "127.0.0.1", "{imp}");
        assert_eq!(gz["port"], own_port, "{imp}");
        let out = &gz["outbound_gateways"];
        let inb = &gz["inbound_gateways"];
        assert_eq!(keys(out), keys(&serde_json::json!({peer: 0})), "{imp}");
        assert_eq!(keys(inb), keys(&serde_json::json!({peer: 0})), "{imp}");
        assert_eq!(inb[peer].as_array().map(Vec::len), Some(1), "{imp}");
        assert_eq!(out[peer]["configured"], true, "{imp}");
        assert_eq!(inb[peer][0]["configured"], false, "{imp}");
        for link in [&out[peer], &inb[peer][0]] {
            let c = &link["connection"];
            assert_eq!(c["kind"], "Gateway", "{imp}");
            assert_eq!(&c["name"], peer_id, "{imp}: the peer's server id");
            assert_eq!(c["ip"], "127.0.0.1", "{imp}");
            assert_eq!(
                account_modes(link),
                [
                    ("$G".to_string(), "Interest-Only".to_string()),
                    ("$SYS".to_string(), "Interest-Only".to_string())
                ],
                "{imp}: {link:#}"
            );
        }
        assert_eq!(inb[peer][0]["connection"]["subscriptions"], 0, "{imp}");
        // No outbound link to an unknown gateway: `null`.
        assert_eq!(
            json(n, "/gatewayz?gw_name=Z")["outbound_gateways"],
            Value::Null,
            "{imp}"
        );
        // Without accs=1, no accounts.
        let plain = json(n, "/gatewayz");
        assert!(
            plain["outbound_gateways"][peer].get("accounts").is_none(),
            "{imp}"
        );
    }
    // The same keys on each object (nats-server's outbound to Canopy
    // and Canopy's to nats-server both carry a connection; values such as
    // ids, times and counts differ).
    assert_eq!(keys(&ga), keys(&gb), "/gatewayz");
    for (x, y, what) in [
        (
            &ga["outbound_gateways"]["B"],
            &gb["outbound_gateways"]["A"],
            "outbound",
        ),
        (
            &ga["inbound_gateways"]["B"][0],
            &gb["inbound_gateways"]["A"][0],
            "inbound",
        ),
    ] {
        assert_eq!(keys(x), keys(y), "{what}");
        assert_eq!(
            keys(&x["connection"]),
            keys(&y["connection"]),
            "{what} connection"
        );
    }

    // /varz: the same gateway keys; the configured gateway and its URL.
    let (va, vb) = (json(&a, "/varz"), json(&b, "/varz"));
    assert_eq!(keys(&va["gateway"]), keys(&vb["gateway"]), "/varz gateway");
    for (v, peer, port) in [(&va, "B", pb), (&vb, "A", pa)] {
        assert_eq!(
            v["gateway"]["gateways"],
            serde_json::json!([{"name": peer, "urls": [format!("127.0.0.1:{port}")]}])
        );
    }
}
