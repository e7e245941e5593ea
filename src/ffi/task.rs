//! `aiot_task_api.h`: job management (job queries, status reports, pushed jobs).

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::Arc;

use super::handle::{deinit_handle, new_handle};
use super::mqtt::shared_client;
use super::{deref, guard, handler_data};
use crate::components::task::{Recv, Task, TaskDesc, TaskError, Update};
use crate::state::*;

/// Options of `aiot_task_setopt`; the comment gives what `data` is.
pub type aiot_task_option_t = u32;
/// `void *` MQTT handle the job messages travel on (adds the three job topic handlers, no
/// SUBSCRIBE; product key and device name are always this handle's).
pub const AIOT_TASKOPT_MQTT_HANDLE: aiot_task_option_t = 0;
/// `aiot_task_recv_handler_t`
pub const AIOT_TASKOPT_RECV_HANDLER: aiot_task_option_t = 1;
/// `void *` userdata for the receive handler.
pub const AIOT_TASKOPT_USERDATA: aiot_task_option_t = 2;
pub const AIOT_TASKOPT_MAX: aiot_task_option_t = 3;

/// A job's status. QUEUED, SENT, CANCELLED, REMOVED and TIMED_OUT are set by the platform;
/// IN_PROGRESS, SUCCEEDED, FAILED and REJECTED by the device. NOT_FOUND: the platform has no
/// such job (never sent).
pub type aiot_task_status_t = u32;
pub const AIOT_TASK_STATUS_QUEUED: aiot_task_status_t = 0;
pub const AIOT_TASK_STATUS_SENT: aiot_task_status_t = 1;
pub const AIOT_TASK_STATUS_IN_PROGRESS: aiot_task_status_t = 2;
pub const AIOT_TASK_STATUS_SUCCEEDED: aiot_task_status_t = 3;
pub const AIOT_TASK_STATUS_FAILED: aiot_task_status_t = 4;
pub const AIOT_TASK_STATUS_REJECTED: aiot_task_status_t = 5;
pub const AIOT_TASK_STATUS_CANCELLED: aiot_task_status_t = 6;
pub const AIOT_TASK_STATUS_REMOVED: aiot_task_status_t = 7;
pub const AIOT_TASK_STATUS_TIMED_OUT: aiot_task_status_t = 8;
pub const AIOT_TASK_STATUS_NOT_FOUND: aiot_task_status_t = 9;

/// Kind of message passed to the receive handler.
pub type aiot_task_recv_type_t = u32;
/// A job pushed on `/sys/{pk}/{dn}/thing/job/notify` (`data.notify`); the SDK has already
/// answered it on `notify_reply`.
pub const AIOT_TASKRECV_NOTIFY: aiot_task_recv_type_t = 0;
/// One job on `.../thing/job/get_reply` (`data.get_detail_reply`); status NOT_FOUND when the
/// platform has none (`$next` with no job pending, or an unknown id).
pub const AIOT_TASKRECV_GET_DETAIL_REPLY: aiot_task_recv_type_t = 1;
/// The job list on `.../thing/job/get_reply` (`data.get_list_reply`, at most 10 entries).
pub const AIOT_TASKRECV_GET_LIST_REPLY: aiot_task_recv_type_t = 2;
/// The answer to a status report on `.../thing/job/update_reply` (`data.update_reply`).
pub const AIOT_TASKRECV_UPDATE_REPLY: aiot_task_recv_type_t = 3;

/// A job. Received: every string is valid during the handler call only (copy what you keep);
/// absent fields are NULL; `status_details`, `progress` and `handle` are not filled (NULL, 0,
/// NULL). Sent (`aiot_task_update`): `task_id`, `status`, `progress` and `status_details` (NULL
/// or a JSON object, inserted as given) are read.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct task_desc_t {
    pub task_id: *mut c_char,
    pub status: aiot_task_status_t,
    /// The job document: a JSON object as the platform wrote it (a string: its text).
    pub job_document: *mut c_char,
    /// `jobFile.signMethod`, e.g. "Md5".
    pub sign_method: *mut c_char,
    /// `jobFile.sign`.
    pub sign: *mut c_char,
    /// `jobFile.fileUrl`.
    pub document_file_url: *mut c_char,
    /// A JSON object such as `{"key":"value"}`, passed to the platform as given; "" is refused.
    pub status_details: *mut c_char,
    /// 0 to 100.
    pub progress: u8,
    pub handle: *mut c_void,
}

/// One entry of the job list.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct task_summary_t {
    pub task_id: *mut c_char,
    pub status: aiot_task_status_t,
}

/// The job list: `number` entries at `tasks` (NULL when 0).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct task_get_list_reply_t {
    pub number: u32,
    pub tasks: *mut task_summary_t,
}

/// One job asked for.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct task_get_detail_reply_t {
    /// The platform's code (200: success).
    pub code: u32,
    pub task: task_desc_t,
}

