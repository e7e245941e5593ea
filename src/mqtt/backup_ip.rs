//! The process-wide MQTT backup IP (upstream's `core_global` slot): an address the bootstrap
//! service named next to the MQTT host. Every MQTT connect (user connect and automatic
//! reconnect, on any handle) logs it (`LK-031D`) and hands it to the port as
//! `CORE_SYSDEP_NETWORK_BACKUP_IP`; the port connects to it only when resolving the host
//! fails (our POSIX port: DNS failure). TLS still verifies the server against the host name.
//! HTTP connections never get it.

use std::sync::Mutex;

/// Longest address kept: upstream's slot holds 15 characters and a NUL.
pub const MAX_BACKUP_IP_LEN: usize = 15;

static BACKUP_IP: Mutex<String> = Mutex::new(String::new());

/// Sets the backup IP ("" clears it). Longer than [`MAX_BACKUP_IP_LEN`]: ignored, false.
#[cfg_attr(not(feature = "bootstrap"), allow(dead_code))]
pub fn set_backup_ip(ip: &str) -> bool {
    if ip.len() > MAX_BACKUP_IP_LEN {
        return false;
    }
    let mut slot = BACKUP_IP.lock().unwrap_or_else(|e| e.into_inner());
    slot.clear();
    slot.push_str(ip);
    true
}

/// The backup IP, "" when none is set.
pub fn backup_ip() -> String {
    BACKUP_IP.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
