//! OTA messages: the upgrade / config pushes the platform sends, and the payloads the device
//! publishes (version, progress, firmware query).
//!
//! Upstream scans the text for `"key":value` and silently drops anything it cannot read
//! (blanks, escapes, key order). We parse real JSON and say why a push is refused.

use serde_json::{Map, Value};

/// `AIOT_OTA_DIGEST_MD5`
pub const DIGEST_MD5: u8 = 0;
/// `AIOT_OTA_DIGEST_SHA256`
pub const DIGEST_SHA256: u8 = 1;
/// `AIOT_OTA_PROTOCOL_HTTPS`
pub const PROTOCOL_HTTPS: u32 = 0;
/// `AIOT_OTA_PROTOCOL_MQTT`
pub const PROTOCOL_MQTT: u32 = 1;

/// Longest URL accepted in a push (anything longer is hostile, not a firmware link).
pub const MAX_URL_LEN: usize = 4096;
/// Longest version, module, file name or stream text accepted.
pub const MAX_FIELD_LEN: usize = 256;
/// Longest `extData` accepted.
pub const MAX_EXTRA_LEN: usize = 16 * 1024;
/// Most files in one multi-file push (upstream's limit).
pub const MAX_FILES: usize = 20;

/// Firmware (FOTA) or remote configuration (COTA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Fota,
    Cota,
}

/// What one pushed file says (`aiot_download_task_desc_t`, owned).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskDesc {
    pub product_key: String,
    pub device_name: String,
    pub url: Option<String>,
    pub stream_id: u32,
    pub stream_file_id: u32,
    pub size_total: u32,
    pub digest_method: u8,
    pub expect_digest: String,
    pub version: String,
    pub module: Option<String>,
    pub extra_data: Option<String>,
    pub file_name: Option<String>,
    pub file_num: u32,
    pub file_id: u32,
    pub protocol_type: u32,
}

/// Why a push was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

/// The OTA topics a device receives, with the product key and device name they carry.
pub fn classify_topic(topic: &str) -> Option<(Kind, &'static str, String, String)> {
    if let Some(rest) = topic.strip_prefix("/ota/device/upgrade/") {
        let (pk, dn) = rest.split_once('/')?;
        if pk.is_empty() || dn.is_empty() || dn.contains('/') {
            return None;
        }
        return Some((Kind::Fota, "data", pk.to_owned(), dn.to_owned()));
    }
    let rest = topic.strip_prefix("/sys/")?;
    let mut parts = rest.splitn(3, '/');
    let (pk, dn, tail) = (parts.next()?, parts.next()?, parts.next()?);
    if pk.is_empty() || dn.is_empty() {
        return None;
    }
    let (kind, field) = match tail {
        "thing/ota/firmware/get_reply" => (Kind::Fota, "data"),
        "thing/config/push" => (Kind::Cota, "params"),
        "thing/config/get_reply" => (Kind::Cota, "data"),
        _ => return None,
    };
    Some((kind, field, pk.to_owned(), dn.to_owned()))
}

/// Text of a string or number field.
fn text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn bounded(obj: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, Refused> {
    match text(obj, key) {
        Some(s) if s.len() > max => refuse(format!("\"{key}\" is longer than {max} bytes")),
        other => Ok(other),
    }
}

fn required(obj: &Map<String, Value>, key: &str, max: usize) -> Result<String, Refused> {
    bounded(obj, key, max)?.map_or_else(|| refuse(format!("\"{key}\" is missing")), Ok)
}

fn size_field(obj: &Map<String, Value>, key: &str) -> Result<u32, Refused> {
    let raw = required(obj, key, 20)?;
    raw.parse::<u32>()
        .or_else(|_| refuse(format!("\"{key}\" is not a size in 0..4294967295: {raw}")))
}

fn digest_method(obj: &Map<String, Value>) -> Result<u8, Refused> {
    let m = required(obj, "signMethod", MAX_FIELD_LEN)?;
    // Upstream takes only "SHA256"/"Sha256" and "Md5"; any spelling is the same method.
    match m.to_ascii_lowercase().as_str() {
        "sha256" => Ok(DIGEST_SHA256),
        "md5" => Ok(DIGEST_MD5),
        _ => refuse(format!("unknown signMethod {m}")),
    }
}

fn digest(obj: &Map<String, Value>, key: &str, method: u8) -> Result<String, Refused> {
    let d = required(obj, key, 64)?;
    let want = if method == DIGEST_MD5 { 32 } else { 64 };
    if d.len() != want || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
        return refuse(format!("\"{key}\" is not a {want}-digit hex digest"));
    }
    Ok(d)
}

