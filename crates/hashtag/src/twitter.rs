//! The twitter-text hashtag rules (HASHTAG-RULES.md §1–§6), on byte offsets of a `&str`.
//!
//! Two layers:
//! * [`Candidates`] is the rule without URLs: a port of `hashtag_candidates()` of
//!   `ref_extract.py`. It jumps from sign to sign with `memchr2` and decodes only the code point
//!   before a sign and the tag body after it.
//! * [`for_each`] adds the URL rule (§6). A tag can lie inside a URL only if its sign is not at
//!   the start of its whitespace-delimited token and that token contains a `.`; every other
//!   candidate is emitted at once. The rare remaining tokens go to [`crate::url`], which runs
//!   the port of `url_spans()` and the entity walk on that one token.

use memchr::{memchr, memchr2};

use crate::class::{self, ALPHA, KEYCAP, PRE_OK, TAG, VS16};
use crate::url;

/// UTF-8 of the fullwidth number sign `＃` U+FF03.
const FULLWIDTH_SIGN: &[u8] = "\u{FF03}".as_bytes();

/// One hashtag candidate that passed §3–§5 (not yet the URL rule), as byte offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Offset of the sign (`#` or `＃`).
    pub(crate) sign: usize,
    /// Offset of the body, right after the sign.
    pub(crate) body: usize,
    /// Offset just after the body.
    pub(crate) end: usize,
}

/// Iterator over the candidates of a text, left to right (`hashtag_candidates()`).
pub(crate) struct Candidates<'a> {
    text: &'a str,
    /// Where to look for the next sign.
    pos: usize,
    /// Bytes before this offset belong to an earlier candidate, kept or discarded (§5.2).
    consumed: usize,
}

impl<'a> Candidates<'a> {
    /// Starts a scan at the beginning of `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Candidates {
            text,
            pos: 0,
            consumed: 0,
        }
    }
}

impl Iterator for Candidates<'_> {
    type Item = Candidate;

    fn next(&mut self) -> Option<Candidate> {
        let text = self.text;
        let bytes = text.as_bytes();
        loop {
            // 0xEF is the lead byte of U+FF03 (and of many other code points): checked below.
            let sign = self.pos + memchr2(b'#', 0xEF, bytes.get(self.pos..)?)?;
            let sign_len = if bytes[sign] == b'#' {
                1
            } else if bytes[sign..].starts_with(FULLWIDTH_SIGN) {
                FULLWIDTH_SIGN.len()
            } else {
                self.pos = sign + 1;
                continue;
            };
            let body = sign + sign_len;
            self.pos = body;
            // §3 predecessor, which must not belong to an earlier candidate (§5.2). `consumed`
            // is a char boundary, so "previous char starts at or after it" is `sign > consumed`.
            if sign > 0 && (sign <= self.consumed || !predecessor_ok(text, sign)) {
                continue;
            }
            // §3: a sign followed by U+FE0F or U+20E3 (keycap emoji) is never a tag.
            if bytes.get(body).is_some_and(|&b| b >= 0x80) {
                let next = text.get(body..).and_then(|s| s.chars().next());
                if next == Some(VS16) || next == Some(KEYCAP) {
                    continue;
                }
            }
            // §4 longest run of TAGCHARs, with at least one ALPHA; else nothing is used up.
            let (end, has_alpha) = scan_body(text, body);
            if !has_alpha {
                continue;
            }
            self.consumed = end;
            self.pos = end;
            // §5.1 end check: a following sign or "://" discards the candidate.
            let after = &bytes[end..];
            if after.first() == Some(&b'#')
                || after.starts_with(FULLWIDTH_SIGN)
                || after.starts_with(b"://")
            {
                continue;
            }
            return Some(Candidate { sign, body, end });
        }
    }
}

/// §3: may the code point before offset `sign` (> 0) stand before a hash sign?
#[inline]
fn predecessor_ok(text: &str, sign: usize) -> bool {
    let bytes = text.as_bytes();
    let prev = bytes[sign - 1];
    if prev < 0x80 {
        return class::ascii_class(prev) & PRE_OK != 0;
    }
    match text.get(..sign).and_then(|s| s.chars().next_back()) {
        Some(c) => class::class(c) & PRE_OK != 0,
        None => false,
    }
}

