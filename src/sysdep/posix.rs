//! Our POSIX port in safe Rust: wall-clock time, `thread::sleep`, a seeded random stream and
//! TCP client sockets over `std::net`.
//!
//! It behaves like upstream's `posix_port.c` (same return codes, same port log lines) with
//! these deliberate differences:
//! * `TCP_NODELAY` is set on every connection. Upstream forgets it, so Nagle's algorithm plus
//!   the peer's delayed ACK hold back the last small write of a TLS handshake flight for about
//!   40 ms on every connect (and on every HTTP download request).
//! * `TCP_QUICKACK` is armed before each of the first [`OPENING_READS`] reads of a connection
//!   (the kernel drops it again as soon as we send). A TLS 1.3 server such as mosquitto with
//!   OpenSSL sends its session tickets right after our Finished and the CONNACK just after them;
//!   with Nagle on at the server (mosquitto's default) the CONNACK waits until the tickets are
//!   acknowledged, and a delayed ACK of ours would cost ~40 ms on every connect.
//! * A peer close after some bytes were read returns those bytes; the close code
//!   (`STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED`) comes with the next call. Upstream drops
//!   the partial bytes.
//! * A connect timeout returns `STATE_PORT_NETWORK_CONNECT_TIMEOUT`, not the MQTT log code
//!   upstream returns by mistake.
//! * Reads go through a small buffer, so the MQTT reader's 1-byte, 1-byte, 2-byte... calls
//!   cost one `read()` system call, and `SO_RCVTIMEO`/`SO_SNDTIMEO` are only set again when
//!   the timeout changes.
//!
//! SIGPIPE: std's `TcpStream::write` calls `send(..., MSG_NOSIGNAL)` on Linux (and sets
//! `SO_NOSIGPIPE` on the BSDs/macOS), so a C program linking this library is not killed by a
//! write to a closed socket even though it does not ignore SIGPIPE. `write_vectored` would use
//! `writev` without that flag, so it is never used here.

use crate::sync::lock;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, ErrorKind, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{NetOption, Port, PortNetwork, SocketType};
use crate::log;
use crate::state::*;

/// Size of the per-connection read buffer for bulk data. A TLS download asks for a 5-byte record
/// header and then the record body: with 64 KB one `read()` usually covers several records
/// (16 KB made two calls per record, the second for a few bytes; `scripts/bench.sh`: ~590 ->
/// ~640 MB/s).
const RX_BUF: usize = 64 * 1024;
/// Reads of at least this much go straight into the caller's buffer (the rest of what the
/// kernel has lands in the read buffer); smaller ones are served from the read buffer.
const RX_DIRECT: usize = 4 * 1024;
/// A connection starts with this much and grows to [`RX_BUF`] on its first read of more: an
/// MQTT connection with small packets never touches 64 KB of memory.
const RX_BUF_START: usize = 4 * 1024;

/// Reads of a new connection that ask the kernel for immediate ACKs: a TLS handshake, the
/// server's session tickets and the MQTT CONNACK (or an HTTP response header) take 3-6; later
/// reads keep the kernel's delayed ACKs, which ride on our next packet.
const OPENING_READS: u8 = 8;

/// Upstream's `CORE_SYSDEP_DEFAULT_CONNECT_TIMEOUT_MS`.
const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 10_000;

/// The POSIX port (`g_aiot_sysdep_portfile` of the C library).
#[derive(Clone, Copy, Debug, Default)]
pub struct PosixPort;

impl Port for PosixPort {
    fn time_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    fn rand(&self, buf: &mut [u8]) {
        fill_random(buf);
    }

    fn network(&self) -> Option<Box<dyn PortNetwork>> {
        Some(Box::new(PosixNetwork::new()))
    }

    fn shared(&self) -> Option<Arc<dyn Port>> {
        Some(Arc::new(PosixPort))
    }
}

