//! `aiot_sysdep_api.h`: the portfile (system port) and network credential types, the exported
//! POSIX port `g_aiot_sysdep_portfile`, and the adapter that lets the core use any portfile.

use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::{cstr, guard};
use crate::state::*;
use crate::sysdep::{self, posix::PosixPort, Credential, NetOption, Port, PortNetwork, SocketType};

/// Kind of network credential (`aiot_sysdep_network_cred_t.option`).
pub type aiot_sysdep_network_cred_option_t = u32;
/// Plain TCP, no TLS.
pub const AIOT_SYSDEP_NETWORK_CRED_NONE: aiot_sysdep_network_cred_option_t = 0;
/// TLS, server verified against the CA in `x509_server_cert`.
pub const AIOT_SYSDEP_NETWORK_CRED_SVRCERT_CA: aiot_sysdep_network_cred_option_t = 1;
/// TLS-PSK (not supported by this library: connecting returns a TLS PSK error).
pub const AIOT_SYSDEP_NETWORK_CRED_SVRCERT_PSK: aiot_sysdep_network_cred_option_t = 2;
pub const AIOT_SYSDEP_NETWORK_CRED_MAX: aiot_sysdep_network_cred_option_t = 3;

/// Network security credential.
#[repr(C)]
pub struct aiot_sysdep_network_cred_t {
    /// One of `AIOT_SYSDEP_NETWORK_CRED_*`.
    pub option: aiot_sysdep_network_cred_option_t,
    /// Maximum TLS fragment length: 512, 1024, 2048, 4096 or 16384.
    pub max_tls_fragment: u32,
    /// Send Server Name Indication (host names always get it).
    pub sni_enabled: u8,
    /// PEM of the CA that signs the server certificate.
    pub x509_server_cert: *const c_char,
    /// Length of `x509_server_cert`.
    pub x509_server_cert_len: u32,
    /// PEM client certificate (optional, mutual TLS).
    pub x509_client_cert: *const c_char,
    pub x509_client_cert_len: u32,
    /// PEM client private key (optional, mutual TLS).
    pub x509_client_privkey: *const c_char,
    pub x509_client_privkey_len: u32,
    /// Reserved.
    pub tls_extend_info: *mut c_char,
}

/// Socket kind requested with `CORE_SYSDEP_NETWORK_SOCKET_TYPE`.
pub type core_sysdep_socket_type_t = u32;
pub const CORE_SYSDEP_SOCKET_TCP_CLIENT: core_sysdep_socket_type_t = 0;
pub const CORE_SYSDEP_SOCKET_TCP_SERVER: core_sysdep_socket_type_t = 1;
pub const CORE_SYSDEP_SOCKET_UDP_CLIENT: core_sysdep_socket_type_t = 2;
pub const CORE_SYSDEP_SOCKET_UDP_SERVER: core_sysdep_socket_type_t = 3;

/// Options of `core_sysdep_network_setopt`.
pub type core_sysdep_network_option_t = u32;
/// `core_sysdep_socket_type_t *`
pub const CORE_SYSDEP_NETWORK_SOCKET_TYPE: core_sysdep_network_option_t = 0;
/// `char *`
pub const CORE_SYSDEP_NETWORK_HOST: core_sysdep_network_option_t = 1;
/// `char *`, at most 15 characters, may be empty
pub const CORE_SYSDEP_NETWORK_BACKUP_IP: core_sysdep_network_option_t = 2;
/// `uint16_t *`
pub const CORE_SYSDEP_NETWORK_PORT: core_sysdep_network_option_t = 3;
/// `uint32_t *`
pub const CORE_SYSDEP_NETWORK_CONNECT_TIMEOUT_MS: core_sysdep_network_option_t = 4;
/// `aiot_sysdep_network_cred_t *`
pub const CORE_SYSDEP_NETWORK_CRED: core_sysdep_network_option_t = 5;
/// `core_sysdep_psk_t *`
pub const CORE_SYSDEP_NETWORK_PSK: core_sysdep_network_option_t = 6;
pub const CORE_SYSDEP_NETWORK_MAX: core_sysdep_network_option_t = 7;

