//! One logpost handle: the cloud's log switch (asked for on connect, pushed later), user log
//! posts, the `net_conn` / `net_rt` system logs on process ticks, and the SDK's own lines while
//! the cloud's switch is on (`sdklog`).
//!
//! Locks: `cfg` and the link's are taken alone, only to read or update them; never while
//! publishing, logging or calling the user's handler, so the event handler may call any API.

use crate::sync::lock;
use std::sync::{Arc, Mutex};

use super::codes::*;
use super::config::parse_mode;
use super::message::{self, Level, Record};
use super::sdklog;
use crate::error::{Error, Result};
use crate::log;
use crate::mqtt::link::{self, Leave, Link, Linked};
use crate::mqtt::{next_alink_id, Client, Event, Userdata};
use crate::sysdep::Port;

/// Topic filters of the cloud's config (topic handlers, no SUBSCRIBE).
const CONFIG_TOPICS: [&str; 2] = [
    "/sys/+/+/thing/config/log/push",
    "/sys/+/+/thing/config/log/get_reply",
];
/// `net_rt` goes out at most this often (ms).
const RTT_POST_INTERVAL_MS: u64 = 1_800_000;
const NET_CONN: &str = "net_conn";
const NET_RT: &str = "net_rt";

/// The user's event handler: the new state of the user log switch, and the userdata.
pub type EventFn = dyn Fn(u8, Userdata) + Send + Sync;

/// A message as the application passes it (`aiot_logpost_msg_t`), not yet checked.
pub struct UserMessage<'a> {
    /// ms since 1970 (UTC); 0: now, by the log clock.
    pub timestamp: u64,
    /// `aiot_logpost_level_t` as given.
    pub level: u32,
    pub module: Option<&'a str>,
    pub code: i32,
    pub msg_id: u64,
    pub content: Option<&'a str>,
}

struct Config {
    user_switch: u8,
    sys_switch: u8,
    event: Option<Arc<EventFn>>,
    userdata: Userdata,
    /// Port time of the last `net_rt` (none yet: the first tick sends one).
    last_rtt_post: Option<u64>,
}

struct Inner {
    port: Arc<dyn Port>,
    cfg: Mutex<Config>,
    /// The session posted on, until its deinit, and our config handlers on it.
    link: Link,
}

/// A logpost handle.
pub struct Logpost {
    inner: Arc<Inner>,
}

/// The hooks on the MQTT session.
impl Linked for Inner {
    fn link(&self) -> &Link {
        &self.link
    }

    fn on_event(self: &Arc<Self>, client: &Arc<Client>, event: &Event) {
        // The first connect only: a reconnect asks nothing (as upstream).
        if *event == Event::Connect {
            request_config(client);
        }
    }

    fn on_tick(self: &Arc<Self>, client: &Arc<Client>) {
        tick(self, client);
    }

    fn on_forget(self: &Arc<Self>) {
        sdklog::stop(link::key(self));
    }
}

/// Publishes with this thread's log lines kept out of the SDK log upload.
fn publish(client: &Client, topic: &str, payload: &str, qos: u8) -> Result<u16> {
    log::untapped(|| client.publish(topic, payload.as_bytes(), qos))
}

/// `/sys/{pk}/{dn}/thing/<leaf>`, or `None` when the session lacks pk or dn.
fn topic(client: &Client, leaf: &str) -> Option<String> {
    let pk = client.product_key()?;
    let dn = client.device_name()?;
    Some(format!("/sys/{pk}/{dn}/thing/{leaf}"))
}

/// Asks the cloud for the log config (skipped when pk or dn is unset, as upstream).
fn request_config(client: &Client) {
    let Some(topic) = topic(client, "config/log/get") else {
        return;
    };
    let payload = format!(
        "{{\"id\":\"{}\",\"version\":\"1.0\",\"params\":{{\"getType\":\"content\",\"configScope\":\"device\"}}}}",
        next_alink_id()
    );
    let _ = publish(client, &topic, &payload, 0);
}

