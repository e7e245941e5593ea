//! The adapter's failure lines as upstream writes them (`LK-1000`, `mbedtls_ssl_handshake
//! error, res: -0x7200`), with the mbedTLS error code the same failure gives there. Firmware
//! and support scripts grep these lines; the returned `STATE_PORT_TLS_*` codes are chosen by
//! the caller.

use crate::log;
use crate::state::STATE_ADAPTER_COMMON;

/// `MBEDTLS_ERR_NET_RECV_FAILED`: upstream's BIO answer to any port receive error.
pub const NET_RECV_FAILED: i32 = -0x004C;
/// `MBEDTLS_ERR_NET_SEND_FAILED`.
pub const NET_SEND_FAILED: i32 = -0x004E;
/// `MBEDTLS_ERR_SSL_CONN_EOF`: what a port receive timeout with nothing read becomes.
pub const CONN_EOF: i32 = -0x7280;
/// `MBEDTLS_ERR_SSL_INVALID_RECORD`: a header that is no TLS record (a plain server).
pub const INVALID_RECORD: i32 = -0x7200;
/// `MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY`.
pub const PEER_CLOSE_NOTIFY: i32 = -0x7880;
/// `MBEDTLS_ERR_SSL_INVALID_MAC`.
pub const INVALID_MAC: i32 = -0x7180;
/// `MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE`.
pub const UNEXPECTED_MESSAGE: i32 = -0x7700;
/// `MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE`.
pub const FATAL_ALERT: i32 = -0x7780;
/// `MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO`.
const BAD_SERVER_HELLO: i32 = -0x7980;
/// `MBEDTLS_ERR_SSL_INTERNAL_ERROR`.
pub const INTERNAL_ERROR: i32 = -0x6C00;
/// `MBEDTLS_ERR_X509_CERT_VERIFY_FAILED`.
const CERT_VERIFY_FAILED: i32 = -0x2700;

/// The mbedTLS code for a rustls error.
pub fn code_of(e: &rustls::Error) -> i32 {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(_) | E::NoCertificatesPresented => CERT_VERIFY_FAILED,
        E::AlertReceived(_) => FATAL_ALERT,
        E::DecryptError => INVALID_MAC,
        E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => UNEXPECTED_MESSAGE,
        E::InvalidMessage(_) | E::PeerIncompatible(_) | E::PeerMisbehaved(_) => BAD_SERVER_HELLO,
        _ => INTERNAL_ERROR,
    }
}

/// The mbedTLS code for an I/O error rustls reports: the rustls error inside, if any.
pub fn code_of_io(e: &std::io::Error) -> i32 {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(inner) => code_of(inner),
        None => INTERNAL_ERROR,
    }
}

/// Upstream's `%x`: signed, lower case, `0x` after the sign (`-0x7200`, `-0x4c`).
pub fn hex(v: i32) -> String {
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}0x{:x}", i64::from(v).unsigned_abs())
}

/// `mbedtls_ssl_handshake error, res: <code>`.
pub fn handshake_failed(mbedtls: i32) {
    line("mbedtls_ssl_handshake", mbedtls);
}

/// `mbedtls_ssl_recv error, res: <code>`.
pub fn recv_failed(mbedtls: i32) {
    line("mbedtls_ssl_recv", mbedtls);
}

/// `mbedtls_ssl_send error, res: <code>`.
pub fn send_failed(mbedtls: i32) {
    line("mbedtls_ssl_send", mbedtls);
}

fn line(call: &str, mbedtls: i32) {
    if log::enabled() {
        log::line(
            STATE_ADAPTER_COMMON,
            &format!("{call} error, res: {}\r\n", hex(mbedtls)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_prints_like_upstream() {
        assert_eq!(hex(INVALID_RECORD), "-0x7200");
        assert_eq!(hex(NET_RECV_FAILED), "-0x4c");
        assert_eq!(hex(0x1f), "0x1f");
        assert_eq!(hex(i32::MIN), "-0x80000000");
    }

    #[test]
    fn certificate_errors_are_verify_failures() {
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(code_of(&e), CERT_VERIFY_FAILED);
        let e = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(code_of(&e), FATAL_ALERT);
    }
}
