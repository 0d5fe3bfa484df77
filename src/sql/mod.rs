//! Read-only SQL over the results store: `tagstream sql` and `POST /api/sql` both call
//! [`query`].
//!
//! Every query gets its own connection, opened read-only with `query_only=ON`, an authorizer
//! that refuses anything but reading (`guard`), no attachable databases, a cap on value
//! and statement sizes, a row limit and a time limit (a progress handler interrupts the
//! statement once [`Limits::timeout`] has passed). A connection per query costs about a
//! hundred microseconds and makes [`query`] safe to call from any thread while the engine
//! writes: in WAL mode readers see the last committed window and never block the writer.
//!
//! Values become JSON: integers and reals as numbers (a non-finite real as null), text as
//! strings, NULL as null, and blobs as lowercase hexadecimal strings (the results tables
//! hold no blobs; hex is what `hex()` in SQLite would print).

mod guard;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::hooks::Authorization;
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde_json::Value;

/// Bounds on every query.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// At most this many rows are returned (then the query stops).
    pub max_rows: usize,
    /// The query is interrupted after this long.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rows: 10_000,
            timeout: Duration::from_secs(5),
        }
    }
}

/// A query's result.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of JSON values (numbers, strings, null).
    pub rows: Vec<Vec<serde_json::Value>>,
    /// True when `max_rows` cut the result.
    pub truncated: bool,
}

/// Largest single value a query may build (`randomblob(1e12)` fails instead of eating memory).
/// A row is built whole before it is read, so with [`MAX_COLUMNS`] this bounds one row at
/// 256 MB (at 16 MB and SQLite's 2,000 columns, one row could ask for 32 GB).
const MAX_VALUE_BYTES: i32 = 4 << 20;
/// Most columns a result may have.
const MAX_COLUMNS: i32 = 64;
/// Largest statement text accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 100_000;
/// A result bigger than this (roughly, in bytes of values) is truncated like `max_rows`.
const MAX_RESULT_BYTES: usize = 64 << 20;
/// VM instructions between two looks at the clock: a few microseconds of work.
const PROGRESS_OPS: i32 = 1_000;

/// Runs one read-only statement on the database at `db`. The error is one line: SQLite's
/// message with the position, or why the statement was refused.
pub fn query(db: &str, sql: &str, limits: &Limits) -> Result<Table, String> {
    run(db, sql, limits).map_err(|e| e.replace(['\n', '\r'], " "))
}

