//! Window benchmarks, k = 10 and a 60 s / 10 s window (w = 6) throughout.
//!
//! - `slide/N`: the steady state of a busy stream. Every pane holds the same N distinct tags
//!   with counts 1..=7, so each slide pushes N tags, subtracts the pane leaving, adds the pane
//!   entering and ranks N tags. 10^7 (about 4 s per slide) runs only with `WINDOW_BENCH_10M=1`.
//! - `distinct/N`: window update + top-K cost against the number of distinct tags, 10^3 …
//!   10^7. Each pane pushes N distinct tags once each with Zipf-like counts (the tag of rank r
//!   gets 1 + 10^5 / (r + 1)), in a shuffled order, with ranks rotating by one tag per pane so
//!   that the top changes every window; then the frontier moves by one pane, which closes one
//!   window. The time per iteration is the cost of one window; divided by N (criterion's
//!   `elem/s`, `Throughput::Elements`) it is the cost per pushed tag.
//!
//! Setup (filling the first six panes) runs only for the benchmarks a filter selects, e.g.
//! `cargo bench -p window --bench window -- distinct/1000000`.

// criterion_main! generates an undocumented `main`.
#![allow(missing_docs)]

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use window::{Shard, ShardWindow, WindowSpec};

fn spec() -> WindowSpec {
    WindowSpec::new(10_000, 60_000, 10_000).expect("valid spec")
}

fn slide(c: &mut Criterion) {
    let spec = spec();
    let mut group = c.benchmark_group("slide");
    let mut sizes = vec![1_000usize, 10_000, 100_000, 1_000_000];
    if std::env::var_os("WINDOW_BENCH_10M").is_some() {
        sizes.push(10_000_000);
    }
    for distinct in sizes {
        let tags: Vec<String> = (0..distinct).map(|i| format!("#tag{i:07}")).collect();
        let mut shard = Shard::new(spec, 10);
        let mut pane = 0u64;
        let push_pane = |shard: &mut Shard, pane: u64| {
            for (i, tag) in tags.iter().enumerate() {
                shard.push(pane, pane, tag, 1 + (i as u64 ^ pane) % 7);
            }
            shard.advance(Some(pane + 1))
        };
        // Fill the window first, so that every measured slide also expires a pane.
        while pane < spec.window_panes() {
            push_pane(&mut shard, pane);
            pane += 1;
        }
        group.throughput(Throughput::Elements(distinct as u64));
        if distinct >= 100_000 {
            group.sample_size(10);
        }
        group.bench_function(BenchmarkId::from_parameter(distinct), |b| {
            b.iter(|| {
                let closed = push_pane(&mut shard, pane);
                pane += 1;
                closed
            })
        });
    }
    group.finish();
}

/// A shard with a full window of N distinct tags with Zipf-like counts, and the next pane.
struct Zipf {
    shard: Shard,
    /// The tags in push order: a fixed shuffle of `tag000000000 …`.
    tags: Vec<String>,
    pane: u64,
}

impl Zipf {
    fn new(n: usize) -> Self {
        // i ↦ i · 999 983 mod n is a bijection for n = 10^j (999 983 is a prime other than 2
        // and 5): a shuffle that needs no random numbers.
        let tags = (0..n)
            .map(|i| format!("tag{:09}", (i as u64 * 999_983) % n as u64))
            .collect();
        let mut z = Zipf {
            shard: Shard::new(spec(), 10),
            tags,
            pane: 0,
        };
        // Fill the window first, so that every measured window also expires a pane.
        while z.pane < spec().window_panes() {
            z.window();
        }
        z
    }

    /// Pushes one pane and closes one window.
    fn window(&mut self) -> Vec<ShardWindow> {
        let (n, pane) = (self.tags.len() as u64, self.pane);
        for (i, tag) in self.tags.iter().enumerate() {
            let rank = (i as u64 + pane) % n;
            self.shard.push(pane, pane, tag, 1 + 100_000 / (rank + 1));
        }
        self.pane += 1;
        let closed = self.shard.advance(Some(self.pane));
        debug_assert_eq!(closed.len(), 1);
        closed
    }
}

fn distinct(c: &mut Criterion) {
    let mut group = c.benchmark_group("distinct");
    for n in [1_000usize, 10_000, 100_000, 1_000_000, 10_000_000] {
        group.throughput(Throughput::Elements(n as u64));
        if n >= 1_000_000 {
            // One window per sample: the default linear sampling would run 55.
            group.sampling_mode(SamplingMode::Flat).sample_size(10);
        } else if n >= 100_000 {
            group.sample_size(20);
        }
        let mut state: Option<Zipf> = None;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let z = state.get_or_insert_with(|| Zipf::new(n));
            b.iter(|| z.window())
        });
    }
    group.finish();
}

criterion_group!(benches, slide, distinct);
criterion_main!(benches);
