//! More clients than workers, with `--overload reject`: the acceptor counts
//! busy workers itself and, when all are busy, answers `busy\r\n` at once
//! instead of leaving the client in the `listen()` backlog.

use std::io::Write;
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::transport::Stream;

/// Workers holding a connection, counted by the acceptor rather than asked
/// of the rendezvous channel: a worker that has just closed its connection
/// (or has just taken a job, letting the next one reach `recv`) is not yet
/// waiting on the channel, so `try_send` failed with workers free and bursts
/// were refused. Only the acceptor takes, so check-then-take is exact.
#[derive(Default)]
pub(crate) struct Busy(Arc<AtomicUsize>);

impl Busy {
    /// A worker for the next connection, or `None` when all `workers` are busy.
    pub fn take(&self, workers: usize) -> Option<Release> {
        if self.0.load(Ordering::Acquire) >= workers {
            return None;
        }
        self.0.fetch_add(1, Ordering::AcqRel);
        Some(Release(Arc::clone(&self.0)))
    }
}

/// Marks a worker free again when its job ends, panic or not.
pub(crate) struct Release(Arc<AtomicUsize>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `write(fd, "busy\r\n")` (or the service's own words for it, `reply`),
/// `shutdown(SHUT_WR)`: returns the bytes written. A fresh socket's send
/// buffer is empty, so the write cannot block for long; the timeout is a
/// guard, not a wait.
pub(crate) fn say_busy(stream: &Stream, reply: &[u8]) -> u64 {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let out = (&*stream).write(reply).map_or(0, |n| n as u64);
    let _ = stream.shutdown(Shutdown::Write);
    out
}
