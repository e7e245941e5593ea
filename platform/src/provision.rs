//! Device provisioning on the platform side: products with a product secret, pre-registered
//! device names, dynamic registration (HTTPS `/auth/register/device` and MQTT
//! `authType=register|regnwl`), HTTP-uplink tokens. Pure functions of the registry, testable
//! without a broker; [`crate::auth_server`] serves them.
//!
//! The registry is `<state>/provision.json`, changed under a file lock by the running platform
//! and by `aiot-platform prov ...` alike. Every change also rewrites `<state>/dyn-creds`, the
//! MQTT credentials of dynamically registered devices that the mosquitto plugin accepts
//! (`<user> <password> [<client id prefix>]`, one a line).
//!
//! Activation: on Aliyun a device counts as activated once it came online; here once its
//! credentials were handed out by a registration (or `prov device-add --activated`). A
//! pre-registered device registers once (whitelist: HTTPS or MQTT `register`); a no-whitelist
//! (`regnwl`) device name needs no pre-registration and may be activated by up to
//! [`NWL_MAX_ACTIVATIONS`] physical devices, each getting its own clientId/deviceToken (Aliyun's
//! "一型一密" page, help.aliyun.com/knowledge_detail/74006.html: at most 5 physical devices per
//! ProductKey/ProductSecret/DeviceName without pre-registration).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::devices::aliyun_password;
use crate::ota::now_ms;

/// The registry in the state folder.
pub const REGISTRY_FILE: &str = "provision.json";
/// Credentials of dynamically registered devices, read by the mosquitto plugin.
pub const CREDS_FILE: &str = "dyn-creds";
/// Unix socket on which the platform answers the plugin's registration questions.
pub const SOCKET_FILE: &str = "prov.sock";
const LOCK_FILE: &str = "provision.lock";

/// How many physical devices may activate one device name without pre-registration.
pub const NWL_MAX_ACTIVATIONS: usize = 5;

/// The product `exec`, `ota-exec` and `serve` create (AIOT_REG_* variables).
pub const DEFAULT_PRODUCT_KEY: &str = "a1RegTestPK";
pub const DEFAULT_PRODUCT_SECRET: &str = "s3cr3tProductSecretForTests001";
/// Pre-registered, not activated device names of the default product.
pub const DEFAULT_FRESH_NAMES: [&str; 3] = ["regdev1", "regdev2", "regdev3"];
/// A pre-registered device name of the default product that is already activated.
pub const DEFAULT_ACTIVATED_NAME: &str = "regdev-active";
/// A device name the default product does not know (whitelist registration refuses it).
pub const DEFAULT_UNKNOWN_NAME: &str = "regdev-unknown";

/// Business codes in the JSON answers (HTTP status 200, as the platform answers business
/// errors; upstream's dynreg then ends with "no deviceSecret", its HTTP uplink with "no token").
///
/// Where the code comes from:
/// - 6250 product not found and 6100 device not found: Aliyun's "Error codes for devices"
///   (help.aliyun.com/document_detail/120329.html, common error codes: "6250 an error occurred
///   while querying the product information", "6100 ... querying the information about the
///   specified device").
/// - 460: the same page, "the format of the parameters is invalid".
/// - Wrong sign and already activated: Aliyun's own codes for these two could not be found in
///   the reference corpora searched (docs/pages: "dynamic registration already activated error
///   code", "一型一密 动态注册 设备已激活 错误码", the device error-code pages); local codes
///   chosen from HTTP: 401 and 409. Change them here if the real ones turn up.
/// - HTTP uplink: the codes of upstream's `aiot_http_response_code_t`: 0 success, 10000 common
///   error, 10001 param error, 20001 token expired, 20002 token null, 20003 token check error,
///   30001 publish error.
pub mod code {
    pub const SUCCESS: u32 = 200;
    pub const PARAM_ERROR: u32 = 460;
    pub const PRODUCT_NOT_FOUND: u32 = 6250;
    pub const DEVICE_NOT_FOUND: u32 = 6100;
    pub const SIGN_ERROR: u32 = 401;
    pub const ALREADY_ACTIVATED: u32 = 409;
    pub const HTTP_SUCCESS: u32 = 0;
    pub const HTTP_COMMON_ERROR: u32 = 10000;
    pub const HTTP_PARAM_ERROR: u32 = 10001;
    pub const HTTP_TOKEN_EXPIRED: u32 = 20001;
    pub const HTTP_TOKEN_NULL: u32 = 20002;
    pub const HTTP_TOKEN_CHECK_ERROR: u32 = 20003;
    pub const HTTP_PUBLISH_ERROR: u32 = 30001;
}

