//! The one record type every stage passes, and how input lines become records.
//!
//! A line is either plain text (lossily decoded: invalid UTF-8 becomes U+FFFD, as Spark's
//! `socketTextStream` does) or a JSON object from which a text field and, in event time, a
//! time field are read by dotted path (`data.text`). A line that cannot give a record is
//! skipped with a [`Skip`] reason; decoding never panics.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::metrics::Skip;
use crate::time::{epoch_to_ms, parse_time};

/// The key of an author's name (an account id or handle, as the source gives it): the same
/// for the same name from any source, so a generated stream and its JSON-lines file agree.
pub fn author_key(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes())
}

/// One input record: its text and, in event time, its timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The text to extract tags from.
    pub text: Cow<'a, str>,
    /// Event time in milliseconds since the Unix epoch, when a time field was asked for.
    pub time_ms: Option<u64>,
    /// Tags the source names besides those in the text (Bluesky facets, Mastodon `tags[]`),
    /// without the sign; empty for plain text and JSON lines without a tags field.
    pub tags: Vec<String>,
    /// The author's key ([`author_key`] of the name or id), when an author
    /// field was asked for and holds a string or a number.
    pub author: Option<u64>,
}

/// How lines are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One text per line.
    #[default]
    Text,
    /// One JSON object per line.
    Jsonl,
}

/// Turns lines into records.
#[derive(Clone, Debug)]
pub struct Decoder {
    format: Format,
    text_path: Vec<String>,
    time_path: Option<Vec<String>>,
    tags_path: Option<Vec<String>>,
    author_path: Option<Vec<String>>,
    /// A numeric time is whole milliseconds, not seconds or milliseconds told apart by size.
    time_in_ms: bool,
}

impl Decoder {
    /// A decoder for `format`; `time_field` is read (and required) only when given.
    pub fn new(format: Format, text_field: &str, time_field: Option<&str>) -> Self {
        let split = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
        Decoder {
            format,
            text_path: split(text_field),
            time_path: time_field.map(split),
            tags_path: None,
            author_path: None,
            time_in_ms: false,
        }
    }

    /// Whether a line is taken whole as the record's text (`--format text`).
    pub fn is_text(&self) -> bool {
        self.format == Format::Text
    }

    /// Also reads the author at `author_field` (a dotted path; JSON lines only): a string or
    /// a number. A record without one is counted, but has no author.
    pub fn with_author(mut self, author_field: &str) -> Self {
        self.author_path = Some(author_field.split('.').map(str::to_owned).collect());
        self
    }

    /// True when this decoder reads authors.
    pub fn reads_authors(&self) -> bool {
        self.author_path.is_some()
    }

    /// Also reads an optional array of tag strings at `tags_field` (JSON lines only).
    pub fn with_tags(mut self, tags_field: &str) -> Self {
        self.tags_path = Some(tags_field.split('.').map(str::to_owned).collect());
        self
    }

    /// Reads a numeric time as whole milliseconds, exactly (the live sources' posts, whose
    /// times may be any ms, e.g. 1970's, which `--time event` files would read as seconds);
    /// any other number is a bad time.
    pub fn with_time_in_ms(mut self) -> Self {
        self.time_in_ms = true;
        self
    }

    /// The same decoder without a time field, for sources that stamp each line with its event
    /// time themselves (`kafka://…?time=timestamp`).
    pub fn without_time(mut self) -> Self {
        self.time_path = None;
        self
    }

