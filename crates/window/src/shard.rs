//! One shard's sliding-window state over the tags routed to it.
//!
//! Data is stashed by delivery time on [`Shard::push`] and applied on [`Shard::advance`] in
//! time order, just before the first window it may count in, so the time-ordering rule holds
//! by construction: a datum applied while window `E` is the next to close has time `< E` and
//! counts in `E` and later windows only.
//!
//! The state is the applied counts per pane (a `BTreeMap` by pane of [`Pane`]s, id → count)
//! and the sum over the panes of the next window (in [`TagTable`]). Moving from window `E` to
//! `E'` subtracts the panes leaving and adds the panes entering, so a slide costs what
//! changed, not w × distinct; a jump over empty windows costs the same as one slide.
//!
//! Memory per distinct tag is kept small (issue 5; `tags.rs` and `pane.rs` say how): 56 heap
//! bytes at 10^7 distinct 12-byte tags in one pane (`examples/state_size.rs`); each further
//! pane holding a tag adds an 8-byte entry to that pane's table (about 15 bytes with the
//! table's slack).
//!
//! With a bound on distinct tags ([`Shard::with_max_tags`], issue 15) a pane that would hold
//! more than N tags after its data is applied is pruned to a Misra–Gries summary
//! (`bound.rs`): the window then sums summaries, and reports each count as an upper bound
//! with its error. Below the bound nothing is pruned and nothing changes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bound::Pruned;
use crate::pane::Pane;
use crate::tags::{TagId, TagTable, SPILLED};
use crate::trend::{Trend, TrendSpec, Trends};
use crate::WindowSpec;

/// One shard's result for one closed window: its top-K and totals over the tags it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardWindow {
    /// End pane of the window.
    pub end: u64,
    /// The shard's top-K, best first (count descending, then tag ascending by bytes).
    pub top: Vec<crate::Row>,
    /// Distinct tags of this shard in the window.
    pub distinct: u64,
    /// Tag occurrences of this shard in the window.
    pub tags: u64,
    /// The shard's trending tags, best first (empty without trends; see [`Shard::with_trends`]).
    pub trending: Vec<Trend>,
    /// Past the bound on distinct tags (issue 15): the most each count of `top` may overstate
    /// (the truth is in `[count − error, count]`), which is also the most occurrences a tag of
    /// this shard left out of the window's summary may have. 0 while every count is exact.
    pub error: u64,
}

/// Tags ranked (and in the window) from which [`Shard::advance`] ranks on a second thread
/// while it scores trends: below it, a thread costs more than it saves.
const PARALLEL_RANK: usize = 20_000;

/// One shard's sliding-window state over the tags routed to it.
#[derive(Debug)]
pub struct Shard {
    spec: WindowSpec,
    k: usize,
    /// The tags a window ranks when a later window closes in the same [`Shard::advance`].
    superseded_k: usize,
    /// The next window to close. Every window before it is closed; `tags` holds the sum of the
    /// applied counts of panes `[cur − w, cur)`.
    cur: u64,
    tags: TagTable,
    /// Applied counts per pane, only for panes `>= cur − w` (older ones no window needs).
    panes: BTreeMap<u64, Pane>,
    /// Delivered but not yet applied, by delivery time and pane.
    stash: BTreeMap<(u64, u64), Batch>,
    /// Input ended: the state is empty and stays so.
    done: bool,
    /// Distinct authors and baselines, when trends are on.
    trends: Option<Trends>,
    /// The bound on distinct tags per pane (`None`: exact at any cardinality).
    max_tags: Option<usize>,
}

/// Data delivered at one time for one pane: `(tag, n)`, 8 bytes a datum. An `n` of
/// `u32::MAX` or more is [`SPILLED`] in `data` and its value is the next one in `big`.
#[derive(Debug, Default)]
struct Batch {
    data: Vec<(TagId, u32)>,
    big: Vec<u64>,
}

impl Batch {
    fn push(&mut self, id: TagId, n: u64) {
        if n < u64::from(SPILLED) {
            self.data.push((id, n as u32));
        } else {
            self.data.push((id, SPILLED));
            self.big.push(n);
        }
    }

    fn len(&self) -> usize {
        self.data.len()
    }

