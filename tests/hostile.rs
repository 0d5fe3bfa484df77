//! Issue 13: hostile input. Each case ends with a counted skip or a one-line error, exit 0
//! or 2, bounded memory, and the windows of the good records intact.

use std::process::{Command, Output};
use std::time::Duration;

use crate::util::{bin, summary_count, top, windows, TempDir};

/// Runs `cmd` to its end while sampling its resident memory; returns its output and the peak
/// RSS seen, in MB.
pub fn run_watching_rss(cmd: &mut Command) -> (Output, u64) {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watcher = std::thread::spawn(move || {
        let mut peak_kb = 0u64;
        loop {
            if let Ok(s) = std::fs::read_to_string(&status) {
                for l in s.lines() {
                    if let Some(v) = l.strip_prefix("VmHWM:").or(l.strip_prefix("VmRSS:")) {
                        let kb = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                        peak_kb = peak_kb.max(kb);
                    }
                }
            }
            if rx.recv_timeout(Duration::from_millis(5)).is_ok() {
                return peak_kb;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    tx.send(()).unwrap();
    (out, watcher.join().unwrap() / 1024)
}

fn event_run(input: &std::path::Path, out: &std::path::Path, workers: &str) -> Command {
    let mut c = bin();
    c.args(["run", "--source"])
        .arg(input)
        .args(["--format", "jsonl", "--time", "event", "--workers", workers])
        .args(["--batch", "10s", "--window", "10s", "--tui", "off", "--out"])
        .arg(out);
    c
}

/// One record at time 0 beside a real one: the zero time is skipped as bad_time; the other
/// record's window is there, alone; memory stays small (this used to allocate 3.4 GB for the
/// 53 years of windows between them, and be killed).
#[test]
fn issue_13_an_absurd_event_time_is_skipped_not_fatal() {
    let t = TempDir::new("absurd-time");
    let input = t.path("in.jsonl");
    std::fs::write(
        &input,
        "{\"text\":\"#a\",\"created_at\":0}\n{\"text\":\"#b\",\"created_at\":1700000000}\n",
    )
    .unwrap();
    for workers in ["1", "2"] {
        let out = t.path(&format!("out-{workers}.jsonl"));
        let (res, rss_mb) = run_watching_rss(&mut event_run(&input, &out, workers));
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(res.status.success(), "{err}");
        assert!(rss_mb < 1024, "peak RSS {rss_mb} MB");
        assert_eq!(summary_count(&err, "bad_time"), 1, "{err}");
        assert_eq!(summary_count(&err, "records"), 1, "{err}");
        let w = windows(&out);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0]["window_start"], "2023-11-14T22:13:20Z");
        assert_eq!(top(&w[0]), [("#b".to_owned(), 1)]);
    }
}

/// A record far ahead of its partition's clock (a wrong year) is skipped as skew; the good
/// records before and after it keep their windows, and no window is opened for the gap.
#[test]
fn issue_13_a_record_far_ahead_is_skipped_as_skew() {
    let t = TempDir::new("skew");
    let input = t.path("in.jsonl");
    let mut text = String::new();
    for (sec, tag) in [(0, "#a"), (5, "#a"), (12, "#b")] {
        text.push_str(&format!(
            "{{\"text\":\"{tag}\",\"created_at\":{}}}\n",
            1_700_000_000 + sec
        ));
    }
    // 2190: inside the believed range, but 5 million slides ahead.
    text.push_str("{\"text\":\"#future\",\"created_at\":7000000000}\n");
    text.push_str("{\"text\":\"#b\",\"created_at\":1700000015}\n");
    std::fs::write(&input, text).unwrap();
    let out = t.path("out.jsonl");
    let (res, rss_mb) = run_watching_rss(&mut event_run(&input, &out, "1"));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(rss_mb < 1024, "peak RSS {rss_mb} MB");
    assert_eq!(summary_count(&err, "skew"), 1, "{err}");
    let w = windows(&out);
    let tops: Vec<_> = w.iter().map(top).collect();
    assert_eq!(
        tops,
        [vec![("#a".to_owned(), 2)], vec![("#b".to_owned(), 2)],],
        "{w:?}"
    );
}

/// Without the guards (`--max-skew 0`, a far `--max-time`), a window ending after 9999-12-31
/// is written in the expanded year form instead of panicking.
#[test]
fn issue_13_a_window_past_year_9999_in_event_time() {
    let t = TempDir::new("gap");
    let input = t.path("in.jsonl");
    // 9999-12-31T23:59:55Z, then 25 seconds later (in ms: RFC 3339 ends at year 9999).
    std::fs::write(
        &input,
        "{\"text\":\"#y9999\",\"created_at\":\"9999-12-31T23:59:55Z\"}\n\
         {\"text\":\"#y10000\",\"created_at\":253402300820000}\n",
    )
    .unwrap();
    let out = t.path("out.jsonl");
    let (res, _) = run_watching_rss(event_run(&input, &out, "1").args([
        "--max-skew",
        "0",
        "--max-time",
        "300000000000000",
    ]));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    let w = windows(&out);
    assert_eq!(w[0]["window_end"], "+10000-01-01T00:00:00Z", "{w:?}");
    assert_eq!(top(w.last().unwrap()), [("#y10000".to_owned(), 1)]);
}

/// In event time a gap between records emits its first empty window and no more, however
/// long: 2 million empty 1 s windows between two records (23 days) used to be emitted one by
/// one, and a gap of centuries (`--max-skew 0`) took hours and gigabytes of output.
#[test]
fn issue_13_a_gap_between_records_emits_only_its_first_empty_window() {
    let t = TempDir::new("gap-cut");
    let input = t.path("in.jsonl");
    let out = t.path("out.jsonl");
    for (then, now) in [
        (1_400_000_000u64, 1_402_000_000u64),
        (1_400_000_000, 7_000_000_000),
    ] {
        std::fs::write(
            &input,
            format!(
                "{{\"text\":\"#then\",\"created_at\":{then}}}\n\
                 {{\"text\":\"#now\",\"created_at\":{now}}}\n"
            ),
        )
        .unwrap();
        let (res, rss_mb) = run_watching_rss(
            bin()
                .args(["run", "--source"])
                .arg(&input)
                .args(["--format", "jsonl", "--time", "event", "--max-skew", "0"])
                .args(["--batch", "1s", "--window", "1s", "--tui", "off", "--quiet"])
                .arg("--out")
                .arg(&out),
        );
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(res.status.success(), "{err}");
        assert!(rss_mb < 100, "peak RSS {rss_mb} MB");
        let w = windows(&out);
        let ends: Vec<_> = w
            .iter()
            .map(|w| w["window_end"].as_str().unwrap())
            .collect();
        let records: Vec<_> = w.iter().map(|w| w["records"].as_u64().unwrap()).collect();
        assert_eq!(records, [1, 0, 1], "{ends:?}");
        assert_eq!(top(&w[0]), [("#then".to_owned(), 1)]);
        assert_eq!(top(&w[2]), [("#now".to_owned(), 1)]);
        let end_s = |i: usize| {
            let end = w[i]["window_end"].as_str().unwrap();
            chrono::DateTime::parse_from_rfc3339(end)
                .unwrap()
                .timestamp() as u64
        };
        assert_eq!(
            (end_s(0), end_s(1), end_s(2)),
            (then + 1, then + 2, now + 1)
        );
    }
}

/// A stale record at the head of a partition (a 2020 post before a 2024 replay) set its
/// clock 4 years back: every later record of the partition was skipped as skew, and with two
/// workers the windows in between were opened (13.7 million empty windows, 2 GB of output).
/// Now 32 records in a row ahead of the clock move it (31 are skipped), the gap costs one
/// window, and 1 and 2 workers give the same output. A staircase of records, each just
/// within `--max-skew` of the one before, opened 100,000 windows a step; now 7 (6 hold each
/// record, then the first empty one).
#[test]
fn issue_13_a_stale_record_or_a_staircase_opens_no_years_of_windows() {
    let t = TempDir::new("stale");
    let input = t.path("in.jsonl");
    let mut text = String::from("{\"text\":\"#stale\",\"created_at\":\"2020-01-01T00:00:00Z\"}\n");
    for i in 0..4000u64 {
        let tag = ["#fresh", "#now", "#x"][i as usize % 3];
        text.push_str(&format!(
            "{{\"text\":\"{tag}\",\"created_at\":{}}}\n",
            1_704_067_200 + i
        ));
    }
    std::fs::write(&input, text).unwrap();
    let out = t.path("out.jsonl");
    let run = |workers: &str| {
        let mut run = bin();
        run.args(["run", "--source"])
            .arg(&input)
            .args(["--format", "jsonl", "--time", "event", "--workers", workers])
            .args(["--tui", "off", "--out"])
            .arg(&out);
        run
    };
    let mut outputs = Vec::new();
    for workers in ["1", "2"] {
        let (res, rss_mb) = run_watching_rss(&mut run(workers));
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(res.status.success(), "{err}");
        assert!(rss_mb < 300, "peak RSS {rss_mb} MB");
        assert_eq!(summary_count(&err, "skew"), 31, "{err}");
        assert_eq!(summary_count(&err, "records"), 4001 - 31, "{err}");
        assert_eq!(err.matches("32 records in a row").count(), 1, "{err}");
        let w = windows(&out);
        assert_eq!(top(&w[0]), [("#stale".to_owned(), 1)]);
        assert_eq!(w[6]["records"], 0, "the first empty window of the gap");
        assert!(
            w.iter().skip(7).all(|w| w["records"].as_u64() > Some(0)),
            "{w:?}"
        );
        assert_eq!(w.len(), 7 + (4000 - 31) / 10 + 6, "{err}");
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert!(outputs[0] == outputs[1], "2 workers differ from 1");

    // Fewer than 32 in a row ahead (a burst of posts dated 3 years on), or more but not
    // within --max-skew of each other: each is skipped, and the clock stays.
    let mut text = String::new();
    let line = |t: u64| format!("{{\"text\":\"#at{t}\",\"created_at\":{t}}}\n");
    let base = 1_704_067_200u64;
    (0..10).for_each(|i| text.push_str(&line(base + i)));
    (0..31).for_each(|i| text.push_str(&line(base + 100_000_000 + i)));
    (10..20).for_each(|i| text.push_str(&line(base + i)));
    (0..40).for_each(|i| text.push_str(&line(base + 2_000_000 * (i + 1))));
    (20..30).for_each(|i| text.push_str(&line(base + i)));
    std::fs::write(&input, text).unwrap();
    let (res, _) = run_watching_rss(&mut run("1"));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert_eq!(summary_count(&err, "skew"), 71, "{err}");
    assert_eq!(summary_count(&err, "records"), 30, "{err}");
    // Panes 0, 1 and 2 of the good records: windows ending 1 to 8.
    assert_eq!(windows(&out).len(), 8, "{err}");

    let mut text = String::new();
    for i in 0..50u64 {
        // 99,999 slides of 10 s apart: each within the default --max-skew (100,000).
        text.push_str(&format!(
            "{{\"text\":\"#s{i}\",\"created_at\":{}}}\n",
            1_000_000_000 + i * 999_990
        ));
    }
    std::fs::write(&input, text).unwrap();
    let (res, _) = run_watching_rss(&mut run("2"));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert_eq!(summary_count(&err, "skew"), 0, "{err}");
    let w = windows(&out);
    assert_eq!(w.len(), 50 * 7 - 1, "{err}");
}

/// A window past 9999-12-31 reached through flags, in processing time.
#[test]
fn issue_13_a_window_past_year_9999_from_flags() {
    let res = bin()
        .args([
            "run",
            "--source",
            "gen://?count=100&rate=0",
            "--batch",
            "4000000d",
        ])
        .args(["--window", "4000000d", "--tui", "off", "--out", "-"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    let text = String::from_utf8_lossy(&res.stdout);
    assert!(text.contains("\"window_end\":\"+12921-"), "{text}");
}

/// Flags that would overflow or make no sense are one-line errors, exit 2.
#[test]
fn issue_13_absurd_flags_are_one_line_errors() {
    for (args, needle) in [
        (&["--batch", "2305843009213694012s"][..], "too long"),
        (&["--window", "600000000y"][..], "too long"),
        (&["--top", "0"][..], "--top"),
        (&["--max-line", "0"][..], "--max-line"),
        (
            &[
                "--time",
                "event",
                "--format",
                "jsonl",
                "--min-time",
                "2030-01-01T00:00:00Z",
                "--max-time",
                "2020-01-01T00:00:00Z",
            ][..],
            "--min-time",
        ),
    ] {
        let res = bin()
            .args(["run", "--source", "-", "--tui", "off"])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
