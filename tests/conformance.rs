use std::process::{Command, Stdio};

use crate::util::{bin, python_ok, run_ok, twitter_text, TempDir};

#[test]
fn twitter_text_conformance_156_of_156() {
    if !python_ok() {
        return;
    }
    let out = run_ok(
        Command::new("python3")
            .arg(twitter_text().join("check_hashtags.py"))
            .arg("--extra")
            .arg(env!("CARGO_BIN_EXE_tagstream"))
            .args(["extract", "--unescape"]),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some("156 passed, 0 failed"),
        "{stdout}"
    );
}

/// `tagstream extract` (both modes) equals `ref_extract.py` line for line, as parsed JSON, on
/// the acceptance run's million generated tweets (`gen_tweets.py 1000000 42`; set
/// TAGSTREAM_GEN_LINES for another size).
#[test]
fn generated_tweets_match_the_reference_extractor() {
    if !python_ok() {
        return;
    }
    let n: u64 = std::env::var("TAGSTREAM_GEN_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let t = TempDir::new("gen");
    let input = t.path("tweets.txt");
    let gen = run_ok(
        Command::new("python3")
            .arg(twitter_text().join("gen_tweets.py"))
            .args([n.to_string(), "42".into()]),
    );
    std::fs::write(&input, &gen.stdout).unwrap();
    for spark in [false, true] {
        let mut reference = Command::new("python3");
        reference.arg(twitter_text().join("ref_extract.py"));
        let mut ours = bin();
        ours.arg("extract");
        if spark {
            reference.arg("--spark");
            ours.args(["--extract", "spark"]);
        }
        let want = run_ok(reference.stdin(std::fs::File::open(&input).unwrap()));
        let got = run_ok(
            ours.stdin(std::fs::File::open(&input).unwrap())
                .stderr(Stdio::inherit()),
        );
        let want = String::from_utf8(want.stdout).unwrap();
        let got = String::from_utf8(got.stdout).unwrap();
        let text = std::fs::read_to_string(&input).unwrap();
        let (w, g): (Vec<_>, Vec<_>) = (want.lines().collect(), got.lines().collect());
        assert_eq!(w.len(), g.len(), "line counts differ (spark={spark})");
        let mut diffs = Vec::new();
        for (i, (a, b)) in w.iter().zip(&g).enumerate() {
            let a: serde_json::Value = serde_json::from_str(a).unwrap();
            let b: serde_json::Value = serde_json::from_str(b).unwrap();
            if a != b {
                diffs.push(format!(
                    "line {}: {:?}\n  reference {a}\n  tagstream {b}",
                    i + 1,
                    text.lines().nth(i).unwrap_or("")
                ));
            }
        }
        assert!(
            diffs.is_empty(),
            "{} of {n} lines differ (spark={spark}); first:\n{}",
            diffs.len(),
            diffs[..diffs.len().min(5)].join("\n")
        );
    }
}
