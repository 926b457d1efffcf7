//! `sockref bench`: a load generator for any echo server, std only.
//!
//! Four workloads, each the textbook client's life in a loop:
//!
//! ```text
//! pingpong  connect() once; then write() SIZE bytes, read() them back, ... (N connections)
//! churn     connect() -> write() -> read() -> close(), again and again
//! udp       sendto() SIZE bytes -> recvfrom() the echo, with a timeout (loss counted)
//! idle      connect() N times, one small echo each, then hold them (memory tests)
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
//! What it does not do: open-loop (fixed arrival rate) load. Each connection
//! or thread has one request in flight, so latencies include queueing behind
//! the client's own previous requests, as in any closed-loop benchmark. In
//! pingpong with more connections than threads, a thread writes on all its
//! connections and then reads them in turn, so one latency includes serving
//! the thread's other connections' echoes (lockstep rounds).

pub mod histogram;
pub mod report;

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use histogram::Histogram;
pub use report::Report;

use crate::error::Error;

/// The workload a bench run drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Persistent TCP connections, one round trip after another on each.
    Pingpong,
    /// A new TCP connection per request: connect, write, read, close.
    Churn,
    /// One datagram in flight per thread, echo awaited with a timeout.
    Udp,
    /// Open connections, echo once on each, hold them for the duration.
    Idle,
}

impl Mode {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Pingpong => "pingpong",
            Mode::Churn => "churn",
            Mode::Udp => "udp",
            Mode::Idle => "idle",
        }
    }
}

/// When a run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this long (measured, not counting the warm-up).
    Duration(Duration),
    /// After this many measured requests in total, over all threads.
    Requests(u64),
}

/// Everything one bench run needs. [`BenchOptions::default`] is what
/// `sockref bench ADDR` runs with no other flag.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The server (host:port).
    pub addr: String,
    /// The workload.
    pub mode: Mode,
    /// TCP connections (pingpong, idle).
    pub conns: usize,
    /// Client threads.
    pub threads: usize,
    /// Payload bytes per request.
    pub size: usize,
    /// When to stop.
    pub stop: Stop,
    /// Traffic before measuring starts (connections are opened first).
    /// Idle mode has none: it holds for the whole duration.
    pub warmup: Duration,
    /// Read/write/connect timeout of every socket; a UDP echo not back by
    /// then is lost.
    pub timeout: Duration,
    /// Print the once-a-second progress line (still only on a terminal).
    pub progress: bool,
    /// Report as one JSON object instead of the human table.
    pub json: bool,
    /// The server's process id, to report the CPU it used while measuring
    /// (Linux `/proc`): the server's cost per request, next to the client's.
    pub server_pid: Option<u32>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            addr: "127.0.0.1:4000".to_string(),
            mode: Mode::Pingpong,
            conns: 10,
            threads: 2,
            size: 64,
            stop: Stop::Duration(Duration::from_secs(5)),
            warmup: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            progress: true,
            json: false,
            server_pid: None,
        }
    }
}

/// Largest `--size`: a lockstep round trip with more than the socket
/// buffers hold could block both sides; 1 MiB stays well inside the
/// Linux defaults that autotune to several MiB on loopback.
pub const MAX_SIZE: usize = 1 << 20;

/// Errors counted by kind: the key is a short name (`timeout`, `reset`,
/// `refused`, `mismatch`, `closed`, `lost`, ...).
pub type ErrorCounts = BTreeMap<&'static str, u64>;

/// What one client thread measured.
#[derive(Default)]
struct ThreadResult {
    hist: Histogram,
    requests: u64,
    errors: ErrorCounts,
    warmup_errors: u64,
    held: u64,
    stale: u64,
    /// When this thread made its last request.
    finished: Option<Instant>,
    /// This thread's CPU clock when measuring started, and the CPU it used
    /// from then to its end.
    cpu_start: Option<Duration>,
    cpu: Option<Duration>,
}

