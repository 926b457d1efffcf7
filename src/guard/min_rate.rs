//! Slow peers: a client that takes the server's output (or, when asked,
//! sends its input) so slowly that it holds a worker for ever without ever
//! letting a single call time out: the "Slow Read" attack (`slowhttptest
//! -X`), and its mirror, the trickled request body.
//!
//! The rule, "minimum rate": while a worker waits in `write()` (or in
//! `read()`, if that floor is set), the peer must move `rate` bytes per
//! second of that waiting, on average, with one idle timeout `T` of
//! credit. The connection starts with `T` of waiting in hand; each call
//! spends the time it waited and earns `1 s` per `rate` bytes it moved;
//! the credit never exceeds `T`. When it runs out the connection is cut:
//! "timed out" if nothing moved since the credit was last full, "below the
//! minimum rate" otherwise. A floor of 0 earns the full `T` back with any
//! progress: the idle timeout, counted over a whole blocked `write()`.
//! Only time spent inside a call counts, so a service that computes is
//! never charged, nor (for output) a request/response client that pauses
//! between requests; with the input floor on, those pauses are spent inside
//! `read()` and are charged, which is why that floor is off by default.
//!
//! Why not the per-call socket timeout alone (nginx's `send_timeout`,
//! "between two successive writes", has the same hole): a `write()` that
//! made any progress before `SO_SNDTIMEO` fired returns the count, and the
//! next `write()` waits a whole timeout again. A client that stopped
//! reading while the receiver's kernel kept reopening a tiny window held a
//! worker 6.06 s with `--idle-timeout 2`. The anchors: Apache
//! `mod_reqtimeout`'s `MinRate` and Caddy's `write_timeout <d> <min_rate>`
//! bound the average rate since the transfer began, after a grace; Apache's
//! `header=20-40,MinRate=500` also caps how far the rate may push the
//! deadline (40 s). Here the grace is `T` and so is the cap: the megabytes
//! a non-reader's socket buffers swallow at first buy it `T`, not minutes
//! (an earlier version judged fixed windows of `T`, and the tail of that
//! burst, up to a whole window's quota, sometimes bought a second window).
//! Go's `WriteTimeout` is an absolute deadline per response; the server's
//! `--max-conn-time` is that one.
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

/// One direction's floor and its credit.
#[derive(Debug)]
pub(crate) struct MinRate {
    rate: u32,
    window: Duration,
    /// Waiting the peer may still cause before it is cut, at most `window`.
    credit: Duration,
    /// Since the credit was last full: for the message.
    waited: Duration,
    moved: u64,
}

/// Why the rule cut a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing moved while a whole window of credit ran out.
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
    /// The waiting the peer may still cause before it is cut.
    pub fn credit(&self) -> Duration {
        self.credit
    }

    /// A floor of `rate` bytes per second, with `window` of credit.
    pub fn new(rate: u32, window: Duration) -> MinRate {
        MinRate { rate, window, credit: window, waited: Duration::ZERO, moved: 0 }
    }

    /// What moving `moved` bytes earns: 1 s per `rate` bytes (all of the
    /// window for any progress with a floor of 0).
    fn earned(&self, moved: usize) -> Duration {
        match (moved, self.rate) {
            (0, _) => Duration::ZERO,
            (_, 0) => self.window,
            (n, rate) => {
                let nanos = (n as u128).saturating_mul(1_000_000_000) / u128::from(rate);
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
        }
    }

    /// After a call that waited `waited` and moved `moved` bytes: `Err` once
    /// the credit has run out.
    pub fn after(&mut self, waited: Duration, moved: usize) -> Result<(), Verdict> {
        self.waited = self.waited.saturating_add(waited);
        self.moved = self.moved.saturating_add(moved as u64);
        let credit = self.credit.saturating_add(self.earned(moved));
        if credit >= self.window.saturating_add(waited) {
            *self = MinRate::new(self.rate, self.window);
            return Ok(());
        }
        if credit > waited {
            self.credit = credit - waited;
            return Ok(());
        }
        self.credit = Duration::ZERO;
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
        // 16 bytes earn under 1 ms a sample: 8 samples of 250 ms spend 2 s.
        for _ in 0..8 {
            assert_eq!(r.after(250 * MS, 16), Ok(()));
        }
        let v = r.after(250 * MS, 16).unwrap_err();
        assert_eq!(v, Verdict::Slow { moved: 144, waited: 2250 * MS, rate: 16 * 1024 });
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
    fn a_peer_at_half_the_floor_is_cut_once_its_credit_is_spent() {
        // 8 KiB/s against 16 KiB/s: loses 125 ms of credit a 250 ms sample.
        let mut r = MinRate::new(16 * 1024, 2000 * MS);
        for _ in 0..15 {
            assert_eq!(r.after(250 * MS, 2048), Ok(()));
        }
        assert!(r.after(250 * MS, 2048).is_err());
    }

    #[test]
    fn a_floor_of_zero_lets_any_progress_renew_the_window() {
        let mut r = MinRate::new(0, 2000 * MS);
        for _ in 0..100 {
            assert_eq!(r.after(1900 * MS, 1), Ok(()));
        }
    }
}