/// TLS pre-shared key.
#[repr(C)]
pub struct core_sysdep_psk_t {
    pub psk_id: *mut c_char,
    pub psk: *mut c_char,
}

/// UDP peer address.
#[repr(C)]
pub struct core_sysdep_addr_t {
    pub addr: [c_char; 16],
    pub port: u16,
}

/// The system port: memory, time, sleep, network, randomness and mutexes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct aiot_sysdep_portfile_t {
    pub core_sysdep_malloc: Option<unsafe extern "C" fn(size: u32, name: *mut c_char) -> *mut c_void>,
    pub core_sysdep_free: Option<unsafe extern "C" fn(ptr: *mut c_void)>,
    /// Milliseconds; only differences matter except in log timestamps.
    pub core_sysdep_time: Option<unsafe extern "C" fn() -> u64>,
    pub core_sysdep_sleep: Option<unsafe extern "C" fn(time_ms: u64)>,
    pub core_sysdep_network_init: Option<unsafe extern "C" fn() -> *mut c_void>,
    pub core_sysdep_network_setopt: Option<
        unsafe extern "C" fn(
            handle: *mut c_void,
            option: core_sysdep_network_option_t,
            data: *mut c_void,
        ) -> i32,
    >,
    pub core_sysdep_network_establish: Option<unsafe extern "C" fn(handle: *mut c_void) -> i32>,
    /// Blocks until `len` bytes or the timeout; returns bytes read, 0 on timeout, <0 on error.
    pub core_sysdep_network_recv: Option<
        unsafe extern "C" fn(
            handle: *mut c_void,
            buffer: *mut u8,
            len: u32,
            timeout_ms: u32,
            addr: *mut core_sysdep_addr_t,
        ) -> i32,
    >,
    /// Returns bytes written (short on timeout) or <0 on error.
    pub core_sysdep_network_send: Option<
        unsafe extern "C" fn(
            handle: *mut c_void,
            buffer: *mut u8,
            len: u32,
            timeout_ms: u32,
            addr: *mut core_sysdep_addr_t,
        ) -> i32,
    >,
    pub core_sysdep_network_deinit: Option<unsafe extern "C" fn(handle: *mut *mut c_void) -> i32>,
    pub core_sysdep_rand: Option<unsafe extern "C" fn(output: *mut u8, output_len: u32)>,
    pub core_sysdep_mutex_init: Option<unsafe extern "C" fn() -> *mut c_void>,
    pub core_sysdep_mutex_lock: Option<unsafe extern "C" fn(mutex: *mut c_void)>,
    pub core_sysdep_mutex_unlock: Option<unsafe extern "C" fn(mutex: *mut c_void)>,
    pub core_sysdep_mutex_deinit: Option<unsafe extern "C" fn(mutex: *mut *mut c_void)>,
}

impl aiot_sysdep_portfile_t {
    fn complete(&self) -> bool {
        self.core_sysdep_malloc.is_some()
            && self.core_sysdep_free.is_some()
            && self.core_sysdep_time.is_some()
            && self.core_sysdep_sleep.is_some()
            && self.core_sysdep_network_init.is_some()
            && self.core_sysdep_network_setopt.is_some()
            && self.core_sysdep_network_establish.is_some()
            && self.core_sysdep_network_recv.is_some()
            && self.core_sysdep_network_send.is_some()
            && self.core_sysdep_network_deinit.is_some()
            && self.core_sysdep_rand.is_some()
            && self.core_sysdep_mutex_init.is_some()
            && self.core_sysdep_mutex_lock.is_some()
            && self.core_sysdep_mutex_unlock.is_some()
            && self.core_sysdep_mutex_deinit.is_some()
    }

