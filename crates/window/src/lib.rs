//! Sliding-window counting and deterministic top-K for tagstream: pure state machines, no I/O,
//! no async runtime, no timely.
//!
//! # Model
//!
//! Time is cut into **panes** (batches) of `B` ms: pane(t) = t / B. A window of length `W`
//! sliding by `S` (both positive multiples of `B`) is named by its **end pane** `E`, a multiple
//! of s = S / B, and covers the w = W / B panes `[E − w, E)`, i.e. the times `[E·B − W, E·B)`.
//!
//! Every datum arrives with a **time** (the sender's watermark pane when it sent it; the timely
//! timestamp) and a **pane** (where it belongs). The *time-ordering rule* makes output identical
//! whatever the number of shards and however the data is chunked: **a datum delivered at time
//! `t` counts only in windows whose end `E > t`.** A frontier `f` ("all data with time < f has
//! arrived") therefore closes every window `E ≤ f`. A datum that no window ending after its
//! time holds is *late* ([`WindowSpec::is_late`]): its sender drops and counts it.
//!
//! Each [`Shard`] keeps the tags routed to it and yields one [`ShardWindow`] per closed,
//! non-empty window. One [`Merger`] gathers per-pane record statistics, late counts and every
//! shard's results into the emitted [`Window`]s, empty ones included (in event time only the
//! first of each run of them: [`Merger::with_gaps_skipped`]). Top-K order is count
//! descending, then tag ascending by bytes ([`top_k`]).
//!
//! # Contract and determinism
//!
//! The caller (a timely operator) guarantees that frontiers only grow and that every datum
//! with time `< f` was pushed before `advance(Some(f))`; the merger's frontier also waits for
//! every shard's results for `E` before passing `E`. Then each shard's results, and the
//! merger's windows, are a function of the data alone: not of the number of shards, of how
//! data was chunked, or of when `advance` was called. The merger's range (which windows are
//! emitted, empty ones included) is too, as long as the frontier never runs more than one
//! past the greatest time pushed before the input ends, which holds in event time (the
//! frontier is the watermark). In processing time the caller's clock moves the frontier, and
//! the empty windows it passes are emitted: that is the point there.
//!
//! Property tests (`src/cluster.rs`) check all of this against a naive oracle
//! (`src/model.rs`) under random data, routing and schedules.
//!
//! # Worked example: 10 s batches, 60 s windows, 10 s slide
//!
//! Three records, in event time: `#a` at 0 s, `#a #b` at 15 s, `#b` at 65 s. They fall in
//! panes 0, 1 and 6. Windows end at every pane (s = 1) and hold 6 panes (w = 6). The first
//! window holding pane 0 ends at pane 1 (`[−50 s, 10 s)`, shown clipped at 0); the last window
//! holding pane 6 ends at pane 12 (`[60 s, 120 s)`):
//!
//! | end pane | window        | records | top         |
//! |----------|---------------|---------|-------------|
//! | 1        | 0 s – 10 s    | 1       | a 1         |
//! | 2 … 6    | 0 s – 20 s, …, 0 s – 60 s | 2 | a 2, b 1 |
//! | 7        | 10 s – 70 s   | 2       | b 2, a 1    |
//! | 8 … 12   | 20 s – 80 s, …, 60 s – 120 s | 1 | b 1 |
//!
//! ```
//! use window::{Merger, PaneStats, Shard, WindowSpec};
//!
//! let spec = WindowSpec::new(10_000, 60_000, 10_000)?;
//! let (mut shard, mut merger) = (Shard::new(spec, 10), Merger::new(spec, 10));
//! for (t_ms, tags) in [(0, vec!["a"]), (15_000, vec!["a", "b"]), (65_000, vec!["b"])] {
//!     let pane = spec.pane_of(t_ms);
//!     let time = pane; // the sender's watermark: each record moves it to its own pane
//!     assert!(!spec.is_late(pane, time));
//!     merger.push_stats(time, pane, PaneStats { records: 1, tagged: 1, ..PaneStats::default() });
//!     for tag in tags {
//!         shard.push(time, pane, tag, 1);
//!     }
//! }
//! for result in shard.advance(None) {
//!     merger.push_shard(result);
//! }
//! let windows = merger.advance(None);
//! assert_eq!(windows.len(), 12);
//! let top = |i: usize| windows[i].top.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>();
//! assert_eq!((windows[0].start_ms, windows[0].end_ms, top(0)), (0, 10_000, vec!["a 1".into()]));
//! assert_eq!((windows[5].start_ms, windows[5].end_ms), (0, 60_000));
//! assert_eq!(top(5), ["a 2", "b 1"]);
//! assert_eq!((windows[6].start_ms, windows[6].end_ms), (10_000, 70_000));
//! assert_eq!((windows[6].records, windows[6].tags, windows[6].distinct), (2, 3, 2));
//! assert_eq!(top(6), ["b 2", "a 1"]);
//! assert_eq!((windows[11].start_ms, windows[11].end_ms, top(11)), (60_000, 120_000, vec!["b 1".into()]));
//! # Ok::<(), window::SpecError>(())
//! ```
//!
//! # Bounded memory
//!
//! [`Shard::with_max_tags`] bounds the distinct tags of each pane (issue 15). A pane that
//! would hold more is pruned to a Misra–Gries heavy-hitters summary, which is mergeable: a
//! window sums its panes' summaries, and the merger combines disjoint shards and adds the
//! floor of what input workers pruned before sending ([`prune_map`], [`PaneStats::floor`]).
//! An approximate window carries [`Approx`]: every count is an upper bound with the most it
//! may overstate, and every tag above the window's `bound` (at most `tags / (N + 1)`) is
//! counted. Below the bound nothing is pruned and the output is exactly the unbounded one.
//! Trends' distinct authors have a bound of their own, `4 × N` (tag, author) pairs a pane,
//! past which they are a hash sample (`src/authors.rs`).
//! The guarantees are property-tested against the oracle (`src/cluster.rs`, `src/bound.rs`).
//!
//! # Checkpoints
//!
//! [`Shard::snapshot`] and [`Merger::snapshot`] save everything delivered before a time `T`;
//! [`Shard::restore`] and [`Merger::restore`] rebuild it. The engine checkpoints at `T`
//! right after `advance(Some(T))`: a snapshot holds the applied state and what was stashed
//! with a time `< T`, never what was delivered at `T` or later, which the sources send again
//! after a restore. The restored run then emits exactly the windows of the uninterrupted
//! run (property-tested in `src/cluster.rs`). The format (`src/codec.rs`) is compact,
//! versioned, checksummed and deterministic; restore refuses a checkpoint of another window
//! shape or `k` and never panics on bad bytes.
//!
//! ```
//! use window::{Shard, WindowSpec};
//!
//! let spec = WindowSpec::new(10_000, 60_000, 10_000)?;
//! let mut shard = Shard::new(spec, 10);
//! shard.push(0, 0, "rust", 2);
//! shard.push(1, 1, "rust", 1); // delivered at 1: not in a checkpoint at 1
//! shard.advance(Some(1));
//! let mut bytes = Vec::new();
//! shard.snapshot(1, &mut bytes);
//!
//! let mut restored = Shard::restore(spec, 10, &bytes)?;
//! restored.push(1, 1, "rust", 1); // its source sends it again
//! assert_eq!(restored.advance(None), shard.advance(None));
//!
//! let other = WindowSpec::new(10_000, 30_000, 10_000)?;
//! assert_eq!(
//!     Shard::restore(other, 10, &bytes).unwrap_err(),
//!     "shard checkpoint has window 1m/10s/10s, this run 30s/10s/10s (window/slide/batch)"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

