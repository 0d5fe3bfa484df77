//! `tagstream receive`: a live source forwarded as lines to socket clients, end to end into
//! `tagstream run --source socket://`, and the buffer kept while no client is connected.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;

use crate::live_x::fake::{frames, Conn, FakeX};
use crate::live_x::{assert_no_token, posts, with_token, Running, TOKEN};
use crate::util::wait_top;
use crate::util::{bin, free_port, TempDir};

#[test]
fn receive_x_feeds_run_over_a_socket() {
    let fake = FakeX::start(TOKEN);
    let lines = posts(&[
        ("kickoff #WorldCup", "WorldCup", 4),
        ("line one\r\nline two #football", "football", 2),
        ("#var?", "var", 1),
    ]);
    fake.script(Conn::Stream(frames(&lines, 5)));
    let port = free_port();
    let serve = format!("127.0.0.1:{port}");
    let receiver = Running::spawn(
        with_token(TOKEN)
            .args([
                "receive",
                "x://",
                "--endpoint",
                &fake.url,
                "--track",
                "worldcup,football,var",
            ])
            .args(["--serve", &serve]),
    );
    // The posts reach the receiver before any client: it buffers them for the first one.
    fake.wait_for("stream connection", |s| s.streams >= 1);
    let t = TempDir::new("receive");
    let out = t.path("out.jsonl");
    let engine = Running::spawn(
        bin()
            .args(["run", "--source", &format!("socket://{serve}")])
            .args([
                "--batch", "1s", "--window", "3s", "--top", "3", "--tui", "off", "--out",
            ])
            .arg(&out),
    );
    wait_top(&out, &[("#worldcup", 4), ("#football", 2), ("#var", 1)]);
    let run_out = engine.stop(Some("-INT"));
    assert!(
        run_out.status.success(),
        "{}",
        String::from_utf8_lossy(&run_out.stderr)
    );
    // One post, one line: the post with CR LF inside was not cut in two.
    let err = String::from_utf8_lossy(&run_out.stderr);
    assert!(err.contains("records 7 "), "{err}");
    let rec_out = receiver.stop(Some("-TERM"));
    let rerr = String::from_utf8_lossy(&rec_out.stderr);
    assert!(rec_out.status.success(), "{rerr}");
    assert!(rerr.contains("forwarded 7 lines"), "{rerr}");
    assert_no_token(&rec_out);
    assert_no_token(&run_out);
}

#[test]
fn receive_keeps_a_bounded_buffer_and_reports_what_it_dropped() {
    let t = TempDir::new("receive-buffer");
    let input = t.path("in.jsonl");
    let body: String = (0..10)
        .map(|i| format!("{{\"text\":\"post {i} #t\\nnext line\"}}\n"))
        .collect();
    std::fs::write(&input, body).unwrap();
    let serve = format!("127.0.0.1:{}", free_port());
    let receiver = Running::spawn(
        bin()
            .arg("receive")
            .arg(&input)
            .args(["--format", "jsonl", "--buffer", "3", "--serve", &serve]),
    );
    receiver.wait_stderr("3 lines wait for a client");
    let got: Vec<String> = BufReader::new(TcpStream::connect(&serve).unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        got,
        [
            "post 7 #t next line",
            "post 8 #t next line",
            "post 9 #t next line"
        ]
    );
    let res = receiver.stop(None);
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(
        err.contains("(7 dropped while no client was connected)"),
        "{err}"
    );
    assert!(
        err.contains("dropped 7 while no client was connected"),
        "{err}"
    );
}
