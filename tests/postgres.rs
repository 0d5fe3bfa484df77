use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::store::{corpus, rising_corpus, run_into, sql, FIRST, TRENDS_SQL};
use crate::util::{run_ok, TempDir};

/// The server `.ci/run` starts; `None` (with a note) on a local run without one.
fn server() -> Option<String> {
    match std::env::var("TAGSTREAM_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("SKIP: TAGSTREAM_TEST_PG is not set (.ci/run starts a PostgreSQL server)");
            None
        }
    }
}

/// `psql` on `url` with `-c sql`, unaligned, tuples only, comma-separated.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-F", ","])
        .args(["-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh database on the server, so tests running side by side never share tables.
fn fresh_db(url: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    psql(url, &format!("DROP DATABASE IF EXISTS {name}"));
    psql(url, &format!("CREATE DATABASE {name}"));
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    format!("{base}/{name}")
}

#[test]
fn psql_on_the_sink_returns_the_same_rows_as_tagstream_sql() {
    let Some(pg) = server() else { return };
    let url = fresh_db(&pg);
    let t = TempDir::new("pg-parity");
    let input = t.path("in.jsonl");
    std::fs::write(&input, corpus(FIRST)).unwrap();
    let db = t.path("r.db");
    run_ok(&mut run_into(
        &input,
        &["--db", db.to_str().unwrap(), "--sink", &url],
    ));

    let q = "SELECT hashtag, count FROM tweets ORDER BY count DESC, hashtag";
    let from_pg = psql(&url, q);
    let o = sql(&db, &["--format", "csv", q]);
    assert!(o.status.success());
    let from_sqlite: String = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(from_pg, from_sqlite);
    assert_eq!(from_pg, "#zig,2\n#go,1\n#ocaml,1\n");
    // Every window and its totals; counts of the latest window.
    assert_eq!(
        psql(&url, "SELECT count(*), sum(records) FROM window_totals"),
        "3,7\n"
    );
    assert_eq!(psql(&url, "SELECT count(*) FROM windows"), "8\n");
    assert_eq!(
        psql(&url, "SELECT to_char(window_end AT TIME ZONE 'UTC', 'HH24:MI'), rank, hashtag, count FROM windows ORDER BY window_end, rank LIMIT 2"),
        "23:00,1,#rust,2\n23:00,2,#go,1\n"
    );
    assert_eq!(psql(&url, "SELECT count(*) FROM counts"), "3\n");

    // A second run adds windows and replaces tweets.
    let more = t.path("more.jsonl");
    std::fs::write(&more, corpus(&[(5, "#later")])).unwrap();
    run_ok(&mut run_into(
        &more,
        &["--db", db.to_str().unwrap(), "--sink", &url],
    ));
    assert_eq!(psql(&url, "SELECT count(*) FROM window_totals"), "4\n");
    assert_eq!(psql(&url, q), "#later,1\n");
}

/// Issue 14: the `trends` table in PostgreSQL holds the rows `tagstream sql` reads from
/// SQLite (times as timestamptz, scores as double precision, `authors` NULL without
/// authors), and a window written again replaces its rows.
#[test]
fn psql_on_the_sink_returns_the_same_trends_as_tagstream_sql() {
    let Some(pg) = server() else { return };
    let url = fresh_db(&pg);
    let t = TempDir::new("pg-trends");
    let input = t.path("in.jsonl");
    std::fs::write(&input, rising_corpus()).unwrap();
    let db = t.path("r.db");
    let args = [
        "--db",
        db.to_str().unwrap(),
        "--sink",
        &url,
        "--author-field",
        "user",
    ];
    run_ok(&mut run_into(&input, &args));
    let o = sql(&db, &["--format", "csv", TRENDS_SQL]);
    assert!(o.status.success());
    let from_sqlite: String = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect();
    let q = "SELECT to_char(window_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
             rank, hashtag, to_char(score, 'FM999990.099'), count, \
             to_char(expected, 'FM999990.099'), authors FROM trends ORDER BY window_end, rank";
    assert_eq!(psql(&url, q), from_sqlite);
    assert_eq!(from_sqlite.lines().count(), 3, "{from_sqlite}");
    assert_eq!(
        psql(
            &url,
            "SELECT pg_typeof(score), pg_typeof(window_end) FROM trends LIMIT 1"
        ),
        "double precision,timestamp with time zone\n"
    );

    // The same input again, without authors: each window is replaced (posts are scored,
    // so the spammer now trends, and `authors` is NULL).
    run_ok(&mut run_into(&input, &["--db", "none", "--sink", &url]));
    assert_eq!(
        psql(&url, "SELECT count(*), count(authors) FROM trends"),
        "4,0\n"
    );
    assert_eq!(
        psql(
            &url,
            "SELECT hashtag FROM trends WHERE rank = 1 ORDER BY window_end LIMIT 1"
        ),
        "#spam\n"
    );
}

#[test]
fn a_server_that_refuses_is_a_one_line_error_without_the_password() {
    let t = TempDir::new("pg-refused");
    let input = t.path("in.jsonl");
    std::fs::write(&input, corpus(FIRST)).unwrap();
    let port = crate::util::free_port();
    let url = format!("postgres://u:hunter2@127.0.0.1:{port}/db");
    let out = run_into(&input, &["--sink", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!e.contains("hunter2"), "{e}");
    assert!(e.contains("postgres://u:***@127.0.0.1"), "{e}");
}
