//! The TCP server, in the order of the C program:
//!
//! ```text
//! socket() + bind() + listen()   listen()            TcpListener::bind
//! accept()                       accept_loop()       listener.accept()
//! read() / write()               serve() -> service  Conn (Read + Write)
//! close()                        serve()             drop(stream)
//! ```
//!
//! Each accepted connection is served to completion by one worker thread
//! (thread-per-connection from a fixed pool), then closed. By default every
//! worker calls `accept()` itself on the shared listener ("prethreaded"
//! server, UNIX Network Programming ch. 30): the kernel hands each new
//! connection to exactly one sleeping worker, with no hand-off between
//! threads. Measured side by side against one acceptor thread feeding the
//! pool (BENCHMARKS.md, "Accept model"; 7 rounds): the same rate on
//! persistent connections (pp-c10 within 3 %), and more under connection
//! churn, where the hand-off adds a second thread's wake-up to every
//! connection: 2.28x the C thread server's connections per second with 8
//! client threads against 1.69x, 1.45x against 1.41x with 2. The hand-off
//! design is kept for `--overload reject`, where a thread must stay free to
//! say `busy`.
//!
//! What it does not do: know what the service says. It only calls it.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::error::Error;
use crate::limits::{AcceptModel, Overload, LISTEN_BACKLOG};
use crate::pool::{panic_message, ThreadPool};
use crate::server::{Accepted, Shared};
use crate::stats::{add, bump};
use crate::trace::{Event, Proto};

/// `socket()`, `setsockopt(SO_REUSEADDR)`, `bind()`, `listen(128)`: std makes
/// all four calls inside `TcpListener::bind`.
pub(crate) fn listen(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).map_err(|e| Error::new("bind()", Some(addr.to_string()), e))
}

/// A running TCP server: the listener and the threads serving it.
pub(crate) struct TcpServer {
    addr: SocketAddr,
    listener: Arc<TcpListener>,
    pool: Option<Arc<ThreadPool>>,
    acceptor: Option<JoinHandle<()>>,
    workers: usize,
    /// A second descriptor for the listening socket, made at start and used
    /// only to stop it (see [`wake_acceptors`]).
    waker: Waker,
}

/// Starts the workers (and, for hand-off, the acceptor) on a bound listener.
pub(crate) fn start(listener: TcpListener, shared: Arc<Shared>) -> Result<TcpServer, Error> {
    let addr = listener
        .local_addr()
        .map_err(|e| Error::new("getsockname()", None, e))?;
    let limits = &shared.limits;
    let spawn_err = |e: io::Error| Error::new("pthread_create()", None, e);
    // Rendezvous queue: a job is handed over only to a worker that is
    // waiting for one, so no connection ever sits in a user-space queue.
    let pool = Arc::new(
        ThreadPool::new(limits.workers, 0, "sockref-tcp", limits.stack_size).map_err(spawn_err)?,
    );
    if let Some(obs) = shared.observer() {
        obs.event(&Event::Listen {
            proto: Proto::Tcp,
            addr,
            backlog: LISTEN_BACKLOG,
        });
    }
    let listener = Arc::new(listener);
    let mut server = TcpServer {
        addr,
        listener: Arc::clone(&listener),
        pool: Some(Arc::clone(&pool)),
        acceptor: None,
        workers: limits.workers,
        waker: Waker::new(&listener)?,
    };
    match limits.accept_model {
        AcceptModel::Workers => {
            for _ in 0..limits.workers {
                let listener = Arc::clone(&listener);
                let shared = Arc::clone(&shared);
                // Each job is a worker's whole life: accept, serve, repeat.
                if pool
                    .execute(move |worker| accept_loop(worker, &listener, &shared))
                    .is_err()
                {
                    return Err(spawn_err(io::ErrorKind::BrokenPipe.into()));
                }
            }
        }
        AcceptModel::Handoff => {
            let acceptor = thread::Builder::new()
                .name("sockref-accept".into())
                .stack_size(limits.stack_size)
                .spawn(move || acceptor_loop(&listener, &pool, &shared))
                .map_err(spawn_err)?;
            server.acceptor = Some(acceptor);
        }
    }
    Ok(server)
}

