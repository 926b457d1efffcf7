//! One accepted stream connection (TCP or Unix-domain), as a handler sees it.
//!
//! [`Conn`] is what a service reads from and writes to. It is a thin layer
//! over the accepted socket that does three things the C loop would do by
//! hand: reports each `read()`/`write()` to the trace, keeps the
//! connection's byte counts, and makes each call under the per-connection
//! time limits. The call itself, with its timers (idle timeout, minimum
//! rate, whole-connection and drain deadlines, and an expired timer
//! turned into a `TimedOut` error naming the limit), is
//! `guard::deadline`'s `Deadlines::call`.
//!
//! What it does not do: buffer. Every `read` is one system call and every
//! `write` one, so the trace shows exactly what the kernel saw. (On Linux std
//! makes them as `recvfrom(fd, buf, len, 0, NULL, NULL)` and
//! `sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0)`: the same as C's `read()`
//! and `write()` on a connected socket, except that writing to a closed peer
//! returns EPIPE instead of raising SIGPIPE.)

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Instant;

use super::state::Session;
use crate::guard::deadline::Deadlines;
use crate::limits::{Limits, LARGE_READ_BUF, SMALL_READ_BUF};
use crate::net::{Endpoint, Outcome};
use crate::trace::{emit, io_event, Event, Observer};
use crate::transport::Stream;

/// An accepted connection being served by one worker.
///
/// Implements [`Read`] and [`Write`]; use `read`, `write`, `write_all` as you
/// would `read(2)` and `write(2)` in C. Errors carry the failing call's reason;
/// returning one from a handler just closes this connection.
pub struct Conn<'a> {
    stream: &'a Stream,
    session: &'a Session,
    peer: Endpoint,
    worker: usize,
    observer: Option<&'a dyn Observer>,
    limits: &'a Limits,
    deadlines: Deadlines,
    peer_closed: bool,
    input_complete: bool,
    write_shut: bool,
    /// Set once a failed call was reported, so the server does not report
    /// the same failure again when the handler passes it up with `?`.
    error_traced: Cell<bool>,
}

impl<'a> Conn<'a> {
    pub(crate) fn new(
        stream: &'a Stream,
        session: &'a Session,
        peer: Endpoint,
        worker: usize,
        observer: Option<&'a dyn Observer>,
        limits: &'a Limits,
    ) -> Self {
        Conn {
            stream,
            session,
            peer,
            worker,
            observer,
            limits,
            deadlines: Deadlines::new(limits, session.started),
            peer_closed: false,
            input_complete: false,
            write_shut: false,
            error_traced: Cell::new(false),
        }
    }

    /// Connection number (1 for the first accepted, as in the trace).
    pub fn id(&self) -> u64 {
        self.session.id
    }

    /// The client's address, as `accept()` returned it (for a Unix-domain
    /// client, usually unnamed).
    pub fn peer(&self) -> &Endpoint {
        &self.peer
    }

    /// Index of the worker thread serving this connection.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Bytes read so far.
    pub fn bytes_in(&self) -> u64 {
        self.session.bytes_in.get()
    }

    /// Bytes written so far.
    pub fn bytes_out(&self) -> u64 {
        self.session.bytes_out.get()
    }

    /// True once a `read()` returned 0: the client sent FIN (closed or
    /// half-closed) and nothing more will arrive.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The server's limits (`--idle-timeout`, `--header-timeout`, ...), for
    /// a service that applies its own.
    pub fn limits(&self) -> &Limits {
        self.limits
    }

    /// Sets a deadline of the service's own on every later `read()` and
    /// `write()`: none waits past `at`, and one that would fails with
    /// `TimedOut` and the message `what` (which the trace shows). `None`
    /// clears it. The server's own limits keep applying too.
    pub fn set_deadline(&mut self, at: Option<Instant>, what: &'static str) {
        self.deadlines.service_deadline(at.map(|at| (at, what)));
    }

    /// Sets the minimum rate at which the client must send while the
    /// worker waits in `read()`, in bytes per second (0 = none), as
    /// `--min-rate-in` does for the whole connection: for a service that
    /// knows bulk input is due (a request body) and wants a trickle cut.
    /// Starts with a full credit of one idle timeout; needs one.
    pub fn set_min_rate_in(&mut self, rate: u32) {
        self.deadlines.input_floor(rate);
    }

    /// Says that the client has promised to send nothing more (an HTTP
    /// request with `Connection: close`, whose body was read whole, and
    /// nothing after it): the server then closes as soon as the service
    /// returns, without the drain that waits for the client's FIN. Only
    /// for such a promise: input that arrives anyway would turn the close
    /// into a reset.
    pub fn input_complete(&mut self) {
        self.input_complete = true;
    }

