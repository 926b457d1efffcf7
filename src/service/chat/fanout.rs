//! Fan-out: rooms of WebSocket connections, where a message one member
//! sends is written, by that member's own thread, to every other member's
//! socket. Shared by `chat` and `socketio`.
//!
//! This is publish/subscribe on a thread-per-connection server: each
//! member's worker sits blocked in its own `read()`, so nobody else is
//! there to deliver to it; the sender's thread does, one `write()` per
//! member. What it must never do is wait on a member that does not read:
//!
//! - every member has its own lock (its [`Member`]), held while one whole
//!   frame goes into its socket, so frames from several senders never
//!   interleave, and frames from one sender arrive in the order sent;
//! - a frame that cannot get into a member's socket (the kernel buffers
//!   are full) within [`FANOUT_SEND_WAIT`] cuts that member: it is marked,
//!   its input is shut down so its own thread wakes up, and that thread
//!   sends it close 1008 ("too slow") and leaves. No later frame waits on
//!   it, so a stalled member costs each sender that wait once, at most;
//! - nothing is queued in user space: what waits for a member is what its
//!   socket buffers hold;
//! - a member that leaves (close frame, end of input, error) is taken out
//!   of its room at once (the [`Membership`] guard, on a panic too), and
//!   its copy of the socket is closed under its lock, so a sender that
//!   still holds it in a snapshot finds it gone and moves on.
//!
//! Each member's socket is written through a second descriptor (`dup()`,
//! `Stream::try_clone`), owned by the member, whose `SO_SNDTIMEO` is
//! [`FANOUT_SEND_SAMPLE`]; after the upgrade, a member's own thread also
//! writes only through it (pongs, heartbeats, its close), under the same
//! lock. What it does not do: read, parse or route; see `chat` and
//! `socketio`.
//!
//! Lock order, never reversed: the rooms table, then a room's member list;
//! a member's own lock is never held with either.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::limits::{Limits, FANOUT_SEND_SAMPLE, FANOUT_SEND_WAIT};
use crate::net::Outcome;
use crate::server::Conn;
use crate::service::websocket::frame::{put_head, CLOSE, NO_STATUS};
use crate::service::websocket::reader::{Failure, Incoming, Reader};
use crate::trace::{emit, io_event, Event, Observer};
use crate::transport::Stream;

/// RFC 6455 §7.4.1: "going away", a server going down.
pub const GOING_AWAY: u16 = 1001;
/// RFC 6455 §7.4.1: a generic "policy violation": here a member too slow
/// to take what the room sends, or a Socket.IO packet that breaks its
/// protocol.
pub const POLICY: u16 = 1008;
/// RFC 6455 §7.4.1 (1011, "unexpected condition"): used, as the Python
/// `websockets` library does, for a heartbeat that went unanswered.
pub const NO_PONG: u16 = 1011;
/// IANA WebSocket close code registry (RFC 6455 §11.7): 1013, "try again
/// later": the room or the server is full.
pub const TRY_AGAIN_LATER: u16 = 1013;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Appends a server frame (FIN set, unmasked: RFC 6455 §5.1) to `out`.
pub fn frame(opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
    put_head(out, opcode, payload.len());
    out.extend_from_slice(payload);
}

/// Why a member could not join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// [`CHAT_ROOMS`](crate::limits::CHAT_ROOMS) rooms are open already.
    Rooms,
    /// The room has [`CHAT_ROOM_MEMBERS`](crate::limits::CHAT_ROOM_MEMBERS).
    Members,
}

impl Full {
    /// The reason a close frame (or a Socket.IO `CONNECT_ERROR`) carries.
    pub fn reason(self) -> &'static str {
        match self {
            Full::Rooms => "too many rooms open; try again later",
            Full::Members => "room full; try again later",
        }
    }
}

/// What became of a frame sent to a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// All of it is in the member's socket.
    Done,
    /// The member has left, closed, or its connection failed.
    Gone,
    /// It did not fit within [`FANOUT_SEND_WAIT`]: the member is cut.
    Slow,
}

/// One member's side of its socket: the copy other threads write through.
struct Outlet {
    /// `None` once the member has closed: nothing more is written.
    stream: Option<Stream>,
    /// The rest of a frame a cut cut short, sent before the close frame
    /// (so that the close is a frame of its own).
    pending: Vec<u8>,
}

