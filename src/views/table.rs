//! A plain text table per window, for when stdout is not a terminal.

use std::fmt::Write;

use window::Window;

use crate::time::rfc3339;

/// The window as a small aligned table, ending with a blank line.
pub fn render(w: &Window) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "window {} .. {}  records {}  tagged {}  tags {}  distinct {}  late {}",
        rfc3339(w.start_ms),
        rfc3339(w.end_ms),
        w.records,
        w.tagged,
        w.tags,
        w.distinct,
        w.late
    );
    let tags: Vec<_> = w
        .top
        .iter()
        .map(|(t, _)| crate::log::printable(t))
        .collect();
    let width = tags
        .iter()
        .map(|t| t.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    if w.top.is_empty() {
        let _ = writeln!(s, "  (no hashtags)");
    } else {
        let _ = writeln!(s, "  rank  {:<width$}  count", "hashtag");
    }
    for (i, (tag, (_, n))) in tags.iter().zip(&w.top).enumerate() {
        let pad = width - tag.chars().count();
        let _ = writeln!(s, "  {:>4}  {tag}{:pad$}  {n:>5}", i + 1, "");
    }
    s.push('\n');
    s
}
