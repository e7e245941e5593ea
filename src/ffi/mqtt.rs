//! `aiot_mqtt_api.h`: the MQTT client.

use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;

use super::handle::{call, deinit_handle, new_handle, setopt};
use super::{cred_data, data_ref, deref, guard, handler_data, read_data, status, text_data};
use crate::error::Error;
use crate::mqtt::{Client, DisconnectCause, Event, EventHandler, MqttOption, Recv, RecvHandler};
use crate::state::*;

/// Kind of packet passed to a receive handler.
pub type aiot_mqtt_recv_type_t = u32;
/// A PUBLISH from the server.
pub const AIOT_MQTTRECV_PUB: aiot_mqtt_recv_type_t = 0;
/// PINGRESP.
pub const AIOT_MQTTRECV_HEARTBEAT_RESPONSE: aiot_mqtt_recv_type_t = 1;
/// SUBACK, one per topic.
pub const AIOT_MQTTRECV_SUB_ACK: aiot_mqtt_recv_type_t = 2;
/// UNSUBACK.
pub const AIOT_MQTTRECV_UNSUB_ACK: aiot_mqtt_recv_type_t = 3;
/// PUBACK of a QoS1 publish.
pub const AIOT_MQTTRECV_PUB_ACK: aiot_mqtt_recv_type_t = 4;

/// A received PUBLISH. `topic` and `payload` are not NUL-terminated and live only during
/// the callback.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_mqtt_recv_pub_t {
    pub qos: u8,
    pub topic: *mut c_char,
    pub topic_len: u16,
    pub payload: *mut u8,
    pub payload_len: u32,
}

/// A SUBACK: `res` is 0 or a `STATE_MQTT_SUBACK_RCODE_*` code.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_mqtt_recv_sub_ack_t {
    pub res: i32,
    pub max_qos: u8,
    pub packet_id: u16,
}

/// An UNSUBACK or PUBACK.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_mqtt_recv_packet_id_t {
    pub packet_id: u16,
}

/// Payload of `aiot_mqtt_recv_t`, selected by its `type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_mqtt_recv_data_t {
    pub r#pub: aiot_mqtt_recv_pub_t,
    pub sub_ack: aiot_mqtt_recv_sub_ack_t,
    pub unsub_ack: aiot_mqtt_recv_packet_id_t,
    pub pub_ack: aiot_mqtt_recv_packet_id_t,
}

/// A packet passed to a receive handler.
#[repr(C)]
pub struct aiot_mqtt_recv_t {
    pub r#type: aiot_mqtt_recv_type_t,
    pub data: aiot_mqtt_recv_data_t,
}

/// Receive handler: `handle` is the MQTT handle, `userdata` the handler's or the handle's.
pub type aiot_mqtt_recv_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, packet: *const aiot_mqtt_recv_t, userdata: *mut c_void)>;

/// Kind of session event.
pub type aiot_mqtt_event_type_t = u32;
/// `aiot_mqtt_connect` succeeded for the first time on this handle.
pub const AIOT_MQTTEVT_CONNECT: aiot_mqtt_event_type_t = 0;
/// A later connect (automatic or by the user) succeeded.
pub const AIOT_MQTTEVT_RECONNECT: aiot_mqtt_event_type_t = 1;
/// The connection was lost.
pub const AIOT_MQTTEVT_DISCONNECT: aiot_mqtt_event_type_t = 2;

/// Why the connection was lost.
pub type aiot_mqtt_disconnect_event_type_t = u32;
/// A read or write failed.
pub const AIOT_MQTTDISCONNEVT_NETWORK_DISCONNECT: aiot_mqtt_disconnect_event_type_t = 0;
/// More than `AIOT_MQTTOPT_HEARTBEAT_MAX_LOST` heartbeats went unanswered.
pub const AIOT_MQTTDISCONNEVT_HEARTBEAT_DISCONNECT: aiot_mqtt_disconnect_event_type_t = 1;

