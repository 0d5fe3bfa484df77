#![no_main]
// The body is fuzz_targets::mastodon_status::run, which tests/corpus.rs also runs on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::mastodon_status::run(data));
