//! Conformance checks of protocol-core.md section 8 (single server, no
//! accounts): literal bytes in, exact bytes out.

use super::harness::{info_json, Harness};
use crate::{ClientAuth, Options};

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;
const QUIET_HDRS: &str = r#"{"verbose":false,"pedantic":false,"headers":true}"#;

#[test]
fn c01_info_on_accept() {
    let mut h = Harness::default_server();
    let c = h.accept();
    let out = h.take(c);
    assert!(
        out.starts_with("INFO {") && out.ends_with("} \r\n"),
        "{out}"
    );
    let info = info_json(&out);
    assert_eq!(info["proto"], 1);
    assert_eq!(info["headers"], true);
    assert_eq!(info["max_payload"], 1048576);
    assert_eq!(info["client_id"], c.0);
    assert_eq!(info["client_ip"], "127.0.0.1");
    assert_eq!(info["port"], 4222);
    let id = info["server_id"].as_str().unwrap();
    assert!(id.starts_with('N') && id.len() == 56);
    assert!(info.get("auth_required").is_none());
}

#[test]
fn c02_connect_defaults_to_verbose() {
    let mut h = Harness::default_server();
    let c = h.client();
    h.send(c, "CONNECT {}\r\nPING\r\n");
    assert_eq!(h.take(c), "+OK\r\nPONG\r\n");
}

#[test]
fn c03_connect_info_after_first_pong_only() {
    let mut h = Harness::default_server();
    let c = h.client();
    h.send(c, "CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n");
    let out = h.take(c);
    assert!(out.starts_with("PONG\r\nINFO {"), "{out}");
    let info = info_json(&out["PONG\r\n".len()..]);
    assert_eq!(info["connect_info"], true);
    assert_eq!(info["remote_account"], "$G");
    h.send(c, "PING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
}

#[test]
fn c04_ops_before_connect_without_auth() {
    let mut h = Harness::default_server();
    let c = h.client();
    h.send(c, "SUB x 1\r\nPUB x 1\r\nz\r\nPING\r\n");
    assert_eq!(h.take(c), "+OK\r\n+OK\r\nMSG x 1 1\r\nz\r\nPONG\r\n");
}

#[test]
fn c05_lower_case_ops() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(c, "sub low 5\r\npub low 1\r\nx\r\nping\r\n");
    assert_eq!(h.take(c), "MSG low 5 1\r\nx\r\nPONG\r\n");
}

#[test]
fn c06_lf_only_and_tabs() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(c, "PING\n");
    assert_eq!(h.take(c), "PONG\r\n");
    h.send(c, "SUB\t tab  6\r\nPUB  \ttab   2\r\nhi\r\n");
    assert_eq!(h.take(c), "MSG tab 6 2\r\nhi\r\n");
}

#[test]
fn c07_ping_trailing_bytes_ignored() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(c, "PINGxyz\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
}

#[test]
fn c08_reply_and_empty_payload() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(
        c,
        "SUB foo 1\r\nSUB bar 2\r\nPUB foo reply.x 3\r\nabc\r\nPUB bar 0\r\n\r\n",
    );
    assert_eq!(
        h.take(c),
        "MSG foo 1 reply.x 3\r\nabc\r\nMSG bar 2 0\r\n\r\n"
    );
}

#[test]
fn c09_hpub_to_header_client() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET_HDRS);
    h.send(
        c,
        "SUB foo 1\r\nHPUB foo 20 25\r\nNATS/1.0\r\nA: bcd\r\n\r\nhello\r\n",
    );
    assert_eq!(
        h.take(c),
        "HMSG foo 1 20 25\r\nNATS/1.0\r\nA: bcd\r\n\r\nhello\r\n"
    );
    h.send(c, "SUB r 2\r\nHPUB r rep 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    assert_eq!(h.take(c), "HMSG r 2 rep 12 12\r\nNATS/1.0\r\n\r\n\r\n");
}

