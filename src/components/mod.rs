//! The components, one folder each as upstream's `components/`; each is a cargo feature (and a
//! CMake option) and uses the core only through the MQTT session's component API.

/// Firmware download over HTTP(S) with Range, renewal and digest check (`aiot_download_*`).
#[cfg(feature = "ota")]
pub mod download;
/// Dynamic registration over HTTPS (`aiot_dynreg_*`).
#[cfg(feature = "dynreg")]
pub mod dynreg;
/// Dynamic registration over MQTT (`aiot_dynregmq_*`).
#[cfg(feature = "dynregmq")]
pub mod dynregmq;
/// The one internal HTTP/1.1 client (download, dynamic registration over HTTPS).
#[cfg(any(feature = "ota", feature = "dynreg"))]
pub(crate) mod http;
/// OTA: version reports, upgrade and config pushes (`aiot_ota_*`).
#[cfg(feature = "ota")]
pub mod ota;
