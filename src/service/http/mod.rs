//! HTTP/1.1 (RFC 9112, RFC 9110): still what happens between `accept()`
//! and `close()`. Each request is bytes that one or more `read()`s bring
//! in; each response is bytes one `write()` sends out; the trace shows
//! both.
//!
//! The routes (the TechEmpower plaintext and json tests, and two for
//! learning):
//!
//! | request | response |
//! |---|---|
//! | GET/HEAD `/plaintext` | 200 `text/plain`: `Hello, World!` |
//! | GET/HEAD `/json` | 200 `application/json`: `{"message":"Hello, World!"}` |
//! | GET/HEAD `/` | 200 `text/plain`: the request head exactly as read |
//! | POST `/echo` | 200 `application/octet-stream`: the request body |
//! | OPTIONS `*` | 200, no body: `Allow` names the methods some route takes |
//!
//! Another method on one of those paths gets 405, any other path 404.
//! Error responses carry a short `text/plain; charset=utf-8` body naming
//! the rule (and its RFC section, `§` included).
//! A malformed or oversized request gets its 4xx/5xx and the connection is
//! closed (the limits are in `limits`, the rules in [`head`] and `body`).
//!
//! Pipelining (RFC 9112 §9.3.2): the responses to every request that one
//! `read()` brought in are gathered in one buffer and sent with one
//! `write()`, in order, before the worker waits for more input. The
//! plaintext path allocates nothing per request: the input, output and
//! field buffers live as long as the connection.

use std::io::{self, Write};
use std::time::Instant;

use super::Service;
use crate::limits::{HTTP_INPUT_BUF, HTTP_INPUT_FIRST};
use crate::net::Outcome;
use crate::server::Conn;

mod body;
pub mod head;
pub mod response;

use body::{Input, Stop};
use head::{reject, Field, Framing, Head, Method, Reject, Scanner};
use response::{Persist, Status};

/// The HTTP/1.1 service.
pub struct Http;

/// A route: a path, the methods it allows (for `Allow`), and what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Plaintext,
    Json,
    ShowHead,
    Echo,
    /// `OPTIONS *`: the server as a whole (RFC 9110 §9.3.7).
    Server,
}

/// The one table of routes.
const ROUTES: [(&[u8], Route); 5] = [
    (b"/plaintext", Route::Plaintext),
    (b"/json", Route::Json),
    (b"/", Route::ShowHead),
    (b"/echo", Route::Echo),
    (b"*", Route::Server),
];

/// What `OPTIONS *` says the server takes: every method some route allows.
const ALLOW_ALL: &[u8] = b"Allow: GET, HEAD, POST, OPTIONS\r\n";

/// The type of every error body. The reasons cite RFC sections with `§`,
/// which is not ASCII: without the charset a browser guesses Latin-1 and
/// shows `Â§` (RFC 9110 §8.3.2: the charset parameter names the encoding).
const ERROR_TYPE: &str = "text/plain; charset=utf-8";

/// The body of `GET /plaintext` (`sockref check` expects it from here).
pub(crate) const PLAINTEXT: &[u8] = b"Hello, World!";
/// The body of `GET /json` (`sockref check` expects it from here).
pub(crate) const JSON: &[u8] = br#"{"message":"Hello, World!"}"#;

/// Flush gathered responses once they reach this much, rather than
/// holding a whole pipelined batch of large echoes.
const FLUSH_AT: usize = 64 * 1024;

/// One connection's buffers, kept from request to request.
pub(crate) struct Wire {
    input: Input,
    /// Responses not yet written.
    out: Vec<u8>,
    /// The current request's field lines.
    fields: Vec<Field>,
    /// The current request's body.
    body: Vec<u8>,
    /// The current request's head, for the route that shows it.
    shown: Vec<u8>,
}

/// What waiting for the next request gave.
pub(crate) enum Next {
    /// A complete, valid head; its bytes are [`Wire::head_bytes`].
    Head(Head),
    /// The client closed (or half-closed) between requests.
    Closed,
    /// The head is malformed, too large or too slow: answer and close.
    Refused(Reject),
}

impl Wire {
    pub(crate) fn new() -> Wire {
        Wire {
            input: Input::new(HTTP_INPUT_FIRST, HTTP_INPUT_BUF),
            out: Vec::new(),
            fields: Vec::new(),
            body: Vec::new(),
            shown: Vec::new(),
        }
    }

    /// The bytes the head was parsed from (valid until the head is consumed).
    pub(crate) fn head_bytes(&self) -> &[u8] {
        self.input.data()
    }

    /// The head's field lines, as (name, value) byte slices.
    pub(crate) fn fields(&self) -> Vec<(&[u8], &[u8])> {
        let b = self.input.data();
        self.fields.iter().map(|f| (&b[f.name.clone()], &b[f.value.clone()])).collect()
    }

