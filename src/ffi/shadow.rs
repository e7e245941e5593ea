//! `aiot_shadow_api.h`: the device shadow (update, get, delete; cloud control pushes).

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::Arc;

use super::handle::{deinit_handle, new_handle};
use super::mqtt::shared_client;
use super::{deref, guard, handler_data};
use crate::components::shadow::{Kind, Msg, Recv, Shadow, ShadowError, ShadowFn};
use crate::state::*;

/// Options of `aiot_shadow_setopt`; the comment gives the type `data` points to.
pub type aiot_shadow_option_t = u32;
/// `void *` MQTT handle the messages travel on (adds a topic handler on `/shadow/get/+/+`, no
/// SUBSCRIBE). Required.
pub const AIOT_SHADOWOPT_MQTT_HANDLE: aiot_shadow_option_t = 0;
/// `aiot_shadow_recv_handler_t`
pub const AIOT_SHADOWOPT_RECV_HANDLER: aiot_shadow_option_t = 1;
/// `void *` userdata for the receive handler.
pub const AIOT_SHADOWOPT_USERDATA: aiot_shadow_option_t = 2;
pub const AIOT_SHADOWOPT_MAX: aiot_shadow_option_t = 3;

/// Kind of message `aiot_shadow_send` sends.
pub type aiot_shadow_msg_type_t = u32;
/// Update the shadow's reported values; `data.update`.
pub const AIOT_SHADOWMSG_UPDATE: aiot_shadow_msg_type_t = 0;
/// Clear the shadow's desired values; `data.clean_desired`.
pub const AIOT_SHADOWMSG_CLEAN_DESIRED: aiot_shadow_msg_type_t = 1;
/// Get the shadow; `data.get`. The document comes as `AIOT_SHADOWRECV_GET_REPLY`.
pub const AIOT_SHADOWMSG_GET: aiot_shadow_msg_type_t = 2;
/// Delete some or all reported values; `data.delete_reporte`.
pub const AIOT_SHADOWMSG_DELETE_REPORTED: aiot_shadow_msg_type_t = 3;
pub const AIOT_SHADOWMSG_MAX: aiot_shadow_msg_type_t = 4;

/// Update reported values.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_shadow_msg_update_t {
    /// The reported object, NUL-terminated JSON inserted as given, e.g. `{"LightSwitch":1}`.
    pub reported: *mut c_char,
    /// The shadow's new version, greater than its current one; -1 clears the shadow and sets
    /// its version to 0.
    pub version: i64,
}

/// Clear desired values.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_shadow_msg_clean_desired_t {
    /// The shadow's new version, greater than its current one.
    pub version: i64,
}

/// Get the shadow.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_shadow_msg_get_t {
    /// Reserved (upstream's spelling).
    pub resevered: u32,
}

/// Delete reported values.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_shadow_msg_delete_reported_t {
    /// `"null"` (with its quotes) deletes all reported values; `{"LightSwitch":"null"}` one.
    pub reported: *mut c_char,
    /// The shadow's new version, greater than its current one.
    pub version: i64,
}

/// The message-specific part of `aiot_shadow_msg_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_shadow_msg_data_t {
    pub update: aiot_shadow_msg_update_t,
    pub clean_desired: aiot_shadow_msg_clean_desired_t,
    pub get: aiot_shadow_msg_get_t,
    /// Upstream's spelling.
    pub delete_reporte: aiot_shadow_msg_delete_reported_t,
}

/// A message for `aiot_shadow_send`. `product_key`/`device_name` NULL: the MQTT handle's
/// (another device's for a gateway's sub-device).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_shadow_msg_t {
    pub product_key: *mut c_char,
    pub device_name: *mut c_char,
    pub r#type: aiot_shadow_msg_type_t,
    pub data: aiot_shadow_msg_data_t,
}

/// Kind of message handed to the receive handler.
pub type aiot_shadow_recv_type_t = u32;
/// The answer to an update, clean-desired or delete; `data.generic_reply`.
pub const AIOT_SHADOWRECV_GENERIC_REPLY: aiot_shadow_recv_type_t = 0;
/// A change pushed by the cloud while the device is online; `data.control`.
pub const AIOT_SHADOWRECV_CONTROL: aiot_shadow_recv_type_t = 1;
/// The shadow document, answering a get; `data.get_reply`.
pub const AIOT_SHADOWRECV_GET_REPLY: aiot_shadow_recv_type_t = 2;

