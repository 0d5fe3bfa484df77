//! The one place where everything meets: per-pane record statistics from every input worker,
//! late counts, and every shard's per-window results, merged into the emitted [`Window`]s.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::ops::{AddAssign, SubAssign};

use serde::{Deserialize, Serialize};

use crate::{rank_trends, Row, ShardWindow, Trend, WindowSpec};

/// Record statistics of one pane, as sent by one input worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaneStats {
    /// Records in the pane.
    pub records: u64,
    /// Records with at least one tag.
    pub tagged: u64,
    /// Past the bound on distinct tags (issue 15): what the sender's own prunes of the pane
    /// subtracted from every count it sent (`bound.rs`). It is added to every count and error
    /// of the windows holding the pane: each tag may have lost that much.
    pub floor: u64,
    /// The tag occurrences those prunes removed, added to the windows' `tags`.
    pub dropped: u64,
}

impl AddAssign for PaneStats {
    fn add_assign(&mut self, other: PaneStats) {
        self.records += other.records;
        self.tagged += other.tagged;
        self.floor += other.floor;
        self.dropped += other.dropped;
    }
}

impl SubAssign for PaneStats {
    fn sub_assign(&mut self, other: PaneStats) {
        self.records -= other.records;
        self.tagged -= other.tagged;
        self.floor -= other.floor;
        self.dropped -= other.dropped;
    }
}

/// One window as emitted: one per window end, in end order, empty windows included (but
/// for the runs of them that [`Merger::with_gaps_skipped`] cuts to their first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Window start, ms since the epoch (clipped at 0).
    pub start_ms: u64,
    /// Window end (exclusive), ms since the epoch.
    pub end_ms: u64,
    /// Records whose pane is in the window.
    pub records: u64,
    /// Of those, records with at least one tag.
    pub tagged: u64,
    /// Tag occurrences.
    pub tags: u64,
    /// Distinct tags (in an approximate window: the tags its summary holds, a lower bound).
    pub distinct: u64,
    /// Records dropped as late so far: all late counts pushed with a time before the window end.
    pub late: u64,
    /// Top-K, best first: count descending, then tag ascending by bytes.
    pub top: Vec<(String, u64)>,
    /// Every tag of the window in the same order, up to the merger's counts limit (empty
    /// unless [`Merger::with_counts`] asked for them; the shards must then report that many).
    /// Tags of up to 24 bytes are held inline: the counts are one allocation.
    pub counts: Vec<Row>,
    /// The trending tags, best first: score descending, then tag ascending by bytes (empty
    /// unless the shards find trends).
    pub trending: Vec<Trend>,
    /// `None` while every count is exact; past the bound on distinct tags, how far the
    /// counts may be off (issue 15).
    pub approx: Option<Approx>,
}

impl Window {
    /// The most row `i` of `top` may overstate its tag's count: 0 in an exact window.
    pub fn top_error(&self, i: usize) -> u64 {
        self.approx
            .as_ref()
            .map_or(0, |a| a.top.get(i).copied().unwrap_or(0))
    }

    /// The same for row `i` of `counts`.
    pub fn count_error(&self, i: usize) -> u64 {
        (self.approx.as_ref()).map_or(0, |a| a.counts.get(i).copied().unwrap_or(0))
    }

    /// Every tag the window lists with its count and error, best first: `counts`, or `top`
    /// when no counts were asked for.
    pub fn all_rows(&self) -> impl Iterator<Item = (&str, u64, u64)> + '_ {
        let counts = !self.counts.is_empty();
        let top = if counts {
            &self.top[..0]
        } else {
            &self.top[..]
        };
        let top = top.iter().enumerate();
        let top = top.map(|(i, (t, n))| (t.as_str(), *n, self.top_error(i)));
        let counts = self.counts.iter().enumerate();
        top.chain(counts.map(|(i, (t, n))| (t.as_str(), *n, self.count_error(i))))
    }
}

/// How an approximate window's counts may be off: the guarantees of the heavy-hitters
/// summaries its panes were pruned to (`bound.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approx {
    /// The bound on distinct tags per shard and pane (`--max-tags`).
    pub max_tags: u64,
    /// No tag missing from the window's summary occurs more than this many times in the
    /// window, so every tag above it is counted; it is at most `tags / (max_tags + 1)`.
    pub bound: u64,
    /// For each row of `top`, the most its count may overstate: the true count is in
    /// `[count − error, count]`.
    pub top: Vec<u64>,
    /// The same for each row of `counts`.
    pub counts: Vec<u64>,
}

