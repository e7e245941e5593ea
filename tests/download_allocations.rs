//! The download allocates nothing per chunk: once the body flows, a `recv` call (TLS record
//! opened, digest updated, bytes handed to the handler) touches the heap not at all. Counted
//! with a per-thread counting allocator around downloads from the local platform's firmware
//! server (hyper + rustls, real HTTPS), TLS 1.3, TLS 1.2 and plain HTTP.
#![cfg(feature = "ota")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;

use aiot::components::download::{Download, DownloadOption};
use aiot::components::ota::codes::STATE_DOWNLOAD_FINISHED;
use aiot::components::ota::message::{TaskDesc, DIGEST_MD5, DIGEST_SHA256};
use aiot::sysdep::{posix::PosixPort, Credential, CRED_SVRCERT_CA};
use aiot_platform::firmware::{generate_image, md5_hex, sha256_hex, Fault, FirmwareServer, Listener};

/// The system allocator, counting the allocations of the calling thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // try_with: the counter may be gone while the thread exits.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiot-alloc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Downloads a 4 MiB image in 16 KiB chunks; returns the allocations of every `recv` call
/// after the first `warmup` ones (the response header, the first records).
fn allocations_per_recv(listener: Listener, method: u8, warmup: usize) -> Vec<u64> {
    let name = format!("{listener:?}-{method}");
    let dir = state_dir(&name);
    aiot_platform::pki::generate(&dir).unwrap();
    let server = FirmwareServer::start(&dir).unwrap();
    let data = generate_image(4 << 20, 7);
    let image = server.add_image(&name, data.clone(), Fault::None);
    let url = server.url(&image, listener);
    let task = TaskDesc {
        product_key: "pk".into(),
        device_name: "dn".into(),
        url: Some(url),
        size_total: data.len() as u32,
        digest_method: method,
        expect_digest: if method == DIGEST_MD5 {
            md5_hex(&data)
        } else {
            sha256_hex(&data)
        },
        version: "1.1.0".into(),
        ..TaskDesc::default()
    };
    let mut dl = Download::new(Arc::new(PosixPort));
    dl.setopt(DownloadOption::TaskDesc(task, None)).unwrap();
    dl.setopt(DownloadOption::BodyBufferMaxLen(16 * 1024)).unwrap();
    dl.setopt(DownloadOption::RecvTimeoutMs(5000)).unwrap();
    if !matches!(listener, Listener::Http) {
        let ca = std::fs::read(dir.join("ca.pem")).unwrap();
        dl.setopt(DownloadOption::NetworkCred(Credential {
            option: CRED_SVRCERT_CA,
            max_tls_fragment: 16384,
            sni_enabled: 1,
            server_ca: Some(ca),
            client_cert: None,
            client_key: None,
        }))
        .unwrap();
    }
    let before = allocations();
    dl.send_request().unwrap();
    // The counter sees this thread's allocations (a request does allocate: URL, headers).
    assert!(allocations() > before, "{name}: the counter counts");
    let (mut received, mut counts) = (0usize, Vec::new());
    // Bounded: 4 MiB in 16 KiB chunks is 256 calls; a stuck download fails the assert below.
    for call in 0..2000 {
        let before = allocations();
        let res = dl.recv_with(&mut |chunk, _| received += chunk.len());
        let used = allocations() - before;
        match res {
            n if n >= 0 && call >= warmup => counts.push(used),
            n if n >= 0 => {}
            code => {
                assert_eq!(code, STATE_DOWNLOAD_FINISHED, "{name}: {code}");
                break;
            }
        }
    }
    assert_eq!(received, data.len(), "{name}: the whole image");
    drop(dl);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    counts
}

#[test]
fn no_allocation_per_chunk() {
    for (listener, method) in [
        (Listener::Https, DIGEST_SHA256),
        (Listener::Https, DIGEST_MD5),
        (Listener::HttpsTls12, DIGEST_SHA256),
        (Listener::Http, DIGEST_SHA256),
    ] {
        let counts = allocations_per_recv(listener, method, 4);
        assert!(counts.len() > 200, "{listener:?}: {} calls", counts.len());
        let total: u64 = counts.iter().sum();
        assert_eq!(
            total, 0,
            "{listener:?} digest {method}: allocations per recv after the first four: {counts:?}"
        );
    }
}
