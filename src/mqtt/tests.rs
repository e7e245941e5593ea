//! Session tests over an in-memory port: bytes in, bytes and callbacks out.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::state::*;
use crate::sysdep::{NetOption, Port, PortNetwork};

/// Both directions of one in-memory connection.
#[derive(Default)]
struct Wire {
    to_client: Mutex<VecDeque<u8>>,
    from_client: Mutex<Vec<u8>>,
    closed: std::sync::atomic::AtomicBool,
    /// Every send fails (the peer is gone for writing).
    send_fails: std::sync::atomic::AtomicBool,
}

struct MemNet(Arc<Wire>);

impl PortNetwork for MemNet {
    fn setopt(&mut self, _option: NetOption<'_>) -> i32 {
        0
    }
    fn establish(&mut self) -> i32 {
        0
    }
    fn recv(&self, buf: &mut [u8], _timeout_ms: u32) -> i32 {
        let mut q = self.0.to_client.lock().unwrap();
        let n = buf.len().min(q.len());
        for b in buf.iter_mut().take(n) {
            *b = q.pop_front().unwrap();
        }
        if n == 0 && self.0.closed.load(Ordering::SeqCst) {
            return STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED;
        }
        n as i32
    }
    fn send(&self, buf: &[u8], _timeout_ms: u32) -> i32 {
        if self.0.send_fails.load(Ordering::SeqCst) {
            return STATE_PORT_NETWORK_SEND_FAILED;
        }
        self.0.from_client.lock().unwrap().extend_from_slice(buf);
        buf.len() as i32
    }
}

/// A port whose clock the test moves and whose connections it scripts.
struct MemPort {
    now: AtomicU64,
    wires: Mutex<Vec<Arc<Wire>>>,
    /// Bytes the next connection starts with (the server's CONNACK).
    greeting: Mutex<Vec<u8>>,
}

impl MemPort {
    fn new() -> Arc<MemPort> {
        Arc::new(MemPort {
            now: AtomicU64::new(1_000_000),
            wires: Mutex::new(Vec::new()),
            greeting: Mutex::new(vec![0x20, 2, 0, 0]),
        })
    }
    fn wire(&self) -> Arc<Wire> {
        self.wires.lock().unwrap().last().unwrap().clone()
    }
    fn feed(&self, bytes: &[u8]) {
        self.wire()
            .to_client
            .lock()
            .unwrap()
            .extend(bytes.iter().copied());
    }
    fn sent(&self) -> Vec<u8> {
        std::mem::take(&mut *self.wire().from_client.lock().unwrap())
    }
    fn advance(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Port for MemPort {
    fn time_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    fn sleep_ms(&self, ms: u64) {
        self.advance(ms);
    }
    fn rand(&self, buf: &mut [u8]) {
        buf.fill(7);
    }
    fn network(&self) -> Option<Box<dyn PortNetwork>> {
        let wire = Arc::new(Wire::default());
        wire.to_client
            .lock()
            .unwrap()
            .extend(self.greeting.lock().unwrap().iter().copied());
        self.wires.lock().unwrap().push(wire.clone());
        Some(Box::new(MemNet(wire)))
    }
}

type Seen = Arc<Mutex<Vec<String>>>;

fn recorder(seen: &Seen, key: usize, name: &'static str) -> RecvHandler {
    let seen = seen.clone();
    RecvHandler {
        key,
        call: Arc::new(move |r: &Recv<'_>, ud: Userdata| {
            let text = match r {
                Recv::Pub { qos, topic, payload } => format!(
                    "{name} pub q{qos} {} {} ud{ud}",
                    String::from_utf8_lossy(topic),
                    String::from_utf8_lossy(payload)
                ),
                Recv::HeartbeatResponse => format!("{name} pingresp"),
                Recv::SubAck {
                    res,
                    max_qos,
                    packet_id,
                } => format!("{name} suback {res} {max_qos} {packet_id}"),
                Recv::UnsubAck { packet_id } => format!("{name} unsuback {packet_id}"),
                Recv::PubAck { packet_id } => format!("{name} puback {packet_id}"),
            };
            seen.lock().unwrap().push(text);
        }),
    }
}

fn connected_client(port: &Arc<MemPort>, seen: &Seen) -> Client {
    let c = Client::new(port.clone());
    for o in [
        MqttOption::Host("example.test".into()),
        MqttOption::Port(1883),
        MqttOption::ProductKey("pk".into()),
        MqttOption::DeviceName("dn".into()),
        MqttOption::DeviceSecret("ds".into()),
        MqttOption::RecvHandler(recorder(seen, 1, "default")),
    ] {
        c.setopt(o).unwrap();
    }
    let events = seen.clone();
    c.setopt(MqttOption::EventHandler(EventHandler {
        call: Arc::new(move |e: &Event, _| events.lock().unwrap().push(format!("event {e:?}"))),
    }))
    .unwrap();
    c.connect().unwrap();
    c
}

fn publish_frame(topic: &str, payload: &[u8], qos: u8, id: u16) -> Vec<u8> {
    codec::publish(topic.as_bytes(), payload, qos, id).to_vec()
}

#[test]
fn connect_sends_signed_credentials_and_fires_connect() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let _c = connected_client(&port, &seen);
    let sent = port.sent();
    assert_eq!(sent[0], 0x10);
    let text = String::from_utf8_lossy(&sent);
    assert!(text.contains("pk.dn|timestamp=2524608000000,_ss=1,_v=sdk-c-4.2.0,securemode=3,"));
    assert!(text.contains("_conn=tcp_0|"));
    assert!(text.contains("dn&pk"));
    assert!(text.contains(&auth::password("pk", "dn", "ds")));
    assert_eq!(*seen.lock().unwrap(), vec!["event Connect".to_string()]);
}