/// State every client thread shares: the clock and the progress counters.
struct Shared {
    opts: BenchOptions,
    addr: SocketAddr,
    /// Measurement starts here (after connecting and the warm-up).
    measure_from: std::sync::OnceLock<Instant>,
    /// Duration runs: when measuring ends. Set, like `measure_from`,
    /// before the client threads are let go.
    deadline: std::sync::OnceLock<Instant>,
    /// Connecting (and idle mode's one echo per connection) must be done
    /// by then: one `--timeout` after the threads start, however many
    /// connections there are.
    setup_until: Instant,
    stop: AtomicBool,
    done: AtomicU64,
    failed: AtomicU64,
    /// Measured requests still to be made (`Stop::Requests`).
    budget: AtomicU64,
}

impl Shared {
    fn measuring(&self, now: Instant) -> bool {
        self.measure_from.get().is_some_and(|t| now >= *t)
    }

    /// Duration runs: no call may still be waiting one `--timeout` after
    /// the deadline. A call started before the deadline waits at most one
    /// timeout anyway; this bounds the calls after it (the further reads
    /// of a large echo, the rest of a lockstep round).
    fn hard_end(&self) -> Option<Instant> {
        self.deadline.get().map(|d| *d + self.opts.timeout)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Takes up to `want` requests from the shared budget; 0 means stop.
    fn take(&self, want: u64, now: Instant) -> u64 {
        if self.stop.load(Ordering::Relaxed) {
            return 0;
        }
        match self.opts.stop {
            Stop::Duration(_) => want,
            Stop::Requests(_) if !self.measuring(now) => want,
            Stop::Requests(_) => {
                let mut left = self.budget.load(Ordering::Relaxed);
                loop {
                    let n = left.min(want);
                    if n == 0 {
                        return 0;
                    }
                    match self.budget.compare_exchange_weak(
                        left,
                        left - n,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return n,
                        Err(now_left) => left = now_left,
                    }
                }
            }
        }
    }
}

/// The starting gate: client threads check in once connected and wait
/// until the main thread opens it, so all of them start together.
#[derive(Default)]
struct Gate {
    state: std::sync::Mutex<(usize, bool)>,
    changed: std::sync::Condvar,
}

impl Gate {
    /// Called by a client thread: count me in, and wait for the start if
    /// `wait`.
    fn arrive(&self, wait: bool) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.0 += 1;
        self.changed.notify_all();
        while wait && !st.1 {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Called by the main thread: wait until `n` threads have arrived (or
    /// ended, see `client`).
    fn wait_for(&self, n: usize) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while st.0 < n {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn open(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.1 = true;
        self.changed.notify_all();
    }
}

/// A client thread's place at the gate: it checks in exactly once, either
/// through [`Arrival::arrive`] or, if the thread ends or panics before
/// that, when this is dropped, so that the main thread never waits for a
/// thread that will not come.
struct Arrival<'a> {
    gate: &'a Gate,
    arrived: bool,
}

impl Arrival<'_> {
    /// Checks in and waits for the start.
    fn arrive(&mut self) {
        if !self.arrived {
            self.arrived = true;
            self.gate.arrive(true);
        }
    }
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        if !self.arrived {
            self.gate.arrive(false);
        }
    }
}

/// The name an I/O error is counted under.
fn kind(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timeout",
        io::ErrorKind::ConnectionRefused => "refused",
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => "reset",
        io::ErrorKind::BrokenPipe => "broken-pipe",
        io::ErrorKind::UnexpectedEof => "closed",
        io::ErrorKind::InvalidData => "mismatch",
        io::ErrorKind::AddrNotAvailable => "no-port",
        _ => match e.raw_os_error() {
            Some(24) => "too-many-files", // EMFILE
            _ => "other",
        },
    }
}

impl ThreadResult {
    /// Notes the thread's CPU clock at its first measured request.
    fn measuring(&mut self, measured: bool) -> bool {
        if measured && self.cpu_start.is_none() {
            self.cpu_start = thread_cpu();
        }
        measured
    }

