// sockref watch: draws the server's socket calls as they arrive from
// /events (Server-Sent Events; each message is one --trace=json line).
// Everything a stranger sent is put into the page as text, never as HTML.
"use strict";

// The page's own bounds, so that a long lesson stays usable.
const SHOW_CLOSED = 8;    // closed lanes shown before older ones fold away
const LANE_CALLS = 8;     // calls shown in a lane's row (all kept ones on click)
const KEEP_CALLS = 400;   // calls kept per connection for its detail list
const KEEP_LANES = 500;   // connections kept at all (the oldest folded are forgotten)
const KEEP_DGRAMS = 12;   // datagram arrows shown
const KEEP_PEERS = 30;    // UDP peers listed
const KEEP_NOTES = 5;     // listener events (accept() errors) shown
const PAUSE_MAX = 5000;   // events held while paused; more are lost, and shown as a gap

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

const lanes = new Map(); // conn -> lane
const peers = new Map(); // UDP peer -> {in, out, row}
let folded = 0;
let forgotten = 0;
let lostTotal = 0;
let paused = false;
let held = [];
let heldLost = 0;
let selected = null;

// ---- the stream ------------------------------------------------------------

// With ?once the page shows a snapshot (what the server kept, then the
// counters) and closes the stream: a headless browser's
// --virtual-time-budget only runs out once no request is open.
const ONCE = new URLSearchParams(location.search).has("once");

function connect() {
  const source = new EventSource(ONCE ? "/events?once" : "/events");
  source.addEventListener("end", () => {
    source.close();
    status("down", "snapshot: reload without ?once to watch live");
  });
  source.onopen = () => status("live", "live");
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      status("down", "not watching: refused (too many pages open?); reload to try again");
    } else {
      status("down", "reconnecting…");
    }
  };
  source.onmessage = (m) => take({ ev: JSON.parse(m.data) });
  // The server was restarted: its numbers start again, so start afresh.
  source.addEventListener("reload", () => location.reload());
  source.addEventListener("gap", (m) => take({ lost: JSON.parse(m.data).lost }));
  source.addEventListener("counters", (m) => counters(JSON.parse(m.data)));
}

function status(cls, text) {
  const s = $("status");
  s.className = cls;
  s.textContent = text;
}

function take(item) {
  if (!paused) return apply(item);
  if (held.length < PAUSE_MAX) held.push(item);
  else heldLost += 1;
  pauseLabel();
}

function apply(item) {
  if (item.lost !== undefined) gap(item.lost);
  else event(item.ev);
}

function event(ev) {
  switch (ev.event) {
    case "listen": return socket(ev);
    case "accept": lane(ev.conn, ev.peer, ev.worker, ev.ts_us); return call(ev);
    case "read": case "write": case "shutdown": case "reject": case "panic": return call(ev);
    case "error": return ev.conn ? call(ev) : note(ev);
    case "close": call(ev); return closed(ev.conn);
    case "recvfrom": case "sendto": case "drop": return datagram(ev);
    case "accept_error": case "accept_recovered": return note(ev);
  }
}

// ---- what each call looks like ---------------------------------------------

// [class, text, preview or undefined]
function look(ev) {
  const us = (n) => (n / 1000).toFixed(1) + " ms";
  switch (ev.event) {
    case "accept": return ["accept", "accept()"];
    case "read":
      if (ev.bytes === 0) return ["fin", "read() = 0 · FIN"];
      return ["read", "read() = " + ev.bytes, preview(ev)];
    case "write": return ["write", "write() = " + ev.bytes, preview(ev)];
    case "shutdown": return ["shutdown", "shutdown(" + ev.how + ") · FIN"];
    case "error":
      return ["bad", (ev.timeout ? "timeout in " : "error in ") + ev.failed + ": " + ev.error];
    case "reject": return ["bad", "rejected: " + ev.reason];
    case "panic": return ["bad", "panic: " + ev.message];
    case "close": return ["close", "close() · in " + ev.in + " out " + ev.out + " · " + us(ev.duration_us)];
    case "recvfrom": return ["read", "recvfrom() = " + ev.bytes, preview(ev)];
    case "sendto": return ["write", "sendto() = " + ev.bytes, preview(ev)];
    case "drop": return ["bad", "recvfrom() = " + ev.bytes + ", not answered: " + ev.reason, preview(ev)];
    default: return ["note", ev.call + " " + (ev.error || "")];
  }
}

