//! Data model (`aiot_dm_api.h`): Alink thing-model traffic over an MQTT session. Property
//! and event posts, desired-property get/delete and batch posts go out as requests with the
//! process-wide alink id; property sets and service calls (asynchronous, and synchronous over
//! RRPC) come in through ten topic handlers (no SUBSCRIBE: the platform delivers a device's
//! system topics itself) and are answered with the reply message types.

pub mod codes;
pub mod downlink;
pub mod message;

use crate::sync::lock;
use std::sync::{Arc, Mutex};

use codes::*;
pub use downlink::{Kind, Recv, Route, TOPICS};
pub use message::Msg;

use crate::error::Error;
use crate::log;
use crate::mqtt::diagtap::{self, Tap};
use crate::mqtt::link::{self, Leave, Link, Linked};
use crate::mqtt::{next_alink_id, Client, Userdata};

/// What a data-model call can fail with; [`DmError::code`] maps it to upstream's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmError {
    EventIdNull,
    ServiceIdNull,
    RrpcIdNull,
    ParamsNull,
    DataNull,
    /// No MQTT session attached (or it was freed).
    MqttHandleNull,
    /// From the MQTT core (missing product key / device name, publish errors).
    Core(Error),
}

impl DmError {
    /// The upstream `STATE_*` code.
    pub fn code(self) -> i32 {
        match self {
            DmError::EventIdNull => STATE_DM_EVENT_ID_IS_NULL,
            DmError::ServiceIdNull => STATE_DM_SERVICE_ID_IS_NULL,
            DmError::RrpcIdNull => STATE_DM_RRPC_ID_IS_NULL,
            DmError::ParamsNull => STATE_DM_MSG_PARAMS_IS_NULL,
            DmError::DataNull => STATE_DM_MSG_DATA_IS_NULL,
            DmError::MqttHandleNull => STATE_DM_MQTT_HANDLE_IS_NULL,
            DmError::Core(e) => e.code(),
        }
    }
}

impl From<Error> for DmError {
    fn from(e: Error) -> Self {
        DmError::Core(e)
    }
}

