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
