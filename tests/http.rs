//! The HTTP API against a running engine: `/api/top` equals the `--out` file, SSE delivers
//! each window, `/api/windows`, `/metrics`, `/healthz`, and `POST /api/sql`'s shapes.
//! `Engine` is shared with the browser and chart tests.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{bin, burst, windows, TempDir};

/// `tagstream run --source listen://127.0.0.1:0 --http 127.0.0.1:0` (batch 1 s, window 3 s),
/// with the addresses it bound read from its stderr.
pub struct Engine {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Port of the `listen://` source.
    pub port: u16,
    /// The `--out` file.
    pub out: PathBuf,
    stderr: Arc<Mutex<String>>,
    feeding: Arc<AtomicBool>,
    _dir: TempDir,
}

/// The address printed after `prefix` in `text` (`127.0.0.1:PORT`).
pub fn addr_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let i = text.find(prefix)? + prefix.len();
    let rest = &text[i..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    Some(rest[..end].trim_end_matches(':'))
}

impl Engine {
    pub fn start(extra: &[&str]) -> Engine {
        let dir = TempDir::new("http");
        let out = dir.path("out.jsonl");
        let mut child = bin()
            .args(["run", "--source", "listen://127.0.0.1:0", "--batch", "1s"])
            .args(["--window", "3s", "--http", "127.0.0.1:0", "--tui", "off"])
            .arg("--out")
            .arg(&out)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tagstream starts");
        let stderr = crate::util::collect_stderr(&mut child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let (url, port) = loop {
            let text = stderr.lock().unwrap().clone();
            let http = addr_after(&text, "http://").map(str::to_owned);
            let listen = addr_after(&text, "listen://").map(str::to_owned);
            if let (Some(h), Some(l)) = (http, listen) {
                let port = l.rsplit(':').next().unwrap().parse().unwrap();
                break (format!("http://{h}"), port);
            }
            assert!(Instant::now() < deadline, "no addresses on stderr:\n{text}");
            std::thread::park_timeout(Duration::from_millis(20));
        };
        Engine {
            child,
            url,
            port,
            out,
            stderr,
            feeding: Arc::new(AtomicBool::new(false)),
            _dir: dir,
        }
    }

    /// Writes lines to the `listen://` source on a new connection.
    pub fn feed(&self, lines: &[String]) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut text = lines.join("\n");
        text.push('\n');
        s.write_all(text.as_bytes()).unwrap();
    }

    /// Feeds `lines()` every 250 ms on a thread until [`Engine::stop_feeding`], so every
    /// window holds tags; `lines` may change what it sends over time.
    pub fn feed_steadily(&self, lines: impl Fn() -> Vec<String> + Send + 'static) {
        self.feeding.store(true, Ordering::SeqCst);
        let feeding = self.feeding.clone();
        let port = self.port;
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            while feeding.load(Ordering::SeqCst) {
                let mut text = lines().join("\n");
                text.push('\n');
                if s.write_all(text.as_bytes()).is_err() {
                    return;
                }
                std::thread::park_timeout(Duration::from_millis(250));
            }
        });
    }

    pub fn stop_feeding(&self) {
        self.feeding.store(false, Ordering::SeqCst);
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        request(&self.url, "GET", path, None)
    }

    pub fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Polls until `pred` holds (30 s at most).
    pub fn wait_for(&self, what: &str, mut pred: impl FnMut(&Engine) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !pred(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; stderr:\n{}",
                self.stderr()
            );
            std::thread::park_timeout(Duration::from_millis(50));
        }
    }

    /// `/api/top` once it holds tags.
    pub fn wait_for_top(&self) -> Value {
        self.wait_for("a window with tags", |e| {
            e.get("/api/top").0 == 200
                && !e.get_json("/api/top")["top"].as_array().unwrap().is_empty()
        });
        self.get_json("/api/top")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGTERM: the engine emits what is open, flushes and exits 0. Returns the `--out`
    /// file's text (its directory goes with the engine).
    pub fn stop(mut self) -> String {
        self.stop_feeding();
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "exit {status}; stderr:\n{}",
            self.stderr()
        );
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.feeding.store(false, Ordering::SeqCst);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over a plain TCP connection: (status, body).
pub fn request(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // Read the head, then Content-Length bytes (some servers keep the connection open).
    let mut r = BufReader::new(s);
    let mut head = String::new();
    let mut len = None;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<usize>().ok();
            }
        }
        head.push_str(&line);
    }
    let mut raw = Vec::new();
    match len {
        Some(n) => {
            raw.resize(n, 0);
            r.read_exact(&mut raw).unwrap();
        }
        None => {
            r.read_to_end(&mut raw).unwrap();
        }
    }
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, String::from_utf8(raw).unwrap())
}

