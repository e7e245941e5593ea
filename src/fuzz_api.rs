//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`, off by default).
//!
//! Each function runs the library's own parsing code over arbitrary bytes, the way the
//! library meets them on the wire, and panics when an accepted input breaks an invariant the
//! rest of the library (or the C side) relies on. A panic is a finding; an input that is
//! refused is not.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};

use bytes::BytesMut;

use crate::mqtt::codec;

/// Installs, once, a log sink that checks every line's shape, so the log formatting of the
/// paths under test runs too.
fn check_log_lines() {
    if cfg!(test) {
        // Unit tests share the process-wide sink with the log tests: leave it to them.
        return;
    }
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        crate::log::set_sink(Some(Arc::new(|code: i32, line: &mut [u8]| {
            // STATE_* codes are negative; mqtt_download logs refused replies under 0, as upstream.
            assert!(code <= 0, "log code {code}");
            assert_eq!(line.last(), Some(&0), "log line without its NUL");
            assert!(!line[..line.len() - 1].contains(&0), "NUL inside a log line");
        })));
    });
}

// ---------------------------------------------------------------------------------------------
// MQTT

/// Checks a decoded PUBLISH against the frame it came from: QoS as the fixed header says,
/// packet id present exactly for QoS1, and topic length prefix, topic, id and payload adding
/// up to the body.
fn check_publish(frame: &[u8], p: &codec::Publish) {
    let header = codec::fixed_header(frame)
        .expect("a decoded frame has a valid header")
        .expect("a decoded frame is complete");
    let body = &frame[header.len..header.frame_len()];
    assert!(p.qos <= 1, "QoS {} delivered", p.qos);
    assert_eq!(p.qos, (frame[0] >> 1) & 3, "QoS differs from the fixed header");
    let id_len = if p.qos == 1 { 2 } else { 0 };
    assert!(p.qos == 1 || p.packet_id == 0, "QoS0 with a packet id");
    assert_eq!(2 + p.topic.len() + id_len + p.payload.len(), body.len());
    assert_eq!(&body[2..2 + p.topic.len()], &p.topic[..]);
    assert_eq!(&body[2 + p.topic.len() + id_len..], &p.payload[..]);
}

/// The CONNACK as the session reads it on connect: exactly `20 02 <flags> <rc>`.
fn decode_connack(data: &[u8]) -> Option<(u8, &[u8])> {
    match data {
        [0x20, 2, _flags, rc, rest @ ..] => Some((*rc, rest)),
        _ => None,
    }
}

/// Decodes a byte stream from a broker: an optional CONNACK (what the session reads right
/// after CONNECT), then frames one after another through the client's codec
/// ([`codec::decode`] with its incoming limit), up to the first one the client would
/// disconnect on.
pub fn mqtt_frame(data: &[u8]) {
    check_log_lines();
    let _ = mqtt_stream(data);
}

/// How many bytes of `data` the client takes before it stops (end of the stream, or a frame
/// it disconnects on).
fn mqtt_stream(data: &[u8]) -> usize {
    let mut rest = data;
    if let Some((rc, tail)) = decode_connack(data) {
        if rc != 0 {
            return 4;
        }
        rest = tail;
    }
    let mut buf = BytesMut::from(rest);
    loop {
        let before = buf.clone();
        match codec::decode(&mut buf, codec::MAX_INCOMING) {
            Ok(Some(incoming)) => {
                let used = before.len() - buf.len();
                assert!(used >= 2, "a frame shorter than its fixed header");
                if let codec::Incoming::Publish(p) = &incoming {
                    check_publish(&before[..used], p);
                }
            }
            Ok(None) => {
                assert_eq!(buf.len(), before.len(), "an incomplete frame consumed bytes");
                break;
            }
            Err(_) => {
                // The client closes the connection here: what it took ends before this frame.
                buf = before;
                break;
            }
        }
    }
    data.len() - buf.len()
}

// ---------------------------------------------------------------------------------------------
// OTA

