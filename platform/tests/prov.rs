//! Provisioning and the HTTP uplink against a real mosquitto: HTTPS registration (good, wrong
//! sign, unknown device, already activated), MQTT registration in both modes whose credentials
//! then connect, bootstrap answers, HTTP auth with a topic post seen by a subscriber, token
//! codes. The device is raw HTTP over rustls and a hand-written MQTT 3.1.1 client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiot_platform::auth_server::AuthServer;
use aiot_platform::provision::{self, install_defaults, register_sign, Registry};
use aiot_platform::{aliyun_password, Platform};
use serde_json::Value;

const PK: &str = provision::DEFAULT_PRODUCT_KEY;
const PS: &str = provision::DEFAULT_PRODUCT_SECRET;

fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiot-prov-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn start(name: &str) -> (Platform, AuthServer) {
    let platform = Platform::start(&state_dir(name)).unwrap();
    install_defaults(platform.state_dir()).unwrap();
    let auth = AuthServer::start(&platform.broker.info, platform.devices()).unwrap();
    (platform, auth)
}

/// One HTTPS (or plain HTTP) connection to the endpoint, kept open across requests.
struct Https {
    s: Stream,
}

impl Https {
    fn connect(port: u16, ca: &Path) -> Https {
        let s = Stream::open(port, Some(ca));
        s.set_read_timeout(Some(Duration::from_secs(10)));
        Https { s }
    }

    fn plain(port: u16) -> Https {
        let s = Stream::open(port, None);
        s.set_read_timeout(Some(Duration::from_secs(10)));
        Https { s }
    }

    /// Sends a request as upstream's core_http does and reads the answer the way it does:
    /// status from `HTTP/1.1 `, `Content-Length: ` case-sensitive, lines of at most 128 bytes.
    fn request(&mut self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> (u16, String) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        for h in headers {
            head.push_str(&format!("{h}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        self.s.write_all(head.as_bytes()).unwrap();
        self.s.write_all(body).unwrap();
        self.s.flush().unwrap();
        let mut lines = Vec::new();
        let mut line = Vec::new();
        loop {
            let mut b = [0u8; 1];
            self.s.read_exact(&mut b).unwrap();
            line.push(b[0]);
            assert!(line.len() <= 128, "header line longer than 128 bytes: {line:?}");
            if line.ends_with(b"\r\n") {
                let text = String::from_utf8(line[..line.len() - 2].to_vec()).unwrap();
                line.clear();
                if text.is_empty() {
                    break;
                }
                lines.push(text);
            }
        }
        let status: u16 = lines[0].strip_prefix("HTTP/1.1 ").expect("HTTP/1.1 status line")[..3]
            .parse()
            .unwrap();
        assert!(
            !lines
                .iter()
                .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding")),
            "{lines:?}"
        );
        let len: usize = lines
            .iter()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("Content-Length: header, case-exact")
            .parse()
            .unwrap();
        let mut body = vec![0u8; len];
        self.s.read_exact(&mut body).unwrap();
        (status, String::from_utf8(body).unwrap())
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn register_body(dn: &str, ps: &str) -> String {
    let random = "3141592653";
    let sign = register_sign(ps, PK, dn, random);
    format!("productKey={PK}&deviceName={dn}&random={random}&sign={sign}&signMethod=hmacsha256")
}

fn register(h: &mut Https, dn: &str, ps: &str) -> Value {
    let (status, body) = h.request(
        "POST",
        "/auth/register/device",
        &[
            "Accept: text/xml,text/javascript,text/html,application/json",
            "Content-Type: application/x-www-form-urlencoded",
        ],
        register_body(dn, ps).as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    json(&body)
}

fn string(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u16).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![first];
    let mut len = body.len();
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        p.push(if len > 0 { byte | 0x80 } else { byte });
        if len == 0 {
            break;
        }
    }
    p.extend_from_slice(body);
    p
}

fn tls_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Plain TCP or TLS (to `localhost`).
enum Stream {
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn open(port: u16, tls_ca: Option<&Path>) -> Stream {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        match tls_ca {
            None => Stream::Tcp(tcp),
            Some(ca) => {
                let conn =
                    rustls::ClientConnection::new(tls_config(ca), "localhost".try_into().unwrap()).unwrap();
                Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
            }
        }
    }

    fn set_read_timeout(&self, t: Option<Duration>) {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t).unwrap(),
            Stream::Tls(s) => s.sock.set_read_timeout(t).unwrap(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A raw MQTT 3.1.1 connection.
struct Mqtt {
    s: Stream,
    buf: Vec<u8>,
}

enum Next {
    Packet(u8, Vec<u8>),
    Closed,
    Timeout,
}

impl Mqtt {
    /// Connects and returns the connection and the CONNACK return code.
    fn connect(port: u16, cid: &str, user: &str, pass: &str) -> (Mqtt, u8) {
        Mqtt::connect_via(port, None, cid, user, pass)
    }

    /// [`Mqtt::connect`], over TLS to `localhost` when `tls_ca` is given.
    fn connect_via(port: u16, tls_ca: Option<&Path>, cid: &str, user: &str, pass: &str) -> (Mqtt, u8) {
        let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 60];
        for s in [cid, user, pass] {
            string(&mut body, s);
        }
        let mut s = Stream::open(port, tls_ca);
        s.write_all(&packet(0x10, &body)).unwrap();
        s.flush().unwrap();
        let mut m = Mqtt { s, buf: Vec::new() };
        match m.next(Duration::from_secs(5)) {
            Next::Packet(0x20, b) => {
                let rc = b[1];
                (m, rc)
            }
            Next::Closed => (m, 0xff),
            _ => panic!("no CONNACK"),
        }
    }

    fn next(&mut self, within: Duration) -> Next {
        let deadline = Instant::now() + within;
        loop {
            if let Some((first, body)) = self.take() {
                return Next::Packet(first, body);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Next::Timeout;
            }
            self.s.set_read_timeout(Some(left));
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) => return Next::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Next::Closed,
            }
        }
    }

    fn take(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let b = *self.buf.get(i)?;
            len |= ((b & 0x7f) as usize) << (7 * (i - 1));
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        if self.buf.len() < i + len {
            return None;
        }
        let first = self.buf[0];
        let body = self.buf[i..i + len].to_vec();
        self.buf.drain(..i + len);
        Some((first, body))
    }

    /// The next PUBLISH (QoS 0): topic and payload.
    fn next_publish(&mut self, within: Duration) -> Option<(String, String)> {
        match self.next(within) {
            Next::Packet(first, body) if first & 0xf0 == 0x30 => {
                let tlen = u16::from_be_bytes([body[0], body[1]]) as usize;
                let topic = String::from_utf8_lossy(&body[2..2 + tlen]).into_owned();
                Some((topic, String::from_utf8_lossy(&body[2 + tlen..]).into_owned()))
            }
            _ => None,
        }
    }

    /// Whether the broker closes the connection within `within` (no DISCONNECT packet).
    fn closed_within(&mut self, within: Duration) -> bool {
        matches!(self.next(within), Next::Closed)
    }
}

/// A client of the platform user subscribed to `filter` (SUBACK received).
fn platform_subscriber(platform: &Platform, filter: &str) -> (rumqttc::Client, rumqttc::Connection) {
    let (user, pass) = platform.broker.platform_credentials();
    let mut opts = rumqttc::MqttOptions::new(
        format!("prov-test-sub-{}", provision::random_hex(4)),
        "127.0.0.1",
        platform.broker.tcp_port(),
    );
    opts.set_credentials(user, pass);
    let (client, mut conn) = rumqttc::Client::new(opts, 10);
    client.subscribe(filter, rumqttc::QoS::AtLeastOnce).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "no SUBACK");
        if let Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)))) =
            conn.recv_timeout(Duration::from_millis(200))
        {
            return (client, conn);
        }
    }
}

