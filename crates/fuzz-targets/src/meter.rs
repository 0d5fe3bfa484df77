//! How many heap bytes a closure holds at its peak, on this thread: the global allocator of
//! every program that links this crate (the fuzz binaries and the corpus test) forwards to the
//! system allocator and counts.
//!
//! Decoders of untrusted bytes must never allocate in proportion to a length or count they
//! read without the bytes to back it; [`peak`] lets a target assert that what a decoder held is
//! bounded by its input (or by its configured limit), whatever the input claims.
//!
//! Counting is per thread (the corpus test runs targets on several threads at once) and only
//! inside [`peak`]; the thread-locals are `const`-initialised `Cell`s without destructors, so
//! reading them never allocates (which an allocator must not do).

// GlobalAlloc is an unsafe trait. This implementation only forwards each call to `System`
// unchanged and counts sizes; it adds no unsafe operation of its own.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to [`System`] and counts what is live on the metering thread.
struct Meter;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = ON.try_with(|on| {
        if on.get() {
            let live = LIVE.get() + delta;
            LIVE.set(live);
            PEAK.set(PEAK.get().max(live));
        }
    });
}

fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every method calls the same method of `System` with the caller's arguments, so the
// contract holds exactly as it does for `System`; the bookkeeping touches no memory it hands
// out.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(signed(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(signed(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) };
        note(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(signed(new_size) - signed(layout.size()));
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Meter = Meter;

/// Runs `f` and returns its result with the most heap bytes it held at once on this thread
/// (its result included; memory freed that was allocated before does not count against it).
pub fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            ON.set(false); // also when `f` panics
        }
    }
    assert!(!ON.get(), "meter::peak does not nest");
    LIVE.set(0);
    PEAK.set(0);
    ON.set(true);
    let off = Off;
    let out = f();
    drop(off);
    (out, usize::try_from(PEAK.get()).unwrap_or(0))
}

/// Asserts that `held` bytes are at most `per_byte` per input byte plus `slack`.
pub fn assert_within(what: &str, held: usize, input: usize, per_byte: usize, slack: usize) {
    let bound = input.saturating_mul(per_byte).saturating_add(slack);
    assert!(
        held <= bound,
        "{what} held {held} bytes for {input} input bytes (bound {bound})"
    );
}
