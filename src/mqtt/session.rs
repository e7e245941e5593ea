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
//! 5. `components`: the attached components' hooks (see `component`). Taken alone, only to
//!    change the list or copy it out.
//!
//! The rule that makes every API call allowed from inside every callback: no library lock is
//! held while a user callback (receive handler, topic handler, event handler) or a component
//! hook (event, tick, deinit) runs. Events and packets are decided under the locks and
//! delivered after they are released; hooks run from a copy of the list. The deinit hooks run
//! once, inside `aiot_mqtt_deinit` after the calls in progress have ended, and the list is
//! emptied before they run.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;

use super::codec;
use super::component::ComponentEntry;
use super::config::Config;
use super::diagtap::{self, Tap};
use super::nwkstats::NwkStats;
use super::process::Pending;
use super::receive::TopicEntry;
use super::{auth, DisconnectCause, Event};
use crate::error::{Error, Result};
use crate::log;
use crate::state::*;
use crate::sysdep::{self, Port};
use crate::transport::{Connection, Endpoint};

const MAX_BACKOFF_STEPS: u32 = 60;

/// The last failed connect code, reported once in the next client id (`_conn=..._-<code>`).
/// Process-global, as upstream keeps it.
static LAST_CONNECT_ERROR: Mutex<Option<i32>> = Mutex::new(None);

pub(super) use crate::sync::lock;

/// Mutable session state.
pub(super) struct State {
    pub(super) last_packet_id: u16,
    /// In publish order, so PUBACKs (which come in order) are found at the front.
    pub(super) pending: VecDeque<Pending>,
    /// Packet ids held by `pending`, one bit each.
    pub(super) pending_ids: Vec<u64>,
    pub(super) topics: Vec<TopicEntry>,
    pub(super) ever_connected: bool,
    /// In a connected period: a DISCONNECT event is still due when it ends.
    pub(super) connected: bool,
    pub(super) user_disconnected: bool,
    pub(super) last_ping: u64,
    pub(super) lost: u32,
    pub(super) last_reconnect_attempt: Option<u64>,
    pub(super) reconnect_failures: u32,
    /// Network statistics (see `nwkstats`).
    pub(super) nwk: NwkStats,
}

impl State {
    pub(super) fn next_packet_id(&mut self) -> u16 {
        self.last_packet_id = if self.last_packet_id == u16::MAX {
            1
        } else {
            self.last_packet_id + 1
        };
        self.last_packet_id
    }
}

/// Keeps a call counted as in progress, so deinit waits for it.
pub use crate::sync::InFlight;
use crate::sync::{Gate, DEINIT_POLL_MS};

