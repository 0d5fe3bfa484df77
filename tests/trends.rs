//! Issue 14: trends. On a generated stream with known truth (`gen --truth`: evergreen tags,
//! rising tags on a schedule, a spammer), the bursting tags lead `trending`, the spammer and
//! the evergreen tags stay out of its top, `top` is unchanged, and the output is the same for
//! any number of workers or processes.

use std::path::Path;
use std::process::Command;

use crate::util::{bin, python_ok, run_ok, TempDir};

/// 40 minutes of stream at 100 tweets/s, with its truth.
fn stream(t: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let (input, truth) = (t.path("in.jsonl"), t.path("truth.jsonl"));
    let out = run_ok(
        bin()
            .args([
                "gen", "--count", "240000", "--format", "jsonl", "--seed", "11",
            ])
            .args([
                "--start",
                "2026-02-01T00:00:00Z",
                "--time-step",
                "10ms",
                "--truth",
            ])
            .arg(&truth),
    );
    std::fs::write(&input, out.stdout).unwrap();
    (input, truth)
}

fn run(input: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["run", "--source"])
        .arg(input)
        .args([
            "--format",
            "jsonl",
            "--time",
            "event",
            "--author-field",
            "author",
        ])
        .args(["--tui", "off", "--quiet", "--out"])
        .arg(out)
        .args(extra);
    c
}

/// The evaluation of `bench/trends_eval.py` (the same script the benchmark reports with).
fn evaluate(out: &Path, truth: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/trends_eval.py");
    let o = Command::new("python3")
        .arg(script)
        .arg(out)
        .arg(truth)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn bursts_lead_trending_while_spam_and_evergreen_tags_stay_out() {
    if !python_ok() {
        return;
    }
    let t = TempDir::new("trends");
    let (input, truth) = stream(&t);
    let out = t.path("out.jsonl");
    run_ok(&mut run(&input, &out, &[]));
    let r = evaluate(&out, &truth);
    assert!(r["burst_windows"].as_u64().unwrap() > 100, "{r}");
    assert_eq!(r["trending_first"], r["burst_windows"], "{r}");
    assert_eq!(r["spammer_in_trending_top5"], 0, "{r}");
    assert_eq!(r["evergreen_in_trending_top3"], 0, "{r}");
    // Counting alone does not find them: the evergreen tags fill the top.
    assert_eq!(r["count_first"], 0, "{r}");
    assert!(r["spammer_best_count_rank"].as_u64().unwrap() <= 5, "{r}");
}

#[test]
fn trends_are_the_same_for_any_worker_count_and_leave_top_alone() {
    let t = TempDir::new("trends-det");
    let (input, _) = stream(&t);
    let one = t.path("one.jsonl");
    run_ok(&mut run(&input, &one, &[]));
    let two = t.path("two.jsonl");
    run_ok(&mut run(&input, &two, &["--workers", "2"]));
    let base = std::fs::read_to_string(&one).unwrap();
    assert!(base.contains("\"trending\":[{"), "no trend at all");
    assert!(
        std::fs::read_to_string(&two).unwrap() == base,
        "2 workers differ"
    );

    // Two processes on 127.0.0.1.
    let hosts = t.path("hosts");
    let ports: [u16; 2] = crate::util::free_ports();
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports[0], ports[1]),
    )
    .unwrap();
    let procs = t.path("procs.jsonl");
    let children: Vec<_> = (0..2)
        .map(|p| {
            run(
                &input,
                &procs,
                &["--processes", "2", "--process", &p.to_string()],
            )
            .arg("--hosts")
            .arg(&hosts)
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        assert!(c.wait_with_output().unwrap().status.success());
    }
    assert!(
        std::fs::read_to_string(&procs).unwrap() == base,
        "2 processes differ"
    );

    // `top` keeps its meaning: the same with trends off.
    let off = t.path("off.jsonl");
    run_ok(&mut run(&input, &off, &["--trends", "off"]));
    let tops = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["top"].clone())
            .collect()
    };
    assert_eq!(tops(&std::fs::read_to_string(&off).unwrap()), tops(&base));
}

/// `#Café`, `#cafe` + a combining accent and full-width `#ＣＡＦÉ` are one tag.
#[test]
fn a_tag_is_one_tag_however_it_is_written() {
    let t = TempDir::new("identity");
    let input = t.path("in.txt");
    std::fs::write(
        &input,
        "#Café au lait\nun #cafe\u{301}\n#ＣＡＦÉ !\n#cafe\n",
    )
    .unwrap();
    let out = t.path("out.jsonl");
    run_ok(
        bin()
            .args(["run", "--source"])
            .arg(&input)
            .args(["--tui", "off", "--quiet", "--out"])
            .arg(&out),
    );
    let w: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        w["top"],
        serde_json::json!([
            {"rank":1,"hashtag":"#café","count":3},
            {"rank":2,"hashtag":"#cafe","count":1}
        ])
    );
}

/// A restart from a checkpoint continues the baselines: killed with SIGKILL twice after
/// commits, the resumed run's windows (`trending` included) are the uninterrupted run's.
#[test]
fn a_restart_from_a_checkpoint_continues_the_baselines() {
    use crate::recover::kill_after_commits;
    use std::time::Duration;
    let t = TempDir::new("trends-ckpt");
    let (input, _) = stream(&t);
    let base = t.path("base.jsonl");
    run_ok(&mut run(&input, &base, &["--workers", "2"]));
    let (out, dir) = (t.path("out.jsonl"), t.path("ckpt"));
    let resumed = || {
        let mut c = run(&input, &out, &["--workers", "2", "--checkpoint-dir"]);
        c.arg(&dir);
        c
    };
    let mut kills = 0;
    for (commits, after_us) in [(2, 300), (3, 1500)] {
        if kill_after_commits(
            &mut resumed(),
            &dir,
            commits,
            Duration::from_micros(after_us),
        ) {
            kills += 1;
        }
    }
    assert!(kills >= 1, "the run ended before it could be killed");
    run_ok(&mut resumed());
    let base = std::fs::read_to_string(&base).unwrap();
    assert!(base.contains("\"trending\":[{"), "no trend at all");
    assert!(
        std::fs::read_to_string(&out).unwrap() == base,
        "trends differ after {kills} kills"
    );
}
