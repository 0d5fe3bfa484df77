use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{bin, burst, signal_and_wait, summary_count, top, wait_top, windows, TempDir};

/// The tutorial's receiver, in Python: accepts one client on 127.0.0.1:PORT, writes tweet
/// lines (one per line, as the receiver does with `client.send(text + "\n")`), and holds the
/// connection open until its stdin closes.
const RECEIVER: &str = r#"
import socket, sys
port = int(sys.argv[1]); lines = sys.argv[2:]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
for l in lines:
    c.send((l + "\n").encode("utf-8"))
sys.stdin.read()
c.close(); s.close()
"#;

struct Receiver(Child, Option<ChildStdin>);

impl Receiver {
    fn start(port: u16, lines: &[String]) -> Receiver {
        let mut child = Command::new("python3")
            .args(["-c", RECEIVER, &port.to_string()])
            .args(lines)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut first = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut first,
        )
        .unwrap();
        assert_eq!(first.trim(), "listening");
        let stdin = child.stdin.take();
        Receiver(child, stdin)
    }

    /// Closes the connection (like the receiver being stopped).
    fn stop(mut self) {
        drop(self.1.take());
        let _ = self.0.wait();
    }
}

#[test]
fn socket_source_counts_windows_and_reconnects_after_the_server_restarts() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIP: no python3");
        return;
    }
    let port = crate::util::free_port();
    let t = TempDir::new("socket");
    let out = t.path("out.jsonl");
    let first = Receiver::start(port, &burst(&[("#alpha", 5), ("#Beta", 3), ("#gamma", 1)]));
    let engine = bin()
        .args(["run", "--source", &format!("socket://127.0.0.1:{port}")])
        .args([
            "--batch", "1s", "--window", "3s", "--top", "3", "--tui", "off", "--out",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_top(&out, &[("#alpha", 5), ("#beta", 3), ("#gamma", 1)]);
    first.stop();

    // The server comes back on the same port: tagstream reconnects by itself (every 2 s).
    let second = Receiver::start(port, &burst(&[("#delta", 4), ("#alpha", 2)]));
    wait_top(&out, &[("#delta", 4), ("#alpha", 2)]);
    second.stop();

    // SIGINT: emit what is open, flush, exit 0.
    let (res, err) = signal_and_wait(engine, "INT");
    assert!(res.status.success(), "{err}");
    assert_eq!(summary_count(&err, "records"), 15, "{err}");
    assert!(summary_count(&err, "reconnects") >= 1, "{err}");
    // Windows are contiguous: one per slide, none missing.
    let ends: Vec<String> = windows(&out)
        .iter()
        .map(|w| w["window_end"].as_str().unwrap().to_owned())
        .collect();
    assert!(ends.windows(2).all(|p| p[0] < p[1]), "{ends:?}");
}

#[test]
fn listen_source_accepts_many_clients() {
    let port = crate::util::free_port();
    let t = TempDir::new("listen");
    let out = t.path("out.jsonl");
    let engine = bin()
        .args(["run", "--source", &format!("listen://127.0.0.1:{port}")])
        .args(["--batch", "1s", "--window", "3s", "--tui", "off", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let connect = || loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::park_timeout(Duration::from_millis(50));
            }
            Err(e) => panic!("listen:// never accepted: {e}"),
        }
    };
    use std::io::Write as _;
    let mut a = connect();
    let mut b = connect();
    a.write_all(b"#one x\r\n#one y\r\n").unwrap();
    b.write_all("#two \u{1F525}\n#two\n".as_bytes()).unwrap();
    a.write_all(b"last #one").unwrap(); // a final line without an ending counts
    drop(a);
    drop(b);
    wait_top(&out, &[("#one", 3), ("#two", 2)]);
    let (res, err) = signal_and_wait(engine, "TERM");
    assert!(res.status.success(), "{err}");
    assert_eq!(summary_count(&err, "records"), 5, "{err}");
}

#[test]
fn stdin_source_reads_to_the_end() {
    let t = TempDir::new("stdin");
    let out = t.path("out.jsonl");
    let mut child = bin()
        .args([
            "run",
            "--source",
            "-",
            "--workers",
            "2",
            "--tui",
            "off",
            "--out",
        ])
        .arg(&out)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..10_000 {
            writeln!(stdin, "tweet {i} #Even{}", i % 2).unwrap();
        }
    }
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert_eq!(summary_count(&err, "records"), 10_000, "{err}");
    let w = windows(&out);
    let best = w
        .iter()
        .map(top)
        .max_by_key(|t| t.iter().map(|(_, n)| n).sum::<u64>())
        .unwrap();
    assert_eq!(
        best,
        [("#even0".to_owned(), 5000), ("#even1".to_owned(), 5000)]
    );
}
