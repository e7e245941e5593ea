//! One NTP handle: sends the request on its MQTT session, turns the answer into the local
//! time for the user's handler and rebases the log clock.
//!
//! Locks: `cfg` is taken alone and never held while calling the MQTT session or a user's
//! handler. Calls are counted (`in_flight`) so that deinit waits for those in progress, as
//! upstream's exec counter does; the receive handler is not counted (a handler may deinit the
//! handle it was called for).

use crate::sync::{lock, InFlight};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::codes::STATE_NTP_BASE;
use super::date::{local_time, LocalTime};
use super::response::{self, Refused};
use crate::error::{Error, Result};
use crate::log;
use crate::mqtt::{Client, Component, Recv, RecvHandler, Userdata};
use crate::sysdep::Port;

/// Code of the line logged for a refused response (the NTP module's base code; upstream's
/// module logs nothing).
const LOG_REFUSED: i32 = STATE_NTP_BASE;
/// Deinit checks for calls in progress this often.
const DEINIT_POLL_MS: u64 = 100;
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
    /// The session requests go out on, until the session is deinitialised.
    mqtt: Option<Arc<Client>>,
    /// The response topic our handler is attached to on `mqtt`, while attached.
    attached: Option<Vec<u8>>,
}

struct Inner {
    port: Arc<dyn Port>,
    cfg: Mutex<Config>,
    exec_enabled: AtomicBool,
    in_flight: AtomicU32,
}

/// An NTP handle.
pub struct Ntp {
    inner: Arc<Inner>,
}

/// The component on the MQTT session: at the session's deinit the handle forgets it, so a
/// later request answers `STATE_NTP_MISSING_MQTT_HANDLE`.
struct Hooks {
    inner: Weak<Inner>,
    client: Weak<Client>,
}

impl Component for Hooks {
    fn on_deinit(&self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let mut cfg = lock(&inner.cfg);
        let ours = cfg
            .mqtt
            .as_ref()
            .is_some_and(|c| std::ptr::eq(Arc::as_ptr(c), self.client.as_ptr()));
        if ours {
            cfg.mqtt = None;
            cfg.attached = None;
        }
    }
}

/// `/ext/ntp/{pk}/{dn}/<leaf>` with the session's product key and device name (empty when
/// unset, as upstream formats a NULL).
fn topic(client: &Client, leaf: &str) -> String {
    let pk = client.product_key().unwrap_or_default();
    let dn = client.device_name().unwrap_or_default();
    format!("/ext/ntp/{pk}/{dn}/{leaf}")
}

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
                    mqtt: None,
                    attached: None,
                }),
                exec_enabled: AtomicBool::new(true),
                in_flight: AtomicU32::new(0),
            }),
        }
    }

    /// Identifies this handle's topic handler and component on the MQTT session.
    fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// Counts a call in progress; fails once deinit has started.
    fn enter(&self) -> Result<InFlight<'_>> {
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(&self.inner.in_flight);
        if self.inner.exec_enabled.load(Ordering::SeqCst) {
            Ok(guard)
        } else {
            Err(Error::ExecDisabled)
        }
    }

    fn set(&self, f: impl FnOnce(&mut Config)) -> Result<()> {
        let _g = self.enter()?;
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
        let _g = self.enter()?;
        self.detach();
        lock(&self.inner.cfg).mqtt = Some(client.clone());
        let weak = Arc::downgrade(&self.inner);
        let handler = RecvHandler {
            key: self.key(),
            call: Arc::new(move |recv: &Recv<'_>, _userdata: Userdata| {
                if let (Some(inner), Recv::Pub { payload, .. }) = (weak.upgrade(), recv) {
                    deliver(&inner, payload);
                }
            }),
        };
        let response = topic(&client, "response").into_bytes();
        client.attach_topic_handler(&response, handler, 0)?;
        lock(&self.inner.cfg).attached = Some(response);
        let hooks = Hooks {
            inner: Arc::downgrade(&self.inner),
            client: Arc::downgrade(&client),
        };
        client.attach_component(self.key(), Arc::new(hooks))
    }

    /// Removes our handler and hooks from the session they are on (if any).
    fn detach(&self) {
        let (client, attached) = {
            let mut cfg = lock(&self.inner.cfg);
            (cfg.mqtt.clone(), cfg.attached.take())
        };
        if let Some(client) = client {
            if let Some(response) = attached {
                client.detach_topic_handler(&response, self.key());
            }
            let _ = client.detach_component(self.key());
        }
    }

    /// `aiot_ntp_send_request`: publishes `{"deviceSendTime":"<port time ms>"}` on
    /// `/ext/ntp/{pk}/{dn}/request` (QoS0).
    pub fn send_request(&self) -> Result<()> {
        let client = lock(&self.inner.cfg)
            .mqtt
            .clone()
            .ok_or(Error::NtpMissingMqttHandle)?;
        let _g = self.enter()?;
        let payload = format!("{{\"deviceSendTime\":\"{}\"}}", self.inner.port.time_ms());
        client.publish(topic(&client, "request"), payload.as_bytes(), 0)?;
        Ok(())
    }

    /// `aiot_ntp_deinit` (first half): refuses new calls, leaves the MQTT session, then waits
    /// up to the deinit timeout for the calls in progress. On success the caller drops the
    /// handle; on a timeout it must keep it (every later call answers
    /// `STATE_USER_INPUT_EXEC_DISABLED`, as upstream's leaked handle does).
    pub fn shutdown(&self) -> Result<()> {
        if !self.inner.exec_enabled.swap(false, Ordering::SeqCst) {
            return Err(Error::ExecDisabled);
        }
        self.detach();
        let port = &self.inner.port;
        let timeout = u64::from(lock(&self.inner.cfg).deinit_timeout_ms);
        let start = port.time_ms();
        loop {
            if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                return Ok(());
            }
            port.sleep_ms(DEINIT_POLL_MS);
            if port.time_ms().saturating_sub(start) >= timeout {
                break;
            }
        }
        if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
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
