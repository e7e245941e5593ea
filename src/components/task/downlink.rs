//! Downlink messages of the task module: the three topic filters it listens on (topic maps,
//! no SUBSCRIBE) and what each message hands to the receive handler.
//!
//! Upstream scans the payload for the first `"key":` anywhere (compact JSON only, nested keys
//! taken for top-level ones, escapes not understood) and mostly drops what it cannot read
//! without a word. We parse real JSON (serde_json) with upstream's field semantics and refuse
//! a message with a reason:
//!
//! - notify: a top-level `id` (string or number) is needed for the automatic `notify_reply`,
//!   then `params.task`, a task description;
//! - task description: `taskId` (string or number) and `status` (string; a name other than the
//!   nine wire names reads as FAILED, as upstream) are required; `jobDocument` is optional
//!   (a string without its quotes, anything else as written); `jobFile` is optional and, when
//!   present, an object whose `signMethod`, `sign` and `fileUrl` are each optional strings
//!   (upstream stops at the first missing one; we read each on its own);
//! - get_reply: `code` (a non-negative integer, number or digit string, at most 32 bits) and a
//!   `data` object; in it `tasks` (a list, each entry with `taskId` and `status`; at most the
//!   first 10, as upstream), else `task` (a task description), else `taskId` (`$list...`: an
//!   empty list; anything else: that id with status NOT_FOUND); none of them: refused;
//! - update_reply: `code`, and `data.taskId`. The reply's status is never filled (0), as
//!   upstream.
//!
//! Strings are handed over unescaped and NUL-terminated by the C shell, so a string holding
//! a NUL character is refused. A job document that is not a string is handed over as written
//! in the payload (located by [`rawjson`] in the text serde_json has checked).

use serde_json::{Map, Value};

use crate::components::rawjson;

/// Most list entries handed over (upstream's `TASK_GET_LIST_REPLY_ARRAY_MAX`).
pub const LIST_MAX: usize = 10;

/// `aiot_task_status_t` values.
pub const STATUS_QUEUED: u32 = 0;
pub const STATUS_FAILED: u32 = 4;
pub const STATUS_NOT_FOUND: u32 = 9;

/// The wire names, indexed by status value (NOT_FOUND has none).
pub const STATUS_NAMES: [&str; 9] = [
    "QUEUED",
    "SENT",
    "IN_PROGRESS",
    "SUCCEEDED",
    "FAILED",
    "REJECTED",
    "CANCELLED",
    "REMOVED",
    "TIMED_OUT",
];

/// The status a wire name stands for; any other name reads as FAILED, as upstream.
pub fn status_of(name: &str) -> u32 {
    STATUS_NAMES
        .iter()
        .position(|n| *n == name)
        .map_or(STATUS_FAILED, |i| i as u32)
}

/// Which filter a message came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Notify,
    GetReply,
    UpdateReply,
}

/// The filters, upstream's three, in upstream's order.
pub const TOPICS: [(&str, Route); 3] = [
    ("/sys/+/+/thing/job/notify", Route::Notify),
    ("/sys/+/+/thing/job/get_reply", Route::GetReply),
    ("/sys/+/+/thing/job/update_reply", Route::UpdateReply),
];

/// A task description (`task_desc_t` as received).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskDesc {
    pub task_id: String,
    pub status: u32,
    pub job_document: Option<String>,
    pub sign_method: Option<String>,
    pub sign: Option<String>,
    pub file_url: Option<String>,
}

/// One received message (`aiot_task_recv_t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recv {
    Notify(TaskDesc),
    GetDetailReply {
        code: u32,
        task: TaskDesc,
    },
    /// Task id and status of each entry.
    GetListReply(Vec<(String, u32)>),
    UpdateReply {
        code: u32,
        task_id: String,
    },
}

/// Why a message was not handed over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

type Object = Map<String, Value>;

/// The payload as a JSON object (serde_json, the parser the other components use, so no
/// second one is linked in; nesting is limited to its 128 levels).
fn payload_object(payload: &[u8]) -> Result<Object, Refused> {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => refuse("payload is not a JSON object"),
        Err(e) => refuse(format!("payload is not a JSON object: {e}")),
    }
}

/// A member that must be an object when present.
fn nested<'a>(obj: &'a Object, key: &str) -> Result<Option<&'a Object>, Refused> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => refuse(format!("\"{key}\" is not a JSON object")),
    }
}

fn required<'a>(obj: &'a Object, key: &str) -> Result<&'a Value, Refused> {
    match obj.get(key) {
        Some(v) => Ok(v),
        None => refuse(format!("no \"{key}\"")),
    }
}

