// The official Socket.IO client against `sockref serve --service socketio`,
// for tests/socketio.rs. Usage: node socketio_client.js PORT PING_TIMEOUT_MS
//
// Prints one line per step that worked and exits 0; any failure (or the
// overall limit) prints why and exits 1. Every wait is bounded.
"use strict";
const { io } = require("socket.io-client");

const port = process.argv[2];
const pingTimeout = Number(process.argv[3]);
const url = `http://127.0.0.1:${port}`;
const opts = { transports: ["websocket"], reconnection: false, timeout: 5000, forceNew: true };

const limit = setTimeout(() => fail("took over 20 s"), 20000);
function fail(why) {
  console.log(`FAIL ${why}`);
  process.exit(1);
}
function once(emitter, event, ms) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

async function main() {
  // The long-polling transport, the client's default first step, is refused.
  const polling = io(url, { transports: ["polling"], reconnection: false, timeout: 5000, forceNew: true });
  const [err] = await once(polling, "connect_error", 5000);
  polling.close();
  if (err.description !== 400) fail(`polling: ${err.message} ${err.description}`);
  console.log(`polling refused: ${err.message} (HTTP ${err.description})`);

  const a = io(url, opts);
  const b = io(url, opts);
  await Promise.all([once(a, "connect", 5000), once(b, "connect", 5000)]);
  if (!a.id || !b.id || a.id === b.id) fail(`ids ${a.id} ${b.id}`);
  console.log("connected two");

  // An event with an ack: the other client hears it, the sender gets its
  // arguments back as the ack.
  const heard = once(b, "chat", 5000);
  const ack = await a.timeout(5000).emitWithAck("chat", "hi", { n: 1 });
  const [text, obj] = await heard;
  if (text !== "hi" || obj.n !== 1) fail(`b heard ${JSON.stringify([text, obj])}`);
  if (JSON.stringify(ack) !== '"hi"') fail(`ack ${JSON.stringify(ack)}`);
  console.log("ack and broadcast");

  // echo comes back to its sender only.
  const echoed = once(a, "echo", 5000);
  a.emit("echo", "back", 2);
  const echo = await echoed;
  if (JSON.stringify(echo) !== '["back",2]') fail(`echo ${JSON.stringify(echo)}`);
  console.log("echo");

  // The heartbeat: stay connected for over two ping timeouts, answering
  // the server's pings (the manager emits "ping" for each).
  let pings = 0;
  a.io.on("ping", () => pings++);
  await new Promise((r) => setTimeout(r, pingTimeout * 2 + 200));
  if (!a.connected) fail("a lost its connection while answering pings");
  if (pings < 1) fail(`no ping in ${pingTimeout * 2 + 200} ms`);
  console.log(`heartbeat kept (pings: ${pings >= 2 ? "2+" : pings})`);

  // An unknown namespace is refused with CONNECT_ERROR.
  const admin = io(`${url}/admin`, opts);
  const [nsErr] = await once(admin, "connect_error", 5000);
  admin.close();
  console.log(`namespace refused: ${nsErr.message}`);

  // Disconnect: b sees the client leave; a's events no longer reach it.
  const gone = once(a, "disconnect", 5000);
  a.disconnect();
  const [reason] = await gone;
  b.disconnect();
  console.log(`disconnected: ${reason}`);
  clearTimeout(limit);
}

main().catch((e) => fail(e.message));
