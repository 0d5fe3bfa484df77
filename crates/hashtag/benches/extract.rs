//! Throughput of hashtag extraction, per mode, on two inputs:
//!
//! * `gen_tweets_1m`: `python3 crates/hashtag/tests/data/twitter-text/gen_tweets.py 1000000 42` (skipped with a
//!   note when python3 is missing);
//! * `election_2016`: the `text` fields of `tests/data/election/election_tweets_2016.jsonl`;
//! * `gen_py_1m`: the first 1,000,000 lines of `shared/bench/gen.py`'s 5M-line file, the lines
//!   `bench/compare.sh` feeds tagstream and Spark (read from `$TAGSTREAM_SPARK_DIR/data`, by
//!   default `~/.cache/tagstream-spark/data`, where the harness writes it; skipped with a note
//!   when it is not there).
//!
//! Criterion reports MB/s (`Throughput::Bytes`); a summary line per case adds tweets/s (best of
//! a few timed passes). Each pass finds every tag and builds its counting key, as the dataflow
//! does. Run: `cargo bench -p hashtag -- --warm-up-time 1 --measurement-time 3`.

// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hashtag::{count_key, for_each_tag, Mode};

/// Data committed in the repository.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn note(msg: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{msg}");
}

/// One line per tweet from gen_tweets.py, via a temp file; None (with a note) without python3.
fn gen_tweets() -> Option<Vec<String>> {
    let script = repo().join("crates/hashtag/tests/data/twitter-text/gen_tweets.py");
    let path = std::env::temp_dir().join(format!("hashtag-bench-{}.txt", std::process::id()));
    let file = std::fs::File::create(&path).ok()?;
    let status = Command::new("python3")
        .arg(&script)
        .args(["1000000", "42"])
        .stdout(file)
        .status();
    let text = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    match (status, text) {
        (Ok(s), Ok(text)) if s.success() => Some(text.lines().map(String::from).collect()),
        _ => {
            note("note: python3 gen_tweets.py unavailable; gen_tweets_1m skipped");
            None
        }
    }
}

fn election() -> Option<Vec<String>> {
    let path = repo().join("tests/data/election/election_tweets_2016.jsonl");
    let Ok(data) = std::fs::read_to_string(&path) else {
        note(&format!(
            "note: {} unreadable; election_2016 skipped",
            path.display()
        ));
        return None;
    };
    let texts = data
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(String::from))
        .collect();
    Some(texts)
}

fn gen_py() -> Option<Vec<String>> {
    let dir = std::env::var_os("TAGSTREAM_SPARK_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/tagstream-spark"))
        })?;
    let path = dir.join("data/tweets_5M.txt");
    let Ok(data) = std::fs::read_to_string(&path) else {
        note(&format!(
            "note: {} missing (bench/compare.sh writes it); gen_py_1m skipped",
            path.display()
        ));
        return None;
    };
    Some(data.lines().take(1_000_000).map(String::from).collect())
}

/// Finds every tag of every tweet and builds its key; returns the number of tags.
fn pass(mode: Mode, tweets: &[String], key: &mut String) -> usize {
    let mut tags = 0;
    for text in tweets {
        for_each_tag(mode, text, |tag| {
            count_key(mode, tag, key);
            tags += black_box(key.len()).min(1);
        });
    }
    tags
}

fn bench_input(c: &mut Criterion, name: &str, tweets: &[String]) {
    let bytes: usize = tweets.iter().map(|t| t.len() + 1).sum();
    let mut group = c.benchmark_group(format!("{name} ({} tweets)", tweets.len()));
    group.throughput(Throughput::Bytes(bytes as u64));
    let mut key = String::new();
    for mode in [Mode::Hashtags, Mode::Spark] {
        group.bench_function(mode.as_str(), |b| {
            b.iter(|| pass(mode, black_box(tweets), &mut key))
        });
        // tweets/s: best of several timed passes
        let mut best = Duration::MAX;
        let mut tags = 0;
        for _ in 0..7 {
            let t0 = Instant::now();
            tags = pass(mode, tweets, &mut key);
            best = best.min(t0.elapsed());
        }
        let secs = best.as_secs_f64();
        note(&format!(
            "{name} {mode}: {:.0} MB/s, {:.2} M tweets/s ({} tweets, {} bytes, {tags} tags)",
            bytes as f64 / secs / 1e6,
            tweets.len() as f64 / secs / 1e6,
            tweets.len(),
            bytes,
        ));
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    if let Some(tweets) = gen_tweets() {
        bench_input(c, "gen_tweets_1m", &tweets);
    }
    if let Some(tweets) = election() {
        bench_input(c, "election_2016", &tweets);
    }
    if let Some(tweets) = gen_py() {
        bench_input(c, "gen_py_1m", &tweets);
    }
}

criterion_group!(extract, benches);
criterion_main!(extract);
