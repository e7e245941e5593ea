//! `aiot_http_api.h`: the HTTP uplink (token auth, then raw payloads posted to topics).

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use super::handle::{call, deinit_handle, new_handle, setopt};
use super::{cred_data, cstr, deref, guard, handler_data, read_data, status, text_data};
use crate::components::http_uplink::{HttpOption, HttpUplink, Packet, PacketFn, TokenInvalidFn};
use crate::error::Error;
use crate::state::*;

/// Business codes of the platform's answers (the `code` of the answer's JSON).
pub type aiot_http_response_code_t = u32;
/// Success.
pub const AIOT_HTTP_RSPCODE_SUCCESS: aiot_http_response_code_t = 0;
/// An error of the platform.
pub const AIOT_HTTP_RSPCODE_COMMON_ERROR: aiot_http_response_code_t = 10000;
/// A request parameter is wrong.
pub const AIOT_HTTP_RSPCODE_PARAM_ERROR: aiot_http_response_code_t = 10001;
/// The token has expired (raises `AIOT_HTTPEVT_TOKEN_INVALID`).
pub const AIOT_HTTP_RSPCODE_TOKEN_EXPIRED: aiot_http_response_code_t = 20001;
/// The request carried no token.
pub const AIOT_HTTP_RSPCODE_TOKEN_NULL: aiot_http_response_code_t = 20002;
/// The token is not valid (raises `AIOT_HTTPEVT_TOKEN_INVALID`).
pub const AIOT_HTTP_RSPCODE_TOKEN_CHECK_ERROR: aiot_http_response_code_t = 20003;
/// The message could not be published.
pub const AIOT_HTTP_RSPCODE_PUBLISH_MESSAGE_ERROR: aiot_http_response_code_t = 30001;
/// Too many requests.
pub const AIOT_HTTP_RSPCODE_REQUEST_TOO_MANY: aiot_http_response_code_t = 40000;

/// Options of `aiot_http_setopt`; the comment gives the type `data` points to.
pub type aiot_http_option_t = u32;
/// `char *` server host (also the `Host:` header), e.g. `iot-as-http.cn-shanghai.aliyuncs.com`.
pub const AIOT_HTTPOPT_HOST: aiot_http_option_t = 0;
/// `uint16_t *` server port (80 for TCP, 443 for TLS; default 0).
pub const AIOT_HTTPOPT_PORT: aiot_http_option_t = 1;
/// `aiot_sysdep_network_cred_t *` (copied; without one the connection is plain TCP).
pub const AIOT_HTTPOPT_NETWORK_CRED: aiot_http_option_t = 2;
/// `uint32_t *` connect timeout, default 10000 ms.
pub const AIOT_HTTPOPT_CONNECT_TIMEOUT_MS: aiot_http_option_t = 3;
/// `uint32_t *` send timeout, default 5000 ms.
pub const AIOT_HTTPOPT_SEND_TIMEOUT_MS: aiot_http_option_t = 4;
/// `uint32_t *` how long `aiot_http_recv` waits for an answer, default 5000 ms.
pub const AIOT_HTTPOPT_RECV_TIMEOUT_MS: aiot_http_option_t = 5;
/// `uint32_t *` how long deinit waits for calls in progress, default 2000 ms.
pub const AIOT_HTTPOPT_DEINIT_TIMEOUT_MS: aiot_http_option_t = 6;
/// `uint32_t *` header line buffer (accepted; no effect: lines of any length are read).
pub const AIOT_HTTPOPT_HEADER_BUFFER_LEN: aiot_http_option_t = 7;
/// `uint32_t *` body buffer (accepted; no effect: the body is handed over whole).
pub const AIOT_HTTPOPT_BODY_BUFFER_LEN: aiot_http_option_t = 8;
/// `aiot_http_event_handler_t`: gets `AIOT_HTTPEVT_TOKEN_INVALID`.
pub const AIOT_HTTPOPT_EVENT_HANDLER: aiot_http_option_t = 9;
/// `void *` userdata for both handlers.
pub const AIOT_HTTPOPT_USERDATA: aiot_http_option_t = 10;
/// `aiot_http_recv_handler_t`: gets the answers read by `aiot_http_recv`.
pub const AIOT_HTTPOPT_RECV_HANDLER: aiot_http_option_t = 11;
/// `char *` product key.
pub const AIOT_HTTPOPT_PRODUCT_KEY: aiot_http_option_t = 12;
/// `char *` device name.
pub const AIOT_HTTPOPT_DEVICE_NAME: aiot_http_option_t = 13;
/// `char *` device secret (signs the auth request; never sent, never logged).
pub const AIOT_HTTPOPT_DEVICE_SECRET: aiot_http_option_t = 14;
/// `char *` extra device information appended to the auth query (`pid=xxx&mid=xxx`).
pub const AIOT_HTTPOPT_EXTEND_DEVINFO: aiot_http_option_t = 15;
/// `uint32_t *` how long `aiot_http_auth` waits for its answer, default 5000 ms.
pub const AIOT_HTTPOPT_AUTH_TIMEOUT_MS: aiot_http_option_t = 16;
/// `uint8_t *` 1 (default): keep the connection across calls; 0: a new one per call.
pub const AIOT_HTTPOPT_LONG_CONNECTION: aiot_http_option_t = 17;
pub const AIOT_HTTPOPT_MAX: aiot_http_option_t = 18;

