//! `ota-exec`, `serve` and `push`: the OTA commands of the `aiot-platform` command line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiot_platform::firmware::{generate_image, sha256_hex, Fault, FirmwareServer};
use aiot_platform::ota::{
    judge, DeviceKey, Expect, Job, JobFile, Kind, OtaClient, OtaEvent, PushOn, SignMethod,
};
use aiot_platform::{process, Device, Platform};
use clap::ValueEnum;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

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
// serve / push: a file queue in <state>/push-queue. `push` writes <id>.req (a `PushRequest` as
// key=value lines) atomically; `serve` picks it up, pushes, and writes <id>.done (the topic and
// payload) or <id>.err (why not).

fn queue_dir(state: &Path) -> PathBuf {
    state.join("push-queue")
}

/// Most images in one job (as ota-exec's --files).
pub const MAX_IMAGES: usize = 20;

/// `fault` as [`Fault`]'s `from_str` reads it back.
fn fault_text(fault: Fault) -> String {
    match fault {
        Fault::None => "none".to_string(),
        Fault::Drop(n) => format!("drop:{n}"),
        Fault::Corrupt(n) => format!("corrupt:{n}"),
        Fault::Throttle(n) => format!("throttle:{n}"),
        Fault::Status(n) => format!("status:{n}"),
        Fault::Lie(n) => format!("lie:{n}"),
    }
}

/// `text` without the whitespace between its JSON tokens (strings, key order and the spelling of
/// numbers are kept, so the device gets what was given). `text` must be valid JSON.
fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// The compact text of `text` when it is a JSON object (the `extData` of a job), else why not.
pub fn ext_data_object(text: &str) -> Result<String, String> {
    const EXAMPLE: &str = "give an object such as '{\"key\":\"value\"}'";
    let what = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => return Ok(compact_json(text)),
        Err(e) => return Err(format!("is not JSON ({e}); {EXAMPLE}")),
        Ok(serde_json::Value::Array(_)) => "an array",
        Ok(serde_json::Value::String(_)) => "a string",
        Ok(serde_json::Value::Number(_)) => "a number",
        Ok(serde_json::Value::Bool(_)) => "a boolean",
        Ok(serde_json::Value::Null) => "null",
    };
    Err(format!("must be a JSON object, not {what}; {EXAMPLE}"))
}

/// One job asked of `serve`: what `push` writes to `<id>.req` and `serve` reads back.
///
/// The file is UTF-8 text, one `key=value` per line; the value runs to the end of the line and is
/// kept as written. Blank lines, lines without `=` and lines starting with `#` are skipped, and
/// unknown keys are ignored (a newer `push` may add some). Keys:
///
/// ```text
/// device=PK/DN              required
/// version=V                 required (the configId for cota)
/// image=/abs/path           required; once per file, in job order (the first is the main image)
/// kind=fota|cota            default fota
/// sign_method=sha256|md5    default sha256
/// fault=none|drop:N|...     default none (as ota-exec's --fault)
/// module=M                  optional (empty: none)
/// ext_data={...}            optional: a JSON object, on one line
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PushRequest {
    pub device: String,
    pub version: String,
    pub images: Vec<PathBuf>,
    pub kind: Kind,
    pub sign_method: SignMethod,
    pub fault: Fault,
    pub module: Option<String>,
    /// A JSON object (compact text).
    pub ext_data: Option<String>,
}

impl PushRequest {
    /// What both sides rely on: PK/DN, a version, 1..=20 images (one for cota), an object as
    /// ext_data.
    fn check(&self) -> Result<(), String> {
        match self.device.split_once('/') {
            Some((pk, dn)) if !pk.is_empty() && !dn.is_empty() && !dn.contains('/') => {}
            _ => return Err(format!("device must be PK/DN, not '{}'", self.device)),
        }
        if self.version.is_empty() {
            return Err("the version is empty".into());
        }
        if self.images.is_empty() || self.images.len() > MAX_IMAGES {
            return Err(format!(
                "a job has 1 to {MAX_IMAGES} images, not {}",
                self.images.len()
            ));
        }
        if self.kind == Kind::Cota && self.images.len() > 1 {
            return Err(format!("a cota job takes one image, not {}", self.images.len()));
        }
        if let Some(e) = &self.ext_data {
            ext_data_object(e).map_err(|err| format!("ext_data {err}"))?;
        }
        Ok(())
    }

