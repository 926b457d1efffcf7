//! Time (RFC 868): four bytes, the seconds since 1900-01-01 00:00 UTC as a
//! 32-bit big-endian number, then close; over UDP, one such datagram per
//! datagram (the RFC's client sends an empty one).

use std::time::SystemTime;

use super::common::{self, closes_after_reply, on_connect, one_reply_each};
use super::{preview, received, Check, Ctx, Failure, Outcome, Verdict};
use crate::service::rfc868_time;

/// The time checks, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    Check {
        name: "time.tcp.four-bytes",
        rule: "on connect, the server sends exactly 4 bytes",
        cite: "RFC 868",
        hostile: false,
        run: four_bytes,
    },
    Check {
        name: "time.tcp.clock",
        rule: "the 4 bytes are the seconds since 1900, big-endian, within 5 s of the clock",
        cite: "RFC 868",
        hostile: false,
        run: clock,
    },
    Check {
        name: "time.tcp.close",
        rule: "after the 4 bytes, the server closes the connection",
        cite: "RFC 868",
        hostile: false,
        run: close,
    },
    Check {
        name: "time.tcp.concurrent",
        rule: "a second client is answered while a first one is connected and idle",
        cite: "RFC 868; UNP ch. 5",
        hostile: false,
        run: concurrent,
    },
    Check {
        name: "time.udp.empty",
        rule: "an empty datagram is answered with the 4 bytes",
        cite: "RFC 868",
        hostile: false,
        run: udp_empty,
    },
    Check {
        name: "time.udp.clock",
        rule: "the reply's 4 bytes are the seconds since 1900, big-endian, within 5 s",
        cite: "RFC 868",
        hostile: false,
        run: udp_clock,
    },
    Check {
        name: "time.udp.one-reply-each",
        rule: "three datagrams back to back (any content) get three 4-byte replies",
        cite: "RFC 868",
        hostile: false,
        run: udp_one_each,
    },
];

/// Allowed distance from the probe's clock.
const SLACK: u32 = 5;

fn now() -> u32 {
    u32::from_be_bytes(rfc868_time(SystemTime::now()))
}

/// How far a 4-byte reply is from the clock, read as the RFC says (big-endian).
fn distance(r: &[u8]) -> Option<u32> {
    let v = u32::from_be_bytes(r.try_into().ok()?);
    let n = now();
    Some(v.wrapping_sub(n).min(n.wrapping_sub(v)))
}

fn four_bytes(ctx: &Ctx) -> Outcome {
    let r = on_connect(ctx)?;
    if r.data.len() == 4 {
        return Ok(Verdict::Pass);
    }
    let hint = match r.data.len() {
        0 => "no bytes: write the 4-byte value as soon as accept() returns",
        8 => "8 bytes: the value was sent as a 64-bit time_t; RFC 868 sends a uint32_t (seconds since 1900 fit in 32 bits until 2036)",
        _ => "the time is 4 binary bytes, not text: uint32_t t = htonl((uint32_t)(time(NULL) + 2208988800U)); write(fd, &t, 4)",
    };
    Err(Failure::new("nothing (connect and read)", received(&r, ctx.wait), "exactly 4 bytes", hint))
}

fn judge_clock(sent: &str, r: &[u8]) -> Outcome {
    let want =
        format!("about {} (now, big-endian), within {SLACK} s", preview(&now().to_be_bytes()));
    let Some(off) = distance(r) else {
        return Ok(Verdict::Skip(format!(
            "the reply is {} bytes, not 4 (see four-bytes)",
            r.len()
        )));
    };
    if off <= SLACK {
        return Ok(Verdict::Pass);
    }
    let swapped: [u8; 4] = [r[3], r[2], r[1], r[0]];
    let hint = if distance(&swapped).is_some_and(|o| o <= SLACK) {
        "the bytes are in the wrong order (little-endian): convert with htonl() before write(), so the most significant byte goes first (network byte order)".to_string()
    } else if (i64::from(off) - 2_208_988_800).abs() <= i64::from(SLACK) {
        "the value counts from 1970 (Unix time): RFC 868 counts from 1900; add 2208988800 seconds"
            .to_string()
    } else {
        format!("the value is {off} s away from the clock: send time(NULL) + 2208988800, as a big-endian uint32_t")
    };
    Err(Failure::new(sent, preview(r), want, hint))
}

fn clock(ctx: &Ctx) -> Outcome {
    let r = on_connect(ctx)?;
    judge_clock("nothing (connect and read)", &r.data)
}

fn close(ctx: &Ctx) -> Outcome {
    closes_after_reply(ctx, "time")
}

fn concurrent(ctx: &Ctx) -> Outcome {
    common::answers_while_one_idles(ctx, "the 4 bytes")
}

fn udp_empty(ctx: &Ctx) -> Outcome {
    common::answered(
        ctx,
        b"",
        "one datagram of 4 bytes",
        |r| r.len() == 4,
        "the reply is not 4 bytes: sendto() the uint32_t itself, 4 bytes, in network byte order",
    )
}

fn udp_clock(ctx: &Ctx) -> Outcome {
    match common::datagram_reply(ctx, b"")? {
        Some(r) => judge_clock("\"\" (0 bytes)", &r),
        None => {
            Ok(Verdict::Skip(format!("{} (see time.udp.empty)", common::no_datagram(ctx.wait))))
        }
    }
}

fn udp_one_each(ctx: &Ctx) -> Outcome {
    one_reply_each(ctx, &[b"1", b"2", b"3"], |_, r| r.len() == 4)
}
