//! Parsing of user-typed quantities: durations (`10`, `10s`, `500ms`, `2m`) and sizes (`10MB`).
//!
//! Both are capped here, where every command-line option and every `reaper.toml` key is read, so
//! no caller has to guard its arithmetic: a deadline `Instant::now() + duration` cannot overflow.

use std::time::Duration;

/// The longest duration reaper accepts (366 days): longer than any wait a person means, and short
/// enough that adding it (or a sum of a few) to the clock can never overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// The largest size reaper accepts (1 TiB).
pub const MAX_SIZE: u64 = 1 << 40;

/// A duration or size the user typed that reaper cannot read.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    /// Not a duration.
    #[error("invalid duration '{0}': use a number of seconds or a unit, e.g. 10, 10s, 500ms, 2m")]
    Duration(String),
    /// A unit repeated or out of order (`1h1h`, `30s1m`): its meaning would be a guess.
    #[error("invalid duration '{0}': each unit may appear once, largest first (e.g. 1h30m, 2m30s)")]
    DurationUnitOrder(String),
    /// Longer than [`MAX_DURATION`].
    #[error("duration '{0}' is too long: the maximum is 366 days (e.g. 366d, 8784h)")]
    DurationTooLong(String),
    /// Not a size.
    #[error("invalid size '{0}': use bytes or a unit, e.g. 1048576, 512KB, 10MB, 1GB")]
    Size(String),
    /// Larger than [`MAX_SIZE`].
    #[error("size '{0}' is too large: the maximum is 1TiB (1024GB)")]
    SizeTooLarge(String),
}

/// Parses `10` (seconds), `10s`, `500ms`, `2m`, `1h`, `1m30s`: each unit at most once, largest
/// first.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UnitError::Duration(text.to_string()));
    }
    let duration = if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only: seconds. A number too long for u64 is still a number, so "too long".
        trimmed
            .parse::<u64>()
            .map_or(Duration::MAX, Duration::from_secs)
    } else {
        check_unit_order(text)?;
        match humantime::parse_duration(trimmed) {
            Ok(duration) => duration,
            Err(humantime::DurationError::NumberOverflow) => Duration::MAX,
            Err(_) => return Err(UnitError::Duration(text.to_string())),
        }
    };
    capped_duration(duration, text)
}

/// Refuses `1h1h` and `30s1m`, which humantime adds up: a repeated or out-of-order unit is more
/// likely a typo than a sum.
fn check_unit_order(text: &str) -> Result<(), UnitError> {
    let units = text
        .split(|c: char| c.is_ascii_digit() || c.is_whitespace() || c == '.')
        .filter(|unit| !unit.is_empty());
    let mut previous = None;
    for unit in units {
        // A word humantime does not know is its error to report.
        let Some(rank) = unit_rank(unit) else {
            continue;
        };
        if previous.is_some_and(|larger| rank >= larger) {
            return Err(UnitError::DurationUnitOrder(text.trim().to_string()));
        }
        previous = Some(rank);
    }
    Ok(())
}

/// The size order of humantime's unit names (nanoseconds 0 … years 9).
fn unit_rank(unit: &str) -> Option<u8> {
    Some(match unit {
        "nanos" | "nsec" | "ns" => 0,
        "usec" | "us" | "µs" => 1,
        "millis" | "msec" | "ms" => 2,
        "seconds" | "second" | "secs" | "sec" | "s" => 3,
        "minutes" | "minute" | "min" | "mins" | "m" => 4,
        "hours" | "hour" | "hr" | "hrs" | "h" => 5,
        "days" | "day" | "d" => 6,
        "weeks" | "week" | "wk" | "wks" | "w" => 7,
        "months" | "month" | "M" => 8,
        "years" | "year" | "yr" | "yrs" | "y" => 9,
        _ => return None,
    })
}

/// A number of seconds given as a number (a TOML integer), capped like [`parse_duration`].
pub fn duration_from_secs(secs: u64) -> Result<Duration, UnitError> {
    capped_duration(Duration::from_secs(secs), &secs.to_string())
}

