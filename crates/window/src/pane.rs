//! One pane's applied counts: tag id → occurrences, 8 bytes an entry.
//!
//! A `hashbrown::HashTable` of `(id, count)` pairs with `u32` counts: 9 bytes a bucket with
//! its control byte, where a `HashMap<u32, u64>` takes 17. Counts of `u32::MAX` or more move
//! to a side map, as the window counts do (see `tags.rs`).
//!
//! Past `--max-tags` the pane is a Misra–Gries summary (`bound.rs`): [`Pane::prune`] cuts
//! it to the bound, and the pane keeps its floor and the occurrences its prunes removed.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::bound::{threshold, Pruned};
use crate::tags::{add_spilled, get_spilled, TagId, SPILLED};

fn hash_id(id: TagId) -> u64 {
    FxBuildHasher.hash_one(id)
}

/// One pane's counts per tag id.
#[derive(Debug, Default)]
pub(crate) struct Pane {
    entries: HashTable<(TagId, u32)>,
    /// Counts of `u32::MAX` or more.
    big: FxHashMap<TagId, u64>,
    /// What the prunes of this pane subtracted (`floor`) and removed (`dropped`); zero while
    /// it is exact.
    pub(crate) pruned: Pruned,
}

impl Pane {
    /// An empty pane with room for `n` tags.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Pane {
            entries: HashTable::with_capacity(n),
            big: FxHashMap::default(),
            pruned: Pruned::default(),
        }
    }

    /// Adds `n` occurrences of `id`; returns whether the pane already held `id`.
    pub(crate) fn add(&mut self, id: TagId, n: u64) -> bool {
        let hash = hash_id(id);
        match self.entries.entry(hash, |e| e.0 == id, |e| hash_id(e.0)) {
            hashbrown::hash_table::Entry::Occupied(mut e) => {
                add_spilled(&mut e.get_mut().1, id, n, &mut self.big);
                true
            }
            hashbrown::hash_table::Entry::Vacant(e) => {
                let mut count = 0;
                add_spilled(&mut count, id, n, &mut self.big);
                e.insert((id, count));
                false
            }
        }
    }

    /// Heap bytes of the pane's tables, by capacity (9 bytes a bucket, 17 a spilled count).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * 9 + self.big.capacity() * 17
    }

    /// Tags in the pane.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// `(id, count)` of every tag, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (TagId, u64)> + '_ {
        self.entries
            .iter()
            .map(|&(id, n)| (id, get_spilled(n, id, &self.big)))
    }

    /// If the pane holds more than `cap` tags, prunes it to at most `cap` the Misra–Gries way
    /// (`bound.rs`): every count loses the (cap+1)-th largest, `t`. Calls `each(id, lost,
    /// gone)` for every tag, with what its count lost and whether it left the pane. Returns
    /// what this prune did (also added to [`Pane::pruned`]), or `None` if there was nothing to
    /// do.
    pub(crate) fn prune(
        &mut self,
        cap: usize,
        mut each: impl FnMut(TagId, u64, bool),
    ) -> Option<Pruned> {
        let mut counts: Vec<u64> = self.iter().map(|(_, n)| n).collect();
        let t = threshold(&mut counts, cap)?;
        drop(counts);
        let big = &mut self.big;
        let mut dropped = 0;
        self.entries.retain(|(id, c)| {
            let n = get_spilled(*c, *id, big);
            let lost = n.min(t);
            dropped += lost;
            let left = n - lost;
            if *c == SPILLED && left < u64::from(SPILLED) {
                big.remove(id);
                *c = left as u32;
            } else if *c == SPILLED {
                big.insert(*id, left);
            } else {
                *c = left as u32;
            }
            each(*id, lost, left == 0);
            left > 0
        });
        let p = Pruned { floor: t, dropped };
        self.pruned.add(p);
        self.trim();
        Some(p)
    }

    /// Gives back memory when the table is more than 4 times larger than its entries need
    /// (a batch with many repeats sized it for all of them).
    pub(crate) fn trim(&mut self) {
        if self.entries.capacity() > 4 * self.entries.len() + 1024 {
            self.entries.shrink_to_fit(|e| hash_id(e.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_spill() {
        let mut p = Pane::with_capacity(10_000);
        assert!(!p.add(7, 2));
        assert!(p.add(7, 3));
        assert!(!p.add(9, u64::from(u32::MAX)));
        assert!(p.add(9, 1));
        let mut all: Vec<(TagId, u64)> = p.iter().collect();
        all.sort();
        assert_eq!(all, [(7, 5), (9, u64::from(u32::MAX) + 1)]);
        p.trim();
        assert!(p.entries.capacity() < 100);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn a_prune_keeps_the_counts_above_the_threshold() {
        let mut p = Pane::with_capacity(8);
        for (id, n) in [(1, 9), (2, 3), (3, 3), (4, 1), (5, u64::from(u32::MAX) + 5)] {
            p.add(id, n);
        }
        assert!(p.prune(5, |_, _, _| panic!("nothing to prune")).is_none());
        let mut seen = Vec::new();
        let done = p.prune(2, |id, lost, gone| seen.push((id, lost, gone)));
        seen.sort();
        assert_eq!(
            seen,
            [
                (1, 3, false),
                (2, 3, true),
                (3, 3, true),
                (4, 1, true),
                (5, 3, false)
            ]
        );
        assert_eq!(
            done,
            Some(Pruned {
                floor: 3,
                dropped: 13
            })
        );
        let mut all: Vec<(TagId, u64)> = p.iter().collect();
        all.sort();
        assert_eq!(all, [(1, 6), (5, u64::from(u32::MAX) + 2)]);
        p.prune(1, |_, _, _| {});
        assert_eq!(p.iter().collect::<Vec<_>>(), [(5, u64::from(u32::MAX) - 4)]);
        assert!(p.big.is_empty(), "back under u32::MAX");
        assert_eq!(
            p.pruned,
            Pruned {
                floor: 9,
                dropped: 13 + 6 + 6
            }
        );
    }
}