/// One shard's top list for one window, best first, and its error.
#[derive(Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Run {
    top: Vec<Row>,
    error: u64,
}

/// What the shards reported for one window.
#[derive(Debug, Default)]
struct Gathered {
    tags: u64,
    distinct: u64,
    /// A shard sent fewer rows than the counts need (its window was superseded in the same
    /// step: [`crate::Shard::with_superseded_k`]): the window gets no counts.
    short: bool,
    /// The shards' top lists, each best first (disjoint: shards hold disjoint tags).
    runs: Vec<Run>,
    /// The union of the shards' trending lists.
    trending: Vec<Trend>,
}

/// Gathers per-pane stats, late counts and [`ShardWindow`]s, and emits every window of the
/// range in order, empty ones included; with [`Merger::with_gaps_skipped`] (event time) only
/// the first empty window of each run of them.
///
/// The range starts at the first window that a stat can count in (the earliest over all
/// stats of the first window holding its pane that ends after its time) and, at the end of
/// input, ends at the last window holding the greatest pane seen in stats (or ending at the
/// greatest time pushed, if later: the frontier may have passed those windows already, and
/// the output must not depend on whether it did). Nothing is emitted before any stats.
#[derive(Debug)]
pub struct Merger {
    spec: WindowSpec,
    k: usize,
    /// How many tags of each window to keep in `Window::counts` (0: none).
    counts_limit: usize,
    /// The shards' bound on distinct tags, as reported in [`Approx::max_tags`].
    max_tags: u64,
    /// First window of the range, once any stats (or shard result) arrived.
    start: Option<u64>,
    /// Last window of the range at the end of input.
    end: u64,
    /// What pushes not yet passed by the frontier do to the range, by delivery time: the
    /// earliest first window, the latest last window. Folded into `start` and `end` as the
    /// frontier passes, so that a snapshot at `T` holds the range of what came before `T`
    /// (a window `E <= f` depends only on pushes with a time `< f`: see `advance`).
    range: BTreeMap<u64, (Option<u64>, u64)>,
    /// The next window to emit; `panes` sums into `sum` over `[cur − w, cur)`.
    cur: u64,
    /// Delivered stats not yet applied, by delivery time: `(pane, stats)`.
    stats: BTreeMap<u64, Vec<(u64, PaneStats)>>,
    /// Applied stats per pane, for panes `>= cur − w`.
    panes: BTreeMap<u64, PaneStats>,
    sum: PaneStats,
    /// Late counts not yet applied, by delivery time.
    late_stash: BTreeMap<u64, u64>,
    late: u64,
    shards: BTreeMap<u64, Gathered>,
    done: bool,
    /// Whether a run of empty windows is cut to its first ([`Merger::with_gaps_skipped`]).
    skip_gaps: bool,
    /// Whether the window before `cur` held anything (records or tags).
    after_data: bool,
}

impl Merger {
    /// An empty merger keeping the top `k` tags of each window.
    pub fn new(spec: WindowSpec, k: usize) -> Self {
        Merger {
            spec,
            k,
            counts_limit: 0,
            max_tags: 0,
            start: None,
            end: 0,
            range: BTreeMap::new(),
            cur: 0,
            stats: BTreeMap::new(),
            panes: BTreeMap::new(),
            sum: PaneStats::default(),
            late_stash: BTreeMap::new(),
            late: 0,
            shards: BTreeMap::new(),
            done: false,
            skip_gaps: false,
            after_data: false,
        }
    }

    /// Also reports every tag of each window, best first, up to `limit` of them, in
    /// [`Window::counts`]. The shards must be made with `k >= limit` for this to be exact.
    pub fn with_counts(mut self, limit: usize) -> Self {
        self.counts_limit = limit;
        self
    }

    /// Emits, of each run of empty windows (no record, no tag), only the first: a window with
    /// data, or the first empty one after it (the tables then show that nothing happened in
    /// the last window length). The rest of the run is skipped in one step, however long.
    /// Meant for event time, where a gap between records is a gap in the data's own clock:
    /// a record from years before the rest (a stale post, a second file of another year)
    /// opened every window in between, millions of empty windows and gigabytes of output.
    /// Which windows are emitted is still a function of the data alone.
    pub fn with_gaps_skipped(mut self, skip: bool) -> Self {
        self.skip_gaps = skip;
        self
    }

