"""python-socketio's client against `sockref serve --service socketio`,
for tests/socketio.rs. Usage: python3 socketio_client.py PORT PING_TIMEOUT_S

Prints one line per step that worked and exits 0; a failure prints FAIL and
why, and exits 1. Every wait is bounded.
"""
import sys
import threading
import time

import socketio

port, ping_timeout = sys.argv[1], float(sys.argv[2])
url = f"http://127.0.0.1:{port}"


def fail(why):
    print(f"FAIL {why}", flush=True)
    sys.exit(1)


# The polling transport is refused: the client cannot connect with it.
polling = socketio.Client(reconnection=False)
try:
    polling.connect(url, transports=["polling"], wait_timeout=5)
    fail("polling connected")
except socketio.exceptions.ConnectionError as e:
    print(f"polling refused: {e}", flush=True)

a = socketio.Client(reconnection=False)
b = socketio.Client(reconnection=False)
heard = []
got = threading.Event()
echoed = []
echo_got = threading.Event()


@b.on("chat")
def on_chat(*args):
    heard.append(args)
    got.set()


@a.on("echo")
def on_echo(*args):
    echoed.append(args)
    echo_got.set()


a.connect(url, transports=["websocket"], wait_timeout=5)
b.connect(url, transports=["websocket"], wait_timeout=5)
if not a.sid or a.sid == b.sid:
    fail(f"sids {a.sid} {b.sid}")
print("connected two", flush=True)

ack = a.call("chat", {"n": 1}, timeout=5)
if not got.wait(5) or heard != [({"n": 1},)]:
    fail(f"b heard {heard}")
if ack != {"n": 1}:
    fail(f"ack {ack!r}")
print("ack and broadcast", flush=True)

a.emit("echo", ("back", 2))
if not echo_got.wait(5) or echoed != [("back", 2)]:
    fail(f"echo {echoed}")
if len(heard) != 1:
    fail("b heard the echo")
print("echo", flush=True)

# Stay connected for over two ping timeouts: the client answers pings.
time.sleep(ping_timeout * 2 + 0.2)
if not a.connected or not b.connected:
    fail("lost the connection while answering pings")
if a.call("echo", "still", timeout=5) != "still":
    fail("no ack after the heartbeat wait")
print("heartbeat kept", flush=True)

a.disconnect()
b.disconnect()
print("disconnected", flush=True)
