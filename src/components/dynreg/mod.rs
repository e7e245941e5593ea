//! Dynamic registration over HTTPS (`aiot_dynreg_api.h`): one form POST to
//! `/auth/register/device`, signed with the product secret, answered with the device secret.
//! Sent and read by the library's one HTTP client (`components::http`), over the active port
//! and TLS verified as for MQTT.
//!
//! Deliberate differences from upstream: `send_request` also waits for the response header
//! (the HTTP client reads it with the request; a failure there is reported by `recv`); the
//! answer is parsed as JSON (`deviceSecret` at the top or in `data`); a body over 64 KiB is
//! refused unread; why an answer was refused is logged (LK-0604 / LK-0603), never quoting it;
//! the request body and the answer body are never hex-dumped (signature, secret); the answer
//! is read once (a second `recv` without a new request returns `STATE_DYNREG_NEED_SEND_REQUEST`);
//! the user's handler runs with no lock held; deinit's wait is bounded.

pub mod codes;

use crate::sync::{lock, Gate};
use std::sync::{Arc, Mutex};

use super::http::{self, Exchange, Fail, Method, Outcome, Response};
use crate::error::{Error, Result};
use crate::log;
use crate::mqtt::auth::hmac_sha256_upper_hex;
use crate::mqtt::Userdata;
use crate::state::*;
use crate::sysdep::{self, Credential, Port};
use codes::*;

const PATH: &str = "/auth/register/device";
const ACCEPT: &str = "text/xml,text/javascript,text/html,application/json";
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const CONNECT_TIMEOUT_MS: u32 = 10_000;
/// Largest answer body read; a registration answer is about 150 bytes.
pub const MAX_BODY: u64 = 64 * 1024;

const BODY_RULES: http::BodyRules<'static> = http::BodyRules {
    who: "DYNREG answer",
    max: MAX_BODY,
    too_big: STATE_HTTP_RECV_NOT_FINISHED,
    empty_ok: false,
};

/// What the receive handler gets: the HTTP status, then (status 200 with a secret) the secret.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer<'a> {
    StatusCode(u32),
    DeviceSecret(&'a str),
}

/// The callable part of the receive handler.
pub type AnswerFn = dyn Fn(&Answer<'_>, Userdata) + Send + Sync;

/// One `aiot_dynreg_setopt` option with its converted value.
pub enum DynregOption {
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
}

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
}

/// A request that went out: its response header, or why none came.
enum Sent {
    Response(Response),
    Failed(Fail),
}

/// The object behind an `aiot_dynreg_init` handle.
pub struct Dynreg {
    port: Arc<dyn Port>,
    cfg: Mutex<Config>,
    sent: Mutex<Option<Sent>>,
    gate: Gate,
}

impl Dynreg {
    /// `aiot_dynreg_init`: timeouts 5000 ms, deinit 2000 ms, port 0, no host.
    pub fn new(port: Arc<dyn Port>) -> Dynreg {
        Dynreg {
            port,
            cfg: Mutex::new(Config {
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
            }),
            sent: Mutex::new(None),
            gate: Gate::new(),
        }
    }

    /// `aiot_dynreg_setopt` (NULL data and the option range are checked by the caller).
    pub fn setopt(&self, option: DynregOption) -> Result<()> {
        let _g = self.gate.enter()?;
        let mut cfg = lock(&self.cfg);
        match option {
            DynregOption::NetworkCred(c) => cfg.cred = Some(c),
            DynregOption::Host(v) => cfg.host = Some(v),
            DynregOption::Port(v) => cfg.port = v,
            DynregOption::ProductKey(v) => cfg.product_key = Some(v),
            DynregOption::ProductSecret(v) => cfg.product_secret = Some(v),
            DynregOption::DeviceName(v) => cfg.device_name = Some(v),
            DynregOption::SendTimeoutMs(v) => cfg.send_timeout_ms = v,
            DynregOption::RecvTimeoutMs(v) => cfg.recv_timeout_ms = v,
            DynregOption::RecvHandler(h) => cfg.handler = Some(h),
            DynregOption::Userdata(v) => cfg.userdata = v,
            DynregOption::TimeoutMs(v) => cfg.timeout_ms = v,
            DynregOption::DeinitTimeoutMs(v) => cfg.deinit_timeout_ms = v,
        }
        Ok(())
    }