    fn is_ours(&self) -> bool {
        let ours = POSIX_PORTFILE;
        self.core_sysdep_time.map(|f| f as usize) == ours.core_sysdep_time.map(|f| f as usize)
            && self.core_sysdep_sleep.map(|f| f as usize) == ours.core_sysdep_sleep.map(|f| f as usize)
            && self.core_sysdep_rand.map(|f| f as usize) == ours.core_sysdep_rand.map(|f| f as usize)
            && self.core_sysdep_network_init.map(|f| f as usize)
                == ours.core_sysdep_network_init.map(|f| f as usize)
            && self.core_sysdep_network_setopt.map(|f| f as usize)
                == ours.core_sysdep_network_setopt.map(|f| f as usize)
            && self.core_sysdep_network_establish.map(|f| f as usize)
                == ours.core_sysdep_network_establish.map(|f| f as usize)
            && self.core_sysdep_network_recv.map(|f| f as usize)
                == ours.core_sysdep_network_recv.map(|f| f as usize)
            && self.core_sysdep_network_send.map(|f| f as usize)
                == ours.core_sysdep_network_send.map(|f| f as usize)
            && self.core_sysdep_network_deinit.map(|f| f as usize)
                == ours.core_sysdep_network_deinit.map(|f| f as usize)
    }
}

/// Our POSIX port's members, as `g_aiot_sysdep_portfile` starts.
const POSIX_PORTFILE: aiot_sysdep_portfile_t = aiot_sysdep_portfile_t {
    core_sysdep_malloc: Some(posix_malloc),
    core_sysdep_free: Some(posix_free),
    core_sysdep_time: Some(posix_time),
    core_sysdep_sleep: Some(posix_sleep),
    core_sysdep_network_init: Some(posix_network_init),
    core_sysdep_network_setopt: Some(posix_network_setopt),
    core_sysdep_network_establish: Some(posix_network_establish),
    core_sysdep_network_recv: Some(posix_network_recv),
    core_sysdep_network_send: Some(posix_network_send),
    core_sysdep_network_deinit: Some(posix_network_deinit),
    core_sysdep_rand: Some(posix_rand),
    core_sysdep_mutex_init: Some(posix_mutex_init),
    core_sysdep_mutex_lock: Some(posix_mutex_lock),
    core_sysdep_mutex_unlock: Some(posix_mutex_unlock),
    core_sysdep_mutex_deinit: Some(posix_mutex_deinit),
};

/// Our POSIX port. Pass `&g_aiot_sysdep_portfile` to `aiot_sysdep_set_portfile`, or copy it
/// and replace members to wrap them.
#[no_mangle]
pub static mut g_aiot_sysdep_portfile: aiot_sysdep_portfile_t = POSIX_PORTFILE;

/// The one copy kept by `aiot_sysdep_set_portfile`, as upstream keeps it: a static whose
/// address `aiot_sysdep_get_portfile` returns, valid for the life of the process. A later set
/// overwrites it in place. Each member is stored atomically, so a reader never sees half a
/// pointer; the core never reads it (handles hold the port they were made with).
#[repr(C)]
struct PortfileCopy {
    members: [AtomicPtr<c_void>; PORTFILE_MEMBERS],
}

const PORTFILE_MEMBERS: usize = 15;

// The copy is read from C as an `aiot_sysdep_portfile_t`: same size and alignment, and every
// member a nullable function pointer, which has the representation of a pointer.
const _: () = assert!(
    std::mem::size_of::<PortfileCopy>() == std::mem::size_of::<aiot_sysdep_portfile_t>()
        && std::mem::align_of::<PortfileCopy>() == std::mem::align_of::<aiot_sysdep_portfile_t>()
);

static COPY: PortfileCopy = PortfileCopy {
    members: [const { AtomicPtr::new(std::ptr::null_mut()) }; PORTFILE_MEMBERS],
};
/// Whether `COPY` holds a complete portfile (`aiot_sysdep_get_portfile` is NULL otherwise).
static COPY_COMPLETE: AtomicBool = AtomicBool::new(false);
/// Serialises `aiot_sysdep_set_portfile`, so the copy and the active port change together.
static SET_LOCK: Mutex<()> = Mutex::new(());