function preview(ev) {
  if (ev.data === undefined) return undefined;
  return "\u201c" + ev.data + (ev.cut ? "\u2026" : "") + "\u201d";
}

function chip(tag, ev) {
  const [cls, text, quoted] = look(ev);
  const c = el(tag, "call " + cls, text);
  if (quoted) c.appendChild(el("q", null, quoted));
  if (ev.layers) c.appendChild(layers(ev.layers));
  return c;
}

// The protocols inside the bytes, one frame a line, each layer a box of
// its own colour: "ws text fin mask len=15 | eio 4 message | sio 2 event
// [...]" reads as a Socket.IO event inside an Engine.IO packet inside a
// WebSocket frame.
function layers(text) {
  const box = el("span", "layers");
  for (const frame of text.split("\n")) {
    const line = el("span", "frame");
    for (const part of frame.split(" | ")) {
      const kind = part.split(" ", 1)[0];
      line.appendChild(el("span", "layer " + (["http", "ws", "eio", "sio"].includes(kind) ? kind : ""), part));
    }
    box.appendChild(line);
  }
  return box;
}

// ---- TCP lanes -------------------------------------------------------------

function lane(conn, peer, worker, ts) {
  let l = lanes.get(conn);
  if (l) return l;
  $("empty").hidden = true;
  l = { conn, peer: peer || "?", worker, t0: ts, calls: [], dropped: 0, open: true, bad: false };
  const node = el("article", "lane open");
  node.id = "conn-" + conn;
  node.dataset.conn = conn;
  node.tabIndex = 0;
  const who = el("header", "who");
  who.appendChild(el("b", "id", "#" + conn));
  who.appendChild(el("span", "peer", l.peer));
  who.appendChild(el("span", "worker", worker === undefined ? "" : "worker " + worker));
  l.state = who.appendChild(el("span", "state", "open"));
  node.appendChild(who);
  l.row = node.appendChild(el("ol", "calls"));
  l.more = null;
  l.node = node;
  node.addEventListener("click", () => show(l));
  node.addEventListener("keydown", (e) => { if (e.key === "Enter") show(l); });
  $("lanes").prepend(node);
  lanes.set(conn, l);
  if (location.hash === "#" + node.id) show(l);
  forget();
  return l;
}

function call(ev) {
  const l = lanes.get(ev.conn) || lane(ev.conn, ev.peer, undefined, ev.ts_us);
  if (l.calls.length >= KEEP_CALLS) { l.calls.shift(); l.dropped += 1; }
  l.calls.push(ev);
  if (look(ev)[0] === "bad") { l.bad = true; l.node.classList.add("bad"); }
  if (l.row) {
    l.row.appendChild(chip("li", ev));
    trim(l);
  }
  if (selected === l) show(l);
}

// Keep a lane's row short: older calls collapse into "+N earlier".
function trim(l) {
  const calls = l.row.querySelectorAll("li.call:not(.more)");
  let extra = calls.length - LANE_CALLS;
  if (extra <= 0) return;
  if (!l.more) {
    l.more = el("li", "call more");
    l.more.n = 0;
    l.row.prepend(l.more);
  }
  for (let i = 0; i < extra; i++) calls[i].remove();
  l.more.n += extra;
  l.more.textContent = "+" + l.more.n + " earlier";
}