    /// The shards' bound on distinct tags, to report in approximate windows
    /// ([`Approx::max_tags`]); it changes nothing else.
    pub fn with_max_tags(mut self, max_tags: usize) -> Self {
        self.max_tags = max_tags as u64;
        self
    }

    /// One input worker's stats for `pane`, delivered at `time`. They count in windows ending
    /// after `time`, like tags in a [`crate::Shard`]. Zero stats (a "hello") still open the
    /// range, so that the windows after a processing-time start are emitted even when empty.
    pub fn push_stats(&mut self, time: u64, pane: u64, stats: PaneStats) {
        if self.done {
            return;
        }
        let first = self
            .spec
            .first_window_end_holding(pane)
            .max(self.spec.first_end_after(time));
        let last = self
            .spec
            .last_window_end_holding(pane)
            .max(self.spec.last_end_at_or_before(time));
        self.note_range(time, Some(first), last);
        if stats != PaneStats::default() {
            self.stats.entry(time).or_default().push((pane, stats));
        }
    }

    /// `n` records dropped as late, detected at `time`. A window's `late` is the total pushed
    /// with a time before its end.
    pub fn push_late(&mut self, time: u64, n: u64) {
        if self.done || n == 0 {
            return;
        }
        *self.late_stash.entry(time).or_default() += n;
        self.note_range(time, None, self.spec.last_end_at_or_before(time));
    }

    /// One shard's result. The caller guarantees that every shard's result for window `E`
    /// arrives before `advance` is called with a frontier `>= E` (shards send it at time
    /// `E − 1`, as soon as their own frontier reaches `E`, and it counts as delivered then);
    /// a result for a window already emitted is ignored.
    pub fn push_shard(&mut self, w: ShardWindow) {
        if self.done || (self.start.is_some() && w.end < self.cur) {
            return;
        }
        self.note_range(w.end.saturating_sub(1), Some(w.end), w.end);
        let gathered = self.shards.entry(w.end).or_default();
        gathered.tags += w.tags;
        gathered.distinct += w.distinct;
        let wanted = w.distinct.min(self.k.max(self.counts_limit) as u64);
        gathered.short |= self.counts_limit > 0 && (w.top.len() as u64) < wanted;
        debug_assert!(
            w.top.windows(2).all(|p| better(&p[0], &p[1])),
            "a shard's top is best first"
        );
        gathered.runs.push(Run {
            top: w.top,
            error: w.error,
        });
        gathered.trending.extend(w.trending);
    }

    /// The frontier moved to `frontier`: returns every window `E <= f` of the range not yet
    /// emitted (all stats with time `< E` have arrived, and shard results for `E` are sent at
    /// time `E − 1`, so the window is complete the moment the frontier reaches `E`: no extra
    /// batch of delay), or with `None` every remaining window of the range. After `None` the
    /// merger is done.
    pub fn advance(&mut self, frontier: Option<u64>) -> Vec<Window> {
        let mut out = Vec::new();
        self.advance_each(frontier, |w| out.push(w));
        out
    }

    /// [`Merger::advance`], handing each window to `emit` as it is made: nothing is held in
    /// proportion to how many windows the frontier passed (a jump over years of empty windows
    /// emits them one by one, in constant memory).
    pub fn advance_each(&mut self, frontier: Option<u64>, mut emit: impl FnMut(Window)) {
        if self.done {
            return;
        }
        self.fold_range(frontier);
        // The last window to emit now: the last ending at or before the frontier, or the
        // range's end.
        let last = match frontier {
            Some(f) => Some(self.spec.last_end_at_or_before(f)),
            None => Some(self.end),
        };
        if let (Some(start), Some(last)) = (self.start, last) {
            // Move to the start only when emitting: until then a later stat may still open the
            // range earlier (its first window is after its time, which is >= the frontier).
            if start <= last && self.cur < start {
                self.move_to(start);
            }
            while self.cur >= start && self.cur <= last {
                let w = self.emit();
                let data = w.records > 0 || w.tags > 0;
                if data || self.after_data || !self.skip_gaps {
                    emit(w);
                }
                self.after_data = data;
                let mut next = self.cur.saturating_add(self.spec.slide_panes());
                if next <= self.cur {
                    break; // only at the end of u64 time
                }
                if self.skip_gaps && !data {
                    let target = self.next_with_data(next, last);
                    if target > next {
                        // The state the windows in between would have left, had they been
                        // emitted: a snapshot does not depend on which frontiers came.
                        let before = target - self.spec.slide_panes();
                        self.move_to(before);
                        self.apply(before);
                        next = target;
                    }
                }
                self.move_to(next);
            }
        }
        if frontier.is_none() {
            *self = Merger {
                done: true,
                skip_gaps: self.skip_gaps,
                ..Merger::new(self.spec, self.k)
            };
        }
    }

