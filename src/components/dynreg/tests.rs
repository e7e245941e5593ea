use super::*;

#[test]
fn request_body_follows_upstream() {
    // printf 'deviceNamedn1productKeypk1random1234' | openssl dgst -sha256 -hmac ps1
    assert_eq!(
        request_body("pk1", "ps1", "dn1", "1234"),
        "productKey=pk1&deviceName=dn1&random=1234\
         &sign=21FE474DB856CE913FF53BB8A52C5077E28649EBFFC744D491F29837575A43B2&signMethod=hmacsha256"
    );
}

#[test]
fn a_port_in_the_host_option_overrides_the_port_option() {
    assert_eq!(
        split_host_port("localhost:8443", 443),
        ("localhost".to_string(), 8443)
    );
    assert_eq!(split_host_port("iot-auth.cn-shanghai.aliyuncs.com", 443).1, 443);
    assert_eq!(split_host_port("::1", 443), ("::1".to_string(), 443));
    assert_eq!(split_host_port("host:http", 443), ("host:http".to_string(), 443));
    assert_eq!(split_host_port(":80", 443), (":80".to_string(), 443));
}

#[test]
fn device_secret_is_found_in_data_or_at_the_top() {
    let platform = br#"{"code":200,"data":{"deviceName":"dn","deviceSecret":"sec","productKey":"pk"},"message":"success"}"#;
    assert_eq!(device_secret(platform).as_deref(), Ok("sec"));
    assert_eq!(device_secret(br#"{"deviceSecret":"top"}"#).as_deref(), Ok("top"));
}

#[test]
fn hostile_answers_are_refused_without_quoting_them() {
    let cases: &[&[u8]] = &[
        br#"{"code":409,"data":{},"message":"already activated"}"#,
        b"{\"data\":{\"deviceSecret\":\"sec",
        b"",
        b"\xff",
        br#"{"data":{"deviceSecret":""}}"#,
        br#"{"data":{"deviceSecret":7}}"#,
        br#"{"data":{"deviceSecret":"a\u0000sec"}}"#,
        br#"{"data":"deviceSecret"}"#,
        br#"["deviceSecret","sec"]"#,
    ];
    for body in cases {
        let why = device_secret(body).unwrap_err();
        assert!(!why.contains("sec"), "{why}");
    }
    assert_eq!(
        device_secret(br#"{"code":6100,"data":{},"message":"x"}"#),
        Err("no deviceSecret (code 6100)".to_string())
    );
}

/// Registrations against a small local server (plain HTTP) giving byte-exact hostile answers
/// the platform never gives: each must end in upstream's code, without a secret callback.
mod hostile {
    use super::super::*;
    use crate::sysdep::posix::PosixPort;
    use crate::sysdep::CRED_NONE;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Mutex as StdMutex;

    /// Serves `answer` (raw bytes, then close after `linger_ms`) to one request.
    fn serve(answer: Vec<u8>, linger_ms: u64) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                s.set_read_timeout(Some(std::time::Duration::from_millis(2000)))
                    .unwrap();
                // The request header and its short body arrive together or nearly so.
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(11).any(|w| w == b"signMethod=") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(&answer);
                std::thread::sleep(std::time::Duration::from_millis(linger_ms));
            }
        });
        port
    }

    /// One registration against `answer`: the code and the callbacks seen.
    fn register(answer: &[u8], linger_ms: u64, with_handler: bool) -> (i32, Vec<String>) {
        let port = serve(answer.to_vec(), linger_ms);
        let r = Dynreg::new(Arc::new(PosixPort));
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let s2 = seen.clone();
        for o in [
            DynregOption::Host("127.0.0.1".into()),
            DynregOption::Port(port),
            DynregOption::ProductKey("pk1".into()),
            DynregOption::ProductSecret("ps1".into()),
            DynregOption::DeviceName("dn1".into()),
            DynregOption::NetworkCred(Credential {
                option: CRED_NONE,
                max_tls_fragment: 0,
                sni_enabled: 0,
                server_ca: None,
                client_cert: None,
                client_key: None,
            }),
            DynregOption::RecvTimeoutMs(500),
            DynregOption::TimeoutMs(500),
        ] {
            r.setopt(o).unwrap();
        }
        if with_handler {
            r.setopt(DynregOption::RecvHandler(Arc::new(move |a: &Answer<'_>, _| {
                s2.lock().unwrap().push(format!("{a:?}"));
            })))
            .unwrap();
        }
        let code = match r.send_request().and_then(|_| r.recv()) {
            Ok(()) => 0,
            Err(e) => e.code(),
        };
        r.shutdown().unwrap();
        let seen = seen.lock().unwrap().clone();
        (code, seen)
    }

    fn ok(body: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    #[test]
    fn a_good_answer_gives_status_then_secret() {
        let (code, seen) = register(&ok(r#"{"code":200,"data":{"deviceSecret":"s1"}}"#), 0, true);
        assert_eq!(code, 0);
        assert_eq!(seen, ["StatusCode(200)", "DeviceSecret(\"s1\")"]);
    }

    #[test]
    fn bad_json_and_missing_fields_are_invalid_device_secret() {
        for body in [
            "{\"data\":{\"deviceSecret\":",
            "not json at all",
            r#"{"code":200,"data":{}}"#,
            r#"{"code":200,"data":{"deviceSecret":""}}"#,
            r#"{"code":200,"data":{"deviceSecret":123}}"#,
        ] {
            let (code, seen) = register(&ok(body), 0, true);
            assert_eq!(code, STATE_DYNREG_INVALID_DEVICE_SECRET, "{body}");
            assert_eq!(seen, ["StatusCode(200)"], "{body}");
        }
    }

    #[test]
    fn a_status_other_than_200_is_invalid_status_code() {
        let answer = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!";
        let (code, seen) = register(answer, 0, true);
        assert_eq!(code, STATE_DYNREG_INVALID_STATUS_CODE);
        assert_eq!(seen, ["StatusCode(500)"]);
        // Without a handler even a good answer is not taken, as upstream.
        let (code, _) = register(&ok(r#"{"data":{"deviceSecret":"s1"}}"#), 0, false);
        assert_eq!(code, STATE_DYNREG_INVALID_STATUS_CODE);
    }

    #[test]
    fn broken_framing_gives_upstreams_http_codes() {
        // A body shorter than its length: not finished when the overall timeout ends.
        let (code, seen) = register(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":1}",
            1500,
            true,
        );
        assert_eq!(code, STATE_HTTP_RECV_NOT_FINISHED);
        assert!(seen.is_empty());
        // No Content-Length.
        let (code, seen) = register(
            b"HTTP/1.1 200 OK\r\n\r\n{\"data\":{\"deviceSecret\":\"s\"}}",
            0,
            true,
        );
        assert_eq!(code, STATE_HTTP_READ_BODY_EMPTY);
        assert!(seen.is_empty());
        // A huge announced body is refused unread.
        let (code, _) = register(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n{", 0, true);
        assert_eq!(code, STATE_HTTP_RECV_NOT_FINISHED);
        // Bytes beyond the length are ignored.
        let mut long = ok(r#"{"data":{"deviceSecret":"s1"}}"#);
        long.extend_from_slice(b"garbage after the body");
        assert_eq!(register(&long, 0, true).0, 0);
        // No answer within the receive timeout: the header never completed.
        let (code, seen) = register(b"", 1500, true);
        assert_eq!(code, STATE_HTTP_HEADER_INVALID);
        assert!(seen.is_empty());
        // Not HTTP at all.
        let (code, seen) = register(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", 0, true);
        assert!(code < 0);
        assert!(seen.is_empty());
    }
}
