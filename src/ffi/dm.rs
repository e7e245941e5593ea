//! `aiot_dm_api.h`: the data model (thing-model properties, events, services, raw data).

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::Arc;

use super::handle::{deinit_handle, new_handle};
use super::mqtt::shared_client;
use super::{deref, guard, handler_data, read_data};
use crate::components::dm::{Dm, DmError, DmFn, Kind, Msg, Recv};
use crate::state::*;

/// Options of `aiot_dm_setopt`.
pub type aiot_dm_option_t = u32;
/// `void *` MQTT handle the messages travel on (adds the data-model topic handlers, no
/// SUBSCRIBE).
pub const AIOT_DMOPT_MQTT_HANDLE: aiot_dm_option_t = 0;
/// `aiot_dm_recv_handler_t`
pub const AIOT_DMOPT_RECV_HANDLER: aiot_dm_option_t = 1;
/// `void *` userdata for the receive handler.
pub const AIOT_DMOPT_USERDATA: aiot_dm_option_t = 2;
/// `uint8_t *`: 1 (default) asks the platform to answer each post (`"ack":1`), 0 not.
pub const AIOT_DMOPT_POST_REPLY: aiot_dm_option_t = 3;
pub const AIOT_DMOPT_MAX: aiot_dm_option_t = 4;

/// Kind of message `aiot_dm_send` sends.
pub type aiot_dm_msg_type_t = u32;
/// Property post; `data.property_post`. Returns the alink id.
pub const AIOT_DMMSG_PROPERTY_POST: aiot_dm_msg_type_t = 0;
/// Event post; `data.event_post`. Returns the alink id.
pub const AIOT_DMMSG_EVENT_POST: aiot_dm_msg_type_t = 1;
/// Reply to a property set; `data.property_set_reply`.
pub const AIOT_DMMSG_PROPERTY_SET_REPLY: aiot_dm_msg_type_t = 2;
/// Reply to an asynchronous service call; `data.async_service_reply`.
pub const AIOT_DMMSG_ASYNC_SERVICE_REPLY: aiot_dm_msg_type_t = 3;
/// Reply to a synchronous (RRPC) service call; `data.sync_service_reply`.
pub const AIOT_DMMSG_SYNC_SERVICE_REPLY: aiot_dm_msg_type_t = 4;
/// Raw (binary) data up; `data.raw_data`.
pub const AIOT_DMMSG_RAW_DATA: aiot_dm_msg_type_t = 5;
/// Reply to a raw synchronous service call; `data.raw_service_reply`.
pub const AIOT_DMMSG_RAW_SERVICE_REPLY: aiot_dm_msg_type_t = 6;
/// Get desired property values; `data.get_desired`. Returns the alink id.
pub const AIOT_DMMSG_GET_DESIRED: aiot_dm_msg_type_t = 7;
/// Delete desired property values; `data.delete_desired`. Returns the alink id.
pub const AIOT_DMMSG_DELETE_DESIRED: aiot_dm_msg_type_t = 8;
/// Batch post; reads `data.property_post`. Returns the alink id.
pub const AIOT_DMMSG_PROPERTY_BATCH_POST: aiot_dm_msg_type_t = 9;
pub const AIOT_DMMSG_MAX: aiot_dm_msg_type_t = 10;

/// Property post: `params` is a JSON object, inserted as given.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_msg_property_post_t {
    pub params: *mut c_char,
}

/// Event post.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_msg_event_post_t {
    pub event_id: *mut c_char,
    pub params: *mut c_char,
}

/// Reply to a property set: the set's `msg_id`, a code (200 = success) and JSON `data`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_msg_property_set_reply_t {
    pub msg_id: u64,
    pub code: u32,
    pub data: *mut c_char,
}

/// Reply to an asynchronous service call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_msg_async_service_reply_t {
    pub msg_id: u64,
    pub service_id: *mut c_char,
    pub code: u32,
    pub data: *mut c_char,
}

/// Reply to a synchronous service call (reuse the call's `rrpc_id` and `service_id`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_msg_sync_service_reply_t {
    pub msg_id: u64,
    pub rrpc_id: *mut c_char,
    pub service_id: *mut c_char,
    pub code: u32,
    pub data: *mut c_char,
}

/// Raw data.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_msg_raw_data_t {
    pub data: *mut u8,
    pub data_len: u32,
}

