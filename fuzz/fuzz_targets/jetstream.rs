#![no_main]
// The body is fuzz_targets::jetstream::run, which tests/corpus.rs also runs on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::jetstream::run(data));
