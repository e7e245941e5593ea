//! A `download_reply` of OTA over MQTT: header length, JSON header, block data, CRC.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aiot::fuzz_api::mqtt_download_reply(data));
