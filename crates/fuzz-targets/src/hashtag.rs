//! `hashtag::for_each_tag` and `hashtag::count_key`, in both modes.
//!
//! Properties:
//! - nothing panics;
//! - twitter-text mode: every tag is a non-empty slice of the text, after the previous one,
//!   right after a `#` or `＃` that does not follow a letter, digit, `_` or `&`; it holds no
//!   space, no sign, and not only digits and `_`; a text without a sign has no tag
//!   (`has_no_sign`); its key is `#` and its lower case;
//! - Spark mode: exactly the tokens of a split on U+0020 that start with `#`, in order (the
//!   tutorial's rule, written the obvious way); the key is the token's lower case.

use hashtag::{count_key, extract, for_each_tag, has_no_sign, Mode};

use crate::model::text;

fn twitter(text: &str) {
    let mut key = String::new();
    let mut after = 0;
    let base = text.as_ptr() as usize;
    for_each_tag(Mode::Hashtags, text, |tag| {
        let at = (tag.as_ptr() as usize).wrapping_sub(base);
        assert!(
            at >= after && at + tag.len() <= text.len(),
            "{tag:?} is not after the last"
        );
        assert_eq!(
            &text[at..at + tag.len()],
            tag,
            "a tag is a slice of its text"
        );
        after = at + tag.len();
        assert!(!tag.is_empty());
        let before = &text[..at];
        let sign = before.chars().next_back();
        assert!(matches!(sign, Some('#' | '＃')), "{tag:?} follows {sign:?}");
        let prev = before[..before.len() - sign.map_or(0, char::len_utf8)]
            .chars()
            .next_back();
        assert!(
            !prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '&'),
            "{tag:?} is glued to {prev:?}"
        );
        assert!(
            !tag.chars()
                .any(|c| c.is_whitespace() || c == '#' || c == '＃'),
            "{tag:?} holds a space or a sign"
        );
        assert!(
            !tag.chars().all(|c| c.is_ascii_digit() || c == '_'),
            "{tag:?} has no letter"
        );
        // Tag identity (NFKC + case folding): ASCII tags are lower-cased; any key is in NFKC
        // and is its own key (idempotent), so every spelling of a tag lands on one key.
        count_key(Mode::Hashtags, tag, &mut key);
        if tag.is_ascii() {
            assert_eq!(key, format!("#{}", tag.to_ascii_lowercase()));
        }
        assert!(unicode_normalization::is_nfkc(&key), "{key:?} is not NFKC");
        let mut again = String::new();
        count_key(Mode::Hashtags, &key[1..], &mut again);
        assert_eq!(again, key, "the key of {tag:?} is not its own key");
    });
    if has_no_sign(Mode::Hashtags, text) {
        assert!(extract(Mode::Hashtags, text).is_empty());
    }
}

fn spark(text: &str) {
    let want: Vec<&str> = text.split(' ').filter(|t| t.starts_with('#')).collect();
    assert_eq!(extract(Mode::Spark, text), want);
    let mut key = String::new();
    for t in want {
        count_key(Mode::Spark, t, &mut key);
        assert_eq!(key, t.to_lowercase());
    }
    assert_eq!(has_no_sign(Mode::Spark, text), !text.contains('#'));
}

/// The target.
pub fn run(data: &[u8]) {
    let text = text(data);
    twitter(&text);
    spark(&text);
}
