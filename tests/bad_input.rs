use std::io::Write;

use crate::util::{bin, run_ok, summary_count, windows, TempDir};

/// Every kind of bad record in one JSON-lines file: each is skipped and counted by reason,
/// the good records around them are all counted, and the run completes.
#[test]
fn bad_records_are_skipped_and_counted_by_reason() {
    let t = TempDir::new("bad");
    let input = t.path("in.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    let good = |f: &mut std::fs::File, sec: u32, text: &str| {
        writeln!(
            f,
            r##"{{"created_at":"2020-01-01T00:00:{sec:02}Z","text":"{text}"}}"##
        )
        .unwrap();
    };
    good(&mut f, 1, "#rust is fun");
    f.write_all(b"{\"created_at\":\"2020-01-01T00:00:02Z\",\"text\":\"\xff\xfe #bad\"}\n")
        .unwrap();
    f.write_all(b"{\"created_at\":\"2020-01-01T00:00:03Z\",\"text\":\"#broken\"\n")
        .unwrap();
    f.write_all(b"{\"created_at\":\"2020-01-01T00:00:04Z\"}\n")
        .unwrap();
    f.write_all(b"{\"created_at\":\"yesterday\",\"text\":\"#when\"}\n")
        .unwrap();
    f.write_all(b"{\"created_at\":\"2020-01-01T00:00:05Z\",\"text\":42}\n")
        .unwrap();
    // A 10 MB line.
    let mut huge = b"{\"created_at\":\"2020-01-01T00:00:06Z\",\"text\":\"".to_vec();
    huge.resize(10 << 20, b'a');
    huge.extend_from_slice(b" #huge\"}\n");
    f.write_all(&huge).unwrap();
    good(&mut f, 7, "#rust again #go");
    // Late: a record older than every open window (lateness 0, 10 s batches/windows).
    good(&mut f, 30, "#later");
    writeln!(
        f,
        r##"{{"created_at":"2020-01-01T00:00:00Z","text":"#stale"}}"##
    )
    .unwrap();
    good(&mut f, 31, "#rust");
    drop(f);

    let out = t.path("out.jsonl");
    let res = run_ok(
        bin()
            .args(["run", "--source"])
            .arg(&input)
            .args([
                "--format", "jsonl", "--time", "event", "--batch", "10s", "--window", "10s",
            ])
            .args(["--tui", "off", "--out"])
            .arg(&out),
    );
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(summary_count(&err, "records"), 5, "{err}");
    for reason in [
        "invalid_utf8",
        "bad_json",
        "missing_field",
        "bad_time",
        "bad_field",
    ] {
        assert_eq!(summary_count(&err, reason), 1, "{reason}: {err}");
    }
    assert_eq!(summary_count(&err, "line_too_long"), 1, "{err}");
    assert_eq!(summary_count(&err, "late"), 1, "{err}");

    let w = windows(&out);
    let tops: Vec<_> = w.iter().map(crate::util::top).collect();
    // 0–10 s, then the first empty window of the gap (10–20 s; 20–30 s is cut), 30–40 s.
    assert_eq!(w.len(), 3, "{w:?}");
    assert_eq!(tops[0], [("#rust".to_owned(), 2), ("#go".to_owned(), 1)]);
    assert_eq!(w[0]["records"], 2);
    assert!(tops[1].is_empty() && w[1]["window_end"] == "2020-01-01T00:00:20Z");
    assert_eq!(tops[2], [("#later".to_owned(), 1), ("#rust".to_owned(), 1)]);
    assert_eq!(w[2]["late"], 1);
}

/// In text mode invalid UTF-8 is not an error: it becomes U+FFFD, as in socketTextStream.
#[test]
fn invalid_utf8_text_lines_are_decoded_lossily() {
    let t = TempDir::new("lossy");
    let input = t.path("in.txt");
    std::fs::write(&input, b"caf\xe9 #ok\n#fine \xff\xff\n").unwrap();
    let out = t.path("out.jsonl");
    let res = run_ok(
        bin()
            .args(["run", "--tui", "off", "--source"])
            .arg(&input)
            .arg("--out")
            .arg(&out),
    );
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(summary_count(&err, "records"), 2, "{err}");
    assert_eq!(summary_count(&err, "skipped"), 0, "{err}");
    let w = windows(&out);
    let total: u64 = w.iter().map(|w| w["tags"].as_u64().unwrap()).max().unwrap();
    assert_eq!(total, 2);
}

