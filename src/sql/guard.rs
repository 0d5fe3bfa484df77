//! What a query may do: the authorizer's policy. SQLite asks it about every action of a
//! statement while preparing it; anything but reading is refused with a one-line reason.
//!
//! This is one of three layers: the connection is also opened read-only with
//! `query_only=ON` and no attachable databases (`SQLITE_LIMIT_ATTACHED = 0`), so a gap here
//! still cannot write.

use rusqlite::hooks::{AuthAction, AuthContext};

/// PRAGMAs that only report and take a table or index name as their argument.
const NAME_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
];

/// PRAGMAs that report a setting when given no value (and would change it with one).
const QUERY_PRAGMAS: &[&str] = &[
    "application_id",
    "collation_list",
    "compile_options",
    "data_version",
    "database_list",
    "encoding",
    "freelist_count",
    "function_list",
    "journal_mode",
    "module_list",
    "page_count",
    "page_size",
    "pragma_list",
    "query_only",
    "schema_version",
    "user_version",
];

/// Functions a query may not call: loading native code, or the tokenizer pointer trick.
const DENIED_FUNCTIONS: &[&str] = &["load_extension", "fts3_tokenizer"];

const READ_ONLY: &str = "SQL over the results is read-only";

/// `Ok` if the action is allowed, else why not.
pub(super) fn check(ctx: &AuthContext<'_>) -> Result<(), String> {
    use AuthAction as A;
    let refuse = |what: &str| Err(format!("{what} is not allowed: {READ_ONLY}"));
    match ctx.action {
        A::Select | A::Read { .. } | A::Recursive => Ok(()),
        A::Function { function_name } => {
            let f = function_name.to_ascii_lowercase();
            if DENIED_FUNCTIONS.contains(&f.as_str()) {
                Err(format!("function {f}() is not allowed"))
            } else {
                Ok(())
            }
        }
        A::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let p = pragma_name.to_ascii_lowercase();
            let ok = NAME_PRAGMAS.contains(&p.as_str())
                || (pragma_value.is_none() && QUERY_PRAGMAS.contains(&p.as_str()));
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "PRAGMA {p} is not allowed: only PRAGMAs that report are ({READ_ONLY})"
                ))
            }
        }
        A::Attach { .. } => {
            Err("ATTACH is not allowed: queries see only the results database".into())
        }
        A::Detach { .. } => Err("DETACH is not allowed".into()),
        A::Insert { .. } => refuse("INSERT"),
        A::Update { .. } => refuse("UPDATE"),
        A::Delete { .. } => refuse("DELETE"),
        A::CreateIndex { .. } | A::CreateTempIndex { .. } => refuse("CREATE INDEX"),
        A::CreateTable { .. } | A::CreateTempTable { .. } => refuse("CREATE TABLE"),
        A::CreateTrigger { .. } | A::CreateTempTrigger { .. } => refuse("CREATE TRIGGER"),
        A::CreateView { .. } | A::CreateTempView { .. } => refuse("CREATE VIEW"),
        A::CreateVtable { .. } => refuse("CREATE VIRTUAL TABLE"),
        A::DropIndex { .. } | A::DropTempIndex { .. } => refuse("DROP INDEX"),
        A::DropTable { .. } | A::DropTempTable { .. } => refuse("DROP TABLE"),
        A::DropTrigger { .. } | A::DropTempTrigger { .. } => refuse("DROP TRIGGER"),
        A::DropView { .. } | A::DropTempView { .. } => refuse("DROP VIEW"),
        A::DropVtable { .. } => refuse("DROP VIRTUAL TABLE"),
        A::AlterTable { .. } => refuse("ALTER TABLE"),
        A::Reindex { .. } => refuse("REINDEX"),
        A::Analyze { .. } => refuse("ANALYZE"),
        A::Transaction { .. } | A::Savepoint { .. } => {
            Err("transactions are not allowed: each query runs on its own".into())
        }
        _ => refuse("this statement"),
    }
}

/// True for a change to SQLite's own tables (`sqlite_schema`, `sqlite_sequence`, …), which
/// DDL statements make before the action that names them.
pub(super) fn is_internal(ctx: &AuthContext<'_>) -> bool {
    use AuthAction as A;
    match ctx.action {
        A::Insert { table_name } | A::Delete { table_name } | A::Update { table_name, .. } => {
            table_name.starts_with("sqlite_")
        }
        _ => false,
    }
}

/// A statement's leading keywords for a message ("DROP TABLE", "CREATE TEMP VIEW"): used
/// when the authorizer only saw the write to SQLite's schema table that DDL makes first.
pub(super) fn verb(sql: &str) -> String {
    let words: Vec<String> = sql
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .take(4)
        .map(str::to_ascii_uppercase)
        .collect();
    let Some(first) = words.first() else {
        return "this statement".into();
    };
    if !matches!(first.as_str(), "CREATE" | "DROP" | "ALTER") {
        return first.clone();
    }
    let kinds = ["TABLE", "INDEX", "VIEW", "TRIGGER"];
    match words.iter().position(|w| kinds.contains(&w.as_str())) {
        Some(i) => words[..=i].join(" "),
        None => first.clone(),
    }
}
