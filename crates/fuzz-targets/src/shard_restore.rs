//! `window::Shard::restore`: a shard's checkpoint (crates/window's codec: header, varint
//! body, checksum), and `Shard::snapshot`.
//!
//! Each input is restored as it is and resealed (its length field and checksum made right,
//! which takes it past the checksum into the body's checks). The input also drives, as a
//! recipe, a shard through pushes and frontiers; at one frontier it is snapshotted and
//! restored, and the restored twin must then behave exactly like the original.
//!
//! Properties:
//! - restore never panics, and holds at most a small multiple of the snapshot's size;
//! - a restored shard snapshots to bytes that restore to a shard snapshotting to the same
//!   bytes (one state, one snapshot), and it can be advanced without panicking;
//! - restore(snapshot(shard)) behaves as `shard` for every later push and frontier.
//!
//! All of it also for a shard with trends counting distinct authors past a bound of
//! [`MAX_TAGS`] tags, where each pane keeps a hash sample of its (tag, author) pairs.

use window::{Shard, TrendSpec, WindowSpec};

use crate::meter;
use crate::pieces::Rng;

/// k of every seed.
pub const K: usize = 3;

/// Batch 10 s, window 40 s, slide 20 s: windows of 4 panes every 2 panes (every seed's shape).
pub fn spec() -> WindowSpec {
    WindowSpec::new(10_000, 40_000, 20_000).expect("a valid shape")
}

/// The bound on distinct tags of the trending shard: 8 (tag, author) pairs a pane, so the
/// recipe's authors are sampled.
pub const MAX_TAGS: usize = 2;

/// The trends of the trending shard.
pub fn trend_spec() -> TrendSpec {
    TrendSpec::new(K, 4.0)
}

/// A shard with trends counting distinct authors, past a bound of [`MAX_TAGS`] (the
/// trending seed's shape).
pub fn trending_shard() -> Shard {
    Shard::new(spec(), K)
        .with_max_tags(MAX_TAGS)
        .with_trends(trend_spec(), true)
}

/// `bytes` with crates/window's header length and checksum set for its body (inputs too short
/// to have both are left alone).
pub fn reseal(bytes: &[u8]) -> Vec<u8> {
    const HEADER: usize = 4 + 1 + 8;
    let mut out = bytes.to_vec();
    if out.len() >= HEADER + 8 {
        let body = (out.len() - HEADER - 8) as u64;
        out[5..HEADER].copy_from_slice(&body.to_le_bytes());
        let end = out.len() - 8;
        let sum = xxhash_rust::xxh3::xxh3_64(&out[..end]);
        out[end..].copy_from_slice(&sum.to_le_bytes());
    }
    out
}

fn snapshot(s: &Shard) -> Vec<u8> {
    let mut out = Vec::new();
    s.snapshot(u64::MAX, &mut out);
    out
}

/// A shard made by [`trending_shard`], restored.
fn restore_trending(bytes: &[u8]) -> Result<Shard, String> {
    Shard::restore_with(spec(), K, Some((trend_spec(), true)), bytes)
}

fn restore(bytes: &[u8]) {
    restore_as(bytes, |b| Shard::restore(spec(), K, b));
    restore_as(bytes, restore_trending);
}

fn restore_as(bytes: &[u8], restore: impl Fn(&[u8]) -> Result<Shard, String>) {
    let (got, held) = meter::peak(|| restore(bytes));
    // Per tag at least one byte: an interned tag with its table slot and id (tens of bytes),
    // doubled by growth; per author pair at least two, in a pane's set and the window's.
    meter::assert_within("Shard::restore", held, bytes.len(), 256, 4096);
    let Ok(shard) = got else {
        return;
    };
    let once = snapshot(&shard);
    let again = restore(&once).expect("a snapshot restores");
    assert_eq!(snapshot(&again), once, "snapshot ∘ restore is stable");
    let mut shard = shard;
    let mut again = again;
    assert_eq!(shard.advance(Some(1 << 20)), again.advance(Some(1 << 20)));
    assert_eq!(shard.advance(None), again.advance(None));
}

