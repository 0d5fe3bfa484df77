//! Snapshot and restore of a [`Merger`] (issue 6).
//!
//! A snapshot holds everything delivered before a time `T`: the range, the applied pane
//! statistics, the stats and late counts stashed with a time `< T`, and the shard results
//! for windows `E <= T` (sent at `E − 1`). Later pushes are left out: they are sent again
//! after a restore. The format is that of `codec.rs`; the body is:
//!
//! ```text
//! k, counts limit, done, start (flag, value), end, cur, late, after data (0/1: whether the
//! window before cur held data, for `with_gaps_skipped`)
//! panes:  count, then each: pane, records, tagged, floor, dropped
//! stats:  count, then each time: time, entries, then each: pane, records, tagged, floor,
//!         dropped
//! late:   count, then each: time, n
//! shards: count, then each window: end, tags, distinct, short (0/1), runs, then each run (a shard's
//!         top list): error, length, then (tag, count)s; then the trending rows
//! ```
//!
//! The running sum of the window's stats is not stored: restore adds up the panes. Lists
//! whose order is that of arrival (the stats of one time, a window's shard runs) are sorted,
//! so that the bytes depend on what was delivered, not on the order it came in.

use std::collections::{BTreeMap, HashSet};

use super::{better, min_some, Gathered, Merger, PaneStats, Run};
use crate::codec::{Reader, Writer, MERGER};
use crate::WindowSpec;

impl Merger {
    /// Appends to `out` a snapshot of everything delivered at times `< before`: the applied
    /// state, the stats and late counts pushed with a time before `before`, and the shard
    /// results for windows `E <= before` (a shard sends the result for `E` at time `E − 1`).
    /// Later pushes are not in it: their senders must send them again after a
    /// [`Merger::restore`].
    ///
    /// Meant to be taken right after `advance(Some(before))`.
    pub fn snapshot(&self, before: u64, out: &mut Vec<u8>) {
        let mut w = Writer::begin(out, MERGER, &self.spec);
        w.u64(self.k as u64);
        w.u64(self.counts_limit as u64);
        w.bool(self.done);
        let (mut start, mut end) = (self.start, self.end);
        for &(first, last) in self.range.range(..before).map(|(_, r)| r) {
            start = min_some(start, first);
            end = end.max(last);
        }
        w.option(start);
        w.u64(end);
        w.u64(self.cur);
        w.u64(self.late);
        w.bool(self.after_data);
        w.u64(self.panes.len() as u64);
        for (&pane, stats) in &self.panes {
            w.u64(pane);
            write_stats(&mut w, stats);
        }
        w.u64(self.stats.range(..before).count() as u64);
        // Sorted: the order in which senders' stats for one time arrived changes nothing.
        let mut sorted = Vec::new();
        for (&time, entries) in self.stats.range(..before) {
            sorted.clear();
            sorted.extend(
                entries
                    .iter()
                    .map(|&(p, st)| (p, st.records, st.tagged, st.floor, st.dropped)),
            );
            sorted.sort_unstable();
            w.u64(time);
            w.u64(sorted.len() as u64);
            for &(pane, records, tagged, floor, dropped) in &sorted {
                w.u64(pane);
                let st = PaneStats {
                    records,
                    tagged,
                    floor,
                    dropped,
                };
                write_stats(&mut w, &st);
            }
        }
        w.u64(self.late_stash.range(..before).count() as u64);
        for (&time, &n) in self.late_stash.range(..before) {
            w.u64(time);
            w.u64(n);
        }
        w.u64(self.shards.range(..=before).count() as u64);
        for (&end, gathered) in self.shards.range(..=before) {
            w.u64(end);
            w.u64(gathered.tags);
            w.u64(gathered.distinct);
            w.u64(u64::from(gathered.short));
            // Runs come in the order the shards sent them: sorted, they depend on what was sent.
            let mut runs: Vec<&Run> = gathered.runs.iter().collect();
            runs.sort_unstable();
            w.u64(runs.len() as u64);
            for run in runs {
                w.u64(run.error);
                w.u64(run.top.len() as u64);
                for (tag, n) in &run.top {
                    w.bytes(tag.as_bytes());
                    w.u64(*n);
                }
            }
            let mut trending: Vec<_> = gathered.trending.iter().collect();
            trending.sort_unstable_by(|a, b| a.tag.cmp(&b.tag));
            w.u64(trending.len() as u64);
            for t in trending {
                w.bytes(t.tag.as_bytes());
                w.u64(t.score.to_bits());
                w.u64(t.count);
                w.u64(t.expected.to_bits());
                w.option(t.authors);
            }
        }
        w.finish();
    }

