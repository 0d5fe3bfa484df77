//! Mastodon streaming (`mastodon://HOST/…`): a server's public or hashtag timeline as
//! Server-Sent Events (PROTOCOLS.md §3).
//!
//! `GET https://HOST/api/v1/streaming/{public,public/local,public/remote,hashtag,hashtag/local}`
//! with `Authorization: Bearer $MASTODON_TOKEN` (since 4.2 many servers require a user token
//! with `read:statuses`; without one we try anonymously, and a 401 ends the run with a line
//! that says to set it). [`sse`] frames the stream, [`status`] turns `update` events into
//! posts; `delete`, `status.update` (an edit: counting it again would count a post twice) and
//! other events are ignored; malformed ones are skipped and counted.
//!
//! Liveness: the server writes `:thump` every 15 s, so 45 s of silence (three missed
//! heartbeats) is a stall and we reconnect. Mastodon keeps no history for the stream, so
//! posts made while disconnected are not replayed (we send `Last-Event-ID` anyway, which
//! servers that set `id:` can use).
//!
//! Backoff (Mastodon publishes none): a lost connection or network error waits the
//! server's `retry:` value if it sent one, else 1 s, doubling to 60 s (reset once a
//! connection delivered an event); an HTTP error (5xx…) waits 5 s doubling to 320 s and a
//! 429 60 s doubling to 960 s, or `Retry-After` if longer, by at most 15 minutes (X's
//! published rules, which fit any rate-limited HTTP API).
//!
//! Redirects are not followed: the token would go to another host (ureq drops it there, and
//! the refusal would then blame the token). A 3xx ends the run with a line naming where the
//! server points, to pass as `--endpoint`.

pub mod sse;
pub mod status;
mod stream;

use std::time::Duration;

use super::backoff::{Backoff, RealSleeper, Sleeper, MAX_SERVER_WAIT};
use super::dealer::Dealer;
use super::live::PostSink;
use super::secret::Secret;
use super::SourceContext;
use sse::Parser;
use stream::{check, read};

/// How often the loop wakes to look at the shutdown flag and flush posts.
const TICK: Duration = Duration::from_millis(200);
/// The environment variable holding the access token (or `MASTODON_TOKEN_FILE`).
pub const TOKEN_VAR: &str = "MASTODON_TOKEN";

/// Parameters of a `mastodon://HOST[/STREAM][?only_media=true&stall=45s]` URI.
#[derive(Clone, Debug, PartialEq)]
pub struct MastodonSpec {
    /// The server, e.g. `mastodon.social`; `--endpoint` replaces `https://HOST`.
    pub host: String,
    /// The path and query under `/api/v1/streaming/`, e.g. `hashtag?tag=rust`.
    pub stream: String,
    /// Reconnect after this long without a byte (heartbeats included).
    pub stall: Duration,
}

impl MastodonSpec {
    /// Parses the part after `mastodon://`: `HOST`, `HOST/public`, `HOST/public/local`,
    /// `HOST/public/remote`, `HOST/hashtag/TAG`, `HOST/hashtag/local/TAG`.
    pub fn parse(rest: &str) -> Result<MastodonSpec, String> {
        let usage = "expected mastodon://HOST/public, /public/local, /public/remote, \
                     /hashtag/TAG or /hashtag/local/TAG";
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, path) = path.split_once('/').unwrap_or((path, ""));
        if host.is_empty() {
            return Err(format!("mastodon:// needs a host: {usage}"));
        }
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let (mut stream, mut only_media) = match parts.as_slice() {
            [] | ["public"] => ("public".to_owned(), false),
            ["public", w @ ("local" | "remote")] => (format!("public/{w}"), false),
            ["hashtag", tag] | ["hashtag", "local", tag] => {
                let local = if parts.len() == 3 { "/local" } else { "" };
                let tag = tag.trim_start_matches('#');
                if tag.is_empty() {
                    return Err(format!("mastodon:// hashtag stream without a tag: {usage}"));
                }
                (format!("hashtag{local}?tag={}", encode(tag)), false)
            }
            _ => return Err(format!("unknown mastodon:// stream '{path}': {usage}")),
        };
        let mut stall = Duration::from_secs(45);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("only_media", v) => only_media = matches!(v, "true" | "1" | ""),
                ("stall", v) => {
                    stall = humantime::parse_duration(v)
                        .map_err(|e| format!("mastodon:// option stall={v}: {e}"))?
                        .max(Duration::from_millis(100))
                }
                (k, _) => {
                    return Err(format!(
                        "unknown mastodon:// option '{k}' (expected only_media, stall)"
                    ))
                }
            }
        }
        if only_media {
            stream.push(if stream.contains('?') { '&' } else { '?' });
            stream.push_str("only_media=true");
        }
        Ok(MastodonSpec {
            host: host.to_owned(),
            stream,
            stall,
        })
    }

    /// The counters' name: `mastodon://HOST`.
    pub fn name(&self) -> String {
        format!("mastodon://{}", self.host)
    }

    fn url(&self, endpoint: Option<&str>) -> String {
        let base = match endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://{}", self.host),
        };
        format!("{base}/api/v1/streaming/{}", self.stream)
    }
}

