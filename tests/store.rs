use std::path::Path;
use std::process::{Command, Output};

use crate::util::{bin, run_ok, TempDir};

/// JSON lines in event time: `(hour, text)`.
pub fn corpus(lines: &[(u64, &str)]) -> String {
    lines
        .iter()
        .map(|(h, t)| {
            serde_json::json!({"created_at": 1_700_000_000 - 1_700_000_000 % 3600 + h * 3600, "text": t})
                .to_string()
                + "\n"
        })
        .collect()
}

/// JSON lines in event time with an author in `user`: `(hour, user, text)`.
pub fn corpus_by(lines: &[(u64, &str, &str)]) -> String {
    lines
        .iter()
        .map(|(h, user, t)| {
            serde_json::json!({"created_at": 1_700_000_000 - 1_700_000_000 % 3600 + h * 3600,
                               "user": user, "text": t})
            .to_string()
                + "\n"
        })
        .collect()
}

/// Posts by author in three hours (a window each with `run_into`), where every tag that
/// rises is measured against the floor of 2 expected authors (it was never seen before, or
/// at most once): hour 0, ten authors start `#rust` (score (10 − 2)² / 2 = 32) and one account
/// posts `#spam` twelve times (one author: it never trends by authors; by posts it scores
/// 50); hour 1, `#rust` holds its level (not rising) and twelve authors start `#zig` (50); hour
/// 2, eleven authors take up `#go` (40.5), seen once in hour 0. Trends list a tag only with a
/// score of at least 25, so at least ten authors against the floor.
pub fn rising_corpus() -> String {
    let mut lines: Vec<(u64, String, String)> = Vec::new();
    for i in 1..=10 {
        let text = match i {
            2 => "#Rust",
            4 => "#rust #go",
            _ => "#rust",
        };
        lines.push((0, format!("u{i}"), text.to_owned()));
    }
    for _ in 0..12 {
        lines.push((0, "bot".to_owned(), "#spam".to_owned()));
    }
    for i in 1..=10 {
        lines.push((1, format!("u{i}"), "#rust".to_owned()));
    }
    for i in 1..=12 {
        lines.push((1, format!("v{i}"), "#zig".to_owned()));
    }
    for i in 1..=11 {
        lines.push((2, format!("w{i}"), "#go".to_owned()));
    }
    let refs: Vec<(u64, &str, &str)> = lines
        .iter()
        .map(|(h, u, t)| (*h, u.as_str(), t.as_str()))
        .collect();
    corpus_by(&refs)
}

/// The trends table's rows for [`rising_corpus`], with and without authors.
pub const TRENDS_SQL: &str =
    "SELECT window_end, rank, hashtag, score, count, expected, authors FROM trends \
     ORDER BY window_end, rank";

pub const FIRST: &[(u64, &str)] = &[
    (0, "#rust #go"),
    (0, "#rust rocks"),
    (1, "#go #zig #rust"),
    (1, "#zig #zig"),
    (1, "#go"),
    (2, "#ocaml and #zig"),
    (2, "#go #zig"),
];

/// `tagstream run` over `input` in event time, 1h windows, top 3, into `db`.
pub fn run_into(input: &Path, db_args: &[&str]) -> Command {
    let mut c = bin();
    c.args(["run", "--source"])
        .arg(input)
        .args([
            "--format",
            "jsonl",
            "--time",
            "event",
            "--time-field",
            "created_at",
        ])
        .args([
            "--batch", "1h", "--window", "1h", "--top", "3", "--tui", "off", "--quiet",
        ])
        .args(["--out", "-"])
        .args(db_args);
    c
}

