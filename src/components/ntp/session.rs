//! One NTP handle: sends the request on its MQTT session, turns the answer into the local
//! time for the user's handler and rebases the log clock.
//!
//! Locks: `cfg` is taken alone and never held while calling the MQTT session or a user's
//! handler (nor is the link's). Calls are counted (`gate`) so that deinit waits for those in
//! progress, as upstream's exec counter does; the receive handler is not counted (a handler
//! may deinit the handle it was called for).

use crate::sync::{lock, Gate, DEINIT_POLL_MS};
use std::sync::{Arc, Mutex};

use super::codes::STATE_NTP_BASE;
use super::date::{local_time, LocalTime};
use super::response::{self, Refused};
use crate::error::{Error, Result};
use crate::log;
use crate::mqtt::link::{self, Leave, Link, Linked};
use crate::mqtt::{Client, Userdata};
use crate::sysdep::Port;

/// Code of the line logged for a refused response (the NTP module's base code; upstream's
/// module logs nothing).
const LOG_REFUSED: i32 = STATE_NTP_BASE;
const DEFAULT_DEINIT_TIMEOUT_MS: u32 = 2000;

/// What went wrong with a response (`aiot_ntp_event_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NtpEvent {
    InvalidResponse,
    InvalidTimeFormat,
}

/// The user's receive handler: the local time and the userdata.
pub type RecvFn = dyn Fn(&LocalTime, Userdata) + Send + Sync;
/// The user's event handler.
pub type EventFn = dyn Fn(NtpEvent, Userdata) + Send + Sync;

struct Config {
    zone: i8,
    deinit_timeout_ms: u32,
    recv: Option<Arc<RecvFn>>,
    event: Option<Arc<EventFn>>,
    userdata: Userdata,
}

struct Inner {
    port: Arc<dyn Port>,
    cfg: Mutex<Config>,
    gate: Gate,
    /// The session requests go out on, until the session is deinitialised (it then answers
    /// `STATE_NTP_MISSING_MQTT_HANDLE`), and our handler on its response topic.
    link: Link,
}

impl Linked for Inner {
    fn link(&self) -> &Link {
        &self.link
    }
}

/// An NTP handle.
pub struct Ntp {
    inner: Arc<Inner>,
}

/// The request and response topics' head: `/ext/ntp/{pk}/{dn}/...`.
const TOPIC_HEAD: &str = "/ext/ntp";

impl Ntp {
    /// `aiot_ntp_init`: time zone 0, deinit timeout 2000 ms; `port` gives time and sleep.
    pub fn new(port: Arc<dyn Port>) -> Ntp {
        Ntp {
            inner: Arc::new(Inner {
                port,
                cfg: Mutex::new(Config {
                    zone: 0,
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

    pub fn set_zone(&self, zone: i8) -> Result<()> {
        self.set(|c| c.zone = zone)
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

    /// Attaches to an MQTT session (leaving the previous one): the response topic, built from
    /// the session's product key and device name as they are now, gets our handler (no
    /// SUBSCRIBE), then the component hooks.
    pub fn set_mqtt(&self, client: Arc<Client>) -> Result<()> {
        let _g = self.inner.gate.enter()?;
        self.detach();
        self.inner.link.hold(&client);
        let response = client.device_topic(TOPIC_HEAD, "response");
        link::listen(&self.inner, &client, response.as_bytes(), |inner, _, payload| {
            deliver(inner, payload)
        })?;
        link::hook(&self.inner, &client)
    }

    /// Removes our handler and hooks from the session they are on (if any); the handle keeps
    /// the session, as upstream's keeps its MQTT handle.
    fn detach(&self) {
        link::leave(&self.inner, Leave::HandlersOnly);
    }

    /// `aiot_ntp_send_request`: publishes `{"deviceSendTime":"<port time ms>"}` on
    /// `/ext/ntp/{pk}/{dn}/request` (QoS0).
    pub fn send_request(&self) -> Result<()> {
        let client = self.inner.link.client().ok_or(Error::NtpMissingMqttHandle)?;
        let _g = self.inner.gate.enter()?;
        let payload = format!("{{\"deviceSendTime\":\"{}\"}}", self.inner.port.time_ms());
        client.publish(client.device_topic(TOPIC_HEAD, "request"), payload.as_bytes(), 0)?;
        Ok(())
    }

    /// `aiot_ntp_deinit` (first half): refuses new calls, leaves the MQTT session, then waits
    /// up to the deinit timeout for the calls in progress. On success the caller drops the
    /// handle; on a timeout it must keep it (every later call answers
    /// `STATE_USER_INPUT_EXEC_DISABLED`, as upstream's leaked handle does).
    pub fn shutdown(&self) -> Result<()> {
        if !self.inner.gate.close() {
            return Err(Error::ExecDisabled);
        }
        self.detach();
        let port = &self.inner.port;
        let timeout = u64::from(lock(&self.inner.cfg).deinit_timeout_ms);
        // Upstream's loop: looks, sleeps, until the timeout; then looks once more.
        let start = port.time_ms();
        loop {
            if self.inner.gate.idle() {
                return Ok(());
            }
            port.sleep_ms(DEINIT_POLL_MS);
            if port.time_ms().saturating_sub(start) >= timeout {
                break;
            }
        }
        if self.inner.gate.idle() {
            Ok(())
        } else {
            Err(Error::DeinitTimeout)
        }
    }
}

impl Drop for Ntp {
    fn drop(&mut self) {
        self.detach();
    }
}

/// Handles a response: rebases the log clock and hands the local time to the receive
/// handler, or logs why it was refused and raises the event. No lock is held meanwhile.
fn deliver(inner: &Inner, payload: &[u8]) {
    let now = inner.port.time_ms();
    let (zone, recv, event, userdata) = {
        let cfg = lock(&inner.cfg);
        (cfg.zone, cfg.recv.clone(), cfg.event.clone(), cfg.userdata)
    };
    match response::parse(payload).and_then(|t| response::utc_ms(&t, now)) {
        Ok(utc) => {
            log::set_clock(utc);
            if let Some(recv) = recv {
                recv(&local_time(utc, zone), userdata);
            }
        }
        Err(refused) => {
            log::line(
                LOG_REFUSED,
                &format!("NTP response refused: {}\r\n", refused.reason()),
            );
            if let Some(event) = event {
                event(
                    match refused {
                        Refused::InvalidResponse(_) => NtpEvent::InvalidResponse,
                        Refused::InvalidTimeFormat(_) => NtpEvent::InvalidTimeFormat,
                    },
                    userdata,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
