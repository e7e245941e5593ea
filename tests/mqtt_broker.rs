//! The safe MQTT core against a real mosquitto with Aliyun authentication, TCP and TLS.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiot::mqtt::{Client, Event, EventHandler, MqttOption, Recv, RecvHandler};
use aiot::sysdep::{posix::PosixPort, Credential, CRED_SVRCERT_CA};
use aiot_platform::{default_devices, Broker};

fn client(host: &str, port: u16, d: &aiot_platform::Device, cred: Option<Credential>) -> Client {
    let c = Client::new(Arc::new(PosixPort));
    c.setopt(MqttOption::Host(host.into())).unwrap();
    c.setopt(MqttOption::Port(port)).unwrap();
    c.setopt(MqttOption::ProductKey(d.product_key.clone())).unwrap();
    c.setopt(MqttOption::DeviceName(d.device_name.clone())).unwrap();
    c.setopt(MqttOption::DeviceSecret(d.device_secret.clone()))
        .unwrap();
    c.setopt(MqttOption::RecvTimeoutMs(100)).unwrap();
    if let Some(cred) = cred {
        c.setopt(MqttOption::NetworkCred(cred)).unwrap();
    }
    c
}

#[test]
fn roundtrip_over_tcp_and_tls_and_refusals() {
    let dir = std::env::temp_dir().join(format!("aiot-core-test-{}", std::process::id()));
    let devices = default_devices();
    let broker = Broker::start(&dir, &devices).unwrap();
    let d = &devices[0];
    let ca = std::fs::read(broker.info.ca_file()).unwrap();
    let cred = Credential {
        option: CRED_SVRCERT_CA,
        max_tls_fragment: 16384,
        server_ca: Some(ca),
        ..Default::default()
    };

    for (host, port, cred) in [
        ("127.0.0.1", broker.info.tcp_port, None),
        ("localhost", broker.info.tls_port, Some(cred.clone())),
    ] {
        let c = client(host, port, d, cred);
        let got: Arc<Mutex<Vec<String>>> = Default::default();
        let g = got.clone();
        c.setopt(MqttOption::RecvHandler(RecvHandler {
            key: 1,
            call: Arc::new(move |r: &Recv<'_>, _| {
                if let Recv::PubAck { packet_id } = r {
                    g.lock().unwrap().push(format!("puback {packet_id}"));
                }
            }),
        }))
        .unwrap();
        let events: Arc<Mutex<Vec<Event>>> = Default::default();
        let e = events.clone();
        c.setopt(MqttOption::EventHandler(EventHandler {
            call: Arc::new(move |ev: &Event, _| e.lock().unwrap().push(*ev)),
        }))
        .unwrap();
        c.connect().unwrap();
        let topic = format!("/{}/{}/user/echo", d.product_key, d.device_name);
        let g = got.clone();
        c.subscribe(
            &topic,
            Some(RecvHandler {
                key: 2,
                call: Arc::new(move |r: &Recv<'_>, _| {
                    if let Recv::Pub { payload, .. } = r {
                        g.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(payload).into_owned());
                    }
                }),
            }),
            1,
            0,
        )
        .unwrap();
        let id = c.publish(&topic, b"ping", 1).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.lock().unwrap().len() < 2 && Instant::now() < deadline {
            c.recv().unwrap();
        }
        let got = got.lock().unwrap().clone();
        assert!(got.contains(&"ping".to_string()), "{host}: {got:?}");
        assert!(got.contains(&format!("puback {id}")), "{host}: {got:?}");
        assert_eq!(c.pending_count(), 0);
        assert_eq!(events.lock().unwrap().as_slice(), [Event::Connect]);
        c.disconnect().unwrap();
    }

    // Wrong secret: MQTT 3.1.1 rc 5 -> NOT_AUTHORIZED.
    let mut bad = d.clone();
    bad.device_secret = "nope".into();
    let c = client("127.0.0.1", broker.info.tcp_port, &bad, None);
    assert_eq!(
        c.connect().unwrap_err().code(),
        aiot::state::STATE_MQTT_CONNACK_RCODE_NOT_AUTHORIZED
    );
    // TLS to an IP literal the certificate does not name.
    let c = client("127.0.0.1", broker.info.tls_port, d, Some(cred));
    assert_eq!(
        c.connect().unwrap_err().code(),
        aiot::state::STATE_PORT_TLS_INVALID_HANDSHAKE
    );
    drop(broker);
    let _ = std::fs::remove_dir_all(dir);
}
