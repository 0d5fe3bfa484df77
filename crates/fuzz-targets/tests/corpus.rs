//! Every committed fuzz input through its target, on stable (issue 13): the seeds under
//! `fuzz/corpus/NAME/` and the inputs that once failed under `fuzz/regressions/NAME/`. This is
//! what CI runs where `cargo +nightly fuzz` is not available, and it runs in
//! `cargo test --workspace` everywhere.
//!
//! The binary seeds (checkpoints) are made here from real snapshots; `binary_seeds_are_current`
//! fails when a format change makes them stale, and `TAGSTREAM_WRITE_SEEDS=1` rewrites them.

use std::fs;
use std::path::{Path, PathBuf};

use tagstream::dataflow::checkpoint::{ShareClock, ShareId, WorkerState};
use window::{Merger, PaneStats, Shard, ShardWindow};

/// `fuzz/` of this checkout, found from the crate's directory at run time (a test binary
/// reused from another checkout would carry a stale compile-time path).
fn fuzz_dir() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    crate_dir.join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs target `name` over its seeds and regressions; returns how many inputs it ran.
fn run_corpus(name: &str) -> usize {
    let target = fuzz_targets::target(name).expect("a target");
    let mut n = 0;
    for kind in ["corpus", "regressions"] {
        for path in files(&fuzz_dir().join(kind).join(name)) {
            let data = fs::read(&path).expect("a readable input");
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "{name}: {} fails", path.display());
            n += 1;
        }
    }
    n
}

macro_rules! corpus_tests {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            assert!(run_corpus(stringify!($name)) > 0, "no input for {}", stringify!($name));
        }
    )*};
}

corpus_tests!(
    json_line,
    lines,
    x_stream,
    sse,
    mastodon_status,
    jetstream,
    checkpoint,
    shard_restore,
    merger_restore,
    time,
    hashtag
);

/// One input that once failed, through its target: `fuzz/regressions/TARGET/FILE`.
fn regression(target: &str, file: &str) {
    let path = fuzz_dir().join("regressions").join(target).join(file);
    let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    fuzz_targets::target(target).expect("a target")(&data);
}

/// Each input that failed a target, with the engine fix it led to (issue 13).
macro_rules! regressions {
    ($($test:ident: $target:literal / $file:literal, $why:literal;)*) => {$(
        #[test]
        #[doc = $why]
        fn $test() {
            regression($target, $file);
        }
    )*};
}

regressions! {
    regression_lines_too_long_last_line: "lines" / "too-long-last-line",
        "LineReader: a last line dropped for its length left the offset short of the end.";
    regression_jetstream_live_time_before_1973: "jetstream" / "live-time-before-1973",
        "A live post's time in ms under 10^11 came back from its JSON line as seconds.";
    regression_json_line_live_time_in_ms: "json_line" / "live-time-in-ms",
        "live::decoder read a post's ms as seconds (and large ones through an f64).";
    regression_json_line_line_ending_in_a_backslash: "json_line" / "line-ending-in-a-backslash",
        "record::without_lone_surrogates stepped past the end of a line ending in a backslash.";
    regression_checkpoint_share_flags_unknown_bits: "checkpoint" / "share-flags-unknown-bits",
        "WorkerState::decode accepted share flags with bits nothing writes.";
    regression_sse_empty_read_inside_crlf: "sse" / "empty-read-inside-crlf",
        "sse::Parser: an empty chunk between the CR and LF of one ending made two endings.";
    regression_sse_id_with_a_control_byte: "sse" / "id-with-a-control-byte",
        "sse::Parser kept an id no request can send (a control byte), so no reconnect was sent.";
    regression_merger_restore_a_tag_trending_twice: "merger_restore" / "a-tag-trending-twice",
        "Merger::restore took a tag trending twice in one window: which row ranked first hung on their order.";
    regression_time_zero_with_unknown_unit: "time" / "zero-with-unknown-unit",
        "time::duration_or_zero took zeros followed by any letters (`0K`) as zero.";
    regression_time_control_character_in_error: "time" / "control-character-in-error",
        "time's errors quoted their input raw: a newline in it made a two-line message.";
}

/// Every target has a test above and a fuzz binary, and every corpus folder a target; the
/// seeds stay small (a few KB a target: hand-picked, not a fuzzer's output).
#[test]
fn corpora_match_the_targets() {
    let fuzz = fuzz_dir();
    for &(name, _) in fuzz_targets::TARGETS {
        let seeds = files(&fuzz.join("corpus").join(name));
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seed");
        let bytes: u64 = seeds.iter().map(|p| p.metadata().unwrap().len()).sum();
        assert!(bytes <= 16 << 10, "fuzz/corpus/{name} holds {bytes} bytes");
        let bin = fuzz.join("fuzz_targets").join(format!("{name}.rs"));
        assert!(bin.is_file(), "{} is missing", bin.display());
    }
    for kind in ["corpus", "regressions"] {
        for dir in fs::read_dir(fuzz.join(kind)).into_iter().flatten() {
            let name = dir.unwrap().file_name().into_string().unwrap();
            assert!(
                fuzz_targets::target(&name).is_some(),
                "fuzz/{kind}/{name} names no target"
            );
        }
    }
}

