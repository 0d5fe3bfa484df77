//! The chart's fonts, found and drawn without fontconfig or freetype: a bundled Latin font
//! and the system's fonts, chosen character by character.
//!
//! - **Where fonts come from.** The bundled DejaVu Sans subset (`font/`, Latin only) is
//!   always there. The system's faces are found at run time by `fontdb`, which scans the
//!   usual folders itself (`/usr/share/fonts`, `/usr/local/share/fonts`, `~/.fonts`,
//!   `~/.local/share/fonts` on Linux) and memory-maps files only to read their names, or only
//!   the folders given by `--font-dirs` / `TAGSTREAM_FONT_DIRS`.
//! - **Which font draws a character.** The first of this chain that has an outline for it:
//!   the bundled font (so Latin looks the same on every machine), then the system's faces best
//!   first: upright, normal width, regular weight, the families of [`PREFERRED`] in order,
//!   then other sans-serif, serif and monospaced families. A system face is read into memory
//!   only once a character needs it. A label mixing Latin and CJK thus takes its Latin from
//!   the bundled font and its CJK from, say, Noto Sans CJK JP, on one baseline.
//! - **When no font has it.** A visible character is drawn as a hollow box ("tofu"), never
//!   left out, and its script is recorded: [`Fonts::missing_report`] gives one line naming the
//!   scripts, the labels and the Debian package to install. Spaces and invisible format
//!   characters (joiners, variation selectors) that no font has take their width silently.
//!
//! Text is not shaped (no ligatures, no contextual forms): right for the Latin, CJK, Greek and
//! Cyrillic of hashtags, approximate for Arabic and Indic scripts, as with plotters' own text.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use ab_glyph::{point, Font, FontArc, FontRef, FontVec, GlyphId, PxScale};

use super::scripts::{package, script};

/// DejaVu Sans 2.37, Latin subset (see `font/README.md` and `font/LICENSE`).
const BUNDLED: &[u8] = include_bytes!("font/DejaVuSans-Latin.ttf");

/// plotters' font size is 1.24 em: its SVG backend writes `font-size = size / 1.24`, and its
/// own text code used the same ratio, so PNG and SVG text come out the same size.
const SIZE_PER_EM: f32 = 1.24;

/// System families tried first, in order, among the faces of the best style and weight.
pub const PREFERRED: &[&str] = &[
    "DejaVu Sans",
    "Noto Sans",
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Source Han Sans",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "Liberation Sans",
    "FreeSans",
];

/// The font-family list written into SVG text: the viewer picks per character from it, as
/// the PNG's chain does.
pub const SVG_FAMILIES: &str = "DejaVu Sans, Noto Sans, Noto Sans CJK JP, Noto Sans CJK SC, \
                                Noto Sans CJK KR, sans-serif";

/// A missing glyph's box and advance, in em.
const TOFU_ADVANCE: f32 = 0.8;

/// The bundled font and the system's faces, with what has been picked so far.
pub struct Fonts {
    db: fontdb::Database,
    /// System faces, best first.
    chain: Vec<fontdb::ID>,
    state: RefCell<State>,
}

struct State {
    /// Faces in use: 0 is the bundled font, then system faces in the order characters needed them.
    faces: Vec<FontArc>,
    opened: HashMap<fontdb::ID, usize>,
    picks: HashMap<char, Pick>,
    /// Script → the texts in which a character of it had no glyph.
    missing: BTreeMap<&'static str, BTreeSet<String>>,
}

/// How one character is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pick {
    /// A glyph of `faces[i]`.
    Glyph(usize, GlyphId),
    /// Nothing to draw: a space or format character no face has; its advance in em.
    Blank(f32),
    /// A visible character no face has: a box.
    Tofu,
}

impl Fonts {
    /// The bundled font and the faces found in `dirs`, or in the system's font folders when
    /// `dirs` is empty. A folder that does not exist is an error.
    pub fn load(dirs: &[PathBuf]) -> Result<Fonts, String> {
        let mut db = fontdb::Database::new();
        if dirs.is_empty() {
            db.load_system_fonts();
        }
        for d in dirs {
            if !d.is_dir() {
                return Err(format!("--font-dirs: {} is not a folder", d.display()));
            }
            db.load_fonts_dir(d);
        }
        Ok(Fonts::with(db))
    }

