use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

/// A query that never ends by itself: it counts an endless series, and only a time limit or
/// an interrupt stops it.
pub const ENDLESS_COUNT: &str =
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n";

/// The built binary under test.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tagstream"));
    // No results database unless a test asks for one (`--db` beats the environment), so
    // tests running side by side never share a tagstream.db in the working directory.
    c.env("TAGSTREAM_DB", "none").env_remove("TAGSTREAM_HTTP");
    // The run's summary as one JSON line on stderr, for `summary_count`.
    c.env("TAGSTREAM_SUMMARY_JSON", "-");
    c
}

/// A port on 127.0.0.1 that nothing listens on, for a process the test starts to bind.
pub fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

/// `N` distinct ports on 127.0.0.1 that nothing listens on, for processes the test starts
/// to bind (a cluster's hosts file). They are taken below the kernel's ephemeral range,
/// from which every `bind(:0)` and outgoing connection of the machine (other tests running
/// side by side) draws, so none of those takes one meanwhile; and each is held until all
/// are chosen, so no two are the same.
pub fn free_ports<const N: usize>() -> [u16; N] {
    // Linux's default range starts at 32768; a lower start is read when the file says so.
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (lo, hi) = if ephemeral > 20_000 {
        (15_000, ephemeral)
    } else {
        (61_000, 65_535) // above the default range's end
    };
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32);
    let mut held = Vec::with_capacity(N);
    for _ in 0..10_000 {
        if held.len() == N {
            break;
        }
        // xorshift64: distinct test processes and moments pick distinct ports.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = lo + (seed % u64::from(hi - lo)) as u16;
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    assert_eq!(held.len(), N, "no {N} free ports in {lo}..{hi}");
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// The test data committed under `tests/data` (see its README files for provenance).
pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The twitter-text conformance data and oracle scripts, kept with the hashtag crate.
pub fn twitter_text() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/hashtag/tests/data/twitter-text")
}

/// True when python3 can run the oracle scripts (they need nothing else); prints why not.
pub fn python_ok() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIP: python3 is not available");
    }
    ok
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "tagstream-test-{name}-{}-{}",
            std::process::id(),
            nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Runs a command to completion, asserting it succeeded; returns its output.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("command starts");
    assert!(
        out.status.success(),
        "{:?} failed with {}\nstderr:\n{}",
        cmd,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A counter of the run's summary, which `bin()` asks for as one JSON line on stderr
/// (`--summary-json -`): a top-level key (`records`, `late`, `filtered`, `reconnects`,
/// `windows`), `skipped` (the total), or a skip reason (`bad_json`, `line_too_long`, …).
pub fn summary_count(stderr: &str, label: &str) -> u64 {
    let summary = summary(stderr);
    let value = match &summary[label] {
        serde_json::Value::Object(m) => m.get("total").cloned(),
        serde_json::Value::Null => summary["skipped"].get(label).cloned(),
        v => Some(v.clone()),
    };
    value
        .and_then(|v| v.as_u64())
        .unwrap_or_else(|| panic!("no count '{label}' in the summary {summary}"))
}

/// The run's summary (the JSON line `bin()` asks for on stderr).
pub fn summary(stderr: &str) -> serde_json::Value {
    stderr
        .lines()
        .rev()
        .filter(|l| l.starts_with('{'))
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("windows").is_some())
        .unwrap_or_else(|| panic!("no summary JSON line in stderr:\n{stderr}"))
}

/// One source's counters in the run's summary (`sources[name]`), as
/// `(records, connections, connected, reconnects)`.
pub fn source_counts(stderr: &str, name: &str) -> (u64, u64, u64, u64) {
    let s = summary(stderr);
    let c = &s["sources"][name];
    assert!(c.is_object(), "no source '{name}' in the summary {s}");
    let n = |k: &str| c[k].as_u64().unwrap();
    (
        n("records"),
        n("connections"),
        n("connected"),
        n("reconnects"),
    )
}

/// Parses every line of a window JSON-lines file.
pub fn windows(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `[(hashtag, count)]` of a window.
pub fn top(w: &serde_json::Value) -> Vec<(String, u64)> {
    w["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["hashtag"].as_str().unwrap().to_owned(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Waits (30 s at most) until a window of the `--out` file has exactly the top-K `want`.
pub fn wait_top(out: &Path, want: &[(&str, u64)]) {
    let want: Vec<(String, u64)> = want.iter().map(|(t, n)| (t.to_string(), *n)).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if windows(out).iter().any(|w| top(w) == want) {
            return;
        }
        std::thread::park_timeout(std::time::Duration::from_millis(100));
    }
    panic!(
        "no window with {want:?} within 30 s; windows: {:?}",
        windows(out)
    );
}

/// Sends `signal` (INT, TERM) to a running engine and waits for it: open windows are
/// emitted and it exits. Returns its output and stderr text.
pub fn signal_and_wait(child: std::process::Child, signal: &str) -> (Output, String) {
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

/// Tweet-like lines `RT @userN: watching the game TAG tonight`: `n` per tag.
pub fn burst(tags: &[(&str, usize)]) -> Vec<String> {
    let mut lines = Vec::new();
    for (tag, n) in tags {
        for i in 0..*n {
            lines.push(format!("RT @user{i}: watching the game {tag} tonight"));
        }
    }
    lines
}

/// Takes `child`'s stderr (piped) and collects it on a thread: what it wrote so far, for a
/// test to wait on (a line naming an address, a log line).
pub fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    collect_stderr_to_end(child).0
}

/// [`collect_stderr`], and the collecting thread: joined once the child has exited, the
/// text holds everything the child wrote (a fixed wait could miss its last lines).
pub fn collect_stderr_to_end(
    child: &mut Child,
) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let mut pipe = child.stderr.take().expect("stderr is piped");
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let chunk = String::from_utf8_lossy(&buf[..n]);
            sink.lock().unwrap().push_str(&chunk);
        }
    });
    (text, reader)
}
