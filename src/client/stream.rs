//! The stream client, TCP or Unix-domain: `connect()` is done (see
//! `link`); this writes, half-closes, reads, and closes.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use super::link::Link;
use super::{ClientOptions, CONN};
use crate::error::Error;
use crate::limits::LARGE_READ_BUF;
use crate::net::Outcome;
use crate::trace::{emit, Event, Observer};
use crate::transport::Stream;

/// The peer stopped reading or went away: not worth a message when the
/// other direction ended normally (what `nc` does too).
fn is_gone(e: &Error) -> bool {
    Outcome::of(e.io()) == Outcome::Gone
}

/// write()/read() ... -> close() on a connected `stream`.
pub(super) fn run<R, W>(
    opts: &ClientOptions,
    stream: Stream,
    input: R,
    output: W,
    observer: Option<&dyn Observer>,
) -> Result<(), Error>
where
    R: Read + Send + 'static,
    W: Write + Send,
{
    let started = Instant::now();
    let peer = stream.peer().map_err(|e| Error::new("getpeername()", None, e))?;
    let local = stream.local().map_err(|e| Error::new("getsockname()", None, e))?;
    emit!(observer, Event::Connect { peer: &peer, local: &local });
    let peer = peer.to_string();
    // SO_RCVTIMEO / SO_SNDTIMEO: a silent server ends the client with a
    // message instead of hanging it.
    let set = |call, r: io::Result<()>| r.map_err(|e| Error::new(call, Some(peer.clone()), e));
    set("setsockopt(SO_RCVTIMEO)", stream.set_read_timeout(opts.timeout))?;
    set("setsockopt(SO_SNDTIMEO)", stream.set_write_timeout(opts.timeout))?;
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
    let (bytes_in, bytes_out) =
        (link.bytes_in.load(Ordering::Relaxed), link.bytes_out.load(Ordering::Relaxed));
    // close()
    drop(stream);
    emit!(observer, Event::Close { conn: CONN, duration: started.elapsed(), bytes_in, bytes_out });
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
        Err(e) if !is_gone(&e) && e.io().kind() != io::ErrorKind::NotConnected => Err(e),
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
    let mut sender = Sender { link, error: None };
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
        loop {
            match rx.recv() {
                Ok(FromInput::ReceiveDone(done)) => return done,
                Ok(msg) => sender.take(msg),
                // Unreachable while the receiving thread holds a sender.
                Err(mpsc::RecvError) => return Ok(true),
            }
        }
    });
    match (sender.error, received) {
        (Some(e), _) => Err(e),
        (None, done) => done.map(|_| ()),
    }
}

/// The sending half of [`relay`]: what it does with each message from stdin.
/// Whether it still sends is `link.sending`, which the receiving side reads
/// too.
struct Sender<'l, 'a> {
    link: &'l Link<'a>,
    /// The first failure worth reporting; it wins over the receiving side's.
    error: Option<Error>,
}

impl Sender<'_, '_> {
    fn take(&mut self, msg: FromInput) {
        let link = self.link;
        let sending = link.sending.load(Ordering::Acquire);
        match msg {
            FromInput::Data(chunk) if sending => {
                if let Err(e) = link.write_all(&chunk) {
                    link.sending.store(false, Ordering::Release);
                    if !is_gone(&e) {
                        let _ = link.stream.shutdown(Shutdown::Both);
                        self.error = Some(e);
                    }
                }
            }
            FromInput::End if sending => {
                if let Err(e) = link.shutdown_write() {
                    if !is_gone(&e) {
                        self.error = Some(e);
                    }
                }
            }
            FromInput::Failed(e) => {
                link.sending.store(false, Ordering::Release);
                let _ = link.stream.shutdown(Shutdown::Both);
                self.error = Some(Error::new("read()", Some("stdin".to_string()), e));
            }
            FromInput::Data(_) | FromInput::End | FromInput::ReceiveDone(_) => {}
        }
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
