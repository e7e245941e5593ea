//! `aiot_dynregmq_api.h`: dynamic registration over MQTT.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use super::handle::{call, deinit_handle, new_handle, setopt};
use super::{cred_data, deref, handler_data, read_data, text_data};
use crate::components::dynregmq::{Answer, Dynregmq, DynregmqOption};
use crate::error::Error;
use crate::state::*;

/// Options of `aiot_dynregmq_setopt`; the comment gives the type `data` points to.
pub type aiot_dynregmq_option_t = u32;
/// `aiot_sysdep_network_cred_t *` (copied; mandatory: without it send_request returns
/// `STATE_USER_INPUT_NULL_POINTER`).
pub const AIOT_DYNREGMQOPT_NETWORK_CRED: aiot_dynregmq_option_t = 0;
/// `char *` MQTT server host; `<instanceId>.mqtt.iothub.aliyuncs.com` also sets the instance id.
pub const AIOT_DYNREGMQOPT_HOST: aiot_dynregmq_option_t = 1;
/// `uint16_t *` MQTT server port (default 0).
pub const AIOT_DYNREGMQOPT_PORT: aiot_dynregmq_option_t = 2;
/// `char *` product key.
pub const AIOT_DYNREGMQOPT_PRODUCT_KEY: aiot_dynregmq_option_t = 3;
/// `char *` product secret (signs the request; never sent, never logged).
pub const AIOT_DYNREGMQOPT_PRODUCT_SECRET: aiot_dynregmq_option_t = 4;
/// `char *` device name.
pub const AIOT_DYNREGMQOPT_DEVICE_NAME: aiot_dynregmq_option_t = 5;
/// `uint32_t *` send timeout, default 5000 ms.
pub const AIOT_DYNREGMQOPT_SEND_TIMEOUT_MS: aiot_dynregmq_option_t = 6;
/// `uint32_t *` per-read timeout, default 5000 ms.
pub const AIOT_DYNREGMQOPT_RECV_TIMEOUT_MS: aiot_dynregmq_option_t = 7;
/// `aiot_dynregmq_recv_handler_t`: gets the answer (without one, no answer is taken).
pub const AIOT_DYNREGMQOPT_RECV_HANDLER: aiot_dynregmq_option_t = 8;
/// `void *` userdata for the receive handler.
pub const AIOT_DYNREGMQOPT_USERDATA: aiot_dynregmq_option_t = 9;
/// `uint32_t *` how long `aiot_dynregmq_recv` waits for the answer, default 5000 ms.
pub const AIOT_DYNREGMQOPT_TIMEOUT_MS: aiot_dynregmq_option_t = 10;
/// `uint32_t *` how long deinit waits for calls in progress, default 2000 ms.
pub const AIOT_DYNREGMQOPT_DEINIT_TIMEOUT_MS: aiot_dynregmq_option_t = 11;
/// `uint8_t *` 0 (default): whitelist mode, the answer is a device secret; non-zero:
/// no-whitelist mode, the answer is MQTT client id, user name and password.
pub const AIOT_DYNREGMQOPT_NO_WHITELIST: aiot_dynregmq_option_t = 12;
/// `char *` instance id added to the request's client id.
pub const AIOT_DYNREGMQOPT_INSTANCE_ID: aiot_dynregmq_option_t = 13;
pub const AIOT_DYNREGMQOPT_MAX: aiot_dynregmq_option_t = 14;

/// Kind of answer passed to the receive handler.
pub type aiot_dynregmq_recv_type_t = u32;
/// Whitelist mode: `data.deviceinfo_wl`.
pub const AIOT_DYNREGMQRECV_DEVICEINFO_WL: aiot_dynregmq_recv_type_t = 0;
/// No-whitelist mode: `data.deviceinfo_nwl`.
pub const AIOT_DYNREGMQRECV_DEVICEINFO_NWL: aiot_dynregmq_recv_type_t = 1;

/// The device secret (whitelist mode).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dynregmq_deviceinfo_wl_t {
    pub device_secret: *mut c_char,
}