/// Reply to a raw synchronous service call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_msg_raw_service_reply_t {
    pub rrpc_id: *mut c_char,
    pub data: *mut u8,
    pub data_len: u32,
}

/// Desired property get: `params` is a JSON array of property names.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_msg_get_desired_t {
    pub params: *mut c_char,
}

/// Desired property delete.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_msg_delete_desired_t {
    pub params: *mut c_char,
}

/// Batch post (`AIOT_DMMSG_PROPERTY_BATCH_POST` reads `data.property_post` all the same).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_msg_property_batch_post_t {
    pub params: *mut c_char,
}

/// The message-specific part of `aiot_dm_msg_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_dm_msg_data_t {
    pub property_post: aiot_dm_msg_property_post_t,
    pub event_post: aiot_dm_msg_event_post_t,
    pub property_set_reply: aiot_dm_msg_property_set_reply_t,
    pub sync_service_reply: aiot_dm_msg_sync_service_reply_t,
    pub async_service_reply: aiot_dm_msg_async_service_reply_t,
    pub raw_data: aiot_dm_msg_raw_data_t,
    pub raw_service_reply: aiot_dm_msg_raw_service_reply_t,
    pub get_desired: aiot_dm_msg_get_desired_t,
    pub delete_desired: aiot_dm_msg_delete_desired_t,
}

/// A message for `aiot_dm_send`. `product_key`/`device_name` NULL: the MQTT handle's device
/// (set them for a gateway's sub-device).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_msg_t {
    pub product_key: *mut c_char,
    pub device_name: *mut c_char,
    pub r#type: aiot_dm_msg_type_t,
    pub data: aiot_dm_msg_data_t,
}

/// Kind of message handed to the receive handler.
pub type aiot_dm_recv_type_t = u32;
/// Reply to a post or desired get/delete; `data.generic_reply`.
pub const AIOT_DMRECV_GENERIC_REPLY: aiot_dm_recv_type_t = 0;
/// Property set from the platform; `data.property_set`.
pub const AIOT_DMRECV_PROPERTY_SET: aiot_dm_recv_type_t = 1;
/// Asynchronous service call; `data.async_service_invoke`.
pub const AIOT_DMRECV_ASYNC_SERVICE_INVOKE: aiot_dm_recv_type_t = 2;
/// Synchronous (RRPC) service call; `data.sync_service_invoke`.
pub const AIOT_DMRECV_SYNC_SERVICE_INVOKE: aiot_dm_recv_type_t = 3;
/// Reply to raw data up; `data.raw_data`.
pub const AIOT_DMRECV_RAW_DATA_REPLY: aiot_dm_recv_type_t = 4;
/// Raw data down; `data.raw_data`.
pub const AIOT_DMRECV_RAW_DATA: aiot_dm_recv_type_t = 5;
/// Raw synchronous service call; `data.raw_service_invoke`.
pub const AIOT_DMRECV_RAW_SYNC_SERVICE_INVOKE: aiot_dm_recv_type_t = 6;
pub const AIOT_DMRECV_MAX: aiot_dm_recv_type_t = 7;

/// Reply to a request: its alink id, the platform's code (200 = success), `data` and
/// `message` (not NUL-terminated; `message` NULL when absent).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_recv_generic_reply_t {
    pub msg_id: u32,
    pub code: u32,
    pub data: *mut c_char,
    pub data_len: u32,
    pub message: *mut c_char,
    pub message_len: u32,
}

/// Property set: `params` JSON, not NUL-terminated.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_recv_property_set_t {
    pub msg_id: u64,
    pub params: *mut c_char,
    pub params_len: u32,
}

/// Synchronous service call: `rrpc_id` and `service_id` NUL-terminated, `params` not.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_recv_sync_service_invoke_t {
    pub msg_id: u64,
    pub rrpc_id: *mut c_char,
    pub service_id: *mut c_char,
    pub params: *mut c_char,
    pub params_len: u32,
}

/// Asynchronous service call: `service_id` NUL-terminated, `params` not.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_recv_async_service_invoke_t {
    pub msg_id: u64,
    pub service_id: *mut c_char,
    pub params: *mut c_char,
    pub params_len: u32,
}

/// Raw data.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_recv_raw_data_t {
    pub data: *mut u8,
    pub data_len: u32,
}

/// Raw synchronous service call: `rrpc_id` NUL-terminated.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_recv_raw_service_invoke_t {
    pub rrpc_id: *mut c_char,
    pub data: *mut u8,
    pub data_len: u32,
}

