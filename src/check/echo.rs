//! Echo (RFC 862): "any data received is sent back", over a stream until the
//! client ends it, and one answering datagram per datagram.

use std::thread;
use std::time::Duration;

use super::common::{self, after_a_reset, exchange, one_reply_each, while_one_idles};
use super::{around, first_difference, preview, received, Check, Ctx, Failure, Outcome, Verdict};
use crate::client::End;
use crate::limits::MAX_DATAGRAM;

/// The echo checks, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    Check {
        name: "echo.tcp.short",
        rule: "a short line comes back unchanged",
        cite: "RFC 862",
        hostile: false,
        run: short,
    },
    Check {
        name: "echo.tcp.binary",
        rule: "all 256 byte values come back, NUL and 0xff included",
        cite: "RFC 862",
        hostile: false,
        run: binary,
    },
    Check {
        name: "echo.tcp.split-writes",
        rule: "a message sent in several write()s comes back whole",
        cite: "RFC 862",
        hostile: false,
        run: split_writes,
    },
    Check {
        name: "echo.tcp.large",
        rule: "1 MiB comes back byte for byte while the client is still sending",
        cite: "RFC 862",
        hostile: false,
        run: large,
    },
    Check {
        name: "echo.tcp.half-close",
        rule: "after the client's shutdown(SHUT_WR), the rest of the echo arrives, then the server closes",
        cite: "RFC 862; RFC 9293 §3.6",
        hostile: false,
        run: half_close,
    },
    Check {
        name: "echo.tcp.concurrent",
        rule: "a second client is echoed while a first one is connected and idle",
        cite: "RFC 862; UNP ch. 5",
        hostile: false,
        run: concurrent,
    },
    Check {
        name: "echo.tcp.reset",
        rule: "a client that resets mid-exchange leaves the server serving",
        cite: "RFC 9293 §3.10.7.4",
        hostile: true,
        run: reset,
    },
    Check {
        name: "echo.tcp.non-reading",
        rule: "a client that sends but never reads does not stop others being served",
        cite: "sockref limits",
        hostile: true,
        run: non_reading,
    },
    Check {
        name: "echo.udp.datagram",
        rule: "a datagram comes back unchanged, to its sender",
        cite: "RFC 862",
        hostile: false,
        run: udp_datagram,
    },
    Check {
        name: "echo.udp.empty",
        rule: "an empty datagram is answered with an empty datagram",
        cite: "RFC 862",
        hostile: false,
        run: udp_empty,
    },
    Check {
        name: "echo.udp.large",
        rule: "a 65,507-byte datagram (the IPv4 maximum) comes back whole",
        cite: "RFC 862; RFC 768",
        hostile: false,
        run: udp_large,
    },
    Check {
        name: "echo.udp.one-reply-each",
        rule: "three datagrams back to back get three replies, each its own",
        cite: "RFC 862",
        hostile: false,
        run: udp_one_each,
    },
];

const SHORT_HINT: &str = "the echo is not what was sent: write() back exactly the n bytes read() returned (write(fd, buf, n), not strlen(buf) or sizeof(buf)), and never add or strip a newline";

/// Writes `request`, reads until as many bytes came back (the server may
/// keep the connection open: whether it closes is half-close's rule), and
/// compares.
fn echoed(ctx: &Ctx, request: &[u8], sent: String, hint: &str) -> Outcome {
    let s = ctx.connect()?;
    s.write_all(request)?;
    let r = s.read_until(request.len(), ctx.wait);
    if r.data == request {
        return Ok(Verdict::Pass);
    }
    let got = match first_difference(&r.data, request) {
        Some(at) => format!("{} ({})", received(&r, ctx.wait), around(&r.data, request, at)),
        None => received(&r, ctx.wait),
    };
    Err(Failure::new(sent, got, preview(request), hint))
}

fn short(ctx: &Ctx) -> Outcome {
    let msg = b"hello, echo\r\n";
    echoed(ctx, msg, preview(msg), SHORT_HINT)
}

fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}

fn binary(ctx: &Ctx) -> Outcome {
    let msg = all_bytes();
    echoed(ctx, &msg, preview(&msg), "bytes were lost or changed: a socket carries bytes, not C strings. Treat the buffer as n bytes from read() (a NUL is data, not the end), write(fd, buf, n); do not use strlen(), printf(\"%s\") or fgets() on it")
}

/// The pieces of the split-writes check, sent 50 ms apart so that they
/// arrive as separate segments (a server's first read() sees only the first).
const PIECES: [&[u8]; 3] = [b"split ", b"over three ", b"writes\n"];

fn split_writes(ctx: &Ctx) -> Outcome {
    let whole: Vec<u8> = PIECES.concat();
    let sent = format!(
        "{} in {} write()s, 50 ms apart",
        PIECES.iter().map(|p| preview(p)).collect::<Vec<_>>().join(", "),
        PIECES.len()
    );
    let s = ctx.connect()?;
    for p in PIECES {
        s.write_all(p)?;
        thread::sleep(Duration::from_millis(50));
    }
    let r = s.read_until(whole.len(), ctx.wait);
    if r.data == whole {
        return Ok(Verdict::Pass);
    }
    Err(Failure::new(sent, received(&r, ctx.wait), preview(&whole), "the reply ended before your input did: a single read() gets at most what has arrived so far, not the whole message. Loop: read(), write() what you got, and repeat until read() returns 0 (the client's end); only then close()"))
}

