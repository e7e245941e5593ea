//! The internal API that components (OTA, and every later one) use on an MQTT session:
//! hooks on session events, on every `aiot_mqtt_process` tick and at deinit (upstream's
//! process handlers), the process-wide alink id, and the handle's product key and device
//! name, and the topics built from them. Topic handlers without SUBSCRIBE
//! (`Client::attach_topic_handler`) and `Client::publish` complete it; `link` builds a
//! component handle's attachment from these.
//!
//! Hooks run with no library lock held, so a hook may call any `Client` method, including
//! attaching or detaching components and topic handlers.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use super::session::{lock, Client};
use super::Event;
use crate::error::{Error, Result};

/// A component's hooks on one MQTT session. Every method has an empty default.
pub trait Component: Send + Sync {
    /// After the user's event handler, for every CONNECT, RECONNECT and DISCONNECT; also
    /// CONNECT once when attached to a session that has ever connected.
    fn on_event(&self, _event: &Event) {}
    /// On every `aiot_mqtt_process` call, after the heartbeat and the QoS1 resend.
    fn on_tick(&self) {}
    /// Once, inside `aiot_mqtt_deinit` before the session is freed (calls made on the
    /// session from here fail with `STATE_USER_INPUT_EXEC_DISABLED`): forget the session.
    fn on_deinit(&self) {}
}

/// An attached component, identified by its key.
pub(super) struct ComponentEntry {
    key: usize,
    hooks: Arc<dyn Component>,
}

/// The last alink id handed out (0 before the first).
static ALINK_ID: AtomicI32 = AtomicI32::new(0);

/// The id after `id`: pre-incremented, wrapping from `i32::MAX` to 0, as upstream.
fn alink_id_after(id: i32) -> i32 {
    if id == i32::MAX {
        0
    } else {
        id + 1
    }
}

/// The next alink id (the `"id"` of requests), shared by every component and handle of the
/// process: 1, 2, ... 2147483647, then 0, 1, ...
pub fn next_alink_id() -> i32 {
    let mut current = ALINK_ID.load(Ordering::Relaxed);
    loop {
        let next = alink_id_after(current);
        match ALINK_ID.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => current = seen,
        }
    }
}

impl Client {
    /// Attaches a component's hooks under `key`; attaching the same key again replaces its
    /// hooks. When the session has ever connected, `on_event(CONNECT)` runs at once.
    pub fn attach_component(&self, key: usize, hooks: Arc<dyn Component>) -> Result<()> {
        let _g = self.enter()?;
        {
            let mut list = lock(&self.components);
            match list.iter_mut().find(|a| a.key == key) {
                Some(a) => a.hooks = hooks.clone(),
                None => list.push(ComponentEntry {
                    key,
                    hooks: hooks.clone(),
                }),
            }
        }
        let ever_connected = lock(&self.state).ever_connected;
        if ever_connected {
            hooks.on_event(&Event::Connect);
        }
        Ok(())
    }

    /// Removes the component attached under `key` (nothing if there is none).
    pub fn detach_component(&self, key: usize) -> Result<()> {
        let _g = self.enter()?;
        lock(&self.components).retain(|a| a.key != key);
        Ok(())
    }

    /// The product key set on this session, if any.
    pub fn product_key(&self) -> Option<String> {
        lock(&self.cfg).product_key.clone()
    }

    /// The device name set on this session, if any.
    pub fn device_name(&self) -> Option<String> {
        lock(&self.cfg).device_name.clone()
    }

    /// `{head}/{pk}/{dn}/{tail}` with this session's product key and device name (each empty
    /// when unset, as upstream formats a NULL).
    pub fn device_topic(&self, head: &str, tail: &str) -> String {
        let cfg = lock(&self.cfg);
        let pk = cfg.product_key.as_deref().unwrap_or_default();
        let dn = cfg.device_name.as_deref().unwrap_or_default();
        format!("{head}/{pk}/{dn}/{tail}")
    }

    /// The device a message is for: `product_key` and `device_name` as given, else this
    /// session's own (`MissingProductKey`, then `MissingDeviceName`, when there is neither).
    pub fn device_or(
        &self,
        product_key: Option<&[u8]>,
        device_name: Option<&[u8]>,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let cfg = lock(&self.cfg);
        let own = |v: &Option<String>| v.as_ref().map(|s| s.as_bytes().to_vec());
        let pk = product_key.map(<[u8]>::to_vec).or_else(|| own(&cfg.product_key));
        let dn = device_name.map(<[u8]>::to_vec).or_else(|| own(&cfg.device_name));
        Ok((
            pk.ok_or(Error::MissingProductKey)?,
            dn.ok_or(Error::MissingDeviceName)?,
        ))
    }

    /// The hooks attached now, copied so they run with the list's lock released.
    fn hooks(&self) -> Vec<Arc<dyn Component>> {
        lock(&self.components).iter().map(|a| a.hooks.clone()).collect()
    }

    pub(super) fn components_on_event(&self, event: &Event) {
        for hooks in self.hooks() {
            hooks.on_event(event);
        }
    }

    pub(super) fn components_on_tick(&self) {
        for hooks in self.hooks() {
            hooks.on_tick();
        }
    }

    /// Runs every deinit hook once and empties the list.
    pub(super) fn components_on_deinit(&self) {
        let list = std::mem::take(&mut *lock(&self.components));
        for a in list {
            a.hooks.on_deinit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alink_ids_wrap_from_i32_max_to_zero() {
        assert_eq!(alink_id_after(0), 1);
        assert_eq!(alink_id_after(41), 42);
        assert_eq!(alink_id_after(i32::MAX - 1), i32::MAX);
        assert_eq!(alink_id_after(i32::MAX), 0);
    }

    #[test]
    fn alink_ids_are_distinct_and_positive_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..500).map(|_| next_alink_id()).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<i32> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(all[0] >= 1);
    }
}
