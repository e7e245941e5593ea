//! A data-model downlink: the first byte picks the topic filter, then the topic up to the
//! first newline, the payload after it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&route, rest)) = data.split_first() else {
        return;
    };
    let (topic, payload) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    aiot::fuzz_api::dm_downlink(route, topic, payload);
});