impl TcpServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Wakes every thread blocked in `accept()` so it sees the stop flag.
    pub fn stop_accepting(&self) {
        wake_acceptors(&self.waker, &self.listener, self.addr, self.workers);
    }

    /// Joins the acceptor (if any) and every worker.
    pub fn join(mut self) {
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        if let Some(pool) = self.pool.take() {
            // The acceptor has exited, so this is the last reference.
            if let Ok(pool) = Arc::try_unwrap(pool) {
                pool.join();
            }
        }
    }
}

/// On Linux, the listening socket viewed as a `TcpStream` (std has no
/// `shutdown` on `TcpListener`), made when the server starts.
///
/// It cannot be made when stopping: a thread blocked in `accept()` holds a
/// descriptor number the kernel reserved for the connection it waits for,
/// so with workers >= RLIMIT_NOFILE - a few, the table is full even with
/// no client connected, `dup()` failed with EMFILE, and shutdown waited
/// forever for acceptors nobody woke.
#[cfg(target_os = "linux")]
struct Waker(TcpStream);

#[cfg(target_os = "linux")]
impl Waker {
    fn new(listener: &TcpListener) -> Result<Self, Error> {
        let dup = listener
            .try_clone()
            .map_err(|e| Error::new("fcntl(F_DUPFD_CLOEXEC)", None, e))?;
        let fd: std::os::fd::OwnedFd = dup.into();
        Ok(Waker(TcpStream::from(fd)))
    }
}

#[cfg(not(target_os = "linux"))]
struct Waker;

#[cfg(not(target_os = "linux"))]
impl Waker {
    fn new(_listener: &TcpListener) -> Result<Self, Error> {
        Ok(Waker)
    }
}

/// On Linux, `shutdown(2)` on a listening socket makes every `accept()`
/// blocked on it return at once (EINVAL), and later ones fail too: the one
/// system call that stops all acceptors, made through the [`Waker`].
/// Elsewhere, connect once per possible acceptor to wake it.
fn wake_acceptors(waker: &Waker, listener: &TcpListener, addr: SocketAddr, acceptors: usize) {
    #[cfg(target_os = "linux")]
    {
        let _ = (listener, addr, acceptors);
        let _ = waker.0.shutdown(Shutdown::Read);
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (waker, listener);
        let target = crate::udp::loopback_of(addr);
        for _ in 0..acceptors {
            if TcpStream::connect_timeout(&target, Duration::from_millis(50)).is_err() {
                break;
            }
        }
    }
}

/// A worker's life in the prethreaded design: `accept()`, serve, repeat.
fn accept_loop(worker: usize, listener: &TcpListener, shared: &Arc<Shared>) {
    let mut backoff = Backoff::default();
    while !shared.stopping() {
        match listener.accept() {
            Ok((stream, peer)) => {
                let accepted = shared.accepted();
                backoff.recovered(shared);
                if shared.stopping() {
                    break; // accepted during shutdown: close it unserved
                }
                serve_guarded(worker, stream, peer, accepted);
            }
            Err(e) => {
                if shared.stopping() {
                    break;
                }
                backoff.failed(&e, shared);
            }
        }
    }
}

