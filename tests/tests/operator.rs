//! Operator mode (JWT authentication) with chains minted by
//! `canopy_tests::operator`: nats-py and async-nats connect with `.creds`
//! files, an expired user is refused, a bearer-token user needs no nonce
//! signature, and a user's JWT permissions are enforced.
//!
//! Each check runs against canopy (tokio and smol) and nats-server 2.15.1
//! with the same operator, account and user JWTs.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use async_nats::ConnectOptions;
use canopy_tests::operator::{Operator, Resolver, User};
use canopy_tests::{Impl, Server, ServerBuilder};
use futures::StreamExt;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(3);

/// An operator with one account `A`, and a server trusting it.
fn start(imp: Impl, seed: u64) -> (Operator, Server) {
    let mut op = Operator::new(seed);
    op.account("A");
    let server = ServerBuilder::new(imp)
        .config(&op.config_text(&Resolver::Memory))
        .start();
    (op, server)
}

fn account_a(op: &Operator) -> canopy_tests::operator::Account {
    op.accounts[0].clone()
}

/// A raw client: reads INFO, sends CONNECT with the user's JWT (and the
/// nonce's signature when `sign`), then `PING`; returns the reader and the
/// first line after CONNECT.
fn raw_connect(server: &Server, user: &User, sign: bool) -> (BufReader<TcpStream>, String) {
    let stream = server.connect();
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    let mut reader = BufReader::new(stream);
    let mut info = String::new();
    reader.read_line(&mut info).expect("INFO");
    let info: serde_json::Value =
        serde_json::from_str(info.trim_start_matches("INFO ").trim()).expect("INFO JSON");
    let nonce = info["nonce"].as_str().expect("a nonce in operator mode");
    let mut connect = serde_json::json!({
        "verbose": false, "pedantic": false, "protocol": 1, "jwt": user.jwt,
    });
    if sign {
        let sig = canopy_core::auth::sign_nonce(&user.keys.seed, nonce.as_bytes()).expect("sig");
        connect["sig"] = sig.into();
    }
    let mut w = reader.get_ref().try_clone().expect("clone");
    write!(w, "CONNECT {connect}\r\nPING\r\n").expect("send CONNECT");
    let line = next_line(&mut reader);
    (reader, line)
}

/// The next line that is not an INFO (nats-server 2.15.1 sends an INFO
/// with `connect_info` and `remote_account` after a JWT user's CONNECT).
fn next_line(reader: &mut BufReader<TcpStream>) -> String {
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a line from the server");
        if !line.starts_with("INFO ") {
            return line.trim_end().to_string();
        }
    }
}

/// (a) nats-py with a `.creds` file connects, subscribes and receives.
fn nats_py_creds(imp: Impl) {
    let (mut op, server) = start(imp, 1);
    let user = op.user(&account_a(&op), "py", |_, _| {});
    let script = r#"
import asyncio, sys, nats
async def main(url, creds):
    nc = await nats.connect(servers=url, user_credentials=creds,
                            connect_timeout=2, max_reconnect_attempts=0)
    got = asyncio.get_running_loop().create_future()
    async def cb(m):
        got.set_result(m.data)
    await nc.subscribe("op.hello", cb=cb)
    await nc.flush()
    await nc.publish("op.hello", b"world")
    print((await asyncio.wait_for(got, 2)).decode())
    await nc.close()
asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &server.url()])
        .arg(&user.creds_path)
        .output()
        .expect("run python3 (run `bash scripts/provision.sh`)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "nats-py with .creds against {imp} failed (nats-py needs the `nkeys` \
         package for .creds): {stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "world");
}

/// (b) async-nats with `ConnectOptions::with_credentials_file`.
fn async_nats_creds(imp: Impl) {
    let (mut op, server) = start(imp, 2);
    let user = op.user(&account_a(&op), "rs", |_, _| {});
    common::rt().block_on(async {
        let opts = ConnectOptions::with_credentials_file(&user.creds_path)
            .await
            .expect("creds file reads");
        let client = timeout(WAIT, opts.connect(server.url()))
            .await
            .expect("connect hung")
            .expect("connects with creds");
        let mut sub = client.subscribe("op.rs").await.expect("subscribe");
        client.flush().await.expect("flush");
        client.publish("op.rs", "hi".into()).await.expect("publish");
        let m = timeout(WAIT, sub.next())
            .await
            .expect("message in time")
            .expect("subscription open");
        assert_eq!(m.payload, "hi");
    });
}

