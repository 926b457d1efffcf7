//! Daytime (RFC 867): the date and time as an ASCII string, then close.
//! "There is no specific syntax for the daytime": any ASCII line passes;
//! sockref's own format (`daytime_line`) is only noted when it differs.

use std::time::{SystemTime, UNIX_EPOCH};

use super::common::{self, answered, closes_after_reply, on_connect, one_reply_each};
use super::{preview, received, Check, Ctx, Failure, Outcome, Verdict};
use crate::service::daytime_line;

/// The daytime checks, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    Check {
        name: "daytime.tcp.ascii",
        rule: "on connect, the server sends the date and time as ASCII text",
        cite: "RFC 867",
        hostile: false,
        run: ascii,
    },
    Check {
        name: "daytime.tcp.close",
        rule: "after the reply, the server closes the connection",
        cite: "RFC 867",
        hostile: false,
        run: close,
    },
    Check {
        name: "daytime.tcp.current",
        rule: "the time in the reply (HH:MM:SS) is the current time, in some time zone",
        cite: "RFC 867",
        hostile: false,
        run: current,
    },
    Check {
        name: "daytime.tcp.sockref-format",
        rule: "sockref's choice: 'Weekday, Month Day, Year HH:MM:SS-UTC' and CRLF (RFC 867 leaves the syntax free)",
        cite: "sockref; RFC 867",
        hostile: false,
        run: sockref_format,
    },
    Check {
        name: "daytime.tcp.concurrent",
        rule: "a second client is answered while a first one is connected and idle",
        cite: "RFC 867; UNP ch. 5",
        hostile: false,
        run: concurrent,
    },
    Check {
        name: "daytime.udp.ascii",
        rule: "a datagram is answered with the date and time as ASCII text",
        cite: "RFC 867",
        hostile: false,
        run: udp_ascii,
    },
    Check {
        name: "daytime.udp.empty",
        rule: "an empty datagram is answered too (any datagram will do)",
        cite: "RFC 867",
        hostile: false,
        run: udp_empty,
    },
    Check {
        name: "daytime.udp.one-reply-each",
        rule: "three datagrams back to back get three replies",
        cite: "RFC 867",
        hostile: false,
        run: udp_one_each,
    },
];

/// Printable ASCII, space, tab, CR and LF: what RFC 867 recommends, and
/// what "an ASCII character string" can hold without a NUL or a byte > 127.
fn is_ascii_text(r: &[u8]) -> bool {
    !r.is_empty() && r.iter().all(|&b| matches!(b, 0x20..=0x7e | b'\r' | b'\n' | b'\t'))
}

const ASCII_HINT: &str = "the reply is not ASCII text: a NUL or other control byte usually means write(fd, buf, sizeof(buf)) sent the whole buffer; send strlen(buf) bytes (the text, no terminating NUL)";

fn ascii(ctx: &Ctx) -> Outcome {
    let r = on_connect(ctx)?;
    if is_ascii_text(&r.data) {
        return Ok(Verdict::Pass);
    }
    let hint = if r.data.is_empty() {
        "no reply: write the date and time as soon as accept() returns"
    } else {
        ASCII_HINT
    };
    Err(Failure::new(
        "nothing (connect and read)",
        received(&r, ctx.wait),
        "a line of ASCII text",
        hint,
    ))
}

fn close(ctx: &Ctx) -> Outcome {
    closes_after_reply(ctx, "daytime")
}

/// Seconds since midnight of the first `HH:MM:SS` in `text`.
fn clock_in(text: &[u8]) -> Option<i64> {
    text.windows(8).find_map(|w| {
        let d = |i: usize| w[i].is_ascii_digit().then(|| i64::from(w[i] - b'0'));
        if w[2] != b':' || w[5] != b':' {
            return None;
        }
        let (h, m, s) = (d(0)? * 10 + d(1)?, d(3)? * 10 + d(4)?, d(6)? * 10 + d(7)?);
        (h < 24 && m < 60 && s < 61).then_some(h * 3600 + m * 60 + s)
    })
}

/// Allowed distance from the probe's clock, in seconds.
const SLACK: i64 = 5;

fn current(ctx: &Ctx) -> Outcome {
    let r = on_connect(ctx)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let Some(t) = clock_in(&r.data) else {
        return Ok(Verdict::Note(format!(
            "no HH:MM:SS in {} to compare with the clock (RFC 867 leaves the syntax free)",
            preview(&r.data)
        )));
    };
    // Time zones differ from UTC by whole quarter hours: compare modulo 15 min.
    let quarter = 900;
    let off = (t - now.rem_euclid(86_400)).rem_euclid(quarter);
    let off = off.min(quarter - off);
    if off <= SLACK {
        return Ok(Verdict::Pass);
    }
    Err(Failure::new(
        "nothing (connect and read)",
        format!("{} (its clock is {off} s away from this one, in any time zone)", preview(&r.data)),
        format!("the current time, within {SLACK} s"),
        "the time sent is not the current time: call time() (or clock_gettime()) for each connection, not once at start, and format it with localtime()/gmtime() + strftime() (minutes are %M, seconds %S)",
    ))
}

fn sockref_format(ctx: &Ctx) -> Outcome {
    let before = SystemTime::now();
    let r = on_connect(ctx)?;
    let after = SystemTime::now();
    let candidates = [daytime_line(before), daytime_line(after)];
    if candidates.iter().any(|c| c.as_bytes() == r.data) {
        return Ok(Verdict::Pass);
    }
    Ok(Verdict::Note(format!(
        "the reply {} differs from sockref's {} (RFC 867: \"there is no specific syntax for the daytime\")",
        preview(&r.data),
        preview(candidates[1].as_bytes())
    )))
}

fn concurrent(ctx: &Ctx) -> Outcome {
    common::answers_while_one_idles(ctx, "the daytime reply")
}

fn udp_ascii(ctx: &Ctx) -> Outcome {
    answered(ctx, b"what time is it?", "one datagram of ASCII text", is_ascii_text, ASCII_HINT)
}

fn udp_empty(ctx: &Ctx) -> Outcome {
    answered(ctx, b"", "one datagram of ASCII text", is_ascii_text, ASCII_HINT)
}

fn udp_one_each(ctx: &Ctx) -> Outcome {
    one_reply_each(ctx, &[b"one", b"two", b"three"], |_, r| is_ascii_text(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_clock_in_free_formats() {
        assert_eq!(clock_in(b"Sunday, November 22, 2026 10:15:30-UTC\r\n"), Some(36_930));
        assert_eq!(clock_in(b"Sun Dec  6 09:01:02 2026\r\n"), Some(32_462));
        assert_eq!(clock_in(b"no clock here"), None);
    }
}
