//! The tutorial's bar chart as a PNG or SVG file (plotters): one horizontal bar per tag of a
//! window's top-K, rank 1 at the top, the count at the end of each bar, the window's times in
//! the title.
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

/// Draws `w` into `out` at `size` (width, height) pixels, its text with `fonts`.
///
/// For a PNG, characters that no font has are drawn as boxes and one warning names their
/// script and the package to install. An SVG keeps its text as text, for the viewer's fonts.
pub fn draw(w: &ChartWindow, out: &Path, size: (u32, u32), fonts: &Fonts) -> Result<(), String> {
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

fn plot<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, w: &ChartWindow) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (width, height) = root.dim_in_pixel();
    root.fill(&WHITE).map_err(err)?;
    let title = format!("Top hashtags · {} → {}", w.start, w.end);
    // 24 px, or smaller so that the title fits a narrow image.
    let mut title_size = 24;
    while title_size > 10 {
        let style = TextStyle::from((FONT, title_size).into_font());
        if root.estimate_text_size(&title, &style).map_err(err)?.0 + 48 <= width {
            break;
        }
        title_size -= 1;
    }
    let n = w.top.len();
    if n == 0 {
        let area = root
            .titled(&title, (FONT, title_size).into_font().color(&BLACK))
            .map_err(err)?;
        let style = TextStyle::from((FONT, 20).into_font())
            .color(&RGBColor(0x70, 0x70, 0x70))
            .pos(Pos::new(HPos::Center, VPos::Center));
        let (aw, ah) = area.dim_in_pixel();
        area.draw_text(
            "no tags in this window",
            &style,
            (aw as i32 / 2, ah as i32 / 2),
        )
        .map_err(err)?;
        return Ok(());
    }
    let max = w.top.iter().map(|(_, c)| *c).max().unwrap_or(1).max(1);
    let label_size = (height / (n as u32 + 4) / 2).clamp(11, 20);
    let label_style = TextStyle::from((FONT, label_size).into_font()).color(&BLACK);
    // Room for the longest label, measured with the fonts that draw it.
    let mut longest = 0;
    for (tag, _) in &w.top {
        longest = longest.max(root.estimate_text_size(tag, &label_style).map_err(err)?.0);
    }
    let label_area = (longest + 24).clamp(80, width * 2 / 5);
    // Bars take ~64% of their row (a discrete range 0..n-1 has n segments, one per tag).
    let row = height.saturating_sub(130) / n as u32;
    let gap = (row * 18 / 100).max(2);
    // Rank 1 at the top: segment i holds the tag of rank n − i.
    let tag_at = |i: usize| w.top.get(n.checked_sub(i + 1)?).map(|(t, _)| t.clone());
    let mut chart = ChartBuilder::on(root)
        .caption(&title, (FONT, title_size).into_font().color(&BLACK))
        .margin(24)
        .x_label_area_size(44)
        .y_label_area_size(label_area)
        .build_cartesian_2d(0u64..max + max / 8 + 1, (0..n - 1).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => tag_at(*i).unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| v.to_string())
        .label_style(label_style)
        .x_desc("count")
        .axis_desc_style((FONT, 16).into_font().color(&RGBColor(0x55, 0x55, 0x55)))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()
        .map_err(err)?;
    chart
        .draw_series((0..n).map(|i| {
            let (_, count) = &w.top[n - 1 - i];
            let color = PALETTE[(n - 1 - i) % PALETTE.len()];
            let mut bar = Rectangle::new(
                [
                    (0, SegmentValue::Exact(i)),
                    (*count, SegmentValue::Exact(i + 1)),
                ],
                color.filled(),
            );
            bar.set_margin(gap, gap, 0, 0);
            bar
        }))
        .map_err(err)?;
    let count_style = TextStyle::from((FONT, label_size).into_font())
        .color(&RGBColor(0x33, 0x33, 0x33))
        .pos(Pos::new(HPos::Left, VPos::Center));
    chart
        .draw_series((0..n).map(|i| {
            let (_, count) = &w.top[n - 1 - i];
            Text::new(
                format!(" {count}"),
                (*count, SegmentValue::CenterOf(i)),
                count_style.clone(),
            )
        }))
        .map_err(err)?;
    Ok(())
}
