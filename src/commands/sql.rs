//! `tagstream sql`: one read-only statement on a results database file (`--db`) or a running
//! engine (`--url`, `POST /api/sql`), printed as an aligned table, CSV or JSON.
//!
//! The HTTP exchange: request body `{"sql": "…"}`; response `{"columns":[…],"rows":[[…]],
//! "truncated":bool}` (status 200) or `{"error":"…"}` (status 400).

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::cli::{SqlArgs, SqlFormat};
use crate::sql::{Limits, Table};

/// Runs the subcommand.
pub fn run(a: SqlArgs) -> anyhow::Result<()> {
    let table = match &a.url {
        Some(url) => remote(url, &a.statement, a.timeout)?,
        None => {
            if a.db == ":memory:" || a.db == "none" {
                bail!(
                    "--db {}: an in-memory database lives inside the engine: use --url",
                    a.db
                );
            }
            let limits = Limits {
                max_rows: a.max_rows,
                timeout: a.timeout,
            };
            crate::sql::query(&a.db, &a.statement, &limits).map_err(anyhow::Error::msg)?
        }
    };
    let text = match a.format {
        SqlFormat::Table => render_table(&table),
        SqlFormat::Csv => render_csv(&table),
        SqlFormat::Json => serde_json::to_string(&table)? + "\n",
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error.
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("writing the result");
        }
    }
    if table.truncated && a.format != SqlFormat::Json {
        crate::log::warn(format_args!(
            "result truncated at {} rows (--max-rows)",
            table.rows.len()
        ));
    }
    Ok(())
}

/// `POST {url}/api/sql` with `{"sql": …}`.
fn remote(url: &str, sql: &str, timeout: Duration) -> anyhow::Result<Table> {
    let endpoint = super::api_url(url, "/api/sql");
    // Messages name it without a password or query (either may hold a secret).
    let shown = super::shown_url(&endpoint);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout + Duration::from_secs(10)))
        .build()
        .into();
    let body = serde_json::json!({ "sql": sql }).to_string();
    let mut resp = agent
        .post(&endpoint)
        .header("content-type", "application/json")
        .send(body.as_str())
        .with_context(|| shown.clone())?;
    let status = resp.status();
    let text = resp
        .body_mut()
        .read_to_string()
        .with_context(|| format!("{shown}: reading the response"))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{shown}: status {status}, not a JSON response"))?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        bail!("{}", e.replace('\n', " "));
    }
    if !status.is_success() {
        bail!("{shown}: status {status}");
    }
    let columns = v["columns"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| c.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let rows = v["rows"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| r.as_array().cloned().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    Ok(Table {
        columns,
        rows,
        truncated: v["truncated"].as_bool().unwrap_or(false),
    })
}

/// A value as printed in a table or CSV cell: strings bare, null empty.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Columns padded to their widest cell (in characters); numbers right-aligned. Control
/// characters are shown escaped ([`crate::log::printable`]): the table is for a terminal.
pub fn render_table(t: &Table) -> String {
    let cells: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| crate::log::printable(&cell(v)).into_owned())
                .collect()
        })
        .collect();
    let columns: Vec<String> = (t.columns.iter())
        .map(|c| crate::log::printable(c).into_owned())
        .collect();
    let width: Vec<usize> = (0..columns.len())
        .map(|i| {
            cells
                .iter()
                .filter_map(|r| r.get(i))
                .chain(std::iter::once(&columns[i]))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let pad = |s: &str, w: usize, right: bool| {
        let fill = " ".repeat(w.saturating_sub(s.chars().count()));
        if right {
            fill + s
        } else {
            s.to_owned() + &fill
        }
    };
    let line = |parts: Vec<String>| parts.join("  ").trim_end().to_owned() + "\n";
    let mut out = line(
        columns
            .iter()
            .zip(&width)
            .map(|(c, w)| pad(c, *w, false))
            .collect(),
    );
    out += &line(width.iter().map(|w| "-".repeat(*w)).collect());
    for (row, raw) in cells.iter().zip(&t.rows) {
        out += &line(
            row.iter()
                .zip(&width)
                .zip(raw)
                .map(|((c, w), v)| pad(c, *w, v.is_number()))
                .collect(),
        );
    }
    out
}

/// CSV with RFC 4180 quoting (fields with a comma, quote or line break are quoted, quotes
/// doubled) and `\n` line ends, as Unix tools expect.
pub fn render_csv(t: &Table) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out = String::new();
    let mut row = |cells: Vec<String>| {
        out += &cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
        out += "\n";
    };
    row(t.columns.clone());
    for r in &t.rows {
        row(r.iter().map(cell).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t() -> Table {
        Table {
            columns: vec!["hashtag".into(), "count".into()],
            rows: vec![
                vec![json!("#trump"), json!(120)],
                vec![json!("#a,\"b\""), json!(7)],
                vec![json!(null), json!(1.5)],
            ],
            truncated: false,
        }
    }

    #[test]
    fn table_is_aligned() {
        assert_eq!(
            render_table(&t()),
            "hashtag  count\n-------  -----\n#trump     120\n#a,\"b\"       7\n           1.5\n"
        );
    }

    /// A stranger's tag may hold an escape sequence (`--extract spark` keeps it): the table,
    /// for a terminal, shows it escaped; CSV, for programs, keeps the exact text.
    #[test]
    fn control_characters_are_escaped_for_the_terminal_only() {
        let t = Table {
            columns: vec!["hashtag".into()],
            rows: vec![vec![json!("#evil\u{1b}[2J\u{1b}]0;pwned\u{7}")]],
            truncated: false,
        };
        let table = render_table(&t);
        assert!(
            !table.contains('\u{1b}') && !table.contains('\u{7}'),
            "{table:?}"
        );
        assert!(
            table.contains("#evil\\u{1b}[2J\\u{1b}]0;pwned\\u{7}"),
            "{table}"
        );
        assert!(render_csv(&t).contains('\u{1b}'));
        assert_eq!(crate::log::printable("#café 日本"), "#café 日本");
        assert_eq!(crate::log::printable("a\u{85}b\u{7f}"), "a\\u{85}b\\u{7f}");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(
            render_csv(&t()),
            "hashtag,count\n#trump,120\n\"#a,\"\"b\"\"\",7\n,1.5\n"
        );
    }
}