/// The hand-off design: one thread accepts and gives each connection to a
/// free worker; with `--overload reject`, says `busy` when none is free.
fn acceptor_loop(listener: &TcpListener, pool: &ThreadPool, shared: &Arc<Shared>) {
    let mut backoff = Backoff::default();
    // Workers holding a connection, counted here rather than asked of the
    // rendezvous channel: a worker that has just closed its connection (or
    // has just taken a job, letting the next one reach `recv`) is not yet
    // waiting on the channel, so `try_send` failed with workers free and
    // bursts were refused. Only this thread adds, so check-then-add is exact.
    let busy = Arc::new(AtomicUsize::new(0));
    while !shared.stopping() {
        let (stream, peer) = match listener.accept() {
            Ok(ok) => ok,
            Err(e) => {
                if shared.stopping() {
                    break;
                }
                backoff.failed(&e, shared);
                continue;
            }
        };
        let accepted = shared.accepted();
        backoff.recovered(shared);
        if shared.stopping() {
            break;
        }
        if shared.limits.overload == Overload::Reject
            && busy.load(Ordering::Acquire) >= shared.limits.workers
        {
            reject(stream, peer, accepted);
            continue;
        }
        busy.fetch_add(1, Ordering::AcqRel);
        let job_busy = Arc::clone(&busy);
        let job = move |worker: usize| {
            let _free = Release(&job_busy);
            serve_guarded(worker, stream, peer, accepted);
        };
        // A worker is free, so this waits at most for it to come back to
        // the channel.
        if pool.execute(job).is_err() {
            break;
        }
    }
}

/// Marks a worker free again when its job ends, panic or not.
struct Release<'a>(&'a AtomicUsize);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `--overload reject`: accept, write `busy`, close. The client gets an
/// answer at once instead of waiting in the backlog.
fn reject(stream: TcpStream, peer: SocketAddr, accepted: Accepted) {
    let shared = accepted.shared();
    let conn = shared.next_conn_id();
    bump(&shared.counters.rejected);
    let obs = shared.observer();
    if let Some(obs) = obs {
        obs.event(&Event::Accept {
            conn,
            peer,
            worker: 0,
        });
        obs.event(&Event::Reject { conn, peer });
    }
    let started = Instant::now();
    // A fresh socket's send buffer is empty, so this write cannot block for
    // long; the timeout is a guard, not a wait.
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let out = match (&stream).write(b"busy\r\n") {
        Ok(n) => n as u64,
        Err(_) => 0,
    };
    let _ = stream.shutdown(Shutdown::Write);
    add(&shared.counters.bytes_out, out);
    drop(stream); // close()
    if let Some(obs) = obs {
        obs.event(&Event::Close {
            conn,
            duration: started.elapsed(),
            bytes_in: 0,
            bytes_out: out,
        });
    }
}

/// [`serve`], with a backstop: a panic outside the service (in an observer,
/// say) must not end the worker's accept loop. The `Accepted` guard still
/// closes the connection's books while unwinding.
fn serve_guarded(worker: usize, stream: TcpStream, peer: SocketAddr, accepted: Accepted) {
    let shared = Arc::clone(accepted.shared_arc());
    let run = AssertUnwindSafe(|| serve(worker, stream, peer, accepted));
    if panic::catch_unwind(run).is_err() {
        bump(&shared.counters.panics);
    }
}

