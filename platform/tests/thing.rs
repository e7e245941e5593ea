//! The data-model and NTP side against a real mosquitto: the thing service's answers, the `dm`
//! commands with a device answering them, RRPC timeouts, and delivery without SUBSCRIBE that
//! never hands a device its own uplink. The device is a hand-written MQTT 3.1.1 client that
//! never subscribes (as Link SDK C devices do not).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiot_platform::thing::ThingService;
use aiot_platform::{Device, Platform};
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_aiot-platform");

fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiot-platform-thing-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

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

/// A device connection that never subscribes; incoming packets are parsed from a buffer so
/// that reads can time out between packets.
struct Dev {
    s: TcpStream,
    buf: Vec<u8>,
    pk: String,
    dn: String,
}

impl Dev {
    fn connect(port: u16, d: &Device) -> Dev {
        let (pk, dn) = (&d.product_key, &d.device_name);
        let cid = format!("{pk}.{dn}|securemode=3,signmethod=hmacsha256,_v=sdk-c-4.2.0|");
        let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 60];
        for s in [cid.as_str(), &d.username(), &d.password()] {
            string(&mut body, s);
        }
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&packet(0x10, &body)).unwrap();
        let mut dev = Dev {
            s,
            buf: Vec::new(),
            pk: pk.clone(),
            dn: dn.clone(),
        };
        let (first, body) = dev.next_packet(Duration::from_secs(5)).expect("CONNACK");
        assert_eq!((first, body), (0x20, vec![0, 0]), "CONNACK accepted");
        dev
    }

    /// PUBLISH at QoS 0, as the SDK sends data-model messages.
    fn publish(&mut self, topic: &str, payload: &[u8]) {
        let mut body = Vec::new();
        string(&mut body, topic);
        body.extend_from_slice(payload);
        self.s.write_all(&packet(0x30, &body)).unwrap();
    }

    fn next_packet(&mut self, within: Duration) -> Option<(u8, Vec<u8>)> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(p) = self.take_packet() {
                return Some(p);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.s.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) => panic!("the broker closed the device connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    fn take_packet(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let b = *self.buf.get(i)?;
            len |= ((b & 0x7f) as usize) << (7 * (i - 1));
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        if self.buf.len() < i + len {
            return None;
        }
        let first = self.buf[0];
        let body = self.buf[i..i + len].to_vec();
        self.buf.drain(..i + len);
        Some((first, body))
    }

    /// The next PUBLISH (acknowledged when QoS 1) within `within`: topic and payload.
    fn next_publish(&mut self, within: Duration) -> Option<(String, Vec<u8>)> {
        let deadline = Instant::now() + within;
        loop {
            let (first, body) = self.next_packet(deadline.saturating_duration_since(Instant::now()))?;
            if first & 0xf0 != 0x30 {
                continue;
            }
            let tlen = u16::from_be_bytes([body[0], body[1]]) as usize;
            let topic = String::from_utf8_lossy(&body[2..2 + tlen]).into_owned();
            let mut rest = &body[2 + tlen..];
            if first & 0x06 != 0 {
                self.s.write_all(&[0x40, 2, rest[0], rest[1]]).unwrap();
                rest = &rest[2..];
            }
            return Some((topic, rest.to_vec()));
        }
    }

    fn sys(&self, rest: &str) -> String {
        format!("/sys/{}/{}/thing/{rest}", self.pk, self.dn)
    }
}

fn json(p: &[u8]) -> Value {
    serde_json::from_slice(p).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(p)))
}

/// Nothing reaches the device for a while (replies to ack 0, echoes of its uplinks).
fn quiet(dev: &mut Dev, ms: u64) {
    if let Some((t, p)) = dev.next_publish(Duration::from_millis(ms)) {
        panic!("unexpected message on {t}: {}", String::from_utf8_lossy(&p));
    }
}

