//! `sockref bench`: a load generator for any echo server, std only.
//!
//! Seven workloads, each the textbook client's life in a loop:
//!
//! ```text
//! pingpong  connect() once; then write() SIZE bytes, read() them back, ... (N connections)
//! churn     connect() -> write() -> read() -> close(), again and again
//! udp       sendto() SIZE bytes -> recvfrom() the echo, with a timeout (loss counted)
//! idle      connect() N times, one small echo each, then hold them (memory tests)
//! http      connect() N times, then GET /plaintext, DEPTH at a time, on each ([`http`])
//! http-close connect() -> GET /plaintext (Connection: close) -> read the 200 -> close()
//! websocket connect() -> upgrade once; then a message echoed, raw or as a Socket.IO
//!           event ([`websocket`]), with its bytes on the wire counted
//! ```
//!
//! Every echoed byte is compared with what was sent (a different payload each
//! request, so a stale or misrouted reply is caught); a mismatch is an error,
//! counted by kind. Latencies go into one [`Histogram`] per client thread,
//! merged at the end. Nothing waits forever: every socket has a read and
//! write timeout; connecting all of a run's connections takes at most one
//! timeout in all (idle mode's one echo on each, one more); a duration run
//! stops at its deadline and waits at most one timeout beyond it, leaving
//! the requests then in flight uncounted.
//!
//! The generator's own cost is part of the report (`client cpu`, from each
//! client thread's `/proc/thread-self/schedstat`): on a machine where client
//! and server share the cores, whatever the client burns is taken from the
//! server. It is about 8-9 us of CPU per 64-byte round trip on the benchmark
//! machine, almost all of it the kernel's `sendto` and `recvfrom`, the same
//! as the comparison harness's own generator. BENCHMARKS.md shows how to
//! check it from outside with `/usr/bin/time -v`.
//!
//! `ADDR` may also be `unix:PATH`, a Unix-domain server: pingpong, churn
//! and idle then connect stream sockets to PATH, and udp sends from a
//! datagram socket bound to a temporary path of its own (a server cannot
//! answer an unnamed one), removed when the thread ends. One wait is not
//! bounded there: std cannot give a Unix-domain `connect()` a timeout, and
//! it blocks while the server's listen backlog is full.
//!
//! The files, one concern each: [`options`] (what to run, and what is
//! refused), `workloads` (the echo client loops), [`http`] (the HTTP
//! ones), `sockets` (connecting and reading back, every wait bounded),
//! `sync` (the shared clock, budget and starting gate), `tally` (one
//! thread's counts), `cpu` (`/proc` clocks), [`report`] and [`histogram`].
//! This file is the run itself: resolve, open, warm up, measure, report.
//!
//! `sockref compare` is built on it: [`compare`] (the rounds and the
//! records), [`launch`] (starting, probing and stopping a server process),
//! [`summary`] (medians, spread, ratios, the Markdown table) and [`chart`]
//! (the SVG).
//!
//! Closed loop, the default: each connection or thread has one request in
//! flight, so latencies include queueing behind the client's own previous
//! requests, and a server stall stops the client asking (coordinated
//! omission). In pingpong with more connections than threads, a thread
//! writes on all its connections and then reads them in turn, so one
//! latency includes serving the thread's other connections' echoes
//! (lockstep rounds). Open loop (`--rate`, [`open`]) sends on a schedule
//! instead and measures each latency from the request's due time; it runs
//! pingpong, http and udp. [`curve`] sums up `compare --rates`.

pub mod chart;
pub mod compare;
pub mod curve;
pub mod histogram;
pub mod http;
pub mod launch;
pub mod open;
pub mod options;
pub mod report;
pub mod summary;

mod cpu;
mod sockets;
mod sync;
mod tally;
pub mod websocket;
mod workloads;

use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use histogram::Histogram;
pub use options::{BenchOptions, Mode, Stop, MAX_FLOWS, MAX_PIPELINE, MAX_RATE, MAX_SIZE};
pub use report::Report;
pub use tally::ErrorCounts;
pub use websocket::Framing;

use crate::error::Error;
use crate::net::{self, Address, Endpoint};
use crate::transport::Stream;
use cpu::process_cpu;
use sync::{Gate, Shared};
use tally::ThreadResult;

/// Runs one bench and returns its report. Fails only if the options are
/// refused by [`BenchOptions::validate`], the address does not resolve or
/// no client thread can be started; failed requests are counted in the
/// report, not returned.
pub fn run(opts: &BenchOptions) -> Result<Report, Error> {
    opts.validate().map_err(|msg| {
        Error::new("options", None, io::Error::new(io::ErrorKind::InvalidInput, msg))
    })?;
    let addr = target(opts)?;
    let shared = Arc::new(Shared::new(opts, addr));
    let gate = Arc::new(Gate::default());
    let slack = opts.rate.and_then(|_| open::tighten_timer_slack());
    // Every thread has connected (pingpong, idle) before the clock starts.
    let clients = start_clients(&shared, &gate);
    open::restore_timer_slack(slack);
    let clients = clients?;
    gate.wait_for(clients.len());
    let clock = Clock::set(&shared);
    gate.open();
    let (server_cpu, now) = keep_time(&shared, &clock, &clients);
    let (total, panicked) = collect(clients);
    Ok(report(&shared, &clock, total, panicked, server_cpu, now))
}