    /// The bundled font alone.
    pub fn bundled_only() -> Fonts {
        Fonts::with(fontdb::Database::new())
    }

    fn with(db: fontdb::Database) -> Fonts {
        let mut faces: Vec<&fontdb::FaceInfo> = db.faces().collect();
        faces.sort_by_cached_key(|f| rank(f));
        let chain = faces.iter().map(|f| f.id).collect();
        let bundled =
            FontArc::new(FontRef::try_from_slice(BUNDLED).expect("the bundled font parses"));
        Fonts {
            db,
            chain,
            state: RefCell::new(State {
                faces: vec![bundled],
                opened: HashMap::new(),
                picks: HashMap::new(),
                missing: BTreeMap::new(),
            }),
        }
    }

    /// The family name of the face that draws `c`: `None` when none has it (a box is drawn).
    pub fn family_for(&self, c: char) -> Option<String> {
        let mut st = self.state.borrow_mut();
        match self.pick(&mut st, c) {
            Pick::Glyph(0, _) => Some("DejaVu Sans (bundled)".to_owned()),
            Pick::Glyph(i, _) => {
                let id = st.opened.iter().find(|(_, &j)| j == i).map(|(id, _)| *id)?;
                let info = self.db.face(id)?;
                info.families.first().map(|(name, _)| name.clone())
            }
            Pick::Blank(_) | Pick::Tofu => None,
        }
    }

    /// Lays `text` out on one line at plotters' font `size`. Characters without a glyph are
    /// recorded for [`Fonts::missing_report`].
    pub fn layout(&self, text: &str, size: f64) -> Line {
        let em = size as f32 / SIZE_PER_EM;
        let mut st = self.state.borrow_mut();
        let mut glyphs = Vec::with_capacity(text.len());
        let mut x = 0.0;
        let mut prev: Option<(usize, GlyphId)> = None;
        for c in text.chars() {
            let pick = self.pick(&mut st, c);
            match pick {
                Pick::Glyph(i, g) => {
                    let font = &st.faces[i];
                    let k = em / units_per_em(font);
                    // Kerning only between glyphs of one face.
                    if let Some((_, pg)) = prev.filter(|(pi, _)| *pi == i) {
                        x += font.kern_unscaled(pg, g) * k;
                    }
                    glyphs.push(Placed { x, pick });
                    x += font.h_advance_unscaled(g) * k;
                    prev = Some((i, g));
                }
                Pick::Blank(advance) => {
                    x += advance * em;
                    prev = None;
                }
                Pick::Tofu => {
                    st.missing
                        .entry(script(c))
                        .or_default()
                        .insert(text.to_owned());
                    glyphs.push(Placed { x, pick });
                    x += TOFU_ADVANCE * em;
                    prev = None;
                }
            }
        }
        // The box's height is the bundled font's, so lines of any script share one baseline.
        let bundled = &st.faces[0];
        let k = em / units_per_em(bundled);
        let ascent = bundled.ascent_unscaled() * k;
        let descent = -bundled.descent_unscaled() * k;
        Line {
            glyphs,
            width: x,
            ascent,
            height: ascent + descent,
            em,
        }
    }

    /// Calls `put(x, y, coverage)` for every pixel of `line`, `(0, 0)` being the top left of
    /// its box and coverage 0 to 1.
    pub fn raster(&self, line: &Line, mut put: impl FnMut(i32, i32, f32)) {
        let st = self.state.borrow();
        for g in &line.glyphs {
            match g.pick {
                Pick::Glyph(i, id) => {
                    let font = &st.faces[i];
                    let scale =
                        PxScale::from(line.em * font.height_unscaled() / units_per_em(font));
                    let glyph = id.with_scale_and_position(scale, point(g.x, line.ascent));
                    if let Some(outline) = font.outline_glyph(glyph) {
                        let b = outline.px_bounds();
                        let (x0, y0) = (b.min.x as i32, b.min.y as i32);
                        outline.draw(|x, y, c| put(x0 + x as i32, y0 + y as i32, c.min(1.0)));
                    }
                }
                Pick::Tofu => tofu(g.x, line, &mut put),
                Pick::Blank(_) => {}
            }
        }
    }

