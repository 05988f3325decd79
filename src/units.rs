//! Parsing of user-typed quantities: durations (`10`, `10s`, `500ms`, `2m`) and sizes (`10MB`).

use std::time::Duration;

/// A duration or size the user typed that reaper cannot read.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    /// Not a duration.
    #[error("invalid duration '{0}': use a number of seconds or a unit, e.g. 10, 10s, 500ms, 2m")]
    Duration(String),
    /// Not a size.
    #[error("invalid size '{0}': use bytes or a unit, e.g. 1048576, 512KB, 10MB, 1GB")]
    Size(String),
}

/// Parses `10` (seconds), `10s`, `500ms`, `2m`, `1h`, `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UnitError::Duration(text.to_string()));
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| UnitError::Duration(text.to_string()));
    }
    humantime::parse_duration(trimmed).map_err(|_| UnitError::Duration(text.to_string()))
}

/// Parses a byte size: `1048576`, `512KB`, `10MB`, `1GB` (powers of 1024; `KiB` etc. too).
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| UnitError::Size(text.to_string()))?;
    let multiplier: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(UnitError::Size(text.to_string())),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| UnitError::Size(text.to_string()))
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
        for bad in ["", "abc", "-1", "10x", "99999999999999999999999"] {
            assert!(parse_duration(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("7").unwrap(), 7);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("99999999999999999999GB").is_err());
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
