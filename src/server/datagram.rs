//! The datagram server (UDP or Unix-domain), in the order of the C program:
//!
//! ```text
//! socket() + bind()      transport.rs     Datagram::bind_udp / bind_unix (from builder.rs)
//! recvfrom()             answer_next()    socket.recv_from(&mut buf)
//! (service)              answer_next()    service.serve_datagram(request, peer, reply)
//! sendto()               answer_next()    socket.send_to(&reply, peer)
//! ```
//!
//! One worker by default (the textbook's single loop), more on request, all
//! sharing the one socket. There is no connection and no state between
//! datagrams. Before answering, `guard::datagram` drops what must not be
//! answered (loops between servers, unnamed senders, floods).
//!
//! What it does not do: retransmit, order or reassemble. UDP promises none
//! of that, and neither does this server.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::state::{thread_error, Listening, Shared};
use crate::error::Error;
use crate::guard::datagram::{Filter, Refusal};
use crate::guard::wake::DatagramWaker;
use crate::limits::{DATAGRAM_SEND_TIMEOUT, UDP_RECV_BUF, UDP_STOP_POLL};
use crate::net::Outcome;
use crate::pool::ThreadPool;
use crate::service::Reply;
use crate::stats::{add, bump};
use crate::trace::{emit, Event, Proto};
use crate::transport::Datagram;

/// One datagram: `recvfrom()` -> service -> `sendto()`. False once stopping.
fn answer_next(socket: &Datagram, filter: &Filter, shared: &Shared, buf: &mut Worker) -> bool {
    let (c, obs) = (&shared.counters, shared.observer());
    // recvfrom(): sleeps until a datagram arrives (or the stop poll ends).
    let received = socket.recv_from(&mut buf.request);
    if shared.stopping() {
        return false;
    }
    let (n, peer) = match received {
        Ok(ok) => ok,
        Err(e) => {
            buf.failed(&e, shared);
            return true;
        }
    };
    buf.failures = 0;
    bump(&c.datagrams_in);
    add(&c.bytes_in, n as u64);
    emit!(obs, Event::RecvFrom { peer: &peer, bytes: n, data: &buf.request[..n] });
    if let Some(refusal) = filter.check(&peer) {
        bump(match refusal {
            Refusal::Dropped(_) => &c.dropped_datagrams,
            Refusal::RateLimited => &c.rate_limited,
        });
        emit!(obs, Event::Drop { peer: &peer, bytes: n, reason: refusal.reason() });
        shared.datagram_done();
        return true;
    }

    // The service fills the reply, or says there is none.
    buf.reply.clear();
    let reply = shared.service.serve_datagram(&buf.request[..n], &peer, &mut buf.reply);

    // sendto()
    if reply == Reply::Send {
        match socket.send_to(&buf.reply, &peer) {
            Ok(sent) => {
                bump(&c.datagrams_out);
                add(&c.bytes_out, sent as u64);
                emit!(obs, Event::SendTo { peer: &peer, bytes: sent, data: &buf.reply[..sent] });
            }
            Err(error) => {
                let error = match Outcome::of(&error) {
                    Outcome::TimedOut => io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{peer}: the receiver's queue stayed full; reply dropped"),
                    ),
                    _ => error,
                };
                bump(&c.io_errors);
                emit!(obs, Event::Error { conn: 0, call: "sendto()", error: &error });
            }
        }
    }
    buf.shrink();
    shared.datagram_done();
    true
}

/// A datagram worker's own buffers and error streak.
struct Worker {
    request: Vec<u8>,
    reply: Vec<u8>,
    failures: u32,
}

impl Worker {
    fn new() -> Worker {
        Worker { request: vec![0u8; UDP_RECV_BUF], reply: Vec::with_capacity(1024), failures: 0 }
    }

    /// `recvfrom()` failed. The stop poll (see `UDP_STOP_POLL`) is no
    /// failure: nothing arrived, look at the stop flag and wait again.
    /// Real errors are rare (memory pressure); a short, growing pause keeps
    /// a persistent one from spinning.
    fn failed(&mut self, e: &io::Error, shared: &Shared) {
        if Outcome::of(e) == Outcome::TimedOut || e.kind() == io::ErrorKind::Interrupted {
            return;
        }
        emit!(shared.observer(), Event::Error { conn: 0, call: "recvfrom()", error: e });
        self.failures = self.failures.saturating_add(1);
        thread::sleep(Duration::from_millis(u64::from(self.failures.min(100))));
    }

    /// A big reply from an earlier datagram need not be kept.
    fn shrink(&mut self) {
        if self.reply.capacity() > 64 * 1024 {
            self.reply = Vec::with_capacity(1024);
        }
    }
}

/// A running datagram server.
pub(crate) struct DatagramServer {
    /// What the ready line says: `udp` or `unixgram`, address, workers.
    pub info: Listening,
    pool: ThreadPool,
    running: Arc<AtomicUsize>,
    waker: DatagramWaker,
}

/// Starts the workers on a bound socket; `waker` was made before any
/// stream acceptor ran (see `guard::wake`).
pub(crate) fn start(
    socket: Datagram,
    waker: DatagramWaker,
    shared: &Arc<Shared>,
) -> Result<DatagramServer, Error> {
    let addr = socket.local().map_err(|e| Error::new("getsockname()", None, e))?;
    let proto = match socket {
        Datagram::Udp(_) => Proto::Udp,
        Datagram::Unix(_) => Proto::Unixgram,
    };
    let n = shared.limits.udp_workers;
    let hook_shared = Arc::clone(shared);
    let pool = shared.spawn(n, &format!("sockref-{proto}"), move |_, why| {
        hook_shared.panicked(None, why);
        hook_shared.datagram_done();
    })?;
    emit!(shared.observer(), Event::Listen { proto, addr: &addr, backlog: 0 });
    // Workers wake at least this often to look at the stop flag, so that
    // stopping never depends on a wake-up datagram arriving.
    socket
        .set_read_timeout(Some(UDP_STOP_POLL))
        .map_err(|e| Error::new("setsockopt(SO_RCVTIMEO)", Some(addr.to_string()), e))?;
    socket
        .set_write_timeout(Some(DATAGRAM_SEND_TIMEOUT))
        .map_err(|e| Error::new("setsockopt(SO_SNDTIMEO)", Some(addr.to_string()), e))?;
    let socket = Arc::new(socket);
    let filter = Arc::new(Filter::new(addr.clone(), &shared.limits));
    let running = Arc::new(AtomicUsize::new(n));
    for _ in 0..n {
        let (socket, filter, shared) =
            (Arc::clone(&socket), Arc::clone(&filter), Arc::clone(shared));
        let running = Arc::clone(&running);
        let mut buf = Worker::new();
        // Each worker's job is a loop: recvfrom, answer, again.
        let job = move |_worker| {
            let more = answer_next(&socket, &filter, &shared, &mut buf);
            if !more {
                running.fetch_sub(1, Ordering::AcqRel);
            }
            more
        };
        pool.repeat(job).map_err(thread_error)?;
    }
    Ok(DatagramServer { info: Listening { proto, addr, workers: n }, pool, running, waker })
}

impl DatagramServer {
    /// Wakes workers blocked in `recvfrom()` until all have seen the stop flag.
    pub fn stop_receiving(&self) {
        self.waker.wake(&self.running);
    }

    pub fn join(self) {
        self.pool.join();
    }
}
