//! [`ServerHandle`]: a running server's addresses and counters, and the
//! stop: stop accepting -> grace -> cut input -> drain -> cut -> join.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::datagram::DatagramServer;
use super::state::{Listening, Shared};
use super::stream::StreamServer;
use crate::stats::Stats;
use crate::transport::SocketFile;

/// A running server. Dropping it stops the server at once (no grace period);
/// call [`ServerHandle::shutdown`] to let connections finish.
pub struct ServerHandle {
    shared: Arc<Shared>,
    pub(super) stream: Option<StreamServer>,
    pub(super) datagram: Option<DatagramServer>,
    file: Option<SocketFile>,
    done: bool,
}

impl ServerHandle {
    pub(super) fn new(shared: Arc<Shared>, file: Option<SocketFile>) -> ServerHandle {
        ServerHandle { shared, stream: None, datagram: None, file, done: false }
    }

    /// Every socket served, stream first: what the `listening` lines say.
    pub fn listening(&self) -> Vec<Listening> {
        let stream = self.stream.as_ref().map(|s| s.info.clone());
        stream.into_iter().chain(self.datagram.as_ref().map(|d| d.info.clone())).collect()
    }

    /// The bound TCP address (with the real port when 0 was asked).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.stream.as_ref().and_then(|s| s.info.addr.inet())
    }

    /// The bound UDP address.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.datagram.as_ref().and_then(|d| d.info.addr.inet())
    }

    /// The stream worker count (0 when not serving a stream socket).
    pub fn tcp_workers(&self) -> usize {
        self.stream.as_ref().map_or(0, |s| s.info.workers)
    }

    /// The datagram worker count (0 when not serving a datagram socket).
    pub fn udp_workers(&self) -> usize {
        self.datagram.as_ref().map_or(0, |d| d.info.workers)
    }

    /// The service's name.
    pub fn service_name(&self) -> &str {
        self.shared.service.name()
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Stream connections being served right now.
    pub fn active_connections(&self) -> usize {
        self.shared.stop.active()
    }

    /// Asks [`wait`](Self::wait) to return (callable from any thread via a
    /// [`StopSignal`]).
    pub fn stop_signal(&self) -> StopSignal {
        StopSignal(Arc::clone(&self.shared))
    }

    /// Blocks until a stop is requested (by [`StopSignal::stop`] or by
    /// reaching `max_connections` / `max_datagrams`) or `timeout` passes.
    /// Returns true if a stop was requested. It does not stop the server:
    /// call `shutdown`.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        // A timeout too large to add to the clock means no timeout.
        let until = timeout.and_then(|t| Instant::now().checked_add(t));
        self.shared.stop.wait_until(until, |s| s.requested())
    }

    /// Stops the server and returns its final counters:
    /// 1. stop accepting (threads blocked in `accept()`/`recvfrom()` wake up);
    /// 2. wait up to `grace` for in-flight connections to finish on their own;
    /// 3. cut the input of the ones still open (`shutdown(SHUT_RD)`): their
    ///    handlers see end of file and answer what they already read;
    /// 4. after up to [`Limits::drain_timeout`](crate::Limits::drain_timeout)
    ///    more, cut what is left (`shutdown(SHUT_RDWR)`), e.g. a handler
    ///    blocked writing to a client that does not read;
    /// 5. join every thread, and remove a Unix-domain socket's file.
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
        self.shared.stop.begin();
        if let Some(s) = &self.stream {
            s.stop_accepting();
        }
        if let Some(d) = &self.datagram {
            d.stop_receiving();
        }
        self.shared.stop.finish(grace, self.shared.limits.drain_timeout);
        if let Some(s) = self.stream.take() {
            s.join();
        }
        if let Some(d) = self.datagram.take() {
            d.join();
        }
        if let Some(f) = &self.file {
            f.remove();
        }
        self.stats()
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
        self.0.stop.request();
    }
}
