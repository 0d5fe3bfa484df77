//! The X source against the local fake (`fake.rs`): framing, rules, reconnects, stalls,
//! backoff on virtual time (`FakeSleeper`), fatal errors, skips.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::fake::{frames, tweet, Conn, FakeX, Step};
use super::http::{self, Failure};
use super::*;
use crate::metrics::Metrics;
use crate::sources::backoff::FakeSleeper;
use crate::sources::SourceSpec;

const TOKEN: &str = "AAAA-test-token-Zq81";
const T0: &str = "2026-06-11T19:00:03.000Z";

/// Collects posts; asks the loop to stop once it has `want`.
struct Collect {
    posts: Vec<Post>,
    want: usize,
}

impl Posts for Collect {
    fn push(&mut self, post: &Post) -> bool {
        self.posts.push(post.clone());
        self.posts.len() < self.want
    }
    fn flush(&mut self) -> bool {
        true
    }
}

fn ctx(fake: &FakeX, track: &[&str]) -> SourceContext {
    let ctx = SourceContext {
        endpoint: Some(fake.url.clone()),
        track: track.iter().map(|s| s.to_string()).collect(),
        ..SourceContext::new(
            Arc::new(Metrics::default()),
            Arc::new(AtomicBool::new(false)),
        )
    };
    // A watchdog, so a broken loop fails the test instead of hanging it.
    let stop = ctx.shutdown.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        stop.store(true, Ordering::SeqCst);
    });
    ctx
}

/// Runs the loop until `want` posts (or the sleeper's limit, or a fatal error).
fn run_until(
    fake: &FakeX,
    track: &[&str],
    spec: &str,
    want: usize,
    sleeper: &mut FakeSleeper,
) -> (Vec<Post>, SourceContext) {
    run_spec(fake, track, XSpec::parse(spec).unwrap(), want, sleeper)
}

/// [`run_until`] with a spec built by the test.
fn run_spec(
    fake: &FakeX,
    track: &[&str],
    spec: XSpec,
    want: usize,
    sleeper: &mut FakeSleeper,
) -> (Vec<Post>, SourceContext) {
    let ctx = ctx(fake, track);
    let mut out = Collect {
        posts: Vec::new(),
        want,
    };
    stream(&spec, &ctx, &Secret::new(TOKEN), &mut out, sleeper);
    (out.posts, ctx)
}

fn texts(posts: &[Post]) -> Vec<&str> {
    posts.iter().map(|p| p.text.as_str()).collect()
}

#[test]
fn spec_parsing() {
    assert_eq!(XSpec::parse("").unwrap().stall, DEFAULT_STALL);
    assert_eq!(
        XSpec::parse("?stall=500ms").unwrap().stall,
        Duration::from_millis(500)
    );
    assert!(XSpec::parse("api.x.com")
        .unwrap_err()
        .contains("--endpoint"));
    assert!(XSpec::parse("?token=abc")
        .unwrap_err()
        .contains("unknown parameter"));
    assert!(XSpec::parse("?stall=0s").is_err());
}

#[test]
fn normal_flow_with_frames_split_across_chunks() {
    let fake = FakeX::start(TOKEN);
    let lines = vec![
        tweet(
            1,
            "Kickoff! #WorldCup #football",
            T0,
            &["WorldCup", "football"],
        ),
        tweet(2, "Café ☕ #football", T0, &["football"]),
        tweet(3, "multi\nline #a", T0, &["a"]),
    ];
    fake.script(Conn::Stream(frames(&lines, 7)));
    let mut sleeper = FakeSleeper::default();
    let (posts, ctx) = run_until(&fake, &["football", "worldcup"], "", 3, &mut sleeper);
    assert_eq!(
        texts(&posts),
        [
            "Kickoff! #WorldCup #football",
            "Café ☕ #football",
            "multi\nline #a"
        ]
    );
    assert_eq!(posts[0].tags, ["WorldCup", "football"]);
    assert_eq!(posts[0].time, Some(1_781_204_403_000));
    assert!(sleeper.slept.is_empty());
    let st = fake.state();
    let values: Vec<_> = st
        .rules
        .iter()
        .map(|r| (r.value.as_str(), r.tag.as_str()))
        .collect();
    assert_eq!(
        values,
        [("football", "tagstream"), ("worldcup", "tagstream")]
    );
    assert!(st.requests.last().unwrap().ends_with(
        "/2/tweets/search/stream?tweet.fields=created_at,entities,author_id,referenced_tweets"
    ));
    let c = ctx.metrics.source("x");
    assert_eq!(c.records.load(Ordering::Relaxed), 3);
    assert_eq!(c.skipped("bad_frame"), 0);
}

