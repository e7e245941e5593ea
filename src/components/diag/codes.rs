//! Status codes of the diag module (`aiot_diag_api.h`).

/// -0x1400 to -0x14FF: status codes of the diag module.
pub const STATE_DIAG_BASE: i32 = -0x1400;
/// Reserved by upstream.
pub const STATE_DIAG_LOG_UNKNOWN_STATE_CODE_BASE: i32 = -0x1401;
/// Reserved by upstream.
pub const STATE_DIAG_CODE2: i32 = -0x1402;
/// Log code: publishing an alert to the cloud failed.
pub const STATE_DIAG_PUB_FAILED: i32 = -0x1403;
