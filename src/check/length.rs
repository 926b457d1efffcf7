//! Length: the textbook's second server. One `read()` of at most 1024
//! bytes, then `sprintf(buf, "%d : %s", strlen(msg), msg)` written with its
//! NUL, then close. The expected reply is `length_reply`'s, the server's own.

use super::common::{self, after_a_reset, one_reply_each, while_one_idles};
use super::{preview, received, Check, Ctx, Failure, Outcome, Verdict};
use crate::client::End;
use crate::service::{length_reply, LENGTH_BUF};

/// The length checks, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    Check {
        name: "length.tcp.reply",
        rule: "\"hello\" is answered with \"5 : hello\" and a NUL",
        cite: "textbook length server",
        hostile: false,
        run: reply,
    },
    Check {
        name: "length.tcp.buffer",
        rule: "one read() of at most 1024 bytes: 2000 bytes sent are answered as their first 1024",
        cite: "textbook length server",
        hostile: false,
        run: buffer,
    },
    Check {
        name: "length.tcp.close",
        rule: "after the reply, the server closes without waiting for the client's end",
        cite: "textbook length server",
        hostile: false,
        run: close,
    },
    Check {
        name: "length.tcp.no-reset",
        rule: "input left unread (past 1024 bytes) does not turn the close into a reset",
        cite: "RFC 1122 §4.2.2.13; sockref",
        hostile: false,
        run: no_reset,
    },
    Check {
        name: "length.tcp.concurrent",
        rule: "a second client is answered while a first one is connected and idle",
        cite: "UNP ch. 5",
        hostile: false,
        run: concurrent,
    },
    Check {
        name: "length.tcp.reset",
        rule: "a client that resets leaves the server serving",
        cite: "RFC 9293 §3.10.7.4",
        hostile: true,
        run: reset,
    },
    Check {
        name: "length.udp.reply",
        rule: "a datagram \"hello\" is answered with \"5 : hello\" and a NUL",
        cite: "textbook length server",
        hostile: false,
        run: udp_reply,
    },
    Check {
        name: "length.udp.empty",
        rule: "an empty datagram is answered with \"0 : \" and a NUL",
        cite: "textbook length server",
        hostile: false,
        run: udp_empty,
    },
    Check {
        name: "length.udp.one-reply-each",
        rule: "three datagrams back to back get three replies, each its own",
        cite: "textbook length server",
        hostile: false,
        run: udp_one_each,
    },
];

fn expected(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    length_reply(msg, &mut out);
    out
}

fn hint_for(got: &[u8], want: &[u8]) -> &'static str {
    if got.is_empty() {
        "no reply: read() once, then write the reply at once (do not wait for the client's end: the textbook client waits for your reply first)"
    } else if got == &want[..want.len() - 1] {
        "the NUL is missing: the textbook writes strlen(buf) + 1 bytes, so the client's %s finds the end of the string"
    } else if got.len() > want.len() && got.starts_with(want) {
        "more than the reply: write strlen(buf) + 1 bytes, not the size of the whole buffer"
    } else if !got.contains(&b':') {
        "not the textbook's format: sprintf(buf, \"%d : %s\", (int)strlen(msg), msg), where msg is what read() returned, NUL-terminated at n"
    } else {
        "the count or the message is off: NUL-terminate the input at the n read() returned (msg[n] = '\\0', with room for it), then count strlen(msg); a '\\n' or a stale byte from an earlier read() changes both"
    }
}

/// Sends `msg` (no half-close: the textbook client does not), reads the
/// expected reply's length, and compares.
fn replied(ctx: &Ctx, msg: &[u8]) -> Outcome {
    let want = expected(msg);
    let s = ctx.connect()?;
    s.write_all(msg)?;
    // One byte more than the reply, so that trailing garbage shows.
    let r = s.read_until(want.len() + 1, ctx.wait);
    if r.data == want {
        return Ok(Verdict::Pass);
    }
    Err(Failure::new(
        preview(msg),
        received(&r, ctx.wait),
        preview(&want),
        hint_for(&r.data, &want),
    ))
}

fn reply(ctx: &Ctx) -> Outcome {
    replied(ctx, b"hello")
}

/// 2000 bytes, in one write: on loopback they arrive together, so one
/// read() of 1024 sees 1024 of them.
fn long() -> Vec<u8> {
    (0..2000).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The count at the start of a reply: `1024` of `1024 : aaa...`.
fn count(reply: &[u8]) -> Option<usize> {
    let digits = reply.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&reply[..digits]).ok()?.parse().ok()
}

