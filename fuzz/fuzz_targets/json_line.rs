#![no_main]
// The body is fuzz_targets::json_line::run, which tests/corpus.rs also runs on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::json_line::run(data));
