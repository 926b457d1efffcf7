//! What the client threads share: the clock (when measuring starts and
//! ends), the request budget, the progress counters, and the starting gate
//! that lets them all go at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Instant;

use super::{BenchOptions, Stop};
use crate::net::Endpoint;

/// State every client thread shares: the clock and the progress counters.
pub(super) struct Shared {
    pub(super) opts: BenchOptions,
    /// The server: an internet address or a Unix-domain path.
    pub(super) addr: Endpoint,
    /// The clients are let go here: the warm-up starts, and so does the
    /// open loop's schedule.
    pub(super) start: OnceLock<Instant>,
    /// Measurement starts here (after connecting and the warm-up).
    pub(super) measure_from: OnceLock<Instant>,
    /// Duration runs: when measuring ends. Set, like `measure_from`,
    /// before the client threads are let go.
    pub(super) deadline: OnceLock<Instant>,
    /// Connecting (and idle mode's one echo per connection) must be done
    /// by then: one `--timeout` after the threads start, however many
    /// connections there are.
    pub(super) setup_until: Instant,
    pub(super) stop: AtomicBool,
    pub(super) done: AtomicU64,
    pub(super) failed: AtomicU64,
    /// Measured requests still to be made (`Stop::Requests`).
    budget: AtomicU64,
}

impl Shared {
    /// The state of a run about to start, against `addr`.
    pub(super) fn new(opts: &BenchOptions, addr: Endpoint) -> Shared {
        let budget = match opts.stop {
            Stop::Requests(n) => n,
            Stop::Duration(_) => u64::MAX,
        };
        Shared {
            opts: opts.clone(),
            addr,
            start: OnceLock::new(),
            measure_from: OnceLock::new(),
            deadline: OnceLock::new(),
            setup_until: Instant::now() + opts.timeout,
            stop: AtomicBool::new(false),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            budget: AtomicU64::new(budget),
        }
    }

    pub(super) fn measuring(&self, now: Instant) -> bool {
        self.measure_from.get().is_some_and(|t| now >= *t)
    }

    /// Duration runs: no call may still be waiting one `--timeout` after
    /// the deadline. A call started before the deadline waits at most one
    /// timeout anyway; this bounds the calls after it (the further reads
    /// of a large echo, the rest of a lockstep round).
    pub(super) fn hard_end(&self) -> Option<Instant> {
        self.deadline.get().map(|d| *d + self.opts.timeout)
    }

    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Takes up to `want` requests from the shared budget; 0 means stop.
    pub(super) fn take(&self, want: u64, now: Instant) -> u64 {
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
pub(super) struct Gate {
    state: Mutex<(usize, bool)>,
    changed: Condvar,
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
    /// ended, see [`Arrival`]).
    pub(super) fn wait_for(&self, n: usize) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while st.0 < n {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub(super) fn open(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.1 = true;
        self.changed.notify_all();
    }
}

/// A client thread's place at the gate: it checks in exactly once, either
/// through [`Arrival::arrive`] or, if the thread ends or panics before
/// that, when this is dropped, so that the main thread never waits for a
/// thread that will not come.
pub(super) struct Arrival<'a> {
    gate: &'a Gate,
    arrived: bool,
}

impl<'a> Arrival<'a> {
    pub(super) fn new(gate: &'a Gate) -> Self {
        Arrival { gate, arrived: false }
    }

    /// Checks in and waits for the start.
    pub(super) fn arrive(&mut self) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn a_thread_that_panics_before_the_gate_is_still_counted_in() {
        let gate = Arc::new(Gate::default());
        let g = Arc::clone(&gate);
        let ended = thread::spawn(move || {
            let _ready = Arrival::new(&g);
            panic!("before the gate");
        })
        .join();
        assert!(ended.is_err());
        // The main thread's wait_for(1) would return: one thread counted.
        let st = gate.state.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(st.0, 1);
    }

    #[test]
    fn requests_budget_is_shared_exactly() {
        let opts = BenchOptions { stop: Stop::Requests(10), ..BenchOptions::default() };
        let shared = Shared::new(&opts, Endpoint::Inet(([127, 0, 0, 1], 9).into()));
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
