//! The session state machine behind one MQTT handle.
//!
//! # Locks
//!
//! The locks of a session, in the order they are taken (a thread holding one may only take
//! locks further down the list):
//!
//! 1. `connecting`: one connect attempt at a time (connect, automatic reconnect). Held across
//!    the network connect, CONNECT and CONNACK; released before the event fires.
//! 2. `reader`: one frame read at a time (`recv`). Held while the frame's bytes are read and
//!    decoded; released before the packet is dispatched.
//! 3. the connection's send lock (`transport::Connection`): one whole packet write at a time,
//!    whichever thread writes (pub, sub, process, the PUBACK of recv, connect).
//! 4. `cfg`, then `state`, then `slot`: options, session state, the current connection. Held
//!    only to read or update memory, never across network I/O.
//!
//! The rule that makes every API call allowed from inside every callback: no library lock is
//! held while a user callback (receive handler, topic handler, event handler) runs. Events and
//! packets are decided under the locks and delivered after they are released.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};

use super::codec::{self, Incoming};
use super::{auth, topic, DisconnectCause, Event, EventHandler, MqttOption, Recv, RecvHandler, Userdata};
use crate::error::{Error, Result};
use crate::log;
use crate::state::*;
use crate::sysdep::{self, Credential, Port};
use crate::transport::{Connection, Endpoint};

const MAX_TOPIC_LEN: usize = 128;
const MAX_PAYLOAD_LEN: usize = 1024 * 1024;
const DEINIT_POLL_MS: u64 = 100;
const MAX_BACKOFF_STEPS: u32 = 60;

/// The last failed connect code, reported once in the next client id (`_conn=..._-<code>`).
/// Process-global, as upstream keeps it.
static LAST_CONNECT_ERROR: Mutex<Option<i32>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Options (upstream defaults from `aiot_mqtt_init`).
struct Config {
    host: Option<String>,
    port: u16,
    product_key: Option<String>,
    device_name: Option<String>,
    device_secret: Option<String>,
    extend_clientid: Option<String>,
    security_mode: Option<String>,
    username: Option<String>,
    password: Option<String>,
    clientid: Option<String>,
    keepalive_sec: u16,
    clean_session: u8,
    cred: Option<Credential>,
    connect_timeout_ms: u32,
    heartbeat_interval_ms: u32,
    heartbeat_max_lost: u8,
    reconn_enabled: u8,
    reconn_interval_ms: u32,
    reconn_backoff: bool,
    send_timeout_ms: u32,
    recv_timeout_ms: u32,
    repub_timeout_ms: u32,
    deinit_timeout_ms: u32,
    recv_handler: Option<RecvHandler>,
    event_handler: Option<EventHandler>,
    append_requestid: u8,
    userdata: Userdata,
    max_repub_num: u16,
    topic_header_check: u8,
    /// Drawn once from the port at init, in [-500, 499] ms.
    reconn_jitter_ms: i64,
}

impl Config {
    fn new(jitter: i64) -> Config {
        Config {
            host: None,
            port: 0,
            product_key: None,
            device_name: None,
            device_secret: None,
            extend_clientid: None,
            security_mode: None,
            username: None,
            password: None,
            clientid: None,
            keepalive_sec: 1200,
            clean_session: 1,
            cred: None,
            connect_timeout_ms: 10_000,
            heartbeat_interval_ms: 25_000,
            heartbeat_max_lost: 2,
            reconn_enabled: 1,
            reconn_interval_ms: 2_000,
            reconn_backoff: true,
            send_timeout_ms: 5_000,
            recv_timeout_ms: 5_000,
            repub_timeout_ms: 3_000,
            deinit_timeout_ms: 2_000,
            recv_handler: None,
            event_handler: None,
            append_requestid: 0,
            userdata: 0,
            max_repub_num: 50,
            topic_header_check: 1,
            reconn_jitter_ms: jitter,
        }
    }

    fn wipe_credentials(&mut self) {
        self.username = None;
        self.password = None;
        self.clientid = None;
    }

    fn tls(&self) -> bool {
        self.cred.as_ref().map(|c| c.wants_tls()).unwrap_or(false)
    }
}

/// A handler attached to a topic filter, with its own userdata (0 = use the handle's).
#[derive(Clone)]
struct Attached {
    handler: RecvHandler,
    userdata: Userdata,
}

/// One topic filter of the shared sub / topic-map list.
struct TopicEntry {
    filter: Vec<u8>,
    handlers: Vec<Attached>,
    /// Subscribed with `aiot_mqtt_sub` (so re-subscribed after a reconnect).
    subscribed: Option<u8>,
}

/// A QoS1 PUBLISH waiting for its PUBACK.
struct Pending {
    packet_id: u16,
    bytes: Bytes,
    last_sent: u64,
}

/// Mutable session state.
struct State {
    last_packet_id: u16,
    /// In publish order, so PUBACKs (which come in order) are found at the front.
    pending: VecDeque<Pending>,
    /// Packet ids held by `pending`, one bit each.
    pending_ids: Vec<u64>,
    topics: Vec<TopicEntry>,
    ever_connected: bool,
    /// In a connected period: a DISCONNECT event is still due when it ends.
    connected: bool,
    user_disconnected: bool,
    last_ping: u64,
    lost: u32,
    last_reconnect_attempt: Option<u64>,
    reconnect_failures: u32,
}