    /// Counts one failure of `kind`: in the report's errors if it
    /// happened while measuring (or while setting up, which every run
    /// needs), apart as a warm-up error otherwise, the same rule as for
    /// requests, so that errors and requests cover the same time.
    fn count(&mut self, kind: &'static str, measured: bool, shared: &Shared) {
        if measured {
            *self.errors.entry(kind).or_insert(0) += 1;
            shared.failed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.warmup_errors += 1;
        }
    }

    fn error(&mut self, e: &io::Error, measured: bool, shared: &Shared) {
        self.count(kind(e), measured, shared);
    }
}

/// The bytes request number `seq` sends: a window into a pattern that does
/// not repeat within 251 bytes, starting at a different place each time, so
/// an echo of an earlier request does not verify.
struct Payload {
    pattern: Vec<u8>,
    size: usize,
}

impl Payload {
    fn new(size: usize) -> Self {
        Payload {
            pattern: (0..size + 251).map(|i| (i % 251) as u8).collect(),
            size,
        }
    }

    fn get(&self, seq: u64) -> &[u8] {
        let start = (seq % 251) as usize;
        &self.pattern[start..start + self.size]
    }
}

fn socket_setup(s: &TcpStream, timeout: Duration) -> io::Result<()> {
    // Nagle would hold back a small write while the previous reply's ACK is
    // outstanding; a latency benchmark must not measure that.
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))
}

/// How long a call may wait now: `timeout`, but not past `end`; an error
/// (counted as `timeout`) once `end` has passed.
fn wait_left(timeout: Duration, end: Option<Instant>) -> io::Result<Duration> {
    let Some(end) = end else {
        return Ok(timeout);
    };
    let left = end.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::from(io::ErrorKind::TimedOut));
    }
    Ok(left.min(timeout))
}

/// Shortens `s`'s read and write timeouts when `end` is less than one
/// timeout away, so that no call on it waits past `end`. Far from `end`
/// (the whole measured time of a run) it costs no system call.
fn bound(s: &TcpStream, timeout: Duration, end: Option<Instant>) -> io::Result<()> {
    let left = wait_left(timeout, end)?;
    if left < timeout {
        s.set_read_timeout(Some(left))?;
        s.set_write_timeout(Some(left))?;
    }
    Ok(())
}

fn connect(shared: &Shared, end: Option<Instant>) -> io::Result<TcpStream> {
    let wait = wait_left(shared.opts.timeout, end)?;
    let s = TcpStream::connect_timeout(&shared.addr, wait)?;
    socket_setup(&s, wait)?;
    Ok(s)
}

/// Reads exactly `expect.len()` bytes into `buf` and checks they equal
/// `expect`. EOF before that is `closed`, a difference is `mismatch`; no
/// read waits past `end`.
fn read_echo(
    s: &mut TcpStream,
    buf: &mut [u8],
    expect: &[u8],
    timeout: Duration,
    end: Option<Instant>,
) -> io::Result<()> {
    let buf = &mut buf[..expect.len()];
    let mut got = 0;
    while got < buf.len() {
        bound(s, timeout, end)?;
        match s.read(&mut buf[got..]) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if buf != expect {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "echo differs"));
    }
    Ok(())
}

