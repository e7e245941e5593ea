//! What a download call ends with, and the one mapping to upstream's return values.

use super::Chunk;
use crate::components::ota::codes::*;
use crate::error::Error;
use crate::state::*;

/// What one `recv` produced (none of these is a failure).
pub enum RecvOutcome {
    /// Body bytes, lent to the caller for the callback.
    Chunk(Chunk),
    /// Nothing this call (upstream's 0): no request yet, a receive timeout that starts a
    /// renewal, or a renewal not yet due.
    Idle,
    /// The whole image is in (also after a digest mismatch), on every later call too.
    Finished,
    /// The current range's response is complete.
    RangeFinished,
    /// The request was resent from the last byte received.
    Renewed,
}

/// Why a download call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownloadError {
    /// The status is not 200 or 206 (final for the request).
    HttpStatus,
    /// The response has no `Content-Length` (final for the request).
    MissingLength,
    /// The response is longer than what is still missing of the image (final for the request).
    TooMany,
    /// The task's digest method is not known.
    UnknownDigest,
    /// `send_request` without a task.
    NoTask,
    /// `report_progress` without a task.
    NoReportTask,
    /// The task has no URL.
    NoUrl,
    /// The request could not be sent (or an `http://` URL with a TLS credential).
    SendFailed,
    /// A URL, connection, TLS or HTTP failure (the renewal's cause), or a bad argument.
    Core(Error),
}

impl From<Error> for DownloadError {
    fn from(e: Error) -> DownloadError {
        DownloadError::Core(e)
    }
}

/// The one place that turns a download result into upstream's return value: a byte count,
/// 0, or a `STATE_*` code.
pub fn state_code(result: &Result<RecvOutcome, DownloadError>) -> i32 {
    match result {
        Ok(RecvOutcome::Chunk(chunk)) => chunk.bytes().len() as i32,
        Ok(RecvOutcome::Idle) => STATE_SUCCESS,
        Ok(RecvOutcome::Finished) => STATE_DOWNLOAD_FINISHED,
        Ok(RecvOutcome::RangeFinished) => STATE_DOWNLOAD_RANGE_FINISHED,
        Ok(RecvOutcome::Renewed) => STATE_DOWNLOAD_RENEWAL_REQUEST_SENT,
        Err(DownloadError::HttpStatus) => STATE_DOWNLOAD_HTTPRSP_CODE_ERROR,
        Err(DownloadError::MissingLength) => STATE_DOWNLOAD_HTTPRSP_HEADER_ERROR,
        Err(DownloadError::TooMany) => STATE_DOWNLOAD_FETCH_TOO_MANY,
        Err(DownloadError::UnknownDigest) => STATE_OTA_UNKNOWN_DIGEST_METHOD,
        Err(DownloadError::NoTask) => STATE_DOWNLOAD_REQUEST_TASK_DESC_IS_NULL,
        Err(DownloadError::NoReportTask) => STATE_DOWNLOAD_REPORT_TASK_DESC_IS_NULL,
        Err(DownloadError::NoUrl) => STATE_DOWNLOAD_REQUEST_URL_IS_NULL,
        Err(DownloadError::SendFailed) => STATE_DOWNLOAD_SEND_REQUEST_FAILED,
        Err(DownloadError::Core(e)) => e.code(),
    }
}

/// [`state_code`] of a call that returns nothing on success (0).
pub fn unit_code(result: Result<(), DownloadError>) -> i32 {
    state_code(&result.map(|()| RecvOutcome::Idle))
}
