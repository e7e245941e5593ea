//! Firmware download over HTTP(S) (`aiot_download_*`): range requests, resume after a broken
//! connection, a streaming digest check and progress reports.
//!
//! Upstream 4.2 semantics (see `shared/upstream-facts.md` §7) with these deliberate
//! differences:
//! * HTTP is ureq over our own transport ([`http`]): any HTTP/1.x status line, header names in
//!   any case, long header lines. `Content-Length` is still required.
//! * TLS follows the credential, as upstream (the URL scheme is ignored), except that an
//!   `http://` URL is refused when the credential requires TLS. With no port in the URL and
//!   `NETWORK_PORT` 0 we use 443 (TLS) or 80, where upstream connects to port 0.
//! * A non-200/206 status, a missing `Content-Length` or a response longer than what is still
//!   missing of the image are final for that request: every later `recv` returns the same code
//!   (`HTTPRSP_CODE_ERROR`, `HTTPRSP_HEADER_ERROR`, `FETCH_TOO_MANY`) instead of upstream's
//!   endless renewal loop. Nothing of such a response is counted or delivered.
//! * `send_request` also waits for the response header (ureq returns once it has it); upstream
//!   reads it in the first `recv`. The return codes stay upstream's: a header that does not come
//!   or cannot be read is reported by the next `recv` and starts a renewal. The progress report
//!   still goes out between the request and the header, as in upstream's log.
//! * Renewals are bounded: after [`MAX_RENEWALS`] renewal requests in a row without a single
//!   body byte, `recv` stops renewing and returns the last error on every call (a timeout
//!   becomes `STATE_SYS_DEPEND_NWK_READ_OVERTIME`). A new `send_request` starts counting again.
//!   A failed resend keeps the RENEWAL status (upstream drops to START, after which `recv`
//!   returns 0 forever).
//! * Renewals do not republish the progress (upstream republishes on every resend); the
//!   request of `send_request` does, as upstream.
//! * `RANGE_FINISHED` compares the bytes of the current response with its `Content-Length`
//!   (upstream compares the bytes of the whole range, which goes wrong after a renewal).
//! * Setting a new task resets the byte counters and the percent (upstream keeps them).
//! * size_total 0 gives percent 100, never a division by zero.

mod digest;
pub(crate) mod http;
pub(crate) mod url;

use std::sync::Arc;

use crate::error::Error;
use crate::log;
use crate::mqtt::Client;
use crate::ota;
use crate::ota::codes::*;
use crate::ota::message::TaskDesc;
use crate::state::*;
use crate::sysdep::{Credential, Port};

use digest::Digest;
use http::{Exchange, Fail, Outcome, Response, SentHook};

