//! Prints the cost of a shard checkpoint (issue 6): snapshot and restore time, and bytes.
//!
//! ```text
//! cargo run -p window --release --example checkpoint_cost [N ...]   # default: 100000 1000000
//! ```
//!
//! For each N, two states of one shard of a 60 s / 10 s window, k = 10, with N distinct
//! 12-byte tags and Zipf-like counts:
//! - `1 pane`: the N tags pushed into one pane, the first window closed;
//! - `6 panes`: a full window, every pane holding the same N tags (the steady state of the
//!   `distinct/N` bench), plus the next pane's N tags stashed before the checkpoint time.
//!
//! Times are the best of 3 runs.

// An example's output is its point.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use window::{Shard, WindowSpec};

fn spec() -> WindowSpec {
    WindowSpec::new(10_000, 60_000, 10_000).expect("valid spec")
}

/// Pushes the N tags into `pane`, delivered at `pane`.
fn push_pane(shard: &mut Shard, tags: &[String], pane: u64) {
    let n = tags.len() as u64;
    for (i, tag) in tags.iter().enumerate() {
        let rank = (i as u64 + pane) % n;
        shard.push(pane, pane, tag, 1 + 100_000 / (rank + 1));
    }
}

fn best_of_3<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = None;
    for _ in 0..3 {
        let start = Instant::now();
        let out = f();
        let took = start.elapsed();
        if best.as_ref().is_none_or(|(b, _)| took < *b) {
            best = Some((took, out));
        }
    }
    best.expect("three runs")
}

fn report(state: &str, n: usize, shard: &Shard, at: u64) {
    let (snap, bytes) = best_of_3(|| {
        let mut bytes = Vec::new();
        shard.snapshot(at, &mut bytes);
        bytes
    });
    let (restore, restored) = best_of_3(|| Shard::restore(spec(), 10, &bytes).expect("restores"));
    assert_eq!(restored.distinct_in_state(), shard.distinct_in_state());
    println!(
        "{n:>9}  {state:<8}  {:>7.1}  {:>8.1}  {:>10.1}  {:>8.1}",
        bytes.len() as f64 / (1 << 20) as f64,
        bytes.len() as f64 / n as f64,
        snap.as_secs_f64() * 1e3,
        restore.as_secs_f64() * 1e3,
    );
}

fn main() {
    let ns: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.replace('_', "")
                .parse()
                .expect("N: a number of distinct tags")
        })
        .collect();
    let ns = if ns.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        ns
    };
    println!("distinct  state     MiB      bytes/tag  snapshot_ms  restore_ms");
    for n in ns {
        // i ↦ i · 999 983 mod n: a shuffle of the tags, as in the bench.
        let tags: Vec<String> = (0..n)
            .map(|i| format!("tag{:09}", (i as u64 * 999_983) % n as u64))
            .collect();
        let mut one = Shard::new(spec(), 10);
        push_pane(&mut one, &tags, 0);
        one.advance(Some(1));
        report("1 pane", n, &one, 1);
        drop(one);
        let mut full = Shard::new(spec(), 10);
        for pane in 0..6 {
            push_pane(&mut full, &tags, pane);
            full.advance(Some(pane + 1));
        }
        push_pane(&mut full, &tags, 6);
        report("6 panes", n, &full, 7);
    }
}
