//! Hashtag extraction for tagstream: pure functions over `&str`, no I/O.
//!
//! Two rules, chosen with [`Mode`]:
//!
//! * [`Mode::Hashtags`] (the default) follows Twitter's official `twitter-text` library
//!   (`extractHashtags`), including its URL rule: a `#` or `＃` that is not glued to a letter,
//!   digit, `_` or `&`, followed by a run of letters, marks, decimal digits and 17 special
//!   characters that holds at least one letter or mark; candidates followed by `#` or `://`
//!   and tags inside URLs are dropped. The tag is returned without its sign, exactly as
//!   written. The rules are in `shared/twitter-text/HASHTAG-RULES.md`; the output matches the
//!   oracle `ref_extract.py` exactly.
//! * [`Mode::Spark`] reproduces the original Spark tutorial: split on U+0020 only and keep the
//!   whole tokens that start with `#` (`shared/twitter-text/SPARK-COMPAT.md`).
//!
//! [`for_each_tag`] finds tags without allocating (signs are located with `memchr`, and only
//! the characters around a sign are decoded); [`count_key`] turns a tag into the lower-cased
//! key that trends are counted by, and [`has_no_sign`] is a cheap pre-filter.
//!
//! ```
//! use hashtag::{count_key, extract, Mode};
//!
//! let text = "Loving #Rust, (#日本語) and http://x.com/#anchor but not #2024 or text#glued";
//! assert_eq!(extract(Mode::Hashtags, text), ["Rust", "日本語"]);
//! assert_eq!(extract(Mode::Spark, text), ["#Rust,", "#2024"]);
//!
//! let mut key = String::new();
//! count_key(Mode::Hashtags, "Rust", &mut key);
//! assert_eq!(key, "#rust");
//! count_key(Mode::Spark, "#Rust,", &mut key);
//! assert_eq!(key, "#rust,");
//!
//! let mode: Mode = "spark".parse().unwrap();
//! assert_eq!(mode, Mode::Spark);
//! ```
//!
//! Modules: `class` (Unicode character classes), `twitter` (the twitter-text scan), `url` (the
//! URL rule, on the rare tokens that need it), `tld` (the embedded TLD list), `spark` (the
//! split-on-space rule).
//!
//! The TLD list used by the URL rule, `data/tld_lib.yml`, is Twitter's conformance data
//! (Apache-2.0, see `data/LICENSE-twitter-text`); `build.rs` embeds it at build time.

#![deny(missing_docs)]

mod class;
mod spark;
mod tld;
mod twitter;
mod url;

use std::fmt;
use std::str::FromStr;

use memchr::memchr2;

/// Which rule finds the tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// twitter-text's hashtag rules, including the URL rule; tags come without their sign.
    #[default]
    Hashtags,
    /// The Spark tutorial's rule: space-separated tokens that start with `#`, sign included.
    Spark,
}

