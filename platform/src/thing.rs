//! The platform's side of the data model (Alink `/sys/{pk}/{dn}/thing/...`) and of NTP
//! (`/ext/ntp/{pk}/{dn}/...`): a client of the broker (user `platform`) that answers device
//! uplinks the way Aliyun does and records every one of them in `<state-dir>/thing.log`.
//!
//! - Property post, event post, batch post, desired get and desired delete get a reply on
//!   `<request topic>_reply`, compact JSON with the request id echoed as a string:
//!   `{"code":200,"data":{},"id":"7","message":"success","method":"thing.event.property.post","version":"1.0"}`.
//!   A request with `"sys":{"ack":0}` gets none (Aliyun's Alink documentation: ack 0 means the
//!   device does not want the reply). With a thing model for the product
//!   ([`crate::thing_model`]) an unknown property or a value of the wrong type is answered with
//!   Aliyun's code for it, `data` naming each failed property and its text. (Aliyun itself
//!   puts those texts in `data` under code 200; the code of the first failure is put on top
//!   here so that a device sees it in its reply's `code`.)
//! - `/thing/model/up_raw` is answered on `/thing/model/up_raw_reply` with the same bytes (on
//!   Aliyun a product script would turn them into Alink and back).
//! - NTP: `{"deviceSendTime":"<t>"}` on `/ext/ntp/{pk}/{dn}/request` is answered on
//!   `.../response` with `{"deviceSendTime":"<t>","serverRecvTime":"<ms>","serverSendTime":"<ms>"}`
//!   from the system clock, or from the fixed time of [`TIME_ENV`].
//!
//! Replies are published as the platform: the delivery plugin hands them straight to the
//! device (it never subscribes to them), and a device's own uplinks never come back to it.
//! Which replies to send is decided by [`Answerer::answer`], a function of the topic and payload
//! (plus the state folder's model and desired-value files), testable without a broker.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{Map, Value};

use crate::broker::{BrokerInfo, PLATFORM_USER};
use crate::ota::now_ms;
use crate::thing_model::ThingModel;

/// Set to an epoch time in milliseconds to fix the platform's clock (NTP answers) for tests.
pub const TIME_ENV: &str = "AIOT_PLATFORM_TIME_MS";

/// The log of device uplinks in the state folder.
pub const THING_LOG: &str = "thing.log";

/// What the service subscribes to: every data-model and `/ext/...` uplink. The platform's own
/// publishes on device topics never come back (the plugin delivers them to the device only).
const TOPICS: [&str; 2] = ["/sys/+/+/thing/#", "/ext/#"];

/// The fixed time of [`TIME_ENV`], if set; an error when it is set but not a number.
pub fn fixed_time_from_env() -> Result<Option<u64>, String> {
    match std::env::var(TIME_ENV) {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{TIME_ENV}={v:?} is not an epoch time in milliseconds")),
        Err(_) => Ok(None),
    }
}

/// A JSON string literal of `s`.
fn js(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The text of an id or time field: a string as is, a number in decimal; None otherwise.
fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A data-model reply. `data` is raw JSON. With `data` = `{}` the keys are in Aliyun's order;
/// otherwise `data` goes last, so that a device reading the first `"id"`/`"code"`/`"message"`
/// anywhere in the text (upstream's reader) cannot pick one up inside `data`.
pub fn reply_json(code: u32, data: &str, id: &str, message: &str, method: &str) -> String {
    let (id, message, method) = (js(id), js(message), js(method));
    if data == "{}" {
        format!(
            "{{\"code\":{code},\"data\":{{}},\"id\":{id},\"message\":{message},\"method\":{method},\"version\":\"1.0\"}}"
        )
    } else {
        format!(
            "{{\"code\":{code},\"id\":{id},\"message\":{message},\"method\":{method},\"version\":\"1.0\",\"data\":{data}}}"
        )
    }
}

/// Hex of `b`, lower case.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One line of `thing.log`: `{"topic":..,"payload":..}`, or `"hex"` instead of `"payload"` when
/// the payload is not UTF-8.
pub fn log_line(topic: &str, payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(s) => format!("{{\"topic\":{},\"payload\":{}}}", js(topic), js(s)),
        Err(_) => format!("{{\"topic\":{},\"hex\":\"{}\"}}", js(topic), hex(payload)),
    }
}

/// The desired values of a device: `<state-dir>/desired/<pk>/<dn>.json`, an object of
/// property -> `{"value":..,"version":n}`.
pub fn desired_file(state_dir: &Path, pk: &str, dn: &str) -> PathBuf {
    state_dir.join("desired").join(pk).join(format!("{dn}.json"))
}

