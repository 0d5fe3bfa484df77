//! The URL rule (HASHTAG-RULES.md §6): a hashtag that overlaps a URL is dropped.
//!
//! A faithful port of `url_spans()` and of the entity walk of `extract_hashtags()` in
//! `ref_extract.py`, run on one whitespace-delimited token at a time: no URL contains any of the
//! oracle's `spaces`, so none crosses a token boundary, and entities of different tokens never
//! interact in the walk.
//!
//! The oracle's URL regex is `(pre)((proto)?(domain)(:port)?(/path*)?(?query)?)`, matched with
//! Python's backtracking. It is ported in two parts:
//! * `pre`, `proto` and `domain` by hand. A domain is `sub* name tld`, where a `sub` or `name`
//!   label runs to the next `.` (no label character is a `.`), so each label either matches in
//!   exactly one way or not at all. The backtracking order (as many `sub`s as possible, then
//!   fewer) becomes a right-to-left table over the token ([`domain_ends`]), and the TLD
//!   alternation with its lookahead becomes hash-set look-ups ([`crate::tld`]). This keeps the
//!   slow path linear in the token and about a microsecond per token; a backtracking regex
//!   engine would try the 1,574 TLD alternatives one by one.
//! * the rest after the domain (port, path, query) and the `t.co` pattern with the `regex`
//!   crate. They have no lookaround, everything after the domain is optional (so it never
//!   fails and never backtracks into the domain), and the regex crate's leftmost-first
//!   semantics give the same match and groups as Python's backtracking.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::class::is_url_space;
use crate::tld::{matches_caseless, Order, PY_CASE_CLASSES, TLDS};
use crate::twitter::Candidates;

/// `[a-zA-Z0-9]` as class items.
const ALNUM: &str = "a-zA-Z0-9";
/// Cyrillic, as class items.
const CYRILLIC: &str = r"\x{400}-\x{4FF}";
/// Latin accents (the oracle's `LATIN`), as class items.
const LATIN: &str = concat!(
    r"\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{FF}\x{100}-\x{24F}\x{253}\x{254}\x{256}\x{257}",
    r"\x{259}\x{25B}\x{263}\x{268}\x{26F}\x{272}\x{289}\x{28B}\x{2BB}\x{300}-\x{36F}",
    r"\x{1E00}-\x{1EFF}",
);

/// `chars` as class items, each `\x{..}`-escaped so that no ASCII punctuation is read as class
/// syntax (`-`, `&&`, `~~`, `[`).
fn esc(chars: &str) -> String {
    chars
        .chars()
        .map(|c| format!("\\x{{{:X}}}", u32::from(c)))
        .collect()
}

/// `s` as a pattern matching what Python's `(?i:re.escape(s))` matches.
fn caseless(s: &str) -> String {
    s.chars()
        .map(
            |c| match PY_CASE_CLASSES.iter().find(|cls| cls.starts_with(c)) {
                Some(cls) => format!("[{}]", esc(cls)),
                None => esc(&c.to_string()),
            },
        )
        .collect()
}

/// The lookaround-free parts of the oracle's patterns.
struct Patterns {
    /// `(?::([0-9]+))?(/path*)?(\?query)?` anchored at the end of a domain; group 1 is the
    /// oracle's group 6 (path).
    tail: Regex,
    /// The oracle's `TCO`, anchored like Python's `match`; group 1 is the slug.
    tco: Regex,
}

