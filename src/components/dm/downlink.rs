//! Downlink messages: the ten topic filters the component listens on (topic maps, no
//! SUBSCRIBE) and what each message hands to the receive handler.
//!
//! Upstream scans the payload for the first `"key":` anywhere (compact JSON only, nested keys
//! taken for top-level ones) and drops what it cannot read, mostly without saying so. We parse
//! real JSON (serde_json checks the whole payload; then the top-level members are located in
//! the checked text: top-level keys only, any spacing, numeric or string ids, the last of
//! duplicate keys as serde_json keeps it; keys are compared as written) and refuse a message
//! with a reason: not JSON, invalid UTF-8, a missing or non-numeric `id`, missing `params`,
//! `code` or `data`, or nesting deeper than [`MAX_DEPTH`]. The slices handed over point into
//! the payload, as upstream's do: a string value without its quotes, anything else as written.

use crate::components::rawjson::{digits, members, unquoted, Members};

/// Deepest nesting of `{`/`[` accepted (what serde_json parses; it stops at 128): a
/// handler that parses `params` recursively never sees more.
pub const MAX_DEPTH: usize = 127;

/// What a topic filter carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    GenericReply,
    PropertySet,
    AsyncServiceInvoke,
    SyncServiceInvoke,
    RawData,
    RawDataReply,
    RawSyncServiceInvoke,
}

/// The topic filters, upstream's ten, in upstream's order.
pub const TOPICS: [(&str, Route); 10] = [
    ("/sys/+/+/thing/event/+/post_reply", Route::GenericReply),
    ("/sys/+/+/thing/service/property/set", Route::PropertySet),
    ("/sys/+/+/thing/service/+", Route::AsyncServiceInvoke),
    ("/ext/rrpc/+/sys/+/+/thing/service/+", Route::SyncServiceInvoke),
    ("/sys/+/+/thing/model/down_raw", Route::RawData),
    ("/sys/+/+/thing/model/up_raw_reply", Route::RawDataReply),
    (
        "/ext/rrpc/+/sys/+/+/thing/model/down_raw",
        Route::RawSyncServiceInvoke,
    ),
    ("/sys/+/+/thing/property/desired/get_reply", Route::GenericReply),
    (
        "/sys/+/+/thing/property/desired/delete_reply",
        Route::GenericReply,
    ),
    (
        "/sys/+/+/thing/event/property/batch/post_reply",
        Route::GenericReply,
    ),
];

impl Route {
    /// The name in the `DM recv ...` / `DM parse ... failed` log lines (upstream's words).
    pub fn name(self) -> &'static str {
        match self {
            Route::GenericReply => "generic reply",
            Route::PropertySet => "property set",
            Route::AsyncServiceInvoke => "async service invoke",
            Route::SyncServiceInvoke => "sync service invoke",
            Route::RawData | Route::RawDataReply => "raw data",
            Route::RawSyncServiceInvoke => "raw sync service invoke",
        }
    }
}

/// One received message (`aiot_dm_recv_t`), borrowing the topic and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recv<'a> {
    pub product_key: &'a [u8],
    pub device_name: &'a [u8],
    pub kind: Kind<'a>,
}

/// The kind-specific part of a received message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A `*_reply` to a request (`id` is the request's alink id).
    GenericReply {
        msg_id: u32,
        code: u32,
        data: &'a [u8],
        message: Option<&'a [u8]>,
    },
    PropertySet {
        msg_id: u64,
        params: &'a [u8],
    },
    AsyncServiceInvoke {
        msg_id: u64,
        service_id: &'a [u8],
        params: &'a [u8],
    },
    SyncServiceInvoke {
        msg_id: u64,
        rrpc_id: &'a [u8],
        service_id: &'a [u8],
        params: &'a [u8],
    },
    /// On `up_raw_reply`.
    RawDataReply {
        data: &'a [u8],
    },
    /// On `down_raw`.
    RawData {
        data: &'a [u8],
    },
    RawSyncServiceInvoke {
        rrpc_id: &'a [u8],
        data: &'a [u8],
    },
}

/// Why a message was not handed over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

/// Topic level `n` counted by `/` from the start (`/sys/pk/dn`: 2 is pk, 3 is dn).
fn level(topic: &[u8], n: usize) -> Result<&[u8], Refused> {
    match topic.split(|&b| b == b'/').nth(n) {
        Some(l) => Ok(l),
        None => refuse("topic has too few levels"),
    }
}

