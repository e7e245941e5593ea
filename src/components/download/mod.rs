//! Firmware download over HTTP(S) (`aiot_download_*`): range requests, resume after a broken
//! connection, a streaming digest check and progress reports.
//!
//! Upstream 4.2 semantics (see `shared/upstream-facts.md` §7) with these deliberate
//! differences:
//! * HTTP is ureq-proto over our own transport ([`http`]): any HTTP/1.x status line, header names in
//!   any case, long header lines. `Content-Length` is still required.
//! * TLS follows the credential, as upstream (the URL scheme is ignored), except that an
//!   `http://` URL is refused when the credential requires TLS. With no port in the URL and
//!   `NETWORK_PORT` 0 we use 443 (TLS) or 80, where upstream connects to port 0.
//! * A non-200/206 status, a missing `Content-Length` or a response longer than what is still
//!   missing of the image are final for that request: every later `recv` returns the same code
//!   (`HTTPRSP_CODE_ERROR`, `HTTPRSP_HEADER_ERROR`, `FETCH_TOO_MANY`) instead of upstream's
//!   endless renewal loop. Nothing of such a response is counted or delivered.
//! * `send_request` also waits for the response header (the exchange returns once it has it); upstream
//!   reads it in the first `recv`. The return codes stay upstream's: a header that does not come
//!   or cannot be read is reported by the next `recv` and starts a renewal. The progress report
//!   still goes out between the request and the header, as in upstream's log.
//! * Renewals are paced (upstream renews on every call): the first renewal after a body byte
//!   goes out on the next call, each further one without progress waits an exponential backoff
//!   with jitter from the port's rand ([`RENEWAL_BACKOFF_BASE_MS`] doubling up to
//!   [`RENEWAL_BACKOFF_CAP_MS`]). From the third call in a row without a body byte, every
//!   `recv` lasts at least the receive timeout (it waits with the port's sleep when it has
//!   nothing to do, and returns 0 when a renewal is not yet due), so a caller looping on `recv`
//!   never spins. A failed resend keeps the RENEWAL status (upstream drops to START, after
//!   which `recv` returns 0 forever).
//! * Renewals do not republish the progress (upstream republishes on every resend); the
//!   request of `send_request` does, as upstream.
//! * `RANGE_FINISHED` compares the bytes of the current response with its `Content-Length`
//!   (upstream compares the bytes of the whole range, which goes wrong after a renewal).
//! * Setting a new task resets the byte counters and the percent (upstream keeps them).
//! * size_total 0 gives percent 100, never a division by zero.

pub(crate) mod digest;
mod outcome;
pub(crate) mod url;

use std::sync::Arc;

use crate::components::ota;
use crate::components::ota::codes::*;
use crate::components::ota::message::TaskDesc;
use crate::error::Error;
use crate::log;
use crate::mqtt::Client;
use crate::state::*;
use crate::sysdep::{Credential, Port};

use super::http::{self, Exchange, Fail, Method, Outcome, Response, SentHook};
use digest::Digest;
pub use outcome::{state_code, unit_code, DownloadError, RecvOutcome};

/// `Accept` value upstream 4.2 sends with a download request.
const ACCEPT: &str = "text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8";
/// Upstream default body buffer (`AIOT_DLOPT_BODY_BUFFER_MAX_LEN`).
pub const DEFAULT_BODY_BUFFER_LEN: u32 = 2048;
/// Upstream default receive timeout.
pub const DEFAULT_RECV_TIMEOUT_MS: u32 = 5000;
/// Upstream default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 10_000;
/// Upstream default send timeout.
pub const DEFAULT_SEND_TIMEOUT_MS: u32 = 5000;
/// Backoff before the second renewal in a row without progress; it doubles for each further one.
pub const RENEWAL_BACKOFF_BASE_MS: u64 = 1000;
/// Longest backoff between two renewals.
pub const RENEWAL_BACKOFF_CAP_MS: u64 = 60_000;
/// Calls in a row without a body byte that may return at once (upstream's pace for one
/// failure and its renewal); later ones last at least the receive timeout.
const QUICK_IDLE_CALLS: u32 = 2;
/// Largest body buffer accepted (`BODY_BUFFER_MAX_LEN`).
pub const MAX_BODY_BUFFER_LEN: u32 = 64 * 1024 * 1024;

