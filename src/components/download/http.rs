//! One HTTP/1.1 GET through ureq, with every byte carried by our [`Connection`] (plain TCP or
//! rustls over the active port).
//!
//! ureq writes the request and parses the response header (any HTTP/1.x status line, header
//! names in any case, long lines, the body framing). Our pieces around it:
//! * [`PortConnector`] opens a [`Connection`] through the port; [`NoResolve`] hands ureq a
//!   placeholder address because the port resolves the host itself (no DNS thread).
//! * [`PortTransport`] logs the request and response header lines from the raw bytes as they
//!   pass (`LK-040B` / `LK-040D`) and runs the "request sent" hook between the two. It reads
//!   header bytes one or two at a time so that it never reads past the blank line: the port's
//!   `recv` blocks until its buffer is full, so asking for bytes that never come would cost a
//!   whole receive timeout.
//! * The body (framed by `Content-Length`, which the download requires) is then read straight
//!   from the connection into the caller's buffer by [`Response::read`]: no copy through ureq's
//!   input buffer, and each read asks for exactly the bytes still wanted.
//! * [`Shared`] carries what [`exchange`] and its transport tell each other: the header
//!   deadline (port clock), the connection, and why the last transport call failed, so the
//!   upstream code survives ureq's error type.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use ureq::config::AutoHeaderValue;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};
use ureq::Agent;

use crate::error::Error;
use crate::log;
use crate::state::*;
use crate::sysdep::{Credential, Port};
use crate::transport::{Connection, Endpoint};

/// `Accept` value upstream 4.2 sends.
const ACCEPT: &str = "text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8";
/// Largest response header accepted (upstream: 128 bytes per line).
const MAX_HEADER: usize = 16 * 1024;
/// ureq's input buffer: a whole header fits (the body bypasses it).
const INPUT_BUFFER: usize = MAX_HEADER + 1024;
/// ureq's output buffer: the request line (URL up to ~8 KiB) and four headers.
const OUTPUT_BUFFER: usize = 12 * 1024;

/// Why a transport call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fail {
    /// Opening the connection failed (port or TLS code).
    Connect(Error),
    /// Writing the request failed or timed out.
    Send(Error),
    /// Nothing arrived before the deadline.
    Timeout,
    /// Reading failed (port or TLS code), or the response could not be used.
    Recv(Error),
}

/// Hook run once the whole request is written, before the response is awaited.
pub(crate) type SentHook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Inner {
    /// Port time (ms) by which the header must have arrived.
    deadline_ms: u64,
    /// The connection the transport opened (the body is read from it).
    conn: Option<Arc<Connection>>,
    /// Why the last transport call failed.
    fail: Option<Fail>,
    /// The request was written completely.
    sent: bool,
    on_sent: Option<SentHook>,
}

/// State shared between one [`exchange`] and its transport.
#[derive(Default)]
struct Shared(Mutex<Inner>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, fail: Fail) -> ureq::Error {
        self.lock().fail = Some(fail);
        match fail {
            Fail::Timeout => ureq::Error::Timeout(ureq::Timeout::RecvBody),
            // Kind `Other`: ureq treats reset/EOF kinds as a normal end of a close-delimited
            // body, which must not happen here.
            _ => ureq::Error::Io(io::Error::other("aiot transport failure")),
        }
    }
}

/// What to fetch and how.
pub(crate) struct Exchange<'a> {
    pub port: &'a Arc<dyn Port>,
    /// Set on the connection; TLS iff `tls`.
    pub cred: Option<&'a Credential>,
    pub tls: bool,
    /// Host and port to connect to.
    pub host: &'a str,
    pub net_port: u16,
    /// `Host:` value (`host[:port]` as in the URL).
    pub authority: &'a str,
    /// Request target (path and query), already URI-safe.
    pub target: &'a str,
    /// `Range:` value.
    pub range: &'a str,
    pub connect_timeout_ms: u32,
    pub send_timeout_ms: u32,
    pub recv_timeout_ms: u32,
}

/// A response whose header has been read; the body is read with [`Response::read`].
/// Dropping it closes the connection (`adapter_network_deinit`).
pub(crate) struct Response {
    pub status: u16,
    /// `None` when the response has no `Content-Length` (chunked or close-delimited).
    pub content_length: Option<u64>,
    /// Body bytes read so far.
    pub received: u64,
    conn: Arc<Connection>,
}