#[test]
fn rules_sync_is_idempotent_and_deletes_only_our_stale_rules() {
    let fake = FakeX::start(TOKEN);
    fake.add_rule("a", "tagstream");
    fake.add_rule("old", "tagstream");
    fake.add_rule("theirs", "other-tool");
    fake.add_rule("b", "other-tool"); // wanted, present under another tag: not added again
    let agent = http::agent(Duration::from_secs(5));
    let token = Secret::new(TOKEN);
    let track = ["a".to_owned(), "b".into(), "c".into(), "a".into()];
    let r = http::sync_rules(&agent, &fake.url, &token, &track).unwrap();
    assert_eq!((r.kept, r.added, r.deleted, r.others), (1, 1, 1, 2));
    let mut values: Vec<_> = fake.state().rules.iter().map(|r| r.value.clone()).collect();
    values.sort();
    assert_eq!(values, ["a", "b", "c", "theirs"]);
    let posts = fake.state().posts.len();
    // Again: nothing to change, no POST.
    let r = http::sync_rules(&agent, &fake.url, &token, &track).unwrap();
    assert_eq!((r.kept, r.added, r.deleted), (2, 0, 0));
    assert_eq!(fake.state().posts.len(), posts);
}

#[test]
fn empty_track_keeps_the_rules_and_sends_no_rule_request() {
    let fake = FakeX::start(TOKEN);
    fake.add_rule("existing", "someone");
    fake.script(Conn::Stream(frames(&[tweet(1, "x #y", T0, &["y"])], 5)));
    let (posts, _) = run_until(&fake, &[], "", 1, &mut FakeSleeper::default());
    assert_eq!(posts.len(), 1);
    let st = fake.state();
    assert!(
        st.requests.iter().all(|r| !r.contains("/rules")),
        "{:?}",
        st.requests
    );
    assert_eq!(st.rules.len(), 1);
}

/// A spec whose streams count as healthy after [`SHORT_HEALTHY`] (instead of 30 s), and the
/// fake's pause that makes a stream last past it: far past, since the client's clock starts
/// only once it has the response head, and a loaded machine may pause it in between.
const SHORT_HEALTHY: Duration = Duration::from_millis(20);
const PAST_HEALTHY: Duration = Duration::from_secs(1);

fn quick_health() -> XSpec {
    XSpec {
        healthy: SHORT_HEALTHY,
        ..XSpec::parse("").unwrap()
    }
}

#[test]
fn a_dropped_connection_is_reopened_at_once_and_reading_goes_on() {
    let fake = FakeX::start(TOKEN);
    let mut first = frames(
        &[
            tweet(1, "one #a", T0, &["a"]),
            tweet(2, "two #a", T0, &["a"]),
        ],
        11,
    );
    first.push(Step::Chunk(b"{\"data\":{\"te".to_vec())); // cut mid-frame
                                                          // Both connections stay up past the health threshold: each drop is one of "an
                                                          // established connection", reopened at once.
    first.push(Step::Pause(PAST_HEALTHY));
    first.push(Step::Close);
    fake.script(Conn::Stream(first));
    fake.script(Conn::Stream(vec![
        Step::Chunk(b"\r\n".to_vec()),
        Step::Pause(PAST_HEALTHY),
        Step::End,
    ]));
    fake.script(Conn::Stream(frames(&[tweet(3, "three #a", T0, &["a"])], 4)));
    let mut sleeper = FakeSleeper::default();
    let (posts, ctx) = run_spec(&fake, &["a"], quick_health(), 3, &mut sleeper);
    assert_eq!(texts(&posts), ["one #a", "two #a", "three #a"]);
    // Both drops came after data: reconnect immediately, no backoff.
    assert!(sleeper.slept.is_empty(), "{:?}", sleeper.slept);
    assert_eq!(
        ctx.metrics.source("x").reconnects.load(Ordering::Relaxed),
        2
    );
    assert_eq!(fake.state().streams, 3);
}