// Open lanes stay on top; a lane that closes moves below them, among the
// closed ones newest (by accept()) first, as the heading says, so a long
// session is not pushed off the screen.
function closed(conn) {
  const l = lanes.get(conn);
  if (!l || !l.open) return;
  if (l.row) $("lanes").insertBefore(l.node, olderThan("#lanes article.lane.closed", conn));
  l.open = false;
  l.node.classList.replace("open", "closed");
  l.state.textContent = "closed";
  if (selected === l) show(l);
  fold();
}

// The first of `selector`'s elements accepted before `conn` (null: none,
// which inserts at the end).
function olderThan(selector, conn) {
  for (const node of document.querySelectorAll(selector)) {
    if (Number(node.dataset.conn) < conn) return node;
  }
  return null;
}

// Old closed lanes fold into one line each under "N earlier connections".
function fold() {
  const shut = [...$("lanes").querySelectorAll("article.lane.closed")];
  for (const node of shut.slice(SHOW_CLOSED)) {
    const l = lanes.get(Number(node.dataset.conn));
    node.remove();
    l.row = null;
    const line = el("li", "folded" + (l.bad ? " bad" : ""));
    line.dataset.conn = l.conn;
    line.appendChild(el("b", "id", "#" + l.conn));
    const end = l.calls[l.calls.length - 1];
    line.appendChild(el("span", null, " " + l.peer + " · " + (l.calls.length + l.dropped) + " calls · " +
      (end && end.event === "close" ? look(end)[1] : "")));
    line.addEventListener("click", () => show(l));
    l.node = line;
    $("folded-lanes").insertBefore(line, olderThan("#folded-lanes li.folded", l.conn));
    folded += 1;
  }
  foldLabel();
}

function foldLabel() {
  const f = $("folded");
  f.hidden = folded === 0;
  $("folded-summary").textContent = folded + " earlier closed connection" + (folded === 1 ? "" : "s") +
    (forgotten ? " (and " + forgotten + " forgotten)" : "") + ": click to list";
}

// The page keeps KEEP_LANES connections at most: the oldest folded go.
function forget() {
  while (lanes.size > KEEP_LANES) {
    const list = $("folded-lanes");
    const last = list.lastElementChild;
    if (!last) return;
    for (const [conn, l] of lanes) {
      if (l.node === last) { lanes.delete(conn); break; }
    }
    last.remove();
    folded -= 1;
    forgotten += 1;
    foldLabel();
  }
}

// ---- a lane's full list ----------------------------------------------------

function show(l) {
  selected = l;
  $("detail").hidden = false;
  $("detail-title").textContent = "#" + l.conn + " " + l.peer +
    (l.worker === undefined ? "" : " · worker " + l.worker) + (l.open ? " · open" : " · closed");
  const list = $("detail-calls");
  list.replaceChildren();
  if (l.dropped) list.appendChild(el("li", "call more", l.dropped + " earlier calls not kept"));
  for (const ev of l.calls) {
    const item = chip("li", ev);
    const ms = l.t0 ? ((ev.ts_us - l.t0) / 1000).toFixed(1) : "?";
    item.prepend(el("span", "at", "+" + ms + " ms "));
    list.appendChild(item);
  }
}

$("detail-close").addEventListener("click", () => { selected = null; $("detail").hidden = true; });

// ---- UDP -------------------------------------------------------------------

function socket(ev) {
  const text = ev.proto + " " + ev.addr + (ev.backlog ? " · backlog " + ev.backlog : "");
  const s = el("span", "socket " + ev.proto, text);
  $("sockets").appendChild(s);
  if (ev.proto === "udp" || ev.proto === "unixgram") {
    $("udp-socket").textContent = "one socket: " + ev.proto + " " + ev.addr;
    udpSeen();
  }
}

// A server without a datagram socket gives the lanes the whole width.
function udpSeen() {
  document.querySelector("main").classList.remove("no-udp");
}