#[test]
fn c10_headers_stripped_for_plain_subscriber() {
    let mut h = Harness::default_server();
    let s = h.connected(QUIET);
    let p = h.connected(QUIET_HDRS);
    h.send(s, "SUB h 5\r\nPING\r\n");
    h.take(s);
    h.send(p, "HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(h.take(s), "MSG h 5 2\r\nhi\r\n");
}

#[test]
fn c11_zero_length_headers_delivered_as_msg() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET_HDRS);
    h.send(c, "SUB h 1\r\nHPUB h 0 2\r\nhi\r\n");
    assert_eq!(h.take(c), "MSG h 1 2\r\nhi\r\n");
}

#[test]
fn c12_hpub_without_headers_closes_silently() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(c, "HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(h.take(c), "");
    assert!(h.is_closed(c));
}

#[test]
fn c13_no_responders_status() {
    let mut h = Harness::default_server();
    let c = h.connected(r#"{"verbose":false,"headers":true,"no_responders":true}"#);
    h.send(c, "SUB inbox.1 9\r\nPUB nobody inbox.1 2\r\nhi\r\n");
    assert_eq!(
        h.take(c),
        "HMSG inbox.1 9 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\n"
    );
    // Without a subscription for the reply on the same connection: nothing.
    h.send(c, "PUB nobody inbox.2 2\r\nhi\r\nPING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
}

#[test]
fn c14_no_responders_requires_headers() {
    let mut h = Harness::default_server();
    let c = h.client();
    h.send(c, "CONNECT {\"no_responders\":true}\r\n");
    assert_eq!(
        h.take(c),
        "-ERR 'no responders requires headers support'\r\n"
    );
    assert!(h.is_closed(c));
}

#[test]
fn c15_invalid_client_protocol() {
    let mut h = Harness::default_server();
    let c = h.client();
    h.send(c, "CONNECT {\"protocol\":2}\r\n");
    assert_eq!(h.take(c), "-ERR 'invalid client protocol'\r\n");
    assert!(h.is_closed(c));
}

#[test]
fn c16_account_in_connect_is_refused() {
    let mut h = Harness::default_server();
    let c = h.client();
    h.send(c, "CONNECT {\"account\":\"A\"}\r\n");
    assert_eq!(h.take(c), "-ERR 'Authorization Violation'\r\n");
    assert!(h.is_closed(c));
}

#[test]
fn c17_malformed_connect_closes_silently() {
    let mut h = Harness::default_server();
    let c = h.client();
    h.send(c, "CONNECT {\"verbose\":\r\n");
    assert_eq!(h.take(c), "");
    assert!(h.is_closed(c));
}

/// B9: deep CONNECT JSON through the engine, with a control line long
/// enough to carry it: 10,000 levels are taken (nats-server's decoder
/// limit), 10,001 and 100,000 close silently, and nothing overflows.
#[test]
fn c17_deeply_nested_connect() {
    let mut h = Harness::new(Options {
        max_control_line: 4 << 20,
        ..Options::default()
    });
    for (depth, taken) in [(10_000, true), (10_001, false), (100_000, false)] {
        let inner = depth - 1;
        let connect = format!(
            "CONNECT {{\"x\":{}{},\"verbose\":false}}\r\nPING\r\n",
            "[".repeat(inner),
            "]".repeat(inner)
        );
        let c = h.client();
        h.send(c, &connect);
        let want = if taken { "PONG\r\n" } else { "" };
        assert_eq!(h.take(c), want, "{depth} levels");
        assert_eq!(h.is_closed(c), !taken, "{depth} levels");
    }
}

#[test]
fn c18_unknown_and_server_only_ops() {
    for input in [
        "FOO bar\r\n",
        "\r\n",
        "MSG foo 1 1\r\nx\r\n",
        "RS+ $G foo\r\n",
    ] {
        let mut h = Harness::default_server();
        let c = h.connected(QUIET);
        h.send(c, input);
        assert_eq!(
            h.take(c),
            "-ERR 'Unknown Protocol Operation'\r\n",
            "{input:?}"
        );
        assert!(h.is_closed(c), "{input:?}");
    }
}

/// B8: bytes no op begins with (NUL, a TLS ClientHello, an HTTP request
/// line) are refused at the first byte, with no newline and no wait for
/// the ping timer, as nats-server does.
#[test]
fn c18_first_bytes_refused_without_a_newline() {
    let hello: &[u8] = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03";
    for input in [&[0u8; 150][..], hello, b"GET / HTTP/1.1", b"X", b"PUX"] {
        let mut h = Harness::default_server();
        let c = h.client();
        h.send_bytes(c, input);
        assert_eq!(
            h.take(c),
            "-ERR 'Unknown Protocol Operation'\r\n",
            "{input:?}"
        );
        assert!(h.is_closed(c), "{input:?}");
        let mut h = auth_server(ClientAuth::Token("s3cret".into()));
        let c = h.client();
        h.send_bytes(c, input);
        assert_eq!(h.take(c), "-ERR 'Authorization Violation'\r\n", "{input:?}");
        assert!(h.is_closed(c), "{input:?}");
    }
    let mut h = auth_server(ClientAuth::Token("s3cret".into()));
    let c = h.client();
    h.send(c, "CONNEX");
    assert_eq!(h.take(c), "-ERR 'Unknown Protocol Operation'\r\n");
    assert!(h.is_closed(c));
}

#[test]
fn c19_payload_longer_than_declared() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(c, "SUB foo 1\r\nPUB foo 2\r\nabc\r\n");
    assert_eq!(h.take(c), "-ERR 'Unknown Protocol Operation'\r\n");
    assert!(h.is_closed(c));
}

#[test]
fn c20_bad_pub_arguments_close_silently() {
    for input in ["PUB foo\r\n", "PUB foo abc\r\n", "PUB s -1\r\n"] {
        let mut h = Harness::default_server();
        let c = h.connected(QUIET);
        h.send(c, input);
        assert_eq!(h.take(c), "", "{input:?}");
        assert!(h.is_closed(c), "{input:?}");
    }
}

#[test]
fn c24_invalid_subjects_keep_connection() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(
        c,
        "SUB foo..bar 2\r\nSUB foo.>.bar 3\r\nSUB * 4\r\nSUB foo.*bar 5\r\nPING\r\n",
    );
    assert_eq!(
        h.take(c),
        "-ERR 'Invalid Subject'\r\n-ERR 'Invalid Subject'\r\nPONG\r\n"
    );
    assert!(!h.is_closed(c));
    h.send(c, "PUB foo.*bar 1\r\nx\r\n");
    assert_eq!(h.take(c), "MSG foo.*bar 5 1\r\nx\r\n");
}

