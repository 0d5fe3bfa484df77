//! End to end: a file of generated tweets through the whole pipeline (read, decode,
//! extract, pre-aggregate, exchange, windows, merge), with 1 and 2 workers, processing
//! time (as the tutorial). Input: `gen_tweets.py 1000000 42` from crates/hashtag/tests/data/twitter-text (81 MB,
//! 1,000,000 tweets), or the built-in generator's tweets when python3 is missing.
//! Reports tweets/s (elements) and MB/s (bytes).
//!
//! `socket/…` sends the same tweets over a loopback TCP connection to a `socket://` source
//! (one reader thread dealing chunks to the workers), as fast as the engine takes them: the
//! socket path without the rate pacing of `bench/compare.sh`.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/hashtag/tests/data/twitter-text/gen_tweets.py");
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
    eprintln!("note: python3 missing; using the built-in generator's tweets");
    let alt = dir.join("bench-builtin-1000000.txt");
    let out = Command::new(env!("CARGO_BIN_EXE_tagstream"))
        .args(["gen", "--count", "1000000"])
        .output()
        .expect("tagstream gen");
    std::fs::write(&alt, out.stdout).expect("write bench input");
    (alt, "tagstream gen --count 1000000")
}

fn plan(mode: hashtag::Mode) -> Plan {
    Plan {
        spec: window::WindowSpec::new(10_000, 60_000, 10_000).unwrap(),
        top: 10,
        counts_limit: 0,
        mode,
        decoder: Decoder::new(Format::Text, "text", None),
        clock: Clock::Processing,
        checkpoint: None,
        // As `run` by default: trends on (posts, no authors in plain text).
        trends: Some(window::TrendSpec::new(10, 360.0)),
        authors: false,
        max_tags: None,
    }
}

/// One pass of `data` (`lines` lines) through a `socket://` source: a thread serves the bytes
/// on a loopback connection, and the run is stopped once every line was counted.
fn socket_pass(data: &Arc<Vec<u8>>, lines: u64, workers: usize) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let bytes = data.clone();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        for piece in bytes.chunks(1 << 20) {
            s.write_all(piece).expect("write");
        }
    });
    let metrics = Arc::new(Metrics::default());
    let shutdown = Arc::new(AtomicBool::new(false));
    let ctx = SourceContext::new(metrics.clone(), shutdown.clone());
    let stopper = std::thread::spawn(move || {
        while metrics.records_in.load(Ordering::Relaxed) < lines {
            std::thread::park_timeout(Duration::from_millis(1));
        }
        shutdown.store(true, Ordering::SeqCst);
    });
    let cluster = Cluster {
        workers,
        ..Cluster::default()
    };
    let sources = [SourceSpec::Socket(addr)];
    run(
        plan(hashtag::Mode::Hashtags),
        &cluster,
        &sources,
        ctx,
        Arc::new(|_w| {}),
    )
    .unwrap();
    server.join().unwrap();
    stopper.join().unwrap();
}

fn socket(c: &mut Criterion) {
    // No "connected" / "closed by the server" line per pass.
    tagstream::log::set_quiet(true);
    let (path, name) = input();
    let data = Arc::new(std::fs::read(&path).expect("read bench input"));
    let lines = data.iter().filter(|b| **b == b'\n').count() as u64;
    let mut g = c.benchmark_group(format!("socket/Hashtags/{name}"));
    g.sample_size(10);
    g.throughput(Throughput::Elements(lines));
    for workers in [1usize, 2] {
        g.bench_function(format!("{workers}-workers/tweets"), |b| {
            b.iter(|| socket_pass(&data, lines, workers))
        });
    }
    g.finish();
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
                        let ctx = SourceContext::new(
                            Arc::new(Metrics::default()),
                            Arc::new(AtomicBool::new(false)),
                        );
                        let cluster = Cluster {
                            workers,
                            ..Cluster::default()
                        };
                        let sources = [SourceSpec::File(path.clone())];
                        run(plan(mode), &cluster, &sources, ctx, Arc::new(|_w| {})).unwrap();
                    })
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, pipeline, socket);
criterion_main!(benches);
