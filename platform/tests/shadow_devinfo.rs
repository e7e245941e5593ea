//! The shadow and device-tag services on a real broker, driven by hand-written MQTT 3.1.1
//! packets: replies on /shadow/get and deviceinfo update_reply reach a device that never
//! subscribed (delivery plugin); deviceinfo get_reply reaches it only through its own
//! SUBSCRIBE, and never the platform's own subscriptions.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aiot_platform::Platform;

fn string(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u16).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![first];
    let mut len = body.len();
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        p.push(if len > 0 { byte | 0x80 } else { byte });
        if len == 0 {
            break;
        }
    }
    p.extend_from_slice(body);
    p
}

fn connect(port: u16, client_id: &str, user: &str, pass: &str) -> TcpStream {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 60];
    for s in [client_id, user, pass] {
        string(&mut body, s);
    }
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&packet(0x10, &body)).unwrap();
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(ack, [0x20, 2, 0, 0]);
    s
}

fn subscribe(s: &mut TcpStream, id: u16, topic: &str) {
    let mut body = id.to_be_bytes().to_vec();
    string(&mut body, topic);
    body.push(0);
    s.write_all(&packet(0x82, &body)).unwrap();
    let mut ack = [0u8; 5];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(&ack[..4], &[0x90, 3, (id >> 8) as u8, id as u8]);
}

/// PUBLISH at QoS 1, waiting for the PUBACK.
fn publish(s: &mut TcpStream, id: u16, topic: &str, payload: &str) {
    let mut body = Vec::new();
    string(&mut body, topic);
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(payload.as_bytes());
    s.write_all(&packet(0x32, &body)).unwrap();
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(ack, [0x40, 2, (id >> 8) as u8, id as u8]);
}

fn next_publish(s: &mut TcpStream) -> (String, String) {
    let mut first = [0u8; 1];
    s.read_exact(&mut first).unwrap();
    let mut len = 0usize;
    for shift in 0..4 {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        len |= ((b[0] & 0x7f) as usize) << (7 * shift);
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    assert_eq!(first[0] & 0xf0, 0x30, "expected PUBLISH, got {:#x}", first[0]);
    let tlen = u16::from_be_bytes([body[0], body[1]]) as usize;
    let topic = String::from_utf8_lossy(&body[2..2 + tlen]).into_owned();
    let mut rest = &body[2 + tlen..];
    if first[0] & 0x06 != 0 {
        s.write_all(&[0x40, 2, rest[0], rest[1]]).unwrap();
        rest = &rest[2..];
    }
    (topic, String::from_utf8_lossy(rest).into_owned())
}

#[test]
fn shadow_and_tag_replies_reach_the_device_as_on_aliyun() {
    let dir = std::env::temp_dir().join(format!("aiot-platform-shadow-devinfo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let platform = Platform::start(&dir).unwrap();
    let _shadow = aiot_platform::shadow::start(&platform.broker.info).unwrap();
    let _devinfo = aiot_platform::devinfo::start(&platform.broker.info).unwrap();
    let port = platform.broker.tcp_port();
    let d = platform.devices()[0].clone();
    let (pk, dn) = (d.product_key.as_str(), d.device_name.as_str());
    let mut dev = connect(
        port,
        &format!("{pk}.{dn}|securemode=3|"),
        &d.username(),
        &d.password(),
    );
    let (user, pass) = platform.broker.platform_credentials();
    let mut watcher = connect(port, "platform-watcher", user, pass);
    subscribe(&mut watcher, 1, "#");

    // Shadow: no SUBSCRIBE, the reply comes on /shadow/get; a stale version is refused.
    let update = format!("/shadow/update/{pk}/{dn}");
    publish(
        &mut dev,
        1,
        &update,
        r#"{"method":"update","state":{"reported":{"a":1}},"version":1}"#,
    );
    assert_eq!(
        next_publish(&mut dev).0,
        format!("/shadow/get/{pk}/{dn}"),
        "shadow reply without SUBSCRIBE"
    );
    publish(
        &mut dev,
        2,
        &update,
        r#"{"method":"update","state":{"reported":{"a":2}},"version":1}"#,
    );
    assert!(next_publish(&mut dev).1.contains(r#""errorcode":"409""#));
    assert_eq!(
        aiot_platform::shadow::load(&dir, pk, dn)["state"]["reported"],
        serde_json::json!({"a":1})
    );

    // Tags: update_reply without SUBSCRIBE.
    let base = format!("/sys/{pk}/{dn}/thing/deviceinfo");
    publish(
        &mut dev,
        3,
        &format!("{base}/update"),
        r#"{"id":"5","version":"1.0","params":[{"attrKey":"k","attrValue":"v"}]}"#,
    );
    assert_eq!(
        next_publish(&mut dev),
        (
            format!("{base}/update_reply"),
            r#"{"id":"5","code":200,"message":"success","data":{}}"#.to_owned()
        )
    );
    // get_reply: nothing without the SUBSCRIBE (the next message is the reply to the marker).
    publish(
        &mut dev,
        4,
        &format!("{base}/get"),
        r#"{"id":"6","params":{"attrKeys":["k"]}}"#,
    );
    publish(
        &mut dev,
        5,
        &format!("{base}/delete"),
        r#"{"id":"7","params":[{"attrKey":"x"}]}"#,
    );
    assert_eq!(next_publish(&mut dev).0, format!("{base}/delete_reply"));
    subscribe(&mut dev, 6, &format!("{base}/get_reply"));
    publish(
        &mut dev,
        7,
        &format!("{base}/get"),
        r#"{"id":"8","params":{"attrKeys":["k"]}}"#,
    );
    assert_eq!(
        next_publish(&mut dev),
        (
            format!("{base}/get_reply"),
            r#"{"id":"8","code":200,"message":"success","data":[{"attrKey":"k","attrValue":"v"}]}"#
                .to_owned()
        )
    );
    // The platform's own '#' subscription saw the device's uplinks, never a reply.
    let marker = format!("/{pk}/{dn}/user/marker");
    publish(&mut dev, 8, &marker, "end");
    loop {
        let (t, _) = next_publish(&mut watcher);
        assert!(
            !t.ends_with("_reply") && !t.starts_with("/shadow/get"),
            "the platform got {t}"
        );
        if t == marker {
            break;
        }
    }
    drop(platform);
    let _ = std::fs::remove_dir_all(&dir);
}
