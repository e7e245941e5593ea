//! The firmware server: HTTPS (certificate for DNS:localhost from the platform CA) and plain HTTP
//! on 127.0.0.1, serving images from memory with Range support and per-image fault injection.
//!
//! URLs look like Aliyun's: `https://localhost:<port>/ota/<hex>/<name>.bin?Expires=<n>&Signature=<x>`
//! (the query is ignored; the path selects the image).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use md5::Md5;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

/// A fault injected when serving one image. See [`Fault::from_str`] for the text forms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Serve correctly.
    #[default]
    None,
    /// On the first GET of the image only: send the headers and N bytes of body, then close the
    /// connection (the announced length is the full one). Later requests (a resumed Range) succeed.
    Drop(u64),
    /// Every response carries the byte at image offset K inverted (XOR 0xFF), when its range covers K.
    Corrupt(u64),
    /// Send the body at about B bytes per second (chunks every 100 ms).
    Throttle(u64),
    /// Answer every request with this status (404, 500, ...) and a short text body.
    Status(u16),
    /// Announce a Content-Length N bytes larger than the body sent, send the real body, then close.
    Lie(u64),
    /// Like `Drop(N)` but on every GET: no request ever completes (a dead server).
    DropEvery(u64),
    /// On the first GET only: the headers and N bytes of body, then [`STALL_MS`] of silence, then
    /// the connection is closed. Later requests succeed.
    Stall(u64),
    /// On the first GET only: no answer for this many ms, then the connection is closed.
    /// Later requests succeed.
    Mute(u64),
    /// Ignore Range headers: every GET gets 200 and the whole image.
    IgnoreRange,
}

/// How long `Fault::Stall` keeps silent before closing.
pub const STALL_MS: u64 = 2000;

impl FromStr for Fault {
    type Err = String;

    /// `none`, `drop:N`, `corrupt:K`, `throttle:B`, `status:404`, `status:500`, `lie:N`,
    /// `drop-every:N`, `stall:N`, `mute:MS`, `ignore-range`.
    fn from_str(s: &str) -> Result<Fault, String> {
        match s {
            "none" => return Ok(Fault::None),
            "ignore-range" => return Ok(Fault::IgnoreRange),
            _ => {}
        }
        let (kind, n) = s.split_once(':').ok_or_else(|| {
            format!(
                "bad fault '{s}' (none|drop:N|corrupt:K|throttle:B|status:CODE|lie:N|drop-every:N|\
                     stall:N|mute:MS|ignore-range)"
            )
        })?;
        let n: u64 = n.parse().map_err(|_| format!("bad number in fault '{s}'"))?;
        match kind {
            "drop" => Ok(Fault::Drop(n)),
            "corrupt" => Ok(Fault::Corrupt(n)),
            "throttle" if n > 0 => Ok(Fault::Throttle(n)),
            "status" if (100..=599).contains(&n) => Ok(Fault::Status(n as u16)),
            "lie" => Ok(Fault::Lie(n)),
            "drop-every" => Ok(Fault::DropEvery(n)),
            "stall" => Ok(Fault::Stall(n)),
            "mute" => Ok(Fault::Mute(n)),
            _ => Err(format!("bad fault '{s}'")),
        }
    }
}

/// An image the server holds.
pub struct Image {
    pub name: String,
    pub data: Bytes,
    pub fault: Fault,
    /// Lower-case hex SHA-256 of `data`.
    pub sha256: String,
    /// Lower-case hex MD5 of `data`.
    pub md5: String,
    first_done: AtomicBool,
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Hex MD5 of `data`.
pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

/// `size` deterministic pseudo-random bytes (xorshift64*, fixed seed mixed with `seed`).
pub fn generate_image(size: usize, seed: u64) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(size);
    out
}

/// One request the server answered.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
    /// Body bytes handed to the connection.
    pub sent: Arc<AtomicU64>,
    pub tls: bool,
}

impl std::fmt::Display for RequestRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} range={} -> {} ({} body bytes)",
            if self.tls { "https" } else { "http" },
            self.path,
            self.range.as_deref().unwrap_or("-"),
            self.status,
            self.sent.load(Ordering::SeqCst)
        )
    }
}

#[derive(Default)]
struct Shared {
    images: Mutex<HashMap<String, Arc<Image>>>,
    log: Mutex<Vec<RequestRecord>>,
}