/// Runs one bench and returns its report. Fails only if the address does
/// not resolve or no client thread can be started; failed requests are
/// counted in the report, not returned.
pub fn run(opts: &BenchOptions) -> Result<Report, Error> {
    let addrs: Vec<SocketAddr> = opts
        .addr
        .to_socket_addrs()
        .map_err(|e| Error::new("getaddrinfo()", Some(opts.addr.clone()), e))?
        .collect();
    let addr = pick_addr(&addrs, opts).ok_or_else(|| {
        Error::new(
            "getaddrinfo()",
            Some(opts.addr.clone()),
            io::Error::new(io::ErrorKind::NotFound, "no address"),
        )
    })?;
    let threads = opts.threads.max(1);
    let budget = match opts.stop {
        Stop::Requests(n) => n,
        Stop::Duration(_) => u64::MAX,
    };
    let shared = Arc::new(Shared {
        opts: opts.clone(),
        addr,
        measure_from: std::sync::OnceLock::new(),
        deadline: std::sync::OnceLock::new(),
        setup_until: Instant::now() + opts.timeout,
        stop: AtomicBool::new(false),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        budget: AtomicU64::new(budget),
    });
    // Spread connections as evenly as possible: thread t gets conns/threads,
    // plus one of the remainder.
    let conns = opts.conns.max(1);
    let ready = Arc::new(Gate::default());
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let mine = conns / threads + usize::from(t < conns % threads);
        let client_shared = Arc::clone(&shared);
        let client_ready = Arc::clone(&ready);
        let h = thread::Builder::new()
            .name(format!("bench-{t}"))
            .stack_size(256 * 1024)
            .spawn(move || client(t, mine, &client_shared, &client_ready))
            .map_err(|e| Error::new("pthread_create()", None, e));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                // Release the threads already started; they see the stop.
                shared.stop.store(true, Ordering::Relaxed);
                ready.open();
                return Err(e);
            }
        }
    }
    // Every thread has connected (pingpong, idle) before the clock starts.
    ready.wait_for(threads);
    let start = Instant::now();
    // Idle mode has no traffic to warm up: it holds for the duration.
    let warmup = if opts.mode == Mode::Idle {
        Duration::ZERO
    } else {
        opts.warmup
    };
    let measure_from = start + warmup;
    let _ = shared.measure_from.set(measure_from);
    let deadline = match opts.stop {
        Stop::Duration(d) => Some(measure_from + d),
        Stop::Requests(_) => None,
    };
    if let Some(d) = deadline {
        let _ = shared.deadline.set(d);
    }
    // The clock is set before the threads are let go, so they all see it.
    ready.open();
    let progress = opts.progress && io::stderr().is_terminal();
    // The main thread keeps time: it ends duration runs, samples the
    // server's CPU clock when measuring starts, and prints progress.
    let mut last_print = start;
    // With no warm-up the window starts now, before the first check below
    // (a short run may be over by then).
    let mut server_from = warmup
        .is_zero()
        .then(|| opts.server_pid.and_then(process_cpu));
    while !handles.iter().all(|h| h.is_finished()) {
        let now = Instant::now();
        if server_from.is_none() && now >= measure_from {
            server_from = Some(opts.server_pid.and_then(process_cpu));
        }
        if deadline.is_some_and(|d| now >= d) {
            shared.stop.store(true, Ordering::Relaxed);
        }
        if progress && now.duration_since(last_print) >= Duration::from_secs(1) {
            last_print = now;
            let secs = now.saturating_duration_since(measure_from).as_secs_f64();
            let done = shared.done.load(Ordering::Relaxed);
            eprint!(
                "\r{:>6.1} s  {:>10} requests  {:>10.0} req/s  {} errors   ",
                now.duration_since(start).as_secs_f64(),
                done,
                if secs > 0.0 { done as f64 / secs } else { 0.0 },
                shared.failed.load(Ordering::Relaxed),
            );
        }
        let nap = deadline.map_or(Duration::from_millis(5), |d| {
            d.saturating_duration_since(now)
                .clamp(Duration::from_micros(100), Duration::from_millis(5))
        });
        thread::sleep(nap);
    }
    let mut end = Instant::now();
    if progress {
        // Blank the progress line so that only the report remains.
        eprint!("\r{:78}\r", "");
    }
    let server_cpu = match (server_from.flatten(), opts.server_pid.and_then(process_cpu)) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let mut cpu_used: Option<Duration> = None;
    let mut total = ThreadResult::default();
    let mut panicked = 0;
    for h in handles {
        match h.join() {
            Ok(r) => {
                total.hist.merge(&r.hist);
                total.requests += r.requests;
                total.held += r.held;
                total.stale += r.stale;
                if let Some(c) = r.cpu {
                    cpu_used = Some(cpu_used.unwrap_or_default() + c);
                }
                // The polling above notices the end up to 5 ms late; the
                // threads' own clocks say when the last request finished.
                if let Some(f) = r.finished {
                    end = if total.finished.is_none() {
                        f
                    } else {
                        end.max(f)
                    };
                    total.finished = Some(end);
                }
                total.warmup_errors += r.warmup_errors;
                for (k, v) in r.errors {
                    *total.errors.entry(k).or_insert(0) += v;
                }
            }
            Err(_) => panicked += 1,
        }
    }
    if panicked > 0 {
        total.errors.insert("client-panic", panicked);
    }
    let elapsed = end.saturating_duration_since(measure_from);
    Ok(Report {
        mode: opts.mode,
        addr,
        conns: if matches!(opts.mode, Mode::Pingpong | Mode::Idle) {
            conns
        } else {
            0
        },
        threads,
        size: opts.size,
        elapsed,
        requests: total.requests,
        held: total.held,
        stale: total.stale,
        errors: total.errors,
        warmup_errors: total.warmup_errors,
        hist: total.hist,
        client_cpu: cpu_used,
        server_cpu,
    })
}

