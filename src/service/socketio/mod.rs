//! Socket.IO: the Socket.IO v5 protocol over Engine.IO v4, on the
//! WebSocket transport only, enough for the official clients.
//!
//! One protocol inside another inside a third: a WebSocket text message
//! (RFC 6455 §5.6) carries one Engine.IO packet (engine.io-protocol,
//! "Packet encoding: WebSocket"), and an Engine.IO `message` (`4`) carries
//! one Socket.IO packet (socket.io-protocol, "Packet encoding"). So
//! `42["chat","hi"]` is Engine.IO message, Socket.IO event. A session:
//!
//! ```text
//! GET /socket.io/?EIO=4&transport=websocket -> 101 (RFC 6455 §4, `websocket`)
//! <- 0{"sid":..,"upgrades":[],"pingInterval":..,"pingTimeout":..,"maxPayload":..}
//! -> 40                 <- 40{"sid":..}       connect to the main namespace
//! -> 42["echo",1]       <- 42["echo",1]       echo: back to its sender
//! -> 42["chat","hi"]                          any other event: to every other client
//! -> 421["chat","hi"]   <- 431["hi"]          an ack asked for: the arguments back
//! <- 2                  -> 3                  the server's heartbeat
//! -> 41                                       leave the namespace
//! ```
//!
//! What it does not do: HTTP long-polling (a request for it is answered
//! 400, saying to use `transports: ["websocket"]`: see `docs/socketio.md`
//! for what polling would cost a blocking server), namespaces other than
//! `/` (answered with `CONNECT_ERROR`), binary attachments (`45`/`46` and
//! binary frames are closed with 1003), rooms of its own (the connected
//! clients are one fan-out room, `fanout`), or server-side emits with acks.
//!
//! Close codes (RFC 6455 §7.4) besides the ones every WebSocket service
//! sends: 1008 for a packet that breaks Engine.IO or Socket.IO (its reason
//! says which rule), 1003 for binary data, 1009 for a message over
//! `maxPayload` (`--max-message`), 1011 for a ping not answered within `pingTimeout`, 1001
//! when the server stops, 1008 "too slow" for a client the room had to cut.

mod json;
mod packet;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::chat::fanout::{self, frame, Heartbeat, Member, Membership, Rooms, Sent, Step};
use super::chat::fanout::{NO_PONG, POLICY};
use super::http::response::Status;
use super::websocket::base64;
use super::websocket::frame::{put_head, PONG, TEXT};
use super::websocket::reader::{Incoming, Reader};
use super::websocket::{upgrade, Refused, Target};
use super::Service;
use crate::limits::{CHAT_ROOM_MEMBERS, SOCKETIO_CONNECT_TIMEOUT};
use crate::server::Conn;
use crate::trace::Observer;
use packet::{engine, socket, Engine, Kind};

/// RFC 6455 §7.4.1: 1003, data of a type the endpoint cannot accept (here,
/// binary: Socket.IO's attachments).
pub const UNSUPPORTED_DATA: u16 = 1003;

/// What a request for the polling transport (or for Engine.IO 3) is told.
pub const POLLING_REFUSED: &str = "this server serves Socket.IO over WebSocket only; \
    HTTP long-polling is not served: connect with transports: [\"websocket\"] \
    (socket.io-client) or transports=['websocket'] (python-socketio)";

/// What a client speaking Engine.IO 3 (Socket.IO 2) is told.
pub const EIO3_REFUSED: &str = "only Engine.IO 4 (Socket.IO 3 and later clients, EIO=4) \
    is served; connect with transports: [\"websocket\"]";

/// The Socket.IO service; the clients connected to `/` are one room.
pub struct SocketIo {
    room: Rooms,
}

impl SocketIo {
    /// No clients yet.
    pub fn new() -> SocketIo {
        SocketIo { room: Rooms::new(1, CHAT_ROOM_MEMBERS) }
    }

    /// Clients now connected to the main namespace.
    pub fn connected(&self) -> usize {
        self.room.count(b"/")
    }
}

