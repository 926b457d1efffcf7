//! Probes and hints every service's checks share: one request-and-reply
//! exchange, a second client while a first one holds on, a client that
//! resets, a datagram that must be answered once.

use std::thread;
use std::time::{Duration, Instant};

use super::{preview, received, Ctx, Failure, Outcome, Verdict};
use crate::client::{End, Received};
use crate::net::secs;

/// The hint for a second client left waiting: the textbook's iterative server.
pub(super) const ITERATIVE: &str = "the second client waited until the first closed: the server serves one connection at a time (an iterative server). A blocking read() on the first client keeps accept() from running; hand each accepted socket to a thread (pthread_create) or a process (fork), or use poll()/select() over all of them";

/// The hint for a server that died or stopped accepting after a client reset.
pub(super) const SIGPIPE: &str = "after a client went away mid-exchange, the server no longer answers: in C, a write() to a reset connection raises SIGPIPE, whose default action kills the whole process (call signal(SIGPIPE, SIG_IGN) at start, or send() with MSG_NOSIGNAL); in Python, an uncaught ConnectionResetError or BrokenPipeError ends it (catch OSError around each client). Treat EPIPE/ECONNRESET from write() or read() as 'this client is gone': close() that socket and go back to accept()";

/// Connects, writes `request` (if any), half-closes if `half_close`, and
/// reads until the server closes, resets, or `ctx.wait` passes.
pub(super) fn exchange(ctx: &Ctx, request: &[u8], half_close: bool) -> Result<Received, Failure> {
    let s = ctx.connect()?;
    if !request.is_empty() {
        s.write_all(request)?;
    }
    if half_close {
        s.shutdown_write()?;
    }
    Ok(s.read_to_end(ctx.wait))
}

/// Connects and reads `want` bytes (or less: end, reset, wait) without
/// sending anything, then closes.
pub(super) fn read_some(ctx: &Ctx, want: usize) -> Result<Received, Failure> {
    let s = ctx.connect()?;
    Ok(s.read_until(want, ctx.wait))
}

/// A first client connects and stays idle (connected, sending nothing,
/// reading nothing) while `served` runs as a second client: `served` must
/// still pass. The rule of every concurrent server (the second client
/// must not wait for the first to leave).
pub(super) fn while_one_idles(ctx: &Ctx, served: impl FnOnce(&Ctx) -> Outcome) -> Outcome {
    let first = ctx.connect()?;
    let outcome = served(ctx);
    drop(first);
    outcome.map_err(|f| Failure {
        sent: format!("(a first connection, open and idle) then, on a second one: {}", f.sent),
        hint: if f.got.starts_with("nothing within") { ITERATIVE.to_string() } else { f.hint },
        ..f
    })
}

/// A client that sends `request` and closes without reading the reply:
/// with unread bytes queued, its kernel answers with RST, not FIN. Then
/// `served` must still pass on a new connection.
pub(super) fn after_a_reset(ctx: &Ctx, request: &[u8], served: fn(&Ctx) -> Outcome) -> Outcome {
    {
        let s = ctx.connect()?;
        // A large request fills both ends' buffers: the server is then
        // blocked in write() with input still queued when the reset comes.
        s.set_write_timeout(ctx.quiet)?;
        let _ = s.write_all(request);
        // Wait until the reply has started to arrive, so it is unread when
        // close() runs (and the close becomes a reset).
        let _ = s.read_until(1, ctx.quiet);
        // Shut the write side only after: the server is still mid-request.
    }
    // The reset reaches a server thread that may be blocked elsewhere; give
    // it time to meet the error (and die of it, if it does) before asking
    // for service again: "still serving" means a while later too.
    thread::sleep(ctx.quiet);
    served(ctx).map_err(|f| Failure {
        sent: format!(
            "{} on a connection closed with the reply unread (a reset), then, {} later, on a new one: {}",
            preview(request),
            secs(ctx.quiet),
            f.sent
        ),
        hint: if f.got.contains("connect()") || f.got.contains("nothing") {
            SIGPIPE.to_string()
        } else {
            f.hint
        },
        ..f
    })
}

