//! `x://` end to end: the real binary against a local fake of the X API v2 filtered stream
//! (the same fake the unit tests use: chunked HTTP, frames split mid-line, heartbeats, the
//! rules endpoints, 401 for a wrong token).

#[path = "../src/sources/x/fake.rs"]
pub mod fake;

use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{bin, wait_top, TempDir};
use fake::{frames, tweet, Conn, FakeX};

/// A distinctive token: the leak checks look for it in every output.
pub const TOKEN: &str = "AAAAtagstreamLEAKCHECK0x5eCret9Q";
const T0: &str = "2026-06-11T19:00:03.000Z";

/// `n` posts per `(text, tag)`.
pub fn posts(spec: &[(&str, &str, usize)]) -> Vec<String> {
    let mut out = Vec::new();
    for (text, tag, n) in spec {
        for _ in 0..*n {
            let id = 1_790_000_000_000_000_000 + out.len() as u64;
            out.push(tweet(id, text, T0, &[tag]));
        }
    }
    out
}

/// The binary with the token in its environment (and no token file).
pub fn with_token(token: &str) -> Command {
    let mut c = bin();
    c.env("X_BEARER_TOKEN", token)
        .env_remove("X_BEARER_TOKEN_FILE");
    c
}

/// A child whose stderr is collected as it comes.
pub struct Running {
    pub child: Child,
    pub stderr: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Running {
    pub fn spawn(cmd: &mut Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stderr, reader) = crate::util::collect_stderr_to_end(&mut child);
        Running {
            child,
            stderr,
            reader,
        }
    }

    /// Waits (up to 30 s) until stderr contains `what`.
    pub fn wait_stderr(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.stderr.lock().unwrap().contains(what) {
                return;
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
        panic!(
            "no '{what}' on stderr within 30 s:\n{}",
            self.stderr.lock().unwrap()
        );
    }

    /// Sends `signal`, waits for the exit (up to 30 s); returns the output, stderr included.
    pub fn stop(mut self, signal: Option<&str>) -> Output {
        if let Some(sig) = signal {
            Command::new("kill")
                .args([sig, &self.child.id().to_string()])
                .status()
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("did not exit:\n{}", self.stderr.lock().unwrap());
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
        let mut out = self.child.wait_with_output().unwrap();
        // The child has exited: the reader takes its last bytes, then sees the end.
        self.reader.join().unwrap();
        out.stderr = self.stderr.lock().unwrap().clone().into_bytes();
        out
    }
}

/// Fails if the token appears in either output.
pub fn assert_no_token(out: &Output) {
    for (name, s) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let s = String::from_utf8_lossy(s);
        assert!(!s.contains(TOKEN), "the token leaked into {name}:\n{s}");
    }
}

#[test]
fn run_counts_a_scripted_stream_then_exits_0_on_sigint() {
    let fake = FakeX::start(TOKEN);
    let lines = posts(&[
        ("goal! #Alpha", "Alpha", 5),
        ("what a match #beta", "beta", 3),
        ("#gamma\nhalf time", "gamma", 1),
    ]);
    fake.script(Conn::Stream(frames(&lines, 7)));
    let t = TempDir::new("live-x");
    let out = t.path("out.jsonl");
    let run = Running::spawn(
        with_token(TOKEN)
            .args([
                "run",
                "--source",
                "x://",
                "--endpoint",
                &fake.url,
                "--track",
                "alpha,beta,gamma",
            ])
            .args([
                "--batch", "1s", "--window", "3s", "--top", "3", "--tui", "off", "--out",
            ])
            .arg(&out),
    );
    wait_top(&out, &[("#alpha", 5), ("#beta", 3), ("#gamma", 1)]);
    let res = run.stop(Some("-INT"));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(err.contains("source x: connected"), "{err}");
    assert_no_token(&res);
    let rules: Vec<String> = fake.state().rules.iter().map(|r| r.value.clone()).collect();
    assert_eq!(rules, ["alpha", "beta", "gamma"]);
}

#[test]
fn a_rejected_token_exits_2_with_one_line() {
    let fake = FakeX::start("some-other-token");
    let run = Running::spawn(
        with_token(TOKEN)
            .args([
                "run",
                "--source",
                "x://",
                "--endpoint",
                &fake.url,
                "--track",
                "a",
            ])
            .args(["--tui", "off", "--out", "-"]),
    );
    let res = run.stop(None);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].starts_with("tagstream: error: x://: 401 Unauthorized"),
        "{err}"
    );
    assert_no_token(&res);
}

