//! Every bound the server enforces, in one place, with its default and why.
//!
//! A fixed pool of blocking threads is only as safe as its limits: whoever
//! holds the workers holds the server. Each field below caps one resource;
//! the limits table in docs/limits.md repeats these numbers by hand, so change both
//! together. Nothing else in the crate invents a bound of its own.
//!
//! What this module does not do: it enforces nothing itself. `server/` and
//! `guard/` read these values.

use std::time::Duration;

/// The `listen()` backlog. `std::net::TcpListener::bind` hard-codes 128 on
/// Linux (seen with `strace -f`: `listen(3, 128)`) and offers no way to change
/// it without raw libc calls or a dependency. The kernel clamps it further to
/// `net.core.somaxconn`. It is the queue that holds new clients while every
/// worker is busy (`--overload wait`): client 129 and later wait for SYN
/// retransmission (1 s, 3 s, 7 s, ...) rather than being refused.
pub const LISTEN_BACKLOG: u32 = 128;

/// The `listen()` backlog of a Unix-domain stream socket. Unlike TCP's,
/// `UnixListener::bind` passes -1 (seen with `strace -f`: `listen(3, -1)`),
/// which Linux reads as the largest allowed, `net.core.somaxconn` (4096 by
/// default since Linux 5.4). Read from procfs for the trace; 4096 if it
/// cannot be read.
pub fn unix_listen_backlog() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

/// Largest UDP payload over IPv4: 65,535 - 8 (UDP header) - 20 (IP header).
pub const MAX_DATAGRAM: usize = 65_507;

/// Size of each UDP worker's receive buffer: at least any IPv4 (65,507) or
/// IPv6 (65,527) payload, so `recvfrom()` never truncates a datagram (Linux
/// would do so silently).
pub const UDP_RECV_BUF: usize = 65_536;

/// Longest a UDP worker blocks in `recvfrom()` before looking at the stop
/// flag again. Shutdown wakes workers with empty datagrams at once; this
/// bounds the stop even if those are lost (UDP may drop them).
pub const UDP_STOP_POLL: Duration = Duration::from_secs(1);

/// Longest a datagram worker waits in `sendto()` for room in the
/// receiver's queue. UDP never waits (a full queue drops the datagram), but a
/// Unix-domain `sendto()` blocks while the receiving socket's queue is full
/// (`net.unix.max_dgram_qlen`, 10 by default): a client that sends and never
/// reads would otherwise hold the worker, and the stop, for as long as it
/// likes. Past this the reply is dropped and counted in `io_errors`.
pub const DATAGRAM_SEND_TIMEOUT: Duration = Duration::from_millis(50);

/// The stack buffer a connection reads into first. Small, so that an idle
/// connection touches one page of memory, not four.
pub const SMALL_READ_BUF: usize = 1024;

/// The heap buffer a connection switches to once a read fills the small one:
/// bulk transfers then move 16 KiB per system call, as the C servers do.
pub const LARGE_READ_BUF: usize = 16 * 1024;

/// HTTP service: longest request line, without its CRLF (and with any
/// empty lines before it); longer is answered 414. RFC 9112 §3 suggests
/// supporting at least 8,000 octets.
pub const HTTP_MAX_REQUEST_LINE: usize = 8 * 1024;

/// HTTP service: longest header section (every field line with its CRLF);
/// longer is answered 431 (RFC 6585 §5). Also bounds a chunked trailer.
pub const HTTP_MAX_HEADER_SECTION: usize = 16 * 1024;

/// HTTP service: most field lines in a head (or a chunked trailer); more
/// is answered 431. Real browsers send 10 to 20.
pub const HTTP_MAX_FIELDS: usize = 100;

/// HTTP service: largest request body (Content-Length, or the sum of the
/// chunks); larger is answered 413. A body is held whole (`POST /echo`
/// sends it back with its length), so each busy worker may hold this much
/// input and as much output.
pub const HTTP_MAX_BODY: usize = 1 << 20;

/// HTTP and WebSocket services: the most each connection's input buffer
/// grows to. A whole request head fits (request line + header section +
/// CRLFs, about 24 KiB), so a head never needs more.
pub const HTTP_INPUT_BUF: usize = 32 * 1024;

/// HTTP and WebSocket services: the input buffer a connection starts with,
/// doubled (up to [`HTTP_INPUT_BUF`]) only when unparsed input fills it.
/// A browser's head (under 1 KiB) or a pipelined batch of 16 benchmark
/// requests (about 1.3 KiB) fits in one `read()`.
pub const HTTP_INPUT_FIRST: usize = 4 * 1024;