#[test]
fn a_stall_reconnects() {
    let fake = FakeX::start(TOKEN);
    let first = vec![
        Step::Chunk(format!("{}\r\n", tweet(1, "before #s", T0, &["s"])).into_bytes()),
        Step::Pause(Duration::from_secs(15)),
    ];
    fake.script(Conn::Stream(first));
    fake.script(Conn::Stream(frames(&[tweet(2, "after #s", T0, &["s"])], 9)));
    let started = std::time::Instant::now();
    let (posts, ctx) = run_until(&fake, &["s"], "?stall=1s", 2, &mut FakeSleeper::default());
    assert_eq!(texts(&posts), ["before #s", "after #s"]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "waited for the server"
    );
    assert_eq!(
        ctx.metrics.source("x").reconnects.load(Ordering::Relaxed),
        1
    );
}

fn status(code: u16, headers: &[(&str, String)]) -> Conn {
    let h = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Conn::Status(
        code,
        h,
        r#"{"title":"Service Unavailable","type":"about:blank"}"#.into(),
    )
}

#[test]
fn http_errors_and_429_back_off_on_the_published_schedules() {
    let fake = FakeX::start(TOKEN);
    for _ in 0..3 {
        fake.script(status(503, &[]));
    }
    fake.script(status(429, &[]));
    fake.script(status(429, &[]));
    fake.script(status(503, &[])); // the 5 s schedule goes on where it was
    fake.script(Conn::Stream(frames(&[tweet(1, "ok #z", T0, &["z"])], 3)));
    let mut sleeper = FakeSleeper::default();
    let (posts, _) = run_until(&fake, &["z"], "", 1, &mut sleeper);
    assert_eq!(posts.len(), 1);
    let secs: Vec<u64> = sleeper.slept.iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [5, 10, 20, 60, 120, 40]);
}

/// A connection that stayed up past the health threshold was a success: the schedules start
/// again (a mere 200 does not do it: see the next test).
#[test]
fn a_successful_connect_resets_the_backoff() {
    let fake = FakeX::start(TOKEN);
    fake.script(status(503, &[]));
    fake.script(status(503, &[]));
    fake.script(Conn::Stream(vec![
        Step::Chunk(format!("{}\r\n", tweet(1, "a #a", T0, &["a"])).into_bytes()),
        Step::Pause(PAST_HEALTHY),
        Step::Close,
    ]));
    fake.script(status(503, &[]));
    fake.script(Conn::Stream(frames(&[tweet(2, "b #a", T0, &["a"])], 3)));
    let mut sleeper = FakeSleeper::default();
    let (posts, _) = run_spec(&fake, &["a"], quick_health(), 2, &mut sleeper);
    assert_eq!(posts.len(), 2);
    let secs: Vec<u64> = sleeper.slept.iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [5, 10, 5]);
}

/// Issue 13: a 200 whose stream ends at once does not reset the backoff; it is a failure
/// on the HTTP schedule, which goes on where the 503s left it.
#[test]
fn a_stream_that_ends_soon_after_connecting_is_a_failure() {
    let fake = FakeX::start(TOKEN);
    fake.script(status(503, &[]));
    fake.script(status(503, &[]));
    fake.script(Conn::Stream(vec![
        Step::Chunk(format!("{}\r\n", tweet(1, "a #a", T0, &["a"])).into_bytes()),
        Step::Close,
    ]));
    fake.script(status(503, &[]));
    fake.script(Conn::Stream(vec![
        Step::Chunk(format!("{}\r\n", tweet(2, "b #a", T0, &["a"])).into_bytes()),
        Step::End,
    ]));
    fake.script(Conn::Stream(frames(&[tweet(3, "c #a", T0, &["a"])], 3)));
    let mut sleeper = FakeSleeper::default();
    let (posts, ctx) = run_until(&fake, &["a"], "", 3, &mut sleeper);
    assert_eq!(texts(&posts), ["a #a", "b #a", "c #a"]);
    let secs: Vec<u64> = sleeper.slept.iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [5, 10, 20, 40, 80]);
    let c = ctx.metrics.source("x");
    assert_eq!(c.connections.load(Ordering::Relaxed), 3);
    assert_eq!(c.reconnects.load(Ordering::Relaxed), 2);
}

