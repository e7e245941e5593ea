//! TLS over the port's byte stream with rustls (ring provider), replacing upstream's mbedTLS
//! adapter.
//!
//! Differences from upstream, on purpose:
//! * TLS 1.3 and 1.2 with AES-GCM suites and P-256/P-384 key exchange (see `crypto.rs`);
//!   upstream's bundled mbedTLS offers TLS 1.2 only.
//! * When the host is an IP literal the server certificate must carry that IP in its subject
//!   alternative names (`ServerName::IpAddress`). Upstream skips the name check for dotted
//!   IPv4 hosts; we are stricter. For DNS names SNI is sent and the name is verified, like
//!   upstream (which also ignores `sni_enabled`).
//! * PSK credentials are not supported (rustls has no TLS 1.2 PSK suites):
//!   `STATE_PORT_TLS_CONFIG_PSK_FAILED`.
//! * `max_tls_fragment` only limits the records we send (rustls does not negotiate the max
//!   fragment length extension).
//!
//! Reading: the port's `recv` blocks until the asked length, so records are read exactly: the
//! 5-byte header, then the body length it announces. Each record is fed to rustls and the
//! plaintext is served from rustls' reader; leftover plaintext stays there for the next call.
//! A record cut short by a timeout is kept and completed by the next call.
//!
//! Bulk receive: after [`TlsSession::take_over_records`] (a download, once its response header
//! is read) an AES-GCM session, TLS 1.3 or 1.2, opens records itself, in place
//! (`record_layer.rs`), instead of through rustls' three copies per record.
//!
//! Threading: one thread may be in `recv` while others `send`. The rustls connection sits in
//! a mutex that is held only to feed a record, copy plaintext out or encrypt; never while the
//! port blocks.

use crate::sync::lock;
use std::io::{ErrorKind, Read, Write};
use std::sync::{Arc, Mutex};
// The tests time their calls with the system clock; the session's deadlines read the port's.
#[cfg(test)]
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ProtocolVersion, RootCertStore};
use rustls_pki_types::pem::PemObject;

use super::record_layer::{Opened, RecordError as OpenError, RecordKeys, Version, HEADER_LEN};
use super::{upstream_log, Endpoint};
use crate::error::Error;
use crate::log;
use crate::state::*;
use crate::sysdep::{Credential, Port, PortNetwork, CRED_SVRCERT_CA, CRED_SVRCERT_PSK};

/// Largest record body TLS allows (2^14 plaintext + 2048 expansion, TLS 1.2 ciphertext).
const MAX_BODY_LEN: usize = 16384 + 2048;
/// Record body room a session starts with (MQTT packets and most handshake records fit).
const RECORD_START_LEN: usize = 4096;
/// Only a download takes records over (`take_over_records`); without the OTA component this
/// constant lets the compiler drop the record layer from the MQTT core.
const TAKEOVER: bool = cfg!(feature = "ota");
/// Time given to the close_notify alert when the connection is dropped.
const CLOSE_TIMEOUT_MS: u32 = 100;
/// Handshake deadline when the endpoint gives no connect timeout.
const DEFAULT_HANDSHAKE_MS: u32 = 10_000;
/// A send buffer grown larger than this by a big payload is given back afterwards.
const TX_KEEP_CAPACITY: usize = 256 * 1024;
/// Distinct credentials whose client config (and session cache) is kept.
const CONFIG_CACHE_LEN: usize = 8;
/// Servers per credential whose TLS sessions are kept for resumption.
const SESSION_CACHE_LEN: usize = 4;

/// Logs an adapter line (`LK-1000`), formatting only when a sink is set.
macro_rules! adapter_log {
    ($($arg:tt)*) => {
        if log::enabled() {
            log::line(STATE_ADAPTER_COMMON, &format!($($arg)*));
        }
    };
}

/// A point in time on the port's clock (`time_ms`), as upstream's adapter times its sends.
#[derive(Clone, Copy)]
struct Deadline<'a> {
    clock: &'a dyn Port,
    at_ms: u64,
}

impl<'a> Deadline<'a> {
    fn after(clock: &'a dyn Port, ms: u32) -> Self {
        Deadline {
            clock,
            at_ms: clock.time_ms().saturating_add(u64::from(ms)),
        }
    }

    /// Milliseconds left; `None` once the deadline has passed.
    fn remaining_ms(&self) -> Option<u32> {
        let left = self
            .at_ms
            .checked_sub(self.clock.time_ms())
            .filter(|&ms| ms > 0)?;
        Some(u32::try_from(left).unwrap_or(u32::MAX))
    }
}

// ---------------------------------------------------------------------------------------------
// Client configuration
// ---------------------------------------------------------------------------------------------

/// PEM text as the C side hands it over may end in NUL bytes (upstream parses `len + 1`).
fn trim_nul(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    &b[..end]
}

fn parse_certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    // Stop at the first malformed section: the iterator does not advance past an error.
    CertificateDer::pem_slice_iter(trim_nul(pem))
        .map_while(Result::ok)
        .collect()
}

/// Plaintext bytes per record for `max_tls_fragment`, with upstream's thresholds.
fn fragment_size(max_tls_fragment: u32) -> Option<usize> {
    let plain = match max_tls_fragment {
        0 => return None,
        1..=512 => 512,
        513..=1024 => 1024,
        1025..=2048 => 2048,
        2049..=4096 => 4096,
        _ => return None,
    };
    // rustls counts the 5-byte record header in max_fragment_size.
    Some(plain + HEADER_LEN)
}

/// Checks the credential like upstream's `_tls_network_establish` and builds (or reuses) the
/// rustls client config. Reusing it per credential also keeps rustls' session cache, so a
/// reconnect or the next download request can resume the session.
fn client_config(cred: &Credential) -> Result<Arc<ClientConfig>, Error> {
    if cred.max_tls_fragment == 0 {
        adapter_log!("invalid max_tls_fragment parameter\r\n");
        return Err(Error::Port(STATE_PORT_TLS_INVALID_MAX_FRAGMENT));
    }
    match cred.option {
        CRED_SVRCERT_CA => {}
        CRED_SVRCERT_PSK => {
            adapter_log!("PSK credentials are not supported by this TLS stack, use a CA certificate\r\n");
            return Err(Error::Port(STATE_PORT_TLS_CONFIG_PSK_FAILED));
        }
        _ => {
            adapter_log!("unsupported security option\r\n");
            return Err(Error::Port(STATE_PORT_TLS_INVALID_CRED_OPTION));
        }
    }

    static CACHE: Mutex<Vec<(Credential, Arc<ClientConfig>)>> = Mutex::new(Vec::new());
    if let Some((_, cfg)) = lock(&CACHE).iter().find(|(c, _)| c == cred) {
        return Ok(Arc::clone(cfg));
    }
    let cfg = Arc::new(build_config(cred)?);
    let mut cache = lock(&CACHE);
    if cache.len() >= CONFIG_CACHE_LEN {
        cache.remove(0);
    }
    cache.push((cred.clone(), Arc::clone(&cfg)));
    Ok(cfg)
}