/// Kind of data passed to the receive handler.
pub type aiot_http_recv_type_t = u32;
/// The answer's HTTP status: `data.status_code`.
pub const AIOT_HTTPRECV_STATUS_CODE: aiot_http_recv_type_t = 0;
/// One header line of the answer: `data.header`.
pub const AIOT_HTTPRECV_HEADER: aiot_http_recv_type_t = 1;
/// The answer's whole body: `data.body`.
pub const AIOT_HTTPRECV_BODY: aiot_http_recv_type_t = 2;

/// The answer's HTTP status.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_http_status_code_t {
    pub code: u32,
}

/// One header line: name and value, NUL-terminated, valid during the callback.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_http_header_t {
    pub key: *mut c_char,
    pub value: *mut c_char,
}

/// The body (not NUL-terminated), valid during the callback.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_http_body_t {
    pub buffer: *mut u8,
    pub len: u32,
}

/// Payload of `aiot_http_recv_t`, selected by its `type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_http_recv_data_t {
    pub status_code: aiot_http_status_code_t,
    pub header: aiot_http_header_t,
    pub body: aiot_http_body_t,
}

/// Data passed to the receive handler.
#[repr(C)]
pub struct aiot_http_recv_t {
    pub r#type: aiot_http_recv_type_t,
    pub data: aiot_http_recv_data_t,
}

/// Receive handler, run on the thread calling `aiot_http_recv`; `handle` is the HTTP handle.
pub type aiot_http_recv_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, packet: *const aiot_http_recv_t, userdata: *mut c_void)>;

/// Kind of event.
pub type aiot_http_event_type_t = u32;
/// The answer's business code was 20001 or 20003: call `aiot_http_auth` for a new token (it
/// may be called from inside the handler).
pub const AIOT_HTTPEVT_TOKEN_INVALID: aiot_http_event_type_t = 0;

/// An event.
#[repr(C)]
pub struct aiot_http_event_t {
    pub r#type: aiot_http_event_type_t,
}

/// Event handler, run on the thread calling `aiot_http_recv`.
pub type aiot_http_event_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, event: *const aiot_http_event_t, userdata: *mut c_void)>;

type RecvFnPtr = unsafe extern "C" fn(*mut c_void, *const aiot_http_recv_t, *mut c_void);
type EventFnPtr = unsafe extern "C" fn(*mut c_void, *const aiot_http_event_t, *mut c_void);

fn packet_handler(handle: *mut c_void, f: RecvFnPtr) -> Arc<PacketFn> {
    let handle = handle as usize;
    Arc::new(move |p: &Packet<'_>, userdata: usize| {
        let call = |packet: aiot_http_recv_t| {
            // SAFETY: the user's handler, called with a packet whose data outlive the call.
            unsafe { f(handle as *mut c_void, &packet, userdata as *mut c_void) }
        };
        match *p {
            Packet::StatusCode(code) => call(aiot_http_recv_t {
                r#type: AIOT_HTTPRECV_STATUS_CODE,
                data: aiot_http_recv_data_t {
                    status_code: aiot_http_status_code_t { code },
                },
            }),
            Packet::Header(key, value) => {
                // A header holding a NUL cannot be given as a C string: left out.
                let (Ok(k), Ok(v)) = (CString::new(key), CString::new(value)) else {
                    return;
                };
                call(aiot_http_recv_t {
                    r#type: AIOT_HTTPRECV_HEADER,
                    data: aiot_http_recv_data_t {
                        header: aiot_http_header_t {
                            key: k.as_ptr() as *mut c_char,
                            value: v.as_ptr() as *mut c_char,
                        },
                    },
                });
            }
            Packet::Body(body) => call(aiot_http_recv_t {
                r#type: AIOT_HTTPRECV_BODY,
                data: aiot_http_recv_data_t {
                    body: aiot_http_body_t {
                        buffer: body.as_ptr() as *mut u8,
                        // The core reads at most 64 KiB of body.
                        len: u32::try_from(body.len()).unwrap_or(u32::MAX),
                    },
                },
            }),
        }
    })
}

