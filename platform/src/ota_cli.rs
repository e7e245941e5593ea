//! `ota-exec`, `serve` and `push`: the OTA commands of the `aiot-platform` command line.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiot_platform::firmware::{generate_image, sha256_hex, Fault, FirmwareServer, Listener};
use aiot_platform::mqtt_download::{Fault as MotaFault, MotaJob, MotaService};
use aiot_platform::ota::{judge, Expect, Job, JobFile, Kind, OtaClient, OtaEvent, PushOn, SignMethod};
use aiot_platform::{process, Device, Platform};
use clap::ValueEnum;

use crate::progress_board::{describe, Board, Out};
use crate::push_queue::{ext_data_object, image_name, queue_dir, Protocol, PushRequest};
use crate::{new_temp_dir, run_program_teed, TempDir};

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
pub enum ProtocolArg {
    /// A URL on serve's firmware server (HTTPS).
    Https,
    /// OTA over MQTT: "dProtocol":"mqtt" with a stream id; serve answers the device's block
    /// requests (/sys/<pk>/<dn>/thing/file/download).
    Mqtt,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SchemeArg {
    Https,
    /// HTTPS from a listener that speaks TLS 1.2 only.
    #[value(name = "https-tls12")]
    HttpsTls12,
    Http,
}

impl From<SchemeArg> for Listener {
    fn from(s: SchemeArg) -> Listener {
        match s {
            SchemeArg::Https => Listener::Https,
            SchemeArg::HttpsTls12 => Listener::HttpsTls12,
            SchemeArg::Http => Listener::Http,
        }
    }
}

/// Options of `ota-exec`.
#[derive(clap::Args)]
pub struct OtaExecArgs {
    /// State folder (default: a new temporary folder, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Kill PROGRAM after this many seconds (it then counts as exit 124).
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub timeout: u64,
    /// A device as productKey/deviceName/deviceSecret. Repeatable; replaces the defaults.
    #[arg(long = "device", value_name = "PK/DN/DS", value_parser = Device::parse)]
    pub devices: Vec<Device>,
    /// Serve this file as the image (the first one with --files N).
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// Size of the generated image (deterministic pseudo-random bytes).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_IMAGE_SIZE)]
    pub image_size: usize,
    /// Target version (FOTA) or configId (COTA).
    #[arg(long, default_value = "1.1.0")]
    pub version: String,
    /// Digest announced in the job: sha256 ("SHA256", COTA "Sha256") or md5 ("Md5").
    #[arg(long, value_enum, default_value = "sha256")]
    pub sign_method: SignArg,
    /// Fault injected by the firmware server: none, drop:N, corrupt:K, throttle:B,
    /// status:404, status:500, lie:N, drop-every:N, stall:N, mute:MS, ignore-range (see the
    /// long help).
    #[arg(long, default_value = "none", value_parser = crate::parse_fault)]
    pub fault: Fault,
    /// When the job is sent.
    #[arg(long, value_enum, default_value = "inform")]
    pub push_on: PushOnArg,
    /// Firmware (push on /ota/device/upgrade) or remote configuration (push on
    /// /sys/<pk>/<dn>/thing/config/push).
    #[arg(long, value_enum, default_value = "fota")]
    pub kind: KindArg,
    /// Multi-file job: N images (1..=20) in a "files" array.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub files: usize,
    /// "module" of the job.
    #[arg(long, value_name = "M")]
    pub module: Option<String>,
    /// "extData" of the job (JSON text, placed as is).
    #[arg(long, value_name = "JSON")]
    pub ext_data: Option<String>,
    /// The outcome that makes ota-exec exit 0.
    #[arg(long, value_enum, default_value = "success")]
    pub expect: ExpectArg,
    /// The version the device must report before the job (with --expect success).
    #[arg(long, value_name = "V", default_value = "1.0.0")]
    pub from_version: String,
    /// Before the job, push malformed and hostile messages on the same topic (bad JSON,
    /// invalid UTF-8, deep nesting, missing fields, absurd sizes, bad digests, ftp URL,
    /// 100 KB strings). The device must refuse each one and never fetch their URLs.
    #[arg(long)]
    pub hostile: bool,
    /// The exact list of progress steps the device must report, e.g. 0,50,100.
    #[arg(
        long,
        value_name = "S,S,...",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub expect_steps: Option<Vec<i64>>,
    /// TEXT: lines containing each given TEXT must come in the order given (repeatable; the
    /// shape of a log, e.g. the seed log's). Output goes through a pipe, as for --expect-log.
    #[arg(long = "expect-order", value_name = "TEXT")]
    pub expect_order: Vec<String>,
    /// A file of --expect-order texts, one a line (blank lines and lines starting with '#'
    /// skipped), checked after those given one by one.
    #[arg(long, value_name = "FILE")]
    pub expect_order_file: Option<PathBuf>,
    /// N:TEXT: PROGRAM's stdout must hold at least N lines containing TEXT (repeatable).
    /// Its output then goes through a pipe.
    #[arg(long = "expect-log", value_name = "N:TEXT", value_parser = parse_expect_log)]
    pub expect_log: Vec<(usize, String)>,
    /// A product's thing model (Aliyun TSL JSON) as PK=FILE, for the data-model side. Repeatable.
    #[arg(long = "thing-model", value_name = "PK=FILE", value_parser = aiot_platform::thing_model::parse_model_arg)]
    pub thing_models: Vec<(String, PathBuf)>,
    /// URL scheme of the job: https (localhost, platform CA), https-tls12 (the same from a
    /// listener limited to TLS 1.2) or plain http (127.0.0.1).
    #[arg(long, value_enum, default_value = "https")]
    pub scheme: SchemeArg,
    /// The program to run, and its arguments (after `--`).
    #[arg(
        value_name = "PROGRAM [ARGS]...",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub program: Vec<String>,
}

fn parse_expect_log(s: &str) -> Result<(usize, String), String> {
    let (n, text) = s.split_once(':').ok_or("expected N:TEXT")?;
    let n = n.parse().map_err(|_| format!("{n:?} is not a count"))?;
    if text.is_empty() {
        return Err("TEXT is empty".into());
    }
    Ok((n, text.to_owned()))
}

/// Adds `images` to the server (with `fault`) and fills `job.files` with them.
fn build_job(
    server: &FirmwareServer,
    images: Vec<(String, Vec<u8>)>,
    fault: Fault,
    listener: Listener,
    mut job: Job,
) -> Job {
    job.files = images
        .into_iter()
        .map(|(name, data)| {
            let img = server.add_image(&name, data, fault);
            JobFile {
                name: format!("{name}.bin"),
                url: server.url(&img, listener),
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

pub fn run_ota_exec(mut a: OtaExecArgs) -> Result<u8, String> {
    if let Some(f) = &a.expect_order_file {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        a.expect_order.extend(
            text.lines()
                .map(str::trim_end)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
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
    let thing = crate::start_thing(&platform, &a.thing_models)?;
    let auth = crate::start_auth(&platform)?;

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
        a.scheme.into(),
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
    client.set_hostile_first(a.hostile);

    let out_file = dir.join("received.bin");
    let _ = std::fs::remove_file(&out_file);
    let me = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut env = platform.env(&me);
    env.push(("AIOT_FIRMWARE_OUT", out_file.clone().into_os_string()));
    let https_port = match a.scheme {
        SchemeArg::HttpsTls12 => server.https12_port(),
        _ => server.https_port(),
    };
    env.push(("AIOT_FIRMWARE_PORT", https_port.to_string().into()));
    env.push(("AIOT_FIRMWARE_HTTP_PORT", server.http_port().to_string().into()));
    env.push(("AIOT_FIRMWARE_VERSION", a.version.clone().into()));
    env.push(("AIOT_FIRMWARE_SIZE", (image0.len() as u64).to_string().into()));
    env.extend(auth.env());

    let lines =
        (!a.expect_log.is_empty() || !a.expect_order.is_empty()).then(|| Arc::new(Mutex::new(Vec::new())));
    let status = run_program_teed(&a.program, env, a.timeout, lines.clone());
    // Let the last reports land.
    std::thread::sleep(Duration::from_millis(300));
    let events = client.events();
    let requests = server.requests();
    let subscriptions = subscriptions_of(&platform.broker.info.log_file());
    drop(auth);
    drop(thing);
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
        let subs = system_subscriptions(&subscriptions, k);
        if !subs.is_empty() {
            println!("  SUBSCRIBED to system topics: {subs:?}");
        }
        for e in evs {
            println!("  - {}", describe(e));
        }
    }
    for r in &requests {
        println!("http     : {r}");
    }
    // A single-file FOTA must leave the image in AIOT_FIRMWARE_OUT; other jobs only when the
    // program wrote it (the first file of a multi-file job, the configuration file of a COTA).
    let check_hash = matches!(a.expect, ExpectArg::Success)
        && ((a.files == 1 && matches!(a.kind, KindArg::Fota)) || hash_ok.is_some());
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
        let subs = system_subscriptions(&subscriptions, k);
        verdict = judge_device(&events[*k], &subs, &a, job.files.len(), expect);
        if verdict.is_ok() {
            break;
        }
    }
    if verdict.is_ok() {
        if let Some(r) = requests.iter().find(|r| r.path.contains("/hostile/")) {
            verdict = Err(format!("the device fetched a hostile push's URL: {r}"));
        }
    }
    if verdict.is_ok() {
        let lines = lines.map(|l| l.lock().unwrap().clone()).unwrap_or_default();
        verdict = check_log(&lines, &a);
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

/// What ota-exec asks of a device that got the job, beyond [`judge`]: the starting version,
/// every file at 100, the steps and module reports asked for, no SUBSCRIBE to system topics.
fn judge_device(
    evs: &[OtaEvent],
    subscriptions: &[String],
    a: &OtaExecArgs,
    files: usize,
    expect: Expect,
) -> Result<(), String> {
    judge(evs, &a.version, expect)?;
    if matches!(expect, Expect::Success) {
        started_from(evs, &a.from_version)?;
        // Every file of the job is verified: one report of 100 each.
        let hundreds = steps_of(evs).iter().filter(|s| **s == 100).count();
        if hundreds < files {
            return Err(format!("{hundreds} report(s) of 100 for {files} files"));
        }
        if let Some(m) = &a.module {
            // A module's upgrade counts on the platform once its progress and then the
            // version are reported for that module.
            if !evs
                .iter()
                .any(|e| matches!(e, OtaEvent::Progress { step: 100, module: Some(pm), .. } if pm == m))
            {
                return Err(format!("progress 100 was not reported for module {m}"));
            }
            if !evs.iter().any(|e| {
                matches!(e, OtaEvent::Version { version, module: Some(vm) }
                    if *version == a.version && vm == m)
            }) {
                return Err(format!("version {} was not reported for module {m}", a.version));
            }
        }
    }
    if let Some(want) = &a.expect_steps {
        let got = steps_of(evs);
        if got != *want {
            return Err(format!("progress steps {got:?}, expected {want:?}"));
        }
    }
    // Upstream never subscribes to its OTA topics (the platform delivers them); a device
    // library that does would break on a broker that refuses such SUBSCRIBEs.
    if !subscriptions.is_empty() {
        return Err(format!(
            "the device subscribed to system topics {subscriptions:?}"
        ));
    }
    Ok(())
}

/// --expect-log and --expect-order against PROGRAM's output.
fn check_log(lines: &[String], a: &OtaExecArgs) -> Result<(), String> {
    for (n, text) in &a.expect_log {
        let seen = lines.iter().filter(|l| l.contains(text.as_str())).count();
        println!("log      : {seen} line(s) with {text:?} (at least {n} expected)");
        if seen < *n {
            return Err(format!(
                "{seen} line(s) of PROGRAM's output hold {text:?}, not {n}"
            ));
        }
    }
    if !a.expect_order.is_empty() {
        log_order(lines, &a.expect_order)?;
        println!("log      : {} lines in the expected order", a.expect_order.len());
    }
    Ok(())
}

/// Each of `order` is found in a line after the line of the one before it.
fn log_order(lines: &[String], order: &[String]) -> Result<(), String> {
    let mut from = 0;
    for (i, text) in order.iter().enumerate() {
        match lines[from..].iter().position(|l| l.contains(text.as_str())) {
            Some(at) => from += at + 1,
            None => {
                let after = if i == 0 {
                    String::new()
                } else {
                    format!(" after {:?}", order[i - 1])
                };
                return Err(format!("no line with {text:?}{after} in PROGRAM's output"));
            }
        }
    }
    Ok(())
}

/// The first version a device reported is `from` (the job's starting point).
fn started_from(events: &[OtaEvent], from: &str) -> Result<(), String> {
    match events.iter().find_map(|e| match e {
        OtaEvent::Version { version, .. } => Some(version),
        _ => None,
    }) {
        Some(v) if v == from => Ok(()),
        Some(v) => Err(format!("the device first reported version {v}, not {from}")),
        None => Err("the device reported no version".into()),
    }
}

/// (client id, topic filter) of every SUBSCRIBE in mosquitto's log (`log_type subscribe`
/// lines: `<time>: <client id> <qos> <filter>`).
fn subscriptions_of(log: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let rest = l.split_once(": ")?.1;
            let mut parts = rest.rsplitn(3, ' ');
            let (filter, qos, id) = (parts.next()?, parts.next()?, parts.next()?);
            qos.parse::<u8>().ok().filter(|q| *q <= 2)?;
            Some((id.to_owned(), filter.to_owned()))
        })
        .collect()
}

/// The filters a device (client id `<pk>.<dn>|...|`, Aliyun's form) subscribed to that cover
/// its system topics: OTA pushes and replies, remote configuration.
fn system_subscriptions(subs: &[(String, String)], device: &(String, String)) -> Vec<String> {
    let prefix = format!("{}.{}|", device.0, device.1);
    subs.iter()
        .filter(|(id, _)| id.starts_with(&prefix))
        .filter(|(_, f)| f.starts_with("/ota/") || f.contains("/thing/ota/") || f.contains("/thing/config/"))
        .map(|(_, f)| f.clone())
        .collect()
}

fn hash_matches(out: &Path, image: &[u8]) -> Option<bool> {
    let data = std::fs::read(out).ok()?;
    Some(sha256_hex(&data) == sha256_hex(image))
}

/// What `serve` pushes with: the firmware server and OTA client (HTTPS jobs), the MQTT download
/// service (MQTT jobs) and the stream id of the next MQTT job.
struct Pushers<'a> {
    server: &'a FirmwareServer,
    client: &'a OtaClient,
    mota: &'a MotaService,
    next_stream: u32,
    board: &'a Mutex<Board>,
}

/// The first stream id `serve` gives an MQTT job (mota-exec's); each one after gets the next.
const FIRST_STREAM_ID: u32 = 1_000_001;

/// Pushes an MQTT job: the image, its digest, a stream id of its own (so requests for a job this
/// one replaced are answered 9201).
fn push_mqtt(req: &PushRequest, p: &mut Pushers) -> Result<(String, String), String> {
    let (pk, dn) = req.device.split_once('/').expect("checked by parse");
    let path = &req.images[0];
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut job = MotaJob::new(&req.version, data, req.sign_method == SignMethod::Md5);
    job.stream_id = p.next_stream;
    job.module = req.module.clone();
    p.next_stream = p.next_stream.wrapping_add(1).max(FIRST_STREAM_ID);
    let pushed = p.mota.push(pk, dn, job, req.mota_fault);
    // The board's line and progress bar for the job (the OTA client does not see this push).
    let event = OtaEvent::Pushed {
        version: req.version.clone(),
        reply: false,
    };
    p.board
        .lock()
        .unwrap()
        .show(&(pk.to_owned(), dn.to_owned()), &event);
    Ok(pushed)
}

fn handle_request(text: &str, p: &mut Pushers) -> Result<String, String> {
    let req = PushRequest::parse(text)?;
    if req.protocol == Protocol::Mqtt {
        let (topic, payload) = push_mqtt(&req, p)?;
        return Ok(format!("{topic}\n{payload}\n"));
    }
    let (server, client) = (p.server, p.client);
    let (pk, dn) = req.device.split_once('/').expect("checked by parse");
    let mut images: Vec<(String, Vec<u8>)> = Vec::new();
    for path in &req.images {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Distinct file names within the job (two fw.bin from different folders).
        let base = image_name(path);
        let mut name = base.clone();
        let mut n = 1;
        while images.iter().any(|(other, _)| *other == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        images.push((name, data));
    }
    let job = build_job(
        server,
        images,
        req.fault,
        Listener::Https,
        Job {
            kind: req.kind,
            version: req.version.clone(),
            sign_method: req.sign_method,
            files: Vec::new(),
            module: req.module.clone(),
            ext_data: req.ext_data.clone(),
        },
    );
    let (topic, payload) = client.push(pk, dn, &job);
    Ok(format!("{topic}\n{payload}\n"))
}

pub fn run_serve(
    state_dir: PathBuf,
    devices: Vec<Device>,
    thing_models: Vec<(String, PathBuf)>,
) -> Result<u8, String> {
    process::become_subreaper();
    process::catch_termination();
    let platform = Platform::with_devices(&state_dir, &devices).map_err(|e| format!("broker: {e}"))?;
    let server = FirmwareServer::start(&state_dir).map_err(|e| format!("firmware server: {e}"))?;
    let client =
        Arc::new(OtaClient::start(&platform.broker.info).map_err(|e| format!("platform client: {e}"))?);
    let thing = crate::start_thing(&platform, &thing_models)?;
    let shadow = crate::start_shadow(&platform)?;
    let devinfo = crate::start_devinfo(&platform)?;
    let _logpost = crate::start_logpost(&platform)?;
    let auth = crate::start_auth(&platform)?;
    let mota = MotaService::start_idle(&platform.broker.info).map_err(|e| format!("mota service: {e}"))?;
    let me = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    crate::print_info(&platform, &me);
    println!(
        "auth     : https://localhost:{}, http://127.0.0.1:{} (registration, bootstrap, HTTP uplink; \
         `aiot-platform prov`)",
        auth.port(),
        auth.http_port()
    );
    for (k, v) in auth.env() {
        println!("export {k}='{}'", v.to_string_lossy());
    }
    println!(
        "firmware : https://localhost:{} (CA {}), http://127.0.0.1:{}",
        server.https_port(),
        platform.broker.ca_file().display(),
        server.http_port()
    );
    println!(
        "push     : aiot-platform push --state-dir {} --device PK/DN --image FILE [--image FILE2 ...] \
         --version V",
        state_dir.display()
    );
    println!(
        "mota     : aiot-platform push ... --protocol mqtt [--fault crc:3] (OTA over MQTT: blocks \
         served on /sys/<pk>/<dn>/thing/file/download_reply)"
    );
    println!(
        "dm       : aiot-platform dm set|call|rrpc|show ... --state-dir {} (thing uplinks in thing.log)",
        state_dir.display()
    );
    println!("shadow   : aiot-platform shadow control|show ... (shadow.log); tags: aiot-platform devinfo show (devinfo.log)");
    println!();
    let out = Out::stderr();
    for service in [&shadow, &devinfo] {
        let o = out.clone();
        service.set_observer(Arc::new(move |l: &str| o.line(l)));
    }
    let o = out.clone();
    mota.set_observer(Arc::new(move |l: &str| o.line(l)));
    let board = Arc::new(Mutex::new(Board::new(out.clone())));
    let observer = board.clone();
    client.set_observer(move |k, ev| observer.lock().unwrap().show(k, ev));
    let queue = queue_dir(&state_dir);
    std::fs::create_dir_all(&queue).map_err(|e| format!("{}: {e}", queue.display()))?;
    let mut pushers = Pushers {
        server: &server,
        client: &client,
        mota: &mota,
        next_stream: FIRST_STREAM_ID,
        board: &board,
    };
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
                match handle_request(&text, &mut pushers) {
                    Ok(msg) => {
                        out.line(&format!("pushed: {}", msg.trim_end()));
                        let _ = std::fs::write(p.with_extension("done"), msg);
                    }
                    Err(err) => {
                        out.line(&format!("push failed: {err}"));
                        let _ = std::fs::write(p.with_extension("err"), err);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    board.lock().unwrap().close();
    drop(mota);
    drop(auth);
    drop(thing);
    drop(client);
    drop(server);
    drop(platform);
    process::sweep_children(Duration::from_secs(3));
    println!("stopped (signal {sig})");
    Ok(0)
}

/// Options of `push`.
#[derive(clap::Args)]
pub struct PushArgs {
    /// The state folder of the running `serve`.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// The device, as productKey/deviceName.
    #[arg(long, value_name = "PK/DN")]
    pub device: String,
    /// An image file to serve. Repeat for a multi-file job (up to 20, a "files" array): the
    /// first one is the main image (size/sign/url of the job), as in ota-exec --files.
    #[arg(long = "image", value_name = "FILE", required = true)]
    pub images: Vec<PathBuf>,
    /// Target version (FOTA) or configId (COTA).
    #[arg(long)]
    pub version: String,
    /// Digest announced in the job: sha256 ("SHA256", COTA "Sha256") or md5 ("Md5").
    #[arg(long, value_enum, default_value = "sha256")]
    pub sign_method: SignArg,
    /// "module" of the job (FOTA only).
    #[arg(long, value_name = "M")]
    pub module: Option<String>,
    /// "extData" of the job (FOTA only): a JSON object, e.g. '{"key":"value"}'; anything
    /// else is refused (exit 2).
    #[arg(long, value_name = "JSON")]
    pub ext_data: Option<String>,
    /// Fault injected when serving the images: none, drop:N, corrupt:K, throttle:B,
    /// status:404, status:500, lie:N, drop-every:N, stall:N, mute:MS, ignore-range (see
    /// `ota-exec --help`). With --protocol mqtt, a fault of the block replies as mota-exec's:
    /// KIND[:FIRST[:COUNT]], KIND crc, offset, short, big, drop, dup, slow or slow=MS (see
    /// `mota-exec --help`), counted from the job's first request.
    #[arg(long, value_name = "FAULT", default_value = "none")]
    pub fault: String,
    /// Firmware (push on /ota/device/upgrade) or remote configuration (push on
    /// /sys/<pk>/<dn>/thing/config/push; one image).
    #[arg(long, value_enum, default_value = "fota")]
    pub kind: KindArg,
    /// How the device gets the image: https (a URL on serve's firmware server) or mqtt
    /// ("dProtocol":"mqtt": serve answers its block requests; one image, fota, no --ext-data).
    #[arg(long, value_enum, default_value = "https")]
    pub protocol: ProtocolArg,
}

pub fn run_push(a: PushArgs) -> Result<u8, String> {
    let (protocol, fault, mota_fault) = match a.protocol {
        ProtocolArg::Https => (
            Protocol::Https,
            crate::parse_fault(&a.fault).map_err(|e| format!("--fault: {e}"))?,
            MotaFault::default(),
        ),
        ProtocolArg::Mqtt => (
            Protocol::Mqtt,
            Fault::None,
            a.fault
                .parse::<MotaFault>()
                .map_err(|e| format!("--fault (a block fault with --protocol mqtt): {e}"))?,
        ),
    };
    let mut req = PushRequest {
        device: a.device.clone(),
        version: a.version.clone(),
        images: a.images.clone(),
        kind: match a.kind {
            KindArg::Fota => Kind::Fota,
            KindArg::Cota => Kind::Cota,
        },
        sign_method: a.sign_method.into(),
        fault,
        module: a.module.clone(),
        ext_data: match &a.ext_data {
            Some(e) => Some(ext_data_object(e).map_err(|err| format!("--ext-data {err}"))?),
            None => None,
        },
        protocol,
        mota_fault,
    };
    // The same checks as `serve`'s, before anything is read or written.
    req.check()?;
    // `serve` reads the images later, maybe from another folder.
    for image in &mut req.images {
        *image = std::fs::canonicalize(&*image).map_err(|e| format!("--image {}: {e}", image.display()))?;
    }
    let text = req.to_text()?;
    let queue = queue_dir(&a.state_dir);
    if !queue.is_dir() {
        return Err(format!(
            "no `serve` running in {} (no push-queue)",
            a.state_dir.display()
        ));
    }
    let id = format!("{}-{}", std::process::id(), aiot_platform::ota::now_ms());
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
            return Err(format!("serve refused the job: {err}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(queue.join(format!("{id}.req")));
    Err("`serve` did not answer within 10 s".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_order_is_a_subsequence_of_lines() {
        let lines: Vec<String> = ["a connect", "b user", "c pub", "d digest matched", "e done"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(log_order(&lines, &o(&["connect", "pub", "done"])), Ok(()));
        assert!(log_order(&lines, &o(&["pub", "connect"])).is_err());
        assert!(log_order(&lines, &o(&["connect", "missing"])).is_err());
        // One line serves one entry only.
        assert!(log_order(&lines, &o(&["pub", "pub"])).is_err());
    }

    #[test]
    fn push_refuses_a_bad_ext_data_before_anything_else() {
        let args = |ext: &str| PushArgs {
            state_dir: PathBuf::from("/nonexistent/aiot-state"),
            device: "pk/dn".into(),
            images: vec![PathBuf::from("/nonexistent/fw.bin")],
            version: "1.0".into(),
            sign_method: SignArg::Sha256,
            module: None,
            ext_data: Some(ext.into()),
            fault: "none".into(),
            kind: KindArg::Fota,
            protocol: ProtocolArg::Https,
        };
        let e = run_push(args("[\"not\", \"an object\"]")).unwrap_err();
        assert!(e.starts_with("--ext-data must be a JSON object"), "{e}");
        let e = run_push(args("{oops")).unwrap_err();
        assert!(e.starts_with("--ext-data is not JSON"), "{e}");
        // A good one gets further (to the missing image).
        let e = run_push(args("{\"ok\":true}")).unwrap_err();
        assert!(e.starts_with("--image /nonexistent/fw.bin"), "{e}");
    }
}
