//! The platform's side of device tags (Alink `/sys/{pk}/{dn}/thing/deviceinfo/...`), as Aliyun
//! plays it: the tags of each device in `<state>/devinfo/<pk>/<dn>.json` (an object of
//! attrKey -> attrValue), changed and read by the device's requests, answered on
//! `<request topic>_reply` with `{"id":"<id>","code":200,"message":"success","data":..}` (`data`
//! last, so that a reader taking the first `"message"`/`"code"` anywhere, upstream's, reads the
//! reply's own):
//!
//! - `update` `[{"attrKey":"k","attrValue":"v"},...]`: stored; `data` `{}`;
//! - `delete` `[{"attrKey":"k"},...]`: removed; `data` `{}`;
//! - `get` `{"attrKeys":["k1",...]}` (at most 10): `data` `[{"attrKey":"k1","attrValue":"v1"},...]`
//!   for the keys the device has (all of them for an empty list).
//!
//! Malformed params get code 460 (`request parameter error`); a request without an `id` gets no
//! reply. update_reply and delete_reply reach the device without a SUBSCRIBE (delivery plugin);
//! get_reply only through the device's own SUBSCRIBE, as on Aliyun. Every exchange is a line of
//! `<state>/devinfo.log`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::answer_service::{locked, safe_name, write_atomically, AnswerService};
use crate::broker::BrokerInfo;

/// The log of device-tag exchanges in the state folder.
pub const DEVINFO_LOG: &str = "devinfo.log";
const FILTERS: &[&str] = &["/sys/+/+/thing/deviceinfo/+"];
/// Most keys a get may ask for.
pub const GET_MAX_KEYS: usize = 10;

/// The folder of the tag files.
pub fn devinfo_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("devinfo")
}

fn tags_file(state_dir: &Path, pk: &str, dn: &str) -> PathBuf {
    devinfo_dir(state_dir).join(pk).join(format!("{dn}.json"))
}

/// A device's tags (empty when it has none).
pub fn load(state_dir: &Path, pk: &str, dn: &str) -> Map<String, Value> {
    std::fs::read_to_string(tags_file(state_dir, pk, dn))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
}

fn reply(id: &str, code: u32, message: &str, data: &Value) -> String {
    format!(
        "{{\"id\":{},\"code\":{code},\"message\":{},\"data\":{data}}}",
        Value::from(id),
        Value::from(message)
    )
}

/// The attrKey of a list entry, if it is a non-empty string.
fn key_of(entry: &Value) -> Option<&str> {
    entry.get("attrKey")?.as_str().filter(|k| !k.is_empty())
}

/// What a request does to the tags: code and `data` of the reply.
fn handle(tags: &mut Map<String, Value>, op: &str, params: &Value) -> (u32, Value) {
    let bad = (460, json!({}));
    match op {
        "update" | "delete" => {
            let Some(list) = params.as_array() else { return bad };
            let mut changed = tags.clone();
            for entry in list {
                let Some(key) = key_of(entry) else { return bad };
                if op == "delete" {
                    changed.remove(key);
                    continue;
                }
                match entry.get("attrValue") {
                    Some(v @ Value::String(_)) => {
                        changed.insert(key.to_owned(), v.clone());
                    }
                    _ => return bad,
                }
            }
            *tags = changed;
            (200, json!({}))
        }
        _ => {
            let Some(keys) = params.get("attrKeys").and_then(Value::as_array) else {
                return bad;
            };
            if keys.len() > GET_MAX_KEYS || keys.iter().any(|k| !k.is_string()) {
                return bad;
            }
            let wanted: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
            let found: Vec<Value> = tags
                .iter()
                .filter(|(k, _)| wanted.is_empty() || wanted.contains(&k.as_str()))
                .map(|(k, v)| json!({"attrKey": k, "attrValue": v}))
                .collect();
            (200, Value::Array(found))
        }
    }
}

