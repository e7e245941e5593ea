//! `aiot_ota_api.h`: OTA (version reports, upgrade pushes) and firmware download.

use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex};

use super::handle::{deinit_handle, new_handle};
use super::mqtt::shared_client;
use super::{cred_data, cstr, data_ref, deref, guard, handler_data, read_data};
use crate::components::download::{
    state_code, unit_code, Download, DownloadError, DownloadOption, RecvOutcome,
};
use crate::components::ota::codes::*;
use crate::components::ota::message::{Kind, TaskDesc};
use crate::components::ota::{Ota, OtaFn};
use crate::error::Error;
use crate::state::*;

/// Kind of OTA message passed to the OTA receive handler.
pub type aiot_ota_recv_type_t = u32;
/// Firmware upgrade.
pub const AIOT_OTARECV_FOTA: aiot_ota_recv_type_t = 0;
/// Remote configuration.
pub const AIOT_OTARECV_COTA: aiot_ota_recv_type_t = 1;

/// Digest method of a firmware image.
pub type aiot_ota_digest_type_t = u32;
pub const AIOT_OTA_DIGEST_MD5: aiot_ota_digest_type_t = 0;
pub const AIOT_OTA_DIGEST_SHA256: aiot_ota_digest_type_t = 1;
pub const AIOT_OTA_DIGEST_MAX: aiot_ota_digest_type_t = 2;

/// How the image is delivered.
pub type aiot_ota_protocol_type_t = u32;
pub const AIOT_OTA_PROTOCOL_HTTPS: aiot_ota_protocol_type_t = 0;
pub const AIOT_OTA_PROTOCOL_MQTT: aiot_ota_protocol_type_t = 1;
pub const AIOT_OTA_PROTOCOL_MAX: aiot_ota_protocol_type_t = 2;

/// What one pushed file says. Strings belong to the SDK and live only during the OTA
/// callback: copy the task with `AIOT_DLOPT_TASK_DESC`.
#[repr(C)]
pub struct aiot_download_task_desc_t {
    pub product_key: *mut c_char,
    pub device_name: *mut c_char,
    /// Image URL (HTTPS delivery).
    pub url: *mut c_char,
    pub stream_id: u32,
    pub stream_file_id: u32,
    /// Image size in bytes.
    pub size_total: u32,
    /// `aiot_ota_digest_type_t`.
    pub digest_method: u8,
    /// Expected digest, hex.
    pub expect_digest: *mut c_char,
    /// Target version (FOTA) or config id (COTA).
    pub version: *mut c_char,
    pub module: *mut c_char,
    /// MQTT handle the progress is reported on.
    pub mqtt_handle: *mut c_void,
    /// `extData` of the push as JSON text (an object keeps its braces).
    pub extra_data: *mut c_char,
    pub file_name: *mut c_char,
    /// Files in this push, and this file's index.
    pub file_num: u32,
    pub file_id: u32,
    pub protocol_type: aiot_ota_protocol_type_t,
}

/// A message passed to the OTA receive handler.
#[repr(C)]
pub struct aiot_ota_recv_t {
    pub r#type: aiot_ota_recv_type_t,
    pub task_desc: *mut aiot_download_task_desc_t,
}

/// OTA receive handler, run on the thread calling `aiot_mqtt_recv`.
pub type aiot_ota_recv_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, msg: *const aiot_ota_recv_t, userdata: *mut c_void)>;

/// Kind of data passed to the download receive handler.
pub type aiot_download_recv_type_t = u32;
/// A chunk of the image body.
pub const AIOT_DLRECV_HTTPBODY: aiot_download_recv_type_t = 0;

/// A downloaded chunk; `buffer` lives only during the callback.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_download_recv_data_t {
    pub buffer: *mut u8,
    pub len: u32,
    /// Percent done, or an `aiot_ota_protocol_errcode_t` (-3 on digest mismatch).
    pub percent: i32,
}

/// Data passed to the download receive handler.
#[repr(C)]
pub struct aiot_download_recv_t {
    pub r#type: aiot_download_recv_type_t,
    pub data: aiot_download_recv_data_t,
}

/// Download receive handler, run on the thread calling `aiot_download_recv`.
pub type aiot_download_recv_handler_t = Option<
    unsafe extern "C" fn(handle: *mut c_void, packet: *const aiot_download_recv_t, userdata: *mut c_void),
