//! Distinct authors per tag over a window, for trends: per pane the (tag, author) pairs, and
//! over the window how many of its panes hold each pair.
//!
//! # The bound (issue 15)
//!
//! With a bound on distinct tags (`--max-tags N`), each pane, and each delivery not yet
//! applied, keeps at most `N ×` [`PAIRS_PER_TAG`] pairs: no flood of tags or of authors makes
//! them grow with the input. Past that budget a set keeps a *hash sample* of its pairs: the
//! pairs whose hash has at least `level` trailing zero bits, one pair in `2^level`, with the
//! least level that fits the budget. A window counts, per tag, its panes' pairs that pass the
//! highest level among them, times `2^level`: an estimate of the tag's distinct authors whose
//! relative error is about `1/√(pairs counted)`, where a level of 0 is the exact count.
//!
//! A shard's sample of a pane is a function of the set of the pane's pairs it holds: a pair
//! passes or not by its own hash, and the level is the least that fits, so it is the same
//! however the pairs were split into deliveries and workers, in whatever order they came, and
//! after a restore (a set only grows within its pane, so a level found too small is raised,
//! never lowered). The budget is per shard: which tags share a shard (the number of workers)
//! changes the sample, as it changes the counts' summaries past the bound. Without a bound
//! every set is exact, as before.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::codec::{Reader, Writer};
use crate::WindowSpec;

/// Pairs a pane may hold per tag of its bound on distinct tags: a pane of `--max-tags`
/// tags averaging up to four distinct authors each is counted exactly.
pub(crate) const PAIRS_PER_TAG: usize = 4;

/// The highest sample level: one pair in 2^63.
const MAX_LEVEL: u32 = 63;

/// A (tag key, author key) pair.
type Pair = (u64, u64);

