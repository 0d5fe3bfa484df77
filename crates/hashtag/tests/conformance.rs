//! twitter-text's conformance suite (extract.yml hashtag sections plus the cases derived from
//! autolink.yml and validate.yml), run by `tests/data/twitter-text/check_hashtags.py --extra`
//! through the `extract_lines` example.

mod common;

fn check(extra: bool, newline: &str, want: &str) {
    if !common::python_ready("conformance") {
        return;
    }
    let bin = common::example_binary();
    let bin = bin.to_str().expect("utf-8 path");
    let script = common::twitter_text_dir().join("check_hashtags.py");
    let mut args = vec![script.to_str().expect("utf-8 path"), "--newline", newline];
    if extra {
        args.push("--extra");
    }
    args.push(bin);
    if newline == "escape" {
        args.push("--unescape");
    }
    let out = std::process::Command::new("python3")
        .args(&args)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    assert_eq!(
        last,
        want,
        "check_hashtags.py said:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

#[test]
fn conformance_with_derived_cases() {
    check(true, "escape", "156 passed, 0 failed");
}

#[test]
fn conformance_extract_yml_newline_as_space() {
    check(false, "space", "76 passed, 0 failed");
}