/// One datagram each, `requests.len()` of them back to back: exactly one
/// reply each (`reply_ok` judges it), and nothing more.
pub(super) fn one_reply_each(
    ctx: &Ctx,
    requests: &[&[u8]],
    reply_ok: fn(&[u8], &[u8]) -> bool,
) -> Outcome {
    let mut d = ctx.datagram()?;
    for r in requests {
        d.send(r)?;
    }
    let sent = format!(
        "{} datagrams back to back: {}",
        requests.len(),
        requests.iter().map(|r| preview(r)).collect::<Vec<_>>().join(", ")
    );
    let mut replies: Vec<Vec<u8>> = Vec::new();
    let until = Instant::now() + ctx.wait;
    while replies.len() < requests.len() {
        let left = until.saturating_duration_since(Instant::now());
        match d.recv(left)? {
            Some(r) => replies.push(r),
            None => break,
        }
    }
    // Then silence: a second reply to one datagram would arrive by now.
    let extra = d.recv(ctx.quiet)?;
    let got = || {
        let mut g: Vec<String> = replies.iter().map(|r| preview(r)).collect();
        if let Some(e) = &extra {
            g.push(preview(e));
        }
        match g.len() {
            0 => format!("no reply within {}", secs(ctx.wait)),
            n => format!("{n} {}: {}", if n == 1 { "reply" } else { "replies" }, g.join(", ")),
        }
    };
    let want = format!("exactly {} replies, one to each datagram", requests.len());
    if replies.len() < requests.len() {
        return Err(Failure::new(sent, got(), want, "some datagrams got no answer: a UDP server answers each recvfrom() with one sendto() to the address recvfrom() filled in, in a loop; check that no datagram is skipped (e.g. one whose reply failed, or an empty one) and that the loop does not stop after the first"));
    }
    if extra.is_some() {
        return Err(Failure::new(sent, got(), want, "more replies than datagrams: the server answers some datagrams twice (or in pieces); UDP keeps message boundaries, so call sendto() once per datagram with the whole reply"));
    }
    // Replies may come in any order (a server may answer on several
    // threads): each must answer a datagram no other reply answered.
    let mut unanswered: Vec<&[u8]> = requests.to_vec();
    for a in &replies {
        match unanswered.iter().position(|r| reply_ok(r, a)) {
            Some(i) => {
                unanswered.remove(i);
            }
            None => {
                return Err(Failure::new(
                    sent,
                    got(),
                    "a correct reply to each datagram",
                    format!(
                        "the reply {} answers none of the datagrams (or one already answered): each reply must answer its own datagram, from the bytes recvfrom() returned for it",
                        preview(a)
                    ),
                ));
            }
        }
    }
    Ok(Verdict::Pass)
}

/// Sends one datagram and waits for one reply. UDP may lose a datagram
/// (RFC 768), and a server may too while it is busy: with no reply within
/// [`Ctx::quiet`], the datagram is sent once more (the trace shows both)
/// before silence counts. Losing datagrams that arrive together is
/// `one_reply_each`'s rule, which never resends.
pub(super) fn datagram_reply(ctx: &Ctx, request: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
    let mut d = ctx.datagram()?;
    d.send(request)?;
    if let Some(r) = d.recv(ctx.quiet)? {
        return Ok(Some(r));
    }
    d.send(request)?;
    Ok(d.recv(ctx.wait)?)
}

/// "nothing within 2s" for a missing datagram.
pub(super) fn no_datagram(wait: Duration) -> String {
    format!("no datagram within {}", secs(wait))
}

/// Whether the reads ended with the server's close (not a reset, not a wait).
pub(super) fn closed(r: &Received) -> bool {
    r.end == End::Eof
}

/// Connects, sends nothing, reads until the server closes (or the wait):
/// the exchange of the services that answer a connection (daytime, time, hello).
pub(super) fn on_connect(ctx: &Ctx) -> Result<Received, Failure> {
    exchange(ctx, b"", false)
}

/// The concurrency check of the services that answer a connection (daytime,
/// time, hello): while a first client idles, a second one gets some reply
/// (what it must hold is the other checks' rule); `want` names it.
pub(super) fn answers_while_one_idles(ctx: &Ctx, want: &str) -> Outcome {
    while_one_idles(ctx, |ctx| {
        let r = on_connect(ctx)?;
        if !r.data.is_empty() {
            return Ok(Verdict::Pass);
        }
        Err(Failure::new("nothing (connect and read)", received(&r, ctx.wait), want, ITERATIVE))
    })
}

/// For a service that answers and closes: the reply must end with the
/// server's close, not a reset and not silence.
pub(super) fn closes_after_reply(ctx: &Ctx, service: &str) -> Outcome {
    let r = on_connect(ctx)?;
    if closed(&r) && !r.data.is_empty() {
        return Ok(Verdict::Pass);
    }
    let hint = match r.end {
        End::Reset => "the server reset the connection instead of closing it: RST can destroy the reply before the client reads it. close() normally (no SO_LINGER of 0), after the reply is written",
        End::TimedOut if !r.data.is_empty() => "the reply came but the connection stayed open: the client reads until end of file, so close() the accepted socket right after write()",
        _ => "no reply at all: write() the reply as soon as accept() returns, then close()",
    };
    Err(Failure::new(
        "nothing (connect and read)",
        received(&r, ctx.wait),
        format!("the {service} reply, then the server's close"),
        hint,
    ))
}

/// A datagram, possibly empty, must get one reply that `ok` accepts.
pub(super) fn answered(
    ctx: &Ctx,
    request: &[u8],
    want: &str,
    ok: fn(&[u8]) -> bool,
    wrong_hint: &str,
) -> Outcome {
    let empty = request.is_empty();
    match datagram_reply(ctx, request)? {
        Some(r) if ok(&r) => Ok(Verdict::Pass),
        Some(r) => Err(Failure::new(preview(request), preview(&r), want, wrong_hint)),
        None => Err(Failure::new(
            preview(request),
            no_datagram(ctx.wait),
            want,
            if empty {
                "an empty datagram got no answer: recvfrom() returning 0 is a datagram of length 0 (the RFC's client sends exactly that), not an error; answer it with sendto() like any other"
            } else {
                "no answer: a UDP server answers each datagram with one sendto() to the address recvfrom() filled in"
            },
        )),
    }
}
