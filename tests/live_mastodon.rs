//! `tagstream run --source mastodon://HOST/public` against a local server streaming
//! `text/event-stream` the way Mastodon does, with the token from `MASTODON_TOKEN`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;

use serde_json::json;

use crate::util::{bin, signal_and_wait, wait_top, TempDir};

const TOKEN: &str = "mastodon-token-VERY-SECRET-42";

fn update(i: usize, content: &str, tag: &str) -> String {
    let status = json!({"id":i.to_string(),"created_at":"2026-06-11T19:00:03.000Z",
        "content":content,"tags":[{"name":tag,"url":"https://example.social/tags/x"}],
        "account":{"id":"1","acct":"fan"},"reblog":null});
    format!("event: update\ndata: {status}\n\n")
}

/// A local server: reads each request's head and answers with `respond(head lines)`. A
/// stream (a 200) is held open, as Mastodon's is; any other answer ends its connection.
/// Returns the port.
fn serve(respond: impl Fn(&[String]) -> String + Send + 'static) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming() {
            let mut s = s.unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                head.push(line.trim().to_owned());
            }
            let answer = respond(&head);
            let _ = s.write_all(answer.as_bytes());
            if answer.starts_with("HTTP/1.1 200") {
                held.push(s);
            }
        }
    });
    port
}

/// `body` as the one chunk of a `text/event-stream` that does not end.
fn event_stream(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n",
        body.len()
    )
}

/// `tagstream run` on the server at `port`, stderr piped.
fn tagstream_on(port: u16, source: &str) -> std::process::Command {
    let mut cmd = bin();
    cmd.args(["run", "--source", source])
        .args(["--endpoint", &format!("http://127.0.0.1:{port}")])
        .args(["--tui", "off"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn mastodon_updates_give_the_top_hashtags_and_the_token_stays_secret() {
    let port = serve(|head| {
        let bearer = format!("authorization: Bearer {TOKEN}");
        if !head.iter().any(|l| l.eq_ignore_ascii_case(&bearer)) {
            return "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".into();
        }
        let mut body = String::from(":)\n");
        for i in 0..4 {
            body.push_str(&update(
                i,
                "<p>Loving <a href=\"x\" class=\"mention hashtag\">#<span>Rust</span></a></p>",
                "Rust",
            ));
        }
        for i in 4..6 {
            body.push_str(&update(i, "<p>and #<span>Go</span>&nbsp;too</p>", "go"));
        }
        body.push_str(":thump\nevent: delete\ndata: 3\n\n");
        event_stream(&body)
    });
    let t = TempDir::new("mastodon");
    let out = t.path("out.jsonl");
    let engine = tagstream_on(port, "mastodon://example.social/public")
        .args(["--batch", "1s", "--window", "3s", "--top", "3", "--out"])
        .arg(&out)
        .env("MASTODON_TOKEN", TOKEN)
        .spawn()
        .unwrap();
    wait_top(&out, &[("#rust", 4), ("#go", 2)]);
    let (res, err) = signal_and_wait(engine, "INT");
    assert!(res.status.success(), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
    assert!(!std::fs::read_to_string(&out).unwrap().contains(TOKEN));
}

#[test]
fn mastodon_without_a_token_says_to_set_one() {
    let port = serve(|_| "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".into());
    let res = tagstream_on(port, "mastodon://example.social/hashtag/rust")
        .env_remove("MASTODON_TOKEN")
        .env_remove("MASTODON_TOKEN_FILE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("401") && last.contains("set MASTODON_TOKEN"),
        "{err}"
    );
}

/// Issue 13: what the server says is scrubbed of the token before it is logged: an error
/// event in the stream and an HTTP error body, both quoting the request's header.
#[test]
fn issue_13_server_text_quoting_the_token_is_scrubbed() {
    let quote = format!("{} you sent Authorization: Bearer {TOKEN}", "z".repeat(150));
    let q = quote.clone();
    let port = serve(move |_| {
        let mut body = format!(":)\nevent: error\ndata: {q}\n\n");
        body.push_str(&update(1, "<p>#<span>Rust</span></p>", "Rust"));
        event_stream(&body)
    });
    let t = TempDir::new("mastodon-scrub");
    let out = t.path("out.jsonl");
    let engine = tagstream_on(port, "mastodon://example.social/public")
        .args(["--batch", "1s", "--window", "3s", "--out"])
        .arg(&out)
        .env("MASTODON_TOKEN", TOKEN)
        .spawn()
        .unwrap();
    wait_top(&out, &[("#rust", 1)]);
    let (res, err) = signal_and_wait(engine, "INT");
    assert!(res.status.success(), "{err}");
    assert!(
        err.contains("the stream says: ") && err.contains("Bearer [redacted]"),
        "{err}"
    );
    assert!(!err.contains(&TOKEN[..10]), "{err}");

    // A 401 whose body quotes the token: one line, scrubbed.
    let port = serve(move |_| {
        let body = serde_json::json!({ "error": quote }).to_string();
        format!(
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    });
    let res = tagstream_on(port, "mastodon://example.social/public")
        .args(["--out", "-"])
        .env("MASTODON_TOKEN", TOKEN)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("401") && last.contains("was refused") && last.contains("[redacted]"),
        "{err}"
    );
    assert!(!err.contains(&TOKEN[..10]), "{err}");
}