/// The topic of the next message the subscriber gets within 1 s.
fn next_topic(conn: &mut rumqttc::Connection) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if let Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) =
            conn.recv_timeout(Duration::from_millis(100))
        {
            return Some(p.topic);
        }
    }
    None
}

fn registration_cid(dn: &str, auth_type: &str, random: &str) -> String {
    format!("{dn}.{PK}|random={random},authType={auth_type},securemode=2,signmethod=hmacsha256|")
}

#[test]
fn https_registration_cases_and_the_secret_connects() {
    let (platform, auth) = start("https");
    let mut h = Https::connect(auth.port(), &platform.broker.ca_file());
    let dn = provision::DEFAULT_FRESH_NAMES[0];
    let v = register(&mut h, dn, PS);
    assert_eq!(v["code"], 200, "{v}");
    assert_eq!(v["message"], "success");
    assert_eq!(v["data"]["productKey"], PK);
    assert_eq!(v["data"]["deviceName"], dn);
    let ds = v["data"]["deviceSecret"].as_str().unwrap().to_owned();
    // The secret works for a normal connect.
    let (_m, rc) = Mqtt::connect(
        platform.broker.tcp_port(),
        &format!("{PK}.{dn}|securemode=3,signmethod=hmacsha256|"),
        &format!("{dn}&{PK}"),
        &aliyun_password(PK, dn, &ds),
    );
    assert_eq!(rc, 0);
    let (_m, rc) = Mqtt::connect(platform.broker.tcp_port(), "x", &format!("{dn}&{PK}"), "0000");
    assert_ne!(rc, 0, "a wrong password is refused");
    // Same connection (keep-alive): the refusals.
    let again = register(&mut h, dn, PS);
    assert_eq!(again["code"], provision::code::ALREADY_ACTIVATED, "{again}");
    assert!(again.get("data").and_then(|d| d.get("deviceSecret")).is_none());
    let active = register(&mut h, provision::DEFAULT_ACTIVATED_NAME, PS);
    assert_eq!(active["code"], provision::code::ALREADY_ACTIVATED, "{active}");
    let unknown = register(&mut h, provision::DEFAULT_UNKNOWN_NAME, PS);
    assert_eq!(unknown["code"], provision::code::DEVICE_NOT_FOUND, "{unknown}");
    let wrong = register(&mut h, provision::DEFAULT_FRESH_NAMES[1], "not-the-secret");
    assert_eq!(wrong["code"], provision::code::SIGN_ERROR, "{wrong}");
    assert!(!wrong.to_string().contains("deviceSecret"));
    // The wrong sign did not activate the device: the right one still registers it.
    let ok = register(&mut h, provision::DEFAULT_FRESH_NAMES[1], PS);
    assert_eq!(ok["code"], 200, "{ok}");
    let reg = auth.registry();
    assert!(reg.products[PK].devices[dn].activated);
    assert_eq!(reg.products[PK].devices[dn].via.as_deref(), Some("https"));
}

