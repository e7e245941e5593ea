//! `aiot_state_api.h`: status codes and the log callback.

use std::ffi::c_char;

use super::guard;

/// Log callback: `code` is the line's `STATE_*` value, `message` the formatted line.
pub type aiot_state_logcb_t = Option<unsafe extern "C" fn(code: i32, message: *mut c_char) -> i32>;

/// Longest line (with its NUL) passed from a stack buffer.
const LOG_STACK_LINE: usize = 512;

/// Sets the process-wide log callback; NULL turns logging off. Always returns 0.
#[no_mangle]
pub extern "C" fn aiot_state_set_logcb(handler: aiot_state_logcb_t) -> i32 {
    guard(|| {
        crate::log::set_sink(handler.map(|cb| {
            Box::new(move |code: i32, text: &str| {
                // Every line the core makes fits the stack buffer (lines are cut at 162
                // bytes, port lines at 199), so logging allocates nothing.
                let mut stack = [0u8; LOG_STACK_LINE];
                let mut heap = Vec::new();
                let buf: &mut [u8] = if text.len() < LOG_STACK_LINE {
                    &mut stack
                } else {
                    heap.resize(text.len() + 1, 0);
                    &mut heap
                };
                let mut n = 0;
                for b in text.bytes().filter(|&b| b != 0) {
                    buf[n] = b;
                    n += 1;
                }
                buf[n] = 0;
                // SAFETY: `buf` is NUL-terminated and lives for the whole call.
                unsafe {
                    cb(code, buf.as_mut_ptr().cast::<c_char>());
                }
            }) as crate::log::Sink
        }));
        0
    })
}
