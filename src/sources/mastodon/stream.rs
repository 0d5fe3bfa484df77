//! One HTTP response of the streaming API: judging its status, then reading its event
//! stream until it ends, stalls or the run stops.

use std::io::Read;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::sse::{Parser, Sse};
use super::{status, End, MastodonSpec, TICK, TOKEN_VAR};
use crate::metrics::SourceCounters;
use crate::sources::live::PostSink;
use crate::sources::secret::Secret;

use crate::sources::secret::server_line;

/// The server's reason from an error body (`{"error":"…"}`, what Mastodon sends), as
/// `" (reason)"`, scrubbed; "" when there is none.
fn reason(resp: &mut ureq::http::Response<ureq::Body>, token: Option<&Secret>) -> String {
    #[derive(serde::Deserialize)]
    struct Problem {
        error: Option<String>,
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(16 << 10)
        .lossy_utf8(true)
        .read_to_string()
        .unwrap_or_default();
    match serde_json::from_str::<Problem>(&body)
        .ok()
        .and_then(|p| p.error)
    {
        Some(e) if !e.trim().is_empty() => format!(" ({})", server_line(&e, token, 200)),
        _ => String::new(),
    }
}

/// Judges the response status: `Ok(None)` to read the stream, `Ok(Some(end))` to retry,
/// `Err(line)` to end the run. Whatever the server says is scrubbed of `token`.
pub(super) fn check(
    resp: &mut ureq::http::Response<ureq::Body>,
    name: &str,
    token: Option<&Secret>,
) -> Result<Option<End>, String> {
    let status = resp.status();
    let code = status.as_u16();
    if code == 200 {
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("text/event-stream");
        if ct.contains("text/event-stream") {
            return Ok(None);
        }
        return Ok(Some(End::Http {
            why: format!(
                "the server answered with {}, not an event stream",
                server_line(ct, token, 100)
            ),
            rate_limited: false,
            retry_after: None,
        }));
    }
    let said = reason(resp, token);
    match code {
        401 | 403 if token.is_none() => Err(format!(
            "{name}: the server answered {status}{said}: this stream needs an access token; set \
             {TOKEN_VAR} (or {TOKEN_VAR}_FILE) to a user token with read:statuses \
             (required for public timelines since Mastodon 4.2)"
        )),
        401 | 403 => Err(format!(
            "{name}: the server answered {status}{said}: the token in {TOKEN_VAR} was refused \
             (it needs the read:statuses scope, and must be a user token since Mastodon 4.2)"
        )),
        300..=399 => {
            let to = resp
                .headers()
                .get("location")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .map_or("nowhere".to_owned(), |l| server_line(&l, token, 200));
            Err(format!(
                "{name}: the server answered {status}, redirecting to {to}: redirects are not \
                 followed (the token would go along); if that is the server's streaming host, \
                 pass it with --endpoint"
            ))
        }
        404 => Err(format!(
            "{name}: the server answered {status}{said} for the streaming API: check the host \
             and the stream; if the server streams from another host (its \
             configuration.urls.streaming), pass that with --endpoint"
        )),
        _ => Ok(Some(End::Http {
            why: format!("the server answered {status}{said}"),
            rate_limited: code == 429,
            retry_after: resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        })),
    }
}

/// What the body reader thread sends.
enum Bytes {
    Data(Vec<u8>),
    End(String),
}

/// Reads one event stream until it ends. The body is read on its own thread so that this
/// loop can notice shutdown and stalls while a read blocks; a reader left behind ends at
/// its next read (the agent's per-read timeout is the stall time) or when the loop's
/// receiver is gone.
pub(super) fn read(
    body: ureq::Body,
    parser: &mut Parser,
    sink: &mut PostSink,
    counters: &SourceCounters,
    spec: &MastodonSpec,
    token: Option<&Secret>,
) -> End {
    let reader = body.into_reader();
    let rx = match crate::sources::live::spawn_reader("mastodon-body", 16, reader, |r| {
        let mut buf = vec![0u8; 16 << 10];
        let msg = match r.read(&mut buf) {
            Ok(0) => Bytes::End("closed by the server".into()),
            Ok(n) => {
                buf.truncate(n);
                Bytes::Data(buf)
            }
            Err(e) => Bytes::End(format!("connection lost: {e}")),
        };
        let end = matches!(msg, Bytes::End(_));
        (msg, end)
    }) {
        Ok(rx) => rx,
        Err(why) => {
            return End::Lost {
                why,
                progressed: false,
            }
        }
    };
    let mut last_data = Instant::now();
    let mut last_flush = Instant::now();
    let mut progressed = false;
    let mut stop = false;
    loop {
        if sink.ctx().stopping() {
            return End::Stop;
        }
        match rx.recv_timeout(TICK) {
            Ok(Bytes::Data(bytes)) => {
                last_data = Instant::now();
                parser.feed(&bytes, &mut |ev| match ev {
                    Sse::Event {
                        name: "update",
                        data,
                    } => {
                        progressed = true;
                        match status::post(data) {
                            Some(p) => {
                                counters.records.fetch_add(1, Relaxed);
                                stop |= !sink.push(&p);
                            }
                            None => counters.skip("bad_frame"),
                        }
                    }
                    // Not in Mastodon's SSE today (its WebSocket sends `{"error":…}`), but a
                    // server or proxy that says why is worth a line; it may quote our request.
                    Sse::Event {
                        name: "error",
                        data,
                    } => {
                        counters.skip("stream_error");
                        crate::log::warn(format_args!(
                            "{}: the stream says: {}",
                            spec.name(),
                            server_line(data, token, 200)
                        ));
                    }
                    Sse::Event { .. } => progressed = true,
                    Sse::TooLong => counters.skip("too_long"),
                });
                // A busy stream never idles: flush on time too, so posts do not wait.
                if stop || (last_flush.elapsed() >= TICK && !sink.flush()) {
                    return End::Stop;
                }
                if last_flush.elapsed() >= TICK {
                    last_flush = Instant::now();
                }
            }
            Ok(Bytes::End(why)) => return End::Lost { why, progressed },
            Err(RecvTimeoutError::Disconnected) => {
                return End::Lost {
                    why: "connection lost".into(),
                    progressed,
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if !sink.flush() {
                    return End::Stop;
                }
                if last_data.elapsed() >= spec.stall {
                    return End::Lost {
                        why: format!("nothing for {}s (stalled)", spec.stall.as_secs()),
                        progressed,
                    };
                }
            }
        }
    }
}
