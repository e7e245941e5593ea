//! Messages on `/shadow/get/{pk}/{dn}` (one topic handler on `/shadow/get/+/+`, no
//! SUBSCRIBE): the platform's replies to update/get/delete and its control pushes.
//!
//! Upstream scans the payload for the first `"key":` anywhere (compact JSON only, nested keys
//! taken for top-level ones) and decides between the two reply kinds by whether the text holds
//! a `"state"` key at all. We parse real JSON (serde_json) and refuse a message with a reason.
//! Keys are looked up at the top level and then inside the `payload` object (where Aliyun puts
//! `status` and `state`, and where an update reply carries its `version`), so every message
//! Aliyun sends reads as upstream reads it:
//!
//! - `method` (a string), `timestamp` (a non-negative integer, number or digit string) and
//!   `payload` (any value: a string is handed over without its quotes, anything else as
//!   written) are required;
//! - `method` `control` needs `version` → CONTROL;
//! - `method` `reply` with a `state` → GET_REPLY, which needs `version`;
//! - `method` `reply` without one → GENERIC_REPLY, which needs `status` (a string of fewer than
//!   10 bytes, looked up in `payload` first);
//! - anything else is refused. A `version` that is present but not a non-negative integer is
//!   refused where it is needed (upstream would hand over 0).

use crate::components::rawjson::{self, digits, unquoted, Members};

/// The topic filter, upstream's.
pub const TOPIC_FILTER: &str = "/shadow/get/+/+";
const TOPIC_PREFIX: &[u8] = b"/shadow/get/";
/// `status` must be shorter than this (upstream's buffer of 10 with its NUL).
pub const STATUS_MAX: usize = 10;

/// One received message (`aiot_shadow_recv_t`), borrowing the topic and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recv<'a> {
    pub product_key: &'a [u8],
    pub device_name: &'a [u8],
    pub kind: Kind<'a>,
}

/// The kind-specific part (`aiot_shadow_recv_type_t` and its data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// The answer to an update, clean-desired or delete.
    GenericReply {
        payload: &'a [u8],
        status: &'a [u8],
        timestamp: u64,
    },
    /// A change pushed by the cloud.
    Control { payload: &'a [u8], version: u64 },
    /// The answer to a get: the document.
    GetReply { payload: &'a [u8], version: u64 },
}

impl Kind<'_> {
    /// The `LK-1304` line for this kind. Upstream's two reply texts are swapped relative to
    /// the types; reproduced as is.
    pub fn log_text(&self) -> &'static str {
        match self {
            Kind::Control { .. } => "SHADOW recv control message\r\n",
            Kind::GenericReply { .. } => "SHADOW recv get_reply message\r\n",
            Kind::GetReply { .. } => "SHADOW recv generic_reply message\r\n",
        }
    }
}

/// Why a message was not handed over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

type Object<'a> = Members<'a>;

/// Product key and device name: the text after `/shadow/get/`, split at its last `/`.
pub fn device_of(topic: &[u8]) -> Result<(&[u8], &[u8]), Refused> {
    let rest = match topic.strip_prefix(TOPIC_PREFIX) {
        Some(r) => r,
        None => return refuse("topic is not /shadow/get/..."),
    };
    match rest.iter().rposition(|&b| b == b'/') {
        Some(i) if i > 0 && i + 1 < rest.len() => Ok((&rest[..i], &rest[i + 1..])),
        _ => refuse("topic names no product key and device name"),
    }
}

/// A non-negative integer of at most 64 bits, as a JSON number or a string of digits.
fn number(raw: &[u8], key: &str) -> Result<u64, Refused> {
    match digits(unquoted(raw)) {
        Some(n) => Ok(n),
        None => refuse(format!("\"{key}\" is not a decimal number of at most 64 bits")),
    }
}