#[test]
fn api_top_equals_the_out_file_and_sse_delivers_every_window() {
    let e = Engine::start(&[]);
    // Read the event stream on a thread from before any input.
    let events = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let host = e.url.trim_start_matches("http://").to_owned();
    let mut sse = TcpStream::connect(&host).unwrap();
    write!(sse, "GET /api/events HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let got = events.clone();
    std::thread::spawn(move || {
        let (mut id, mut kind) = (String::new(), String::new());
        for line in BufReader::new(sse).lines() {
            let Ok(line) = line else { return };
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.to_owned();
            } else if let Some(v) = line.strip_prefix("event: ") {
                kind = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ") {
                assert_eq!(kind, "window");
                got.lock().unwrap().push((id.clone(), v.to_owned()));
            }
        }
    });
    e.wait_for("the first SSE event", |_| {
        !events.lock().unwrap().is_empty()
    });
    e.feed(&burst(&[("#rust", 5), ("#日本語", 3), ("#go", 2)]));
    let top = e.wait_for_top();
    assert_eq!(
        crate::util::top(&top),
        vec![
            ("#rust".into(), 5),
            ("#日本語".into(), 3),
            ("#go".into(), 2)
        ]
    );
    // /api/top is the --out file's last window (read until no window came in between).
    e.wait_for("/api/top to equal the last --out line", |e| {
        let before = e.get("/api/top").1;
        let last = std::fs::read_to_string(&e.out).unwrap_or_default();
        let last = last.lines().last().unwrap_or_default().to_owned();
        before == last && e.get("/api/top").1 == before
    });
    e.wait_for("an empty window after the burst", |e| {
        e.get_json("/api/top")["top"].as_array().unwrap().is_empty()
    });
    let out = e.stop();
    let lines: Vec<String> = out.lines().map(str::to_owned).collect();
    let events = events.lock().unwrap().clone();
    let first = lines
        .iter()
        .position(|l| *l == events[0].1)
        .unwrap_or_else(|| panic!("the first event is no window of --out: {events:?}\n{out}"));
    assert!(events.len() >= 4, "too few events: {events:?}");
    for (i, (id, data)) in events.iter().enumerate() {
        assert_eq!(data, &lines[first + i], "event {i}");
        let w: Value = serde_json::from_str(data).unwrap();
        let end = humantime::parse_rfc3339(w["window_end"].as_str().unwrap()).unwrap();
        let end_ms = end
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert_eq!(id, &end_ms.to_string(), "the id is the window end in ms");
    }
}