#[test]
fn mqtt_register_and_regnwl_answer_then_close_and_the_credentials_connect() {
    let (platform, _auth) = start("mqtt");
    let port = platform.broker.tcp_port();
    let dn = provision::DEFAULT_FRESH_NAMES[2];
    let user = format!("{dn}&{PK}");

    // Wrong sign: refused at CONNECT.
    let (_m, rc) = Mqtt::connect(port, &registration_cid(dn, "register", "1"), &user, "00AA");
    assert_eq!(rc, 5, "CONNACK: not authorized");

    // Whitelist.
    let t0 = Instant::now();
    let (mut m, rc) = Mqtt::connect(
        port,
        &registration_cid(dn, "register", "42"),
        &user,
        &register_sign(PS, PK, dn, "42"),
    );
    assert_eq!(rc, 0);
    let (topic, payload) = m
        .next_publish(Duration::from_secs(5))
        .expect("the answer without a SUBSCRIBE");
    assert_eq!(topic, "/ext/register");
    assert!(t0.elapsed() < Duration::from_secs(5));
    let v = json(&payload);
    assert_eq!(
        (v["productKey"].as_str(), v["deviceName"].as_str()),
        (Some(PK), Some(dn))
    );
    let ds = v["deviceSecret"].as_str().unwrap().to_owned();
    assert!(
        m.closed_within(Duration::from_secs(3)),
        "the registration connection is closed"
    );
    let (_d, rc) = Mqtt::connect(
        port,
        &format!("{PK}.{dn}|securemode=3|"),
        &user,
        &aliyun_password(PK, dn, &ds),
    );
    assert_eq!(rc, 0, "the registered secret connects");
    // Registered once: a second registration is refused.
    let (_m, rc) = Mqtt::connect(
        port,
        &registration_cid(dn, "register", "43"),
        &user,
        &register_sign(PS, PK, dn, "43"),
    );
    assert_ne!(rc, 0);

    // No whitelist: a name never pre-registered.
    let free = "nwl-device-1";
    let free_user = format!("{free}&{PK}");
    let (mut m, rc) = Mqtt::connect(
        port,
        &registration_cid(free, "regnwl", "7"),
        &free_user,
        &register_sign(PS, PK, free, "7"),
    );
    assert_eq!(rc, 0);
    let (topic, payload) = m.next_publish(Duration::from_secs(5)).expect("the regnwl answer");
    assert_eq!(topic, "/ext/regnwl");
    let v = json(&payload);
    let (client_id, token) = (
        v["clientId"].as_str().unwrap().to_owned(),
        v["deviceToken"].as_str().unwrap().to_owned(),
    );
    assert!(m.closed_within(Duration::from_secs(3)));
    let connwl = format!("{client_id}|authType=connwl,securemode=-2,_ss=1,ext=3,_v=sdk-c-4.2.0|");
    let (mut d, rc) = Mqtt::connect(port, &connwl, &free_user, &token);
    assert_eq!(rc, 0, "the no-whitelist credentials connect");
    // It has the per-device ACL: a subscriber sees its publish on its own topic, not one on
    // another device's; it may subscribe to its own topics only.
    let (sub, mut conn) = platform_subscriber(&platform, &format!("/sys/{PK}/#"));
    let own = format!("/sys/{PK}/{free}/thing/event/property/post");
    for topic in [format!("/sys/{PK}/{dn}/thing/event/property/post"), own.clone()] {
        let mut body = Vec::new();
        string(&mut body, &topic);
        body.extend_from_slice(&1u16.to_be_bytes());
        body.extend_from_slice(b"{}");
        d.s.write_all(&packet(0x32, &body)).unwrap();
        d.s.flush().unwrap();
        assert!(matches!(d.next(Duration::from_secs(3)), Next::Packet(0x40, _)));
    }
    assert_eq!(next_topic(&mut conn).as_deref(), Some(own.as_str()));
    assert_eq!(next_topic(&mut conn), None, "the foreign publish was dropped");
    drop(sub);
    for (n, (filter, granted)) in [
        (format!("/sys/{PK}/{free}/thing/#"), true),
        (format!("/sys/{PK}/{dn}/#"), false),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = (n as u16 + 1).to_be_bytes().to_vec();
        string(&mut body, &filter);
        body.push(0);
        d.s.write_all(&packet(0x82, &body)).unwrap();
        d.s.flush().unwrap();
        match d.next(Duration::from_secs(3)) {
            Next::Packet(0x90, b) => assert_eq!(b[2] != 0x80, granted, "{filter}"),
            _ => panic!("no SUBACK"),
        }
    }
    // ... and the token with another client id or a wrong token is refused.
    let (_x, rc) = Mqtt::connect(port, "someone-else|x|", &free_user, &token);
    assert_ne!(rc, 0);
    let (_x, rc) = Mqtt::connect(port, &connwl, &free_user, "wrong-token");
    assert_ne!(rc, 0);
}