>;

/// Progress values that report a failure to the platform.
pub type aiot_ota_protocol_errcode_t = i32;
pub const AIOT_OTAERR_UPGRADE_FAILED: aiot_ota_protocol_errcode_t = -1;
pub const AIOT_OTAERR_FETCH_FAILED: aiot_ota_protocol_errcode_t = -2;
pub const AIOT_OTAERR_CHECKSUM_MISMATCH: aiot_ota_protocol_errcode_t = -3;
pub const AIOT_OTAERR_BURN_FAILED: aiot_ota_protocol_errcode_t = -4;

/// Options of `aiot_ota_setopt`.
pub type aiot_ota_option_t = u32;
/// `aiot_ota_recv_handler_t`
pub const AIOT_OTAOPT_RECV_HANDLER: aiot_ota_option_t = 0;
/// `void *` MQTT handle the OTA messages travel on.
pub const AIOT_OTAOPT_MQTT_HANDLE: aiot_ota_option_t = 1;
/// `void *` userdata for the OTA handler.
pub const AIOT_OTAOPT_USERDATA: aiot_ota_option_t = 2;
/// `char *` module name for version reports and queries.
pub const AIOT_OTAOPT_MODULE: aiot_ota_option_t = 3;
pub const AIOT_OTAOPT_MAX: aiot_ota_option_t = 4;

/// Options of `aiot_download_setopt`.
pub type aiot_download_option_t = u32;
/// `aiot_sysdep_network_cred_t *`: TLS iff its option is not NONE.
pub const AIOT_DLOPT_NETWORK_CRED: aiot_download_option_t = 0;
/// `uint16_t *` server port when the URL has none.
pub const AIOT_DLOPT_NETWORK_PORT: aiot_download_option_t = 1;
/// `uint32_t *` receive timeout, default 5000 ms.
pub const AIOT_DLOPT_RECV_TIMEOUT_MS: aiot_download_option_t = 2;
/// `aiot_download_recv_handler_t`
pub const AIOT_DLOPT_RECV_HANDLER: aiot_download_option_t = 3;
/// `void *` userdata for the download handler.
pub const AIOT_DLOPT_USERDATA: aiot_download_option_t = 4;
/// `aiot_download_task_desc_t *`, deep-copied.
pub const AIOT_DLOPT_TASK_DESC: aiot_download_option_t = 5;
/// `uint32_t *` first byte of the range to fetch.
pub const AIOT_DLOPT_RANGE_START: aiot_download_option_t = 6;
/// `uint32_t *` last byte (inclusive) of the range; 0 = to the end.
pub const AIOT_DLOPT_RANGE_END: aiot_download_option_t = 7;
/// `uint32_t *` most bytes per `aiot_download_recv`, default 2048.
pub const AIOT_DLOPT_BODY_BUFFER_MAX_LEN: aiot_download_option_t = 8;
pub const AIOT_DLOPT_MAX: aiot_download_option_t = 9;

// ---------------------------------------------------------------------------------------
// OTA

/// The object behind an OTA handle.
pub struct OtaHandle {
    ota: Ota,
}

/// The OTA session behind a C OTA handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_ota_init` not yet freed.
unsafe fn ota<'a>(handle: *mut c_void) -> Option<&'a Ota> {
    // SAFETY: NULL or a live `OtaHandle` (this function's contract).
    unsafe { deref::<OtaHandle>(handle) }.map(|h| &h.ota)
}

/// Wraps the user's OTA handler: the task is handed over as C strings valid for the call.
fn ota_handler(
    ota_handle: *mut c_void,
    f: unsafe extern "C" fn(*mut c_void, *const aiot_ota_recv_t, *mut c_void),
) -> Arc<OtaFn> {
    let ota_handle = ota_handle as usize;
    Arc::new(move |kind: Kind, task: &TaskDesc, userdata: usize, mqtt: usize| {
        let mut c = to_c_task(task, mqtt as *mut c_void);
        let msg = aiot_ota_recv_t {
            r#type: if kind == Kind::Fota {
                AIOT_OTARECV_FOTA
            } else {
                AIOT_OTARECV_COTA
            },
            task_desc: &mut c.desc,
        };
        // SAFETY: the user's handler, called with a message valid for the call.
        unsafe { f(ota_handle as *mut c_void, &msg, userdata as *mut c_void) }
    })
}

