//! OTA over MQTT, the cloud side: a job pushed with `dProtocol: mqtt` (stream id and file id
//! instead of a URL), and the block service: each request on
//! `/sys/{pk}/{dn}/thing/file/download` is answered on `.../download_reply` with the binary
//! frame `[header length u16 BE][JSON header][data][CRC-16/ARC u16 LE]` cut from the image,
//! with faults for rehearsals (corrupted CRC, wrong offset, short or oversized block, dropped
//! or slow reply). Progress reports and version reports are recorded.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

use crate::answer_service::ObserverFn;
use crate::broker::{BrokerInfo, PLATFORM_USER};
use crate::firmware::{md5_hex, sha256_hex};
use crate::ota::now_ms;

/// What goes wrong with a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    None,
    /// The CRC of the block is inverted.
    Crc,
    /// `bOffset` names the block after the one asked for (data and CRC of that block).
    Offset,
    /// The frame is cut: 10 bytes of data (half of a smaller block) missing, `bSize` unchanged.
    Short,
    /// 16 bytes more than asked for (`bSize` and data agree; zeros past the image's end).
    Big,
    /// No reply.
    Drop,
    /// The reply comes after [`Fault::slow_ms`].
    Slow,
    /// The reply is sent twice (the copy is a late duplicate for the device).
    Dup,
}

/// A fault and the requests it hits: the `first`-th request of a device (1-based) and the
/// `count` after it (0: every request from `first` on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub first: u32,
    pub count: u32,
    pub slow_ms: u64,
}

impl Default for Fault {
    fn default() -> Fault {
        Fault {
            kind: FaultKind::None,
            first: 1,
            count: 1,
            slow_ms: 12_000,
        }
    }
}

impl Fault {
    /// Whether request number `n` (1-based) gets the fault.
    pub fn hits(&self, n: u32) -> bool {
        self.kind != FaultKind::None && n >= self.first && (self.count == 0 || n < self.first + self.count)
    }
}

impl FromStr for Fault {
    type Err = String;

    /// `KIND[:FIRST[:COUNT]]`, KIND one of none, crc, offset, short, big, drop, slow or
    /// slow=MS; COUNT a number or `all`. Default FIRST 1, COUNT 1.
    fn from_str(s: &str) -> Result<Fault, String> {
        let mut f = Fault::default();
        let mut parts = s.split(':');
        let kind = parts.next().unwrap_or("");
        let (kind, ms) = match kind.split_once('=') {
            Some((k, ms)) => (k, Some(ms)),
            None => (kind, None),
        };
        f.kind = match kind {
            "none" => FaultKind::None,
            "crc" => FaultKind::Crc,
            "offset" => FaultKind::Offset,
            "short" => FaultKind::Short,
            "big" => FaultKind::Big,
            "drop" => FaultKind::Drop,
            "slow" => FaultKind::Slow,
            "dup" => FaultKind::Dup,
            other => return Err(format!("unknown fault {other:?}")),
        };
        if let Some(ms) = ms {
            if f.kind != FaultKind::Slow {
                return Err("only slow takes =MS".into());
            }
            f.slow_ms = ms.parse().map_err(|_| format!("{ms:?} is not a number of ms"))?;
        }
        if let Some(first) = parts.next() {
            f.first = first
                .parse()
                .map_err(|_| format!("{first:?} is not a request number"))?;
            if f.first == 0 {
                return Err("requests are numbered from 1".into());
            }
        }
        if let Some(count) = parts.next() {
            f.count = match count {
                "all" => 0,
                n => n.parse().map_err(|_| format!("{n:?} is not a count"))?,
            };
        }
        if parts.next().is_some() {
            return Err("expected KIND[:FIRST[:COUNT]]".into());
        }
        Ok(f)
    }
}

impl std::fmt::Display for Fault {
    /// The text [`Fault::from_str`] reads back: `KIND[:FIRST[:COUNT]]`, `slow=MS` with its delay.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            FaultKind::None => return f.write_str("none"),
            FaultKind::Crc => "crc",
            FaultKind::Offset => "offset",
            FaultKind::Short => "short",
            FaultKind::Big => "big",
            FaultKind::Drop => "drop",
            FaultKind::Slow => "slow",
            FaultKind::Dup => "dup",
        };
        f.write_str(kind)?;
        if self.kind == FaultKind::Slow {
            write!(f, "={}", self.slow_ms)?;
        }
        match self.count {
            0 => write!(f, ":{}:all", self.first),
            n => write!(f, ":{}:{n}", self.first),
        }
    }
}