/// Posts `records` on `/sys/{pk}/{dn}/thing/log/post`; the alink id on success.
fn post(client: &Client, records: &[Record<'_>]) -> Result<i32> {
    let topic = post_topic(client)?;
    let id = next_alink_id();
    publish(client, &topic, &message::payload(id, records), 0)?;
    Ok(id)
}

fn post_topic(client: &Client) -> Result<String> {
    let pk = client.product_key().ok_or(Error::MissingProductKey)?;
    let dn = client.device_name().ok_or(Error::MissingDeviceName)?;
    Ok(format!("/sys/{pk}/{dn}/thing/log/post"))
}

fn is_sys_module(module: &str) -> bool {
    module.starts_with(NET_CONN) || module.starts_with(NET_RT)
}

/// A process tick: system logs when switched on, then the SDK's queued lines.
fn tick(inner: &Arc<Inner>, client: &Client) {
    let now = inner.port.time_ms();
    let (sys, rtt_due) = {
        let mut cfg = lock(&inner.cfg);
        let due = cfg.sys_switch != 0
            && cfg
                .last_rtt_post
                .is_none_or(|t| now.saturating_sub(t) > RTT_POST_INTERVAL_MS);
        if due {
            cfg.last_rtt_post = Some(now);
        }
        (cfg.sys_switch != 0, due)
    };
    if sys {
        let stats = client.take_nwkstats();
        if stats.connected {
            sys_log(client, NET_CONN, &net_conn_content(&stats));
        }
        if rtt_due {
            sys_log(client, NET_RT, &format!("time={now}^rtt={}", stats.rtt));
        }
    }
    if sdklog::owned_by(link::key(inner)) {
        upload_sdk_lines(client);
    }
}

/// `time=<start>^conn_type=<TCP|TLS>^conn_cost=<ms>^conn_ret=0`, plus the last failure.
fn net_conn_content(s: &crate::mqtt::NwkStats) -> String {
    let kind = if s.tls { "TLS" } else { "TCP" };
    let mut c = format!(
        "time={}^conn_type={kind}^conn_cost={}^conn_ret=0",
        s.connect_timestamp, s.connect_time_used
    );
    if s.failed_error_code != 0 {
        c.push_str(&format!(
            ",time={}^conn_type={kind}^conn_cost=0^conn_ret={}",
            s.failed_timestamp, s.failed_error_code
        ));
    }
    c
}

fn sys_log(client: &Client, module: &str, content: &str) {
    log::line(
        STATE_LOGPOST_LOG_RECV,
        "sys log config is on, toggle it using AIOT_LOGPOSTOPT_SYS_LOG.\r\n",
    );
    let record = Record {
        utc_ms: log::clock_ms(),
        level: Level::Info,
        module,
        code: 200,
        msg_id: 0,
        content,
    };
    let _ = post(client, &[record]);
}

/// Uploads one batch of the SDK's queued lines. When the publish fails (a tick between a
/// disconnect and the next CONNACK), the batch goes back to the queue for the next tick.
fn upload_sdk_lines(client: &Client) {
    let lines = sdklog::take_batch();
    if lines.is_empty() {
        return;
    }
    let records: Vec<Record<'_>> = lines
        .iter()
        .map(|l| Record {
            utc_ms: l.utc_ms,
            level: Level::Debug,
            module: sdklog::MODULE,
            code: l.code,
            msg_id: 0,
            content: &l.text,
        })
        .collect();
    let failed = post(client, &records).is_err();
    drop(records);
    if failed {
        sdklog::put_back(lines);
    }
}

/// A config message from the cloud (recv thread): sets the user switch and tells the user.
fn on_config(inner: &Arc<Inner>, payload: &[u8]) {
    log::line(STATE_LOGPOST_LOG_RECV, "LOGPOST user log config arrived\r\n");
    let mode = match parse_mode(payload) {
        Ok(mode) => mode,
        Err(reason) => {
            log::line(
                SATAE_LOGPOST_LOG_PARSE_MSG_FAILED,
                &format!("LOGPOST parse log config failed: {reason}\r\n"),
            );
            return;
        }
    };
    let (event, userdata) = {
        let mut cfg = lock(&inner.cfg);
        cfg.user_switch = mode;
        (cfg.event.clone(), cfg.userdata)
    };
    let attached = inner.link.client().is_some();
    if mode != 0 && attached {
        sdklog::start(link::key(inner));
    } else {
        sdklog::stop(link::key(inner));
    }
    if let Some(event) = event {
        event(mode, userdata);
    }
}

impl Logpost {
    /// `aiot_logpost_init`: both switches off.
    pub fn new(port: Arc<dyn Port>) -> Logpost {
        Logpost {
            inner: Arc::new(Inner {
                port,
                cfg: Mutex::new(Config {
                    user_switch: 0,
                    sys_switch: 0,
                    event: None,
                    userdata: 0,
                    last_rtt_post: None,
                }),
                link: Link::new(),
            }),
        }
    }

    fn key(&self) -> usize {
        link::key(&self.inner)
    }

    pub fn set_event_handler(&self, handler: Arc<EventFn>) {
        lock(&self.inner.cfg).event = Some(handler);
    }

    pub fn set_userdata(&self, userdata: Userdata) {
        lock(&self.inner.cfg).userdata = userdata;
    }

    /// `AIOT_LOGPOSTOPT_SYS_LOG`: `net_conn` / `net_rt` on process ticks when non-zero.
    pub fn set_sys_log(&self, on: u8) {
        lock(&self.inner.cfg).sys_switch = on;
    }

    /// The user log switch as the cloud last set it.
    pub fn user_switch(&self) -> u8 {
        lock(&self.inner.cfg).user_switch
    }

    /// Attaches to an MQTT session (leaving the previous one): the two config topics get our
    /// handler (no SUBSCRIBE), then the hooks, which ask for the config at once if the session
    /// has already connected.
    pub fn set_mqtt(&self, client: Arc<Client>) -> Result<()> {
        self.detach();
        self.inner.link.hold(&client);
        for t in CONFIG_TOPICS {
            link::listen(&self.inner, &client, t.as_bytes(), |inner, _, payload| {
                on_config(inner, payload)
            })?;
        }
        if lock(&self.inner.cfg).user_switch != 0 {
            sdklog::start(self.key());
        }
        link::hook(&self.inner, &client)
    }

    /// Removes our handlers and hooks from the session they are on (if any).
    fn detach(&self) {
        link::leave(&self.inner, Leave::Session);
        sdklog::stop(self.key());
    }

    /// `aiot_logpost_send`: checks the message in upstream's order, then posts it; the alink
    /// id on success.
    pub fn send(&self, msg: &UserMessage<'_>) -> Result<i32> {
        let level = Level::from_raw(msg.level).ok_or(Error::Component(STATE_LOGPOST_LOGLEVEL_ERROR))?;
        let module = msg
            .module
            .ok_or(Error::Component(STATE_LOGPOST_LOG_MODULE_NAME_IS_NULL))?;
        let content = msg
            .content
            .ok_or(Error::Component(STATE_LOGPOST_LOG_CONTENT_IS_NULL))?;
        if content.len() > message::CONTENT_MAX_LEN {
            return Err(Error::Component(STATE_LOGPOST_LOG_CONTENT_TOO_LONG));
        }
        if msg.timestamp > message::TIMESTAMP_MAX {
            return Err(Error::OutOfRange);
        }
        let (user_switch, sys_switch) = {
            let cfg = lock(&self.inner.cfg);
            (cfg.user_switch, cfg.sys_switch)
        };
        let client = self
            .inner
            .link
            .client()
            .ok_or(Error::Component(STATE_LOGPOST_MQTT_HANDLE_IS_NULL))?;
        post_topic(&client)?;
        let sys = sys_switch != 0 && is_sys_module(module);
        if sys {
            log::line(
                STATE_LOGPOST_LOG_RECV,
                "sys log config is on, toggle it using AIOT_LOGPOSTOPT_SYS_LOG.\r\n",
            );
        } else if user_switch == 0 {
            return Err(Error::Component(STATE_LOGPOST_POST_TURN_OFF));
        }
        let record = Record {
            utc_ms: if msg.timestamp == 0 {
                log::clock_ms()
            } else {
                msg.timestamp
            },
            level,
            module,
            code: msg.code,
            msg_id: msg.msg_id,
            content,
        };
        post(&client, &[record])
    }
}

impl Drop for Logpost {
    fn drop(&mut self) {
        self.detach();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::NwkStats;

    #[test]
    fn net_conn_appends_the_last_failure() {
        let mut s = NwkStats {
            tls: true,
            connect_timestamp: 5000,
            connect_time_used: 12,
            connected: true,
            ..Default::default()
        };
        assert_eq!(
            net_conn_content(&s),
            "time=5000^conn_type=TLS^conn_cost=12^conn_ret=0"
        );
        s.tls = false;
        s.failed_timestamp = 4000;
        s.failed_error_code = -0x0F11;
        assert_eq!(
            net_conn_content(&s),
            "time=5000^conn_type=TCP^conn_cost=12^conn_ret=0,time=4000^conn_type=TCP^conn_cost=0^conn_ret=-3857"
        );
    }

    #[test]
    fn sys_modules_are_recognised_by_prefix() {
        assert!(is_sys_module("net_conn") && is_sys_module("net_rt_x"));
        assert!(!is_sys_module("net") && !is_sys_module("app"));
    }
}