/// Owned C strings behind a task handed to C.
struct CTask {
    desc: aiot_download_task_desc_t,
    _strings: Vec<CString>,
}

fn to_c_task(task: &TaskDesc, mqtt_handle: *mut c_void) -> CTask {
    let mut strings = Vec::new();
    let mut keep = |s: Option<&str>| -> *mut c_char {
        match s {
            Some(s) => {
                let c = CString::new(s.replace('\0', "")).unwrap_or_default();
                let p = c.as_ptr() as *mut c_char;
                strings.push(c);
                p
            }
            None => std::ptr::null_mut(),
        }
    };
    let desc = aiot_download_task_desc_t {
        product_key: keep(Some(&task.product_key)),
        device_name: keep(Some(&task.device_name)),
        url: keep(task.url.as_deref()),
        stream_id: task.stream_id,
        stream_file_id: task.stream_file_id,
        size_total: task.size_total,
        digest_method: task.digest_method,
        expect_digest: keep(Some(&task.expect_digest)),
        version: keep(Some(&task.version)),
        module: keep(task.module.as_deref()),
        mqtt_handle,
        extra_data: keep(task.extra_data.as_deref()),
        file_name: keep(task.file_name.as_deref()),
        file_num: task.file_num,
        file_id: task.file_id,
        protocol_type: task.protocol_type,
    };
    CTask {
        desc,
        _strings: strings,
    }
}

/// Deep copy of a C task (every field, unlike upstream which drops `extra_data` and `file_*`).
///
/// # Safety
/// Each string of `t` must be NULL or NUL-terminated.
pub(super) unsafe fn from_c_task(t: &aiot_download_task_desc_t) -> TaskDesc {
    // SAFETY: called only on the task's strings, NULL or NUL-terminated (this function's contract).
    let s = |p: *mut c_char| unsafe { cstr(p) }.map(|c| c.into_owned());
    TaskDesc {
        product_key: s(t.product_key).unwrap_or_default(),
        device_name: s(t.device_name).unwrap_or_default(),
        url: s(t.url),
        stream_id: t.stream_id,
        stream_file_id: t.stream_file_id,
        size_total: t.size_total,
        digest_method: t.digest_method,
        expect_digest: s(t.expect_digest).unwrap_or_default(),
        version: s(t.version).unwrap_or_default(),
        module: s(t.module),
        extra_data: s(t.extra_data),
        file_name: s(t.file_name),
        file_num: t.file_num,
        file_id: t.file_id,
        protocol_type: t.protocol_type,
    }
}

/// Creates an OTA handle; NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_ota_init() -> *mut c_void {
    new_handle(|_| OtaHandle { ota: Ota::new() })
}

/// Frees an OTA handle, removing its topic handlers from the MQTT session.
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_ota_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_ota_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_ota_init`, used by no call from now
    // on (this function's contract).
    unsafe { deinit_handle::<OtaHandle>(handle, STATE_OTA_DEINIT_HANDLE_IS_NULL, |_| Ok(())) }
}

/// Sets one OTA option.
///
/// # Safety
/// `handle` from `aiot_ota_init`; `data` of the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_ota_setopt(
    handle: *mut c_void,
    option: aiot_ota_option_t,
    data: *mut c_void,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_ota_init` (this function's contract).
        let Some(o) = (unsafe { ota(handle) }) else {
            return STATE_OTA_SETOPT_HANDLE_IS_NULL;
        };
        if data.is_null() {
            return STATE_OTA_SETOPT_DATA_IS_NULL;
        }
        match option {
            AIOT_OTAOPT_RECV_HANDLER => {
                // SAFETY: the option passes the handler itself as `data` (this function's
                // contract).
                o.set_handler(ota_handler(handle, unsafe { handler_data(data) }));
                STATE_SUCCESS
            }
            // The C handle is kept with the session, for `task_desc.mqtt_handle`.
            // SAFETY: `data` is a live handle from `aiot_mqtt_init` (the option's contract).
            AIOT_OTAOPT_MQTT_HANDLE => match unsafe { shared_client(data) } {
                Some(client) => code(o.set_mqtt(client, data as usize)),
                None => STATE_OTA_SETOPT_DATA_IS_NULL,
            },
            AIOT_OTAOPT_USERDATA => {
                o.set_userdata(data as usize);
                STATE_SUCCESS
            }
            // SAFETY: `data` is a NUL-terminated string (the option's contract).
            AIOT_OTAOPT_MODULE => match unsafe { cstr(data as *const c_char) } {
                Some(m) => {
                    o.set_module(m.into_owned());
                    STATE_SUCCESS
                }
                None => STATE_OTA_SETOPT_DATA_IS_NULL,
            },
            _ => STATE_USER_INPUT_UNKNOWN_OPTION,
        }
    })
}

