//! A Server-Sent Events parser, by the WHATWG spec ("Interpreting an event stream"), fed
//! bytes in chunks of any size.
//!
//! Lines end at `\n`, `\r\n` or `\r` (a `\r\n` split across two chunks is one ending);
//! `event:`/`data:`/`id:`/`retry:` fields with one optional space after the colon; several
//! `data:` lines joined with `\n`; lines starting with `:` are comments (Mastodon's `:)` and
//! `:thump` heartbeats); a blank line dispatches the event, unless it has no data. A line or
//! an event larger than the limit is dropped without being held, and reported once.

/// What the parser hands out.
#[derive(Debug, PartialEq)]
pub enum Sse<'a> {
    /// A complete event: its type (`message` when none was named) and data.
    Event {
        /// `event:` field.
        name: &'a str,
        /// `data:` lines, joined with `\n`.
        data: &'a str,
    },
    /// An event that exceeded the size limit, dropped.
    TooLong,
}

/// The longest event id sent back as `Last-Event-ID` (Mastodon's are short numbers).
const MAX_ID: usize = 256;

/// Whether an event id can go back to the server as a header value: printable ASCII (a
/// control byte or a huge id would make every later request fail before it is sent, and
/// the source would never reconnect).
pub fn sendable_id(id: &str) -> bool {
    id.len() <= MAX_ID && id.bytes().all(|b| matches!(b, b' '..=b'~' | b'\t'))
}