/// Which of the server's listeners a URL points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// HTTPS, TLS 1.3 or 1.2 (the client picks; ours takes 1.3).
    Https,
    /// HTTPS that speaks TLS 1.2 only, as some object stores still do.
    HttpsTls12,
    /// Plain HTTP on 127.0.0.1.
    Http,
}

/// A running firmware server. Dropping it stops it.
pub struct FirmwareServer {
    rt: Option<tokio::runtime::Runtime>,
    https_port: u16,
    https12_port: u16,
    http_port: u16,
    shared: Arc<Shared>,
    counter: AtomicU64,
}

type Body = BoxBody<Bytes, std::io::Error>;

fn full(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("Content-Type", "text/plain")
        .body(
            Full::new(Bytes::from(text.to_owned()))
                .map_err(|e| match e {})
                .boxed(),
        )
        .expect("static response")
}

/// A response whose body fails at once: hyper closes the connection (the headers may not get
/// out).
fn aborted() -> Response<Body> {
    let failed = failing_body();
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Length", "1")
        .body(BodyExt::boxed(StreamBody::new(failed)))
        .expect("static response")
}

fn failing_body() -> tokio_stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>> {
    tokio_stream::iter(vec![Err(std::io::Error::other("injected fault: no answer"))])
}

/// A Range header that no byte of the image satisfies (answered with 416).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// The byte range `bytes=S-`, `bytes=S-E` or `bytes=-N` of a `len`-byte image: `Ok(None)` when
/// the header is absent or not understood (serve everything), `Err` when unsatisfiable.
pub fn parse_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((s, e)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (s, e) = (s.trim(), e.trim());
    if s.is_empty() {
        let Ok(n) = e.parse::<u64>() else { return Ok(None) };
        if n == 0 || len == 0 {
            return Err(Unsatisfiable);
        }
        return Ok(Some((len.saturating_sub(n), len - 1)));
    }
    let Ok(start) = s.parse::<u64>() else {
        return Ok(None);
    };
    let end = if e.is_empty() {
        len.saturating_sub(1)
    } else {
        match e.parse::<u64>() {
            Ok(end) => end.min(len.saturating_sub(1)),
            Err(_) => return Ok(None),
        }
    };
    if start >= len || end < start {
        return Err(Unsatisfiable);
    }
    Ok(Some((start, end)))
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    shared: Arc<Shared>,
    tls: bool,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let range_hdr = req
        .headers()
        .get(hyper::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let sent = Arc::new(AtomicU64::new(0));
    let record = |status: u16| {
        shared.log.lock().unwrap().push(RequestRecord {
            path: path.clone(),
            range: range_hdr.clone(),
            status,
            sent: sent.clone(),
            tls,
        })
    };
    let image = shared.images.lock().unwrap().get(&path).cloned();
    let Some(image) = image else {
        record(404);
        return Ok(full(StatusCode::NOT_FOUND, "no such image\n"));
    };
    let head = req.method() == hyper::Method::HEAD;
    if req.method() != hyper::Method::GET && !head {
        record(405);
        return Ok(full(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only\n"));
    }
    if let Fault::Status(code) = image.fault {
        record(code);
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Ok(full(status, "injected fault\n"));
    }
    if let Fault::Mute(ms) = image.fault {
        if !image.first_done.swap(true, Ordering::SeqCst) {
            record(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            return Ok(aborted());
        }
    }
    let len = image.data.len() as u64;
    let range = match image.fault {
        Fault::IgnoreRange => None,
        _ => range_hdr.as_deref(),
    };
    let (status, start, end) = match parse_range(range, len) {
        Err(Unsatisfiable) => {
            record(416);
            let mut r = full(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            r.headers_mut()
                .insert("Content-Range", format!("bytes */{len}").parse().expect("ascii"));
            return Ok(r);
        }
        Ok(Some((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e + 1),
        Ok(None) => (StatusCode::OK, 0, len),
    };
    record(status.as_u16());
    let mut body = image.data.slice(start as usize..end as usize);
    if let Fault::Corrupt(k) = image.fault {
        if (start..end).contains(&k) {
            let mut v = body.to_vec();
            v[(k - start) as usize] ^= 0xFF;
            body = Bytes::from(v);
        }
    }
    let body_len = body.len() as u64;
    let announced = match image.fault {
        Fault::Lie(n) => body_len + n,
        _ => body_len,
    };
    let mut builder = Response::builder()
        .status(status)
        .header("Content-Type", "application/octet-stream")
        .header("Accept-Ranges", "bytes")
        .header("Content-Length", announced.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header("Content-Range", format!("bytes {start}-{}/{len}", end - 1));
    }
    if head {
        return Ok(builder
            .body(Full::new(Bytes::new()).map_err(|e| match e {}).boxed())
            .expect("response"));
    }
    let drop_after = match image.fault {
        Fault::Drop(n) | Fault::Stall(n) if !image.first_done.swap(true, Ordering::SeqCst) => {
            Some(n.min(body_len))
        }
        Fault::DropEvery(n) => Some(n.min(body_len)),
        _ => None,
    };
    let silence = match image.fault {
        Fault::Stall(_) => STALL_MS,
        _ => 200,
    };
    let (chunk, pause) = match image.fault {
        Fault::Throttle(b) => (((b / 10).max(1)) as usize, Some(Duration::from_millis(100))),
        // Large frames: fewer channel hand-offs and wake-ups; rustls cuts them into records.
        _ => (256 * 1024, None),
    };
    let fault = image.fault;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        let limit = drop_after.unwrap_or(body_len) as usize;
        let mut off = 0usize;
        // Bounded: at most body_len / chunk + 1 rounds.
        while off < limit {
            let n = chunk.min(limit - off);
            if tx.send(Ok(Frame::data(body.slice(off..off + n)))).await.is_err() {
                return;
            }
            off += n;
            sent.fetch_add(n as u64, Ordering::SeqCst);
            if let Some(p) = pause {
                tokio::time::sleep(p).await;
            }
        }
        if drop_after.is_some() || matches!(fault, Fault::Lie(_)) {
            // Let the connection flush what was sent (Stall: keep silent), then abort it.
            tokio::time::sleep(Duration::from_millis(silence)).await;
            if drop_after.is_some() {
                let _ = tx
                    .send(Err(std::io::Error::other("injected fault: connection dropped")))
                    .await;
            }
        }
        // Fault::Lie: ending early (after the flush above) makes hyper close the connection,
        // the body being shorter than announced.
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok(builder
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .expect("response"))
}

/// The HTTPS acceptor with the certificate in `state_dir`; `tls12_only` limits it to TLS 1.2.
fn tls_acceptor(state_dir: &Path, tls12_only: bool) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(state_dir.join("firmware.pem"))
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| std::io::Error::other(format!("firmware.pem: {e}")))?;
    let key = PrivateKeyDer::from_pem_file(state_dir.join("firmware.key"))
        .map_err(|e| std::io::Error::other(format!("firmware.key: {e}")))?;
    let builder =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()));
    let builder = if tls12_only {
        builder.with_protocol_versions(&[&rustls::version::TLS12])
    } else {
        builder.with_safe_default_protocol_versions()
    };
    let config = builder
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(std::io::Error::other)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TLS connections on `listener` until the runtime stops.
async fn serve_tls(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let acceptor = acceptor.clone();
        let sh = shared.clone();
        tokio::spawn(async move {
            if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                serve_conn(tls, sh, true).await;
            }
        });
    }
}

async fn serve_conn<S>(io: S, shared: Arc<Shared>, tls: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| handle(req, shared.clone(), tls));
    // Header names as object stores such as Aliyun OSS send them (`Content-Length`), so the
    // device's LK-040D lines read like the field logs.
    let conn = hyper::server::conn::http1::Builder::new()
        .title_case_headers(true)
        .serve_connection(TokioIo::new(io), svc);
    // A connection lives at most 10 minutes.
    let _ = tokio::time::timeout(Duration::from_secs(600), conn).await;
}

impl FirmwareServer {
    /// Starts the server on free ports of 127.0.0.1; its certificate (`firmware.pem`,
    /// `firmware.key`, DNS:localhost) is issued by the CA in `state_dir`.
    pub fn start(state_dir: &Path) -> std::io::Result<FirmwareServer> {
        crate::pki::issue_server_cert(state_dir, &["localhost"], "firmware")?;
        let acceptor = tls_acceptor(state_dir, false)?;
        let acceptor12 = tls_acceptor(state_dir, true)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("aiot-firmware")
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared::default());
        let (https, https12, http) = rt.block_on(async {
            let bind = || TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)));
            Ok::<_, std::io::Error>((bind().await?, bind().await?, bind().await?))
        })?;
        let https_port = https.local_addr()?.port();
        let https12_port = https12.local_addr()?.port();
        let http_port = http.local_addr()?.port();
        rt.spawn(serve_tls(https, acceptor, shared.clone()));
        rt.spawn(serve_tls(https12, acceptor12, shared.clone()));
        let sh = shared.clone();
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = http.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                tokio::spawn(serve_conn(tcp, sh.clone(), false));
            }
        });
        Ok(FirmwareServer {
            rt: Some(rt),
            https_port,
            https12_port,
            http_port,
            shared,
            counter: AtomicU64::new(0),
        })
    }

    pub fn https_port(&self) -> u16 {
        self.https_port
    }

    /// The port of the TLS 1.2-only HTTPS listener.
    pub fn https12_port(&self) -> u16 {
        self.https12_port
    }

    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// Adds an image and returns its path (`/ota/<hex>/<name>.bin`).
    pub fn add_image(&self, name: &str, data: Vec<u8>, fault: Fault) -> Arc<Image> {
        let image = Arc::new(Image {
            name: name.to_owned(),
            sha256: sha256_hex(&data),
            md5: md5_hex(&data),
            data: Bytes::from(data),
            fault,
            first_done: AtomicBool::new(false),
        });
        let path = self.path_of(&image);
        self.shared.images.lock().unwrap().insert(path, image.clone());
        image
    }

    fn path_of(&self, image: &Image) -> String {
        format!("/ota/{}/{}.bin", &image.md5[..32], image.name)
    }

    /// The Aliyun-like URL of `image` on `listener`:
    /// `https://localhost:<port>/ota/<hex>/<name>.bin?Expires=..&Signature=..`
    /// (`http://127.0.0.1:<port>/...` for plain HTTP).
    pub fn url(&self, image: &Image, listener: Listener) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let sig = &image.sha256[..16];
        let query = format!("Expires={}&Signature={sig}{n}", 2524608000u64 + n);
        let path = self.path_of(image);
        match listener {
            Listener::Https => format!("https://localhost:{}{path}?{query}", self.https_port),
            Listener::HttpsTls12 => format!("https://localhost:{}{path}?{query}", self.https12_port),
            Listener::Http => format!("http://127.0.0.1:{}{path}?{query}", self.http_port),
        }
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.lock().unwrap().clone()
    }
}

