//! `record::Decoder::decode`: one input line, as text and as a JSON object with dotted text,
//! time and tags fields.
//!
//! Properties:
//! - decoding never panics, and holds at most a bounded multiple of the line's size;
//! - a text line is the line, lossily decoded; no time, no tags;
//! - a JSON line that `serde_json::Value` parses and that repeats no key decodes exactly as a
//!   walk of that `Value` says: the same skip reason, or the same text, time and tags.
//!   (The decoder walks without building a tree, so it may accept a line a `Value` refuses,
//!   e.g. an out-of-range number in a field it skips; those lines are not compared.)

use serde_json::Value;
use tagstream::metrics::Skip;
use tagstream::record::{Decoder, Format};
use tagstream::sources::live;
use tagstream::time::{epoch_to_ms, parse_time};

use crate::meter;
use crate::model::{lookup, plain_json};

/// One way of reading JSON lines: text, time and tags fields (the time as `--time event` reads
/// it, or, for live posts, milliseconds).
struct Config {
    text: &'static str,
    time: Option<&'static str>,
    tags: Option<&'static str>,
    /// The decoder of live posts (`live::decoder`), whose numeric times are milliseconds.
    live: bool,
}

const CONFIGS: &[Config] = &[
    Config {
        text: "text",
        time: None,
        tags: None,
        live: false,
    },
    Config {
        text: "text",
        time: Some("created_at"),
        tags: Some("tags"),
        live: false,
    },
    // X API v2 lines saved to a file.
    Config {
        text: "data.text",
        time: Some("data.created_at"),
        tags: None,
        live: false,
    },
    // Jetstream events saved to a file.
    Config {
        text: "commit.record.text",
        time: Some("time_us"),
        tags: Some("commit.record.tags"),
        live: false,
    },
    Config {
        text: "text",
        time: Some("time"),
        tags: Some("tags"),
        live: true,
    },
];

impl Config {
    fn decoder(&self) -> Decoder {
        if self.live {
            return live::decoder(true);
        }
        let d = Decoder::new(Format::Jsonl, self.text, self.time);
        match self.tags {
            Some(t) => d.with_tags(t),
            None => d,
        }
    }

    /// What decoding `line` must give, by a walk of its `Value`; `None` when the model has
    /// nothing to say (not JSON to `Value`, or a key repeats).
    fn expect(&self, line: &[u8]) -> Option<Result<Expected, Skip>> {
        let Ok(s) = std::str::from_utf8(line) else {
            return Some(Err(Skip::InvalidUtf8));
        };
        let v = plain_json(s)?;
        if !v.is_object() {
            return Some(Err(Skip::BadJson));
        }
        let text = match lookup(&v, self.text) {
            None => return Some(Err(Skip::MissingField)),
            Some(Value::String(t)) => t.clone(),
            Some(_) => return Some(Err(Skip::BadField)),
        };
        let time = match self.time.map(|p| lookup(&v, p)) {
            None => None,
            Some(None) => return Some(Err(Skip::MissingField)),
            Some(Some(Value::String(s))) => match parse_time(s) {
                Some(t) => Some(t),
                None => return Some(Err(Skip::BadTime)),
            },
            Some(Some(Value::Number(n))) => {
                // A live post's time is whole milliseconds; a user's file has seconds or
                // milliseconds, told apart by size.
                let t = if self.live {
                    n.as_u64()
                } else {
                    n.as_f64().and_then(epoch_to_ms)
                };
                match t {
                    Some(t) => Some(t),
                    None => return Some(Err(Skip::BadTime)),
                }
            }
            Some(Some(_)) => return Some(Err(Skip::BadField)),
        };
        let tags = match self.tags.and_then(|p| lookup(&v, p)) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Some(Ok(Expected { text, time, tags }))
    }
}

#[derive(Debug, PartialEq)]
struct Expected {
    text: String,
    time: Option<u64>,
    tags: Vec<String>,
}

/// The target.
pub fn run(data: &[u8]) {
    let text = Decoder::new(Format::Text, "text", None);
    let r = text.decode(data).expect("a text line always decodes");
    assert_eq!(r.text, String::from_utf8_lossy(data));
    assert!(r.time_ms.is_none() && r.tags.is_empty());

    for c in CONFIGS {
        let d = c.decoder();
        let (got, held) = meter::peak(|| {
            d.decode(data).map(|r| Expected {
                text: r.text.into_owned(),
                time: r.time_ms,
                tags: r.tags,
            })
        });
        // A Value is built only for the tags array: about 32 bytes an element of at least
        // 2 bytes, doubled by growth, and its strings.
        meter::assert_within("decode", held, data.len(), 48, 4096);
        if let Some(want) = c.expect(data) {
            assert_eq!(
                got, want,
                "decoding with text {:?} time {:?}",
                c.text, c.time
            );
        }
    }
}
