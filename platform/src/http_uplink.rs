//! Hostile answers for the HTTP uplink's `/auth` and `/topic/...` (`prov fault --on auth|topic`),
//! the same kinds as for registrations with the token (auth) or the messageId (topic) in the
//! secret's place. The connection is closed after each.

use crate::provision::{code, http_answer, Fault, FaultKind, FaultTarget};

/// The raw bytes of a hostile uplink answer. `real` is the normal answer's body (long-body).
pub fn uplink_fault_answer(f: &Fault, on: FaultTarget, real: &str) -> Vec<u8> {
    let ok = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let key = if on == FaultTarget::Auth {
        "token"
    } else {
        "messageId"
    };
    let text = match f.kind {
        FaultKind::BadJson => ok(&format!("{{\"code\":0,\"info\":{{\"{key}\":\"a")),
        FaultKind::NoSecret => ok(&http_answer(
            code::HTTP_SUCCESS,
            "success",
            Some(serde_json::json!({})),
        )),
        FaultKind::HugeSecret => ok(&http_answer(
            code::HTTP_SUCCESS,
            "success",
            Some(serde_json::json!({ key: "t".repeat(f.size) })),
        )),
        FaultKind::Status500 => {
            let body = "{\"code\":10000,\"message\":\"internal error\"}";
            format!(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        }
        FaultKind::ShortBody => {
            let body = format!("{{\"code\":0,\"info\":{{\"{key}\":\"");
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len() + 64
            )
        }
        FaultKind::LongBody => ok(real) + "{\"code\":20001,\"info\":{\"token\":\"trailing\"}}",
        FaultKind::NoLength => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
            http_answer(
                code::HTTP_SUCCESS,
                "success",
                Some(serde_json::json!({ key: "no-length" }))
            )
        ),
        FaultKind::NotHttp => "SSH-2.0-OpenSSH_9.2p1\r\n\r\n".to_owned(),
        FaultKind::MqttBadJson | FaultKind::MqttNoFields | FaultKind::MqttHuge => ok(real),
    };
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: FaultKind) -> Fault {
        Fault {
            kind,
            remaining: 1,
            size: 10,
            on: FaultTarget::Auth,
        }
    }

    #[test]
    fn uplink_answers() {
        let text = |k, on| String::from_utf8(uplink_fault_answer(&fault(k), on, "{\"code\":0}")).unwrap();
        assert!(text(FaultKind::HugeSecret, FaultTarget::Auth)
            .ends_with("\"token\":\"tttttttttt\"},\"message\":\"success\"}"));
        assert!(
            text(FaultKind::BadJson, FaultTarget::Topic).ends_with("{\"code\":0,\"info\":{\"messageId\":\"a")
        );
        assert!(!text(FaultKind::NoSecret, FaultTarget::Auth).contains("token"));
        let long = text(FaultKind::LongBody, FaultTarget::Auth);
        assert!(long.contains("Content-Length: 10\r\n\r\n{\"code\":0}{"));
        assert!(text(FaultKind::Status500, FaultTarget::Topic).starts_with("HTTP/1.1 500 "));
    }
}
