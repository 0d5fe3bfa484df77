//! `window::Merger::restore`: the merger's checkpoint (crates/window's codec), and
//! `Merger::snapshot`. Built like [`crate::shard_restore`]: raw and resealed inputs, and a
//! recipe of pushes and frontiers with a snapshot and restore in the middle.
//!
//! Properties:
//! - restore never panics, and holds at most a small multiple of the snapshot's size;
//! - a restored merger snapshots to bytes that restore to a merger snapshotting to the same
//!   bytes, and a few slides can be advanced without panicking; with gaps skipped it runs to
//!   the end of its range, and every empty window it emits directly follows one with data;
//! - restore(snapshot(merger)) emits exactly the windows of the original for every later push
//!   and frontier.

use window::{Merger, PaneStats, ShardWindow};

use crate::meter;
use crate::pieces::Rng;
use crate::shard_restore::{reseal, spec, Restorable};

/// The top-K size of every seed.
pub const TOP: usize = 3;
/// The counts limit of every seed.
pub const COUNTS: usize = 4;

fn merger() -> Merger {
    Merger::new(spec(), TOP).with_counts(COUNTS)
}

fn snapshot(m: &Merger) -> Vec<u8> {
    let mut out = Vec::new();
    m.snapshot(u64::MAX, &mut out);
    out
}

fn restore(bytes: &[u8]) {
    let (got, held) = meter::peak(|| Merger::restore(spec(), TOP, COUNTS, bytes));
    // Per pane, time or shard result at least 2 bytes become a map entry (tens of bytes),
    // doubled by growth.
    meter::assert_within("Merger::restore", held, bytes.len(), 256, 4096);
    let Ok(m) = got else {
        return;
    };
    let once = snapshot(&m);
    let again = Merger::restore(spec(), TOP, COUNTS, &once).expect("a snapshot restores");
    assert_eq!(snapshot(&again), once, "snapshot ∘ restore is stable");
    // A few slides past anything a small input can hold; not `None`: a merger emits every
    // window, empty ones included, up to the end of its range, which may be years away.
    let (mut m, mut again) = (m, again);
    let f = Some(64);
    assert_eq!(m.advance(f), again.advance(f));
    // With gaps skipped (event time) a merger emits only windows with data and the first
    // empty one after each: to the end of its range, in steps bounded by what it holds.
    let skipping = || {
        Merger::restore(spec(), TOP, COUNTS, &once)
            .expect("a snapshot restores")
            .with_gaps_skipped(true)
    };
    let all = skipping().advance(None);
    assert_eq!(all, skipping().advance(None));
    let data = |w: &window::Window| w.records > 0 || w.tags > 0;
    for pair in all.windows(2) {
        let next_end = pair[0].end_ms.saturating_add(spec().slide_ms());
        assert!(
            data(&pair[1]) || (data(&pair[0]) && pair[1].end_ms == next_end),
            "an empty window that does not follow one with data: {pair:?}"
        );
    }
}

/// One step of a recipe: pushes at times in `[frontier, next)`, then the frontier `next`.
fn round(rng: &mut Rng, frontier: u64, next: u64, ms: &mut [&mut Merger]) {
    const TAGS: [&str; 4] = ["#a", "#b", "#rust", "#日本"];
    let s = spec().slide_panes();
    for _ in 0..rng.below(6) {
        let time = frontier + rng.below((next - frontier) as usize) as u64;
        match rng.below(3) {
            0 => {
                let pane = (time + 3).saturating_sub(rng.below(9) as u64);
                let records = rng.below(5) as u64;
                // What an input worker's prunes took past --max-tags (issue 15), now and then.
                let floor = rng.below(4).saturating_sub(2) as u64;
                let stats = PaneStats {
                    records,
                    tagged: rng.below(records as usize + 1) as u64,
                    floor,
                    dropped: floor * rng.below(4) as u64,
                };
                ms.iter_mut().for_each(|m| m.push_stats(time, pane, stats));
            }
            1 => {
                let n = rng.below(3) as u64;
                ms.iter_mut().for_each(|m| m.push_late(time, n));
            }
            _ => {
                // A shard sends its result for window E at E − 1: E in (frontier, next].
                let end = (time + 1).div_ceil(s) * s;
                if end == 0 || end > next || end - 1 < frontier {
                    continue;
                }
                let mut top: Vec<window::Row> = Vec::new();
                for _ in 0..rng.below(4) {
                    let t = TAGS[rng.below(TAGS.len())];
                    if !top.iter().any(|(x, _)| x == t) {
                        top.push((t.into(), 1 + rng.below(9) as u64));
                    }
                }
                // Ranked, as a shard sends it (the merger merges ranked runs).
                top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                let tags = top.iter().map(|(_, n)| n).sum::<u64>() + rng.below(3) as u64;
                let w = ShardWindow {
                    end,
                    distinct: top.len() as u64,
                    top,
                    tags,
                    trending: Vec::new(),
                    error: rng.below(4).saturating_sub(2) as u64,
                };
                ms.iter_mut().for_each(|m| m.push_shard(w.clone()));
            }
        }
    }
}

impl Restorable for Merger {
    type Out = Vec<window::Window>;
    const NAME: &'static str = "merger";
    fn advance_to(&mut self, frontier: Option<u64>) -> Self::Out {
        self.advance(frontier)
    }
    fn snapshot_at(&self, frontier: u64, out: &mut Vec<u8>) {
        self.snapshot(frontier, out)
    }
    fn restored(bytes: &[u8]) -> Self {
        Merger::restore(spec(), TOP, COUNTS, bytes).expect("a snapshot restores")
    }
}

/// The recipe: a merger through [`crate::shard_restore::twin_recipe`].
pub fn recipe(data: &[u8]) {
    crate::shard_restore::twin_recipe(&mut Rng::new(data, 13), merger(), round);
}

/// The target.
pub fn run(data: &[u8]) {
    restore(data);
    restore(&reseal(data));
    recipe(data);
}