#[test]
fn refused_connack_maps_per_mqtt_311_and_fires_nothing() {
    let port = MemPort::new();
    *port.greeting.lock().unwrap() = vec![0x20, 2, 0, 5];
    let c = Client::new(port.clone());
    for o in [
        MqttOption::Host("h".into()),
        MqttOption::ProductKey("pk".into()),
        MqttOption::DeviceName("dn".into()),
        MqttOption::DeviceSecret("bad".into()),
    ] {
        c.setopt(o).unwrap();
    }
    assert_eq!(
        c.connect().unwrap_err().code(),
        STATE_MQTT_CONNACK_RCODE_NOT_AUTHORIZED
    );
    *port.greeting.lock().unwrap() = vec![0x21, 2, 0, 0];
    assert_eq!(c.connect().unwrap_err().code(), STATE_MQTT_CONNACK_FMT_ERROR);
}

#[test]
fn missing_device_fields_are_reported_in_order() {
    let port = MemPort::new();
    let c = Client::new(port.clone());
    assert_eq!(c.connect().unwrap_err(), crate::error::Error::MissingHost);
    c.setopt(MqttOption::Host("h".into())).unwrap();
    assert_eq!(c.connect().unwrap_err(), crate::error::Error::MissingProductKey);
    c.setopt(MqttOption::ProductKey("p".into())).unwrap();
    assert_eq!(c.connect().unwrap_err(), crate::error::Error::MissingDeviceName);
    c.setopt(MqttOption::DeviceName("d".into())).unwrap();
    assert_eq!(c.connect().unwrap_err(), crate::error::Error::MissingDeviceSecret);
}

