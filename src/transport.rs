//! The seam between the textbook path and the address family: one listener,
//! one connected stream and one datagram socket type, each either PF_INET /
//! PF_INET6 (TCP, UDP) or PF_LOCAL (Unix-domain stream and datagram).
//!
//! `server/stream.rs` and `server/datagram.rs` are written once against
//! these types; adding a family means adding a variant here, not another
//! copy of the server. Enums rather than a trait: a closed set of two, one
//! `match` per call (no boxing, no generic code built twice), and a reader
//! sees both families side by side.
//!
//! [`bind`] is where an address picks its family: `host:port` resolves and
//! binds TCP and/or UDP, `unix:PATH` binds one Unix-domain socket.
//!
//! What it does not do: serve. Timeouts, counters and traces belong to the
//! callers.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::net::{resolve, Address, Endpoint};

/// Which protocols to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocols {
    /// Stream: TCP, or a Unix-domain stream socket for a `unix:` address.
    Tcp,
    /// Datagram: UDP, or a Unix-domain datagram socket for a `unix:` address.
    Udp,
    /// TCP and UDP on the same port number. If either bind fails, neither
    /// serves. Not for a `unix:` address: one path holds one socket.
    Both,
}

impl Protocols {
    /// Serves a stream socket.
    pub fn stream(self) -> bool {
        self != Protocols::Udp
    }

    /// Serves a datagram socket.
    pub fn datagram(self) -> bool {
        self != Protocols::Tcp
    }
}

/// A listening stream socket: `socket()` + `bind()` + `listen()` done.
pub enum Listener {
    /// `SOCK_STREAM` over PF_INET / PF_INET6.
    Tcp(TcpListener),
    /// `SOCK_STREAM` over PF_LOCAL.
    Unix(UnixListener),
}

/// A connected stream socket, as `accept()` or `connect()` returns it.
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix-domain stream.
    Unix(UnixStream),
}

/// A bound datagram socket.
pub enum Datagram {
    /// UDP.
    Udp(UdpSocket),
    /// Unix-domain datagram.
    Unix(UnixDatagram),
}

impl Listener {
    /// `socket()`, `setsockopt(SO_REUSEADDR)`, `bind()`, `listen(128)`: std
    /// makes all of them inside `TcpListener::bind`.
    pub fn bind_tcp(addr: SocketAddr) -> Result<Listener, Error> {
        TcpListener::bind(addr)
            .map(Listener::Tcp)
            .map_err(|e| Error::new("bind()", Some(addr.to_string()), e))
    }

    /// `socket(AF_UNIX)`, `bind()`, `listen(-1)` (the kernel's largest
    /// backlog), inside `UnixListener::bind`: the listener at `path`,
    /// replacing a stale socket there
    /// (a socket file nothing listens on any more; never anything else).
    pub fn bind_unix(path: &Path) -> Result<Listener, Error> {
        clear_stale(path)?;
        UnixListener::bind(path)
            .map(Listener::Unix)
            .map_err(|e| Error::new("bind()", Some(path.display().to_string()), e))
    }

    /// `accept()`.
    pub fn accept(&self) -> io::Result<(Stream, Endpoint)> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, a)| (Stream::Tcp(s), Endpoint::Inet(a))),
            Listener::Unix(l) => l.accept().map(|(s, a)| (Stream::Unix(s), Endpoint::from(&a))),
        }
    }

    /// `getsockname()`.
    pub fn local(&self) -> io::Result<Endpoint> {
        match self {
            Listener::Tcp(l) => l.local_addr().map(Endpoint::Inet),
            Listener::Unix(l) => l.local_addr().map(|a| Endpoint::from(&a)),
        }
    }

    /// A second descriptor for the listening socket, viewed as a stream so
    /// that `shutdown()` can be called on it (std has no `shutdown` on a
    /// listener). On Linux, `shutdown()` on a listening socket makes every
    /// `accept()` blocked on it return at once, for both families: the
    /// one call that stops all acceptors. Made at start: when stopping, a
    /// process out of descriptors could not `dup()` any more.
    pub fn waker(&self) -> Result<Stream, Error> {
        let dup_err = |e| Error::new("fcntl(F_DUPFD_CLOEXEC)", None, e);
        Ok(match self {
            Listener::Tcp(l) => {
                let fd: std::os::fd::OwnedFd = l.try_clone().map_err(dup_err)?.into();
                Stream::Tcp(TcpStream::from(fd))
            }
            Listener::Unix(l) => {
                let fd: std::os::fd::OwnedFd = l.try_clone().map_err(dup_err)?.into();
                Stream::Unix(UnixStream::from(fd))
            }
        })
    }
}

