//! Open loop (`--rate R`): requests sent on a fixed schedule, whatever the
//! server does, and each latency measured from the moment its request was
//! *due*, the way wrk2 measures (its README: "A note about wrk2's latency
//! measurement technique").
//!
//! ```text
//! flow j of N (a connection, or a UDP socket):
//!     due(k) = start + j/R + k*N/R          evenly spaced, phases staggered
//!     send request k when due (at once when late); one in flight per flow
//!     latency = answered - due(k)           not answered - sent
//! ```
//!
//! Why: a closed-loop client sends its next request only when the last
//! answer is back, so while a server stalls it stops asking, and a stall
//! of one second costs one slow sample instead of the thousand that users
//! arriving at that rate would have seen (coordinated omission). Here a
//! stall delays every request due during it, and each one's wait counts.
//! A flow that falls behind (its answer came after the next request was
//! due) sends the next at once, and catches up at the server's pace.
//!
//! The engine: std cannot wait on several sockets at once (no `poll()`
//! without a dependency or FFI), and a thread per connection would pay
//! two sleeps and two wake-ups per request (about 10-20 us of CPU each on
//! the benchmark machine, a virtual one, where a timer costs a VM exit).
//! So one thread (`--threads` for more) drives all its connections with
//! non-blocking sockets, in passes: take in every answer that has arrived,
//! send every request that is due, and between passes poll, yielding the
//! CPU to anyone who wants it, while a request is in flight or due within
//! 150 us; sleep otherwise. An answer is seen at most one pass after it
//! arrives; a pass costs one `read()` per request in flight.
//!
//! The generator's own lateness is measured apart, so that it is not
//! mistaken for the server's: a request's *lag* is how long after it was
//! free to go it actually went, `sent - max(due, previous answer)`: a pass
//! took too long, or the thread waited for a CPU. A report whose lags are
//! large says that the client, not the server, set the pace (see
//! [`Report::generator_behind`](super::Report::generator_behind)).
//!
//! The measured window holds the requests *sent* in it (from the end of
//! the warm-up to the deadline), each with its latency from its due time,
//! as wrk2 counts: where the server keeps up that is `R` times the
//! duration; past its capacity the flows fall behind, send as fast as it
//! answers, and the achieved rate is the server's. Sending stops at the
//! deadline; requests already due then but not sent (the backlog of a
//! flow behind schedule) are counted as `unsent`.

use std::fs;
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::http::{self, Responses};
use super::sockets::{connect, ClientDatagram};
use super::sync::{Arrival, Gate, Shared};
use super::tally::{describe, kind, shown, ThreadResult};
use super::workloads::Payload;
use super::{Mode, Stop};
use crate::transport::Stream;

/// A request sent later than this after it was free to go counts as
/// late. Linux wakes a sleeping thread within tens of microseconds on an
/// idle core; a tenth of a millisecond is well past that and still far
/// below the latencies that matter at a knee.
pub const LATE: Duration = Duration::from_micros(100);

/// When a flow's requests are due.
#[derive(Clone, Copy, Debug)]
pub(super) struct Schedule {
    start: Instant,
    /// Offset of this flow's first request, ns.
    phase: f64,
    /// Time between this flow's requests, ns.
    step: f64,
}

impl Schedule {
    /// Flow `j` of `flows` at `rate` requests per second in all: request
    /// k of every flow in turn, 1/rate apart.
    pub(super) fn new(start: Instant, j: usize, flows: usize, rate: f64) -> Schedule {
        Schedule { start, phase: j as f64 * 1e9 / rate, step: flows as f64 * 1e9 / rate }
    }

    /// When request `k` is due. Each time is computed from the start,
    /// never by adding steps, so no rounding accumulates over a long run.
    pub(super) fn due(&self, k: u64) -> Instant {
        self.start + Duration::from_nanos((self.phase + k as f64 * self.step) as u64)
    }

    /// How many of this flow's requests are due before `t`.
    pub(super) fn count_before(&self, t: Instant) -> u64 {
        let ns = t.saturating_duration_since(self.start).as_nanos() as f64 - self.phase;
        if ns <= 0.0 {
            0
        } else {
            (ns / self.step).ceil() as u64
        }
    }
}

/// This flow's share of `--requests`: the first `n % flows` flows make one
/// more, so that the shares add up to exactly n.
fn share(n: u64, j: usize, flows: usize) -> u64 {
    n / flows as u64 + u64::from((j as u64) < n % flows as u64)
}

