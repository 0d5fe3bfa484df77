//! `tagstream chart`: PNG and SVG from a database written by a run and from a running engine;
//! size, that the PNG decodes, and the labels (a non-Latin one included) in the SVG; ink in
//! every label of the PNG, with the system's fonts and with only the bundled Latin font.

use std::path::Path;

use crate::http::{rising_posts, Engine};
use crate::store::{rising_corpus, run_into};
use crate::util::burst;
use crate::util::{bin, run_ok, TempDir};

/// Decodes the PNG fully; returns its size.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG decodes");
    // Not a blank image: the bars add colours besides the white background.
    let distinct: std::collections::HashSet<&[u8]> = buf.chunks(3).collect();
    assert!(distinct.len() > 10, "the image looks blank");
    (info.width, info.height)
}

fn svg_has_labels(path: &Path, labels: &[&str]) {
    svg_has(path, "Top hashtags", labels);
}

/// The SVG at `path` has a title containing `title` and each of `labels` as a text.
fn svg_has(path: &Path, title: &str, labels: &[&str]) {
    let svg = std::fs::read_to_string(path).unwrap();
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "not an SVG"
    );
    for l in labels {
        // plotters writes each text on its own line inside <text>.
        assert!(
            svg.contains(&format!("\n{l}\n</text>")),
            "no label {l} in the SVG"
        );
    }
    assert!(svg.contains(title), "no title {title}");
}

#[test]
fn chart_from_a_database_written_by_a_run() {
    let dir = TempDir::new("chart-db");
    let input = dir.path("in.txt");
    std::fs::write(
        &input,
        burst(&[("#rust", 5), ("#日本語", 3), ("#go", 2)]).join("\n"),
    )
    .unwrap();
    let db = dir.path("t.db");
    run_ok(
        bin()
            .args([
                "run", "--tui", "off", "--batch", "1s", "--window", "3s", "-q",
            ])
            .arg("--source")
            .arg(&input)
            .arg("--db")
            .arg(&db),
    );
    let png = dir.path("top.png");
    let out = bin()
        .args(["chart", "--db"])
        .arg(&db)
        .arg("--out")
        .arg(&png)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("not available in this build") {
        eprintln!("SKIP: the store or SQL is not in this build yet: {err}");
        return;
    }
    assert!(out.status.success(), "{err}");
    assert_eq!(png_size(&png), (1200, 700));
    let svg = dir.path("top.svg");
    run_ok(
        bin()
            .args(["chart", "--size", "800x500", "--db"])
            .arg(&db)
            .arg("--out")
            .arg(&svg),
    );
    svg_has_labels(&svg, &["#rust", "#日本語", "#go"]);
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("width=\"800\""));
}

#[test]
fn chart_from_a_running_engine() {
    let e = Engine::start(&[]);
    e.feed_steadily(|| burst(&[("#rust", 3), ("#日本語", 2), ("#go", 1)]));
    e.wait_for_top();
    let dir = TempDir::new("chart-url");
    let png = dir.path("top.png");
    run_ok(
        bin()
            .args(["chart", "--url", &e.url, "--size", "900x600"])
            .arg("--out")
            .arg(&png),
    );
    assert_eq!(png_size(&png), (900, 600));
    let svg = dir.path("top.svg");
    run_ok(
        bin()
            .args(["chart", "--url", &e.url])
            .arg("--out")
            .arg(&svg),
    );
    svg_has_labels(&svg, &["#rust", "#日本語", "#go"]);
    // A given window, by its end time, from the engine's memory.
    let end = e.get_json("/api/top")["window_end"]
        .as_str()
        .unwrap()
        .to_owned();
    let svg2 = dir.path("given.svg");
    run_ok(
        bin()
            .args(["chart", "--url", &e.url, "--window", &end])
            .arg("--out")
            .arg(&svg2),
    );
    assert!(std::fs::read_to_string(&svg2).unwrap().contains(&end));
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::copy(&png, keep.join("chart.png"));
    let _ = std::fs::copy(&svg, keep.join("chart.svg"));
    e.stop();
}