#[test]
fn c25_pedantic_invalid_publish_subject_still_delivered() {
    let mut h = Harness::default_server();
    let c = h.client();
    h.send(c, "CONNECT {}\r\n");
    h.take(c);
    h.send(c, "SUB > 1\r\n");
    assert_eq!(h.take(c), "+OK\r\n");
    h.send(c, "PUB foo.* 1\r\nw\r\n");
    assert_eq!(
        h.take(c),
        "-ERR 'Invalid Publish Subject'\r\n+OK\r\nMSG foo.* 1 1\r\nw\r\n"
    );
    // An empty token matches nothing, not even `>`.
    h.send(c, "PUB a..b 1\r\nv\r\n");
    assert_eq!(h.take(c), "-ERR 'Invalid Publish Subject'\r\n+OK\r\n");
}

#[test]
fn unsub_with_malformed_max_unsubscribes_now() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(
        c,
        "SUB a 1\r\nUNSUB 1 x\r\nPUB a 1\r\nq\r\nSUB b 2\r\nUNSUB 2 -5\r\nPUB b 1\r\nr\r\nPING\r\n",
    );
    assert_eq!(h.take(c), "PONG\r\n");
    assert!(!h.is_closed(c));
}

#[test]
fn c26_duplicate_sid_ignored() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(
        c,
        "SUB dup 30\r\nSUB other 30\r\nPUB other 1\r\na\r\nPUB dup 1\r\nb\r\n",
    );
    assert_eq!(h.take(c), "MSG dup 30 1\r\nb\r\n");
}