/// A connection in a room: the connection number (for the trace), its
/// socket's second descriptor and its lock.
pub struct Member {
    conn: u64,
    outlet: Mutex<Outlet>,
    slow: AtomicBool,
    /// Bytes written into the socket, by any thread: the member's own
    /// thread adds them to its connection's count when it ends.
    written: AtomicU64,
}

impl Member {
    /// Makes `conn` a member: `dup()`s its socket and sets the copy's
    /// `SO_SNDTIMEO` (which the socket shares: the connection's own
    /// thread writes nothing through `conn` from here on). If the process
    /// is out of descriptors, the client is told so with close 1013
    /// before the error is returned.
    pub fn new(conn: &mut Conn<'_>) -> io::Result<Arc<Member>> {
        let copy = conn.stream().try_clone().and_then(|stream| {
            stream.set_write_timeout(Some(FANOUT_SEND_SAMPLE))?;
            // TCP_NODELAY: a member is often sent two small frames in a
            // row (a Socket.IO event then its ack, two senders' messages);
            // with Nagle's algorithm (RFC 896) the second waits for the ACK
            // of the first, which the client's delayed ACK holds back ~40
            // ms on Linux (measured: `bench --mode websocket --framing
            // socketio-ack`, p50 44 ms with it, 8 us without).
            stream.set_nodelay(true)?;
            Ok(stream)
        });
        match copy {
            Ok(stream) => Ok(Self::over(conn.id(), stream)),
            Err(e) => {
                let mut out = Vec::new();
                let mut body = TRY_AGAIN_LATER.to_be_bytes().to_vec();
                body.extend_from_slice(b"server out of descriptors; try again later");
                frame(CLOSE, &body, &mut out);
                let _ = conn.write_all(&out);
                Err(e)
            }
        }
    }

    fn over(conn: u64, stream: Stream) -> Arc<Member> {
        let outlet = Outlet { stream: Some(stream), pending: Vec::new() };
        let (slow, written) = (AtomicBool::new(false), AtomicU64::new(0));
        Arc::new(Member { conn, outlet: Mutex::new(outlet), slow, written })
    }

    /// Bytes written into the member's socket so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// True once a send found it too slow and cut it.
    pub fn was_cut(&self) -> bool {
        self.slow.load(Ordering::Acquire)
    }

    /// Writes one whole frame into the member's socket, within
    /// [`FANOUT_SEND_WAIT`] (see the module docs). Each `write()` is traced
    /// against the member's connection, whichever thread makes it.
    pub fn send(&self, frame: &[u8], obs: Option<&dyn Observer>) -> Sent {
        let mut outlet = lock(&self.outlet);
        if self.was_cut() {
            return Sent::Gone;
        }
        let Some(stream) = outlet.stream.as_ref() else {
            return Sent::Gone;
        };
        match write_within(stream, frame, self, obs) {
            Ok(()) => Sent::Done,
            Err((sent, e)) if Outcome::of(&e) == Outcome::TimedOut => {
                let why = format!(
                    "too slow: a frame waited {} ms for room in the socket; cut ({POLICY})",
                    FANOUT_SEND_WAIT.as_millis()
                );
                let e = io::Error::new(ErrorKind::TimedOut, why);
                emit!(obs, Event::Error { conn: self.conn, call: "write()", error: &e });
                self.slow.store(true, Ordering::Release);
                // Wake the member's own thread from its read(): it sends
                // the close and leaves the room.
                let _ = stream.shutdown(Shutdown::Read);
                outlet.pending = frame[sent..].to_vec();
                Sent::Slow
            }
            Err((_, e)) => {
                emit!(obs, Event::Error { conn: self.conn, call: "write()", error: &e });
                outlet.stream = None;
                Sent::Gone
            }
        }
    }

    /// Ends the member's side: the rest of a frame a cut left half sent,
    /// then a close frame with `code` and `reason` (none for 1005, RFC
    /// 6455 §7.4.1), within [`FANOUT_SEND_WAIT`]; then closes the copy of
    /// the socket, so that nothing is written after the close (§5.5.1).
    /// Called by the member's own thread, after it left its room.
    pub fn close(&self, code: u16, reason: &str, obs: Option<&dyn Observer>) {
        let mut outlet = lock(&self.outlet);
        let Some(stream) = outlet.stream.take() else {
            return;
        };
        let mut out = std::mem::take(&mut outlet.pending);
        if code == NO_STATUS {
            frame(CLOSE, b"", &mut out);
        } else {
            // §5.5: a control frame's payload is at most 125 bytes.
            let mut end = reason.len().min(123);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            let mut body = code.to_be_bytes().to_vec();
            body.extend_from_slice(&reason.as_bytes()[..end]);
            frame(CLOSE, &body, &mut out);
        }
        if let Err((_, e)) = write_within(&stream, &out, self, obs) {
            emit!(obs, Event::Error { conn: self.conn, call: "write()", error: &e });
        }
    }

