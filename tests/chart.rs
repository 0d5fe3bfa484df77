//! `tagstream chart`: PNG and SVG from a database written by a run and from a running engine;
//! size, that the PNG decodes, and the labels (a non-Latin one included) in the SVG.

use std::path::Path;

use crate::http::Engine;
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
    assert!(svg.contains("Top hashtags"), "no title");
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
    ] {
        let out = bin().args(&args).current_dir(&dir.0).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}
