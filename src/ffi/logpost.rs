//! `aiot_logpost_api.h`: device logs to the cloud, switched by the cloud's log config.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::handle::{deinit_handle, new_handle};
use super::mqtt::shared_client;
use super::{cstr, deref, guard, handler_data, read_data, status};
use crate::components::logpost::{Logpost, UserMessage};
use crate::state::*;

/// Options of `aiot_logpost_setopt`; the comment gives the type `data` points to.
pub type aiot_logpost_option_t = u32;
/// `void *` MQTT handle. Attaches the config topics' handlers (no SUBSCRIBE); the log config
/// is asked for on the handle's first connect, or at once if it has already connected.
pub const AIOT_LOGPOSTOPT_MQTT_HANDLE: aiot_logpost_option_t = 0;
/// `aiot_logpost_event_handler_t`: told of each log config from the cloud.
pub const AIOT_LOGPOSTOPT_EVENT_HANDLER: aiot_logpost_option_t = 1;
/// `void *` userdata for the event handler.
pub const AIOT_LOGPOSTOPT_USERDATA: aiot_logpost_option_t = 2;
/// `uint8_t *` 1: post the network system logs (`net_conn` once per connect, `net_rt` every
/// 30 minutes) from `aiot_mqtt_process`, whatever the cloud's switch; default 0.
pub const AIOT_LOGPOSTOPT_SYS_LOG: aiot_logpost_option_t = 3;
pub const AIOT_LOGPOSTOPT_MAX: aiot_logpost_option_t = 4;

/// Level of a log (`logLevel` on the wire: FATAL, ERROR, WARN, INFO, DEBUG).
pub type aiot_logpost_level_t = u32;
pub const AIOT_LOGPOST_LEVEL_FATAL: aiot_logpost_level_t = 0;
pub const AIOT_LOGPOST_LEVEL_ERR: aiot_logpost_level_t = 1;
pub const AIOT_LOGPOST_LEVEL_WARN: aiot_logpost_level_t = 2;
pub const AIOT_LOGPOST_LEVEL_INFO: aiot_logpost_level_t = 3;
pub const AIOT_LOGPOST_LEVEL_DEBUG: aiot_logpost_level_t = 4;

/// One log for `aiot_logpost_send`.
#[repr(C)]
pub struct aiot_logpost_msg_t {
    /// ms since 1970 (UTC); 0: now, by the SDK's log clock. Sent as a UTC+8 date.
    pub timestamp: u64,
    pub loglevel: aiot_logpost_level_t,
    /// Module name (required).
    pub module_name: *mut c_char,
    /// Status code, sent as decimal.
    pub code: i32,
    /// Sent as `traceContext` (0 when none).
    pub msg_id: u64,
    /// The log text (required), at most 4096 bytes; JSON-escaped on the wire.
    pub content: *mut c_char,
}

/// Kind of a logpost event.
pub type aiot_logpost_event_type_t = u32;
/// The cloud's log config arrived (`data.config_data`).
pub const AIOT_LOGPOSTEVT_CONFIG_DATA: aiot_logpost_event_type_t = 0;

/// The cloud's log config.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_logpost_event_config_data_t {
    /// User log switch: 1 on, 0 off (`aiot_logpost_send` then answers
    /// `STATE_LOGPOST_POST_TURN_OFF`).
    pub on_off: u8,
}

/// Payload of `aiot_logpost_event_t`, selected by its `type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_logpost_event_data_t {
    pub config_data: aiot_logpost_event_config_data_t,
}

/// A logpost event.
#[repr(C)]
pub struct aiot_logpost_event_t {
    pub r#type: aiot_logpost_event_type_t,
    pub data: aiot_logpost_event_data_t,
}

/// Logpost event handler, run on the thread calling `aiot_mqtt_recv`; `handle` is the logpost
/// handle.
pub type aiot_logpost_event_handler_t = Option<
    unsafe extern "C" fn(handle: *mut c_void, event: *const aiot_logpost_event_t, userdata: *mut c_void),
>;

