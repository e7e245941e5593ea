//! `aiot_devinfo_api.h`: device tags (update, delete, get).

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::Arc;

use super::handle::{deinit_handle, new_handle};
use super::mqtt::shared_client;
use super::{deref, guard, handler_data, read_data, status};
use crate::components::devinfo::{Devinfo, Invalid, Op, RecvFn, Reply, ReplyKind};
use crate::error::Result;
use crate::state::*;

/// Kind of reply handed to the receive handler.
pub type aiot_devinfo_recv_type_t = u32;
/// The answer to an update or delete; `data.generic_reply`.
pub const AIOT_DEVINFORECV_GENERIC_REPLY: aiot_devinfo_recv_type_t = 0;
/// The answer to a get; `data.get_reply`.
pub const AIOT_DEVINFORECV_GET_REPLY: aiot_devinfo_recv_type_t = 1;

/// The answer to an update or delete. `data` and `message` point into the payload (not
/// NUL-terminated).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_devinfo_recv_generic_reply_t {
    /// The request's alink id (what `aiot_devinfo_send` returned).
    pub msg_id: u32,
    /// 200 on success.
    pub code: u32,
    pub data: *mut c_char,
    pub data_len: u32,
    pub message: *mut c_char,
    pub message_len: u32,
}

/// The answer to a get: the tags in `data` (not NUL-terminated).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_devinfo_recv_get_reply_t {
    /// The request's alink id (what `aiot_devinfo_send` returned).
    pub msg_id: u32,
    /// 200 on success.
    pub code: u32,
    pub data: *mut c_char,
    pub data_len: u32,
    pub message: *mut c_char,
    pub message_len: u32,
}

/// The reply-specific part of `aiot_devinfo_recv_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_devinfo_recv_data_t {
    pub generic_reply: aiot_devinfo_recv_generic_reply_t,
    pub get_reply: aiot_devinfo_recv_get_reply_t,
}

/// A reply handed to the receive handler, valid only during the call. `product_key` and
/// `device_name` (NUL-terminated) come from the topic.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_devinfo_recv_t {
    pub product_key: *mut c_char,
    pub device_name: *mut c_char,
    pub r#type: aiot_devinfo_recv_type_t,
    pub data: aiot_devinfo_recv_data_t,
}

/// Receive handler, run on the thread calling `aiot_mqtt_recv` with no library lock held.
pub type aiot_devinfo_recv_handler_t = Option<
    unsafe extern "C" fn(handle: *mut c_void, packet: *const aiot_devinfo_recv_t, userdata: *mut c_void),
>;

/// What was wrong with a reply (no receive handler: nothing is reported at all).
pub type aiot_devinfo_event_type_t = u32;
/// The topic names no product key and device name.
pub const AIOT_DEVINFOEVT_INVALID_DEVINFO: aiot_devinfo_event_type_t = 0;
/// Not a JSON object, or `code`, `id`, `data` or `message` missing.
pub const AIOT_DEVINFOEVT_INVALID_RESPONSE: aiot_devinfo_event_type_t = 1;
/// `code` or `id` is not a number.
pub const AIOT_DEVINFOEVT_INVALID_RESPONSE_FORMAT: aiot_devinfo_event_type_t = 2;

/// A device-tag event.
#[repr(C)]
pub struct aiot_devinfo_event_t {
    pub r#type: aiot_devinfo_event_type_t,
}

/// Event handler, run on the thread calling `aiot_mqtt_recv`.
pub type aiot_devinfo_event_handler_t = Option<
    unsafe extern "C" fn(handle: *mut c_void, event: *const aiot_devinfo_event_t, userdata: *mut c_void),
>;

/// Kind of request `aiot_devinfo_send` sends.
pub type aiot_devinfo_msg_type_t = u32;
/// Update tags: `params` `[{"attrKey":"k","attrValue":"v"}, ...]`.
pub const AIOT_DEVINFO_MSG_UPDATE: aiot_devinfo_msg_type_t = 0;
/// Delete tags: `params` `[{"attrKey":"k"}, ...]`.
pub const AIOT_DEVINFO_MSG_DELETE: aiot_devinfo_msg_type_t = 1;
/// Get tags: `params` `{"attrKeys":["k1","k2"]}` (at most 10 keys).
pub const AIOT_DEVINFO_MSG_GET: aiot_devinfo_msg_type_t = 2;

/// A request's data.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_devinfo_msg_data_t {
    /// NUL-terminated JSON, inserted as given.
    pub params: *mut c_char,
}

/// The request-specific part of `aiot_devinfo_msg_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_devinfo_msg_union_t {
    pub update: aiot_devinfo_msg_data_t,
    pub delete: aiot_devinfo_msg_data_t,
    pub get: aiot_devinfo_msg_data_t,
}