/// One connection, from `accept()` to `close()`.
fn serve(worker: usize, stream: TcpStream, peer: SocketAddr, mut accepted: Accepted) {
    let shared = Arc::clone(accepted.shared_arc());
    let started = Instant::now();
    let id = shared.next_conn_id();
    let obs = shared.observer();
    if let Some(obs) = obs {
        obs.event(&Event::Accept {
            conn: id,
            peer,
            worker,
        });
    }
    let limits = &shared.limits;
    // SO_RCVTIMEO / SO_SNDTIMEO: a client that goes silent, or stops reading,
    // frees its worker after the idle timeout instead of holding it forever.
    if let Some(idle) = limits.idle_timeout.or(limits.max_conn_time) {
        for (call, set) in [
            (
                "setsockopt(SO_RCVTIMEO)",
                stream.set_read_timeout(Some(idle)),
            ),
            (
                "setsockopt(SO_SNDTIMEO)",
                stream.set_write_timeout(Some(idle)),
            ),
        ] {
            if let (Err(e), Some(obs)) = (set, obs) {
                obs.event(&Event::Error {
                    conn: id,
                    call,
                    error: &e,
                });
            }
        }
    }
    let stream = Arc::new(stream);
    let mut conn = Conn::new(
        &stream,
        id,
        peer,
        worker,
        obs,
        limits.idle_timeout,
        limits.max_conn_time,
        started,
    );
    accepted.register(worker, &stream);
    // The service's reply and the drain after it run under one catch: a
    // panic in either (the service's own, or an observer's) ends only this
    // connection.
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let served = shared.service.serve_tcp(&mut conn);
        if served.is_ok() {
            conn.linger(limits.drain_timeout, limits.drain_bytes);
        }
        served
    }));
    let c = &shared.counters;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            // An error the handler made up itself (not a failed read() or
            // write(), which Conn already reported): the trace must still
            // say why the connection is being closed.
            if let (false, Some(obs)) = (conn.error_traced(), obs) {
                obs.event(&Event::Error {
                    conn: id,
                    call: "handler",
                    error: &e,
                });
            }
            bump(match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => &c.timed_out,
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => &c.reset,
                _ => &c.io_errors,
            });
        }
        Err(payload) => {
            bump(&c.panics);
            if let Some(obs) = obs {
                obs.event(&Event::Panic {
                    conn: id,
                    message: panic_message(&*payload),
                });
            }
        }
    };
    let (duration, bytes_in, bytes_out) = conn.finish();
    add(&c.bytes_in, bytes_in);
    add(&c.bytes_out, bytes_out);
    // Counted closed and out of the slot, which held the only other
    // reference, so dropping the stream is the close() itself.
    drop(accepted);
    drop(stream);
    if let Some(obs) = obs {
        obs.event(&Event::Close {
            conn: id,
            duration,
            bytes_in,
            bytes_out,
        });
    }
}

/// What to do when `accept()` fails. Never stop, never spin:
/// - EINTR, ECONNABORTED and the network errors Linux passes up from the
///   new connection (see accept(2)): retry at once;
/// - EMFILE, ENFILE, ENOBUFS, ENOMEM (out of descriptors or memory): pause,
///   5 ms doubling to 1 s, so an exhausted server sleeps instead of burning
///   a core, and resumes as soon as descriptors free up;
/// - anything else: the same pause, as the safe default.
#[derive(Default)]
struct Backoff {
    pause: Option<Duration>,
    failures: u64,
}

impl Backoff {
    fn failed(&mut self, e: &io::Error, shared: &Shared) {
        if e.kind() == io::ErrorKind::Interrupted {
            return;
        }
        bump(&shared.counters.accept_errors);
        let immediate = e.kind() == io::ErrorKind::ConnectionAborted
            || matches!(
                e.raw_os_error(),
                // EPROTO, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH,
                // EOPNOTSUPP, ENETDOWN, ENETUNREACH (Linux numbers)
                Some(71 | 92 | 112 | 64 | 113 | 95 | 100 | 101)
            );
        let limits = &shared.limits;
        let pause = if immediate {
            Duration::ZERO
        } else {
            let next = self.pause.map_or(limits.accept_backoff_min, |p| {
                (p * 2).min(limits.accept_backoff_max)
            });
            self.pause = Some(next);
            next
        };
        self.failures += 1;
        // One line per episode for the whole server, not one per worker:
        // out of descriptors, every idle worker fails at once (100 lines
        // for 100 workers said nothing the first did not).
        if self.failures == 1 && !immediate && !shared.accept_paused.swap(true, Ordering::AcqRel) {
            eprintln!("sockref: accept() error: {e}; pausing accept() until descriptors free up");
        }
        if let Some(obs) = shared.observer() {
            obs.event(&Event::AcceptError {
                error: e,
                backoff: pause,
            });
        }
        if !pause.is_zero() {
            thread::sleep(pause);
        }
    }

    fn recovered(&mut self, shared: &Shared) {
        if self.failures > 0 {
            if self.pause.is_some() && shared.accept_paused.swap(false, Ordering::AcqRel) {
                eprintln!(
                    "sockref: accept() recovered ({} failed calls so far)",
                    shared.counters.accept_errors.load(Ordering::Relaxed)
                );
            }
            if let Some(obs) = shared.observer() {
                obs.event(&Event::AcceptRecovered {
                    failures: self.failures,
                });
            }
            *self = Backoff::default();
        }
    }
}
