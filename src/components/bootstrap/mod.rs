//! Bootstrap (`aiot_bootstrap_api.h`): asks the global bootstrap service which MQTT endpoint
//! a device should use (`POST /auth/bootstrap` with a form body, or `GET
//! /auth/bootstrap/regionId/<r>` when a region is set; no signature), over the library's one
//! HTTP client (`components::http`, TLS verified as for MQTT); and answers the platform's
//! bootstrap notify (`/sys/{pk}/{dn}/thing/bootstrap/notify`, a topic handler without
//! SUBSCRIBE) with the automatic `notify_reply`.
//!
//! - `answer`: the answer's and the notify's JSON;
//! - `codes`: `STATE_BOOTSTRAP_*`.
//!
//! The answer's optional `ip` (shorter than 16 characters, an IP address) becomes the
//! process-wide MQTT backup IP (`mqtt::backup_ip`): every later MQTT connect, on any handle,
//! logs it (`LK-031D`) and hands it to the port, which connects to it when resolving the host
//! fails; TLS still checks the certificate against the host name. An answer without a usable
//! `ip` clears it (upstream keeps an older one, which may belong to another region's host).
//!
//! Deliberate differences from upstream: `send_request` also waits for the response header
//! (a failure there is reported by `recv`); the answer is parsed as JSON (the endpoint in
//! `data.resources.mqtt`, else the first object with a `host`), its port must be 1..65535 and
//! its host a host name, else `STATE_BOOTSTRAP_INVALID_CONNECTION_INFO`; a body over 64 KiB
//! is refused unread; why an answer or a notify was refused is logged (`LK-0703`, `LK-0704`,
//! `LK-0700`), never quoting it; the answer is read once (a second `recv` without a new
//! request returns `STATE_BOOTSTRAP_NEED_SEND_REQUEST`); handlers run with no lock held;
//! two bootstrap handles on one MQTT handle each get the notify (upstream: the last one).

#![forbid(unsafe_code)]

pub mod answer;
pub mod codes;

use crate::sync::{lock, Gate};
use std::sync::{Arc, Mutex};

use super::http::{self, Exchange, Fail, Method, Outcome, Response};
use crate::error::{Error, Result};
use crate::log;
use crate::mqtt::link::{self, Leave, Link, Linked};
use crate::mqtt::{backup_ip, Client, Userdata};
use crate::state::*;
use crate::sysdep::{Credential, Port};
use answer::{IpField, NotifyRefused};
use codes::*;

const PATH: &str = "/auth/bootstrap";
const ACCEPT: &str = "text/xml,text/javascript,text/html,application/json";
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=utf-8";
const CONNECT_TIMEOUT_MS: u32 = 10_000;
/// Default service host and port.
pub const DEFAULT_HOST: &str = "iot-auth-global.aliyuncs.com";
pub const DEFAULT_PORT: u16 = 443;
/// Largest answer body read; an answer is about 130 bytes.
pub const MAX_BODY: u64 = 64 * 1024;

const BODY_RULES: http::BodyRules<'static> = http::BodyRules {
    who: "BOOTSTRAP answer",
    max: MAX_BODY,
    too_big: STATE_HTTP_RECV_NOT_FINISHED,
    empty_ok: false,
};

/// What the receive handler gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// The answer's HTTP status.
    StatusCode(u32),
    /// The MQTT endpoint the answer names.
    ConnectionInfo { host: &'a str, port: u16 },
    /// A notify's command.
    Notify(u32),
}

/// What the event handler gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootstrapEvent {
    InvalidResponse,
    InvalidCmd,
}

