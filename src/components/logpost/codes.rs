//! Status codes of the logpost module (`aiot_logpost_api.h`).

/// -0x1500 to -0x15FF: status codes of the logpost module.
pub const STATE_LOGPOST_BASE: i32 = -0x1500;
/// No MQTT handle is set: set one with `AIOT_LOGPOSTOPT_MQTT_HANDLE` first.
pub const STATE_LOGPOST_MQTT_HANDLE_IS_NULL: i32 = -0x1501;
/// The cloud has user log upload switched off (`mode` 0, the default until it says otherwise).
pub const STATE_LOGPOST_POST_TURN_OFF: i32 = -0x1502;
/// The level is not one of `aiot_logpost_level_t`.
pub const STATE_LOGPOST_LOGLEVEL_ERROR: i32 = -0x1503;
/// `module_name` is NULL.
pub const STATE_LOGPOST_LOG_MODULE_NAME_IS_NULL: i32 = -0x1504;
/// `content` is NULL.
pub const STATE_LOGPOST_LOG_CONTENT_IS_NULL: i32 = -0x1505;
/// `content` is longer than 4096 bytes.
pub const STATE_LOGPOST_LOG_CONTENT_TOO_LONG: i32 = -0x1506;
/// Log code: a log config arrived from the cloud, or a system log was sent.
pub const STATE_LOGPOST_LOG_RECV: i32 = -0x1507;
/// Log code: a log config from the cloud could not be parsed (upstream's spelling).
pub const SATAE_LOGPOST_LOG_PARSE_MSG_FAILED: i32 = -0x1508;