/// (c) A user JWT past its `exp` is refused.
fn expired_user_refused(imp: Impl) {
    let (mut op, server) = start(imp, 3);
    let now = canopy_tests::operator::unix_now();
    let user = op.user(&account_a(&op), "old", |c, _| {
        c.iat = now - 100;
        c.exp = now - 10;
    });
    let (_, line) = raw_connect(&server, &user, true);
    assert_eq!(line, "-ERR 'Authorization Violation'");
    // The same user not yet expired gets in.
    let fresh = op.user(&account_a(&op), "fresh", |c, _| c.exp = now + 600);
    assert_eq!(raw_connect(&server, &fresh, true).1, "PONG");
}

/// (d) A bearer-token user connects with the JWT alone; a normal user
/// without a signature is refused.
fn bearer_token_user(imp: Impl) {
    let (mut op, server) = start(imp, 4);
    let bearer = op.user(&account_a(&op), "bearer", |_, u| u.bearer_token = true);
    assert_eq!(raw_connect(&server, &bearer, false).1, "PONG");
    let plain = op.user(&account_a(&op), "plain", |_, _| {});
    assert_eq!(
        raw_connect(&server, &plain, false).1,
        "-ERR 'Authorization Violation'"
    );
}

/// (e) Permissions from the user JWT: publishing to a denied subject is a
/// permissions violation; the connection stays up.
fn jwt_permissions_enforced(imp: Impl) {
    let (mut op, server) = start(imp, 5);
    let user = op.user(&account_a(&op), "limited", |_, u| {
        u.permissions.pub_deny = vec!["x".into()];
    });
    let (mut reader, line) = raw_connect(&server, &user, true);
    assert_eq!(line, "PONG");
    let mut w = reader.get_ref().try_clone().expect("clone");
    write!(w, "PUB x 2\r\nhi\r\nPING\r\n").expect("send PUB");
    assert_eq!(
        next_line(&mut reader),
        "-ERR 'Permissions Violation for Publish to \"x\"'"
    );
    assert_eq!(next_line(&mut reader), "PONG");
}

/// The system account's user connects too, and the full resolver's config
/// lines are accepted.
fn system_user_and_full_resolver(imp: Impl) {
    let mut op = Operator::new(6);
    op.account("A");
    let dir = op.dir().join("jwts");
    let server = ServerBuilder::new(imp)
        .config(&op.config_text(&Resolver::Full { dir }))
        .start();
    let sys = op.system_user("sys");
    assert_eq!(raw_connect(&server, &sys, true).1, "PONG");
    let user = op.user(&account_a(&op), "u", |_, _| {});
    assert_eq!(raw_connect(&server, &user, true).1, "PONG");
}

/// `/subsz` right after start in operator mode, with a memory and a
/// full resolver (which adds the resolver's subjects), and after a user
/// of an account connected (its account's service imports): the same
/// counts as nats-server's.
fn subsz_in_operator_mode_matches_nats_server(canopy: Impl) {
    let count = |imp: Impl, config: &str, user: Option<&User>| {
        let http = canopy_tests::free_port();
        let server = ServerBuilder::new(imp)
            .config(config)
            .args(["-m", &http.to_string()])
            .start();
        let _client = user.map(|u| raw_connect(&server, u, true));
        let (_, body) = canopy_tests::http_get(http, "/subsz");
        let v: serde_json::Value = serde_json::from_str(&body).expect("subsz JSON");
        v["num_subscriptions"].as_u64().expect("num_subscriptions")
    };
    let mut op = Operator::new(7);
    let acc = op.account("A");
    let user = op.user(&acc, "u", |_, _| {});
    let full = Resolver::Full {
        dir: op.dir().join("jwt"),
    };
    for (what, resolver, user) in [
        ("memory", &Resolver::Memory, None),
        ("full", &full, None),
        ("memory, a user connected", &Resolver::Memory, Some(&user)),
    ] {
        let config = op.config_text(resolver);
        let reference = count(Impl::NatsServer, &config, user);
        assert_eq!(
            count(canopy, &config, user),
            reference,
            "{canopy} with {what}"
        );
    }
}

/// Declares the canopy-against-nats-server comparisons, one test per
/// canopy runtime.
mod compared {
    canopy_tests::per_canopy_runtime! {
        subsz_in_operator_mode_matches_nats_server,
    }
    use super::*;
}

canopy_tests::against_both! {
    nats_py_creds,
    async_nats_creds,
    expired_user_refused,
    bearer_token_user,
    jwt_permissions_enforced,
    system_user_and_full_resolver,
}
