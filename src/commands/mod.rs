//! One file per subcommand. Each turns its flags (`cli.rs`) into work for the layers below
//! and maps failures to one-line errors; `main.rs` only dispatches here.
//!
//! - `run` (and `demo`, which is `run` with other defaults): the engine, through `job`;
//! - `gen`: the synthetic generator to stdout, a line server, or Kafka;
//! - `receive`: a source forwarded as text lines to TCP clients (the tutorial's receiver);
//! - `sql`: a read-only query on a results database or a running engine;
//! - `chart`: the bar chart of a window as PNG or SVG;
//! - `extract`: the tags of each stdin line (debugging; the conformance runner).

pub mod chart;
pub mod extract;
pub mod gen;
pub mod receive;
pub mod run;
pub mod sql;