mod authors;
mod bound;
mod codec;
mod merger;
mod pane;
mod shard;
mod tags;
mod topk;
mod trend;

#[cfg(test)]
mod cluster;
#[cfg(test)]
mod model;

pub use bound::{prune_map, Pruned};
pub use compact_str::CompactString;
pub use merger::{Approx, Merger, PaneStats, Window};
pub use shard::{Shard, ShardWindow};
pub use topk::top_k;
pub use trend::{rank_trends, Trend, TrendSpec};

/// A ranked row of a shard's list and of a window's counts: a tag and its count. The tag is
/// inline up to 24 bytes, so a list of every tag of a window (`--counts`) is one allocation
/// rather than one per tag.
pub type Row = (CompactString, u64);

/// Rows as `(String, u64)`, to compare with a window's top (tests).
#[cfg(test)]
pub(crate) fn strings(rows: &[Row]) -> Vec<(String, u64)> {
    rows.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

/// Batch, window length and slide, in milliseconds, with the pane arithmetic that follows.
///
/// All pane-valued arguments and results are pane indexes (`t_ms / batch_ms`); a window is named
/// by its end pane, a multiple of the slide in panes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowSpec {
    batch_ms: u64,
    window_ms: u64,
    slide_ms: u64,
    /// Window length in panes.
    w: u64,
    /// Slide in panes.
    s: u64,
}

