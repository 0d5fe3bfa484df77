//! `--track a,b`: keep only records that contain any keyword as a whole word, ignoring case,
//! like the `track` parameter of Twitter's old streaming API (a `#word` or `@word` contains
//! `word` as a whole word; `footballer` does not contain `football`).

/// A topic filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// Lower-cased keywords.
    words: Vec<String>,
}

impl Track {
    /// A filter from keywords; `None` when there is none (every record is kept).
    pub fn new(words: &[String]) -> Option<Track> {
        let words: Vec<String> = words
            .iter()
            .map(|w| w.trim().to_lowercase())
            .filter(|w| !w.is_empty())
            .collect();
        (!words.is_empty()).then_some(Track { words })
    }

    /// True if `text` contains a keyword as a whole word.
    pub fn matches(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        self.words.iter().any(|w| {
            lower.match_indices(w.as_str()).any(|(i, _)| {
                let before = lower[..i].chars().next_back();
                let after = lower[i + w.len()..].chars().next();
                !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
            })
        })
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_any_case() {
        let t = Track::new(&["Football".into(), " world cup ".into()]).unwrap();
        assert!(t.matches("I love FOOTBALL!"));
        assert!(t.matches("#football tonight"));
        assert!(t.matches("the World Cup final"));
        assert!(!t.matches("a footballer"));
        assert!(!t.matches("worldcup"));
        assert!(Track::new(&[" ".into()]).is_none());
    }
}