impl Default for SocketIo {
    fn default() -> Self {
        SocketIo::new()
    }
}

impl Service for SocketIo {
    fn name(&self) -> &str {
        "socketio"
    }

    fn stream_only(&self) -> bool {
        true
    }

    fn busy(&self, reply: &mut Vec<u8>) {
        super::http::busy(reply);
    }

    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        upgrade(conn, route, |conn, (), leftover| self.session(conn, leftover))
    }
}

/// The query parameters of the request (engine.io-protocol, "Transports:
/// WebSocket"): `EIO=4` and `transport=websocket` are mandatory; a `sid`
/// would upgrade a polling session, and there never is one.
fn route(target: &Target<'_>) -> Result<(), Refused> {
    if target.path != b"/socket.io/" && target.path != b"/socket.io" {
        return Err((Status::NotFound, "Socket.IO is served at /socket.io/"));
    }
    let param = |name: &[u8]| {
        target.query.split(|&b| b == b'&').find_map(|kv| {
            let (k, v) = kv.split_at(kv.iter().position(|&b| b == b'=').unwrap_or(kv.len()));
            (k == name).then(|| v.get(1..).unwrap_or_default())
        })
    };
    match (param(b"EIO"), param(b"transport"), param(b"sid")) {
        (Some(b"4"), Some(b"websocket"), None) => Ok(()),
        (Some(b"3"), ..) => Err((Status::BadRequest, EIO3_REFUSED)),
        (Some(b"4"), Some(b"websocket"), Some(_)) => {
            Err((Status::BadRequest, "no polling session to upgrade: connect without sid"))
        }
        (Some(b"4"), ..) => Err((Status::BadRequest, POLLING_REFUSED)),
        _ => Err((Status::BadRequest, "EIO=4 and transport=websocket are mandatory")),
    }
}

/// A close owed to the client: code and reason.
type Close = (u16, &'static str);

/// One client's state, from the open packet to the close.
struct Session<'s> {
    me: Arc<Member>,
    obs: Option<&'s dyn Observer>,
    /// Its place among the connected clients, once it sent `40`.
    place: Option<Membership<'s>>,
    room: &'s Rooms,
    beat: Heartbeat,
    out: Vec<u8>,
    text: Vec<u8>,
}

impl SocketIo {
    fn session(&self, conn: &mut Conn<'_>, leftover: &[u8]) -> io::Result<()> {
        let limits = conn.limits();
        // engine.io-protocol, "Handshake": the open packet, with no
        // upgrades (the session is WebSocket from the start).
        let open = format!(
            "0{{\"sid\":\"{}\",\"upgrades\":[],\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
            random_id(),
            limits.ping_interval.as_millis(),
            limits.ping_timeout.as_millis(),
            limits.ws_max_message,
        );
        let me = Member::new(conn)?;
        let result = self.run(conn, leftover, open, &me);
        conn.count_written(me.written());
        result
    }

