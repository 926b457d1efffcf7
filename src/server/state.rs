//! What every server thread shares, and the books of one connection.
//!
//! [`Shared`] holds the service, the limits, the trace, the counters and
//! the stop (`guard::stop`). [`Session`] is one accepted connection from
//! `accept()` to `close()`: while it lives the connection counts as in
//! flight (so shutdown waits for it) and sits in its worker's slot (so
//! shutdown can cut it). Closing it is the bookkeeping half of `close()`.
//!
//! A leaf of `server/`: it imports nothing of its siblings.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

use crate::error::Error;
use crate::guard::backoff;
use crate::guard::per_ip::PerIp;
use crate::guard::stop::Stop;
use crate::limits::Limits;
use crate::net::Endpoint;
use crate::pool::ThreadPool;
use crate::service::Service;
use crate::stats::{add, bump, Counters, Quota};
use crate::trace::{emit, Event, Observer, Proto};
use crate::transport::Stream;

/// One socket a server listens on, as its ready line shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listening {
    /// `tcp`, `udp`, `unix` or `unixgram`.
    pub proto: Proto,
    /// The bound address (the real port when 0 was asked), or path.
    pub addr: Endpoint,
    /// Worker threads serving it.
    pub workers: usize,
}

/// State every server thread shares.
pub(crate) struct Shared {
    pub service: Arc<dyn Service>,
    pub limits: Limits,
    pub observer: Option<Arc<dyn Observer>>,
    pub counters: Counters,
    /// `--max-per-ip`: connections being served per source address.
    pub per_ip: PerIp,
    /// Set while `accept()` fails for lack of descriptors (see `guard::backoff`).
    pub accept_paused: backoff::Episode,
    /// The flags, the count in flight and the workers' slots.
    pub stop: Stop,
    /// Per stream worker: the connection a panic unwound there, its number
    /// and its `close()` event, kept for the panic's report.
    unwound: Vec<Mutex<Option<(u64, Event<'static>)>>>,
    next_conn: AtomicU64,
    quota: Quota,
}

impl Shared {
    pub fn new(
        service: Arc<dyn Service>,
        limits: Limits,
        observer: Option<Arc<dyn Observer>>,
        stream_workers: usize,
        quota: Quota,
    ) -> Shared {
        Shared {
            service,
            per_ip: PerIp::new(limits.max_per_ip),
            limits,
            observer,
            counters: Counters::default(),
            accept_paused: backoff::Episode::default(),
            stop: Stop::new(stream_workers),
            unwound: (0..stream_workers).map(|_| Mutex::default()).collect(),
            next_conn: AtomicU64::new(0),
            quota,
        }
    }

    /// Starts `n` worker threads named `{name}-N` with the configured
    /// stack, every caught panic handed to `hook`. The queue is a
    /// rendezvous (0): a job is handed over only to a worker that is
    /// waiting for one, so no connection ever sits in a user-space queue.
    pub fn spawn(
        &self,
        n: usize,
        name: &str,
        hook: impl Fn(usize, &str) + Send + Sync + 'static,
    ) -> Result<ThreadPool, Error> {
        ThreadPool::new(n, 0, name, self.limits.stack_size, Arc::new(hook)).map_err(thread_error)
    }