/// Returns the end of the TAGCHAR run starting at `from` and whether it holds an ALPHA.
#[inline]
fn scan_body(text: &str, from: usize) -> (usize, bool) {
    let bytes = text.as_bytes();
    let mut k = from;
    let mut seen = 0u8;
    while let Some(&b) = bytes.get(k) {
        let (cls, len) = if b < 0x80 {
            (class::ascii_class(b), 1)
        } else {
            match text.get(k..).and_then(|s| s.chars().next()) {
                Some(c) => (class::class(c), c.len_utf8()),
                None => break,
            }
        };
        if cls & TAG == 0 {
            break;
        }
        seen |= cls;
        k += len;
    }
    (k, seen & ALPHA != 0)
}

/// Calls `f` with the body of every hashtag of `text`, after the URL rule (§6).
pub(crate) fn for_each<'a>(text: &'a str, f: &mut impl FnMut(&'a str)) {
    let bytes = text.as_bytes();
    // The last token looked at: [start, end) and whether it needs the URL check. Remembering
    // it keeps a long token with many glued tags linear instead of quadratic.
    let mut token: Option<(usize, usize, bool)> = None;
    // Tokens before this offset were fully handled by the slow path.
    let mut handled = 0;
    for c in Candidates::new(text) {
        if c.sign < handled {
            continue;
        }
        // The common case first: the sign starts its token (start of text or after ASCII
        // whitespace), so no URL can start before it (§6 advice).
        if c.sign == 0 || matches!(bytes[c.sign - 1], b' ' | b'\t'..=b'\r') {
            f(&text[c.body..c.end]);
            continue;
        }
        let needs_urls = match token {
            Some((start, end, dot)) if start <= c.sign && c.sign < end => dot && c.sign > start,
            _ => {
                let start = token_start(text, c.sign);
                if start == c.sign {
                    // Sign at the start of its token: no URL can start before it (§6 advice).
                    false
                } else {
                    let end = token_end(text, c.end);
                    let dot = memchr(b'.', &bytes[start..end]).is_some();
                    token = Some((start, end, dot));
                    dot
                }
            }
        };
        if !needs_urls {
            f(&text[c.body..c.end]);
            continue;
        }
        if let Some((start, end, _)) = token {
            url::emit_token(text, start, end, c.sign, f);
            handled = end;
        }
    }
}

/// Offset where the whitespace-delimited token containing offset `at` starts.
fn token_start(text: &str, at: usize) -> usize {
    let head = text.get(..at).unwrap_or("");
    let mut start = at;
    for (i, c) in head.char_indices().rev() {
        if class::is_url_space(c) {
            break;
        }
        start = i;
    }
    start
}

/// Offset where the token containing the char before `from` ends (the next space or the end).
fn token_end(text: &str, from: usize) -> usize {
    let tail = text.get(from..).unwrap_or("");
    match tail.char_indices().find(|&(_, c)| class::is_url_space(c)) {
        Some((i, _)) => from + i,
        None => text.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(text: &str) -> Vec<&str> {
        Candidates::new(text)
            .map(|c| &text[c.body..c.end])
            .collect()
    }

    #[test]
    fn candidate_rules() {
        assert_eq!(cands("##tag"), ["tag"]);
        assert_eq!(cands("#a#b"), Vec::<&str>::new());
        assert_eq!(cands("#a##b"), ["b"]);
        assert_eq!(cands("#tag\u{FE0F}#b"), Vec::<&str>::new());
        assert_eq!(cands("✌\u{FE0F}#tag"), ["tag"]);
        assert_eq!(cands("#a&#b #a/#b"), ["a", "a", "b"]);
        assert_eq!(cands("#16 #1st #_ #_a"), ["1st", "_a"]);
        assert_eq!(
            cands("#\u{FE0F}\u{20E3} #\u{20E3}x #1\u{FE0F}\u{20E3}"),
            ["1\u{FE0F}\u{20E3}"]
        );
        assert_eq!(cands("＃日本語 ＃"), ["日本語"]);
        assert_eq!(cands("#http://x #http: #tag$X"), ["http", "tag"]);
        assert_eq!(cands("\u{FF02}#a \u{FF1F}#b \u{EF}#c"), ["a", "b"]);
    }

    #[test]
    fn tokens() {
        let t = "ab cd\u{3000}ef";
        assert_eq!(token_start(t, 4), 3);
        assert_eq!(token_end(t, 4), 5);
        assert_eq!(token_start(t, 0), 0);
        assert_eq!(token_end(t, 9), t.len());
    }
}