/// How [`exchange`] ended.
pub(crate) enum Outcome {
    /// The header arrived.
    Response(Response),
    /// No connection (port/TLS code).
    ConnectFailed(Error),
    /// The request did not go out completely.
    SendFailed,
    /// The request went out (the hook ran) but no usable response header came.
    RecvFailed(Fail),
}

/// Opens a new connection, sends `GET`, and reads the response header.
pub(crate) fn exchange(x: &Exchange<'_>, on_sent: Option<SentHook>) -> Outcome {
    let shared = Arc::new(Shared(Mutex::new(Inner {
        on_sent,
        ..Inner::default()
    })));
    let uri = format!(
        "{}://{}{}",
        if x.tls { "https" } else { "http" },
        x.authority,
        x.target
    );
    let uri = match uri.parse::<Uri>() {
        Ok(u) => u,
        Err(e) => {
            if log::enabled() {
                log::line(
                    STATE_HTTP_HEADER_INVALID,
                    &format!("invalid request uri: {e}\r\n"),
                );
            }
            return Outcome::SendFailed;
        }
    };
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(AutoHeaderValue::None)
        .accept_encoding(AutoHeaderValue::None)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .max_response_header_size(MAX_HEADER)
        .input_buffer_size(INPUT_BUFFER)
        .output_buffer_size(OUTPUT_BUFFER)
        .build();
    let connector = PortConnector {
        port: Arc::clone(x.port),
        shared: Arc::clone(&shared),
        host: x.host.to_owned(),
        net_port: x.net_port,
        cred: x.cred.filter(|_| x.tls).cloned(),
        connect_timeout_ms: x.connect_timeout_ms,
        send_timeout_ms: x.send_timeout_ms,
        recv_timeout_ms: x.recv_timeout_ms,
    };
    let agent = Agent::with_parts(config, connector, NoResolve);
    let result = agent
        .get(uri)
        .header_raw("Host", x.authority.as_bytes())
        .header_raw("Accept", ACCEPT.as_bytes())
        .header_raw("Range", x.range.as_bytes())
        .header_raw("Content-Length", b"0")
        .call();
    let (fail, sent, conn) = {
        let mut s = shared.lock();
        (s.fail.take(), s.sent, s.conn.take())
    };
    match (result, conn) {
        (Ok(response), Some(conn)) => {
            // ureq's body (and its share of the connection) is dropped here: the body is
            // read from `conn`, where it still is in full.
            if response.status().is_success() {
                // Only the body is left to read: open its records without rustls' copies.
                conn.take_over_records();
            }
            Outcome::Response(Response {
                status: response.status().as_u16(),
                content_length: response.body().content_length(),
                received: 0,
                conn,
            })
        }
        (Ok(_), None) => Outcome::SendFailed,
        (Err(e), _) => match fail {
            Some(Fail::Connect(e)) => Outcome::ConnectFailed(e),
            Some(f @ (Fail::Timeout | Fail::Recv(_))) if sent => Outcome::RecvFailed(f),
            _ if !sent => {
                if log::enabled() {
                    log::line(STATE_HTTP_LOG_SEND_HEADER, &format!("request failed: {e}\r\n"));
                }
                Outcome::SendFailed
            }
            // ureq refused the response itself (bad status line, header too large...).
            _ => {
                if log::enabled() {
                    log::line(
                        STATE_HTTP_HEADER_INVALID,
                        &format!("invalid response header: {e}\r\n"),
                    );
                }
                let code = match e {
                    ureq::Error::LargeResponseHeader(..) => STATE_HTTP_HEADER_BUFFER_TOO_SHORT,
                    _ => STATE_HTTP_HEADER_INVALID,
                };
                Outcome::RecvFailed(Fail::Recv(Error::Download(code)))
            }
        },
    }
}

impl Response {
    /// Reads body bytes into `buf` (never more than the body still holds): blocks until
    /// `buf` is full or `timeout_ms` passes. `Ok(0)` on a timeout with nothing read.
    pub(crate) fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, Fail> {
        let left = self.content_length.map_or(u64::MAX, |len| len - self.received);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        match self.conn.recv(&mut buf[..n], timeout_ms.max(1)) {
            Ok(got) => {
                self.received += got as u64;
                Ok(got)
            }
            Err(e) => {
                log::line(
                    STATE_HTTP_LOG_DISCONNECT,
                    "HTTP network error when receving data, disconnect\r\n",
                );
                Err(Fail::Recv(e))
            }
        }
    }
}

/// Gives ureq a placeholder address: the port's `network_establish` resolves the host.
#[derive(Debug)]
struct NoResolve;