    /// One line for the user when some characters had no glyph in any font: the scripts, the
    /// texts they were in, and the package that has them. `None` when every glyph was found.
    pub fn missing_report(&self) -> Option<String> {
        let st = self.state.borrow();
        if st.missing.is_empty() {
            return None;
        }
        let scripts: Vec<&str> = st.missing.keys().copied().collect();
        let texts: BTreeSet<&String> = st.missing.values().flatten().collect();
        let mut shown: Vec<String> = texts.iter().take(3).map(|t| format!("{t:?}")).collect();
        if texts.len() > 3 {
            shown.push(format!("{} more", texts.len() - 3));
        }
        let packages: BTreeSet<&str> = scripts.iter().map(|s| package(s)).collect();
        Some(format!(
            "no installed font has glyphs for {} (in {}): drawn as boxes; install {} \
             (Debian/Ubuntu), or point --font-dirs (TAGSTREAM_FONT_DIRS) at a folder with such a font",
            scripts.join(", "),
            shown.join(", "),
            packages.into_iter().collect::<Vec<_>>().join(" and "),
        ))
    }

    fn pick(&self, st: &mut State, c: char) -> Pick {
        if let Some(p) = st.picks.get(&c) {
            return *p;
        }
        let invisible = c.is_whitespace() || is_format(c);
        let pick = if let Some(g) = covers(&st.faces[0], c, invisible) {
            Pick::Glyph(0, g)
        } else {
            self.search(st, c, invisible).unwrap_or(if invisible {
                Pick::Blank(if c.is_whitespace() { 0.33 } else { 0.0 })
            } else {
                Pick::Tofu
            })
        };
        st.picks.insert(c, pick);
        pick
    }

    /// The first system face of the chain with a glyph for `c`, opened if need be.
    fn search(&self, st: &mut State, c: char, invisible: bool) -> Option<Pick> {
        for &id in &self.chain {
            if let Some(&i) = st.opened.get(&id) {
                if let Some(g) = covers(&st.faces[i], c, invisible) {
                    return Some(Pick::Glyph(i, g));
                }
                continue;
            }
            // Look through the memory map without reading the file; read it only on a hit.
            let hit = self
                .db
                .with_face_data(id, |data, index| {
                    let font = FontRef::try_from_slice_and_index(data, index).ok()?;
                    covers(&font, c, invisible)
                })
                .flatten();
            if let Some(g) = hit {
                let Some(font) = self.open(id) else { continue };
                st.faces.push(font);
                st.opened.insert(id, st.faces.len() - 1);
                return Some(Pick::Glyph(st.faces.len() - 1, g));
            }
        }
        None
    }

    fn open(&self, id: fontdb::ID) -> Option<FontArc> {
        let (source, index) = self.db.face_source(id)?;
        let data = match source {
            fontdb::Source::File(path) | fontdb::Source::SharedFile(path, _) => {
                std::fs::read(path).ok()?
            }
            fontdb::Source::Binary(bytes) => (*bytes).as_ref().to_vec(),
        };
        FontVec::try_from_vec_and_index(data, index)
            .ok()
            .map(FontArc::new)
    }
}

/// One line of text laid out: glyph positions in pixels from the left of its box.
pub struct Line {
    glyphs: Vec<Placed>,
    /// Advance width, pixels.
    pub width: f32,
    /// Baseline, pixels below the top of the box.
    pub ascent: f32,
    /// Ascent plus descent of the bundled font, pixels.
    pub height: f32,
    em: f32,
}

struct Placed {
    x: f32,
    pick: Pick,
}

/// `c`'s glyph in `font` if it can be drawn: an outline, or none needed (spaces, joiners).
fn covers(font: &impl Font, c: char, invisible: bool) -> Option<GlyphId> {
    let g = font.glyph_id(c);
    (g.0 != 0 && (invisible || font.outline(g).is_some())).then_some(g)
}

fn units_per_em(font: &impl Font) -> f32 {
    font.units_per_em().unwrap_or(1000.0)
}