/// The binary seeds, made from real states: (target, file name, bytes).
fn binary_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    use fuzz_targets::{merger_restore, shard_restore};
    let spec = shard_restore::spec();

    let mut shard = Shard::new(spec, shard_restore::K);
    for (time, pane, tag, n) in [
        (0, 0, "rust", 3),
        (0, 1, "日本", 1),
        (1, 1, "rust", u64::from(u32::MAX) + 2),
        (2, 2, "a", 1),
        (3, 5, "b", 2),
        (5, 6, "a", 1),
    ] {
        shard.push(time, pane, tag, n);
    }
    shard.advance(Some(3));
    let mut busy = Vec::new();
    shard.snapshot(3, &mut busy);
    shard.advance(None);
    let mut done = Vec::new();
    shard.snapshot(u64::MAX, &mut done);

    // Past a bound of 2 tags (issue 15): pruned panes, their floors and errors.
    let mut bounded = Shard::new(spec, shard_restore::K).with_max_tags(2);
    for (i, tag) in ["a", "b", "c", "a", "d", "a", "e", "b"].iter().enumerate() {
        bounded.push(i as u64 / 3, i as u64 / 2, tag, 1 + i as u64 % 2);
    }
    bounded.advance(Some(3));
    let mut summaries = Vec::new();
    bounded.snapshot(3, &mut summaries);

    // Trends counting distinct authors past the bound: one pane's pairs are sampled.
    let mut trending = shard_restore::trending_shard();
    for (time, pane, tag, authors) in [(0, 0, "rust", 3), (0, 1, "a", 30), (1, 2, "b", 2)] {
        trending.push(time, pane, tag, 1);
        trending.push_first(time, pane);
        for author in 0..authors {
            trending.push_author(time, pane, tag, author);
        }
    }
    trending.advance(Some(2));
    let mut authors = Vec::new();
    trending.snapshot(2, &mut authors);

    let mut m = Merger::new(spec, merger_restore::TOP).with_counts(merger_restore::COUNTS);
    let stats = |records, tagged| PaneStats {
        records,
        tagged,
        ..PaneStats::default()
    };
    m.push_stats(0, 0, stats(5, 3));
    m.push_stats(1, 1, stats(2, 0));
    m.push_late(1, 4);
    m.push_shard(ShardWindow {
        end: 2,
        top: vec![("#rust".into(), 3), ("#日本".into(), 1)],
        distinct: 2,
        tags: 4,
        trending: Vec::new(),
        error: 1,
    });
    // An input worker's prune past --max-tags (issue 15).
    let pruned = PaneStats {
        floor: 1,
        dropped: 3,
        ..stats(1, 1)
    };
    m.push_stats(3, 4, pruned);
    m.push_late(3, 1);
    m.advance(Some(3));
    let mut merger = Vec::new();
    m.snapshot(4, &mut merger);

    let state = WorkerState {
        epoch: 170_000_006,
        worker: 1,
        input_time: 170_000_007,
        shares: vec![
            ShareId {
                source: 0,
                identity: "in.jsonl (4096 bytes, mtime 1781204403, head 9f2c, tail 01ab)".into(),
            },
            ShareId::default(),
        ],
        positions: vec![Some(1234), None],
        clocks: vec![
            ShareClock {
                max_time: Some(1_700_000_000_000),
                holds: true,
                done: false,
                skew_run: Some((1_800_000_000_000, 3)),
            },
            ShareClock {
                max_time: None,
                holds: false,
                done: true,
                skew_run: None,
            },
        ],
        shard: busy.clone(),
        merger: merger.clone(),
    };
    let worker = state.encode(&fuzz_targets::checkpoint::SHAPE);
    let empty = WorkerState::default().encode(&fuzz_targets::checkpoint::SHAPE);

    vec![
        ("checkpoint", "worker", worker),
        ("checkpoint", "empty", empty),
        ("shard_restore", "busy", busy),
        ("shard_restore", "done", done),
        ("shard_restore", "bounded", summaries),
        ("shard_restore", "authors", authors),
        ("merger_restore", "busy", merger),
    ]
}

/// The committed binary seeds are what the current formats write.
#[test]
fn binary_seeds_are_current() {
    let write = std::env::var_os("TAGSTREAM_WRITE_SEEDS").is_some();
    for (target, name, bytes) in binary_seeds() {
        let path = fuzz_dir().join("corpus").join(target).join(name);
        if write {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &bytes).unwrap();
        }
        let committed = fs::read(&path).unwrap_or_default();
        assert!(
            committed == bytes,
            "{} is stale: rerun with TAGSTREAM_WRITE_SEEDS=1",
            path.display()
        );
    }
}