    /// After an empty window: the first window from `from` on (up to `last`) that may hold
    /// data, from what is known now (every window up to `last` is complete: see `advance`),
    /// else the first window after `last`. Every window in between is empty: the stats and
    /// shard results that could count in one are all looked at. It may name an empty window
    /// (a stat that another window's time rule keeps out), never one past a window with data.
    /// Each walk stops where nothing later can come earlier, so a stash of K stats costs
    /// about what it holds before the answer, not K a call. At the end of u64 time (no
    /// window after `last`) it names at most `last`.
    fn next_with_data(&self, from: u64, last: u64) -> u64 {
        let (w, s) = (self.spec.window_panes(), self.spec.slide_panes());
        let after_last = last.checked_add(s).unwrap_or(last);
        // The first window from `from` on that holds `pane`, for a stat delivered at `time`.
        let first = |time: u64, pane: u64, st: &PaneStats| {
            let end = from.max(self.spec.first_end_after(pane.max(time)));
            let data = st.records > 0 || st.dropped > 0;
            (data && end <= self.spec.last_window_end_holding(pane)).then_some(end)
        };
        let mut best = after_last;
        if let Some((&end, _)) = self.shards.range(from..).next() {
            best = best.min(end);
        }
        // Applied panes: a window from `from` on holds only panes from `from − w` on, and
        // the first holding a pane comes later for a later pane.
        for (&pane, st) in self.panes.range(from.saturating_sub(w)..) {
            if self.spec.first_end_after(pane) >= best {
                break;
            }
            if let Some(end) = first(0, pane, st) {
                best = best.min(end);
                break;
            }
        }
        // Stashed stats by time: one delivered at `time` counts only after it.
        for (&time, entries) in self.stats.range(..after_last) {
            if self.spec.first_end_after(time) >= best {
                break;
            }
            for (pane, st) in entries {
                if let Some(end) = first(time, *pane, st) {
                    best = best.min(end);
                }
            }
        }
        best
    }

    /// Notes what a push delivered at `time` does to the range.
    fn note_range(&mut self, time: u64, first: Option<u64>, last: u64) {
        let (f, l) = self.range.entry(time).or_insert((None, 0));
        *f = min_some(*f, first);
        *l = (*l).max(last);
    }

    /// Folds into `start` and `end` what was pushed before `frontier` (everything with
    /// `None`). Leaving later pushes out changes no window `E <= f`: their first window is
    /// after their time, so after `f`.
    fn fold_range(&mut self, frontier: Option<u64>) {
        while let Some(entry) = self.range.first_entry() {
            if frontier.is_some_and(|f| *entry.key() >= f) {
                break;
            }
            let (first, last) = entry.remove();
            self.start = min_some(self.start, first);
            self.end = self.end.max(last);
        }
    }

    /// Applies what was delivered before window `end` (= `cur`): the stats of its panes (and
    /// of later panes), and the late counts.
    fn apply(&mut self, end: u64) {
        let lo = end.saturating_sub(self.spec.window_panes());
        while let Some(entry) = self.stats.first_entry() {
            if *entry.key() >= end {
                break;
            }
            for (pane, stats) in entry.remove() {
                if pane >= lo {
                    *self.panes.entry(pane).or_default() += stats;
                    if pane < end {
                        self.sum += stats;
                    }
                }
            }
        }
        while let Some(entry) = self.late_stash.first_entry() {
            if *entry.key() >= end {
                break;
            }
            self.late += entry.remove();
        }
        while self.shards.first_key_value().is_some_and(|(&e, _)| e < end) {
            self.shards.pop_first(); // outside the range: only if the caller broke the contract
        }
    }

