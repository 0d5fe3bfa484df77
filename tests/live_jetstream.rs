//! `tagstream run --source jetstream://` against a local WebSocket server that speaks
//! Jetstream's protocol: commit frames of posts (text hashtags, facet tags, `record.tags`),
//! other collections, identity events and a malformed frame.

use std::net::TcpListener;
use std::process::Stdio;

use serde_json::json;
use tungstenite::Message;

use crate::util::{bin, signal_and_wait, summary_count, wait_top, TempDir};

fn post(i: usize, text: &str, facets: &[&str], tags: &[&str]) -> String {
    let facets: Vec<_> = facets
        .iter()
        .map(|t| json!({"index":{"byteStart":0,"byteEnd":1},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":t}]}))
        .collect();
    json!({"did":format!("did:plc:user{i}"),"time_us":1_781_204_403_000_000u64 + i as u64,
        "kind":"commit","commit":{"rev":"3lrev","operation":"create","collection":"app.bsky.feed.post",
        "rkey":format!("3lkey{i}"),"record":{"$type":"app.bsky.feed.post","text":text,
        "createdAt":"2026-06-11T19:00:03.000Z","facets":facets,"tags":tags},"cid":"bafy"}})
    .to_string()
}

#[test]
fn jetstream_posts_give_the_top_hashtags() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let mut frames = Vec::new();
    for i in 0..5 {
        frames.push(post(i, "watching the game #alpha", &[], &[]));
    }
    for i in 5..8 {
        // The tag is in the text and in a facet: counted once.
        frames.push(post(i, "so good #Beta", &["Beta"], &[]));
    }
    frames.push(post(8, "no tag in the text", &[], &["gamma"]));
    frames.push(
        r#"{"did":"did:plc:x","time_us":1781204403000009,"kind":"identity","identity":{}}"#.into(),
    );
    frames.push("not a frame".into());
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut ws = tungstenite::accept(s).unwrap();
        for f in frames {
            ws.send(Message::text(f)).unwrap();
        }
        while ws.read().is_ok() {}
    });
    let t = TempDir::new("jetstream");
    let out = t.path("out.jsonl");
    let engine = bin()
        .args(["run", "--source", "jetstream://"])
        .args(["--endpoint", &format!("ws://127.0.0.1:{port}")])
        .args([
            "--batch", "1s", "--window", "3s", "--top", "3", "--tui", "off", "--out",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_top(&out, &[("#alpha", 5), ("#beta", 3), ("#gamma", 1)]);
    let (res, err) = signal_and_wait(engine, "INT");
    assert!(res.status.success(), "{err}");
    assert_eq!(summary_count(&err, "records"), 9, "{err}");
}

/// Issue 13: Jetstream's cursor is saved in checkpoints. Killed with SIGKILL after a commit,
/// the restarted run reconnects with `cursor=` at a post it had read (not the live tail, as
/// live sources used to), so nothing after the committed posts is lost.
#[test]
fn a_restart_resumes_jetstream_from_the_checkpointed_cursor() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (uris_tx, uris) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(s) = conn else { return };
            let tx = uris_tx.clone();
            std::thread::spawn(move || {
                let mut uri = String::new();
                // tungstenite's callback type fixes the error as a whole HTTP response.
                #[allow(clippy::result_large_err)]
                let cb = |req: &tungstenite::handshake::server::Request,
                          resp: tungstenite::handshake::server::Response| {
                    uri = req.uri().to_string();
                    Ok(resp)
                };
                let Ok(mut ws) = tungstenite::accept_hdr(s, cb) else {
                    return;
                };
                let _ = tx.send(uri);
                // A post every 20 ms, as a live firehose would send them.
                for i in 0..100_000 {
                    if ws
                        .send(Message::text(post(i, "live #alpha", &[], &[])))
                        .is_err()
                    {
                        return;
                    }
                    std::thread::park_timeout(std::time::Duration::from_millis(20));
                }
            });
        }
    });
    let t = TempDir::new("jetstream-ckpt");
    let (dir, out) = (t.path("ckpt"), t.path("out.jsonl"));
    let run = || {
        let mut c = bin();
        c.args(["run", "--source", "jetstream://"])
            .args(["--endpoint", &format!("ws://127.0.0.1:{port}")])
            .args(["--batch", "1s", "--window", "2s", "--tui", "off", "--quiet"])
            .arg("--checkpoint-dir")
            .arg(&dir)
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let mut first = run().spawn().unwrap();
    let uri = uris
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    assert!(!uri.contains("cursor="), "{uri}");
    // A commit made after posts were counted (the first epochs may come before any post).
    let commit = dir.join("COMMIT");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let counted = || std::fs::read_to_string(&out).is_ok_and(|o| o.contains("#alpha"));
    while !counted() {
        assert!(std::time::Instant::now() < deadline, "nothing counted");
        std::thread::park_timeout(std::time::Duration::from_millis(20));
    }
    let then = std::fs::read_to_string(&commit).ok();
    while std::fs::read_to_string(&commit).ok() == then {
        assert!(std::time::Instant::now() < deadline, "no commit");
        std::thread::park_timeout(std::time::Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let mut second = run().spawn().unwrap();
    let uri = uris
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    second.kill().unwrap();
    second.wait().unwrap();
    let cursor: u64 = uri
        .split("cursor=")
        .nth(1)
        .and_then(|c| c.split('&').next())
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no cursor in {uri}"));
    // The posts' times are T0 + i µs: the cursor is one of them.
    assert!(
        (1_781_204_403_000_000..1_781_204_403_100_000).contains(&cursor),
        "{uri}"
    );
}
