//! The broker authenticates devices as Aliyun does and survives restarts on the same ports.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aiot_platform::{default_devices, Broker};

fn connect_rc(port: u16, user: &str, pass: &str) -> u8 {
    let mut payload = Vec::new();
    for s in ["cid-test", user, pass] {
        payload.extend_from_slice(&(s.len() as u16).to_be_bytes());
        payload.extend_from_slice(s.as_bytes());
    }
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 60];
    body.extend_from_slice(&payload);
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend_from_slice(&body);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&packet).unwrap();
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(&ack[..2], &[0x20, 2]);
    ack[3]
}

#[test]
fn devices_authenticate_with_the_aliyun_password_only() {
    let dir = std::env::temp_dir().join(format!("aiot-platform-test-{}", std::process::id()));
    let devices = default_devices();
    let broker = Broker::start(&dir, &devices).unwrap();
    let d = &devices[0];
    assert_eq!(connect_rc(broker.info.tcp_port, &d.username(), &d.password()), 0);
    assert_eq!(connect_rc(broker.info.tcp_port, &d.username(), "wrong"), 5);
    assert_eq!(
        connect_rc(broker.info.tcp_port, &devices[1].username(), &d.password()),
        5
    );

    let port = broker.info.tcp_port;
    broker.restart().unwrap();
    assert_eq!(broker.info.tcp_port, port);
    assert_eq!(connect_rc(port, &d.username(), &d.password()), 0);
    let pid = broker.info.pid().unwrap();
    drop(broker);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.contains(") Z")
        }
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn default_settings_keep_authentication_and_drop_the_tuning() {
    let base = std::env::temp_dir().join(format!("aiot-platform-defaults-{}", std::process::id()));
    let devices = default_devices();
    let tuned = Broker::setup_with(&base.join("tuned"), &devices, false).unwrap();
    let conf = std::fs::read_to_string(tuned.conf()).unwrap();
    assert!(conf.contains("set_tcp_nodelay true"), "{conf}");

    let info = Broker::setup_with(&base.join("defaults"), &devices, true).unwrap();
    let conf = std::fs::read_to_string(info.conf()).unwrap();
    for absent in [
        "set_tcp_nodelay",
        "plugin ",
        "max_keepalive",
        "message_size_limit",
    ] {
        assert!(!conf.contains(absent), "{absent} in {conf}");
    }
    for present in [
        "allow_anonymous false",
        "password_file ",
        "acl_file ",
        "certfile ",
    ] {
        assert!(conf.contains(present), "{present} missing from {conf}");
    }
    info.start().unwrap();
    let d = &devices[0];
    let ok = connect_rc(info.tcp_port, &d.username(), &d.password());
    let refused = connect_rc(info.tcp_port, &d.username(), "wrong");
    info.stop();
    let _ = std::fs::remove_dir_all(&base);
    assert_eq!((ok, refused), (0, 5));
}
