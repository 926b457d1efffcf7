//! The bench's sockets, and every wait on them bounded: a stream connected
//! with its timeouts set, an echo read back and checked, and a datagram
//! socket tied to the server. Each works for both families, TCP/UDP and
//! Unix-domain, through [`transport`](crate::transport).

use std::io::{self, Read};
use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::sync::Shared;
use super::tally::{shown, ThreadResult};
use crate::error::Error;
use crate::net::Endpoint;
use crate::transport::{Datagram, SocketFile, Stream};

/// How long a call may wait now: `timeout`, but not past `end`; an error
/// (counted as `timeout`) once `end` has passed.
pub(super) fn wait_left(timeout: Duration, end: Option<Instant>) -> io::Result<Duration> {
    let Some(end) = end else {
        return Ok(timeout);
    };
    let left = end.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::from(io::ErrorKind::TimedOut));
    }
    Ok(left.min(timeout))
}

/// Shortens `s`'s read and write timeouts when `end` is less than one
/// timeout away, so that no call on it waits past `end`. Far from `end`
/// (the whole measured time of a run) it costs no system call.
pub(super) fn bound(s: &Stream, timeout: Duration, end: Option<Instant>) -> io::Result<()> {
    let left = wait_left(timeout, end)?;
    if left < timeout {
        s.set_read_timeout(Some(left))?;
        s.set_write_timeout(Some(left))?;
    }
    Ok(())
}

fn no_address() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "no server address")
}

/// Connects to the server within the time left before `end`.
///
/// A Unix-domain `connect()` cannot be given a timeout with std alone: it
/// returns at once unless the server's backlog is full, and then waits
/// until the server accepts (or dies).
pub(super) fn connect(shared: &Shared, end: Option<Instant>) -> io::Result<Stream> {
    let wait = wait_left(shared.opts.timeout, end)?;
    let s = match &shared.addr {
        Endpoint::Inet(a) => Stream::connect_inet(*a, Some(wait))?,
        Endpoint::Unix(Some(path)) => Stream::connect_unix(path)?,
        Endpoint::Unix(None) => return Err(no_address()),
    };
    // Nagle would hold back a small write while the previous reply's ACK is
    // outstanding; a latency benchmark must not measure that.
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(wait))?;
    s.set_write_timeout(Some(wait))?;
    Ok(s)
}

/// Reads exactly `expect.len()` bytes into `buf` and checks they equal
/// `expect`. EOF before that is `closed`, a difference is `mismatch`; no
/// read waits past `end`.
pub(super) fn read_echo(
    s: &mut Stream,
    buf: &mut [u8],
    expect: &[u8],
    timeout: Duration,
    end: Option<Instant>,
) -> io::Result<()> {
    let buf = &mut buf[..expect.len()];
    let mut got = 0;
    while got < buf.len() {
        got += read_some(s, &mut buf[got..], timeout, end)?;
    }
    if buf != expect {
        // Said in full: a server of another kind (HTTP, say) fails every
        // request this way, and its first bytes tell what it is.
        let hint = if buf.starts_with(b"HTTP/") { "; an HTTP server? use --mode http" } else { "" };
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the reply is not the echo of the request: sent {} bytes, got {}{hint}",
                expect.len(),
                shown(buf)
            ),
        ));
    }
    Ok(())
}

