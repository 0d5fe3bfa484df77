//! The cursor and the duplicate filter that make a reconnect lose nothing and count nothing
//! twice.
//!
//! Jetstream's cursor is a time (`time_us`, µs) and delivery is at least once (PROTOCOLS §2.4:
//! "use the `time_us` from your most recently processed event and maybe provide a negative
//! buffer … deduplicate by (did, collection, rkey, rev)"). So we reconnect with
//! `cursor = last time_us − rewind` and remember the keys of the posts seen in the last
//! `rewind + RETAIN_SLACK` of stream time. A replayed post is recognised by its key, not by
//! its time: `time_us` is assigned by each instance, so after a fail-over to another
//! instance the same post can carry a slightly different time, and two different posts can
//! share one; "time ≤ last seen" would then drop or double posts, the key does neither.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

/// Keys are kept this much longer than the rewind, so that small differences between
/// instances' clocks and unsorted delivery do not let a replay slip past the filter.
const RETAIN_SLACK: Duration = Duration::from_secs(60);
/// How far past this machine's clock an event's time may move the cursor.
const MAX_AHEAD: Duration = Duration::from_secs(600);
/// At most this many keys are kept, whatever the stream's rate (memory bound: ~50 bytes
/// each). Bluesky's whole post firehose is well under 1,000 posts/s, so the time rule
/// normally prunes first.
const MAX_KEYS: usize = 200_000;

/// Cursor and recent keys.
#[derive(Debug)]
pub struct Resume {
    /// Greatest `time_us` of any event received (posts or not).
    last_us: Option<u64>,
    /// The cursor asked for before any event arrived (`?cursor=` in the URI).
    start: Option<u64>,
    rewind_us: u64,
    retain_us: u64,
    seen: HashSet<u128>,
    order: VecDeque<(u64, u128)>,
    /// A time past the clock was met (said once).
    warned_ahead: bool,
}

impl Resume {
    /// Starts at `start` (µs; `None`: live tail), resuming `rewind` before the last event.
    pub fn new(start: Option<u64>, rewind: Duration) -> Resume {
        let rewind_us = u64::try_from(rewind.as_micros()).unwrap_or(u64::MAX);
        Resume {
            last_us: None,
            start,
            rewind_us,
            retain_us: rewind_us.saturating_add(RETAIN_SLACK.as_micros() as u64),
            seen: HashSet::new(),
            order: VecDeque::new(),
            warned_ahead: false,
        }
    }

    /// The cursor for the next connection: `rewind` before the last event seen, else the
    /// start cursor, else none (live tail).
    pub fn cursor(&self) -> Option<u64> {
        match self.last_us {
            Some(t) => Some(t.saturating_sub(self.rewind_us)),
            None => self.start,
        }
    }

    /// Moves the cursor for an event that is not a post. A time more than `MAX_AHEAD`
    /// past this machine's clock does not: one such event (a broken or hostile server) fixed
    /// the cursor in the future for good, and a real Jetstream reads a future cursor as the
    /// live tail, so every later reconnect lost what it should have replayed.
    pub fn saw(&mut self, time_us: u64) {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        if time_us > now_us.saturating_add(MAX_AHEAD.as_micros() as u64) {
            if !self.warned_ahead {
                self.warned_ahead = true;
                crate::log::warn(format_args!(
                    "jetstream: an event is stamped more than {} past this machine's clock; \
                     such times do not move the resume cursor (if every event is, check the \
                     clock)",
                    humantime::format_duration(MAX_AHEAD)
                ));
            }
            return;
        }
        self.last_us = Some(self.last_us.map_or(time_us, |l| l.max(time_us)));
    }

    /// True if the post with `key` is new (and remembers it); false for a replay.
    pub fn first_time(&mut self, key: u128, time_us: u64) -> bool {
        self.saw(time_us);
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back((time_us, key));
        let horizon = self.last_us.unwrap_or(0).saturating_sub(self.retain_us);
        while let Some(&(t, k)) = self.order.front() {
            if t >= horizon && self.order.len() <= MAX_KEYS {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&k);
        }
        true
    }

    /// Keys remembered now.
    #[cfg(test)]
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}
