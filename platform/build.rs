//! Builds the mosquitto plugin (`plugin/aiot_delivery.c`) that the platform writes into its
//! state folder: it needs a C compiler and mosquitto's plugin headers (Debian: mosquitto-dev and
//! libmosquitto-dev).
//! Without them the platform builds all the same, without the plugin.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "plugin/aiot_delivery.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    // Installing mosquitto-dev later builds the plugin on the next build.
    println!("cargo:rerun-if-changed=/usr/include/mosquitto_broker.h");
    println!("cargo:rerun-if-changed=/usr/include/mosquitto.h");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("aiot_delivery.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let built = Command::new(&cc)
        .args([
            "-shared", "-fPIC", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o",
        ])
        .arg(&out)
        .arg(src)
        .status()
        .is_ok_and(|s| s.success());
    if !built {
        // Building the library must not need mosquitto's headers: the platform then runs
        // without the plugin (an empty file here) and says so when it starts a broker.
        println!(
            "cargo:warning=building {src} failed (mosquitto's plugin headers missing? Debian: \
             apt-get install mosquitto-dev libmosquitto-dev); the platform will not deliver system topics \
             without a SUBSCRIBE"
        );
        std::fs::write(&out, b"").expect("write the empty plugin file");
    }
}