/// The answer to a status report.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct task_update_reply_t {
    /// The platform's code (200: success; 71012: `status_details` was not a JSON object).
    pub code: u32,
    pub task_id: *mut c_char,
    /// Not filled (0), as upstream.
    pub status: aiot_task_status_t,
}

/// Payload of `aiot_task_recv_t`, selected by its `type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union aiot_task_recv_data_t {
    pub notify: task_desc_t,
    pub get_list_reply: task_get_list_reply_t,
    pub get_detail_reply: task_get_detail_reply_t,
    pub update_reply: task_update_reply_t,
}

/// A message passed to the receive handler.
#[repr(C)]
pub struct aiot_task_recv_t {
    pub r#type: aiot_task_recv_type_t,
    pub data: aiot_task_recv_data_t,
}

/// Task receive handler, run on the thread calling `aiot_mqtt_recv`; `handle` is the task
/// handle. It may call `aiot_task_update` and the other calls of this handle.
pub type aiot_task_recv_handler_t =
    Option<unsafe extern "C" fn(handle: *mut c_void, recv: *const aiot_task_recv_t, userdata: *mut c_void)>;

/// The object behind a task handle.
pub struct TaskHandle {
    task: Task,
}

/// # Safety
/// `handle` must be NULL or a handle from `aiot_task_init` not yet freed.
unsafe fn task<'a>(handle: *mut c_void) -> Option<&'a Task> {
    // SAFETY: NULL or a live `TaskHandle` (this function's contract).
    unsafe { deref::<TaskHandle>(handle) }.map(|h| &h.task)
}

fn code(result: Result<i32, TaskError>) -> i32 {
    result.unwrap_or_else(TaskError::code)
}

/// The C strings of one received message; the pointers handed over point into them.
#[derive(Default)]
struct Strings(Vec<CString>);

impl Strings {
    /// A copy of `s` (which holds no NUL: the parser refuses those).
    fn put(&mut self, s: &str) -> *mut c_char {
        let c = CString::new(s).unwrap_or_default();
        // The heap buffer does not move when the CString itself is moved into the list.
        let p = c.as_ptr() as *mut c_char;
        self.0.push(c);
        p
    }

    fn opt(&mut self, s: &Option<String>) -> *mut c_char {
        s.as_deref().map_or(std::ptr::null_mut(), |s| self.put(s))
    }

    fn desc(&mut self, t: &TaskDesc) -> task_desc_t {
        task_desc_t {
            task_id: self.put(&t.task_id),
            status: t.status,
            job_document: self.opt(&t.job_document),
            sign_method: self.opt(&t.sign_method),
            sign: self.opt(&t.sign),
            document_file_url: self.opt(&t.file_url),
            status_details: std::ptr::null_mut(),
            progress: 0,
            handle: std::ptr::null_mut(),
        }
    }
}

/// Calls the user's handler with `recv` as a C message; every copy is freed after the call.
fn call_c(
    f: unsafe extern "C" fn(*mut c_void, *const aiot_task_recv_t, *mut c_void),
    handle: usize,
    recv: &Recv,
    userdata: usize,
) {
    let mut s = Strings::default();
    let mut summaries: Vec<task_summary_t> = Vec::new();
    let (r#type, data) = match recv {
        Recv::Notify(t) => (AIOT_TASKRECV_NOTIFY, aiot_task_recv_data_t { notify: s.desc(t) }),
        Recv::GetDetailReply { code, task } => (
            AIOT_TASKRECV_GET_DETAIL_REPLY,
            aiot_task_recv_data_t {
                get_detail_reply: task_get_detail_reply_t {
                    code: *code,
                    task: s.desc(task),
                },
            },
        ),
        Recv::GetListReply(list) => {
            summaries = list
                .iter()
                .map(|(id, status)| task_summary_t {
                    task_id: s.put(id),
                    status: *status,
                })
                .collect();
            let tasks = if summaries.is_empty() {
                std::ptr::null_mut()
            } else {
                summaries.as_mut_ptr()
            };
            (
                AIOT_TASKRECV_GET_LIST_REPLY,
                aiot_task_recv_data_t {
                    get_list_reply: task_get_list_reply_t {
                        number: summaries.len() as u32,
                        tasks,
                    },
                },
            )
        }
        Recv::UpdateReply { code, task_id } => (
            AIOT_TASKRECV_UPDATE_REPLY,
            aiot_task_recv_data_t {
                update_reply: task_update_reply_t {
                    code: *code,
                    task_id: s.put(task_id),
                    status: 0,
                },
            },
        ),
    };
    let msg = aiot_task_recv_t { r#type, data };
    // SAFETY: the user's handler, called with a message whose pointers (into `s` and
    // `summaries`) stay valid until it returns.
    unsafe { f(handle as *mut c_void, &msg, userdata as *mut c_void) };
    drop(summaries);
    drop(s);
}

/// Creates a task handle; NULL when no portfile is set.
#[no_mangle]
pub extern "C" fn aiot_task_init() -> *mut c_void {
    new_handle(|_| TaskHandle { task: Task::new() })
}

/// Frees a task handle (leaving its MQTT handle's topic handlers) and writes NULL back.
/// `STATE_USER_INPUT_NULL_POINTER` when `handle` or `*handle` is NULL.
///
/// # Safety
/// `handle` must be NULL or point to NULL or a handle from `aiot_task_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_task_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle from `aiot_task_init`, used by no call from
    // now on (this function's contract).
    unsafe { deinit_handle::<TaskHandle>(handle, STATE_USER_INPUT_NULL_POINTER, |_| Ok(())) }
}

