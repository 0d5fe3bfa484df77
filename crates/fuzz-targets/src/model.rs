//! Slow, obvious models that targets compare the engine against, and checks shared by the
//! live-source targets.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use tagstream::sources::live::{self, Post};

/// Lines of a byte stream by the rule every line source follows: a line ends at `\n`, `\r\n`
/// or `\r`, and a last line without an ending counts unless it is empty. Written the obvious
/// way, over the whole input at once.
pub fn lines(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < data.len() {
        match data[i] {
            b'\n' => {
                out.push(&data[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                out.push(&data[start..i]);
                i += 1;
                if data.get(i) == Some(&b'\n') {
                    i += 1;
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < data.len() {
        out.push(&data[start..]);
    }
    out
}

/// The value at a dotted path, through objects only (`None` if any step is missing or not
/// an object).
pub fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(v, |v, key| v.as_object()?.get(key))
}

/// Whether the JSON text `s` has an object with a key twice (at any depth); `None` when it
/// is not JSON. Where keys repeat, which one "wins" is a decoder's choice (the first, the
/// last, both walked), so a model over `serde_json::Value` (the last wins) says nothing.
pub fn has_duplicate_keys(s: &str) -> Option<bool> {
    let mut dup = false;
    let mut de = serde_json::Deserializer::from_str(s);
    Scan(&mut dup).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(dup)
}

/// Walks any JSON value, setting the flag when an object repeats a key.
struct Scan<'a>(&'a mut bool);

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let mut keys = HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            if !keys.insert(k) {
                *self.0 = true;
            }
            map.next_value_seed(Scan(&mut *self.0))?;
        }
        Ok(())
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while seq.next_element_seed(Scan(&mut *self.0))?.is_some() {}
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A JSON text as a `Value` when it parses and repeats no key: then a model can say what a
/// decoder must find in it.
pub fn plain_json(s: &str) -> Option<Value> {
    match has_duplicate_keys(s) {
        Some(false) => serde_json::from_str(s).ok(),
        _ => None,
    }
}

/// A live source's post reaches the workers as a JSON line (`live::PostSink`) read back by
/// `live::decoder`: that trip must give back its text, its tags and (in event time) its time
/// exactly.
pub fn post_round_trip(post: &Post) {
    let line = serde_json::to_vec(post).expect("a post serialises");
    for event_time in [false, true] {
        match live::decoder(event_time).decode(&line) {
            Ok(r) => {
                assert_eq!(r.text, post.text, "text of {post:?}");
                assert_eq!(r.tags, post.tags, "tags of {post:?}");
                if event_time {
                    assert_eq!(r.time_ms, post.time, "time of {post:?}");
                }
            }
            Err(e) => assert!(
                event_time && post.time.is_none(),
                "{post:?} as {}: {e:?}",
                String::from_utf8_lossy(&line)
            ),
        }
    }
}

/// The bytes as text: UTF-8 where they are, U+FFFD elsewhere (live sources hand their parsers
/// text).
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}
