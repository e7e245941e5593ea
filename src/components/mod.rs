//! The components, one folder each as upstream's `components/`; each is a cargo feature (and a
//! CMake option) and uses the core only through the MQTT session's component API.

/// Bootstrap: the MQTT endpoint from the bootstrap service, and its notify (`aiot_bootstrap_*`).
#[cfg(feature = "bootstrap")]
pub mod bootstrap;
/// Device tags: update, delete and get (`aiot_devinfo_*`).
#[cfg(feature = "devinfo")]
pub mod devinfo;
/// Diag: the SDK's self-diagnosis of connect, heartbeat and Alink reply times (`aiot_diag_*`).
#[cfg(feature = "diag")]
pub mod diag;
/// Data model: thing-model properties, events, services and raw data (`aiot_dm_*`).
#[cfg(feature = "dm")]
pub mod dm;
/// Firmware download over HTTP(S) with Range, renewal and digest check (`aiot_download_*`).
#[cfg(feature = "ota")]
pub mod download;
/// Dynamic registration over HTTPS (`aiot_dynreg_*`).
#[cfg(feature = "dynreg")]
pub mod dynreg;
/// Dynamic registration over MQTT (`aiot_dynregmq_*`).
#[cfg(feature = "dynregmq")]
pub mod dynregmq;
/// The one internal HTTP/1.1 client (download, dynamic registration, bootstrap, HTTP uplink).
#[cfg(any(feature = "ota", feature = "dynreg", feature = "bootstrap", feature = "http"))]
pub(crate) mod http;
/// The HTTP uplink: token auth and topic posts over HTTP(S) (`aiot_http_*`).
#[cfg(feature = "http")]
pub mod http_uplink;
/// Logpost: device logs to the cloud, switched by the cloud's log config (`aiot_logpost_*`).
#[cfg(feature = "logpost")]
pub mod logpost;
/// OTA over MQTT: the image fetched in CRC-checked blocks (`aiot_mqtt_download_*`).
#[cfg(feature = "mqtt_download")]
pub mod mqtt_download;
/// NTP: the platform's time as a local date, and the log clock rebased on it (`aiot_ntp_*`).
#[cfg(feature = "ntp")]
pub mod ntp;
/// OTA: version reports, upgrade and config pushes (`aiot_ota_*`).
#[cfg(feature = "ota")]
pub mod ota;
/// Raw JSON spans: values handed over as the sender wrote them, located in text serde_json has
/// checked (dm, task, shadow, devinfo).
#[cfg(any(feature = "dm", feature = "task", feature = "shadow", feature = "devinfo"))]
#[cfg_attr(
    not(all(feature = "dm", feature = "task", feature = "shadow", feature = "devinfo")),
    allow(dead_code)
)]
pub(crate) mod rawjson;
/// Device shadow: reported/desired document with versions, cloud control pushes (`aiot_shadow_*`).
#[cfg(feature = "shadow")]
pub mod shadow;
/// Task (job management): job queries, status reports and pushed jobs (`aiot_task_*`).
#[cfg(feature = "task")]
pub mod task;
