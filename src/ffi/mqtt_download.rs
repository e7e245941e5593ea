//! `aiot_mqtt_download_api.h`: OTA over MQTT, the image fetched in CRC-checked blocks.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::handle::{deinit_handle, new_handle};
use super::mqtt::shared_client;
use super::ota::{aiot_download_task_desc_t, from_c_task};
use super::{data_ref, deref, guard, handler_data, read_data};
use crate::components::mqtt_download::codes::STATE_MQTT_DOWNLOAD_MQTT_HANDLE_NULL;
use crate::components::mqtt_download::frame::TOKEN_MAX;
use crate::components::mqtt_download::{Block, MqttDownload};
use crate::components::ota::codes::{
    STATE_DOWNLOAD_DEINIT_HANDLE_IS_NULL, STATE_DOWNLOAD_SETOPT_COPIED_DATA_IS_NULL,
};
use crate::state::*;

/// Kind of message passed to the download receive handler.
pub type aiot_mqtt_download_recv_type_t = u32;
/// A block of the file (`data.data_resp`).
pub const AIOT_MDRECV_DATA_RESP: aiot_mqtt_download_recv_type_t = 0;

/// One block of the file; every pointer lives only during the handler call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_mqtt_download_data_resp_t {
    /// The reply's `fileToken` (at most 127 bytes), NUL-terminated; empty when absent.
    pub filename: *mut c_char,
    /// Offset of the block in the file.
    pub offset: u32,
    /// Bytes in `data`.
    pub data_size: u32,
    pub data: *mut c_char,
    /// Percent of the range fetched so far (100 with the last block).
    pub percent: i32,
    /// Size of the whole file, as the platform states it.
    pub file_lenth: i32,
}

/// Payload of `aiot_mqtt_download_recv_t`, selected by its `type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_mqtt_download_recv_data_t {
    pub data_resp: aiot_mqtt_download_data_resp_t,
}

/// A message passed to the download receive handler.
#[repr(C)]
pub struct aiot_mqtt_download_recv_t {
    pub r#type: aiot_mqtt_download_recv_type_t,
    pub data: aiot_mqtt_download_recv_data_t,
}

/// Download receive handler, run on the thread calling `aiot_mqtt_recv`; `handle` is the
/// download handle.
pub type aiot_mqtt_download_recv_handler_t = Option<
    unsafe extern "C" fn(
        handle: *mut c_void,
        packet: *const aiot_mqtt_download_recv_t,
        userdata: *mut c_void,
    ),
>;

/// Options of `aiot_mqtt_download_setopt`; the comment gives the type `data` points to.
pub type aiot_mqtt_download_option_t = u32;
/// `aiot_mqtt_download_recv_handler_t` (the handler itself; NULL removes it).
pub const AIOT_MDOPT_RECV_HANDLE: aiot_mqtt_download_option_t = 0;
/// Not supported (the MQTT handle comes from the task): `STATE_USER_INPUT_OUT_RANGE`.
pub const AIOT_MDOPT_MQTT_HANDLE: aiot_mqtt_download_option_t = 1;
/// `void *` userdata for the receive handler.
pub const AIOT_MDOPT_USERDATA: aiot_mqtt_download_option_t = 2;
/// `aiot_download_task_desc_t *` from the OTA handler (`protocol_type` MQTT), copied; its
/// `mqtt_handle` carries the download. A new task starts a new download.
pub const AIOT_MDOPT_TASK_DESC: aiot_mqtt_download_option_t = 3;
/// `uint32_t *` first byte to fetch, default 0.
pub const AIOT_MDOPT_RANGE_START: aiot_mqtt_download_option_t = 4;
/// `uint32_t *` last byte to fetch, inclusive (start 0, end 9: ten bytes); 0 (default): the
/// end of the file; past the end: the end of the file. Only a download of the whole file is
/// checked against the task's digest (MD5 or SHA256); a range has its blocks' CRCs checked.
pub const AIOT_MDOPT_RANGE_END: aiot_mqtt_download_option_t = 5;
/// `uint32_t *` bytes asked for per request, default 5120; 0 is refused.
pub const AIOT_MDOPT_DATA_REQUEST_SIZE: aiot_mqtt_download_option_t = 6;
pub const AIOT_MDOPT_MAX: aiot_mqtt_download_option_t = 7;

/// The object behind a download handle.
pub struct MqttDownloadHandle {
    download: MqttDownload,
}

/// The download behind a C handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_mqtt_download_init` not yet freed.
unsafe fn download<'a>(handle: *mut c_void) -> Option<&'a MqttDownload> {
    // SAFETY: NULL or a live `MqttDownloadHandle` (this function's contract).
    unsafe { deref::<MqttDownloadHandle>(handle) }.map(|h| &h.download)
}

/// Creates a download handle (5120-byte blocks, whole file); NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_mqtt_download_init() -> *mut c_void {
    new_handle(|port| MqttDownloadHandle {
        download: MqttDownload::new(port),
    })
}

