//! Every counter of a running engine, named once.
//!
//! One `Metrics` is shared (behind an `Arc`) by the sources, the workers and the views of a
//! process. Counters are relaxed atomics: they are statistics, never used for control flow.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// Why a record was skipped. Each reason has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// A JSON line that is not valid UTF-8 (text lines are decoded lossily instead).
    InvalidUtf8,
    /// A line that is not a JSON object.
    BadJson,
    /// The text or time field is absent.
    MissingField,
    /// The text field is not a string, or the time field is neither a string nor a number.
    BadField,
    /// The time field could not be parsed as a timestamp, or lies outside the believed range
    /// (`--min-time`, `--max-time`).
    BadTime,
    /// A line longer than the configured maximum (`--max-line`).
    LineTooLong,
    /// An event time too far ahead of its partition's clock (`--max-skew`).
    Skew,
}

impl Skip {
    /// All reasons, in the order they are shown.
    pub const ALL: [Skip; 7] = [
        Skip::InvalidUtf8,
        Skip::BadJson,
        Skip::MissingField,
        Skip::BadField,
        Skip::BadTime,
        Skip::LineTooLong,
        Skip::Skew,
    ];

    /// The reason's name in counters and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Skip::InvalidUtf8 => "invalid_utf8",
            Skip::BadJson => "bad_json",
            Skip::MissingField => "missing_field",
            Skip::BadField => "bad_field",
            Skip::BadTime => "bad_time",
            Skip::LineTooLong => "line_too_long",
            Skip::Skew => "skew",
        }
    }
}

/// The counters of one process.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Records accepted (decoded), whatever their tags.
    pub records_in: AtomicU64,
    /// Bytes of input lines read (without line endings).
    pub bytes_in: AtomicU64,
    /// Records skipped, by reason (index of `Skip::ALL`).
    skipped: [AtomicU64; 7],
    /// Records dropped because every window that could hold them was already emitted.
    pub late: AtomicU64,
    /// Records left out by the `--track` topic filter.
    pub filtered: AtomicU64,
    /// Tags left out because their key is over `hashtag::MAX_KEY_BYTES` (the rest of their
    /// record counts).
    pub tags_too_long: AtomicU64,
    /// Windows emitted by this process.
    pub windows_emitted: AtomicU64,
    /// Batch processing time: from the input moving past a batch to the whole dataflow being
    /// done with it (as seen by worker 0's probe), in seconds.
    pub batch_seconds: Histogram,
    /// Checkpoint files written by this process's workers, their bytes and the time each
    /// took (snapshot, write, fsync, rename), in µs.
    pub checkpoint_files: AtomicU64,
    /// Bytes of those files.
    pub checkpoint_bytes: AtomicU64,
    /// Time spent on them, µs.
    pub checkpoint_us: AtomicU64,
    /// Epochs committed (by process 0).
    pub checkpoints_committed: AtomicU64,
    /// Counters of each connected source, by name (`socket://…`, `x`, …).
    sources: Mutex<BTreeMap<String, Arc<SourceCounters>>>,
    /// Window state bytes of each of this process's shards (`Shard::state_bytes`), as each
    /// last reported them.
    window_state: Mutex<Vec<Arc<AtomicU64>>>,
}

/// The counters of one connected source.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Connections open now.
    pub connected: AtomicU64,
    /// Connections opened so far (a listening source's clients included).
    pub connections: AtomicU64,
    /// Reconnections after a connection ended or failed.
    pub reconnects: AtomicU64,
    /// Records (posts, lines) received.
    pub records: AtomicU64,
    /// Frames or messages skipped, by reason (e.g. `bad_frame`, `duplicate`).
    skipped: Mutex<BTreeMap<&'static str, u64>>,
}