/// The answer to an update, clean-desired or delete.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_shadow_recv_generic_reply_t {
    /// The reply's `payload` (not NUL-terminated).
    pub payload: *mut c_char,
    pub payload_len: u32,
    /// `success`, or `error` (code and text in `payload`); NUL-terminated.
    pub status: *mut c_char,
    pub timestamp: u64,
}

/// A change pushed by the cloud.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_shadow_recv_control_t {
    /// The shadow data (not NUL-terminated).
    pub payload: *mut c_char,
    pub payload_len: u32,
    pub version: u64,
}

/// The shadow document.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_shadow_recv_get_reply_t {
    /// The shadow data (not NUL-terminated).
    pub payload: *mut c_char,
    pub payload_len: u32,
    pub version: u64,
}

/// The message-specific part of `aiot_shadow_recv_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_shadow_recv_data_t {
    pub generic_reply: aiot_shadow_recv_generic_reply_t,
    pub control: aiot_shadow_recv_control_t,
    pub get_reply: aiot_shadow_recv_get_reply_t,
}

/// A message handed to the receive handler, valid only during the call. `product_key` and
/// `device_name` (NUL-terminated) come from the topic.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_shadow_recv_t {
    pub product_key: *mut c_char,
    pub device_name: *mut c_char,
    pub r#type: aiot_shadow_recv_type_t,
    pub data: aiot_shadow_recv_data_t,
}

/// Receive handler, run on the thread calling `aiot_mqtt_recv` with no library lock held.
pub type aiot_shadow_recv_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, recv: *const aiot_shadow_recv_t, userdata: *mut c_void)>;

/// The object behind a shadow handle.
pub struct ShadowHandle {
    shadow: Shadow,
}

/// The shadow session behind a C handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_shadow_init` not yet freed.
unsafe fn shadow<'a>(handle: *mut c_void) -> Option<&'a Shadow> {
    // SAFETY: NULL or a live `ShadowHandle` (this function's contract).
    unsafe { deref::<ShadowHandle>(handle) }.map(|h| &h.shadow)
}

/// A NUL-terminated copy (a NUL inside is dropped).
fn c_copy(bytes: &[u8]) -> CString {
    CString::new(bytes.iter().copied().filter(|&b| b != 0).collect::<Vec<u8>>()).unwrap_or_default()
}

/// Wraps the user's handler: the message becomes an `aiot_shadow_recv_t` whose strings live
/// for the call.
fn recv_handler(
    shadow_handle: *mut c_void,
    f: unsafe extern "C" fn(*mut c_void, *const aiot_shadow_recv_t, *mut c_void),
) -> Arc<ShadowFn> {
    let shadow_handle = shadow_handle as usize;
    Arc::new(move |recv: &Recv<'_>, userdata: usize| {
        let pk = c_copy(recv.product_key);
        let dn = c_copy(recv.device_name);
        let slice = |b: &[u8]| (b.as_ptr() as *mut c_char, b.len() as u32);
        let mut status = CString::default();
        let (r#type, data) = match recv.kind {
            Kind::GenericReply {
                payload,
                status: s,
                timestamp,
            } => {
                status = c_copy(s);
                let (payload, payload_len) = slice(payload);
                let generic_reply = aiot_shadow_recv_generic_reply_t {
                    payload,
                    payload_len,
                    status: status.as_ptr() as *mut c_char,
                    timestamp,
                };
                (
                    AIOT_SHADOWRECV_GENERIC_REPLY,
                    aiot_shadow_recv_data_t { generic_reply },
                )
            }
            Kind::Control { payload, version } => {
                let (payload, payload_len) = slice(payload);
                let control = aiot_shadow_recv_control_t {
                    payload,
                    payload_len,
                    version,
                };
                (AIOT_SHADOWRECV_CONTROL, aiot_shadow_recv_data_t { control })
            }
            Kind::GetReply { payload, version } => {
                let (payload, payload_len) = slice(payload);
                let get_reply = aiot_shadow_recv_get_reply_t {
                    payload,
                    payload_len,
                    version,
                };
                (AIOT_SHADOWRECV_GET_REPLY, aiot_shadow_recv_data_t { get_reply })
            }
        };
        let msg = aiot_shadow_recv_t {
            product_key: pk.as_ptr() as *mut c_char,
            device_name: dn.as_ptr() as *mut c_char,
            r#type,
            data,
        };
        // SAFETY: the user's handler, called with a message whose pointers stay valid for
        // the call (the strings above and the MQTT payload outlive it).
        unsafe { f(shadow_handle as *mut c_void, &msg, userdata as *mut c_void) };
        drop(status);
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

/// The message in Rust terms; `None` for a type out of range.
///
/// # Safety
/// The union member that `m.type` names must be initialised, its strings NULL or
/// NUL-terminated.
unsafe fn to_msg(m: &aiot_shadow_msg_t) -> Option<Msg<'_>> {
    // SAFETY (every block below): the member read is the one `m.type` names, initialised
    // with valid pointers by this function's contract.
    Some(match m.r#type {
        AIOT_SHADOWMSG_UPDATE => {
            let u = unsafe { m.data.update };
            Msg::Update {
                reported: unsafe { bytes(u.reported) },
                version: u.version,
            }
        }
        AIOT_SHADOWMSG_CLEAN_DESIRED => Msg::CleanDesired {
            version: unsafe { m.data.clean_desired.version },
        },
        AIOT_SHADOWMSG_GET => Msg::Get,
        AIOT_SHADOWMSG_DELETE_REPORTED => {
            let d = unsafe { m.data.delete_reporte };
            Msg::DeleteReported {
                reported: unsafe { bytes(d.reported) },
                version: d.version,
            }
        }
        _ => return None,
    })
}

