//! The server's counters: shared atomics while running, a plain [`Stats`]
//! snapshot for callers.
//!
//! Per-connection byte counts are kept in the connection and added here once,
//! at `close()`, so the hot path touches no shared cache line per read.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the server has done so far. Returned by
/// [`ServerHandle::stats`](crate::ServerHandle::stats) and by shutdown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// TCP connections returned by `accept()` (rejected ones included).
    pub accepted: u64,
    /// TCP connections closed after being served (or rejected).
    pub closed: u64,
    /// TCP connections turned away with `busy` (`--overload reject`).
    pub rejected: u64,
    /// Connections ended by an idle timeout or `max_conn_time`.
    pub timed_out: u64,
    /// Connections ended by the peer resetting them.
    pub reset: u64,
    /// Connections ended by another I/O error.
    pub io_errors: u64,
    /// Handlers that panicked (each closed only its own connection).
    pub panics: u64,
    /// `accept()` calls that failed (EMFILE, ECONNABORTED, ...).
    pub accept_errors: u64,
    /// Bytes read from TCP connections and UDP datagrams.
    pub bytes_in: u64,
    /// Bytes written to TCP connections and sent in UDP datagrams.
    pub bytes_out: u64,
    /// UDP datagrams received.
    pub datagrams_in: u64,
    /// UDP datagrams sent.
    pub datagrams_out: u64,
    /// UDP datagrams not answered: low source port or the server's own address.
    pub dropped_datagrams: u64,
    /// UDP datagrams dropped by the per-peer rate limit.
    pub rate_limited: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "accepted={} closed={} rejected={} timed_out={} reset={} io_errors={} panics={} \
             accept_errors={} bytes_in={} bytes_out={} datagrams_in={} datagrams_out={} \
             dropped_datagrams={} rate_limited={}",
            self.accepted,
            self.closed,
            self.rejected,
            self.timed_out,
            self.reset,
            self.io_errors,
            self.panics,
            self.accept_errors,
            self.bytes_in,
            self.bytes_out,
            self.datagrams_in,
            self.datagrams_out,
            self.dropped_datagrams,
            self.rate_limited
        )
    }
}

/// The live counters, shared by every thread of one server.
#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub closed: AtomicU64,
    pub rejected: AtomicU64,
    pub timed_out: AtomicU64,
    pub reset: AtomicU64,
    pub io_errors: AtomicU64,
    pub panics: AtomicU64,
    pub accept_errors: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub datagrams_in: AtomicU64,
    pub datagrams_out: AtomicU64,
    pub dropped_datagrams: AtomicU64,
    pub rate_limited: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) -> u64 {
    c.fetch_add(1, Ordering::Relaxed) + 1
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    if n != 0 {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            accepted: g(&self.accepted),
            closed: g(&self.closed),
            rejected: g(&self.rejected),
            timed_out: g(&self.timed_out),
            reset: g(&self.reset),
            io_errors: g(&self.io_errors),
            panics: g(&self.panics),
            accept_errors: g(&self.accept_errors),
            bytes_in: g(&self.bytes_in),
            bytes_out: g(&self.bytes_out),
            datagrams_in: g(&self.datagrams_in),
            datagrams_out: g(&self.datagrams_out),
            dropped_datagrams: g(&self.dropped_datagrams),
            rate_limited: g(&self.rate_limited),
        }
    }
}
