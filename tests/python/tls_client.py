#!/usr/bin/env python3
"""nats-py over TLS against a server the Rust test started (tests/tests/tls_client.rs).

    tls_client.py URL CA [--cert CERT --key KEY] [--handshake-first] [--expect-failure]

Connects to URL with an ssl.SSLContext trusting only CA (and presenting
CERT/KEY when given), then checks pub/sub and request/reply round trips,
every count exact. With --expect-failure the connection must be refused
instead; the error is printed. Exits non-zero on any failed check.
"""

import argparse
import asyncio
import ssl
import sys

try:
    import nats
except ImportError as e:  # pragma: no cover - provisioning problem
    sys.stderr.write(f"nats-py is not installed ({e}); run `bash scripts/provision.sh`\n")
    sys.exit(2)

WAIT = 5


def context(args):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.ca)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    return ctx


async def connect(args):
    return await nats.connect(
        args.url,
        tls=context(args),
        tls_handshake_first=args.handshake_first,
        allow_reconnect=False,
        max_reconnect_attempts=0,
        connect_timeout=WAIT,
    )


async def round_trips(args):
    nc = await connect(args)
    assert nc.connected_url is not None
    assert nc._server_info.get("tls_required") is True, nc._server_info
    sub = await nc.subscribe("py.tls.>")
    await nc.flush()
    for i in range(10):
        await nc.publish(f"py.tls.{i}", f"m{i}".encode())
    got = []
    for _ in range(10):
        m = await sub.next_msg(timeout=WAIT)
        got.append((m.subject, m.data.decode()))
    assert got == [(f"py.tls.{i}", f"m{i}") for i in range(10)], got
    await nc.flush()
    assert sub.pending_msgs == 0, sub.pending_msgs

    async def answer(msg):
        await msg.respond(b"re:" + msg.data)

    await nc.subscribe("py.svc", cb=answer)
    await nc.flush()
    for i in range(5):
        r = await nc.request("py.svc", f"q{i}".encode(), timeout=WAIT)
        assert r.data == f"re:q{i}".encode(), r.data
    big = bytes(range(256)) * 1024
    r = await nc.request("py.svc", big, timeout=WAIT)
    assert r.data == b"re:" + big, len(r.data)
    await nc.drain()
    print("tls round trips ok")


async def refused(args):
    try:
        nc = await asyncio.wait_for(connect(args), WAIT * 2)
    except Exception as e:  # noqa: BLE001 - any refusal is the expected outcome
        print(f"refused as expected: {type(e).__name__}: {e}")
        return
    # A server that completes the handshake but refuses later closes the
    # connection: a round trip must then fail.
    try:
        await nc.flush(timeout=WAIT)
    except Exception as e:  # noqa: BLE001
        print(f"refused after connect as expected: {type(e).__name__}: {e}")
        return
    await nc.close()
    raise AssertionError("the connection was expected to be refused, but it works")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--handshake-first", action="store_true")
    p.add_argument("--expect-failure", action="store_true")
    args = p.parse_args()
    asyncio.run(refused(args) if args.expect_failure else round_trips(args))


if __name__ == "__main__":
    main()
