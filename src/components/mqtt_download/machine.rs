//! The download as plain data: every decision of the block protocol, as functions of the
//! clock (`now`, milliseconds of the port's clock) and the reply bytes, returning what to
//! send. No sockets, no locks: [`super::MqttDownload`] carries the actions out.

use super::codes::*;
use super::frame;
use crate::components::download::digest::Digest;
use crate::components::ota::codes::{STATE_OTA_DIGEST_MATCH, STATE_OTA_DIGEST_MISMATCH};
use crate::log;

/// A request unanswered this long is sent again (counted as a failure).
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// More failures than this in a row end the download with `FAILED_TIMEOUT`.
pub const MAX_FAILURES: u32 = 3;
/// Progress is reported each time the percent has grown by this much.
pub const REPORT_STEP: u32 = 5;
/// Block size asked for by default (`AIOT_MDOPT_DATA_REQUEST_SIZE`).
pub const DEFAULT_REQUEST_SIZE: u32 = 5 * 1024;
/// Progress step reported for a digest mismatch (`AIOT_OTAERR_CHECKSUM_MISMATCH`).
const STEP_MISMATCH: i32 = -3;
/// Progress step reported for a failed fetch (`AIOT_OTAERR_BURN_FAILED`, as upstream).
const STEP_FAILED: i32 = -4;
/// Code of the lines logged for refused replies (upstream logs them with code 0).
const LOG_REPLY: i32 = 0;

/// What the download needs of its OTA task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Task {
    pub stream_id: u32,
    pub stream_file_id: u32,
    pub size_total: u32,
    /// `AIOT_OTA_DIGEST_*`.
    pub digest_method: u8,
    /// Expected whole-file digest, hex.
    pub expect_digest: String,
}

/// The bytes to fetch: `start` and `end` as set with `AIOT_MDOPT_RANGE_START` / `_END`.
/// `end` is the last byte, **inclusive**, as upstream's header documents (start 0, end 9: ten
/// bytes); 0 means the end of the file. An `end` past the file is cut to its last byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    pub start: u32,
    pub end: u32,
}

impl Range {
    /// First byte and byte count for a file of `total` bytes; `None` when nothing is left.
    pub fn resolve(self, total: u32) -> Option<(u32, u32)> {
        let last = total.checked_sub(1)?;
        let end = if self.end == 0 { last } else { self.end.min(last) };
        if self.start > end {
            return None;
        }
        Some((self.start, end - self.start + 1))
    }
}

/// One request on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub id: u32,
    pub offset: u32,
    pub size: u32,
}

impl Request {
    pub fn payload(&self, task: &Task) -> String {
        frame::request_payload(
            self.id,
            task.stream_id,
            task.stream_file_id,
            self.size,
            self.offset,
        )
    }
}

/// What the session must do after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// SUBSCRIBE the reply topic (QoS0).
    Subscribe,
    Send(Request),
    /// Publish this progress step.
    Progress(i32),
}

/// A good block, for the receive handler.
#[derive(Debug, PartialEq, Eq)]
pub struct Block<'a> {
    pub token: String,
    pub offset: u32,
    pub data: &'a [u8],
    pub percent: i32,
    pub file_length: i32,
}

/// What a reply did.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplyOutcome<'a> {
    /// Not downloading, or a late copy of a block already taken: nothing to do.
    Ignored,
    /// A refused reply: counted as a failure; resend this request (`None`: the download failed).
    Failed(Option<Request>),
    /// A good block: hand it to the receive handler, then ask [`Machine::next_request`].
    Block(Block<'a>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Init,
    Ing,
    Finished,
    Success,
    FailedTimeout,
    FailedMismatch,
    FailedRecvError,
}

impl Status {
    fn code(self) -> i32 {
        match self {
            Status::Init => STATE_MQTT_DOWNLOAD_INIT,
            Status::Ing => STATE_MQTT_DOWNLOAD_ING,
            Status::Finished => STATE_MQTT_DOWNLOAD_FINISHED,
            Status::Success => STATE_MQTT_DOWNLOAD_SUCCESS,
            Status::FailedTimeout => STATE_MQTT_DOWNLOAD_FAILED_TIMEOUT,
            Status::FailedMismatch => STATE_MQTT_DOWNLOAD_FAILED_MISMATCH,
            Status::FailedRecvError => STATE_MQTT_DOWNLOAD_FAILED_RECVERROR,
        }
    }
}