#[test]
fn registration_sessions_may_not_subscribe() {
    let (platform, _auth) = start("nosub");
    let port = platform.broker.tcp_port();
    let dn = provision::DEFAULT_FRESH_NAMES[0];
    let (mut m, rc) = Mqtt::connect(
        port,
        &registration_cid(dn, "register", "5"),
        &format!("{dn}&{PK}"),
        &register_sign(PS, PK, dn, "5"),
    );
    assert_eq!(rc, 0);
    let mut body = 1u16.to_be_bytes().to_vec();
    string(&mut body, "#");
    body.push(0);
    m.s.write_all(&packet(0x82, &body)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match m.next(Duration::from_millis(200)) {
            Next::Packet(0x90, b) => {
                assert_eq!(b[2], 0x80, "SUBSCRIBE refused");
                return;
            }
            Next::Closed => return,
            _ => {}
        }
    }
    panic!("no SUBACK and no close");
}

#[test]
fn bootstrap_get_and_post_name_the_platform() {
    let (platform, auth) = start("bootstrap");
    let mut h = Https::connect(auth.port(), &platform.broker.ca_file());
    let accept = "Accept: text/xml,text/javascript,text/html,application/json";
    let (status, body) = h.request("GET", "/auth/bootstrap/regionId/0", &[accept], b"");
    assert_eq!(status, 200);
    let v = json(&body);
    assert_eq!(v["data"]["resources"]["mqtt"]["host"], "localhost");
    assert_eq!(v["data"]["resources"]["mqtt"]["port"], platform.broker.tls_port());
    // Compact, as upstream's substring reader needs (no blank after a colon).
    assert!(!body.contains(": ") && !body.contains('\n'), "{body}");
    let form = format!("productKey={PK}&deviceName=regdev1&clientId={PK}.regdev1&resources=mqtt");
    let (status, body2) = h.request(
        "POST",
        "/auth/bootstrap",
        &[
            accept,
            "Content-Type: application/x-www-form-urlencoded;charset=utf-8",
        ],
        form.as_bytes(),
    );
    assert_eq!(status, 200);
    assert_eq!(body2, body);
    // The same over plain HTTP.
    let (status, body3) =
        Https::plain(auth.http_port()).request("GET", "/auth/bootstrap/regionId/1", &[accept], b"");
    assert_eq!((status, body3), (200, body));
}

