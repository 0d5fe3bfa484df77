//! Snapshot and restore of a [`Shard`] (issue 6).
//!
//! A snapshot holds everything delivered before a time `T`: the next window, the applied
//! counts per pane and the stashed data with a delivery time `< T`. Data stashed at `T` or
//! later is left out: the sources send it again after a restore. The format is that of
//! `codec.rs`; the body is:
//!
//! ```text
//! k, max tags (0: none), done, cur
//! tags:   count, then each tag's bytes                (the referenced tags, by id order)
//! panes:  count, then each: pane, entries, then each: tag index (delta from the previous
//!         one, ascending), count; then the pane's floor and dropped occurrences (issue 15)
//! stash:  count, then each (time, pane) group: time, pane, data, then each: tag index, n
//! ```
//!
//! The same state gives the same bytes, and restoring a snapshot and taking it again at the
//! same time gives it back byte for byte.

use super::{Batch, Pane, Pruned, Shard, TagId, TagTable};
use crate::codec::{Reader, Writer, SHARD};
use crate::trend::{TrendSpec, Trends};
use crate::WindowSpec;

impl Shard {
    /// Appends to `out` a snapshot of everything delivered at times `< before`: the applied
    /// state, and the stashed data delivered before `before`. Data stashed at `before` or
    /// later is not in it: its senders must send it again after a [`Shard::restore`].
    ///
    /// Meant to be taken right after `advance(Some(before))`, when everything delivered
    /// before `before` has been pushed. Costs O(state); sorts each pane's entries.
    pub fn snapshot(&self, before: u64, out: &mut Vec<u8>) {
        let mut w = Writer::begin(out, SHARD, &self.spec);
        w.u64(self.k as u64);
        w.u64(self.max_tags.unwrap_or(0) as u64);
        w.bool(self.done);
        w.u64(self.cur);
        let stash = || self.stash.range(..(before, 0));
        // The tags the snapshot refers to, numbered in id order.
        const UNUSED: u32 = u32::MAX;
        let mut index = vec![UNUSED; self.tags.slots()];
        let pane_ids = self.panes.values().flat_map(|c| c.iter().map(|(id, _)| id));
        let stash_ids = stash().flat_map(|(_, d)| d.iter().map(|(id, _)| id));
        for id in pane_ids.chain(stash_ids) {
            index[id as usize] = 0;
        }
        let mut tags = 0u32;
        for i in index.iter_mut().filter(|i| **i == 0) {
            *i = tags;
            tags += 1;
        }
        w.u64(u64::from(tags));
        for (id, _) in index.iter().enumerate().filter(|(_, &i)| i != UNUSED) {
            w.bytes(self.tags.bytes(id as TagId));
        }
        w.u64(self.panes.len() as u64);
        let mut entries = Vec::new();
        for (&pane, counts) in &self.panes {
            entries.clear();
            entries.extend(counts.iter().map(|(id, n)| (index[id as usize], n)));
            entries.sort_unstable();
            w.u64(pane);
            w.u64(entries.len() as u64);
            let mut prev = 0;
            for &(i, n) in &entries {
                w.u64(u64::from(i - prev));
                w.u64(n);
                prev = i;
            }
            w.u64(counts.pruned.floor);
            w.u64(counts.pruned.dropped);
        }
        w.u64(stash().count() as u64);
        for (&(time, pane), data) in stash() {
            w.u64(time);
            w.u64(pane);
            w.u64(data.len() as u64);
            for (id, n) in data.iter() {
                w.u64(u64::from(index[id as usize]));
                w.u64(n);
            }
        }
        w.bool(self.trends.is_some());
        if let Some(t) = &self.trends {
            t.snapshot(before, &mut w);
        }
        w.finish();
    }

    /// A shard restored from a [`Shard::snapshot`]. Refuses, with a one-line message, a
    /// snapshot made with another window shape or `k`, of another version, truncated,
    /// corrupt (it carries a checksum) or inconsistent; never panics.
    pub fn restore(spec: WindowSpec, k: usize, bytes: &[u8]) -> Result<Shard, String> {
        Self::restore_with(spec, k, None, bytes)
    }