/// WebSocket services: the default [`Limits::ws_max_message`], 1 MiB:
/// more than any chat line or JSON event, and 128 busy workers holding
/// one each stay near 128 MiB.
pub const DEFAULT_WS_MAX_MESSAGE: usize = 1 << 20;

/// WebSocket services: the most [`Limits::ws_max_message`] may be set to,
/// 64 MiB. Enough for the 4-16 MB messages some clients send (a file, a
/// frame of video); past it, a message belongs in a stream of smaller ones.
pub const MAX_WS_MESSAGE: usize = 64 << 20;

/// Bytes of each `read()`, `write()` and datagram that a `--trace=json`
/// line (and so the watch page) shows, escaped; the rest is only counted.
/// Enough for a line typed into `nc` or a request line, small enough that
/// a 16 KiB write costs the trace no more than a short one.
pub const TRACE_PREVIEW: usize = 32;

/// Trace layers (`trace::layers`): payload bytes of one WebSocket frame
/// kept to describe it (its Engine.IO and Socket.IO packets); the rest is
/// counted, not copied. Enough for an event's name and first argument.
pub const TRACE_LAYER_PREVIEW: usize = 64;

/// Trace layers: connections followed at once by one observer (`--trace`
/// and the watch page each have one). An entry is a connection that asked
/// for an upgrade, about 200 bytes, dropped at its `close()`; past this
/// many, a new one is traced without its layers.
pub const TRACE_LAYER_CONNS: usize = 10_000;

/// Watch page (`--watch`): most browsers watching at once. Each holds one
/// thread of the watch listener's own pool (never a worker of the server)
/// and one queue of [`WATCH_QUEUE`] events; one more is answered 503. A
/// class needs one: the projector; a few more let a teacher and a
/// colleague look too.
pub const WATCH_VIEWERS: usize = 4;

/// Watch page: threads beside the viewers' that serve the page itself,
/// its stylesheet and script, and the 503s. Every such answer closes its
/// connection, so two keep up with any number of reloads.
pub const WATCH_PAGE_WORKERS: usize = 2;

/// Watch page: events waiting for one viewer. A server worker only ever
/// offers an event to this queue (`try_send`); when it is full the event is
/// dropped for that viewer and counted, and the page shows the gap with its
/// size. About 200 bytes an event: under 0.5 MiB per viewer.
pub const WATCH_QUEUE: usize = 2048;

/// Watch page: the latest events kept for a page that opens (or reconnects)
/// late, so that it starts with the connections already made. About 200
/// KiB. The `listen` events are kept apart (at most [`WATCH_LISTENS`]), so
/// that every page can name the sockets however long the server has run.
pub const WATCH_RECENT: usize = 1000;

/// Watch page: `listen` events kept (the server makes one or two).
pub const WATCH_LISTENS: usize = 8;

/// Watch page: most events a viewer's thread gathers into one `write()`.
pub const WATCH_BATCH: usize = 256;

/// Watch page: how often each viewer gets the counters. It doubles as the
/// heartbeat through which a viewer that vanished is noticed: the second
/// `write()` after its close fails (the first draws the reset), which ends
/// the thread and frees the slot, so within two ticks.
pub const WATCH_TICK: Duration = Duration::from_secs(1);

// The watch page in the browser keeps bounds of its own, constants at the
// top of `src/watch/page.js` (JavaScript cannot read these): 500
// connections at most (the oldest folded ones are forgotten), 400 calls
// per connection, 12 datagram arrows, 30 UDP peers, 5,000 events held
// while paused (more are counted as lost), so that a projector left on
// all day holds a bounded page too.

