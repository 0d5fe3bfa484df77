//! The bodies of tagstream's fuzz targets (issue 13), one module per target.
//!
//! Each target is a plain function of the input bytes that panics when a property fails. Two
//! drivers run the same functions:
//! - `fuzz/` (excluded from the workspace, nightly): `cargo fuzz run NAME`, one thin
//!   `fuzz_target!` per entry of [`TARGETS`];
//! - `tests/corpus.rs` (stable, in `cargo test --workspace`): every committed input under
//!   `fuzz/corpus/NAME/` and `fuzz/regressions/NAME/`, and a named test per regression.
//!
//! Targets check properties, not only "does not crash": differential models (a naive line
//! splitter, a `serde_json::Value` walk, a whole-input SSE reading), round trips (checkpoint
//! encode → decode, snapshot → restore → snapshot, a live post through its JSON line,
//! `rfc3339` → `parse_time`), and bounds on what a decoder allocates ([`meter`]).

#![deny(missing_docs)]

pub mod meter;
pub mod model;
pub mod pieces;

pub mod checkpoint;
pub mod hashtag;
pub mod jetstream;
pub mod json_line;
pub mod lines;
pub mod mastodon_status;
pub mod merger_restore;
pub mod shard_restore;
pub mod sse;
pub mod time;
pub mod x_stream;

/// A target's body: panics when a property fails.
pub type Target = fn(&[u8]);

/// Every target: its name (the `fuzz/` binary and the corpus folder) and its body.
pub const TARGETS: &[(&str, Target)] = &[
    ("json_line", json_line::run),
    ("lines", lines::run),
    ("x_stream", x_stream::run),
    ("sse", sse::run),
    ("mastodon_status", mastodon_status::run),
    ("jetstream", jetstream::run),
    ("checkpoint", checkpoint::run),
    ("shard_restore", shard_restore::run),
    ("merger_restore", merger_restore::run),
    ("time", time::run),
    ("hashtag", hashtag::run),
];

/// The body of the target named `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
}