impl Drop for FirmwareServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-"), 10), Ok(Some((0, 9))));
        assert_eq!(parse_range(Some("bytes=3-5"), 10), Ok(Some((3, 5))));
        assert_eq!(parse_range(Some("bytes=3-50"), 10), Ok(Some((3, 9))));
        assert_eq!(parse_range(Some("bytes=-4"), 10), Ok(Some((6, 9))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=5-3"), 10), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("items=1-2"), 10), Ok(None));
    }

    #[test]
    fn faults_parse() {
        assert_eq!("none".parse(), Ok(Fault::None));
        assert_eq!("drop:100".parse(), Ok(Fault::Drop(100)));
        assert_eq!("corrupt:7".parse(), Ok(Fault::Corrupt(7)));
        assert_eq!("throttle:1000".parse(), Ok(Fault::Throttle(1000)));
        assert_eq!("status:404".parse(), Ok(Fault::Status(404)));
        assert_eq!("lie:10".parse(), Ok(Fault::Lie(10)));
        assert_eq!("drop-every:0".parse(), Ok(Fault::DropEvery(0)));
        assert_eq!("stall:5".parse(), Ok(Fault::Stall(5)));
        assert_eq!("mute:100".parse(), Ok(Fault::Mute(100)));
        assert_eq!("ignore-range".parse(), Ok(Fault::IgnoreRange));
        assert!("bogus".parse::<Fault>().is_err());
        assert!("throttle:0".parse::<Fault>().is_err());
    }

    #[test]
    fn images_are_deterministic() {
        assert_eq!(generate_image(1000, 1), generate_image(1000, 1));
        assert_ne!(generate_image(1000, 1), generate_image(1000, 2));
        assert_eq!(generate_image(1001, 0).len(), 1001);
    }
}