    /// The request file's text.
    pub fn to_text(&self) -> Result<String, String> {
        self.check()?;
        let mut lines = vec![("device", self.device.clone()), ("version", self.version.clone())];
        for image in &self.images {
            let path = image
                .to_str()
                .ok_or_else(|| format!("{}: the path is not UTF-8", image.display()))?;
            lines.push(("image", path.to_owned()));
        }
        let kind = match self.kind {
            Kind::Fota => "fota",
            Kind::Cota => "cota",
        };
        let sign = match self.sign_method {
            SignMethod::Sha256 => "sha256",
            SignMethod::Md5 => "md5",
        };
        lines.push(("kind", kind.to_owned()));
        lines.push(("sign_method", sign.to_owned()));
        lines.push(("fault", fault_text(self.fault)));
        if let Some(m) = &self.module {
            lines.push(("module", m.clone()));
        }
        if let Some(e) = &self.ext_data {
            lines.push(("ext_data", compact_json(e)));
        }
        let mut text = String::from("# aiot-platform push request\n");
        for (k, v) in lines {
            if v.contains(['\n', '\r']) {
                return Err(format!("the {k} must be one line, not {v:?}"));
            }
            text += &format!("{k}={v}\n");
        }
        Ok(text)
    }

    /// Reads a request file's text; errors name the key at fault.
    pub fn parse(text: &str) -> Result<PushRequest, String> {
        const SINGLE: [&str; 7] = [
            "device",
            "version",
            "kind",
            "sign_method",
            "fault",
            "module",
            "ext_data",
        ];
        let mut one: HashMap<&str, &str> = HashMap::new();
        let mut images = Vec::new();
        for line in text.lines() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim();
            if key == "image" {
                images.push(PathBuf::from(value));
            } else if let Some(k) = SINGLE.iter().find(|k| **k == key) {
                if one.insert(k, value).is_some() {
                    return Err(format!("the request has {key}= twice"));
                }
            }
        }
        let need = |k: &str| {
            one.get(k)
                .map(|v| v.to_string())
                .ok_or_else(|| format!("the request has no {k}= (device=, version= and image= are needed)"))
        };
        let device = need("device")?;
        let version = need("version")?;
        if images.is_empty() {
            return Err("the request has no image= (device=, version= and image= are needed)".into());
        }
        let kind = match one.get("kind").copied() {
            None | Some("fota") => Kind::Fota,
            Some("cota") => Kind::Cota,
            Some(other) => return Err(format!("kind must be fota or cota, not '{other}'")),
        };
        let sign_method = match one.get("sign_method").copied() {
            None | Some("sha256") => SignMethod::Sha256,
            Some("md5") => SignMethod::Md5,
            Some(other) => return Err(format!("sign_method must be sha256 or md5, not '{other}'")),
        };
        let fault = match one.get("fault") {
            Some(f) => f.parse()?,
            None => Fault::None,
        };
        let module = one.get("module").filter(|m| !m.is_empty()).map(|m| m.to_string());
        let ext_data = match one.get("ext_data").filter(|e| !e.trim().is_empty()) {
            Some(e) => Some(ext_data_object(e).map_err(|err| format!("ext_data {err}"))?),
            None => None,
        };
        let req = PushRequest {
            device,
            version,
            images,
            kind,
            sign_method,
            fault,
            module,
            ext_data,
        };
        req.check()?;
        Ok(req)
    }
}

