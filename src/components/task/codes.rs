//! Status codes of the task (job management) module (`aiot_task_api.h`).

#![allow(missing_docs)]

/// -0x0B00 to -0x0BFF: status codes of the task module.
pub const STATE_TASK_BASE: i32 = -0x0B00;
/// Not returned (`aiot_task_deinit` answers `STATE_USER_INPUT_NULL_POINTER`, as upstream).
pub const STATE_TASK_DEINIT_HANDLE_IS_NULL: i32 = -0x0B01;
/// `aiot_task_setopt` with a NULL handle.
pub const STATE_TASK_SETOPT_HANDLE_IS_NULL: i32 = -0x0B02;
/// Log code: a notify arrived (also the lines about its task description).
pub const STATE_TASK_RECV_NOTIFY: i32 = -0x0B03;
/// Log code: a notify was refused (not handed to the receive handler).
pub const STATE_TASK_PARSE_NOTIFY_FAILED: i32 = -0x0B04;
/// Not returned (memory is never short in a way this module could report).
pub const STATE_TASK_PARSE_JSON_MALLOC_FAILED: i32 = -0x0B05;
/// Log code: a get_reply or update_reply was refused (not handed to the receive handler).
pub const STATE_TASK_PARSE_JSON_ERROR: i32 = -0x0B06;
/// Not returned (a NULL task id asks for `$next`).
pub const STATE_TASK_QUERY_TASK_ID_IS_NULL: i32 = -0x0B07;
/// Log code: a get_reply list was cut to its first 10 entries.
pub const STATE_TASK_RECV_GET_LIST_REPLY: i32 = -0x0B08;
/// `aiot_task_setopt` with NULL data.
pub const STATE_TASK_SETOPT_DATA_IS_NULL: i32 = -0x0B09;
/// `aiot_task_update` with a status the device cannot send (`AIOT_TASK_STATUS_NOT_FOUND` or
/// out of range).
pub const STATE_TASK_UPDATE_STATUS_INVALID: i32 = -0x0B0A;
/// `aiot_task_update` with `status_details` = "" (NULL or a JSON object only).
pub const STATE_TASK_UPDATE_STATUS_DETAILS_INVALID: i32 = -0x0B0B;