#[test]
fn c27_unsub_with_max() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(
        c,
        "SUB a 1\r\nUNSUB 1 1\r\nPUB a 1\r\nx\r\nPUB a 1\r\ny\r\n",
    );
    assert_eq!(h.take(c), "MSG a 1 1\r\nx\r\n");
    h.send(c, "SUB b 2\r\nUNSUB 2 0\r\nPUB b 1\r\nx\r\nPING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
    // max below what was already delivered unsubscribes at once.
    h.send(
        c,
        "SUB d 3\r\nPUB d 1\r\nx\r\nPUB d 1\r\nx\r\nUNSUB 3 1\r\nPUB d 1\r\nx\r\nPING\r\n",
    );
    assert_eq!(h.take(c), "MSG d 3 1\r\nx\r\nMSG d 3 1\r\nx\r\nPONG\r\n");
    // Unknown sid: no error.
    h.send(c, "UNSUB 99\r\nPING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
}

#[test]
fn c28_queue_group_one_member_per_message() {
    let mut h = Harness::default_server();
    let a = h.connected(QUIET);
    let b = h.connected(QUIET);
    let p = h.connected(QUIET);
    h.send(a, "SUB q g 1\r\nSUB q 2\r\nPING\r\n");
    h.send(b, "SUB q g 1\r\nPING\r\n");
    h.take(a);
    h.take(b);
    for _ in 0..200 {
        h.send(p, "PUB q 1\r\nx\r\n");
    }
    let (oa, ob) = (h.take(a), h.take(b));
    let plain = oa.matches("MSG q 2 ").count();
    let group = oa.matches("MSG q 1 ").count() + ob.matches("MSG q 1 ").count();
    assert_eq!(plain, 200);
    assert_eq!(group, 200);
    // Both members get a share (seeded choice, not always the first).
    assert!(ob.matches("MSG q 1 ").count() > 50, "{}", ob.len());
    assert!(oa.matches("MSG q 1 ").count() > 50);
}

#[test]
fn c29_echo_off() {
    let mut h = Harness::default_server();
    let c = h.connected(r#"{"verbose":false,"echo":false}"#);
    let other = h.connected(QUIET);
    h.send(c, "SUB e 1\r\nPUB e 1\r\nx\r\nPING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
    h.send(other, "PUB e 1\r\ny\r\n");
    assert_eq!(h.take(c), "MSG e 1 1\r\ny\r\n");
}

#[test]
fn c30_wildcards() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(c, "SUB a.* 1\r\nSUB a.> 2\r\nSUB > 3\r\nSUB *.b 4\r\n");
    h.send(c, "PUB a.b 0\r\n\r\n");
    let out = h.take(c);
    for sid in 1..=4 {
        assert!(out.contains(&format!("MSG a.b {sid} 0\r\n")), "{out}");
    }
    h.send(c, "PUB a 0\r\n\r\n");
    assert_eq!(h.take(c), "MSG a 3 0\r\n\r\n");
    h.send(c, "PUB a.b.c 0\r\n\r\n");
    let out = h.take(c);
    assert!(out.contains("MSG a.b.c 2 0") && out.contains("MSG a.b.c 3 0"));
    assert_eq!(out.matches("MSG").count(), 2);
}

/// Check 30 again, for the order: one connection with several matching
/// subscriptions gets the message in nats-server's sublist order, and a
/// subscription added after the subject was matched comes last until a
/// removal makes the server walk its index again.
#[test]
fn c30_one_connection_gets_nats_servers_order() {
    let sids = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("MSG "))
            .map(|l| l.split(' ').nth(2).unwrap_or_default().to_string())
            .collect()
    };
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(c, "SUB a.* 1\r\nSUB a.> 2\r\nSUB > 3\r\nSUB *.b 4\r\n");
    h.send(c, "PUB a.b 0\r\n\r\n");
    assert_eq!(sids(&h.take(c)), ["3", "4", "2", "1"]);
    h.send(
        c,
        "SUB a.b 5\r\nSUB a.b g 6\r\nSUB > h 7\r\nPUB a.b 0\r\n\r\n",
    );
    assert_eq!(sids(&h.take(c)), ["3", "4", "2", "1", "5", "6", "7"]);
    h.send(c, "UNSUB 5\r\nPUB a.b 0\r\n\r\n");
    assert_eq!(sids(&h.take(c)), ["3", "4", "2", "1", "7", "6"]);
}

