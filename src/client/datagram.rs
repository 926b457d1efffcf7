//! The datagram client, UDP or Unix-domain: `sendto()` one datagram,
//! `recvfrom()` its reply; without a message, one datagram per stdin line.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{print, ClientOptions};
use crate::error::Error;
use crate::limits::{MAX_DATAGRAM, UDP_RECV_BUF};
use crate::net::{secs, Endpoint, Outcome};
use crate::trace::{emit, Event, Observer, Proto};
use crate::transport::{Datagram, SocketFile};

/// socket() + bind(port 0): the socket that will `sendto()` `peer`.
///
/// C's client lets the first `sendto()` bind the socket implicitly; std
/// asks for an explicit `bind()` to port 0, which is the same thing.
pub(super) fn open_udp<'a>(
    opts: &ClientOptions,
    peer: SocketAddr,
    observer: Option<&'a dyn Observer>,
) -> Result<Datagrams<'a>, Error> {
    let any = if peer.is_ipv4() {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
    };
    let socket = Datagram::bind_udp(any)?;
    let addr = socket.local().unwrap_or(Endpoint::Inet(any));
    emit!(observer, Event::Listen { proto: Proto::Udp, addr: &addr, backlog: 0 });
    Ok(Datagrams::new(socket, Endpoint::Inet(peer), None, opts, observer))
}

/// socket(PF_LOCAL, SOCK_DGRAM) + bind(TEMP): the socket that will
/// `sendto(PATH)`.
///
/// Unlike UDP, an unbound Unix-domain socket has no address at all, so a
/// server could not reply to it: the client binds one at a temporary path
/// of its own, removed on every way out.
pub(super) fn open_unix<'a>(
    opts: &ClientOptions,
    path: &Path,
    observer: Option<&'a dyn Observer>,
) -> Result<Datagrams<'a>, Error> {
    let own = temp_socket_path();
    let socket = Datagram::bind_unix(&own)?;
    let remove = RemoveOnDrop(SocketFile::new(&own));
    let addr = Endpoint::Unix(Some(own.clone()));
    emit!(observer, Event::Listen { proto: Proto::Unixgram, addr: &addr, backlog: 0 });
    // A Unix-domain sendto() blocks while the server's queue is full, where
    // UDP would drop the datagram: bound it like every other wait.
    socket
        .set_write_timeout(opts.timeout)
        .map_err(|e| Error::new("setsockopt(SO_SNDTIMEO)", Some(own.display().to_string()), e))?;
    let peer = Endpoint::Unix(Some(path.to_path_buf()));
    Ok(Datagrams::new(socket, peer, Some(remove), opts, observer))
}

/// `TMPDIR/sockref-client-PID-N.sock`: unique per process and per run, so
/// clients running at once (or tests in one process) never share one.
fn temp_socket_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("sockref-client-{}-{n}.sock", std::process::id()))
}

/// Unlinks the client's own socket file however the run ends (error,
/// early return, panic), and only if it is still the one it bound.
struct RemoveOnDrop(SocketFile);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        self.0.remove();
    }
}

/// With a message: one exchange. Without: each stdin line is one datagram
/// (newline included, as `nc -u` sends it); a line longer than a datagram
/// can hold goes out in pieces.
pub(super) fn exchange_all<R: Read, W: Write>(
    mut socket: Datagrams<'_>,
    opts: &ClientOptions,
    input: R,
    mut output: W,
) -> Result<(), Error> {
    if let Some(message) = &opts.message {
        if message.len() > MAX_DATAGRAM {
            return Err(Error::new(
                "sendto()",
                Some(socket.peer.to_string()),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "message of {} bytes exceeds the {MAX_DATAGRAM}-byte datagram limit",
                        message.len()
                    ),
                ),
            ));
        }
        let reply = socket.exchange(message)?;
        print(&mut output, reply)?;
        return Ok(());
    }
    let mut lines = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        (&mut lines)
            .take(MAX_DATAGRAM as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::new("read()", Some("stdin".to_string()), e))?;
        if line.is_empty() {
            return Ok(());
        }
        let reply = socket.exchange(&line)?;
        if !print(&mut output, reply)? {
            return Ok(());
        }
    }
}

