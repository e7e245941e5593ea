//! Data model (`aiot_dm_api.h`): Alink thing-model traffic over an MQTT session. Property
//! and event posts, desired-property get/delete and batch posts go out as requests with the
//! process-wide alink id; property sets and service calls (asynchronous, and synchronous over
//! RRPC) come in through ten topic handlers (no SUBSCRIBE: the platform delivers a device's
//! system topics itself) and are answered with the reply message types.

pub mod codes;
pub mod downlink;
pub mod message;

use crate::sync::lock;
use std::sync::{Arc, Mutex, Weak};

use codes::*;
pub use downlink::{Kind, Recv, Route, TOPICS};
pub use message::Msg;

use crate::error::Error;
use crate::log;
use crate::mqtt::diagtap::{self, Tap};
use crate::mqtt::{next_alink_id, Client, Component, Recv as MqttRecv, RecvHandler, Userdata};

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
    mqtt: Option<Arc<Client>>,
}

/// Locks: `cfg` is taken alone and never held while calling the MQTT session or the user's
/// handler.
struct Inner {
    cfg: Mutex<Config>,
}

/// A data-model handle.
pub struct Dm {
    inner: Arc<Inner>,
}

/// Attached to the MQTT session: at its deinit the handle forgets it, so later sends answer
/// `STATE_DM_MQTT_HANDLE_IS_NULL` as upstream's do.
struct Hooks {
    inner: Weak<Inner>,
    client: Weak<Client>,
}

impl Component for Hooks {
    fn on_deinit(&self) {
        if let Some(inner) = self.inner.upgrade() {
            let mut cfg = lock(&inner.cfg);
            if cfg
                .mqtt
                .as_ref()
                .is_some_and(|c| std::ptr::eq(Arc::as_ptr(c), self.client.as_ptr()))
            {
                cfg.mqtt = None;
            }
        }
    }
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
                    mqtt: None,
                }),
            }),
        }
    }

    /// Identifies this handle's topic handlers and component on the MQTT session.
    fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
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
        lock(&self.inner.cfg).mqtt = Some(client.clone());
        for (filter, route) in TOPICS {
            let weak = Arc::downgrade(&self.inner);
            let handler = RecvHandler {
                key: self.key(),
                call: Arc::new(move |recv: &MqttRecv<'_>, _userdata: Userdata| {
                    if let (Some(inner), MqttRecv::Pub { topic, payload, .. }) = (weak.upgrade(), recv) {
                        deliver(&inner, route, topic, payload);
                    }
                }),
            };
            client.attach_topic_handler(filter.as_bytes(), handler, 0)?;
        }
        let hooks = Hooks {
            inner: Arc::downgrade(&self.inner),
            client: Arc::downgrade(&client),
        };
        Ok(client.attach_component(self.key(), Arc::new(hooks))?)
    }

    fn detach(&self) {
        let old = lock(&self.inner.cfg).mqtt.take();
        if let Some(client) = old {
            for (filter, _) in TOPICS {
                client.detach_topic_handler(filter.as_bytes(), self.key());
            }
            let _ = client.detach_component(self.key());
        }
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
        let (client, post_reply) = {
            let cfg = lock(&self.inner.cfg);
            (cfg.mqtt.clone().ok_or(DmError::MqttHandleNull)?, cfg.post_reply)
        };
        let own_pk = client.product_key();
        let own_dn = client.device_name();
        let pk = product_key
            .or(own_pk.as_deref().map(str::as_bytes))
            .ok_or(Error::MissingProductKey)?;
        let dn = device_name
            .or(own_dn.as_deref().map(str::as_bytes))
            .ok_or(Error::MissingDeviceName)?;
        let up = message::build(msg, pk, dn, post_reply != 0, next_alink_id)?;
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
