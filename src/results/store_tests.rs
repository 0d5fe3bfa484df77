use super::*;

const HOUR: u64 = 3_600_000;

/// A temporary database file, removed (with its WAL files) on drop.
pub(crate) struct TempDb(pub String);

impl TempDb {
    pub(crate) fn new(name: &str) -> TempDb {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "tagstream-unit-{name}-{}-{nanos}.db",
            std::process::id()
        ));
        TempDb(p.to_string_lossy().into_owned())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0));
        }
    }
}

pub(crate) fn window(end_h: u64, top: &[(&str, u64)], counts: &[(&str, u64)]) -> Window {
    let own = |v: &[(&str, u64)]| v.iter().map(|(t, n)| (t.to_string(), *n)).collect();
    Window {
        start_ms: (end_h - 1) * HOUR,
        end_ms: end_h * HOUR,
        records: 10,
        tagged: 4,
        tags: top.iter().map(|(_, n)| n).sum(),
        distinct: top.len() as u64,
        late: 1,
        top: own(top),
        counts: counts.iter().map(|(t, n)| ((*t).into(), *n)).collect(),
        trending: Vec::new(),
        approx: None,
    }
}

/// `w` with trending rows `(tag, score, count, expected, authors)`, best first.
pub(crate) fn with_trends(mut w: Window, rows: &[(&str, f64, u64, f64, Option<u64>)]) -> Window {
    w.trending = rows
        .iter()
        .map(|&(tag, score, count, expected, authors)| window::Trend {
            tag: tag.to_owned(),
            score,
            count,
            expected,
            authors,
        })
        .collect();
    w
}

