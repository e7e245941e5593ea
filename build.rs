//! Generates the C headers with cbindgen, one per upstream header.
//!
//! Headers are written to `$OUT_DIR/include`; with `AIOT_WRITE_HEADERS=1` they are also
//! written to `include/` in the source tree (they are committed; a unit test fails when the
//! committed ones drift from what the sources generate).

use std::path::{Path, PathBuf};

struct Header {
    file: &'static str,
    guard: &'static str,
    sources: &'static [&'static str],
    includes: &'static [&'static str],
    /// Types no function mentions, exported all the same.
    exports: &'static [&'static str],
    intro: &'static str,
}

const HEADERS: &[Header] = &[
    Header {
        file: "aiot_state_api.h",
        guard: "_AIOT_STATE_API_H_",
        sources: &["src/state.rs", "src/ffi/state.rs"],
        includes: &[],
        exports: &[],
        intro: "Status codes returned by every API, and the log callback.",
    },
    Header {
        file: "aiot_sysdep_api.h",
        guard: "_AIOT_SYSDEP_API_H_",
        sources: &["src/ffi/sysdep.rs"],
        includes: &[],
        exports: &[
            "aiot_sysdep_network_cred_t",
            "aiot_sysdep_network_cred_option_t",
            "core_sysdep_socket_type_t",
            "core_sysdep_network_option_t",
            "core_sysdep_psk_t",
            "core_sysdep_addr_t",
        ],
        intro: "The system port (memory, time, sleep, network, randomness, mutexes) and network credentials.",
    },
    Header {
        file: "aiot_mqtt_api.h",
        guard: "_AIOT_MQTT_API_H_",
        sources: &["src/ffi/mqtt.rs"],
        includes: &[],
        exports: &[
            "aiot_mqtt_recv_t",
            "aiot_mqtt_recv_handler_t",
            "aiot_mqtt_event_t",
            "aiot_mqtt_event_handler_t",
            "aiot_mqtt_event_type_t",
            "aiot_mqtt_disconnect_event_type_t",
            "aiot_mqtt_topic_map_t",
            "aiot_mqtt_option_t",
        ],
        intro: "MQTT client for the Aliyun IoT platform: connect, publish, subscribe, heartbeat, reconnect.",
    },
    Header {
        file: "aiot_ota_api.h",
        guard: "__AIOT_OTA_API_H__",
        sources: &["src/components/ota/codes.rs", "src/ffi/ota.rs"],
        includes: &[],
        exports: &[
            "aiot_ota_recv_type_t",
            "aiot_ota_digest_type_t",
            "aiot_ota_protocol_type_t",
            "aiot_download_task_desc_t",
            "aiot_ota_recv_t",
            "aiot_ota_recv_handler_t",
            "aiot_download_recv_type_t",
            "aiot_download_recv_t",
            "aiot_download_recv_handler_t",
            "aiot_ota_protocol_errcode_t",
            "aiot_ota_option_t",
            "aiot_download_option_t",
        ],
        intro: "OTA: version reports, upgrade and config pushes, firmware download with digest check.",
    },
    Header {
        file: "aiot_ntp_api.h",
        guard: "__AIOT_NTP_API_H__",
        sources: &["src/components/ntp/codes.rs", "src/ffi/ntp.rs"],
        includes: &[],
        exports: &[
            "aiot_ntp_recv_type_t",
            "aiot_ntp_recv_t",
            "aiot_ntp_recv_handler_t",
            "aiot_ntp_event_type_t",
            "aiot_ntp_event_t",
            "aiot_ntp_event_handler_t",
            "aiot_ntp_option_t",
        ],
        intro: "NTP: the platform's time over MQTT as a local date; the SDK's log clock follows it.",
    },
    Header {
        file: "aiot_dm_api.h",
        guard: "__AIOT_DM_API_H__",
        sources: &["src/components/dm/codes.rs", "src/ffi/dm.rs"],
        includes: &[],
        exports: &[
            "aiot_dm_option_t",
            "aiot_dm_msg_type_t",
            "aiot_dm_msg_property_batch_post_t",
            "aiot_dm_recv_type_t",
            "aiot_dm_recv_t",
            "aiot_dm_recv_handler_t",
        ],
        intro:
            "Data model: thing-model properties, events, services (also synchronous over RRPC) and raw data.",
    },
    Header {
        file: "aiot_dynreg_api.h",
        guard: "__AIOT_DYNREG_API_H__",
        sources: &["src/components/dynreg/codes.rs", "src/ffi/dynreg.rs"],
        includes: &[],
        exports: &[
            "aiot_dynreg_option_t",
            "aiot_dynreg_recv_type_t",
            "aiot_dynreg_recv_t",
            "aiot_dynreg_recv_handler_t",
        ],
        intro: "Dynamic registration over HTTPS: the device secret for product key, product secret and device name.",
    },
    Header {
        file: "aiot_dynregmq_api.h",
        guard: "__AIOT_DYNREGMQ_API_H__",
        sources: &["src/components/dynregmq/codes.rs", "src/ffi/dynregmq.rs"],
        includes: &[],
        exports: &[
            "aiot_dynregmq_option_t",
            "aiot_dynregmq_recv_type_t",
            "aiot_dynregmq_recv_t",
            "aiot_dynregmq_recv_handler_t",
        ],
        intro:
            "Dynamic registration over MQTT: a device secret (whitelist) or MQTT credentials (no whitelist).",
    },
    Header {
        file: "aiot_bootstrap_api.h",
        guard: "_AIOT_BOOTSTRAP_API_H_",
        sources: &["src/components/bootstrap/codes.rs", "src/ffi/bootstrap.rs"],
        includes: &[],
        exports: &[
            "aiot_bootstrap_option_t",
            "aiot_bootstrap_recv_type_t",
            "aiot_bootstrap_recv_t",
            "aiot_bootstrap_recv_handler_t",
            "aiot_bootstrap_event_type_t",
            "aiot_bootstrap_event_t",
            "aiot_bootstrap_event_handler_t",
        ],
        intro: "Bootstrap: the MQTT endpoint a device should use, from the bootstrap service; its notify.",
    },
    Header {
        file: "aiot_http_api.h",
        guard: "_AIOT_HTTP_API_H_",
        sources: &["src/ffi/http.rs"],
        includes: &[],
        exports: &[
            "aiot_http_response_code_t",
            "aiot_http_option_t",
            "aiot_http_recv_type_t",
            "aiot_http_recv_t",
            "aiot_http_recv_handler_t",
            "aiot_http_event_type_t",
            "aiot_http_event_t",
            "aiot_http_event_handler_t",
        ],
        intro: "HTTP uplink: device authentication for a token, then raw payloads posted to topics over HTTP(S).",
    },
    Header {
        file: "aiot_mqtt_download_api.h",
        guard: "__AIOT_MQTT_DOWNLOAD_API_H__",
        sources: &["src/components/mqtt_download/codes.rs", "src/ffi/mqtt_download.rs"],
        includes: &[],
        exports: &[
            "aiot_mqtt_download_recv_type_t",
            "aiot_mqtt_download_recv_t",
            "aiot_mqtt_download_recv_handler_t",
            "aiot_mqtt_download_option_t",
        ],
        intro: "OTA over MQTT: the image of a task pushed with dProtocol mqtt, fetched in CRC-checked blocks.",
    },
    Header {
        file: "aiot_task_api.h",
        guard: "__AIOT_TASK_API_H__",
        sources: &["src/components/task/codes.rs", "src/ffi/task.rs"],
        includes: &[],
        exports: &[
            "aiot_task_option_t",
            "aiot_task_status_t",
            "aiot_task_recv_type_t",
            "task_desc_t",
            "task_summary_t",
            "task_get_list_reply_t",
            "task_get_detail_reply_t",
            "task_update_reply_t",
            "aiot_task_recv_t",
            "aiot_task_recv_handler_t",
        ],
        intro: "Task (job management): job queries, status and progress reports, pushed jobs.",
    },
    Header {
        file: "aiot_shadow_api.h",
        guard: "__AIOT_SHADOW_API_H__",
        sources: &["src/components/shadow/codes.rs", "src/ffi/shadow.rs"],
        includes: &[],
        exports: &[
            "aiot_shadow_option_t",
            "aiot_shadow_msg_type_t",
            "aiot_shadow_msg_t",
            "aiot_shadow_recv_type_t",
            "aiot_shadow_recv_t",
            "aiot_shadow_recv_handler_t",
        ],
        intro: "Device shadow: update, get and delete the shadow document; the cloud's control pushes.",
    },
    Header {
        file: "aiot_devinfo_api.h",
        guard: "__AIOT_DEVINFO_API_H__",
        sources: &["src/components/devinfo/codes.rs", "src/ffi/devinfo.rs"],
        includes: &[],
        exports: &[
            "aiot_devinfo_recv_type_t",
            "aiot_devinfo_recv_t",
            "aiot_devinfo_recv_handler_t",
            "aiot_devinfo_event_type_t",
            "aiot_devinfo_event_t",
            "aiot_devinfo_event_handler_t",
            "aiot_devinfo_msg_type_t",
            "aiot_devinfo_msg_t",
            "aiot_devinfo_option_t",
        ],
        intro: "Device tags: update, delete and get the device's tags (attrKey/attrValue).",
    },
    Header {
        file: "aiot_logpost_api.h",
        guard: "__AIOT_LOGPOST_API_H__",
        sources: &["src/components/logpost/codes.rs", "src/ffi/logpost.rs"],
        includes: &[],
        exports: &[
            "aiot_logpost_option_t",
            "aiot_logpost_level_t",
            "aiot_logpost_msg_t",
            "aiot_logpost_event_type_t",
            "aiot_logpost_event_t",
            "aiot_logpost_event_handler_t",
        ],
        intro: "Logpost: device logs to the cloud, switched by the cloud's log config; network system logs.",
    },
    Header {
        file: "aiot_diag_api.h",
        guard: "__AIOT_DIAG_API_H__",
        sources: &["src/components/diag/codes.rs", "src/ffi/diag.rs"],
        includes: &[],
        exports: &[
            "aiot_diag_recv_type_t",
            "aiot_diag_recv_t",
            "aiot_diag_recv_handler_t",
            "aiot_diag_event_type_t",
            "aiot_diag_event_t",
            "aiot_diag_event_handler_t",
            "aiot_diag_config_t",
            "aiot_diag_option_t",
        ],
        intro: "Diag: the SDK's self-diagnosis; alerts on slow connects, lost heartbeats and slow Alink replies.",
    },
];

