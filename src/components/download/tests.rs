//! Downloads from the platform's firmware server (`aiot_platform::firmware`, plain and TLS, with
//! its injected faults), and from a small local server for the byte-exact hostile answers it
//! cannot give (odd or malformed headers, a missing length, an ignored range on resume, SNI).

use super::*;
use crate::components::ota::message::{DIGEST_MD5, DIGEST_SHA256};
use crate::sysdep::posix::PosixPort;

use md5::{Digest as _, Md5};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use rustls_pki_types::pem::PemObject;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::sysdep::{Credential, CRED_SVRCERT_CA};
use aiot_platform::firmware::{Fault as ServerFault, FirmwareServer, Image, Listener};
use aiot_platform::pki::TestPki;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The platform's test CA (made once per test process).
fn ca_pem() -> &'static str {
    &TestPki::shared().ca.cert
}

/// A credential that trusts `ca_pem` (SNI on, 16 KB fragments, no client certificate).
fn ca_cred(ca_pem: &str) -> Credential {
    Credential {
        option: CRED_SVRCERT_CA,
        max_tls_fragment: 16384,
        sni_enabled: 1,
        server_ca: Some(ca_pem.as_bytes().to_vec()),
        client_cert: None,
        client_key: None,
    }
}

/// Upstream's code of a failed call, through the one mapping.
trait Code {
    fn code(self) -> i32;
}

impl Code for DownloadError {
    fn code(self) -> i32 {
        unit_code(Err(self))
    }
}

/// What the server does on one connection.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// A correct 206 for the requested range.
    None,
    /// The full header, then only this many body bytes, then close.
    DropAfter(usize),
    /// No `Content-Length`: the body runs until the close.
    NoLength,
    /// This many garbage bytes after the announced body.
    Extra(usize),
    /// `HTTP/1.0` status line, lower-case header names and a 2 KB header line.
    Odd,
    /// Ignores the range: 200 with the whole image.
    IgnoreRange,
    /// A `103 Early Hints` interim response before the real one.
    Interim,
    /// Not an HTTP status line.
    Garbage,
    /// A header block larger than any header buffer (one 200 KB line).
    HugeHeader,
}

struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    /// The SNI of each TLS connection (None: the client sent none).
    snis: Arc<Mutex<Vec<Option<String>>>>,
}

impl Server {
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn image(len: usize) -> Arc<Vec<u8>> {
    let mut x: u32 = 0x1234_5678;
    Arc::new(
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect(),
    )
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data).iter().map(|b| format!("{b:02X}")).collect()
}

fn tls_config() -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(TestPki::shared().server.cert.as_bytes())
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_slice(TestPki::shared().server.key.as_bytes()).unwrap();
    Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// Serves `image` on 127.0.0.1; connection `i` gets `faults[i]` (later ones `Fault::None`).
fn serve(image: Arc<Vec<u8>>, faults: Vec<Fault>, tls: bool) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let snis = Arc::new(Mutex::new(Vec::new()));
    let (seen, names) = (Arc::clone(&requests), Arc::clone(&snis));
    let config = tls.then(tls_config);
    thread::spawn(move || {
        for (i, sock) in listener.incoming().enumerate() {
            let Ok(mut sock) = sock else { return };
            let fault = faults.get(i).copied().unwrap_or(Fault::None);
            let (image, seen, config) = (Arc::clone(&image), Arc::clone(&seen), config.clone());
            let names = Arc::clone(&names);
            thread::spawn(move || {
                sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                sock.set_nodelay(true).unwrap();
                match config {
                    Some(cfg) => {
                        let mut conn = ServerConnection::new(cfg).unwrap();
                        while conn.is_handshaking() {
                            if conn.complete_io(&mut sock).is_err() {
                                return;
                            }
                        }
                        names.lock().unwrap().push(conn.server_name().map(str::to_owned));
                        handle(StreamOwned::new(conn, sock), &image, fault, &seen);
                    }
                    None => handle(sock, &image, fault, &seen),
                }
            });
        }
    });
    Server { port, requests, snis }
}

