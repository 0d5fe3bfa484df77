//! Bluesky Jetstream (`jetstream://`): the public firehose of Bluesky as JSON over WebSocket,
//! no account needed (PROTOCOLS.md §2).
//!
//! We subscribe to `/subscribe?wantedCollections=app.bsky.feed.post` and turn each created
//! post into a [`Post`](super::live::Post) (text, `time_us` as event time, facet tags and
//! `record.tags`), see [`event`]. The cursor (last `time_us`) is kept; a reconnect resumes
//! `rewind` (5 s) before it and drops the replayed posts by key, see [`resume`].
//!
//! Liveness: we answer the server's pings (tungstenite queues the pong, we flush it), ping
//! the server ourselves after `stall / 3` of silence, and reconnect after `stall` (60 s)
//! without any frame. PROTOCOLS §2.4 suggests 60–90 s; the newer server pings every 30 s and
//! the older answers our pings, so 60 s is two missed pings.
//!
//! Backoff: Jetstream publishes none, so we use exponential 1 s → 60 s (reset once a
//! connection has delivered a frame), like most WebSocket clients of the service. A refusal
//! that retrying cannot fix (HTTP 400, 401, 403, 404 on the upgrade) ends the run with one
//! line.

pub mod event;
pub mod resume;

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::backoff::{Backoff, RealSleeper, Sleeper};
use super::dealer::Dealer;
use super::live::PostSink;
use super::SourceContext;
use crate::metrics::SourceCounters;
use event::Frame;
use resume::Resume;

/// The public instance used by default (any of the four in PROTOCOLS §2.1 works).
pub const DEFAULT_HOST: &str = "jetstream2.us-east.bsky.network";
/// How often a blocked read wakes to look at the shutdown flag and flush posts.
const TICK: Duration = Duration::from_millis(200);
/// Connect and WebSocket-handshake budget, a read or write at a time.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole WebSocket handshake's budget (TLS included): a server trickling its answer a
/// byte at a time, each read within [`CONNECT_TIMEOUT`], held the source for about 8 minutes.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(30);
/// Asked of the server (`maxMessageSizeBytes`) so that it drops huge events itself, and
/// enforced here with some margin; a post record is a few KiB.
const MAX_MESSAGE: usize = 1 << 20;

/// Parameters of a `jetstream://[HOST][?cursor=µs&rewind=5s&stall=60s]` URI.
#[derive(Clone, Debug, PartialEq)]
pub struct JetstreamSpec {
    /// The instance (default [`DEFAULT_HOST`]); `--endpoint` overrides it.
    pub host: String,
    /// Start from this `time_us` (replay the past, up to the server's retention) instead
    /// of the live tail.
    pub cursor: Option<u64>,
    /// How far before the last event a reconnect resumes.
    pub rewind: Duration,
    /// Reconnect after this long without any frame.
    pub stall: Duration,
}

impl JetstreamSpec {
    /// Parses the part after `jetstream://`.
    pub fn parse(rest: &str) -> Result<JetstreamSpec, String> {
        let (host, query) = rest.split_once('?').unwrap_or((rest, ""));
        let host = host.trim_end_matches('/');
        let mut spec = JetstreamSpec {
            host: if host.is_empty() {
                DEFAULT_HOST.to_owned()
            } else {
                host.to_owned()
            },
            cursor: None,
            rewind: Duration::from_secs(5),
            stall: Duration::from_secs(60),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dur = || {
                humantime::parse_duration(v)
                    .map_err(|e| format!("jetstream:// option {k}={v}: {e} (e.g. {k}=5s)"))
            };
            match k {
                "cursor" => {
                    spec.cursor = Some(v.parse().map_err(|_| {
                        format!("jetstream:// option cursor={v}: expected unix microseconds")
                    })?)
                }
                "rewind" => spec.rewind = dur()?,
                "stall" => spec.stall = dur()?.max(Duration::from_millis(100)),
                _ => {
                    return Err(format!(
                        "unknown jetstream:// option '{k}' (expected cursor, rewind, stall)"
                    ))
                }
            }
        }
        Ok(spec)
    }

    /// The subscribe URL for a connection resuming at `cursor`.
    fn url(&self, endpoint: Option<&str>, cursor: Option<u64>) -> String {
        let base = match endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("wss://{}", self.host),
        };
        let path = if base.ends_with("/subscribe") {
            ""
        } else {
            "/subscribe"
        };
        let mut url = format!(
            "{base}{path}?wantedCollections={}&maxMessageSizeBytes={MAX_MESSAGE}",
            event::POST_COLLECTION
        );
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        url
    }
}