/// Sets one option. NULL handle: `STATE_TASK_SETOPT_HANDLE_IS_NULL`; NULL data:
/// `STATE_TASK_SETOPT_DATA_IS_NULL`; unknown option: `STATE_USER_INPUT_UNKNOWN_OPTION`.
///
/// # Safety
/// `handle` from `aiot_task_init`; `data` as the option says.
#[no_mangle]
pub unsafe extern "C" fn aiot_task_setopt(
    handle: *mut c_void,
    option: aiot_task_option_t,
    data: *mut c_void,
) -> i32 {
    use crate::components::task::codes::*;
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_task_init` (this function's contract).
        let Some(t) = (unsafe { task(handle) }) else {
            return STATE_TASK_SETOPT_HANDLE_IS_NULL;
        };
        if data.is_null() {
            return STATE_TASK_SETOPT_DATA_IS_NULL;
        }
        let handle = handle as usize;
        match option {
            // SAFETY: `data` is a live handle from `aiot_mqtt_init` (the option's contract).
            AIOT_TASKOPT_MQTT_HANDLE => match unsafe { shared_client(data) } {
                Some(client) => code(t.set_mqtt(client).map(|()| STATE_SUCCESS)),
                None => STATE_USER_INPUT_NULL_POINTER,
            },
            AIOT_TASKOPT_RECV_HANDLER => {
                // SAFETY: the option passes the handler itself as `data` (its contract).
                let f: unsafe extern "C" fn(*mut c_void, *const aiot_task_recv_t, *mut c_void) =
                    unsafe { handler_data(data) };
                t.set_handler(Arc::new(move |recv: &Recv, userdata: usize| {
                    call_c(f, handle, recv, userdata)
                }));
                STATE_SUCCESS
            }
            AIOT_TASKOPT_USERDATA => {
                t.set_userdata(data as usize);
                STATE_SUCCESS
            }
            _ => STATE_USER_INPUT_UNKNOWN_OPTION,
        }
    })
}

/// Asks for the job list (`"taskId":"$list"`); the answer reaches the receive handler as
/// `AIOT_TASKRECV_GET_LIST_REPLY`. Returns the publish result (0), not the alink id.
///
/// # Safety
/// `handle` must come from `aiot_task_init`.
#[no_mangle]
pub unsafe extern "C" fn aiot_task_get_task_list(handle: *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or comes from `aiot_task_init` (this function's contract).
    guard(|| match unsafe { task(handle) } {
        Some(t) => code(t.query(b"$list")),
        None => STATE_USER_INPUT_NULL_POINTER,
    })
}

/// Asks for one job: `user_task_id`, or with NULL the next one to do (`$next`: the oldest job
/// QUEUED, SENT or IN_PROGRESS). The answer reaches the receive handler as
/// `AIOT_TASKRECV_GET_DETAIL_REPLY`. Returns the publish result (0).
///
/// # Safety
/// `handle` from `aiot_task_init`; `user_task_id` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn aiot_task_get_task_detail(handle: *mut c_void, user_task_id: *mut c_char) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_task_init` (this function's contract).
        let Some(t) = (unsafe { task(handle) }) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        let id: &[u8] = if user_task_id.is_null() {
            b"$next"
        } else {
            // SAFETY: not NULL, and NUL-terminated by the contract.
            unsafe { CStr::from_ptr(user_task_id) }.to_bytes()
        };
        code(t.query(id))
    })
}

/// Reports a job's status, progress and optional details (`.../thing/job/update`); the answer
/// reaches the receive handler as `AIOT_TASKRECV_UPDATE_REPLY`. `status_details` = "":
/// `STATE_TASK_UPDATE_STATUS_DETAILS_INVALID`; a status without a wire name (NOT_FOUND):
/// `STATE_TASK_UPDATE_STATUS_INVALID`. Returns the publish result (0).
///
/// # Safety
/// `handle` from `aiot_task_init`; `task` NULL or a valid `task_desc_t` whose `task_id` and
/// `status_details` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn aiot_task_update(handle: *mut c_void, task: *mut task_desc_t) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or comes from `aiot_task_init` (this function's contract).
        let (Some(t), Some(desc)) = ((unsafe { self::task(handle) }), (unsafe { task.as_ref() })) else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        // SAFETY: NULL or NUL-terminated strings (this function's contract).
        let bytes = |p: *mut c_char| (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes());
        code(t.update(&Update {
            task_id: bytes(desc.task_id),
            status: desc.status,
            progress: desc.progress,
            status_details: bytes(desc.status_details),
        }))
    })
}
