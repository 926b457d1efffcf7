//! The stream server (TCP or Unix-domain), in the order of the C program:
//!
//! ```text
//! socket() + bind() + listen()   builder.rs      TcpListener::bind / UnixListener::bind
//! accept()                       accept_next()   listener.accept()
//! read() / write()               serve()         the service, through Conn
//! close()                        serve()         session.close(stream)
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
//! What it does not do: know what the service says, or catch panics (the
//! pool does, in one place). Hardening is one call each into `guard/`.

use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::conn::Conn;
use super::handle::Listening;
use super::state::Shared;
use crate::error::Error;
use crate::guard::backoff::Backoff;
use crate::guard::deadline::set_socket_timeouts;
use crate::guard::overload::{say_busy, Busy};
use crate::guard::wake::StreamWaker;
use crate::limits::{unix_listen_backlog, AcceptModel, Overload, LISTEN_BACKLOG};
use crate::net::{Endpoint, Outcome};
use crate::pool::ThreadPool;
use crate::stats::bump;
use crate::trace::{emit, Event, Proto};
use crate::transport::{Listener, Stream};

/// Accepts on the listener until stopped: one connection per call of the
/// loop, `accept()` -> [`serve`] -> `close()`. False once stopping.
fn accept_next(worker: usize, listener: &Listener, shared: &Shared, backoff: &mut Backoff) -> bool {
    // accept(): sleeps until a client's handshake completes.
    let accepted = listener.accept();
    if shared.stopping() {
        if let Ok((stream, _)) = accepted {
            shared.accepted().close_unserved(stream); // during shutdown: close it unserved
        }
        return false;
    }
    match accepted {
        Ok((stream, peer)) => {
            backoff.recovered(&shared.backoff());
            serve(worker, stream, peer, shared);
        }
        Err(e) => backoff.failed(&e, &shared.backoff()),
    }
    true
}

/// One connection, from `accept()` to `close()`.
fn serve(worker: usize, stream: Stream, peer: Endpoint, shared: &Shared) {
    // --max-per-ip: a place among its address's connections, or `busy`.
    let Some(_per_ip) = shared.per_ip.take(&peer) else {
        return refuse(stream, peer, shared, "per-IP limit reached");
    };
    let obs = shared.observer();
    let mut session = shared.accepted();
    emit!(obs, Event::Accept { conn: session.id, peer: &peer, worker });
    // setsockopt(SO_RCVTIMEO / SO_SNDTIMEO): the idle timeout.
    set_socket_timeouts(&stream, &shared.limits, |call, error| {
        emit!(obs, Event::Error { conn: session.id, call, error });
    });
    let stream = Arc::new(stream);
    session.serving(worker, &stream);
    let mut conn = Conn::new(&stream, &session, peer, worker, obs, &shared.limits);

    // read() / write() ...: whatever the service does with the connection.
    let served = shared.service.serve_stream(&mut conn);
    // shutdown(SHUT_WR), then read to the client's FIN: see Conn::linger.
    if served.is_ok() && conn.linger(&shared.limits) {
        bump(&shared.counters.timed_out);
    }
    conn.ended(&served);
    drop(conn);
    if let Err(e) = &served {
        let c = &shared.counters;
        bump(match Outcome::of(e) {
            Outcome::TimedOut => &c.timed_out,
            Outcome::Gone => &c.reset,
            Outcome::Failed => &c.io_errors,
        });
    }

    // close()
    session.close(stream);
}

/// The hand-off design: one thread accepts and gives each connection to a
/// free worker; with `--overload reject`, says `busy` when none is free.
fn hand_off(listener: &Listener, pool: &ThreadPool, shared: &Arc<Shared>) {
    let mut backoff = Backoff::default();
    let busy = Busy::default();
    let reject = shared.limits.overload == Overload::Reject;
    while !shared.stopping() {
        let (stream, peer) = match listener.accept() {
            Ok(ok) => ok,
            Err(_) if shared.stopping() => break,
            Err(e) => {
                backoff.failed(&e, &shared.backoff());
                continue;
            }
        };
        backoff.recovered(&shared.backoff());
        if shared.stopping() {
            shared.accepted().close_unserved(stream);
            break;
        }
        // A worker is free, or (waiting) one will be.
        let workers = if reject { shared.limits.workers } else { usize::MAX };
        let Some(free) = busy.take(workers) else {
            refuse(stream, peer, shared, "all workers busy");
            continue;
        };
        let job_shared = Arc::clone(shared);
        let job = move |worker: usize| {
            let _free = free;
            serve(worker, stream, peer, &job_shared);
        };
        if pool.execute(job).is_err() {
            break;
        }
    }
}