fn rows(c: &Connection, sql: &str) -> Vec<String> {
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        let mut cells = Vec::new();
        for i in 0..n {
            let v: rusqlite::types::Value = r.get(i)?;
            cells.push(match v {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(t) => t,
                rusqlite::types::Value::Real(r) => format!("{r:?}"),
                rusqlite::types::Value::Null => "NULL".to_owned(),
                other => format!("{other:?}"),
            });
        }
        Ok(cells.join("|"))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

#[test]
fn tables_hold_the_latest_window_and_the_history() {
    let db = TempDb::new("tables");
    let mut s = Store::open(&db.0, None).unwrap();
    s.publish(&window(1, &[("#a", 3), ("#b", 1)], &[])).unwrap();
    s.publish(&window(2, &[], &[])).unwrap();
    s.publish(&window(
        3,
        &[("#c", 5), ("#a", 2)],
        &[("#c", 5), ("#a", 2), ("#z", 1)],
    ))
    .unwrap();
    let c = &s.conn;
    assert_eq!(
        rows(c, "SELECT * FROM tweets ORDER BY count DESC"),
        ["#c|5|0", "#a|2|0"]
    );
    assert_eq!(
        rows(c, "SELECT * FROM counts ORDER BY count DESC"),
        ["#c|5|0", "#a|2|0", "#z|1|0"]
    );
    assert_eq!(
        rows(c, "SELECT * FROM windows ORDER BY window_end, rank"),
        [
            "1970-01-01T00:00:00Z|1970-01-01T01:00:00Z|1|#a|3|0",
            "1970-01-01T00:00:00Z|1970-01-01T01:00:00Z|2|#b|1|0",
            "1970-01-01T02:00:00Z|1970-01-01T03:00:00Z|1|#c|5|0",
            "1970-01-01T02:00:00Z|1970-01-01T03:00:00Z|2|#a|2|0",
        ]
    );
    // The empty window is recorded in the totals.
    assert_eq!(
        rows(c, "SELECT * FROM window_totals ORDER BY window_end"),
        [
            "1970-01-01T00:00:00Z|1970-01-01T01:00:00Z|10|4|4|2|1",
            "1970-01-01T01:00:00Z|1970-01-01T02:00:00Z|10|4|0|0|1",
            "1970-01-01T02:00:00Z|1970-01-01T03:00:00Z|10|4|7|2|1",
        ]
    );
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn trends_hold_every_windows_trending_rows_and_a_window_written_again_replaces_them() {
    let db = TempDb::new("trends");
    let mut s = Store::open(&db.0, None).unwrap();
    let rising = [
        ("#eclipse", 72.0, 40, 2.0, Some(14)),
        ("#strike", 4.5, 9, 2.0, Some(5)),
    ];
    s.publish(&with_trends(window(1, &[("#news", 50)], &[]), &rising))
        .unwrap();
    s.publish(&window(2, &[("#news", 50)], &[])).unwrap();
    // Without authors (text input), `authors` is NULL and the count is what was scored.
    s.publish(&with_trends(
        window(3, &[("#news", 50)], &[]),
        &[("#goal", 12.5, 7, 2.0, None)],
    ))
    .unwrap();
    let all = "SELECT * FROM trends ORDER BY window_end, rank";
    assert_eq!(
        rows(&s.conn, all),
        [
            "1970-01-01T00:00:00Z|1970-01-01T01:00:00Z|1|#eclipse|72.0|40|2.0|14",
            "1970-01-01T00:00:00Z|1970-01-01T01:00:00Z|2|#strike|4.5|9|2.0|5",
            "1970-01-01T02:00:00Z|1970-01-01T03:00:00Z|1|#goal|12.5|7|2.0|NULL",
        ]
    );
    assert_eq!(
        rows(&s.conn, "SELECT typeof(score), typeof(expected), typeof(authors) FROM trends WHERE rank = 1 ORDER BY window_end"),
        ["real|real|integer", "real|real|null"]
    );
    // Written again (a restart from a checkpoint): replaced, not doubled; an empty trending
    // list written again leaves no rows.
    s.publish(&with_trends(
        window(1, &[("#news", 50)], &[]),
        &[("#eclipse", 80.0, 41, 2.0, Some(15))],
    ))
    .unwrap();
    s.publish(&window(3, &[("#news", 50)], &[])).unwrap();
    assert_eq!(
        rows(&s.conn, all),
        ["1970-01-01T00:00:00Z|1970-01-01T01:00:00Z|1|#eclipse|80.0|41|2.0|15"]
    );
}

#[test]
fn counts_hold_every_tag_not_only_the_top() {
    let db = TempDb::new("counts");
    let mut s = Store::open(&db.0, None).unwrap();
    let all: Vec<(String, u64)> = (0..500).map(|i| (format!("#t{i:03}"), 1000 - i)).collect();
    let all_ref: Vec<(&str, u64)> = all.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    s.publish(&window(1, &all_ref[..10], &all_ref)).unwrap();
    assert_eq!(rows(&s.conn, "SELECT count(*) FROM counts"), ["500"]);
    assert_eq!(rows(&s.conn, "SELECT count(*) FROM tweets"), ["10"]);
    assert_eq!(
        rows(&s.conn, "SELECT sum(count) FROM counts"),
        [all.iter().map(|(_, n)| n).sum::<u64>().to_string()]
    );
}

#[test]
fn retention_prunes_history_older_than_retain() {
    let db = TempDb::new("retain");
    let mut s = Store::open(&db.0, Some(Duration::from_secs(5 * 3600)))
        .unwrap()
        .with_prune_every(4);
    for h in 1..=20 {
        let w = window(h, &[("#a", h)], &[]);
        s.publish(&with_trends(w, &[("#a", 1.0, h, 2.0, Some(h))]))
            .unwrap();
    }
    // The last pass ran at window 20: ends before 15h are gone, 15h..=20h remain.
    assert_eq!(
        rows(&s.conn, "SELECT min(window_end), count(*) FROM windows"),
        ["1970-01-01T15:00:00Z|6"]
    );
    assert_eq!(rows(&s.conn, "SELECT count(*) FROM window_totals"), ["6"]);
    assert_eq!(
        rows(&s.conn, "SELECT min(window_end), count(*) FROM trends"),
        ["1970-01-01T15:00:00Z|6"]
    );
    // Between passes history grows, at most PRUNE_EVERY windows beyond --retain.
    s.publish(&window(21, &[("#a", 1)], &[])).unwrap();
    assert_eq!(rows(&s.conn, "SELECT count(*) FROM windows"), ["7"]);
}

#[test]
fn reopening_keeps_the_history() {
    let db = TempDb::new("reopen");
    {
        let mut s = Store::open(&db.0, None).unwrap();
        s.publish(&window(1, &[("#a", 1)], &[])).unwrap();
        s.publish(&window(2, &[("#b", 2)], &[])).unwrap();
    }
    let mut s = Store::open(&db.0, None).unwrap();
    assert_eq!(rows(&s.conn, "SELECT count(*) FROM windows"), ["2"]);
    s.publish(&window(3, &[("#c", 3)], &[])).unwrap();
    assert_eq!(rows(&s.conn, "SELECT count(*) FROM windows"), ["3"]);
    assert_eq!(rows(&s.conn, "SELECT * FROM tweets"), ["#c|3|0"]);
}

#[test]
fn an_unopenable_path_is_a_one_line_error() {
    let e = Store::open("/nonexistent-dir/x/y.db", None).err().unwrap();
    assert!(e.starts_with("--db /nonexistent-dir/x/y.db: "), "{e}");
    assert!(!e.contains('\n'));
}

/// Cost of writing one window (10 top rows + 1000 counts, the realistic shape), printed for
/// the closing note: `cargo test --release --lib store_write_cost -- --nocapture`.
#[test]
fn store_write_cost() {
    let db = TempDb::new("cost");
    let mut s = Store::open(&db.0, None).unwrap();
    let all: Vec<(String, u64)> = (0..1000).map(|i| (format!("#tag{i}"), 5000 - i)).collect();
    let all_ref: Vec<(&str, u64)> = all.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    let top_only: Vec<Window> = (1..=500).map(|h| window(h, &all_ref[..10], &[])).collect();
    let with_counts: Vec<Window> = (501..=700)
        .map(|h| window(h, &all_ref[..10], &all_ref))
        .collect();
    let t = std::time::Instant::now();
    for w in &top_only {
        s.publish(w).unwrap();
    }
    let a = t.elapsed().as_micros() as f64 / top_only.len() as f64;
    let t = std::time::Instant::now();
    for w in &with_counts {
        s.publish(w).unwrap();
    }
    let b = t.elapsed().as_micros() as f64 / with_counts.len() as f64;
    // The most a window carries: every tag up to `--counts` (100,000).
    let many: Vec<(String, u64)> = (0..100_000)
        .map(|i| (format!("#t{i}"), 1 + i % 7))
        .collect();
    let many_ref: Vec<(&str, u64)> = many.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    let big = window(701, &many_ref[..10], &many_ref);
    let t = std::time::Instant::now();
    s.stage(big);
    s.flush().unwrap();
    let c = t.elapsed().as_micros() as f64 / 1000.0;
    eprintln!(
        "store: one window (top 10) {a:.0} µs; with 1000 counts {b:.0} µs; \
         with 100,000 counts {c:.1} ms"
    );
}

/// Windows staged together and flushed once leave exactly the tables that publishing them
/// one by one leaves (issue 18): every window's history, `tweets` and `counts` of the newest.
#[test]
fn a_flush_of_many_windows_equals_them_one_by_one() {
    let ws = [
        with_trends(
            window(
                1,
                &[("#a", 3), ("#b", 1)],
                &[("#a", 3), ("#b", 1), ("#c", 1)],
            ),
            &[("#a", 30.0, 3, 0.5, Some(3))],
        ),
        window(2, &[], &[]),
        window(
            3,
            &[("#c", 5), ("#a", 2)],
            &[("#c", 5), ("#a", 2), ("#z", 1)],
        ),
        window(4, &[("#d", 9)], &[]),
        window(
            5,
            &[("#e", 2), ("#a", 1)],
            &[("#e", 2), ("#a", 1), ("#y", 1)],
        ),
    ];
    let (one_db, many_db) = (TempDb::new("one-by-one"), TempDb::new("flushed"));
    let mut one = Store::open(&one_db.0, None).unwrap();
    for w in &ws {
        one.publish(w).unwrap();
    }
    let mut many = Store::open(&many_db.0, None).unwrap();
    for w in &ws[..2] {
        many.stage(w.clone());
    }
    many.flush().unwrap();
    for w in &ws[2..] {
        many.stage(w.clone());
    }
    // Nothing of a staged window is written before the flush.
    assert_eq!(
        rows(&many.conn, "SELECT count(*) FROM window_totals"),
        ["2"]
    );
    many.flush().unwrap();
    many.flush().unwrap();
    for sql in [
        "SELECT * FROM tweets ORDER BY count DESC, hashtag",
        "SELECT * FROM counts ORDER BY count DESC, hashtag",
        "SELECT * FROM windows ORDER BY window_end, rank",
        "SELECT * FROM window_totals ORDER BY window_end",
        "SELECT * FROM trends ORDER BY window_end, rank",
    ] {
        assert_eq!(rows(&many.conn, sql), rows(&one.conn, sql), "{sql}");
    }
    assert_eq!(
        rows(
            &many.conn,
            "SELECT * FROM counts ORDER BY count DESC, hashtag"
        ),
        ["#e|2|0", "#a|1|0", "#y|1|0"]
    );
}

/// Issue 15: an approximate window's errors go to the `error` columns (the counts' own
/// errors to `counts`), and a database made before the column gets it, 0 in its old rows.
#[test]
fn errors_of_an_approximate_window_and_a_database_without_the_column() {
    let db = TempDb::new("errors");
    {
        let c = rusqlite::Connection::open(&db.0).unwrap();
        c.execute_batch(
            "CREATE TABLE tweets(hashtag TEXT NOT NULL, count INTEGER NOT NULL);
             INSERT INTO tweets VALUES ('#old', 1);
             CREATE TABLE windows(window_start TEXT NOT NULL, window_end TEXT NOT NULL,
                 rank INTEGER NOT NULL, hashtag TEXT NOT NULL, count INTEGER NOT NULL);
             INSERT INTO windows VALUES ('a', 'b', 1, '#old', 1);",
        )
        .unwrap();
    }
    let mut s = Store::open(&db.0, None).unwrap();
    assert_eq!(rows(&s.conn, "SELECT * FROM windows"), ["a|b|1|#old|1|0"]);
    let mut w = window(
        1,
        &[("#a", 9), ("#b", 4)],
        &[("#a", 9), ("#b", 4), ("#c", 2)],
    );
    w.approx = Some(window::Approx {
        max_tags: 2,
        bound: 2,
        top: vec![1, 2],
        counts: vec![1, 2, 2],
    });
    s.publish(&w).unwrap();
    assert_eq!(rows(&s.conn, "SELECT * FROM tweets"), ["#a|9|1", "#b|4|2"]);
    assert_eq!(
        rows(&s.conn, "SELECT * FROM counts"),
        ["#a|9|1", "#b|4|2", "#c|2|2"]
    );
    assert_eq!(
        rows(
            &s.conn,
            "SELECT hashtag, error FROM windows WHERE rank > 0 AND window_end != 'b'"
        ),
        ["#a|1", "#b|2"]
    );
}

/// A write that fails (another process holds the lock, the disk is full) keeps its windows
/// for the next flush, instead of dropping them: once the lock is gone every window is in
/// the tables, as if nothing had failed.
#[test]
fn windows_a_failed_write_could_not_take_are_written_at_the_next_flush() {
    let db = TempDb::new("locked");
    let mut s = Store::open(&db.0, None).unwrap();
    s.conn.busy_timeout(Duration::from_millis(20)).unwrap();
    s.publish(&window(1, &[("#a", 1)], &[])).unwrap();
    let windows = |c: &Connection| {
        rows(
            c,
            "SELECT window_end, hashtag, count FROM windows ORDER BY window_end",
        )
    };
    let other = Connection::open(&db.0).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    s.stage(window(2, &[("#b", 2)], &[("#b", 2), ("#c", 1)]));
    assert!(s.flush().is_err(), "the lock is held");
    assert!(s.flush().is_err(), "and again, with nothing new staged");
    assert_eq!(s.unwritten(), (1, 0));
    other.execute_batch("COMMIT").unwrap();
    s.flush().unwrap();
    let c = Connection::open(&db.0).unwrap();
    assert_eq!(
        rows(&c, "SELECT hashtag, count FROM counts ORDER BY hashtag"),
        ["#b|2", "#c|1"],
        "the failed write's counts were kept"
    );
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    s.stage(window(3, &[("#c", 3)], &[("#c", 3)]));
    assert!(s.flush().is_err());
    s.stage(window(4, &[("#c", 4)], &[("#c", 4)]));
    assert!(s.flush().is_err());
    assert_eq!(s.unwritten(), (2, 0));
    other.execute_batch("COMMIT").unwrap();
    s.flush().unwrap();
    assert_eq!(s.unwritten(), (0, 0));
    assert_eq!(
        windows(&c),
        [
            "1970-01-01T01:00:00Z|#a|1",
            "1970-01-01T02:00:00Z|#b|2",
            "1970-01-01T03:00:00Z|#c|3",
            "1970-01-01T04:00:00Z|#c|4"
        ]
    );
    assert_eq!(rows(&c, "SELECT hashtag, count FROM counts"), ["#c|4"]);
    // Past MAX_STAGED windows kept, the oldest are dropped and counted.
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    for h in 0..MAX_STAGED as u64 + 5 {
        s.stage(window(10 + h, &[], &[]));
    }
    assert!(s.flush().is_err());
    assert_eq!(s.unwritten(), (MAX_STAGED, 5));
}

/// A database whose `tweets` is another program's is refused before anything is written:
/// its table was altered, five tables added beside it, and the first write failed.
#[test]
fn a_database_with_another_program_s_tweets_is_refused_untouched() {
    let db = TempDb::new("foreign");
    let c = Connection::open(&db.0).unwrap();
    c.execute_batch(
        "CREATE TABLE tweets(id INTEGER, body TEXT); INSERT INTO tweets VALUES (1, 'x');",
    )
    .unwrap();
    drop(c);
    let e = Store::open(&db.0, None).err().unwrap();
    assert!(
        e.contains("its table tweets is not tagstream's (columns id, body)"),
        "{e}"
    );
    let c = Connection::open(&db.0).unwrap();
    let tables = rows(&c, "SELECT name FROM sqlite_master ORDER BY name");
    assert_eq!(tables, ["tweets"]);
    let cols = rows(&c, "SELECT name FROM pragma_table_info('tweets')");
    assert_eq!(cols, ["id", "body"]);
    let mode = rows(&c, "PRAGMA journal_mode");
    assert_eq!(mode, ["delete"]);
}
