//! The live state behind the HTTP API and dashboard: the latest window, a bounded ring of
//! recent windows, a broadcast feed of new ones, and the engine's counters.
//!
//! [`LiveState::publish`] runs on the engine's output loop, so it only serialises the window
//! once (the JSON line of DESIGN.md §4, which every endpoint reuses), takes one short lock,
//! and sends on a broadcast channel that never blocks: a subscriber that falls behind loses
//! the oldest events, not the engine's time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;
use window::Window;

use crate::metrics::{Histogram, Metrics};

/// Windows kept in memory for `GET /api/windows` and the dashboard's history (e.g. one hour
/// at a 10 s slide). Older windows are in the database, if there is one.
pub const RING: usize = 360;

/// Events a slow SSE subscriber may fall behind before it skips the oldest.
const FEED: usize = 64;

/// One emitted window as the API shows it.
#[derive(Debug)]
pub struct Emitted {
    /// Window start, ms since the epoch.
    pub start_ms: u64,
    /// Window end, ms since the epoch.
    pub end_ms: u64,
    /// When the engine emitted it, ms since the epoch.
    pub emitted_ms: u64,
    /// Distinct tags in the window.
    pub distinct: u64,
    /// The window's JSON line (DESIGN.md §4), without the newline.
    pub json: String,
    /// Its trending list with its times (`GET /api/trends`).
    pub trends_json: String,
}

/// What the HTTP server shows: the latest windows, the counters, and a feed of new windows.
pub struct LiveState {
    /// Counters of the engine.
    pub metrics: Arc<Metrics>,
    /// The results database, for `POST /api/sql`.
    pub db: Option<String>,
    /// Window end → emitted, in seconds (processing time: the pipeline's delay; event time:
    /// how far the data's clock trails the wall clock).
    pub lag: Histogram,
    /// When the state was made (for uptime).
    pub started: Instant,
    recent: Mutex<VecDeque<Arc<Emitted>>>,
    feed: broadcast::Sender<Arc<Emitted>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl LiveState {
    /// A state with no window yet.
    pub fn new(metrics: Arc<Metrics>, db: Option<String>) -> LiveState {
        let (feed, _) = broadcast::channel(FEED);
        LiveState {
            metrics,
            db,
            lag: Histogram::default(),
            started: Instant::now(),
            recent: Mutex::new(VecDeque::with_capacity(RING)),
            feed,
        }
    }

    /// Records a new window and notifies the event stream. Never blocks on readers.
    pub fn publish(&self, w: &Window) {
        let emitted_ms = now_ms();
        let lag_ms = emitted_ms.saturating_sub(w.end_ms);
        self.lag.observe(lag_ms as f64 / 1000.0);
        let e = Arc::new(Emitted {
            start_ms: w.start_ms,
            end_ms: w.end_ms,
            emitted_ms,
            distinct: w.distinct,
            json: super::json::line(w),
            trends_json: super::json::trends(w),
        });
        {
            let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if r.len() == RING {
                r.pop_front();
            }
            r.push_back(e.clone());
        }
        // An error only means nobody is subscribed.
        let _ = self.feed.send(e);
    }

    /// The latest window, if any was emitted.
    pub fn latest(&self) -> Option<Arc<Emitted>> {
        let r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        r.back().cloned()
    }

    /// Windows ending after `since_ms` (all with `None`), oldest first, at most the `limit`
    /// newest of them.
    pub fn windows(&self, since_ms: Option<u64>, limit: usize) -> Vec<Arc<Emitted>> {
        let r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let after: Vec<_> = r
            .iter()
            .filter(|e| since_ms.is_none_or(|s| e.end_ms > s))
            .cloned()
            .collect();
        let skip = after.len().saturating_sub(limit);
        after.into_iter().skip(skip).collect()
    }

    /// A receiver of every window published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Emitted>> {
        self.feed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    fn win(end_ms: u64) -> Window {
        Window {
            start_ms: end_ms - 1000,
            end_ms,
            records: 1,
            tagged: 1,
            tags: 1,
            distinct: 1,
            late: 0,
            top: vec![("#a".into(), 1)],
            counts: Vec::new(),
            trending: Vec::new(),
            approx: None,
        }
    }

    #[test]
    fn ring_is_bounded_and_filtered_newest_last() {
        let s = LiveState::new(Arc::default(), None);
        let mut rx = s.subscribe();
        for i in 1..=(RING as u64 + 5) {
            s.publish(&win(i * 1000));
        }
        assert_eq!(s.windows(None, usize::MAX).len(), RING);
        assert_eq!(s.latest().map(|e| e.end_ms), Some((RING as u64 + 5) * 1000));
        let last2 = s.windows(Some(1000), 2);
        assert_eq!(
            last2.iter().map(|e| e.end_ms).collect::<Vec<_>>(),
            vec![(RING as u64 + 4) * 1000, (RING as u64 + 5) * 1000]
        );
        // The subscriber fell behind: it skips to the newest events instead of blocking.
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        assert_eq!(s.lag.count.load(Relaxed), RING as u64 + 5);
    }
}
