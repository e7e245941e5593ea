//! The platform's side of logpost (`aiot_logpost_api.h`) and of the device logs diag posts:
//! a client of the broker (user `platform`) that
//!
//! - answers `/sys/{pk}/{dn}/thing/config/log/get` on `.../config/log/get_reply` with the
//!   device's log switch: `{"id":"<id>","code":200,"data":{"getType":"content","content":
//!   {"mode":<0|1>}},"message":"success"}` (compact, the id echoed as a string);
//! - records every record of `/sys/{pk}/{dn}/thing/log/post` (user logs, `net_conn` / `net_rt`,
//!   the SDK's own lines, diag alerts) as one JSON line in `<state-dir>/logpost.log`:
//!   `{"pk":..,"dn":..,"id":..,"utcTime":..,"logLevel":..,"module":..,"code":..,
//!   "traceContext":..,"logContent":..}`; a payload that is not upstream's shape is kept as
//!   `{"pk":..,"dn":..,"invalid":"<text>"}`.
//!
//! The switch of each device lives in `<state-dir>/logpost/<pk>/<dn>` (`0` or `1`; none: 0, as
//! on Aliyun, where device log upload starts switched off). `aiot-platform logpost mode` sets it
//! and pushes `{"id":"<n>","version":"1.0","params":{"getType":"content","content":{"mode":..}}}`
//! on `.../config/log/push`; the delivery plugin hands both downlinks to the device without a
//! SUBSCRIBE (they are `/sys/<pk>/<dn>/...` topics).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

use crate::broker::{BrokerInfo, PLATFORM_USER};

/// The log of device log records in the state folder.
pub const LOGPOST_LOG: &str = "logpost.log";

const TOPICS: [&str; 2] = ["/sys/+/+/thing/config/log/get", "/sys/+/+/thing/log/post"];

fn safe_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '\\']) && !s.starts_with('.')
}

/// Where a device's switch is kept.
pub fn mode_file(state_dir: &Path, pk: &str, dn: &str) -> Option<PathBuf> {
    (safe_name(pk) && safe_name(dn)).then(|| state_dir.join("logpost").join(pk).join(dn))
}

/// The device's log switch (0 when never set).
pub fn mode(state_dir: &Path, pk: &str, dn: &str) -> u8 {
    mode_file(state_dir, pk, dn)
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Stores the device's log switch.
pub fn set_mode(state_dir: &Path, pk: &str, dn: &str, mode: u8) -> std::io::Result<()> {
    let f = mode_file(state_dir, pk, dn)
        .ok_or_else(|| std::io::Error::other("bad product key or device name"))?;
    std::fs::create_dir_all(f.parent().expect("has a parent"))?;
    std::fs::write(f, mode.to_string())
}

/// The push of `mode` under id `id`.
pub fn config_push(id: &str, mode: u8) -> String {
    format!(
        "{{\"id\":{},\"version\":\"1.0\",\"params\":{{\"getType\":\"content\",\"content\":{{\"mode\":{mode}}}}}}}",
        json!(id)
    )
}

/// The reply to a config get.
pub fn config_reply(id: &str, mode: u8) -> String {
    format!(
        "{{\"id\":{},\"code\":200,\"data\":{{\"getType\":\"content\",\"content\":{{\"mode\":{mode}}}}},\"message\":\"success\"}}",
        json!(id)
    )
}

/// The id of a request as text (a string as is, a number in decimal).
fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What the platform publishes in answer to `payload` on `topic` (a config get), if anything.
pub fn answer(state_dir: &Path, topic: &str, payload: &[u8]) -> Option<(String, String)> {
    let parts: Vec<&str> = topic.split('/').collect();
    let ["", "sys", pk, dn, "thing", "config", "log", "get"] = parts.as_slice() else {
        return None;
    };
    let v: Value = serde_json::from_slice(payload).ok()?;
    let id = id_of(&v)?;
    Some((
        format!("{topic}_reply"),
        config_reply(&id, mode(state_dir, pk, dn)),
    ))
}

const RECORD_KEYS: [&str; 6] = [
    "utcTime",
    "logLevel",
    "module",
    "code",
    "traceContext",
    "logContent",
];

/// The lines of `logpost.log` for a post on `topic` (none for other topics).
pub fn records(topic: &str, payload: &[u8]) -> Vec<String> {
    let parts: Vec<&str> = topic.split('/').collect();
    let ["", "sys", pk, dn, "thing", "log", "post"] = parts.as_slice() else {
        return Vec::new();
    };
    let invalid =
        || vec![json!({"pk": pk, "dn": dn, "invalid": String::from_utf8_lossy(payload)}).to_string()];
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return invalid();
    };
    let (Some(id), Some(params)) = (id_of(&v), v.get("params").and_then(Value::as_array)) else {
        return invalid();
    };
    let mut out = Vec::new();
    for p in params {
        let mut line = serde_json::Map::new();
        line.insert("pk".into(), json!(pk));
        line.insert("dn".into(), json!(dn));
        line.insert("id".into(), json!(id));
        for k in RECORD_KEYS {
            match p.get(k) {
                Some(Value::String(s)) => line.insert(k.into(), json!(s)),
                _ => return invalid(),
            };
        }
        out.push(Value::Object(line).to_string());
    }
    if out.is_empty() {
        return invalid();
    }
    out
}