/// One MQTT session (the object behind an `aiot_mqtt_init` handle).
pub struct Client {
    pub(super) port: Arc<dyn Port>,
    pub(super) cfg: Mutex<Config>,
    pub(super) state: Mutex<State>,
    pub(super) slot: Mutex<Option<Arc<Connection>>>,
    pub(super) connecting: Mutex<()>,
    pub(super) reader: Mutex<BytesMut>,
    /// Attached components (see `component`).
    pub(super) components: Mutex<Vec<ComponentEntry>>,
    pub(super) gate: Gate,
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
                nwk: NwkStats::default(),
            }),
            slot: Mutex::new(None),
            connecting: Mutex::new(()),
            reader: Mutex::new(BytesMut::new()),
            components: Mutex::new(Vec::new()),
            gate: Gate::new(),
        }
    }

    /// Counts a call in progress; fails once deinit has started.
    pub fn enter(&self) -> Result<InFlight<'_>> {
        self.gate.enter()
    }

    pub(super) fn now(&self) -> u64 {
        self.port.time_ms()
    }

    pub(super) fn connection(&self) -> Option<Arc<Connection>> {
        lock(&self.slot).clone()
    }

    /// Closes `conn` if it is still the current connection.
    pub(super) fn close_if(&self, conn: &Arc<Connection>) {
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

    /// Delivers an event to the user's event handler, then to every component.
    pub(super) fn fire(&self, event: Event) {
        let (handler, userdata) = {
            let cfg = lock(&self.cfg);
            (cfg.event_handler.clone(), cfg.userdata)
        };
        if let Some(h) = handler {
            (h.call)(&event, userdata);
        }
        self.components_on_event(&event);
    }

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
    pub(super) fn announce(&self, outcome: Result<Event>) -> Result<()> {
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
    pub(super) fn establish_session(&self) -> Result<Event> {
        let started = self.now();
        let conn = self.open_session(started)?;
        if lock(&self.state).ever_connected {
            // Before anyone else can write on it (QoS1 resends from `process` would otherwise
            // reach the broker before the subscriptions they echo to).
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

    /// Opens the network, sends CONNECT and reads an accepting CONNACK.
    pub(super) fn open_session(&self, started: u64) -> Result<Arc<Connection>> {
        let (host, port, connect_timeout_ms, cred) = {
            let mut cfg = lock(&self.cfg);
            let host = cfg.host.clone().ok_or(Error::MissingHost)?;
            sign_credentials(&mut cfg, &host)?;
            (host, cfg.port, cfg.connect_timeout_ms, cfg.cred.clone())
        };
        // Close any connection still open before making a new one (no lock held: closing
        // may write a TLS alert).
        let old = lock(&self.slot).take();
        drop(old);
        let endpoint = Endpoint {
            host: &host,
            port,
            connect_timeout_ms,
            cred: cred.as_ref(),
        };
        let tls = lock(&self.cfg).tls();
        lock(&self.state).nwk.connect_started(self.now(), tls);
        diagtap::report(Tap::ConnectStart);
        let backup_ip = super::backup_ip::backup_ip();
        if !backup_ip.is_empty() {
            log::line(STATE_MQTT_LOG_BACKUP_IP, &format!("{backup_ip}\r\n"));
        }
        let conn = match Connection::open_with_backup_ip(self.port.as_ref(), &endpoint, &backup_ip) {
            Ok(c) => Arc::new(c),
            // Upstream's MQTT client has no code of its own for the credential's setopt.
            Err(Error::NetworkCred) => return Err(Error::NetworkSetopt),
            Err(e) => {
                *lock(&LAST_CONNECT_ERROR) = Some(e.code());
                lock(&self.state).nwk.connect_failed(e.code());
                return Err(e);
            }
        };
        lock(&self.state).nwk.connect_done(self.now());
        let (connect, send_timeout, recv_timeout) = self.connect_packet(started);
        send_connect(&conn, &connect, send_timeout)?;
        read_connack(&conn, recv_timeout)?;
        diagtap::report(Tap::ConnectDone);
        Ok(conn)
    }

    /// The CONNECT packet (making the client id first if none is set) and the timeouts.
    fn connect_packet(&self, started: u64) -> (bytes::Bytes, u32, u32) {
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
        (connect, cfg.send_timeout_ms, cfg.recv_timeout_ms)
    }

    /// Re-subscribes every topic subscribed with `aiot_mqtt_sub` on a new connection. Upstream
    /// never does this and relies on the Aliyun platform; a plain broker with clean sessions
    /// forgets them.
    pub(super) fn resubscribe(&self, conn: &Arc<Connection>) {
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
    pub(super) fn report_lost_connection(&self) {
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

    /// Automatic reconnect (inside `recv`): waits out the reconnect interval unless `now`.
    pub(super) fn try_reconnect(&self, heartbeat: bool) -> Result<()> {
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
    pub(super) fn reconnect_locked(
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

    /// `aiot_mqtt_deinit` (first half): stops new calls, waits for those in progress, then
    /// runs every component's deinit hook once. On success the caller drops the client,
    /// which closes the connection without DISCONNECT.
    pub fn shutdown(&self) -> Result<()> {
        self.gate.close();
        let timeout = lock(&self.cfg).deinit_timeout_ms as u64;
        let start = self.now();
        loop {
            if self.gate.idle() {
                self.components_on_deinit();
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
}

/// Signs user name and password from the device triple, unless the user set user name,
/// password and client id all three.
fn sign_credentials(cfg: &mut Config, host: &str) -> Result<()> {
    if cfg.username.is_some() && cfg.password.is_some() && cfg.clientid.is_some() {
        return Ok(());
    }
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
    Ok(())
}

fn send_connect(conn: &Connection, connect: &[u8], send_timeout: u32) -> Result<()> {
    if conn.send(connect, send_timeout)? == connect.len() {
        return Ok(());
    }
    log::line(
        STATE_MQTT_LOG_CONNECT_TIMEOUT,
        &format!("MQTT connect packet send timeout: {send_timeout}\r\n"),
    );
    Err(Error::WriteLessData)
}

/// Reads CONNACK (fixed header, then variable header) and maps a refusal to its code.
fn read_connack(conn: &Connection, recv_timeout: u32) -> Result<()> {
    let mut connack = [0u8; 4];
    if conn.recv(&mut connack[..2], recv_timeout)? != 2 {
        log::line(
            STATE_MQTT_LOG_CONNECT_TIMEOUT,
            &format!("MQTT connack packet recv fixed header timeout: {recv_timeout}\r\n"),
        );
        return Err(Error::ReadLessData);
    }
    if !codec::is_connack_header([connack[0], connack[1]]) {
        return Err(Error::ConnackFormat);
    }
    if conn.recv(&mut connack[2..], recv_timeout)? != 2 {
        log::line(
            STATE_MQTT_LOG_CONNECT_TIMEOUT,
            &format!("MQTT connack packet variable header recv timeout: {recv_timeout}\r\n"),
        );
        return Err(Error::ReadLessData);
    }
    match connack[3] {
        0 => Ok(()),
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
