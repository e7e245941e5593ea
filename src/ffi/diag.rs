//! `aiot_diag_api.h`: the SDK's self-diagnosis (connect, heartbeat and Alink reply times).

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use super::handle::{deinit_handle, new_handle};
use super::mqtt::shared_client;
use super::{data_ref, deref, guard, handler_data, read_data, status};
use crate::components::diag::{Config, Diag, Kind};
use crate::error::Result;
use crate::state::*;

/// Kind of message for the diag receive handler (declared by upstream, never produced: there is
/// no downlink).
pub type aiot_diag_recv_type_t = u32;
pub const AIOT_DIAGRECV_DIAG_CONTROL: aiot_diag_recv_type_t = 0;

/// `data.diag_control`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_diag_recv_diag_control_t {
    pub data: u32,
}

/// Payload of `aiot_diag_recv_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_diag_recv_data_t {
    pub diag_control: aiot_diag_recv_diag_control_t,
}

/// A message for the diag receive handler.
#[repr(C)]
pub struct aiot_diag_recv_t {
    pub r#type: aiot_diag_recv_type_t,
    pub data: aiot_diag_recv_data_t,
}

/// Diag receive handler (never called).
pub type aiot_diag_recv_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, packet: *const aiot_diag_recv_t, userdata: *mut c_void)>;

/// Kind of a diag event.
pub type aiot_diag_event_type_t = u32;
/// An alert (`data.alert`).
pub const AIOT_DIAGEVT_ALERT: aiot_diag_event_type_t = 0;

/// An alert: valid during the handler call only.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_diag_event_alert_t {
    /// `DiagMqttConnection`, `DiagMqttHeartbeat` or `DiagAlinkUplink`.
    pub module_name: *mut c_char,
    /// `WARN` or `FATAL`.
    pub level: *mut c_char,
    /// What happened, e.g. `MQTT connection establish time 312 ms`.
    pub desc: *mut c_char,
}

/// Payload of `aiot_diag_event_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_diag_event_data_t {
    pub alert: aiot_diag_event_alert_t,
}

/// A diag event.
#[repr(C)]
pub struct aiot_diag_event_t {
    pub r#type: aiot_diag_event_type_t,
    pub data: aiot_diag_event_data_t,
}

/// Diag event handler, run on the thread calling `aiot_mqtt_process`.
pub type aiot_diag_event_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, event: *const aiot_diag_event_t, userdata: *mut c_void)>;

/// Thresholds of one diagnosis item.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_diag_config_t {
    /// 0: the item collects nothing (default 1).
    pub enabled: u8,
    /// After the first alert, further alerts within this many ms are summed up in one report.
    pub interval_ms: u32,
    /// A duration at or above this (ms) is a WARN alert (upstream's spelling).
    pub warning_threashold: i64,
    /// A duration at or above this (ms), or no answer within it, is a FATAL alert.
    pub fatal_threshold: i64,
}

/// Options of `aiot_diag_setopt`; the comment gives the type `data` points to.
pub type aiot_diag_option_t = u32;
/// `void *` MQTT handle whose `aiot_mqtt_process` evaluates (every 2 s) and reports.
pub const AIOT_DIAGOPT_MQTT_HANDLE: aiot_diag_option_t = 0;
/// `uint8_t *` 1: alerts go to the event handler (default 1).
pub const AIOT_DIAGOPT_LOCAL_REPORT_ENABLED: aiot_diag_option_t = 1;
/// `uint8_t *` 1: alerts are posted on `/sys/{pk}/{dn}/thing/log/post` (default 1).
pub const AIOT_DIAGOPT_CLOUD_REPORT_ENABLED: aiot_diag_option_t = 2;
/// `aiot_diag_config_t *` MQTT connect time (default warning 200, fatal 500 ms, 30 s).
pub const AIOT_DIAGOPT_MQTT_CONNECTION: aiot_diag_option_t = 3;
/// `aiot_diag_config_t *` heartbeat round trip (default warning 800, fatal 1500 ms, 30 s).
pub const AIOT_DIAGOPT_MQTT_HEARTBEAT: aiot_diag_option_t = 4;
/// `aiot_diag_config_t *` Alink reply time (default warning 600, fatal 1000 ms, 30 s).
pub const AIOT_DIAGOPT_ALINK_UPLINK: aiot_diag_option_t = 5;
/// `aiot_diag_recv_handler_t` (never called).
pub const AIOT_DIAGOPT_RECV_HANDLER: aiot_diag_option_t = 6;
/// `aiot_diag_event_handler_t`
pub const AIOT_DIAGOPT_EVENT_HANDLER: aiot_diag_option_t = 7;
/// `void *` userdata for the handlers.
pub const AIOT_DIAGOPT_USERDATA: aiot_diag_option_t = 8;
pub const AIOT_DIAGOPT_MAX: aiot_diag_option_t = 9;

/// The diag session behind a C handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_diag_init` not yet freed.
unsafe fn diag<'a>(handle: *mut c_void) -> Option<&'a Diag> {
    // SAFETY: NULL or a live `Diag` (this function's contract).
    unsafe { deref::<Diag>(handle) }
}