impl SourceCounters {
    /// A connection of a source that reconnects (socket, X, Jetstream, Mastodon): counted as
    /// open until the guard is dropped, and as a reconnect unless it is the first.
    pub fn connection(&self) -> Open<'_> {
        if self.connections.fetch_add(1, Relaxed) > 0 {
            self.reconnects.fetch_add(1, Relaxed);
        }
        self.connected.fetch_add(1, Relaxed);
        Open(self)
    }

    /// A client of a listening source: counted as open until the guard is dropped (clients
    /// come and go, which is no reconnect).
    pub fn client(&self) -> Open<'_> {
        self.connections.fetch_add(1, Relaxed);
        self.connected.fetch_add(1, Relaxed);
        Open(self)
    }

    /// A source opened once and read by several shares (a file's byte ranges): counted as
    /// one connection, open until the guard (shared by the shares) is dropped.
    pub fn opened(self: &Arc<Self>) -> Opened {
        self.connections.fetch_add(1, Relaxed);
        self.connected.fetch_add(1, Relaxed);
        Opened(self.clone())
    }

    /// Counts one skipped frame or message.
    pub fn skip(&self, reason: &'static str) {
        if let Ok(mut m) = self.skipped.lock() {
            *m.entry(reason).or_default() += 1;
        }
    }

    /// Skipped so far for `reason`.
    pub fn skipped(&self, reason: &str) -> u64 {
        self.skipped
            .lock()
            .map(|m| m.get(reason).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Skipped frames or messages by reason.
    pub fn skipped_all(&self) -> Vec<(&'static str, u64)> {
        self.skipped
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    /// These counters now.
    pub fn summary(&self) -> SourceSummary {
        SourceSummary {
            connected: self.connected.load(Relaxed),
            connections: self.connections.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            records: self.records.load(Relaxed),
            skipped: self.skipped_all().into_iter().collect(),
        }
    }
}

/// An open connection of a source; counted closed when dropped.
#[derive(Debug)]
pub struct Open<'a>(&'a SourceCounters);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Relaxed);
    }
}

/// [`Open`] that owns its counters, to be shared by the shares of one source.
#[derive(Debug)]
pub struct Opened(Arc<SourceCounters>);

impl Drop for Opened {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    /// Counts one skipped record.
    pub fn skip(&self, why: Skip) {
        self.skipped[why as usize].fetch_add(1, Relaxed);
    }

    /// Counts `n` skipped records.
    pub fn skip_n(&self, why: Skip, n: u64) {
        if n > 0 {
            self.skipped[why as usize].fetch_add(n, Relaxed);
        }
    }

    /// Records skipped for this reason so far.
    pub fn skipped(&self, why: Skip) -> u64 {
        self.skipped[why as usize].load(Relaxed)
    }

    /// Records skipped for any reason so far.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// A slot where one shard reports its window state bytes (`Shard::state_bytes`).
    pub fn window_state_slot(&self) -> Arc<AtomicU64> {
        let slot = Arc::new(AtomicU64::new(0));
        let mut v = self.window_state.lock().unwrap_or_else(|e| e.into_inner());
        v.push(slot.clone());
        slot
    }

    /// Window state bytes of this process's shards: what `--max-tags` bounds (issue 15).
    pub fn window_state_bytes(&self) -> u64 {
        let v = self.window_state.lock().unwrap_or_else(|e| e.into_inner());
        v.iter().map(|s| s.load(Relaxed)).sum()
    }

    /// The counters of source `name`, made on first use.
    pub fn source(&self, name: &str) -> Arc<SourceCounters> {
        let mut m = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(name.to_owned()).or_default().clone()
    }

    /// Every source's name and one-line summary.
    pub fn source_summaries(&self) -> Vec<(String, String)> {
        let m = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .map(|(k, v)| (k.clone(), v.summary().line()))
            .collect()
    }

