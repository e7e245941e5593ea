//! The HTTP uplink (`aiot_http_api.h`): a device authenticates over HTTP(S) with its secret,
//! gets a token, then posts raw payloads to its topics (`POST /topic<topic>`). Requests are
//! sent and read by the library's one HTTP client (`components::http`), over the active port,
//! TLS verified as for MQTT.
//!
//! The contract is upstream's (4.1 `aiot_http_api.c` over `core_http`): option numbers and
//! defaults, the checks and their order, `auth` reading its answer within AUTH_TIMEOUT_MS,
//! `send` not reporting the answer, `recv` calling back STATUS_CODE, each HEADER, the
//! TOKEN_INVALID event (business code 20001 or 20003), then BODY with the whole body, and the
//! connection kept across calls unless LONG_CONNECTION is 0.
//!
//! Deliberate differences from upstream: `send` also waits for the response header (the HTTP
//! client reads it with the request; a failure there is reported by `recv`); answers are
//! parsed as JSON (`token` at the top or in `info`, `code` at the top); an answer body over
//! [`MAX_BODY`] is refused unread; why an answer was refused is logged without quoting it; the
//! token is masked wherever it would be logged (LK-0410, the `Password:` request line); the
//! HEADER_BUFFER_LEN and BODY_BUFFER_LEN options are accepted but have no effect (the client
//! has no 128-byte line limit); a `recv` with no request pending returns at once; the user's
//! handlers run with no lock held, so the event handler may call `auth` (as upstream's demo
//! does); deinit's wait is bounded.

#![forbid(unsafe_code)]

use crate::sync::{lock, Gate};
use std::sync::{Arc, Mutex};

use super::http::{self, Exchange, Fail, Method, Outcome, Response};
use crate::error::{Error, Result};
use crate::log;
use crate::mqtt::auth::{hmac_sha256_upper_hex, masked, SDK_VERSION};
use crate::mqtt::Userdata;
use crate::state::*;
use crate::sysdep::{Credential, Port};
use crate::transport::Connection;

/// Largest answer body read; the platform's answers are under 200 bytes.
pub const MAX_BODY: u64 = 64 * 1024;
/// Longest token taken from an auth answer (Aliyun's are 32 characters).
pub const MAX_TOKEN: usize = 1024;
/// Business codes of an answer that raise `AIOT_HTTPEVT_TOKEN_INVALID`: token expired (20001)
/// and token check error (20003); token null (20002) does not.
const TOKEN_INVALID_CODES: [i64; 2] = [20001, 20003];

/// What the receive handler gets, in this order for one answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    StatusCode(u32),
    Header(&'a str, &'a str),
    Body(&'a [u8]),
}

/// The callable part of the receive handler.
pub type PacketFn = dyn Fn(&Packet<'_>, Userdata) + Send + Sync;
/// The callable part of the event handler (the only event: the token is invalid).
pub type TokenInvalidFn = dyn Fn(Userdata) + Send + Sync;

/// One `aiot_http_setopt` option with its converted value.
pub enum HttpOption {
    Host(String),
    Port(u16),
    NetworkCred(Credential),
    ConnectTimeoutMs(u32),
    SendTimeoutMs(u32),
    RecvTimeoutMs(u32),
    DeinitTimeoutMs(u32),
    /// Accepted, stored, without effect (see the module notes).
    HeaderBufferLen(u32),
    BodyBufferLen(u32),
    EventHandler(Arc<TokenInvalidFn>),
    Userdata(Userdata),
    RecvHandler(Arc<PacketFn>),
    ProductKey(String),
    DeviceName(String),
    DeviceSecret(String),
    ExtendDevinfo(String),
    AuthTimeoutMs(u32),
    LongConnection(u8),
}

struct Config {
    host: Option<String>,
    port: u16,
    cred: Option<Credential>,
    connect_timeout_ms: u32,
    send_timeout_ms: u32,
    recv_timeout_ms: u32,
    deinit_timeout_ms: u32,
    event_handler: Option<Arc<TokenInvalidFn>>,
    userdata: Userdata,
    recv_handler: Option<Arc<PacketFn>>,
    product_key: Option<String>,
    device_name: Option<String>,
    device_secret: Option<String>,
    extend_devinfo: Option<String>,
    auth_timeout_ms: u32,
    long_connection: bool,
}

/// A request that went out: its response header, or why none came.
enum Sent {
    Response(Response),
    Failed(Fail),
}

/// One request to send.
struct Request<'a> {
    target: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
}

