//! Status codes of dynamic registration over HTTPS (`aiot_dynreg_api.h`).

#![allow(missing_docs)]

/// Base of the dynreg codes.
pub const STATE_DYNREG_BASE: i32 = -0x0600;
/// `aiot_dynreg_deinit` waited longer than the deinit timeout for calls in progress.
pub const STATE_DYNREG_DEINIT_TIMEOUT: i32 = -0x0601;
/// `aiot_dynreg_recv` was called before `aiot_dynreg_send_request`.
pub const STATE_DYNREG_NEED_SEND_REQUEST: i32 = -0x0602;
/// The answer's HTTP status was not 200 (or no receive handler is set).
pub const STATE_DYNREG_INVALID_STATUS_CODE: i32 = -0x0603;
/// The answer carried no device secret.
pub const STATE_DYNREG_INVALID_DEVICE_SECRET: i32 = -0x0604;
