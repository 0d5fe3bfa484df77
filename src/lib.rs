//! tagstream: real-time trending hashtags — sliding-window top-K over text streams, on
//! timely dataflow.
//!
//! Modules in data-path order:

#![deny(missing_docs)]

/// The command line.
pub mod cli;
/// The timely dataflow: ingest, exchange, per-shard windows, merge.
pub mod dataflow;
/// `run` and `demo`.
pub mod engine;
/// `extract`.
pub mod extract;
/// `gen`.
pub mod gen;
/// One-line messages.
pub mod log;
/// Counters of a running engine.
pub mod metrics;
/// The record type and how lines are decoded (text, JSON lines, timestamps).
pub mod record;
/// Sources: files, stdin, TCP line sockets, the generator; how work is shared by workers.
pub mod sources;
/// Results shown: JSON lines, tables, the terminal chart.
pub mod views;
