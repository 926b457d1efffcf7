//! The client's calls one at a time, for a program that decides between
//! them: `sockref check` connects, writes, half-closes and reads as a test
//! needs, and judges what comes back. The calls are the client's own
//! (`link::connect`, the datagram socket of `datagram`), reported with the
//! same [`Event`]s, so `sockref check --trace` reads like `sockref client
//! --trace`.
//!
//! What it does not do: decide. A read that times out, meets end of file or
//! a reset is an observation ([`End`]), not an error; only a call that could
//! not be made at all (`connect()` refused, `sendto()` failed) is an
//! [`Error`].

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::datagram::{self, Datagrams};
use super::{link, ClientOptions, CONN};
use crate::error::Error;
use crate::net::{self, Address, Outcome};
use crate::trace::{emit, io_call, io_event, Event, Observer, Proto};
use crate::transport::Stream;

/// How a run of reads ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// `read()` returned 0: the server closed (or half-closed) its side.
    Eof,
    /// `read()` failed with ECONNRESET: the server's kernel sent RST.
    Reset,
    /// Nothing more arrived within the wait.
    TimedOut,
    /// As many bytes as were asked for arrived; the stream is still open.
    Enough,
    /// Any other failure, as the OS words it.
    Failed(String),
}

/// What a run of reads got, and how it ended.
#[derive(Debug, Clone)]
pub struct Received {
    /// The bytes, in order.
    pub data: Vec<u8>,
    /// Why reading stopped.
    pub end: End,
}

/// A connected stream socket (TCP or Unix-domain) whose calls are made one
/// at a time and reported to the observer.
pub struct StreamProbe<'a> {
    stream: Stream,
    peer: String,
    observer: Option<&'a dyn Observer>,
    started: Instant,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl<'a> StreamProbe<'a> {
    /// `socket()` + `connect()` to `addr` (`host:port` or `unix:PATH`),
    /// with `SO_RCVTIMEO` / `SO_SNDTIMEO` set to `timeout`.
    pub fn connect(
        addr: &str,
        timeout: Duration,
        observer: Option<&'a dyn Observer>,
    ) -> Result<StreamProbe<'a>, Error> {
        let stream = match Address::parse(addr) {
            Ok(Address::Unix(path)) => link::connect_unix(&path)?,
            _ => link::connect(&net::resolve(addr)?, Some(timeout))?,
        };
        let peer = stream.peer().map_err(|e| Error::new("getpeername()", None, e))?;
        let local = stream.local().map_err(|e| Error::new("getsockname()", None, e))?;
        emit!(observer, Event::Connect { peer: &peer, local: &local });
        let peer = peer.to_string();
        let set = |call, r: io::Result<()>| r.map_err(|e| Error::new(call, Some(peer.clone()), e));
        set("setsockopt(SO_RCVTIMEO)", stream.set_read_timeout(Some(timeout)))?;
        set("setsockopt(SO_SNDTIMEO)", stream.set_write_timeout(Some(timeout)))?;
        Ok(StreamProbe {
            stream,
            peer,
            observer,
            started: Instant::now(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        })
    }

    fn fail(&self, call: &'static str, e: io::Error) -> Error {
        emit!(self.observer, Event::Error { conn: CONN, call, error: &e });
        Error::new(call, Some(self.peer.clone()), e)
    }

    /// `write()` in a loop until all of `buf` is sent.
    pub fn write_all(&self, mut buf: &[u8]) -> Result<(), Error> {
        while !buf.is_empty() {
            let n = io_call(|| (&self.stream).write(buf)).map_err(|e| self.fail("write()", e))?;
            emit!(self.observer, io_event(CONN, true, &buf[..n]));
            if n == 0 {
                return Err(self.fail("write()", io::ErrorKind::WriteZero.into()));
            }
            self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
            buf = &buf[n..];
        }
        Ok(())
    }

    /// `shutdown(fd, SHUT_WR)`: the server's next `read()` returns 0.
    pub fn shutdown_write(&self) -> Result<(), Error> {
        emit!(self.observer, Event::ShutdownWrite { conn: CONN });
        self.stream.shutdown(Shutdown::Write).map_err(|e| self.fail("shutdown()", e))
    }

    /// `setsockopt(SO_SNDTIMEO)`: how long one `write()` may block.
    pub fn set_write_timeout(&self, t: Duration) -> Result<(), Error> {
        self.stream.set_write_timeout(Some(t)).map_err(|e| self.fail("setsockopt(SO_SNDTIMEO)", e))
    }

    /// `read()` until `want` bytes have arrived, the server closes or resets,
    /// or `wait` has passed since the first call. `usize::MAX` reads to the end.
    pub fn read_until(&self, want: usize, wait: Duration) -> Received {
        let until = Instant::now() + wait;
        let mut data = Vec::new();
        let mut buf = vec![0u8; crate::limits::LARGE_READ_BUF];
        let end = loop {
            if data.len() >= want {
                break End::Enough;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break End::TimedOut;
            }
            if let Err(e) = self.stream.set_read_timeout(Some(left)) {
                break End::Failed(e.to_string());
            }
            let room = buf.len().min(want - data.len());
            match io_call(|| (&self.stream).read(&mut buf[..room])) {
                Ok(n) => {
                    emit!(self.observer, io_event(CONN, false, &buf[..n]));
                    self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    if n == 0 {
                        break End::Eof;
                    }
                    data.extend_from_slice(&buf[..n]);
                }
                Err(e) => {
                    let outcome = Outcome::of(&e);
                    if outcome != Outcome::TimedOut {
                        emit!(
                            self.observer,
                            Event::Error { conn: CONN, call: "read()", error: &e }
                        );
                    }
                    break match (outcome, e.kind()) {
                        (Outcome::TimedOut, _) => End::TimedOut,
                        (_, io::ErrorKind::ConnectionReset) => End::Reset,
                        _ => End::Failed(e.to_string()),
                    };
                }
            }
        };
        Received { data, end }
    }

    /// `read()` to the end of the stream (or `wait`).
    pub fn read_to_end(&self, wait: Duration) -> Received {
        self.read_until(usize::MAX, wait)
    }
}

