//! Waking threads blocked in `accept()` or `recvfrom()` when the server
//! stops. Both wakers are made when the server starts, never when it stops:
//! by then the process may be out of descriptors (each thread blocked in
//! `accept()` reserves one), and a socket made then failed with EMFILE,
//! leaving workers blocked and shutdown joining them for ever.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crate::error::Error;
use crate::net::Endpoint;
use crate::transport::{Datagram, Listener, Stream};

/// Stops every `accept()` on one listening socket.
pub(crate) struct StreamWaker {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    dup: Stream,
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    addr: Endpoint,
}

impl StreamWaker {
    /// A second descriptor for `listener` (see [`Listener::waker`]).
    pub fn new(listener: &Listener, addr: Endpoint) -> Result<StreamWaker, Error> {
        Ok(StreamWaker { dup: listener.waker()?, addr })
    }

    /// On Linux, `shutdown(2)` on a listening socket makes every `accept()`
    /// blocked on it return at once (EINVAL), and later ones fail too: one
    /// call stops all acceptors. Elsewhere, connect once per acceptor.
    pub fn wake(&self, acceptors: usize) {
        #[cfg(target_os = "linux")]
        {
            let _ = acceptors;
            let _ = self.dup.shutdown(Shutdown::Read);
        }
        #[cfg(not(target_os = "linux"))]
        for _ in 0..acceptors {
            let tried = match &self.addr {
                Endpoint::Inet(a) => {
                    Stream::connect_inet(loopback_of(*a), Some(Duration::from_millis(50)))
                }
                Endpoint::Unix(Some(p)) => Stream::connect_unix(p),
                Endpoint::Unix(None) => return,
            };
            if tried.is_err() {
                break;
            }
        }
    }
}

/// Stops every `recvfrom()` on one datagram socket with empty datagrams.
pub(crate) struct DatagramWaker {
    socket: Datagram,
    target: Endpoint,
}

impl DatagramWaker {
    /// A socket to send wake-ups to `local` from: UDP on the loopback
    /// address of the same family, or an unnamed Unix datagram socket.
    pub fn new(local: &Endpoint) -> Result<DatagramWaker, Error> {
        let (socket, target) = match local {
            Endpoint::Inet(a) => {
                let from = match a {
                    SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
                    SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                };
                (Datagram::bind_udp(from)?, Endpoint::Inet(loopback_of(*a)))
            }
            Endpoint::Unix(_) => (
                Datagram::unbound_unix().map_err(|e| Error::new("socket()", None, e))?,
                local.clone(),
            ),
        };
        Ok(DatagramWaker { socket, target })
    }

    /// Sends empty datagrams until no worker is `running`. UDP may drop a
    /// wake-up, so keep sending (a bounded number of rounds); the workers'
    /// stop poll (`UDP_STOP_POLL`) bounds the stop even if all are lost.
    pub fn wake(&self, running: &AtomicUsize) {
        for _ in 0..500 {
            let left = running.load(Ordering::Acquire);
            if left == 0 {
                return;
            }
            for _ in 0..left {
                let _ = self.socket.send_to(&[], &self.target);
            }
            thread::sleep(Duration::from_millis(2));
        }
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