/// The one address a run uses. A name like `localhost` may resolve to
/// several (`::1` and `127.0.0.1`) with the server on only one: for TCP,
/// the first that accepts a connection (one extra connection, made only
/// when there is a choice); for UDP, where nothing answers a probe, and
/// when none accepts, the first.
fn pick_addr(addrs: &[SocketAddr], opts: &BenchOptions) -> Option<SocketAddr> {
    if addrs.len() > 1 && opts.mode != Mode::Udp {
        let accepts = addrs
            .iter()
            .find(|a| TcpStream::connect_timeout(a, opts.timeout).is_ok());
        if let Some(a) = accepts {
            return Some(*a);
        }
    }
    addrs.first().copied()
}

/// CPU time (user + system, all threads) of process `pid` so far, from
/// `/proc/PID/stat`, in the kernel's USER_HZ ticks of 10 ms (100 Hz on every
/// Linux architecture std supports; std cannot ask `sysconf`). Fine over
/// runs of a second or more. `None` if the process or procfs is missing.
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields
    // are counted from the last ')'. utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The calling thread's CPU time so far (user + system), in nanoseconds
/// from `/proc/thread-self/schedstat` (its first field): exact, unlike the
/// 10 ms ticks of `/proc/self/stat`. `None` where there is no procfs.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn client(t: usize, conns: usize, shared: &Shared, gate: &Gate) -> ThreadResult {
    let mut ready = Arrival {
        gate,
        arrived: false,
    };
    let mut r = ThreadResult::default();
    match shared.opts.mode {
        Mode::Pingpong => {
            let mut socks = open(conns, shared, &mut r);
            ready.arrive();
            pingpong(&mut socks, shared, &mut r);
        }
        Mode::Idle => {
            let socks = open(conns, shared, &mut r);
            let socks = echo_once(socks, shared, &mut r);
            ready.arrive();
            idle(socks, shared, &mut r);
        }
        Mode::Churn => {
            ready.arrive();
            churn(t, shared, &mut r);
        }
        Mode::Udp => {
            let sock = udp_socket(shared);
            ready.arrive();
            match sock {
                Ok(s) => udp(t, &s, shared, &mut r),
                Err(e) => r.error(&e, true, shared),
            }
        }
    }
    r.finished = Some(Instant::now());
    if let (Some(a), Some(b)) = (r.cpu_start, thread_cpu()) {
        r.cpu = Some(b.saturating_sub(a));
    }
    r
}

