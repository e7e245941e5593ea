//! `aiot_state_api.h`: status codes and the log callback.

use std::ffi::{c_char, CString};

use super::guard;

/// Log callback: `code` is the line's `STATE_*` value, `message` the formatted line.
pub type aiot_state_logcb_t = Option<unsafe extern "C" fn(code: i32, message: *mut c_char) -> i32>;

/// Sets the process-wide log callback; NULL turns logging off. Always returns 0.
#[no_mangle]
pub extern "C" fn aiot_state_set_logcb(handler: aiot_state_logcb_t) -> i32 {
    guard(|| {
        crate::log::set_sink(handler.map(|cb| {
            Box::new(move |code: i32, text: &str| {
                let mut bytes = Vec::with_capacity(text.len() + 1);
                bytes.extend(text.bytes().filter(|&b| b != 0));
                // SAFETY-free: CString::new cannot fail, NULs were filtered out.
                let line = CString::new(bytes).unwrap_or_default();
                let raw = line.into_raw();
                // SAFETY: `raw` is a valid NUL-terminated buffer owned by us for the call.
                unsafe {
                    cb(code, raw);
                    drop(CString::from_raw(raw));
                }
            }) as crate::log::Sink
        }));
        0
    })
}