fn event_handler(handle: *mut c_void, f: EventFnPtr) -> Arc<TokenInvalidFn> {
    let handle = handle as usize;
    Arc::new(move |userdata: usize| {
        let event = aiot_http_event_t {
            r#type: AIOT_HTTPEVT_TOKEN_INVALID,
        };
        // SAFETY: the user's handler, called with an event that outlives the call.
        unsafe { f(handle as *mut c_void, &event, userdata as *mut c_void) }
    })
}

/// Creates an HTTP uplink handle with upstream's defaults; NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_http_init() -> *mut c_void {
    new_handle(HttpUplink::new)
}

/// Converts the raw option into its typed value.
///
/// # Safety
/// `data` must be non-NULL and point to the type the option documents (for a handler, be the
/// handler itself).
unsafe fn read_option(
    handle: *mut c_void,
    option: aiot_http_option_t,
    data: *mut c_void,
) -> Result<HttpOption, Error> {
    // SAFETY: a `char *` option: `data` is a NUL-terminated string (this function's contract).
    let text = || unsafe { text_data(data) };
    // SAFETY: a `uint32_t *` option: `data` points to a `u32` (this function's contract).
    let u32v = || unsafe { read_data::<u32>(data) };
    Ok(match option {
        AIOT_HTTPOPT_HOST => HttpOption::Host(text()?),
        // SAFETY: a `uint16_t *` option (this function's contract).
        AIOT_HTTPOPT_PORT => HttpOption::Port(unsafe { read_data::<u16>(data) }),
        // SAFETY: `data` points to a valid credential (this function's contract).
        AIOT_HTTPOPT_NETWORK_CRED => HttpOption::NetworkCred(unsafe { cred_data(data) }),
        AIOT_HTTPOPT_CONNECT_TIMEOUT_MS => HttpOption::ConnectTimeoutMs(u32v()),
        AIOT_HTTPOPT_SEND_TIMEOUT_MS => HttpOption::SendTimeoutMs(u32v()),
        AIOT_HTTPOPT_RECV_TIMEOUT_MS => HttpOption::RecvTimeoutMs(u32v()),
        AIOT_HTTPOPT_DEINIT_TIMEOUT_MS => HttpOption::DeinitTimeoutMs(u32v()),
        AIOT_HTTPOPT_HEADER_BUFFER_LEN => HttpOption::HeaderBufferLen(u32v()),
        AIOT_HTTPOPT_BODY_BUFFER_LEN => HttpOption::BodyBufferLen(u32v()),
        AIOT_HTTPOPT_EVENT_HANDLER => {
            // SAFETY: the option passes the handler itself as `data` (this function's contract).
            let f: EventFnPtr = unsafe { handler_data(data) };
            HttpOption::EventHandler(event_handler(handle, f))
        }
        AIOT_HTTPOPT_USERDATA => HttpOption::Userdata(data as usize),
        AIOT_HTTPOPT_RECV_HANDLER => {
            // SAFETY: the option passes the handler itself as `data` (this function's contract).
            let f: RecvFnPtr = unsafe { handler_data(data) };
            HttpOption::RecvHandler(packet_handler(handle, f))
        }
        AIOT_HTTPOPT_PRODUCT_KEY => HttpOption::ProductKey(text()?),
        AIOT_HTTPOPT_DEVICE_NAME => HttpOption::DeviceName(text()?),
        AIOT_HTTPOPT_DEVICE_SECRET => HttpOption::DeviceSecret(text()?),
        AIOT_HTTPOPT_EXTEND_DEVINFO => HttpOption::ExtendDevinfo(text()?),
        AIOT_HTTPOPT_AUTH_TIMEOUT_MS => HttpOption::AuthTimeoutMs(u32v()),
        // SAFETY: a `uint8_t *` option (this function's contract).
        AIOT_HTTPOPT_LONG_CONNECTION => HttpOption::LongConnection(unsafe { read_data::<u8>(data) }),
        _ => return Err(Error::UnknownOption),
    })
}

