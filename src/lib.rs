//! aiot: a Rust drop-in for Aliyun Link SDK C 4.x (`libaiot`).
//!
//! Laid out as upstream's tree: the core (`state`, `error`, `log`, `sysdep`, `transport`,
//! `mqtt`) and the components on top of it (`components::ota`, `components::download`,
//! `components::ntp`), which reach the core only through its component API
//! (`mqtt::component`). Neither has `unsafe`, enforced here; the `ffi` module is the C
//! boundary, one file per upstream header, where every unsafe operation sits in its own
//! `unsafe` block.

#[forbid(unsafe_code)]
pub mod error;
#[forbid(unsafe_code)]
pub mod log;
#[forbid(unsafe_code)]
pub mod mqtt;
#[forbid(unsafe_code)]
pub mod state;
/// Lock and in-flight helpers shared by the core and the components.
mod sync;
#[forbid(unsafe_code)]
pub mod sysdep;
#[forbid(unsafe_code)]
pub mod transport;

#[forbid(unsafe_code)]
pub mod components;

pub mod ffi;
#[cfg(feature = "fuzzing")]
pub mod fuzz_api;

#[cfg(test)]
mod header_drift {
    /// The committed headers must equal what the sources generate
    /// (regenerate with `AIOT_WRITE_HEADERS=1 cargo build`).
    #[test]
    fn committed_headers_match_generated() {
        // Every header the build generated (each enabled component's), against the committed one.
        let generated_dir = format!("{}/include", env!("OUT_DIR"));
        let mut names: Vec<String> = std::fs::read_dir(&generated_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("aiot_") && n.ends_with("_api.h"))
            .collect();
        names.sort();
        assert!(names.len() >= 4, "too few generated headers: {names:?}");
        for name in names {
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
