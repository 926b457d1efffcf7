//! Character generator (RFC 864): a stream of characters until the client
//! closes, input ignored; over UDP, one datagram of 0 to 512 characters per
//! datagram. The RFC lets the data be anything and recommends "one popular
//! pattern" (72-character lines of the 95 printable characters, each line
//! one character on): a server that starts that pattern must keep it;
//! another pattern is allowed and only noted.

use super::common::{self, after_a_reset, one_reply_each, read_some, while_one_idles};
use super::{around, first_difference, preview, received, Check, Ctx, Failure, Outcome, Verdict};
use crate::client::End;
use crate::service::{chargen_pattern, CHARGEN_UDP_LEN};

/// The chargen checks, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    Check {
        name: "chargen.tcp.client-close",
        rule: "a client closing mid-stream (the normal end) leaves the server serving the next (runs first: every other check ends that way)",
        cite: "RFC 864; RFC 9293 §3.10.7.4",
        hostile: false,
        run: client_close,
    },
    Check {
        name: "chargen.tcp.streams",
        rule: "the server sends without being asked and keeps sending (64 KiB, no close)",
        cite: "RFC 864",
        hostile: false,
        run: streams,
    },
    Check {
        name: "chargen.tcp.pattern",
        rule: "a stream that starts the RFC's pattern keeps it: 72 characters a line, CRLF, each line one character on, wrapping after '~'",
        cite: "RFC 864",
        hostile: false,
        run: pattern,
    },
    Check {
        name: "chargen.tcp.ignores-input",
        rule: "data the client sends is thrown away; the stream goes on",
        cite: "RFC 864",
        hostile: false,
        run: ignores_input,
    },
    Check {
        name: "chargen.tcp.concurrent",
        rule: "a second client gets characters while a first one is connected and not reading",
        cite: "RFC 864; UNP ch. 5",
        hostile: false,
        run: concurrent,
    },
    Check {
        name: "chargen.udp.size",
        rule: "a datagram is answered with one datagram of 0 to 512 characters",
        cite: "RFC 864",
        hostile: false,
        run: udp_size,
    },
    Check {
        name: "chargen.udp.empty",
        rule: "an empty datagram is answered too (its content is ignored)",
        cite: "RFC 864",
        hostile: false,
        run: udp_empty,
    },
    Check {
        name: "chargen.udp.sockref-reply",
        rule: "sockref's choice: the first 512 bytes of the pattern, every time (RFC 864 allows any 0-512)",
        cite: "sockref",
        hostile: false,
        run: udp_sockref_reply,
    },
    Check {
        name: "chargen.udp.one-reply-each",
        rule: "three datagrams back to back get three replies",
        cite: "RFC 864",
        hostile: false,
        run: udp_one_each,
    },
];

/// One line of the pattern: 72 characters and CRLF.
const LINE: usize = 74;
/// 96 lines: the whole 95-line cycle and its first line again (the wrap).
const CYCLE_AND_ONE: usize = 96 * LINE;

fn streams(ctx: &Ctx) -> Outcome {
    let want = 64 * 1024;
    let r = read_some(ctx, want)?;
    if r.end == End::Enough {
        return Ok(Verdict::Pass);
    }
    Err(Failure::new(
        "nothing (connect and read)",
        received(&r, ctx.wait),
        "65536 bytes or more, the connection still open",
        "chargen must keep writing until the client closes: write() the pattern in a loop, and stop only when write() fails with EPIPE or ECONNRESET (the client left)",
    ))
}

