//! Every duration reaper accepts (`--timeout`, `stop_timeout`, `ready_timeout`, backoffs) can be
//! written back as text that parses to exactly the same value, and the rounded form reaper shows
//! (uptimes, "ready after") is itself a duration a user can type back.

use std::time::Duration;

use proptest::prelude::*;
use reaper::units::{MAX_DURATION, format_duration, parse_duration};

const UNITS: &[&str] = &[
    "ns", "us", "ms", "s", "sec", "m", "min", "h", "hours", "d", "days", "w", "M", "y",
];

/// Text shaped like a duration: numbers with units (any order, repeats allowed, so the unit-order
/// check is exercised), blanks, or bare seconds.
fn duration_text() -> impl Strategy<Value = String> {
    let part = (0u64..100_000, proptest::sample::select(UNITS), " {0,2}")
        .prop_map(|(n, unit, gap)| format!("{n}{unit}{gap}"));
    prop_oneof![
        proptest::collection::vec(part, 1..5).prop_map(|parts| parts.concat()),
        any::<u64>().prop_map(|secs| secs.to_string()),
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn a_parsed_duration_formats_and_parses_back_equal(text in duration_text()) {
        if let Ok(duration) = parse_duration(&text) {
            prop_assert!(duration <= MAX_DURATION);
            let written = humantime::format_duration(duration).to_string();
            prop_assert_eq!(parse_duration(&written).ok(), Some(duration), "written {}", written);
        }
    }

    #[test]
    fn every_accepted_duration_parses_back_from_its_exact_form(
        nanos in 0..=MAX_DURATION.as_nanos() as u64,
    ) {
        let duration = Duration::from_nanos(nanos);
        let written = humantime::format_duration(duration).to_string();
        prop_assert_eq!(parse_duration(&written).ok(), Some(duration), "written {}", written);
    }

    #[test]
    fn the_shown_form_of_a_duration_parses_and_is_not_above_it(
        nanos in Duration::from_millis(10).as_nanos() as u64..=MAX_DURATION.as_nanos() as u64,
    ) {
        let duration = Duration::from_nanos(nanos);
        let shown = format_duration(duration);
        let parsed = parse_duration(&shown);
        prop_assert!(parsed.is_ok(), "{} shown as {}, which does not parse", nanos, shown);
        prop_assert!(parsed.unwrap() <= duration, "{} shown as {}", nanos, shown);
    }
}