    /// The bytes after the head (the WebSocket frames that followed it).
    pub(crate) fn after(&self, head: &Head) -> &[u8] {
        &self.input.data()[head.len..]
    }

    /// Writes the responses gathered so far, in one `write()` if the
    /// client keeps up.
    pub(crate) fn flush(&mut self, conn: &mut Conn<'_>) -> io::Result<()> {
        if !self.out.is_empty() {
            conn.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Reads until a whole request head is in the buffer; writes the
    /// responses owed before waiting. The header timeout runs from the
    /// first byte of the head (`limits::Limits::header_timeout`).
    pub(crate) fn next_head(&mut self, conn: &mut Conn<'_>) -> io::Result<Next> {
        let mut timed = false;
        let next = self.read_head(conn, &mut timed);
        // Whatever ended the wait, the head's deadline ends with it: the
        // body, the drain and the next request have limits of their own.
        if timed {
            conn.set_deadline(None, "");
        }
        next
    }

    fn read_head(&mut self, conn: &mut Conn<'_>, timed: &mut bool) -> io::Result<Next> {
        let mut scanner = Scanner::default();
        loop {
            match scanner.scan(self.input.data()) {
                Err(r) => return Ok(Next::Refused(r)),
                Ok(None) => {}
                Ok(Some(len)) => {
                    let head = head::parse(self.input.data(), &scanner, len, &mut self.fields);
                    return Ok(head.map_or_else(Next::Refused, Next::Head));
                }
            }
            self.flush(conn)?;
            if let (false, false, Some(t)) =
                (*timed, self.input.data().is_empty(), conn.limits().header_timeout)
            {
                conn.set_deadline(
                    Instant::now().checked_add(t),
                    "request head not complete within --header-timeout",
                );
                *timed = true;
            }
            match self.input.fill(conn) {
                Ok(0) if self.input.data().is_empty() => return Ok(Next::Closed),
                // RFC 9112 §8: an incomplete message may get an error
                // before the close; say what was missing.
                Ok(0) => {
                    return Ok(Next::Refused(reject(
                        Status::BadRequest,
                        "the input ended inside a request head",
                    )))
                }
                Ok(_) => {}
                // RFC 9110 §15.5.9: a head begun and not finished in time is
                // answered 408; a keep-alive connection that stays silent
                // is closed without a word.
                Err(e) if Outcome::of(&e) == Outcome::TimedOut && !self.input.data().is_empty() => {
                    return Ok(Next::Refused(reject(
                        Status::RequestTimeout,
                        "the request head did not arrive within the header timeout",
                    )));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Answers a refused request with its status and reason, then ends the
    /// connection (RFC 9112 §9.6: `Connection: close`); the server drains
    /// what the client still sends before closing, so the answer arrives.
    pub(crate) fn refuse(&mut self, conn: &mut Conn<'_>, r: Reject) -> io::Result<()> {
        self.error(r.status, r.why, Persist::Close, b"", false);
        self.flush(conn)
    }

    /// Appends an error response: a short text body naming the rule.
    /// For a HEAD request (`head_only`), the same head without the body
    /// (RFC 9110 §9.3.2), so that a kept connection stays in step.
    pub(crate) fn error(
        &mut self,
        status: Status,
        why: &str,
        persist: Persist,
        extra: &[u8],
        head_only: bool,
    ) {
        error(&mut self.out, status, why, persist, extra, !head_only);
    }
}

/// Reads the one request of a connection that serves a single request
/// (the WebSocket handshake, the watch page): the buffers and the head, or
/// `None` when the client left or its request was refused (and answered).
pub(crate) fn one_request(conn: &mut Conn<'_>) -> io::Result<Option<(Wire, Head)>> {
    let mut wire = Wire::new();
    match wire.next_head(conn)? {
        Next::Head(head) => Ok(Some((wire, head))),
        Next::Closed => Ok(None),
        Next::Refused(r) => wire.refuse(conn, r).map(|()| None),
    }
}

/// Appends an error response to `out`: `STATUS: why` as a text body (its
/// length announced, the body itself left out when not `with_body`).
fn error(
    out: &mut Vec<u8>,
    status: Status,
    why: &str,
    persist: Persist,
    extra: &[u8],
    with_body: bool,
) {
    let len = status.line().len() + 2 + why.len() + 1;
    response::head(out, status, Some(ERROR_TYPE), len, persist, extra);
    for part in [status.line(), ": ", why, "\n"].iter().filter(|_| with_body) {
        out.extend_from_slice(part.as_bytes());
    }
}

impl Service for Http {
    fn name(&self) -> &str {
        "http"
    }

    fn stream_only(&self) -> bool {
        true
    }

    fn busy(&self, reply: &mut Vec<u8>) {
        busy(reply);
    }

    // read() a head -> (read() a body) -> answer; again while the
    // connection persists. Responses wait in `out` while more requests
    // are already in the buffer, so that a pipelined batch gets one write().
    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        let mut wire = Wire::new();
        loop {
            let head = match wire.next_head(conn)? {
                Next::Head(head) => head,
                Next::Closed => return wire.flush(conn),
                Next::Refused(r) => return wire.refuse(conn, r),
            };
            match answer(&mut wire, conn, &head) {
                Ok(()) => {}
                Err(Stop::Refuse(r)) => return wire.refuse(conn, r),
                Err(Stop::Closed) => {
                    let r = reject(Status::BadRequest, "the input ended inside a request body");
                    return wire.refuse(conn, r);
                }
                Err(Stop::Io(e)) => return Err(e),
            }
            if !head.persist {
                // RFC 9112 §9.6: a client that sent `close` sends no more;
                // with nothing unread, no drain is needed before close().
                if wire.input.data().is_empty() {
                    conn.input_complete();
                }
                return wire.flush(conn);
            }
            if wire.out.len() >= FLUSH_AT {
                wire.flush(conn)?;
            }
        }
    }
}

/// The answer to a client turned away unserved: 503 (RFC 9110 §15.6.4),
/// with `Retry-After` saying a second is worth waiting.
pub(crate) fn busy(reply: &mut Vec<u8>) {
    let why = "every worker is busy, or this address has its share; retry";
    error(reply, Status::ServiceUnavailable, why, Persist::Close, b"Retry-After: 1\r\n", true);
}

/// Routes one request, reads its body, and appends the response to `out`.
fn answer(wire: &mut Wire, conn: &mut Conn<'_>, head: &Head) -> Result<(), Stop> {
    let data = wire.input.data();
    let path = match &data[head.path.clone()] {
        b"" => b"/".as_slice(),
        p => p,
    };
    let route = ROUTES.iter().find(|(p, _)| *p == path).map(|(_, r)| *r);
    let allowed = match (route, head.method) {
        (Some(Route::Echo), Method::Post) => true,
        (Some(Route::Echo), _) => false,
        (Some(Route::Server), m) => m == Method::Options,
        (Some(_), Method::Get | Method::Head) => true,
        _ => false,
    };
    // The one route whose answer is the head itself: kept before the body
    // is read, which may move the buffer's contents.
    wire.shown.clear();
    if allowed && route == Some(Route::ShowHead) {
        wire.shown.extend_from_slice(&data[head.raw.clone()]);
    }
    let persist = match (head.persist, head.keep_alive) {
        (false, _) => Persist::Close,
        (true, true) => Persist::KeepAlive,
        (true, false) => Persist::Default,
    };
    let body_len = match head.framing {
        Framing::None => Some(0),
        Framing::Length(n) => Some(n),
        Framing::Chunked => None,
    };
    wire.input.consume(head.len);
    wire.body.clear();
    if body_len != Some(0) {
        body::read(wire, conn, body_len, head.expect_continue)?;
    }
    // HEAD: the same head as GET, no body (RFC 9110 §9.3.2).
    let get = head.method == Method::Get;
    let (ty, body): (&str, &[u8]) = match route {
        _ if !allowed => {
            let (status, why, extra): (_, _, &[u8]) = match route {
                None => {
                    (Status::NotFound, "no such path; try /plaintext, /json, / or POST /echo", b"")
                }
                Some(Route::Echo) => {
                    (Status::MethodNotAllowed, "/echo takes POST", b"Allow: POST\r\n")
                }
                // The parser lets only OPTIONS have the target `*`.
                Some(Route::Server) => {
                    (Status::MethodNotAllowed, "* takes OPTIONS", b"Allow: OPTIONS\r\n")
                }
                Some(_) => (
                    Status::MethodNotAllowed,
                    "this path takes GET or HEAD",
                    b"Allow: GET, HEAD\r\n",
                ),
            };
            wire.error(status, why, persist, extra, head.method == Method::Head);
            return Ok(());
        }
        Some(Route::Plaintext) => ("text/plain", PLAINTEXT),
        Some(Route::Json) => ("application/json", JSON),
        Some(Route::ShowHead) => ("text/plain", &wire.shown),
        // RFC 9110 §9.3.7: no content, so Content-Length: 0 and no type.
        Some(Route::Server) => {
            response::head(&mut wire.out, Status::Ok, None, 0, persist, ALLOW_ALL);
            return Ok(());
        }
        Some(Route::Echo) | None => ("application/octet-stream", &wire.body),
    };
    response::head(&mut wire.out, Status::Ok, Some(ty), body.len(), persist, b"");
    if get || head.method == Method::Post {
        wire.out.extend_from_slice(body);
    }
    Ok(())
}
