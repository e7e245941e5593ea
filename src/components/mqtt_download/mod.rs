//! OTA over MQTT (`aiot_mqtt_download_api.h`): the image of an OTA task pushed with
//! `dProtocol: mqtt` is fetched in blocks over the device's MQTT connection.
//!
//! - `frame`: the request payload, the reply frame (JSON header, data, CRC-16/ARC) and its checks;
//! - `machine`: the download as plain data and functions of the clock (no sockets): requests,
//!   replies, resends, timeouts, progress and the whole-file digest;
//! - `session`: the handle on its MQTT session (SUBSCRIBE, publish, progress reports, hooks);
//! - `codes`: `STATE_MQTT_DOWNLOAD_*`.

#![forbid(unsafe_code)]

pub mod codes;
pub mod frame;
pub mod machine;
mod session;

pub use machine::{Block, Machine, Range, Task};
pub use session::{MqttDownload, RecvFn};

#[cfg(test)]
mod tests;