#[test]
fn incoming_qos1_is_acked_before_handlers_and_all_matching_handlers_fire() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    port.sent();
    c.setopt(MqttOption::AppendTopicMap {
        topic: "/pk/dn/user/+".into(),
        handler: Some(recorder(&seen, 2, "plus")),
        userdata: 9,
    })
    .unwrap();
    c.setopt(MqttOption::AppendTopicMap {
        topic: "/pk/dn/#".into(),
        handler: Some(recorder(&seen, 3, "hash")),
        userdata: 0,
    })
    .unwrap();
    c.setopt(MqttOption::Userdata(5)).unwrap();
    port.feed(&publish_frame("/pk/dn/user/get", b"hello", 1, 0x1234));
    c.recv().unwrap();
    assert_eq!(port.sent(), vec![0x40, 2, 0x12, 0x34]);
    let got = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(
        got[1..],
        [
            "plus pub q1 /pk/dn/user/get hello ud9",
            "hash pub q1 /pk/dn/user/get hello ud5"
        ]
    );
    // Not matching any filter: the default handler gets it.
    port.feed(&publish_frame("/other", b"x", 0, 0));
    c.recv().unwrap();
    assert_eq!(seen.lock().unwrap().as_slice(), ["default pub q0 /other x ud5"]);
    // Removing one handler leaves the other.
    c.setopt(MqttOption::RemoveTopicMap {
        topic: "/pk/dn/#".into(),
        handler_key: 3,
    })
    .unwrap();
    seen.lock().unwrap().clear();
    port.feed(&publish_frame("/pk/dn/user/get", b"again", 0, 0));
    c.recv().unwrap();
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["plus pub q0 /pk/dn/user/get again ud9"]
    );
}

#[test]
fn qos1_publish_returns_ids_and_puback_clears_the_cache() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    port.sent();
    assert_eq!(c.publish("/t", b"a", 1).unwrap(), 1);
    assert_eq!(c.publish("/t", b"b", 1).unwrap(), 2);
    assert_eq!(c.publish("/t", b"c", 0).unwrap(), 0);
    assert_eq!(c.pending_count(), 2);
    let sent = port.sent();
    assert_eq!(
        sent[..],
        [
            publish_frame("/t", b"a", 1, 1),
            publish_frame("/t", b"b", 1, 2),
            publish_frame("/t", b"c", 0, 0)
        ]
        .concat()
    );
    port.feed(&[0x40, 2, 0, 1]);
    c.recv().unwrap();
    assert_eq!(c.pending_count(), 1);
    assert_eq!(seen.lock().unwrap().last().unwrap(), "default puback 1");
    // The unacknowledged one goes out again, byte for byte, after the repub timeout.
    port.advance(3_000);
    c.process().unwrap();
    let again = port.sent();
    assert!(again.ends_with(&publish_frame("/t", b"b", 1, 2)));
}

#[test]
fn publish_limits_and_closed_connection() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    let long = "/".repeat(128);
    assert_eq!(
        c.publish(&long, b"x", 0).unwrap_err().code(),
        STATE_MQTT_TOPIC_TOO_LONG
    );
    assert_eq!(
        c.publish("", b"x", 0).unwrap_err().code(),
        STATE_USER_INPUT_OUT_RANGE
    );
    assert_eq!(
        c.publish("/t", b"x", 2).unwrap_err().code(),
        STATE_USER_INPUT_OUT_RANGE
    );
    let big = vec![0u8; 1024 * 1024 + 1];
    assert_eq!(
        c.publish("/t", &big, 0).unwrap_err().code(),
        STATE_MQTT_PUB_PAYLOAD_TOO_LONG
    );
    assert!(c.publish("/t", &big[1..], 0).is_ok());
    c.setopt(MqttOption::MaxRepubNum(2)).unwrap();
    c.publish("/t", b"1", 1).unwrap();
    c.publish("/t", b"2", 1).unwrap();
    assert_eq!(
        c.publish("/t", b"3", 1).unwrap_err().code(),
        STATE_QOS_CACHE_EXCEEDS_LIMIT
    );
    c.disconnect().unwrap();
    assert_eq!(
        c.publish("/t", b"x", 0).unwrap_err().code(),
        STATE_SYS_DEPEND_NWK_CLOSED
    );
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|s| s == "event Disconnect(Network)"));
}

#[test]
fn suback_codes_reach_the_default_handler() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    assert_eq!(c.subscribe("/pk/dn/a", None, 1, 0).unwrap(), 1);
    assert_eq!(
        c.subscribe("pk/dn/a", None, 1, 0).unwrap_err().code(),
        STATE_MQTT_TOPIC_INVALID
    );
    port.feed(&[0x90, 3, 0, 1, 1]);
    c.recv().unwrap();
    port.feed(&[0x90, 3, 0, 2, 0x80]);
    c.recv().unwrap();
    port.feed(&[0xB0, 2, 0, 3]);
    c.recv().unwrap();
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got[1..],
        [
            "default suback 0 1 1",
            "default suback -783 0 2",
            "default unsuback 3"
        ]
    );
}

