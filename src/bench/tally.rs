//! What one client thread counts: latencies, requests, and failures by
//! kind, each on the right side of the warm-up line.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::cpu::thread_cpu;
use super::sync::Shared;
use super::Histogram;

/// Errors counted by kind: the key is a short name (`timeout`, `reset`,
/// `refused`, `mismatch`, `closed`, `lost`, ...).
pub type ErrorCounts = BTreeMap<&'static str, u64>;

/// What one client thread measured.
#[derive(Default)]
pub(super) struct ThreadResult {
    pub(super) hist: Histogram,
    pub(super) requests: u64,
    pub(super) errors: ErrorCounts,
    pub(super) warmup_errors: u64,
    pub(super) held: u64,
    pub(super) stale: u64,
    /// Open loop: how late each measured request went after it was free
    /// to go (see [`open`](super::open)), nanoseconds.
    pub(super) lag: Histogram,
    /// Open loop: requests due in the measured window but never sent,
    /// because the flow was still behind schedule at the deadline.
    pub(super) unsent: u64,
    /// The first failure, told in words: what a run where nothing
    /// succeeded reports, instead of bare counts.
    pub(super) first_error: Option<String>,
    /// When this thread made its last request.
    pub(super) finished: Option<Instant>,
    /// This thread's CPU clock when measuring started, and the CPU it used
    /// from then to its end.
    pub(super) cpu_start: Option<Duration>,
    pub(super) cpu: Option<Duration>,
    /// websocket: bytes written and read for `wire_msgs` measured messages.
    pub(super) wire_out: u64,
    pub(super) wire_in: u64,
    pub(super) wire_msgs: u64,
}

/// The name an I/O error is counted under.
///
/// Finer than [`Outcome`](crate::net::Outcome) on purpose: a server only
/// needs to know whether to blame a timeout or a departed peer, but a
/// load test's reader is diagnosing the server, and `refused` (nothing
/// listening, backlog full), `reset` (the server dropped the connection),
/// `broken-pipe`, `no-port` and `too-many-files` (the generator itself ran
/// out) each point somewhere else. The names are report output that
/// scripts read, so they never change.
pub(super) fn kind(e: &io::Error) -> &'static str {
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

/// An I/O failure told for a person: the call and what it means here.
pub(super) fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            format!("connect() error: {e}: nothing listens at that address")
        }
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("no reply within --timeout ({e})")
        }
        io::ErrorKind::UnexpectedEof => {
            "the server closed the connection before its reply was complete".to_string()
        }
        _ => e.to_string(),
    }
}

/// The first bytes of `b`, quoted and escaped, for a message.
pub(super) fn shown(b: &[u8]) -> String {
    const MAX: usize = 48;
    let more = if b.len() > MAX { "..." } else { "" };
    format!("\"{}\"{more}", b[..b.len().min(MAX)].escape_ascii())
}

impl ThreadResult {
    /// Keeps the first failure's description (made only if none is kept).
    pub(super) fn note(&mut self, describe: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            self.first_error = Some(describe());
        }
    }

    /// Notes the thread's CPU clock at its first measured request.
    pub(super) fn measuring(&mut self, measured: bool) -> bool {
        if measured && self.cpu_start.is_none() {
            self.cpu_start = thread_cpu();
        }
        measured
    }

    /// Counts one failure of `kind`: in the report's errors if it
    /// happened while measuring (or while setting up, which every run
    /// needs), apart as a warm-up error otherwise, the same rule as for
    /// requests, so that errors and requests cover the same time.
    pub(super) fn count(&mut self, kind: &'static str, measured: bool, shared: &Shared) {
        if measured {
            *self.errors.entry(kind).or_insert(0) += 1;
            shared.failed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.warmup_errors += 1;
        }
    }

    pub(super) fn error(&mut self, e: &io::Error, measured: bool, shared: &Shared) {
        self.note(|| describe(e));
        self.count(kind(e), measured, shared);
    }

    /// Counts one verified request, if measured.
    pub(super) fn success(&mut self, since: Instant, measured: bool, shared: &Shared) {
        if measured {
            self.hist.record(since.elapsed().as_nanos() as u64);
            self.requests += 1;
            shared.done.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Stops this thread's clocks.
    pub(super) fn finish(&mut self) {
        self.finished = Some(Instant::now());
        if let (Some(a), Some(b)) = (self.cpu_start, thread_cpu()) {
            self.cpu = Some(b.saturating_sub(a));
        }
    }

    /// Adds `r`, another thread's result, into this total.
    pub(super) fn merge(&mut self, r: ThreadResult) {
        self.hist.merge(&r.hist);
        self.requests += r.requests;
        self.held += r.held;
        self.stale += r.stale;
        self.lag.merge(&r.lag);
        self.unsent += r.unsent;
        self.wire_out += r.wire_out;
        self.wire_in += r.wire_in;
        self.wire_msgs += r.wire_msgs;
        if let Some(c) = r.cpu {
            self.cpu = Some(self.cpu.unwrap_or_default() + c);
        }
        // The main thread notices the end up to 5 ms late; the threads'
        // own clocks say when the last request finished.
        if let Some(f) = r.finished {
            self.finished = Some(self.finished.map_or(f, |t| t.max(f)));
        }
        self.warmup_errors += r.warmup_errors;
        if self.first_error.is_none() {
            self.first_error = r.first_error;
        }
        for (k, v) in r.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
    }
}

/// The loop of the modes with one request in flight per thread (churn,
/// udp, http-close): until the budget is spent or the run stops, makes one
/// request with `request` (told when it started) and counts its latency,
/// or its failure under the name `request` gives it.
///
/// A refusal before any request of the run got through ends the run at
/// once: nothing listens there, and every further connect() would be
/// refused as fast as it is made, for the whole --duration.
pub(super) fn one_at_a_time(
    shared: &Shared,
    r: &mut ThreadResult,
    mut request: impl FnMut(Instant, &mut ThreadResult) -> Result<(), &'static str>,
) {
    let mut any_ok = false;
    loop {
        let now = Instant::now();
        if shared.take(1, now) == 0 {
            break;
        }
        let measured = r.measuring(shared.measuring(now));
        match request(now, r) {
            Ok(()) => {
                any_ok = true;
                r.success(now, measured, shared);
            }
            Err(failure) => {
                r.count(failure, measured, shared);
                if failure == "refused" && !any_ok && shared.done.load(Ordering::Relaxed) == 0 {
                    shared.stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