fn code(result: Result<i32, ShadowError>) -> i32 {
    match result {
        Ok(v) => v,
        Err(e) => e.code(),
    }
}

/// Creates a shadow handle; NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_shadow_init() -> *mut c_void {
    new_handle(|_| ShadowHandle {
        shadow: Shadow::new(),
    })
}

/// Sets one option. NULL handle or data: `STATE_USER_INPUT_NULL_POINTER`; option out of
/// range: `STATE_USER_INPUT_OUT_RANGE`.
///
/// # Safety
/// `handle` from `aiot_shadow_init`; `data` of the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_shadow_setopt(
    handle: *mut c_void,
    option: aiot_shadow_option_t,
    data: *mut c_void,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_shadow_init` (this function's contract).
        let (Some(s), false) = (unsafe { shadow(handle) }, data.is_null()) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        match option {
            // SAFETY: `data` is a live handle from `aiot_mqtt_init` (the option's contract).
            AIOT_SHADOWOPT_MQTT_HANDLE => match unsafe { shared_client(data) } {
                Some(client) => code(s.set_mqtt(client).map(|()| STATE_SUCCESS)),
                None => STATE_USER_INPUT_NULL_POINTER,
            },
            AIOT_SHADOWOPT_RECV_HANDLER => {
                // SAFETY: the option passes the handler itself as `data` (this function's
                // contract).
                s.set_handler(recv_handler(handle, unsafe { handler_data(data) }));
                STATE_SUCCESS
            }
            AIOT_SHADOWOPT_USERDATA => {
                s.set_userdata(data as usize);
                STATE_SUCCESS
            }
            _ => STATE_USER_INPUT_OUT_RANGE,
        }
    })
}

/// Sends one request (QoS0) on `/shadow/update/{pk}/{dn}`. Returns 0, or a negative code:
/// `STATE_SHADOW_MQTT_HANDLE_IS_NULL` without an MQTT handle, `STATE_SHADOW_REPORTED_DATA_IS_NULL`
/// for an update or delete without `reported`, `STATE_USER_INPUT_OUT_RANGE` for an unknown type.
///
/// # Safety
/// `handle` from `aiot_shadow_init`; `msg` NULL or a message whose member for its type is
/// initialised (strings NUL-terminated).
#[no_mangle]
pub unsafe extern "C" fn aiot_shadow_send(handle: *mut c_void, msg: *mut aiot_shadow_msg_t) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_shadow_init`; `msg` is NULL or valid
        // (this function's contract).
        let (Some(s), Some(m)) = (unsafe { shadow(handle) }, unsafe { msg.as_ref() }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        // SAFETY: the member `m.type` names is initialised (this function's contract).
        let Some(message) = (unsafe { to_msg(m) }) else {
            return STATE_USER_INPUT_OUT_RANGE;
        };
        // SAFETY: NULL or NUL-terminated (this function's contract).
        let (pk, dn) = unsafe { (bytes(m.product_key), bytes(m.device_name)) };
        code(s.send(&message, pk, dn))
    })
}

/// Frees a shadow handle and removes its topic handler from the MQTT handle; sets `*handle`
/// to NULL.
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_shadow_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_shadow_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_shadow_init`, used by no call from
    // now on (this function's contract).
    unsafe { deinit_handle::<ShadowHandle>(handle, STATE_USER_INPUT_NULL_POINTER, |_| Ok(())) }
}
