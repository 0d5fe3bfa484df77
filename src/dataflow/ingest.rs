//! Per-worker ingest: lines → records → tags, pre-aggregated per pane before the exchange.
//!
//! This is the hot path. Per record it decodes the line (borrowing the text when it can),
//! finds tags with `crates/hashtag` (no allocation), writes each tag's counting key into one
//! reused buffer, and bumps a count in the pane's map; a `String` is allocated only for a tag
//! this pane has not seen yet. Nothing here knows about timely: `mod.rs` sends what
//! [`Ingest::drain`] returns.
//!
//! With a bound on distinct tags (`--max-tags`, issue 15) a pre-aggregate is kept per pane
//! *and share*, and instead of being sent early when it grows it is pruned to a Misra–Gries
//! summary (`window::prune_map`) of `N × peers` tags (N per shard on average) once it holds
//! twice that: the shards then receive at most that much per pane, delivery time and share,
//! whatever the input's cardinality. What the prunes subtracted travels to the merger as a
//! [`StatsMsg::Floor`]. A pre-aggregate is sent only when the input time moves, so what is
//! sent, and so what the shards' summaries hold, depends on each share's lines in order and
//! not on how they were read: a restored run sends exactly what an uninterrupted one does.

use std::sync::atomic::Ordering::Relaxed;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use window::WindowSpec;

pub use super::checkpoint::ShareClock;
use super::checkpoint::REANCHOR_AFTER;
use crate::metrics::{Metrics, Skip};

/// A tag's counting key as it travels to the shards: inline up to 24 bytes (almost every
/// tag), so the per-pane maps compare keys without a pointer chase and the exchange moves
/// them without an allocation.
pub type Tag = compact_str::CompactString;
use crate::sources::{Chunk, Share};

/// Statistics that travel to the merger, beside the tag counts that travel to the shards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatsMsg {
    /// Records and tagged records of one pane.
    Pane {
        /// The pane (batch index).
        pane: u64,
        /// Records whose time falls in the pane.
        records: u64,
        /// Those with at least one tag.
        tagged: u64,
    },
    /// Records dropped as late, detected at the message's time.
    Late(u64),
    /// What this worker's prunes of one pane's pre-aggregate took, past `--max-tags`
    /// (`window::PaneStats::floor`).
    Floor {
        /// The pane.
        pane: u64,
        /// Subtracted from every count sent: the floor.
        floor: u64,
        /// Tag occurrences removed.
        dropped: u64,
    },
}

/// How records get their pane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// By arrival: the wall clock's batch.
    Processing,
    /// By the record's own timestamp, with the watermark trailing the greatest time seen by
    /// this much (allowed lateness, ms).
    Event {
        /// Allowed lateness in milliseconds.
        lateness_ms: u64,
        /// Which times are believed.
        guard: TimeGuard,
    },
}

/// Which event times are believed: a time outside `(after_ms, before_ms)` is skipped and
/// counted (`bad_time`), and so is one more than `max_skew_windows` slides ahead of its
/// share's clock (`skew`): one absurd record must not open years of windows, nor move the
/// watermark so far that everything after it is late. [`REANCHOR_AFTER`] such records in a
/// row, each within the skew of the one before, move the clock instead: it was the one that
/// was off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeGuard {
    /// Times must be after this (ms; 0, the usual stand-in for a missing time, is refused).
    pub after_ms: u64,
    /// Times must be before this (ms).
    pub before_ms: u64,
    /// Slides a record may be ahead of its share's clock (0: no limit).
    pub max_skew_windows: u64,
}

impl Default for TimeGuard {
    fn default() -> Self {
        TimeGuard {
            after_ms: 0,
            // 2200-01-01T00:00:00Z.
            before_ms: 7_258_118_400_000,
            max_skew_windows: 100_000,
        }
    }
}

#[derive(Default)]
struct PaneAgg {
    counts: FxHashMap<Tag, u64>,
    /// (tag, author) pairs of the pane, each once, when authors are counted.
    authors: FxHashSet<(Tag, u64)>,
    records: u64,
    tagged: u64,
    /// What prunes of `counts` took (with a bound).
    pruned: window::Pruned,
}

