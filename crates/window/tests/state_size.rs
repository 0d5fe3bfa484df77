//! Issue 5's target as a test: one shard's window state takes at most 64 heap bytes per
//! distinct tag at 10^7 distinct 12-byte tags. Ignored by default (it needs about 1 GB and
//! 10 s); run it with
//!
//! ```text
//! cargo test -p window --release --test state_size -- --ignored --nocapture
//! ```
//!
//! `examples/state_size.rs` prints the same figures for any number of tags.

#[path = "../examples/common/counting.rs"]
mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

#[test]
#[ignore = "needs about 1 GB and 10 s: run with --ignored"]
fn window_state_is_at_most_64_bytes_per_distinct_tag_at_10m_tags() {
    let (size, shard) = counting::measure(10_000_000);
    let (rss, _) = counting::rss().unwrap_or_default();
    eprintln!(
        "{} distinct tags: {:.1} bytes/tag pushed, {:.1} window state, {:.1} peak; RSS {} MiB",
        size.n,
        size.pushed,
        size.applied,
        size.peak,
        rss >> 20
    );
    assert!(size.applied <= 64.0, "{size:?}");
    drop(shard);
}
