//! A stop that loses no reply and waits on no client for ever.
//!
//! Stopping a server that is serving has two ways to go wrong: cut a
//! connection whose reply is half written (the client loses an answer to a
//! request it sent), or wait for a client that never finishes (the stop
//! hangs). [`Stop`] is the state the server keeps to avoid both: the flags
//! every worker looks at, the count of connections in flight, one slot per
//! stream worker holding the connection it serves (so that it can be cut),
//! and the one condition-variable wait of the server (for a stop request,
//! and for the connections in flight to finish). The server updates it as
//! connections come and go (`server/state.rs`); `server/handle.rs` runs
//! the stop itself with [`Stop::begin`] and [`Stop::finish`].
//!
//! The order of a stop is in [`Stop::finish`]: wait up to the grace period,
//! cut input only (a handler blocked in `read()` sees end of file and can
//! still answer what it read), wait up to the drain limit, then cut both
//! ways (a handler blocked writing to a client that does not read).

use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::transport::Stream;

/// The stop's shared state (see the module docs).
pub(crate) struct Stop {
    stopping: AtomicBool,
    /// Set once the stop starts cutting connections left after the grace.
    cutting: AtomicBool,
    requested: AtomicBool,
    active: AtomicUsize,
    /// Per stream worker: the connection it serves, for the cut.
    slots: Vec<Mutex<Option<Arc<Stream>>>>,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Stop {
    /// The state for a server with `stream_workers` slots.
    pub fn new(stream_workers: usize) -> Stop {
        Stop {
            stopping: AtomicBool::new(false),
            cutting: AtomicBool::new(false),
            requested: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            slots: (0..stream_workers).map(|_| Mutex::default()).collect(),
            lock: Mutex::new(()),
            changed: Condvar::new(),
        }
    }

    /// True once the stop has begun: no new work from here on.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Connections in flight.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// A connection was accepted: in flight until [`Stop::leave`].
    // SeqCst here and in `begin`: the flag and the count are two variables
    // each side writes one of and reads the other, so either the stop sees
    // this connection or the accepting thread sees the flag.
    pub fn enter(&self) {
        self.active.fetch_add(1, Ordering::SeqCst);
    }

    /// A connection was closed.
    pub fn leave(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
        if self.stopping() {
            self.notify();
        }
    }

    /// Asks whoever waits for a stop request to stop the server.
    pub fn request(&self) {
        if !self.requested.swap(true, Ordering::AcqRel) {
            self.notify();
        }
    }

    /// True once a stop was requested.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Step 1 of a stop: no new work from here on.
    pub fn begin(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    fn slot(&self, worker: usize) -> Option<MutexGuard<'_, Option<Arc<Stream>>>> {
        self.slots.get(worker).map(|s| s.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Puts the connection `worker` serves in its slot, so that the stop
    /// can cut it if it outlives the grace; true if there was a slot.
    /// Once cutting has begun, a connection accepted just as the cut
    /// happened is cut at once rather than escaping it.
    pub fn serving(&self, worker: usize, stream: &Arc<Stream>) -> bool {
        let held = self.slot(worker).map(|mut slot| *slot = Some(Arc::clone(stream)));
        if self.cutting.load(Ordering::SeqCst) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        held.is_some()
    }

    /// Takes the connection out of `worker`'s slot: it is being closed.
    pub fn vacate(&self, worker: usize) -> Option<Arc<Stream>> {
        self.slot(worker)?.take()
    }

    fn notify(&self) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.changed.notify_all();
    }

    /// Waits until `done()` or `until` (`None`: for ever). True if done.
    pub fn wait_until(&self, until: Option<Instant>, done: impl Fn(&Stop) -> bool) -> bool {
        let mut g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if done(self) {
                return true;
            }
            g = match until {
                None => self.changed.wait(g).unwrap_or_else(|p| p.into_inner()),
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    match self.changed.wait_timeout(g, left) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    }
                }
            };
        }
    }

    /// After [`Stop::begin`] and the wake-up of every blocked thread: the
    /// grace, the two cuts, and the waits between them (see the module
    /// docs). Returns within `grace` + `drain` plus the time threads take
    /// to notice; a duration too large to add to the clock waits for ever.
    pub fn finish(&self, grace: Duration, drain: Duration) {
        let idle = |within: Duration| {
            let until = Instant::now().checked_add(within);
            self.wait_until(until, |s| s.active() == 0);
        };
        idle(grace);
        // Input first: cutting both ways at once made the write of an
        // answer to a request already read fail with EPIPE.
        self.cut(Shutdown::Read);
        idle(drain);
        // Then whatever is left: replies to a client that does not read
        // could not be delivered anyway.
        self.cut(Shutdown::Both);
    }

    /// `shutdown(how)` on every connection still being served.
    fn cut(&self, how: Shutdown) {
        self.cutting.store(true, Ordering::SeqCst);
        for slot in &self.slots {
            let slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(stream) = slot.as_ref() {
                let _ = stream.shutdown(how);
            }
        }
    }
}
