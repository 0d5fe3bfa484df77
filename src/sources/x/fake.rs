//! A local fake of the X API v2 filtered stream, for tests only (std + serde_json, no crate
//! items, so the integration tests include this same file with `#[path]`).
//!
//! It speaks HTTP/1.1 one request per connection: the rules endpoints keep a rule list; the
//! stream replies with the next scripted [`Conn`] (chunked transfer encoding, each
//! [`Step::Chunk`] one HTTP chunk), and once the script is used up, a stream that sends a
//! heartbeat `\r\n` every 50 ms. A wrong bearer token gets 401 everywhere; opening the stream
//! with no rules gets 409, as X does.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One stream connection's script.
pub enum Conn {
    /// 200, then these steps.
    Stream(Vec<Step>),
    /// Any status, with headers and a body.
    Status(u16, Vec<(String, String)>, String),
}

/// One step of a scripted stream.
pub enum Step {
    /// One HTTP chunk.
    Chunk(Vec<u8>),
    /// Send nothing for a while (a stall, as the client sees it).
    Pause(Duration),
    /// Drop the connection abruptly (no final chunk).
    Close,
    /// End the body properly (final chunk) and close.
    End,
}

/// A stream rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub id: String,
    pub value: String,
    pub tag: String,
}

/// What the fake holds and saw.
#[derive(Default)]
pub struct State {
    pub token: String,
    pub rules: Vec<Rule>,
    pub next_id: u64,
    pub conns: VecDeque<Conn>,
    /// "METHOD PATH" of every request.
    pub requests: Vec<String>,
    /// Bodies of rule POSTs.
    pub posts: Vec<String>,
    /// Stream connections answered with 200.
    pub streams: usize,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

/// The running fake; stops when dropped.
pub struct FakeX {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Shared>,
}

impl FakeX {
    /// Starts a fake that accepts `token`.
    pub fn start(token: &str) -> FakeX {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        l.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                token: token.to_owned(),
                next_id: 1_796_000_000_000_000_001,
                ..State::default()
            }),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            while !s.stop.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let s = s.clone();
                        std::thread::spawn(move || serve(c, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FakeX { url, shared }
    }

    /// Queues a script for the next stream connection.
    pub fn script(&self, c: Conn) -> &Self {
        self.state().conns.push_back(c);
        self
    }

    /// Adds a rule as if made earlier (by us or another tool).
    pub fn add_rule(&self, value: &str, tag: &str) {
        let mut s = self.state();
        let id = s.next_id.to_string();
        s.next_id += 1;
        s.rules.push(Rule {
            id,
            value: value.into(),
            tag: tag.into(),
        });
    }

    /// The state, locked.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (up to 20 s) until `pred` holds.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&State) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if pred(&self.state()) {
                return;
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
        panic!("fake X: no {what} within 20 s");
    }
}