/// The object behind an `aiot_http_init` handle.
pub struct HttpUplink {
    port: Arc<dyn Port>,
    cfg: Mutex<Config>,
    token: Mutex<Option<String>>,
    /// An open connection whose last answer was read whole (reused with LONG_CONNECTION 1).
    idle: Mutex<Option<Arc<Connection>>>,
    /// The answer of the last `send`, for `recv`.
    pending: Mutex<Option<Sent>>,
    gate: Gate,
}

impl HttpUplink {
    /// `aiot_http_init`: upstream's defaults (connect 10000 ms, send/recv/auth 5000 ms, deinit
    /// 2000 ms, port 0, no host, plain TCP without a credential, long connection on).
    pub fn new(port: Arc<dyn Port>) -> HttpUplink {
        HttpUplink {
            port,
            cfg: Mutex::new(Config {
                host: None,
                port: 0,
                cred: None,
                connect_timeout_ms: 10_000,
                send_timeout_ms: 5_000,
                recv_timeout_ms: 5_000,
                deinit_timeout_ms: 2_000,
                event_handler: None,
                userdata: 0,
                recv_handler: None,
                product_key: None,
                device_name: None,
                device_secret: None,
                extend_devinfo: None,
                auth_timeout_ms: 5_000,
                long_connection: true,
            }),
            token: Mutex::new(None),
            idle: Mutex::new(None),
            pending: Mutex::new(None),
            gate: Gate::new(),
        }
    }

    /// `aiot_http_setopt` (NULL data and the option range are checked by the caller).
    pub fn setopt(&self, option: HttpOption) -> Result<()> {
        let _g = self.gate.enter()?;
        let mut cfg = lock(&self.cfg);
        match option {
            HttpOption::Host(v) => cfg.host = Some(v),
            HttpOption::Port(v) => cfg.port = v,
            HttpOption::NetworkCred(c) => cfg.cred = Some(c),
            HttpOption::ConnectTimeoutMs(v) => cfg.connect_timeout_ms = v,
            HttpOption::SendTimeoutMs(v) => cfg.send_timeout_ms = v,
            HttpOption::RecvTimeoutMs(v) => cfg.recv_timeout_ms = v,
            HttpOption::DeinitTimeoutMs(v) => cfg.deinit_timeout_ms = v,
            HttpOption::HeaderBufferLen(_) | HttpOption::BodyBufferLen(_) => {}
            HttpOption::EventHandler(h) => cfg.event_handler = Some(h),
            HttpOption::Userdata(v) => cfg.userdata = v,
            HttpOption::RecvHandler(h) => cfg.recv_handler = Some(h),
            HttpOption::ProductKey(v) => cfg.product_key = Some(v),
            HttpOption::DeviceName(v) => cfg.device_name = Some(v),
            HttpOption::DeviceSecret(v) => cfg.device_secret = Some(v),
            HttpOption::ExtendDevinfo(v) => cfg.extend_devinfo = Some(v),
            HttpOption::AuthTimeoutMs(v) => cfg.auth_timeout_ms = v,
            HttpOption::LongConnection(v) => cfg.long_connection = v != 0,
        }
        Ok(())
    }

