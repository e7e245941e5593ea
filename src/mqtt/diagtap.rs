//! The diagnostics tap (upstream's `core_diag`): one process-wide slot that the diag component
//! fills while a diag handle exists. The MQTT core reports connect and heartbeat timings into
//! it, the data-model component its Alink requests and their replies; each report carries the
//! log clock (`log::clock_ms`).
//!
//! Reports are made with no library lock held. The tap must only record (it runs on whichever
//! thread connects, sends a heartbeat or receives a reply).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::log;

/// What happened (upstream's TLVs 0x0010, 0x0020 and 0x0030, flag 0 or 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tap {
    /// A connect attempt starts (before the socket is made).
    ConnectStart,
    /// A CONNACK accepted the connection.
    ConnectDone,
    /// A PINGREQ is about to be sent by `aiot_mqtt_process`.
    PingSent,
    /// A PINGRESP arrived.
    PingAnswered,
    /// An Alink request that asks for a reply went out with this id.
    AlinkRequest(u32),
    /// A reply to the Alink request with this id arrived.
    AlinkReply(u32),
}

/// The tap: the log clock in ms and what happened.
pub type TapFn = Arc<dyn Fn(u64, Tap) + Send + Sync>;

static SLOT: RwLock<Option<(usize, TapFn)>> = RwLock::new(None);
static SET: AtomicBool = AtomicBool::new(false);

/// Installs the tap of owner `key` (replacing any other).
pub fn install(key: usize, tap: TapFn) {
    let mut slot = SLOT.write().unwrap_or_else(|e| e.into_inner());
    *slot = Some((key, tap));
    SET.store(true, Ordering::Relaxed);
}

/// Removes the tap if owner `key` installed it.
pub fn remove(key: usize) {
    let mut slot = SLOT.write().unwrap_or_else(|e| e.into_inner());
    if slot.as_ref().is_some_and(|(k, _)| *k == key) {
        *slot = None;
        SET.store(false, Ordering::Relaxed);
    }
}

/// Whether a tap is installed (so reporters can skip work).
pub fn active() -> bool {
    SET.load(Ordering::Relaxed)
}

/// Reports `what` to the tap, if one is installed.
pub fn report(what: Tap) {
    if !active() {
        return;
    }
    let tap = SLOT.read().ok().and_then(|s| s.as_ref().map(|(_, t)| t.clone()));
    if let Some(tap) = tap {
        tap(log::clock_ms(), what);
    }
}