/// Event data, selected by the event type.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_mqtt_event_data_t {
    pub disconnect: aiot_mqtt_disconnect_event_type_t,
}

/// A session event.
#[repr(C)]
pub struct aiot_mqtt_event_t {
    pub r#type: aiot_mqtt_event_type_t,
    pub data: aiot_mqtt_event_data_t,
}

/// Event handler, run on the thread that calls connect or recv.
pub type aiot_mqtt_event_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, event: *const aiot_mqtt_event_t, userdata: *mut c_void)>;

/// Data of `AIOT_MQTTOPT_APPEND_TOPIC_MAP` and `AIOT_MQTTOPT_REMOVE_TOPIC_MAP`.
#[repr(C)]
pub struct aiot_mqtt_topic_map_t {
    pub topic: *mut c_char,
    pub handler: aiot_mqtt_recv_handler_t,
    pub userdata: *mut c_void,
}

/// Options of `aiot_mqtt_setopt`; the comment gives the type `data` points to.
pub type aiot_mqtt_option_t = u32;
/// `char *` server host name.
pub const AIOT_MQTTOPT_HOST: aiot_mqtt_option_t = 0;
/// `uint16_t *` server port (no default).
pub const AIOT_MQTTOPT_PORT: aiot_mqtt_option_t = 1;
/// `char *` product key.
pub const AIOT_MQTTOPT_PRODUCT_KEY: aiot_mqtt_option_t = 2;
/// `char *` device name.
pub const AIOT_MQTTOPT_DEVICE_NAME: aiot_mqtt_option_t = 3;
/// `char *` device secret.
pub const AIOT_MQTTOPT_DEVICE_SECRET: aiot_mqtt_option_t = 4;
/// `char *` extra client id fields.
pub const AIOT_MQTTOPT_EXTEND_CLIENTID: aiot_mqtt_option_t = 5;
/// `char *` securemode override.
pub const AIOT_MQTTOPT_SECURITY_MODE: aiot_mqtt_option_t = 6;
/// `char *` user name (used only with PASSWORD and CLIENTID).
pub const AIOT_MQTTOPT_USERNAME: aiot_mqtt_option_t = 7;
/// `char *` password.
pub const AIOT_MQTTOPT_PASSWORD: aiot_mqtt_option_t = 8;
/// `char *` client id.
pub const AIOT_MQTTOPT_CLIENTID: aiot_mqtt_option_t = 9;
/// `uint16_t *` keepalive in CONNECT, default 1200 s.
pub const AIOT_MQTTOPT_KEEPALIVE_SEC: aiot_mqtt_option_t = 10;
/// `uint8_t *` clean session 0/1, default 1.
pub const AIOT_MQTTOPT_CLEAN_SESSION: aiot_mqtt_option_t = 11;
/// `aiot_sysdep_network_cred_t *` (copied); none means plain TCP.
pub const AIOT_MQTTOPT_NETWORK_CRED: aiot_mqtt_option_t = 12;
/// `uint32_t *` connect timeout, default 10000 ms.
pub const AIOT_MQTTOPT_CONNECT_TIMEOUT_MS: aiot_mqtt_option_t = 13;
/// `uint32_t *` heartbeat interval, default 25000 ms.
pub const AIOT_MQTTOPT_HEARTBEAT_INTERVAL_MS: aiot_mqtt_option_t = 14;
/// `uint8_t *` heartbeats lost before DISCONNECT, default 2.
pub const AIOT_MQTTOPT_HEARTBEAT_MAX_LOST: aiot_mqtt_option_t = 15;
/// `uint8_t *` automatic reconnect 0/1, default 1.
pub const AIOT_MQTTOPT_RECONN_ENABLED: aiot_mqtt_option_t = 16;
/// `uint32_t *` reconnect interval (setting it turns backoff off), default 2000 ms.
pub const AIOT_MQTTOPT_RECONN_INTERVAL_MS: aiot_mqtt_option_t = 17;
/// `uint32_t *` send timeout, default 5000 ms.
pub const AIOT_MQTTOPT_SEND_TIMEOUT_MS: aiot_mqtt_option_t = 18;
/// `uint32_t *` per-read timeout of `aiot_mqtt_recv`, default 5000 ms.
pub const AIOT_MQTTOPT_RECV_TIMEOUT_MS: aiot_mqtt_option_t = 19;
/// `uint32_t *` QoS1 resend age, default 3000 ms.
pub const AIOT_MQTTOPT_REPUB_TIMEOUT_MS: aiot_mqtt_option_t = 20;
/// `uint32_t *` how long deinit waits for calls in progress, default 2000 ms.
pub const AIOT_MQTTOPT_DEINIT_TIMEOUT_MS: aiot_mqtt_option_t = 21;
/// `aiot_mqtt_recv_handler_t` default receive handler.
pub const AIOT_MQTTOPT_RECV_HANDLER: aiot_mqtt_option_t = 22;
/// `aiot_mqtt_event_handler_t` event handler.
pub const AIOT_MQTTOPT_EVENT_HANDLER: aiot_mqtt_option_t = 23;
/// `aiot_mqtt_topic_map_t *` adds a local topic handler (no SUBSCRIBE).
pub const AIOT_MQTTOPT_APPEND_TOPIC_MAP: aiot_mqtt_option_t = 24;
/// `aiot_mqtt_topic_map_t *` removes that handler.
pub const AIOT_MQTTOPT_REMOVE_TOPIC_MAP: aiot_mqtt_option_t = 25;
/// `uint8_t *` append `?_rid=` to published topics, default 0.
pub const AIOT_MQTTOPT_APPEND_REQUESTID: aiot_mqtt_option_t = 26;
/// `void *` userdata for handlers.
pub const AIOT_MQTTOPT_USERDATA: aiot_mqtt_option_t = 27;
/// `uint16_t *` QoS1 messages kept for resend, default 50.
pub const AIOT_MQTTOPT_MAX_REPUB_NUM: aiot_mqtt_option_t = 28;
/// `uint8_t *` require topics to start with `/` or `$`, default 1.
pub const AIOT_MQTTOPT_TOPIC_HEADER_CHECK: aiot_mqtt_option_t = 29;
pub const AIOT_MQTTOPT_MAX: aiot_mqtt_option_t = 30;

