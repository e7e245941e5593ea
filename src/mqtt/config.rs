//! Options of a session (`aiot_mqtt_setopt`) with upstream's defaults.

use super::session::{lock, Client};
use super::topic::check_filter;
use super::{EventHandler, MqttOption, RecvHandler, Userdata};
use crate::error::{Error, Result};
use crate::sysdep::Credential;

/// Options (upstream defaults from `aiot_mqtt_init`).
pub(super) struct Config {
    pub(super) host: Option<String>,
    pub(super) port: u16,
    pub(super) product_key: Option<String>,
    pub(super) device_name: Option<String>,
    pub(super) device_secret: Option<String>,
    pub(super) extend_clientid: Option<String>,
    pub(super) security_mode: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) clientid: Option<String>,
    pub(super) keepalive_sec: u16,
    pub(super) clean_session: u8,
    pub(super) cred: Option<Credential>,
    pub(super) connect_timeout_ms: u32,
    pub(super) heartbeat_interval_ms: u32,
    pub(super) heartbeat_max_lost: u8,
    pub(super) reconn_enabled: u8,
    pub(super) reconn_interval_ms: u32,
    pub(super) reconn_backoff: bool,
    pub(super) send_timeout_ms: u32,
    pub(super) recv_timeout_ms: u32,
    pub(super) repub_timeout_ms: u32,
    pub(super) deinit_timeout_ms: u32,
    pub(super) recv_handler: Option<RecvHandler>,
    pub(super) event_handler: Option<EventHandler>,
    pub(super) append_requestid: u8,
    pub(super) userdata: Userdata,
    pub(super) max_repub_num: u16,
    pub(super) topic_header_check: u8,
    /// Received payloads are hex-dumped in the log (off for a session whose answers carry
    /// credentials, see `Client::hide_received_payloads`).
    pub(super) log_payloads: bool,
    /// Drawn once from the port at init, in [-500, 499] ms.
    pub(super) reconn_jitter_ms: i64,
}

impl Config {
    pub(super) fn new(jitter: i64) -> Config {
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
            log_payloads: true,
            reconn_jitter_ms: jitter,
        }
    }

    pub(super) fn wipe_credentials(&mut self) {
        self.username = None;
        self.password = None;
        self.clientid = None;
    }

    pub(super) fn tls(&self) -> bool {
        self.cred.as_ref().map(|c| c.wants_tls()).unwrap_or(false)
    }
}

impl Client {
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
                self.detach(&topic, handler_key);
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
}