/// The name an image is served under: its file stem when that is a plain name, else "firmware".
fn image_name(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or("firmware")
        .to_owned()
}

fn handle_request(text: &str, server: &FirmwareServer, client: &OtaClient) -> Result<String, String> {
    let req = PushRequest::parse(text)?;
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
        true,
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

/// What upstream's OTA demos mean by a negative progress step.
fn failure_name(step: i64) -> &'static str {
    match step {
        -1 => "upgrade failed",
        -2 => "download failed",
        -3 => "verification failed",
        -4 => "flash failed",
        _ => "failed",
    }
}

/// Where `serve` writes: progress bars on stderr when it is a terminal, plain lines otherwise.
#[derive(Clone)]
struct Out {
    multi: MultiProgress,
    /// stderr is not a terminal: no bars (indicatif hides them), a plain line per 10 %.
    plain: bool,
}

impl Out {
    fn stderr() -> Out {
        let multi = MultiProgress::new();
        let plain = multi.is_hidden();
        Out { multi, plain }
    }

    /// A line on stderr (above the bars when they show).
    fn line(&self, text: &str) {
        if self.plain {
            eprintln!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }
}

/// A device's current job on the board.
struct Track {
    bar: ProgressBar,
    /// "PK/DN -> VERSION".
    label: String,
    version: String,
    /// The last tenth (step / 10) printed as a plain line.
    printed: Option<i64>,
    /// Reached 100 or failed.
    done: bool,
}

/// `serve`'s view of the devices: one progress bar per device and job (position = the reported
/// step), and plain lines for everything else.
struct Board {
    out: Out,
    tracks: HashMap<DeviceKey, Track>,
}

impl Board {
    fn new(out: Out) -> Board {
        Board {
            out,
            tracks: HashMap::new(),
        }
    }

    /// Shows `ev`.
    fn show(&mut self, key: &DeviceKey, ev: &OtaEvent) {
        for line in self.on_event(key, ev) {
            self.out.line(&line);
        }
    }

    /// Updates the bars for `ev` and returns the lines to print.
    fn on_event(&mut self, key: &DeviceKey, ev: &OtaEvent) -> Vec<String> {
        let who = format!("{}/{}", key.0, key.1);
        let mut lines = Vec::new();
        let step = match ev {
            OtaEvent::Progress { step, .. } if (-100..=100).contains(step) => *step,
            OtaEvent::Pushed { version, .. } => {
                lines.push(format!("{who}  {}", describe(ev)));
                let same = self
                    .tracks
                    .get(key)
                    .is_some_and(|t| !t.done && t.version == *version);
                if !same {
                    self.start(key, version, &mut lines);
                }
                return lines;
            }
            OtaEvent::Progress { .. } => {
                lines.push(format!(
                    "{who}  {} (not a step: 0..100, or -1..-4 for a failure)",
                    describe(ev)
                ));
                return lines;
            }
            _ => {
                lines.push(format!("{who}  {}", describe(ev)));
                return lines;
            }
        };
        let desc = match ev {
            OtaEvent::Progress { desc, .. } if !desc.is_empty() => format!(": {desc}"),
            _ => String::new(),
        };
        if self.tracks.get(key).is_none_or(|t| t.done) {
            // A job pushed before this `serve` started, or progress again after the end (a retry).
            let version = self
                .tracks
                .get(key)
                .map(|t| t.version.clone())
                .unwrap_or_else(|| "?".into());
            if step < 0 {
                lines.push(format!(
                    "{who} -> {version}: {} (step {step}){desc}",
                    failure_name(step)
                ));
                return lines;
            }
            self.start(key, &version, &mut lines);
        }
        let plain = self.out.plain;
        let t = self.tracks.get_mut(key).expect("started above");
        if step < 0 {
            let text = format!("{}: {} (step {step}){desc}", t.label, failure_name(step));
            t.done = true;
            t.bar.abandon_with_message(text.clone());
            if plain {
                lines.push(text);
            }
            return lines;
        }
        t.bar.set_position(step as u64);
        if step == 100 {
            t.done = true;
            t.bar.finish_with_message(format!("{}: done", t.label));
        }
        let tenth = step / 10;
        if plain && t.printed != Some(tenth) {
            t.printed = Some(tenth);
            let end = if step == 100 { " done" } else { "" };
            lines.push(format!("{}  {step:>3}%{end}{desc}", t.label));
        }
        lines
    }