#[test]
fn windows_metrics_and_health() {
    let e = Engine::start(&[]);
    e.feed(&burst(&[("#a", 3), ("#b", 1)]));
    e.wait_for_top();
    e.wait_for("three windows", |e| windows(&e.out).len() >= 3);
    let all = e.get_json("/api/windows");
    let all = all.as_array().unwrap();
    let two = e.get_json("/api/windows?limit=2");
    let two = two.as_array().unwrap();
    assert_eq!(two.len(), 2);
    assert!(
        two[0]["window_end"].as_str() < two[1]["window_end"].as_str(),
        "newest last"
    );
    let since = all[0]["window_end"].as_str().unwrap();
    let after = e.get_json(&format!("/api/windows?since={since}"));
    assert!(after
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["window_end"].as_str().unwrap() > since));
    let (status, body) = e.get("/api/windows?since=yesterday");
    assert_eq!(status, 400);
    let err: Value = serde_json::from_str(&body).unwrap();
    assert!(
        err["error"].as_str().unwrap().contains("yesterday"),
        "{body}"
    );
    assert!(!body.trim_end().contains('\n'));

    // A client reconnecting with Last-Event-ID first gets the windows it missed.
    let first_end = humantime::parse_rfc3339(since).unwrap();
    let first_ms = first_end
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let host = e.url.trim_start_matches("http://");
    // The event stream's lines, asked with `Last-Event-ID: id`.
    let events_after = |id: &str| {
        let mut sse = TcpStream::connect(host).unwrap();
        sse.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            sse,
            "GET /api/events HTTP/1.1\r\nHost: {host}\r\nLast-Event-ID: {id}\r\n\r\n"
        )
        .unwrap();
        BufReader::new(sse).lines().map_while(Result::ok)
    };
    let replayed: Vec<Value> = events_after(&first_ms.to_string())
        .filter_map(|l| {
            l.strip_prefix("data: ")
                .map(|d| serde_json::from_str(d).unwrap())
        })
        .take(2)
        .collect();
    assert_eq!(replayed, all[1..3], "replay after Last-Event-ID");
    // An id past every window sent (another engine's, say) is not this engine's: the client
    // gets the next window, not nothing until the year 5138.
    let started = Instant::now();
    let next = events_after("99999999999999")
        .take_while(|_| started.elapsed() < Duration::from_secs(15))
        .find(|l| l.starts_with("data: "));
    assert!(
        next.is_some(),
        "no window after a Last-Event-ID from the future"
    );

    let (status, body) = e.get("/healthz");
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, metrics) = e.get("/metrics");
    assert_eq!(status, 200);
    for name in [
        "tagstream_records_in_total",
        "tagstream_bytes_in_total",
        "tagstream_records_skipped_total",
        "tagstream_records_late_total",
        "tagstream_records_filtered_total",
        "tagstream_tags_skipped_total",
        "tagstream_windows_emitted_total",
        "tagstream_source_connected",
        "tagstream_source_reconnects_total",
        "tagstream_batch_processing_seconds",
        "tagstream_window_emit_lag_seconds",
        "tagstream_window_distinct_tags",
        "tagstream_process_resident_memory_bytes",
        "tagstream_window_state_bytes",
    ] {
        assert!(
            metrics.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
        assert!(
            metrics.contains(&format!("# TYPE {name} ")),
            "no TYPE for {name}"
        );
    }
    assert!(
        metrics.contains("\ntagstream_records_in_total 4\n"),
        "{metrics}"
    );
    assert!(metrics.contains("tagstream_records_skipped_total{reason=\"bad_json\"} 0"));
    assert!(metrics.contains("tagstream_window_emit_lag_seconds_bucket{le=\"+Inf\"}"));
    let state = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tagstream_window_state_bytes "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(state.is_some_and(|b| b > 0), "{metrics}");
    let summary = e.get_json("/api/summary");
    assert_eq!(summary["records"], 4, "{summary}");
    assert_eq!(summary["skipped"]["total"], 0, "{summary}");
    assert!(summary["windows"].as_u64().unwrap() >= 3, "{summary}");
    let (status, _) = e.get("/");
    assert_eq!(status, 200);
    e.stop();
}

/// Checks a 400 answer is one line of JSON `{"error": …}` containing `needle`.
fn one_line_error(status: u16, body: &str, needle: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body.trim_end().lines().count(), 1, "{body}");
    let v: Value = serde_json::from_str(body).unwrap();
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains(needle), "'{msg}' lacks '{needle}'");
}