impl WindowSpec {
    /// Checks that the three durations are positive and that the window and the slide are
    /// multiples of the batch. A slide longer than the window is allowed: panes between two
    /// windows then belong to none and are counted nowhere (see [`WindowSpec::holds`]).
    pub fn new(batch_ms: u64, window_ms: u64, slide_ms: u64) -> Result<Self, SpecError> {
        for (what, value_ms) in [
            ("batch", batch_ms),
            ("window", window_ms),
            ("slide", slide_ms),
        ] {
            if value_ms == 0 {
                return Err(SpecError::Zero { what });
            }
        }
        for (what, value_ms) in [("window", window_ms), ("slide", slide_ms)] {
            if value_ms % batch_ms != 0 {
                return Err(SpecError::NotMultiple {
                    what,
                    value_ms,
                    batch_ms,
                });
            }
        }
        let (w, s) = (window_ms / batch_ms, slide_ms / batch_ms);
        Ok(WindowSpec {
            batch_ms,
            window_ms,
            slide_ms,
            w,
            s,
        })
    }

    /// The batch (pane) length B in ms.
    pub fn batch_ms(&self) -> u64 {
        self.batch_ms
    }

    /// The window length W in ms.
    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }

    /// The slide S in ms.
    pub fn slide_ms(&self) -> u64 {
        self.slide_ms
    }

    /// The window length in panes, w = W / B.
    pub fn window_panes(&self) -> u64 {
        self.w
    }

    /// The slide in panes, s = S / B. Window ends are the multiples of s.
    pub fn slide_panes(&self) -> u64 {
        self.s
    }

    /// The pane holding time `t_ms`: `t_ms / B`.
    pub fn pane_of(&self, t_ms: u64) -> u64 {
        t_ms / self.batch_ms
    }

    /// The first window end strictly after `pane`: the smallest multiple of s that is `> pane`.
    /// When s ≤ w this is the first window holding `pane`.
    pub fn first_window_end_holding(&self, pane: u64) -> u64 {
        self.first_end_after(pane)
    }

    /// The last window holding `pane`: the largest multiple of s that is `<= pane + w`.
    pub fn last_window_end_holding(&self, pane: u64) -> u64 {
        pane.saturating_add(self.w) / self.s * self.s
    }

    /// Whether any window holds `pane` (always true unless the slide is longer than the window).
    pub fn holds(&self, pane: u64) -> bool {
        self.last_window_end_holding(pane) > pane
    }

    /// The first window end strictly after time `time`: the first window a datum delivered at
    /// `time` may count in.
    pub fn first_end_after(&self, time: u64) -> u64 {
        (time / self.s).saturating_add(1).saturating_mul(self.s)
    }

    /// The last window end at or before time `time`: the largest multiple of s that is `<= time`.
    pub fn last_end_at_or_before(&self, time: u64) -> u64 {
        time / self.s * self.s
    }

    /// Whether a datum for `pane` delivered at `time` is late: some window holds `pane`, but
    /// every such window ends at or before `time`, so the time-ordering rule lets it count in
    /// none. Its sender drops and counts it. A pane that no window holds (slide longer than
    /// the window) is not late: it is outside every window, and counted nowhere.
    pub fn is_late(&self, pane: u64, time: u64) -> bool {
        let last = self.last_window_end_holding(pane);
        last > pane && last <= time
    }

    /// Start of window `end_pane` in ms since the epoch, clipped at 0: `E·B − W`.
    pub fn window_start_ms(&self, end_pane: u64) -> u64 {
        self.window_end_ms(end_pane).saturating_sub(self.window_ms)
    }

    /// End (exclusive) of window `end_pane` in ms since the epoch: `E·B`.
    pub fn window_end_ms(&self, end_pane: u64) -> u64 {
        end_pane.saturating_mul(self.batch_ms)
    }
}

/// Why a [`WindowSpec`] was refused. A user error: the message names the values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecError {
    /// A duration was zero.
    Zero {
        /// `"batch"`, `"window"` or `"slide"`.
        what: &'static str,
    },
    /// The window or the slide is not a whole number of batches.
    NotMultiple {
        /// `"window"` or `"slide"`.
        what: &'static str,
        /// The offending duration, in ms.
        value_ms: u64,
        /// The batch, in ms.
        batch_ms: u64,
    },
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SpecError::Zero { what } => write!(f, "{what} must be positive, got 0s"),
            SpecError::NotMultiple {
                what,
                value_ms,
                batch_ms,
            } => write!(
                f,
                "{what} {} is not a multiple of the batch {}",
                Compact(value_ms),
                Compact(batch_ms)
            ),
        }
    }
}

impl std::error::Error for SpecError {}

/// Slides a running sum of panes (`sum`) from the window ending at `cur` to the one ending at
/// `target` (`window` panes long): panes that fall out of it are removed from `panes` and
/// handed to `leave` with whether the sum held them (those at `cur` or later were never
/// added); panes that come into it are handed to `enter`. The one eviction loop of both the
/// shards' tag counts and the merger's statistics.
pub(crate) fn slide<P, S>(
    panes: &mut std::collections::BTreeMap<u64, P>,
    sum: &mut S,
    (cur, target, window): (u64, u64, u64),
    leave: impl Fn(&mut S, P, bool),
    enter: impl Fn(&mut S, &P),
) {
    let new_lo = target.saturating_sub(window);
    while let Some(entry) = panes.first_entry() {
        if *entry.key() >= new_lo {
            break;
        }
        let was_counted = *entry.key() < cur;
        leave(sum, entry.remove(), was_counted);
    }
    for (_, p) in panes.range(cur.max(new_lo)..target) {
        enter(sum, p);
    }
}