/// A JSON string's text; `None` when the value is not a string.
fn string_of(v: &Value, key: &str) -> Result<Option<String>, Refused> {
    match v {
        Value::String(s) if s.contains('\0') => refuse(format!("\"{key}\" holds a NUL character")),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Ok(None),
    }
}

/// An id: a string, or a number in decimal.
fn id_text(v: &Value, key: &str) -> Result<String, Refused> {
    match v {
        Value::Number(n) => Ok(n.to_string()),
        _ => string_of(v, key)?.ok_or(Refused(format!("\"{key}\" is neither a string nor a number"))),
    }
}

/// A string member that may be missing.
fn optional_string(obj: &Object, key: &str) -> Result<Option<String>, Refused> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => match string_of(v, key)? {
            Some(s) => Ok(Some(s)),
            None => refuse(format!("\"{key}\" is not a string")),
        },
    }
}

/// A code: a non-negative integer of at most 32 bits, as a number or a string of digits.
fn code_of(obj: &Object) -> Result<u32, Refused> {
    let code = match required(obj, "code")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    };
    code.and_then(|c| u32::try_from(c).ok()).ok_or(Refused(
        "\"code\" is not a decimal number of at most 32 bits".into(),
    ))
}

fn status_field(obj: &Object) -> Result<u32, Refused> {
    match string_of(required(obj, "status")?, "status")? {
        Some(name) => Ok(status_of(&name)),
        None => refuse("\"status\" is not a string"),
    }
}

/// A task description object. `raw` is its text in the payload, when found, so that a job
/// document is handed over as the platform wrote it.
pub fn task_desc(obj: &Object, raw: Option<&[u8]>) -> Result<TaskDesc, Refused> {
    let task_id = id_text(required(obj, "taskId")?, "taskId")?;
    let status = status_field(obj)?;
    let job_document = match obj.get("jobDocument") {
        None => None,
        Some(v) => Some(match string_of(v, "jobDocument")? {
            Some(s) => s,
            None => raw
                .and_then(|r| rawjson::member(r, "jobDocument"))
                .and_then(|t| std::str::from_utf8(t).ok())
                .map_or_else(|| v.to_string(), str::to_owned),
        }),
    };
    let mut desc = TaskDesc {
        task_id,
        status,
        job_document,
        ..TaskDesc::default()
    };
    if let Some(file) = nested(obj, "jobFile")? {
        desc.sign_method = optional_string(file, "signMethod")?;
        desc.sign = optional_string(file, "sign")?;
        desc.file_url = optional_string(file, "fileUrl")?;
    }
    Ok(desc)
}

/// The text of `payload`'s member `outer`, then of its member `task`.
fn raw_task<'a>(payload: &'a [u8], outer: &str) -> Option<&'a [u8]> {
    rawjson::member(rawjson::member(payload, outer)?, "task")
}

/// The `id` of a notify, for its automatic reply.
pub fn notify_id(payload: &[u8]) -> Result<String, Refused> {
    let obj = payload_object(payload)?;
    id_text(required(&obj, "id")?, "id")
}

/// The task of a notify (`params.task`).
pub fn notify_task(payload: &[u8]) -> Result<TaskDesc, Refused> {
    let obj = payload_object(payload)?;
    let params = nested(&obj, "params")?.ok_or(Refused("no \"params\"".into()))?;
    let task = nested(params, "task")?.ok_or(Refused("no \"params.task\"".into()))?;
    task_desc(task, raw_task(payload, "params"))
}

