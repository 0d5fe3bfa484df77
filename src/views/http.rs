//! The HTTP API and live dashboard (axum), bound to 127.0.0.1 unless told otherwise.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the dashboard (HTML, CSS and JS embedded in the binary; no CDN) |
//! | `GET /api/top` | the latest window as its JSON line (DESIGN.md §4); 404 before the first |
//! | `GET /api/trends` | the latest window's trending list, `{"window_start":…,"window_end":…,"trending":[{"rank","hashtag","score","count","expected","authors"}…]}` (empty when nothing rises, or with `--trends off`); 404 before the first window |
//! | `GET /api/windows?since=T&limit=N` | a JSON array of the windows kept in memory (the last [`RING`]) ending after T (RFC 3339 or epoch seconds/ms), the N newest, oldest first |
//! | `POST /api/sql` | `{"sql":"…"}` (`Content-Type: application/json`) → `{"columns":[…],"rows":[[…]],"truncated":b}`; errors below |
//! | `GET /api/events` | SSE: `event: window`, `id:` the window end (ms), `data:` the JSON line |
//! | `GET /metrics` | Prometheus text format (see `views::prom`) |
//! | `GET /healthz` | `ok` |
//!
//! Every failure is `{"error":"…"}` on one line: 400 for a bad request or a query SQLite
//! refused, 404 for an unknown path, 405 for a wrong method, 413 for a body over
//! [`BODY_LIMIT`], 415 for a body that is not declared JSON, 503 (with `Retry-After`) when
//! [`SQL_CONCURRENCY`] queries run and [`SQL_QUEUE`] more wait already.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::{broadcast, Semaphore};

use crate::results::live::{Emitted, LiveState, RING};

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("dashboard/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("dashboard/dashboard.css");

/// SQL queries running at once; more wait. Each may hold a blocking thread for up to the
/// query time limit, so a burst of slow queries cannot starve the rest of the server.
pub const SQL_CONCURRENCY: usize = 4;
/// SQL queries that may wait for a slot. Beyond them a query is refused at once (503) rather
/// than queued without bound: with every slot held by a query running to the time limit
/// (5 s), the last of these waits at most (8 / 4) × 5 = 10 s, and the server's memory and
/// threads stay bounded whatever the load.
pub const SQL_QUEUE: usize = 8;
/// The most a query waits for a slot (about 10 s by the sum above, more when results are
/// large to turn into JSON): past it, `503`, well before [`REQUEST_DEADLINE`] cuts the
/// connection without an answer.
const SQL_WAIT: Duration = Duration::from_secs(15);
/// Largest `POST /api/sql` body: room for the longest statement SQLite accepts
/// ([`crate::sql::MAX_SQL_BYTES`]) even with every character JSON-escaped (`\uXXXX`).
pub const BODY_LIMIT: usize = 1 << 20;
/// `Retry-After` of a 503, in seconds: a slot frees when a running query ends, which the
/// query time limit bounds.
const RETRY_AFTER_SECS: u64 = 5;

struct App {
    live: Arc<LiveState>,
    sql_slots: Arc<Semaphore>,
    /// Queries admitted (running or waiting for a slot).
    sql_admitted: Arc<AtomicUsize>,
    /// Places of open event streams ([`MAX_STREAMS`]).
    streams: Arc<Semaphore>,
}

/// Event streams (`/api/events`) open at once; beyond them a 503. Fewer than the
/// connections, so the API and `/metrics` always find a place.
pub const MAX_STREAMS: usize = 128;

/// A query's place among the admitted ones, given back when dropped: when the query ends,
/// or when its client goes while it waits for a slot. A running query holds its place (and
/// its slot) until SQLite is done, whether or not its client is still there: a client that
/// hangs up must not free a place while its query still runs.
struct Admitted(Arc<AtomicUsize>);

impl Admitted {
    /// A place, unless [`SQL_CONCURRENCY`] + [`SQL_QUEUE`] queries hold them all.
    fn take(count: &Arc<AtomicUsize>) -> Option<Admitted> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < SQL_CONCURRENCY + SQL_QUEUE).then_some(n + 1)
            })
            .ok()
            .map(|_| Admitted(count.clone()))
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

type Shared = Arc<App>;

