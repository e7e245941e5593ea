//! The MQTT download service against a real mosquitto: a device (a plain MQTT client) reports
//! its version, gets the dProtocol mqtt push without a SUBSCRIBE, subscribes to download_reply
//! (as upstream's SDK does; the platform delivers that topic only to subscribers), asks for
//! blocks with upstream's JSON (trailing comma included) and gets the frames, one of them with
//! the corrupted CRC of the fault; its progress report is recorded.

use std::time::{Duration, Instant};

use aiot_platform::firmware::generate_image;
use aiot_platform::mqtt_download::{crc16_arc, Fault, FaultKind, MotaEvent, MotaJob, MotaService};
use aiot_platform::{Platform, HOST};
use rumqttc::{Client, Connection, Event, MqttOptions, Packet, QoS};

/// The next PUBLISH to the device within 10 s: (topic, payload).
fn next_publish(conn: &mut Connection) -> (String, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Ok(Event::Incoming(Packet::Publish(p)))) = conn.recv_timeout(Duration::from_millis(200)) {
            return (p.topic.clone(), p.payload.to_vec());
        }
    }
    panic!("no PUBLISH within 10 s");
}

/// Splits a frame: (header JSON, data, CRC sent).
fn split(frame: &[u8]) -> (serde_json::Value, &[u8], u16) {
    let hl = u16::from_be_bytes([frame[0], frame[1]]) as usize;
    let header = serde_json::from_slice(&frame[2..2 + hl]).unwrap();
    let n = frame.len();
    (
        header,
        &frame[2 + hl..n - 2],
        u16::from_le_bytes([frame[n - 2], frame[n - 1]]),
    )
}

#[test]
fn push_blocks_faults_and_progress() {
    let dir = std::env::temp_dir().join(format!("aiot-platform-mota-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let platform = Platform::start(&dir).unwrap();
    let d = platform.devices()[0].clone();
    let (pk, dn) = (d.product_key.clone(), d.device_name.clone());
    let image = generate_image(5000, 3);
    let job = MotaJob::new("2.0.0", image.clone(), true);
    let fault: Fault = "crc:2".parse().unwrap();
    let service = MotaService::start(&platform.broker.info, job.clone(), fault).unwrap();

    let mut opts = MqttOptions::new(
        format!("{pk}.{dn}|securemode=3|"),
        HOST,
        platform.broker.tcp_port(),
    );
    opts.set_credentials(d.username(), d.password());
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = Client::new(opts, 16);
    client
        .publish(
            format!("/ota/device/inform/{pk}/{dn}"),
            QoS::AtMostOnce,
            false,
            r#"{"id":1, "params":{"version":"1.0.0"}}"#,
        )
        .unwrap();
    let (topic, push) = next_publish(&mut conn);
    assert_eq!(topic, format!("/ota/device/upgrade/{pk}/{dn}"));
    let v: serde_json::Value = serde_json::from_slice(&push).unwrap();
    assert_eq!(v["data"]["dProtocol"], "mqtt");
    assert_eq!(v["data"]["size"], 5000);
    assert_eq!(v["data"]["signMethod"], "Md5");
    assert_eq!(v["data"]["sign"], job.sign);
    let (stream, file) = (
        v["data"]["streamId"].as_u64().unwrap(),
        v["data"]["streamFileId"].as_u64().unwrap(),
    );

    let request = |id: u32, offset: usize, size: usize| {
        let payload = format!(
            r#"{{"id":"{id}","version":"1.0","params":{{"fileToken":"default","fileInfo":{{"streamId":{stream},"fileId":{file},}},"fileBlock":{{"size":{size},"offset":{offset}}}}}}}"#
        );
        client
            .publish(
                format!("/sys/{pk}/{dn}/thing/file/download"),
                QoS::AtMostOnce,
                false,
                payload,
            )
            .unwrap();
    };
    let reply_topic = format!("/sys/{pk}/{dn}/thing/file/download_reply");
    client.subscribe(reply_topic.clone(), QoS::AtMostOnce).unwrap();
    // 1: good; 2: the fault (bad CRC); 3: good again, the last 1000 bytes (asked 2000).
    for (id, offset, size, crc_ok) in [(1, 0, 2000, true), (2, 2000, 2000, false), (3, 4000, 2000, true)] {
        request(id, offset, size);
        let (topic, frame) = next_publish(&mut conn);
        assert_eq!(topic, reply_topic);
        let (h, data, crc) = split(&frame);
        let end = (offset + size).min(image.len());
        assert_eq!(h["code"], 200);
        assert_eq!(h["id"], id.to_string());
        assert_eq!(h["data"]["bOffset"], offset);
        assert_eq!(h["data"]["fileLength"], 5000);
        assert_eq!(h["data"]["bSize"], end - offset);
        assert_eq!(data, &image[offset..end]);
        assert_eq!(crc == crc16_arc(data), crc_ok, "request {id}");
    }
    client
        .publish(
            format!("/ota/device/progress/{pk}/{dn}"),
            QoS::AtMostOnce,
            false,
            r#"{"id":2, "params":{"step":"100","desc":""}}"#,
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let key = (pk.clone(), dn.clone());
    loop {
        let _ = conn.recv_timeout(Duration::from_millis(100));
        let evs = service.events().get(&key).cloned().unwrap_or_default();
        if evs.contains(&MotaEvent::Progress(100)) {
            let faults: Vec<FaultKind> = evs
                .iter()
                .filter_map(|e| match e {
                    MotaEvent::Request(r, f) => {
                        assert!(r.trailing_comma);
                        Some(*f)
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(faults, [FaultKind::None, FaultKind::Crc, FaultKind::None]);
            assert_eq!(evs[0], MotaEvent::Version("1.0.0".into()));
            assert_eq!(evs[1], MotaEvent::Pushed);
            break;
        }
        assert!(Instant::now() < deadline, "progress 100 not recorded: {evs:?}");
    }
    drop(service);
    drop(platform);
    let _ = std::fs::remove_dir_all(&dir);
}