/// The MQTT credentials (no-whitelist mode), for `AIOT_MQTTOPT_CLIENTID`, `_USERNAME`,
/// `_PASSWORD`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dynregmq_deviceinfo_nwl_t {
    pub clientid: *mut c_char,
    pub username: *mut c_char,
    pub password: *mut c_char,
}

/// Payload of `aiot_dynregmq_recv_t`, selected by its `type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_dynregmq_recv_data_t {
    pub deviceinfo_wl: aiot_dynregmq_deviceinfo_wl_t,
    pub deviceinfo_nwl: aiot_dynregmq_deviceinfo_nwl_t,
}

/// An answer passed to the receive handler. The strings are NUL-terminated and live only
/// during the callback.
#[repr(C)]
pub struct aiot_dynregmq_recv_t {
    pub r#type: aiot_dynregmq_recv_type_t,
    pub data: aiot_dynregmq_recv_data_t,
}

/// Receive handler, run on the thread calling `aiot_dynregmq_recv`; `handle` is the
/// dynregmq handle.
pub type aiot_dynregmq_recv_handler_t = Option<
    unsafe extern "C" fn(handle: *mut c_void, packet: *const aiot_dynregmq_recv_t, userdata: *mut c_void),
>;

/// A C string of the answer; the core never hands over text with a NUL in it.
fn c_text(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

fn answer_handler(
    handle: *mut c_void,
    f: unsafe extern "C" fn(*mut c_void, *const aiot_dynregmq_recv_t, *mut c_void),
) -> Arc<crate::components::dynregmq::AnswerFn> {
    let handle = handle as usize;
    Arc::new(move |answer: &Answer, userdata: usize| {
        let call = |packet: aiot_dynregmq_recv_t| {
            // SAFETY: the user's handler, called with a packet whose strings outlive the call.
            unsafe { f(handle as *mut c_void, &packet, userdata as *mut c_void) }
        };
        match answer {
            Answer::Whitelist { device_secret } => {
                let ds = c_text(device_secret);
                call(aiot_dynregmq_recv_t {
                    r#type: AIOT_DYNREGMQRECV_DEVICEINFO_WL,
                    data: aiot_dynregmq_recv_data_t {
                        deviceinfo_wl: aiot_dynregmq_deviceinfo_wl_t {
                            device_secret: ds.as_ptr() as *mut c_char,
                        },
                    },
                });
            }
            Answer::NoWhitelist {
                clientid,
                username,
                password,
            } => {
                let (c, u, p) = (c_text(clientid), c_text(username), c_text(password));
                call(aiot_dynregmq_recv_t {
                    r#type: AIOT_DYNREGMQRECV_DEVICEINFO_NWL,
                    data: aiot_dynregmq_recv_data_t {
                        deviceinfo_nwl: aiot_dynregmq_deviceinfo_nwl_t {
                            clientid: c.as_ptr() as *mut c_char,
                            username: u.as_ptr() as *mut c_char,
                            password: p.as_ptr() as *mut c_char,
                        },
                    },
                });
            }
        }
    })
}

/// Creates a registration handle with default options; NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_dynregmq_init() -> *mut c_void {
    new_handle(Dynregmq::new)
}