/// The client's datagram socket and where it sends.
pub(super) struct Datagrams<'a> {
    socket: Datagram,
    peer: Endpoint,
    /// Declared after `socket`, so dropped after it: the file goes once
    /// the socket bound to it is closed.
    _remove: Option<RemoveOnDrop>,
    timeout: Option<Duration>,
    observer: Option<&'a dyn Observer>,
    buf: Vec<u8>,
}

impl<'a> Datagrams<'a> {
    fn new(
        socket: Datagram,
        peer: Endpoint,
        _remove: Option<RemoveOnDrop>,
        opts: &ClientOptions,
        observer: Option<&'a dyn Observer>,
    ) -> Self {
        let (timeout, buf) = (opts.timeout, vec![0u8; UDP_RECV_BUF]);
        Datagrams { socket, peer, _remove, timeout, observer, buf }
    }
}

impl Datagrams<'_> {
    fn fail(&self, call: &'static str, e: io::Error) -> Error {
        emit!(self.observer, Event::Error { conn: 0, call, error: &e });
        Error::new(call, Some(self.peer.to_string()), e)
    }

    /// One `sendto()`, then `recvfrom()` until the server's reply arrives
    /// (datagrams from anyone else are reported and ignored) or the timeout
    /// passes with none.
    fn exchange(&mut self, request: &[u8]) -> Result<&[u8], Error> {
        self.send(request)?;
        match self.recv(self.timeout)? {
            Some(n) => Ok(&self.buf[..n]),
            None => Err(self.no_reply()),
        }
    }

    /// One `sendto()` of `request` to the server.
    pub(super) fn send(&mut self, request: &[u8]) -> Result<usize, Error> {
        let sent =
            self.socket.send_to(request, &self.peer).map_err(|e| self.fail("sendto()", e))?;
        emit!(
            self.observer,
            Event::SendTo { peer: &self.peer, bytes: sent, data: &request[..sent] }
        );
        Ok(sent)
    }

    /// `recvfrom()` until a datagram from the server arrives (its length,
    /// the bytes in [`Datagrams::received`]) or `wait` passes (`None`).
    pub(super) fn recv(&mut self, wait: Option<Duration>) -> Result<Option<usize>, Error> {
        let until = wait.map(|t| Instant::now() + t);
        loop {
            let wait = match until {
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    Some(left)
                }
                None => None,
            };
            self.socket
                .set_read_timeout(wait)
                .map_err(|e| self.fail("setsockopt(SO_RCVTIMEO)", e))?;
            let (n, from) = match self.socket.recv_from(&mut self.buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if Outcome::of(&e) == Outcome::TimedOut => return Ok(None),
                Err(e) => return Err(self.fail("recvfrom()", e)),
            };
            emit!(self.observer, Event::RecvFrom { peer: &from, bytes: n, data: &self.buf[..n] });
            if same_peer(&from, &self.peer) {
                return Ok(Some(n));
            }
            emit!(
                self.observer,
                Event::Drop { peer: &from, bytes: n, reason: "not from the server" }
            );
        }
    }

    /// The first `n` bytes of the receive buffer: the last datagram [`Datagrams::recv`] got.
    pub(super) fn received(&self, n: usize) -> &[u8] {
        &self.buf[..n]
    }

    /// A datagram socket has no connection to fail: silence is the only
    /// answer a lost datagram, a stopped server or a service that never
    /// replies gives.
    pub(super) fn no_reply(&self) -> Error {
        let why = match self.timeout {
            Some(t) => format!(
                "no reply within {} (the datagram or its reply was lost, or the service sends none)",
                secs(t)
            ),
            None => "no reply".to_string(),
        };
        self.fail("recvfrom()", io::Error::new(io::ErrorKind::TimedOut, why))
    }
}

/// Whether a datagram came from the server. A Unix-domain server's address
/// is the path it bound, which may be spelled otherwise than the client's
/// (`/tmp/./s`, a relative path): the same file then counts as the same.
fn same_peer(from: &Endpoint, peer: &Endpoint) -> bool {
    if from == peer {
        return true;
    }
    match (from, peer) {
        (Endpoint::Unix(Some(a)), Endpoint::Unix(Some(b))) => {
            matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(a), Ok(b)) if a == b)
        }
        _ => false,
    }
}
