//! The platform's side of job management (`aiot_task_api.h`, Alink `/sys/{pk}/{dn}/thing/job/...`).
//!
//! Jobs are kept per device in `<state-dir>/jobs/<pk>/<dn>.json` (written by the CLI, `aiot-platform
//! task ...`, and by the thing service when devices report), each with its status history and
//! the notifies pushed for it. The thing service answers the device's uplinks through
//! [`answer`]:
//!
//! - `/thing/job/get` (`{"id":..,"params":{"taskId":"$next"|"$list"|<id>}}`) on `get_reply`:
//!   `$next` gives the oldest job still QUEUED, SENT or IN_PROGRESS as
//!   `{"taskId":<id>,"task":{...}}` (none: `{"taskId":"$next"}`); `$list` gives those jobs as
//!   `{"taskId":"$list","tasks":[{"taskId":..,"status":..}...]}` (at most 10, as the SDK reads);
//!   an id gives that job (unknown: `{"taskId":<id>}`, which the SDK reads as NOT_FOUND). A job
//!   handed out while QUEUED becomes SENT.
//! - `/thing/job/update` (`{"id":..,"params":{"taskId":..,"status":..,"progress":n[,"statusDetails":{..}]}}`)
//!   on `update_reply` with `{"taskId":..}` in `data`: code 200 and the report recorded;
//!   71012 when `statusDetails` is present but not a JSON object (also when it breaks the
//!   payload's JSON, as the SDK inserts it unchecked); 460 for a report the platform refuses
//!   (unknown job, a job already finished, a status a device may not set, progress not 0..100;
//!   a local choice: Aliyun's codes for these are not known here).
//! - `/thing/job/notify_reply` (`{"id":..,"code":..}`): recorded on the notify with that id.
//!
//! The task description in replies and notifies is compact JSON with keys in the order
//! `taskId`, `status`, `jobFile`, `jobDocument` (upstream's reader takes the first match of a
//! key anywhere in the text). A job created with a timeout becomes TIMED_OUT once that has
//! passed without the device finishing it (checked whenever the jobs are read).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ota::now_ms;

/// Code of a refused status report whose `statusDetails` is not a JSON object.
pub const CODE_STATUS_DETAILS_NOT_JSON: u32 = 71012;
/// Code of any other refused request (Aliyun's generic "request parameter error").
pub const CODE_BAD_REQUEST: u32 = 460;
/// Most jobs in a `$list` answer.
pub const LIST_MAX: usize = 10;

/// The statuses, by the names on the wire.
pub const STATUSES: [&str; 9] = [
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
/// What a device may report.
pub const DEVICE_STATUSES: [&str; 4] = ["IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"];

/// Whether a job in `status` still has to be done.
pub fn pending(status: &str) -> bool {
    matches!(status, "QUEUED" | "SENT" | "IN_PROGRESS")
}

/// One step of a job's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub status: String,
    pub progress: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<Value>,
    /// Who set it: "platform" or "device".
    pub by: String,
    pub time_ms: u64,
}

/// A notify pushed for a job, and the device's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    pub id: String,
    #[serde(default)]
    pub reply_code: Option<u64>,
}

/// `jobFile` of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobFile {
    pub sign_method: String,
    pub sign: String,
    pub file_url: String,
}

/// One job of a device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub task_id: String,
    pub status: String,
    pub progress: u8,
    #[serde(default)]
    pub status_details: Option<Value>,
    pub job_document: Value,
    #[serde(default)]
    pub job_file: Option<JobFile>,
    /// When it times out (ms since the epoch), if it does.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    pub history: Vec<Step>,
    #[serde(default)]
    pub notifies: Vec<Notify>,
}

impl Job {
    fn set(&mut self, status: &str, by: &str) {
        self.status = status.to_owned();
        self.history.push(Step {
            status: status.to_owned(),
            progress: self.progress,
            status_details: self.status_details.clone(),
            by: by.to_owned(),
            time_ms: now_ms(),
        });
    }

    /// The task description the device gets (compact; keys in the order the SDK needs).
    pub fn task_json(&self) -> String {
        let mut s = format!(
            "{{\"taskId\":{},\"status\":{}",
            js(&self.task_id),
            js(&self.status)
        );
        if let Some(f) = &self.job_file {
            s.push_str(&format!(
                ",\"jobFile\":{{\"signMethod\":{},\"sign\":{},\"fileUrl\":{}}}",
                js(&f.sign_method),
                js(&f.sign),
                js(&f.file_url)
            ));
        }
        s.push_str(&format!(",\"jobDocument\":{}}}", self.job_document));
        s
    }
}