fn patterns() -> Option<Patterns> {
    let gpath = format!(
        "[{ALNUM}{CYRILLIC}{LATIN}{}]",
        esc("!*';:=+,.$/%#[]-\u{2013}_~@|&")
    );
    let parens = format!(r"\((?:{gpath}+|(?:{gpath}*\({gpath}+\){gpath}*))\)");
    let pend = format!("(?:[{ALNUM}{CYRILLIC}{LATIN}{}]|{parens})", esc("+-=_#/"));
    let path = format!("(?:(?:{gpath}*(?:{parens}{gpath}*)*{pend})|(?:@{gpath}+/))");
    let query = format!(
        r"\?[{ALNUM}{}]*[{ALNUM}{}]",
        esc("!?*'@();:&=+$/%#[]-_.,~|"),
        esc("-_&=#/")
    );
    let tail = format!("^(?::[0-9]+)?(/{path}*)?(?:{query})?");
    let proto = caseless("http") + &caseless("s") + "?" + &caseless("://t.co/");
    let tco = format!("^{proto}([a-zA-Z0-9]+)(?:{query})?");
    Some(Patterns {
        tail: Regex::new(&tail).ok()?,
        tco: Regex::new(&tco).ok()?,
    })
}

static PATTERNS: LazyLock<Option<Patterns>> = LazyLock::new(patterns);

/// A domain character (`dch`): anything but ASCII punctuation, spaces, U+FFFE/FEFF/FFFF and
/// directional marks.
fn is_domain_char(c: char) -> bool {
    !(c.is_ascii_punctuation()
        || is_url_space(c)
        || matches!(c, '\u{FFFE}' | '\u{FEFF}' | '\u{FFFF}')
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}'
        )
        || matches!(c, '\u{2066}'..='\u{2069}'))
}

/// The oracle's `pre` class: may `c` stand right before a URL?
fn is_pre_char(c: char) -> bool {
    !(c.is_ascii_alphanumeric()
        || matches!(c, '@' | '\u{FF20}' | '$' | '#' | '\u{FF03}')
        || matches!(c, '\u{FFFE}' | '\u{FEFF}' | '\u{FFFF}'))
}

/// A label character of a protocol-less host: `[\-a-zA-Z0-9]` or a Latin accent.
fn is_ascii_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c == '-'
        || matches!(c, '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{24F}')
        || matches!(
            c,
            '\u{253}' | '\u{254}' | '\u{256}' | '\u{257}' | '\u{259}' | '\u{25B}'
        )
        || matches!(
            c,
            '\u{263}' | '\u{268}' | '\u{26F}' | '\u{272}' | '\u{289}' | '\u{28B}'
        )
        || matches!(c, '\u{2BB}' | '\u{300}'..='\u{36F}' | '\u{1E00}'..='\u{1EFF}')
}

/// For every index `i`, the first index `>= i` whose char fails `ok` (or `cs.len()`).
fn stops(cs: &[char], ok: impl Fn(char) -> bool) -> Vec<usize> {
    let mut stop = vec![cs.len(); cs.len() + 1];
    for i in (0..cs.len()).rev() {
        stop[i] = if ok(cs[i]) { stop[i + 1] } else { i };
    }
    stop
}

/// For every index `a` of `cs`, where the oracle's `domain` pattern
/// `(?:sub)*(?:name)(?:gtld|cctld|puny)` matched at `a` ends, if it matches.
///
/// `sub` is `(?:D(?:[_\-]|D)*)?D\.` and `name` is `(?:D(?:-|D)*)?D\.` (D = domain char): a
/// label from `a` to the first char outside its class, which must be a `.`, with a domain char
/// at both ends. Backtracking tries the most `sub`s first, so the result at `a` is the result
/// after one more `sub` if there is one, else `name` then a TLD at `a`.
fn domain_ends(cs: &[char]) -> Vec<Option<usize>> {
    let n = cs.len();
    let stop_sub = stops(cs, |c| is_domain_char(c) || c == '_' || c == '-');
    let stop_name = stops(cs, |c| is_domain_char(c) || c == '-');
    let label = |a: usize, stop: usize| {
        stop > a
            && cs.get(stop) == Some(&'.')
            && is_domain_char(cs[a])
            && is_domain_char(cs[stop - 1])
    };
    let mut tld_at: Vec<Option<Option<usize>>> = vec![None; n + 1];
    let mut best = vec![None; n + 1];
    for a in (0..n).rev() {
        let mut end = None;
        if label(a, stop_sub[a]) {
            end = best[stop_sub[a] + 1];
        }
        if end.is_none() && label(a, stop_name[a]) {
            let p = stop_name[a] + 1;
            end = *tld_at[p].get_or_insert_with(|| TLDS.end(cs, p, Order::GenericThenCountry));
        }
        best[a] = end;
    }
    best
}

