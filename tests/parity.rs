use std::path::Path;
use std::process::Command;

use crate::util::{bin, data, python_ok, run_ok, TempDir};

/// The acceptance run of the election corpus: event time, spark extraction, 1h/1d/6h.
fn election(out: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["run", "--source"])
        .arg(data().join("election/election_tweets_2016.jsonl"))
        .args([
            "--format",
            "jsonl",
            "--text-field",
            "text",
            "--time",
            "event",
        ])
        .args(["--time-field", "created_at", "--extract", "spark"])
        .args([
            "--batch", "1h", "--window", "1d", "--slide", "6h", "--top", "10", "--out",
        ])
        .arg(out)
        .args(extra);
    c
}

#[test]
fn election_windows_equal_the_tutorials_spark_output() {
    if !python_ok() {
        return;
    }
    let t = TempDir::new("parity");
    let out = t.path("out.jsonl");
    run_ok(&mut election(&out, &["--tui", "off", "--quiet"]));
    let cmp = Command::new("python3")
        .arg(data().join("election/compare_windows.py"))
        .arg(data().join("election/election_spark_W86400_S21600.jsonl"))
        .arg(&out)
        .arg("10")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&cmp.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some("windows equal: 1071/1071"),
        "{stdout}"
    );
}

#[test]
fn output_is_identical_for_1_and_2_workers_and_2_processes() {
    let t = TempDir::new("determinism");
    let one = t.path("w1.jsonl");
    let two = t.path("w2.jsonl");
    run_ok(&mut election(
        &one,
        &["--workers", "1", "--tui", "off", "--quiet"],
    ));
    run_ok(&mut election(
        &two,
        &["--workers", "2", "--tui", "off", "--quiet"],
    ));
    let a = std::fs::read(&one).unwrap();
    assert!(
        a.len() > 100_000,
        "suspiciously small output: {} bytes",
        a.len()
    );
    assert!(
        a == std::fs::read(&two).unwrap(),
        "--workers 2 differs from --workers 1"
    );

    // Two processes on 127.0.0.1, each with one worker: process 0 writes the windows.
    let ports: [u16; 2] = crate::util::free_ports();
    let hosts = t.path("hosts.txt");
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports[0], ports[1]),
    )
    .unwrap();
    let cluster = t.path("p2.jsonl");
    let h = hosts.to_str().unwrap();
    let mut p1 = election(
        &t.path("p1-unused.jsonl"),
        &[
            "--processes",
            "2",
            "--process",
            "1",
            "--hosts",
            h,
            "--tui",
            "off",
            "--quiet",
        ],
    )
    .spawn()
    .unwrap();
    let p0 = election(
        &cluster,
        &[
            "--processes",
            "2",
            "--process",
            "0",
            "--hosts",
            h,
            "--tui",
            "off",
            "--quiet",
        ],
    )
    .output()
    .unwrap();
    let s1 = p1.wait().unwrap();
    assert!(
        p0.status.success(),
        "process 0: {}",
        String::from_utf8_lossy(&p0.stderr)
    );
    assert!(s1.success(), "process 1 failed");
    assert!(
        a == std::fs::read(&cluster).unwrap(),
        "2 processes differ from 1 worker"
    );
}

/// The README's example config gives the same windows as the same options as flags; a flag
/// still overrides the file.
#[test]
fn example_config_file_equals_the_flags() {
    let t = TempDir::new("config");
    let (flags, file, top3) = (
        t.path("flags.jsonl"),
        t.path("file.jsonl"),
        t.path("top3.jsonl"),
    );
    run_ok(&mut election(&flags, &["--tui", "off", "--quiet"]));
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/election.toml");
    let mut run = bin();
    run.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--quiet", "--config"]);
    run_ok(run.arg(&config).arg("--out").arg(&file));
    assert!(std::fs::read(&flags).unwrap() == std::fs::read(&file).unwrap());
    let mut run = bin();
    run.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--quiet", "--top", "3", "--config"]);
    run_ok(run.arg(&config).arg("--out").arg(&top3));
    let widest = crate::util::windows(&top3)
        .iter()
        .map(|w| crate::util::top(w).len())
        .max();
    assert_eq!(widest, Some(3));
}
