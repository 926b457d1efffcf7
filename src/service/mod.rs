//! The services: what happens between `accept()` and `close()` (stream:
//! TCP or Unix-domain), or between `recvfrom()` and `sendto()` (datagram:
//! UDP or Unix-domain).
//!
//! Each classic service lives in a file of its own and is a few lines long,
//! as in inetd's built-ins, and [`SERVICES`] is the one table of them. A lab writes its own by implementing [`Service`],
//! or by passing a closure to [`tcp_handler`] / [`udp_handler`].
//!
//! What a service does not do: touch the listener, the pool or the timeouts.
//! It gets a connection (or a datagram) and answers it; the server does the
//! rest, including closing the connection when the service returns.

use std::io;
use std::sync::Arc;

use crate::net::Endpoint;
use crate::server::Conn;

mod chargen;
mod chat;
mod daytime;
mod discard;
mod echo;
mod fanout;
mod hello;
pub mod http;
mod length;
pub mod socketio;
mod time;
pub mod websocket;

pub use chargen::{chargen_pattern, Chargen, CHARGEN_UDP_LEN};
pub use chat::Chat;
pub use daytime::{daytime_line, Daytime};
pub use discard::Discard;
pub use echo::Echo;
pub use hello::{Hello, HELLO_MSG};
pub use length::{length_reply, Length, LENGTH_BUF};
pub use time::{rfc868_time, Time, RFC868_EPOCH_OFFSET};

/// Whether a UDP service answers a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Send the contents of the reply buffer back to the sender (may be empty).
    Send,
    /// Send nothing.
    Nothing,
}

/// A network service: what the server does with each connection and datagram.
///
/// Implementations must be `Send + Sync`: one value serves every worker at
/// once. A panic or an error in either method ends only the connection (or
/// datagram) being served, and is counted.
pub trait Service: Send + Sync + 'static {
    /// The name printed in the `listening` line and traces.
    fn name(&self) -> &str;

    /// Serves one stream connection (TCP or Unix-domain) until done. The
    /// server closes it afterwards (after draining input the service left
    /// unread, so replies arrive).
    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()>;

    /// What a client turned away without being served reads before the
    /// close (`--overload reject`, `--max-per-ip`): `busy` and CRLF, unless
    /// the service speaks a protocol with its own way of saying so.
    fn busy(&self, reply: &mut Vec<u8>) {
        reply.extend_from_slice(b"busy\r\n");
    }

    /// True for a service that has no datagram form (HTTP, WebSocket): the
    /// command line then serves it over a stream socket only.
    fn stream_only(&self) -> bool {
        false
    }

    /// Answers one datagram (UDP or Unix-domain): fill `reply` (empty on
    /// entry) and say whether to send it. The default answers nothing.
    fn serve_datagram(&self, request: &[u8], peer: &Endpoint, reply: &mut Vec<u8>) -> Reply {
        let _ = (request, peer, reply);
        Reply::Nothing
    }
}

/// Makes one built-in service.
pub type Make = fn() -> Arc<dyn Service>;

/// The built-in services, the one table: a name as `--service` takes it,
/// and how to make the service. `--service`, [`builtin`] and [`SERVICE_NAMES`]
/// all read it.
pub const SERVICES: [(&str, Make); 11] = [
    ("echo", || Arc::new(Echo)),
    ("discard", || Arc::new(Discard)),
    ("chargen", || Arc::new(Chargen::new())),
    ("daytime", || Arc::new(Daytime)),
    ("time", || Arc::new(Time)),
    ("hello", || Arc::new(Hello)),
    ("length", || Arc::new(Length)),
    ("http", || Arc::new(http::Http)),
    ("websocket", || Arc::new(websocket::WebSocket)),
    ("chat", || Arc::new(Chat::new())),
    ("socketio", || Arc::new(socketio::SocketIo::new())),
];

/// The names in [`SERVICES`], in its order.
pub const SERVICE_NAMES: [&str; SERVICES.len()] = {
    let mut names = [""; SERVICES.len()];
    let mut i = 0;
    while i < SERVICES.len() {
        names[i] = SERVICES[i].0;
        i += 1;
    }
    names
};

/// Looks up a built-in service by name.
pub fn builtin(name: &str) -> Option<Arc<dyn Service>> {
    SERVICES.iter().find(|(n, _)| *n == name).map(|(_, make)| make())
}

/// A service made from a closure over a stream connection (datagrams: no reply).
pub struct TcpHandler<F> {
    name: String,
    f: F,
}

/// Wraps a closure as a stream (TCP or Unix-domain) [`Service`] named `name`.
pub fn tcp_handler<F>(name: &str, f: F) -> TcpHandler<F>
where
    F: Fn(&mut Conn<'_>) -> io::Result<()> + Send + Sync + 'static,
{
    TcpHandler { name: name.to_string(), f }
}

impl<F> Service for TcpHandler<F>
where
    F: Fn(&mut Conn<'_>) -> io::Result<()> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        (self.f)(conn)
    }
}

/// A service made from a closure over a datagram (streams: closed at once).
pub struct UdpHandler<F> {
    name: String,
    f: F,
}

/// Wraps a closure as a datagram (UDP or Unix-domain) [`Service`] named
/// `name`: it gets the request and the sender and returns the reply, or
/// `None` to stay silent.
pub fn udp_handler<F>(name: &str, f: F) -> UdpHandler<F>
where
    F: Fn(&[u8], &Endpoint) -> Option<Vec<u8>> + Send + Sync + 'static,
{
    UdpHandler { name: name.to_string(), f }
}

impl<F> Service for UdpHandler<F>
where
    F: Fn(&[u8], &Endpoint) -> Option<Vec<u8>> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn serve_stream(&self, _conn: &mut Conn<'_>) -> io::Result<()> {
        Ok(())
    }
    fn serve_datagram(&self, request: &[u8], peer: &Endpoint, reply: &mut Vec<u8>) -> Reply {
        match (self.f)(request, peer) {
            Some(bytes) => {
                *reply = bytes;
                Reply::Send
            }
            None => Reply::Nothing,
        }
    }
}