/// Opens this thread's connections; each failure is counted and skipped.
/// All must be open by `setup_until`: an attempt after that fails at once
/// as a `timeout`, so that a server that stops accepting cannot hold the
/// run for one timeout per connection.
fn open(n: usize, shared: &Shared, r: &mut ThreadResult) -> Vec<TcpStream> {
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        if shared.stopping() {
            break;
        }
        match connect(shared, Some(shared.setup_until)) {
            Ok(s) => socks.push(s),
            // Setting up is part of every run: always counted.
            Err(e) => r.error(&e, true, shared),
        }
    }
    socks
}

/// Lockstep rounds: write one request on every connection, then read every
/// echo. A connection that fails is counted and dropped from the round.
///
/// So with more connections than threads, a latency includes the time the
/// thread spends on the round's other echoes (closed loop, in lockstep).
/// When the run stops, the round is abandoned where it is: requests not
/// yet read back are neither counted nor failed.
fn pingpong(socks: &mut Vec<TcpStream>, shared: &Shared, r: &mut ThreadResult) {
    let payload = Payload::new(shared.opts.size);
    let mut buf = vec![0u8; shared.opts.size];
    let mut sent_at = vec![Instant::now(); socks.len()];
    let mut ok = vec![true; socks.len()];
    let mut seq = 0u64;
    let (timeout, end) = (shared.opts.timeout, shared.hard_end());
    while !socks.is_empty() {
        let now = Instant::now();
        let n = shared.take(socks.len() as u64, now) as usize;
        if n == 0 {
            break;
        }
        let measured = r.measuring(shared.measuring(now));
        for (i, s) in socks[..n].iter_mut().enumerate() {
            if shared.stopping() {
                return;
            }
            sent_at[i] = Instant::now();
            let sent =
                bound(s, timeout, end).and_then(|()| s.write_all(payload.get(seq + i as u64)));
            ok[i] = match sent {
                Ok(()) => true,
                Err(e) => {
                    r.error(&e, measured, shared);
                    false
                }
            };
        }
        let mut done = 0;
        for (i, s) in socks[..n].iter_mut().enumerate() {
            if !ok[i] {
                continue;
            }
            if shared.stopping() {
                shared.done.fetch_add(done, Ordering::Relaxed);
                return;
            }
            match read_echo(s, &mut buf, payload.get(seq + i as u64), timeout, end) {
                Ok(()) => {
                    if measured {
                        r.hist.record(sent_at[i].elapsed().as_nanos() as u64);
                        r.requests += 1;
                        done += 1;
                    }
                }
                Err(e) => {
                    r.error(&e, measured, shared);
                    ok[i] = false;
                }
            }
        }
        seq += n as u64;
        shared.done.fetch_add(done, Ordering::Relaxed);
        // Failed connections leave the set (in reverse, so indices hold).
        for i in (0..n).rev() {
            if !ok[i] {
                socks.swap_remove(i);
                ok.swap_remove(i);
                sent_at.swap_remove(i);
            }
        }
    }
}

