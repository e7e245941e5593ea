//! One OTA handle: attaches to an MQTT session, turns pushes into tasks for the user's
//! handler, and publishes version reports and firmware queries.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::codes::*;
use super::message::{self, Kind, TaskDesc};
use crate::error::{Error, Result};
use crate::log;
use crate::mqtt::{Client, MqttOption, Recv, RecvHandler, Userdata};

/// The topics a device receives OTA pushes on (local topic maps, no SUBSCRIBE: the platform
/// delivers a device's system topics by itself, as Aliyun does).
pub const PUSH_TOPICS: [&str; 4] = [
    "/ota/device/upgrade/+/+",
    "/sys/+/+/thing/config/push",
    "/sys/+/+/thing/config/get_reply",
    "/sys/+/+/thing/ota/firmware/get_reply",
];

/// The user's OTA receive handler: message kind, the task (one call per file), userdata.
pub type OtaFn = dyn Fn(Kind, &TaskDesc, Userdata) + Send + Sync;

#[derive(Default)]
struct Config {
    handler: Option<Arc<OtaFn>>,
    userdata: Userdata,
    module: Option<String>,
    mqtt: Option<Arc<Client>>,
}

struct Inner {
    cfg: Mutex<Config>,
}

/// An OTA handle.
pub struct Ota {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
            }),
        }
    }

    /// Identifies this handle's topic-map handlers on the MQTT session.
    fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
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

    /// Attaches to an MQTT session (detaching from the previous one): adds the push topic
    /// maps whose handler parses pushes for this handle.
    pub fn set_mqtt(&self, client: Arc<Client>) -> Result<()> {
        self.detach();
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let handler = RecvHandler {
            key: self.key(),
            call: Arc::new(move |recv: &Recv<'_>, _userdata: Userdata| {
                if let (Some(inner), Recv::Pub { topic, payload, .. }) = (weak.upgrade(), recv) {
                    deliver(&inner, topic, payload);
                }
            }),
        };
        for topic in PUSH_TOPICS {
            client.setopt(MqttOption::AppendTopicMap {
                topic: topic.as_bytes().to_vec(),
                handler: Some(handler.clone()),
                userdata: 0,
            })?;
        }
        lock(&self.inner.cfg).mqtt = Some(client);
        Ok(())
    }

    fn detach(&self) {
        let old = lock(&self.inner.cfg).mqtt.take();
        if let Some(client) = old {
            for topic in PUSH_TOPICS {
                let _ = client.setopt(MqttOption::RemoveTopicMap {
                    topic: topic.as_bytes().to_vec(),
                    handler_key: self.key(),
                });
            }
        }
    }

    fn mqtt(&self, missing: Error) -> Result<(Arc<Client>, Option<String>)> {
        let cfg = lock(&self.inner.cfg);
        match &cfg.mqtt {
            Some(c) => Ok((c.clone(), cfg.module.clone())),
            None => Err(missing),
        }
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
    match client.device() {
        (Some(pk), Some(dn)) => Ok((pk, dn)),
        _ => Err(Error::NullPointer),
    }
}

/// Parses a push and hands each task to the user's handler; a refused push is logged.
fn deliver(inner: &Inner, topic: &[u8], payload: &[u8]) {
    let topic = String::from_utf8_lossy(topic);
    let (handler, userdata) = {
        let cfg = lock(&inner.cfg);
        (cfg.handler.clone(), cfg.userdata)
    };
    match message::parse_push(&topic, payload) {
        Ok((kind, tasks)) => {
            if let Some(h) = handler {
                for task in &tasks {
                    h(kind, task, userdata);
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
