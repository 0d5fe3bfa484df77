//! Issue 15: bounded memory (`--max-tags N`). Below the bound the output is the exact path's,
//! byte for byte, for 1 and 2 workers and 2 processes. Past it, every reported count's
//! interval `[count − error, count]` holds the true count (computed here from the input), in
//! `--out` and in the SQL tables, the heavy tags are listed, and a run killed with SIGKILL and
//! restored ends exactly like one never killed.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::{bin, free_ports, run_ok, windows, TempDir};

/// 22:00:00 UTC on 2023-11-14: a whole hour, so a window's time of day gives its offset.
const BASE: u64 = 1_700_000_000 - 1_700_000_000 % 3600;

/// One line of input: seconds after `BASE` and the text.
type Line = (u64, String);

/// A deterministic stream of `n` lines over `secs` seconds: each line names one of `heavy`
/// tags (tag j with weight 1/(j+1), Zipf) and, when `flood`, a tag no other line names.
fn stream(n: u64, secs: u64, heavy: u64, flood: bool) -> Vec<Line> {
    let mut x: u64 = 7;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 11
    };
    let weights: Vec<f64> = (0..heavy).map(|j| 1.0 / (j + 1) as f64).collect();
    let total: f64 = weights.iter().sum();
    (0..n)
        .map(|i| {
            let mut u = (next() as f64 / (1u64 << 53) as f64) * total;
            let mut j = 0;
            while j + 1 < weights.len() && u >= weights[j] {
                u -= weights[j];
                j += 1;
            }
            let text = if flood {
                format!("#heavy{j} and #u{i}")
            } else {
                format!("only #heavy{j}")
            };
            (i * secs / n, text)
        })
        .collect()
}

fn write(path: &Path, lines: &[Line]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for (t, text) in lines {
        let line = serde_json::json!({"created_at": BASE + t, "text": text});
        writeln!(f, "{line}").unwrap();
    }
}

fn run(input: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["run", "--source"]).arg(input);
    c.args(["--format", "jsonl", "--time", "event"]);
    c.args([
        "--batch", "10s", "--window", "30s", "--tui", "off", "--quiet",
    ]);
    c.arg("--out").arg(out).args(extra);
    c
}

/// Seconds after `BASE` of an RFC 3339 time of the same day as it (negative before).
fn offset(time: &str) -> i64 {
    let hms: Vec<i64> = time[11..19]
        .split(':')
        .map(|p| p.parse().unwrap())
        .collect();
    hms[0] * 3600 + hms[1] * 60 + hms[2] - 22 * 3600
}