/// One `read()` into `buf`, retried if interrupted, none of it waiting past
/// `end` (see [`bound`]). End of file is an error (`closed`): every caller is
/// still waiting for bytes the server owes it.
pub(super) fn read_some(
    s: &mut Stream,
    buf: &mut [u8],
    timeout: Duration,
    end: Option<Instant>,
) -> io::Result<usize> {
    loop {
        bound(s, timeout, end)?;
        match s.read(buf) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether the server still holds `s` open: a non-blocking look finds
/// neither EOF nor an error. TCP peeks; std has no stable `peek` on a
/// Unix stream, so it reads, which is as good on a connection about to be
/// closed.
pub(super) fn still_open(s: &Stream) -> bool {
    let mut b = [0u8; 1];
    let looked = match s {
        Stream::Tcp(t) => t.set_nonblocking(true).and_then(|()| t.peek(&mut b)),
        Stream::Unix(u) => u.set_nonblocking(true).and_then(|()| (&*u).read(&mut b)),
    };
    matches!(looked, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Numbers the Unix-domain client sockets of this process, so that
/// concurrent runs (tests run several at once) never share a path.
static CLIENT_SOCKETS: AtomicU64 = AtomicU64::new(0);

/// One client thread's datagram socket, `connect()`ed to the server so that
/// the kernel drops datagrams from anyone else. A Unix-domain one is bound
/// to a path of its own first: a server cannot reply to an unnamed socket.
/// That file is removed when this is dropped, on every way out.
pub(super) struct ClientDatagram {
    sock: Datagram,
    file: Option<SocketFile>,
}

impl ClientDatagram {
    /// Binds, connects to the server and sets the read/write timeout.
    pub(super) fn open(shared: &Shared) -> io::Result<ClientDatagram> {
        let d = match &shared.addr {
            Endpoint::Inet(a) => ClientDatagram::udp(*a)?,
            Endpoint::Unix(Some(server)) => ClientDatagram::unix(server)?,
            Endpoint::Unix(None) => return Err(no_address()),
        };
        d.sock.set_read_timeout(Some(shared.opts.timeout))?;
        d.sock.set_write_timeout(Some(shared.opts.timeout))?;
        Ok(d)
    }

    fn udp(server: SocketAddr) -> io::Result<ClientDatagram> {
        let local: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let s = UdpSocket::bind(local)?;
        s.connect(server)?;
        Ok(ClientDatagram { sock: Datagram::Udp(s), file: None })
    }

    fn unix(server: &Path) -> io::Result<ClientDatagram> {
        let n = CLIENT_SOCKETS.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("sockref-bench-{}-{n}.sock", std::process::id()));
        // Error::into_io keeps the OS error number (EMFILE is counted apart).
        let sock = Datagram::bind_unix(&path).map_err(Error::into_io)?;
        // From here the file is ours, and dropping `d` removes it.
        let d = ClientDatagram { sock, file: Some(SocketFile::new(&path)) };
        match &d.sock {
            Datagram::Unix(s) => s.connect(server)?,
            Datagram::Udp(_) => return Err(no_address()),
        }
        Ok(d)
    }

    /// `send()` to the server.
    pub(super) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.sock {
            Datagram::Udp(s) => s.send(buf),
            Datagram::Unix(s) => s.send(buf),
        }
    }

    /// `recv()` from the server.
    pub(super) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.sock {
            Datagram::Udp(s) => s.recv(buf),
            Datagram::Unix(s) => s.recv(buf),
        }
    }

    /// `setsockopt(SO_RCVTIMEO)`.
    pub(super) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(t)
    }

    /// `fcntl(O_NONBLOCK)`.
    pub(super) fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.sock.set_nonblocking(on)
    }
}

impl Drop for ClientDatagram {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            f.remove();
        }
    }
}

