//! `ali_ca_cert`: the public root CAs of the Aliyun IoT platform, as upstream ships them
//! (GlobalSign Root CA R1, GlobalSign R6 and Aliyun IoT S1), NUL-terminated PEM.
//! C declares it as `extern const char *ali_ca_cert;`.

use std::ffi::c_char;

/// A pointer that may live in a `static`.
#[repr(transparent)]
pub struct CaCertPtr(*const c_char);

// SAFETY: it points to immutable static data.
unsafe impl Sync for CaCertPtr {}

const PEM: &str = concat!(include_str!("ali_ca_cert.pem"), "\0");

/// The exported CA bundle.
#[no_mangle]
pub static ali_ca_cert: CaCertPtr = CaCertPtr(PEM.as_ptr() as *const c_char);