fn check_task(
    kind: crate::components::ota::message::Kind,
    t: &crate::components::ota::message::TaskDesc,
    topic: &str,
) {
    use crate::components::ota::message::*;
    let want = if t.digest_method == DIGEST_MD5 { 32 } else { 64 };
    assert!(t.digest_method == DIGEST_MD5 || t.digest_method == DIGEST_SHA256);
    assert_eq!(t.expect_digest.len(), want);
    assert!(t.expect_digest.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(t.version.len() <= MAX_FIELD_LEN);
    assert!(t.module.as_ref().is_none_or(|m| m.len() <= MAX_FIELD_LEN));
    assert!(t.file_name.as_ref().is_none_or(|m| m.len() <= MAX_FIELD_LEN));
    assert!(t.extra_data.as_ref().is_none_or(|e| e.len() <= MAX_EXTRA_LEN));
    assert!(t.file_id < t.file_num && t.file_num as usize <= MAX_FILES);
    match t.protocol_type {
        PROTOCOL_HTTPS => {
            let u = t.url.as_deref().expect("an HTTPS task without a URL");
            assert!(u.len() <= MAX_URL_LEN);
            let l = u.to_ascii_lowercase();
            assert!(l.starts_with("https://") || l.starts_with("http://"), "{u}");
        }
        PROTOCOL_MQTT => assert!(t.url.is_none()),
        p => panic!("protocol {p}"),
    }
    // The product key and device name come from the topic, non-empty and without '/'.
    for part in [&t.product_key, &t.device_name] {
        assert!(!part.is_empty() && !part.contains('/'), "{part:?} from {topic:?}");
        assert!(topic.contains(part.as_str()));
    }
    let (k, _, pk, dn) = classify_topic(topic).expect("accepted on a topic that is not OTA");
    assert_eq!((k, &pk, &dn), (kind, &t.product_key, &t.device_name));
}

/// Parses a push as the OTA receive handler does (topic bytes, payload bytes).
pub fn ota_push(topic: &[u8], payload: &[u8]) {
    use crate::components::ota::message::parse_push;
    check_log_lines();
    let topic = String::from_utf8_lossy(topic);
    if let Ok((kind, tasks)) = parse_push(&topic, payload) {
        assert!(!tasks.is_empty());
        assert!(tasks.iter().all(|t| t.file_num as usize == tasks.len()));
        for t in &tasks {
            check_task(kind, t, &topic);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Data model

/// Whether `inner` lies within `outer` (an empty slice anywhere in or at its end).
fn within(inner: &[u8], outer: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr_range(), inner.as_ptr_range());
    o.start <= i.start && i.end <= o.end
}

/// Parses a data-model downlink as its topic handler does. `route` picks the topic filter
/// (any byte, modulo the ten). An accepted message must point into its own topic and payload:
/// product key, device name and ids are single topic levels, the JSON kinds come from a
/// payload that is UTF-8 JSON nested at most `MAX_DEPTH` deep.
pub fn dm_downlink(route: u8, topic: &[u8], payload: &[u8]) {
    use crate::components::dm::downlink::{depth, parse, Kind, MAX_DEPTH, TOPICS};
    check_log_lines();
    let (_, route) = TOPICS[route as usize % TOPICS.len()];
    let Ok(r) = parse(route, topic, payload) else {
        return;
    };
    let level = |s: &[u8]| within(s, topic) && !s.contains(&b'/');
    assert!(level(r.product_key) && level(r.device_name));
    let json = |slices: &[&[u8]]| {
        assert!(slices.iter().all(|s| within(s, payload)));
        assert!(std::str::from_utf8(payload).is_ok());
        assert!(payload.trim_ascii_start().starts_with(b"{"));
        assert!(depth(payload) <= MAX_DEPTH);
    };
    match r.kind {
        Kind::GenericReply { data, message, .. } => json(&[data, message.unwrap_or(data)]),
        Kind::PropertySet { params, .. } => json(&[params]),
        Kind::AsyncServiceInvoke {
            service_id, params, ..
        } => {
            assert!(level(service_id));
            json(&[params]);
        }
        Kind::SyncServiceInvoke {
            rrpc_id,
            service_id,
            params,
            ..
        } => {
            assert!(level(rrpc_id) && level(service_id));
            json(&[params]);
        }
        Kind::RawData { data } | Kind::RawDataReply { data } => assert_eq!(data, payload),
        Kind::RawSyncServiceInvoke { rrpc_id, data } => {
            assert!(level(rrpc_id));
            assert_eq!(data, payload);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Download: URL and HTTP response header

/// Splits a firmware URL as the download does, and builds its request target and URI.
pub fn url(data: &[u8]) {
    use crate::components::download::url::{parse, request_target};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(u) = parse(text) else {
        return;
    };
    // The parts are the text's own, in order: scheme "://" authority path.
    let after_scheme = &text[u.scheme.len()..];
    assert!(after_scheme.starts_with("://"));
    let rest = &after_scheme[3..];
    assert!(rest.starts_with(u.authority));
    assert!(rest[u.authority.len()..].starts_with(u.path));
    assert!(!u.authority.contains('/'));
    assert!(u.path.starts_with('/') && !u.path.contains('#'));
    assert!(u.authority.len() <= 128 && u.path.len() <= 8 * 1024);
    // The host is the authority without its port, and without the IPv6 brackets.
    assert!(!u.host.is_empty());
    let bare = match u.port {
        Some(p) => {
            assert_ne!(p, 0);
            let (head, digits) = u.authority.rsplit_once(':').expect("a port without ':'");
            assert_eq!(digits.parse::<u16>().ok(), Some(p));
            head
        }
        None => u.authority,
    };
    match bare.strip_prefix('[') {
        Some(v6) if u.authority.starts_with('[') => assert_eq!(Some(u.host), v6.strip_suffix(']')),
        _ => assert_eq!(u.host, bare),
    }
    let target = request_target(u.path);
    assert!(target.len() >= u.path.len());
    assert!(target
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)));
    // The request line's URI, as the HTTP layer builds it (a refusal is an error code there).
    let _ = format!("http://{}{}", u.authority, target).parse::<ureq_proto::http::Uri>();
}

/// Sends one GET through the download's HTTP layer to a server that answers with `data`,
/// reads the response header as the download does, then reads the body it announces.
pub fn http_response_header(data: &[u8]) {
    check_log_lines();
    let _ = http_exchange(data);
}

/// The status of the response `data`, if the HTTP layer takes its header.
fn http_exchange(data: &[u8]) -> Option<u16> {
    use crate::components::http::{exchange, Exchange, Method, Outcome};
    let scripted = ScriptedPort::new(data);
    let served = Arc::clone(&scripted.served);
    let port: Arc<dyn crate::sysdep::Port> = Arc::new(scripted);
    let x = Exchange {
        port: &port,
        cred: None,
        tls: false,
        host: "127.0.0.1",
        net_port: 80,
        authority: "127.0.0.1",
        target: "/fw.bin",
        method: Method::Get,
        headers: &[("Range", "bytes=0-"), ("Content-Length", "0")],
        body: &[],
        connect_timeout_ms: 1000,
        send_timeout_ms: 1000,
        recv_timeout_ms: 1000,
    };
    let Outcome::Response(mut resp) = exchange(&x, None) else {
        return None;
    };
    let header_len = *served.lock().unwrap_or_else(|e| e.into_inner());
    // Interim (1xx) blocks are skipped; 101 is final, as ureq-proto takes it.
    assert!(
        (200..=999).contains(&resp.status) || resp.status == 101,
        "status {}",
        resp.status
    );
    // The header reader stops at the blank line, never past it: the body is read from the
    // connection, all of it, and never more than announced.
    let header = &data[..header_len];
    assert!(
        header.ends_with(b"\n\n") || header.ends_with(b"\n\r\n"),
        "header ends {header:?}"
    );
    if resp.status == 101 {
        // The download refuses it (only 200 and 206 carry an image).
        return Some(101);
    }
    let mut buf = [0u8; 4096];
    let mut body = 0u64;
    for _ in 0..=data.len() / buf.len() + 1 {
        match resp.read(&mut buf, 1000) {
            Ok(0) | Err(_) => break,
            Ok(n) => body += n as u64,
        }
    }
    let left = (data.len() - header_len) as u64;
    assert_eq!(body, resp.content_length.map_or(left, |len| len.min(left)));
    assert_eq!(body, resp.received);
    Some(resp.status)
}

/// A port whose first connection answers with fixed bytes, then stays silent (later ones are
/// silent). Its clock advances on every read, so every deadline passes after a bounded
/// number of reads.
struct ScriptedPort {
    answer: Arc<[u8]>,
    /// How many answer bytes the first connection has handed out.
    served: Arc<Mutex<usize>>,
    clock: Arc<AtomicU64>,
    connections: AtomicUsize,
}

impl ScriptedPort {
    fn new(answer: &[u8]) -> ScriptedPort {
        ScriptedPort {
            answer: answer.into(),
            served: Arc::new(Mutex::new(0)),
            clock: Arc::new(AtomicU64::new(1)),
            connections: AtomicUsize::new(0),
        }
    }
}

impl crate::sysdep::Port for ScriptedPort {
    fn time_ms(&self) -> u64 {
        self.clock.load(Ordering::Relaxed)
    }

    fn sleep_ms(&self, ms: u64) {
        self.clock.fetch_add(ms, Ordering::Relaxed);
    }

    fn rand(&self, buf: &mut [u8]) {
        buf.fill(4);
    }

    fn network(&self) -> Option<Box<dyn crate::sysdep::PortNetwork>> {
        let (answer, read) = match self.connections.fetch_add(1, Ordering::Relaxed) {
            0 => (Arc::clone(&self.answer), Arc::clone(&self.served)),
            _ => (Arc::from(&[][..]), Arc::new(Mutex::new(0))),
        };
        Some(Box::new(ScriptedNetwork {
            answer,
            read,
            clock: Arc::clone(&self.clock),
        }))
    }
}

struct ScriptedNetwork {
    answer: Arc<[u8]>,
    read: Arc<Mutex<usize>>,
    clock: Arc<AtomicU64>,
}
impl crate::sysdep::PortNetwork for ScriptedNetwork {
    fn setopt(&mut self, _option: crate::sysdep::NetOption<'_>) -> i32 {
        0
    }

    fn establish(&mut self) -> i32 {
        0
    }

    fn recv(&self, buf: &mut [u8], timeout_ms: u32) -> i32 {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        let n = buf.len().min(self.answer.len() - *read).min(i32::MAX as usize);
        buf[..n].copy_from_slice(&self.answer[*read..*read + n]);
        *read += n;
        // A short read is a timeout: the whole timeout passes.
        let spent = if n < buf.len() { u64::from(timeout_ms) } else { 1 };
        self.clock.fetch_add(spent, Ordering::Relaxed);
        n as i32
    }

    fn send(&self, buf: &[u8], _timeout_ms: u32) -> i32 {
        buf.len().min(i32::MAX as usize) as i32
    }
}

// ---------------------------------------------------------------------------------------------
// OTA over MQTT: the download_reply frame

/// Splits a `download_reply` frame as the block protocol does, then hands it to a download
/// waiting for its first block. An accepted frame is exactly header length, header, data and
/// CRC: the block never claims more bytes than the frame holds.
pub fn mqtt_download_reply(data: &[u8]) {
    use crate::components::mqtt_download::frame::{crc16_arc, parse_reply, FrameError, TOKEN_MAX};
    check_log_lines();
    let parsed = parse_reply(data);
    match &parsed {
        Ok(r) => {
            let header_len = usize::from(u16::from_be_bytes([data[0], data[1]]));
            assert!(r.data.len() <= data.len() - 4, "a block longer than its frame");
            assert_eq!(2 + header_len + r.data.len() + 2, data.len());
            assert!(within(r.data, data));
            assert_eq!(r.data, &data[2 + header_len..data.len() - 2]);
            let sent = u16::from_le_bytes([data[data.len() - 2], data[data.len() - 1]]);
            assert_eq!(crc16_arc(r.data), sent);
            assert!(r.token.len() <= TOKEN_MAX);
        }
        Err(e) => {
            assert!(e.log_text().ends_with("\r\n"));
            match *e {
                FrameError::Short(n) => assert!(n == data.len() && n < 2),
                FrameError::HeaderPastEnd { header, total } => {
                    assert!(total == data.len() && 2 + header > total)
                }
                _ => assert!(data.len() >= 2),
            }
        }
    }
    // A download of the file the frame says (4 KiB when it says nothing usable), its first
    // request out, takes the frame as its first reply.
    let file_length = parsed.as_ref().map_or(4096, |r| r.file_length);
    mqtt_download_first_reply(data, file_length);
}

/// Feeds `data` to a fresh download of a `file_length`-byte file as the reply to its first
/// request. When the block is the whole file, the task's digest is that block's, so the
/// download must then succeed.
fn mqtt_download_first_reply(data: &[u8], file_length: u32) -> &'static str {
    use crate::components::mqtt_download::codes::*;
    use crate::components::mqtt_download::frame::parse_reply;
    use crate::components::mqtt_download::machine::{Action, ReplyOutcome, DEFAULT_REQUEST_SIZE};
    use crate::components::mqtt_download::{Machine, Task};
    use crate::components::ota::message::DIGEST_MD5;
    use md5::{Digest as _, Md5};

    let whole = parse_reply(data)
        .ok()
        .filter(|r| r.offset == 0 && r.data.len() as u64 == u64::from(file_length))
        .map(|r| r.data);
    let expect_digest = match whole {
        Some(file) => Md5::digest(file).iter().map(|b| format!("{b:02x}")).collect(),
        None => "0".repeat(32),
    };
    let mut m = Machine::new(Task {
        stream_id: 1,
        stream_file_id: 1,
        size_total: file_length,
        digest_method: DIGEST_MD5,
        expect_digest,
    });
    let (code, actions) = m.process(0);
    if file_length == 0 {
        assert_eq!(code, STATE_MQTT_DOWNLOAD_FILESIZE_ERROR);
        return "file size error";
    }
    let asked = DEFAULT_REQUEST_SIZE.min(file_length);
    assert_eq!(code, STATE_MQTT_DOWNLOAD_ING);
    assert!(matches!(actions[..], [Action::Subscribe, Action::Send(r)] if r.offset == 0 && r.size == asked));
    match m.on_reply(data, 1) {
        ReplyOutcome::Block(b) => {
            assert_eq!(b.offset, 0);
            assert!(!b.data.is_empty() && b.data.len() as u32 <= asked);
            assert!(within(b.data, data));
            assert_eq!(m.fetched() as usize, b.data.len());
            assert!((0..=100).contains(&b.percent));
            let next = m.next_request(2);
            if b.percent == 100 {
                // The whole file in one block: FINISHED (the digest is checked), then SUCCESS.
                assert!(next.is_none());
                assert_eq!(whole, Some(b.data));
                assert_eq!(m.process(3).0, STATE_MQTT_DOWNLOAD_FINISHED);
                let (code, actions) = m.process(4);
                assert_eq!(
                    (code, &actions[..]),
                    (STATE_MQTT_DOWNLOAD_SUCCESS, &[Action::Progress(100)][..])
                );
                "success"
            } else {
                let next = next.expect("no request after a partial block");
                assert_eq!(next.offset as usize, b.data.len());
                assert_eq!(next.size, DEFAULT_REQUEST_SIZE.min(file_length - next.offset));
                "next block asked"
            }
        }
        ReplyOutcome::Failed(again) => {
            // The first failure asks for the same block again.
            let again = again.expect("the first failure ended the download");
            assert_eq!((again.offset, again.size), (0, asked));
            assert_eq!(m.fetched(), 0);
            "asked again"
        }
        ReplyOutcome::Ignored => panic!("the reply to the only request was ignored"),
    }
}

// ---------------------------------------------------------------------------------------------
// Shadow

/// Parses a message on `/shadow/get/+/+` as the shadow's topic handler does. An accepted one
/// names its device in the topic and hands over slices of its own payload, which is a JSON
/// object.
pub fn shadow_downlink(topic: &[u8], payload: &[u8]) {
    use crate::components::shadow::downlink::{parse, Kind, STATUS_MAX};
    check_log_lines();
    let Ok(r) = parse(topic, payload) else {
        return;
    };
    assert!(within(r.product_key, topic) && within(r.device_name, topic));
    assert!(!r.product_key.is_empty() && !r.device_name.is_empty());
    assert!(!r.device_name.contains(&b'/'));
    assert_eq!(
        topic,
        [&b"/shadow/get/"[..], r.product_key, b"/", r.device_name].concat()
    );
    assert!(std::str::from_utf8(payload).is_ok());
    assert!(payload.trim_ascii_start().starts_with(b"{"));
    let body = match r.kind {
        Kind::GenericReply {
            payload: body,
            status,
            ..
        } => {
            assert!(within(status, payload));
            assert!(status.len() < STATUS_MAX && !status.contains(&0) && !status.contains(&b'\\'));
            body
        }
        Kind::Control { payload: body, .. } | Kind::GetReply { payload: body, .. } => body,
    };
    // Handed to C with its length: within the payload, and (JSON text) without a NUL byte.
    assert!(within(body, payload) && !body.contains(&0));
    assert!(r.kind.log_text().ends_with("\r\n"));
}

// ---------------------------------------------------------------------------------------------
// Task

/// Parses a task downlink as its topic handlers do: `route` picks the filter (any byte, modulo
/// the three); a notify gives its id (for the automatic reply) and its task, a reply its
/// task(s). Every string handed over is NUL-free (C copies it NUL-terminated), and a job
/// document is the very value the payload holds.
pub fn task_downlink(route: u8, payload: &[u8]) {
    use crate::components::task::downlink::{
        notify_id, notify_task, parse_reply, Recv, Route, LIST_MAX, STATUS_NAMES, TOPICS,
    };
    check_log_lines();
    let (_, route) = TOPICS[route as usize % TOPICS.len()];
    let no_nul = |s: &str| assert!(!s.contains('\0'), "{s:?}");
    if route == Route::Notify {
        if let Ok(id) = notify_id(payload) {
            no_nul(&id);
        }
        if let Ok(t) = notify_task(payload) {
            assert!(t.status < STATUS_NAMES.len() as u32, "status {}", t.status);
            check_task_desc(&t, payload, "/params/task");
        }
        return;
    }
    let Ok((recv, left_out)) = parse_reply(route, payload) else {
        return;
    };
    match recv {
        Recv::UpdateReply { task_id, .. } => {
            assert_eq!(route, Route::UpdateReply);
            assert_eq!(left_out, 0);
            no_nul(&task_id);
        }
        Recv::GetListReply(list) => {
            assert_eq!(route, Route::GetReply);
            assert!(list.len() <= LIST_MAX && (left_out == 0 || list.len() == LIST_MAX));
            for (id, status) in &list {
                no_nul(id);
                assert!(*status < STATUS_NAMES.len() as u32);
            }
        }
        Recv::GetDetailReply { task, .. } => {
            assert_eq!(route, Route::GetReply);
            assert_eq!(left_out, 0);
            check_task_desc(&task, payload, "/data/task");
        }
        Recv::Notify(_) => panic!("a reply read as a notify"),
    }
}

/// A task description against the payload it came from (`at`: where its object is).
fn check_task_desc(t: &crate::components::task::TaskDesc, payload: &[u8], at: &str) {
    use crate::components::task::downlink::STATUS_NOT_FOUND;
    use serde_json::Value;
    assert!(t.status <= STATUS_NOT_FOUND);
    for s in [
        Some(&t.task_id),
        t.job_document.as_ref(),
        t.sign_method.as_ref(),
        t.sign.as_ref(),
        t.file_url.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(!s.contains('\0'), "{s:?}");
    }
    let Some(doc) = &t.job_document else {
        return;
    };
    let root: Value = serde_json::from_slice(payload).expect("a task from a payload that is not JSON");
    let Some(want) = root.pointer(&format!("{at}/jobDocument")) else {
        // A list entry or a NOT_FOUND task carries no document.
        panic!("a job document the payload does not hold at {at}");
    };
    match want {
        Value::String(s) => assert_eq!(doc, s),
        v => assert_eq!(
            serde_json::from_str::<Value>(doc).ok().as_ref(),
            Some(v),
            "job document {doc:?} is not the payload's"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Device tags

/// Parses a devinfo reply as its topic handlers do. An accepted one names its device at topic
/// levels 2 and 3 and hands over slices of its own payload.
pub fn devinfo_reply(topic: &[u8], payload: &[u8]) {
    use crate::components::devinfo::downlink::parse;
    check_log_lines();
    let r = match parse(topic, payload) {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.1.is_empty());
            return;
        }
    };
    let mut levels = topic.split(|&b| b == b'/');
    assert_eq!(
        (levels.nth(2), levels.next()),
        (Some(r.product_key), Some(r.device_name))
    );
    assert!(within(r.product_key, topic) && within(r.device_name, topic));
    assert!(!r.product_key.is_empty() && !r.device_name.is_empty());
    assert!(std::str::from_utf8(payload).is_ok());
    for s in [r.data, r.message] {
        assert!(within(s, payload) && !s.contains(&0));
    }
}

// ---------------------------------------------------------------------------------------------
// Logpost

/// Parses the cloud's log config (`config/log/get_reply` or `.../push`) as logpost does. An
/// accepted mode is the one the JSON object holds at the first of the places it is read from.
pub fn logpost_config(payload: &[u8]) {
    use crate::components::logpost::config::parse_mode;
    use serde_json::Value;
    check_log_lines();
    let Ok(mode) = parse_mode(payload) else {
        return;
    };
    let root: Value = serde_json::from_slice(payload).expect("a mode from a payload that is not JSON");
    assert!(root.is_object());
    let found = crate::components::logpost::config::MODE_PATHS
        .iter()
        .find_map(|p| root.pointer(p))
        .expect("a mode from nowhere");
    match found {
        Value::Number(n) => assert_eq!(n.as_u64(), Some(u64::from(mode))),
        Value::String(s) => assert_eq!(s.parse::<u64>().ok(), Some(u64::from(mode))),
        v => panic!("mode {mode} from {v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed seeds of one fuzz target, by file name.
    fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = format!("{}/fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
        let mut all: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(path).unwrap())
            })
            .collect();
        all.sort();
        assert!(all.len() >= 8, "{target}: {} seeds", all.len());
        all
    }

    #[test]
    fn mqtt_seeds_are_frames_the_client_takes_whole() {
        for (name, data) in seeds("mqtt_frame") {
            mqtt_frame(&data);
            // A remaining length over MAX_INCOMING: the client closes before the body.
            let want = if name == "publish_too_large" {
                0
            } else {
                data.len()
            };
            assert_eq!(mqtt_stream(&data), want, "{name}");
        }
        // A frame the client disconnects on stops the stream.
        let unexpected = [0x20, 2, 0, 0, 0x40, 2, 0, 1, 0x20, 2, 0, 0, 0xD0, 0];
        assert_eq!(mqtt_stream(&unexpected), 8);
    }

    #[test]
    fn ota_seeds_are_accepted_pushes() {
        for (name, data) in seeds("ota_push") {
            let at = data.iter().position(|&b| b == b'\n').unwrap();
            let topic = std::str::from_utf8(&data[..at]).unwrap();
            let (_, tasks) = crate::components::ota::message::parse_push(topic, &data[at + 1..])
                .unwrap_or_else(|e| panic!("{name}: {}", e.0));
            assert_eq!(
                tasks.len(),
                if name == "fota_multi_file" { 3 } else { 1 },
                "{name}"
            );
            ota_push(topic.as_bytes(), &data[at + 1..]);
        }
    }

    #[test]
    fn dm_seeds_are_accepted_downlinks() {
        use crate::components::dm::downlink::{parse, TOPICS};
        for (name, data) in seeds("dm_downlink") {
            let at = data.iter().position(|&b| b == b'\n').unwrap();
            let (topic, payload) = (&data[1..at], &data[at + 1..]);
            let (_, route) = TOPICS[data[0] as usize % TOPICS.len()];
            parse(route, topic, payload).unwrap_or_else(|e| panic!("{name}: {}", e.0));
            dm_downlink(data[0], topic, payload);
        }
    }

    #[test]
    fn http_seeds_give_their_status() {
        let want = [
            ("200_full", 200),
            ("206_range", 206),
            ("404", 404),
            ("416", 416),
            ("chunked", 200),
            ("close_delimited", 200),
            ("http10_lowercase", 200),
            ("interim_103", 206),
            ("redirect_302", 302),
        ];
        let got: Vec<(String, Option<u16>)> = seeds("http_response_header")
            .iter()
            .map(|(name, data)| (name.clone(), http_exchange(data)))
            .collect();
        let want: Vec<(String, Option<u16>)> = want.iter().map(|(n, s)| (n.to_string(), Some(*s))).collect();
        assert_eq!(got, want);
        // A header that never ends is no response.
        assert_eq!(http_exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"), None);
    }

    #[test]
    fn url_seeds_parse() {
        for (name, data) in seeds("url") {
            let text = std::str::from_utf8(&data).unwrap();
            assert!(
                crate::components::download::url::parse(text).is_ok(),
                "{name}: {text}"
            );
            url(&data);
        }
    }

    /// Each seed's outcome by file name, against the expected list (every seed listed).
    fn outcomes(target: &str, want: &[(&str, &str)], outcome: impl Fn(&[u8]) -> String) {
        let got: Vec<(String, String)> = seeds(target)
            .iter()
            .map(|(name, data)| (name.clone(), outcome(data)))
            .collect();
        let want: Vec<(String, String)> = want.iter().map(|(n, o)| (n.to_string(), o.to_string())).collect();
        assert_eq!(got, want, "{target}");
    }

    /// `data` split at its first newline.
    fn topic_and_payload(data: &[u8]) -> (&[u8], &[u8]) {
        let at = data.iter().position(|&b| b == b'\n').unwrap();
        (&data[..at], &data[at + 1..])
    }

    #[test]
    fn mqtt_download_seeds_give_their_outcome() {
        use crate::components::mqtt_download::frame::parse_reply;
        let want = [
            ("block_ahead_of_request", "5120 bytes at 5120, asked again"),
            ("block_digit_strings", "8 bytes at 0, next block asked"),
            ("block_empty", "0 bytes at 0, asked again"),
            ("block_first_of_three", "5120 bytes at 0, next block asked"),
            ("block_too_big", "5136 bytes at 0, asked again"),
            ("block_whole_file", "16 bytes at 0, success"),
            ("code_9201_no_such_stream", "Code, asked again"),
            ("code_9202_bad_block", "Code, asked again"),
            ("crc_flipped", "Crc, asked again"),
            ("data_cut_short", "Length, asked again"),
            ("header_past_end", "HeaderPastEnd, asked again"),
            ("one_byte", "Short, asked again"),
            ("token_long", "64 bytes at 0, success"),
        ];
        outcomes("mqtt_download_reply", &want, |data| {
            mqtt_download_reply(data);
            let (frame, file_length) = match parse_reply(data) {
                Ok(r) => (format!("{} bytes at {}", r.data.len(), r.offset), r.file_length),
                Err(e) => (
                    format!("{e:?}").split([' ', '(']).next().unwrap().to_owned(),
                    4096,
                ),
            };
            format!("{frame}, {}", mqtt_download_first_reply(data, file_length))
        });
        assert_eq!(
            parse_reply(
                &std::fs::read(format!(
                    "{}/fuzz/corpus/mqtt_download_reply/token_long",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .unwrap()
            )
            .unwrap()
            .token
            .len(),
            127
        );
    }

    #[test]
    fn shadow_seeds_give_their_kind() {
        use crate::components::shadow::downlink::{parse, Kind};
        let want = [
            ("control_desired", "control 3"),
            ("control_spaced_digit_strings", "control 18446744073709551615"),
            ("control_string_payload", "control 4"),
            ("get_reply_document", "get reply 2"),
            ("get_reply_version_in_payload", "get reply 7"),
            ("product_key_with_slash", "reply ok"),
            ("status_too_long", "refused"),
            ("unknown_method", "refused"),
            ("update_reply_success", "reply success"),
            ("update_reply_version_conflict", "reply error"),
        ];
        outcomes("shadow_downlink", &want, |data| {
            let (topic, payload) = topic_and_payload(data);
            shadow_downlink(topic, payload);
            match parse(topic, payload).map(|r| r.kind) {
                Ok(Kind::Control { version, .. }) => format!("control {version}"),
                Ok(Kind::GetReply { version, .. }) => format!("get reply {version}"),
                Ok(Kind::GenericReply { status, .. }) => format!("reply {}", String::from_utf8_lossy(status)),
                Err(_) => "refused".into(),
            }
        });
    }

    #[test]
    fn task_seeds_give_their_message() {
        use crate::components::task::downlink::{notify_id, notify_task, parse_reply, Recv, Route, TOPICS};
        let want = [
            ("get_reply_detail", "detail 200 t1 1 {\"op\":\"reboot\"}"),
            ("get_reply_list", "list [(\"t1\", 1), (\"job-2\", 0)] +0"),
            ("get_reply_list_empty", "list [] +0"),
            ("get_reply_list_over_ten", "list [(\"t0\", 0), (\"t1\", 1), (\"t2\", 2), (\"t3\", 3), (\"t4\", 4), (\"t5\", 5), (\"t6\", 6), (\"t7\", 7), (\"t8\", 8), (\"t9\", 4)] +2"),
            ("get_reply_next_none", "detail 200 $next 9 -"),
            ("get_reply_unknown_id", "detail 200 nope 9 -"),
            ("notify_escaped_duplicate_key", "notify 1: a 1 [2]"),
            ("notify_job_file", "notify 1: job-1 1 {\"op\":\"reboot\",\"delay\":[1,2.5,true,null]}"),
            ("notify_spaced_escapes", "notify 7: t\"2 2 do A"),
            ("notify_unknown_status", "notify 2: 42 4 {}"),
            ("update_reply", "update 200 t1"),
            ("update_reply_error_code", "update 71012 t1"),
        ];
        let desc = |t: &crate::components::task::TaskDesc| {
            format!(
                "{} {} {}",
                t.task_id,
                t.status,
                t.job_document.as_deref().unwrap_or("-")
            )
        };
        outcomes("task_downlink", &want, |data| {
            task_downlink(data[0], &data[1..]);
            let (_, route) = TOPICS[data[0] as usize % TOPICS.len()];
            let payload = &data[1..];
            if route == Route::Notify {
                return format!(
                    "notify {}: {}",
                    notify_id(payload).unwrap(),
                    desc(&notify_task(payload).unwrap())
                );
            }
            match parse_reply(route, payload).unwrap() {
                (Recv::GetDetailReply { code, task }, 0) => format!("detail {code} {}", desc(&task)),
                (Recv::GetListReply(list), left_out) => format!("list {list:?} +{left_out}"),
                (Recv::UpdateReply { code, task_id }, 0) => format!("update {code} {task_id}"),
                other => panic!("{other:?}"),
            }
        });
    }

    #[test]
    fn devinfo_seeds_give_their_reply() {
        use crate::components::devinfo::downlink::parse;
        let want = [
            ("delete_reply", "8 200 {} success"),
            ("error_460", "10 460 {} request parameter error"),
            ("get_reply_tags", "9 200 [{\"attrKey\":\"room\",\"attrValue\":\"kitchen\"},{\"attrKey\":\"floor\",\"attrValue\":\"2\"}] success"),
            ("id_over_32_bits", "ResponseFormat"),
            ("message_escapes", "4294967295 200 x tag \\\"a\\\" \\u00e9"),
            ("missing_message", "Response"),
            ("spaced_numeric_id", "5 460 [{\"attrKey\":\"id\",\"attrValue\":\"7\",\"code\":1}] ok"),
            ("topic_without_device", "Devinfo"),
            ("update_reply", "7 200 {} success"),
        ];
        outcomes("devinfo_reply", &want, |data| {
            let (topic, payload) = topic_and_payload(data);
            devinfo_reply(topic, payload);
            match parse(topic, payload) {
                Ok(r) => format!(
                    "{} {} {} {}",
                    r.msg_id,
                    r.code,
                    String::from_utf8_lossy(r.data),
                    String::from_utf8_lossy(r.message)
                ),
                Err(e) => format!("{:?}", e.0),
            }
        });
    }

    #[test]
    fn logpost_seeds_give_their_mode() {
        use crate::components::logpost::config::parse_mode;
        let want = [
            ("content_top_level", "255"),
            ("get_reply_mode_0", "0"),
            ("get_reply_mode_1", "1"),
            ("mode_negative", "mode is not a non-negative integer"),
            ("mode_out_of_range", "mode is out of range"),
            ("mode_top_level", "7"),
            ("not_an_object", "not a JSON object"),
            ("push_mode_0", "0"),
            ("push_mode_1", "1"),
            ("push_spaced_digit_string", "1"),
        ];
        outcomes("logpost_config", &want, |data| {
            logpost_config(data);
            parse_mode(data).map_or_else(str::to_owned, |m| m.to_string())
        });
    }
}