impl Drop for FakeX {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// A post as the stream sends it (one JSON line, without the ending).
pub fn tweet(id: u64, text: &str, created_at: &str, tags: &[&str]) -> String {
    let hashtags: Vec<_> = tags
        .iter()
        .map(|t| serde_json::json!({"start": 0, "end": 1, "tag": t}))
        .collect();
    serde_json::json!({
        "data": {"id": id.to_string(), "text": text, "created_at": created_at,
                 "edit_history_tweet_ids": [id.to_string()],
                 "entities": {"hashtags": hashtags}},
        "matching_rules": [{"id": "1796000000000000001", "tag": "tagstream"}]
    })
    .to_string()
}

/// Frames (each followed by `\r\n`, with a heartbeat after every second one) cut into
/// chunks of `piece` bytes, so frames and even `\r\n` endings are split across chunks.
pub fn frames(lines: &[String], piece: usize) -> Vec<Step> {
    let mut bytes = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        bytes.extend_from_slice(l.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        if i % 2 == 1 {
            bytes.extend_from_slice(b"\r\n");
        }
    }
    bytes
        .chunks(piece.max(1))
        .map(|c| Step::Chunk(c.to_vec()))
        .collect()
}

fn serve(mut c: TcpStream, s: &Shared) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let Some((method, path, auth, body)) = read_request(&c) else {
        return;
    };
    let conn = {
        let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
        st.requests.push(format!("{method} {path}"));
        if auth != format!("Bearer {}", st.token) {
            let b = r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#;
            Conn::Status(401, vec![], b.into())
        } else if path.starts_with("/2/tweets/search/stream/rules") {
            rules(&mut st, &method, &body)
        } else if path.starts_with("/2/tweets/search/stream") {
            if st.rules.is_empty() {
                let b = r#"{"title":"ConnectionException","detail":"Stream has no rules","type":"https://api.x.com/2/problems/streaming-connection"}"#;
                Conn::Status(409, vec![], b.into())
            } else {
                let next = st.conns.pop_front();
                if !matches!(next, Some(Conn::Status(..))) {
                    st.streams += 1;
                }
                next.unwrap_or(Conn::Stream(Vec::new()))
            }
        } else {
            Conn::Status(404, vec![], r#"{"title":"Not Found"}"#.into())
        }
    };
    let _ = respond(&mut c, conn, s);
}

fn read_request(c: &TcpStream) -> Option<(String, String, String, String)> {
    let mut r = BufReader::new(c);
    let mut first = String::new();
    r.read_line(&mut first).ok()?;
    let mut parts = first.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let (mut auth, mut len) = (String::new(), 0usize);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "authorization" => auth = v.trim().to_owned(),
                "content-length" => len = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((
        method,
        path,
        auth,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

fn rules(st: &mut State, method: &str, body: &str) -> Conn {
    use serde_json::{json, Value};
    let rule_json = |r: &Rule| json!({"id": r.id, "value": r.value, "tag": r.tag});
    if method == "GET" {
        let data: Vec<_> = st.rules.iter().map(rule_json).collect();
        let n = data.len();
        let reply = if n == 0 {
            json!({"meta": {"sent": "2026-06-11T18:59:00.000Z", "result_count": 0}})
        } else {
            json!({"data": data, "meta": {"sent": "2026-06-11T18:59:00.000Z", "result_count": n}})
        };
        return Conn::Status(200, vec![], reply.to_string());
    }
    st.posts.push(body.to_owned());
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let (mut added, mut errors, mut deleted) = (Vec::new(), Vec::new(), 0);
    if let Some(ids) = v["delete"]["ids"].as_array() {
        let before = st.rules.len();
        st.rules
            .retain(|r| !ids.iter().any(|i| i.as_str() == Some(&r.id)));
        deleted = before - st.rules.len();
    }
    for a in v["add"].as_array().into_iter().flatten() {
        let value = a["value"].as_str().unwrap_or("").to_owned();
        if st.rules.iter().any(|r| r.value == value) {
            errors.push(json!({"value": value, "id": "1", "title": "DuplicateRule",
                "type": "https://api.x.com/2/problems/duplicate-rules"}));
            continue;
        }
        let r = Rule {
            id: st.next_id.to_string(),
            value,
            tag: a["tag"].as_str().unwrap_or("").to_owned(),
        };
        st.next_id += 1;
        added.push(rule_json(&r));
        st.rules.push(r);
    }
    let summary = json!({"created": added.len(), "not_created": errors.len(),
        "deleted": deleted, "not_deleted": 0});
    let reply = json!({"data": added, "errors": errors, "meta": {"summary": summary}});
    Conn::Status(201, vec![], reply.to_string())
}

fn respond(c: &mut TcpStream, conn: Conn, s: &Shared) -> std::io::Result<()> {
    match conn {
        Conn::Status(code, headers, body) => {
            let mut head = format!(
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            c.write_all(head.as_bytes())?;
            c.write_all(body.as_bytes())
        }
        Conn::Stream(steps) => {
            c.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
            )?;
            let chunk = |c: &mut TcpStream, b: &[u8]| -> std::io::Result<()> {
                c.write_all(format!("{:x}\r\n", b.len()).as_bytes())?;
                c.write_all(b)?;
                c.write_all(b"\r\n")?;
                c.flush()
            };
            for step in steps {
                match step {
                    Step::Chunk(b) => chunk(c, &b)?,
                    Step::Pause(d) => std::thread::sleep(d),
                    Step::Close => return c.shutdown(std::net::Shutdown::Both),
                    Step::End => return c.write_all(b"0\r\n\r\n"),
                }
            }
            // Script done: heartbeats until the client goes or the fake stops.
            while !s.stop.load(Ordering::SeqCst) {
                chunk(c, b"\r\n")?;
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        }
    }
}
