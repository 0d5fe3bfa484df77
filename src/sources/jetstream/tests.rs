//! Jetstream against a local WebSocket server speaking its protocol (PROTOCOLS.md §2), and
//! the pure parts (frames, cursor, dedup) on their own.

use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use tungstenite::handshake::server::{Request, Response};
use tungstenite::{Message, WebSocket};

use super::event::{self, Frame};
use super::resume::Resume;
use super::*;
use crate::sources::backoff::FakeSleeper;
use crate::sources::harness::Harness;

const T0: u64 = 1_781_204_403_000_000;
const SEC: u64 = 1_000_000;

fn post(rkey: &str, t: u64, text: &str, facets: &[&str], tags: &[&str]) -> String {
    let facets: Vec<Value> = facets
        .iter()
        .map(|f| {
            json!({"index":{"byteStart":0,"byteEnd":1},"features":[
                {"$type":"app.bsky.richtext.facet#link","uri":"https://example.com"},
                {"$type":"app.bsky.richtext.facet#tag","tag":f}]})
        })
        .collect();
    json!({"did":"did:plc:abc123fakeabc123fakeabc12","time_us":t,"kind":"commit",
        "commit":{"rev":format!("rev{rkey}"),"operation":"create","collection":"app.bsky.feed.post",
        "rkey":rkey,"record":{"$type":"app.bsky.feed.post","createdAt":"2026-06-11T19:00:03.000Z",
        "langs":["en"],"text":text,"facets":facets,"tags":tags},"cid":"bafyfake"}})
    .to_string()
}

fn like(t: u64) -> String {
    json!({"did":"did:plc:x","time_us":t,"kind":"commit","commit":{"rev":"r","operation":"create",
        "collection":"app.bsky.feed.like","rkey":"k","record":{"subject":{"uri":"at://x"}}}})
    .to_string()
}

fn identity(t: u64) -> String {
    json!({"did":"did:plc:x","time_us":t,"kind":"identity","identity":{"did":"did:plc:x",
        "handle":"x.bsky.social","seq":1,"time":"2024-09-05T06:11:04.870Z"}})
    .to_string()
}

fn start(spec: JetstreamSpec, endpoint: &str, sleeper: FakeSleeper) -> Harness {
    Harness::start(
        "jetstream-test",
        endpoint,
        sleeper,
        move |deal, ctx, sleeper| run_with(&spec, deal, ctx, sleeper),
    )
}

fn listen() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    (l, url)
}

/// Accepts one WebSocket client; returns it and the request's path and query.
// The callback's error type (an HTTP response) is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
fn accept(l: &TcpListener) -> (WebSocket<TcpStream>, String) {
    let (s, _) = l.accept().unwrap();
    let mut uri = String::new();
    let ws = tungstenite::accept_hdr(s, |req: &Request, resp: Response| {
        uri = req.uri().to_string();
        Ok(resp)
    })
    .unwrap();
    (ws, uri)
}

fn text(ws: &mut WebSocket<TcpStream>, frames: &[String]) {
    for f in frames {
        ws.send(Message::text(f.as_str())).unwrap();
    }
}

fn texts(posts: &[Value]) -> Vec<&str> {
    posts.iter().map(|p| p["text"].as_str().unwrap()).collect()
}