    /// Decodes one line (without its ending).
    pub fn decode<'a>(&self, line: &'a [u8]) -> Result<Record<'a>, Skip> {
        // `from_utf8` checks ASCII a word at a time; `from_utf8_lossy` walks every byte (a
        // quarter of a worker's time on tweet lines), so it is only the fallback for invalid
        // lines.
        match (std::str::from_utf8(line), self.format) {
            (Ok(s), _) => self.decode_str(s),
            (Err(_), Format::Text) => Ok(Record {
                text: String::from_utf8_lossy(line),
                time_ms: None,
                tags: Vec::new(),
                author: None,
            }),
            (Err(_), Format::Jsonl) => Err(Skip::InvalidUtf8),
        }
    }

    /// Decodes one line known to be text (a chunk checked whole: [`crate::sources::Chunk`]).
    pub fn decode_str<'a>(&self, line: &'a str) -> Result<Record<'a>, Skip> {
        match self.format {
            Format::Text => Ok(Record {
                text: Cow::Borrowed(line),
                time_ms: None,
                tags: Vec::new(),
                author: None,
            }),
            Format::Jsonl => self.decode_json(line),
        }
    }

    fn decode_json<'a>(&self, line: &'a str) -> Result<Record<'a>, Skip> {
        match self.decode_json_strict(line) {
            // JSON written from UTF-16 text cut in the middle of a pair (an emoji at the end
            // of a truncated tweet) escapes half of it: `\ud83d"`. serde_json refuses that
            // string, and the whole record was lost as bad_json. The half becomes U+FFFD,
            // as invalid UTF-8 does in a text line.
            Err(Skip::BadJson) => match without_lone_surrogates(line) {
                Some(fixed) => self.decode_json_strict(&fixed).map(|r| Record {
                    text: Cow::Owned(r.text.into_owned()),
                    time_ms: r.time_ms,
                    tags: r.tags,
                    author: r.author,
                }),
                None => Err(Skip::BadJson),
            },
            r => r,
        }
    }

    fn decode_json_strict<'a>(&self, line: &'a str) -> Result<Record<'a>, Skip> {
        let mut found = Found::default();
        let seed = Walk {
            paths: self.paths(),
            depth: 0,
            found: &mut found,
        };
        let mut de = serde_json::Deserializer::from_str(line);
        seed.deserialize(&mut de).map_err(|_| Skip::BadJson)?;
        de.end().map_err(|_| Skip::BadJson)?;
        let text = match found.text {
            Some(Some(t)) => t,
            Some(None) => return Err(Skip::BadField),
            None => return Err(Skip::MissingField),
        };
        let time_ms = match (&self.time_path, found.time) {
            (None, _) => None,
            (Some(_), None) => return Err(Skip::MissingField),
            (Some(_), Some(TimeValue::Bad)) => return Err(Skip::BadField),
            (Some(_), Some(TimeValue::Str(s))) => Some(parse_time(&s).ok_or(Skip::BadTime)?),
            (Some(_), Some(TimeValue::Int(ms))) if self.time_in_ms => Some(ms),
            (Some(_), Some(TimeValue::Num(_))) if self.time_in_ms => return Err(Skip::BadTime),
            (Some(_), Some(TimeValue::Int(n))) => Some(epoch_to_ms(n as f64).ok_or(Skip::BadTime)?),
            (Some(_), Some(TimeValue::Num(n))) => Some(epoch_to_ms(n).ok_or(Skip::BadTime)?),
        };
        Ok(Record {
            text,
            time_ms,
            tags: found.tags,
            author: found.author,
        })
    }

    fn paths(&self) -> [Option<&[String]>; 4] {
        [
            Some(&self.text_path[..]),
            self.time_path.as_deref(),
            self.tags_path.as_deref(),
            self.author_path.as_deref(),
        ]
    }
}

#[derive(Debug)]
enum TimeValue {
    Str(String),
    /// A non-negative integer, kept exact.
    Int(u64),
    Num(f64),
    Bad,
}

#[derive(Default)]
struct Found<'a> {
    /// `Some(None)`: present but not a string.
    text: Option<Option<Cow<'a, str>>>,
    time: Option<TimeValue>,
    /// Strings of the tags array; anything else there is ignored.
    tags: Vec<String>,
    /// The author's key.
    author: Option<u64>,
}