/// The true count of every tag in the window `w` of `--out`.
fn truth(lines: &[Line], w: &serde_json::Value) -> HashMap<String, u64> {
    let start = offset(w["window_start"].as_str().unwrap());
    let end = offset(w["window_end"].as_str().unwrap());
    let mut counts = HashMap::new();
    for (t, text) in lines {
        if (start..end).contains(&(*t as i64)) {
            for tag in text.split(' ').filter(|w| w.starts_with('#')) {
                *counts.entry(tag.to_owned()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Checks every window of `--out` against the input: intervals hold, the true top 5 are
/// listed, the bound is at most tags/(N+1). Returns how many windows were approximate.
fn check_intervals(lines: &[Line], out: &Path, max_tags: u64) -> usize {
    let ws = windows(out);
    assert!(ws.len() >= 3, "{} windows", ws.len());
    let mut approx = 0;
    for w in &ws {
        let truth = truth(lines, w);
        let exact = w.get("approx").is_none();
        if !exact {
            approx += 1;
            assert_eq!(w["approx"], true, "{w}");
            assert_eq!(w["max_tags"], max_tags, "{w}");
            let (bound, tags) = (w["bound"].as_u64().unwrap(), w["tags"].as_u64().unwrap());
            assert!(
                bound * (max_tags + 1) <= tags,
                "bound {bound} > tags/(N+1): {w}"
            );
        }
        let rows = w["top"].as_array().unwrap();
        for r in rows {
            let tag = r["hashtag"].as_str().unwrap();
            let (n, e) = (r["count"].as_u64().unwrap(), r["error"].as_u64());
            assert_eq!(exact, e.is_none(), "{w}");
            let real = truth.get(tag).copied().unwrap_or(0);
            let e = e.unwrap_or(0);
            assert!(
                n - e <= real && real <= n,
                "{tag}: true count {real} outside [{}, {n}] in {w}",
                n - e
            );
        }
        let mut best: Vec<(&String, &u64)> = truth.iter().collect();
        best.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (tag, _) in best.iter().take(5) {
            assert!(
                rows.iter().any(|r| r["hashtag"] == tag.as_str()),
                "heavy tag {tag} missing from {w}"
            );
        }
    }
    approx
}

/// Two processes on 127.0.0.1 writing `out`.
fn two_processes(t: &TempDir, input: &Path, out: &Path, extra: &[&str]) {
    let hosts = t.path("hosts");
    let [a, b] = free_ports();
    let hosts_text = format!("127.0.0.1:{a}\n127.0.0.1:{b}\n");
    std::fs::write(&hosts, hosts_text).unwrap();
    let children: Vec<_> = (0..2)
        .map(|p| {
            let mut c = run(input, out, extra);
            c.args(["--processes", "2", "--process", &p.to_string(), "--hosts"]);
            c.arg(&hosts).spawn().unwrap()
        })
        .collect();
    for c in children {
        assert!(c.wait_with_output().unwrap().status.success());
    }
}

#[test]
fn below_the_bound_the_output_is_the_exact_paths_byte_for_byte() {
    let t = TempDir::new("bounded-below");
    let input = t.path("in.jsonl");
    // 300 tags, at most 300 in a pane: below a bound of 300 per shard.
    write(&input, &stream(20_000, 120, 300, false));
    let exact = t.path("exact.jsonl");
    run_ok(&mut run(&input, &exact, &["--max-tags", "0"]));
    let base = std::fs::read_to_string(&exact).unwrap();
    assert!(base.lines().count() >= 12, "{base}");
    assert!(!base.contains("approx") && !base.contains("error"));
    for workers in ["1", "2"] {
        let out = t.path(&format!("bounded-{workers}.jsonl"));
        run_ok(&mut run(
            &input,
            &out,
            &["--max-tags", "300", "--workers", workers],
        ));
        let got = std::fs::read_to_string(&out).unwrap();
        assert!(got == base, "--max-tags 300 with {workers} workers differs");
    }
    let procs = t.path("procs.jsonl");
    two_processes(&t, &input, &procs, &["--max-tags", "300"]);
    let got = std::fs::read_to_string(&procs).unwrap();
    assert!(got == base, "--max-tags 300 in 2 processes differs");
}

/// A flood of 450,000 tags of their own in one pane, past `--max-tags 200000`: the window is
/// approximate, and the first such window is said once on stderr, with what to change; the
/// default (no bound) counts every tag. The heavy tags' counts are the same either way here
/// (the prune keeps them).
#[test]
fn a_flood_past_the_bound_is_said_once_and_the_default_counts_every_tag() {
    let t = TempDir::new("bounded-said");
    let input = t.path("in.jsonl");
    let lines = stream(450_000, 5, 20, true);
    write(&input, &lines);
    let (bounded, exact) = (t.path("bounded.jsonl"), t.path("exact.jsonl"));
    // One window of a day; without --quiet: the note is an informational message.
    let cmd = |out: &Path| {
        let mut c = bin();
        for var in ["TAGSTREAM_MAX_TAGS", "TAGSTREAM_WORKERS", "TAGSTREAM_QUIET"] {
            c.env_remove(var);
        }
        c.args(["run", "--source"]).arg(&input);
        c.args(["--format", "jsonl", "--time", "event", "--tui", "off"]);
        c.args(["--batch", "1d", "--window", "1d", "--out"])
            .arg(out);
        c
    };
    let res = run_ok(cmd(&bounded).args(["--max-tags", "200000"]));
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(err.matches("is approximate").count(), 1, "{err}");
    assert!(
        err.contains("--max-tags 200000") && err.contains("--max-tags 0"),
        "{err}"
    );
    let res = run_ok(&mut cmd(&exact));
    assert!(!String::from_utf8_lossy(&res.stderr).contains("approximate"));
    let (d, e) = (windows(&bounded), windows(&exact));
    assert_eq!((d.len(), e.len()), (1, 1));
    assert_eq!(d[0]["approx"], true);
    assert_eq!(d[0]["max_tags"], 200_000);
    assert!(
        d[0]["distinct"].as_u64().unwrap() <= 200_000 + 20,
        "{}",
        d[0]["distinct"]
    );
    assert_eq!(e[0]["distinct"], 450_020);
    assert!(e[0].get("approx").is_none());
    assert_eq!(d[0]["records"], e[0]["records"]);
    assert_eq!(d[0]["tags"], e[0]["tags"]);
    let top = |w: &serde_json::Value| crate::util::top(w)[..5].to_vec();
    assert_eq!(top(&d[0]), top(&e[0]));
}

#[test]
fn past_the_bound_every_interval_holds_the_truth_and_heavy_tags_are_listed() {
    let t = TempDir::new("bounded-past");
    let input = t.path("in.jsonl");
    // 5,000 lines in a pane, each with a tag of its own: ten times the bound.
    let lines = stream(30_000, 60, 40, true);
    write(&input, &lines);
    for (workers, n) in [("1", 500), ("2", 500), ("2", 50)] {
        let (out, db) = (t.path("out.jsonl"), t.path(&format!("{workers}-{n}.db")));
        run_ok(&mut run(
            &input,
            &out,
            &["--workers", workers, "--max-tags", &n.to_string()],
        ));
        let approx = check_intervals(&lines, &out, n);
        assert!(
            approx >= 6,
            "{approx} approximate windows ({workers} workers)"
        );
        // The SQL tables: the latest window's every tag (`counts`) with its error.
        let mut c = run(
            &input,
            &out,
            &["--workers", workers, "--max-tags", &n.to_string()],
        );
        run_ok(c.args(["--counts", "100000", "--db"]).arg(&db));
        let last = windows(&out).pop().unwrap();
        let truth = truth(&lines, &last);
        let c = rusqlite::Connection::open(&db).unwrap();
        let mut q = c
            .prepare("SELECT hashtag, count, error FROM counts")
            .unwrap();
        let rows: Vec<(String, i64, i64)> = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let len = rows.len();
        assert!(
            len >= 10 && len <= 3 * n as usize * 2,
            "{len} rows in counts"
        );
        assert!(rows.iter().any(|r| r.2 > 0), "no error in counts");
        for (tag, n, e) in rows {
            let real = truth.get(&tag).copied().unwrap_or(0) as i64;
            assert!(
                n - e <= real && real <= n,
                "counts: {tag} {real} ∉ [{}, {n}]",
                n - e
            );
        }
        let top: i64 = c
            .query_row("SELECT sum(error) FROM windows", [], |r| r.get(0))
            .unwrap();
        assert!(top > 0);
    }
    // The exact path writes error 0.
    let (out, db) = (t.path("exact.jsonl"), t.path("exact.db"));
    run_ok(run(&input, &out, &["--db"]).arg(&db));
    assert_eq!(check_intervals(&lines, &out, 0), 0);
    let c = rusqlite::Connection::open(&db).unwrap();
    let errors: i64 = c
        .query_row(
            "SELECT (SELECT sum(error) FROM windows) + (SELECT sum(error) FROM tweets)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(errors, 0);
}

#[test]
fn past_the_bound_two_processes_give_the_two_workers_output() {
    let t = TempDir::new("bounded-procs");
    let input = t.path("in.jsonl");
    let lines = stream(30_000, 60, 40, true);
    write(&input, &lines);
    let two = t.path("two.jsonl");
    run_ok(&mut run(
        &input,
        &two,
        &["--workers", "2", "--max-tags", "200"],
    ));
    assert!(check_intervals(&lines, &two, 200) >= 6);
    let procs = t.path("procs.jsonl");
    two_processes(&t, &input, &procs, &["--max-tags", "200"]);
    let base = std::fs::read_to_string(&two).unwrap();
    assert!(std::fs::read_to_string(&procs).unwrap() == base);
}

/// Kill -9 and restore in the approximate regime: the output of a run never killed.
#[test]
fn past_the_bound_a_run_killed_and_restored_ends_like_one_never_killed() {
    let t = TempDir::new("bounded-ckpt");
    let input = t.path("in.jsonl");
    crate::recover::corpus(&input, 400_000);
    let base = killed_and_restored(&t, &input, &["--workers", "2", "--max-tags", "300"]);
    assert!(base.contains("\"approx\":true"), "never past the bound");
}

/// The same with distinct authors for trends, past their budget of pairs too (4 × 50 a pane
/// and shard, where a pane has about 2,000): the sampled authors of a bursting tag come back
/// the same after the kills.
#[test]
fn past_the_bound_sampled_authors_are_the_same_after_kills() {
    let t = TempDir::new("bounded-authors");
    let input = t.path("in.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    for i in 0..400_000u64 {
        // 100 lines a second, each by one of 3,000 authors with two tags of 5,000; from the
        // 2,000th second #burst too, each time by an author of its own.
        let (a, b) = (i * 7919 % 5000, i * 104_729 % 4999);
        let burst = if (200_000..260_000).contains(&i) {
            " #burst"
        } else {
            ""
        };
        let line = serde_json::json!({
            "created_at": BASE + i / 100,
            "author": format!("u{}", if burst.is_empty() { i % 3000 } else { i }),
            "text": format!("line {i} about #T{a} and #t{b}{burst}"),
        });
        writeln!(f, "{line}").unwrap();
    }
    drop(f);
    let flags = [
        "--workers",
        "2",
        "--max-tags",
        "50",
        "--author-field",
        "author",
    ];
    let base = killed_and_restored(&t, &input, &flags);
    assert!(base.contains("\"approx\":true"), "never past the bound");
    // #burst trends with its authors estimated from the sample: 1,000 new authors a pane.
    let estimates: Vec<u64> = windows(&t.path("base.jsonl"))
        .iter()
        .flat_map(|w| w["trending"].as_array().unwrap().clone())
        .filter(|r| r["hashtag"] == "#burst")
        .map(|r| r["authors"].as_u64().unwrap())
        .collect();
    assert!(estimates.len() > 10, "#burst trended in {estimates:?}");
    // A full window holds exactly 3,000 of its authors: the sample's estimates are near that
    // (their median within 10%), but not all exact, or nothing was sampled.
    let mut sorted = estimates.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    assert!(
        median.abs_diff(3000) < 300,
        "median {median} of {estimates:?}"
    );
    assert!(
        estimates.iter().filter(|&&n| n != 3000).count() > estimates.len() / 2,
        "{estimates:?}: the authors were not sampled"
    );
}

#[test]
fn past_the_bound_forgotten_baselines_are_the_same_after_kills() {
    // 4,000 seconds, 100 lines a second: 20 steady tags, and at every 10 s pane 20 of a
    // pool of 2,000 tags posted 10 times each (they trend), the pool cycling once in 100
    // panes. Under --max-tags 30 no pane is pruned (about 20 tags a shard a pane), but a
    // shard's 1,000 pool tags are more than the 390 baselines it keeps past the bound
    // (30 × (3 panes + 10)): the faintest are forgotten before their tag comes back. A floor
    // of 0.01 lets the faint baselines show in `expected` (at 2 they would hide under it).
    let t = TempDir::new("bounded-baselines");
    let input = t.path("in.jsonl");
    let lines: Vec<Line> = (0..400_000u64)
        .map(|i| {
            let (pane, k) = (i / 1000, i % 1000);
            let text = if k < 200 {
                format!("#pool{}", (pane * 20 + k / 10) % 2000)
            } else {
                format!("#steady{}", k % 20)
            };
            (i / 100, text)
        })
        .collect();
    write(&input, &lines);
    let floor = ["--workers", "2", "--trend-floor", "0.01"];
    let flags = [&floor[..], &["--max-tags", "30"]].concat();
    let base = killed_and_restored(&t, &input, &flags);
    assert!(!base.contains("\"approx\":true"), "a pane was pruned");
    // The bound forgot baselines: the counts are the exact run's, the trends are not.
    let exact = t.path("exact.jsonl");
    run_ok(&mut run(&input, &exact, &floor));
    let (bounded, exact) = (windows(&t.path("base.jsonl")), windows(&exact));
    assert_eq!(bounded.len(), exact.len());
    let field = |ws: &[serde_json::Value], f: &str| -> Vec<serde_json::Value> {
        ws.iter().map(|w| w[f].clone()).collect()
    };
    assert_eq!(field(&bounded, "top"), field(&exact, "top"));
    assert_ne!(field(&bounded, "trending"), field(&exact, "trending"));
}

/// Runs `flags` over `input` once whole, then with checkpoints killed with SIGKILL at least
/// twice and resumed to the end; asserts both wrote the same `--out` and returns it.
fn killed_and_restored(t: &TempDir, input: &Path, flags: &[&str]) -> String {
    use crate::recover::kill_after_commits;
    let base = t.path("base.jsonl");
    run_ok(&mut run(input, &base, flags));
    let base = std::fs::read_to_string(&base).unwrap();
    let (out, dir) = (t.path("out.jsonl"), t.path("ckpt"));
    let resumed = || {
        let mut c = run(input, &out, flags);
        c.arg("--checkpoint-dir").arg(&dir);
        c
    };
    let mut kills = 0;
    for (commits, after_us) in [(1, 0), (2, 700), (2, 2500)] {
        if kill_after_commits(
            &mut resumed(),
            &dir,
            commits,
            Duration::from_micros(after_us),
        ) {
            kills += 1;
        }
    }
    assert!(kills >= 2, "the run ended before it could be killed twice");
    run_ok(&mut resumed());
    assert!(
        std::fs::read_to_string(&out).unwrap() == base,
        "--out differs after {kills} kills"
    );
    base
}
