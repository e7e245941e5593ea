//! `aiot_ntp_api.h`: the platform's time over MQTT, as a local date.

use std::ffi::c_void;
use std::sync::Arc;

use super::handle::{call, deinit_handle, new_handle};
use super::mqtt::shared_client;
use super::{deref, guard, handler_data, read_data, status};
use crate::components::ntp::{LocalTime, Ntp, NtpEvent};
use crate::error::Result;
use crate::state::*;

/// Kind of message passed to the NTP receive handler.
pub type aiot_ntp_recv_type_t = u32;
/// The local time (`data.local_time`).
pub const AIOT_NTPRECV_LOCAL_TIME: aiot_ntp_recv_type_t = 0;

/// UTC and the date in the zone of `AIOT_NTPOPT_TIME_ZONE`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_ntp_recv_local_time_t {
    /// UTC in ms since 1970-01-01.
    pub timestamp: u64,
    pub year: u32,
    /// 1 to 12.
    pub mon: u32,
    /// 1 to 31.
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub msec: u32,
}

/// Payload of `aiot_ntp_recv_t`, selected by its `type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_ntp_recv_data_t {
    pub local_time: aiot_ntp_recv_local_time_t,
}

/// A message passed to the NTP receive handler.
#[repr(C)]
pub struct aiot_ntp_recv_t {
    pub r#type: aiot_ntp_recv_type_t,
    pub data: aiot_ntp_recv_data_t,
}

/// NTP receive handler, run on the thread calling `aiot_mqtt_recv`; `handle` is the NTP handle.
pub type aiot_ntp_recv_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, packet: *const aiot_ntp_recv_t, userdata: *mut c_void)>;

/// What was wrong with a response.
pub type aiot_ntp_event_type_t = u32;
/// A time is missing, or the response is not a JSON object.
pub const AIOT_NTPEVT_INVALID_RESPONSE: aiot_ntp_event_type_t = 0;
/// A time is not a number of milliseconds.
pub const AIOT_NTPEVT_INVALID_TIME_FORMAT: aiot_ntp_event_type_t = 1;

/// An NTP event.
#[repr(C)]
pub struct aiot_ntp_event_t {
    pub r#type: aiot_ntp_event_type_t,
}

/// NTP event handler, run on the thread calling `aiot_mqtt_recv`.
pub type aiot_ntp_event_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, event: *const aiot_ntp_event_t, userdata: *mut c_void)>;

/// Options of `aiot_ntp_setopt`; the comment gives the type `data` points to.
pub type aiot_ntp_option_t = u32;
/// `void *` MQTT handle (connected or not) the requests go out on; the response topic is
/// built from its product key and device name as they are at this call.
pub const AIOT_NTPOPT_MQTT_HANDLE: aiot_ntp_option_t = 0;
/// `int8_t *` time zone in hours east of UTC (UTC+8: 8, UTC-3: -3), default 0.
pub const AIOT_NTPOPT_TIME_ZONE: aiot_ntp_option_t = 1;
/// `aiot_ntp_recv_handler_t`
pub const AIOT_NTPOPT_RECV_HANDLER: aiot_ntp_option_t = 2;
/// `aiot_ntp_event_handler_t`
pub const AIOT_NTPOPT_EVENT_HANDLER: aiot_ntp_option_t = 3;
/// `void *` userdata for both handlers.
pub const AIOT_NTPOPT_USERDATA: aiot_ntp_option_t = 4;
/// `uint32_t *` how long `aiot_ntp_deinit` waits for calls in progress, default 2000 ms.
pub const AIOT_NTPOPT_DEINIT_TIMEOUT_MS: aiot_ntp_option_t = 5;
pub const AIOT_NTPOPT_MAX: aiot_ntp_option_t = 6;

/// The object behind an NTP handle.
pub struct NtpHandle {
    ntp: Ntp,
}

/// The NTP session behind a C NTP handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_ntp_init` not yet freed.
unsafe fn ntp<'a>(handle: *mut c_void) -> Option<&'a Ntp> {
    // SAFETY: NULL or a live `NtpHandle` (this function's contract).
    unsafe { deref::<NtpHandle>(handle) }.map(|h| &h.ntp)
}

fn code(result: Result<()>) -> i32 {
    status(result.map(|()| STATE_SUCCESS))
}

/// Creates an NTP handle (time zone 0); NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_ntp_init() -> *mut c_void {
    new_handle(|port| NtpHandle { ntp: Ntp::new(port) })
}