/// The oracle's `_ASCII_DOMAIN.finditer(dom)`: `(?:[\-a-zA-Z0-9LATIN]+\.)+(?:tld|puny)` with
/// all TLDs in one list. Returns `(start, end)` char indices into `dom`.
fn ascii_host_spans(dom: &[char]) -> Vec<(usize, usize)> {
    let n = dom.len();
    let stop = stops(dom, is_ascii_host_char);
    let label = |a: usize| stop[a] > a && dom.get(stop[a]) == Some(&'.');
    // after[a]: end of `(?:label\.)*` + TLD from `a`, after at least one label
    let mut after = vec![None; n + 1];
    for a in (0..=n).rev() {
        let mut end = None;
        if a < n && label(a) {
            end = after[stop[a] + 1];
        }
        after[a] = end.or_else(|| TLDS.end(dom, a, Order::Merged));
    }
    let mut spans = Vec::new();
    let mut s = 0;
    while s < n {
        match (label(s)).then(|| after[stop[s] + 1]).flatten() {
            Some(e) => {
                spans.push((s, e));
                s = e.max(s + 1);
            }
            None => s += 1,
        }
    }
    spans
}

/// `http://` or `https://` (Python-caseless) at index `u`: its length in chars.
fn proto_len(cs: &[char], u: usize) -> Option<usize> {
    let at = |i: usize, key: char| cs.get(u + i).is_some_and(|&c| matches_caseless(c, key));
    if !(at(0, 'h') && at(1, 't') && at(2, 't') && at(3, 'p')) {
        return None;
    }
    let s = usize::from(at(4, 's'));
    (at(4 + s, ':') && at(5 + s, '/') && at(6 + s, '/')).then_some(7 + s)
}

/// Appends to `out` the URL spans (byte offsets) that `url_spans()` finds in the token that
/// ends at `end`, scanning `text[from..end]`; `from` is the space before the token, or 0.
fn url_spans(text: &str, from: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let (Some(p), Some(region)) = (PATTERNS.as_ref(), text.get(..end)) else {
        return;
    };
    let mut offs: Vec<usize> = Vec::new();
    let mut cs: Vec<char> = Vec::new();
    for (i, c) in region[from..].char_indices() {
        offs.push(from + i);
        cs.push(c);
    }
    offs.push(end);
    let n = cs.len();
    let domains = domain_ends(&cs);
    let index_of = |byte: usize| offs.partition_point(|&o| o < byte);
    // finditer: the leftmost match at or after `s`, then go on from its end
    let mut s = 0;
    while s < n {
        // pre: one char of the class, or `^` at the very start of the text
        let mut starts = [None, None];
        if is_pre_char(cs[s]) {
            starts[0] = Some((s + 1, Some(cs[s])));
        }
        if s == 0 && from == 0 {
            starts[1] = Some((0, None));
        }
        let found = starts.into_iter().flatten().find_map(|(u, before)| {
            let with_proto = proto_len(&cs, u).and_then(|l| Some((u + l, domains[u + l]?)));
            let (dom_start, dom_end) = with_proto.or_else(|| Some((u, domains[u]?)))?;
            let tail = p.tail.captures(&region[offs[dom_end]..]);
            Some(UrlMatch {
                start: offs[u],
                dom_start: offs[dom_start],
                dom: dom_start..dom_end,
                end: offs[dom_end] + tail.as_ref().and_then(|t| t.get(0)).map_or(0, |m| m.end()),
                proto: dom_start > u,
                has_path: tail.as_ref().is_some_and(|t| t.get(1).is_some()),
                before,
            })
        });
        match found {
            Some(m) => {
                s = index_of(m.end).max(s + 1);
                url_match(p, text, &cs, m, out);
            }
            None => s += 1,
        }
    }
}