#[test]
fn sql_answers_in_the_agreed_shapes() {
    let e = Engine::start(&[]);
    let (s, b) = request(&e.url, "POST", "/api/sql", Some(r#"{"sql":"SELECT 1"}"#));
    one_line_error(s, &b, "--db");
    let (s, b) = request(&e.url, "POST", "/api/sql", Some("SELECT 1"));
    one_line_error(s, &b, "JSON");
    e.stop();

    let dir = TempDir::new("http-sql");
    let db = dir.path("t.db");
    let e = Engine::start(&["--db", db.to_str().unwrap()]);
    e.feed(&burst(&[("#a", 2)]));
    e.wait_for_top();
    let (s, b) = request(
        &e.url,
        "POST",
        "/api/sql",
        Some(r#"{"sql":"SELECT hashtag, count FROM tweets"}"#),
    );
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["columns"], serde_json::json!(["hashtag", "count"]));
    assert!(v["rows"].is_array() && v["truncated"].is_boolean(), "{b}");
    let (s, b) = request(
        &e.url,
        "POST",
        "/api/sql",
        Some(r#"{"sql":"SELEC hashtag\nFROM tweets"}"#),
    );
    one_line_error(s, &b, "SELEC");
    let (s, b) = request(
        &e.url,
        "POST",
        "/api/sql",
        Some(r#"{"sql":"DROP TABLE tweets"}"#),
    );
    assert_eq!(s, 400, "{b}");
    assert_eq!(b.trim_end().lines().count(), 1);
    assert_eq!(e.get("/healthz").0, 200, "the engine keeps running");
    e.stop();
}

/// One request with the given headers and body, the body written on a thread of its own
/// (a server may answer before reading it all, and close): (status, head, body).
fn raw_request(base: &str, path: &str, headers: &[&str], body: Vec<u8>) -> (u16, String, String) {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&body);
    });
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let _ = writer.join();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // 0: no answer (the engine went away); the caller's status check says so.
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// A one-line JSON error `{"error": …}` with `status`, containing `needle`.
fn json_error(got: (u16, String, String), status: u16, needle: &str) -> String {
    let (s, head, body) = got;
    assert_eq!(s, status, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    assert_eq!(body.trim_end().lines().count(), 1, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let msg = v["error"].as_str().unwrap().to_owned();
    assert!(msg.contains(needle), "'{msg}' lacks '{needle}'");
    msg
}

/// Issue 13: every failure of the HTTP API is a JSON error with the real limits: a 10 MB
/// body (413, was axum's plain text), a body not declared JSON (415), a 1 MB statement (400
/// naming the statement limit, was "16 MB"), a wrong method or path (405, 404).
#[test]
fn issue_13_sql_failures_are_json_with_the_real_limits() {
    let dir = TempDir::new("http-sql-limits");
    let db = dir.path("t.db");
    let e = Engine::start(&["--db", db.to_str().unwrap()]);
    let json = "Content-Type: application/json";
    let big = serde_json::json!({ "sql": format!("SELECT 1 -- {}", "x".repeat(10 << 20)) });
    let got = raw_request(&e.url, "/api/sql", &[json], big.to_string().into_bytes());
    json_error(
        got,
        413,
        "larger than 1024 KiB; statements are limited to 100000 bytes",
    );
    let one_mb = serde_json::json!({ "sql": format!("SELECT 1 -- {}", "x".repeat(999_988)) });
    let got = raw_request(&e.url, "/api/sql", &[json], one_mb.to_string().into_bytes());
    let msg = json_error(got, 400, "statements are limited to 100000 bytes");
    assert!(
        msg.contains("1000000 bytes") && !msg.contains("MB"),
        "{msg}"
    );
    let ok = br#"{"sql":"SELECT 1"}"#.to_vec();
    let got = raw_request(
        &e.url,
        "/api/sql",
        &["Content-Type: text/plain"],
        ok.clone(),
    );
    json_error(
        got,
        415,
        "Content-Type: application/json (got 'text/plain')",
    );
    let got = raw_request(&e.url, "/api/sql", &[], ok.clone());
    json_error(got, 415, "(got none)");
    let got = raw_request(
        &e.url,
        "/api/sql",
        &["Content-Type: application/json; charset=utf-8"],
        ok,
    );
    assert_eq!(got.0, 200, "{got:?}");
    let (s, body) = e.get("/api/sql");
    json_error(
        (s, "content-type: application/json".into(), body),
        405,
        "GET",
    );
    let (s, body) = e.get("/api/nothing-here");
    json_error(
        (s, "content-type: application/json".into(), body),
        404,
        "/api/nothing-here",
    );
    assert_eq!(e.get("/healthz").0, 200, "the engine keeps running");
    e.stop();
}

/// Issue 13: slow queries no longer queue without bound. With every slot running a query to
/// its time limit and the queue full, the excess is refused at once: 503, a JSON error, a
/// `Retry-After`.
#[test]
fn issue_13_sql_beyond_the_queue_gets_503_at_once() {
    let dir = TempDir::new("http-sql-busy");
    let db = dir.path("t.db");
    let e = Engine::start(&["--db", db.to_str().unwrap()]);
    // Runs until the 5 s time limit interrupts it.
    let slow = serde_json::json!({ "sql": crate::util::ENDLESS_COUNT }).to_string();
    // 4 running + 8 waiting are admitted; 12 more find no place.
    let (admitted, extra) = (12, 12);
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..admitted + extra {
        let (url, body, tx) = (e.url.clone(), slow.clone(), tx.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let got = raw_request(
                &url,
                "/api/sql",
                &["Content-Type: application/json"],
                body.into_bytes(),
            );
            let _ = tx.send((got, started.elapsed()));
        });
    }
    let mut refused = Vec::new();
    while refused.len() < extra {
        let (got, took) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("an answer within 60 s");
        if got.0 == 503 {
            assert!(
                got.1.to_ascii_lowercase().contains("retry-after: 5"),
                "{}",
                got.1
            );
            json_error(got, 503, "too many SQL queries: 4 running and 8 waiting");
            refused.push(took);
        } else {
            // A query admitted: only the first rounds of slow ones can have ended.
            assert_eq!(got.0, 400, "{got:?}");
            assert!(got.2.contains("time limit"), "{got:?}");
        }
    }
    // "At once": well under the query time limit, even on a loaded machine.
    let slowest = refused.iter().max().unwrap();
    assert!(*slowest < Duration::from_secs(4), "a 503 took {slowest:?}");
    eprintln!("503 latencies: {refused:?}");
    e.stop();
}

/// A client that hangs up once its query is sent no longer frees the query's place while
/// SQLite still runs it: 60 such clients once ran 60 queries at once (a thread, a core and
/// up to gigabytes each). Four hung-up queries run to the time limit, and a quick query
/// after them waits for a slot instead of running beside them.
#[test]
fn a_client_that_hangs_up_does_not_free_its_running_query_s_slot() {
    let dir = TempDir::new("http-sql-hangup");
    let db = dir.path("t.db");
    let e = Engine::start(&["--db", db.to_str().unwrap()]);
    let slow = serde_json::json!({ "sql": crate::util::ENDLESS_COUNT }).to_string();
    let host = e.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    for _ in 0..12 {
        let mut s = TcpStream::connect(&host).unwrap();
        let req = format!(
            "POST /api/sql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{slow}",
            slow.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        // Gone before any answer.
    }
    // Time for the engine to take the twelve in (a loaded machine is slow to), and still
    // far from the hung-up queries' 5 s limit.
    std::thread::sleep(Duration::from_millis(1500));
    let quick = serde_json::json!({"sql": "SELECT 1"}).to_string();
    let asked = Instant::now();
    let got = raw_request(
        &e.url,
        "/api/sql",
        &["Content-Type: application/json"],
        quick.into_bytes(),
    );
    let waited = asked.elapsed();
    assert_eq!(got.0, 200, "{got:?}");
    // The hung-up queries run until the 5 s limit from their start: the quick one waits
    // for the first of them to end.
    assert!(
        waited > Duration::from_secs(2),
        "the quick query ran beside four hung-up ones after {waited:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    e.stop();
}

/// A `listen://` source reads at most 256 clients at once (a thread each): one more is
/// closed at once, and once the others go a new one is read again. Connections that sit
/// silent once took a thread each without end.
#[test]
fn a_listen_source_serves_at_most_256_clients_at_once() {
    let e = Engine::start(&[]);
    let connect = || TcpStream::connect(("127.0.0.1", e.port)).unwrap();
    let mut held: Vec<TcpStream> = (0..256).map(|_| connect()).collect();
    // The source accepts as it polls: the 257th is closed once the others are taken in.
    let closed = |mut s: TcpStream| {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        matches!(s.read(&mut [0u8; 1]), Ok(0))
    };
    let started = Instant::now();
    while !closed(connect()) {
        assert!(started.elapsed() < Duration::from_secs(30), "never refused");
    }
    held.clear();
    let started = Instant::now();
    loop {
        let s = connect();
        if !closed(s) {
            break; // read again: its read timed out, the connection stays open
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the places never came back"
        );
    }
    assert!(
        e.stderr().contains("256 clients connected"),
        "{}",
        e.stderr()
    );
    e.stop();
}

/// At most 256 connections are served at once; more wait in the kernel's queue, holding no
/// descriptor of the engine's. 1,100 idle connections once took every descriptor of a
/// process with the usual limit of 1,024, and the engine died writing its next checkpoint.
#[test]
fn idle_connections_cannot_take_every_descriptor() {
    let e = Engine::start(&[]);
    let pid = e.child.id();
    let fds = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    let before = fds();
    let host = e.url.trim_start_matches("http://").to_owned();
    let held: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(&host).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let during = fds();
    assert!(
        during <= before + 256 + 8,
        "{during} descriptors with 300 idle connections ({before} before)"
    );
    drop(held);
    // The places come back as the idle connections close: the dashboard answers.
    let started = Instant::now();
    while e.get("/healthz").0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(20));
    }
    e.stop();
}

/// A request must be answered within 30 s of its first byte (`REQUEST_DEADLINE`): a client
/// sending its head a byte a second (each well within the 60 s idle limit) is cut there,
/// while a keep-alive connection that waits 35 s between two requests is served both times.
#[test]
fn a_request_sent_a_byte_at_a_time_is_cut_at_its_deadline() {
    let e = Engine::start(&[]);
    let host = e.url.trim_start_matches("http://").to_owned();
    let healthz = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    // Reads one answer to /healthz (its body is "ok\n").
    let answer = |c: &mut TcpStream| {
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !got.ends_with(b"\r\n\r\nok\n") {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&got)
        );
    };
    let mut patient = TcpStream::connect(&host).unwrap();
    patient
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    patient.write_all(healthz).unwrap();
    answer(&mut patient);
    let slow = std::thread::spawn(move || {
        let mut c = TcpStream::connect(&host).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let started = Instant::now();
        c.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ").unwrap();
        let mut buf = [0u8; 512];
        while started.elapsed() < Duration::from_secs(59) {
            // A byte a second, until the server cuts the connection.
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => panic!("answered: {}", String::from_utf8_lossy(&buf[..n])),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
            if c.write_all(b"x").is_err() {
                break;
            }
        }
        started.elapsed()
    });
    std::thread::sleep(Duration::from_secs(35));
    patient.write_all(healthz).unwrap();
    answer(&mut patient);
    let cut = slow.join().unwrap();
    assert!(
        (Duration::from_secs(29)..Duration::from_secs(40)).contains(&cut),
        "the trickling request was cut after {cut:?}"
    );
    assert_eq!(e.get("/healthz").0, 200);
    e.stop();
}

/// JSON lines at event time `secs`: `(author, text)` each.
pub fn posts_at(secs: u64, posts: &[(&str, &str)]) -> Vec<String> {
    posts
        .iter()
        .map(|(user, text)| {
            serde_json::json!({"created_at": secs, "user": user, "text": text}).to_string()
        })
        .collect()
}

/// JSON lines for an engine of `--batch 1s --window 3s` in event time from `t`: one post at
/// `t` starts the stream; at `t + 2`, 12 authors write `#日本語`, 11 `#zig`, 10 `#rust` (one
/// as `#Rust`), and one account posts `#spam` 15 times; a post at `t + 3` moves the watermark
/// to the end of the window `[t, t + 3)` only (the windows before it start before the stream
/// and list nothing). Against the floor of 2 expected authors that window's trending list is
/// `#日本語` (12 authors: (12 − 2)² / 2 = 50), `#zig` (40.5), `#rust` (32); `#spam` leads
/// `top` but is one author.
pub fn rising_posts(t: u64) -> Vec<String> {
    let mut lines = posts_at(t, &[("ann", "hello #world")]);
    let mut at = |n: usize, tag: &str| {
        for i in 0..n {
            let user = format!("{tag}-fan-{i}");
            let text = if i == 1 && tag == "#rust" {
                "#Rust!".to_owned()
            } else {
                format!("{tag} today")
            };
            lines.extend(posts_at(t + 2, &[(user.as_str(), text.as_str())]));
        }
    };
    at(12, "#日本語");
    at(11, "#zig");
    at(10, "#rust");
    lines.extend(posts_at(t + 2, &[("bot", "win big #spam"); 15]));
    lines.extend(posts_at(t + 3, &[("fay", "#later")]));
    lines
}

/// `GET /api/trends`: 404 (a JSON error, as `/api/top`) before the first window; then the
/// latest window's trending list with its times, by score descending, equal to the `--out`
/// line's. One account posting `#spam` fifteen times tops the count but is one author, so it
/// never trends.
#[test]
fn api_trends_is_the_latest_windows_trending_list() {
    let e = Engine::start(&[
        "--format",
        "jsonl",
        "--time",
        "event",
        "--author-field",
        "user",
    ]);
    for path in ["/api/trends", "/api/top"] {
        let (status, body) = e.get(path);
        assert_eq!(status, 404, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "no window has been emitted yet", "{path}");
    }
    const T: u64 = 1_700_000_000;
    e.feed(&rising_posts(T));
    e.wait_for("the window [T, T + 3)", |e| {
        e.get("/api/trends").1.contains("2023-11-14T22:13:23Z")
    });
    let trends = e.get_json("/api/trends");
    assert_eq!(
        trends,
        serde_json::json!({
            "window_start": "2023-11-14T22:13:20Z",
            "window_end": "2023-11-14T22:13:23Z",
            "trending": [
                {"rank": 1, "hashtag": "#日本語", "score": 50.0, "count": 12, "expected": 2.0,
                 "authors": 12},
                {"rank": 2, "hashtag": "#zig", "score": 40.5, "count": 11, "expected": 2.0,
                 "authors": 11},
                {"rank": 3, "hashtag": "#rust", "score": 32.0, "count": 10, "expected": 2.0,
                 "authors": 10},
            ],
        })
    );
    let scores: Vec<f64> = trends["trending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|p| p[0] >= p[1]), "{scores:?}");
    let top = e.get_json("/api/top");
    assert_eq!(top["window_end"], trends["window_end"]);
    assert_eq!(top["trending"], trends["trending"]);
    assert_eq!(top["top"][0]["hashtag"], "#spam", "{top}");
    // The same rows as that window's --out line (stopping emits the later windows too).
    let out = e.stop();
    let line = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|w| w["window_end"] == trends["window_end"])
        .unwrap_or_else(|| panic!("no window ending at {} in:\n{out}", trends["window_end"]));
    assert_eq!(line["trending"], trends["trending"]);
}
