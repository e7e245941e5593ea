//! Dynamic registration over MQTT (`aiot_dynregmq_api.h`): the CONNECT of a private MQTT
//! session is the request (signed with the product secret), and the platform answers with one
//! PUBLISH the device never subscribed to: `/ext/register` carries the device secret
//! (whitelist mode), `/ext/regnwl` the MQTT credentials of a device that was not pre-registered
//! (no-whitelist mode). The session never pings, never reconnects and never publishes.
//!
//! Deliberate differences from upstream: answers are parsed as JSON (not by substring search);
//! a malformed answer is logged (LK-0504) and ignored, as upstream ignores what it cannot read;
//! the private session never hex-dumps the answers (they carry secrets); deinit's wait ends
//! after the deinit timeout (upstream's can spin forever); the user's handler runs with no lock
//! held, so every API may be called from it.

pub mod codes;

use crate::sync::{lock, Gate};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::log;
use crate::mqtt::auth::{hmac_sha256_upper_hex, SDK_VERSION};
use crate::mqtt::{Client, MqttOption, Recv, RecvHandler, Userdata};
use crate::sysdep::{self, Credential, Port};
use codes::*;

/// Log code of an answer that was ignored (malformed, or without the fields its mode needs).
/// Upstream's component logs nothing; the code is the first free one of its range.
pub const STATE_DYNREGMQ_LOG_BAD_ANSWER: i32 = -0x0504;

const INSTANCE_SUFFIX: &str = ".mqtt.iothub.aliyuncs.com";
const TOPIC_REGISTER: &[u8] = b"/ext/register";
const TOPIC_REGNWL: &[u8] = b"/ext/regnwl";

/// What a registration returned, handed to the receive handler.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Whitelist mode: the device's secret.
    Whitelist { device_secret: String },
    /// No-whitelist mode: what `aiot_mqtt_setopt` needs as CLIENTID, USERNAME and PASSWORD.
    NoWhitelist {
        clientid: String,
        username: String,
        password: String,
    },
}

/// The callable part of the receive handler.
pub type AnswerFn = dyn Fn(&Answer, Userdata) + Send + Sync;

/// One `aiot_dynregmq_setopt` option with its converted value.
pub enum DynregmqOption {
    NetworkCred(Credential),
    Host(String),
    Port(u16),
    ProductKey(String),
    ProductSecret(String),
    DeviceName(String),
    SendTimeoutMs(u32),
    RecvTimeoutMs(u32),
    RecvHandler(Arc<AnswerFn>),
    Userdata(Userdata),
    TimeoutMs(u32),
    DeinitTimeoutMs(u32),
    NoWhitelist(u8),
    InstanceId(String),
}

/// Options with upstream's defaults.
struct Config {
    cred: Option<Credential>,
    host: Option<String>,
    port: u16,
    product_key: Option<String>,
    product_secret: Option<String>,
    device_name: Option<String>,
    send_timeout_ms: u32,
    recv_timeout_ms: u32,
    handler: Option<Arc<AnswerFn>>,
    userdata: Userdata,
    timeout_ms: u32,
    deinit_timeout_ms: u32,
    no_whitelist: bool,
    instance_id: Option<String>,
}

/// The private session of one request and whether its answer has arrived.
struct Request {
    client: Arc<Client>,
    completed: Arc<AtomicBool>,
}

/// The object behind an `aiot_dynregmq_init` handle.
pub struct Dynregmq {
    port: Arc<dyn Port>,
    cfg: Arc<Mutex<Config>>,
    request: Mutex<Option<Request>>,
    gate: Gate,
}

impl Dynregmq {
    /// `aiot_dynregmq_init`: timeouts 5000 ms, deinit 2000 ms, port 0, whitelist mode.
    pub fn new(port: Arc<dyn Port>) -> Dynregmq {
        Dynregmq {
            port,
            cfg: Arc::new(Mutex::new(Config {
                cred: None,
                host: None,
                port: 0,
                product_key: None,
                product_secret: None,
                device_name: None,
                send_timeout_ms: 5_000,
                recv_timeout_ms: 5_000,
                handler: None,
                userdata: 0,
                timeout_ms: 5_000,
                deinit_timeout_ms: 2_000,
                no_whitelist: false,
                instance_id: None,
            })),
            request: Mutex::new(None),
            gate: Gate::new(),
        }
    }

