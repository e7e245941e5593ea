//! One established connection over the active port: plain TCP, or TLS (rustls) on top of the
//! port's byte stream. This is upstream's "adapter" layer (`core_adapter.c`).
//!
//! The MQTT session and the HTTP download use [`Connection`] only; they never see whether the
//! bytes are encrypted, except through [`Connection::is_tls`].

mod crypto;
mod record_layer;
mod tls;
mod upstream_log;

#[cfg(test)]
mod clock_tests;

use std::sync::Mutex;

use crate::error::Error;
use crate::log;
use crate::state::*;
use crate::sysdep::{Credential, NetOption, Port, PortNetwork, SocketType};

/// Largest packet [`Connection::send_parts`] gathers into one write.
pub const COALESCE_LIMIT: usize = 1024;

/// Where to connect and how.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint<'a> {
    pub host: &'a str,
    pub port: u16,
    pub connect_timeout_ms: u32,
    /// TLS is used iff this is set and [`Credential::wants_tls`].
    pub cred: Option<&'a Credential>,
}

/// One connection: the port's network handle plus, for TLS, the session on top of it.
///
/// `recv` and `send` take `&self`: one thread may receive while others send. Writes are
/// serialised: one send lock is held around each whole write (every part of a packet), so
/// packets from different threads never interleave, even through a port whose `network_send`
/// writes in small pieces.
pub struct Connection {
    // Field order matters for Drop: the TLS session goes before the network handle.
    tls: Option<tls::TlsSession>,
    net: Box<dyn PortNetwork>,
    send_lock: Mutex<()>,
}

impl Connection {
    /// network_init, setopt in upstream order (SocketType TcpClient, Host, BackupIp "", Port,
    /// ConnectTimeoutMs, then Cred if set), establish, then the TLS handshake when
    /// `cred.wants_tls()`.
    ///
    /// A failed setopt gives the port's code, or `NetworkSetopt` (`NetworkCred` for the
    /// credential) when the code is not a port code.
    ///
    /// Once the port has given a handle, every failure closes it again through `Drop`, which
    /// logs `adapter_network_deinit` as upstream's core does when it deinits a failed handle.
    pub fn open(port: &dyn Port, ep: &Endpoint) -> Result<Connection, Error> {
        Self::open_with_backup_ip(port, ep, "")
    }