/// Watch page: the watch listener's idle timeout. A browser's spare
/// connection that never sends a request frees its thread after this; a
/// viewer that stops reading is cut by the minimum rate of output after it
/// (the server's own rule, [`DEFAULT_MIN_RATE_OUT`]).
pub const WATCH_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Chat service: most rooms open at once (a room opens with its first
/// member and closes with its last). One more is refused after the
/// handshake with close 1013 (try again later): a class of 30-60 in
/// groups needs a dozen.
pub const CHAT_ROOMS: usize = 64;

/// Chat service: most members of one room (and most Socket.IO clients
/// connected to the default namespace, which is one room too). One more
/// is refused with close 1013 (Socket.IO: `CONNECT_ERROR`). Every member
/// holds a worker (so `--workers` bounds them all first) and one more
/// descriptor: the copy (`dup()`) other members' threads write through.
pub const CHAT_ROOM_MEMBERS: usize = 64;

/// Chat service: longest room name, the bytes after `/room/` in the
/// request path; longer is answered 400 before the upgrade.
pub const CHAT_ROOM_NAME: usize = 64;

/// Socket.IO service: how long after the Engine.IO open the client has to
/// connect to a namespace (send `40`) before it is closed (the reference
/// server's `connectTimeout` is the same 45 s).
pub const SOCKETIO_CONNECT_TIMEOUT: Duration = Duration::from_secs(45);

/// Chat and Socket.IO services: longest one frame may take to go into a
/// member's socket (the kernel's send buffer) when another member's thread
/// writes it there. A member whose buffers are full for this long has
/// stopped reading, or reads slower than the room talks: it is cut (close
/// 1008, "too slow") so that it holds up no sender again. So a stalled
/// reader costs each sender at most this once, and the room never waits
/// on it twice. Nothing is queued in user space: what is waiting for a
/// member is what its kernel buffers hold (up to a few MiB on loopback).
pub const FANOUT_SEND_WAIT: Duration = Duration::from_secs(1);

/// Chat and Socket.IO services: the `SO_SNDTIMEO` of each member's socket,
/// how often a blocked fan-out `write()` wakes to look at
/// [`FANOUT_SEND_WAIT`].
pub const FANOUT_SEND_SAMPLE: Duration = Duration::from_millis(100);

/// What the server does with a new client when every worker is busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overload {
    /// Leave the client in the kernel's `listen()` backlog until a worker is
    /// free. Nobody is turned away; a client may wait up to one idle timeout
    /// (or one `max_conn_time`) per connection ahead of it.
    Wait,
    /// Accept, write `busy\r\n`, close at once. Clients learn immediately
    /// that the server is full and can retry; no client ever waits.
    Reject,
}

/// How accepted connections reach the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptModel {
    /// Every worker calls `accept()` on the shared listener and serves what
    /// it accepted (UNIX Network Programming's "prethreaded, no locking"
    /// server). No hand-off, no extra thread, no queue.
    Workers,
    /// One acceptor thread calls `accept()` and hands each connection to a
    /// free worker over a rendezvous channel (capacity 0: nothing waits in
    /// user space). Needed for [`Overload::Reject`], which must know that no
    /// worker is free.
    Handoff,
}