/// System headers a generated header includes besides `<stdint.h>`: upstream's
/// `aiot_http_api.h` includes `core_stdinc.h`, which brings `<stdio.h>` and `<string.h>` too,
/// and user code may rely on that.
fn extra_sys_includes(file: &str) -> &'static [&'static str] {
    match file {
        "aiot_http_api.h" => &["stdio.h", "string.h"],
        _ => &[],
    }
}

fn generate(root: &Path, h: &Header, out: &Path) {
    let mut config = cbindgen::Config {
        language: cbindgen::Language::C,
        cpp_compat: true,
        include_guard: Some(h.guard.to_owned()),
        no_includes: true,
        sys_includes: std::iter::once("stdint.h")
            .chain(extra_sys_includes(h.file).iter().copied())
            .map(str::to_owned)
            .collect(),
        includes: h.includes.iter().map(|s| s.to_string()).collect(),
        style: cbindgen::Style::Type,
        documentation: true,
        documentation_style: cbindgen::DocumentationStyle::C99,
        header: Some(format!(
            "/**\n * @file {}\n * @brief {}\n *\n * Generated by cbindgen from the aiot crate; do not edit.\n */",
            h.file, h.intro
        )),
        autogen_warning: None,
        ..Default::default()
    };
    config.enumeration.prefix_with_name = false;
    config.export.include = h.exports.iter().map(|s| s.to_string()).collect();
    config.export.item_types = vec![
        cbindgen::ItemType::Constants,
        cbindgen::ItemType::Globals,
        cbindgen::ItemType::Enums,
        cbindgen::ItemType::Structs,
        cbindgen::ItemType::Unions,
        cbindgen::ItemType::Typedefs,
        cbindgen::ItemType::OpaqueItems,
        cbindgen::ItemType::Functions,
    ];
    let mut builder = cbindgen::Builder::new().with_config(config);
    for src in h.sources {
        builder = builder.with_src(root.join(src));
    }
    builder
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed for {}: {e}", h.file))
        .write_to_file(out.join(h.file));
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("include");
    std::fs::create_dir_all(&out).unwrap();
    let write_tree = std::env::var("AIOT_WRITE_HEADERS")
        .map(|v| v == "1")
        .unwrap_or(false);
    for h in HEADERS {
        for src in h.sources {
            println!("cargo:rerun-if-changed={src}");
        }
        generate(&root, h, &out);
        if write_tree {
            std::fs::create_dir_all(root.join("include")).unwrap();
            std::fs::copy(out.join(h.file), root.join("include").join(h.file)).unwrap();
        }
    }
    println!("cargo:rerun-if-env-changed=AIOT_WRITE_HEADERS");
    println!("cargo:rerun-if-changed=build.rs");
    link_args();
    ca_cert();
}