/// One worker's pre-aggregation state.
pub struct Ingest {
    spec: WindowSpec,
    clock: Clock,
    mode: hashtag::Mode,
    /// Panes with data not yet sent, most recent last (few are live at once), with the share
    /// they come from (with a bound on distinct tags; else 0: shares share a pane's map).
    pending: Vec<(u64, usize, PaneAgg)>,
    pending_keys: usize,
    late: u64,
    /// Event-time clocks, one per share of this worker (same order as its shares).
    clocks: Vec<ShareClock>,
    key: String,
    /// Keys of non-ASCII spellings already normalized (NFKC + case folding is the costly part
    /// of counting them).
    keys: hashtag::KeyCache,
    /// Keys of the current record, to add a source's extra tags only once (and to pair
    /// them with its author).
    seen: Vec<String>,
    /// Whether (tag, author) pairs are collected for distinct authors.
    authors: bool,
    /// The earliest pane of any record this worker saw, and whether it moved since the last
    /// drain (every shard learns the stream's first pane: `Shard::push_first`).
    first: Option<u64>,
    first_moved: bool,
    /// With a bound on distinct tags: the tags a pre-aggregate is pruned to.
    cap: Option<usize>,
}

/// Pending distinct (pane, tag) entries after which data is sent early, bounding memory.
pub const FLUSH_KEYS: usize = 200_000;

impl Ingest {
    /// A fresh ingest state.
    pub fn new(spec: WindowSpec, clock: Clock, mode: hashtag::Mode) -> Self {
        Ingest {
            spec,
            clock,
            mode,
            pending: Vec::new(),
            pending_keys: 0,
            late: 0,
            clocks: Vec::new(),
            key: String::new(),
            keys: hashtag::KeyCache::default(),
            seen: Vec::new(),
            authors: false,
            first: None,
            first_moved: false,
            cap: None,
        }
    }

    /// Bounds each pre-aggregate to `cap` tags, pruned the Misra–Gries way once it holds
    /// twice that, and to `cap` when sent (`None`: exact, sent early past [`FLUSH_KEYS`]).
    /// The engine gives `--max-tags` × the number of shards, so that no pre-aggregate is
    /// pruned while every shard's pane stays within the bound.
    pub fn with_cap(mut self, cap: Option<usize>) -> Self {
        self.cap = cap.map(|c| c.max(1));
        self
    }

    /// Also collects, per pane, each (tag, author) pair of the records that name an author.
    pub fn with_authors(mut self, on: bool) -> Self {
        self.authors = on;
        self
    }

    /// Declares the worker's shares, in order: whether each holds the watermark back until
    /// its first record.
    pub fn set_shares(&mut self, holds: impl IntoIterator<Item = bool>) {
        self.clocks = holds
            .into_iter()
            .map(|holds| ShareClock {
                holds,
                ..ShareClock::default()
            })
            .collect();
    }

    /// The event-time clocks of the shares (saved in checkpoints).
    pub fn clocks(&self) -> &[ShareClock] {
        &self.clocks
    }

    /// Restores the clocks saved by a checkpoint.
    pub fn restore_clocks(&mut self, clocks: Vec<ShareClock>) {
        self.clocks = clocks;
    }

    /// A record at `t` more than `ahead` panes ahead of share `idx`'s clock: extends the run
    /// of such records (or starts one, when `t` is more than `ahead` from the run's last).
    /// True when the run reaches [`REANCHOR_AFTER`]: the clock was the outlier (a stale first
    /// record, a second file of a later year), and this record is taken, moving it. One
    /// record from the future, or a few, is skipped; a share whose clock started years before
    /// its records loses the run's first records, not all of them. Lines skipped for another
    /// reason (no usable time, undecodable, filtered) neither extend nor break a run.
    fn skew_run_moves_clock(&mut self, idx: usize, t: u64, ahead: u64) -> bool {
        let spec = self.spec;
        let clock = &mut self.clocks[idx];
        let n = match clock.skew_run {
            Some((last, n)) if spec.pane_of(last).abs_diff(spec.pane_of(t)) <= ahead => n + 1,
            _ => 1,
        };
        if n < REANCHOR_AFTER {
            clock.skew_run = Some((t, n));
            return false;
        }
        let was = clock.max_time.map(crate::time::rfc3339).unwrap_or_default();
        crate::log::warn(format_args!(
            "event time: {n} records in a row were over --max-skew ahead of their partition's \
             clock ({was}): it moves to them ({}); the {} before this one were skipped as skew",
            crate::time::rfc3339(t),
            n - 1
        ));
        true
    }

    /// The watermark pane of one share's greatest time.
    fn share_pane(&self, max_time: u64) -> u64 {
        match self.clock {
            Clock::Event { lateness_ms, .. } => {
                self.spec.pane_of(max_time.saturating_sub(lateness_ms))
            }
            Clock::Processing => 0,
        }
    }