    /// Sends one request: over the idle connection (LONG_CONNECTION 1) or a new one. An answer
    /// of an earlier `send` not read yet is dropped with its connection.
    fn exchange(&self, req: &Request<'_>) -> Result<Sent> {
        let (host, net_port, cred, long, connect_ms, send_ms, recv_ms) = {
            let cfg = lock(&self.cfg);
            (
                cfg.host.clone(),
                cfg.port,
                cfg.cred.clone(),
                cfg.long_connection,
                cfg.connect_timeout_ms,
                cfg.send_timeout_ms,
                cfg.recv_timeout_ms,
            )
        };
        let unread = lock(&self.pending).take();
        drop(unread);
        let reuse = lock(&self.idle).take().filter(|_| long);
        let host = host.ok_or(Error::MissingHost)?;
        let length = req.body.len().to_string();
        let mut headers = req.headers.clone();
        if !long {
            headers.push(("Connection", "close"));
        }
        headers.push(("Content-Length", &length));
        let exchange = Exchange {
            port: &self.port,
            cred: cred.as_ref(),
            tls: cred.as_ref().is_some_and(Credential::wants_tls),
            host: &host,
            net_port,
            authority: &host,
            target: req.target,
            method: Method::Post,
            headers: &headers,
            body: req.body,
            connect_timeout_ms: connect_ms,
            send_timeout_ms: send_ms,
            recv_timeout_ms: recv_ms,
        };
        match http::exchange_on(&exchange, reuse, long, None) {
            Outcome::Response(r) => Ok(Sent::Response(r)),
            Outcome::RecvFailed(f) => Ok(Sent::Failed(f)),
            Outcome::ConnectFailed(e) => Err(e),
            Outcome::SendFailed => Err(Error::SendFailed),
        }
    }

    /// Keeps the connection of a response read whole for the next call (LONG_CONNECTION 1),
    /// unless the server said it closes it.
    fn keep(&self, response: Response) {
        let closing = response
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close"));
        if lock(&self.cfg).long_connection && !closing {
            *lock(&self.idle) = response.into_connection();
        }
    }

    /// `aiot_http_auth`: checks product key, device name, device secret, then that the handle
    /// is not being torn down (upstream's order); POSTs the signed JSON to `/auth`, reads the
    /// answer within AUTH_TIMEOUT_MS and keeps its token.
    pub fn auth(&self) -> Result<()> {
        let (pk, dn, ds, extend, auth_ms, recv_ms) = {
            let cfg = lock(&self.cfg);
            let pk = cfg.product_key.clone().ok_or(Error::MissingProductKey)?;
            let dn = cfg.device_name.clone().ok_or(Error::MissingDeviceName)?;
            let ds = cfg.device_secret.clone().ok_or(Error::MissingDeviceSecret)?;
            (
                pk,
                dn,
                ds,
                cfg.extend_devinfo.clone().unwrap_or_default(),
                cfg.auth_timeout_ms,
                cfg.recv_timeout_ms,
            )
        };
        let _g = self.gate.enter()?;
        let target = auth_target(&extend);
        let body = auth_body(&pk, &dn, &ds);
        let sent = self.exchange(&Request {
            target: &target,
            headers: vec![("Content-Type", "application/json")],
            body: body.as_bytes(),
        })?;
        let mut response = match sent {
            Sent::Response(r) => r,
            Sent::Failed(Fail::Timeout) => {
                log::line(
                    STATE_HTTP_AUTH_NOT_FINISHED,
                    "HTTP auth answer did not come in time\r\n",
                );
                return Err(Error::Download(STATE_HTTP_AUTH_NOT_FINISHED));
            }
            Sent::Failed(Fail::Send(e) | Fail::Recv(e)) => return Err(e),
        };
        let status = response.status;
        let body =
            read_body(&mut response, self.port.as_ref(), auth_ms, recv_ms, "auth").map_err(|e| match e {
                Error::Download(STATE_HTTP_RECV_NOT_FINISHED) => {
                    Error::Download(STATE_HTTP_AUTH_NOT_FINISHED)
                }
                Error::Download(STATE_HTTP_AUTH_NOT_EXPECTED) if status != 200 => {
                    Error::Download(STATE_HTTP_AUTH_CODE_FAILED)
                }
                e => e,
            })?;
        self.keep(response);
        if status != 200 {
            log::line(
                STATE_HTTP_AUTH_CODE_FAILED,
                &format!("HTTP auth answer has status {status}\r\n"),
            );
            return Err(Error::Download(STATE_HTTP_AUTH_CODE_FAILED));
        }
        if body.is_empty() {
            log::line(STATE_HTTP_AUTH_NOT_EXPECTED, "HTTP auth answer has no body\r\n");
            return Err(Error::Download(STATE_HTTP_AUTH_NOT_EXPECTED));
        }
        match token_of(&body) {
            Ok(token) => {
                log::line(
                    STATE_HTTP_LOG_AUTH,
                    &format!("{}\r\n", masked_body(&body, &token)),
                );
                *lock(&self.token) = Some(token);
                Ok(())
            }
            Err(why) => {
                log::line(
                    STATE_HTTP_AUTH_TOKEN_FAILED,
                    &format!("HTTP auth answer without a token: {why}\r\n"),
                );
                Err(Error::Download(STATE_HTTP_AUTH_TOKEN_FAILED))
            }
        }
    }

