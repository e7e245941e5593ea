//! One diag handle: records the core's timings (the diagnostics tap, installed at init) while
//! started, evaluates them on the MQTT session's process ticks (at most every 2 s) and reports
//! alerts to the event handler and as device logs on `/sys/{pk}/{dn}/thing/log/post`.
//!
//! Where upstream differs (§17.4 item 8), this does what its header promises: collection and
//! reports run only between `aiot_diag_start` and `aiot_diag_stop`, an item whose config has
//! `enabled` 0 collects nothing, and data-model requests sent with `"ack":0` are not timed
//! (no reply will come; upstream reports each as a FATAL alert after a second).
//!
//! Locks: `cfg`, `items` and the link's are taken one at a time, never while publishing or
//! calling the user's handler; the tap only takes `items`.

use crate::sync::{lock, Gate};
use std::sync::{Arc, Mutex};

use super::codes::STATE_DIAG_PUB_FAILED;
use super::eval::{Alert, Config, Item, Kind};
use crate::error::{Error, Result};
use crate::log;
use crate::mqtt::diagtap::{self, Tap};
use crate::mqtt::link::{self, Leave, Link, Linked};
use crate::mqtt::{next_alink_id, Client, Event, Userdata};
use crate::sysdep::Port;

/// Evaluation runs at most this often (log clock).
const CHECK_INTERVAL_MS: u64 = 2000;
const DEFAULT_DEINIT_TIMEOUT_MS: u64 = 2000;

/// The user's event handler: module name, level and description of an alert.
pub type EventFn = dyn Fn(&str, &str, &str, Userdata) + Send + Sync;

struct Cfg {
    local: u8,
    cloud: u8,
    event: Option<Arc<EventFn>>,
    userdata: Userdata,
}

struct Items {
    items: [Item; 3],
    started: bool,
    last_check: Option<u64>,
}

struct Inner {
    port: Arc<dyn Port>,
    cfg: Mutex<Cfg>,
    items: Mutex<Items>,
    gate: Gate,
    /// The session evaluated on and reported to, until its deinit.
    link: Link,
}

impl Linked for Inner {
    fn link(&self) -> &Link {
        &self.link
    }

    fn on_event(self: &Arc<Self>, client: &Arc<Client>, _event: &Event) {
        check(self, client);
    }

    fn on_tick(self: &Arc<Self>, client: &Arc<Client>) {
        check(self, client);
    }
}

/// A diag handle.
pub struct Diag {
    inner: Arc<Inner>,
}

/// Records a tap report while started, in the item it belongs to (if enabled).
fn record(inner: &Inner, now: u64, what: Tap) {
    let mut s = lock(&inner.items);
    if !s.started {
        return;
    }
    let (kind, start, id) = match what {
        Tap::ConnectStart => (Kind::Connection, true, None),
        Tap::ConnectDone => (Kind::Connection, false, None),
        Tap::PingSent => (Kind::Heartbeat, true, None),
        Tap::PingAnswered => (Kind::Heartbeat, false, None),
        Tap::AlinkRequest(id) => (Kind::AlinkUplink, true, Some(id)),
        Tap::AlinkReply(id) => (Kind::AlinkUplink, false, Some(id)),
    };
    let item = &mut s.items[kind as usize];
    if item.config.enabled == 0 {
        return;
    }
    if start {
        item.start(now, id);
    } else {
        item.stop(now, id);
    }
}

/// Evaluates (at most every 2 s) and reports what is due.
fn check(inner: &Inner, client: &Client) {
    let now = log::clock_ms();
    let alerts: Vec<Alert> = {
        let mut s = lock(&inner.items);
        if !s.started {
            return;
        }
        // The first tick after a start evaluates at once, then every 2 s (a clock that went
        // back restarts the count).
        let last = s.last_check.map(|t| t.min(now));
        if last.is_some_and(|t| now - t < CHECK_INTERVAL_MS) {
            return;
        }
        s.last_check = Some(now);
        s.items.iter_mut().flat_map(|i| i.evaluate(now)).collect()
    };
    for alert in &alerts {
        report(inner, client, alert, now);
    }
}