fn url(obj: &Map<String, Value>, key: &str) -> Result<String, Refused> {
    let u = required(obj, key, MAX_URL_LEN)?;
    let lower = u.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return refuse(format!("\"{key}\" is not an http(s) URL"));
    }
    Ok(u)
}

/// Parses a push on an OTA topic into one task per file.
pub fn parse_push(topic: &str, payload: &[u8]) -> Result<(Kind, Vec<TaskDesc>), Refused> {
    let Some((kind, field, pk, dn)) = classify_topic(topic) else {
        return refuse(format!("not an OTA topic: {topic}"));
    };
    let root: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return refuse(format!("payload is not JSON: {e}")),
    };
    let Some(data) = root.get(field).and_then(Value::as_object) else {
        return refuse(format!("no \"{field}\" object"));
    };
    let version = match kind {
        Kind::Fota => required(data, "version", MAX_FIELD_LEN)?,
        Kind::Cota => required(data, "configId", MAX_FIELD_LEN)?,
    };
    let method = digest_method(data)?;
    let module = bounded(data, "module", MAX_FIELD_LEN)?;
    let extra_data = match data.get("extData") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    if extra_data.as_ref().is_some_and(|e| e.len() > MAX_EXTRA_LEN) {
        return refuse(format!("\"extData\" is longer than {MAX_EXTRA_LEN} bytes"));
    }
    let protocol = match bounded(data, "dProtocol", MAX_FIELD_LEN)? {
        Some(p) if p.eq_ignore_ascii_case("mqtt") => PROTOCOL_MQTT,
        _ => PROTOCOL_HTTPS,
    };
    let stream_id = match protocol {
        PROTOCOL_MQTT => size_field(data, "streamId")?,
        _ => 0,
    };
    let base = TaskDesc {
        product_key: pk,
        device_name: dn,
        digest_method: method,
        version,
        module,
        extra_data,
        protocol_type: protocol,
        stream_id,
        file_num: 1,
        ..Default::default()
    };
    let files = data.get("files").and_then(Value::as_array);
    let mut tasks = Vec::new();
    match files {
        Some(list) => {
            if list.is_empty() || list.len() > MAX_FILES {
                return refuse(format!("\"files\" must hold 1 to {MAX_FILES} entries"));
            }
            for (i, f) in list.iter().enumerate() {
                let Some(f) = f.as_object() else {
                    return refuse(format!("files[{i}] is not an object"));
                };
                let mut t = base.clone();
                t.file_num = list.len() as u32;
                t.file_id = i as u32;
                t.size_total = size_field(f, "fileSize")?;
                t.expect_digest = digest(f, "fileSign", method)?;
                t.file_name = Some(required(f, "fileName", MAX_FIELD_LEN)?);
                if protocol == PROTOCOL_MQTT {
                    t.stream_file_id = size_field(f, "streamFileId")?;
                } else {
                    t.url = Some(url(f, "fileUrl")?);
                }
                tasks.push(t);
            }
        }
        None => {
            let mut t = base;
            t.size_total = match kind {
                Kind::Fota => size_field(data, "size")?,
                Kind::Cota => size_field(data, "configSize")?,
            };
            t.expect_digest = digest(data, "sign", method)?;
            if protocol == PROTOCOL_MQTT {
                t.stream_file_id = size_field(data, "streamFileId")?;
            } else {
                t.url = Some(url(data, "url")?);
            }
            tasks.push(t);
        }
    }
    Ok((kind, tasks))
}