/// The object behind an MQTT handle.
/// Shared so an OTA or download handle attached to it never outlives the session's memory.
pub struct MqttHandle {
    pub client: Arc<Client>,
}

/// The session behind a C MQTT handle, for the OTA and download modules.
///
/// # Safety
/// `handle` must be NULL or a live handle from `aiot_mqtt_init`.
pub unsafe fn shared_client(handle: *mut c_void) -> Option<Arc<Client>> {
    // SAFETY: NULL or a live `MqttHandle` (this function's contract).
    unsafe { deref::<MqttHandle>(handle) }.map(|h| h.client.clone())
}

/// A topic's bytes up to its NUL, unchanged (topics need not be UTF-8); NULL gives `None`.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string.
unsafe fn topic_bytes<'a>(ptr: *const c_char) -> Option<&'a [u8]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: not NULL, and NUL-terminated by the caller's contract.
        Some(unsafe { CStr::from_ptr(ptr) }.to_bytes())
    }
}

/// The session behind a C MQTT handle; NULL gives `None`.
///
/// # Safety
/// `handle` must be NULL or a handle from `aiot_mqtt_init` not yet freed.
unsafe fn client<'a>(handle: *mut c_void) -> Option<&'a Client> {
    // SAFETY: NULL or a live `MqttHandle` (this function's contract).
    unsafe { deref::<MqttHandle>(handle) }.map(|h| &*h.client)
}

