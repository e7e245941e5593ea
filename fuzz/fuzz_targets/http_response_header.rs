//! What a firmware server answers to the download's GET: status line, header, body.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aiot::fuzz_api::http_response_header(data));
