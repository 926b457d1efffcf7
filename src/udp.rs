//! The UDP server, in the order of the C program:
//!
//! ```text
//! socket() + bind()      bind()        UdpSocket::bind
//! recvfrom()             recv_loop()   socket.recv_from(&mut buf)
//! (service)              serve_udp()
//! sendto()               recv_loop()   socket.send_to(&reply, peer)
//! ```
//!
//! A few workers (one per CPU) share the one socket, each looping
//! recvfrom -> service -> sendto. There is no connection and no state
//! between datagrams. Before answering, a worker drops datagrams that would
//! start a loop between servers (a source port below 1024, where the classic
//! services live, or the server's own address: CERT CA-1996-01) and, when a
//! rate is set, datagrams over a peer's per-second budget.
//!
//! What it does not do: retransmit, order or reassemble. UDP promises none
//! of that, and neither does this server.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::limits::{UDP_RECV_BUF, UDP_STOP_POLL};
use crate::pool::{panic_message, ThreadPool};
use crate::server::Shared;
use crate::service::Reply;
use crate::stats::{add, bump};
use crate::trace::{Event, Proto};

/// `socket()` + `bind()`: std makes both calls inside `UdpSocket::bind`.
pub(crate) fn bind(addr: SocketAddr) -> Result<UdpSocket, Error> {
    UdpSocket::bind(addr).map_err(|e| Error::new("bind()", Some(addr.to_string()), e))
}

/// A running UDP server.
pub(crate) struct UdpServer {
    addr: SocketAddr,
    pool: ThreadPool,
    running: Arc<AtomicUsize>,
    /// The socket that sends the wake-up datagrams, bound before the server
    /// starts (see [`waker_for`]): when stopping, the process may be out of
    /// descriptors (connections, and the one each idle TCP acceptor
    /// reserves), and a socket made then failed with EMFILE, leaving every
    /// UDP worker in `recvfrom()` and shutdown joining them forever.
    waker: UdpSocket,
}

/// The socket [`UdpServer::stop_receiving`] sends its wake-up datagrams
/// from. The caller binds it before any TCP acceptor runs: every thread
/// blocked in `accept()` reserves a descriptor, and with RLIMIT_NOFILE
/// below the worker count none may be left by the time UDP starts.
pub(crate) fn waker_for(socket: &UdpSocket) -> Result<UdpSocket, Error> {
    let from = match socket.local_addr() {
        Ok(a) if a.is_ipv6() => SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
        _ => SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    };
    UdpSocket::bind(from).map_err(|e| Error::new("bind()", Some(from.to_string()), e))
}

/// Starts the UDP workers on a bound socket; `waker` is from [`waker_for`].
pub(crate) fn start(
    socket: UdpSocket,
    waker: UdpSocket,
    shared: Arc<Shared>,
) -> Result<UdpServer, Error> {
    let addr = socket
        .local_addr()
        .map_err(|e| Error::new("getsockname()", None, e))?;
    let n = shared.limits.udp_workers;
    let spawn_err = |e: io::Error| Error::new("pthread_create()", None, e);
    let pool = ThreadPool::new(n, 0, "sockref-udp", shared.limits.stack_size).map_err(spawn_err)?;
    if let Some(obs) = shared.observer() {
        obs.event(&Event::Listen {
            proto: Proto::Udp,
            addr,
            backlog: 0,
        });
    }
    // Workers wake at least this often to look at the stop flag, so that
    // stopping never depends on a wake-up datagram arriving.
    socket
        .set_read_timeout(Some(UDP_STOP_POLL))
        .map_err(|e| Error::new("setsockopt(SO_RCVTIMEO)", Some(addr.to_string()), e))?;
    let socket = Arc::new(socket);
    let limiter = shared
        .limits
        .udp_rate
        .map(|rate| Arc::new(RateLimiter::new(rate, shared.limits.udp_rate_peers)));
    let running = Arc::new(AtomicUsize::new(n));
    for _ in 0..n {
        let socket = Arc::clone(&socket);
        let shared = Arc::clone(&shared);
        let limiter = limiter.clone();
        let running = Arc::clone(&running);
        let job = move |_worker: usize| {
            recv_loop(&socket, addr, &shared, limiter.as_deref());
            running.fetch_sub(1, Ordering::AcqRel);
        };
        if pool.execute(job).is_err() {
            return Err(spawn_err(io::ErrorKind::BrokenPipe.into()));
        }
    }
    Ok(UdpServer {
        addr,
        pool,
        running,
        waker,
    })
}