/// A hollow box where a missing glyph would be.
fn tofu(x: f32, line: &Line, put: &mut impl FnMut(i32, i32, f32)) {
    let em = line.em;
    let (left, right) = ((x + 0.1 * em).round() as i32, (x + 0.7 * em).round() as i32);
    let (top, bottom) = (
        (line.ascent - 0.72 * em).round() as i32,
        line.ascent.round() as i32,
    );
    let w = ((em / 14.0).round() as i32).max(1);
    for py in top..bottom {
        for px in left..right {
            if px < left + w || px >= right - w || py < top + w || py >= bottom - w {
                put(px, py, 1.0);
            }
        }
    }
}

/// Characters that draw nothing: joiners, directional marks, variation selectors.
fn is_format(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
            | '\u{E0100}'..='\u{E01EF}')
}

/// Sort key of a system face: best first.
fn rank(f: &fontdb::FaceInfo) -> (bool, bool, u16, usize, String, PathBuf, u32) {
    let family = f.families.first().map(|(n, _)| n.as_str()).unwrap_or("");
    let preferred = f
        .families
        .iter()
        .filter_map(|(n, _)| PREFERRED.iter().position(|p| p.eq_ignore_ascii_case(n)))
        .min();
    let lower = family.to_ascii_lowercase();
    let kind = if f.monospaced || lower.contains("mono") {
        3
    } else if lower.contains("serif") && !lower.contains("sans") {
        2
    } else if lower.contains("sans") {
        0
    } else {
        1
    };
    let path = match &f.source {
        fontdb::Source::File(p) | fontdb::Source::SharedFile(p, _) => p.clone(),
        fontdb::Source::Binary(_) => PathBuf::new(),
    };
    (
        f.style != fontdb::Style::Normal,
        f.stretch != fontdb::Stretch::Normal,
        f.weight.0.abs_diff(400),
        preferred.unwrap_or(PREFERRED.len() + kind),
        family.to_owned(),
        path,
        f.index,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_comes_from_the_bundled_font() {
        let fonts = Fonts::bundled_only();
        for c in ['a', 'Z', '#', 'é', 'ł', 'ệ', '·', '→', '0'] {
            assert_eq!(
                fonts.family_for(c).as_deref(),
                Some("DejaVu Sans (bundled)"),
                "{c}"
            );
        }
    }

    #[test]
    fn a_character_no_font_has_is_a_box_and_is_reported() {
        let fonts = Fonts::bundled_only();
        let line = fonts.layout("#日本語", 20.0);
        assert_eq!(line.glyphs.len(), 4);
        assert!(line.glyphs[1..].iter().all(|g| g.pick == Pick::Tofu));
        let mut ink = 0;
        fonts.raster(&line, |_, _, c| ink += (c > 0.5) as usize);
        assert!(ink > 40, "the boxes draw: {ink} pixels");
        let report = fonts.missing_report().unwrap();
        assert!(report.contains("Han"), "{report}");
        assert!(report.contains("\"#日本語\""), "{report}");
        assert!(report.contains("fonts-noto-cjk"), "{report}");
        assert_eq!(report.lines().count(), 1);
    }

    #[test]
    fn spaces_and_joiners_are_never_boxes() {
        let fonts = Fonts::bundled_only();
        let line = fonts.layout("a\u{3000}b\u{200D}c", 20.0);
        assert!(line.glyphs.iter().all(|g| g.pick != Pick::Tofu));
        assert!(fonts.missing_report().is_none());
    }

    #[test]
    fn system_cjk_comes_from_an_upright_regular_sans_face() {
        let fonts = Fonts::load(&[]).unwrap();
        match fonts.family_for('日') {
            Some(family) => {
                assert!(
                    !family.contains("Serif") && !family.contains("Mono"),
                    "{family}"
                );
                assert_eq!(
                    fonts.family_for('a').as_deref(),
                    Some("DejaVu Sans (bundled)")
                );
            }
            None => eprintln!("SKIP: no CJK font is installed (Debian: fonts-noto-cjk)"),
        }
    }

    #[test]
    fn a_folder_that_does_not_exist_is_an_error() {
        let err = Fonts::load(&[PathBuf::from("/nonexistent/fonts")])
            .err()
            .unwrap();
        assert!(err.contains("/nonexistent/fonts"), "{err}");
    }
}
