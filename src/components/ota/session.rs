//! One OTA handle: attaches to an MQTT session, turns pushes into tasks for the user's
//! handler, and publishes version reports and firmware queries.

use crate::sync::lock;
use std::sync::{Arc, Mutex};

use super::codes::*;
use super::message::{self, Kind, TaskDesc};
use crate::error::{Error, Result};
use crate::log;
use crate::mqtt::link::{self, Leave, Link, Linked};
use crate::mqtt::{Client, Userdata};

/// The topics a device receives OTA pushes on (local topic maps, no SUBSCRIBE: the platform
/// delivers a device's system topics by itself, as Aliyun does).
pub const PUSH_TOPICS: [&str; 4] = [
    "/ota/device/upgrade/+/+",
    "/sys/+/+/thing/config/push",
    "/sys/+/+/thing/config/get_reply",
    "/sys/+/+/thing/ota/firmware/get_reply",
];

/// The user's OTA receive handler: message kind, the task (one call per file), userdata, and
/// the opaque MQTT handle given with `set_mqtt` (0 when none).
pub type OtaFn = dyn Fn(Kind, &TaskDesc, Userdata, usize) + Send + Sync;

#[derive(Default)]
struct Config {
    handler: Option<Arc<OtaFn>>,
    userdata: Userdata,
    module: Option<String>,
    /// The caller's opaque token for the session held (the C MQTT handle, handed back in
    /// every task); 0 while none is.
    mqtt_handle: usize,
}

/// Locks: `cfg` is taken alone and never held while calling the MQTT session or the user's
/// handler (nor is the link's).
struct Inner {
    cfg: Mutex<Config>,
    /// The session the handle travels on, until its deinit (later calls then answer as
    /// without a session), and our push handlers on it.
    link: Link,
}

impl Linked for Inner {
    fn link(&self) -> &Link {
        &self.link
    }

    fn on_forget(self: &Arc<Self>) {
        lock(&self.cfg).mqtt_handle = 0;
    }
}

/// An OTA handle.
pub struct Ota {
    inner: Arc<Inner>,
}

impl Default for Ota {
    fn default() -> Self {
        Self::new()
    }
}

impl Ota {
    pub fn new() -> Ota {
        Ota {
            inner: Arc::new(Inner {
                cfg: Mutex::new(Config::default()),
                link: Link::new(),
            }),
        }
    }

    pub fn set_handler(&self, handler: Arc<OtaFn>) {
        lock(&self.inner.cfg).handler = Some(handler);
    }

    pub fn set_userdata(&self, userdata: Userdata) {
        lock(&self.inner.cfg).userdata = userdata;
    }

    pub fn set_module(&self, module: String) {
        lock(&self.inner.cfg).module = Some(module);
    }

    /// Attaches to an MQTT session (detaching from the previous one): the push topic handlers
    /// (no SUBSCRIBE), then the component. `handle` is an opaque token handed back in tasks.
    pub fn set_mqtt(&self, client: Arc<Client>, handle: usize) -> Result<()> {
        self.detach();
        for topic in PUSH_TOPICS {
            link::listen(&self.inner, &client, topic.as_bytes(), |inner, topic, payload| {
                deliver(inner, topic, payload)
            })?;
        }
        self.inner.link.hold(&client);
        lock(&self.inner.cfg).mqtt_handle = handle;
        link::hook(&self.inner, &client)
    }

    fn detach(&self) {
        link::leave(&self.inner, Leave::Session);
        lock(&self.inner.cfg).mqtt_handle = 0;
    }

    fn mqtt(&self, missing: Error) -> Result<(Arc<Client>, Option<String>)> {
        let client = self.inner.link.client().ok_or(missing)?;
        Ok((client, lock(&self.inner.cfg).module.clone()))
    }

    /// `aiot_ota_report_version`: pk/dn from the MQTT session's options.
    pub fn report_version(&self, version: &str) -> Result<()> {
        let (client, module) = self.mqtt(Error::Download(STATE_OTA_REPORT_MQTT_HANDLE_IS_NULL))?;
        let (pk, dn) = device(&client)?;
        super::report_version(&client, &pk, &dn, version, module.as_deref())
    }

    /// `aiot_ota_report_version_ext`: for another device (a gateway's sub-device); no module.
    pub fn report_version_ext(&self, pk: &str, dn: &str, version: &str) -> Result<()> {
        let (client, _) = self.mqtt(Error::Download(STATE_OTA_REPORT_EXT_MQTT_HANDLE_IS_NULL))?;
        super::report_version(&client, pk, dn, version, None)
    }

    /// `aiot_ota_query_firmware`. Without an MQTT session there is no product key or device
    /// name: `STATE_USER_INPUT_NULL_POINTER`, as upstream's publish answers.
    pub fn query_firmware(&self) -> Result<()> {
        let (client, module) = self.mqtt(Error::NullPointer)?;
        let (pk, dn) = device(&client)?;
        super::query_firmware(&client, &pk, &dn, module.as_deref())
    }
}

impl Drop for Ota {
    fn drop(&mut self) {
        self.detach();
    }
}

fn device(client: &Client) -> Result<(String, String)> {
    match (client.product_key(), client.device_name()) {
        (Some(pk), Some(dn)) => Ok((pk, dn)),
        _ => Err(Error::NullPointer),
    }
}

/// Parses a push and hands each task to the user's handler; a refused push is logged.
fn deliver(inner: &Inner, topic: &[u8], payload: &[u8]) {
    let topic = String::from_utf8_lossy(topic);
    let (handler, userdata, mqtt_handle) = {
        let cfg = lock(&inner.cfg);
        (cfg.handler.clone(), cfg.userdata, cfg.mqtt_handle)
    };
    match message::parse_push(&topic, payload) {
        Ok((kind, tasks)) => {
            if let Some(h) = handler {
                for task in &tasks {
                    h(kind, task, userdata, mqtt_handle);
                }
            }
        }
        Err(refused) => {
            log::line(
                STATE_OTA_PARSE_JSON_ERROR,
                &format!("OTA push on {topic} refused: {}\r\n", refused.0),
            );
        }
    }
}
