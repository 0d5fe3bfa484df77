//! Times and durations as text, in one place below everything that reads or shows them:
//! record decoding, the command line, results and views.
//!
//! Times are milliseconds since the Unix epoch (`u64`). Nothing here panics or wraps on
//! hostile input: a time too large to format is shown as its number of milliseconds, a
//! duration too large for milliseconds in a `u64` is an error naming it.

use std::time::Duration;

/// Parses a timestamp: RFC 3339 (`2016-01-05T03:36:53Z`, offsets, fractions), Twitter's legacy
/// `Wed Oct 10 20:19:24 +0000 2018`, or epoch seconds / milliseconds written as digits.
/// Returns milliseconds since the Unix epoch; `None` for anything else or before 1970.
pub fn parse_time(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return u64::try_from(t.timestamp_millis()).ok();
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(s, "%a %b %d %H:%M:%S %z %Y") {
        return u64::try_from(t.timestamp_millis()).ok();
    }
    if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s.parse::<f64>().ok().and_then(epoch_to_ms);
    }
    None
}

/// Parses a time given by a user (`/api/windows?since=`, `chart --window`): RFC 3339, or
/// epoch seconds (ms when it is too large to be seconds).
pub fn parse_time_ms(s: &str) -> Result<u64, String> {
    if let Ok(n) = s.parse::<u64>() {
        // 10^11 s is the year 5138; anything larger is milliseconds.
        return Ok(if n >= 100_000_000_000 { n } else { n * 1000 });
    }
    humantime::parse_rfc3339_weak(s)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .ok_or_else(|| {
            format!(
                "'{}' is neither an RFC 3339 time nor epoch seconds",
                shown(s)
            )
        })
}

/// Epoch seconds, or milliseconds when the value is too large to be seconds (> 10^11, as in
/// the comparison script), to milliseconds.
pub fn epoch_to_ms(v: f64) -> Option<u64> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let ms = if v > 1e11 { v } else { v * 1000.0 };
    (ms < 1.0e17).then_some(ms as u64)
}

/// RFC 3339 UTC text of a time in ms since the epoch (seconds unless there are millis).
/// Years past 9999 are written with a sign (`+10000-01-01T00:00:00Z`, as ISO 8601's expanded
/// form); a time beyond what a calendar can hold is written as its milliseconds.
pub fn rfc3339(ms: u64) -> String {
    let Some(t) = i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
    else {
        return ms.to_string();
    };
    if ms.is_multiple_of(1000) {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

/// Parses a duration such as `10s`, `500ms`, `1h`, `1d`; it must be positive and fit in
/// `u64` milliseconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    let d = duration_or_zero(s)?;
    if d.is_zero() {
        return Err(format!("'{}' must be positive", shown(s)));
    }
    Ok(d)
}

/// Like [`duration`], but zero (`0`, `0s`) is allowed.
pub fn duration_or_zero(s: &str) -> Result<Duration, String> {
    // `0` alone is zero (humantime wants a unit); `0s` and `00ms` are humantime's own. Any
    // other text after the zeros must be a unit humantime knows (`0K` is no duration).
    if !s.is_empty() && s.bytes().all(|b| b == b'0') {
        return Ok(Duration::ZERO);
    }
    let d = humantime::parse_duration(s).map_err(|e| {
        format!(
            "'{}' is not a duration: {}",
            shown(s),
            shown(&e.to_string())
        )
    })?;
    // Durations are milliseconds in a u64 everywhere downstream; larger ones must not wrap.
    if u64::try_from(d.as_millis()).is_err() {
        return Err(format!(
            "'{}' is too long (at most about 584 million years)",
            shown(s)
        ));
    }
    Ok(d)
}

/// `s` for a message: control characters escaped (`\n`, `\u{5}`), so that an error naming
/// what it was given stays on one line.
fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A duration in milliseconds (every duration was checked to fit by [`duration`]).
pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Human text of a duration in ms (`1m 30s`).
pub fn human(ms: u64) -> String {
    humantime::format_duration(Duration::from_millis(ms)).to_string()
}

/// Parses an event time (RFC 3339, Twitter's legacy format, epoch seconds or ms) to ms.
pub fn event_time(s: &str) -> Result<u64, String> {
    parse_time(s).ok_or_else(|| format!("'{}' is not a time (e.g. 2024-01-01T00:00:00Z)", shown(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        assert_eq!(parse_time("2016-01-05T03:36:53Z"), Some(1_451_965_013_000));
        assert_eq!(
            parse_time("2016-01-05T04:36:53+01:00"),
            Some(1_451_965_013_000)
        );
        assert_eq!(
            parse_time("Tue Jan 05 03:36:53 +0000 2016"),
            Some(1_451_965_013_000)
        );
        assert_eq!(parse_time("1451965013"), Some(1_451_965_013_000));
        assert_eq!(parse_time("1451965013000"), Some(1_451_965_013_000));
        assert_eq!(parse_time("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn rfc3339_text_never_panics() {
        assert_eq!(rfc3339(1_451_952_000_000), "2016-01-05T00:00:00Z");
        assert_eq!(rfc3339(1_451_952_000_123), "2016-01-05T00:00:00.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 9999-12-31T23:59:59Z and one second later.
        assert_eq!(rfc3339(253_402_300_799_000), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(253_402_300_800_000), "+10000-01-01T00:00:00Z");
        assert_eq!(rfc3339(u64::MAX), u64::MAX.to_string());
    }

    #[test]
    fn durations_are_checked() {
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration_or_zero("0s"), Ok(Duration::ZERO));
        assert_eq!(duration_or_zero("0"), Ok(Duration::ZERO));
        assert!(duration("0s").unwrap_err().contains("positive"));
        assert!(duration("").is_err());
        assert!(duration("soon").unwrap_err().contains("not a duration"));
        assert!(duration_or_zero("late")
            .unwrap_err()
            .contains("not a duration"));
        assert!(duration_or_zero("0x").is_err());
        assert_eq!(duration_or_zero("00ms"), Ok(Duration::ZERO));
        // Found by the `time` fuzz target (issue 13): zeros then any letters were zero.
        assert_eq!(duration_or_zero("00ms"), Ok(Duration::ZERO));
        assert!(duration_or_zero("0K")
            .unwrap_err()
            .contains("not a duration"));
        assert!(duration_or_zero("0xyz").is_err());
        // Found by the `time` fuzz target (issue 13): an error quoted its input raw, so a
        // control character in it broke the one-line message.
        assert_eq!(
            event_time("\u{5}\n1s").unwrap_err(),
            "'\\u{5}\\n1s' is not a time (e.g. 2024-01-01T00:00:00Z)"
        );
        assert!(!duration("1\nx").unwrap_err().contains('\n'));
        assert!(!parse_time_ms("\n").unwrap_err().contains('\n'));
        let e = duration("2305843009213694012s").unwrap_err();
        assert!(e.contains("too long"), "{e}");
        assert_eq!(ms(Duration::from_secs(2)), 2000);
    }
}