/// The textbook client, again and again: connect, write, read, close.
fn churn(t: usize, shared: &Shared, r: &mut ThreadResult) {
    let payload = Payload::new(shared.opts.size);
    let mut buf = vec![0u8; shared.opts.size];
    let mut seq = t as u64;
    let (timeout, end) = (shared.opts.timeout, shared.hard_end());
    loop {
        let now = Instant::now();
        if shared.take(1, now) == 0 {
            break;
        }
        let measured = r.measuring(shared.measuring(now));
        let expect = payload.get(seq);
        seq += 1;
        let result = connect(shared, end).and_then(|mut s| {
            s.write_all(expect)?;
            read_echo(&mut s, &mut buf, expect, timeout, end)
            // close(): the client closes first, so TIME_WAIT stays here.
        });
        match result {
            Ok(()) if measured => {
                r.hist.record(now.elapsed().as_nanos() as u64);
                r.requests += 1;
                shared.done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(()) => {}
            Err(e) => r.error(&e, measured, shared),
        }
    }
}

fn udp_socket(shared: &Shared) -> io::Result<UdpSocket> {
    let local: SocketAddr = if shared.addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(local)?;
    // connect(): the kernel then drops datagrams from anyone but the server.
    s.connect(shared.addr)?;
    s.set_read_timeout(Some(shared.opts.timeout))?;
    s.set_write_timeout(Some(shared.opts.timeout))?;
    Ok(s)
}

/// One datagram in flight: send, wait for the echo carrying this sequence
/// number (the first 8 bytes), count it lost after the timeout. An echo of
/// an earlier, already-lost datagram is `stale` and skipped.
fn udp(t: usize, s: &UdpSocket, shared: &Shared, r: &mut ThreadResult) {
    let size = shared.opts.size.max(8);
    let mut out = Payload::new(size).get(t as u64).to_vec();
    let mut buf = vec![0u8; size + 1];
    // Thread number in the top bits: no two threads send the same sequence.
    let mut seq = (t as u64) << 48;
    let mut backoff = Duration::ZERO;
    'requests: loop {
        let now = Instant::now();
        if shared.take(1, now) == 0 {
            break;
        }
        let measured = r.measuring(shared.measuring(now));
        seq += 1;
        out[..8].copy_from_slice(&seq.to_be_bytes());
        if let Err(e) = s.send(&out) {
            r.error(&e, measured, shared);
            // A send that keeps failing fails at once: without a pause
            // the thread would spin at full CPU, taking it from the server
            // and counting errors by the million. 1 ms, doubling to 100 ms.
            backoff = (backoff * 2).clamp(Duration::from_millis(1), Duration::from_millis(100));
            thread::sleep(backoff);
            continue;
        }
        backoff = Duration::ZERO;
        let deadline = now + shared.opts.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
                r.count("lost", measured, shared);
                continue 'requests;
            }
            match s.recv(&mut buf) {
                Ok(n) if n >= 8 && buf[..8] != out[..8] => r.stale += 1,
                Ok(n) if buf[..n] == out[..] => break,
                Ok(_) => {
                    r.count("mismatch", measured, shared);
                    continue 'requests;
                }
                Err(e) if matches!(kind(&e), "timeout") => {
                    r.count("lost", measured, shared);
                    continue 'requests;
                }
                Err(e) => {
                    r.error(&e, measured, shared);
                    continue 'requests;
                }
            }
        }
        if measured {
            r.hist.record(now.elapsed().as_nanos() as u64);
            r.requests += 1;
            shared.done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Idle mode's setup: one echo on every connection, so the server has
/// demonstrably accepted and is serving it. All requests are written
/// first, then the echoes read, all within one timeout: a server serving
/// fewer connections than were opened answers the rest with `timeout`
/// errors after one timeout, not one timeout each. The latency recorded
/// for each runs from the first write, so it includes the other writes and
/// the echoes read before it. Returns the connections that echoed.
fn echo_once(mut socks: Vec<TcpStream>, shared: &Shared, r: &mut ThreadResult) -> Vec<TcpStream> {
    let payload = Payload::new(shared.opts.size);
    let expect = payload.get(0);
    let mut buf = vec![0u8; shared.opts.size];
    let timeout = shared.opts.timeout;
    let end = Some(Instant::now() + timeout);
    let started = Instant::now();
    socks.retain_mut(
        |s| match bound(s, timeout, end).and_then(|()| s.write_all(expect)) {
            Ok(()) => true,
            Err(e) => {
                r.error(&e, true, shared);
                false
            }
        },
    );
    socks.retain_mut(|s| match read_echo(s, &mut buf, expect, timeout, end) {
        Ok(()) => {
            r.hist.record(started.elapsed().as_nanos() as u64);
            r.requests += 1;
            shared.done.fetch_add(1, Ordering::Relaxed);
            true
        }
        Err(e) => {
            r.error(&e, true, shared);
            false
        }
    });
    socks
}

/// Holds the connections until the run stops, then counts how many are
/// still open.
fn idle(socks: Vec<TcpStream>, shared: &Shared, r: &mut ThreadResult) {
    // Hold: the main thread sets `stop` at the deadline (or at once for
    // `--requests`, where there is nothing to count down).
    while !shared.stopping() && matches!(shared.opts.stop, Stop::Duration(_)) {
        thread::sleep(Duration::from_millis(10));
    }
    // Still open = a non-blocking peek finds no EOF and no error.
    for s in &socks {
        let mut b = [0u8; 1];
        let open = s.set_nonblocking(true).is_ok()
            && matches!(s.peek(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        if open {
            r.held += 1;
        } else {
            r.count("dropped", true, shared);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_sends_different_bytes() {
        let p = Payload::new(64);
        assert_eq!(p.get(0).len(), 64);
        assert_ne!(p.get(0), p.get(1));
        // The pattern repeats only every 251 requests, far more than one
        // connection ever has in flight.
        assert_eq!(p.get(3), p.get(254));
    }

    #[test]
    fn errors_are_counted_under_short_names() {
        use io::ErrorKind::*;
        for (k, name) in [
            (TimedOut, "timeout"),
            (WouldBlock, "timeout"),
            (ConnectionRefused, "refused"),
            (ConnectionReset, "reset"),
            (UnexpectedEof, "closed"),
            (InvalidData, "mismatch"),
        ] {
            assert_eq!(kind(&io::Error::from(k)), name);
        }
        assert_eq!(kind(&io::Error::from_raw_os_error(24)), "too-many-files");
    }

    #[test]
    fn own_process_cpu_is_readable() {
        // Burn a little CPU so that at least one tick has been counted.
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(process_cpu(std::process::id()).is_some());
        assert!(thread_cpu().is_some_and(|c| c > Duration::ZERO));
        assert_eq!(process_cpu(u32::MAX), None);
    }

    #[test]
    fn a_thread_that_panics_before_the_gate_is_still_counted_in() {
        let gate = Arc::new(Gate::default());
        let g = Arc::clone(&gate);
        let ended = thread::spawn(move || {
            let _ready = Arrival {
                gate: &g,
                arrived: false,
            };
            panic!("before the gate");
        })
        .join();
        assert!(ended.is_err());
        // The main thread's wait_for(1) would return: one thread counted.
        let st = gate.state.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(st.0, 1);
    }

    #[test]
    fn the_first_address_that_accepts_is_used() -> io::Result<()> {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let open = std::net::TcpListener::bind("127.0.0.1:0")?;
        let listening = open.local_addr()?;
        let opts = BenchOptions::default();
        assert_eq!(pick_addr(&[closed, listening], &opts), Some(listening));
        // Nothing accepts: the first, whose refusals the run then counts.
        drop(open);
        assert_eq!(pick_addr(&[closed, listening], &opts), Some(closed));
        // UDP cannot be probed: the first.
        let udp = BenchOptions {
            mode: Mode::Udp,
            ..BenchOptions::default()
        };
        assert_eq!(pick_addr(&[closed, listening], &udp), Some(closed));
        assert_eq!(pick_addr(&[], &opts), None);
        Ok(())
    }

    #[test]
    fn requests_budget_is_shared_exactly() {
        let shared = Shared {
            opts: BenchOptions {
                stop: Stop::Requests(10),
                ..BenchOptions::default()
            },
            addr: ([127, 0, 0, 1], 9).into(),
            measure_from: std::sync::OnceLock::new(),
            deadline: std::sync::OnceLock::new(),
            setup_until: Instant::now(),
            stop: AtomicBool::new(false),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            budget: AtomicU64::new(10),
        };
        let t0 = Instant::now();
        // Before measuring starts (warm-up) nothing is taken from the budget.
        assert_eq!(shared.take(4, t0), 4);
        let _ = shared.measure_from.set(t0);
        assert_eq!(shared.take(4, t0), 4);
        assert_eq!(shared.take(4, t0), 4);
        assert_eq!(shared.take(4, t0), 2);
        assert_eq!(shared.take(4, t0), 0);
    }
}
