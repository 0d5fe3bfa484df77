//! The HTTP side of the X source: one `ureq` agent, the rules API, opening the stream, and
//! sorting every failure into the class that decides what happens next.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::frame::{one_line, Problem};
use crate::sources::secret::Secret;

/// Rules tagstream manages carry this tag; rules with any other tag belong to someone else.
pub const RULE_TAG: &str = "tagstream";
/// The stream, asking for the fields a trend counter needs.
pub const STREAM_PATH: &str =
    "/2/tweets/search/stream?tweet.fields=created_at,entities,author_id,referenced_tweets";
const RULES_PATH: &str = "/2/tweets/search/stream/rules";

/// Why an attempt failed, by what the published rules do next.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// TCP/TLS/read errors and timeouts: linear backoff.
    Network(String),
    /// An HTTP status worth retrying (5xx and the like): exponential backoff from 5 s.
    Http(String),
    /// 429 (or the legacy 420): exponential from 60 s; `x-rate-limit-reset` (Unix seconds).
    RateLimited(Option<u64>),
    /// Retrying cannot help (bad token, tier without the stream, no rules): one line.
    Fatal(String),
}

/// The agent: statuses are read by us (not turned into errors), no redirects (a redirect
/// would carry the bearer token elsewhere), and every read times out after `stall`, which
/// is the stall detection of the stream. The response head must come within 30 s whole: a
/// server sending it a byte at a time would otherwise hold the source for hours, each read
/// within `stall`. No connection is pooled: one the server closed meanwhile would fail the
/// next attempt, which counts against the connection budget; a reconnection makes only a
/// few requests, so reuse would save little.
pub fn agent(stall: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_idle_connections(0)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(stall))
        .user_agent(concat!("tagstream/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// A connection error, without anything from the request (the token is in the headers).
fn network(e: &ureq::Error, token: &Secret) -> Failure {
    Failure::Network(scrub(&e.to_string(), token))
}

/// `msg` without the token ([`Secret::scrub`]), then on one line of at most 300 characters.
pub fn scrub(msg: &str, token: &Secret) -> String {
    one_line(&token.scrub(msg), 300)
}

fn bearer(token: &Secret) -> String {
    format!("Bearer {}", token.expose())
}

/// Sorts a non-success status. `what` names the request ("GET /2/tweets/search/stream").
/// The server's problem text is scrubbed of `token`: an error body may quote the request.
fn status_failure(
    resp: &mut ureq::http::Response<ureq::Body>,
    what: &str,
    token: &Secret,
) -> Failure {
    let status = resp.status().as_u16();
    let reset = resp
        .headers()
        .get("x-rate-limit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .lossy_utf8(true)
        .read_to_string()
        .unwrap_or_default();
    let problem = Problem::from_body(&body).line_without(token);
    let said = if problem.is_empty() {
        String::new()
    } else {
        format!(" ({problem})")
    };
    match status {
        401 => Failure::Fatal(format!(
            "x://: 401 Unauthorized from {what}{said}: X rejected the bearer token in \
             X_BEARER_TOKEN (an App-only bearer token of a project app is needed)"
        )),
        403 => Failure::Fatal(format!(
            "x://: 403 Forbidden from {what}{said}: the app's access tier or project does not \
             include the filtered stream"
        )),
        409 => Failure::Fatal(format!(
            "x://: 409 Conflict from {what}{said}: the stream has no rules; pass --track WORDS"
        )),
        // Our request or --endpoint is wrong: the same request will fail the same way.
        400 | 404 => Failure::Fatal(format!(
            "x://: HTTP {status} from {what}{said}: check --endpoint and --track"
        )),
        420 | 429 => Failure::RateLimited(reset),
        _ => Failure::Http(format!("HTTP {status} from {what}{said}")),
    }
}

/// Opens the stream; on 200 returns the body to read.
pub fn open_stream(
    agent: &ureq::Agent,
    base: &str,
    token: &Secret,
) -> Result<ureq::BodyReader<'static>, Failure> {
    let mut resp = agent
        .get(format!("{base}{STREAM_PATH}"))
        .header("Authorization", bearer(token))
        .call()
        .map_err(|e| network(&e, token))?;
    if resp.status().as_u16() == 200 {
        Ok(resp.into_body().into_reader())
    } else {
        Err(status_failure(
            &mut resp,
            "GET /2/tweets/search/stream",
            token,
        ))
    }
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
struct Rule {
    id: String,
    value: String,
    tag: Option<String>,
}

#[derive(Deserialize)]
struct RulesPage {
    #[serde(default)]
    data: Vec<Rule>,
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct Meta {
    next_token: Option<String>,
}

/// The error objects of a rules POST (e.g. an invalid rule, a duplicate).
#[derive(Deserialize)]
struct PostReply {
    #[serde(default)]
    errors: Vec<RuleError>,
}

#[derive(Deserialize)]
struct RuleError {
    value: Option<String>,
    #[serde(flatten)]
    problem: Problem,
}

/// What a rules sync did.
#[derive(Debug, Default, PartialEq)]
pub struct RulesReport {
    /// Our rules already present.
    pub kept: usize,
    /// Rules added.
    pub added: usize,
    /// Stale rules of ours deleted.
    pub deleted: usize,
    /// Rules with another tag (not ours), left alone; they feed the stream too.
    pub others: usize,
}

/// Makes the app's rules match `track`: one rule per entry (its value verbatim, so an entry
/// may use X's rule syntax), tagged [`RULE_TAG`]. Lists the rules, deletes ours that are no
/// longer wanted (rules with other tags belong to other tools and are kept), then adds the
/// missing ones (an entry already present under any tag is not added again). Running it again
/// changes nothing: idempotent across restarts.
pub fn sync_rules(
    agent: &ureq::Agent,
    base: &str,
    token: &Secret,
    track: &[String],
) -> Result<RulesReport, Failure> {
    let mut want: Vec<&str> = Vec::new();
    for t in track.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if !want.contains(&t) {
            want.push(t);
        }
    }
    let rules = list_rules(agent, base, token)?;
    let ours = |r: &Rule| r.tag.as_deref() == Some(RULE_TAG);
    let stale: Vec<&str> = rules
        .iter()
        .filter(|r| ours(r) && !want.contains(&r.value.as_str()))
        .map(|r| r.id.as_str())
        .collect();
    let missing: Vec<&str> = want
        .iter()
        .copied()
        .filter(|w| !rules.iter().any(|r| r.value == *w))
        .collect();
    let report = RulesReport {
        kept: rules.iter().filter(|r| ours(r)).count() - stale.len(),
        added: missing.len(),
        deleted: stale.len(),
        others: rules.iter().filter(|r| !ours(r)).count(),
    };
    // Delete first: a tier's rule cap counts the stale rules too.
    if !stale.is_empty() {
        post_rules(agent, base, token, &json!({"delete": {"ids": stale}}))?;
    }
    if !missing.is_empty() {
        let add: Vec<_> = missing
            .iter()
            .map(|v| json!({"value": v, "tag": RULE_TAG}))
            .collect();
        post_rules(agent, base, token, &json!({ "add": add }))?;
    }
    Ok(report)
}

fn list_rules(agent: &ureq::Agent, base: &str, token: &Secret) -> Result<Vec<Rule>, Failure> {
    let mut rules = Vec::new();
    let mut next: Option<String> = None;
    // Pages of 1000; a cap on pages guards against a server that never stops paging.
    for _ in 0..100 {
        let mut url = format!("{base}{RULES_PATH}?max_results=1000");
        if let Some(t) = &next {
            url.push_str("&pagination_token=");
            url.push_str(&t.replace(|c: char| !c.is_ascii_alphanumeric(), ""));
        }
        let mut resp = agent
            .get(url)
            .header("Authorization", bearer(token))
            .call()
            .map_err(|e| network(&e, token))?;
        if resp.status().as_u16() != 200 {
            return Err(status_failure(
                &mut resp,
                "GET /2/tweets/search/stream/rules",
                token,
            ));
        }
        let body = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| network(&e, token))?;
        let page: RulesPage = serde_json::from_str(&body).map_err(|e| {
            let e = scrub(&e.to_string(), token);
            Failure::Http(format!("unreadable reply to GET {RULES_PATH}: {e}"))
        })?;
        rules.extend(page.data);
        next = page.meta.and_then(|m| m.next_token);
        if next.is_none() {
            break;
        }
    }
    Ok(rules)
}

fn post_rules(
    agent: &ureq::Agent,
    base: &str,
    token: &Secret,
    body: &serde_json::Value,
) -> Result<(), Failure> {
    let mut resp = agent
        .post(format!("{base}{RULES_PATH}"))
        .header("Authorization", bearer(token))
        .content_type("application/json")
        .send(body.to_string())
        .map_err(|e| network(&e, token))?;
    if !(200..300).contains(&resp.status().as_u16()) {
        return Err(status_failure(
            &mut resp,
            "POST /2/tweets/search/stream/rules",
            token,
        ));
    }
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let reply: PostReply = serde_json::from_str(&text).unwrap_or(PostReply { errors: vec![] });
    for e in reply.errors {
        // A duplicate means the rule is there already: what we wanted.
        let kind = e.problem.kind.as_deref().unwrap_or("");
        let title = e.problem.title.as_deref().unwrap_or("");
        if kind.ends_with("duplicate-rules") || title.contains("Duplicate") {
            continue;
        }
        return Err(Failure::Fatal(format!(
            "x://: X rejected the rule '{}': {}",
            one_line(&token.scrub(e.value.as_deref().unwrap_or("?")), 100),
            e.problem.line_without(token)
        )));
    }
    Ok(())
}
