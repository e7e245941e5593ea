//! aiot-platform: a local stand-in for the Aliyun IoT platform, for tests and for people
//! rehearsing device firmware on their desk.
//!
//! - [`Broker`]: a real mosquitto on 127.0.0.1 that authenticates devices as Aliyun does
//!   (user `<deviceName>&<productKey>`, password [`aliyun_password`]), with a per-device ACL, a
//!   plain TCP listener and a TLS listener whose certificate (DNS:localhost only) is signed by a
//!   CA generated into the state folder.
//! - [`Platform`]: the broker plus everything a test program needs to reach it
//!   ([`Platform::env`], the `AIOT_*` contract of `aiot-platform exec`); the OTA side joins it
//!   in later phases.
//! - [`thing::ThingService`]: the data-model and NTP side (Alink replies, NTP answers, the log
//!   of device uplinks), with thing models per product ([`thing_model`]).
//! - [`provision`] and [`auth_server::AuthServer`]: products with a product secret, dynamic
//!   registration (HTTPS and MQTT `authType=register|regnwl`, the latter answered through the
//!   mosquitto plugin), bootstrap answers and the HTTP uplink (`/auth`, `/topic/...`).
//!
//! ```no_run
//! let dir = std::env::temp_dir().join("my-test");
//! let platform = aiot_platform::Platform::start(&dir).unwrap();
//! let d = &platform.devices()[0];
//! println!("{}:{} as {}", aiot_platform::HOST, platform.broker.tcp_port(), d.username());
//! ```

pub mod auth_server;
pub mod broker;
pub mod devices;
pub mod firmware;
pub mod http_uplink;
pub mod mqtt_download;
pub mod ota;
pub mod pki;
pub mod platform;
pub mod process;
pub mod provision;
pub mod task;
pub mod thing;
pub mod thing_model;

pub use broker::{Broker, BrokerInfo, PLATFORM_USER};
pub use devices::{aliyun_password, default_devices, Device};
pub use platform::{Platform, HOST, TLS_HOST};
pub mod answer_service;
pub mod devinfo;
pub mod logpost;
pub mod shadow;
