//! The platform's side of the device shadow, as Aliyun plays it: one document per device,
//! `{"state":{"reported":{..},"desired":{..}},"metadata":{"reported":{k:{"timestamp":s}},
//! "desired":{..}},"version":n}`, kept in `<state>/shadow/<pk>/<dn>.json`.
//!
//! Requests on `/shadow/update/{pk}/{dn}` are answered on `/shadow/get/{pk}/{dn}` (delivered to
//! the device without a SUBSCRIBE by the delivery plugin):
//! - `update` (`state.reported` merged, `state.desired` merged or `"null"` to clear it; a key
//!   whose value is `"null"` or null is removed) and `delete` (`state.reported` `"null"` or
//!   per-key `"null"`): `{"method":"reply","timestamp":s,"payload":{"status":"success","version":v}}`;
//!   the request's version must be greater than the document's (update with -1 empties the
//!   document and sets version 0), else `{"method":"reply","timestamp":s,"payload":{"status":"error",
//!   "content":{"errorcode":"409","errormessage":"version conflict"}}}` (Aliyun's codes 400-409);
//! - `get`: `{"method":"reply","timestamp":s,"version":v,"payload":{"status":"success","state":{..},"metadata":{..}}}`.
//!
//! A cloud-side change ([`control`], `aiot-platform shadow control`) sets or removes desired
//! values, raises the version by one and pushes `{"method":"control","timestamp":s,"version":v,
//! "payload":{"status":"success","state":{..},"metadata":{..}}}`. Top-level keys come before
//! `payload` so that a reader taking the first `"timestamp"`/`"version"` anywhere (upstream's)
//! reads the right ones. Every exchange is a line of `<state>/shadow.log`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::answer_service::{locked, safe_name, write_atomically, AnswerService};
use crate::broker::BrokerInfo;

/// The log of shadow exchanges in the state folder.
pub const SHADOW_LOG: &str = "shadow.log";
const FILTERS: &[&str] = &["/shadow/update/+/+"];

/// The folder of the shadow documents.
pub fn shadow_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("shadow")
}

fn doc_file(state_dir: &Path, pk: &str, dn: &str) -> PathBuf {
    shadow_dir(state_dir).join(pk).join(format!("{dn}.json"))
}

/// An empty document (version 0).
pub fn empty_doc() -> Value {
    json!({"state":{"reported":{},"desired":{}},"metadata":{"reported":{},"desired":{}},"version":0})
}

/// A device's document (empty when there is none).
pub fn load(state_dir: &Path, pk: &str, dn: &str) -> Value {
    std::fs::read_to_string(doc_file(state_dir, pk, dn))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(Value::is_object)
        .unwrap_or_else(empty_doc)
}

fn save(state_dir: &Path, pk: &str, dn: &str, doc: &Value) -> std::io::Result<()> {
    write_atomically(&doc_file(state_dir, pk, dn), doc.to_string().as_bytes())
}

/// Changes a device's document under the shadow folder's lock.
pub fn update<T>(
    state_dir: &Path,
    pk: &str,
    dn: &str,
    f: impl FnOnce(&mut Value) -> T,
) -> std::io::Result<T> {
    if !safe_name(pk) || !safe_name(dn) {
        return Err(std::io::Error::other("bad product key or device name"));
    }
    locked(&shadow_dir(state_dir), || {
        let mut doc = load(state_dir, pk, dn);
        let out = f(&mut doc);
        save(state_dir, pk, dn, &doc).map(|()| out)
    })?
}

fn version_of(doc: &Value) -> u64 {
    doc["version"].as_u64().unwrap_or(0)
}

fn is_null(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some("null")
}

/// Applies `change` to `doc.state.<part>`: `"null"` clears it, an object sets its keys
/// (a `"null"` value removes the key). Metadata follows. False when `change` is neither.
fn apply(doc: &mut Value, part: &str, change: &Value, now_s: u64) -> bool {
    if is_null(change) {
        doc["state"][part] = json!({});
        doc["metadata"][part] = json!({});
        return true;
    }
    let Some(obj) = change.as_object() else {
        return false;
    };
    for (k, v) in obj {
        for (section, value) in [("state", v.clone()), ("metadata", json!({ "timestamp": now_s }))] {
            let map = &mut doc[section][part];
            if !map.is_object() {
                *map = json!({});
            }
            let map = map.as_object_mut().expect("object");
            if is_null(v) {
                map.remove(k);
            } else {
                map.insert(k.clone(), value);
            }
        }
    }
    true
}

fn error_reply(now_s: u64, code: u32, message: &str) -> String {
    format!(
        "{{\"method\":\"reply\",\"timestamp\":{now_s},\"payload\":{{\"status\":\"error\",\"content\":{{\"errorcode\":\"{code}\",\"errormessage\":{}}}}}}}",
        Value::from(message)
    )
}