/// Parses a get_reply or update_reply. Also says how many list entries were left out.
pub fn parse_reply(route: Route, payload: &[u8]) -> Result<(Recv, usize), Refused> {
    let obj = payload_object(payload)?;
    let code = code_of(&obj)?;
    let data = nested(&obj, "data")?.ok_or(Refused("no \"data\"".into()))?;
    if route == Route::UpdateReply {
        let task_id = id_text(required(data, "taskId")?, "taskId")?;
        return Ok((Recv::UpdateReply { code, task_id }, 0));
    }
    if let Some(tasks) = data.get("tasks") {
        let Value::Array(list) = tasks else {
            return refuse("\"tasks\" is not a list");
        };
        let mut out = Vec::new();
        for entry in list.iter().take(LIST_MAX) {
            let Value::Object(e) = entry else {
                return refuse("a \"tasks\" entry is not a JSON object");
            };
            out.push((id_text(required(e, "taskId")?, "taskId")?, status_field(e)?));
        }
        return Ok((Recv::GetListReply(out), list.len().saturating_sub(LIST_MAX)));
    }
    if let Some(task) = nested(data, "task")? {
        return Ok((
            Recv::GetDetailReply {
                code,
                task: task_desc(task, raw_task(payload, "data"))?,
            },
            0,
        ));
    }
    if let Some(raw) = data.get("taskId") {
        let task_id = id_text(raw, "taskId")?;
        if task_id.starts_with("$list") {
            return Ok((Recv::GetListReply(Vec::new()), 0));
        }
        let task = TaskDesc {
            task_id,
            status: STATUS_NOT_FOUND,
            ..TaskDesc::default()
        };
        return Ok((Recv::GetDetailReply { code, task }, 0));
    }
    refuse("\"data\" has none of \"tasks\", \"task\" and \"taskId\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(r: Result<impl std::fmt::Debug, Refused>) -> String {
        r.unwrap_err().0
    }

    #[test]
    fn notify_gives_id_and_task() {
        let p = br#"{"id":"42","version":"1.0","params":{"task":{"taskId":"t1","status":"QUEUED","jobDocument":{"a":[1, 2],"b":"x"},"jobFile":{"signMethod":"Md5","sign":"abc","fileUrl":"https://h/f"}}}}"#;
        assert_eq!(notify_id(p).unwrap(), "42");
        assert_eq!(
            notify_task(p).unwrap(),
            TaskDesc {
                task_id: "t1".into(),
                status: STATUS_QUEUED,
                job_document: Some(r#"{"a":[1, 2],"b":"x"}"#.into()),
                sign_method: Some("Md5".into()),
                sign: Some("abc".into()),
                file_url: Some("https://h/f".into()),
            }
        );
        // Spacing, a numeric id, escapes, a string document, no jobFile, an unknown status.
        let p = b"{ \"id\" : 7 , \"params\": {\"task\": {\"taskId\": \"t\\\"2\", \"status\": \"WEIRD\", \"jobDocument\": \"do \\u0041\"}}}";
        assert_eq!(notify_id(p).unwrap(), "7");
        let t = notify_task(p).unwrap();
        assert_eq!(t.task_id, "t\"2");
        assert_eq!(t.status, STATUS_FAILED);
        assert_eq!(t.job_document.as_deref(), Some("do A"));
        assert_eq!(t.sign, None);
        // jobFile fields each optional.
        let p = br#"{"id":"1","params":{"task":{"taskId":"t","status":"SENT","jobFile":{"fileUrl":"u"}}}}"#;
        let t = notify_task(p).unwrap();
        assert_eq!((t.status, t.sign_method, t.file_url), (1, None, Some("u".into())));
    }

    #[test]
    fn malformed_notifies_are_refused_with_a_reason() {
        assert!(why(notify_id(b"not json")).contains("not a JSON object"));
        assert!(why(notify_id(b"[1]")).contains("not a JSON object"));
        assert_eq!(why(notify_id(br#"{"params":{}}"#)), "no \"id\"");
        assert!(why(notify_id(br#"{"id":{}}"#)).contains("neither"));
        let t = |task: &str| notify_task(format!(r#"{{"id":"1","params":{{"task":{task}}}}}"#).as_bytes());
        assert_eq!(why(t(r#"{"status":"QUEUED"}"#)), "no \"taskId\"");
        assert_eq!(why(t(r#"{"taskId":"a"}"#)), "no \"status\"");
        assert_eq!(
            why(t(r#"{"taskId":"a","status":3}"#)),
            "\"status\" is not a string"
        );
        assert!(why(t(r#"{"taskId":"a\u0000b","status":"SENT"}"#)).contains("NUL"));
        assert!(why(t(r#"{"taskId":"a","status":"SENT","jobFile":"x"}"#)).contains("jobFile"));
        assert!(why(t(r#"{"taskId":"a","status":"SENT","jobFile":{"sign":1}}"#)).contains("sign"));
        assert!(why(t("5")).contains("task"));
        assert_eq!(why(notify_task(br#"{"id":"1"}"#)), "no \"params\"");
        assert_eq!(
            why(notify_task(br#"{"id":"1","params":{}}"#)),
            "no \"params.task\""
        );
        // Deep nesting and huge inputs: refused or accepted, never a crash.
        let deep = format!(
            "{{\"id\":\"1\",\"params\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(notify_task(deep.as_bytes()).is_err());
        let deep = format!(
            "{{\"id\":\"1\",\"params\":{{\"task\":{{\"taskId\":\"a\",\"status\":\"SENT\",\"jobDocument\":{}1{}}}}}}}",
            "{\"a\":".repeat(100_000),
            "}".repeat(100_000)
        );
        let _ = notify_id(deep.as_bytes());
        let _ = notify_task(deep.as_bytes());
        assert!(notify_id(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn job_document_is_the_value_read_even_under_an_escaped_duplicate_key() {
        // serde_json decodes keys and keeps the last of duplicates; the document's text must
        // be that member's, not the one an undecoded key comparison finds.
        let p = br#"{"id":"1","params":{"task":{"taskId":"a","status":"SENT","jobDocument":{"x":1},"job\u0044ocument":[2]}}}"#;
        assert_eq!(notify_task(p).unwrap().job_document.as_deref(), Some("[2]"));
        let p = br#"{"id":"1","params":{"task":{"taskId":"a","status":"SENT","jobDocument":{"x":1}}},"p\u0061rams":{"task":{"taskId":"b","status":"SENT","jobDocument":[ 2 ]}}}"#;
        let t = notify_task(p).unwrap();
        assert_eq!(
            (t.task_id.as_str(), t.job_document.as_deref()),
            ("b", Some("[ 2 ]"))
        );
        let p = br#"{"code":200,"data":{"task":{"taskId":"a","status":"SENT","jobDocument":{"x":1}},"t\u0061sk":{"taskId":"b","status":"SENT","jobDocument":[ 2 ]}}}"#;
        match parse_reply(Route::GetReply, p).unwrap().0 {
            Recv::GetDetailReply { task, .. } => assert_eq!(task.job_document.as_deref(), Some("[ 2 ]")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn get_replies() {
        let r = |p: &str| parse_reply(Route::GetReply, p.as_bytes());
        let (list, extra) = r(r#"{"id":"1","code":200,"data":{"taskId":"$list","tasks":[{"taskId":"a","status":"QUEUED"},{"taskId":"b","status":"IN_PROGRESS"}]},"message":"success"}"#).unwrap();
        assert_eq!(list, Recv::GetListReply(vec![("a".into(), 0), ("b".into(), 2)]));
        assert_eq!(extra, 0);
        let many: Vec<String> = (0..12)
            .map(|i| format!(r#"{{"taskId":"t{i}","status":"SENT"}}"#))
            .collect();
        let (list, extra) = r(&format!(
            r#"{{"code":"200","data":{{"tasks":[{}]}}}}"#,
            many.join(",")
        ))
        .unwrap();
        match list {
            Recv::GetListReply(v) => assert_eq!((v.len(), v[9].0.as_str()), (10, "t9")),
            other => panic!("{other:?}"),
        }
        assert_eq!(extra, 2);
        assert_eq!(
            r(r#"{"code":200,"data":{"taskId":"$list"}}"#).unwrap().0,
            Recv::GetListReply(vec![])
        );
        assert_eq!(
            r(r#"{"code":200,"data":{"taskId":"$next"}}"#).unwrap().0,
            Recv::GetDetailReply {
                code: 200,
                task: TaskDesc {
                    task_id: "$next".into(),
                    status: STATUS_NOT_FOUND,
                    ..TaskDesc::default()
                }
            }
        );
        match r(r#"{"code":200,"data":{"taskId":"t","task":{"taskId":"t","status":"IN_PROGRESS","jobDocument":{}}}}"#).unwrap().0 {
            Recv::GetDetailReply { code: 200, task } => {
                assert_eq!((task.status, task.job_document.as_deref()), (2, Some("{}")))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(why(r(r#"{"data":{}}"#)), "no \"code\"");
        assert!(why(r(r#"{"code":-1,"data":{}}"#)).contains("code"));
        assert!(why(r(r#"{"code":4294967296,"data":{}}"#)).contains("code"));
        assert_eq!(why(r(r#"{"code":200}"#)), "no \"data\"");
        assert!(why(r(r#"{"code":200,"data":{}}"#)).contains("none of"));
        assert!(why(r(r#"{"code":200,"data":{"tasks":{}}}"#)).contains("list"));
        assert_eq!(
            why(r(r#"{"code":200,"data":{"tasks":[{"taskId":"a"}]}}"#)),
            "no \"status\""
        );
    }

    #[test]
    fn update_replies() {
        let r = |p: &str| parse_reply(Route::UpdateReply, p.as_bytes());
        assert_eq!(
            r(r#"{"id":"3","code":71012,"data":{"taskId":"t1"},"message":"x"}"#)
                .unwrap()
                .0,
            Recv::UpdateReply {
                code: 71012,
                task_id: "t1".into()
            }
        );
        assert_eq!(why(r(r#"{"code":200,"data":{}}"#)), "no \"taskId\"");
        assert!(why(r(r#"{"code":200,"data":[]}"#)).contains("data"));
    }

    #[test]
    fn status_names() {
        assert_eq!(status_of("TIMED_OUT"), 8);
        assert_eq!(status_of("NOT_FOUND"), STATUS_FAILED);
        assert_eq!(status_of(""), STATUS_FAILED);
    }
}
