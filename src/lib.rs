//! tagstream: real-time trending hashtags — sliding-window top-K over text streams, on
//! timely dataflow.
//!
//! Modules in data-path order (ARCHITECTURE.md walks them file by file):
//! - [`sources`]: files, stdin, TCP line sockets, the generator; how work is shared by workers;
//! - [`record`]: the record type and how lines are decoded (text, JSON lines, timestamps);
//! - [`track`]: the `--track` topic filter;
//! - [`dataflow`]: the timely dataflow: ingest, exchange, per-shard windows, merge;
//! - [`results`] and [`sql`]: the SQLite store, PostgreSQL sinks, live state; read-only SQL;
//! - [`views`]: results shown as JSON lines, tables, the live terminal chart, HTTP, PNG/SVG;
//! - [`metrics`] and [`log`]: counters and one-line messages;
//! - [`cli`], [`config`], [`engine`], [`extract`], [`gen`]: the command line, the config
//!   file, and the subcommands.

#![deny(missing_docs)]

pub mod sources;
pub mod record;
pub mod track;
pub mod dataflow;
pub mod checkpoint;
pub mod results;
pub mod sql;
pub mod views;
pub mod metrics;
pub mod log;
pub mod cli;
pub mod config;
pub mod engine;
pub mod extract;
pub mod gen;
pub mod genpool;
pub mod sqlcmd;
pub mod receive;