    /// The session's loop, from the open packet to the close.
    fn run(
        &self,
        conn: &mut Conn<'_>,
        leftover: &[u8],
        open: String,
        me: &Arc<Member>,
    ) -> io::Result<()> {
        let limits = conn.limits();
        let mut s = Session {
            me: Arc::clone(me),
            obs: conn.observer(),
            place: None,
            room: &self.room,
            beat: Heartbeat::new(limits),
            out: Vec::new(),
            text: Vec::new(),
        };
        // socket.io-protocol, "Connection to a namespace": a client that
        // does not connect is closed (after the reference server's delay).
        s.beat.give_up_at(Instant::now().checked_add(SOCKETIO_CONNECT_TIMEOUT));
        let mut reader = Reader::new(leftover, limits.ws_max_message);
        let mut sent = s.send(open.as_bytes());
        while sent == Sent::Done {
            let close = match fanout::next(&mut reader, conn, &mut s.beat) {
                Step::Got(Incoming::Text(text)) => s.packet(text),
                Step::Got(Incoming::Binary(_)) => {
                    Err((UNSUPPORTED_DATA, "binary data (attachments) is not served: send JSON"))
                }
                // RFC 6455 §5.5.2.
                Step::Got(Incoming::Ping(payload)) => {
                    s.out.clear();
                    frame(PONG, payload, &mut s.out);
                    Ok(s.me.send(&s.out, s.obs))
                }
                Step::Got(Incoming::Pong) | Step::Quiet => Ok(Sent::Done),
                // engine.io-protocol, "Heartbeat": the server pings.
                Step::Ping => Ok(s.send(b"2")),
                Step::Got(Incoming::Close(code)) => Err((code, "")),
                Step::Got(Incoming::End) => break,
                Step::Dead => Err((NO_PONG, "no pong (3) within pingTimeout")),
                Step::Expired => Err((POLICY, "no CONNECT (40) within the connect timeout")),
                Step::Broke(code, why) => Err((code, why)),
                Step::Failed(e) => {
                    s.place = None;
                    s.me.end(conn.stopping(), s.obs);
                    return Err(e);
                }
            };
            match close {
                Ok(next) => sent = next,
                Err((code, why)) => {
                    // Out of the room first: nothing follows the close.
                    s.place = None;
                    s.me.close(code, why, s.obs);
                    return Ok(());
                }
            }
        }
        s.place = None;
        s.me.end(conn.stopping(), s.obs);
        Ok(())
    }
}