/// A decoded RGB PNG.
struct Image {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

/// The bar colours of ranks 1, 2, 3, … (the chart's palette).
const RANK_COLOURS: [[u8; 3]; 6] = [
    [0x2b, 0x8c, 0xd6],
    [0xf0, 0x8a, 0x24],
    [0x2f, 0xb3, 0x6b],
    [0xe0, 0x4f, 0x7e],
    [0x8a, 0x63, 0xd2],
    [0xd9, 0xa4, 0x0e],
];

impl Image {
    fn read(path: &Path) -> Image {
        let decoder = png::Decoder::new(std::io::Cursor::new(std::fs::read(path).unwrap()));
        let mut reader = decoder.read_info().expect("PNG header");
        let mut rgb = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut rgb).expect("PNG decodes");
        assert_eq!(info.color_type, png::ColorType::Rgb, "an RGB PNG");
        Image {
            width: info.width as usize,
            height: info.height as usize,
            rgb,
        }
    }

    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// The label of `rank`: the pixels left of its bar (short of the axis ticks), in the
    /// bar's rows.
    fn label(&self, rank: usize) -> Vec<Vec<[u8; 3]>> {
        let colour = RANK_COLOURS[rank - 1];
        let (mut top, mut bottom, mut left) = (usize::MAX, 0, usize::MAX);
        for y in 0..self.height {
            for x in 0..self.width {
                if self.at(x, y) == colour {
                    (top, bottom, left) = (top.min(y), bottom.max(y), left.min(x));
                }
            }
        }
        assert!(top <= bottom, "no bar of rank {rank}");
        (top..=bottom)
            .map(|y| (0..left.saturating_sub(8)).map(|x| self.at(x, y)).collect())
            .collect()
    }

    /// How wide the label of `rank` is inked: from its first to its last dark column.
    fn label_ink_width(&self, rank: usize) -> usize {
        let dark = |p: &[u8; 3]| p.iter().all(|&c| c < 110);
        let label = self.label(rank);
        let columns: Vec<usize> = (0..label[0].len())
            .filter(|&x| label.iter().any(|row| dark(&row[x])))
            .collect();
        match (columns.first(), columns.last()) {
            (Some(a), Some(b)) => b - a + 1,
            _ => 0,
        }
    }
}

/// A results database holding one window of `tags` (counts decide the ranks).
fn database_of(dir: &TempDir, tags: &[(&str, usize)]) -> std::path::PathBuf {
    let input = dir.path("in.txt");
    std::fs::write(&input, burst(tags).join("\n")).unwrap();
    let db = dir.path("t.db");
    run_ok(
        bin()
            .args([
                "run", "--tui", "off", "--batch", "1s", "--window", "3s", "-q",
            ])
            .arg("--source")
            .arg(&input)
            .arg("--db")
            .arg(&db),
    );
    db
}

/// Draws the chart of `db` into `out`; returns stderr.
fn chart(db: &Path, out: &Path, font_dirs: Option<&Path>) -> String {
    let mut cmd = bin();
    cmd.args(["chart", "--db"]).arg(db).arg("--out").arg(out);
    match font_dirs {
        Some(d) => cmd.env("TAGSTREAM_FONT_DIRS", d),
        None => cmd.env_remove("TAGSTREAM_FONT_DIRS"),
    };
    String::from_utf8_lossy(&run_ok(&mut cmd).stderr).into_owned()
}

const MIXED: [(&str, usize); 4] = [("#rust", 6), ("#日本語", 5), ("#café", 4), ("#rust日本", 3)];

