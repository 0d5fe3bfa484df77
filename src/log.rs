//! One-line messages on stderr, or into the terminal view while it owns the screen.
//!
//! Messages never contain secrets: sources log addresses and states, never credentials.

use std::collections::VecDeque;
use std::fmt::Arguments;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static CAPTURE: AtomicBool = AtomicBool::new(false);
static RECENT: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
static VERBOSE: AtomicBool = AtomicBool::new(true);

/// While the terminal view draws, messages are kept for it instead of written to stderr.
pub fn capture(on: bool) {
    CAPTURE.store(on, Ordering::Relaxed);
}

/// Silences informational messages (warnings still show).
pub fn set_quiet(quiet: bool) {
    VERBOSE.store(!quiet, Ordering::Relaxed);
}

/// The last few messages, newest last.
pub fn recent() -> Vec<String> {
    RECENT
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default()
}

fn emit(level: &str, args: Arguments) {
    let line = format!("tagstream: {level}{args}");
    if CAPTURE.load(Ordering::Relaxed) {
        if let Ok(mut r) = RECENT.lock() {
            if r.len() == 5 {
                r.pop_front();
            }
            r.push_back(line);
        }
    } else {
        eprintln!("{line}");
    }
}

/// `s` with control characters as spaces, cut to `max` characters: text from elsewhere (a
/// server's error, a library's message) put in our messages must stay on one line.
pub fn one_line(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// `s` for a terminal or a chart label: each control character (C0, DEL, C1) written as
/// `\u{1b}`. A tag is a stranger's text (with `--extract spark` it may hold an escape
/// sequence): printed raw, it could clear the operator's screen or retitle the terminal,
/// and it made an SVG chart ill-formed XML. Data formats (JSON, CSV) keep the exact text.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A state change worth knowing (connected, reconnecting).
pub fn info(args: Arguments) {
    if VERBOSE.load(Ordering::Relaxed) {
        emit("", args);
    }
}

/// Something went wrong but the engine goes on.
pub fn warn(args: Arguments) {
    emit("warning: ", args);
}
