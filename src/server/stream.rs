//! The stream server (TCP or Unix-domain), in the order of the C program:
//!
//! ```text
//! socket() + bind() + listen()   transport.rs    Listener::bind_tcp / bind_unix (from builder.rs)
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
//! pool (docs/benchmarks-history.md, "Accept model"; 7 rounds): the same rate on
//! persistent connections (pp-c10 within 3 %), and more under connection
//! churn, where the hand-off adds a second thread's wake-up to every
//! connection: 2.28x the C thread server's connections per second with 8
//! client threads against 1.69x, 1.45x against 1.41x with 2. The hand-off
//! design is kept for `--overload reject`, where a thread must stay free to
//! say `busy`.
//!
//! What it does not do: know what the service says, or catch panics (the
//! pool does, in one place). Hardening is one call each into `guard/`.

use std::sync::Arc;

use super::conn::Conn;
use super::state::{thread_error, Listening, Session, Shared};
use crate::error::Error;
use crate::guard::backoff::Backoff;
use crate::guard::deadline::set_socket_timeouts;
use crate::guard::overload::{say_busy, Busy};
use crate::guard::wake::StreamWaker;
use crate::limits::{unix_listen_backlog, AcceptModel, Overload, LISTEN_BACKLOG};
use crate::net::Endpoint;
use crate::pool::ThreadPool;
use crate::stats::bump;
use crate::trace::{emit, Event, Proto};
use crate::transport::{Listener, Stream};

/// An accepted connection, counted in flight.
struct Accepted {
    stream: Stream,
    peer: Endpoint,
    session: Session,
}

/// What `accept()` gave: a connection, a failure to retry after the
/// back-off, or the stop.
enum Next {
    Conn(Accepted),
    Retry,
    Stop,
}

/// `accept()`: sleeps until a client's handshake completes.
fn accept(listener: &Listener, shared: &Arc<Shared>, backoff: &mut Backoff) -> Next {
    let (stream, peer) = match listener.accept() {
        Ok(ok) => ok,
        Err(_) if shared.stopping() => return Next::Stop,
        Err(e) => {
            backoff.failed(&e, &shared.backoff());
            return Next::Retry;
        }
    };
    // Counted in flight before the stop flag is read: either shutdown sees
    // this connection, or this thread sees the flag (see `Stop::enter`).
    let session = shared.accepted();
    if shared.stopping() {
        session.close_unserved(stream);
        return Next::Stop;
    }
    backoff.recovered(&shared.backoff());
    Next::Conn(Accepted { stream, peer, session })
}

/// A worker's loop in the prethreaded design: `accept()` -> [`serve`] ->
/// `close()`, one connection per call. False once stopping.
fn accept_next(worker: usize, listener: &Listener, shared: &Arc<Shared>, b: &mut Backoff) -> bool {
    match accept(listener, shared, b) {
        Next::Conn(accepted) => serve(worker, accepted, shared),
        Next::Retry => {}
        Next::Stop => return false,
    }
    true
}

/// One connection, from `accept()` to `close()`.
fn serve(worker: usize, accepted: Accepted, shared: &Shared) {
    let Accepted { stream, peer, mut session } = accepted;
    // --max-per-ip: a place among its address's connections, or `busy`.
    // Taken after the session exists, so that it is given back before the
    // session closes, on a panic too (locals drop in reverse order): a
    // client that sees its connection closed finds the place free.
    let Some(per_ip) = shared.per_ip.take(&peer) else {
        let accepted = Accepted { stream, peer, session };
        return refuse(worker, accepted, shared, "per-IP limit reached");
    };
    let obs = shared.observer();
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
    // The reply is complete: the client may connect again while the drain
    // below waits for its FIN (bounded by the drain limits).
    drop(per_ip);
    // shutdown(SHUT_WR), then read to the client's FIN: see Conn::linger.
    if served.is_ok() && conn.linger(&shared.limits) {
        bump(&shared.counters.timed_out);
    }
    conn.ended(&served);
    drop(conn);
    if let Err(e) = &served {
        shared.counters.failed(e);
    }

    // close()
    session.close(stream);
}

