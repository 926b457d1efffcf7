//! From trace records to the figure: which calls each side made, in an
//! order that respects cause and effect, and the segments between them.
//!
//! Two traces never share a clock the diagram can trust: each line's
//! `ts_us` is taken when the line is written, after the call returned, so
//! a server's `read()` can carry an earlier stamp than the client's
//! `write()` that it read. The order is therefore causal first: a `read()`
//! comes after the `write()` that sent its last byte, `read() = 0` after
//! the peer's FIN, `accept()` after `connect()`, a `recvfrom()` after its
//! `sendto()`; the stamps only break ties between calls that do not
//! depend on each other.
//!
//! What it does not do: draw; `text`, `mermaid` and `svg` do.

use std::collections::HashMap;

use super::jsonl::Record;
use super::{DiagramError, Limits};

/// A column of the figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The left column: the client.
    Client,
    /// The right column: the server.
    Server,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// One call, a box in its column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Whose call.
    pub side: Side,
    /// The call and its result first (`read() = 5`), details after.
    pub lines: Vec<String>,
    /// Not in any trace: implied by the other side's calls.
    pub inferred: bool,
    /// An error, timeout, panic, refusal or drop: drawn to stand out.
    pub alert: bool,
}

/// One step of the figure, top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    /// A call in one column.
    Call(Call),
    /// What crossed the network, from one column to the other.
    Arrow {
        /// The sending side.
        from: Side,
        /// `SYN`, `5 bytes`, `FIN`, ...
        label: String,
        /// A TCP control segment the kernel sends (SYN, ACK, FIN), not data.
        control: bool,
    },
    /// Calls left out to keep the figure readable, summed up.
    Fold(String),
}

/// A part of the figure: the setup, one connection, one UDP peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// What it shows, e.g. `connection 1: client 127.0.0.1:45896, worker 0`.
    pub heading: String,
    /// Its steps in order.
    pub rows: Vec<Row>,
}

/// The whole figure, ready for any of the renderers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagram {
    /// What the server was, e.g. `server tcp 127.0.0.1:4000`.
    pub title: String,
    /// Said before the figure: where the client column comes from.
    pub notes: Vec<String>,
    /// Setup, then each connection or peer in turn, then other calls.
    pub sections: Vec<Section>,
    /// Said after the figure: what was left out.
    pub footnotes: Vec<String>,
}

impl Diagram {
    /// Every call box of the figure, in order.
    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.sections.iter().flat_map(|s| &s.rows).filter_map(|r| match r {
            Row::Call(c) => Some(c),
            _ => None,
        })
    }
}

/// What a trace line says, with what the figure needs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Listen {
        proto: String,
        addr: String,
        backlog: Option<u64>,
    },
    Connect {
        local: String,
    },
    Accept {
        conn: u64,
        peer: String,
        worker: Option<u64>,
    },
    Read(u64),
    Write(u64),
    Shutdown,
    Close,
    Error {
        failed: String,
        error: String,
    },
    Panic(String),
    Reject(String),
    RecvFrom {
        peer: String,
        bytes: u64,
    },
    SendTo {
        peer: String,
        bytes: u64,
    },
    Drop {
        peer: String,
        bytes: u64,
        reason: String,
    },
    AcceptError(String),
    AcceptRecovered(u64),
    /// An event this version does not know: drawn by its `call` field.
    Other(String),
    /// Inferred only: the client's FIN, from a `shutdown()` or a `close()`.
    Fin,
}

impl Op {
    /// This call sends a FIN, unless its side has sent one already.
    fn ends_output(&self) -> bool {
        matches!(self, Op::Shutdown | Op::Close | Op::Fin)
    }

    /// The name a fold summary counts it under: the C call, as in its box.
    fn kind(&self) -> &str {
        match self {
            Op::Listen { .. } => "listen()",
            Op::Connect { .. } => "connect()",
            Op::Accept { .. } => "accept()",
            Op::Read(_) => "read()",
            Op::Write(_) => "write()",
            Op::Shutdown => "shutdown()",
            Op::Close => "close()",
            Op::RecvFrom { .. } => "recvfrom()",
            Op::Drop { .. } => "dropped recvfrom()",
            Op::SendTo { .. } => "sendto()",
            Op::Error { .. } => "error",
            Op::Panic(_) => "panic",
            Op::Reject(_) => "refusal",
            Op::AcceptError(_) => "accept() error",
            Op::AcceptRecovered(_) => "accept() recovery",
            Op::Other(call) => call,
            Op::Fin => "shutdown() or close()",
        }
    }

    /// A step the figure is there to show: the handshake, an end of
    /// file, a FIN, the close, a failure. It is drawn even in the folded
    /// middle of a long connection (lab 5 looks for the client's
    /// shutdown() and its FIN there); only the repeated data calls and
    /// drops between such steps fold.
    fn is_landmark(&self) -> bool {
        match self {
            Op::Read(n) => *n == 0,
            Op::Write(_)
            | Op::RecvFrom { .. }
            | Op::SendTo { .. }
            | Op::Drop { .. }
            | Op::Reject(_)
            | Op::AcceptError(_) => false,
            _ => true,
        }
    }
}