fn handle<S: Read + Write>(mut s: S, image: &[u8], fault: Fault, seen: &Mutex<Vec<String>>) {
    let mut req = Vec::new();
    let mut byte = [0u8; 1];
    while !req.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => req.push(byte[0]),
            _ => return,
        }
    }
    let req = String::from_utf8_lossy(&req).into_owned();
    seen.lock().unwrap().push(req.clone());
    let range = req.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("range: bytes=")
            .map(str::to_owned)
    });
    let last = image.len().saturating_sub(1);
    let (from, to) = match range.as_deref().and_then(|r| r.split_once('-')) {
        Some((a, b)) => (
            a.parse::<usize>().unwrap(),
            b.parse::<usize>().map_or(last, |b| b.min(last)),
        ),
        None => (0, last),
    };
    let body: &[u8] = if from <= to && from < image.len() {
        &image[from..=to]
    } else {
        &[]
    };
    let ok_head = |status: &str| {
        format!(
            "{status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{to}/{}\r\nAccept-Ranges: bytes\r\n\r\n",
            body.len(),
            image.len()
        )
    };
    let _ = match fault {
        Fault::None => s
            .write_all(ok_head("HTTP/1.1 206 Partial Content").as_bytes())
            .and_then(|_| s.write_all(body)),
        Fault::DropAfter(n) => s
            .write_all(ok_head("HTTP/1.1 206 Partial Content").as_bytes())
            .and_then(|_| s.write_all(&body[..n.min(body.len())])),
        Fault::NoLength => s
            .write_all(b"HTTP/1.1 206 Partial Content\r\nConnection: close\r\n\r\n")
            .and_then(|_| s.write_all(body)),
        Fault::Extra(n) => s
            .write_all(ok_head("HTTP/1.1 206 Partial Content").as_bytes())
            .and_then(|_| s.write_all(body))
            .and_then(|_| s.write_all(&vec![0xEE; n])),
        Fault::Odd => s
            .write_all(
                format!(
                    "HTTP/1.0 206 Partial Content\r\ncontent-type: application/octet-stream\r\nx-long: {}\r\ncontent-length: {}\r\n\r\n",
                    "a".repeat(2000),
                    body.len()
                )
                .as_bytes(),
            )
            .and_then(|_| s.write_all(body)),
        Fault::Interim => s
            .write_all(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n")
            .and_then(|_| s.write_all(ok_head("HTTP/1.1 206 Partial Content").as_bytes()))
            .and_then(|_| s.write_all(body)),
        Fault::Garbage => s.write_all(b"HTTX/9.9 two hundred\r\nContent-Length: 3\r\n\r\nabc"),
        Fault::HugeHeader => s
            .write_all(format!("HTTP/1.1 206 Partial Content\r\nX-Big: {}\r\n", "b".repeat(200_000)).as_bytes())
            .and_then(|_| s.write_all(ok_head("X-End: 1").as_bytes()))
            .and_then(|_| s.write_all(body)),
        Fault::IgnoreRange => s
            .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", image.len()).as_bytes())
            .and_then(|_| s.write_all(image)),
    };
    // Close right away (the whole request was read, so this is a clean FIN).
    let _ = s.flush();
}

fn task(url: String, img: &[u8], method: u8) -> TaskDesc {
    let expect_digest = if method == DIGEST_MD5 {
        md5_hex(img)
    } else {
        sha256_hex(img)
    };
    TaskDesc {
        product_key: "pk".into(),
        device_name: "dn".into(),
        url: Some(url),
        size_total: img.len() as u32,
        digest_method: method,
        expect_digest,
        version: "1.0.0".into(),
        ..TaskDesc::default()
    }
}

fn download(server: &Server, img: &[u8], buffer: u32) -> Download {
    let url = format!("http://127.0.0.1:{}/fw/image.bin?sig=a%2Fb#frag", server.port);
    let mut dl = Download::new(Arc::new(PosixPort));
    dl.setopt(DownloadOption::TaskDesc(task(url, img, DIGEST_SHA256), None))
        .unwrap();
    dl.setopt(DownloadOption::BodyBufferMaxLen(buffer)).unwrap();
    dl.setopt(DownloadOption::RecvTimeoutMs(2000)).unwrap();
    dl
}

/// [`download`] of `https://<host>:<port>/fw.bin`, trusting the test CA.
fn tls_download(server: &Server, img: &[u8], host: &str) -> Download {
    let mut dl = download(server, img, 64 * 1024);
    let url = format!("https://{host}:{}/fw.bin", server.port);
    dl.setopt(DownloadOption::TaskDesc(task(url, img, DIGEST_SHA256), None))
        .unwrap();
    dl.setopt(DownloadOption::NetworkCred(ca_cred(ca_pem()))).unwrap();
    dl
}

