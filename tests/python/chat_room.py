"""Python `websockets` clients in one chat room, for tests/chat.rs.
Usage: python3 chat_room.py PORT CLIENTS MESSAGES

Every client sends MESSAGES numbered messages; each must receive exactly
the others' messages, in order per sender, and none of its own. A
member that joins, then leaves without a close mid-broadcast, and a member
that sends a message over the limit (closed with 1009), break nothing.
Prints one line per check and exits 0, or FAIL and why with exit 1.
"""
import asyncio
import sys

import websockets

port, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
url = f"ws://127.0.0.1:{port}/room/lab"


def fail(why):
    print(f"FAIL {why}", flush=True)
    sys.exit(1)


async def member(i, ws, ready, go):
    want = (n - 1) * m
    got = []

    async def reader():
        while len(got) < want:
            got.append(await ws.recv())

    task = asyncio.create_task(reader())
    ready.set()
    await go.wait()
    for k in range(m):
        await ws.send(f"c{i}:{k}:" + "x" * (k * 37 % 500))
    await asyncio.wait_for(task, 30)
    return got


async def main():
    clients = [await websockets.connect(url, max_size=1 << 20) for _ in range(n)]
    # A member that will leave abruptly (no close frame) while others send.
    leaver = await websockets.connect(url)
    # Another room: hears nothing of this one.
    other = await websockets.connect(f"ws://127.0.0.1:{port}/room/elsewhere")
    # The 101 goes out before the join; a pong comes after it.
    for ws in clients + [leaver, other]:
        await asyncio.wait_for(await ws.ping(), 5)
    go = asyncio.Event()
    readies = [asyncio.Event() for _ in range(n)]
    tasks = [asyncio.create_task(member(i, ws, readies[i], go)) for i, ws in enumerate(clients)]
    for r in readies:
        await r.wait()
    go.set()
    await asyncio.sleep(0)
    leaver.transport.abort()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 60)
    for i, got in enumerate(results):
        if any(s.startswith(f"c{i}:") for s in got):
            fail(f"client {i} got its own message back")
        for j in range(n):
            if j == i:
                continue
            seq = [int(s.split(":")[1]) for s in got if s.startswith(f"c{j}:")]
            if seq != list(range(m)):
                fail(f"client {i} got from {j}: {seq[:10]}... ({len(seq)})")
    print(f"{n} clients x {m} messages: each got exactly the others', in order", flush=True)
    try:
        msg = await asyncio.wait_for(other.recv(), 0.2)
        fail(f"the other room heard {msg!r}")
    except asyncio.TimeoutError:
        print("other room heard nothing", flush=True)

    # Over the limit: closed with 1009; the room goes on.
    big = clients[0]
    await big.send("y" * (64 * 1024 + 1))
    try:
        await asyncio.wait_for(big.recv(), 5)
        fail("no close after an oversized message")
    except websockets.exceptions.ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd else None
        if code != 1009:
            fail(f"oversized message: close {code}")
    print("oversized message: 1009", flush=True)
    await clients[1].send("after")
    if await asyncio.wait_for(clients[2].recv(), 5) != "after":
        fail("the room stopped after the oversized message")
    print("room goes on", flush=True)
    for ws in clients[1:] + [other]:
        await ws.close()
        if ws.close_code != 1000:
            fail(f"close code {ws.close_code}")
    print("closed 1000", flush=True)


asyncio.run(main())
