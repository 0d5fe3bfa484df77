//! One file per subcommand. Each turns its flags (`cli.rs`) into work for the layers below
//! and maps failures to one-line errors; `main.rs` only dispatches here.
//!
//! - `run` (and `demo`, which is `run` with other defaults): the engine, through `job`;
//! - `gen`: the synthetic generator to stdout, a line server, or Kafka;
//! - `receive`: a source forwarded as text lines to TCP clients (the tutorial's receiver);
//! - `sql`: a read-only query on a results database or a running engine;
//! - `chart`: the bar chart of a window as PNG or SVG;
//! - `extract`: the tags of each stdin line (debugging; the conformance runner).

pub mod chart;
pub mod extract;
pub mod gen;
pub mod receive;
pub mod run;
pub mod sql;

/// An engine's API address: `path` (with a query of its own, if any) joined to `base` as
/// given to `--url`, before the query `base` may carry (`http://h/?token=x` and `/api/sql`
/// make `http://h/api/sql?token=x`, not `http://h/?token=x/api/sql`).
pub(crate) fn api_url(base: &str, path: &str) -> String {
    let (b, query) = base
        .split_once('?')
        .map_or((base, None), |(b, q)| (b, Some(q)));
    let b = b.trim_end_matches('/');
    match query {
        None => format!("{b}{path}"),
        Some(q) => {
            let sep = if path.contains('?') { '&' } else { '?' };
            format!("{b}{path}{sep}{q}")
        }
    }
}

/// `url` for messages: a password in its user info shown as `***`, its query and fragment
/// left out (a token may be in either).
pub(crate) fn shown_url(url: &str) -> String {
    let bare = url.split(['?', '#']).next().unwrap_or(url);
    let s = bare.find("://").map_or(0, |s| s + 3);
    let host_end = bare[s..].find('/').map_or(bare.len(), |i| s + i);
    match bare[s..host_end].rfind('@').map(|i| s + i) {
        Some(at) => {
            let user = bare[s..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &bare[..s], &bare[at..])
        }
        None => bare.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_keep_the_query_and_messages_hide_credentials() {
        assert_eq!(
            api_url("http://h:8080/", "/api/sql"),
            "http://h:8080/api/sql"
        );
        assert_eq!(
            api_url("http://h/?token=x", "/api/sql"),
            "http://h/api/sql?token=x"
        );
        assert_eq!(
            api_url("http://h?token=x", "/api/windows?since=5"),
            "http://h/api/windows?since=5&token=x"
        );
        assert_eq!(
            shown_url("http://al:S3CRET@h:1/api/sql?token=T0K"),
            "http://al:***@h:1/api/sql"
        );
        assert_eq!(shown_url("http://h/a@b?x"), "http://h/a@b");
        assert_eq!(shown_url("h:1/x#T0K"), "h:1/x");
        assert_eq!(shown_url("al:S3CRET@h:8080"), "al:***@h:8080");
    }
}