/// What one `recv` gave.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Bytes(usize),
    Zero,
    Code(i32),
}

struct Run {
    data: Vec<u8>,
    percents: Vec<i32>,
    steps: Vec<Step>,
}

/// Calls `recv` until FINISHED, RANGE_FINISHED or `max` calls, collecting everything.
fn run(dl: &mut Download, max: usize) -> Run {
    let mut r = Run {
        data: Vec::new(),
        percents: Vec::new(),
        steps: Vec::new(),
    };
    for _ in 0..max {
        let (data, percents) = (&mut r.data, &mut r.percents);
        let step = match dl.recv_with(&mut |chunk, pct| {
            data.extend_from_slice(chunk);
            percents.push(pct);
        }) {
            0 => Step::Zero,
            n if n > 0 => Step::Bytes(n as usize),
            c => Step::Code(c),
        };
        let done = matches!(
            step,
            Step::Code(STATE_DOWNLOAD_FINISHED | STATE_DOWNLOAD_RANGE_FINISHED)
        );
        r.steps.push(step);
        if done {
            break;
        }
    }
    r
}

fn codes(r: &Run) -> Vec<i32> {
    r.steps
        .iter()
        .filter_map(|s| match s {
            Step::Code(c) => Some(*c),
            Step::Zero => Some(0),
            Step::Bytes(_) => None,
        })
        .collect()
}

#[test]
fn md5_and_odd_response_headers() {
    let img = image(5000);
    let server = serve(Arc::clone(&img), vec![Fault::Odd], false);
    let url = format!("http://127.0.0.1:{}/x", server.port);
    let mut dl = Download::new(Arc::new(PosixPort));
    dl.setopt(DownloadOption::TaskDesc(task(url, &img, DIGEST_MD5), None))
        .unwrap();
    dl.send_request().unwrap();
    let r = run(&mut dl, 10);
    assert!(r.data == *img);
    assert_eq!(r.steps.len(), 4, "{:?}", r.steps);
    assert_eq!(r.percents, vec![40, 81, 100]);
}

#[test]
fn interim_response_is_skipped() {
    let img = image(3000);
    let server = serve(Arc::clone(&img), vec![Fault::Interim], false);
    let mut dl = download(&server, &img, 4096);
    dl.send_request().unwrap();
    let r = run(&mut dl, 5);
    assert!(r.data == *img);
    assert_eq!(
        r.steps,
        vec![Step::Bytes(3000), Step::Code(STATE_DOWNLOAD_FINISHED)]
    );
}

#[test]
fn tls_download_sends_the_host_as_sni() {
    // A certificate for localhost and 127.0.0.1: SNI for the name, none for the IP literal.
    for (host, sni) in [("localhost", Some("localhost".to_owned())), ("127.0.0.1", None)] {
        let img = image(20_000);
        let server = serve(Arc::clone(&img), vec![], true);
        let mut dl = tls_download(&server, &img, host);
        dl.send_request().unwrap();
        let r = run(&mut dl, 20);
        assert!(r.data == *img, "{host}");
        assert_eq!(*server.snis.lock().unwrap(), vec![sni], "{host}");
    }
}

#[test]
fn malformed_responses_are_header_errors() {
    for (fault, want) in [
        (Fault::Garbage, STATE_HTTP_HEADER_INVALID),
        (Fault::HugeHeader, STATE_HTTP_HEADER_BUFFER_TOO_SHORT),
    ] {
        let img = image(1000);
        let server = serve(Arc::clone(&img), vec![fault; 20], false);
        let mut dl = download(&server, &img, 4096);
        dl.send_request().unwrap();
        let r = run(&mut dl, 3);
        assert!(r.data.is_empty(), "{fault:?}");
        // Each bad answer is reported, then a renewal asks again (paced, see
        // dead_server_renewals_back_off_and_calls_last_the_receive_timeout).
        assert_eq!(
            codes(&r),
            vec![want, STATE_DOWNLOAD_RENEWAL_REQUEST_SENT, want],
            "{fault:?}"
        );
    }
}

