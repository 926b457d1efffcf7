//! Writing a response head (RFC 9112 §4, §6; RFC 9110 §6.6, §15) into the
//! connection's output buffer: status line, `Server`, `Date`, the body's
//! length and type, and whether the connection stays.
//!
//! Nothing here allocates: the head is appended to a buffer the connection
//! keeps, and the `Date` value is made once a second per worker thread.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::clock::{Utc, MONTHS, WEEKDAYS};

/// The statuses this server answers with (RFC 9110 §15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 101: the WebSocket handshake succeeded (RFC 9110 §15.2.2).
    SwitchingProtocols,
    /// 200.
    Ok,
    /// 400: the request is malformed (RFC 9110 §15.5.1).
    BadRequest,
    /// 403: understood and refused (§15.5.4).
    Forbidden,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists, not for this method; says `Allow` (§15.5.6).
    MethodNotAllowed,
    /// 408: the request head did not arrive in time (§15.5.9).
    RequestTimeout,
    /// 421: the request names a host this server does not answer for
    /// (§15.5.20).
    MisdirectedRequest,
    /// 413: the body is over the limit (§15.5.14).
    ContentTooLarge,
    /// 414: the request line is over the limit (§15.5.15).
    UriTooLong,
    /// 417: an `Expect` other than `100-continue` (§15.5.18).
    ExpectationFailed,
    /// 426: this resource needs a protocol upgrade (§15.5.22).
    UpgradeRequired,
    /// 431: the header section is over the limit (RFC 6585 §5).
    FieldsTooLarge,
    /// 501: an unknown method or transfer coding (§15.6.2).
    NotImplemented,
    /// 503: the server cannot take this request now (§15.6.4): every
    /// worker is busy, or the watch page has one viewer too many.
    ServiceUnavailable,
    /// 505: an HTTP version other than 1.0 and 1.1 (§15.6.6).
    VersionNotSupported,
}

impl Status {
    /// The status line's code and reason phrase.
    pub fn line(self) -> &'static str {
        match self {
            Status::SwitchingProtocols => "101 Switching Protocols",
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::Forbidden => "403 Forbidden",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::RequestTimeout => "408 Request Timeout",
            Status::MisdirectedRequest => "421 Misdirected Request",
            Status::ContentTooLarge => "413 Content Too Large",
            Status::UriTooLong => "414 URI Too Long",
            Status::ExpectationFailed => "417 Expectation Failed",
            Status::UpgradeRequired => "426 Upgrade Required",
            Status::FieldsTooLarge => "431 Request Header Fields Too Large",
            Status::NotImplemented => "501 Not Implemented",
            Status::ServiceUnavailable => "503 Service Unavailable",
            Status::VersionNotSupported => "505 HTTP Version Not Supported",
        }
    }

    /// The numeric code.
    pub fn code(self) -> u16 {
        let d = self.line().as_bytes();
        u16::from(d[0] - b'0') * 100 + u16::from(d[1] - b'0') * 10 + u16::from(d[2] - b'0')
    }
}

/// What the response says about the connection (RFC 9112 §9.3, §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persist {
    /// Nothing: HTTP/1.1's default, the connection stays.
    Default,
    /// `Connection: keep-alive`: an HTTP/1.0 client asked for it.
    KeepAlive,
    /// `Connection: close`: this is the last response on the connection.
    Close,
}

/// Appends a response head to `out`: status line, `Server`, `Date`, the
/// `Content-Type` (when there is a body), `Content-Length`, `Connection`
/// when needed, any `extra` field lines (each ending in CRLF), and the
/// empty line. The body, if any, follows it; a HEAD response sends the
/// same head with no body (RFC 9110 §9.3.2).
pub fn head(
    out: &mut Vec<u8>,
    status: Status,
    content_type: Option<&str>,
    length: usize,
    persist: Persist,
    extra: &[u8],
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.line().as_bytes());
    out.extend_from_slice(b"\r\n");
    server_and_date(out);
    if let Some(t) = content_type {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(t.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    decimal(out, length);
    out.extend_from_slice(match persist {
        Persist::Default => b"\r\n".as_slice(),
        Persist::KeepAlive => b"\r\nConnection: keep-alive\r\n",
        Persist::Close => b"\r\nConnection: close\r\n",
    });
    out.extend_from_slice(extra);
    out.extend_from_slice(b"\r\n");
}

/// Appends the two fields every response carries: `Server` and `Date`
/// (RFC 9110 §10.2.4, §6.6.1), each with its CRLF.
pub fn server_and_date(out: &mut Vec<u8>) {
    out.extend_from_slice(b"Server: sockref\r\nDate: ");
    date(out);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal.
fn decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
const DATE_LEN: usize = 29;

thread_local! {
    /// This worker's last `Date` value and the second it was made for:
    /// a server answering thousands of requests a second formats it once.
    static DATE: Cell<(u64, [u8; DATE_LEN])> = const { Cell::new((u64::MAX, [0; DATE_LEN])) };
}

/// Appends the current time as an IMF-fixdate (RFC 9110 §5.6.7), the one
/// form a `Date` field may take (§6.6.1).
fn date(out: &mut Vec<u8>) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (second, mut text) = DATE.get();
    if second != now {
        text = imf_fixdate(now);
        DATE.set((now, text));
    }
    out.extend_from_slice(&text);
}

/// Formats seconds since 1970 as an IMF-fixdate.
pub fn imf_fixdate(secs: u64) -> [u8; DATE_LEN] {
    let utc = Utc::from_unix(secs);
    let mut t = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    t[..3].copy_from_slice(&WEEKDAYS[utc.weekday].as_bytes()[..3]);
    let two = |t: &mut [u8], at: usize, n: u64| {
        t[at] = b'0' + (n / 10 % 10) as u8;
        t[at + 1] = b'0' + (n % 10) as u8;
    };
    two(&mut t, 5, u64::from(utc.day));
    t[8..11].copy_from_slice(&MONTHS[utc.month as usize - 1].as_bytes()[..3]);
    let year = utc.year.clamp(0, 9999) as u64;
    two(&mut t, 12, year / 100);
    two(&mut t, 14, year % 100);
    let (h, m, s) = utc.hms();
    two(&mut t, 17, h);
    two(&mut t, 20, m);
    two(&mut t, 23, s);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_imf_fixdate() {
        // RFC 9110 §5.6.7's own example.
        assert_eq!(&imf_fixdate(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&imf_fixdate(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn a_head_with_every_field() -> Result<(), Box<dyn std::error::Error>> {
        let mut out = Vec::new();
        head(
            &mut out,
            Status::MethodNotAllowed,
            Some("text/plain"),
            1234,
            Persist::Close,
            b"Allow: GET\r\n",
        );
        let text = String::from_utf8(out)?;
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\nServer: sockref\r\nDate: "),
            "{text}"
        );
        assert!(text.ends_with(
            " GMT\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\nConnection: close\r\nAllow: GET\r\n\r\n"
        ));
        assert_eq!(Status::FieldsTooLarge.code(), 431);
        let mut out = Vec::new();
        decimal(&mut out, 0);
        decimal(&mut out, usize::MAX);
        assert_eq!(out, format!("0{}", usize::MAX).into_bytes());
        Ok(())
    }
}