/// `AIOT_OTAERR_CHECKSUM_MISMATCH`: the percent passed on a digest mismatch.
const PERCENT_DIGEST_MISMATCH: i32 = -3;

/// One `aiot_download_setopt` option (the C handler and userdata stay in the FFI layer).
pub enum DownloadOption {
    /// `AIOT_DLOPT_NETWORK_CRED`: TLS iff its option is not NONE.
    NetworkCred(Credential),
    /// `AIOT_DLOPT_NETWORK_PORT`: used when the URL has no port.
    NetworkPort(u16),
    /// `AIOT_DLOPT_RECV_TIMEOUT_MS`
    RecvTimeoutMs(u32),
    /// `AIOT_DLOPT_TASK_DESC`: a copy of the task and the MQTT client its reports go through.
    TaskDesc(TaskDesc, Option<Arc<Client>>),
    /// `AIOT_DLOPT_RANGE_START` (resets the range byte count)
    RangeStart(u32),
    /// `AIOT_DLOPT_RANGE_END`, inclusive; 0 = to the end (resets the range byte count)
    RangeEnd(u32),
    /// `AIOT_DLOPT_BODY_BUFFER_MAX_LEN`: the most bytes one `recv` delivers.
    BodyBufferMaxLen(u32),
}

/// Upstream's download status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// No request yet, or `send_request` failed to send.
    Start,
    /// A request is out; `recv` reads its response.
    Fetch,
    /// The next `recv` resends the request from the last byte received.
    Renewal,
}

struct Task {
    desc: TaskDesc,
    mqtt: Option<Arc<Client>>,
    digest: Digest,
}

/// One download (the object behind an `aiot_download_init` handle). Used from one thread at a
/// time.
pub struct Download {
    port: Arc<dyn Port>,
    cred: Option<Credential>,
    net_port: u16,
    recv_timeout_ms: u32,
    connect_timeout_ms: u32,
    send_timeout_ms: u32,
    /// The one body buffer: each `recv` delivers at most `body_len` bytes. Empty while a
    /// [`Chunk`] holds it (lent to the callback).
    body: Vec<u8>,
    /// `BODY_BUFFER_MAX_LEN`.
    body_len: usize,
    task: Option<Task>,
    range_start: u32,
    range_end: u32,
    status: Status,
    /// Image bytes received (all requests).
    size_fetched: u64,
    /// Bytes received since the range was last set.
    range_fetched: u64,
    percent: i32,
    response: Option<Response>,
    /// A failure met right after the last delivered bytes, handled by the next `recv`.
    pending: Option<Fail>,
    /// Renewal requests since the last body byte.
    renewals: u32,
    /// Port time (ms) before which no renewal is sent.
    renew_at: u64,
    /// `recv` calls in a row that delivered no body byte.
    idle_calls: u32,
    /// `RANGE_FINISHED` was returned for the current response.
    range_finished_returned: bool,
}

impl Download {
    /// `aiot_download_init`: upstream defaults, plain TCP, port 0 (80/443 at request time).
    pub fn new(port: Arc<dyn Port>) -> Download {
        Download {
            port,
            cred: None,
            net_port: 0,
            recv_timeout_ms: DEFAULT_RECV_TIMEOUT_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            send_timeout_ms: DEFAULT_SEND_TIMEOUT_MS,
            body: vec![0; DEFAULT_BODY_BUFFER_LEN as usize],
            body_len: DEFAULT_BODY_BUFFER_LEN as usize,
            task: None,
            range_start: 0,
            range_end: 0,
            status: Status::Start,
            size_fetched: 0,
            range_fetched: 0,
            percent: 0,
            response: None,
            pending: None,
            renewals: 0,
            renew_at: 0,
            idle_calls: 0,
            range_finished_returned: false,
        }
    }

