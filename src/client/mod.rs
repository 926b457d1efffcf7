//! The textbook client, `sockref client`, in the order of the C program:
//!
//! ```text
//! TCP:  getaddrinfo()                 net::resolve()     ToSocketAddrs
//!       socket() + connect()          link::connect()    TcpStream::connect[_timeout]
//!       write() ... shutdown(SHUT_WR) send_message()     Write::write_all, shutdown(Write)
//!       read() ... until 0            copy_replies()     Read::read
//!       close()                       stream::run()      drop(stream)
//! UDP:  socket() + bind(port 0)       open_udp()         UdpSocket::bind
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
//! An address `unix:PATH` takes the same path over a Unix-domain socket:
//! `socket(PF_LOCAL, SOCK_STREAM)` + `connect(PATH)`, or with UDP a
//! `SOCK_DGRAM` socket bound at a temporary path of the client's own (a
//! server cannot answer an unnamed one), removed when the client is done.
//!
//! Every socket call is reported to an [`Observer`] with the same
//! [`Event`](crate::trace::Event)s as the server's (connection number 1).
//! Failures come back as an [`Error`] naming the call: `connect() error:
//! 127.0.0.1:4000: Connection refused (os error 111)`.
//!
//! [`StreamProbe`] and [`DatagramProbe`] make the same calls one at a time,
//! for a program that decides between them (`sockref check`).
//!
//! What it does not do: retry, reconnect, or retransmit a lost datagram.

use std::io::{Read, Write};
use std::time::Duration;

use crate::error::Error;
use crate::net::{self, Address};
use crate::trace::{Observer, Proto, TraceFormat};

mod datagram;
mod link;
mod probe;
mod stream;

pub use probe::{DatagramProbe, End, Received, StreamProbe};

/// The connection number the client's events carry (it has only one).
const CONN: u64 = 1;

/// Everything `sockref client` was told.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Server address: `host:port` (resolved like `getaddrinfo()`), or
    /// `unix:PATH` for a Unix-domain socket.
    pub addr: String,
    /// TCP or UDP; with `unix:PATH`, a stream or a datagram socket.
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
            addr: net::DEFAULT_ADDR.to_string(),
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
    // Anything but `unix:PATH` goes to getaddrinfo() as written, so that a
    // malformed address fails there, as it always has for library callers.
    let unix = match Address::parse(&opts.addr) {
        Ok(Address::Unix(path)) => Some(path),
        _ => None,
    };
    if let Proto::Tcp | Proto::Unix = opts.proto {
        let connected = match unix {
            Some(path) => link::connect_unix(&path)?,
            None => link::connect(&net::resolve(&opts.addr)?, opts.timeout)?,
        };
        return stream::run(opts, connected, input, output, observer);
    }
    let socket = match unix {
        Some(path) => datagram::open_unix(opts, &path, observer)?,
        None => datagram::open_udp(opts, net::resolve(&opts.addr)?[0], observer)?,
    };
    datagram::exchange_all(socket, opts, input, output)
}

/// Writes one reply to stdout: `Ok(false)` once stdout is closed (`| head`),
/// which ends the client quietly.
fn print<W: Write>(output: &mut W, reply: &[u8]) -> Result<bool, Error> {
    match output.write_all(reply).and_then(|()| output.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::new("write()", Some("stdout".to_string()), e)),
    }
}