/// Issue 13, the worst case: a server that accepts, sends one post and closes, forever.
/// Before, every 200 reset the backoff and a drop after data was retried at once: about 23
/// connects a second. Now the waits grow (5 s doubling to 320 s) and no 15 minutes (on the
/// sleeper's virtual clock) hold more than X's 50 connects.
#[test]
fn a_server_that_closes_after_each_line_gets_at_most_x_connect_limit() {
    let fake = FakeX::start(TOKEN);
    const CONNECTS: usize = 40;
    for i in 0..CONNECTS as u64 + 5 {
        fake.script(Conn::Stream(vec![
            Step::Chunk(format!("{}\r\n", tweet(i + 1, "x #a", T0, &["a"])).into_bytes()),
            Step::End,
        ]));
    }
    // The loop ends when the sleeper says stop: after CONNECTS connects.
    let mut sleeper = FakeSleeper {
        stop_after: Some(CONNECTS),
        ..FakeSleeper::default()
    };
    let (posts, _) = run_until(&fake, &["a"], "", usize::MAX, &mut sleeper);
    assert_eq!(posts.len(), CONNECTS);
    assert_eq!(fake.state().streams, CONNECTS);
    let d = &sleeper.slept;
    assert_eq!(d[0], Duration::from_secs(5));
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
    assert_eq!(*d.last().unwrap(), Duration::from_secs(320));
    // Connect i happens after the first i waits.
    let at: Vec<Duration> = (0..CONNECTS).map(|i| d[..i].iter().sum()).collect();
    let window = Duration::from_secs(15 * 60);
    let worst = (0..CONNECTS)
        .map(|i| at[i..].iter().filter(|&&t| t < at[i] + window).count())
        .max()
        .unwrap();
    assert!(worst <= 50, "{worst} connects in 15 minutes: {at:?}");
    // The figure for the record: connects in the first 15 minutes.
    assert_eq!(at.iter().filter(|&&t| t < window).count(), 8, "{at:?}");
}

/// Healthy streams (each open past the threshold) are reopened at once; were they to drop
/// fast enough to pass X's limit, the attempt budget makes the 51st connect in 15 minutes
/// wait for the oldest to leave the window.
#[test]
fn healthy_streams_are_reopened_at_once_but_never_past_the_connect_budget() {
    let fake = FakeX::start(TOKEN);
    const CONNECTS: usize = 53;
    for i in 0..CONNECTS as u64 {
        fake.script(Conn::Stream(vec![
            Step::Chunk(format!("{}\r\n", tweet(i + 1, "x #a", T0, &["a"])).into_bytes()),
            Step::End,
        ]));
    }
    let mut sleeper = FakeSleeper::default();
    // Every stream counts as healthy at once: the tightest loop the schedules allow.
    let spec = XSpec {
        healthy: Duration::ZERO,
        ..XSpec::parse("").unwrap()
    };
    let (posts, _) = run_spec(&fake, &["a"], spec, CONNECTS, &mut sleeper);
    assert_eq!(posts.len(), CONNECTS);
    // 50 connects without a wait, then one wait of the whole window (virtual time stands
    // still while the test's connections run), then two more at once.
    assert_eq!(sleeper.slept, [Duration::from_secs(15 * 60)]);
    assert_eq!(fake.state().streams, CONNECTS);
}

