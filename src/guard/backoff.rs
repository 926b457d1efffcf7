//! `accept()` failing in a loop. Never stop, never spin: errors that belong
//! to one new connection are retried at once; running out of descriptors or
//! memory pauses the worker (doubling up to a limit) and is reported once
//! per episode for the whole server, not once per worker.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::limits::Limits;
use crate::stats::{bump, Counters};
use crate::trace::{Event, Observer};

/// What a worker's back-off reads and reports to.
pub(crate) struct Context<'a> {
    /// The back-off bounds.
    pub limits: &'a Limits,
    /// Set while `accept()` is failing for lack of descriptors or memory,
    /// shared by all workers so that an episode is reported once.
    pub episode: &'a AtomicBool,
    /// `accept_errors` lives here.
    pub counters: &'a Counters,
    /// The trace.
    pub observer: Option<&'a dyn Observer>,
}

/// What to do when `accept()` fails. Never stop, never spin:
/// - EINTR, ECONNABORTED and the network errors Linux passes up from the
///   new connection (see accept(2)): retry at once;
/// - EMFILE, ENFILE, ENOBUFS, ENOMEM (out of descriptors or memory): pause,
///   5 ms doubling to 1 s, so an exhausted server sleeps instead of burning
///   a core, and resumes as soon as descriptors free up;
/// - anything else: the same pause, as the safe default.
#[derive(Default)]
pub(crate) struct Backoff {
    pause: Option<Duration>,
    failures: u64,
}

impl Backoff {
    pub fn failed(&mut self, e: &io::Error, ctx: &Context<'_>) {
        if e.kind() == io::ErrorKind::Interrupted {
            return;
        }
        bump(&ctx.counters.accept_errors);
        let immediate = e.kind() == io::ErrorKind::ConnectionAborted
            || matches!(
                e.raw_os_error(),
                // EPROTO, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH,
                // EOPNOTSUPP, ENETDOWN, ENETUNREACH (Linux numbers)
                Some(71 | 92 | 112 | 64 | 113 | 95 | 100 | 101)
            );
        let limits = ctx.limits;
        let pause = if immediate {
            Duration::ZERO
        } else {
            let next = self
                .pause
                .map_or(limits.accept_backoff_min, |p| (p * 2).min(limits.accept_backoff_max));
            self.pause = Some(next);
            next
        };
        self.failures += 1;
        // One line per episode for the whole server, not one per worker:
        // out of descriptors, every idle worker fails at once (100 lines
        // for 100 workers said nothing the first did not).
        if self.failures == 1 && !immediate && !ctx.episode.swap(true, Ordering::AcqRel) {
            eprintln!("sockref: accept() error: {e}; pausing accept() until descriptors free up");
        }
        if let Some(obs) = ctx.observer {
            obs.event(&Event::AcceptError { error: e, backoff: pause });
        }
        if !pause.is_zero() {
            thread::sleep(pause);
        }
    }

    pub fn recovered(&mut self, ctx: &Context<'_>) {
        if self.failures > 0 {
            if self.pause.is_some() && ctx.episode.swap(false, Ordering::AcqRel) {
                eprintln!(
                    "sockref: accept() recovered ({} failed calls so far)",
                    ctx.counters.accept_errors.load(Ordering::Relaxed)
                );
            }
            if let Some(obs) = ctx.observer {
                obs.event(&Event::AcceptRecovered { failures: self.failures });
            }
            *self = Backoff::default();
        }
    }
}