    /// Every source's name and counters, by name.
    pub fn sources(&self) -> Vec<(String, Arc<SourceCounters>)> {
        let m = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn source_total(&self, f: impl Fn(&SourceCounters) -> u64) -> u64 {
        let m = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        m.values().map(|c| f(c)).sum()
    }

    /// A point-in-time copy of every counter.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            records_in: self.records_in.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            skipped: Skip::ALL.map(|s| (s.name(), self.skipped(s))),
            late: self.late.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            tags_too_long: self.tags_too_long.load(Relaxed),
            windows_emitted: self.windows_emitted.load(Relaxed),
            reconnects: self.source_total(|c| c.reconnects.load(Relaxed)),
            connected: self.source_total(|c| c.connected.load(Relaxed)),
        }
    }
}

/// Upper bounds (seconds) of every [`Histogram`]'s buckets.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A histogram of durations in seconds over fixed [`BUCKETS`] (Prometheus style).
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket of [`BUCKETS`] (not cumulative); the last one is `+Inf`.
    pub buckets: [AtomicU64; 13],
    /// Sum of the observations, in microseconds.
    pub sum_us: AtomicU64,
    /// Number of observations.
    pub count: AtomicU64,
    /// The latest observation, in microseconds.
    pub last_us: AtomicU64,
}

impl Histogram {
    /// Counts one duration of `secs` seconds.
    pub fn observe(&self, secs: f64) {
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        let us = (secs * 1e6) as u64;
        self.sum_us.fetch_add(us, Relaxed);
        self.last_us.store(us, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }
}

/// Counter values at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// See [`Metrics::records_in`].
    pub records_in: u64,
    /// See [`Metrics::bytes_in`].
    pub bytes_in: u64,
    /// Skipped records by reason name.
    pub skipped: [(&'static str, u64); 7],
    /// See [`Metrics::late`].
    pub late: u64,
    /// See [`Metrics::filtered`].
    pub filtered: u64,
    /// See [`Metrics::tags_too_long`].
    pub tags_too_long: u64,
    /// See [`Metrics::windows_emitted`].
    pub windows_emitted: u64,
    /// Reconnections of all sources.
    pub reconnects: u64,
    /// Connections open now, over all sources.
    pub connected: u64,
}

impl Snapshot {
    /// "skipped 3 (bad_json 2, bad_time 1)" or "skipped 0".
    pub fn skipped_summary(&self) -> String {
        let total: u64 = self.skipped.iter().map(|(_, n)| n).sum();
        let parts: Vec<String> = self
            .skipped
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        if parts.is_empty() {
            format!("skipped {total}")
        } else {
            format!("skipped {total} ({})", parts.join(", "))
        }
    }
}

/// What a run did, as a typed value: printed as the closing `done:` line, written as JSON by
/// `--summary-json FILE`, served on `/api/summary` while running. Scripts and tests read the
/// JSON (its keys are the field names below), never the log line.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Windows emitted.
    pub windows: u64,
    /// Records accepted.
    pub records: u64,
    /// Bytes of input lines read.
    pub bytes: u64,
    /// Wall time of the run so far, in seconds.
    pub seconds: f64,
    /// `records / seconds`.
    pub records_per_s: f64,
    /// `bytes / seconds`, in MB (10^6 bytes) per second.
    pub mb_per_s: f64,
    /// Records skipped: `total` and one entry per reason (`bad_json`, `bad_time`, …).
    pub skipped: BTreeMap<&'static str, u64>,
    /// Records dropped as late.
    pub late: u64,
    /// Records left out by `--track`.
    pub filtered: u64,
    /// Tags left out as too long (over `hashtag::MAX_KEY_BYTES`), their records counted.
    pub tags_too_long: u64,
    /// Reconnections of all sources.
    pub reconnects: u64,
    /// Each source's counters, by name.
    pub sources: BTreeMap<String, SourceSummary>,
    /// Checkpoints, when `--checkpoint-dir` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<CheckpointSummary>,
}

/// One source's counters in a [`Summary`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SourceSummary {
    /// Connections open at the time of the summary.
    pub connected: u64,
    /// Connections opened so far.
    pub connections: u64,
    /// Reconnections after a connection ended or failed.
    pub reconnects: u64,
    /// Records received.
    pub records: u64,
    /// Frames or messages skipped, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
}