    /// `aiot_http_send`: checks the token, then that the handle is not being torn down; POSTs
    /// the payload to `/topic<topic>` with the token. The answer is for `recv`.
    pub fn send(&self, topic: &str, payload: &[u8]) -> Result<()> {
        let token = lock(&self.token)
            .clone()
            .ok_or(Error::Download(STATE_HTTP_NEED_AUTH))?;
        let _g = self.gate.enter()?;
        let target = format!("/topic{topic}");
        let sent = self.exchange(&Request {
            target: &target,
            headers: vec![("Content-Type", "application/octet-stream"), ("Password", &token)],
            body: payload,
        })?;
        *lock(&self.pending) = Some(sent);
        Ok(())
    }

    /// `aiot_http_recv`: reads the answer of the last `send` within RECV_TIMEOUT_MS, calling
    /// back its status and header lines, the token event, then the whole body. 0 or why not.
    pub fn recv(&self) -> Result<()> {
        if lock(&self.pending).is_none() && lock(&self.idle).is_none() {
            return Err(Error::NetworkClosed);
        }
        let _g = self.gate.enter()?;
        let (handler, event, userdata, recv_ms) = {
            let cfg = lock(&self.cfg);
            (
                cfg.recv_handler.clone(),
                cfg.event_handler.clone(),
                cfg.userdata,
                cfg.recv_timeout_ms,
            )
        };
        let Some(sent) = lock(&self.pending).take() else {
            log::line(
                STATE_HTTP_RECV_NOT_FINISHED,
                "HTTP recv without a request sent\r\n",
            );
            return Err(Error::Download(STATE_HTTP_RECV_NOT_FINISHED));
        };
        let mut response = match sent {
            Sent::Response(r) => r,
            Sent::Failed(f) => return Err(f.header_error()),
        };
        let call = |p: &Packet<'_>| {
            if let Some(h) = &handler {
                h(p, userdata);
            }
        };
        call(&Packet::StatusCode(u32::from(response.status)));
        let headers = response.headers.clone();
        for (key, value) in &headers {
            call(&Packet::Header(key, value));
        }
        let body = read_body(&mut response, self.port.as_ref(), recv_ms, recv_ms, "answer")?;
        self.keep(response);
        match business_code(&body) {
            Some(code) if TOKEN_INVALID_CODES.contains(&code) => {
                log::line(
                    STATE_HTTP_NEED_AUTH,
                    &format!("HTTP answer code {code}: the token is invalid\r\n"),
                );
                if let Some(event) = &event {
                    event(userdata);
                }
            }
            Some(_) => {}
            None => log::line(
                STATE_HTTP_LOG_RECV_CONTENT,
                &format!("HTTP answer of {} bytes has no business code\r\n", body.len()),
            ),
        }
        call(&Packet::Body(&body));
        Ok(())
    }

    /// `aiot_http_deinit` (first half): stops new calls and waits up to the deinit timeout for
    /// those in progress; the caller then drops the handle (closing the connection).
    pub fn shutdown(&self) -> Result<()> {
        if !self.gate.close() {
            return Err(Error::ExecDisabled);
        }
        let timeout = u64::from(lock(&self.cfg).deinit_timeout_ms);
        if !self.gate.wait_idle(self.port.as_ref(), timeout) {
            return Err(Error::Download(STATE_HTTP_DEINIT_TIMEOUT));
        }
        let pending = lock(&self.pending).take();
        let idle = lock(&self.idle).take();
        drop((pending, idle));
        Ok(())
    }
}