/// A duration in ms printed in the largest unit that divides it exactly: `1500ms`, `65s`,
/// `2m`, `1h`, `1d`.
pub(crate) struct Compact(pub(crate) u64);

impl fmt::Display for Compact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        let ms = self.0;
        match UNITS
            .iter()
            .find(|&&(unit, _)| ms > 0 && ms.is_multiple_of(unit))
        {
            Some(&(unit, name)) => write!(f, "{}{name}", ms / unit),
            None => write!(f, "{ms}ms"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(b: u64, w: u64, s: u64) -> WindowSpec {
        WindowSpec::new(b, w, s).unwrap()
    }

    #[test]
    fn spec_errors_name_the_values() {
        let err = |b, w, s| WindowSpec::new(b, w, s).unwrap_err().to_string();
        assert_eq!(
            err(10_000, 65_000, 10_000),
            "window 65s is not a multiple of the batch 10s"
        );
        assert_eq!(
            err(10_000, 60_000, 15_000),
            "slide 15s is not a multiple of the batch 10s"
        );
        assert_eq!(
            err(4_000, 90_000, 4_000),
            "window 90s is not a multiple of the batch 4s"
        );
        assert_eq!(
            err(1_500, 3_600_500, 1_500),
            "window 3600500ms is not a multiple of the batch 1500ms"
        );
        assert_eq!(
            err(7_200_000, 86_460_000, 7_200_000),
            "window 1441m is not a multiple of the batch 2h"
        );
        assert_eq!(err(0, 60_000, 10_000), "batch must be positive, got 0s");
        assert_eq!(err(10_000, 0, 10_000), "window must be positive, got 0s");
        assert_eq!(err(10_000, 60_000, 0), "slide must be positive, got 0s");
        assert_eq!(Compact(86_400_000 * 3).to_string(), "3d");
        assert_eq!(Compact(90_000).to_string(), "90s");
        assert_eq!(Compact(3_600_000).to_string(), "1h");
    }

    #[test]
    fn pane_arithmetic_for_10s_60s_10s() {
        let sp = spec(10_000, 60_000, 10_000);
        assert_eq!((sp.window_panes(), sp.slide_panes()), (6, 1));
        assert_eq!(
            (sp.pane_of(0), sp.pane_of(9_999), sp.pane_of(10_000)),
            (0, 0, 1)
        );
        assert_eq!(sp.first_window_end_holding(3), 4);
        assert_eq!(sp.last_window_end_holding(3), 9);
        assert_eq!(
            (sp.window_start_ms(9), sp.window_end_ms(9)),
            (30_000, 90_000)
        );
        assert_eq!((sp.window_start_ms(1), sp.window_end_ms(1)), (0, 10_000));
        assert!(!sp.is_late(3, 8));
        assert!(sp.is_late(3, 9));
    }

    #[test]
    fn pane_arithmetic_with_a_longer_slide() {
        // 60 s windows every 30 s: w = 6, s = 3; pane 4 is in the windows ending at 6 and 9.
        let sp = spec(10_000, 60_000, 30_000);
        assert_eq!(
            (
                sp.first_window_end_holding(4),
                sp.last_window_end_holding(4)
            ),
            (6, 9)
        );
        assert_eq!(
            (
                sp.first_window_end_holding(6),
                sp.last_window_end_holding(6)
            ),
            (9, 12)
        );
        assert!(!sp.is_late(4, 8) && sp.is_late(4, 9));
        // 10 s windows every 30 s: pane 1 and 2 of every 3 lie between windows.
        let gaps = spec(10_000, 10_000, 30_000);
        assert!(gaps.holds(2) && !gaps.holds(3) && !gaps.holds(4) && gaps.holds(5));
        assert!(
            !gaps.is_late(4, 100),
            "a pane no window holds is not late, just outside"
        );
        assert!(gaps.is_late(5, 6));
    }

    #[test]
    fn arithmetic_saturates_at_the_ends_of_time() {
        let sp = spec(1, 6, 4);
        assert_eq!(sp.last_window_end_holding(u64::MAX), u64::MAX / 4 * 4);
        assert_eq!(sp.window_end_ms(u64::MAX), u64::MAX);
        assert!(sp.first_end_after(u64::MAX - 1) >= u64::MAX / 4 * 4);
    }
}