fn build_config(cred: &Credential) -> Result<ClientConfig, Error> {
    let ca = trim_nul(cred.server_ca.as_deref().unwrap_or_default());
    if ca.is_empty() {
        adapter_log!("invalid x509 server cert\r\n");
        return Err(Error::Port(STATE_PORT_TLS_INVALID_SERVER_CERT));
    }
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(parse_certs(ca));
    if added == 0 {
        adapter_log!("x509 server cert parse error: no usable certificate\r\n");
        return Err(Error::Port(STATE_PORT_TLS_INVALID_SERVER_CERT));
    }

    let builder = ClientConfig::builder_with_provider(super::crypto::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            adapter_log!("tls config error: {e}\r\n");
            Error::Port(STATE_PORT_TLS_INVALID_HANDSHAKE)
        })?
        .with_root_certificates(roots);

    // A client certificate is used only when both it and its key are given (as upstream).
    let client_cert = cred.client_cert.as_deref().map(trim_nul).unwrap_or_default();
    let client_key = cred.client_key.as_deref().map(trim_nul).unwrap_or_default();
    let mut config = if !client_cert.is_empty() && !client_key.is_empty() {
        let chain = parse_certs(client_cert);
        if chain.is_empty() {
            adapter_log!("x509 client cert parse error\r\n");
            return Err(Error::Port(STATE_PORT_TLS_INVALID_CLIENT_CERT));
        }
        let key = PrivateKeyDer::from_pem_slice(client_key).map_err(|e| {
            adapter_log!("client private key parse error: {e}\r\n");
            Error::Port(STATE_PORT_TLS_INVALID_CLIENT_KEY)
        })?;
        builder.with_client_auth_cert(chain, key).map_err(|e| {
            adapter_log!("client cert/key error: {e}\r\n");
            match e {
                rustls::Error::InconsistentKeys(_) => Error::Port(STATE_PORT_TLS_INVALID_CLIENT_CERT),
                _ => Error::Port(STATE_PORT_TLS_INVALID_CLIENT_KEY),
            }
        })?
    } else {
        builder.with_no_client_auth()
    };
    config.max_fragment_size = fragment_size(cred.max_tls_fragment);
    // A device talks to one or two servers per credential: a few cached sessions suffice
    // (rustls' default table for 256 servers is 14 KB per credential).
    config.resumption = rustls::client::Resumption::in_memory_sessions(SESSION_CACHE_LEN);
    // Lets a download take over record decryption (`TlsSession::take_over_records`).
    config.enable_secret_extraction = true;
    Ok(config)
}

// ---------------------------------------------------------------------------------------------
// Record reading
// ---------------------------------------------------------------------------------------------

enum RecordError {
    /// The port returned a negative code (upstream's BIO reports any as one mbedTLS code).
    Port,
    /// The header is not a TLS record header (or announces an impossible length).
    Invalid,
}

/// Reads one TLS record exactly through the port, keeping a partial record across timeouts.
struct RecordReader {
    /// Starts small and grows to the largest record on the first record that needs it, so an
    /// MQTT session of small records does not touch 18 KB.
    buf: Vec<u8>,
    have: usize,
    need: usize,
    header_done: bool,
}

impl RecordReader {
    fn new() -> RecordReader {
        RecordReader {
            buf: vec![0u8; HEADER_LEN + RECORD_START_LEN],
            have: 0,
            need: HEADER_LEN,
            header_done: false,
        }
    }

    /// Receives into `buf[have..need]`. `Ok(false)`: the deadline passed first.
    fn fill(&mut self, net: &dyn PortNetwork, deadline: Deadline<'_>) -> Result<bool, RecordError> {
        self.fill_to(self.need, net, deadline)
    }