impl Stream {
    /// `socket()` + `connect()` to an internet address, within `timeout`.
    pub fn connect_inet(addr: SocketAddr, timeout: Option<Duration>) -> io::Result<Stream> {
        match timeout {
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        }
        .map(Stream::Tcp)
    }

    /// `socket()` + `connect()` to a Unix-domain stream socket.
    pub fn connect_unix(path: &Path) -> io::Result<Stream> {
        UnixStream::connect(path).map(Stream::Unix)
    }

    /// `setsockopt(SO_RCVTIMEO)`.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }

    /// `setsockopt(SO_SNDTIMEO)`.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(t),
            Stream::Unix(s) => s.set_write_timeout(t),
        }
    }

    /// `fcntl(O_NONBLOCK)`: a read with nothing to read fails at once with
    /// `WouldBlock` (the open-loop load generator polls its connections).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(on),
            Stream::Unix(s) => s.set_nonblocking(on),
        }
    }

    /// `setsockopt(TCP_NODELAY)`; Unix-domain streams have no Nagle delay.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(on),
            Stream::Unix(_) => Ok(()),
        }
    }

    /// `shutdown()`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        }
    }

    /// `getsockname()`.
    pub fn local(&self) -> io::Result<Endpoint> {
        match self {
            Stream::Tcp(s) => s.local_addr().map(Endpoint::Inet),
            Stream::Unix(s) => s.local_addr().map(|a| Endpoint::from(&a)),
        }
    }

    /// `getpeername()`.
    pub fn peer(&self) -> io::Result<Endpoint> {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(Endpoint::Inet),
            Stream::Unix(s) => s.peer_addr().map(|a| Endpoint::from(&a)),
        }
    }

    /// `dup()`: a second handle on the same connection.
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    /// The TCP socket, for options only TCP has.
    pub fn as_tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Unix(_) => None,
        }
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).read(buf),
            Stream::Unix(s) => (&*s).read(buf),
        }
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).write(buf),
            Stream::Unix(s) => (&*s).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Datagram {
    /// `socket()` + `bind()` for UDP.
    pub fn bind_udp(addr: SocketAddr) -> Result<Datagram, Error> {
        UdpSocket::bind(addr)
            .map(Datagram::Udp)
            .map_err(|e| Error::new("bind()", Some(addr.to_string()), e))
    }

    /// `socket()` + `bind()` for a Unix-domain datagram socket at `path`,
    /// replacing a stale socket there (a socket file nothing listens on).
    pub fn bind_unix(path: &Path) -> Result<Datagram, Error> {
        clear_stale(path)?;
        UnixDatagram::bind(path)
            .map(Datagram::Unix)
            .map_err(|e| Error::new("bind()", Some(path.display().to_string()), e))
    }

    /// An unnamed Unix-domain datagram socket (a client's, or a waker's).
    pub fn unbound_unix() -> io::Result<Datagram> {
        UnixDatagram::unbound().map(Datagram::Unix)
    }

    /// `recvfrom()`.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Endpoint)> {
        match self {
            Datagram::Udp(s) => s.recv_from(buf).map(|(n, a)| (n, Endpoint::Inet(a))),
            Datagram::Unix(s) => s.recv_from(buf).map(|(n, a)| (n, Endpoint::from(&a))),
        }
    }

    /// `sendto()`. An unnamed Unix peer cannot be written to.
    pub fn send_to(&self, buf: &[u8], to: &Endpoint) -> io::Result<usize> {
        match (self, to) {
            (Datagram::Udp(s), Endpoint::Inet(a)) => s.send_to(buf, a),
            (Datagram::Unix(s), Endpoint::Unix(Some(p))) => s.send_to(buf, p),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to send to (unnamed socket or another family)",
            )),
        }
    }

    /// `setsockopt(SO_RCVTIMEO)`.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Datagram::Udp(s) => s.set_read_timeout(t),
            Datagram::Unix(s) => s.set_read_timeout(t),
        }
    }

    /// `setsockopt(SO_SNDTIMEO)`.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Datagram::Udp(s) => s.set_write_timeout(t),
            Datagram::Unix(s) => s.set_write_timeout(t),
        }
    }

    /// `fcntl(O_NONBLOCK)`, as for [`Stream::set_nonblocking`].
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Datagram::Udp(s) => s.set_nonblocking(on),
            Datagram::Unix(s) => s.set_nonblocking(on),
        }
    }

    /// `getsockname()`.
    pub fn local(&self) -> io::Result<Endpoint> {
        match self {
            Datagram::Udp(s) => s.local_addr().map(Endpoint::Inet),
            Datagram::Unix(s) => s.local_addr().map(|a| Endpoint::from(&a)),
        }
    }
}

