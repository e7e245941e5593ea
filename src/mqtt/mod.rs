//! The MQTT session (`aiot_mqtt_api.h`): Aliyun-signed connect, publish and subscribe,
//! heartbeats, QoS1 resend and automatic reconnect, all driven by the caller's threads.
//!
//! - `session`: the handle (`Client`), its locks and their order, connect, CONNACK,
//!   reconnect, disconnect and deinit;
//! - `config`: options and their defaults (`aiot_mqtt_setopt`);
//! - `send`: publish, subscribe, unsubscribe;
//! - `receive`: `aiot_mqtt_recv`, the topic map and dispatch to handlers;
//! - `process`: `aiot_mqtt_process`, heartbeats and the QoS1 resend cache;
//! - `component`: the internal API of components (hooks, alink id, pk/dn, device topics);
//! - `link`: a component handle's attachment to a session (its topic handlers, its hooks,
//!   forgetting the session at its deinit);
//! - `diagtap`: connect, heartbeat and Alink timings for the diag component;
//! - `nwkstats`: connect time, failures and heartbeat round trip (logpost's system logs);
//! - `codec`: the wire format (every packet in and out); `topic`: filter rules; `auth`:
//!   Aliyun's signed credentials.

pub mod auth;
pub mod backup_ip;
pub mod codec;
mod component;
mod config;
pub mod diagtap;
pub mod link;
mod nwkstats;
mod process;
mod receive;
mod send;
mod session;
pub mod topic;

pub use component::{next_alink_id, Component};
pub use nwkstats::NwkStats;
pub use session::Client;

use std::sync::Arc;

use crate::sysdep::Credential;

/// An opaque user pointer, stored and handed back, never dereferenced.
pub type Userdata = usize;

/// A packet delivered to a receive handler (`aiot_mqtt_recv_t`).
#[derive(Debug)]
pub enum Recv<'a> {
    Pub {
        qos: u8,
        topic: &'a [u8],
        payload: &'a [u8],
    },
    HeartbeatResponse,
    SubAck {
        res: i32,
        max_qos: u8,
        packet_id: u16,
    },
    UnsubAck {
        packet_id: u16,
    },
    PubAck {
        packet_id: u16,
    },
}

/// Why the connection was lost (`aiot_mqtt_disconnect_event_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectCause {
    Network,
    Heartbeat,
}

/// A session event (`aiot_mqtt_event_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Connect,
    Reconnect,
    Disconnect(DisconnectCause),
}

/// The callable part of a receive handler.
pub type RecvFn = dyn Fn(&Recv<'_>, Userdata) + Send + Sync;
/// The callable part of an event handler.
pub type EventFn = dyn Fn(&Event, Userdata) + Send + Sync;

/// A receive handler: `key` identifies it (the C function address) for de-duplication
/// and removal.
#[derive(Clone)]
pub struct RecvHandler {
    pub key: usize,
    pub call: Arc<RecvFn>,
}

/// An event handler.
#[derive(Clone)]
pub struct EventHandler {
    pub call: Arc<EventFn>,
}

/// One `aiot_mqtt_setopt` option with its converted value.
pub enum MqttOption {
    Host(String),
    Port(u16),
    ProductKey(String),
    DeviceName(String),
    DeviceSecret(String),
    ExtendClientId(String),
    SecurityMode(String),
    Username(String),
    Password(String),
    ClientId(String),
    KeepaliveSec(u16),
    CleanSession(u8),
    NetworkCred(Credential),
    ConnectTimeoutMs(u32),
    HeartbeatIntervalMs(u32),
    HeartbeatMaxLost(u8),
    ReconnEnabled(u8),
    ReconnIntervalMs(u32),
    SendTimeoutMs(u32),
    RecvTimeoutMs(u32),
    RepubTimeoutMs(u32),
    DeinitTimeoutMs(u32),
    RecvHandler(RecvHandler),
    EventHandler(EventHandler),
    /// Topics are bytes, sent and matched unchanged.
    AppendTopicMap {
        topic: Vec<u8>,
        handler: Option<RecvHandler>,
        userdata: Userdata,
    },
    RemoveTopicMap {
        topic: Vec<u8>,
        handler_key: usize,
    },
    AppendRequestId(u8),
    Userdata(Userdata),
    MaxRepubNum(u16),
    TopicHeaderCheck(u8),
}

#[cfg(test)]
mod tests;
