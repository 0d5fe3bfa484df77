//! Everything that shows results: JSON lines, a plain table per window, the live terminal
//! chart, the HTTP API with its dashboard and Prometheus metrics, PNG/SVG charts.

pub mod chart;
pub mod export;
pub mod http;
pub mod jsonl;
pub mod prom;
pub mod table;
pub mod term;

/// RFC 3339 UTC text of a time in ms since the epoch (seconds unless there are millis).
pub fn rfc3339(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    if ms % 1000 == 0 {
        humantime::format_rfc3339_seconds(t).to_string()
    } else {
        humantime::format_rfc3339_millis(t).to_string()
    }
}
