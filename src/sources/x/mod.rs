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

use super::backoff::{AttemptBudget, Backoff, RealSleeper, Sleeper};
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
/// A stream that stayed open this long was healthy: its end resets the backoff and is
/// followed by one immediate reconnect (X's rule for "an established connection"). One that
/// ends sooner is a failure. 30 s is past X's 20 s heartbeat and stall time, so a healthy
/// stream has shown at least one heartbeat; and even a stream that drops every 30 s and is
/// reopened at once makes 30 connects per 15 minutes, within X's 50.
pub const HEALTHY: Duration = Duration::from_secs(30);
/// X's limit on stream connects (rate-limits.mdx: 50 requests per 15 minutes).
const CONNECTS: usize = 50;
/// The window of that limit.
const CONNECT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How often the loop looks at the shutdown flag while the stream is quiet.
const TICK: Duration = Duration::from_millis(100);

/// Parameters of an `x://` URI: `x://` or `x://?stall=500ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct XSpec {
    /// Silence after which the connection is dropped and opened again.
    pub stall: Duration,
    /// How long a stream must stay open to count as healthy ([`HEALTHY`]; not a URI
    /// parameter: tests shorten it).
    pub healthy: Duration,
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
            healthy: HEALTHY,
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

/// The three published schedules. None starts again on a mere `200`: only a stream that
/// stayed open for [`XSpec::healthy`] resets them.
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
                d.max(until.min(super::backoff::MAX_SERVER_WAIT + d))
            }
        }
    }
}

/// How a connection ended.
enum End {
    /// Shutdown, or the workers are gone.
    Stop,
    /// The connection dropped (closed, read error, stall).
    Dropped(String),
}

/// The connect / read / back-off loop, with the token and the sleeper given (tests pass a
/// `FakeSleeper` and assert the exact delays).
///
/// X's rules (PROTOCOLS.md §1.6): after an established connection drops, reconnect at once,
/// once; then back off by the class of the failure. Here "established" means open for
/// [`XSpec::healthy`]: a stream that ends sooner (a server that answers 200, sends a line
/// and closes) is a failure on the HTTP schedule (5 s doubling to 320 s), whatever ended it.
/// It cost one of X's 50 connects per 15 minutes, and the network schedule (16 s at most,
/// 56 connects per 15 minutes) would overrun that. Under the schedules, an
/// [`AttemptBudget`] keeps every 15 minutes to 50 stream requests that got an answer,
/// whatever the mix of failures.
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
    let mut budget = AttemptBudget::new(CONNECTS, CONNECT_WINDOW);
    let mut rules_synced = false;
    let mut recent = RecentIds::new(10_000);
    let mut last_problem = String::new();
    loop {
        if ctx.stopping() {
            return;
        }
        if !rules_synced && !ctx.track.is_empty() {
            // An empty --track keeps the app's rules as they are.
            match http::sync_rules(&agent, &base, token, &ctx.track) {
                Ok(r) => {
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
                }
                Err(Failure::Fatal(msg)) => return ctx.fail(msg),
                Err(f) => {
                    if !back_off(&f, &mut delays, &mut last_problem, sleeper) {
                        return;
                    }
                    continue;
                }
            }
        }
        let wait = budget.wait(sleeper.now());
        if !wait.is_zero() {
            crate::log::warn(format_args!(
                "x://: {CONNECTS} stream connects in the last 15 minutes (X's limit); waiting {}",
                humantime::format_duration(Duration::from_secs(wait.as_secs().max(1)))
            ));
            if !sleeper.sleep(wait) {
                return;
            }
        }
        let attempt = http::open_stream(&agent, &base, token);
        // A request that got any answer counts against X's limit; one that never reached
        // the server (refused, unreachable) cannot.
        if !matches!(attempt, Err(Failure::Network(_))) {
            budget.spend(sleeper.now());
        }
        let failure = match attempt {
            Ok(body) => {
                crate::log::info(format_args!("x://: connected to {base}"));
                let open = counters.connection();
                let opened = Instant::now();
                let end = read(body, spec, ctx, token, out, &counters, &mut recent);
                drop(open);
                let lasted = opened.elapsed();
                // What the connection delivered goes on now, not after the wait: the reader
                // flushes only when the stream pauses, and the end may come right behind
                // the last post.
                if matches!(end, End::Dropped(_)) && !out.flush() {
                    return;
                }
                match end {
                    End::Stop => return,
                    // A healthy stream: the schedules start again, and the reconnect is
                    // immediate (the next failure, if any, backs off from the start).
                    End::Dropped(why) if lasted >= spec.healthy => {
                        delays.reset();
                        last_problem.clear();
                        crate::log::info(format_args!(
                            "x://: {why} after {}; reconnecting",
                            humantime::format_duration(Duration::from_secs(lasted.as_secs()))
                        ));
                        continue;
                    }
                    End::Dropped(why) => Failure::Http(format!(
                        "the stream ended within {} of connecting ({why})",
                        humantime::format_duration(spec.healthy)
                    )),
                }
            }
            Err(Failure::Fatal(msg)) => return ctx.fail(msg),
            Err(f) => f,
        };
        if !back_off(&failure, &mut delays, &mut last_problem, sleeper) {
            return;
        }
    }
}

/// Waits the delay `failure` calls for, saying so once per change of problem (not once per
/// retry). False when the source should stop instead.
fn back_off(
    failure: &Failure,
    delays: &mut Delays,
    last_problem: &mut String,
    sleeper: &mut dyn Sleeper,
) -> bool {
    let delay = delays.after(failure, SystemTime::now());
    let problem = match failure {
        Failure::Network(m) | Failure::Http(m) | Failure::Fatal(m) => m.clone(),
        Failure::RateLimited(_) => "429 Too Many Requests".to_owned(),
    };
    if problem != *last_problem {
        crate::log::warn(format_args!(
            "x://: {problem}; retrying in {} (and backing off)",
            humantime::format_duration(delay)
        ));
        *last_problem = problem;
    }
    sleeper.sleep(delay)
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
    token: &Secret,
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
        Err(why) => return End::Dropped(why),
    };
    let mut last = Instant::now();
    let stalled = || {
        End::Dropped(format!(
            "stalled: nothing for {}",
            humantime::format_duration(spec.stall)
        ))
    };
    loop {
        if ctx.stopping() {
            return End::Stop;
        }
        match rx.recv_timeout(TICK) {
            Ok(Got::Lines(chunk, too_long)) => {
                // Any byte, a heartbeat or half a frame, shows the connection is alive.
                last = Instant::now();
                for _ in 0..too_long {
                    counters.skip("too_long");
                }
                for line in chunk.iter() {
                    if !handle(line, token, out, counters, recent) {
                        return End::Stop;
                    }
                }
                if rx.is_empty() && !out.flush() {
                    return End::Stop;
                }
            }
            Ok(Got::Eof) => return End::Dropped("closed by the server".to_owned()),
            Ok(Got::Failed(e)) => {
                let e = frame::one_line(&token.scrub(&e), 200);
                return End::Dropped(format!("read error: {e}"));
            }
            Ok(Got::Stalled) => return stalled(),
            Err(RecvTimeoutError::Timeout) if last.elapsed() >= spec.stall => return stalled(),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return End::Dropped("the reader ended".to_owned())
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
    token: &Secret,
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
            // The server's words may quote our request, token included.
            let msg = frame::one_line(&token.scrub(&msg), 200);
            crate::log::warn(format_args!("x://: the stream says: {msg}"));
            true
        }
        Frame::Bad => {
            counters.skip("bad_frame");
            true
        }
    }
}
