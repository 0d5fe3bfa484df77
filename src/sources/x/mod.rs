//! X API v2 filtered stream (`x://`): stream rules from `--track`, the long-lived chunked
//! stream split into `\r\n` frames, stall detection, and the reconnect rules X publishes
//! (PROTOCOLS.md §1, from docs.x.com "handling disconnections").
//!
//! - `http.rs`: the agent, the rules API, opening the stream, failure classes;
//! - `frame.rs`: one message → a post, an error object, or a skip;
//! - this file: the connect / read / back-off loop.

// Public for the fuzz targets (crates/fuzz-targets): one message of the stream is untrusted
// bytes; not an API.
#[doc(hidden)]
pub mod frame;
mod http;
#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::RecvTimeoutError;

use super::backoff::{Backoff, RealSleeper, Sleeper};
use super::dealer::Dealer;
use super::lines::{Chunk, LineReader, Step};
use super::live::{Post, PostSink};
use super::secret::Secret;
use super::SourceContext;
use crate::metrics::SourceCounters;
use frame::{Frame, RecentIds};
use http::Failure;

/// The public API host; `--endpoint URL` replaces it.
pub const DEFAULT_HOST: &str = "https://api.x.com";
/// No byte (heartbeats included) for this long means the stream stalled (X sends a
/// heartbeat at least every 20 s and says to reconnect after 20 s of silence).
pub const DEFAULT_STALL: Duration = Duration::from_secs(20);
/// How often the loop looks at the shutdown flag while the stream is quiet.
const TICK: Duration = Duration::from_millis(100);

/// Parameters of an `x://` URI: `x://` or `x://?stall=500ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct XSpec {
    /// Silence after which the connection is dropped and opened again.
    pub stall: Duration,
}

impl XSpec {
    /// Parses the part after `x://`.
    pub fn parse(rest: &str) -> Result<XSpec, String> {
        let (host, query) = rest.split_once('?').unwrap_or((rest, ""));
        if !host.trim_matches('/').is_empty() {
            return Err(format!(
                "x:// takes no host (got '{host}'); use --endpoint URL to talk to another server"
            ));
        }
        let mut spec = XSpec {
            stall: DEFAULT_STALL,
        };
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            match kv.split_once('=') {
                Some(("stall", v)) => spec.stall = crate::time::duration(v)?,
                _ => {
                    return Err(format!(
                        "x://: unknown parameter '{kv}' (known: stall=DURATION)"
                    ))
                }
            }
        }
        Ok(spec)
    }
}

/// Where posts go: the dealer in production, a vector in tests.
pub trait Posts {
    /// Adds one post; false when the source should stop.
    fn push(&mut self, post: &Post) -> bool;
    /// Sends what is held (the stream paused); false when the source should stop.
    fn flush(&mut self) -> bool;
}

impl Posts for PostSink<'_> {
    fn push(&mut self, post: &Post) -> bool {
        PostSink::push(self, post)
    }
    fn flush(&mut self) -> bool {
        PostSink::flush(self)
    }
}

/// Reads the stream until shutdown (called on its own thread by `dealer::spawn`).
pub fn run(spec: &XSpec, deal: &mut Dealer, ctx: &SourceContext) {
    let token = match Secret::from_env("X_BEARER_TOKEN") {
        Ok(t) => t,
        Err(e) => return ctx.fail(format!("x://: {e}")),
    };
    let mut sink = PostSink::new(deal);
    stream(spec, ctx, &token, &mut sink, &mut RealSleeper(ctx.clone()));
}

/// The three published schedules; all start again after a successful connect.
struct Delays {
    network: Backoff,
    http: Backoff,
    rate: Backoff,
}

impl Delays {
    fn new() -> Delays {
        let s = Duration::from_secs;
        Delays {
            network: Backoff::linear(Duration::from_millis(250), s(16)),
            http: Backoff::exponential(s(5), s(320)),
            // "Double until rate limiting expires": the rate-limit window is 15 minutes, so a
            // longer wait never helps.
            rate: Backoff::exponential(s(60), s(900)),
        }
    }

    fn reset(&mut self) {
        self.network.reset();
        self.http.reset();
        self.rate.reset();
    }

