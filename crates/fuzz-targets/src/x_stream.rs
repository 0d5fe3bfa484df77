//! The X filtered stream's body: split into messages as `sources::x` does (`LineReader`,
//! 16 KiB reads, the default line limit), heartbeats (blank lines) skipped, each message read
//! by `sources::x::frame::parse`.
//!
//! Properties:
//! - the messages are the input's lines whatever the read boundaries ([`crate::lines`]'s
//!   properties, with X's settings);
//! - parsing a message never panics and gives the same frame twice;
//! - a post's text and id are the message's `data.text` and `data.id` (by a `Value` walk, when
//!   no key repeats), and the post survives its trip to the workers
//!   ([`crate::model::post_round_trip`]).

use serde_json::Value;
use tagstream::sources::x::frame::{self, Frame};

use crate::lines::read_all;
use crate::model::{self, lookup, plain_json, post_round_trip};

/// `--max-line`'s default.
const MAX_LINE: usize = 1 << 20;

/// Checks one message (a non-blank line).
pub fn message(line: &[u8]) {
    let f = frame::parse(line);
    assert_eq!(f, frame::parse(line), "parsing is a function");
    if let Frame::Post(id, post) = &f {
        post_round_trip(post);
        let v = std::str::from_utf8(line).ok().and_then(plain_json);
        if let Some(v) = v {
            let text = lookup(&v, "data.text").and_then(Value::as_str);
            assert_eq!(text, Some(post.text.as_str()), "the post's text");
            let want = lookup(&v, "data.id").and_then(Value::as_str);
            assert_eq!(id.as_deref(), want, "the post's id");
        }
    }
}

/// The target.
pub fn run(data: &[u8]) {
    let (lines, too_long) = read_all(data, 0, 16 << 10, MAX_LINE);
    let all = model::lines(data);
    let want: Vec<&[u8]> = all
        .iter()
        .copied()
        .filter(|l| l.len() <= MAX_LINE)
        .collect();
    assert_eq!(lines, want, "the stream's messages");
    assert_eq!(too_long, (all.len() - want.len()) as u64);
    for line in &lines {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue; // a heartbeat
        }
        message(line);
    }
}
