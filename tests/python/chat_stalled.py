"""A chat member that stops reading, for tests/chat.rs.
Usage: python3 chat_stalled.py PORT MESSAGES

A raw-socket member (a small receive buffer) joins and never reads; two
`websockets` members stay: one sends MESSAGES messages of 60,000 bytes,
far more than the stalled member's socket buffers hold, and the other must
get them all. Then the stalled member reads what it was sent: a bounded
prefix of the messages, then the end of the connection (it was cut).
Prints one line per check and exits 0, or FAIL and why with exit 1.
"""
import asyncio
import base64
import os
import socket
import sys
import time

import websockets

port, m = int(sys.argv[1]), int(sys.argv[2])
SIZE = 60_000


def fail(why):
    print(f"FAIL {why}", flush=True)
    sys.exit(1)


def stalled_member():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            "GET /room/stall HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        b = s.recv(1)
        if not b:
            fail("stalled member: no 101")
        head += b
    if not head.startswith(b"HTTP/1.1 101"):
        fail(f"stalled member: {head!r}")
    # A masked ping (mask 0: the payload stays as is); its pong proves the
    # member has joined (the 101 goes out before the join).
    s.sendall(bytes([0x89, 0x80 | 2, 0, 0, 0, 0]) + b"in")
    pong = b""
    while len(pong) < 4:
        pong += s.recv(4 - len(pong))
    if pong != b"\x8a\x02in":
        fail(f"stalled member: no pong: {pong!r}")
    return s


def frames(data):
    """Whole server frames in data: [(opcode, payload)], and the bytes left."""
    out, i = [], 0
    while i + 2 <= len(data):
        n, h = data[i + 1] & 0x7F, 2
        if n == 126:
            if i + 4 > len(data):
                break
            n, h = int.from_bytes(data[i + 2 : i + 4], "big"), 4
        elif n == 127:
            if i + 10 > len(data):
                break
            n, h = int.from_bytes(data[i + 2 : i + 10], "big"), 10
        if i + h + n > len(data):
            break
        out.append((data[i] & 0x0F, data[i + h : i + h + n]))
        i += h + n
    return out, len(data) - i


async def main():
    stalled = stalled_member()
    sender = await websockets.connect(f"ws://127.0.0.1:{port}/room/stall")
    receiver = await websockets.connect(f"ws://127.0.0.1:{port}/room/stall", max_size=1 << 20)
    got = []

    async def read():
        while len(got) < m:
            got.append(await receiver.recv())

    for ws in (sender, receiver):
        await asyncio.wait_for(await ws.ping(), 5)
    task = asyncio.create_task(read())
    started = time.monotonic()
    for k in range(m):
        await sender.send(f"{k:08d}".encode() + b"z" * (SIZE - 8))
    await asyncio.wait_for(task, 60)
    took = time.monotonic() - started
    if [int(g[:8]) for g in got] != list(range(m)):
        fail("the reading member missed or reordered messages")
    print(f"the reading member got all {m} messages ({m * SIZE >> 20} MiB) in {took:.1f} s", flush=True)

    # Now read what the stalled member was sent, to the end.
    data = b""
    while True:
        try:
            b = stalled.recv(1 << 16)
        except (ConnectionResetError, socket.timeout) as e:
            if isinstance(e, socket.timeout):
                fail(f"stalled member: not cut, still open after {len(data)} bytes")
            break
        if not b:
            break
        data += b
    whole, partial = frames(data)
    texts = [p for op, p in whole if op in (1, 2)]
    closes = [int.from_bytes(p[:2], "big") for op, p in whole if op == 8]
    if len(texts) >= m:
        fail(f"stalled member got all {len(texts)} messages: it was never cut")
    if [int(t[:8]) for t in texts] != list(range(len(texts))):
        fail("stalled member: its prefix is not in order")
    print(f"stalled member cut after {len(texts)} of {m} messages, then end of connection "
          f"(close codes seen: {closes}, {partial} bytes of a cut frame)", flush=True)
    await sender.close()
    await receiver.close()


asyncio.run(main())