fn js(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn safe_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '\\']) && !s.starts_with('.')
}

/// `<state-dir>/jobs/<pk>/<dn>.json`.
pub fn jobs_file(state_dir: &Path, pk: &str, dn: &str) -> PathBuf {
    state_dir.join("jobs").join(pk).join(format!("{dn}.json"))
}

/// A device's jobs, oldest first; jobs past their deadline have become TIMED_OUT (saved).
pub fn load(state_dir: &Path, pk: &str, dn: &str) -> Vec<Job> {
    if !safe_name(pk) || !safe_name(dn) {
        return Vec::new();
    }
    let mut jobs: Vec<Job> = std::fs::read(jobs_file(state_dir, pk, dn))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let now = now_ms();
    let mut expired = false;
    for j in &mut jobs {
        if pending(&j.status) && j.deadline_ms.is_some_and(|d| now >= d) {
            j.set("TIMED_OUT", "platform");
            expired = true;
        }
    }
    if expired {
        let _ = save(state_dir, pk, dn, &jobs);
    }
    jobs
}

/// Writes a device's jobs (whole file replaced at once).
pub fn save(state_dir: &Path, pk: &str, dn: &str, jobs: &[Job]) -> std::io::Result<()> {
    if !safe_name(pk) || !safe_name(dn) {
        return Err(std::io::Error::other("bad product key or device name"));
    }
    let f = jobs_file(state_dir, pk, dn);
    std::fs::create_dir_all(f.parent().expect("has a parent"))?;
    let tmp = f.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(jobs).expect("jobs serialize"))?;
    std::fs::rename(tmp, f)
}

/// What a new job is made of.
#[derive(Clone, Debug, Default)]
pub struct NewJob {
    /// Default: `job-<n>`, n one more than the device's job count.
    pub task_id: Option<String>,
    /// Default: `{}`.
    pub job_document: Option<Value>,
    pub job_file: Option<JobFile>,
    pub timeout_ms: Option<u64>,
}

/// Adds a QUEUED job to a device and returns it.
pub fn create(state_dir: &Path, pk: &str, dn: &str, new: NewJob) -> Result<Job, String> {
    let mut jobs = load(state_dir, pk, dn);
    let task_id = new.task_id.unwrap_or_else(|| format!("job-{}", jobs.len() + 1));
    if task_id.is_empty() || task_id.starts_with('$') {
        return Err(format!("{task_id:?} is not a job id (empty, or a $ query)"));
    }
    if jobs.iter().any(|j| j.task_id == task_id) {
        return Err(format!("the device already has a job {task_id:?}"));
    }
    let mut job = Job {
        task_id,
        status: String::new(),
        progress: 0,
        status_details: None,
        job_document: new
            .job_document
            .unwrap_or_else(|| Value::Object(Default::default())),
        job_file: new.job_file,
        deadline_ms: new.timeout_ms.map(|t| now_ms() + t),
        history: Vec::new(),
        notifies: Vec::new(),
    };
    job.set("QUEUED", "platform");
    jobs.push(job.clone());
    save(state_dir, pk, dn, &jobs).map_err(|e| e.to_string())?;
    Ok(job)
}

