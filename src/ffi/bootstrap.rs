//! `aiot_bootstrap_api.h`: the MQTT endpoint from the bootstrap service, and its notify.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use super::handle::{call, deinit_handle, new_handle, setopt};
use super::mqtt::shared_client;
use super::{cred_data, deref, handler_data, read_data, text_data};
use crate::components::bootstrap::{Bootstrap, BootstrapEvent, BootstrapOption, Received, RecvFn};
use crate::error::Error;
use crate::state::*;

/// Options of `aiot_bootstrap_setopt`; the comment gives the type `data` points to.
pub type aiot_bootstrap_option_t = u32;
/// `void *` MQTT handle whose `/sys/{pk}/{dn}/thing/bootstrap/notify` gets the notify handler
/// (no SUBSCRIBE; pk/dn as set on the MQTT handle at this call). The reply goes out on it.
pub const AIOT_BOOTSTRAPOPT_MQTT_HANDLE: aiot_bootstrap_option_t = 0;
/// `aiot_sysdep_network_cred_t *` (copied; mandatory: without it send_request returns
/// `STATE_USER_INPUT_NULL_POINTER`; option NONE for plain TCP).
pub const AIOT_BOOTSTRAPOPT_NETWORK_CRED: aiot_bootstrap_option_t = 1;
/// `char *` bootstrap service host, default `iot-auth-global.aliyuncs.com`.
pub const AIOT_BOOTSTRAPOPT_HOST: aiot_bootstrap_option_t = 2;
/// `uint16_t *` bootstrap service port, default 443.
pub const AIOT_BOOTSTRAPOPT_PORT: aiot_bootstrap_option_t = 3;
/// `char *` product key.
pub const AIOT_BOOTSTRAPOPT_PRODUCT_KEY: aiot_bootstrap_option_t = 4;
/// `char *` device name.
pub const AIOT_BOOTSTRAPOPT_DEVICE_NAME: aiot_bootstrap_option_t = 5;
/// `char *` region id (`0` Shanghai, `1` Singapore, ... `20` Dubai): the request becomes
/// `GET /auth/bootstrap/regionId/<id>`.
pub const AIOT_BOOTSTRAPOPT_REGIONID: aiot_bootstrap_option_t = 6;
/// `uint32_t *` send timeout, default 5000 ms.
pub const AIOT_BOOTSTRAPOPT_SEND_TIMEOUT_MS: aiot_bootstrap_option_t = 7;
/// `uint32_t *` per-read timeout, default 5000 ms.
pub const AIOT_BOOTSTRAPOPT_RECV_TIMEOUT_MS: aiot_bootstrap_option_t = 8;
/// `aiot_bootstrap_recv_handler_t`: the status, the endpoint, the notifies.
pub const AIOT_BOOTSTRAPOPT_RECV_HANDLER: aiot_bootstrap_option_t = 9;
/// `aiot_bootstrap_event_handler_t`: refused notifies.
pub const AIOT_BOOTSTRAPOPT_EVENT_HANDLER: aiot_bootstrap_option_t = 10;
/// `void *` userdata for both handlers.
pub const AIOT_BOOTSTRAPOPT_USERDATA: aiot_bootstrap_option_t = 11;
/// `uint32_t *` how long `aiot_bootstrap_recv` waits for the whole answer, default 5000 ms.
pub const AIOT_BOOTSTRAPOPT_TIMEOUT_MS: aiot_bootstrap_option_t = 12;
/// `uint32_t *` how long deinit waits for calls in progress, default 2000 ms.
pub const AIOT_BOOTSTRAPOPT_DEINIT_TIMEOUT_MS: aiot_bootstrap_option_t = 13;
pub const AIOT_BOOTSTRAPOPT_MAX: aiot_bootstrap_option_t = 14;

/// Kind of data passed to the receive handler.
pub type aiot_bootstrap_recv_type_t = u32;
/// The answer's HTTP status: `data.status_code`.
pub const AIOT_BOOTSTRAPRECV_STATUS_CODE: aiot_bootstrap_recv_type_t = 0;
/// The MQTT endpoint: `data.connection_info`.
pub const AIOT_BOOTSTRAPRECV_CONNECTION_INFO: aiot_bootstrap_recv_type_t = 1;
/// A notify from the platform: `data.notify` (the reply goes out after the handler).
pub const AIOT_BOOTSTRAPRECV_NOTIFY: aiot_bootstrap_recv_type_t = 2;

/// The answer's HTTP status.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_bootstrap_status_code_t {
    pub code: u32,
}

/// The MQTT endpoint: host NUL-terminated, valid during the callback.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_bootstrap_connection_info_t {
    pub host: *mut c_char,
    pub port: u16,
}

/// A notify's command.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_bootstrap_notify_t {
    pub cmd: u32,
}