/// A tag whose key is over 1,024 bytes (no network's own limit on tags allows one; a line
/// may hold a megabyte) is left out and counted, in both extraction modes; the other tags of
/// its line count.
#[test]
fn absurdly_long_tags_are_left_out_and_counted() {
    let t = TempDir::new("longtag");
    let input = t.path("in.txt");
    let accented = "é".repeat(600); // 1,200 bytes
    let ascii = "a".repeat(5_000); // over 4 × 1,024 as written: not even keyed
                                   // `#b…b` with 1,023 b is a 1,024-byte key in both modes (spark keeps the sign in the
                                   // token): counted; with 1,024 b, 1,025 bytes: left out. 1,023 bold 𝐚 (4 bytes each, 4,092
                                   // as written) are 1,023 a as a twitter-text key: counted there; in spark mode, where a
                                   // token is only lower-cased, left out.
    let lines = format!(
        "#ok #{accented} #fine\n#{ascii} #ok\n#{} #edge #{}\n#{}\n",
        "b".repeat(1_023),
        "c".repeat(1_024),
        "\u{1D41A}".repeat(1_023)
    );
    std::fs::write(&input, lines).unwrap();
    for mode in ["hashtags", "spark"] {
        let out = t.path(&format!("{mode}.jsonl"));
        let res = run_ok(
            bin()
                .args(["run", "--tui", "off", "--extract", mode, "--source"])
                .arg(&input)
                .arg("--out")
                .arg(&out),
        );
        let err = String::from_utf8_lossy(&res.stderr);
        let spark = mode == "spark";
        assert_eq!(summary_count(&err, "records"), 4, "{err}");
        assert_eq!(summary_count(&err, "skipped"), 0, "{err}");
        let too_long = 3 + u64::from(spark);
        assert_eq!(
            summary_count(&err, "tags_too_long"),
            too_long,
            "{mode}: {err}"
        );
        let w = (windows(&out).into_iter())
            .max_by_key(|w| w["tags"].as_u64())
            .unwrap();
        let top = crate::util::top(&w);
        let names: Vec<&str> = top.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(top[0], ("#ok".to_owned(), 2), "{mode}: {top:?}");
        assert!(names.contains(&"#fine"), "{mode}: {names:?}");
        let at_the_bound = names.iter().filter(|t| t.len() == 1_024).count();
        assert_eq!(at_the_bound, if spark { 1 } else { 2 }, "{mode}: {names:?}");
        assert_eq!(names.len(), 5 - usize::from(spark), "{mode}: {names:?}");
        let (tagged, tags) = if spark { (3, 5) } else { (4, 6) };
        assert_eq!(
            (w["tagged"].as_u64(), w["tags"].as_u64()),
            (Some(tagged), Some(tags)),
            "{mode}"
        );
    }
}

/// `extract` prints `null` for a line over `--max-line` (every input line keeps its output
/// line, the lines around it are whole) and says how many it skipped; an endless line
/// (`/dev/zero`) is read in bounded memory rather than held.
#[test]
fn extract_skips_a_line_too_long_and_says_so() {
    let t = TempDir::new("extract-long");
    let input = t.path("in.txt");
    let long = "#x ".repeat(4_000_000); // 12 MB
    std::fs::write(&input, format!("#a\n{long}\n#b")).unwrap();
    let out = run_ok(
        bin()
            .args(["extract", "--max-line", "100"])
            .stdin(std::fs::File::open(&input).unwrap()),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[\"a\"]\nnull\n[\"b\"]\n"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 line longer than --max-line 100 bytes was skipped"),
        "{stderr}"
    );
    if !std::path::Path::new("/dev/zero").exists() {
        return;
    }
    // 1 GiB of zeros without a line end, through the default bound of 1 MiB.
    let mut child = bin()
        .args(["extract"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let block = vec![0u8; 1 << 20];
    let mut peak_kb = 0;
    for _ in 0..1024 {
        stdin.write_all(&block).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:"));
        if let Some(kb) = rss.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()) {
            peak_kb = peak_kb.max(kb);
        }
    }
    stdin.write_all(b"\n#c\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "null\n[\"c\"]\n");
    assert!(
        peak_kb < 64 << 10,
        "extract held {peak_kb} kB of a line without end"
    );
}