/// Posts are handed on (flushed) when a stream ends, before any backoff wait: a post read
/// just before the server closed waited for the next connection (up to 320 s), or was
/// lost at shutdown.
#[test]
fn posts_are_handed_on_before_backing_off() {
    /// Counts posts pushed, and those pushed before the latest flush.
    #[derive(Default)]
    struct Held {
        pushed: usize,
        flushed: usize,
    }
    impl Posts for Held {
        fn push(&mut self, _: &Post) -> bool {
            self.pushed += 1;
            true
        }
        fn flush(&mut self) -> bool {
            self.flushed = self.pushed;
            true
        }
    }
    let fake = FakeX::start(TOKEN);
    for i in 0..3 {
        // The end right behind the post: the reader often sees no pause between them.
        let post = format!("{}\r\n", tweet(i + 1, "x #a", T0, &["a"])).into_bytes();
        fake.script(Conn::Stream(vec![Step::Chunk(post), Step::End]));
    }
    let ctx = ctx(&fake, &["a"]);
    let mut held = Held::default();
    let mut sleeper = FakeSleeper {
        stop_after: Some(3),
        ..FakeSleeper::default()
    };
    stream(
        &XSpec::parse("").unwrap(),
        &ctx,
        &Secret::new(TOKEN),
        &mut held,
        &mut sleeper,
    );
    assert_eq!((held.pushed, held.flushed), (3, 3));
}

#[test]
fn error_bodies_never_carry_the_token_into_messages() {
    let fake = FakeX::start(TOKEN);
    fake.add_rule("a", "tagstream");
    // Long enough that a cut at 200 characters would fall inside the token.
    let quoting = format!(
        r#"{{"title":"Service Unavailable","detail":"{} Authorization: Bearer {TOKEN} was sent"}}"#,
        "x".repeat(140)
    );
    fake.script(Conn::Status(503, vec![], quoting.clone()));
    fake.script(Conn::Status(403, vec![], quoting));
    let agent = http::agent(Duration::from_secs(5));
    let token = Secret::new(TOKEN);
    let Err(Failure::Http(msg)) = http::open_stream(&agent, &fake.url, &token) else {
        panic!("not an HTTP failure");
    };
    assert!(msg.contains("Bearer [redacted]"), "{msg}");
    assert!(!msg.contains(&TOKEN[..6]), "{msg}");
    let Err(Failure::Fatal(msg)) = http::open_stream(&agent, &fake.url, &token) else {
        panic!("not fatal");
    };
    assert!(msg.contains("403") && !msg.contains(&TOKEN[..6]), "{msg}");
}

#[test]
fn rate_limit_reset_header_is_honoured() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fake = FakeX::start(TOKEN);
    fake.script(status(
        429,
        &[("x-rate-limit-reset", (now + 200).to_string())],
    ));
    fake.script(status(
        429,
        &[("x-rate-limit-reset", (now - 50).to_string())],
    ));
    fake.script(Conn::Stream(frames(&[tweet(1, "ok #z", T0, &["z"])], 3)));
    let mut sleeper = FakeSleeper::default();
    let (posts, _) = run_until(&fake, &["z"], "", 1, &mut sleeper);
    assert_eq!(posts.len(), 1);
    let s = &sleeper.slept;
    assert_eq!(s.len(), 2);
    // Until the reset time: 200 s from `now`, less the (real) time the test took to get
    // there, and the fraction of a second `now` dropped.
    let taken = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - now;
    assert!(
        s[0] >= Duration::from_secs(199 - taken) && s[0] <= Duration::from_secs(202),
        "{s:?} ({taken} s taken)"
    );
    // A reset time already past: the schedule alone (second step: 120 s).
    assert_eq!(s[1], Duration::from_secs(120));
}

#[test]
fn network_errors_back_off_linearly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ctx = SourceContext {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        ..SourceContext::new(
            Arc::new(Metrics::default()),
            Arc::new(AtomicBool::new(false)),
        )
    };
    let mut sleeper = FakeSleeper {
        stop_after: Some(5),
        ..FakeSleeper::default()
    };
    let mut out = Collect {
        posts: vec![],
        want: 1,
    };
    stream(
        &XSpec::parse("").unwrap(),
        &ctx,
        &Secret::new(TOKEN),
        &mut out,
        &mut sleeper,
    );
    let ms: Vec<u128> = sleeper.slept.iter().map(|d| d.as_millis()).collect();
    assert_eq!(ms, [250, 500, 750, 1000, 1250]);
    assert!(ctx.failure().is_none());
}

