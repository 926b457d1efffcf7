//! Hello: the textbook's first server. `char msg[] = "Hello World!";`
//! `write(client, msg, sizeof(msg))`: 13 bytes, the NUL included, then close.

use super::common::{self, closes_after_reply, on_connect, one_reply_each};
use super::{preview, received, Check, Ctx, Failure, Outcome, Verdict};
use crate::service::HELLO_MSG;

/// The hello checks, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    Check {
        name: "hello.tcp.message",
        rule: "on connect, the server sends \"Hello World!\" and its NUL: 13 bytes",
        cite: "textbook hello server",
        hostile: false,
        run: message,
    },
    Check {
        name: "hello.tcp.close",
        rule: "after the message, the server closes the connection",
        cite: "textbook hello server",
        hostile: false,
        run: close,
    },
    Check {
        name: "hello.tcp.concurrent",
        rule: "a second client is greeted while a first one is connected and idle",
        cite: "UNP ch. 5",
        hostile: false,
        run: concurrent,
    },
    Check {
        name: "hello.udp.message",
        rule: "a datagram is answered with the same 13 bytes",
        cite: "textbook hello server",
        hostile: false,
        run: udp_message,
    },
    Check {
        name: "hello.udp.one-reply-each",
        rule: "three datagrams back to back get three replies",
        cite: "textbook hello server",
        hostile: false,
        run: udp_one_each,
    },
];

fn hint_for(got: &[u8]) -> &'static str {
    if got == &HELLO_MSG[..12] {
        "the NUL is missing: sizeof(msg) counts the terminating '\\0' (13), strlen(msg) does not (12). The textbook sends sizeof(msg), and its client prints the buffer with %s, which needs that NUL"
    } else if got.starts_with(&HELLO_MSG[..]) {
        "more than the 13 bytes: write exactly sizeof(msg) bytes, not the size of a larger buffer, and add no newline"
    } else if got.is_empty() {
        "no message: write() it as soon as accept() returns, before any read()"
    } else {
        "not the textbook's message: char msg[] = \"Hello World!\"; write(fd, msg, sizeof(msg))"
    }
}

fn message(ctx: &Ctx) -> Outcome {
    let r = on_connect(ctx)?;
    if r.data == HELLO_MSG {
        return Ok(Verdict::Pass);
    }
    Err(Failure::new(
        "nothing (connect and read)",
        received(&r, ctx.wait),
        preview(HELLO_MSG),
        hint_for(&r.data),
    ))
}

fn close(ctx: &Ctx) -> Outcome {
    closes_after_reply(ctx, "hello")
}

fn concurrent(ctx: &Ctx) -> Outcome {
    common::answers_while_one_idles(ctx, &preview(HELLO_MSG))
}

fn udp_message(ctx: &Ctx) -> Outcome {
    let request = b"hello?";
    match common::datagram_reply(ctx, request)? {
        Some(r) if r == HELLO_MSG => Ok(Verdict::Pass),
        Some(r) => {
            Err(Failure::new(preview(request), preview(&r), preview(HELLO_MSG), hint_for(&r)))
        }
        None => Err(Failure::new(
            preview(request),
            common::no_datagram(ctx.wait),
            preview(HELLO_MSG),
            "no answer: sendto() the message to the address recvfrom() filled in",
        )),
    }
}

fn udp_one_each(ctx: &Ctx) -> Outcome {
    one_reply_each(ctx, &[b"one", b"two", b"three"], |_, r| r == HELLO_MSG)
}