    /// `(tag, n)` in push order.
    fn iter(&self) -> impl Iterator<Item = (TagId, u64)> + '_ {
        let mut big = self.big.iter();
        self.data.iter().map(move |&(id, n)| match n {
            SPILLED => (id, *big.next().expect("a spilled count is in `big`")),
            n => (id, u64::from(n)),
        })
    }
}

/// Compact the tag table once it has this many more slots than live tags, and 4× as many.
/// Tiny in tests, so that the property tests compact all the time.
const COMPACT_SLACK: usize = if cfg!(test) { 2 } else { 4096 };

impl Shard {
    /// An empty shard keeping the top `k` tags of each window.
    pub fn new(spec: WindowSpec, k: usize) -> Self {
        Shard {
            spec,
            k,
            superseded_k: k,
            cur: spec.slide_panes(),
            tags: TagTable::default(),
            panes: BTreeMap::new(),
            stash: BTreeMap::new(),
            done: false,
            trends: None,
            max_tags: None,
        }
    }

    /// Ranks only `k` tags (at most the shard's own `k`) for a window that a later window
    /// supersedes within the same [`Shard::advance`]: a replay closes thousands of windows a
    /// step, and only the newest one's full list (the counts table) is kept. Such a window's
    /// list is shorter than its distinct tags allow, which tells the merger so
    /// ([`crate::Merger::with_counts`]).
    pub fn with_superseded_k(mut self, k: usize) -> Self {
        self.superseded_k = k.min(self.k);
        self
    }

    /// Bounds the distinct tags of every pane to `max_tags` (issue 15): past it a pane is
    /// pruned to a mergeable heavy-hitters summary (`bound.rs`), and the windows holding it
    /// report upper bounds with an error. While no pane exceeds it, the output is exactly that
    /// of an unbounded shard (with trends counting authors: nor its budget of (tag, author)
    /// pairs, `crate::authors`; with trends: nor its budget of baselines, `crate::trend`). A
    /// window sums its panes' summaries, so it holds at most `window_panes × max_tags` tags.
    pub fn with_max_tags(mut self, max_tags: usize) -> Self {
        self.max_tags = Some(max_tags.max(1));
        self
    }

    /// The bound on distinct tags per pane, if any ([`Shard::with_max_tags`]).
    pub fn max_tags(&self) -> Option<usize> {
        self.max_tags
    }

    /// The most (tag, author) pairs a pane of the trends keeps exactly: past it they are a hash
    /// sample (`crate::authors`). Unbounded without a bound on distinct tags.
    fn pair_budget(&self) -> usize {
        self.max_tags.map_or(usize::MAX, |n| {
            n.saturating_mul(crate::authors::PAIRS_PER_TAG)
        })
    }

    /// The most trend baselines the shard keeps, and how many a cut leaves (`crate::trend`):
    /// past the first, the faintest are forgotten early. Unbounded without a bound on tags.
    fn baseline_budget(&self) -> (usize, usize) {
        self.max_tags.map_or((usize::MAX, usize::MAX), |n| {
            let panes = usize::try_from(self.spec.window_panes()).unwrap_or(usize::MAX);
            let room = |slack: usize| n.saturating_mul(panes.saturating_add(slack));
            let slack = crate::trend::BASELINE_SLACK_PANES;
            (room(slack), room(slack / 2))
        })
    }

    /// Also finds each window's trending tags (`crate::trend`), counting distinct authors
    /// (pushed with [`Shard::push_author`]) when `authors`, else posts.
    pub fn with_trends(mut self, spec: TrendSpec, authors: bool) -> Self {
        self.trends = Some(Trends::new(spec, authors));
        self
    }

    /// Notes that a worker's earliest record is in `pane` (delivered at `time`): windows
    /// starting before the least of these hold part of a window, and find no trends.
    pub fn push_first(&mut self, time: u64, pane: u64) {
        if let Some(t) = self.trends.as_mut() {
            t.push_first(time, pane);
        }
    }

    /// Buffers that `author` (a key) wrote `tag` in `pane`, delivered at `time`, under the
    /// same rules as [`Shard::push`]; ignored unless trends count authors.
    pub fn push_author(&mut self, time: u64, pane: u64, tag: &str, author: u64) {
        let last = self.spec.last_window_end_holding(pane);
        if self.done || last <= pane || last <= time || last < self.cur {
            return;
        }
        let budget = self.pair_budget();
        if let Some(t) = self.trends.as_mut().filter(|t| t.tracks_authors()) {
            t.push_author(time, pane, tag, author, budget);
        }
    }

