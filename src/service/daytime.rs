//! Daytime (RFC 867): one line of human-readable date and time, then close.
//!
//! The RFC's first suggested syntax is `Weekday, Month Day, Year HH:MM:SS-Zone`;
//! sockref always answers in UTC, e.g. `Sunday, November 22, 2026 10:15:30-UTC`.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Reply, Service};
use crate::net::Endpoint;
use crate::server::Conn;

const WEEKDAYS: [&str; 7] =
    ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Converts days since 1970-01-01 to a (year, month 1-12, day 1-31) date in
/// the proleptic Gregorian calendar. Counts in 400-year eras (146,097 days)
/// with years starting on 1 March, so the leap day falls at a year's end.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153; // month counted from March = 0
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The daytime line for `now`, CRLF included.
pub fn daytime_line(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 4 counting from Sunday).
    let weekday = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
    format!(
        "{weekday}, {} {day}, {year} {:02}:{:02}:{:02}-UTC\r\n",
        MONTHS[month as usize - 1],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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
    use std::time::Duration;

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

    #[test]
    fn agrees_with_a_day_by_day_count() {
        let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
        for days in 0..200_000i64 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            d += 1;
            if d > len[m as usize - 1] {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
