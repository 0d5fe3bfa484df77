//! The tags a shard holds: interned to dense ids, reference-counted, with the running count of
//! each tag in the current window.
//!
//! Interning makes the per-pane maps and the window sum cheap: the string is hashed once per
//! push, and every later step (apply, slide, expire) works on `u32` ids and a dense `Vec`.
//! A tag lives while any stashed datum or stored pane refers to it, so memory follows the live
//! panes, not the history.
//!
//! # Layout (issue 5: at most 64 bytes per distinct tag at 10^7 tags)
//!
//! - The tag bytes live back to back in one arena (`Vec<u8>`), not in one allocation each.
//! - A [`Slot`] is 16 bytes: where the bytes are (40-bit offset, 24-bit length), the
//!   reference count and the window count, both `u32`.
//! - The tag → id index is a `hashbrown::HashTable<u32>` of ids (5 bytes a bucket with its
//!   control byte); lookups hash the caller's `&str` and compare against the arena.
//! - Top-K scans the slots in order, skipping zero counts, so there is no separate list of the
//!   tags in the window.
//!
//! Why `u32` is enough:
//! - A reference is one stashed datum or one pane entry, each at least 8 bytes of memory, so
//!   2^32 references to one tag would need 32 GiB for that tag alone: overflowing is a broken
//!   invariant, and panics.
//! - Counts can pass 2^32 (a hot tag in a day-long window). A count that reaches `u32::MAX`
//!   moves to a side map ([`add_spilled`]); the slot keeps `u32::MAX` as a mark. The map is
//!   empty in practice and costs one predictable branch.
//!
//! Freed tags leave their bytes in the arena; [`TagTable::compact_arena`] copies the live
//! ones into a new arena once the garbage outweighs them. The shard renumbers ids (a new
//! table) when free slots outnumber live ones by 4 to 1.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::bound::Pruned;

/// Dense id of an interned tag.
pub(crate) type TagId = u32;

/// A count of `u32::MAX` in a slot or a pane entry means "the count is in the side map".
pub(crate) const SPILLED: u32 = u32::MAX;

/// Bits of a slot's location that hold the tag length.
const LEN_BITS: u32 = 24;
/// A length field with all bits set: the tag is longer, and its length precedes its bytes in
/// the arena as 8 little-endian bytes.
const LONG: u64 = (1 << LEN_BITS) - 1;
/// The end of the free list.
const NONE: u32 = u32::MAX;

/// Freed arena bytes below which the arena is not compacted. Tiny in tests, so that the
/// property tests compact all the time.
const ARENA_SLACK: usize = if cfg!(test) { 4 } else { 1 << 20 };

const TOO_MANY_REFS: &str = "more than 2^32 references to one tag";

/// One interned tag: 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Low and high halves of the location: arena offset << 24 | length (see [`LONG`]). For a
    /// free slot, `lo` is the next free slot ([`NONE`]: none).
    lo: u32,
    hi: u32,
    /// Stashed data and pane entries referring to this id; 0 while the slot is free.
    refs: u32,
    /// Occurrences in the current window ([`SPILLED`]: in `TagTable::big`).
    count: u32,
}

impl Slot {
    fn loc(&self) -> u64 {
        u64::from(self.hi) << 32 | u64::from(self.lo)
    }
}

/// The hash of a tag, the same for the index and its rehashing.
pub(crate) fn hash_tag(bytes: &[u8]) -> u64 {
    FxBuildHasher.hash_one(bytes)
}

/// The bytes of a live slot.
fn bytes_of<'a>(slots: &[Slot], arena: &'a [u8], id: TagId) -> &'a [u8] {
    let (off, len) = span(slots[id as usize].loc(), arena);
    &arena[off..off + len]
}

/// Offset and length of the tag bytes at location `loc`.
fn span(loc: u64, arena: &[u8]) -> (usize, usize) {
    let off = (loc >> LEN_BITS) as usize;
    let len = loc & LONG;
    if len == LONG {
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&arena[off..off + 8]);
        (off + 8, u64::from_le_bytes(prefix) as usize)
    } else {
        (off, len as usize)
    }
}

/// Arena bytes a location takes, length prefix included.
fn stored_len(loc: u64, arena: &[u8]) -> usize {
    let (off, len) = span(loc, arena);
    off + len - (loc >> LEN_BITS) as usize
}