/// Reads the whole body of an answer (`what`: "auth" or "answer"); over [`MAX_BODY`] it is
/// `STATE_HTTP_AUTH_NOT_EXPECTED` for auth, `STATE_HTTP_RECV_NOT_FINISHED` otherwise.
fn read_body(
    response: &mut Response,
    port: &dyn Port,
    timeout_ms: u32,
    recv_timeout_ms: u32,
    what: &str,
) -> Result<Vec<u8>> {
    let rules = http::BodyRules {
        who: &format!("HTTP {what}"),
        max: MAX_BODY,
        too_big: if what == "auth" {
            STATE_HTTP_AUTH_NOT_EXPECTED
        } else {
            STATE_HTTP_RECV_NOT_FINISHED
        },
        empty_ok: true,
    };
    http::read_whole_body(response, port, timeout_ms, recv_timeout_ms, &rules)
}

/// `/auth?_v=<sdk version>&<extend devinfo>` (with no extend info the path ends in `&`, as
/// upstream's).
fn auth_target(extend_devinfo: &str) -> String {
    format!("/auth?_v={SDK_VERSION}&{extend_devinfo}")
}

/// The auth request's JSON body, signed with the device secret: upper-case hex HMAC-SHA256 of
/// `clientId<pk>.<dn>deviceName<dn>productKey<pk>` (no timestamp). Keys and order are
/// upstream's; the values are JSON-escaped.
fn auth_body(pk: &str, dn: &str, ds: &str) -> String {
    let sign = hmac_sha256_upper_hex(
        ds.as_bytes(),
        format!("clientId{pk}.{dn}deviceName{dn}productKey{pk}").as_bytes(),
    );
    let q = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        "{{\"clientId\":{},\"signmethod\":\"hmacsha256\",\"deviceName\":{},\"productKey\":{},\"sign\":\"{sign}\"}}",
        q(&format!("{pk}.{dn}")),
        q(dn),
        q(pk)
    )
}

/// The token of an auth answer: `token` in `info` (the platform's shape) or at the top, a
/// non-empty string without NUL of at most [`MAX_TOKEN`] bytes. The reason for a refusal
/// never quotes the body.
fn token_of(body: &[u8]) -> std::result::Result<String, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not JSON ({} bytes, line {} column {})",
            body.len(),
            e.line(),
            e.column()
        )
    })?;
    let found = value
        .get("info")
        .and_then(|i| i.get("token"))
        .or_else(|| value.get("token"));
    match found {
        Some(serde_json::Value::String(s)) if s.is_empty() => Err("token is empty".into()),
        Some(serde_json::Value::String(s)) if s.contains('\0') => Err("token holds a NUL".into()),
        Some(serde_json::Value::String(s)) if s.len() > MAX_TOKEN => {
            Err(format!("token of {} bytes (more than {MAX_TOKEN})", s.len()))
        }
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err("token is not a string".into()),
        None => match value.get("code") {
            Some(code) => Err(format!("no token (code {code})")),
            None => Err("no token".into()),
        },
    }
}

/// The auth answer as logged (LK-0410): its text with the token masked as LK-0318 masks the
/// MQTT password.
fn masked_body(body: &[u8], token: &str) -> String {
    String::from_utf8_lossy(body).replace(token, &masked(token))
}

/// The business code of an answer: an integer `code` at its top level.
fn business_code(body: &[u8]) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("code")?.as_i64()
}

#[cfg(test)]
mod tests;
