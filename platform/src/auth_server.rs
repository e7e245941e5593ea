//! The platform's HTTPS endpoint for provisioning and the HTTP uplink, and the Unix socket on
//! which the mosquitto plugin asks about MQTT dynamic registrations.
//!
//! HTTPS on 127.0.0.1 (certificate `auth.pem` for DNS:localhost, from the test CA), and the same
//! on a plain HTTP port, answered the way upstream's `core_http` reads them: `HTTP/1.1` status line, `Content-Length: ` exactly so
//! spelled, short header lines, whole bodies (never chunked), connections kept open.
//!
//! - `POST /auth/register/device` (form body): dynamic registration with the product secret
//!   ([`Registry::register_https`]).
//! - `POST /auth/bootstrap` and `GET /auth/bootstrap/regionId/<r>`: the platform's own MQTT
//!   endpoint (`localhost` and the TLS port).
//! - `POST /auth?...` (JSON body): the HTTP uplink's authentication, answered with a token.
//! - `POST /topic/<topic>` with `Password: <token>`: the body is published on `<topic>`, QoS 1,
//!   by an MQTT connection logged in as the token's device, so the broker's ACL applies and
//!   subscribers see it.
//!
//! The socket (`<state>/prov.sock`) takes `<client id>\n<user name>\n<password>\n` and answers
//! `OK\n<topic>\n<payload>` or `NO <reason>\n` ([`Registry::register_mqtt`]).

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;

use crate::broker::BrokerInfo;
use crate::devices::Device;
use crate::provision::{
    bootstrap_answer, code, http_answer, http_auth_sign, https_fault_answer, parse_form, register_answer,
    FaultKind, FaultTarget, Registry, SOCKET_FILE,
};

/// Largest request body read (the HTTP uplink's payloads included).
const MAX_BODY: usize = 256 * 1024;

/// One request the endpoint answered, for tests and `prov show`.
#[derive(Clone, Debug)]
pub struct AuthRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub body: String,
}

struct Shared {
    state_dir: PathBuf,
    /// Devices of the broker (static secrets), for the HTTP uplink's `/auth`.
    devices: Vec<Device>,
    mqtt_port: u16,
    bootstrap_host: String,
    bootstrap_port: u16,
    log: Mutex<Vec<AuthRecord>>,
    message_id: AtomicU64,
}

fn response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("response")
}

impl Shared {
    fn secret_of(&self, pk: &str, dn: &str) -> Option<String> {
        self.devices
            .iter()
            .find(|d| d.product_key == pk && d.device_name == dn)
            .map(|d| d.device_secret.clone())
            .or_else(|| Registry::load(&self.state_dir).device_secret(pk, dn))
    }

    fn register(&self, body: &str) -> (StatusCode, String) {
        let form = parse_form(body);
        let result = Registry::update(&self.state_dir, |r| r.register_https(&form));
        let (pk, dn) = (
            form.get("productKey").cloned().unwrap_or_default(),
            form.get("deviceName").cloned().unwrap_or_default(),
        );
        match result {
            Ok(result) => (StatusCode::OK, register_answer(&pk, &dn, &result)),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{{\"message\":\"{e}\"}}"),
            ),
        }
    }

    fn auth(&self, body: &str) -> String {
        let Ok(v) = serde_json::from_str::<Value>(body) else {
            return http_answer(code::HTTP_PARAM_ERROR, "body is not JSON", None);
        };
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (pk, dn, sign) = (s("productKey"), s("deviceName"), s("sign"));
        if pk.is_empty() || dn.is_empty() || sign.is_empty() {
            return http_answer(
                code::HTTP_PARAM_ERROR,
                "productKey, deviceName and sign needed",
                None,
            );
        }
        let ok = self
            .secret_of(&pk, &dn)
            .is_some_and(|ds| http_auth_sign(&ds, &pk, &dn).eq_ignore_ascii_case(&sign));
        if !ok {
            return http_answer(code::HTTP_COMMON_ERROR, "auth check error", None);
        }
        match Registry::update(&self.state_dir, |r| r.issue_token(&pk, &dn)) {
            Ok(token) => http_answer(code::HTTP_SUCCESS, "success", Some(json!({"token": token}))),
            Err(e) => http_answer(code::HTTP_COMMON_ERROR, &e.to_string(), None),
        }
    }