    /// `aiot_dynregmq_setopt` (NULL data and the option range are checked by the caller).
    pub fn setopt(&self, option: DynregmqOption) -> Result<()> {
        let _g = self.gate.enter()?;
        let mut cfg = lock(&self.cfg);
        match option {
            DynregmqOption::NetworkCred(c) => cfg.cred = Some(c),
            DynregmqOption::Host(v) => cfg.host = Some(v),
            DynregmqOption::Port(v) => cfg.port = v,
            DynregmqOption::ProductKey(v) => cfg.product_key = Some(v),
            DynregmqOption::ProductSecret(v) => cfg.product_secret = Some(v),
            DynregmqOption::DeviceName(v) => cfg.device_name = Some(v),
            DynregmqOption::SendTimeoutMs(v) => cfg.send_timeout_ms = v,
            DynregmqOption::RecvTimeoutMs(v) => cfg.recv_timeout_ms = v,
            DynregmqOption::RecvHandler(h) => cfg.handler = Some(h),
            DynregmqOption::Userdata(v) => cfg.userdata = v,
            DynregmqOption::TimeoutMs(v) => cfg.timeout_ms = v,
            DynregmqOption::DeinitTimeoutMs(v) => cfg.deinit_timeout_ms = v,
            DynregmqOption::NoWhitelist(v) => cfg.no_whitelist = v != 0,
            DynregmqOption::InstanceId(v) => cfg.instance_id = Some(v),
        }
        Ok(())
    }

    /// `aiot_dynregmq_send_request`: checks host, product key, product secret, device name,
    /// then that the handle is not being torn down (upstream's order); drops the previous
    /// request's session, opens a new one whose CONNECT carries the signed request, and
    /// returns the connect result.
    pub fn send_request(&self) -> Result<()> {
        let settings = {
            let mut cfg = lock(&self.cfg);
            let host = cfg.host.clone().ok_or(Error::MissingHost)?;
            let pk = cfg.product_key.clone().ok_or(Error::MissingProductKey)?;
            let ps = cfg.product_secret.clone().ok_or(Error::MissingProductSecret)?;
            let dn = cfg.device_name.clone().ok_or(Error::MissingDeviceName)?;
            if cfg.instance_id.is_none() {
                cfg.instance_id = instance_id_of(&host);
            }
            (
                host,
                pk,
                ps,
                dn,
                cfg.port,
                cfg.cred.clone(),
                cfg.send_timeout_ms,
                cfg.recv_timeout_ms,
            )
        };
        let _g = self.gate.enter()?;
        let (host, pk, ps, dn, port, cred, send_timeout, recv_timeout) = settings;
        let (no_whitelist, instance_id) = {
            let cfg = lock(&self.cfg);
            (cfg.no_whitelist, cfg.instance_id.clone())
        };
        // The previous session goes first (closed without DISCONNECT once unused).
        let old = lock(&self.request).take();
        drop(old);

        let random = sysdep::rand_u32(self.port.as_ref()).to_string();
        let creds = request_credentials(&pk, &ps, &dn, &random, no_whitelist, instance_id.as_deref());
        // As upstream, which hands the credential pointer on unchecked: none is a NULL option.
        let cred = cred.ok_or(Error::NullPointer)?;

        let client = Arc::new(Client::new(self.port.clone()));
        client.hide_received_payloads();
        let completed = Arc::new(AtomicBool::new(false));
        let handler = answer_handler(self.cfg.clone(), completed.clone());
        for option in [
            MqttOption::Host(host),
            MqttOption::Port(port),
            MqttOption::ClientId(creds.clientid),
            MqttOption::Username(creds.username),
            MqttOption::Password(creds.password),
            MqttOption::NetworkCred(cred),
            MqttOption::SendTimeoutMs(send_timeout),
            MqttOption::RecvTimeoutMs(recv_timeout),
            MqttOption::RecvHandler(handler),
            MqttOption::ReconnEnabled(0),
        ] {
            client.setopt(option)?;
        }
        client.connect()?;
        *lock(&self.request) = Some(Request { client, completed });
        Ok(())
    }

    /// `aiot_dynregmq_recv`: reads the private session until the answer arrived (and was
    /// handed to the receive handler), a read fails (its code), or the overall timeout passed
    /// (`STATE_DYNREGMQ_AUTH_TIMEOUT`).
    pub fn recv(&self) -> Result<()> {
        let (client, completed) = match lock(&self.request).as_ref() {
            Some(r) => (r.client.clone(), r.completed.clone()),
            None => return Err(Error::Component(STATE_DYNREGMQ_NEED_SEND_REQUEST)),
        };
        let _g = self.gate.enter()?;
        let timeout = lock(&self.cfg).timeout_ms as u64;
        let start = self.port.time_ms();
        loop {
            if self.port.time_ms().saturating_sub(start) >= timeout {
                return Err(Error::Component(STATE_DYNREGMQ_AUTH_TIMEOUT));
            }
            client.recv()?;
            if completed.swap(false, Ordering::SeqCst) {
                return Ok(());
            }
        }
    }

    /// `aiot_dynregmq_deinit` (first half): stops new calls and waits up to the deinit
    /// timeout for those in progress. On success the caller drops the handle, which closes
    /// the private session without DISCONNECT.
    pub fn shutdown(&self) -> Result<()> {
        if !self.gate.close() {
            return Err(Error::ExecDisabled);
        }
        let timeout = lock(&self.cfg).deinit_timeout_ms as u64;
        if !self.gate.wait_idle(self.port.as_ref(), timeout) {
            return Err(Error::Component(STATE_DYNREGMQ_DEINIT_TIMEOUT));
        }
        let old = lock(&self.request).take();
        drop(old);
        Ok(())
    }
}