/// Lockstep rounds (pingpong, websocket): `send` writes message `seq` on
/// every connection the request budget allows, then `answer` reads and
/// checks each answer; a connection that fails is counted and dropped from
/// the round. Both return the bytes they moved on the wire; with `wire`,
/// those of the rounds whose every message came back are tallied (so that
/// out and in cover the same messages).
///
/// So with more connections than threads, a latency includes the time the
/// thread spends on the round's other answers (closed loop, in lockstep).
/// When the run stops, the round is abandoned where it is: messages not
/// yet read back are neither counted nor failed.
pub(super) fn lockstep<C>(
    conns: &mut Vec<C>,
    shared: &Shared,
    r: &mut ThreadResult,
    wire: bool,
    mut send: impl FnMut(&mut C, u64) -> io::Result<u64>,
    mut answer: impl FnMut(&mut C, u64) -> io::Result<u64>,
) {
    let mut sent_at = vec![Instant::now(); conns.len()];
    let mut ok = vec![true; conns.len()];
    let mut seq = 0u64;
    while !conns.is_empty() {
        let now = Instant::now();
        let n = shared.take(conns.len() as u64, now) as usize;
        if n == 0 {
            break;
        }
        let measured = r.measuring(shared.measuring(now));
        let mut wire_out = 0;
        for (i, c) in conns[..n].iter_mut().enumerate() {
            if shared.stopping() {
                return;
            }
            sent_at[i] = Instant::now();
            ok[i] = match send(c, seq + i as u64) {
                Ok(bytes) => {
                    wire_out += bytes;
                    true
                }
                Err(e) => {
                    r.error(&e, measured, shared);
                    false
                }
            };
        }
        let mut done = 0;
        let mut wire_in = 0;
        for (i, c) in conns[..n].iter_mut().enumerate() {
            if !ok[i] {
                continue;
            }
            if shared.stopping() {
                shared.done.fetch_add(done, Ordering::Relaxed);
                return;
            }
            match answer(c, seq + i as u64) {
                Ok(bytes) => {
                    if measured {
                        r.hist.record(sent_at[i].elapsed().as_nanos() as u64);
                        r.requests += 1;
                        wire_in += bytes;
                        done += 1;
                    }
                }
                Err(e) => {
                    r.error(&e, measured, shared);
                    ok[i] = false;
                }
            }
        }
        if wire && measured && done as usize == n {
            r.wire_out += wire_out;
            r.wire_in += wire_in;
            r.wire_msgs += done;
        }
        seq += n as u64;
        // One shared counter update per round, not per message.
        shared.done.fetch_add(done, Ordering::Relaxed);
        // `ok` and `sent_at` are written afresh each round before they are
        // read, so they need only stay at least as long as `conns`.
        keep_ok(conns, &ok[..n]);
    }
}

/// Drops the connections that failed in a lockstep round (pingpong, http):
/// those whose `ok` is false. Those past the end of `ok` were not in the
/// round and stay.
pub(super) fn keep_ok<T>(conns: &mut Vec<T>, ok: &[bool]) {
    let mut ok = ok.iter();
    conns.retain(|_| ok.next().copied().unwrap_or(true));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::BenchOptions;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("sockref-bench-test-{}-{name}.sock", std::process::id()))
    }

    #[test]
    fn a_unix_client_socket_file_is_removed_when_dropped() -> io::Result<()> {
        let server_path = temp("drop");
        let _ = std::fs::remove_file(&server_path);
        let server = std::os::unix::net::UnixDatagram::bind(&server_path)?;
        let d = ClientDatagram::unix(&server_path)?;
        let path = match d.sock.local()? {
            Endpoint::Unix(Some(p)) => p,
            other => panic!("not a named Unix socket: {other}"),
        };
        assert!(path.exists());
        drop(d);
        assert!(!path.exists());
        drop(server);
        std::fs::remove_file(&server_path)
    }

    #[test]
    fn a_failed_connect_leaves_no_socket_file() {
        // Nothing is bound there: connect() fails after the bind.
        let server = temp("none");
        let shared = Shared::new(&BenchOptions::default(), Endpoint::Unix(Some(server)));
        let before = CLIENT_SOCKETS.load(Ordering::Relaxed);
        assert!(ClientDatagram::open(&shared).is_err());
        let after = CLIENT_SOCKETS.load(Ordering::Relaxed);
        for n in before..after {
            let p =
                std::env::temp_dir().join(format!("sockref-bench-{}-{n}.sock", std::process::id()));
            assert!(!p.exists(), "{}", p.display());
        }
    }
}
