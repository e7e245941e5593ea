//! The two messages bootstrap reads, parsed as JSON: the service's answer (the MQTT endpoint)
//! and the platform's notify. Reasons for a refusal never quote the message.

use serde_json::Value;

/// Longest host name accepted (DNS: 253 characters).
pub const MAX_HOST_LEN: usize = 253;
/// Longest notify id echoed in the reply.
pub const MAX_ID_LEN: usize = 64;

/// The MQTT endpoint of an answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// `ip`, when the answer has one.
    pub ip: Option<IpField>,
}

/// The answer's `ip`: a usable address, or why it is not one.
#[derive(Debug, PartialEq, Eq)]
pub enum IpField {
    Address(String),
    Unusable(String),
}

fn describe_not_json(body: &[u8], e: &serde_json::Error) -> String {
    format!(
        "not JSON ({} bytes, line {} column {})",
        body.len(),
        e.line(),
        e.column()
    )
}

/// The object naming the endpoint: `data.resources.mqtt` (Aliyun's answer), else the first
/// object holding a `host` key, depth first (upstream takes the first `host` anywhere).
fn endpoint_object(v: &Value) -> Option<&serde_json::Map<String, Value>> {
    let shaped = v
        .get("data")
        .and_then(|d| d.get("resources"))
        .and_then(|r| r.get("mqtt"))
        .and_then(Value::as_object)
        .filter(|m| m.contains_key("host"));
    shaped.or_else(|| first_with_host(v, 0))
}

fn first_with_host(v: &Value, depth: u32) -> Option<&serde_json::Map<String, Value>> {
    // serde_json refuses nesting over 128 levels already; this bound is for clarity.
    if depth > 128 {
        return None;
    }
    match v {
        Value::Object(m) if m.contains_key("host") => Some(m),
        Value::Object(m) => m.values().find_map(|c| first_with_host(c, depth + 1)),
        Value::Array(a) => a.iter().find_map(|c| first_with_host(c, depth + 1)),
        _ => None,
    }
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= MAX_HOST_LEN
        && h.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b'"')
}

/// A port given as a JSON number or a digit string, 1..=65535.
fn port_of(v: &Value) -> Option<u16> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) if !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()?
        }
        _ => return None,
    };
    u16::try_from(n).ok().filter(|p| *p != 0)
}

fn ip_of(v: &Value) -> IpField {
    match v {
        Value::String(s) if s.len() > crate::mqtt::backup_ip::MAX_BACKUP_IP_LEN => {
            IpField::Unusable(format!("ip of {} characters (at most 15)", s.len()))
        }
        Value::String(s) if s.parse::<std::net::IpAddr>().is_ok() => IpField::Address(s.clone()),
        Value::String(_) => IpField::Unusable("ip is not an IP address".into()),
        _ => IpField::Unusable("ip is not a string".into()),
    }
}

/// The MQTT endpoint of a bootstrap answer body, or why there is none.
pub fn endpoint(body: &[u8]) -> Result<Endpoint, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| describe_not_json(body, &e))?;
    let Some(m) = endpoint_object(&v) else {
        return Err(match v.get("code") {
            Some(Value::Number(c)) => format!("no host (code {c})"),
            _ => "no host".into(),
        });
    };
    let host = match m.get("host") {
        Some(Value::String(h)) if valid_host(h) => h.clone(),
        Some(Value::String(h)) if h.len() > MAX_HOST_LEN => {
            return Err(format!("host of {} characters", h.len()))
        }
        Some(Value::String(_)) => return Err("host is empty or not a host name".into()),
        _ => return Err("host is not a string".into()),
    };
    let port = match m.get("port") {
        None => return Err("no port".into()),
        Some(p) => port_of(p).ok_or_else(|| "port is not a number from 1 to 65535".to_owned())?,
    };
    Ok(Endpoint {
        host,
        port,
        ip: m.get("ip").map(ip_of),
    })
}

/// A notify's content: the id to echo and the command.
#[derive(Debug, PartialEq, Eq)]
pub struct Notify {
    pub id: String,
    pub cmd: u32,
}

/// Why a notify was refused (the event it raises).
#[derive(Debug, PartialEq, Eq)]
pub enum NotifyRefused {
    /// Not JSON, or no usable `id`, or no `cmd`.
    InvalidResponse(String),
    /// `cmd` is not an unsigned 32-bit number.
    InvalidCmd(String),
}

fn cmd_of(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) if !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// The id as echoed in the reply: a string (printable ASCII) or an unsigned integer.
fn id_of(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) if s.is_empty() => Err("id is empty".into()),
        Value::String(s) if s.len() > MAX_ID_LEN => Err(format!("id of {} characters", s.len())),
        Value::String(s) if s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') => {
            Ok(s.clone())
        }
        Value::String(_) => Err("id has characters an id never has".into()),
        Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        _ => Err("id is not a string or an unsigned number".into()),
    }
}

/// Parses `/sys/{pk}/{dn}/thing/bootstrap/notify`: `{"id":"..","version":"1.0","params":{"cmd":N}}`
/// (`cmd` also accepted at the top level).
pub fn notify(payload: &[u8]) -> Result<Notify, NotifyRefused> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| NotifyRefused::InvalidResponse(describe_not_json(payload, &e)))?;
    let id = v
        .get("id")
        .ok_or_else(|| NotifyRefused::InvalidResponse("no id".into()))
        .and_then(|i| id_of(i).map_err(NotifyRefused::InvalidResponse))?;
    let cmd = v
        .get("params")
        .and_then(|p| p.get("cmd"))
        .or_else(|| v.get("cmd"))
        .ok_or_else(|| NotifyRefused::InvalidResponse("no cmd".into()))?;
    let cmd = cmd_of(cmd)
        .ok_or_else(|| NotifyRefused::InvalidCmd("cmd is not an unsigned 32-bit number".into()))?;
    Ok(Notify { id, cmd })
}

/// The automatic reply: `{"id":"<id>","code":200,"data":{}}`.
pub fn notify_reply(id: &str) -> String {
    format!("{{\"id\":\"{id}\",\"code\":200,\"data\":{{}}}}")
}
