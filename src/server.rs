//! Starting, watching and stopping a server: [`ServerBuilder`] and
//! [`ServerHandle`].
//!
//! The builder binds the sockets (TCP first, then UDP on the same port) and
//! starts every thread before it returns, so by the time a caller has a
//! handle the server is accepting. The handle reports the bound addresses
//! and live counters, and stops the server: stop accepting, let in-flight
//! connections finish within a deadline, close what is left, join every
//! thread, return the final counters.
//!
//! What it does not do: serve. `tcp` and `udp` do that; this module only
//! owns their lifetimes and the state they share.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::limits::{AcceptModel, Limits, Overload};
use crate::service::{self, Service};
use crate::stats::{Counters, Stats};
use crate::tcp::{self, TcpServer};
use crate::trace::{Observer, Proto};
use crate::udp::{self, UdpServer};

/// Which protocols to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocols {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// TCP and UDP on the same port number. If either bind fails, neither serves.
    Both,
}

impl Protocols {
    fn has(self, p: Proto) -> bool {
        matches!(
            (self, p),
            (Protocols::Both, _) | (Protocols::Tcp, Proto::Tcp) | (Protocols::Udp, Proto::Udp)
        )
    }
}

/// State every server thread shares.
pub(crate) struct Shared {
    pub service: Arc<dyn Service>,
    pub limits: Limits,
    pub observer: Option<Arc<dyn Observer>>,
    pub counters: Counters,
    stopping: AtomicBool,
    next_conn: AtomicU64,
    /// One slot per TCP worker holding the connection it serves, so that
    /// shutdown can cut connections still open when the deadline passes.
    slots: Vec<Mutex<Option<Arc<TcpStream>>>>,
    active: AtomicUsize,
    max_connections: Option<u64>,
    stop_requested: AtomicBool,
    /// Set once shutdown starts cutting connections left after the grace.
    cutting: AtomicBool,
    /// Set while `accept()` is failing for lack of descriptors or memory,
    /// so that the episode is reported once, not once per worker.
    pub accept_paused: AtomicBool,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Shared {
    pub fn observer(&self) -> Option<&dyn Observer> {
        self.observer.as_deref()
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn slot(&self, worker: usize) -> Option<MutexGuard<'_, Option<Arc<TcpStream>>>> {
        self.slots
            .get(worker)
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A connection starts being served on `worker`.
    pub fn conn_opened(&self, worker: usize, stream: &Arc<TcpStream>) {
        self.active.fetch_add(1, Ordering::AcqRel);
        if let Some(mut slot) = self.slot(worker) {
            *slot = Some(Arc::clone(stream));
        }
        // A connection accepted just as shutdown cut the others would
        // otherwise escape the cut; close its input so it ends promptly.
        if self.stopping() && self.cutting.load(Ordering::Acquire) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The connection on `worker` is closed (`closed` already counted).
    pub fn conn_closed(&self, worker: usize) {
        if let Some(mut slot) = self.slot(worker) {
            *slot = None;
        }
        self.active.fetch_sub(1, Ordering::AcqRel);
        if let Some(max) = self.max_connections {
            if self.counters.closed.load(Ordering::Relaxed) >= max {
                self.request_stop();
            }
        }
        if self.stopping() {
            let _g = self.guard();
            self.changed.notify_all();
        }
    }

    /// Asks whoever waits in [`ServerHandle::wait`] to stop the server.
    pub fn request_stop(&self) {
        if !self.stop_requested.swap(true, Ordering::AcqRel) {
            let _g = self.guard();
            self.changed.notify_all();
        }
    }
}

/// Configures and starts a server. See the crate root for an example.
pub struct ServerBuilder {
    addr: String,
    protocols: Protocols,
    service: Arc<dyn Service>,
    limits: Limits,
    observer: Option<Arc<dyn Observer>>,
    max_connections: Option<u64>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerBuilder {
    /// Echo on `127.0.0.1:4000`, TCP and UDP, default [`Limits`].
    pub fn new() -> Self {
        ServerBuilder {
            addr: "127.0.0.1:4000".to_string(),
            protocols: Protocols::Both,
            service: Arc::new(service::Echo),
            limits: Limits::default(),
            observer: None,
            max_connections: None,
        }
    }

    /// The address to bind, e.g. `"127.0.0.1:0"` (0 = any free port).
    pub fn addr(mut self, addr: &str) -> Self {
        self.addr = addr.to_string();
        self
    }

    /// Which protocols to serve (default both).
    pub fn protocols(mut self, protocols: Protocols) -> Self {
        self.protocols = protocols;
        self
    }

    /// The service every connection and datagram gets.
    pub fn service(mut self, service: impl Service) -> Self {
        self.service = Arc::new(service);
        self
    }

    /// The service, already shared.
    pub fn service_arc(mut self, service: Arc<dyn Service>) -> Self {
        self.service = service;
        self
    }

    /// A built-in service by name (see [`service::SERVICE_NAMES`]).
    pub fn builtin(mut self, name: &str) -> Result<Self, Error> {
        self.service = service::builtin(name).ok_or_else(|| {
            Error::new(
                "service",
                Some(name.to_string()),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "unknown service (choose one of {})",
                        service::SERVICE_NAMES.join(", ")
                    ),
                ),
            )
        })?;
        Ok(self)
    }

    /// All bounds at once.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Number of TCP workers (connections served at once).
    pub fn workers(mut self, n: usize) -> Self {
        self.limits.workers = n;
        self
    }

    /// Idle timeout for each `read()`/`write()` (`None` = wait forever).
    pub fn idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.limits.idle_timeout = t;
        self
    }

    /// Receives every socket-call event (see [`crate::trace`]).
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Ask to stop (see [`ServerHandle::wait`]) once this many TCP
    /// connections have been served and closed.
    pub fn max_connections(mut self, n: u64) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// Binds and starts serving. Returns once every socket is bound and
    /// every worker thread is running.
    pub fn start(self) -> Result<ServerHandle, Error> {
        let mut limits = self.limits;
        if limits.overload == Overload::Reject {
            // Refusing needs a thread that accepts while all workers are
            // busy, which only the hand-off design has.
            limits.accept_model = AcceptModel::Handoff;
        }
        if limits.workers == 0 || limits.udp_workers == 0 {
            return Err(Error::new(
                "pthread_create()",
                None,
                io::Error::new(io::ErrorKind::InvalidInput, "workers must be at least 1"),
            ));
        }
        let addr = resolve(&self.addr)?;
        let (tcp_listener, udp_socket) = bind_all(addr, self.protocols)?;
        let tcp_workers = if tcp_listener.is_some() {
            limits.workers
        } else {
            0
        };
        let shared = Arc::new(Shared {
            service: self.service,
            limits,
            observer: self.observer,
            counters: Counters::default(),
            stopping: AtomicBool::new(false),
            next_conn: AtomicU64::new(0),
            slots: (0..tcp_workers).map(|_| Mutex::new(None)).collect(),
            active: AtomicUsize::new(0),
            max_connections: self.max_connections,
            stop_requested: AtomicBool::new(false),
            lock: Mutex::new(()),
            changed: Condvar::new(),
            cutting: AtomicBool::new(false),
            accept_paused: AtomicBool::new(false),
        });
        let mut handle = ServerHandle {
            shared: Arc::clone(&shared),
            tcp: None,
            udp: None,
            done: false,
        };
        // Every descriptor the server will ever make is made before the TCP
        // acceptors start: each one blocked in accept() reserves a
        // descriptor, which may leave none at a low RLIMIT_NOFILE.
        let udp = match udp_socket {
            Some(socket) => {
                let waker = udp::waker_for(&socket)?;
                Some((socket, waker))
            }
            None => None,
        };
        // If a later step fails, dropping `handle` stops what already started.
        if let Some(listener) = tcp_listener {
            handle.tcp = Some(tcp::start(listener, Arc::clone(&shared))?);
        }
        if let Some((socket, waker)) = udp {
            handle.udp = Some(udp::start(socket, waker, Arc::clone(&shared))?);
        }
        Ok(handle)
    }
}

fn resolve(addr: &str) -> Result<SocketAddr, Error> {
    let mut addrs = addr
        .to_socket_addrs()
        .map_err(|e| Error::new("getaddrinfo()", Some(addr.to_string()), e))?;
    addrs.next().ok_or_else(|| {
        Error::new(
            "getaddrinfo()",
            Some(addr.to_string()),
            io::Error::new(io::ErrorKind::NotFound, "no address found"),
        )
    })
}

type Bound = (Option<std::net::TcpListener>, Option<std::net::UdpSocket>);

/// Binds what `protocols` asks for. With both and port 0, the UDP port must
/// match the port the kernel chose for TCP; if another program holds that
/// UDP port, try again with a new TCP port (a few times).
fn bind_all(addr: SocketAddr, protocols: Protocols) -> Result<Bound, Error> {
    let tries = if protocols == Protocols::Both && addr.port() == 0 {
        8
    } else {
        1
    };
    let mut last = None;
    for _ in 0..tries {
        let tcp = if protocols.has(Proto::Tcp) {
            Some(tcp::listen(addr)?)
        } else {
            None
        };
        let udp_addr = match &tcp {
            Some(l) => l
                .local_addr()
                .map_err(|e| Error::new("getsockname()", Some(addr.to_string()), e))?,
            None => addr,
        };
        if !protocols.has(Proto::Udp) {
            return Ok((tcp, None));
        }
        match udp::bind(udp_addr) {
            Ok(u) => return Ok((tcp, Some(u))),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::new(
            "bind()",
            Some(addr.to_string()),
            io::ErrorKind::AddrInUse.into(),
        )
    }))
}