fn safe_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '\\']) && !s.starts_with('.')
}

/// Reads a device's desired values (empty when there are none).
pub fn load_desired(state_dir: &Path, pk: &str, dn: &str) -> Map<String, Value> {
    if !safe_name(pk) || !safe_name(dn) {
        return Map::new();
    }
    std::fs::read_to_string(desired_file(state_dir, pk, dn))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
}

/// Writes a device's desired values.
pub fn save_desired(
    state_dir: &Path,
    pk: &str,
    dn: &str,
    values: &Map<String, Value>,
) -> std::io::Result<()> {
    if !safe_name(pk) || !safe_name(dn) {
        return Err(std::io::Error::other("bad product key or device name"));
    }
    let f = desired_file(state_dir, pk, dn);
    std::fs::create_dir_all(f.parent().expect("has a parent"))?;
    std::fs::write(f, Value::Object(values.clone()).to_string())
}

/// Sets desired values (`new`: property -> value); each one's version goes up by one.
pub fn set_desired(
    state_dir: &Path,
    pk: &str,
    dn: &str,
    new: &Map<String, Value>,
) -> std::io::Result<Map<String, Value>> {
    let mut all = load_desired(state_dir, pk, dn);
    for (k, v) in new {
        let version = all
            .get(k)
            .and_then(|e| e.get("version"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
            + 1;
        all.insert(k.clone(), serde_json::json!({"value": v, "version": version}));
    }
    save_desired(state_dir, pk, dn, &all)?;
    Ok(all)
}

/// Decides the platform's answers to device uplinks.
#[derive(Clone, Debug)]
pub struct Answerer {
    pub state_dir: PathBuf,
    /// Fixed clock (ms since the epoch) instead of the system's.
    pub fixed_time: Option<u64>,
}

impl Answerer {
    fn now(&self) -> u64 {
        self.fixed_time.unwrap_or_else(now_ms)
    }

    /// The messages (topic, payload) the platform publishes in answer to `payload` on `topic`.
    pub fn answer(&self, topic: &str, payload: &[u8]) -> Vec<(String, Vec<u8>)> {
        let parts: Vec<&str> = topic.split('/').collect();
        match parts.as_slice() {
            ["", "sys", pk, dn, "thing", "model", "up_raw"] => {
                vec![(
                    format!("/sys/{pk}/{dn}/thing/model/up_raw_reply"),
                    payload.to_vec(),
                )]
            }
            ["", "ext", "ntp", pk, dn, "request"] => self.ntp(pk, dn, payload).into_iter().collect(),
            ["", "sys", pk, dn, "thing", "job", op] => {
                crate::task::answer(&self.state_dir, pk, dn, op, payload)
            }
            ["", "sys", pk, dn, "thing", rest @ ..] => {
                self.alink(topic, pk, dn, rest, payload).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    fn ntp(&self, pk: &str, dn: &str, payload: &[u8]) -> Option<(String, Vec<u8>)> {
        let recv = self.now();
        let v: Value = serde_json::from_slice(payload).ok()?;
        let sent = text_of(v.get("deviceSendTime"))?;
        let send = self.now();
        Some((
            format!("/ext/ntp/{pk}/{dn}/response"),
            format!(
                "{{\"deviceSendTime\":{},\"serverRecvTime\":\"{recv}\",\"serverSendTime\":\"{send}\"}}",
                js(&sent)
            )
            .into_bytes(),
        ))
    }

    /// Requests that Aliyun answers on `<topic>_reply`.
    fn alink(
        &self,
        topic: &str,
        pk: &str,
        dn: &str,
        rest: &[&str],
        payload: &[u8],
    ) -> Option<(String, Vec<u8>)> {
        let method = match rest {
            ["event", "property", "post"] => "thing.event.property.post".to_owned(),
            ["event", "property", "batch", "post"] => "thing.event.property.batch.post".to_owned(),
            ["event", event, "post"] => format!("thing.event.{event}.post"),
            ["property", "desired", "get"] => "thing.property.desired.get".to_owned(),
            ["property", "desired", "delete"] => "thing.property.desired.delete".to_owned(),
            _ => return None,
        };
        let v: Value = serde_json::from_slice(payload).ok()?;
        let id = text_of(v.get("id"))?;
        let ack = v.pointer("/sys/ack");
        if ack.is_some_and(|a| a.as_u64() == Some(0) || a.as_str() == Some("0")) {
            return None;
        }
        let params = v.get("params").cloned().unwrap_or(Value::Null);
        let (code, data, message) = match rest {
            ["event", "property", "post"] => self.check(pk, &params),
            ["event", "property", "batch", "post"] => self.check(pk, &batch_properties(&params)),
            ["property", "desired", "get"] => (200, self.desired_get(pk, dn, &params), "success".to_owned()),
            ["property", "desired", "delete"] => {
                self.desired_delete(pk, dn, &params);
                (200, "{}".to_owned(), "success".to_owned())
            }
            _ => (200, "{}".to_owned(), "success".to_owned()),
        };
        Some((
            format!("{topic}_reply"),
            reply_json(code, &data, &id, &message, &method).into_bytes(),
        ))
    }

    /// Code, data and message of a property post's reply under the product's model.
    fn check(&self, pk: &str, params: &Value) -> (u32, String, String) {
        let Some(model) = ThingModel::load(&self.state_dir, pk) else {
            return (200, "{}".to_owned(), "success".to_owned());
        };
        let failures = model.check(params);
        let Some(first) = failures.first() else {
            return (200, "{}".to_owned(), "success".to_owned());
        };
        let data: Map<String, Value> = failures
            .iter()
            .filter(|f| !f.property.is_empty())
            .map(|f| (f.property.clone(), Value::String(f.message.to_owned())))
            .collect();
        let message = if first.property.is_empty() {
            first.message.to_owned()
        } else {
            format!("{} -> {}", first.message, first.property)
        };
        (first.code, Value::Object(data).to_string(), message)
    }

    /// `data` of a desired get: the stored entries named in `params` (all of them for an empty
    /// or missing list).
    fn desired_get(&self, pk: &str, dn: &str, params: &Value) -> String {
        let all = load_desired(&self.state_dir, pk, dn);
        let names: Vec<&str> = params
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let picked: Map<String, Value> = all
            .into_iter()
            .filter(|(k, _)| names.is_empty() || names.contains(&k.as_str()))
            .collect();
        Value::Object(picked).to_string()
    }

    /// Removes the entries named in `params` (an object of property -> `{"version":n}` or `{}`).
    fn desired_delete(&self, pk: &str, dn: &str, params: &Value) {
        let Some(names) = params.as_object() else { return };
        let mut all = load_desired(&self.state_dir, pk, dn);
        let before = all.len();
        for k in names.keys() {
            all.remove(k);
        }
        if all.len() != before {
            let _ = save_desired(&self.state_dir, pk, dn, &all);
        }
    }
}

/// A batch post's `params.properties` (property -> `[{"value":..,"time":..},...]`) as
/// property -> first `{"value":..}`, for the model check.
fn batch_properties(params: &Value) -> Value {
    let Some(props) = params.get("properties").and_then(Value::as_object) else {
        return Value::Object(Map::new());
    };
    Value::Object(
        props
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_array().and_then(|a| a.first()).cloned().unwrap_or(v.clone()),
                )
            })
            .collect(),
    )
}

/// Whether `topic` is a device uplink worth recording: a data-model or `/ext/...` topic of a
/// device (the platform's own publishes on other topics may come back through `/ext/#`).
fn recorded(topic: &str) -> bool {
    let parts: Vec<&str> = topic.split('/').collect();
    matches!(
        parts.as_slice(),
        ["", "sys", _, _, "thing", ..]
            | ["", "ext", "ntp", _, _, ..]
            | ["", "ext", "rrpc", _, "sys", _, _, ..]
    )
}

struct Inner {
    client: AsyncClient,
    answerer: Answerer,
    log: Mutex<Option<File>>,
}

impl Inner {
    fn on_message(&self, topic: &str, payload: &[u8]) {
        if !recorded(topic) {
            return;
        }
        if let Some(f) = self.log.lock().unwrap().as_mut() {
            let _ = writeln!(f, "{}", log_line(topic, payload));
            let _ = f.flush();
        }
        for (t, p) in self.answerer.answer(topic, payload) {
            if let Err(e) = self.client.try_publish(t.clone(), QoS::AtMostOnce, false, p) {
                eprintln!("aiot-platform: thing service could not answer on {t}: {e}");
            }
        }
    }
}

async fn run(inner: Arc<Inner>, mut el: EventLoop, ready: std::sync::mpsc::Sender<()>) {
    let mut pending_subacks = 0usize;
    let mut ready = Some(ready);
    loop {
        match el.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                for t in TOPICS {
                    let _ = inner.client.try_subscribe(t, QoS::AtMostOnce);
                }
                pending_subacks = TOPICS.len();
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                pending_subacks = pending_subacks.saturating_sub(1);
                if pending_subacks == 0 {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => inner.on_message(&p.topic, &p.payload),
            Ok(_) => {}
            // The broker may be restarted by broker-ctl: retry calmly.
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The running thing service. Dropping it disconnects.
pub struct ThingService {
    rt: Option<tokio::runtime::Runtime>,
    _inner: Arc<Inner>,
}

impl ThingService {
    /// Connects to the broker's plain port as `platform`, subscribes to device uplinks and
    /// returns once the subscriptions are acknowledged (10 s at most). `fixed_time` fixes the
    /// clock of NTP answers (see [`TIME_ENV`]).
    pub fn start(info: &BrokerInfo, fixed_time: Option<u64>) -> std::io::Result<ThingService> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(info.state_dir.join(THING_LOG))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("aiot-thing")
            .enable_all()
            .build()?;
        let mut opts = MqttOptions::new(
            format!("aiot-platform-thing-{}", std::process::id()),
            crate::platform::HOST,
            info.tcp_port,
        );
        opts.set_credentials(PLATFORM_USER, info.platform_password.clone());
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024);
        let (client, el) = {
            let _g = rt.enter();
            AsyncClient::new(opts, 1024)
        };
        let inner = Arc::new(Inner {
            client,
            answerer: Answerer {
                state_dir: info.state_dir.clone(),
                fixed_time,
            },
            log: Mutex::new(Some(log)),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(run(inner.clone(), el, tx));
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| std::io::Error::other("thing service: no SUBACK within 10 s"))?;
        Ok(ThingService {
            rt: Some(rt),
            _inner: inner,
        })
    }
}

impl Drop for ThingService {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answerer(name: &str, fixed: Option<u64>) -> Answerer {
        let dir = std::env::temp_dir().join(format!("aiot-thing-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Answerer {
            state_dir: dir,
            fixed_time: fixed,
        }
    }

    fn one(a: &Answerer, topic: &str, payload: &str) -> Option<(String, String)> {
        let mut v = a.answer(topic, payload.as_bytes());
        assert!(v.len() <= 1);
        v.pop().map(|(t, p)| (t, String::from_utf8(p).unwrap()))
    }

    #[test]
    fn replies_as_aliyun_with_ids_as_strings() {
        let a = answerer("replies", None);
        let post = "/sys/pk/dn/thing/event/property/post";
        assert_eq!(
            one(&a, post, r#"{"id":"7","version":"1.0","params":{"a":1},"sys":{"ack":1}}"#).unwrap(),
            (
                format!("{post}_reply"),
                r#"{"code":200,"data":{},"id":"7","message":"success","method":"thing.event.property.post","version":"1.0"}"#
                    .to_owned()
            )
        );
        // No sys at all: a reply; a numeric id comes back as a string.
        let (_, p) = one(&a, post, r#"{"id":8,"params":{}}"#).unwrap();
        assert!(p.contains(r#""id":"8""#), "{p}");
        assert_eq!(one(&a, post, r#"{"id":"9","params":{},"sys":{"ack":0}}"#), None);
        assert_eq!(one(&a, post, "not json"), None);
        assert_eq!(one(&a, post, r#"{"params":{}}"#), None);
        let (t, p) = one(
            &a,
            "/sys/pk/dn/thing/event/alarm/post",
            r#"{"id":"1","params":{}}"#,
        )
        .unwrap();
        assert_eq!(t, "/sys/pk/dn/thing/event/alarm/post_reply");
        assert!(p.contains(r#""method":"thing.event.alarm.post""#));
        let (t, p) = one(
            &a,
            "/sys/pk/dn/thing/event/property/batch/post",
            r#"{"id":"2","params":{}}"#,
        )
        .unwrap();
        assert_eq!(t, "/sys/pk/dn/thing/event/property/batch/post_reply");
        assert!(p.contains(r#""method":"thing.event.property.batch.post""#));
        // Device replies and unknown topics are not answered.
        assert_eq!(
            one(
                &a,
                "/sys/pk/dn/thing/service/property/set_reply",
                r#"{"id":"1","code":200}"#
            ),
            None
        );
        assert_eq!(
            one(&a, "/ext/rrpc/1/sys/pk/dn/thing/service/s", r#"{"id":"1"}"#),
            None
        );
        let raw = a.answer("/sys/pk/dn/thing/model/up_raw", &[0, 0xff, 1]);
        assert_eq!(
            raw,
            [("/sys/pk/dn/thing/model/up_raw_reply".to_owned(), vec![0, 0xff, 1])]
        );
    }

    #[test]
    fn model_errors_and_desired_values() {
        let a = answerer("model", None);
        std::fs::create_dir_all(a.state_dir.join("thing-model")).unwrap();
        std::fs::write(
            a.state_dir.join("thing-model/pk.json"),
            r#"{"properties":[{"identifier":"LightSwitch","dataType":{"type":"bool"}},{"identifier":"id","dataType":{"type":"text"}}]}"#,
        )
        .unwrap();
        let post = "/sys/pk/dn/thing/event/property/post";
        let (_, p) = one(&a, post, r#"{"id":"3","params":{"LightSwitch":1}}"#).unwrap();
        assert!(p.starts_with(r#"{"code":200,"#), "{p}");
        let (_, p) = one(&a, post, r#"{"id":"4","params":{"Nope":1,"id":5}}"#).unwrap();
        assert_eq!(
            p,
            r#"{"code":6304,"id":"4","message":"tsl parse: params not exist -> Nope","method":"thing.event.property.post","version":"1.0","data":{"Nope":"tsl parse: params not exist","id":"tsl parse: data type is not string"}}"#
        );
        // Another product has no model.
        let (_, p) = one(
            &a,
            "/sys/other/dn/thing/event/property/post",
            r#"{"id":"5","params":{"Nope":1}}"#,
        )
        .unwrap();
        assert!(p.starts_with(r#"{"code":200,"#), "{p}");
        let (_, p) = one(
            &a,
            "/sys/pk/dn/thing/event/property/batch/post",
            r#"{"id":"6","params":{"properties":{"LightSwitch":[{"value":"x","time":1}]}}}"#,
        )
        .unwrap();
        assert!(p.starts_with(r#"{"code":6306,"#), "{p}");

        let mut new = Map::new();
        new.insert("LightSwitch".into(), Value::from(1));
        new.insert("Color".into(), Value::from("red"));
        set_desired(&a.state_dir, "pk", "dn", &new).unwrap();
        set_desired(&a.state_dir, "pk", "dn", &new).unwrap();
        let get = "/sys/pk/dn/thing/property/desired/get";
        let (t, p) = one(&a, get, r#"{"id":"10","params":["LightSwitch"]}"#).unwrap();
        assert_eq!(t, format!("{get}_reply"));
        assert_eq!(
            p,
            r#"{"code":200,"id":"10","message":"success","method":"thing.property.desired.get","version":"1.0","data":{"LightSwitch":{"value":1,"version":2}}}"#
        );
        let (_, p) = one(
            &a,
            "/sys/pk/dn/thing/property/desired/delete",
            r#"{"id":"11","params":{"LightSwitch":{}}}"#,
        )
        .unwrap();
        assert!(p.contains(r#""method":"thing.property.desired.delete""#));
        let (_, p) = one(&a, get, r#"{"id":"12","params":[]}"#).unwrap();
        assert!(
            p.ends_with(r#""data":{"Color":{"value":"red","version":2}}}"#),
            "{p}"
        );
        let _ = std::fs::remove_dir_all(&a.state_dir);
    }

    #[test]
    fn ntp_answers_from_the_fixed_clock() {
        let a = answerer("ntp", Some(1_700_000_000_123));
        let (t, p) = one(&a, "/ext/ntp/pk/dn/request", r#"{"deviceSendTime":"1000"}"#).unwrap();
        assert_eq!(t, "/ext/ntp/pk/dn/response");
        assert_eq!(
            p,
            r#"{"deviceSendTime":"1000","serverRecvTime":"1700000000123","serverSendTime":"1700000000123"}"#
        );
        let (_, p) = one(&a, "/ext/ntp/pk/dn/request", r#"{"deviceSendTime":42}"#).unwrap();
        assert!(p.starts_with(r#"{"deviceSendTime":"42","#));
        assert_eq!(one(&a, "/ext/ntp/pk/dn/request", "{}"), None);
        assert_eq!(
            one(&a, "/ext/ntp/pk/dn/response", r#"{"deviceSendTime":"1"}"#),
            None
        );
        let _ = std::fs::remove_dir_all(&a.state_dir);
    }

    #[test]
    fn log_lines_and_recorded_topics() {
        assert_eq!(
            log_line("/t", b"{\"a\":1}"),
            r#"{"topic":"/t","payload":"{\"a\":1}"}"#
        );
        assert_eq!(log_line("/t", &[0xff, 0]), r#"{"topic":"/t","hex":"ff00"}"#);
        assert!(recorded("/sys/pk/dn/thing/event/property/post"));
        assert!(recorded("/ext/ntp/pk/dn/request"));
        assert!(recorded("/ext/rrpc/12/sys/pk/dn/thing/service/s"));
        assert!(!recorded("/ext/other"));
        assert!(!recorded("/sys/pk/dn/user/x"));
    }
}