/// The server to run against: a Unix-domain path as it is, a `host:port`
/// resolved (see [`pick_addr`]).
fn target(opts: &BenchOptions) -> Result<Endpoint, Error> {
    let refused = |msg| {
        Error::new(
            "getaddrinfo()",
            Some(opts.addr.clone()),
            io::Error::new(io::ErrorKind::InvalidInput, msg),
        )
    };
    match Address::parse(&opts.addr).map_err(refused)? {
        Address::Unix(path) => Ok(Endpoint::Unix(Some(path))),
        Address::Inet(host_port) => {
            let addrs = net::resolve(&host_port)?;
            Ok(Endpoint::Inet(pick_addr(&addrs, opts)))
        }
    }
}

/// The one address a run uses. A name like `localhost` may resolve to
/// several (`::1` and `127.0.0.1`) with the server on only one: for TCP,
/// the first that accepts a connection (one extra connection, made only
/// when there is a choice); for UDP, where nothing answers a probe, and
/// when none accepts, the first. `addrs` is never empty.
fn pick_addr(addrs: &[SocketAddr], opts: &BenchOptions) -> SocketAddr {
    if addrs.len() > 1 && opts.mode != Mode::Udp {
        let accepts = addrs.iter().find(|a| Stream::connect_inet(**a, Some(opts.timeout)).is_ok());
        if let Some(a) = accepts {
            return *a;
        }
    }
    addrs[0]
}

/// Starts one client thread per `--threads`, connections spread as evenly
/// as possible: thread t gets conns/threads, plus one of the remainder.
/// Open loop: each thread takes every T-th connection (see [`open`]).
fn start_clients(
    shared: &Arc<Shared>,
    gate: &Arc<Gate>,
) -> Result<Vec<JoinHandle<ThreadResult>>, Error> {
    let threads = shared.opts.threads;
    let conns = shared.opts.conns;
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let mine = conns / threads + usize::from(t < conns % threads);
        let client_shared = Arc::clone(shared);
        let client_gate = Arc::clone(gate);
        let h = thread::Builder::new().name(format!("bench-{t}")).stack_size(256 * 1024).spawn(
            move || match client_shared.opts.rate {
                Some(_) => open::client(t, &client_shared, &client_gate),
                None => workloads::client(t, mine, &client_shared, &client_gate),
            },
        );
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                // Release the threads already started; they see the stop.
                shared.stop.store(true, Ordering::Relaxed);
                gate.open();
                return Err(Error::new("pthread_create()", None, e));
            }
        }
    }
    Ok(handles)
}

/// When the run's phases begin and end, set once every client is ready.
struct Clock {
    start: Instant,
    warmup: Duration,
    measure_from: Instant,
    deadline: Option<Instant>,
}

impl Clock {
    /// Starts the warm-up now and tells the clients when measuring starts
    /// and ends: set before the threads are let go, so they all see it.
    fn set(shared: &Shared) -> Clock {
        let opts = &shared.opts;
        let start = Instant::now();
        let _ = shared.start.set(start);
        // Idle mode has no traffic to warm up: it holds for the duration.
        let warmup = if opts.mode == Mode::Idle { Duration::ZERO } else { opts.warmup };
        let measure_from = start + warmup;
        let _ = shared.measure_from.set(measure_from);
        let deadline = match opts.stop {
            Stop::Duration(d) => Some(measure_from + d),
            Stop::Requests(_) => None,
        };
        if let Some(d) = deadline {
            let _ = shared.deadline.set(d);
        }
        Clock { start, warmup, measure_from, deadline }
    }
}

/// The main thread's part while the clients run: it ends duration runs,
/// samples the server's CPU clock when measuring starts, and prints
/// progress. Returns the CPU the server used while measuring, and when
/// the last client was seen ending.
fn keep_time(
    shared: &Shared,
    clock: &Clock,
    clients: &[JoinHandle<ThreadResult>],
) -> (Option<Duration>, Instant) {
    let opts = &shared.opts;
    let progress = opts.progress && io::stderr().is_terminal();
    let mut last_print = clock.start;
    // With no warm-up the window starts now, before the first check below
    // (a short run may be over by then).
    let mut server_from = clock.warmup.is_zero().then(|| opts.server_pid.and_then(process_cpu));
    while !clients.iter().all(|h| h.is_finished()) {
        let now = Instant::now();
        if server_from.is_none() && now >= clock.measure_from {
            server_from = Some(opts.server_pid.and_then(process_cpu));
        }
        if clock.deadline.is_some_and(|d| now >= d) {
            shared.stop.store(true, Ordering::Relaxed);
        }
        if progress && now.duration_since(last_print) >= Duration::from_secs(1) {
            last_print = now;
            print_progress(shared, clock, now);
        }
        let nap = clock.deadline.map_or(Duration::from_millis(5), |d| {
            d.saturating_duration_since(now)
                .clamp(Duration::from_micros(100), Duration::from_millis(5))
        });
        thread::sleep(nap);
    }
    let end = Instant::now();
    if progress {
        // Blank the progress line so that only the report remains.
        eprint!("\r{:78}\r", "");
    }
    let server_cpu = match (server_from.flatten(), opts.server_pid.and_then(process_cpu)) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    (server_cpu, end)
}