/// CRC-16/ARC (reflected 0x8005, init 0, no final xor).
pub fn crc16_arc(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// A device's block request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRequest {
    /// The request id as sent (raw JSON text of `id`).
    pub id: String,
    pub stream_id: u64,
    pub file_id: u64,
    pub size: u64,
    pub offset: u64,
    /// The JSON had a trailing comma (as upstream's SDK writes it).
    pub trailing_comma: bool,
}

/// Reads a request leniently: commas right before `}` or `]` (upstream's `"fileId":N,}`) are
/// dropped before parsing.
pub fn parse_request(payload: &[u8]) -> Option<BlockRequest> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut clean = String::with_capacity(text.len());
    let mut trailing_comma = false;
    let mut in_string = false;
    let mut escaped = false;
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            clean.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                trailing_comma = true;
                continue;
            }
        }
        clean.push(c);
    }
    let v: serde_json::Value = serde_json::from_str(&clean).ok()?;
    let p = v.get("params")?;
    let num = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_u64);
    Some(BlockRequest {
        id: v
            .get("id")
            .map(|i| i.to_string())
            .unwrap_or_else(|| "\"0\"".into()),
        stream_id: num(p.pointer("/fileInfo/streamId"))?,
        file_id: num(p.pointer("/fileInfo/fileId"))?,
        size: num(p.pointer("/fileBlock/size"))?,
        offset: num(p.pointer("/fileBlock/offset"))?,
        trailing_comma,
    })
}

/// A frame: header length, header, data, CRC.
pub fn frame(header: &str, data: &[u8], crc: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(header.len() + data.len() + 4);
    f.extend_from_slice(&(header.len() as u16).to_be_bytes());
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(data);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

/// The answer to a request for a stream the platform does not serve (code 9201, no data).
pub fn no_such_stream(req: &BlockRequest) -> Vec<u8> {
    let h = format!(
        "{{\"code\":9201,\"id\":{},\"message\":\"no such stream\"}}",
        req.id
    );
    frame(&h, &[], 0)
}

/// An OTA job delivered over MQTT.
#[derive(Clone, Debug)]
pub struct MotaJob {
    pub version: String,
    /// `"Md5"` or `"SHA256"`.
    pub sign_method: String,
    /// The digest announced (normally the image's).
    pub sign: String,
    pub stream_id: u32,
    pub stream_file_id: u32,
    pub module: Option<String>,
    pub image: Arc<Vec<u8>>,
}

impl MotaJob {
    /// A job for `image` with its true digest (`md5` selects MD5, else SHA256).
    pub fn new(version: &str, image: Vec<u8>, md5: bool) -> MotaJob {
        let (sign_method, sign) = if md5 {
            ("Md5", md5_hex(&image))
        } else {
            ("SHA256", sha256_hex(&image))
        };
        MotaJob {
            version: version.into(),
            sign_method: sign_method.into(),
            sign,
            stream_id: 1_000_001,
            stream_file_id: 1,
            module: None,
            image: Arc::new(image),
        }
    }

    /// The push on `/ota/device/upgrade/{pk}/{dn}` (compact JSON, as Aliyun sends it).
    pub fn push_message(&self, pk: &str, dn: &str, id: u64) -> (String, String) {
        let js = |s: &str| serde_json::to_string(s).expect("a string serializes");
        let module = self
            .module
            .as_ref()
            .map(|m| format!(",\"module\":{}", js(m)))
            .unwrap_or_default();
        (
            format!("/ota/device/upgrade/{pk}/{dn}"),
            format!(
                "{{\"code\":\"1000\",\"data\":{{\"size\":{},\"streamId\":{},\"streamFileId\":{},\"sign\":{},\"dProtocol\":\"mqtt\",\"version\":{},\"signMethod\":{},\"md5\":{}{module}}},\"id\":{id},\"message\":\"success\"}}",
                self.image.len(),
                self.stream_id,
                self.stream_file_id,
                js(&self.sign),
                js(&self.version),
                js(&self.sign_method),
                js(&md5_hex(&self.image)),
            ),
        )
    }

    /// The reply to `req` with `fault` applied (`None`: no reply).
    pub fn reply(&self, req: &BlockRequest, fault: FaultKind) -> Option<Vec<u8>> {
        let len = self.image.len() as u64;
        if req.stream_id != u64::from(self.stream_id) || req.file_id != u64::from(self.stream_file_id) {
            return Some(no_such_stream(req));
        }
        if req.offset >= len || req.size == 0 {
            let h = format!("{{\"code\":9202,\"id\":{},\"message\":\"bad block\"}}", req.id);
            return Some(frame(&h, &[], 0));
        }
        let block = |off: u64, n: u64| -> Vec<u8> {
            let mut d: Vec<u8> = self.image[off.min(len) as usize..(off + n).min(len) as usize].to_vec();
            d.resize(n as usize, 0);
            d
        };
        let n = req.size.min(len - req.offset);
        let (offset, data) = match fault {
            FaultKind::Drop => return None,
            FaultKind::Offset => (
                req.offset + n,
                block(req.offset + n, n.min(len.saturating_sub(req.offset + n)).max(1)),
            ),
            FaultKind::Big => (req.offset, block(req.offset, req.size + 16)),
            _ => (req.offset, block(req.offset, n)),
        };
        let header = format!(
            "{{\"code\":200,\"data\":{{\"fileToken\":\"default\",\"fileLength\":{len},\"bOffset\":{offset},\"bSize\":{}}},\"id\":{},\"message\":\"success\"}}",
            data.len(),
            req.id
        );
        let mut crc = crc16_arc(&data);
        if fault == FaultKind::Crc {
            crc = !crc;
        }
        let mut f = frame(&header, &data, crc);
        if fault == FaultKind::Short {
            let cut = if data.len() > 20 {
                10
            } else {
                data.len().div_ceil(2)
            };
            let end = f.len() - 2;
            f.drain(end - cut..end);
        }
        Some(f)
    }
}

/// What the platform saw from (or did to) a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MotaEvent {
    Version(String),
    Pushed,
    /// A block request, with the fault its reply got.
    Request(BlockRequest, FaultKind),
    Progress(i64),
}

