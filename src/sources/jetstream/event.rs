//! One Jetstream frame → what it means for us: a new post, some other event (which still moves
//! the cursor), or a malformed frame.
//!
//! Shapes follow PROTOCOLS.md §2.2: `{"did","time_us","kind":"commit","commit":{"operation",
//! "collection","rkey","rev","record",…}}`; `identity` and `account` events carry no post.
//! Unknown fields are ignored and most fields are optional, so new server fields never break us.

use serde::Deserialize;

use crate::sources::live::Post;

/// The collection of Bluesky posts.
pub const POST_COLLECTION: &str = "app.bsky.feed.post";
/// The facet feature that marks a hashtag.
const TAG_FEATURE: &str = "app.bsky.richtext.facet#tag";
/// Tags taken from one post at most (the lexicon allows 8 in `tags`; facets are bounded by the
/// text's length): a hostile record cannot make us count thousands of tags.
const MAX_TAGS: usize = 64;
/// The lexicon's limit for one tag (640 bytes); longer ones are not tags.
const MAX_TAG_BYTES: usize = 640;

/// What a text frame holds.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A newly created post: its dedup key, its `time_us`, and the post.
    Post {
        /// Identifies the commit: a hash of (did, rkey, rev) — PROTOCOLS §2.4's dedup key
        /// (the collection is always posts here).
        key: u128,
        /// When the Jetstream instance saw it (µs): the cursor.
        time_us: u64,
        /// The post handed to the workers.
        post: Post,
    },
    /// Anything else (another collection or operation, identity, account): only the cursor
    /// moves.
    Other {
        /// The event's `time_us`.
        time_us: u64,
    },
    /// Not a Jetstream event: skipped and counted as `bad_frame`.
    Bad,
}

#[derive(Deserialize)]
struct Event {
    did: Option<String>,
    time_us: Option<u64>,
    kind: Option<String>,
    commit: Option<Commit>,
}

#[derive(Deserialize)]
struct Commit {
    operation: Option<String>,
    collection: Option<String>,
    rkey: Option<String>,
    rev: Option<String>,
    cid: Option<String>,
    /// Kept untyped until we know it is a post: other collections have other shapes.
    record: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct PostRecord {
    text: String,
    #[serde(default)]
    facets: Vec<Facet>,
    #[serde(default)]
    tags: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Facet {
    #[serde(default)]
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    #[serde(rename = "$type")]
    kind: Option<String>,
    tag: Option<serde_json::Value>,
}

/// Reads one text frame.
pub fn parse(text: &str) -> Frame {
    let Ok(ev) = crate::record::from_json_lenient::<Event>(text) else {
        return Frame::Bad;
    };
    // Every Jetstream event has a kind and a time; without them it is not one.
    let (Some(time_us), Some(kind)) = (ev.time_us, ev.kind.as_deref()) else {
        return Frame::Bad;
    };
    if kind != "commit" {
        return Frame::Other { time_us };
    }
    let Some(c) = ev.commit else {
        return Frame::Bad;
    };
    // Only creates count: an `update` carries a full replacement record, and counting it
    // again would count the same post twice; deletes do not un-count (windows are history).
    if c.operation.as_deref() != Some("create") || c.collection.as_deref() != Some(POST_COLLECTION)
    {
        return Frame::Other { time_us };
    }
    let Some(Ok(record)) = c.record.map(serde_json::from_value::<PostRecord>) else {
        return Frame::Bad;
    };
    let did = ev.did.unwrap_or_default();
    let rkey = c.rkey.unwrap_or_default();
    // `rev` identifies the commit; older servers may omit it, then the record's cid does.
    let rev = c.rev.or(c.cid).unwrap_or_default();
    let key = xxhash_rust::xxh3::xxh3_128(format!("{did}\0{rkey}\0{rev}").as_bytes());
    let post = Post {
        tags: tags(&record),
        text: record.text,
        time: Some(time_us / 1000),
        author: Some(did.clone()),
    };
    Frame::Post { key, time_us, post }
}

/// Facet tags, then `record.tags`, without `#`, each once per post (compared without case,
/// the first spelling kept).
fn tags(r: &PostRecord) -> Vec<String> {
    let facet_tags = r
        .facets
        .iter()
        .flat_map(|f| &f.features)
        .filter(|f| f.kind.as_deref() == Some(TAG_FEATURE))
        .filter_map(|f| f.tag.as_ref()?.as_str());
    let extra = r.tags.iter().filter_map(|t| t.as_str());
    let mut out: Vec<String> = Vec::new();
    for t in facet_tags.chain(extra) {
        // The lexicon says "without #", except for double hash tags: strip one sign at most.
        let t = t.trim();
        // Trimmed again: spaces after the sign are no part of the tag (found by the jetstream
        // fuzz target: "#  RUSTLANG" kept its spaces).
        let t = t.strip_prefix(['#', '\u{FF03}']).unwrap_or(t).trim();
        if t.is_empty() || t.len() > MAX_TAG_BYTES {
            continue;
        }
        let lower = t.to_lowercase();
        if !out.iter().any(|o| o.to_lowercase() == lower) {
            out.push(t.to_owned());
            if out.len() == MAX_TAGS {
                break;
            }
        }
    }
    out
}
