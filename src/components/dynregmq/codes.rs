//! Status codes of dynamic registration over MQTT (`aiot_dynregmq_api.h`).

#![allow(missing_docs)]

/// Base of the dynreg-mqtt codes.
pub const STATE_DYNREGMQ_BASE: i32 = -0x0500;
/// `aiot_dynregmq_deinit` waited longer than the deinit timeout for calls in progress.
pub const STATE_DYNREGMQ_DEINIT_TIMEOUT: i32 = -0x0501;
/// `aiot_dynregmq_recv` was called before `aiot_dynregmq_send_request`.
pub const STATE_DYNREGMQ_NEED_SEND_REQUEST: i32 = -0x0502;
/// No answer arrived within `AIOT_DYNREGMQOPT_TIMEOUT_MS`.
pub const STATE_DYNREGMQ_AUTH_TIMEOUT: i32 = -0x0503;