impl UdpServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn workers(&self) -> usize {
        self.pool.size()
    }

    /// Wakes workers blocked in `recvfrom()` with empty datagrams until all
    /// have seen the stop flag. UDP may drop a wake-up, so keep sending (a
    /// bounded number of rounds) while any worker is still running.
    pub fn stop_receiving(&self) {
        let target = loopback_of(self.addr);
        let waker = &self.waker;
        for _ in 0..500 {
            let left = self.running.load(Ordering::Acquire);
            if left == 0 {
                return;
            }
            for _ in 0..left {
                let _ = waker.send_to(&[], target);
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn join(self) {
        self.pool.join();
    }
}

/// The address to reach a socket bound to `addr` from this machine: the
/// loopback address when bound to the wildcard.
pub(crate) fn loopback_of(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// Why a datagram gets no answer, or `None` to answer it.
pub(crate) fn refusal(
    peer: SocketAddr,
    local: SocketAddr,
    allow_low_ports: bool,
) -> Option<&'static str> {
    if peer.port() == local.port() && (peer.ip() == local.ip() || local.ip().is_unspecified()) {
        Some("own address")
    } else if peer.port() < 1024 && !allow_low_ports {
        Some("low source port")
    } else {
        None
    }
}

/// One UDP worker: recvfrom -> service -> sendto, until stopped.
fn recv_loop(
    socket: &UdpSocket,
    local: SocketAddr,
    shared: &Shared,
    limiter: Option<&RateLimiter>,
) {
    let obs = shared.observer();
    let mut buf = vec![0u8; UDP_RECV_BUF];
    let mut reply = Vec::with_capacity(1024);
    let mut failures = 0u32;
    loop {
        let received = socket.recv_from(&mut buf);
        if shared.stopping() {
            return;
        }
        let (n, peer) = match received {
            Ok(ok) => {
                failures = 0;
                ok
            }
            // The stop poll (see `UDP_STOP_POLL`): nothing arrived, look
            // at the stop flag and wait again.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    if let Some(obs) = obs {
                        obs.event(&Event::Error {
                            conn: 0,
                            call: "recvfrom()",
                            error: &e,
                        });
                    }
                    // Errors here are rare (memory pressure); a short,
                    // growing pause keeps a persistent one from spinning.
                    failures = failures.saturating_add(1);
                    thread::sleep(Duration::from_millis(u64::from(failures.min(100))));
                }
                continue;
            }
        };
        // Everything after recvfrom() runs under one catch: a panic in the
        // service or an observer loses this datagram, never the worker.
        let answered = panic::catch_unwind(AssertUnwindSafe(|| {
            answer(socket, local, shared, limiter, &buf[..n], peer, &mut reply)
        }));
        if let Err(payload) = answered {
            bump(&shared.counters.panics);
            if let Some(obs) = obs {
                obs.event(&Event::Panic {
                    conn: 0,
                    message: panic_message(&*payload),
                });
            }
        }
        // A big reply from an earlier datagram need not be kept.
        if reply.capacity() > 64 * 1024 {
            reply = Vec::with_capacity(1024);
        }
        shared.datagram_done();
    }
}

/// One datagram: count it, refuse it if it could start a loop or is over
/// its sender's budget, else ask the service and `sendto()` the reply.
fn answer(
    socket: &UdpSocket,
    local: SocketAddr,
    shared: &Shared,
    limiter: Option<&RateLimiter>,
    request: &[u8],
    peer: SocketAddr,
    reply: &mut Vec<u8>,
) {
    let c = &shared.counters;
    let obs = shared.observer();
    let n = request.len();
    bump(&c.datagrams_in);
    add(&c.bytes_in, n as u64);
    if let Some(obs) = obs {
        obs.event(&Event::RecvFrom { peer, bytes: n });
    }
    let dropped = match refusal(peer, local, shared.limits.udp_allow_low_ports) {
        Some(reason) => {
            bump(&c.dropped_datagrams);
            Some(reason)
        }
        None if limiter.is_some_and(|l| !l.allow(peer.ip())) => {
            bump(&c.rate_limited);
            Some("rate limit")
        }
        None => None,
    };
    if let Some(reason) = dropped {
        if let Some(obs) = obs {
            obs.event(&Event::Drop {
                peer,
                bytes: n,
                reason,
            });
        }
        return;
    }
    reply.clear();
    if shared.service.serve_udp(request, peer, reply) == Reply::Nothing {
        return;
    }
    match socket.send_to(reply, peer) {
        Ok(sent) => {
            bump(&c.datagrams_out);
            add(&c.bytes_out, sent as u64);
            if let Some(obs) = obs {
                obs.event(&Event::SendTo { peer, bytes: sent });
            }
        }
        Err(e) => {
            bump(&c.io_errors);
            if let Some(obs) = obs {
                obs.event(&Event::Error {
                    conn: 0,
                    call: "sendto()",
                    error: &e,
                });
            }
        }
    }
}

/// Per-source-address budget of datagrams per one-second window. Keyed by
/// IP, not port: a flood from one host uses many ports. The table is bounded:
/// when full it is cleared, which at worst lets a spoofed flood through for
/// one window, and never grows memory.
pub(crate) struct RateLimiter {
    rate: u32,
    max_peers: usize,
    peers: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(rate: u32, max_peers: usize) -> Self {
        RateLimiter {
            rate,
            max_peers: max_peers.max(1),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one datagram from `ip`; false if it is over the budget.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if peers.len() >= self.max_peers && !peers.contains_key(&ip) {
            peers.clear();
        }
        let entry = peers.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(1) {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_low_ports_and_itself() -> Result<(), std::net::AddrParseError> {
        let local: SocketAddr = "127.0.0.1:4000".parse()?;
        let p = |s: &str| s.parse::<SocketAddr>();
        assert_eq!(
            refusal(p("127.0.0.1:19")?, local, false),
            Some("low source port")
        );
        assert_eq!(refusal(p("127.0.0.1:19")?, local, true), None);
        assert_eq!(
            refusal(p("127.0.0.1:4000")?, local, true),
            Some("own address")
        );
        assert_eq!(refusal(p("127.0.0.1:40000")?, local, false), None);
        let any: SocketAddr = "0.0.0.0:4000".parse()?;
        assert_eq!(
            refusal(p("10.0.0.1:4000")?, any, false),
            Some("own address")
        );
        Ok(())
    }

    #[test]
    fn rate_limiter_counts_per_ip_and_stays_bounded() -> Result<(), std::net::AddrParseError> {
        let l = RateLimiter::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse()?;
        let b: IpAddr = "127.0.0.2".parse()?;
        assert!((0..3).all(|_| l.allow(a)));
        assert!(!l.allow(a));
        assert!(l.allow(b));
        let c: IpAddr = "127.0.0.3".parse()?;
        assert!(l.allow(c));
        assert!(l.peers.lock().map_or(usize::MAX, |p| p.len()) <= 2);
        Ok(())
    }
}