#[test]
fn http_uplink_auth_topic_post_and_token_codes() {
    let (platform, auth) = start("uplink");
    let d = platform.devices()[0].clone();
    let (pk, dn) = (&d.product_key, &d.device_name);
    let topic = format!("/{pk}/{dn}/user/update");
    let (_client, mut conn) = platform_subscriber(&platform, &topic);

    let mut h = Https::connect(auth.port(), &platform.broker.ca_file());
    let sign = provision::http_auth_sign(&d.device_secret, pk, dn);
    let auth_body = format!(
        "{{\"clientId\":\"{pk}.{dn}\",\"signmethod\":\"hmacsha256\",\"deviceName\":\"{dn}\",\"productKey\":\"{pk}\",\"sign\":\"{sign}\"}}"
    );
    let (status, body) = h.request(
        "POST",
        "/auth?_v=sdk-c-4.1.0&",
        &["Content-Type: application/json"],
        auth_body.as_bytes(),
    );
    assert_eq!(status, 200);
    let v = json(&body);
    assert_eq!(v["code"], 0, "{v}");
    let token = v["info"]["token"].as_str().unwrap().to_owned();
    let bad = auth_body.replace(&sign, &"0".repeat(64));
    let (_, body) = h.request(
        "POST",
        "/auth?_v=sdk-c-4.1.0&",
        &["Content-Type: application/json"],
        bad.as_bytes(),
    );
    assert!(json(&body).get("info").is_none(), "{body}");

    let post = |h: &mut Https, token: Option<&str>, topic: &str| {
        let pw = token.map(|t| format!("Password: {t}"));
        let mut headers = vec!["Content-Type: application/octet-stream"];
        if let Some(p) = &pw {
            headers.push(p);
        }
        let (status, body) = h.request("POST", &format!("/topic{topic}"), &headers, b"{\"hello\":1}");
        assert_eq!(status, 200);
        json(&body)
    };
    let v = post(&mut h, Some(&token), &topic);
    assert_eq!(v["code"], 0, "{v}");
    assert!(v["info"]["messageId"].is_number());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "the subscriber never saw the post");
        if let Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) =
            conn.recv_timeout(Duration::from_millis(200))
        {
            assert_eq!(p.topic, topic);
            assert_eq!(&p.payload[..], b"{\"hello\":1}");
            break;
        }
    }
    // Another device's topic is refused.
    let v = post(&mut h, Some(&token), &format!("/{pk}/someone-else/user/update"));
    assert_eq!(v["code"], provision::code::HTTP_PUBLISH_ERROR, "{v}");
    // Token codes.
    assert_eq!(
        post(&mut h, None, &topic)["code"],
        provision::code::HTTP_TOKEN_NULL
    );
    assert_eq!(
        post(&mut h, Some("nope"), &topic)["code"],
        provision::code::HTTP_TOKEN_CHECK_ERROR
    );
    Registry::update(platform.state_dir(), |r| r.expire_tokens(None, Some((pk, dn)))).unwrap();
    assert_eq!(
        post(&mut h, Some(&token), &topic)["code"],
        provision::code::HTTP_TOKEN_EXPIRED
    );
}

const EXE: &str = env!("CARGO_BIN_EXE_aiot-platform");

