//! Discard (RFC 863): "simply throw away any data received"; never a reply.

use super::common::{self, while_one_idles};
use super::{preview, received, Check, Ctx, Failure, Outcome, Verdict};
use crate::client::End;

/// The discard checks, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    Check {
        name: "discard.tcp.silent",
        rule: "data sent gets no reply; after shutdown(SHUT_WR) the server closes",
        cite: "RFC 863",
        hostile: false,
        run: silent,
    },
    Check {
        name: "discard.tcp.large",
        rule: "1 MiB is read and thrown away: the client's writes all complete",
        cite: "RFC 863",
        hostile: false,
        run: large,
    },
    Check {
        name: "discard.tcp.concurrent",
        rule: "a second client is served while a first one is connected and idle",
        cite: "RFC 863; UNP ch. 5",
        hostile: false,
        run: concurrent,
    },
    Check {
        name: "discard.udp.silent",
        rule: "a datagram gets no reply",
        cite: "RFC 863",
        hostile: false,
        run: udp_silent,
    },
];

fn silent(ctx: &Ctx) -> Outcome {
    let msg = b"throw this away\r\n";
    let r = common::exchange(ctx, msg, true)?;
    let sent = format!("{}, then shutdown(SHUT_WR)", preview(msg));
    if r.data.is_empty() && r.end == End::Eof {
        return Ok(Verdict::Pass);
    }
    let hint = if !r.data.is_empty() {
        "discard answered: RFC 863 sends nothing back; read() and drop the bytes, never write()"
    } else if r.end == End::Reset {
        "the server reset the connection: close() with unread input sends RST; read until read() returns 0, then close()"
    } else {
        "the server never closed after the client's shutdown(SHUT_WR): when read() returns 0 the client is done; close() then"
    };
    Err(Failure::new(sent, received(&r, ctx.wait), "nothing, then the server's close", hint))
}

fn large(ctx: &Ctx) -> Outcome {
    let s = ctx.connect()?;
    let chunk = vec![b'd'; 64 * 1024];
    let mut sent = 0usize;
    for _ in 0..16 {
        if let Err(e) = s.write_all(&chunk) {
            return Err(Failure::new(
                format!("1 MiB in 64 KiB writes ({sent} bytes sent so far)"),
                e.to_string(),
                "every write() to complete: the server reads and drops",
                "the server stopped reading: a discard server must keep calling read() until it returns 0, whatever arrives; a write() here blocks once the server's receive buffer is full",
            ));
        }
        sent += chunk.len();
    }
    s.shutdown_write()?;
    let r = s.read_to_end(ctx.wait);
    if r.data.is_empty() && r.end == End::Eof {
        return Ok(Verdict::Pass);
    }
    Err(Failure::new(
        "1 MiB in 64 KiB writes, then shutdown(SHUT_WR)",
        received(&r, ctx.wait),
        "nothing, then the server's close",
        "after 1 MiB the server did not close cleanly: read() in a loop until it returns 0, then close()",
    ))
}

/// The second client of the concurrency check: its input is read to the
/// end and the connection closed (whether a reply came is silent's rule).
fn served(ctx: &Ctx) -> Outcome {
    let msg = b"second client\r\n";
    let r = common::exchange(ctx, msg, true)?;
    if r.end == End::Eof {
        return Ok(Verdict::Pass);
    }
    Err(Failure::new(
        format!("{}, then shutdown(SHUT_WR)", preview(msg)),
        received(&r, ctx.wait),
        "the server's close",
        common::ITERATIVE,
    ))
}

fn concurrent(ctx: &Ctx) -> Outcome {
    while_one_idles(ctx, served)
}

fn udp_silent(ctx: &Ctx) -> Outcome {
    let msg = b"throw this datagram away";
    let mut d = ctx.datagram()?;
    d.send(msg)?;
    match d.recv(ctx.quiet)? {
        None => Ok(Verdict::Pass),
        Some(r) => Err(Failure::new(
            preview(msg),
            preview(&r),
            "no datagram back",
            "discard answered a datagram: RFC 863 throws datagrams away; recvfrom() and never sendto()",
        )),
    }
}