impl Session<'_> {
    /// Sends one Engine.IO packet in a text frame to this client.
    fn send(&mut self, packet: &[u8]) -> Sent {
        self.send2(packet, b"")
    }

    /// Sends `head` then `body` as one text frame.
    fn send2(&mut self, head: &[u8], body: &[u8]) -> Sent {
        text_frame(head, body, &mut self.out);
        self.me.send(&self.out, self.obs)
    }

    /// Handles one Engine.IO packet.
    fn packet(&mut self, text: &str) -> Result<Sent, Close> {
        let bad = |why| (POLICY, why);
        match engine(text).map_err(bad)? {
            // engine.io-protocol, "Protocol": the client closes the transport.
            Engine::Close => Err((1000, "Engine.IO close")),
            Engine::Ping(data) => Ok(self.send2(b"3", data.as_bytes())),
            Engine::Pong => {
                self.beat.heard();
                Ok(Sent::Done)
            }
            Engine::Message(message) => self.socket(message),
        }
    }

    /// Handles one Socket.IO packet (socket.io-protocol, "Exchange
    /// protocol").
    fn socket(&mut self, message: &str) -> Result<Sent, Close> {
        let bad = |why| (POLICY, why);
        let p = socket(message).map_err(bad)?;
        match p.kind {
            // "Connection to a namespace": the main one only.
            Kind::Connect if p.namespace != "/" => {
                let head = format!("44{},", p.namespace);
                Ok(self.send2(head.as_bytes(), br#"{"message":"Invalid namespace"}"#))
            }
            Kind::Connect => {
                if !p.data.is_empty() {
                    json::object(p.data.as_bytes()).map_err(bad)?;
                }
                if self.place.is_none() {
                    match self.room.join(b"/", &self.me) {
                        Ok(place) => self.place = Some(place),
                        Err(full) => {
                            let body = format!("{{\"message\":\"{}\"}}", full.reason());
                            return Ok(self.send2(b"44", body.as_bytes()));
                        }
                    }
                }
                self.beat.give_up_at(None);
                let body = format!("{{\"sid\":\"{}\"}}", random_id());
                Ok(self.send2(b"40", body.as_bytes()))
            }
            // "Disconnection from a namespace": no answer is expected.
            Kind::Disconnect => {
                if p.namespace == "/" {
                    self.place = None;
                }
                Ok(Sent::Done)
            }
            Kind::Event => self.event(p.namespace, p.ack, p.data),
            // The server asks for no acks, so any is unsolicited.
            Kind::Ack => Ok(Sent::Done),
            Kind::ConnectError => Err(bad("CONNECT_ERROR (44) is the server's packet")),
            Kind::BinaryEvent | Kind::BinaryAck => {
                Err((UNSUPPORTED_DATA, "binary attachments (45/46) are not served: send JSON"))
            }
        }
    }

    /// An event (socket.io-protocol, "Sending and receiving data"): `echo`
    /// goes back to its sender, any other to every other client; an ack id
    /// gets the event's arguments back ("Acknowledgement").
    fn event(&mut self, namespace: &str, ack: Option<u64>, data: &str) -> Result<Sent, Close> {
        let bad = |why| (POLICY, why);
        if self.place.is_none() || namespace != "/" {
            return Err(bad("event before CONNECT to its namespace"));
        }
        // "The payload is mandatory and MUST be a non-empty array", whose
        // first element is the event's name.
        let elements = json::array_elements(data.as_bytes()).map_err(bad)?;
        let name = match elements.first() {
            Some(r) if data.as_bytes()[r.start] == b'"' => &data[r.clone()],
            Some(_) => return Err(bad("an event's name is a string")),
            None => return Err(bad("an event's payload is a non-empty array")),
        };
        let mut sent = if name == "\"echo\"" {
            self.send2(b"42", data.as_bytes())
        } else {
            text_frame(b"42", data.as_bytes(), &mut self.out);
            if let Some(place) = self.place.as_mut() {
                place.broadcast(&self.out, self.obs);
            }
            Sent::Done
        };
        if let (Some(id), Sent::Done) = (ack, sent) {
            let args = match (elements.get(1), elements.last()) {
                (Some(first), Some(last)) => &data[first.start..last.end],
                _ => "",
            };
            self.text.clear();
            // Straight into the reused buffer: no allocation per ack.
            let _ = write!(self.text, "43{id}[");
            self.text.extend_from_slice(args.as_bytes());
            self.text.push(b']');
            text_frame(&self.text, b"", &mut self.out);
            sent = self.me.send(&self.out, self.obs);
        }
        Ok(sent)
    }
}

/// `head` then `body` as one text frame in `out` (RFC 6455 §5.6), each
/// copied once, straight into the frame.
fn text_frame(head: &[u8], body: &[u8], out: &mut Vec<u8>) {
    out.clear();
    put_head(out, TEXT, head.len() + body.len());
    out.extend_from_slice(head);
    out.extend_from_slice(body);
}

/// A session id: 15 bytes from std's randomly keyed hasher (seeded from
/// the OS), base64url without padding, like the reference server's 20
/// characters. Unique and hard to guess; it grants nothing here (there is
/// no polling session to resume), so it needs no stronger source.
fn random_id() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut bytes = [0u8; 15];
    for chunk in bytes.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
        h.write_u128(now.as_nanos());
        chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
    }
    let mut text = Vec::new();
    base64::encode(&bytes, &mut text);
    text.iter()
        .map(|&b| match b {
            b'+' => '-',
            b'/' => '_',
            b => char::from(b),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(path: &'a str, query: &'a str) -> Target<'a> {
        Target { path: path.as_bytes(), query: query.as_bytes() }
    }

    #[test]
    fn only_engine_io_4_over_websocket_is_routed() {
        assert!(route(&target("/socket.io/", "EIO=4&transport=websocket")).is_ok());
        assert!(route(&target("/socket.io/", "transport=websocket&EIO=4&t=x")).is_ok());
        let polling = route(&target("/socket.io/", "EIO=4&transport=polling&t=N8hyd6w"));
        assert_eq!(polling, Err((Status::BadRequest, POLLING_REFUSED)));
        let v3 = route(&target("/socket.io/", "EIO=3&transport=websocket"));
        assert_eq!(v3, Err((Status::BadRequest, EIO3_REFUSED)));
        assert!(route(&target("/socket.io/", "")).is_err());
        assert!(route(&target("/socket.io/", "EIO=4&transport=websocket&sid=abc")).is_err());
        assert_eq!(
            route(&target("/", "EIO=4&transport=websocket")).map_err(|e| e.0),
            Err(Status::NotFound)
        );
    }

    #[test]
    fn session_ids_are_20_url_safe_characters_and_differ() {
        let a = random_id();
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, random_id());
    }
}