/// Payload of `aiot_bootstrap_recv_t`, selected by its `type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_bootstrap_recv_data_t {
    pub status_code: aiot_bootstrap_status_code_t,
    pub connection_info: aiot_bootstrap_connection_info_t,
    pub notify: aiot_bootstrap_notify_t,
}

/// Data passed to the receive handler.
#[repr(C)]
pub struct aiot_bootstrap_recv_t {
    pub r#type: aiot_bootstrap_recv_type_t,
    pub data: aiot_bootstrap_recv_data_t,
}

/// Receive handler; `handle` is the bootstrap handle.
pub type aiot_bootstrap_recv_handler_t = Option<
    unsafe extern "C" fn(handle: *mut c_void, packet: *const aiot_bootstrap_recv_t, userdata: *mut c_void),
>;

/// Kind of event.
pub type aiot_bootstrap_event_type_t = u32;
/// A notify without `id` or `cmd` (or not JSON): no reply is sent.
pub const AIOT_BOOTSTRAPEVT_INVALID_RESPONSE: aiot_bootstrap_event_type_t = 0;
/// A notify whose `cmd` is not an unsigned number: no reply is sent.
pub const AIOT_BOOTSTRAPEVT_INVALID_CMD: aiot_bootstrap_event_type_t = 1;

/// An event.
#[repr(C)]
pub struct aiot_bootstrap_event_t {
    pub r#type: aiot_bootstrap_event_type_t,
}

/// Event handler; `handle` is the bootstrap handle.
pub type aiot_bootstrap_event_handler_t = Option<
    unsafe extern "C" fn(handle: *mut c_void, event: *const aiot_bootstrap_event_t, userdata: *mut c_void),
>;

fn recv_handler(
    handle: *mut c_void,
    f: unsafe extern "C" fn(*mut c_void, *const aiot_bootstrap_recv_t, *mut c_void),
) -> Arc<RecvFn> {
    let handle = handle as usize;
    Arc::new(move |r: &Received<'_>, userdata: usize| {
        let call = |packet: aiot_bootstrap_recv_t| {
            // SAFETY: the user's handler, called with a packet whose strings outlive the call.
            unsafe { f(handle as *mut c_void, &packet, userdata as *mut c_void) }
        };
        match *r {
            Received::StatusCode(code) => call(aiot_bootstrap_recv_t {
                r#type: AIOT_BOOTSTRAPRECV_STATUS_CODE,
                data: aiot_bootstrap_recv_data_t {
                    status_code: aiot_bootstrap_status_code_t { code },
                },
            }),
            Received::ConnectionInfo { host, port } => {
                // The core never hands over a host with a NUL in it.
                let host = CString::new(host).unwrap_or_default();
                call(aiot_bootstrap_recv_t {
                    r#type: AIOT_BOOTSTRAPRECV_CONNECTION_INFO,
                    data: aiot_bootstrap_recv_data_t {
                        connection_info: aiot_bootstrap_connection_info_t {
                            host: host.as_ptr() as *mut c_char,
                            port,
                        },
                    },
                });
            }
            Received::Notify(cmd) => call(aiot_bootstrap_recv_t {
                r#type: AIOT_BOOTSTRAPRECV_NOTIFY,
                data: aiot_bootstrap_recv_data_t {
                    notify: aiot_bootstrap_notify_t { cmd },
                },
            }),
        }
    })
}

/// Creates a bootstrap handle with default options; NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_bootstrap_init() -> *mut c_void {
    new_handle(Bootstrap::new)
}

