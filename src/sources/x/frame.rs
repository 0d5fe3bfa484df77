//! One message of the filtered stream: a post, an error object, or something to skip.
//!
//! The docs require tolerating fields in any order, missing or unexpected fields, duplicate
//! messages and new message types; so a frame is walked with serde into only the fields we
//! use, and everything else is ignored.

use std::collections::{HashSet, VecDeque};

use serde::Deserialize;

use crate::sources::live::Post;
use crate::sources::secret::Secret;

/// What one non-empty line of the stream holds.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A post (`data.text` present), with its id for de-duplication.
    Post(Option<String>, Post),
    /// An error object (`{"errors":[…]}` or a bare problem `{"title",…}`): its text, whole
    /// and as the server wrote it, which may quote anything, the request's token included:
    /// scrub it ([`crate::sources::secret::Secret::scrub`]) before it is shown, then cut it.
    Error(String),
    /// Not JSON, or JSON without `data.text` or an error.
    Bad,
}

#[derive(Deserialize)]
struct Message {
    data: Option<Data>,
    errors: Option<Vec<Problem>>,
    #[serde(flatten)]
    problem: Problem,
}

#[derive(Deserialize)]
struct Data {
    id: Option<String>,
    text: Option<String>,
    created_at: Option<String>,
    entities: Option<Entities>,
    author_id: Option<String>,
    #[serde(default)]
    referenced_tweets: Vec<Referenced>,
}

#[derive(Deserialize)]
struct Referenced {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Entities {
    #[serde(default)]
    hashtags: Vec<Hashtag>,
}

#[derive(Deserialize)]
struct Hashtag {
    tag: Option<String>,
}

/// The problem format (`title`, `detail`, `type`) shared by HTTP errors and in-stream errors.
#[derive(Deserialize, Default, Debug)]
pub struct Problem {
    /// Short title, e.g. "operational-disconnect" or "Unauthorized".
    pub title: Option<String>,
    /// One sentence.
    pub detail: Option<String>,
    /// Problem type URI.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

impl Problem {
    /// "title: detail" as the server wrote it (uncut, unscrubbed), or "" when empty.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = [self.title.as_deref(), self.detail.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect();
        parts.join(": ")
    }

    /// "title: detail" on one line (at most 200 characters), or "" when empty.
    #[cfg(test)]
    pub fn line(&self) -> String {
        one_line(&self.text(), 200)
    }

    /// [`Problem::line`] with `token` scrubbed out first (before the cut, which could
    /// otherwise leave part of it).
    pub fn line_without(&self, token: &Secret) -> String {
        one_line(&token.scrub(&self.text()), 200)
    }

    /// Reads a problem from an HTTP error body (the first of `errors[]`, or the body itself).
    pub fn from_body(body: &str) -> Problem {
        match serde_json::from_str::<Message>(body) {
            Ok(m) => m
                .errors
                .and_then(|e| e.into_iter().next())
                .unwrap_or(m.problem),
            Err(_) => Problem::default(),
        }
    }
}

pub use crate::log::one_line;

/// Parses one non-empty line.
pub fn parse(line: &[u8]) -> Frame {
    // Bytes that are not UTF-8 are a bad frame, as serde_json would find them.
    let parsed = std::str::from_utf8(line).map(crate::record::from_json_lenient::<Message>);
    let Ok(Ok(m)) = parsed else {
        return Frame::Bad;
    };
    if let Some(Data {
        id,
        text: Some(text),
        created_at,
        entities,
        author_id,
        referenced_tweets,
    }) = m.data
    {
        // A retweet is no new post: its tags count (as the tutorial's did), but not as one
        // more author of them (a quote or a reply is a post of its own).
        let retweet = referenced_tweets
            .iter()
            .any(|r| r.kind.as_deref() == Some("retweeted"));
        let post = Post {
            text,
            // A missing or unparsable `created_at` leaves the time out: processing time still
            // counts the post; event time skips it as a record without a time.
            time: created_at.as_deref().and_then(crate::time::parse_time),
            tags: entities
                .map(|e| e.hashtags.into_iter().filter_map(|h| h.tag).collect())
                .unwrap_or_default(),
            author: author_id.filter(|_| !retweet),
        };
        return Frame::Post(id, post);
    }
    if let Some(first) = m.errors.as_ref().and_then(|e| e.first()) {
        return Frame::Error(first.text());
    }
    // "Too many connections" comes as a bare problem, without the `errors` wrapper.
    if m.problem.title.is_some() && m.problem.kind.is_some() {
        return Frame::Error(m.problem.text());
    }
    Frame::Bad
}

/// Remembers the ids of the last posts seen, so that a post delivered twice (the docs warn
/// of duplicates) is counted once.
pub struct RecentIds {
    order: VecDeque<String>,
    seen: HashSet<String>,
    cap: usize,
}

impl RecentIds {
    /// Remembers up to `cap` ids.
    pub fn new(cap: usize) -> RecentIds {
        RecentIds {
            order: VecDeque::new(),
            seen: HashSet::new(),
            cap: cap.max(1),
        }
    }

