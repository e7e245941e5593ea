//! Uplink messages: the topic and payload of every message type `aiot_dm_send` takes.
//!
//! As upstream, the user's JSON (`params`, `data`) goes into the payload verbatim, unchecked:
//! firmware relies on passing any text it likes. The payload is built by appending to a
//! growing buffer, so nothing is ever written past its end.

use super::DmError;

/// One message for `aiot_dm_send` (`aiot_dm_msg_t`), borrowed from the caller. `None` is a
/// NULL pointer on the C side; byte strings are taken as they are (no UTF-8 needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg<'a> {
    /// `/sys/{pk}/{dn}/thing/event/property/post`
    PropertyPost { params: Option<&'a [u8]> },
    /// `/sys/{pk}/{dn}/thing/event/{event_id}/post`
    EventPost {
        event_id: Option<&'a [u8]>,
        params: Option<&'a [u8]>,
    },
    /// `/sys/{pk}/{dn}/thing/service/property/set_reply`
    PropertySetReply {
        msg_id: u64,
        code: u32,
        data: Option<&'a [u8]>,
    },
    /// `/sys/{pk}/{dn}/thing/service/{service_id}_reply`
    AsyncServiceReply {
        msg_id: u64,
        service_id: Option<&'a [u8]>,
        code: u32,
        data: Option<&'a [u8]>,
    },
    /// `/ext/rrpc/{rrpc_id}/sys/{pk}/{dn}/thing/service/{service_id}` (the request's topic)
    SyncServiceReply {
        msg_id: u64,
        rrpc_id: Option<&'a [u8]>,
        service_id: Option<&'a [u8]>,
        code: u32,
        data: Option<&'a [u8]>,
    },
    /// `/sys/{pk}/{dn}/thing/model/up_raw`, the bytes as given
    RawData { data: Option<&'a [u8]> },
    /// `/ext/rrpc/{rrpc_id}/sys/{pk}/{dn}/thing/model/down_raw`, the bytes as given
    RawServiceReply {
        rrpc_id: Option<&'a [u8]>,
        data: Option<&'a [u8]>,
    },
    /// `/sys/{pk}/{dn}/thing/property/desired/get` (`params`: a JSON array of names)
    GetDesired { params: Option<&'a [u8]> },
    /// `/sys/{pk}/{dn}/thing/property/desired/delete`
    DeleteDesired { params: Option<&'a [u8]> },
    /// `/sys/{pk}/{dn}/thing/event/property/batch/post`
    PropertyBatchPost { params: Option<&'a [u8]> },
}

/// A message ready to publish (QoS0). `id` is the alink id of a request, `None` for replies
/// and raw data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uplink {
    pub topic: Vec<u8>,
    pub payload: Vec<u8>,
    pub id: Option<i32>,
}

/// Joins byte strings.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// `/sys/{pk}/{dn}/thing/{tail}`
fn sys(pk: &[u8], dn: &[u8], tail: &[&[u8]]) -> Vec<u8> {
    let mut t = cat(&[b"/sys/", pk, b"/", dn, b"/thing/"]);
    for p in tail {
        t.extend_from_slice(p);
    }
    t
}

/// `/ext/rrpc/{rrpc_id}/sys/{pk}/{dn}/thing/{tail}`
fn rrpc(rrpc_id: &[u8], pk: &[u8], dn: &[u8], tail: &[&[u8]]) -> Vec<u8> {
    let mut t = cat(&[b"/ext/rrpc/", rrpc_id]);
    t.extend_from_slice(&sys(pk, dn, tail));
    t
}

/// `{"id":"<id>","version":"1.0","params":<params>,"sys":{"ack":<0|1>}}`
pub fn request_payload(id: i32, params: &[u8], ack: bool) -> Vec<u8> {
    let id = id.to_string();
    let ack: &[u8] = if ack { b"1" } else { b"0" };
    cat(&[
        b"{\"id\":\"",
        id.as_bytes(),
        b"\",\"version\":\"1.0\",\"params\":",
        params,
        b",\"sys\":{\"ack\":",
        ack,
        b"}}",
    ])
}

/// `{"id":"<msg_id>","code":<code>,"data":<data>}`
pub fn reply_payload(msg_id: u64, code: u32, data: &[u8]) -> Vec<u8> {
    let (id, code) = (msg_id.to_string(), code.to_string());
    cat(&[
        b"{\"id\":\"",
        id.as_bytes(),
        b"\",\"code\":",
        code.as_bytes(),
        b",\"data\":",
        data,
        b"}",
    ])
}

fn need(v: Option<&[u8]>, missing: DmError) -> Result<&[u8], DmError> {
    v.ok_or(missing)
}

/// Builds a message for the device `pk`/`dn` in upstream's order of checks: the ids the
/// topic needs (event, rrpc before service), then `params`/`data`, and only then, for a
/// request, an alink id from `next_id` (so a refused message takes no id).
pub fn build(
    msg: &Msg<'_>,
    pk: &[u8],
    dn: &[u8],
    ack: bool,
    next_id: impl FnOnce() -> i32,
) -> Result<Uplink, DmError> {
    let request = |topic: Vec<u8>, params: Option<&[u8]>| -> Result<Uplink, DmError> {
        let params = need(params, DmError::ParamsNull)?;
        let id = next_id();
        Ok(Uplink {
            topic,
            payload: request_payload(id, params, ack),
            id: Some(id),
        })
    };
    let reply = |topic: Vec<u8>, msg_id: u64, code: u32, data: Option<&[u8]>| -> Result<Uplink, DmError> {
        let data = need(data, DmError::DataNull)?;
        Ok(Uplink {
            topic,
            payload: reply_payload(msg_id, code, data),
            id: None,
        })
    };
    let raw = |topic: Vec<u8>, data: Option<&[u8]>| -> Result<Uplink, DmError> {
        // aiot_mqtt_pub's answer to a NULL payload.
        let data = need(data, DmError::Core(crate::error::Error::NullPointer))?;
        Ok(Uplink {
            topic,
            payload: data.to_vec(),
            id: None,
        })
    };
    match *msg {
        Msg::PropertyPost { params } => request(sys(pk, dn, &[b"event/property/post"]), params),
        Msg::EventPost { event_id, params } => {
            let event_id = need(event_id, DmError::EventIdNull)?;
            request(sys(pk, dn, &[b"event/", event_id, b"/post"]), params)
        }
        Msg::PropertySetReply { msg_id, code, data } => {
            reply(sys(pk, dn, &[b"service/property/set_reply"]), msg_id, code, data)
        }
        Msg::AsyncServiceReply {
            msg_id,
            service_id,
            code,
            data,
        } => {
            let service_id = need(service_id, DmError::ServiceIdNull)?;
            reply(
                sys(pk, dn, &[b"service/", service_id, b"_reply"]),
                msg_id,
                code,
                data,
            )
        }
        Msg::SyncServiceReply {
            msg_id,
            rrpc_id,
            service_id,
            code,
            data,
        } => {
            let rrpc_id = need(rrpc_id, DmError::RrpcIdNull)?;
            let service_id = need(service_id, DmError::ServiceIdNull)?;
            reply(
                rrpc(rrpc_id, pk, dn, &[b"service/", service_id]),
                msg_id,
                code,
                data,
            )
        }
        Msg::RawData { data } => raw(sys(pk, dn, &[b"model/up_raw"]), data),
        Msg::RawServiceReply { rrpc_id, data } => {
            let rrpc_id = need(rrpc_id, DmError::RrpcIdNull)?;
            raw(rrpc(rrpc_id, pk, dn, &[b"model/down_raw"]), data)
        }
        Msg::GetDesired { params } => request(sys(pk, dn, &[b"property/desired/get"]), params),
        Msg::DeleteDesired { params } => request(sys(pk, dn, &[b"property/desired/delete"]), params),
        Msg::PropertyBatchPost { params } => request(sys(pk, dn, &[b"event/property/batch/post"]), params),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &[u8]) -> &str {
        std::str::from_utf8(v).unwrap()
    }

    fn ok(msg: Msg<'_>) -> Uplink {
        build(&msg, b"pk1", b"dn1", true, || 7).unwrap()
    }

    #[test]
    fn requests_have_upstreams_topics_and_payload() {
        let p = Some(&b"{\"LightSwitch\": 0}"[..]);
        let cases: [(Msg<'_>, &str); 5] = [
            (
                Msg::PropertyPost { params: p },
                "/sys/pk1/dn1/thing/event/property/post",
            ),
            (
                Msg::EventPost {
                    event_id: Some(b"Error"),
                    params: p,
                },
                "/sys/pk1/dn1/thing/event/Error/post",
            ),
            (
                Msg::GetDesired { params: p },
                "/sys/pk1/dn1/thing/property/desired/get",
            ),
            (
                Msg::DeleteDesired { params: p },
                "/sys/pk1/dn1/thing/property/desired/delete",
            ),
            (
                Msg::PropertyBatchPost { params: p },
                "/sys/pk1/dn1/thing/event/property/batch/post",
            ),
        ];
        for (msg, topic) in cases {
            let u = ok(msg);
            assert_eq!(text(&u.topic), topic);
            assert_eq!(u.id, Some(7));
            assert_eq!(
                text(&u.payload),
                "{\"id\":\"7\",\"version\":\"1.0\",\"params\":{\"LightSwitch\": 0},\"sys\":{\"ack\":1}}"
            );
        }
        let u = build(&Msg::PropertyPost { params: p }, b"a", b"b", false, || 2147483647).unwrap();
        assert!(text(&u.payload).starts_with("{\"id\":\"2147483647\","));
        assert!(text(&u.payload).ends_with(",\"sys\":{\"ack\":0}}"));
    }

    #[test]
    fn replies_echo_the_id_and_take_none() {
        let d = Some(&b"{}"[..]);
        let u = ok(Msg::PropertySetReply {
            msg_id: u64::MAX,
            code: 200,
            data: d,
        });
        assert_eq!(text(&u.topic), "/sys/pk1/dn1/thing/service/property/set_reply");
        assert_eq!(
            text(&u.payload),
            "{\"id\":\"18446744073709551615\",\"code\":200,\"data\":{}}"
        );
        assert_eq!(u.id, None);
        let u = ok(Msg::AsyncServiceReply {
            msg_id: 5,
            service_id: Some(b"ToggleLight"),
            code: 200,
            data: d,
        });
        assert_eq!(text(&u.topic), "/sys/pk1/dn1/thing/service/ToggleLight_reply");
        let u = ok(Msg::SyncServiceReply {
            msg_id: 5,
            rrpc_id: Some(b"1234"),
            service_id: Some(b"Get"),
            code: 200,
            data: Some(b"\"x\""),
        });
        assert_eq!(text(&u.topic), "/ext/rrpc/1234/sys/pk1/dn1/thing/service/Get");
        assert_eq!(text(&u.payload), "{\"id\":\"5\",\"code\":200,\"data\":\"x\"}");
    }

    #[test]
    fn raw_data_goes_out_unchanged() {
        let u = ok(Msg::RawData {
            data: Some(&[0, 0xff, 1]),
        });
        assert_eq!(text(&u.topic), "/sys/pk1/dn1/thing/model/up_raw");
        assert_eq!(u.payload, [0, 0xff, 1]);
        let u = ok(Msg::RawServiceReply {
            rrpc_id: Some(b"9"),
            data: Some(&[]),
        });
        assert_eq!(text(&u.topic), "/ext/rrpc/9/sys/pk1/dn1/thing/model/down_raw");
        assert!(u.payload.is_empty());
    }

    #[test]
    fn missing_parts_give_upstreams_codes_and_take_no_id() {
        let no_id = || -> i32 { panic!("an id was taken") };
        let err = |m: Msg<'_>| build(&m, b"p", b"d", true, no_id).unwrap_err().code();
        assert_eq!(err(Msg::PropertyPost { params: None }), -0x0A04);
        assert_eq!(
            err(Msg::EventPost {
                event_id: None,
                params: None
            }),
            -0x0A01
        );
        assert_eq!(
            err(Msg::EventPost {
                event_id: Some(b"e"),
                params: None
            }),
            -0x0A04
        );
        assert_eq!(
            err(Msg::PropertySetReply {
                msg_id: 1,
                code: 200,
                data: None
            }),
            -0x0A05
        );
        assert_eq!(
            err(Msg::AsyncServiceReply {
                msg_id: 1,
                service_id: None,
                code: 200,
                data: None
            }),
            -0x0A02
        );
        // rrpc id is checked before the service id.
        assert_eq!(
            err(Msg::SyncServiceReply {
                msg_id: 1,
                rrpc_id: None,
                service_id: None,
                code: 200,
                data: None
            }),
            -0x0A03
        );
        assert_eq!(
            err(Msg::SyncServiceReply {
                msg_id: 1,
                rrpc_id: Some(b"1"),
                service_id: None,
                code: 200,
                data: None
            }),
            -0x0A02
        );
        assert_eq!(
            err(Msg::RawServiceReply {
                rrpc_id: None,
                data: None
            }),
            -0x0A03
        );
        assert_eq!(err(Msg::RawData { data: None }), -0x0101);
        assert_eq!(err(Msg::GetDesired { params: None }), -0x0A04);
        assert_eq!(err(Msg::DeleteDesired { params: None }), -0x0A04);
        assert_eq!(err(Msg::PropertyBatchPost { params: None }), -0x0A04);
    }

    #[test]
    fn user_json_is_inserted_verbatim_at_any_size() {
        let big = vec![b'x'; 300_000];
        let u = ok(Msg::PropertyPost { params: Some(&big) });
        assert_eq!(
            u.payload.len(),
            big.len() + "{\"id\":\"7\",\"version\":\"1.0\",\"params\":,\"sys\":{\"ack\":1}}".len()
        );
        let odd = b"not json \xff\"}";
        let u = ok(Msg::PropertySetReply {
            msg_id: 0,
            code: 0,
            data: Some(odd),
        });
        assert!(u.payload.windows(odd.len()).any(|w| w == odd));
    }
}