impl Drop for StreamProbe<'_> {
    /// `close()`.
    fn drop(&mut self) {
        let (bytes_in, bytes_out) =
            (self.bytes_in.load(Ordering::Relaxed), self.bytes_out.load(Ordering::Relaxed));
        emit!(
            self.observer,
            Event::Close { conn: CONN, duration: self.started.elapsed(), bytes_in, bytes_out }
        );
    }
}

/// A datagram socket (UDP, or Unix-domain bound at a temporary path of its
/// own) that sends to one server, one call at a time.
pub struct DatagramProbe<'a> {
    socket: Datagrams<'a>,
}

impl<'a> DatagramProbe<'a> {
    /// `socket()` + `bind()` (port 0, or a temporary path for `unix:PATH`),
    /// ready to `sendto()` `addr`.
    pub fn open(
        addr: &str,
        timeout: Duration,
        observer: Option<&'a dyn Observer>,
    ) -> Result<DatagramProbe<'a>, Error> {
        let opts = ClientOptions {
            addr: addr.to_string(),
            proto: Proto::Udp,
            timeout: Some(timeout),
            ..ClientOptions::default()
        };
        let socket = match Address::parse(addr) {
            Ok(Address::Unix(path)) => datagram::open_unix(&opts, &path, observer)?,
            _ => datagram::open_udp(&opts, net::resolve(addr)?[0], observer)?,
        };
        Ok(DatagramProbe { socket })
    }

    /// One `sendto()`.
    pub fn send(&mut self, request: &[u8]) -> Result<(), Error> {
        self.socket.send(request).map(|_| ())
    }

    /// `recvfrom()` the server's next datagram, waiting at most `wait`;
    /// `None` if none came (datagrams from others are ignored).
    pub fn recv(&mut self, wait: Duration) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.socket.recv(Some(wait))?.map(|n| self.socket.received(n).to_vec()))
    }
}
