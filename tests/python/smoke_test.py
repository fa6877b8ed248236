#!/usr/bin/env python3
"""nats-py smoke test against a server this script starts itself.

The server binary comes from $CANOPY_BIN (tests/tests/nats_py.rs sets it to
the canopy binary, or to nats-server to check this script). It is started as
`BIN -a 127.0.0.1 -p -1` (the server picks a free port) and must log
`Listening for client connections on 127.0.0.1:PORT`, which gives the port.

Run directly (`python3 tests/python/smoke_test.py`) or with pytest; every
check is an assert, and any failure exits non-zero.
"""

import asyncio
import os
import re
import subprocess
import sys
import threading
import time

try:
    import nats
    from nats.errors import NoRespondersError
except ImportError as e:  # pragma: no cover - provisioning problem
    sys.stderr.write(
        f"nats-py is not installed ({e}); run `bash scripts/provision.sh`\n"
    )
    sys.exit(2)


class Server:
    """The server under test on a free loopback port; stopped by close()."""

    def __init__(self, extra_args=()):
        binary = os.environ.get("CANOPY_BIN")
        if not binary:
            raise SystemExit("CANOPY_BIN is not set (the server binary to test)")
        if not os.path.isfile(binary):
            raise SystemExit(f"CANOPY_BIN={binary} does not exist")
        self.port = None
        self.lines = []
        self.ready = threading.Event()
        listening = re.compile(r"Listening for client connections on 127\.0\.0\.1:(\d+)")
        self.proc = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", "-1", *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def pump():
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                m = listening.search(line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    self.ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not self.ready.wait(15):
            self.close()
            raise AssertionError(
                f"{binary} did not log its client port; log:\n" + "\n".join(self.lines)
            )
        self.url = f"nats://127.0.0.1:{self.port}"

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


async def check_pub_sub(url):
    nc = await nats.connect(url, allow_reconnect=False)
    assert nc.max_payload == 1024 * 1024, nc.max_payload
    sub = await nc.subscribe("smoke.>")
    await nc.flush()
    for i in range(10):
        await nc.publish(f"smoke.{i}", f"m{i}".encode())
    await nc.publish("other", b"no")
    await nc.flush()
    for i in range(10):
        msg = await sub.next_msg(timeout=5)
        assert msg.subject == f"smoke.{i}", msg.subject
        assert msg.data == f"m{i}".encode(), msg.data
    try:
        extra = await sub.next_msg(timeout=0.2)
    except nats.errors.TimeoutError:
        extra = None
    assert extra is None, f"unexpected message {extra}"
    await nc.close()


async def check_request_reply(url):
    responder = await nats.connect(url, allow_reconnect=False)

    async def handler(msg):
        await responder.publish(msg.reply, msg.data.upper())

    await responder.subscribe("smoke.svc", cb=handler)
    await responder.flush()
    nc = await nats.connect(url, allow_reconnect=False)
    for i in range(5):
        resp = await nc.request("smoke.svc", f"hi {i}".encode(), timeout=5)
        assert resp.data == f"HI {i}".encode(), resp.data
    try:
        await nc.request("smoke.nobody", b"?", timeout=5)
        raise AssertionError("request without responders succeeded")
    except NoRespondersError:
        pass
    await nc.close()
    await responder.close()


async def check_headers(url):
    nc = await nats.connect(url, allow_reconnect=False)
    sub = await nc.subscribe("smoke.hdr")
    await nc.flush()
    await nc.publish("smoke.hdr", b"body", headers={"X-One": "1", "X-Two": "two"})
    await nc.flush()
    msg = await sub.next_msg(timeout=5)
    assert msg.data == b"body", msg.data
    assert msg.headers == {"X-One": "1", "X-Two": "two"}, msg.headers
    await nc.close()


async def check_queue(url):
    members = []
    counts = [0, 0, 0]
    seen = []
    for i in range(3):
        c = await nats.connect(url, allow_reconnect=False)

        def make(idx):
            async def cb(msg):
                counts[idx] += 1
                seen.append(int(msg.data))

            return cb

        await c.subscribe("smoke.q", queue="workers", cb=make(i))
        await c.flush()
        members.append(c)
    pub = await nats.connect(url, allow_reconnect=False)
    n = 300
    for i in range(n):
        await pub.publish("smoke.q", str(i).encode())
    await pub.flush()
    deadline = time.monotonic() + 5
    while len(seen) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    for c in members:
        await c.flush()
    await asyncio.sleep(0.1)
    assert sorted(seen) == list(range(n)), f"{len(seen)} deliveries, counts {counts}"
    assert sum(1 for x in counts if x > 0) >= 2, f"not spread: {counts}"
    for c in members:
        await c.close()
    await pub.close()


CHECKS = [check_pub_sub, check_request_reply, check_headers, check_queue]


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_varz(http_port, timeout=10):
    """nats.py's own test harness waits like this: GET /varz until 200."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/varz", timeout=2) as r:
                assert r.status == 200, r.status
                import json

                varz = json.loads(r.read())
                assert varz["http_port"] == http_port, varz["http_port"]
                return varz
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"/varz on {http_port} never answered 200")
            time.sleep(0.05)


def run_all():
    http_port = free_port()
    server = Server(("-m", str(http_port)))
    try:
        varz = wait_for_varz(http_port)
        print(f"ok varz readiness (server {varz['server_id'][:8]}...)")
        for check in CHECKS:
            started = time.monotonic()
            asyncio.run(asyncio.wait_for(check(server.url), 30))
            print(f"ok {check.__name__} ({time.monotonic() - started:.2f}s)")
    finally:
        server.close()


def test_smoke():
    """pytest entry point."""
    run_all()


if __name__ == "__main__":
    try:
        run_all()
    except AssertionError as e:
        sys.stderr.write(f"FAILED: {e!r}\n")
        sys.exit(1)
    print("nats-py smoke test passed")
