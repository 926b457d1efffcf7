//! The textbook client, `sockref client`, in the order of the C program:
//!
//! ```text
//! TCP:  getaddrinfo()                 resolve()          ToSocketAddrs
//!       socket() + connect()          connect()          TcpStream::connect[_timeout]
//!       write() ... shutdown(SHUT_WR) send_message()     Write::write_all, shutdown(Write)
//!       read() ... until 0            copy_replies()     Read::read
//!       close()                       tcp()              drop(stream)
//! UDP:  socket() + bind(port 0)       udp()              UdpSocket::bind
//!       sendto() / recvfrom()         exchange()         send_to / recv_from
//! ```
//!
//! With a message, the client sends it, half-closes and prints the reply
//! until the server closes (UDP: one datagram each way). Without one it is a
//! tiny netcat: stdin goes to the socket, the socket to stdout, and end of
//! stdin becomes `shutdown(SHUT_WR)` (like `nc -N`), so every service works,
//! chargen included. When stdout closes early (`| head`) the client stops
//! quietly.
//!
//! Every socket call is reported to an [`Observer`] with the same
//! [`Event`]s as the server's (connection number 1). Failures come back as
//! an [`Error`] naming the call: `connect() error: 127.0.0.1:4000:
//! Connection refused (os error 111)`.
//!
//! What it does not do: retry, reconnect, or retransmit a lost datagram.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::limits::{LARGE_READ_BUF, MAX_DATAGRAM, UDP_RECV_BUF};
use crate::trace::{Event, Observer, Proto, TraceFormat};

/// The connection number the client's events carry (it has only one).
const CONN: u64 = 1;

/// Everything `sockref client` was told.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Server address, `host:port` (resolved like `getaddrinfo()`).
    pub addr: String,
    /// TCP or UDP.
    pub proto: Proto,
    /// Print every socket call (the command prints it on stderr).
    pub trace: Option<TraceFormat>,
    /// Longest `connect()`, one `write()`, or a wait for the reply may
    /// take. A TCP read waits longer while the client is still sending
    /// (stdin open): the server may rightly be silent until then. `None` =
    /// forever.
    pub timeout: Option<Duration>,
    /// Send this and print the reply; `None` = copy stdin instead.
    pub message: Option<Vec<u8>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            addr: crate::net::DEFAULT_ADDR.to_string(),
            proto: Proto::Tcp,
            trace: None,
            timeout: Some(Duration::from_secs(30)),
            message: None,
        }
    }
}

/// Runs the client: `input` stands for stdin (read only without a message),
/// `output` for stdout (the server's bytes, raw). Returns once the exchange
/// is over; an `output` closed early (`| head`) ends it quietly with `Ok`.
///
/// `input` is read on a thread of its own that is left behind if the server
/// finishes first (a terminal may never reach end of file), hence `'static`.
pub fn run<R, W>(
    opts: &ClientOptions,
    input: R,
    output: W,
    observer: Option<&dyn Observer>,
) -> Result<(), Error>
where
    R: Read + Send + 'static,
    W: Write + Send,
{
    let addrs = resolve(&opts.addr)?;
    match opts.proto {
        Proto::Tcp => tcp(opts, &addrs, input, output, observer),
        Proto::Udp => udp(opts, addrs[0], input, output, observer),
    }
}

/// `getaddrinfo()`: std resolves names through the C library, and parses
/// numeric addresses itself.
fn resolve(addr: &str) -> Result<Vec<SocketAddr>, Error> {
    let failed = |e| Error::new("getaddrinfo()", Some(addr.to_string()), e);
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(failed)?.collect();
    if addrs.is_empty() {
        return Err(failed(io::Error::new(
            io::ErrorKind::NotFound,
            "no address found",
        )));
    }
    Ok(addrs)
}

