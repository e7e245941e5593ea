//! Task, i.e. job management (`aiot_task_api.h`): the device asks the platform for its jobs
//! (`$next`, `$list` or one id) on `/sys/{pk}/{dn}/thing/job/get`, reports a job's status and
//! progress on `.../thing/job/update`, and receives pushed jobs on `.../thing/job/notify`,
//! each answered at once with a `notify_reply`. Replies and pushes come in through three topic
//! handlers (no SUBSCRIBE: the platform delivers a device's system topics itself).
//!
//! - `downlink`: the topic filters and the parsing of what comes in;
//! - `codes`: `STATE_TASK_*`.
//!
//! Every request carries the process-wide alink id and `"version":"1.0.0"`; product key and
//! device name are always the MQTT session's. The calls return the publish result (0), not
//! the alink id, as upstream's do.

#![forbid(unsafe_code)]

pub mod codes;
pub mod downlink;

use crate::sync::lock;
use std::sync::{Arc, Mutex};

use codes::*;
pub use downlink::{Recv, Route, TaskDesc, STATUS_NAMES, STATUS_NOT_FOUND, TOPICS};

use crate::error::Error;
use crate::log;
use crate::mqtt::link::{self, Leave, Link, Linked};
use crate::mqtt::{next_alink_id, Client, Userdata};

/// What a task call can fail with; [`TaskError::code`] maps it to upstream's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskError {
    /// `status_details` is the empty string.
    StatusDetailsInvalid,
    /// The status has no wire name (NOT_FOUND, or out of range).
    StatusInvalid,
    /// From the MQTT core; no session at all is `NullPointer`, as upstream's publish on a
    /// NULL MQTT handle answers.
    Core(Error),
}

impl TaskError {
    /// The upstream `STATE_*` code.
    pub fn code(self) -> i32 {
        match self {
            TaskError::StatusDetailsInvalid => STATE_TASK_UPDATE_STATUS_DETAILS_INVALID,
            TaskError::StatusInvalid => STATE_TASK_UPDATE_STATUS_INVALID,
            TaskError::Core(e) => e.code(),
        }
    }
}

impl From<Error> for TaskError {
    fn from(e: Error) -> Self {
        TaskError::Core(e)
    }
}

/// A status report (`aiot_task_update`'s `task_desc_t`, the fields it sends).
#[derive(Clone, Copy, Debug)]
pub struct Update<'a> {
    /// NULL is sent as an empty id, as upstream formats it.
    pub task_id: Option<&'a [u8]>,
    pub status: u32,
    pub progress: u8,
    /// A JSON object, inserted as given (the platform answers 71012 when it is not one).
    pub status_details: Option<&'a [u8]>,
}

/// The user's receive handler: the message and the userdata.
pub type TaskFn = dyn Fn(&Recv, Userdata) + Send + Sync;

struct Config {
    handler: Option<Arc<TaskFn>>,
    userdata: Userdata,
}

/// Locks: `cfg` is taken alone and never held while calling the MQTT session or the user's
/// handler (a handler commonly calls `aiot_task_update`); nor is the link's.
struct Inner {
    cfg: Mutex<Config>,
    /// The session, until its deinit (later calls then answer `STATE_USER_INPUT_NULL_POINTER`
    /// as upstream's do), and our handlers on it.
    link: Link,
}

impl Linked for Inner {
    fn link(&self) -> &Link {
        &self.link
    }
}

/// A task handle.
pub struct Task {
    inner: Arc<Inner>,
}

/// Appends `bytes` as the inside of a JSON string: `"`, `\` and control characters escaped,
/// everything else (any encoding) as it is. A well-formed id comes out unchanged.
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
}

/// `/sys/{pk}/{dn}/thing/job/<leaf>` with the session's product key and device name (empty
/// when unset, as upstream formats a NULL).
fn topic(client: &Client, leaf: &str) -> String {
    client.device_topic("/sys", &format!("thing/job/{leaf}"))
}