/// (productKey, deviceName).
pub type DeviceKey = (String, String);

#[derive(Default)]
struct State {
    events: HashMap<DeviceKey, Vec<MotaEvent>>,
    requests: HashMap<DeviceKey, u32>,
    pushed: HashMap<DeviceKey, bool>,
    /// Jobs sent with [`MotaService::push`]: one per device, the latest.
    jobs: HashMap<DeviceKey, (MotaJob, Fault)>,
    observer: Option<Arc<ObserverFn>>,
}

struct Inner {
    client: AsyncClient,
    /// The job pushed on each device's first version report (`None`: only pushed jobs).
    auto: Option<(MotaJob, Fault)>,
    state: Mutex<State>,
}

/// The platform's MQTT client serving one job to every device ([`MotaService::start`]) or the
/// jobs pushed to each ([`MotaService::start_idle`], [`MotaService::push`]). Dropping it
/// disconnects.
pub struct MotaService {
    rt: Option<tokio::runtime::Runtime>,
    inner: Arc<Inner>,
}

const TOPICS: [&str; 3] = [
    "/ota/device/inform/+/+",
    "/ota/device/progress/+/+",
    "/sys/+/+/thing/file/download",
];

impl Inner {
    fn record(&self, key: &DeviceKey, ev: MotaEvent) {
        self.state
            .lock()
            .unwrap()
            .events
            .entry(key.clone())
            .or_default()
            .push(ev);
    }

    /// A line for the observer (`serve` shows them), if there is one; empty lines are not sent.
    fn note(&self, line: impl FnOnce() -> String) {
        let observer = self.state.lock().unwrap().observer.clone();
        if let Some(o) = observer {
            let line = line();
            if !line.is_empty() {
                o(&line);
            }
        }
    }

