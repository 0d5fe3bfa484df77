use crate::util::{bin, TempDir};

/// Runs the binary with `args`, expects exit code 2 and exactly one stderr line containing
/// `needle`.
fn fails_with(args: &[&str], needle: &str) {
    let out = bin().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr {err}");
    assert_eq!(err.lines().count(), 1, "one line expected, got:\n{err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

#[test]
fn window_not_a_multiple_of_the_batch() {
    fails_with(
        &["run", "--source", "-", "--batch", "10s", "--window", "65s"],
        "multiple",
    );
}

#[test]
fn slide_not_a_multiple_of_the_batch() {
    fails_with(
        &["run", "--source", "-", "--batch", "10s", "--slide", "15s"],
        "multiple",
    );
}

/// Absurd sizes are refused in one line, not met with a panic or an out-of-memory abort.
#[test]
fn absurd_window_overlap_and_worker_counts_are_refused() {
    fails_with(
        &["run", "--source", "-", "--window", "10000000d"],
        "windows overlap",
    );
    fails_with(
        &["run", "--source", "-", "--workers", "18446744073709551615"],
        "more than 512 threads",
    );
    fails_with(
        &["run", "--source", "-", "--workers", "3000"],
        "--processes",
    );
    fails_with(
        &[
            "run",
            "--source",
            "-",
            "--processes",
            "18446744073709551615",
        ],
        "more than 1024 processes",
    );
}

#[test]
fn unknown_source_scheme() {
    fails_with(
        &["run", "--source", "ftp://example.com/x"],
        "unknown source scheme 'ftp://'",
    );
}

#[test]
fn unreadable_file() {
    fails_with(
        &["run", "--source", "/nonexistent/tweets.txt"],
        "cannot read /nonexistent",
    );
}

#[test]
fn unknown_flag() {
    fails_with(&["run", "--source", "-", "--frobnicate"], "--frobnicate");
}

#[test]
fn bad_duration() {
    fails_with(&["run", "--source", "-", "--batch", "soon"], "soon");
}

#[test]
fn event_time_needs_json() {
    let t = TempDir::new("cli-event");
    let f = t.path("in.txt");
    std::fs::write(&f, "#a\n").unwrap();
    fails_with(
        &["run", "--source", f.to_str().unwrap(), "--time", "event"],
        "--format jsonl",
    );
}

#[test]
fn help_is_not_an_error() {
    let out = bin().args(["run", "--help"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--window"));
}

#[test]
fn track_keeps_only_records_with_a_keyword() {
    let t = TempDir::new("track");
    let f = t.path("in.txt");
    std::fs::write(
        &f,
        "Football tonight #a\nthe footballer #b\n#Football #c\nnothing #d\n",
    )
    .unwrap();
    let out = t.path("out.jsonl");
    let res = crate::util::run_ok(
        bin()
            .args(["run", "--tui", "off", "--track", "football", "--source"])
            .arg(&f)
            .arg("--out")
            .arg(&out),
    );
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(crate::util::summary_count(&err, "records"), 2, "{err}");
    assert_eq!(crate::util::summary_count(&err, "filtered"), 2, "{err}");
    let tags: std::collections::BTreeSet<String> = crate::util::windows(&out)
        .iter()
        .flat_map(crate::util::top)
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        tags.into_iter().collect::<Vec<_>>(),
        ["#a", "#c", "#football"]
    );
}

/// An address asked of `demo` that cannot be served ends the run in one line, as with `run`;
/// only demo's default address may be taken (a warning: the terminal chart still works).
#[test]
fn demo_with_an_http_address_in_use_fails() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    fails_with(
        &["demo", "--tui", "off", "--duration", "5s", "--http", &addr],
        "cannot listen",
    );
}

/// `--tui on` with stdout not a terminal (cron, CI, a pipe) is an error in one line: it
/// panicked in ratatui's set-up, exit 101 and a backtrace.
#[test]
fn tui_on_without_a_terminal_is_an_error() {
    let t = TempDir::new("cli-tui");
    let input = t.path("in.txt");
    std::fs::write(&input, "a #b\n").unwrap();
    let s = input.to_str().unwrap();
    fails_with(&["run", "--source", s, "--tui", "on"], "not a terminal");
}

/// `--out` naming the input (under any path) or the database is refused before anything
/// is written: it emptied the input, and the run ended with 0 records and exit 0.
#[test]
fn out_naming_the_input_or_the_database_is_refused() {
    let t = TempDir::new("cli-out-same");
    let input = t.path("in.txt");
    let text = "a #b\nc #d\n";
    std::fs::write(&input, text).unwrap();
    let s = input.to_str().unwrap();
    let other = format!("{}/./in.txt", t.path("").display());
    fails_with(
        &["run", "--source", s, "--out", &other],
        "is the input file",
    );
    assert_eq!(std::fs::read_to_string(&input).unwrap(), text);
    let db = t.path("same.db");
    std::fs::write(&db, "").unwrap();
    let db = db.to_str().unwrap();
    fails_with(
        &["run", "--source", s, "--db", db, "--out", db],
        "is the --db",
    );
}

/// Windows that stdout cannot take fail the run (exit 2), whether JSON lines (`--out -`) or
/// the table: a full disk ended it with exit 0. A closed stdout (`| head`) still ends the
/// run quietly, exit 0.
#[test]
fn stdout_that_fails_is_an_error_and_a_closed_one_a_quiet_stop() {
    let t = TempDir::new("cli-stdout");
    let input = t.path("in.txt");
    std::fs::write(&input, "a #b\nc #d\n").unwrap();
    let s = input.to_str().unwrap();
    for args in [&["--out", "-"][..], &["--tui", "off"][..]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = bin()
            .args(["run", "--source", s])
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("writing stdout"), "{args:?}: {err}");
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = bin()
            .args(["run", "--source", s])
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("writing stdout"), "{args:?}: {err}");
    }
}

