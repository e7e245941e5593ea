//! One download handle on the MQTT session of its task: SUBSCRIBEs the reply topic, publishes
//! the requests and progress reports the [`Machine`] decides, hands good blocks to the user.
//!
//! Locks: `state` is taken alone, never while calling the MQTT session or the user's handler,
//! so a handler may call `aiot_mqtt_*` functions; replies are handled on the thread calling
//! `aiot_mqtt_recv`, as upstream.

use crate::sync::lock;
use std::sync::{Arc, Mutex, Weak};

use super::codes::*;
use super::machine::{Action, Block, Machine, ReplyOutcome, Request, Task};
use crate::components::ota::message::TaskDesc;
use crate::components::ota::report_progress;
use crate::mqtt::{Client, Component, Recv, RecvHandler, Userdata};
use crate::sysdep::Port;

/// The user's receive handler: one good block and the userdata.
pub type RecvFn = dyn Fn(&Block<'_>, Userdata) + Send + Sync;

struct State {
    machine: Machine,
    /// The OTA task (progress reports go to its product key and device name).
    task: Option<TaskDesc>,
    /// The task's MQTT session, until that session is deinitialised.
    mqtt: Option<Arc<Client>>,
    handler: Option<Arc<RecvFn>>,
    userdata: Userdata,
}

struct Inner {
    port: Arc<dyn Port>,
    state: Mutex<State>,
}

/// An MQTT download handle.
pub struct MqttDownload {
    inner: Arc<Inner>,
}

/// At the session's deinit the handle forgets it: `process` then answers `TASK_DEINIT`.
struct Hooks {
    inner: Weak<Inner>,
    client: Weak<Client>,
}

impl Component for Hooks {
    fn on_deinit(&self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let mut st = lock(&inner.state);
        if st
            .mqtt
            .as_ref()
            .is_some_and(|c| std::ptr::eq(Arc::as_ptr(c), self.client.as_ptr()))
        {
            st.mqtt = None;
        }
    }
}

/// `/sys/{pk}/{dn}/thing/file/<leaf>` with the session's product key and device name (empty
/// when unset, as upstream formats a NULL).
fn topic(client: &Client, leaf: &str) -> String {
    client.device_topic("/sys", &format!("thing/file/{leaf}"))
}

impl MqttDownload {
    /// `aiot_mqtt_download_init`: block size 5120 bytes, whole file, no task.
    pub fn new(port: Arc<dyn Port>) -> MqttDownload {
        MqttDownload {
            inner: Arc::new(Inner {
                port,
                state: Mutex::new(State {
                    machine: Machine::new(Task::default()),
                    task: None,
                    mqtt: None,
                    handler: None,
                    userdata: 0,
                }),
            }),
        }
    }

    /// Identifies this handle's topic handler and component on the MQTT session.
    fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    pub fn set_handler(&self, handler: Option<Arc<RecvFn>>) {
        lock(&self.inner.state).handler = handler;
    }

    pub fn set_userdata(&self, userdata: Userdata) {
        lock(&self.inner.state).userdata = userdata;
    }

    pub fn set_range_start(&self, start: u32) {
        lock(&self.inner.state).machine.range.start = start;
    }

    pub fn set_range_end(&self, end: u32) {
        lock(&self.inner.state).machine.range.end = end;
    }

    /// `AIOT_MDOPT_DATA_REQUEST_SIZE`; 0 is refused (no block could ever arrive).
    pub fn set_request_size(&self, size: u32) -> bool {
        if size == 0 {
            return false;
        }
        lock(&self.inner.state).machine.request_size = size;
        true
    }

    /// `AIOT_MDOPT_TASK_DESC`: keeps a copy of the task and attaches to its MQTT session
    /// (`None` when the task has none: `process` then answers `TASK_DEINIT`). A new task
    /// starts a new download; the previous session is left (UNSUBSCRIBE).
    pub fn set_task(&self, task: TaskDesc, client: Option<Arc<Client>>) {
        self.leave();
        {
            let mut st = lock(&self.inner.state);
            let (range, size) = (st.machine.range, st.machine.request_size);
            st.machine = Machine::new(Task {
                stream_id: task.stream_id,
                stream_file_id: task.stream_file_id,
                size_total: task.size_total,
                digest_method: task.digest_method,
                expect_digest: task.expect_digest.clone(),
            });
            st.machine.range = range;
            st.machine.request_size = size;
            st.task = Some(task);
            st.mqtt = client.clone();
        }
        if let Some(client) = client {
            let hooks = Hooks {
                inner: Arc::downgrade(&self.inner),
                client: Arc::downgrade(&client),
            };
            let _ = client.attach_component(self.key(), Arc::new(hooks));
        }
    }

    /// Leaves the task's MQTT session, if it is still there: the component goes, and the
    /// reply topic is unsubscribed (as upstream's deinit does).
    fn leave(&self) {
        let client = {
            let mut st = lock(&self.inner.state);
            if st.task.is_none() {
                return;
            }
            st.mqtt.take()
        };
        if let Some(client) = client {
            let _ = client.detach_component(self.key());
            let _ = client.unsubscribe(topic(&client, "download_reply"));
        }
    }

    /// `aiot_mqtt_download_process`: one step of the download (see [`Machine::process`]).
    pub fn process(&self) -> i32 {
        let now = self.inner.port.time_ms();
        let (code, actions, client, task) = {
            let mut st = lock(&self.inner.state);
            let (Some(task), Some(client)) = (st.task.clone(), st.mqtt.clone()) else {
                return STATE_MQTT_DOWNLOAD_TASK_DEINIT;
            };
            let (code, actions) = st.machine.process(now);
            (code, actions, client, task)
        };
        for action in actions {
            match action {
                Action::Subscribe => self.subscribe(&client),
                Action::Send(req) => send(&self.inner, &client, req),
                Action::Progress(step) => {
                    let _ = report_progress(
                        &client,
                        &task.product_key,
                        &task.device_name,
                        step,
                        task.module.as_deref(),
                    );
                }
            }
        }
        code
    }

    fn subscribe(&self, client: &Client) {
        let weak = Arc::downgrade(&self.inner);
        let handler = RecvHandler {
            key: self.key(),
            call: Arc::new(move |recv: &Recv<'_>, _userdata: Userdata| {
                if let (Some(inner), Recv::Pub { payload, .. }) = (weak.upgrade(), recv) {
                    on_reply(&inner, payload);
                }
            }),
        };
        let _ = client.subscribe(topic(client, "download_reply"), Some(handler), 0, self.key());
    }
}