/// `ali_ca_cert` is defined in a C object of its own, generated from `src/ffi/ali_ca_cert.pem`
/// and bundled into `libaiot.a` as a separate archive member, as upstream's archive keeps it: a
/// program that defines `ali_ca_cert` itself (to replace the CA bundle) links statically, the
/// linker then leaving our member out. The shared library pulls the member in (`--undefined`)
/// and exports it through a second version script beside rustc's, which only lists Rust items.
/// GNU ld refuses two anonymous version scripts, so with any linker but rust-lld the CA stays a
/// Rust item (`cfg(aiot_ca_in_rust)`): exported as before, but in the same member as the rest.
fn ca_cert() {
    println!("cargo:rustc-check-cfg=cfg(aiot_ca_in_rust)");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let pem_path = root.join("src/ffi/ali_ca_cert.pem");
    println!("cargo:rerun-if-changed={}", pem_path.display());
    if !uses_rust_lld() {
        println!("cargo:rustc-cfg=aiot_ca_in_rust");
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let pem = std::fs::read(&pem_path).unwrap();
    let c_file = out.join("ali_ca_cert.c");
    std::fs::write(&c_file, ca_cert_source(&pem)).unwrap();
    cc::Build::new().file(&c_file).compile("aiot_ca");
    let map = out.join("ali_ca_cert.map");
    std::fs::write(&map, "{ global: ali_ca_cert; };\n").unwrap();
    println!("cargo:rustc-cdylib-link-arg=-Wl,--undefined=ali_ca_cert");
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
        map.display()
    );
}

