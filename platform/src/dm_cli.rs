//! `aiot-platform dm ...`: the platform's side of the data model from the command line (set
//! properties, call services asynchronously and over RRPC, send raw data, publish anything,
//! show what a device posted). Each command connects to the running broker of a state folder
//! as the user `platform`, does one exchange and exits.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aiot_platform::broker::listed_devices;
use aiot_platform::thing::{hex, set_desired, THING_LOG};
use aiot_platform::BrokerInfo;
use aiot_platform::PLATFORM_USER;
use rumqttc::{Client, ConnectReturnCode, Connection, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::Value;

/// Exit status when no reply came in time.
pub const EXIT_TIMEOUT: u8 = 3;

/// How long connecting and subscribing may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

pub const DM_LONG_ABOUT: &str = "\
The platform's side of the data model (Alink), for tests and for trying a device by hand. Each
command connects to the broker of a running `exec`, `ota-exec`, `serve` or `broker` (user
'platform', password from <state>/ports), does one exchange and exits. Messages reach the device
without it subscribing, as on Aliyun (the delivery plugin), also on /ext/rrpc/... and /ext/ntp/...

  set       {\"id\":\"<n>\",\"version\":\"1.0\",\"params\":PARAMS,\"method\":\"thing.service.property.set\"}
            on /sys/<pk>/<dn>/thing/service/property/set; waits for set_reply with that id
  call      the same with \"method\":\"thing.service.<S>\" on /sys/<pk>/<dn>/thing/service/<S>;
            waits for .../<S>_reply with that id (asynchronous service)
  rrpc      the same on /ext/rrpc/<n>/sys/<pk>/<dn>/thing/service/<S>; the reply comes on the same
            topic (synchronous service; 7 s, the SDK's default RRPC timeout)
  raw       bytes (hex) on /sys/<pk>/<dn>/thing/model/down_raw
  rrpc-raw  bytes on /ext/rrpc/<n>/sys/<pk>/<dn>/thing/model/down_raw; waits for the reply bytes
  publish   any topic, any payload (--payload, --hex or --payload-file; malformed downlinks);
            --to PK/DN delivers it to that device whatever the topic names
  show      the device's uplinks recorded in <state>/thing.log, one JSON line each
  desired   store desired property values, answered to the device's desired/get

The service running inside exec/ota-exec/serve answers the device's side by itself: property,
event and batch posts and desired get/delete get their *_reply (code 200, the id echoed as a
string; none for \"sys\":{\"ack\":0}), up_raw gets up_raw_reply with the same bytes, and NTP
requests on /ext/ntp/<pk>/<dn>/request get their response (clock fixed with
AIOT_PLATFORM_TIME_MS=<epoch ms>). A thing model per product (--thing-model PK=FILE, Aliyun's TSL
JSON, or <state>/thing-model/<pk>.json) makes it answer an unknown property with 6304 and a value
of the wrong type with 6306 (int, bool, enum) or 6310 (text, date), as Aliyun does.

--device PK/DN picks the device (default: the first one of the platform). The reply is printed
on stdout (rrpc-raw: as hex). Exit status: 0 done (a reply with the request's id came); 3 no
reply within --timeout-ms (stdout 'timeout'); 2 bad arguments or no broker to talk to.";

/// The state folder and the device.
#[derive(clap::Args)]
pub struct Target {
    /// The state folder of the running platform ($AIOT_STATE_DIR).
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// The device as productKey/deviceName (default: the platform's first device).
    #[arg(long, value_name = "PK/DN")]
    pub device: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum DmCmd {
    /// Set properties (thing.service.property.set) and print the device's set_reply.
    Set {
        #[command(flatten)]
        target: Target,
        /// Give up (exit 3) after this many milliseconds without the reply.
        #[arg(long, value_name = "MS", default_value_t = 5000)]
        timeout_ms: u64,
        /// The params object, JSON, e.g. '{"LightSwitch":1}' (inserted as given).
        params: String,
    },
    /// Call an asynchronous service and print the device's <service>_reply.
    Call {
        #[command(flatten)]
        target: Target,
        /// The service identifier (topic /sys/<pk>/<dn>/thing/service/<S>).
        #[arg(long, value_name = "S")]
        service: String,
        /// Give up (exit 3) after this many milliseconds without the reply.
        #[arg(long, value_name = "MS", default_value_t = 5000)]
        timeout_ms: u64,
        /// The params, JSON (inserted as given).
        params: String,
    },
    /// Call a synchronous service over RRPC and print the reply (or "timeout", exit 3).
    Rrpc {
        #[command(flatten)]
        target: Target,
        /// The service identifier (topic /ext/rrpc/<n>/sys/<pk>/<dn>/thing/service/<S>).
        #[arg(long, value_name = "S")]
        service: String,
        /// Give up (exit 3) after this many milliseconds without the reply.
        #[arg(long, value_name = "MS", default_value_t = 7000)]
        timeout_ms: u64,
        /// The params, JSON (inserted as given).
        params: String,
    },
    /// Send raw bytes on /sys/<pk>/<dn>/thing/model/down_raw.
    Raw {
        #[command(flatten)]
        target: Target,
        /// The bytes as hex, e.g. 0102ff.
        hex: String,
    },
    /// Send raw bytes over RRPC (/ext/rrpc/<n>/.../thing/model/down_raw) and print the reply as hex.
    RrpcRaw {
        #[command(flatten)]
        target: Target,
        /// Give up (exit 3) after this many milliseconds without the reply.
        #[arg(long, value_name = "MS", default_value_t = 7000)]
        timeout_ms: u64,
        /// The bytes as hex, e.g. 0102ff.
        hex: String,
    },
    /// Publish anything as the platform (delivered to a device like every platform message).
    #[command(group = clap::ArgGroup::new("body").required(true).multiple(false))]
    Publish {
        /// The state folder of the running platform ($AIOT_STATE_DIR).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// The topic.
        #[arg(long, value_name = "T")]
        topic: String,
        /// The payload as text.
        #[arg(long, value_name = "STR", group = "body")]
        payload: Option<String>,
        /// The payload as hex bytes (for invalid UTF-8).
        #[arg(long, value_name = "HEX", group = "body")]
        hex: Option<String>,
        /// The payload is this file's bytes (for payloads too big for a command line).
        #[arg(long, value_name = "FILE", group = "body")]
        payload_file: Option<PathBuf>,
        /// Deliver to this device (productKey/deviceName) whatever the topic names, e.g. a
        /// system topic with an empty product key that no ACL or subscription would route.
        #[arg(long, value_name = "PK/DN")]
        to: Option<String>,
    },
    /// Print the device's uplinks recorded in <state>/thing.log, one JSON line each.
    Show {
        #[command(flatten)]
        target: Target,
    },
    /// Store desired property values for the device (answered to its desired/get).
    Desired {
        #[command(flatten)]
        target: Target,
        /// A JSON object of property -> value, e.g. '{"LightSwitch":1}'; each version goes up by one.
        values: String,
    },
}

pub(crate) fn device_of(t: &Target) -> Result<(String, String), String> {
    if let Some(d) = &t.device {
        let (pk, dn) = d
            .split_once('/')
            .filter(|(pk, dn)| !pk.is_empty() && !dn.is_empty() && !dn.contains('/'))
            .ok_or_else(|| format!("--device {d:?}: expected productKey/deviceName"))?;
        return Ok((pk.to_owned(), dn.to_owned()));
    }
    listed_devices(&t.state_dir)
        .map_err(|e| format!("no platform set up in {}: {e}", t.state_dir.display()))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("no device listed in {}", t.state_dir.display()))
}

fn json_arg(what: &str, text: &str) -> Result<String, String> {
    serde_json::from_str::<Value>(text).map_err(|e| format!("{what} is not JSON: {e}"))?;
    Ok(text.trim().to_owned())
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{s:?} is not hex"));
    }
    Ok((0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("checked"))
        .collect())
}

/// A fresh message id (decimal, below 2^31 so that every reader takes it).
pub(crate) fn new_id() -> String {
    let ms = aiot_platform::ota::now_ms();
    ((ms % 100_000_000) * 10 + u64::from(std::process::id() % 10)).to_string()
}

/// The id of a reply, as text.
fn id_of(payload: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Value>(payload).ok()?.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether `payload` is an Alink request (it has a `method`).
fn is_request(payload: &[u8]) -> bool {
    serde_json::from_slice::<Value>(payload).is_ok_and(|v| v.get("method").is_some())
}

/// One connection of the platform user.
struct Session {
    client: Client,
    conn: Connection,
}

impl Session {
    fn open(state_dir: &std::path::Path) -> Result<Session, String> {
        let info = BrokerInfo::load(state_dir)
            .map_err(|e| format!("no platform set up in {}: {e}", state_dir.display()))?;
        let mut opts = MqttOptions::new(
            format!("aiot-platform-dm-{}", std::process::id()),
            aiot_platform::HOST,
            info.tcp_port,
        );
        opts.set_credentials(PLATFORM_USER, info.platform_password.clone());
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024);
        let (client, conn) = Client::new(opts, 16);
        let mut s = Session { client, conn };
        s.until(SETUP_TIMEOUT, "CONNACK", |ev| match ev {
            Event::Incoming(Packet::ConnAck(a)) if a.code == ConnectReturnCode::Success => Some(Ok(())),
            Event::Incoming(Packet::ConnAck(a)) => {
                Some(Err(format!("broker refused the platform: {:?}", a.code)))
            }
            _ => None,
        })?
        .ok_or("no CONNACK from the broker within 5 s")??;
        Ok(s)
    }

    /// Polls until `f` returns a value or `within` passes (then None).
    fn until<T>(
        &mut self,
        within: Duration,
        what: &str,
        mut f: impl FnMut(Event) -> Option<T>,
    ) -> Result<Option<T>, String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match self.conn.recv_timeout(left) {
                Ok(Ok(ev)) => {
                    if let Some(v) = f(ev) {
                        return Ok(Some(v));
                    }
                }
                Ok(Err(e)) => return Err(format!("connection to the broker ({what}): {e}")),
                Err(_) => return Ok(None),
            }
        }
    }

    fn subscribe(&mut self, topic: &str) -> Result<(), String> {
        self.client
            .subscribe(topic, QoS::AtLeastOnce)
            .map_err(|e| e.to_string())?;
        self.until(SETUP_TIMEOUT, "SUBACK", |ev| {
            matches!(ev, Event::Incoming(Packet::SubAck(_))).then_some(())
        })?
        .ok_or_else(|| format!("no SUBACK for {topic} within 5 s"))
    }

    /// Publishes at QoS 0 (as Aliyun sends downlinks) and returns once it is written.
    fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.client
            .publish(topic, QoS::AtMostOnce, false, payload)
            .map_err(|e| e.to_string())?;
        self.until(SETUP_TIMEOUT, "PUBLISH", |ev| {
            matches!(ev, Event::Outgoing(Outgoing::Publish(_))).then_some(())
        })?
        .ok_or_else(|| format!("could not publish on {topic} within 5 s"))
    }

    /// The first message on `topic` (with id `id`, if given) within `within`. A message with a
    /// `method` is a request, never a reply: without the delivery plugin (AIOT_BROKER_DEFAULTS=1)
    /// an RRPC request comes back to its sender, which subscribed to the same topic.
    fn reply(&mut self, topic: &str, id: Option<&str>, within: Duration) -> Result<Option<Vec<u8>>, String> {
        self.until(within, "waiting for the reply", |ev| match ev {
            Event::Incoming(Packet::Publish(p))
                if p.topic == topic
                    && id.is_none_or(|id| id_of(&p.payload).as_deref() == Some(id))
                    && !(id.is_some() && is_request(&p.payload)) =>
            {
                Some(p.payload.to_vec())
            }
            _ => None,
        })
    }

    fn close(mut self) {
        let _ = self.client.disconnect();
        let _ = self.until(Duration::from_secs(1), "DISCONNECT", |ev| {
            matches!(ev, Event::Outgoing(Outgoing::Disconnect)).then_some(())
        });
    }
}

/// Sends `payload` on `topic` and waits for a message on `reply_topic` (with `id`).
pub(crate) fn exchange(
    state_dir: &std::path::Path,
    topic: &str,
    payload: Vec<u8>,
    reply_topic: &str,
    id: Option<&str>,
    timeout_ms: u64,
    as_hex: bool,
) -> Result<u8, String> {
    let mut s = Session::open(state_dir)?;
    s.subscribe(reply_topic)?;
    s.publish(topic, payload)?;
    let got = s.reply(reply_topic, id, Duration::from_millis(timeout_ms))?;
    s.close();
    match got {
        Some(p) if as_hex => println!("{}", hex(&p)),
        Some(p) => println!("{}", String::from_utf8_lossy(&p)),
        None => {
            println!("timeout");
            eprintln!("aiot-platform: no reply on {reply_topic} within {timeout_ms} ms");
            return Ok(EXIT_TIMEOUT);
        }
    }
    Ok(0)
}

fn request(id: &str, params: &str, method: &str) -> Vec<u8> {
    format!("{{\"id\":\"{id}\",\"version\":\"1.0\",\"params\":{params},\"method\":\"{method}\"}}")
        .into_bytes()
}

fn check_service(s: &str) -> Result<(), String> {
    if s.is_empty() || s.contains(['/', '+', '#']) {
        return Err(format!("--service {s:?} is not a service identifier"));
    }
    Ok(())
}

/// How a service is invoked.
enum Invoke<'a> {
    /// thing.service.property.set; reply on `set_reply`.
    Set,
    /// An asynchronous service; reply on `<S>_reply`.
    Async(&'a str),
    /// A synchronous service over RRPC; reply on the request's topic.
    Sync(&'a str),
}

/// Sends a request with `params` to the device and prints its reply (exit 0), or times out (3).
fn invoke(target: &Target, how: Invoke, params: &str, timeout_ms: u64) -> Result<u8, String> {
    if let Invoke::Async(s) | Invoke::Sync(s) = how {
        check_service(s)?;
    }
    let params = json_arg("PARAMS", params)?;
    let (pk, dn) = device_of(target)?;
    let id = new_id();
    let (topic, reply, method) = match how {
        Invoke::Set => {
            let t = format!("/sys/{pk}/{dn}/thing/service/property/set");
            (
                t.clone(),
                format!("{t}_reply"),
                "thing.service.property.set".to_owned(),
            )
        }
        Invoke::Async(s) => {
            let t = format!("/sys/{pk}/{dn}/thing/service/{s}");
            (t.clone(), format!("{t}_reply"), format!("thing.service.{s}"))
        }
        // The reply shares the request's topic; the platform's request is delivered to the
        // device only, so what this subscription sees is the device's reply.
        Invoke::Sync(s) => {
            let t = format!("/ext/rrpc/{id}/sys/{pk}/{dn}/thing/service/{s}");
            (t.clone(), t, format!("thing.service.{s}"))
        }
    };
    let payload = request(&id, &params, &method);
    exchange(
        &target.state_dir,
        &topic,
        payload,
        &reply,
        Some(&id),
        timeout_ms,
        false,
    )
}

/// Publishes `bytes` on `topic` as the platform.
fn publish_once(state_dir: &std::path::Path, topic: &str, bytes: Vec<u8>) -> Result<u8, String> {
    if topic.is_empty() || topic.contains(['+', '#']) {
        return Err(format!("--topic {topic:?} is not a topic name"));
    }
    let mut s = Session::open(state_dir)?;
    s.publish(topic, bytes)?;
    s.close();
    Ok(0)
}

/// Prints the device's lines of thing.log.
fn show(target: &Target) -> Result<u8, String> {
    let (pk, dn) = device_of(target)?;
    let log = target.state_dir.join(THING_LOG);
    let text = std::fs::read_to_string(&log)
        .map_err(|e| format!("{}: {e} (no exec/ota-exec/serve ran there?)", log.display()))?;
    for line in text.lines() {
        let topic = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("topic").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        if topic_of_device(&topic, &pk, &dn) {
            println!("{line}");
        }
    }
    Ok(0)
}

/// Stores desired values and prints all of the device's.
fn desired(target: &Target, values: &str) -> Result<u8, String> {
    let v: Value = serde_json::from_str(values).map_err(|e| format!("VALUES is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("VALUES must be a JSON object")?;
    let (pk, dn) = device_of(target)?;
    let all = set_desired(&target.state_dir, &pk, &dn, obj).map_err(|e| e.to_string())?;
    println!("{}", Value::Object(all));
    Ok(0)
}

pub fn run(cmd: DmCmd) -> Result<u8, String> {
    match cmd {
        DmCmd::Set {
            target,
            timeout_ms,
            params,
        } => invoke(&target, Invoke::Set, &params, timeout_ms),
        DmCmd::Call {
            target,
            service,
            timeout_ms,
            params,
        } => invoke(&target, Invoke::Async(&service), &params, timeout_ms),
        DmCmd::Rrpc {
            target,
            service,
            timeout_ms,
            params,
        } => invoke(&target, Invoke::Sync(&service), &params, timeout_ms),
        DmCmd::Raw { target, hex } => {
            let bytes = unhex(&hex)?;
            let (pk, dn) = device_of(&target)?;
            publish_once(
                &target.state_dir,
                &format!("/sys/{pk}/{dn}/thing/model/down_raw"),
                bytes,
            )
        }
        DmCmd::RrpcRaw {
            target,
            timeout_ms,
            hex,
        } => {
            let bytes = unhex(&hex)?;
            let (pk, dn) = device_of(&target)?;
            let topic = format!("/ext/rrpc/{}/sys/{pk}/{dn}/thing/model/down_raw", new_id());
            exchange(&target.state_dir, &topic, bytes, &topic, None, timeout_ms, true)
        }
        DmCmd::Publish {
            state_dir,
            topic,
            payload,
            hex,
            payload_file,
            to,
        } => {
            let bytes = match (payload, hex, payload_file) {
                (Some(p), None, None) => p.into_bytes(),
                (None, Some(h), None) => unhex(&h)?,
                (None, None, Some(f)) => std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?,
                _ => return Err("give one of --payload, --hex and --payload-file".into()),
            };
            match to {
                None => publish_once(&state_dir, &topic, bytes),
                Some(device) => {
                    let target = Target {
                        state_dir,
                        device: Some(device),
                    };
                    let (pk, dn) = device_of(&target)?;
                    if topic.is_empty() || topic.contains(['+', '#', '\n']) {
                        return Err(format!("--topic {topic:?} is not a topic name"));
                    }
                    // The delivery plugin unwraps "<topic>\n<bytes>" for that device alone.
                    let mut envelope = format!("{topic}\n").into_bytes();
                    envelope.extend_from_slice(&bytes);
                    publish_once(
                        &target.state_dir,
                        &format!("/aiot-platform/to/{pk}/{dn}"),
                        envelope,
                    )
                }
            }
        }
        DmCmd::Show { target } => show(&target),
        DmCmd::Desired { target, values } => desired(&target, &values),
    }
}

/// Whether `topic` is one of the device's: `/<pk>/<dn>` as two consecutive levels.
fn topic_of_device(topic: &str, pk: &str, dn: &str) -> bool {
    let levels: Vec<&str> = topic.split('/').collect();
    levels.windows(2).any(|w| w[0] == pk && w[1] == dn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(unhex("01ff 0a").unwrap(), [1, 0xff, 10]);
        assert!(unhex("0").is_err());
        assert!(unhex("zz").is_err());
        assert!(json_arg("P", "{").is_err());
        assert_eq!(json_arg("P", " {\"a\": 1} ").unwrap(), "{\"a\": 1}");
        assert!(new_id().parse::<u32>().unwrap() < 1_000_000_000);
        assert_eq!(id_of(br#"{"id":"5","code":200}"#).as_deref(), Some("5"));
        assert_eq!(id_of(br#"{"id":6}"#).as_deref(), Some("6"));
        assert!(is_request(
            br#"{"id":"1","method":"thing.service.s","params":{}}"#
        ));
        assert!(!is_request(br#"{"id":"1","code":200,"data":{}}"#));
        assert!(check_service("a/b").is_err());
        assert!(topic_of_device("/ext/ntp/pk/dn/request", "pk", "dn"));
        assert!(!topic_of_device("/sys/pk/dn2/thing/x", "pk", "dn"));
        let t = Target {
            state_dir: PathBuf::from("/nonexistent"),
            device: Some("pk/dn".into()),
        };
        assert_eq!(device_of(&t).unwrap(), ("pk".into(), "dn".into()));
        let bad = Target {
            state_dir: PathBuf::from("/nonexistent"),
            device: Some("pk".into()),
        };
        assert!(device_of(&bad).is_err());
    }
}