/// How the end of a download is checked.
#[derive(Clone)]
enum Check {
    /// A range of the file: only the block CRCs (upstream's contract for ranges).
    BlocksOnly,
    /// The whole file: its digest must match the task's.
    Digest(Box<Digest>),
    /// The whole file, but the task's digest method is unknown: it can never be verified.
    Unverifiable,
}

/// One download.
pub struct Machine {
    pub task: Task,
    pub range: Range,
    pub request_size: u32,
    status: Status,
    /// Requests sent in this run (the `id` of the last one).
    msg_id: u32,
    /// First byte and length of the range of this run.
    start: u32,
    range_size: u32,
    fetched: u32,
    last_request_ms: u64,
    failures: u32,
    last_percent: u32,
    /// The request waiting for its reply.
    pending: Option<Request>,
    check: Check,
}

impl Machine {
    pub fn new(task: Task) -> Machine {
        Machine {
            task,
            range: Range::default(),
            request_size: DEFAULT_REQUEST_SIZE,
            status: Status::Init,
            msg_id: 0,
            start: 0,
            range_size: 0,
            fetched: 0,
            last_request_ms: 0,
            failures: 0,
            last_percent: 0,
            pending: None,
            check: Check::BlocksOnly,
        }
    }

    /// The status code `aiot_mqtt_download_process` would return on entry.
    pub fn status_code(&self) -> i32 {
        self.status.code()
    }

    /// Bytes of the range received so far.
    pub fn fetched(&self) -> u32 {
        self.fetched
    }

    fn percent(&self) -> u32 {
        if self.range_size == 0 {
            return 0;
        }
        (u64::from(self.fetched) * 100 / u64::from(self.range_size)) as u32
    }

    /// A new request for the next block; it becomes the one in flight.
    fn request(&mut self, now: u64) -> Request {
        self.msg_id = self.msg_id.wrapping_add(1);
        let req = Request {
            id: self.msg_id,
            offset: self.start + self.fetched,
            size: self.request_size.min(self.range_size - self.fetched),
        };
        self.last_request_ms = now;
        self.pending = Some(req);
        req
    }

    /// Counts a failure: the same block is asked for again, or after more than
    /// [`MAX_FAILURES`] in a row the download fails (`FAILED_TIMEOUT`).
    fn fail(&mut self, now: u64) -> Option<Request> {
        self.failures += 1;
        if self.failures > MAX_FAILURES {
            self.status = Status::FailedTimeout;
            self.pending = None;
            return None;
        }
        Some(self.request(now))
    }

    fn reset(&mut self) {
        self.status = Status::Init;
        self.msg_id = 0;
        self.fetched = 0;
        self.last_request_ms = 0;
        self.failures = 0;
        self.last_percent = 0;
        self.range_size = 0;
        self.pending = None;
        self.check = Check::BlocksOnly;
    }

    /// One `aiot_mqtt_download_process` step: returns the status it found (INIT returns ING
    /// once the first request is out) and what to do.
    pub fn process(&mut self, now: u64) -> (i32, Vec<Action>) {
        let entry = self.status;
        let mut actions = Vec::new();
        match entry {
            Status::Init => {
                let Some((start, size)) = self.range.resolve(self.task.size_total) else {
                    return (STATE_MQTT_DOWNLOAD_FILESIZE_ERROR, actions);
                };
                self.start = start;
                self.range_size = size;
                self.check = if start == 0 && size == self.task.size_total {
                    Digest::new(self.task.digest_method)
                        .map_or(Check::Unverifiable, |d| Check::Digest(Box::new(d)))
                } else {
                    Check::BlocksOnly
                };
                actions.push(Action::Subscribe);
                let req = self.request(now);
                actions.push(Action::Send(req));
                self.status = Status::Ing;
                return (STATE_MQTT_DOWNLOAD_ING, actions);
            }
            Status::Ing => {
                if now.saturating_sub(self.last_request_ms) > REQUEST_TIMEOUT_MS {
                    if let Some(req) = self.fail(now) {
                        actions.push(Action::Send(req));
                    }
                }
                let percent = self.percent();
                if percent >= self.last_percent + REPORT_STEP {
                    self.last_percent = percent;
                    actions.push(Action::Progress(percent as i32));
                }
            }
            Status::Finished => self.verify(),
            Status::Success => {
                actions.push(Action::Progress(100));
                self.reset();
            }
            Status::FailedMismatch => {
                actions.push(Action::Progress(STEP_MISMATCH));
                self.reset();
            }
            Status::FailedTimeout | Status::FailedRecvError => {
                actions.push(Action::Progress(STEP_FAILED));
                self.reset();
            }
        }
        (entry.code(), actions)
    }