/// No subcommand: the help, on stderr, exit 2 (its first line alone was shown as an error).
#[test]
fn no_subcommand_shows_the_help() {
    let out = bin().output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Usage:") && err.contains("demo"), "{err}");
    assert!(!err.contains("error: Real-time"), "{err}");
}

/// `--checkpoint-every` alone would checkpoint nowhere: it was silently ignored.
#[test]
fn checkpoint_every_needs_a_directory() {
    fails_with(
        &["run", "--source", "-", "--checkpoint-every", "10s"],
        "--checkpoint-dir",
    );
}

/// TAGSTREAM_QUIET takes the usual spellings of a switch (1 was refused: only true/false).
#[test]
fn quiet_from_the_environment_takes_1_and_0() {
    for (v, quiet) in [("1", true), ("yes", true), ("0", false), ("false", false)] {
        let out = bin()
            .args(["run", "--source", "-", "--tui", "off"])
            .env("TAGSTREAM_QUIET", v)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{v}: {err}");
        assert_eq!(!err.contains("ready:"), quiet, "{v}: {err}");
    }
}

/// A slide longer than the window leaves records in no window: allowed, and said.
#[test]
fn a_slide_longer_than_the_window_is_warned_of() {
    let out = bin()
        .args(["run", "--source", "-", "--tui", "off"])
        .args(["--window", "10s", "--slide", "60s"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("--slide 1m is longer than --window 10s: records between"),
        "{err}"
    );
}

/// A signal says that the run is stopping and that a second one exits at once; the second
/// says what it costs (it exited with 130 without a word). Sent once the handler is in
/// place: after the checkpoint directory is locked.
#[test]
fn signals_say_what_they_do() {
    for twice in [false, true] {
        let t = TempDir::new("cli-signals");
        let dir = t.path("ck");
        let mut child = bin()
            .args(["run", "--source", "gen://?rate=1000", "--tui", "off"])
            .arg("--checkpoint-dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (err, reader) = crate::util::collect_stderr_to_end(&mut child);
        let started = std::time::Instant::now();
        while !dir.join("lock-process-0").exists() {
            assert!(started.elapsed().as_secs() < 30, "never locked");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let kill = || {
            std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap()
        };
        kill();
        if twice {
            while !err.lock().unwrap().contains("stopping:") {
                assert!(started.elapsed().as_secs() < 30, "no stopping line");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            kill();
        }
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let err = err.lock().unwrap().clone();
        assert!(
            err.contains("stopping: finishing what is under way"),
            "{err}"
        );
        // The second may find the run already ended (it has little to finish): then it
        // exited 0 by itself. Else the second says so, and exits 130.
        if twice && err.contains("a second signal: exiting at once") {
            assert_eq!(status.code(), Some(130), "{err}");
        } else {
            assert_eq!(status.code(), Some(0), "{err}");
            assert!(!err.contains("a second signal:"), "{err}");
        }
    }
}
