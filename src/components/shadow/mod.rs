//! Device shadow (`aiot_shadow_api.h`): updates, gets and deletes the device's shadow document
//! over an MQTT session. Requests go out on `/shadow/update/{pk}/{dn}` (QoS0, no alink id);
//! replies and control pushes come in on `/shadow/get/{pk}/{dn}` through one topic handler on
//! `/shadow/get/+/+` (no SUBSCRIBE: the platform delivers them itself).
//!
//! - `downlink`: what a received message hands to the receive handler, or why it is refused;
//! - `codes`: `STATE_SHADOW_*`.

#![forbid(unsafe_code)]

pub mod codes;
pub mod downlink;

use crate::sync::lock;
use std::sync::{Arc, Mutex};

use codes::*;
pub use downlink::{Kind, Recv};

use crate::error::Error;
use crate::log;
use crate::mqtt::link::{self, Leave, Link, Linked};
use crate::mqtt::{Client, Userdata};

/// A message `aiot_shadow_send` sends (`aiot_shadow_msg_t` by type). `reported` is JSON text
/// inserted as given (upstream validates nothing); `None` stands for a NULL pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg<'a> {
    Update {
        reported: Option<&'a [u8]>,
        version: i64,
    },
    CleanDesired {
        version: i64,
    },
    Get,
    DeleteReported {
        reported: Option<&'a [u8]>,
        version: i64,
    },
}

/// What a shadow call can fail with; [`ShadowError::code`] maps it to upstream's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShadowError {
    /// No MQTT session attached (or it was freed).
    MqttHandleNull,
    /// `reported` is NULL.
    ReportedNull,
    /// From the MQTT core (missing product key / device name, publish errors).
    Core(Error),
}

impl ShadowError {
    /// The upstream `STATE_*` code.
    pub fn code(self) -> i32 {
        match self {
            ShadowError::MqttHandleNull => STATE_SHADOW_MQTT_HANDLE_IS_NULL,
            ShadowError::ReportedNull => STATE_SHADOW_REPORTED_DATA_IS_NULL,
            ShadowError::Core(e) => e.code(),
        }
    }
}

impl From<Error> for ShadowError {
    fn from(e: Error) -> Self {
        ShadowError::Core(e)
    }
}

/// The request payload of `msg`, or why there is none.
pub fn payload(msg: &Msg<'_>) -> Result<Vec<u8>, ShadowError> {
    let request = |method: &str, reported: Option<&[u8]>, version: i64| {
        let reported = reported.ok_or(ShadowError::ReportedNull)?;
        let mut p = format!("{{\"method\":\"{method}\",\"state\":{{\"reported\":").into_bytes();
        p.extend_from_slice(reported);
        p.extend_from_slice(format!("}},\"version\":{version}}}").as_bytes());
        Ok(p)
    };
    match *msg {
        Msg::Update { reported, version } => request("update", reported, version),
        Msg::DeleteReported { reported, version } => request("delete", reported, version),
        Msg::CleanDesired { version } => Ok(format!(
            "{{\"method\":\"update\",\"state\":{{\"desired\":\"null\"}},\"version\":{version}}}"
        )
        .into_bytes()),
        Msg::Get => Ok(b"{\"method\":\"get\"}".to_vec()),
    }
}