    fn unwound(&self, worker: usize) -> Option<MutexGuard<'_, Option<(u64, Event<'static>)>>> {
        self.unwound.get(worker).map(|s| s.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn observer(&self) -> Option<&dyn Observer> {
        self.observer.as_deref()
    }

    /// What `accept()`'s back-off reads and reports to.
    pub fn backoff(&self) -> backoff::Context<'_> {
        backoff::Context {
            limits: &self.limits,
            episode: &self.accept_paused,
            stop: &self.stop,
            counters: &self.counters,
            observer: self.observer(),
        }
    }

    pub fn stopping(&self) -> bool {
        self.stop.stopping()
    }

    /// Called as soon as `accept()` returns: the connection counts as
    /// accepted and in flight until its session is closed or dropped.
    pub fn accepted(self: &Arc<Self>) -> Session {
        bump(&self.counters.accepted);
        self.stop.enter();
        Session {
            shared: Arc::clone(self),
            id: self.next_conn.fetch_add(1, Ordering::Relaxed) + 1,
            started: Instant::now(),
            slot: None,
            served: false,
            closed: false,
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
        }
    }

    /// The pool caught a panic on `worker` (`None`: a datagram worker):
    /// count it, trace it against the connection it unwound, then that
    /// connection's close.
    pub fn panicked(&self, worker: Option<usize>, message: &str) {
        bump(&self.counters.panics);
        let (conn, close) = worker.and_then(|w| self.unwound(w)?.take()).unzip();
        emit!(self.observer(), Event::Panic { conn: conn.unwrap_or(0), message });
        if let Some(close) = close {
            emit!(self.observer(), close);
        }
    }

    /// A datagram has been handled to the end (reply sent, or not).
    pub fn datagram_done(&self) {
        if self.quota.datagram_done(&self.counters) {
            self.stop.request();
        }
    }
}

/// A worker thread that could not be started, or given its loop.
pub(crate) fn thread_error(e: io::Error) -> Error {
    Error::new("pthread_create()", None, e)
}

/// One accepted connection's books (see the module docs).
pub(crate) struct Session {
    shared: Arc<Shared>,
    /// Connection number, counting from 1, as the trace shows it.
    pub id: u64,
    pub started: Instant,
    slot: Option<usize>,
    served: bool,
    closed: bool,
    /// Bytes read and written, kept by `Conn`: here rather than in `Conn`
    /// so that a connection a panic unwound is still counted in full.
    pub bytes_in: Cell<u64>,
    pub bytes_out: Cell<u64>,
}

impl Session {
    /// True once the server has begun to stop.
    pub fn stopping(&self) -> bool {
        self.shared.stopping()
    }

    /// The connection is being served on `worker`: put it in that worker's
    /// slot so that shutdown can cut it if it outlives the grace period.
    pub fn serving(&mut self, worker: usize, stream: &Arc<Stream>) {
        self.served = true;
        if self.shared.stop.serving(worker, stream) {
            self.slot = Some(worker);
        }
    }

    /// `close()`: the books, then the descriptor (the slot held the only
    /// other reference, so dropping `stream` closes it), then the trace.
    pub fn close(mut self, stream: Arc<Stream>) {
        let closed = self.books();
        drop(stream);
        emit!(self.shared.observer(), closed);
    }

    /// Closes a connection accepted while the server was stopping: counted,
    /// never served, not traced.
    pub fn close_unserved(mut self, stream: Stream) {
        self.books();
        drop(stream);
    }

    /// Counts the connection closed and returns its `close()` event.
    fn books(&mut self) -> Event<'static> {
        self.closed = true;
        let shared = &self.shared;
        let (bytes_in, bytes_out) = (self.bytes_in.get(), self.bytes_out.get());
        add(&shared.counters.bytes_in, bytes_in);
        add(&shared.counters.bytes_out, bytes_out);
        // Out of the slot, but closed only after the counts below: a client
        // that sees end of file must find the connection counted closed.
        let held = self.slot.and_then(|w| shared.stop.vacate(w));
        bump(&shared.counters.closed);
        shared.stop.leave();
        if self.served && shared.quota.reached(&shared.counters) {
            shared.stop.request();
        }
        drop(held);
        Event::Close { conn: self.id, duration: self.started.elapsed(), bytes_in, bytes_out }
    }
}

impl Drop for Session {
    /// Only a panic gets here unclosed: close the books while unwinding,
    /// and leave the trace line for [`Shared::panicked`], so that the trace
    /// reads panic, then close (and no observer runs during unwinding).
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let closed = self.books();
        if thread::panicking() {
            if let Some(mut unwound) = self.slot.and_then(|w| self.shared.unwound(w)) {
                *unwound = Some((self.id, closed));
            }
        }
    }
}
