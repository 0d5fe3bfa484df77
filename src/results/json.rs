//! The window JSON lines of DESIGN.md §4: one object per window, keys in a fixed order; and
//! a window's trending list alone (`GET /api/trends`).

use serde::Serialize;
use window::Window;

use crate::time::rfc3339;

#[derive(Serialize)]
struct Line<'a> {
    window_start: String,
    window_end: String,
    records: u64,
    tagged: u64,
    tags: u64,
    distinct: u64,
    late: u64,
    /// Present (`true`) only when the counts are heavy-hitter estimates (issue 15), with
    /// `max_tags` and `bound`: every tag occurring more than `bound` times is counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    approx: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tags: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bound: Option<u64>,
    top: Vec<Row<'a>>,
    trending: Vec<TrendRow<'a>>,
}

#[derive(Serialize)]
struct TrendRow<'a> {
    rank: usize,
    hashtag: &'a str,
    score: f64,
    count: u64,
    expected: f64,
    authors: Option<u64>,
}

#[derive(Serialize)]
struct Row<'a> {
    rank: usize,
    hashtag: &'a str,
    count: u64,
    /// In an approximate window, the most `count` may overstate.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<u64>,
}

#[derive(Serialize)]
struct Trending<'a> {
    window_start: String,
    window_end: String,
    trending: Vec<TrendRow<'a>>,
}

fn trend_rows(w: &Window) -> Vec<TrendRow<'_>> {
    w.trending
        .iter()
        .enumerate()
        .map(|(i, t)| TrendRow {
            rank: i + 1,
            hashtag: &t.tag,
            score: t.score,
            count: t.count,
            expected: t.expected,
            authors: t.authors,
        })
        .collect()
}

/// A window's trending list with its times, `{"window_start":…,"window_end":…,"trending":[…]}`
/// (the rows as in [`line()`]).
pub fn trends(w: &Window) -> String {
    let t = Trending {
        window_start: rfc3339(w.start_ms),
        window_end: rfc3339(w.end_ms),
        trending: trend_rows(w),
    };
    serde_json::to_string(&t).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// One window as a JSON line (without the newline). An approximate window (past
/// `--max-tags`) also has `"approx":true`, `"max_tags"` and `"bound"` after `late`, and an
/// `"error"` in each row; an exact one has none of these keys.
pub fn line(w: &Window) -> String {
    let l = Line {
        window_start: rfc3339(w.start_ms),
        window_end: rfc3339(w.end_ms),
        records: w.records,
        tagged: w.tagged,
        tags: w.tags,
        distinct: w.distinct,
        late: w.late,
        approx: w.approx.as_ref().map(|_| true),
        max_tags: w.approx.as_ref().map(|a| a.max_tags),
        bound: w.approx.as_ref().map(|a| a.bound),
        top: w
            .top
            .iter()
            .enumerate()
            .map(|(i, (tag, count))| Row {
                rank: i + 1,
                hashtag: tag,
                count: *count,
                error: w.approx.as_ref().map(|_| w.top_error(i)),
            })
            .collect(),
        trending: trend_rows(w),
    };
    serde_json::to_string(&l).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_times() {
        let w = Window {
            start_ms: 1_451_952_000_000,
            end_ms: 1_452_038_400_000,
            records: 12,
            tagged: 3,
            tags: 5,
            distinct: 4,
            late: 0,
            top: vec![("#trump2016".into(), 2)],
            counts: Vec::new(),
            trending: vec![window::Trend {
                tag: "#trump2016".into(),
                score: 0.5,
                count: 2,
                expected: 2.0,
                authors: Some(1),
            }],
            approx: None,
        };
        assert_eq!(
            line(&w),
            r##"{"window_start":"2016-01-05T00:00:00Z","window_end":"2016-01-06T00:00:00Z","records":12,"tagged":3,"tags":5,"distinct":4,"late":0,"top":[{"rank":1,"hashtag":"#trump2016","count":2}],"trending":[{"rank":1,"hashtag":"#trump2016","score":0.5,"count":2,"expected":2.0,"authors":1}]}"##
        );
        assert_eq!(
            trends(&w),
            r##"{"window_start":"2016-01-05T00:00:00Z","window_end":"2016-01-06T00:00:00Z","trending":[{"rank":1,"hashtag":"#trump2016","score":0.5,"count":2,"expected":2.0,"authors":1}]}"##
        );
        let approx = Window {
            trending: Vec::new(),
            approx: Some(window::Approx {
                max_tags: 100,
                bound: 1,
                top: vec![1],
                counts: Vec::new(),
            }),
            ..w
        };
        assert_eq!(
            line(&approx),
            r##"{"window_start":"2016-01-05T00:00:00Z","window_end":"2016-01-06T00:00:00Z","records":12,"tagged":3,"tags":5,"distinct":4,"late":0,"approx":true,"max_tags":100,"bound":1,"top":[{"rank":1,"hashtag":"#trump2016","count":2,"error":1}],"trending":[]}"##
        );
    }
}