    async fn topic(&self, topic: &str, token: Option<&str>, body: Bytes) -> String {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return http_answer(code::HTTP_TOKEN_NULL, "token is null", None);
        };
        let reg = Registry::load(&self.state_dir);
        let Some(t) = reg.tokens.get(token) else {
            return http_answer(code::HTTP_TOKEN_CHECK_ERROR, "token check error", None);
        };
        if t.expired {
            return http_answer(code::HTTP_TOKEN_EXPIRED, "token expired", None);
        }
        let Some(ds) = self.secret_of(&t.product_key, &t.device_name) else {
            return http_answer(code::HTTP_TOKEN_CHECK_ERROR, "token check error", None);
        };
        let device = Device::new(&t.product_key, &t.device_name, &ds);
        match publish_as(&device, self.mqtt_port, topic, body).await {
            Ok(()) => {
                let id = self.message_id.fetch_add(1, Ordering::SeqCst) + 1;
                http_answer(code::HTTP_SUCCESS, "success", Some(json!({"messageId": id})))
            }
            Err(e) => http_answer(code::HTTP_PUBLISH_ERROR, &format!("publish error: {e}"), None),
        }
    }
}

/// Whether `topic` is one of `d`'s own (the broker's ACL would drop a publish elsewhere
/// silently; refusing it here gives the device an answer).
fn topic_of_device(topic: &str, pk: &str, dn: &str) -> bool {
    let parts: Vec<&str> = topic.split('/').collect();
    let own = |p: &&str, d: &&str| *p == pk && *d == dn;
    match parts.as_slice() {
        ["", p, d, _, ..] if own(p, d) => true,
        ["", "sys", p, d, _, ..] if own(p, d) => true,
        ["", "ota", "device", _, p, d] | ["", "shadow", _, p, d] if own(p, d) => true,
        ["", "ext", "ntp", p, d, _, ..] if own(p, d) => true,
        ["", "ext", "rrpc", _, "sys", p, d, _, ..] if own(p, d) => true,
        _ => false,
    }
}

/// Publishes `payload` on `topic` (QoS 1) over a new MQTT connection logged in as `d`.
async fn publish_as(d: &Device, port: u16, topic: &str, payload: Bytes) -> Result<(), String> {
    if !topic_of_device(topic, &d.product_key, &d.device_name) {
        return Err(format!("{topic} is not a topic of this device"));
    }
    static N: AtomicU64 = AtomicU64::new(0);
    let cid = format!(
        "{}.{}|http-uplink-{}|",
        d.product_key,
        d.device_name,
        N.fetch_add(1, Ordering::SeqCst)
    );
    let mut opts = MqttOptions::new(cid, crate::platform::HOST, port);
    opts.set_credentials(d.username(), d.password());
    opts.set_max_packet_size(MAX_BODY + 1024, MAX_BODY + 1024);
    let (client, mut el) = AsyncClient::new(opts, 10);
    let work = async {
        loop {
            match el.poll().await.map_err(|e| e.to_string())? {
                Event::Incoming(Packet::ConnAck(_)) => {
                    client
                        .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Event::Incoming(Packet::PubAck(_)) => {
                    let _ = client.disconnect().await;
                    // Let the DISCONNECT go out.
                    let _ = tokio::time::timeout(Duration::from_millis(200), el.poll()).await;
                    return Ok(());
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), work)
        .await
        .map_err(|_| "no PUBACK within 5 s".to_owned())?
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    sh: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let token = req
        .headers()
        .get("Password")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "{\"message\":\"body too large\"}".into(),
            ));
        }
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let post = method == hyper::Method::POST;
    let (status, answer) = if post && path == "/auth/register/device" {
        sh.register(&text)
    } else if (post && path == "/auth/bootstrap")
        || (method == hyper::Method::GET && path.starts_with("/auth/bootstrap/regionId/"))
    {
        (
            StatusCode::OK,
            bootstrap_answer(&sh.bootstrap_host, sh.bootstrap_port),
        )
    } else if post && path == "/auth" {
        (StatusCode::OK, sh.auth(&text))
    } else if let (true, Some(topic)) = (post, path.strip_prefix("/topic")) {
        (StatusCode::OK, sh.topic(topic, token.as_deref(), body).await)
    } else {
        (StatusCode::NOT_FOUND, "{\"message\":\"not found\"}".into())
    };
    sh.log.lock().unwrap().push(AuthRecord {
        method: method.to_string(),
        path,
        status: status.as_u16(),
        body: answer.clone(),
    });
    Ok(response(status, answer))
}