/// The C definition of `ali_ca_cert`: the PEM as a string literal, one line per PEM line.
fn ca_cert_source(pem: &[u8]) -> String {
    let mut src = String::from(
        "/* Generated by build.rs from src/ffi/ali_ca_cert.pem: the Aliyun IoT root CAs. */\n\
         const char *ali_ca_cert =",
    );
    for line in pem.split_inclusive(|&b| b == b'\n') {
        src.push_str("\n    \"");
        for &b in line {
            match b {
                b'\n' => src.push_str("\\n"),
                b'"' | b'\\' => {
                    src.push('\\');
                    src.push(b as char);
                }
                0x20..=0x7e => src.push(b as char),
                _ => src.push_str(&format!("\\{b:03o}")),
            }
        }
        src.push('"');
    }
    src.push_str(";\n");
    src
}

/// Packs the shared library's relative relocations (DT_RELR, binutils >= 2.38, glibc >= 2.36):
/// 110 KB of `.rela.dyn` become a few KB. Set `AIOT_NO_RELR=1` to build for an older glibc.
fn link_args() {
    println!("cargo:rerun-if-env-changed=AIOT_NO_RELR");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu && std::env::var_os("AIOT_NO_RELR").is_none() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
    identical_code_folding();
    symbol_order();
}

/// Folds functions whose machine code is identical (mostly generic instantiations that
/// differ only in type): about 31 KB of the stripped library. rustc marks every function
/// `unnamed_addr`, so Rust code gives no meaning to a function's address; `--icf=safe` folds
/// nothing here. Only with rust-lld (see [`uses_rust_lld`]); `AIOT_NO_ICF=1` turns it off.
fn identical_code_folding() {
    println!("cargo:rerun-if-env-changed=AIOT_NO_ICF");
    if uses_rust_lld() && std::env::var_os("AIOT_NO_ICF").is_none() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=all");
    }
}

/// Whether the library is linked by rust-lld, the default linker of x86_64-unknown-linux-gnu
/// since Rust 1.90, i.e. no linker or linker settings are named in the environment or RUSTFLAGS.
fn uses_rust_lld() -> bool {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    env("TARGET") == "x86_64-unknown-linux-gnu"
        && std::env::var_os("RUSTC_LINKER").is_none()
        && !env("CARGO_ENCODED_RUSTFLAGS").contains("link")
        && std::process::Command::new(env("RUSTC"))
            .arg("-V")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|v| v.split('.').nth(1)?.parse::<u32>().ok())
            .is_some_and(|minor| minor >= 90)
}

/// Puts the functions a normal run executes (`link/hot-symbols.txt`, written by
/// `scripts/hot-symbols.sh`) together at the start of `.text`: the kernel maps code in 64 KB
/// fault-around windows, so a run then maps a few of them instead of the whole library (peak
/// RSS, BENCHMARKS.md). Names the build no longer has are ignored. Only for the default (OTA)
/// build the list comes from (the MQTT-only library would grow by its padding), and only with
/// rust-lld, the default linker of x86_64-unknown-linux-gnu since Rust 1.90, when RUSTFLAGS
/// name no linker settings (GNU ld has no such option). `AIOT_NO_SYMBOL_ORDER=1` turns it off.
fn symbol_order() {
    println!("cargo:rerun-if-env-changed=AIOT_NO_SYMBOL_ORDER");
    let list = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("link/hot-symbols.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    if uses_rust_lld()
        && list.exists()
        && std::env::var_os("CARGO_FEATURE_OTA").is_some()
        && std::env::var_os("AIOT_NO_SYMBOL_ORDER").is_none()
    {
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
            list.display()
        );
    }
}
