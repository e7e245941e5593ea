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
