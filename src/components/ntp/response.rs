//! The platform's answer on `/ext/ntp/{pk}/{dn}/response`:
//! `{"deviceSendTime":"<ms>","serverRecvTime":"<ms>","serverSendTime":"<ms>"}`, each time a
//! string of digits or a JSON number.
//!
//! Parsed as JSON (any spacing and key order), where upstream scans for the first
//! `"key":` anywhere in the text. What upstream refuses, refused alike: a missing key is an
//! invalid response, a value that is not a non-negative integer an invalid time format. Also
//! refused (upstream reads them as 0 or wraps): an empty string, a value above `u64`, and
//! times that put the result before 1970 or past `u64`.

use serde_json::Value;

/// The three times of a response, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Times {
    pub device_send: u64,
    pub server_recv: u64,
    pub server_send: u64,
}

/// Why a response was refused; the kind is the event upstream raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not a JSON object, or a key is missing (`AIOT_NTPEVT_INVALID_RESPONSE`).
    InvalidResponse(&'static str),
    /// A time is not a non-negative integer, or the times give no valid UTC
    /// (`AIOT_NTPEVT_INVALID_TIME_FORMAT`).
    InvalidTimeFormat(&'static str),
}

impl Refused {
    /// What was wrong, for the log line.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::InvalidResponse(r) | Refused::InvalidTimeFormat(r) => r,
        }
    }
}

const KEYS: [&str; 3] = ["deviceSendTime", "serverRecvTime", "serverSendTime"];

/// Reads the three times of a response.
pub fn parse(payload: &[u8]) -> Result<Times, Refused> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(payload) else {
        return Err(Refused::InvalidResponse("not a JSON object"));
    };
    let mut values = [&Value::Null; 3];
    for (slot, key) in values.iter_mut().zip(KEYS) {
        *slot = map.get(key).ok_or(Refused::InvalidResponse(missing(key)))?;
    }
    let mut times = [0u64; 3];
    for ((t, v), key) in times.iter_mut().zip(values).zip(KEYS) {
        *t = millis(v).ok_or(Refused::InvalidTimeFormat(not_a_time(key)))?;
    }
    Ok(Times {
        device_send: times[0],
        server_recv: times[1],
        server_send: times[2],
    })
}

fn missing(key: &str) -> &'static str {
    match key {
        "deviceSendTime" => "no deviceSendTime",
        "serverRecvTime" => "no serverRecvTime",
        _ => "no serverSendTime",
    }
}

fn not_a_time(key: &str) -> &'static str {
    match key {
        "deviceSendTime" => "deviceSendTime is not a time in ms",
        "serverRecvTime" => "serverRecvTime is not a time in ms",
        _ => "serverSendTime is not a time in ms",
    }
}

/// A time as digits only (string) or a non-negative integer (number).
fn millis(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// UTC at receipt, `now` being the port's clock then (the device's clock of
/// `deviceSendTime`): `(serverRecvTime + serverSendTime + now - deviceSendTime) / 2`, the
/// server's time plus half the round trip.
pub fn utc_ms(t: &Times, now: u64) -> Result<u64, Refused> {
    let sum =
        i128::from(t.server_recv) + i128::from(t.server_send) + i128::from(now) - i128::from(t.device_send);
    u64::try_from(sum / 2).map_err(|_| Refused::InvalidTimeFormat("the times give no UTC time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(json: &str) -> Times {
        parse(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e:?}"))
    }

    fn refused(json: &[u8]) -> Refused {
        parse(json).expect_err(&String::from_utf8_lossy(json))
    }

    #[test]
    fn the_platform_answer() {
        let t = ok(
            r#"{"deviceSendTime":"1000","serverRecvTime":"2087940600000","serverSendTime":"2087940600000"}"#,
        );
        assert_eq!(
            t,
            Times {
                device_send: 1000,
                server_recv: 2_087_940_600_000,
                server_send: 2_087_940_600_000
            }
        );
        // Round trip 40 ms: the answer left the server 20 ms ago.
        assert_eq!(utc_ms(&t, 1040), Ok(2_087_940_600_020));
    }

    #[test]
    fn numbers_spacing_order_and_extra_keys() {
        let t = ok(" {\n \"serverSendTime\" : 7 , \"x\":{\"deviceSendTime\":\"9\"}, \"deviceSendTime\": 1, \"serverRecvTime\":\"5\" }\n");
        assert_eq!((t.device_send, t.server_recv, t.server_send), (1, 5, 7));
        assert_eq!(
            ok(r#"{"deviceSendTime":"18446744073709551615","serverRecvTime":0,"serverSendTime":"0"}"#)
                .device_send,
            u64::MAX
        );
    }

    #[test]
    fn missing_keys_and_non_objects_are_invalid_responses() {
        for bad in [
            &b""[..],
            b"not json",
            b"[1,2,3]",
            b"\"deviceSendTime\"",
            b"{\"deviceSendTime\":\"1\",\"serverRecvTime\":\"2\"}",
            b"{\"devicesendtime\":\"1\",\"serverRecvTime\":\"2\",\"serverSendTime\":\"3\"}",
            b"{\"deviceSendTime\":\"1\",\"serverRecvTime\":\"2\",\"serverSendTime\":\"3\"",
            b"{\"deviceSendTime\":\"1\",\"serverRecvTime\":\"2\",\"serverSendTime\":\"3\"}trailing",
            b"{\"deviceSendTime\":\"\xff\xfe\",\"serverRecvTime\":\"2\",\"serverSendTime\":\"3\"}",
            b"{\"a\":{\"deviceSendTime\":\"1\",\"serverRecvTime\":\"2\",\"serverSendTime\":\"3\"}}",
        ] {
            assert!(
                matches!(refused(bad), Refused::InvalidResponse(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(refused(b"{}"), Refused::InvalidResponse("no deviceSendTime"));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(refused(deep.as_bytes()), Refused::InvalidResponse(_)));
    }

    #[test]
    fn bad_values_are_invalid_time_formats() {
        for v in [
            "\"abc\"",
            "\"\"",
            "\"-5\"",
            "-5",
            "1.5",
            "1e3",
            "\" 12\"",
            "\"12 \"",
            "\"+12\"",
            "null",
            "true",
            "{}",
            "[1]",
            "\"18446744073709551616\"",
            "18446744073709551616",
        ] {
            let json = format!(r#"{{"deviceSendTime":"1","serverRecvTime":{v},"serverSendTime":"3"}}"#);
            assert_eq!(
                refused(json.as_bytes()),
                Refused::InvalidTimeFormat("serverRecvTime is not a time in ms"),
                "{json}"
            );
        }
    }

    #[test]
    fn times_that_give_no_utc_are_refused() {
        let t = Times {
            device_send: 1_000_000,
            server_recv: 1,
            server_send: 1,
        };
        assert!(matches!(utc_ms(&t, 0), Err(Refused::InvalidTimeFormat(_))));
        let t = Times {
            device_send: 0,
            server_recv: u64::MAX,
            server_send: u64::MAX,
        };
        assert!(matches!(utc_ms(&t, u64::MAX), Err(Refused::InvalidTimeFormat(_))));
        // Large but in range: no overflow on the way.
        let t = Times {
            device_send: u64::MAX,
            server_recv: u64::MAX,
            server_send: u64::MAX,
        };
        assert_eq!(utc_ms(&t, u64::MAX), Ok(u64::MAX));
    }
}