    /// The worker's watermark pane (event time): the least over its open shares, so that no
    /// share's on-time records can be late. `None` while a share that holds has no record
    /// yet, or when no share has seen a record.
    pub fn watermark_pane(&self) -> Option<u64> {
        if self.clock == Clock::Processing {
            return None;
        }
        let mut wm: Option<u64> = None;
        for c in self.clocks.iter().filter(|c| !c.done) {
            match c.max_time {
                Some(t) => {
                    let p = self.share_pane(t);
                    wm = Some(wm.map_or(p, |w| w.min(p)));
                }
                None if c.holds => return None,
                None => {}
            }
        }
        wm
    }

    /// Marks share `i` ended; returns the new watermark pane if it moved past `time`.
    pub fn share_done(&mut self, i: usize, time: u64) -> Option<u64> {
        if let Some(c) = self.clocks.get_mut(i) {
            c.done = true;
        }
        self.watermark_pane().filter(|&wm| wm > time)
    }

    /// True when enough is pending that it should be sent now ([`Ingest::drain_early`]).
    pub fn should_flush(&self) -> bool {
        self.pending_keys >= FLUSH_KEYS
    }

    /// What to send when [`Ingest::should_flush`]: everything ([`Ingest::drain`]), or with a
    /// bound on distinct tags only the (tag, author) pairs, whose sets are the same however
    /// they are split; the tag counts wait for the input time to move, so that their prunes
    /// do not depend on when the loop looked.
    pub fn drain_early(
        &mut self,
        tags: &mut Vec<(u64, Tag, u64)>,
        authors: &mut Vec<(u64, Tag, u64)>,
        firsts: &mut Vec<u64>,
        stats: &mut Vec<StatsMsg>,
    ) {
        if self.cap.is_none() {
            return self.drain(tags, authors, firsts, stats);
        }
        for (pane, _, agg) in self.pending.iter_mut() {
            let pane = *pane;
            authors.extend(agg.authors.drain().map(|(t, a)| (pane, t, a)));
        }
        self.pending_keys = 0;
    }

    /// Processes the lines of a chunk of share number `idx` (read with its decoder, kept if
    /// its `--track` filter matches). `time` is the worker's current input time (pane);
    /// `now_pane` the wall clock's pane (processing time). In event time, `advance` is called
    /// whenever the watermark moves past `time`, with the new pane and the index of the line
    /// just processed; it must send what [`Ingest::drain`] returns at the old time and return
    /// the new input time.
    #[allow(clippy::too_many_arguments)]
    pub fn push_chunk(
        &mut self,
        idx: usize,
        share: &Share,
        chunk: &Chunk,
        time: u64,
        now_pane: u64,
        metrics: &Metrics,
        mut advance: impl FnMut(&mut Ingest, u64, usize) -> u64,
    ) -> u64 {
        let go_on = |ing: &mut Ingest, to, i| (advance(ing, to, i), false);
        self.push_lines(idx, share, chunk, 0, time, now_pane, metrics, go_on)
            .0
    }

