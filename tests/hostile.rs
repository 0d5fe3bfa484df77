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

/// Without the guards (`--max-skew 0`, a far `--max-time`), a jump over a century of empty
/// 10 s windows is emitted window by window in constant memory, and a window ending after
/// 9999-12-31 is written in the expanded year form instead of panicking.
#[test]
fn issue_13_years_of_empty_windows_take_constant_memory() {
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
    let (res, _) =
        run_watching_rss(event_run(&input, &out, "1").args(["--max-time", "300000000000000"]));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    let w = windows(&out);
    assert_eq!(w[0]["window_end"], "+10000-01-01T00:00:00Z", "{w:?}");
    assert_eq!(top(w.last().unwrap()), [("#y10000".to_owned(), 1)]);

    // 2 million empty 1 s windows between two records (23 days): emitted one by one, the
    // memory stays flat (held all at once they took ~400 MB).
    std::fs::write(
        &input,
        "{\"text\":\"#then\",\"created_at\":1400000000}\n\
         {\"text\":\"#now\",\"created_at\":1402000000}\n",
    )
    .unwrap();
    let (res, rss_mb) = run_watching_rss(
        bin()
            .args(["run", "--source"])
            .arg(&input)
            .args(["--format", "jsonl", "--time", "event", "--max-skew", "0"])
            .args(["--batch", "1s", "--window", "1s", "--tui", "off", "--quiet"])
            .args(["--out", "/dev/null"]),
    );
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(rss_mb < 100, "peak RSS {rss_mb} MB");
    assert_eq!(summary_count(&err, "windows"), 2_000_001, "{err}");
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