/// Reserves room for `extra` more elements, growing by a quarter instead of doubling: these
/// vectors hold millions of entries, and doubling leaves up to half of them unused. (On Linux,
/// glibc grows blocks this large with `mremap`, without copying.)
pub(crate) fn reserve_quarter<T>(v: &mut Vec<T>, extra: usize) {
    if v.capacity() - v.len() < extra {
        v.reserve_exact(extra.max(v.len() / 4).max(64));
    }
}

/// Adds `n` to the count `c` of `id`, moving it to `big` once it reaches [`SPILLED`].
pub(crate) fn add_spilled(c: &mut u32, id: TagId, n: u64, big: &mut FxHashMap<TagId, u64>) {
    if *c != SPILLED {
        let sum = u64::from(*c) + n;
        if sum < u64::from(SPILLED) {
            *c = sum as u32;
            return;
        }
        *c = SPILLED;
        big.insert(id, sum);
    } else {
        *big.get_mut(&id)
            .expect("a spilled count is in the side map") += n;
    }
}

/// Subtracts `n` (at most the count) from the count `c` of `id`.
pub(crate) fn sub_spilled(c: &mut u32, id: TagId, n: u64, big: &mut FxHashMap<TagId, u64>) {
    if *c != SPILLED {
        *c = (u64::from(*c) - n) as u32;
        return;
    }
    let rest = big.get(&id).expect("a spilled count is in the side map") - n;
    if rest < u64::from(SPILLED) {
        big.remove(&id);
        *c = rest as u32;
    } else {
        big.insert(id, rest);
    }
}

/// The count `c` of `id`.
pub(crate) fn get_spilled(c: u32, id: TagId, big: &FxHashMap<TagId, u64>) -> u64 {
    if c == SPILLED {
        big[&id]
    } else {
        u64::from(c)
    }
}

/// Interned tags with reference counts and the current window's counts.
#[derive(Debug, Default)]
pub(crate) struct TagTable {
    /// Ids of the live tags, hashed by their bytes.
    ids: HashTable<TagId>,
    slots: Vec<Slot>,
    /// Tag bytes, back to back.
    arena: Vec<u8>,
    /// Arena bytes of freed tags.
    garbage: usize,
    /// Head of the free-slot list, threaded through `Slot::lo`; `None` until a slot is freed.
    free: Option<TagId>,
    /// Window counts of `u32::MAX` or more.
    big: FxHashMap<TagId, u64>,
    /// Tags whose window count is positive.
    distinct: usize,
    /// Sum of the window counts.
    total: u64,
    /// Summed over the panes of the current window: what their prunes subtracted (the
    /// window's floor) and removed (`bound.rs`). Zero while every pane is exact.
    pruned: Pruned,
}

impl TagTable {
    /// An empty table with room for `tags` tags of `bytes` bytes in all.
    pub(crate) fn with_capacity(tags: usize, bytes: usize) -> Self {
        TagTable {
            ids: HashTable::with_capacity(tags),
            slots: Vec::with_capacity(tags),
            arena: Vec::with_capacity(bytes),
            ..TagTable::default()
        }
    }

    /// The id of `tag`, interning it if new, with one more reference.
    pub(crate) fn acquire(&mut self, tag: &str) -> TagId {
        let bytes = tag.as_bytes();
        let hash = hash_tag(bytes);
        let (slots, arena) = (&self.slots, &self.arena);
        if let Some(&id) = self
            .ids
            .find(hash, |&id| bytes_of(slots, arena, id) == bytes)
        {
            let slot = &mut self.slots[id as usize];
            slot.refs = slot.refs.checked_add(1).expect(TOO_MANY_REFS);
            return id;
        }
        let off = self.arena.len() as u64;
        assert!(off < 1 << (64 - LEN_BITS), "more than 1 TiB of tags");
        let loc = if (bytes.len() as u64) < LONG {
            reserve_quarter(&mut self.arena, bytes.len());
            off << LEN_BITS | bytes.len() as u64
        } else {
            reserve_quarter(&mut self.arena, 8 + bytes.len());
            self.arena
                .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            off << LEN_BITS | LONG
        };
        self.arena.extend_from_slice(bytes);
        let slot = Slot {
            lo: loc as u32,
            hi: (loc >> 32) as u32,
            refs: 1,
            count: 0,
        };
        let id = match self.free {
            Some(id) => {
                let next = self.slots[id as usize].lo;
                self.free = (next != NONE).then_some(next);
                self.slots[id as usize] = slot;
                id
            }
            None => {
                let id = TagId::try_from(self.slots.len())
                    .ok()
                    .filter(|&id| id != NONE)
                    .expect("more than 2^32 - 1 live tags");
                reserve_quarter(&mut self.slots, 1);
                self.slots.push(slot);
                id
            }
        };
        let (slots, arena) = (&self.slots, &self.arena);
        self.ids
            .insert_unique(hash, id, |&id| hash_tag(bytes_of(slots, arena, id)));
        id
    }

