//! The cloud's log config, on `/sys/{pk}/{dn}/thing/config/log/get_reply`
//! (`{"id":"..","code":200,"data":{"getType":"content","content":{"mode":1}},...}`) and
//! `/sys/{pk}/{dn}/thing/config/log/push` (`{"id":"..","version":"1.0","params":{"getType":
//! "content","content":{"mode":0}}}`).
//!
//! Parsed as JSON, where upstream takes the first `"mode":` anywhere in the text: `mode` is
//! read from `data.content` or `params.content` (or, failing those, from `content` or the top
//! level), as a JSON number or a string of digits, 0 to 255. Anything else is refused, where
//! upstream would truncate a larger number to 8 bits or take a `mode` from elsewhere.

use serde_json::Value;

/// Where the cloud's config carries the switch, first match wins (get_reply, push, bare forms).
pub const MODE_PATHS: [&str; 4] = [
    "/data/content/mode",
    "/params/content/mode",
    "/content/mode",
    "/mode",
];

/// The user-log switch a config message sets, or why it was refused.
pub fn parse_mode(payload: &[u8]) -> Result<u8, &'static str> {
    let root: Value = serde_json::from_slice(payload).map_err(|_| "not JSON")?;
    if !root.is_object() {
        return Err("not a JSON object");
    }
    let mode = MODE_PATHS.iter().find_map(|p| root.pointer(p)).ok_or("no mode")?;
    let n = match mode {
        Value::Number(n) => n.as_u64().ok_or("mode is not a non-negative integer")?,
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().map_err(|_| "mode is out of range")?
        }
        _ => return Err("mode is not a non-negative integer"),
    };
    u8::try_from(n).map_err(|_| "mode is out of range")
}

#[cfg(test)]
mod tests {
    use super::parse_mode;

    #[test]
    fn reads_mode_from_get_reply_and_push() {
        let reply =
            br#"{"id":"3","code":200,"data":{"getType":"content","content":{"mode":1}},"message":"success"}"#;
        assert_eq!(parse_mode(reply), Ok(1));
        let push = br#"{"id":"9","version":"1.0","params":{"getType":"content","content":{"mode":0}}}"#;
        assert_eq!(parse_mode(push), Ok(0));
        let pretty = b"{ \"params\" : { \"content\" : { \"mode\" : \"1\" } } }";
        assert_eq!(parse_mode(pretty), Ok(1));
    }

    #[test]
    fn refuses_malformed_configs() {
        for bad in [
            &b""[..],
            b"not json",
            b"[1]",
            b"{\"params\":{}}",
            b"{\"params\":{\"content\":{\"mode\":-1}}}",
            b"{\"params\":{\"content\":{\"mode\":1.5}}}",
            b"{\"params\":{\"content\":{\"mode\":256}}}",
            b"{\"params\":{\"content\":{\"mode\":\"\"}}}",
            b"{\"params\":{\"content\":{\"mode\":\"1x\"}}}",
            b"{\"params\":{\"content\":{\"mode\":null}}}",
            b"{\"params\":{\"content\":{\"mode\":99999999999999999999999}}}",
            b"{\"params\":{\"content\":{\"mode\":1}}",
        ] {
            assert!(parse_mode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
