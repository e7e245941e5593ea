//! aiot: a Rust drop-in for Aliyun Link SDK C 4.x (`libaiot`).
//!
//! The safe core (`log`, `sysdep`, `transport`, `mqtt`) has no `unsafe`; the `ffi` module is
//! the C boundary, one file per upstream header.

#[cfg(feature = "ota")]
pub mod download;
pub mod error;
pub mod ffi;
#[cfg(feature = "fuzzing")]
pub mod fuzz_api;
pub mod log;
pub mod mqtt;
#[cfg(feature = "ota")]
pub mod ota;
pub mod state;

pub mod sysdep;
pub mod transport;

#[cfg(test)]
mod header_drift {
    /// The committed headers must equal what the sources generate
    /// (regenerate with `AIOT_WRITE_HEADERS=1 cargo build`).
    #[test]
    fn committed_headers_match_generated() {
        for name in [
            "aiot_state_api.h",
            "aiot_sysdep_api.h",
            "aiot_mqtt_api.h",
            "aiot_ota_api.h",
        ] {
            let generated = std::fs::read_to_string(format!("{}/include/{name}", env!("OUT_DIR"))).unwrap();
            let committed = std::fs::read_to_string(format!("{}/include/{name}", env!("CARGO_MANIFEST_DIR")))
                .unwrap_or_default();
            assert!(
                generated == committed,
                "include/{name} drifted: run AIOT_WRITE_HEADERS=1 cargo build"
            );
        }
    }
}