fn success_reply(now_s: u64, version: u64) -> String {
    format!("{{\"method\":\"reply\",\"timestamp\":{now_s},\"payload\":{{\"status\":\"success\",\"version\":{version}}}}}")
}

/// `{"status":"success","state":..,"metadata":..}` of a document.
fn doc_payload(doc: &Value) -> String {
    format!(
        "{{\"status\":\"success\",\"state\":{},\"metadata\":{}}}",
        doc["state"], doc["metadata"]
    )
}

/// What a request does to a document: the reply's text.
fn handle(doc: &mut Value, req: &Value, now_s: u64) -> String {
    let Some(obj) = req.as_object() else {
        return error_reply(now_s, 400, "invalid JSON format");
    };
    let method = match obj.get("method") {
        None => return error_reply(now_s, 401, "no method"),
        Some(m) => m.as_str().unwrap_or(""),
    };
    if method == "get" {
        return format!(
            "{{\"method\":\"reply\",\"timestamp\":{now_s},\"version\":{},\"payload\":{}}}",
            version_of(doc),
            doc_payload(doc)
        );
    }
    if method != "update" && method != "delete" {
        return error_reply(now_s, 406, "invalid method");
    }
    let Some(state) = obj.get("state").and_then(Value::as_object) else {
        return error_reply(now_s, 402, "no state");
    };
    let current = version_of(doc);
    let version = match obj.get("version") {
        None => current + 1,
        Some(v) => match v.as_i64() {
            Some(-1) if method == "update" => {
                *doc = empty_doc();
                return success_reply(now_s, 0);
            }
            Some(n) if n >= 0 => n as u64,
            _ => return error_reply(now_s, 403, "version is not a number"),
        },
    };
    if version <= current {
        return error_reply(now_s, 409, "version conflict");
    }
    let (reported, desired) = (state.get("reported"), state.get("desired"));
    if reported.is_none() && desired.is_none() {
        return error_reply(now_s, 404, "no reported");
    }
    let mut changed = doc.clone();
    for (part, change) in [("reported", reported), ("desired", desired)] {
        if let Some(change) = change {
            let change = if method == "delete" && change.is_object() {
                // delete: only the keys set to "null" go.
                let gone: Map<String, Value> = change
                    .as_object()
                    .expect("object")
                    .iter()
                    .filter(|(_, v)| is_null(v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Value::Object(gone)
            } else {
                change.clone()
            };
            if !apply(&mut changed, part, &change, now_s) {
                return error_reply(now_s, 405, &format!("{part} is not an object"));
            }
        }
    }
    changed["version"] = json!(version);
    *doc = changed;
    success_reply(now_s, version)
}

/// `(pk, dn)` of `/shadow/update/{pk}/{dn}`.
fn device_of(topic: &str) -> Option<(&str, &str)> {
    match topic.split('/').collect::<Vec<_>>().as_slice() {
        ["", "shadow", "update", pk, dn] if safe_name(pk) && safe_name(dn) => Some((pk, dn)),
        _ => None,
    }
}

/// The platform's answer to a request on `topic`, with the document changed in the state
/// folder, and the log line.
pub fn answer(state_dir: &Path, topic: &str, payload: &[u8], now_s: u64) -> (Vec<(String, Vec<u8>)>, String) {
    let text = String::from_utf8_lossy(payload);
    let Some((pk, dn)) = device_of(topic) else {
        return (Vec::new(), format!("{topic} ignored: {text}"));
    };
    let reply = match serde_json::from_slice::<Value>(payload) {
        Ok(req) => update(state_dir, pk, dn, |doc| handle(doc, &req, now_s))
            .unwrap_or_else(|_| error_reply(now_s, 500, "server error")),
        Err(_) => error_reply(now_s, 400, "invalid JSON format"),
    };
    let line = format!("{pk}/{dn} <- {text}\n{pk}/{dn} -> {reply}");
    (vec![(format!("/shadow/get/{pk}/{dn}"), reply.into_bytes())], line)
}

/// A cloud-side change of the desired values (`"null"` clears them; an object sets keys, a
/// `"null"` value removes one): the version goes up by one. Returns the control message
/// (topic, payload) to push.
pub fn control(
    state_dir: &Path,
    pk: &str,
    dn: &str,
    desired: &Value,
    now_s: u64,
) -> std::io::Result<(String, String)> {
    if !is_null(desired) && !desired.is_object() {
        return Err(std::io::Error::other("desired must be an object or \"null\""));
    }
    let payload = update(state_dir, pk, dn, |doc| {
        apply(doc, "desired", desired, now_s);
        let v = version_of(doc) + 1;
        doc["version"] = json!(v);
        format!(
            "{{\"method\":\"control\",\"timestamp\":{now_s},\"version\":{v},\"payload\":{}}}",
            doc_payload(doc)
        )
    })?;
    Ok((format!("/shadow/get/{pk}/{dn}"), payload))
}

/// Seconds of the platform's clock (fixed by `AIOT_PLATFORM_TIME_MS`, else the system's).
pub fn now_s() -> u64 {
    crate::thing::fixed_time_from_env()
        .ok()
        .flatten()
        .unwrap_or_else(crate::ota::now_ms)
        / 1000
}

/// Starts the shadow service on the broker.
pub fn start(info: &BrokerInfo) -> std::io::Result<AnswerService> {
    let dir = info.state_dir.clone();
    AnswerService::start(
        info,
        "shadow",
        FILTERS,
        SHADOW_LOG,
        Arc::new(move |topic: &str, payload: &[u8]| answer(&dir, topic, payload, now_s())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("aiot-shadow-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn ask(d: &Path, payload: &str) -> String {
        let (out, _) = answer(d, "/shadow/update/pk/dn", payload.as_bytes(), 100);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, "/shadow/get/pk/dn");
        String::from_utf8(out[0].1.clone()).unwrap()
    }

    #[test]
    fn update_get_delete_and_versions_as_aliyun() {
        let d = dir("flow");
        assert_eq!(
            ask(
                &d,
                r#"{"method":"update","state":{"reported":{"LightSwitch":1,"color":"red"}},"version":1}"#
            ),
            r#"{"method":"reply","timestamp":100,"payload":{"status":"success","version":1}}"#
        );
        assert_eq!(
            ask(
                &d,
                r#"{"method":"update","state":{"reported":{"LightSwitch":0}},"version":1}"#
            ),
            r#"{"method":"reply","timestamp":100,"payload":{"status":"error","content":{"errorcode":"409","errormessage":"version conflict"}}}"#
        );
        let (topic, p) = control(&d, "pk", "dn", &json!({"color":"blue"}), 101).unwrap();
        assert_eq!(topic, "/shadow/get/pk/dn");
        assert!(
            p.starts_with(
                r#"{"method":"control","timestamp":101,"version":2,"payload":{"status":"success","#
            ),
            "{p}"
        );
        assert!(p.contains(r#""desired":{"color":"blue"}"#), "{p}");
        let get = ask(&d, r#"{"method":"get"}"#);
        let v: Value = serde_json::from_str(&get).unwrap();
        assert_eq!(v["version"], 2);
        assert_eq!(
            v["payload"]["state"]["reported"],
            json!({"LightSwitch":1,"color":"red"})
        );
        assert_eq!(v["payload"]["metadata"]["desired"]["color"]["timestamp"], 101);
        assert!(ask(
            &d,
            r#"{"method":"update","state":{"desired":"null"},"version":3}"#
        )
        .contains("success"));
        assert!(ask(
            &d,
            r#"{"method":"delete","state":{"reported":{"color":"null","LightSwitch":5}},"version":4}"#
        )
        .contains("success"));
        let doc = load(&d, "pk", "dn");
        assert_eq!(doc["state"], json!({"reported":{"LightSwitch":1},"desired":{}}));
        assert_eq!(doc["version"], 4);
        assert!(ask(
            &d,
            r#"{"method":"delete","state":{"reported":"null"},"version":5}"#
        )
        .contains("success"));
        assert_eq!(load(&d, "pk", "dn")["state"]["reported"], json!({}));
        assert!(ask(
            &d,
            r#"{"method":"update","state":{"reported":{"a":1}},"version":-1}"#
        )
        .contains(r#""version":0"#));
        assert_eq!(load(&d, "pk", "dn"), empty_doc());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn bad_requests_get_aliyuns_error_codes() {
        let d = dir("errors");
        for (req, code) in [
            ("not json", "400"),
            (r#"{"state":{}}"#, "401"),
            (r#"{"method":"update","version":1}"#, "402"),
            (
                r#"{"method":"update","state":{"reported":{}},"version":"x"}"#,
                "403",
            ),
            (r#"{"method":"update","state":{},"version":1}"#, "404"),
            (
                r#"{"method":"update","state":{"reported":[1]},"version":1}"#,
                "405",
            ),
            (r#"{"method":"nope"}"#, "406"),
        ] {
            let r = ask(&d, req);
            assert!(r.contains(&format!(r#""errorcode":"{code}""#)), "{req}: {r}");
        }
        assert_eq!(load(&d, "pk", "dn"), empty_doc());
        let (out, _) = answer(&d, "/shadow/update/pk", b"{}", 1);
        assert!(out.is_empty());
        assert!(control(&d, "pk", "dn", &json!(5), 1).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