impl Resolver for NoResolve {
    fn resolve(
        &self,
        _uri: &Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut addrs = self.empty();
        addrs.push(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        Ok(addrs)
    }
}

struct PortConnector {
    port: Arc<dyn Port>,
    shared: Arc<Shared>,
    host: String,
    net_port: u16,
    cred: Option<Credential>,
    connect_timeout_ms: u32,
    send_timeout_ms: u32,
    recv_timeout_ms: u32,
}

impl fmt::Debug for PortConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortConnector")
            .field("host", &self.host)
            .field("port", &self.net_port)
            .field("tls", &self.cred.is_some())
            .finish()
    }
}

impl Connector<()> for PortConnector {
    type Out = PortTransport;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<PortTransport>, ureq::Error> {
        let ep = Endpoint {
            host: &self.host,
            port: self.net_port,
            connect_timeout_ms: self.connect_timeout_ms,
            cred: self.cred.as_ref(),
        };
        let conn =
            Connection::open(self.port.as_ref(), &ep).map_err(|e| self.shared.record(Fail::Connect(e)))?;
        let conn = Arc::new(conn);
        self.shared.lock().conn = Some(Arc::clone(&conn));
        Ok(Some(PortTransport {
            conn,
            bufs: LazyBuffers::new(INPUT_BUFFER, OUTPUT_BUFFER),
            port: Arc::clone(&self.port),
            shared: Arc::clone(&self.shared),
            send_timeout_ms: self.send_timeout_ms,
            recv_timeout_ms: self.recv_timeout_ms,
            tx_line: Vec::new(),
            tx_done: false,
            rx_line: Vec::new(),
            rx_block_start: true,
            rx_interim: false,
            rx_done: false,
            rx_error: None,
        }))
    }
}

struct PortTransport {
    conn: Arc<Connection>,
    bufs: LazyBuffers,
    port: Arc<dyn Port>,
    shared: Arc<Shared>,
    send_timeout_ms: u32,
    recv_timeout_ms: u32,
    /// Request line being assembled for the log; `tx_done` after the blank line.
    tx_line: Vec<u8>,
    tx_done: bool,
    /// Response header line being assembled; `rx_done` after the blank line of the final
    /// (non-1xx) response.
    rx_line: Vec<u8>,
    /// The next line is a status line.
    rx_block_start: bool,
    /// The current header block is an interim (1xx) response, which ureq skips.
    rx_interim: bool,
    rx_done: bool,
    /// A read error met after some header bytes were handed on; reported next time.
    rx_error: Option<Error>,
}

impl fmt::Debug for PortTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortTransport")
            .field("tls", &self.conn.is_tls())
            .field("header_done", &self.rx_done)
            .finish()
    }
}

/// Text of a log line: `dir`, a blank, the line, CRLF.
fn log_line(code: i32, dir: char, line: &[u8]) {
    if log::enabled() {
        log::line(code, &format!("{dir} {}\r\n", String::from_utf8_lossy(line)));
    }
}

/// Whether a status line is an interim response: `HTTP/1.x 1xx ...`, except 101 (Switching
/// Protocols), which ends the response header as a final status does.
fn is_interim(status_line: &[u8]) -> bool {
    let mut parts = status_line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let _version = parts.next();
    match parts.next() {
        Some(b"101") => false,
        Some([b'1', d1, d2]) => d1.is_ascii_digit() && d2.is_ascii_digit(),
        _ => false,
    }
}

impl PortTransport {
    /// Milliseconds left before the deadline, `None` once it has passed.
    fn remaining_ms(&self) -> Option<u32> {
        let deadline = self.shared.lock().deadline_ms;
        let now = self.port.time_ms();
        (deadline > now).then(|| (deadline - now).min(u64::from(u32::MAX)) as u32)
    }

    fn recv_failed(&self, e: Error) -> ureq::Error {
        log::line(
            STATE_HTTP_LOG_DISCONNECT,
            "HTTP network error when receving data, disconnect\r\n",
        );
        self.shared.record(Fail::Recv(e))
    }