#[test]
fn heartbeat_loss_fires_disconnect_with_heartbeat_cause() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    c.setopt(MqttOption::ReconnEnabled(0)).unwrap();
    c.setopt(MqttOption::HeartbeatIntervalMs(1_000)).unwrap();
    port.sent();
    for _ in 0..3 {
        c.process().unwrap();
        port.advance(1_000);
    }
    assert_eq!(port.sent(), [0xC0, 0, 0xC0, 0, 0xC0, 0]);
    c.recv().unwrap();
    assert_eq!(
        seen.lock().unwrap().last().unwrap(),
        "event Disconnect(Heartbeat)"
    );
    // A PINGRESP resets the count.
    port.feed(&[0xD0, 0]);
    c.recv().unwrap();
    assert_eq!(seen.lock().unwrap().last().unwrap(), "default pingresp");
}

#[test]
fn hostile_packets_close_the_connection_with_clear_codes() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    c.setopt(MqttOption::ReconnEnabled(0)).unwrap();
    // Remaining length announcing 200 MiB.
    port.feed(&[0x30, 0x80, 0x80, 0x80, 0x64]);
    assert_eq!(c.recv().unwrap_err().code(), STATE_MQTT_MALFORMED_REMAINING_LEN);
    assert_eq!(c.recv().unwrap_err().code(), STATE_SYS_DEPEND_NWK_CLOSED);
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|s| s == "event Disconnect(Network)"));

    for (bytes, code) in [
        (
            vec![0x30u8, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            STATE_MQTT_MALFORMED_REMAINING_LEN,
        ),
        (vec![0x40, 3, 0, 1, 0], STATE_MQTT_RECV_INVALID_PUBACK_PACKET),
        (vec![0xD0, 1, 0], STATE_MQTT_RECV_INVALID_PINRESP_PACKET),
        (vec![0x20, 2, 0, 0], STATE_MQTT_PACKET_TYPE_UNKNOWN),
        (
            vec![0x30, 5, 0, 9, b'/', b'a', b'b'],
            STATE_MQTT_RECV_INVALID_PUBLISH_PACKET,
        ),
    ] {
        c.connect().unwrap();
        port.feed(&bytes);
        assert_eq!(c.recv().unwrap_err().code(), code, "{bytes:02X?}");
    }
}

#[test]
fn automatic_reconnect_restores_subscriptions() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    c.setopt(MqttOption::ReconnIntervalMs(100)).unwrap();
    c.subscribe("/pk/dn/user/+", Some(recorder(&seen, 2, "sub")), 1, 0)
        .unwrap();
    port.wire().closed.store(true, Ordering::SeqCst);
    assert!(c.recv().is_err());
    // Reconnects at once (first attempt) and subscribes again.
    assert_eq!(c.recv(), Ok(()));
    let sent = port.sent();
    assert_eq!(sent[0], 0x10);
    assert!(sent.windows(2).any(|w| w == [0x82, 18]));
    let got = seen.lock().unwrap().clone();
    assert!(got.contains(&"event Disconnect(Network)".to_string()));
    assert!(got.contains(&"event Reconnect".to_string()));
}

#[test]
fn deinit_waits_for_calls_in_progress() {
    let port = MemPort::new();
    let c = Client::new(port.clone());
    let g = c.enter().unwrap();
    assert_eq!(c.shutdown().unwrap_err().code(), STATE_MQTT_DEINIT_TIMEOUT);
    drop(g);
    assert_eq!(
        c.enter().err().map(|e| e.code()),
        Some(STATE_USER_INPUT_EXEC_DISABLED)
    );
}