/// One device name of a product.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegDevice {
    /// Pre-registered (whitelist): created from the CLI, with its secret.
    #[serde(default)]
    pub preregistered: bool,
    /// The device secret (issued at pre-registration, handed out by a whitelist registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_secret: Option<String>,
    /// Whether its credentials were handed out.
    #[serde(default)]
    pub activated: bool,
    /// How it was activated: `https`, `register`, `regnwl` or `cli`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at_ms: Option<u64>,
    /// No-whitelist activations: (clientId, deviceToken) each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nwl: Vec<NwlCredential>,
}

/// What a no-whitelist registration handed out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NwlCredential {
    pub client_id: String,
    pub device_token: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub product_secret: String,
    #[serde(default)]
    pub devices: BTreeMap<String, RegDevice>,
}

/// An HTTP-uplink token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub product_key: String,
    pub device_name: String,
    #[serde(default)]
    pub expired: bool,
    pub issued_at_ms: u64,
}

/// The whole registry (`provision.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    #[serde(default)]
    pub products: BTreeMap<String, Product>,
    #[serde(default)]
    pub tokens: BTreeMap<String, Token>,
    /// Hostile answers armed by `prov fault` (none: every answer is the normal one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

/// A hostile registration answer (`aiot-platform prov fault KIND`). The HTTPS kinds replace
/// answers of `POST /auth/register/device`, the `mqtt-*` kinds the payload published to an
/// MQTT registration (`/ext/register` or `/ext/regnwl`, by the request's authType).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// HTTP 200, a body that is not complete JSON.
    BadJson,
    /// HTTP 200, `{"code":200,"data":{"deviceName":..,"productKey":..},..}`: no deviceSecret.
    NoSecret,
    /// HTTP 200, a well-formed answer whose deviceSecret has `--size` bytes.
    HugeSecret,
    /// HTTP 500 with a JSON body.
    #[serde(rename = "status-500")]
    #[value(name = "status-500")]
    Status500,
    /// HTTP 200, `Content-Length` 64 more than the body sent, then the connection is closed.
    ShortBody,
    /// The real answer (the registry changes as usual) followed by bytes beyond its length.
    LongBody,
    /// HTTP 200 without `Content-Length`, then the connection is closed.
    NoLength,
    /// Not HTTP at all (an SSH banner), then the connection is closed.
    NotHttp,
    /// MQTT: a payload that is not complete JSON.
    MqttBadJson,
    /// MQTT: `{"deviceName":..,"productKey":..}` (no deviceSecret, clientId, deviceToken).
    MqttNoFields,
    /// MQTT: a well-formed answer whose secret (or clientId and deviceToken) has `--size` bytes.
    MqttHuge,
}

impl FaultKind {
    /// Whether it is an answer of the MQTT registration.
    pub fn is_mqtt(self) -> bool {
        matches!(
            self,
            FaultKind::MqttBadJson | FaultKind::MqttNoFields | FaultKind::MqttHuge
        )
    }

    /// The name on the command line.
    pub fn name(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// Armed hostile answers: the next `remaining` answers of the kind's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub kind: FaultKind,
    pub remaining: u32,
    /// Size of the huge value (`huge-secret`, `mqtt-huge`).
    pub size: usize,
    /// Which HTTPS requests take it (`prov fault --on`; registrations when absent).
    #[serde(default)]
    pub on: FaultTarget,
}

/// The HTTPS requests an armed fault answers (`prov fault --on`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FaultTarget {
    /// `POST /auth/register/device` (dynamic registration).
    #[default]
    Register,
    /// `POST /auth` (the HTTP uplink's token).
    Auth,
    /// `POST /topic/...` (the HTTP uplink's posts).
    Topic,
}