/// Parses a message that arrived on `topic`.
pub fn parse<'a>(topic: &'a [u8], payload: &'a [u8]) -> Result<Recv<'a>, Refused> {
    let (product_key, device_name) = device_of(topic)?;
    let top: Object<'a> = match rawjson::object(payload) {
        Ok(o) => o,
        Err(e) if std::str::from_utf8(payload).is_err() => {
            return refuse(format!("payload is not UTF-8 JSON: {e}"))
        }
        Err(e) => return refuse(format!("payload is not a JSON object: {e}")),
    };
    let method_raw = top.get("method").ok_or(Refused("no \"method\"".into()))?;
    let method: String =
        serde_json::from_slice(method_raw).or_else(|_| refuse("\"method\" is not a string"))?;
    let body_raw = top.get("payload").ok_or(Refused("no \"payload\"".into()))?;
    let body: Option<Object<'a>> = rawjson::object(body_raw).ok();
    let find = |key: &str| top.get(key).or_else(|| body.as_ref()?.get(key));
    let ts_raw = find("timestamp").ok_or(Refused("no \"timestamp\"".into()))?;
    let timestamp = number(ts_raw, "timestamp")?;
    let payload = unquoted(body_raw);
    let version = |what: &str| match find("version") {
        Some(v) => number(v, "version"),
        None => refuse(format!("{what} without \"version\"")),
    };
    let kind = match method.as_str() {
        "control" => Kind::Control {
            payload,
            version: version("control")?,
        },
        "reply" if find("state").is_some() => Kind::GetReply {
            payload,
            version: version("get reply")?,
        },
        "reply" => {
            let raw = body
                .as_ref()
                .and_then(|b| b.get("status"))
                .or_else(|| top.get("status"))
                .ok_or(Refused("reply without \"status\"".into()))?;
            if !raw.starts_with(b"\"") {
                return refuse("\"status\" is not a string");
            }
            let status = unquoted(raw);
            if status.len() >= STATUS_MAX {
                return refuse(format!(
                    "\"status\" is {} bytes long (at most {})",
                    status.len(),
                    STATUS_MAX - 1
                ));
            }
            if status.contains(&0) || status.contains(&b'\\') {
                return refuse("\"status\" holds an escape");
            }
            Kind::GenericReply {
                payload,
                status,
                timestamp,
            }
        }
        other => return refuse(format!("unknown \"method\" {other:?}")),
    };
    Ok(Recv {
        product_key,
        device_name,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &[u8] = b"/shadow/get/a1PK/dev1";

    fn why(topic: &[u8], p: &str) -> String {
        parse(topic, p.as_bytes()).unwrap_err().0
    }

    #[test]
    fn aliyun_messages_read_as_upstream_reads_them() {
        let r = parse(
            T,
            br#"{"method":"reply","payload":{"status":"success","version":3},"timestamp":1469564576}"#,
        )
        .unwrap();
        assert_eq!((r.product_key, r.device_name), (&b"a1PK"[..], &b"dev1"[..]));
        assert_eq!(
            r.kind,
            Kind::GenericReply {
                payload: br#"{"status":"success","version":3}"#,
                status: b"success",
                timestamp: 1469564576
            }
        );
        let err = r#"{"method":"reply","payload":{"status":"error","content":{"errorcode":"409","errormessage":"version conflict"}},"timestamp":"7"}"#;
        match parse(T, err.as_bytes()).unwrap().kind {
            Kind::GenericReply {
                status: b"error",
                timestamp: 7,
                ..
            } => {}
            k => panic!("{k:?}"),
        }
        let get = r#"{"method":"reply","payload":{"status":"success","state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":5}}}},"timestamp":9,"version":4}"#;
        assert_eq!(
            parse(T, get.as_bytes()).unwrap().kind,
            Kind::GetReply {
                payload: br#"{"status":"success","state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":5}}}}"#,
                version: 4
            }
        );
        let control = r#"{ "method" : "control", "payload": {"status":"success","state":{"desired":{"a":2}}}, "version": "5", "timestamp": 10 }"#;
        match parse(T, control.as_bytes()).unwrap().kind {
            Kind::Control { version: 5, .. } => {}
            k => panic!("{k:?}"),
        }
        assert_eq!(
            parse(b"/shadow/update/pk/dn", get.as_bytes()).map(|_| ()),
            Err(Refused("topic is not /shadow/get/...".into()))
        );
    }

    #[test]
    fn malformed_messages_are_refused_with_a_reason() {
        assert_eq!(
            why(b"/shadow/get/pk", "{}"),
            "topic names no product key and device name"
        );
        assert_eq!(
            why(b"/shadow/get//dn", "{}"),
            "topic names no product key and device name"
        );
        assert!(why(T, "not json").starts_with("payload is not a JSON object"));
        assert!(why(T, "[1]").starts_with("payload is not a JSON object"));
        assert_eq!(why(T, r#"{"timestamp":1,"payload":{}}"#), "no \"method\"");
        assert_eq!(
            why(T, r#"{"method":1,"timestamp":1,"payload":{}}"#),
            "\"method\" is not a string"
        );
        assert_eq!(
            why(T, r#"{"method":"reply","payload":{"status":"x"}}"#),
            "no \"timestamp\""
        );
        assert_eq!(why(T, r#"{"method":"reply","timestamp":1}"#), "no \"payload\"");
        assert!(
            why(T, r#"{"method":"reply","timestamp":-1,"payload":{"status":"x"}}"#)
                .contains("\"timestamp\" is not")
        );
        assert_eq!(
            why(T, r#"{"method":"control","timestamp":1,"payload":{}}"#),
            "control without \"version\""
        );
        assert!(why(
            T,
            r#"{"method":"control","timestamp":1,"version":"x","payload":{}}"#
        )
        .contains("\"version\" is not"));
        assert_eq!(
            why(T, r#"{"method":"reply","timestamp":1,"payload":{"state":{}}}"#),
            "get reply without \"version\""
        );
        assert_eq!(
            why(T, r#"{"method":"reply","timestamp":1,"payload":{}}"#),
            "reply without \"status\""
        );
        assert!(why(
            T,
            r#"{"method":"reply","timestamp":1,"payload":{"status":"0123456789"}}"#
        )
        .contains("10 bytes"));
        assert_eq!(
            why(T, r#"{"method":"reply","timestamp":1,"payload":{"status":5}}"#),
            "\"status\" is not a string"
        );
        assert_eq!(
            why(T, r#"{"method":"update","timestamp":1,"payload":{}}"#),
            "unknown \"method\" \"update\""
        );
        assert!(why(T, "{\"method\":\"reply\",\"x\":\"\u{0}\"").starts_with("payload is not"));
    }

    #[test]
    fn deep_and_huge_payloads_neither_crash_nor_lose_bytes() {
        let depth = 100_000;
        let deep = format!(
            r#"{{"method":"control","timestamp":1,"version":2,"payload":{{"state":{}{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        match parse(T, deep.as_bytes()).unwrap().kind {
            Kind::Control { payload, version: 2 } => assert_eq!(payload.len(), 2 * depth + 10),
            k => panic!("{k:?}"),
        }
        let unclosed = format!(r#"{{"method":"control","payload":{}"#, "{\"a\":".repeat(depth));
        assert!(why(T, &unclosed).starts_with("payload is not a JSON object"));
    }

    #[test]
    fn log_texts_are_upstreams() {
        let p: &[u8] = b"{}";
        assert_eq!(
            Kind::GenericReply {
                payload: p,
                status: b"success",
                timestamp: 0
            }
            .log_text(),
            "SHADOW recv get_reply message\r\n"
        );
        assert_eq!(
            Kind::GetReply {
                payload: p,
                version: 0
            }
            .log_text(),
            "SHADOW recv generic_reply message\r\n"
        );
        assert_eq!(
            Kind::Control {
                payload: p,
                version: 0
            }
            .log_text(),
            "SHADOW recv control message\r\n"
        );
    }
}
