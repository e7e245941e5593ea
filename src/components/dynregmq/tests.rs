use super::*;

#[test]
fn request_credentials_follow_upstream() {
    // printf 'deviceNamedn1productKeypk1random1234' | openssl dgst -sha256 -hmac ps1
    let c = request_credentials("pk1", "ps1", "dn1", "1234", false, None);
    assert_eq!(
        c.clientid,
        "dn1.pk1|random=1234,authType=register,securemode=2,signmethod=hmacsha256|"
    );
    assert_eq!(c.username, "dn1&pk1");
    assert_eq!(
        c.password,
        "21FE474DB856CE913FF53BB8A52C5077E28649EBFFC744D491F29837575A43B2"
    );
    let n = request_credentials("pk1", "ps1", "dn1", "1234", true, Some("iot-06z"));
    assert_eq!(
        n.clientid,
        "dn1.pk1|random=1234,authType=regnwl,securemode=2,signmethod=hmacsha256,instanceId=iot-06z|"
    );
    assert_eq!(n.password, c.password);
}

#[test]
fn instance_id_comes_from_an_instance_host() {
    assert_eq!(
        instance_id_of("iot-06z00ab.mqtt.iothub.aliyuncs.com").as_deref(),
        Some("iot-06z00ab")
    );
    assert_eq!(instance_id_of(".mqtt.iothub.aliyuncs.com"), None);
    assert_eq!(instance_id_of("pk.iot-as-mqtt.cn-shanghai.aliyuncs.com"), None);
    assert_eq!(instance_id_of("localhost"), None);
}

#[test]
fn answers_are_recognised_by_exact_topic() {
    let wl = br#"{"deviceName":"dn","deviceSecret":"sec","productKey":"pk"}"#;
    assert_eq!(
        parse_answer(b"/ext/register", wl, "pk", "dn"),
        Ok(Some(Answer::Whitelist {
            device_secret: "sec".into()
        }))
    );
    let nwl = br#"{"clientId":"pk.dn.0a1b2c3d","deviceName":"dn","deviceToken":"tok","productKey":"pk"}"#;
    assert_eq!(
        parse_answer(b"/ext/regnwl", nwl, "pk", "dn"),
        Ok(Some(Answer::NoWhitelist {
            clientid: "pk.dn.0a1b2c3d|authType=connwl,securemode=-2,_ss=1,ext=3,_v=sdk-c-4.2.0|".into(),
            username: "dn&pk".into(),
            password: "tok".into(),
        }))
    );
    for other in [&b"/ext/register/x"[..], b"/ext/registe", b"/ext/regnwl2", b""] {
        assert_eq!(parse_answer(other, wl, "pk", "dn"), Ok(None));
    }
}

#[test]
fn hostile_answers_are_refused_without_quoting_them() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"/ext/register", b"{\"deviceSecret\":\"sec"),
        (b"/ext/register", b""),
        (b"/ext/register", b"[\"deviceSecret\"]"),
        (b"/ext/register", b"{\"deviceSecret\":\"\"}"),
        (b"/ext/register", b"{\"deviceSecret\":12}"),
        (b"/ext/register", b"{\"deviceSecret\":null}"),
        (b"/ext/register", b"{\"deviceSecret\":\"a\\u0000b\"}"),
        (b"/ext/register", b"{\"data\":{\"deviceSecret\":\"nested\"}}"),
        (b"/ext/register", b"\xff\xfe"),
        (b"/ext/regnwl", b"{\"clientId\":\"c\"}"),
        (b"/ext/regnwl", b"{\"deviceToken\":\"t\"}"),
        (b"/ext/regnwl", b"{\"clientId\":\"\",\"deviceToken\":\"t\"}"),
        (b"/ext/regnwl", b"{\"clientId\":\"c\",\"deviceToken\":[]}"),
    ];
    for (topic, payload) in cases {
        let why = parse_answer(topic, payload, "pk", "dn").unwrap_err();
        assert!(!why.contains("sec") && !why.contains("nested"), "{why}");
    }
    // A huge secret is still a secret: no size rule beyond the MQTT packet's.
    let big = format!("{{\"deviceSecret\":\"{}\"}}", "x".repeat(100_000));
    assert!(matches!(
        parse_answer(b"/ext/register", big.as_bytes(), "pk", "dn"),
        Ok(Some(Answer::Whitelist { .. }))
    ));
}
