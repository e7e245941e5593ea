//! The OTA side of the platform over MQTT: the platform's own client (user `platform`) listens to
//! version reports, progress, firmware queries and config queries of every device, and publishes
//! upgrade jobs (FOTA pushes, firmware/get replies, COTA pushes).
//!
//! The device library, like upstream, never subscribes to the OTA topics: Aliyun's broker
//! delivers them on its own, and so does ours through the delivery plugin
//! (`plugin/aiot_delivery.c`), which sends what the platform publishes on a device's system
//! topics straight to that device.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

use crate::broker::{BrokerInfo, PLATFORM_USER};

/// Digest announced in a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignMethod {
    Sha256,
    Md5,
}

/// Firmware (FOTA) or remote configuration (COTA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Fota,
    Cota,
}

/// One file of a job.
#[derive(Clone, Debug)]
pub struct JobFile {
    pub name: String,
    pub url: String,
    pub size: u64,
    pub sha256: String,
    pub md5: String,
}

/// An upgrade job.
#[derive(Clone, Debug)]
pub struct Job {
    pub kind: Kind,
    /// Target version (FOTA) or configId (COTA).
    pub version: String,
    pub sign_method: SignMethod,
    /// One file, or several (multi-file FOTA, `files` array).
    pub files: Vec<JobFile>,
    pub module: Option<String>,
    /// Raw JSON text (an object or a string), placed as `extData`.
    pub ext_data: Option<String>,
}

/// `scheme://host:port` of `url` (all of it when it has no path).
fn url_origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// A JSON string literal of `s`.
fn js(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Job {
    fn sign_of(&self, f: &JobFile) -> String {
        match self.sign_method {
            SignMethod::Sha256 => f.sha256.clone(),
            SignMethod::Md5 => f.md5.clone(),
        }
    }

    /// The compact JSON of the `data` object of a FOTA push or firmware/get reply. Key order
    /// matters to the device parser (first occurrence wins; objects after `files` would be
    /// counted as files), so it is written by hand: `files` comes last.
    pub fn fota_data(&self) -> String {
        let f0 = &self.files[0];
        let method = match self.sign_method {
            SignMethod::Sha256 => "SHA256",
            SignMethod::Md5 => "Md5",
        };
        let mut s = format!(
            "{{\"size\":{},\"sign\":{},\"version\":{},\"url\":{},\"signMethod\":\"{method}\",\"md5\":{}",
            f0.size,
            js(&self.sign_of(f0)),
            js(&self.version),
            js(&f0.url),
            js(&f0.md5)
        );
        if let Some(m) = &self.module {
            s += &format!(",\"module\":{}", js(m));
        }
        if let Some(e) = &self.ext_data {
            s += &format!(",\"extData\":{e}");
        }
        if self.files.len() > 1 {
            let files: Vec<String> = self
                .files
                .iter()
                .map(|f| {
                    format!(
                        "{{\"fileSize\":{},\"fileSign\":{},\"fileName\":{},\"fileUrl\":{}}}",
                        f.size,
                        js(&self.sign_of(f)),
                        js(&f.name),
                        js(&f.url)
                    )
                })
                .collect();
            s += &format!(",\"files\":[{}]", files.join(","));
        }
        s.push('}');
        s
    }

    /// The compact JSON of the COTA fields (`params` of a push, `data` of a config/get reply).
    pub fn cota_data(&self) -> String {
        let f0 = &self.files[0];
        let method = match self.sign_method {
            SignMethod::Sha256 => "Sha256",
            SignMethod::Md5 => "Md5",
        };
        format!(
            "{{\"configId\":{},\"configSize\":{},\"sign\":{},\"signMethod\":\"{method}\",\"url\":{},\"getType\":\"file\"}}",
            js(&self.version),
            f0.size,
            js(&self.sign_of(f0)),
            js(&f0.url)
        )
    }

    /// The push: topic and payload.
    pub fn push_message(&self, pk: &str, dn: &str, id_ms: u64) -> (String, String) {
        match self.kind {
            Kind::Fota => (
                format!("/ota/device/upgrade/{pk}/{dn}"),
                format!(
                    "{{\"code\":\"1000\",\"data\":{},\"id\":{id_ms},\"message\":\"success\"}}",
                    self.fota_data()
                ),
            ),
            Kind::Cota => (
                format!("/sys/{pk}/{dn}/thing/config/push"),
                format!(
                    "{{\"id\":\"1\",\"version\":\"1.0\",\"params\":{},\"method\":\"thing.config.push\"}}",
                    self.cota_data()
                ),
            ),
        }
    }

    /// The answer to a query (`firmware/get` for FOTA, `config/get` for COTA) whose id was `id`
    /// (raw JSON, echoed as it came).
    pub fn reply_message(&self, pk: &str, dn: &str, id: &str) -> (String, String) {
        let (topic, data) = match self.kind {
            Kind::Fota => (
                format!("/sys/{pk}/{dn}/thing/ota/firmware/get_reply"),
                self.fota_data(),
            ),
            Kind::Cota => (format!("/sys/{pk}/{dn}/thing/config/get_reply"), self.cota_data()),
        };
        (
            topic,
            format!("{{\"code\":200,\"data\":{data},\"id\":{id},\"message\":\"success\"}}"),
        )
    }
}

/// What the platform saw from (or did to) one device.
#[derive(Clone, Debug, PartialEq)]
pub enum OtaEvent {
    /// `/ota/device/inform`: a version report.
    Version { version: String, module: Option<String> },
    /// `/ota/device/progress`: `params.step` as an integer (i64::MIN when unreadable).
    Progress {
        step: i64,
        desc: String,
        module: Option<String>,
    },
    /// `/sys/.../thing/ota/firmware/get`.
    Query { module: Option<String> },
    /// `/sys/.../thing/config/get`.
    ConfigGet,
    /// The platform published a job (push or query reply) for this version.
    Pushed { version: String, reply: bool },
}

/// When a job is sent to a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOn {
    /// Push when the device first reports a version.
    Inform,
    /// Answer the device's firmware/get (or config/get) query.
    Query,
}

