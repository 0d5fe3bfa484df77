//! Checkpoints: a run killed with SIGKILL at several points and restarted on the same
//! `--checkpoint-dir` ends with exactly the `--out` and `windows` table of a run never killed;
//! a damaged checkpoint is a one-line error naming the file.

use std::io::Write;
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
    let mut c = bin();
    c.args(["run", "--source"]).arg(input).args([
        "--format",
        "jsonl",
        "--time",
        "event",
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

#[test]
fn killed_three_times_the_run_ends_exactly_like_one_never_killed() {
    let t = TempDir::new("recover");
    let input = t.path("in.jsonl");
    corpus(&input, 900_000);
    let (base_out, base_db) = (t.path("base.jsonl"), t.path("base.db"));
    run_ok(&mut run_cmd(&input, &base_out, &base_db, None));

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
