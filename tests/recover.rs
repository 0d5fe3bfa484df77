//! Checkpoints: a run killed with SIGKILL at several points and restarted on the same
//! `--checkpoint-dir` ends with exactly the `--out` and `windows` table of a run never killed;
//! a damaged checkpoint is a one-line error naming the file.

use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{bin, run_ok, TempDir};

/// JSON lines in event-time order, 100 records a second of stream, tags from a
/// skewed law over 5,000 names (so windows have real, changing top-10s).
pub fn corpus(path: &Path, lines: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 42;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    for i in 0..lines {
        let a = next() % 5000;
        let b = (next() % 5000) * (next() % 5000) / 5000;
        writeln!(
            f,
            r##"{{"created_at":{},"text":"line {i} about #T{a} and #t{b} ok"}}"##,
            1_700_000_000 + i / 100
        )
        .unwrap();
    }
}

fn run_cmd(input: &Path, out: &Path, db: &Path, ckpt: Option<&Path>) -> Command {
    workers_cmd(input, out, db, ckpt, "2")
}

fn workers_cmd(input: &Path, out: &Path, db: &Path, ckpt: Option<&Path>, w: &str) -> Command {
    timed_cmd(input, out, db, ckpt, w, "event")
}

/// [`workers_cmd`] in `--time` `time`.
fn timed_cmd(
    input: &Path,
    out: &Path,
    db: &Path,
    ckpt: Option<&Path>,
    w: &str,
    time: &str,
) -> Command {
    let mut c = bin();
    c.args(["run", "--source"]).arg(input).args([
        "--format",
        "jsonl",
        "--time",
        time,
        "--batch",
        "10s",
        "--window",
        "60s",
        "--tui",
        "off",
        "--quiet",
        "--workers",
        w,
        "--out",
    ]);
    c.arg(out).arg("--db").arg(db);
    if let Some(dir) = ckpt {
        c.arg("--checkpoint-dir").arg(dir);
    }
    c
}

/// The tables a resumed run must end with exactly as an uninterrupted one.
pub const TABLES: [&str; 3] = [
    "SELECT * FROM windows ORDER BY window_end, rank",
    "SELECT * FROM window_totals ORDER BY window_end",
    "SELECT * FROM tweets ORDER BY hashtag",
];

fn committed(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("COMMIT")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("epoch ")?.parse().ok())
}

pub fn table(db: &Path, sql: &str) -> String {
    let o = run_ok(
        bin()
            .arg("sql")
            .arg("--db")
            .arg(db)
            .args(["--format", "csv", sql]),
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Starts the run and kills it with SIGKILL once it has committed `commits` more epochs and
/// then run on for `after` (or ended by itself); returns whether it was killed.
pub fn kill_after_commits(cmd: &mut Command, dir: &Path, commits: usize, after: Duration) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = committed(dir);
    let mut count = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let now = committed(dir);
        if now != seen {
            seen = now;
            count += 1;
            if count >= commits {
                std::thread::sleep(after);
                child.kill().unwrap();
                child.wait().unwrap();
                return true;
            }
        }
        assert!(Instant::now() < deadline, "the run made no progress");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A corpus of `lines` in `t` and the run of it that nothing interrupts, the one a recovered
/// run must end exactly like: (input, its `--out`, its `--db`).
fn uninterrupted(t: &TempDir, lines: u64) -> (PathBuf, PathBuf, PathBuf) {
    let input = t.path("in.jsonl");
    corpus(&input, lines);
    let (out, db) = (t.path("base.jsonl"), t.path("base.db"));
    run_ok(&mut run_cmd(&input, &out, &db, None));
    (input, out, db)
}

#[test]
fn killed_three_times_the_run_ends_exactly_like_one_never_killed() {
    let t = TempDir::new("recover");
    let (input, base_out, base_db) = uninterrupted(&t, 900_000);

    // Relative paths, as a user would type them.
    let (out, db, dir) = (t.path("out.jsonl"), t.path("out.db"), t.path("ckpt"));
    let (rel_out, rel_db, rel_dir) = (
        Path::new("out.jsonl"),
        Path::new("out.db"),
        Path::new("ckpt"),
    );
    let run_here = || {
        let mut c = run_cmd(&input, rel_out, rel_db, Some(rel_dir));
        c.current_dir(&t.0);
        c
    };
    let mut kills = 0;
    // Three points: just after a commit, and mid-epoch at two other moments.
    for (commits, after_us) in [(1, 0), (2, 700), (2, 2500)] {
        if kill_after_commits(
            &mut run_here(),
            &dir,
            commits,
            Duration::from_micros(after_us),
        ) {
            kills += 1;
        }
    }
    assert!(kills >= 2, "the run ended before it could be killed twice");
    let o = run_ok(&mut run_here());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(committed(&dir).is_some());

    let base = std::fs::read_to_string(&base_out).unwrap();
    let got = std::fs::read_to_string(&out).unwrap();
    assert!(base.lines().count() > 900, "{}", base.lines().count());
    assert!(got == base, "--out differs after {kills} kills\n{err}");
    for sql in TABLES {
        assert!(table(&db, sql) == table(&base_db, sql), "{sql} differs");
    }
}

/// Runs `cmd` to its end, within `limit` (a resume that never ends fails the test).
fn run_within(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the run did not end within {limit:?}");
        }
    }
}