/// The once-a-second line on a terminal: time, requests, rate, errors.
fn print_progress(shared: &Shared, clock: &Clock, now: Instant) {
    let secs = now.saturating_duration_since(clock.measure_from).as_secs_f64();
    let done = shared.done.load(Ordering::Relaxed);
    eprint!(
        "\r{:>6.1} s  {:>10} requests  {:>10.0} req/s  {} errors   ",
        now.duration_since(clock.start).as_secs_f64(),
        done,
        if secs > 0.0 { done as f64 / secs } else { 0.0 },
        shared.failed.load(Ordering::Relaxed),
    );
}

/// Joins the clients and adds up what they measured; also returns how
/// many panicked.
fn collect(clients: Vec<JoinHandle<ThreadResult>>) -> (ThreadResult, u64) {
    let mut total = ThreadResult::default();
    let mut panicked = 0;
    for h in clients {
        match h.join() {
            Ok(r) => total.merge(r),
            Err(_) => panicked += 1,
        }
    }
    (total, panicked)
}

/// The report of a finished run. `seen_end` is when the main thread saw
/// the last client end, used only if no client said when it finished.
fn report(
    shared: &Shared,
    clock: &Clock,
    mut total: ThreadResult,
    panicked: u64,
    server_cpu: Option<Duration>,
    seen_end: Instant,
) -> Report {
    let opts = &shared.opts;
    if panicked > 0 {
        total.errors.insert("client-panic", panicked);
    }
    let end = total.finished.unwrap_or(seen_end);
    // Open loop: the window holds the requests sent in it, so the achieved
    // rate is over the window, not over the wait for its last answers.
    let elapsed = match (opts.rate, opts.stop) {
        (Some(_), Stop::Duration(d)) => d,
        _ => end.saturating_duration_since(clock.measure_from),
    };
    Report {
        mode: opts.mode,
        addr: shared.addr.clone(),
        conns: if opts.mode.holds_connections() || opts.rate.is_some() { opts.conns } else { 0 },
        pipeline: opts.pipeline,
        threads: opts.threads,
        size: opts.size,
        elapsed,
        requests: total.requests,
        held: total.held,
        stale: total.stale,
        errors: total.errors,
        warmup_errors: total.warmup_errors,
        hist: total.hist,
        client_cpu: total.cpu,
        server_cpu,
        target_rate: opts.rate,
        lag: total.lag,
        unsent: total.unsent,
        first_error: total.first_error,
        wire: (opts.mode == Mode::WebSocket).then_some(report::Wire {
            framing: opts.framing,
            out: total.wire_out,
            inbound: total.wire_in,
            messages: total.wire_msgs,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_address_that_accepts_is_used() -> io::Result<()> {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let open = std::net::TcpListener::bind("127.0.0.1:0")?;
        let listening = open.local_addr()?;
        let opts = BenchOptions::default();
        assert_eq!(pick_addr(&[closed, listening], &opts), listening);
        // Nothing accepts: the first, whose refusals the run then counts.
        drop(open);
        assert_eq!(pick_addr(&[closed, listening], &opts), closed);
        // UDP cannot be probed: the first.
        let udp = BenchOptions { mode: Mode::Udp, ..BenchOptions::default() };
        assert_eq!(pick_addr(&[closed, listening], &udp), closed);
        Ok(())
    }

    #[test]
    fn unix_addresses_are_taken_as_paths_and_bad_ones_refused() {
        let opts = |addr: &str| BenchOptions { addr: addr.to_string(), ..BenchOptions::default() };
        assert_eq!(
            target(&opts("unix:/tmp/x.sock")).ok(),
            Some(Endpoint::Unix(Some("/tmp/x.sock".into())))
        );
        assert_eq!(
            target(&opts("127.0.0.1:9")).ok(),
            Some(Endpoint::Inet(([127, 0, 0, 1], 9).into()))
        );
        for bad in ["nonsense", "unix:", "127.0.0.1:notaport"] {
            let e = target(&opts(bad)).err().map(|e| e.to_string());
            assert!(e.is_some_and(|e| e.starts_with("getaddrinfo() error: ")), "{bad}");
        }
    }

    #[test]
    fn refused_options_fail_the_run_before_any_socket() {
        let opts = BenchOptions { mode: Mode::Udp, size: 4, ..BenchOptions::default() };
        let e = run(&opts).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("at least 8 bytes"), "{e}");
    }
}