#[test]
fn append_request_id_changes_only_the_wire_topic() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    port.sent();
    c.setopt(MqttOption::AppendRequestId(1)).unwrap();
    c.publish("/t", b"x", 0).unwrap();
    let sent = port.sent();
    // 1000000 ms on the test clock, then the port's random u32 (bytes 7,7,7,7).
    let topic = format!("/t?_rid=1000000{}", u32::from_le_bytes([7; 4]));
    assert_eq!(sent, publish_frame(&topic, b"x", 0, 0));
}

#[test]
fn user_credentials_are_used_verbatim_only_when_all_three_are_set() {
    let port = MemPort::new();
    let c = Client::new(port.clone());
    c.setopt(MqttOption::Host("h".into())).unwrap();
    c.setopt(MqttOption::Username("u".into())).unwrap();
    c.setopt(MqttOption::Password("p".into())).unwrap();
    // Without a client id the device triple is needed, and the user's values are replaced.
    assert_eq!(c.connect().unwrap_err(), crate::error::Error::MissingProductKey);
    c.setopt(MqttOption::Username("u".into())).unwrap();
    c.setopt(MqttOption::Password("p".into())).unwrap();
    c.setopt(MqttOption::ClientId("cid".into())).unwrap();
    c.connect().unwrap();
    let sent = port.sent();
    let mut want = vec![0x10, 21, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0x04, 0xB0];
    want.extend_from_slice(&[0, 3, b'c', b'i', b'd', 0, 1, b'u', 0, 1, b'p']);
    assert_eq!(sent, want);
}

#[test]
fn during_deinit_argument_and_connection_errors_come_first() {
    // Upstream checks a publish's arguments and its connection before the deinit flag, and a
    // sub/unsub's arguments before it.
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    c.shutdown().unwrap();
    let code = |r: std::result::Result<u16, crate::error::Error>| r.unwrap_err().code();
    let long = "/".repeat(128);
    assert_eq!(code(c.publish(&long, b"x", 0)), STATE_MQTT_TOPIC_TOO_LONG);
    assert_eq!(code(c.publish("/t", b"x", 2)), STATE_USER_INPUT_OUT_RANGE);
    assert_eq!(code(c.publish("/t", b"x", 0)), STATE_SYS_DEPEND_NWK_CLOSED);
    assert_eq!(code(c.subscribe(&long, None, 0, 0)), STATE_MQTT_TOPIC_TOO_LONG);
    assert_eq!(code(c.subscribe("/t", None, 2, 0)), STATE_USER_INPUT_OUT_RANGE);
    assert_eq!(code(c.subscribe("t", None, 0, 0)), STATE_MQTT_TOPIC_INVALID);
    assert_eq!(
        code(c.subscribe("/t", None, 0, 0)),
        STATE_USER_INPUT_EXEC_DISABLED
    );
    assert_eq!(code(c.unsubscribe("")), STATE_USER_INPUT_OUT_RANGE);
    assert_eq!(code(c.unsubscribe("/a/b#")), STATE_MQTT_TOPIC_INVALID);
    assert_eq!(code(c.unsubscribe("/t")), STATE_USER_INPUT_EXEC_DISABLED);
}

#[test]
fn sub_and_unsub_without_a_connection_use_up_a_packet_id() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    c.disconnect().unwrap();
    let closed = Some(STATE_SYS_DEPEND_NWK_CLOSED);
    assert_eq!(c.subscribe("/t", None, 0, 0).err().map(|e| e.code()), closed);
    assert_eq!(c.unsubscribe("/t").err().map(|e| e.code()), closed);
    c.connect().unwrap();
    assert_eq!(c.publish("/t", b"x", 1).unwrap(), 3);
}

#[test]
fn a_puback_that_cannot_be_sent_still_delivers_the_message() {
    // Upstream ignores the PUBACK write's result: the handler runs and recv returns 0; the
    // connection is closed.
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    c.subscribe("/t", Some(recorder(&seen, 2, "t")), 1, 0).unwrap();
    port.wire().send_fails.store(true, Ordering::SeqCst);
    port.feed(&publish_frame("/t", b"hi", 1, 7));
    assert_eq!(c.recv(), Ok(()));
    assert!(seen.lock().unwrap().iter().any(|s| s == "t pub q1 /t hi ud0"));
    assert_eq!(
        c.publish("/t", b"x", 0).unwrap_err().code(),
        STATE_SYS_DEPEND_NWK_CLOSED
    );
}

