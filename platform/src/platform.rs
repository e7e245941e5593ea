//! The local platform as a whole: today the MQTT broker and its device registry; later phases add
//! the OTA side (firmware pushes over MQTT, an HTTPS firmware server) here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::broker::Broker;
use crate::devices::{default_devices, Device};

/// Host name test programs use for plain MQTT.
pub const HOST: &str = "127.0.0.1";
/// Host name test programs use for MQTT over TLS (the only name in the server certificate).
pub const TLS_HOST: &str = "localhost";

/// A running local platform. Dropping it stops everything it started.
pub struct Platform {
    pub broker: Broker,
}

impl Platform {
    /// Starts the platform in `state_dir` with the default devices (see [`default_devices`]).
    pub fn start(state_dir: &Path) -> std::io::Result<Platform> {
        Platform::with_devices(state_dir, &default_devices())
    }

    /// Starts the platform in `state_dir` for `devices` (at least one).
    pub fn with_devices(state_dir: &Path, devices: &[Device]) -> std::io::Result<Platform> {
        if devices.is_empty() {
            return Err(std::io::Error::other("at least one device is needed"));
        }
        Ok(Platform {
            broker: Broker::start(state_dir, devices)?,
        })
    }

    /// The devices the platform knows.
    pub fn devices(&self) -> &[Device] {
        self.broker.devices()
    }

    /// The folder holding the PKI, configuration, pid file and logs.
    pub fn state_dir(&self) -> &Path {
        self.broker.state_dir()
    }

    /// The environment `aiot-platform exec` gives the program it runs. `platform_exe` is the path
    /// of the `aiot-platform` executable (for `AIOT_PLATFORM`, used to call `broker-ctl`).
    pub fn env(&self, platform_exe: &Path) -> Vec<(&'static str, OsString)> {
        let info = &self.broker.info;
        let devices = self.devices();
        let d1 = &devices[0];
        let d2 = devices.get(1).unwrap_or(d1);
        let s = |v: &str| OsString::from(v);
        let p = |v: PathBuf| v.into_os_string();
        vec![
            ("AIOT_HOST", s(HOST)),
            ("AIOT_TLS_HOST", s(TLS_HOST)),
            ("AIOT_PORT", s(&info.tcp_port.to_string())),
            ("AIOT_TLS_PORT", s(&info.tls_port.to_string())),
            ("AIOT_PRODUCT_KEY", s(&d1.product_key)),
            ("AIOT_DEVICE_NAME", s(&d1.device_name)),
            ("AIOT_DEVICE_SECRET", s(&d1.device_secret)),
            ("AIOT_DEVICE_NAME2", s(&d2.device_name)),
            ("AIOT_DEVICE_SECRET2", s(&d2.device_secret)),
            ("AIOT_CA_FILE", p(info.ca_file())),
            ("AIOT_WRONG_CA_FILE", p(info.wrong_ca_file())),
            ("AIOT_BROKER_PID_FILE", p(info.pid_file())),
            ("AIOT_STATE_DIR", p(info.state_dir.clone())),
            ("AIOT_PLATFORM", p(platform_exe.to_owned())),
        ]
    }
}