#[test]
fn unauthorized_is_one_fatal_line_without_the_token() {
    let fake = FakeX::start("the-right-token");
    let mut sleeper = FakeSleeper::default();
    let (posts, ctx) = run_until(&fake, &["a"], "", 1, &mut sleeper);
    assert!(posts.is_empty());
    assert!(sleeper.slept.is_empty());
    let msg = ctx.failure().expect("fatal");
    assert!(msg.starts_with("x://: 401 Unauthorized"), "{msg}");
    assert!(!msg.contains('\n') && !msg.contains(TOKEN), "{msg}");
    assert!(ctx.stopping());
}

#[test]
fn forbidden_and_no_rules_are_fatal() {
    let fake = FakeX::start(TOKEN);
    fake.add_rule("a", "tagstream");
    fake.script(Conn::Status(
        403,
        vec![],
        r#"{"title":"Forbidden","detail":"client-not-enrolled"}"#.into(),
    ));
    let (_, ctx) = run_until(&fake, &[], "", 1, &mut FakeSleeper::default());
    let msg = ctx.failure().unwrap();
    assert!(
        msg.contains("403 Forbidden") && msg.contains("client-not-enrolled"),
        "{msg}"
    );

    let empty = FakeX::start(TOKEN);
    let (_, ctx) = run_until(&empty, &[], "", 1, &mut FakeSleeper::default());
    let msg = ctx.failure().unwrap();
    assert!(msg.contains("409") && msg.contains("--track"), "{msg}");
}

#[test]
fn malformed_frames_errors_and_duplicates_are_skipped_and_counted() {
    let fake = FakeX::start(TOKEN);
    let lines = vec![
        tweet(1, "good #a", T0, &["a"]),
        "{not json".to_owned(),
        r#"{"data":{"id":"9"}}"#.to_owned(),
        tweet(1, "good #a", T0, &["a"]), // a duplicate
        r#"{"errors":[{"title":"operational-disconnect","detail":"upstream","type":"https://api.x.com/2/problems/operational-disconnect"}]}"#.to_owned(),
        tweet(2, "also good #b", T0, &["b"]),
    ];
    fake.script(Conn::Stream(frames(&lines, 13)));
    let (posts, ctx) = run_until(&fake, &["a"], "", 2, &mut FakeSleeper::default());
    assert_eq!(texts(&posts), ["good #a", "also good #b"]);
    let c = ctx.metrics.source("x");
    assert_eq!(c.skipped("bad_frame"), 2);
    assert_eq!(c.skipped("duplicate"), 1);
    assert_eq!(c.skipped("stream_error"), 1);
}

#[test]
fn secrets_never_show_in_debug_output_or_errors() {
    let fake = FakeX::start(TOKEN);
    let ctx = ctx(&fake, &["a"]);
    let spec = SourceSpec::parse("x://?stall=1s").unwrap();
    let all = format!(
        "{spec:?} {ctx:?} {:?} {:?}",
        XSpec::parse("").unwrap(),
        Secret::new(TOKEN)
    );
    assert!(!all.contains(TOKEN), "{all}");
    let token = Secret::new(TOKEN);
    assert_eq!(
        http::scrub(&format!("oops {TOKEN} here"), &token),
        "oops [redacted] here"
    );
    let bad = Secret::new("line\nbreak");
    let mut out = Collect {
        posts: vec![],
        want: 1,
    };
    stream(
        &XSpec::parse("").unwrap(),
        &ctx,
        &bad,
        &mut out,
        &mut FakeSleeper::default(),
    );
    let msg = ctx.failure().unwrap();
    assert!(
        msg.contains("cannot go in an HTTP header") && !msg.contains("break"),
        "{msg}"
    );
    // An unreachable endpoint's error names no token either.
    assert!(!matches!(
        Failure::Network(String::new()),
        Failure::Fatal(_)
    ));
}