#[test]
fn topics_are_bytes_on_the_wire_and_in_handlers() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    port.sent();
    let gbk: &[u8] = b"/pk/dn/user/\xb2\xe2\xca\xd4";
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Default::default();
    let sink = got.clone();
    let handler = RecvHandler {
        key: 2,
        call: Arc::new(move |r: &Recv<'_>, _| {
            if let Recv::Pub { topic, .. } = r {
                sink.lock().unwrap().push(topic.to_vec());
            }
        }),
    };
    assert_eq!(c.subscribe(gbk, Some(handler), 0, 0).unwrap(), 1);
    let mut want = vec![0x82, 21, 0, 1, 0, 16];
    want.extend_from_slice(gbk);
    want.push(0);
    assert_eq!(port.sent(), want);
    c.publish(gbk, b"p", 0).unwrap();
    assert_eq!(port.sent(), codec::publish(gbk, b"p", 0, 0).to_vec());
    port.feed(&codec::publish(gbk, b"p", 0, 0));
    c.recv().unwrap();
    // A topic that only matches after a lossy conversion must not reach the handler.
    port.feed(&codec::publish(
        "/pk/dn/user/\u{FFFD}\u{FFFD}".as_bytes(),
        b"p",
        0,
        0,
    ));
    c.recv().unwrap();
    assert_eq!(got.lock().unwrap().as_slice(), [gbk.to_vec()]);
    assert_eq!(c.unsubscribe(gbk).unwrap(), 2);
}

#[test]
fn a_handler_may_call_recv_and_connect_without_deadlock() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = Arc::new(connected_client(&port, &seen));
    let inner = Arc::downgrade(&c);
    let nested: Arc<Mutex<Vec<String>>> = Default::default();
    let log = nested.clone();
    c.setopt(MqttOption::RecvHandler(RecvHandler {
        key: 9,
        call: Arc::new(move |r: &Recv<'_>, _| {
            if let (Recv::PubAck { packet_id: 1 }, Some(c)) = (r, inner.upgrade()) {
                log.lock().unwrap().push(format!("recv {:?}", c.recv()));
                log.lock().unwrap().push(format!("connect {:?}", c.connect()));
            }
        }),
    }))
    .unwrap();
    port.feed(&[0x40, 2, 0, 1, 0x40, 2, 0, 2]);
    c.recv().unwrap();
    assert_eq!(
        nested.lock().unwrap().as_slice(),
        ["recv Ok(())", "connect Ok(())"]
    );
}

#[test]
fn large_qos0_publish_goes_out_as_header_then_payload_unchanged() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    port.sent();
    let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    assert!(payload.len() > crate::transport::COALESCE_LIMIT);
    c.publish("/pk/dn/user/big", &payload, 0).unwrap();
    assert_eq!(
        port.sent(),
        codec::publish(b"/pk/dn/user/big", &payload, 0, 0).to_vec()
    );
    c.publish("/pk/dn/user/small", b"s", 0).unwrap();
    assert_eq!(
        port.sent(),
        codec::publish(b"/pk/dn/user/small", b"s", 0, 0).to_vec()
    );
}

/// A component that records each hook as "<name> <hook>" and then runs `then` with the hook's
/// name (to call the session from inside the hook).
struct Probe {
    name: &'static str,
    seen: Seen,
    then: Box<dyn Fn(&str) + Send + Sync>,
}

impl Probe {
    fn new(name: &'static str, seen: &Seen) -> Arc<Probe> {
        Probe::with(name, seen, |_| {})
    }
    fn with(name: &'static str, seen: &Seen, then: impl Fn(&str) + Send + Sync + 'static) -> Arc<Probe> {
        Arc::new(Probe {
            name,
            seen: seen.clone(),
            then: Box::new(then),
        })
    }
    fn record(&self, hook: String) {
        self.seen.lock().unwrap().push(format!("{} {hook}", self.name));
        (self.then)(&hook);
    }
}

