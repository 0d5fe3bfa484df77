//! Embedding: a job built from an argument vector by [`config_with_stop`] with its own stop
//! flag, its windows received through a [`Tap`](crate::job::Tap).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::Parser;

use super::config_with_stop;
use crate::cli::{Cli, Command};
use crate::job::{self, JobConfig, Tap};
use crate::results::json;

fn job(args: &[&str], stop: Arc<AtomicBool>) -> JobConfig {
    let argv = ["tagstream", "run"].iter().chain(args);
    let Command::Run(a) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!("a run command")
    };
    config_with_stop(&a, stop).unwrap()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tagstream-job-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_tap_sees_every_window_of_out_in_order() {
    let dir = scratch("tap");
    let input = dir.join("in.jsonl");
    let lines: String = (0..50)
        .map(|i| {
            format!(
                "{{\"created_at\":{},\"text\":\"#t{} #all\"}}\n",
                1000 + i * 7,
                i % 3
            )
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let out = dir.join("out.jsonl");
    let (input_s, out_s) = (input.to_str().unwrap(), out.to_str().unwrap());
    let mut cfg = job(
        &[
            "--source", input_s, "--format", "jsonl", "--time", "event", "--batch", "10s",
            "--window", "60s", "--db", "none", "--quiet", "--out", out_s,
        ],
        Arc::default(),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    cfg.output.tap = Some(Tap::new(move |w| {
        s.lock().unwrap().push(json::line(w));
    }));
    let summary = job::run(cfg).unwrap();
    let want: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let got = seen.lock().unwrap().clone();
    assert!(want.len() > 5, "{want:?}");
    assert_eq!(got, want);
    assert_eq!(summary.windows, want.len() as u64);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_stop_flag_of_its_own_ends_a_live_job() {
    let stop = Arc::new(AtomicBool::new(false));
    let mut cfg = job(
        &[
            "--source",
            "gen://?rate=1000",
            "--batch",
            "100ms",
            "--window",
            "200ms",
        ],
        stop.clone(),
    );
    cfg.output.quiet = true;
    cfg.output.results = Default::default();
    let (tx, rx) = crossbeam_channel::unbounded();
    cfg.output.tap = Some(Tap::new(move |w| {
        let _ = tx.send(w.end_ms);
    }));
    let runner = std::thread::spawn(move || job::run(cfg));
    // The first window closes after a batch or two of wall-clock time.
    rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
    stop.store(true, Ordering::SeqCst);
    let summary = runner.join().unwrap().unwrap();
    assert!(summary.windows >= 1);
}
