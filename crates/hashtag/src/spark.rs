//! The `spark` mode: the rule of the original Spark tutorial pipeline (SPARK-COMPAT.md).
//!
//! Split the text on U+0020 SPACE only and keep every token that starts with `#`, including a
//! lone `#`. Tabs, newlines, NBSP and U+3000 do not separate tokens, the fullwidth `＃` does not
//! count, and there are no letter, digit or URL rules. The token is returned as written; the
//! counting key ([`crate::count_key`]) lower-cases it, as the pipeline did.

use memchr::memchr;

/// Calls `f` with every token of `text` that starts with `#`, in order.
///
/// Jumps from `#` to `#` with `memchr` instead of splitting the whole text: a `#` starts a
/// token only at offset 0 or right after a space, and the rest of a token that does not start
/// with `#` is skipped up to its end.
pub(crate) fn for_each<'a>(text: &'a str, f: &mut impl FnMut(&'a str)) {
    let bytes = text.as_bytes();
    let mut pos = 0;
    while let Some(off) = bytes.get(pos..).and_then(|rest| memchr(b'#', rest)) {
        let hash = pos + off;
        let token_end = memchr(b' ', &bytes[hash..]).map_or(bytes.len(), |e| hash + e);
        if hash == 0 || bytes[hash - 1] == b' ' {
            // '#' and ' ' are ASCII, so both offsets are char boundaries.
            if let Some(token) = text.get(hash..token_end) {
                f(token);
            }
        }
        pos = token_end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for_each(text, &mut |t| out.push(t));
        out
    }

    /// `[tok for tok in text.split(" ") if tok.startswith("#")]`, the oracle's rule.
    fn naive(text: &str) -> Vec<&str> {
        text.split(' ').filter(|t| t.starts_with('#')).collect()
    }

    #[test]
    fn compat_table() {
        assert_eq!(
            tokens("Loving #Rust, #rust and #RUST!"),
            ["#Rust,", "#rust", "#RUST!"]
        );
        assert_eq!(tokens("##double and # alone"), ["##double", "#"]);
        assert_eq!(
            tokens("text#glued and 1#digit but (#paren)"),
            Vec::<&str>::new()
        );
        assert_eq!(tokens("＃全角タグ と #日本語。"), ["#日本語。"]);
        assert_eq!(tokens("#a#b #c"), ["#a#b", "#c"]);
        assert_eq!(tokens("line one #a\nline two #b"), ["#a\nline", "#b"]);
        assert_eq!(tokens("#tab\t#tab2"), ["#tab\t#tab2"]);
        assert_eq!(tokens("RT:#news  #news"), ["#news"]);
        assert_eq!(tokens("#"), ["#"]);
        assert_eq!(tokens(" # "), ["#"]);
    }

    #[test]
    fn matches_split() {
        for text in [
            "",
            " ",
            "#",
            "a#b #c  #d# e #",
            "é #ü#  ＃x #\u{3000}#y",
            "#a b#c #",
        ] {
            assert_eq!(tokens(text), naive(text), "{text:?}");
        }
    }
}
