//! The calendar the services that tell the time share: daytime (RFC 867)
//! writes the date for people, HTTP's `Date` field (RFC 9110 §5.6.7) for
//! programs. Both in UTC, from the system clock's seconds since 1970.

use std::time::{SystemTime, UNIX_EPOCH};

/// Weekday names, Sunday first. HTTP uses their first three letters.
pub const WEEKDAYS: [&str; 7] =
    ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// Month names, January first. HTTP uses their first three letters.
pub const MONTHS: [&str; 12] = [
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

/// A moment of UTC, as a calendar and a clock show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    /// The year (proleptic Gregorian).
    pub year: i64,
    /// 1-12.
    pub month: u32,
    /// 1-31.
    pub day: u32,
    /// 0 = Sunday, as [`WEEKDAYS`] counts.
    pub weekday: usize,
    /// Seconds since midnight.
    pub second_of_day: u64,
}

impl Utc {
    /// The moment `now` (a time before 1970 reads as 1970-01-01).
    pub fn at(now: SystemTime) -> Utc {
        Utc::from_unix(now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    /// The moment `secs` seconds after 1970-01-01 00:00:00 UTC.
    pub fn from_unix(secs: u64) -> Utc {
        let days = (secs / 86_400) as i64;
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday (index 4 counting from Sunday).
        let weekday = (days + 4).rem_euclid(7) as usize;
        Utc { year, month, day, weekday, second_of_day: secs % 86_400 }
    }

    /// Hours, minutes and seconds since midnight.
    pub fn hms(&self) -> (u64, u64, u64) {
        let s = self.second_of_day;
        (s / 3600, s % 3600 / 60, s % 60)
    }
}

/// Converts days since 1970-01-01 to a (year, month 1-12, day 1-31) date in
/// the proleptic Gregorian calendar. Counts in 400-year eras (146,097 days)
/// with years starting on 1 March, so the leap day falls at a year's end.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