impl Component for Probe {
    fn on_event(&self, event: &Event) {
        self.record(format!("{event:?}"));
    }
    fn on_tick(&self) {
        self.record("tick".into());
    }
    fn on_deinit(&self) {
        self.record("deinit".into());
    }
}

fn take(seen: &Seen) -> Vec<String> {
    std::mem::take(&mut *seen.lock().unwrap())
}

#[test]
fn a_component_attached_after_connect_gets_connect_at_once() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let fresh = Client::new(port.clone());
    fresh.attach_component(1, Probe::new("early", &seen)).unwrap();
    assert!(take(&seen).is_empty());
    let c = connected_client(&port, &seen);
    take(&seen);
    c.attach_component(1, Probe::new("late", &seen)).unwrap();
    assert_eq!(take(&seen), ["late Connect"]);
}

#[test]
fn component_events_follow_the_user_handler() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = Client::new(port.clone());
    c.attach_component(1, Probe::new("a", &seen)).unwrap();
    c.attach_component(2, Probe::new("b", &seen)).unwrap();
    for o in [
        MqttOption::Host("example.test".into()),
        MqttOption::ProductKey("pk".into()),
        MqttOption::DeviceName("dn".into()),
        MqttOption::DeviceSecret("ds".into()),
    ] {
        c.setopt(o).unwrap();
    }
    let events = seen.clone();
    c.setopt(MqttOption::EventHandler(EventHandler {
        call: Arc::new(move |e: &Event, _| events.lock().unwrap().push(format!("event {e:?}"))),
    }))
    .unwrap();
    c.connect().unwrap();
    c.disconnect().unwrap();
    c.connect().unwrap();
    assert_eq!(
        take(&seen),
        [
            "event Connect",
            "a Connect",
            "b Connect",
            "event Disconnect(Network)",
            "a Disconnect(Network)",
            "b Disconnect(Network)",
            "event Reconnect",
            "a Reconnect",
            "b Reconnect",
        ]
    );
}

#[test]
fn every_process_ticks_once_after_ping_and_resend() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    c.setopt(MqttOption::HeartbeatIntervalMs(1_000)).unwrap();
    c.setopt(MqttOption::RepubTimeoutMs(500)).unwrap();
    c.publish("/pk/dn/user/q1", b"x", 1).unwrap();
    port.sent();
    // At each tick, the wire already holds what this process call wrote.
    let wire = port.wire();
    let written: Seen = Default::default();
    let w = written.clone();
    let probe = Probe::with("p", &seen, move |hook| {
        if hook == "tick" {
            w.lock()
                .unwrap()
                .push(format!("{:02x?}", wire.from_client.lock().unwrap()));
        }
    });
    c.attach_component(7, probe).unwrap();
    take(&seen);
    port.advance(1_000);
    c.process().unwrap();
    let resend = publish_frame("/pk/dn/user/q1", b"x", 1, 1);
    let mut first = vec![0xC0, 0];
    first.extend_from_slice(&resend);
    assert_eq!(port.sent(), first);
    c.process().unwrap();
    c.process().unwrap();
    assert_eq!(take(&seen), ["p tick", "p tick", "p tick"]);
    assert_eq!(
        written.lock().unwrap()[0],
        format!("{first:02x?}"),
        "the first tick ran after the ping and the resend"
    );
}

#[test]
fn deinit_hooks_run_once_and_then_no_hook_runs() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    c.attach_component(1, Probe::new("a", &seen)).unwrap();
    c.attach_component(2, Probe::new("b", &seen)).unwrap();
    take(&seen);
    c.shutdown().unwrap();
    assert_eq!(take(&seen), ["a deinit", "b deinit"]);
    c.shutdown().unwrap();
    assert_eq!(c.process().unwrap_err().code(), STATE_USER_INPUT_EXEC_DISABLED);
    assert!(take(&seen).is_empty());
}

