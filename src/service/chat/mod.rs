//! Chat: a WebSocket broadcast room. Every message a client sends goes to
//! every other client in the same room, none back to the sender.
//!
//! The room is the request path: `ws://HOST:PORT/room/NAME` joins `NAME`,
//! `ws://HOST:PORT/` the one room without a name. A browser that opens
//! `http://HOST:PORT/` (or `/room/NAME`) gets [`PAGE`], a tiny chat page
//! whose script joins the room of its own path. The handshake is the
//! `websocket` service's (RFC 6455 §4), the frames are read by the same
//! rules (`websocket::reader`), and the fan-out, with its bounds on slow
//! readers, is `fanout`'s. What a member's thread does, after the 101:
//!
//! ```text
//! read() a message -> write() it to each other member's socket (fanout)
//!                  <- its own socket is written by the others' threads
//! ```
//!
//! Close codes it sends (RFC 6455 §7.4): the client's own code back when
//! the client closes; 1002, 1007 or 1009 for a broken frame, bad UTF-8 or
//! a message over `--max-message` (`Limits::ws_max_message`); 1008 to a member too slow to take
//! what the room sends (`fanout::FANOUT_SEND_WAIT`); 1011 when a ping goes
//! unanswered; 1013 when the room or the server's rooms are full; 1001
//! when the server stops.

pub(super) mod fanout;

use std::io;
use std::sync::Arc;

use crate::limits::{CHAT_ROOMS, CHAT_ROOM_MEMBERS, CHAT_ROOM_NAME};
use crate::server::Conn;
use crate::service::http::response::Status;
use crate::service::websocket::frame::{BINARY, PING, PONG, TEXT};
use crate::service::websocket::reader::{Incoming, Reader};
use crate::service::websocket::{upgrade_or_page, Refused, Target};
use crate::service::Service;
use fanout::{frame, Heartbeat, Member, Rooms, Sent, Step, NO_PONG, TRY_AGAIN_LATER};

/// The page a browser gets for `GET /` (or `/room/NAME`) without
/// `Upgrade`: a few lines of script that join the room of its own path
/// with the browser's `WebSocket` (the lab in docs/chat.md).
pub const PAGE: &str = include_str!("chat.html");

/// The fields [`PAGE`] is sent with: never cached, and (CSP) nothing loaded
/// from anywhere, its one inline script and one inline style allowed by
/// their SHA-256 (CSP Level 3, "hash-source"; tests/chat_page.rs recomputes
/// them, and a browser test fails if they drift), its one connection back
/// to the same server.
const PAGE_HEADERS: &[u8] = b"Cache-Control: no-store\r\n\
    Content-Security-Policy: default-src 'none'; \
    script-src 'sha256-9H8lJuMjxdrG1TcoGsxhhUcoUa7Z3R8ZayeuG/MY+R8='; \
    style-src 'sha256-7rlWDQjtt1+xZoAv0PEfbv6Z1fMhuCgL1i0H09DBPCg='; \
    connect-src 'self'; frame-ancestors 'none'\r\n\
    X-Content-Type-Options: nosniff\r\n";

/// The chat service; it holds its rooms.
pub struct Chat {
    rooms: Rooms,
}

impl Chat {
    /// No rooms open yet.
    pub fn new() -> Chat {
        Chat { rooms: Rooms::new(CHAT_ROOMS, CHAT_ROOM_MEMBERS) }
    }

    /// Members now in room `name` (the room `/` is the empty name).
    pub fn members(&self, name: &str) -> usize {
        self.rooms.count(name.as_bytes())
    }
}

impl Default for Chat {
    fn default() -> Self {
        Chat::new()
    }
}