impl State {
    fn id_pending(&self, id: u16) -> bool {
        self.pending_ids[id as usize / 64] & (1 << (id % 64)) != 0
    }

    fn mark_pending(&mut self, id: u16, held: bool) {
        let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
        if held {
            self.pending_ids[word] |= bit;
        } else {
            self.pending_ids[word] &= !bit;
        }
    }

    /// Drops the QoS1 message a PUBACK acknowledges.
    fn acknowledge(&mut self, id: u16) {
        if self.id_pending(id) {
            if let Some(i) = self.pending.iter().position(|p| p.packet_id == id) {
                self.pending.remove(i);
            }
            self.mark_pending(id, false);
        }
    }

    fn next_packet_id(&mut self) -> u16 {
        self.last_packet_id = if self.last_packet_id == u16::MAX {
            1
        } else {
            self.last_packet_id + 1
        };
        self.last_packet_id
    }
}

/// Keeps a call counted as in progress, so deinit waits for it.
pub struct InFlight<'a>(&'a AtomicU32);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One MQTT session (the object behind an `aiot_mqtt_init` handle).
pub struct Client {
    port: Arc<dyn Port>,
    cfg: Mutex<Config>,
    state: Mutex<State>,
    slot: Mutex<Option<Arc<Connection>>>,
    connecting: Mutex<()>,
    reader: Mutex<BytesMut>,
    exec_enabled: AtomicBool,
    in_flight: AtomicU32,
}

enum Dispatch {
    Handlers(Vec<Attached>),
    Default,
}

impl Client {
    /// `aiot_mqtt_init`: a session with upstream defaults, using `port` for everything.
    pub fn new(port: Arc<dyn Port>) -> Client {
        let jitter = (sysdep::rand_u32(port.as_ref()) % 1000) as i64 - 500;
        Client {
            port,
            cfg: Mutex::new(Config::new(jitter)),
            state: Mutex::new(State {
                last_packet_id: 0,
                pending: VecDeque::new(),
                pending_ids: vec![0; 65536 / 64],
                topics: Vec::new(),
                ever_connected: false,
                connected: false,
                user_disconnected: false,
                last_ping: 0,
                lost: 0,
                last_reconnect_attempt: None,
                reconnect_failures: 0,
            }),
            slot: Mutex::new(None),
            connecting: Mutex::new(()),
            reader: Mutex::new(BytesMut::new()),
            exec_enabled: AtomicBool::new(true),
            in_flight: AtomicU32::new(0),
        }
    }