/// Parses a message that arrived on a filter of `route`.
pub fn parse<'a>(route: Route, topic: &'a [u8], payload: &'a [u8]) -> Result<Recv<'a>, Refused> {
    let (pk_level, dn_level) = match route {
        Route::SyncServiceInvoke | Route::RawSyncServiceInvoke => (5, 6),
        _ => (2, 3),
    };
    let product_key = level(topic, pk_level)?;
    let device_name = level(topic, dn_level)?;
    let kind = match route {
        Route::RawData => Kind::RawData { data: payload },
        Route::RawDataReply => Kind::RawDataReply { data: payload },
        Route::RawSyncServiceInvoke => Kind::RawSyncServiceInvoke {
            rrpc_id: level(topic, 3)?,
            data: payload,
        },
        Route::GenericReply => {
            let obj = object(payload)?;
            let msg_id =
                u32::try_from(number(&obj, "id")?).or_else(|_| refuse("\"id\" is larger than 4294967295"))?;
            let code = u32::try_from(number(&obj, "code")?)
                .or_else(|_| refuse("\"code\" is larger than 4294967295"))?;
            Kind::GenericReply {
                msg_id,
                code,
                data: value(&obj, "data")?,
                message: member(&obj, "message"),
            }
        }
        Route::PropertySet => {
            let obj = object(payload)?;
            Kind::PropertySet {
                msg_id: number(&obj, "id")?,
                params: value(&obj, "params")?,
            }
        }
        Route::AsyncServiceInvoke => {
            let obj = object(payload)?;
            Kind::AsyncServiceInvoke {
                msg_id: number(&obj, "id")?,
                service_id: level(topic, 6)?,
                params: value(&obj, "params")?,
            }
        }
        Route::SyncServiceInvoke => {
            let obj = object(payload)?;
            Kind::SyncServiceInvoke {
                msg_id: number(&obj, "id")?,
                rrpc_id: level(topic, 3)?,
                service_id: level(topic, 9)?,
                params: value(&obj, "params")?,
            }
        }
    };
    Ok(Recv {
        product_key,
        device_name,
        kind,
    })
}

/// The top-level members of a payload.
type Object<'a> = Members<'a>;

/// Checks that the payload is one JSON object (serde_json, the parser OTA uses too, so no
/// second parser is linked in), then locates its top-level members in the text.
fn object(payload: &[u8]) -> Result<Object<'_>, Refused> {
    if depth(payload) > MAX_DEPTH {
        return refuse(format!("payload is nested deeper than {MAX_DEPTH} levels"));
    }
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(v) if v.is_object() => Ok(members(payload)),
        Ok(_) => refuse("payload is not a JSON object"),
        Err(e) if std::str::from_utf8(payload).is_err() => refuse(format!("payload is not UTF-8 JSON: {e}")),
        Err(e) => refuse(format!("payload is not JSON: {e}")),
    }
}

/// Deepest `{`/`[` nesting of JSON text (brackets inside strings do not count).
pub fn depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The last member named `key` (serde_json keeps the last of duplicate keys too).
fn member<'a>(obj: &Object<'a>, key: &str) -> Option<&'a [u8]> {
    obj.written(key).map(unquoted)
}

/// A key that must be present, as its text.
fn value<'a>(obj: &Object<'a>, key: &str) -> Result<&'a [u8], Refused> {
    match member(obj, key) {
        Some(v) => Ok(v),
        None => refuse(format!("no \"{key}\"")),
    }
}

