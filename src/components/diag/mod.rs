//! Diag (`aiot_diag_api.h`): the SDK's self-diagnosis. MQTT connect time, heartbeat round trip
//! and Alink (data-model) reply latency are timed through the core's diagnostics tap; slow or
//! lost ones raise alerts (event handler and device log on `/sys/{pk}/{dn}/thing/log/post`).
//!
//! - `session`: the handle, options, start/stop, evaluation on ticks and reports;
//! - `eval`: one item's records, thresholds and alert rules, as plain data;
//! - `codes`: `STATE_DIAG_*`.

#![forbid(unsafe_code)]

pub mod codes;
pub mod eval;
mod session;

pub use eval::{Config, Kind};
pub use session::{Diag, EventFn};