/// The platform's answer to a request on `topic` (tags changed in the state folder), and the
/// log line.
pub fn answer(state_dir: &Path, topic: &str, payload: &[u8]) -> (Vec<(String, Vec<u8>)>, String) {
    let text = String::from_utf8_lossy(payload);
    let parts: Vec<&str> = topic.split('/').collect();
    let (pk, dn, op) = match parts.as_slice() {
        ["", "sys", pk, dn, "thing", "deviceinfo", op @ ("update" | "delete" | "get")]
            if safe_name(pk) && safe_name(dn) =>
        {
            (*pk, *dn, *op)
        }
        _ => return (Vec::new(), format!("{topic} ignored: {text}")),
    };
    let req: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let id = match req.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return (
                Vec::new(),
                format!("{pk}/{dn} {op} without an id, not answered: {text}"),
            )
        }
    };
    let params = req.get("params").cloned().unwrap_or(Value::Null);
    let result = locked(&devinfo_dir(state_dir), || {
        let mut tags = load(state_dir, pk, dn);
        let (code, data) = handle(&mut tags, op, &params);
        if code == 200 && op != "get" {
            write_atomically(
                &tags_file(state_dir, pk, dn),
                Value::Object(tags).to_string().as_bytes(),
            )?;
        }
        Ok::<_, std::io::Error>((code, data))
    });
    let (code, message, data) = match result {
        Ok(Ok((200, data))) => (200, "success", data),
        Ok(Ok((code, data))) => (code, "request parameter error", data),
        _ => (500, "server error", json!({})),
    };
    let body = reply(&id, code, message, &data);
    let line = format!("{pk}/{dn} <- {op} {text}\n{pk}/{dn} -> {body}");
    (vec![(format!("{topic}_reply"), body.into_bytes())], line)
}

/// Starts the device-tag service on the broker.
pub fn start(info: &BrokerInfo) -> std::io::Result<AnswerService> {
    let dir = info.state_dir.clone();
    AnswerService::start(
        info,
        "devinfo",
        FILTERS,
        DEVINFO_LOG,
        Arc::new(move |topic: &str, payload: &[u8]| answer(&dir, topic, payload)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(d: &Path, op: &str, payload: &str) -> Option<(String, String)> {
        let (mut out, _) = answer(
            d,
            &format!("/sys/pk/dn/thing/deviceinfo/{op}"),
            payload.as_bytes(),
        );
        out.pop().map(|(t, p)| (t, String::from_utf8(p).unwrap()))
    }

    #[test]
    fn tags_are_updated_deleted_and_read_with_replies() {
        let d = std::env::temp_dir().join(format!("aiot-devinfo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let (t, p) = ask(
            &d,
            "update",
            r#"{"id":"7","version":"1.0","params":[{"attrKey":"room","attrValue":"kitchen"},{"attrKey":"floor","attrValue":"2"}]}"#,
        )
        .unwrap();
        assert_eq!(t, "/sys/pk/dn/thing/deviceinfo/update_reply");
        assert_eq!(p, r#"{"id":"7","code":200,"message":"success","data":{}}"#);
        let (_, p) = ask(&d, "get", r#"{"id":8,"params":{"attrKeys":["room","nope"]}}"#).unwrap();
        assert_eq!(
            p,
            r#"{"id":"8","code":200,"message":"success","data":[{"attrKey":"room","attrValue":"kitchen"}]}"#
        );
        let (t, _) = ask(&d, "delete", r#"{"id":"9","params":[{"attrKey":"room"}]}"#).unwrap();
        assert_eq!(t, "/sys/pk/dn/thing/deviceinfo/delete_reply");
        assert_eq!(
            load(&d, "pk", "dn"),
            json!({"floor":"2"}).as_object().unwrap().clone()
        );
        for (op, bad) in [
            ("update", r#"{"id":"10","params":{"attrKey":"a"}}"#),
            (
                "update",
                r#"{"id":"10","params":[{"attrKey":"a","attrValue":1}]}"#,
            ),
            ("delete", r#"{"id":"10","params":[{}]}"#),
            (
                "get",
                r#"{"id":"10","params":{"attrKeys":["1","2","3","4","5","6","7","8","9","10","11"]}}"#,
            ),
        ] {
            let (_, p) = ask(&d, op, bad).unwrap();
            assert!(p.contains(r#""code":460"#), "{bad}: {p}");
        }
        assert_eq!(load(&d, "pk", "dn").len(), 1);
        assert_eq!(ask(&d, "update", r#"{"params":[]}"#), None);
        assert_eq!(ask(&d, "update_reply", r#"{"id":"1"}"#), None);
        let _ = std::fs::remove_dir_all(&d);
    }
}
