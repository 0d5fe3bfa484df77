//! Issue 13, sources: files that are streams (a FIFO, `/dev/zero`) are read like stdin, and
//! every source's counters in the run's summary (`sources`) and `/metrics` are right.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::{bin, run_ok, source_counts, summary_count, TempDir};

/// JSON lines with event times over 200 s and seven tags.
fn timed_lines(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        let t = 1_700_000_000 + (i / 100) as u64;
        text.push_str(&format!(
            "{{\"text\":\"line {i} #t{}\",\"created_at\":{t}}}\n",
            i % 7
        ));
    }
    text
}

fn mkfifo(path: &std::path::Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

const EVENT: [&str; 12] = [
    "--format",
    "jsonl",
    "--time",
    "event",
    "--batch",
    "10s",
    "--window",
    "30s",
    "--workers",
    "2",
    "--tui",
    "off",
];

/// A FIFO was read as an empty file (0 records, exit 0, the writer got a broken pipe): it is
/// streamed now, and its windows are those of the same lines in a regular file.
#[test]
fn issue_13_a_fifo_is_streamed_and_gives_the_windows_of_the_same_file() {
    let t = TempDir::new("fifo");
    let text = timed_lines(20_000);
    let file = t.path("in.jsonl");
    std::fs::write(&file, &text).unwrap();
    let fifo = t.path("in.fifo");
    mkfifo(&fifo);
    // The writer opens the FIFO (waiting for the engine to open it), writes and closes. A
    // reader that goes early would give it EPIPE (Rust ignores SIGPIPE): it must not.
    let writer = std::thread::spawn({
        let fifo = fifo.clone();
        move || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo)?;
            for piece in text.as_bytes().chunks(4096) {
                f.write_all(piece)?;
            }
            f.flush()
        }
    });
    let (from_fifo, from_file) = (t.path("fifo.jsonl"), t.path("file.jsonl"));
    let run = |source: &std::path::Path, out: &std::path::Path| {
        let res = run_ok(
            bin()
                .args(["run", "--source"])
                .arg(source)
                .args(EVENT)
                .arg("--out")
                .arg(out),
        );
        String::from_utf8_lossy(&res.stderr).into_owned()
    };
    let fifo_err = run(&fifo, &from_fifo);
    writer.join().unwrap().expect("the writer wrote everything");
    let file_err = run(&file, &from_file);
    let windows = std::fs::read_to_string(&from_fifo).unwrap();
    assert_eq!(windows.lines().count(), 22, "{fifo_err}");
    assert_eq!(windows, std::fs::read_to_string(&from_file).unwrap());
    assert_eq!(summary_count(&fifo_err, "records"), 20_000);
    let name = |p: &std::path::Path| format!("file://{}", p.display());
    assert_eq!(source_counts(&fifo_err, &name(&fifo)), (20_000, 1, 0, 0));
    // A regular file split in two ranges is one input opened once.
    assert_eq!(source_counts(&file_err, &name(&file)), (20_000, 1, 0, 0));
}

/// The highest resident memory (VmHWM) of process `pid`, polled until it exits.
fn watch_peak_rss(pid: u32) -> (Arc<AtomicU64>, std::thread::JoinHandle<()>) {
    let peak = Arc::new(AtomicU64::new(0));
    let p = peak.clone();
    let h = std::thread::spawn(move || loop {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return;
        };
        let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        else {
            return; // a zombie: it has exited
        };
        p.fetch_max(kb * 1024, Ordering::Relaxed);
        std::thread::park_timeout(Duration::from_millis(50));
    });
    (peak, h)
}

