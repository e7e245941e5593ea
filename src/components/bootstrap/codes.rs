//! Status codes of the bootstrap module (`aiot_bootstrap_api.h`).

#![allow(missing_docs)]

/// -0x0700 to -0x07FF: status codes of the bootstrap module.
pub const STATE_BOOTSTRAP_BASE: i32 = -0x0700;
/// `aiot_bootstrap_deinit` waited longer than the deinit timeout for calls in progress.
pub const STATE_BOOTSTRAP_DEINIT_TIMEOUT: i32 = -0x0701;
/// `aiot_bootstrap_recv` was called before `aiot_bootstrap_send_request`.
pub const STATE_BOOTSTRAP_NEED_SEND_REQUEST: i32 = -0x0702;
/// The bootstrap answer's HTTP status was not 200.
pub const STATE_BOOTSTRAP_INVALID_STATUS_CODE: i32 = -0x0703;
/// The bootstrap answer named no usable MQTT host and port.
pub const STATE_BOOTSTRAP_INVALID_CONNECTION_INFO: i32 = -0x0704;