/// Sets a job's status from the platform's side (CANCELLED, REMOVED, ...) and returns it.
pub fn set_status(state_dir: &Path, pk: &str, dn: &str, task_id: &str, status: &str) -> Result<Job, String> {
    if !STATUSES.contains(&status) {
        return Err(format!(
            "{status:?} is not a job status ({})",
            STATUSES.join(", ")
        ));
    }
    let mut jobs = load(state_dir, pk, dn);
    let job = jobs
        .iter_mut()
        .find(|j| j.task_id == task_id)
        .ok_or_else(|| format!("the device has no job {task_id:?}"))?;
    job.set(status, "platform");
    let out = job.clone();
    save(state_dir, pk, dn, &jobs).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Records a notify about to be pushed (a QUEUED job becomes SENT) and returns its payload:
/// `{"id":"<id>","version":"1.0","params":{"task":{...}}}`.
pub fn notify(state_dir: &Path, pk: &str, dn: &str, task_id: &str, id: &str) -> Result<String, String> {
    let mut jobs = load(state_dir, pk, dn);
    let job = jobs
        .iter_mut()
        .find(|j| j.task_id == task_id)
        .ok_or_else(|| format!("the device has no job {task_id:?}"))?;
    if job.status == "QUEUED" {
        job.set("SENT", "platform");
    }
    job.notifies.push(Notify {
        id: id.to_owned(),
        reply_code: None,
    });
    let payload = format!(
        "{{\"id\":{},\"version\":\"1.0\",\"params\":{{\"task\":{}}}}}",
        js(id),
        job.task_json()
    );
    save(state_dir, pk, dn, &jobs).map_err(|e| e.to_string())?;
    Ok(payload)
}

/// The text of an id: a string as is, a number in decimal.
fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn reply(id: &str, code: u32, data: &str, message: &str) -> Vec<u8> {
    format!(
        "{{\"id\":{},\"code\":{code},\"data\":{data},\"message\":{}}}",
        js(id),
        js(message)
    )
    .into_bytes()
}

/// The platform's answers to a device's `/sys/{pk}/{dn}/thing/job/<op>` uplink.
pub fn answer(state_dir: &Path, pk: &str, dn: &str, op: &str, payload: &[u8]) -> Vec<(String, Vec<u8>)> {
    let topic = |leaf: &str| format!("/sys/{pk}/{dn}/thing/job/{leaf}");
    match op {
        "get" => get(state_dir, pk, dn, payload)
            .map(|p| (topic("get_reply"), p))
            .into_iter()
            .collect(),
        "update" => update(state_dir, pk, dn, payload)
            .map(|p| (topic("update_reply"), p))
            .into_iter()
            .collect(),
        "notify_reply" => {
            notify_reply(state_dir, pk, dn, payload);
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn get(state_dir: &Path, pk: &str, dn: &str, payload: &[u8]) -> Option<Vec<u8>> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let id = text_of(v.get("id"))?;
    let Some(wanted) = v.pointer("/params/taskId").and_then(Value::as_str) else {
        return Some(reply(&id, CODE_BAD_REQUEST, "{}", "params.taskId is missing"));
    };
    let mut jobs = load(state_dir, pk, dn);
    if wanted == "$list" {
        let tasks: Vec<String> = jobs
            .iter()
            .filter(|j| pending(&j.status))
            .take(LIST_MAX)
            .map(|j| format!("{{\"taskId\":{},\"status\":{}}}", js(&j.task_id), js(&j.status)))
            .collect();
        let data = format!("{{\"taskId\":\"$list\",\"tasks\":[{}]}}", tasks.join(","));
        return Some(reply(&id, 200, &data, "success"));
    }
    let found = if wanted == "$next" {
        jobs.iter_mut().find(|j| pending(&j.status))
    } else {
        jobs.iter_mut().find(|j| j.task_id == wanted)
    };
    let data = match found {
        Some(job) => {
            if job.status == "QUEUED" {
                job.set("SENT", "platform");
            }
            let data = format!("{{\"taskId\":{},\"task\":{}}}", js(&job.task_id), job.task_json());
            let _ = save(state_dir, pk, dn, &jobs);
            data
        }
        None => format!("{{\"taskId\":{}}}", js(wanted)),
    };
    Some(reply(&id, 200, &data, "success"))
}

/// The first `"key":"<text>"` (or a number) in text that is not JSON, as the SDK would read it.
fn scan(text: &str, key: &str) -> Option<String> {
    let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = text[at..].trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        return s.find('"').map(|e| s[..e].to_owned());
    }
    let end = rest.find([',', '}', ']']).unwrap_or(rest.len());
    Some(rest[..end].trim().to_owned()).filter(|s| !s.is_empty())
}

fn update(state_dir: &Path, pk: &str, dn: &str, payload: &[u8]) -> Option<Vec<u8>> {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        // The SDK inserts statusDetails unchecked: text that is not JSON breaks the payload.
        let text = String::from_utf8_lossy(payload);
        let id = scan(&text, "id")?;
        let task_id = scan(&text, "taskId").unwrap_or_default();
        let data = format!("{{\"taskId\":{}}}", js(&task_id));
        return Some(if text.contains("\"statusDetails\":") {
            reply(
                &id,
                CODE_STATUS_DETAILS_NOT_JSON,
                &data,
                "statusDetails must be a JSON object",
            )
        } else {
            reply(&id, CODE_BAD_REQUEST, &data, "the request is not JSON")
        });
    };
    let id = text_of(v.get("id"))?;
    let params = v.get("params").cloned().unwrap_or(Value::Null);
    let task_id = text_of(params.get("taskId")).unwrap_or_default();
    let data = format!("{{\"taskId\":{}}}", js(&task_id));
    let bad = |why: &str| Some(reply(&id, CODE_BAD_REQUEST, &data, why));
    let details = params.get("statusDetails");
    if details.is_some_and(|d| !d.is_object()) {
        return Some(reply(
            &id,
            CODE_STATUS_DETAILS_NOT_JSON,
            &data,
            "statusDetails must be a JSON object",
        ));
    }
    let status = params.get("status").and_then(Value::as_str).unwrap_or_default();
    if !DEVICE_STATUSES.contains(&status) {
        return bad("status is not one a device may set");
    }
    let Some(progress) = params
        .get("progress")
        .and_then(Value::as_u64)
        .filter(|p| *p <= 100)
    else {
        return bad("progress is not a number from 0 to 100");
    };
    let mut jobs = load(state_dir, pk, dn);
    let Some(job) = jobs.iter_mut().find(|j| j.task_id == task_id) else {
        return bad("no such job");
    };
    if !pending(&job.status) {
        return bad("the job is finished");
    }
    job.progress = progress as u8;
    job.status_details = details.cloned();
    job.set(status, "device");
    save(state_dir, pk, dn, &jobs).ok()?;
    Some(reply(&id, 200, &data, "success"))
}

fn notify_reply(state_dir: &Path, pk: &str, dn: &str, payload: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return;
    };
    let (Some(id), Some(code)) = (text_of(v.get("id")), v.get("code").and_then(Value::as_u64)) else {
        return;
    };
    let mut jobs = load(state_dir, pk, dn);
    let mut hit = false;
    for n in jobs.iter_mut().flat_map(|j| j.notifies.iter_mut()) {
        if n.id == id {
            n.reply_code = Some(code);
            hit = true;
        }
    }
    if hit {
        let _ = save(state_dir, pk, dn, &jobs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("aiot-task-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn one(d: &Path, op: &str, payload: &str) -> Option<(String, String)> {
        let mut v = answer(d, "pk", "dn", op, payload.as_bytes());
        assert!(v.len() <= 1);
        v.pop().map(|(t, p)| (t, String::from_utf8(p).unwrap()))
    }

    #[test]
    fn get_next_list_and_one() {
        let d = dir("get");
        let q = |t: &str| format!(r#"{{"id":"5","version":"1.0.0","params":{{"taskId":"{t}"}}}}"#);
        assert_eq!(
            one(&d, "get", &q("$next")).unwrap(),
            (
                "/sys/pk/dn/thing/job/get_reply".into(),
                r#"{"id":"5","code":200,"data":{"taskId":"$next"},"message":"success"}"#.into()
            )
        );
        assert_eq!(
            one(&d, "get", &q("$list")).unwrap().1,
            r#"{"id":"5","code":200,"data":{"taskId":"$list","tasks":[]},"message":"success"}"#
        );
        let file = JobFile {
            sign_method: "Md5".into(),
            sign: "abc".into(),
            file_url: "https://h/f".into(),
        };
        create(
            &d,
            "pk",
            "dn",
            NewJob {
                task_id: Some("t1".into()),
                job_document: Some(serde_json::json!({"op":"reboot"})),
                job_file: Some(file),
                timeout_ms: None,
            },
        )
        .unwrap();
        create(&d, "pk", "dn", NewJob::default()).unwrap();
        assert!(create(
            &d,
            "pk",
            "dn",
            NewJob {
                task_id: Some("t1".into()),
                ..NewJob::default()
            }
        )
        .is_err());
        assert_eq!(
            one(&d, "get", &q("$next")).unwrap().1,
            r#"{"id":"5","code":200,"data":{"taskId":"t1","task":{"taskId":"t1","status":"SENT","jobFile":{"signMethod":"Md5","sign":"abc","fileUrl":"https://h/f"},"jobDocument":{"op":"reboot"}}},"message":"success"}"#
        );
        assert_eq!(
            one(&d, "get", &q("$list")).unwrap().1,
            r#"{"id":"5","code":200,"data":{"taskId":"$list","tasks":[{"taskId":"t1","status":"SENT"},{"taskId":"job-2","status":"QUEUED"}]},"message":"success"}"#
        );
        assert!(one(&d, "get", &q("job-2"))
            .unwrap()
            .1
            .contains(r#""task":{"taskId":"job-2","status":"SENT","jobDocument":{}}"#));
        assert!(one(&d, "get", &q("nope"))
            .unwrap()
            .1
            .contains(r#""data":{"taskId":"nope"}"#));
        assert!(one(&d, "get", r#"{"id":6,"params":{}}"#)
            .unwrap()
            .1
            .starts_with(r#"{"id":"6","code":460,"#));
        assert_eq!(one(&d, "get", "not json"), None);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn updates_and_their_codes() {
        let d = dir("update");
        create(
            &d,
            "pk",
            "dn",
            NewJob {
                task_id: Some("t1".into()),
                ..NewJob::default()
            },
        )
        .unwrap();
        let up = |status: &str, progress: &str, details: &str| {
            format!(
                r#"{{"id":"9","version":"1.0.0","params":{{"taskId":"t1","status":"{status}","progress":{progress}{details}}}}}"#
            )
        };
        let (t, p) = one(&d, "update", &up("IN_PROGRESS", "0", "")).unwrap();
        assert_eq!(t, "/sys/pk/dn/thing/job/update_reply");
        assert_eq!(
            p,
            r#"{"id":"9","code":200,"data":{"taskId":"t1"},"message":"success"}"#
        );
        let p = one(
            &d,
            "update",
            &up("IN_PROGRESS", "50", r#","statusDetails":{"step":"download"}"#),
        )
        .unwrap()
        .1;
        assert!(p.contains(r#""code":200"#));
        // Not a JSON object: 71012, whether the payload stays JSON or not.
        let p = one(&d, "update", &up("IN_PROGRESS", "60", r#","statusDetails":"x""#))
            .unwrap()
            .1;
        assert!(
            p.starts_with(r#"{"id":"9","code":71012,"data":{"taskId":"t1"}"#),
            "{p}"
        );
        let p = one(&d, "update", &up("IN_PROGRESS", "60", r#","statusDetails":abc"#))
            .unwrap()
            .1;
        assert!(
            p.starts_with(r#"{"id":"9","code":71012,"data":{"taskId":"t1"}"#),
            "{p}"
        );
        for bad in [
            up("QUEUED", "1", ""),
            up("IN_PROGRESS", "101", ""),
            up("NOPE", "1", ""),
        ] {
            assert!(
                one(&d, "update", &bad).unwrap().1.contains(r#""code":460"#),
                "{bad}"
            );
        }
        assert!(one(&d, "update", &up("SUCCEEDED", "100", ""))
            .unwrap()
            .1
            .contains(r#""code":200"#));
        // Finished: no more reports.
        assert!(one(&d, "update", &up("FAILED", "100", ""))
            .unwrap()
            .1
            .contains(r#""code":460"#));
        let job = &load(&d, "pk", "dn")[0];
        let steps: Vec<(&str, u8)> = job
            .history
            .iter()
            .map(|s| (s.status.as_str(), s.progress))
            .collect();
        assert_eq!(
            steps,
            [
                ("QUEUED", 0),
                ("IN_PROGRESS", 0),
                ("IN_PROGRESS", 50),
                ("SUCCEEDED", 100)
            ]
        );
        assert_eq!(
            job.history[2].status_details,
            Some(serde_json::json!({"step":"download"}))
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn notifies_replies_and_timeouts() {
        let d = dir("notify");
        create(
            &d,
            "pk",
            "dn",
            NewJob {
                task_id: Some("t1".into()),
                ..NewJob::default()
            },
        )
        .unwrap();
        let p = notify(&d, "pk", "dn", "t1", "77").unwrap();
        assert_eq!(
            p,
            r#"{"id":"77","version":"1.0","params":{"task":{"taskId":"t1","status":"SENT","jobDocument":{}}}}"#
        );
        assert_eq!(
            one(&d, "notify_reply", r#"{"id":"77","code":200,"data":{}}"#),
            None
        );
        assert_eq!(load(&d, "pk", "dn")[0].notifies[0].reply_code, Some(200));
        assert!(notify(&d, "pk", "dn", "nope", "1").is_err());
        set_status(&d, "pk", "dn", "t1", "CANCELLED").unwrap();
        assert!(set_status(&d, "pk", "dn", "t1", "BAD").is_err());
        create(
            &d,
            "pk",
            "dn",
            NewJob {
                task_id: Some("t2".into()),
                timeout_ms: Some(0),
                ..NewJob::default()
            },
        )
        .unwrap();
        assert_eq!(load(&d, "pk", "dn")[1].status, "TIMED_OUT");
        let _ = std::fs::remove_dir_all(&d);
    }
}