    fn publish_later(self: &Arc<Self>, topic: String, payload: Vec<u8>, delay: Duration) {
        let inner = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = inner.client.publish(topic, QoS::AtMostOnce, false, payload).await;
        });
    }

    fn on_message(self: &Arc<Self>, topic: &str, payload: &[u8]) {
        let parts: Vec<&str> = topic.split('/').collect();
        match parts.as_slice() {
            ["", "ota", "device", "inform", pk, dn] => {
                let key = (pk.to_string(), dn.to_string());
                let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
                let version = v
                    .pointer("/params/version")
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                self.record(&key, MotaEvent::Version(version.into()));
                let Some((job, _)) = &self.auto else {
                    return;
                };
                let first = !self
                    .state
                    .lock()
                    .unwrap()
                    .pushed
                    .insert(key.clone(), true)
                    .unwrap_or(false);
                if first {
                    self.record(&key, MotaEvent::Pushed);
                    let (t, p) = job.push_message(pk, dn, now_ms());
                    self.publish_later(t, p.into_bytes(), Duration::from_millis(300));
                }
            }
            ["", "ota", "device", "progress", pk, dn] => {
                let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
                let step = match v.pointer("/params/step") {
                    Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(i64::MIN),
                    Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(i64::MIN),
                    _ => i64::MIN,
                };
                self.record(&(pk.to_string(), dn.to_string()), MotaEvent::Progress(step));
            }
            ["", "sys", pk, dn, "thing", "file", "download"] => {
                let key = (pk.to_string(), dn.to_string());
                let Some(req) = parse_request(payload) else {
                    eprintln!("aiot-platform: unreadable download request from {pk}/{dn}");
                    return;
                };
                let topic = format!("/sys/{pk}/{dn}/thing/file/download_reply");
                let (n, served) = {
                    let mut st = self.state.lock().unwrap();
                    let c = st.requests.entry(key.clone()).or_default();
                    *c += 1;
                    (*c, st.jobs.get(&key).cloned().or_else(|| self.auto.clone()))
                };
                let Some((job, fault)) = served else {
                    self.record(&key, MotaEvent::Request(req.clone(), FaultKind::None));
                    self.note(|| {
                        format!(
                            "{pk}/{dn}  block request for stream {}/{}: no job, answered 9201",
                            req.stream_id, req.file_id
                        )
                    });
                    self.publish_later(topic, no_such_stream(&req), Duration::ZERO);
                    return;
                };
                let kind = if fault.hits(n) {
                    fault.kind
                } else {
                    FaultKind::None
                };
                self.record(&key, MotaEvent::Request(req.clone(), kind));
                self.note(|| describe_request(&key, &job, &req, n, kind));
                if let Some(reply) = job.reply(&req, kind) {
                    let delay = if kind == FaultKind::Slow {
                        Duration::from_millis(fault.slow_ms)
                    } else {
                        Duration::ZERO
                    };
                    if kind == FaultKind::Dup {
                        // One task, so the copy follows the reply before anything else.
                        let inner = self.clone();
                        tokio::spawn(async move {
                            for _ in 0..2 {
                                let _ = inner
                                    .client
                                    .publish(topic.clone(), QoS::AtMostOnce, false, reply.clone())
                                    .await;
                            }
                        });
                        return;
                    }
                    self.publish_later(topic, reply, delay);
                }
            }
            _ => {}
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
                    let _ = inner.client.subscribe(t, QoS::AtLeastOnce).await;
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
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// What `serve` shows of a block request: the first of a job, each one with a fault, the one
/// that ends the image, and any for a stream that is not the job's (others: an empty string,
/// not shown).
fn describe_request(key: &DeviceKey, job: &MotaJob, req: &BlockRequest, n: u32, kind: FaultKind) -> String {
    let who = format!("{}/{}", key.0, key.1);
    let block = format!("block {}+{} (request {n})", req.offset, req.size);
    if req.stream_id != u64::from(job.stream_id) || req.file_id != u64::from(job.stream_file_id) {
        return format!(
            "{who}  {block} for stream {}/{}, not the job's {}/{}: answered 9201",
            req.stream_id, req.file_id, job.stream_id, job.stream_file_id
        );
    }
    if kind != FaultKind::None {
        return format!(
            "{who}  {block}: fault {} applied",
            format!("{kind:?}").to_lowercase()
        );
    }
    let len = job.image.len() as u64;
    if n == 1 {
        return format!(
            "{who}  {block} served: first block of {} ({len} bytes, stream {}/{})",
            job.version, job.stream_id, job.stream_file_id
        );
    }
    if req.offset < len && req.offset.saturating_add(req.size) >= len {
        return format!("{who}  {block} served: the image's last block");
    }
    String::new()
}

impl MotaService {
    /// Connects as `platform`, subscribes and returns once subscribed (10 s at most). The job
    /// is pushed to each device on its first version report.
    pub fn start(info: &BrokerInfo, job: MotaJob, fault: Fault) -> std::io::Result<MotaService> {
        MotaService::start_with(info, Some((job, fault)))
    }

    /// As [`MotaService::start`] without a job: devices get the jobs given to
    /// [`MotaService::push`]; requests from others are answered with code 9201.
    pub fn start_idle(info: &BrokerInfo) -> std::io::Result<MotaService> {
        MotaService::start_with(info, None)
    }

    /// Publishes `job` to the device now (QoS 1) and serves its blocks with `fault` from then
    /// on, in place of the device's job before (its stream is then answered with code 9201; the
    /// fault's requests are counted from this job's first). Returns the topic and payload.
    pub fn push(&self, pk: &str, dn: &str, job: MotaJob, fault: Fault) -> (String, String) {
        let key = (pk.to_owned(), dn.to_owned());
        let (topic, payload) = job.push_message(pk, dn, now_ms());
        {
            let mut st = self.inner.state.lock().unwrap();
            st.jobs.insert(key.clone(), (job, fault));
            st.requests.remove(&key);
        }
        self.inner.record(&key, MotaEvent::Pushed);
        let inner = self.inner.clone();
        let (t, p) = (topic.clone(), payload.clone());
        self.rt.as_ref().expect("running").spawn(async move {
            let _ = inner.client.publish(t, QoS::AtLeastOnce, false, p).await;
        });
        (topic, payload)
    }

    /// Called with a line for each block request worth showing (from the client's thread): the
    /// first of a job, each one given a fault, the one for the image's last block, and any for
    /// a stream the platform does not serve.
    pub fn set_observer(&self, f: Arc<ObserverFn>) {
        self.inner.state.lock().unwrap().observer = Some(f);
    }

    fn start_with(info: &BrokerInfo, auto: Option<(MotaJob, Fault)>) -> std::io::Result<MotaService> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("aiot-mota")
            .enable_all()
            .build()?;
        let mut opts = MqttOptions::new(
            format!("aiot-platform-mota-{}", std::process::id()),
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
            auto,
            state: Mutex::new(State::default()),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(run(inner.clone(), el, tx));
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| std::io::Error::other("platform MQTT client: no SUBACK within 10 s"))?;
        Ok(MotaService { rt: Some(rt), inner })
    }

    /// Everything recorded, per device, in order.
    pub fn events(&self) -> HashMap<DeviceKey, Vec<MotaEvent>> {
        self.inner.state.lock().unwrap().events.clone()
    }
}

impl Drop for MotaService {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The verdict asked of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Success,
    /// Step -3 reported, never 100.
    ChecksumFailure,
    /// Step -4 reported, never 100.
    FetchFailure,
}

/// Whether a device's events satisfy `expect` (the file is checked by the caller).
pub fn judge(events: &[MotaEvent], expect: Expect) -> Result<(), String> {
    let pushed = events
        .iter()
        .position(|e| *e == MotaEvent::Pushed)
        .ok_or("no job was pushed (no version report?)")?;
    if !events[..pushed]
        .iter()
        .any(|e| matches!(e, MotaEvent::Version(_)))
    {
        return Err("no version report before the job".into());
    }
    let requests = events
        .iter()
        .filter(|e| matches!(e, MotaEvent::Request(..)))
        .count();
    if requests == 0 {
        return Err("no block was requested".into());
    }
    let steps: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            MotaEvent::Progress(s) => Some(*s),
            _ => None,
        })
        .collect();
    let has = |s: i64| steps.contains(&s);
    match expect {
        Expect::Success if has(100) && steps.iter().all(|s| *s >= 0) => Ok(()),
        Expect::Success => Err(format!("progress did not end at 100 without failures: {steps:?}")),
        Expect::ChecksumFailure if has(-3) && !has(100) => Ok(()),
        Expect::FetchFailure if has(-4) && !has(100) => Ok(()),
        _ => Err(format!("progress steps {steps:?} do not show {expect:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_count() {
        let f: Fault = "crc:3".parse().unwrap();
        assert_eq!((f.kind, f.first, f.count), (FaultKind::Crc, 3, 1));
        assert!(!f.hits(2) && f.hits(3) && !f.hits(4));
        let f: Fault = "drop:2:all".parse().unwrap();
        assert!(f.hits(2) && f.hits(1000) && !f.hits(1));
        let f: Fault = "slow=500".parse().unwrap();
        assert_eq!((f.kind, f.slow_ms, f.first), (FaultKind::Slow, 500, 1));
        assert!("crc=5".parse::<Fault>().is_err());
        assert!("crc:0".parse::<Fault>().is_err());
        assert!("nope".parse::<Fault>().is_err());
        assert!(!Fault::default().hits(1));
        assert_eq!("dup:4".parse::<Fault>().unwrap().kind, FaultKind::Dup);
    }

    #[test]
    fn faults_print_as_they_parse() {
        for text in [
            "none",
            "crc:1:1",
            "offset:3:3",
            "short:2:all",
            "big:1:5",
            "drop:2:1",
            "dup:1:all",
            "slow=500:2:1",
        ] {
            let f: Fault = text.parse().unwrap();
            assert_eq!(f.to_string(), text);
            assert_eq!(f.to_string().parse::<Fault>().unwrap(), f);
        }
        assert_eq!("crc".parse::<Fault>().unwrap().to_string(), "crc:1:1");
        assert_eq!("slow:4".parse::<Fault>().unwrap().to_string(), "slow=12000:4:1");
    }

    #[test]
    fn serve_shows_first_faulted_last_and_foreign_requests() {
        let job = MotaJob::new("2.0.0", vec![7; 1000], true);
        let key = ("pk".to_string(), "dn".to_string());
        let req = |offset: u64, stream_id: u64| BlockRequest {
            id: "\"1\"".into(),
            stream_id,
            file_id: 1,
            size: 400,
            offset,
            trailing_comma: true,
        };
        let d = |offset, stream, n, kind| describe_request(&key, &job, &req(offset, stream), n, kind);
        assert_eq!(
            d(0, 1_000_001, 1, FaultKind::None),
            "pk/dn  block 0+400 (request 1) served: first block of 2.0.0 (1000 bytes, stream 1000001/1)"
        );
        assert_eq!(d(400, 1_000_001, 2, FaultKind::None), "");
        assert_eq!(
            d(400, 1_000_001, 3, FaultKind::Crc),
            "pk/dn  block 400+400 (request 3): fault crc applied"
        );
        assert_eq!(
            d(800, 1_000_001, 4, FaultKind::None),
            "pk/dn  block 800+400 (request 4) served: the image's last block"
        );
        assert!(
            d(0, 5, 5, FaultKind::None).ends_with("for stream 5/1, not the job's 1000001/1: answered 9201")
        );
    }

    #[test]
    fn upstream_request_with_trailing_comma_parses() {
        let r = parse_request(
            br#"{"id":"3","version":"1.0","params":{"fileToken":"default","fileInfo":{"streamId":100,"fileId":2,},"fileBlock":{"size":10240,"offset":20480}}}"#,
        )
        .unwrap();
        assert_eq!((r.stream_id, r.file_id, r.size, r.offset), (100, 2, 10240, 20480));
        assert!(r.trailing_comma);
        assert_eq!(r.id, "\"3\"");
        assert!(parse_request(b"{\"id\":\"a,}\"}").is_none());
        assert!(parse_request(b"\xff").is_none());
    }

    #[test]
    fn replies_and_faults() {
        let image: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let job = MotaJob::new("2.0.0", image.clone(), true);
        let req = BlockRequest {
            id: "\"1\"".into(),
            stream_id: 1_000_001,
            file_id: 1,
            size: 100,
            offset: 900,
            trailing_comma: true,
        };
        let f = job.reply(&req, FaultKind::None).unwrap();
        let hl = u16::from_be_bytes([f[0], f[1]]) as usize;
        let h: serde_json::Value = serde_json::from_slice(&f[2..2 + hl]).unwrap();
        assert_eq!(h["data"]["bOffset"], 900);
        assert_eq!(h["data"]["bSize"], 100);
        assert_eq!(h["data"]["fileLength"], 1000);
        let data = &f[2 + hl..f.len() - 2];
        assert_eq!(data, &image[900..]);
        assert_eq!(
            u16::from_le_bytes([f[f.len() - 2], f[f.len() - 1]]),
            crc16_arc(data)
        );
        assert_eq!(crc16_arc(b"123456789"), 0xBB3D);
        let bad = job.reply(&req, FaultKind::Crc).unwrap();
        assert_ne!(bad[bad.len() - 2..], f[f.len() - 2..]);
        assert_eq!(job.reply(&req, FaultKind::Short).unwrap().len(), f.len() - 10);
        assert!(job.reply(&req, FaultKind::Drop).is_none());
        let big = job.reply(&req, FaultKind::Big).unwrap();
        assert_eq!(big.len(), f.len() + 16);
        let (topic, push) = job.push_message("pk", "dn", 5);
        assert_eq!(topic, "/ota/device/upgrade/pk/dn");
        let v: serde_json::Value = serde_json::from_str(&push).unwrap();
        assert_eq!(v["data"]["dProtocol"], "mqtt");
        assert_eq!(v["data"]["streamId"], 1_000_001);
        assert_eq!(v["data"]["signMethod"], "Md5");
        assert_eq!(v["data"]["sign"], md5_hex(&image));
    }
}
