//! `mota-exec`: OTA over MQTT end to end. Starts the broker and the platform's block service,
//! runs PROGRAM (a device that fetches its image with `aiot_mqtt_download_*`), then judges
//! what the platform saw and the file the device wrote.

use std::path::PathBuf;
use std::time::Duration;

use aiot_platform::firmware::{generate_image, sha256_hex};
use aiot_platform::mqtt_download::{judge, Expect, Fault, MotaEvent, MotaJob, MotaService};
use aiot_platform::{process, Device, Platform};
use clap::ValueEnum;

use crate::{new_temp_dir, run_program, TempDir};

pub const MOTA_LONG_ABOUT: &str = "\
Start the broker and the platform's MQTT download service, run PROGRAM (a device that fetches
its firmware over MQTT with aiot_mqtt_download_*, e.g. a build of upstream's mota_basic_demo.c),
stop everything and judge what the platform saw.

On the device's first version report (/ota/device/inform/<pk>/<dn>) the job is pushed (300 ms
later) on /ota/device/upgrade/<pk>/<dn> with \"dProtocol\":\"mqtt\", streamId 1000001,
streamFileId 1, size, version, sign, signMethod (Md5 or SHA256) and md5. Each request on
/sys/<pk>/<dn>/thing/file/download (its JSON read leniently: upstream writes \"fileId\":1,}) is
answered on /sys/<pk>/<dn>/thing/file/download_reply with
  [header length, u16 big-endian][{\"code\":200,\"data\":{\"fileToken\":\"default\",
  \"fileLength\":<size>,\"bOffset\":<offset>,\"bSize\":<n>},\"id\":<id>,\"message\":\"success\"}]
  [n bytes of the image][CRC-16/ARC of them, u16 little-endian]

Faults (--fault, or AIOT_MOTA_FAULT when --fault is not given): KIND[:FIRST[:COUNT]], applied
to the replies to the FIRST-th request of the device (1-based, default 1) and the COUNT-1 after
it (default 1; `all`: every one from FIRST on):
  crc       the block's CRC is inverted
  offset    bOffset names the next block (and its data), not the one asked for
  short     the frame is cut: 10 bytes of data missing, bSize unchanged
  big       16 bytes more than asked for
  drop      no reply
  dup       the reply is sent twice (the copy must be ignored, not written again)
  slow      the reply comes late: slow=MS (default 12000, past the SDK's 10 s timeout)

PROGRAM gets the variables of `exec` plus AIOT_FIRMWARE_OUT (<state>/received.bin: where to
write the blocks), AIOT_FIRMWARE_SIZE, AIOT_FIRMWARE_VERSION, AIOT_FIRMWARE_SHA256 and, with
--range S:E, AIOT_MOTA_RANGE=S:E (the bytes S..=E, inclusive, as the SDK's header documents).

Verdict: the device reported a version before the job and requested blocks, and
  success           progress reached 100 with no failure step, the file (--out, default
                    AIOT_FIRMWARE_OUT) holds the image (or bytes S..=E with --range), exit 0
  checksum-failure  step -3 reported, never 100, exit 0
  fetch-failure     step -4 reported, never 100, exit 0
Exit status: 0 when the verdict holds, 1 when not, 2 when the platform could not start.";

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MotaExpectArg {
    Success,
    ChecksumFailure,
    FetchFailure,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MotaSignArg {
    Md5,
    Sha256,
}

/// Options of `mota-exec`.
#[derive(clap::Args)]
pub struct MotaExecArgs {
    /// State folder (default: a new temporary folder, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Kill PROGRAM after this many seconds (it then counts as exit 124).
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub timeout: u64,
    /// A device as productKey/deviceName/deviceSecret. Repeatable; replaces the defaults.
    #[arg(long = "device", value_name = "PK/DN/DS", value_parser = Device::parse)]
    pub devices: Vec<Device>,
    /// Serve this file as the image.
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// Size of the generated image (deterministic pseudo-random bytes).
    #[arg(long, value_name = "BYTES", default_value_t = 204_800)]
    pub image_size: usize,
    /// Target version.
    #[arg(long, default_value = "1.1.0")]
    pub version: String,
    /// Digest announced in the job ("Md5" or "SHA256").
    #[arg(long, value_enum, default_value = "md5")]
    pub sign_method: MotaSignArg,
    /// Announce a wrong digest (the image's with its first hex digit changed).
    #[arg(long)]
    pub bad_sign: bool,
    /// Fault of the block service: KIND[:FIRST[:COUNT]] with KIND crc, offset, short, big,
    /// drop, dup, slow or slow=MS (see the long help). Default: $AIOT_MOTA_FAULT, else none.
    #[arg(long, value_name = "FAULT")]
    pub fault: Option<String>,
    /// The device fetches bytes S..=E only (passed as AIOT_MOTA_RANGE); judged on them.
    #[arg(long, value_name = "S:E")]
    pub range: Option<String>,
    /// The file the device writes (default AIOT_FIRMWARE_OUT); relative to the current folder.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The outcome that makes mota-exec exit 0.
    #[arg(long, value_enum, default_value = "success")]
    pub expect: MotaExpectArg,
    /// The program to run, and its arguments (after `--`).
    #[arg(
        value_name = "PROGRAM [ARGS]...",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub program: Vec<String>,
}

fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s.split_once(':').ok_or("--range wants S:E")?;
    let a = a.parse().map_err(|_| format!("{a:?} is not a byte offset"))?;
    let b = b.parse().map_err(|_| format!("{b:?} is not a byte offset"))?;
    if a > b {
        return Err("--range: S > E".into());
    }
    Ok((a, b))
}

pub fn run_mota_exec(a: MotaExecArgs) -> Result<u8, String> {
    let fault_text = a
        .fault
        .clone()
        .or_else(|| std::env::var("AIOT_MOTA_FAULT").ok())
        .unwrap_or_else(|| "none".into());
    let fault: Fault = fault_text.parse().map_err(|e| format!("--fault: {e}"))?;
    let range = a.range.as_deref().map(parse_range).transpose()?;
    let image = match &a.image {
        Some(p) => std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => generate_image(a.image_size, 7),
    };
    if let Some((_, e)) = range {
        if e >= image.len() {
            return Err(format!("--range ends past the image ({} bytes)", image.len()));
        }
    }
    let mut job = MotaJob::new(
        &a.version,
        image.clone(),
        matches!(a.sign_method, MotaSignArg::Md5),
    );
    if a.bad_sign {
        let first = if job.sign.starts_with('0') { "1" } else { "0" };
        job.sign.replace_range(0..1, first);
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
    let devices = if a.devices.is_empty() {
        aiot_platform::default_devices()
    } else {
        a.devices.clone()
    };
    let platform = Platform::with_devices(&dir, &devices).map_err(|e| format!("broker: {e}"))?;
    let service = MotaService::start(&platform.broker.info, job.clone(), fault)
        .map_err(|e| format!("mota service: {e}"))?;
    let out_file = dir.join("received.bin");
    let _ = std::fs::remove_file(&out_file);
    let judged_file = a.out.clone().unwrap_or_else(|| out_file.clone());
    if a.out.is_some() {
        let _ = std::fs::remove_file(&judged_file);
    }
    let me = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut env = platform.env(&me);
    env.push(("AIOT_FIRMWARE_OUT", out_file.clone().into_os_string()));
    env.push(("AIOT_FIRMWARE_SIZE", image.len().to_string().into()));
    env.push(("AIOT_FIRMWARE_VERSION", a.version.clone().into()));
    env.push(("AIOT_FIRMWARE_SHA256", sha256_hex(&image).into()));
    if let Some((s, e)) = range {
        env.push(("AIOT_MOTA_RANGE", format!("{s}:{e}").into()));
    }
    let status = run_program(&a.program, env, a.timeout);
    std::thread::sleep(Duration::from_millis(300));
    let events = service.events();
    drop(service);
    drop(platform);
    process::sweep_children(Duration::from_secs(3));
    let written = std::fs::read(&judged_file).ok();
    drop(temp);
    let status = status?;

    let want: &[u8] = match range {
        Some((s, e)) => &image[s..=e],
        None => &image,
    };
    println!("== aiot-platform mota-exec summary ==");
    println!(
        "job      : version {} ({} bytes, {} {}{}), fault {fault_text}",
        a.version,
        image.len(),
        job.sign_method,
        job.sign,
        if a.bad_sign { " (wrong on purpose)" } else { "" }
    );
    let mut keys: Vec<_> = events.keys().cloned().collect();
    keys.sort();
    let mut verdict: Result<(), String> = Err("no device reported a version".into());
    let expect = match a.expect {
        MotaExpectArg::Success => Expect::Success,
        MotaExpectArg::ChecksumFailure => Expect::ChecksumFailure,
        MotaExpectArg::FetchFailure => Expect::FetchFailure,
    };
    for k in &keys {
        let evs = &events[k];
        let steps: Vec<i64> = evs
            .iter()
            .filter_map(|e| match e {
                MotaEvent::Progress(s) => Some(*s),
                _ => None,
            })
            .collect();
        let requests: Vec<String> = evs
            .iter()
            .filter_map(|e| match e {
                MotaEvent::Request(r, f) => Some(format!("{}+{}{}", r.offset, r.size, fault_tag(*f))),
                _ => None,
            })
            .collect();
        println!("device   : {}/{}", k.0, k.1);
        println!("  steps    : {steps:?}");
        println!("  requests : {} [{}]", requests.len(), requests.join(" "));
        if evs
            .iter()
            .any(|e| matches!(e, MotaEvent::Request(r, _) if !r.trailing_comma))
        {
            println!("  (requests without upstream's trailing comma)");
        }
        let v = judge(evs, expect);
        if verdict.is_err() {
            verdict = v;
        }
    }
    let file_ok = written.as_deref() == Some(want);
    match &written {
        Some(w) => println!(
            "file     : {} ({} bytes) {} the expected {} bytes (sha256 {})",
            judged_file.display(),
            w.len(),
            if file_ok { "equals" } else { "DIFFERS FROM" },
            want.len(),
            sha256_hex(want)
        ),
        None => println!("file     : {} was not written", judged_file.display()),
    }
    println!("program  : exit {status}");
    if verdict.is_ok() && expect == Expect::Success && !file_ok {
        verdict = Err("the file does not hold the expected bytes".into());
    }
    if verdict.is_ok() && status != 0 {
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

fn fault_tag(f: aiot_platform::mqtt_download::FaultKind) -> String {
    use aiot_platform::mqtt_download::FaultKind;
    match f {
        FaultKind::None => String::new(),
        other => format!("({other:?})").to_lowercase(),
    }
}