/// All the server's bounds. [`Limits::default`] is what `sockref serve` uses
/// when no flag is given.
#[derive(Clone, Debug)]
pub struct Limits {
    /// TCP worker threads, started before the `listening` line is printed.
    /// Each serves one connection at a time, so this is also the number of
    /// connections served at once.
    pub workers: usize,
    /// UDP worker threads sharing the one socket. Default 1, the C
    /// textbook's single recvfrom/sendto loop: UDP replies never wait on a
    /// client, and with a few datagrams in flight a second thread on the
    /// socket only adds wake-ups (measured: 1.02-1.03x the C UDP server with
    /// one worker, 0.86-0.90x with two, at 2 clients). More workers pay off
    /// with many clients at once (1.07x vs 0.97x at 8) or a slow handler
    /// (docs/benchmarks-history.md, "UDP: one worker or two").
    pub udp_workers: usize,
    /// Stack size of every worker thread. Virtual memory only: pages count
    /// towards RSS when touched, and the built-in services touch under 32 KiB.
    pub stack_size: usize,
    /// Longest a `read()` or `write()` may wait for the peer. `None` = forever.
    pub idle_timeout: Option<Duration>,
    /// HTTP and WebSocket services: longest a request head may take to
    /// arrive, counted from its first byte (the wait for that byte, on a
    /// new connection or between keep-alive requests, is the idle
    /// timeout's, as for every service). Past it the client gets `408` and
    /// the connection is closed: a slow-headers client (`slowhttptest -H`)
    /// holds a worker this long at most. `None` = no limit. Default 10 s:
    /// a whole head is one `write()` for any real client.
    pub header_timeout: Option<Duration>,
    /// Longest one connection may hold a worker, however active it is.
    /// `None` = no limit.
    pub max_conn_time: Option<Duration>,
    /// WebSocket services: the largest message accepted, its fragments
    /// together (RFC 6455 §5.4), and the largest frame payload. A bigger
    /// one fails the connection with close code 1009 (RFC 6455 §7.4.1),
    /// decided from the frame header before its payload is read. A message
    /// is held whole until its last fragment (the echo sends it back as
    /// one), so this is also the most message memory one connection
    /// holds: the trade-off is memory, up to `workers` times this, for the
    /// size of message clients may send. From 1 byte to
    /// [`MAX_WS_MESSAGE`]; default [`DEFAULT_WS_MAX_MESSAGE`].
    pub ws_max_message: usize,
    /// The minimum rate, in bytes per second, at which a client must take
    /// the server's output while the worker waits in `write()`: on average
    /// over that waiting, with one idle timeout of credit
    /// (`guard::min_rate`). 0 = no floor: then the rule is the idle timeout
    /// alone, counted over a whole blocked write rather than per `write()`
    /// call. Default 16 KiB/s: a quarter of the slowest steady reader the
    /// server promises to keep (64 KiB each second; [`MIN_RATE_SAMPLE`]
    /// says why that promise needs a small receive buffer), and well above
    /// what a client that stopped reading still lets through once the
    /// socket buffers are full (measured: 0-4 KB in the next 2 s). Needs an
    /// idle timeout (the credit).
    pub min_rate_out: u32,
    /// The same floor for input, while the worker waits in `read()`. 0 (the
    /// default) = off: a server cannot tell a client trickling input from
    /// a human typing into `nc` or a request/response client with long
    /// pauses, and those must keep working by default. Set it for services
    /// that take input in bulk (a `discard` sink, an upload body).
    pub min_rate_in: u32,
    /// Most connections from one source IP address served at once; one more
    /// from that address is answered `busy\r\n` and closed at once
    /// (`guard::per_ip`). 0 (the default) = no cap, so that a benchmark
    /// from one host can use every worker. Unix-domain peers have no
    /// address and are not capped.
    pub max_per_ip: usize,
    /// After a service finishes while the peer still sends, how long the
    /// server keeps reading (and discarding) so that closing does not turn
    /// into a reset that destroys the reply in flight. Shutdown uses it too:
    /// after cutting a connection's input, its handler has this long to
    /// answer what it already read before the output is cut as well.
    pub drain_timeout: Duration,
    /// Most bytes read and discarded while draining.
    pub drain_bytes: usize,
    /// What happens to new clients when all workers are busy.
    pub overload: Overload,
    /// How connections reach workers (see [`AcceptModel`]).
    pub accept_model: AcceptModel,
    /// First pause after `accept()` fails for lack of descriptors or memory.
    pub accept_backoff_min: Duration,
    /// Longest pause between `accept()` retries while descriptors are exhausted.
    pub accept_backoff_max: Duration,
    /// Per-peer UDP rate limit in datagrams per second (`None` = off).
    pub udp_rate: Option<u32>,
    /// Most peers the UDP rate limiter remembers at once; beyond it the
    /// table is cleared (bounding memory under spoofed-source floods).
    pub udp_rate_peers: usize,
    /// Chat and Socket.IO services: the heartbeat. A member silent this
    /// long gets a ping (WebSocket ping frame for `chat`, Engine.IO `2` for
    /// `socketio`, whose open packet announces it as `pingInterval`).
    /// Default 25 s, Engine.IO's. After the handshake, this heartbeat and
    /// not the idle timeout decides that a silent member is gone: a
    /// `read()` the idle timeout ends with no ping due is made again.
    pub ping_interval: Duration,
    /// Chat and Socket.IO services: how long the answer to a ping may take
    /// (Engine.IO's `pingTimeout`): a member that sends nothing back within
    /// it is closed (1011). Default 20 s, Engine.IO's.
    pub ping_timeout: Duration,
    /// Serve UDP datagrams from source ports below 1024. Off: those ports
    /// belong to the classic services, and answering them lets two servers
    /// bounce datagrams forever (echo <-> chargen, CERT CA-1996-01).
    pub udp_allow_low_ports: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            workers: DEFAULT_WORKERS,
            udp_workers: 1,
            stack_size: 256 * 1024,
            idle_timeout: Some(Duration::from_secs(30)),
            header_timeout: Some(Duration::from_secs(10)),
            ws_max_message: DEFAULT_WS_MAX_MESSAGE,
            max_conn_time: None,
            min_rate_out: DEFAULT_MIN_RATE_OUT,
            min_rate_in: 0,
            max_per_ip: 0,
            drain_timeout: Duration::from_secs(1),
            drain_bytes: 1 << 20,
            overload: Overload::Wait,
            accept_model: AcceptModel::Workers,
            accept_backoff_min: Duration::from_millis(5),
            accept_backoff_max: Duration::from_secs(1),
            udp_rate: None,
            udp_rate_peers: 4096,
            udp_allow_low_ports: false,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
        }
    }
}

