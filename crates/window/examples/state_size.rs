//! Prints the heap bytes per distinct tag of one shard's window state (issue 5: at most 64 at
//! 10^7 distinct tags).
//!
//! ```text
//! cargo run -p window --release --example state_size [N ...]   # default: 10000000
//! ```
//!
//! For each N: N distinct 12-byte tags pushed into one pane of a 60 s / 10 s window, then
//! the first window closed. Prints the live heap bytes per tag after the pushes (tags and
//! stash), after the window closed (the window state), the peak in between, and the
//! process's resident set size for comparison.

// An example's output is its point.
#![allow(clippy::print_stdout)]

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

fn main() {
    let ns: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.replace('_', "")
                .parse()
                .expect("N: a number of distinct tags")
        })
        .collect();
    let ns = if ns.is_empty() { vec![10_000_000] } else { ns };
    println!(
        "distinct_tags  bytes/tag_pushed  bytes/tag_window_state  bytes/tag_peak  \
         rss_MiB  rss_peak_MiB"
    );
    for n in ns {
        let (size, shard) = counting::measure(n);
        let (rss, hwm) = counting::rss().unwrap_or((0, 0));
        println!(
            "{:>13}  {:>16.1}  {:>22.1}  {:>14.1}  {:>7}  {:>12}",
            size.n,
            size.pushed,
            size.applied,
            size.peak,
            rss >> 20,
            hwm >> 20
        );
        drop(shard);
    }
}
