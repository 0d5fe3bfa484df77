//! Character classes of the hashtag rules (HASHTAG-RULES.md §2), per Unicode code point.
//!
//! * ALPHA: General_Category L* (Lu, Ll, Lt, Lm, Lo) or M* (Mn, Mc, Me), plus a few Private
//!   Use Area code points that twitter-text's generated tables count as letters.
//! * DIGIT: General_Category Nd.
//! * SPECIAL: 17 code points allowed inside a tag that are not letters.
//! * TAGCHAR = ALPHA ∪ DIGIT ∪ SPECIAL.
//!
//! `char::is_alphabetic` and `char::is_numeric` must not be used here: they test the
//! Alphabetic and N* properties, so combining marks (Thai tone marks, U+FE0F, U+20E3) would be
//! missed and `²`, `½`, `Ⅻ` would count (HASHTAG-RULES.md §2.5).
//!
//! **Unicode version drift.** The oracle `ref_extract.py` uses Python 3.11's tables (Unicode
//! 14.0); the crate `unicode-general-category` 1.1 is Unicode 16.0. Code points first assigned
//! in Unicode 15 or 16 (e.g. CJK Extension H, Kawi, Nag Mundari) are tag characters here and not
//! in the oracle. The official twitter-text JS tables are older still (about Unicode 7). No test
//! input contains such characters; we follow the current standard, as §2.5 recommends.

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

/// Bit: the code point may appear in a tag body (TAGCHAR).
pub(crate) const TAG: u8 = 1;
/// Bit: the code point counts as the required letter (ALPHA); always set together with `TAG`.
pub(crate) const ALPHA: u8 = 2;
/// Bit: the code point may stand right before a hash sign (§3 predecessor rule).
pub(crate) const PRE_OK: u8 = 4;

/// Classes of the 128 ASCII code points: in ASCII, TAGCHAR is `[A-Za-z0-9_]`, ALPHA is
/// `[A-Za-z]` and `&` is the only other character that blocks a following sign.
static ASCII: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphabetic() {
            TAG | ALPHA
        } else if c.is_ascii_digit() || c == b'_' {
            TAG
        } else if c == b'&' {
            0
        } else {
            PRE_OK
        };
        b += 1;
    }
    t
};

/// The 17 SPECIAL code points (§2.3): inside a tag, but not a letter.
const SPECIALS: [char; 17] = [
    '_',        // LOW LINE
    '\u{200C}', // ZERO WIDTH NON-JOINER
    '\u{200D}', // ZERO WIDTH JOINER
    '\u{A67E}', // CYRILLIC KAVYKA
    '\u{05BE}', // HEBREW PUNCTUATION MAQAF
    '\u{05F3}', // HEBREW PUNCTUATION GERESH
    '\u{05F4}', // HEBREW PUNCTUATION GERSHAYIM
    '\u{FF5E}', // FULLWIDTH TILDE
    '\u{301C}', // WAVE DASH
    '\u{309B}', // KATAKANA-HIRAGANA VOICED SOUND MARK
    '\u{309C}', // KATAKANA-HIRAGANA SEMI-VOICED SOUND MARK
    '\u{30A0}', // KATAKANA-HIRAGANA DOUBLE HYPHEN
    '\u{30FB}', // KATAKANA MIDDLE DOT
    '\u{3003}', // DITTO MARK
    '\u{0F0B}', // TIBETAN MARK INTERSYLLABIC TSHEG
    '\u{0F0C}', // TIBETAN MARK DELIMITER TSHEG BSTAR
    '\u{00B7}', // MIDDLE DOT
];

/// Private Use Area code points that twitter-text's generated tables count as letters (§2.1).
const PUA_LETTERS: [(u32, u32); 5] = [
    (0xF870, 0xF87F),
    (0xF882, 0xF882),
    (0xF884, 0xF89F),
    (0xF8B8, 0xF8B8),
    (0xF8C1, 0xF8D6),
];

/// VARIATION SELECTOR-15 (text presentation).
pub(crate) const VS15: char = '\u{FE0E}';
/// VARIATION SELECTOR-16 (emoji presentation).
pub(crate) const VS16: char = '\u{FE0F}';
/// COMBINING ENCLOSING KEYCAP.
pub(crate) const KEYCAP: char = '\u{20E3}';

