//! A shadow message on `/shadow/get/+/+`: the topic up to the first newline, the payload after it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (topic, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    aiot::fuzz_api::shadow_downlink(topic, payload);
});
