//! `aiot-platform task ...`: the platform's side of job management from the command line
//! (create jobs, list and show them with their status history, push a notify, set a job's
//! status from the platform's side). Jobs live in `<state>/jobs/<pk>/<dn>.json`; the service
//! inside exec/serve answers the device's get and update requests from them
//! (`aiot_platform::task`).

use aiot_platform::task::{self, JobFile, NewJob};
use serde_json::Value;

use crate::dm_cli::{device_of, exchange, new_id, Target};

pub const TASK_LONG_ABOUT: &str = "\
The platform's side of job management (aiot_task_api.h). Jobs are stored per device in
<state>/jobs/<pk>/<dn>.json; the service inside exec/ota-exec/serve answers the device from them:

  /sys/<pk>/<dn>/thing/job/get     $next (oldest job QUEUED, SENT or IN_PROGRESS; none: taskId
                                   $next only), $list (those jobs, at most 10) or one job id
                                   (unknown: taskId only), on get_reply; QUEUED becomes SENT
  /sys/<pk>/<dn>/thing/job/update  IN_PROGRESS, SUCCEEDED, FAILED or REJECTED with progress 0..100
                                   and statusDetails recorded (code 200), 71012 when statusDetails
                                   is not a JSON object, 460 for other refusals, on update_reply
  /sys/<pk>/<dn>/thing/job/notify_reply  recorded on the notify it answers

  create      add a QUEUED job (--id, --document JSON, --file-url/--sign/--sign-method, --timeout-s)
  list        the device's jobs, one JSON line each (taskId, status, progress)
  show        one job with its status history and notifies (pretty JSON)
  notify      push {\"id\":..,\"version\":\"1.0\",\"params\":{\"task\":{...}}} on .../thing/job/notify and
              print the device's notify_reply (exit 3 when none comes within --timeout-ms)
  set-status  set a job's status from the platform's side (e.g. CANCELLED), optionally pushing it

--device PK/DN picks the device (default: the platform's first one). Exit status: 0 done, 3 no
notify_reply in time, 2 bad arguments.";

#[derive(clap::Subcommand)]
pub enum TaskCmd {
    /// Add a QUEUED job to the device and print it.
    Create {
        #[command(flatten)]
        target: Target,
        /// The job id (default job-<n>).
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// The job document, a JSON object (default {}).
        #[arg(long, value_name = "JSON")]
        document: Option<String>,
        /// jobFile.fileUrl (with --sign and --sign-method).
        #[arg(long, value_name = "URL", requires_all = ["sign", "sign_method"])]
        file_url: Option<String>,
        /// jobFile.sign.
        #[arg(long, value_name = "S", requires = "file_url")]
        sign: Option<String>,
        /// jobFile.signMethod, e.g. Md5.
        #[arg(long, value_name = "M", requires = "file_url")]
        sign_method: Option<String>,
        /// The job times out (TIMED_OUT) after this many seconds unless the device finishes it.
        #[arg(long, value_name = "S")]
        timeout_s: Option<u64>,
    },
    /// List the device's jobs, one JSON line each.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Show one job with its status history and notifies.
    Show {
        #[command(flatten)]
        target: Target,
        /// The job id.
        #[arg(long, value_name = "ID")]
        id: String,
    },
    /// Push a notify for a job and print the device's notify_reply.
    Notify {
        #[command(flatten)]
        target: Target,
        /// The job id.
        #[arg(long, value_name = "ID")]
        id: String,
        /// Give up (exit 3) after this many milliseconds without the reply.
        #[arg(long, value_name = "MS", default_value_t = 5000)]
        timeout_ms: u64,
    },
    /// Set a job's status from the platform's side.
    SetStatus {
        #[command(flatten)]
        target: Target,
        /// The job id.
        #[arg(long, value_name = "ID")]
        id: String,
        /// One of QUEUED, SENT, IN_PROGRESS, SUCCEEDED, FAILED, REJECTED, CANCELLED, REMOVED, TIMED_OUT.
        #[arg(long, value_name = "STATUS")]
        status: String,
        /// Also push a notify with the new status (and wait for its reply).
        #[arg(long)]
        notify: bool,
        /// With --notify: give up (exit 3) after this many milliseconds without the reply.
        #[arg(long, value_name = "MS", default_value_t = 5000)]
        timeout_ms: u64,
    },
}

fn push(target: &Target, id: &str, timeout_ms: u64) -> Result<u8, String> {
    let (pk, dn) = device_of(target)?;
    let msg_id = new_id();
    let payload = task::notify(&target.state_dir, &pk, &dn, id, &msg_id)?;
    exchange(
        &target.state_dir,
        &format!("/sys/{pk}/{dn}/thing/job/notify"),
        payload.into_bytes(),
        &format!("/sys/{pk}/{dn}/thing/job/notify_reply"),
        Some(&msg_id),
        timeout_ms,
        false,
    )
}

fn find(target: &Target, id: &str) -> Result<task::Job, String> {
    let (pk, dn) = device_of(target)?;
    task::load(&target.state_dir, &pk, &dn)
        .into_iter()
        .find(|j| j.task_id == id)
        .ok_or_else(|| format!("the device has no job {id:?}"))
}

pub fn run(cmd: TaskCmd) -> Result<u8, String> {
    match cmd {
        TaskCmd::Create {
            target,
            id,
            document,
            file_url,
            sign,
            sign_method,
            timeout_s,
        } => {
            let job_document = match document {
                Some(d) => {
                    let v: Value =
                        serde_json::from_str(&d).map_err(|e| format!("--document is not JSON: {e}"))?;
                    if !v.is_object() {
                        return Err("--document must be a JSON object".into());
                    }
                    Some(v)
                }
                None => None,
            };
            let job_file = file_url.map(|file_url| JobFile {
                sign_method: sign_method.unwrap_or_default(),
                sign: sign.unwrap_or_default(),
                file_url,
            });
            let (pk, dn) = device_of(&target)?;
            let job = task::create(
                &target.state_dir,
                &pk,
                &dn,
                NewJob {
                    task_id: id,
                    job_document,
                    job_file,
                    timeout_ms: timeout_s.map(|s| s.saturating_mul(1000)),
                },
            )?;
            println!("{}", serde_json::to_string(&job).expect("serializes"));
            Ok(0)
        }
        TaskCmd::List { target } => {
            let (pk, dn) = device_of(&target)?;
            for j in task::load(&target.state_dir, &pk, &dn) {
                println!(
                    "{}",
                    serde_json::json!({"taskId": j.task_id, "status": j.status, "progress": j.progress})
                );
            }
            Ok(0)
        }
        TaskCmd::Show { target, id } => {
            let job = find(&target, &id)?;
            println!("{}", serde_json::to_string_pretty(&job).expect("serializes"));
            Ok(0)
        }
        TaskCmd::Notify {
            target,
            id,
            timeout_ms,
        } => {
            find(&target, &id)?;
            push(&target, &id, timeout_ms)
        }
        TaskCmd::SetStatus {
            target,
            id,
            status,
            notify,
            timeout_ms,
        } => {
            let (pk, dn) = device_of(&target)?;
            let job = task::set_status(&target.state_dir, &pk, &dn, &id, &status)?;
            if notify {
                return push(&target, &id, timeout_ms);
            }
            println!("{}", serde_json::to_string(&job).expect("serializes"));
            Ok(0)
        }
    }
}
