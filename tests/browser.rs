//! The live dashboard in headless Chromium, driven over the Chrome DevTools Protocol: the
//! bars in the DOM equal `/api/top`, the chart follows new input without a reload, and the
//! page's receipt times give the window-close → browser latency; on `tagstream demo`, the
//! "Trending now" panel equals `/api/trends` and moves with the generator's schedule of
//! rising tags. Saves screenshots.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tagstream::sources::generator;
use tungstenite::{connect, Message};

use crate::http::{addr_after, request, Engine};
use crate::util::{bin, burst, TempDir};

/// Chromium, if installed. Missing, the tests skip, except under CI (`.ci/run` installs it),
/// where that is a failure.
fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed under CI (.ci/run installs it)"
        );
        eprintln!("SKIP: chromium is not installed (.ci/run installs it)");
    }
    found
}

/// A headless Chromium on a fresh profile, and a DevTools connection to its page.
struct Browser {
    child: Child,
    ws: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    next_id: u64,
    _profile: TempDir,
}

impl Browser {
    fn open(exe: &Path, url: &str) -> Browser {
        let profile = TempDir::new("chromium");
        let child = Command::new(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1400,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        // Chromium writes its DevTools port (first line) once it listens.
        let port_file = profile.path("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            let text = std::fs::read_to_string(&port_file).unwrap_or_default();
            if let Some(p) = text
                .lines()
                .next()
                .and_then(|l| l.trim().parse::<u16>().ok())
            {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "chromium wrote no DevToolsActivePort"
            );
            std::thread::park_timeout(Duration::from_millis(50));
        };
        let page_ws = loop {
            let (_, body) = crate::http::request(
                &format!("http://127.0.0.1:{port}"),
                "GET",
                "/json/list",
                None,
            );
            let targets: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let page = targets.as_array().and_then(|t| {
                t.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_owned))
            });
            if let Some(ws) = page {
                break ws;
            }
            assert!(Instant::now() < deadline, "no page target: {body}");
            std::thread::park_timeout(Duration::from_millis(50));
        };
        let (ws, _) = connect(page_ws.as_str()).expect("DevTools WebSocket");
        if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
            // A page that never answers fails the test instead of hanging it.
            tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        }
        Browser {
            child,
            ws,
            next_id: 1,
            _profile: profile,
        }
    }

    /// Sends one DevTools command and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(msg)).unwrap();
        loop {
            let m = self.ws.read().expect("DevTools message");
            let Ok(text) = m.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates JavaScript in the page; returns its value.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        r["result"]["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const BARS: &str = "JSON.stringify([...document.querySelectorAll('#bars .bar')]\
                    .map(e => [e.dataset.hashtag, Number(e.dataset.count)]))";

/// The bars in the DOM as `[(hashtag, count)]`.
fn dom_bars(b: &mut Browser) -> Vec<(String, u64)> {
    let text = b.eval(BARS);
    serde_json::from_str(text.as_str().unwrap_or("[]")).unwrap_or_default()
}

/// Waits until the DOM's bars equal `/api/top` (read before and after, unchanged) and
/// satisfy `want`.
fn wait_bars_equal_top(e: &Engine, b: &mut Browser, want: impl Fn(&[(String, u64)]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let before = e.get("/api/top").1;
        let dom = dom_bars(b);
        let after = e.get("/api/top").1;
        if before == after && !dom.is_empty() && want(&dom) {
            let top = crate::util::top(&serde_json::from_str(&after).unwrap());
            if dom == top {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "DOM bars {dom:?} never equalled /api/top {after}"
        );
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

#[test]
fn dashboard_shows_the_top_and_follows_new_windows_without_reloading() {
    let Some(exe) = chromium() else { return };
    let e = Engine::start(&[]);
    // Phase 1: #rust leads; phase 2: #zig and #한국어 rise past it.
    let phase2 = Arc::new(AtomicBool::new(false));
    let p2 = phase2.clone();
    e.feed_steadily(move || {
        if p2.load(Ordering::SeqCst) {
            burst(&[("#zig", 6), ("#한국어", 4), ("#rust", 1)])
        } else {
            burst(&[("#rust", 3), ("#日本語", 2), ("#go", 1)])
        }
    });
    e.wait_for_top();
    let mut b = Browser::open(&exe, &format!("{}/", e.url));
    wait_bars_equal_top(&e, &mut b, |d| d[0].0 == "#rust");
    assert_eq!(
        b.eval("document.querySelector('#bars .bar .label').textContent"),
        "#rust"
    );
    assert!(
        dom_bars(&mut b).iter().any(|(t, _)| t == "#日本語"),
        "non-Latin tag shown"
    );

    b.eval("window.__marker = 1; window.__latencies = []; 1");
    phase2.store(true, Ordering::SeqCst);
    wait_bars_equal_top(&e, &mut b, |d| d[0].0 == "#zig");
    assert_eq!(b.eval("window.__marker"), 1, "the page was not reloaded");
    let ranks = b.eval("document.querySelectorAll('#ranks path.tagline').length");
    assert!(
        ranks.as_u64().unwrap() >= 3,
        "rank-over-time lines: {ranks}"
    );
    // Let the counters poll once more before the screenshot.
    b.eval("new Promise(r => setTimeout(() => r(1), 2100))");

    let path = screenshot(&mut b, "dashboard.png");

    // Window end → event handled in the page, per window since phase 2 began.
    let lat: Vec<f64> = serde_json::from_value(b.eval("window.__latencies")).unwrap();
    let metrics = e.get("/metrics").1;
    let stat = |name: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(name)).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let engine_lag = stat("tagstream_window_emit_lag_seconds_sum ")
        / stat("tagstream_window_emit_lag_seconds_count ")
        * 1000.0;
    let mut sorted = lat.clone();
    sorted.sort_by(f64::total_cmp);
    if let (Some(min), Some(max)) = (sorted.first(), sorted.last()) {
        eprintln!(
            "dashboard latency, window end → browser: median {:.0} ms, min {min:.0}, max {max:.0} \
             over {} windows (engine emit lag mean {engine_lag:.0} ms); screenshot {}",
            sorted[sorted.len() / 2],
            sorted.len(),
            path.display()
        );
    }
    drop(b);
    e.stop();
}

/// Saves a screenshot of the page as `name` in the tests' target folder; returns its path.
fn screenshot(b: &mut Browser, name: &str) -> PathBuf {
    let shot = b.call("Page.captureScreenshot", json!({"format": "png"}));
    let png = base64_decode(shot["data"].as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, &png).unwrap();
    path
}

/// `tagstream demo` on an HTTP port of its own, with an in-memory database and no terminal
/// chart; its address read from stderr.
struct Demo {
    child: Child,
    url: String,
    stderr: Arc<Mutex<String>>,
}

impl Demo {
    fn start(extra: &[&str]) -> Demo {
        let mut child = bin()
            .args([
                "demo",
                "--http",
                "127.0.0.1:0",
                "--tui",
                "off",
                "--db",
                ":memory:",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tagstream demo starts");
        let stderr = crate::util::collect_stderr(&mut child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            let text = stderr.lock().unwrap().clone();
            if let Some(addr) = addr_after(&text, "http://") {
                break format!("http://{addr}");
            }
            assert!(Instant::now() < deadline, "no address on stderr:\n{text}");
            std::thread::park_timeout(Duration::from_millis(20));
        };
        Demo { child, url, stderr }
    }

    fn get(&self, path: &str) -> (u16, String) {
        request(&self.url, "GET", path, None)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One row of the trending panel, or of `/api/trends`: hashtag, score, count, expected,
/// authors.
type TrendRow = (String, f64, u64, f64, Option<u64>);

/// The rows of `/api/trends`'s body.
fn api_trends(body: &str) -> Vec<TrendRow> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["trending"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r["hashtag"].as_str().unwrap_or_default().to_owned(),
                        r["score"].as_f64().unwrap_or(f64::NAN),
                        r["count"].as_u64().unwrap_or(0),
                        r["expected"].as_f64().unwrap_or(f64::NAN),
                        r["authors"].as_u64(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A burst of `gen --truth`: tag (as counted), start, peak start, peak end (ms).
type Burst = (String, u64, u64, u64);

/// The bursts of `gen --truth` and its evergreen tags, for the stream of `count` tweets from `start` 10 ms apart.
fn truth(dir: &TempDir, start: &str, count: u64) -> (Vec<Burst>, Vec<String>) {
    let path = dir.path("truth.jsonl");
    let status = bin()
        .args([
            "gen",
            "--format",
            "jsonl",
            "--time-step",
            "10ms",
            "--start",
            start,
        ])
        .args(["--count", &count.to_string(), "--truth"])
        .arg(&path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let ms = |v: &Value| tagstream::time::parse_time_ms(v.as_str().unwrap()).unwrap();
    let (mut bursts, mut evergreen) = (Vec::new(), Vec::new());
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(tag) = v["burst"].as_str() {
            let peak = (ms(&v["peak_start"]), ms(&v["peak_end"]));
            bursts.push((tag.to_owned(), ms(&v["start"]), peak.0, peak.1));
        } else if let Some(tags) = v["evergreen"].as_array() {
            evergreen = tags
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect();
        }
    }
    assert!(
        bursts.len() > 5 && !evergreen.is_empty(),
        "truth: {bursts:?}"
    );
    (bursts, evergreen)
}

/// What the trending panel shows: the end of its window, and its rows in its order.
const PANEL: &str = "JSON.stringify([document.getElementById('trends').dataset.windowEnd || '', \
                     [...document.querySelectorAll('#trends .trend')]\
                     .map(e => [e.dataset.hashtag, Number(e.dataset.score), \
                     Number(e.dataset.count), Number(e.dataset.expected), \
                     e.dataset.authors === '' ? null : Number(e.dataset.authors)])])";

/// Issue 14: the demo's "Trending now" panel moves with the generator's rising tags. The
/// demo (its 10 s windows sliding every second) runs its generator in event time at 30× (3000
/// tweets/s, 10 ms apart: a burst every 4 s), so the test takes seconds. For every window the
/// panel shows (updated by the event stream, without a reload), its rows equal that window's
/// `trending` in `/api/windows`; the single-author spammer is never in it and the evergreen
/// tags never in its top 3; and in every window that lies within a burst's peak (as `gen
/// --truth` gives it; bursts after a warm-up of two window lengths, as `bench/trends_eval.py`
/// counts) the bursting tag is first. It must see several bursts, led by different tags.
#[test]
fn demo_trending_panel_moves_with_the_rising_tags() {
    let Some(exe) = chromium() else { return };
    const START: &str = "2026-02-01T00:00:00Z";
    let dir = TempDir::new("browser-trends");
    let (bursts, evergreen) = truth(&dir, START, 360_000);
    let source = format!("gen://?rate=3000&seed=42&start={START}&step=10ms");
    let demo = Demo::start(&["--source", &source, "--time", "event"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while demo.get("/api/trends").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "no window; stderr:\n{}",
            demo.stderr.lock().unwrap()
        );
        std::thread::park_timeout(Duration::from_millis(50));
    }
    let mut b = Browser::open(&exe, &format!("{}/", demo.url));
    let mut marked = false;
    let spam = format!("#{}", generator::SPAM_TAG).to_lowercase();
    // The warm-up of bench/trends_eval.py: two window lengths after the first window's end.
    let start_ms = tagstream::time::parse_time_ms(START).unwrap();
    let warm_end = start_ms + 1_000 + 2 * 10_000;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    let (mut seen, mut in_bursts) = (0, 0);
    let mut leaders: Vec<String> = Vec::new();
    let mut last_end = String::new();
    loop {
        // Nothing (not a string) while the page is still loading.
        let panel = b.eval(PANEL);
        let (end, rows): (String, Vec<TrendRow>) = match panel.as_str() {
            Some(text) => serde_json::from_str(text).unwrap(),
            None => Default::default(),
        };
        if !marked && panel.is_string() {
            // Loaded: a reload would lose this.
            b.eval("window.__marker = 1; 1");
            marked = true;
        }
        if !end.is_empty() && end != last_end {
            last_end = end.clone();
            seen += 1;
            let end_ms = tagstream::time::parse_time_ms(&end).unwrap();
            // The same rows as the engine's window of that end.
            let (status, body) =
                demo.get(&format!("/api/windows?since={}", end_ms.saturating_sub(1)));
            assert_eq!(status, 200, "{body}");
            let list: Value = serde_json::from_str(&body).unwrap();
            let w = &list[0];
            assert_eq!(w["window_end"], end.as_str(), "{body}");
            assert_eq!(rows, api_trends(&w.to_string()), "window ending {end}");
            let tags: Vec<String> = rows.iter().map(|r| r.0.to_lowercase()).collect();
            assert!(
                !tags.contains(&spam),
                "the spammer trends at {end}: {tags:?}"
            );
            for t in tags.iter().take(3) {
                assert!(
                    !evergreen.contains(t),
                    "evergreen {t} in the top 3 at {end}: {tags:?}"
                );
            }
            assert!(
                rows.iter().all(|r| r.4.is_some_and(|a| a >= 3 && a <= r.2)),
                "the generator names authors: {rows:?}"
            );
            let start = tagstream::time::parse_time_ms(w["window_start"].as_str().unwrap());
            let start = start.unwrap();
            let bursting = bursts
                .iter()
                .find(|(_, s, p0, p1)| *s >= warm_end && *p0 <= start && end_ms <= *p1);
            if let Some((tag, ..)) = bursting {
                assert_eq!(
                    tags.first(),
                    Some(tag),
                    "at {end} the truth says {tag} bursts: {rows:?}"
                );
                in_bursts += 1;
                if leaders.last() != Some(tag) {
                    leaders.push(tag.clone());
                }
            }
        }
        if in_bursts >= 10 && leaders.len() >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {:?}: {seen} windows shown, {in_bursts} in bursts, led by {leaders:?}; \
             stderr:\n{}",
            started.elapsed(),
            demo.stderr.lock().unwrap()
        );
        std::thread::park_timeout(Duration::from_millis(100));
    }
    assert_eq!(b.eval("window.__marker"), 1, "the page was not reloaded");
    // What a reader sees in a row: its tag, and its authors, posts and usual level.
    let row = b.eval(
        "(() => { const e = document.querySelector('#trends .trend'); return e && \
         [e.dataset.hashtag, e.querySelector('.tag').textContent, \
          e.querySelector('.detail').textContent]; })()",
    );
    if !row.is_null() {
        assert_eq!(row[0], row[1], "{row}");
        let detail = row[2].as_str().unwrap_or_default();
        assert!(
            detail.contains(" authors · ") && detail.contains(" posts · usual "),
            "{row}"
        );
    }
    let path = screenshot(&mut b, "dashboard-trends.png");
    eprintln!(
        "trending panel: {seen} windows in {:.1?}, {in_bursts} in bursts, led by {leaders:?}; \
         screenshot {}",
        started.elapsed(),
        path.display()
    );
}

/// Standard base64 (the screenshot), without a dependency for it.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= u32::from(val(*c)) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
