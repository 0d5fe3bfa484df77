//! `tagstream extract`: stdin lines → one JSON array of tags per line.
//!
//! Lines are split on `\n` only (a `\r` stays in the text), invalid UTF-8 becomes U+FFFD.
//! `hashtags` mode prints tags as written without the sign; `spark` mode prints the
//! tutorial's lower-cased tokens.

use std::io::{self, BufRead, BufWriter, Write};

use crate::cli::ExtractArgs;

/// Runs the subcommand on stdin/stdout.
pub fn run(a: ExtractArgs) -> io::Result<()> {
    let mode: hashtag::Mode = a.extract.into();
    let stdin = io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    extract_lines(stdin, &mut out, mode, a.unescape)?;
    out.flush()
}

/// The loop behind [`run`], over any reader and writer.
pub fn extract_lines(
    mut input: impl BufRead,
    out: &mut impl Write,
    mode: hashtag::Mode,
    unescape: bool,
) -> io::Result<()> {
    let mut raw = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    let mut key = String::new();
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            return Ok(());
        }
        if raw.last() == Some(&b'\n') {
            raw.pop();
        }
        let line = String::from_utf8_lossy(&raw);
        let text = if unescape {
            hashtag::unescape(&line)
        } else {
            line
        };
        tags.clear();
        push_tags(mode, &text, &mut tags, &mut key);
        serde_json::to_writer(&mut *out, &tags)?;
        out.write_all(b"\n")?;
    }
}

/// The tags of one text as this command prints them: `hashtags` mode gives each tag as
/// written without its sign, `spark` mode the tutorial's lower-cased tokens. (The Python
/// package's `tagstream.extract` calls this.)
pub fn tags(mode: hashtag::Mode, text: &str) -> Vec<String> {
    let mut tags = Vec::new();
    push_tags(mode, text, &mut tags, &mut String::new());
    tags
}

fn push_tags(mode: hashtag::Mode, text: &str, tags: &mut Vec<String>, key: &mut String) {
    hashtag::for_each_tag(mode, text, |t| match mode {
        hashtag::Mode::Spark => {
            hashtag::count_key(mode, t, key);
            tags.push(key.clone());
        }
        _ => tags.push(t.to_owned()),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_on(input: &str, mode: hashtag::Mode, unescape: bool) -> String {
        let mut out = Vec::new();
        extract_lines(input.as_bytes(), &mut out, mode, unescape).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_array_per_line() {
        let out = run_on(
            "#Rust and #日本語\nnone\n#a\\n#b",
            hashtag::Mode::Hashtags,
            true,
        );
        assert_eq!(out, "[\"Rust\",\"日本語\"]\n[]\n[\"a\",\"b\"]\n");
    }

    #[test]
    fn tags_of_one_text_match_the_lines() {
        assert_eq!(
            tags(hashtag::Mode::Hashtags, "#Rust\nand #日本語"),
            ["Rust", "日本語"]
        );
        assert_eq!(tags(hashtag::Mode::Spark, "#Rust, #a"), ["#rust,", "#a"]);
    }

    #[test]
    fn spark_tokens_are_lower_cased() {
        let out = run_on(
            "Loving #Rust, #rust and #RUST!",
            hashtag::Mode::Spark,
            false,
        );
        assert_eq!(out, "[\"#rust,\",\"#rust\",\"#rust!\"]\n");
    }
}