fn run(db: &str, sql: &str, limits: &Limits) -> Result<Table, String> {
    // Said here, with the real limit: SQLite's own "statement too long" comes as the same
    // error code as a value over its limit, which `describe` words in MB of values.
    if sql.len() > MAX_SQL_BYTES {
        return Err(format!(
            "the statement is {} bytes; statements are limited to {MAX_SQL_BYTES} bytes",
            sql.len()
        ));
    }
    let (name, memory) = crate::results::store::resolve(db);
    if !std::path::Path::new(&name).exists() {
        return Err(if memory {
            format!("no results database: {db} lives only in the process of its run")
        } else {
            format!("no results database at {db}")
        });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let open_err = |e: rusqlite::Error| format!("{db}: {e}");
    let mut conn = Connection::open_with_flags(&name, flags).map_err(open_err)?;
    conn.busy_timeout(Duration::from_secs(2))
        .map_err(open_err)?;
    conn.execute_batch("PRAGMA query_only=ON;")
        .map_err(open_err)?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)
        .and_then(|_| conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES))
        .and_then(|_| conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES as i32))
        .and_then(|_| conn.set_limit(Limit::SQLITE_LIMIT_COLUMN, MAX_COLUMNS))
        .map_err(open_err)?;

    // The first reason the authorizer gave, unless it was about SQLite's own schema tables
    // (DROP TABLE first deletes from sqlite_schema): the later, specific one is clearer.
    let refused: Arc<Mutex<Option<(String, bool)>>> = Arc::default();
    let pragma = Arc::new(AtomicBool::new(false));
    let (seen, seen_pragma) = (refused.clone(), pragma.clone());
    conn.authorizer(Some(move |ctx: rusqlite::hooks::AuthContext<'_>| {
        if matches!(ctx.action, rusqlite::hooks::AuthAction::Pragma { .. }) {
            seen_pragma.store(true, Ordering::Relaxed);
        }
        match guard::check(&ctx) {
            Ok(()) => Authorization::Allow,
            Err(why) => {
                if let Ok(mut slot) = seen.lock() {
                    if slot.as_ref().is_none_or(|(_, internal)| *internal) {
                        *slot = Some((why, guard::is_internal(&ctx)));
                    }
                }
                Authorization::Deny
            }
        }
    }))
    .map_err(open_err)?;
    let deadline = Instant::now() + limits.timeout;
    conn.progress_handler(PROGRESS_OPS, Some(move || Instant::now() >= deadline))
        .map_err(open_err)?;

    let explain = |e: rusqlite::Error| {
        let why = refused
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .map(|(why, internal)| {
                if internal {
                    format!(
                        "{} is not allowed: SQL over the results is read-only",
                        guard::verb(sql)
                    )
                } else {
                    why
                }
            });
        describe(e, why, limits)
    };
    // The first statement, then a look for a second: a second one that is refused (`SELECT
    // 1; DROP TABLE tweets`) was reported as the first refused ("SELECT is not allowed").
    use rusqlite::fallible_iterator::FallibleIterator;
    let mut batch = rusqlite::Batch::new(&conn, sql);
    let mut stmt = batch
        .next()
        .map_err(explain)?
        .ok_or_else(|| describe(rusqlite::Error::Empty, None, limits))?;
    if !matches!(batch.next(), Ok(None)) {
        return Err(describe(rusqlite::Error::MultipleStatement, None, limits));
    }
    // sqlite3_stmt_readonly() says false for PRAGMAs, even those that only report; the
    // authorizer has allowed only those.
    if !stmt.readonly() && !pragma.load(Ordering::Relaxed) {
        return Err(
            "only statements that read are allowed: SQL over the results is read-only".into(),
        );
    }
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let width = columns.len();
    let mut table = Table {
        columns,
        ..Table::default()
    };
    let mut bytes = 0usize;
    let mut rows = stmt.query([]).map_err(explain)?;
    while let Some(row) = rows.next().map_err(explain)? {
        if table.rows.len() >= limits.max_rows || bytes >= MAX_RESULT_BYTES {
            table.truncated = true;
            break;
        }
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            let v = row.get_ref(i).map_err(explain)?;
            bytes += 8 + match v {
                ValueRef::Text(t) | ValueRef::Blob(t) => t.len(),
                _ => 0,
            };
            cells.push(json(v));
        }
        table.rows.push(cells);
    }
    Ok(table)
}

/// One SQLite value as JSON (see the module docs).
fn json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => {
            let mut s = String::with_capacity(b.len() * 2);
            for byte in b {
                s.push_str(&format!("{byte:02x}"));
            }
            Value::String(s)
        }
    }
}

/// One line for a failed query: the authorizer's reason, the time limit, or SQLite's
/// message with the byte offset of the offending token.
fn describe(e: rusqlite::Error, refused: Option<String>, limits: &Limits) -> String {
    use rusqlite::Error as E;
    match e {
        E::SqliteFailure(f, _) if f.code == ErrorCode::AuthorizationForStatementDenied => {
            refused.unwrap_or_else(|| "not authorized: SQL over the results is read-only".into())
        }
        E::SqliteFailure(f, _) if f.code == ErrorCode::OperationInterrupted => format!(
            "query interrupted: it ran longer than the time limit ({})",
            humantime::format_duration(limits.timeout)
        ),
        E::SqliteFailure(f, Some(msg)) if f.code == ErrorCode::TooBig => {
            format!("{msg} (values are limited to {} MB)", MAX_VALUE_BYTES >> 20)
        }
        E::SqlInputError { msg, offset, .. } => match refused {
            Some(why) => why,
            None if offset >= 0 => format!("{msg} at offset {offset}"),
            None => msg,
        },
        E::Empty => "no statement: the SQL is empty or only comments".into(),
        E::MultipleStatement => {
            "one statement at a time, please (found more after the first)".into()
        }
        E::SqliteFailure(_, Some(msg)) => refused.unwrap_or(msg),
        other => refused.unwrap_or_else(|| other.to_string()),
    }
}

#[cfg(test)]
mod tests;
