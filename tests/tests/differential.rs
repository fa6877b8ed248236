//! Differential raw-protocol sessions: each session runs against a fresh
//! nats-server 2.15.1 and a fresh canopy, and what every connection received
//! (bytes, and whether the server closed it) must be the same, up to the INFO
//! fields that legitimately differ (server_id, version, port, client_id, ...).
//!
//! Check numbers refer to section 8 of docs/protocol-core.md; "2.8" to its
//! -ERR catalogue.
//!
//! All sessions run concurrently on first use (timer sessions take a few
//! seconds each); every session is its own `#[test]` that reports its diff:
//! `session::<name>` against canopy on tokio, `session_smol::<name>` against
//! canopy on smol (each compared with its own nats-server run).
//!
//! Environment:
//! * `DIFF_SELF_TEST=1`: nats-server on both sides (validates the harness).
//! * `DIFF_JOBS=N`: sessions at a time (default 16).
//! * `DIFF_WRITE_GOLDEN=1`: write nats-server's output of every session to
//!   `tests/golden/<session>.txt` (documentation only; never compared).

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use canopy_tests::session::{golden_text, run_all, Session};
use canopy_tests::Impl;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// CONNECT, quiet: no +OK, no pedantic, protocol 0 (no INFO after PONG).
const C_QUIET: &str = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
/// CONNECT, quiet, headers on.
const C_HDR: &str = "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n";
/// CONNECT, quiet, protocol 1 (first PONG is followed by a connect_info INFO).
const C_PROTO1: &str = "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n";

/// How long to wait for an expected close.
const CLOSE: Duration = Duration::from_secs(3);

fn s(name: &str) -> Session {
    Session::new(name)
}

// ---------------------------------------------------------------- connect, INFO

/// Check 1: INFO is the first thing sent, `INFO {...} \r\n`.
fn info_on_connect() -> Session {
    s("info_on_connect").open(0)
}

/// Check 2: `CONNECT {}` turns verbose on.
fn connect_empty_is_verbose() -> Session {
    s("connect_empty_is_verbose")
        .open(0)
        .send(0, "CONNECT {}\r\nPING\r\n")
        .sync(0)
}

/// Check 3: protocol 1 gets an INFO with connect_info after the first PONG only.
fn connect_info_after_first_pong() -> Session {
    s("connect_info_after_first_pong")
        .open(0)
        .send(0, format!("{C_PROTO1}PING\r\n"))
        .sync(0)
        .sync(0)
}

/// Check 4: no auth, no CONNECT: telnet-style use works, verbose by default.
fn pre_connect_sub_pub() -> Session {
    s("pre_connect_sub_pub")
        .open(0)
        .send(0, "SUB x 1\r\nPUB x 1\r\nz\r\nPING\r\n")
        .sync(0)
}

/// Check 5: operation names are case-insensitive.
fn lowercase_ops() -> Session {
    s("lowercase_ops").open(0).send(
        0,
        "connect {\"verbose\":false}\r\nsub low 5\r\npub low 1\r\nx\r\nPuB low 1\r\ny\r\nunsub 5\r\npub low 1\r\nz\r\nping\r\n",
    )
}

/// Check 6: LF-only lines, tabs and runs of spaces between arguments.
fn lf_only_and_tabs() -> Session {
    s("lf_only_and_tabs")
        .open(0)
        .send(0, C_QUIET)
        .send(0, "PING\n")
        .send(0, "SUB\t tab  6\r\nPUB  \ttab   2\r\nhi\r\n")
        .send(0, "SUB lf 7\nPUB lf 2\nok\r\n")
        .sync(0)
}

/// Check 7: after PING/PONG the rest of the line is ignored.
fn ping_trailing_garbage() -> Session {
    s("ping_trailing_garbage")
        .open(0)
        .send(0, C_QUIET)
        .send(0, "PINGxyz\r\nPONGabc\r\n")
        .sync(0)
}

/// 2.3: a second CONNECT is accepted and overlays options (verbose turns on).
fn second_connect() -> Session {
    s("second_connect")
        .open(0)
        .send(
            0,
            format!("{C_QUIET}PING\r\nCONNECT {{\"verbose\":true}}\r\nPING\r\nSUB a 1\r\n"),
        )
        .sync(0)
}

/// 2.1: `CONNECT{...}` without a space parses.
fn connect_without_space() -> Session {
    s("connect_without_space")
        .open(0)
        .send(0, "CONNECT{\"verbose\":false}\r\nPING\r\n")
        .sync(0)
}

/// Check 60: protocol 0 gets plain PONGs, no connect_info INFO.
fn protocol0_no_info() -> Session {
    s("protocol0_no_info")
        .open(0)
        .send(0, "CONNECT {\"verbose\":false,\"protocol\":0}\r\nPING\r\n")
        .sync(0)
        .sync(0)
}

/// 2.1: client-sent INFO and +OK are ignored.
fn client_info_and_ok_ignored() -> Session {
    s("client_info_and_ok_ignored")
        .open(0)
        .send(0, format!("{C_QUIET}INFO {{\"foo\":1}}\r\n+OK\r\nPING\r\n"))
        .sync(0)
}

/// 2.1: a client-sent -ERR closes the connection without a reply.
fn client_err_closes() -> Session {
    s("client_err_closes")
        .open(0)
        .send(0, format!("{C_QUIET}-ERR 'oops'\r\n"))
        .eof(0, CLOSE)
}

/// Check 14.
fn no_responders_requires_headers() -> Session {
    s("no_responders_requires_headers")
        .open(0)
        .send(0, "CONNECT {\"verbose\":false,\"no_responders\":true}\r\n")
        .eof(0, CLOSE)
}

/// Check 15.
fn invalid_client_protocol() -> Session {
    s("invalid_client_protocol")
        .open(0)
        .send(0, "CONNECT {\"verbose\":false,\"protocol\":2}\r\n")
        .eof(0, CLOSE)
}

/// Check 16: `account` in CONNECT is rejected.
fn connect_account_field() -> Session {
    s("connect_account_field")
        .open(0)
        .send(0, "CONNECT {\"verbose\":false,\"account\":\"A\"}\r\n")
        .eof(0, CLOSE)
}

/// Check 17: malformed JSON closes without -ERR.
fn malformed_connect_json() -> Session {
    s("malformed_connect_json")
        .open(0)
        .send(0, "CONNECT {\"verbose\":fals\r\n")
        .eof(0, CLOSE)
}

/// A CONNECT whose unknown key `x` holds arrays nested so that the whole
/// JSON is `depth` levels deep, with `"verbose":false` after it.
fn nested_connect(depth: usize) -> String {
    let inner = depth - 1;
    format!(
        "CONNECT {{\"x\":{}{},\"verbose\":false}}\r\n",
        "[".repeat(inner),
        "]".repeat(inner)
    )
}

/// B9: valid JSON nested 2,000 deep (all a default control line holds) is
/// taken: PONG, no +OK.
fn connect_nested_2000_deep() -> Session {
    s("connect_nested_2000_deep")
        .open(0)
        .send(0, nested_connect(2_000))
        .sync(0)
}

/// B9: nats-server's decoder takes 10,000 levels and refuses 10,001 (a
/// silent close, like any CONNECT it cannot decode); 100,000 too. The
/// control line is raised so the JSON gets to the decoder.
fn connect_nesting_limit() -> Session {
    let mut x = s("connect_nesting_limit").config("max_control_line: 4MB\n");
    for (c, depth) in [10_000, 10_001, 100_000].into_iter().enumerate() {
        x = x.open(c).send(c, nested_connect(depth)).sync(c);
    }
    x
}

/// CONNECT JSON as nats-server's Go decoder reads it: keys in any case,
/// `null` leaves a field alone (also `CONNECT null`), the last repeated
/// key wins, an empty `account` and a false `new_account` are none, bad
/// UTF-8 and lone surrogates in strings are repaired; a wrong type closes.
fn connect_json_as_go_reads_it() -> Session {
    let connects: [&[u8]; 10] = [
        b"CONNECT {\"VERBOSE\":false,\"Protocol\":1}\r\n",
        b"CONNECT {\"verbose\":null}\r\n",
        b"CONNECT null\r\n",
        b"CONNECT {\"verbose\":true,\"verbose\":false}\r\n",
        b"CONNECT {\"verbose\":false,\"account\":\"\",\"new_account\":false}\r\n",
        b"CONNECT {\"verbose\":false,\"name\":\"a\xffb\"}\r\n",
        b"CONNECT {\"verbose\":false,\"name\":\"\\ud800\"}\r\n",
        b"CONNECT {\"verbose\":false,\"protocol\":null,\"echo\":null}\r\n",
        b"CONNECT {\"verbose\":\"false\"}\r\n",
        b"CONNECT {\"verbose\":false,\"new_account\":true}\r\n",
    ];
    let mut x = s("connect_json_as_go_reads_it");
    for (c, connect) in connects.iter().enumerate() {
        x = x.open(c).send(c, connect).sync(c);
    }
    x
}

/// Check 2 + 2.6: verbose acknowledges CONNECT, SUB, UNSUB (even unknown), PUB, not PING.
fn verbose_acks() -> Session {
    s("verbose_acks")
        .open(0)
        .send(
            0,
            "CONNECT {\"verbose\":true,\"pedantic\":false}\r\nSUB v 1\r\nPUB v 2\r\nok\r\nUNSUB 1\r\nUNSUB 99\r\nPING\r\n",
        )
        .sync(0)
}

// ---------------------------------------------------------------- messages