/// What `bind` made: at most one socket of each kind, and the Unix
/// socket's file to remove on stop.
pub struct Bound {
    /// The stream socket, if one was asked for.
    pub listener: Option<Listener>,
    /// The datagram socket, if one was asked for.
    pub datagram: Option<Datagram>,
    /// A Unix-domain socket's file, to remove on stop.
    pub file: Option<SocketFile>,
}

/// Resolves `addr` (`host:port` or `unix:PATH`) and binds what `protocols`
/// asks for: `getaddrinfo()`, then `socket()` + `bind()` (+ `listen()`).
pub fn bind(addr: &str, protocols: Protocols) -> Result<Bound, Error> {
    let path = match Address::parse(addr).map_err(|why| invalid("address", None, why))? {
        Address::Inet(a) => return bind_inet(resolve(&a)?[0], protocols),
        Address::Unix(path) => path,
    };
    let (listener, datagram) = match protocols {
        Protocols::Tcp => (Some(Listener::bind_unix(&path)?), None),
        Protocols::Udp => (None, Some(Datagram::bind_unix(&path)?)),
        Protocols::Both => {
            let why = "a Unix-domain path holds one socket: serve stream (tcp) or datagram (udp)";
            return Err(invalid("bind()", Some(&path.display().to_string()), why.into()));
        }
    };
    let file = Some(SocketFile::new(&path));
    Ok(Bound { listener, datagram, file })
}

/// With both protocols and port 0, the UDP port must match the port the
/// kernel chose for TCP; if another program holds that UDP port, try again
/// with a new TCP port (a few times).
fn bind_inet(addr: SocketAddr, protocols: Protocols) -> Result<Bound, Error> {
    let tries = if protocols == Protocols::Both && addr.port() == 0 { 8 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let listener = protocols.stream().then(|| Listener::bind_tcp(addr)).transpose()?;
        let udp_addr = match listener.as_ref().map(Listener::local) {
            Some(Ok(Endpoint::Inet(a))) => a,
            Some(Err(e)) => return Err(Error::new("getsockname()", Some(addr.to_string()), e)),
            _ => addr,
        };
        if !protocols.datagram() {
            return Ok(Bound { listener, datagram: None, file: None });
        }
        match Datagram::bind_udp(udp_addr) {
            Ok(d) => return Ok(Bound { listener, datagram: Some(d), file: None }),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::new("bind()", Some(addr.to_string()), io::ErrorKind::AddrInUse.into())
    }))
}

fn invalid(what: &'static str, target: Option<&str>, why: String) -> Error {
    let e = io::Error::new(io::ErrorKind::InvalidInput, why);
    Error::new(what, target.map(str::to_string), e)
}

/// Before binding a Unix-domain socket at `path`: a socket file that
/// nothing is bound to any more (a server that died without removing it) is
/// removed, so the bind can succeed. The probe is a datagram `connect()`,
/// which never blocks and is never accepted: refused means stale; a live
/// stream socket answers "wrong type" (EPROTOTYPE) and a live datagram one
/// accepts, and both are left alone (the bind then fails with "Address
/// already in use"). Anything that is not a socket is never removed: the
/// server refuses to start.
fn clear_stale(path: &Path) -> Result<(), Error> {
    let target = || Some(path.display().to_string());
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        let why = "exists and is not a socket (left untouched)";
        return Err(Error::new(
            "bind()",
            target(),
            io::Error::new(io::ErrorKind::AlreadyExists, why),
        ));
    }
    let probe = UnixDatagram::unbound().and_then(|d| d.connect(path));
    if probe.is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused) {
        // Another server starting on the same stale path may have replaced
        // it meanwhile: remove only the file that was probed.
        let same = fs::symlink_metadata(path)
            .is_ok_and(|m| (m.dev(), m.ino()) == (meta.dev(), meta.ino()));
        if same {
            fs::remove_file(path).map_err(|e| Error::new("unlink()", target(), e))?;
        }
    }
    Ok(())
}

/// The socket file a Unix-domain server bound, removed when the server
/// stops, but only if the file at the path is still the one it made (same
/// device and inode): a server never deletes another's socket.
pub struct SocketFile {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl SocketFile {
    /// Remembers the socket just bound at `path`.
    pub fn new(path: &Path) -> SocketFile {
        let id = fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()));
        SocketFile { path: path.to_path_buf(), id }
    }

    /// `unlink()` of the socket file, if it is still ours (also on drop, so
    /// that a server failing after its bind leaves no file behind).
    pub fn remove(&self) {
        let now = fs::symlink_metadata(&self.path).ok().map(|m| (m.dev(), m.ino()));
        if now.is_some() && now == self.id {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        self.remove();
    }
}