    /// One more reference to a live id.
    pub(crate) fn retain(&mut self, id: TagId) {
        let slot = &mut self.slots[id as usize];
        slot.refs = slot.refs.checked_add(1).expect(TOO_MANY_REFS);
    }

    /// One reference fewer; the tag is forgotten with its last reference.
    pub(crate) fn release(&mut self, id: TagId) {
        let slot = &mut self.slots[id as usize];
        slot.refs -= 1;
        if slot.refs > 0 {
            return;
        }
        debug_assert_eq!(slot.count, 0, "a counted tag must be referenced by a pane");
        let loc = slot.loc();
        let hash = hash_tag(bytes_of(&self.slots, &self.arena, id));
        match self.ids.find_entry(hash, |&x| x == id) {
            Ok(entry) => {
                entry.remove();
            }
            Err(_) => unreachable!("a live tag is in the index"),
        }
        self.garbage += stored_len(loc, &self.arena);
        self.slots[id as usize] = Slot {
            lo: self.free.unwrap_or(NONE),
            hi: 0,
            refs: 0,
            count: 0,
        };
        self.free = Some(id);
    }

    /// References to a live id.
    pub(crate) fn refs(&self, id: TagId) -> u32 {
        self.slots[id as usize].refs
    }

    /// Adds `n` occurrences of `id` to the current window.
    pub(crate) fn add(&mut self, id: TagId, n: u64) {
        if n == 0 {
            return;
        }
        let slot = &mut self.slots[id as usize];
        self.distinct += usize::from(slot.count == 0);
        add_spilled(&mut slot.count, id, n, &mut self.big);
        self.total += n;
    }

    /// Removes `n` occurrences of `id` from the current window.
    pub(crate) fn sub(&mut self, id: TagId, n: u64) {
        if n == 0 {
            return;
        }
        let slot = &mut self.slots[id as usize];
        sub_spilled(&mut slot.count, id, n, &mut self.big);
        self.distinct -= usize::from(slot.count == 0);
        self.total -= n;
    }

    /// Distinct tags in the current window.
    pub(crate) fn distinct(&self) -> usize {
        self.distinct
    }

    /// Tag occurrences in the current window: the counts, plus what prunes removed.
    pub(crate) fn total(&self) -> u64 {
        self.total + self.pruned.dropped
    }

    /// What prunes took from the panes of the current window.
    pub(crate) fn pruned(&self) -> Pruned {
        self.pruned
    }

    /// A pane's prunes enter the current window (`enter`) or leave it.
    pub(crate) fn count_pruned(&mut self, p: Pruned, enter: bool) {
        if enter {
            self.pruned.add(p);
        } else {
            self.pruned.floor -= p.floor;
            self.pruned.dropped -= p.dropped;
        }
    }

    /// Live (interned) tags: those in the window, in later panes or in the stash.
    pub(crate) fn live(&self) -> usize {
        self.ids.len()
    }