/// Default TCP worker count: a class of 30-60 students, each with a client
/// or two open, from one laptop; 128 idle threads cost about 1.3 MiB of RSS
/// (about 10 KiB each, measured with 10,000 workers).
pub const DEFAULT_WORKERS: usize = 128;

/// Largest accepted `--workers`. Each worker needs a descriptor (a busy one
/// for its connection, an idle one reserved by its blocked `accept()`), and
/// common descriptor limits are in the tens of thousands: more threads than
/// that could never all be used.
pub const MAX_WORKERS: usize = 20_000;

/// Default [`Limits::min_rate_out`]: 16 KiB/s (see there for why).
pub const DEFAULT_MIN_RATE_OUT: u32 = 16 * 1024;

/// How often a worker blocked in `write()` looks at the client's progress:
/// the `SO_SNDTIMEO` of every connection while an idle timeout is set (or
/// the idle timeout, if shorter), the blocked `write()` being retried after
/// each. Why not let one `write()` wait the whole idle timeout: Linux wakes
/// a writer blocked on a full send buffer only once half of what is queued
/// has been acknowledged, and the send buffer auto-tunes to 4 MiB on
/// loopback, so a client reading a steady 64 KiB/s left one `write()`
/// blocked for its whole 2 s timeout with under 7 KB moved (measured),
/// while space it had freed sat unused; a client that had stopped reading
/// looked the same, and each partial `write()` restarted the timeout (a
/// non-reader held its worker 6.06 s with `--idle-timeout 2`). A `write()`
/// that times out returns what it copied, and the next one takes the space
/// freed meanwhile: sampled every 250 ms, a 64 KiB/s reader shows 10-24 KB
/// per sample and a non-reader, once its buffers are full, none. The cost: one `setsockopt()` per
/// connection (as before) and one more `write()` per 250 ms a worker is
/// blocked. Also the release bound's slack: a client that stops reading
/// is cut at most idle timeout + this after the server's last progress.
pub const MIN_RATE_SAMPLE: Duration = Duration::from_millis(250);

/// Longest duration any limit may be: a year. Far beyond any sane setting,
/// and small enough that adding it to the clock can never overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

impl Limits {
    /// Checks that every bound makes sense, naming the first that does not:
    /// at least one worker, timeouts that are `None` or at least 1 ms (a
    /// zero socket timeout would mean "none" to the kernel), durations at
    /// most [`MAX_DURATION`], and a back-off that actually grows.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return Err(format!("workers must be from 1 to {MAX_WORKERS}"));
        }
        if !(1..=1024).contains(&self.udp_workers) {
            return Err("udp_workers must be from 1 to 1024".into());
        }
        if self.stack_size < 64 * 1024 {
            return Err("stack_size must be at least 64 KiB".into());
        }
        let ms = Duration::from_millis(1);
        for (name, d) in [
            ("idle_timeout", self.idle_timeout),
            ("max_conn_time", self.max_conn_time),
            ("header_timeout", self.header_timeout),
            ("drain_timeout", Some(self.drain_timeout)),
            ("accept_backoff_min", Some(self.accept_backoff_min)),
            ("accept_backoff_max", Some(self.accept_backoff_max)),
            ("ping_interval", Some(self.ping_interval)),
            ("ping_timeout", Some(self.ping_timeout)),
        ] {
            match d {
                Some(d) if d > MAX_DURATION => {
                    return Err(format!("{name} must be at most one year"))
                }
                Some(d) if d < ms && name != "drain_timeout" => {
                    return Err(format!("{name} must be at least 1 ms (or None where allowed)"))
                }
                _ => {}
            }
        }
        if !(1..=MAX_WS_MESSAGE).contains(&self.ws_max_message) {
            return Err(format!("ws_max_message must be from 1 to {MAX_WS_MESSAGE} bytes"));
        }
        if self.max_per_ip > MAX_WORKERS {
            return Err(format!("max_per_ip must be from 0 (off) to {MAX_WORKERS}"));
        }
        if self.accept_backoff_max < self.accept_backoff_min {
            return Err("accept_backoff_max must be at least accept_backoff_min".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_message_limit_is_from_1_byte_to_64_mib() {
        let with = |n| Limits { ws_max_message: n, ..Limits::default() }.validate();
        assert_eq!(Limits::default().ws_max_message, 1 << 20);
        assert!(with(1).is_ok() && with(MAX_WS_MESSAGE).is_ok());
        for bad in [0, MAX_WS_MESSAGE + 1] {
            let e = with(bad).unwrap_err();
            assert!(e.starts_with("ws_max_message must be from 1 to 67108864"), "{e}");
        }
    }
}
