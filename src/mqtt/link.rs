//! A component handle's link to the MQTT session it works on (its `*_MQTT_HANDLE` option): the
//! session it holds, the topic handlers it registered there, and the hooks that make it forget
//! the session at that session's deinit. The MQTT-attached components (all but mqtt_download,
//! whose session comes with its task) keep one [`Link`] in the state a handle shares with its
//! handlers and hooks, and implement [`Linked`] on it.
//!
//! A handle attaches in the order its upstream does, from these steps: [`leave`] the previous
//! session, [`Link::hold`] the new one, [`listen`] on its topics, [`hook`] its hooks. Handlers
//! and hooks reach the handle through a weak reference, so they never keep a freed handle
//! alive, and are identified on the session by the handle's address ([`key`]).
//!
//! Locks: the link's lock is taken alone, never while calling the session, a hook or a
//! handler.

use std::sync::{Arc, Mutex, Weak};

use super::component::Component;
use super::session::{lock, Client};
use super::{Event, Recv, RecvHandler, Userdata};
use crate::error::Result;

/// The shared state of a handle that attaches to an MQTT session. The hooks' default bodies
/// do nothing.
pub trait Linked: Send + Sync + 'static {
    /// The handle's link.
    fn link(&self) -> &Link;
    /// A CONNECT, RECONNECT or DISCONNECT of the session the handle holds
    /// ([`Component::on_event`]).
    fn on_event(self: &Arc<Self>, _client: &Arc<Client>, _event: &Event) {}
    /// An `aiot_mqtt_process` tick of the session the handle holds.
    fn on_tick(self: &Arc<Self>, _client: &Arc<Client>) {}
    /// Right after the session's deinit made the handle forget it.
    fn on_forget(self: &Arc<Self>) {}
}

#[derive(Default)]
struct Held {
    client: Option<Arc<Client>>,
    /// The filters of the topic handlers registered on `client`.
    filters: Vec<Vec<u8>>,
}

/// The session a handle holds, and where its topic handlers are.
#[derive(Default)]
pub struct Link {
    held: Mutex<Held>,
}

impl Link {
    pub fn new() -> Link {
        Link::default()
    }

    /// The session held, if any.
    pub fn client(&self) -> Option<Arc<Client>> {
        lock(&self.held).client.clone()
    }

    /// Holds `client` from now on (after [`leave`]).
    pub fn hold(&self, client: &Arc<Client>) {
        lock(&self.held).client = Some(client.clone());
    }

    fn holds(&self, client: &Weak<Client>) -> bool {
        lock(&self.held)
            .client
            .as_ref()
            .is_some_and(|c| std::ptr::eq(Arc::as_ptr(c), client.as_ptr()))
    }

    /// At `client`'s deinit: forgets it if it is the session held. Whether it was.
    fn forget(&self, client: &Weak<Client>) -> bool {
        let mut held = lock(&self.held);
        let ours = held
            .client
            .as_ref()
            .is_some_and(|c| std::ptr::eq(Arc::as_ptr(c), client.as_ptr()));
        if ours {
            *held = Held::default();
        }
        ours
    }
}

/// Identifies the handle whose shared state is `inner` on a session: the key of its topic
/// handlers and of its hooks.
pub fn key<T>(inner: &Arc<T>) -> usize {
    Arc::as_ptr(inner) as usize
}

/// What [`leave`] keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// The handle no longer holds the session.
    Session,
    /// The handle keeps holding the session (for its later calls' checks; upstream's handle
    /// keeps its MQTT handle at deinit) while its handlers and hooks go.
    HandlersOnly,
}

/// Removes the handle's topic handlers and hooks from the session it holds (if any).
pub fn leave<T: Linked>(inner: &Arc<T>, what: Leave) {
    let (client, filters) = {
        let mut held = lock(&inner.link().held);
        let filters = std::mem::take(&mut held.filters);
        let client = match what {
            Leave::Session => held.client.take(),
            Leave::HandlersOnly => held.client.clone(),
        };
        (client, filters)
    };
    if let Some(client) = client {
        for filter in filters {
            client.detach_topic_handler(&filter, key(inner));
        }
        let _ = client.detach_component(key(inner));
    }
}

/// A topic handler that hands each PUBLISH's topic and payload to `deliver` while the handle
/// lives. For a filter the caller registers itself (a SUBSCRIBE), after [`remember`].
pub fn handler<T: Linked>(
    inner: &Arc<T>,
    deliver: impl Fn(&Arc<T>, &[u8], &[u8]) + Send + Sync + 'static,
) -> RecvHandler {
    let weak = Arc::downgrade(inner);
    RecvHandler {
        key: key(inner),
        call: Arc::new(move |recv: &Recv<'_>, _userdata: Userdata| {
            if let (Some(inner), Recv::Pub { topic, payload, .. }) = (weak.upgrade(), recv) {
                deliver(&inner, topic, payload);
            }
        }),
    }
}

/// Notes that the handle's handler is on `filter` of the session held, so that [`leave`]
/// removes it.
pub fn remember<T: Linked>(inner: &Arc<T>, filter: &[u8]) {
    lock(&inner.link().held).filters.push(filter.to_vec());
}

/// Registers a topic handler on `filter` of `client` (no SUBSCRIBE) that hands each PUBLISH
/// to `deliver`; [`leave`] removes it.
pub fn listen<T: Linked>(
    inner: &Arc<T>,
    client: &Client,
    filter: &[u8],
    deliver: impl Fn(&Arc<T>, &[u8], &[u8]) + Send + Sync + 'static,
) -> Result<()> {
    remember(inner, filter);
    client.attach_topic_handler(filter, handler(inner, deliver), 0)
}

/// Attaches the handle's hooks to `client`: [`Linked`]'s event and tick hooks while the
/// handle holds it, and the forgetting at its deinit.
pub fn hook<T: Linked>(inner: &Arc<T>, client: &Arc<Client>) -> Result<()> {
    let hooks = Hooks {
        inner: Arc::downgrade(inner),
        client: Arc::downgrade(client),
    };
    client.attach_component(key(inner), Arc::new(hooks))
}

struct Hooks<T> {
    inner: Weak<T>,
    client: Weak<Client>,
}

impl<T: Linked> Hooks<T> {
    /// The handle and the session, while both live and the handle holds this session.
    fn live(&self) -> Option<(Arc<T>, Arc<Client>)> {
        let inner = self.inner.upgrade()?;
        let client = self.client.upgrade()?;
        inner.link().holds(&self.client).then_some((inner, client))
    }
}

impl<T: Linked> Component for Hooks<T> {
    fn on_event(&self, event: &Event) {
        if let Some((inner, client)) = self.live() {
            inner.on_event(&client, event);
        }
    }

    fn on_tick(&self) {
        if let Some((inner, client)) = self.live() {
            inner.on_tick(&client);
        }
    }

    fn on_deinit(&self) {
        if let Some(inner) = self.inner.upgrade() {
            if inner.link().forget(&self.client) {
                inner.on_forget();
            }
        }
    }
}
