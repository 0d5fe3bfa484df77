//! What the live internet sources (X, Jetstream, Mastodon) hand to the workers: posts,
//! carried as one compact JSON line each (`{"text":…,"time":ms,"tags":[…]}`), so that the
//! same dealer, decoder and counters serve every source.

use serde::Serialize;

use super::dealer::Dealer;
use super::Chunk;
use crate::record::{Decoder, Format};

/// One post of a live source.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Post {
    /// The post's text (plain text: HTML already turned into text).
    pub text: String,
    /// Event time in ms since the Unix epoch (`created_at`, `time_us`…), if the service gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    /// Tags the service names besides the text (facets, `tags[]`), without the sign.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Who posted it (X's `author_id`, Bluesky's DID, Mastodon's account id), for distinct
    /// authors per tag; `None` for a repost (a retweet, a boost), which counts its tags but is
    /// no new author of them: the same post never counts twice for trends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// The decoder for posts: processing time ignores `time`; event time requires it, in ms.
pub fn decoder(event_time: bool) -> Decoder {
    Decoder::new(Format::Jsonl, "text", event_time.then_some("time"))
        .with_tags("tags")
        .with_author("author")
        .with_time_in_ms()
}

/// Collects posts into chunks and deals them to the workers.
pub struct PostSink<'d> {
    deal: &'d mut Dealer,
    chunk: Chunk,
    line: Vec<u8>,
}

impl<'d> PostSink<'d> {
    /// A sink in front of `deal`.
    pub fn new(deal: &'d mut Dealer) -> Self {
        PostSink {
            deal,
            chunk: Chunk::default(),
            line: Vec::new(),
        }
    }

    /// Adds one post; sends a full chunk. Returns false when the workers are gone or
    /// shutdown was asked for.
    pub fn push(&mut self, post: &Post) -> bool {
        self.push_at(post, None)
    }

    /// Adds one post with its position in the stream (a cursor the source can resume from;
    /// a source gives every post one, or none).
    pub fn push_at(&mut self, post: &Post, position: Option<u64>) -> bool {
        self.line.clear();
        if serde_json::to_writer(&mut self.line, post).is_ok() {
            self.chunk.push_line(&self.line);
            if let Some(p) = position {
                self.chunk.positions.push(p);
            }
        }
        if self.chunk.len() >= 256 {
            return self.flush();
        }
        true
    }

    /// Sends what was collected (call when the stream pauses, so posts do not wait).
    pub fn flush(&mut self) -> bool {
        let chunk = std::mem::take(&mut self.chunk);
        self.deal.deal(chunk)
    }

    /// The dealer's source context.
    pub fn ctx(&self) -> &super::SourceContext {
        self.deal.ctx()
    }
}

/// Reads a stream on a thread of its own, so that the caller's loop notices shutdown and
/// stalls while a read blocks: `next` turns the next read of `reader` into a message and says
/// whether it is the last. The thread ends after the last message, or when the receiver is
/// dropped (a reader left blocked ends at its next read: the HTTP agents' per-read timeout).
pub fn spawn_reader<R, M>(
    name: &str,
    queue: usize,
    mut reader: R,
    mut next: impl FnMut(&mut R) -> (M, bool) + Send + 'static,
) -> Result<crossbeam_channel::Receiver<M>, String>
where
    R: Send + 'static,
    M: Send + 'static,
{
    let (tx, rx) = crossbeam_channel::bounded::<M>(queue);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || loop {
            let (msg, last) = next(&mut reader);
            if tx.send(msg).is_err() || last {
                return;
            }
        })
        .map_err(|e| format!("cannot start the reader thread: {e}"))?;
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_round_trip_through_the_decoder() {
        let p = Post {
            text: "a #b\nc".into(),
            time: Some(1_700_000_000_123),
            tags: vec!["x".into()],
            author: Some("did:plc:abc".into()),
        };
        let line = serde_json::to_vec(&p).unwrap();
        let r = decoder(true).decode(&line).unwrap();
        assert_eq!(r.text, "a #b\nc");
        assert_eq!(r.time_ms, Some(1_700_000_000_123));
        assert_eq!(r.tags, ["x"]);
        assert_eq!(r.author, Some(crate::record::author_key("did:plc:abc")));
        let no_time = serde_json::to_vec(&Post {
            text: "t".into(),
            ..Post::default()
        })
        .unwrap();
        assert!(decoder(false).decode(&no_time).is_ok());
    }
}