impl PortfileCopy {
    fn store(&self, table: &aiot_sysdep_portfile_t) {
        // SAFETY: 15 nullable function pointers and 15 data pointers have the same size (checked
        // at compile time by `transmute`); a function pointer is a valid pointer value.
        let words: [*mut c_void; PORTFILE_MEMBERS] = unsafe { std::mem::transmute(*table) };
        for (member, word) in self.members.iter().zip(words) {
            member.store(word, Ordering::Release);
        }
    }
}

/// Selects the system port used by every module. The table is copied; all 15 members must be
/// set, otherwise the port is cleared and every `*_init` returns NULL. Handles made earlier keep
/// the port they were made with (their network handles and mutexes belong to it); handles made
/// afterwards use the new one.
///
/// # Safety
/// `portfile` must be NULL or point to a valid `aiot_sysdep_portfile_t`.
#[no_mangle]
pub unsafe extern "C" fn aiot_sysdep_set_portfile(portfile: *mut aiot_sysdep_portfile_t) {
    guard(|| {
        // SAFETY: the caller passes NULL or a valid portfile, read once by value.
        let table = unsafe { portfile.as_ref() }.copied();
        let _serial = SET_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = &table {
            COPY.store(t);
        }
        let table = table.filter(|t| t.complete());
        COPY_COMPLETE.store(table.is_some(), Ordering::Release);
        sysdep::set_active(table.map(port_of));
    })
}

/// The core's view of a complete portfile: our safe POSIX port when it is ours.
fn port_of(table: aiot_sysdep_portfile_t) -> Arc<dyn Port> {
    if table.is_ours() {
        Arc::new(PosixPort)
    } else {
        Arc::new(CPort { table })
    }
}

/// The library's copy of the port set last with `aiot_sysdep_set_portfile`, or NULL while no
/// complete port is set. The address is the same on every call and stays valid for the life of
/// the process; a later `aiot_sysdep_set_portfile` changes what it points to.
#[no_mangle]
pub extern "C" fn aiot_sysdep_get_portfile() -> *mut aiot_sysdep_portfile_t {
    if COPY_COMPLETE.load(Ordering::Acquire) {
        &COPY as *const PortfileCopy as *mut aiot_sysdep_portfile_t
    } else {
        std::ptr::null_mut()
    }
}

/// Reads a C credential into an owned one.
///
/// # Safety
/// `cred` must point to a valid credential whose certificate pointers are NULL or valid for
/// their lengths.
pub unsafe fn read_cred(cred: &aiot_sysdep_network_cred_t) -> Credential {
    let bytes = |p: *const c_char, len: u32| -> Option<Vec<u8>> {
        if p.is_null() {
            None
        } else {
            // SAFETY: not NULL, and valid for `len` bytes by the caller's contract.
            Some(unsafe { std::slice::from_raw_parts(p as *const u8, len as usize) }.to_vec())
        }
    };
    Credential {
        option: cred.option,
        max_tls_fragment: cred.max_tls_fragment,
        sni_enabled: cred.sni_enabled,
        server_ca: bytes(cred.x509_server_cert, cred.x509_server_cert_len),
        client_cert: bytes(cred.x509_client_cert, cred.x509_client_cert_len),
        client_key: bytes(cred.x509_client_privkey, cred.x509_client_privkey_len),
    }
}

// ---------------------------------------------------------------------------------------
// A user portfile seen as a `Port`.

struct CPort {
    table: aiot_sysdep_portfile_t,
}

// SAFETY: the portfile contract is that its functions may be called from any thread.
unsafe impl Send for CPort {}
unsafe impl Sync for CPort {}