/// Wraps the user's handler: each block is handed over as the C message, valid for the call.
fn recv_handler(
    handle: usize,
    f: unsafe extern "C" fn(*mut c_void, *const aiot_mqtt_download_recv_t, *mut c_void),
) -> Arc<crate::components::mqtt_download::RecvFn> {
    Arc::new(move |block: &Block<'_>, userdata: usize| {
        let mut name = [0u8; TOKEN_MAX + 1];
        let token = block.token.as_bytes();
        let n = token.len().min(TOKEN_MAX);
        name[..n].copy_from_slice(&token[..n]);
        let packet = aiot_mqtt_download_recv_t {
            r#type: AIOT_MDRECV_DATA_RESP,
            data: aiot_mqtt_download_recv_data_t {
                data_resp: aiot_mqtt_download_data_resp_t {
                    filename: name.as_mut_ptr() as *mut c_char,
                    offset: block.offset,
                    data_size: block.data.len() as u32,
                    data: block.data.as_ptr() as *mut c_char,
                    percent: block.percent,
                    file_lenth: block.file_length,
                },
            },
        };
        // SAFETY: the user's handler, called with a message valid for the call.
        unsafe { f(handle as *mut c_void, &packet, userdata as *mut c_void) }
    })
}

/// Sets one download option.
///
/// # Safety
/// `handle` from `aiot_mqtt_download_init`; `data` of the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_download_setopt(
    handle: *mut c_void,
    option: aiot_mqtt_download_option_t,
    data: *mut c_void,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_mqtt_download_init` (this function's
        // contract).
        let Some(d) = (unsafe { download(handle) }) else {
            return STATE_DOWNLOAD_DEINIT_HANDLE_IS_NULL;
        };
        let needs_data = matches!(
            option,
            AIOT_MDOPT_RANGE_START | AIOT_MDOPT_RANGE_END | AIOT_MDOPT_DATA_REQUEST_SIZE
        );
        if needs_data && data.is_null() {
            return STATE_USER_INPUT_NULL_POINTER;
        }
        // SAFETY: for the `uint32_t *` options `data` points to a `u32` (the option's contract).
        let u32v = || unsafe { read_data::<u32>(data) };
        match option {
            AIOT_MDOPT_RECV_HANDLE => {
                let f = (!data.is_null()).then(|| {
                    // SAFETY: the option passes the handler itself as `data` (its contract).
                    recv_handler(handle as usize, unsafe { handler_data(data) })
                });
                d.set_handler(f);
                STATE_SUCCESS
            }
            AIOT_MDOPT_USERDATA => {
                d.set_userdata(data as usize);
                STATE_SUCCESS
            }
            AIOT_MDOPT_TASK_DESC => {
                if data.is_null() {
                    return STATE_DOWNLOAD_SETOPT_COPIED_DATA_IS_NULL;
                }
                // SAFETY: `data` points to a valid task whose strings are NULL or
                // NUL-terminated and whose `mqtt_handle` is NULL or a live MQTT handle (the
                // option's contract).
                let (task, client) = unsafe {
                    let t = data_ref::<aiot_download_task_desc_t>(data);
                    (from_c_task(t), shared_client(t.mqtt_handle))
                };
                d.set_task(task, client);
                STATE_SUCCESS
            }
            AIOT_MDOPT_RANGE_START => {
                d.set_range_start(u32v());
                STATE_SUCCESS
            }
            AIOT_MDOPT_RANGE_END => {
                d.set_range_end(u32v());
                STATE_SUCCESS
            }
            AIOT_MDOPT_DATA_REQUEST_SIZE => {
                if d.set_request_size(u32v()) {
                    STATE_SUCCESS
                } else {
                    STATE_USER_INPUT_OUT_RANGE
                }
            }
            // AIOT_MDOPT_MQTT_HANDLE (not implemented upstream either) and out of range.
            _ => STATE_USER_INPUT_OUT_RANGE,
        }
    })
}

/// One step of the download; returns the status found on entry: `STATE_MQTT_DOWNLOAD_ING`
/// after the first request (INIT), then ING while blocks arrive, FINISHED once, then SUCCESS,
/// FAILED_TIMEOUT, FAILED_MISMATCH or FAILED_RECVERROR once (with its progress report), after
/// which the handle is back at INIT (calling on starts the download again).
/// `STATE_MQTT_DOWNLOAD_TASK_DEINIT` without a task or once its MQTT handle is gone.
///
/// # Safety
/// `handle` from `aiot_mqtt_download_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_download_process(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_mqtt_download_init` (this function's contract).
    guard(|| match unsafe { download(handle) } {
        Some(d) => d.process(),
        None => STATE_MQTT_DOWNLOAD_MQTT_HANDLE_NULL,
    })
}

/// Frees a download handle (UNSUBSCRIBEs the reply topic while its MQTT handle lives) and
/// writes NULL back.
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_mqtt_download_init`, not in use by
/// another call.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_download_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_mqtt_download_init`, used by no
    // call from now on (this function's contract).
    unsafe { deinit_handle::<MqttDownloadHandle>(handle, STATE_DOWNLOAD_DEINIT_HANDLE_IS_NULL, |_| Ok(())) }
}
