//! One accepted TCP connection, as a handler sees it.
//!
//! [`Conn`] is what a service reads from and writes to. It is a thin layer
//! over `&TcpStream` that does three things the C loop would do by hand:
//! reports each `read()`/`write()` to the trace, keeps the connection's byte
//! counts, and enforces the per-connection time limits (idle timeout and
//! whole-connection deadline), turning an expired timer into a `TimedOut`
//! error that says which limit ran out.
//!
//! What it does not do: buffer. Every `read` is one system call and every
//! `write` one, so the trace shows exactly what the kernel saw. (On Linux std
//! makes them as `recvfrom(fd, buf, len, 0, NULL, NULL)` and
//! `sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0)`: the same as C's `read()`
//! and `write()` on a connected socket, except that writing to a closed peer
//! returns EPIPE instead of raising SIGPIPE.)

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::limits::{LARGE_READ_BUF, SMALL_READ_BUF};
use crate::trace::{Event, Observer};

/// An accepted connection being served by one worker.
///
/// Implements [`Read`] and [`Write`]; use `read`, `write`, `write_all` as you
/// would `read(2)` and `write(2)` in C. Errors carry the failing call's reason;
/// returning one from a handler just closes this connection.
pub struct Conn<'a> {
    stream: &'a TcpStream,
    id: u64,
    peer: SocketAddr,
    worker: usize,
    observer: Option<&'a dyn Observer>,
    idle: Option<Duration>,
    deadline: Option<(Instant, Duration)>,
    started: Instant,
    bytes_in: u64,
    bytes_out: u64,
    peer_closed: bool,
    write_shut: bool,
    /// While draining after the reply: when the drain gives up.
    drain_until: Option<Instant>,
    /// Set once a failed call was reported, so the server does not report
    /// the same failure again when the handler passes it up with `?`.
    error_traced: Cell<bool>,
}

