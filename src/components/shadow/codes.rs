//! Status codes of the shadow module (`aiot_shadow_api.h`).

/// -0x1300 to -0x13FF: status codes of the shadow module.
pub const STATE_SHADOW_BASE: i32 = -0x1300;
/// No MQTT handle is set: set one with `AIOT_SHADOWOPT_MQTT_HANDLE` first.
pub const STATE_SHADOW_MQTT_HANDLE_IS_NULL: i32 = -0x1301;
/// `reported` is NULL in an `AIOT_SHADOWMSG_UPDATE` or `AIOT_SHADOWMSG_DELETE_REPORTED` message.
pub const STATE_SHADOW_REPORTED_DATA_IS_NULL: i32 = -0x1302;
/// The topic of a received message names no product key or device name.
pub const STATE_SHADOW_INTERNAL_TOPIC_ERROR: i32 = -0x1303;
/// Log code of a received message handed to the receive handler.
pub const STATE_SHADOW_LOG_RECV: i32 = -0x1304;
/// Log code of a received message that was refused (upstream's spelling).
pub const SATAE_SHADOW_LOG_PARSE_RECV_MSG_FAILED: i32 = -0x1305;
