//! aiot-platform: a local stand-in for the Aliyun IoT platform, for tests and for people
//! rehearsing device firmware on their desk.

pub mod broker;
pub mod devices;
pub mod pki;

pub use broker::{Broker, BrokerInfo};
pub use devices::{aliyun_password, default_devices, Device};