/// `--overload reject` or `--max-per-ip`: accept, write `busy`, close. The
/// client gets an answer at once instead of waiting in the backlog.
fn refuse(stream: Stream, peer: Endpoint, shared: &Shared, reason: &str) {
    let obs = shared.observer();
    let session = shared.accepted();
    bump(&shared.counters.rejected);
    emit!(obs, Event::Accept { conn: session.id, peer: &peer, worker: 0 });
    emit!(obs, Event::Reject { conn: session.id, peer: &peer, reason });
    let stream = Arc::new(stream);
    session.bytes_out.set(say_busy(&stream));
    session.close(stream);
}

/// A running stream server: the listener and the threads serving it.
pub(crate) struct StreamServer {
    /// What the ready line says: `tcp` or `unix`, address, workers.
    pub info: Listening,
    pool: Option<Arc<ThreadPool>>,
    acceptor: Option<JoinHandle<()>>,
    waker: StreamWaker,
}

/// Starts the workers (and, for hand-off, the acceptor) on a bound listener.
pub(crate) fn start(listener: Listener, shared: &Arc<Shared>) -> Result<StreamServer, Error> {
    let addr = listener.local().map_err(|e| Error::new("getsockname()", None, e))?;
    let proto = match listener {
        Listener::Tcp(_) => Proto::Tcp,
        Listener::Unix(_) => Proto::Unix,
    };
    let limits = &shared.limits;
    let spawn_err = |e: io::Error| Error::new("pthread_create()", None, e);
    let hook_shared = Arc::clone(shared);
    let hook =
        Arc::new(move |worker: usize, message: &str| hook_shared.panicked(Some(worker), message));
    // Rendezvous queue: a job is handed over only to a worker that is
    // waiting for one, so no connection ever sits in a user-space queue.
    let pool = ThreadPool::with_hook(limits.workers, 0, "sockref-tcp", limits.stack_size, hook)
        .map_err(spawn_err)?;
    let pool = Arc::new(pool);
    let backlog = if proto == Proto::Tcp { LISTEN_BACKLOG } else { unix_listen_backlog() };
    emit!(shared.observer(), Event::Listen { proto, addr: &addr, backlog });
    let waker = StreamWaker::new(&listener, addr.clone())?;
    let listener = Arc::new(listener);
    let mut server = StreamServer {
        info: Listening { proto, addr, workers: limits.workers },
        pool: Some(Arc::clone(&pool)),
        acceptor: None,
        waker,
    };
    match limits.accept_model {
        AcceptModel::Workers => {
            for _ in 0..limits.workers {
                let (listener, shared) = (Arc::clone(&listener), Arc::clone(shared));
                let mut backoff = Backoff::default();
                // Each worker's job is a loop: accept, serve, close, again.
                let job = move |worker| accept_next(worker, &listener, &shared, &mut backoff);
                if pool.repeat(job).is_err() {
                    return Err(spawn_err(io::ErrorKind::BrokenPipe.into()));
                }
            }
        }
        AcceptModel::Handoff => {
            let shared = Arc::clone(shared);
            let acceptor = thread::Builder::new()
                .name("sockref-accept".into())
                .stack_size(limits.stack_size)
                .spawn(move || hand_off(&listener, &pool, &shared))
                .map_err(spawn_err)?;
            server.acceptor = Some(acceptor);
        }
    }
    Ok(server)
}

impl StreamServer {
    /// Wakes every thread blocked in `accept()` so it sees the stop flag.
    pub fn stop_accepting(&self) {
        self.waker.wake(self.info.workers);
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
