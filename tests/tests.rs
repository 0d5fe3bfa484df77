//! The one integration test binary: every test drives the real `tagstream` binary.

/// Running the binary, temp dirs, the shared oracle scripts.
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