    /// Counts a call in progress; fails once deinit has started.
    pub fn enter(&self) -> Result<InFlight<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(&self.in_flight);
        if self.exec_enabled.load(Ordering::SeqCst) {
            Ok(guard)
        } else {
            Err(Error::ExecDisabled)
        }
    }

    fn now(&self) -> u64 {
        self.port.time_ms()
    }

    fn connection(&self) -> Option<Arc<Connection>> {
        lock(&self.slot).clone()
    }

    /// Closes `conn` if it is still the current connection.
    fn close_if(&self, conn: &Arc<Connection>) {
        let closed = {
            let mut slot = lock(&self.slot);
            if slot.as_ref().map(|c| Arc::ptr_eq(c, conn)).unwrap_or(false) {
                slot.take()
            } else {
                None
            }
        };
        drop(closed);
    }

    fn fire(&self, event: Event) {
        let (handler, userdata) = {
            let cfg = lock(&self.cfg);
            (cfg.event_handler.clone(), cfg.userdata)
        };
        if let Some(h) = handler {
            (h.call)(&event, userdata);
        }
    }

    // ------------------------------------------------------------------------------------
    // Options

    /// `aiot_mqtt_setopt`.
    pub fn setopt(&self, option: MqttOption) -> Result<()> {
        let _g = self.enter()?;
        let mut cfg = lock(&self.cfg);
        match option {
            MqttOption::Host(v) => cfg.host = Some(v),
            MqttOption::Port(v) => cfg.port = v,
            MqttOption::ProductKey(v) => cfg.product_key = Some(v),
            MqttOption::DeviceName(v) => cfg.device_name = Some(v),
            MqttOption::DeviceSecret(v) => {
                cfg.device_secret = Some(v);
                cfg.wipe_credentials();
            }
            MqttOption::ExtendClientId(v) => {
                cfg.extend_clientid = Some(v);
                cfg.wipe_credentials();
            }
            MqttOption::SecurityMode(v) => {
                cfg.security_mode = Some(v);
                cfg.wipe_credentials();
            }
            MqttOption::Username(v) => cfg.username = Some(v),
            MqttOption::Password(v) => cfg.password = Some(v),
            MqttOption::ClientId(v) => cfg.clientid = Some(v),
            MqttOption::KeepaliveSec(v) => cfg.keepalive_sec = v,
            MqttOption::CleanSession(v) => {
                if v > 1 {
                    return Err(Error::OutOfRange);
                }
                cfg.clean_session = v;
            }
            MqttOption::NetworkCred(c) => cfg.cred = Some(c),
            MqttOption::ConnectTimeoutMs(v) => cfg.connect_timeout_ms = v,
            MqttOption::HeartbeatIntervalMs(v) => cfg.heartbeat_interval_ms = v,
            MqttOption::HeartbeatMaxLost(v) => cfg.heartbeat_max_lost = v,
            MqttOption::ReconnEnabled(v) => {
                if v > 1 {
                    return Err(Error::OutOfRange);
                }
                cfg.reconn_enabled = v;
            }
            MqttOption::ReconnIntervalMs(v) => {
                // As upstream: an explicit interval turns the backoff off.
                cfg.reconn_interval_ms = v;
                cfg.reconn_backoff = false;
            }
            MqttOption::SendTimeoutMs(v) => cfg.send_timeout_ms = v,
            MqttOption::RecvTimeoutMs(v) => cfg.recv_timeout_ms = v,
            MqttOption::RepubTimeoutMs(v) => cfg.repub_timeout_ms = v,
            MqttOption::DeinitTimeoutMs(v) => cfg.deinit_timeout_ms = v,
            MqttOption::RecvHandler(h) => cfg.recv_handler = Some(h),
            MqttOption::EventHandler(h) => cfg.event_handler = Some(h),
            MqttOption::AppendTopicMap {
                topic,
                handler,
                userdata,
            } => {
                let check = cfg.topic_header_check == 1;
                drop(cfg);
                check_filter(&topic, check)?;
                self.attach(&topic, handler, userdata, None);
            }
            MqttOption::RemoveTopicMap { topic, handler_key } => {
                let check = cfg.topic_header_check == 1;
                drop(cfg);
                check_filter(&topic, check)?;
                let mut st = lock(&self.state);
                if let Some(e) = st.topics.iter_mut().find(|e| e.filter == topic) {
                    e.handlers.retain(|a| a.handler.key != handler_key);
                }
            }
            MqttOption::AppendRequestId(v) => cfg.append_requestid = v,
            MqttOption::Userdata(v) => cfg.userdata = v,
            MqttOption::MaxRepubNum(v) => cfg.max_repub_num = v,
            MqttOption::TopicHeaderCheck(v) => {
                if v > 1 {
                    return Err(Error::OutOfRange);
                }
                cfg.topic_header_check = v;
            }
        }
        Ok(())
    }

    /// Adds `handler` to the entry of `filter` (created in insertion order). The same
    /// handler is kept once; adding it again replaces its userdata.
    fn attach(&self, filter: &[u8], handler: Option<RecvHandler>, userdata: Userdata, sub_qos: Option<u8>) {
        let mut st = lock(&self.state);
        let idx = match st.topics.iter().position(|e| e.filter == filter) {
            Some(i) => i,
            None => {
                st.topics.push(TopicEntry {
                    filter: filter.to_vec(),
                    handlers: Vec::new(),
                    subscribed: None,
                });
                st.topics.len() - 1
            }
        };
        let entry = &mut st.topics[idx];
        if sub_qos.is_some() {
            entry.subscribed = sub_qos;
        }
        if let Some(handler) = handler {
            match entry.handlers.iter_mut().find(|a| a.handler.key == handler.key) {
                Some(a) => a.userdata = userdata,
                None => entry.handlers.push(Attached { handler, userdata }),
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // Connect / disconnect

    /// `aiot_mqtt_connect`.
    pub fn connect(&self) -> Result<()> {
        let _g = self.enter()?;
        log::line(
            STATE_MQTT_LOG_CONNECT,
            "MQTT user calls aiot_mqtt_connect api, connect\r\n",
        );
        lock(&self.state).user_disconnected = false;
        let outcome = {
            let _c = lock(&self.connecting);
            self.establish_session()
        };
        self.announce(outcome)
    }

    /// Fires the event of a connect attempt (after every lock is released): CONNECT or
    /// RECONNECT on success, DISCONNECT if the attempt ended a connected period.
    fn announce(&self, outcome: Result<Event>) -> Result<()> {
        match outcome {
            Ok(event) => {
                self.fire(event);
                Ok(())
            }
            Err(e) => {
                self.report_lost_connection();
                Err(e)
            }
        }
    }

    /// Builds credentials when needed, opens the network, sends CONNECT and reads CONNACK;
    /// returns the event to fire (CONNECT or RECONNECT) once the caller released its locks.
    fn establish_session(&self) -> Result<Event> {
        let started = self.now();
        let result = self.open_session(started);
        match result {
            Ok(conn) => {
                let first = !lock(&self.state).ever_connected;
                if !first {
                    // Before anyone else can write on it (QoS1 resends from `process` would
                    // otherwise reach the broker before the subscriptions they echo to).
                    self.resubscribe(&conn);
                }
                let replaced = lock(&self.slot).replace(conn);
                drop(replaced);
                let first = {
                    let mut st = lock(&self.state);
                    let first = !st.ever_connected;
                    st.ever_connected = true;
                    st.connected = true;
                    st.lost = 0;
                    st.reconnect_failures = 0;
                    first
                };
                if log::enabled() {
                    let ms = self.now().saturating_sub(started);
                    log::line(
                        STATE_MQTT_LOG_CONNECT,
                        &format!("MQTT connect success in {ms} ms\r\n"),
                    );
                }
                Ok(if first { Event::Connect } else { Event::Reconnect })
            }
            Err(e) => Err(e),
        }
    }

    fn open_session(&self, started: u64) -> Result<Arc<Connection>> {
        let mut cfg = lock(&self.cfg);
        let host = cfg.host.clone().ok_or(Error::MissingHost)?;
        let user_supplied = cfg.username.is_some() && cfg.password.is_some() && cfg.clientid.is_some();
        if !user_supplied {
            let pk = cfg.product_key.clone().ok_or(Error::MissingProductKey)?;
            let dn = cfg.device_name.clone().ok_or(Error::MissingDeviceName)?;
            let ds = cfg.device_secret.clone().ok_or(Error::MissingDeviceSecret)?;
            cfg.wipe_credentials();
            let username = auth::username(&pk, &dn);
            let password = auth::password(&pk, &dn, &ds);
            log::line(STATE_MQTT_LOG_HOST, &format!("mqtt host: {host}\r\n"));
            log::line(STATE_MQTT_LOG_USERNAME, &format!("user name: {username}\r\n"));
            // Upstream 4.1 logged the password in clear; with the fixed timestamp it is a
            // replayable credential, so only its head is shown.
            log::line(
                STATE_MQTT_LOG_PASSWORD,
                &format!("{}\r\n", auth::masked(&password)),
            );
            cfg.username = Some(username);
            cfg.password = Some(password);
        }
        // Close any connection still open before making a new one.
        let old = lock(&self.slot).take();
        let endpoint_cred = cfg.cred.clone();
        let (port, connect_timeout_ms) = (cfg.port, cfg.connect_timeout_ms);
        // No option lock across network I/O (closing included).
        drop(cfg);
        drop(old);
        let endpoint = Endpoint {
            host: &host,
            port,
            connect_timeout_ms,
            cred: endpoint_cred.as_ref(),
        };
        let conn = match Connection::open(self.port.as_ref(), &endpoint) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                *lock(&LAST_CONNECT_ERROR) = Some(e.code());
                return Err(e);
            }
        };
        let mut cfg = lock(&self.cfg);
        if cfg.clientid.is_none() {
            let pk = cfg.product_key.clone().unwrap_or_default();
            let dn = cfg.device_name.clone().unwrap_or_default();
            let params = auth::ClientIdParams {
                tls: cfg.tls(),
                security_mode: cfg.security_mode.as_deref(),
                extend: cfg.extend_clientid.as_deref(),
                connect_ms: self.now().saturating_sub(started),
                last_error: lock(&LAST_CONNECT_ERROR).take(),
            };
            let id = auth::client_id(&pk, &dn, &params);
            log::line(STATE_MQTT_LOG_CLIENTID, &format!("生成的Client ID: {id}\r\n"));
            cfg.clientid = Some(id);
        }
        let connect = codec::connect(
            cfg.clientid.as_deref().unwrap_or_default(),
            cfg.username.as_deref().unwrap_or_default(),
            cfg.password.as_deref().unwrap_or_default(),
            cfg.keepalive_sec,
            cfg.clean_session == 1,
        );
        let (send_timeout, recv_timeout) = (cfg.send_timeout_ms, cfg.recv_timeout_ms);
        drop(cfg);

        match conn.send(&connect, send_timeout)? {
            n if n == connect.len() => {}
            _ => {
                log::line(
                    STATE_MQTT_LOG_CONNECT_TIMEOUT,
                    &format!("MQTT connect packet send timeout: {send_timeout}\r\n"),
                );
                return Err(Error::WriteLessData);
            }
        }
        let mut connack = [0u8; 4];
        match conn.recv(&mut connack[..2], recv_timeout)? {
            2 => {}
            _ => {
                log::line(
                    STATE_MQTT_LOG_CONNECT_TIMEOUT,
                    &format!("MQTT connack packet recv fixed header timeout: {recv_timeout}\r\n"),
                );
                return Err(Error::ReadLessData);
            }
        }
        if !codec::is_connack_header([connack[0], connack[1]]) {
            return Err(Error::ConnackFormat);
        }
        match conn.recv(&mut connack[2..], recv_timeout)? {
            2 => {}
            _ => {
                log::line(
                    STATE_MQTT_LOG_CONNECT_TIMEOUT,
                    &format!("MQTT connack packet variable header recv timeout: {recv_timeout}\r\n"),
                );
                return Err(Error::ReadLessData);
            }
        }
        match connack[3] {
            0 => Ok(conn),
            rc => {
                let text = match rc {
                    1 => Some("MQTT invalid protocol version, disconnect\r\n"),
                    3 => Some("MQTT server unavailable, disconnect\r\n"),
                    4 => Some("MQTT bad username or password, disconnect\r\n"),
                    5 => Some("MQTT authorize fail, disconnect\r\n"),
                    _ => None,
                };
                if let Some(text) = text {
                    log::line(STATE_MQTT_LOG_DISCONNECT, text);
                }
                Err(Error::ConnackRefused(rc))
            }
        }
    }

    /// Re-subscribes every topic subscribed with `aiot_mqtt_sub` on a new connection. Upstream
    /// never does this and relies on the Aliyun platform; a plain broker with clean sessions
    /// forgets them.
    fn resubscribe(&self, conn: &Arc<Connection>) {
        let topics: Vec<(Vec<u8>, u8)> = lock(&self.state)
            .topics
            .iter()
            .filter_map(|e| e.subscribed.map(|q| (e.filter.clone(), q)))
            .collect();
        let timeout = lock(&self.cfg).send_timeout_ms;
        for (filter, qos) in topics {
            let id = lock(&self.state).next_packet_id();
            if conn.send(&codec::subscribe(&filter, qos, id), timeout).is_err() {
                break;
            }
        }
    }

    /// Fires DISCONNECT(NETWORK) once if a connected period just ended.
    fn report_lost_connection(&self) {
        if self.connection().is_some() {
            return;
        }
        let due = {
            let mut st = lock(&self.state);
            std::mem::replace(&mut st.connected, false)
        };
        if due {
            self.fire(Event::Disconnect(DisconnectCause::Network));
        }
    }

    /// `aiot_mqtt_disconnect`: sends DISCONNECT, closes, stops automatic reconnects.
    pub fn disconnect(&self) -> Result<()> {
        let _g = self.enter()?;
        lock(&self.state).user_disconnected = true;
        let conn = lock(&self.slot).take();
        if let Some(conn) = conn {
            let timeout = lock(&self.cfg).send_timeout_ms;
            let _ = conn.send(&codec::disconnect(), timeout);
        }
        self.report_lost_connection();
        log::line(
            STATE_MQTT_LOG_DISCONNECT,
            "MQTT user calls aiot_mqtt_disconnect api, disconnect\r\n",
        );
        Ok(())
    }

    // ------------------------------------------------------------------------------------
    // Sending

    fn send_bytes(&self, conn: &Arc<Connection>, bytes: &[u8], timeout: u32) -> Result<()> {
        self.send_parts(conn, &[bytes], timeout)
    }

    /// Writes one packet made of `parts` under the connection's one send lock.
    fn send_parts(&self, conn: &Arc<Connection>, parts: &[&[u8]], timeout: u32) -> Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        match conn.send_parts(parts, timeout) {
            Ok(n) if n == total => Ok(()),
            Ok(_) => Err(Error::WriteLessData),
            Err(e) => {
                self.close_if(conn);
                Err(e)
            }
        }
    }

    /// `aiot_mqtt_pub`: returns the packet id for QoS1, 0 for QoS0. The topic is sent as the
    /// bytes given.
    pub fn publish(&self, topic: impl AsRef<[u8]>, payload: &[u8], qos: u8) -> Result<u16> {
        let topic = topic.as_ref();
        let _g = self.enter()?;
        if topic.len() >= MAX_TOPIC_LEN {
            return Err(Error::TopicTooLong);
        }
        if topic.is_empty() || qos > 1 {
            return Err(Error::OutOfRange);
        }
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(Error::PayloadTooLong);
        }
        let conn = self.connection().ok_or(Error::NetworkClosed)?;
        let (append_rid, send_timeout, max_repub) = {
            let cfg = lock(&self.cfg);
            (
                cfg.append_requestid == 1,
                cfg.send_timeout_ms,
                cfg.max_repub_num as usize,
            )
        };
        let wire_topic;
        let topic_on_wire = if append_rid {
            let mut t = topic.to_vec();
            let rid = format!("?_rid={}{}", self.now(), sysdep::rand_u32(self.port.as_ref()));
            t.extend_from_slice(rid.as_bytes());
            wire_topic = t;
            &wire_topic[..]
        } else {
            topic
        };
        if log::enabled() {
            let shown = String::from_utf8_lossy(topic);
            log::line(STATE_MQTT_LOG_TOPIC, &format!("pub: {shown}\r\n"));
            log::hexdump(STATE_MQTT_LOG_HEXDUMP, '>', payload);
        }
        if qos == 0 {
            // Header and payload go out as they are: the payload is not copied.
            let header = codec::publish_header(topic_on_wire, payload.len(), 0, 0);
            self.send_parts(&conn, &[&header, payload], send_timeout)?;
            return Ok(0);
        }
        let (id, frame) = {
            let mut st = lock(&self.state);
            let id = st.next_packet_id();
            if st.id_pending(id) {
                return Err(Error::PacketIdInUse);
            }
            // Upstream lets the cache reach MAX_REPUB_NUM + 2 entries; we hold it to the
            // configured number.
            if st.pending.len() >= max_repub.max(1) {
                return Err(Error::QosCacheFull);
            }
            // The resend cache keeps the one owned copy of the packet; it is also what is sent.
            let frame = codec::publish(topic_on_wire, payload, 1, id);
            let now = self.now();
            st.mark_pending(id, true);
            st.pending.push_back(Pending {
                packet_id: id,
                bytes: frame.clone(),
                last_sent: now,
            });
            (id, frame)
        };
        self.send_bytes(&conn, &frame, send_timeout)?;
        Ok(id)
    }

    fn send_subscribe(&self, filter: &[u8], qos: u8) -> Result<u16> {
        let conn = self.connection().ok_or(Error::NetworkClosed)?;
        let id = lock(&self.state).next_packet_id();
        let timeout = lock(&self.cfg).send_timeout_ms;
        self.send_bytes(&conn, &codec::subscribe(filter, qos, id), timeout)?;
        Ok(id)
    }

    /// `aiot_mqtt_sub`: records the handler, sends SUBSCRIBE, returns its packet id.
    pub fn subscribe(
        &self,
        filter: impl AsRef<[u8]>,
        handler: Option<RecvHandler>,
        qos: u8,
        userdata: Userdata,
    ) -> Result<u16> {
        let filter = filter.as_ref();
        let _g = self.enter()?;
        let check = lock(&self.cfg).topic_header_check == 1;
        if filter.len() >= MAX_TOPIC_LEN {
            return Err(Error::TopicTooLong);
        }
        if filter.is_empty() || qos > 1 {
            return Err(Error::OutOfRange);
        }
        check_filter(filter, check)?;
        if log::enabled() {
            let shown = String::from_utf8_lossy(filter);
            log::line(STATE_MQTT_LOG_TOPIC, &format!("sub: {shown}\r\n"));
        }
        self.attach(filter, handler, userdata, Some(qos));
        self.send_subscribe(filter, qos)
    }

    /// `aiot_mqtt_unsub`: forgets every handler of the filter, sends UNSUBSCRIBE.
    pub fn unsubscribe(&self, filter: impl AsRef<[u8]>) -> Result<u16> {
        let filter = filter.as_ref();
        let _g = self.enter()?;
        let check = lock(&self.cfg).topic_header_check == 1;
        if filter.len() >= MAX_TOPIC_LEN {
            return Err(Error::TopicTooLong);
        }
        if filter.is_empty() {
            return Err(Error::OutOfRange);
        }
        check_filter(filter, check)?;
        if log::enabled() {
            let shown = String::from_utf8_lossy(filter);
            log::line(STATE_MQTT_LOG_TOPIC, &format!("unsub: {shown}\r\n"));
        }
        lock(&self.state).topics.retain(|e| e.filter != filter);
        let conn = self.connection().ok_or(Error::NetworkClosed)?;
        let id = lock(&self.state).next_packet_id();
        let timeout = lock(&self.cfg).send_timeout_ms;
        self.send_bytes(&conn, &codec::unsubscribe(filter, id), timeout)?;
        Ok(id)
    }

    /// `aiot_mqtt_heartbeat`: sends one PINGREQ now.
    pub fn heartbeat(&self) -> Result<()> {
        let conn = self.connection().ok_or(Error::NetworkClosed)?;
        let timeout = lock(&self.cfg).send_timeout_ms;
        self.send_bytes(&conn, &codec::pingreq(), timeout)
    }

    /// `aiot_mqtt_process`: heartbeat on its interval, QoS1 resend on its timeout.
    pub fn process(&self) -> Result<()> {
        let _g = self.enter()?;
        let now = self.now();
        let (interval, repub_timeout, send_timeout) = {
            let cfg = lock(&self.cfg);
            (
                cfg.heartbeat_interval_ms as u64,
                cfg.repub_timeout_ms as u64,
                cfg.send_timeout_ms,
            )
        };
        let mut result = Ok(());
        let ping_due = {
            let mut st = lock(&self.state);
            if now.saturating_sub(st.last_ping) >= interval || st.last_ping == 0 {
                // As upstream 4.2: the ping counts as sent (and lost until a packet
                // arrives) even when the write fails.
                st.last_ping = now;
                st.lost += 1;
                true
            } else {
                false
            }
        };
        if ping_due {
            result = self.heartbeat();
        }
        if let Some(conn) = self.connection() {
            let due: Vec<Bytes> = {
                let mut st = lock(&self.state);
                st.pending
                    .iter_mut()
                    .filter(|p| now.saturating_sub(p.last_sent) >= repub_timeout)
                    .map(|p| {
                        p.last_sent = now;
                        p.bytes.clone()
                    })
                    .collect()
            };
            for bytes in due {
                if self.send_bytes(&conn, &bytes, send_timeout).is_err() {
                    break;
                }
            }
        }
        result
    }

    // ------------------------------------------------------------------------------------
    // Receiving

    /// `aiot_mqtt_recv`: reconnects when needed, then reads and dispatches at most one packet.
    pub fn recv(&self) -> Result<()> {
        let _g = self.enter()?;
        let conn = match self.connection() {
            Some(c) => c,
            None => {
                self.report_lost_connection();
                self.try_reconnect(false)?;
                self.connection().ok_or(Error::NetworkClosed)?
            }
        };
        let (max_lost, reconn) = {
            let cfg = lock(&self.cfg);
            (cfg.heartbeat_max_lost as u32, cfg.reconn_enabled == 1)
        };
        let lost = lock(&self.state).lost;
        if lost > max_lost {
            let due = std::mem::replace(&mut lock(&self.state).connected, false);
            if due {
                self.fire(Event::Disconnect(DisconnectCause::Heartbeat));
            }
            if reconn && !lock(&self.state).user_disconnected {
                self.close_if(&conn);
                self.try_reconnect(true)?;
                let conn = self.connection().ok_or(Error::NetworkClosed)?;
                return self.read_one(&conn);
            }
        }
        self.read_one(&conn)
    }

    /// Automatic reconnect (inside `recv`): waits out the reconnect interval unless `now`.
    fn try_reconnect(&self, heartbeat: bool) -> Result<()> {
        let (enabled, interval, backoff, jitter) = {
            let cfg = lock(&self.cfg);
            (
                cfg.reconn_enabled == 1,
                cfg.reconn_interval_ms as i64,
                cfg.reconn_backoff,
                cfg.reconn_jitter_ms,
            )
        };
        let outcome = {
            let _c = lock(&self.connecting);
            self.reconnect_locked(heartbeat, enabled, interval, backoff, jitter)
        };
        match outcome {
            Ok(None) => Ok(()),
            Ok(Some(event)) => self.announce(Ok(event)),
            Err(e) => self.announce(Err(e)),
        }
    }

    /// The part of `try_reconnect` under the connect lock; `Ok(None)` when another thread
    /// reconnected meanwhile.
    fn reconnect_locked(
        &self,
        heartbeat: bool,
        enabled: bool,
        interval: i64,
        backoff: bool,
        jitter: i64,
    ) -> Result<Option<Event>> {
        if self.connection().is_some() {
            // Another thread reconnected meanwhile.
            return Ok(None);
        }
        let now = self.now();
        {
            let mut st = lock(&self.state);
            if !enabled || st.user_disconnected {
                return Err(Error::NetworkClosed);
            }
            if !heartbeat {
                if let Some(last) = st.last_reconnect_attempt {
                    let wait = if backoff {
                        (interval * (st.reconnect_failures.min(MAX_BACKOFF_STEPS) as i64 + 1) + jitter).max(0)
                    } else {
                        interval
                    };
                    if (now.saturating_sub(last) as i64) < wait {
                        return Err(Error::NetworkClosed);
                    }
                }
            }
            st.last_reconnect_attempt = Some(now);
        }
        if heartbeat {
            let lost = lock(&self.state).lost;
            log::line(
                STATE_MQTT_LOG_RECONNECTING,
                &format!("MQTT heartbeat lost {lost} times, try to reconnecting...\r\n"),
            );
        } else {
            log::line(
                STATE_MQTT_LOG_RECONNECTING,
                "MQTT network disconnect, try to reconnecting...\r\n",
            );
        }
        match self.establish_session() {
            Ok(event) => {
                log::line(STATE_MQTT_LOG_CONNECT, "MQTT network reconnect success\r\n");
                Ok(Some(event))
            }
            Err(e) => {
                let mut st = lock(&self.state);
                st.reconnect_failures = st.reconnect_failures.saturating_add(1);
                Err(e)
            }
        }
    }

    /// Reads one packet (or times out with `Ok`) and dispatches it. The reader lock is
    /// released before dispatch, so handlers may call `recv` themselves.
    fn read_one(&self, conn: &Arc<Connection>) -> Result<()> {
        let timeout = lock(&self.cfg).recv_timeout_ms;
        let incoming = match self.read_frame(conn, timeout) {
            Ok(Some(incoming)) => incoming,
            Ok(None) => return Ok(()),
            Err(e) => {
                self.close_if(conn);
                return Err(e);
            }
        };
        lock(&self.state).lost = 0;
        let result = self.handle_packet(conn, incoming);
        if result.is_err() {
            self.close_if(conn);
        }
        result
    }

    /// Reads one whole frame under the reader lock and decodes it once, from the read
    /// buffer; `None` when nothing arrived within the timeout.
    fn read_frame(&self, conn: &Connection, timeout: u32) -> Result<Option<Incoming>> {
        let mut buf = lock(&self.reader);
        buf.clear();
        buf.resize(1, 0);
        if conn.recv(&mut buf[..1], timeout)? == 0 {
            return Ok(None);
        }
        let header = loop {
            if let Some(header) = codec::fixed_header(&buf)? {
                break header;
            }
            let at = buf.len();
            buf.resize(at + 1, 0);
            if conn.recv(&mut buf[at..], timeout)? != 1 {
                return Err(Error::ReadLessData);
            }
        };
        codec::check_remaining(&header, codec::MAX_INCOMING)?;
        buf.resize(header.frame_len(), 0);
        if header.remaining > 0 && conn.recv(&mut buf[header.len..], timeout)? != header.remaining {
            return Err(Error::MalformedRemainingBytes);
        }
        codec::decode(&mut buf, codec::MAX_INCOMING)?
            .map(Some)
            .ok_or(Error::MalformedRemainingBytes)
    }

    fn handle_packet(&self, conn: &Arc<Connection>, incoming: Incoming) -> Result<()> {
        match incoming {
            Incoming::Publish(publish) => self.handle_publish(conn, &publish),
            Incoming::PingResp => {
                self.deliver_default(&Recv::HeartbeatResponse);
                Ok(())
            }
            Incoming::PubAck(id) => {
                lock(&self.state).acknowledge(id);
                self.deliver_default(&Recv::PubAck { packet_id: id });
                Ok(())
            }
            Incoming::SubAck { packet_id, codes } => {
                for &code in codes.iter() {
                    let (res, max_qos) = match code {
                        0..=2 => (STATE_SUCCESS, code),
                        0x80 => (STATE_MQTT_SUBACK_RCODE_FAILURE, 0),
                        _ => (STATE_MQTT_SUBACK_RCODE_UNKNOWN, 0),
                    };
                    self.deliver_default(&Recv::SubAck {
                        res,
                        max_qos,
                        packet_id,
                    });
                }
                Ok(())
            }
            Incoming::UnsubAck(packet_id) => {
                self.deliver_default(&Recv::UnsubAck { packet_id });
                Ok(())
            }
            Incoming::Ignored => Ok(()),
        }
    }

    /// Acknowledges a QoS1 PUBLISH, then runs every handler whose filter matches (or the
    /// default handler); topic and payload are borrowed from the read buffer.
    fn handle_publish(&self, conn: &Arc<Connection>, publish: &codec::Publish) -> Result<()> {
        if publish.qos == 1 {
            let timeout = lock(&self.cfg).send_timeout_ms;
            self.send_bytes(conn, &codec::puback(publish.packet_id), timeout)?;
        }
        if log::enabled() {
            let topic = String::from_utf8_lossy(&publish.topic);
            log::line(STATE_MQTT_LOG_TOPIC, &format!("pub: {topic}\r\n"));
            log::hexdump(STATE_MQTT_LOG_HEXDUMP, '<', &publish.payload);
        }
        let recv = Recv::Pub {
            qos: publish.qos,
            topic: &publish.topic,
            payload: &publish.payload,
        };
        match self.dispatch_for(&publish.topic) {
            Dispatch::Handlers(list) => {
                let handle_userdata = lock(&self.cfg).userdata;
                for a in list {
                    let ud = if a.userdata != 0 {
                        a.userdata
                    } else {
                        handle_userdata
                    };
                    (a.handler.call)(&recv, ud);
                }
            }
            Dispatch::Default => self.deliver_default(&recv),
        }
        Ok(())
    }

    fn dispatch_for(&self, topic: &[u8]) -> Dispatch {
        let st = lock(&self.state);
        let list: Vec<Attached> = st
            .topics
            .iter()
            .filter(|e| topic::matches(&e.filter, topic))
            .flat_map(|e| e.handlers.iter().cloned())
            .collect();
        if list.is_empty() {
            Dispatch::Default
        } else {
            Dispatch::Handlers(list)
        }
    }

    fn deliver_default(&self, recv: &Recv<'_>) {
        let (handler, userdata) = {
            let cfg = lock(&self.cfg);
            (cfg.recv_handler.clone(), cfg.userdata)
        };
        if let Some(h) = handler {
            (h.call)(recv, userdata);
        }
    }

    // ------------------------------------------------------------------------------------
    // Teardown

    /// `aiot_mqtt_deinit` (first half): stops new calls and waits for those in progress
    /// (`own` counts the caller's own guard, if any). On success the caller drops the client,
    /// which closes the connection without DISCONNECT.
    pub fn shutdown(&self) -> Result<()> {
        self.exec_enabled.store(false, Ordering::SeqCst);
        let timeout = lock(&self.cfg).deinit_timeout_ms as u64;
        let start = self.now();
        loop {
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                let conn = lock(&self.slot).take();
                drop(conn);
                return Ok(());
            }
            if self.now().saturating_sub(start) >= timeout {
                return Err(Error::DeinitTimeout);
            }
            self.port.sleep_ms(DEINIT_POLL_MS);
        }
    }

    /// Number of QoS1 messages waiting for their PUBACK.
    pub fn pending_count(&self) -> usize {
        lock(&self.state).pending.len()
    }

    /// The product key and device name set on this handle (used by OTA).
    pub fn device(&self) -> (Option<String>, Option<String>) {
        let cfg = lock(&self.cfg);
        (cfg.product_key.clone(), cfg.device_name.clone())
    }
}

fn check_filter(filter: &[u8], header_check: bool) -> Result<()> {
    if filter.len() >= MAX_TOPIC_LEN {
        return Err(Error::TopicTooLong);
    }
    if topic::filter_is_valid(filter, header_check) {
        Ok(())
    } else {
        Err(Error::TopicInvalid)
    }
}
