//! The NTP handle on a real MQTT session over an in-memory connection: the request's bytes,
//! responses fed in as PUBLISH frames, the handlers' calls and the log clock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::mqtt::{codec, MqttOption};
use crate::state::*;
use crate::sysdep::{NetOption, PortNetwork};

#[derive(Default)]
struct Wire {
    to_client: Mutex<VecDeque<u8>>,
    from_client: Mutex<Vec<u8>>,
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
        n as i32
    }
    fn send(&self, buf: &[u8], _timeout_ms: u32) -> i32 {
        self.0.from_client.lock().unwrap().extend_from_slice(buf);
        buf.len() as i32
    }
}

/// A clock the test sets (sleep moves it) and one in-memory connection that starts with a
/// CONNACK.
struct MemPort {
    now: AtomicU64,
    wire: Arc<Wire>,
}

impl Port for MemPort {
    fn time_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    fn sleep_ms(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
    fn rand(&self, buf: &mut [u8]) {
        buf.fill(7);
    }
    fn network(&self) -> Option<Box<dyn PortNetwork>> {
        self.wire.to_client.lock().unwrap().extend([0x20, 2, 0, 0]);
        Some(Box::new(MemNet(self.wire.clone())))
    }
}

fn port(now: u64) -> Arc<MemPort> {
    Arc::new(MemPort {
        now: AtomicU64::new(now),
        wire: Arc::new(Wire::default()),
    })
}

fn connected(port: &Arc<MemPort>) -> Arc<Client> {
    let c = Arc::new(Client::new(port.clone()));
    for o in [
        MqttOption::Host("example.test".into()),
        MqttOption::Port(1883),
        MqttOption::ProductKey("pk".into()),
        MqttOption::DeviceName("dn".into()),
        MqttOption::DeviceSecret("ds".into()),
    ] {
        c.setopt(o).unwrap();
    }
    c.connect().unwrap();
    port.wire.from_client.lock().unwrap().clear();
    c
}

/// Feeds a PUBLISH from the server and lets the session dispatch it.
fn deliver_pub(port: &MemPort, client: &Client, topic: &str, payload: &[u8]) {
    let frame = codec::publish(topic.as_bytes(), payload, 0, 0);
    port.wire.to_client.lock().unwrap().extend(frame.iter().copied());
    client.recv().unwrap();
}

type Seen = Arc<Mutex<Vec<String>>>;

fn handlers(ntp: &Ntp, seen: &Seen) {
    let s = seen.clone();
    ntp.set_recv_handler(Arc::new(move |t: &LocalTime, ud: Userdata| {
        s.lock().unwrap().push(format!(
            "time {} {:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} ud{ud}",
            t.timestamp, t.year, t.mon, t.day, t.hour, t.min, t.sec, t.msec
        ));
    }))
    .unwrap();
    let s = seen.clone();
    ntp.set_event_handler(Arc::new(move |e: NtpEvent, ud: Userdata| {
        s.lock().unwrap().push(format!("event {e:?} ud{ud}"));
    }))
    .unwrap();
    ntp.set_userdata(42).unwrap();
}

const RESPONSE_TOPIC: &str = "/ext/ntp/pk/dn/response";

#[test]
fn request_then_response_gives_local_time_for_the_zone() {
    let port = port(5_000);
    let client = connected(&port);
    let ntp = Ntp::new(port.clone());
    let seen = Seen::default();
    handlers(&ntp, &seen);
    ntp.set_zone(-5).unwrap();
    ntp.set_mqtt(client.clone()).unwrap();
    ntp.send_request().unwrap();
    let sent = std::mem::take(&mut *port.wire.from_client.lock().unwrap());
    let want = codec::publish(b"/ext/ntp/pk/dn/request", b"{\"deviceSendTime\":\"5000\"}", 0, 0);
    assert_eq!(sent, want.to_vec(), "QoS0 request with the port's time");

    // 2036-02-29T23:30:00Z at the server; the answer comes back 40 ms after the request.
    port.now.store(5_040, Ordering::SeqCst);
    let server = 2_087_940_600_000u64;
    let answer =
        format!(r#"{{"deviceSendTime":"5000","serverRecvTime":"{server}","serverSendTime":"{server}"}}"#);
    deliver_pub(&port, &client, RESPONSE_TOPIC, answer.as_bytes());
    assert_eq!(
        *seen.lock().unwrap(),
        [format!("time {} 2036-02-29 18:30:00.020 ud42", server + 20)]
    );
    // The same answer for a handle in UTC+8 is already March.
    ntp.set_zone(8).unwrap();
    deliver_pub(&port, &client, RESPONSE_TOPIC, answer.as_bytes());
    assert_eq!(
        seen.lock().unwrap()[1],
        format!("time {} 2036-03-01 07:30:00.020 ud42", server + 20)
    );
}

#[test]
fn bad_responses_raise_events_and_nothing_else() {
    let port = port(1_000);
    let client = connected(&port);
    let ntp = Ntp::new(port.clone());
    let seen = Seen::default();
    handlers(&ntp, &seen);
    ntp.set_mqtt(client.clone()).unwrap();
    for bad in [
        &b"{\"deviceSendTime\":\"1\",\"serverRecvTime\":\"2\"}"[..],
        b"not json",
        b"\xff\xfe\x00",
        b"{\"deviceSendTime\":\"1\",\"serverRecvTime\":\"x2\",\"serverSendTime\":\"3\"}",
        b"{\"deviceSendTime\":\"99999999\",\"serverRecvTime\":\"2\",\"serverSendTime\":\"3\"}",
    ] {
        deliver_pub(&port, &client, RESPONSE_TOPIC, bad);
    }
    let deep = "[".repeat(100_000);
    deliver_pub(&port, &client, RESPONSE_TOPIC, deep.as_bytes());
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "event InvalidResponse ud42",
            "event InvalidResponse ud42",
            "event InvalidResponse ud42",
            "event InvalidTimeFormat ud42",
            "event InvalidTimeFormat ud42",
            "event InvalidResponse ud42",
        ]
    );
}

