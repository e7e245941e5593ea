//! Bytes from a broker: an optional CONNACK, then MQTT frames as the client reads them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aiot::fuzz_api::mqtt_frame(data));