/// Connections served at once. Beyond them new ones wait in the kernel's accept queue,
/// holding no descriptor of ours: a flood of idle connections once took every descriptor of
/// the process, and the engine then died writing its next checkpoint.
pub const MAX_CONNECTIONS: usize = 256;
/// A connection with no byte read or written for this long is closed (idle keep-alive
/// connections, a client that stopped reading); server-sent events write a keep-alive every
/// 10 s, so a live dashboard is never idle.
const IDLE: Duration = Duration::from_secs(60);
/// The most time from a request's first byte to the first byte of its answer: its head and
/// body, and the handler's work (a query waits at most 15 s for a slot and runs at most 5 s).
/// A client that sent its request a byte at a time, each within [`IDLE`], held its place as
/// long as it liked: 256 of them held the dashboard.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// The listener, with at most [`MAX_CONNECTIONS`] connections served at once.
struct Capped {
    inner: tokio::net::TcpListener,
    places: Arc<Semaphore>,
}

impl axum::serve::Listener for Capped {
    type Io = Conn;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Conn, std::net::SocketAddr) {
        // A place first, then the connection: the semaphore is never closed.
        let place = self.places.clone().acquire_owned().await.ok();
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let idle = Box::pin(tokio::time::sleep(IDLE));
        let request = Box::pin(tokio::time::sleep(REQUEST_DEADLINE));
        (
            Conn {
                io,
                idle,
                request,
                asked: false,
                _place: place,
            },
            addr,
        )
    }

    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

/// A served connection: holds its place until dropped, and fails once idle for [`IDLE`], or
/// when a request's answer has not begun [`REQUEST_DEADLINE`] after its first byte.
struct Conn {
    io: tokio::net::TcpStream,
    idle: Pin<Box<tokio::time::Sleep>>,
    /// The deadline of the request being read, armed while `asked`.
    request: Pin<Box<tokio::time::Sleep>>,
    /// Bytes were read since the last bytes written: a request is arriving or being served.
    asked: bool,
    _place: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Conn {
    /// Bytes moved: the idle clock starts again.
    fn moved(&mut self) {
        let at = tokio::time::Instant::now() + IDLE;
        self.idle.as_mut().reset(at);
    }

    /// While the socket is not ready: an error once the connection has been idle too long,
    /// or its request has taken too long.
    fn idle_error(&mut self, cx: &mut TaskContext<'_>) -> Poll<std::io::Error> {
        let timed_out = |what| Poll::Ready(std::io::Error::new(std::io::ErrorKind::TimedOut, what));
        if self.idle.as_mut().poll(cx).is_ready() {
            return timed_out("the connection was idle");
        }
        if self.asked && self.request.as_mut().poll(cx).is_ready() {
            return timed_out("the request took too long");
        }
        Poll::Pending
    }

    /// What a write of the socket gave: bytes written start the idle clock again; a write
    /// that must wait is an error once the connection has been idle too long.
    fn wrote(
        &mut self,
        cx: &mut TaskContext<'_>,
        r: Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        match r {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.moved();
                    self.asked = false;
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.idle_error(cx).map(Err),
        }
    }
}

impl tokio::io::AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.moved();
                    if !self.asked {
                        self.asked = true;
                        let at = tokio::time::Instant::now() + REQUEST_DEADLINE;
                        self.request.as_mut().reset(at);
                    }
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.idle_error(cx).map(Err),
        }
    }
}

impl tokio::io::AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Binds `addr` now (an address in use is an error at start, in one line), then serves on a
/// thread of its own with a single-threaded tokio runtime until the process exits.
pub fn serve(addr: &str, live: Arc<LiveState>) -> Result<(), String> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("--http {addr}: cannot listen: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("--http {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("--http {addr}: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("--http {addr}: cannot start the runtime: {e}"))?;
    let app = router(live);
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        let l = Capped {
                            inner: l,
                            places: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
                        };
                        if let Err(e) = axum::serve(l, app).await {
                            crate::log::warn(format_args!("http://{bound}: server stopped: {e}"));
                        }
                    }
                    Err(e) => crate::log::warn(format_args!("http://{bound}: {e}")),
                }
            })
        })
        .map_err(|e| format!("--http {addr}: cannot start the server thread: {e}"))?;
    crate::log::info(format_args!(
        "http://{bound}/: dashboard, /api/top, /api/trends, /api/windows, /api/sql, /api/events, \
         /metrics"
    ));
    Ok(())
}