    /// `aiot_download_setopt`. An unknown digest method is `STATE_OTA_UNKNOWN_DIGEST_METHOD`,
    /// a body buffer of 0 or above [`MAX_BODY_BUFFER_LEN`] is `OutOfRange`.
    pub fn setopt(&mut self, opt: DownloadOption) -> Result<(), DownloadError> {
        match opt {
            DownloadOption::NetworkCred(cred) => self.cred = Some(cred),
            DownloadOption::NetworkPort(port) => self.net_port = port,
            DownloadOption::RecvTimeoutMs(ms) => self.recv_timeout_ms = ms,
            DownloadOption::TaskDesc(desc, mqtt) => {
                let digest = Digest::new(desc.digest_method).ok_or(DownloadError::UnknownDigest)?;
                self.task = Some(Task { desc, mqtt, digest });
                self.status = Status::Start;
                self.size_fetched = 0;
                self.range_fetched = 0;
                self.percent = 0;
                self.pending = None;
                self.renewals = 0;
                self.idle_calls = 0;
            }
            DownloadOption::RangeStart(start) => {
                self.range_start = start;
                self.range_fetched = 0;
            }
            DownloadOption::RangeEnd(end) => {
                self.range_end = end;
                self.range_fetched = 0;
            }
            DownloadOption::BodyBufferMaxLen(len) => {
                if len == 0 || len > MAX_BODY_BUFFER_LEN {
                    return Err(Error::OutOfRange.into());
                }
                self.body = alloc_body(len as usize)?;
                self.body_len = len as usize;
            }
        }
        Ok(())
    }

    /// `aiot_download_send_request`: closes the previous connection, opens a new one, sends
    /// `GET` with the range, and reads the response header. On success the status is FETCH
    /// and the current percent is reported (when the task has an MQTT client). A failure to
    /// connect returns its code (status unchanged); a failure to send returns
    /// `STATE_DOWNLOAD_SEND_REQUEST_FAILED` (status START). A header that does not arrive or
    /// cannot be read is reported by the next `recv`, as upstream.
    pub fn send_request(&mut self) -> Result<(), DownloadError> {
        self.renewals = 0;
        self.idle_calls = 0;
        self.pending = None;
        let hook = self.progress_hook(self.percent);
        match self.request(hook) {
            Err(DownloadError::SendFailed) => {
                self.status = Status::Start;
                Err(DownloadError::SendFailed)
            }
            r => r,
        }
    }

    /// `aiot_download_recv`: reads at most one body buffer of bytes and returns them as a
    /// [`Chunk`] with the percent (-3 with the last chunk when the digest does not match); the
    /// caller hands it to the user's callback with no lock held and then gives it back with
    /// [`Download::give_back`]. The other outcomes are in [`RecvOutcome`]; an error is final
    /// for the request (`HttpStatus`, `MissingLength`, `TooMany`) or the failure that makes
    /// the next call renew.
    ///
    /// Never a hot loop: from the third call in a row without a body byte, a call lasts at
    /// least the receive timeout, and renewals are spaced by the backoff (see the module doc).
    pub fn recv(&mut self) -> Result<RecvOutcome, DownloadError> {
        let started = self.port.time_ms();
        let deadline = started + u64::from(self.recv_timeout_ms);
        let paced = self.idle_calls >= QUICK_IDLE_CALLS;
        let result = self.recv_once(paced.then_some(deadline));
        if matches!(result, Ok(RecvOutcome::Chunk(_))) {
            self.idle_calls = 0;
        } else {
            self.idle_calls = self.idle_calls.saturating_add(1);
            if paced {
                self.wait_until(deadline);
            }
        }
        result
    }