function datagram(ev) {
  udpSeen();
  // Until the first datagram, neither the peers nor the lifeline: an empty
  // list would draw a bare line and box.
  $("udp-empty").hidden = true;
  $("peers").hidden = false;
  $("datagrams").hidden = false;
  let p = peers.get(ev.peer);
  if (!p) {
    p = { in: 0, out: 0, row: el("li", "peer") };
    peers.set(ev.peer, p);
    $("peers").prepend(p.row);
    if (peers.size > KEEP_PEERS) {
      const [old] = peers.keys();
      peers.get(old).row.remove();
      peers.delete(old);
    }
  }
  if (ev.event === "sendto") p.out += 1; else p.in += 1;
  p.row.textContent = ev.peer + " · " + p.in + " in, " + p.out + " out";
  const row = el("li", "dgram " + (ev.event === "sendto" ? "out" : "in") + (ev.event === "drop" ? " bad" : ""));
  row.appendChild(el("span", "peer", ev.peer));
  const arrow = el("span", "arrow");
  arrow.appendChild(chip("span", ev));
  // The arrow ends on the list's right edge: the one socket's lifeline,
  // headed by #udp-socket, so that every datagram visibly meets the same
  // socket (no accept(), no socket per peer).
  row.appendChild(arrow);
  // Time runs down the page, as in the textbook's figure.
  const list = $("datagrams");
  list.appendChild(row);
  while (list.children.length > KEEP_DGRAMS) list.firstElementChild.remove();
}

// ---- the rest --------------------------------------------------------------

function note(ev) {
  const list = $("notes");
  list.prepend(chip("li", ev));
  while (list.children.length > KEEP_NOTES) list.lastElementChild.remove();
}

function gap(lost) {
  lostTotal += lost;
  const g = $("gap");
  g.hidden = false;
  g.textContent = "This page fell behind: " + lostTotal +
    " events lost (the server never waits for a page). Lanes may miss calls.";
  for (const l of lanes.values()) {
    if (l.open && l.row) {
      l.row.appendChild(el("li", "call gap", "\u22ef " + lost + " lost"));
      trim(l);
    }
  }
}

// [key, label, label for exactly 1 if it differs]
const COUNTERS = [
  ["active", "open"], ["accepted", "accepted"], ["closed", "closed"],
  ["rejected", "rejected"], ["timeouts", "timeouts", "timeout"], ["errors", "errors", "error"],
  ["bytes_in", "bytes in", "byte in"], ["bytes_out", "bytes out", "byte out"],
  ["datagrams_in", "datagrams in", "datagram in"], ["datagrams_out", "datagrams out", "datagram out"],
  ["dropped_datagrams", "dropped"], ["viewers", "pages watching", "page watching"],
  ["lost", "lost here"],
];

function counters(c) {
  const box = $("counters");
  if (!box.firstChild) {
    for (const [key, label] of COUNTERS) {
      const tile = el("div", "counter");
      tile.id = "c-" + key;
      tile.appendChild(el("b", null, "0"));
      tile.appendChild(el("span", null, label));
      box.appendChild(tile);
    }
  }
  for (const [key, many, one] of COUNTERS) {
    const tile = $("c-" + key);
    const v = c[key] || 0;
    tile.firstChild.textContent = v;
    tile.lastChild.textContent = v === 1 && one ? one : many;
    const alarm = ["rejected", "timeouts", "errors", "dropped_datagrams", "lost"].includes(key);
    tile.classList.toggle("bad", alarm && v > 0);
    // Only a page that fell behind needs to say how much it lost.
    if (key === "lost") tile.hidden = v === 0;
  }
}

function pauseLabel() {
  $("pause").textContent = paused ? "Resume (" + (held.length + heldLost) + " waiting)" : "Pause";
}

$("pause").addEventListener("click", () => {
  paused = !paused;
  document.body.classList.toggle("paused", paused);
  if (!paused) {
    const items = held;
    held = [];
    items.forEach(apply);
    if (heldLost) gap(heldLost);
    heldLost = 0;
  }
  pauseLabel();
});

connect();