/// Malformed and hostile pushes for `job`'s topic (firmware upgrade or config push), each one a
/// message a device must refuse with a log line and never hand to its OTA handler: not JSON,
/// invalid UTF-8, empty, nested past any parser's depth, `data` not an object, fields missing,
/// sizes out of range, bad digests, an unknown digest method, a non-http(s) URL, 100 KB strings,
/// an empty `files` array. URLs point at `base_url` + `/hostile/...`, so a device that fetched one
/// shows up in the firmware server's request log.
pub fn hostile_pushes(job: &Job, pk: &str, dn: &str, base_url: &str) -> Vec<(String, Vec<u8>)> {
    let (topic, field, version_key, size_key) = match job.kind {
        Kind::Fota => (
            format!("/ota/device/upgrade/{pk}/{dn}"),
            "data",
            "version",
            "size",
        ),
        Kind::Cota => (
            format!("/sys/{pk}/{dn}/thing/config/push"),
            "params",
            "configId",
            "configSize",
        ),
    };
    let url = format!("{base_url}/hostile/fw.bin");
    let sha = "0".repeat(64);
    // A whole push with `over` appended to the fields of its data object (later keys win).
    let push = |over: &str| -> Vec<u8> {
        format!(
            r#"{{"code":"1000","{field}":{{"{version_key}":"9.9.9","{size_key}":1024,"sign":"{sha}","signMethod":"SHA256","url":"{url}"{over}}},"id":1,"message":"success"}}"#
        )
        .into_bytes()
    };
    let huge = "a".repeat(100 * 1024);
    let payloads: Vec<Vec<u8>> = vec![
        b"{\"code\":\"1000\",\"data\":{\"version\"".to_vec(),
        vec![0xff, 0xfe, 0x7b, 0x00, 0x80],
        Vec::new(),
        "[".repeat(100_000).into_bytes(),
        format!(r#"{{"code":"1000","{field}":[]}}"#).into_bytes(),
        format!(r#"{{"code":"1000","{field}":{{"{version_key}":"9.9.9"}}}}"#).into_bytes(),
        push(&format!(r#","{size_key}":-1"#)),
        push(&format!(r#","{size_key}":99999999999"#)),
        push(&format!(r#","{size_key}":"12abc""#)),
        push(r#","sign":"xyz""#),
        push(r#","signMethod":"crc32""#),
        push(&format!(r#","url":"ftp://localhost/hostile/{dn}""#)),
        push(&format!(r#","url":"{url}?{huge}""#)),
        push(&format!(r#","{version_key}":"{huge}""#)),
        push(r#","files":[]"#),
    ];
    payloads.into_iter().map(|p| (topic.clone(), p)).collect()
}

/// Device key: (productKey, deviceName).
pub type DeviceKey = (String, String);

type Observer = Box<dyn Fn(&DeviceKey, &OtaEvent) + Send + Sync>;

#[derive(Default)]
struct State {
    events: HashMap<DeviceKey, Vec<(Instant, OtaEvent)>>,
    /// Per-device jobs (set by [`OtaClient::push`]); answered on queries.
    jobs: HashMap<DeviceKey, Job>,
    /// The job for every device, with its trigger.
    auto: Option<(Job, PushOn)>,
    pushed: HashMap<DeviceKey, bool>,
    observer: Option<Observer>,
    /// Publish [`hostile_pushes`] before each job push (not before query replies).
    hostile_first: bool,
}

struct Inner {
    client: AsyncClient,
    state: Mutex<State>,
    delay: Duration,
}

/// The platform's OTA client. Dropping it disconnects.
pub struct OtaClient {
    rt: Option<tokio::runtime::Runtime>,
    inner: Arc<Inner>,
}

const TOPICS: [&str; 4] = [
    "/ota/device/inform/+/+",
    "/ota/device/progress/+/+",
    "/sys/+/+/thing/ota/firmware/get",
    "/sys/+/+/thing/config/get",
];

fn params(v: &serde_json::Value) -> &serde_json::Value {
    v.get("params").unwrap_or(&serde_json::Value::Null)
}

fn str_field(v: &serde_json::Value, k: &str) -> Option<String> {
    match v.get(k)? {
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Turns a device's message into an event: (device, event, raw id).
pub fn parse_device_message(topic: &str, payload: &[u8]) -> Option<(DeviceKey, OtaEvent, String)> {
    let parts: Vec<&str> = topic.split('/').collect();
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or(serde_json::Value::Null);
    let id = v
        .get("id")
        .map(|i| i.to_string())
        .unwrap_or_else(|| "\"0\"".into());
    let p = params(&v);
    match parts.as_slice() {
        ["", "ota", "device", "inform", pk, dn] => Some((
            (pk.to_string(), dn.to_string()),
            OtaEvent::Version {
                version: str_field(p, "version")?,
                module: str_field(p, "module"),
            },
            id,
        )),
        ["", "ota", "device", "progress", pk, dn] => {
            let step = match p.get("step") {
                Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(i64::MIN),
                Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(i64::MIN),
                _ => i64::MIN,
            };
            Some((
                (pk.to_string(), dn.to_string()),
                OtaEvent::Progress {
                    step,
                    desc: str_field(p, "desc").unwrap_or_default(),
                    module: str_field(p, "module"),
                },
                id,
            ))
        }
        ["", "sys", pk, dn, "thing", "ota", "firmware", "get"] => Some((
            (pk.to_string(), dn.to_string()),
            OtaEvent::Query {
                module: str_field(p, "module"),
            },
            id,
        )),
        ["", "sys", pk, dn, "thing", "config", "get"] => {
            Some(((pk.to_string(), dn.to_string()), OtaEvent::ConfigGet, id))
        }
        _ => None,
    }
}

impl Inner {
    fn record(&self, key: &DeviceKey, ev: OtaEvent) {
        let mut st = self.state.lock().unwrap();
        if let Some(obs) = &st.observer {
            obs(key, &ev);
        }
        st.events
            .entry(key.clone())
            .or_default()
            .push((Instant::now(), ev));
    }

    fn send(self: &Arc<Self>, key: DeviceKey, job: Job, reply_id: Option<String>, delay: Duration) {
        let inner = self.clone();
        let hostile = match (&reply_id, job.files.first()) {
            (None, Some(f)) if self.state.lock().unwrap().hostile_first => {
                hostile_pushes(&job, &key.0, &key.1, url_origin(&f.url))
            }
            _ => Vec::new(),
        };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // Same topic, same QoS, one client: the broker keeps the order, the job comes last.
            for (topic, payload) in hostile {
                let _ = inner
                    .client
                    .publish(topic, QoS::AtLeastOnce, false, payload)
                    .await;
            }
            let (topic, payload) = match &reply_id {
                Some(id) => job.reply_message(&key.0, &key.1, id),
                None => job.push_message(&key.0, &key.1, now_ms()),
            };
            inner.record(
                &key,
                OtaEvent::Pushed {
                    version: job.version.clone(),
                    reply: reply_id.is_some(),
                },
            );
            let _ = inner
                .client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await;
        });
    }

    fn on_message(self: &Arc<Self>, topic: &str, payload: &[u8]) {
        let Some((key, ev, id)) = parse_device_message(topic, payload) else {
            return;
        };
        self.record(&key, ev.clone());
        let mut st = self.state.lock().unwrap();
        let auto = st.auto.clone();
        match (&ev, auto) {
            (OtaEvent::Version { .. }, Some((job, PushOn::Inform)))
                if !st.pushed.get(&key).copied().unwrap_or(false) =>
            {
                st.pushed.insert(key.clone(), true);
                drop(st);
                self.send(key, job, None, self.delay);
            }
            (OtaEvent::Query { .. }, auto) | (OtaEvent::ConfigGet, auto) => {
                let want = if matches!(ev, OtaEvent::ConfigGet) {
                    Kind::Cota
                } else {
                    Kind::Fota
                };
                let job = st
                    .jobs
                    .get(&key)
                    .cloned()
                    .or_else(|| auto.filter(|(_, on)| *on == PushOn::Query).map(|(j, _)| j))
                    .filter(|j| j.kind == want);
                drop(st);
                if let Some(job) = job {
                    self.send(key, job, Some(id), Duration::ZERO);
                }
            }
            _ => {}
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
                    let _ = inner.client.subscribe(t, QoS::AtLeastOnce).await;
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

impl OtaClient {
    /// Connects to the broker's plain port as `platform`, subscribes to the device topics and
    /// returns once the subscriptions are acknowledged (10 s at most).
    pub fn start(info: &BrokerInfo) -> std::io::Result<OtaClient> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("aiot-ota")
            .enable_all()
            .build()?;
        let mut opts = MqttOptions::new(
            format!("aiot-platform-ota-{}", std::process::id()),
            crate::platform::HOST,
            info.tcp_port,
        );
        opts.set_credentials(PLATFORM_USER, info.platform_password.clone());
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024);
        let (client, el) = {
            let _g = rt.enter();
            AsyncClient::new(opts, 256)
        };
        let inner = Arc::new(Inner {
            client,
            state: Mutex::new(State::default()),
            delay: Duration::from_millis(300),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(run(inner.clone(), el, tx));
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| std::io::Error::other("platform MQTT client: no SUBACK within 10 s"))?;
        Ok(OtaClient { rt: Some(rt), inner })
    }

    /// Sends `job` to every device: pushed on its first version report, or as the answer to its
    /// queries.
    pub fn set_auto_job(&self, job: Job, on: PushOn) {
        self.inner.state.lock().unwrap().auto = Some((job, on));
    }

    /// Before each job push, publish [`hostile_pushes`] to the device first.
    pub fn set_hostile_first(&self, on: bool) {
        self.inner.state.lock().unwrap().hostile_first = on;
    }

    /// Called with each event as it is recorded (from the client's thread).
    pub fn set_observer(&self, f: impl Fn(&DeviceKey, &OtaEvent) + Send + Sync + 'static) {
        self.inner.state.lock().unwrap().observer = Some(Box::new(f));
    }

    /// Publishes `job` to the device now (QoS 1), and answers its later queries with it.
    /// Returns the topic and payload.
    pub fn push(&self, pk: &str, dn: &str, job: &Job) -> (String, String) {
        let key = (pk.to_owned(), dn.to_owned());
        self.inner
            .state
            .lock()
            .unwrap()
            .jobs
            .insert(key.clone(), job.clone());
        let msg = job.push_message(pk, dn, now_ms());
        let _g = self.rt.as_ref().expect("running").enter();
        self.inner.send(key, job.clone(), None, Duration::ZERO);
        msg
    }

    /// Everything recorded so far, per device, in order.
    pub fn events(&self) -> HashMap<DeviceKey, Vec<OtaEvent>> {
        self.inner
            .state
            .lock()
            .unwrap()
            .events
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|(_, e)| e.clone()).collect()))
            .collect()
    }
}

impl Drop for OtaClient {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Verdict of an OTA run for one device's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Success,
    ChecksumFailure,
    FetchFailure,
}

/// Whether `events` satisfy `expect` for target `version`. For `Success` this covers the MQTT
/// part only (a version report before the push, progress 100, the new version reported after);
/// the file hash and the exit status are checked by the caller.
pub fn judge(events: &[OtaEvent], version: &str, expect: Expect) -> Result<(), String> {
    let steps: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            OtaEvent::Progress { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    let reached_100 = steps.contains(&100);
    match expect {
        Expect::Success => {
            let pushed_at = events
                .iter()
                .position(|e| matches!(e, OtaEvent::Pushed { .. }))
                .ok_or("no job was sent to the device")?;
            if !events[..pushed_at]
                .iter()
                .any(|e| matches!(e, OtaEvent::Version { .. }))
            {
                return Err("no version report before the job".into());
            }
            if !reached_100 {
                return Err(format!("progress never reached 100 (steps {steps:?})"));
            }
            // aiot_download_send_request reports the current percent, 0 on the first request.
            let first_step = events[pushed_at..].iter().find_map(|e| match e {
                OtaEvent::Progress { step, .. } => Some(*step),
                _ => None,
            });
            if first_step != Some(0) {
                return Err(format!("the first progress report was not 0 (steps {steps:?})"));
            }
            if !events[pushed_at..]
                .iter()
                .any(|e| matches!(e, OtaEvent::Version { version: v, .. } if v == version))
            {
                return Err(format!("version {version} was not reported after the job"));
            }
            Ok(())
        }
        Expect::ChecksumFailure => {
            if reached_100 {
                Err("progress reached 100".into())
            } else if steps.contains(&-3) {
                Ok(())
            } else {
                Err(format!("step -3 never seen (steps {steps:?})"))
            }
        }
        Expect::FetchFailure => {
            if reached_100 {
                Err("progress reached 100".into())
            } else if steps.iter().any(|s| *s < 0 && *s != -3) {
                Ok(())
            } else {
                Err(format!("no negative step other than -3 (steps {steps:?})"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: Kind, n: usize) -> Job {
        Job {
            kind,
            version: "1.1.0".into(),
            sign_method: SignMethod::Sha256,
            files: (0..n)
                .map(|i| JobFile {
                    name: format!("f{i}.bin"),
                    url: format!("https://localhost:1/ota/ab/f{i}.bin?Expires=1&Signature=x"),
                    size: 100 + i as u64,
                    sha256: "a".repeat(64),
                    md5: "b".repeat(32),
                })
                .collect(),
            module: Some("mcu".into()),
            ext_data: Some("{\"k\":\"v\",\"n\":1}".into()),
        }
    }

    #[test]
    fn fota_push_shape() {
        let (topic, payload) = job(Kind::Fota, 1).push_message("pk", "dn", 42);
        assert_eq!(topic, "/ota/device/upgrade/pk/dn");
        let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(v["code"], "1000");
        assert_eq!(v["id"], 42);
        assert_eq!(v["message"], "success");
        let d = &v["data"];
        assert_eq!(d["size"], 100);
        assert_eq!(d["sign"], "a".repeat(64));
        assert_eq!(d["version"], "1.1.0");
        assert_eq!(d["signMethod"], "SHA256");
        assert_eq!(d["md5"], "b".repeat(32));
        assert_eq!(d["module"], "mcu");
        assert_eq!(d["extData"]["n"], 1);
        assert!(d["url"].as_str().unwrap().starts_with("https://localhost:1/ota/"));
        assert!(d.get("files").is_none());
        assert!(
            !payload.contains(": ") && !payload.contains(", "),
            "compact: {payload}"
        );
    }

    #[test]
    fn multi_file_and_md5() {
        let mut j = job(Kind::Fota, 3);
        j.sign_method = SignMethod::Md5;
        let (_, payload) = j.push_message("pk", "dn", 1);
        let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
        let d = &v["data"];
        assert_eq!(d["signMethod"], "Md5");
        assert_eq!(d["sign"], "b".repeat(32));
        let files = d["files"].as_array().unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(files[2]["fileSize"], 102);
        assert_eq!(files[2]["fileName"], "f2.bin");
        assert_eq!(files[2]["fileSign"], "b".repeat(32));
        assert!(files[2]["fileUrl"].as_str().unwrap().contains("f2.bin"));
        // Nothing after the files array inside data.
        assert!(payload.contains("]},\"id\":1"), "{payload}");
    }

    #[test]
    fn cota_push_and_replies() {
        let j = job(Kind::Cota, 1);
        let (topic, payload) = j.push_message("pk", "dn", 1);
        assert_eq!(topic, "/sys/pk/dn/thing/config/push");
        let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(v["id"], "1");
        assert_eq!(v["method"], "thing.config.push");
        assert_eq!(v["params"]["configId"], "1.1.0");
        assert_eq!(v["params"]["configSize"], 100);
        assert_eq!(v["params"]["signMethod"], "Sha256");
        assert_eq!(v["params"]["getType"], "file");
        let (topic, payload) = job(Kind::Fota, 1).reply_message("pk", "dn", "7");
        assert_eq!(topic, "/sys/pk/dn/thing/ota/firmware/get_reply");
        let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(v["code"], 200);
        assert_eq!(v["id"], 7);
        assert_eq!(v["data"]["version"], "1.1.0");
    }

    #[test]
    fn hostile_pushes_break_one_rule_each() {
        let j = job(Kind::Fota, 1);
        assert_eq!(url_origin(&j.files[0].url), "https://localhost:1");
        assert_eq!(url_origin("http://h:2"), "http://h:2");
        let msgs = hostile_pushes(&j, "pk", "dn", "https://localhost:1");
        assert_eq!(msgs.len(), 15);
        assert!(msgs.iter().all(|(t, _)| t == "/ota/device/upgrade/pk/dn"));
        let json: Vec<Option<serde_json::Value>> =
            msgs.iter().map(|(_, p)| serde_json::from_slice(p).ok()).collect();
        // Four are not JSON at all (serde_json refuses the deep nesting too); the rest are JSON
        // whose "data" breaks a rule.
        assert!(json[..4].iter().all(Option::is_none));
        assert!(json[4..].iter().all(Option::is_some));
        let data = |i: usize| json[i].as_ref().unwrap()["data"].clone();
        assert!(data(4).is_array());
        assert_eq!(data(6)["size"], -1);
        assert_eq!(data(9)["sign"], "xyz");
        assert!(data(12)["url"]
            .as_str()
            .unwrap()
            .starts_with("https://localhost:1/hostile/"));
        assert!(data(12)["url"].as_str().unwrap().len() > 100 * 1024);
        assert_eq!(data(14)["files"], serde_json::json!([]));
        let cota = hostile_pushes(&job(Kind::Cota, 1), "pk", "dn", "https://localhost:1");
        assert!(cota.iter().all(|(t, _)| t == "/sys/pk/dn/thing/config/push"));
        let params: serde_json::Value = serde_json::from_slice(&cota[6].1).unwrap();
        assert_eq!(params["params"]["configSize"], -1);
    }

    #[test]
    fn device_messages_and_verdicts() {
        let (k, ev, _) = parse_device_message(
            "/ota/device/progress/pk/dn",
            br#"{"id":1, "params":{"step":"5","desc":""}}"#,
        )
        .unwrap();
        assert_eq!(k, ("pk".to_string(), "dn".to_string()));
        assert_eq!(
            ev,
            OtaEvent::Progress {
                step: 5,
                desc: String::new(),
                module: None
            }
        );
        let (_, ev, _) = parse_device_message(
            "/ota/device/inform/pk/dn",
            br#"{"id":2, "params":{"version":"1.0.0","module":"m"}}"#,
        )
        .unwrap();
        assert_eq!(
            ev,
            OtaEvent::Version {
                version: "1.0.0".into(),
                module: Some("m".into())
            }
        );
        let (_, ev, id) =
            parse_device_message("/sys/pk/dn/thing/ota/firmware/get", br#"{"id":3, "params":{}}"#).unwrap();
        assert_eq!((ev, id.as_str()), (OtaEvent::Query { module: None }, "3"));

        let v = |s: &str| OtaEvent::Version {
            version: s.into(),
            module: None,
        };
        let p = |n| OtaEvent::Progress {
            step: n,
            desc: String::new(),
            module: None,
        };
        let pushed = OtaEvent::Pushed {
            version: "1.1.0".into(),
            reply: false,
        };
        let ok = [v("1.0.0"), pushed.clone(), p(0), p(50), p(100), v("1.1.0")];
        assert_eq!(judge(&ok, "1.1.0", Expect::Success), Ok(()));
        let no_zero = [v("1.0.0"), pushed.clone(), p(50), p(100), v("1.1.0")];
        assert!(judge(&no_zero, "1.1.0", Expect::Success).is_err());
        assert!(judge(&ok[..5], "1.1.0", Expect::Success).is_err());
        assert!(judge(&ok, "1.1.0", Expect::ChecksumFailure).is_err());
        let bad = [v("1.0.0"), pushed.clone(), p(10), p(-3)];
        assert_eq!(judge(&bad, "1.1.0", Expect::ChecksumFailure), Ok(()));
        assert!(judge(&bad, "1.1.0", Expect::FetchFailure).is_err());
        let fetch = [v("1.0.0"), pushed, p(-2)];
        assert_eq!(judge(&fetch, "1.1.0", Expect::FetchFailure), Ok(()));
    }
}