#[derive(Clone, Debug)]
struct Ev {
    side: Side,
    op: Op,
    ts: u64,
    conn: Option<u64>,
    inferred: bool,
    line: usize,
}

/// Turns one record into an event, or says which field is missing.
fn ev_of(r: &Record, side: Side, file: &str) -> Result<Ev, DiagramError> {
    let bad =
        |reason: String| DiagramError::BadLine { file: file.to_string(), line: r.line, reason };
    let event =
        r.str("event").ok_or_else(|| bad("not a trace event: no \"event\" field".into()))?;
    let need_str = |key: &str| {
        r.str(key)
            .map(str::to_string)
            .ok_or_else(|| bad(format!("a \"{event}\" event needs a string \"{key}\"")))
    };
    let need_num = |key: &str| {
        r.num(key).ok_or_else(|| bad(format!("a \"{event}\" event needs a number \"{key}\"")))
    };
    let op = match event {
        "listen" => Op::Listen {
            proto: need_str("proto")?,
            addr: need_str("addr")?,
            backlog: r.num("backlog"),
        },
        "connect" => Op::Connect { local: need_str("local")? },
        "accept" => {
            Op::Accept { conn: need_num("conn")?, peer: need_str("peer")?, worker: r.num("worker") }
        }
        "read" => Op::Read(need_num("bytes")?),
        "write" => Op::Write(need_num("bytes")?),
        "shutdown" => Op::Shutdown,
        "close" => Op::Close,
        "error" => Op::Error {
            failed: r.str("failed").unwrap_or("a call").to_string(),
            error: r.str("error").unwrap_or("").to_string(),
        },
        "panic" => Op::Panic(r.str("message").unwrap_or("").to_string()),
        "reject" => Op::Reject(r.str("reason").unwrap_or("busy").to_string()),
        "recvfrom" => Op::RecvFrom { peer: need_str("peer")?, bytes: need_num("bytes")? },
        "sendto" => Op::SendTo { peer: need_str("peer")?, bytes: need_num("bytes")? },
        "drop" => Op::Drop {
            peer: need_str("peer")?,
            bytes: need_num("bytes")?,
            reason: r.str("reason").unwrap_or("").to_string(),
        },
        "accept_error" => Op::AcceptError(r.str("error").unwrap_or("").to_string()),
        "accept_recovered" => Op::AcceptRecovered(r.num("failures").unwrap_or(0)),
        other => Op::Other(r.str("call").unwrap_or(other).to_string()),
    };
    let conn = r.num("conn").filter(|&c| c > 0);
    let needs_conn = matches!(
        op,
        Op::Accept { .. } | Op::Read(_) | Op::Write(_) | Op::Shutdown | Op::Close | Op::Reject(_)
    );
    if needs_conn && conn.is_none() {
        return Err(bad(format!("a \"{event}\" event needs a connection number \"conn\" from 1")));
    }
    Ok(Ev { side, op, ts: r.num("ts_us").unwrap_or(0), conn, inferred: false, line: r.line })
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LaneKey {
    Stream { run: usize, conn: u64 },
    Datagram { run: usize, peer: String },
}

/// The server's calls for one connection or one UDP peer.
struct Lane {
    key: LaneKey,
    peer: String,
    worker: Option<u64>,
    evs: Vec<Ev>,
    first: usize,
    last: usize,
}

/// The server trace, split: setup calls, lanes, and calls of no lane.
struct ServerSide {
    setup: Vec<Ev>,
    lanes: Vec<Lane>,
    other: Vec<Ev>,
}

fn split_server(evs: Vec<Ev>) -> ServerSide {
    let mut side = ServerSide { setup: Vec::new(), lanes: Vec::new(), other: Vec::new() };
    let mut index: HashMap<LaneKey, usize> = HashMap::new();
    // Appended traces of several server runs reuse connection numbers: a
    // `listen` after anything else starts a new run.
    let (mut run, mut seen_other) = (0, false);
    for ev in evs {
        let key = match &ev.op {
            Op::Listen { .. } => {
                if seen_other {
                    run += 1;
                    seen_other = false;
                }
                side.setup.push(ev);
                continue;
            }
            Op::RecvFrom { peer, .. } | Op::Drop { peer, .. } => {
                Some(LaneKey::Datagram { run, peer: peer.clone() })
            }
            // A reply joins its peer's lane; one to a peer never heard
            // from (no lane) is drawn with the other calls.
            Op::SendTo { peer, .. } => Some(LaneKey::Datagram { run, peer: peer.clone() })
                .filter(|k| index.contains_key(k)),
            _ => ev.conn.map(|conn| LaneKey::Stream { run, conn }),
        };
        seen_other = true;
        let Some(key) = key else {
            side.other.push(ev);
            continue;
        };
        let at = *index.entry(key.clone()).or_insert_with(|| {
            side.lanes.push(Lane {
                key,
                peer: String::new(),
                worker: None,
                evs: Vec::new(),
                first: ev.line,
                last: ev.line,
            });
            side.lanes.len() - 1
        });
        let lane = &mut side.lanes[at];
        match &ev.op {
            Op::Accept { peer, worker, .. } => (lane.peer, lane.worker) = (peer.clone(), *worker),
            Op::RecvFrom { peer, .. } | Op::Drop { peer, .. } if lane.peer.is_empty() => {
                lane.peer = peer.clone()
            }
            _ => {}
        }
        lane.last = ev.line;
        lane.evs.push(ev);
    }
    side
}

/// One run of `sockref client`: a connection, or a datagram socket.
struct Session {
    stream: bool,
    local: String,
    evs: Vec<Ev>,
    used: bool,
}

/// Splits a client trace (several runs may be appended) at each
/// `connect` (a stream client) or `listen` (its datagram socket).
fn split_client(evs: Vec<Ev>) -> (Vec<Session>, usize) {
    let (mut sessions, mut stray) = (Vec::<Session>::new(), 0);
    for ev in evs {
        match &ev.op {
            Op::Connect { local } => sessions.push(Session {
                stream: true,
                local: local.clone(),
                evs: Vec::new(),
                used: false,
            }),
            Op::Listen { addr, .. } => sessions.push(Session {
                stream: false,
                local: addr.clone(),
                evs: Vec::new(),
                used: false,
            }),
            _ => {}
        }
        match sessions.last_mut() {
            Some(s) => s.evs.push(ev),
            None => stray += 1,
        }
    }
    (sessions, stray)
}

/// The port of `host:port` or `[v6]:port`; `None` for a Unix-domain path.
fn port(addr: &str) -> Option<u16> {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

/// How a lane found its client session.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Match {
    Address,
    Order,
    None,
}

/// The client's local address is the server's peer address: match on it
/// whole, then on the port alone (the client's UDP socket is bound to
/// 0.0.0.0, which the server sees as 127.0.0.1). A Unix-domain stream
/// client has no name, so its connections are matched in order.
fn find_session(lane: &Lane, sessions: &mut [Session]) -> (Option<Vec<Ev>>, Match) {
    let stream = matches!(lane.key, LaneKey::Stream { .. });
    let free = |s: &Session| s.stream == stream && !s.used;
    let found = if stream && port(&lane.peer).is_none() {
        sessions.iter().position(|s| free(s) && port(&s.local).is_none()).map(|i| (i, Match::Order))
    } else {
        let p = port(&lane.peer);
        sessions
            .iter()
            .position(|s| free(s) && s.local == lane.peer)
            .or_else(|| sessions.iter().position(|s| free(s) && p.is_some() && port(&s.local) == p))
            .map(|i| (i, Match::Address))
    };
    match found {
        Some((i, how)) => {
            sessions[i].used = true;
            (Some(sessions[i].evs.clone()), how)
        }
        None => (None, Match::None),
    }
}

/// The client calls the server's trace proves: a `connect()` for each
/// `accept()`, a `write()` for each `read()` of data, a FIN for `read() =
/// 0`, a `sendto()` for each datagram received. Nothing is guessed about
/// the client's reads: it may have closed without reading.
fn infer_client(server: &[Ev]) -> Vec<Ev> {
    let mut out = Vec::new();
    for ev in server {
        let op = match &ev.op {
            Op::Accept { .. } => Op::Connect { local: String::new() },
            Op::Read(0) => Op::Fin,
            Op::Read(n) => Op::Write(*n),
            Op::RecvFrom { bytes, .. } | Op::Drop { bytes, .. } => {
                Op::SendTo { peer: String::new(), bytes: *bytes }
            }
            _ => continue,
        };
        let ts = ev.ts.saturating_sub(1);
        out.push(Ev { side: Side::Client, op, ts, conn: ev.conn, inferred: true, line: ev.line });
    }
    out
}

/// For each of `mine`, the index in `theirs` of the call it waited for.
fn dependencies(mine: &[Ev], theirs: &[Ev]) -> Vec<Option<usize>> {
    let connect = theirs.iter().position(|e| matches!(e.op, Op::Connect { .. }));
    let fin = theirs.iter().position(|e| e.op.ends_output());
    let mut written = Vec::new();
    let mut sent = Vec::new();
    let mut total = 0;
    for (i, e) in theirs.iter().enumerate() {
        match e.op {
            Op::Write(n) if n > 0 => {
                total += n;
                written.push((total, i));
            }
            Op::SendTo { .. } => sent.push(i),
            _ => {}
        }
    }
    let (mut read, mut received) = (0, 0);
    mine.iter()
        .map(|e| match e.op {
            Op::Accept { .. } => connect,
            // The read returned once the write that sent its last byte had.
            Op::Read(n) if n > 0 => {
                read += n;
                written.iter().find(|(end, _)| *end >= read).map(|(_, i)| *i)
            }
            Op::Read(_) => fin,
            Op::RecvFrom { .. } | Op::Drop { .. } => {
                received += 1;
                sent.get(received - 1).copied()
            }
            _ => None,
        })
        .collect()
}

/// Both sides' calls in one order: each call after the call it waited
/// for, and otherwise by time stamp.
fn merge(client: Vec<Ev>, server: Vec<Ev>) -> Vec<Ev> {
    let dc = dependencies(&client, &server);
    let ds = dependencies(&server, &client);
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(client.len() + server.len());
    while i < client.len() || j < server.len() {
        let c_ready = i < client.len() && dc[i].map_or(true, |d| d < j);
        let s_ready = j < server.len() && ds[j].map_or(true, |d| d < i);
        let take_client = match (c_ready, s_ready) {
            (true, false) => true,
            (false, true) => false,
            // Both free, or (traces that contradict each other) neither:
            // the clock decides.
            _ => j >= server.len() || (i < client.len() && client[i].ts <= server[j].ts),
        };
        if take_client {
            out.push(client[i].clone());
            i += 1;
        } else {
            out.push(server[j].clone());
            j += 1;
        }
    }
    out
}

fn bytes(n: u64) -> String {
    if n == 1 {
        "1 byte".to_string()
    } else {
        format!("{n} bytes")
    }
}

/// The box text of a call: the C call and its result, then details.
fn call_of(ev: &Ev) -> Call {
    let (mut lines, alert) = match &ev.op {
        Op::Listen { proto, addr, backlog: Some(b) } if proto == "tcp" || proto == "unix" => (
            vec![
                "socket() + bind() + listen()".into(),
                format!("{proto} {addr}"),
                format!("backlog {b}"),
            ],
            false,
        ),
        Op::Listen { proto, addr, .. } => {
            (vec!["socket() + bind()".into(), format!("{proto} {addr}")], false)
        }
        Op::Connect { .. } if ev.inferred => (vec!["connect()".into()], false),
        Op::Connect { .. } => (vec!["socket() + connect()".into()], false),
        Op::Accept { conn, .. } => {
            (vec!["accept()".into(), format!("new socket: conn {conn}")], false)
        }
        Op::Read(0) => (vec!["read() = 0 (EOF)".into()], false),
        Op::Read(n) => (vec![format!("read() = {n}")], false),
        Op::Write(n) => (vec![format!("write() = {n}")], false),
        Op::Shutdown => (vec!["shutdown(SHUT_WR)".into()], false),
        Op::Close => (vec!["close()".into()], false),
        Op::Error { failed, error } => (vec![format!("{failed} error"), error.clone()], true),
        Op::Panic(message) => (vec!["handler panicked".into(), message.clone()], true),
        Op::Reject(reason) => (vec!["refused: busy".into(), reason.clone()], true),
        Op::RecvFrom { bytes, .. } => (vec![format!("recvfrom() = {bytes}")], false),
        Op::SendTo { bytes, .. } => (vec![format!("sendto() = {bytes}")], false),
        Op::Drop { bytes, reason, .. } => {
            (vec![format!("recvfrom() = {bytes}"), format!("dropped: {reason}")], true)
        }
        Op::AcceptError(error) => (vec!["accept() error".into(), error.clone()], true),
        Op::AcceptRecovered(n) => {
            (vec!["accept() works again".into(), format!("after {n} failures")], false)
        }
        Op::Other(call) => (vec![call.clone()], false),
        Op::Fin => (vec!["shutdown() or close()".into()], false),
    };
    lines.retain(|l| !l.is_empty());
    if ev.inferred {
        lines[0] = format!("[{}]", lines[0]);
    }
    Call { side: ev.side, lines, inferred: ev.inferred, alert }
}

/// Appends `ev`'s box and what it put on the wire. `fin` remembers which
/// sides have sent their FIN: only the first `shutdown()` or `close()`
/// sends one.
fn push_rows(ev: &Ev, fin: &mut [bool; 2], out: &mut Vec<Row>) {
    out.push(Row::Call(call_of(ev)));
    let from = ev.side;
    let arrow = |from: Side, label: &str, control: bool| Row::Arrow {
        from,
        label: label.to_string(),
        control,
    };
    match &ev.op {
        // RFC 9293 (3.5): connect() sends SYN and returns once the
        // SYN-ACK is in and the ACK sent; accept() takes the finished
        // connection from the listen() queue.
        Op::Connect { .. } => {
            out.push(arrow(from, "SYN", true));
            out.push(arrow(from.other(), "SYN-ACK", true));
            out.push(arrow(from, "ACK", true));
        }
        Op::Write(n) if *n > 0 => out.push(arrow(from, &bytes(*n), false)),
        Op::Reject(_) => out.push(arrow(from, "busy", false)),
        Op::SendTo { bytes: n, .. } => {
            out.push(arrow(from, &format!("datagram, {}", bytes(*n)), false))
        }
        _ => {}
    }
    // RFC 9293 (3.6): the first of shutdown(SHUT_WR) and close() sends
    // FIN; the peer's kernel acknowledges it at once, whether or not its
    // program has read() the 0 yet.
    let flag = &mut fin[from as usize];
    if ev.op.ends_output() && !*flag {
        *flag = true;
        out.push(arrow(from, "FIN", true));
        out.push(arrow(from.other(), "ACK", true));
    }
}

/// The rows of a run of calls; past `limit` calls (0: no limit), the
/// middle ones are folded into lines that count them, except the
/// landmarks among them ([`Op::is_landmark`]), drawn between the folds.
fn rows_of(evs: &[Ev], limit: usize) -> Vec<Row> {
    let mut fin = [false; 2];
    let mut out = Vec::new();
    if limit == 0 || evs.len() <= limit {
        for ev in evs {
            push_rows(ev, &mut fin, &mut out);
        }
        return out;
    }
    // Keep the opening (the handshake, the first exchanges) and the end
    // (the close), which are what the figure teaches.
    let tail = (limit / 4).max(1);
    let head = limit - tail;
    for ev in &evs[..head] {
        push_rows(ev, &mut fin, &mut out);
    }
    let middle = &evs[head..evs.len() - tail];
    for run in middle.split_inclusive(|ev| ev.op.is_landmark()) {
        let (data, landmark) = match run.split_last() {
            Some((last, rest)) if last.op.is_landmark() => (rest, Some(last)),
            _ => (run, None),
        };
        match data {
            [] => {}
            // One call folded would take as much room as the call.
            [one] => push_rows(one, &mut fin, &mut out),
            _ => out.push(fold(data, &mut fin)),
        }
        if let Some(ev) = landmark {
            push_rows(ev, &mut fin, &mut out);
        }
    }
    for ev in &evs[evs.len() - tail..] {
        push_rows(ev, &mut fin, &mut out);
    }
    out
}

/// One line counting `middle`'s calls by side and kind.
fn fold(middle: &[Ev], fin: &mut [bool; 2]) -> Row {
    let mut scratch = Vec::new();
    // (side, kind) -> (calls, bytes), in order of first appearance.
    let mut counts: Vec<((Side, String), (u64, u64))> = Vec::new();
    for ev in middle {
        push_rows(ev, fin, &mut scratch);
        let n = match ev.op {
            Op::Read(n) | Op::Write(n) => n,
            Op::SendTo { bytes, .. } => bytes,
            Op::RecvFrom { bytes, .. } | Op::Drop { bytes, .. } => bytes,
            _ => 0,
        };
        let key = (ev.side, ev.op.kind().to_string());
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, (calls, total))) => {
                *calls += 1;
                *total += n;
            }
            None => counts.push((key, (1, n))),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|((side, kind), (calls, total))| {
            let who = if *side == Side::Client { "client" } else { "server" };
            let times = if *calls == 1 { "once".to_string() } else { format!("x{calls}") };
            if *total > 0 {
                format!("{who} {kind} {times} ({})", bytes(*total))
            } else {
                format!("{who} {kind} {times}")
            }
        })
        .collect();
    Row::Fold(format!("... {} calls folded: {} ...", middle.len(), parts.join(", ")))
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn convert(records: &[Record], side: Side, file: &str) -> Result<Vec<Ev>, DiagramError> {
    if records.is_empty() {
        return Err(DiagramError::NoEvents { file: file.to_string() });
    }
    records.iter().map(|r| ev_of(r, side, file)).collect()
}

