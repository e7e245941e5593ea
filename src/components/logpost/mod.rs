//! Logpost (`aiot_logpost_api.h`): device logs to the cloud on `/sys/{pk}/{dn}/thing/log/post`,
//! switched by the cloud's log config (`thing/config/log/get` on connect, `.../push` later),
//! with the `net_conn` / `net_rt` network system logs and, while the cloud's switch is on, the
//! SDK's own log lines with secrets masked.
//!
//! - `session`: the handle, its options, the config's handling, sends and ticks;
//! - `config`: the config messages' JSON;
//! - `message`: levels, the date format and the post payload;
//! - `sdklog`: capture, masking and queue of the SDK's own lines;
//! - `codes`: `STATE_LOGPOST_*`.

#![forbid(unsafe_code)]

pub mod codes;
pub mod config;
pub mod message;
pub mod sdklog;
mod session;

pub use session::{EventFn, Logpost, UserMessage};