/// Issue 11: the PNG's text needs no system library; with a CJK font installed, CJK labels
/// are drawn with it, beside Latin ones and inside a Latin label.
#[test]
fn chart_png_draws_latin_and_cjk_labels() {
    let dir = TempDir::new("chart-cjk");
    let db = database_of(&dir, &MIXED);
    let png = dir.path("top.png");
    let err = chart(&db, &png, None);
    let img = Image::read(&png);
    for (rank, (tag, _)) in MIXED.iter().enumerate() {
        let ink = img.label_ink_width(rank + 1);
        assert!(
            ink >= 5 * tag.chars().count(),
            "label {tag}: ink {ink} px wide"
        );
    }
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::copy(&png, keep.join("chart-cjk.png"));
    if err.contains("no installed font has glyphs") {
        assert!(
            std::env::var_os("CI").is_none(),
            "no CJK font under CI (.ci/run installs fonts-noto-cjk): {err}"
        );
        eprintln!("SKIP: no CJK font is installed (Debian: fonts-noto-cjk); Latin labels only");
        return;
    }
    assert_eq!(err.trim(), "", "no warning when every glyph is found");
    // The CJK labels' pixels are the CJK font's glyphs, not the boxes drawn without it.
    let empty = TempDir::new("chart-cjk-nofonts");
    let bare_png = dir.path("bare.png");
    chart(&db, &bare_png, Some(&empty.0));
    let bare = Image::read(&bare_png);
    for rank in [2, 4] {
        assert_ne!(
            img.label(rank),
            bare.label(rank),
            "label {}: the same pixels as the boxes",
            MIXED[rank - 1].0
        );
    }
}

/// Issue 11: with no font but the bundled Latin one, Latin still renders and CJK is never
/// dropped silently: boxes in its place, and one warning naming the script and the package.
#[test]
fn chart_with_only_the_bundled_font_draws_boxes_and_warns() {
    let dir = TempDir::new("chart-nofonts");
    let db = database_of(&dir, &MIXED);
    let empty = TempDir::new("chart-nofonts-dir");
    let png = dir.path("top.png");
    let err = chart(&db, &png, Some(&empty.0));
    let img = Image::read(&png);
    for (rank, (tag, _)) in MIXED.iter().enumerate() {
        let ink = img.label_ink_width(rank + 1);
        assert!(
            ink >= 5 * tag.chars().count(),
            "label {tag}: ink {ink} px wide"
        );
    }
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one warning line: {err}");
    for want in [
        "warning",
        "Han",
        "\"#日本語\"",
        "\"#rust日本\"",
        "fonts-noto-cjk",
    ] {
        assert!(lines[0].contains(want), "{want} in: {err}");
    }
    assert!(!lines[0].contains("#café"), "{err}");
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::copy(&png, keep.join("chart-nofonts.png"));
    // An SVG keeps its text for the viewer's fonts: nothing to warn about.
    let svg = dir.path("top.svg");
    assert_eq!(chart(&db, &svg, Some(&empty.0)).trim(), "");
    svg_has_labels(&svg, &["#rust", "#日本語", "#café", "#rust日本"]);
}