    /// [`Ingest::push_chunk`] from line `from` of the chunk, where `advance` also says
    /// whether to stop reading after the line that moved the input (the input waits at a
    /// checkpoint epoch: with a bound on distinct tags, nothing is read while it waits, so
    /// that what is sent at each time does not depend on how long it waited). Returns the
    /// new input time, and the line to go on from if it stopped.
    #[allow(clippy::too_many_arguments)]
    pub fn push_lines(
        &mut self,
        idx: usize,
        share: &Share,
        chunk: &Chunk,
        from: usize,
        mut time: u64,
        now_pane: u64,
        metrics: &Metrics,
        mut advance: impl FnMut(&mut Ingest, u64, usize) -> (u64, bool),
    ) -> (u64, Option<usize>) {
        let (mut records, mut bytes, mut too_long) = (0u64, 0u64, 0u64);
        if self.clocks.len() <= idx {
            self.clocks.resize(idx + 1, ShareClock::default());
        }
        let mut stopped = None;
        // Keys the reader thread found, by this worker's rule, in text taken whole as the
        // record (a JSON record's text and tags are the decoder's to find).
        let found = (chunk.keys())
            .filter(|k| k.mode == self.mode && k.len() == chunk.len() && share.decoder.is_text());
        for (i, line) in chunk.iter().enumerate().skip(from) {
            bytes += line.len() as u64;
            let decoded = match chunk.text_line(i) {
                Some(text) => share.decoder.decode_str(text),
                None => share.decoder.decode(line),
            };
            let rec = match decoded {
                Ok(r) => r,
                Err(why) => {
                    metrics.skip(why);
                    continue;
                }
            };
            if share.track.as_ref().is_some_and(|t| !t.matches(&rec.text)) {
                metrics.filtered.fetch_add(1, Relaxed);
                continue;
            }
            let event = rec.time_ms.or_else(|| chunk.times.get(i).copied());
            let mut moved = false;
            let pane = match (self.clock, event) {
                (Clock::Event { guard, .. }, Some(t)) => {
                    if t <= guard.after_ms || t >= guard.before_ms {
                        metrics.skip(Skip::BadTime);
                        continue;
                    }
                    let pane = self.spec.pane_of(t);
                    let before = self.clocks[idx].max_time;
                    if let (Some(m), true) = (before, guard.max_skew_windows > 0) {
                        let ahead = guard
                            .max_skew_windows
                            .saturating_mul(self.spec.slide_panes());
                        if pane > self.spec.pane_of(m).saturating_add(ahead)
                            && !self.skew_run_moves_clock(idx, t, ahead)
                        {
                            metrics.skip(Skip::Skew);
                            continue;
                        }
                    }
                    self.clocks[idx].skew_run = None;
                    records += 1;
                    // Late against this share's own watermark (never below the worker's).
                    let own = before.map_or(time, |m| self.share_pane(m).max(time));
                    if self.spec.is_late(pane, own) {
                        self.late += 1;
                        metrics.late.fetch_add(1, Relaxed);
                        continue;
                    }
                    let max = before.map_or(t, |m| m.max(t));
                    self.clocks[idx].max_time = Some(max);
                    moved = before.is_none_or(|m| self.share_pane(m) != self.share_pane(max));
                    pane
                }
                _ => {
                    records += 1;
                    now_pane
                }
            };
            let author = rec.author.or_else(|| chunk.authors.get(i).copied());
            too_long += match found {
                Some(keys) if rec.tags.is_empty() => {
                    self.count_keys(pane, idx, keys.line(i), author)
                }
                _ => self.count(pane, idx, &rec.text, &rec.tags, author),
            };
            if moved {
                if let Some(wm) = self.watermark_pane().filter(|&wm| wm > time) {
                    let stop;
                    (time, stop) = advance(self, wm, i);
                    if stop {
                        stopped = Some(i + 1);
                        break;
                    }
                }
            }
        }
        metrics.records_in.fetch_add(records, Relaxed);
        metrics.bytes_in.fetch_add(bytes, Relaxed);
        if too_long > 0 {
            metrics.tags_too_long.fetch_add(too_long, Relaxed);
        }
        (time, stopped)
    }

    /// Counts one record's tags in `pane`: those found in the text, then the source's own
    /// `extra` tags that the text did not already give (each tag once per record). A tag
    /// whose key is over [`hashtag::MAX_KEY_BYTES`] is left out; returns how many were.
    fn count(
        &mut self,
        pane: u64,
        share: usize,
        text: &str,
        extra: &[String],
        author: Option<u64>,
    ) -> u64 {
        let slot = self.slot(pane, share);
        if extra.is_empty() && hashtag::has_no_sign(self.mode, text) {
            return 0;
        }
        let agg = &mut self.pending[slot].2;
        let (mode, key, keys, counts) = (self.mode, &mut self.key, &mut self.keys, &mut agg.counts);
        let (mut any, mut too_long) = (false, 0);
        let mut new_keys = 0;
        let seen = &mut self.seen;
        seen.clear();
        // Each key of the record is remembered when extra tags or an author need them.
        let remember = !extra.is_empty() || (self.authors && author.is_some());
        // The tags of the text left out as too long, for the extra tags that repeat them.
        let mut dropped: Vec<&str> = Vec::new();
        hashtag::for_each_tag(mode, text, |tag| {
            if !keys.bounded_key(mode, tag, key) {
                dropped.push(tag);
                return;
            }
            any = true;
            new_keys += bump(counts, key);
            if remember && !seen.iter().any(|s| s == key) {
                seen.push(key.clone());
            }
        });
        too_long += dropped.len() as u64;
        let sign = ['#', '\u{FF03}'];
        for tag in extra {
            let body = tag.trim_start_matches(sign);
            if body.is_empty() {
                continue;
            }
            // The key of a bare tag is '#' + its lower-case form in either mode. One too long
            // is left out, and counted unless the text gave it too (as the source's own list
            // of a post's tags does: Mastodon's, in lower case).
            if !keys.bounded_key(hashtag::Mode::Hashtags, body, key) {
                let repeats = |d: &&str| d.trim_start_matches(sign).eq_ignore_ascii_case(body);
                too_long += u64::from(!dropped.iter().any(repeats));
            } else if !seen.iter().any(|s| s == key) {
                any = true;
                new_keys += bump(counts, key);
                seen.push(key.clone());
            }
        }
        agg.tagged += u64::from(any);
        self.settle(slot, new_keys, author);
        too_long
    }