/// The message-specific part of `aiot_dm_recv_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_dm_recv_data_t {
    pub generic_reply: aiot_dm_recv_generic_reply_t,
    pub property_set: aiot_dm_recv_property_set_t,
    pub async_service_invoke: aiot_dm_recv_async_service_invoke_t,
    pub sync_service_invoke: aiot_dm_recv_sync_service_invoke_t,
    pub raw_data: aiot_dm_recv_raw_data_t,
    pub raw_service_invoke: aiot_dm_recv_raw_service_invoke_t,
}

/// A message handed to the receive handler, valid only during the call. `product_key` and
/// `device_name` (NUL-terminated) come from the topic.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dm_recv_t {
    pub product_key: *mut c_char,
    pub device_name: *mut c_char,
    pub r#type: aiot_dm_recv_type_t,
    pub data: aiot_dm_recv_data_t,
}

/// Receive handler, run on the thread calling `aiot_mqtt_recv` with no library lock held.
pub type aiot_dm_recv_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, recv: *const aiot_dm_recv_t, userdata: *mut c_void)>;

/// The object behind a data-model handle.
pub struct DmHandle {
    dm: Dm,
}

/// The data-model session behind a C handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_dm_init` not yet freed.
unsafe fn dm<'a>(handle: *mut c_void) -> Option<&'a Dm> {
    // SAFETY: NULL or a live `DmHandle` (this function's contract).
    unsafe { deref::<DmHandle>(handle) }.map(|h| &h.dm)
}

/// A NUL-terminated copy (a NUL inside is dropped).
fn c_copy(bytes: &[u8]) -> CString {
    CString::new(bytes.iter().copied().filter(|&b| b != 0).collect::<Vec<u8>>()).unwrap_or_default()
}

/// A slice as C sees it: a pointer into the payload and its length.
fn c_slice(bytes: &[u8]) -> (*mut c_char, u32) {
    (bytes.as_ptr() as *mut c_char, bytes.len() as u32)
}

/// Wraps the user's handler: the message becomes an `aiot_dm_recv_t` whose strings live for
/// the call.
fn recv_handler(
    dm_handle: *mut c_void,
    f: unsafe extern "C" fn(*mut c_void, *const aiot_dm_recv_t, *mut c_void),
) -> Arc<DmFn> {
    let dm_handle = dm_handle as usize;
    Arc::new(move |recv: &Recv<'_>, userdata: usize| {
        let pk = c_copy(recv.product_key);
        let dn = c_copy(recv.device_name);
        let mut ids: Vec<CString> = Vec::new();
        let mut keep = |b: &[u8]| -> *mut c_char {
            let c = c_copy(b);
            let p = c.as_ptr() as *mut c_char;
            ids.push(c);
            p
        };
        let (r#type, data) = match recv.kind {
            Kind::GenericReply {
                msg_id,
                code,
                data,
                message,
            } => {
                let (data, data_len) = c_slice(data);
                let (message, message_len) = message.map_or((std::ptr::null_mut(), 0), c_slice);
                let generic_reply = aiot_dm_recv_generic_reply_t {
                    msg_id,
                    code,
                    data,
                    data_len,
                    message,
                    message_len,
                };
                (AIOT_DMRECV_GENERIC_REPLY, aiot_dm_recv_data_t { generic_reply })
            }
            Kind::PropertySet { msg_id, params } => {
                let (params, params_len) = c_slice(params);
                let property_set = aiot_dm_recv_property_set_t {
                    msg_id,
                    params,
                    params_len,
                };
                (AIOT_DMRECV_PROPERTY_SET, aiot_dm_recv_data_t { property_set })
            }
            Kind::AsyncServiceInvoke {
                msg_id,
                service_id,
                params,
            } => {
                let (params, params_len) = c_slice(params);
                let async_service_invoke = aiot_dm_recv_async_service_invoke_t {
                    msg_id,
                    service_id: keep(service_id),
                    params,
                    params_len,
                };
                (
                    AIOT_DMRECV_ASYNC_SERVICE_INVOKE,
                    aiot_dm_recv_data_t { async_service_invoke },
                )
            }
            Kind::SyncServiceInvoke {
                msg_id,
                rrpc_id,
                service_id,
                params,
            } => {
                let (params, params_len) = c_slice(params);
                let sync_service_invoke = aiot_dm_recv_sync_service_invoke_t {
                    msg_id,
                    rrpc_id: keep(rrpc_id),
                    service_id: keep(service_id),
                    params,
                    params_len,
                };
                (
                    AIOT_DMRECV_SYNC_SERVICE_INVOKE,
                    aiot_dm_recv_data_t { sync_service_invoke },
                )
            }
            Kind::RawData { data } | Kind::RawDataReply { data } => {
                let raw_data = aiot_dm_recv_raw_data_t {
                    data: data.as_ptr() as *mut u8,
                    data_len: data.len() as u32,
                };
                let t = match recv.kind {
                    Kind::RawData { .. } => AIOT_DMRECV_RAW_DATA,
                    _ => AIOT_DMRECV_RAW_DATA_REPLY,
                };
                (t, aiot_dm_recv_data_t { raw_data })
            }
            Kind::RawSyncServiceInvoke { rrpc_id, data } => {
                let raw_service_invoke = aiot_dm_recv_raw_service_invoke_t {
                    rrpc_id: keep(rrpc_id),
                    data: data.as_ptr() as *mut u8,
                    data_len: data.len() as u32,
                };
                (
                    AIOT_DMRECV_RAW_SYNC_SERVICE_INVOKE,
                    aiot_dm_recv_data_t { raw_service_invoke },
                )
            }
        };
        let msg = aiot_dm_recv_t {
            product_key: pk.as_ptr() as *mut c_char,
            device_name: dn.as_ptr() as *mut c_char,
            r#type,
            data,
        };
        // SAFETY: the user's handler, called with a message whose pointers stay valid for
        // the call (the strings above and the MQTT payload outlive it).
        unsafe { f(dm_handle as *mut c_void, &msg, userdata as *mut c_void) }
    })
}

