"""nats-py against a running canopy: pub/sub with headers, queue request/reply, no responders."""
import asyncio
import sys

import nats
from nats.errors import NoRespondersError


async def main(url):
    nc = await nats.connect(url, max_reconnect_attempts=0)
    got = []

    async def on_msg(m):
        got.append((m.subject, m.data, m.headers))

    await nc.subscribe("foo.*", cb=on_msg)

    async def respond(m):
        await m.respond(b"pong:" + m.data)

    for _ in range(3):
        await nc.subscribe("svc", cb=respond, queue="q")
    await nc.publish("foo.bar", b"hello", headers={"A": "b"})
    replies = [await nc.request("svc", str(i).encode(), timeout=2) for i in range(20)]
    await nc.flush()
    await asyncio.sleep(0.1)
    assert got == [("foo.bar", b"hello", {"A": "b"})], got
    assert [r.data for r in replies] == [b"pong:%d" % i for i in range(20)]
    try:
        await nc.request("nobody", b"x", timeout=2)
        raise AssertionError("expected no responders")
    except NoRespondersError:
        pass
    await nc.drain()
    print("nats-py smoke ok")


asyncio.run(main(sys.argv[1]))