#[test]
fn resumes_a_few_seconds_back_and_counts_every_post_once() {
    let (l, url) = listen();
    let (uris_tx, uris) = mpsc::channel();
    let a = post("a", T0, "first #Alpha", &[], &[]);
    let c = post(
        "c",
        T0 + 3 * SEC,
        "café #RustLang",
        &["RustLang", "#日本"],
        &["extra", "RUSTLANG"],
    );
    let d = post("d", T0 + 4 * SEC, "fourth", &[], &[]);
    let e = post("e", T0 + 5 * SEC, "fifth #New", &[], &[]);
    let server = std::thread::spawn(move || {
        let (mut ws, uri) = accept(&l);
        uris_tx.send(uri).unwrap();
        let first = [
            a.clone(),
            like(T0 + SEC),
            identity(T0 + 2 * SEC),
            "{not json".into(),
        ];
        text(&mut ws, &first);
        ws.send(Message::binary(vec![1u8, 2, 3])).unwrap();
        text(&mut ws, std::slice::from_ref(&c));
        ws.send(Message::Ping("hb".into())).unwrap();
        // The client answers the ping before anything else happens.
        let pong = loop {
            if let Message::Pong(p) = ws.read().unwrap() {
                break p;
            }
        };
        assert_eq!(&pong[..], b"hb");
        text(&mut ws, std::slice::from_ref(&d));
        drop(ws); // the connection drops without a close frame

        // The client resumes a few seconds back: the server replays what overlaps.
        let (mut ws, uri) = accept(&l);
        uris_tx.send(uri).unwrap();
        text(
            &mut ws,
            &[a, like(T0 + SEC), identity(T0 + 2 * SEC), c, d, e],
        );
        while ws.read().is_ok() {}
    });
    let mut h = start(
        JetstreamSpec::parse("").unwrap(),
        &url,
        FakeSleeper::default(),
    );
    let posts = h.posts(4);
    assert_eq!(
        texts(&posts),
        ["first #Alpha", "café #RustLang", "fourth", "fifth #New"]
    );
    assert_eq!(posts[1]["tags"], json!(["RustLang", "日本", "extra"]));
    assert_eq!(posts[1]["time"], json!((T0 + 3 * SEC) / 1000));
    assert!(posts[0].get("tags").is_none());
    let first_uri = uris.recv().unwrap();
    assert_eq!(
        first_uri,
        "/subscribe?wantedCollections=app.bsky.feed.post&maxMessageSizeBytes=1048576"
    );
    let resumed = uris.recv().unwrap();
    assert!(
        resumed.ends_with(&format!("&cursor={}", T0 + 4 * SEC - 5 * SEC)),
        "{resumed}"
    );
    let k = h.counters("jetstream");
    let slept = h.stop();
    server.join().unwrap();
    assert_eq!(k.records.load(Relaxed), 4);
    assert_eq!(k.skipped("duplicate"), 3);
    assert_eq!(k.skipped("bad_frame"), 2);
    assert_eq!(k.reconnects.load(Relaxed), 1);
    assert_eq!(k.connected.load(Relaxed), 0);
    assert_eq!(slept, [Duration::from_secs(1)]);
}

#[test]
fn a_silent_server_is_pinged_then_left_for_a_new_connection() {
    let (l, url) = listen();
    let p1 = post("p1", T0, "one #a", &[], &[]);
    let p2 = post("p2", T0 + SEC, "two #b", &[], &[]);
    let server = std::thread::spawn(move || {
        let (mut ws, _) = accept(&l);
        text(&mut ws, std::slice::from_ref(&p1));
        // Silent until the client gives up and connects again.
        let (mut ws2, uri) = accept(&l);
        assert!(uri.contains(&format!("cursor={}", T0 - 5 * SEC)), "{uri}");
        text(&mut ws2, &[p1, p2]);
        // Before leaving, the client pinged the silent server.
        let mut pinged = false;
        while let Ok(m) = ws.read() {
            pinged |= m.is_ping();
        }
        assert!(pinged, "no ping on the silent connection");
        while ws2.read().is_ok() {}
    });
    let spec = JetstreamSpec::parse("?stall=3s").unwrap();
    let mut h = start(spec, &url, FakeSleeper::default());
    assert_eq!(texts(&h.posts(2)), ["one #a", "two #b"]);
    let k = h.counters("jetstream");
    h.stop();
    server.join().unwrap();
    assert_eq!(k.reconnects.load(Relaxed), 1);
    assert_eq!(k.skipped("duplicate"), 1);
}

#[test]
fn refused_connections_back_off_exponentially_to_a_cap() {
    let (l, url) = listen();
    drop(l); // nothing listens there now: every connect is refused
    let h = start(
        JetstreamSpec::parse("").unwrap(),
        &url,
        FakeSleeper {
            stop_after: Some(8),
            ..FakeSleeper::default()
        },
    );
    let slept = h.finished();
    let secs: Vec<u64> = slept.iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
    assert!(h.ctx.failure().is_none());
}

