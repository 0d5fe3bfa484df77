//! The naive oracle the property tests compare against: every window computed directly from
//! everything that was pushed, with no state, no stash, no running sums and no heap.
//!
//! It uses none of the crate's arithmetic either: window `E` (a multiple of `s`) holds pane `p`
//! when `E − w <= p < E`, and a datum delivered at time `t` counts in it when `t < E`.

use std::collections::BTreeMap;

use crate::{PaneStats, ShardWindow, Window, WindowSpec};

/// Everything the senders pushed; late records are already dropped and only counted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pushed {
    /// `(time, pane, tag, n)`, as pushed to the shards.
    pub(crate) data: Vec<(u64, u64, String, u64)>,
    /// `(time, pane, stats)`, as pushed to the merger (hellos included).
    pub(crate) stats: Vec<(u64, u64, PaneStats)>,
    /// `(time, n)`: late records dropped by the senders.
    pub(crate) late: Vec<(u64, u64)>,
}

/// Whether a datum delivered at `time` for `pane` counts in the window ending at `end`.
fn counts_in(spec: &WindowSpec, time: u64, pane: u64, end: u64) -> bool {
    pane < end && pane + spec.window_panes() >= end && time < end
}

/// The smallest multiple of s greater than `x`.
fn multiple_after(spec: &WindowSpec, x: u64) -> u64 {
    let s = spec.slide_panes();
    (x / s + 1) * s
}

/// Sorts `(tag, count)` by count descending, then tag bytes ascending, and keeps `k`.
fn ranked(counts: BTreeMap<&str, u64>, k: usize) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = counts.into_iter().map(|(t, n)| (t.to_owned(), n)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_bytes().cmp(b.0.as_bytes())));
    all.truncate(k);
    all
}

/// Tag counts of the window ending at `end`.
fn tag_counts<'a>(
    spec: &WindowSpec,
    data: &'a [(u64, u64, String, u64)],
    end: u64,
) -> BTreeMap<&'a str, u64> {
    let mut counts = BTreeMap::new();
    for (time, pane, tag, n) in data {
        if counts_in(spec, *time, *pane, end) {
            *counts.entry(tag.as_str()).or_default() += n;
        }
    }
    counts
}

/// The non-empty windows of one shard holding `data`, as [`crate::Shard`] must report them.
pub(crate) fn shard_windows(
    spec: &WindowSpec,
    k: usize,
    data: &[(u64, u64, String, u64)],
) -> Vec<ShardWindow> {
    let s = spec.slide_panes();
    let last = data
        .iter()
        .map(|d| d.1 + spec.window_panes())
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    for end in (s..=last).step_by(s as usize) {
        let counts = tag_counts(spec, data, end);
        if !counts.is_empty() {
            out.push(ShardWindow {
                end,
                distinct: counts.len() as u64,
                tags: counts.values().sum(),
                top: ranked(counts, k)
                    .into_iter()
                    .map(|(t, n)| (t.into(), n))
                    .collect(),
                trending: Vec::new(),
                error: 0,
            });
        }
    }
    out
}

/// Every window the merger must emit, in order; with `skip_gaps`, of each run of windows
/// without records or tags only the first.
pub(crate) fn windows(
    spec: &WindowSpec,
    k: usize,
    pushed: &Pushed,
    skip_gaps: bool,
) -> Vec<Window> {
    let s = spec.slide_panes();
    // The first window any stat may count in: after its pane and after its time.
    let Some(start) = pushed
        .stats
        .iter()
        .map(|&(t, p, _)| multiple_after(spec, p.max(t)))
        .min()
    else {
        return Vec::new();
    };
    // The last window holding the greatest pane, or ending at the greatest time pushed.
    let times = pushed
        .stats
        .iter()
        .map(|d| d.0)
        .chain(pushed.late.iter().map(|d| d.0));
    let end = pushed
        .stats
        .iter()
        .map(|&(_, p, _)| (p + spec.window_panes()) / s * s)
        .chain(times.map(|t| t / s * s))
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    let mut e = start;
    while e <= end {
        let counts = tag_counts(spec, &pushed.data, e);
        let mut stats = PaneStats::default();
        for &(time, pane, st) in &pushed.stats {
            if counts_in(spec, time, pane, e) {
                stats.records += st.records;
                stats.tagged += st.tagged;
            }
        }
        out.push(Window {
            start_ms: (e * spec.batch_ms()).saturating_sub(spec.window_ms()),
            end_ms: e * spec.batch_ms(),
            records: stats.records,
            tagged: stats.tagged,
            tags: counts.values().sum(),
            distinct: counts.len() as u64,
            late: pushed
                .late
                .iter()
                .filter(|&&(t, _)| t < e)
                .map(|&(_, n)| n)
                .sum(),
            top: ranked(counts, k),
            trending: Vec::new(),
            counts: Vec::new(),
            approx: None,
        });
        e += s;
    }
    if skip_gaps {
        let data = |w: &Window| w.records > 0 || w.tags > 0;
        let keep: Vec<bool> = (0..out.len())
            .map(|i| data(&out[i]) || (i > 0 && data(&out[i - 1])))
            .collect();
        let mut keep = keep.into_iter();
        out.retain(|_| keep.next().unwrap_or(false));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle itself, on the crate docs' worked example.
    #[test]
    fn oracle_on_the_worked_example() {
        let spec = WindowSpec::new(10_000, 60_000, 10_000).unwrap();
        let one = PaneStats {
            records: 1,
            tagged: 1,
            ..PaneStats::default()
        };
        let pushed = Pushed {
            data: [(0, "a"), (1, "a"), (1, "b"), (6, "b")]
                .iter()
                .map(|&(p, t)| (p, p, t.to_owned(), 1))
                .collect(),
            stats: vec![(0, 0, one), (1, 1, one), (6, 6, one)],
            late: vec![],
        };
        let ws = windows(&spec, 10, &pushed, false);
        assert_eq!(ws.len(), 12);
        assert_eq!(ws[6].top, [("b".to_owned(), 2), ("a".to_owned(), 1)]);
        assert_eq!(shard_windows(&spec, 1, &pushed.data).len(), 12);
        // Windows 1..=12 all hold a record: no gap to skip.
        assert_eq!(windows(&spec, 10, &pushed, true), ws);
        // `#b` at 165 s rather than 65 s: windows 13..=16 are empty; only 13 is kept.
        let mut late = pushed.clone();
        late.data[3] = (16, 16, "b".to_owned(), 1);
        late.stats[2] = (16, 16, one);
        let all = windows(&spec, 10, &late, false);
        let ends = |ws: &[Window]| ws.iter().map(|w| w.end_ms / 10_000).collect::<Vec<_>>();
        assert_eq!(ends(&all), (1..=22).collect::<Vec<_>>());
        let cut = windows(&spec, 10, &late, true);
        let want: Vec<u64> = (1..=8).chain(17..=22).collect();
        assert_eq!(ends(&cut), want);
        assert_eq!(
            cut[7].records, 0,
            "the first empty window of the run is kept"
        );
    }
}