impl FaultTarget {
    /// Whether a request for `path` takes the fault.
    pub fn matches(self, path: &str) -> bool {
        match self {
            FaultTarget::Register => path == "/auth/register/device",
            FaultTarget::Auth => path == "/auth",
            FaultTarget::Topic => path.starts_with("/topic/"),
        }
    }
}

/// Default size of a huge value: 1 MiB.
pub const DEFAULT_HUGE_SIZE: usize = 1024 * 1024;
/// Largest huge value `prov fault --size` takes.
pub const MAX_HUGE_SIZE: usize = 4 * 1024 * 1024;

/// The raw bytes of a hostile HTTPS registration answer (the connection is closed after
/// them). `real` is the normal answer's body (used by `long-body` only).
pub fn https_fault_answer(f: &Fault, pk: &str, dn: &str, real: &str) -> Vec<u8> {
    let ok = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let text = match f.kind {
        FaultKind::BadJson => ok("{\"code\":200,\"data\":{\"deviceSecret\":\"a"),
        FaultKind::NoSecret => ok(&serde_json::json!({
            "code": code::SUCCESS,
            "data": {"productKey": pk, "deviceName": dn},
            "message": "success",
        })
        .to_string()),
        FaultKind::HugeSecret => ok(&serde_json::json!({
            "code": code::SUCCESS,
            "data": {"productKey": pk, "deviceName": dn, "deviceSecret": "s".repeat(f.size)},
            "message": "success",
        })
        .to_string()),
        FaultKind::Status500 => {
            let body = "{\"code\":500,\"message\":\"internal error\"}";
            format!(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        }
        FaultKind::ShortBody => {
            let body = "{\"code\":200,\"data\":{\"deviceSecret\":\"";
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len() + 64
            )
        }
        FaultKind::LongBody => ok(real) + "{\"code\":200,\"data\":{\"deviceSecret\":\"trailing\"}}",
        FaultKind::NoLength => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
            serde_json::json!({"code": code::SUCCESS, "data": {"deviceSecret": "no-length"}})
        ),
        FaultKind::NotHttp => "SSH-2.0-OpenSSH_9.2p1\r\n\r\n".to_owned(),
        FaultKind::MqttBadJson | FaultKind::MqttNoFields | FaultKind::MqttHuge => ok(real),
    };
    text.into_bytes()
}

/// The payload of a hostile MQTT registration answer on `topic` (`/ext/register` or
/// `/ext/regnwl`).
pub fn mqtt_fault_payload(f: &Fault, topic: &str, pk: &str, dn: &str) -> String {
    match f.kind {
        FaultKind::MqttNoFields => serde_json::json!({"productKey": pk, "deviceName": dn}).to_string(),
        FaultKind::MqttHuge if topic == "/ext/regnwl" => serde_json::json!({
            "clientId": "c".repeat(f.size),
            "productKey": pk,
            "deviceName": dn,
            "deviceToken": "t".repeat(f.size),
        })
        .to_string(),
        FaultKind::MqttHuge => serde_json::json!({
            "productKey": pk,
            "deviceName": dn,
            "deviceSecret": "s".repeat(f.size),
        })
        .to_string(),
        _ => "{\"deviceSecret\":\"a".to_owned(),
    }
}

/// Why a registration or HTTP-uplink request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    BadRequest(String),
    UnknownProduct,
    UnknownDevice,
    BadSign,
    AlreadyActivated,
}

impl Refusal {
    /// The registration answer's code.
    pub fn code(&self) -> u32 {
        match self {
            Refusal::BadRequest(_) => code::PARAM_ERROR,
            Refusal::UnknownProduct => code::PRODUCT_NOT_FOUND,
            Refusal::UnknownDevice => code::DEVICE_NOT_FOUND,
            Refusal::BadSign => code::SIGN_ERROR,
            Refusal::AlreadyActivated => code::ALREADY_ACTIVATED,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::BadRequest(why) => format!("request parameter error: {why}"),
            Refusal::UnknownProduct => "product not found".into(),
            Refusal::UnknownDevice => "device not found".into(),
            Refusal::BadSign => "sign check error".into(),
            Refusal::AlreadyActivated => "device already activated".into(),
        }
    }
}

