//! Status codes of the data-model module (`aiot_dm_api.h`).

#![allow(missing_docs)]

/// Base of the data-model codes.
pub const STATE_DM_BASE: i32 = -0x0A00;
/// `AIOT_DMMSG_EVENT_POST` without `event_id`.
pub const STATE_DM_EVENT_ID_IS_NULL: i32 = -0x0A01;
/// A service reply without `service_id`.
pub const STATE_DM_SERVICE_ID_IS_NULL: i32 = -0x0A02;
/// A synchronous (RRPC) reply without `rrpc_id`.
pub const STATE_DM_RRPC_ID_IS_NULL: i32 = -0x0A03;
/// A request without `params`.
pub const STATE_DM_MSG_PARAMS_IS_NULL: i32 = -0x0A04;
/// A reply without `data`.
pub const STATE_DM_MSG_DATA_IS_NULL: i32 = -0x0A05;
/// A topic could not be built or read.
pub const STATE_DM_INTERNAL_TOPIC_ERROR: i32 = -0x0A06;
/// `aiot_dm_send` before `AIOT_DMOPT_MQTT_HANDLE` (or after that MQTT handle was freed).
pub const STATE_DM_MQTT_HANDLE_IS_NULL: i32 = -0x0A07;
/// Log code: a data-model message arrived.
pub const STATE_DM_LOG_RECV: i32 = -0x0A08;
/// Log code: an arrived message could not be parsed (upstream's spelling).
pub const SATAE_DM_LOG_PARSE_RECV_MSG_FAILED: i32 = -0x0A09;
