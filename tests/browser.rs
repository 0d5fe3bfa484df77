//! The live dashboard in headless Chromium, driven over the Chrome DevTools Protocol: the
//! bars in the DOM equal `/api/top`, the chart follows new input without a reload, and the
//! page's receipt times give the window-close → browser latency. Saves a screenshot.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{connect, Message};

use crate::http::Engine;
use crate::util::burst;
use crate::util::TempDir;

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
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
    let Some(exe) = chromium() else {
        eprintln!("SKIP: chromium is not installed (.ci/run installs it)");
        return;
    };
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

    let shot = b.call("Page.captureScreenshot", json!({"format": "png"}));
    let png = base64_decode(shot["data"].as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, &png).unwrap();

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