fn cli(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(EXE).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.code().is_some(), "{args:?}");
    (
        out.status.code().unwrap(),
        text + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn cli_products_devices_activations_tokens_and_notify() {
    let (platform, auth) = start("cli");
    let dir = platform.state_dir().to_str().unwrap().to_owned();
    let (rc, out) = cli(&[
        "prov",
        "product-add",
        "--state-dir",
        &dir,
        "--secret",
        "ps9",
        "pk9",
    ]);
    assert_eq!((rc, out.trim()), (0, "pk9 ps9"));
    let (rc, out) = cli(&["prov", "device-add", "--state-dir", &dir, "pk9", "dA", "dB"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.starts_with("pk9/dA ") && out.contains("\npk9/dB "), "{out}");
    let (rc, _) = cli(&["prov", "device-add", "--state-dir", &dir, "nope", "dA"]);
    assert_eq!(rc, 2, "unknown product");
    let (_, out) = cli(&["prov", "show", "--state-dir", &dir]);
    assert!(
        out.contains("product pk9 secret ps9") && out.contains("  dA: pre-registered, not activated"),
        "{out}"
    );

    let mut h = Https::connect(auth.port(), &platform.broker.ca_file());
    let sign = register_sign("ps9", "pk9", "dA", "9");
    let (_, body) = h.request(
        "POST",
        "/auth/register/device",
        &["Content-Type: application/x-www-form-urlencoded"],
        format!("productKey=pk9&deviceName=dA&random=9&sign={sign}&signMethod=hmacsha256").as_bytes(),
    );
    assert_eq!(json(&body)["code"], 200, "{body}");
    let (_, out) = cli(&["prov", "show", "--state-dir", &dir]);
    assert!(out.contains("  dA: pre-registered, activated via https"), "{out}");

    let d = platform.devices()[0].clone();
    let token = Registry::update(platform.state_dir(), |r| {
        r.issue_token(&d.product_key, &d.device_name)
    })
    .unwrap();
    let dev = format!("{}/{}", d.product_key, d.device_name);
    let (rc, out) = cli(&["prov", "expire-token", "--state-dir", &dir, "--device", &dev]);
    assert_eq!((rc, out.trim()), (0, "expired 1 token(s)"));
    assert!(Registry::load(platform.state_dir()).tokens[&token].expired);

    // The bootstrap notify reaches the device without a SUBSCRIBE; its reply is printed.
    let (mut m, rc) = Mqtt::connect(
        platform.broker.tcp_port(),
        &format!("{}.{}|securemode=3|", d.product_key, d.device_name),
        &d.username(),
        &d.password(),
    );
    assert_eq!(rc, 0);
    let args = [
        "prov",
        "notify",
        "--state-dir",
        &dir,
        "--device",
        &dev,
        "--cmd",
        "0",
    ]
    .map(str::to_owned);
    let notify = std::thread::spawn(move || {
        let out = std::process::Command::new(EXE).args(&args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    });
    let topic = format!("/sys/{}/{}/thing/bootstrap/notify", d.product_key, d.device_name);
    let (t, payload) = m.next_publish(Duration::from_secs(10)).expect("the notify");
    assert_eq!(t, topic);
    let v = json(&payload);
    assert_eq!(v["params"]["cmd"], 0);
    assert_eq!(v["version"], "1.0");
    let reply = format!(
        "{{\"id\":\"{}\",\"code\":200,\"data\":{{}}}}",
        v["id"].as_str().unwrap()
    );
    let mut body = Vec::new();
    string(&mut body, &format!("{topic}_reply"));
    body.extend_from_slice(reply.as_bytes());
    m.s.write_all(&packet(0x30, &body)).unwrap();
    let (code, out) = notify.join().unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.trim(), reply);
}

#[test]
fn exec_exports_the_auth_endpoint_and_the_registration_product() {
    let (rc, out) = cli(&[
        "exec",
        "--",
        "sh",
        "-c",
        "echo $AIOT_AUTH_HOST $AIOT_REG_PRODUCT_KEY $AIOT_REG_DEVICE_NAME $AIOT_REG_ACTIVATED_DEVICE_NAME; \
         test -n \"$AIOT_AUTH_PORT\" && test -S \"$AIOT_STATE_DIR/prov.sock\" && \
         \"$AIOT_PLATFORM\" prov show --state-dir \"$AIOT_STATE_DIR\"",
    ]);
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.starts_with(&format!(
            "localhost {PK} {} {}\n",
            provision::DEFAULT_FRESH_NAMES[0],
            provision::DEFAULT_ACTIVATED_NAME
        )),
        "{out}"
    );
    assert!(out.contains(&format!("product {PK} secret {PS}")), "{out}");
}

#[test]
fn mqtt_registration_over_tls_and_downlinks_reach_the_registered_device() {
    let (platform, _auth) = start("tls");
    let (port, ca) = (platform.broker.tls_port(), platform.broker.ca_file());
    let dn = provision::DEFAULT_FRESH_NAMES[0];
    let user = format!("{dn}&{PK}");
    let (mut m, rc) = Mqtt::connect_via(
        port,
        Some(&ca),
        &registration_cid(dn, "register", "4294967295"),
        &user,
        &register_sign(PS, PK, dn, "4294967295"),
    );
    assert_eq!(rc, 0);
    let (topic, payload) = m
        .next_publish(Duration::from_secs(5))
        .expect("the answer over TLS");
    assert_eq!(topic, "/ext/register");
    assert!(m.closed_within(Duration::from_secs(3)));
    let ds = json(&payload)["deviceSecret"].as_str().unwrap().to_owned();
    let (mut d, rc) = Mqtt::connect_via(
        port,
        Some(&ca),
        &format!("{PK}.{dn}|securemode=2|"),
        &user,
        &aliyun_password(PK, dn, &ds),
    );
    assert_eq!(rc, 0);
    // The platform's messages on its system topics reach it without a SUBSCRIBE.
    let (user_p, pass_p) = platform.broker.platform_credentials();
    let mut opts = rumqttc::MqttOptions::new("prov-test-pub", "127.0.0.1", platform.broker.tcp_port());
    opts.set_credentials(user_p, pass_p);
    let (client, mut conn) = rumqttc::Client::new(opts, 10);
    let notify = format!("/sys/{PK}/{dn}/thing/bootstrap/notify");
    client
        .publish(
            &notify,
            rumqttc::QoS::AtLeastOnce,
            false,
            "{\"id\":\"1\",\"params\":{\"cmd\":0}}",
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)))) =
            conn.recv_timeout(Duration::from_millis(100))
        {
            break;
        }
    }
    let (t, _) = d.next_publish(Duration::from_secs(5)).expect("the notify");
    assert_eq!(t, notify);
}