/// A fixed 64-bit mix of a pair (splitmix64's finalizer, twice): the same in every process
/// and build, so that samples merge across shards and survive checkpoints.
fn pair_hash((tag, author): Pair) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    mix(tag ^ mix(author.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// Whether `p` is in the sample of level `level`.
fn passes(p: Pair, level: u32) -> bool {
    level == 0 || pair_hash(p).trailing_zeros() >= level
}

/// A set of distinct pairs, or past its budget a hash sample of it (see the module docs).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Pairs {
    level: u32,
    set: FxHashSet<Pair>,
}

impl Pairs {
    /// Adds `p` (if it passes the level); returns whether the set changed.
    fn insert(&mut self, p: Pair) -> bool {
        passes(p, self.level) && self.set.insert(p)
    }

    /// Keeps only the pairs of level `level` or more.
    fn raise_to(&mut self, level: u32) {
        if level > self.level {
            self.level = level;
            self.set.retain(|&p| passes(p, level));
        }
    }

    /// Raises the level until at most `budget` pairs are left; returns whether it rose.
    fn bound(&mut self, budget: usize) -> bool {
        let before = self.level;
        while self.set.len() > budget && self.level < MAX_LEVEL {
            self.raise_to(self.level + 1);
        }
        let rose = self.level != before;
        if rose && self.set.capacity() > 4 * self.set.len() + 1024 {
            self.set.shrink_to_fit();
        }
        rose
    }

    fn len(&self) -> usize {
        self.set.len()
    }

    fn write(&self, w: &mut Writer<'_>) {
        w.u64(u64::from(self.level));
        w.u64(self.set.len() as u64);
        let mut pairs: Vec<_> = self.set.iter().collect();
        pairs.sort_unstable();
        for (t, au) in pairs {
            w.u64(*t);
            w.u64(*au);
        }
    }

    /// Reads what [`Pairs::write`] wrote: a level up to [`MAX_LEVEL`], then pairs in
    /// ascending order (so each once), each passing the level.
    fn read(r: &mut Reader<'_>) -> Result<Pairs, String> {
        let level = u32::try_from(r.u64()?)
            .ok()
            .filter(|&l| l <= MAX_LEVEL)
            .ok_or_else(|| r.bad("an author sample's level"))?;
        let mut set = FxHashSet::default();
        let mut prev = None;
        for _ in 0..r.count(2)? {
            let p = (r.u64()?, r.u64()?);
            if prev.is_some_and(|q| p <= q) {
                return Err(r.bad("author pairs out of order or repeated"));
            }
            if !passes(p, level) {
                return Err(r.bad("an author pair outside its sample"));
            }
            prev = Some(p);
            set.insert(p);
        }
        Ok(Pairs { level, set })
    }
}

/// Over the window: panes holding each pair that passes the window's level (the highest of
/// its panes'), and such pairs per tag.
#[derive(Debug, Default)]
struct Window {
    level: u32,
    pairs: FxHashMap<Pair, u32>,
    distinct: FxHashMap<u64, u64>,
}

impl Window {
    fn add(&mut self, p: Pair) {
        if !passes(p, self.level) {
            return;
        }
        let n = self.pairs.entry(p).or_default();
        *n += 1;
        if *n == 1 {
            *self.distinct.entry(p.0).or_default() += 1;
        }
    }

    fn enter(&mut self, pane: &Pairs) {
        for &p in &pane.set {
            self.add(p);
        }
    }

    fn leave(&mut self, pane: &Pairs) {
        for p in pane.set.iter().filter(|&&p| passes(p, self.level)) {
            if let Some(n) = self.pairs.get_mut(p) {
                *n -= 1;
                if *n == 0 {
                    self.pairs.remove(p);
                    if let Some(d) = self.distinct.get_mut(&p.0) {
                        *d -= 1;
                        if *d == 0 {
                            self.distinct.remove(&p.0);
                        }
                    }
                }
            }
        }
    }
}

/// A shard's distinct authors: deliveries not yet applied, the panes' pairs and the window's.
#[derive(Debug, Default)]
pub(crate) struct Authors {
    /// Delivered, not yet applied, by (time, pane).
    stash: BTreeMap<(u64, u64), Pairs>,
    /// Applied pairs per pane, for panes `>= cur − w`.
    panes: BTreeMap<u64, Pairs>,
    /// Over the window `[cur − w, cur)`.
    window: Window,
}

impl Authors {
    /// Buffers that `author` wrote the tag with key `tag` in `pane`, delivered at `time`;
    /// `budget` is the most pairs a set may hold.
    pub(crate) fn push(&mut self, time: u64, pane: u64, tag: u64, author: u64, budget: usize) {
        let set = self.stash.entry((time, pane)).or_default();
        // A raised level halves the set (in expectation): the pass over it that raising
        // takes is paid for by as many insertions.
        if set.insert((tag, author)) && set.len() > budget {
            set.bound(budget);
        }
    }

    /// Applies what was delivered before `end`, the window about to close (`[end − w, end)`).
    pub(crate) fn apply_before(&mut self, end: u64, spec: &WindowSpec, budget: usize) {
        let lo = end.saturating_sub(spec.window_panes());
        let mut rebuild = false;
        while let Some(entry) = self.stash.first_entry() {
            let (time, pane) = *entry.key();
            if time >= end {
                break;
            }
            let new = entry.remove();
            if pane < lo {
                continue;
            }
            let counted = pane < end;
            let set = self.panes.entry(pane).or_default();
            let raised = new.level > set.level;
            set.raise_to(new.level);
            for p in new.set {
                if set.insert(p) && counted && !raised {
                    self.window.add(p);
                }
            }
            // Every pane is held to the budget, counted or not (a later pane gets deliveries at
            // many times). Any change of a counted pane's level changes what the window
            // counts: it is counted again from its panes (rare: once per doubling of a flood).
            let rose = set.bound(budget);
            rebuild |= counted && (rose || raised);
        }
        if rebuild {
            self.rebuild(end, spec);
        }
    }

    /// Slides the window from `cur` to `target`.
    pub(crate) fn move_to(&mut self, cur: u64, target: u64, spec: &WindowSpec) {
        crate::slide(
            &mut self.panes,
            &mut self.window,
            (cur, target, spec.window_panes()),
            |w, pane, counted| {
                if counted {
                    w.leave(&pane);
                }
            },
            |w, pane| w.enter(pane),
        );
        if self.level_of(target, spec) != self.window.level {
            self.rebuild(target, spec);
        }
    }

    /// The highest level of the panes of the window ending at `end`.
    fn level_of(&self, end: u64, spec: &WindowSpec) -> u32 {
        let lo = end.saturating_sub(spec.window_panes());
        let panes = self.panes.range(lo..end).map(|(_, p)| p.level);
        panes.max().unwrap_or(0)
    }

    /// Counts the window ending at `end` again from its panes.
    fn rebuild(&mut self, end: u64, spec: &WindowSpec) {
        let lo = end.saturating_sub(spec.window_panes());
        self.window = Window {
            level: self.level_of(end, spec),
            ..Window::default()
        };
        for (_, pane) in self.panes.range(lo..end) {
            self.window.enter(pane);
        }
    }

    /// Distinct authors of the tag with key `tag` in the window: exact at level 0, else the
    /// sample's count scaled up.
    pub(crate) fn distinct(&self, tag: u64) -> u64 {
        let d = self.window.distinct.get(&tag).copied().unwrap_or(0);
        d.saturating_mul(1u64 << self.window.level)
    }

    /// Pairs held in the panes, the stash and the window's count of them, for metrics.
    pub(crate) fn pairs(&self) -> usize {
        let panes: usize = self.panes.values().map(Pairs::len).sum();
        let stash: usize = self.stash.values().map(Pairs::len).sum();
        panes + stash + self.window.pairs.len()
    }

    /// Writes the state as of time `before` (deliveries before it), in a fixed order.
    pub(crate) fn snapshot(&self, before: u64, w: &mut Writer<'_>) {
        let stash: Vec<_> = self.stash.range(..(before, 0)).collect();
        w.u64(stash.len() as u64);
        for ((time, pane), pairs) in stash {
            w.u64(*time);
            w.u64(*pane);
            pairs.write(w);
        }
        w.u64(self.panes.len() as u64);
        for (pane, pairs) in &self.panes {
            w.u64(*pane);
            pairs.write(w);
        }
    }

    /// Reads what [`Authors::snapshot`] wrote, with `cur` the shard's next window.
    /// Deliveries and panes come in ascending order, each once, and every pane is in an open
    /// window (as the shard's own panes are checked).
    pub(crate) fn restore(r: &mut Reader<'_>, cur: u64, spec: &WindowSpec) -> Result<Self, String> {
        let mut a = Authors::default();
        for _ in 0..r.count(4)? {
            let key = (r.u64()?, r.u64()?);
            if a.stash.last_key_value().is_some_and(|(k, _)| key <= *k) {
                return Err(r.bad("author deliveries out of order or repeated"));
            }
            a.stash.insert(key, Pairs::read(r)?);
        }
        for _ in 0..r.count(3)? {
            let last = a.panes.last_key_value().map(|(&p, _)| p);
            let pane = r.open_pane("author pane", last, cur, spec)?;
            a.panes.insert(pane, Pairs::read(r)?);
        }
        a.rebuild(cur, spec);
        Ok(a)
    }

    /// The window's sample level (tests).
    #[cfg(test)]
    pub(crate) fn level(&self) -> u32 {
        self.window.level
    }
}

#[cfg(test)]
#[path = "authors_tests.rs"]
mod tests;
