//! `sources::jetstream::event::parse`: one Jetstream text frame (a WebSocket text frame is
//! UTF-8; other bytes are read lossily).
//!
//! Properties:
//! - parsing never panics and is a function (the same frame, the same dedup key);
//! - a post's time is its `time_us` in ms, its text the record's `text`, and its `time_us`
//!   the event's (by a `Value` walk, when no key repeats); any other frame with a `time_us`
//!   reports it;
//! - a post's tags: at most 64, each non-empty, at most 640 bytes, trimmed, once each
//!   without regard to case (one leading sign is stripped; a "double hash tag" keeps one);
//! - the post survives its trip to the workers ([`crate::model::post_round_trip`]).

use serde_json::Value;
use tagstream::sources::jetstream::event::{parse, Frame};

use crate::model::{lookup, plain_json, post_round_trip, text};

/// The target.
pub fn run(data: &[u8]) {
    let s = text(data);
    let f = parse(&s);
    assert_eq!(f, parse(&s), "parsing is a function");
    let v = plain_json(&s);
    let time_us = v
        .as_ref()
        .and_then(|v| v.get("time_us"))
        .and_then(Value::as_u64);
    match f {
        Frame::Post {
            key: _,
            time_us: t,
            post,
        } => {
            post_round_trip(&post);
            assert_eq!(post.time, Some(t / 1000));
            assert!(post.tags.len() <= 64, "{} tags", post.tags.len());
            for (i, tag) in post.tags.iter().enumerate() {
                assert!(!tag.is_empty() && tag.len() <= 640, "tag {tag:?}");
                assert_eq!(tag.trim(), tag, "tag {tag:?} is trimmed");
                let lower = tag.to_lowercase();
                assert!(
                    !post.tags[..i].iter().any(|o| o.to_lowercase() == lower),
                    "tag {tag:?} twice"
                );
            }
            if let Some(v) = &v {
                assert_eq!(time_us, Some(t));
                let text = lookup(v, "commit.record.text").and_then(Value::as_str);
                assert_eq!(text, Some(post.text.as_str()));
            }
        }
        Frame::Other { time_us: t } => {
            if v.is_some() {
                assert_eq!(time_us, Some(t));
            }
        }
        Frame::Bad => {}
    }
}
