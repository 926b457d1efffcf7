//! The server's counters: shared atomics while running, a plain [`Stats`]
//! snapshot for callers.
//!
//! Per-connection byte counts are kept in the connection and added here once,
//! at `close()`, so the hot path touches no shared cache line per read.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::net::Outcome;

/// The counter list, written once: it makes [`Stats`] (the snapshot
/// callers get), its `name=value` line, and the live atomic `Counters`.
macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// What the server has done so far. Returned by
        /// [`ServerHandle::stats`](crate::ServerHandle::stats) and by shutdown.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Stats {
            $($(#[$doc])* pub $name: u64,)*
        }

        /// `accepted=3 closed=3 ...`: every counter, in declaration order.
        impl fmt::Display for Stats {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut sep = "";
                $(
                    write!(f, "{sep}{}={}", stringify!($name), self.$name)?;
                    sep = " ";
                )*
                let _ = sep;
                Ok(())
            }
        }

        /// The live counters, shared by every thread of one server.
        #[derive(Default, Debug)]
        pub(crate) struct Counters {
            $(pub $name: AtomicU64,)*
        }

        impl Counters {
            pub fn snapshot(&self) -> Stats {
                Stats { $($name: self.$name.load(Ordering::Relaxed),)* }
            }

            /// Counts a connection that ended with `e`, by what it means.
            pub fn failed(&self, e: &io::Error) {
                bump(match Outcome::of(e) {
                    Outcome::TimedOut => &self.timed_out,
                    Outcome::Gone => &self.reset,
                    Outcome::Failed => &self.io_errors,
                });
            }
        }
    };
}

counters! {
    /// Stream connections returned by `accept()` (rejected ones included).
    accepted,
    /// Stream connections closed after being served (or rejected).
    closed,
    /// Stream connections turned away with `busy` (`--overload reject`).
    rejected,
    /// Connections ended by an idle timeout or `max_conn_time`.
    timed_out,
    /// Connections ended by the peer resetting them.
    reset,
    /// Connections ended by another I/O error.
    io_errors,
    /// Handlers that panicked (each closed only its own connection).
    panics,
    /// `accept()` calls that failed (EMFILE, ECONNABORTED, ...).
    accept_errors,
    /// Bytes read from connections and datagrams.
    bytes_in,
    /// Bytes written to connections and sent in datagrams.
    bytes_out,
    /// Datagrams received.
    datagrams_in,
    /// Datagrams sent.
    datagrams_out,
    /// Datagrams not answered: low source port, the server's own address,
    /// or an unnamed Unix-domain sender.
    dropped_datagrams,
    /// Datagrams dropped by the per-peer rate limit.
    rate_limited,
}

pub(crate) fn bump(c: &AtomicU64) -> u64 {
    c.fetch_add(1, Ordering::Relaxed) + 1
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    if n != 0 {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// `max_connections` and `max_datagrams`: the counts after which a server
/// asks to stop (for labs, tests and benchmarks that serve a fixed amount).
#[derive(Debug, Default)]
pub(crate) struct Quota {
    pub max_connections: Option<u64>,
    pub max_datagrams: Option<u64>,
    /// Datagrams fully handled (answered, dropped or refused).
    datagrams_done: AtomicU64,
}

impl Quota {
    /// A datagram has been handled to the end; true once every count given
    /// is reached. Costs nothing unless `max_datagrams` was asked for: the
    /// counter is one more shared cache line every datagram worker writes.
    pub fn datagram_done(&self, c: &Counters) -> bool {
        if self.max_datagrams.is_none() {
            return false;
        }
        self.datagrams_done.fetch_add(1, Ordering::AcqRel);
        self.reached(c)
    }

    /// True once every count that was given is reached; with none, never.
    /// Served means closed after being served: refusals do not count.
    pub fn reached(&self, c: &Counters) -> bool {
        if self.max_connections.is_none() && self.max_datagrams.is_none() {
            return false;
        }
        let served =
            c.closed.load(Ordering::SeqCst).saturating_sub(c.rejected.load(Ordering::SeqCst));
        let done = self.datagrams_done.load(Ordering::Acquire);
        self.max_connections.map_or(true, |n| served >= n)
            && self.max_datagrams.map_or(true, |n| done >= n)
    }
}