/// Checkpoint figures in a [`Summary`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CheckpointSummary {
    /// Epochs committed (by process 0).
    pub committed: u64,
    /// Worker files written by this process.
    pub files: u64,
    /// Their bytes, on average.
    pub avg_bytes: f64,
    /// Time each took (snapshot, write, fsync, rename), on average, in ms.
    pub avg_ms: f64,
}

impl Metrics {
    /// The summary of a run that has gone on for `elapsed` (`checkpoints`: whether it
    /// checkpoints).
    pub fn summary(&self, elapsed: Duration, checkpoints: bool) -> Summary {
        let s = self.snapshot();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mut skipped: BTreeMap<&'static str, u64> = s.skipped.iter().copied().collect();
        skipped.insert("total", self.skipped_total());
        let sources = self
            .sources()
            .into_iter()
            .map(|(name, c)| (name, c.summary()))
            .collect();
        let checkpoints = checkpoints.then(|| {
            let files = self.checkpoint_files.load(Relaxed);
            let per = files.max(1) as f64;
            CheckpointSummary {
                committed: self.checkpoints_committed.load(Relaxed),
                files,
                avg_bytes: self.checkpoint_bytes.load(Relaxed) as f64 / per,
                avg_ms: self.checkpoint_us.load(Relaxed) as f64 / 1e3 / per,
            }
        });
        Summary {
            windows: s.windows_emitted,
            records: s.records_in,
            bytes: s.bytes_in,
            seconds: secs,
            records_per_s: s.records_in as f64 / secs,
            mb_per_s: s.bytes_in as f64 / 1e6 / secs,
            skipped,
            late: s.late,
            filtered: s.filtered,
            tags_too_long: s.tags_too_long,
            reconnects: s.reconnects,
            sources,
            checkpoints,
        }
    }
}

impl Summary {
    /// The closing lines for people: `done: windows …`, one per source, and one for
    /// checkpoints.
    pub fn lines(&self) -> Vec<String> {
        let total = self.skipped.get("total").copied().unwrap_or(0);
        let reasons: Vec<String> = self
            .skipped
            .iter()
            .filter(|(k, n)| **k != "total" && **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let skipped = if reasons.is_empty() {
            format!("skipped {total}")
        } else {
            format!("skipped {total} ({})", reasons.join(", "))
        };
        let mut out = vec![format!(
            "done: windows {}, records {} ({:.1} MB) in {:.2}s = {:.0} records/s, {:.1} MB/s; \
             {skipped}; late {}; filtered {}; reconnects {}",
            self.windows,
            self.records,
            self.bytes as f64 / 1e6,
            self.seconds,
            self.records_per_s,
            self.mb_per_s,
            self.late,
            self.filtered,
            self.reconnects
        )];
        if self.tags_too_long > 0 {
            out[0].push_str(&format!("; tags too long {}", self.tags_too_long));
        }
        for (name, c) in &self.sources {
            out.push(format!("source {name}: {}", c.line()));
        }
        if let Some(c) = &self.checkpoints {
            out.push(format!(
                "checkpoints: {} committed; {} worker files here, {:.0} bytes and {:.2} ms each \
                 on average",
                c.committed, c.files, c.avg_bytes, c.avg_ms
            ));
        }
        out
    }
}

impl SourceSummary {
    /// One line: "connected 1, connections 3, reconnects 2, records 10, skipped bad_frame 1".
    pub fn line(&self) -> String {
        let mut s = format!(
            "connected {}, connections {}, reconnects {}, records {}",
            self.connected, self.connections, self.reconnects, self.records
        );
        for (k, v) in &self.skipped {
            s.push_str(&format!(", skipped {k} {v}"));
        }
        s
    }
}
