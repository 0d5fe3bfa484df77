use super::*;
use crate::results::store::tests::{window, TempDb};
use crate::results::store::Store;

fn db_with(name: &str, windows: u64) -> (TempDb, Store) {
    let db = TempDb::new(name);
    let mut s = Store::open(&db.0, None).unwrap();
    for h in 1..=windows {
        s.publish(&window(h, &[("#a", h + 1), ("#b", 1)], &[]))
            .unwrap();
    }
    (db, s)
}

fn err(db: &str, sql: &str) -> String {
    let e = query(db, sql, &Limits::default()).unwrap_err();
    assert!(!e.contains('\n'), "{e}");
    e
}

#[test]
fn selects_rows_as_json() {
    let (db, _s) = db_with("select", 3);
    let t = query(
        &db.0,
        "SELECT hashtag, count, 1.5 AS r, NULL AS n, x'00ff' AS b FROM tweets ORDER BY count DESC",
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(t.columns, ["hashtag", "count", "r", "n", "b"]);
    assert_eq!(
        serde_json::to_string(&t.rows).unwrap(),
        r##"[["#a",4,1.5,null,"00ff"],["#b",1,1.5,null,"00ff"]]"##
    );
    assert!(!t.truncated);
}

#[test]
fn writes_attach_and_writing_pragmas_are_refused() {
    let (db, _s) = db_with("refuse", 1);
    let cases = [
        ("DROP TABLE tweets", "DROP TABLE is not allowed"),
        ("DELETE FROM tweets", "DELETE is not allowed"),
        (
            "INSERT INTO tweets VALUES ('#x', 1)",
            "INSERT is not allowed",
        ),
        ("UPDATE tweets SET count = 0", "UPDATE is not allowed"),
        ("CREATE TABLE t(x)", "CREATE TABLE is not allowed"),
        (
            "CREATE TEMP VIEW v AS SELECT 1",
            "CREATE TEMP VIEW is not allowed",
        ),
        ("ATTACH DATABASE '/tmp/x.db' AS x", "ATTACH is not allowed"),
        ("DETACH DATABASE main", "DETACH is not allowed"),
        (
            "PRAGMA writable_schema=ON",
            "PRAGMA writable_schema is not allowed",
        ),
        ("PRAGMA query_only=OFF", "PRAGMA query_only is not allowed"),
        (
            "SELECT load_extension('/tmp/evil.so')",
            "function load_extension() is not allowed",
        ),
        ("BEGIN", "transactions are not allowed"),
        ("VACUUM", "read-only"),
        ("SELECT 1; DROP TABLE tweets", "one statement at a time"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
    ];
    for (sql, want) in cases {
        let e = err(&db.0, sql);
        assert!(e.contains(want), "{sql}: {e}");
    }
    // Nothing was changed.
    let t = query(&db.0, "SELECT count(*) FROM tweets", &Limits::default()).unwrap();
    assert_eq!(t.rows, [[serde_json::json!(2)]]);
}

#[test]
fn reporting_pragmas_are_allowed() {
    let (db, _s) = db_with("pragma", 1);
    let t = query(&db.0, "PRAGMA table_info(tweets)", &Limits::default()).unwrap();
    // hashtag, count, error (issue 15).
    assert_eq!(t.rows.len(), 3);
    let t = query(&db.0, "PRAGMA journal_mode", &Limits::default()).unwrap();
    assert_eq!(t.rows, [[serde_json::json!("wal")]]);
}

#[test]
fn bad_sql_gives_sqlites_message_with_the_position() {
    let (db, _s) = db_with("bad", 1);
    assert_eq!(
        err(&db.0, "SELEC 1"),
        r#"near "SELEC": syntax error at offset 0"#
    );
    assert_eq!(err(&db.0, "SELECT * FROM nope"), "no such table: nope");
    assert!(err(&db.0, "SELECT 1; SELECT 2").starts_with("one statement at a time"));
    assert!(err(&db.0, "  -- nothing").starts_with("no statement"));
    assert_eq!(
        err("/nonexistent/x.db", "SELECT 1"),
        "no results database at /nonexistent/x.db"
    );
}

#[test]
fn row_limit_truncates_a_ten_million_row_cross_join() {
    let (db, _s) = db_with("rows", 1);
    let sql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 3163) \
               SELECT a.x, b.x FROM n a, n b";
    let limits = Limits {
        max_rows: 1000,
        timeout: Duration::from_secs(5),
    };
    let t = query(&db.0, sql, &limits).unwrap();
    assert_eq!(t.rows.len(), 1000);
    assert!(t.truncated);
}

#[test]
fn time_limit_interrupts_a_query_that_never_ends() {
    let (db, _s) = db_with("forever", 1);
    let limits = Limits {
        max_rows: 10,
        timeout: Duration::from_millis(300),
    };
    let started = Instant::now();
    // Aggregates over an endless recursion never produce a row: only the clock stops it.
    let e = query(
        &db.0,
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
        &limits,
    )
    .unwrap_err();
    assert_eq!(
        e,
        "query interrupted: it ran longer than the time limit (300ms)"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn huge_values_are_refused() {
    let (db, _s) = db_with("huge", 1);
    let e = err(&db.0, "SELECT length(randomblob(1000000000))");
    assert!(e.contains("too big"), "{e}");
    // A row is built whole before it is read: at most 64 columns of at most 4 MB each.
    let e = err(&db.0, "SELECT length(zeroblob(5000000))");
    assert!(e.contains("too big") && e.contains("4 MB"), "{e}");
    let wide = |n: usize| format!("SELECT {}", vec!["1"; n].join(", "));
    assert!(query(&db.0, &wide(64), &Limits::default()).is_ok());
    let e = err(&db.0, &wide(65));
    assert!(e.contains("too many columns"), "{e}");
}

#[test]
fn reads_while_the_store_writes_on_another_thread() {
    let db = TempDb::new("concurrent");
    let mut s = Store::open(&db.0, None).unwrap();
    s.publish(&window(1, &[("#a", 1)], &[])).unwrap();
    let path = db.0.clone();
    let writer = std::thread::spawn(move || {
        for h in 2..=400 {
            s.publish(&window(h, &[("#a", h), ("#b", 1)], &[])).unwrap();
        }
        s
    });
    let mut last = 0;
    while !writer.is_finished() {
        let t = query(
            &path,
            "SELECT count(*) FROM window_totals",
            &Limits::default(),
        )
        .unwrap();
        let n = t.rows[0][0].as_i64().unwrap();
        assert!(n >= last, "the count went back from {last} to {n}");
        last = n;
        // An abusive query at the same time neither fails the writer nor blocks it.
        let _ = query(&path, "DROP TABLE windows", &Limits::default()).unwrap_err();
    }
    let _s = writer.join().unwrap();
    let t = query(
        &path,
        "SELECT count(*) FROM window_totals",
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(t.rows[0][0], serde_json::json!(400));
}

#[test]
fn memory_database_is_shared_with_readers_in_the_process() {
    // The only test that opens ':memory:' (one per process, like the engine).
    let mut s = Store::open(":memory:", None).unwrap();
    s.publish(&window(1, &[("#mem", 7)], &[])).unwrap();
    let t = query(
        ":memory:",
        "SELECT hashtag, count FROM tweets",
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(t.rows, [[serde_json::json!("#mem"), serde_json::json!(7)]]);
    let e = err(":memory:", "DELETE FROM tweets");
    assert!(e.contains("DELETE is not allowed"), "{e}");
}

/// Issue 13: a statement over the limit says the statement limit (100,000 bytes), not the
/// limit on values (4 MB), whichever way it got too long.
#[test]
fn a_statement_over_the_limit_names_the_real_limit() {
    let (db, _s) = db_with("long-sql", 1);
    let long = format!("SELECT 1 -- {}", "x".repeat(1 << 20));
    let e = err(&db.0, &long);
    assert!(e.contains("limited to 100000 bytes"), "{e}");
    assert!(!e.contains("MB"), "{e}");
    let just = format!("SELECT '{}'", "x".repeat(MAX_SQL_BYTES - 9));
    assert_eq!(just.len(), MAX_SQL_BYTES);
    assert!(query(&db.0, &just, &Limits::default()).is_ok());
}
