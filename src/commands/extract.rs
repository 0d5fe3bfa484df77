//! `tagstream extract`: stdin lines → one JSON array of tags per line.
//!
//! Lines are split on `\n` only (a `\r` stays in the text), invalid UTF-8 becomes U+FFFD.
//! `hashtags` mode prints tags as written without the sign; `spark` mode prints the
//! tutorial's lower-cased tokens. A line longer than `--max-line` is printed as `null`
//! (every input line has its output line) and counted, without being held: `extract <
//! /dev/zero` runs in constant memory.

use std::io::{self, BufRead, BufWriter, IsTerminal, Write};

use crate::cli::ExtractArgs;

/// Runs the subcommand on stdin/stdout.
pub fn run(a: ExtractArgs) -> io::Result<()> {
    let mode: hashtag::Mode = a.extract.into();
    let stdin = io::stdin().lock();
    let stdout = io::stdout();
    // Typed at a terminal, each line is answered at once.
    let each_line = stdout.is_terminal();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let max_line = usize::try_from(a.max_line).unwrap_or(usize::MAX);
    let skipped = extract_lines(stdin, &mut out, mode, a.unescape, max_line, each_line);
    out.flush()?;
    let skipped = skipped?;
    if skipped > 0 {
        let (lines, were) = if skipped == 1 {
            ("line", "was")
        } else {
            ("lines", "were")
        };
        crate::log::warn(format_args!(
            "{skipped} {lines} longer than --max-line {max_line} bytes {were} skipped (printed \
             as null)"
        ));
    }
    Ok(())
}

/// The loop behind [`run`], over any reader and writer: the number of lines skipped as longer
/// than `max_line` bytes. With `each_line`, `out` is flushed after every line.
pub fn extract_lines(
    mut input: impl BufRead,
    out: &mut impl Write,
    mode: hashtag::Mode,
    unescape: bool,
    max_line: usize,
    each_line: bool,
) -> io::Result<u64> {
    let mut raw = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    let mut key = String::new();
    let mut skipped = 0;
    loop {
        match read_line(&mut input, &mut raw, max_line)? {
            None => return Ok(skipped),
            Some(true) => {}
            Some(false) => {
                skipped += 1;
                out.write_all(b"null\n")?;
                if each_line {
                    out.flush()?;
                }
                continue;
            }
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
        if each_line {
            out.flush()?;
        }
    }
}

/// Reads the next line, without its `\n`, into `raw`, holding at most `max` bytes of it:
/// `None` at the end of the input, `Some(false)` for a line longer than `max` (read to its end
/// and dropped; `raw` is then empty).
fn read_line(input: &mut impl BufRead, raw: &mut Vec<u8>, max: usize) -> io::Result<Option<bool>> {
    raw.clear();
    let (mut any, mut fits) = (false, true);
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(any.then_some(fits));
        }
        any = true;
        let end = memchr::memchr(b'\n', buf);
        let part = &buf[..end.unwrap_or(buf.len())];
        if fits && raw.len() + part.len() > max {
            fits = false;
            *raw = Vec::new(); // what it held is let go at once
        }
        if fits {
            raw.extend_from_slice(part);
        }
        let used = end.map_or(buf.len(), |i| i + 1);
        input.consume(used);
        if end.is_some() {
            return Ok(Some(fits));
        }
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
        let skipped = extract_lines(input.as_bytes(), &mut out, mode, unescape, 1 << 20, false);
        assert_eq!(skipped.unwrap(), 0);
        String::from_utf8(out).unwrap()
    }

    /// A line longer than the bound is `null` and counted, the lines around it are whole
    /// (at the bound exactly, and at the end without a newline), and an endless line is
    /// never held: 256 MiB of zeros are read in bounded memory.
    #[test]
    fn a_line_too_long_is_null_and_not_held() {
        let input = format!("#a\n{}\n#{}\n#b", "#x ".repeat(10), "c".repeat(7));
        let mut out = Vec::new();
        let skipped = extract_lines(
            input.as_bytes(),
            &mut out,
            hashtag::Mode::Hashtags,
            false,
            8,
            false,
        );
        assert_eq!(skipped.unwrap(), 1);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[\"a\"]\nnull\n[\"ccccccc\"]\n[\"b\"]\n"
        );

        /// `left` bytes of zeros: one line without end.
        struct Zeros {
            left: u64,
        }
        impl io::Read for Zeros {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf
                    .len()
                    .min(usize::try_from(self.left).unwrap_or(usize::MAX));
                buf[..n].fill(0);
                self.left -= n as u64;
                Ok(n)
            }
        }
        let zeros = io::BufReader::with_capacity(1 << 16, Zeros { left: 1 << 28 });
        let (mut raw, mut reader) = (Vec::new(), zeros);
        assert_eq!(
            read_line(&mut reader, &mut raw, 1 << 20).unwrap(),
            Some(false)
        );
        assert!(raw.capacity() <= 2 << 20, "held {} bytes", raw.capacity());
        assert_eq!(read_line(&mut reader, &mut raw, 1 << 20).unwrap(), None);
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
