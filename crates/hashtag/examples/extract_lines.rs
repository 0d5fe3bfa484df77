//! Line-protocol front end of the `hashtag` crate, for `check_hashtags.py` and for comparing
//! with `ref_extract.py` (both in `shared/twitter-text/`).
//!
//! ```text
//! extract_lines [--unescape] [--spark] < lines.txt
//! ```
//!
//! Reads all of stdin, decodes it as UTF-8 (invalid bytes become U+FFFD, as Python's
//! `errors="replace"`), splits it on `\n` only (a trailing `\r` stays in the line) and prints
//! one JSON array per line: the hashtags without their sign (default), or with `--spark` the
//! lower-cased spark tokens. The output is byte-identical to `ref_extract.py`'s
//! `json.dumps(tags, ensure_ascii=False)`: `", "` between items, non-ASCII as is.
//! `--unescape` first decodes `\\`, `\n` and `\r` (any other `\x` becomes `x`).

use std::borrow::Cow;
use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use hashtag::{count_key, for_each_tag, Mode};

fn main() -> ExitCode {
    let mut unescape_lines = false;
    let mut mode = Mode::Hashtags;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--unescape" => unescape_lines = true,
            "--spark" => mode = Mode::Spark,
            other => {
                eprintln!("extract_lines: unknown argument {other:?} (use --unescape, --spark)");
                return ExitCode::from(2);
            }
        }
    }
    match run(mode, unescape_lines) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("extract_lines: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(mode: Mode, unescape_lines: bool) -> io::Result<()> {
    let mut raw = Vec::new();
    io::stdin().lock().read_to_end(&mut raw)?;
    let data = String::from_utf8_lossy(&raw);
    let mut lines: Vec<&str> = data.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let mut key = String::new();
    for line in lines {
        let text = if unescape_lines {
            hashtag::unescape(line)
        } else {
            Cow::Borrowed(line)
        };
        out.write_all(b"[")?;
        let mut first = true;
        let mut result = Ok(());
        for_each_tag(mode, &text, |tag| {
            if result.is_err() {
                return;
            }
            let shown = match mode {
                Mode::Hashtags => tag,
                Mode::Spark => {
                    count_key(mode, tag, &mut key);
                    key.as_str()
                }
            };
            let sep: &[u8] = if first { b"" } else { b", " };
            first = false;
            result = out
                .write_all(sep)
                .and_then(|()| serde_json::to_writer(&mut out, shown).map_err(io::Error::from));
        });
        result?;
        out.write_all(b"]\n")?;
    }
    out.flush()
}