/// A graceful stop (SIGINT, SIGTERM, `--duration`) is not the end of the input. With two
/// workers, a stop while one worker still waited at an epoch once committed a checkpoint
/// saying the other's input had ended: the resume then skipped the rest of the file and
/// emitted empty windows without end (8.5 GB in 11 minutes). Stopped at several moments,
/// the resumed run ends exactly like one never stopped.
#[test]
fn stopped_gracefully_at_any_moment_the_resume_ends_like_a_run_never_stopped() {
    let t = TempDir::new("recover-stop");
    let (input, base_out, base_db) = uninterrupted(&t, 900_000);
    let base = std::fs::read_to_string(&base_out).unwrap();
    let mut stopped = 0;
    for (i, how) in ["INT", "TERM", "duration", "INT", "INT"].iter().enumerate() {
        let dir = t.path(&format!("ck{i}"));
        let (out, db) = (
            t.path(&format!("out{i}.jsonl")),
            t.path(&format!("out{i}.db")),
        );
        let mut first = run_cmd(&input, &out, &db, Some(&dir));
        // Early (while a worker may still wait at its first epoch) and later.
        let after = Duration::from_millis([40, 80, 60, 150, 300][i]);
        let o = if *how == "duration" {
            first
                .arg("--duration")
                .arg(format!("{}ms", after.as_millis()));
            run_within(&mut first, Duration::from_secs(60))
        } else {
            let child = first
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(after);
            // The signal handler is in place once the checkpoint directory is locked: a
            // signal before it (a loaded machine starts the process slowly) would kill the
            // run outright, which is not the graceful stop under test.
            let started = Instant::now();
            while !dir.join("lock-process-0").exists() {
                assert!(started.elapsed() < Duration::from_secs(30), "never locked");
                std::thread::sleep(Duration::from_millis(2));
            }
            let _ = Command::new("kill")
                .args([&format!("-{how}"), &child.id().to_string()])
                .status();
            child.wait_with_output().unwrap()
        };
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        if std::fs::read_to_string(&out).unwrap() != base {
            stopped += 1; // stopped before the end
        }
        let o = run_within(
            &mut run_cmd(&input, &out, &db, Some(&dir)),
            Duration::from_secs(60),
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        let got = std::fs::read_to_string(&out).unwrap();
        assert!(
            got == base,
            "stop {i} ({how} after {after:?}): --out differs\n{err}"
        );
        for sql in TABLES {
            assert!(
                table(&db, sql) == table(&base_db, sql),
                "stop {i}: {sql} differs"
            );
        }
    }
    assert!(
        stopped >= 3,
        "only {stopped} runs were stopped before their end"
    );
}

/// A window that could not be written to `--out` (a full disk) is never behind a committed
/// epoch: the checkpoint once went on committing, and the resume skipped those windows.
#[test]
fn no_epoch_commits_past_a_window_that_could_not_be_written() {
    let t = TempDir::new("recover-out-full");
    let (input, base_out, _) = uninterrupted(&t, 300_000);
    let dir = t.path("ck");
    let (out, db) = (t.path("out.jsonl"), t.path("out.db"));
    let full = Path::new("/dev/full");
    let o = run_within(
        &mut run_cmd(&input, full, &db, Some(&dir)),
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("writing --out"), "{err}");
    assert!(
        full.metadata().unwrap().file_type().is_char_device(),
        "/dev/full untouched"
    );
    let o = run_within(
        &mut run_cmd(&input, &out, &db, Some(&dir)),
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let (base, got) = (
        std::fs::read_to_string(&base_out).unwrap(),
        std::fs::read_to_string(&out).unwrap(),
    );
    assert!(got == base, "--out lacks windows after the resume\n{err}");
}

/// A checkpoint resumed under other reading rules is refused in one line naming both: the
/// rest of the input would be counted another way (another `--extract`), or an event-time
/// checkpoint resumed in processing time emitted every window from its epoch to now.
#[test]
fn a_checkpoint_is_not_resumed_under_other_reading_rules() {
    let t = TempDir::new("recover-reads");
    let input = t.path("in.jsonl");
    corpus(&input, 300_000);
    let (out, db, dir) = (t.path("out.jsonl"), t.path("out.db"), t.path("ck"));
    run_ok(&mut run_cmd(&input, &out, &db, Some(&dir)));
    assert!(committed(&dir).is_some(), "the run committed no epoch");
    let none = PathBuf::from("none");
    for (flag, value, needle) in [
        ("--extract", "spark", "extract spark"),
        ("--time", "processing", "time processing"),
        ("--text-field", "body", "text field body"),
    ] {
        let time = if flag == "--time" { value } else { "event" };
        let mut c = timed_cmd(&input, &t.path("o2.jsonl"), &none, Some(&dir), "2", time);
        if flag != "--time" {
            c.args([flag, value]);
        }
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains(needle) && err.contains("was made reading with"),
            "{err}"
        );
    }
}

/// The files of the committed epoch.
fn ckpt_files(dir: &Path) -> Vec<PathBuf> {
    let epoch = committed(dir).expect("a committed checkpoint");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(format!("epoch-{epoch:012}")))
        .unwrap()
        .flatten()
        .map(|f| f.path())
        .collect();
    files.sort();
    files
}