/// The class bits (`TAG`, `ALPHA`, `PRE_OK`) of one ASCII byte (`b < 0x80`).
#[inline]
pub(crate) fn ascii_class(b: u8) -> u8 {
    ASCII[usize::from(b & 0x7F)]
}

/// The class bits (`TAG`, `ALPHA`, `PRE_OK`) of any code point.
#[inline]
pub(crate) fn class(c: char) -> u8 {
    if c.is_ascii() {
        ascii_class(c as u8)
    } else {
        non_ascii_class(c)
    }
}

fn non_ascii_class(c: char) -> u8 {
    let tag = match get_general_category(c) {
        Gc::UppercaseLetter
        | Gc::LowercaseLetter
        | Gc::TitlecaseLetter
        | Gc::ModifierLetter
        | Gc::OtherLetter
        | Gc::NonspacingMark
        | Gc::SpacingMark
        | Gc::EnclosingMark => TAG | ALPHA,
        Gc::DecimalNumber => TAG,
        Gc::PrivateUse if is_pua_letter(c) => TAG | ALPHA,
        _ if SPECIALS.contains(&c) => TAG,
        _ => 0,
    };
    // §3: U+FE0E and U+FE0F are letters (Mn) but explicitly allowed before a sign.
    if tag == 0 || c == VS15 || c == VS16 {
        tag | PRE_OK
    } else {
        tag
    }
}

fn is_pua_letter(c: char) -> bool {
    let cp = u32::from(c);
    PUA_LETTERS.iter().any(|&(lo, hi)| (lo..=hi).contains(&cp))
}

/// Is `c` one of the separators that no URL can contain (the `spaces` set of
/// `ref_extract.py`): U+0009–000D, space, U+0085, U+00A0, U+1680, U+180E, U+2000–200A, U+2028,
/// U+2029, U+202F, U+205F, U+3000. Tokens for the URL rule are split on exactly these.
#[inline]
pub(crate) fn is_url_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | ' '
            | '\u{85}'
            | '\u{A0}'
            | '\u{1680}'
            | '\u{180E}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_classes() {
        for b in 0u8..128 {
            let c = b as char;
            assert_eq!(
                class(c) & TAG != 0,
                c.is_ascii_alphanumeric() || c == '_',
                "{c:?}"
            );
            assert_eq!(class(c) & ALPHA != 0, c.is_ascii_alphabetic(), "{c:?}");
            let pre = !(c.is_ascii_alphanumeric() || c == '_' || c == '&');
            assert_eq!(class(c) & PRE_OK != 0, pre, "{c:?}");
        }
    }

    #[test]
    fn unicode_classes() {
        // marks are letters (the pitfall of §2.5)
        for c in ['\u{0301}', '\u{0E49}', VS15, VS16, KEYCAP, 'ー', '々', 'ـ'] {
            assert_eq!(class(c) & (TAG | ALPHA), TAG | ALPHA, "{c:?}");
        }
        for c in ['٣', '१', '５', '𝟏'] {
            assert_eq!(class(c) & (TAG | ALPHA), TAG, "{c:?}");
        }
        for c in [
            '²', '½', 'Ⅻ', '🔥', '\u{200B}', '\u{00AD}', '’', '。', '\u{F8D7}',
        ] {
            assert_eq!(class(c) & TAG, 0, "{c:?}");
            assert_ne!(class(c) & PRE_OK, 0, "{c:?}");
        }
        for c in SPECIALS {
            assert_eq!(class(c) & (TAG | ALPHA | PRE_OK), TAG, "{c:?}");
        }
        for c in ['\u{F870}', '\u{F882}', '\u{F8B8}', '\u{F8D6}'] {
            assert_eq!(class(c) & (TAG | ALPHA), TAG | ALPHA, "{c:?}");
        }
        assert_ne!(class(VS15) & PRE_OK, 0);
        assert_ne!(class(VS16) & PRE_OK, 0);
        assert_eq!(class('\u{0301}') & PRE_OK, 0);
    }

    #[test]
    fn url_spaces() {
        let spaces = "\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{180e}\u{2000}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}";
        assert!(spaces.chars().all(is_url_space));
        assert!(!"a#.\u{200b}\u{feff}\u{1c}".chars().any(is_url_space));
    }
}