/// Sets one NTP option.
///
/// # Safety
/// `handle` from `aiot_ntp_init`; `data` of the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_ntp_setopt(
    handle: *mut c_void,
    option: aiot_ntp_option_t,
    data: *mut c_void,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_ntp_init` (this function's contract).
        let Some(n) = (unsafe { ntp(handle) }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        if data.is_null() {
            return STATE_USER_INPUT_NULL_POINTER;
        }
        let handle = handle as usize;
        match option {
            // SAFETY: `data` is a live handle from `aiot_mqtt_init` (the option's contract).
            AIOT_NTPOPT_MQTT_HANDLE => match unsafe { shared_client(data) } {
                Some(client) => code(n.set_mqtt(client)),
                None => STATE_USER_INPUT_NULL_POINTER,
            },
            // SAFETY: `data` points to an `int8_t` (the option's contract).
            AIOT_NTPOPT_TIME_ZONE => code(n.set_zone(unsafe { read_data::<i8>(data) })),
            AIOT_NTPOPT_RECV_HANDLER => {
                // SAFETY: the option passes the handler itself as `data` (its contract).
                let f: unsafe extern "C" fn(*mut c_void, *const aiot_ntp_recv_t, *mut c_void) =
                    unsafe { handler_data(data) };
                code(
                    n.set_recv_handler(Arc::new(move |t: &LocalTime, userdata: usize| {
                        let packet = aiot_ntp_recv_t {
                            r#type: AIOT_NTPRECV_LOCAL_TIME,
                            data: aiot_ntp_recv_data_t {
                                local_time: to_c_time(t),
                            },
                        };
                        // SAFETY: the user's handler, called with a message valid for the call.
                        unsafe { f(handle as *mut c_void, &packet, userdata as *mut c_void) }
                    })),
                )
            }
            AIOT_NTPOPT_EVENT_HANDLER => {
                // SAFETY: the option passes the handler itself as `data` (its contract).
                let f: unsafe extern "C" fn(*mut c_void, *const aiot_ntp_event_t, *mut c_void) =
                    unsafe { handler_data(data) };
                code(n.set_event_handler(Arc::new(move |e: NtpEvent, userdata: usize| {
                    let event = aiot_ntp_event_t {
                        r#type: match e {
                            NtpEvent::InvalidResponse => AIOT_NTPEVT_INVALID_RESPONSE,
                            NtpEvent::InvalidTimeFormat => AIOT_NTPEVT_INVALID_TIME_FORMAT,
                        },
                    };
                    // SAFETY: the user's handler, called with an event valid for the call.
                    unsafe { f(handle as *mut c_void, &event, userdata as *mut c_void) }
                })))
            }
            AIOT_NTPOPT_USERDATA => code(n.set_userdata(data as usize)),
            // SAFETY: `data` points to a `uint32_t` (the option's contract).
            AIOT_NTPOPT_DEINIT_TIMEOUT_MS => code(n.set_deinit_timeout_ms(unsafe { read_data::<u32>(data) })),
            o if o >= AIOT_NTPOPT_MAX => STATE_USER_INPUT_OUT_RANGE,
            _ => STATE_USER_INPUT_UNKNOWN_OPTION,
        }
    })
}

fn to_c_time(t: &LocalTime) -> aiot_ntp_recv_local_time_t {
    aiot_ntp_recv_local_time_t {
        timestamp: t.timestamp,
        year: t.year,
        mon: t.mon,
        day: t.day,
        hour: t.hour,
        min: t.min,
        sec: t.sec,
        msec: t.msec,
    }
}

/// Frees an NTP handle after leaving its MQTT session and waiting for calls in progress;
/// writes NULL back. On `STATE_MQTT_DEINIT_TIMEOUT` the handle stays (its calls answer
/// `STATE_USER_INPUT_EXEC_DISABLED`).
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_ntp_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_ntp_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_ntp_init`; the shutdown waits for
    // the calls in progress, after which none uses it (this function's contract).
    unsafe {
        deinit_handle(handle, STATE_USER_INPUT_NULL_POINTER, |h: &NtpHandle| {
            h.ntp.shutdown()
        })
    }
}

/// Publishes the time request `{"deviceSendTime":"<ms>"}` on `/ext/ntp/{pk}/{dn}/request`;
/// the answer reaches the receive handler (no retry: one request, at most one answer).
///
/// # Safety
/// `handle` must come from `aiot_ntp_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_ntp_send_request(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_ntp_init` (this function's contract).
    call(unsafe { ntp(handle) }, Ntp::send_request)
}
