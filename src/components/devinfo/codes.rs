//! Status codes of the device-tag module (`aiot_devinfo_api.h`).

/// -0x1200 to -0x12FF: status codes of the device-tag module.
pub const STATE_DEVINFO_BASE: i32 = -0x1200;
/// No MQTT handle is set: set one with `AIOT_DEVINFOOPT_MQTT_HANDLE` first.
pub const STATE_DEVINFO_MISSING_MQTT_HANDLE: i32 = -0x1201;