/// Converts the raw option into its typed value.
///
/// # Safety
/// `data` must be non-NULL and point to the type the option documents (for the handler, be
/// the handler itself).
unsafe fn read_option(
    handle: *mut c_void,
    option: aiot_dynregmq_option_t,
    data: *mut c_void,
) -> Result<DynregmqOption, Error> {
    // SAFETY: a `char *` option: `data` is a NUL-terminated string (this function's contract).
    let text = || unsafe { text_data(data) };
    // SAFETY: a `uint32_t *` option: `data` points to a `u32` (this function's contract).
    let u32v = || unsafe { read_data::<u32>(data) };
    Ok(match option {
        // SAFETY: `data` points to a valid credential (this function's contract).
        AIOT_DYNREGMQOPT_NETWORK_CRED => DynregmqOption::NetworkCred(unsafe { cred_data(data) }),
        AIOT_DYNREGMQOPT_HOST => DynregmqOption::Host(text()?),
        // SAFETY: a `uint16_t *` option (this function's contract).
        AIOT_DYNREGMQOPT_PORT => DynregmqOption::Port(unsafe { read_data::<u16>(data) }),
        AIOT_DYNREGMQOPT_PRODUCT_KEY => DynregmqOption::ProductKey(text()?),
        AIOT_DYNREGMQOPT_PRODUCT_SECRET => DynregmqOption::ProductSecret(text()?),
        AIOT_DYNREGMQOPT_DEVICE_NAME => DynregmqOption::DeviceName(text()?),
        AIOT_DYNREGMQOPT_SEND_TIMEOUT_MS => DynregmqOption::SendTimeoutMs(u32v()),
        AIOT_DYNREGMQOPT_RECV_TIMEOUT_MS => DynregmqOption::RecvTimeoutMs(u32v()),
        AIOT_DYNREGMQOPT_RECV_HANDLER => {
            // SAFETY: the option passes the handler itself as `data` (this function's contract).
            let f: unsafe extern "C" fn(*mut c_void, *const aiot_dynregmq_recv_t, *mut c_void) =
                unsafe { handler_data(data) };
            DynregmqOption::RecvHandler(answer_handler(handle, f))
        }
        AIOT_DYNREGMQOPT_USERDATA => DynregmqOption::Userdata(data as usize),
        AIOT_DYNREGMQOPT_TIMEOUT_MS => DynregmqOption::TimeoutMs(u32v()),
        AIOT_DYNREGMQOPT_DEINIT_TIMEOUT_MS => DynregmqOption::DeinitTimeoutMs(u32v()),
        // SAFETY: a `uint8_t *` option (this function's contract).
        AIOT_DYNREGMQOPT_NO_WHITELIST => DynregmqOption::NoWhitelist(unsafe { read_data::<u8>(data) }),
        AIOT_DYNREGMQOPT_INSTANCE_ID => DynregmqOption::InstanceId(text()?),
        _ => return Err(Error::UnknownOption),
    })
}

/// The registration behind a C handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_dynregmq_init` not yet freed.
unsafe fn registration<'a>(handle: *mut c_void) -> Option<&'a Dynregmq> {
    // SAFETY: NULL or a live `Dynregmq` (this function's contract).
    unsafe { deref::<Dynregmq>(handle) }
}

/// Sets one option; `data` points to the type listed with each `AIOT_DYNREGMQOPT_*`.
///
/// # Safety
/// `handle` must come from `aiot_dynregmq_init`; `data` must match the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_dynregmq_setopt(
    handle: *mut c_void,
    option: aiot_dynregmq_option_t,
    data: *mut c_void,
) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_dynregmq_init` (this function's contract).
    setopt(
        unsafe { registration(handle) },
        option,
        AIOT_DYNREGMQOPT_MAX,
        data,
        |r| {
            // SAFETY: `data` is not NULL and matches the option's type (this function's contract).
            unsafe { read_option(handle, option, data) }.and_then(|o| r.setopt(o))
        },
    )
}

/// Opens the registration connection: its signed CONNECT is the request. Returns the connect
/// result (a refused CONNACK: wrong product secret, unknown or already activated device).
///
/// # Safety
/// `handle` must come from `aiot_dynregmq_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_dynregmq_send_request(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_dynregmq_init` (this function's contract).
    call(unsafe { registration(handle) }, Dynregmq::send_request)
}

/// Waits for the answer and hands it to the receive handler; 0 once it arrived,
/// `STATE_DYNREGMQ_AUTH_TIMEOUT` after `AIOT_DYNREGMQOPT_TIMEOUT_MS`, or a read error.
///
/// # Safety
/// `handle` must come from `aiot_dynregmq_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_dynregmq_recv(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_dynregmq_init` (this function's contract).
    call(unsafe { registration(handle) }, Dynregmq::recv)
}

/// Frees a registration handle: waits up to the deinit timeout for calls in progress
/// (`STATE_DYNREGMQ_DEINIT_TIMEOUT` and the handle kept, disabled, if they do not end),
/// closes the registration connection without DISCONNECT and sets `*handle` to NULL.
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_dynregmq_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_dynregmq_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_dynregmq_init`; the shutdown waits
    // for the calls in progress, after which none uses it (this function's contract).
    unsafe { deinit_handle(handle, STATE_USER_INPUT_NULL_POINTER, Dynregmq::shutdown) }
}