fn code(result: Result<(), Error>) -> i32 {
    match result {
        Ok(()) => STATE_SUCCESS,
        Err(e) => e.code(),
    }
}

/// Reports the device's firmware version on `/ota/device/inform/<pk>/<dn>`.
///
/// # Safety
/// `handle` from `aiot_ota_init`; `version` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn aiot_ota_report_version(handle: *mut c_void, version: *mut c_char) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_ota_init` (this function's contract).
        let Some(o) = (unsafe { ota(handle) }) else {
            return STATE_OTA_REPORT_HANDLE_IS_NULL;
        };
        // SAFETY: `version` is NULL or NUL-terminated (this function's contract).
        let Some(version) = (unsafe { cstr(version) }) else {
            return STATE_OTA_REPORT_VERSION_IS_NULL;
        };
        code(o.report_version(&version))
    })
}

/// Reports the firmware version of another device (e.g. a gateway's sub-device).
///
/// # Safety
/// `handle` from `aiot_ota_init`; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn aiot_ota_report_version_ext(
    handle: *mut c_void,
    product_key: *mut c_char,
    device_name: *mut c_char,
    version: *mut c_char,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_ota_init` (this function's contract).
        let Some(o) = (unsafe { ota(handle) }) else {
            return STATE_OTA_REPORT_EXT_HANELD_IS_NULL;
        };
        // SAFETY: `version` is NULL or NUL-terminated (this function's contract).
        let Some(version) = (unsafe { cstr(version) }) else {
            return STATE_OTA_REPORT_EXT_VERSION_NULL;
        };
        // SAFETY: `product_key` is NULL or NUL-terminated (this function's contract).
        let Some(pk) = (unsafe { cstr(product_key) }) else {
            return STATE_OTA_REPORT_EXT_PRODUCT_KEY_IS_NULL;
        };
        // SAFETY: `device_name` is NULL or NUL-terminated (this function's contract).
        let Some(dn) = (unsafe { cstr(device_name) }) else {
            return STATE_OTA_REPORT_EXT_DEVICE_NAME_IS_NULL;
        };
        code(o.report_version_ext(&pk, &dn, &version))
    })
}

/// Asks the platform for a pending upgrade (`/sys/<pk>/<dn>/thing/ota/firmware/get`).
///
/// # Safety
/// `handle` from `aiot_ota_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_ota_query_firmware(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_ota_init` (this function's contract).
    guard(|| match unsafe { ota(handle) } {
        Some(o) => code(o.query_firmware()),
        None => STATE_OTA_QUERY_FIRMWARE_HANDLE_IS_NULL,
    })
}

// ---------------------------------------------------------------------------------------
// Download

/// The object behind a download handle. Locks: each of its mutexes is taken alone (never two
/// at once) and none is held while the user's handler runs, so every `aiot_download_*` call
/// may be made from inside the handler.
pub struct DownloadHandle {
    download: Mutex<Download>,
    handler: Mutex<Option<unsafe extern "C" fn(*mut c_void, *const aiot_download_recv_t, *mut c_void)>>,
    userdata: Mutex<usize>,
    /// The task and its MQTT session, for progress reports (apart from `download`, so that a
    /// report never waits for a download call in progress on another thread).
    reporter: Mutex<Option<(TaskDesc, Option<Arc<crate::mqtt::Client>>)>>,
    has_task: std::sync::atomic::AtomicBool,
}

/// The object behind a C download handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_download_init` not yet freed.
unsafe fn download<'a>(handle: *mut c_void) -> Option<&'a DownloadHandle> {
    // SAFETY: NULL or a live `DownloadHandle` (this function's contract); its state is behind
    // its own locks.
    unsafe { deref::<DownloadHandle>(handle) }
}

impl DownloadHandle {
    /// Applies one option: the handler and userdata are kept here, the rest goes to the core.
    ///
    /// # Safety
    /// `data` must be non-NULL and point to the type the option documents (for the handler
    /// option, be the handler itself).
    unsafe fn setopt(&self, option: aiot_download_option_t, data: *mut c_void) -> i32 {
        // Each reader below is called only for options whose data has its type.
        // SAFETY: a `uint16_t *` option: `data` points to a `u16` (this function's contract).
        let u16v = || unsafe { read_data::<u16>(data) };
        // SAFETY: a `uint32_t *` option: `data` points to a `u32` (this function's contract).
        let u32v = || unsafe { read_data::<u32>(data) };
        let opt = match option {
            // SAFETY: `data` points to a valid credential (this function's contract).
            AIOT_DLOPT_NETWORK_CRED => DownloadOption::NetworkCred(unsafe { cred_data(data) }),
            AIOT_DLOPT_NETWORK_PORT => DownloadOption::NetworkPort(u16v()),
            AIOT_DLOPT_RECV_TIMEOUT_MS => DownloadOption::RecvTimeoutMs(u32v()),
            AIOT_DLOPT_RECV_HANDLER => {
                // SAFETY: the option passes the handler itself as `data` (this function's
                // contract).
                *self.handler.lock().unwrap_or_else(|e| e.into_inner()) = Some(unsafe { handler_data(data) });
                return STATE_SUCCESS;
            }
            AIOT_DLOPT_USERDATA => {
                *self.userdata.lock().unwrap_or_else(|e| e.into_inner()) = data as usize;
                return STATE_SUCCESS;
            }
            // SAFETY: `data` points to a valid task (this function's contract).
            AIOT_DLOPT_TASK_DESC => unsafe { self.set_task(data_ref(data)) },
            AIOT_DLOPT_RANGE_START => DownloadOption::RangeStart(u32v()),
            AIOT_DLOPT_RANGE_END => DownloadOption::RangeEnd(u32v()),
            AIOT_DLOPT_BODY_BUFFER_MAX_LEN => DownloadOption::BodyBufferMaxLen(u32v()),
            _ => return STATE_USER_INPUT_OUT_RANGE,
        };
        unit_code(self.lock().setopt(opt))
    }

    /// Copies the task for progress reports and returns it as the core's option.
    ///
    /// # Safety
    /// The task's strings must be NULL or NUL-terminated, its `mqtt_handle` NULL or a live
    /// handle from `aiot_mqtt_init`.
    unsafe fn set_task(&self, t: &aiot_download_task_desc_t) -> DownloadOption {
        // Progress goes nowhere without a product key and device name: reports then
        // return STATE_USER_INPUT_NULL_POINTER, as upstream's publish does.
        let client = if t.product_key.is_null() || t.device_name.is_null() {
            None
        } else {
            // SAFETY: NULL or a live MQTT handle (this function's contract).
            unsafe { shared_client(t.mqtt_handle) }
        };
        // SAFETY: the strings are NULL or NUL-terminated (this function's contract).
        let task = unsafe { from_c_task(t) };
        *self.reporter.lock().unwrap_or_else(|e| e.into_inner()) = Some((task.clone(), client.clone()));
        self.has_task.store(true, std::sync::atomic::Ordering::SeqCst);
        DownloadOption::TaskDesc(task, client)
    }

    /// The download state. Held only inside one call of the core, never while a user callback
    /// runs; each of the handle's other locks is taken alone.
    fn lock(&self) -> std::sync::MutexGuard<'_, Download> {
        self.download.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Passes a chunk to the user's handler, with no lock held.
    fn dispatch(&self, handle: *mut c_void, chunk: &crate::components::download::Chunk) {
        let handler = *self.handler.lock().unwrap_or_else(|e| e.into_inner());
        let userdata = *self.userdata.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = handler else {
            return;
        };
        let bytes = chunk.bytes();
        let packet = aiot_download_recv_t {
            r#type: AIOT_DLRECV_HTTPBODY,
            data: aiot_download_recv_data_t {
                buffer: bytes.as_ptr() as *mut u8,
                len: bytes.len() as u32,
                percent: chunk.percent(),
            },
        };
        // SAFETY: the user's handler, called with a chunk valid for the call.
        unsafe { f(handle, &packet, userdata as *mut c_void) }
    }
}

/// Creates a download handle; NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_download_init() -> *mut c_void {
    new_handle(|port| DownloadHandle {
        download: Mutex::new(Download::new(port)),
        handler: Mutex::new(None),
        userdata: Mutex::new(0),
        reporter: Mutex::new(None),
        has_task: std::sync::atomic::AtomicBool::new(false),
    })
}