/// The room a request path names, or the answer that refuses it.
fn room(target: &Target<'_>) -> Result<Vec<u8>, Refused> {
    if target.path == b"/" {
        return Ok(Vec::new());
    }
    let Some(name) = target.path.strip_prefix(b"/room/") else {
        return Err((Status::NotFound, "chat rooms are at / and /room/NAME"));
    };
    if name.is_empty()
        || name.len() > CHAT_ROOM_NAME
        || !name.iter().all(|&b| b.is_ascii_graphic() && b != b'/')
    {
        let why = "a room name is 1 to 64 visible ASCII characters, no /";
        return Err((Status::BadRequest, why));
    }
    Ok(name.to_vec())
}

impl Service for Chat {
    fn name(&self) -> &str {
        "chat"
    }

    fn stream_only(&self) -> bool {
        true
    }

    fn busy(&self, reply: &mut Vec<u8>) {
        crate::service::http::busy(reply);
    }

    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        upgrade_or_page(conn, Some((PAGE, PAGE_HEADERS)), room, |conn, name, leftover| {
            self.member(conn, &name, leftover)
        })
    }
}

impl Chat {
    /// One member, from its join to its close.
    fn member(&self, conn: &mut Conn<'_>, name: &[u8], leftover: &[u8]) -> io::Result<()> {
        let me = Member::new(conn)?;
        let result = self.talk(conn, &me, name, leftover);
        conn.count_written(me.written());
        result
    }

    /// The member's loop: read a message, write it to the others.
    fn talk(
        &self,
        conn: &mut Conn<'_>,
        me: &Arc<Member>,
        name: &[u8],
        leftover: &[u8],
    ) -> io::Result<()> {
        let obs = conn.observer();
        let mut place = match self.rooms.join(name, me) {
            Ok(place) => place,
            Err(full) => {
                me.close(TRY_AGAIN_LATER, full.reason(), obs);
                return Ok(());
            }
        };
        let mut reader = Reader::new(leftover, conn.limits().ws_max_message);
        let mut beat = Heartbeat::new(conn.limits());
        let mut out = Vec::new();
        // Each arm that ends the member leaves the room first (`drop`), so
        // that no frame from another member follows its close frame.
        loop {
            out.clear();
            let sent = match fanout::next(&mut reader, conn, &mut beat) {
                Step::Got(Incoming::Text(text)) => {
                    beat.heard();
                    frame(TEXT, text.as_bytes(), &mut out);
                    place.broadcast(&out, obs);
                    Sent::Done
                }
                Step::Got(Incoming::Binary(bytes)) => {
                    beat.heard();
                    frame(BINARY, bytes, &mut out);
                    place.broadcast(&out, obs);
                    Sent::Done
                }
                // RFC 6455 §5.5.2: a pong carries the ping's payload.
                Step::Got(Incoming::Ping(payload)) => {
                    beat.heard();
                    frame(PONG, payload, &mut out);
                    me.send(&out, obs)
                }
                Step::Got(Incoming::Pong) => {
                    beat.heard();
                    Sent::Done
                }
                Step::Ping => {
                    frame(PING, b"", &mut out);
                    me.send(&out, obs)
                }
                Step::Quiet => Sent::Done,
                // RFC 6455 §5.5.1: answer a close with its status code.
                Step::Got(Incoming::Close(code)) => {
                    drop(place);
                    me.close(code, "", obs);
                    return Ok(());
                }
                Step::Got(Incoming::End) => break,
                Step::Dead | Step::Expired => {
                    drop(place);
                    me.close(NO_PONG, "no pong within the ping timeout", obs);
                    return Ok(());
                }
                // RFC 6455 §7.1.7: fail the connection with the code.
                Step::Broke(code, why) => {
                    drop(place);
                    me.close(code, why, obs);
                    return Ok(());
                }
                Step::Failed(e) => {
                    drop(place);
                    me.end(conn.stopping(), obs);
                    return Err(e);
                }
            };
            if sent != Sent::Done {
                break;
            }
        }
        drop(place);
        me.end(conn.stopping(), obs);
        Ok(())
    }
}