/// "timed out after 30s": what a socket timeout means, said plainly
/// (Unix reports an expired `SO_RCVTIMEO` as EAGAIN).
fn timeout_error(timeout: Option<Duration>) -> io::Error {
    let msg = match timeout {
        Some(t) => format!("timed out after {}", secs(t)),
        None => "timed out".to_string(),
    };
    io::Error::new(io::ErrorKind::TimedOut, msg)
}

/// `30s`, or `0.250s` for a fraction.
fn secs(t: Duration) -> String {
    if t.subsec_nanos() == 0 {
        format!("{}s", t.as_secs())
    } else {
        format!("{:.3}s", t.as_secs_f64())
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The peer stopped reading or went away: not worth a message when the
/// other direction ended normally (what `nc` does too).
fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

/// `socket()` + `connect()`, trying each resolved address in turn as
/// `TcpStream::connect` does, but with the timeout when one is set.
fn connect(addrs: &[SocketAddr], timeout: Option<Duration>) -> Result<TcpStream, Error> {
    let mut last = None;
    for addr in addrs {
        let tried = match timeout {
            Some(t) => TcpStream::connect_timeout(addr, t),
            None => TcpStream::connect(addr),
        };
        match tried {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                let e = if is_timeout(&e) {
                    timeout_error(timeout)
                } else {
                    e
                };
                last = Some(Error::new("connect()", Some(addr.to_string()), e));
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::new("connect()", None, io::ErrorKind::NotFound.into())))
}

/// The connected socket, shared by the thread that sends and the one that
/// receives: reports each call and counts the bytes.
struct Link<'a> {
    stream: &'a TcpStream,
    peer: SocketAddr,
    timeout: Option<Duration>,
    observer: Option<&'a dyn Observer>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Still sending (stdin not at its end): the server may rightly stay
    /// silent that long, so a read timeout then is not a failure.
    sending: AtomicBool,
    started: Instant,
    /// When data last went out, in milliseconds since `started`.
    last_sent_ms: AtomicU64,
}

impl Link<'_> {
    fn emit(&self, event: &Event<'_>) {
        if let Some(obs) = self.observer {
            obs.event(event);
        }
    }

    /// Reports a failed call and names it in the error the user sees.
    fn fail(&self, call: &'static str, e: io::Error) -> Error {
        let e = if is_timeout(&e) {
            timeout_error(self.timeout)
        } else {
            e
        };
        self.emit(&Event::Error {
            conn: CONN,
            call,
            error: &e,
        });
        Error::new(call, Some(self.peer.to_string()), e)
    }

    /// `write()` in a loop until all of `buf` is sent (`write_all`, traced
    /// call by call).
    fn write_all(&self, mut buf: &[u8]) -> Result<(), Error> {
        while !buf.is_empty() {
            match (&*self.stream).write(buf) {
                Ok(0) => return Err(self.fail("write()", io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                    self.last_sent_ms
                        .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    self.emit(&Event::Write {
                        conn: CONN,
                        bytes: n,
                    });
                    buf = &buf[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail("write()", e)),
            }
        }
        Ok(())
    }

    /// `shutdown(fd, SHUT_WR)`: nothing more to send; the server sees end of
    /// file and can finish, while the replies keep coming.
    fn shutdown_write(&self) -> Result<(), Error> {
        self.sending.store(false, Ordering::Release);
        self.last_sent_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.emit(&Event::ShutdownWrite { conn: CONN });
        self.stream
            .shutdown(Shutdown::Write)
            .map_err(|e| self.fail("shutdown()", e))
    }

    /// A read timed out: a failure only if nothing was sent for a whole
    /// timeout either, i.e. the connection is idle both ways.
    fn idle(&self) -> bool {
        if self.sending.load(Ordering::Acquire) {
            return false;
        }
        let since = self.started.elapsed().saturating_sub(Duration::from_millis(
            self.last_sent_ms.load(Ordering::Relaxed),
        ));
        self.timeout.map_or(true, |t| since >= t)
    }

    /// What is left of the idle timeout once sending has stopped (`None`
    /// while still sending or with no timeout: keep the full timeout).
    fn idle_left(&self) -> Option<Duration> {
        if self.sending.load(Ordering::Acquire) {
            return self.timeout;
        }
        let since = self.started.elapsed().saturating_sub(Duration::from_millis(
            self.last_sent_ms.load(Ordering::Relaxed),
        ));
        self.timeout
            .map(|t| t.saturating_sub(since).max(Duration::from_millis(1)))
    }

    /// `read()` until 0, writing each chunk to `output`. Returns `Ok(true)`
    /// at the server's end of file, `Ok(false)` when `output` closed first.
    fn copy_replies<W: Write>(&self, mut output: W) -> Result<bool, Error> {
        let mut buf = vec![0u8; LARGE_READ_BUF];
        loop {
            let n = match (&*self.stream).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_timeout(&e) && !self.idle() => {
                    // Wait only for what is left of the idle timeout, so a
                    // silent server fails after `--timeout`, not nearly two.
                    if let Some(left) = self.idle_left() {
                        let _ = self.stream.set_read_timeout(Some(left));
                    }
                    continue;
                }
                Err(e) => return Err(self.fail("read()", e)),
            };
            self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
            self.emit(&Event::Read {
                conn: CONN,
                bytes: n,
            });
            if n == 0 {
                return Ok(true);
            }
            match output.write_all(&buf[..n]).and_then(|()| output.flush()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(false),
                Err(e) => return Err(Error::new("write()", Some("stdout".to_string()), e)),
            }
        }
    }
}

/// socket() -> connect() -> write()/read() ... -> close().
fn tcp<R, W>(
    opts: &ClientOptions,
    addrs: &[SocketAddr],
    input: R,
    output: W,
    observer: Option<&dyn Observer>,
) -> Result<(), Error>
where
    R: Read + Send + 'static,
    W: Write + Send,
{
    let stream = connect(addrs, opts.timeout)?;
    let started = Instant::now();
    let peer = stream
        .peer_addr()
        .map_err(|e| Error::new("getpeername()", None, e))?;
    let local = stream
        .local_addr()
        .map_err(|e| Error::new("getsockname()", None, e))?;
    if let Some(obs) = observer {
        obs.event(&Event::Connect { peer, local });
    }
    // SO_RCVTIMEO / SO_SNDTIMEO: a silent server ends the client with a
    // message instead of hanging it.
    let set = |call, r: io::Result<()>| r.map_err(|e| Error::new(call, Some(peer.to_string()), e));
    set(
        "setsockopt(SO_RCVTIMEO)",
        stream.set_read_timeout(opts.timeout),
    )?;
    set(
        "setsockopt(SO_SNDTIMEO)",
        stream.set_write_timeout(opts.timeout),
    )?;
    let link = Link {
        stream: &stream,
        peer,
        timeout: opts.timeout,
        observer,
        bytes_in: AtomicU64::new(0),
        bytes_out: AtomicU64::new(0),
        sending: AtomicBool::new(opts.message.is_none()),
        started,
        last_sent_ms: AtomicU64::new(0),
    };
    let result = match &opts.message {
        Some(message) => send_message(&link, message, output),
        None => relay(&link, input, output),
    };
    let (bytes_in, bytes_out) = (
        link.bytes_in.load(Ordering::Relaxed),
        link.bytes_out.load(Ordering::Relaxed),
    );
    // close()
    drop(stream);
    if let Some(obs) = observer {
        obs.event(&Event::Close {
            conn: CONN,
            duration: started.elapsed(),
            bytes_in,
            bytes_out,
        });
    }
    result
}

/// write() the message, shutdown(SHUT_WR), read() until the server closes.
///
/// If the server resets the connection or closes it early, sending fails,
/// but the reply, or the reason, is still there to read: a `read()` returns
/// what the server sent, then end of file or the reset. So the outcome is
/// what reading says, as it is for a C client that ignores `EPIPE`.
fn send_message<W: Write>(link: &Link<'_>, message: &[u8], output: W) -> Result<(), Error> {
    let sent = link.write_all(message).and_then(|()| link.shutdown_write());
    match sent {
        Err(e) if !is_gone(e.io()) && e.io().kind() != io::ErrorKind::NotConnected => Err(e),
        _ => link.copy_replies(output).map(|_| ()),
    }
}

/// Stdin chunks (16 KiB each) that may wait for the socket: at most 64 KiB
/// of input is held in memory, however slowly the server reads.
const INPUT_QUEUE: usize = 4;

/// What the stdin thread tells the thread that owns the socket.
enum FromInput {
    Data(Vec<u8>),
    End,
    Failed(io::Error),
    /// Not from stdin: the receiving side is done (server closed, stdout
    /// closed, or an error).
    ReceiveDone(Result<bool, Error>),
}

/// Two directions at once, like `nc -N`: a thread reads stdin and hands
/// chunks over; this thread writes them to the socket; a scoped thread copies
/// the socket to `output`. Over when the server has closed (or `output` has).
fn relay<R, W>(link: &Link<'_>, input: R, output: W) -> Result<(), Error>
where
    R: Read + Send + 'static,
    W: Write + Send,
{
    // Bounded: while write() waits on a server that reads slowly, the stdin
    // thread waits too, instead of piling stdin up in memory.
    let (tx, rx) = mpsc::sync_channel(INPUT_QUEUE);
    spawn_input_reader(input, tx.clone())?;
    let mut send_error = None;
    let received = thread::scope(|scope| {
        scope.spawn(move || {
            let done = link.copy_replies(output);
            if !matches!(done, Ok(true)) {
                // Stop the sending side too: a write() blocked on a server
                // that does not read returns at once.
                let _ = link.stream.shutdown(Shutdown::Both);
            }
            let _ = tx.send(FromInput::ReceiveDone(done));
        });
        let mut sending = true;
        loop {
            match rx.recv() {
                Ok(FromInput::Data(chunk)) if sending => {
                    if let Err(e) = link.write_all(&chunk) {
                        sending = false;
                        link.sending.store(false, Ordering::Release);
                        if !is_gone(e.io()) {
                            let _ = link.stream.shutdown(Shutdown::Both);
                            send_error = Some(e);
                        }
                    }
                }
                Ok(FromInput::Data(_)) => {}
                Ok(FromInput::End) if sending => {
                    sending = false;
                    if let Err(e) = link.shutdown_write() {
                        if !is_gone(e.io()) {
                            send_error = Some(e);
                        }
                    }
                }
                Ok(FromInput::End) => {}
                Ok(FromInput::Failed(e)) => {
                    sending = false;
                    link.sending.store(false, Ordering::Release);
                    let _ = link.stream.shutdown(Shutdown::Both);
                    send_error = Some(Error::new("read()", Some("stdin".to_string()), e));
                }
                Ok(FromInput::ReceiveDone(done)) => return done,
                // Unreachable while the receiving thread holds a sender.
                Err(mpsc::RecvError) => return Ok(true),
            }
        }
    });
    match (send_error, received) {
        (Some(e), _) => Err(e),
        (None, done) => done.map(|_| ()),
    }
}

/// Reads `input` on a thread of its own. It owns no socket, so leaving it
/// blocked on a terminal after the server is done holds nothing open; it
/// ends at its next read, when the channel is gone.
fn spawn_input_reader<R>(mut input: R, tx: mpsc::SyncSender<FromInput>) -> Result<(), Error>
where
    R: Read + Send + 'static,
{
    thread::Builder::new()
        .name("sockref-stdin".into())
        .spawn(move || {
            let mut buf = vec![0u8; LARGE_READ_BUF];
            loop {
                let msg = match input.read(&mut buf) {
                    Ok(0) => FromInput::End,
                    Ok(n) => FromInput::Data(buf[..n].to_vec()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => FromInput::Failed(e),
                };
                let last = !matches!(msg, FromInput::Data(_));
                if tx.send(msg).is_err() || last {
                    return;
                }
            }
        })
        .map(|_| ())
        .map_err(|e| Error::new("pthread_create()", None, e))
}

/// socket() + bind(port 0) -> sendto() -> recvfrom() ...
///
/// C's client lets the first `sendto()` bind the socket implicitly; std
/// asks for an explicit `bind()` to port 0, which is the same thing.
fn udp<R, W>(
    opts: &ClientOptions,
    peer: SocketAddr,
    input: R,
    mut output: W,
    observer: Option<&dyn Observer>,
) -> Result<(), Error>
where
    R: Read,
    W: Write,
{
    let any = if peer.is_ipv4() {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
    };
    let socket =
        UdpSocket::bind(any).map_err(|e| Error::new("bind()", Some(any.to_string()), e))?;
    if let Some(obs) = observer {
        let addr = socket.local_addr().unwrap_or(any);
        obs.event(&Event::Listen {
            proto: Proto::Udp,
            addr,
            backlog: 0,
        });
    }
    let mut udp = Datagrams {
        socket,
        peer,
        timeout: opts.timeout,
        observer,
        buf: vec![0u8; UDP_RECV_BUF],
    };
    let mut print = |reply: &[u8]| match output.write_all(reply).and_then(|()| output.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::new("write()", Some("stdout".to_string()), e)),
    };
    if let Some(message) = &opts.message {
        if message.len() > MAX_DATAGRAM {
            return Err(Error::new(
                "sendto()",
                Some(peer.to_string()),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "message of {} bytes exceeds the {MAX_DATAGRAM}-byte datagram limit",
                        message.len()
                    ),
                ),
            ));
        }
        let reply = udp.exchange(message)?;
        print(reply)?;
        return Ok(());
    }
    // Each line is one datagram (newline included, as `nc -u` sends it);
    // a line longer than a datagram can hold goes out in pieces.
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
        let reply = udp.exchange(&line)?;
        if !print(reply)? {
            return Ok(());
        }
    }
}

