//! The OTA side: the firmware server (Range, every fault) through curl, and whole `ota-exec` runs
//! with a shell device stand-in (mosquitto_sub/mosquitto_pub + curl). Tests skip themselves when
//! curl or the mosquitto clients are missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use aiot_platform::firmware::{generate_image, Fault, FirmwareServer, Listener};

const EXE: &str = env!("CARGO_BIN_EXE_aiot-platform");

/// Fails the test (never skips it) when a tool it drives is missing.
fn require(tools: &[&str]) {
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is missing: scripts/deps.sh installs what the tests need"
        );
    }
}

fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiot-platform-ota-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Fetch {
    code: i32,
    status: String,
    headers: String,
    body: Vec<u8>,
}

/// GET `url` with curl (optionally with a Range), trusting the platform CA of `dir`.
fn curl(dir: &Path, url: &str, range: Option<&str>) -> Fetch {
    let body = dir.join(format!("body-{}", rand_suffix()));
    let hdrs = dir.join(format!("hdrs-{}", rand_suffix()));
    let mut cmd = Command::new("curl");
    cmd.arg("-s")
        .arg("--max-time")
        .arg("10")
        .arg("--cacert")
        .arg(dir.join("ca.pem"))
        .arg("-o")
        .arg(&body)
        .arg("-D")
        .arg(&hdrs)
        .arg("-w")
        .arg("%{http_code}");
    if let Some(r) = range {
        cmd.arg("-H").arg(format!("Range: {r}"));
    }
    let out = cmd.arg(url).output().unwrap();
    let f = Fetch {
        code: out.status.code().unwrap_or(-1),
        status: String::from_utf8_lossy(&out.stdout).into_owned(),
        headers: std::fs::read_to_string(&hdrs)
            .unwrap_or_default()
            .to_ascii_lowercase(),
        body: std::fs::read(&body).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(body);
    let _ = std::fs::remove_file(hdrs);
    f
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn server(name: &str) -> (PathBuf, FirmwareServer) {
    require(&["curl"]);
    let dir = state_dir(name);
    aiot_platform::pki::generate(&dir).unwrap();
    let s = FirmwareServer::start(&dir).unwrap();
    (dir, s)
}

#[test]
fn range_serving() {
    let (dir, s) = server("range");
    let data = generate_image(10_000, 3);
    let img = s.add_image("fw", data.clone(), Fault::None);
    let url = s.url(&img, Listener::Https);
    assert!(
        url.starts_with(&format!("https://localhost:{}/ota/", s.https_port())),
        "{url}"
    );
    assert!(
        url.contains(".bin?Expires=") && url.contains("&Signature="),
        "{url}"
    );

    let f = curl(&dir, &url, None);
    assert_eq!((f.code, f.status.as_str()), (0, "200"));
    assert_eq!(f.body, data);
    assert!(f.headers.contains("content-length: 10000"), "{}", f.headers);

    let f = curl(&dir, &url, Some("bytes=100-"));
    assert_eq!(f.status, "206");
    assert_eq!(f.body, &data[100..]);
    assert!(
        f.headers.contains("content-range: bytes 100-9999/10000"),
        "{}",
        f.headers
    );

    let f = curl(&dir, &url, Some("bytes=10-19"));
    assert_eq!(f.status, "206");
    assert_eq!(f.body, &data[10..20]);
    assert!(
        f.headers.contains("content-range: bytes 10-19/10000"),
        "{}",
        f.headers
    );

    let f = curl(&dir, &url, Some("bytes=10000-"));
    assert_eq!(f.status, "416");
    assert!(
        f.headers.contains("content-range: bytes */10000"),
        "{}",
        f.headers
    );

    // Unknown path.
    let f = curl(
        &dir,
        &format!("https://localhost:{}/ota/00/none.bin", s.https_port()),
        None,
    );
    assert_eq!(f.status, "404");

    // Plain HTTP.
    let f = curl(&dir, &s.url(&img, Listener::Http), None);
    assert_eq!(f.status, "200");
    assert_eq!(f.body, data);
    assert!(s.requests().len() >= 6);
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

/// The TLS version curl negotiated with `url` when allowed `tls_args` (from its verbose
/// "SSL connection using TLSv1.x" line), or None if the transfer failed.
fn tls_version(dir: &Path, url: &str, tls_args: &[&str]) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sv", "-o", "/dev/null", "--max-time", "10"])
        .args(tls_args)
        .arg("--cacert")
        .arg(dir.join("ca.pem"))
        .arg(url)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let version = log
        .lines()
        .find_map(|l| l.split("SSL connection using ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned);
    version.filter(|_| out.status.success())
}

#[test]
fn the_tls12_listener_speaks_tls12_only() {
    let (dir, s) = server("tls12");
    let data = generate_image(5_000, 5);
    let img = s.add_image("fw", data.clone(), Fault::None);
    let url = s.url(&img, Listener::HttpsTls12);
    assert!(
        url.starts_with(&format!("https://localhost:{}/ota/", s.https12_port())),
        "{url}"
    );
    assert_ne!(s.https12_port(), s.https_port());
    let f = curl(&dir, &url, None);
    assert_eq!((f.code, f.status.as_str()), (0, "200"));
    assert_eq!(f.body, data);
    assert_eq!(tls_version(&dir, &url, &[]).as_deref(), Some("TLSv1.2"));
    assert_eq!(
        tls_version(&dir, &url, &["--tlsv1.3"]),
        None,
        "TLS 1.3 is refused"
    );
    let url13 = s.url(&img, Listener::Https);
    assert_eq!(tls_version(&dir, &url13, &[]).as_deref(), Some("TLSv1.3"));
}

#[test]
fn faults() {
    let (dir, s) = server("faults");
    let data = generate_image(50_000, 4);

    // drop:N: the first GET stops after N bytes; a resumed Range request succeeds.
    let img = s.add_image("drop", data.clone(), Fault::Drop(1000));
    let url = s.url(&img, Listener::Https);
    let f = curl(&dir, &url, None);
    assert_ne!(f.code, 0, "the transfer must fail");
    assert_eq!(f.body.len(), 1000);
    assert_eq!(f.body, &data[..1000]);
    let f = curl(&dir, &url, Some("bytes=1000-"));
    assert_eq!((f.code, f.status.as_str()), (0, "206"));
    assert_eq!(f.body, &data[1000..]);

    // corrupt:K
    let img = s.add_image("corrupt", data.clone(), Fault::Corrupt(7));
    let url = s.url(&img, Listener::Https);
    let f = curl(&dir, &url, None);
    assert_eq!(f.code, 0);
    assert_eq!(f.body.len(), data.len());
    assert_eq!(f.body[7], data[7] ^ 0xFF);
    assert_eq!(f.body[..7], data[..7]);
    assert_eq!(f.body[8..], data[8..]);
    let f = curl(&dir, &url, Some("bytes=8-"));
    assert_eq!(f.body, &data[8..]);

    // throttle:B
    let img = s.add_image("slow", data[..3000].to_vec(), Fault::Throttle(10_000));
    let t = Instant::now();
    let f = curl(&dir, &s.url(&img, Listener::Https), None);
    assert_eq!(f.body, &data[..3000]);
    assert!(t.elapsed() >= Duration::from_millis(200), "{:?}", t.elapsed());

    // status:CODE
    for code in [404u16, 500] {
        let img = s.add_image(&format!("status{code}"), data.clone(), Fault::Status(code));
        let f = curl(&dir, &s.url(&img, Listener::Https), None);
        assert_eq!(f.status, code.to_string());
    }

    // lie:N
    let img = s.add_image("lie", data[..2000].to_vec(), Fault::Lie(100));
    let f = curl(&dir, &s.url(&img, Listener::Https), None);
    assert_ne!(f.code, 0, "curl must see a short body");
    assert!(f.headers.contains("content-length: 2100"), "{}", f.headers);
    assert_eq!(f.body, &data[..2000]);
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

/// A device in shell: subscribes to its upgrade topic, reports 1.0.0, downloads the pushed URL
/// with curl (resuming once with `-C -`), checks the SHA-256 and reports progress / the version.
const DEVICE: &str = r#"
set -u
PK=$AIOT_PRODUCT_KEY; DN=$AIOT_DEVICE_NAME
P=$("$AIOT_PLATFORM" password "$PK" "$DN" "$AIOT_DEVICE_SECRET")
M="-h 127.0.0.1 -p $AIOT_PORT -u $DN&$PK -P $P"
pub() { mosquitto_pub $M -i "pub-$$" -t "$1" -m "$2"; }
progress() { pub "/ota/device/progress/$PK/$DN" "{\"id\":1, \"params\":{\"step\":\"$1\",\"desc\":\"\"}}"; }
if [ "${OTA_MODE:-inform}" = query ]; then
  mosquitto_sub $M -i "sub-$$" -t "/sys/$PK/$DN/thing/ota/firmware/get_reply" -C 1 -W 10 > "$AIOT_STATE_DIR/push.json" &
  SUB=$!
  sleep 0.5
  pub "/ota/device/inform/$PK/$DN" '{"id":1, "params":{"version":"1.0.0"}}'
  pub "/sys/$PK/$DN/thing/ota/firmware/get" '{"id":2, "params":{}}'
else
  mosquitto_sub $M -i "${OTA_SUB_ID:-sub-$$}" -t "/ota/device/upgrade/$PK/$DN" -C 1 -W 10 > "$AIOT_STATE_DIR/push.json" &
  SUB=$!
  sleep 0.5
  pub "/ota/device/inform/$PK/$DN" '{"id":1, "params":{"version":"1.0.0"}}'
fi
wait $SUB || exit 3
URL=$(sed 's/.*"url":"\([^"]*\)".*/\1/' "$AIOT_STATE_DIR/push.json")
SIGN=$(sed 's/.*"sign":"\([^"]*\)".*/\1/' "$AIOT_STATE_DIR/push.json")
progress 0
rm -f "$AIOT_FIRMWARE_OUT"
curl -sf --max-time 10 --cacert "$AIOT_CA_FILE" -o "$AIOT_FIRMWARE_OUT" "$URL" \
  || curl -sf --max-time 10 --cacert "$AIOT_CA_FILE" -C - -o "$AIOT_FIRMWARE_OUT" "$URL" \
  || { progress -2; exit 4; }
GOT=$(sha256sum "$AIOT_FIRMWARE_OUT" | cut -d' ' -f1)
if [ "$GOT" != "$SIGN" ]; then progress -3; exit 5; fi
progress 50
progress 100
pub "/ota/device/inform/$PK/$DN" "{\"id\":2, \"params\":{\"version\":\"$AIOT_FIRMWARE_VERSION\"}}"
sleep 0.3
"#;

fn ota_exec(args: &[&str]) -> Output {
    ota_exec_mode("inform", args)
}

fn ota_exec_mode(mode: &str, args: &[&str]) -> Output {
    ota_exec_env(&[("OTA_MODE", mode)], args)
}

fn ota_exec_env(env: &[(&str, &str)], args: &[&str]) -> Output {
    require(&["curl", "mosquitto_sub", "mosquitto_pub", "sha256sum"]);
    let out = Command::new(EXE)
        .arg("ota-exec")
        .args(["--image-size", "200000", "--timeout", "12"])
        .args(args)
        .args(["--", "sh", "-c", DEVICE])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn ota_exec_success() {
    let out = ota_exec(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("steps    : [0, 50, 100]"), "{text}");
    assert!(text.contains("matches the image"), "{text}");
    assert!(text.contains("verdict  : PASS"), "{text}");
}

#[test]
fn ota_exec_fails_a_device_that_subscribes_to_its_upgrade_topic() {
    // The same device, its SUBSCRIBE now made under its own (Aliyun-form) client id: upstream
    // never subscribes to OTA topics, so the verdict fails although the download succeeded.
    let out = ota_exec_env(
        &[(
            "OTA_SUB_ID",
            "a1TestPK001.device1|securemode=3,signmethod=hmacsha256|",
        )],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("matches the image"), "{text}");
    assert!(
        text.contains("verdict  : FAIL (Success): the device subscribed to system topics [\"/ota/device/upgrade/a1TestPK001/device1\"]"),
        "{text}"
    );
}

#[test]
fn ota_exec_checks_the_starting_version_and_the_log() {
    let out = ota_exec(&["--from-version", "0.9.0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("first reported version 1.0.0, not 0.9.0"), "{text}");
    // The shell device logs nothing: a required log line fails the run.
    let out = ota_exec(&["--expect-log", "1:[LK-0901] digest matched"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("0 line(s) of PROGRAM's output hold"), "{text}");
    let out = ota_exec(&["--expect-log", "x"]);
    assert_eq!(out.status.code(), Some(2), "a bad N:TEXT is a usage error");
}

#[test]
fn ota_exec_success_after_a_dropped_connection() {
    let out = ota_exec(&["--fault", "drop:5000"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("range=bytes=5000-"), "{text}");
}

#[test]
fn ota_exec_checksum_failure() {
    let out = ota_exec(&["--fault", "corrupt:1234", "--expect", "checksum-failure"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The same run judged for success fails.
    let out = ota_exec(&["--fault", "corrupt:1234"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("verdict  : FAIL"), "{text}");
}

#[test]
fn ota_exec_fetch_failure() {
    let out = ota_exec(&["--fault", "status:404", "--expect", "fetch-failure"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn ota_exec_push_on_query_with_md5() {
    let out = ota_exec_mode(
        "query",
        &[
            "--push-on",
            "query",
            "--sign-method",
            "md5",
            "--expect",
            "checksum-failure",
        ],
    );
    // The shell device checks SHA-256 only, so an MD5 sign reads as a checksum failure: what
    // matters is that the query was answered with an Md5 job.
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("answered the query with 1.1.0"), "{text}");
}

/// A running `aiot-platform serve` whose stderr is collected; stopped (SIGTERM, then SIGKILL
/// after 5 s) when dropped, also when a test fails half way.
struct Serve {
    child: std::process::Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Serve {
    fn start(dir: &Path) -> Serve {
        let mut child = Command::new(EXE)
            .args(["serve", "--state-dir"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (mut pipe, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut pipe, &mut buf) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dir.join("push-queue").is_dir() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        Serve { child, stderr }
    }

    /// Waits (10 s at most) until stderr holds `text`; returns all of stderr.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.stderr.lock().unwrap().clone();
            if got.contains(text) || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // SAFETY: SIGTERM to the `serve` child this test started (not reaped yet).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn push(dir: &Path, args: &[&str]) -> Output {
    Command::new(EXE)
        .args(["push", "--state-dir"])
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn serve_and_push() {
    require(&["mosquitto_sub", "mosquitto_pub"]);
    let dir = state_dir("serve");
    let serve = Serve::start(&dir);
    let ports = std::fs::read_to_string(dir.join("ports")).unwrap();
    let parts: Vec<&str> = ports.split_whitespace().collect();
    // Listen as the device itself (the platform's pushes on system topics go to the device only).
    let device = &aiot_platform::default_devices()[0];
    let sub = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", parts[0], "-i", "serve-test-device1"])
        .args(["-u", &device.username(), "-P", &device.password()])
        .args([
            "-t",
            "/ota/device/upgrade/a1TestPK001/device1",
            "-C",
            "1",
            "-W",
            "8",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let image = dir.join("fw.bin");
    std::fs::write(&image, generate_image(1000, 9)).unwrap();
    let out = push(
        &dir,
        &[
            "--device",
            "a1TestPK001/device1",
            "--image",
            image.to_str().unwrap(),
            "--version",
            "2.0.0",
            "--module",
            "mcu",
        ],
    );
    let got = sub.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let payload = String::from_utf8_lossy(&got.stdout);
    let v: serde_json::Value = serde_json::from_str(payload.trim()).unwrap();
    assert_eq!(v["data"]["version"], "2.0.0");
    assert_eq!(v["data"]["module"], "mcu");
    assert_eq!(v["data"]["size"], 1000);
    assert!(v["data"].get("files").is_none(), "{v}");

    // A multi-file job: three images (two named alike), extData, md5.
    std::fs::create_dir_all(dir.join("b")).unwrap();
    let images = [dir.join("app.bin"), dir.join("res.bin"), dir.join("b/res.bin")];
    for (i, path) in images.iter().enumerate() {
        std::fs::write(path, generate_image(2000 + i, i as u64)).unwrap();
    }
    let mut args = vec!["--device", "a1TestPK001/device1", "--version", "3.0.0"];
    for path in &images {
        args.extend(["--image", path.to_str().unwrap()]);
    }
    args.extend([
        "--module",
        "mcu",
        "--sign-method",
        "md5",
        "--ext-data",
        "{\"key\": \"value\", \"n\": 1}",
    ]);
    let out = push(&dir, &args);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let (topic, payload) = text.split_once('\n').unwrap();
    assert_eq!(topic, "/ota/device/upgrade/a1TestPK001/device1");
    let v: serde_json::Value = serde_json::from_str(payload.trim()).unwrap();
    let data = &v["data"];
    let files = data["files"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{v}");
    let names: Vec<&str> = files.iter().map(|f| f["fileName"].as_str().unwrap()).collect();
    assert_eq!(names, ["app.bin", "res.bin", "res-1.bin"]);
    for (i, f) in files.iter().enumerate() {
        assert_eq!(f["fileSize"], 2000 + i, "{v}");
    }
    assert_eq!(data["url"], files[0]["fileUrl"]);
    assert_eq!(data["size"], 2000);
    assert_eq!(data["signMethod"], "Md5");
    assert_eq!(data["module"], "mcu");
    assert_eq!(data["extData"], serde_json::json!({"key": "value", "n": 1}));
    assert!(
        payload.contains("\"extData\":{\"key\":\"value\",\"n\":1}"),
        "{payload}"
    );

    // serve shows the device's progress as plain lines (stderr is a pipe): one per 10 %, and
    // the failure of a device it pushed nothing to.
    let progress = |dn: &str, step: &str| {
        let d = aiot_platform::default_devices()
            .into_iter()
            .find(|d| d.device_name == dn)
            .unwrap();
        let status = Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                parts[0],
                "-i",
                &format!("serve-test-{dn}"),
            ])
            .args(["-u", &d.username(), "-P", &d.password(), "-q", "1"])
            .args(["-t", &format!("/ota/device/progress/a1TestPK001/{dn}")])
            .args([
                "-m",
                &format!("{{\"id\":1,\"params\":{{\"step\":\"{step}\",\"desc\":\"\"}}}}"),
            ])
            .status()
            .unwrap();
        assert!(status.success());
    };
    for step in ["0", "5", "50", "100"] {
        progress("device1", step);
    }
    progress("device2", "-3");
    let log = serve.wait_for("verification failed");
    assert!(
        log.contains("a1TestPK001/device1  platform pushed 3.0.0"),
        "{log}"
    );
    assert!(log.contains("a1TestPK001/device1 -> 3.0.0    0%\n"), "{log}");
    assert!(!log.contains("a1TestPK001/device1 -> 3.0.0    5%"), "{log}");
    assert!(log.contains("a1TestPK001/device1 -> 3.0.0   50%\n"), "{log}");
    assert!(log.contains("a1TestPK001/device1 -> 3.0.0  100% done\n"), "{log}");
    assert!(
        log.contains("a1TestPK001/device2 -> ?: verification failed (step -3)"),
        "{log}"
    );

    // A request serve cannot take: push fails (2) with serve's reason.
    let out = push(
        &dir,
        &[
            "--device",
            "a1TestPK001/device1",
            "--image",
            dir.join("missing.bin").to_str().unwrap(),
            "--version",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // A hand-written request without a version: <id>.err says so.
    let queue = dir.join("push-queue");
    std::fs::write(
        queue.join("hand.req"),
        "device=a1TestPK001/device1\nimage=/x.bin\nextra=1\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !queue.join("hand.err").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let err = std::fs::read_to_string(queue.join("hand.err")).unwrap_or_default();
    assert!(err.contains("no version="), "{err:?}");
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The next PUBLISH to the device within 10 s: (topic, payload).
fn next_publish(conn: &mut rumqttc::Connection) -> (String, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) =
            conn.recv_timeout(Duration::from_millis(200))
        {
            return (p.topic.clone(), p.payload.to_vec());
        }
    }
    panic!("no PUBLISH within 10 s");
}

/// A download_reply frame: (header JSON, data, CRC sent).
fn split_frame(frame: &[u8]) -> (serde_json::Value, &[u8], u16) {
    let hl = u16::from_be_bytes([frame[0], frame[1]]) as usize;
    let header = serde_json::from_slice(&frame[2..2 + hl]).unwrap();
    let n = frame.len();
    (
        header,
        &frame[2 + hl..n - 2],
        u16::from_le_bytes([frame[n - 2], frame[n - 1]]),
    )
}

/// `push --protocol mqtt` through a running `serve`: the dProtocol mqtt push reaches the device
/// (a plain MQTT client speaking upstream's block protocol), serve answers its block requests
/// with the image (the fault on the request it names), a second push replaces the job (new
/// stream id; the old stream answered 9201), and serve's stderr shows all of it.
#[test]
fn serve_and_push_mqtt() {
    use aiot_platform::mqtt_download::crc16_arc;
    use rumqttc::{Client, MqttOptions, QoS};

    let dir = state_dir("serve-mqtt");
    let serve = Serve::start(&dir);
    let ports = std::fs::read_to_string(dir.join("ports")).unwrap();
    let port: u16 = ports.split_whitespace().next().unwrap().parse().unwrap();
    let d = aiot_platform::default_devices()[0].clone();
    let (pk, dn) = (d.product_key.clone(), d.device_name.clone());
    let mut opts = MqttOptions::new(format!("{pk}.{dn}|securemode=3|"), aiot_platform::HOST, port);
    opts.set_credentials(d.username(), d.password());
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = Client::new(opts, 16);
    let reply_topic = format!("/sys/{pk}/{dn}/thing/file/download_reply");
    client.subscribe(reply_topic.clone(), QoS::AtMostOnce).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no SUBACK within 10 s");
        if let Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)))) =
            conn.recv_timeout(Duration::from_millis(200))
        {
            break;
        }
    }

    let image = generate_image(5000, 5);
    let fw = dir.join("fw.bin");
    std::fs::write(&fw, &image).unwrap();
    let device = format!("{pk}/{dn}");
    let job = |conn: &mut rumqttc::Connection, version: &str, fault: &str| {
        let out = push(
            &dir,
            &[
                "--device",
                &device,
                "--image",
                fw.to_str().unwrap(),
                "--version",
                version,
                "--protocol",
                "mqtt",
                "--sign-method",
                "md5",
                "--fault",
                fault,
            ],
        );
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (topic, payload) = text.split_once('\n').unwrap();
        assert_eq!(topic, format!("/ota/device/upgrade/{pk}/{dn}"));
        let v: serde_json::Value = serde_json::from_str(payload.trim()).unwrap();
        // What the device got is what push printed.
        let (got_topic, got) = next_publish(conn);
        assert_eq!(got_topic, topic);
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&got).unwrap(), v);
        v
    };
    let request = |client: &Client, id: u32, stream: u64, offset: usize, size: usize| {
        let payload = format!(
            r#"{{"id":"{id}","version":"1.0","params":{{"fileToken":"default","fileInfo":{{"streamId":{stream},"fileId":1,}},"fileBlock":{{"size":{size},"offset":{offset}}}}}}}"#
        );
        client
            .publish(
                format!("/sys/{pk}/{dn}/thing/file/download"),
                QoS::AtMostOnce,
                false,
                payload,
            )
            .unwrap();
    };

    let v = job(&mut conn, "2.0.0", "crc:2");
    let data = &v["data"];
    assert_eq!(data["dProtocol"], "mqtt");
    assert_eq!(data["streamId"], 1_000_001);
    assert_eq!(data["streamFileId"], 1);
    assert_eq!(data["size"], 5000);
    assert_eq!(data["version"], "2.0.0");
    assert_eq!(data["signMethod"], "Md5");
    assert_eq!(data["sign"], aiot_platform::firmware::md5_hex(&image));
    assert!(data.get("url").is_none(), "{v}");
    // 1: good; 2: the fault (CRC inverted); 3: good, the last 1000 bytes (2000 asked).
    let mut got = Vec::new();
    for (id, offset, crc_ok) in [(1, 0, true), (2, 2000, false), (2, 2000, true), (3, 4000, true)] {
        request(&client, id, 1_000_001, offset, 2000);
        let (topic, frame) = next_publish(&mut conn);
        assert_eq!(topic, reply_topic);
        let (h, block, crc) = split_frame(&frame);
        assert_eq!(h["code"], 200, "{h}");
        assert_eq!(h["data"]["bOffset"], offset);
        assert_eq!(crc == crc16_arc(block), crc_ok, "request {id} at {offset}");
        if crc_ok {
            got.extend_from_slice(block);
        }
    }
    assert_eq!(got, image);

    // A second job replaces the first: the next stream id, no fault; the old stream is refused.
    std::fs::write(&fw, &image[..3000]).unwrap();
    let v = job(&mut conn, "3.0.0", "none");
    assert_eq!(v["data"]["streamId"], 1_000_002);
    assert_eq!(v["data"]["size"], 3000);
    request(&client, 4, 1_000_001, 0, 2000);
    let (_, frame) = next_publish(&mut conn);
    let (h, block, _) = split_frame(&frame);
    assert_eq!((h["code"].as_i64(), block.len()), (Some(9201), 0), "{h}");
    request(&client, 5, 1_000_002, 2000, 2000);
    let (_, frame) = next_publish(&mut conn);
    let (h, block, crc) = split_frame(&frame);
    assert_eq!(h["data"]["fileLength"], 3000);
    assert_eq!((block, crc), (&image[2000..3000], crc16_arc(&image[2000..3000])));

    let log = serve.wait_for("not the job's 1000002/1");
    let who = format!("{pk}/{dn}");
    for line in [
        format!("pushed: /ota/device/upgrade/{pk}/{dn}"),
        "\"dProtocol\":\"mqtt\"".to_string(),
        format!("{who}  platform pushed 2.0.0"),
        format!(
            "{who}  block 0+2000 (request 1) served: first block of 2.0.0 (5000 bytes, stream 1000001/1)"
        ),
        format!("{who}  block 2000+2000 (request 2): fault crc applied"),
        format!("{who}  block 4000+2000 (request 4) served: the image's last block"),
        format!("{who}  platform pushed 3.0.0"),
        format!(
            "{who}  block 0+2000 (request 1) for stream 1000001/1, not the job's 1000002/1: answered 9201"
        ),
    ] {
        assert!(log.contains(&line), "{line:?} not in:\n{log}");
    }
    // Plain blocks in the middle are not shown.
    assert!(!log.contains("block 2000+2000 (request 3)"), "{log}");
    drop(client);
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn push_refuses_bad_options() {
    let dir = state_dir("push-refused");
    std::fs::create_dir_all(dir.join("push-queue")).unwrap();
    let image = dir.join("fw.bin");
    std::fs::write(&image, b"firmware").unwrap();
    let image = image.to_str().unwrap();
    let base = ["--device", "pk/dn", "--version", "1.0", "--image", image];
    for (extra, why) in [
        (
            &["--ext-data", "[1, 2]"][..],
            "--ext-data must be a JSON object, not an array",
        ),
        (&["--ext-data", "{\"a\":"][..], "--ext-data is not JSON"),
        (&["--ext-data", "plain text"][..], "--ext-data is not JSON"),
        (
            &["--kind", "cota", "--image", image][..],
            "a cota job takes one image",
        ),
        (&["--fault", "crc:3"][..], "--fault: bad fault 'crc:3'"),
        (
            &["--protocol", "mqtt", "--fault", "corrupt:5"][..],
            "--fault (a block fault with --protocol mqtt): unknown fault \"corrupt\"",
        ),
        (
            &["--protocol", "mqtt", "--image", image][..],
            "an mqtt job takes one image, not 2",
        ),
        (
            &["--protocol", "mqtt", "--ext-data", "{}"][..],
            "an mqtt job has no ext_data",
        ),
    ] {
        let out = push(&dir, &[&base[..], extra].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(why), "{extra:?}: {stderr}");
    }
    // Refused before anything reached the queue.
    assert_eq!(std::fs::read_dir(dir.join("push-queue")).unwrap().count(), 0);
    let out = push(&dir, &["--device", "pk/dn", "--version", "1.0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--image"));
    let _ = std::fs::remove_dir_all(&dir);
}