/// The logpost session behind a C handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_logpost_init` not yet freed.
unsafe fn logpost<'a>(handle: *mut c_void) -> Option<&'a Logpost> {
    // SAFETY: NULL or a live `Logpost` (this function's contract).
    unsafe { deref::<Logpost>(handle) }
}

/// Creates a logpost handle (user and system logs off); NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_logpost_init() -> *mut c_void {
    new_handle(Logpost::new)
}

/// Sets one logpost option.
///
/// # Safety
/// `handle` from `aiot_logpost_init`; `data` of the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_logpost_setopt(
    handle: *mut c_void,
    option: aiot_logpost_option_t,
    data: *mut c_void,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_logpost_init` (this function's contract).
        let Some(l) = (unsafe { logpost(handle) }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        if data.is_null() {
            return STATE_USER_INPUT_NULL_POINTER;
        }
        let handle = handle as usize;
        match option {
            // SAFETY: `data` is a live handle from `aiot_mqtt_init` (the option's contract).
            AIOT_LOGPOSTOPT_MQTT_HANDLE => match unsafe { shared_client(data) } {
                Some(client) => status(l.set_mqtt(client).map(|()| STATE_SUCCESS)),
                None => STATE_USER_INPUT_NULL_POINTER,
            },
            AIOT_LOGPOSTOPT_EVENT_HANDLER => {
                // SAFETY: the option passes the handler itself as `data` (its contract).
                let f: unsafe extern "C" fn(*mut c_void, *const aiot_logpost_event_t, *mut c_void) =
                    unsafe { handler_data(data) };
                l.set_event_handler(Arc::new(move |on_off: u8, userdata: usize| {
                    let event = aiot_logpost_event_t {
                        r#type: AIOT_LOGPOSTEVT_CONFIG_DATA,
                        data: aiot_logpost_event_data_t {
                            config_data: aiot_logpost_event_config_data_t { on_off },
                        },
                    };
                    // SAFETY: the user's handler, called with an event valid for the call.
                    unsafe { f(handle as *mut c_void, &event, userdata as *mut c_void) }
                }));
                STATE_SUCCESS
            }
            AIOT_LOGPOSTOPT_USERDATA => {
                l.set_userdata(data as usize);
                STATE_SUCCESS
            }
            AIOT_LOGPOSTOPT_SYS_LOG => {
                // SAFETY: `data` points to a `uint8_t` (the option's contract).
                l.set_sys_log(unsafe { read_data::<u8>(data) });
                STATE_SUCCESS
            }
            o if o >= AIOT_LOGPOSTOPT_MAX => STATE_USER_INPUT_OUT_RANGE,
            // Upstream ignores unknown options inside the range.
            _ => STATE_SUCCESS,
        }
    })
}

/// Posts one log on `/sys/{pk}/{dn}/thing/log/post` (QoS0). Returns the alink id (>= 0) or a
/// code: the message is checked first (level, module, content, length, timestamp), then the
/// MQTT handle, its product key and device name, then the cloud's switch.
///
/// # Safety
/// `handle` from `aiot_logpost_init`; `msg` NULL or a message whose strings are NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn aiot_logpost_send(handle: *mut c_void, msg: *mut aiot_logpost_msg_t) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_logpost_init` (this function's contract).
        let Some(l) = (unsafe { logpost(handle) }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        // SAFETY: `msg` is NULL or a valid message (this function's contract).
        let Some(m) = (unsafe { msg.as_ref() }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        // SAFETY: NULL or NUL-terminated (this function's contract).
        let (module, content) = unsafe { (cstr(m.module_name), cstr(m.content)) };
        status(l.send(&UserMessage {
            timestamp: m.timestamp,
            level: m.loglevel,
            module: module.as_deref(),
            code: m.code,
            msg_id: m.msg_id,
            content: content.as_deref(),
        }))
    })
}

/// Frees a logpost handle after leaving its MQTT session; writes NULL back.
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_logpost_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_logpost_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_logpost_init`, used by no call from
    // now on (this function's contract).
    unsafe { deinit_handle::<Logpost>(handle, STATE_USER_INPUT_NULL_POINTER, |_| Ok(())) }
}