impl Mode {
    /// The name accepted by [`Mode::from_str`]: `"hashtags"` or `"spark"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hashtags => "hashtags",
            Mode::Spark => "spark",
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    /// Parses `"hashtags"` or `"spark"` (exactly); the error names the bad value and the valid
    /// ones.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hashtags" => Ok(Mode::Hashtags),
            "spark" => Ok(Mode::Spark),
            _ => Err(format!(
                "unknown hashtag mode {s:?}: expected \"hashtags\" or \"spark\""
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Calls `f` with every tag of `text` in order of appearance, as written.
///
/// * [`Mode::Hashtags`]: the body without the sign (twitter-text rules, URL rule included).
/// * [`Mode::Spark`]: the whole space-separated token that starts with `#`, not lower-cased.
///
/// Every tag is a slice of `text`. Nothing is allocated unless a tag may sit inside a URL
/// (its sign is not at the start of its whitespace-delimited token and that token contains a
/// `.`). Never panics.
///
/// ```
/// let mut n = 0;
/// hashtag::for_each_tag(hashtag::Mode::Hashtags, "#a #b ##c #1", |_| n += 1);
/// assert_eq!(n, 3);
/// ```
pub fn for_each_tag<'a>(mode: Mode, text: &'a str, mut f: impl FnMut(&'a str)) {
    match mode {
        Mode::Hashtags => twitter::for_each(text, &mut f),
        Mode::Spark => spark::for_each(text, &mut f),
    }
}

/// Collects [`for_each_tag`] into a `Vec`.
///
/// ```
/// use hashtag::{extract, Mode};
/// assert_eq!(extract(Mode::Hashtags, "#tag's ＃全角 #C# #e-mail"), ["tag", "全角", "e"]);
/// assert_eq!(extract(Mode::Spark, "#tag's ＃全角 #C# #e-mail"), ["#tag's", "#C#", "#e-mail"]);
/// ```
pub fn extract(mode: Mode, text: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    for_each_tag(mode, text, |t| tags.push(t));
    tags
}

/// Writes the counting key of a tag found by [`for_each_tag`] into `buf` (cleared first).
///
/// * [`Mode::Hashtags`]: `#` followed by the tag's identity: NFKC, then Unicode default case
///   folding, then NFKC again (Unicode's compatibility caseless match), so `#Café`,
///   `#cafe\u{301}` (a combining accent) and `#ＣＡＦÉ` (full width) are one tag. ASCII tags
///   take a fast path (ASCII lower case) and allocate nothing.
/// * [`Mode::Spark`]: the token lower-cased (as Python's `str.lower()` did in the pipeline),
///   with [`str::to_lowercase`] semantics, final sigma included: the tutorial's rule.
///
/// ```
/// let mut key = String::new();
/// hashtag::count_key(hashtag::Mode::Hashtags, "ΟΔΟΣ", &mut key);
/// assert_eq!(key, "#οδοσ");
/// hashtag::count_key(hashtag::Mode::Hashtags, "ＣＡＦÉ", &mut key);
/// assert_eq!(key, "#café");
/// hashtag::count_key(hashtag::Mode::Spark, "#ΟΔΟΣ", &mut key);
/// assert_eq!(key, "#οδος");
/// ```
pub fn count_key(mode: Mode, tag: &str, buf: &mut String) {
    buf.clear();
    match mode {
        Mode::Hashtags => {
            buf.push('#');
            push_identity(tag, buf);
        }
        Mode::Spark => push_lowercase(tag, buf),
    }
}

/// The longest counting key (`#` and the tag's identity, [`count_key`]) worth counting, in
/// bytes. No network's own limit on tags comes near: a Bluesky tag is at most 640 bytes, an
/// X post 280 characters. A longer one is an absurd or hostile input (a line may hold a megabyte),
/// and counting it would let its length, not the bound on distinct tags, decide the memory
/// a window takes: the engine leaves it out and counts it (`tags_too_long`). A tag over four
/// times this as written is left out without being keyed (no key is under a quarter of its
/// tag's bytes: NFKC and case folding map at most 4 bytes to 1).
pub const MAX_KEY_BYTES: usize = 1024;

/// [`count_key`] with a memory of the non-ASCII tags it has keyed: NFKC and case folding cost
/// several times an ASCII lower-casing, and a stream repeats its tags, so each spelling is
/// normalized once. ASCII tags and `spark` mode go straight to [`count_key`]. It holds at most
/// [`KeyCache::MAX`] spellings, each with its key at most [`KeyCache::ENTRY_BYTES`] (longer
/// ones are keyed every time), and forgets them all past that, so a flood of distinct or long
/// tags costs no more memory than the bound.
///
/// ```
/// let (mut cache, mut key) = (hashtag::KeyCache::default(), String::new());
/// for _ in 0..2 {
///     cache.count_key(hashtag::Mode::Hashtags, "ＣＡＦÉ", &mut key);
///     assert_eq!(key, "#café");
/// }
/// ```
#[derive(Debug, Default)]
pub struct KeyCache {
    map: rustc_hash::FxHashMap<Box<str>, Box<str>>,
}

impl KeyCache {
    /// The most spellings remembered.
    pub const MAX: usize = 1 << 16;

    /// The most bytes of a spelling and its key remembered together: real tags are far
    /// shorter, and `MAX` entries of this size are 16 MiB.
    pub const ENTRY_BYTES: usize = 256;

    /// Writes the key of `tag` into `buf`, exactly as [`count_key`] does.
    pub fn count_key(&mut self, mode: Mode, tag: &str, buf: &mut String) {
        if mode == Mode::Spark || tag.is_ascii() {
            return count_key(mode, tag, buf);
        }
        if let Some(k) = self.map.get(tag) {
            buf.clear();
            buf.push_str(k);
            return;
        }
        count_key(mode, tag, buf);
        if tag.len() + buf.len() > Self::ENTRY_BYTES {
            return;
        }
        if self.map.len() >= Self::MAX {
            self.map.clear();
        }
        self.map.insert(tag.into(), buf.as_str().into());
    }

    /// Writes the key of `tag` into `buf` ([`KeyCache::count_key`]) and returns `true`, unless
    /// the key is over [`MAX_KEY_BYTES`]: then `false` (the tag is left out). Past 4 × the
    /// bound as written a tag is not even keyed (keying a megabyte of non-ASCII costs
    /// milliseconds): a key is at least a quarter of its tag.
    ///
    /// ```
    /// let (mut cache, mut key) = (hashtag::KeyCache::default(), String::new());
    /// assert!(cache.bounded_key(hashtag::Mode::Spark, "#Rust", &mut key));
    /// assert_eq!(key, "#rust");
    /// let long = format!("#{}", "x".repeat(hashtag::MAX_KEY_BYTES));
    /// assert!(!cache.bounded_key(hashtag::Mode::Spark, &long, &mut key));
    /// ```
    pub fn bounded_key(&mut self, mode: Mode, tag: &str, buf: &mut String) -> bool {
        if tag.len() > 4 * MAX_KEY_BYTES {
            return false;
        }
        self.count_key(mode, tag, buf);
        buf.len() <= MAX_KEY_BYTES
    }
}

/// Appends the tag's identity (NFKC, case fold, NFKC) to `buf`.
fn push_identity(s: &str, buf: &mut String) {
    use unicode_normalization::UnicodeNormalization;
    if s.is_ascii() {
        let start = buf.len();
        buf.push_str(s);
        if let Some(tail) = buf.get_mut(start..) {
            tail.make_ascii_lowercase();
        }
        return;
    }
    let nfkc: String = s.nfkc().collect();
    buf.extend(caseless::default_case_fold_str(&nfkc).nfkc());
}

/// Appends `s.to_lowercase()` to `buf`.
fn push_lowercase(s: &str, buf: &mut String) {
    if s.is_ascii() {
        let start = buf.len();
        buf.push_str(s);
        if let Some(tail) = buf.get_mut(start..) {
            tail.make_ascii_lowercase();
        }
    } else if s.contains('Σ') {
        // A capital sigma lower-cases by its context (σ or final ς): only the whole-string
        // function knows the context.
        buf.push_str(&s.to_lowercase());
    } else {
        // Elsewhere str::to_lowercase is exactly the per-char full mapping.
        buf.reserve(s.len());
        for c in s.chars() {
            buf.extend(c.to_lowercase());
        }
    }
}

/// Cheap pre-filter: `true` if `text` cannot contain a tag in this mode.
///
/// That is: no `#`, and in [`Mode::Hashtags`] also no `＃` (U+FF03). A `false` does not
/// promise a tag.
///
/// ```
/// use hashtag::{has_no_sign, Mode};
/// assert!(has_no_sign(Mode::Hashtags, "no tags here"));
/// assert!(!has_no_sign(Mode::Hashtags, "＃全角"));
/// assert!(has_no_sign(Mode::Spark, "＃全角"));
/// ```
pub fn has_no_sign(mode: Mode, text: &str) -> bool {
    let bytes = text.as_bytes();
    match mode {
        Mode::Spark => memchr::memchr(b'#', bytes).is_none(),
        Mode::Hashtags => {
            let fullwidth = "\u{FF03}".as_bytes();
            let mut pos = 0;
            while let Some(off) = bytes.get(pos..).and_then(|rest| memchr2(b'#', 0xEF, rest)) {
                let at = pos + off;
                if bytes[at] == b'#' || bytes[at..].starts_with(fullwidth) {
                    return false;
                }
                pos = at + 1;
            }
            true
        }
    }
}

/// Undoes the conformance runner's line escapes (check_hashtags.py `--newline=escape`, the
/// protocol of `tagstream extract --unescape`): `\\` → `\`, `\n` → LF, `\r` → CR, `\x` → `x`,
/// and a lone trailing `\` stays.
pub fn unescape(line: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if !line.contains('\\') {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {

    /// The cache keys exactly as `count_key` does, in both modes, across its bound.
    #[test]
    fn key_cache_is_count_key() {
        let mut cache = KeyCache::default();
        let (mut got, mut want) = (String::new(), String::new());
        let spellings = [
            "Café",
            "cafe\u{301}",
            "ＣＡＦÉ",
            "ΟΔΟΣ",
            "日本",
            "Rust",
            "ß",
            "ǅ",
        ];
        for round in 0..KeyCache::MAX + 10 {
            let n = format!("ä{round}");
            for tag in spellings.iter().copied().chain([n.as_str()]) {
                for mode in [Mode::Hashtags, Mode::Spark] {
                    cache.count_key(mode, tag, &mut got);
                    count_key(mode, tag, &mut want);
                    assert_eq!(got, want, "{tag:?} {mode:?}");
                }
            }
            assert!(cache.map.len() <= KeyCache::MAX);
        }
    }

    /// Long spellings are keyed as ever but not remembered: a flood of distinct long tags
    /// holds nothing.
    #[test]
    fn key_cache_remembers_no_long_spelling() {
        let mut cache = KeyCache::default();
        let (mut got, mut want) = (String::new(), String::new());
        for i in 0..50 {
            let tag = format!("Ä{i}{}", "é".repeat(100_000));
            cache.count_key(Mode::Hashtags, &tag, &mut got);
            count_key(Mode::Hashtags, &tag, &mut want);
            assert_eq!(got, want);
        }
        assert!(cache.map.is_empty(), "long spellings remembered");
        cache.count_key(Mode::Hashtags, "Ünïcode", &mut got);
        assert_eq!(cache.map.len(), 1, "a short one is not");
    }
    use super::*;

    #[test]
    fn mode_parse() {
        assert_eq!("hashtags".parse::<Mode>(), Ok(Mode::Hashtags));
        assert_eq!("spark".parse::<Mode>(), Ok(Mode::Spark));
        let err = "Spark".parse::<Mode>().unwrap_err();
        assert!(err.contains("\"Spark\"") && err.contains("hashtags") && err.contains("spark"));
        assert_eq!(Mode::default(), Mode::Hashtags);
        for m in [Mode::Hashtags, Mode::Spark] {
            assert_eq!(m.to_string().parse::<Mode>(), Ok(m));
        }
    }

    #[test]
    fn keys() {
        let mut buf = String::from("junk");
        for (mode, tag, key) in [
            (Mode::Hashtags, "RuSt", "#rust"),
            // Case folding, not lower case: İ folds to i + combining dot, Σ and ς to σ, ß to ss.
            (Mode::Hashtags, "İstanbul", "#i\u{307}stanbul"),
            (Mode::Hashtags, "ΣΟΦΟΣ", "#σοφοσ"),
            (Mode::Hashtags, "Straße", "#strasse"),
            // NFKC: full width to ASCII, a combining accent composed.
            (Mode::Hashtags, "ｈａｓｈ", "#hash"),
            (Mode::Hashtags, "Cafe\u{301}", "#café"),
            (Mode::Hashtags, "ＣＡＦÉ", "#café"),
            (Mode::Hashtags, "café", "#café"),
            (Mode::Hashtags, "日本語", "#日本語"),
            // Spark mode is the tutorial's str.lower(), unchanged.
            (Mode::Spark, "#Ελλάδα!", "#ελλάδα!"),
            (Mode::Spark, "#ΣΟΦΟΣ", "#σοφος"),
            (Mode::Spark, "#ｈａｓｈ", "#ｈａｓｈ"),
            (Mode::Spark, "#", "#"),
        ] {
            count_key(mode, tag, &mut buf);
            assert_eq!(buf, key, "{mode:?} {tag:?}");
        }
    }

    #[test]
    fn pre_filter() {
        for text in ["", "abc", "\u{EF}", "\u{FF02}\u{FF04}", "é日本"] {
            assert!(has_no_sign(Mode::Hashtags, text), "{text:?}");
        }
        for text in ["#", "a#", "\u{FF02}＃"] {
            assert!(!has_no_sign(Mode::Hashtags, text), "{text:?}");
        }
    }

    #[test]
    fn rules_examples() {
        let h = |t| extract(Mode::Hashtags, t);
        assert_eq!(
            h("http://twitter.com/#hashtag twitter.com/#hashtag"),
            Vec::<&str>::new()
        );
        assert_eq!(
            h("http://x.com/ #tag test.txt/#tag https://t.co/abc/#tag"),
            ["tag"; 3]
        );
        assert_eq!(h("#twitter.com #twitter.co.jp"), ["twitter", "twitter"]);
        assert_eq!(h("#éabc.com/#x"), ["éabc", "x"]);
        assert_eq!(
            h("foo.bar/#tag a.b/#tag localhost/#tag ftp://x.com/#tag"),
            ["tag"; 3]
        );
        assert_eq!(h("例え.jp/#tag http://例え.jp/#tag"), ["tag"]);
        assert_eq!(
            h("x.com/(#tag) http://x.com/?q=#tag http://x.com/path,#tag"),
            Vec::<&str>::new()
        );
        assert_eq!(h("&#nbsp; &#tag &amp;#tag"), ["tag"]);
        assert_eq!(h("a ✌️#hashtag #ผู้เริ่ม"), ["hashtag", "ผู้เริ่ม"]);
    }
}