/// The callable part of the receive handler.
pub type RecvFn = dyn Fn(&Received<'_>, Userdata) + Send + Sync;
/// The callable part of the event handler.
pub type EventFn = dyn Fn(BootstrapEvent, Userdata) + Send + Sync;

/// One `aiot_bootstrap_setopt` option (except the MQTT handle) with its converted value.
pub enum BootstrapOption {
    NetworkCred(Credential),
    Host(String),
    Port(u16),
    ProductKey(String),
    DeviceName(String),
    RegionId(String),
    SendTimeoutMs(u32),
    RecvTimeoutMs(u32),
    RecvHandler(Arc<RecvFn>),
    EventHandler(Arc<EventFn>),
    Userdata(Userdata),
    TimeoutMs(u32),
    DeinitTimeoutMs(u32),
}

struct Config {
    cred: Option<Credential>,
    host: String,
    port: u16,
    product_key: Option<String>,
    device_name: Option<String>,
    region_id: Option<String>,
    send_timeout_ms: u32,
    recv_timeout_ms: u32,
    recv: Option<Arc<RecvFn>>,
    event: Option<Arc<EventFn>>,
    userdata: Userdata,
    timeout_ms: u32,
    deinit_timeout_ms: u32,
}

/// A request that went out: its response header, or why none came.
enum Sent {
    Response(Response),
    Failed(Fail),
}

struct Inner {
    port: Arc<dyn Port>,
    cfg: Mutex<Config>,
    sent: Mutex<Option<Sent>>,
    gate: Gate,
    /// The MQTT session notifies come from, until that session is deinitialised, and our
    /// handler on its notify topic.
    link: Link,
}

impl Linked for Inner {
    fn link(&self) -> &Link {
        &self.link
    }
}

/// The object behind an `aiot_bootstrap_init` handle.
pub struct Bootstrap {
    inner: Arc<Inner>,
}

/// `/sys/{pk}/{dn}/thing/bootstrap/<leaf>` with the session's product key and device name
/// (empty when unset, as upstream formats a NULL).
fn topic(client: &Client, leaf: &str) -> String {
    client.device_topic("/sys", &format!("thing/bootstrap/{leaf}"))
}

impl Bootstrap {
    /// `aiot_bootstrap_init`: host `iot-auth-global.aliyuncs.com`, port 443, timeouts 5000 ms,
    /// deinit 2000 ms.
    pub fn new(port: Arc<dyn Port>) -> Bootstrap {
        Bootstrap {
            inner: Arc::new(Inner {
                port,
                cfg: Mutex::new(Config {
                    cred: None,
                    host: DEFAULT_HOST.to_owned(),
                    port: DEFAULT_PORT,
                    product_key: None,
                    device_name: None,
                    region_id: None,
                    send_timeout_ms: 5_000,
                    recv_timeout_ms: 5_000,
                    recv: None,
                    event: None,
                    userdata: 0,
                    timeout_ms: 5_000,
                    deinit_timeout_ms: 2_000,
                }),
                sent: Mutex::new(None),
                gate: Gate::new(),
                link: Link::new(),
            }),
        }
    }

    /// `aiot_bootstrap_setopt` for every option but the MQTT handle.
    pub fn setopt(&self, option: BootstrapOption) -> Result<()> {
        let _g = self.inner.gate.enter()?;
        let mut cfg = lock(&self.inner.cfg);
        match option {
            BootstrapOption::NetworkCred(c) => cfg.cred = Some(c),
            BootstrapOption::Host(v) => cfg.host = v,
            BootstrapOption::Port(v) => cfg.port = v,
            BootstrapOption::ProductKey(v) => cfg.product_key = Some(v),
            BootstrapOption::DeviceName(v) => cfg.device_name = Some(v),
            BootstrapOption::RegionId(v) => cfg.region_id = Some(v),
            BootstrapOption::SendTimeoutMs(v) => cfg.send_timeout_ms = v,
            BootstrapOption::RecvTimeoutMs(v) => cfg.recv_timeout_ms = v,
            BootstrapOption::RecvHandler(h) => cfg.recv = Some(h),
            BootstrapOption::EventHandler(h) => cfg.event = Some(h),
            BootstrapOption::Userdata(v) => cfg.userdata = v,
            BootstrapOption::TimeoutMs(v) => cfg.timeout_ms = v,
            BootstrapOption::DeinitTimeoutMs(v) => cfg.deinit_timeout_ms = v,
        }
        Ok(())
    }

    /// `AIOT_BOOTSTRAPOPT_MQTT_HANDLE`: attaches to an MQTT session (leaving the previous one):
    /// the notify topic, built from the session's product key and device name as they are now,
    /// gets our handler (no SUBSCRIBE), then the component hooks.
    pub fn set_mqtt(&self, client: Arc<Client>) -> Result<()> {
        let _g = self.inner.gate.enter()?;
        self.detach();
        self.inner.link.hold(&client);
        let notify = topic(&client, "notify");
        link::listen(&self.inner, &client, notify.as_bytes(), |inner, _, payload| {
            on_notify(inner, payload)
        })?;
        link::hook(&self.inner, &client)
    }

    /// Removes our handler and hooks from the session they are on (if any).
    fn detach(&self) {
        link::leave(&self.inner, Leave::HandlersOnly);
    }

    /// `aiot_bootstrap_send_request`: checks the product key, the device name, then that the
    /// handle is not being torn down (upstream's order); drops the previous request, connects
    /// and sends the GET (region set) or the form POST; waits for the response header.
    pub fn send_request(&self) -> Result<()> {
        let (host, port, pk, dn, region, cred, send_timeout, recv_timeout) = {
            let cfg = lock(&self.inner.cfg);
            let pk = cfg.product_key.clone().ok_or(Error::MissingProductKey)?;
            let dn = cfg.device_name.clone().ok_or(Error::MissingDeviceName)?;
            (
                cfg.host.clone(),
                cfg.port,
                pk,
                dn,
                cfg.region_id.clone(),
                cfg.cred.clone(),
                cfg.send_timeout_ms,
                cfg.recv_timeout_ms,
            )
        };
        let _g = self.inner.gate.enter()?;
        let old = lock(&self.inner.sent).take();
        drop(old);
        // As upstream's HTTP client: a credential is required (option NONE for plain TCP).
        let cred = cred.ok_or(Error::NullPointer)?;
        let (method, target, body) = match &region {
            Some(r) => (Method::Get, format!("{PATH}/regionId/{r}"), String::new()),
            None => (
                Method::Post,
                PATH.to_owned(),
                format!("productKey={pk}&deviceName={dn}&clientId={pk}.{dn}&resources=mqtt"),
            ),
        };
        let length = body.len().to_string();
        let post_headers = [
            ("Accept", ACCEPT),
            ("Content-Type", CONTENT_TYPE),
            ("Content-Length", length.as_str()),
        ];
        let get_headers = [("Accept", ACCEPT), ("Content-Length", "0")];
        let exchange = Exchange {
            port: &self.inner.port,
            cred: Some(&cred),
            tls: cred.wants_tls(),
            host: &host,
            net_port: port,
            authority: &host,
            target: &target,
            method,
            headers: if region.is_some() {
                &get_headers
            } else {
                &post_headers
            },
            body: body.as_bytes(),
            connect_timeout_ms: CONNECT_TIMEOUT_MS,
            send_timeout_ms: send_timeout,
            recv_timeout_ms: recv_timeout,
        };
        let sent = match http::exchange(&exchange, None) {
            Outcome::Response(r) => Sent::Response(r),
            Outcome::RecvFailed(f) => Sent::Failed(f),
            Outcome::ConnectFailed(e) => return Err(e),
            Outcome::SendFailed => return Err(Error::SendFailed),
        };
        *lock(&self.inner.sent) = Some(sent);
        Ok(())
    }

    /// `aiot_bootstrap_recv`: reads the answer (within `TIMEOUT_MS`), reports its HTTP status,
    /// then the MQTT endpoint, to the receive handler; stores the backup IP. 0, or why not.
    pub fn recv(&self) -> Result<()> {
        if lock(&self.inner.sent).is_none() {
            return Err(Error::Component(STATE_BOOTSTRAP_NEED_SEND_REQUEST));
        }
        let _g = self.inner.gate.enter()?;
        let (handler, userdata, timeout, recv_timeout) = {
            let cfg = lock(&self.inner.cfg);
            (
                cfg.recv.clone(),
                cfg.userdata,
                cfg.timeout_ms,
                cfg.recv_timeout_ms,
            )
        };
        // The answer is read once; a second recv needs a new request.
        let sent = lock(&self.inner.sent)
            .take()
            .ok_or(Error::Component(STATE_BOOTSTRAP_NEED_SEND_REQUEST))?;
        let mut response = match sent {
            Sent::Response(r) => r,
            Sent::Failed(f) => return Err(f.header_error()),
        };
        let body = http::read_whole_body(
            &mut response,
            self.inner.port.as_ref(),
            timeout,
            recv_timeout,
            &BODY_RULES,
        )?;
        let status = response.status;
        drop(response);
        if let Some(h) = &handler {
            h(&Received::StatusCode(u32::from(status)), userdata);
        }
        if status != 200 {
            log::line(
                STATE_BOOTSTRAP_INVALID_STATUS_CODE,
                &format!("BOOTSTRAP answer has HTTP status {status}\r\n"),
            );
            return Err(Error::Component(STATE_BOOTSTRAP_INVALID_STATUS_CODE));
        }
        let endpoint = answer::endpoint(&body).map_err(|why| {
            log::line(
                STATE_BOOTSTRAP_INVALID_CONNECTION_INFO,
                &format!("BOOTSTRAP answer without a usable MQTT endpoint: {why}\r\n"),
            );
            Error::Component(STATE_BOOTSTRAP_INVALID_CONNECTION_INFO)
        })?;
        match &endpoint.ip {
            Some(IpField::Address(ip)) => {
                backup_ip::set_backup_ip(ip);
            }
            Some(IpField::Unusable(why)) => {
                log::line(
                    STATE_BOOTSTRAP_BASE,
                    &format!("BOOTSTRAP answer's ip ignored: {why}\r\n"),
                );
                backup_ip::set_backup_ip("");
            }
            None => {
                backup_ip::set_backup_ip("");
            }
        }
        if let Some(h) = &handler {
            h(
                &Received::ConnectionInfo {
                    host: &endpoint.host,
                    port: endpoint.port,
                },
                userdata,
            );
        }
        Ok(())
    }

    /// `aiot_bootstrap_deinit` (first half): refuses new calls, leaves the MQTT session, then
    /// waits up to the deinit timeout for the calls in progress. On success the caller drops
    /// the handle; on a timeout it must keep it.
    pub fn shutdown(&self) -> Result<()> {
        if !self.inner.gate.close() {
            return Err(Error::ExecDisabled);
        }
        self.detach();
        let timeout = u64::from(lock(&self.inner.cfg).deinit_timeout_ms);
        if !self.inner.gate.wait_idle(self.inner.port.as_ref(), timeout) {
            return Err(Error::Component(STATE_BOOTSTRAP_DEINIT_TIMEOUT));
        }
        let old = lock(&self.inner.sent).take();
        drop(old);
        Ok(())
    }
}

impl Drop for Bootstrap {
    fn drop(&mut self) {
        self.detach();
    }
}

/// A notify: the NOTIFY callback, then the automatic reply (QoS0, the session's pk/dn); or the
/// event for a refused one, and no reply. No lock is held meanwhile.
fn on_notify(inner: &Inner, payload: &[u8]) {
    let (recv, event, userdata) = {
        let cfg = lock(&inner.cfg);
        (cfg.recv.clone(), cfg.event.clone(), cfg.userdata)
    };
    let mqtt = inner.link.client();
    match answer::notify(payload) {
        Ok(n) => {
            if let Some(recv) = recv {
                recv(&Received::Notify(n.cmd), userdata);
            }
            if let Some(client) = mqtt {
                let reply = answer::notify_reply(&n.id);
                if let Err(e) = client.publish(topic(&client, "notify_reply"), reply.as_bytes(), 0) {
                    log::line(
                        STATE_BOOTSTRAP_BASE,
                        &format!("BOOTSTRAP notify_reply not sent: -0x{:04X}\r\n", -e.code()),
                    );
                }
            }
        }
        Err(refused) => {
            let (kind, why) = match refused {
                NotifyRefused::InvalidResponse(w) => (BootstrapEvent::InvalidResponse, w),
                NotifyRefused::InvalidCmd(w) => (BootstrapEvent::InvalidCmd, w),
            };
            log::line(
                STATE_BOOTSTRAP_BASE,
                &format!("BOOTSTRAP notify refused: {why}\r\n"),
            );
            if let Some(event) = event {
                event(kind, userdata);
            }
        }
    }
}

#[cfg(test)]
mod tests;