#[test]
fn malformed_requests_get_answers_and_the_connection_stays_usable() {
    let (platform, auth) = start("malformed");
    let mut h = Https::connect(auth.port(), &platform.broker.ca_file());
    let (status, _) = h.request("GET", "/auth/register/device", &[], b"");
    assert_eq!(status, 404);
    let (status, _) = h.request("POST", "/nothing/here", &[], b"x");
    assert_eq!(status, 404);
    let (status, body) = h.request(
        "POST",
        "/auth/register/device",
        &[],
        b"productKey=&&&=x&deviceName",
    );
    assert_eq!(status, 200);
    assert_eq!(json(&body)["code"], provision::code::PARAM_ERROR, "{body}");
    let (status, body) = h.request("POST", "/auth?_v=1&", &[], &[0xff, 0xfe, b'{']);
    assert_eq!(status, 200);
    assert_eq!(json(&body)["code"], provision::code::HTTP_PARAM_ERROR, "{body}");
    let (status, body) = h.request(
        "POST",
        "/auth?_v=1&",
        &[],
        b"{\"productKey\":1,\"deviceName\":[],\"sign\":{}}",
    );
    assert_eq!(
        (status, json(&body)["code"].as_u64()),
        (200, Some(provision::code::HTTP_PARAM_ERROR as u64))
    );
    // Still the same connection, still answering.
    let v = register(&mut h, provision::DEFAULT_FRESH_NAMES[0], PS);
    assert_eq!(v["code"], 200, "{v}");
    // A body over the limit is refused (the server may then close the connection).
    let mut big = Https::connect(auth.port(), &platform.broker.ca_file());
    let (status, _) = big.request("POST", "/topic/x", &["Password: t"], &vec![b'a'; 300 * 1024]);
    assert_eq!(status, 413);
}

/// Sends one registration request and reads every byte until the endpoint closes.
fn raw_register(port: u16, tls_ca: Option<&Path>, dn: &str) -> Vec<u8> {
    let mut s = Stream::open(port, tls_ca);
    s.set_read_timeout(Some(Duration::from_secs(10)));
    let body = register_body(dn, PS);
    let req = format!(
        "POST /auth/register/device HTTP/1.1\r\nHost: localhost\r\nContent-Type: \
         application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    s.flush().unwrap();
    let mut out = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
}

fn arm(dir: &Path, kind: &str, count: u32, size: Option<usize>) {
    let size = size.map(|s| s.to_string());
    let mut args = vec!["prov", "fault", "--state-dir", dir.to_str().unwrap(), "--count"];
    let count = count.to_string();
    args.push(&count);
    if let Some(s) = &size {
        args.extend(["--size", s]);
    }
    args.push(kind);
    let (code, out) = cli(&args);
    assert_eq!(code, 0, "{out}");
}

/// (head, body) of an HTTP answer.
fn split_answer(raw: &[u8]) -> (String, Vec<u8>) {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header") + 4;
    (
        String::from_utf8_lossy(&raw[..end]).into_owned(),
        raw[end..].to_vec(),
    )
}

fn content_length(head: &str) -> Option<usize> {
    head.lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map(|v| v.trim().parse().unwrap())
}

#[test]
fn https_faults_answer_each_hostile_kind_once_then_normal() {
    let (platform, auth) = start("https-fault");
    let dir = platform.state_dir().to_owned();
    let (plain, tls) = (auth.http_port(), auth.port());
    let ca = platform.broker.ca_file();
    let dn = provision::DEFAULT_FRESH_NAMES[0];

    arm(&dir, "bad-json", 2, None);
    for port_ca in [(plain, None), (tls, Some(ca.as_path()))] {
        let (head, body) = split_answer(&raw_register(port_ca.0, port_ca.1, dn));
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert_eq!(content_length(&head), Some(body.len()));
        assert!(serde_json::from_slice::<Value>(&body).is_err());
    }
    arm(&dir, "no-secret", 1, None);
    let (_, body) = split_answer(&raw_register(plain, None, dn));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["code"].as_u64(), v["data"]["deviceName"].as_str()),
        (Some(200), Some(dn))
    );
    assert!(v["data"].get("deviceSecret").is_none(), "{v}");
    arm(&dir, "huge-secret", 1, Some(100_000));
    let (head, body) = split_answer(&raw_register(tls, Some(&ca), dn));
    assert_eq!(content_length(&head), Some(body.len()));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["data"]["deviceSecret"].as_str().unwrap().len(), 100_000);
    arm(&dir, "status-500", 1, None);
    let (head, body) = split_answer(&raw_register(plain, None, dn));
    assert!(head.starts_with("HTTP/1.1 500 "), "{head}");
    assert_eq!(content_length(&head), Some(body.len()));
    arm(&dir, "short-body", 1, None);
    let (head, body) = split_answer(&raw_register(tls, Some(&ca), dn));
    assert_eq!(content_length(&head), Some(body.len() + 64), "{head}");
    arm(&dir, "no-length", 1, None);
    let (head, body) = split_answer(&raw_register(plain, None, dn));
    assert!(
        head.starts_with("HTTP/1.1 200 ") && content_length(&head).is_none(),
        "{head}"
    );
    assert!(!body.is_empty());
    arm(&dir, "not-http", 1, None);
    let raw = raw_register(tls, Some(&ca), dn);
    assert!(raw.starts_with(b"SSH-2.0-"), "{raw:?}");
    // None of these activated the device.
    assert!(!auth.registry().products[PK].devices[dn].activated);

    // long-body: the real answer (the device is activated), then more bytes.
    arm(&dir, "long-body", 1, None);
    let (head, body) = split_answer(&raw_register(plain, None, dn));
    let n = content_length(&head).unwrap();
    assert!(body.len() > n, "{head}");
    let v: Value = serde_json::from_slice(&body[..n]).unwrap();
    assert!(
        v["data"]["deviceSecret"].as_str().is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert!(auth.registry().products[PK].devices[dn].activated);

    // Disarmed once taken: normal answers again, kept-alive connections; `off` disarms.
    let mut h = Https::plain(plain);
    let v = register(&mut h, provision::DEFAULT_FRESH_NAMES[1], PS);
    assert_eq!(v["code"], 200, "{v}");
    arm(&dir, "status-500", 3, None);
    let (code, out) = cli(&["prov", "show", "--state-dir", dir.to_str().unwrap()]);
    assert!(
        code == 0 && out.contains("fault status-500 for the next 3 answer(s)"),
        "{out}"
    );
    // Other requests on an armed endpoint get their normal answers (new connections, read
    // ahead and handed on) and take no fault.
    for port_ca in [(plain, None), (tls, Some(ca.as_path()))] {
        let mut b = match port_ca.1 {
            None => Https::plain(port_ca.0),
            Some(ca) => Https::connect(port_ca.0, ca),
        };
        let (status, body) = b.request("GET", "/auth/bootstrap/regionId/cn-shanghai", &[], b"");
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["code"], 200, "{body}");
        let (status, _) = b.request("GET", "/auth/bootstrap/regionId/again", &[], b"");
        assert_eq!(status, 200);
    }
    assert_eq!(auth.registry().fault.map(|f| f.remaining), Some(3));
    // An MQTT fault does not touch HTTPS answers and vice versa.
    arm(&dir, "off", 1, None);
    arm(&dir, "mqtt-bad-json", 1, None);
    let v = register(&mut h, provision::DEFAULT_FRESH_NAMES[1], PS);
    assert_eq!(v["code"], provision::code::ALREADY_ACTIVATED, "{v}");
    let (code, out) = cli(&["prov", "fault", "--state-dir", dir.to_str().unwrap(), "nonsense"]);
    assert_eq!(code, 2, "{out}");
}