/// Upstream default body buffer (`AIOT_DLOPT_BODY_BUFFER_MAX_LEN`).
pub const DEFAULT_BODY_BUFFER_LEN: u32 = 2048;
/// Upstream default receive timeout.
pub const DEFAULT_RECV_TIMEOUT_MS: u32 = 5000;
/// Upstream default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 10_000;
/// Upstream default send timeout.
pub const DEFAULT_SEND_TIMEOUT_MS: u32 = 5000;
/// Renewal requests in a row without progress before `recv` gives up.
pub const MAX_RENEWALS: u32 = 10;
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
    /// The one body buffer: each `recv` delivers at most its length.
    body: Vec<u8>,
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
    /// Set once renewing stopped: returned by every later `recv`.
    gave_up: Option<Error>,
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
            gave_up: None,
            range_finished_returned: false,
        }
    }

    /// `aiot_download_setopt`. An unknown digest method is `STATE_OTA_UNKNOWN_DIGEST_METHOD`,
    /// a body buffer of 0 or above [`MAX_BODY_BUFFER_LEN`] is `OutOfRange`.
    pub fn setopt(&mut self, opt: DownloadOption) -> Result<(), Error> {
        match opt {
            DownloadOption::NetworkCred(cred) => self.cred = Some(cred),
            DownloadOption::NetworkPort(port) => self.net_port = port,
            DownloadOption::RecvTimeoutMs(ms) => self.recv_timeout_ms = ms,
            DownloadOption::TaskDesc(desc, mqtt) => {
                let digest = Digest::new(desc.digest_method)
                    .ok_or(Error::Download(STATE_OTA_UNKNOWN_DIGEST_METHOD))?;
                self.task = Some(Task { desc, mqtt, digest });
                self.status = Status::Start;
                self.size_fetched = 0;
                self.range_fetched = 0;
                self.percent = 0;
                self.pending = None;
                self.renewals = 0;
                self.gave_up = None;
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
                    return Err(Error::OutOfRange);
                }
                let mut body = Vec::new();
                body.try_reserve_exact(len as usize)
                    .map_err(|_| Error::ResourceFailed)?;
                body.resize(len as usize, 0);
                self.body = body;
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
    pub fn send_request(&mut self) -> Result<(), Error> {
        self.renewals = 0;
        self.gave_up = None;
        self.pending = None;
        let hook = self.progress_hook(self.percent);
        match self.request(hook) {
            Err(e) if e == Error::Download(STATE_DOWNLOAD_SEND_REQUEST_FAILED) => {
                self.status = Status::Start;
                Err(e)
            }
            r => r,
        }
    }

    /// `aiot_download_recv`: at most one body buffer of bytes, passed to `on_chunk` with the
    /// percent (-3 with the last chunk when the digest does not match). Returns the byte
    /// count, `Ok(0)` where upstream returns 0 (no request yet, or a receive timeout that
    /// starts a renewal), or the upstream code as the error: `STATE_DOWNLOAD_FINISHED` once the
    /// image is complete (even after a digest mismatch), `RANGE_FINISHED`,
    /// `RENEWAL_REQUEST_SENT`, `FETCH_TOO_MANY`, `HTTPRSP_CODE_ERROR`, `HTTPRSP_HEADER_ERROR`,
    /// or the port/HTTP code that made it renew.
    pub fn recv(&mut self, on_chunk: &mut dyn FnMut(&[u8], i32)) -> Result<usize, Error> {
        if self.status == Status::Start {
            return Ok(0);
        }
        if let Some(e) = self.gave_up {
            return Err(e);
        }
        if self.status == Status::Renewal {
            return self.renew();
        }
        let total = self.task.as_ref().map_or(0, |t| u64::from(t.desc.size_total));
        if self.size_fetched == total {
            return Err(Error::Download(STATE_DOWNLOAD_FINISHED));
        }
        if let Some(fail) = self.pending.take() {
            return self.fall_back(fail);
        }
        let Some(resp) = self.response.as_ref() else {
            return self.fall_back(Fail::Recv(Error::NetworkClosed));
        };
        if resp.status != 200 && resp.status != 206 {
            log::line(STATE_DOWNLOAD_HTTPRSP_CODE_ERROR, "wrong http respond code\r\n");
            return Err(Error::Download(STATE_DOWNLOAD_HTTPRSP_CODE_ERROR));
        }
        let Some(length) = resp.content_length else {
            log::line(
                STATE_DOWNLOAD_HTTPRSP_HEADER_ERROR,
                "wrong http respond header\r\n",
            );
            return Err(Error::Download(STATE_DOWNLOAD_HTTPRSP_HEADER_ERROR));
        };
        let missing = total - self.size_fetched;
        if length - resp.received > missing {
            log::line(STATE_DOWNLOAD_FETCH_TOO_MANY, "downloaded exceeds expected\r\n");
            return Err(Error::Download(STATE_DOWNLOAD_FETCH_TOO_MANY));
        }
        if resp.received == length {
            if length > 0 && !self.range_finished_returned {
                self.range_finished_returned = true;
                return Err(Error::Download(STATE_DOWNLOAD_RANGE_FINISHED));
            }
            // Nothing more comes on this response: renew from here, as upstream.
            return self.fall_back(Fail::Recv(Error::Download(STATE_HTTP_READ_BODY_FINISHED)));
        }
        let want = (self.body.len() as u64).min(length - resp.received) as usize;
        let got = self.fill(want);
        match got {
            (0, fail) => self.fall_back(fail.unwrap_or(Fail::Timeout)),
            (n, fail) => {
                // A timeout after some bytes only ends this chunk.
                self.pending = fail.filter(|f| *f != Fail::Timeout);
                Ok(self.deliver(n, on_chunk))
            }
        }
    }

    /// `aiot_download_report_progress`: publishes `percent` for the task through its MQTT
    /// client.
    pub fn report_progress(&self, percent: i32) -> Result<(), Error> {
        let task = self
            .task
            .as_ref()
            .ok_or(Error::Download(STATE_DOWNLOAD_REPORT_TASK_DESC_IS_NULL))?;
        let client = task.mqtt.as_ref().ok_or(Error::NullPointer)?;
        let d = &task.desc;
        ota::report_progress(
            client,
            &d.product_key,
            &d.device_name,
            percent,
            d.module.as_deref(),
        )
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

    /// Counts, digests, logs and hands out the first `n` bytes of the body buffer.
    fn deliver(&mut self, n: usize, on_chunk: &mut dyn FnMut(&[u8], i32)) -> usize {
        let chunk = &self.body[..n];
        log::hexdump(STATE_HTTP_LOG_RECV_CONTENT, '<', chunk);
        self.renewals = 0;
        self.size_fetched += n as u64;
        self.range_fetched += n as u64;
        let Some(task) = self.task.as_mut() else {
            return 0;
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
        on_chunk(chunk, percent);
        n
    }

    /// The response cannot continue: log it and renew on the next call (or give up after
    /// [`MAX_RENEWALS`] fruitless renewals). A timeout returns `Ok(0)`, as upstream.
    fn fall_back(&mut self, fail: Fail) -> Result<usize, Error> {
        let err = match fail {
            Fail::Timeout => None,
            Fail::Connect(e) | Fail::Send(e) | Fail::Recv(e) => Some(e),
        };
        let code = err.map_or(0, |e| e.code());
        if self.renewals >= MAX_RENEWALS {
            if log::enabled() {
                log::line(
                    STATE_DOWNLOAD_RECV_ERROR,
                    &format!("recv got {code}, giving up after {MAX_RENEWALS} renewals\r\n"),
                );
            }
            let e = err.unwrap_or(Error::Download(STATE_SYS_DEPEND_NWK_READ_OVERTIME));
            self.gave_up = Some(e);
            return Err(e);
        }
        if log::enabled() {
            log::line(
                STATE_DOWNLOAD_RECV_ERROR,
                &format!("recv got {code}, renewal\r\n"),
            );
        }
        self.status = Status::Renewal;
        match err {
            None => Ok(0),
            Some(e) => Err(e),
        }
    }

    /// Resends the request from the last byte received: `RENEWAL_REQUEST_SENT` or the
    /// send/connect code (the status stays RENEWAL, so the next call tries again).
    fn renew(&mut self) -> Result<usize, Error> {
        self.renewals += 1;
        match self.request(None) {
            Ok(()) => Err(Error::Download(STATE_DOWNLOAD_RENEWAL_REQUEST_SENT)),
            Err(e) => {
                if self.renewals >= MAX_RENEWALS {
                    self.gave_up = Some(e);
                }
                Err(e)
            }
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
    fn request(&mut self, hook: Option<SentHook>) -> Result<(), Error> {
        let task = self
            .task
            .as_ref()
            .ok_or(Error::Download(STATE_DOWNLOAD_REQUEST_TASK_DESC_IS_NULL))?;
        let url = task
            .desc
            .url
            .as_deref()
            .ok_or(Error::Download(STATE_DOWNLOAD_REQUEST_URL_IS_NULL))?;
        let url = url::parse(url)?;
        let tls = self.cred.as_ref().is_some_and(Credential::wants_tls);
        if tls && url.scheme.eq_ignore_ascii_case("http") {
            log::line(
                STATE_DOWNLOAD_SEND_REQUEST_FAILED,
                "the credential requires TLS but the url is http://, refused\r\n",
            );
            return Err(Error::Download(STATE_DOWNLOAD_SEND_REQUEST_FAILED));
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
            range: &range,
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
            Outcome::ConnectFailed(e) => Err(e),
            Outcome::SendFailed => Err(Error::Download(STATE_DOWNLOAD_SEND_REQUEST_FAILED)),
        }
    }
}

#[cfg(test)]
mod tests;
