//! A Mastodon `Status` (the data of an `update` event) → a [`Post`]: the HTML `content` as
//! plain text, `created_at` as event time, `tags[].name` lower-cased (PROTOCOLS.md §3.2:
//! the case of `name` is not reliable).

use serde::Deserialize;

use crate::sources::live::Post;

/// Tags taken from one status at most (a hostile server cannot make us count thousands).
const MAX_TAGS: usize = 64;

#[derive(Deserialize)]
struct Status {
    content: Option<String>,
    created_at: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
    /// A boost carries the boosted status here and an empty `content` of its own.
    reblog: Option<Box<Status>>,
    account: Option<Account>,
}

#[derive(Deserialize)]
struct Account {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Tag {
    name: Option<String>,
}

/// Reads an `update` event's data; `None` when it is not a status.
pub fn post(data: &str) -> Option<Post> {
    let s: Status = crate::record::from_json_lenient(data).ok()?;
    let time = s.created_at.as_deref().and_then(crate::time::parse_time);
    // A boost counts like the tutorial's retweets: the boosted text and tags, at the time of
    // the boost. (Public timelines do not stream boosts; user streams do.)
    // A boost is no new post: its tags count, but it names no author (trends count each
    // post's author once, as Mastodon's own trends ignore boosts).
    let (s, boost) = match s.reblog {
        Some(r) if s.content.as_deref().unwrap_or("").is_empty() => (*r, true),
        _ => (s, false),
    };
    let author = s
        .account
        .as_ref()
        .and_then(|a| a.id.clone())
        .filter(|_| !boost);
    let content = s.content?;
    let mut tags: Vec<String> = Vec::new();
    for t in s.tags.iter().filter_map(|t| t.name.as_deref()) {
        let t = t.trim_start_matches('#').to_lowercase();
        if !t.is_empty() && !tags.contains(&t) && tags.len() < MAX_TAGS {
            tags.push(t);
        }
    }
    Some(Post {
        text: html_to_text(&content),
        time,
        tags,
        author,
    })
}

/// HTML → plain text: tags removed (`<br>` and the end of a `<p>` become a newline, so words
/// of two paragraphs never join into one tag), entities decoded. Mastodon sanitises
/// `content` to a handful of tags, so this is not a general HTML parser; it never fails.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('<') {
            let Some(end) = tag_end(rest) else {
                // An unterminated tag: the rest is not text.
                rest = "";
                break;
            };
            let name: String = rest[1..end]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
                .collect::<String>()
                .to_ascii_lowercase();
            if matches!(name.as_str(), "br" | "br/" | "/p" | "/li" | "/blockquote")
                && !out.ends_with('\n')
            {
                out.push('\n');
            }
            rest = &rest[end + 1..];
        } else {
            let (c, used) = entity(rest);
            out.push_str(c.as_deref().unwrap_or("&"));
            rest = &rest[used..];
        }
    }
    out.push_str(rest);
    let kept = out.trim_end_matches('\n').len();
    out.truncate(kept);
    out
}

/// The index of the `>` that ends the tag at the start of `s`, skipping quoted attribute
/// values (which may hold `>`).
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, b) in s.bytes().enumerate().skip(1) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Decodes the entity at the start of `s` (which starts with `&`): its text and the bytes
/// used. Unknown or malformed entities are left as they are (`None`, 1 byte: the `&`).
fn entity(s: &str) -> (Option<String>, usize) {
    // The longest entity we decode is `&#x10FFFF;` (10 bytes).
    let Some(semi) = s.as_bytes().iter().take(12).position(|&b| b == b';') else {
        return (None, 1);
    };
    let body = &s[1..semi];
    let c = match body {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        // A no-break space separates words like a space (and ends a hashtag).
        "nbsp" => Some(' '),
        _ => {
            let num = body.strip_prefix('#');
            let code = match num {
                Some(h) if h.starts_with(['x', 'X']) => u32::from_str_radix(&h[1..], 16).ok(),
                Some(d) => d.parse::<u32>().ok(),
                None => None,
            };
            match (num, code) {
                (Some(_), Some(n)) => Some(
                    char::from_u32(n)
                        .filter(|&c| c != '\0')
                        .unwrap_or('\u{FFFD}'),
                ),
                _ => None,
            }
        }
    };
    match c {
        Some(c) => (Some(c.to_string()), semi + 1),
        None => (None, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn status(id: u32, content: &str, tags: &[&str]) -> String {
        let tags: Vec<Value> = tags.iter().map(|t| json!({"name": t})).collect();
        json!({"id": id.to_string(), "created_at": "2026-06-11T19:00:03.000Z",
            "content": content, "tags": tags})
        .to_string()
    }

    #[test]
    fn html_content_becomes_text() {
        let cases = [
            ("<p>Hello <strong>world</strong></p>", "Hello world"),
            (
                "<p>one</p><p>two<br>three<br/>four</p>",
                "one\ntwo\nthree\nfour",
            ),
            (
                "a &amp;&lt;&gt;&quot;&#39;&apos;&#65;&#x42;&#X43;",
                "a &<>\"''ABC",
            ),
            (
                "&unknown; &#xZZ; & &#0; &#1114112;",
                "&unknown; &#xZZ; & \u{FFFD} \u{FFFD}",
            ),
            (
                "<a href=\"x>y\" title='a>b'>#<span>Tag</span></a>!",
                "#Tag!",
            ),
            (
                "<span class=\"invisible\">https://</span><span>ex.com/x</span>",
                "https://ex.com/x",
            ),
            ("unterminated <a href=", "unterminated "),
            ("日本&nbsp;#語", "日本 #語"),
            ("", ""),
        ];
        for (html, text) in cases {
            assert_eq!(html_to_text(html), text, "{html}");
        }
    }

    /// Half a surrogate pair escaped (a status cut inside an emoji) is U+FFFD: the post
    /// counts rather than being skipped.
    #[test]
    fn a_lone_surrogate_is_replaced_not_skipped() {
        let cut = status(3, "<p>cut HALF #Rust</p>", &["Rust"]).replace("HALF", "\\ud83d");
        let p = post(&cut).expect("a post");
        assert_eq!(p.text, "cut \u{FFFD} #Rust");
        assert_eq!(p.tags, ["rust"]);
    }

    #[test]
    fn statuses_become_posts() {
        let p = post(&status(
            1,
            "<p>hi #Rust</p>",
            &["Rust", "rust", "MUSICTUESDAY", "#x"],
        ))
        .unwrap();
        assert_eq!(p.text, "hi #Rust");
        assert_eq!(p.tags, ["rust", "musictuesday", "x"]);
        assert_eq!(p.time, Some(1_781_204_403_000));
        let boost = json!({"id":"2","created_at":"2026-06-11T19:00:05.000Z","content":"","tags":[],
        "reblog": serde_json::from_str::<Value>(&status(1, "boosted #Yes", &["yes"])).unwrap()});
        let p = post(&boost.to_string()).unwrap();
        assert_eq!(
            (p.text.as_str(), p.tags.as_slice()),
            ("boosted #Yes", &["yes".to_owned()][..])
        );
        assert_eq!(p.time, Some(1_781_204_405_000));
        for bad in [
            "",
            "7",
            "{",
            "null",
            "[]",
            r#"{"content":5}"#,
            r#"{"id":"1"}"#,
        ] {
            assert!(post(bad).is_none(), "{bad}");
        }
        assert!(post(r#"{"content":"x","created_at":"never"}"#)
            .unwrap()
            .time
            .is_none());
    }
}