/// Writes a port log line (`-0x0F00`, no prefix), formatting only when a sink is set.
macro_rules! port_log {
    ($($arg:tt)*) => {
        if log::enabled() {
            log::raw(log::PORT_LOG_CODE, &format!($($arg)*));
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------

/// A 64-bit seed from /dev/urandom, or from std's randomly keyed hasher when that fails.
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let mut b = [0u8; 8];
        if std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut b))
            .is_ok()
        {
            return u64::from_le_bytes(b);
        }
        // RandomState keys come from the OS random source as well.
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        h.finish()
    })
}

/// splitmix64 over a shared counter: thread-safe, lock-free, never panics.
fn fill_random(buf: &mut [u8]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
    let base = seed();
    for chunk in buf.chunks_mut(8) {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut z = base.wrapping_add(n.wrapping_add(1).wrapping_mul(GAMMA));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
}

// ---------------------------------------------------------------------------------------------
// Network
// ---------------------------------------------------------------------------------------------

/// Read side: buffered bytes not yet handed out, the cached `SO_RCVTIMEO`, the EOF flag.
struct RxState {
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    timeout: Option<Duration>,
    eof: bool,
    /// Reads left that arm `TCP_QUICKACK` first ([`OPENING_READS`] after each establish).
    quick_acks: u8,
}

impl RxState {
    /// Moves buffered bytes into `out`; returns how many.
    fn take(&mut self, out: &mut [u8]) -> usize {
        let n = (self.end - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        n
    }
}

/// Write side: the cached `SO_SNDTIMEO`.
struct TxState {
    timeout: Option<Duration>,
}

/// One TCP client handle of [`PosixPort`].
pub struct PosixNetwork {
    host: Option<String>,
    /// Connected to when resolving `host` fails ("" none), as upstream's POSIX port.
    backup_ip: String,
    port: u16,
    connect_timeout_ms: u32,
    stream: Option<TcpStream>,
    rx: Mutex<RxState>,
    tx: Mutex<TxState>,
}

impl Default for PosixNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl PosixNetwork {
    /// `network_init`: an unconnected handle with upstream's defaults.
    pub fn new() -> PosixNetwork {
        PosixNetwork {
            host: None,
            backup_ip: String::new(),
            port: 0,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            stream: None,
            rx: Mutex::new(RxState {
                buf: Box::default(),
                pos: 0,
                end: 0,
                timeout: None,
                eof: false,
                quick_acks: 0,
            }),
            tx: Mutex::new(TxState { timeout: None }),
        }
    }

    /// Tries every resolved address in turn, like upstream's getaddrinfo loop.
    fn connect(&self, host: &str) -> Result<TcpStream, i32> {
        let addrs: Vec<SocketAddr> = match (host, self.port).to_socket_addrs() {
            Ok(it) => it.collect(),
            Err(_) => Vec::new(),
        };
        if addrs.is_empty() {
            return Err(STATE_PORT_NETWORK_DNS_FAILED);
        }
        let mut res = STATE_PORT_NETWORK_CONNECT_FAILED;
        for addr in addrs {
            let attempt = if self.connect_timeout_ms == 0 {
                // Upstream would time out at once; a blocking connect is the useful reading.
                TcpStream::connect(addr)
            } else {
                TcpStream::connect_timeout(&addr, Duration::from_millis(u64::from(self.connect_timeout_ms)))
            };
            match attempt {
                Ok(s) => return Ok(s),
                Err(e) => {
                    let errno = if e.kind() == ErrorKind::TimedOut {
                        res = STATE_PORT_NETWORK_CONNECT_TIMEOUT;
                        e.raw_os_error().unwrap_or(libc::ETIMEDOUT)
                    } else {
                        res = STATE_PORT_NETWORK_CONNECT_FAILED;
                        e.raw_os_error().unwrap_or(0)
                    };
                    port_log!("connect error, errno: {errno}\n");
                }
            }
        }
        Err(res)
    }
}

#[cfg(unix)]
fn raw_fd(s: &TcpStream) -> i64 {
    use std::os::fd::AsRawFd;
    i64::from(s.as_raw_fd())
}

#[cfg(not(unix))]
fn raw_fd(_s: &TcpStream) -> i64 {
    -1
}

/// Asks the kernel to acknowledge what arrives (and what is queued) at once instead of
/// delaying the ACK. Best effort: failure only costs latency.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn quick_ack(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_tcp_quickack(true);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn quick_ack(_s: &TcpStream) {}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Clamps a length so that it fits the `i32` return value.
fn clamp_len(len: usize) -> usize {
    len.min(i32::MAX as usize)
}

impl PortNetwork for PosixNetwork {
    fn setopt(&mut self, option: NetOption<'_>) -> i32 {
        match option {
            NetOption::SocketType(SocketType::TcpClient) => {}
            NetOption::Host(h) => self.host = Some(h.to_owned()),
            // Tried only after a DNS failure (upstream's rule); the MQTT core passes the
            // address a bootstrap answer named, or "".
            NetOption::BackupIp(ip) => self.backup_ip = ip.to_owned(),
            NetOption::Port(p) => self.port = p,
            NetOption::ConnectTimeoutMs(t) => self.connect_timeout_ms = t,
            // A plain TCP port ignores the credential; TLS is done above it.
            NetOption::Cred(_) => {}
        }
        0
    }

    fn establish(&mut self) -> i32 {
        let Some(host) = self.host.clone() else {
            return STATE_PORT_MISSING_HOST;
        };
        port_log!(
            "establish tcp connection with server(host='{host}', port=[{}])\n",
            self.port
        );
        let mut connected = self.connect(&host);
        if matches!(connected, Err(STATE_PORT_NETWORK_DNS_FAILED)) && !self.backup_ip.is_empty() {
            port_log!("using backup ip: {}\n", self.backup_ip);
            connected = self.connect(&self.backup_ip.clone());
        }
        let stream = match connected {
            Ok(s) => s,
            Err(code) => {
                port_log!("fail to establish tcp\n");
                return code;
            }
        };
        // See the module comment: without this every TLS connect pays ~40 ms of Nagle plus
        // delayed ACK. Failure only costs latency, so it is not an error.
        let _ = stream.set_nodelay(true);
        port_log!("success to establish tcp, fd={}\n", raw_fd(&stream));
        if let Ok(SocketAddr::V4(local)) = stream.local_addr() {
            port_log!("local port: {}\n", local.port());
        }
        {
            let rx = self.rx.get_mut().unwrap_or_else(|e| e.into_inner());
            if rx.buf.is_empty() {
                rx.buf = vec![0u8; RX_BUF_START].into_boxed_slice();
            }
            rx.pos = 0;
            rx.end = 0;
            rx.timeout = None;
            rx.eof = false;
            rx.quick_acks = OPENING_READS;
        }
        self.tx.get_mut().unwrap_or_else(|e| e.into_inner()).timeout = None;
        if let Some(old) = self.stream.replace(stream) {
            let _ = old.shutdown(Shutdown::Both);
        }
        0
    }

    fn recv(&self, out: &mut [u8], timeout_ms: u32) -> i32 {
        if out.is_empty() || timeout_ms == 0 {
            return STATE_PORT_INPUT_OUT_RANGE;
        }
        let Some(stream) = self.stream.as_ref() else {
            return STATE_PORT_NETWORK_RECV_FAILED;
        };
        let len = clamp_len(out.len());
        let out = &mut out[..len];
        let mut rx = lock(&self.rx);
        let mut got = rx.take(out);
        if got == len {
            return got as i32;
        }
        if rx.eof {
            return closed(got);
        }
        let total = Duration::from_millis(u64::from(timeout_ms));
        let start = Instant::now();
        let mut first = true;
        while got < len {
            // The first wait uses the caller's timeout unchanged so that the cached
            // SO_RCVTIMEO usually matches; later waits use what is left of it.
            let wait = if first {
                total
            } else {
                match total.checked_sub(start.elapsed()) {
                    Some(w) if !w.is_zero() => w,
                    _ => break,
                }
            };
            first = false;
            if rx.timeout != Some(wait) {
                if stream.set_read_timeout(Some(wait)).is_err() {
                    return STATE_PORT_NETWORK_RECV_FAILED;
                }
                rx.timeout = Some(wait);
            }
            if rx.quick_acks > 0 {
                rx.quick_acks -= 1;
                quick_ack(stream);
            }
            // rx is empty here: everything buffered was handed out above.
            let want = len - got;
            if want > rx.buf.len() && rx.buf.len() < RX_BUF {
                rx.buf = vec![0u8; RX_BUF].into_boxed_slice();
            }
            // A large read goes straight into the caller's memory, and what the kernel has
            // beyond it into the buffer (one readv): a TLS record body is not copied twice.
            let direct = want >= RX_DIRECT;
            let res = if direct {
                let RxState { buf, .. } = &mut *rx;
                let mut iov = [IoSliceMut::new(&mut out[got..]), IoSliceMut::new(&mut buf[..])];
                (&*stream).read_vectored(&mut iov)
            } else {
                (&*stream).read(&mut rx.buf[..])
            };
            match res {
                Ok(0) => {
                    rx.eof = true;
                    return closed(got);
                }
                Ok(n) if direct => {
                    got += n.min(want);
                    rx.pos = 0;
                    rx.end = n.saturating_sub(want);
                }
                Ok(n) => {
                    rx.pos = 0;
                    rx.end = n;
                    got += rx.take(&mut out[got..]);
                }
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    port_log!(
                        "_core_sysdep_network_recv, errno: {}\n",
                        e.raw_os_error().unwrap_or(0)
                    );
                    if got > 0 {
                        return got as i32;
                    }
                    return STATE_PORT_NETWORK_RECV_FAILED;
                }
            }
        }
        got as i32
    }

    fn send(&self, buf: &[u8], timeout_ms: u32) -> i32 {
        if buf.is_empty() || timeout_ms == 0 {
            return STATE_PORT_INPUT_OUT_RANGE;
        }
        let Some(stream) = self.stream.as_ref() else {
            return STATE_PORT_NETWORK_SEND_FAILED;
        };
        let buf = &buf[..clamp_len(buf.len())];
        let mut tx = lock(&self.tx);
        let total = Duration::from_millis(u64::from(timeout_ms));
        let start = Instant::now();
        let mut first = true;
        let mut sent = 0;
        while sent < buf.len() {
            let wait = if first {
                total
            } else {
                match total.checked_sub(start.elapsed()) {
                    Some(w) if !w.is_zero() => w,
                    _ => break,
                }
            };
            first = false;
            if tx.timeout != Some(wait) {
                if stream.set_write_timeout(Some(wait)).is_err() {
                    return STATE_PORT_NETWORK_SEND_FAILED;
                }
                tx.timeout = Some(wait);
            }
            // `write` (not `write_vectored`): send(2) with MSG_NOSIGNAL.
            match (&*stream).write(&buf[sent..]) {
                Ok(0) => {
                    port_log!("_core_sysdep_network_send, nwk connection closed\n");
                    return STATE_PORT_NETWORK_SEND_CONNECTION_CLOSED;
                }
                Ok(n) => sent += n,
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    port_log!(
                        "_core_sysdep_network_send, errno: {}\n",
                        e.raw_os_error().unwrap_or(0)
                    );
                    return match e.kind() {
                        ErrorKind::BrokenPipe
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::NotConnected => STATE_PORT_NETWORK_SEND_CONNECTION_CLOSED,
                        _ => STATE_PORT_NETWORK_SEND_FAILED,
                    };
                }
            }
        }
        sent as i32
    }
}