    /// One `recv` without the pacing; `deadline` is set when the call is paced: a renewal not
    /// yet due is waited for until then.
    fn recv_once(&mut self, deadline: Option<u64>) -> Result<RecvOutcome, DownloadError> {
        if self.status == Status::Start {
            return Ok(RecvOutcome::Idle);
        }
        if self.status == Status::Renewal {
            if let Some(deadline) = deadline {
                self.wait_until(deadline.min(self.renew_at));
            }
            if self.port.time_ms() < self.renew_at {
                return Ok(RecvOutcome::Idle);
            }
            return self.renew();
        }
        let total = self.task.as_ref().map_or(0, |t| u64::from(t.desc.size_total));
        if self.size_fetched == total {
            return Ok(RecvOutcome::Finished);
        }
        if let Some(fail) = self.pending.take() {
            return self.fall_back(fail);
        }
        let Some(resp) = self.response.as_ref() else {
            return self.fall_back(Fail::Recv(Error::NetworkClosed));
        };
        if resp.status != 200 && resp.status != 206 {
            log::line(STATE_DOWNLOAD_HTTPRSP_CODE_ERROR, "wrong http respond code\r\n");
            return Err(DownloadError::HttpStatus);
        }
        let Some(length) = resp.content_length else {
            log::line(
                STATE_DOWNLOAD_HTTPRSP_HEADER_ERROR,
                "wrong http respond header\r\n",
            );
            return Err(DownloadError::MissingLength);
        };
        let missing = total - self.size_fetched;
        if length - resp.received > missing {
            log::line(STATE_DOWNLOAD_FETCH_TOO_MANY, "downloaded exceeds expected\r\n");
            return Err(DownloadError::TooMany);
        }
        if resp.received == length {
            if length > 0 && !self.range_finished_returned {
                self.range_finished_returned = true;
                return Ok(RecvOutcome::RangeFinished);
            }
            // Nothing more comes on this response: renew from here, as upstream.
            return self.fall_back(Fail::Recv(Error::Download(STATE_HTTP_READ_BODY_FINISHED)));
        }
        let want = (self.body_len as u64).min(length - resp.received) as usize;
        if self.body.is_empty() {
            // Called again from inside the callback while the buffer is lent out.
            self.body = alloc_body(self.body_len)?;
        }
        match self.fill(want) {
            (0, fail) => self.fall_back(fail.unwrap_or(Fail::Timeout)),
            (n, fail) => {
                // A timeout after some bytes only ends this chunk.
                self.pending = fail.filter(|f| *f != Fail::Timeout);
                Ok(RecvOutcome::Chunk(self.deliver(n)))
            }
        }
    }

    /// Takes back the buffer of a chunk returned by [`Download::recv`] (kept unless the body
    /// buffer was replaced or refilled meanwhile).
    pub fn give_back(&mut self, chunk: Chunk) {
        if self.body.is_empty() && chunk.buf.len() == self.body_len {
            self.body = chunk.buf;
        }
    }

    /// [`Download::recv`] with the chunk passed to `on_chunk`, as upstream's return value.
    pub fn recv_with(&mut self, on_chunk: &mut dyn FnMut(&[u8], i32)) -> i32 {
        let result = self.recv();
        if let Ok(RecvOutcome::Chunk(chunk)) = &result {
            on_chunk(chunk.bytes(), chunk.percent);
        }
        let code = state_code(&result);
        if let Ok(RecvOutcome::Chunk(chunk)) = result {
            self.give_back(chunk);
        }
        code
    }

    /// `aiot_download_report_progress`: publishes `percent` for the task through its MQTT
    /// client.
    pub fn report_progress(&self, percent: i32) -> Result<(), DownloadError> {
        let task = self.task.as_ref().ok_or(DownloadError::NoReportTask)?;
        let client = task.mqtt.as_ref().ok_or(Error::NullPointer)?;
        let d = &task.desc;
        ota::report_progress(
            client,
            &d.product_key,
            &d.device_name,
            percent,
            d.module.as_deref(),
        )
        .map_err(DownloadError::Core)
    }

    /// Reads until `want` bytes are in the body buffer, a read fails, or the receive timeout
    /// passes (bytes read by then are kept).
    fn fill(&mut self, want: usize) -> (usize, Option<Fail>) {
        let deadline = self.port.time_ms() + u64::from(self.recv_timeout_ms.max(1));
        let Some(resp) = self.response.as_mut() else {
            return (0, Some(Fail::Recv(Error::NetworkClosed)));
        };
        let mut got = 0;
        while got < want {
            let now = self.port.time_ms();
            if now >= deadline {
                return (got, Some(Fail::Timeout));
            }
            let timeout = (deadline - now).min(u64::from(u32::MAX)) as u32;
            match resp.read(&mut self.body[got..want], timeout) {
                Ok(0) => return (got, Some(Fail::Timeout)),
                Ok(n) => got += n,
                Err(f) => return (got, Some(f)),
            }
        }
        (got, None)
    }