    /// Applies what was delivered before `cur` and emits window `cur`.
    fn emit(&mut self) -> Window {
        let end = self.cur;
        self.apply(end);
        let mut gathered = self.shards.remove(&end).unwrap_or_default();
        let mut trending = std::mem::take(&mut gathered.trending);
        rank_trends(&mut trending, self.k);
        // The shards' lists are ranked already: merge them, rather than rank them again.
        let limit = self.k.max(self.counts_limit);
        let shards_bound = gathered.runs.iter().map(|r| r.error).max().unwrap_or(0);
        let (mut ranked, mut errors) = merge_runs(gathered.runs, limit);
        // The senders' floor (their own prunes, issue 15) may be missing from every count.
        let floor = self.sum.floor;
        let approx = (floor > 0 || shards_bound > 0).then(|| {
            for ((_, n), e) in ranked.iter_mut().zip(errors.iter_mut()) {
                *n += floor;
                *e += floor;
            }
            floor + shards_bound
        });
        // One ranking serves both: the top-K is the head of the counts, copied (k rows, not
        // all); the counts keep the rows.
        let n = self.k.min(ranked.len());
        let top = (ranked[..n].iter())
            .map(|(t, c)| (t.to_string(), *c))
            .collect();
        // Counts only when every shard sent its whole list: a window superseded in the same
        // step (only the newest one's counts are kept) has its top-K, which is exact (shards
        // hold disjoint tags), and no counts.
        let (counts, count_errors) = if self.counts_limit == 0 || gathered.short {
            errors.truncate(n);
            (Vec::new(), Vec::new())
        } else {
            let head = errors[..n].to_vec();
            (ranked, std::mem::replace(&mut errors, head))
        };
        let approx = approx.map(|bound| Approx {
            max_tags: self.max_tags,
            bound,
            top: errors,
            counts: count_errors,
        });
        Window {
            start_ms: self.spec.window_start_ms(end),
            end_ms: self.spec.window_end_ms(end),
            records: self.sum.records,
            tagged: self.sum.tagged,
            tags: gathered.tags + self.sum.dropped,
            distinct: gathered.distinct,
            late: self.late,
            top,
            counts,
            trending,
            approx,
        }
    }

    /// Makes `target > cur` the next window, moving the stats sum as a shard moves its counts.
    fn move_to(&mut self, target: u64) {
        let span = (self.cur, target, self.spec.window_panes());
        crate::slide(
            &mut self.panes,
            &mut self.sum,
            span,
            |sum, stats, counted| {
                if counted {
                    *sum -= stats;
                }
            },
            |sum, &stats| *sum += stats,
        );
        self.cur = target;
    }
}

/// Whether row `a` ranks before row `b`: count descending, then tag ascending by bytes.
fn better(a: &Row, b: &Row) -> bool {
    rank_order(a, b) == Ordering::Less
}

fn rank_order(a: &Row, b: &Row) -> Ordering {
    b.1.cmp(&a.1)
        .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
}

/// Merges runs, each best first and disjoint, into the `limit` best rows, with each row's
/// error (its run's): O(rows × log runs), no comparison of rows that are never output.
fn merge_runs(mut runs: Vec<Run>, limit: usize) -> (Vec<Row>, Vec<u64>) {
    let total: usize = runs.iter().map(|r| r.top.len()).sum();
    let n = limit.min(total);
    let (mut rows, mut errors) = (Vec::with_capacity(n), Vec::with_capacity(n));
    if runs.len() == 1 {
        // One shard (one worker): its list is the answer.
        let run = runs.pop().expect("one run");
        let mut top = run.top;
        top.truncate(n);
        errors.resize(top.len(), run.error);
        return (top, errors);
    }
    let mut pos = vec![0usize; runs.len()];
    let mut best: BinaryHeap<Best<'_>> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.top.first().map(|row| Best { row, run: i }))
        .collect();
    let mut picked: Vec<(usize, usize)> = Vec::with_capacity(n);
    while picked.len() < n {
        let Some(b) = best.pop() else { break };
        let i = b.run;
        picked.push((i, pos[i]));
        pos[i] += 1;
        if let Some(row) = runs[i].top.get(pos[i]) {
            best.push(Best { row, run: i });
        }
    }
    drop(best);
    for (i, p) in picked {
        rows.push(std::mem::take(&mut runs[i].top[p]));
        errors.push(runs[i].error);
    }
    (rows, errors)
}

/// A run's next row in [`merge_runs`]: ordered so that the best row is the greatest.
struct Best<'a> {
    row: &'a Row,
    run: usize,
}

impl PartialEq for Best<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Best<'_> {}

impl PartialOrd for Best<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Best<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        rank_order(other.row, self.row)
    }
}

/// The smaller of two optional values, `None` meaning none yet.
fn min_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[path = "merger_checkpoint.rs"]
mod checkpoint;

#[cfg(test)]
#[path = "merger_tests.rs"]
mod tests;
