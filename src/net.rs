//! Addresses and errors, once for the whole crate: the server, the client
//! and the load generator all parse, resolve and classify through here.
//!
//! - [`Address`], what `--addr` (or `ServerBuilder::addr`) names: an
//!   internet `host:port` (PF_INET / PF_INET6) or `unix:PATH` (PF_LOCAL).
//! - [`Endpoint`], the address of one end of a socket, as `accept()`,
//!   `recvfrom()` or `getsockname()` return it.
//! - [`resolve()`], `getaddrinfo()`.
//! - [`Outcome`], what an I/O error means for a connection (timeout, the
//!   peer went away, something else).
//!
//! What it does not do: open sockets. `transport` does that.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;

/// Where `sockref serve`, `client` and `bench` go when no address is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:4000";

/// The prefix that marks a Unix-domain (PF_LOCAL) address: `unix:/tmp/s`.
pub const UNIX_PREFIX: &str = "unix:";

/// An address as a user writes it: `host:port` or `unix:PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `host:port`, resolved later with [`resolve`] (a name may resolve to
    /// several addresses, or fail, which is a runtime error, not a usage one).
    Inet(String),
    /// A filesystem path for a Unix-domain socket.
    Unix(PathBuf),
}

impl Address {
    /// Parses `unix:PATH` or `host:port`. Refuses, with a reason, what is
    /// not an address at all: no port (`nonsense`), a port that is not a
    /// number from 0 to 65535 (`:x`), an empty host or path.
    pub fn parse(s: &str) -> Result<Address, String> {
        if let Some(path) = s.strip_prefix(UNIX_PREFIX) {
            if path.is_empty() {
                return Err(format!("'{s}': a Unix-domain address needs a path after 'unix:'"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(format!(
                "'{s}' is not an address: write HOST:PORT (e.g. 127.0.0.1:4000, [::1]:4000) or unix:PATH"
            ));
        };
        if host.is_empty() {
            return Err(format!("'{s}': the host is missing (e.g. 127.0.0.1{s})"));
        }
        if port.parse::<u16>().is_err() {
            return Err(format!("'{s}': the port must be a number from 0 to 65535"));
        }
        Ok(Address::Inet(s.to_string()))
    }

    /// The Unix path, if this is a Unix-domain address.
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Address::Unix(p) => Some(p),
            Address::Inet(_) => None,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Inet(s) => f.write_str(s),
            Address::Unix(p) => write!(f, "{UNIX_PREFIX}{}", p.display()),
        }
    }
}

/// `getaddrinfo()`: std resolves names through the C library and parses
/// numeric addresses itself. Every address found, in the resolver's order.
pub fn resolve(addr: &str) -> Result<Vec<SocketAddr>, Error> {
    let failed = |e| Error::new("getaddrinfo()", Some(addr.to_string()), e);
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(failed)?.collect();
    if addrs.is_empty() {
        return Err(failed(io::Error::new(io::ErrorKind::NotFound, "no address found")));
    }
    Ok(addrs)
}

/// One end of a socket: an internet address, or a Unix-domain path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// PF_INET / PF_INET6: address and port.
    Inet(SocketAddr),
    /// PF_LOCAL: the socket's path, or `None` for an unnamed (unbound)
    /// socket, as a client's usually is.
    Unix(Option<PathBuf>),
}

impl Endpoint {
    /// The internet address, if this is one.
    pub fn inet(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Inet(a) => Some(*a),
            Endpoint::Unix(_) => None,
        }
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(a: SocketAddr) -> Self {
        Endpoint::Inet(a)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Inet(a) => a.fmt(f),
            Endpoint::Unix(Some(p)) => write!(f, "{}", p.display()),
            Endpoint::Unix(None) => f.write_str("(unnamed)"),
        }
    }
}

impl From<&std::os::unix::net::SocketAddr> for Endpoint {
    fn from(a: &std::os::unix::net::SocketAddr) -> Self {
        Endpoint::Unix(a.as_pathname().map(Path::to_path_buf))
    }
}

/// What an I/O error on a connection means, for counters and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A socket timeout ran out (Unix reports `SO_RCVTIMEO` as EAGAIN).
    TimedOut,
    /// The peer went away: reset, aborted, or stopped reading (EPIPE).
    Gone,
    /// Anything else.
    Failed,
}

impl Outcome {
    /// Classifies `e`.
    pub fn of(e: &io::Error) -> Outcome {
        match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Outcome::TimedOut,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Outcome::Gone,
            _ => Outcome::Failed,
        }
    }
}

/// `30s`, or `0.250s` for a fraction: how every message states a duration.
pub fn secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// "timed out after 30s": a socket timeout said plainly.
pub fn timeout_error(timeout: Option<Duration>) -> io::Error {
    let msg = match timeout {
        Some(t) => format!("timed out after {}", secs(t)),
        None => "timed out".to_string(),
    };
    io::Error::new(io::ErrorKind::TimedOut, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_inet_and_unix_and_refuses_non_addresses() {
        assert_eq!(Address::parse("127.0.0.1:0"), Ok(Address::Inet("127.0.0.1:0".into())));
        assert_eq!(Address::parse("[::1]:4000"), Ok(Address::Inet("[::1]:4000".into())));
        assert_eq!(
            Address::parse("no.such.host.invalid:80"),
            Ok(Address::Inet("no.such.host.invalid:80".into()))
        );
        assert_eq!(Address::parse("unix:/tmp/s"), Ok(Address::Unix("/tmp/s".into())));
        for bad in ["nonsense", ":x", ":4000", "host:", "host:x", "h:70000", "unix:"] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_read_the_same_everywhere() {
        assert_eq!(secs(Duration::from_secs(30)), "30s");
        assert_eq!(secs(Duration::from_millis(250)), "0.250s");
    }

    #[test]
    fn endpoints_print_as_addresses_or_paths() {
        let a: SocketAddr = ([127, 0, 0, 1], 9).into();
        assert_eq!(Endpoint::from(a).to_string(), "127.0.0.1:9");
        assert_eq!(Endpoint::Unix(Some("/tmp/s".into())).to_string(), "/tmp/s");
        assert_eq!(Endpoint::Unix(None).to_string(), "(unnamed)");
    }
}