/// 1 MiB of a pattern no two aligned 256-byte blocks share.
fn mib() -> Vec<u8> {
    (0..1usize << 20).map(|i| (i as u8) ^ ((i >> 8) as u8).rotate_left(3)).collect()
}

fn large(ctx: &Ctx) -> Outcome {
    let msg = mib();
    let s = ctx.connect()?;
    // Sending and reading at once, as a real client would: a server that
    // echoes as it reads never waits on the client.
    let (sent, r) = thread::scope(|scope| {
        let writer = scope.spawn(|| s.write_all(&msg));
        let r = s.read_until(msg.len(), ctx.wait * 3);
        (writer.join(), r)
    });
    let wrote = match sent {
        Ok(Ok(())) => "1 MiB (1048576 bytes), written while reading".to_string(),
        Ok(Err(e)) => format!("part of 1 MiB, then {e}"),
        Err(_) => "part of 1 MiB (the writer thread panicked)".to_string(),
    };
    if r.data == msg {
        return Ok(Verdict::Pass);
    }
    let got = match first_difference(&r.data, &msg) {
        Some(at) => format!("{} ({})", received(&r, ctx.wait * 3), around(&r.data, &msg, at)),
        None => format!("{} of 1048576 bytes: {}", r.data.len(), received(&r, ctx.wait * 3)),
    };
    Err(Failure::new(wrote, got, "the same 1048576 bytes, in order", "a large echo was cut short or changed: loop on read() until it returns 0 and write() every chunk in full (write() may write less than asked: loop on it too, or the rest is lost); a fixed buffer must be reused, not filled once"))
}

fn half_close(ctx: &Ctx) -> Outcome {
    // No newline at the end: a server that echoes only whole lines keeps it.
    let msg = b"the tail without a newline";
    let r = exchange(ctx, msg, true)?;
    let sent = format!("{}, then shutdown(SHUT_WR)", preview(msg));
    let want = format!("{}, then the server's close", preview(msg));
    if r.data == msg && common::closed(&r) {
        return Ok(Verdict::Pass);
    }
    let hint = match r.end {
        End::TimedOut if r.data == msg => "the echo came back but the server never closed: when read() returns 0 the client has nothing more to send; write what is left, then close() the connection (a server that waits for more keeps the client waiting forever)",
        End::Reset => "the server reset the connection instead of closing it: a close() while unread input is queued sends RST, and RST destroys a reply still in flight. Read until read() returns 0, then close()",
        _ => "the tail of the input never came back: after the client's shutdown(SHUT_WR), read() returns the last bytes, then 0. Write those last bytes before you close() (flush a stdio FILE* or a buffer of your own first: close() does not)",
    };
    Err(Failure::new(sent, received(&r, ctx.wait), want, hint))
}

fn concurrent(ctx: &Ctx) -> Outcome {
    while_one_idles(ctx, short)
}

fn non_reading(ctx: &Ctx) -> Outcome {
    // 8 MiB is more than the kernel buffers of both ends hold on loopback:
    // the server's write() blocks on this client, which never reads.
    let s = ctx.connect()?;
    s.set_write_timeout(ctx.quiet)?;
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..128 {
        if s.write_all(&chunk).is_err() {
            break;
        }
    }
    let outcome = short(ctx);
    drop(s);
    outcome.map_err(|f| Failure {
        sent: format!("(a first client sends up to 8 MiB and never reads) then, on a second connection: {}", f.sent),
        hint: "a client that does not read made the server stop serving others: its write() blocks once that client's buffers are full. Serve each client on its own thread or process, and bound how long a write() may wait (SO_SNDTIMEO, or poll() with a timeout)".into(),
        ..f
    })
}

fn reset(ctx: &Ctx) -> Outcome {
    after_a_reset(ctx, &vec![b'r'; 8 << 20], short)
}

fn udp_datagram(ctx: &Ctx) -> Outcome {
    let msg = b"hello, datagram";
    udp_echoed(ctx, msg, "the datagram was not sent back as it came: sendto() the n bytes recvfrom() returned, to the address recvfrom() filled in")
}

fn udp_echoed(ctx: &Ctx, msg: &[u8], hint: &str) -> Outcome {
    match common::datagram_reply(ctx, msg)? {
        Some(r) if r == msg => Ok(Verdict::Pass),
        Some(r) => Err(Failure::new(preview(msg), preview(&r), preview(msg), hint)),
        None => Err(Failure::new(preview(msg), common::no_datagram(ctx.wait), preview(msg), hint)),
    }
}

fn udp_empty(ctx: &Ctx) -> Outcome {
    udp_echoed(ctx, b"", "an empty datagram got no answer: recvfrom() returning 0 is a datagram of length 0, not an error or end of file (UDP has no connection to end); sendto() it back with length 0")
}

fn udp_large(ctx: &Ctx) -> Outcome {
    let msg: Vec<u8> = (0..MAX_DATAGRAM).map(|i| (i % 251) as u8).collect();
    match common::datagram_reply(ctx, &msg)? {
        Some(r) if r == msg => Ok(Verdict::Pass),
        other => {
            let got = other.map_or_else(|| common::no_datagram(ctx.wait), |r| preview(&r));
            Err(Failure::new(preview(&msg), got, preview(&msg), "a large datagram came back cut or not at all: recvfrom() into a buffer smaller than the datagram silently truncates it (the rest is discarded). Use a 65536-byte buffer, and sendto() the n bytes it returned"))
        }
    }
}

fn udp_one_each(ctx: &Ctx) -> Outcome {
    one_reply_each(ctx, &[b"one", b"two", b"three"], |req, reply| req == reply)
}