/// Walks a JSON value, keeping only the values at the wanted paths and skipping the rest
/// without building it (serde's `IgnoredAny`): no `Value` tree is ever allocated.
struct Walk<'f, 'p, 'a> {
    /// Index 0: the text path, 1: the time path, 2: the tags path, 3: the author path.
    paths: [Option<&'p [String]>; 4],
    depth: usize,
    found: &'f mut Found<'a>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Walk<'_, '_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Walk<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let Walk {
            paths,
            depth,
            found,
        } = self;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let wanted = paths.map(|p| p.filter(|p| p.get(depth).is_some_and(|k| *k == key)));
            let leaf = wanted.map(|p| p.is_some_and(|p| p.len() == depth + 1));
            if leaf[0] && found.text.is_none() {
                let v: TextOrOther<'a> = map.next_value()?;
                found.text = Some(v.0);
            } else if leaf[1] && found.time.is_none() {
                found.time = Some(map.next_value::<TimeOrOther>()?.0);
            } else if leaf[2] {
                found.tags = map.next_value::<TagList>()?.0;
            } else if leaf[3] && found.author.is_none() {
                found.author = map.next_value::<AuthorValue>()?.0;
            } else if wanted.iter().any(Option::is_some) {
                let inner = Walk {
                    paths: wanted,
                    depth: depth + 1,
                    found: &mut *found,
                };
                map.next_value_seed(Nested(inner))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// An object key, borrowed from the line unless it has escapes. (serde's own `Cow<str>`
/// always allocates: one `String` per key of every line, 12% of a JSON line's instructions.)
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A value on the way to a wanted field: walked if it is an object, ignored otherwise.
struct Nested<'f, 'p, 'a>(Walk<'f, 'p, 'a>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for Nested<'_, '_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Nested<'_, '_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<(), M::Error> {
        self.0.visit_map(map)
    }
    fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A string (borrowed when it has no escapes), or `None` for any other JSON value.
struct TextOrOther<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> de::Deserialize<'de> for TextOrOther<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = TextOrOther<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TextOrOther(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TextOrOther(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(TextOrOther(Some(Cow::Owned(v))))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TextOrOther(None))
            }
            fn visit_seq<S: de::SeqAccess<'de>>(self, mut s: S) -> Result<Self::Value, S::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TextOrOther(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TextOrOther(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TextOrOther(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(TextOrOther(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(TextOrOther(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(TextOrOther(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An array of strings (other elements, or a non-array, give nothing).
struct TagList(Vec<String>);

impl<'de> de::Deserialize<'de> for TagList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let tags = match v {
            serde_json::Value::Array(items) => items
                .into_iter()
                .filter_map(|i| match i {
                    serde_json::Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(TagList(tags))
    }
}

/// An author: the key of a string, or of a number's decimal text; nothing for anything else.
struct AuthorValue(Option<u64>);

impl<'de> de::Deserialize<'de> for AuthorValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AuthorValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an author")
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AuthorValue(Some(author_key(v))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(AuthorValue(Some(author_key(&v.to_string()))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(AuthorValue(Some(author_key(&v.to_string()))))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(AuthorValue(None))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AuthorValue(None))
            }
            fn visit_seq<S: de::SeqAccess<'de>>(self, mut s: S) -> Result<Self::Value, S::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(AuthorValue(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(AuthorValue(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(AuthorValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A time as a string or a number; anything else is `Bad`.
struct TimeOrOther(TimeValue);

impl<'de> de::Deserialize<'de> for TimeOrOther {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TimeOrOther;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a time")
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TimeOrOther(TimeValue::Str(v.to_owned())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TimeOrOther(TimeValue::Num(v as f64)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(TimeOrOther(TimeValue::Int(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(TimeOrOther(TimeValue::Num(v)))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TimeOrOther(TimeValue::Bad))
            }
            fn visit_seq<S: de::SeqAccess<'de>>(self, mut s: S) -> Result<Self::Value, S::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TimeOrOther(TimeValue::Bad))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TimeOrOther(TimeValue::Bad))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(TimeOrOther(TimeValue::Bad))
            }
        }
        d.deserialize_any(V)
    }
}

/// `text` parsed as JSON into `T`; when that fails and `text` escapes a lone UTF-16
/// surrogate (a post cut inside an emoji), parsed again with each one as U+FFFD
/// ([`without_lone_surrogates`]), as a JSON line's record is. The live sources' messages use
/// it, so that such a post counts rather than being skipped as bad.
pub(crate) fn from_json_lenient<T: serde::de::DeserializeOwned>(
    text: &str,
) -> serde_json::Result<T> {
    serde_json::from_str(text).or_else(|e| match without_lone_surrogates(text) {
        Some(fixed) => serde_json::from_str(&fixed),
        None => Err(e),
    })
}

/// `line` with each `\uXXXX` escape of a lone UTF-16 surrogate (a high one not followed by
/// a low one, or a low one alone) replaced by `\ufffd`; `None` when it has none. Other
/// escapes (`\\` first of all) are stepped over whole, so a `\u` that is text stays.
fn without_lone_surrogates(line: &str) -> Option<String> {
    let b = line.as_bytes();
    let unit = |at: usize| -> Option<u16> {
        let hex = b.get(at..at + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    };
    let (mut out, mut copied, mut i) = (String::new(), 0, 0);
    // `i` may pass the end by one (a line ending in a backslash): `get` then ends the walk.
    while let Some(at) = (b.get(i..))
        .and_then(|rest| memchr::memchr(b'\\', rest))
        .map(|k| i + k)
    {
        let lone = match unit(at) {
            Some(0xD800..=0xDBFF) => {
                if matches!(unit(at + 6), Some(0xDC00..=0xDFFF)) {
                    i = at + 12;
                    continue;
                }
                true
            }
            Some(0xDC00..=0xDFFF) => true,
            _ => false,
        };
        if lone {
            out.push_str(&line[copied..at]);
            out.push_str("\\ufffd");
            copied = at + 6;
            i = at + 6;
        } else {
            i = at + 2;
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&line[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str, time: Option<&str>) -> Decoder {
        Decoder::new(Format::Jsonl, text, time)
    }

    #[test]
    fn text_lines_are_lossy() {
        let d = Decoder::new(Format::Text, "text", None);
        assert_eq!(d.decode(b"a \xff #b").unwrap().text, "a \u{FFFD} #b");
    }

    /// Half a surrogate pair (UTF-16 text cut inside an emoji) is U+FFFD, not a lost record;
    /// whole pairs, an escaped backslash before `u`, and JSON broken otherwise are as before.
    #[test]
    fn lone_surrogate_escapes_become_replacement_characters() {
        let d = json("text", Some("t"));
        let one = |line: &str| {
            d.decode(line.as_bytes())
                .map(|r| (r.text.into_owned(), r.time_ms))
        };
        assert_eq!(
            one(r##"{"text":"cut #ok \ud83d","t":5}"##),
            Ok(("cut #ok \u{FFFD}".to_owned(), Some(5000)))
        );
        assert_eq!(
            one(r##"{"text":"\ude00 #a \ud83d\ude00 \ud83d\ud83d","t":5}"##),
            Ok(("\u{FFFD} #a 😀 \u{FFFD}\u{FFFD}".to_owned(), Some(5000)))
        );
        assert_eq!(
            one(r#"{"text":"\\ud83d is text, \ud800 is not","t":5}"#),
            Ok(("\\ud83d is text, \u{FFFD} is not".to_owned(), Some(5000)))
        );
        assert_eq!(one(r#"{"text":"\ud83d","t":5"#), Err(Skip::BadJson));
        assert_eq!(one(r#"{"text":"\u12"}"#), Err(Skip::BadJson));
        // A line ending in a backslash, or in half an escape (found by the json_line fuzzer:
        // the walk stepped past the end and panicked).
        for line in [
            r"{\",
            r"\",
            r#"{"text":"\ud83d\"#,
            r#"{"text":"\ud8"#,
            r"\\\",
        ] {
            assert_eq!(one(line), Err(Skip::BadJson), "{line}");
        }
        assert_eq!(
            without_lone_surrogates(r#"{"text":"\ud83d\ude00 \\ud800"}"#),
            None
        );
        // The tags an extractor finds are those of the repaired text.
        let r = d
            .decode(r##"{"text":"#tag\ud83d #b","t":5}"##.as_bytes())
            .unwrap();
        assert_eq!(r.text, "#tag\u{FFFD} #b");
    }

    #[test]
    fn keys_with_escapes_still_match() {
        let d = json("data.text", None);
        let r = d
            .decode(br##"{"d\u0061ta":{"te\u0078t":"#a","text":"no"}}"##)
            .unwrap();
        assert_eq!(r.text, "#a");
    }

    #[test]
    fn nested_fields_and_escapes() {
        let d = json("data.text", Some("data.created_at"));
        let r = d
            .decode(br##"{"x":[1,{"text":"no"}],"data":{"id":"1","text":"hi \"#a\"\n","created_at":"2022-01-01T00:00:01.500Z"}}"##)
            .unwrap();
        assert_eq!(r.text, "hi \"#a\"\n");
        assert_eq!(r.time_ms, Some(1_640_995_201_500));
    }

    #[test]
    fn skips_say_why() {
        let d = json("text", Some("created_at"));
        assert_eq!(d.decode(b"{\"text\":\"a\"").unwrap_err(), Skip::BadJson);
        assert_eq!(d.decode(b"[1,2]").unwrap_err(), Skip::BadJson);
        assert_eq!(d.decode(b"{\"text\":\"a\"} x").unwrap_err(), Skip::BadJson);
        assert_eq!(
            d.decode(b"{\"created_at\":1}").unwrap_err(),
            Skip::MissingField
        );
        assert_eq!(
            d.decode(b"{\"text\":\"a\"}").unwrap_err(),
            Skip::MissingField
        );
        assert_eq!(
            d.decode(b"{\"text\":5,\"created_at\":1}").unwrap_err(),
            Skip::BadField
        );
        let bad_time = br#"{"text":"a","created_at":"yesterday"}"#;
        assert_eq!(d.decode(bad_time).unwrap_err(), Skip::BadTime);
        let bad_utf8 = b"{\"text\":\"\xff\",\"created_at\":1}";
        assert_eq!(d.decode(bad_utf8).unwrap_err(), Skip::InvalidUtf8);
    }

    /// Found by the `jetstream` fuzz target's round trip (issue 13): a live post's time in ms
    /// below 10^11 (before 1973-03-03) came back from its JSON line read as seconds, 1000×
    /// later; a time above 2^53 ms lost its last digits to an f64.
    #[test]
    fn times_in_ms_are_exact() {
        let d = json("text", Some("time")).with_time_in_ms();
        for ms in [
            0,
            5_000,
            99_999_999_999,
            1_781_204_403_123,
            (1 << 53) + 1,
            u64::MAX,
        ] {
            let line = format!(r#"{{"text":"a","time":{ms}}}"#);
            assert_eq!(d.decode(line.as_bytes()).unwrap().time_ms, Some(ms));
        }
        for bad in ["-1", "1.5", "1e3"] {
            let line = format!(r#"{{"text":"a","time":{bad}}}"#);
            assert_eq!(
                d.decode(line.as_bytes()).unwrap_err(),
                Skip::BadTime,
                "{bad}"
            );
        }
        // Files keep reading seconds or ms by size.
        let file = json("text", Some("time"));
        assert_eq!(
            file.decode(br#"{"text":"a","time":5000}"#).unwrap().time_ms,
            Some(5_000_000)
        );
    }

    #[test]
    fn tags_field() {
        let d = json("text", None).with_tags("tags");
        let r = d
            .decode(br#"{"text":"hi","tags":["Rust",1,"Go"]}"#)
            .unwrap();
        assert_eq!(r.tags, ["Rust", "Go"]);
        assert!(d.decode(br#"{"text":"hi"}"#).unwrap().tags.is_empty());
    }
}