    /// Buffers `n` occurrences of `tag` in `pane`, delivered at `time`. Cheap: the tag is
    /// interned (no allocation if the shard already holds it) and the datum stashed; the window
    /// work happens in [`Shard::advance`].
    ///
    /// Data that can count in no open window is dropped here: late data (the sender should
    /// have dropped it), data for a pane whose windows are all closed, data for a pane between
    /// windows, and anything after the input ended.
    pub fn push(&mut self, time: u64, pane: u64, tag: &str, n: u64) {
        let last = self.spec.last_window_end_holding(pane);
        if self.done || n == 0 || last <= pane || last <= time || last < self.cur {
            return;
        }
        let id = self.tags.acquire(tag);
        self.stash.entry((time, pane)).or_default().push(id, n);
    }

    /// The frontier moved to `frontier`: all data with time `< f` has been pushed (`None`: the
    /// input ended). Applies the stash in time order and returns, in end order, every newly
    /// closed window (`E <= f`; with `None`, all that remain) that holds at least one tag of
    /// this shard. After `None` the shard is empty and done. A frontier lower than an earlier
    /// one closes nothing.
    pub fn advance(&mut self, frontier: Option<u64>) -> Vec<ShardWindow> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        loop {
            if frontier.is_some_and(|f| self.cur > f) {
                break;
            }
            self.apply_before(self.cur);
            let budget = self.pair_budget();
            if let Some(t) = self.trends.as_mut() {
                t.apply_before(self.cur, &self.spec, budget);
            }
            // Never jump past the first open window: later data may still count in it.
            let target = match (self.next_nonempty_candidate(), frontier) {
                (Some(next), Some(f)) => Some(next.min(self.spec.first_end_after(f))),
                (Some(next), None) => Some(next),
                (None, Some(f)) => Some(self.spec.first_end_after(f)),
                (None, None) => None,
            };
            // Whether a later window closes in this same call: then this one is superseded
            // at once and ranks only `superseded_k` tags.
            let superseded =
                target.is_some_and(|t| t > self.cur && frontier.is_none_or(|f| t <= f));
            // A window whose every tag was pruned away still reports its total and floor.
            if self.tags.distinct() > 0 || self.tags.pruned().dropped > 0 {
                let k = if superseded {
                    self.superseded_k
                } else {
                    self.k
                };
                let (trending, mut top) = self.score_and_rank(k);
                let (most, keep) = self.baseline_budget();
                if let Some(t) = self.trends.as_mut() {
                    t.bound_baselines(self.cur, self.spec.slide_panes(), most, keep);
                }
                // Past the bound a count is the summed counters plus the window's floor:
                // the upper bound of the true count (`bound.rs`).
                let floor = self.tags.pruned().floor;
                if floor > 0 {
                    top.iter_mut().for_each(|(_, n)| *n += floor);
                }
                out.push(ShardWindow {
                    end: self.cur,
                    top,
                    distinct: self.tags.distinct() as u64,
                    tags: self.tags.total(),
                    trending,
                    error: floor,
                });
            }
            match target {
                Some(t) if t > self.cur => self.move_to(t),
                _ => break, // nothing stored, or the end of u64 time
            }
        }
        if frontier.is_none() {
            self.done = true;
            self.panes = BTreeMap::new();
            self.stash = BTreeMap::new();
            self.tags = TagTable::default();
            if let Some(t) = self.trends.as_mut() {
                *t = Trends::new(t.spec, t.tracks_authors());
            }
        } else if self.tags.slots() > COMPACT_SLACK + 4 * self.tags.live() {
            self.compact();
        } else {
            self.tags.compact_arena();
        }
        out
    }

    /// The current window's trending tags and its `k` best tags. Both read every tag of the
    /// window; when both are large (`--counts` on a window of many tags), the ranking runs on
    /// a second thread meanwhile: it is most of the time from a window's end to its counts.
    fn score_and_rank(&mut self, k: usize) -> (Vec<Trend>, Vec<crate::Row>) {
        let (tags, spec, cur) = (&self.tags, &self.spec, self.cur);
        let Some(trends) = self.trends.as_mut() else {
            return (Vec::new(), tags.top(k));
        };
        if k.min(tags.distinct()) < PARALLEL_RANK {
            return (trends.score(cur, spec, tags.counts()), tags.top(k));
        }
        // The baselines grow first, alone: their growth is the window's peak of memory, and
        // the rows ranked meanwhile would add to it.
        trends.reserve(cur, spec, tags.distinct(), tags.counts());
        std::thread::scope(|s| {
            let ranking = std::thread::Builder::new().spawn_scoped(s, || tags.top(k));
            let trending = trends.score(cur, spec, tags.counts());
            let top = match ranking {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
                Err(_) => tags.top(k), // no thread to spare: in turn
            };
            (trending, top)
        })
    }

    /// Heap bytes of the window state, from the capacities of its tables: tags, panes,
    /// stash and trends (a tree node is counted as 64 bytes an entry). What `/metrics`
    /// reports as window state: it follows the bound on distinct tags, where the process's
    /// resident size also holds freed memory the allocator keeps.
    pub fn state_bytes(&self) -> u64 {
        const NODE: usize = 64;
        let panes: usize = self.panes.values().map(|p| p.heap_bytes() + NODE).sum();
        let stash: usize = (self.stash.values())
            .map(|b| b.data.capacity() * 8 + b.big.capacity() * 8 + NODE)
            .sum();
        let trends = self.trends.as_ref().map_or(0, Trends::heap_bytes);
        (self.tags.heap_bytes() + panes + stash + trends) as u64
    }

    /// Distinct tags held (in open windows, later panes or the stash), for metrics.
    pub fn distinct_in_state(&self) -> usize {
        self.tags.live()
    }

    /// Applies every stashed datum delivered before `end`, the next window to close.
    fn apply_before(&mut self, end: u64) {
        let lo = end.saturating_sub(self.spec.window_panes());
        while let Some(entry) = self.stash.first_entry() {
            let (time, pane) = *entry.key();
            if time >= end {
                break;
            }
            let data = entry.remove();
            if pane < lo {
                // Every window holding it is closed (data behind the frontier).
                for (id, _) in data.iter() {
                    self.tags.release(id);
                }
                continue;
            }
            // A new pane is sized for the whole batch: one batch or a few fill a pane, and
            // growing a table of a million entries rehashes it twenty times.
            let counts = self
                .panes
                .entry(pane)
                .or_insert_with(|| Pane::with_capacity(data.len()));
            for (id, n) in data.iter() {
                if counts.add(id, n) {
                    self.tags.release(id);
                }
                if pane < end {
                    self.tags.add(id, n);
                }
            }
            counts.trim();
            if let Some(cap) = self.max_tags {
                // After each delivery time's data, in time order: where a pane is pruned
                // depends on the data alone, not on when `advance` was called.
                let counted = pane < end;
                let tags = &mut self.tags;
                let pruned = counts.prune(cap, |id, lost, left| {
                    if counted {
                        tags.sub(id, lost);
                    }
                    if left {
                        tags.release(id);
                    }
                });
                if let (Some(p), true) = (pruned, counted) {
                    tags.count_pruned(p, true);
                }
            }
        }
    }

    /// The next window after `cur` that may hold data: the window after `cur` if a stored pane
    /// is in it, else the first window holding the next stored pane, or the first window after
    /// the earliest stashed time, whichever comes first. `None` if nothing is stored.
    fn next_nonempty_candidate(&self) -> Option<u64> {
        let after = self.cur.saturating_add(self.spec.slide_panes());
        let lo = after.saturating_sub(self.spec.window_panes());
        let from_panes = self
            .panes
            .range(lo..)
            .next()
            .map(|(&pane, _)| after.max(self.spec.first_window_end_holding(pane)));
        let from_stash = self
            .stash
            .keys()
            .next()
            .map(|&(time, _)| after.max(self.spec.first_end_after(time)));
        match (from_panes, from_stash) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Makes `target > cur` the next window: subtracts the panes leaving, drops the panes no
    /// later window needs, adds the panes entering.
    fn move_to(&mut self, target: u64) {
        if let Some(t) = self.trends.as_mut() {
            t.move_to(self.cur, target, &self.spec);
        }
        let span = (self.cur, target, self.spec.window_panes());
        crate::slide(
            &mut self.panes,
            &mut self.tags,
            span,
            |tags, pane, counted| {
                for (id, n) in pane.iter() {
                    if counted {
                        tags.sub(id, n);
                    }
                    tags.release(id);
                }
                if counted {
                    tags.count_pruned(pane.pruned, false);
                }
            },
            |tags, pane| {
                for (id, n) in pane.iter() {
                    tags.add(id, n);
                }
                tags.count_pruned(pane.pruned, true);
            },
        );
        self.cur = target;
    }

    /// Rebuilds the tag table with dense ids, so that its memory follows the live tags after a
    /// burst of distinct tags has expired. O(state), run at most once per 4× shrink.
    fn compact(&mut self) {
        const NEW: TagId = TagId::MAX;
        let old = std::mem::take(&mut self.tags);
        let mut remap: Vec<TagId> = vec![NEW; old.slots()];
        let mut new = TagTable::default();
        let mut renumber = |id: TagId| {
            let new_id = &mut remap[id as usize];
            if *new_id == NEW {
                *new_id = new.acquire(old.tag(id));
            } else {
                new.retain(*new_id);
            }
            *new_id
        };
        let lo = self.cur.saturating_sub(self.spec.window_panes());
        let mut counted = Vec::new();
        for (&pane, counts) in self.panes.iter_mut() {
            let mut renumbered = Pane::with_capacity(counts.len());
            renumbered.pruned = counts.pruned;
            for (id, n) in counts.iter() {
                renumbered.add(renumber(id), n);
            }
            *counts = renumbered;
            if (lo..self.cur).contains(&pane) {
                counted.extend(counts.iter());
            }
        }
        for batch in self.stash.values_mut() {
            for datum in batch.data.iter_mut() {
                datum.0 = renumber(datum.0);
            }
        }
        for (id, n) in counted {
            new.add(id, n);
        }
        new.count_pruned(old.pruned(), true);
        self.tags = new;
    }

    /// Checks the state's invariants (tests only).
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let lo = self.cur.saturating_sub(self.spec.window_panes());
        assert_eq!(self.cur % self.spec.slide_panes(), 0);
        assert!(
            self.panes.keys().all(|&p| p >= lo),
            "a pane no window needs is kept"
        );
        assert!(self
            .panes
            .values()
            .all(|c| (c.len() > 0 || c.pruned.floor > 0) && c.iter().all(|(_, n)| n > 0)));
        assert!(
            self.panes.values().all(|c| match self.max_tags {
                Some(cap) => c.len() <= cap,
                None => c.pruned == Pruned::default(),
            }),
            "panes are within the bound, and only pruned with one"
        );
        let mut sum: std::collections::HashMap<&str, u64> = Default::default();
        let mut pruned = Pruned::default();
        for (_, counts) in self.panes.range(lo..self.cur) {
            for (id, n) in counts.iter() {
                *sum.entry(self.tags.tag(id)).or_default() += n;
            }
            pruned.add(counts.pruned);
        }
        assert_eq!(
            pruned,
            self.tags.pruned(),
            "the window's floor sums its panes'"
        );
        let mut refs = vec![0u32; self.tags.slots()];
        let pane_ids = self.panes.values().flat_map(|c| c.iter().map(|(id, _)| id));
        let stash_ids = self.stash.values().flat_map(|d| d.iter().map(|(id, _)| id));
        for id in pane_ids.chain(stash_ids) {
            refs[id as usize] += 1;
        }
        let live: Vec<TagId> = (0..refs.len() as TagId)
            .filter(|&id| refs[id as usize] > 0)
            .collect();
        assert_eq!(
            live.len(),
            self.tags.live(),
            "live tags are the referenced ones"
        );
        for id in live {
            assert_eq!(self.tags.refs(id), refs[id as usize], "references to {id}");
        }
        let mut held: Vec<(&str, u64)> = self.tags.counts().collect();
        held.sort();
        let mut want: Vec<(&str, u64)> = sum.into_iter().collect();
        want.sort();
        assert_eq!(
            held, want,
            "the running sum is the sum of the window's panes"
        );
        if self.done {
            assert!(self.panes.is_empty() && self.stash.is_empty() && self.tags.live() == 0);
        }
    }
}

#[path = "shard_checkpoint.rs"]
mod checkpoint;

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
