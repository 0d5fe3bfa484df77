//! tagstream: real-time trending hashtags — sliding-window top-K over text streams, on
//! timely dataflow.
//!
//! Modules in data-path order (ARCHITECTURE.md walks them folder by folder):
//! - [`commands`]: one file per subcommand, dispatched by `main.rs`; flags in [`cli`] (and
//!   [`config`] for `--config` files);
//! - [`job`]: one run of the pipeline with its outputs (`run`, `demo`, embedding);
//! - [`sources`]: files, stdin, sockets, the generator, live services, Kafka; how workers
//!   share them;
//! - [`record`] and [`track`]: how lines are decoded, the `--track` filter;
//! - [`dataflow`]: the timely dataflow: ingest, exchange, shards, merger, checkpoints;
//! - [`results`] and [`sql`]: the SQLite store, PostgreSQL sinks, live state; read-only SQL;
//! - [`views`]: results shown as tables, the terminal chart, HTTP, PNG/SVG (views read
//!   results, never the reverse);
//! - [`metrics`], [`log`], [`time`], [`shutdown`], [`lockfile`], [`smallfile`]: counters
//!   and the run summary, one-line messages, times as text, the stop flag, one writer per
//!   file, files of a few lines read with a bound — below everything else.

#![deny(missing_docs)]

pub mod commands;
pub mod cli;
pub mod config;
pub mod job;
pub mod sources;
pub mod record;
pub mod track;
pub mod dataflow;
pub mod results;
pub mod sql;
pub mod views;
pub mod metrics;
pub mod log;
pub mod time;
pub mod shutdown;
pub mod lockfile;
pub mod smallfile;