/// A request for `aiot_devinfo_send`; `product_key` and `device_name` are required.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_devinfo_msg_t {
    pub product_key: *mut c_char,
    pub device_name: *mut c_char,
    pub r#type: aiot_devinfo_msg_type_t,
    pub data: aiot_devinfo_msg_union_t,
}

/// Options of `aiot_devinfo_setopt`; the comment gives the type `data` points to.
pub type aiot_devinfo_option_t = u32;
/// `void *` MQTT handle the requests go out on: adds the update_reply and delete_reply
/// handlers (no SUBSCRIBE) and subscribes to get_reply. Returns that SUBSCRIBE's packet id.
pub const AIOT_DEVINFOOPT_MQTT_HANDLE: aiot_devinfo_option_t = 0;
/// `aiot_devinfo_recv_handler_t`
pub const AIOT_DEVINFOOPT_RECV_HANDLER: aiot_devinfo_option_t = 1;
/// `aiot_devinfo_event_handler_t`
pub const AIOT_DEVINFOOPT_EVENT_HANDLER: aiot_devinfo_option_t = 2;
/// `void *` userdata for both handlers.
pub const AIOT_DEVINFOOPT_USERDATA: aiot_devinfo_option_t = 3;
/// `uint32_t *` how long `aiot_devinfo_deinit` waits for calls in progress, default 2000 ms.
pub const AIOT_DEVINFOOPT_DEINIT_TIMEOUT_MS: aiot_devinfo_option_t = 4;
pub const AIOT_DEVINFOOPT_MAX: aiot_devinfo_option_t = 5;

/// The object behind a device-tag handle.
pub struct DevinfoHandle {
    devinfo: Devinfo,
}

/// # Safety
/// `handle` must be NULL or a handle from `aiot_devinfo_init` not yet freed.
unsafe fn devinfo<'a>(handle: *mut c_void) -> Option<&'a Devinfo> {
    // SAFETY: NULL or a live `DevinfoHandle` (this function's contract).
    unsafe { deref::<DevinfoHandle>(handle) }.map(|h| &h.devinfo)
}

fn code(result: Result<()>) -> i32 {
    status(result.map(|()| STATE_SUCCESS))
}

/// A NUL-terminated copy (a NUL inside is dropped).
fn c_copy(bytes: &[u8]) -> CString {
    CString::new(bytes.iter().copied().filter(|&b| b != 0).collect::<Vec<u8>>()).unwrap_or_default()
}

/// # Safety
/// `p` must be NULL or NUL-terminated.
unsafe fn bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: not NULL, and NUL-terminated (this function's contract).
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

fn recv_handler(
    handle: usize,
    f: unsafe extern "C" fn(*mut c_void, *const aiot_devinfo_recv_t, *mut c_void),
) -> Arc<RecvFn> {
    Arc::new(move |kind: ReplyKind, r: &Reply<'_>, userdata: usize| {
        let pk = c_copy(r.product_key);
        let dn = c_copy(r.device_name);
        let reply = aiot_devinfo_recv_generic_reply_t {
            msg_id: r.msg_id,
            code: r.code,
            data: r.data.as_ptr() as *mut c_char,
            data_len: r.data.len() as u32,
            message: r.message.as_ptr() as *mut c_char,
            message_len: r.message.len() as u32,
        };
        let (r#type, data) = match kind {
            ReplyKind::Generic => (
                AIOT_DEVINFORECV_GENERIC_REPLY,
                aiot_devinfo_recv_data_t { generic_reply: reply },
            ),
            ReplyKind::Get => {
                let get_reply = aiot_devinfo_recv_get_reply_t {
                    msg_id: reply.msg_id,
                    code: reply.code,
                    data: reply.data,
                    data_len: reply.data_len,
                    message: reply.message,
                    message_len: reply.message_len,
                };
                (AIOT_DEVINFORECV_GET_REPLY, aiot_devinfo_recv_data_t { get_reply })
            }
        };
        let packet = aiot_devinfo_recv_t {
            product_key: pk.as_ptr() as *mut c_char,
            device_name: dn.as_ptr() as *mut c_char,
            r#type,
            data,
        };
        // SAFETY: the user's handler, called with a reply whose pointers stay valid for the
        // call (the strings above and the MQTT payload outlive it).
        unsafe { f(handle as *mut c_void, &packet, userdata as *mut c_void) }
    })
}

/// Creates a device-tag handle (deinit timeout 2000 ms); NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_devinfo_init() -> *mut c_void {
    new_handle(|port| DevinfoHandle {
        devinfo: Devinfo::new(port),
    })
}