    /// After the member's input ended (`read()` returned 0): why, and the
    /// close owed. Cut for being slow: 1008. The server stopping (it shut
    /// the input down): 1001. Otherwise the client left without a close
    /// frame, and nothing is sent.
    pub fn end(&self, stopping: bool, obs: Option<&dyn Observer>) {
        if self.was_cut() {
            self.close(POLICY, "too slow: cut from the room", obs);
        } else if stopping {
            self.close(GOING_AWAY, "server stopping", obs);
        } else {
            lock(&self.outlet).stream = None;
        }
    }
}

/// Writes all of `frame` to `stream`, waiting at most [`FANOUT_SEND_WAIT`]
/// in all; on failure, how much went out and why.
fn write_within(
    mut stream: &Stream,
    frame: &[u8],
    member: &Member,
    obs: Option<&dyn Observer>,
) -> Result<(), (usize, io::Error)> {
    let conn = member.conn;
    let until = Instant::now() + FANOUT_SEND_WAIT;
    let mut sent = 0;
    while sent < frame.len() {
        match stream.write(&frame[sent..]) {
            Ok(0) => return Err((sent, ErrorKind::WriteZero.into())),
            Ok(n) => {
                emit!(obs, io_event(conn, true, &frame[sent..sent + n]));
                member.written.fetch_add(n as u64, Ordering::Relaxed);
                sent += n;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // SO_SNDTIMEO ran out (EAGAIN): look at the clock.
            Err(e) if Outcome::of(&e) == Outcome::TimedOut && Instant::now() < until => {}
            Err(e) => return Err((sent, e)),
        }
    }
    Ok(())
}

/// One room: its members, in the order they joined.
#[derive(Default)]
struct Room {
    members: Mutex<Vec<Arc<Member>>>,
}

/// The rooms of one service, by name, each opened by its first member and
/// closed with its last, within [`Rooms::new`]'s bounds.
pub struct Rooms {
    rooms: Mutex<HashMap<Vec<u8>, Arc<Room>>>,
    max_rooms: usize,
    max_members: usize,
}

impl Rooms {
    /// No rooms yet; at most `max_rooms` at once, of `max_members` each.
    pub fn new(max_rooms: usize, max_members: usize) -> Rooms {
        Rooms { rooms: Mutex::default(), max_rooms, max_members }
    }

    /// Puts `member` in the room `name` (opening it), or says why not.
    pub fn join(&self, name: &[u8], member: &Arc<Member>) -> Result<Membership<'_>, Full> {
        let mut rooms = lock(&self.rooms);
        let room = match rooms.get(name) {
            Some(room) => Arc::clone(room),
            None if rooms.len() >= self.max_rooms => return Err(Full::Rooms),
            None => {
                let room = Arc::new(Room::default());
                rooms.insert(name.to_vec(), Arc::clone(&room));
                room
            }
        };
        let mut members = lock(&room.members);
        if members.len() >= self.max_members {
            return Err(Full::Members);
        }
        members.push(Arc::clone(member));
        drop(members);
        let member = Arc::clone(member);
        Ok(Membership { rooms: self, name: name.to_vec(), room, member, others: Vec::new() })
    }

    /// Members of the room `name` (0 if it is not open).
    pub fn count(&self, name: &[u8]) -> usize {
        let rooms = lock(&self.rooms);
        rooms.get(name).map_or(0, |room| lock(&room.members).len())
    }

    fn leave(&self, name: &[u8], room: &Arc<Room>, member: &Arc<Member>) {
        let mut rooms = lock(&self.rooms);
        let mut members = lock(&room.members);
        members.retain(|m| !Arc::ptr_eq(m, member));
        if members.is_empty() {
            rooms.remove(name);
        }
    }
}