/// Asks the kernel to wake this process's sleeping threads on time: the
/// default timer slack lets a `nanosleep` end up to 50 us late, which
/// would be counted as generator lag. Written for the calling thread (the
/// process's first, as the command line runs) before the flows start, so
/// that they inherit it; returns the old value to put back. Best effort:
/// without the file (not Linux, another thread) the lag simply shows.
pub(super) fn tighten_timer_slack() -> Option<String> {
    const SLACK: &str = "/proc/self/timerslack_ns";
    let old = fs::read_to_string(SLACK).ok()?;
    fs::OpenOptions::new().write(true).open(SLACK).ok()?.write_all(b"1").ok()?;
    Some(old)
}

/// Puts back what [`tighten_timer_slack`] changed.
pub(super) fn restore_timer_slack(old: Option<String>) {
    if let Some(old) = old {
        let _ = fs::write("/proc/self/timerslack_ns", old.trim());
    }
}

/// How long before a request is due the engine stops sleeping and polls:
/// a sleeping thread wakes tens of microseconds late (more on a busy or
/// virtual machine), and a request sent late is the generator's error.
const SPIN: Duration = Duration::from_micros(150);

/// A flow's socket and what it is in the middle of.
enum Conn {
    /// Pingpong: the echo of `size` bytes is read back into `buf`.
    Echo { s: Stream, buf: Vec<u8>, got: usize },
    /// HTTP keep-alive: `GET /plaintext`, one response at a time.
    Http { s: Stream, responses: Responses },
    /// UDP: a datagram carrying its sequence number in its first 8 bytes.
    Udp { s: ClientDatagram, out: Vec<u8>, buf: Vec<u8> },
}

/// The request in flight on a flow.
#[derive(Clone, Copy)]
struct InFlight {
    due: Instant,
    sent: Instant,
    /// Bytes of the request written so far (a large echo may not fit the
    /// socket buffer at once).
    wrote: usize,
    measured: bool,
}

/// One flow, as the engine drives it.
struct Flow {
    j: usize,
    sched: Schedule,
    conn: Conn,
    /// The request in flight, or else the next one to send.
    k: u64,
    /// Measured requests this flow may still send (`--requests`).
    budget: u64,
    in_flight: Option<InFlight>,
    /// When the previous answer came in: a request is not late for the
    /// generator while it waits for that.
    free: Instant,
    /// The connection failed, or the flow has sent its last request.
    done: bool,
}

/// What one look at a flow's socket found.
enum Polled {
    Nothing,
    Answered,
    Failed(Fail),
}

/// A failed request: the name it is counted under, whether the connection
/// is gone with it, and what happened in words (kept for the report if it
/// is the run's first failure).
struct Fail {
    name: &'static str,
    fatal: bool,
    why: String,
}

impl Fail {
    fn io(e: &io::Error, fatal: bool) -> Fail {
        Fail { name: kind(e), fatal, why: describe(e) }
    }

    fn new(name: &'static str, fatal: bool, why: &str) -> Fail {
        Fail { name, fatal, why: why.to_string() }
    }
}

/// Open-loop engine thread `t` of T: opens flows t, t + T, t + 2T, ...,
/// checks in at the gate, and drives them until the run ends.
pub(super) fn client(t: usize, shared: &Shared, gate: &Gate) -> ThreadResult {
    let mut ready = Arrival::new(gate);
    let mut r = ThreadResult::default();
    let conns = open_flows(t, shared, &mut r);
    ready.arrive();
    drive(conns, shared, &mut r);
    r.finish();
    r
}

/// Connects this thread's flows, in non-blocking mode; each failure is
/// counted and skipped.
fn open_flows(t: usize, shared: &Shared, r: &mut ThreadResult) -> Vec<(usize, Conn)> {
    let opts = &shared.opts;
    let mut conns = Vec::new();
    for j in (t..opts.conns).step_by(opts.threads.max(1)) {
        if shared.stopping() {
            break;
        }
        let conn = match opts.mode {
            Mode::Udp => ClientDatagram::open(shared).and_then(|s| {
                s.set_nonblocking(true)?;
                let size = opts.size.max(8);
                let out = Payload::new(size).get(j as u64).to_vec();
                Ok(Conn::Udp { s, out, buf: vec![0; size + 1] })
            }),
            mode => connect(shared, Some(shared.setup_until)).and_then(|s| {
                s.set_nonblocking(true)?;
                Ok(match mode {
                    Mode::Http => Conn::Http { s, responses: Responses::new() },
                    _ => Conn::Echo { s, buf: vec![0; opts.size], got: 0 },
                })
            }),
        };
        match conn {
            Ok(conn) => conns.push((j, conn)),
            Err(e) => r.error(&e, true, shared),
        }
    }
    conns
}

