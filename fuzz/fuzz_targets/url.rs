//! A firmware URL as a push carries it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aiot::fuzz_api::url(data));
