//! Daytime (RFC 867): one line of human-readable date and time, then close.
//!
//! The RFC's first suggested syntax is `Weekday, Month Day, Year HH:MM:SS-Zone`;
//! sockref always answers in UTC, e.g. `Sunday, November 22, 2026 10:15:30-UTC`.

use std::io::{self, Write};
use std::time::SystemTime;

use super::{Reply, Service};
use crate::clock::{Utc, MONTHS, WEEKDAYS};
use crate::net::Endpoint;
use crate::server::Conn;

/// The daytime line for `now`, CRLF included.
pub fn daytime_line(now: SystemTime) -> String {
    let t = Utc::at(now);
    let (h, m, s) = t.hms();
    let (weekday, month) = (WEEKDAYS[t.weekday], MONTHS[t.month as usize - 1]);
    format!("{weekday}, {month} {}, {} {h:02}:{m:02}:{s:02}-UTC\r\n", t.day, t.year)
}

/// Daytime: writes the line and closes; over UDP, answers any datagram with it.
pub struct Daytime;

impl Service for Daytime {
    fn name(&self) -> &str {
        "daytime"
    }

    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        conn.write_all(daytime_line(SystemTime::now()).as_bytes())
    }

    fn serve_datagram(&self, _request: &[u8], _peer: &Endpoint, reply: &mut Vec<u8>) -> Reply {
        reply.extend_from_slice(daytime_line(SystemTime::now()).as_bytes());
        Reply::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(unix: u64) -> String {
        daytime_line(UNIX_EPOCH + Duration::from_secs(unix))
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(at(0), "Thursday, January 1, 1970 00:00:00-UTC\r\n");
        // 2026-11-22T10:15:30Z
        assert_eq!(at(1_795_342_530), "Sunday, November 22, 2026 10:15:30-UTC\r\n");
        // Leap day 2024-02-29T23:59:59Z
        assert_eq!(at(1_709_251_199), "Thursday, February 29, 2024 23:59:59-UTC\r\n");
        // 2000-03-01T00:00:00Z (2000 was a leap year: divisible by 400)
        assert_eq!(at(951_868_800), "Wednesday, March 1, 2000 00:00:00-UTC\r\n");
    }
}