#[test]
fn a_damaged_or_foreign_checkpoint_is_refused_naming_the_file() {
    let t = TempDir::new("recover-bad");
    let input = t.path("in.jsonl");
    // Enough input (several read chunks per worker) for the run to commit epochs.
    corpus(&input, 300_000);
    let (out, db, dir) = (t.path("out.jsonl"), t.path("db"), t.path("ckpt"));
    run_ok(&mut run_cmd(&input, &out, &db, Some(&dir)));
    let files = ckpt_files(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    let restart = |extra: &[&str]| {
        let w = if extra.is_empty() { "2" } else { "1" };
        let o = workers_cmd(&input, &out, &db, Some(&dir), w)
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };

    // Other settings than the checkpoint's.
    let (code, err) = restart(&["--slide", "20s"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("slide 10s on 2") && err.contains("slide 20s on 1"),
        "{err}"
    );

    // A truncated file, then a flipped byte.
    let bytes = std::fs::read(&files[1]).unwrap();
    std::fs::write(&files[1], &bytes[..bytes.len() / 2]).unwrap();
    let (code, err) = restart(&[]);
    assert_eq!(code, Some(2), "{err}");
    let name = files[1].file_name().unwrap().to_str().unwrap();
    assert!(
        err.contains(name) && err.contains("truncated or damaged"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 3] ^= 1;
    std::fs::write(&files[1], &flipped).unwrap();
    let (code, err) = restart(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(name), "{err}");

    // A missing one.
    std::fs::remove_file(&files[0]).unwrap();
    let (code, err) = restart(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(files[0].file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
}

/// A small random number from the clock (a kill point); printed by the tests that use it.
fn jitter(bound: u64) -> u64 {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % bound
}

/// One run of a cluster shape: `processes` processes of `workers` workers, each its command.
fn cluster(
    base: &Command,
    processes: usize,
    workers: usize,
    hosts: &Path,
    dir: Option<&Path>,
) -> Vec<Command> {
    (0..processes)
        .map(|p| {
            let mut c = Command::new(base.get_program());
            c.args(base.get_args());
            for (k, v) in base.get_envs() {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
            }
            c.args(["--workers", &workers.to_string()]);
            if processes > 1 {
                c.args([
                    "--processes",
                    &processes.to_string(),
                    "--process",
                    &p.to_string(),
                ]);
                // (Only process 0 writes --out: the others ignore it.)
                c.arg("--hosts").arg(hosts);
            }
            if let Some(d) = dir {
                c.arg("--checkpoint-dir").arg(d);
            }
            c
        })
        .collect()
}

/// Runs every process of a cluster to its end, asserting success.
fn run_cluster(cmds: &mut [Command]) {
    let children: Vec<_> = cmds
        .iter_mut()
        .map(|c| c.stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

/// Starts a cluster and kills every process with SIGKILL once `commits` more epochs were
/// committed and `after` passed; false if it ended first.
fn kill_cluster_after_commits(
    cmds: &mut [Command],
    dir: &Path,
    commits: usize,
    after: Duration,
) -> bool {
    let mut children: Vec<_> = cmds
        .iter_mut()
        .map(|c| {
            c.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut seen = committed(dir);
    let mut count = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if children.iter_mut().any(|c| c.try_wait().unwrap().is_some()) {
            // One ended (the run is over, or a process failed): the others end with it, or
            // are stopped (a peer that lost its cluster would wait for it forever).
            let until = Instant::now() + Duration::from_secs(20);
            while Instant::now() < until
                && children.iter_mut().any(|c| c.try_wait().unwrap().is_none())
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            for c in &mut children {
                let _ = c.kill();
                let _ = c.wait();
            }
            return false;
        }
        let now = committed(dir);
        if now != seen {
            seen = now;
            count += 1;
            if count >= commits {
                std::thread::sleep(after);
                for c in &mut children {
                    let _ = c.kill();
                }
                for c in &mut children {
                    let _ = c.wait();
                }
                return true;
            }
        }
        assert!(Instant::now() < deadline, "the run made no progress");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Issue 13: kill -9 at three random points then restart, for 1 worker, 2 workers and 2
/// processes, on a file and on the generator in event time: the windows equal an
/// uninterrupted run's.
#[test]
fn issue_13_killed_at_random_points_any_worker_count_file_and_generator() {
    let t = TempDir::new("recover-any");
    let input = t.path("in.jsonl");
    corpus(&input, 400_000);
    let hosts = t.path("hosts");
    let ports: [u16; 2] = crate::util::free_ports();
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports[0], ports[1]),
    )
    .unwrap();
    let gen = "gen://?count=400000&rate=0&seed=7&start=2023-11-14T22:13:20Z&step=10ms";
    for (name, source, format) in [
        ("file", input.to_str().unwrap(), "jsonl"),
        ("gen", gen, "text"),
    ] {
        let base_cmd = |out: &Path| {
            let mut c = bin();
            c.args([
                "run", "--source", source, "--format", format, "--time", "event",
            ])
            .args([
                "--batch", "10s", "--window", "60s", "--tui", "off", "--quiet",
            ])
            .arg("--out")
            .arg(out);
            c
        };
        let base_out = t.path(&format!("{name}-base.jsonl"));
        run_cluster(&mut cluster(&base_cmd(&base_out), 1, 1, &hosts, None));
        let base = std::fs::read_to_string(&base_out).unwrap();
        assert!(
            base.lines().count() > 300,
            "{name}: {}",
            base.lines().count()
        );
        for (processes, workers) in [(1, 1), (1, 2), (2, 1)] {
            let shape = format!("{name}, {processes} process(es) of {workers} worker(s)");
            let out = t.path(&format!("{name}-{processes}-{workers}.jsonl"));
            let dir = t.path(&format!("{name}-{processes}-{workers}-ckpt"));
            let mut kills = Vec::new();
            for commits in [1, 2, 2] {
                let after = jitter(3000);
                let mut cmds = cluster(&base_cmd(&out), processes, workers, &hosts, Some(&dir));
                if kill_cluster_after_commits(
                    &mut cmds,
                    &dir,
                    commits,
                    Duration::from_micros(after),
                ) {
                    kills.push(after);
                }
            }
            assert!(
                kills.len() >= 2,
                "{shape}: ended before two kills ({kills:?})"
            );
            run_cluster(&mut cluster(
                &base_cmd(&out),
                processes,
                workers,
                &hosts,
                Some(&dir),
            ));
            let got = std::fs::read_to_string(&out).unwrap();
            assert!(
                got == base,
                "{shape}: --out differs after kills {kills:?} µs after a commit"
            );
        }
    }
}

/// Issue 13: with 2 workers a live run commits while it runs (it used to commit only at a
/// clean stop), the old epochs are pruned, and a restart after kill -9 resumes.
#[test]
fn issue_13_two_workers_commit_while_running() {
    let t = TempDir::new("recover-live");
    let dir = t.path("ckpt");
    let out = t.path("out.jsonl");
    let started = Instant::now();
    let mut child = bin()
        .args(["run", "--source", "gen://?rate=2000", "--workers", "2"])
        .args(["--batch", "1s", "--window", "2s", "--tui", "off", "--quiet"])
        .arg("--checkpoint-dir")
        .arg(&dir)
        .arg("--out")
        .arg(&out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while committed(&dir).is_none() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no COMMIT within 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let first = started.elapsed();
    // The first epoch is the next slide boundary after start; it commits once its windows
    // are written: within two slides (2 s), plus the process's start and a few fsyncs,
    // which a loaded machine may stretch (a commit only at the end would never come: the
    // run has no end).
    assert!(
        first < Duration::from_secs(10),
        "first COMMIT after {first:?}"
    );
    let e1 = committed(&dir).unwrap();
    while committed(&dir) == Some(e1) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let epochs = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("epoch-"))
        .count();
    assert!(epochs <= 3, "{epochs} epoch directories kept");
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read_to_string(&out).unwrap().lines().count();
    let o = bin()
        .args(["run", "--source", "gen://?rate=2000", "--workers", "2"])
        .args([
            "--batch",
            "1s",
            "--window",
            "2s",
            "--tui",
            "off",
            "--duration",
            "2s",
        ])
        .arg("--checkpoint-dir")
        .arg(&dir)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("resuming from checkpoint epoch"), "{err}");
    let after = std::fs::read_to_string(&out).unwrap().lines().count();
    assert!(after > before.min(1), "{before} → {after} windows");
}

/// Issue 13: a checkpoint restored against another file (even one at least as large) is
/// refused with one line naming both.
#[test]
fn issue_13_restoring_with_another_file_is_refused() {
    let t = TempDir::new("recover-other");
    let (a, b) = (t.path("a.jsonl"), t.path("b.jsonl"));
    corpus(&a, 300_000);
    corpus(&b, 300_000);
    // Same size, other content: one line changed.
    let text = std::fs::read_to_string(&b)
        .unwrap()
        .replacen("line 0 ", "LINE 0 ", 1);
    std::fs::write(&b, text).unwrap();
    let (out, db, dir) = (t.path("out.jsonl"), t.path("db"), t.path("ckpt"));
    run_ok(&mut run_cmd(&a, &out, &db, Some(&dir)));
    assert!(committed(&dir).is_some());
    let o = run_cmd(&b, &out, &db, Some(&dir)).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("a.jsonl") && err.contains("b.jsonl"), "{err}");
}
