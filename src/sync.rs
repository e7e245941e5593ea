//! Small synchronisation helpers shared by the core and the components.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::sysdep::Port;

/// Locks `m`; a lock poisoned by a panic (already turned into an error code at the C boundary)
/// is taken over with its data as it is.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One API call in progress on a handle, counted so that deinit can wait for none: the caller
/// increments the counter, this guard decrements it when dropped.
pub struct InFlight<'a>(pub(crate) &'a AtomicU32);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How often [`Gate::wait_idle`] looks again.
pub(crate) const DEINIT_POLL_MS: u64 = 100;

/// A handle's exec counter, as upstream's: calls in progress are counted ([`Gate::enter`]) so
/// that deinit can refuse new ones ([`Gate::close`]) and wait for those running.
pub(crate) struct Gate {
    open: AtomicBool,
    in_flight: AtomicU32,
}

impl Gate {
    pub(crate) const fn new() -> Gate {
        Gate {
            open: AtomicBool::new(true),
            in_flight: AtomicU32::new(0),
        }
    }

    /// Counts a call in progress; `STATE_USER_INPUT_EXEC_DISABLED` once the gate is closed.
    pub(crate) fn enter(&self) -> Result<InFlight<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(&self.in_flight);
        if self.is_open() {
            Ok(guard)
        } else {
            Err(Error::ExecDisabled)
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    /// Refuses new calls from now on; whether the gate was open.
    pub(crate) fn close(&self) -> bool {
        self.open.swap(false, Ordering::SeqCst)
    }

    /// Whether no call is in progress.
    pub(crate) fn idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Waits until no call is in progress, looking every [`DEINIT_POLL_MS`] by `port`'s clock;
    /// `false` when `timeout_ms` ran out first.
    pub(crate) fn wait_idle(&self, port: &dyn Port, timeout_ms: u64) -> bool {
        let start = port.time_ms();
        while !self.idle() {
            if port.time_ms().saturating_sub(start) >= timeout_ms {
                return false;
            }
            port.sleep_ms(DEINIT_POLL_MS);
        }
        true
    }
}