fn hmac_hex(key: &str, msg: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(msg.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// Upper-case hex HMAC-SHA256(productSecret, `deviceName<dn>productKey<pk>random<r>`): the sign
/// of HTTPS registration and the MQTT password of `authType=register|regnwl`.
pub fn register_sign(product_secret: &str, pk: &str, dn: &str, random: &str) -> String {
    hmac_hex(
        product_secret,
        &format!("deviceName{dn}productKey{pk}random{random}"),
    )
}

/// Upper-case hex HMAC-SHA256(deviceSecret, `clientId<pk>.<dn>deviceName<dn>productKey<pk>`): the
/// sign of the HTTP uplink's `/auth`.
pub fn http_auth_sign(device_secret: &str, pk: &str, dn: &str) -> String {
    hmac_hex(
        device_secret,
        &format!("clientId{pk}.{dn}deviceName{dn}productKey{pk}"),
    )
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    if fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        use std::hash::{BuildHasher, Hasher};
        for (i, b) in buf.iter_mut().enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            *b = h.finish() as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A name usable as productKey or deviceName here: Aliyun's characters (letters, digits and
/// `-_@.:`), 1..64 bytes. Keeps the registry, the credentials file and topics well-formed.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_@.:".contains(&b))
}

/// Parses `a=1&b=2` (no URL decoding: upstream sends its fields as they are).
pub fn parse_form(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

impl Registry {
    /// Reads `<state>/provision.json` (empty when missing or unreadable).
    pub fn load(state_dir: &Path) -> Registry {
        fs::read_to_string(state_dir.join(REGISTRY_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Changes the registry under the state folder's lock; writes it and the plugin's
    /// credentials file back (atomically) afterwards.
    pub fn update<T>(state_dir: &Path, f: impl FnOnce(&mut Registry) -> T) -> std::io::Result<T> {
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(state_dir.join(LOCK_FILE))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a file descriptor we own; released when `lock` closes.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut reg = Registry::load(state_dir);
        let out = f(&mut reg);
        let text = serde_json::to_string_pretty(&reg).map_err(std::io::Error::other)?;
        write_atomically(&state_dir.join(REGISTRY_FILE), text.as_bytes())?;
        write_atomically(&state_dir.join(CREDS_FILE), reg.creds_text().as_bytes())?;
        drop(lock);
        Ok(out)
    }

    /// The plugin's credentials file: `<dn>&<pk> <password> [<client id prefix>]` per line, for
    /// activated whitelist devices (their Aliyun MQTT password) and each no-whitelist activation
    /// (the deviceToken, only with a client id starting with `<clientId>|`).
    pub fn creds_text(&self) -> String {
        let mut out = String::new();
        for (pk, p) in &self.products {
            for (dn, d) in &p.devices {
                if !d.activated {
                    continue;
                }
                if let Some(ds) = &d.device_secret {
                    out.push_str(&format!("{dn}&{pk} {}\n", aliyun_password(pk, dn, ds)));
                }
                for c in &d.nwl {
                    out.push_str(&format!("{dn}&{pk} {} {}\n", c.device_token, c.client_id));
                }
            }
        }
        out
    }

    /// Creates (or keeps) a product; a given secret replaces the old one.
    pub fn add_product(&mut self, pk: &str, secret: &str) {
        self.products.entry(pk.to_owned()).or_default().product_secret = secret.to_owned();
    }

    /// Pre-registers `dn` under `pk` (which must exist) with a new secret unless it has one.
    pub fn preregister(&mut self, pk: &str, dn: &str, activated: bool) -> Result<&RegDevice, String> {
        let p = self
            .products
            .get_mut(pk)
            .ok_or_else(|| format!("no product {pk} (create it with `prov product-add`)"))?;
        let d = p.devices.entry(dn.to_owned()).or_default();
        d.preregistered = true;
        if d.device_secret.is_none() {
            d.device_secret = Some(random_hex(16));
        }
        if activated && !d.activated {
            d.activated = true;
            d.via = Some("cli".into());
            d.activated_at_ms = Some(now_ms());
        }
        Ok(d)
    }

    fn product_for(&self, pk: &str) -> Result<&Product, Refusal> {
        self.products.get(pk).ok_or(Refusal::UnknownProduct)
    }

    /// A whitelist registration (HTTPS or MQTT `register`) whose sign was already checked:
    /// hands out the device secret and marks the device activated.
    fn activate_whitelist(&mut self, pk: &str, dn: &str, via: &str) -> Result<String, Refusal> {
        let p = self.products.get_mut(pk).ok_or(Refusal::UnknownProduct)?;
        let d = p
            .devices
            .get_mut(dn)
            .filter(|d| d.preregistered)
            .ok_or(Refusal::UnknownDevice)?;
        if d.activated {
            return Err(Refusal::AlreadyActivated);
        }
        let ds = d.device_secret.get_or_insert_with(|| random_hex(16)).clone();
        d.activated = true;
        d.via = Some(via.to_owned());
        d.activated_at_ms = Some(now_ms());
        Ok(ds)
    }

    /// HTTPS `/auth/register/device` with its form fields: the device secret, or why not.
    pub fn register_https(&mut self, form: &BTreeMap<String, String>) -> Result<String, Refusal> {
        let field = |k: &str| {
            form.get(k)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Refusal::BadRequest(format!("{k} missing")))
        };
        let (pk, dn, random, sign) = (
            field("productKey")?,
            field("deviceName")?,
            field("random")?,
            field("sign")?,
        );
        if let Some(m) = form.get("signMethod") {
            if !m.eq_ignore_ascii_case("hmacsha256") {
                return Err(Refusal::BadRequest(format!("signMethod {m} not supported")));
            }
        }
        let p = self.product_for(pk)?;
        if !register_sign(&p.product_secret, pk, dn, random).eq_ignore_ascii_case(sign) {
            return Err(Refusal::BadSign);
        }
        self.activate_whitelist(pk, dn, "https")
    }

    /// An MQTT CONNECT with `authType=register|regnwl`: the topic and payload of the answer,
    /// or why it is refused (the plugin then refuses the CONNECT).
    pub fn register_mqtt(
        &mut self,
        client_id: &str,
        username: &str,
        password: &str,
    ) -> Result<(String, String), Refusal> {
        let bad = |why: &str| Refusal::BadRequest(why.to_owned());
        let (dn, pk) = username
            .split_once('&')
            .ok_or_else(|| bad("user name is not <dn>&<pk>"))?;
        if !valid_name(dn) || !valid_name(pk) {
            return Err(bad("bad productKey or deviceName"));
        }
        let (head, rest) = client_id
            .split_once('|')
            .ok_or_else(|| bad("client id without |...|"))?;
        if head != format!("{dn}.{pk}") {
            return Err(bad("client id does not start with <dn>.<pk>"));
        }
        let params: BTreeMap<&str, &str> = rest
            .trim_end_matches('|')
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let random = params.get("random").ok_or_else(|| bad("random missing"))?;
        let auth_type = *params.get("authType").ok_or_else(|| bad("authType missing"))?;
        let p = self.product_for(pk)?;
        if !register_sign(&p.product_secret, pk, dn, random).eq_ignore_ascii_case(password) {
            return Err(Refusal::BadSign);
        }
        match auth_type {
            "register" => {
                let ds = self.activate_whitelist(pk, dn, "register")?;
                let payload = serde_json::json!({"productKey": pk, "deviceName": dn, "deviceSecret": ds});
                Ok(("/ext/register".into(), payload.to_string()))
            }
            "regnwl" => {
                let p = self.products.get_mut(pk).ok_or(Refusal::UnknownProduct)?;
                let d = p.devices.entry(dn.to_owned()).or_default();
                if d.nwl.len() >= NWL_MAX_ACTIVATIONS || (d.activated && d.nwl.is_empty()) {
                    return Err(Refusal::AlreadyActivated);
                }
                let cred = NwlCredential {
                    client_id: format!("{pk}.{dn}.{}", random_hex(4)),
                    device_token: random_hex(16),
                };
                d.nwl.push(cred.clone());
                d.activated = true;
                d.via = Some("regnwl".into());
                d.activated_at_ms.get_or_insert(now_ms());
                let payload = serde_json::json!({
                    "clientId": cred.client_id,
                    "productKey": pk,
                    "deviceName": dn,
                    "deviceToken": cred.device_token,
                });
                Ok(("/ext/regnwl".into(), payload.to_string()))
            }
            other => Err(bad(&format!("authType {other} is not register or regnwl"))),
        }
    }

    /// Arms `count` hostile answers of `kind` (0: disarms).
    pub fn set_fault(&mut self, kind: FaultKind, count: u32, size: usize) {
        self.set_fault_on(kind, count, size, FaultTarget::Register);
    }

    /// [`Registry::set_fault`] for the HTTPS requests of `on`.
    pub fn set_fault_on(&mut self, kind: FaultKind, count: u32, size: usize, on: FaultTarget) {
        self.fault = (count > 0).then_some(Fault {
            kind,
            remaining: count,
            size,
            on,
        });
    }

    /// Takes one armed hostile answer of the MQTT side (`mqtt`) or the HTTPS side.
    pub fn take_fault(&mut self, mqtt: bool) -> Option<Fault> {
        let f = self
            .fault
            .as_mut()
            .filter(|f| f.kind.is_mqtt() == mqtt && f.remaining > 0)?;
        f.remaining -= 1;
        let taken = *f;
        if f.remaining == 0 {
            self.fault = None;
        }
        Some(taken)
    }

    /// [`Registry::register_mqtt`] with an armed `mqtt-*` fault applied: the hostile payload
    /// on the topic of the request's authType, whatever the request, the registry unchanged.
    pub fn register_mqtt_or_fault(
        &mut self,
        client_id: &str,
        username: &str,
        password: &str,
    ) -> Result<(String, String), Refusal> {
        let Some(f) = self.take_fault(true) else {
            return self.register_mqtt(client_id, username, password);
        };
        let topic = if client_id.contains("authType=regnwl") {
            "/ext/regnwl"
        } else {
            "/ext/register"
        };
        let (dn, pk) = username.split_once('&').unwrap_or((username, ""));
        Ok((topic.to_owned(), mqtt_fault_payload(&f, topic, pk, dn)))
    }

    /// The secret of an activated dynamically registered device.
    pub fn device_secret(&self, pk: &str, dn: &str) -> Option<String> {
        let d = self.products.get(pk)?.devices.get(dn)?;
        d.activated.then(|| d.device_secret.clone()).flatten()
    }

    /// Issues an HTTP-uplink token for a device.
    pub fn issue_token(&mut self, pk: &str, dn: &str) -> String {
        let token = random_hex(16);
        self.tokens.insert(
            token.clone(),
            Token {
                product_key: pk.to_owned(),
                device_name: dn.to_owned(),
                expired: false,
                issued_at_ms: now_ms(),
            },
        );
        token
    }

    /// Expires the given token, or every token of `device` (`pk/dn`), or all: how many.
    pub fn expire_tokens(&mut self, token: Option<&str>, device: Option<(&str, &str)>) -> usize {
        let mut n = 0;
        for (t, v) in self.tokens.iter_mut() {
            let hit = match (token, device) {
                (Some(want), _) => t == want,
                (None, Some((pk, dn))) => v.product_key == pk && v.device_name == dn,
                (None, None) => true,
            };
            if hit && !v.expired {
                v.expired = true;
                n += 1;
            }
        }
        n
    }
}

/// The answer of `/auth/register/device`.
pub fn register_answer(pk: &str, dn: &str, result: &Result<String, Refusal>) -> String {
    match result {
        Ok(ds) => serde_json::json!({
            "code": code::SUCCESS,
            "data": {"productKey": pk, "deviceName": dn, "deviceSecret": ds},
            "message": "success",
        })
        .to_string(),
        Err(r) => serde_json::json!({"code": r.code(), "data": {}, "message": r.message()}).to_string(),
    }
}

/// Answers of the HTTP uplink: `{"code":<c>,"message":"<m>"}` plus `info` when given.
pub fn http_answer(code: u32, message: &str, info: Option<serde_json::Value>) -> String {
    let mut v = serde_json::json!({"code": code, "message": message});
    if let Some(info) = info {
        v["info"] = info;
    }
    v.to_string()
}

/// The bootstrap answer naming the platform's MQTT endpoint.
pub fn bootstrap_answer(host: &str, port: u16) -> String {
    serde_json::json!({
        "code": 200,
        "data": {"resources": {"mqtt": {"host": host, "port": port}}},
        "message": "success",
    })
    .to_string()
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp: PathBuf = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
    }
    fs::rename(&tmp, path)
}

/// Creates the default product and its device names in `state_dir` (kept when they exist).
pub fn install_defaults(state_dir: &Path) -> std::io::Result<()> {
    Registry::update(state_dir, |r| {
        if !r.products.contains_key(DEFAULT_PRODUCT_KEY) {
            r.add_product(DEFAULT_PRODUCT_KEY, DEFAULT_PRODUCT_SECRET);
        }
        for dn in DEFAULT_FRESH_NAMES {
            let _ = r.preregister(DEFAULT_PRODUCT_KEY, dn, false);
        }
        let _ = r.preregister(DEFAULT_PRODUCT_KEY, DEFAULT_ACTIVATED_NAME, true);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registry {
        let mut r = Registry::default();
        r.add_product("pk1", "ps1");
        r.preregister("pk1", "dn1", false).unwrap();
        r.preregister("pk1", "old", true).unwrap();
        r
    }

    #[test]
    fn faults_count_down_per_side_and_leave_the_registry_alone() {
        let mut r = reg();
        r.set_fault(FaultKind::MqttNoFields, 2, 0);
        assert_eq!(r.take_fault(false), None, "an MQTT fault is not an HTTPS one");
        let cid = "dn1.pk1|random=1,authType=register,securemode=2,signmethod=hmacsha256|";
        for _ in 0..2 {
            let (topic, payload) = r.register_mqtt_or_fault(cid, "dn1&pk1", "not-the-sign").unwrap();
            assert_eq!(topic, "/ext/register");
            assert!(!payload.contains("deviceSecret"), "{payload}");
        }
        assert_eq!(r.fault, None);
        assert!(!r.products["pk1"].devices["dn1"].activated);
        assert_eq!(
            r.register_mqtt_or_fault(cid, "dn1&pk1", "not-the-sign"),
            Err(Refusal::BadSign)
        );
        r.set_fault(FaultKind::ShortBody, 1, 0);
        let f = r.take_fault(false).unwrap();
        let raw = String::from_utf8(https_fault_answer(&f, "pk1", "dn1", "")).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let length: usize = head.split("Content-Length: ").nth(1).unwrap().parse().unwrap();
        assert_eq!(length, body.len() + 64);
        assert_eq!(r.take_fault(false), None);
        r.set_fault(FaultKind::BadJson, 0, 0);
        assert_eq!(r.fault, None, "count 0 disarms");
    }

    fn form(pk: &str, dn: &str, ps: &str) -> BTreeMap<String, String> {
        let sign = register_sign(ps, pk, dn, "1234").to_lowercase();
        parse_form(&format!(
            "productKey={pk}&deviceName={dn}&random=1234&sign={sign}&signMethod=hmacsha256"
        ))
    }

    #[test]
    fn sign_vectors() {
        // printf 'deviceNamedn1productKeypk1random1234' | openssl dgst -sha256 -hmac ps1
        assert_eq!(
            register_sign("ps1", "pk1", "dn1", "1234"),
            "21FE474DB856CE913FF53BB8A52C5077E28649EBFFC744D491F29837575A43B2"
        );
        // printf 'clientIdpk1.dn1deviceNamedn1productKeypk1' | openssl dgst -sha256 -hmac ds1
        assert_eq!(
            http_auth_sign("ds1", "pk1", "dn1"),
            "0DB82E119EEB7676EA91EC769EB466F015181BAE0F31F71CB75AD3EC7E098210"
        );
    }

    #[test]
    fn https_registration_cases() {
        let mut r = reg();
        let ds = r.register_https(&form("pk1", "dn1", "ps1")).unwrap();
        assert_eq!(Some(ds.clone()), r.device_secret("pk1", "dn1"));
        assert_eq!(
            r.register_https(&form("pk1", "dn1", "ps1")),
            Err(Refusal::AlreadyActivated)
        );
        assert_eq!(
            r.register_https(&form("pk1", "old", "ps1")),
            Err(Refusal::AlreadyActivated)
        );
        assert_eq!(
            r.register_https(&form("pk1", "nobody", "ps1")),
            Err(Refusal::UnknownDevice)
        );
        assert_eq!(
            r.register_https(&form("pk1", "dn1", "wrong")),
            Err(Refusal::BadSign)
        );
        assert_eq!(
            r.register_https(&form("pk9", "dn1", "ps1")),
            Err(Refusal::UnknownProduct)
        );
        assert!(matches!(
            r.register_https(&parse_form("productKey=pk1")),
            Err(Refusal::BadRequest(_))
        ));
        assert!(r
            .creds_text()
            .contains(&format!("dn1&pk1 {}\n", aliyun_password("pk1", "dn1", &ds))));
        let answer = register_answer("pk1", "dn1", &Ok(ds.clone()));
        assert_eq!(
            answer,
            format!(
                "{{\"code\":200,\"data\":{{\"deviceName\":\"dn1\",\"deviceSecret\":\"{ds}\",\"productKey\":\"pk1\"}},\"message\":\"success\"}}"
            )
        );
    }

    #[test]
    fn mqtt_registration_cases() {
        let mut r = reg();
        let cid = |dn: &str, t: &str| {
            format!("{dn}.pk1|random=77,authType={t},securemode=2,signmethod=hmacsha256|")
        };
        let pw = |dn: &str| register_sign("ps1", "pk1", dn, "77");
        let (topic, payload) = r
            .register_mqtt(&cid("dn1", "register"), "dn1&pk1", &pw("dn1"))
            .unwrap();
        assert_eq!(topic, "/ext/register");
        let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(
            v["deviceSecret"].as_str(),
            r.device_secret("pk1", "dn1").as_deref()
        );
        assert_eq!(
            r.register_mqtt(&cid("dn1", "register"), "dn1&pk1", &pw("dn1")),
            Err(Refusal::AlreadyActivated)
        );
        assert_eq!(
            r.register_mqtt(&cid("dn1", "register"), "dn1&pk1", "00"),
            Err(Refusal::BadSign)
        );
        // No whitelist: any name, up to 5 activations, each its own token.
        for i in 0..NWL_MAX_ACTIVATIONS {
            let (topic, payload) = r
                .register_mqtt(&cid("free", "regnwl"), "free&pk1", &pw("free"))
                .unwrap();
            assert_eq!(topic, "/ext/regnwl", "{i}");
            let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
            let (c, t) = (
                v["clientId"].as_str().unwrap(),
                v["deviceToken"].as_str().unwrap(),
            );
            assert!(r.creds_text().contains(&format!("free&pk1 {t} {c}\n")));
        }
        assert_eq!(
            r.register_mqtt(&cid("free", "regnwl"), "free&pk1", &pw("free")),
            Err(Refusal::AlreadyActivated)
        );
        assert!(matches!(
            r.register_mqtt(&cid("dn1", "connwl"), "dn1&pk1", &pw("dn1")),
            Err(Refusal::BadRequest(_))
        ));
        assert!(matches!(
            r.register_mqtt("pk1.dn1|random=77,authType=register|", "dn1&pk1", &pw("dn1")),
            Err(Refusal::BadRequest(_))
        ));
    }

    #[test]
    fn tokens_expire() {
        let mut r = reg();
        let a = r.issue_token("pk1", "dn1");
        let b = r.issue_token("pk1", "dn2");
        assert_eq!(r.expire_tokens(None, Some(("pk1", "dn1"))), 1);
        assert!(r.tokens[&a].expired && !r.tokens[&b].expired);
        assert_eq!(r.expire_tokens(Some(&b), None), 1);
        assert_eq!(r.expire_tokens(None, None), 0);
    }

    #[test]
    fn names() {
        assert!(valid_name("a1B-_@.:9"));
        assert!(!valid_name("a b") && !valid_name("") && !valid_name("a/b") && !valid_name("a&b"));
    }
}
