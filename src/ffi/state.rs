//! `aiot_state_api.h`: status codes and the log callback.

use std::ffi::c_char;
use std::sync::Arc;

use super::guard;

/// Log callback: `code` is the line's `STATE_*` value, `message` the formatted line.
pub type aiot_state_logcb_t = Option<unsafe extern "C" fn(code: i32, message: *mut c_char) -> i32>;

/// Sets the process-wide log callback; NULL turns logging off. Always returns 0.
#[no_mangle]
pub extern "C" fn aiot_state_set_logcb(handler: aiot_state_logcb_t) -> i32 {
    guard(|| {
        crate::log::set_sink(handler.map(|cb| {
            Arc::new(move |code: i32, line: &mut [u8]| {
                // The core hands over NUL-terminated lines; anything else is not passed on.
                if line.last() != Some(&0) {
                    return;
                }
                // SAFETY: `line` ends in a NUL and lives for the whole call.
                unsafe {
                    cb(code, line.as_mut_ptr().cast::<c_char>());
                }
            }) as crate::log::Sink
        }));
        0
    })
}
