//! A plotters backend wrapper that measures (and, for bitmaps, draws) text with [`Fonts`].
//!
//! plotters asks its backend to measure and draw every piece of text (`estimate_text_size`,
//! `draw_text`), so wrapping the backend is enough for every caption, tick label and count
//! to go through our per-character font chain; everything else passes straight through.
//! plotters itself is built without a font feature and never touches a font file.

use plotters_backend::{
    text_anchor::{HPos, VPos},
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

use super::fonts::Fonts;

/// `inner` with text measured by `fonts`, and drawn by them when `raster`.
pub struct TextBackend<'f, B> {
    inner: B,
    fonts: &'f Fonts,
    raster: bool,
}

impl<'f, B: DrawingBackend> TextBackend<'f, B> {
    /// For a bitmap: text is drawn pixel by pixel from the fonts' glyphs.
    pub fn raster(inner: B, fonts: &'f Fonts) -> Self {
        TextBackend {
            inner,
            fonts,
            raster: true,
        }
    }

    /// For SVG: text stays text (the viewer's fonts draw it); the fonts only measure it, so
    /// the layout leaves room for the labels.
    pub fn measure_only(inner: B, fonts: &'f Fonts) -> Self {
        TextBackend {
            inner,
            fonts,
            raster: false,
        }
    }
}

type Drawn<B> = Result<(), DrawingErrorKind<<B as DrawingBackend>::ErrorType>>;

impl<B: DrawingBackend> DrawingBackend for TextBackend<'_, B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Drawn<B> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Drawn<B> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Drawn<B> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Drawn<B> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Drawn<B> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Drawn<B> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Drawn<B> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Drawn<B> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Drawn<B> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let line = self.fonts.layout(text, style.size());
        Ok((line.width.ceil() as u32, line.height.ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Drawn<B> {
        if !self.raster {
            return self.inner.draw_text(text, style, pos);
        }
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let line = self.fonts.layout(text, style.size());
        let (w, h) = (line.width.round() as i32, line.height.round() as i32);
        // The anchor, as plotters' own text code places it: a corner, edge or the centre of
        // the line's box.
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Center => -w / 2,
            HPos::Right => -w,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -h / 2,
            VPos::Bottom => -h,
        };
        let turn = style.transform();
        let (width, height) = self.inner.get_size();
        let inner = &mut self.inner;
        let mut result = Ok(());
        self.fonts.raster(&line, |x, y, coverage| {
            let (x, y) = turn.transform(x + dx, y + dy);
            let (x, y) = (pos.0 + x, pos.1 + y);
            let inside = x >= 0 && y >= 0 && x < width as i32 && y < height as i32;
            if result.is_ok() && inside && coverage > 0.0 {
                let c = BackendColor {
                    alpha: color.alpha * f64::from(coverage),
                    rgb: color.rgb,
                };
                result = inner.draw_pixel((x, y), c);
            }
        });
        result
    }
}