fn tls_acceptor(state_dir: &Path) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(state_dir.join("auth.pem"))
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| std::io::Error::other(format!("auth.pem: {e}")))?;
    let key = PrivateKeyDer::from_pem_file(state_dir.join("auth.key"))
        .map_err(|e| std::io::Error::other(format!("auth.key: {e}")))?;
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(std::io::Error::other)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// An IO whose first bytes were already read (by [`hostile_answer`]): they are read again
/// first, then the stream.
struct Prefixed<S> {
    pre: Vec<u8>,
    pos: usize,
    io: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.pre.len() {
            let n = (this.pre.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.pre[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The request header at the start of `buf` (through its blank line): method, path and
/// `Content-Length`, and where the body starts.
fn request_head(buf: &[u8]) -> Option<(String, String, usize, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let path = target.split('?').next().unwrap_or_default().to_owned();
    Some((method, path, length, end))
}

/// With an HTTPS fault armed: reads the first request; a registration takes the fault and
/// gets the hostile answer (then the connection is closed: `None`). Anything else goes on to
/// hyper with the bytes read so far.
async fn hostile_answer<S>(mut io: S, sh: &Shared, on: FaultTarget) -> Option<Prefixed<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((method, path, length, start)) = request_head(&buf) {
                if method != "POST" || !on.matches(&path) || length > MAX_BODY {
                    return None;
                }
                while buf.len() < start + length {
                    match io.read(&mut chunk).await {
                        Ok(0) | Err(_) => return None,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                return Some(String::from_utf8_lossy(&buf[start..start + length]).into_owned());
            }
            if buf.len() > 16 * 1024 {
                return None;
            }
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let body = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .ok()
        .flatten();
    let fault = match &body {
        Some(_) => Registry::update(&sh.state_dir, |r| r.take_fault(false))
            .ok()
            .flatten(),
        None => None,
    };
    let (Some(body), Some(fault)) = (body, fault) else {
        return Some(Prefixed { pre: buf, pos: 0, io });
    };
    let form = parse_form(&body);
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let long = fault.kind == FaultKind::LongBody;
    let answer = match on {
        FaultTarget::Register => {
            let real = if long { sh.register(&body).1 } else { String::new() };
            https_fault_answer(&fault, &get("productKey"), &get("deviceName"), &real)
        }
        FaultTarget::Auth => {
            let real = if long { sh.auth(&body) } else { String::new() };
            crate::http_uplink::uplink_fault_answer(&fault, on, &real)
        }
        FaultTarget::Topic => {
            let real = http_answer(code::HTTP_SUCCESS, "success", Some(json!({"messageId": 0})));
            crate::http_uplink::uplink_fault_answer(&fault, on, &real)
        }
    };
    sh.log.lock().unwrap().push(AuthRecord {
        method: "POST".into(),
        path: match on {
            FaultTarget::Register => "/auth/register/device".into(),
            FaultTarget::Auth => "/auth".into(),
            FaultTarget::Topic => "/topic".into(),
        },
        status: 0,
        body: format!("fault {}", fault.kind.name()),
    });
    let _ = io.write_all(&answer).await;
    let _ = io.flush().await;
    let _ = io.shutdown().await;
    None
}

async fn serve_conn<S>(io: S, sh: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let armed = Registry::load(&sh.state_dir)
        .fault
        .filter(|f| !f.kind.is_mqtt())
        .map(|f| f.on);
    if let Some(on) = armed {
        if let Some(io) = hostile_answer(io, &sh, on).await {
            serve_hyper(io, sh).await;
        }
    } else {
        serve_hyper(io, sh).await;
    }
}

async fn serve_hyper<S>(io: S, sh: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| handle(req, sh.clone()));
    let conn = hyper::server::conn::http1::Builder::new()
        .title_case_headers(true)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    // A connection lives at most 10 minutes.
    let _ = tokio::time::timeout(Duration::from_secs(600), conn).await;
}

/// Accepts connections on `listener` (TLS with `acceptor`) until the runtime stops.
async fn serve(listener: TcpListener, acceptor: Option<tokio_rustls::TlsAcceptor>, sh: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (acceptor, sh) = (acceptor.clone(), sh.clone());
        tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        serve_conn(tls, sh).await;
                    }
                }
                None => serve_conn(tcp, sh).await,
            }
        });
    }
}