fn pattern(ctx: &Ctx) -> Outcome {
    let r = read_some(ctx, CYCLE_AND_ONE)?;
    let want = chargen_pattern(CYCLE_AND_ONE);
    if r.data == want {
        return Ok(Verdict::Pass);
    }
    if r.data.len() < 72 || r.data[..72] != want[..72] {
        if r.data.is_empty() {
            return Err(Failure::new(
                "nothing (connect and read)",
                received(&r, ctx.wait),
                "the character stream",
                "nothing arrived: chargen writes as soon as the connection is accepted, without waiting for input",
            ));
        }
        return Ok(Verdict::Note(format!(
            "the stream starts {} rather than the RFC's popular pattern (allowed: \"the data may be anything\")",
            preview(&r.data[..r.data.len().min(40)])
        )));
    }
    let Some(at) = first_difference(&r.data, &want) else {
        return Err(Failure::new(
            "nothing (connect and read)",
            received(&r, ctx.wait),
            format!("{} bytes: 96 lines of the pattern", want.len()),
            "the stream stopped early: keep writing until the client closes",
        ));
    };
    let (line, col) = (at / LINE, at % LINE);
    Err(Failure::new(
        "nothing (connect and read)",
        format!("line {line}, column {col} differs: {}", around(&r.data, &want, at)),
        "line N = ring characters N .. N+71 (mod 95, ring 0 = ' ', 94 = '~'), then CRLF",
        "the pattern went wrong after a good start: each line is 72 characters then \"\\r\\n\" (74 bytes); line N starts at ring character N mod 95; inside a line use (N + i) % 95, not % 94 or a wrap at a fixed column. There are 95 printable characters, ' ' (0x20) to '~' (0x7e)",
    ))
}

fn ignores_input(ctx: &Ctx) -> Outcome {
    let s = ctx.connect()?;
    let first = s.read_until(1024, ctx.wait);
    let input = b"please ignore this\r\n";
    s.write_all(input)?;
    let after = s.read_until(32 * 1024, ctx.wait);
    if first.end == End::Enough && after.end == End::Enough {
        return Ok(Verdict::Pass);
    }
    Err(Failure::new(
        format!("nothing, then (after 1024 bytes came) {}", preview(input)),
        format!("before: {}; after: {}", received(&first, ctx.wait), received(&after, ctx.wait)),
        "the stream to go on: 32 KiB more after the input",
        "the server reacted to input: RFC 864 throws it away. Do not read() the client to decide when to write (a read() blocks while the client is silent), and do not stop when data arrives",
    ))
}

fn served(ctx: &Ctx) -> Outcome {
    let r = read_some(ctx, 1024)?;
    if r.end == End::Enough {
        return Ok(Verdict::Pass);
    }
    Err(Failure::new(
        "nothing (connect and read)",
        received(&r, ctx.wait),
        "1024 bytes of characters",
        "the next client got no characters",
    ))
}

fn client_close(ctx: &Ctx) -> Outcome {
    after_a_reset(ctx, b"", served)
}

fn concurrent(ctx: &Ctx) -> Outcome {
    while_one_idles(ctx, served)
}

/// The RFC's bound on a UDP reply, and sockref's exact one.
const UDP_MAX: usize = 512;

fn size_ok(r: &[u8]) -> bool {
    r.len() <= UDP_MAX
}

fn udp_reply(ctx: &Ctx, request: &[u8]) -> Outcome {
    match common::datagram_reply(ctx, request)? {
        Some(r) if size_ok(&r) => Ok(Verdict::Pass),
        Some(r) => Err(Failure::new(
            preview(request),
            preview(&r),
            "one datagram of 0 to 512 characters",
            "the reply is longer than RFC 864 allows: cap a UDP chargen reply at 512 bytes",
        )),
        None => Err(Failure::new(
            preview(request),
            common::no_datagram(ctx.wait),
            "one datagram of 0 to 512 characters",
            "no answer: a UDP chargen server answers every datagram, whatever it holds (an empty one too: recvfrom() returning 0 is a datagram), with one sendto() to the address recvfrom() filled in",
        )),
    }
}

fn udp_size(ctx: &Ctx) -> Outcome {
    udp_reply(ctx, b"chargen, please")
}

fn udp_empty(ctx: &Ctx) -> Outcome {
    // Whether the reply's length is right is udp.size's rule.
    common::answered(ctx, b"", "one datagram", |_| true, "")
}

fn udp_sockref_reply(ctx: &Ctx) -> Outcome {
    let want = chargen_pattern(CHARGEN_UDP_LEN);
    match common::datagram_reply(ctx, b"chargen, please")? {
        Some(r) if r == want => Ok(Verdict::Pass),
        Some(r) => Ok(Verdict::Note(format!(
            "the reply is {}, not sockref's first 512 bytes of the pattern (RFC 864 allows any 0 to 512 characters)",
            preview(&r)
        ))),
        None => Ok(Verdict::Skip("no reply to compare (see chargen.udp.size)".into())),
    }
}

fn udp_one_each(ctx: &Ctx) -> Outcome {
    one_reply_each(ctx, &[b"one", b"two", b"three"], |_, _| true)
}