fn recv_handler(
    handle: *mut c_void,
    f: unsafe extern "C" fn(*mut c_void, *const aiot_mqtt_recv_t, *mut c_void),
) -> RecvHandler {
    let handle = handle as usize;
    RecvHandler {
        key: f as usize,
        call: Arc::new(move |recv: &Recv<'_>, userdata: usize| {
            let packet = to_c_recv(recv);
            // SAFETY: the user's handler, called with a packet valid for the call.
            unsafe { f(handle as *mut c_void, &packet, userdata as *mut c_void) }
        }),
    }
}

fn to_c_recv(recv: &Recv<'_>) -> aiot_mqtt_recv_t {
    match *recv {
        Recv::Pub { qos, topic, payload } => aiot_mqtt_recv_t {
            r#type: AIOT_MQTTRECV_PUB,
            data: aiot_mqtt_recv_data_t {
                r#pub: aiot_mqtt_recv_pub_t {
                    qos,
                    topic: topic.as_ptr() as *mut c_char,
                    topic_len: topic.len() as u16,
                    payload: payload.as_ptr() as *mut u8,
                    payload_len: payload.len() as u32,
                },
            },
        },
        Recv::HeartbeatResponse => aiot_mqtt_recv_t {
            r#type: AIOT_MQTTRECV_HEARTBEAT_RESPONSE,
            data: aiot_mqtt_recv_data_t {
                pub_ack: aiot_mqtt_recv_packet_id_t { packet_id: 0 },
            },
        },
        Recv::SubAck {
            res,
            max_qos,
            packet_id,
        } => aiot_mqtt_recv_t {
            r#type: AIOT_MQTTRECV_SUB_ACK,
            data: aiot_mqtt_recv_data_t {
                sub_ack: aiot_mqtt_recv_sub_ack_t {
                    res,
                    max_qos,
                    packet_id,
                },
            },
        },
        Recv::UnsubAck { packet_id } => aiot_mqtt_recv_t {
            r#type: AIOT_MQTTRECV_UNSUB_ACK,
            data: aiot_mqtt_recv_data_t {
                unsub_ack: aiot_mqtt_recv_packet_id_t { packet_id },
            },
        },
        Recv::PubAck { packet_id } => aiot_mqtt_recv_t {
            r#type: AIOT_MQTTRECV_PUB_ACK,
            data: aiot_mqtt_recv_data_t {
                pub_ack: aiot_mqtt_recv_packet_id_t { packet_id },
            },
        },
    }
}

fn event_handler(
    handle: *mut c_void,
    f: unsafe extern "C" fn(*mut c_void, *const aiot_mqtt_event_t, *mut c_void),
) -> EventHandler {
    let handle = handle as usize;
    EventHandler {
        call: Arc::new(move |event: &Event, userdata: usize| {
            let (kind, cause) = match *event {
                Event::Connect => (AIOT_MQTTEVT_CONNECT, 0),
                Event::Reconnect => (AIOT_MQTTEVT_RECONNECT, 0),
                Event::Disconnect(DisconnectCause::Network) => {
                    (AIOT_MQTTEVT_DISCONNECT, AIOT_MQTTDISCONNEVT_NETWORK_DISCONNECT)
                }
                Event::Disconnect(DisconnectCause::Heartbeat) => {
                    (AIOT_MQTTEVT_DISCONNECT, AIOT_MQTTDISCONNEVT_HEARTBEAT_DISCONNECT)
                }
            };
            let ev = aiot_mqtt_event_t {
                r#type: kind,
                data: aiot_mqtt_event_data_t { disconnect: cause },
            };
            // SAFETY: the user's handler, called with an event valid for the call.
            unsafe { f(handle as *mut c_void, &ev, userdata as *mut c_void) }
        }),
    }
}

/// Creates an MQTT session with default options; NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_mqtt_init() -> *mut c_void {
    new_handle(|port| MqttHandle {
        client: Arc::new(Client::new(port)),
    })
}

