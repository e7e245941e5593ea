//! TLS deadlines follow the port's clock, not the system's. Through a port whose clock moves
//! a fixed step on every receive (a slow link on the port's time, a fast one in real time), a
//! handshake and a receive end when the port's time says their deadline has passed, although
//! little real time went by and the server's bytes are all there.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use rustls_pki_types::pem::PemObject;

use super::{Connection, Endpoint};
use crate::error::Error;
use crate::state::*;
use crate::sysdep::posix::PosixPort;
use crate::sysdep::{NetOption, Port, PortNetwork};
use aiot_platform::pki::TestPki;

use super::tls::tests::ca_cred;

/// Upper bound on how long a server thread keeps its socket open.
const SERVER_HOLD: Duration = Duration::from_secs(20);

/// The port's clock: it moves only by `step_ms` after every receive.
#[derive(Default)]
struct StepClock {
    now_ms: AtomicU64,
    step_ms: AtomicU64,
}

/// Our POSIX networking with a [`StepClock`].
#[derive(Clone, Default)]
struct StepPort {
    clock: Arc<StepClock>,
}

impl StepPort {
    fn with_step(step_ms: u64) -> Self {
        let port = StepPort::default();
        port.set_step(step_ms);
        port
    }
    fn set_step(&self, step_ms: u64) {
        self.clock.step_ms.store(step_ms, Ordering::SeqCst);
    }
    fn now(&self) -> u64 {
        self.clock.now_ms.load(Ordering::SeqCst)
    }
}

impl Port for StepPort {
    fn time_ms(&self) -> u64 {
        self.now()
    }
    fn sleep_ms(&self, ms: u64) {
        self.clock.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
    fn rand(&self, buf: &mut [u8]) {
        PosixPort.rand(buf)
    }
    fn network(&self) -> Option<Box<dyn PortNetwork>> {
        Some(Box::new(StepNetwork {
            inner: PosixPort.network()?,
            clock: self.clock.clone(),
        }))
    }
    fn shared(&self) -> Option<Arc<dyn Port>> {
        Some(Arc::new(self.clone()))
    }
}

struct StepNetwork {
    inner: Box<dyn PortNetwork>,
    clock: Arc<StepClock>,
}

impl PortNetwork for StepNetwork {
    fn setopt(&mut self, option: NetOption<'_>) -> i32 {
        self.inner.setopt(option)
    }
    fn establish(&mut self) -> i32 {
        self.inner.establish()
    }
    fn recv(&self, buf: &mut [u8], timeout_ms: u32) -> i32 {
        let got = self.inner.recv(buf, timeout_ms);
        let step = self.clock.step_ms.load(Ordering::SeqCst);
        self.clock.now_ms.fetch_add(step, Ordering::SeqCst);
        got
    }
    fn send(&self, buf: &[u8], timeout_ms: u32) -> i32 {
        self.inner.send(buf, timeout_ms)
    }
}

fn server_config() -> Arc<ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(TestPki::shared().server.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(TestPki::shared().server.key.as_bytes()).unwrap();
    let cfg = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(cfg)
}

/// A one-connection server: `tls` completes a handshake first; then `serve` runs, and the
/// socket stays open until the test drops the returned sender (or `SERVER_HOLD` passes).
fn server(
    tls: bool,
    serve: impl FnOnce(&mut dyn Write) + Send + 'static,
) -> (u16, mpsc::Sender<()>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (done, wait) = mpsc::channel::<()>();
    let h = thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if tls {
            let mut s = StreamOwned::new(ServerConnection::new(server_config()).unwrap(), sock);
            while s.conn.is_handshaking() {
                if s.conn.complete_io(&mut s.sock).is_err() {
                    return;
                }
            }
            serve(&mut s);
            hold(&wait, s.sock);
        } else {
            let mut s = sock;
            serve(&mut s);
            hold(&wait, s);
        }
    });
    (port, done, h)
}

fn hold(wait: &Receiver<()>, _sock: TcpStream) {
    let _ = wait.recv_timeout(SERVER_HOLD);
}

fn open(port: &StepPort, tcp_port: u16, connect_timeout_ms: u32) -> Result<Connection, Error> {
    let cred = ca_cred(&TestPki::shared().ca.cert);
    let ep = Endpoint {
        host: "localhost",
        port: tcp_port,
        connect_timeout_ms,
        cred: Some(&cred),
    };
    Connection::open(port, &ep)
}

/// The server's flight needs at least two records, four receives: at 1 s of port time per
/// receive, a 2.5 s handshake deadline passes first. With the port's clock standing still the
/// same handshake succeeds.
#[test]
fn handshake_deadline_reads_the_port_clock() {
    let (tcp_port, done, srv) = server(true, |_| {});
    let still = StepPort::with_step(0);
    let conn = open(&still, tcp_port, 2_500);
    assert!(conn.as_ref().is_ok_and(|c| c.is_tls()), "{:?}", conn.err());
    drop(conn);
    drop(done);
    srv.join().unwrap();

    let (tcp_port, done, srv) = server(true, |_| {});
    let slow = StepPort::with_step(1_000);
    let r = open(&slow, tcp_port, 2_500);
    assert_eq!(r.err(), Some(Error::Port(STATE_PORT_TLS_INVALID_HANDSHAKE)));
    assert!(slow.now() >= 2_500, "port clock at {} ms", slow.now());
    drop(done);
    srv.join().unwrap();
}

/// Eight one-byte records are all there, but at 400 ms of port time per receive a 1 s receive
/// deadline passes after at most two of them: the receive returns what it has.
#[test]
fn recv_deadline_reads_the_port_clock() {
    let (tcp_port, done, srv) = server(true, |w| {
        for b in b"abcdefgh" {
            w.write_all(&[*b]).and_then(|_| w.flush()).unwrap();
        }
    });
    let port = StepPort::with_step(0);
    let conn = open(&port, tcp_port, 10_000).unwrap();
    // The server's records are all on their way before the port's clock starts moving.
    thread::sleep(Duration::from_millis(200));
    port.set_step(400);
    let mut buf = [0u8; 8];
    let got = conn.recv(&mut buf, 1_000).unwrap();
    assert!(
        got < 2,
        "{got} bytes received in 1 s of port time at 400 ms per receive"
    );
    assert!(port.now() >= 1_000, "port clock at {} ms", port.now());
    port.set_step(0);
    let mut rest = [0u8; 8];
    let more = conn.recv(&mut rest[..8 - got], 5_000).unwrap();
    assert_eq!(got + more, 8, "the remaining bytes still arrive");
    drop(conn);
    drop(done);
    srv.join().unwrap();
}
