//! `aiot_dynreg_api.h`: dynamic registration over HTTPS.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use super::handle::{call, deinit_handle, new_handle, setopt};
use super::{cred_data, deref, handler_data, read_data, text_data};
use crate::components::dynreg::{Answer, AnswerFn, Dynreg, DynregOption};
use crate::error::Error;
use crate::state::*;

/// Options of `aiot_dynreg_setopt`; the comment gives the type `data` points to.
pub type aiot_dynreg_option_t = u32;
/// `aiot_sysdep_network_cred_t *` (copied; mandatory: without it send_request returns
/// `STATE_USER_INPUT_NULL_POINTER`; option NONE for plain TCP).
pub const AIOT_DYNREGOPT_NETWORK_CRED: aiot_dynreg_option_t = 0;
/// `char *` registration server host (also the `Host:` header); `host:port` sets the port too.
pub const AIOT_DYNREGOPT_HOST: aiot_dynreg_option_t = 1;
/// `uint16_t *` server port (default 0).
pub const AIOT_DYNREGOPT_PORT: aiot_dynreg_option_t = 2;
/// `char *` product key.
pub const AIOT_DYNREGOPT_PRODUCT_KEY: aiot_dynreg_option_t = 3;
/// `char *` product secret (signs the request; never sent, never logged).
pub const AIOT_DYNREGOPT_PRODUCT_SECRET: aiot_dynreg_option_t = 4;
/// `char *` device name.
pub const AIOT_DYNREGOPT_DEVICE_NAME: aiot_dynreg_option_t = 5;
/// `uint32_t *` send timeout, default 5000 ms.
pub const AIOT_DYNREGOPT_SEND_TIMEOUT_MS: aiot_dynreg_option_t = 6;
/// `uint32_t *` per-read timeout, default 5000 ms.
pub const AIOT_DYNREGOPT_RECV_TIMEOUT_MS: aiot_dynreg_option_t = 7;
/// `aiot_dynreg_recv_handler_t`: gets the status and the secret (without one, recv fails
/// with `STATE_DYNREG_INVALID_STATUS_CODE`).
pub const AIOT_DYNREGOPT_RECV_HANDLER: aiot_dynreg_option_t = 8;
/// `void *` userdata for the receive handler.
pub const AIOT_DYNREGOPT_USERDATA: aiot_dynreg_option_t = 9;
/// `uint32_t *` how long `aiot_dynreg_recv` waits for the whole answer, default 5000 ms.
pub const AIOT_DYNREGOPT_TIMEOUT_MS: aiot_dynreg_option_t = 10;
/// `uint32_t *` how long deinit waits for calls in progress, default 2000 ms.
pub const AIOT_DYNREGOPT_DEINIT_TIMEOUT_MS: aiot_dynreg_option_t = 11;
pub const AIOT_DYNREGOPT_MAX: aiot_dynreg_option_t = 12;

/// Kind of data passed to the receive handler.
pub type aiot_dynreg_recv_type_t = u32;
/// The answer's HTTP status: `data.status_code`.
pub const AIOT_DYNREGRECV_STATUS_CODE: aiot_dynreg_recv_type_t = 0;
/// The device secret: `data.device_info`.
pub const AIOT_DYNREGRECV_DEVICE_INFO: aiot_dynreg_recv_type_t = 1;

/// The answer's HTTP status.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dynreg_status_code_t {
    pub code: u32,
}

/// The device secret, NUL-terminated, valid during the callback.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_dynreg_device_info_t {
    pub device_secret: *mut c_char,
}

/// Payload of `aiot_dynreg_recv_t`, selected by its `type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_dynreg_recv_data_t {
    pub status_code: aiot_dynreg_status_code_t,
    pub device_info: aiot_dynreg_device_info_t,
}

/// Data passed to the receive handler.
#[repr(C)]
pub struct aiot_dynreg_recv_t {
    pub r#type: aiot_dynreg_recv_type_t,
    pub data: aiot_dynreg_recv_data_t,
}

/// Receive handler, run on the thread calling `aiot_dynreg_recv`; `handle` is the dynreg
/// handle.
pub type aiot_dynreg_recv_handler_t = Option<
    unsafe extern "C" fn(handle: *mut c_void, packet: *const aiot_dynreg_recv_t, userdata: *mut c_void),
>;

fn answer_handler(
    handle: *mut c_void,
    f: unsafe extern "C" fn(*mut c_void, *const aiot_dynreg_recv_t, *mut c_void),
) -> Arc<AnswerFn> {
    let handle = handle as usize;
    Arc::new(move |answer: &Answer<'_>, userdata: usize| {
        let call = |packet: aiot_dynreg_recv_t| {
            // SAFETY: the user's handler, called with a packet whose strings outlive the call.
            unsafe { f(handle as *mut c_void, &packet, userdata as *mut c_void) }
        };
        match *answer {
            Answer::StatusCode(code) => call(aiot_dynreg_recv_t {
                r#type: AIOT_DYNREGRECV_STATUS_CODE,
                data: aiot_dynreg_recv_data_t {
                    status_code: aiot_dynreg_status_code_t { code },
                },
            }),
            Answer::DeviceSecret(secret) => {
                // The core never hands over a secret with a NUL in it.
                let ds = CString::new(secret).unwrap_or_default();
                call(aiot_dynreg_recv_t {
                    r#type: AIOT_DYNREGRECV_DEVICE_INFO,
                    data: aiot_dynreg_recv_data_t {
                        device_info: aiot_dynreg_device_info_t {
                            device_secret: ds.as_ptr() as *mut c_char,
                        },
                    },
                });
            }
        }
    })
}