/// One match of the oracle's URL regex.
struct UrlMatch {
    /// Byte offset of the URL (group 2), after `pre`.
    start: usize,
    /// Byte offset of the domain (group 4).
    dom_start: usize,
    /// The domain as char indices of the token's chars.
    dom: Range<usize>,
    /// Byte offset of the end of the URL.
    end: usize,
    /// Did `http://` or `https://` match (group 3)?
    proto: bool,
    /// Did the path group (group 6) take part?
    has_path: bool,
    /// The `pre` char (group 1), `None` for `^`.
    before: Option<char>,
}

/// The body of the oracle's `for m in rx.finditer(text)` loop for one match.
fn url_match(p: &Patterns, text: &str, cs: &[char], m: UrlMatch, out: &mut Vec<(usize, usize)>) {
    let dom = &cs[m.dom];
    if dom
        .split(|&c| c == '.')
        .any(|label| label.is_empty() || label.len() > 63)
    {
        return;
    }
    if !m.proto {
        if m.before.is_some_and(|c| matches!(c, '-' | '_' | '.' | '/')) {
            return;
        }
        // protocol-less: only the ASCII (+ Latin accents) labels of the host count
        let spans = ascii_host_spans(dom);
        let byte = |i: usize| m.dom_start + dom[..i].iter().map(|c| c.len_utf8()).sum::<usize>();
        for &(s, e) in &spans {
            out.push((byte(s), byte(e)));
        }
        if m.has_path && !spans.is_empty() {
            if let Some(last) = out.last_mut() {
                last.1 = m.end;
            }
        }
    } else {
        let mut end = m.end;
        if let Some(t) = text.get(m.start..end).and_then(|url| p.tco.captures(url)) {
            if t.get(1).map_or(0, |g| g.len()) > 40 {
                return;
            }
            end = m.start + t.get(0).map_or(0, |g| g.end());
        }
        out.push((m.start, end));
    }
}

/// A hashtag (with the byte range of its body) or a URL, for the entity walk.
struct Entity {
    start: usize,
    end: usize,
    body: Option<(usize, usize)>,
}

/// The slow path for one token `text[start..end]` that contains a `.`: finds the token's
/// hashtag candidates and URLs, walks them like `extract_hashtags()` and calls `f` with the
/// body of every kept hashtag whose sign is at or after `first` (the ones before were emitted
/// by the fast path, and the walk always keeps them: they start the token).
pub(crate) fn emit_token<'a>(
    text: &'a str,
    start: usize,
    end: usize,
    first: usize,
    f: &mut impl FnMut(&'a str),
) {
    let Some(token) = text.get(start..end) else {
        return;
    };
    // hashtags first, then URLs, as in the oracle
    let mut ents: Vec<Entity> = Candidates::new(token)
        .map(|c| Entity {
            start: start + c.sign,
            end: start + c.end,
            body: Some((start + c.body, start + c.end)),
        })
        .collect();
    let mut urls = Vec::new();
    let from = text[..start]
        .char_indices()
        .next_back()
        .map_or(0, |(i, _)| i);
    url_spans(text, from, end, &mut urls);
    ents.extend(urls.into_iter().map(|(start, end)| Entity {
        start,
        end,
        body: None,
    }));
    ents.sort_by_key(|e| e.start); // stable, like Python's sorted()
    let mut kept_end: Option<usize> = None;
    for ent in ents {
        if kept_end.is_some_and(|k| k > ent.start) {
            continue;
        }
        kept_end = Some(ent.end);
        if let Some((b, e)) = ent.body {
            if ent.start >= first {
                f(&text[b..e]);
            }
        }
    }
}