/// The client's UDP socket and where it sends.
struct Datagrams<'a> {
    socket: UdpSocket,
    peer: SocketAddr,
    timeout: Option<Duration>,
    observer: Option<&'a dyn Observer>,
    buf: Vec<u8>,
}

impl Datagrams<'_> {
    fn emit(&self, event: &Event<'_>) {
        if let Some(obs) = self.observer {
            obs.event(event);
        }
    }

    fn fail(&self, call: &'static str, e: io::Error) -> Error {
        self.emit(&Event::Error {
            conn: 0,
            call,
            error: &e,
        });
        Error::new(call, Some(self.peer.to_string()), e)
    }

    /// One `sendto()`, then `recvfrom()` until the server's reply arrives
    /// (datagrams from anyone else are reported and ignored) or the timeout
    /// passes with none.
    fn exchange(&mut self, request: &[u8]) -> Result<&[u8], Error> {
        let sent = self
            .socket
            .send_to(request, self.peer)
            .map_err(|e| self.fail("sendto()", e))?;
        self.emit(&Event::SendTo {
            peer: self.peer,
            bytes: sent,
        });
        let until = self.timeout.map(|t| Instant::now() + t);
        loop {
            let wait = match until {
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(self.no_reply());
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
                Err(e) if is_timeout(&e) => return Err(self.no_reply()),
                Err(e) => return Err(self.fail("recvfrom()", e)),
            };
            self.emit(&Event::RecvFrom {
                peer: from,
                bytes: n,
            });
            if from == self.peer {
                return Ok(&self.buf[..n]);
            }
            self.emit(&Event::Drop {
                peer: from,
                bytes: n,
                reason: "not from the server",
            });
        }
    }

    /// UDP has no connection to fail: silence is the only answer a lost
    /// datagram, a stopped server or a service that never replies gives.
    fn no_reply(&self) -> Error {
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
