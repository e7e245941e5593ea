//! Per-device ACL, the platform account and the delivery of system topics without a SUBSCRIBE,
//! checked with hand-written MQTT 3.1.1 packets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aiot_platform::{Platform, PLATFORM_USER};

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

/// Connects with an SDK-shaped client id; returns the stream and the CONNACK return code.
fn connect(port: u16, client_id: &str, user: &str, pass: &str) -> (TcpStream, u8) {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 60];
    for s in [client_id, user, pass] {
        string(&mut body, s);
    }
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&packet(0x10, &body)).unwrap();
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(&ack[..2], &[0x20, 2]);
    (s, ack[3])
}

/// SUBSCRIBE at QoS 1; returns the SUBACK return code. mosquitto 2 grants every subscription
/// and applies the ACL when it delivers, so this is 1 even for a foreign topic.
fn subscribe(s: &mut TcpStream, id: u16, topic: &str) -> u8 {
    let mut body = id.to_be_bytes().to_vec();
    string(&mut body, topic);
    body.push(1);
    s.write_all(&packet(0x82, &body)).unwrap();
    let mut ack = [0u8; 5];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(&ack[..4], &[0x90, 3, (id >> 8) as u8, id as u8]);
    ack[4]
}

/// PUBLISH at QoS 1 and wait for the PUBACK (sent also when the ACL drops the message), so the
/// broker has handled it before anything published afterwards.
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

/// The next PUBLISH received (QoS 0 or 1, acknowledged): topic and payload.
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
fn devices_reach_their_own_topics_only_and_the_platform_reaches_all() {
    let dir = std::env::temp_dir().join(format!("aiot-platform-acl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let platform = Platform::start(&dir).unwrap();
    let port = platform.broker.tcp_port();
    let (d1, d2) = (platform.devices()[0].clone(), platform.devices()[1].clone());
    let pk = d1.product_key.as_str();
    let (n1, n2) = (d1.device_name.as_str(), d2.device_name.as_str());
    let cid = |dn: &str| {
        format!(
            "{pk}.{dn}|timestamp=2524608000000,_ss=1,_v=sdk-c-4.2.0,securemode=3,\
             signmethod=hmacsha256,ext=3,|"
        )
    };

    // Wrong passwords are refused: another device's, and the platform's with a wrong one.
    assert_eq!(connect(port, &cid(n1), &d1.username(), &d2.password()).1, 5);
    let (user, pass) = platform.broker.platform_credentials();
    assert_eq!(user, PLATFORM_USER);
    assert_eq!(connect(port, "platform-x", user, "wrong").1, 5);

    let (mut s1, rc) = connect(port, &cid(n1), &d1.username(), &d1.password());
    assert_eq!(rc, 0);
    let (mut s2, rc) = connect(port, &cid(n2), &d2.username(), &d2.password());
    assert_eq!(rc, 0);
    // The platform side: `p` reads '#', `pp` publishes.
    let (mut p, rc) = connect(port, "platform-reader", user, pass);
    assert_eq!(rc, 0);
    let (mut pp, rc) = connect(port, "platform-writer", user, pass);
    assert_eq!(rc, 0);

    // Every topic family a device uses is its own; device 1 also tries device 2's topic.
    let own1 = [
        format!("/{pk}/{n1}/user/get"),
        format!("/sys/{pk}/{n1}/thing/event/property/post_reply"),
        format!("/ota/device/upgrade/{pk}/{n1}"),
        format!("/shadow/get/{pk}/{n1}"),
    ];
    let foreign = format!("/{pk}/{n2}/user/get");
    for (i, t) in own1.iter().chain([&foreign]).enumerate() {
        assert_eq!(subscribe(&mut s1, i as u16 + 1, t), 1, "{t}");
    }
    assert_eq!(subscribe(&mut s2, 1, &foreign), 1);
    assert_eq!(subscribe(&mut p, 1, "#"), 1);

    // The platform writes device 2's topic: device 2 gets it, device 1 does not.
    publish(&mut pp, 2, &foreign, "for-2");
    assert_eq!(next_publish(&mut s2), (foreign.clone(), "for-2".to_owned()));
    assert_eq!(next_publish(&mut p), (foreign.clone(), "for-2".to_owned()));
    // Device 1 cannot write device 2's topic either (mosquitto acks and drops it).
    publish(&mut s1, 3, &foreign, "intrusion");
    for (i, t) in own1.iter().enumerate() {
        publish(&mut pp, 10 + i as u16, t, "for-1");
        // The first message device 1 sees is its own, not device 2's nor its own intrusion.
        assert_eq!(next_publish(&mut s1), (t.clone(), "for-1".to_owned()), "{t}");
        // System topics (/sys, /ota, /shadow) go to the device alone (the delivery plugin);
        // the custom topic is an ordinary publish that the '#' reader sees too.
        if i == 0 {
            assert_eq!(next_publish(&mut p), (t.clone(), "for-1".to_owned()));
        }
    }
    // Device 1 subscribed to its system topics and still got each once: next is the marker.
    let custom1 = own1[0].clone();
    publish(&mut pp, 15, &custom1, "marker-1");
    assert_eq!(next_publish(&mut s1), (custom1.clone(), "marker-1".to_owned()));
    assert_eq!(next_publish(&mut p), (custom1, "marker-1".to_owned()));
    // Device 2 never subscribed to its OTA topic, and gets its push all the same (as on Aliyun).
    let upgrade2 = format!("/ota/device/upgrade/{pk}/{n2}");
    publish(&mut pp, 16, &upgrade2, "push-2");
    assert_eq!(next_publish(&mut s2), (upgrade2, "push-2".to_owned()));
    publish(&mut pp, 20, &foreign, "marker");
    assert_eq!(next_publish(&mut s2), (foreign.clone(), "marker".to_owned()));
    // The platform reads everything devices write to their own topics.
    let post = format!("/sys/{pk}/{n2}/thing/event/property/post");
    publish(&mut s2, 4, &post, "{}");
    assert_eq!(next_publish(&mut p), (foreign.clone(), "marker".to_owned()));
    assert_eq!(next_publish(&mut p), (post, "{}".to_owned()));
    drop(platform);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn system_topics_reach_a_device_that_took_over_its_client_id() {
    let dir = std::env::temp_dir().join(format!("aiot-platform-takeover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let platform = Platform::start(&dir).unwrap();
    let port = platform.broker.tcp_port();
    let d1 = platform.devices()[0].clone();
    let (pk, dn) = (d1.product_key.as_str(), d1.device_name.as_str());
    let cid = format!("{pk}.{dn}|securemode=3,signmethod=hmacsha256|");
    let (user, pass) = platform.broker.platform_credentials();
    let (mut pp, rc) = connect(port, "platform-writer", user, pass);
    assert_eq!(rc, 0);

    // A device reconnects while the broker still holds its old connection (as after a
    // client-side heartbeat timeout): the broker closes the old one; the new one gets pushes.
    let (mut old, rc) = connect(port, &cid, &d1.username(), &d1.password());
    assert_eq!(rc, 0);
    let (mut new, rc) = connect(port, &cid, &d1.username(), &d1.password());
    assert_eq!(rc, 0);
    let mut b = [0u8; 1];
    assert_eq!(old.read(&mut b).unwrap_or(0), 0, "the old connection is closed");
    let upgrade = format!("/ota/device/upgrade/{pk}/{dn}");
    publish(&mut pp, 1, &upgrade, "after-takeover");
    assert_eq!(next_publish(&mut new), (upgrade, "after-takeover".to_owned()));
    drop(platform);
    let _ = std::fs::remove_dir_all(&dir);
}