fn capped_duration(duration: Duration, text: &str) -> Result<Duration, UnitError> {
    if duration > MAX_DURATION {
        return Err(UnitError::DurationTooLong(text.trim().to_string()));
    }
    Ok(duration)
}

/// Parses a byte size: `1048576`, `512KB`, `10MB`, `1GB` (powers of 1024; `KiB` etc. too).
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    if number.is_empty() {
        return Err(UnitError::Size(text.to_string()));
    }
    // Digits too many for u64 are still a number: "too large", not "invalid".
    let number: u64 = number.parse().unwrap_or(u64::MAX);
    let multiplier: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(UnitError::Size(text.to_string())),
    };
    number
        .checked_mul(multiplier)
        .filter(|bytes| *bytes <= MAX_SIZE)
        .ok_or_else(|| UnitError::SizeTooLarge(trimmed.to_string()))
}

/// Bytes as people read them: `812K`, `14.2M`, `1.1G`.
pub fn format_size(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if b < K * K {
        format!("{:.0}K", b / K)
    } else if b < K * K * K {
        format!("{:.1}M", b / K / K)
    } else {
        format!("{:.1}G", b / K / K / K)
    }
}

/// Formats a duration the way people read uptimes: `850ms`, `42s`, `5m12s`, `3h04m`, `2d03h`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 if duration < Duration::from_millis(10) => {
            format!("{:.1}ms", duration.as_secs_f64() * 1000.0)
        }
        0 => format!("{}ms", duration.as_millis()),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{:02}h", secs / 86400, (secs % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_documented_form() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        for bad in ["", "abc", "-1", "10x"] {
            assert!(
                matches!(parse_duration(bad), Err(UnitError::Duration(_))),
                "{bad} should fail"
            );
        }
    }

    #[test]
    fn durations_with_a_unit_repeated_or_out_of_order_are_refused() {
        for bad in ["1h1h", "1m30s30s", "30s1m", "1m 1m", "500ms1s"] {
            assert!(
                matches!(parse_duration(bad), Err(UnitError::DurationUnitOrder(_))),
                "{bad}: {:?}",
                parse_duration(bad)
            );
        }
        assert_eq!(parse_duration("1h1m1s").unwrap(), Duration::from_secs(3661));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("2s500ms").unwrap(),
            Duration::from_millis(2500)
        );
    }

    #[test]
    fn durations_past_the_maximum_are_too_long_not_a_panic_later() {
        assert_eq!(parse_duration("366d").unwrap(), MAX_DURATION);
        assert_eq!(duration_from_secs(31_622_400).unwrap(), MAX_DURATION);
        for huge in [
            "18446744073709551615",
            "99999999999999999999999",
            "31622401",
            "367d",
            "18446744073709551615s",
            "584942417355y",
            "99999999999999999999999ms",
        ] {
            assert!(
                matches!(parse_duration(huge), Err(UnitError::DurationTooLong(_))),
                "{huge}: {:?}",
                parse_duration(huge)
            );
        }
        assert!(matches!(
            duration_from_secs(u64::MAX),
            Err(UnitError::DurationTooLong(_))
        ));
        // The cap keeps every deadline reaper computes representable.
        assert!(
            std::time::Instant::now()
                .checked_add(MAX_DURATION * 4)
                .is_some()
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("7").unwrap(), 7);
        assert!(matches!(parse_size("ten"), Err(UnitError::Size(_))));
        assert!(matches!(parse_size("GB"), Err(UnitError::Size(_))));
        assert_eq!(parse_size("1024GB").unwrap(), MAX_SIZE);
        for huge in ["1025GB", "18446744073709551615", "99999999999999999999GB"] {
            assert!(
                matches!(parse_size(huge), Err(UnitError::SizeTooLarge(_))),
                "{huge}"
            );
        }
    }

    #[test]
    fn formatting() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_micros(420)), "0.4ms");
        assert_eq!(format_duration(Duration::from_secs(312)), "5m12s");
        assert_eq!(
            format_duration(Duration::from_secs(3 * 3600 + 240)),
            "3h04m"
        );
    }
}