#[test]
fn a_deinit_that_times_out_runs_no_hook() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = Client::new(port.clone());
    c.attach_component(1, Probe::new("a", &seen)).unwrap();
    let g = c.enter().unwrap();
    assert_eq!(c.shutdown().unwrap_err().code(), STATE_MQTT_DEINIT_TIMEOUT);
    assert!(take(&seen).is_empty());
    drop(g);
    c.shutdown().unwrap();
    assert_eq!(take(&seen), ["a deinit"]);
}

#[test]
fn attaching_a_key_again_replaces_its_hooks_and_detach_removes_them() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = connected_client(&port, &seen);
    c.attach_component(5, Probe::new("first", &seen)).unwrap();
    c.attach_component(5, Probe::new("second", &seen)).unwrap();
    c.attach_component(6, Probe::new("other", &seen)).unwrap();
    take(&seen);
    c.process().unwrap();
    assert_eq!(take(&seen), ["second tick", "other tick"]);
    c.detach_component(5).unwrap();
    c.detach_component(99).unwrap();
    c.process().unwrap();
    assert_eq!(take(&seen), ["other tick"]);
}

/// Runs `body` on its own thread and fails if it has not finished within 10 s (a deadlock).
fn bounded(body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(10)) {
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("deadlock: still running after 10 s"),
        _ => {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

#[test]
fn hooks_may_call_the_session_from_inside() {
    bounded(hooks_calling_the_session);
}

fn hooks_calling_the_session() {
    let port = MemPort::new();
    let seen: Seen = Default::default();
    let c = Arc::new(connected_client(&port, &seen));
    let weak = Arc::downgrade(&c);
    let results: Seen = Default::default();
    let out = results.clone();
    let nested = std::sync::atomic::AtomicBool::new(false);
    let probe = Probe::with("p", &seen, move |hook| {
        let Some(c) = weak.upgrade() else {
            return;
        };
        let log = |s: String| out.lock().unwrap().push(s);
        match hook {
            "tick" if !nested.swap(true, Ordering::SeqCst) => {
                log(format!("pub {:?}", c.publish("/pk/dn/user/t", b"t", 1)));
                log(format!("process {:?}", c.process()));
                let topic = c.attach_topic_handler(b"/x/+", recorder(&Default::default(), 3, "x"), 0);
                log(format!("topic {topic:?}"));
                log(format!("pk {:?} {:?}", c.product_key(), c.device_name()));
                log(format!("detach {:?}", c.detach_component(4)));
            }
            "Connect" => log(format!(
                "connect hook pub {:?}",
                c.publish("/pk/dn/user/t", b"t", 0)
            )),
            "Disconnect(Network)" => log(format!("connect {:?}", c.connect())),
            "deinit" => {
                let code = c.publish("/pk/dn/user/t", b"t", 0).map_err(|e| e.code());
                log(format!("deinit pub {code:?}"));
            }
            _ => {}
        }
    });
    take(&seen);
    c.attach_component(4, probe.clone()).unwrap();
    assert_eq!(take(&seen), ["p Connect"]);
    c.process().unwrap();
    // The nested process ticked too (before the detach).
    assert_eq!(take(&seen), ["p tick", "p tick"]);
    c.process().unwrap();
    assert!(take(&seen).is_empty(), "detached from inside its own hook");
    c.attach_component(4, probe).unwrap();
    c.disconnect().unwrap();
    c.shutdown().unwrap();
    assert_eq!(
        take(&seen),
        [
            "p Connect",
            "event Disconnect(Network)",
            "p Disconnect(Network)",
            "event Reconnect",
            "p Reconnect",
            "p deinit"
        ]
    );
    assert_eq!(
        results.lock().unwrap().as_slice(),
        [
            "connect hook pub Ok(0)",
            "pub Ok(1)",
            "process Ok(())",
            "topic Ok(())",
            r#"pk Some("pk") Some("dn")"#,
            "detach Ok(())",
            "connect hook pub Ok(0)",
            "connect Ok(())",
            &format!("deinit pub Err({STATE_USER_INPUT_EXEC_DISABLED})"),
        ]
    );
}