fn buffer(ctx: &Ctx) -> Outcome {
    let msg = long();
    let want = expected(&msg);
    let s = ctx.connect()?;
    s.write_all(&msg)?;
    let r = s.read_until(want.len(), ctx.wait);
    // The count tells how much one read() took; the format is reply's rule.
    if count(&r.data) == Some(LENGTH_BUF) {
        return Ok(Verdict::Pass);
    }
    let hint = match count(&r.data) {
        Some(n) if n < LENGTH_BUF => format!("the server took {n} bytes, not {LENGTH_BUF}: the textbook reads once with read(fd, msg, {LENGTH_BUF}) into char msg[{LENGTH_BUF} + 1] (room for the NUL it adds); a smaller buffer counts less"),
        Some(n) => format!("the server counted {n} bytes: it read more than once (or more than {LENGTH_BUF}); the textbook answers one read() of at most {LENGTH_BUF} bytes"),
        None => "no count at the start of the reply (see length.tcp.reply for the format)".to_string(),
    };
    Err(Failure::new(
        format!("{} in one write()", preview(&msg)),
        received(&r, ctx.wait),
        format!("a reply that starts \"{LENGTH_BUF} : \" ({})", preview(&want)),
        hint,
    ))
}

fn close(ctx: &Ctx) -> Outcome {
    let msg = b"hello";
    let s = ctx.connect()?;
    s.write_all(msg)?;
    let r = s.read_to_end(ctx.wait);
    // Whether the reply is right is length.tcp.reply's rule; this one is the close.
    if r.end == End::Eof && !r.data.is_empty() {
        return Ok(Verdict::Pass);
    }
    let hint = match r.end {
        End::TimedOut if !r.data.is_empty() => "the reply came but the server kept the connection open: it answers one read(), so close() right after the write() (a server that reads again waits for a client that is waiting for the close)",
        End::TimedOut => "no reply and no close: the server waits for more input; the textbook client sends once and waits, so read() once and answer",
        End::Eof => "the server closed without a reply: write() the reply before close()",
        _ => "the server reset the connection: close() with unread input sends RST (see length.tcp.no-reset)",
    };
    Err(Failure::new(
        preview(msg),
        received(&r, ctx.wait),
        format!("{}, then the server's close", preview(&expected(msg))),
        hint,
    ))
}

fn no_reset(ctx: &Ctx) -> Outcome {
    let msg = long();
    let want = expected(&msg);
    let s = ctx.connect()?;
    s.write_all(&msg)?;
    let r = s.read_to_end(ctx.wait);
    match (&r.end, r.data == want) {
        (End::Eof, _) | (End::TimedOut, _) => Ok(Verdict::Pass),
        (End::Reset, true) => Ok(Verdict::Note(format!(
            "the reply arrived, then a reset: the server closed with {} bytes unread, and its kernel sent RST (RFC 1122 §4.2.2.13). Here the reply was already delivered; over a slower network the RST can overtake it. sockref reads the rest (shutdown(SHUT_WR), then read until 0) before close()",
            msg.len() - LENGTH_BUF
        ))),
        _ => Err(Failure::new(
            preview(&msg),
            received(&r, ctx.wait),
            format!("{}, then the server's close", preview(&want)),
            "the reply was destroyed by a reset: close() with unread input makes the kernel send RST, which discards what is still in flight. After writing the reply, shutdown(fd, SHUT_WR), read() until it returns 0 (bounded by a timeout), then close()",
        )),
    }
}

/// The second client of the concurrency check: any reply will do (its
/// bytes are length.tcp.reply's rule).
fn served(ctx: &Ctx) -> Outcome {
    let msg = b"hello";
    let s = ctx.connect()?;
    s.write_all(msg)?;
    let r = s.read_until(1, ctx.wait);
    if !r.data.is_empty() {
        return Ok(Verdict::Pass);
    }
    Err(Failure::new(preview(msg), received(&r, ctx.wait), "a reply", common::ITERATIVE))
}

fn concurrent(ctx: &Ctx) -> Outcome {
    while_one_idles(ctx, served)
}

fn reset(ctx: &Ctx) -> Outcome {
    after_a_reset(ctx, b"reset after this", reply)
}

fn udp_reply(ctx: &Ctx) -> Outcome {
    let msg = b"hello";
    let want = expected(msg);
    match common::datagram_reply(ctx, msg)? {
        Some(r) if r == want => Ok(Verdict::Pass),
        Some(r) => {
            Err(Failure::new(preview(msg), preview(&r), preview(&want), hint_for(&r, &want)))
        }
        None => Err(Failure::new(
            preview(msg),
            common::no_datagram(ctx.wait),
            preview(&want),
            "no answer: sendto() the reply to the address recvfrom() filled in",
        )),
    }
}

fn udp_empty(ctx: &Ctx) -> Outcome {
    common::answered(
        ctx,
        b"",
        "\"0 : \\x00\" (5 bytes)",
        |r| r == b"0 : \0",
        "an empty datagram's reply is \"0 : \" and its NUL: strlen of an empty message is 0",
    )
}

fn udp_one_each(ctx: &Ctx) -> Outcome {
    one_reply_each(ctx, &[b"one", b"two", b"three"], |req, r| r == expected(req))
}