/// `{"id":"<id>","version":"1.0.0","params":{"taskId":"<task id>"}}`.
pub fn query_payload(id: i32, task_id: &[u8]) -> Vec<u8> {
    let mut p = format!("{{\"id\":\"{id}\",\"version\":\"1.0.0\",\"params\":{{\"taskId\":\"").into_bytes();
    push_escaped(&mut p, task_id);
    p.extend_from_slice(b"\"}}");
    p
}

/// `{"id":"<id>","version":"1.0.0","params":{"taskId":"..","status":"..","progress":<p>[,"statusDetails":<raw>]}}`.
pub fn update_payload(id: i32, u: &Update<'_>, status: &str) -> Vec<u8> {
    let mut p = format!("{{\"id\":\"{id}\",\"version\":\"1.0.0\",\"params\":{{\"taskId\":\"").into_bytes();
    push_escaped(&mut p, u.task_id.unwrap_or_default());
    p.extend_from_slice(format!("\",\"status\":\"{status}\",\"progress\":{}", u.progress).as_bytes());
    if let Some(details) = u.status_details {
        p.extend_from_slice(b",\"statusDetails\":");
        p.extend_from_slice(details);
    }
    p.extend_from_slice(b"}}");
    p
}

/// `{"id":"<the push's id>","code":200,"data":{}}`.
pub fn notify_reply_payload(id: &str) -> Vec<u8> {
    let mut p = b"{\"id\":\"".to_vec();
    push_escaped(&mut p, id.as_bytes());
    p.extend_from_slice(b"\",\"code\":200,\"data\":{}}");
    p
}

impl Default for Task {
    fn default() -> Self {
        Self::new()
    }
}

impl Task {
    /// A handle with no session and no handler.
    pub fn new() -> Task {
        Task {
            inner: Arc::new(Inner {
                cfg: Mutex::new(Config {
                    handler: None,
                    userdata: 0,
                }),
                link: Link::new(),
            }),
        }
    }

    pub fn set_handler(&self, handler: Arc<TaskFn>) {
        lock(&self.inner.cfg).handler = Some(handler);
    }

    pub fn set_userdata(&self, userdata: Userdata) {
        lock(&self.inner.cfg).userdata = userdata;
    }

    /// Attaches to an MQTT session (leaving the previous one): the three topic handlers, then
    /// the component. The first error is returned, as upstream's setopt does.
    pub fn set_mqtt(&self, client: Arc<Client>) -> Result<(), TaskError> {
        self.detach();
        self.inner.link.hold(&client);
        for (filter, route) in TOPICS {
            link::listen(
                &self.inner,
                &client,
                filter.as_bytes(),
                move |inner, _, payload| deliver(inner, route, payload),
            )?;
        }
        Ok(link::hook(&self.inner, &client)?)
    }

    fn detach(&self) {
        link::leave(&self.inner, Leave::Session);
    }

    fn client(&self) -> Result<Arc<Client>, TaskError> {
        self.inner
            .link
            .client()
            .ok_or(TaskError::Core(Error::NullPointer))
    }

    /// `aiot_task_get_task_detail` / `aiot_task_get_task_list`: asks for `task_id` (`$next`,
    /// `$list` or an id) on `/sys/{pk}/{dn}/thing/job/get`; returns the publish result.
    pub fn query(&self, task_id: &[u8]) -> Result<i32, TaskError> {
        let id = next_alink_id();
        let client = self.client()?;
        client.publish(topic(&client, "get"), &query_payload(id, task_id), 0)?;
        Ok(0)
    }

    /// `aiot_task_update`: reports status, progress and details on `.../thing/job/update`.
    pub fn update(&self, u: &Update<'_>) -> Result<i32, TaskError> {
        if u.status_details == Some(b"") {
            return Err(TaskError::StatusDetailsInvalid);
        }
        let status = *STATUS_NAMES
            .get(u.status as usize)
            .ok_or(TaskError::StatusInvalid)?;
        let id = next_alink_id();
        let client = self.client()?;
        client.publish(topic(&client, "update"), &update_payload(id, u, status), 0)?;
        Ok(0)
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.detach();
    }
}

fn refused(code: i32, what: &str, why: &downlink::Refused) {
    log::line(code, &format!("task parse {what} failed: {}\r\n", why.0));
}