/// A key holding a non-negative decimal integer, as a JSON number or a string of digits.
fn number(obj: &Object<'_>, key: &str) -> Result<u64, Refused> {
    match digits(value(obj, key)?) {
        Some(n) => Ok(n),
        None => refuse(format!("\"{key}\" is not a decimal number of at most 64 bits")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &[u8] = b"/sys/pk1/dn1/thing/service/property/set";

    fn why(route: Route, topic: &[u8], payload: &[u8]) -> String {
        parse(route, topic, payload).unwrap_err().0
    }

    #[test]
    fn generic_reply_gives_id_code_data_and_message() {
        let topic = b"/sys/pk1/dn1/thing/event/property/post_reply";
        let p = br#"{"code":200,"data":{"a":{"id":"9"}},"id":"12","message":"success","method":"thing.event.property.post","version":"1.0"}"#;
        let r = parse(Route::GenericReply, topic, p).unwrap();
        assert_eq!(r.product_key, b"pk1");
        assert_eq!(r.device_name, b"dn1");
        assert_eq!(
            r.kind,
            Kind::GenericReply {
                msg_id: 12,
                code: 200,
                data: br#"{"a":{"id":"9"}}"#,
                message: Some(b"success"),
            }
        );
        // Spacing, numeric ids, no message: upstream's scanner fails on the first two.
        let p = b"{ \"id\" : 3,\n \"code\": \"460\", \"data\": [] }";
        match parse(Route::GenericReply, topic, p).unwrap().kind {
            Kind::GenericReply {
                msg_id: 3,
                code: 460,
                data: b"[]",
                message: None,
            } => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requests_give_id_params_and_ids_from_the_topic() {
        let p = br#"{"id":"18446744073709551615","version":"1.0","params":{"LightSwitch":1},"method":"thing.service.property.set"}"#;
        assert_eq!(
            parse(Route::PropertySet, SET, p).unwrap().kind,
            Kind::PropertySet {
                msg_id: u64::MAX,
                params: br#"{"LightSwitch":1}"#
            }
        );
        let r = parse(
            Route::AsyncServiceInvoke,
            b"/sys/pk1/dn1/thing/service/ToggleLight",
            br#"{"id":"5","params":"on"}"#,
        )
        .unwrap();
        assert_eq!(
            r.kind,
            Kind::AsyncServiceInvoke {
                msg_id: 5,
                service_id: b"ToggleLight",
                params: b"on"
            }
        );
        let r = parse(
            Route::SyncServiceInvoke,
            b"/ext/rrpc/1234567/sys/pk2/dn2/thing/service/Get",
            br#"{"id":"6","params":{}}"#,
        )
        .unwrap();
        assert_eq!((r.product_key, r.device_name), (&b"pk2"[..], &b"dn2"[..]));
        assert_eq!(
            r.kind,
            Kind::SyncServiceInvoke {
                msg_id: 6,
                rrpc_id: b"1234567",
                service_id: b"Get",
                params: b"{}"
            }
        );
    }

    #[test]
    fn raw_messages_pass_their_bytes() {
        let bytes = [0u8, 0xff, b'{'];
        let r = parse(Route::RawData, b"/sys/p/d/thing/model/down_raw", &bytes).unwrap();
        assert_eq!(r.kind, Kind::RawData { data: &bytes });
        let r = parse(Route::RawDataReply, b"/sys/p/d/thing/model/up_raw_reply", &bytes).unwrap();
        assert_eq!(r.kind, Kind::RawDataReply { data: &bytes });
        let r = parse(
            Route::RawSyncServiceInvoke,
            b"/ext/rrpc/77/sys/p/d/thing/model/down_raw",
            &[],
        )
        .unwrap();
        assert_eq!((r.product_key, r.device_name), (&b"p"[..], &b"d"[..]));
        assert_eq!(
            r.kind,
            Kind::RawSyncServiceInvoke {
                rrpc_id: b"77",
                data: &[]
            }
        );
    }

    #[test]
    fn malformed_messages_are_refused_with_a_reason() {
        assert!(why(Route::PropertySet, SET, b"{\"id\":\"1\",\"params\":").starts_with("payload is not JSON"));
        assert_eq!(
            why(Route::PropertySet, SET, b"[1,2]"),
            "payload is not a JSON object"
        );
        assert!(why(Route::PropertySet, SET, b"").starts_with("payload is not JSON"));
        assert_eq!(why(Route::PropertySet, SET, br#"{"params":{}}"#), "no \"id\"");
        assert_eq!(why(Route::PropertySet, SET, br#"{"id":"1"}"#), "no \"params\"");
        // A nested "id" is not the message's, as it is for upstream's scanner.
        assert_eq!(
            why(Route::PropertySet, SET, br#"{"params":{"id":"1"}}"#),
            "no \"id\""
        );
        for bad in [
            &br#"{"id":"-1","params":{}}"#[..],
            br#"{"id":"","params":{}}"#,
            br#"{"id":1.5,"params":{}}"#,
            br#"{"id":"99999999999999999999","params":{}}"#,
            br#"{"id":null,"params":{}}"#,
        ] {
            assert!(
                why(Route::PropertySet, SET, bad).starts_with("\"id\" is not a decimal"),
                "{bad:?}"
            );
        }
        let topic = b"/sys/p/d/thing/event/property/post_reply";
        assert_eq!(
            why(Route::GenericReply, topic, br#"{"id":"1","data":{}}"#),
            "no \"code\""
        );
        assert_eq!(
            why(Route::GenericReply, topic, br#"{"id":"1","code":200}"#),
            "no \"data\""
        );
        assert!(why(
            Route::GenericReply,
            topic,
            br#"{"id":"4294967296","code":200,"data":{}}"#
        )
        .contains("larger"));
        let utf8 = b"{\"id\":\"1\",\"params\":{\"a\":\"\xff\xfe\"}}";
        assert!(
            why(Route::PropertySet, SET, utf8).starts_with("payload is not UTF-8 JSON"),
            "{}",
            why(Route::PropertySet, SET, utf8)
        );
    }

    #[test]
    fn nesting_is_bounded_and_brackets_in_strings_do_not_count() {
        let nested = |n: usize| {
            let mut p = b"{\"id\":\"1\",\"params\":".to_vec();
            p.extend(std::iter::repeat_n(b'[', n));
            p.extend(std::iter::repeat_n(b']', n));
            p.push(b'}');
            p
        };
        assert!(parse(Route::PropertySet, SET, &nested(MAX_DEPTH - 1)).is_ok());
        assert!(why(Route::PropertySet, SET, &nested(MAX_DEPTH)).contains("nested deeper"));
        assert!(why(Route::PropertySet, SET, &nested(200_000)).contains("nested deeper"));
        let p = br#"{"id":"1","params":{"s":"[[[[{{{{\"]]]"}}"#;
        assert_eq!(depth(p), 2);
        match parse(Route::PropertySet, SET, p).unwrap().kind {
            Kind::PropertySet { params, .. } => assert_eq!(params, br#"{"s":"[[[[{{{{\"]]]"}"#),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn huge_params_arrive_whole() {
        let mut p = b"{\"id\":\"1\",\"params\":{\"blob\":\"".to_vec();
        p.extend(std::iter::repeat_n(b'x', 500_000));
        p.extend_from_slice(b"\"}}");
        match parse(Route::PropertySet, SET, &p).unwrap().kind {
            Kind::PropertySet { params, .. } => assert_eq!(params.len(), 500_000 + 11),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn members_are_found_in_the_text_as_written() {
        let p = b" {\"a\" :\t\"x\\\"y\" , \"b\":[1,{\"c\":\"]\"}],\"n\": -1.5e3 ,\"t\":true,\"o\":{}}\n";
        let m = members(p);
        let text = |t: &[u8]| std::str::from_utf8(t).unwrap().to_owned();
        let got: Vec<(String, String)> =
            m.0.iter()
                .map(|m| (text(&m.key[1..m.key.len() - 1]), text(m.value)))
                .collect();
        assert_eq!(
            got,
            [
                ("a", "\"x\\\"y\""),
                ("b", "[1,{\"c\":\"]\"}]"),
                ("n", "-1.5e3"),
                ("t", "true"),
                ("o", "{}")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        // Duplicates: the last one counts, as in serde_json's map.
        let p = br#"{"id":"1","params":1,"id":"2"}"#;
        match parse(Route::PropertySet, SET, p).unwrap().kind {
            Kind::PropertySet {
                msg_id: 2,
                params: b"1",
            } => {}
            other => panic!("{other:?}"),
        }
        // Never out of bounds, whatever the bytes.
        for junk in [
            &b"{"[..],
            b"{\"",
            b"{\"a\"",
            b"{\"a\":",
            b"{\"a\":[",
            b"{\"a\":\"\\",
            b"\"",
            b"",
        ] {
            let _ = members(junk);
        }
    }

    #[test]
    fn every_topic_filter_is_routed_and_levels_match() {
        assert_eq!(TOPICS.len(), 10);
        assert_eq!(level(b"/sys/a/b", 3).unwrap(), b"b");
        assert!(level(b"/sys/a", 3).is_err());
    }
}
