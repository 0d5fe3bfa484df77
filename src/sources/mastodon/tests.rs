//! Mastodon against a local HTTP server streaming `text/event-stream` (chunked, events split
//! mid-line across chunks, heartbeats), and the SSE parser and HTML conversion on their own.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::sources::backoff::FakeSleeper;
use crate::sources::harness::Harness;

const TOKEN: &str = "tok-SECRET-123";

fn status(id: u32, content: &str, tags: &[&str]) -> String {
    let tags: Vec<Value> = tags
        .iter()
        .map(|t| json!({"name": t, "url": "x"}))
        .collect();
    json!({"id": id.to_string(), "created_at": "2026-06-11T19:00:03.000Z", "visibility": "public",
        "content": content, "reblog": null, "account": {"id": "1", "acct": "fan"}, "tags": tags,
        "mentions": [], "emojis": [], "media_attachments": []})
    .to_string()
}

fn start(uri: &str, endpoint: &str, token: Option<&str>, sleeper: FakeSleeper) -> Harness {
    let spec = MastodonSpec::parse(uri).unwrap();
    let token = token.map(Secret::new);
    Harness::start(
        "mastodon-test",
        endpoint,
        sleeper,
        move |deal, ctx, sleeper| run_with(&spec, token, deal, ctx, sleeper),
    )
}

fn listen() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

/// Accepts one client and reads its request head (lines, lower-cased header names).
fn accept(l: &TcpListener) -> (TcpStream, Vec<String>) {
    let (s, _) = l.accept().unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        head.push(line.trim_end().to_owned());
    }
    (s, head)
}

fn respond(s: &mut TcpStream, status: &str, extra: &str) {
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
         Transfer-Encoding: chunked\r\n{extra}\r\n"
    )
    .unwrap();
}

/// One HTTP chunk, flushed on its own (so the client sees the split).
fn chunk(s: &mut TcpStream, data: &str) {
    write!(s, "{:x}\r\n{data}\r\n", data.len()).unwrap();
    s.flush().unwrap();
}

fn texts(posts: &[Value]) -> Vec<&str> {
    posts.iter().map(|p| p["text"].as_str().unwrap()).collect()
}

#[test]
fn streams_updates_split_anywhere_and_reconnects_after_a_drop() {
    let (l, url) = listen();
    let (heads_tx, heads) = mpsc::channel();
    let first = status(
        1,
        "<p>Match day! <a href=\"https://example.social/tags/football\" class=\"mention hashtag\" \
         rel=\"tag\">#<span>Football</span></a></p>",
        &["FOOTBALL"],
    );
    let second = status(
        2,
        "<p>a &amp; b &lt;3 &#x1F600; &#39;q&#39;</p><p>#Second</p>",
        &[],
    );
    let (a, b) = (first[..40].to_owned(), first[40..].to_owned());
    let (c, d) = (second[..30].to_owned(), second[30..].to_owned());
    let server = std::thread::spawn(move || {
        let (mut s, head) = accept(&l);
        heads_tx.send(head).unwrap();
        respond(&mut s, "200 OK", "");
        chunk(&mut s, ":)\n");
        chunk(&mut s, "retry: 50\nevent: upd");
        chunk(&mut s, &format!("ate\ndata: {a}"));
        chunk(
            &mut s,
            &format!("{b}\n\n:thump\nevent: delete\ndata: 1\n\n"),
        );
        // One status over two `data:` lines (joined with \n), with \r\n endings.
        chunk(
            &mut s,
            &format!("event: update\r\ndata: {c}\r\ndata: {d}\r"),
        );
        chunk(&mut s, "\n\r\nevent: update\ndata: {not json\n\n");
        chunk(&mut s, &format!("event: status.update\ndata: {first}\n\n"));
        chunk(&mut s, "event: filters_changed\ndata: undefined\n\n");
        // The body ends cleanly, and the connection stays open, as a keep-alive server
        // leaves it: the reconnection must still be a new connection (a pooled one could
        // be closed by the time it is reused, a failure that costs a backoff step).
        s.write_all(b"0\r\n\r\n").unwrap();
        let first = s;
        let (mut s, head) = accept(&l);
        heads_tx.send(head).unwrap();
        respond(&mut s, "200 OK", "");
        chunk(
            &mut s,
            &format!(":)\nevent: update\ndata: {}\n\n", status(3, "third", &[])),
        );
        (first, s) // held open until the test ends
    });
    let mut h = start(
        "example.social/public",
        &url,
        Some(TOKEN),
        FakeSleeper::default(),
    );
    let posts = h.posts(3);
    assert_eq!(
        texts(&posts),
        [
            "Match day! #Football",
            "a & b <3 \u{1F600} 'q'\n#Second",
            "third"
        ]
    );
    assert_eq!(posts[0]["tags"], json!(["football"]));
    assert_eq!(posts[0]["time"], json!(1_781_204_403_000u64));
    for head in [heads.recv().unwrap(), heads.recv().unwrap()] {
        assert_eq!(head[0], "GET /api/v1/streaming/public HTTP/1.1");
        assert!(
            head.iter()
                .any(|h| h == &format!("authorization: Bearer {TOKEN}")
                    || h == &format!("Authorization: Bearer {TOKEN}")),
            "{head:?}"
        );
    }
    let k = h.counters("mastodon://example.social");
    let slept = h.stop();
    server.join().unwrap();
    assert_eq!(k.records.load(Relaxed), 3);
    assert_eq!(k.skipped("bad_frame"), 1);
    assert_eq!(k.reconnects.load(Relaxed), 1);
    assert_eq!(k.connected.load(Relaxed), 0);
    // The server's `retry: 50`, raised to the 100 ms floor, is the reconnection delay.
    assert_eq!(slept, [Duration::from_millis(100)]);
}