/// A C string's bytes; NULL gives `None`.
///
/// # Safety
/// `p` must be NULL or NUL-terminated.
unsafe fn bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: not NULL, and NUL-terminated (this function's contract).
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A C buffer; NULL gives `None`.
///
/// # Safety
/// `p` must be NULL or valid for `len` bytes.
unsafe fn buffer<'a>(p: *const u8, len: u32) -> Option<&'a [u8]> {
    // SAFETY: not NULL, and valid for `len` bytes (this function's contract).
    (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, len as usize) })
}

/// The message in Rust terms; `None` for a type out of range.
///
/// # Safety
/// The union member that `m.type` names must be initialised, with its strings NULL or
/// NUL-terminated and its buffers NULL or valid for their lengths.
unsafe fn to_msg(m: &aiot_dm_msg_t) -> Option<Msg<'_>> {
    // SAFETY (every block below): the member read is the one `m.type` names, initialised
    // with valid pointers by this function's contract.
    Some(match m.r#type {
        AIOT_DMMSG_PROPERTY_POST => Msg::PropertyPost {
            params: unsafe { bytes(m.data.property_post.params) },
        },
        AIOT_DMMSG_PROPERTY_BATCH_POST => Msg::PropertyBatchPost {
            params: unsafe { bytes(m.data.property_post.params) },
        },
        AIOT_DMMSG_EVENT_POST => {
            let e = unsafe { m.data.event_post };
            Msg::EventPost {
                event_id: unsafe { bytes(e.event_id) },
                params: unsafe { bytes(e.params) },
            }
        }
        AIOT_DMMSG_PROPERTY_SET_REPLY => {
            let r = unsafe { m.data.property_set_reply };
            Msg::PropertySetReply {
                msg_id: r.msg_id,
                code: r.code,
                data: unsafe { bytes(r.data) },
            }
        }
        AIOT_DMMSG_ASYNC_SERVICE_REPLY => {
            let r = unsafe { m.data.async_service_reply };
            Msg::AsyncServiceReply {
                msg_id: r.msg_id,
                service_id: unsafe { bytes(r.service_id) },
                code: r.code,
                data: unsafe { bytes(r.data) },
            }
        }
        AIOT_DMMSG_SYNC_SERVICE_REPLY => {
            let r = unsafe { m.data.sync_service_reply };
            Msg::SyncServiceReply {
                msg_id: r.msg_id,
                rrpc_id: unsafe { bytes(r.rrpc_id) },
                service_id: unsafe { bytes(r.service_id) },
                code: r.code,
                data: unsafe { bytes(r.data) },
            }
        }
        AIOT_DMMSG_RAW_DATA => {
            let r = unsafe { m.data.raw_data };
            Msg::RawData {
                data: unsafe { buffer(r.data, r.data_len) },
            }
        }
        AIOT_DMMSG_RAW_SERVICE_REPLY => {
            let r = unsafe { m.data.raw_service_reply };
            Msg::RawServiceReply {
                rrpc_id: unsafe { bytes(r.rrpc_id) },
                data: unsafe { buffer(r.data, r.data_len) },
            }
        }
        AIOT_DMMSG_GET_DESIRED => Msg::GetDesired {
            params: unsafe { bytes(m.data.get_desired.params) },
        },
        AIOT_DMMSG_DELETE_DESIRED => Msg::DeleteDesired {
            params: unsafe { bytes(m.data.delete_desired.params) },
        },
        _ => return None,
    })
}

