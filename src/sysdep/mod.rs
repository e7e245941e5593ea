//! The system port seen by the safe core.
//!
//! Upstream routes every socket, clock read, sleep and random number through the active
//! `aiot_sysdep_portfile_t`. The core does the same through the [`Port`] trait: the FFI layer
//! implements it over the C function table, and [`posix`] is our own POSIX port in safe Rust
//! (exported to C as `g_aiot_sysdep_portfile`).

pub mod posix;

use std::sync::{Arc, RwLock};

/// Which kind of socket `network_init` should give (`core_sysdep_socket_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketType {
    TcpClient,
}

/// A network credential (`aiot_sysdep_network_cred_t`), owned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credential {
    /// `AIOT_SYSDEP_NETWORK_CRED_*` value.
    pub option: u32,
    pub max_tls_fragment: u32,
    pub sni_enabled: u8,
    /// PEM text of the CA certificate(s) that verify the server.
    pub server_ca: Option<Vec<u8>>,
    /// PEM client certificate chain, for mutual TLS.
    pub client_cert: Option<Vec<u8>>,
    /// PEM client private key, for mutual TLS.
    pub client_key: Option<Vec<u8>>,
}

/// `AIOT_SYSDEP_NETWORK_CRED_NONE`
pub const CRED_NONE: u32 = 0;
/// `AIOT_SYSDEP_NETWORK_CRED_SVRCERT_CA`
pub const CRED_SVRCERT_CA: u32 = 1;
/// `AIOT_SYSDEP_NETWORK_CRED_SVRCERT_PSK`
pub const CRED_SVRCERT_PSK: u32 = 2;

impl Credential {
    /// TLS is used iff a credential is set whose option is not NONE (upstream 4.2 rule).
    pub fn wants_tls(&self) -> bool {
        self.option != CRED_NONE
    }
}

/// One option passed to `network_setopt` (`core_sysdep_network_option_t`).
#[derive(Clone, Copy, Debug)]
pub enum NetOption<'a> {
    SocketType(SocketType),
    Host(&'a str),
    BackupIp(&'a str),
    Port(u16),
    ConnectTimeoutMs(u32),
    Cred(&'a Credential),
}

/// One network handle of the port (`network_init` .. `network_deinit`).
///
/// `recv` and `send` take `&self` because upstream lets one thread receive while others send
/// on the same handle. Dropping the value is `network_deinit`.
pub trait PortNetwork: Send + Sync {
    /// `network_setopt`: 0 or a negative `STATE_*` code.
    fn setopt(&mut self, option: NetOption<'_>) -> i32;
    /// `network_establish`: 0 or a negative `STATE_PORT_*` code.
    fn establish(&mut self) -> i32;
    /// `network_recv`: block until `buf` is full or `timeout_ms` passes. Returns the bytes read
    /// (short only on timeout), 0 on a timeout with nothing read, or a negative code.
    fn recv(&self, buf: &mut [u8], timeout_ms: u32) -> i32;
    /// `network_send`: bytes written (short means timeout), or a negative code.
    fn send(&self, buf: &[u8], timeout_ms: u32) -> i32;
}

/// The services of a portfile that the core uses.
pub trait Port: Send + Sync {
    /// Milliseconds; only differences matter, except in log timestamps.
    fn time_ms(&self) -> u64;
    fn sleep_ms(&self, ms: u64);
    fn rand(&self, buf: &mut [u8]);
    /// `network_init`; `None` when the port cannot make a handle.
    fn network(&self) -> Option<Box<dyn PortNetwork>>;
    /// This port as a shared handle, for state that outlives the borrow it came through: a TLS
    /// session reads its deadlines from it. A port that carries TLS returns `Some`.
    fn shared(&self) -> Option<Arc<dyn Port>> {
        None
    }
}

static ACTIVE: RwLock<Option<Arc<dyn Port>>> = RwLock::new(None);

/// Selects the port every later call uses (`aiot_sysdep_set_portfile`).
pub fn set_active(port: Option<Arc<dyn Port>>) {
    *ACTIVE.write().unwrap_or_else(|e| e.into_inner()) = port;
}

/// The port selected by [`set_active`], if any.
pub fn active() -> Option<Arc<dyn Port>> {
    ACTIVE.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A random `u32` from the port.
pub fn rand_u32(port: &dyn Port) -> u32 {
    let mut b = [0u8; 4];
    port.rand(&mut b);
    u32::from_le_bytes(b)
}
