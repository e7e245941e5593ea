//! The cloud's log config (`thing/config/log/get_reply` or `.../push` payload).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aiot::fuzz_api::logpost_config(data));
