//! End to end: a file of generated tweets through the whole pipeline (read, decode,
//! extract, pre-aggregate, exchange, windows, merge), with 1 and 2 workers, processing
//! time (as the tutorial). Input: `gen_tweets.py 1000000 42` from ../shared (81 MB,
//! 1,000,000 tweets), or the built-in generator's tweets when python3 is missing.
//! Reports tweets/s (elements) and MB/s (bytes).

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tagstream::dataflow::ingest::Clock;
use tagstream::dataflow::{run, Cluster, Plan};
use tagstream::metrics::Metrics;
use tagstream::record::{Decoder, Format};
use tagstream::sources::{SourceContext, SourceSpec};

fn input() -> (PathBuf, &'static str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("bench-gen_tweets-1000000-42.txt");
    if path.exists() {
        return (path, "gen_tweets.py 1000000 42");
    }
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/twitter-text/gen_tweets.py");
    if let Ok(out) = Command::new("python3")
        .arg(&script)
        .args(["1000000", "42"])
        .output()
    {
        if out.status.success() {
            std::fs::write(&path, out.stdout).expect("write bench input");
            return (path, "gen_tweets.py 1000000 42");
        }
    }
    eprintln!("note: python3 or ../shared missing; using the built-in generator's tweets");
    let alt = dir.join("bench-builtin-1000000.txt");
    let out = Command::new(env!("CARGO_BIN_EXE_tagstream"))
        .args(["gen", "--count", "1000000"])
        .output()
        .expect("tagstream gen");
    std::fs::write(&alt, out.stdout).expect("write bench input");
    (alt, "tagstream gen --count 1000000")
}

fn pipeline(c: &mut Criterion) {
    let (path, name) = input();
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let lines = std::fs::read(&path)
        .map(|d| d.iter().filter(|b| **b == b'\n').count())
        .unwrap_or(0);
    for mode in [hashtag::Mode::Hashtags, hashtag::Mode::Spark] {
        let mut g = c.benchmark_group(format!("pipeline/{mode:?}/{name}"));
        g.sample_size(10);
        for workers in [1usize, 2] {
            for (unit, tp) in [
                ("tweets", Throughput::Elements(lines as u64)),
                ("bytes", Throughput::Bytes(bytes)),
            ] {
                g.throughput(tp);
                g.bench_function(format!("{workers}-workers/{unit}"), |b| {
                    b.iter(|| {
                        let plan = Plan {
                            spec: window::WindowSpec::new(10_000, 60_000, 10_000).unwrap(),
                            top: 10,
                            counts_limit: 0,
                            mode,
                            decoder: Decoder::new(Format::Text, "text", None),
                            clock: Clock::Processing,
                            checkpoint: None,
                        };
                        let ctx = SourceContext::new(
                            Arc::new(Metrics::default()),
                            Arc::new(AtomicBool::new(false)),
                        );
                        let cluster = Cluster {
                            workers,
                            ..Cluster::default()
                        };
                        let sources = [SourceSpec::File(path.clone())];
                        run(plan, &cluster, &sources, ctx, Arc::new(|_w| {})).unwrap();
                    })
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
