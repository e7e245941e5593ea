//! A task downlink: the first byte picks the topic filter (notify, get_reply, update_reply),
//! the payload follows (the handlers do not read the topic).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&route, payload)) = data.split_first() else {
        return;
    };
    aiot::fuzz_api::task_downlink(route, payload);
});