/// Sets one option. NULL handle or data: `STATE_USER_INPUT_NULL_POINTER`; option out of
/// range: `STATE_USER_INPUT_OUT_RANGE`; after deinit began: `STATE_USER_INPUT_EXEC_DISABLED`.
/// `AIOT_DEVINFOOPT_MQTT_HANDLE` returns the get_reply SUBSCRIBE's packet id when connected.
///
/// # Safety
/// `handle` from `aiot_devinfo_init`; `data` of the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_devinfo_setopt(
    handle: *mut c_void,
    option: aiot_devinfo_option_t,
    data: *mut c_void,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_devinfo_init` (this function's contract).
        let (Some(d), false) = (unsafe { devinfo(handle) }, data.is_null()) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        let handle = handle as usize;
        match option {
            // SAFETY: `data` is a live handle from `aiot_mqtt_init` (the option's contract).
            AIOT_DEVINFOOPT_MQTT_HANDLE => match unsafe { shared_client(data) } {
                Some(client) => status(d.set_mqtt(client)),
                None => STATE_USER_INPUT_NULL_POINTER,
            },
            AIOT_DEVINFOOPT_RECV_HANDLER => {
                // SAFETY: the option passes the handler itself as `data` (its contract).
                code(d.set_recv_handler(recv_handler(handle, unsafe { handler_data(data) })))
            }
            AIOT_DEVINFOOPT_EVENT_HANDLER => {
                // SAFETY: the option passes the handler itself as `data` (its contract).
                let f: unsafe extern "C" fn(*mut c_void, *const aiot_devinfo_event_t, *mut c_void) =
                    unsafe { handler_data(data) };
                code(d.set_event_handler(Arc::new(move |e: Invalid, userdata: usize| {
                    let event = aiot_devinfo_event_t {
                        r#type: match e {
                            Invalid::Devinfo => AIOT_DEVINFOEVT_INVALID_DEVINFO,
                            Invalid::Response => AIOT_DEVINFOEVT_INVALID_RESPONSE,
                            Invalid::ResponseFormat => AIOT_DEVINFOEVT_INVALID_RESPONSE_FORMAT,
                        },
                    };
                    // SAFETY: the user's handler, called with an event valid for the call.
                    unsafe { f(handle as *mut c_void, &event, userdata as *mut c_void) }
                })))
            }
            AIOT_DEVINFOOPT_USERDATA => code(d.set_userdata(data as usize)),
            // SAFETY: `data` points to a `uint32_t` (the option's contract).
            AIOT_DEVINFOOPT_DEINIT_TIMEOUT_MS => {
                code(d.set_deinit_timeout_ms(unsafe { read_data::<u32>(data) }))
            }
            _ => STATE_USER_INPUT_OUT_RANGE,
        }
    })
}

/// Frees a device-tag handle after leaving its MQTT session and waiting for calls in
/// progress; writes NULL back. On `STATE_MQTT_DEINIT_TIMEOUT` the handle stays (its calls
/// answer `STATE_USER_INPUT_EXEC_DISABLED`).
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_devinfo_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_devinfo_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_devinfo_init`; the shutdown waits
    // for the calls in progress, after which none uses it (this function's contract).
    unsafe {
        deinit_handle(handle, STATE_USER_INPUT_NULL_POINTER, |h: &DevinfoHandle| {
            h.devinfo.shutdown()
        })
    }
}

/// Sends one request (QoS0) on `/sys/{pk}/{dn}/thing/deviceinfo/{update,delete,get}`.
/// Returns its alink id (the reply's `msg_id`), or a negative code:
/// `STATE_DEVINFO_MISSING_MQTT_HANDLE`, `STATE_USER_INPUT_MISSING_PRODUCT_KEY` /
/// `..._DEVICE_NAME` (the message's own are required), `STATE_USER_INPUT_NULL_POINTER` for NULL
/// `params`, `STATE_USER_INPUT_UNKNOWN_OPTION` for an unknown type.
///
/// # Safety
/// `handle` from `aiot_devinfo_init`; `msg` NULL or a message with NULL or NUL-terminated
/// strings.
#[no_mangle]
pub unsafe extern "C" fn aiot_devinfo_send(handle: *mut c_void, msg: *mut aiot_devinfo_msg_t) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_devinfo_init`; `msg` is NULL or valid
        // (this function's contract).
        let (Some(d), Some(m)) = (unsafe { devinfo(handle) }, unsafe { msg.as_ref() }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        let op = match m.r#type {
            AIOT_DEVINFO_MSG_UPDATE => Some(Op::Update),
            AIOT_DEVINFO_MSG_DELETE => Some(Op::Delete),
            AIOT_DEVINFO_MSG_GET => Some(Op::Get),
            _ => None,
        };
        // SAFETY: the three union members have the same layout; each pointer is NULL or
        // NUL-terminated (this function's contract).
        let (pk, dn, params) = unsafe {
            (
                bytes(m.product_key),
                bytes(m.device_name),
                bytes(m.data.update.params),
            )
        };
        match d.send(op, params, pk, dn) {
            Ok(id) => id,
            Err(e) => e.code(),
        }
    })
}
