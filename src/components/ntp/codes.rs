//! Status codes of the NTP module (`aiot_ntp_api.h`).

/// -0x1100 to -0x11FF: status codes of the NTP module.
pub const STATE_NTP_BASE: i32 = -0x1100;
/// No MQTT handle is set: set one with `AIOT_NTPOPT_MQTT_HANDLE` first.
pub const STATE_NTP_MISSING_MQTT_HANDLE: i32 = -0x1101;
