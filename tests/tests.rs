//! The one integration test binary: every test drives the real `tagstream` binary.

/// Running the binary, temp dirs, the oracle scripts under tests/data.
mod util;

/// Bad records are skipped and counted; the run goes on.
mod bad_input;
/// Flags, config errors, exit codes, one-line messages.
mod cli;
/// twitter-text conformance and the reference extractor, through `tagstream extract`.
mod conformance;
/// The tutorial's Spark output over the election corpus, and determinism across workers.
mod parity;
/// `socket://` against a Python line server like the tutorial's receiver.
mod socket;
/// Files that are streams (FIFOs, devices), and every source's counters.
mod sources;
/// `x://` against a local server speaking the X API v2 filtered-stream protocol.
mod live_x;
/// `jetstream://` against a local WebSocket server speaking Jetstream's protocol.
mod live_jetstream;
/// `mastodon://` against a local SSE server speaking Mastodon's streaming protocol.
mod live_mastodon;
/// `tagstream receive`: a live source forwarded to line clients, fed into `tagstream run`.
mod receive;
/// The SQLite results store: tables, retention, restart, `tagstream sql` and its limits.
mod store;
/// The PostgreSQL sink against a real server on 127.0.0.1.
mod postgres;
/// `kafka://` and `gen --kafka` against a real Kafka-protocol broker on 127.0.0.1.
mod kafka;
/// The HTTP API: top, windows, SQL, SSE events, metrics, health.
mod http;
/// The live dashboard in headless Chromium.
mod browser;
/// `tagstream chart` PNG and SVG exports.
mod chart;
/// Checkpoints: kill -9 and restart, damaged files.
mod recover;
/// Issue 13: absurd times, gaps of years, overflowing flags.
mod hostile;
/// Issue 14: trends against known truth, determinism, tag identity.
mod trends;
/// Issue 15: bounded memory (`--max-tags`): exact below the bound, intervals that hold past it.
mod bounded;
/// The layering of src/: no import cycles, checkpoints and results import only downward.
mod structure;