impl Port for CPort {
    fn time_ms(&self) -> u64 {
        // SAFETY: `complete()` was checked when the table was stored.
        unsafe { self.table.core_sysdep_time.map(|f| f()).unwrap_or(0) }
    }
    fn sleep_ms(&self, ms: u64) {
        if let Some(f) = self.table.core_sysdep_sleep {
            // SAFETY: user port function, called per its contract.
            unsafe { f(ms) }
        }
    }
    fn rand(&self, buf: &mut [u8]) {
        if let Some(f) = self.table.core_sysdep_rand {
            // SAFETY: the buffer is valid for `len` bytes.
            unsafe { f(buf.as_mut_ptr(), buf.len() as u32) }
        }
    }
    fn network(&self) -> Option<Box<dyn PortNetwork>> {
        // SAFETY: user port function, called per its contract.
        let handle = unsafe { self.table.core_sysdep_network_init.map(|f| f()) }?;
        if handle.is_null() {
            return None;
        }
        Some(Box::new(CNetwork {
            table: self.table,
            handle,
            keep: Vec::new(),
            cred: None,
        }))
    }
    fn shared(&self) -> Option<Arc<dyn Port>> {
        Some(Arc::new(CPort { table: self.table }))
    }
}

struct CNetwork {
    table: aiot_sysdep_portfile_t,
    handle: *mut c_void,
    /// Strings handed to the port stay alive as long as the handle, as upstream's did.
    keep: Vec<CString>,
    cred: Option<Box<aiot_sysdep_network_cred_t>>,
}

// SAFETY: upstream's contract lets one thread receive while another sends on a handle.
unsafe impl Send for CNetwork {}
unsafe impl Sync for CNetwork {}

impl CNetwork {
    fn keep_bytes(&mut self, bytes: &[u8]) -> (*const c_char, u32) {
        let c =
            CString::new(bytes.iter().copied().filter(|&b| b != 0).collect::<Vec<u8>>()).unwrap_or_default();
        let len = c.as_bytes().len() as u32;
        let ptr = c.as_ptr();
        self.keep.push(c);
        (ptr, len)
    }

    fn raw_setopt(&self, option: core_sysdep_network_option_t, data: *mut c_void) -> i32 {
        match self.table.core_sysdep_network_setopt {
            // SAFETY: `data` points to a value of the type the option documents.
            Some(f) => unsafe { f(self.handle, option, data) },
            None => STATE_PORT_INPUT_NULL_POINTER,
        }
    }
}

impl PortNetwork for CNetwork {
    fn setopt(&mut self, option: NetOption<'_>) -> i32 {
        match option {
            NetOption::SocketType(SocketType::TcpClient) => {
                let mut t: core_sysdep_socket_type_t = CORE_SYSDEP_SOCKET_TCP_CLIENT;
                self.raw_setopt(CORE_SYSDEP_NETWORK_SOCKET_TYPE, &mut t as *mut _ as *mut c_void)
            }
            NetOption::Host(host) => {
                let (p, _) = self.keep_bytes(host.as_bytes());
                self.raw_setopt(CORE_SYSDEP_NETWORK_HOST, p as *mut c_void)
            }
            NetOption::BackupIp(ip) => {
                let (p, _) = self.keep_bytes(ip.as_bytes());
                self.raw_setopt(CORE_SYSDEP_NETWORK_BACKUP_IP, p as *mut c_void)
            }
            NetOption::Port(port) => {
                let mut v = port;
                self.raw_setopt(CORE_SYSDEP_NETWORK_PORT, &mut v as *mut u16 as *mut c_void)
            }
            NetOption::ConnectTimeoutMs(ms) => {
                let mut v = ms;
                self.raw_setopt(
                    CORE_SYSDEP_NETWORK_CONNECT_TIMEOUT_MS,
                    &mut v as *mut u32 as *mut c_void,
                )
            }
            NetOption::Cred(cred) => {
                let mut pem = |b: &Option<Vec<u8>>| match b {
                    Some(b) => self.keep_bytes(b),
                    None => (std::ptr::null(), 0),
                };
                let (sc, scl) = pem(&cred.server_ca);
                let (cc, ccl) = pem(&cred.client_cert);
                let (ck, ckl) = pem(&cred.client_key);
                let mut c = Box::new(aiot_sysdep_network_cred_t {
                    option: cred.option,
                    max_tls_fragment: cred.max_tls_fragment,
                    sni_enabled: cred.sni_enabled,
                    x509_server_cert: sc,
                    x509_server_cert_len: scl,
                    x509_client_cert: cc,
                    x509_client_cert_len: ccl,
                    x509_client_privkey: ck,
                    x509_client_privkey_len: ckl,
                    tls_extend_info: std::ptr::null_mut(),
                });
                let ptr = &mut *c as *mut aiot_sysdep_network_cred_t as *mut c_void;
                self.cred = Some(c);
                self.raw_setopt(CORE_SYSDEP_NETWORK_CRED, ptr)
            }
        }
    }