/// Check 8: reply subjects and empty payloads.
fn pub_reply_and_zero_payload() -> Session {
    s("pub_reply_and_zero_payload")
        .open(0)
        .send(0, format!("{C_QUIET}SUB foo 1\r\nSUB bar 2\r\n"))
        .sync(0)
        .open(1)
        .send(
            1,
            format!("{C_QUIET}PUB foo reply.x 3\r\nabc\r\nPUB bar 0\r\n\r\n"),
        )
        .sync(1)
}

/// Check 9: HPUB to a headers subscriber is relayed as HMSG unchanged.
fn hpub_to_headers_subscriber() -> Session {
    s("hpub_to_headers_subscriber")
        .open(0)
        .send(0, format!("{C_HDR}SUB foo 1\r\n"))
        .sync(0)
        .open(1)
        .send(
            1,
            format!(
                "{C_HDR}HPUB foo 20 25\r\nNATS/1.0\r\nA: bcd\r\n\r\nhello\r\nHPUB foo rep 12 12\r\nNATS/1.0\r\n\r\n\r\n"
            ),
        )
        .sync(1)
}

/// Check 10: headers are stripped for a subscriber without headers.
fn hpub_stripped_for_plain_subscriber() -> Session {
    s("hpub_stripped_for_plain_subscriber")
        .open(0)
        .send(0, format!("{C_QUIET}SUB h 5\r\n"))
        .sync(0)
        .open(1)
        .send(
            1,
            format!("{C_HDR}HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nHPUB h r.1 20 20\r\nNATS/1.0\r\nA: bcd\r\n\r\n\r\n"),
        )
        .sync(1)
}

/// Check 11: a zero header length is delivered as MSG.
fn hpub_zero_header_len() -> Session {
    s("hpub_zero_header_len")
        .open(0)
        .send(0, format!("{C_HDR}SUB h 1\r\n"))
        .sync(0)
        .open(1)
        .send(1, format!("{C_HDR}HPUB h 0 2\r\nhi\r\n"))
        .sync(1)
}

/// 2.4: header bytes are not validated.
fn hpub_header_not_validated() -> Session {
    s("hpub_header_not_validated")
        .open(0)
        .send(0, format!("{C_HDR}SUB h 1\r\n"))
        .sync(0)
        .send(0, "HPUB h 8 10\r\nXXXX\r\n\r\nhi\r\n")
        .sync(0)
}

/// Check 12: HPUB without headers negotiated closes silently.
fn hpub_without_headers_closes() -> Session {
    s("hpub_without_headers_closes")
        .open(0)
        .send(
            0,
            format!("{C_QUIET}HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"),
        )
        .eof(0, CLOSE)
}

/// 2.4: header size greater than total size closes silently.
fn hpub_header_larger_than_total() -> Session {
    s("hpub_header_larger_than_total")
        .open(0)
        .send(0, format!("{C_HDR}HPUB foo 20 10\r\n"))
        .eof(0, CLOSE)
}

