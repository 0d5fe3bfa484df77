//! Helpers shared by the oracle tests: find Python, build the `extract_lines` example, run
//! programs on an input and compare line protocols.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::SystemTime;
use std::{env, fs, io::Write as _, thread};

/// The twitter-text conformance data and oracle scripts copied into `tests/data` (see its
/// LICENSE-NOTE.md), so the tests run from a clone of the project alone.
pub fn twitter_text_dir() -> PathBuf {
    manifest_dir().join("tests/data/twitter-text")
}

/// True if `python3` is there (the oracle scripts need nothing else); otherwise prints why the
/// calling test is skipped. Only a missing python3 may skip a test.
pub fn python_ready(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("note: {test} skipped: python3 is not available");
    }
    ok
}

/// Path of the `extract_lines` example, built for the profile of this test binary.
///
/// `cargo test` builds examples next to the test binaries (`<profile>/examples/`); that copy is
/// used when it is newer than every source of the crate. Otherwise (e.g. `cargo test --test
/// conformance` after an edit) it is built with a nested `cargo build`, whose JSON messages
/// name the executable, so a custom `CARGO_TARGET_DIR` works too.
pub fn example_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = env::current_exe().expect("path of the test binary");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps");
        let sibling = profile_dir
            .join("examples")
            .join(format!("extract_lines{}", env::consts::EXE_SUFFIX));
        if is_fresh(&sibling) {
            return sibling;
        }
        build_example(profile_dir)
    })
    .clone()
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Is `bin` newer than every file it is built from?
fn is_fresh(bin: &Path) -> bool {
    let Some(built) = mtime(bin) else {
        return false;
    };
    let root = manifest_dir();
    let mut inputs = vec![
        root.join("Cargo.toml"),
        root.join("build.rs"),
        root.join("data/tld_lib.yml"),
        root.join("examples/extract_lines.rs"),
    ];
    if let Ok(dir) = fs::read_dir(root.join("src")) {
        inputs.extend(dir.flatten().map(|e| e.path()));
    }
    inputs.iter().all(|p| mtime(p).is_some_and(|t| t <= built))
}

fn build_example(profile_dir: &Path) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(manifest_dir()).args([
        "build",
        "-p",
        "hashtag",
        "--example",
        "extract_lines",
        "--message-format=json-render-diagnostics",
    ]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    // Reuse this test's target dir when it is a plain `<dir>/<profile>` layout.
    if env::var_os("CARGO_TARGET_DIR").is_none() {
        if let Some(target) = profile_dir
            .parent()
            .filter(|t| t.join("CACHEDIR.TAG").exists())
        {
            cmd.arg("--target-dir").arg(target);
        }
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build --example extract_lines failed"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "extract_lines" {
            if let Some(path) = msg["executable"].as_str() {
                return PathBuf::from(path);
            }
        }
    }
    panic!("cargo build did not report the extract_lines executable");
}

/// Runs `program args` with `input` on stdin and returns its stdout; panics on failure.
pub fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str], input: &[u8]) -> Vec<u8> {
    let program = program.as_ref();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    assert!(
        out.status.success(),
        "{program:?} {args:?} failed: {}",
        out.status
    );
    out.stdout
}

/// Runs a script of `tests/data/twitter-text` with python3.
pub fn python(script: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let path = twitter_text_dir().join(script);
    let mut all = vec![path.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    run("python3", &all, input)
}

/// Compares two line-protocol outputs as parsed JSON, line by line, and panics with the first
/// differing lines (and their input) if they differ.
pub fn assert_same_json(what: &str, input: &[u8], want: &[u8], got: &[u8]) {
    let input = String::from_utf8_lossy(input);
    let inputs: Vec<&str> = input.split('\n').collect();
    let want = String::from_utf8_lossy(want);
    let got = String::from_utf8_lossy(got);
    let (want, got): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    assert_eq!(want.len(), got.len(), "{what}: line counts differ");
    let mut diffs = Vec::new();
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let wv: serde_json::Value = serde_json::from_str(w).expect("oracle JSON");
        let gv: Result<serde_json::Value, _> = serde_json::from_str(g);
        if gv.ok().as_ref() != Some(&wv) {
            diffs.push(i);
        }
    }
    if !diffs.is_empty() {
        let mut msg = format!(
            "{what}: {} of {} lines differ; first ones:\n",
            diffs.len(),
            want.len()
        );
        for &i in diffs.iter().take(10) {
            let text = inputs.get(i).copied().unwrap_or("");
            msg += &format!(
                "line {}: {text:?}\n  oracle: {}\n  ours:   {}\n",
                i + 1,
                want[i],
                got[i]
            );
        }
        panic!("{msg}");
    }
}

/// The crate's directory: cargo's run-time value (a test binary reused from a checkout at
/// another path would carry a stale compile-time one).
fn manifest_dir() -> PathBuf {
    env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
