//! NTP (`aiot_ntp_api.h`): asks the platform for the time over MQTT
//! (`/ext/ntp/{pk}/{dn}/request`), turns the answer into the date of the configured time zone
//! for the receive handler, and rebases the SDK's log clock on it.
//!
//! - `session`: the handle, its options, the request and the answer's handling;
//! - `response`: the answer's JSON and the UTC it gives;
//! - `date`: UTC to a calendar date in a fixed zone;
//! - `codes`: `STATE_NTP_*`.

pub mod codes;
pub mod date;
pub mod response;
mod session;

pub use date::{local_time, LocalTime};
pub use session::{EventFn, Ntp, NtpEvent, RecvFn};