    /// Heap bytes of the table: slots, index (a 4-byte id and a control byte a bucket), tag
    /// bytes and spilled counts, by capacity.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.ids.capacity() * 5
            + self.arena.capacity()
            + self.big.capacity() * 17
    }

    /// Slots allocated, live or free: the table's size in memory.
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The bytes of a live id.
    pub(crate) fn bytes(&self, id: TagId) -> &[u8] {
        bytes_of(&self.slots, &self.arena, id)
    }

    /// The tag of a live id.
    pub(crate) fn tag(&self, id: TagId) -> &str {
        std::str::from_utf8(self.bytes(id)).expect("interned from a str")
    }

    /// The `k` best tags of the current window, best first (see [`crate::top_k`]). Scans the
    /// slots in order; only the winners are turned into rows.
    pub(crate) fn top(&self, k: usize) -> Vec<crate::Row> {
        let (slots, arena, big) = (&self.slots, &self.arena, &self.big);
        let counted = slots.iter().enumerate().filter(|(_, s)| s.count > 0);
        let pairs = counted.map(|(id, s)| {
            let (off, len) = span(s.loc(), arena);
            (
                &arena[off..off + len],
                get_spilled(s.count, id as TagId, big),
            )
        });
        crate::topk::rank(pairs, k, self.distinct, |bytes, n| {
            let tag = std::str::from_utf8(bytes).expect("interned from a str");
            (tag.into(), n)
        })
    }

    /// `(tag, count)` of every tag in the current window, in slot order.
    pub(crate) fn counts(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        let counted = self.slots.iter().enumerate().filter(|(_, s)| s.count > 0);
        counted.map(|(id, s)| {
            let id = id as TagId;
            (self.tag(id), get_spilled(s.count, id, &self.big))
        })
    }

    /// Copies the live tags into a new arena once freed bytes outweigh them (and 1 MiB):
    /// O(live bytes), and ids do not change.
    pub(crate) fn compact_arena(&mut self) {
        if self.garbage < ARENA_SLACK || self.garbage < self.arena.len() - self.garbage {
            return;
        }
        let mut arena = Vec::with_capacity(self.arena.len() - self.garbage);
        for slot in self.slots.iter_mut().filter(|s| s.refs > 0) {
            let loc = slot.loc();
            let (off, len) = ((loc >> LEN_BITS) as usize, stored_len(loc, &self.arena));
            let new = (arena.len() as u64) << LEN_BITS | loc & LONG;
            arena.extend_from_slice(&self.arena[off..off + len]);
            (slot.lo, slot.hi) = (new as u32, (new >> 32) as u32);
        }
        self.arena = arena;
        self.garbage = 0;
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
        assert_eq!(t.acquire("a"), 2, "a is new again");
    }

    #[test]
    fn window_counts_track_the_distinct_tags() {
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

    #[test]
    fn counts_past_u32_spill_and_come_back() {
        let mut t = TagTable::default();
        let (a, b) = (t.acquire("a"), t.acquire("b"));
        t.add(a, u64::from(u32::MAX) - 1);
        assert!(t.big.is_empty());
        t.add(a, 1);
        t.add(a, 1 << 40);
        t.add(b, 3);
        assert_eq!(
            t.top(2),
            [
                ("a".into(), u64::from(u32::MAX) + (1 << 40)),
                ("b".into(), 3)
            ]
        );
        t.sub(a, 1 << 40);
        assert_eq!(
            t.counts().find(|c| c.0 == "a"),
            Some(("a", u64::from(u32::MAX)))
        );
        t.sub(a, 2);
        assert!(t.big.is_empty(), "back under u32::MAX");
        assert_eq!(t.total(), u64::from(u32::MAX) - 2 + 3);
    }

    #[test]
    fn long_tags_and_arena_compaction() {
        let mut t = TagTable::default();
        let long = "é".repeat(LONG as usize); // 2 × (2^24 − 1) bytes: a length prefix
        let l = t.acquire(&long);
        let ids: Vec<TagId> = (0..1000).map(|i| t.acquire(&format!("t{i}"))).collect();
        assert_eq!(t.acquire(&long), l);
        assert_eq!(t.tag(l), long);
        t.compact_arena();
        assert_eq!(t.garbage, 0);
        t.release(l);
        assert_eq!(t.refs(l), 1);
        t.release(l);
        assert_eq!(t.live(), 1000);
        let before = t.arena.len();
        t.compact_arena();
        assert!(t.arena.len() < 10_000, "{} of {before}", t.arena.len());
        assert!(ids
            .iter()
            .enumerate()
            .all(|(i, &id)| t.tag(id) == format!("t{i}")));
        assert_eq!(t.acquire("t7"), ids[7]);
        assert_eq!(t.acquire(&long), l, "the freed slot is reused");
        assert_eq!(t.tag(l), long);
    }
}