#[test]
fn missing_content_length_is_a_header_error() {
    let img = image(1000);
    let server = serve(Arc::clone(&img), vec![Fault::NoLength], false);
    let mut dl = download(&server, &img, 4096);
    dl.send_request().unwrap();
    let r = run(&mut dl, 3);
    assert!(r.data.is_empty());
    assert_eq!(codes(&r), vec![STATE_DOWNLOAD_HTTPRSP_HEADER_ERROR; 3]);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn bytes_beyond_content_length_are_ignored() {
    let img = image(10_000);
    let server = serve(Arc::clone(&img), vec![Fault::Extra(5000)], false);
    let mut dl = download(&server, &img, 4096);
    dl.send_request().unwrap();
    let r = run(&mut dl, 10);
    assert!(r.data == *img);
    assert_eq!(codes(&r), vec![STATE_DOWNLOAD_FINISHED]);
}

#[test]
fn server_ignoring_the_range_on_resume_is_fetch_too_many() {
    let img = image(20_000);
    let server = serve(
        Arc::clone(&img),
        vec![Fault::DropAfter(5000), Fault::IgnoreRange],
        false,
    );
    let mut dl = download(&server, &img, 4096);
    dl.send_request().unwrap();
    let r = run(&mut dl, 6);
    assert!(r.data == img[..5000]);
    assert_eq!(
        codes(&r),
        vec![
            STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED,
            STATE_DOWNLOAD_RENEWAL_REQUEST_SENT,
            STATE_DOWNLOAD_FETCH_TOO_MANY,
            STATE_DOWNLOAD_FETCH_TOO_MANY
        ]
    );
}

#[test]
fn renewal_backoff_doubles_with_jitter_up_to_the_cap() {
    assert_eq!(renewal_backoff(0, u32::MAX), 0);
    for (n, full) in [(1, 1000), (2, 2000), (3, 4000), (7, 60_000), (40, 60_000)] {
        assert_eq!(renewal_backoff(n, 0), full);
        assert_eq!(renewal_backoff(n, full as u32 / 2), full / 2);
        let b = renewal_backoff(n, 0x1234_5678);
        assert!((full / 2..=full).contains(&b), "{n}: {b}");
    }
}

#[test]
fn refused_connection_returns_the_port_code() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let img = image(10);
    let mut dl = Download::new(Arc::new(PosixPort));
    let url = format!("http://127.0.0.1:{port}/x");
    dl.setopt(DownloadOption::TaskDesc(task(url, &img, DIGEST_SHA256), None))
        .unwrap();
    assert_eq!(
        dl.send_request().unwrap_err().code(),
        STATE_PORT_NETWORK_CONNECT_FAILED
    );
    assert_eq!(dl.recv_with(&mut |_, _| panic!()), 0);
}

#[test]
fn request_errors() {
    let mut dl = Download::new(Arc::new(PosixPort));
    assert_eq!(
        dl.send_request().unwrap_err().code(),
        STATE_DOWNLOAD_REQUEST_TASK_DESC_IS_NULL
    );
    assert_eq!(
        dl.report_progress(5).unwrap_err().code(),
        STATE_DOWNLOAD_REPORT_TASK_DESC_IS_NULL
    );
    let img = image(10);
    let mut t = task("x".into(), &img, DIGEST_SHA256);
    t.url = None;
    dl.setopt(DownloadOption::TaskDesc(t.clone(), None)).unwrap();
    assert_eq!(
        dl.send_request().unwrap_err().code(),
        STATE_DOWNLOAD_REQUEST_URL_IS_NULL
    );
    t.url = Some("no-scheme/x".into());
    dl.setopt(DownloadOption::TaskDesc(t.clone(), None)).unwrap();
    assert_eq!(
        dl.send_request().unwrap_err().code(),
        STATE_OTA_PARSE_URL_HOST_IS_NULL
    );
    t.url = Some("http://host-only".into());
    dl.setopt(DownloadOption::TaskDesc(t.clone(), None)).unwrap();
    assert_eq!(
        dl.send_request().unwrap_err().code(),
        STATE_OTA_PARSE_URL_PATH_IS_NULL
    );
    t.digest_method = 9;
    assert_eq!(
        dl.setopt(DownloadOption::TaskDesc(t, None)).unwrap_err().code(),
        STATE_OTA_UNKNOWN_DIGEST_METHOD
    );
    assert_eq!(
        dl.setopt(DownloadOption::BodyBufferMaxLen(0)),
        Err(DownloadError::Core(Error::OutOfRange))
    );
    assert_eq!(
        dl.report_progress(5),
        Err(DownloadError::Core(Error::NullPointer))
    );
}