/// `/dev/zero` is one endless line: skipped as too long and counted while it is being read,
/// in bounded memory, and the run stops on `--duration` or SIGINT with exit 0.
#[test]
fn issue_13_dev_zero_is_one_long_line_skipped_in_bounded_memory_until_stopped() {
    let t = TempDir::new("dev-zero");
    let child = bin()
        .args([
            "run",
            "--source",
            "/dev/zero",
            "--duration",
            "2s",
            "--tui",
            "off",
        ])
        .arg("--out")
        .arg(t.path("out.jsonl"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (peak, watcher) = watch_peak_rss(child.id());
    let started = Instant::now();
    let res = child.wait_with_output().unwrap();
    watcher.join().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    assert_eq!(summary_count(&err, "line_too_long"), 1, "{err}");
    assert_eq!(summary_count(&err, "records"), 0, "{err}");
    let peak = peak.load(Ordering::Relaxed);
    assert!(peak > 0 && peak < 1 << 30, "peak RSS {peak} bytes");

    // SIGINT, once the line has been counted (seen on /metrics).
    let port = crate::util::free_port();
    let mut child = bin()
        .args(["run", "--source", "/dev/zero", "--tui", "off", "--out", "-"])
        .args(["--http", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let counted = "tagstream_records_skipped_total{reason=\"line_too_long\"} 1\n";
    loop {
        let metrics = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| crate::http::request(&url, "GET", "/metrics", None).1);
        if metrics.is_some_and(|m| m.contains(counted)) {
            break;
        }
        assert!(Instant::now() < deadline, "line_too_long never counted");
        assert!(child.try_wait().unwrap().is_none(), "the engine exited");
        std::thread::park_timeout(Duration::from_millis(50));
    }
    let (res, err) = crate::util::signal_and_wait(child, "INT");
    assert!(res.status.success(), "{err}");
    assert_eq!(summary_count(&err, "line_too_long"), 1, "{err}");
}

/// `listen://` with five clients in turn and 500,000 lines: `connections 5`,
/// `records 500000`, `connected 0` once they are gone, in `/api/summary` and `/metrics`.
#[test]
fn issue_13_listen_counts_every_client_and_record() {
    let e = crate::http::Engine::start(&[]);
    let lines: Vec<String> = (0..100_000).map(|i| format!("line {i} #a")).collect();
    for _ in 0..5 {
        e.feed(&lines);
    }
    let name = format!("listen://127.0.0.1:{}", e.port);
    // Read by the source, and decoded by the workers.
    e.wait_for("500,000 records from 5 clients, all gone", |e| {
        let s = e.get_json("/api/summary");
        let c = &s["sources"][&name];
        c["records"] == 500_000
            && c["connections"] == 5
            && c["connected"] == 0
            && s["records"] == 500_000
    });
    let s = e.get_json("/api/summary");
    assert_eq!(s["sources"][&name]["reconnects"], 0, "{s}");
    let (_, metrics) = e.get("/metrics");
    for (metric, value) in [
        ("tagstream_source_records_total", 500_000),
        ("tagstream_source_connections_total", 5),
        ("tagstream_source_connected", 0),
        ("tagstream_source_reconnects_total", 0),
    ] {
        let line = format!("{metric}{{source=\"{name}\"}} {value}\n");
        assert!(metrics.contains(&line), "no '{line}' in\n{metrics}");
    }
    e.stop();
}

/// Files, stdin and the generator have counters too (they had none).
#[test]
fn issue_13_file_stdin_and_generator_have_their_counters() {
    let t = TempDir::new("counters");
    let file = t.path("in.txt");
    let text: String = (0..10_000).map(|i| format!("line {i} #a\n")).collect();
    std::fs::write(&file, &text).unwrap();
    let res = run_ok(bin().args(["run", "--source"]).arg(&file).args([
        "--workers",
        "3",
        "--tui",
        "off",
        "--out",
        "-",
    ]));
    let err = String::from_utf8_lossy(&res.stderr);
    let name = format!("file://{}", file.display());
    assert_eq!(source_counts(&err, &name), (10_000, 1, 0, 0));

    let mut child = bin()
        .args(["run", "--source", "-", "--tui", "off", "--out", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    drop(stdin);
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert_eq!(source_counts(&err, "stdin"), (10_000, 1, 0, 0));

    let res = run_ok(bin().args([
        "run",
        "--source",
        "gen://?rate=0&count=5000",
        "--workers",
        "2",
        "--tui",
        "off",
        "--out",
        "-",
    ]));
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(
        source_counts(&err, "gen://?rate=0&seed=42&count=5000"),
        (5_000, 0, 0, 0)
    );
}
