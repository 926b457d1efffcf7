//! [`ServerBuilder`]: configure, then `start()` in C order: resolve the
//! address, `socket()` + `bind()` (+ `listen()`), start the workers.
//!
//! Every socket and every thread exists before `start()` returns, so by the
//! time a caller has a [`ServerHandle`] the server is accepting.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::datagram;
use super::handle::ServerHandle;
use super::state::Shared;
use super::stream;
use crate::error::Error;
use crate::guard::nofile;
use crate::guard::wake::DatagramWaker;
use crate::limits::{AcceptModel, Limits, Overload};
use crate::net::DEFAULT_ADDR;
use crate::service::{self, Service};
use crate::stats::Quota;
use crate::trace::Observer;
use crate::transport::{bind, Protocols};

/// Configures and starts a server. See the crate root for an example.
pub struct ServerBuilder {
    addr: String,
    protocols: Protocols,
    service: Arc<dyn Service>,
    limits: Limits,
    observer: Option<Arc<dyn Observer>>,
    quota: Quota,
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
            addr: DEFAULT_ADDR.to_string(),
            protocols: Protocols::Both,
            service: Arc::new(service::Echo),
            limits: Limits::default(),
            observer: None,
            quota: Quota::default(),
        }
    }

    /// The address to bind: `"127.0.0.1:0"` (0 = any free port),
    /// `"[::1]:4000"`, or `"unix:/path/to/socket"` for a Unix-domain socket.
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

    /// A built-in service by name (see [`service::SERVICES`]).
    pub fn builtin(mut self, name: &str) -> Result<Self, Error> {
        self.service = service::builtin(name).ok_or_else(|| {
            invalid(
                "service",
                Some(name),
                format!("unknown service (choose one of {})", service::SERVICE_NAMES.join(", ")),
            )
        })?;
        Ok(self)
    }

    /// All bounds at once.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Number of stream workers (connections served at once).
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

    /// Ask to stop (see [`ServerHandle::wait`]) once this many stream
    /// connections have been served and closed. With
    /// [`max_datagrams`](Self::max_datagrams) too, once both are reached.
    pub fn max_connections(mut self, n: u64) -> Self {
        self.quota.max_connections = Some(n);
        self
    }

    /// Ask to stop (see [`ServerHandle::wait`]) once this many datagrams
    /// have been handled (answered, or dropped by a rule). With
    /// [`max_connections`](Self::max_connections) too, once both are reached.
    pub fn max_datagrams(mut self, n: u64) -> Self {
        self.quota.max_datagrams = Some(n);
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
        limits.validate().map_err(|why| invalid("configuration", None, why))?;
        if self.service.stream_only() && self.protocols != Protocols::Tcp {
            let why =
                format!("{} runs over a stream only: use Protocols::Tcp", self.service.name());
            return Err(invalid("configuration", None, why));
        }
        // getaddrinfo(), socket() + bind() (+ listen())
        let bound = bind(&self.addr, self.protocols)?;
        let workers = if bound.listener.is_some() { limits.workers } else { 0 };
        let shared =
            Arc::new(Shared::new(self.service, limits, self.observer, workers, self.quota));
        // Every descriptor the server will ever make is made before the
        // stream acceptors start: each one blocked in accept() reserves a
        // descriptor, which may leave none at a low RLIMIT_NOFILE.
        let datagram = match bound.datagram {
            Some(socket) => {
                let local = socket.local().map_err(|e| Error::new("getsockname()", None, e))?;
                Some((socket, DatagramWaker::new(&local)?))
            }
            None => None,
        };
        // If a later step fails, dropping `handle` stops what already started.
        let mut handle = ServerHandle::new(Arc::clone(&shared), bound.file);
        if let Some(listener) = bound.listener {
            nofile::warn_if_short(shared.limits.workers, &shared.accept_paused);
            handle.stream = Some(stream::start(listener, &shared)?);
        }
        if let Some((socket, waker)) = datagram {
            handle.datagram = Some(datagram::start(socket, waker, &shared)?);
        }
        Ok(handle)
    }
}

fn invalid(what: &'static str, target: Option<&str>, why: String) -> Error {
    let e = io::Error::new(io::ErrorKind::InvalidInput, why);
    Error::new(what, target.map(str::to_string), e)
}