/// Converts the raw option (any but the MQTT handle) into its typed value.
///
/// # Safety
/// `data` must be non-NULL and point to the type the option documents (for a handler, be
/// the handler itself).
unsafe fn read_option(
    handle: *mut c_void,
    option: aiot_bootstrap_option_t,
    data: *mut c_void,
) -> Result<BootstrapOption, Error> {
    // SAFETY: a `char *` option: `data` is a NUL-terminated string (this function's contract).
    let text = || unsafe { text_data(data) };
    // SAFETY: a `uint32_t *` option: `data` points to a `u32` (this function's contract).
    let u32v = || unsafe { read_data::<u32>(data) };
    Ok(match option {
        // SAFETY: `data` points to a valid credential (this function's contract).
        AIOT_BOOTSTRAPOPT_NETWORK_CRED => BootstrapOption::NetworkCred(unsafe { cred_data(data) }),
        AIOT_BOOTSTRAPOPT_HOST => BootstrapOption::Host(text()?),
        // SAFETY: a `uint16_t *` option (this function's contract).
        AIOT_BOOTSTRAPOPT_PORT => BootstrapOption::Port(unsafe { read_data::<u16>(data) }),
        AIOT_BOOTSTRAPOPT_PRODUCT_KEY => BootstrapOption::ProductKey(text()?),
        AIOT_BOOTSTRAPOPT_DEVICE_NAME => BootstrapOption::DeviceName(text()?),
        AIOT_BOOTSTRAPOPT_REGIONID => BootstrapOption::RegionId(text()?),
        AIOT_BOOTSTRAPOPT_SEND_TIMEOUT_MS => BootstrapOption::SendTimeoutMs(u32v()),
        AIOT_BOOTSTRAPOPT_RECV_TIMEOUT_MS => BootstrapOption::RecvTimeoutMs(u32v()),
        AIOT_BOOTSTRAPOPT_RECV_HANDLER => {
            // SAFETY: the option passes the handler itself as `data` (this function's contract).
            let f: unsafe extern "C" fn(*mut c_void, *const aiot_bootstrap_recv_t, *mut c_void) =
                unsafe { handler_data(data) };
            BootstrapOption::RecvHandler(recv_handler(handle, f))
        }
        AIOT_BOOTSTRAPOPT_EVENT_HANDLER => {
            // SAFETY: the option passes the handler itself as `data` (this function's contract).
            let f: unsafe extern "C" fn(*mut c_void, *const aiot_bootstrap_event_t, *mut c_void) =
                unsafe { handler_data(data) };
            let handle = handle as usize;
            BootstrapOption::EventHandler(Arc::new(move |e: BootstrapEvent, userdata: usize| {
                let event = aiot_bootstrap_event_t {
                    r#type: match e {
                        BootstrapEvent::InvalidResponse => AIOT_BOOTSTRAPEVT_INVALID_RESPONSE,
                        BootstrapEvent::InvalidCmd => AIOT_BOOTSTRAPEVT_INVALID_CMD,
                    },
                };
                // SAFETY: the user's handler, called with an event valid for the call.
                unsafe { f(handle as *mut c_void, &event, userdata as *mut c_void) }
            }))
        }
        AIOT_BOOTSTRAPOPT_USERDATA => BootstrapOption::Userdata(data as usize),
        AIOT_BOOTSTRAPOPT_TIMEOUT_MS => BootstrapOption::TimeoutMs(u32v()),
        AIOT_BOOTSTRAPOPT_DEINIT_TIMEOUT_MS => BootstrapOption::DeinitTimeoutMs(u32v()),
        _ => return Err(Error::UnknownOption),
    })
}

/// The bootstrap object behind a C handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_bootstrap_init` not yet freed.
unsafe fn bootstrap<'a>(handle: *mut c_void) -> Option<&'a Bootstrap> {
    // SAFETY: NULL or a live `Bootstrap` (this function's contract).
    unsafe { deref::<Bootstrap>(handle) }
}

/// Sets one option; `data` points to the type listed with each `AIOT_BOOTSTRAPOPT_*`.
///
/// # Safety
/// `handle` must come from `aiot_bootstrap_init`; `data` must match the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_bootstrap_setopt(
    handle: *mut c_void,
    option: aiot_bootstrap_option_t,
    data: *mut c_void,
) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_bootstrap_init` (this function's contract).
    setopt(
        unsafe { bootstrap(handle) },
        option,
        AIOT_BOOTSTRAPOPT_MAX,
        data,
        |b| {
            if option == AIOT_BOOTSTRAPOPT_MQTT_HANDLE {
                // SAFETY: `data` is a live handle from `aiot_mqtt_init` (the option's contract).
                let client = unsafe { shared_client(data) }.ok_or(Error::NullPointer)?;
                return b.set_mqtt(client);
            }
            // SAFETY: `data` is not NULL and matches the option's type (this function's contract).
            unsafe { read_option(handle, option, data) }.and_then(|o| b.setopt(o))
        },
    )
}

/// Connects to the bootstrap service and sends the request (GET by region, else the form
/// POST); 0 or the connect / send error.
///
/// # Safety
/// `handle` must come from `aiot_bootstrap_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_bootstrap_send_request(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_bootstrap_init` (this function's contract).
    call(unsafe { bootstrap(handle) }, Bootstrap::send_request)
}

/// Reads the answer: the receive handler gets its HTTP status, then the MQTT host and port.
/// 0, `STATE_BOOTSTRAP_INVALID_STATUS_CODE` (status not 200),
/// `STATE_BOOTSTRAP_INVALID_CONNECTION_INFO` (no usable host and port),
/// `STATE_HTTP_RECV_NOT_FINISHED` or a network code.
///
/// # Safety
/// `handle` must come from `aiot_bootstrap_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_bootstrap_recv(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_bootstrap_init` (this function's contract).
    call(unsafe { bootstrap(handle) }, Bootstrap::recv)
}

/// Frees a bootstrap handle: leaves the MQTT handle, waits up to the deinit timeout for calls
/// in progress (`STATE_BOOTSTRAP_DEINIT_TIMEOUT` and the handle kept, disabled, if they do not
/// end), then sets `*handle` to NULL.
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_bootstrap_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_bootstrap_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_bootstrap_init`; the shutdown waits
    // for the calls in progress, after which none uses it (this function's contract).
    unsafe { deinit_handle(handle, STATE_USER_INPUT_NULL_POINTER, Bootstrap::shutdown) }
}
