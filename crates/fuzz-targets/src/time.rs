//! `time`: the parsers of times and durations (records, flags, HTTP parameters) and the
//! RFC 3339 formatter.
//!
//! The input is read as text (for the parsers), and as a number (for the formatter and the
//! overflow checks): the number it writes, if any, and its first 8 bytes.
//!
//! Properties:
//! - nothing panics, and every error is one line;
//! - `rfc3339(parse_time(x))` parses back to the same time (until year 9999, past which the
//!   text is ISO 8601's expanded form that RFC 3339 parsers refuse), and so does
//!   `rfc3339(n)` for any n, through both `parse_time` and `parse_time_ms`;
//! - a duration that parses fits in u64 milliseconds, is positive for `duration`, and is zero
//!   only when written as zero; `{n}ms` and `{n}s` are n ms and n s, or an error (always
//!   when n s overflow u64 milliseconds), never another value.

use std::time::Duration;

use tagstream::time::{
    duration, duration_or_zero, epoch_to_ms, event_time, human, ms, parse_time, parse_time_ms,
    rfc3339,
};

use crate::model::text;

/// 10000-01-01T00:00:00Z in ms.
const YEAR_10000: u64 = 253_402_300_800_000;

fn one_line(e: &str) {
    assert!(!e.contains(['\n', '\r']), "an error of two lines: {e:?}");
}

/// Checks the parsers on `s`.
pub fn parsers(s: &str) {
    let t = parse_time(s);
    assert_eq!(event_time(s).ok(), t);
    if let Err(e) = event_time(s) {
        one_line(&e);
    }
    if let Some(t) = t.filter(|&t| t < YEAR_10000) {
        assert_eq!(
            parse_time(&rfc3339(t)),
            Some(t),
            "rfc3339(parse_time({s:?}))"
        );
    }
    if let Err(e) = parse_time_ms(s) {
        one_line(&e);
    }
    match duration_or_zero(s) {
        Ok(d) => {
            assert!(u64::try_from(d.as_millis()).is_ok(), "{s:?} → {d:?}");
            assert_eq!(u128::from(ms(d)), d.as_millis());
            assert_eq!(duration(s).is_ok(), !d.is_zero(), "{s:?}");
            if d.is_zero() {
                // Zero is written as zero: bare zeros, or what humantime itself reads as zero
                // (`0s`, ` 0d `).
                let bare = s.bytes().all(|b| b == b'0');
                let zero = humantime::parse_duration(s) == Ok(Duration::ZERO);
                assert!(bare || zero, "{s:?} is not zero");
            }
        }
        Err(e) => {
            one_line(&e);
            let e2 = duration(s).unwrap_err();
            one_line(&e2);
        }
    }
}

/// Checks the formatter and the overflow rules on the number `n`.
pub fn number(n: u64) {
    let t = rfc3339(n);
    if n < YEAR_10000 {
        assert_eq!(parse_time(&t), Some(n), "parse_time(rfc3339({n}))");
        assert_eq!(parse_time_ms(&t), Ok(n), "parse_time_ms(rfc3339({n}))");
    } else {
        assert!(t.starts_with('+') || t == n.to_string(), "{n} → {t}");
    }
    // humantime refuses some large values itself (it counts in nanoseconds): an error is
    // fine, a wrong value is not.
    match duration_or_zero(&format!("{n}ms")) {
        Ok(d) => assert_eq!(d, Duration::from_millis(n)),
        Err(e) => one_line(&e),
    }
    match (duration_or_zero(&format!("{n}s")), n.checked_mul(1000)) {
        (Ok(d), Some(_)) => assert_eq!(d, Duration::from_secs(n)),
        (Ok(d), None) => panic!("{n}s is {d:?}, past u64 milliseconds"),
        (Err(e), _) => one_line(&e),
    }
    let _ = human(n);
    if let Some(t) = epoch_to_ms(f64::from_bits(n)) {
        assert!(t < 100_000_000_000_000_000, "{} → {t}", f64::from_bits(n));
    }
}

/// The target.
pub fn run(data: &[u8]) {
    let s = text(data);
    parsers(&s);
    if let Ok(n) = s.trim().parse::<u64>() {
        number(n);
    }
    let mut b = [0u8; 8];
    let k = data.len().min(8);
    b[..k].copy_from_slice(&data[..k]);
    number(u64::from_le_bytes(b));
}
