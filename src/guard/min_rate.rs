//! Slow peers: a client that takes the server's output (or, when asked,
//! sends its input) so slowly that it holds a worker for ever without ever
//! letting a single call time out: the "Slow Read" attack (`slowhttptest
//! -X`), and its mirror, the trickled request body.
//!
//! The rule, "minimum rate": while a worker waits in `write()` (or in
//! `read()`, if that floor is set), the peer must move at least `rate`
//! bytes per second of that waiting, judged over each idle timeout `T` of
//! waiting. Once `rate x T` bytes (at least 1) have moved, the window starts
//! again; once `T` of waiting has passed without them, the connection is
//! cut: "timed out" if nothing moved, "below the minimum rate" otherwise.
//! Only time spent inside a call counts, so a request/response client that
//! pauses between requests, or a service that computes, is never charged;
//! nor can one burst bank credit beyond the window it falls in.
//!
//! Why not the per-call socket timeout alone (nginx's `send_timeout`,
//! "between two successive writes", has the same hole): a `write()` that
//! made any progress before `SO_SNDTIMEO` fired returns the count, and the
//! next `write()` waits a whole timeout again. A client that stopped
//! reading while the receiver's kernel kept reopening a tiny window held a
//! worker 6.06 s with `--idle-timeout 2`. The anchors: Apache
//! `mod_reqtimeout`'s `MinRate` and Caddy's `write_timeout <d> <min_rate>`
//! bound the average rate since the transfer began, after a grace; here
//! the grace is one window and the average restarts with each window, so
//! the megabytes a non-reader's socket buffers swallow at first buy it at
//! most one window, not minutes. Go's `WriteTimeout` is an absolute
//! deadline per response; the server's `--max-conn-time` is that one.
//!
//! The rule sees what `write()` returns, so a blocked `write()` is sampled
//! (`limits::MIN_RATE_SAMPLE`, 250 ms): Linux wakes a writer only once half
//! of its (auto-tuned, up to 4 MiB) send buffer drains, which would hide a
//! steady reader's progress for seconds. A client that reads in small
//! steps must also keep its own receive buffer small (16 KiB or less):
//! behind a multi-megabyte buffer its kernel sends no window update for
//! seconds after small reads, and no sender can see its progress.

use std::io;
use std::time::Duration;

use crate::net::secs;

/// One direction's floor and its current window.
#[derive(Debug)]
pub(crate) struct MinRate {
    rate: u32,
    window: Duration,
    /// Bytes one window must see: `rate x window`, at least 1, so that a
    /// floor of 0 is the idle timeout counted over a whole blocked call.
    quota: u64,
    waited: Duration,
    moved: u64,
}

/// Why the rule cut a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing moved in a whole window.
    Idle(Duration),
    /// Something moved, not enough: bytes, over how long, under what floor.
    Slow { moved: u64, waited: Duration, rate: u32 },
}

impl Verdict {
    /// The `TimedOut` error the trace shows, naming the limit that fired.
    pub fn error(&self) -> io::Error {
        let msg = match self {
            Verdict::Idle(t) => format!("timed out after {}", secs(*t)),
            Verdict::Slow { moved, waited, rate } => format!(
                "below the minimum rate of {rate} bytes/s: {moved} bytes in {} of waiting",
                secs(*waited)
            ),
        };
        io::Error::new(io::ErrorKind::TimedOut, msg)
    }
}

impl MinRate {
    /// A floor of `rate` bytes per second, judged over each `window`.
    pub fn new(rate: u32, window: Duration) -> MinRate {
        let quota = u128::from(rate) * window.as_nanos() / 1_000_000_000;
        let quota = u64::try_from(quota).unwrap_or(u64::MAX).max(1);
        MinRate { rate, window, quota, waited: Duration::ZERO, moved: 0 }
    }

    /// After a call that waited `waited` and moved `moved` bytes: `Err` once
    /// a whole window of waiting has passed without the quota.
    pub fn after(&mut self, waited: Duration, moved: usize) -> Result<(), Verdict> {
        self.waited = self.waited.saturating_add(waited);
        self.moved = self.moved.saturating_add(moved as u64);
        if self.moved >= self.quota {
            self.waited = Duration::ZERO;
            self.moved = 0;
            return Ok(());
        }
        if self.waited < self.window {
            return Ok(());
        }
        Err(match self.moved {
            0 => Verdict::Idle(self.window),
            moved => Verdict::Slow { moved, waited: self.waited, rate: self.rate },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_steady_peer_above_the_floor_is_never_cut() {
        // 16 KiB/s over 2 s: 32 KiB a window; 4 KiB per 250 ms sample is 16 KiB/s.
        let mut r = MinRate::new(16 * 1024, 2000 * MS);
        for _ in 0..1000 {
            assert_eq!(r.after(250 * MS, 4 * 1024), Ok(()));
        }
    }

    #[test]
    fn a_burst_buys_one_window_then_a_trickle_is_cut() {
        let mut r = MinRate::new(16 * 1024, 2000 * MS);
        assert_eq!(r.after(MS, 4_000_000), Ok(()), "socket buffers filling");
        for _ in 0..7 {
            assert_eq!(r.after(250 * MS, 100), Ok(()));
        }
        let v = r.after(250 * MS, 100).unwrap_err();
        assert_eq!(v, Verdict::Slow { moved: 800, waited: 2000 * MS, rate: 16 * 1024 });
        assert!(v.error().to_string().contains("below the minimum rate"), "{}", v.error());
    }

    #[test]
    fn nothing_moved_for_a_window_is_the_idle_timeout() {
        let mut r = MinRate::new(0, 2000 * MS);
        assert_eq!(r.after(1000 * MS, 0), Ok(()));
        assert_eq!(r.after(1000 * MS, 0), Err(Verdict::Idle(2000 * MS)));
        assert_eq!(Verdict::Idle(2000 * MS).error().to_string(), "timed out after 2s");
    }

    #[test]
    fn a_floor_of_zero_lets_any_progress_renew_the_window() {
        let mut r = MinRate::new(0, 2000 * MS);
        for _ in 0..100 {
            assert_eq!(r.after(1900 * MS, 1), Ok(()));
        }
    }
}
