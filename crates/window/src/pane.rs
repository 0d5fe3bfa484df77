//! One pane's applied counts: tag id → occurrences, 8 bytes an entry.
//!
//! A `hashbrown::HashTable` of `(id, count)` pairs with `u32` counts: 9 bytes a bucket with
//! its control byte, where a `HashMap<u32, u64>` takes 17. Counts of `u32::MAX` or more move
//! to a side map, as the window counts do (see `tags.rs`).

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::tags::{add_spilled, get_spilled, TagId};

fn hash_id(id: TagId) -> u64 {
    FxBuildHasher.hash_one(id)
}

/// One pane's counts per tag id.
#[derive(Debug, Default)]
pub(crate) struct Pane {
    entries: HashTable<(TagId, u32)>,
    /// Counts of `u32::MAX` or more.
    big: FxHashMap<TagId, u64>,
}

impl Pane {
    /// An empty pane with room for `n` tags.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Pane {
            entries: HashTable::with_capacity(n),
            big: FxHashMap::default(),
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
}