struct Inner {
    client: AsyncClient,
    state_dir: PathBuf,
    log: Mutex<File>,
}

impl Inner {
    fn on_message(&self, topic: &str, payload: &[u8]) {
        let lines = records(topic, payload);
        if !lines.is_empty() {
            let mut f = self.log.lock().unwrap();
            for l in lines {
                let _ = writeln!(f, "{l}");
            }
            let _ = f.flush();
        }
        if let Some((t, p)) = answer(&self.state_dir, topic, payload) {
            if let Err(e) = self.client.try_publish(t.clone(), QoS::AtMostOnce, false, p) {
                eprintln!("aiot-platform: logpost service could not answer on {t}: {e}");
            }
        }
    }
}

async fn run(inner: Arc<Inner>, mut el: EventLoop, ready: std::sync::mpsc::Sender<()>) {
    let mut pending = 0usize;
    let mut ready = Some(ready);
    loop {
        match el.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                for t in TOPICS {
                    let _ = inner.client.try_subscribe(t, QoS::AtMostOnce);
                }
                pending = TOPICS.len();
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                pending = pending.saturating_sub(1);
                if pending == 0 {
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

/// The running logpost service. Dropping it disconnects.
pub struct LogpostService {
    rt: Option<tokio::runtime::Runtime>,
    _inner: Arc<Inner>,
}

impl LogpostService {
    /// Connects as `platform`, subscribes to config gets and log posts and returns once the
    /// subscriptions are acknowledged (10 s at most).
    pub fn start(info: &BrokerInfo) -> std::io::Result<LogpostService> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(info.state_dir.join(LOGPOST_LOG))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("aiot-logpost")
            .enable_all()
            .build()?;
        let mut opts = MqttOptions::new(
            format!("aiot-platform-logpost-{}", std::process::id()),
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
            state_dir: info.state_dir.clone(),
            log: Mutex::new(log),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(run(inner.clone(), el, tx));
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| std::io::Error::other("logpost service: no SUBACK within 10 s"))?;
        Ok(LogpostService {
            rt: Some(rt),
            _inner: inner,
        })
    }
}

impl Drop for LogpostService {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_millis(500));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_get_is_answered_with_the_stored_mode() {
        let dir = std::env::temp_dir().join(format!("aiot-logpost-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let get = br#"{"id":"7","version":"1.0","params":{"getType":"content","configScope":"device"}}"#;
        let (t, p) = answer(&dir, "/sys/pk/dn/thing/config/log/get", get).unwrap();
        assert_eq!(t, "/sys/pk/dn/thing/config/log/get_reply");
        assert_eq!(
            p,
            r#"{"id":"7","code":200,"data":{"getType":"content","content":{"mode":0}},"message":"success"}"#
        );
        set_mode(&dir, "pk", "dn", 1).unwrap();
        let (_, p) = answer(&dir, "/sys/pk/dn/thing/config/log/get", b"{\"id\":8}").unwrap();
        assert!(p.contains("\"mode\":1") && p.contains("\"id\":\"8\""), "{p}");
        assert!(answer(&dir, "/sys/pk/dn/thing/config/log/get", b"nope").is_none());
        assert!(answer(&dir, "/sys/pk/dn/thing/log/post", get).is_none());
        assert!(set_mode(&dir, "..", "dn", 1).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn posts_become_one_line_per_record() {
        let post = br#"{"id":"3","version":"1.0","params":[{"utcTime":"2023/1/7 9:5:3","logLevel":"INFO","module":"net_rt","code":"200","traceContext":"0","logContent":"time=1^rtt=2"},{"utcTime":"1","logLevel":"DEBUG","module":"sdk","code":"-791","traceContext":"0","logContent":"x"}]}"#;
        let lines = records("/sys/pk/dn/thing/log/post", post);
        assert_eq!(lines.len(), 2);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            (v["pk"].as_str(), v["module"].as_str(), v["id"].as_str()),
            (Some("pk"), Some("net_rt"), Some("3"))
        );
        for bad in [
            &b"{"[..],
            b"{\"id\":\"1\",\"params\":[]}",
            b"{\"id\":\"1\",\"params\":[{\"module\":1}]}",
        ] {
            let l = records("/sys/pk/dn/thing/log/post", bad);
            assert_eq!(l.len(), 1);
            assert!(l[0].contains("\"invalid\""));
        }
        assert!(records("/sys/pk/dn/thing/event/property/post", post).is_empty());
    }
}
