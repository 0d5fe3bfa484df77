//! tagstream: real-time trending hashtags — sliding-window top-K over text streams, on
//! timely dataflow.
//!
//! Modules in data-path order:

#![deny(missing_docs)]

/// Sources: files, stdin, TCP line sockets, the generator; how work is shared by workers.
pub mod sources;
/// The record type and how lines are decoded (text, JSON lines, timestamps).
pub mod record;
/// The timely dataflow: ingest, exchange, per-shard windows, merge.
pub mod dataflow;
/// Results shown: JSON lines, tables, the terminal chart.
pub mod views;
/// Counters of a running engine.
pub mod metrics;
/// One-line messages.
pub mod log;
/// The command line.
pub mod cli;
/// `run` and `demo`.
pub mod engine;
/// `extract`.
pub mod extract;
/// `gen`.
pub mod gen;