/// Every route over `live`.
pub fn router(live: Arc<LiveState>) -> Router {
    let app = Arc::new(App {
        live,
        sql_slots: Arc::new(Semaphore::new(SQL_CONCURRENCY)),
        sql_admitted: Arc::new(AtomicUsize::new(0)),
        streams: Arc::new(Semaphore::new(MAX_STREAMS)),
    });
    Router::new()
        .route("/", get(index))
        .route("/dashboard.js", get(js))
        .route("/dashboard.css", get(css))
        .route("/api/top", get(top))
        .route("/api/trends", get(trends))
        .route("/api/windows", get(windows))
        .route(
            "/api/sql",
            post(sql).layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .route("/api/events", get(events))
        .route("/api/summary", get(summary))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|uri: Uri| async move {
            error(
                StatusCode::NOT_FOUND,
                &format!("no such path: {}", uri.path()),
            )
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{method} is not allowed on {}", uri.path()),
            )
        })
        .with_state(app)
}

fn typed(ct: &'static str, body: impl IntoResponse) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static(ct))], body).into_response()
}

fn json(status: StatusCode, body: String) -> Response {
    (status, typed("application/json", body)).into_response()
}

/// `503` with the message, and a `Retry-After` of [`RETRY_AFTER_SECS`].
fn busy(msg: &str) -> Response {
    let mut resp = error(StatusCode::SERVICE_UNAVAILABLE, msg);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    resp
}

/// `{"error":"…"}` with the message on one line.
fn error(status: StatusCode, msg: &str) -> Response {
    let one_line = msg.replace(['\n', '\r'], " ");
    json(status, serde_json::json!({ "error": one_line }).to_string())
}

async fn index() -> Response {
    typed("text/html; charset=utf-8", INDEX_HTML)
}

async fn js() -> Response {
    typed("text/javascript; charset=utf-8", DASHBOARD_JS)
}

async fn css() -> Response {
    typed("text/css; charset=utf-8", DASHBOARD_CSS)
}

async fn top(State(app): State<Shared>) -> Response {
    match app.live.latest() {
        Some(e) => json(StatusCode::OK, e.json.clone()),
        None => error(StatusCode::NOT_FOUND, "no window has been emitted yet"),
    }
}

async fn trends(State(app): State<Shared>) -> Response {
    match app.live.latest() {
        Some(e) => json(StatusCode::OK, e.trends_json.clone()),
        None => error(StatusCode::NOT_FOUND, "no window has been emitted yet"),
    }
}

/// The run's summary so far: the same JSON as `--summary-json` writes at the end.
async fn summary(State(app): State<Shared>) -> Response {
    let m = &app.live.metrics;
    let checkpoints = m
        .checkpoint_files
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0;
    let s = m.summary(app.live.started.elapsed(), checkpoints);
    match serde_json::to_string(&s) {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(serde::Deserialize)]
struct WindowsQuery {
    since: Option<String>,
    limit: Option<usize>,
}

async fn windows(
    State(app): State<Shared>,
    q: Result<Query<WindowsQuery>, QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("{e} (expected since=RFC3339|epoch, limit=N)"),
            )
        }
    };
    let since = match q
        .since
        .as_deref()
        .map(crate::time::parse_time_ms)
        .transpose()
    {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("since: {e}")),
    };
    let list = app.live.windows(since, q.limit.unwrap_or(RING));
    let mut body = String::with_capacity(list.iter().map(|e| e.json.len() + 2).sum::<usize>() + 2);
    body.push('[');
    for (i, e) in list.iter().enumerate() {
        if i > 0 {
            body.push_str(",\n");
        }
        body.push_str(&e.json);
    }
    body.push(']');
    json(StatusCode::OK, body)
}

#[derive(serde::Deserialize)]
struct SqlBody {
    sql: String,
}

/// True when the request declares a JSON body (`application/json`, any parameters).
fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

