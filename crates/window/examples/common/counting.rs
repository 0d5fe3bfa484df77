//! A global allocator that counts live and peak heap bytes, and the window-state measurement
//! shared by `examples/state_size.rs` and `tests/state_size.rs`.
//!
//! The counts are of requested bytes (what the data structures ask for), not of what the
//! system allocator rounds them up to; the resident set size is printed beside them for that.

// A `GlobalAlloc` can only be written with `unsafe`: this one forwards every call unchanged to
// the system allocator and only adds to two counters.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use window::{Shard, WindowSpec};

/// Counts live and peak bytes on top of [`System`].
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments, so `System`'s
// guarantees carry over; the counters do not touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

/// Live heap bytes now.
pub fn live() -> usize {
    LIVE.load(Relaxed)
}

/// Restarts the peak at the live bytes now; returns the live bytes.
pub fn reset_peak() -> usize {
    let now = live();
    PEAK.store(now, Relaxed);
    now
}

/// Peak live bytes since the last [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Relaxed)
}

/// Resident set size and its high-water mark, in bytes, from `/proc/self/status` (Linux).
pub fn rss() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Bytes per distinct tag of one shard of a 60 s / 10 s window holding `n` distinct 12-byte
/// tags in one pane.
#[derive(Debug)]
pub struct StateSize {
    /// Distinct tags pushed.
    pub n: usize,
    /// Live bytes after the pushes, before `advance`: the interned tags and the stash.
    pub pushed: f64,
    /// Live bytes once the pane is applied and the first window closed: the window state.
    pub applied: f64,
    /// Peak live bytes from the first push to the end of `advance`.
    pub peak: f64,
}

/// The `i`-th tag: 12 bytes, `tag000000042`.
pub fn tag(i: usize, buf: &mut String) -> &str {
    use std::fmt::Write;
    buf.clear();
    write!(buf, "tag{i:09}").expect("writing to a String");
    buf
}

/// Pushes `n` distinct tags into pane 0 of a fresh shard (one datum each, count 1 + i % 7),
/// closes window 1, and measures the heap at each step. The shard is returned so that the
/// caller can look at it after the measurement (and drop it outside).
pub fn measure(n: usize) -> (StateSize, Shard) {
    let spec = WindowSpec::new(10_000, 60_000, 10_000).expect("valid spec");
    let base = reset_peak();
    let mut shard = Shard::new(spec, 10);
    let mut buf = String::new();
    for i in 0..n {
        shard.push(0, 0, tag(i, &mut buf), 1 + (i as u64 % 7));
    }
    let pushed = live() - base;
    let closed = shard.advance(Some(1));
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].distinct, n as u64);
    drop(closed);
    let applied = live() - base;
    let per = |b: usize| b as f64 / n as f64;
    let size = StateSize {
        n,
        pushed: per(pushed),
        applied: per(applied),
        peak: per(peak() - base),
    };
    (size, shard)
}
