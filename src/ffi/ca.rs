//! `ali_ca_cert`: the public root CAs of the Aliyun IoT platform, as upstream ships them
//! (GlobalSign Root CA R1, GlobalSign R6 and Aliyun IoT S1), NUL-terminated PEM.
//! C declares it as `extern const char *ali_ca_cert;`.
//!
//! As in upstream's archive, the definition sits in an object of its own: build.rs generates
//! it from `ali_ca_cert.pem` in C and bundles it into `libaiot.a` as a separate member, so a
//! program that defines `ali_ca_cert` itself links statically and its definition wins; the
//! shared library exports ours. Nothing in the library reads it. Linked by anything but
//! rust-lld (see build.rs), the definition is the Rust static below instead.

use std::ffi::c_char;

#[cfg(not(aiot_ca_in_rust))]
extern "C" {
    /// The exported CA bundle, defined by the generated C object.
    pub static ali_ca_cert: *const c_char;
}

/// A pointer that may live in a `static`.
#[cfg(aiot_ca_in_rust)]
#[repr(transparent)]
pub struct CaCertPtr(*const c_char);

// SAFETY: it points to immutable static data.
#[cfg(aiot_ca_in_rust)]
unsafe impl Sync for CaCertPtr {}

/// The exported CA bundle.
#[cfg(aiot_ca_in_rust)]
#[no_mangle]
pub static ali_ca_cert: CaCertPtr =
    CaCertPtr(concat!(include_str!("ali_ca_cert.pem"), "\0").as_ptr() as *const c_char);

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    fn exported() -> &'static CStr {
        #[cfg(not(aiot_ca_in_rust))]
        // SAFETY: the C object defines it as a pointer to a NUL-terminated literal, never written.
        let ptr = unsafe { super::ali_ca_cert };
        #[cfg(aiot_ca_in_rust)]
        let ptr = super::ali_ca_cert.0;
        // SAFETY: a NUL-terminated string with static lifetime (see above).
        unsafe { CStr::from_ptr(ptr) }
    }

    /// The exported bundle is the PEM file byte for byte (the C literal's escaping is right).
    #[test]
    fn exported_bundle_is_the_pem_file() {
        let pem = include_str!("ali_ca_cert.pem");
        assert_eq!(exported().to_str().unwrap(), pem);
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 3);
    }
}
