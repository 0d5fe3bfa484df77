//! Everything that shows results: a plain table per window, the live terminal chart, the
//! HTTP API with its dashboard and Prometheus metrics, PNG/SVG charts. Views read `results`;
//! nothing in `results` knows about them.

pub mod chart;
pub mod http;
pub mod prom;
pub mod table;
pub mod term;
