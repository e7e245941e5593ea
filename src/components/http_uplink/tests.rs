use super::*;

#[test]
fn auth_request_follows_upstream() {
    // printf 'clientIdpk1.dn1deviceNamedn1productKeypk1' | openssl dgst -sha256 -hmac ds1
    assert_eq!(
        auth_body("pk1", "dn1", "ds1"),
        "{\"clientId\":\"pk1.dn1\",\"signmethod\":\"hmacsha256\",\"deviceName\":\"dn1\",\
         \"productKey\":\"pk1\",\"sign\":\"0DB82E119EEB7676EA91EC769EB466F015181BAE0F31F71CB75AD3EC7E098210\"}"
    );
    assert_eq!(auth_target(""), "/auth?_v=sdk-c-4.2.0&");
    assert_eq!(auth_target("pid=1&mid=2"), "/auth?_v=sdk-c-4.2.0&pid=1&mid=2");
}

#[test]
fn auth_body_is_json_whatever_the_names() {
    let body = auth_body("p\"k", "d\\n", "s");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["clientId"], "p\"k.d\\n");
    assert_eq!(v["productKey"], "p\"k");
}

#[test]
fn token_is_found_in_info_or_at_the_top() {
    let platform = br#"{"code":0,"message":"success","info":{"token":"abc123"}}"#;
    assert_eq!(token_of(platform).as_deref(), Ok("abc123"));
    assert_eq!(token_of(br#"{"token":"top"}"#).as_deref(), Ok("top"));
}

#[test]
fn hostile_auth_answers_are_refused_without_quoting_them() {
    let huge = format!("{{\"info\":{{\"token\":\"{}\"}}}}", "t".repeat(MAX_TOKEN + 1));
    let cases: Vec<&[u8]> = vec![
        br#"{"code":10000,"message":"auth check error"}"#,
        b"{\"info\":{\"token\":\"zq9",
        b"",
        b"\xff",
        br#"{"info":{"token":""}}"#,
        br#"{"info":{"token":7}}"#,
        br#"{"info":{"token":"a\u0000zq9"}}"#,
        br#"{"info":"token"}"#,
        br#"["token","zq9"]"#,
        huge.as_bytes(),
    ];
    for body in cases {
        let why = token_of(body).unwrap_err();
        assert!(!why.contains("zq9") && !why.contains("ttt"), "{why}");
    }
    assert_eq!(
        token_of(br#"{"code":10000,"message":"x"}"#),
        Err("no token (code 10000)".to_string())
    );
}

#[test]
fn the_auth_log_masks_the_token() {
    let body = br#"{"code":0,"message":"success","info":{"token":"0123456789abcdef0123"}}"#;
    let logged = masked_body(body, "0123456789abcdef0123");
    assert_eq!(
        logged,
        r#"{"code":0,"message":"success","info":{"token":"01234567************"}}"#
    );
}

#[test]
fn business_codes() {
    assert_eq!(business_code(br#"{"code":20001,"message":"x"}"#), Some(20001));
    assert_eq!(business_code(br#"{"info":{"code":20001}}"#), None);
    assert_eq!(business_code(br#"{"code":"20001"}"#), None);
    assert_eq!(business_code(b"not json"), None);
    assert!(TOKEN_INVALID_CODES.contains(&20001) && TOKEN_INVALID_CODES.contains(&20003));
    assert!(!TOKEN_INVALID_CODES.contains(&20002));
}

/// Against a small local server (plain HTTP) that answers scripted bytes: requests on the
/// wire, connection reuse, and hostile answers ending in upstream's codes.
mod wire {
    use super::super::*;
    use crate::sysdep::posix::PosixPort;
    use crate::sysdep::CRED_NONE;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::mpsc;

    /// Reads one request (header and its Content-Length body) from `s`.
    fn read_request(s: &mut TcpStream) -> Option<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    return Some(String::from_utf8_lossy(&got[..end + 4 + length]).into_owned());
                }
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn ok(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// Serves the scripted answers in order, one per request, each connection kept open until
    /// the peer closes it; reports each request with the number of its connection.
    fn serve(answers: Vec<Vec<u8>>) -> (u16, mpsc::Receiver<(usize, String)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut answers = answers.into_iter();
            let mut conn_no = 0;
            while let Ok((mut s, _)) = listener.accept() {
                conn_no += 1;
                s.set_read_timeout(Some(std::time::Duration::from_millis(3000)))
                    .unwrap();
                while let Some(req) = read_request(&mut s) {
                    let _ = tx.send((conn_no, req));
                    let Some(a) = answers.next() else {
                        // No answer left: hold the connection past the client's timeouts.
                        std::thread::sleep(std::time::Duration::from_millis(2500));
                        return;
                    };
                    let _ = s.write_all(&a);
                }
            }
        });
        (port, rx)
    }

    fn uplink(port: u16, long: u8) -> HttpUplink {
        let h = HttpUplink::new(Arc::new(PosixPort));
        h.setopt(HttpOption::Host("127.0.0.1".into())).unwrap();
        h.setopt(HttpOption::Port(port)).unwrap();
        h.setopt(HttpOption::NetworkCred(Credential {
            option: CRED_NONE,
            max_tls_fragment: 0,
            sni_enabled: 0,
            server_ca: None,
            client_cert: None,
            client_key: None,
        }))
        .unwrap();
        h.setopt(HttpOption::ProductKey("pk1".into())).unwrap();
        h.setopt(HttpOption::DeviceName("dn1".into())).unwrap();
        h.setopt(HttpOption::DeviceSecret("ds1".into())).unwrap();
        h.setopt(HttpOption::RecvTimeoutMs(1000)).unwrap();
        h.setopt(HttpOption::AuthTimeoutMs(1000)).unwrap();
        h.setopt(HttpOption::LongConnection(long)).unwrap();
        h
    }

    const TOKEN_ANSWER: &str = r#"{"code":0,"message":"success","info":{"token":"tok0123456789"}}"#;

    #[test]
    fn auth_send_recv_on_one_connection() {
        let (port, rx) = serve(vec![
            ok(TOKEN_ANSWER),
            ok(r#"{"code":0,"message":"success","info":{"messageId":1}}"#),
            ok(r#"{"code":20001,"message":"token expired"}"#),
            ok(r#"{"code":20002,"message":"token is null"}"#),
            ok(r#"{"code":20003,"message":"token check error"}"#),
        ]);
        let h = uplink(port, 1);
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let events = Arc::new(AtomicU32::new(0));
        {
            let seen2 = seen.clone();
            h.setopt(HttpOption::RecvHandler(Arc::new(move |p: &Packet<'_>, _| {
                seen2.lock().unwrap().push(format!("{p:?}"));
            })))
            .unwrap();
            let (events, seen) = (events.clone(), seen.clone());
            h.setopt(HttpOption::EventHandler(Arc::new(move |_| {
                events.fetch_add(1, Ordering::SeqCst);
                seen.lock().unwrap().push("event".into());
            })))
            .unwrap();
        }
        h.auth().unwrap();
        let (c1, auth) = rx.recv().unwrap();
        assert!(auth.starts_with("POST /auth?_v=sdk-c-4.2.0& HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
        assert!(auth.contains("Content-Type: application/json\r\n"));
        assert!(!auth.contains("Connection: close"));
        assert!(auth.ends_with(&format!("\r\n\r\n{}", auth_body("pk1", "dn1", "ds1"))));

        h.send("/sys/pk1/dn1/thing/event/property/post", b"{\"x\":1}")
            .unwrap();
        h.recv().unwrap();
        let (c2, post) = rx.recv().unwrap();
        assert_eq!(c1, c2, "the connection is reused");
        assert!(post.starts_with("POST /topic/sys/pk1/dn1/thing/event/property/post HTTP/1.1\r\n"));
        assert!(post.contains("Content-Type: application/octet-stream\r\nPassword: tok0123456789\r\n"));
        assert!(post.ends_with("\r\n\r\n{\"x\":1}"));
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen[0], "StatusCode(200)");
            assert_eq!(seen[1], "Header(\"Content-Type\", \"application/json\")");
            assert!(seen[2].starts_with("Header(\"Content-Length\""));
            assert!(seen[3].starts_with("Body("));
            assert_eq!(seen.len(), 4);
        }
        seen.lock().unwrap().clear();

        h.send("/sys/pk1/dn1/thing/event/property/post", b"y").unwrap();
        h.recv().unwrap();
        assert_eq!(events.load(Ordering::SeqCst), 1);
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen[3], "event", "the event comes before the body: {seen:?}");
            assert!(seen[4].starts_with("Body("));
        }
        // 20002 (token null) raises no event, 20003 (token check error) does.
        h.send("/t", b"y").unwrap();
        h.recv().unwrap();
        assert_eq!(events.load(Ordering::SeqCst), 1);
        h.send("/t", b"y").unwrap();
        h.recv().unwrap();
        assert_eq!(events.load(Ordering::SeqCst), 2);
        let (conn_last, _) = rx.try_iter().last().unwrap();
        assert_eq!(conn_last, c1, "one connection throughout");
    }

    #[test]
    fn the_token_event_needs_no_receive_handler() {
        let (port, _rx) = serve(vec![
            ok(TOKEN_ANSWER),
            ok(r#"{"code":20003,"message":"token check error"}"#),
        ]);
        let h = uplink(port, 1);
        let events = Arc::new(AtomicU32::new(0));
        let e = events.clone();
        h.setopt(HttpOption::EventHandler(Arc::new(move |_| {
            e.fetch_add(1, Ordering::SeqCst);
        })))
        .unwrap();
        h.auth().unwrap();
        h.send("/t", b"y").unwrap();
        h.recv().unwrap();
        assert_eq!(events.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_answer_that_never_comes_is_reported_by_recv() {
        // The server reads the post and answers nothing.
        let (port, _rx) = serve(vec![ok(TOKEN_ANSWER)]);
        let h = uplink(port, 1);
        h.auth().unwrap();
        h.send("/t", b"y").unwrap();
        assert_eq!(h.recv(), Err(Error::Download(STATE_HTTP_HEADER_INVALID)));
        // Nothing pending and no connection kept.
        assert_eq!(h.recv(), Err(Error::NetworkClosed));
    }

    #[test]
    fn a_server_closing_the_connection_gets_a_new_one() {
        let closing = |body: &str| {
            format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        };
        let (port, rx) = serve(vec![
            closing(TOKEN_ANSWER),
            ok(r#"{"code":0,"message":"success","info":{"messageId":1}}"#),
        ]);
        let h = uplink(port, 1);
        h.auth().unwrap();
        h.send("/t", b"y").unwrap();
        h.recv().unwrap();
        let (c1, _) = rx.recv().unwrap();
        let (c2, _) = rx.recv().unwrap();
        assert_ne!(c1, c2);
    }

    #[test]
    fn without_long_connection_each_call_connects_and_says_close() {
        let (port, rx) = serve(vec![
            ok(TOKEN_ANSWER),
            ok(r#"{"code":0,"message":"success","info":{"messageId":1}}"#),
        ]);
        let h = uplink(port, 0);
        h.auth().unwrap();
        h.send("/pk1/dn1/user/update", b"z").unwrap();
        h.recv().unwrap();
        let (c1, auth) = rx.recv().unwrap();
        let (c2, post) = rx.recv().unwrap();
        assert_ne!(c1, c2);
        assert!(auth.contains("Connection: close\r\n") && post.contains("Connection: close\r\n"));
    }

    #[test]
    fn api_order_and_codes() {
        let h = HttpUplink::new(Arc::new(PosixPort));
        assert_eq!(h.auth(), Err(Error::MissingProductKey));
        h.setopt(HttpOption::ProductKey("pk".into())).unwrap();
        assert_eq!(h.auth(), Err(Error::MissingDeviceName));
        h.setopt(HttpOption::DeviceName("dn".into())).unwrap();
        assert_eq!(h.auth(), Err(Error::MissingDeviceSecret));
        h.setopt(HttpOption::DeviceSecret("ds".into())).unwrap();
        assert_eq!(h.auth(), Err(Error::MissingHost));
        assert_eq!(h.send("/t", b"x"), Err(Error::Download(STATE_HTTP_NEED_AUTH)));
        assert_eq!(h.recv(), Err(Error::NetworkClosed));
        h.shutdown().unwrap();
        assert_eq!(h.shutdown(), Err(Error::ExecDisabled));
        assert_eq!(h.auth(), Err(Error::ExecDisabled));
    }

    /// One hostile auth answer and the code it must give.
    fn auth_answer(answer: Vec<u8>) -> Result<()> {
        let (port, _rx) = serve(vec![answer]);
        let h = uplink(port, 1);
        let r = h.auth();
        assert!(lock(&h.token).is_none(), "no token kept");
        r
    }

    #[test]
    fn hostile_auth_answers() {
        let code = |c| Err(Error::Download(c));
        assert_eq!(
            auth_answer(ok("{\"info\":{\"token\":\"a")),
            code(STATE_HTTP_AUTH_TOKEN_FAILED)
        );
        assert_eq!(
            auth_answer(ok(r#"{"code":10000}"#)),
            code(STATE_HTTP_AUTH_TOKEN_FAILED)
        );
        assert_eq!(auth_answer(ok("")), code(STATE_HTTP_AUTH_NOT_EXPECTED));
        assert_eq!(
            auth_answer(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}".to_vec()),
            code(STATE_HTTP_AUTH_CODE_FAILED)
        );
        assert_eq!(
            auth_answer(b"HTTP/1.1 200 OK\r\n\r\n{}".to_vec()),
            code(STATE_HTTP_READ_BODY_EMPTY)
        );
        assert_eq!(
            auth_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n{}".to_vec()),
            code(STATE_HTTP_AUTH_NOT_EXPECTED)
        );
        // shorter than its length: the rest never comes within the auth timeout
        assert_eq!(
            auth_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}".to_vec()),
            code(STATE_HTTP_AUTH_NOT_FINISHED)
        );
        assert!(auth_answer(b"SSH-2.0-OpenSSH_9.2p1\r\n\r\n".to_vec()).is_err());
    }
}