/// A running server. Dropping it stops the server at once (no grace period);
/// call [`ServerHandle::shutdown`] to let connections finish.
pub struct ServerHandle {
    shared: Arc<Shared>,
    tcp: Option<TcpServer>,
    udp: Option<UdpServer>,
    done: bool,
}

impl ServerHandle {
    /// The bound TCP address (with the real port when 0 was asked).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().map(|t| t.addr())
    }

    /// The bound UDP address.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().map(|u| u.addr())
    }

    /// The TCP worker count (0 when not serving TCP).
    pub fn tcp_workers(&self) -> usize {
        self.tcp.as_ref().map_or(0, |t| t.workers())
    }

    /// The UDP worker count (0 when not serving UDP).
    pub fn udp_workers(&self) -> usize {
        self.udp.as_ref().map_or(0, |u| u.workers())
    }

    /// The service's name.
    pub fn service_name(&self) -> &str {
        self.shared.service.name()
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// TCP connections being served right now.
    pub fn active_connections(&self) -> usize {
        self.shared.active.load(Ordering::Acquire)
    }

    /// Asks [`wait`](Self::wait) to return (callable from any thread via a
    /// [`StopSignal`]).
    pub fn stop_signal(&self) -> StopSignal {
        StopSignal(Arc::clone(&self.shared))
    }

    /// Blocks until a stop is requested (by [`StopSignal::stop`] or by
    /// reaching `max_connections`) or `timeout` passes. Returns true if a
    /// stop was requested. It does not stop the server: call `shutdown`.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let until = timeout.map(|t| Instant::now() + t);
        let mut g = self.shared.guard();
        loop {
            if self.shared.stop_requested.load(Ordering::Acquire) {
                return true;
            }
            match until {
                None => {
                    g = self
                        .shared
                        .changed
                        .wait(g)
                        .unwrap_or_else(|p| p.into_inner());
                }
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    g = match self.shared.changed.wait_timeout(g, left) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    };
                }
            }
        }
    }

    /// Stops the server and returns its final counters:
    /// 1. stop accepting (threads blocked in `accept()`/`recvfrom()` wake up);
    /// 2. wait up to `grace` for in-flight connections to finish on their own;
    /// 3. cut the input of the ones still open (`shutdown(SHUT_RD)`): their
    ///    handlers see end of file and answer what they already read;
    /// 4. after up to [`Limits::drain_timeout`] more, cut what is left
    ///    (`shutdown(SHUT_RDWR)`), e.g. a handler blocked writing to a
    ///    client that does not read;
    /// 5. join every thread.
    ///
    /// So it returns within `grace` + `drain_timeout` plus the time threads
    /// take to notice, and never sooner than every connection is closed.
    pub fn shutdown(mut self, grace: Duration) -> Stats {
        self.stop(grace)
    }

    fn stop(&mut self, grace: Duration) -> Stats {
        if self.done {
            return self.stats();
        }
        self.done = true;
        self.shared.stopping.store(true, Ordering::Release);
        if let Some(t) = &self.tcp {
            t.stop_accepting();
        }
        if let Some(u) = &self.udp {
            u.stop_receiving();
        }
        self.wait_idle(Instant::now() + grace);
        // Cut in two steps so that no request already read loses its reply.
        // First the input only: handlers blocked in read() see end of file,
        // and one that has just read a request can still write the answer
        // (cutting both ways at once made that write fail with EPIPE).
        self.shared.cutting.store(true, Ordering::Release);
        self.cut(Shutdown::Read);
        self.wait_idle(Instant::now() + self.shared.limits.drain_timeout);
        // Then whatever is left: handlers blocked writing to a client that
        // does not read, whose replies could not be delivered anyway.
        self.cut(Shutdown::Both);
        if let Some(t) = self.tcp.take() {
            t.join();
        }
        if let Some(u) = self.udp.take() {
            u.join();
        }
        self.stats()
    }
}

impl ServerHandle {
    /// Waits until no TCP connection is being served, or `until`.
    fn wait_idle(&self, until: Instant) {
        let mut g = self.shared.guard();
        while self.shared.active.load(Ordering::Acquire) > 0 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            g = match self.shared.changed.wait_timeout(g, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// `shutdown(how)` on every connection still being served.
    fn cut(&self, how: Shutdown) {
        for slot in &self.shared.slots {
            let slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(stream) = slot.as_ref() {
                let _ = stream.shutdown(how);
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

/// Lets any thread ask a server's [`ServerHandle::wait`] to return.
#[derive(Clone)]
pub struct StopSignal(Arc<Shared>);

impl StopSignal {
    /// Requests a stop.
    pub fn stop(&self) {
        self.0.request_stop();
    }
}
