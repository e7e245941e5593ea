//! Device tags (`aiot_devinfo_api.h`): update, delete and get the device's tags over an MQTT
//! session. Requests go out on `/sys/{pk}/{dn}/thing/deviceinfo/{update,delete,get}` with the
//! process-wide alink id; `update_reply` and `delete_reply` come in through two topic handlers
//! (no SUBSCRIBE), `get_reply` through a real SUBSCRIBE sent when the MQTT handle is set (its
//! packet id is what that setopt returns, as upstream's).
//!
//! Locks: `cfg` is taken alone and never held while calling the MQTT session or a user's
//! handler (nor is the link's). Calls are counted (`gate`) so that deinit waits for those in
//! progress, as upstream's exec counter does; the handlers are not counted (a handler may
//! deinit the handle it was called for).
//!
//! - `downlink`: what a reply hands to the receive handler, or the event it raises;
//! - `codes`: `STATE_DEVINFO_*`.

#![forbid(unsafe_code)]

pub mod codes;
pub mod downlink;

use crate::sync::{lock, Gate};
use std::sync::{Arc, Mutex};

use codes::*;
pub use downlink::{Invalid, Reply};

use crate::error::{Error, Result};
use crate::log;
use crate::mqtt::link::{self, Leave, Link, Linked};
use crate::mqtt::{next_alink_id, Client, RecvHandler, Userdata};
use crate::sysdep::Port;

/// Code of the line logged for a refused reply (the module's base code; upstream's module logs
/// nothing).
const LOG_REFUSED: i32 = STATE_DEVINFO_BASE;
const DEFAULT_DEINIT_TIMEOUT_MS: u32 = 2000;
/// The topic handlers, upstream's two.
const REPLY_FILTERS: [&str; 2] = [
    "/sys/+/+/thing/deviceinfo/update_reply",
    "/sys/+/+/thing/deviceinfo/delete_reply",
];

/// A request (`aiot_devinfo_msg_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Update,
    Delete,
    Get,
}

impl Op {
    fn leaf(self) -> &'static str {
        match self {
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Get => "get",
        }
    }
}

/// What a send can fail with; [`SendError::code`] maps it to upstream's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// No MQTT session attached (or it was freed).
    MissingMqttHandle,
    /// From the MQTT core and the argument checks.
    Core(Error),
}

impl SendError {
    /// The upstream `STATE_*` code.
    pub fn code(self) -> i32 {
        match self {
            SendError::MissingMqttHandle => STATE_DEVINFO_MISSING_MQTT_HANDLE,
            SendError::Core(e) => e.code(),
        }
    }
}

impl From<Error> for SendError {
    fn from(e: Error) -> Self {
        SendError::Core(e)
    }
}

/// Which reply a message is (`aiot_devinfo_recv_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    Generic,
    Get,
}