#[test]
fn chart_errors_are_one_line_and_exit_2() {
    let dir = TempDir::new("chart-err");
    for args in [
        vec!["chart", "--out", "x.txt", "--db", "none.db"],
        vec!["chart", "--out", "x.png", "--db", "/nonexistent/t.db"],
        vec!["chart", "--out", "x.png", "--size", "big"],
        vec![
            "chart",
            "--out",
            "x.png",
            "--url",
            "http://127.0.0.1:9",
            "--window",
            "soon",
        ],
        vec!["chart", "--out", "x.png", "--url", "http://127.0.0.1:9"],
        vec![
            "chart",
            "--out",
            "x.png",
            "--font-dirs",
            "/nonexistent/fonts",
        ],
    ] {
        let out = bin().args(&args).current_dir(&dir.0).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}

/// Issue 14: `chart --trends` from the `trends` table: the latest window with trending tags,
/// or a given one; score bars labelled with the authors and the expected level.
#[test]
fn chart_trends_from_a_database_written_by_a_run() {
    let dir = TempDir::new("chart-trends-db");
    let input = dir.path("in.jsonl");
    std::fs::write(&input, rising_corpus()).unwrap();
    let db = dir.path("t.db");
    run_ok(&mut run_into(
        &input,
        &["--db", db.to_str().unwrap(), "--author-field", "user"],
    ));
    let chart = |extra: &[&str], out: &Path| {
        run_ok(
            bin()
                .args(["chart", "--trends", "--db"])
                .arg(&db)
                .args(extra)
                .arg("--out")
                .arg(out),
        )
    };
    let png = dir.path("trends.png");
    chart(&[], &png);
    assert_eq!(png_size(&png), (1200, 700));
    let svg = dir.path("trends.svg");
    chart(&["--size", "800x500"], &svg);
    // The latest window with trending tags: #go, eleven authors against the floor of 2.
    svg_has(
        &svg,
        "Trending hashtags",
        &["#go", " 40.5 · 11 authors, usual 2"],
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("2023-11-15T01:00:00Z"), "the window's end");
    assert!(
        text.contains("(authors − expected)² / expected"),
        "the axis"
    );
    let given = dir.path("given.svg");
    chart(&["--window", "2023-11-15T00:00:00Z"], &given);
    svg_has(
        &given,
        "Trending hashtags",
        &["#zig", " 50 · 12 authors, usual 2"],
    );
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::copy(&png, keep.join("chart-trends-db.png"));
    // A chart of one bar has its label (the axis of one segment drew none), top-K too.
    let top = dir.path("top.svg");
    run_ok(
        bin()
            .args(["chart", "--db"])
            .arg(&db)
            .arg("--out")
            .arg(&top),
    );
    svg_has_labels(&top, &["#go", " 11"]);

    // Every width the size check accepts draws: under 200 px the label area's bounds once
    // crossed, and `clamp` panicked (exit 101, half a file).
    for (w, ext) in [(100, "png"), (150, "svg"), (199, "png")] {
        let narrow = dir.path(&format!("narrow{w}.{ext}"));
        chart(&["--size", &format!("{w}x150")], &narrow);
        if ext == "png" {
            assert_eq!(png_size(&narrow), (w, 150));
        }
    }

    // An absurd score (a floor near zero, or a hand-made table) once made plotters' tick
    // search loop forever: the axis ends at 1e300 and the chart is drawn.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE trends SET score = 1e306 WHERE window_end = \
         (SELECT max(window_end) FROM trends)",
        [],
    )
    .unwrap();
    drop(conn);
    let huge = dir.path("huge.png");
    chart(&[], &huge);
    assert_eq!(png_size(&huge), (1200, 700));

    // A window that was never emitted, and a database without trends: one line, exit 2.
    let out = bin()
        .args([
            "chart",
            "--trends",
            "--window",
            "2030-01-01T00:00:00Z",
            "--db",
        ])
        .arg(&db)
        .arg("--out")
        .arg(dir.path("x.png"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no window ends at 2030-01-01T00:00:00Z"),
        "{err}"
    );
    let off = dir.path("off.db");
    run_ok(&mut run_into(
        &input,
        &["--db", off.to_str().unwrap(), "--trends", "off"],
    ));
    let out = bin()
        .args(["chart", "--trends", "--db"])
        .arg(&off)
        .arg("--out")
        .arg(dir.path("x.png"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("holds no window with trending tags yet"),
        "{err}"
    );
}

/// Issue 14: `chart --trends --url` draws `/api/trends` of a running engine, PNG and SVG.
#[test]
fn chart_trends_from_a_running_engine() {
    let e = Engine::start(&[
        "--format",
        "jsonl",
        "--time",
        "event",
        "--author-field",
        "user",
    ]);
    e.feed(&rising_posts(1_700_000_000));
    e.wait_for("the window [T, T + 3)", |e| {
        e.get("/api/trends").1.contains("2023-11-14T22:13:23Z")
    });
    let dir = TempDir::new("chart-trends-url");
    let svg = dir.path("trends.svg");
    run_ok(
        bin()
            .args(["chart", "--trends", "--url", &e.url])
            .arg("--out")
            .arg(&svg),
    );
    svg_has(
        &svg,
        "Trending hashtags",
        &[
            "#日本語",
            "#zig",
            "#rust",
            " 50 · 12 authors, usual 2",
            " 40.5 · 11 authors, usual 2",
            " 32 · 10 authors, usual 2",
        ],
    );
    assert!(!std::fs::read_to_string(&svg).unwrap().contains("#spam"));
    let png = dir.path("trends.png");
    run_ok(
        bin()
            .args(["chart", "--trends", "--url", &e.url, "--size", "900x500"])
            .arg("--out")
            .arg(&png),
    );
    assert_eq!(png_size(&png), (900, 500));
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::copy(&png, keep.join("chart-trends.png"));
    e.stop();
}