/// One step of a recipe: pushes at times in `[frontier, next)`, then the frontier `next`.
fn round(rng: &mut Rng, frontier: u64, next: u64, shards: &mut [&mut Shard]) {
    const TAGS: [&str; 5] = ["a", "b", "rust", "日本", ""];
    for _ in 0..rng.below(6) {
        let time = frontier + rng.below((next - frontier) as usize) as u64;
        let pane = (time + 3).saturating_sub(rng.below(9) as u64);
        let tag = TAGS[rng.below(TAGS.len())];
        // Now and then a count past u32 (stored apart in a shard's batch).
        let n = match rng.below(16) {
            0 => u64::from(u32::MAX) + rng.below(3) as u64,
            _ => 1 + rng.below(3) as u64,
        };
        // A few authors each, now and then a crowd: the trending shard samples them.
        let authors = match rng.below(8) {
            0 => 40,
            _ => rng.below(4),
        };
        let first = rng.below(4) as u64;
        for s in shards.iter_mut() {
            s.push(time, pane, tag, n);
            for author in 0..authors as u64 {
                s.push_author(time, pane, tag, author * 7 + first);
            }
            s.push_first(time, pane.saturating_sub(first));
        }
    }
}

/// A stage of crates/window that a checkpoint restores: the shard or the merger.
pub trait Restorable: Sized {
    /// What it emits at a frontier.
    type Out: PartialEq + std::fmt::Debug;
    /// Its name in the assertions.
    const NAME: &'static str;
    /// Closes what the frontier closes (`None`: the end).
    fn advance_to(&mut self, frontier: Option<u64>) -> Self::Out;
    /// Its checkpoint as of `frontier`.
    fn snapshot_at(&self, frontier: u64, out: &mut Vec<u8>);
    /// Restored from a snapshot of the seeds' shape (which must restore).
    fn restored(bytes: &[u8]) -> Self;
}

impl Restorable for Shard {
    type Out = Vec<window::ShardWindow>;
    const NAME: &'static str = "shard";
    fn advance_to(&mut self, frontier: Option<u64>) -> Self::Out {
        self.advance(frontier)
    }
    fn snapshot_at(&self, frontier: u64, out: &mut Vec<u8>) {
        self.snapshot(frontier, out)
    }
    fn restored(bytes: &[u8]) -> Self {
        Shard::restore(spec(), K, bytes).expect("a snapshot restores")
    }
}

/// The recipe of both restore targets: rounds of pushes (`round`) and frontiers; at one
/// frontier, snapshot and restore, then the twin and the original take the same rounds and
/// must emit the same.
pub fn twin_recipe<S: Restorable>(
    rng: &mut Rng,
    mut stage: S,
    round: impl Fn(&mut Rng, u64, u64, &mut [&mut S]),
) {
    let mut twin: Option<S> = None;
    let rounds = 1 + rng.below(10);
    let at = rng.below(rounds);
    let mut frontier = 0;
    for r in 0..rounds {
        let next = frontier + 1 + rng.below(5) as u64;
        match &mut twin {
            None => round(rng, frontier, next, &mut [&mut stage]),
            Some(t) => round(rng, frontier, next, &mut [&mut stage, t]),
        }
        let a = stage.advance_to(Some(next));
        if let Some(t) = &mut twin {
            let name = S::NAME;
            assert_eq!(
                t.advance_to(Some(next)),
                a,
                "a restored {name} at frontier {next}"
            );
        }
        frontier = next;
        if r == at {
            let mut bytes = Vec::new();
            stage.snapshot_at(frontier, &mut bytes);
            let t = S::restored(&bytes);
            let mut again = Vec::new();
            t.snapshot_at(frontier, &mut again);
            assert_eq!(again, bytes, "restore → snapshot gives the snapshot back");
            twin = Some(t);
        }
    }
    let end = stage.advance_to(None);
    if let Some(t) = &mut twin {
        assert_eq!(t.advance_to(None), end, "a restored {} at the end", S::NAME);
    }
}

/// The trending shard in [`twin_recipe`]: restored with its trends.
pub struct Trending(pub Shard);

impl Restorable for Trending {
    type Out = Vec<window::ShardWindow>;
    const NAME: &'static str = "trending shard";
    fn advance_to(&mut self, frontier: Option<u64>) -> Self::Out {
        self.0.advance(frontier)
    }
    fn snapshot_at(&self, frontier: u64, out: &mut Vec<u8>) {
        self.0.snapshot(frontier, out)
    }
    fn restored(bytes: &[u8]) -> Self {
        Trending(restore_trending(bytes).expect("a snapshot restores"))
    }
}

/// The recipe: a shard, and a trending one, through [`twin_recipe`].
pub fn recipe(data: &[u8]) {
    twin_recipe(&mut Rng::new(data, 11), Shard::new(spec(), K), round);
    twin_recipe(
        &mut Rng::new(data, 13),
        Trending(trending_shard()),
        |rng, f, n, shards| {
            let mut inner: Vec<&mut Shard> = shards.iter_mut().map(|t| &mut t.0).collect();
            round(rng, f, n, &mut inner)
        },
    );
}

/// The target.
pub fn run(data: &[u8]) {
    restore(data);
    restore(&reseal(data));
    recipe(data);
}
