//! Deadlines on a connection: the idle timeout (each `read()`/`write()`),
//! the minimum rate (`guard::min_rate`), the whole-connection limit, and
//! the drain after the reply.
//!
//! The idle timeout is one `setsockopt(SO_RCVTIMEO/SO_SNDTIMEO)` at accept;
//! the kernel enforces it. Writes get the shorter sample of
//! `limits::MIN_RATE_SAMPLE` instead, and a blocked `write()` is retried
//! until the minimum rate judges it, so that the idle timeout counts a
//! whole blocked write, not each partial `write()` call. The other two are
//! instants: while one is set, each call may wait only for what is left of
//! it (one `setsockopt()` per call, paid only when such a limit is set).
//! An expired timer becomes a `TimedOut` error that names the limit that
//! ran out.

use std::io;
use std::time::{Duration, Instant};

use super::min_rate::{MinRate, Verdict};
use crate::limits::{Limits, MIN_RATE_SAMPLE};
use crate::net::{secs, Outcome};
use crate::trace::io_call;
use crate::transport::Stream;

/// The per-connection timers.
pub(crate) struct Deadlines {
    idle: Option<Duration>,
    /// Longest one `write()` call waits: the sample (see module docs).
    write_wait: Option<Duration>,
    whole: Option<(Instant, Duration)>,
    drain_until: Option<Instant>,
    /// A deadline the service set on its own calls (an HTTP request head
    /// must be complete in time), and what to call it when it fires.
    service: Option<(Instant, &'static str)>,
    /// True if `service` is a wake-up (a heartbeat's next ping), not a
    /// limit: its passing is the service's cue to act, no failure.
    wakes: bool,
    /// The wake-up that cut the last call, if one did (see [`Self::woke`]).
    woke: Option<&'static str>,
    /// The minimum rate of output (always, with an idle timeout) and of
    /// input (when its floor is set).
    out: Option<MinRate>,
    input: Option<MinRate>,
    /// When the call in progress started, if its direction is judged.
    call_started: Option<Instant>,
    /// Per direction (read, write): the socket timeout is not the one set
    /// at accept, so a call that needs no wait of its own must put it back.
    rearm: [bool; 2],
    /// Set once the minimum rate has cut one direction (true: output):
    /// every later call in that direction fails with it. The call that
    /// tripped it returns what it moved, so that the bytes are counted; the
    /// next one in that direction (a `write_all` goes on writing, a reader
    /// reads again) is the one the trace shows failing.
    verdict: Option<(bool, Verdict)>,
}

/// The longest a single `write()` waits: the sample, or the idle timeout
/// if shorter.
fn write_wait(idle: Duration) -> Duration {
    idle.min(MIN_RATE_SAMPLE)
}

/// `setsockopt(SO_RCVTIMEO / SO_SNDTIMEO)` at accept: the idle timeout
/// (for writes its sample), or without one the whole-connection limit, so
/// that no call blocks past it. A client that goes silent or stops reading
/// frees its worker.
pub(crate) fn set_socket_timeouts(
    stream: &Stream,
    limits: &Limits,
    mut failed: impl FnMut(&'static str, &io::Error),
) {
    let (read, write) = match (limits.idle_timeout, limits.max_conn_time) {
        (Some(idle), _) => (idle, write_wait(idle)),
        (None, Some(whole)) => (whole, whole),
        (None, None) => return,
    };
    if let Err(e) = stream.set_read_timeout(Some(read)) {
        failed("setsockopt(SO_RCVTIMEO)", &e);
    }
    if let Err(e) = stream.set_write_timeout(Some(write)) {
        failed("setsockopt(SO_SNDTIMEO)", &e);
    }
}

impl Deadlines {
    /// The timers of a connection accepted at `started`.
    pub fn new(limits: &Limits, started: Instant) -> Deadlines {
        let idle = limits.idle_timeout;
        Deadlines {
            idle,
            write_wait: idle.map(write_wait),
            // A limit too large to add to the clock is no limit.
            whole: limits.max_conn_time.and_then(|t| started.checked_add(t).map(|at| (at, t))),
            drain_until: None,
            service: None,
            wakes: false,
            woke: None,
            // The credit is the idle timeout: without one, no rule.
            out: idle.map(|t| MinRate::new(limits.min_rate_out, t)),
            input: idle
                .filter(|_| limits.min_rate_in > 0)
                .map(|t| MinRate::new(limits.min_rate_in, t)),
            call_started: None,
            rearm: [false; 2],
            verdict: None,
        }
    }

    /// Starts the drain: from now on, calls stop at `timeout` from now.
    pub fn drain(&mut self, timeout: Duration) {
        self.drain_until = Some(Instant::now().checked_add(timeout).unwrap_or_else(Instant::now));
    }

    /// Sets (or with `None` clears) the service's own deadline: every call
    /// from now on waits only until `at`, and one that would wait longer
    /// fails with `TimedOut` and the message `what`.
    pub fn service_deadline(&mut self, deadline: Option<(Instant, &'static str)>) {
        self.service = deadline;
        self.wakes = false;
    }

    /// Like [`Self::service_deadline`], but the instant is a wake-up the
    /// service set itself to act on time (send a heartbeat ping), not a
    /// limit: a call it cuts still fails with `TimedOut`, and
    /// [`Self::woke`] then says so, so that no one reports it as an error.
    pub fn service_wake_up(&mut self, wake_up: Option<(Instant, &'static str)>) {
        self.service = wake_up;
        self.wakes = true;
    }

    /// After a failed call: `Some(what)` if the service's wake-up cut it
    /// (no limit had run out), `None` for a real failure.
    pub fn woke(&self) -> Option<&'static str> {
        self.woke
    }

    /// Sets the minimum input rate (`rate` bytes per second, credit one
    /// idle timeout, fresh; needs an idle timeout), or with 0 turns it off.
    pub fn input_floor(&mut self, rate: u32) {
        self.input = self.idle.filter(|_| rate > 0).map(|t| MinRate::new(rate, t));
    }

    /// One `read()` (`write` false) or `write()` on `stream` under the
    /// deadlines: arms them (a `setsockopt()` when the wait changes), makes
    /// the call (retried on EINTR), and makes it again while a blocked
    /// `write()` sample has not yet been judged by the minimum rate. A
    /// failure comes back with the call that failed, a timeout named after
    /// the limit that ran out.
    pub fn call(
        &mut self,
        stream: &Stream,
        write: bool,
        mut op: impl FnMut() -> io::Result<usize>,
    ) -> Result<usize, (&'static str, io::Error)> {
        let call = if write { "write()" } else { "read()" };
        self.woke = None;
        loop {
            let before = self.before_call(write);
            if let Some(wait) = before.map_err(|e| (call, self.named(e)))? {
                let set = if write {
                    stream.set_write_timeout(wait)
                } else {
                    stream.set_read_timeout(wait)
                };
                set.map_err(|e| ("setsockopt()", e))?;
            }
            // The end of the system call itself, before any trace line.
            let (timing, mut ended) = (self.call_started.is_some(), None);
            let result = io_call(|| {
                let r = op();
                ended = timing.then(Instant::now);
                r
            });
            if !self.after_call(write, &result, ended) {
                return result.map_err(|e| (call, self.named(e)));
            }
        }
    }

    /// Before a `write` (or read) call: `Ok(None)` when the socket timeout
    /// in place is right, `Ok(Some(wait))` for the socket timeout to set
    /// first (`None`: no timeout), `Err` if a deadline has already passed
    /// or the minimum rate cut the connection.
    fn before_call(&mut self, write: bool) -> Result<Option<Option<Duration>>, io::Error> {
        if let Some((_, v)) = self.verdict.as_ref().filter(|(out, _)| *out == write) {
            return Err(v.error());
        }
        let judged = if write { self.out.is_some() } else { self.input.is_some() };
        self.call_started = judged.then(Instant::now);
        // With the input floor on, a read() may wait only for the credit it
        // has left (at least 1 ms: a zero socket timeout means none), so a
        // trickle is cut after T of waiting, not up to 2T: one setsockopt()
        // per read, paid only when that floor is set.
        let credit = (!write).then(|| self.input.as_ref().map(MinRate::credit)).flatten();
        let base = if write { self.write_wait } else { self.idle };
        let per_call = match (base, credit.map(|c| c.max(Duration::from_millis(1)))) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let instants = [self.whole.map(|(at, _)| at), self.drain_until, self.service.map(|s| s.0)];
        let rearm = &mut self.rearm[usize::from(write)];
        let Some(limit) = instants.into_iter().flatten().min() else {
            return Ok(match credit.and(per_call) {
                Some(wait) => {
                    *rearm = true;
                    Some(Some(wait))
                }
                // A wait set for an earlier call (a deadline or floor since
                // cleared) must not outlive it: back to accept's timeout.
                None if std::mem::take(rearm) => Some(base),
                None => None,
            });
        };
        let left = limit.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.expired());
        }
        *rearm = true;
        Ok(Some(Some(per_call.map_or(left, |wait| wait.min(left)))))
    }

    /// After the call: tells the minimum rate what it moved and how long it
    /// waited. True if the call should be made again: a `write()` sample
    /// that timed out before the rule has judged it.
    /// `ended` is when the system call returned, before any trace was
    /// written: time a slow observer takes is not the client's.
    fn after_call(
        &mut self,
        write: bool,
        result: &io::Result<usize>,
        ended: Option<Instant>,
    ) -> bool {
        let (Some(started), Some(ended)) = (self.call_started.take(), ended) else {
            return false;
        };
        let (moved, timed_out) = match result {
            Ok(n) => (*n, false),
            Err(e) if Outcome::of(e) == Outcome::TimedOut => (0, true),
            Err(_) => return false,
        };
        let rule = if write { self.out.as_mut() } else { self.input.as_mut() };
        let Some(rule) = rule else {
            return false;
        };
        match rule.after(ended.saturating_duration_since(started), moved) {
            Ok(()) => write && timed_out,
            Err(v) => {
                self.verdict = Some((write, v));
                false
            }
        }
    }

    /// A failed call's error: a timeout named by [`Self::expired`] (which
    /// also notes whether the service's wake-up was what ran out).
    fn named(&mut self, e: io::Error) -> io::Error {
        match Outcome::of(&e) {
            Outcome::TimedOut => self.expired(),
            _ => e,
        }
    }

    /// The error for a call whose socket timeout fired (Unix reports it as
    /// EAGAIN), or that the minimum rate cut, naming the limit that ran out.
    fn expired(&mut self) -> io::Error {
        let now = Instant::now();
        let msg = if self.drain_until.is_some_and(|until| now >= until) {
            "drain time after the reply ended".to_string()
        } else if let Some((_, what)) = self.service.filter(|(at, _)| now >= *at) {
            self.woke = self.wakes.then_some(what);
            what.to_string()
        } else {
            match (self.whole, &self.verdict, self.idle) {
                (Some((at, total)), _, _) if now >= at => {
                    format!("connection time limit reached ({})", secs(total))
                }
                (_, Some((_, v)), _) => return v.error(),
                (_, None, Some(idle)) => format!("timed out after {}", secs(idle)),
                _ => "timed out".to_string(),
            }
        };
        io::Error::new(io::ErrorKind::TimedOut, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_cleared_deadline_or_floor_gives_back_the_accept_timeout(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let limits = Limits { idle_timeout: Some(30 * S), ..Limits::default() };
        let mut d = Deadlines::new(&limits, Instant::now());
        assert_eq!(d.before_call(false)?, None);
        d.service_deadline(Some((Instant::now() + 10 * S, "head")));
        let wait = d.before_call(false)?.ok_or("not armed")?.ok_or("no wait")?;
        assert!(wait <= 10 * S);
        d.service_deadline(None);
        // The next read waits the idle timeout again, not what was left.
        assert_eq!(d.before_call(false)?, Some(Some(30 * S)));
        assert_eq!(d.before_call(false)?, None);
        // Writes were never touched.
        assert_eq!(d.before_call(true)?, None);
        d.input_floor(1000);
        assert!(matches!(d.before_call(false)?, Some(Some(_))));
        d.input_floor(0);
        assert_eq!(d.before_call(false)?, Some(Some(30 * S)));
        // Without an idle timeout, back to no timeout at all.
        let mut d =
            Deadlines::new(&Limits { idle_timeout: None, ..Limits::default() }, Instant::now());
        d.service_deadline(Some((Instant::now() + 10 * S, "head")));
        assert!(matches!(d.before_call(false)?, Some(Some(_))));
        d.service_deadline(None);
        assert_eq!(d.before_call(false)?, Some(None));
        Ok(())
    }
}