/// Converts the raw option into its typed value.
///
/// # Safety
/// `data` must be non-NULL and point to the type the option documents (for the handler
/// options, be the handler itself).
unsafe fn read_option(
    handle: *mut c_void,
    option: aiot_mqtt_option_t,
    data: *mut c_void,
) -> Result<MqttOption, Error> {
    // Each reader below is called only for options whose data has its type.
    // SAFETY: a `char *` option: `data` is a NUL-terminated string (this function's contract).
    let text = || unsafe { text_data(data) };
    // SAFETY: a `uint8_t *` option: `data` points to a `u8` (this function's contract).
    let u8v = || unsafe { read_data::<u8>(data) };
    // SAFETY: a `uint16_t *` option: `data` points to a `u16` (this function's contract).
    let u16v = || unsafe { read_data::<u16>(data) };
    // SAFETY: a `uint32_t *` option: `data` points to a `u32` (this function's contract).
    let u32v = || unsafe { read_data::<u32>(data) };
    Ok(match option {
        AIOT_MQTTOPT_HOST => MqttOption::Host(text()?),
        AIOT_MQTTOPT_PORT => MqttOption::Port(u16v()),
        AIOT_MQTTOPT_PRODUCT_KEY => MqttOption::ProductKey(text()?),
        AIOT_MQTTOPT_DEVICE_NAME => MqttOption::DeviceName(text()?),
        AIOT_MQTTOPT_DEVICE_SECRET => MqttOption::DeviceSecret(text()?),
        AIOT_MQTTOPT_EXTEND_CLIENTID => MqttOption::ExtendClientId(text()?),
        AIOT_MQTTOPT_SECURITY_MODE => MqttOption::SecurityMode(text()?),
        AIOT_MQTTOPT_USERNAME => MqttOption::Username(text()?),
        AIOT_MQTTOPT_PASSWORD => MqttOption::Password(text()?),
        AIOT_MQTTOPT_CLIENTID => MqttOption::ClientId(text()?),
        AIOT_MQTTOPT_KEEPALIVE_SEC => MqttOption::KeepaliveSec(u16v()),
        AIOT_MQTTOPT_CLEAN_SESSION => MqttOption::CleanSession(u8v()),
        AIOT_MQTTOPT_NETWORK_CRED => {
            // SAFETY: `data` points to a valid credential (this function's contract).
            MqttOption::NetworkCred(unsafe { cred_data(data) })
        }
        AIOT_MQTTOPT_CONNECT_TIMEOUT_MS => MqttOption::ConnectTimeoutMs(u32v()),
        AIOT_MQTTOPT_HEARTBEAT_INTERVAL_MS => MqttOption::HeartbeatIntervalMs(u32v()),
        AIOT_MQTTOPT_HEARTBEAT_MAX_LOST => MqttOption::HeartbeatMaxLost(u8v()),
        AIOT_MQTTOPT_RECONN_ENABLED => MqttOption::ReconnEnabled(u8v()),
        AIOT_MQTTOPT_RECONN_INTERVAL_MS => MqttOption::ReconnIntervalMs(u32v()),
        AIOT_MQTTOPT_SEND_TIMEOUT_MS => MqttOption::SendTimeoutMs(u32v()),
        AIOT_MQTTOPT_RECV_TIMEOUT_MS => MqttOption::RecvTimeoutMs(u32v()),
        AIOT_MQTTOPT_REPUB_TIMEOUT_MS => MqttOption::RepubTimeoutMs(u32v()),
        AIOT_MQTTOPT_DEINIT_TIMEOUT_MS => MqttOption::DeinitTimeoutMs(u32v()),
        AIOT_MQTTOPT_RECV_HANDLER => {
            // SAFETY: the option passes the handler itself as `data` (this function's contract).
            let f: unsafe extern "C" fn(*mut c_void, *const aiot_mqtt_recv_t, *mut c_void) =
                unsafe { handler_data(data) };
            MqttOption::RecvHandler(recv_handler(handle, f))
        }
        AIOT_MQTTOPT_EVENT_HANDLER => {
            // SAFETY: the option passes the handler itself as `data` (this function's contract).
            let f: unsafe extern "C" fn(*mut c_void, *const aiot_mqtt_event_t, *mut c_void) =
                unsafe { handler_data(data) };
            MqttOption::EventHandler(event_handler(handle, f))
        }
        AIOT_MQTTOPT_APPEND_TOPIC_MAP | AIOT_MQTTOPT_REMOVE_TOPIC_MAP => {
            // SAFETY: `data` points to a topic map (this function's contract).
            let map = unsafe { data_ref::<aiot_mqtt_topic_map_t>(data) };
            // SAFETY: the map's topic is NULL or NUL-terminated (the option's contract).
            let topic = unsafe { topic_bytes(map.topic) }
                .ok_or(Error::NullPointer)?
                .to_vec();
            if option == AIOT_MQTTOPT_APPEND_TOPIC_MAP {
                MqttOption::AppendTopicMap {
                    topic,
                    handler: map.handler.map(|f| recv_handler(handle, f)),
                    userdata: map.userdata as usize,
                }
            } else {
                MqttOption::RemoveTopicMap {
                    topic,
                    handler_key: map.handler.map(|f| f as usize).unwrap_or(0),
                }
            }
        }
        AIOT_MQTTOPT_APPEND_REQUESTID => MqttOption::AppendRequestId(u8v()),
        AIOT_MQTTOPT_USERDATA => MqttOption::Userdata(data as usize),
        AIOT_MQTTOPT_MAX_REPUB_NUM => MqttOption::MaxRepubNum(u16v()),
        AIOT_MQTTOPT_TOPIC_HEADER_CHECK => MqttOption::TopicHeaderCheck(u8v()),
        _ => return Err(Error::OutOfRange),
    })
}