/// The hand-off design: the acceptor's loop, one connection per call. It
/// gives each connection to a free worker (waiting for one), or, with
/// `--overload reject` and every worker busy, says `busy`. False once stopping.
fn hand_off(
    listener: &Listener,
    pool: &ThreadPool,
    shared: &Arc<Shared>,
    busy: &Busy,
    b: &mut Backoff,
) -> bool {
    let accepted = match accept(listener, shared, b) {
        Next::Conn(accepted) => accepted,
        Next::Retry => return true,
        Next::Stop => return false,
    };
    let limit =
        if shared.limits.overload == Overload::Reject { shared.limits.workers } else { usize::MAX };
    let Some(free) = busy.take(limit) else {
        refuse(0, accepted, shared, "all workers busy"); // the acceptor
        return true;
    };
    let shared = Arc::clone(shared);
    // `free` goes with the job: dropped when it ends, panic or not.
    let job = move |worker| {
        serve(worker, accepted, &shared);
        drop(free);
    };
    pool.execute(job).is_ok()
}

/// `--overload reject` or `--max-per-ip`: accept, write `busy`, close. The
/// client gets an answer at once instead of waiting in the backlog; the
/// trace names the worker that refused it (0: the hand-off acceptor).
fn refuse(worker: usize, accepted: Accepted, shared: &Shared, reason: &str) {
    let Accepted { stream, peer, session } = accepted;
    let obs = shared.observer();
    bump(&shared.counters.rejected);
    emit!(obs, Event::Accept { conn: session.id, peer: &peer, worker });
    emit!(obs, Event::Reject { conn: session.id, peer: &peer, reason });
    let stream = Arc::new(stream);
    let mut reply = Vec::new();
    shared.service.busy(&mut reply);
    session.bytes_out.set(say_busy(&stream, &reply));
    session.close(stream);
}

/// A running stream server: the listener and the threads serving it.
pub(crate) struct StreamServer {
    /// What the ready line says: `tcp` or `unix`, address, workers.
    pub info: Listening,
    pool: Option<Arc<ThreadPool>>,
    /// The hand-off design's acceptor.
    acceptor: Option<ThreadPool>,
    waker: StreamWaker,
}

/// Starts the workers (and, for hand-off, the acceptor) on a bound listener.
pub(crate) fn start(listener: Listener, shared: &Arc<Shared>) -> Result<StreamServer, Error> {
    let addr = listener.local().map_err(|e| Error::new("getsockname()", None, e))?;
    let proto = match listener {
        Listener::Tcp(_) => Proto::Tcp,
        Listener::Unix(_) => Proto::Unix,
    };
    let workers = shared.limits.workers;
    let hook_shared = Arc::clone(shared);
    let pool =
        Arc::new(shared.spawn(workers, &format!("sockref-{proto}"), move |worker, why| {
            hook_shared.panicked(Some(worker), why)
        })?);
    let backlog = if proto == Proto::Tcp { LISTEN_BACKLOG } else { unix_listen_backlog() };
    emit!(shared.observer(), Event::Listen { proto, addr: &addr, backlog });
    let waker = StreamWaker::new(&listener, addr.clone())?;
    let listener = Arc::new(listener);
    let mut acceptor = None;
    match shared.limits.accept_model {
        AcceptModel::Workers => {
            for _ in 0..workers {
                let (listener, shared) = (Arc::clone(&listener), Arc::clone(shared));
                let mut backoff = Backoff::default();
                // Each worker's job is a loop: accept, serve, close, again.
                let job = move |worker| accept_next(worker, &listener, &shared, &mut backoff);
                pool.repeat(job).map_err(thread_error)?;
            }
        }
        AcceptModel::Handoff => {
            let hook_shared = Arc::clone(shared);
            // A pool of one, so that the acceptor's panics (an observer's,
            // say) are caught and counted like any worker's.
            let one =
                shared.spawn(1, "sockref-accept", move |_, why| hook_shared.panicked(None, why))?;
            let (pool, shared) = (Arc::clone(&pool), Arc::clone(shared));
            let (busy, mut backoff) = (Busy::default(), Backoff::default());
            let job = move |_| hand_off(&listener, &pool, &shared, &busy, &mut backoff);
            one.repeat(job).map_err(thread_error)?;
            acceptor = Some(one);
        }
    }
    let info = Listening { proto, addr, workers };
    Ok(StreamServer { info, pool: Some(pool), acceptor, waker })
}

impl StreamServer {
    /// Wakes every thread blocked in `accept()` so it sees the stop flag.
    pub fn stop_accepting(&self) {
        self.waker.wake(self.info.workers);
    }

    /// Joins the acceptor (if any) and every worker.
    pub fn join(mut self) {
        if let Some(a) = self.acceptor.take() {
            a.join();
        }
        if let Some(pool) = self.pool.take() {
            // The acceptor has exited, so this is the last reference.
            if let Ok(pool) = Arc::try_unwrap(pool) {
                pool.join();
            }
        }
    }
}