    /// [`Ingest::count`] of a record without extra tags whose text's keys were found already
    /// (on the source's reader thread: [`crate::sources::LineKeys`]), `None` for a tag left
    /// out as too long. Counts exactly what `count` would of the same text.
    fn count_keys<'k>(
        &mut self,
        pane: u64,
        share: usize,
        found: impl Iterator<Item = Option<&'k str>>,
        author: Option<u64>,
    ) -> u64 {
        let slot = self.slot(pane, share);
        let agg = &mut self.pending[slot].2;
        let seen = &mut self.seen;
        seen.clear();
        let remember = self.authors && author.is_some();
        let (mut any, mut too_long, mut new_keys) = (false, 0, 0);
        for key in found {
            let Some(key) = key else {
                too_long += 1;
                continue;
            };
            any = true;
            new_keys += bump(&mut agg.counts, key);
            if remember && !seen.iter().any(|s| s == key) {
                seen.push(key.to_owned());
            }
        }
        agg.tagged += u64::from(any);
        self.settle(slot, new_keys, author);
        too_long
    }

    /// The pending aggregate of `pane` (and `share`, with a bound) that a record goes to,
    /// counted in it.
    fn slot(&mut self, pane: u64, share: usize) -> usize {
        let share = if self.cap.is_some() { share } else { 0 };
        if self.first.is_none_or(|f| pane < f) {
            self.first = Some(pane);
            self.first_moved = true;
        }
        let slot = match (self.pending.iter()).rposition(|(p, s, _)| *p == pane && *s == share) {
            Some(i) => i,
            None => {
                self.pending.push((pane, share, PaneAgg::default()));
                self.pending.len() - 1
            }
        };
        self.pending[slot].2.records += 1;
        slot
    }

    /// After a record's tags were counted in `slot` (`new_keys` of them new there): prunes
    /// past the bound, and pairs the record's tags (in `seen`) with its author.
    fn settle(&mut self, slot: usize, new_keys: usize, author: Option<u64>) {
        let agg = &mut self.pending[slot].2;
        match self.cap {
            // Past twice the bound: pruned, here, at a point fixed by the share's lines.
            Some(cap) if agg.counts.len() > 2 * cap => {
                agg.pruned.add(window::prune_map(&mut agg.counts, cap));
            }
            Some(_) => {}
            None => self.pending_keys += new_keys,
        }
        if let (true, Some(a)) = (self.authors, author) {
            for k in self.seen.iter() {
                if agg.authors.insert((Tag::from(k.as_str()), a)) {
                    self.pending_keys += 1;
                }
            }
        }
    }

    /// Takes everything pending: tag counts `(pane, tag, n)`, (tag, author) pairs
    /// `(pane, tag, author)`, this worker's earliest pane if it moved, and statistics. With
    /// a bound, each pre-aggregate is pruned to it first.
    pub fn drain(
        &mut self,
        tags: &mut Vec<(u64, Tag, u64)>,
        authors: &mut Vec<(u64, Tag, u64)>,
        firsts: &mut Vec<u64>,
        stats: &mut Vec<StatsMsg>,
    ) {
        if std::mem::take(&mut self.first_moved) {
            firsts.extend(self.first);
        }
        for (pane, _, mut agg) in self.pending.drain(..) {
            stats.push(StatsMsg::Pane {
                pane,
                records: agg.records,
                tagged: agg.tagged,
            });
            if let Some(cap) = self.cap {
                agg.pruned.add(window::prune_map(&mut agg.counts, cap));
                if agg.pruned.floor > 0 {
                    stats.push(StatsMsg::Floor {
                        pane,
                        floor: agg.pruned.floor,
                        dropped: agg.pruned.dropped,
                    });
                }
            }
            tags.extend(agg.counts.into_iter().map(|(t, n)| (pane, t, n)));
            authors.extend(agg.authors.into_iter().map(|(t, a)| (pane, t, a)));
        }
        if self.late > 0 {
            stats.push(StatsMsg::Late(std::mem::take(&mut self.late)));
        }
        self.pending_keys = 0;
    }
}