/// Sets one option; `data` points to the type listed with each `AIOT_MQTTOPT_*`.
///
/// # Safety
/// `handle` must come from `aiot_mqtt_init`; `data` must match the option's type.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_setopt(
    handle: *mut c_void,
    option: aiot_mqtt_option_t,
    data: *mut c_void,
) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_mqtt_init` (this function's contract).
    setopt(unsafe { client(handle) }, option, AIOT_MQTTOPT_MAX, data, |c| {
        let _g = c.enter()?;
        // SAFETY: `data` is not NULL and matches the option's type (this function's contract).
        unsafe { read_option(handle, option, data) }.and_then(|o| c.setopt(o))
    })
}

/// Frees a session: waits up to the deinit timeout for calls in progress, tells the OTA
/// handles attached to it to forget it, closes the connection without DISCONNECT and sets
/// `*handle` to NULL.
///
/// # Safety
/// `handle` must be NULL or point to a handle from `aiot_mqtt_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_mqtt_init`; the shutdown waits for
    // the calls in progress, after which none uses it (this function's contract).
    unsafe {
        deinit_handle(handle, STATE_USER_INPUT_NULL_POINTER, |h: &MqttHandle| {
            h.client.shutdown()
        })
    }
}

/// Connects (TCP or TLS, then MQTT CONNECT); fires CONNECT or RECONNECT on success.
///
/// # Safety
/// `handle` must come from `aiot_mqtt_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_connect(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_mqtt_init` (this function's contract).
    call(unsafe { client(handle) }, Client::connect)
}

/// Sends DISCONNECT, closes the connection and stops automatic reconnects.
///
/// # Safety
/// `handle` must come from `aiot_mqtt_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_disconnect(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_mqtt_init` (this function's contract).
    call(unsafe { client(handle) }, Client::disconnect)
}

/// Sends one PINGREQ now.
///
/// # Safety
/// `handle` must come from `aiot_mqtt_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_heartbeat(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_mqtt_init` (this function's contract).
    call(unsafe { client(handle) }, Client::heartbeat)
}

/// Sends heartbeats and resends unacknowledged QoS1 messages when due. Call it more often
/// than the heartbeat interval and the repub timeout.
///
/// # Safety
/// `handle` must come from `aiot_mqtt_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_process(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_mqtt_init` (this function's contract).
    call(unsafe { client(handle) }, Client::process)
}

/// Publishes; returns the packet id for QoS1, 0 for QoS0, or a negative code.
///
/// # Safety
/// `handle` from `aiot_mqtt_init`; `topic` NUL-terminated; `payload` valid for `payload_len`.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_pub(
    handle: *mut c_void,
    topic: *mut c_char,
    payload: *mut u8,
    payload_len: u32,
    qos: u8,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` comes from `aiot_mqtt_init` and `topic` is NULL or NUL-terminated
        // (this function's contract).
        let (Some(c), Some(topic)) = (unsafe { client(handle) }, unsafe { topic_bytes(topic) }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        if payload.is_null() {
            return STATE_USER_INPUT_NULL_POINTER;
        }
        // SAFETY: not NULL, and valid for `payload_len` bytes (this function's contract).
        let payload = unsafe { std::slice::from_raw_parts(payload as *const u8, payload_len as usize) };
        status(c.publish(topic, payload, qos).map(i32::from))
    })
}

/// Upstream's topic limit (`CORE_MQTT_TOPIC_MAXLEN`): a topic of this many bytes or more is
/// too long.
const TOPIC_MAX_LEN: usize = 128;

/// Whether `topic` is non-NULL and too long. `aiot_mqtt_sub` and `aiot_mqtt_unsub` check this
/// before the handle, as upstream does.
///
/// # Safety
/// `topic` must be NULL or NUL-terminated.
unsafe fn topic_too_long(topic: *const c_char) -> bool {
    // SAFETY: non-NULL and NUL-terminated per the contract.
    !topic.is_null() && unsafe { std::ffi::CStr::from_ptr(topic) }.to_bytes().len() >= TOPIC_MAX_LEN
}

/// Subscribes `topic` with an optional handler; returns the SUBSCRIBE packet id.
///
/// # Safety
/// `handle` from `aiot_mqtt_init`; `topic` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_sub(
    handle: *mut c_void,
    topic: *mut c_char,
    handler: aiot_mqtt_recv_handler_t,
    qos: u8,
    userdata: *mut c_void,
) -> i32 {
    guard(|| {
        // SAFETY: `topic` is NULL or NUL-terminated (this function's contract).
        if unsafe { topic_too_long(topic) } {
            return Error::TopicTooLong.code();
        }
        // SAFETY: `handle` comes from `aiot_mqtt_init` and `topic` is NULL or NUL-terminated
        // (this function's contract).
        let (Some(c), Some(topic)) = (unsafe { client(handle) }, unsafe { topic_bytes(topic) }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        let handler = handler.map(|f| recv_handler(handle, f));
        status(c.subscribe(topic, handler, qos, userdata as usize).map(i32::from))
    })
}

/// Unsubscribes `topic` and forgets its handlers; returns the UNSUBSCRIBE packet id.
///
/// # Safety
/// `handle` from `aiot_mqtt_init`; `topic` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_unsub(handle: *mut c_void, topic: *mut c_char) -> i32 {
    guard(|| {
        // SAFETY: `topic` is NULL or NUL-terminated (this function's contract).
        if unsafe { topic_too_long(topic) } {
            return Error::TopicTooLong.code();
        }
        // SAFETY: `handle` comes from `aiot_mqtt_init` and `topic` is NULL or NUL-terminated
        // (this function's contract).
        let (Some(c), Some(topic)) = (unsafe { client(handle) }, unsafe { topic_bytes(topic) }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        status(c.unsubscribe(topic).map(i32::from))
    })
}

/// Reads and dispatches at most one packet (0 when nothing arrived within the receive
/// timeout); reconnects first when the connection is down and reconnecting is enabled.
///
/// # Safety
/// `handle` must come from `aiot_mqtt_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_mqtt_recv(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_mqtt_init` (this function's contract).
    call(unsafe { client(handle) }, Client::recv)
}