/// The user's receive handler: the message and the userdata.
pub type DmFn = dyn Fn(&Recv<'_>, Userdata) + Send + Sync;

struct Config {
    handler: Option<Arc<DmFn>>,
    userdata: Userdata,
    /// `AIOT_DMOPT_POST_REPLY` as given: 0 asks for no reply (`"ack":0`).
    post_reply: u8,
}

/// Locks: `cfg` is taken alone and never held while calling the MQTT session or the user's
/// handler (nor is the link's).
struct Inner {
    cfg: Mutex<Config>,
    /// The session, until its deinit (later sends then answer `STATE_DM_MQTT_HANDLE_IS_NULL`
    /// as upstream's do), and our handlers on it.
    link: Link,
}

impl Linked for Inner {
    fn link(&self) -> &Link {
        &self.link
    }
}

/// A data-model handle.
pub struct Dm {
    inner: Arc<Inner>,
}

impl Default for Dm {
    fn default() -> Self {
        Self::new()
    }
}

impl Dm {
    /// A handle that asks for replies (`post_reply` 1), with no session and no handler.
    pub fn new() -> Dm {
        Dm {
            inner: Arc::new(Inner {
                cfg: Mutex::new(Config {
                    handler: None,
                    userdata: 0,
                    post_reply: 1,
                }),
                link: Link::new(),
            }),
        }
    }

    pub fn set_handler(&self, handler: Arc<DmFn>) {
        lock(&self.inner.cfg).handler = Some(handler);
    }

    pub fn set_userdata(&self, userdata: Userdata) {
        lock(&self.inner.cfg).userdata = userdata;
    }

    pub fn set_post_reply(&self, post_reply: u8) {
        lock(&self.inner.cfg).post_reply = post_reply;
    }

    /// Attaches to an MQTT session (leaving the previous one): the ten topic handlers, then
    /// the component. The first error is returned, as upstream's setopt does.
    pub fn set_mqtt(&self, client: Arc<Client>) -> Result<(), DmError> {
        self.detach();
        self.inner.link.hold(&client);
        for (filter, route) in TOPICS {
            link::listen(
                &self.inner,
                &client,
                filter.as_bytes(),
                move |inner, topic, payload| deliver(inner, route, topic, payload),
            )?;
        }
        Ok(link::hook(&self.inner, &client)?)
    }

    fn detach(&self) {
        link::leave(&self.inner, Leave::Session);
    }

    /// `aiot_dm_send`: publishes `msg` (QoS0) for `product_key`/`device_name`, or the
    /// session's own device where they are `None`. Returns the alink id of a request, 0 for
    /// a reply or raw data.
    pub fn send(
        &self,
        msg: &Msg<'_>,
        product_key: Option<&[u8]>,
        device_name: Option<&[u8]>,
    ) -> Result<i32, DmError> {
        let client = self.inner.link.client().ok_or(DmError::MqttHandleNull)?;
        let post_reply = lock(&self.inner.cfg).post_reply;
        let (pk, dn) = client.device_or(product_key, device_name)?;
        let up = message::build(msg, &pk, &dn, post_reply != 0, next_alink_id)?;
        // Only a request that asks for a reply is timed (upstream also times `"ack":0` ones,
        // which then always count as never answered).
        let timed = up.id.filter(|_| post_reply != 0);
        if let Some(id) = timed {
            diagtap::report(Tap::AlinkRequest(id as u32));
        }
        client.publish(up.topic.as_slice(), &up.payload, 0)?;
        Ok(up.id.unwrap_or(0))
    }
}

impl Drop for Dm {
    fn drop(&mut self) {
        self.detach();
    }
}

/// Parses a message from one of the topic handlers and hands it to the user's handler (with
/// no lock held). Without a handler nothing happens, not even a log line, as upstream.
fn deliver(inner: &Inner, route: Route, topic: &[u8], payload: &[u8]) {
    let (handler, userdata) = {
        let cfg = lock(&inner.cfg);
        (cfg.handler.clone(), cfg.userdata)
    };
    if route == Route::GenericReply && diagtap::active() {
        // Timed for diag whether or not a handler is set.
        if let Ok(Recv {
            kind: downlink::Kind::GenericReply { msg_id, .. },
            ..
        }) = downlink::parse(route, topic, payload)
        {
            diagtap::report(Tap::AlinkReply(msg_id));
        }
    }
    let Some(handler) = handler else {
        return;
    };
    log::line(STATE_DM_LOG_RECV, &format!("DM recv {}\r\n", route.name()));
    match downlink::parse(route, topic, payload) {
        Ok(recv) => handler(&recv, userdata),
        Err(refused) => log::line_bytes(
            SATAE_DM_LOG_PARSE_RECV_MSG_FAILED,
            &[
                b"DM parse ",
                route.name().as_bytes(),
                b" failed: ",
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

    #[test]
    fn codes_are_upstreams() {
        assert_eq!(DmError::EventIdNull.code(), -0x0A01);
        assert_eq!(DmError::ServiceIdNull.code(), -0x0A02);
        assert_eq!(DmError::RrpcIdNull.code(), -0x0A03);
        assert_eq!(DmError::ParamsNull.code(), -0x0A04);
        assert_eq!(DmError::DataNull.code(), -0x0A05);
        assert_eq!(DmError::MqttHandleNull.code(), -0x0A07);
        assert_eq!(DmError::Core(Error::MissingProductKey).code(), -0x0104);
    }

    #[test]
    fn send_without_a_session_is_refused() {
        let dm = Dm::new();
        assert_eq!(
            dm.send(&Msg::PropertyPost { params: Some(b"{}") }, None, None),
            Err(DmError::MqttHandleNull)
        );
    }
}