/// Reads the stream until shutdown.
pub fn run(spec: &JetstreamSpec, deal: &mut Dealer, ctx: &SourceContext) {
    run_with(spec, deal, ctx, &mut RealSleeper(ctx.clone()));
}

/// Why a connection could not be made.
enum ConnectError {
    /// Worth retrying (network, 5xx, 429…).
    Retry(String),
    /// Retrying cannot help: the run ends with this line.
    Fatal(String),
}

/// How a connection ended.
enum End {
    /// Shutdown, or the workers are gone.
    Stop,
    /// Lost: reconnect. `progressed` when at least one frame arrived.
    Lost { why: String, progressed: bool },
}

/// The connect / read / back off loop, with the waits given to `sleeper`.
pub fn run_with(
    spec: &JetstreamSpec,
    deal: &mut Dealer,
    ctx: &SourceContext,
    sleeper: &mut dyn Sleeper,
) {
    let counters = ctx.metrics.source("jetstream");
    let mut sink = PostSink::new(deal);
    let mut resume = Resume::new(spec.cursor, spec.rewind);
    let mut backoff = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60));
    let mut last_error = String::new();
    while !ctx.stopping() {
        let url = spec.url(ctx.endpoint.as_deref(), resume.cursor());
        match connect(&url, HANDSHAKE_DEADLINE, &ctx.shutdown) {
            Ok(ws) => {
                last_error.clear();
                crate::log::info(format_args!(
                    "jetstream: connected{}",
                    resume
                        .cursor()
                        .map(|c| format!(" (cursor {c})"))
                        .unwrap_or_default()
                ));
                let open = counters.connection();
                let end = read(ws, &mut sink, &mut resume, &counters, spec.stall);
                drop(open);
                match end {
                    End::Stop => return,
                    End::Lost { why, progressed } => {
                        if progressed {
                            backoff.reset();
                        }
                        crate::log::info(format_args!("jetstream: {why}; reconnecting"));
                    }
                }
            }
            Err(ConnectError::Fatal(msg)) => {
                ctx.fail(msg);
                return;
            }
            Err(ConnectError::Retry(msg)) => {
                // Each new kind of failure is reported once, not every retry.
                if msg != last_error {
                    crate::log::warn(format_args!("jetstream: {msg}; retrying with backoff"));
                    last_error = msg;
                }
            }
        }
        if !sink.flush() || !sleeper.sleep(backoff.next_delay()) {
            return;
        }
    }
    sink.flush();
}

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

// The handshake's error type (an HTTP response) is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
fn connect(url: &str, deadline: Duration, stop: &Arc<AtomicBool>) -> Result<Socket, ConnectError> {
    let retry = |e: &dyn std::fmt::Display| ConnectError::Retry(format!("cannot connect: {e}"));
    let uri: tungstenite::http::Uri = url
        .parse()
        .map_err(|e| ConnectError::Fatal(format!("jetstream: bad URL {url}: {e}")))?;
    let host = uri.host().unwrap_or_default();
    let tls = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let mut last: Option<std::io::Error> = None;
    let mut tcp = None;
    for a in (host, port).to_socket_addrs().map_err(|e| retry(&e))? {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(tcp) = tcp else {
        return Err(match last {
            Some(e) => retry(&e),
            None => retry(&"the host resolves to no address"),
        });
    };
    // A second handle on the same socket, to change its timeouts after the handshake.
    let handle = tcp.try_clone().map_err(|e| retry(&e))?;
    let _ = tcp.set_read_timeout(Some(CONNECT_TIMEOUT));
    let _ = tcp.set_write_timeout(Some(CONNECT_TIMEOUT));
    let _ = tcp.set_nodelay(true);
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(2 * MAX_MESSAGE))
        .max_frame_size(Some(2 * MAX_MESSAGE));
    let (handshake, late) = within(&handle, deadline, stop, || {
        tungstenite::client_tls_with_config(url, tcp, Some(config), None)
    });
    if late {
        return Err(retry(&format_args!(
            "the WebSocket handshake took longer than {} s",
            deadline.as_secs_f64()
        )));
    }
    match handshake {
        Ok((ws, _)) => {
            // Short reads from now on: the loop wakes to check shutdown, flush and stalls.
            let _ = handle.set_read_timeout(Some(TICK));
            Ok(ws)
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            let status = resp.status();
            let code = status.as_u16();
            let what = format!("the server answered {status} to the WebSocket upgrade");
            if matches!(code, 400 | 401 | 403 | 404) {
                Err(ConnectError::Fatal(format!(
                    "jetstream: {what} (Jetstream needs no credentials: check --endpoint \
                     and the jetstream:// options)"
                )))
            } else {
                Err(ConnectError::Retry(what))
            }
        }
        // A URL tungstenite cannot use (say an http:// endpoint) will not get better.
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Url(e))) => Err(
            ConnectError::Fatal(format!("jetstream: {url}: {e} (expected ws:// or wss://)")),
        ),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(retry(&e)),
        Err(tungstenite::HandshakeError::Interrupted(_)) => {
            Err(retry(&"the WebSocket handshake timed out"))
        }
    }
}