/// Frees a download handle and closes its connection.
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_download_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_download_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_download_init`, used by no call
    // from now on (this function's contract).
    unsafe { deinit_handle::<DownloadHandle>(handle, STATE_DOWNLOAD_DEINIT_HANDLE_IS_NULL, |_| Ok(())) }
}

/// Sets one download option.
///
/// # Safety
/// `handle` from `aiot_download_init`; `data` of the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_download_setopt(
    handle: *mut c_void,
    option: aiot_download_option_t,
    data: *mut c_void,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_download_init` (this function's contract).
        let Some(d) = (unsafe { download(handle) }) else {
            return STATE_DOWNLOAD_SETOPT_HANDLE_IS_NULL;
        };
        if data.is_null() {
            return STATE_DOWNLOAD_SETOPT_DATA_IS_NULL;
        }
        // SAFETY: `data` is not NULL and matches the option's type (this function's contract).
        unsafe { d.setopt(option, data) }
    })
}

/// Sends the GET (with a Range when set) for the task; reports the current percent.
///
/// # Safety
/// `handle` from `aiot_download_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_download_send_request(handle: *mut c_void) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_download_init` (this function's contract).
        let Some(d) = (unsafe { download(handle) }) else {
            return STATE_DOWNLOAD_REQUEST_HANDLE_IS_NULL;
        };
        if !d.has_task.load(std::sync::atomic::Ordering::SeqCst) {
            return unit_code(Err(DownloadError::NoTask));
        }
        unit_code(d.lock().send_request())
    })
}