    /// Logs each completed header line; sets `rx_done` at the blank line that ends the final
    /// response's header.
    fn header_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b != b'\n' {
                self.rx_line.push(b);
                continue;
            }
            if self.rx_line.last() == Some(&b'\r') {
                self.rx_line.pop();
            }
            log_line(STATE_HTTP_LOG_RECV_HEADER, '<', &self.rx_line);
            if self.rx_block_start {
                self.rx_interim = is_interim(&self.rx_line);
                self.rx_block_start = false;
            } else if self.rx_line.is_empty() {
                self.rx_done = !self.rx_interim;
                self.rx_block_start = true;
            }
            self.rx_line.clear();
        }
    }

    /// Header phase: reads until the blank line, never past it. At the start of a line the
    /// next byte may end the header (`\n`), and after `\r` too; inside a line at least two
    /// more bytes (`\n\n`) come before the end.
    fn await_header(&mut self) -> Result<bool, ureq::Error> {
        let mut got = 0;
        while !self.rx_done {
            if let Some(e) = self.rx_error.take() {
                return Err(self.recv_failed(e));
            }
            let step = match self.rx_line.as_slice() {
                [] | [b'\r'] => 1,
                _ => 2,
            };
            let Some(timeout) = self.remaining_ms() else {
                return if got > 0 {
                    Ok(true)
                } else {
                    Err(self.shared.record(Fail::Timeout))
                };
            };
            let buf = self.bufs.input_append_buf();
            let step = step.min(buf.len());
            if step == 0 {
                // ureq's buffer is full of header: too large.
                let e = Error::Download(STATE_HTTP_HEADER_BUFFER_TOO_SHORT);
                return Err(self.shared.record(Fail::Recv(e)));
            }
            match self.conn.recv(&mut buf[..step], timeout) {
                Ok(0) => {
                    return if got > 0 {
                        Ok(true)
                    } else {
                        Err(self.shared.record(Fail::Timeout))
                    };
                }
                Ok(n) => {
                    let mut piece = [0u8; 2];
                    piece[..n].copy_from_slice(&buf[..n]);
                    self.bufs.input_appended(n);
                    self.header_bytes(&piece[..n]);
                    got += n;
                }
                Err(e) if got > 0 => {
                    self.rx_error = Some(e);
                    return Ok(true);
                }
                Err(e) => return Err(self.recv_failed(e)),
            }
        }
        Ok(got > 0)
    }
}

impl Transport for PortTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.bufs
    }

    fn transmit_output(&mut self, amount: usize, _timeout: NextTimeout) -> Result<(), ureq::Error> {
        let data = &self.bufs.output()[..amount];
        let mut finished = false;
        if !self.tx_done {
            for &b in data {
                if b != b'\n' {
                    self.tx_line.push(b);
                    continue;
                }
                if self.tx_line.last() == Some(&b'\r') {
                    self.tx_line.pop();
                }
                log_line(STATE_HTTP_LOG_SEND_HEADER, '>', &self.tx_line);
                if self.tx_line.is_empty() {
                    finished = true;
                    self.tx_done = true;
                    break;
                }
                self.tx_line.clear();
            }
        }
        let mut off = 0;
        while off < data.len() {
            let fail = match self.conn.send(&data[off..], self.send_timeout_ms.max(1)) {
                Ok(n) if n == data.len() - off => {
                    off += n;
                    continue;
                }
                Ok(_) => Error::WriteLessData,
                Err(e) => {
                    log::line(
                        STATE_HTTP_LOG_DISCONNECT,
                        "HTTP network error when sending data, disconnect\r\n",
                    );
                    e
                }
            };
            return Err(self.shared.record(Fail::Send(fail)));
        }
        if finished {
            let hook = {
                let mut s = self.shared.lock();
                s.sent = true;
                s.on_sent.take()
            };
            if let Some(hook) = hook {
                hook();
            }
            // The header must arrive within one receive timeout from now.
            let deadline = self.port.time_ms() + u64::from(self.recv_timeout_ms.max(1));
            self.shared.lock().deadline_ms = deadline;
        }
        Ok(())
    }

    fn await_input(&mut self, _timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if !self.rx_done {
            return self.await_header();
        }
        // ureq never reads the body (the download reads it from the connection); giving it
        // body bytes here would hide them from that read.
        Err(self
            .shared
            .record(Fail::Recv(Error::Download(STATE_HTTP_HEADER_INVALID))))
    }

    fn is_open(&mut self) -> bool {
        true
    }

    fn is_tls(&self) -> bool {
        self.conn.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interim_status_lines() {
        assert!(is_interim(b"HTTP/1.1 100 Continue"));
        assert!(is_interim(b"HTTP/1.1 103"));
        assert!(!is_interim(b"HTTP/1.1 200 OK"));
        assert!(!is_interim(b"HTTP/1.0 1000 x"));
        // Found by the http_response_header fuzz target: 101 is final (as ureq takes it), so
        // the header reader must stop at its blank line instead of waiting for another block.
        assert!(!is_interim(b"HTTP/1.1 101 Switching Protocols"));
    }
}