    /// A merger restored from a [`Merger::snapshot`], for a run made with
    /// `Merger::new(spec, top).with_counts(counts_limit)` (and as many with
    /// [`Merger::with_gaps_skipped`], which the caller sets again). Refuses, with a one-line message,
    /// a snapshot made with another window shape, `top` or counts limit, of another version,
    /// truncated, corrupt (it carries a checksum) or inconsistent; never panics.
    pub fn restore(
        spec: WindowSpec,
        top: usize,
        counts_limit: usize,
        bytes: &[u8],
    ) -> Result<Merger, String> {
        let mut r = Reader::open(bytes, MERGER, &spec)?;
        r.param("top", top)?;
        r.param("counts limit", counts_limit)?;
        let mut m = Merger::new(spec, top).with_counts(counts_limit);
        m.done = r.bool()?;
        m.start = r.option()?;
        (m.end, m.cur, m.late) = (r.u64()?, r.u64()?, r.u64()?);
        m.after_data = r.bool()?;
        let (w, s) = (spec.window_panes(), spec.slide_panes());
        if !m.cur.is_multiple_of(s) || (m.start.is_none() && m.cur != 0) {
            return Err(r.bad(format_args!("{} is not a window end", m.cur)));
        }
        // Every sum the merger keeps is a sum of some of these: if they fit, none overflows.
        let mut sums = [0u64; 4];
        let mut late = m.late;
        let mut stats = |r: &mut Reader| -> Result<PaneStats, String> {
            let st = PaneStats {
                records: r.u64()?,
                tagged: r.u64()?,
                floor: r.u64()?,
                dropped: r.u64()?,
            };
            for (sum, v) in sums
                .iter_mut()
                .zip([st.records, st.tagged, st.floor, st.dropped])
            {
                *sum = sum.checked_add(v).ok_or_else(|| r.bad("counts overflow"))?;
            }
            Ok(st)
        };
        let lo = m.cur.saturating_sub(w);
        let mut prev = None;
        for _ in 0..r.count(3)? {
            let pane = r.u64()?;
            if prev.is_some_and(|p| pane <= p) || pane < lo {
                return Err(r.bad(format_args!(
                    "pane {pane} is out of order or older than the open windows (next window {})",
                    m.cur
                )));
            }
            prev = Some(pane);
            let st = stats(&mut r)?;
            m.panes.insert(pane, st);
            if pane < m.cur {
                m.sum += st;
            }
        }
        m.stats = by_time(&mut r, |r| {
            let pane = r.u64()?;
            Ok((pane, stats(r)?))
        })?;
        for _ in 0..r.count(2)? {
            let (time, n) = (r.u64()?, r.u64()?);
            if m.late_stash
                .last_key_value()
                .is_some_and(|(&t, _)| time <= t)
            {
                return Err(r.bad("late counts out of order"));
            }
            late = late
                .checked_add(n)
                .ok_or_else(|| r.bad("counts overflow"))?;
            m.late_stash.insert(time, n);
        }
        let mut prev = None;
        for _ in 0..r.count(4)? {
            let end = r.u64()?;
            if prev.is_some_and(|p| end <= p) {
                return Err(r.bad("shard results out of order"));
            }
            prev = Some(end);
            let mut g = Gathered {
                tags: r.u64()?,
                distinct: r.u64()?,
                short: match r.u64()? {
                    0 => false,
                    1 => true,
                    _ => return Err(r.bad("a window's short flag is not 0 or 1")),
                },
                runs: Vec::new(),
                trending: Vec::new(),
            };
            for _ in 0..r.count(2)? {
                let mut run = Run {
                    error: r.u64()?,
                    top: Vec::new(),
                };
                for _ in 0..r.count(2)? {
                    let tag =
                        std::str::from_utf8(r.bytes()?).map_err(|_| r.bad("a tag is not UTF-8"))?;
                    run.top.push((tag.into(), r.u64()?));
                }
                if !run.top.windows(2).all(|p| better(&p[0], &p[1])) {
                    return Err(r.bad(format_args!(
                        "a shard's list for window {end} is not ranked"
                    )));
                }
                g.runs.push(run);
            }
            // Shards hold disjoint tags: one tag in two runs would tie in the merge, whose
            // order (and each row's error) would then hang on the order of the runs.
            let mut seen = HashSet::with_capacity(g.runs.iter().map(|run| run.top.len()).sum());
            for (tag, _) in g.runs.iter().flat_map(|run| &run.top) {
                if !seen.insert(tag.as_str()) {
                    return Err(r.bad(format_args!(
                        "a tag is in two shards' lists for window {end}"
                    )));
                }
            }
            for _ in 0..r.count(5)? {
                let tag =
                    std::str::from_utf8(r.bytes()?).map_err(|_| r.bad("a tag is not UTF-8"))?;
                let tag = tag.to_owned();
                let score = f64::from_bits(r.u64()?);
                let count = r.u64()?;
                let expected = f64::from_bits(r.u64()?);
                let authors = r.option()?;
                if !score.is_finite() || !expected.is_finite() {
                    return Err(r.bad("a trend's score"));
                }
                g.trending.push(crate::Trend {
                    tag,
                    score,
                    count,
                    expected,
                    authors,
                });
            }
            // Likewise a tag trends in one shard only: two rows of one tag tie in the ranking
            // when their scores do, and which one is kept would hang on the rows' order.
            let mut seen = HashSet::with_capacity(g.trending.len());
            if !g.trending.iter().all(|t| seen.insert(t.tag.as_str())) {
                return Err(r.bad(format_args!("a tag trends twice in window {end}")));
            }
            m.shards.insert(end, g);
        }
        r.finish()?;
        let empty = m.panes.is_empty() && m.stats.is_empty() && m.late_stash.is_empty();
        if m.done && !(empty && m.shards.is_empty() && m.start.is_none() && !m.after_data) {
            return Err("merger checkpoint is inconsistent: a finished merger holds data".into());
        }
        Ok(m)
    }
}

fn write_stats(w: &mut Writer, st: &PaneStats) {
    for v in [st.records, st.tagged, st.floor, st.dropped] {
        w.u64(v);
    }
}

/// A map by strictly increasing time of non-empty lists of items read by `item`.
fn by_time<T>(
    r: &mut Reader,
    mut item: impl FnMut(&mut Reader) -> Result<T, String>,
) -> Result<BTreeMap<u64, Vec<T>>, String> {
    let mut map = BTreeMap::new();
    for _ in 0..r.count(2)? {
        let time = r.u64()?;
        if map.last_key_value().is_some_and(|(&t, _)| time <= t) {
            return Err(r.bad("times out of order"));
        }
        let n = r.count(1)?;
        if n == 0 {
            return Err(r.bad(format_args!("nothing at time {time}")));
        }
        let items = (0..n)
            .map(|_| item(r))
            .collect::<Result<Vec<T>, String>>()?;
        map.insert(time, items);
    }
    Ok(map)
}
