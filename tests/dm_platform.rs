//! The data-model component on a real session: mosquitto with Aliyun authentication and the
//! platform's thing service answering posts (no C in between).
#![cfg(feature = "dm")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiot::components::dm::{Dm, DmError, Kind, Msg, Recv};
use aiot::mqtt::{Client, MqttOption};
use aiot::sysdep::posix::PosixPort;
use aiot_platform::thing::ThingService;
use aiot_platform::{default_devices, Broker};

type Replies = Arc<Mutex<Vec<(u32, u32, String, String)>>>;

fn collector(dm: &Dm) -> Replies {
    let got: Replies = Default::default();
    let g = got.clone();
    dm.set_handler(Arc::new(move |r: &Recv<'_>, _| {
        if let Kind::GenericReply {
            msg_id,
            code,
            data,
            message,
        } = r.kind
        {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            g.lock()
                .unwrap()
                .push((msg_id, code, text(data), text(message.unwrap_or_default())));
        }
    }));
    got
}

fn recv_until(c: &Client, what: &str, done: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        c.recv().unwrap();
    }
}

#[test]
fn posts_get_their_replies_and_the_session_can_go_away() {
    let dir = std::env::temp_dir().join(format!("aiot-dm-test-{}", std::process::id()));
    let devices = default_devices();
    let broker = Broker::start(&dir, &devices).unwrap();
    let _thing = ThingService::start(&broker.info, None).unwrap();
    let d = &devices[0];

    let c = Arc::new(Client::new(Arc::new(PosixPort)));
    for o in [
        MqttOption::Host("127.0.0.1".into()),
        MqttOption::Port(broker.info.tcp_port),
        MqttOption::ProductKey(d.product_key.clone()),
        MqttOption::DeviceName(d.device_name.clone()),
        MqttOption::DeviceSecret(d.device_secret.clone()),
        MqttOption::RecvTimeoutMs(100),
    ] {
        c.setopt(o).unwrap();
    }
    c.connect().unwrap();

    // Two handles on one session: each gets the replies (upstream: the last one attached).
    let (a, b) = (Dm::new(), Dm::new());
    let (got_a, got_b) = (collector(&a), collector(&b));
    a.set_mqtt(c.clone()).unwrap();
    b.set_mqtt(c.clone()).unwrap();

    let post = Msg::PropertyPost {
        params: Some(br#"{"LightSwitch":1}"#),
    };
    let id = a.send(&post, None, None).unwrap();
    assert!(id > 0);
    recv_until(&c, "both handles' replies", || {
        got_a.lock().unwrap().len() == 1 && got_b.lock().unwrap().len() == 1
    });
    let want = (id as u32, 200, "{}".to_string(), "success".to_string());
    assert_eq!(got_a.lock().unwrap()[0], want);
    assert_eq!(got_b.lock().unwrap()[0], want);

    // A handle dropped leaves the other one working; "ack":0 gets no reply.
    drop(b);
    a.set_post_reply(0);
    let quiet = a.send(&post, None, None).unwrap();
    assert_eq!(quiet, id + 1);
    a.set_post_reply(1);
    let next = a
        .send(
            &Msg::EventPost {
                event_id: Some(b"Error"),
                params: Some(b"{}"),
            },
            None,
            None,
        )
        .unwrap();
    recv_until(&c, "the event post's reply", || got_a.lock().unwrap().len() == 2);
    assert_eq!(got_a.lock().unwrap()[1].0, next as u32);
    assert_eq!(got_b.lock().unwrap().len(), 1);

    // The session's deinit: the handle forgets it.
    c.shutdown().unwrap();
    assert_eq!(a.send(&post, None, None), Err(DmError::MqttHandleNull));
    // The broker finds its mosquitto through the pid file in `dir`: stop it before the folder
    // goes, or the broker outlives the test.
    drop(_thing);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