    /// A new bar for `key`'s job to `version`, in place of the one before.
    fn start(&mut self, key: &DeviceKey, version: &str, lines: &mut Vec<String>) {
        if let Some(old) = self.tracks.remove(key) {
            if !old.done {
                let text = format!(
                    "{}: replaced at {}% by the job to {version}",
                    old.label,
                    old.bar.position()
                );
                old.bar.abandon_with_message(text.clone());
                lines.push(text);
            } else if !self.out.plain {
                // Its outcome stays in the scroll-back.
                lines.push(format!("[{:>3}%] {}", old.bar.position(), old.bar.message()));
            }
            self.out.multi.remove(&old.bar);
        }
        let label = format!("{}/{} -> {version}", key.0, key.1);
        let style = ProgressStyle::with_template("[{bar:30}] {pos:>3}%  {msg}")
            .expect("a valid template")
            .progress_chars("#>-");
        let bar = self.out.multi.add(
            ProgressBar::new(100)
                .with_style(style)
                .with_message(label.clone()),
        );
        self.tracks.insert(
            key.clone(),
            Track {
                bar,
                label,
                version: version.to_owned(),
                printed: None,
                done: false,
            },
        );
    }

    /// Leaves the unfinished bars on screen as they are (serve is stopping).
    fn close(&mut self) {
        for t in self.tracks.values().filter(|t| !t.done) {
            t.bar.abandon();
        }
    }
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
        "push     : aiot-platform push --state-dir {} --device PK/DN --image FILE [--image FILE2 ...] \
         --version V",
        state_dir.display()
    );
    println!();
    let out = Out::stderr();
    let board = Arc::new(Mutex::new(Board::new(out.clone())));
    let observer = board.clone();
    client.set_observer(move |k, ev| observer.lock().unwrap().show(k, ev));
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
    drop(client);
    drop(server);
    drop(platform);
    process::sweep_children(Duration::from_secs(3));
    println!("stopped (signal {sig})");
    Ok(0)
}

/// Options of `push`.
pub struct PushArgs {
    pub state_dir: PathBuf,
    pub device: String,
    pub images: Vec<PathBuf>,
    pub version: String,
    pub sign_method: SignArg,
    pub module: Option<String>,
    pub ext_data: Option<String>,
    pub fault: Fault,
    pub kind: KindArg,
}

