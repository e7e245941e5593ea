//! Aliyun device credentials: user name, HMAC-SHA256 password and the signed client id.

use ring::hmac;

/// Fixed timestamp upstream signs with (not the real time).
pub const TIMESTAMP: &str = "2524608000000";
/// SDK version announced in the client id.
pub const SDK_VERSION: &str = "sdk-c-4.2.0";

/// `<deviceName>&<productKey>`
pub fn username(product_key: &str, device_name: &str) -> String {
    format!("{device_name}&{product_key}")
}

/// Upper-case hex HMAC-SHA256 of the sign text, keyed with the device secret.
pub fn password(product_key: &str, device_name: &str, device_secret: &str) -> String {
    let text = format!(
        "clientId{product_key}.{device_name}deviceName{device_name}productKey{product_key}timestamp{TIMESTAMP}"
    );
    hmac_sha256_upper_hex(device_secret.as_bytes(), text.as_bytes())
}

/// HMAC-SHA256 of `msg` as 64 upper-case hex characters.
pub fn hmac_sha256_upper_hex(key: &[u8], msg: &[u8]) -> String {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// What goes into the client id besides product key and device name.
pub struct ClientIdParams<'a> {
    /// `tls` connection (else `tcp`).
    pub tls: bool,
    /// `AIOT_MQTTOPT_SECURITY_MODE`, overriding the derived 2/3.
    pub security_mode: Option<&'a str>,
    /// `AIOT_MQTTOPT_EXTEND_CLIENTID` text.
    pub extend: Option<&'a str>,
    /// DNS + TCP + TLS establish time of this connection in ms.
    pub connect_ms: u64,
    /// The last failed connect code, if one is pending.
    pub last_error: Option<i32>,
}

/// `<pk>.<dn>|timestamp=...,_ss=1,_v=...,securemode=<m>,signmethod=hmacsha256,ext=3,<X>|`
pub fn client_id(product_key: &str, device_name: &str, p: &ClientIdParams<'_>) -> String {
    let mode = p.security_mode.unwrap_or(if p.tls { "2" } else { "3" });
    let mut id = format!(
        "{product_key}.{device_name}|timestamp={TIMESTAMP},_ss=1,_v={SDK_VERSION},securemode={mode},signmethod=hmacsha256,ext=3,"
    );
    if let Some(ext) = p.extend {
        id.push_str(ext);
        id.push(',');
    }
    let kind = if p.tls { "tls" } else { "tcp" };
    id.push_str(&format!("_conn={kind}_{:x}", p.connect_ms));
    if let Some(code) = p.last_error {
        id.push_str(&format!("_-{:x}", code.unsigned_abs()));
    }
    id.push('|');
    id
}

/// The password with all but its first 8 characters hidden, for the LK-0318 log line.
pub fn masked(password: &str) -> String {
    let shown: String = password.chars().take(8).collect();
    format!(
        "{shown}{}",
        "*".repeat(password.chars().count().saturating_sub(8))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_matches_known_vector() {
        // Computed independently:
        // printf 'clientIda1TestPK001.device1deviceNamedevice1productKeya1TestPK001timestamp2524608000000' \
        //   | openssl dgst -sha256 -hmac s3cr3tDeviceSecretForTests0001
        assert_eq!(
            password("a1TestPK001", "device1", "s3cr3tDeviceSecretForTests0001"),
            VECTOR
        );
    }

    const VECTOR: &str = include_str!("testdata/password_vector.txt");

    #[test]
    fn username_is_dn_and_pk() {
        assert_eq!(username("pk", "dn"), "dn&pk");
    }

    #[test]
    fn client_id_shapes() {
        let p = ClientIdParams {
            tls: true,
            security_mode: None,
            extend: None,
            connect_ms: 45,
            last_error: None,
        };
        assert_eq!(
            client_id("pk", "dn", &p),
            "pk.dn|timestamp=2524608000000,_ss=1,_v=sdk-c-4.2.0,securemode=2,signmethod=hmacsha256,ext=3,_conn=tls_2d|"
        );
        let p = ClientIdParams {
            tls: false,
            security_mode: Some("8"),
            extend: Some("mod=x"),
            connect_ms: 0,
            last_error: Some(-0x0F10),
        };
        assert_eq!(
            client_id("pk", "dn", &p),
            "pk.dn|timestamp=2524608000000,_ss=1,_v=sdk-c-4.2.0,securemode=8,signmethod=hmacsha256,ext=3,mod=x,_conn=tcp_0_-f10|"
        );
    }

    #[test]
    fn mask_hides_the_tail() {
        assert_eq!(masked("0123456789ABCDEF"), "01234567********");
    }
}