/// `cmd` runs `x://` against a port where nothing listens: it must stop with exit code 2
/// before connecting. Returns its stderr.
fn refused_before_connecting(mut cmd: Command) -> String {
    let res = cmd
        .args([
            "run",
            "--source",
            "x://",
            "--endpoint",
            "http://127.0.0.1:9",
            "--tui",
            "off",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr).into_owned();
    assert_eq!(res.status.code(), Some(2), "{err}");
    err
}

#[test]
fn a_missing_token_says_which_variable_to_set() {
    let mut cmd = bin();
    cmd.env_remove("X_BEARER_TOKEN")
        .env_remove("X_BEARER_TOKEN_FILE");
    let err = refused_before_connecting(cmd);
    assert!(err.contains("x://: set X_BEARER_TOKEN"), "{err}");
}

/// A placeholder token (`X_BEARER_TOKEN=x`) is refused before any connection, in one line.
#[test]
fn a_placeholder_token_is_refused_at_once() {
    let err = refused_before_connecting(with_token("x"));
    assert!(
        err.contains("X_BEARER_TOKEN holds 1 character: too short for a token"),
        "{err}"
    );
}

#[test]
fn the_token_never_appears_in_help() {
    for args in [&["--help"][..], &["run", "--help"], &["receive", "--help"]] {
        // Both services' tokens set: neither may show in any help text.
        let res = with_token(TOKEN)
            .env("MASTODON_TOKEN", TOKEN)
            .args(args)
            .output()
            .unwrap();
        assert!(res.status.success());
        assert_no_token(&res);
        assert!(!String::from_utf8_lossy(&res.stdout).is_empty());
    }
}

/// `x://` carries its own event time (`created_at`): `--time event` needs no `--format`,
/// and the windows are those of the posts' times, not of the wall clock.
#[test]
fn x_posts_give_event_time_windows() {
    let fake = FakeX::start(TOKEN);
    let mut lines = Vec::new();
    for (i, (text, tag, at)) in [
        ("#Alpha one", "Alpha", "2026-06-11T19:00:01.000Z"),
        ("#Alpha two", "Alpha", "2026-06-11T19:00:05.000Z"),
        ("#beta three", "beta", "2026-06-11T19:00:12.000Z"),
        ("#beta four", "beta", "2026-06-11T19:00:25.000Z"),
    ]
    .into_iter()
    .enumerate()
    {
        lines.push(tweet(
            1_790_000_000_000_000_000 + i as u64,
            text,
            at,
            &[tag],
        ));
    }
    fake.script(Conn::Stream(frames(&lines, 7)));
    let t = TempDir::new("live-x-event");
    let out = t.path("out.jsonl");
    let run = Running::spawn(
        with_token(TOKEN)
            .args(["run", "--source", "x://", "--endpoint", &fake.url])
            .args(["--track", "alpha,beta", "--time", "event"])
            .args(["--batch", "10s", "--window", "10s", "--top", "3"])
            .args(["--tui", "off", "--out"])
            .arg(&out),
    );
    // The post at :25 moves the watermark past the windows ending at :10 and :20.
    wait_top(&out, &[("#beta", 1)]);
    let res = run.stop(Some("-INT"));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    let windows: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let shape: Vec<(String, Vec<(String, u64)>)> = windows
        .iter()
        .map(|w| {
            let top = w["top"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let tag = r["hashtag"].as_str().unwrap().to_owned();
                    (tag, r["count"].as_u64().unwrap())
                })
                .collect();
            (w["window_start"].as_str().unwrap().to_owned(), top)
        })
        .collect();
    assert_eq!(
        shape,
        [
            (
                "2026-06-11T19:00:00Z".to_owned(),
                vec![("#alpha".to_owned(), 2)]
            ),
            (
                "2026-06-11T19:00:10Z".to_owned(),
                vec![("#beta".to_owned(), 1)]
            ),
            (
                "2026-06-11T19:00:20Z".to_owned(),
                vec![("#beta".to_owned(), 1)]
            ),
        ],
        "{err}"
    );
    assert_no_token(&res);
}

/// Issue 13: what the server says is scrubbed of the token before it is logged: an
/// in-stream error that quotes the request's `Authorization` header (logged verbatim
/// before), and an HTTP error body that does (the run's one error line).
#[test]
fn issue_13_server_text_quoting_the_token_is_scrubbed() {
    let fake = FakeX::start(TOKEN);
    // Long enough that cutting the message first would leave part of the token.
    let quote = format!(
        "{} your request had Authorization: Bearer {TOKEN}",
        "y".repeat(120)
    );
    let error = serde_json::json!({"errors": [{"title": "operational-disconnect",
        "detail": quote, "type": "https://api.x.com/2/problems/operational-disconnect"}]});
    let mut lines = vec![error.to_string()];
    lines.extend(posts(&[("#alpha one", "alpha", 2)]));
    fake.script(Conn::Stream(frames(&lines, 7)));
    let t = TempDir::new("live-x-scrub");
    let out = t.path("out.jsonl");
    let run = Running::spawn(
        with_token(TOKEN)
            .args(["run", "--source", "x://", "--endpoint", &fake.url])
            .args(["--track", "alpha", "--batch", "1s", "--window", "3s"])
            .args(["--tui", "off", "--out"])
            .arg(&out),
    );
    wait_top(&out, &[("#alpha", 2)]);
    let res = run.stop(Some("-INT"));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(
        err.contains("the stream says: operational-disconnect") && err.contains("[redacted]"),
        "{err}"
    );
    assert_no_token(&res);
    assert!(
        !err.contains(&TOKEN[..8]),
        "part of the token leaked:\n{err}"
    );
    // records, connections, reconnects (`connected` depends on when the reader saw SIGINT)
    let (records, connections, _, reconnects) = crate::util::source_counts(&err, "x");
    assert_eq!((records, connections, reconnects), (2, 1, 0), "{err}");

    // An error body quoting the token: the run ends with one line, scrubbed.
    let fake = FakeX::start(TOKEN);
    fake.add_rule("alpha", "tagstream");
    let body = serde_json::json!({"title": "Forbidden", "detail": quote});
    fake.script(Conn::Status(403, vec![], body.to_string()));
    let res = Running::spawn(
        with_token(TOKEN)
            .args(["run", "--source", "x://", "--endpoint", &fake.url])
            .args(["--tui", "off", "--out", "-"]),
    )
    .stop(None);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("error"))
        .unwrap_or_default();
    assert!(
        line.contains("403 Forbidden") && line.contains("[redacted]"),
        "{err}"
    );
    assert_no_token(&res);
    assert!(
        !err.contains(&TOKEN[..8]),
        "part of the token leaked:\n{err}"
    );
}