/// The platform's firmware server holding one image, in a state directory of its own (its PKI:
/// `ca.pem`, `wrong-ca.pem`) removed on drop.
struct Platform {
    server: FirmwareServer,
    image: Arc<Image>,
    dir: PathBuf,
}

impl Platform {
    fn start(img: &[u8], fault: ServerFault) -> Platform {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "aiot-download-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        aiot_platform::pki::generate(&dir).unwrap();
        let server = FirmwareServer::start(&dir).unwrap();
        let image = server.add_image("fw", img.to_vec(), fault);
        Platform { server, image, dir }
    }

    fn url(&self, listener: Listener) -> String {
        self.server.url(&self.image, listener)
    }

    /// A download of the image over plain HTTP, `buffer` bytes per recv.
    fn download(&self, img: &[u8], buffer: u32) -> Download {
        let mut dl = Download::new(Arc::new(PosixPort));
        let url = self.url(Listener::Http);
        dl.setopt(DownloadOption::TaskDesc(task(url, img, DIGEST_SHA256), None))
            .unwrap();
        dl.setopt(DownloadOption::BodyBufferMaxLen(buffer)).unwrap();
        dl.setopt(DownloadOption::RecvTimeoutMs(2000)).unwrap();
        dl
    }

    /// The CA file of the server's PKI (`ca.pem` or `wrong-ca.pem`).
    fn ca(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap()
    }

    /// The Range header of each request (empty when none).
    fn ranges(&self) -> Vec<String> {
        self.server
            .requests()
            .iter()
            .map(|r| r.range.clone().unwrap_or_default())
            .collect()
    }