/// Adds one to `key`'s count; 1 if the key is new.
fn bump(counts: &mut FxHashMap<Tag, u64>, key: &str) -> usize {
    match counts.get_mut(key) {
        Some(n) => {
            *n += 1;
            0
        }
        None => {
            counts.insert(Tag::from(key), 1);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Decoder, Format};
    use crate::sources::{Partition, Poll};

    struct Nothing;
    impl Partition for Nothing {
        fn poll(&mut self) -> Poll {
            Poll::Done
        }
    }

    fn share() -> Share {
        Share {
            part: Box::new(Nothing),
            source: 0,
            decoder: Decoder::new(Format::Jsonl, "text", Some("t")),
            track: None,
        }
    }

    fn chunk(times_s: &[u64]) -> Chunk {
        let mut c = Chunk::default();
        for t in times_s {
            c.push_line(format!(r##"{{"text":"#a","t":{}}}"##, t).as_bytes());
        }
        c
    }

    #[test]
    fn lateness_is_judged_per_share_and_the_worker_waits_for_the_slowest() {
        // 10 s batches and windows, no lateness: a share's record is late only against that
        // share's own greatest time, not against what another share of the worker has read.
        let spec = WindowSpec::new(10_000, 10_000, 10_000).unwrap();
        let mut ing = Ingest::new(
            spec,
            Clock::Event {
                lateness_ms: 0,
                guard: TimeGuard::default(),
            },
            hashtag::Mode::Hashtags,
        );
        ing.set_shares([true, true]);
        let m = Metrics::default();
        let mut advanced = Vec::new();
        let s = share();
        // Share 0 runs far ahead; share 1 (which holds) has no record yet: no advance.
        let t = ing.push_chunk(0, &s, &chunk(&[5, 100, 200]), 0, 0, &m, |_, to, i| {
            advanced.push((to, i));
            to
        });
        assert_eq!((t, advanced.len()), (0, 0));
        // Share 1 starts at 15 s: not late, and the worker moves to the least watermark.
        let t = ing.push_chunk(1, &s, &chunk(&[15, 16, 3]), t, 0, &m, |_, to, i| {
            advanced.push((to, i));
            to
        });
        assert_eq!(advanced, [(1, 0)]);
        assert_eq!(t, 1);
        // 3 s is behind share 1's own watermark (pane 1): late.
        assert_eq!(m.late.load(Relaxed), 1);
        // Share 1 ends: the worker follows share 0 alone.
        assert_eq!(ing.share_done(1, t), Some(20));
    }

    /// A share whose first record is years before the rest: the next REANCHOR_AFTER − 1
    /// records are skew, the one after moves the clock, and the run so far survives a
    /// checkpoint (the clocks saved and restored in the middle of it) unchanged.
    #[test]
    fn a_run_of_records_ahead_of_a_stale_clock_moves_it_even_across_a_restore() {
        let spec = WindowSpec::new(10_000, 10_000, 10_000).unwrap();
        let clock = Clock::Event {
            lateness_ms: 0,
            guard: TimeGuard {
                max_skew_windows: 10,
                ..TimeGuard::default()
            },
        };
        let stale = 1_000_000u64;
        let now = stale + 100_000;
        let times: Vec<u64> = std::iter::once(stale)
            .chain((0..40).map(|i| now + i))
            .collect();
        for cut in [None, Some(1), Some(20), Some(REANCHOR_AFTER as usize)] {
            let m = Metrics::default();
            let s = share();
            let mut ing = Ingest::new(spec, clock, hashtag::Mode::Hashtags);
            ing.set_shares([true]);
            let mut t = 0;
            let (head, tail) = times.split_at(cut.unwrap_or(times.len()));
            t = ing.push_chunk(0, &s, &chunk(head), t, 0, &m, |_, to, _| to);
            if cut.is_some() {
                let saved = ing.clocks().to_vec();
                ing = Ingest::new(spec, clock, hashtag::Mode::Hashtags);
                ing.set_shares([true]);
                ing.restore_clocks(saved);
                t = ing.push_chunk(0, &s, &chunk(tail), t, 0, &m, |_, to, _| to);
            }
            let skew = m.skipped(Skip::Skew);
            assert_eq!(skew, u64::from(REANCHOR_AFTER) - 1, "cut at {cut:?}");
            assert_eq!(m.records_in.load(Relaxed), 41 - skew, "cut at {cut:?}");
            assert_eq!(ing.clocks()[0].max_time, Some((now + 39) * 1000));
            assert_eq!(ing.clocks()[0].skew_run, None);
            assert_eq!(t, spec.pane_of((now + 39) * 1000), "the watermark follows");
        }
        // A run chains record to record: 32 records 9 panes apart (the skew is 10 panes)
        // move the clock, though the last is 279 panes from the first.
        let m = Metrics::default();
        let mut ing = Ingest::new(spec, clock, hashtag::Mode::Hashtags);
        ing.set_shares([true]);
        let chain: Vec<u64> = std::iter::once(stale)
            .chain((0..REANCHOR_AFTER as u64).map(|i| now + 90 * i))
            .collect();
        ing.push_chunk(0, &share(), &chunk(&chain), 0, 0, &m, |_, to, _| to);
        assert_eq!(m.skipped(Skip::Skew), u64::from(REANCHOR_AFTER) - 1);
        let end = now + 90 * (u64::from(REANCHOR_AFTER) - 1);
        assert_eq!(ing.clocks()[0].max_time, Some(end * 1000));
        // Records ahead but not within the skew of each other start a new run each time.
        let m = Metrics::default();
        let mut ing = Ingest::new(spec, clock, hashtag::Mode::Hashtags);
        ing.set_shares([true]);
        let far: Vec<u64> = std::iter::once(stale)
            .chain((1..=40).map(|i| stale + 1_000 * i))
            .collect();
        ing.push_chunk(0, &share(), &chunk(&far), 0, 0, &m, |_, to, _| to);
        assert_eq!(m.skipped(Skip::Skew), 40);
        assert_eq!(ing.clocks()[0].max_time, Some(stale * 1000));
    }

    #[test]
    fn a_tag_too_long_is_left_out_and_counted_once_whoever_gives_it() {
        let spec = WindowSpec::new(10_000, 10_000, 10_000).unwrap();
        let clock = Clock::Event {
            lateness_ms: 0,
            guard: TimeGuard::default(),
        };
        let mut ing = Ingest::new(spec, clock, hashtag::Mode::Hashtags);
        ing.set_shares([true]);
        let mut s = share();
        s.decoder = Decoder::new(Format::Jsonl, "text", Some("t")).with_tags("tags");
        // The text's long tag again in the source's list (upper case: once), another long
        // one only there (once), one over 4,096 bytes in both, and short ones that count.
        let (long, longer) = ("x".repeat(1_500), "z".repeat(5_000));
        let line = format!(
            r##"{{"text":"#ok #{long} #{longer}","t":5,"tags":["{}","ok","#new","y{long}","{longer}"]}}"##,
            long.to_uppercase()
        );
        let mut c = Chunk::default();
        c.push_line(line.as_bytes());
        let m = Metrics::default();
        ing.push_chunk(0, &s, &c, 0, 0, &m, |_, to, _| to);
        assert_eq!(m.tags_too_long.load(Relaxed), 3);
        let (mut tags, mut authors, mut firsts, mut stats) = Default::default();
        ing.drain(&mut tags, &mut authors, &mut firsts, &mut stats);
        let mut counted: Vec<(String, u64)> = (tags.iter())
            .map(|(_, t, n): &(u64, Tag, u64)| (t.to_string(), *n))
            .collect();
        counted.sort();
        assert_eq!(counted, [("#new".to_owned(), 1), ("#ok".to_owned(), 1)]);
    }

    /// Text lines of random words: tags in both rules' edge cases, tags too long to count
    /// (over the key bound, and over 4 × it as written), non-ASCII ones and plain words; an
    /// author per line when `authors`. The same `seed` makes the same chunk.
    fn random_text_chunk(seed: u64, authors: bool) -> Chunk {
        let long = ["x".repeat(1_500), "é".repeat(600), "z".repeat(5_000)];
        let words = [
            "#Rust",
            "#rust",
            "#RUST!",
            "#",
            "##",
            "＃全角",
            "#Café",
            "#cafe\u{301}",
            "#ΟΔΟΣ",
            "plain",
            "a#b",
            "#123",
            "#tag's",
            "#e-mail",
            "\u{3000}#x",
            "#x#y",
            "#ok\t#ok",
            "",
        ];
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut c = Chunk::default();
        for i in 0..3_000u64 {
            let n = rng.usize(0..8);
            let line: Vec<String> = (0..n)
                .map(|_| match rng.u8(0..40) {
                    0 => format!("#{}", long[rng.usize(0..long.len())]),
                    _ => words[rng.usize(0..words.len())].to_owned(),
                })
                .collect();
            c.push_line(line.join(" ").as_bytes());
            if authors {
                c.authors.push(i % 7);
            }
        }
        c.check_utf8();
        c
    }

    /// What an ingest counted: every (pane, tag, n) and (pane, tag, author) sorted, the
    /// statistics, the tags left out as too long, and the pending keys that decide when data
    /// is sent early (before the drain).
    type Counted = (
        Vec<(u64, Tag, u64)>,
        Vec<(u64, Tag, u64)>,
        Vec<StatsMsg>,
        u64,
        usize,
    );

    fn count_chunk(mode: hashtag::Mode, authors: bool, c: &Chunk) -> Counted {
        count_chunk_bounded(mode, authors, None, c)
    }

    fn count_chunk_bounded(
        mode: hashtag::Mode,
        authors: bool,
        cap: Option<usize>,
        c: &Chunk,
    ) -> Counted {
        let spec = WindowSpec::new(10_000, 10_000, 10_000).unwrap();
        let mut ing = Ingest::new(spec, Clock::Processing, mode)
            .with_authors(authors)
            .with_cap(cap);
        ing.set_shares([false]);
        let s = Share {
            decoder: Decoder::new(Format::Text, "text", None),
            ..share()
        };
        let m = Metrics::default();
        ing.push_chunk(0, &s, c, 0, 3, &m, |_, to, _| to);
        let pending = ing.pending_keys;
        let (mut tags, mut pairs, mut firsts, mut stats) = Default::default();
        ing.drain(&mut tags, &mut pairs, &mut firsts, &mut stats);
        tags.sort();
        pairs.sort();
        (tags, pairs, stats, m.tags_too_long.load(Relaxed), pending)
    }

    /// Keys found ahead on a reader thread ([`Chunk::find_keys`]) count exactly what the
    /// worker's own extraction counts: tags, too-long ones, tagged records, and author pairs,
    /// in both rules; keys found by the other rule are not used.
    #[test]
    fn keys_found_ahead_count_as_the_worker_would() {
        for (seed, mode, authors) in [
            (1, hashtag::Mode::Spark, false),
            (2, hashtag::Mode::Spark, true),
            (3, hashtag::Mode::Hashtags, false),
            (4, hashtag::Mode::Hashtags, true),
        ] {
            let own = count_chunk(mode, authors, &random_text_chunk(seed, authors));
            let mut ahead = random_text_chunk(seed, authors);
            let mut cache = hashtag::KeyCache::default();
            ahead.find_keys(mode, &mut cache, &mut String::new());
            assert!(ahead.keys().is_some());
            let found = count_chunk(mode, authors, &ahead);
            assert_eq!(found, own, "{mode:?}, authors {authors}");
            // Bounded (pruned past twice the bound, as the lines come): the same too.
            let plain = random_text_chunk(seed, authors);
            assert_eq!(
                count_chunk_bounded(mode, authors, Some(3), &ahead),
                count_chunk_bounded(mode, authors, Some(3), &plain),
                "{mode:?}, authors {authors}, bounded"
            );
            // The test means something: tags, pairs, and left-out tags were all there.
            assert!(own.0.len() >= 5 && own.3 > 10, "{mode:?}: {own:?}");
            assert_eq!(own.1.is_empty(), !authors);
            let other = match mode {
                hashtag::Mode::Spark => hashtag::Mode::Hashtags,
                hashtag::Mode::Hashtags => hashtag::Mode::Spark,
            };
            let mut wrong = random_text_chunk(seed, authors);
            wrong.find_keys(other, &mut cache, &mut String::new());
            assert_eq!(
                count_chunk(mode, authors, &wrong),
                own,
                "{mode:?} by {other:?}'s keys"
            );
        }
    }

    /// The worker counts the keys a chunk carries, not its text's, when they are of its rule
    /// and one per line: so the test above compares two paths, not one path twice.
    #[test]
    fn a_chunk_s_keys_are_what_is_counted() {
        let mut c = Chunk::default();
        for line in ["#a", "#b #c", "no tags"] {
            c.push_line(line.as_bytes());
        }
        c.check_utf8();
        let spark = hashtag::Mode::Spark;
        let made_up: &[&[Option<&str>]] = &[&[Some("#x")], &[None, Some("#x")], &[]];
        c.set_keys(crate::sources::LineKeys::made_up(spark, made_up));
        let (tags, _, _, too_long, _) = count_chunk(spark, false, &c);
        let counted: Vec<_> = tags.iter().map(|(_, t, n)| (t.as_str(), *n)).collect();
        assert_eq!((counted, too_long), (vec![("#x", 2)], 1));
        // Keys of fewer lines than the chunk holds are not used: the text's tags count.
        c.set_keys(crate::sources::LineKeys::made_up(spark, &made_up[..2]));
        let (tags, _, _, too_long, _) = count_chunk(spark, false, &c);
        let counted: Vec<_> = tags.iter().map(|(_, t, n)| (t.as_str(), *n)).collect();
        assert_eq!(
            (counted, too_long),
            (vec![("#a", 1), ("#b", 1), ("#c", 1)], 0)
        );
    }
}