/// A member's place in a room, for as long as it lives: dropping it takes
/// the member out at once (a close, an error, a panic alike).
pub struct Membership<'r> {
    rooms: &'r Rooms,
    name: Vec<u8>,
    room: Arc<Room>,
    member: Arc<Member>,
    /// The snapshot of the others a broadcast writes to, kept to reuse
    /// its allocation.
    others: Vec<Arc<Member>>,
}

impl Membership<'_> {
    /// Writes `frame` to every other member, in the order they joined, and
    /// returns to how many it was delivered. The room's lock is held only
    /// to take a snapshot of its members, never while writing: a member
    /// joining or leaving waits for no socket.
    pub fn broadcast(&mut self, frame: &[u8], obs: Option<&dyn Observer>) -> usize {
        self.others.clear();
        {
            let members = lock(&self.room.members);
            let others = members.iter().filter(|m| !Arc::ptr_eq(m, &self.member));
            self.others.extend(others.cloned());
        }
        let delivered = self.others.iter().filter(|m| m.send(frame, obs) == Sent::Done).count();
        self.others.clear();
        delivered
    }
}

impl Drop for Membership<'_> {
    fn drop(&mut self) {
        self.rooms.leave(&self.name, &self.room, &self.member);
    }
}

/// The heartbeat of a member (chat: WebSocket ping frames; Socket.IO:
/// Engine.IO `2`), and a last moment to give up at: a ping after each
/// [`Limits::ping_interval`] of silence, and the member closed when the
/// answer takes over [`Limits::ping_timeout`].
pub struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    idle: Option<Duration>,
    next_ping: Instant,
    answer_due: Option<Instant>,
    give_up: Option<Instant>,
}

/// What [`next`] found.
pub enum Step<'a> {
    /// A message, ping, pong, close or the end of input.
    Got(Incoming<'a>),
    /// A heartbeat is due: send a ping.
    Ping,
    /// The ping went unanswered within the ping timeout.
    Dead,
    /// The moment set with [`Heartbeat::give_up_at`] passed.
    Expired,
    /// The idle timeout ran out with nothing due: read again (the
    /// heartbeat, not the idle timeout, judges a member).
    Quiet,
    /// The client broke RFC 6455: close with this code and reason.
    Broke(u16, &'static str),
    /// `read()` failed.
    Failed(io::Error),
}

/// How early a socket timeout may fire and still count as the deadline.
const SLACK: Duration = Duration::from_millis(10);

impl Heartbeat {
    /// A heartbeat starting now, timed by `limits`.
    pub fn new(limits: &Limits) -> Heartbeat {
        Heartbeat {
            interval: limits.ping_interval,
            timeout: limits.ping_timeout,
            idle: limits.idle_timeout,
            next_ping: Instant::now() + limits.ping_interval,
            answer_due: None,
            give_up: None,
        }
    }

    /// The member was heard from (chat: any frame; Socket.IO: a pong): the
    /// next ping comes one interval from now.
    pub fn heard(&mut self) {
        self.answer_due = None;
        self.next_ping = Instant::now() + self.interval;
    }

    /// Sets (or clears) a moment past which [`next`] says
    /// [`Step::Expired`], such as a deadline for a Socket.IO `CONNECT`.
    pub fn give_up_at(&mut self, at: Option<Instant>) {
        self.give_up = at;
    }

    fn deadline(&self) -> Instant {
        let beat = self.answer_due.unwrap_or(self.next_ping);
        self.give_up.map_or(beat, |g| g.min(beat))
    }

    /// A read timed out after waiting `waited`: what is due, if anything.
    fn timed_out(&mut self, waited: Duration) -> Option<Step<'static>> {
        let now = Instant::now() + SLACK;
        if self.give_up.is_some_and(|g| now >= g) {
            return Some(Step::Expired);
        }
        match self.answer_due {
            Some(due) if now >= due => return Some(Step::Dead),
            None if now >= self.next_ping => {
                self.answer_due = Some(Instant::now() + self.timeout);
                return Some(Step::Ping);
            }
            _ => {}
        }
        // The idle timeout alone ran out: the heartbeat judges instead.
        // Anything quicker (a connection time limit, a drain) is final.
        self.idle.filter(|idle| waited + SLACK >= *idle).map(|_| Step::Quiet)
    }
}