/// The user's receive handler: the message and the userdata.
pub type ShadowFn = dyn Fn(&Recv<'_>, Userdata) + Send + Sync;

struct Config {
    handler: Option<Arc<ShadowFn>>,
    userdata: Userdata,
}

/// Locks: `cfg` is taken alone and never held while calling the MQTT session or the user's
/// handler (nor is the link's).
struct Inner {
    cfg: Mutex<Config>,
    /// The session, until its deinit (later sends then answer
    /// `STATE_SHADOW_MQTT_HANDLE_IS_NULL`, as upstream's do), and our handler on it.
    link: Link,
}

impl Linked for Inner {
    fn link(&self) -> &Link {
        &self.link
    }
}

/// A shadow handle.
pub struct Shadow {
    inner: Arc<Inner>,
}

impl Default for Shadow {
    fn default() -> Self {
        Self::new()
    }
}

impl Shadow {
    /// `aiot_shadow_init`: no session, no handler.
    pub fn new() -> Shadow {
        Shadow {
            inner: Arc::new(Inner {
                cfg: Mutex::new(Config {
                    handler: None,
                    userdata: 0,
                }),
                link: Link::new(),
            }),
        }
    }

    pub fn set_handler(&self, handler: Arc<ShadowFn>) {
        lock(&self.inner.cfg).handler = Some(handler);
    }

    pub fn set_userdata(&self, userdata: Userdata) {
        lock(&self.inner.cfg).userdata = userdata;
    }

    /// Attaches to an MQTT session (leaving the previous one): the topic handler on
    /// `/shadow/get/+/+` (no SUBSCRIBE), then the component.
    pub fn set_mqtt(&self, client: Arc<Client>) -> Result<(), ShadowError> {
        self.detach();
        self.inner.link.hold(&client);
        link::listen(
            &self.inner,
            &client,
            downlink::TOPIC_FILTER.as_bytes(),
            |inner, topic, payload| deliver(inner, topic, payload),
        )?;
        Ok(link::hook(&self.inner, &client)?)
    }

    fn detach(&self) {
        link::leave(&self.inner, Leave::Session);
    }

    /// `aiot_shadow_send`: publishes `msg` (QoS0) on `/shadow/update/{pk}/{dn}` for
    /// `product_key`/`device_name`, or the session's own device where they are `None`.
    /// Returns the publish result (0).
    pub fn send(
        &self,
        msg: &Msg<'_>,
        product_key: Option<&[u8]>,
        device_name: Option<&[u8]>,
    ) -> Result<i32, ShadowError> {
        let client = self.inner.link.client().ok_or(ShadowError::MqttHandleNull)?;
        let (pk, dn) = client.device_or(product_key, device_name)?;
        let body = payload(msg)?;
        let mut topic = b"/shadow/update/".to_vec();
        topic.extend_from_slice(&pk);
        topic.push(b'/');
        topic.extend_from_slice(&dn);
        Ok(i32::from(client.publish(topic.as_slice(), &body, 0)?))
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        self.detach();
    }
}

/// Parses a message from the topic handler and hands it to the user's handler (with no lock
/// held). Without a handler nothing happens, not even a log line, as upstream.
fn deliver(inner: &Inner, topic: &[u8], payload: &[u8]) {
    let (handler, userdata) = {
        let cfg = lock(&inner.cfg);
        (cfg.handler.clone(), cfg.userdata)
    };
    let Some(handler) = handler else {
        return;
    };
    match downlink::parse(topic, payload) {
        Ok(recv) => {
            log::line(STATE_SHADOW_LOG_RECV, recv.kind.log_text());
            handler(&recv, userdata);
        }
        Err(refused) => log::line_bytes(
            SATAE_SHADOW_LOG_PARSE_RECV_MSG_FAILED,
            &[
                b"SHADOW parse recv message failed: ",
                refused.0.as_bytes(),
                b", topic ",
                topic,
                b"\r\n",
            ],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: Msg<'_>) -> String {
        String::from_utf8(payload(&m).unwrap()).unwrap()
    }

    #[test]
    fn payloads_are_upstreams() {
        assert_eq!(
            text(Msg::Update {
                reported: Some(b"{\"LightSwitch\":1}"),
                version: 0
            }),
            r#"{"method":"update","state":{"reported":{"LightSwitch":1}},"version":0}"#
        );
        assert_eq!(
            text(Msg::Update {
                reported: Some(b"{}"),
                version: -1
            }),
            r#"{"method":"update","state":{"reported":{}},"version":-1}"#
        );
        assert_eq!(
            text(Msg::DeleteReported {
                reported: Some(b"{\"LightSwitch\":\"null\"}"),
                version: 2
            }),
            r#"{"method":"delete","state":{"reported":{"LightSwitch":"null"}},"version":2}"#
        );
        assert_eq!(
            text(Msg::CleanDesired { version: i64::MIN }),
            r#"{"method":"update","state":{"desired":"null"},"version":-9223372036854775808}"#
        );
        assert_eq!(text(Msg::Get), r#"{"method":"get"}"#);
        assert_eq!(
            payload(&Msg::Update {
                reported: None,
                version: 1
            }),
            Err(ShadowError::ReportedNull)
        );
        assert_eq!(
            payload(&Msg::DeleteReported {
                reported: None,
                version: 1
            }),
            Err(ShadowError::ReportedNull)
        );
    }

    #[test]
    fn codes_are_upstreams() {
        assert_eq!(ShadowError::MqttHandleNull.code(), -0x1301);
        assert_eq!(ShadowError::ReportedNull.code(), -0x1302);
        assert_eq!(ShadowError::Core(Error::MissingDeviceName).code(), -0x0105);
    }

    #[test]
    fn send_without_a_session_is_refused() {
        assert_eq!(
            Shadow::new().send(&Msg::Get, None, None),
            Err(ShadowError::MqttHandleNull)
        );
    }
}