/// Only a client calls connect(); only a server calls accept() (a UDP
/// client's socket() + bind() looks like a server's, so it proves
/// nothing). Drawn on the wrong side, a trace makes a figure that is
/// nonsense without being wrong anywhere a reader can see.
fn check_side(records: &[Record], side: Side, file: &str) -> Result<(), DiagramError> {
    let wrong = match side {
        Side::Server => "connect",
        Side::Client => "accept",
    };
    match records.iter().find(|r| r.str("event") == Some(wrong)) {
        Some(r) => Err(DiagramError::WrongSide {
            file: file.to_string(),
            line: r.line,
            event: wrong.to_string(),
            given_as_server: side == Side::Server,
            swapped_with: None,
        }),
        None => Ok(()),
    }
}

/// Builds the figure from a server trace and, if given, a client trace
/// (`file` names are for messages only).
pub fn build(
    server: (&str, &[Record]),
    client: Option<(&str, &[Record])>,
    limits: Limits,
) -> Result<Diagram, DiagramError> {
    if let Err(mut e) = check_side(server.1, Side::Server, server.0) {
        if let (DiagramError::WrongSide { swapped_with, .. }, Some((file, records))) =
            (&mut e, client)
        {
            if check_side(records, Side::Client, file).is_err() {
                *swapped_with = Some(file.to_string());
            }
        }
        return Err(e);
    }
    let side = split_server(convert(server.1, Side::Server, server.0)?);
    let (mut sessions, stray) = match client {
        Some((file, records)) => {
            check_side(records, Side::Client, file)?;
            split_client(convert(records, Side::Client, file)?)
        }
        None => (Vec::new(), 0),
    };
    let addrs: Vec<String> = side
        .setup
        .iter()
        .filter_map(|e| match &e.op {
            Op::Listen { proto, addr, .. } => Some(format!("{proto} {addr}")),
            _ => None,
        })
        .collect();
    let title = if addrs.is_empty() {
        "server".to_string()
    } else {
        format!("server {}", addrs.join(", "))
    };

    let mut sections = Vec::new();
    if !side.setup.is_empty() {
        sections.push(Section { heading: "setup".into(), rows: rows_of(&side.setup, 0) });
    }
    let shown = if limits.connections == 0 {
        side.lanes.len()
    } else {
        limits.connections.min(side.lanes.len())
    };
    let (mut by_address, mut by_order, mut inferred) = (0, 0, 0);
    let mut overlapped = false;
    let mut latest = 0;
    for (n, lane) in side.lanes.iter().enumerate() {
        overlapped |= lane.first < latest;
        latest = latest.max(lane.last);
        let (found, how) = find_session(lane, &mut sessions);
        if n >= shown {
            continue;
        }
        match how {
            Match::Address => by_address += 1,
            Match::Order => by_order += 1,
            Match::None => inferred += 1,
        }
        let client = found.unwrap_or_else(|| infer_client(&lane.evs));
        let heading = match (&lane.key, lane.worker) {
            (LaneKey::Stream { conn, .. }, Some(w)) => {
                format!("connection {conn}: client {}, worker {w}", lane.peer)
            }
            (LaneKey::Stream { conn, .. }, None) => {
                format!("connection {conn}: client {}", lane.peer)
            }
            (LaneKey::Datagram { .. }, _) => format!("datagrams: client {}", lane.peer),
        };
        sections.push(Section {
            heading,
            rows: rows_of(&merge(client, lane.evs.clone()), limits.calls),
        });
    }
    if !side.other.is_empty() {
        sections.push(Section {
            heading: "other server calls".into(),
            rows: rows_of(&side.other, limits.calls),
        });
    }

    let mut notes = Vec::new();
    if client.is_none() {
        notes.push(
            "client side inferred from the server's trace: [calls in brackets] were not traced"
                .to_string(),
        );
    } else if inferred > 0 {
        notes.push(format!(
            "not in the client trace: {inferred} of {shown} connections; their client side is inferred, [in brackets]"
        ));
    }
    if by_order > 0 {
        notes.push(
            "client trace matched to the server's in order (a Unix-domain client has no port)"
                .to_string(),
        );
    } else if by_address > 0 {
        notes.push(
            "client trace matched to the server's by address (the client's local port)".to_string(),
        );
    }
    if overlapped && shown > 1 {
        notes.push(
            "connections overlapped in time; each is drawn whole, in the order it began"
                .to_string(),
        );
    }
    let mut footnotes = Vec::new();
    if shown < side.lanes.len() {
        let more = side.lanes.len() - shown;
        footnotes.push(format!(
            "{more} more {} not drawn (--connections 0 draws them all)",
            plural(more, "connection or peer", "connections or peers")
        ));
    }
    let unmatched = sessions.iter().filter(|s| !s.used).count();
    if unmatched > 0 {
        footnotes.push(format!(
            "{unmatched} {} of the client trace not in the server's (not drawn)",
            plural(unmatched, "run", "runs")
        ));
    }
    if stray > 0 {
        footnotes.push(format!(
            "{stray} client {} before any connect() or socket() (not drawn)",
            plural(stray, "event", "events")
        ));
    }
    Ok(Diagram { title, notes, sections, footnotes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagram::jsonl::read_records;

    const SERVER: &str = r#"{"ts_us":100,"event":"listen","proto":"tcp","addr":"127.0.0.1:4000","backlog":128}
listening tcp 127.0.0.1:4000 service=echo workers=1
{"ts_us":200,"event":"accept","conn":1,"peer":"127.0.0.1:5000","worker":0}
{"ts_us":210,"event":"read","conn":1,"bytes":5,"eof":false}
{"ts_us":220,"event":"write","conn":1,"bytes":5}
{"ts_us":230,"event":"read","conn":1,"bytes":0,"eof":true}
{"ts_us":240,"event":"close","conn":1,"duration_us":40,"in":5,"out":5}
"#;
    // Stamps taken when each line was written: the client's write() is
    // stamped after the server's read() that it fed.
    const CLIENT: &str = r#"{"ts_us":150,"event":"connect","peer":"127.0.0.1:4000","local":"127.0.0.1:5000"}
{"ts_us":215,"event":"write","conn":1,"bytes":5}
{"ts_us":216,"event":"shutdown","conn":1,"how":"SHUT_WR"}
{"ts_us":250,"event":"read","conn":1,"bytes":5,"eof":false}
{"ts_us":251,"event":"read","conn":1,"bytes":0,"eof":true}
{"ts_us":252,"event":"close","conn":1}
"#;

    /// [`read_records`], its error told as text with the line number.
    fn trace(text: &str) -> Result<Vec<Record>, String> {
        read_records(text).map_err(|(line, e)| format!("line {line}: {e}"))
    }

    fn diagram(server: &str, client: Option<&str>) -> Result<Diagram, Box<dyn std::error::Error>> {
        let s = trace(server)?;
        let c = client.map(trace).transpose()?;
        let limits = Limits { connections: 0, calls: 0 };
        Ok(build(("s", &s), c.as_deref().map(|c| ("c", c)), limits)?)
    }

    fn firsts(d: &Diagram, section: usize) -> Vec<String> {
        d.sections[section]
            .rows
            .iter()
            .map(|r| match r {
                Row::Call(c) => format!("{:?} {}", c.side, c.lines[0]),
                Row::Arrow { from, label, .. } => format!("{from:?} -> {label}"),
                Row::Fold(f) => f.clone(),
            })
            .collect()
    }

    #[test]
    fn a_read_comes_after_the_write_it_read_whatever_the_stamps(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let d = diagram(SERVER, Some(CLIENT))?;
        assert_eq!(d.title, "server tcp 127.0.0.1:4000");
        assert_eq!(d.sections[1].heading, "connection 1: client 127.0.0.1:5000, worker 0");
        let want = [
            "Client socket() + connect()",
            "Client -> SYN",
            "Server -> SYN-ACK",
            "Client -> ACK",
            "Server accept()",
            "Client write() = 5",
            "Client -> 5 bytes",
            "Server read() = 5",
            // Stamped 216 and 220: free of each other, the clock decides.
            "Client shutdown(SHUT_WR)",
            "Client -> FIN",
            "Server -> ACK",
            "Server write() = 5",
            "Server -> 5 bytes",
            "Server read() = 0 (EOF)",
            "Server close()",
            "Server -> FIN",
            "Client -> ACK",
            "Client read() = 5",
            "Client read() = 0 (EOF)",
            "Client close()",
        ];
        assert_eq!(firsts(&d, 1), want);
        assert_eq!(
            d.notes,
            ["client trace matched to the server's by address (the client's local port)"]
        );
        assert_eq!(d.calls().filter(|c| !c.inferred).count(), 12);
        Ok(())
    }

    #[test]
    fn without_a_client_trace_only_what_the_server_proves_is_inferred(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let d = diagram(SERVER, None)?;
        let rows = firsts(&d, 1);
        assert_eq!(rows[0], "Client [connect()]");
        assert!(rows.contains(&"Client [write() = 5]".to_string()), "{rows:?}");
        assert!(rows.contains(&"Client [shutdown() or close()]".to_string()), "{rows:?}");
        assert!(!rows.iter().any(|r| r.starts_with("Client [read")), "{rows:?}");
        assert!(d.notes[0].contains("inferred"));
        assert!(d.calls().filter(|c| c.side == Side::Client).all(|c| c.inferred));
        Ok(())
    }

    #[test]
    fn unix_clients_have_no_port_and_are_matched_in_order() -> Result<(), Box<dyn std::error::Error>>
    {
        let server = SERVER.replace("127.0.0.1:5000", "(unnamed)").replace("\"tcp\"", "\"unix\"");
        let client = CLIENT.replace("127.0.0.1:5000", "(unnamed)");
        let d = diagram(&server, Some(&client))?;
        assert!(d.notes[0].contains("in order"), "{:?}", d.notes);
        assert_eq!(firsts(&d, 1)[0], "Client socket() + connect()");
        // A TCP client on another port is someone else (nc, say): not matched.
        let other = CLIENT.replace("127.0.0.1:5000", "127.0.0.1:5001");
        let d = diagram(SERVER, Some(&other))?;
        assert_eq!(firsts(&d, 1)[0], "Client [connect()]");
        assert_eq!(d.footnotes, ["1 run of the client trace not in the server's (not drawn)"]);
        Ok(())
    }

    #[test]
    fn long_connections_fold_their_middle_and_keep_both_ends(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut server =
            String::from(r#"{"event":"accept","conn":1,"peer":"127.0.0.1:5000","worker":0}"#);
        for _ in 0..50 {
            server.push_str("\n{\"event\":\"write\",\"conn\":1,\"bytes\":74}");
        }
        server.push_str("\n{\"event\":\"close\",\"conn\":1}\n");
        let records = trace(&server)?;
        let d = build(("s", &records), None, Limits { connections: 8, calls: 8 })?;
        let rows = firsts(&d, 0);
        let fold = rows.iter().find(|r| r.starts_with("...")).ok_or("no fold row")?;
        // 53 calls with the inferred connect(); 6 first and 2 last are drawn.
        assert_eq!(fold, "... 45 calls folded: server write() x45 (3330 bytes) ...");
        assert_eq!(rows.last().ok_or("no rows")?, "Client -> ACK", "the close and its FIN stay");
        Ok(())
    }

    /// Lab 5: a client writes 20 blocks, shuts down its side, then reads
    /// the echo; the server echoes every block, then reads 0. The
    /// shutdown(), its FIN and the server's read() = 0 fall in the middle
    /// of a folded connection and must be drawn anyway.
    #[test]
    fn a_half_close_in_a_folded_middle_is_drawn_with_its_fin(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut server = String::from(
            r#"{"ts_us":200,"event":"accept","conn":1,"peer":"127.0.0.1:5000","worker":0}"#,
        );
        let mut client = String::from(
            r#"{"ts_us":100,"event":"connect","peer":"127.0.0.1:4000","local":"127.0.0.1:5000"}"#,
        );
        for i in 0..20u64 {
            let t = 1000 + i * 10;
            client.push_str(&format!(
                "\n{{\"ts_us\":{t},\"event\":\"write\",\"conn\":1,\"bytes\":100}}"
            ));
            server.push_str(&format!(
                "\n{{\"ts_us\":{},\"event\":\"read\",\"conn\":1,\"bytes\":100}}\n\
                 {{\"ts_us\":{},\"event\":\"write\",\"conn\":1,\"bytes\":100}}",
                t + 1,
                t + 2
            ));
        }
        client.push_str("\n{\"ts_us\":1300,\"event\":\"shutdown\",\"conn\":1,\"how\":\"SHUT_WR\"}");
        server
            .push_str("\n{\"ts_us\":1310,\"event\":\"read\",\"conn\":1,\"bytes\":0,\"eof\":true}");
        server.push_str("\n{\"ts_us\":1320,\"event\":\"close\",\"conn\":1}\n");
        for t in 0..20u64 {
            let ts = 1400 + t;
            client.push_str(&format!(
                "\n{{\"ts_us\":{ts},\"event\":\"read\",\"conn\":1,\"bytes\":100}}"
            ));
        }
        client
            .push_str("\n{\"ts_us\":1500,\"event\":\"read\",\"conn\":1,\"bytes\":0,\"eof\":true}");
        client.push_str("\n{\"ts_us\":1501,\"event\":\"close\",\"conn\":1}\n");
        let (s, c) = (trace(&server)?, trace(&client)?);
        let d = build(("s", &s), Some(("c", &c)), Limits::default())?;
        let rows = firsts(&d, 0);
        let at = |row: &str| rows.iter().position(|r| r == row);
        let shutdown = at("Client shutdown(SHUT_WR)").ok_or(format!("no shutdown: {rows:#?}"))?;
        assert_eq!(rows[shutdown + 1], "Client -> FIN");
        assert_eq!(rows[shutdown + 2], "Server -> ACK");
        let eof = at("Server read() = 0 (EOF)").ok_or(format!("no EOF: {rows:#?}"))?;
        assert!(eof > shutdown, "{rows:#?}");
        assert!(rows.iter().any(|r| r.starts_with("... ")), "still folds: {rows:#?}");
        assert!(!rows.iter().any(|r| r.contains("other call")), "{rows:#?}");
        Ok(())
    }

    #[test]
    fn a_fold_names_each_call_it_counts() {
        let ops = [
            (Op::Shutdown, "shutdown()"),
            (Op::Close, "close()"),
            (Op::Connect { local: String::new() }, "connect()"),
            (Op::Other("poll()".into()), "poll()"),
            (Op::Reject("busy".into()), "refusal"),
        ];
        for (op, name) in ops {
            assert_eq!(op.kind(), name);
        }
    }

    #[test]
    fn a_client_trace_given_as_the_servers_is_refused_naming_client(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let (s, c) = (trace(SERVER)?, trace(CLIENT)?);
        let limits = Limits::default();
        let e = build(("client.jsonl", &c), None, limits).err().ok_or("drew it")?;
        assert!(e.is_usage());
        assert_eq!(
            e.to_string(),
            "client.jsonl:1: 'connect' is a client's call: this is a client's trace; \
             pass it with --client: sockref diagram SERVER.jsonl --client client.jsonl"
        );
        let e = build(("s.jsonl", &s), Some(("s2.jsonl", &s)), limits).err().ok_or("drew it")?;
        assert!(e.to_string().starts_with("s2.jsonl:3: 'accept' is a server's call"), "{e}");
        let e = build(("c.jsonl", &c), Some(("s.jsonl", &s)), limits).err().ok_or("drew it")?;
        assert!(
            e.to_string()
                .ends_with("the two are swapped: sockref diagram s.jsonl --client c.jsonl"),
            "{e}"
        );
        Ok(())
    }

    #[test]
    fn udp_datagrams_pair_sendto_with_recvfrom_by_the_clients_port(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let server = r#"{"event":"listen","proto":"udp","addr":"127.0.0.1:4000"}
{"ts_us":10,"event":"recvfrom","peer":"127.0.0.1:6000","bytes":5}
{"ts_us":11,"event":"sendto","peer":"127.0.0.1:6000","bytes":5}"#;
        let client = r#"{"ts_us":5,"event":"listen","proto":"udp","addr":"0.0.0.0:6000"}
{"ts_us":12,"event":"sendto","peer":"127.0.0.1:4000","bytes":5}
{"ts_us":13,"event":"recvfrom","peer":"127.0.0.1:4000","bytes":5}"#;
        let d = diagram(server, Some(client))?;
        assert_eq!(d.sections[1].heading, "datagrams: client 127.0.0.1:6000");
        let want = [
            "Client socket() + bind()",
            "Client sendto() = 5",
            "Client -> datagram, 5 bytes",
            "Server recvfrom() = 5",
            "Server sendto() = 5",
            "Server -> datagram, 5 bytes",
            "Client recvfrom() = 5",
        ];
        assert_eq!(firsts(&d, 1), want);
        Ok(())
    }

    #[test]
    fn a_missing_field_names_the_line_and_the_field() -> Result<(), Box<dyn std::error::Error>> {
        let records = trace("x\n{\"event\":\"read\",\"conn\":1}\n")?;
        let e =
            build(("t.jsonl", &records), None, Limits { connections: 0, calls: 0 }).unwrap_err();
        assert_eq!(e.to_string(), "t.jsonl:2: a \"read\" event needs a number \"bytes\"");
        let records = trace("{\"requests\":5}\n")?;
        let e =
            build(("t.jsonl", &records), None, Limits { connections: 0, calls: 0 }).unwrap_err();
        assert!(e.to_string().contains("no \"event\" field"), "{e}");
        Ok(())
    }
}