fn code(result: Result<i32, DmError>) -> i32 {
    match result {
        Ok(v) => v,
        Err(e) => e.code(),
    }
}

/// Creates a data-model handle (replies to posts requested); NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_dm_init() -> *mut c_void {
    new_handle(|_| DmHandle { dm: Dm::new() })
}

/// Sets one option. NULL handle or data: `STATE_USER_INPUT_NULL_POINTER`; option out of
/// range: `STATE_USER_INPUT_OUT_RANGE`.
///
/// # Safety
/// `handle` from `aiot_dm_init`; `data` of the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_dm_setopt(
    handle: *mut c_void,
    option: aiot_dm_option_t,
    data: *mut c_void,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_dm_init` (this function's contract).
        let (Some(d), false) = (unsafe { dm(handle) }, data.is_null()) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        match option {
            // SAFETY: `data` is a live handle from `aiot_mqtt_init` (the option's contract).
            AIOT_DMOPT_MQTT_HANDLE => match unsafe { shared_client(data) } {
                Some(client) => code(d.set_mqtt(client).map(|()| STATE_SUCCESS)),
                None => STATE_USER_INPUT_NULL_POINTER,
            },
            AIOT_DMOPT_RECV_HANDLER => {
                // SAFETY: the option passes the handler itself as `data` (this function's
                // contract).
                d.set_handler(recv_handler(handle, unsafe { handler_data(data) }));
                STATE_SUCCESS
            }
            AIOT_DMOPT_USERDATA => {
                d.set_userdata(data as usize);
                STATE_SUCCESS
            }
            AIOT_DMOPT_POST_REPLY => {
                // SAFETY: `data` points to a `uint8_t` (the option's contract).
                d.set_post_reply(unsafe { read_data::<u8>(data) });
                STATE_SUCCESS
            }
            _ => STATE_USER_INPUT_OUT_RANGE,
        }
    })
}

/// Sends one message (QoS0). Returns the alink id (1, 2, ...) of a request (property, event and
/// batch posts, desired get/delete), 0 for a reply or raw data, or a negative code:
/// `STATE_DM_MQTT_HANDLE_IS_NULL` without an MQTT handle, `STATE_DM_*_IS_NULL` for a missing
/// id, params or data.
///
/// # Safety
/// `handle` from `aiot_dm_init`; `msg` NULL or a message whose member for its type is
/// initialised (strings NUL-terminated, buffers valid for their lengths).
#[no_mangle]
pub unsafe extern "C" fn aiot_dm_send(handle: *mut c_void, msg: *const aiot_dm_msg_t) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_dm_init`; `msg` is NULL or valid
        // (this function's contract).
        let (Some(d), Some(m)) = (unsafe { dm(handle) }, unsafe { msg.as_ref() }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        // SAFETY: the member `m.type` names is initialised (this function's contract).
        let Some(message) = (unsafe { to_msg(m) }) else {
            return STATE_USER_INPUT_OUT_RANGE;
        };
        // SAFETY: NULL or NUL-terminated (this function's contract).
        let (pk, dn) = unsafe { (bytes(m.product_key), bytes(m.device_name)) };
        code(d.send(&message, pk, dn))
    })
}

/// Frees a data-model handle and removes its topic handlers from the MQTT handle; sets
/// `*handle` to NULL.
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_dm_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_dm_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_dm_init`, used by no call from now
    // on (this function's contract).
    unsafe { deinit_handle::<DmHandle>(handle, STATE_USER_INPUT_NULL_POINTER, |_| Ok(())) }
}
