//! `sources::mastodon::sse::Parser`, Mastodon's event stream, fed in pieces that end
//! anywhere (empty ones included); each `update` event's data goes on to
//! [`crate::mastodon_status`].
//!
//! Properties, for a large and a small limit:
//! - the events (and the last `id:` and `retry:`) are the same whether the stream comes whole,
//!   in pieces, or is read by an obvious whole-input model of the same rules;
//! - no event's name or data is longer than the limit;
//! - the limit bounds what the parser holds: a feed holds at most a multiple of the limit,
//!   however long the lines it is fed (an endless line costs nothing).

use tagstream::sources::mastodon::sse::{Parser, Sse};

use crate::mastodon_status;
use crate::meter;
use crate::model;
use crate::pieces::pieces;

/// An event as handed out, owned.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Event { name: String, data: String },
    TooLong,
}

fn owned(e: Sse) -> Event {
    match e {
        Sse::Event { name, data } => Event::Event {
            name: name.to_owned(),
            data: data.to_owned(),
        },
        Sse::TooLong => Event::TooLong,
    }
}

/// What a stream gives: its events, then the parser's last id and retry.
type Outcome = (Vec<Event>, Option<String>, Option<u64>);

fn feed_all(feeds: &[&[u8]], max: usize) -> Outcome {
    let mut p = Parser::new(max);
    let mut out = Vec::new();
    for f in feeds {
        p.feed(f, &mut |e| out.push(owned(e)));
    }
    (out, p.last_id.clone(), p.retry)
}

/// The same rules, over the whole stream at once and line by line (WHATWG "interpreting an
/// event stream", with the parser's limit: a line longer than `max`, or data growing past it,
/// drops its event, reported once at its blank line).
fn model(data: &[u8], max: usize) -> Outcome {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut lines = model::lines(data);
    // A last line without its ending is not a line yet.
    if !data.ends_with(b"\n") && !data.ends_with(b"\r") {
        lines.pop();
    }
    let (mut out, mut last_id, mut retry) = (Vec::new(), None, None);
    let (mut name, mut buf, mut has_data, mut too_long) =
        (String::new(), String::new(), false, false);
    for line in lines {
        if line.len() > max {
            too_long = true;
            continue;
        }
        let line = String::from_utf8_lossy(line);
        if line.is_empty() {
            if too_long {
                out.push(Event::TooLong);
            } else if has_data {
                let data = buf.strip_suffix('\n').unwrap_or(&buf).to_owned();
                let name = if name.is_empty() {
                    "message".into()
                } else {
                    name.clone()
                };
                out.push(Event::Event { name, data });
            }
            (name, buf, has_data, too_long) = (String::new(), String::new(), false, false);
            continue;
        }
        if too_long || line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (&*line, ""),
        };
        match field {
            "event" => name = value.to_owned(),
            "data" if buf.len() + value.len() + 1 > max => {
                too_long = true;
                buf.clear();
            }
            "data" => {
                buf.push_str(value);
                buf.push('\n');
                has_data = true;
            }
            // Kept only if it can go back as a header value: printable ASCII, at most 256
            // bytes (else none, so that no stale id is sent either).
            "id" if !value.contains('\0') => {
                let sendable = value.len() <= 256
                    && value
                        .bytes()
                        .all(|b| (b' '..=b'~').contains(&b) || b == b'\t');
                last_id = sendable.then(|| value.to_owned());
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                retry = value.parse().ok();
            }
            _ => {}
        }
    }
    (out, last_id, retry)
}

/// The target.
pub fn run(data: &[u8]) {
    for max in [1 << 16, 40] {
        let whole = feed_all(&[data], max);
        // The first piece is whole up to the byte-order mark, which the parser only strips
        // when it comes in one read (documented in sse.rs).
        let bom = data.len().min(3);
        let mut cut = vec![&data[..bom]];
        cut.extend(pieces(&data[bom..], max as u64));
        assert_eq!(feed_all(&cut, max), whole, "in pieces (limit {max})");
        assert_eq!(model(data, max), whole, "by the model (limit {max})");
        for e in &whole.0 {
            if let Event::Event { name, data } = e {
                assert!(
                    name.len() <= 3 * max && data.len() <= max,
                    "{e:?} past {max}"
                );
            }
        }

        // What the parser holds while fed, with a sink that keeps nothing.
        let mut p = Parser::new(max);
        for piece in &cut {
            let ((), held) = meter::peak(|| p.feed(piece, &mut |_| {}));
            // The line (grown by doubling), its lossy copy (U+FFFD is 3 bytes for 1), the
            // data (doubling) and the event name and id.
            meter::assert_within("an SSE feed", held, max, 12, 4096);
        }
        if max > 40 {
            for e in &whole.0 {
                if let Event::Event { name, data } = e {
                    if name == "update" || name == "status.update" {
                        mastodon_status::status(data);
                    }
                }
            }
        }
    }
}