    /// [`Shard::restore`] for a shard with trends (`trends`: the spec, and whether it counts
    /// authors), as [`Shard::with_trends`] made it; refuses a snapshot made with trends
    /// differently set.
    pub fn restore_with(
        spec: WindowSpec,
        k: usize,
        trends: Option<(TrendSpec, bool)>,
        bytes: &[u8],
    ) -> Result<Shard, String> {
        let mut r = Reader::open(bytes, SHARD, &spec)?;
        r.param("ranked tags a window", k)?;
        let max_tags = match r.u64()? {
            0 => None,
            m => Some(usize::try_from(m).map_err(|_| r.bad("a bound past memory"))?),
        };
        let done = r.bool()?;
        let cur = r.u64()?;
        let s = spec.slide_panes();
        if cur < s || cur % s != 0 {
            return Err(r.bad(format_args!("{cur} is not a window end")));
        }
        let mut shard = Shard::new(spec, k);
        (shard.cur, shard.done, shard.max_tags) = (cur, done, max_tags);
        // Each tag holds one extra reference until the end, to find unused ones.
        let tags = r.count(1)?;
        if tags >= u32::MAX as usize {
            return Err(r.bad(format_args!("{tags} tags")));
        }
        // Sized for the tags (their bytes are at most what is left, less a byte each).
        let rest = bytes.len().saturating_sub(tags);
        shard.tags = TagTable::with_capacity(tags, rest.min(tags.saturating_mul(16)));
        let mut ids = Vec::with_capacity(tags);
        for _ in 0..tags {
            let tag = std::str::from_utf8(r.bytes()?).map_err(|_| r.bad("a tag is not UTF-8"))?;
            let id = shard.tags.acquire(tag);
            if shard.tags.refs(id) > 1 {
                return Err(r.bad(format_args!("tag {tag:?} is listed twice")));
            }
            ids.push(id);
        }
        let tag = |r: &Reader, i: u64| {
            let id = usize::try_from(i).ok().and_then(|i| ids.get(i).copied());
            id.ok_or_else(|| r.bad(format_args!("tag index {i}, of {} tags", ids.len())))
        };
        // The sum of every count: if it fits, no window or pane sum can overflow.
        let mut total = 0u64;
        let mut count = |r: &mut Reader, zero: bool| match r.u64()? {
            0 if !zero => Err(r.bad("a count of 0")),
            n => {
                total = total
                    .checked_add(n)
                    .ok_or_else(|| r.bad("counts overflow"))?;
                Ok(n)
            }
        };
        let mut prev = None;
        for _ in 0..r.count(2)? {
            let pane = r.open_pane("pane", prev, cur, &spec)?;
            prev = Some(pane);
            let len = r.count(2)?;
            let mut counts = Pane::with_capacity(len);
            let mut i = 0u64;
            for j in 0..len {
                let step = r.u64()?;
                if j > 0 && step == 0 {
                    return Err(r.bad(format_args!("pane {pane} lists a tag twice")));
                }
                i = i.saturating_add(step);
                let id = tag(&r, i)?;
                let n = count(&mut r, false)?;
                shard.tags.retain(id);
                counts.add(id, n);
                if pane < cur {
                    shard.tags.add(id, n);
                }
            }
            let pruned = Pruned {
                floor: r.u64()?,
                dropped: count(&mut r, true)?,
            };
            // Every prune removes at least its threshold: no floor without dropped
            // occurrences, and none above them.
            if pruned.floor > pruned.dropped || (pruned.floor == 0) != (pruned.dropped == 0) {
                return Err(r.bad(format_args!(
                    "pane {pane} has floor {} with {} dropped",
                    pruned.floor, pruned.dropped
                )));
            }
            match max_tags {
                None if pruned.floor > 0 => {
                    return Err(r.bad(format_args!(
                        "pane {pane} was pruned by a shard with no bound"
                    )));
                }
                Some(m) if len > m => {
                    return Err(r.bad(format_args!(
                        "pane {pane} holds {len} tags, past its bound {m}"
                    )));
                }
                _ => {}
            }
            if len == 0 && pruned.floor == 0 {
                return Err(r.bad(format_args!("pane {pane} is empty")));
            }
            counts.pruned = pruned;
            if pane < cur {
                shard.tags.count_pruned(pruned, true);
            }
            shard.panes.insert(pane, counts);
        }
        let mut prev = None;
        for _ in 0..r.count(3)? {
            let key @ (time, pane) = (r.u64()?, r.u64()?);
            let last = spec.last_window_end_holding(pane);
            if prev.is_some_and(|p| key <= p) || last <= pane || last <= time {
                return Err(r.bad(format_args!(
                    "data stashed at time {time} for pane {pane} is out of order or counts in \
                     no window"
                )));
            }
            prev = Some(key);
            let len = r.count(2)?;
            let mut data = Batch {
                data: Vec::with_capacity(len),
                big: Vec::new(),
            };
            for _ in 0..len {
                let i = r.u64()?;
                let id = tag(&r, i)?;
                let n = count(&mut r, false)?;
                shard.tags.retain(id);
                data.push(id, n);
            }
            if len == 0 {
                return Err(r.bad(format_args!("stashed pane {pane} at time {time} is empty")));
            }
            shard.stash.insert(key, data);
        }
        if r.bool()? != trends.is_some() {
            return Err(
                r.bad("it was made with trends on where this run has them off, or the reverse")
            );
        }
        if let Some((tspec, authors)) = trends {
            shard.trends = Some(Trends::restore(tspec, authors, &mut r, cur, &spec)?);
        }
        r.finish()?;
        if done && !ids.is_empty() {
            return Err("shard checkpoint is inconsistent: a finished shard holds tags".into());
        }
        for id in ids {
            if shard.tags.refs(id) == 1 {
                let tag = shard.tags.tag(id);
                return Err(format!(
                    "shard checkpoint is inconsistent: tag {tag:?} is not used"
                ));
            }
            shard.tags.release(id);
        }
        Ok(shard)
    }
}