    /// FINISHED: a whole file must match its digest; a range has had its block CRCs checked.
    fn verify(&mut self) {
        let check = std::mem::replace(&mut self.check, Check::BlocksOnly);
        self.status = match check {
            Check::BlocksOnly => Status::Success,
            Check::Digest(d) if d.matches(&self.task.expect_digest) => {
                log::line(STATE_OTA_DIGEST_MATCH, "digest matched\r\n");
                Status::Success
            }
            Check::Digest(_) => {
                log::line(STATE_OTA_DIGEST_MISMATCH, "digest mismatch\r\n");
                Status::FailedMismatch
            }
            Check::Unverifiable => {
                log::line(
                    STATE_OTA_DIGEST_MISMATCH,
                    &format!(
                        "digest mismatch: unknown digest method {}, the image cannot be verified\r\n",
                        self.task.digest_method
                    ),
                );
                Status::FailedMismatch
            }
        };
    }

    /// A reply on the reply topic. Frame errors, an empty or oversized block and a block of
    /// an offset not yet asked for count as failures (the block is asked for again); a late
    /// copy of a block already taken is ignored. A good block advances the download.
    pub fn on_reply<'a>(&mut self, payload: &'a [u8], now: u64) -> ReplyOutcome<'a> {
        if self.status != Status::Ing {
            return ReplyOutcome::Ignored;
        }
        let Some(pending) = self.pending else {
            return ReplyOutcome::Ignored;
        };
        let reply = match frame::parse_reply(payload) {
            Ok(r) => r,
            Err(e) => return self.refuse(&e.log_text(), now),
        };
        let expected = self.start + self.fetched;
        if reply.offset != expected {
            if reply.offset < expected {
                log::line(
                    LOG_REPLY,
                    &format!(
                        "late block at offset {} ignored (expecting {expected})\r\n",
                        reply.offset
                    ),
                );
                return ReplyOutcome::Ignored;
            }
            return self.refuse(
                &format!(
                    "block at offset {} refused, expecting {expected}\r\n",
                    reply.offset
                ),
                now,
            );
        }
        let n = reply.data.len() as u32;
        if n == 0 || n > pending.size {
            return self.refuse(
                &format!("block of {n} bytes refused, {} asked for\r\n", pending.size),
                now,
            );
        }
        if u64::from(self.fetched) + u64::from(n) > u64::from(self.range_size) {
            // Unreachable while requests never ask past the range; kept as upstream's guard.
            self.status = Status::FailedRecvError;
            self.pending = None;
            return ReplyOutcome::Ignored;
        }
        self.fetched += n;
        self.failures = 0;
        self.pending = None;
        // The next request goes out after the handler ran; until then no timeout is due.
        self.last_request_ms = now;
        if let Check::Digest(d) = &mut self.check {
            d.update(reply.data);
        }
        let percent = if self.fetched == self.range_size {
            self.status = Status::Finished;
            100
        } else {
            self.percent() as i32
        };
        ReplyOutcome::Block(Block {
            token: reply.token,
            offset: reply.offset,
            data: reply.data,
            percent,
            file_length: reply.file_length as i32,
        })
    }

    fn refuse<'a>(&mut self, why: &str, now: u64) -> ReplyOutcome<'a> {
        log::line(LOG_REPLY, why);
        ReplyOutcome::Failed(self.fail(now))
    }

    /// After a good block: the request for the next one, unless the range is complete or the
    /// download was restarted meanwhile.
    pub fn next_request(&mut self, now: u64) -> Option<Request> {
        if self.status != Status::Ing || self.pending.is_some() || self.fetched >= self.range_size {
            return None;
        }
        Some(self.request(now))
    }
}