    /// Receives into `buf[have..end]` (`end` at most `need`). `Ok(false)`: the deadline passed.
    fn fill_to(
        &mut self,
        end: usize,
        net: &dyn PortNetwork,
        deadline: Deadline<'_>,
    ) -> Result<bool, RecordError> {
        let end = end.min(self.need);
        while self.have < end {
            let Some(ms) = deadline.remaining_ms() else {
                return Ok(false);
            };
            let want = end - self.have;
            let r = net.recv(&mut self.buf[self.have..end], ms);
            if r < 0 {
                return Err(RecordError::Port);
            }
            let n = (r as usize).min(want);
            self.have += n;
            if n < want {
                // Short only on timeout (port contract).
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Completes the header: `Ok(Some(body_len))`, or `Ok(None)` when the deadline passed.
    fn header(
        &mut self,
        net: &dyn PortNetwork,
        deadline: Deadline<'_>,
    ) -> Result<Option<usize>, RecordError> {
        if !self.header_done {
            if !self.fill(net, deadline)? {
                return Ok(None);
            }
            let h = &self.buf[..HEADER_LEN];
            let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
            if !(20..=24).contains(&h[0]) || h[1] != 3 || len > MAX_BODY_LEN {
                return Err(RecordError::Invalid);
            }
            self.header_done = true;
            self.need = HEADER_LEN + len;
            if self.buf.len() < self.need {
                self.buf.resize(HEADER_LEN + MAX_BODY_LEN, 0);
            }
        }
        Ok(Some(self.need - HEADER_LEN))
    }

    /// `Ok(Some(len))`: `buf[..len]` is one whole record (call [`Self::reset`] once it is
    /// used). `Ok(None)`: the deadline passed first.
    fn read(&mut self, net: &dyn PortNetwork, deadline: Deadline<'_>) -> Result<Option<usize>, RecordError> {
        if self.header(net, deadline)?.is_none() || !self.fill(net, deadline)? {
            return Ok(None);
        }
        Ok(Some(self.need))
    }

    /// Whether the header is read and at most `prefix` bytes of the body.
    fn within_prefix(&self, prefix: usize) -> bool {
        self.header_done && self.have <= HEADER_LEN + prefix
    }

    /// Once the header and the first `prefix` body bytes are in `buf`, receives the rest of the
    /// record into `out` (exactly its length) instead of `buf`. `Ok(true)`: `out` holds it (the
    /// header and prefix stay in `buf` until [`Self::reset`]). Otherwise what arrived moves
    /// into `buf`, where [`Self::read`] completes the record.
    fn read_body_into(
        &mut self,
        net: &dyn PortNetwork,
        deadline: Deadline<'_>,
        out: &mut [u8],
    ) -> Result<bool, RecordError> {
        debug_assert!(self.header_done && out.len() == self.need - self.have);
        let mut got = 0;
        let mut result = Ok(false);
        while got < out.len() {
            let Some(ms) = deadline.remaining_ms() else {
                break;
            };
            let want = out.len() - got;
            let r = net.recv(&mut out[got..], ms);
            if r < 0 {
                result = Err(RecordError::Port);
                break;
            }
            let n = (r as usize).min(want);
            got += n;
            if n < want {
                break;
            }
        }
        if got == out.len() {
            return Ok(true);
        }
        self.buf[self.have..self.have + got].copy_from_slice(&out[..got]);
        self.have += got;
        result
    }

    fn reset(&mut self) {
        self.have = 0;
        self.need = HEADER_LEN;
        self.header_done = false;
    }
}

/// Feeds one record to rustls and processes it.
fn feed(conn: &mut ClientConnection, record: &[u8]) -> Result<(), rustls::Error> {
    let mut rest = record;
    while !rest.is_empty() {
        match conn.read_tls(&mut rest) {
            // close_notify was already received: rustls takes nothing more.
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(rustls::Error::General(e.to_string())),
        }
        conn.process_new_packets()?;
    }
    Ok(())
}

/// As upstream's adapter: a malformed record is `STATE_PORT_TLS_INVALID_RECORD`; everything
/// else, a record that fails authentication included (mbedTLS `INVALID_MAC`), is
/// `STATE_PORT_TLS_RECV_FAILED`.
fn recv_error_code(e: &rustls::Error) -> i32 {
    match e {
        rustls::Error::InvalidMessage(_) => STATE_PORT_TLS_INVALID_RECORD,
        _ => STATE_PORT_TLS_RECV_FAILED,
    }
}

// ---------------------------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------------------------

impl OwnRecords {
    /// `TlsSession::recv` once the records are ours.
    fn recv(
        &mut self,
        reader: &mut RecordReader,
        net: &dyn PortNetwork,
        buf: &mut [u8],
        deadline: Deadline<'_>,
    ) -> Result<usize, Error> {
        let mut got = 0;
        loop {
            if self.carry_pos < self.carry.len() {
                let n = (self.carry.len() - self.carry_pos).min(buf.len() - got);
                buf[got..got + n].copy_from_slice(&self.carry[self.carry_pos..self.carry_pos + n]);
                self.carry_pos += n;
                got += n;
                if self.carry_pos == self.carry.len() {
                    self.carry = Vec::new();
                    self.carry_pos = 0;
                }
            }
            let n = self.plain.len().min(buf.len() - got);
            buf[got..got + n].copy_from_slice(&reader.buf[self.plain.start..self.plain.start + n]);
            self.plain.start += n;
            got += n;
            if got == buf.len() {
                return Ok(got);
            }
            if let Some((code, mbedtls)) = self.end {
                if got > 0 {
                    return Ok(got);
                }
                upstream_log::recv_failed(mbedtls);
                return Err(Error::Port(code));
            }
            let body_len = match reader.header(net, deadline) {
                Ok(Some(len)) => len,
                Ok(None) => return Ok(got),
                Err(e) => match self.reader_failed(e, got) {
                    Some(r) => return r,
                    None => continue,
                },
            };
            let x = self.keys.explicit_len();
            let opened = if reader.within_prefix(x) && body_len >= x && body_len - x <= buf.len() - got {
                // The ciphertext fits the caller's buffer: received and opened right there.
                match reader.fill_to(HEADER_LEN + x, net, deadline) {
                    Ok(true) => {}
                    Ok(false) => return Ok(got),
                    Err(e) => match self.reader_failed(e, got) {
                        Some(r) => return r,
                        None => continue,
                    },
                }
                let out = &mut buf[got..got + body_len - x];
                match reader.read_body_into(net, deadline, out) {
                    Ok(true) => {
                        let (header, explicit) = reader.buf[..HEADER_LEN + x].split_at(HEADER_LEN);
                        let opened = self.keys.open(header, explicit, out);
                        reader.reset();
                        if let Ok(Opened::Data(n)) = opened {
                            got += n;
                            continue;
                        }
                        opened
                    }
                    Ok(false) => return Ok(got),
                    Err(e) => match self.reader_failed(e, got) {
                        Some(r) => return r,
                        None => continue,
                    },
                }
            } else {
                match reader.read(net, deadline) {
                    Ok(Some(len)) => {
                        // The buffer keeps the plaintext until the next read; reset only
                        // rewinds.
                        let (header, rest) = reader.buf[..len].split_at_mut(HEADER_LEN);
                        let opened = match rest.len() >= x {
                            true => {
                                let (explicit, body) = rest.split_at_mut(x);
                                self.keys.open(header, explicit, body)
                            }
                            false => Err(OpenError::Invalid),
                        };
                        reader.reset();
                        if let Ok(Opened::Data(n)) = opened {
                            self.plain = HEADER_LEN + x..HEADER_LEN + x + n;
                            continue;
                        }
                        opened
                    }
                    Ok(None) => return Ok(got),
                    Err(e) => match self.reader_failed(e, got) {
                        Some(r) => return r,
                        None => continue,
                    },
                }
            };
            match opened {
                Ok(Opened::Data(_) | Opened::Skipped) => {}
                Ok(Opened::CloseNotify) => {
                    self.end = Some((
                        STATE_PORT_TLS_RECV_CONNECTION_CLOSED,
                        upstream_log::PEER_CLOSE_NOTIFY,
                    ));
                }
                Err(e) => self.end = Some(refusal(e)),
            }
        }
    }

    /// A failed record read: a bad header ends the stream (`None`: the caller goes on to
    /// report it); a port error is returned now (bytes already read first).
    fn reader_failed(&mut self, e: RecordError, got: usize) -> Option<Result<usize, Error>> {
        match e {
            RecordError::Invalid => {
                self.end = Some((STATE_PORT_TLS_INVALID_RECORD, upstream_log::INVALID_RECORD));
                None
            }
            RecordError::Port if got > 0 => Some(Ok(got)),
            RecordError::Port => {
                upstream_log::recv_failed(upstream_log::NET_RECV_FAILED);
                Some(Err(Error::Port(STATE_PORT_TLS_RECV_FAILED)))
            }
        }
    }
}

/// Port code and mbedTLS code for a record the record layer refused. As upstream, only a
/// malformed header is `STATE_PORT_TLS_INVALID_RECORD` (the reader catches those); a record
/// that fails authentication is a receive failure (mbedTLS `INVALID_MAC`).
fn refusal(e: OpenError) -> (i32, i32) {
    let mbedtls = match e {
        OpenError::Invalid => upstream_log::INVALID_MAC,
        OpenError::Alert(_) => upstream_log::FATAL_ALERT,
        OpenError::Unsupported(_) => upstream_log::UNEXPECTED_MESSAGE,
        OpenError::Exhausted => upstream_log::INTERNAL_ERROR,
    };
    (STATE_PORT_TLS_RECV_FAILED, mbedtls)
}

/// Send side: encrypted bytes, of which `sent` are already on the wire. A send that timed out
/// part way keeps the rest here and the next send finishes it first, so the record stream
/// stays intact.
struct TxState {
    out: Vec<u8>,
    sent: usize,
    /// Set once the records are ours (`take_over_records`): only close_notify is sent.
    keys: Option<RecordKeys>,
}

/// Sends `tx.out[tx.sent..]`. `Ok(true)` all sent, `Ok(false)` the deadline hit, `Err` the
/// port's negative code.
fn push(net: &dyn PortNetwork, tx: &mut TxState, deadline: Deadline<'_>) -> Result<bool, i32> {
    while tx.sent < tx.out.len() {
        let Some(ms) = deadline.remaining_ms() else {
            return Ok(false);
        };
        let want = tx.out.len() - tx.sent;
        let r = net.send(&tx.out[tx.sent..], ms);
        if r < 0 {
            return Err(r);
        }
        let n = (r as usize).min(want);
        tx.sent += n;
        if n < want {
            // The port's send is short only on timeout; do not loop past the caller's time.
            return Ok(false);
        }
    }
    Ok(true)
}

/// Receive side once the records are ours: plaintext waits in the reader's buffer.
struct OwnRecords {
    keys: RecordKeys,
    /// Plaintext rustls still held at the takeover, served first.
    carry: Vec<u8>,
    carry_pos: usize,
    /// Unread plaintext of the last record, in `RecordReader::buf`.
    plain: std::ops::Range<usize>,
    /// Sticky end of the stream: close_notify or a refused record (port code, mbedTLS code).
    end: Option<(i32, i32)>,
}

struct RxState {
    reader: RecordReader,
    own: Option<OwnRecords>,
}

/// Lock order: `rx`, then `tx`, then `conn`.
pub(super) struct TlsSession {
    /// `None` once the records are ours.
    conn: Mutex<Option<ClientConnection>>,
    rx: Mutex<RxState>,
    tx: Mutex<TxState>,
    /// The port the connection came from: every deadline reads its clock.
    clock: Arc<dyn Port>,
}

fn version_name(v: Option<ProtocolVersion>) -> String {
    match v {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_owned(),
    }
}

impl TlsSession {
    /// Runs the handshake synchronously over the established port handle. The connect timeout
    /// bounds the whole handshake, on the clock of `clock` (the port of `net`).
    pub(super) fn handshake(
        net: &dyn PortNetwork,
        clock: Arc<dyn Port>,
        ep: &Endpoint,
        cred: &Credential,
    ) -> Result<TlsSession, Error> {
        adapter_log!(
            "establish mbedtls connection with server(host='{}', port=[{}])\r\n",
            ep.host,
            ep.port
        );
        let config = client_config(cred)?;
        let setup_fail = |what: &dyn std::fmt::Display| {
            adapter_log!("tls handshake error: {what}\r\n");
            Error::Port(STATE_PORT_TLS_INVALID_HANDSHAKE)
        };
        // Failures on the wire: upstream's line with the mbedTLS code of the same failure.
        let fail = |mbedtls: i32, code: i32| {
            upstream_log::handshake_failed(mbedtls);
            Error::Port(code)
        };
        // An IP literal becomes ServerName::IpAddress: no SNI, verified against the IP SAN.
        let name = ServerName::try_from(ep.host)
            .map_err(|e| setup_fail(&e))?
            .to_owned();
        let mut conn = ClientConnection::new(config, name).map_err(|e| setup_fail(&e))?;

        let timeout = match ep.connect_timeout_ms {
            0 => DEFAULT_HANDSHAKE_MS,
            t => t,
        };
        let deadline = Deadline::after(clock.as_ref(), timeout);
        let mut reader = RecordReader::new();
        let mut tx = TxState {
            out: Vec::with_capacity(4096),
            sent: 0,
            keys: None,
        };
        loop {
            if conn.wants_write() {
                tx.out.clear();
                tx.sent = 0;
                while conn.wants_write() {
                    if let Err(e) = conn.write_tls(&mut tx.out) {
                        return Err(setup_fail(&e));
                    }
                }
                match push(net, &mut tx, deadline) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(fail(
                            upstream_log::NET_SEND_FAILED,
                            STATE_PORT_TLS_INVALID_HANDSHAKE,
                        ))
                    }
                    // Upstream's BIO hands the port's own code to mbedTLS, which returns it.
                    Err(code) => return Err(fail(code, STATE_PORT_TLS_INVALID_HANDSHAKE)),
                }
            }
            if !conn.is_handshaking() {
                break;
            }
            match reader.read(net, deadline) {
                Ok(Some(len)) => {
                    let r = feed(&mut conn, &reader.buf[..len]);
                    reader.reset();
                    if let Err(e) = r {
                        // Best effort: tell the server why (the alert rustls queued).
                        tx.out.clear();
                        tx.sent = 0;
                        while conn.wants_write() && conn.write_tls(&mut tx.out).is_ok() {}
                        if !tx.out.is_empty() {
                            let _ = push(net, &mut tx, Deadline::after(clock.as_ref(), CLOSE_TIMEOUT_MS));
                        }
                        return Err(fail(upstream_log::code_of(&e), STATE_PORT_TLS_INVALID_HANDSHAKE));
                    }
                }
                Ok(None) => return Err(fail(upstream_log::CONN_EOF, STATE_PORT_TLS_INVALID_HANDSHAKE)),
                Err(RecordError::Invalid) => {
                    return Err(fail(upstream_log::INVALID_RECORD, STATE_PORT_TLS_INVALID_RECORD))
                }
                Err(RecordError::Port) => {
                    return Err(fail(
                        upstream_log::NET_RECV_FAILED,
                        STATE_PORT_TLS_INVALID_HANDSHAKE,
                    ))
                }
            }
        }
        if log::enabled() {
            let suite = conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default();
            log::line(
                STATE_ADAPTER_COMMON,
                &format!(
                    "success to establish tls connection, ({}, {suite})\r\n",
                    version_name(conn.protocol_version())
                ),
            );
        }
        tx.out.clear();
        tx.sent = 0;
        Ok(TlsSession {
            conn: Mutex::new(Some(conn)),
            rx: Mutex::new(RxState { reader, own: None }),
            tx: Mutex::new(tx),
            clock,
        })
    }

    /// See `Connection::recv`.
    pub(super) fn recv(
        &self,
        net: &dyn PortNetwork,
        buf: &mut [u8],
        timeout_ms: u32,
    ) -> Result<usize, Error> {
        if buf.is_empty() || timeout_ms == 0 {
            return Err(Error::Port(STATE_PORT_INPUT_OUT_RANGE));
        }
        let deadline = Deadline::after(self.clock.as_ref(), timeout_ms);
        let mut rx = lock(&self.rx);
        let RxState { reader: rx, own } = &mut *rx;
        if let Some(own) = own.as_mut().filter(|_| TAKEOVER) {
            return own.recv(rx, net, buf, deadline);
        }
        let mut got = 0;
        loop {
            // Plaintext rustls already holds.
            {
                let mut conn = lock(&self.conn);
                let Some(conn) = conn.as_mut() else {
                    return Err(Error::Port(STATE_PORT_TLS_RECV_FAILED));
                };
                loop {
                    match conn.reader().read(&mut buf[got..]) {
                        Ok(0) => {
                            if got > 0 {
                                return Ok(got);
                            }
                            upstream_log::recv_failed(upstream_log::PEER_CLOSE_NOTIFY);
                            return Err(Error::Port(STATE_PORT_TLS_RECV_CONNECTION_CLOSED));
                        }
                        Ok(n) => {
                            got += n;
                            if got == buf.len() {
                                return Ok(got);
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => {
                            if got > 0 {
                                return Ok(got);
                            }
                            upstream_log::recv_failed(upstream_log::code_of_io(&e));
                            return Err(Error::Port(STATE_PORT_TLS_RECV_FAILED));
                        }
                    }
                }
            }
            // One more record from the port, without holding the connection lock.
            let code = match rx.read(net, deadline) {
                Ok(Some(len)) => {
                    let r = match lock(&self.conn).as_mut() {
                        Some(conn) => feed(conn, &rx.buf[..len]),
                        None => Err(rustls::Error::General("connection taken over".into())),
                    };
                    rx.reset();
                    match r {
                        Ok(()) => continue,
                        Err(e) => {
                            if got == 0 {
                                upstream_log::recv_failed(upstream_log::code_of(&e));
                            }
                            recv_error_code(&e)
                        }
                    }
                }
                Ok(None) => return Ok(got),
                Err(RecordError::Invalid) => {
                    if got == 0 {
                        upstream_log::recv_failed(upstream_log::INVALID_RECORD);
                    }
                    STATE_PORT_TLS_INVALID_RECORD
                }
                Err(RecordError::Port) => {
                    if got == 0 {
                        upstream_log::recv_failed(upstream_log::NET_RECV_FAILED);
                    }
                    STATE_PORT_TLS_RECV_FAILED
                }
            };
            // Like upstream: bytes already read are returned, the error comes next time
            // (rustls errors are sticky; a broken header stays in the reader).
            return if got > 0 { Ok(got) } else { Err(Error::Port(code)) };
        }
    }

    /// See `Connection::take_over_records`. Returns whether the records are ours now.
    pub(super) fn take_over_records(&self) -> bool {
        let mut rx = lock(&self.rx);
        if rx.own.is_some() {
            return true;
        }
        let mut tx = lock(&self.tx);
        let mut slot = lock(&self.conn);
        let Some(conn) = slot.as_mut().filter(|_| TAKEOVER) else {
            return false;
        };
        use rustls::CipherSuite as S;
        let version = match conn.negotiated_cipher_suite().map(|s| s.suite()) {
            Some(S::TLS13_AES_128_GCM_SHA256 | S::TLS13_AES_256_GCM_SHA384) => Version::Tls13,
            Some(
                S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                | S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
                | S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            ) => Version::Tls12,
            _ => return false,
        };
        if conn.is_handshaking() || conn.wants_write() || tx.sent < tx.out.len() {
            return false;
        }
        // Plaintext rustls already decrypted is served first. `Ok` means the peer's
        // close_notify already came: the stream ends after the carried bytes.
        let mut carry = Vec::new();
        let closed = match conn.reader().read_to_end(&mut carry) {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Err(_) => return false,
        };
        let Some(conn) = slot.take() else {
            return false;
        };
        let keys = conn.dangerous_extract_secrets().ok().and_then(|s| {
            let rx_keys = RecordKeys::new(version, s.rx.0, &s.rx.1)?;
            Some((rx_keys, RecordKeys::new(version, s.tx.0, &s.tx.1)?))
        });
        let Some((rx_keys, tx_keys)) = keys else {
            // rustls gave the connection up: it is unusable now and the caller's next receive
            // fails (a download then renews on a new connection).
            adapter_log!("tls error: record takeover failed\r\n");
            return false;
        };
        tx.keys = Some(tx_keys);
        rx.own = Some(OwnRecords {
            keys: rx_keys,
            carry,
            carry_pos: 0,
            plain: 0..0,
            end: closed.then_some((
                STATE_PORT_TLS_RECV_CONNECTION_CLOSED,
                upstream_log::PEER_CLOSE_NOTIFY,
            )),
        });
        true
    }

    /// See `Connection::send`.
    pub(super) fn send(&self, net: &dyn PortNetwork, buf: &[u8], timeout_ms: u32) -> Result<usize, Error> {
        if buf.is_empty() || timeout_ms == 0 {
            return Err(Error::Port(STATE_PORT_INPUT_OUT_RANGE));
        }
        let deadline = Deadline::after(self.clock.as_ref(), timeout_ms);
        let mut tx = lock(&self.tx);
        let send_failed = |code: i32| {
            // Upstream's BIO hands the port's own code to mbedTLS, which returns it.
            upstream_log::send_failed(code);
            Error::Port(STATE_PORT_TLS_SEND_FAILED)
        };
        // Finish what an earlier, timed-out send left behind.
        if tx.sent < tx.out.len() {
            match push(net, &mut tx, deadline) {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(code) => return Err(send_failed(code)),
            }
        }
        tx.out.clear();
        tx.sent = 0;
        {
            let mut conn = lock(&self.conn);
            let Some(conn) = conn.as_mut() else {
                upstream_log::send_failed(upstream_log::INTERNAL_ERROR);
                return Err(Error::Port(STATE_PORT_TLS_SEND_FAILED));
            };
            let mut off = 0;
            loop {
                // Also flushes whatever rustls queued on its own (alerts, key updates).
                while conn.wants_write() {
                    if let Err(e) = conn.write_tls(&mut tx.out) {
                        upstream_log::send_failed(upstream_log::code_of_io(&e));
                        return Err(Error::Port(STATE_PORT_TLS_SEND_FAILED));
                    }
                }
                if off == buf.len() {
                    break;
                }
                match conn.writer().write(&buf[off..]) {
                    Ok(0) if conn.wants_write() => {}
                    Ok(0) => {
                        upstream_log::send_failed(upstream_log::PEER_CLOSE_NOTIFY);
                        return Err(Error::Port(STATE_PORT_TLS_SEND_CONNECTION_CLOSED));
                    }
                    Ok(n) => off += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        upstream_log::send_failed(upstream_log::code_of_io(&e));
                        return Err(Error::Port(STATE_PORT_TLS_SEND_FAILED));
                    }
                }
            }
        }
        let result = match push(net, &mut tx, deadline) {
            Ok(true) => Ok(buf.len()),
            Ok(false) => {
                // All plaintext is encrypted and will go out with the next send; report a
                // proportional short count so the caller sees the timeout.
                let part = (buf.len() as u128 * tx.sent as u128 / tx.out.len() as u128) as usize;
                Ok(part.min(buf.len() - 1))
            }
            Err(code) => Err(send_failed(code)),
        };
        if tx.sent == tx.out.len() {
            tx.out.clear();
            tx.sent = 0;
            if tx.out.capacity() > TX_KEEP_CAPACITY {
                tx.out.shrink_to(TX_KEEP_CAPACITY);
            }
        }
        result
    }

    /// Best-effort close_notify (after any unsent records), with a short timeout.
    pub(super) fn close(self, net: &dyn PortNetwork) {
        let clock = self.clock;
        let conn = self.conn.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut tx = self.tx.into_inner().unwrap_or_else(|e| e.into_inner());
        match (conn, tx.keys.as_mut()) {
            (Some(mut conn), _) => {
                conn.send_close_notify();
                while conn.wants_write() {
                    if conn.write_tls(&mut tx.out).is_err() {
                        return;
                    }
                }
            }
            (None, Some(keys)) if TAKEOVER => match keys.seal_close_notify() {
                Ok(record) => tx.out.extend_from_slice(&record),
                Err(_) => return,
            },
            (None, _) => return,
        }
        if tx.sent < tx.out.len() {
            let _ = push(net, &mut tx, Deadline::after(clock.as_ref(), CLOSE_TIMEOUT_MS));
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::sysdep::posix::PosixPort;
    use crate::transport::Connection;
    use rustls::server::WebPkiClientVerifier;
    use rustls::{ServerConfig, ServerConnection, StreamOwned};
    use std::net::{TcpListener, TcpStream};
    use std::thread::{self, JoinHandle};

    use aiot_platform::pki::TestPki;

    // The platform's test PKI, made once per test process.
    /// The test CA.
    fn ca_pem() -> &'static str {
        &TestPki::shared().ca.cert
    }
    /// A CA that signed none of the certificates.
    fn other_ca_pem() -> &'static str {
        &TestPki::shared().wrong_ca.cert
    }
    /// Server certificate: localhost and 127.0.0.1.
    fn srv_pem() -> &'static str {
        &TestPki::shared().server.cert
    }
    /// Its key.
    fn srv_key() -> &'static str {
        &TestPki::shared().server.key
    }
    /// Server certificate: localhost only.
    fn srv2_pem() -> &'static str {
        &TestPki::shared().server_localhost.cert
    }
    /// Its key.
    fn srv2_key() -> &'static str {
        &TestPki::shared().server_localhost.key
    }
    /// Client certificate.
    fn cli_pem() -> &'static str {
        &TestPki::shared().client.cert
    }
    /// Its key.
    fn cli_key() -> &'static str {
        &TestPki::shared().client.key
    }

    /// A credential that trusts `ca_pem` (SNI on, 16 KB fragments, no client certificate).
    pub(crate) fn ca_cred(ca_pem: &str) -> Credential {
        Credential {
            option: crate::sysdep::CRED_SVRCERT_CA,
            max_tls_fragment: 16384,
            sni_enabled: 1,
            server_ca: Some(ca_pem.as_bytes().to_vec()),
            client_cert: None,
            client_key: None,
        }
    }

    type Tls = StreamOwned<ServerConnection, TcpStream>;

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn server_config(cert: &str, key: &str, client_ca: Option<&str>, tls12_only: bool) -> Arc<ServerConfig> {
        let b = ServerConfig::builder_with_provider(provider());
        let b = if tls12_only {
            b.with_protocol_versions(&[&rustls::version::TLS12]).unwrap()
        } else {
            b.with_safe_default_protocol_versions().unwrap()
        };
        let b = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(parse_certs(ca.as_bytes()));
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .unwrap();
                b.with_client_cert_verifier(v)
            }
            None => b.with_no_client_auth(),
        };
        let chain = parse_certs(cert.as_bytes());
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        Arc::new(b.with_single_cert(chain, key).unwrap())
    }

    /// A one-connection TLS server running `serve` after a successful handshake. The thread
    /// returns whether the handshake succeeded.
    fn tls_server(
        cfg: Arc<ServerConfig>,
        serve: impl FnOnce(&mut Tls) + Send + 'static,
    ) -> (u16, JoinHandle<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let h = thread::spawn(move || {
            let (sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let conn = ServerConnection::new(cfg).unwrap();
            let mut tls = StreamOwned::new(conn, sock);
            while tls.conn.is_handshaking() {
                if tls.conn.complete_io(&mut tls.sock).is_err() {
                    return false;
                }
            }
            serve(&mut tls);
            true
        });
        (port, h)
    }

    fn echo(tls: &mut Tls) {
        let mut buf = [0u8; 8192];
        loop {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tls.write_all(&buf[..n]).and_then(|_| tls.flush()).is_err() {
                        break;
                    }
                }
            }
        }
    }

    /// A plain TCP server that writes `reply` and closes.
    fn tcp_server(reply: &'static [u8]) -> (u16, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let h = thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let _ = sock.write_all(reply);
            let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = sock.read(&mut [0u8; 512]);
        });
        (port, h)
    }

    fn open(host: &str, port: u16, cred: &Credential) -> Result<Connection, Error> {
        let ep = Endpoint {
            host,
            port,
            connect_timeout_ms: 3000,
            cred: Some(cred),
        };
        Connection::open(&PosixPort, &ep)
    }

    #[test]
    fn tls_echo_with_dns_name_and_small_reads() {
        let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, false), echo);
        let conn = open("localhost", port, &ca_cred(ca_pem())).unwrap();
        assert!(conn.is_tls());
        assert_eq!(conn.send(b"\x30\x03abc", 1000), Ok(5));
        let mut one = [0u8; 1];
        assert_eq!(conn.recv(&mut one, 2000), Ok(1));
        assert_eq!(one[0], 0x30);
        assert_eq!(conn.recv(&mut one, 2000), Ok(1));
        assert_eq!(one[0], 3);
        let mut rest = [0u8; 3];
        assert_eq!(conn.recv(&mut rest, 2000), Ok(3));
        assert_eq!(&rest, b"abc");
        drop(conn);
        assert!(server.join().unwrap());
    }

    #[test]
    fn tls12_works_too() {
        let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, true), echo);
        let conn = open("localhost", port, &ca_cred(ca_pem())).unwrap();
        assert_eq!(conn.send(b"ping", 1000), Ok(4));
        let mut b = [0u8; 4];
        assert_eq!(conn.recv(&mut b, 2000), Ok(4));
        assert_eq!(&b, b"ping");
        drop(conn);
        assert!(server.join().unwrap());
    }

    #[test]
    fn ip_host_is_verified_against_the_ip_san() {
        let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, false), echo);
        let conn = open("127.0.0.1", port, &ca_cred(ca_pem())).unwrap();
        drop(conn);
        assert!(server.join().unwrap());

        let (port, server) = tls_server(server_config(srv2_pem(), srv2_key(), None, false), echo);
        let e = open("127.0.0.1", port, &ca_cred(ca_pem())).err();
        assert_eq!(e, Some(Error::Port(STATE_PORT_TLS_INVALID_HANDSHAKE)));
        assert!(!server.join().unwrap());
    }

    #[test]
    fn unknown_ca_fails_the_handshake() {
        let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, false), echo);
        let e = open("localhost", port, &ca_cred(other_ca_pem())).err();
        assert_eq!(e, Some(Error::Port(STATE_PORT_TLS_INVALID_HANDSHAKE)));
        assert!(!server.join().unwrap());
    }

    #[test]
    fn bad_or_missing_ca_is_invalid_server_cert() {
        let (port, server) = tcp_server(b"");
        let mut cred = ca_cred("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
        assert_eq!(
            open("127.0.0.1", port, &cred).err(),
            Some(Error::Port(STATE_PORT_TLS_INVALID_SERVER_CERT))
        );
        server.join().unwrap();

        let (port, server) = tcp_server(b"");
        cred.server_ca = None;
        assert_eq!(
            open("127.0.0.1", port, &cred).err(),
            Some(Error::Port(STATE_PORT_TLS_INVALID_SERVER_CERT))
        );
        server.join().unwrap();
    }

    #[test]
    fn credential_option_checks() {
        let mut cred = ca_cred(ca_pem());
        cred.max_tls_fragment = 0;
        let (port, server) = tcp_server(b"");
        assert_eq!(
            open("127.0.0.1", port, &cred).err(),
            Some(Error::Port(STATE_PORT_TLS_INVALID_MAX_FRAGMENT))
        );
        server.join().unwrap();

        let mut cred = ca_cred(ca_pem());
        cred.option = CRED_SVRCERT_PSK;
        let (port, server) = tcp_server(b"");
        assert_eq!(
            open("127.0.0.1", port, &cred).err(),
            Some(Error::Port(STATE_PORT_TLS_CONFIG_PSK_FAILED))
        );
        server.join().unwrap();

        cred.option = 9;
        let (port, server) = tcp_server(b"");
        assert_eq!(
            open("127.0.0.1", port, &cred).err(),
            Some(Error::Port(STATE_PORT_TLS_INVALID_CRED_OPTION))
        );
        server.join().unwrap();

        // CRED_NONE: plain TCP.
        cred.option = crate::sysdep::CRED_NONE;
        let (port, server) = tcp_server(b"");
        let conn = open("127.0.0.1", port, &cred).unwrap();
        assert!(!conn.is_tls());
        drop(conn);
        server.join().unwrap();
    }

    #[test]
    fn plain_tcp_peer_fails_the_handshake() {
        let (port, server) = tcp_server(b"");
        assert_eq!(
            open("127.0.0.1", port, &ca_cred(ca_pem())).err(),
            Some(Error::Port(STATE_PORT_TLS_INVALID_HANDSHAKE))
        );
        server.join().unwrap();

        let (port, server) = tcp_server(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        assert_eq!(
            open("127.0.0.1", port, &ca_cred(ca_pem())).err(),
            Some(Error::Port(STATE_PORT_TLS_INVALID_RECORD))
        );
        server.join().unwrap();
    }

    #[test]
    fn handshake_times_out() {
        // Accepts but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cred = ca_cred(ca_pem());
        let ep = Endpoint {
            host: "127.0.0.1",
            port,
            connect_timeout_ms: 150,
            cred: Some(&cred),
        };
        let t0 = Instant::now();
        let e = Connection::open(&PosixPort, &ep).err();
        assert_eq!(e, Some(Error::Port(STATE_PORT_TLS_INVALID_HANDSHAKE)));
        assert!(t0.elapsed() < Duration::from_secs(2));
        drop(listener);
    }

    fn mtls_cred(cert: &str, key: &str) -> Credential {
        let mut c = ca_cred(ca_pem());
        c.client_cert = Some(cert.as_bytes().to_vec());
        c.client_key = Some(key.as_bytes().to_vec());
        c
    }

    #[test]
    fn mutual_tls() {
        let cfg = server_config(srv_pem(), srv_key(), Some(ca_pem()), false);
        let (port, server) = tls_server(cfg, echo);
        let conn = open("localhost", port, &mtls_cred(cli_pem(), cli_key())).unwrap();
        assert_eq!(conn.send(b"mtls", 1000), Ok(4));
        let mut b = [0u8; 4];
        assert_eq!(conn.recv(&mut b, 2000), Ok(4));
        assert_eq!(&b, b"mtls");
        drop(conn);
        assert!(server.join().unwrap());

        // Without a client certificate the server refuses.
        let cfg = server_config(srv_pem(), srv_key(), Some(ca_pem()), false);
        let (port, server) = tls_server(cfg, echo);
        let r = open("localhost", port, &ca_cred(ca_pem())).and_then(|c| {
            // TLS 1.3: the client finishes first; the refusal arrives as an alert.
            c.send(b"x", 1000)?;
            c.recv(&mut [0u8; 1], 2000)
        });
        assert!(r.is_err(), "{r:?}");
        assert!(!server.join().unwrap());
    }

    #[test]
    fn bad_client_credentials() {
        let (port, server) = tcp_server(b"");
        assert_eq!(
            open("127.0.0.1", port, &mtls_cred("garbage", cli_key())).err(),
            Some(Error::Port(STATE_PORT_TLS_INVALID_CLIENT_CERT))
        );
        server.join().unwrap();
        let (port, server) = tcp_server(b"");
        assert_eq!(
            open("127.0.0.1", port, &mtls_cred(cli_pem(), "garbage")).err(),
            Some(Error::Port(STATE_PORT_TLS_INVALID_CLIENT_KEY))
        );
        server.join().unwrap();
        let (port, server) = tcp_server(b"");
        assert_eq!(
            open("127.0.0.1", port, &mtls_cred(cli_pem(), srv_key())).err(),
            Some(Error::Port(STATE_PORT_TLS_INVALID_CLIENT_CERT))
        );
        server.join().unwrap();
    }

    #[test]
    fn close_notify_returns_partial_then_closed() {
        let serve = |tls: &mut Tls| {
            tls.write_all(b"bye").unwrap();
            tls.conn.send_close_notify();
            tls.flush().unwrap();
            let _ = tls.conn.complete_io(&mut tls.sock);
        };
        let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, false), serve);
        let conn = open("localhost", port, &ca_cred(ca_pem())).unwrap();
        let mut b = [0u8; 10];
        assert_eq!(conn.recv(&mut b, 2000), Ok(3));
        assert_eq!(&b[..3], b"bye");
        assert_eq!(
            conn.recv(&mut b, 2000),
            Err(Error::Port(STATE_PORT_TLS_RECV_CONNECTION_CLOSED))
        );
        drop(conn);
        assert!(server.join().unwrap());
    }

    #[test]
    fn recv_timeouts() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let serve = move |tls: &mut Tls| {
            tls.write_all(b"ab").unwrap();
            tls.flush().unwrap();
            let _ = rx.recv();
        };
        let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, false), serve);
        let conn = open("localhost", port, &ca_cred(ca_pem())).unwrap();
        let mut b = [0u8; 4];
        let t0 = Instant::now();
        assert_eq!(conn.recv(&mut b, 150), Ok(2));
        assert!(t0.elapsed() >= Duration::from_millis(140));
        assert_eq!(&b[..2], b"ab");
        assert_eq!(conn.recv(&mut b, 50), Ok(0));
        assert_eq!(conn.recv(&mut b, 0), Err(Error::Port(STATE_PORT_INPUT_OUT_RANGE)));
        tx.send(()).unwrap();
        drop(conn);
        assert!(server.join().unwrap());
    }

    /// Records taken over from rustls (bulk receive): only the OTA build takes them over.
    #[cfg(feature = "ota")]
    mod takeover {
        use super::*;

        const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\r\n";

        /// Reads the request and answers `HEAD` through rustls, as a download's header exchange.
        fn answer_head(tls: &mut Tls) {
            let mut req = [0u8; 4];
            tls.read_exact(&mut req).unwrap();
            tls.write_all(HEAD).unwrap();
            tls.flush().unwrap();
        }

        /// Opens a connection, sends the request and reads `HEAD` byte by byte (as ureq does), so
        /// that the rest of the first record stays with rustls until the takeover.
        fn request(port: u16) -> Connection {
            let conn = open("localhost", port, &ca_cred(ca_pem())).unwrap();
            assert_eq!(conn.send(b"GET!", 1000), Ok(4));
            for &want in HEAD {
                let mut b = [0u8; 1];
                assert_eq!(conn.recv(&mut b, 2000), Ok(1));
                assert_eq!(b[0], want);
            }
            conn
        }

        fn pattern(len: usize) -> Vec<u8> {
            (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
        }

        /// Encrypts `data` as records and hands them to `mangle` before they go out raw.
        fn write_raw(tls: &mut Tls, data: &[u8], mangle: impl FnOnce(&mut Vec<u8>)) {
            tls.conn.writer().write_all(data).unwrap();
            let mut wire = Vec::new();
            while tls.conn.wants_write() {
                tls.conn.write_tls(&mut wire).unwrap();
            }
            mangle(&mut wire);
            tls.sock.write_all(&wire).unwrap();
        }

        /// Each test runs over TLS 1.3 and over TLS 1.2 (AES-GCM, explicit nonces).
        const VERSIONS: [bool; 2] = [false, true];

        #[test]
        fn taken_over_records_carry_the_whole_stream_and_close_cleanly() {
            for tls12 in VERSIONS {
                whole_stream(tls12);
            }
        }

        fn whole_stream(tls12: bool) {
            let body = pattern(1 << 20);
            let sent = body.clone();
            let serve = move |tls: &mut Tls| {
                let mut req = [0u8; 4];
                tls.read_exact(&mut req).unwrap();
                // Header and body start share the first record: rustls holds that part at the
                // takeover.
                tls.write_all(&[HEAD, &sent[..1000]].concat()).unwrap();
                tls.flush().unwrap();
                tls.write_all(&sent[1000..]).unwrap();
                tls.conn.send_close_notify();
                tls.flush().unwrap();
                // Our close_notify arrives sealed by the record layer: a clean end (Ok(0)).
                assert_eq!(tls.read(&mut [0u8; 16]).unwrap(), 0);
            };
            let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, tls12), serve);
            let conn = request(port);
            assert!(conn.take_over_records());
            assert!(conn.take_over_records(), "a second call keeps the takeover");
            let mut got = Vec::new();
            let sizes = [1usize, 999, 7, 16384, 50_000, 3];
            let mut buf = vec![0u8; 50_000];
            for i in 0.. {
                let want = sizes[i % sizes.len()];
                match conn.recv(&mut buf[..want], 2000) {
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => {
                        assert_eq!(e, Error::Port(STATE_PORT_TLS_RECV_CONNECTION_CLOSED));
                        break;
                    }
                }
            }
            assert!(got == body, "{} bytes received, {} sent", got.len(), body.len());
            assert_eq!(
                conn.send(b"x", 1000),
                Err(Error::Port(STATE_PORT_TLS_SEND_FAILED))
            );
            drop(conn);
            assert!(server.join().unwrap());
        }

        #[test]
        fn taken_over_records_keep_a_record_cut_by_a_timeout() {
            // 12 bytes: the record is opened in the reader's buffer; 100: in the caller's.
            for tls12 in VERSIONS {
                for room in [12, 100] {
                    record_cut_by_a_timeout(tls12, room);
                }
            }
        }

        fn record_cut_by_a_timeout(tls12: bool, room: usize) {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let serve = move |tls: &mut Tls| {
                answer_head(tls);
                let mut wire = Vec::new();
                write_raw(tls, b"split record", |w| wire = std::mem::take(w));
                tls.sock.write_all(&wire[..10]).unwrap();
                let _ = rx.recv();
                tls.sock.write_all(&wire[10..]).unwrap();
                let _ = rx.recv();
            };
            let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, tls12), serve);
            let conn = request(port);
            assert!(conn.take_over_records());
            let mut b = vec![0u8; room];
            assert_eq!(conn.recv(&mut b, 100), Ok(0));
            tx.send(()).unwrap();
            assert_eq!(conn.recv(&mut b[..12], 2000), Ok(12));
            assert_eq!(&b[..12], b"split record");
            tx.send(()).unwrap();
            drop(conn);
            assert!(server.join().unwrap());
        }

        #[test]
        fn tampered_record_after_takeover_is_refused_for_good() {
            for tls12 in VERSIONS {
                tampered_record(tls12);
            }
        }

        #[test]
        fn tampered_record_through_rustls_is_a_receive_failure() {
            // As upstream's adapter: mbedTLS' INVALID_MAC is not INVALID_RECORD.
            for tls12 in VERSIONS {
                let serve = |tls: &mut Tls| {
                    answer_head(tls);
                    write_raw(tls, b"evil", |w| *w.last_mut().unwrap() ^= 1);
                    let _ = tls.read(&mut [0u8; 16]);
                };
                let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, tls12), serve);
                let conn = request(port);
                assert_eq!(
                    conn.recv(&mut [0u8; 8], 2000),
                    Err(Error::Port(STATE_PORT_TLS_RECV_FAILED))
                );
                drop(conn);
                assert!(server.join().unwrap());
            }
        }

        fn tampered_record(tls12: bool) {
            let serve = |tls: &mut Tls| {
                answer_head(tls);
                write_raw(tls, b"good", |_| {});
                write_raw(tls, b"evil", |w| *w.last_mut().unwrap() ^= 1);
                let _ = tls.read(&mut [0u8; 16]);
            };
            let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, tls12), serve);
            let conn = request(port);
            assert!(conn.take_over_records());
            let mut b = [0u8; 8];
            assert_eq!(
                conn.recv(&mut b, 2000),
                Ok(4),
                "bytes before the bad record come first"
            );
            assert_eq!(&b[..4], b"good");
            // As upstream's adapter: a record failing authentication is a receive failure.
            for _ in 0..2 {
                assert_eq!(
                    conn.recv(&mut b, 2000),
                    Err(Error::Port(STATE_PORT_TLS_RECV_FAILED))
                );
            }
            drop(conn);
            assert!(server.join().unwrap());
        }

        #[test]
        fn key_update_after_takeover_ends_the_stream() {
            let serve = |tls: &mut Tls| {
                answer_head(tls);
                tls.write_all(b"before").unwrap();
                tls.conn.refresh_traffic_keys().unwrap();
                tls.write_all(b"after").unwrap();
                tls.flush().unwrap();
                let _ = tls.read(&mut [0u8; 16]);
            };
            let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, false), serve);
            let conn = request(port);
            assert!(conn.take_over_records());
            let mut b = [0u8; 6];
            assert_eq!(conn.recv(&mut b, 2000), Ok(6));
            assert_eq!(&b, b"before");
            assert_eq!(
                conn.recv(&mut b, 2000),
                Err(Error::Port(STATE_PORT_TLS_RECV_FAILED))
            );
            drop(conn);
            assert!(server.join().unwrap());
        }
    }

    /// Without the OTA component nothing takes records over.
    #[cfg(not(feature = "ota"))]
    #[test]
    fn records_stay_with_rustls_in_the_mqtt_core() {
        let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, false), echo);
        let conn = open("localhost", port, &ca_cred(ca_pem())).unwrap();
        assert!(!conn.take_over_records());
        assert_eq!(conn.send(b"ping", 1000), Ok(4));
        let mut b = [0u8; 4];
        assert_eq!(conn.recv(&mut b, 2000), Ok(4));
        assert_eq!(&b, b"ping");
        drop(conn);
        assert!(server.join().unwrap());
    }

    #[test]
    fn concurrent_send_and_recv_with_large_payloads() {
        let mut cred = ca_cred(ca_pem());
        cred.max_tls_fragment = 1000; // -> 1024-byte records on our side
        let (port, server) = tls_server(server_config(srv_pem(), srv_key(), None, false), echo);
        let conn = Arc::new(open("localhost", port, &cred).unwrap());
        let mut expect = Vec::new();
        let msgs: Vec<Vec<u8>> = (0..500u32)
            .map(|i| {
                let len = if i % 100 == 7 { 70_000 } else { 256 };
                (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
            })
            .collect();
        for m in &msgs {
            expect.extend_from_slice(m);
        }
        let total = expect.len();
        let reader = {
            let conn = Arc::clone(&conn);
            thread::spawn(move || {
                let mut got = vec![0u8; total];
                let mut off = 0;
                while off < total {
                    // Odd-sized reads cross record boundaries.
                    let end = (off + 777).min(total);
                    let n = conn.recv(&mut got[off..end], 5000).unwrap();
                    assert_eq!(n, end - off);
                    off = end;
                }
                got
            })
        };
        for m in &msgs {
            assert_eq!(conn.send(m, 5000), Ok(m.len()));
        }
        assert!(reader.join().unwrap() == expect);
        drop(conn);
        assert!(server.join().unwrap());
    }

    #[test]
    fn second_connection_with_the_same_credential_resumes() {
        let cfg = server_config(srv_pem(), srv_key(), None, false);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let mut kinds = Vec::new();
            for _ in 0..2 {
                let (sock, _) = listener.accept().unwrap();
                sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut tls = StreamOwned::new(ServerConnection::new(Arc::clone(&cfg)).unwrap(), sock);
                // Until the client's first byte: the handshake, then the ticket is sent.
                let mut b = [0u8; 1];
                let _ = tls.read(&mut b);
                kinds.push(tls.conn.handshake_kind());
                let _ = tls.write_all(b"k").and_then(|_| tls.flush());
            }
            kinds
        });
        // A credential no other test uses, so the session cache starts empty.
        let mut cred = ca_cred(ca_pem());
        cred.max_tls_fragment = 16383;
        for _ in 0..2 {
            let conn = open("localhost", port, &cred).unwrap();
            assert_eq!(conn.send(b"x", 1000), Ok(1));
            let mut b = [0u8; 1];
            assert_eq!(conn.recv(&mut b, 2000), Ok(1));
        }
        let kinds = server.join().unwrap();
        assert_eq!(
            kinds,
            [
                Some(rustls::HandshakeKind::Full),
                Some(rustls::HandshakeKind::Resumed)
            ]
        );
    }

    #[test]
    fn fragment_sizes_follow_upstream_thresholds() {
        assert_eq!(fragment_size(0), None);
        assert_eq!(fragment_size(1), Some(517));
        assert_eq!(fragment_size(512), Some(517));
        assert_eq!(fragment_size(1024), Some(1029));
        assert_eq!(fragment_size(3000), Some(4101));
        assert_eq!(fragment_size(4096), Some(4101));
        assert_eq!(fragment_size(4097), None);
        assert_eq!(fragment_size(16384), None);
    }

    #[test]
    fn pem_with_trailing_nul_parses() {
        let mut pem = ca_pem().as_bytes().to_vec();
        pem.push(0);
        assert_eq!(parse_certs(&pem).len(), 1);
        assert!(parse_certs(b"junk").is_empty());
    }

    /// Timing check, not a unit test: `cargo test --release --lib tls::tests::perf -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn perf() {
        let cfg = server_config(srv_pem(), srv_key(), None, false);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let n_conn = 50;
        let srv = thread::spawn(move || {
            for _ in 0..n_conn + 1 {
                let (sock, _) = listener.accept().unwrap();
                let cfg = Arc::clone(&cfg);
                thread::spawn(move || {
                    let mut tls = StreamOwned::new(ServerConnection::new(cfg).unwrap(), sock);
                    let mut buf = vec![0u8; 65536];
                    let mut total = 0usize;
                    loop {
                        match tls.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => total += n,
                        }
                    }
                    total
                });
            }
        });
        let cred = ca_cred(ca_pem());
        let mut times = Vec::new();
        for _ in 0..n_conn {
            let t0 = Instant::now();
            let c = open("localhost", port, &cred).unwrap();
            times.push(t0.elapsed());
            drop(c);
        }
        times.sort();
        println!(
            "tls connect: first {:?} median {:?} max {:?}",
            times[0],
            times[times.len() / 2],
            times[times.len() - 1]
        );
        let c = open("localhost", port, &cred).unwrap();
        let msg = vec![0x5Au8; 256];
        let n = 200_000;
        let t0 = Instant::now();
        for _ in 0..n {
            assert_eq!(c.send(&msg, 5000), Ok(256));
        }
        let el = t0.elapsed();
        println!(
            "{n} sends of 256 B in {el:?}: {:.0}/s",
            n as f64 / el.as_secs_f64()
        );
        drop(c);
        srv.join().unwrap();
    }

    #[test]
    #[ignore]
    fn perf_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let srv = thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sock.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        });
        let ep = Endpoint {
            host: "127.0.0.1",
            port,
            connect_timeout_ms: 1000,
            cred: None,
        };
        let c = Connection::open(&PosixPort, &ep).unwrap();
        let msg = vec![0x5Au8; 256];
        let n = 200_000;
        let t0 = Instant::now();
        for _ in 0..n {
            assert_eq!(c.send(&msg, 5000), Ok(256));
        }
        let el = t0.elapsed();
        println!(
            "TCP: {n} sends of 256 B in {el:?}: {:.0}/s",
            n as f64 / el.as_secs_f64()
        );
        drop(c);
        srv.join().unwrap();
    }
}
