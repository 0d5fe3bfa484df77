//! Property tests: no input makes the extractor panic, every tag is a slice of its input, and
//! without URLs (no `.` in the input) the fast scanner agrees with a slow char-by-char
//! transcription of `hashtag_candidates()` from `ref_extract.py`.

use hashtag::{count_key, extract, for_each_tag, has_no_sign, Mode};
use proptest::prelude::*;
use unicode_general_category::{get_general_category, GeneralCategory as Gc};

// ---------------------------------------------------------------------------------------------
// The slow model: a literal transcription of ref_extract.py, on a Vec<char>.
// ---------------------------------------------------------------------------------------------

const SPECIALS: &str = "_\u{200C}\u{200D}\u{A67E}\u{05BE}\u{05F3}\u{05F4}\u{FF5E}\u{301C}\u{309B}\u{309C}\u{30A0}\u{30FB}\u{3003}\u{0F0B}\u{0F0C}\u{00B7}";

fn is_pua_letter(c: char) -> bool {
    matches!(c, '\u{F870}'..='\u{F87F}' | '\u{F882}' | '\u{F884}'..='\u{F89F}' | '\u{F8B8}' | '\u{F8C1}'..='\u{F8D6}')
}

fn is_letter_or_mark(c: char) -> bool {
    let cat = get_general_category(c).abbreviation();
    cat.starts_with('L') || cat.starts_with('M')
}

fn is_alpha(c: char) -> bool {
    is_letter_or_mark(c) || is_pua_letter(c)
}

fn is_tag_char(c: char) -> bool {
    is_letter_or_mark(c)
        || get_general_category(c) == Gc::DecimalNumber
        || SPECIALS.contains(c)
        || is_pua_letter(c)
}

fn predecessor_ok(c: char) -> bool {
    if c == '\u{FE0E}' || c == '\u{FE0F}' {
        return true;
    }
    c != '&' && !is_tag_char(c)
}

// A literal transcription: keep the oracle's `j - 1 >= consumed`.
#[allow(clippy::int_plus_one)]
fn model(text: &str) -> Vec<String> {
    let t: Vec<char> = text.chars().collect();
    let n = t.len();
    let is_sign = |c: char| c == '#' || c == '\u{FF03}';
    let mut out = Vec::new();
    let mut consumed = 0;
    let mut i = 0;
    while i < n {
        if !is_sign(t[i]) {
            i += 1;
            continue;
        }
        let j = i;
        if j > 0 && !(j - 1 >= consumed && predecessor_ok(t[j - 1])) {
            i += 1;
            continue;
        }
        if j + 1 < n && (t[j + 1] == '\u{FE0F}' || t[j + 1] == '\u{20E3}') {
            i += 1;
            continue;
        }
        let mut k = j + 1;
        let mut has_alpha = false;
        while k < n && is_tag_char(t[k]) {
            has_alpha |= is_alpha(t[k]);
            k += 1;
        }
        if !has_alpha {
            i += 1;
            continue;
        }
        consumed = k;
        if k < n && (is_sign(t[k]) || t[k..].starts_with(&[':', '/', '/'])) {
            i = k;
            continue;
        }
        out.push(t[j + 1..k].iter().collect());
        i = k;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

const TRICKY: &[&str] = &[
    "#",
    "#",
    "#",
    "＃",
    "a",
    "Z",
    "é",
    "1",
    "٣",
    "_",
    "&",
    ".",
    "/",
    ":",
    " ",
    " ",
    "\n",
    "\t",
    "\u{3000}",
    "\u{A0}",
    "\u{FE0E}",
    "\u{FE0F}",
    "\u{20E3}",
    "\u{0301}",
    "\u{0E49}",
    "\u{200D}",
    "\u{200C}",
    "\u{200B}",
    "日本",
    "ー",
    "〃",
    "・",
    "🔥",
    "✌",
    "👨‍👩‍👧",
    "²",
    "http://",
    "https://",
    "t.co/",
    ".com",
    "x.com",
    "?",
    "=",
    "(",
    ")",
    "'",
    "\u{F870}",
    "\u{EF}",
    "\u{FF02}",
];

fn tricky(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TRICKY), 0..max).prop_map(|v| v.concat())
}

fn is_slice_of(tag: &str, text: &str) -> bool {
    let (t0, t1) = (tag.as_ptr() as usize, tag.as_ptr() as usize + tag.len());
    let (s0, s1) = (text.as_ptr() as usize, text.as_ptr() as usize + text.len());
    s0 <= t0 && t1 <= s1
}

fn check_no_panic(text: &str) {
    let mut key = String::new();
    for mode in [Mode::Hashtags, Mode::Spark] {
        let _ = has_no_sign(mode, text);
        for_each_tag(mode, text, |tag| {
            assert!(is_slice_of(tag, text), "{tag:?} is not a slice of {text:?}");
            count_key(mode, tag, &mut key);
        });
        if has_no_sign(mode, text) {
            assert!(extract(mode, text).is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_do_not_panic(text in any::<String>()) {
        check_no_panic(&text);
    }

    #[test]
    fn tricky_strings_do_not_panic(text in tricky(40)) {
        check_no_panic(&text);
    }

    #[test]
    fn agrees_with_model_without_dots(text in tricky(40)) {
        let text = text.replace('.', "");
        let got: Vec<String> = extract(Mode::Hashtags, &text).into_iter().map(String::from).collect();
        prop_assert_eq!(got, model(&text), "text: {:?}", text);
    }

    #[test]
    fn arbitrary_agrees_with_model_without_dots(text in "[#＃a-zé_1&/ :\u{FE0F}\u{20E3}\u{0300}-\u{0310}\u{200D}日🔥\\PC]{0,30}") {
        let text = text.replace('.', "");
        let got: Vec<String> = extract(Mode::Hashtags, &text).into_iter().map(String::from).collect();
        prop_assert_eq!(got, model(&text), "text: {:?}", text);
    }

    #[test]
    fn spark_is_split_on_space(text in tricky(40)) {
        let want: Vec<&str> = text.split(' ').filter(|t| t.starts_with('#')).collect();
        prop_assert_eq!(extract(Mode::Spark, &text), want);
    }

    #[test]
    fn count_key_is_to_lowercase_in_spark_mode_and_an_identity_in_hashtags_mode(
        text in any::<String>()
    ) {
        let mut key = String::new();
        count_key(Mode::Spark, &text, &mut key);
        prop_assert_eq!(&key, &text.to_lowercase());
        // Hashtags mode: a canonical identity: keying a key changes nothing. (Not checked:
        // that every case variant gives the same key, since std's case tables and the case
        // folding tables can be of different Unicode versions for newly added letters.)
        count_key(Mode::Hashtags, &text, &mut key);
        let body = key.strip_prefix('#').expect("a sign").to_owned();
        let mut again = String::new();
        count_key(Mode::Hashtags, &body, &mut again);
        prop_assert_eq!(&again, &key);
        if text.is_ascii() {
            prop_assert_eq!(key, format!("#{}", text.to_ascii_lowercase()));
        }
    }
}

#[test]
fn model_examples() {
    assert_eq!(model("##tag #a#b #a##b #tag\u{FE0F}#b"), ["tag", "b"]);
    assert_eq!(model("#a&#b #1 #1a"), ["a", "1a"]);
}