/// Parser state between chunks.
#[derive(Debug)]
pub struct Parser {
    max: usize,
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` first in the next one ends nothing.
    after_cr: bool,
    /// Nothing read yet: a leading byte-order mark is dropped.
    at_start: bool,
    name: String,
    data: String,
    has_data: bool,
    /// The current line grew past `max`: the rest of it is dropped.
    line_dropped: bool,
    /// The current event had a line or data past `max`: dropped at its blank line.
    too_long: bool,
    /// The last `retry:` value (ms).
    pub retry: Option<u64>,
    /// The last `id:` value, sent back as `Last-Event-ID` on reconnect.
    pub last_id: Option<String>,
}

impl Parser {
    /// A parser that drops events larger than `max` bytes.
    pub fn new(max: usize) -> Parser {
        Parser {
            max,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            name: String::new(),
            data: String::new(),
            has_data: false,
            line_dropped: false,
            too_long: false,
            retry: None,
            last_id: None,
        }
    }

    /// Parses `bytes`, calling `on` for each event they complete.
    pub fn feed(&mut self, mut bytes: &[u8], on: &mut dyn FnMut(Sse)) {
        if bytes.is_empty() {
            // Nothing: in particular, a `\r` that ended the last chunk still awaits its `\n`.
            return;
        }
        if self.at_start {
            // The BOM may itself be split; it is rare enough to accept only whole.
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            self.at_start = false;
        }
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        while let Some(i) = memchr::memchr2(b'\n', b'\r', bytes) {
            self.push(&bytes[..i]);
            self.line_end(on);
            let crlf = bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n');
            if bytes[i] == b'\r' && i + 1 == bytes.len() {
                self.after_cr = true;
            }
            bytes = &bytes[i + if crlf { 2 } else { 1 }..];
        }
        self.push(bytes);
    }

    fn push(&mut self, part: &[u8]) {
        if self.line_dropped {
            return;
        }
        if self.line.len() + part.len() > self.max {
            self.line_dropped = true;
            self.too_long = true;
            self.line = Vec::new();
        } else {
            self.line.extend_from_slice(part);
        }
    }

    fn line_end(&mut self, on: &mut dyn FnMut(Sse)) {
        if self.line_dropped {
            // The end of an overlong line, not a blank line.
            self.line_dropped = false;
            return;
        }
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if line.is_empty() {
            if self.too_long {
                on(Sse::TooLong);
            } else if self.has_data {
                let name = if self.name.is_empty() {
                    "message"
                } else {
                    &self.name
                };
                // The spec removes the one `\n` after the last data line.
                let data = self.data.strip_suffix('\n').unwrap_or(&self.data);
                on(Sse::Event { name, data });
            }
            self.name.clear();
            self.data.clear();
            self.has_data = false;
            self.too_long = false;
            return;
        }
        if self.too_long || line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.name = value.to_owned(),
            "data" => {
                if self.data.len() + value.len() + 1 > self.max {
                    self.too_long = true;
                    self.data.clear();
                } else {
                    self.data.push_str(value);
                    self.data.push('\n');
                    self.has_data = true;
                }
            }
            // The spec keeps any id without NUL; one that cannot go back as a header value
            // (`sendable_id`) is kept as none, so that no stale one is sent either.
            "id" if !value.contains('\0') => {
                self.last_id = sendable_id(value).then(|| value.to_owned());
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {} // unknown fields are ignored, as the spec says
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(p: &mut Parser, bytes: &[u8], out: &mut Vec<String>) {
        p.feed(bytes, &mut |e| {
            out.push(match e {
                Sse::Event { name, data } => format!("{name}={data}"),
                Sse::TooLong => "too long".into(),
            })
        });
    }

    #[test]
    fn sse_framing_does_not_depend_on_chunk_boundaries() {
        let stream = "\u{FEFF}:)\nevent: update\ndata: {\"a\":\r\ndata:1}\r\n\r\n:thump\r\
                  event:delete\rdata: 7\r\rdata\n\nid: 9\nretry: 3000\nretry: x\n\
                  event: only-name\n\nnoise: field\ndata:  two spaces\n\nevent: cut\ndata: never";
        let want = [
            "update={\"a\":\n1}",
            "delete=7",
            "message=",
            "message= two spaces",
        ];
        let mut whole = Vec::new();
        let mut p = Parser::new(1000);
        events(&mut p, stream.as_bytes(), &mut whole);
        assert_eq!(whole, want);
        assert_eq!((p.retry, p.last_id.as_deref()), (Some(3000), Some("9")));
        let b = stream.as_bytes();
        for i in 0..b.len() {
            let mut out = Vec::new();
            let mut p = Parser::new(1000);
            events(&mut p, &b[..i], &mut out);
            events(&mut p, &b[i..], &mut out);
            assert_eq!(out, want, "split at {i}");
        }
        let mut out = Vec::new();
        let mut p = Parser::new(1000);
        for byte in b {
            events(&mut p, std::slice::from_ref(byte), &mut out);
            // Found by the `sse` fuzz target (issue 13): an empty chunk between the `\r` and
            // the `\n` of one ending made them two endings, and the second a blank line.
            events(&mut p, b"", &mut out);
        }
        assert_eq!(out, want, "byte by byte");
    }

    #[test]
    fn sse_drops_events_past_the_limit() {
        let mut out = Vec::new();
        let mut p = Parser::new(16);
        let long = format!(
            "event: update\ndata: {}\ndata: x\n\nevent: update\ndata: ok\n\n",
            "y".repeat(40)
        );
        for part in long.as_bytes().chunks(5) {
            events(&mut p, part, &mut out);
        }
        events(&mut p, b"data: 0123456789\ndata: 0123456789\n\n", &mut out);
        assert_eq!(out, ["too long", "update=ok", "too long"]);
    }

    /// A hostile `id:` (a control byte, a huge one) would make every later request fail
    /// before it is sent: it is kept as none, and a stale good one is not sent either.
    #[test]
    fn an_id_that_cannot_go_back_as_a_header_is_kept_as_none() {
        let mut p = Parser::new(1 << 20);
        let mut out = Vec::new();
        events(&mut p, b"id: 41\n\n", &mut out);
        assert_eq!(p.last_id.as_deref(), Some("41"));
        for bad in [
            "id: a\x01b\n\n".to_owned(),
            format!("id: {}\n\n", "7".repeat(MAX_ID + 1)),
            "id: caf\u{e9}\n\n".to_owned(),
        ] {
            events(&mut p, b"id: 41\n\n", &mut out);
            events(&mut p, bad.as_bytes(), &mut out);
            assert_eq!(p.last_id, None, "{bad:?}");
        }
        events(
            &mut p,
            format!("id: {}\n\n", "7".repeat(MAX_ID)).as_bytes(),
            &mut out,
        );
        assert_eq!(p.last_id.as_ref().map(String::len), Some(MAX_ID));
        // A NUL makes the field ignored (the spec): the id before it stands.
        events(&mut p, b"id: 5\n\nid: a\x00b\n\n", &mut out);
        assert_eq!(p.last_id.as_deref(), Some("5"));
    }
}