pub fn sql(db: &Path, args: &[&str]) -> Output {
    let mut c = bin();
    c.arg("sql").arg("--db").arg(db).args(args);
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// One line on stderr, exit code 2; returns the line.
fn one_line_error(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    e.trim_end().to_owned()
}

const TOP: &str = "SELECT hashtag, count FROM tweets ORDER BY count DESC, hashtag";

#[test]
fn run_then_sql_gives_the_latest_top_k_as_table_csv_and_json() {
    let t = TempDir::new("store-run");
    let input = t.path("in.jsonl");
    std::fs::write(&input, corpus(FIRST)).unwrap();
    let db = t.path("r.db");
    run_ok(&mut run_into(&input, &["--db", db.to_str().unwrap()]));

    assert_eq!(
        stdout(&sql(&db, &[TOP])),
        "hashtag  count\n-------  -----\n#zig         2\n#go          1\n#ocaml       1\n"
    );
    assert_eq!(
        stdout(&sql(&db, &["--format", "csv", TOP])),
        "hashtag,count\n#zig,2\n#go,1\n#ocaml,1\n"
    );
    assert_eq!(
        stdout(&sql(&db, &["--format", "json", "SELECT window_end, rank, hashtag, count FROM windows ORDER BY window_end, rank LIMIT 2"])),
        format!(
            "{}\n",
            serde_json::json!({"columns": ["window_end", "rank", "hashtag", "count"],
                "rows": [["2023-11-14T23:00:00Z", 1, "#rust", 2], ["2023-11-14T23:00:00Z", 2, "#go", 1]],
                "truncated": false})
        )
    );
    // Every window, with its totals, and every tag of the latest in counts.
    assert_eq!(
        stdout(&sql(
            &db,
            &[
                "--format",
                "csv",
                "SELECT count(*), sum(records) FROM window_totals"
            ]
        )),
        "count(*),sum(records)\n3,7\n"
    );
    assert_eq!(
        stdout(&sql(
            &db,
            &["--format", "csv", "SELECT count(*) FROM counts"]
        )),
        "count(*)\n3\n"
    );
}

/// Issue 14: every window's trending rows in the `trends` table, read with `tagstream sql`.
/// With `--author-field` a tag is scored by its distinct authors (the spammer is one);
/// without, by its posts, and `authors` is NULL (empty in CSV).
#[test]
fn trends_table_holds_every_windows_trending_rows() {
    let t = TempDir::new("store-trends");
    let input = t.path("in.jsonl");
    std::fs::write(&input, rising_corpus()).unwrap();
    let db = t.path("r.db");
    run_ok(&mut run_into(
        &input,
        &["--db", db.to_str().unwrap(), "--author-field", "user"],
    ));
    assert_eq!(
        stdout(&sql(&db, &["--format", "csv", TRENDS_SQL])),
        "window_end,rank,hashtag,score,count,expected,authors\n\
         2023-11-14T23:00:00Z,1,#rust,32.0,10,2.0,10\n\
         2023-11-15T00:00:00Z,1,#zig,50.0,12,2.0,12\n\
         2023-11-15T01:00:00Z,1,#go,40.5,11,2.0,11\n"
    );
    assert_eq!(
        stdout(&sql(&db, &["SELECT hashtag, score, authors FROM trends WHERE rank = 1 ORDER BY score DESC LIMIT 1"])),
        "hashtag  score  authors\n-------  -----  -------\n#zig      50.0       12\n"
    );

    let db2 = t.path("posts.db");
    run_ok(&mut run_into(&input, &["--db", db2.to_str().unwrap()]));
    assert_eq!(
        stdout(&sql(&db2, &["--format", "csv", TRENDS_SQL])),
        "window_end,rank,hashtag,score,count,expected,authors\n\
         2023-11-14T23:00:00Z,1,#spam,50.0,12,2.0,\n\
         2023-11-14T23:00:00Z,2,#rust,32.0,10,2.0,\n\
         2023-11-15T00:00:00Z,1,#zig,50.0,12,2.0,\n\
         2023-11-15T01:00:00Z,1,#go,40.5,11,2.0,\n"
    );
}

#[test]
fn a_restart_on_the_same_db_keeps_every_earlier_window() {
    let t = TempDir::new("store-restart");
    let db = t.path("r.db");
    let first = t.path("1.jsonl");
    std::fs::write(&first, corpus(FIRST)).unwrap();
    run_ok(&mut run_into(&first, &["--db", db.to_str().unwrap()]));
    let q = "SELECT window_end, rank, hashtag, count FROM windows ORDER BY window_end, rank";
    let before = stdout(&sql(&db, &["--format", "csv", q]));
    assert_eq!(before.lines().count(), 1 + 2 + 3 + 3, "{before}");

    let second = t.path("2.jsonl");
    std::fs::write(&second, corpus(&[(5, "#later #later"), (6, "#last")])).unwrap();
    run_ok(&mut run_into(&second, &["--db", db.to_str().unwrap()]));
    let after = stdout(&sql(&db, &["--format", "csv", q]));
    assert!(
        after.starts_with(&before),
        "lost earlier windows:\n{before}\nvs\n{after}"
    );
    assert_eq!(after.lines().count(), before.lines().count() + 2, "{after}");
    assert_eq!(
        stdout(&sql(&db, &["--format", "csv", TOP])),
        "hashtag,count\n#last,1\n"
    );
}

#[test]
fn abusive_queries_get_one_line_errors_within_the_limits() {
    let t = TempDir::new("store-abuse");
    let input = t.path("in.jsonl");
    std::fs::write(&input, corpus(FIRST)).unwrap();
    let db = t.path("r.db");
    run_ok(&mut run_into(&input, &["--db", db.to_str().unwrap()]));
    let cases = [
        ("DROP TABLE tweets", "DROP TABLE is not allowed"),
        ("ATTACH DATABASE 'x.db' AS x", "ATTACH is not allowed"),
        (
            "PRAGMA writable_schema=ON",
            "PRAGMA writable_schema is not allowed",
        ),
        (
            "SELEC hashtag FROM tweets",
            r#"near "SELEC": syntax error at offset 0"#,
        ),
        (
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT max(x) FROM n",
            "query interrupted: it ran longer than the time limit (1s)",
        ),
        (
            // Ten million rows, counted: no row comes out before the time limit.
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 3163) \
             SELECT count(*) FROM n a, n b, (SELECT 1 UNION ALL SELECT 2) c, n d",
            "query interrupted",
        ),
    ];
    for (q, want) in cases {
        let started = std::time::Instant::now();
        let e = one_line_error(&sql(&db, &["--timeout", "1s", q]));
        assert!(e.contains(want), "{q}: {e}");
        assert!(
            started.elapsed().as_secs() < 10,
            "{q} took {:?}",
            started.elapsed()
        );
    }
    // Ten million rows returned: cut at --max-rows, marked truncated.
    let o = sql(
        &db,
        &[
            "--max-rows",
            "5",
            "--format",
            "json",
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 3163) \
             SELECT a.x, b.x FROM n a, n b",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 5);
    assert_eq!(v["truncated"], true);
    // Nothing changed.
    assert_eq!(
        stdout(&sql(
            &db,
            &["--format", "csv", "SELECT count(*) FROM tweets"]
        )),
        "count(*)\n3\n"
    );
}

/// One writer per database and per checkpoint directory: a second run on either is refused
/// in one line (two runs on the default tagstream.db replaced each other's windows without a
/// word; two on one checkpoint directory deleted each other's epochs). Readers still read.
#[test]
fn a_second_run_on_the_same_database_or_checkpoint_directory_is_refused() {
    let t = TempDir::new("store-two-runs");
    let (db, ck) = (t.path("t.db"), t.path("ck"));
    let run_for = |db: &std::path::Path, ck: &std::path::Path, secs: &str| {
        let mut c = bin();
        c.args(["run", "--source", "gen://?rate=200", "--tui", "off", "-q"])
            .args(["--batch", "1s", "--window", "2s", "--duration", secs])
            .arg("--db")
            .arg(db)
            .arg("--checkpoint-dir")
            .arg(ck);
        c
    };
    let run = |db: &std::path::Path, ck: &std::path::Path| run_for(db, ck, "20s");
    let mut first = run(&db, &ck)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !ck.join("lock-process-0").exists() || !db.exists() {
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let e = one_line_error(&run(&t.path("other.db"), &ck).output().unwrap());
    assert!(e.contains("is in use by another run"), "{e}");
    assert!(e.contains("--checkpoint-dir"), "{e}");
    let e = one_line_error(&run(&db, &t.path("ck2")).output().unwrap());
    assert!(
        e.contains("--db") && e.contains("is in use by another run"),
        "{e}"
    );
    // Reading while it runs is fine.
    let out = sql(&db, &["SELECT count(*) FROM window_totals"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = first.kill();
    let _ = first.wait();
    // Once it is gone, the next run takes both.
    let o = run_for(&db, &ck, "1s").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_missing_database_is_a_one_line_error() {
    let t = TempDir::new("store-missing");
    let e = one_line_error(&sql(&t.path("nope.db"), &["SELECT 1"]));
    assert!(e.contains("no results database at"), "{e}");
}

/// The abuse cases against a running engine over `POST /api/sql`: each gets a clear answer
/// within the limits (an error, or a cut result), and the engine goes on counting meanwhile.
#[test]
fn abusive_sql_against_a_running_engine_is_bounded_and_the_engine_keeps_counting() {
    use crate::http::{request, Engine};
    use crate::util::burst;
    let dir = TempDir::new("abuse-http");
    let db = dir.path("t.db");
    let e = Engine::start(&["--db", db.to_str().unwrap()]);
    e.feed_steadily(|| burst(&[("#steady", 2)]));
    e.wait_for_top();
    let post = |sql: &str| {
        let body = serde_json::json!({ "sql": sql }).to_string();
        let started = std::time::Instant::now();
        let (status, text) = request(&e.url, "POST", "/api/sql", Some(&body));
        (status, text, started.elapsed())
    };
    for (sql, needle) in [
        ("DROP TABLE tweets", "DROP TABLE is not allowed"),
        ("ATTACH DATABASE 'x.db' AS x", "ATTACH is not allowed"),
        (
            "PRAGMA writable_schema=ON",
            "PRAGMA writable_schema is not allowed",
        ),
        (crate::util::ENDLESS_COUNT, "time limit"),
    ] {
        let (status, text, took) = post(sql);
        assert_eq!(status, 400, "{sql}: {text}");
        assert_eq!(text.trim_end().lines().count(), 1, "{text}");
        assert!(text.contains(needle), "{sql}: {text}");
        assert!(
            took < std::time::Duration::from_secs(10),
            "{sql} took {took:?}"
        );
    }
    // Ten million rows: cut at the row limit, promptly.
    let cross = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 3163) \
                 SELECT a.x, b.x FROM n a, n b";
    let (status, text, took) = post(cross);
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["truncated"], true);
    assert_eq!(v["rows"].as_array().unwrap().len(), 10_000);
    assert!(
        took < std::time::Duration::from_secs(10),
        "cross join took {took:?}"
    );
    // Meanwhile the engine kept emitting windows, and the tables are intact.
    let before = e.get_json("/api/top")["window_end"].clone();
    e.wait_for("a newer window", |e| {
        e.get_json("/api/top")["window_end"] != before
    });
    let (status, text, _) = post("SELECT hashtag FROM tweets");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("#steady"), "{text}");
    e.stop();
}

/// With `--db :memory:` (what `demo` uses), a slow query no longer freezes the engine's
/// output: it was a shared-cache in-memory database, where each step of the query held the
/// cache's lock and the writer waited for it (the dashboard froze for the query's 5 s).
#[test]
fn a_slow_query_on_the_in_memory_store_does_not_hold_up_the_windows() {
    use crate::http::{request, Engine};
    use crate::util::burst;
    let e = Engine::start(&["--db", ":memory:"]);
    e.feed_steadily(|| burst(&[("#steady", 2)]));
    e.wait_for_top();
    let windows = |e: &Engine| {
        let text = e.get("/metrics").1;
        let line = text
            .lines()
            .find(|l| l.starts_with("tagstream_windows_emitted_total"))
            .unwrap_or_default()
            .to_owned();
        line.rsplit(' ')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let url = e.url.clone();
    let slow = std::thread::spawn(move || {
        let body = serde_json::json!({
            "sql": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) \
                    SELECT count(*) FROM n, tweets"
        })
        .to_string();
        request(&url, "POST", "/api/sql", Some(&body))
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let before = windows(&e);
    // Windows of 1 s slide: two more come while the slow query runs (its limit is 5 s). The
    // query is checked after each count, so a count seen is one made while it ran.
    loop {
        let during = windows(&e);
        let running = !slow.is_finished();
        if during >= before + 2 && running {
            break;
        }
        assert!(running, "{before} -> {during} windows during the query");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (status, text) = slow.join().unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("time limit"), "{text}");
    let (status, text) = request(
        &e.url,
        "POST",
        "/api/sql",
        Some(r#"{"sql":"SELECT hashtag FROM tweets"}"#),
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("#steady"), "{text}");
    e.stop();
}

/// Issue 18: a replay closes many windows in one step, and only the newest one ranks its
/// whole list; the counts table still ends holding every tag of the latest window with its
/// exact count (computed here from the input), for 1 and 2 workers, and `tweets` its top-K.
#[test]
fn counts_hold_every_tag_of_the_latest_window_after_a_replay() {
    let t = TempDir::new("store-counts");
    let input = t.path("in.jsonl");
    let base = 1_700_000_000 - 1_700_000_000 % 3600;
    let mut text = String::new();
    let mut records = Vec::new();
    for i in 0..20_000u64 {
        let time = base + i * 9; // 50 hours
        let tags = format!("#T{} #u{} #T{}", i % 37, (i * 7) % 101, i % 5);
        text += &(serde_json::json!({"created_at": time, "text": tags}).to_string() + "\n");
        records.push((time, tags));
    }
    std::fs::write(&input, text).unwrap();
    for workers in ["1", "2"] {
        let db = t.path(&format!("w{workers}.db"));
        let mut c = bin();
        c.args(["run", "--source"]).arg(&input).args([
            "--format",
            "jsonl",
            "--time",
            "event",
            "--batch",
            "1h",
            "--window",
            "3h",
            "--top",
            "2",
            "--tui",
            "off",
            "--quiet",
            "--out",
            "-",
            "--workers",
            workers,
            "--db",
        ]);
        let o = run_ok(c.arg(&db));
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(out.lines().count() > 40, "{out}");
        let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        let secs = |k: &str| {
            let t = humantime::parse_rfc3339(last[k].as_str().unwrap()).unwrap();
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        };
        let (start, end) = (secs("window_start"), secs("window_end"));
        let mut want = std::collections::BTreeMap::<String, u64>::new();
        for (time, tags) in &records {
            if (start..end).contains(time) {
                for tag in tags.split(' ') {
                    *want.entry(tag.to_lowercase()).or_default() += 1;
                }
            }
        }
        let mut want: Vec<(String, u64)> = want.into_iter().collect();
        want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let csv = |sql: &str| stdout(&sql_of(&db, sql));
        let rows = |v: &[(String, u64)]| -> String {
            v.iter().map(|(t, n)| format!("{t},{n}\n")).collect()
        };
        assert_eq!(
            csv("SELECT hashtag, count FROM counts ORDER BY count DESC, hashtag"),
            format!("hashtag,count\n{}", rows(&want)),
            "{workers} workers"
        );
        assert_eq!(
            csv("SELECT hashtag, count FROM tweets ORDER BY count DESC, hashtag"),
            format!("hashtag,count\n{}", rows(&want[..2])),
            "{workers} workers"
        );
        // Every window's top-K is in the history, superseded ones included.
        assert_eq!(
            csv("SELECT count(*) FROM windows WHERE rank = 2"),
            format!(
                "count(*)\n{}\n",
                out.lines().filter(|l| l.contains("\"rank\":2")).count()
            )
        );
    }
}

fn sql_of(db: &Path, q: &str) -> Output {
    sql(db, &["--format", "csv", q])
}