    fn establish(&mut self) -> i32 {
        match self.table.core_sysdep_network_establish {
            // SAFETY: valid handle from network_init.
            Some(f) => unsafe { f(self.handle) },
            None => STATE_PORT_INPUT_NULL_POINTER,
        }
    }

    fn recv(&self, buf: &mut [u8], timeout_ms: u32) -> i32 {
        match self.table.core_sysdep_network_recv {
            // SAFETY: `buf` is valid for `len` bytes; addr is NULL for TCP.
            Some(f) => unsafe {
                f(
                    self.handle,
                    buf.as_mut_ptr(),
                    buf.len() as u32,
                    timeout_ms,
                    std::ptr::null_mut(),
                )
            },
            None => STATE_PORT_INPUT_NULL_POINTER,
        }
    }

    fn send(&self, buf: &[u8], timeout_ms: u32) -> i32 {
        match self.table.core_sysdep_network_send {
            // SAFETY: the port only reads `len` bytes from `buf`.
            Some(f) => unsafe {
                f(
                    self.handle,
                    buf.as_ptr() as *mut u8,
                    buf.len() as u32,
                    timeout_ms,
                    std::ptr::null_mut(),
                )
            },
            None => STATE_PORT_INPUT_NULL_POINTER,
        }
    }
}