/// Answers the plugin's questions on `<state>/prov.sock` until `stop`.
fn serve_socket(listener: UnixListener, state_dir: PathBuf, stop: Arc<AtomicBool>) {
    let _ = listener.set_nonblocking(true);
    while !stop.load(Ordering::SeqCst) {
        let Ok((mut s, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let _ = s.set_nonblocking(false);
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut req = Vec::new();
        if (&mut s).take(4096).read_to_end(&mut req).is_err() {
            continue;
        }
        let text = String::from_utf8_lossy(&req);
        let mut lines = text.split('\n');
        let (cid, user, pass) = (
            lines.next().unwrap_or_default(),
            lines.next().unwrap_or_default(),
            lines.next().unwrap_or_default(),
        );
        let answer = match Registry::update(&state_dir, |r| r.register_mqtt_or_fault(cid, user, pass)) {
            Ok(Ok((topic, payload))) => format!("OK\n{topic}\n{payload}"),
            Ok(Err(refusal)) => format!("NO {}\n", refusal.message()),
            Err(e) => format!("NO {e}\n"),
        };
        let _ = s.write_all(answer.as_bytes());
    }
}

/// The running endpoint and socket. Dropping it stops both.
pub struct AuthServer {
    rt: Option<tokio::runtime::Runtime>,
    port: u16,
    http_port: u16,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    socket: PathBuf,
}

impl AuthServer {
    /// Starts on a free port of 127.0.0.1 for the broker of `info` (whose `devices` may use the
    /// HTTP uplink with their secrets); certificate `auth.pem` issued by the CA in the state
    /// folder. Bootstrap answers name `localhost` and the broker's TLS port.
    pub fn start(info: &BrokerInfo, devices: &[Device]) -> std::io::Result<AuthServer> {
        let state_dir = info.state_dir.clone();
        crate::pki::issue_server_cert(&state_dir, &["localhost"], "auth")?;
        let acceptor = tls_acceptor(&state_dir)?;
        let socket = state_dir.join(SOCKET_FILE);
        let _ = std::fs::remove_file(&socket);
        let unix = UnixListener::bind(&socket)?;
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (dir, stop) = (state_dir.clone(), stop.clone());
            std::thread::Builder::new()
                .name("aiot-prov-socket".into())
                .spawn(move || serve_socket(unix, dir, stop))?;
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("aiot-auth")
            .enable_all()
            .build()?;
        let bind = || rt.block_on(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))));
        let (listener, plain) = (bind()?, bind()?);
        let port = listener.local_addr()?.port();
        let http_port = plain.local_addr()?.port();
        let shared = Arc::new(Shared {
            state_dir,
            devices: devices.to_vec(),
            mqtt_port: info.tcp_port,
            bootstrap_host: crate::platform::TLS_HOST.to_owned(),
            bootstrap_port: info.tls_port,
            log: Mutex::new(Vec::new()),
            message_id: AtomicU64::new(0),
        });
        rt.spawn(serve(listener, Some(acceptor), shared.clone()));
        rt.spawn(serve(plain, None, shared.clone()));
        Ok(AuthServer {
            rt: Some(rt),
            port,
            http_port,
            shared,
            stop,
            socket,
        })
    }

    /// The HTTPS port (host `localhost`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The plain HTTP port (host 127.0.0.1; same answers).
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<AuthRecord> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Registered products and devices right now.
    pub fn registry(&self) -> Registry {
        Registry::load(&self.shared.state_dir)
    }

    /// The variables `exec` adds for it.
    pub fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        use crate::provision::*;
        let s = |v: &str| std::ffi::OsString::from(v);
        vec![
            ("AIOT_AUTH_HOST", s(crate::platform::TLS_HOST)),
            ("AIOT_AUTH_PORT", s(&self.port.to_string())),
            ("AIOT_AUTH_HTTP_PORT", s(&self.http_port.to_string())),
            ("AIOT_REG_PRODUCT_KEY", s(DEFAULT_PRODUCT_KEY)),
            ("AIOT_REG_PRODUCT_SECRET", s(DEFAULT_PRODUCT_SECRET)),
            ("AIOT_REG_DEVICE_NAME", s(DEFAULT_FRESH_NAMES[0])),
            ("AIOT_REG_DEVICE_NAME2", s(DEFAULT_FRESH_NAMES[1])),
            ("AIOT_REG_DEVICE_NAME3", s(DEFAULT_FRESH_NAMES[2])),
            ("AIOT_REG_ACTIVATED_DEVICE_NAME", s(DEFAULT_ACTIVATED_NAME)),
            ("AIOT_REG_UNKNOWN_DEVICE_NAME", s(DEFAULT_UNKNOWN_NAME)),
        ]
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_topics() {
        for t in [
            "/pk/dn/user/update",
            "/sys/pk/dn/thing/event/property/post",
            "/ota/device/inform/pk/dn",
            "/shadow/update/pk/dn",
            "/ext/ntp/pk/dn/request",
            "/ext/rrpc/1/sys/pk/dn/thing/service/x",
        ] {
            assert!(topic_of_device(t, "pk", "dn"), "{t}");
        }
        for t in [
            "/sys/pk/other/thing/x",
            "/pk/dn",
            "/ota/device/inform/pk/dn/x",
            "sys/pk/dn/x",
            "/ext/register",
        ] {
            assert!(!topic_of_device(t, "pk", "dn"), "{t}");
        }
    }
}