#[test]
fn busy_and_rate_limited_upgrades_back_off_on_virtual_time() {
    let (l, url) = listen();
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let answers: [&[u8]; 5] = [
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        ];
        for answer in answers {
            let Ok((s, _)) = l.accept() else { return };
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = (&s).write_all(answer);
        }
    });
    let h = start(
        JetstreamSpec::parse("").unwrap(),
        &url,
        FakeSleeper {
            stop_after: Some(5),
            ..FakeSleeper::default()
        },
    );
    let slept = h.finished();
    let secs: Vec<u64> = slept.iter().map(|d| d.as_secs()).collect();
    // 503 and 429 are worth retrying (not fatal), on the same exponential schedule.
    assert_eq!(secs, [1, 2, 4, 8, 16]);
    assert!(h.ctx.failure().is_none());
}

#[test]
fn a_refused_upgrade_ends_the_run_with_one_line() {
    let (l, url) = listen();
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let (s, _) = l.accept().unwrap();
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        (&s).write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    });
    let h = start(
        JetstreamSpec::parse("").unwrap(),
        &url,
        FakeSleeper::default(),
    );
    let slept = h.finished();
    assert!(slept.is_empty());
    let msg = h.ctx.failure().unwrap();
    assert!(msg.contains("401 Unauthorized"), "{msg}");
    assert!(msg.contains("needs no credentials"), "{msg}");
    assert!(!msg.contains('\n'));
}

/// A post whose text was cut inside an emoji (its JSON escapes half a surrogate pair) counts,
/// with U+FFFD for the half, as a JSON line's record does; it was skipped as bad.
#[test]
fn a_lone_surrogate_is_replaced_not_skipped() {
    let cut = post("k", T0, "cut HALF #x", &["x"], &[]).replace("HALF", "\\ud83d");
    assert!(cut.contains(r"cut \ud83d #x"), "{cut}");
    match event::parse(&cut) {
        Frame::Post { post, .. } => {
            assert_eq!(post.text, "cut \u{FFFD} #x");
            assert_eq!(post.tags, ["x"]);
        }
        f => panic!("{f:?}"),
    }
}