/// Writes what is left of request `seq` (`echo` or `http`, or for UDP a
/// datagram numbered `seq`), as far as the socket takes it now.
fn send(
    conn: &mut Conn,
    echo: &[u8],
    http: &[u8],
    seq: u64,
    wrote: &mut usize,
) -> Result<(), Fail> {
    let (s, bytes) = match conn {
        Conn::Udp { s, out, .. } => {
            out[..8].copy_from_slice(&seq.to_be_bytes());
            // A datagram that cannot be sent ends only itself.
            s.send(out).map_err(|e| Fail::io(&e, false))?;
            *wrote = out.len();
            return Ok(());
        }
        Conn::Echo { s, .. } => (s, echo),
        Conn::Http { s, .. } => (s, http),
    };
    while *wrote < bytes.len() {
        match s.write(&bytes[*wrote..]) {
            Ok(0) => return Err(Fail::new("closed", true, "the server closed the connection")),
            Ok(n) => *wrote += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Fail::io(&e, true)),
        }
    }
    Ok(())
}

/// Reads what the socket has of the answer to the request in flight,
/// without waiting; `expect` is the echo owed. Stale UDP echoes (of
/// requests already counted lost) are skipped and counted in `stale`.
fn poll(conn: &mut Conn, expect: &[u8], stale: &mut u64) -> Polled {
    match conn {
        Conn::Echo { s, buf, got } => loop {
            match s.read(&mut buf[*got..expect.len()]) {
                Ok(0) => {
                    return Polled::Failed(Fail::new(
                        "closed",
                        true,
                        "the server closed the connection before its reply was complete",
                    ))
                }
                Ok(n) => {
                    *got += n;
                    if *got == expect.len() {
                        *got = 0;
                        if buf[..expect.len()] != *expect {
                            let why = format!("the echo differs: {}", shown(&buf[..expect.len()]));
                            return Polled::Failed(Fail { name: "mismatch", fatal: true, why });
                        }
                        return Polled::Answered;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Polled::Nothing,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Polled::Failed(Fail::io(&e, true)),
            }
        },
        Conn::Http { s, responses } => match responses.poll(s) {
            Ok(true) => Polled::Answered,
            Ok(false) => Polled::Nothing,
            Err(f) => Polled::Failed(Fail { name: f.name(), fatal: true, why: f.describe() }),
        },
        Conn::Udp { s, out, buf } => loop {
            match s.recv(buf) {
                Ok(n) if n >= 8 && buf[..8] != out[..8] => *stale += 1,
                Ok(n) if buf[..n] == *out => return Polled::Answered,
                Ok(n) => {
                    let why = format!("the echo differs: {}", shown(&buf[..n]));
                    return Polled::Failed(Fail { name: "mismatch", fatal: false, why });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Polled::Nothing,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Polled::Failed(Fail::io(&e, false)),
            }
        },
    }
}

/// The engine: pass after pass over this thread's flows, each pass taking
/// in every answer that has arrived and sending every request that is due.
/// Between passes it polls (yielding the CPU to anyone who wants it) while
/// a request is in flight or one is due within [`SPIN`], and sleeps
/// otherwise.
fn drive(conns: Vec<(usize, Conn)>, shared: &Shared, r: &mut ThreadResult) {
    let opts = &shared.opts;
    let (Some(rate), Some(&start), Some(&measure_from)) =
        (opts.rate, shared.start.get(), shared.measure_from.get())
    else {
        return;
    };
    let mut flows: Vec<Flow> = conns
        .into_iter()
        .map(|(j, conn)| Flow {
            j,
            sched: Schedule::new(start, j, opts.conns, rate),
            conn,
            k: 0,
            budget: match opts.stop {
                Stop::Requests(n) => share(n, j, opts.conns),
                Stop::Duration(_) => u64::MAX,
            },
            in_flight: None,
            free: start,
            done: false,
        })
        .collect();
    let deadline = shared.deadline.get().copied();
    let hard_end = shared.hard_end();
    let payload = Payload::new(opts.size);
    let http = http::request(&http::host(&shared.addr), false);
    let udp = opts.mode == Mode::Udp;
    let mut sending = true;
    loop {
        let now = Instant::now();
        if sending && (shared.stopping() || deadline.is_some_and(|d| now >= d)) {
            sending = false;
            if let Some(d) = deadline {
                // Behind schedule at the end: these were due and never sent.
                for f in flows.iter().filter(|f| !f.done) {
                    let next = f.k + u64::from(f.in_flight.is_some());
                    r.unsent += f.sched.count_before(d).saturating_sub(next);
                }
            }
        }
        if hard_end.is_some_and(|e| now >= e) {
            break;
        }
        let (mut busy, mut waiting, mut next_due) = (false, false, None::<Instant>);
        for f in flows.iter_mut().filter(|f| !f.done) {
            let expect = payload.get(f.j as u64 * 7 + f.k);
            if let Some(mut fl) = f.in_flight {
                let seq = ((f.j as u64) << 40) + f.k;
                let unwritten = match f.conn {
                    Conn::Echo { .. } => fl.wrote < expect.len(),
                    Conn::Http { .. } => fl.wrote < http.len(),
                    Conn::Udp { .. } => false,
                };
                let sent = match unwritten {
                    true => send(&mut f.conn, expect, &http, seq, &mut fl.wrote),
                    false => Ok(()),
                };
                let mut polled = match sent {
                    Ok(()) => poll(&mut f.conn, expect, &mut r.stale),
                    Err(f) => Polled::Failed(f),
                };
                f.in_flight = Some(fl);
                if matches!(polled, Polled::Nothing) && now.duration_since(fl.sent) > opts.timeout {
                    let why = "no reply within --timeout";
                    polled = Polled::Failed(match udp {
                        true => Fail::new("lost", false, why),
                        false => Fail::new("timeout", true, why),
                    });
                }
                match polled {
                    Polled::Nothing => {}
                    Polled::Answered => {
                        let done = Instant::now();
                        if fl.measured {
                            r.hist.record(done.saturating_duration_since(fl.due).as_nanos() as u64);
                            r.requests += 1;
                            shared.done.fetch_add(1, Ordering::Relaxed);
                        }
                        (f.in_flight, f.free, f.k, busy) = (None, done, f.k + 1, true);
                    }
                    Polled::Failed(fail) => {
                        r.note(|| fail.why);
                        r.count(fail.name, fl.measured, shared);
                        (f.in_flight, f.free, f.k, busy) = (None, Instant::now(), f.k + 1, true);
                        f.done = fail.fatal;
                    }
                }
            }
            if f.in_flight.is_none() && !f.done {
                let due = f.sched.due(f.k);
                if !sending || f.budget == 0 || deadline.is_some_and(|d| due >= d) {
                    f.done = true;
                    continue;
                }
                let now = Instant::now();
                if due > now {
                    next_due = Some(next_due.map_or(due, |n| n.min(due)));
                    continue;
                }
                let measured = r.measuring(now >= measure_from);
                if measured {
                    if f.budget != u64::MAX {
                        f.budget -= 1;
                    }
                    r.lag.record(now.saturating_duration_since(due.max(f.free)).as_nanos() as u64);
                }
                let mut fl = InFlight { due, sent: now, wrote: 0, measured };
                let expect = payload.get(f.j as u64 * 7 + f.k);
                let seq = ((f.j as u64) << 40) + f.k;
                match send(&mut f.conn, expect, &http, seq, &mut fl.wrote) {
                    Ok(()) => f.in_flight = Some(fl),
                    Err(fail) => {
                        r.note(|| fail.why);
                        r.count(fail.name, measured, shared);
                        f.k += 1;
                        f.done = fail.fatal;
                    }
                }
                busy = true;
            }
            waiting |= f.in_flight.is_some();
        }
        if busy {
            continue;
        }
        match next_due {
            _ if waiting => thread::yield_now(),
            None => break,
            Some(due) => {
                let wait = due.saturating_duration_since(Instant::now());
                if wait > SPIN {
                    thread::sleep(wait - SPIN);
                } else {
                    thread::yield_now();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_interleave_evenly_and_the_schedule_does_not_drift() {
        let t0 = Instant::now();
        // 4 flows at 1000/s: flow j's request k is due at (j + 4k) ms.
        let flows: Vec<Schedule> = (0..4).map(|j| Schedule::new(t0, j, 4, 1000.0)).collect();
        let mut all: Vec<Duration> =
            flows.iter().flat_map(|s| (0..3).map(move |k| s.due(k) - t0)).collect();
        all.sort();
        let want: Vec<Duration> = (0..12).map(Duration::from_millis).collect();
        assert_eq!(all, want);
        // A million steps on, still on the grid (no accumulated rounding).
        let s = Schedule::new(t0, 1, 3, 3_000.0);
        assert_eq!(s.due(1_000_000) - t0, Duration::from_nanos(1_000_000_333_333));
    }

    #[test]
    fn requests_due_before_a_time_are_counted_exactly() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 1, 4, 1000.0); // due at 1, 5, 9, ... ms
        assert_eq!(s.count_before(t0), 0);
        assert_eq!(s.count_before(t0 + Duration::from_millis(1)), 0);
        assert_eq!(s.count_before(t0 + Duration::from_micros(1_001)), 1);
        assert_eq!(s.count_before(t0 + Duration::from_millis(9)), 2);
        assert_eq!(s.count_before(t0 + Duration::from_micros(9_001)), 3);
    }

    #[test]
    fn shares_of_a_request_budget_add_up() {
        let shares: Vec<u64> = (0..4).map(|j| share(10, j, 4)).collect();
        assert_eq!(shares, vec![3, 3, 2, 2]);
        assert_eq!((0..7).map(|j| share(3, j, 7)).sum::<u64>(), 3);
    }
}