#[test]
fn a_silent_stream_is_left_for_a_new_connection() {
    let (l, url) = listen();
    let server = std::thread::spawn(move || {
        let (mut s, _) = accept(&l);
        respond(&mut s, "200 OK", "");
        chunk(
            &mut s,
            &format!(":)\nevent: update\ndata: {}\n\n", status(1, "one", &[])),
        );
        // Silent, connection open, until the client connects again.
        let (mut s2, head) = accept(&l);
        assert!(
            head[0].contains("/api/v1/streaming/hashtag?tag=rust"),
            "{head:?}"
        );
        respond(&mut s2, "200 OK", "");
        chunk(
            &mut s2,
            &format!("event: update\ndata: {}\n\n", status(2, "two", &[])),
        );
        (s, s2) // held open until the test ends
    });
    let mut h = start(
        "example.social/hashtag/rust?stall=2s",
        &url,
        None,
        FakeSleeper::default(),
    );
    assert_eq!(texts(&h.posts(2)), ["one", "two"]);
    let k = h.counters("mastodon://example.social");
    h.stop();
    server.join().unwrap();
    assert_eq!(k.reconnects.load(Relaxed), 1);
}

/// A server answering every request with `status` (and `extra` headers).
fn answer_always(l: TcpListener, status: &'static str, extra: &'static str) {
    std::thread::spawn(move || loop {
        let (mut s, _) = accept(&l);
        let _ = write!(
            s,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: 54\r\n\r\n\
             {{\"error\":\"This method requires an authenticated user\"}}"
        );
    });
}

#[test]
fn unauthorized_ends_the_run_with_one_line_naming_the_cause() {
    let (l, url) = listen();
    answer_always(l, "401 Unauthorized", "");
    let h = start("example.social", &url, None, FakeSleeper::default());
    assert!(h.finished().is_empty());
    let msg = h.ctx.failure().unwrap();
    assert!(
        msg.contains("401") && msg.contains("set MASTODON_TOKEN"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));

    let (l, url) = listen();
    answer_always(l, "401 Unauthorized", "");
    let h = start("example.social", &url, Some(TOKEN), FakeSleeper::default());
    h.finished();
    let msg = h.ctx.failure().unwrap();
    assert!(msg.contains("token in MASTODON_TOKEN was refused"), "{msg}");
    assert!(!msg.contains(TOKEN));
}

/// A redirect is not followed (the token would go along, and the refusal there would blame
/// the token): the run ends naming where the server points.
#[test]
fn a_redirect_ends_the_run_naming_where_it_points() {
    let (l, url) = listen();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || loop {
        let (mut s, _) = accept(&l);
        count.fetch_add(1, Ordering::SeqCst);
        let _ = write!(
            s,
            "HTTP/1.1 301 Moved Permanently\r\nLocation: https://streaming.example.social/\r\n\
             Content-Length: 0\r\n\r\n"
        );
    });
    let h = start("example.social", &url, Some(TOKEN), FakeSleeper::default());
    assert!(h.finished().is_empty());
    let msg = h.ctx.failure().unwrap();
    assert!(
        msg.contains("301") && msg.contains("https://streaming.example.social/"),
        "{msg}"
    );
    assert!(
        msg.contains("--endpoint") && !msg.contains("refused"),
        "{msg}"
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "one request, no redirect followed"
    );
}

#[test]
fn http_errors_and_refusals_back_off_on_virtual_time() {
    let secs = |v: Vec<Duration>| v.iter().map(|d| d.as_secs()).collect::<Vec<_>>();
    let stop_after = |n| FakeSleeper {
        stop_after: Some(n),
        ..FakeSleeper::default()
    };
    let (l, url) = listen();
    answer_always(l, "503 Service Unavailable", "");
    let h = start("example.social", &url, Some(TOKEN), stop_after(8));
    assert_eq!(secs(h.finished()), [5, 10, 20, 40, 80, 160, 320, 320]);

    let (l, url) = listen();
    answer_always(l, "429 Too Many Requests", "Retry-After: 90\r\n");
    let h = start("example.social", &url, Some(TOKEN), stop_after(3));
    assert_eq!(secs(h.finished()), [90, 120, 240]);

    // A hostile or broken Retry-After (2^64 − 1 seconds once panicked the source thread,
    // and the run then ended as if finished): at most 15 minutes past the schedule.
    let (l, url) = listen();
    answer_always(
        l,
        "429 Too Many Requests",
        "Retry-After: 18446744073709551615\r\n",
    );
    let h = start("example.social", &url, Some(TOKEN), stop_after(2));
    assert_eq!(secs(h.finished()), [60 + 900, 120 + 900]);
    assert!(h.ctx.failure().is_none());

    let (l, url) = listen();
    drop(l);
    let h = start("example.social", &url, Some(TOKEN), stop_after(7));
    assert_eq!(secs(h.finished()), [1, 2, 4, 8, 16, 32, 60]);
    assert!(h.ctx.failure().is_none());
}

#[test]
fn uris() {
    let s = |u: &str| MastodonSpec::parse(u).map(|s| s.stream);
    assert_eq!(s("mastodon.social").unwrap(), "public");
    assert_eq!(s("mastodon.social/public/").unwrap(), "public");
    assert_eq!(
        s("mastodon.social/public/local?only_media=true").unwrap(),
        "public/local?only_media=true"
    );
    assert_eq!(s("m.s/hashtag/Rust").unwrap(), "hashtag?tag=Rust");
    assert_eq!(
        s("m.s/hashtag/local/日本").unwrap(),
        "hashtag/local?tag=%E6%97%A5%E6%9C%AC"
    );
    assert_eq!(
        s("m.s/hashtag/rust?only_media").unwrap(),
        "hashtag?tag=rust&only_media=true"
    );
    for bad in [
        "",
        "/public",
        "m.s/user",
        "m.s/hashtag",
        "m.s/public/x",
        "m.s?foo=1",
        "m.s?stall=x",
    ] {
        assert!(MastodonSpec::parse(bad).is_err(), "{bad}");
    }
    let spec = MastodonSpec::parse("mastodon.social/hashtag/rust").unwrap();
    assert_eq!(spec.name(), "mastodon://mastodon.social");
    assert_eq!(
        spec.url(None),
        "https://mastodon.social/api/v1/streaming/hashtag?tag=rust"
    );
    assert_eq!(
        spec.url(Some("http://127.0.0.1:9/")),
        "http://127.0.0.1:9/api/v1/streaming/hashtag?tag=rust"
    );
    assert_eq!(spec.stall, Duration::from_secs(45));
}