/// Runs `f` on `socket`, shutting the socket once `deadline` has passed or `stop` is set (its
/// reads and writes then fail at once); returns what `f` gave and whether the deadline cut
/// it. Without a thread to spare, `f` runs with no deadline (each read and write still has
/// its timeout).
fn within<T>(
    socket: &TcpStream,
    deadline: Duration,
    stop: &Arc<AtomicBool>,
    f: impl FnOnce() -> T,
) -> (T, bool) {
    use std::sync::mpsc::RecvTimeoutError;
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let stop = stop.clone();
    let until = Instant::now() + deadline;
    let watchdog = socket.try_clone().ok().and_then(|s| {
        std::thread::Builder::new()
            .name("jetstream-handshake".into())
            .spawn(move || loop {
                let left = until.saturating_duration_since(Instant::now());
                let late = left.is_zero();
                if late || stop.load(Relaxed) {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                    return late;
                }
                match wait.recv_timeout(left.min(TICK)) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return false,
                }
            })
            .ok()
    });
    let out = f();
    drop(done);
    let late = watchdog.is_some_and(|w| w.join().unwrap_or(false));
    (out, late)
}

/// Reads one connection until it ends.
fn read(
    mut ws: Socket,
    sink: &mut PostSink,
    resume: &mut Resume,
    counters: &SourceCounters,
    stall: Duration,
) -> End {
    let mut last_frame = Instant::now();
    let mut last_flush = Instant::now();
    let mut pinged = false;
    let mut progressed = false;
    let lost = |why: String, progressed| End::Lost { why, progressed };
    loop {
        if sink.ctx().stopping() {
            let _ = ws.close(None);
            let _ = ws.flush();
            sink.flush();
            return End::Stop;
        }
        match ws.read() {
            Ok(msg) => {
                last_frame = Instant::now();
                pinged = false;
                progressed = true;
                match msg {
                    Message::Text(t) => match event::parse(t.as_str()) {
                        Frame::Post { key, time_us, post } => {
                            if resume.first_time(key, time_us) {
                                counters.records.fetch_add(1, Relaxed);
                                // Its time is its position: a checkpoint resumes the stream
                                // from the cursor of the last post its workers counted.
                                if !sink.push_at(&post, Some(time_us)) {
                                    return End::Stop;
                                }
                            } else {
                                counters.skip("duplicate");
                            }
                        }
                        Frame::Other { time_us } => resume.saw(time_us),
                        Frame::Bad => counters.skip("bad_frame"),
                    },
                    // We never ask for compression, so a binary frame is not ours to read.
                    Message::Binary(_) => counters.skip("bad_frame"),
                    // tungstenite queued the pong; the flush below sends it.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    Message::Close(_) => {
                        let _ = ws.flush();
                        return lost("closed by the server".into(), progressed);
                    }
                }
            }
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                let silent = last_frame.elapsed();
                if silent >= stall {
                    return lost(
                        format!("no frame for {}s (stalled)", silent.as_secs()),
                        progressed,
                    );
                }
                if silent >= stall / 3 && !pinged {
                    // Both server generations answer pings; the pong resets the stall clock.
                    let _ = ws.send(Message::Ping(Default::default()));
                    pinged = true;
                }
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return lost("closed by the server".into(), progressed)
            }
            Err(e) => return lost(format!("connection lost: {e}"), progressed),
        }
        // Sends a queued pong (or close reply); a full send buffer is retried next time.
        match ws.flush() {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return lost(format!("connection lost: {e}"), progressed),
        }
        if last_flush.elapsed() >= TICK {
            last_flush = Instant::now();
            if !sink.flush() {
                return End::Stop;
            }
        }
    }
}

#[cfg(test)]
mod tests;