/// The instance id in an instance endpoint's host name (`<id>.mqtt.iothub.aliyuncs.com`).
fn instance_id_of(host: &str) -> Option<String> {
    match host.find(INSTANCE_SUFFIX) {
        Some(n) if n > 0 => Some(host[..n].to_owned()),
        _ => None,
    }
}

/// The CONNECT credentials of a registration request.
#[derive(Debug, PartialEq, Eq)]
struct RequestCredentials {
    clientid: String,
    username: String,
    password: String,
}

/// clientId `<dn>.<pk>|random=<r>,authType=register|regnwl,securemode=2,
/// signmethod=hmacsha256[,instanceId=<id>]|`, user name `<dn>&<pk>`, password the upper-case
/// hex HMAC-SHA256 of `deviceName<dn>productKey<pk>random<r>` keyed with the product secret.
fn request_credentials(
    pk: &str,
    ps: &str,
    dn: &str,
    random: &str,
    no_whitelist: bool,
    instance_id: Option<&str>,
) -> RequestCredentials {
    let auth_type = if no_whitelist { "regnwl" } else { "register" };
    let mut clientid =
        format!("{dn}.{pk}|random={random},authType={auth_type},securemode=2,signmethod=hmacsha256");
    if let Some(id) = instance_id {
        clientid.push_str(",instanceId=");
        clientid.push_str(id);
    }
    clientid.push('|');
    let sign_text = format!("deviceName{dn}productKey{pk}random{random}");
    RequestCredentials {
        clientid,
        username: format!("{dn}&{pk}"),
        password: hmac_sha256_upper_hex(ps.as_bytes(), sign_text.as_bytes()),
    }
}

/// The private session's receive handler: recognises the answer by its topic, marks the
/// request complete and calls the user's handler (none set: the answer is not taken, as
/// upstream). No lock is held while the user's handler runs.
fn answer_handler(cfg: Arc<Mutex<Config>>, completed: Arc<AtomicBool>) -> RecvHandler {
    RecvHandler {
        key: 0,
        call: Arc::new(move |recv: &Recv<'_>, _: Userdata| {
            let Recv::Pub { topic, payload, .. } = *recv else {
                return;
            };
            let (handler, userdata, pk, dn) = {
                let c = lock(&cfg);
                let Some(h) = c.handler.clone() else { return };
                (
                    h,
                    c.userdata,
                    c.product_key.clone().unwrap_or_default(),
                    c.device_name.clone().unwrap_or_default(),
                )
            };
            let answer = match parse_answer(topic, payload, &pk, &dn) {
                Ok(Some(a)) => a,
                Ok(None) => return,
                Err(why) => {
                    log::line_bytes(
                        STATE_DYNREGMQ_LOG_BAD_ANSWER,
                        &[
                            b"DYNREGMQ answer on ",
                            topic,
                            b" ignored: ",
                            why.as_bytes(),
                            b"\r\n",
                        ],
                    );
                    return;
                }
            };
            completed.store(true, Ordering::SeqCst);
            handler(&answer, userdata);
        }),
    }
}

/// The answer a PUBLISH carries: `Ok(None)` for a topic that is not an answer, `Err(why)`
/// for an answer that cannot be used (the reason never quotes the payload: it may hold
/// secrets).
fn parse_answer(
    topic: &[u8],
    payload: &[u8],
    pk: &str,
    dn: &str,
) -> std::result::Result<Option<Answer>, String> {
    let whitelist = match topic {
        TOPIC_REGISTER => true,
        TOPIC_REGNWL => false,
        _ => return Ok(None),
    };
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(|e| {
        format!(
            "not JSON ({} bytes, line {} column {})",
            payload.len(),
            e.line(),
            e.column()
        )
    })?;
    let object = value.as_object().ok_or("not a JSON object")?;
    let field = |key: &str| -> std::result::Result<String, String> {
        match object.get(key) {
            Some(serde_json::Value::String(s)) if !s.is_empty() && !s.contains('\0') => Ok(s.clone()),
            Some(serde_json::Value::String(s)) if s.is_empty() => Err(format!("{key} is empty")),
            Some(serde_json::Value::String(_)) => Err(format!("{key} holds a NUL")),
            Some(_) => Err(format!("{key} is not a string")),
            None => Err(format!("no {key}")),
        }
    };
    if whitelist {
        return Ok(Some(Answer::Whitelist {
            device_secret: field("deviceSecret")?,
        }));
    }
    let client_id = field("clientId")?;
    let token = field("deviceToken")?;
    Ok(Some(Answer::NoWhitelist {
        clientid: format!("{client_id}|authType=connwl,securemode=-2,_ss=1,ext=3,_v={SDK_VERSION}|"),
        username: format!("{dn}&{pk}"),
        password: token,
    }))
}

#[cfg(test)]
mod tests;