#[test]
fn mqtt_faults_publish_hostile_answers_on_both_topics() {
    let (platform, auth) = start("mqtt-fault");
    let dir = platform.state_dir().to_owned();
    let port = platform.broker.tcp_port();
    let dn = provision::DEFAULT_FRESH_NAMES[2];
    let user = format!("{dn}&{PK}");
    let answer = |auth_type: &str| {
        let (mut m, rc) = Mqtt::connect(
            port,
            &registration_cid(dn, auth_type, "9"),
            &user,
            &register_sign(PS, PK, dn, "9"),
        );
        assert_eq!(rc, 0);
        let got = m.next_publish(Duration::from_secs(10)).expect("an answer");
        assert!(m.closed_within(Duration::from_secs(3)));
        got
    };
    arm(&dir, "mqtt-bad-json", 2, None);
    for (auth_type, topic) in [("register", "/ext/register"), ("regnwl", "/ext/regnwl")] {
        let (t, payload) = answer(auth_type);
        assert_eq!(t, topic);
        assert!(serde_json::from_str::<Value>(&payload).is_err(), "{payload}");
    }
    arm(&dir, "mqtt-no-fields", 2, None);
    for auth_type in ["register", "regnwl"] {
        let v = json(&answer(auth_type).1);
        assert_eq!(v["deviceName"], dn);
        for k in ["deviceSecret", "clientId", "deviceToken"] {
            assert!(v.get(k).is_none(), "{v}");
        }
    }
    arm(&dir, "mqtt-huge", 2, Some(1024 * 1024));
    let v = json(&answer("register").1);
    assert_eq!(v["deviceSecret"].as_str().unwrap().len(), 1024 * 1024);
    let v = json(&answer("regnwl").1);
    assert_eq!(v["deviceToken"].as_str().unwrap().len(), 1024 * 1024);
    assert_eq!(v["clientId"].as_str().unwrap().len(), 1024 * 1024);
    // Nothing was activated; the next registration is the normal one.
    assert!(!auth.registry().products[PK].devices[dn].activated);
    let v = json(&answer("register").1);
    assert!(v["deviceSecret"].as_str().is_some_and(|s| s.len() < 100), "{v}");
}
