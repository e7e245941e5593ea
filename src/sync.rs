//! Small synchronisation helpers shared by the core and the components.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

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
