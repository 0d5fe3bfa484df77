//! The tags a shard holds: interned to dense ids, reference-counted, with the running count of
//! each tag in the current window.
//!
//! Interning makes the per-pane maps and the window sum cheap: the string is hashed once per
//! push, and every later step (apply, slide, expire) works on `u32` ids and a dense `Vec`.
//! A tag lives while any stashed datum or stored pane refers to it, so memory follows the live
//! panes, not the history.

use std::sync::Arc;

use rustc_hash::FxHashMap;

/// Dense id of an interned tag.
pub(crate) type TagId = u32;

/// One interned tag.
#[derive(Debug)]
struct Slot {
    /// `None` while the slot is free.
    tag: Option<Arc<str>>,
    /// Stashed data and pane entries referring to this id.
    refs: u64,
    /// Occurrences in the current window.
    count: u64,
    /// Index in `active` while `count > 0`.
    pos: u32,
}

/// Interned tags with reference counts and the current window's counts.
#[derive(Debug, Default)]
pub(crate) struct TagTable {
    /// Tag → id, for live tags. `Arc` so that the table and its slot share one allocation.
    ids: FxHashMap<Arc<str>, TagId>,
    slots: Vec<Slot>,
    /// Free slots, reused before the table grows.
    free: Vec<TagId>,
    /// Ids whose window count is positive, in no particular order: top-K walks only these.
    active: Vec<TagId>,
    /// Sum of the window counts.
    total: u64,
}

impl TagTable {
    /// The id of `tag`, interning it if new, with one more reference.
    pub(crate) fn acquire(&mut self, tag: &str) -> TagId {
        if let Some(&id) = self.ids.get(tag) {
            self.slots[id as usize].refs += 1;
            return id;
        }
        let tag: Arc<str> = Arc::from(tag);
        let slot = Slot {
            tag: Some(tag.clone()),
            refs: 1,
            count: 0,
            pos: 0,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                let id = TagId::try_from(self.slots.len()).expect("more than 2^32 live tags");
                self.slots.push(slot);
                id
            }
        };
        self.ids.insert(tag, id);
        id
    }

    /// One more reference to a live id.
    pub(crate) fn retain(&mut self, id: TagId) {
        self.slots[id as usize].refs += 1;
    }

    /// One reference fewer; the tag is forgotten with its last reference.
    pub(crate) fn release(&mut self, id: TagId) {
        let slot = &mut self.slots[id as usize];
        slot.refs -= 1;
        if slot.refs == 0 {
            debug_assert_eq!(slot.count, 0, "a counted tag must be referenced by a pane");
            if let Some(tag) = slot.tag.take() {
                self.ids.remove(&*tag);
            }
            self.free.push(id);
        }
    }

    /// Adds `n` occurrences of `id` to the current window.
    pub(crate) fn add(&mut self, id: TagId, n: u64) {
        let slot = &mut self.slots[id as usize];
        if slot.count == 0 && n > 0 {
            slot.pos = self.active.len() as u32;
            self.active.push(id);
        }
        slot.count += n;
        self.total += n;
    }

    /// Removes `n` occurrences of `id` from the current window.
    pub(crate) fn sub(&mut self, id: TagId, n: u64) {
        let slot = &mut self.slots[id as usize];
        slot.count -= n;
        self.total -= n;
        if slot.count == 0 && n > 0 {
            let pos = slot.pos as usize;
            self.active.swap_remove(pos);
            if let Some(&moved) = self.active.get(pos) {
                self.slots[moved as usize].pos = pos as u32;
            }
        }
    }

    /// Distinct tags in the current window.
    pub(crate) fn distinct(&self) -> usize {
        self.active.len()
    }

    /// Tag occurrences in the current window.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Live (interned) tags: those in the window, in later panes or in the stash.
    pub(crate) fn live(&self) -> usize {
        self.ids.len()
    }

    /// Slots allocated, live or free: the table's size in memory.
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The tag of a live id.
    pub(crate) fn tag(&self, id: TagId) -> &str {
        self.slots[id as usize].tag.as_deref().expect("live tag id")
    }

    /// `(tag, count)` of every tag in the current window, in no particular order.
    pub(crate) fn counts(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.active.iter().map(|&id| {
            let slot = &self.slots[id as usize];
            (slot.tag.as_deref().expect("active tag is live"), slot.count)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_reference_counts_and_reuse() {
        let mut t = TagTable::default();
        let a = t.acquire("a");
        assert_eq!(t.acquire("a"), a);
        let b = t.acquire("b");
        assert_eq!((t.live(), t.slots()), (2, 2));
        t.release(a);
        assert_eq!(t.live(), 2, "one reference to a is left");
        t.release(a);
        assert_eq!(t.live(), 1);
        let c = t.acquire("c");
        assert_eq!((c, t.slots()), (a, 2), "the freed slot is reused");
        assert_eq!((t.tag(b), t.tag(c)), ("b", "c"));
    }

    #[test]
    fn window_counts_track_the_active_set() {
        let mut t = TagTable::default();
        let ids: Vec<TagId> = ["x", "y", "z"].iter().map(|s| t.acquire(s)).collect();
        for (i, &id) in ids.iter().enumerate() {
            t.add(id, i as u64 + 1);
        }
        assert_eq!((t.distinct(), t.total()), (3, 6));
        t.sub(ids[0], 1);
        t.add(ids[2], 4);
        let mut counts: Vec<(&str, u64)> = t.counts().collect();
        counts.sort();
        assert_eq!(counts, [("y", 2), ("z", 7)]);
        t.sub(ids[2], 7);
        t.sub(ids[1], 2);
        assert_eq!((t.distinct(), t.total(), t.counts().count()), (0, 0, 0));
        t.add(ids[1], 1);
        assert_eq!(t.counts().collect::<Vec<_>>(), [("y", 1)]);
    }
}