    /// Counts, digests and logs the first `n` bytes of the body buffer, then lends the buffer
    /// out as a chunk.
    fn deliver(&mut self, n: usize) -> Chunk {
        let percent = self.account(n);
        Chunk {
            buf: std::mem::take(&mut self.body),
            len: n,
            percent,
        }
    }

    /// Counts, digests and logs the first `n` bytes of the body buffer; returns the percent to
    /// pass with them.
    fn account(&mut self, n: usize) -> i32 {
        let chunk = &self.body[..n];
        log::hexdump(STATE_HTTP_LOG_RECV_CONTENT, '<', chunk);
        self.renewals = 0;
        self.size_fetched += n as u64;
        self.range_fetched += n as u64;
        let Some(task) = self.task.as_mut() else {
            return self.percent;
        };
        let total = u64::from(task.desc.size_total);
        self.percent = match total {
            0 => 100,
            t => (self.size_fetched.min(t) * 100 / t) as i32,
        };
        task.digest.update(chunk);
        let mut percent = self.percent;
        if self.size_fetched == total {
            if task.digest.matches(&task.desc.expect_digest) {
                log::line(STATE_OTA_DIGEST_MATCH, "digest matched\r\n");
            } else {
                log::line(STATE_OTA_DIGEST_MISMATCH, "digest mismatch\r\n");
                percent = PERCENT_DIGEST_MISMATCH;
                if let Some(client) = task.mqtt.as_ref() {
                    let d = &task.desc;
                    let _ = ota::report_progress(
                        client,
                        &d.product_key,
                        &d.device_name,
                        percent,
                        d.module.as_deref(),
                    );
                }
            }
        }
        percent
    }

    /// The response cannot continue: log it and renew on a later call, once the backoff has
    /// passed. A timeout returns `Ok(0)`, as upstream.
    fn fall_back(&mut self, fail: Fail) -> Result<RecvOutcome, DownloadError> {
        let err = match fail {
            Fail::Timeout => None,
            Fail::Send(e) | Fail::Recv(e) => Some(e),
        };
        let code = err.map_or(0, |e| e.code());
        self.schedule_renewal();
        if log::enabled() {
            log::line(
                STATE_DOWNLOAD_RECV_ERROR,
                &format!("recv got {code}, renewal\r\n"),
            );
        }
        self.status = Status::Renewal;
        match err {
            None => Ok(RecvOutcome::Idle),
            Some(e) => Err(DownloadError::Core(e)),
        }
    }

    /// Resends the request from the last byte received: `RENEWAL_REQUEST_SENT` or the
    /// send/connect code (the status stays RENEWAL, so a later call tries again after the
    /// backoff).
    fn renew(&mut self) -> Result<RecvOutcome, DownloadError> {
        self.renewals = self.renewals.saturating_add(1);
        match self.request(None) {
            Ok(()) => Ok(RecvOutcome::Renewed),
            Err(e) => {
                self.schedule_renewal();
                Err(e)
            }
        }
    }

    /// Sets when the next renewal may go out: at once after progress, then
    /// [`renewal_backoff`] of the renewals already sent without progress.
    fn schedule_renewal(&mut self) {
        let jitter = crate::sysdep::rand_u32(&*self.port);
        self.renew_at = self.port.time_ms() + renewal_backoff(self.renewals, jitter);
    }

    /// Sleeps with the port until its clock reaches `until` (a few sleeps at most).
    fn wait_until(&self, until: u64) {
        for _ in 0..8 {
            let now = self.port.time_ms();
            if now >= until {
                return;
            }
            self.port.sleep_ms(until - now);
        }
    }

    /// Reports `percent` once the request is written, if the task has an MQTT client.
    fn progress_hook(&self, percent: i32) -> Option<SentHook> {
        let task = self.task.as_ref()?;
        let client = Arc::clone(task.mqtt.as_ref()?);
        let d = &task.desc;
        let (pk, dn, module) = (d.product_key.clone(), d.device_name.clone(), d.module.clone());
        Some(Box::new(move || {
            let _ = ota::report_progress(&client, &pk, &dn, percent, module.as_deref());
        }))
    }