/// Peer closed: bytes read so far are returned first, the close code on the next call.
fn closed(got: usize) -> i32 {
    if got > 0 {
        return got as i32;
    }
    port_log!("_core_sysdep_network_recv, nwk connection closed\n");
    STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED
}

impl Drop for PosixNetwork {
    /// `network_deinit`: shut the socket down both ways and close it.
    fn drop(&mut self) {
        if let Some(s) = self.stream.take() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::thread;

    /// A connected client handle and the server side of the same connection.
    fn pair() -> (PosixNetwork, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut net = PosixNetwork::new();
        assert_eq!(net.setopt(NetOption::SocketType(SocketType::TcpClient)), 0);
        assert_eq!(net.setopt(NetOption::Host("127.0.0.1")), 0);
        assert_eq!(net.setopt(NetOption::BackupIp("")), 0);
        assert_eq!(net.setopt(NetOption::Port(port)), 0);
        assert_eq!(net.setopt(NetOption::ConnectTimeoutMs(2000)), 0);
        assert_eq!(net.establish(), 0);
        let (server, _) = listener.accept().unwrap();
        (net, server)
    }

    #[test]
    fn time_and_rand() {
        let p = PosixPort;
        assert!(p.time_ms() > 1_600_000_000_000);
        let mut a = [0u8; 37];
        let mut b = [0u8; 37];
        p.rand(&mut a);
        p.rand(&mut b);
        assert_ne!(a, b);
        assert!(a.iter().any(|&x| x != 0));
        p.rand(&mut []);
    }

    #[test]
    fn connections_do_not_wait_for_nagle() {
        // Small writes (a TLS ClientHello, an MQTT PINGREQ) leave at once.
        let (net, _server) = pair();
        assert!(net.stream.as_ref().unwrap().nodelay().unwrap());
    }

    /// Whether the kernel would acknowledge incoming data at once (`TCP_QUICKACK` reads back
    /// as "not in delayed-ACK mode").
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn acks_at_once(net: &PosixNetwork) -> bool {
        socket2::SockRef::from(net.stream.as_ref().unwrap())
            .tcp_quickack()
            .unwrap()
    }

    #[test]
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn opening_reads_ack_at_once() {
        // Answering a peer at once puts the connection in delayed-ACK ("pingpong") mode. Each
        // read of the opening exchange arms quick ACKs again, so a TLS server that holds its
        // CONNACK behind unacknowledged session tickets (Nagle) is not kept waiting ~40 ms.
        let (net, mut server) = pair();
        let mut one = [0u8; 1];
        for _ in 0..OPENING_READS {
            server.write_all(b"s").unwrap();
            assert_eq!(net.recv(&mut one, 2000), 1);
            assert!(acks_at_once(&net), "an opening read arms quick ACKs");
            assert_eq!(net.send(b"c", 2000), 1);
            server.read_exact(&mut one).unwrap();
        }
    }

    #[test]
    fn large_read_keeps_what_follows_in_the_buffer() {
        // A read of RX_DIRECT or more goes to the caller's memory; the bytes the kernel had
        // after it (here: all of them were there) are served by the next reads, in order.
        let (net, mut server) = pair();
        let data: Vec<u8> = (0..3 * RX_DIRECT as u32).map(|i| (i % 253) as u8).collect();
        server.write_all(&data).unwrap();
        thread::sleep(Duration::from_millis(50));
        let mut first = vec![0u8; RX_DIRECT + 7];
        assert_eq!(net.recv(&mut first, 2000), first.len() as i32);
        let mut rest = vec![0u8; data.len() - first.len()];
        assert_eq!(net.recv(&mut rest[..3], 2000), 3);
        assert_eq!(net.recv(&mut rest[3..], 2000), (rest.len() - 3) as i32);
        assert_eq!([first, rest].concat(), data);
    }

    #[test]
    fn recv_fills_the_buffer() {
        let (net, mut server) = pair();
        server.write_all(b"0123456789").unwrap();
        let mut buf = [0u8; 10];
        assert_eq!(net.recv(&mut buf, 2000), 10);
        assert_eq!(&buf, b"0123456789");
    }

    #[test]
    fn small_then_bulk_reads_keep_the_byte_order() {
        let (net, mut server) = pair();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let t = thread::spawn(move || server.write_all(&sent).unwrap());
        // Small reads while the buffer is small, then reads larger than it (it grows), then
        // reads larger than the grown buffer (straight into the caller's memory).
        let mut got = Vec::new();
        for want in [5usize, 3000, 5, 16_401, 70_000, 1, 100_000] {
            let mut buf = vec![0u8; want];
            assert_eq!(net.recv(&mut buf, 2000), want as i32);
            got.extend_from_slice(&buf);
        }
        let mut rest = vec![0u8; data.len() - got.len()];
        assert_eq!(net.recv(&mut rest, 2000), rest.len() as i32);
        got.extend_from_slice(&rest);
        assert!(got == data);
        t.join().unwrap();
    }

    #[test]
    fn recv_waits_for_later_bytes() {
        let (net, mut server) = pair();
        let t = thread::spawn(move || {
            server.write_all(b"ab").unwrap();
            thread::sleep(Duration::from_millis(30));
            server.write_all(b"cd").unwrap();
            server
        });
        let mut buf = [0u8; 4];
        assert_eq!(net.recv(&mut buf, 5000), 4);
        assert_eq!(&buf, b"abcd");
        drop(t.join().unwrap());
    }

    #[test]
    fn small_reads_are_served_from_the_buffer() {
        let (net, mut server) = pair();
        server.write_all(b"\x30\x05abcde").unwrap();
        let mut one = [0u8; 1];
        assert_eq!(net.recv(&mut one, 1000), 1);
        assert_eq!(one[0], 0x30);
        assert_eq!(net.recv(&mut one, 1000), 1);
        assert_eq!(one[0], 5);
        let mut two = [0u8; 2];
        assert_eq!(net.recv(&mut two, 1000), 2);
        assert_eq!(&two, b"ab");
        let mut rest = [0u8; 3];
        assert_eq!(net.recv(&mut rest, 1000), 3);
        assert_eq!(&rest, b"cde");
    }

    #[test]
    fn recv_is_short_on_timeout() {
        let (net, mut server) = pair();
        server.write_all(b"abc").unwrap();
        let mut buf = [0u8; 10];
        let t0 = Instant::now();
        assert_eq!(net.recv(&mut buf, 100), 3);
        let spent = t0.elapsed();
        assert!(spent >= Duration::from_millis(90), "{spent:?}");
        assert!(spent < Duration::from_millis(1000), "{spent:?}");
        assert_eq!(&buf[..3], b"abc");
    }

    #[test]
    fn recv_returns_zero_on_timeout_with_nothing() {
        let (net, _server) = pair();
        let mut buf = [0u8; 4];
        let t0 = Instant::now();
        assert_eq!(net.recv(&mut buf, 50), 0);
        assert!(t0.elapsed() < Duration::from_millis(1000));
    }

    #[test]
    fn peer_close_returns_partial_then_close_code() {
        let (net, mut server) = pair();
        server.write_all(b"xy").unwrap();
        drop(server);
        let mut buf = [0u8; 10];
        assert_eq!(net.recv(&mut buf, 2000), 2);
        assert_eq!(&buf[..2], b"xy");
        assert_eq!(
            net.recv(&mut buf, 2000),
            STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED
        );
        assert_eq!(
            net.recv(&mut buf, 2000),
            STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED
        );
    }

    #[test]
    fn zero_length_or_timeout_is_out_of_range() {
        let (net, _server) = pair();
        let mut buf = [0u8; 4];
        assert_eq!(net.recv(&mut [], 100), STATE_PORT_INPUT_OUT_RANGE);
        assert_eq!(net.recv(&mut buf, 0), STATE_PORT_INPUT_OUT_RANGE);
        assert_eq!(net.send(&[], 100), STATE_PORT_INPUT_OUT_RANGE);
        assert_eq!(net.send(b"a", 0), STATE_PORT_INPUT_OUT_RANGE);
    }

    #[test]
    fn large_recv_and_send_roundtrip() {
        let (net, server) = pair();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let expect = data.clone();
        // Echo server.
        let t = thread::spawn(move || {
            let mut s = server;
            let mut buf = vec![0u8; expect.len()];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
            buf == expect
        });
        assert_eq!(net.send(&data, 5000), data.len() as i32);
        let mut back = vec![0u8; data.len()];
        assert_eq!(net.recv(&mut back, 5000), data.len() as i32);
        assert_eq!(back, data);
        assert!(t.join().unwrap());
    }

    #[test]
    fn concurrent_recv_and_send() {
        let (net, server) = pair();
        let net = Arc::new(net);
        let echo = thread::spawn(move || {
            let mut s = server;
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => s.write_all(&buf[..n]).unwrap(),
                }
            }
        });
        let reader = {
            let net = Arc::clone(&net);
            thread::spawn(move || {
                let mut got = vec![0u8; 1000 * 8];
                let mut off = 0;
                while off < got.len() {
                    let n = net.recv(&mut got[off..off + 8], 5000);
                    assert_eq!(n, 8);
                    off += 8;
                }
                got
            })
        };
        let mut sent = Vec::new();
        for i in 0..1000u64 {
            let b = i.to_le_bytes();
            assert_eq!(net.send(&b, 5000), 8);
            sent.extend_from_slice(&b);
        }
        assert_eq!(reader.join().unwrap(), sent);
        drop(net);
        echo.join().unwrap();
    }

    #[test]
    fn send_to_closed_peer_fails_without_sigpipe() {
        let (net, server) = pair();
        drop(server);
        thread::sleep(Duration::from_millis(20));
        let chunk = [0u8; 65536];
        let mut code = 0;
        for _ in 0..100 {
            code = net.send(&chunk, 1000);
            if code < 0 {
                break;
            }
        }
        assert!(
            code == STATE_PORT_NETWORK_SEND_CONNECTION_CLOSED || code == STATE_PORT_NETWORK_SEND_FAILED,
            "{code}"
        );
    }

    #[test]
    fn connect_refused() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut net = PosixNetwork::new();
        net.setopt(NetOption::Host("127.0.0.1"));
        net.setopt(NetOption::Port(port));
        net.setopt(NetOption::ConnectTimeoutMs(2000));
        assert_eq!(net.establish(), STATE_PORT_NETWORK_CONNECT_FAILED);
        let mut buf = [0u8; 1];
        assert_eq!(net.recv(&mut buf, 10), STATE_PORT_NETWORK_RECV_FAILED);
        assert_eq!(net.send(b"x", 10), STATE_PORT_NETWORK_SEND_FAILED);
    }

    #[test]
    fn dns_failure() {
        // A name the resolver rejects without asking a DNS server (embedded NUL).
        let mut net = PosixNetwork::new();
        net.setopt(NetOption::Host("bad\0host"));
        net.setopt(NetOption::Port(1883));
        assert_eq!(net.establish(), STATE_PORT_NETWORK_DNS_FAILED);
    }

    #[test]
    fn missing_host() {
        let mut net = PosixNetwork::new();
        net.setopt(NetOption::Port(1883));
        assert_eq!(net.establish(), STATE_PORT_MISSING_HOST);
    }

    #[test]
    fn the_backup_ip_is_used_only_when_the_host_does_not_resolve() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut net = PosixNetwork::new();
        assert_eq!(net.setopt(NetOption::Host("no-such-host.invalid")), 0);
        assert_eq!(net.setopt(NetOption::Port(port)), 0);
        assert_eq!(net.establish(), STATE_PORT_NETWORK_DNS_FAILED);
        assert_eq!(net.setopt(NetOption::BackupIp("127.0.0.1")), 0);
        assert_eq!(net.establish(), 0);
        let _ = listener.accept().unwrap();
        // A host that resolves is connected to even with a backup IP (one that would fail).
        let mut net = PosixNetwork::new();
        assert_eq!(net.setopt(NetOption::Host("127.0.0.1")), 0);
        assert_eq!(net.setopt(NetOption::BackupIp("192.0.2.1")), 0);
        assert_eq!(net.setopt(NetOption::Port(port)), 0);
        assert_eq!(net.establish(), 0);
    }
}
