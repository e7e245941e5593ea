//! The C boundary: one file per upstream header. Each export checks pointers, converts,
//! calls one safe function and maps its result; [`guard`] keeps panics out of C.

#![allow(non_camel_case_types, non_upper_case_globals)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod ca;
// TODO: explicit `unsafe` blocks in mqtt.rs and in the download exports of ota.rs, then drop
// these two allows.
#[allow(unsafe_op_in_unsafe_fn)]
pub mod mqtt;
#[cfg(feature = "ota")]
#[allow(unsafe_op_in_unsafe_fn)]
pub mod ota;
pub mod state;
pub mod sysdep;

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What an export returns when its body panicked.
pub trait PanicDefault {
    fn panic_default() -> Self;
}

impl PanicDefault for i32 {
    fn panic_default() -> Self {
        // A panic is a bug of ours; report it as the generic system error.
        crate::state::STATE_SYS_DEPEND_MALLOC_FAILED
    }
}

impl<T> PanicDefault for *mut T {
    fn panic_default() -> Self {
        std::ptr::null_mut()
    }
}

impl PanicDefault for u64 {
    fn panic_default() -> Self {
        0
    }
}

impl PanicDefault for () {
    fn panic_default() -> Self {}
}

/// Runs an export's body; a panic becomes the type's default instead of unwinding into C.
pub fn guard<R: PanicDefault>(body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| R::panic_default())
}

/// Maps a core result to upstream's return convention.
pub fn status(result: crate::error::Result<i32>) -> i32 {
    match result {
        Ok(v) => v,
        Err(e) => e.code(),
    }
}

/// Reads a C string; NULL gives `None`. Invalid UTF-8 is replaced, never rejected.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string.
pub unsafe fn cstr<'a>(ptr: *const c_char) -> Option<std::borrow::Cow<'a, str>> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: not NULL, and NUL-terminated by the caller's contract.
        Some(unsafe { CStr::from_ptr(ptr) }.to_string_lossy())
    }
}