#[test]
fn posts_get_replies_with_their_id_and_ack_0_gets_none() {
    let dir = state_dir("post");
    let platform = Platform::start(&dir).unwrap();
    let _thing = ThingService::start(&platform.broker.info, None).unwrap();
    let d = platform.devices()[0].clone();
    let mut dev = Dev::connect(platform.broker.tcp_port(), &d);
    let post = dev.sys("event/property/post");

    dev.publish(
        &post,
        br#"{"id":"123","version":"1.0","params":{"LightSwitch":0},"sys":{"ack":1}}"#,
    );
    let (t, p) = dev.next_publish(Duration::from_secs(5)).expect("post_reply");
    assert_eq!(t, format!("{post}_reply"));
    assert_eq!(
        String::from_utf8(p).unwrap(),
        r#"{"code":200,"data":{},"id":"123","message":"success","method":"thing.event.property.post","version":"1.0"}"#
    );

    // ack 0: no reply; the event post after it gets the next message.
    dev.publish(
        &post,
        br#"{"id":"124","version":"1.0","params":{},"sys":{"ack":0}}"#,
    );
    let event = dev.sys("event/Alarm/post");
    dev.publish(&event, br#"{"id":"125","version":"1.0","params":{"level":1}}"#);
    let (t, p) = dev
        .next_publish(Duration::from_secs(5))
        .expect("event post_reply");
    assert_eq!(t, format!("{event}_reply"));
    let v = json(&p);
    assert_eq!((v["id"].as_str(), v["code"].as_u64()), (Some("125"), Some(200)));
    assert_eq!(v["method"], "thing.event.Alarm.post");
    quiet(&mut dev, 500);

    // Every uplink is in thing.log, and `dm show` prints the device's.
    let log = std::fs::read_to_string(dir.join("thing.log")).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");
    let out = Command::new(EXE)
        .args(["dm", "show", "--state-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let shown = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = shown.lines().map(|l| json(l.as_bytes())).collect();
    assert_eq!(lines.len(), 3, "{shown}");
    assert_eq!(lines[1]["topic"], post);
    assert!(lines[1]["payload"].as_str().unwrap().contains(r#""id":"124""#));
    let other = Command::new(EXE)
        .args(["dm", "show", "--state-dir"])
        .arg(&dir)
        .args([
            "--device",
            &format!("{}/{}", d.product_key, platform.devices()[1].device_name),
        ])
        .output()
        .unwrap();
    assert!(other.stdout.is_empty(), "{other:?}");
    drop(platform);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_thing_model_gets_unknown_properties_and_wrong_types_aliyuns_codes() {
    let dir = state_dir("model");
    let platform = Platform::start(&dir).unwrap();
    let d = platform.devices()[0].clone();
    let tsl = dir.join("tsl.json");
    std::fs::write(
        &tsl,
        r#"{"profile":{"productKey":"x"},"properties":[
            {"identifier":"LightSwitch","dataType":{"type":"bool"}},
            {"identifier":"Brightness","dataType":{"type":"int"}}],"events":[],"services":[]}"#,
    )
    .unwrap();
    aiot_platform::thing_model::install(&dir, &d.product_key, &tsl).unwrap();
    let _thing = ThingService::start(&platform.broker.info, None).unwrap();
    let mut dev = Dev::connect(platform.broker.tcp_port(), &d);
    let post = dev.sys("event/property/post");
    let ask = |dev: &mut Dev, id: &str, params: &str| {
        dev.publish(
            &post,
            format!(r#"{{"id":"{id}","version":"1.0","params":{params},"sys":{{"ack":1}}}}"#).as_bytes(),
        );
        let (t, p) = dev.next_publish(Duration::from_secs(5)).expect("post_reply");
        assert_eq!(t, format!("{post}_reply"));
        let v = json(&p);
        assert_eq!(v["id"].as_str(), Some(id));
        v
    };
    let v = ask(&mut dev, "1", r#"{"LightSwitch":1,"Brightness":50}"#);
    assert_eq!(v["code"], 200);
    let v = ask(&mut dev, "2", r#"{"LightSwitch":1,"Colour":"red"}"#);
    assert_eq!(v["code"], 6304, "{v}");
    assert_eq!(v["data"]["Colour"], "tsl parse: params not exist");
    let v = ask(&mut dev, "3", r#"{"Brightness":"50"}"#);
    assert_eq!(v["code"], 6306, "{v}");
    drop(platform);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ntp_and_up_raw_answers() {
    let dir = state_dir("ntp");
    let platform = Platform::start(&dir).unwrap();
    let _thing = ThingService::start(&platform.broker.info, Some(1_700_000_000_123)).unwrap();
    let d = platform.devices()[0].clone();
    let mut dev = Dev::connect(platform.broker.tcp_port(), &d);
    let (pk, dn) = (&d.product_key, &d.device_name);
    dev.publish(
        &format!("/ext/ntp/{pk}/{dn}/request"),
        br#"{"deviceSendTime":"1000"}"#,
    );
    let (t, p) = dev.next_publish(Duration::from_secs(5)).expect("NTP response");
    assert_eq!(t, format!("/ext/ntp/{pk}/{dn}/response"));
    assert_eq!(
        String::from_utf8(p).unwrap(),
        r#"{"deviceSendTime":"1000","serverRecvTime":"1700000000123","serverSendTime":"1700000000123"}"#
    );
    let raw = dev.sys("model/up_raw");
    dev.publish(&raw, &[0x01, 0xff, 0x00]);
    let (t, p) = dev.next_publish(Duration::from_secs(5)).expect("up_raw_reply");
    assert_eq!((t, p), (format!("{raw}_reply"), vec![0x01, 0xff, 0x00]));
    // Another device's NTP topic is not this device's to use (the ACL drops it).
    let other = &platform.devices()[1].device_name;
    dev.publish(
        &format!("/ext/ntp/{pk}/{other}/request"),
        br#"{"deviceSendTime":"1"}"#,
    );
    quiet(&mut dev, 300);
    let log = std::fs::read_to_string(dir.join("thing.log")).unwrap();
    assert!(log.contains(r#""hex":"01ff00""#), "{log}");
    assert!(!log.contains(other.as_str()), "{log}");
    drop(platform);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A device that answers property sets, async and sync service calls and raw RRPC (not the
/// service "Slow"), records everything it gets, and stops when told.
/// Messages a device received: topic and payload.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn answering_device(mut dev: Dev, stop: Arc<AtomicBool>, got: Received) {
    let set = dev.sys("service/property/set");
    let service_prefix = dev.sys("service/");
    let rrpc_tail = format!("/sys/{}/{}/thing/", dev.pk, dev.dn);
    while !stop.load(Ordering::Relaxed) {
        let Some((t, p)) = dev.next_publish(Duration::from_millis(100)) else {
            continue;
        };
        got.lock().unwrap().push((t.clone(), p.clone()));
        let id = json_id(&p);
        if t == set {
            dev.publish(
                &format!("{t}_reply"),
                format!(r#"{{"id":"{id}","code":200,"data":{{}}}}"#).as_bytes(),
            );
        } else if let Some(svc) = t.strip_prefix(&service_prefix) {
            if svc != "Slow" {
                let reply = format!(r#"{{"id":"{id}","code":200,"data":{{"svc":"{svc}"}}}}"#);
                dev.publish(&format!("{t}_reply"), reply.as_bytes());
            }
        } else if t.starts_with("/ext/rrpc/") && t.contains(&rrpc_tail) {
            if t.ends_with("/thing/model/down_raw") {
                let back: Vec<u8> = p.iter().rev().copied().collect();
                dev.publish(&t, &back);
            } else if !t.ends_with("/Slow") {
                dev.publish(
                    &t,
                    format!(r#"{{"id":"{id}","code":200,"data":{{"sync":1}}}}"#).as_bytes(),
                );
            }
        }
    }
}

fn json_id(p: &[u8]) -> String {
    serde_json::from_slice::<Value>(p)
        .ok()
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

fn dm(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(EXE);
    cmd.arg("dm")
        .arg(args[0])
        .arg("--state-dir")
        .arg(dir)
        .args(&args[1..]);
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim_end().to_owned()
}

#[test]
fn dm_commands_round_trip_with_a_device_and_rrpc_times_out() {
    let dir = state_dir("dm");
    let platform = Platform::start(&dir).unwrap();
    let _thing = ThingService::start(&platform.broker.info, None).unwrap();
    let d = platform.devices()[0].clone();
    let dev = Dev::connect(platform.broker.tcp_port(), &d);
    let (pk, dn) = (d.product_key.clone(), d.device_name.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let got = Arc::new(Mutex::new(Vec::new()));
    let device = {
        let (stop, got) = (stop.clone(), got.clone());
        std::thread::spawn(move || answering_device(dev, stop, got))
    };

    let out = dm(&dir, &["set", r#"{"LightSwitch":1}"#]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let reply = json(stdout(&out).as_bytes());
    assert_eq!(reply["code"], 200);
    let set_id = reply["id"].as_str().unwrap().to_owned();

    let out = dm(&dir, &["call", "--service", "ToggleLight", r#"{"on":1}"#]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(stdout(&out).as_bytes())["data"]["svc"], "ToggleLight");

    let out = dm(
        &dir,
        &[
            "rrpc",
            "--service",
            "Reboot",
            "--device",
            &format!("{pk}/{dn}"),
            "{}",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(stdout(&out).as_bytes())["data"]["sync"], 1);

    let start = Instant::now();
    let out = dm(&dir, &["rrpc", "--service", "Slow", "--timeout-ms", "600", "{}"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(stdout(&out), "timeout");
    assert!(start.elapsed() < Duration::from_secs(5));
    let out = dm(&dir, &["call", "--service", "Slow", "--timeout-ms", "300", "{}"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");

    let out = dm(&dir, &["rrpc-raw", "0102ff"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "ff0201");
    let out = dm(&dir, &["raw", "cafe"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A platform publish on /ext/rrpc reaches the device without a SUBSCRIBE.
    let pushed = format!("/ext/rrpc/42/sys/{pk}/{dn}/thing/service/Slow");
    let out = dm(&dir, &["publish", "--topic", &pushed, "--hex", "ff00"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // And on /ext/ntp, here 200 KB from a file (more than a command line takes).
    let big = dir.join("big.bin");
    std::fs::write(&big, vec![b'x'; 200 * 1024]).unwrap();
    let ntp = format!("/ext/ntp/{pk}/{dn}/response");
    let out = Command::new(EXE)
        .args(["dm", "publish", "--state-dir"])
        .arg(&dir)
        .args(["--topic", &ntp, "--payload-file"])
        .arg(&big)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Bad arguments: exit 2.
    assert_eq!(dm(&dir, &["set", "{not json"]).status.code(), Some(2));
    assert_eq!(dm(&dir, &["raw", "xyz"]).status.code(), Some(2));

    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    device.join().unwrap();
    let got = got.lock().unwrap().clone();
    let topics: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    let sys = |r: &str| format!("/sys/{pk}/{dn}/thing/{r}");
    assert_eq!(topics.len(), 9, "{topics:?}");
    assert_eq!(topics[0], sys("service/property/set"));
    assert_eq!(json_id(&got[0].1), set_id);
    assert_eq!(json(&got[0].1)["method"], "thing.service.property.set");
    assert_eq!(json(&got[0].1)["params"]["LightSwitch"], 1);
    assert_eq!(topics[1], sys("service/ToggleLight"));
    assert!(topics[2].starts_with("/ext/rrpc/") && topics[2].ends_with("/thing/service/Reboot"));
    assert_eq!(json(&got[2].1)["method"], "thing.service.Reboot");
    assert!(topics[5].ends_with("/thing/model/down_raw") && topics[5].starts_with("/ext/rrpc/"));
    assert_eq!(got[5].1, [1, 2, 0xff]);
    assert_eq!(
        (topics[6], got[6].1.as_slice()),
        (sys("model/down_raw").as_str(), &[0xca, 0xfe][..])
    );
    assert_eq!(
        (topics[7], got[7].1.as_slice()),
        (pushed.as_str(), &[0xff, 0][..])
    );
    assert_eq!((topics[8], got[8].1.len()), (ntp.as_str(), 200 * 1024));
    // Never its own uplinks back: no *_reply, and each RRPC topic once (the request, not the
    // device's reply on the same topic).
    assert!(!topics.iter().any(|t| t.ends_with("_reply")), "{topics:?}");
    for t in &topics {
        assert_eq!(
            topics.iter().filter(|x| *x == t).count(),
            1,
            "{t} twice: {topics:?}"
        );
    }
    // The platform saw the device's replies.
    let log = std::fs::read_to_string(dir.join("thing.log")).unwrap();
    assert!(
        log.contains("property/set_reply") && log.contains("ToggleLight_reply"),
        "{log}"
    );
    assert!(log.contains("/thing/service/Reboot"), "{log}");
    drop(platform);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `exec` runs the thing service with the fixed clock: a v5 request-response client as the
/// device gets the NTP answer; a property post gets its reply; `dm` works from inside.
#[test]
fn exec_answers_ntp_with_a_fixed_clock_and_posts() {
    let found = Command::new("sh")
        .args(["-c", "command -v mosquitto_rr"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "mosquitto_rr is missing: scripts/deps.sh installs what the tests need"
    );
    let script = r#"
        set -e
        pw=$("$AIOT_PLATFORM" password "$AIOT_PRODUCT_KEY" "$AIOT_DEVICE_NAME" "$AIOT_DEVICE_SECRET")
        rr() {
            mosquitto_rr -h "$AIOT_HOST" -p "$AIOT_PORT" -i "$AIOT_PRODUCT_KEY.$AIOT_DEVICE_NAME|securemode=3|" \
                -u "$AIOT_DEVICE_NAME&$AIOT_PRODUCT_KEY" -P "$pw" -W 5 -t "$1" -e "$2" -m "$3"
        }
        ext="/ext/ntp/$AIOT_PRODUCT_KEY/$AIOT_DEVICE_NAME"
        ntp=$(rr "$ext/request" "$ext/response" '{"deviceSendTime":"5"}')
        echo "ntp: $ntp"
        test "$ntp" = '{"deviceSendTime":"5","serverRecvTime":"1700000000000","serverSendTime":"1700000000000"}'
        sys="/sys/$AIOT_PRODUCT_KEY/$AIOT_DEVICE_NAME/thing/event/property/post"
        post=$(rr "$sys" "${sys}_reply" '{"id":"77","params":{}}')
        echo "post: $post"
        case "$post" in *'"code":200'*'"id":"77"'*) ;; *) exit 9 ;; esac
        "$AIOT_PLATFORM" dm show --state-dir "$AIOT_STATE_DIR" | grep -q '"id\\":\\"77\\"'
    "#;
    let out = Command::new(EXE)
        .env("AIOT_PLATFORM_TIME_MS", "1700000000000")
        .args(["exec", "--timeout", "60", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = Command::new(EXE)
        .env("AIOT_PLATFORM_TIME_MS", "soon")
        .args(["exec", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