    /// `aiot_dynreg_send_request`: checks host, product key, product secret, device name, then
    /// that the handle is not being torn down (upstream's order); drops the previous request,
    /// connects and sends the signed form. Returns the connect / send result.
    pub fn send_request(&self) -> Result<()> {
        let (host, port, pk, ps, dn, cred, send_timeout, recv_timeout) = {
            let cfg = lock(&self.cfg);
            let host = cfg.host.clone().ok_or(Error::MissingHost)?;
            let pk = cfg.product_key.clone().ok_or(Error::MissingProductKey)?;
            let ps = cfg.product_secret.clone().ok_or(Error::MissingProductSecret)?;
            let dn = cfg.device_name.clone().ok_or(Error::MissingDeviceName)?;
            (
                host,
                cfg.port,
                pk,
                ps,
                dn,
                cfg.cred.clone(),
                cfg.send_timeout_ms,
                cfg.recv_timeout_ms,
            )
        };
        let _g = self.gate.enter()?;
        let (host, port) = split_host_port(&host, port);
        let old = lock(&self.sent).take();
        drop(old);
        // As upstream's HTTP client: a credential is required (option NONE for plain TCP).
        let cred = cred.ok_or(Error::NullPointer)?;
        let random = sysdep::rand_u32(self.port.as_ref()).to_string();
        let body = request_body(&pk, &ps, &dn, &random);
        let length = body.len().to_string();
        let exchange = Exchange {
            port: &self.port,
            cred: Some(&cred),
            tls: cred.wants_tls(),
            host: &host,
            net_port: port,
            authority: &host,
            target: PATH,
            method: Method::Post,
            headers: &[
                ("Accept", ACCEPT),
                ("Content-Type", CONTENT_TYPE),
                ("Content-Length", &length),
            ],
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
        *lock(&self.sent) = Some(sent);
        Ok(())
    }

    /// `aiot_dynreg_recv`: reads the answer (within `TIMEOUT_MS`), reports the HTTP status and
    /// then the device secret to the receive handler. 0, or why not.
    pub fn recv(&self) -> Result<()> {
        if lock(&self.sent).is_none() {
            return Err(Error::Component(STATE_DYNREG_NEED_SEND_REQUEST));
        }
        let _g = self.gate.enter()?;
        let (handler, userdata, timeout, recv_timeout) = {
            let cfg = lock(&self.cfg);
            (
                cfg.handler.clone(),
                cfg.userdata,
                cfg.timeout_ms,
                cfg.recv_timeout_ms,
            )
        };
        // The answer is read once; a second recv needs a new request.
        let sent = lock(&self.sent)
            .take()
            .ok_or(Error::Component(STATE_DYNREG_NEED_SEND_REQUEST))?;
        let mut response = match sent {
            Sent::Response(r) => r,
            Sent::Failed(f) => return Err(f.header_error()),
        };
        let status = response.status;
        let body = http::read_whole_body(
            &mut response,
            self.port.as_ref(),
            timeout,
            recv_timeout,
            &BODY_RULES,
        )?;
        drop(response);
        // As upstream: the status is collected by the handler, so without one it is not 200.
        let Some(handler) = handler else {
            log::line(
                STATE_DYNREG_INVALID_STATUS_CODE,
                "DYNREG no receive handler set: the answer is not taken\r\n",
            );
            return Err(Error::Component(STATE_DYNREG_INVALID_STATUS_CODE));
        };
        handler(&Answer::StatusCode(u32::from(status)), userdata);
        if status != 200 {
            log::line(
                STATE_DYNREG_INVALID_STATUS_CODE,
                &format!("DYNREG answer has HTTP status {status}\r\n"),
            );
            return Err(Error::Component(STATE_DYNREG_INVALID_STATUS_CODE));
        }
        match device_secret(&body) {
            Ok(secret) => {
                handler(&Answer::DeviceSecret(&secret), userdata);
                Ok(())
            }
            Err(why) => {
                log::line(
                    STATE_DYNREG_INVALID_DEVICE_SECRET,
                    &format!("DYNREG answer without a device secret: {why}\r\n"),
                );
                Err(Error::Component(STATE_DYNREG_INVALID_DEVICE_SECRET))
            }
        }
    }

    /// `aiot_dynreg_deinit` (first half): stops new calls and waits up to the deinit timeout
    /// for those in progress; the caller then drops the handle.
    pub fn shutdown(&self) -> Result<()> {
        if !self.gate.close() {
            return Err(Error::ExecDisabled);
        }
        let timeout = lock(&self.cfg).deinit_timeout_ms as u64;
        if !self.gate.wait_idle(self.port.as_ref(), timeout) {
            return Err(Error::Component(STATE_DYNREG_DEINIT_TIMEOUT));
        }
        let old = lock(&self.sent).take();
        drop(old);
        Ok(())
    }
}

/// A `host:port` host option (upstream 4.2) connects to that port and sends the bare host;
/// anything else (no colon, an IPv6 literal, a non-numeric tail) is the host as given.
fn split_host_port(host: &str, port: u16) -> (String, u16) {
    match host.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') => match p.parse::<u16>() {
            Ok(p) => (h.to_owned(), p),
            Err(_) => (host.to_owned(), port),
        },
        _ => (host.to_owned(), port),
    }
}

/// `productKey=<pk>&deviceName=<dn>&random=<r>&sign=<S>&signMethod=hmacsha256`, `S` the
/// upper-case hex HMAC-SHA256 of `deviceName<dn>productKey<pk>random<r>` keyed with the
/// product secret (not URL-encoded, as upstream).
fn request_body(pk: &str, ps: &str, dn: &str, random: &str) -> String {
    let sign = hmac_sha256_upper_hex(
        ps.as_bytes(),
        format!("deviceName{dn}productKey{pk}random{random}").as_bytes(),
    );
    format!("productKey={pk}&deviceName={dn}&random={random}&sign={sign}&signMethod=hmacsha256")
}

/// The device secret of an answer: `deviceSecret` at the top or inside `data`, a non-empty
/// string without NUL. The reason for a refusal never quotes the body.
fn device_secret(body: &[u8]) -> std::result::Result<String, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not JSON ({} bytes, line {} column {})",
            body.len(),
            e.line(),
            e.column()
        )
    })?;
    let found = value
        .get("deviceSecret")
        .or_else(|| value.get("data").and_then(|d| d.get("deviceSecret")));
    match found {
        Some(serde_json::Value::String(s)) if !s.is_empty() && !s.contains('\0') => Ok(s.clone()),
        Some(serde_json::Value::String(s)) if s.is_empty() => Err("deviceSecret is empty".into()),
        Some(serde_json::Value::String(_)) => Err("deviceSecret holds a NUL".into()),
        Some(_) => Err("deviceSecret is not a string".into()),
        None => match value.get("code") {
            Some(code) => Err(format!("no deviceSecret (code {code})")),
            None => Err("no deviceSecret".into()),
        },
    }
}

#[cfg(test)]
mod tests;
