//! `sources::mastodon::status::post`: the data of an `update` event (a Mastodon `Status`,
//! JSON) → a post; and `html_to_text`, its HTML content → plain text.
//!
//! Properties:
//! - neither panics; HTML → text never grows (every tag and entity is replaced by at most its
//!   own length);
//! - a post's text is the HTML → text of the status's `content` (or, for a boost with empty
//!   content, of the boosted status's), by a `Value` walk when no key repeats;
//! - a post's tags are at most 64, non-empty, lower-case, without `#`, each once;
//! - the post survives its trip to the workers ([`crate::model::post_round_trip`]).

use serde_json::Value;
use tagstream::sources::mastodon::status::{html_to_text, post};

use crate::model::{plain_json, post_round_trip, text};

/// Checks one status (an event's data).
pub fn status(data: &str) {
    let plain = html_to_text(data);
    assert!(
        plain.len() <= data.len(),
        "HTML → text grew: {data:?} → {plain:?}"
    );
    let Some(p) = post(data) else {
        return;
    };
    post_round_trip(&p);
    assert!(p.tags.len() <= 64, "{} tags", p.tags.len());
    for (i, t) in p.tags.iter().enumerate() {
        assert!(!t.is_empty() && !t.starts_with('#'), "tag {t:?}");
        assert_eq!(*t, t.to_lowercase(), "tag {t:?} is lower-case");
        assert!(!p.tags[..i].contains(t), "tag {t:?} twice");
    }
    if let Some(v) = plain_json(data) {
        let own = v.get("content").and_then(Value::as_str);
        let content = match v.get("reblog").and_then(|r| r.get("content")) {
            Some(Value::String(boosted)) if own.unwrap_or("").is_empty() => Some(boosted.as_str()),
            _ => own,
        };
        let content = content.expect("a post has content");
        assert_eq!(p.text, html_to_text(content), "the post's text");
    }
}

/// The target.
pub fn run(data: &[u8]) {
    status(&text(data));
}
