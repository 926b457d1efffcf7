//! `accept()` failing in a loop. Never stop, never spin: errors that belong
//! to one new connection are retried at once; running out of descriptors or
//! memory pauses the worker (doubling up to a limit) and is reported once
//! per episode for the whole server, not once per worker. During such an
//! episode one worker at a time retries `accept()`; the others wait until
//! it ends, so that workers past the descriptor limit (which fail the
//! moment they retry) do not fail by the thousand.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use super::stop::Stop;
use crate::limits::Limits;
use crate::stats::{bump, Counters};
use crate::trace::{Event, Observer};

/// An episode of `accept()` failing for lack of descriptors or memory,
/// shared by all the workers of a server.
#[derive(Default)]
pub(crate) struct Episode {
    /// Set while `accept()` is failing, so that an episode is reported once.
    on: AtomicBool,
    /// Held by the one worker that retries `accept()` during an episode.
    probe: AtomicBool,
    /// The start-up warning (see `guard::nofile`) already said that
    /// `accept()` will fail with EMFILE: the episode lines would repeat it.
    foretold: AtomicBool,
}

impl Episode {
    /// Says that the start-up warning has told of these failures.
    pub fn foretell(&self) {
        self.foretold.store(true, Ordering::Relaxed);
    }

    fn quiet(&self) -> bool {
        self.foretold.load(Ordering::Relaxed)
    }
}

/// What a worker's back-off reads and reports to.
pub(crate) struct Context<'a> {
    /// The back-off bounds.
    pub limits: &'a Limits,
    /// The server's current episode, if any.
    pub episode: &'a Episode,
    /// A worker waiting its turn leaves when the server stops.
    pub stop: &'a Stop,
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
    /// This worker holds the episode's probe.
    probing: bool,
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
        let episode = ctx.episode;
        let starts = self.failures == 1 && !immediate && !episode.on.swap(true, Ordering::AcqRel);
        if starts && !episode.quiet() {
            eprintln!(
                "sockref: accept() error: {e}; pausing accept() until descriptors free up \
                 (if this lasts: raise ulimit -n, or lower --workers)"
            );
        }
        if let Some(obs) = ctx.observer {
            obs.event(&Event::AcceptError { error: e, backoff: pause });
        }
        if !pause.is_zero() {
            thread::sleep(pause);
            self.wait_turn(ctx);
        }
    }

    /// Out of descriptors, a worker past the limit fails again the moment
    /// it retries: 750 of them at the longest pause are 750 failed calls a
    /// second, for ever. So one worker (the probe) retries, on its doubling
    /// pause; the others wait, without calling `accept()`, until the
    /// episode ends, the probe is free, or the server stops.
    fn wait_turn(&mut self, ctx: &Context<'_>) {
        let episode = ctx.episode;
        while !self.probing {
            if !episode.on.load(Ordering::Acquire) || ctx.stop.stopping() {
                return;
            }
            self.probing = episode
                .probe
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if !self.probing {
                thread::sleep(ctx.limits.accept_backoff_max);
            }
        }
    }

    pub fn recovered(&mut self, ctx: &Context<'_>) {
        if self.failures > 0 {
            if self.probing {
                ctx.episode.probe.store(false, Ordering::Release);
            }
            let ended = self.pause.is_some() && ctx.episode.on.swap(false, Ordering::AcqRel);
            if ended && !ctx.episode.quiet() {
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