/// Reads the member's next message (see [`Reader::next`]) with the
/// heartbeat's deadline on the `read()`.
pub fn next<'r>(reader: &'r mut Reader, conn: &mut Conn<'_>, beat: &mut Heartbeat) -> Step<'r> {
    conn.set_wake_up(Some(beat.deadline()), "heartbeat due");
    let started = Instant::now();
    match reader.next(conn) {
        Ok(incoming) => Step::Got(incoming),
        Err(Failure::Broke(code, why)) => Step::Broke(code, why),
        Err(Failure::Io(e)) if Outcome::of(&e) == Outcome::TimedOut => {
            beat.timed_out(started.elapsed()).unwrap_or(Step::Failed(e))
        }
        Err(Failure::Io(e)) => Step::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    fn pair() -> io::Result<(Arc<Member>, UnixStream)> {
        let (ours, theirs) = UnixStream::pair()?;
        ours.set_write_timeout(Some(FANOUT_SEND_SAMPLE))?;
        Ok((Member::over(1, Stream::Unix(ours)), theirs))
    }

    /// A refused join as an error `?` can carry.
    fn joined<T>(r: Result<T, Full>) -> io::Result<T> {
        r.map_err(|f| io::Error::other(f.reason()))
    }

    #[test]
    fn a_member_that_does_not_read_is_cut_within_the_wait_then_told_1008() -> io::Result<()> {
        let (member, mut theirs) = pair()?;
        let mut big = Vec::new();
        frame(0x2, &vec![7; 60_000], &mut big);
        let started = Instant::now();
        let mut sent = 0;
        let verdict = loop {
            match member.send(&big, None) {
                Sent::Done => sent += 1,
                other => break other,
            }
            assert!(sent < 10_000, "the socket never filled");
        };
        assert_eq!(verdict, Sent::Slow);
        assert!(member.was_cut());
        // Cut once: later frames do not wait at all.
        let again = Instant::now();
        assert_eq!(member.send(&big, None), Sent::Gone);
        assert!(again.elapsed() < FANOUT_SEND_WAIT);
        assert!(started.elapsed() >= FANOUT_SEND_WAIT);
        // The client reads again: the rest of the cut frame, then 1008.
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            theirs.read_to_end(&mut all).map(|_| all)
        });
        member.end(false, None);
        drop(member);
        let all = reader.join().map_err(|_| io::Error::other("the reader panicked"))??;
        assert_eq!(all.len() % big.len(), 2 + 2 + "too slow: cut from the room".len());
        let tail = &all[all.len() - 4 - "too slow: cut from the room".len()..];
        assert_eq!(&tail[..4], &[0x88, 2 + 27, 0x03, 0xF0]);
        Ok(())
    }

    #[test]
    fn rooms_open_with_the_first_member_and_close_with_the_last() -> io::Result<()> {
        let rooms = Rooms::new(1, 2);
        let (a, _ta) = pair()?;
        let (b, _tb) = pair()?;
        let (c, _tc) = pair()?;
        let ja = joined(rooms.join(b"x", &a))?;
        assert_eq!(rooms.join(b"y", &b).err(), Some(Full::Rooms));
        let jb = joined(rooms.join(b"x", &b))?;
        assert_eq!(rooms.join(b"x", &c).err(), Some(Full::Members));
        assert_eq!(rooms.count(b"x"), 2);
        drop(ja);
        assert_eq!(rooms.count(b"x"), 1);
        drop(jb);
        assert_eq!(rooms.count(b"x"), 0);
        assert!(rooms.join(b"y", &c).is_ok());
        Ok(())
    }

    #[test]
    fn a_broadcast_reaches_the_others_and_skips_the_closed() -> io::Result<()> {
        let rooms = Rooms::new(4, 4);
        let (a, mut ta) = pair()?;
        let (b, mut tb) = pair()?;
        let (c, tc) = pair()?;
        let mut ja = joined(rooms.join(b"", &a))?;
        let _jb = joined(rooms.join(b"", &b))?;
        let jc = joined(rooms.join(b"", &c))?;
        c.close(1000, "", None);
        drop(tc);
        let mut out = Vec::new();
        frame(0x1, b"hi", &mut out);
        assert_eq!(ja.broadcast(&out, None), 1);
        drop(jc);
        let mut got = [0; 4];
        tb.read_exact(&mut got)?;
        assert_eq!(&got, b"\x81\x02hi");
        ta.set_read_timeout(Some(Duration::from_millis(10)))?;
        assert!(ta.read(&mut got).is_err(), "the sender gets nothing");
        Ok(())
    }
}