impl<'a> Conn<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        stream: &'a TcpStream,
        id: u64,
        peer: SocketAddr,
        worker: usize,
        observer: Option<&'a dyn Observer>,
        idle: Option<Duration>,
        max_conn_time: Option<Duration>,
        started: Instant,
    ) -> Self {
        Conn {
            stream,
            id,
            peer,
            worker,
            observer,
            idle,
            // A limit too large to add to the clock is no limit.
            deadline: max_conn_time.and_then(|t| started.checked_add(t).map(|at| (at, t))),
            drain_until: None,
            started,
            bytes_in: 0,
            bytes_out: 0,
            peer_closed: false,
            write_shut: false,
            error_traced: Cell::new(false),
        }
    }

    /// Connection number (1 for the first accepted, as in the trace).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client's address, as `accept()` returned it.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Index of the worker thread serving this connection.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Bytes read so far.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }

    /// Bytes written so far.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out
    }

    /// True once a `read()` returned 0: the client sent FIN (closed or
    /// half-closed) and nothing more will arrive.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The underlying socket, for options such as `set_nodelay`. Reads and
    /// writes made on it directly are neither traced nor counted.
    pub fn stream(&self) -> &TcpStream {
        self.stream
    }

    /// `shutdown(fd, SHUT_WR)`: send FIN after what was written, keep reading.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if self.write_shut {
            return Ok(());
        }
        self.write_shut = true;
        self.emit(&Event::ShutdownWrite { conn: self.id });
        self.stream
            .shutdown(Shutdown::Write)
            .map_err(|e| self.fail("shutdown()", e))
    }

    /// Reads until end of file, calling `f` with each chunk as it arrives.
    ///
    /// Reads go first into a 1 KiB stack buffer, so an idle or chatty
    /// connection touches one page; once a read fills it (a bulk sender),
    /// a 16 KiB heap buffer takes over for the rest of the connection.
    pub fn for_each_chunk<F>(&mut self, mut f: F) -> io::Result<()>
    where
        F: FnMut(&mut Self, &[u8]) -> io::Result<()>,
    {
        let mut small = [0u8; SMALL_READ_BUF];
        loop {
            let n = self.read(&mut small)?;
            if n == 0 {
                return Ok(());
            }
            f(self, &small[..n])?;
            if n == small.len() {
                break;
            }
        }
        let mut large = vec![0u8; LARGE_READ_BUF];
        loop {
            let n = self.read(&mut large)?;
            if n == 0 {
                return Ok(());
            }
            f(self, &large[..n])?;
        }
    }

    fn emit(&self, event: &Event<'_>) {
        if let Some(obs) = self.observer {
            obs.event(event);
        }
    }

    /// Reports a failed call and turns a socket timeout (which Unix reports
    /// as EAGAIN) into a `TimedOut` error naming the limit that expired.
    fn fail(&self, call: &'static str, e: io::Error) -> io::Error {
        let e = if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            self.timeout_error()
        } else {
            e
        };
        self.error_traced.set(true);
        self.emit(&Event::Error {
            conn: self.id,
            call,
            error: &e,
        });
        e
    }

    /// True if a call on this connection failed and was reported: an error
    /// the handler returns after that is most likely the same one.
    pub(crate) fn error_traced(&self) -> bool {
        self.error_traced.get()
    }

    fn timeout_error(&self) -> io::Error {
        if self
            .drain_until
            .is_some_and(|until| Instant::now() >= until)
        {
            return io::Error::new(io::ErrorKind::TimedOut, "drain time after the reply ended");
        }
        let msg = match (self.deadline, self.idle) {
            (Some((at, total)), _) if Instant::now() >= at => {
                format!("connection time limit reached ({}s)", secs(total))
            }
            (_, Some(idle)) => format!("timed out after {}s", secs(idle)),
            _ => "timed out".to_string(),
        };
        io::Error::new(io::ErrorKind::TimedOut, msg)
    }

    /// With a whole-connection deadline (or while draining), each call may
    /// wait only for what is left of it, or the idle timeout if shorter. One
    /// `setsockopt()` per call, paid only when such a limit is set.
    fn arm(&self, call: &'static str, read: bool) -> io::Result<()> {
        let limit = match (self.deadline.map(|(at, _)| at), self.drain_until) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return Ok(()),
        };
        let left = limit.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.fail(call, io::Error::from(io::ErrorKind::TimedOut)));
        }
        let wait = self.idle.map_or(left, |idle| idle.min(left));
        let set = if read {
            self.stream.set_read_timeout(Some(wait))
        } else {
            self.stream.set_write_timeout(Some(wait))
        };
        set.map_err(|e| self.fail("setsockopt()", e))
    }

    /// The one place a system call on the connection is made: retries
    /// EINTR as the C loop would, and reports any other failure.
    fn syscall(
        &mut self,
        call: &'static str,
        read: bool,
        mut op: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.arm(call, read)?;
        loop {
            match op(self.stream) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.fail(call, e)),
                Ok(n) => return Ok(n),
            }
        }
    }

    /// After a service is done while the client may still be sending: send
    /// FIN, then read and discard (bounded in time and bytes) until the
    /// client's FIN. Closing with unread input would make the kernel send a
    /// reset, which can destroy the reply before the client reads it.
    pub(crate) fn linger(&mut self, timeout: Duration, max_bytes: usize) {
        if self.peer_closed {
            return;
        }
        if self.shutdown_write().is_err() {
            return;
        }
        self.drain_until = Some(
            Instant::now()
                .checked_add(timeout)
                .unwrap_or_else(Instant::now),
        );
        let mut scratch = [0u8; SMALL_READ_BUF];
        let mut drained = 0usize;
        while drained <= max_bytes {
            match self.read(&mut scratch) {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    }

    pub(crate) fn finish(&self) -> (Duration, u64, u64) {
        (self.started.elapsed(), self.bytes_in, self.bytes_out)
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", d.as_secs())
    } else {
        format!("{s:.3}")
    }
}

impl Read for Conn<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.syscall("read()", true, |mut s| s.read(buf))?;
        self.bytes_in += n as u64;
        if n == 0 && !buf.is_empty() {
            self.peer_closed = true;
        }
        self.emit(&Event::Read {
            conn: self.id,
            bytes: n,
        });
        Ok(n)
    }
}

impl Write for Conn<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.syscall("write()", false, |mut s| s.write(buf))?;
        self.bytes_out += n as u64;
        self.emit(&Event::Write {
            conn: self.id,
            bytes: n,
        });
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