/// A JSON string literal (quoted and escaped).
fn quoted(s: &str) -> String {
    Value::from(s).to_string()
}

/// `{"id":<n>, "params":<params>}`, the shape of every OTA publish.
pub fn envelope(id: i32, params: &str) -> String {
    format!("{{\"id\":{id}, \"params\":{params}}}")
}

/// Version report params: `{"version":"V"}` plus `"module"` when set.
pub fn version_params(version: &str, module: Option<&str>) -> String {
    match module {
        Some(m) => format!("{{\"version\":{},\"module\":{}}}", quoted(version), quoted(m)),
        None => format!("{{\"version\":{}}}", quoted(version)),
    }
}

/// Progress params: `{"step":"<n>","desc":""}` plus `"module"` when set.
pub fn progress_params(step: i32, module: Option<&str>) -> String {
    match module {
        Some(m) => format!("{{\"step\":\"{step}\",\"desc\":\"\",\"module\":{}}}", quoted(m)),
        None => format!("{{\"step\":\"{step}\",\"desc\":\"\"}}"),
    }
}

/// Firmware query params: `{}` or `{"module":"M"}`.
pub fn query_params(module: Option<&str>) -> String {
    match module {
        Some(m) => format!("{{\"module\":{}}}", quoted(m)),
        None => "{}".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "4bfacef5cba0a56dc2beb8ee03e2be0a7aedeee1885ace0fb55ea8bbfd98dadc";

    #[test]
    fn payloads_match_upstream_bytes() {
        assert_eq!(
            envelope(1, &version_params("1.0.0", None)),
            r#"{"id":1, "params":{"version":"1.0.0"}}"#
        );
        assert_eq!(
            envelope(2, &progress_params(5, None)),
            r#"{"id":2, "params":{"step":"5","desc":""}}"#
        );
        assert_eq!(
            envelope(3, &progress_params(-3, Some("mcu"))),
            r#"{"id":3, "params":{"step":"-3","desc":"","module":"mcu"}}"#
        );
        assert_eq!(envelope(4, &query_params(None)), r#"{"id":4, "params":{}}"#);
        assert_eq!(
            envelope(5, &version_params("1.0\"x", Some("m"))),
            r#"{"id":5, "params":{"version":"1.0\"x","module":"m"}}"#
        );
    }

    #[test]
    fn seed_upgrade_push_parses() {
        let payload = format!(
            r#"{{"code":"1000","data":{{"size":1248306,"sign":"{SHA}","version":"1.1.0","url":"https://ota.example/fw.bin?Expires=1&Signature=x%3D","signMethod":"SHA256"}},"id":1579511826520,"message":"success"}}"#
        );
        let (kind, tasks) = parse_push("/ota/device/upgrade/pk1/dev1", payload.as_bytes()).unwrap();
        assert_eq!(kind, Kind::Fota);
        let t = &tasks[0];
        assert_eq!((t.product_key.as_str(), t.device_name.as_str()), ("pk1", "dev1"));
        assert_eq!(
            (t.size_total, t.digest_method, t.version.as_str()),
            (1248306, DIGEST_SHA256, "1.1.0")
        );
        assert_eq!(
            t.url.as_deref(),
            Some("https://ota.example/fw.bin?Expires=1&Signature=x%3D")
        );
        assert_eq!((t.file_num, t.file_id), (1, 0));
    }

    #[test]
    fn blanks_module_and_ext_data_are_accepted() {
        let payload = format!(
            r#"{{ "data" : {{ "version" : "2.0", "size" : "10", "sign" : "{}", "signMethod" : "Md5",
               "url" : "https://h/p", "module" : "mcu", "extData" : {{"k":"v","n":1}} }} }}"#,
            "0123456789abcdef0123456789ABCDEF"
        );
        let (_, tasks) = parse_push("/sys/pk/dn/thing/ota/firmware/get_reply", payload.as_bytes()).unwrap();
        assert_eq!(tasks[0].module.as_deref(), Some("mcu"));
        assert_eq!(tasks[0].extra_data.as_deref(), Some(r#"{"k":"v","n":1}"#));
        assert_eq!(tasks[0].digest_method, DIGEST_MD5);
    }

    #[test]
    fn cota_and_multi_file() {
        let cota = format!(
            r#"{{"params":{{"configId":"c1","configSize":5,"sign":"{SHA}","signMethod":"Sha256","url":"https://h/c","getType":"file"}}}}"#
        );
        let (kind, t) = parse_push("/sys/pk/dn/thing/config/push", cota.as_bytes()).unwrap();
        assert_eq!(
            (kind, t[0].version.as_str(), t[0].size_total),
            (Kind::Cota, "c1", 5)
        );
        let multi = format!(
            r#"{{"data":{{"version":"3","signMethod":"SHA256","files":[
              {{"fileSize":1,"fileSign":"{SHA}","fileName":"a.bin","fileUrl":"https://h/a"}},
              {{"fileSize":2,"fileSign":"{SHA}","fileName":"b.bin","fileUrl":"https://h/b"}}],
              "extData":"plain"}}}}"#
        );
        let (_, t) = parse_push("/ota/device/upgrade/pk/dn", multi.as_bytes()).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[1].file_id, t[1].file_num, t[1].file_name.as_deref()),
            (1, 2, Some("b.bin"))
        );
        assert_eq!(t[0].extra_data.as_deref(), Some("plain"));
    }

    /// Every task a push yields keeps the limits the C side relies on.
    fn check_task(t: &TaskDesc) {
        let want = if t.digest_method == DIGEST_MD5 { 32 } else { 64 };
        assert_eq!(t.expect_digest.len(), want);
        assert!(t.expect_digest.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(t.version.len() <= MAX_FIELD_LEN);
        if let Some(u) = &t.url {
            assert!(u.len() <= MAX_URL_LEN);
            let l = u.to_ascii_lowercase();
            assert!(l.starts_with("https://") || l.starts_with("http://"), "{u}");
        }
        assert!(t.extra_data.as_ref().is_none_or(|e| e.len() <= MAX_EXTRA_LEN));
        assert!(t.file_id < t.file_num && t.file_num as usize <= MAX_FILES);
    }

    #[test]
    fn mutated_pushes_never_panic_and_keep_the_limits() {
        // 20,000 deterministic mutations (xorshift) of a single-file and a multi-file push:
        // flipped, dropped, inserted and duplicated bytes, truncations. The parser answers
        // each one, and what it accepts stays within the limits above.
        let single = format!(
            r#"{{"code":"1000","data":{{"size":1248306,"sign":"{SHA}","version":"1.1.0","url":"https://h/fw.bin?a=1","signMethod":"SHA256","module":"m","extData":{{"k":[1,2]}}}},"id":1}}"#
        );
        let multi = format!(
            r#"{{"data":{{"version":"3","signMethod":"Md5","files":[{{"fileSize":1,"fileSign":"{m}","fileName":"a","fileUrl":"http://h/a"}},{{"fileSize":2,"fileSign":"{m}","fileName":"b","fileUrl":"https://h/b"}}]}}}}"#,
            m = "0123456789abcdef0123456789ABCDEF"
        );
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        const BYTES: &[u8] = b"{}[]\",:0123456789-+.eE \"\\/\x00\xffabcdefnulltrue";
        let (mut accepted, mut refused) = (0, 0);
        for i in 0..20_000 {
            let mut p = if i % 2 == 0 { single.clone() } else { multi.clone() }.into_bytes();
            for _ in 0..1 + next(4) {
                let at = next(p.len() + 1).min(p.len());
                match next(5) {
                    0 if at < p.len() => p[at] = BYTES[next(BYTES.len())],
                    1 if at < p.len() => {
                        p.remove(at);
                    }
                    2 => p.insert(at, BYTES[next(BYTES.len())]),
                    3 => {
                        let end = (at + next(16)).min(p.len());
                        let piece = p[at..end].to_vec();
                        p.splice(at..at, piece);
                    }
                    _ => p.truncate(at),
                }
            }
            let topic = if i % 3 == 0 {
                "/sys/pk/dn/thing/ota/firmware/get_reply"
            } else {
                "/ota/device/upgrade/pk/dn"
            };
            match parse_push(topic, &p) {
                Ok((_, tasks)) => {
                    accepted += 1;
                    assert!(!tasks.is_empty());
                    tasks.iter().for_each(check_task);
                }
                Err(_) => refused += 1,
            }
        }
        // Both outcomes occur: the mutations are neither all fatal nor all harmless.
        assert!(
            accepted > 100 && refused > 100,
            "{accepted} accepted, {refused} refused"
        );
    }

    #[test]
    fn mqtt_channel_push_carries_stream_ids() {
        // dProtocol "mqtt": the image comes over MQTT (upstream's separate mqtt-download
        // component); the task carries the stream ids and no URL.
        let push = format!(
            r#"{{"data":{{"version":"2","size":10,"sign":"{SHA}","signMethod":"SHA256","dProtocol":"mqtt","streamId":1234,"streamFileId":1}}}}"#
        );
        let (_, t) = parse_push("/ota/device/upgrade/pk/dn", push.as_bytes()).unwrap();
        assert_eq!(
            (
                t[0].protocol_type,
                t[0].stream_id,
                t[0].stream_file_id,
                t[0].url.as_deref()
            ),
            (PROTOCOL_MQTT, 1234, 1, None)
        );
        // Without its stream ids such a push is refused.
        let bare = push.replace(r#""streamId":1234,"#, "");
        assert!(parse_push("/ota/device/upgrade/pk/dn", bare.as_bytes()).is_err());
    }

    #[test]
    fn hostile_pushes_are_refused() {
        let good = |over: &str| {
            format!(
                r#"{{"data":{{"version":"1","size":1,"sign":"{SHA}","signMethod":"SHA256","url":"https://h/p"{over}}}}}"#
            )
        };
        let topic = "/ota/device/upgrade/pk/dn";
        assert!(parse_push(topic, good("").as_bytes()).is_ok());
        assert!(parse_push(topic, b"{not json").is_err());
        assert!(parse_push(topic, br#"{"data":[]}"#).is_err());
        assert!(parse_push(topic, good(r#","size":-1"#).as_bytes()).is_err());
        assert!(parse_push(topic, good(r#","size":99999999999"#).as_bytes()).is_err());
        assert!(parse_push(topic, good(r#","sign":"xyz""#).as_bytes()).is_err());
        assert!(parse_push(topic, good(r#","signMethod":"crc""#).as_bytes()).is_err());
        assert!(parse_push(topic, good(r#","url":"ftp://h/p""#).as_bytes()).is_err());
        let huge = format!(r#","url":"https://h/{}""#, "a".repeat(MAX_URL_LEN));
        assert!(parse_push(topic, good(&huge).as_bytes()).is_err());
        assert!(parse_push(topic, good(r#","dProtocol":"mqtt""#).as_bytes()).is_err());
        assert!(parse_push("/ota/device/upgrade/pk", good("").as_bytes()).is_err());
        assert!(parse_push("/sys/pk/dn/thing/other", good("").as_bytes()).is_err());
    }
}
