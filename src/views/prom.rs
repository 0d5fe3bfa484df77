//! `GET /metrics`: the engine's counters in Prometheus's text exposition format (0.0.4), every
//! name `tagstream_*`, each with HELP and TYPE lines.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use crate::metrics::{Histogram, SourceCounters, BUCKETS};
use crate::results::live::LiveState;

/// Writes one metric family's HELP and TYPE lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A metric with no labels.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    family(out, name, "histogram", help);
    let mut cumulative = 0;
    for (i, b) in BUCKETS.iter().enumerate() {
        cumulative += h.buckets[i].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
    }
    cumulative += h.buckets[BUCKETS.len()].load(Relaxed);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(out, "{name}_sum {}", h.sum_us.load(Relaxed) as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {}", h.count.load(Relaxed));
}

/// Resident memory of this process in bytes, from `/proc/self/statm` (Linux; 0 elsewhere).
/// Window state alone is `tagstream_window_state_bytes`; this also holds what the allocator
/// keeps after freeing.
fn resident_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // 4 KiB pages: the page size of every Linux target we build for (x86_64, aarch64 default).
    pages * 4096
}

/// The whole exposition.
pub fn render(live: &LiveState) -> String {
    let m = &live.metrics;
    let s = m.snapshot();
    let mut out = String::with_capacity(4096);
    let o = &mut out;
    single(
        o,
        "tagstream_records_in_total",
        "counter",
        "Records accepted (decoded).",
        s.records_in,
    );
    single(
        o,
        "tagstream_bytes_in_total",
        "counter",
        "Bytes of input lines read.",
        s.bytes_in,
    );
    family(
        o,
        "tagstream_records_skipped_total",
        "counter",
        "Records skipped, by reason.",
    );
    for (reason, n) in s.skipped {
        let _ = writeln!(
            o,
            "tagstream_records_skipped_total{{reason=\"{reason}\"}} {n}"
        );
    }
    single(
        o,
        "tagstream_records_late_total",
        "counter",
        "Records dropped because every window that could hold them was already emitted.",
        s.late,
    );
    single(
        o,
        "tagstream_records_filtered_total",
        "counter",
        "Records left out by the --track filter.",
        s.filtered,
    );
    family(
        o,
        "tagstream_tags_skipped_total",
        "counter",
        "Tags left out of the counts, by reason (too_long: a key over 1024 bytes).",
    );
    let _ = writeln!(
        o,
        "tagstream_tags_skipped_total{{reason=\"too_long\"}} {}",
        s.tags_too_long
    );
    single(
        o,
        "tagstream_windows_emitted_total",
        "counter",
        "Windows emitted.",
        s.windows_emitted,
    );
    let sources = m.sources();
    type Read = fn(&SourceCounters) -> u64;
    let per_source: [(&str, &str, &str, Read); 4] = [
        (
            "tagstream_source_connected",
            "gauge",
            "Connections open now, by source.",
            |c| c.connected.load(Relaxed),
        ),
        (
            "tagstream_source_connections_total",
            "counter",
            "Connections opened (clients of a listening source included), by source.",
            |c| c.connections.load(Relaxed),
        ),
        (
            "tagstream_source_reconnects_total",
            "counter",
            "Reconnections, by source.",
            |c| c.reconnects.load(Relaxed),
        ),
        (
            "tagstream_source_records_total",
            "counter",
            "Records received, by source.",
            |c| c.records.load(Relaxed),
        ),
    ];
    for (metric, kind, help, read) in per_source {
        family(o, metric, kind, help);
        for (name, c) in &sources {
            let _ = writeln!(o, "{metric}{{source=\"{}\"}} {}", label(name), read(c));
        }
    }
    family(
        o,
        "tagstream_source_skipped_total",
        "counter",
        "Frames or messages skipped by a source, by source and reason.",
    );
    for (name, c) in &sources {
        for (reason, n) in c.skipped_all() {
            let _ = writeln!(
                o,
                "tagstream_source_skipped_total{{source=\"{}\",reason=\"{reason}\"}} {n}",
                label(name)
            );
        }
    }
    histogram(
        o,
        "tagstream_batch_processing_seconds",
        "From the input moving past a batch to the dataflow being done with it.",
        &m.batch_seconds,
    );
    histogram(
        o,
        "tagstream_window_emit_lag_seconds",
        "From a window's end to its emission (event time: how far the data trails the clock).",
        &live.lag,
    );
    single(
        o,
        "tagstream_last_window_emit_lag_seconds",
        "gauge",
        "Emit lag of the latest window.",
        live.lag.last_us.load(Relaxed) as f64 / 1e6,
    );
    let latest = live.latest();
    single(
        o,
        "tagstream_window_distinct_tags",
        "gauge",
        "Distinct tags in the latest window.",
        latest.as_ref().map_or(0, |e| e.distinct),
    );
    single(
        o,
        "tagstream_last_window_end_timestamp_seconds",
        "gauge",
        "End of the latest window, seconds since the epoch.",
        latest.as_ref().map_or(0.0, |e| e.end_ms as f64 / 1e3),
    );
    single(
        o,
        "tagstream_window_state_bytes",
        "gauge",
        "Heap bytes of this process's window state (panes, tags, stash, trends), as of each \
         shard's latest batch; bounded by --max-tags.",
        m.window_state_bytes(),
    );
    single(
        o,
        "tagstream_process_resident_memory_bytes",
        "gauge",
        "Resident memory of the process.",
        resident_bytes(),
    );
    single(
        o,
        "tagstream_uptime_seconds",
        "gauge",
        "Seconds since the results were opened.",
        live.started.elapsed().as_secs_f64(),
    );
    out
}