/// The uplink behind a C handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_http_init` not yet freed.
unsafe fn uplink<'a>(handle: *mut c_void) -> Option<&'a HttpUplink> {
    // SAFETY: NULL or a live `HttpUplink` (this function's contract).
    unsafe { deref::<HttpUplink>(handle) }
}

/// Sets one option; `data` points to the type listed with each `AIOT_HTTPOPT_*`.
///
/// # Safety
/// `handle` must come from `aiot_http_init`; `data` must match the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_http_setopt(
    handle: *mut c_void,
    option: aiot_http_option_t,
    data: *mut c_void,
) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_http_init` (this function's contract).
    setopt(unsafe { uplink(handle) }, option, AIOT_HTTPOPT_MAX, data, |h| {
        // SAFETY: `data` is not NULL and matches the option's type (this function's contract).
        unsafe { read_option(handle, option, data) }.and_then(|o| h.setopt(o))
    })
}

/// Authenticates the device (`POST /auth`) and keeps the token. 0,
/// `STATE_HTTP_AUTH_CODE_FAILED` (status not 200), `STATE_HTTP_AUTH_NOT_EXPECTED` (no body),
/// `STATE_HTTP_AUTH_TOKEN_FAILED` (no token), `STATE_HTTP_AUTH_NOT_FINISHED` (not in time) or
/// a network code.
///
/// # Safety
/// `handle` must come from `aiot_http_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_http_auth(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_http_init` (this function's contract).
    call(unsafe { uplink(handle) }, HttpUplink::auth)
}

/// Posts `payload` to `topic` with the token (`POST /topic<topic>`); the answer is read by
/// `aiot_http_recv`. 0, `STATE_HTTP_NEED_AUTH` (no token yet) or a network code.
///
/// # Safety
/// `handle` must come from `aiot_http_init`; `topic` must be NUL-terminated; `payload` must
/// hold `payload_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn aiot_http_send(
    handle: *mut c_void,
    topic: *mut c_char,
    payload: *mut u8,
    payload_len: u32,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_http_init` (this function's contract).
        let h = unsafe { uplink(handle) };
        // SAFETY: NULL or NUL-terminated (this function's contract).
        let topic = unsafe { cstr(topic) };
        let (Some(h), Some(topic), false) = (h, topic, payload.is_null()) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        if payload_len == 0 {
            return STATE_USER_INPUT_OUT_RANGE;
        }
        // SAFETY: `payload` is not NULL and holds `payload_len` bytes (this function's contract).
        let payload = unsafe { std::slice::from_raw_parts(payload, payload_len as usize) };
        status(h.send(&topic, payload).map(|_| STATE_SUCCESS))
    })
}

/// Reads the answer of the last `aiot_http_send`: the receive handler gets its status, each
/// header line, then its whole body; the event handler gets `AIOT_HTTPEVT_TOKEN_INVALID`
/// before the body when the business code is 20001 or 20003. 0,
/// `STATE_SYS_DEPEND_NWK_CLOSED` (no connection), `STATE_HTTP_RECV_NOT_FINISHED` or a network
/// code.
///
/// # Safety
/// `handle` must come from `aiot_http_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_http_recv(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_http_init` (this function's contract).
    call(unsafe { uplink(handle) }, HttpUplink::recv)
}

/// Frees an HTTP uplink handle: waits up to the deinit timeout for calls in progress
/// (`STATE_HTTP_DEINIT_TIMEOUT` and the handle kept, disabled, if they do not end), then
/// closes the connection, forgets the token and sets `*p_handle` to NULL.
///
/// # Safety
/// `p_handle` must be NULL or point to a handle from `aiot_http_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_http_deinit(p_handle: *mut *mut c_void) -> i32 {
    // SAFETY: `p_handle` is NULL or points to a handle from `aiot_http_init`; the shutdown waits
    // for the calls in progress, after which none uses it (this function's contract).
    unsafe { deinit_handle(p_handle, STATE_USER_INPUT_NULL_POINTER, HttpUplink::shutdown) }
}
