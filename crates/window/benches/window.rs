//! Cost of one slide: push one pane of tags, then advance the frontier by one pane (k = 10),
//! for windows holding 10^3 … 10^6 distinct tags. Criterion reports the time per slide and,
//! through `Throughput::Elements`, tags per second.
//!
//! Every pane holds the same `distinct` tags with varying counts (the steady state of a busy
//! stream), so each slide pushes `distinct` tags, subtracts the pane leaving, adds the pane
//! entering and ranks `distinct` tags.
//!
//! 10^7 distinct tags (about 3 GB and 4 s per slide) run only with `WINDOW_BENCH_10M=1`.

// criterion_main! generates an undocumented `main`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use window::{Shard, WindowSpec};

fn slide(c: &mut Criterion) {
    let spec = WindowSpec::new(10_000, 60_000, 10_000).expect("valid spec");
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

criterion_group!(benches, slide);
criterion_main!(benches);
