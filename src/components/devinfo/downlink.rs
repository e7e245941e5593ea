//! Replies of the platform: `update_reply` and `delete_reply` (topic handlers on
//! `/sys/+/+/thing/deviceinfo/...`, no SUBSCRIBE) and `get_reply` (subscribed).
//!
//! Upstream scans the payload for the first `"key":` anywhere (compact JSON only, nested keys
//! taken for top-level ones). We parse real JSON (serde_json) with upstream's contract: the
//! four top-level keys `code`, `id`, `data` and `message` are all required (one missing, or a
//! payload that is not a JSON object: `INVALID_RESPONSE`); `code` and `id` must be non-negative
//! integers of at most 32 bits, as JSON numbers or digit strings (else
//! `INVALID_RESPONSE_FORMAT`); a topic without product key and device name at levels 2 and 3 is
//! `INVALID_DEVINFO`. `data` and `message` are handed over as slices of the payload: a string
//! without its quotes (escapes as written), anything else as written.

use crate::components::rawjson::{self, digits, unquoted};

/// What went wrong with a reply (`aiot_devinfo_event_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    Devinfo,
    Response,
    ResponseFormat,
}

/// A parsed reply, borrowing the topic and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    pub product_key: &'a [u8],
    pub device_name: &'a [u8],
    pub msg_id: u32,
    pub code: u32,
    pub data: &'a [u8],
    pub message: &'a [u8],
}

/// Why a reply was refused: the event it raises and a reason for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub Invalid, pub String);

fn refuse<T>(kind: Invalid, why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(kind, why.into()))
}

/// Topic levels 2 and 3 (`/sys/{pk}/{dn}/...`), both non-empty.
fn device_of(topic: &[u8]) -> Result<(&[u8], &[u8]), Refused> {
    let mut levels = topic.split(|&b| b == b'/');
    let (pk, dn, rest) = (levels.nth(2), levels.next(), levels.next());
    match (pk, dn, rest) {
        (Some(pk), Some(dn), Some(_)) if !pk.is_empty() && !dn.is_empty() => Ok((pk, dn)),
        _ => refuse(Invalid::Devinfo, "topic names no product key and device name"),
    }
}

fn number(raw: &[u8], key: &str) -> Result<u32, Refused> {
    match digits(unquoted(raw)) {
        Some(n) => Ok(n),
        None => refuse(
            Invalid::ResponseFormat,
            format!("\"{key}\" is not a decimal number of at most 32 bits"),
        ),
    }
}

/// Parses a reply that arrived on `topic`.
pub fn parse<'a>(topic: &'a [u8], payload: &'a [u8]) -> Result<Reply<'a>, Refused> {
    let (product_key, device_name) = device_of(topic)?;
    let obj = match rawjson::object(payload) {
        Ok(o) => o,
        Err(e) if std::str::from_utf8(payload).is_err() => {
            return refuse(Invalid::Response, format!("payload is not UTF-8 JSON: {e}"))
        }
        Err(e) => return refuse(Invalid::Response, format!("payload is not a JSON object: {e}")),
    };
    let get = |key: &str| match obj.get(key) {
        Some(v) => Ok(v),
        None => refuse(Invalid::Response, format!("no \"{key}\"")),
    };
    let (code, id, data, message) = (get("code")?, get("id")?, get("data")?, get("message")?);
    Ok(Reply {
        product_key,
        device_name,
        code: number(code, "code")?,
        msg_id: number(id, "id")?,
        data: unquoted(data),
        message: unquoted(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &[u8] = b"/sys/pk1/dn1/thing/deviceinfo/update_reply";

    fn why(topic: &[u8], p: &str) -> (Invalid, String) {
        let r = parse(topic, p.as_bytes()).unwrap_err();
        (r.0, r.1)
    }

    #[test]
    fn replies_give_id_code_data_and_message() {
        let r = parse(T, br#"{"id":"12","code":200,"data":{},"message":"success"}"#).unwrap();
        assert_eq!(
            r,
            Reply {
                product_key: b"pk1",
                device_name: b"dn1",
                msg_id: 12,
                code: 200,
                data: b"{}",
                message: b"success"
            }
        );
        // Spacing, numeric id, string code, nested keys of the same names: top level counts.
        let p = r#"{ "data": [{"attrKey":"id","attrValue":"7","code":1}], "message" : "ok", "id": 5, "code": "460" }"#;
        let r = parse(b"/sys/p/d/thing/deviceinfo/get_reply", p.as_bytes()).unwrap();
        assert_eq!((r.msg_id, r.code, r.message), (5, 460, &b"ok"[..]));
        assert_eq!(r.data, br#"[{"attrKey":"id","attrValue":"7","code":1}]"#);
    }

    #[test]
    fn malformed_replies_raise_upstreams_events() {
        assert_eq!(why(b"/sys//dn/thing/x", "{}").0, Invalid::Devinfo);
        assert_eq!(why(b"/sys/pk/dn", "{}").0, Invalid::Devinfo);
        assert_eq!(why(T, "not json").0, Invalid::Response);
        assert_eq!(why(T, "[]").0, Invalid::Response);
        assert_eq!(
            why(T, r#"{"id":"1","code":200,"data":{}}"#),
            (Invalid::Response, "no \"message\"".into())
        );
        assert_eq!(
            why(T, r#"{"id":"1","code":200,"message":"m"}"#),
            (Invalid::Response, "no \"data\"".into())
        );
        // message nested in data is not the reply's.
        assert_eq!(
            why(T, r#"{"id":"1","code":200,"data":{"message":"x"}}"#).0,
            Invalid::Response
        );
        for bad in [
            r#"{"id":"x","code":200,"data":{},"message":""}"#,
            r#"{"id":"1","code":-1,"data":{},"message":""}"#,
            r#"{"id":"4294967296","code":200,"data":{},"message":""}"#,
            r#"{"id":1.5,"code":200,"data":{},"message":""}"#,
        ] {
            assert_eq!(why(T, bad).0, Invalid::ResponseFormat, "{bad}");
        }
        assert_eq!(why(T, "{\"id\":\"\u{ff}\"").0, Invalid::Response);
    }

    #[test]
    fn deep_data_neither_crashes_nor_loses_bytes() {
        let depth = 100_000;
        let p = format!(
            r#"{{"id":"1","code":200,"message":"","data":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert_eq!(parse(T, p.as_bytes()).unwrap().data.len(), 2 * depth);
        let open = format!(r#"{{"id":"1","data":{}"#, "[".repeat(depth));
        assert_eq!(why(T, &open).0, Invalid::Response);
    }
}
