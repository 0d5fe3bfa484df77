//! The tutorial's bar chart as a PNG or SVG file (plotters): one horizontal bar per tag of a
//! window's top-K, rank 1 at the top, the count at the end of each bar, the window's times in
//! the title ([`draw`]); and the same for a window's trending list, the bars' lengths their
//! scores ([`draw_trends`]).
//!
//! Text needs no system library: `fonts.rs` finds fonts at run time (a bundled Latin font plus
//! the system's, chosen per character) and `text.rs` draws the PNG's text with them.

mod fonts;
mod scripts;
mod text;

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub use fonts::Fonts;
use text::TextBackend;

/// The family every text style names. Only the SVG uses it (as its font-family list); the
/// PNG's glyphs come from [`Fonts`] whatever the name.
const FONT: &str = fonts::SVG_FAMILIES;

/// The dashboard's palette, so the chart and the page look alike.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0x2b, 0x8c, 0xd6),
    RGBColor(0xf0, 0x8a, 0x24),
    RGBColor(0x2f, 0xb3, 0x6b),
    RGBColor(0xe0, 0x4f, 0x7e),
    RGBColor(0x8a, 0x63, 0xd2),
    RGBColor(0xd9, 0xa4, 0x0e),
];

/// One window, as drawn.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChartWindow {
    /// Window start, RFC 3339.
    pub start: String,
    /// Window end, RFC 3339.
    pub end: String,
    /// `(hashtag, count)`, best first.
    pub top: Vec<(String, u64)>,
}

/// One window's trending list, as drawn by [`draw_trends`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrendWindow {
    /// Window start, RFC 3339.
    pub start: String,
    /// Window end, RFC 3339.
    pub end: String,
    /// The trending rows, best first.
    pub trending: Vec<TrendBar>,
}

/// One row of a trending list (the fields of `trending` in the window's JSON line).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrendBar {
    /// The tag.
    pub hashtag: String,
    /// Its trend score.
    pub score: f64,
    /// Its posts in the window.
    pub count: u64,
    /// Its expected level (authors, or posts without authors).
    pub expected: f64,
    /// Its distinct authors, when the input names them.
    pub authors: Option<u64>,
}

/// What a chart shows: one bar per row, best first, with a note at the end of each bar.
struct Bars {
    title: String,
    x_desc: &'static str,
    empty: &'static str,
    /// `(label, length, note)`.
    rows: Vec<(String, f64, String)>,
    /// Lengths are counts: the axis has whole-number ticks.
    whole: bool,
}

impl ChartWindow {
    fn bars(&self) -> Bars {
        Bars {
            title: format!("Top hashtags · {} → {}", self.start, self.end),
            x_desc: "count",
            empty: "no tags in this window",
            rows: self
                .top
                .iter()
                .map(|(tag, n)| (label(tag), *n as f64, format!(" {n}")))
                .collect(),
            whole: true,
        }
    }
}

impl TrendWindow {
    fn bars(&self) -> Bars {
        let by_authors = self.trending.iter().any(|t| t.authors.is_some());
        Bars {
            title: format!("Trending hashtags · {} → {}", self.start, self.end),
            x_desc: if by_authors {
                "score: (authors − expected)² / expected"
            } else {
                "score: (posts − expected)² / expected"
            },
            empty: "nothing is rising above its usual level in this window",
            rows: self
                .trending
                .iter()
                .map(|t| {
                    let who = match t.authors {
                        Some(a) => format!("{a} authors"),
                        None => format!("{} posts", t.count),
                    };
                    let note =
                        format!(" {} · {who}, usual {}", number(t.score), number(t.expected));
                    (label(&t.hashtag), t.score.max(0.0), note)
                })
                .collect(),
            whole: false,
        }
    }
}

/// A score or an expected level as text: 3 significant digits below 100, whole above.
fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let digits = if x.abs() >= 100.0 {
        0
    } else if x.abs() >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The image format, from the output file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// PNG (bitmap).
    Png,
    /// SVG (text stays text).
    Svg,
}

impl Format {
    /// `.png` or `.svg` (any case); anything else is an error in one line.
    pub fn of(path: &Path) -> Result<Format, String> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(format!(
                "--out {}: the file name must end in .png or .svg",
                path.display()
            )),
        }
    }
}

/// A tag as a label: control characters escaped (in an SVG they made the file ill-formed).
fn label(tag: &str) -> String {
    crate::log::printable(tag).into_owned()
}

/// The longest value axis drawn.
const MAX_AXIS: f64 = 1e300;

/// Draws `w` into `out` at `size` (width, height) pixels, its text with `fonts`.
///
/// For a PNG, characters that no font has are drawn as boxes and one warning names their
/// script and the package to install. An SVG keeps its text as text, for the viewer's fonts.
pub fn draw(w: &ChartWindow, out: &Path, size: (u32, u32), fonts: &Fonts) -> Result<(), String> {
    render(&w.bars(), out, size, fonts)
}

/// Draws the trending list of `w` as [`draw`] draws a top-K: one bar per tag, its length the
/// score, rank 1 at the top, the score and the authors (or posts) and the expected level at
/// the end of each bar.
pub fn draw_trends(
    w: &TrendWindow,
    out: &Path,
    size: (u32, u32),
    fonts: &Fonts,
) -> Result<(), String> {
    render(&w.bars(), out, size, fonts)
}

