//! Builds the mosquitto plugin (`plugin/aiot_delivery.c`) that the platform writes into its
//! state folder: it needs a C compiler and mosquitto's plugin headers (Debian: mosquitto-dev).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "plugin/aiot_delivery.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("aiot_delivery.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&cc)
        .args([
            "-shared", "-fPIC", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o",
        ])
        .arg(&out)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler '{cc}': {e}"));
    assert!(
        status.success(),
        "building {src} failed: it needs mosquitto's plugin headers \
         (Debian: apt-get install mosquitto-dev; scripts/deps.sh installs it)"
    );
}