/// Percent-encodes a query value (tags are letters, digits and `_`, but be safe).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads the stream until shutdown.
pub fn run(spec: &MastodonSpec, deal: &mut Dealer, ctx: &SourceContext) {
    match Secret::from_env_optional(TOKEN_VAR) {
        Ok(token) => run_with(spec, token, deal, ctx, &mut RealSleeper(ctx.clone())),
        Err(e) => ctx.fail(format!("{}: {e}", spec.name())),
    }
}

/// How a connection attempt or a connection ended, and how long to wait before the next.
enum End {
    /// Shutdown, a fatal error, or the workers are gone.
    Stop,
    /// The connection was lost (or never made): network backoff.
    Lost { why: String, progressed: bool },
    /// An HTTP status worth retrying: HTTP backoff (`retry_after` from the header).
    Http {
        why: String,
        rate_limited: bool,
        retry_after: Option<Duration>,
    },
}

/// The connect / read / back off loop, with the waits given to `sleeper`.
pub fn run_with(
    spec: &MastodonSpec,
    token: Option<Secret>,
    deal: &mut Dealer,
    ctx: &SourceContext,
    sleeper: &mut dyn Sleeper,
) {
    let name = spec.name();
    let counters = ctx.metrics.source(&name);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        // Every request opens a stream: a new connection each time, never a pooled one,
        // which the server may have closed by the time it is reused (a failed attempt).
        .max_idle_connections(0)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        // Ends the body reader of a stalled connection by itself (the loop has moved on).
        .timeout_per_read(Some(spec.stall))
        .user_agent(concat!("tagstream/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let url = spec.url(ctx.endpoint.as_deref());
    let mut sink = PostSink::new(deal);
    let mut parser = Parser::new(ctx.max_line);
    let mut net = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60));
    let mut net_first = Duration::from_secs(1);
    let mut http = Backoff::exponential(Duration::from_secs(5), Duration::from_secs(320));
    let mut limited = Backoff::exponential(Duration::from_secs(60), Duration::from_secs(960));
    let mut last_error = String::new();
    while !ctx.stopping() {
        let mut req = agent.get(&url).header("Accept", "text/event-stream");
        if let Some(t) = &token {
            req = req.header("Authorization", format!("Bearer {}", t.expose()));
        }
        if let Some(id) = &parser.last_id {
            req = req.header("Last-Event-ID", id);
        }
        let end = match req.call() {
            Err(e) => End::Lost {
                why: format!("cannot connect: {e}"),
                progressed: false,
            },
            Ok(mut resp) => match check(&mut resp, &name, token.as_ref()) {
                Err(fatal) => {
                    ctx.fail(fatal);
                    End::Stop
                }
                Ok(Some(end)) => end,
                Ok(None) => {
                    http.reset();
                    limited.reset();
                    last_error.clear();
                    crate::log::info(format_args!("{name}: connected"));
                    let _open = counters.connection();
                    // A new connection starts a new stream: no half event carries over.
                    let (retry, last_id) = (parser.retry, parser.last_id.take());
                    parser = Parser::new(ctx.max_line);
                    (parser.retry, parser.last_id) = (retry, last_id);
                    let body = resp.into_body();
                    read(
                        body,
                        &mut parser,
                        &mut sink,
                        &counters,
                        spec,
                        token.as_ref(),
                    )
                }
            },
        };
        // The server's `retry:` sets the first reconnection delay (bounded to 100 ms..60 s).
        if let Some(ms) = parser.retry {
            let first = Duration::from_millis(ms)
                .clamp(Duration::from_millis(100), Duration::from_secs(60));
            if first != net_first {
                net_first = first;
                net = Backoff::exponential(first, Duration::from_secs(60).max(first));
            }
        }
        let delay = match end {
            End::Stop => break,
            End::Lost { why, progressed } => {
                if progressed {
                    net.reset();
                }
                let d = net.next_delay();
                report(&name, &why, d, token.as_ref(), &mut last_error);
                d
            }
            End::Http {
                why,
                rate_limited,
                retry_after,
            } => {
                let d = if rate_limited {
                    limited.next_delay()
                } else {
                    http.next_delay()
                };
                let d = d.max(retry_after.unwrap_or_default().min(d + MAX_SERVER_WAIT));
                report(&name, &why, d, token.as_ref(), &mut last_error);
                d
            }
        };
        if !sink.flush() || !sleeper.sleep(delay) {
            return;
        }
    }
    sink.flush();
}

/// Logs a failure once (not on every retry of the same failure), with the wait before the
/// next attempt. `why` may carry the server's or a library's words: scrubbed of the token.
fn report(name: &str, why: &str, wait: Duration, token: Option<&Secret>, last: &mut String) {
    let why = crate::sources::secret::server_line(why, token, 300);
    if why != *last {
        let wait = humantime::format_duration(Duration::from_secs(wait.as_secs().max(1)));
        crate::log::warn(format_args!(
            "{name}: {why}; reconnecting in {wait} (backing off while it lasts)"
        ));
        *last = why;
    }
}

#[cfg(test)]
mod tests;