/// Handles a message from one of the topic handlers (no lock held while calling out).
/// Without a receive handler nothing happens, not even the notify reply, as upstream.
fn deliver(inner: &Inner, route: Route, payload: &[u8]) {
    let (handler, userdata) = {
        let cfg = lock(&inner.cfg);
        (cfg.handler.clone(), cfg.userdata)
    };
    let Some(handler) = handler else {
        return;
    };
    match route {
        Route::Notify => {
            log::line(STATE_TASK_RECV_NOTIFY, "task recv notify\r\n");
            let id = match downlink::notify_id(payload) {
                Ok(id) => id,
                Err(why) => return refused(STATE_TASK_PARSE_NOTIFY_FAILED, "notify", &why),
            };
            if let Some(client) = inner.link.client() {
                // The reply's outcome is not reported, as upstream ignores it.
                let _ = client.publish(topic(&client, "notify_reply"), &notify_reply_payload(&id), 0);
            }
            match downlink::notify_task(payload) {
                Ok(task) => handler(&Recv::Notify(task), userdata),
                Err(why) => refused(STATE_TASK_PARSE_NOTIFY_FAILED, "notify", &why),
            }
        }
        Route::GetReply | Route::UpdateReply => {
            let what = if route == Route::GetReply {
                "get_reply"
            } else {
                "update_reply"
            };
            match downlink::parse_reply(route, payload) {
                Ok((recv, left_out)) => {
                    if left_out > 0 {
                        log::line(
                            STATE_TASK_RECV_GET_LIST_REPLY,
                            &format!(
                                "task get list reply: first {} tasks handed over, {left_out} left out\r\n",
                                downlink::LIST_MAX
                            ),
                        );
                    }
                    handler(&recv, userdata)
                }
                Err(why) => refused(STATE_TASK_PARSE_JSON_ERROR, what, &why),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_upstreams() {
        assert_eq!(TaskError::StatusDetailsInvalid.code(), -0x0B0B);
        assert_eq!(TaskError::StatusInvalid.code(), -0x0B0A);
        assert_eq!(TaskError::Core(Error::NullPointer).code(), -0x0101);
    }

    #[test]
    fn payloads_are_upstreams() {
        assert_eq!(
            query_payload(5, b"$next"),
            br#"{"id":"5","version":"1.0.0","params":{"taskId":"$next"}}"#
        );
        assert_eq!(
            query_payload(6, b"a\"b\\c\n"),
            br#"{"id":"6","version":"1.0.0","params":{"taskId":"a\"b\\c\u000a"}}"#
        );
        let u = Update {
            task_id: Some(b"t1"),
            status: 2,
            progress: 88,
            status_details: None,
        };
        assert_eq!(
            update_payload(7, &u, "IN_PROGRESS"),
            br#"{"id":"7","version":"1.0.0","params":{"taskId":"t1","status":"IN_PROGRESS","progress":88}}"#
        );
        let u = Update {
            task_id: None,
            status_details: Some(br#"{"k":"v"}"#),
            ..u
        };
        assert_eq!(
            update_payload(8, &u, "SUCCEEDED"),
            br#"{"id":"8","version":"1.0.0","params":{"taskId":"","status":"SUCCEEDED","progress":88,"statusDetails":{"k":"v"}}}"#
        );
        assert_eq!(notify_reply_payload("12"), br#"{"id":"12","code":200,"data":{}}"#);
    }

    #[test]
    fn updates_check_details_then_status_then_session() {
        let t = Task::new();
        let u = Update {
            task_id: Some(b"t"),
            status: 9,
            progress: 0,
            status_details: Some(b""),
        };
        assert_eq!(t.update(&u), Err(TaskError::StatusDetailsInvalid));
        let u = Update {
            status_details: None,
            ..u
        };
        assert_eq!(t.update(&u), Err(TaskError::StatusInvalid));
        assert_eq!(
            t.update(&Update { status: 100, ..u }),
            Err(TaskError::StatusInvalid)
        );
        assert_eq!(
            t.update(&Update { status: 3, ..u }),
            Err(TaskError::Core(Error::NullPointer))
        );
        assert_eq!(t.query(b"$list"), Err(TaskError::Core(Error::NullPointer)));
    }
}
