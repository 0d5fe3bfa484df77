//! The live terminal chart (ratatui): the tutorial's horizontal bar chart of the current
//! top-K, with the window's times and the engine's counters, redrawn at every slide.

use std::time::Instant;

use ratatui::layout::{Constraint, Direction, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Paragraph};
use ratatui::Frame;
use window::Window;

use crate::metrics::Snapshot;
use crate::time::rfc3339;

/// What the screen shows.
#[derive(Debug)]
pub struct View {
    /// Title line (source and window shape).
    pub title: String,
    /// The latest window, if any.
    pub window: Option<Window>,
    /// Counters now.
    pub counters: Snapshot,
    /// Records per second over the last redraw interval.
    pub rate: f64,
    /// One summary line per connected source (name, counters).
    pub sources: Vec<(String, String)>,
    last: (Instant, u64),
}

impl View {
    /// An empty view with a title.
    pub fn new(title: String) -> View {
        View {
            title,
            window: None,
            counters: Snapshot::default(),
            rate: 0.0,
            sources: Vec::new(),
            last: (Instant::now(), 0),
        }
    }

    /// Updates the counters and the input rate.
    pub fn tick(&mut self, counters: Snapshot) {
        let dt = self.last.0.elapsed().as_secs_f64();
        if dt >= 0.5 {
            let dn = counters.records_in.saturating_sub(self.last.1);
            self.rate = dn as f64 / dt;
            self.last = (Instant::now(), counters.records_in);
        }
        self.counters = counters;
    }
}

/// Draws the view into a frame.
pub fn draw(f: &mut Frame, v: &View) {
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(2),
            Constraint::Min(3),
            Constraint::Length(2),
        ])
        .split(f.area());
    let when = match &v.window {
        Some(w) => format!(
            "window {} .. {}   records {}  tagged {}  tags {}  distinct {}",
            rfc3339(w.start_ms),
            rfc3339(w.end_ms),
            w.records,
            w.tagged,
            w.tags,
            w.distinct
        ),
        None => "waiting for the first window to close…".to_owned(),
    };
    let head = vec![
        Line::styled(
            v.title.clone(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Line::from(when),
    ];
    f.render_widget(Paragraph::new(head), rows[0]);

    // Labels take at most half of the chart's inside, less the space before the bars:
    // ratatui 0.29 takes a label wider than the chart from its width, and panics (the
    // subtraction wraps) in a narrow terminal.
    let inside = usize::from(rows[1].width.saturating_sub(2));
    let label_room = inside.saturating_sub(1) / 2;
    let bars: Vec<Bar> = v
        .window
        .iter()
        .flat_map(|w| w.top.iter())
        .map(|(tag, n)| {
            Bar::default()
                .value(*n)
                .label(Line::from(fit(&crate::log::printable(tag), label_room)))
                .text_value(n.to_string())
                .style(Style::default().fg(Color::Cyan))
        })
        .collect();
    let chart = BarChart::default()
        .block(Block::bordered().title(" top hashtags "))
        .direction(Direction::Horizontal)
        .bar_width(1)
        .bar_gap(0)
        .group_gap(0)
        .label_style(Style::default().fg(Color::White))
        .data(BarGroup::default().bars(&bars));
    f.render_widget(chart, rows[1]);

    let c = &v.counters;
    let mut foot = vec![Line::from(format!(
        "in {} records ({:.0}/s, {:.1} MB)  {}  late {}  windows {}  connected {}  reconnects {}   q: quit",
        c.records_in,
        v.rate,
        c.bytes_in as f64 / 1e6,
        c.skipped_summary(),
        c.late,
        c.windows_emitted,
        c.connected,
        c.reconnects
    ))];
    for (name, counters) in &v.sources {
        foot.push(Line::from(format!("{name}: {counters}")));
    }
    if let Some(m) = crate::log::recent().last() {
        foot.push(Line::styled(m.clone(), Style::default().fg(Color::Yellow)));
    }
    f.render_widget(Paragraph::new(foot), rows[2]);
}

/// `s` cut to at most `width` terminal columns, ending in `…` when cut.
fn fit(s: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    if unicode_width::UnicodeWidthStr::width(s) <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    /// The demo's view of a window ending at one minute with this top-K.
    fn view(top: &[(&str, u64)]) -> View {
        let mut v = View::new("tagstream demo".into());
        v.window = Some(Window {
            start_ms: 0,
            end_ms: 60_000,
            records: 9,
            tagged: 5,
            tags: 7,
            distinct: 2,
            late: 0,
            top: top.iter().map(|(t, n)| ((*t).into(), *n)).collect(),
            counts: Vec::new(),
            trending: Vec::new(),
            approx: None,
        });
        v
    }

    #[test]
    fn bars_show_tags_and_counts() {
        let v = view(&[("#rust", 5), ("#日本語", 2)]);
        let mut t = Terminal::new(TestBackend::new(80, 16)).unwrap();
        t.draw(|f| draw(f, &v)).unwrap();
        let screen: String = t
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect::<Vec<_>>()
            .join("");
        assert!(screen.contains("#rust"), "{screen}");
        assert!(screen.contains("1970-01-01T00:01:00Z"));
        assert!(screen.contains('5'));
    }

    /// Any terminal size draws, however narrow or short, with tags longer than the screen
    /// is wide and counts of many digits: a terminal of 21 columns or fewer once panicked
    /// (the bar chart wrote past the buffer) and left the screen in the alternate mode.
    #[test]
    fn every_terminal_size_draws() {
        let v = view(&[
            ("#averyveryverylongtagindeed", 123_456_789_012),
            ("#日本語のタグ", 2),
            ("#x", 1),
        ]);
        assert_eq!(fit("#日本語", 4), "#日…");
        assert_eq!(fit("#日本語", 7), "#日本語");
        assert_eq!(fit("#rust", 1), "…");
        assert_eq!(fit("#rust", 0), "");
        for width in 0..=90 {
            for height in [0, 1, 2, 3, 5, 8, 16, 40] {
                let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
                t.draw(|f| draw(f, &v)).unwrap();
            }
        }
    }
}