    /// True once the server has begun to stop. A service that holds its
    /// connection open for long (a chat room) looks at it when its input
    /// is cut (`read()` returns 0), to tell the stop from a client that
    /// left, and say goodbye (WebSocket: close 1001, RFC 6455 §7.4.1).
    pub fn stopping(&self) -> bool {
        self.session.stopping()
    }

    /// Counts `n` bytes as written on this connection that did not go
    /// through [`Write`] here: a chat room's fan-out, written into this
    /// member's socket by other members' threads, so that the `close()`
    /// line and the counters show what the client was sent.
    pub(crate) fn count_written(&self, n: u64) {
        let total = &self.session.bytes_out;
        total.set(total.get() + n);
    }

    /// The trace, for a service that writes to another connection's socket
    /// (a chat room's fan-out) and reports those writes itself.
    pub(crate) fn observer(&self) -> Option<&'a dyn Observer> {
        self.observer
    }

    /// The underlying socket, for options such as `set_nodelay`. Reads and
    /// writes made on it directly are neither traced nor counted.
    pub fn stream(&self) -> &Stream {
        self.stream
    }

    /// `shutdown(fd, SHUT_WR)`: send FIN after what was written, keep reading.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if self.write_shut {
            return Ok(());
        }
        self.write_shut = true;
        emit!(self.observer, Event::ShutdownWrite { conn: self.id() });
        self.stream.shutdown(Shutdown::Write).map_err(|e| self.fail("shutdown()", e))
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

    /// Reports a failed call.
    fn fail(&self, call: &'static str, e: io::Error) -> io::Error {
        self.error_traced.set(true);
        emit!(self.observer, Event::Error { conn: self.id(), call, error: &e });
        e
    }

    /// After the service returned `result`: trace an error the handler
    /// made up itself (a failed `read()` or `write()` is already traced),
    /// so the trace always says why the connection is being closed.
    pub(crate) fn ended(&self, result: &io::Result<()>) {
        if let (Err(e), false) = (result, self.error_traced.get()) {
            emit!(self.observer, Event::Error { conn: self.id(), call: "handler", error: e });
        }
    }

    /// Every `read()`/`write()` on the connection goes through here: the
    /// call is made by `Deadlines::call` (`guard/deadline.rs`: arm the
    /// timers, call, retry on EINTR or while a blocked write is judged),
    /// and a failure comes back with the name of the call, to be traced.
    fn syscall(&mut self, write: bool, op: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
        let result = self.deadlines.call(self.stream, write, op);
        result.map_err(|(call, e)| self.fail(call, e))
    }

    /// After a service is done while the client may still be sending: send
    /// FIN, then read and discard (bounded in time and bytes) until the
    /// client's FIN. Closing with unread input would make the kernel send a
    /// reset, which can destroy the reply before the client reads it.
    /// True if the drain ended on a time limit (the client kept sending,
    /// or kept its side open), which the server counts as `timed_out`.
    // Never inlined: its 1 KiB scratch buffer would otherwise sit in the
    // caller's frame, below which every service runs, and push a blocked
    // worker's stack onto one more 4 KiB page (measured: 40 MiB more RSS
    // with 10,000 idle connections).
    #[inline(never)]
    pub(crate) fn linger(&mut self, limits: &Limits) -> bool {
        if self.peer_closed || self.input_complete || self.shutdown_write().is_err() {
            return false;
        }
        self.deadlines.drain(limits.drain_timeout);
        let mut scratch = [0u8; SMALL_READ_BUF];
        let mut drained = 0usize;
        while drained <= limits.drain_bytes {
            match self.read(&mut scratch) {
                Ok(0) => return false,
                Err(e) => return Outcome::of(&e) == Outcome::TimedOut,
                Ok(n) => drained += n,
            }
        }
        false
    }
}

impl Read for Conn<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let stream = self.stream;
        let n = self.syscall(false, || (&*stream).read(buf))?;
        emit!(self.observer, io_event(self.id(), false, &buf[..n]));
        let total = &self.session.bytes_in;
        total.set(total.get() + n as u64);
        if n == 0 && !buf.is_empty() {
            self.peer_closed = true;
        }
        Ok(n)
    }
}

impl Write for Conn<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let stream = self.stream;
        let n = self.syscall(true, || (&*stream).write(buf))?;
        emit!(self.observer, io_event(self.id(), true, &buf[..n]));
        let total = &self.session.bytes_out;
        total.set(total.get() + n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