async fn sql(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !declares_json(&headers) {
        let got = headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "the body must be JSON {{\"sql\": \"SELECT …\"}} sent with Content-Type: \
                 application/json (got {})",
                got.map_or("none".into(), |t| format!(
                    "'{}'",
                    crate::log::one_line(&t, 100)
                ))
            ),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "the body is larger than {} KiB; statements are limited to {} bytes",
                    BODY_LIMIT >> 10,
                    crate::sql::MAX_SQL_BYTES
                ),
            )
        }
        Err(e) => return error(e.status(), &e.body_text()),
    };
    let req: SqlBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("the body must be JSON {{\"sql\": \"SELECT …\"}}: {e}"),
            )
        }
    };
    let Some(db) = app.live.db.clone() else {
        return error(
            StatusCode::BAD_REQUEST,
            "the engine runs without --db: there are no tables to query",
        );
    };
    let Some(admitted) = Admitted::take(&app.sql_admitted) else {
        let msg = format!(
            "too many SQL queries: {SQL_CONCURRENCY} running and {SQL_QUEUE} waiting; retry \
             in {RETRY_AFTER_SECS} s"
        );
        return busy(&msg);
    };
    let slot = match tokio::time::timeout(SQL_WAIT, app.sql_slots.clone().acquire_owned()).await {
        Ok(Ok(slot)) => slot,
        Ok(Err(_)) => return error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping"),
        Err(_) => {
            let msg = format!(
                "no SQL slot came free in {} s; retry in {RETRY_AFTER_SECS} s",
                SQL_WAIT.as_secs()
            );
            return busy(&msg);
        }
    };
    // SQLite is synchronous and a query may run up to its time limit: off the async threads,
    // and so is turning a result of up to 64 MB into JSON (on the server's one thread it
    // held up every other request). The place and the slot go with the work.
    let run = tokio::task::spawn_blocking(move || {
        let _held = (admitted, slot);
        crate::sql::query(&db, &req.sql, &crate::sql::Limits::default())
            .map(|table| serde_json::to_string(&table).map_err(|e| e.to_string()))
    });
    match run.await {
        Ok(Ok(Ok(s))) => json(StatusCode::OK, s),
        Ok(Ok(Err(e))) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, &e),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the query failed: {e}"),
        ),
    }
}

fn event_of(e: &Emitted) -> Result<Event, Infallible> {
    Ok(Event::default()
        .event("window")
        .id(e.end_ms.to_string())
        .data(&e.json))
}

/// The window feed. A client that reconnects with `Last-Event-ID` (EventSource does so
/// itself) first gets the windows it missed that are still in the ring.
async fn events(State(app): State<Shared>, headers: HeaderMap) -> Response {
    // A stream is never idle (its keep-alives): without a cap of their own, streams could
    // hold every connection place.
    let Ok(place) = app.streams.clone().try_acquire_owned() else {
        let msg =
            format!("too many event streams: {MAX_STREAMS} open; retry in {RETRY_AFTER_SECS} s");
        return busy(&msg);
    };
    // Subscribe before reading the ring, so no window falls between the two.
    let rx = app.live.subscribe();
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        // An id is the end of a window this engine sent. One past the newest (another
        // engine's, or from before a restart onto other data) held back every window until
        // its time: it is taken as none.
        .filter(|&ms| app.live.latest().is_some_and(|w| ms <= w.end_ms));
    let missed = match last {
        Some(ms) => app.live.windows(Some(ms), RING),
        None => Vec::new(),
    };
    let seen = missed.last().map_or(last.unwrap_or(0), |e| e.end_ms);
    let replay = stream::iter(missed.into_iter().map(|e| event_of(&e)));
    // The place goes with the stream, given back when the client goes.
    let sse = Sse::new(replay.chain(live_events(rx, seen)).map(move |e| {
        let _held = &place;
        e
    }));
    let headers = [(header::CACHE_CONTROL, "no-cache")];
    (
        headers,
        sse.keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(10))
                .text("keep-alive"),
        ),
    )
        .into_response()
}

/// New windows from `rx` ending after `seen`; a lagging client skips what it missed.
fn live_events(
    rx: broadcast::Receiver<Arc<Emitted>>,
    seen: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((rx, seen), |(mut rx, seen)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if e.end_ms <= seen => continue,
                Ok(e) => {
                    let ev = event_of(&e);
                    return Some((ev, (rx, e.end_ms)));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

async fn metrics(State(app): State<Shared>) -> Response {
    typed(
        "text/plain; version=0.0.4; charset=utf-8",
        super::prom::render(&app.live),
    )
}

#[cfg(test)]
mod tests {
    use crate::time::parse_time_ms;

    #[test]
    fn since_accepts_rfc3339_and_epoch() {
        assert_eq!(parse_time_ms("2016-01-05T00:00:00Z"), Ok(1_451_952_000_000));
        assert_eq!(parse_time_ms("1451952000"), Ok(1_451_952_000_000));
        assert_eq!(parse_time_ms("1451952000123"), Ok(1_451_952_000_123));
        assert!(parse_time_ms("yesterday").is_err());
    }
}
