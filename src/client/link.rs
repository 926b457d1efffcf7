//! `socket()` + `connect()`, and the connected stream the client then
//! uses from two threads: [`Link`] reports every call and counts the bytes.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{print, CONN};
use crate::error::Error;
use crate::limits::LARGE_READ_BUF;
use crate::net::{timeout_error, Outcome};
use crate::trace::{emit, io_call, io_event, Event, Observer};
use crate::transport::Stream;

/// `socket()` + `connect()`, trying each resolved address in turn as
/// `TcpStream::connect` does, but with the timeout when one is set.
pub(super) fn connect(addrs: &[SocketAddr], timeout: Option<Duration>) -> Result<Stream, Error> {
    let mut last = None;
    for addr in addrs {
        match Stream::connect_inet(*addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                let e =
                    if Outcome::of(&e) == Outcome::TimedOut { timeout_error(timeout) } else { e };
                last = Some(Error::new("connect()", Some(addr.to_string()), e));
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::new("connect()", None, io::ErrorKind::NotFound.into())))
}

/// `socket(PF_LOCAL, SOCK_STREAM)` + `connect(PATH)`. No timeout: std has
/// no `connect_timeout` for Unix-domain sockets, and the kernel answers at
/// once unless the server's backlog is full.
pub(super) fn connect_unix(path: &Path) -> Result<Stream, Error> {
    Stream::connect_unix(path)
        .map_err(|e| Error::new("connect()", Some(path.display().to_string()), e))
}

/// The connected socket, shared by the thread that sends and the one that
/// receives: reports each call and counts the bytes.
pub(super) struct Link<'a> {
    pub(super) stream: &'a Stream,
    /// The server, as error messages name it: `127.0.0.1:4000`, or a path.
    pub(super) peer: String,
    pub(super) timeout: Option<Duration>,
    pub(super) observer: Option<&'a dyn Observer>,
    pub(super) bytes_in: AtomicU64,
    pub(super) bytes_out: AtomicU64,
    /// Still sending (stdin not at its end): the server may rightly stay
    /// silent that long, so a read timeout then is not a failure.
    pub(super) sending: AtomicBool,
    pub(super) started: Instant,
    /// When data last went out, in milliseconds since `started`.
    pub(super) last_sent_ms: AtomicU64,
}

impl Link<'_> {
    /// Reports a failed call and names it in the error the user sees.
    pub(super) fn fail(&self, call: &'static str, e: io::Error) -> Error {
        let e = if Outcome::of(&e) == Outcome::TimedOut { timeout_error(self.timeout) } else { e };
        emit!(self.observer, Event::Error { conn: CONN, call, error: &e });
        Error::new(call, Some(self.peer.clone()), e)
    }

    /// `write()` in a loop until all of `buf` is sent (`write_all`, traced
    /// call by call).
    pub(super) fn write_all(&self, mut buf: &[u8]) -> Result<(), Error> {
        while !buf.is_empty() {
            let n = io_call(|| (&*self.stream).write(buf)).map_err(|e| self.fail("write()", e))?;
            emit!(self.observer, io_event(CONN, true, &buf[..n]));
            if n == 0 {
                return Err(self.fail("write()", io::ErrorKind::WriteZero.into()));
            }
            self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
            self.last_sent_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
            buf = &buf[n..];
        }
        Ok(())
    }

    /// `shutdown(fd, SHUT_WR)`: nothing more to send; the server sees end of
    /// file and can finish, while the replies keep coming.
    pub(super) fn shutdown_write(&self) -> Result<(), Error> {
        self.sending.store(false, Ordering::Release);
        self.last_sent_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        emit!(self.observer, Event::ShutdownWrite { conn: CONN });
        self.stream.shutdown(Shutdown::Write).map_err(|e| self.fail("shutdown()", e))
    }

    /// How long ago data last went out (or sending stopped).
    fn since_sent(&self) -> Duration {
        self.started
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last_sent_ms.load(Ordering::Relaxed)))
    }

    /// A read timed out: a failure only if nothing was sent for a whole
    /// timeout either, i.e. the connection is idle both ways.
    fn idle(&self) -> bool {
        if self.sending.load(Ordering::Acquire) {
            return false;
        }
        let since = self.since_sent();
        self.timeout.map_or(true, |t| since >= t)
    }

    /// What is left of the idle timeout once sending has stopped (`None`
    /// while still sending or with no timeout: keep the full timeout).
    fn idle_left(&self) -> Option<Duration> {
        if self.sending.load(Ordering::Acquire) {
            return self.timeout;
        }
        let since = self.since_sent();
        self.timeout.map(|t| t.saturating_sub(since).max(Duration::from_millis(1)))
    }

    /// `read()` until 0, writing each chunk to `output`. Returns `Ok(true)`
    /// at the server's end of file, `Ok(false)` when `output` closed first.
    pub(super) fn copy_replies<W: Write>(&self, mut output: W) -> Result<bool, Error> {
        let mut buf = vec![0u8; LARGE_READ_BUF];
        loop {
            let n = match io_call(|| (&*self.stream).read(&mut buf)) {
                Ok(n) => n,
                Err(e) if Outcome::of(&e) == Outcome::TimedOut && !self.idle() => {
                    // Wait only for what is left of the idle timeout, so a
                    // silent server fails after `--timeout`, not nearly two.
                    if let Some(left) = self.idle_left() {
                        let _ = self.stream.set_read_timeout(Some(left));
                    }
                    continue;
                }
                Err(e) => return Err(self.fail("read()", e)),
            };
            emit!(self.observer, io_event(CONN, false, &buf[..n]));
            self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
            if n == 0 {
                return Ok(true);
            }
            if !print(&mut output, &buf[..n])? {
                return Ok(false);
            }
        }
    }
}