/// Check 13: no_responders status message; nothing without a matching sub.
fn no_responders() -> Session {
    s("no_responders")
        .open(0)
        .send(
            0,
            "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n",
        )
        .send(0, "SUB inbox.1 9\r\nPUB nobody inbox.1 2\r\nhi\r\n")
        .send(0, "PUB nobody2 inbox.2 2\r\nhi\r\n")
        .send(0, "HPUB nobody3 inbox.1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
        .sync(0)
}

/// 2.7: with a responder there is no 503; without no_responders there is none either.
fn no_responders_with_responder_or_disabled() -> Session {
    s("no_responders_with_responder_or_disabled")
        .open(1)
        .send(1, format!("{C_QUIET}SUB svc 1\r\n"))
        .sync(1)
        .open(0)
        .send(
            0,
            "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n",
        )
        .send(0, "SUB inbox.> 9\r\nPUB svc inbox.a 2\r\nhi\r\n")
        .sync(0)
        .open(2)
        .send(2, format!("{C_HDR}SUB inbox.> 3\r\nPUB nobody inbox.b 2\r\nhi\r\n"))
        .sync(2)
}

/// Check 26: a duplicate sid is ignored.
fn duplicate_sid() -> Session {
    s("duplicate_sid")
        .open(0)
        .send(
            0,
            format!(
                "{C_QUIET}SUB dup 30\r\nSUB other 30\r\nPUB other 1\r\no\r\nPUB dup 1\r\nd\r\n"
            ),
        )
        .sync(0)
}

/// Check 27: UNSUB with a max auto-unsubscribes after that many messages.
fn unsub_max() -> Session {
    s("unsub_max")
        .open(0)
        .send(
            0,
            format!(
                "{C_QUIET}SUB u 1\r\nUNSUB 1 2\r\nPUB u 1\r\na\r\nPUB u 1\r\nb\r\nPUB u 1\r\nc\r\n"
            ),
        )
        .sync(0)
        .send(
            0,
            "SUB u1 2\r\nUNSUB 2 1\r\nPUB u1 1\r\nx\r\nPUB u1 1\r\ny\r\n",
        )
        .sync(0)
}

/// Check 27: `UNSUB sid 0` and a max at or below the delivered count unsubscribe at once.
fn unsub_zero_and_below_delivered() -> Session {
    s("unsub_zero_and_below_delivered")
        .open(0)
        .send(
            0,
            format!("{C_QUIET}SUB z 1\r\nUNSUB 1 0\r\nPUB z 1\r\nx\r\n"),
        )
        .send(0, "SUB w 2\r\nPUB w 1\r\na\r\nPUB w 1\r\nb\r\n")
        .sync(0)
        .send(0, "UNSUB 2 1\r\nPUB w 1\r\nc\r\nUNSUB 77\r\n")
        .sync(0)
}

/// Check 29: echo false, and the default echo on another connection.
fn echo_false() -> Session {
    s("echo_false")
        .open(0)
        .send(
            0,
            "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false}\r\nSUB e 1\r\n",
        )
        .sync(0)
        .open(1)
        .send(1, format!("{C_QUIET}SUB e 1\r\n"))
        .sync(1)
        .send(0, "PUB e 4\r\nfrom\r\n")
        .sync(0)
        .send(1, "PUB e 2\r\nme\r\n")
        .sync(1)
}

/// Check 30: wildcards, one subscriber per connection so the order is fixed.
fn wildcards() -> Session {
    let subs = ["a.*", "a.>", ">", "*.b", "a", "a.b.c", "*"];
    let mut x = s("wildcards");
    for (i, sub) in subs.iter().enumerate() {
        x = x
            .open(i)
            .send(i, format!("{C_QUIET}SUB {sub} 1\r\n"))
            .sync(i);
    }
    let p = subs.len();
    x.open(p)
        .send(p, format!("{C_QUIET}PUB a.b 2\r\nab\r\nPUB a 1\r\na\r\nPUB a.b.c 3\r\nabc\r\nPUB x.b 2\r\nxb\r\n"))
        .sync(p)
}

/// Subscribes connection `c` to `subs` (sid = position + 1).
fn subscribe_all(x: Session, c: usize, subs: &[&str]) -> Session {
    let ops: String = subs
        .iter()
        .enumerate()
        .map(|(i, sub)| format!("SUB {sub} {}\r\n", i + 1))
        .collect();
    x.open(c).send(c, format!("{C_QUIET}{ops}")).sync(c)
}

/// One connection, several matching subscriptions: nats-server delivers
/// in its sublist's order (`>` first, then the `*` subtree, then the
/// literal's; at the last token the literal before `*`), not sid order.
fn delivery_order_one_connection() -> Session {
    subscribe_all(
        s("delivery_order_one_connection"),
        0,
        &["a.*", "a.>", ">", "*.b"],
    )
    .open(1)
    .send(
        1,
        format!("{C_QUIET}PUB a.b 2\r\nab\r\nPUB a.b.c 0\r\n\r\n"),
    )
    .sync(1)
}

/// The walk over three levels, every kind of token at each.
fn delivery_order_three_levels() -> Session {
    let subs = [
        "a.b.c", "a.*.c", "*.b.c", "*.*.c", "a.b.*", "a.*.*", "*.b.*", "*.*.*", "a.b.>", "a.>",
        "*.>", ">", "*.b.>",
    ];
    subscribe_all(s("delivery_order_three_levels"), 0, &subs)
        .open(1)
        .send(
            1,
            format!("{C_QUIET}PUB a.b.c 0\r\n\r\nPUB x.b.y 0\r\n\r\n"),
        )
        .sync(1)
}

/// Plain subscriptions first, then each queue group (one member each
/// here) in the order the walk meets it.
fn delivery_order_queue_groups() -> Session {
    subscribe_all(
        s("delivery_order_queue_groups"),
        0,
        &["a.b q1", "a.* q2", "> q3", "a.b"],
    )
    .open(1)
    .send(1, format!("{C_QUIET}PUB a.b 0\r\n\r\n"))
    .sync(1)
}

/// Each connection gets its own subscriptions in the walk's order.
fn delivery_order_two_connections() -> Session {
    let x = subscribe_all(
        s("delivery_order_two_connections"),
        0,
        &["a.>", "*.*", "a.b"],
    );
    subscribe_all(x, 1, &[">", "a.*", "*.b"])
        .open(2)
        .send(2, format!("{C_QUIET}PUB a.b 0\r\n\r\n"))
        .sync(2)
}

/// nats-server caches a subject's matches and appends a later
/// subscription to them: it comes last until a removal of a matching
/// subscription drops the cached entry (an unrelated one does not).
fn delivery_order_after_a_cached_match() -> Session {
    subscribe_all(s("delivery_order_after_a_cached_match"), 0, &["a.*"])
        .open(1)
        .send(1, format!("{C_QUIET}PUB a.b 1\r\n1\r\n"))
        .sync(1)
        .sync(0)
        .send(
            0,
            "SUB > 2\r\nSUB *.b 3\r\nSUB a.b 4\r\nSUB x.y 5\r\nUNSUB 5\r\n",
        )
        .sync(0)
        .send(1, "PUB a.b 1\r\n2\r\n")
        .sync(1)
        .sync(0)
        .send(0, "UNSUB 4\r\n")
        .sync(0)
        .send(1, "PUB a.b 1\r\n3\r\n")
        .sync(1)
}

/// 2.4: a wildcard publish subject (not pedantic) is delivered literally.
fn wildcard_publish_subject_literal() -> Session {
    s("wildcard_publish_subject_literal")
        .open(0)
        .send(
            0,
            format!("{C_QUIET}SUB > 1\r\nPUB foo.* 1\r\nw\r\nPUB foo.> 1\r\nv\r\n"),
        )
        .sync(0)
}

/// Fan-out to several connections and several subscriptions of one connection.
fn fanout_across_connections() -> Session {
    s("fanout_across_connections")
        .open(0)
        .send(0, format!("{C_QUIET}SUB f.1 1\r\n"))
        .sync(0)
        .open(1)
        .send(1, format!("{C_QUIET}SUB f.* 2\r\n"))
        .sync(1)
        .open(2)
        .send(
            2,
            format!("{C_QUIET}PUB f.1 r 5\r\nhello\r\nPUB f.2 0\r\n\r\n"),
        )
        .sync(2)
}

/// Check 28: two members of `g` (one connection, sids masked) and a plain sub:
/// each message reaches the plain sub once and exactly one group member.
fn queue_group_with_plain_sub() -> Session {
    let mut pubs = String::from(C_QUIET);
    for i in 0..6 {
        pubs.push_str(&format!("PUB q 1\r\n{i}\r\n"));
    }
    s("queue_group_with_plain_sub")
        .open(0)
        .send(0, format!("{C_QUIET}SUB q g 1\r\nSUB q g 2\r\n"))
        .sync(0)
        .open(1)
        .send(1, format!("{C_QUIET}SUB q 3\r\n"))
        .sync(1)
        .open(2)
        .send(2, pubs)
        .sync(2)
        .queue_sids(0, &["1", "2"])
}

/// A queue group with a single member is deterministic; two groups each get one copy.
fn queue_single_member_groups() -> Session {
    s("queue_single_member_groups")
        .open(0)
        .send(0, format!("{C_QUIET}SUB qs g1 1\r\n"))
        .sync(0)
        .open(1)
        .send(1, format!("{C_QUIET}SUB qs g2 7\r\n"))
        .sync(1)
        .open(2)
        .send(2, format!("{C_QUIET}PUB qs r 1\r\na\r\nPUB qs 1\r\nb\r\n"))
        .sync(2)
}

/// Queue members unsubscribing leave the group to the rest.
fn queue_member_unsub() -> Session {
    s("queue_member_unsub")
        .open(0)
        .send(0, format!("{C_QUIET}SUB qu g 1\r\n"))
        .sync(0)
        .open(1)
        .send(1, format!("{C_QUIET}SUB qu g 1\r\nUNSUB 1\r\n"))
        .sync(1)
        .open(2)
        .send(2, format!("{C_QUIET}PUB qu 1\r\na\r\nPUB qu 1\r\nb\r\n"))
        .sync(2)
}

/// Check 60: a PUB split across many TCP writes arrives intact.
fn split_writes() -> Session {
    s("split_writes")
        .open(0)
        .send(0, format!("{C_QUIET}SUB sp 1\r\n"))
        .sync(0)
        .open(1)
        .send_chunks(
            1,
            &[
                b"CONN",
                b"ECT {\"verbose\":false}\r\n",
                b"PU",
                b"B sp 5\r\nhel",
                b"lo\r",
                b"\n",
                b"S",
                b"UB sp2 2\r",
                b"\nPI",
                b"NG\r\n",
            ],
        )
        .sync(1)
}

/// Check 41: the third SUB exceeds max_subscriptions; the connection stays.
fn max_subscriptions() -> Session {
    s("max_subscriptions")
        .config("max_subscriptions: 2\n")
        .open(0)
        .send(
            0,
            format!("{C_QUIET}SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPUB c 1\r\nc\r\nPUB a 1\r\na\r\n"),
        )
        .sync(0)
}

/// Check 41: max_sub_tokens.
fn max_sub_tokens() -> Session {
    s("max_sub_tokens")
        .config("max_sub_tokens: 3\n")
        .open(0)
        .send(
            0,
            format!("{C_QUIET}SUB a.b.c 1\r\nSUB a.b.c.d 2\r\nPUB a.b.c 1\r\nx\r\n"),
        )
        .sync(0)
}

/// Check 43: the fourth connection gets INFO, then the error, then the close.
fn max_connections() -> Session {
    // Each connection is confirmed before the next opens: nats-server
    // counts connections in per-connection goroutines, so without this it
    // sometimes refuses the third instead of the fourth (seen once in CI).
    s("max_connections")
        .config("max_connections: 3\n")
        .open(0)
        .sync(0)
        .open(1)
        .sync(1)
        .open(2)
        .sync(2)
        .open(3)
        .eof(3, CLOSE)
}

// ---------------------------------------------------------------- subjects

/// Check 24: invalid SUB subjects get `Invalid Subject`, the connection stays.
fn invalid_sub_subjects() -> Session {
    s("invalid_sub_subjects")
        .open(0)
        .send(
            0,
            format!(
                "{C_QUIET}SUB foo..bar 2\r\nSUB foo.>.bar 3\r\nSUB .foo 6\r\nSUB foo. 7\r\nSUB * 4\r\nSUB foo.*bar 5\r\nPUB foo.*bar 1\r\nl\r\nPUB zz 1\r\nz\r\n"
            ),
        )
        .sync(0)
}

/// Check 24 with verbose: is there a +OK after the error?
fn invalid_sub_subject_verbose() -> Session {
    s("invalid_sub_subject_verbose")
        .open(0)
        .send(
            0,
            "CONNECT {\"verbose\":true,\"pedantic\":false}\r\nSUB a..b 1\r\nSUB ok 2\r\n",
        )
        .sync(0)
}

/// Check 25: pedantic + verbose: -ERR, then +OK, and the message is delivered.
fn pedantic_invalid_publish_subject() -> Session {
    s("pedantic_invalid_publish_subject")
        .open(0)
        .send(0, "CONNECT {\"verbose\":true,\"pedantic\":true}\r\nSUB > 1\r\nPUB foo.* 1\r\nw\r\nPUB a..b 1\r\nv\r\n")
        .sync(0)
}

/// Pedantic off: no error for a wildcard publish subject.
fn non_pedantic_publish_subject() -> Session {
    s("non_pedantic_publish_subject")
        .open(0)
        .send(
            0,
            "CONNECT {\"verbose\":true,\"pedantic\":false}\r\nSUB > 1\r\nPUB foo.* 1\r\nw\r\n",
        )
        .sync(0)
}

// ---------------------------------------------------------------- protocol errors

fn closes_after(name: &str, connect: &str, bytes: &str) -> Session {
    s(name)
        .open(0)
        .send(0, format!("{connect}{bytes}"))
        .eof(0, CLOSE)
}

/// Check 18.
fn unknown_op() -> Session {
    closes_after("unknown_op", C_QUIET, "FOO bar\r\n")
}

/// Check 18: an empty line.
fn empty_line() -> Session {
    closes_after("empty_line", C_QUIET, "\r\n")
}

/// Check 18: MSG from a client.
fn client_sends_msg() -> Session {
    closes_after("client_sends_msg", C_QUIET, "MSG foo 1 1\r\nx\r\n")
}

/// Check 18: HMSG from a client.
fn client_sends_hmsg() -> Session {
    closes_after(
        "client_sends_hmsg",
        C_HDR,
        "HMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
    )
}

/// Check 18: RS+ from a client.
fn client_sends_rs_plus() -> Session {
    closes_after("client_sends_rs_plus", C_QUIET, "RS+ $G foo\r\n")
}

/// Check 19: payload longer than declared.
fn payload_longer_than_declared() -> Session {
    closes_after(
        "payload_longer_than_declared",
        C_QUIET,
        "PUB foo 2\r\nabc\r\n",
    )
}

/// 2.1: payload not followed by CRLF.
fn payload_bad_terminator() -> Session {
    closes_after("payload_bad_terminator", C_QUIET, "PUB foo 2\r\nabXY")
}

/// Check 20: PUB without size.
fn pub_missing_size() -> Session {
    closes_after("pub_missing_size", C_QUIET, "PUB foo\r\n")
}

/// Check 20: non-numeric size.
fn pub_non_numeric_size() -> Session {
    closes_after("pub_non_numeric_size", C_QUIET, "PUB foo abc\r\n")
}

/// Check 20: negative size.
fn pub_negative_size() -> Session {
    closes_after("pub_negative_size", C_QUIET, "PUB s -1\r\n")
}

/// Check 20: too many PUB arguments.
fn pub_too_many_args() -> Session {
    closes_after("pub_too_many_args", C_QUIET, "PUB a b c 1\r\nx\r\n")
}

/// 2.8: `PUB` with no space is an unknown operation.
fn pub_without_space() -> Session {
    closes_after("pub_without_space", C_QUIET, "PUB\r\n")
}

/// 2.8: `UNSUB` with no space is an unknown operation.
fn unsub_without_space() -> Session {
    closes_after("unsub_without_space", C_QUIET, "UNSUB\r\n")
}

/// 2.8: UNSUB with three arguments closes silently.
fn unsub_too_many_args() -> Session {
    closes_after("unsub_too_many_args", C_QUIET, "UNSUB 1 2 3\r\n")
}

/// 2.8: SUB with one argument closes silently.
fn sub_missing_sid() -> Session {
    closes_after("sub_missing_sid", C_QUIET, "SUB foo\r\n")
}

/// 2.8: SUB with four arguments closes silently.
fn sub_too_many_args() -> Session {
    closes_after("sub_too_many_args", C_QUIET, "SUB a b c d\r\n")
}

/// 2.4: UNSUB with a non-numeric or negative max does not close; the
/// subscription is gone.
fn unsub_bad_max() -> Session {
    s("unsub_bad_max")
        .open(0)
        .send(
            0,
            format!("{C_QUIET}SUB a 1\r\nUNSUB 1 x\r\nPUB a 1\r\nq\r\nSUB b 2\r\nUNSUB 2 -5\r\nPUB b 1\r\nr\r\n"),
        )
        .sync(0)
}

/// Check 21: PUB over max_payload fails on the control line.
fn max_payload_default() -> Session {
    closes_after("max_payload_default", C_QUIET, "PUB foo 2000000\r\n")
}

/// Check 21: HPUB over max_payload.
fn max_payload_hpub() -> Session {
    closes_after("max_payload_hpub", C_HDR, "HPUB foo 12 2000000\r\n")
}

/// Check 22: max_payload from the config shows in INFO and is enforced.
fn max_payload_config() -> Session {
    let ok = "x".repeat(1024);
    s("max_payload_config")
        .config("max_payload: 1KB\n")
        .open(0)
        .send(
            0,
            format!("{C_QUIET}SUB foo.x 1\r\nPUB foo.x 1024\r\n{ok}\r\n"),
        )
        .sync(0)
        .send(0, "PUB foo.x 1025\r\n")
        .eof(0, CLOSE)
}

/// Check 23: a control line over 4096 bytes.
fn control_line_too_long() -> Session {
    let subj = "a".repeat(4100);
    closes_after(
        "control_line_too_long",
        C_QUIET,
        &format!("SUB {subj} 1\r\n"),
    )
}

/// Check 23: the limit also fires on a long partial line (no newline yet).
fn control_line_too_long_partial() -> Session {
    let subj = "b".repeat(3000);
    s("control_line_too_long_partial")
        .open(0)
        .send(0, C_QUIET)
        .sync(0)
        .send_chunks(0, &[format!("PUB {subj}").as_bytes(), subj.as_bytes()])
        .eof(0, CLOSE)
}

/// Check 23: a 4094-byte argument is accepted.
fn control_line_4094_accepted() -> Session {
    let subj = "c".repeat(4092);
    s("control_line_4094_accepted")
        .open(0)
        .send(
            0,
            format!("{C_QUIET}SUB {subj} 1\r\nPUB {subj} 2\r\nok\r\n"),
        )
        .sync(0)
}

/// 2.1: a CONNECT over 4 KB is rejected.
fn connect_too_long() -> Session {
    let name = "n".repeat(4200);
    closes_after(
        "connect_too_long",
        "",
        &format!("CONNECT {{\"verbose\":false,\"name\":\"{name}\"}}\r\n"),
    )
}

// ---------------------------------------------------------------- users, permissions, accounts

/// Users of a list, one with a bcrypt password (`secret`), one limited.
const USERS: &str = "authorization {\n  users: [\n    {user: alice, password: pw}\n    {user: bob, password: \"$2a$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW\"}\n    {user: lim, password: pw, permissions: {publish: {allow: [\"pub.>\", \"_INBOX.>\"], deny: [\"pub.secret\"]}, subscribe: {allow: [\"sub.*\", \"q.in v1\", \"both\", \"both v2.*\"], deny: [\"sub.no\"]}}}\n  ]\n}\n";

fn connect_as(user: &str, pass: &str) -> String {
    format!("CONNECT {{\"verbose\":false,\"pedantic\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\n")
}

/// Check 35: a users list; the right password gets in.
fn users_list_ok() -> Session {
    s("users_list_ok")
        .config(USERS)
        .open(0)
        .send(
            0,
            connect_as("alice", "pw") + "SUB x 1\r\nPUB x 2\r\nhi\r\n",
        )
        .sync(0)
}

/// Check 35: a wrong password for a listed user.
fn users_list_wrong_password() -> Session {
    s("users_list_wrong_password")
        .config(USERS)
        .open(0)
        .send(0, connect_as("alice", "nope"))
        .eof(0, CLOSE)
}

/// Check 35: a user not in the list.
fn users_list_unknown_user() -> Session {
    s("users_list_unknown_user")
        .config(USERS)
        .open(0)
        .send(0, connect_as("mallory", "pw"))
        .eof(0, CLOSE)
}

/// Check 36: a bcrypt password.
fn users_bcrypt_ok() -> Session {
    s("users_bcrypt_ok")
        .config(USERS)
        .open(0)
        .send(0, connect_as("bob", "secret"))
        .sync(0)
}

/// Check 36: a wrong password against a bcrypt hash.
fn users_bcrypt_wrong() -> Session {
    s("users_bcrypt_wrong")
        .config(USERS)
        .open(0)
        .send(0, connect_as("bob", "Secret"))
        .eof(0, CLOSE)
}

/// Check 39: a denied publish gets -ERR, is dropped, the connection stays.
fn perm_publish_denied() -> Session {
    s("perm_publish_denied")
        .config(USERS)
        .open(0)
        .send(0, connect_as("alice", "pw") + "SUB > 1\r\n")
        .sync(0)
        .open(1)
        .send(
            1,
            connect_as("lim", "pw")
                + "PUB pub.ok 1\r\na\r\nPUB other 1\r\nb\r\nPUB pub.secret 1\r\nc\r\nPUB pub.ok2 1\r\nd\r\n",
        )
        .sync(1)
        .sync(0)
}

/// Check 40: denied, allowed and wildcard-as-literal subscriptions.
fn perm_subscribe() -> Session {
    s("perm_subscribe")
        .config(USERS)
        .open(0)
        .send(
            0,
            connect_as("lim", "pw")
                + "SUB sub.a 1\r\nSUB sub.no 2\r\nSUB other 3\r\nSUB sub.* 4\r\nSUB sub.> 5\r\n",
        )
        .sync(0)
}

/// Check 41: queue permissions ("q.in v1", and "both" plus "both v2.*").
fn perm_queue() -> Session {
    s("perm_queue")
        .config(USERS)
        .open(0)
        .send(
            0,
            connect_as("lim", "pw")
                + "SUB q.in v1 1\r\nSUB q.in v2 2\r\nSUB q.in 3\r\nSUB both 4\r\nSUB both v2.x 5\r\nSUB both v3 6\r\n",
        )
        .sync(0)
}

/// Check 40: a wildcard subscription allowed past the deny list still does
/// not receive messages the deny list names.
fn perm_deny_at_delivery() -> Session {
    s("perm_deny_at_delivery")
        .config("authorization {\n  users: [\n    {user: p, password: p}\n    {user: w, password: w, permissions: {subscribe: {deny: [\"secret.*\"]}}}\n  ]\n}\n")
        .open(0)
        .send(0, connect_as("w", "w") + "SUB > 1\r\nSUB secret.* 2\r\nSUB open.* q 3\r\n")
        .sync(0)
        .open(1)
        .send(1, connect_as("p", "p") + "PUB secret.x 1\r\na\r\nPUB open.x 1\r\nb\r\nPUB other 1\r\nc\r\n")
        .sync(1)
        .sync(0)
}

/// Check 46: a user of account A learns its account in the connect_info INFO.
fn accounts_connect_info() -> Session {
    s("accounts_connect_info")
        .config(ACCOUNTS)
        .open(0)
        .send(0, "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"user\":\"a\",\"pass\":\"a\"}\r\n")
        .sync(0)
}

/// Check 42: allow_responses lets a user with no publish rights answer a
/// request it received, once; a second answer and other publishes fail.
fn perm_allow_responses() -> Session {
    s("perm_allow_responses")
        .config("authorization {\n  users: [\n    {user: req, password: r}\n    {user: svc, password: s, permissions: {allow_responses: true}}\n  ]\n}\n")
        .open(0)
        .send(0, connect_as("req", "r") + "SUB _INBOX.x 1\r\n")
        .sync(0)
        .open(1)
        .send(1, connect_as("svc", "s") + "SUB svc 1\r\n")
        .sync(1)
        .send(0, "PUB svc _INBOX.x 2\r\nhi\r\n")
        .sync(0)
        .sync(1)
        .send(1, "PUB _INBOX.x 2\r\nok\r\nPUB _INBOX.x 2\r\nno\r\nPUB other 1\r\nx\r\n")
        .sync(1)
        .sync(0)
}

/// Exports and imports between accounts A (exporter) and B (importer).
const IMPORTS: &str = "accounts {\n  A: {\n    users: [ {user: a, password: a} ]\n    exports: [ {stream: \"pubA.>\"}, {service: \"svcA.echo\"} ]\n  }\n  B: {\n    users: [ {user: b, password: b} ]\n    imports: [\n      {stream: {account: A, subject: \"pubA.>\"}, prefix: fromA}\n      {service: {account: A, subject: \"svcA.echo\"}, to: echo}\n    ]\n  }\n}\n";

/// Check 47: a stream import with a prefix: B sees A's `pubA.x` as
/// `fromA.pubA.x`; what B publishes does not reach A.
fn import_stream_prefix() -> Session {
    s("import_stream_prefix")
        .config(IMPORTS)
        .open(0)
        .send(
            0,
            connect_as("b", "b") + "SUB fromA.> 1\r\nSUB pubA.> 2\r\n",
        )
        .sync(0)
        .open(1)
        .send(
            1,
            connect_as("a", "a") + "SUB pubA.> 1\r\nPUB pubA.x 2\r\nhi\r\nPUB other 1\r\nn\r\n",
        )
        .sync(1)
        .send(0, "PUB pubA.y 2\r\nno\r\n")
        .sync(0)
        .sync(1)
}

/// Check 48: a service import renamed with `to`: B requests on `echo`, A's
/// responder gets it on `svcA.echo` with a rewritten `_R_` reply, and the
/// answer comes back on B's reply subject.
fn import_service_to() -> Session {
    s("import_service_to")
        .config(IMPORTS)
        .open(1)
        .send(1, connect_as("a", "a") + "SUB svcA.echo 1\r\n")
        .sync(1)
        .open(0)
        .send(
            0,
            connect_as("b", "b") + "SUB echo.reply 3\r\nPUB echo echo.reply 3\r\nabc\r\n",
        )
        .sync(0)
        .sync(1)
}

/// Check 34: a token from the config file.
fn token_from_config() -> Session {
    s("token_from_config")
        .config("authorization {\n  token: \"t0k\"\n}\n")
        .open(0)
        .send(
            0,
            "CONNECT {\"verbose\":false,\"auth_token\":\"t0k\"}\r\nPING\r\n",
        )
        .sync(0)
        .open(1)
        .send(1, "CONNECT {\"verbose\":false,\"auth_token\":\"bad\"}\r\n")
        .eof(1, CLOSE)
}

/// Check 39: a denied publish under verbose: the -ERR, and no +OK for it.
fn perm_publish_denied_verbose() -> Session {
    s("perm_publish_denied_verbose")
        .config(USERS)
        .open(0)
        .send(
            0,
            "CONNECT {\"verbose\":true,\"pedantic\":false,\"user\":\"lim\",\"pass\":\"pw\"}\r\nPUB nope 1\r\nx\r\nPUB pub.ok 1\r\ny\r\n",
        )
        .sync(0)
}

/// Check 40: subscribe deny without an allow list.
fn perm_subscribe_deny_only() -> Session {
    s("perm_subscribe_deny_only")
        .config("authorization {\n  users: [ {user: d, password: d, permissions: {subscribe: {deny: [\"x.>\"]}}} ]\n}\n")
        .open(0)
        .send(0, connect_as("d", "d") + "SUB x.y 1\r\nSUB y 2\r\nSUB x 3\r\n")
        .sync(0)
}

/// Check 39: permissions given as a plain list mean allow.
fn perm_list_means_allow() -> Session {
    s("perm_list_means_allow")
        .config("authorization {\n  users: [ {user: l, password: l, permissions: {publish: [\"a.*\", \"b\"], subscribe: \"s.>\"}} ]\n}\n")
        .open(0)
        .send(
            0,
            connect_as("l", "l") + "PUB a.1 1\r\nx\r\nPUB c 1\r\nx\r\nSUB s.1 1\r\nSUB t 2\r\n",
        )
        .sync(0)
}

/// Check 47: a stream import renamed with `to`.
fn import_stream_to() -> Session {
    s("import_stream_to")
        .config("accounts {\n  A: { users: [ {user: a, password: a} ], exports: [ {stream: \"news\"} ] }\n  B: { users: [ {user: b, password: b} ], imports: [ {stream: {account: A, subject: \"news\"}, to: \"fromA.news\"} ] }\n}\n")
        .open(0)
        .send(0, connect_as("b", "b") + "SUB fromA.news 1\r\nSUB news 2\r\n")
        .sync(0)
        .open(1)
        .send(1, connect_as("a", "a") + "PUB news 3\r\nnew\r\n")
        .sync(1)
        .sync(0)
}

/// Check 45: users of different accounts with the same subject names and a
/// third account with no users configured in between.
fn accounts_three_isolated() -> Session {
    s("accounts_three_isolated")
        .config("accounts {\n  A: { users: [ {user: a, password: a} ] }\n  B: { users: [ {user: b, password: b} ] }\n  C: { users: [ {user: c, password: c} ] }\n}\n")
        .open(0)
        .send(0, connect_as("a", "a") + "SUB > 1\r\n")
        .sync(0)
        .open(1)
        .send(1, connect_as("b", "b") + "SUB > 1\r\n")
        .sync(1)
        .open(2)
        .send(2, connect_as("c", "c") + "PUB one 1\r\nc\r\n")
        .sync(2)
        .sync(0)
        .sync(1)
}

/// Check 37: no_auth_user does not rescue wrong credentials.
fn no_auth_user_wrong_password() -> Session {
    s("no_auth_user_wrong_password")
        .config(&format!("{ACCOUNTS}no_auth_user: a\n"))
        .open(0)
        .send(0, connect_as("a", "wrong"))
        .eof(0, CLOSE)
}

/// Check 38: the users list plus an account user in one config.
fn users_and_account_users() -> Session {
    s("users_and_account_users")
        .config("authorization {\n  users: [ {user: g, password: g} ]\n}\naccounts {\n  A: { users: [ {user: a, password: a} ] }\n}\n")
        .open(0)
        .send(0, connect_as("g", "g") + "SUB t 1\r\n")
        .sync(0)
        .open(1)
        .send(1, connect_as("a", "a") + "SUB t 1\r\nPUB t 1\r\na\r\n")
        .sync(1)
        .sync(0)
}

/// Check 40: replies under the reserved `_R_.` prefix are refused (and
/// only those: `_R_` alone and `_r_.` pass).
fn reserved_reply_prefix() -> Session {
    s("reserved_reply_prefix")
        .open(0)
        .send(
            0,
            format!("{C_QUIET}SUB foo 1\r\nPUB foo _R_.abc 1\r\nx\r\nPUB foo _R_ 1\r\ny\r\nPUB foo _R_.a.b 1\r\nz\r\nPUB foo _r_.abc 1\r\nw\r\n"),
        )
        .sync(0)
}

/// Check 37: without any CONNECT (telnet style) a client is the
/// no_auth_user from the start: verbose, and in that user's account.
fn no_auth_user_telnet() -> Session {
    s("no_auth_user_telnet")
        .config(&format!("{ACCOUNTS}no_auth_user: b\n"))
        .open(0)
        .send(0, "SUB foo 1\r\nPUB foo 2\r\nhi\r\n")
        .sync(0)
        .open(1)
        .send(1, connect_as("b", "b") + "PUB foo 1\r\nx\r\n")
        .sync(1)
        .sync(0)
}

/// Check 37: under no_auth_user the INFO after the first PONG says
/// `auth_required` (only the INFO on accept leaves it out), with or
/// without credentials.
fn no_auth_user_connect_info() -> Session {
    s("no_auth_user_connect_info")
        .config(&format!("{ACCOUNTS}no_auth_user: b\n"))
        .open(0)
        .send(0, format!("{C_PROTO1}PING\r\n"))
        .sync(0)
        .open(1)
        .send(
            1,
            "CONNECT {\"verbose\":false,\"protocol\":1,\"user\":\"a\",\"pass\":\"a\"}\r\nPING\r\n",
        )
        .sync(1)
}

/// Check 37: under no_auth_user a silent client still times out, and one
/// that started with an op (telnet style) does not. The auth timeout is
/// half a second so that the silent client is gone well before the first
/// server PING (2 s plus up to 20% jitter) could reach either connection.
fn no_auth_user_timeouts() -> Session {
    s("no_auth_user_timeouts")
        .config(&format!(
            "{ACCOUNTS}no_auth_user: b\nauthorization {{\n  timeout: 0.5\n}}\n"
        ))
        .open(0)
        .send(0, "SUB foo 1\r\n")
        .open(1)
        .eof(1, secs(6))
        .sync(0)
        .keep_server_pings()
}

/// Accounts: users bound to accounts see only their account's traffic.
const ACCOUNTS: &str = "accounts {\n  A: { users: [ {user: a, password: a} ] }\n  B: { users: [ {user: b, password: b} ] }\n}\n";

/// Check 45: a publish in account B never reaches a subscriber in A.
fn accounts_isolated() -> Session {
    s("accounts_isolated")
        .config(ACCOUNTS)
        .open(0)
        .send(0, connect_as("a", "a") + "SUB foo 1\r\n")
        .sync(0)
        .open(1)
        .send(
            1,
            connect_as("b", "b") + "SUB foo 1\r\nPUB foo 4\r\nfrom\r\n",
        )
        .sync(1)
        .open(2)
        .send(2, connect_as("a", "a") + "PUB foo 2\r\nok\r\n")
        .sync(2)
        .sync(0)
        .sync(1)
}

/// Check 37: no_auth_user lets a CONNECT without credentials in as that user.
fn no_auth_user_binds() -> Session {
    s("no_auth_user_binds")
        .config(&format!("{ACCOUNTS}no_auth_user: a\n"))
        .open(0)
        .send(0, format!("{C_QUIET}SUB foo 1\r\n"))
        .sync(0)
        .open(1)
        .send(1, connect_as("a", "a") + "PUB foo 2\r\nhi\r\n")
        .sync(1)
        .sync(0)
}

// ------------------------------------------ first bytes: refused at once

/// The start of a TLS 1.2/1.3 ClientHello record (what a TLS client sends
/// first on a plaintext port), without any newline.
const TLS_CLIENT_HELLO: &[u8] =
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x4e\x9b\x22\x05\xe1\x01\x6b\x53\
    \x9e\x3a\x00\x00\x2a\x13\x01\x13\x02\x13\x03\xc0\x2c\xc0\x2b\xcc\xa9\xc0\x30\x00\x9f";

/// One connection per input (sent with no newline after it unless it has
/// one); the server must refuse each and close, without waiting for more.
fn refused_each(session: Session, inputs: &[&[u8]]) -> Session {
    let mut session = session;
    for (c, input) in inputs.iter().enumerate() {
        session = session.open(c).send(c, input).eof(c, CLOSE);
    }
    session
}

/// 150 NUL bytes: `-ERR 'Unknown Protocol Operation'` and a close, at the
/// first byte.
fn first_bytes_nul() -> Session {
    refused_each(s("first_bytes_nul"), &[&[0u8; 150]])
}

/// A TLS ClientHello on the plaintext client port: refused at its first
/// byte (0x16) like any byte no op begins with.
fn first_bytes_tls_client_hello() -> Session {
    refused_each(s("first_bytes_tls_client_hello"), &[TLS_CLIENT_HELLO])
}

/// Bytes that begin no client op (nats-server's parser starts an op only
/// with C, P, S, U, H, I, +, - in either case; not M, R, A, L, nor
/// whitespace), and an HTTP request.
fn first_bytes_no_op_begins_with() -> Session {
    refused_each(
        s("first_bytes_no_op_begins_with"),
        &[
            b"X",
            b"M",
            b"r",
            b"A",
            b"L",
            b" ",
            b"\t",
            b"\r",
            b"\n",
            b"\xff",
            b"{\"verbose\":false}",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ],
    )
}

/// A byte that cannot continue an op name is refused when it arrives,
/// newline or not.
fn op_name_refused_at_the_byte() -> Session {
    refused_each(
        s("op_name_refused_at_the_byte"),
        &[
            b"PUX",
            b"PUBX",
            b"CONNEX",
            b"HX",
            b"INFX",
            b"UNSUBx",
            b"PIN\r",
            b"-ERR\r\n",
        ],
    )
    .open(8)
    .send_chunks(8, &[b"CONN", b"ECX"])
    .eof(8, CLOSE)
    .open(9)
    .send(9, format!("{C_QUIET}PING\r\n\x00"))
    .eof(9, CLOSE)
}

/// Op names that are still possible wait for more (here: the rest of
/// the op), in any case and split anywhere.
fn op_name_prefixes_wait() -> Session {
    s("op_name_prefixes_wait")
        .open(0)
        .send_chunks(
            0,
            &[
                b"c",
                b"ONNECT",
                b" {\"verbose\":false}\r\n",
                b"s",
                b"Ub",
                b" a 1\r\n",
            ],
        )
        .send_chunks(
            0,
            &[b"P", b"U", b"B", b" ", b"a 2\r\nhi\r\n", b"+", b"ok\r\n"],
        )
        .sync(0)
}

/// Whatever follows PING (here 5000 bytes, longer than a control line) is
/// ignored up to the newline, not held to the control-line limit.
fn ping_long_trailing_junk() -> Session {
    let junk = "x".repeat(5000);
    s("ping_long_trailing_junk")
        .open(0)
        .send(0, C_QUIET)
        .send_chunks(0, &[format!("PING {junk}").as_bytes(), b"\r\n"])
        .sync(0)
}

/// INFO and CONNECT glued to their argument: the control line counts
/// from right after the name.
fn glued_argument_over_control_line() -> Session {
    let long = "x".repeat(4097);
    s("glued_argument_over_control_line")
        .open(0)
        .send(0, format!("INFO{long}"))
        .eof(0, CLOSE)
        .open(1)
        .send(1, format!("CONNECT{{\"name\":\"{long}\"}}\r\n"))
        .eof(1, CLOSE)
}

/// With auth required a first byte other than C is an Authorization
/// Violation at once; after C, a byte that cannot continue CONNECT is an
/// Unknown Protocol Operation.
fn auth_first_bytes() -> Session {
    refused_each(
        s("auth_first_bytes").args(USER_PASS),
        &[&[0u8; 150], TLS_CLIENT_HELLO, b"X", b"\r\n", b"CX", b"cOnX"],
    )
}

/// Under no_auth_user any op may come first, so a bad first byte is an
/// Unknown Protocol Operation again.
fn no_auth_user_first_bytes() -> Session {
    refused_each(
        s("no_auth_user_first_bytes").config(&format!("{ACCOUNTS}no_auth_user: b\n")),
        &[&[0u8; 150], TLS_CLIENT_HELLO, b"M"],
    )
}

/// A route listener on a random port.
const CLUSTER: &str = "cluster {\n  name: diff\n  listen: \"127.0.0.1:-1\"\n}\n";

/// A route's CONNECT for the `diff` cluster.
const ROUTE_CONNECT: &str = "CONNECT {\"echo\":false,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"name\":\"peer\",\"cluster\":\"diff\",\"headers\":true}\r\n";

/// The route port: before CONNECT a first byte other than C is an
/// Authorization Violation; after it, bytes no route op begins with (M is
/// one; R, L and A are not) are an Unknown Protocol Operation.
fn route_port_first_bytes() -> Session {
    let mut session = s("route_port_first_bytes").config(CLUSTER);
    let inputs: [Vec<u8>; 6] = [
        vec![0u8; 150],
        TLS_CLIENT_HELLO.to_vec(),
        b"CX".to_vec(),
        format!("{ROUTE_CONNECT}\x00").into_bytes(),
        format!("{ROUTE_CONNECT}MX").into_bytes(),
        format!("{ROUTE_CONNECT}RX").into_bytes(),
    ];
    for (c, input) in inputs.iter().enumerate() {
        session = session.open_route(c).send(c, input).eof(c, CLOSE);
    }
    session
}

// ---------------------------------------------------------------- auth

const USER_PASS: &[&str] = &["--user", "u1", "--pass", "p1"];

/// Check 31: auth required, CONNECT without credentials.
fn auth_no_credentials() -> Session {
    s("auth_no_credentials")
        .args(USER_PASS)
        .open(0)
        .send(0, "CONNECT {\"verbose\":false}\r\n")
        .eof(0, CLOSE)
}

/// Check 32: PUB before CONNECT when auth is required.
fn auth_pub_before_connect() -> Session {
    s("auth_pub_before_connect")
        .args(USER_PASS)
        .open(0)
        .send(0, "PUB foo 1\r\nx\r\n")
        .eof(0, CLOSE)
}

/// Check 32: PING before CONNECT when auth is required.
fn auth_ping_before_connect() -> Session {
    s("auth_ping_before_connect")
        .args(USER_PASS)
        .open(0)
        .send(0, "PING\r\n")
        .eof(0, CLOSE)
}

/// Check 33: no CONNECT within the auth timeout (1 s).
fn auth_timeout() -> Session {
    s("auth_timeout")
        .config("authorization {\n  user: u1\n  password: p1\n  timeout: 1\n}\n")
        .open(0)
        .eof(0, secs(6))
        .keep_server_pings()
}

/// Check 34: the right token.
fn token_ok() -> Session {
    s("token_ok")
        .args(&["--auth", "s3cret"])
        .open(0)
        .send(0, "CONNECT {\"auth_token\":\"s3cret\"}\r\nPING\r\n")
        .sync(0)
}

/// Check 34: a wrong token.
fn token_wrong() -> Session {
    s("token_wrong")
        .args(&["--auth", "s3cret"])
        .open(0)
        .send(0, "CONNECT {\"verbose\":false,\"auth_token\":\"nope\"}\r\n")
        .eof(0, CLOSE)
}

/// Check 34: user/pass against a token server.
fn token_given_user() -> Session {
    s("token_given_user")
        .args(&["--auth", "s3cret"])
        .open(0)
        .send(
            0,
            "CONNECT {\"verbose\":false,\"user\":\"s3cret\",\"pass\":\"s3cret\"}\r\n",
        )
        .eof(0, CLOSE)
}

/// Check 35: good credentials.
fn user_pass_ok() -> Session {
    s("user_pass_ok")
        .args(USER_PASS)
        .open(0)
        .send(0, "CONNECT {\"user\":\"u1\",\"pass\":\"p1\"}\r\nPING\r\n")
        .sync(0)
        .send(0, "SUB a 1\r\nPUB a 1\r\nx\r\n")
        .sync(0)
}

/// Check 35: wrong password.
fn user_pass_wrong() -> Session {
    s("user_pass_wrong")
        .args(USER_PASS)
        .open(0)
        .send(
            0,
            "CONNECT {\"verbose\":false,\"user\":\"u1\",\"pass\":\"bad\"}\r\n",
        )
        .eof(0, CLOSE)
}

/// Check 35: a token against a user/pass server.
fn user_pass_given_token() -> Session {
    s("user_pass_given_token")
        .args(USER_PASS)
        .open(0)
        .send(0, "CONNECT {\"verbose\":false,\"auth_token\":\"p1\"}\r\n")
        .eof(0, CLOSE)
}

// ---------------------------------------------------------------- timers

/// Check 44: a client that never answers PINGs is closed as stale.
fn stale_connection() -> Session {
    s("stale_connection")
        .config("ping_interval: \"1s\"\nping_max: 2\n")
        .open(0)
        .send(0, C_QUIET)
        .eof(0, secs(10))
        .keep_server_pings()
}

/// 2.5: a client that answers PINGs stays.
fn ping_answered_stays_open() -> Session {
    s("ping_answered_stays_open")
        .config("ping_interval: \"1s\"\nping_max: 2\n")
        .open(0)
        .send(0, C_QUIET)
        .expect(0, "PING", 1, secs(5))
        .send(0, "PONG\r\n")
        .expect(0, "PING", 2, secs(5))
        .send(0, "PONG\r\n")
        .expect(0, "PING", 3, secs(5))
        .send(0, "PONG\r\n")
        .sync(0)
        .keep_server_pings()
}

/// Check 45: the first server PING comes ~2 s after CONNECT, even with a 2 m interval.
fn server_ping_after_connect() -> Session {
    s("server_ping_after_connect")
        .open(0)
        .send(0, C_QUIET)
        .expect(0, "PING", 1, secs(6))
        .send(0, "PONG\r\n")
        .sync(0)
        .keep_server_pings()
}

// ---------------------------------------------------------------- volume, encoding

/// A 200 kB payload relayed intact (the server reads it in pieces).
fn large_payload() -> Session {
    let body: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    s("large_payload")
        .open(0)
        .send(0, format!("{C_QUIET}SUB big 1\r\n"))
        .sync(0)
        .open(1)
        .send(
            1,
            format!("{C_QUIET}PUB big 200000\r\n{body}\r\nPUB big 1\r\n.\r\n"),
        )
        .sync(1)
}

/// 500 pipelined PUBs in one write arrive complete and in order.
fn pipelined_burst() -> Session {
    let mut burst = String::from(C_QUIET);
    for i in 0..500 {
        let p = format!("m{i}");
        burst.push_str(&format!("PUB burst {}\r\n{p}\r\n", p.len()));
    }
    s("pipelined_burst")
        .open(0)
        .send(0, format!("{C_QUIET}SUB burst 1\r\n"))
        .sync(0)
        .open(1)
        .send(1, burst)
        .sync(1)
}

/// Non-ASCII subjects are opaque bytes.
fn utf8_subject() -> Session {
    s("utf8_subject")
        .open(0)
        .send(
            0,
            format!("{C_QUIET}SUB \u{fc}ber.* 1\r\nPUB \u{fc}ber.gr\u{f6}\u{df}e 2\r\nok\r\n"),
        )
        .sync(0)
}

/// `-DV` (debug and trace logging) changes nothing on the wire.
fn debug_trace_logging() -> Session {
    s("debug_trace_logging")
        .args(&["-DV"])
        .open(0)
        .send(0, format!("{C_PROTO1}SUB t 1\r\nPUB t 2\r\nhi\r\nPING\r\n"))
        .sync(0)
}

/// 2.5: before CONNECT the ping timer already runs: PING, then the auth timeout.
fn auth_timeout_after_ping() -> Session {
    s("auth_timeout_after_ping")
        .config(
            "ping_interval: \"1s\"\nauthorization {\n  user: u1\n  password: p1\n  timeout: 1.6\n}\n",
        )
        .open(0)
        .eof(0, secs(6))
        .keep_server_pings()
}

// ---------------------------------------------------------------- message tracing

/// CONNECT, quiet, with headers, a client name when `name` is not empty
/// (trace events name clients) and a login when given.
fn c_hdr(name: &str, login: Option<(&str, &str)>) -> String {
    let mut fields = String::from("\"verbose\":false,\"pedantic\":false,\"headers\":true");
    if !name.is_empty() {
        fields.push_str(&format!(",\"name\":\"{name}\""));
    }
    if let Some((user, pass)) = login {
        fields.push_str(&format!(",\"user\":\"{user}\",\"pass\":\"{pass}\""));
    }
    format!("CONNECT {{{fields}}}\r\n")
}

/// `HPUB subject [reply] hdr total` with `headers` and `payload`.
fn hpub(subject_reply: &str, headers: &str, payload: &str) -> String {
    format!(
        "HPUB {subject_reply} {} {}\r\n{headers}{payload}\r\n",
        headers.len(),
        headers.len() + payload.len()
    )
}

/// Message tracing (nats-server 2.11+): a traced message is delivered
/// unchanged and its event published on `Nats-Trace-Dest` (the server's
/// own message: `MSG trace.dest 1  <size>`, a double space); trace-only
/// records the delivery and makes none; no subscribers leaves only the
/// ingress; a no-echo publisher's own subscription is an egress with an
/// error; `Accept-Encoding` labels the event; an invalid destination is no
/// trace (and drops a trace-only message). The events are compared with
/// ids, times and sizes masked and key order kept.
fn message_trace_events() -> Session {
    let dest = "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\n\r\n";
    let only = "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nNats-Trace-Only: true\r\n\r\n";
    s("message_trace_events")
        .open(0)
        .send(0, format!("{}SUB trace.dest 1\r\n", c_hdr("tracer", None)))
        .sync(0)
        .open(1)
        .send(1, format!("{}SUB foo 7\r\n", c_hdr("subber", None)))
        .sync(1)
        .open(2)
        .send(2, c_hdr("pubber", None))
        .sync(2)
        .send(
            2,
            hpub(
                "foo my.reply",
                "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nX-Custom: a\r\nX-Custom: b\r\nA-First: z\r\n\r\n",
                "hello",
            ),
        )
        .expect(0, "MSG trace.dest", 1, secs(5))
        .sync(1)
        .send(2, hpub("foo", only, "quiet"))
        .expect(0, "MSG trace.dest", 2, secs(5))
        .sync(1)
        .send(2, hpub("nobody.here", dest, "x"))
        .expect(0, "MSG trace.dest", 3, secs(5))
        .open(3)
        .send(
            3,
            "CONNECT {\"verbose\":false,\"headers\":true,\"echo\":false,\"name\":\"noecho\"}\r\nSUB foo 1\r\n",
        )
        .sync(3)
        .send(3, hpub("foo", dest, "mine"))
        .expect(0, "MSG trace.dest", 4, secs(5))
        .send(
            2,
            hpub("foo", "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nAccept-Encoding: br\r\n\r\n", "enc"),
        )
        .expect(0, "HMSG trace.dest", 1, secs(5))
        .send(2, hpub("foo", "NATS/1.0\r\nNats-Trace-Dest: trace.*\r\n\r\n", "bad dest"))
        .send(
            2,
            hpub("foo", "NATS/1.0\r\nNats-Trace-Dest: trace.*\r\nNats-Trace-Only: 1\r\n\r\n", "dropped"),
        )
        .sync(2)
        .sync(1)
        .sync(3)
        .sync(0)
}

/// Tracing and permissions: a destination the publisher may not publish
/// on is refused with the publish `-ERR` and the message dropped; a
/// subject it may not publish on is refused and the event's ingress says
/// why; a subscription whose deny list names the subject is an egress
/// with an error.
fn message_trace_permissions() -> Session {
    let dest = "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\n\r\n";
    s("message_trace_permissions")
        .config(concat!(
            "authorization {\n  users = [\n",
            "    {user: t, password: t}\n",
            "    {user: nodest, password: p, permissions: {publish: {deny: [\"trace.dest\"]}}}\n",
            "    {user: nofoo, password: p, permissions: {publish: {deny: [\"foo\"]}}}\n",
            "    {user: subdeny, password: p, permissions: {subscribe: {allow: [\"foo.*\"], deny: [\"foo.x\"]}}}\n",
            "  ]\n}\n"
        ))
        .open(0)
        .send(
            0,
            c_hdr("", Some(("t", "t"))) + "SUB trace.dest 1\r\nSUB foo 2\r\n",
        )
        .sync(0)
        .open(1)
        .send(
            1,
            c_hdr("", Some(("nodest", "p"))),
        )
        .sync(1)
        .send(1, hpub("foo", dest, "refused"))
        .sync(1)
        .open(2)
        .send(
            2,
            c_hdr("", Some(("nofoo", "p"))),
        )
        .sync(2)
        .send(2, hpub("foo", dest, "denied"))
        .expect(0, "MSG trace.dest", 1, secs(5))
        .open(3)
        .send(
            3,
            c_hdr("subdeny", Some(("subdeny", "p"))) + "SUB foo.* 9\r\n",
        )
        .sync(3)
        .send(0, hpub("foo.x", dest, "filtered"))
        .expect(0, "MSG trace.dest", 2, secs(5))
        .sync(3)
        .sync(2)
        .sync(1)
        .sync(0)
}

/// Tracing across accounts: a stream export adds an `se` event (no
/// egress: the import has no `allow_trace`) and the importer still gets
/// the message; a service import adds an `si` event and the request goes
/// on untraced (with `Nats-Trace-Dest: trace disabled`, which the
/// headerless responder here does not see).
fn message_trace_imports() -> Session {
    let dest = "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\n\r\n";
    let login = |u: &str| c_hdr("", Some((u, u)));
    s("message_trace_imports")
        .config(concat!(
            "accounts {\n",
            "  A: { users: [ {user: a, password: a} ], exports: [ {stream: \"news\"}, {service: \"svc.x\"} ] }\n",
            "  B: { users: [ {user: b, password: b} ], imports: [ {stream: {account: A, subject: \"news\"}, to: \"fromA.news\"}, {service: {account: A, subject: \"svc.x\"}} ] }\n",
            "}\n"
        ))
        // The responder takes no headers: nats-server adds a
        // `Nats-Request-Info` header to imported requests, which canopy
        // does not yet (and its `rtt` differs by run).
        .open(0)
        .send(
            0,
            "CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}\r\nSUB trace.dest 1\r\nSUB svc.x 2\r\n",
        )
        .sync(0)
        .open(1)
        .send(1, login("b") + "SUB trace.dest 1\r\nSUB fromA.news 2\r\n")
        .sync(1)
        .open(2)
        .send(2, login("a"))
        .sync(2)
        .send(2, hpub("news", dest, "story"))
        .expect(0, "MSG trace.dest", 1, secs(5))
        .sync(1)
        .open(3)
        .send(3, login("b"))
        .sync(3)
        .send(3, hpub("svc.x", dest, "request"))
        .expect(1, "MSG trace.dest", 1, secs(5))
        .sync(0)
        .sync(1)
}

/// An account's `msg_trace`: a message with a sampled W3C `traceparent`
/// and no `Nats-Trace-Dest` is traced to the account's destination (with
/// sampling 100, always), `Nats-Trace-Only` does not hold it back; an
/// unsampled one is not traced.
fn message_trace_account_traceparent() -> Session {
    let parent = |flags: &str, extra: &str| {
        format!("NATS/1.0\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}\r\n{extra}\r\n")
    };
    let login = c_hdr("w3c", Some(("a", "a")));
    s("message_trace_account_traceparent")
        .config(
            "accounts {\n  A: { users: [ {user: a, password: a} ], msg_trace: { dest: \"acc.trace\", sampling: 100 } }\n}\n",
        )
        .open(0)
        .send(0, format!("{login}SUB acc.trace 1\r\nSUB foo 2\r\n"))
        .sync(0)
        .open(1)
        .send(1, login)
        .sync(1)
        .send(1, hpub("foo", &parent("01", ""), "sampled"))
        .expect(0, "MSG acc.trace", 1, secs(5))
        .send(1, hpub("foo", &parent("00", ""), "not sampled"))
        .send(1, hpub("foo", &parent("01", "Nats-Trace-Only: true\r\n"), "only ignored"))
        .expect(0, "MSG acc.trace", 2, secs(5))
        .sync(1)
        .sync(0)
}

/// A traced `HPUB` over max_payload: the connection is refused with
/// `Maximum Payload Violation`, and when its headers came in the same
/// write, the event says so in the ingress (`maximum payload exceeded`,
/// the declared size as `msgsize`).
fn message_trace_max_payload() -> Session {
    let dest = "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\n\r\n";
    let body = "x".repeat(200);
    s("message_trace_max_payload")
        .config("max_payload: 100\n")
        .open(0)
        .send(0, format!("{}SUB trace.dest 1\r\n", c_hdr("tracer", None)))
        .sync(0)
        .open(1)
        .send(1, c_hdr("big", None))
        .sync(1)
        .send(1, hpub("foo", dest, &body))
        .eof(1, CLOSE)
        .expect(0, "MSG trace.dest", 1, secs(5))
        .sync(0)
}

// ---------------------------------------------------------------- the list

macro_rules! sessions {
    ($($name:ident),* $(,)?) => {
        fn all_sessions() -> Vec<Session> {
            vec![$($name()),*]
        }

        const NAMES: &[&str] = &[$(stringify!($name)),*];

        /// One test per session, named after it: canopy on tokio.
        mod session {
            $(
                #[test]
                fn $name() {
                    super::check(stringify!($name), canopy_tests::Impl::Canopy);
                }
            )*
        }

        /// The same sessions against canopy on smol.
        mod session_smol {
            $(
                #[test]
                fn $name() {
                    super::check(stringify!($name), canopy_tests::Impl::CanopySmol);
                }
            )*
        }
    };
}

sessions! {
    info_on_connect,
    connect_empty_is_verbose,
    connect_info_after_first_pong,
    pre_connect_sub_pub,
    lowercase_ops,
    lf_only_and_tabs,
    ping_trailing_garbage,
    second_connect,
    connect_without_space,
    protocol0_no_info,
    client_info_and_ok_ignored,
    client_err_closes,
    no_responders_requires_headers,
    invalid_client_protocol,
    connect_account_field,
    malformed_connect_json,
    connect_nested_2000_deep,
    connect_nesting_limit,
    connect_json_as_go_reads_it,
    verbose_acks,
    pub_reply_and_zero_payload,
    hpub_to_headers_subscriber,
    hpub_stripped_for_plain_subscriber,
    hpub_zero_header_len,
    hpub_header_not_validated,
    hpub_without_headers_closes,
    hpub_header_larger_than_total,
    no_responders,
    no_responders_with_responder_or_disabled,
    duplicate_sid,
    unsub_max,
    unsub_zero_and_below_delivered,
    echo_false,
    wildcards,
    wildcard_publish_subject_literal,
    delivery_order_one_connection,
    delivery_order_three_levels,
    delivery_order_queue_groups,
    delivery_order_two_connections,
    delivery_order_after_a_cached_match,
    fanout_across_connections,
    queue_group_with_plain_sub,
    queue_single_member_groups,
    queue_member_unsub,
    split_writes,
    max_subscriptions,
    max_connections,
    max_sub_tokens,
    users_list_ok,
    users_list_wrong_password,
    users_list_unknown_user,
    users_bcrypt_ok,
    users_bcrypt_wrong,
    perm_publish_denied,
    perm_subscribe,
    perm_queue,
    accounts_isolated,
    no_auth_user_binds,
    perm_deny_at_delivery,
    accounts_connect_info,
    perm_allow_responses,
    import_stream_prefix,
    import_service_to,
    token_from_config,
    perm_publish_denied_verbose,
    perm_subscribe_deny_only,
    perm_list_means_allow,
    import_stream_to,
    accounts_three_isolated,
    no_auth_user_wrong_password,
    users_and_account_users,
    reserved_reply_prefix,
    no_auth_user_telnet,
    no_auth_user_timeouts,
    no_auth_user_connect_info,
    invalid_sub_subjects,
    invalid_sub_subject_verbose,
    pedantic_invalid_publish_subject,
    non_pedantic_publish_subject,
    unknown_op,
    empty_line,
    first_bytes_nul,
    first_bytes_tls_client_hello,
    first_bytes_no_op_begins_with,
    op_name_refused_at_the_byte,
    op_name_prefixes_wait,
    ping_long_trailing_junk,
    glued_argument_over_control_line,
    auth_first_bytes,
    no_auth_user_first_bytes,
    route_port_first_bytes,
    client_sends_msg,
    client_sends_hmsg,
    client_sends_rs_plus,
    payload_longer_than_declared,
    payload_bad_terminator,
    pub_missing_size,
    pub_non_numeric_size,
    pub_negative_size,
    pub_too_many_args,
    pub_without_space,
    unsub_without_space,
    unsub_too_many_args,
    sub_missing_sid,
    sub_too_many_args,
    unsub_bad_max,
    max_payload_default,
    max_payload_hpub,
    max_payload_config,
    control_line_too_long,
    control_line_too_long_partial,
    control_line_4094_accepted,
    connect_too_long,
    auth_no_credentials,
    auth_pub_before_connect,
    auth_ping_before_connect,
    auth_timeout,
    token_ok,
    token_wrong,
    token_given_user,
    user_pass_ok,
    user_pass_wrong,
    user_pass_given_token,
    stale_connection,
    ping_answered_stays_open,
    server_ping_after_connect,
    large_payload,
    pipelined_burst,
    utf8_subject,
    debug_trace_logging,
    auth_timeout_after_ping,
    message_trace_events,
    message_trace_permissions,
    message_trace_imports,
    message_trace_account_traceparent,
    message_trace_max_payload,
}

struct Run {
    results: BTreeMap<String, Result<(), String>>,
    sides: (Impl, Impl),
    elapsed: Duration,
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Every session against nats-server and `canopy` (run once per canopy).
fn run(canopy: Impl) -> &'static Run {
    static RUNS: [OnceLock<Run>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = if canopy == Impl::CanopySmol {
        &RUNS[1]
    } else {
        &RUNS[0]
    };
    slot.get_or_init(|| {
        let sessions = all_sessions();
        let b = if env_flag("DIFF_SELF_TEST") {
            Impl::NatsServer
        } else {
            canopy
        };
        // Fail fast, with the provisioning hint, before starting anything.
        let _ = Impl::NatsServer.bin();
        let _ = b.bin();
        let jobs = std::env::var("DIFF_JOBS")
            .ok()
            .and_then(|j| j.parse().ok())
            .unwrap_or(16);
        let started = Instant::now();
        let outcomes = run_all(&sessions, Impl::NatsServer, b, jobs);
        let elapsed = started.elapsed();
        if env_flag("DIFF_WRITE_GOLDEN") {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
            std::fs::create_dir_all(&dir).expect("create tests/golden");
            for (s, o) in sessions.iter().zip(&outcomes) {
                if let Some(r) = &o.reference {
                    std::fs::write(dir.join(format!("{}.txt", s.name)), golden_text(s, r))
                        .expect("write golden file");
                }
            }
        }
        let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
        eprintln!(
            "differential: {} sessions, nats-server vs {b}, {failed} differ, {:.1}s wall ({jobs} at a time)",
            outcomes.len(),
            elapsed.as_secs_f64()
        );
        for o in &outcomes {
            eprintln!(
                "  {:<45} {:>6.2}s {}",
                o.name,
                o.elapsed.as_secs_f64(),
                if o.result.is_ok() { "same" } else { "DIFFERS" }
            );
        }
        Run {
            results: outcomes.into_iter().map(|o| (o.name, o.result)).collect(),
            sides: (Impl::NatsServer, b),
            elapsed,
        }
    })
}

fn check(name: &str, canopy: Impl) {
    let run = run(canopy);
    match run.results.get(name) {
        Some(Ok(())) => {}
        Some(Err(report)) => panic!("{report}"),
        None => panic!("no session named {name}"),
    }
}

#[test]
fn session_list_is_complete() {
    let sessions = all_sessions();
    let mut names = HashSet::new();
    for s in &sessions {
        assert!(names.insert(s.name.clone()), "duplicate session {}", s.name);
    }
    assert!(sessions.len() >= 45, "only {} sessions", sessions.len());
    for (s, n) in sessions.iter().zip(NAMES) {
        assert_eq!(&s.name, n, "session name must match its function");
    }
    let run = run(Impl::Canopy);
    assert_eq!(run.results.len(), sessions.len());
    eprintln!(
        "{} sessions, {} vs {}, {:.1}s",
        sessions.len(),
        run.sides.0,
        run.sides.1,
        run.elapsed.as_secs_f64()
    );
}