    fn request_count(&self) -> usize {
        self.server.requests().len()
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn plain_download_delivers_the_image() {
    let img = image(100_000);
    let fw = Platform::start(&img, ServerFault::None);
    let mut dl = fw.download(&img, 4096);
    dl.send_request().unwrap();
    let r = run(&mut dl, 200);
    assert_eq!(r.data.len(), img.len());
    assert!(r.data == *img);
    assert_eq!(codes(&r), vec![STATE_DOWNLOAD_FINISHED]);
    // Full chunks except the last; percents never go down and end at 100.
    assert!(r.steps[..24].iter().all(|s| *s == Step::Bytes(4096)));
    assert!(r.percents.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(r.percents[0], 4);
    assert_eq!(*r.percents.last().unwrap(), 100);
    // FINISHED again on later calls; one request.
    assert_eq!(dl.recv_with(&mut |_, _| panic!()), STATE_DOWNLOAD_FINISHED);
    assert_eq!(fw.ranges(), vec!["bytes=0-"]);
}

#[test]
fn tls_download_verifies_the_server() {
    let img = image(300_000);
    let fw = Platform::start(&img, ServerFault::None);
    let mut dl = fw.download(&img, 64 * 1024);
    let url = fw.url(Listener::Https);
    dl.setopt(DownloadOption::TaskDesc(task(url, &img, DIGEST_SHA256), None))
        .unwrap();
    dl.setopt(DownloadOption::NetworkCred(ca_cred(&fw.ca("ca.pem"))))
        .unwrap();
    dl.send_request().unwrap();
    let r = run(&mut dl, 20);
    assert!(r.data == *img);
    assert_eq!(codes(&r), vec![STATE_DOWNLOAD_FINISHED]);
    assert_eq!(*r.percents.last().unwrap(), 100);
    assert!(fw.server.requests()[0].tls);

    // The same credential with an http:// URL is refused before connecting.
    let url = fw.url(Listener::Http);
    dl.setopt(DownloadOption::TaskDesc(task(url, &img, DIGEST_SHA256), None))
        .unwrap();
    assert_eq!(
        dl.send_request().unwrap_err().code(),
        STATE_DOWNLOAD_SEND_REQUEST_FAILED
    );
    assert_eq!(dl.recv_with(&mut |_, _| panic!()), 0);
    assert_eq!(fw.request_count(), 1);

    // A CA that did not sign the server certificate: the handshake fails, nothing is sent.
    let url = fw.url(Listener::Https);
    dl.setopt(DownloadOption::TaskDesc(task(url, &img, DIGEST_SHA256), None))
        .unwrap();
    dl.setopt(DownloadOption::NetworkCred(ca_cred(&fw.ca("wrong-ca.pem"))))
        .unwrap();
    assert_eq!(
        dl.send_request().unwrap_err().code(),
        STATE_PORT_TLS_INVALID_HANDSHAKE
    );
    assert_eq!(dl.recv_with(&mut |_, _| panic!()), 0);
    assert_eq!(fw.request_count(), 1);
}

#[test]
fn dropped_connection_resumes_from_the_last_byte() {
    let img = image(50_000);
    let fw = Platform::start(&img, ServerFault::Drop(20_000));
    let mut dl = fw.download(&img, 8192);
    dl.send_request().unwrap();
    let r = run(&mut dl, 50);
    assert!(r.data == *img);
    assert_eq!(
        codes(&r),
        vec![
            STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED,
            STATE_DOWNLOAD_RENEWAL_REQUEST_SENT,
            STATE_DOWNLOAD_FINISHED
        ]
    );
    assert_eq!(fw.ranges(), vec!["bytes=0-", "bytes=20000-"]);
}

#[test]
fn stalled_body_times_out_and_renews() {
    let img = image(30_000);
    let fw = Platform::start(&img, ServerFault::Stall(10_000));
    let mut dl = fw.download(&img, 8192);
    dl.setopt(DownloadOption::RecvTimeoutMs(300)).unwrap();
    dl.send_request().unwrap();
    let start = Instant::now();
    let r = run(&mut dl, 50);
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(r.data == *img);
    // 8192, then the rest of the 10000 after the timeout, then a timeout (0) and a renewal.
    assert_eq!(r.steps[0], Step::Bytes(8192));
    assert_eq!(r.steps[1], Step::Bytes(1808));
    assert_eq!(
        codes(&r),
        vec![0, STATE_DOWNLOAD_RENEWAL_REQUEST_SENT, STATE_DOWNLOAD_FINISHED]
    );
    assert_eq!(fw.ranges(), vec!["bytes=0-", "bytes=10000-"]);
}

#[test]
fn mute_server_is_a_recv_timeout_then_a_renewal() {
    let img = image(1000);
    let fw = Platform::start(&img, ServerFault::Mute(1000));
    let mut dl = fw.download(&img, 4096);
    dl.setopt(DownloadOption::RecvTimeoutMs(200)).unwrap();
    dl.send_request().unwrap();
    let r = run(&mut dl, 10);
    assert!(r.data == *img);
    assert_eq!(
        codes(&r),
        vec![0, STATE_DOWNLOAD_RENEWAL_REQUEST_SENT, STATE_DOWNLOAD_FINISHED]
    );
}

#[test]
fn digest_mismatch_gives_minus_three_then_finished() {
    let img = image(10_000);
    let fw = Platform::start(&img, ServerFault::None);
    let mut dl = fw.download(&img, 4096);
    let mut t = task(fw.url(Listener::Http), &img, DIGEST_SHA256);
    t.expect_digest = sha256_hex(b"something else");
    dl.setopt(DownloadOption::TaskDesc(t, None)).unwrap();
    dl.send_request().unwrap();
    let r = run(&mut dl, 10);
    assert!(r.data == *img);
    assert_eq!(r.percents, vec![40, 81, -3]);
    assert_eq!(codes(&r), vec![STATE_DOWNLOAD_FINISHED]);
}

#[test]
fn bad_status_is_final_for_the_request() {
    // Client and server errors alike: HTTPRSP_CODE_ERROR on every recv, no renewal.
    for status in [404, 500] {
        let img = image(1000);
        let fw = Platform::start(&img, ServerFault::Status(status));
        let mut dl = fw.download(&img, 4096);
        dl.send_request().unwrap();
        let r = run(&mut dl, 3);
        assert!(r.data.is_empty(), "{status}");
        assert_eq!(codes(&r), vec![STATE_DOWNLOAD_HTTPRSP_CODE_ERROR; 3], "{status}");
        assert_eq!(fw.request_count(), 1, "{status}");
    }
}

#[test]
fn network_port_is_used_when_the_url_has_none() {
    let img = image(5000);
    let fw = Platform::start(&img, ServerFault::None);
    let mut dl = fw.download(&img, 4096);
    // http://127.0.0.1:<port>/path -> http://127.0.0.1/path
    let url = fw.url(Listener::Http);
    let port = format!(":{}", fw.server.http_port());
    let url = url.replacen(&port, "", 1);
    dl.setopt(DownloadOption::TaskDesc(task(url, &img, DIGEST_SHA256), None))
        .unwrap();
    dl.setopt(DownloadOption::NetworkPort(fw.server.http_port()))
        .unwrap();
    dl.send_request().unwrap();
    let r = run(&mut dl, 50);
    assert_eq!(r.data, *img);
    assert_eq!(codes(&r).last(), Some(&STATE_DOWNLOAD_FINISHED));
    assert_eq!(fw.request_count(), 1);
}

#[test]
fn response_longer_than_the_image_is_fetch_too_many() {
    let img = image(10_000);
    let fw = Platform::start(&img, ServerFault::None);
    let mut dl = fw.download(&img, 4096);
    // The task says 6000 bytes; the server has 10000.
    let mut t = task(fw.url(Listener::Http), &img[..6000], DIGEST_SHA256);
    t.size_total = 6000;
    dl.setopt(DownloadOption::TaskDesc(t, None)).unwrap();
    dl.send_request().unwrap();
    let r = run(&mut dl, 3);
    assert!(r.data.is_empty());
    assert_eq!(codes(&r), vec![STATE_DOWNLOAD_FETCH_TOO_MANY; 3]);
}

#[test]
fn ranges_finish_one_by_one() {
    let img = image(10_000);
    let fw = Platform::start(&img, ServerFault::None);
    let mut dl = fw.download(&img, 4096);
    dl.setopt(DownloadOption::RangeStart(0)).unwrap();
    dl.setopt(DownloadOption::RangeEnd(5999)).unwrap();
    dl.send_request().unwrap();
    let r1 = run(&mut dl, 5);
    assert_eq!(codes(&r1), vec![STATE_DOWNLOAD_RANGE_FINISHED]);
    assert!(r1.data == img[..6000]);
    assert_eq!(r1.percents, vec![40, 60]);
    // Called again, the finished response renews from the next byte (as upstream).
    assert_eq!(dl.recv_with(&mut |_, _| panic!()), STATE_HTTP_READ_BODY_FINISHED);
    dl.setopt(DownloadOption::RangeStart(6000)).unwrap();
    dl.setopt(DownloadOption::RangeEnd(0)).unwrap();
    dl.send_request().unwrap();
    let r2 = run(&mut dl, 5);
    assert_eq!(codes(&r2), vec![STATE_DOWNLOAD_FINISHED]);
    assert!(r2.data == img[6000..]);
    assert_eq!(*r2.percents.last().unwrap(), 100);
    assert_eq!(fw.ranges()[..2], ["bytes=0-5999", "bytes=6000-"]);
}

#[test]
fn dead_server_renewals_back_off_and_calls_last_the_receive_timeout() {
    // No request ever completes. A caller looping on recv must not spin.
    let img = image(1000);
    let fw = Platform::start(&img, ServerFault::DropEvery(0));
    let mut dl = fw.download(&img, 4096);
    dl.setopt(DownloadOption::RecvTimeoutMs(100)).unwrap();
    dl.send_request().unwrap();
    let mut renewals = 0;
    for call in 0..24 {
        let t = Instant::now();
        let r = dl.recv_with(&mut |_, _| panic!("no body"));
        let took = t.elapsed();
        if r == STATE_DOWNLOAD_RENEWAL_REQUEST_SENT {
            renewals += 1;
        }
        // The first failure and its renewal go at upstream's pace; then each call waits.
        if call >= 2 {
            assert!(took >= Duration::from_millis(95), "call {call}: {r} in {took:?}");
        }
        assert!(took < Duration::from_millis(1500), "call {call}: {r} in {took:?}");
    }
    // 24 calls of >= 100 ms: the first renewal at once, the next after 0.5-1 s, then 1-2 s.
    assert!((2..=4).contains(&renewals), "{renewals} renewals");
    assert_eq!(fw.request_count(), 1 + renewals);
    // send_request starts again at once.
    let fw = Platform::start(&img, ServerFault::None);
    let mut dl = fw.download(&img, 4096);
    dl.send_request().unwrap();
    assert!(run(&mut dl, 5).data == *img);
}

#[test]
fn empty_image_is_finished_at_once() {
    let img = image(0);
    let fw = Platform::start(&img, ServerFault::None);
    let mut dl = fw.download(&img, 4096);
    dl.send_request().unwrap();
    let r = run(&mut dl, 3);
    assert_eq!(codes(&r), vec![STATE_DOWNLOAD_FINISHED]);
}

#[test]
fn request_and_response_lines_are_logged() {
    let img = image(100);
    let fw = Platform::start(&img, ServerFault::None);
    let mut dl = fw.download(&img, 4096);
    let url = fw.url(Listener::Http);
    dl.setopt(DownloadOption::TaskDesc(
        task(url.clone(), &img, DIGEST_SHA256),
        None,
    ))
    .unwrap();
    let me = thread::current().id();
    let lines = Arc::new(Mutex::new(Vec::<(i32, String)>::new()));
    let sink_lines = Arc::clone(&lines);
    log::set_sink(Some(Arc::new(move |code, line: &mut [u8]| {
        if thread::current().id() == me {
            let text = String::from_utf8_lossy(line.strip_suffix(&[0]).unwrap()).into_owned();
            sink_lines.lock().unwrap().push((code, text));
        }
    })));
    dl.send_request().unwrap();
    let r = run(&mut dl, 3);
    log::set_sink(None);
    assert!(r.data == *img);
    // Strip the "[ts][LK-XXXX] " prefix of ordinary lines.
    let text = |want: i32| -> Vec<String> {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| *c == want)
            .map(|(_, t)| t.split_once("] ").map_or(t.clone(), |(_, rest)| rest.to_owned()))
            .collect()
    };
    // The request, line by line, as upstream writes it.
    let target = &url[url.find("/ota/").unwrap()..];
    assert_eq!(
        text(STATE_HTTP_LOG_SEND_HEADER),
        vec![
            format!("> GET {target} HTTP/1.1\r\n"),
            format!("> Host: 127.0.0.1:{}\r\n", fw.server.http_port()),
            "> Accept: text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8\r\n".to_owned(),
            "> Range: bytes=0-\r\n".to_owned(),
            "> Content-Length: 0\r\n".to_owned(),
            "> \r\n".to_owned(),
        ]
    );
    let recv = text(STATE_HTTP_LOG_RECV_HEADER);
    assert_eq!(recv[0], "< HTTP/1.1 206 Partial Content\r\n");
    assert!(recv.contains(&"< Content-Length: 100\r\n".to_owned()), "{recv:?}");
    assert_eq!(recv.last().unwrap(), "< \r\n");
    assert_eq!(
        text(STATE_OTA_DIGEST_MATCH),
        vec!["digest matched\r\n".to_owned()]
    );
    // The body chunk is dumped: blank, 7 lines of 16 bytes, blank.
    assert_eq!(text(STATE_HTTP_LOG_RECV_CONTENT).len(), 9);
    let adapter = text(STATE_ADAPTER_COMMON);
    assert!(adapter.is_empty(), "{adapter:?}");
}

/// `cargo test --release --lib download::tests::throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn throughput() {
    let img = image(64 << 20);
    let only = std::env::var("AIOT_TP_ONLY").ok();
    let fw = Platform::start(&img, ServerFault::None);
    for (scheme, listener) in [("http", Listener::Http), ("https", Listener::Https)] {
        if only.as_deref().is_some_and(|o| o != scheme) {
            continue;
        }
        let mut dl = fw.download(&img, 128 * 1024);
        dl.setopt(DownloadOption::TaskDesc(
            task(fw.url(listener), &img, DIGEST_SHA256),
            None,
        ))
        .unwrap();
        if listener == Listener::Https {
            dl.setopt(DownloadOption::NetworkCred(ca_cred(&fw.ca("ca.pem"))))
                .unwrap();
        }
        let start = Instant::now();
        dl.send_request().unwrap();
        let mut total = 0usize;
        let mut last = 0;
        // Bounded: 64 MiB in 128 KiB chunks is 512 calls.
        for _ in 0..10_000 {
            match dl.recv_with(&mut |c, p| {
                total += c.len();
                last = p;
            }) {
                n if n >= 0 => {}
                c => {
                    assert_eq!(c, STATE_DOWNLOAD_FINISHED);
                    break;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(total, img.len());
        assert_eq!(last, 100);
        println!("{scheme}: {:.0} MB/s", img.len() as f64 / secs / 1e6);
    }
}

#[test]
fn download_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Download>();
}
