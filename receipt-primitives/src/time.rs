//! UTC timestamps in the one form the protocol admits: `YYYY-MM-DDTHH:MM:SSZ`.

use std::fmt;

/// A UTC instant with one-second resolution, from 0000-01-01 to 9999-12-31.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z (negative before it).
    unix: i64,
}

/// Why a string or number is not a protocol timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The text is not of the form `YYYY-MM-DDTHH:MM:SSZ`.
    #[error("{0:?} is not of the form YYYY-MM-DDTHH:MM:SSZ")]
    Form(String),
    /// The form is right but the date or time does not exist.
    #[error("{0:?} is not a real instant (no such date or time of day)")]
    NotAnInstant(String),
    /// The number of seconds is outside years 0000..=9999.
    #[error("{0} seconds since the epoch is outside the years 0000 to 9999")]
    OutOfRange(i64),
    /// `SOURCE_DATE_EPOCH` is set but is not a decimal number of seconds.
    #[error("SOURCE_DATE_EPOCH={0:?} is not a whole number of seconds since 1970-01-01")]
    SourceDateEpoch(String),
}

const MIN_UNIX: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
const MAX_UNIX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days: exact proleptic Gregorian arithmetic.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl Timestamp {
    /// The instant `unix` seconds after 1970-01-01T00:00:00Z.
    ///
    /// # Errors
    /// [`TimestampError::OutOfRange`] outside the years 0000 to 9999.
    pub fn from_unix(unix: i64) -> Result<Self, TimestampError> {
        if (MIN_UNIX..=MAX_UNIX).contains(&unix) {
            Ok(Timestamp { unix })
        } else {
            Err(TimestampError::OutOfRange(unix))
        }
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix(&self) -> i64 {
        self.unix
    }

    /// The current time, truncated to the second.
    pub fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Timestamp::from_unix(secs.min(MAX_UNIX)).unwrap_or(Timestamp { unix: 0 })
    }

    /// `SOURCE_DATE_EPOCH` when it is set (the reproducible-builds convention), else now.
    ///
    /// # Errors
    /// [`TimestampError::SourceDateEpoch`] when the variable is set but is not an integer,
    /// [`TimestampError::OutOfRange`] when it is out of range.
    pub fn now_or_source_date_epoch() -> Result<Self, TimestampError> {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => {
                let secs: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| TimestampError::SourceDateEpoch(v.clone()))?;
                Timestamp::from_unix(secs)
            }
            Err(_) => Ok(Timestamp::now()),
        }
    }

    /// Parses exactly `YYYY-MM-DDTHH:MM:SSZ` naming a real instant (no leap second `:60`).
    ///
    /// # Errors
    /// [`TimestampError::Form`] or [`TimestampError::NotAnInstant`].
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        let b = s.as_bytes();
        let form_ok = b.len() == 20
            && b.iter().enumerate().all(|(i, &c)| match i {
                4 | 7 => c == b'-',
                10 => c == b'T',
                13 | 16 => c == b':',
                19 => c == b'Z',
                _ => c.is_ascii_digit(),
            });
        if !form_ok {
            return Err(TimestampError::Form(s.to_owned()));
        }
        let num = |r: std::ops::Range<usize>| -> i64 {
            b[r].iter().fold(0, |a, &c| a * 10 + i64::from(c - b'0'))
        };
        let (y, mo, d) = (num(0..4), num(5..7), num(8..10));
        let (h, mi, se) = (num(11..13), num(14..16), num(17..19));
        if !(1..=12).contains(&mo)
            || d < 1
            || d > days_in_month(y, mo)
            || h > 23
            || mi > 59
            || se > 59
        {
            return Err(TimestampError::NotAnInstant(s.to_owned()));
        }
        let unix = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se;
        Timestamp::from_unix(unix)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.unix.div_euclid(86_400);
        let secs = self.unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_instants() {
        let t = Timestamp::parse("2025-09-11T15:00:00Z").unwrap();
        assert_eq!(t.unix(), 1_757_602_800);
        assert_eq!(t.to_string(), "2025-09-11T15:00:00Z");
        assert_eq!(
            Timestamp::from_unix(0).unwrap().to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix(MIN_UNIX).unwrap().to_string(),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix(MAX_UNIX).unwrap().to_string(),
            "9999-12-31T23:59:59Z"
        );
        assert!(Timestamp::from_unix(MAX_UNIX + 1).is_err());
        for unix in (MIN_UNIX..MAX_UNIX).step_by(86_400 * 37 + 3_599) {
            let t = Timestamp::from_unix(unix).unwrap();
            assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        }
        assert!(Timestamp::parse("2024-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn refuses_other_forms_and_impossible_instants() {
        for bad in [
            "2025-09-11T15:00:00",
            "2025-09-11 15:00:00Z",
            "2025-09-11T15:00:00.0Z",
            "2025-09-11T15:00:00+00:00",
            "2025-9-11T15:00:00Z",
            "2025-09-11t15:00:00Z",
            "2025-09-11T15:00:00z",
            "+025-09-11T15:00:00Z",
        ] {
            assert!(
                matches!(Timestamp::parse(bad), Err(TimestampError::Form(_))),
                "{bad}"
            );
        }
        for bad in [
            "2025-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-00-01T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T23:60:00Z",
            "2016-12-31T23:59:60Z",
        ] {
            assert!(
                matches!(Timestamp::parse(bad), Err(TimestampError::NotAnInstant(_))),
                "{bad}"
            );
        }
    }
}