fn report(inner: &Inner, client: &Client, alert: &Alert, now: u64) {
    let (local, cloud, event, userdata) = {
        let c = lock(&inner.cfg);
        (c.local, c.cloud, c.event.clone(), c.userdata)
    };
    let module = alert.kind.module();
    if local == 1 {
        if let Some(event) = event {
            event(module, alert.level.as_str(), &alert.desc, userdata);
        }
    }
    if cloud == 1 {
        let id = next_alink_id();
        let payload = format!(
            "{{\"id\":\"{id}\",\"version\":\"1.0\",\"params\":[{{\"utcTime\":\"{now}\",\"logLevel\":\"{}\",\"module\":\"{module}\",\"code\":\"{}\",\"traceContext\":\"{id}\",\"logContent\":\"{}\"}}]}}",
            alert.level.as_str(),
            alert.kind.code(),
            alert.desc
        );
        let topic = client.device_topic("/sys", "thing/log/post");
        if client
            .publish(topic, payload.as_bytes(), alert.kind.qos())
            .is_err()
        {
            log::line(STATE_DIAG_PUB_FAILED, "pub failed\r\n");
        }
    }
}

impl Diag {
    /// `aiot_diag_init`: local and cloud reports on, upstream's thresholds; installs the
    /// process-wide tap (replacing another handle's).
    pub fn new(port: Arc<dyn Port>) -> Diag {
        let inner = Arc::new(Inner {
            port,
            cfg: Mutex::new(Cfg {
                local: 1,
                cloud: 1,
                event: None,
                userdata: 0,
            }),
            items: Mutex::new(Items {
                items: Kind::ALL.map(Item::new),
                started: false,
                last_check: None,
            }),
            gate: Gate::new(),
            link: Link::new(),
        });
        let weak = Arc::downgrade(&inner);
        diagtap::install(
            link::key(&inner),
            Arc::new(move |now: u64, what: Tap| {
                if let Some(inner) = weak.upgrade() {
                    record(&inner, now, what);
                }
            }),
        );
        Diag { inner }
    }

    fn key(&self) -> usize {
        link::key(&self.inner)
    }

    fn set(&self, f: impl FnOnce(&mut Cfg)) -> Result<()> {
        let _g = self.inner.gate.enter()?;
        f(&mut lock(&self.inner.cfg));
        Ok(())
    }

    pub fn set_local(&self, on: u8) -> Result<()> {
        self.set(|c| c.local = on)
    }

    pub fn set_cloud(&self, on: u8) -> Result<()> {
        self.set(|c| c.cloud = on)
    }

    pub fn set_event_handler(&self, h: Arc<EventFn>) -> Result<()> {
        self.set(|c| c.event = Some(h))
    }

    pub fn set_userdata(&self, u: Userdata) -> Result<()> {
        self.set(|c| c.userdata = u)
    }

    /// `AIOT_DIAGOPT_MQTT_CONNECTION` / `_HEARTBEAT` / `ALINK_UPLINK`.
    pub fn set_config(&self, kind: Kind, config: Config) -> Result<()> {
        let _g = self.inner.gate.enter()?;
        lock(&self.inner.items).items[kind as usize].config = config;
        Ok(())
    }

    /// `AIOT_DIAGOPT_MQTT_HANDLE`: evaluates on this session's process ticks and reports on it.
    pub fn set_mqtt(&self, client: Arc<Client>) -> Result<()> {
        let _g = self.inner.gate.enter()?;
        self.detach();
        self.inner.link.hold(&client);
        link::hook(&self.inner, &client)
    }

    fn detach(&self) {
        link::leave(&self.inner, Leave::Session);
    }

    /// `aiot_diag_start`: collection and reports run from now on.
    pub fn start(&self) {
        let mut s = lock(&self.inner.items);
        s.started = true;
    }

    /// `aiot_diag_stop`: nothing more is collected or reported; the records are dropped.
    pub fn stop(&self) {
        let mut s = lock(&self.inner.items);
        s.started = false;
        s.last_check = None;
        for item in s.items.iter_mut() {
            let config = item.config;
            *item = Item::new(item.kind);
            item.config = config;
        }
    }

    /// `aiot_diag_deinit` (first half): removes the tap and the hooks, refuses new calls and
    /// waits for those in progress.
    pub fn shutdown(&self) -> Result<()> {
        if !self.inner.gate.is_open() {
            return Err(Error::ExecDisabled);
        }
        diagtap::remove(self.key());
        self.detach();
        self.inner.gate.close();
        if self
            .inner
            .gate
            .wait_idle(self.inner.port.as_ref(), DEFAULT_DEINIT_TIMEOUT_MS)
        {
            Ok(())
        } else {
            Err(Error::DeinitTimeout)
        }
    }
}

impl Drop for Diag {
    fn drop(&mut self) {
        diagtap::remove(self.key());
        self.detach();
    }
}