/// The user's receive handler.
pub type RecvFn = dyn Fn(ReplyKind, &Reply<'_>, Userdata) + Send + Sync;
/// The user's event handler.
pub type EventFn = dyn Fn(Invalid, Userdata) + Send + Sync;

struct Config {
    deinit_timeout_ms: u32,
    recv: Option<Arc<RecvFn>>,
    event: Option<Arc<EventFn>>,
    userdata: Userdata,
}

struct Inner {
    port: Arc<dyn Port>,
    cfg: Mutex<Config>,
    gate: Gate,
    /// The session, until its deinit (a later send then answers
    /// `STATE_DEVINFO_MISSING_MQTT_HANDLE`), and our handlers on it.
    link: Link,
}

impl Linked for Inner {
    fn link(&self) -> &Link {
        &self.link
    }
}

/// A device-tag handle.
pub struct Devinfo {
    inner: Arc<Inner>,
}

impl Devinfo {
    /// `aiot_devinfo_init`: deinit timeout 2000 ms; `port` gives time and sleep.
    pub fn new(port: Arc<dyn Port>) -> Devinfo {
        Devinfo {
            inner: Arc::new(Inner {
                port,
                cfg: Mutex::new(Config {
                    deinit_timeout_ms: DEFAULT_DEINIT_TIMEOUT_MS,
                    recv: None,
                    event: None,
                    userdata: 0,
                }),
                gate: Gate::new(),
                link: Link::new(),
            }),
        }
    }

    fn set(&self, f: impl FnOnce(&mut Config)) -> Result<()> {
        let _g = self.inner.gate.enter()?;
        f(&mut lock(&self.inner.cfg));
        Ok(())
    }

    pub fn set_recv_handler(&self, handler: Arc<RecvFn>) -> Result<()> {
        self.set(|c| c.recv = Some(handler))
    }

    pub fn set_event_handler(&self, handler: Arc<EventFn>) -> Result<()> {
        self.set(|c| c.event = Some(handler))
    }

    pub fn set_userdata(&self, userdata: Userdata) -> Result<()> {
        self.set(|c| c.userdata = userdata)
    }

    pub fn set_deinit_timeout_ms(&self, ms: u32) -> Result<()> {
        self.set(|c| c.deinit_timeout_ms = ms)
    }

    fn handler(&self, kind: ReplyKind) -> RecvHandler {
        link::handler(&self.inner, move |inner, topic, payload| {
            deliver(inner, kind, topic, payload)
        })
    }

    /// Attaches to an MQTT session (leaving the previous one): the two reply handlers, the
    /// component, then SUBSCRIBE (QoS0) to `/sys/{pk}/{dn}/thing/deviceinfo/get_reply` with the
    /// session's product key and device name. Returns the SUBSCRIBE's packet id, or the first
    /// error (not connected: `STATE_SYS_DEPEND_NWK_CLOSED`, the handler staying registered).
    pub fn set_mqtt(&self, client: Arc<Client>) -> Result<i32> {
        let _g = self.inner.gate.enter()?;
        self.detach();
        self.inner.link.hold(&client);
        for filter in REPLY_FILTERS {
            link::listen(
                &self.inner,
                &client,
                filter.as_bytes(),
                |inner, topic, payload| deliver(inner, ReplyKind::Generic, topic, payload),
            )?;
        }
        link::hook(&self.inner, &client)?;
        let get_reply = client.device_topic("/sys", "thing/deviceinfo/get_reply");
        link::remember(&self.inner, get_reply.as_bytes());
        let id = client.subscribe(&get_reply, Some(self.handler(ReplyKind::Get)), 0, 0)?;
        Ok(i32::from(id))
    }

    /// Removes our handlers and hooks from the session they are on; the handle keeps the
    /// session, as upstream's keeps its MQTT handle. The get_reply subscription stays with the
    /// broker (upstream never unsubscribes); only our handler on it goes, so nothing reaches a
    /// freed handle.
    fn detach(&self) {
        link::leave(&self.inner, Leave::HandlersOnly);
    }

    /// `aiot_devinfo_send`: publishes `{"id":"<alink id>","version":"1.0","params":<params>}`
    /// (QoS0) on `/sys/{pk}/{dn}/thing/deviceinfo/<op>`; the message's product key and device
    /// name are required (no fallback to the session's, as upstream). `op` `None` is a type
    /// out of range. Returns the alink id.
    pub fn send(
        &self,
        op: Option<Op>,
        params: Option<&[u8]>,
        product_key: Option<&[u8]>,
        device_name: Option<&[u8]>,
    ) -> std::result::Result<i32, SendError> {
        let client = self.inner.link.client().ok_or(SendError::MissingMqttHandle)?;
        let pk = product_key.ok_or(Error::MissingProductKey)?;
        let dn = device_name.ok_or(Error::MissingDeviceName)?;
        let op = op.ok_or(Error::UnknownOption)?;
        let params = params.ok_or(Error::NullPointer)?;
        let id = next_alink_id();
        let mut topic = b"/sys/".to_vec();
        for part in [pk, b"/", dn, b"/thing/deviceinfo/", op.leaf().as_bytes()] {
            topic.extend_from_slice(part);
        }
        let mut payload = format!("{{\"id\":\"{id}\",\"version\":\"1.0\",\"params\":").into_bytes();
        payload.extend_from_slice(params);
        payload.push(b'}');
        client.publish(topic.as_slice(), &payload, 0)?;
        Ok(id)
    }

    /// `aiot_devinfo_deinit` (first half): refuses new calls, leaves the MQTT session, then
    /// waits up to the deinit timeout for the calls in progress. On success the caller drops
    /// the handle; on a timeout it must keep it.
    pub fn shutdown(&self) -> Result<()> {
        if !self.inner.gate.close() {
            return Err(Error::ExecDisabled);
        }
        self.detach();
        let timeout = u64::from(lock(&self.inner.cfg).deinit_timeout_ms);
        if self.inner.gate.wait_idle(self.inner.port.as_ref(), timeout) {
            Ok(())
        } else {
            Err(Error::DeinitTimeout)
        }
    }
}

impl Drop for Devinfo {
    fn drop(&mut self) {
        self.detach();
    }
}

/// Handles a reply: hands it to the receive handler, or logs why it was refused and raises
/// the event. Without a receive handler nothing happens at all, as upstream. No lock is held
/// meanwhile.
fn deliver(inner: &Inner, kind: ReplyKind, topic: &[u8], payload: &[u8]) {
    let (recv, event, userdata) = {
        let cfg = lock(&inner.cfg);
        (cfg.recv.clone(), cfg.event.clone(), cfg.userdata)
    };
    let Some(recv) = recv else {
        return;
    };
    match downlink::parse(topic, payload) {
        Ok(reply) => recv(kind, &reply, userdata),
        Err(refused) => {
            log::line_bytes(
                LOG_REFUSED,
                &[
                    b"DEVINFO reply refused: ",
                    refused.1.as_bytes(),
                    b", topic ",
                    topic,
                    b"\r\n",
                ],
            );
            if let Some(event) = event {
                event(refused.0, userdata);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_checks_in_upstreams_order() {
        let d = Devinfo::new(Arc::new(crate::sysdep::posix::PosixPort));
        assert_eq!(d.send(None, None, None, None), Err(SendError::MissingMqttHandle));
        assert_eq!(SendError::MissingMqttHandle.code(), -0x1201);
        assert_eq!(SendError::Core(Error::UnknownOption).code(), -0x0103);
        assert!(d.shutdown().is_ok());
        assert_eq!(d.shutdown(), Err(Error::ExecDisabled));
        assert_eq!(d.set_userdata(1), Err(Error::ExecDisabled));
    }
}