#[test]
fn c60_protocol_zero_and_split_pub() {
    let mut h = Harness::default_server();
    let c = h.client();
    h.send(c, "CONNECT {\"protocol\":0,\"verbose\":false}\r\nPING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
    h.send(c, "SUB sp 1\r\n");
    for part in ["PU", "B sp 5\r\nhel", "lo\r", "\n"] {
        h.send(c, part);
    }
    assert_eq!(h.take(c), "MSG sp 1 5\r\nhello\r\n");
}

fn auth_server(auth: ClientAuth) -> Harness {
    Harness::new(Options {
        auth,
        ..Options::default()
    })
}

#[test]
fn c31_auth_required_without_credentials() {
    let mut h = auth_server(ClientAuth::Token("s3cret".into()));
    let c = h.accept();
    let info = info_json(&h.take(c));
    assert_eq!(info["auth_required"], true);
    h.send(c, "CONNECT {\"verbose\":false}\r\n");
    assert_eq!(h.take(c), "-ERR 'Authorization Violation'\r\n");
    assert!(h.is_closed(c));
}

#[test]
fn c32_auth_required_op_before_connect() {
    for input in ["PUB foo 1\r\nx\r\n", "PING\r\n"] {
        let mut h = auth_server(ClientAuth::Token("s3cret".into()));
        let c = h.client();
        h.send(c, input);
        assert_eq!(h.take(c), "-ERR 'Authorization Violation'\r\n");
        assert!(h.is_closed(c));
    }
}

#[test]
fn c34_token_auth() {
    let mut h = auth_server(ClientAuth::Token("s3cret".into()));
    let c = h.client();
    h.send(c, "CONNECT {\"auth_token\":\"s3cret\"}\r\nPING\r\n");
    assert_eq!(h.take(c), "+OK\r\nPONG\r\n");
    for bad in [r#"{"auth_token":"nope"}"#, r#"{"user":"s3cret"}"#] {
        let c = h.client();
        h.send(c, &format!("CONNECT {bad}\r\n"));
        assert_eq!(h.take(c), "-ERR 'Authorization Violation'\r\n");
        assert!(h.is_closed(c));
    }
}

#[test]
fn c35_user_password_auth() {
    let mut h = auth_server(ClientAuth::UserPassword {
        user: "u1".into(),
        password: "p1".into(),
    });
    let c = h.client();
    h.send(c, "CONNECT {\"user\":\"u1\",\"pass\":\"p1\"}\r\nPING\r\n");
    assert_eq!(h.take(c), "+OK\r\nPONG\r\n");
    let c = h.client();
    h.send(c, "CONNECT {\"user\":\"u1\",\"pass\":\"p2\"}\r\n");
    assert_eq!(h.take(c), "-ERR 'Authorization Violation'\r\n");
    assert!(h.is_closed(c));
}
