//! The C boundary: one file per upstream header. Each export checks pointers, converts,
//! calls one safe function and maps its result; [`guard`] keeps panics out of C, and `handle`
//! holds the init / call / setopt / deinit shape the handle exports share.

#![allow(non_camel_case_types, non_upper_case_globals)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "bootstrap")]
pub mod bootstrap;
pub mod ca;
#[cfg(feature = "devinfo")]
pub mod devinfo;
#[cfg(feature = "diag")]
pub mod diag;
#[cfg(feature = "dm")]
pub mod dm;
#[cfg(feature = "dynreg")]
pub mod dynreg;
#[cfg(feature = "dynregmq")]
pub mod dynregmq;
mod handle;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "logpost")]
pub mod logpost;
pub mod mqtt;
#[cfg(feature = "mqtt_download")]
pub mod mqtt_download;
#[cfg(feature = "ntp")]
pub mod ntp;
#[cfg(feature = "ota")]
pub mod ota;
#[cfg(feature = "shadow")]
pub mod shadow;
pub mod state;
pub mod sysdep;
#[cfg(feature = "task")]
pub mod task;

use std::ffi::{c_char, c_void, CStr};
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

/// An option's `char *` data, copied; NULL gives `Error::NullPointer`. Invalid UTF-8 is replaced.
///
/// # Safety
/// `data` must be NULL or point to a NUL-terminated string.
pub unsafe fn text_data(data: *mut c_void) -> crate::error::Result<String> {
    // SAFETY: NULL or NUL-terminated (this function's contract).
    unsafe { cstr(data as *const c_char) }
        .map(|s| s.into_owned())
        .ok_or(crate::error::Error::NullPointer)
}

/// The object behind a handle or an option's data; NULL gives `None`.
///
/// # Safety
/// `ptr` must be NULL or point to a live `T` that nothing frees or mutates (other than
/// through its own locks) while the reference is used.
pub unsafe fn deref<'a, T>(ptr: *mut c_void) -> Option<&'a T> {
    // SAFETY: NULL is handled by `as_ref`; otherwise the caller's contract makes it valid.
    unsafe { (ptr as *const T).as_ref() }
}

/// The value an option's non-NULL data points to, borrowed.
///
/// # Safety
/// `data` must be non-NULL, aligned and point to an initialised `T` that outlives the borrow.
pub unsafe fn data_ref<'a, T>(data: *mut c_void) -> &'a T {
    // SAFETY: non-NULL, aligned, initialised and alive by the caller's contract.
    unsafe { &*(data as *const T) }
}

/// Reads an option's value (`uint8_t *`, `uint16_t *`, `uint32_t *`, ...).
///
/// # Safety
/// `data` must be non-NULL, aligned and point to an initialised `T`.
pub unsafe fn read_data<T: Copy>(data: *mut c_void) -> T {
    // SAFETY: non-NULL, aligned and initialised by the caller's contract.
    unsafe { *(data as *const T) }
}

/// A handler passed as an option's data itself (the function's address, not a pointer to it).
///
/// # Safety
/// `F` must be an `unsafe extern "C" fn` type and `data` the non-NULL address of a function
/// of exactly that signature.
pub unsafe fn handler_data<F: Copy>(data: *mut c_void) -> F {
    const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<*mut c_void>()) };
    // SAFETY: `F` is a function pointer type of the same size (checked at compile time), and
    // `data` is the address of a function of that signature by the caller's contract.
    unsafe { std::mem::transmute_copy(&data) }
}

/// The credential an option's `aiot_sysdep_network_cred_t *` data points to, copied.
///
/// # Safety
/// `data` must be non-NULL and point to a credential whose pointers are NULL or valid for
/// their lengths.
pub unsafe fn cred_data(data: *mut c_void) -> crate::sysdep::Credential {
    // SAFETY: a valid credential with valid members (caller's contract).
    unsafe { sysdep::read_cred(data_ref::<sysdep::aiot_sysdep_network_cred_t>(data)) }
}