pub fn run_push(a: PushArgs) -> Result<u8, String> {
    let mut req = PushRequest {
        device: a.device.clone(),
        version: a.version.clone(),
        images: a.images.clone(),
        kind: match a.kind {
            KindArg::Fota => Kind::Fota,
            KindArg::Cota => Kind::Cota,
        },
        sign_method: a.sign_method.into(),
        fault: a.fault,
        module: a.module.clone(),
        ext_data: match &a.ext_data {
            Some(e) => Some(ext_data_object(e).map_err(|err| format!("--ext-data {err}"))?),
            None => None,
        },
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
    use indicatif::ProgressDrawTarget;

    fn request() -> PushRequest {
        PushRequest {
            device: "a1TestPK001/device1".into(),
            version: "1.2.0".into(),
            images: vec![
                PathBuf::from("/fw/app.bin"),
                PathBuf::from("/fw/res with space.bin"),
                PathBuf::from("/fw/a=b/dsp.bin"),
            ],
            kind: Kind::Fota,
            sign_method: SignMethod::Md5,
            fault: Fault::Drop(300_000),
            module: Some("mcu".into()),
            ext_data: Some("{\"b\": 1,\n  \"a\": \"x y\\\" z\", \"n\": [1.50, {}]}".into()),
        }
    }

    #[test]
    fn request_round_trip_multi_file() {
        let req = request();
        let text = req.to_text().unwrap();
        assert_eq!(text.matches("\nimage=").count(), 3, "{text}");
        assert!(
            text.contains("\next_data={\"b\":1,\"a\":\"x y\\\" z\",\"n\":[1.50,{}]}\n"),
            "{text}"
        );
        let back = PushRequest::parse(&text).unwrap();
        // Same request; ext_data compact, its key order and number spelling kept.
        assert_eq!(
            back,
            PushRequest {
                ext_data: Some("{\"b\":1,\"a\":\"x y\\\" z\",\"n\":[1.50,{}]}".into()),
                ..req
            }
        );
        assert_eq!(back.images[1], PathBuf::from("/fw/res with space.bin"));
        assert_eq!(back.images[2], PathBuf::from("/fw/a=b/dsp.bin"));
    }

    #[test]
    fn request_round_trip_cota_and_defaults() {
        let req = PushRequest {
            kind: Kind::Cota,
            sign_method: SignMethod::Sha256,
            images: vec![PathBuf::from("/cfg/config.json")],
            fault: Fault::None,
            module: None,
            ext_data: None,
            ..request()
        };
        let text = req.to_text().unwrap();
        assert!(
            text.contains("\nkind=cota\n") && !text.contains("module="),
            "{text}"
        );
        assert_eq!(PushRequest::parse(&text).unwrap(), req);
        // Each fault reads back.
        for fault in [
            Fault::Corrupt(5),
            Fault::Throttle(1000),
            Fault::Status(404),
            Fault::Lie(10),
        ] {
            let req = PushRequest { fault, ..request() };
            assert_eq!(PushRequest::parse(&req.to_text().unwrap()).unwrap().fault, fault);
        }
        // Only the needed keys: the defaults.
        let min = PushRequest::parse("device=pk/dn\nversion=2\nimage=/x.bin\n").unwrap();
        assert_eq!(
            (min.kind, min.sign_method, min.fault, min.module, min.ext_data),
            (Kind::Fota, SignMethod::Sha256, Fault::None, None, None)
        );
    }

    #[test]
    fn request_parsing_is_robust() {
        // Unknown keys, comments, blank lines, lines without '=', CRLF and an empty module.
        let text = "# hand-written\r\n\r\nfuture_key=whatever\r\njunk line\r\n device =pk/dn\r\n\
                    version=3.0\r\nimage=/a.bin\r\nimage=/b.bin\r\nmodule=\r\next_data=\r\n";
        let req = PushRequest::parse(text).unwrap();
        assert_eq!(req.device, "pk/dn");
        assert_eq!(req.images, vec![PathBuf::from("/a.bin"), PathBuf::from("/b.bin")]);
        assert_eq!((req.module, req.ext_data), (None, None));

        let err = |text: &str| PushRequest::parse(text).unwrap_err();
        let base = "device=pk/dn\nversion=1\nimage=/a.bin\n";
        assert!(err("version=1\nimage=/a.bin\n").contains("no device="));
        assert!(err("device=pk/dn\nimage=/a.bin\n").contains("no version="));
        assert!(err("device=pk/dn\nversion=1\n").contains("no image="));
        assert!(err("").contains("no device="));
        assert!(err(&format!("{base}version=2\n")).contains("version= twice"));
        assert!(err(&format!("{base}kind=sota\n")).contains("kind must be fota or cota"));
        assert!(err(&format!("{base}sign_method=crc\n")).contains("sign_method must be"));
        assert!(err(&format!("{base}fault=melt:1\n")).contains("bad fault"));
        assert!(err(&format!("{base}ext_data=[1]\n")).contains("ext_data must be a JSON object"));
        assert!(err(&format!("{base}ext_data={{\n")).contains("ext_data is not JSON"));
        assert!(err(&format!("{base}kind=cota\nimage=/b.bin\n")).contains("one image"));
        assert!(err("device=pkdn\nversion=1\nimage=/a.bin\n").contains("PK/DN"));
        assert!(err("device=pk/dn\nversion=\nimage=/a.bin\n").contains("version is empty"));
        let many: String = (0..21).map(|i| format!("image=/{i}.bin\n")).collect();
        assert!(err(&format!("device=pk/dn\nversion=1\n{many}")).contains("1 to 20 images"));
    }

    #[test]
    fn request_writer_refuses_what_it_cannot_write() {
        let req = PushRequest {
            version: "1.0\nimage=/etc/passwd".into(),
            ..request()
        };
        assert!(req.to_text().unwrap_err().contains("version must be one line"));
        let req = PushRequest {
            module: Some("m\r".into()),
            ..request()
        };
        assert!(req.to_text().unwrap_err().contains("module must be one line"));
        let req = PushRequest {
            ext_data: Some("\"text\"".into()),
            ..request()
        };
        assert!(req.to_text().unwrap_err().contains("not a string"));
        let req = PushRequest {
            kind: Kind::Cota,
            ..request()
        };
        assert!(req.to_text().unwrap_err().contains("cota job takes one image"));
    }

    #[test]
    fn ext_data_must_be_an_object() {
        assert_eq!(
            ext_data_object(" { \"k\" : \"v w\" , \"n\" : null } ").unwrap(),
            "{\"k\":\"v w\",\"n\":null}"
        );
        assert_eq!(ext_data_object("{}").unwrap(), "{}");
        for (bad, why) in [
            ("[1,2]", "not an array"),
            ("\"s\"", "not a string"),
            ("42", "not a number"),
            ("true", "not a boolean"),
            ("null", "not null"),
            ("{\"a\":", "is not JSON"),
            ("key=value", "is not JSON"),
            ("", "is not JSON"),
        ] {
            let e = ext_data_object(bad).unwrap_err();
            assert!(e.contains(why) && e.contains("{\"key\":\"value\"}"), "{bad}: {e}");
        }
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
            fault: Fault::None,
            kind: KindArg::Fota,
        };
        let e = run_push(args("[\"not\", \"an object\"]")).unwrap_err();
        assert!(e.starts_with("--ext-data must be a JSON object"), "{e}");
        let e = run_push(args("{oops")).unwrap_err();
        assert!(e.starts_with("--ext-data is not JSON"), "{e}");
        // A good one gets further (to the missing image).
        let e = run_push(args("{\"ok\":true}")).unwrap_err();
        assert!(e.starts_with("--image /nonexistent/fw.bin"), "{e}");
    }

    fn board(plain: bool) -> Board {
        Board::new(Out {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            plain,
        })
    }

    fn key() -> DeviceKey {
        ("a1TestPK001".into(), "device1".into())
    }

    fn progress(step: i64) -> OtaEvent {
        OtaEvent::Progress {
            step,
            desc: String::new(),
            module: None,
        }
    }

    fn pushed(version: &str) -> OtaEvent {
        OtaEvent::Pushed {
            version: version.into(),
            reply: false,
        }
    }

    #[test]
    fn board_plain_lines_per_tenth() {
        let mut b = board(true);
        let lines = b.on_event(&key(), &pushed("1.1.0"));
        assert_eq!(lines, ["a1TestPK001/device1  platform pushed 1.1.0"]);
        let mut lines = Vec::new();
        for step in (0..=100).step_by(2) {
            lines.extend(b.on_event(&key(), &progress(step)));
        }
        assert_eq!(lines.len(), 11, "{lines:#?}");
        assert_eq!(lines[0], "a1TestPK001/device1 -> 1.1.0    0%");
        assert_eq!(lines[4], "a1TestPK001/device1 -> 1.1.0   40%");
        assert_eq!(lines[10], "a1TestPK001/device1 -> 1.1.0  100% done");
        let t = &b.tracks[&key()];
        assert!(t.done && t.bar.is_finished());
        assert_eq!(t.bar.position(), 100);
        assert!(t.bar.message().ends_with(": done"));

        // A new job, failing at 30 %: one line naming the failure.
        b.on_event(&key(), &pushed("1.2.0"));
        b.on_event(&key(), &progress(30));
        let lines = b.on_event(&key(), &progress(-2));
        assert_eq!(lines, ["a1TestPK001/device1 -> 1.2.0: download failed (step -2)"]);
        let t = &b.tracks[&key()];
        assert!(t.done && t.bar.is_finished());
        assert_eq!(t.bar.position(), 30);
        // Another failure report after the end: still a line.
        let lines = b.on_event(&key(), &progress(-1));
        assert_eq!(lines, ["a1TestPK001/device1 -> 1.2.0: upgrade failed (step -1)"]);
        let ev = OtaEvent::Progress {
            step: -3,
            desc: "digest mismatch".into(),
            module: None,
        };
        assert_eq!(
            b.on_event(&key(), &ev),
            ["a1TestPK001/device1 -> 1.2.0: verification failed (step -3): digest mismatch"]
        );
        // Unexpected steps and other events are lines too.
        assert!(b.on_event(&key(), &progress(i64::MIN))[0].contains("not a step"));
        let v = OtaEvent::Version {
            version: "1.0.0".into(),
            module: None,
        };
        assert_eq!(b.on_event(&key(), &v), ["a1TestPK001/device1  version 1.0.0"]);
    }

    #[test]
    fn board_bars_per_device_and_job() {
        let mut b = board(false);
        let other: DeviceKey = ("a1TestPK001".into(), "device2".into());
        b.on_event(&key(), &pushed("1.1.0"));
        b.on_event(&other, &pushed("1.1.0"));
        // With bars, progress prints nothing.
        assert!(b.on_event(&key(), &progress(0)).is_empty());
        assert!(b.on_event(&key(), &progress(55)).is_empty());
        assert!(b.on_event(&other, &progress(10)).is_empty());
        assert_eq!(b.tracks[&key()].bar.position(), 55);
        assert_eq!(b.tracks[&other].bar.position(), 10);
        assert_eq!(b.tracks[&key()].bar.message(), "a1TestPK001/device1 -> 1.1.0");
        for (step, name) in [
            (-1, "upgrade failed"),
            (-2, "download failed"),
            (-3, "verification failed"),
            (-4, "flash failed"),
        ] {
            b.on_event(&other, &pushed(&format!("2.0.{}", -step)));
            b.on_event(&other, &progress(20));
            assert!(b.on_event(&other, &progress(step)).is_empty());
            let t = &b.tracks[&other];
            assert!(t.done && t.bar.is_finished());
            assert_eq!(
                t.bar.message(),
                format!("a1TestPK001/device2 -> 2.0.{}: {name} (step {step})", -step)
            );
        }
        // A repeated push of the same job keeps the bar; progress without a push gets one.
        b.on_event(&key(), &pushed("1.1.0"));
        assert_eq!(b.tracks[&key()].bar.position(), 55);
        b.on_event(&key(), &progress(100));
        assert!(b.tracks[&key()].bar.is_finished());
        let third: DeviceKey = ("pk".into(), "dn".into());
        b.on_event(&third, &progress(40));
        assert_eq!(b.tracks[&third].bar.message(), "pk/dn -> ?");
        // A new job replacing an unfinished one says so.
        let lines = b.on_event(&third, &pushed("9"));
        assert_eq!(lines[1], "pk/dn -> ?: replaced at 40% by the job to 9");
        assert_eq!(b.tracks[&third].bar.position(), 0);
    }
}
