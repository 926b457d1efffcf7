//! Open loop (`--rate R`): requests sent on a fixed schedule, whatever the
//! server does, and each latency measured from the moment its request was
//! *due*, the way wrk2 measures (its README: "A note about wrk2's latency
//! measurement technique").
//!
//! ```text
//! flow j of F (a connection, or a UDP socket), on a thread of its own:
//!     due(k) = start + j/R + k*F/R          evenly spaced, phases staggered
//!     sleep until due(k) (not at all when late); send; read the answer
//!     latency = answered - due(k)           not answered - sent
//! ```
//!
//! Why: a closed-loop client sends its next request only when the last
//! answer is back, so while a server stalls it stops asking, and a stall
//! of one second costs one slow sample instead of the thousand that users
//! arriving at that rate would have seen (coordinated omission). Here a
//! stall delays every request due during it, and each one's wait counts.
//!
//! One request is in flight per flow, as for a user on one connection: a
//! flow that falls behind (its answer came after the next request was
//! due) sends the next at once, and catches up at the server's pace.
//!
//! Each flow has a thread of its own because std cannot wait on several
//! sockets at once without `poll()`: a thread serving two connections
//! would leave one's due request waiting while it reads the other's
//! answer, and that wait would be the client's, not the server's.
//!
//! The generator's own lateness is measured apart, so that it is not
//! mistaken for the server's: a request's *lag* is how long after it was
//! free to go it actually went, `sent - max(due, previous answer)`: the
//! thread woke late, or waited for a CPU. A report whose lags are large
//! says that the client, not the server, set the pace (see
//! [`Report::generator_behind`](super::Report::generator_behind)).
//!
//! The measured window holds the requests *due* in it: exactly `R` times
//! the duration. Sending stops at the deadline; requests due in the window
//! but not yet sent then (a flow behind schedule) are counted as `unsent`.

use std::fs;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::http::{self, Responses};
use super::sockets::{bound, connect, read_echo, ClientDatagram};
use super::sync::{Arrival, Gate, Shared};
use super::tally::{kind, ThreadResult};
use super::workloads::{await_echo, Payload};
use super::{Mode, Stop};

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

/// Open-loop flow `j`: sets up its socket, waits at the gate, and runs
/// its schedule.
pub(super) fn client(j: usize, shared: &Shared, gate: &Gate) -> ThreadResult {
    let mut ready = Arrival::new(gate);
    let mut r = ThreadResult::default();
    let opts = &shared.opts;
    let (timeout, size) = (opts.timeout, opts.size);
    match opts.mode {
        Mode::Http => {
            let sock = connect(shared, Some(shared.setup_until));
            ready.arrive();
            let mut s = match sock {
                Ok(s) => s,
                Err(e) => {
                    r.error(&e, true, shared);
                    r.finish();
                    return r;
                }
            };
            let request = http::request(&http::host(&shared.addr), false);
            let mut responses = Responses::new();
            paced(j, shared, &mut r, |_, end, _| {
                bound(&s, timeout, end)
                    .and_then(|()| s.write_all(&request))
                    .map_err(|e| (kind(&e), true))?;
                responses.next(&mut s, timeout, end).map_err(|f| (f.name(), true))
            });
        }
        Mode::Udp => {
            let sock = ClientDatagram::open(shared);
            ready.arrive();
            let s = match sock {
                Ok(s) => s,
                Err(e) => {
                    r.error(&e, true, shared);
                    r.finish();
                    return r;
                }
            };
            let size = size.max(8);
            let mut out = Payload::new(size).get(j as u64).to_vec();
            let mut buf = vec![0u8; size + 1];
            // Flow number in the top bits: no two flows send the same sequence.
            let base = (j as u64) << 40;
            paced(j, shared, &mut r, |k, _, r| {
                out[..8].copy_from_slice(&(base + k).to_be_bytes());
                // A datagram that cannot be sent or is lost ends only itself.
                s.send(&out).map_err(|e| (kind(&e), false))?;
                await_echo(&s, &out, &mut buf, Instant::now() + timeout, r).map_err(|f| (f, false))
            });
        }
        _ => {
            let sock = connect(shared, Some(shared.setup_until));
            ready.arrive();
            let mut s = match sock {
                Ok(s) => s,
                Err(e) => {
                    r.error(&e, true, shared);
                    r.finish();
                    return r;
                }
            };
            let payload = Payload::new(size);
            let mut buf = vec![0u8; size];
            // Each flow starts at a different place in the pattern.
            let first = j as u64 * 7;
            paced(j, shared, &mut r, |k, end, _| {
                let expect = payload.get(first + k);
                let sent = bound(&s, timeout, end).and_then(|()| s.write_all(expect));
                sent.and_then(|()| read_echo(&mut s, &mut buf, expect, timeout, end))
                    .map_err(|e| (kind(&e), true))
            });
        }
    }
    r.finish();
    r
}

/// One flow's schedule: request k is made by `request(k, end, r)`, which
/// must not wait past `end`; an `Err((kind, fatal))` is counted under
/// `kind`, and a fatal one (the connection is gone) ends the flow.
fn paced<F>(j: usize, shared: &Shared, r: &mut ThreadResult, mut request: F)
where
    F: FnMut(u64, Option<Instant>, &mut ThreadResult) -> Result<(), (&'static str, bool)>,
{
    let opts = &shared.opts;
    let (Some(rate), Some(&start), Some(&measure_from)) =
        (opts.rate, shared.start.get(), shared.measure_from.get())
    else {
        return;
    };
    let flows = opts.flows();
    let sched = Schedule::new(start, j, flows, rate);
    let deadline = shared.deadline.get().copied();
    let end = shared.hard_end();
    let first_measured = sched.count_before(measure_from);
    let last = match opts.stop {
        Stop::Requests(n) => first_measured + share(n, j, flows),
        Stop::Duration(_) => u64::MAX,
    };
    let mut free = start;
    let mut k = 0;
    while k < last && !shared.stopping() {
        let due = sched.due(k);
        if deadline.is_some_and(|d| due >= d) {
            break;
        }
        let now = Instant::now();
        if let Some(d) = deadline.filter(|d| now >= *d) {
            // Behind schedule at the end: the rest of the window's requests
            // were never sent.
            r.unsent += sched.count_before(d) - k.max(first_measured);
            break;
        }
        if due > now {
            thread::sleep(due - now);
        }
        let sent = Instant::now();
        let measured = r.measuring(k >= first_measured);
        if measured {
            r.lag.record(sent.saturating_duration_since(due.max(free)).as_nanos() as u64);
        }
        let result = request(k, end, r);
        free = Instant::now();
        match result {
            Ok(()) if measured => {
                r.hist.record(free.saturating_duration_since(due).as_nanos() as u64);
                r.requests += 1;
                shared.done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(()) => {}
            Err((name, fatal)) => {
                r.count(name, measured, shared);
                if fatal {
                    break;
                }
            }
        }
        k += 1;
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
