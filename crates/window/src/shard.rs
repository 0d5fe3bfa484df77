//! One shard's sliding-window state over the tags routed to it.
//!
//! Data is stashed by delivery time on [`Shard::push`] and applied on [`Shard::advance`] in
//! time order, just before the first window it may count in, so the time-ordering rule holds
//! by construction: a datum applied while window `E` is the next to close has time `< E` and
//! counts in `E` and later windows only.
//!
//! The state is the applied counts per pane (a `BTreeMap` by pane of id → count) and the sum
//! over the panes of the next window (in [`TagTable`]). Moving from window `E` to `E'`
//! subtracts the panes leaving and adds the panes entering, so a slide costs what changed, not
//! w × distinct; a jump over empty windows costs the same as one slide.

use std::collections::hash_map::Entry;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::tags::{TagId, TagTable};
use crate::{top_k, WindowSpec};

/// One shard's result for one closed window: its top-K and totals over the tags it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardWindow {
    /// End pane of the window.
    pub end: u64,
    /// The shard's top-K, best first (count descending, then tag ascending by bytes).
    pub top: Vec<(String, u64)>,
    /// Distinct tags of this shard in the window.
    pub distinct: u64,
    /// Tag occurrences of this shard in the window.
    pub tags: u64,
}

/// One shard's sliding-window state over the tags routed to it.
#[derive(Debug)]
pub struct Shard {
    spec: WindowSpec,
    k: usize,
    /// The next window to close. Every window before it is closed; `tags` holds the sum of the
    /// applied counts of panes `[cur − w, cur)`.
    cur: u64,
    tags: TagTable,
    /// Applied counts per pane, only for panes `>= cur − w` (older ones no window needs).
    panes: BTreeMap<u64, FxHashMap<TagId, u64>>,
    /// Delivered but not yet applied, by delivery time: `(pane, tag, n)`.
    stash: BTreeMap<u64, Vec<(u64, TagId, u64)>>,
    /// Input ended: the state is empty and stays so.
    done: bool,
}

/// Compact the tag table once it has this many more slots than live tags, and 4× as many.
const COMPACT_SLACK: usize = 4096;

impl Shard {
    /// An empty shard keeping the top `k` tags of each window.
    pub fn new(spec: WindowSpec, k: usize) -> Self {
        Shard {
            spec,
            k,
            cur: spec.slide_panes(),
            tags: TagTable::default(),
            panes: BTreeMap::new(),
            stash: BTreeMap::new(),
            done: false,
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
        self.stash.entry(time).or_default().push((pane, id, n));
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
            if self.tags.distinct() > 0 {
                out.push(ShardWindow {
                    end: self.cur,
                    top: top_k(self.tags.counts(), self.k),
                    distinct: self.tags.distinct() as u64,
                    tags: self.tags.total(),
                });
            }
            // Never jump past the first open window: later data may still count in it.
            let target = match (self.next_nonempty_candidate(), frontier) {
                (Some(next), Some(f)) => next.min(self.spec.first_end_after(f)),
                (Some(next), None) => next,
                (None, Some(f)) => self.spec.first_end_after(f),
                (None, None) => break,
            };
            if target <= self.cur {
                break; // only at the end of u64 time
            }
            self.move_to(target);
        }
        if frontier.is_none() {
            self.done = true;
            self.panes = BTreeMap::new();
            self.stash = BTreeMap::new();
            self.tags = TagTable::default();
        } else if self.tags.slots() > COMPACT_SLACK + 4 * self.tags.live() {
            self.compact();
        }
        out
    }

    /// Distinct tags held (in open windows, later panes or the stash), for metrics.
    pub fn distinct_in_state(&self) -> usize {
        self.tags.live()
    }

    /// Applies every stashed datum delivered before `end`, the next window to close.
    fn apply_before(&mut self, end: u64) {
        let lo = end.saturating_sub(self.spec.window_panes());
        while let Some(entry) = self.stash.first_entry() {
            if *entry.key() >= end {
                break;
            }
            let data = entry.remove();
            let mut hint = data.len();
            for (pane, id, n) in data {
                if pane < lo {
                    // Every window holding it is closed (a datum behind the frontier).
                    self.tags.release(id);
                    continue;
                }
                // The first new pane of a batch is sized for the whole batch: one batch or a few fill
                // a pane, and growing a map of a million entries rehashes it twenty times.
                let counts = self.panes.entry(pane).or_insert_with(|| {
                    FxHashMap::with_capacity_and_hasher(
                        std::mem::take(&mut hint),
                        Default::default(),
                    )
                });
                match counts.entry(id) {
                    Entry::Occupied(mut e) => {
                        *e.get_mut() += n;
                        self.tags.release(id);
                    }
                    Entry::Vacant(e) => {
                        e.insert(n);
                    }
                }
                if pane < end {
                    self.tags.add(id, n);
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
            .map(|&time| after.max(self.spec.first_end_after(time)));
        match (from_panes, from_stash) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Makes `target > cur` the next window: subtracts the panes leaving, drops the panes no
    /// later window needs, adds the panes entering.
    fn move_to(&mut self, target: u64) {
        let old_hi = self.cur;
        let new_lo = target.saturating_sub(self.spec.window_panes());
        while let Some(entry) = self.panes.first_entry() {
            if *entry.key() >= new_lo {
                break;
            }
            let was_counted = *entry.key() < old_hi;
            for (id, n) in entry.remove() {
                if was_counted {
                    self.tags.sub(id, n);
                }
                self.tags.release(id);
            }
        }
        for (_, counts) in self.panes.range(old_hi.max(new_lo)..target) {
            for (&id, &n) in counts {
                self.tags.add(id, n);
            }
        }
        self.cur = target;
    }

    /// Rebuilds the tag table with dense ids, so that its memory follows the live tags after a
    /// burst of distinct tags has expired. O(state), run at most once per 4× shrink.
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.tags);
        let mut remap: Vec<Option<TagId>> = vec![None; old.slots()];
        let mut new = TagTable::default();
        let mut renumber = |id: TagId| match remap[id as usize] {
            Some(new_id) => {
                new.retain(new_id);
                new_id
            }
            None => *remap[id as usize].insert(new.acquire(old.tag(id))),
        };
        let lo = self.cur.saturating_sub(self.spec.window_panes());
        let mut counted = Vec::new();
        for (&pane, counts) in self.panes.iter_mut() {
            *counts = counts.drain().map(|(id, n)| (renumber(id), n)).collect();
            if (lo..self.cur).contains(&pane) {
                counted.extend(counts.iter().map(|(&id, &n)| (id, n)));
            }
        }
        for data in self.stash.values_mut() {
            for datum in data.iter_mut() {
                datum.1 = renumber(datum.1);
            }
        }
        for (id, n) in counted {
            new.add(id, n);
        }
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
            .all(|c| !c.is_empty() && c.values().all(|&n| n > 0)));
        let mut sum: FxHashMap<&str, u64> = FxHashMap::default();
        for (_, counts) in self.panes.range(lo..self.cur) {
            for (&id, &n) in counts {
                *sum.entry(self.tags.tag(id)).or_default() += n;
            }
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

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