/// Reads one chunk (at most the body buffer length) and passes it to the handler. Returns
/// the bytes read, 0 (nothing yet), or `STATE_DOWNLOAD_FINISHED`, `_RANGE_FINISHED`,
/// `_RENEWAL_REQUEST_SENT` or an error code. No lock is held while the handler runs: it may
/// call any `aiot_download_*` function on the same handle (deinit excepted).
///
/// Safe to call in a tight loop: from the third call in a row without a body byte, each call
/// lasts at least the receive timeout (`AIOT_DLOPT_RECV_TIMEOUT_MS`), waiting with the port's
/// sleep when it has nothing to do. After a failed response the next call resends the request
/// (renewal); further renewals without progress wait a backoff with jitter from the port's
/// rand, 1 s doubling up to 60 s, and a call that finds none due returns 0. A renewal call may
/// also take the request's connect and send timeouts.
///
/// # Safety
/// `handle` from `aiot_download_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_download_recv(handle: *mut c_void) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_download_init` (this function's contract).
        let Some(d) = (unsafe { download(handle) }) else {
            return STATE_DOWNLOAD_RECV_HANDLE_IS_NULL;
        };
        let result = d.lock().recv();
        if let Ok(RecvOutcome::Chunk(chunk)) = &result {
            d.dispatch(handle, chunk);
        }
        let code = state_code(&result);
        if let Ok(RecvOutcome::Chunk(chunk)) = result {
            d.lock().give_back(chunk);
        }
        code
    })
}

/// Reports progress (0..100, or a negative `AIOT_OTAERR_*`) on
/// `/ota/device/progress/<pk>/<dn>`.
///
/// # Safety
/// `handle` from `aiot_download_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_download_report_progress(handle: *mut c_void, percent: i32) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_download_init` (this function's contract).
        let Some(d) = (unsafe { download(handle) }) else {
            return STATE_DOWNLOAD_REPORT_HANDLE_IS_NULL;
        };
        let reporter = d.reporter.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let result = match reporter {
            None => Err(DownloadError::NoReportTask),
            Some((_, None)) => Err(DownloadError::Core(Error::NullPointer)),
            Some((t, Some(client))) => crate::components::ota::report_progress(
                &client,
                &t.product_key,
                &t.device_name,
                percent,
                t.module.as_deref(),
            )
            .map_err(DownloadError::Core),
        };
        unit_code(result)
    })
}