    /// The wait after `f`. A 429 waits for the published schedule *and* until the
    /// `x-rate-limit-reset` time (plus 1 s for clock rounding), whichever is later, at most
    /// one 15-minute window past the schedule (a wrong clock must not park us for days).
    fn after(&mut self, f: &Failure, now: SystemTime) -> Duration {
        match f {
            Failure::Network(_) => self.network.next_delay(),
            Failure::Http(_) | Failure::Fatal(_) => self.http.next_delay(),
            Failure::RateLimited(reset) => {
                let d = self.rate.next_delay();
                let now_ms = now
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis();
                let until = reset
                    .map(|r| u128::from(r) * 1000 + 1000)
                    .filter(|&r| r > now_ms)
                    .map(|r| Duration::from_millis((r - now_ms) as u64))
                    .unwrap_or_default();
                d.max(until.min(Duration::from_secs(900) + d))
            }
        }
    }
}

/// How a connection ended.
enum End {
    /// Shutdown, or the workers are gone.
    Stop,
    /// The connection dropped (closed, read error, stall). `heard` when any byte came.
    Dropped { why: String, heard: bool },
}

/// The connect / read / back-off loop, with the token and the sleeper given (tests pass a
/// `FakeSleeper` and assert the exact delays).
pub fn stream(
    spec: &XSpec,
    ctx: &SourceContext,
    token: &Secret,
    out: &mut dyn Posts,
    sleeper: &mut dyn Sleeper,
) {
    if ureq::http::HeaderValue::from_str(&format!("Bearer {}", token.expose())).is_err() {
        return ctx.fail("x://: X_BEARER_TOKEN holds characters that cannot go in an HTTP header");
    }
    let base = ctx
        .endpoint
        .as_deref()
        .unwrap_or(DEFAULT_HOST)
        .trim_end_matches('/')
        .to_owned();
    let counters = ctx.metrics.source("x");
    let agent = http::agent(spec.stall);
    let mut delays = Delays::new();
    let mut rules_synced = false;
    let mut recent = RecentIds::new(10_000);
    let mut last_problem = String::new();
    loop {
        if ctx.stopping() {
            return;
        }
        let attempt = if rules_synced || ctx.track.is_empty() {
            // An empty --track keeps the app's rules as they are.
            http::open_stream(&agent, &base, token)
        } else {
            http::sync_rules(&agent, &base, token, &ctx.track).and_then(|r| {
                crate::log::info(format_args!(
                    "x://: rules: {} kept, {} added, {} deleted (tag '{}'){}",
                    r.kept,
                    r.added,
                    r.deleted,
                    http::RULE_TAG,
                    if r.others > 0 {
                        format!("; {} rules with other tags also feed this stream", r.others)
                    } else {
                        String::new()
                    }
                ));
                rules_synced = true;
                http::open_stream(&agent, &base, token)
            })
        };
        let failure = match attempt {
            Ok(body) => {
                delays.reset();
                last_problem.clear();
                crate::log::info(format_args!("x://: connected to {base}"));
                let open = counters.connection();
                let end = read(body, spec, ctx, out, &counters, &mut recent);
                drop(open);
                match end {
                    End::Stop => return,
                    // After an established connection drops, reconnect at once (once):
                    // the next failure, if any, backs off by its class.
                    End::Dropped { why, heard: true } => {
                        crate::log::info(format_args!("x://: {why}; reconnecting"));
                        continue;
                    }
                    // A server that accepts and closes without a byte is treated as a
                    // network error, so it is not hammered in a tight loop.
                    End::Dropped { why, heard: false } => Failure::Network(why),
                }
            }
            Err(Failure::Fatal(msg)) => return ctx.fail(msg),
            Err(f) => f,
        };
        let delay = delays.after(&failure, SystemTime::now());
        let problem = match &failure {
            Failure::Network(m) | Failure::Http(m) | Failure::Fatal(m) => m.clone(),
            Failure::RateLimited(_) => "429 Too Many Requests".to_owned(),
        };
        // One line per change of problem, not one per retry.
        if problem != last_problem {
            crate::log::warn(format_args!(
                "x://: {problem}; retrying in {} (and backing off)",
                humantime::format_duration(delay)
            ));
            last_problem = problem;
        }
        if !sleeper.sleep(delay) {
            return;
        }
    }
}