fn code(result: Result<()>) -> i32 {
    status(result.map(|()| STATE_SUCCESS))
}

fn config(c: &aiot_diag_config_t) -> Config {
    Config {
        enabled: c.enabled,
        interval_ms: c.interval_ms,
        warning_ms: c.warning_threashold,
        fatal_ms: c.fatal_threshold,
    }
}

/// Creates a diag handle and installs the SDK's timing tap; NULL when no portfile is set.
/// Nothing is collected before `aiot_diag_start`.
#[no_mangle]
pub extern "C" fn aiot_diag_init() -> *mut c_void {
    new_handle(Diag::new)
}

/// Sets one diag option.
///
/// # Safety
/// `handle` from `aiot_diag_init`; `data` of the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_diag_setopt(
    handle: *mut c_void,
    option: aiot_diag_option_t,
    data: *mut c_void,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_diag_init` (this function's contract).
        let Some(d) = (unsafe { diag(handle) }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        if data.is_null() {
            return STATE_USER_INPUT_NULL_POINTER;
        }
        let handle = handle as usize;
        match option {
            // SAFETY: `data` is a live handle from `aiot_mqtt_init` (the option's contract).
            AIOT_DIAGOPT_MQTT_HANDLE => match unsafe { shared_client(data) } {
                Some(client) => code(d.set_mqtt(client)),
                None => STATE_USER_INPUT_NULL_POINTER,
            },
            // SAFETY: `data` points to a `uint8_t` (the option's contract).
            AIOT_DIAGOPT_LOCAL_REPORT_ENABLED => code(d.set_local(unsafe { read_data::<u8>(data) })),
            // SAFETY: as above.
            AIOT_DIAGOPT_CLOUD_REPORT_ENABLED => code(d.set_cloud(unsafe { read_data::<u8>(data) })),
            AIOT_DIAGOPT_MQTT_CONNECTION | AIOT_DIAGOPT_MQTT_HEARTBEAT | AIOT_DIAGOPT_ALINK_UPLINK => {
                let kind = match option {
                    AIOT_DIAGOPT_MQTT_CONNECTION => Kind::Connection,
                    AIOT_DIAGOPT_MQTT_HEARTBEAT => Kind::Heartbeat,
                    _ => Kind::AlinkUplink,
                };
                // SAFETY: `data` points to an `aiot_diag_config_t` (the option's contract).
                code(d.set_config(kind, config(unsafe { data_ref::<aiot_diag_config_t>(data) })))
            }
            // Stored by upstream and never called: there is no diag downlink.
            AIOT_DIAGOPT_RECV_HANDLER => STATE_SUCCESS,
            AIOT_DIAGOPT_EVENT_HANDLER => {
                // SAFETY: the option passes the handler itself as `data` (its contract).
                let f: unsafe extern "C" fn(*mut c_void, *const aiot_diag_event_t, *mut c_void) =
                    unsafe { handler_data(data) };
                code(d.set_event_handler(Arc::new(
                    move |module: &str, level: &str, desc: &str, userdata: usize| {
                        let c = |s: &str| CString::new(s.replace('\0', "")).unwrap_or_default();
                        let (module, level, desc) = (c(module), c(level), c(desc));
                        let event = aiot_diag_event_t {
                            r#type: AIOT_DIAGEVT_ALERT,
                            data: aiot_diag_event_data_t {
                                alert: aiot_diag_event_alert_t {
                                    module_name: module.as_ptr() as *mut c_char,
                                    level: level.as_ptr() as *mut c_char,
                                    desc: desc.as_ptr() as *mut c_char,
                                },
                            },
                        };
                        // SAFETY: the user's handler, called with an event valid for the call.
                        unsafe { f(handle as *mut c_void, &event, userdata as *mut c_void) }
                    },
                )))
            }
            AIOT_DIAGOPT_USERDATA => code(d.set_userdata(data as usize)),
            o if o >= AIOT_DIAGOPT_MAX => STATE_USER_INPUT_OUT_RANGE,
            _ => STATE_USER_INPUT_UNKNOWN_OPTION,
        }
    })
}

/// Starts collecting and reporting.
///
/// # Safety
/// `handle` must be NULL or come from `aiot_diag_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_diag_start(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_diag_init` (this function's contract).
    guard(|| match unsafe { diag(handle) } {
        Some(d) => {
            d.start();
            STATE_SUCCESS
        }
        None => STATE_USER_INPUT_NULL_POINTER,
    })
}

/// Stops collecting and reporting (what was recorded is dropped).
///
/// # Safety
/// `handle` must be NULL or come from `aiot_diag_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_diag_stop(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_diag_init` (this function's contract).
    guard(|| match unsafe { diag(handle) } {
        Some(d) => {
            d.stop();
            STATE_SUCCESS
        }
        None => STATE_USER_INPUT_NULL_POINTER,
    })
}

/// Removes the tap, leaves the MQTT session, waits for calls in progress and frees the handle;
/// writes NULL back.
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_diag_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_diag_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_diag_init`; the shutdown waits for
    // the calls in progress, after which none uses it (this function's contract).
    unsafe { deinit_handle(handle, STATE_USER_INPUT_NULL_POINTER, Diag::shutdown) }
}