#[test]
fn frames() {
    match event::parse(&post(
        "k",
        T0 + 1234,
        "hi #x",
        &["x", "Y", "y"],
        &["#z", "", "x"],
    )) {
        Frame::Post { time_us, post, .. } => {
            assert_eq!(time_us, T0 + 1234);
            assert_eq!(post.time, Some((T0 + 1234) / 1000));
            assert_eq!(post.tags, ["x", "Y", "z"]);
        }
        f => panic!("{f:?}"),
    }
    // The same commit has the same key; another rkey another.
    let key = |s: &str| match event::parse(s) {
        Frame::Post { key, .. } => key,
        f => panic!("{f:?}"),
    };
    assert_eq!(
        key(&post("k", T0, "a", &[], &[])),
        key(&post("k", T0 + 9, "a", &[], &[]))
    );
    assert_ne!(
        key(&post("k", T0, "a", &[], &[])),
        key(&post("j", T0, "a", &[], &[]))
    );
    let other = |s: &str| assert!(matches!(event::parse(s), Frame::Other { .. }), "{s}");
    other(&like(T0));
    other(&identity(T0));
    other(&post("k", T0, "a", &[], &[]).replace("\"create\"", "\"update\""));
    other(
        r#"{"did":"d","time_us":5,"kind":"commit","commit":{"operation":"delete","collection":"app.bsky.feed.post","rkey":"k"}}"#,
    );
    other(r#"{"did":"d","time_us":5,"kind":"account","account":{"active":true},"cursor":99}"#);
    for bad in [
        "",
        "[]",
        "null",
        r#"{"kind":"commit"}"#,
        r#"{"time_us":"x","kind":"commit"}"#,
        r#"{"time_us":5,"kind":"commit"}"#,
        r#"{"time_us":5,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post"}}"#,
        r#"{"time_us":5,"kind":"commit","commit":{"operation":"create","collection":"app.bsky.feed.post","record":{"text":7}}}"#,
    ] {
        assert_eq!(event::parse(bad), Frame::Bad, "{bad}");
    }
}

#[test]
fn cursor_and_duplicates() {
    let mut r = Resume::new(None, Duration::from_secs(5));
    assert_eq!(r.cursor(), None);
    assert!(r.first_time(1, T0));
    r.saw(T0 + 10 * SEC);
    assert_eq!(r.cursor(), Some(T0 + 5 * SEC));
    assert!(
        !r.first_time(1, T0 + 11 * SEC),
        "same key, another time: a replay"
    );
    // Keys older than rewind + 60 s of stream time are forgotten.
    assert!(r.first_time(2, T0 + 100 * SEC));
    assert_eq!(r.remembered(), 1);
    let started = Resume::new(Some(T0), Duration::from_secs(5));
    assert_eq!(started.cursor(), Some(T0));
    // One event stamped far in the future (a broken server) does not fix the cursor there:
    // a real Jetstream reads a future cursor as the live tail, and would replay nothing.
    let mut r = Resume::new(None, Duration::from_secs(5));
    r.saw(T0);
    r.saw(3_999_999_999_999_999_999);
    assert!(r.first_time(9, 4_000_000_000_000_000_000));
    assert_eq!(r.cursor(), Some(T0 - 5 * SEC));
}

#[test]
fn uris() {
    let s = JetstreamSpec::parse("").unwrap();
    assert_eq!(s.host, DEFAULT_HOST);
    assert_eq!(
        (s.rewind, s.stall),
        (Duration::from_secs(5), Duration::from_secs(60))
    );
    assert_eq!(
        s.url(None, Some(7)),
        "wss://jetstream2.us-east.bsky.network/subscribe?wantedCollections=app.bsky.feed.post\
         &maxMessageSizeBytes=1048576&cursor=7"
    );
    let s = JetstreamSpec::parse("jetstream1.us-west.bsky.network/?cursor=12&rewind=2s").unwrap();
    assert_eq!(s.host, "jetstream1.us-west.bsky.network");
    assert_eq!((s.cursor, s.rewind), (Some(12), Duration::from_secs(2)));
    assert!(s
        .url(Some("ws://127.0.0.1:9/subscribe/"), None)
        .starts_with("ws://127.0.0.1:9/subscribe?wantedCollections="));
    assert!(JetstreamSpec::parse("?cursor=soon")
        .unwrap_err()
        .contains("microseconds"));
    assert!(JetstreamSpec::parse("?rewind=x").is_err());
    assert!(JetstreamSpec::parse("?compress=true")
        .unwrap_err()
        .contains("unknown"));
}

/// A server that answers the upgrade a byte at a time, each well within the read timeout,
/// with a head that never ends.
fn trickling_server(l: TcpListener) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut req = [0u8; 4096];
        let _ = std::io::Read::read(&mut s, &mut req);
        // A valid head that never ends: a header value a byte at a time, each well within
        // the read timeout.
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-Pad: ";
        let trickle = head.iter().chain(std::iter::repeat_n(&b'a', 500));
        for &b in trickle {
            if std::io::Write::write_all(&mut s, &[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the client never gave up");
    })
}

#[test]
fn a_handshake_trickled_a_byte_at_a_time_is_cut_at_its_deadline() {
    let (l, url) = listen();
    let server = trickling_server(l);
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let Err(ConnectError::Retry(e)) = connect(&url, Duration::from_millis(500), &stop) else {
        panic!("the handshake did not fail as worth retrying");
    };
    assert!(e.contains("handshake took longer than 0.5 s"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.join().unwrap();
}

#[test]
fn a_stop_cuts_a_handshake_in_progress() {
    let (l, url) = listen();
    let server = trickling_server(l);
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Relaxed);
        })
    };
    let started = Instant::now();
    assert!(connect(&url, Duration::from_secs(30), &stop).is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    stopper.join().unwrap();
    server.join().unwrap();
}