    /// True the first time `id` is seen (among the last `cap`).
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == self.cap {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.order.push_back(id.to_owned());
        self.seen.insert(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_with_tags_and_time() {
        let line = br#"{"data":{"id":"1","text":"Kickoff! #WorldCup #football","created_at":"2026-06-11T19:00:03.000Z","entities":{"hashtags":[{"start":9,"end":18,"tag":"WorldCup"},{"start":19,"end":28,"tag":"football"}]}},"matching_rules":[{"id":"9","tag":"football"}]}"#;
        let Frame::Post(id, p) = parse(line) else {
            panic!("not a post")
        };
        assert_eq!(id.as_deref(), Some("1"));
        assert_eq!(p.text, "Kickoff! #WorldCup #football");
        assert_eq!(p.time, Some(1_781_204_403_000));
        assert_eq!(p.tags, ["WorldCup", "football"]);
    }

    /// Half a surrogate pair escaped (a post cut inside an emoji) is U+FFFD: the post counts.
    #[test]
    fn a_lone_surrogate_is_replaced_not_skipped() {
        let line = br#"{"data":{"id":"2","text":"cut \udc00 #WorldCup"}}"#;
        let Frame::Post(_, p) = parse(line) else {
            panic!("not a post")
        };
        assert_eq!(p.text, "cut \u{FFFD} #WorldCup");
        // Bytes that are not UTF-8 stay bad.
        assert_eq!(parse(b"{\"data\":{\"text\":\"\xff\\ud800\"}}"), Frame::Bad);
    }

    #[test]
    fn errors_and_junk() {
        let disconnect = br#"{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has been disconnected upstream for operational reasons.","type":"https://api.x.com/2/problems/operational-disconnect"}]}"#;
        assert!(
            matches!(parse(disconnect), Frame::Error(e) if e.starts_with("operational-disconnect: This stream"))
        );
        let too_many = br#"{"title":"ConnectionException","detail":"This stream is currently at the maximum allowed connection limit.","connection_issue":"TooManyConnections","type":"https://api.x.com/2/problems/streaming-connection"}"#;
        assert!(matches!(parse(too_many), Frame::Error(e) if e.contains("maximum allowed")));
        assert_eq!(parse(b"{not json"), Frame::Bad);
        assert_eq!(parse(br#"{"data":{"id":"1"}}"#), Frame::Bad);
        assert_eq!(parse(br#"{"data":{"text":7}}"#), Frame::Bad);
        assert_eq!(parse(b"[1,2]"), Frame::Bad);
        // No time, no entities: still a post.
        assert!(
            matches!(parse(br#"{"data":{"text":"hi"}}"#), Frame::Post(None, p) if p.time.is_none())
        );
    }

    #[test]
    fn duplicates_are_seen_once() {
        let mut r = RecentIds::new(2);
        assert!(r.first_time("a"));
        assert!(!r.first_time("a"));
        assert!(r.first_time("b"));
        assert!(r.first_time("c")); // "a" is forgotten
        assert!(r.first_time("a"));
    }

    #[test]
    fn one_line_messages() {
        assert_eq!(one_line("a\nb\r\tc", 10), "a b  c");
        assert_eq!(one_line("abcdef", 3), "abc…");
        let p =
            Problem::from_body(r#"{"title":"Unauthorized","status":401,"detail":"Unauthorized"}"#);
        assert_eq!(p.line(), "Unauthorized: Unauthorized");
        assert_eq!(Problem::from_body("<html>").line(), "");
    }
}