/// Creates a registration handle with default options; NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_dynreg_init() -> *mut c_void {
    new_handle(Dynreg::new)
}

/// Converts the raw option into its typed value.
///
/// # Safety
/// `data` must be non-NULL and point to the type the option documents (for the handler, be
/// the handler itself).
unsafe fn read_option(
    handle: *mut c_void,
    option: aiot_dynreg_option_t,
    data: *mut c_void,
) -> Result<DynregOption, Error> {
    // SAFETY: a `char *` option: `data` is a NUL-terminated string (this function's contract).
    let text = || unsafe { text_data(data) };
    // SAFETY: a `uint32_t *` option: `data` points to a `u32` (this function's contract).
    let u32v = || unsafe { read_data::<u32>(data) };
    Ok(match option {
        // SAFETY: `data` points to a valid credential (this function's contract).
        AIOT_DYNREGOPT_NETWORK_CRED => DynregOption::NetworkCred(unsafe { cred_data(data) }),
        AIOT_DYNREGOPT_HOST => DynregOption::Host(text()?),
        // SAFETY: a `uint16_t *` option (this function's contract).
        AIOT_DYNREGOPT_PORT => DynregOption::Port(unsafe { read_data::<u16>(data) }),
        AIOT_DYNREGOPT_PRODUCT_KEY => DynregOption::ProductKey(text()?),
        AIOT_DYNREGOPT_PRODUCT_SECRET => DynregOption::ProductSecret(text()?),
        AIOT_DYNREGOPT_DEVICE_NAME => DynregOption::DeviceName(text()?),
        AIOT_DYNREGOPT_SEND_TIMEOUT_MS => DynregOption::SendTimeoutMs(u32v()),
        AIOT_DYNREGOPT_RECV_TIMEOUT_MS => DynregOption::RecvTimeoutMs(u32v()),
        AIOT_DYNREGOPT_RECV_HANDLER => {
            // SAFETY: the option passes the handler itself as `data` (this function's contract).
            let f: unsafe extern "C" fn(*mut c_void, *const aiot_dynreg_recv_t, *mut c_void) =
                unsafe { handler_data(data) };
            DynregOption::RecvHandler(answer_handler(handle, f))
        }
        AIOT_DYNREGOPT_USERDATA => DynregOption::Userdata(data as usize),
        AIOT_DYNREGOPT_TIMEOUT_MS => DynregOption::TimeoutMs(u32v()),
        AIOT_DYNREGOPT_DEINIT_TIMEOUT_MS => DynregOption::DeinitTimeoutMs(u32v()),
        _ => return Err(Error::UnknownOption),
    })
}

/// The registration behind a C handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_dynreg_init` not yet freed.
unsafe fn registration<'a>(handle: *mut c_void) -> Option<&'a Dynreg> {
    // SAFETY: NULL or a live `Dynreg` (this function's contract).
    unsafe { deref::<Dynreg>(handle) }
}

/// Sets one option; `data` points to the type listed with each `AIOT_DYNREGOPT_*`.
///
/// # Safety
/// `handle` must come from `aiot_dynreg_init`; `data` must match the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_dynreg_setopt(
    handle: *mut c_void,
    option: aiot_dynreg_option_t,
    data: *mut c_void,
) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_dynreg_init` (this function's contract).
    setopt(
        unsafe { registration(handle) },
        option,
        AIOT_DYNREGOPT_MAX,
        data,
        |r| {
            // SAFETY: `data` is not NULL and matches the option's type (this function's contract).
            unsafe { read_option(handle, option, data) }.and_then(|o| r.setopt(o))
        },
    )
}

/// Connects and sends the signed registration request; 0 or the connect / send error.
///
/// # Safety
/// `handle` must come from `aiot_dynreg_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_dynreg_send_request(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_dynreg_init` (this function's contract).
    call(unsafe { registration(handle) }, Dynreg::send_request)
}

/// Reads the answer and calls the receive handler with its HTTP status, then with the device
/// secret. 0, `STATE_DYNREG_INVALID_STATUS_CODE` (status not 200), `STATE_DYNREG_INVALID_
/// DEVICE_SECRET` (no secret in the answer), `STATE_HTTP_RECV_NOT_FINISHED` or a network code.
///
/// # Safety
/// `handle` must come from `aiot_dynreg_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_dynreg_recv(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_dynreg_init` (this function's contract).
    call(unsafe { registration(handle) }, Dynreg::recv)
}

/// Frees a registration handle: waits up to the deinit timeout for calls in progress
/// (`STATE_DYNREG_DEINIT_TIMEOUT` and the handle kept, disabled, if they do not end), then
/// closes the connection and sets `*handle` to NULL.
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_dynreg_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_dynreg_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_dynreg_init`; the shutdown waits
    // for the calls in progress, after which none uses it (this function's contract).
    unsafe { deinit_handle(handle, STATE_USER_INPUT_NULL_POINTER, Dynreg::shutdown) }
}