impl Drop for CNetwork {
    fn drop(&mut self) {
        if let Some(f) = self.table.core_sysdep_network_deinit {
            let mut h = self.handle;
            // SAFETY: the handle came from network_init and is released exactly once.
            unsafe {
                f(&mut h);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The exported POSIX port: C shells over `sysdep::posix`.

unsafe extern "C" fn posix_malloc(size: u32, _name: *mut c_char) -> *mut c_void {
    // SAFETY: plain libc allocation; the caller owns the block.
    unsafe { libc::malloc(size as usize) }
}

unsafe extern "C" fn posix_free(ptr: *mut c_void) {
    // SAFETY: `ptr` is NULL or came from `posix_malloc` (portfile contract).
    unsafe { libc::free(ptr) }
}

unsafe extern "C" fn posix_time() -> u64 {
    guard(|| PosixPort.time_ms())
}

unsafe extern "C" fn posix_sleep(time_ms: u64) {
    guard(|| PosixPort.sleep_ms(time_ms))
}

unsafe extern "C" fn posix_rand(output: *mut u8, output_len: u32) {
    if output.is_null() {
        return;
    }
    // SAFETY: not NULL, and valid for `output_len` bytes (portfile contract).
    let buf = unsafe { std::slice::from_raw_parts_mut(output, output_len as usize) };
    guard(|| PosixPort.rand(buf))
}

type BoxedNetwork = Box<dyn PortNetwork>;

unsafe extern "C" fn posix_network_init() -> *mut c_void {
    guard(|| match PosixPort.network() {
        Some(n) => Box::into_raw(Box::new(n)) as *mut c_void,
        None => std::ptr::null_mut(),
    })
}

/// The network handle behind `handle`.
///
/// # Safety
/// `handle` must be a live handle from `posix_network_init`; for the returned lifetime no call
/// holds a mutable reference to it (the portfile contract allows setopt and establish only
/// before the handle is shared between threads).
unsafe fn posix_net<'a>(handle: *mut c_void) -> &'a BoxedNetwork {
    // SAFETY: see the function's contract.
    unsafe { &*(handle as *const BoxedNetwork) }
}

/// The network handle behind `handle`, for setopt and establish.
///
/// # Safety
/// `handle` must be a live handle from `posix_network_init` that no other call uses meanwhile.
unsafe fn posix_net_mut<'a>(handle: *mut c_void) -> &'a mut BoxedNetwork {
    // SAFETY: see the function's contract.
    unsafe { &mut *(handle as *mut BoxedNetwork) }
}

unsafe extern "C" fn posix_network_setopt(
    handle: *mut c_void,
    option: core_sysdep_network_option_t,
    data: *mut c_void,
) -> i32 {
    if handle.is_null() || data.is_null() {
        return STATE_PORT_INPUT_NULL_POINTER;
    }
    // SAFETY: a handle from `posix_network_init`, set up by one thread (portfile contract).
    let net = unsafe { posix_net_mut(handle) };
    // SAFETY: `data` points to the type `option` documents (portfile contract).
    guard(|| unsafe { posix_setopt(net, option, data) })
}

/// Applies one `core_sysdep_network_setopt` option.
///
/// # Safety
/// `data` must be non-NULL and point to the type `option` documents.
unsafe fn posix_setopt(
    net: &mut BoxedNetwork,
    option: core_sysdep_network_option_t,
    data: *mut c_void,
) -> i32 {
    match option {
        // SAFETY (each arm): `data` points to the option's documented type.
        CORE_SYSDEP_NETWORK_SOCKET_TYPE => match unsafe { *(data as *const core_sysdep_socket_type_t) } {
            CORE_SYSDEP_SOCKET_TCP_CLIENT => net.setopt(NetOption::SocketType(SocketType::TcpClient)),
            CORE_SYSDEP_SOCKET_TCP_SERVER => STATE_PORT_TCP_SERVER_NOT_IMPLEMENT,
            CORE_SYSDEP_SOCKET_UDP_CLIENT => STATE_PORT_UDP_CLIENT_NOT_IMPLEMENT,
            CORE_SYSDEP_SOCKET_UDP_SERVER => STATE_PORT_UDP_SERVER_NOT_IMPLEMENT,
            _ => STATE_PORT_NETWORK_UNKNOWN_SOCKET_TYPE,
        },
        CORE_SYSDEP_NETWORK_HOST => match unsafe { cstr(data as *const c_char) } {
            Some(h) => net.setopt(NetOption::Host(&h)),
            None => STATE_PORT_INPUT_NULL_POINTER,
        },
        CORE_SYSDEP_NETWORK_BACKUP_IP => match unsafe { cstr(data as *const c_char) } {
            Some(h) => net.setopt(NetOption::BackupIp(&h)),
            None => STATE_PORT_INPUT_NULL_POINTER,
        },
        CORE_SYSDEP_NETWORK_PORT => net.setopt(NetOption::Port(unsafe { *(data as *const u16) })),
        CORE_SYSDEP_NETWORK_CONNECT_TIMEOUT_MS => {
            net.setopt(NetOption::ConnectTimeoutMs(unsafe { *(data as *const u32) }))
        }
        CORE_SYSDEP_NETWORK_CRED => {
            let cred = unsafe { read_cred(&*(data as *const aiot_sysdep_network_cred_t)) };
            net.setopt(NetOption::Cred(&cred))
        }
        // A TCP port ignores the PSK; TLS is done above the port.
        CORE_SYSDEP_NETWORK_PSK => STATE_SUCCESS,
        _ => STATE_PORT_NETWORK_UNKNOWN_OPTION,
    }
}

unsafe extern "C" fn posix_network_establish(handle: *mut c_void) -> i32 {
    if handle.is_null() {
        return STATE_PORT_INPUT_NULL_POINTER;
    }
    // SAFETY: a handle from `posix_network_init`, set up by one thread (portfile contract).
    let net = unsafe { posix_net_mut(handle) };
    guard(|| net.establish())
}

unsafe extern "C" fn posix_network_recv(
    handle: *mut c_void,
    buffer: *mut u8,
    len: u32,
    timeout_ms: u32,
    _addr: *mut core_sysdep_addr_t,
) -> i32 {
    if handle.is_null() || buffer.is_null() {
        return STATE_PORT_INPUT_NULL_POINTER;
    }
    // SAFETY: a live handle from `posix_network_init`; receiving only needs `&`.
    let net = unsafe { posix_net(handle) };
    // SAFETY: not NULL, and valid for `len` bytes (portfile contract).
    let buf = unsafe { std::slice::from_raw_parts_mut(buffer, len as usize) };
    guard(|| net.recv(buf, timeout_ms))
}

unsafe extern "C" fn posix_network_send(
    handle: *mut c_void,
    buffer: *mut u8,
    len: u32,
    timeout_ms: u32,
    _addr: *mut core_sysdep_addr_t,
) -> i32 {
    if handle.is_null() || buffer.is_null() {
        return STATE_PORT_INPUT_NULL_POINTER;
    }
    // SAFETY: a live handle from `posix_network_init`; sending only needs `&`.
    let net = unsafe { posix_net(handle) };
    // SAFETY: not NULL, and valid for `len` bytes (portfile contract).
    let buf = unsafe { std::slice::from_raw_parts(buffer as *const u8, len as usize) };
    guard(|| net.send(buf, timeout_ms))
}

unsafe extern "C" fn posix_network_deinit(handle: *mut *mut c_void) -> i32 {
    // SAFETY: `handle` is NULL or points to a handle variable (portfile contract).
    let Some(slot) = (unsafe { handle.as_mut() }) else {
        return STATE_PORT_INPUT_NULL_POINTER;
    };
    if slot.is_null() {
        return STATE_PORT_INPUT_NULL_POINTER;
    }
    // SAFETY: the handle came from `posix_network_init` and is released exactly once: the
    // variable is cleared below.
    drop(unsafe { Box::from_raw(*slot as *mut BoxedNetwork) });
    *slot = std::ptr::null_mut();
    STATE_SUCCESS
}

/// A lock/unlock mutex for C, which cannot hold a Rust guard across calls.
#[derive(Default)]
struct CMutex {
    locked: Mutex<bool>,
    freed: Condvar,
}

unsafe extern "C" fn posix_mutex_init() -> *mut c_void {
    Box::into_raw(Box::<CMutex>::default()) as *mut c_void
}

/// The mutex behind `mutex`.
///
/// # Safety
/// `mutex` must be a live mutex from `posix_mutex_init`.
unsafe fn posix_mutex<'a>(mutex: *mut c_void) -> &'a CMutex {
    // SAFETY: see the function's contract.
    unsafe { &*(mutex as *const CMutex) }
}

unsafe extern "C" fn posix_mutex_lock(mutex: *mut c_void) {
    if mutex.is_null() {
        return;
    }
    // SAFETY: a live mutex from `posix_mutex_init` (portfile contract).
    let m = unsafe { posix_mutex(mutex) };
    let mut locked = m.locked.lock().unwrap_or_else(|e| e.into_inner());
    while *locked {
        locked = m.freed.wait(locked).unwrap_or_else(|e| e.into_inner());
    }
    *locked = true;
}

unsafe extern "C" fn posix_mutex_unlock(mutex: *mut c_void) {
    if mutex.is_null() {
        return;
    }
    // SAFETY: a live mutex from `posix_mutex_init` (portfile contract).
    let m = unsafe { posix_mutex(mutex) };
    *m.locked.lock().unwrap_or_else(|e| e.into_inner()) = false;
    m.freed.notify_one();
}

unsafe extern "C" fn posix_mutex_deinit(mutex: *mut *mut c_void) {
    // SAFETY: `mutex` is NULL or points to a mutex variable (portfile contract).
    let Some(slot) = (unsafe { mutex.as_mut() }) else {
        return;
    };
    if slot.is_null() {
        return;
    }
    // SAFETY: the mutex came from `posix_mutex_init` and is released exactly once: the
    // variable is cleared below.
    drop(unsafe { Box::from_raw(*slot as *mut CMutex) });
    *slot = std::ptr::null_mut();
}
