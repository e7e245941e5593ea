//! `ota-exec`, `serve` and `push`: the OTA commands of the `aiot-platform` command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiot_platform::firmware::{generate_image, sha256_hex, Fault, FirmwareServer};
use aiot_platform::ota::{judge, Expect, Job, JobFile, Kind, OtaClient, OtaEvent, PushOn, SignMethod};
use aiot_platform::{process, Device, Platform};
use clap::ValueEnum;

use crate::{new_temp_dir, run_program, TempDir};

pub const DEFAULT_IMAGE_SIZE: usize = 1_248_306;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SignArg {
    Sha256,
    Md5,
}

impl From<SignArg> for SignMethod {
    fn from(s: SignArg) -> SignMethod {
        match s {
            SignArg::Sha256 => SignMethod::Sha256,
            SignArg::Md5 => SignMethod::Md5,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PushOnArg {
    /// Push when the device first reports a version on /ota/device/inform.
    Inform,
    /// Answer the device's /sys/<pk>/<dn>/thing/ota/firmware/get (config/get for cota).
    Query,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KindArg {
    Fota,
    Cota,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExpectArg {
    Success,
    ChecksumFailure,
    FetchFailure,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SchemeArg {
    Https,
    Http,
}

/// Options of `ota-exec`.
pub struct OtaExecArgs {
    pub state_dir: Option<PathBuf>,
    pub timeout: u64,
    pub devices: Vec<Device>,
    pub image: Option<PathBuf>,
    pub image_size: usize,
    pub version: String,
    pub sign_method: SignArg,
    pub fault: Fault,
    pub push_on: PushOnArg,
    pub kind: KindArg,
    pub files: usize,
    pub module: Option<String>,
    pub ext_data: Option<String>,
    pub expect: ExpectArg,
    pub scheme: SchemeArg,
    pub program: Vec<String>,
}

/// Adds `images` to the server (with `fault`) and fills `job.files` with them.
fn build_job(
    server: &FirmwareServer,
    images: Vec<(String, Vec<u8>)>,
    fault: Fault,
    tls: bool,
    mut job: Job,
) -> Job {
    job.files = images
        .into_iter()
        .map(|(name, data)| {
            let img = server.add_image(&name, data, fault);
            JobFile {
                name: format!("{name}.bin"),
                url: server.url(&img, tls),
                size: img.data.len() as u64,
                sha256: img.sha256.clone(),
                md5: img.md5.clone(),
            }
        })
        .collect();
    job
}

fn steps_of(events: &[OtaEvent]) -> Vec<i64> {
    events
        .iter()
        .filter_map(|e| match e {
            OtaEvent::Progress { step, .. } => Some(*step),
            _ => None,
        })
        .collect()
}

fn describe(ev: &OtaEvent) -> String {
    match ev {
        OtaEvent::Version { version, module } => match module {
            Some(m) => format!("version {version} (module {m})"),
            None => format!("version {version}"),
        },
        OtaEvent::Progress { step, desc, .. } if desc.is_empty() => format!("progress {step}"),
        OtaEvent::Progress { step, desc, .. } => format!("progress {step} ({desc})"),
        OtaEvent::Query { .. } => "firmware/get query".into(),
        OtaEvent::ConfigGet => "config/get query".into(),
        OtaEvent::Pushed {
            version,
            reply: false,
        } => format!("platform pushed {version}"),
        OtaEvent::Pushed { version, reply: true } => format!("platform answered the query with {version}"),
    }
}

pub fn run_ota_exec(a: OtaExecArgs) -> Result<u8, String> {
    if a.files == 0 || a.files > 20 {
        return Err("--files must be 1..=20".into());
    }
    if matches!(a.kind, KindArg::Cota) && a.files > 1 {
        return Err("--kind cota takes one file".into());
    }
    if let Some(e) = &a.ext_data {
        serde_json::from_str::<serde_json::Value>(e)
            .map_err(|err| format!("--ext-data is not JSON: {err}"))?;
    }
    process::become_subreaper();
    process::catch_termination();
    let temp = TempDir(if a.state_dir.is_none() {
        Some(new_temp_dir()?)
    } else {
        None
    });
    let dir = a
        .state_dir
        .clone()
        .or_else(|| temp.0.clone())
        .expect("one of the two");
    let platform = Platform::with_devices(&dir, &a.devices).map_err(|e| format!("broker: {e}"))?;
    let server = FirmwareServer::start(&dir).map_err(|e| format!("firmware server: {e}"))?;
    let client = OtaClient::start(&platform.broker.info).map_err(|e| format!("platform client: {e}"))?;

    let mut images = Vec::new();
    for i in 0..a.files {
        let data = match (&a.image, i) {
            (Some(path), 0) => std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?,
            _ => generate_image(a.image_size, i as u64),
        };
        let name = if a.files == 1 {
            "ck52nyo1z0000397iiyvhnr2i".to_string()
        } else {
            format!("ck52nyo1z0000397iiyvhnr2i-{i}")
        };
        images.push((name, data));
    }
    let image0 = images[0].1.clone();
    let kind = match a.kind {
        KindArg::Fota => Kind::Fota,
        KindArg::Cota => Kind::Cota,
    };
    let job = build_job(
        &server,
        images,
        a.fault,
        matches!(a.scheme, SchemeArg::Https),
        Job {
            kind,
            version: a.version.clone(),
            sign_method: a.sign_method.into(),
            files: Vec::new(),
            module: a.module.clone(),
            ext_data: a.ext_data.clone(),
        },
    );
    let on = match a.push_on {
        PushOnArg::Inform => PushOn::Inform,
        PushOnArg::Query => PushOn::Query,
    };
    client.set_auto_job(job.clone(), on);

    let out_file = dir.join("received.bin");
    let _ = std::fs::remove_file(&out_file);
    let me = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut env = platform.env(&me);
    env.push(("AIOT_FIRMWARE_OUT", out_file.clone().into_os_string()));
    env.push(("AIOT_FIRMWARE_PORT", server.https_port().to_string().into()));
    env.push(("AIOT_FIRMWARE_HTTP_PORT", server.http_port().to_string().into()));
    env.push(("AIOT_FIRMWARE_VERSION", a.version.clone().into()));
    env.push(("AIOT_FIRMWARE_SIZE", (image0.len() as u64).to_string().into()));

    let status = run_program(&a.program, env, a.timeout);
    // Let the last reports land.
    std::thread::sleep(Duration::from_millis(300));
    let events = client.events();
    let requests = server.requests();
    drop(client);
    drop(server);
    drop(platform);
    process::sweep_children(Duration::from_secs(3));
    let hash_ok = hash_matches(&out_file, &image0);
    drop(temp);
    let status = status?;

    // Summary.
    println!("== aiot-platform ota-exec summary ==");
    println!(
        "job      : {:?} version {} ({} file(s), {} bytes, sign {:?}, fault {:?})",
        kind,
        a.version,
        job.files.len(),
        image0.len(),
        job.sign_method,
        a.fault
    );
    let mut keys: Vec<_> = events.keys().cloned().collect();
    keys.sort();
    for k in &keys {
        let evs = &events[k];
        let versions: Vec<String> = evs
            .iter()
            .filter_map(|e| match e {
                OtaEvent::Version { version, .. } => Some(version.clone()),
                _ => None,
            })
            .collect();
        println!("device   : {}/{}", k.0, k.1);
        println!("  versions : {versions:?}");
        println!("  steps    : {:?}", steps_of(evs));
        for e in evs {
            println!("  - {}", describe(e));
        }
    }
    for r in &requests {
        println!("http     : {r}");
    }
    let check_hash =
        matches!(a.expect, ExpectArg::Success) && a.files == 1 && matches!(a.kind, KindArg::Fota);
    match hash_ok {
        Some(ok) => println!(
            "file     : AIOT_FIRMWARE_OUT {} the image (sha256 {})",
            if ok { "matches" } else { "DIFFERS FROM" },
            sha256_hex(&image0)
        ),
        None => println!("file     : AIOT_FIRMWARE_OUT was not written"),
    }
    println!("program  : exit {status}");

    let expect = match a.expect {
        ExpectArg::Success => Expect::Success,
        ExpectArg::ChecksumFailure => Expect::ChecksumFailure,
        ExpectArg::FetchFailure => Expect::FetchFailure,
    };
    let jobbed: Vec<_> = keys
        .iter()
        .filter(|k| events[*k].iter().any(|e| matches!(e, OtaEvent::Pushed { .. })))
        .collect();
    let mut verdict: Result<(), String> =
        Err("no device got the job (did it report a version / query?)".into());
    for k in &jobbed {
        verdict = judge(&events[*k], &a.version, expect);
        if verdict.is_ok() {
            break;
        }
    }
    if verdict.is_ok() && check_hash && hash_ok != Some(true) {
        verdict = Err("AIOT_FIRMWARE_OUT does not hold the image".into());
    }
    if verdict.is_ok() && matches!(a.expect, ExpectArg::Success) && status != 0 {
        verdict = Err(format!("PROGRAM exited with {status}"));
    }
    match verdict {
        Ok(()) => {
            println!("verdict  : PASS ({:?})", a.expect);
            Ok(0)
        }
        Err(e) => {
            println!("verdict  : FAIL ({:?}): {e}", a.expect);
            Ok(1)
        }
    }
}

fn hash_matches(out: &Path, image: &[u8]) -> Option<bool> {
    let data = std::fs::read(out).ok()?;
    Some(sha256_hex(&data) == sha256_hex(image))
}

// ---------------------------------------------------------------------------------------------
// serve / push: a file queue in <state>/push-queue. `push` writes <id>.req (key=value lines)
// atomically; `serve` picks it up, pushes, and writes <id>.done (the payload) or <id>.err.

fn queue_dir(state: &Path) -> PathBuf {
    state.join("push-queue")
}

fn bar(step: i64) -> String {
    if !(0..=100).contains(&step) {
        return format!("[{:-<20}] failed (step {step})", "");
    }
    let n = (step / 5) as usize;
    format!("[{}{}] {step:>3}%", "#".repeat(n), "-".repeat(20 - n))
}

fn handle_request(text: &str, server: &FirmwareServer, client: &OtaClient) -> Result<String, String> {
    let mut kv = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            kv.insert(k.trim().to_owned(), v.to_owned());
        }
    }
    let get = |k: &str| kv.get(k).cloned().ok_or(format!("request without {k}"));
    let device = get("device")?;
    let (pk, dn) = device.split_once('/').ok_or("device must be PK/DN")?;
    let image = PathBuf::from(get("image")?);
    let data = std::fs::read(&image).map_err(|e| format!("{}: {e}", image.display()))?;
    let sign = match kv.get("sign_method").map(String::as_str) {
        Some("md5") => SignMethod::Md5,
        _ => SignMethod::Sha256,
    };
    let fault: Fault = kv
        .get("fault")
        .map(|f| f.parse())
        .transpose()?
        .unwrap_or_default();
    let name = image
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or("firmware")
        .to_owned();
    let kind = if kv.get("kind").map(String::as_str) == Some("cota") {
        Kind::Cota
    } else {
        Kind::Fota
    };
    let job = build_job(
        server,
        vec![(name, data)],
        fault,
        true,
        Job {
            kind,
            version: get("version")?,
            sign_method: sign,
            files: Vec::new(),
            module: kv.get("module").cloned().filter(|m| !m.is_empty()),
            ext_data: None,
        },
    );
    let (topic, payload) = client.push(pk, dn, &job);
    Ok(format!("{topic}\n{payload}\n"))
}

pub fn run_serve(state_dir: PathBuf, devices: Vec<Device>) -> Result<u8, String> {
    process::become_subreaper();
    process::catch_termination();
    let platform = Platform::with_devices(&state_dir, &devices).map_err(|e| format!("broker: {e}"))?;
    let server = FirmwareServer::start(&state_dir).map_err(|e| format!("firmware server: {e}"))?;
    let client =
        Arc::new(OtaClient::start(&platform.broker.info).map_err(|e| format!("platform client: {e}"))?);
    let me = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    crate::print_info(&platform, &me);
    println!(
        "firmware : https://localhost:{} (CA {}), http://127.0.0.1:{}",
        server.https_port(),
        platform.broker.ca_file().display(),
        server.http_port()
    );
    println!(
        "push     : aiot-platform push --state-dir {} --device PK/DN --image FILE --version V",
        state_dir.display()
    );
    println!();
    client.set_observer(|k, ev| match ev {
        OtaEvent::Progress { step, .. } => eprintln!("{}/{}  {}", k.0, k.1, bar(*step)),
        other => eprintln!("{}/{}  {}", k.0, k.1, describe(other)),
    });
    let queue = queue_dir(&state_dir);
    std::fs::create_dir_all(&queue).map_err(|e| format!("{}: {e}", queue.display()))?;
    println!("running; Ctrl-C to stop");
    let sig = loop {
        if let Some(sig) = process::signalled() {
            break sig;
        }
        process::reap_all();
        if let Ok(rd) = std::fs::read_dir(&queue) {
            for e in rd.flatten().take(100) {
                let p = e.path();
                if p.extension().and_then(|x| x.to_str()) != Some("req") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let _ = std::fs::remove_file(&p);
                match handle_request(&text, &server, &client) {
                    Ok(msg) => {
                        eprintln!("pushed: {msg}");
                        let _ = std::fs::write(p.with_extension("done"), msg);
                    }
                    Err(err) => {
                        eprintln!("push failed: {err}");
                        let _ = std::fs::write(p.with_extension("err"), err);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(client);
    drop(server);
    drop(platform);
    process::sweep_children(Duration::from_secs(3));
    println!("stopped (signal {sig})");
    Ok(0)
}

pub struct PushArgs {
    pub state_dir: PathBuf,
    pub device: String,
    pub image: PathBuf,
    pub version: String,
    pub sign_method: SignArg,
    pub module: Option<String>,
    pub fault: Fault,
    pub kind: KindArg,
}

pub fn run_push(a: PushArgs) -> Result<u8, String> {
    if !a.device.contains('/') {
        return Err("--device must be PK/DN".into());
    }
    let image = std::fs::canonicalize(&a.image).map_err(|e| format!("{}: {e}", a.image.display()))?;
    let queue = queue_dir(&a.state_dir);
    if !queue.is_dir() {
        return Err(format!(
            "no `serve` running in {} (no push-queue)",
            a.state_dir.display()
        ));
    }
    let id = format!("{}-{}", std::process::id(), aiot_platform::ota::now_ms());
    let fault = match a.fault {
        Fault::None => "none".to_string(),
        Fault::Drop(n) => format!("drop:{n}"),
        Fault::Corrupt(n) => format!("corrupt:{n}"),
        Fault::Throttle(n) => format!("throttle:{n}"),
        Fault::Status(n) => format!("status:{n}"),
        Fault::Lie(n) => format!("lie:{n}"),
    };
    let text = format!(
        "device={}\nimage={}\nversion={}\nsign_method={}\nmodule={}\nfault={fault}\nkind={}\n",
        a.device,
        image.display(),
        a.version,
        match a.sign_method {
            SignArg::Sha256 => "sha256",
            SignArg::Md5 => "md5",
        },
        a.module.unwrap_or_default(),
        match a.kind {
            KindArg::Fota => "fota",
            KindArg::Cota => "cota",
        }
    );
    let tmp = queue.join(format!("{id}.tmp"));
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, queue.join(format!("{id}.req"))).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(msg) = std::fs::read_to_string(queue.join(format!("{id}.done"))) {
            let _ = std::fs::remove_file(queue.join(format!("{id}.done")));
            print!("{msg}");
            return Ok(0);
        }
        if let Ok(err) = std::fs::read_to_string(queue.join(format!("{id}.err"))) {
            let _ = std::fs::remove_file(queue.join(format!("{id}.err")));
            return Err(err);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(queue.join(format!("{id}.req")));
    Err("`serve` did not answer within 10 s".into())
}