/// What the reader thread hands over.
enum Got {
    Lines(Chunk, u64),
    Eof,
    Stalled,
    Failed(String),
}

/// Reads one open stream until it ends. The blocking reads run on a helper thread, so this
/// loop wakes every [`TICK`] to look at the shutdown flag and the stall clock; the agent's
/// per-read timeout (`stall`) also ends a read that hears nothing, so the helper never
/// outlives a dead connection by more than the stall time.
fn read(
    body: impl Read + Send + 'static,
    spec: &XSpec,
    ctx: &SourceContext,
    out: &mut dyn Posts,
    counters: &SourceCounters,
    recent: &mut RecentIds,
) -> End {
    let mut r = LineReader::new(body, ctx.max_line);
    r.set_read_size(16 << 10);
    let mut too_long = 0;
    let rx = match super::live::spawn_reader("x-stream-read", 64, r, move |r| {
        let got = match r.read_chunk() {
            Ok(Step::Lines(c)) => {
                Got::Lines(c, r.too_long - std::mem::replace(&mut too_long, r.too_long))
            }
            Ok(Step::Idle) => Got::Stalled,
            Ok(Step::Eof) => Got::Eof,
            // The agent's per-read timeout: `stall` without a byte.
            Err(e) if is_timeout(&e) => Got::Stalled,
            Err(e) => Got::Failed(e.to_string()),
        };
        let last = !matches!(got, Got::Lines(..));
        (got, last)
    }) {
        Ok(rx) => rx,
        Err(why) => return End::Dropped { why, heard: false },
    };
    let mut heard = false;
    let mut last = Instant::now();
    let stalled = |heard| End::Dropped {
        why: format!(
            "stalled: nothing for {}",
            humantime::format_duration(spec.stall)
        ),
        heard,
    };
    loop {
        if ctx.stopping() {
            return End::Stop;
        }
        match rx.recv_timeout(TICK) {
            Ok(Got::Lines(chunk, too_long)) => {
                // Any byte, a heartbeat or half a frame, shows the connection is alive.
                heard = true;
                last = Instant::now();
                for _ in 0..too_long {
                    counters.skip("too_long");
                }
                for line in chunk.iter() {
                    if !handle(line, out, counters, recent) {
                        return End::Stop;
                    }
                }
                if rx.is_empty() && !out.flush() {
                    return End::Stop;
                }
            }
            Ok(Got::Eof) => {
                let why = "closed by the server".to_owned();
                return End::Dropped { why, heard };
            }
            Ok(Got::Failed(e)) => {
                let why = format!("read error: {}", frame::one_line(&e, 200));
                return End::Dropped { why, heard };
            }
            Ok(Got::Stalled) => return stalled(heard),
            Err(RecvTimeoutError::Timeout) if last.elapsed() >= spec.stall => {
                return stalled(heard)
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                let why = "the reader ended".to_owned();
                return End::Dropped { why, heard };
            }
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|x| x.downcast_ref::<ureq::Error>())
            .is_some_and(|x| matches!(x, ureq::Error::Timeout(_)))
}

/// One line of the stream. Returns false when the source should stop.
fn handle(
    line: &[u8],
    out: &mut dyn Posts,
    counters: &SourceCounters,
    recent: &mut RecentIds,
) -> bool {
    if line.iter().all(u8::is_ascii_whitespace) {
        return true; // a keep-alive heartbeat
    }
    match frame::parse(line) {
        Frame::Post(id, post) => {
            if let Some(id) = id {
                if !recent.first_time(&id) {
                    counters.skip("duplicate");
                    return true;
                }
            }
            counters.records.fetch_add(1, Relaxed);
            out.push(&post)
        }
        Frame::Error(msg) => {
            // Usually followed by the server closing the stream; we do not rely on it
            // (the docs warn such messages may never arrive) and just log it.
            counters.skip("stream_error");
            crate::log::warn(format_args!("x://: the stream says: {msg}"));
            true
        }
        Frame::Bad => {
            counters.skip("bad_frame");
            true
        }
    }
}
