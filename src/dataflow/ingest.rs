//! Per-worker ingest: lines → records → tags, pre-aggregated per pane before the exchange.
//!
//! This is the hot path. Per record it decodes the line (borrowing the text when it can),
//! finds tags with `crates/hashtag` (no allocation), writes each tag's counting key into one
//! reused buffer, and bumps a count in the pane's map; a `String` is allocated only for a tag
//! this pane has not seen yet. Nothing here knows about timely: `mod.rs` sends what
//! [`Ingest::drain`] returns.

use std::sync::atomic::Ordering::Relaxed;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use window::WindowSpec;

use crate::metrics::Metrics;
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
    },
}

#[derive(Default)]
struct PaneAgg {
    counts: FxHashMap<String, u64>,
    records: u64,
    tagged: u64,
}

/// One worker's pre-aggregation state.
pub struct Ingest {
    spec: WindowSpec,
    clock: Clock,
    mode: hashtag::Mode,
    /// Panes with data not yet sent, most recent last (few are live at once).
    pending: Vec<(u64, PaneAgg)>,
    pending_keys: usize,
    late: u64,
    /// Greatest event time seen (ms).
    max_time: Option<u64>,
    key: String,
    /// Keys of the current record, to add a source's extra tags only once.
    seen: Vec<String>,
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
            max_time: None,
            key: String::new(),
            seen: Vec::new(),
        }
    }

    /// The pane the watermark is in (event time), if any record was seen.
    pub fn watermark_pane(&self) -> Option<u64> {
        match self.clock {
            Clock::Event { lateness_ms } => self
                .max_time
                .map(|t| self.spec.pane_of(t.saturating_sub(lateness_ms))),
            Clock::Processing => None,
        }
    }

    /// True when enough is pending that it should be sent now.
    pub fn should_flush(&self) -> bool {
        self.pending_keys >= FLUSH_KEYS
    }

    /// Processes the lines of a chunk of `share` (read with its decoder, kept if its
    /// `--track` filter matches). `time` is the worker's current input time (pane);
    /// `now_pane` the wall clock's pane (processing time). In event time, `advance` is
    /// called whenever the watermark moves past `time`, with the new pane; it must send what
    /// [`Ingest::drain`] returns at the old time and return the new input time.
    pub fn push_chunk(
        &mut self,
        share: &Share,
        chunk: &Chunk,
        mut time: u64,
        now_pane: u64,
        metrics: &Metrics,
        mut advance: impl FnMut(&mut Ingest, u64) -> u64,
    ) -> u64 {
        let (mut records, mut bytes) = (0u64, 0u64);
        for line in chunk.iter() {
            bytes += line.len() as u64;
            let rec = match share.decoder.decode(line) {
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
            records += 1;
            let pane = match (self.clock, rec.time_ms) {
                (Clock::Event { .. }, Some(t)) => {
                    let pane = self.spec.pane_of(t);
                    if self.spec.is_late(pane, time) {
                        self.late += 1;
                        metrics.late.fetch_add(1, Relaxed);
                        continue;
                    }
                    self.max_time = Some(self.max_time.map_or(t, |m| m.max(t)));
                    pane
                }
                _ => now_pane,
            };
            self.count(pane, &rec.text, &rec.tags);
            if let Some(wm) = self.watermark_pane() {
                if wm > time {
                    time = advance(self, wm);
                }
            }
        }
        metrics.records_in.fetch_add(records, Relaxed);
        metrics.bytes_in.fetch_add(bytes, Relaxed);
        time
    }

    /// Counts one record's tags in `pane`: those found in the text, then the source's own
    /// `extra` tags that the text did not already give (each tag once per record).
    fn count(&mut self, pane: u64, text: &str, extra: &[String]) {
        let slot = match self.pending.iter().rposition(|(p, _)| *p == pane) {
            Some(i) => i,
            None => {
                self.pending.push((pane, PaneAgg::default()));
                self.pending.len() - 1
            }
        };
        let agg = &mut self.pending[slot].1;
        agg.records += 1;
        if extra.is_empty() && hashtag::has_no_sign(self.mode, text) {
            return;
        }
        let (mode, key, counts) = (self.mode, &mut self.key, &mut agg.counts);
        let mut any = false;
        let mut new_keys = 0;
        let seen = &mut self.seen;
        seen.clear();
        let mut bump = |key: &str| match counts.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                counts.insert(key.to_owned(), 1);
                new_keys += 1;
            }
        };
        hashtag::for_each_tag(mode, text, |tag| {
            any = true;
            hashtag::count_key(mode, tag, key);
            bump(key);
            if !extra.is_empty() {
                seen.push(key.clone());
            }
        });
        for tag in extra {
            let body = tag.trim_start_matches(['#', '\u{FF03}']);
            if body.is_empty() {
                continue;
            }
            // The key of a bare tag is '#' + its lower-case form in either mode.
            hashtag::count_key(hashtag::Mode::Hashtags, body, key);
            if !seen.iter().any(|s| s == key) {
                any = true;
                bump(key);
                seen.push(key.clone());
            }
        }
        agg.tagged += u64::from(any);
        self.pending_keys += new_keys;
    }

    /// Takes everything pending: tag counts `(pane, tag, n)` and statistics.
    pub fn drain(&mut self, tags: &mut Vec<(u64, String, u64)>, stats: &mut Vec<StatsMsg>) {
        for (pane, agg) in self.pending.drain(..) {
            stats.push(StatsMsg::Pane {
                pane,
                records: agg.records,
                tagged: agg.tagged,
            });
            tags.extend(agg.counts.into_iter().map(|(t, n)| (pane, t, n)));
        }
        if self.late > 0 {
            stats.push(StatsMsg::Late(std::mem::take(&mut self.late)));
        }
        self.pending_keys = 0;
    }
}