    /// One request with the current range. `Ok` once the request is out (status FETCH), even
    /// when the header then failed (that failure waits in `pending`).
    fn request(&mut self, hook: Option<SentHook>) -> Result<(), DownloadError> {
        let task = self.task.as_ref().ok_or(DownloadError::NoTask)?;
        let url = task.desc.url.as_deref().ok_or(DownloadError::NoUrl)?;
        let url = url::parse(url)?;
        let tls = self.cred.as_ref().is_some_and(Credential::wants_tls);
        if tls && url.scheme.eq_ignore_ascii_case("http") {
            log::line(
                STATE_DOWNLOAD_SEND_REQUEST_FAILED,
                "the credential requires TLS but the url is http://, refused\r\n",
            );
            return Err(DownloadError::SendFailed);
        }
        // Upstream connects to NETWORK_PORT even when it is 0; we use the scheme's port.
        let net_port = match (url.port, self.net_port) {
            (Some(p), _) => p,
            (None, 0) if tls => 443,
            (None, 0) => 80,
            (None, p) => p,
        };
        let from = match self.range_start {
            0 => self.size_fetched,
            s => u64::from(s) + self.range_fetched,
        };
        let range = match self.range_end {
            0 => format!("bytes={from}-"),
            e => format!("bytes={from}-{e}"),
        };
        let target = url::request_target(url.path);
        // Every request gets a new connection; the old one closes first.
        self.response = None;
        self.pending = None;
        self.range_finished_returned = false;
        let exchange = Exchange {
            port: &self.port,
            cred: self.cred.as_ref(),
            tls,
            host: url.host,
            net_port,
            authority: url.authority,
            target: &target,
            method: Method::Get,
            headers: &[("Accept", ACCEPT), ("Range", &range), ("Content-Length", "0")],
            body: &[],
            connect_timeout_ms: self.connect_timeout_ms,
            send_timeout_ms: self.send_timeout_ms,
            recv_timeout_ms: self.recv_timeout_ms,
        };
        match http::exchange(&exchange, hook) {
            Outcome::Response(resp) => {
                self.response = Some(resp);
                self.status = Status::Fetch;
                Ok(())
            }
            Outcome::RecvFailed(fail) => {
                self.pending = Some(fail);
                self.status = Status::Fetch;
                Ok(())
            }
            Outcome::ConnectFailed(e) => Err(DownloadError::Core(e)),
            Outcome::SendFailed => Err(DownloadError::SendFailed),
        }
    }
}

/// Bytes delivered by one [`Download::recv`], in the download's own body buffer (lent out so
/// that no lock is held while the user's callback reads them).
pub struct Chunk {
    buf: Vec<u8>,
    len: usize,
    percent: i32,
}

impl Chunk {
    /// The chunk's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The percent to pass with it (-3 on a digest mismatch).
    pub fn percent(&self) -> i32 {
        self.percent
    }
}

/// The wait before the next renewal after `renewals` renewals without progress: none for the
/// first, then [`RENEWAL_BACKOFF_BASE_MS`] doubled per renewal up to [`RENEWAL_BACKOFF_CAP_MS`],
/// of which a random half (`jitter`) is taken off so that devices spread out.
pub fn renewal_backoff(renewals: u32, jitter: u32) -> u64 {
    if renewals == 0 {
        return 0;
    }
    let doubled = RENEWAL_BACKOFF_BASE_MS.saturating_mul(1 << (renewals - 1).min(20));
    let full = doubled.min(RENEWAL_BACKOFF_CAP_MS);
    let half = full / 2;
    full - u64::from(jitter) % (half + 1)
}

/// A zeroed body buffer of `len` bytes, or `ResourceFailed` when memory runs out.
fn alloc_body(len: usize) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    body.try_reserve_exact(len).map_err(|_| Error::ResourceFailed)?;
    body.resize(len, 0);
    Ok(body)
}

#[cfg(test)]
mod tests;