    /// [`Connection::open`] with a backup IP for the port (the MQTT session passes the
    /// process-wide one, `mqtt::backup_ip`; the port uses it when resolving the host fails).
    pub fn open_with_backup_ip(port: &dyn Port, ep: &Endpoint, backup_ip: &str) -> Result<Connection, Error> {
        let net = port.network().ok_or(Error::ResourceFailed)?;
        let mut conn = Connection {
            tls: None,
            net,
            send_lock: Mutex::new(()),
        };
        let mut setopt = |opt: NetOption<'_>, fallback: Error| -> Result<(), Error> {
            let r = conn.net.setopt(opt);
            if r < 0 {
                Err(Error::from_port(r, fallback))
            } else {
                Ok(())
            }
        };
        let generic = Error::NetworkSetopt;
        setopt(NetOption::SocketType(SocketType::TcpClient), generic)?;
        setopt(NetOption::Host(ep.host), generic)?;
        setopt(NetOption::BackupIp(backup_ip), generic)?;
        setopt(NetOption::Port(ep.port), generic)?;
        setopt(NetOption::ConnectTimeoutMs(ep.connect_timeout_ms), generic)?;
        if let Some(cred) = ep.cred {
            setopt(NetOption::Cred(cred), Error::NetworkCred)?;
        }
        let r = conn.net.establish();
        if r < 0 {
            return Err(Error::from_port(r, Error::NetworkEstablish));
        }
        if let Some(cred) = ep.cred.filter(|c| c.wants_tls()) {
            let Some(clock) = port.shared() else {
                log::line(STATE_ADAPTER_COMMON, "tls needs a port that gives its clock\r\n");
                return Err(Error::ResourceFailed);
            };
            let session = tls::TlsSession::handshake(conn.net.as_ref(), clock, ep, cred)?;
            conn.tls = Some(session);
        }
        Ok(conn)
    }

    /// Whether the bytes are encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Same contract as `PortNetwork::recv`: block until `buf` is full or the timeout; `Ok(n)`
    /// with `n < len` only on timeout, `Ok(0)` on a timeout with nothing; `Err` on error/close.
    pub fn recv(&self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, Error> {
        match &self.tls {
            Some(t) => t.recv(self.net.as_ref(), buf, timeout_ms),
            None => {
                let r = self.net.recv(buf, timeout_ms);
                if r < 0 {
                    Err(Error::from_port(r, Error::RecvFailed))
                } else {
                    Ok((r as usize).min(buf.len()))
                }
            }
        }
    }

    /// For bulk receiving (a download once its response header is read): a TLS session (AES-GCM,
    /// 1.3 or 1.2) opens its records in place from now on instead of through rustls, saving two
    /// copies and an allocation per record. The connection then receives and closes but sends
    /// nothing more. Plain TCP is left as it is. Returns whether records are ours (never
    /// without the OTA component).
    pub fn take_over_records(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.take_over_records())
    }

    /// Writes all of `buf`; `Ok(n)` with `n < len` means the timeout hit (upstream:
    /// WRITE_LESSDATA, the socket is kept).
    pub fn send(&self, buf: &[u8], timeout_ms: u32) -> Result<usize, Error> {
        let _writing = self.send_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.send_unlocked(buf, timeout_ms)
    }

    /// Writes the parts of one packet in order under one hold of the send lock; same result
    /// contract as [`Connection::send`] for their total. Parts up to [`COALESCE_LIMIT`] bytes
    /// in all are gathered into one write on the stack (a copy that costs less than a second
    /// port call); bigger packets go out part by part, unchanged.
    pub fn send_parts(&self, parts: &[&[u8]], timeout_ms: u32) -> Result<usize, Error> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let _writing = self.send_lock.lock().unwrap_or_else(|e| e.into_inner());
        if parts.len() > 1 && total <= COALESCE_LIMIT {
            let mut joined = [0u8; COALESCE_LIMIT];
            let mut at = 0;
            for p in parts {
                joined[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            return self.send_unlocked(&joined[..total], timeout_ms);
        }
        let mut sent = 0;
        for part in parts.iter().filter(|p| !p.is_empty()) {
            let n = self.send_unlocked(part, timeout_ms)?;
            sent += n;
            if n < part.len() {
                break;
            }
        }
        Ok(sent)
    }

    fn send_unlocked(&self, buf: &[u8], timeout_ms: u32) -> Result<usize, Error> {
        match &self.tls {
            Some(t) => t.send(self.net.as_ref(), buf, timeout_ms),
            None => {
                let r = self.net.send(buf, timeout_ms);
                if r < 0 {
                    Err(Error::from_port(r, Error::SendFailed))
                } else {
                    Ok((r as usize).min(buf.len()))
                }
            }
        }
    }
}

impl Drop for Connection {
    /// Upstream order: TLS close_notify, the `adapter_network_deinit` line, then the port's
    /// `network_deinit` (dropping `net` after this body).
    fn drop(&mut self) {
        if let Some(t) = self.tls.take() {
            t.close(self.net.as_ref());
        }
        log::line(STATE_ADAPTER_COMMON, "adapter_network_deinit\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysdep::posix::PosixPort;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::thread;

    /// A port whose `network_init` fails.
    struct NoNetwork;
    impl Port for NoNetwork {
        fn time_ms(&self) -> u64 {
            0
        }
        fn sleep_ms(&self, _ms: u64) {}
        fn rand(&self, _buf: &mut [u8]) {}
        fn network(&self) -> Option<Box<dyn PortNetwork>> {
            None
        }
    }

    fn ep(host: &str, port: u16) -> Endpoint<'_> {
        Endpoint {
            host,
            port,
            connect_timeout_ms: 2000,
            cred: None,
        }
    }

    #[test]
    fn no_network_is_resource_failed() {
        assert_eq!(
            Connection::open(&NoNetwork, &ep("127.0.0.1", 1)).err(),
            Some(Error::ResourceFailed)
        );
    }

    #[test]
    fn refused_passes_the_port_code() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = Connection::open(&PosixPort, &ep("127.0.0.1", port)).err();
        assert_eq!(e, Some(Error::Port(STATE_PORT_NETWORK_CONNECT_FAILED)));
    }

    #[test]
    fn tcp_roundtrip_and_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
        });
        let conn = Connection::open(&PosixPort, &ep("127.0.0.1", port)).unwrap();
        assert!(!conn.is_tls());
        assert_eq!(conn.send(b"hello", 1000), Ok(5));
        let mut buf = [0u8; 5];
        assert_eq!(conn.recv(&mut buf, 2000), Ok(5));
        assert_eq!(&buf, b"hello");
        server.join().unwrap();
        assert_eq!(
            conn.recv(&mut buf, 2000),
            Err(Error::Port(STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED))
        );
        let conn = Arc::new(conn);
        assert!(Arc::strong_count(&conn) == 1);
    }
}