fn render(w: &Bars, out: &Path, size: (u32, u32), fonts: &Fonts) -> Result<(), String> {
    let fail = |e: String| format!("drawing {}: {e}", out.display());
    match Format::of(out)? {
        Format::Png => {
            let root =
                TextBackend::raster(BitMapBackend::new(out, size), fonts).into_drawing_area();
            plot(&root, w).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))?;
            if let Some(missing) = fonts.missing_report() {
                crate::log::warn(format_args!("{}: {missing}", out.display()));
            }
            Ok(())
        }
        Format::Svg => {
            let root =
                TextBackend::measure_only(SVGBackend::new(out, size), fonts).into_drawing_area();
            plot(&root, w).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
    }
}

fn plot<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, w: &Bars) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (width, height) = root.dim_in_pixel();
    root.fill(&WHITE).map_err(err)?;
    let title = &w.title;
    // 24 px, or smaller so that the title fits a narrow image.
    let mut title_size = 24;
    while title_size > 10 {
        let style = TextStyle::from((FONT, title_size).into_font());
        if root.estimate_text_size(title, &style).map_err(err)?.0 + 48 <= width {
            break;
        }
        title_size -= 1;
    }
    let n = w.rows.len();
    if n == 0 {
        let area = root
            .titled(title, (FONT, title_size).into_font().color(&BLACK))
            .map_err(err)?;
        let style = TextStyle::from((FONT, 20).into_font())
            .color(&RGBColor(0x70, 0x70, 0x70))
            .pos(Pos::new(HPos::Center, VPos::Center));
        let (aw, ah) = area.dim_in_pixel();
        area.draw_text(w.empty, &style, (aw as i32 / 2, ah as i32 / 2))
            .map_err(err)?;
        return Ok(());
    }
    let max = w.rows.iter().map(|r| r.1).fold(0.0, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let label_size = (height / (n as u32 + 4) / 2).clamp(11, 20);
    let label_style = TextStyle::from((FONT, label_size).into_font()).color(&BLACK);
    // Room for the longest label, measured with the fonts that draw it.
    let mut longest = 0;
    for (tag, _, _) in &w.rows {
        longest = longest.max(root.estimate_text_size(tag, &label_style).map_err(err)?.0);
    }
    // At most 2/5 of the width (a narrow chart's labels are cut), at least 80 px where that
    // fits: `clamp` would panic on a chart narrower than 200 px.
    let label_area = (longest + 24).max(80).min(width * 2 / 5);
    // The axis reaches past the longest bar far enough for its note to fit after it.
    let note_style = TextStyle::from((FONT, label_size).into_font())
        .color(&RGBColor(0x33, 0x33, 0x33))
        .pos(Pos::new(HPos::Left, VPos::Center));
    let plot_width = f64::from(width.saturating_sub(label_area + 48).max(100));
    let mut upper = max * 1.125;
    for (_, len, note) in &w.rows {
        let note_px = f64::from(root.estimate_text_size(note, &note_style).map_err(err)?.0 + 12);
        // len / upper × plot + note ≤ plot, at most tripling the axis.
        let room = (plot_width - note_px).max(plot_width / 3.0);
        upper = upper.max(len * plot_width / room);
    }
    // An axis past ~1e300 (a trend score from a floor near zero, a hand-made table) makes
    // plotters' tick search loop forever: such bars are drawn to the axis's end.
    let upper = if upper.is_finite() {
        upper.min(MAX_AXIS)
    } else {
        MAX_AXIS
    };
    // Whole-number ticks for counts: never more ticks than units on the axis.
    let ticks = if w.whole {
        (upper.floor() as usize).clamp(2, 10)
    } else {
        10
    };
    // Bars take ~64% of their row (a discrete range 0..k-1 has k segments). Rank 1 at the
    // top: segment i holds rank k − i. At least two segments: plotters maps a range of one
    // (0..0) onto nothing, so a single bar gets the top half.
    let segs = n.max(2);
    let row = height.saturating_sub(130) / segs as u32;
    let gap = (row * 18 / 100).max(2);
    let seg_of = |r: usize| segs - 1 - r;
    let tag_at = |i: usize| w.rows.get(segs.checked_sub(i + 1)?).map(|r| r.0.clone());
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, title_size).into_font().color(&BLACK))
        .margin(24)
        .x_label_area_size(44)
        .y_label_area_size(label_area)
        .build_cartesian_2d(0f64..upper, (0..segs - 1).into_segmented())
        .map_err(err)?;
    let whole = w.whole;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(segs)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => tag_at(*i).unwrap_or_default(),
            _ => String::new(),
        })
        .x_labels(ticks)
        .x_label_formatter(&|v| if whole { format!("{v:.0}") } else { number(*v) })
        .label_style(label_style)
        .x_desc(w.x_desc)
        .axis_desc_style((FONT, 16).into_font().color(&RGBColor(0x55, 0x55, 0x55)))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        // Counts have no fractions to mark; scores at most a few between two ticks.
        .x_max_light_lines(if whole { 0 } else { 4 })
        .draw()
        .map_err(err)?;
    chart
        .draw_series(w.rows.iter().enumerate().map(|(r, (_, len, _))| {
            let i = seg_of(r);
            let color = PALETTE[r % PALETTE.len()];
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (*len, SegmentValue::Exact(i + 1)),
                ],
                color.filled(),
            );
            bar.set_margin(gap, gap, 0, 0);
            bar
        }))
        .map_err(err)?;
    chart
        .draw_series(w.rows.iter().enumerate().map(|(r, (_, len, note))| {
            Text::new(
                note.clone(),
                (*len, SegmentValue::CenterOf(seg_of(r))),
                note_style.clone(),
            )
        }))
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_keep_three_significant_digits_below_100() {
        assert_eq!(number(4.5), "4.5");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.126), "0.13");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(2504.333), "2504");
    }
}