#[test]
fn other_devices_topics_are_not_ours() {
    let port = port(1_000);
    let client = connected(&port);
    let ntp = Ntp::new(port.clone());
    let seen = Seen::default();
    handlers(&ntp, &seen);
    ntp.set_mqtt(client.clone()).unwrap();
    deliver_pub(&port, &client, "/ext/ntp/pk/other/response", b"{}");
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn misuse_codes_and_deinit() {
    let port = port(1_000);
    let ntp = Ntp::new(port.clone());
    assert_eq!(ntp.send_request().unwrap_err().code(), -0x1101);
    assert_eq!(
        Error::NtpMissingMqttHandle.code(),
        super::super::codes::STATE_NTP_MISSING_MQTT_HANDLE
    );
    ntp.set_deinit_timeout_ms(300).unwrap();
    ntp.shutdown().unwrap();
    assert_eq!(ntp.shutdown().unwrap_err().code(), STATE_USER_INPUT_EXEC_DISABLED);
    assert_eq!(
        ntp.set_zone(1).unwrap_err().code(),
        STATE_USER_INPUT_EXEC_DISABLED
    );
    // Without an MQTT handle the missing handle is reported first, as upstream checks it first.
    assert_eq!(ntp.send_request().unwrap_err().code(), -0x1101);
}

#[test]
fn deinit_waits_for_a_call_in_progress_then_times_out() {
    let port = port(1_000);
    let client = connected(&port);
    let ntp = Ntp::new(port.clone());
    ntp.set_mqtt(client.clone()).unwrap();
    ntp.set_deinit_timeout_ms(500).unwrap();
    let held = ntp.inner.gate.enter().unwrap();
    assert_eq!(ntp.shutdown().unwrap_err().code(), STATE_MQTT_DEINIT_TIMEOUT);
    assert!(port.time_ms() >= 1_500, "waited the timeout on the port's clock");
    drop(held);
    // The handle stays, exec disabled: MQTT handle still known, so exec disabled is reported.
    assert_eq!(
        ntp.send_request().unwrap_err().code(),
        STATE_USER_INPUT_EXEC_DISABLED
    );
    assert_eq!(ntp.shutdown().unwrap_err().code(), STATE_USER_INPUT_EXEC_DISABLED);
}

#[test]
fn deinit_leaves_the_session_and_mqtt_deinit_is_noticed() {
    let port = port(1_000);
    let client = connected(&port);
    let ntp = Ntp::new(port.clone());
    let seen = Seen::default();
    handlers(&ntp, &seen);
    ntp.set_mqtt(client.clone()).unwrap();
    client.shutdown().unwrap();
    assert_eq!(
        ntp.send_request().unwrap_err().code(),
        -0x1101,
        "MQTT deinit forgotten"
    );

    let client = connected(&port);
    let ntp2 = Ntp::new(port.clone());
    handlers(&ntp2, &seen);
    ntp2.set_mqtt(client.clone()).unwrap();
    ntp2.shutdown().unwrap();
    deliver_pub(&port, &client, RESPONSE_TOPIC, b"{}");
    assert!(seen.lock().unwrap().is_empty(), "no handler after deinit");
}

#[test]
fn a_handler_may_deinit_its_own_handle() {
    let port = port(1_000);
    let client = connected(&port);
    let ntp = Arc::new(Mutex::new(Some(Ntp::new(port.clone()))));
    let slot = ntp.clone();
    let done = Arc::new(AtomicU64::new(0));
    let d = done.clone();
    let guard = ntp.lock().unwrap();
    let handle = guard.as_ref().unwrap();
    handle
        .set_event_handler(Arc::new(move |_e, _ud| {
            let taken = slot.lock().unwrap().take().unwrap();
            taken.shutdown().unwrap();
            drop(taken);
            d.store(1, Ordering::SeqCst);
        }))
        .unwrap();
    handle.set_mqtt(client.clone()).unwrap();
    drop(guard);
    deliver_pub(&port, &client, RESPONSE_TOPIC, b"{}");
    assert_eq!(done.load(Ordering::SeqCst), 1);
    assert!(ntp.lock().unwrap().is_none());
}
