//! Status codes of the MQTT download module (`aiot_mqtt_download_api.h`).

/// -0x1D00 to -0x1DFF: status codes of the MQTT download module.
pub const STATE_MQTT_DOWNLOAD_BASE: i32 = -0x1D00;
/// The download handle is NULL.
pub const STATE_MQTT_DOWNLOAD_MQTT_HANDLE_NULL: i32 = -0x1D01;
/// No task is set, or the task's MQTT handle is gone.
pub const STATE_MQTT_DOWNLOAD_TASK_DEINIT: i32 = -0x1D02;
/// Ready: the next `aiot_mqtt_download_process` sends the first request.
pub const STATE_MQTT_DOWNLOAD_INIT: i32 = -0x1D03;
/// Downloading.
pub const STATE_MQTT_DOWNLOAD_ING: i32 = -0x1D04;
/// Every byte of the range arrived; the whole-file digest is checked next.
pub const STATE_MQTT_DOWNLOAD_FINISHED: i32 = -0x1D05;
/// Done: the range arrived with good block CRCs and, for a whole file, its digest matched.
pub const STATE_MQTT_DOWNLOAD_SUCCESS: i32 = -0x1D06;
/// A block failed more than 3 times in a row (no reply, or bad replies).
pub const STATE_MQTT_DOWNLOAD_FAILED_TIMEOUT: i32 = -0x1D07;
/// The whole file's digest did not match (or could not be checked).
pub const STATE_MQTT_DOWNLOAD_FAILED_MISMATCH: i32 = -0x1D08;
/// More bytes arrived than the range holds.
pub const STATE_MQTT_DOWNLOAD_FAILED_RECVERROR: i32 = -0x1D09;
/// The download was cancelled (not used).
pub const STATE_MQTT_DOWNLOAD_ABORT: i32 = -0x1D0A;
/// The range to fetch is empty (a task of size 0, or a start past the end).
pub const STATE_MQTT_DOWNLOAD_FILESIZE_ERROR: i32 = -0x1D0B;
