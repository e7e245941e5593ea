//! A log message and its wire form on `/sys/{pk}/{dn}/thing/log/post`:
//! `{"id":"<alink id>","version":"1.0","params":[{"utcTime":"<date>","logLevel":"<LEVEL>",
//! "module":"<module>","code":"<code>","traceContext":"<msg_id>","logContent":"<content>"}]}`.
//!
//! `<date>` is the message's time at UTC+8 as `Y/M/D h:m:s`, unpadded, as upstream writes it.
//! Unlike upstream, which pastes `module` and `content` in verbatim, strings are JSON-escaped,
//! so a quote or a newline in a log line still makes valid JSON.

use std::fmt::Write;

/// Longest `content`, in bytes.
pub const CONTENT_MAX_LEN: usize = 4096;
/// Largest accepted `timestamp` (ms); larger ones are refused as out of range.
pub const TIMESTAMP_MAX: u64 = 100_000_000_000_000;

/// `aiot_logpost_level_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Fatal,
    Err,
    Warn,
    Info,
    Debug,
}

impl Level {
    /// From the C enum's value (0 FATAL .. 4 DEBUG).
    pub fn from_raw(v: u32) -> Option<Level> {
        Some(match v {
            0 => Level::Fatal,
            1 => Level::Err,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            _ => return None,
        })
    }

    fn wire(self) -> &'static str {
        match self {
            Level::Fatal => "FATAL",
            Level::Err => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

/// One log record, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// ms since 1970 (UTC).
    pub utc_ms: u64,
    pub level: Level,
    pub module: &'a str,
    pub code: i32,
    pub msg_id: u64,
    pub content: &'a str,
}

/// `ms` (UTC) at UTC+8 as `Y/M/D h:m:s` without padding.
pub fn date_utc8(ms: u64) -> String {
    let secs = ms / 1000 + 8 * 3600;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y}/{m}/{d} {}:{}:{}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The payload carrying `records` (one or more) under alink id `id`.
pub fn payload(id: i32, records: &[Record<'_>]) -> String {
    let mut out = format!("{{\"id\":\"{id}\",\"version\":\"1.0\",\"params\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"utcTime\":\"{}\",\"logLevel\":\"{}\",\"module\":{},\"code\":\"{}\",\"traceContext\":\"{}\",\"logContent\":{}}}",
            date_utc8(r.utc_ms),
            r.level.wire(),
            json_str(r.module),
            r.code,
            r.msg_id,
            json_str(r.content)
        );
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_plus_8_unpadded() {
        // 2023-01-07 01:05:03 UTC is 09:05:03 at UTC+8.
        assert_eq!(date_utc8(1_673_053_503_000), "2023/1/7 9:5:3");
        assert_eq!(date_utc8(0), "1970/1/1 8:0:0");
        // 2024-02-29 16:00:00 UTC: the next day at UTC+8.
        assert_eq!(date_utc8(1_709_222_400_000), "2024/3/1 0:0:0");
    }

    #[test]
    fn payload_is_upstreams_shape_with_escaped_strings() {
        let r = Record {
            utc_ms: 1_673_053_503_000,
            level: Level::Err,
            module: "app",
            code: -7,
            msg_id: 0,
            content: "say \"hi\"\r\n",
        };
        let p = payload(12, &[r]);
        assert_eq!(
            p,
            r#"{"id":"12","version":"1.0","params":[{"utcTime":"2023/1/7 9:5:3","logLevel":"ERROR","module":"app","code":"-7","traceContext":"0","logContent":"say \"hi\"\r\n"}]}"#
        );
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["params"][0]["logContent"], "say \"hi\"\r\n");
    }
}