impl Drop for MqttDownload {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Publishes a request (QoS0); a failed publish is left to the request timeout, as upstream.
fn send(inner: &Inner, client: &Client, req: Request) {
    let payload = req.payload(&lock(&inner.state).machine.task);
    let _ = client.publish(topic(client, "download"), payload.as_bytes(), 0);
}

/// A reply: checked by the machine; a good block goes to the user's handler (no lock held),
/// then the next request goes out; a refused one is asked for again at once.
fn on_reply(inner: &Inner, payload: &[u8]) {
    let now = inner.port.time_ms();
    let (outcome, client, handler, userdata) = {
        let mut st = lock(&inner.state);
        let Some(client) = st.mqtt.clone() else {
            return;
        };
        let outcome = st.machine.on_reply(payload, now);
        (outcome, client, st.handler.clone(), st.userdata)
    };
    let resend = match outcome {
        ReplyOutcome::Ignored => None,
        ReplyOutcome::Failed(req) => req,
        ReplyOutcome::Block(block) => {
            if let Some(h) = handler {
                h(&block, userdata);
            }
            let now = inner.port.time_ms();
            let mut st = lock(&inner.state);
            // The handler may have freed the handle (or its session gone): ask for nothing more.
            if st.mqtt.is_none() {
                return;
            }
            st.machine.next_request(now)
        }
    };
    if let Some(req) = resend {
        send(inner, &client, req);
    }
}
