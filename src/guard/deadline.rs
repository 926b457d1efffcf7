//! Deadlines on a connection: the idle timeout (each `read()`/`write()`),
//! the whole-connection limit, and the drain after the reply.
//!
//! The idle timeout is one `setsockopt(SO_RCVTIMEO/SO_SNDTIMEO)` at accept;
//! the kernel enforces it. The other two are instants: while one is set,
//! each call may wait only for what is left of it (one `setsockopt()` per
//! call, paid only when such a limit is set). An expired timer becomes a
//! `TimedOut` error that names the limit that ran out.

use std::io;
use std::time::{Duration, Instant};

use crate::limits::Limits;
use crate::net::secs;
use crate::transport::Stream;

/// The per-connection timers.
pub(crate) struct Deadlines {
    idle: Option<Duration>,
    whole: Option<(Instant, Duration)>,
    drain_until: Option<Instant>,
}

/// `setsockopt(SO_RCVTIMEO/SO_SNDTIMEO)` at accept: the idle timeout, or
/// without one the whole-connection limit, so that no call blocks past it.
/// A client that goes silent or stops reading frees its worker.
pub(crate) fn set_socket_timeouts(
    stream: &Stream,
    limits: &Limits,
    mut failed: impl FnMut(&'static str, &io::Error),
) {
    let Some(t) = limits.idle_timeout.or(limits.max_conn_time) else {
        return;
    };
    if let Err(e) = stream.set_read_timeout(Some(t)) {
        failed("setsockopt(SO_RCVTIMEO)", &e);
    }
    if let Err(e) = stream.set_write_timeout(Some(t)) {
        failed("setsockopt(SO_SNDTIMEO)", &e);
    }
}

impl Deadlines {
    /// The timers of a connection accepted at `started`.
    pub fn new(limits: &Limits, started: Instant) -> Deadlines {
        Deadlines {
            idle: limits.idle_timeout,
            // A limit too large to add to the clock is no limit.
            whole: limits.max_conn_time.and_then(|t| started.checked_add(t).map(|at| (at, t))),
            drain_until: None,
        }
    }

    /// Starts the drain: from now on, calls stop at `timeout` from now.
    pub fn drain(&mut self, timeout: Duration) {
        self.drain_until = Some(Instant::now().checked_add(timeout).unwrap_or_else(Instant::now));
    }

    /// Before a call: `Ok(None)` when the socket timeout set at accept is
    /// enough, `Ok(Some(wait))` for the wait to arm, `Err` if a deadline
    /// has already passed.
    pub fn before_call(&self) -> Result<Option<Duration>, io::Error> {
        let limit = match (self.whole.map(|(at, _)| at), self.drain_until) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return Ok(None),
        };
        let left = limit.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.expired());
        }
        Ok(Some(self.idle.map_or(left, |idle| idle.min(left))))
    }

    /// The error for a call whose socket timeout fired (Unix reports it as
    /// EAGAIN), naming the limit that ran out.
    pub fn expired(&self) -> io::Error {
        let now = Instant::now();
        let msg = if self.drain_until.is_some_and(|until| now >= until) {
            "drain time after the reply ended".to_string()
        } else {
            match (self.whole, self.idle) {
                (Some((at, total)), _) if now >= at => {
                    format!("connection time limit reached ({})", secs(total))
                }
                (_, Some(idle)) => format!("timed out after {}", secs(idle)),
                _ => "timed out".to_string(),
            }
        };
        io::Error::new(io::ErrorKind::TimedOut, msg)
    }
}
