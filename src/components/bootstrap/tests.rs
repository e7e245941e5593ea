use super::answer::*;

#[test]
fn the_platform_answer_gives_host_port_and_no_ip() {
    let body = br#"{"code":200,"data":{"resources":{"mqtt":{"host":"x.iot-as-mqtt.cn-shanghai.aliyuncs.com","port":1883}}},"message":"success"}"#;
    assert_eq!(
        endpoint(body),
        Ok(Endpoint {
            host: "x.iot-as-mqtt.cn-shanghai.aliyuncs.com".into(),
            port: 1883,
            ip: None
        })
    );
    let with_ip = br#"{"data":{"resources":{"mqtt":{"host":"h","port":"8883","ip":"10.0.0.1"}}}}"#;
    assert_eq!(
        endpoint(with_ip).unwrap().ip,
        Some(IpField::Address("10.0.0.1".into()))
    );
    // Upstream takes the first host anywhere: an object elsewhere still works.
    assert_eq!(endpoint(br#"{"mqtt":{"host":"h","port":1}}"#).unwrap().port, 1);
}

#[test]
fn unusable_ips_are_reported_not_fatal() {
    for (ip, why) in [
        ("\"1234567890123456\"", "ip of 16 characters"),
        ("\"not-an-ip\"", "not an IP address"),
        ("7", "not a string"),
    ] {
        let body = format!(r#"{{"data":{{"resources":{{"mqtt":{{"host":"h","port":1,"ip":{ip}}}}}}}}}"#);
        match endpoint(body.as_bytes()).unwrap().ip {
            Some(IpField::Unusable(w)) => assert!(w.contains(why), "{w}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn hostile_answers_are_refused_without_quoting_them() {
    let huge = format!(
        r#"{{"data":{{"resources":{{"mqtt":{{"host":"{}","port":1}}}}}}}}"#,
        "s".repeat(100_000)
    );
    let cases: Vec<Vec<u8>> = vec![
        b"{\"data\":{\"resources\":{\"mqtt\":{\"host\":\"sec".to_vec(),
        b"".to_vec(),
        b"\xff".to_vec(),
        br#"{"code":460,"message":"sec"}"#.to_vec(),
        br#"{"data":{"resources":{"mqtt":{"host":"sec"}}}}"#.to_vec(),
        br#"{"data":{"resources":{"mqtt":{"host":"sec","port":0}}}}"#.to_vec(),
        br#"{"data":{"resources":{"mqtt":{"host":"sec","port":65536}}}}"#.to_vec(),
        br#"{"data":{"resources":{"mqtt":{"host":"sec","port":-1}}}}"#.to_vec(),
        br#"{"data":{"resources":{"mqtt":{"host":"sec","port":"80a"}}}}"#.to_vec(),
        br#"{"data":{"resources":{"mqtt":{"host":"sec","port":1.5}}}}"#.to_vec(),
        br#"{"data":{"resources":{"mqtt":{"host":"","port":1}}}}"#.to_vec(),
        br#"{"data":{"resources":{"mqtt":{"host":"a b","port":1}}}}"#.to_vec(),
        br#"{"data":{"resources":{"mqtt":{"host":"a\u0000sec","port":1}}}}"#.to_vec(),
        br#"{"data":{"resources":{"mqtt":{"host":7,"port":1}}}}"#.to_vec(),
        huge.into_bytes(),
    ];
    for body in cases {
        let why = endpoint(&body).unwrap_err();
        assert!(!why.contains("sec") && !why.contains("sss"), "{why}");
    }
    assert_eq!(
        endpoint(br#"{"code":460,"data":{},"message":"x"}"#),
        Err("no host (code 460)".to_string())
    );
}

#[test]
fn notifies_are_parsed_as_json() {
    assert_eq!(
        notify(br#"{"id":"123","version":"1.0","params":{"cmd":0}}"#),
        Ok(Notify {
            id: "123".into(),
            cmd: 0
        })
    );
    assert_eq!(
        notify(br#"{"id":7,"cmd":"42"}"#),
        Ok(Notify {
            id: "7".into(),
            cmd: 42
        })
    );
    assert_eq!(notify_reply("123"), r#"{"id":"123","code":200,"data":{}}"#);
    for bad in [
        &br#"{"params":{"cmd":0}}"#[..],
        br#"{"id":"1","params":{}}"#,
        br#"{"id":"","params":{"cmd":0}}"#,
        br#"{"id":"a\"b","params":{"cmd":0}}"#,
        br#"{"id":-1,"params":{"cmd":0}}"#,
        br#"{"id":"1","params":{"cmd":0}"#,
        b"",
    ] {
        assert!(
            matches!(notify(bad), Err(NotifyRefused::InvalidResponse(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let long_id = format!(r#"{{"id":"{}","params":{{"cmd":0}}}}"#, "1".repeat(65));
    assert!(matches!(
        notify(long_id.as_bytes()),
        Err(NotifyRefused::InvalidResponse(_))
    ));
    for bad in [
        &br#"{"id":"1","params":{"cmd":-1}}"#[..],
        br#"{"id":"1","params":{"cmd":4294967296}}"#,
        br#"{"id":"1","params":{"cmd":"x"}}"#,
        br#"{"id":"1","params":{"cmd":1.5}}"#,
        br#"{"id":"1","params":{"cmd":null}}"#,
    ] {
        assert!(
            matches!(notify(bad), Err(NotifyRefused::InvalidCmd(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

/// Requests against a small local server (plain HTTP) giving byte-exact answers.
mod wire {
    use super::super::*;
    use crate::sysdep::posix::PosixPort;
    use crate::sysdep::CRED_NONE;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Mutex as StdMutex;

    /// Serves `answer` to one request (header and body); returns the port and the request.
    fn serve(answer: Vec<u8>, linger_ms: u64) -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                s.set_read_timeout(Some(std::time::Duration::from_millis(2000)))
                    .unwrap();
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                loop {
                    if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).to_string();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tx.send(got);
                let _ = s.write_all(&answer);
                std::thread::sleep(std::time::Duration::from_millis(linger_ms));
            }
        });
        (port, rx)
    }

    fn ok(body: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    /// One request against `answer`: the code, the callbacks seen and the request bytes.
    fn ask(answer: &[u8], region: Option<&str>) -> (i32, Vec<String>, String) {
        ask_linger(answer, region, 100)
    }

    fn ask_linger(answer: &[u8], region: Option<&str>, linger_ms: u64) -> (i32, Vec<String>, String) {
        let (port, request) = serve(answer.to_vec(), linger_ms);
        let b = Bootstrap::new(Arc::new(PosixPort));
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let s2 = seen.clone();
        let mut opts = vec![
            BootstrapOption::Host("127.0.0.1".into()),
            BootstrapOption::Port(port),
            BootstrapOption::ProductKey("pk1".into()),
            BootstrapOption::DeviceName("dn1".into()),
            BootstrapOption::NetworkCred(Credential {
                option: CRED_NONE,
                max_tls_fragment: 0,
                sni_enabled: 0,
                server_ca: None,
                client_cert: None,
                client_key: None,
            }),
            BootstrapOption::RecvTimeoutMs(500),
            BootstrapOption::TimeoutMs(500),
            BootstrapOption::RecvHandler(Arc::new(move |r: &Received<'_>, _| {
                s2.lock().unwrap().push(format!("{r:?}"));
            })),
        ];
        if let Some(r) = region {
            opts.push(BootstrapOption::RegionId(r.into()));
        }
        for o in opts {
            b.setopt(o).unwrap();
        }
        let code = match b.send_request().and_then(|_| b.recv()) {
            Ok(()) => 0,
            Err(e) => e.code(),
        };
        let req = request
            .recv_timeout(std::time::Duration::from_secs(3))
            .map(|r| String::from_utf8_lossy(&r).into_owned())
            .unwrap_or_default();
        let seen = seen.lock().unwrap().clone();
        (code, seen, req)
    }

    const GOOD: &str = r#"{"code":200,"data":{"resources":{"mqtt":{"host":"mqtt.example","port":8883}}},"message":"success"}"#;

    #[test]
    fn post_then_endpoint() {
        let (code, seen, req) = ask(&ok(GOOD), None);
        assert_eq!(code, 0);
        assert_eq!(
            seen,
            [
                "StatusCode(200)",
                "ConnectionInfo { host: \"mqtt.example\", port: 8883 }"
            ]
        );
        let body = "productKey=pk1&deviceName=dn1&clientId=pk1.dn1&resources=mqtt";
        assert_eq!(
            req,
            format!(
                "POST /auth/bootstrap HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                 Accept: text/xml,text/javascript,text/html,application/json\r\n\
                 Content-Type: application/x-www-form-urlencoded;charset=utf-8\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        );
    }

    #[test]
    fn region_is_a_get() {
        let (code, _, req) = ask(&ok(GOOD), Some("1"));
        assert_eq!(code, 0);
        assert_eq!(
            req,
            "GET /auth/bootstrap/regionId/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Accept: text/xml,text/javascript,text/html,application/json\r\n\
             Content-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn hostile_answers_give_upstream_codes_and_no_endpoint() {
        let cases: Vec<(Vec<u8>, i32)> = vec![
            (
                ok("{\"data\":{\"resources\""),
                STATE_BOOTSTRAP_INVALID_CONNECTION_INFO,
            ),
            (
                ok(r#"{"code":200,"data":{}}"#),
                STATE_BOOTSTRAP_INVALID_CONNECTION_INFO,
            ),
            (
                ok(&format!(
                    r#"{{"data":{{"resources":{{"mqtt":{{"host":"{}","port":1}}}}}}}}"#,
                    "h".repeat(60_000)
                )),
                STATE_BOOTSTRAP_INVALID_CONNECTION_INFO,
            ),
            (
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
                STATE_BOOTSTRAP_INVALID_STATUS_CODE,
            ),
            (b"HTTP/1.1 200 OK\r\n\r\n{}".to_vec(), STATE_HTTP_READ_BODY_EMPTY),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n{}".to_vec(),
                STATE_HTTP_RECV_NOT_FINISHED,
            ),
        ];
        for (answer, want) in cases {
            let (code, seen, _) = ask(&answer, None);
            assert_eq!(
                code,
                want,
                "{}",
                String::from_utf8_lossy(&answer[..answer.len().min(80)])
            );
            assert!(seen.iter().all(|s| !s.starts_with("ConnectionInfo")), "{seen:?}");
        }
        // A short body: incomplete in time (the server keeps the connection), or closed.
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"data\"";
        let (code, seen, _) = ask_linger(short, None, 1500);
        assert_eq!((code, seen.len()), (STATE_HTTP_RECV_NOT_FINISHED, 0));
        let (code, seen, _) = ask_linger(short, None, 0);
        assert!(code < 0 && seen.is_empty(), "{code} {seen:?}");
        // Bytes beyond the length are not read: the answer is the framed one.
        let mut long = ok(GOOD);
        long.extend_from_slice(b"{\"host\":\"trailing\"}");
        assert_eq!(ask(&long, None).0, 0);
    }

    #[test]
    fn api_order_and_read_once() {
        let b = Bootstrap::new(Arc::new(PosixPort));
        assert_eq!(
            b.send_request().unwrap_err().code(),
            STATE_USER_INPUT_MISSING_PRODUCT_KEY
        );
        b.setopt(BootstrapOption::ProductKey("pk".into())).unwrap();
        assert_eq!(
            b.send_request().unwrap_err().code(),
            STATE_USER_INPUT_MISSING_DEVICE_NAME
        );
        b.setopt(BootstrapOption::DeviceName("dn".into())).unwrap();
        assert_eq!(
            b.send_request().unwrap_err().code(),
            STATE_USER_INPUT_NULL_POINTER
        );
        assert_eq!(b.recv().unwrap_err().code(), STATE_BOOTSTRAP_NEED_SEND_REQUEST);
        b.shutdown().unwrap();
        assert_eq!(
            b.setopt(BootstrapOption::Port(1)).unwrap_err().code(),
            STATE_USER_INPUT_EXEC_DISABLED
        );
        assert_eq!(
            b.send_request().unwrap_err().code(),
            STATE_USER_INPUT_EXEC_DISABLED
        );
        assert_eq!(b.shutdown().unwrap_err().code(), STATE_USER_INPUT_EXEC_DISABLED);
    }
}
