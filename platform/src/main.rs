//! The `aiot-platform` command line.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiot_platform::auth_server::AuthServer;
use aiot_platform::firmware::Fault;
use aiot_platform::thing::{fixed_time_from_env, ThingService};
use aiot_platform::thing_model::{install, parse_model_arg};
use aiot_platform::{process, BrokerInfo, Device, Platform};

mod devinfo_cli;
mod dm_cli;
mod logpost_cli;
mod mqtt_download_cli;
mod ota_cli;
mod progress_board;
mod prov_cli;
mod push_queue;
mod shadow_cli;
mod task_cli;
use clap::{Parser, Subcommand, ValueEnum};

const ABOUT: &str = "A local Aliyun IoT platform for testing devices built on Link SDK C 4.x / libaiot";

const LONG_ABOUT: &str = "\
A local Aliyun IoT platform for testing devices built on Link SDK C 4.x / libaiot.

It runs a real mosquitto (from PATH, /usr/sbin or /usr/bin) on 127.0.0.1 that authenticates
devices exactly as the Aliyun IoT platform does:
  user name  <deviceName>&<productKey>
  password   upper-case hex HMAC-SHA256(key = deviceSecret,
             'clientId<pk>.<dn>deviceName<dn>productKey<pk>timestamp2524608000000')
  client id  anything (the SDK's '<pk>.<dn>|timestamp=...,securemode=2|' is accepted)
Each device may use /<pk>/<dn>/#, /sys/<pk>/<dn>/#, /ota/device/+/<pk>/<dn>,
/shadow/+/<pk>/<dn>, /ext/rrpc/+/sys/<pk>/<dn>/# and /ext/ntp/<pk>/<dn>/#. The platform's own
account 'platform' (random password) may use every topic.

`exec`, `ota-exec` and `serve` also run the platform's data-model and NTP side: property, event
and batch posts and desired get/delete are answered on their *_reply topic as Aliyun does (code
200, the id echoed as a string, none for \"ack\":0; Aliyun's 6304/6306/6310 for unknown
properties and wrong types when the product has a thing model), up_raw on up_raw_reply, NTP
requests on /ext/ntp/<pk>/<dn>/response; every device uplink goes to <state>/thing.log. `dm`
sets properties, calls services (also over RRPC) and shows what a device posted.

There are two listeners: plain MQTT and MQTT over TLS (1.2 or 1.3). The TLS certificate is signed
by a CA generated into the state folder and names DNS:localhost only, so connecting to
127.0.0.1 with certificate checks on fails on purpose (host-name mismatch).

State folder (--state-dir):
  ca.pem, ca.key           the test CA
  server.pem, server.key   the broker's certificate (DNS:localhost)
  wrong-ca.pem             an unrelated CA, for wrong-CA tests
  passwd, acl              mosquitto's password file and ACL
  mosquitto.conf           mosquitto's configuration
  ports                    '<tcp port> <tls port> <platform password>'
  broker.pid               pid of the running mosquitto
  mosquitto.log            mosquitto's log (every packet with AIOT_PLATFORM_LOG=all)
                           (AIOT_BROKER_DEFAULTS=1: mosquitto's default settings, only what
                           authentication and TLS need; no Nagle tuning, no delivery plugin)
  broker.log               mosquitto's stdout/stderr (start-up errors)
  devices                  the devices as <pk>/<dn>, one a line (first: `dm`'s default)
  thing.log                every data-model and /ext uplink of the devices, one JSON line
                           each: {\"topic\":..,\"payload\":..} (\"hex\" when not UTF-8)
  thing-model/<pk>.json    a product's thing model (Aliyun TSL JSON; --thing-model)
  desired/<pk>/<dn>.json   desired property values (`dm desired`)
  firmware.pem, .key       the firmware server's certificate (DNS:localhost), from ota-exec/serve
  received.bin             AIOT_FIRMWARE_OUT of ota-exec
  push-queue/              requests from `push` to `serve`
  provision.json           products, device names, activations, HTTP-uplink tokens (`prov`)
  dyn-creds                MQTT credentials of registered devices (read by the plugin)
  prov.sock                the platform's answers to MQTT registrations (plugin -> platform)
  auth.pem, .key           the HTTPS endpoint's certificate (DNS:localhost)

Default devices (replaced by --device):
  a1TestPK001/device1/s3cr3tDeviceSecretForTests0001
  a1TestPK001/device2/s3cr3tDeviceSecretForTests0002";

const EXEC_LONG_ABOUT: &str = "\
Start the broker, run PROGRAM against it, stop the broker and exit with PROGRAM's status.

PROGRAM runs with these variables set:
  AIOT_HOST             127.0.0.1 (plain MQTT)
  AIOT_TLS_HOST         localhost (MQTT over TLS; the only name in the server certificate)
  AIOT_PORT             plain MQTT port
  AIOT_TLS_PORT         MQTT over TLS port
  AIOT_PRODUCT_KEY      product key of the first device
  AIOT_DEVICE_NAME      device name of the first device
  AIOT_DEVICE_SECRET    device secret of the first device
  AIOT_DEVICE_NAME2     device name of the second device (the first again if there is one)
  AIOT_DEVICE_SECRET2   device secret of the second device
  AIOT_CA_FILE          <state>/ca.pem, the CA that signed the broker's certificate
  AIOT_WRONG_CA_FILE    <state>/wrong-ca.pem, an unrelated CA
  AIOT_BROKER_PID_FILE  <state>/broker.pid, pid of the running mosquitto
  AIOT_STATE_DIR        the state folder
  AIOT_PLATFORM         absolute path of this aiot-platform executable (for broker-ctl, dm)
  AIOT_AUTH_HOST        localhost (the HTTPS endpoint; certificate from AIOT_CA_FILE)
  AIOT_AUTH_PORT        HTTPS port of /auth/register/device, /auth/bootstrap, /auth, /topic/...
  AIOT_AUTH_HTTP_PORT   the same over plain HTTP (host 127.0.0.1)
  AIOT_REG_PRODUCT_KEY  a product for dynamic registration ...
  AIOT_REG_PRODUCT_SECRET          ... and its product secret
  AIOT_REG_DEVICE_NAME, AIOT_REG_DEVICE_NAME2, AIOT_REG_DEVICE_NAME3
                        pre-registered, not yet activated names of it
  AIOT_REG_ACTIVATED_DEVICE_NAME   a pre-registered name already activated
  AIOT_REG_UNKNOWN_DEVICE_NAME     a name it does not know (whitelist registration refuses it)

Dynamic registration (HTTPS and MQTT authType=register/regnwl), bootstrap and the HTTP uplink
are served as `prov --help` describes; `prov` also adds products and names, shows activations,
expires tokens and pushes the bootstrap notify.

While PROGRAM runs, the platform answers its data-model and NTP requests (see `dm --help`) and
records its uplinks in <state>/thing.log. NTP answers use the system clock, or a fixed one:
AIOT_PLATFORM_TIME_MS=<epoch ms> aiot-platform exec ... (serverRecvTime = serverSendTime = it).

Exit status: PROGRAM's own; 124 when it ran past --timeout (it is then killed); 128+N when it
was killed by signal N, or when aiot-platform itself got signal N (Ctrl-C: 130); 2 when the
broker could not be started or PROGRAM could not be run.

Whatever way it ends, the mosquitto whose pid is in broker.pid at that time is stopped (also
one restarted by `broker-ctl start`), and any process left over from PROGRAM is killed.";

const OTA_EXEC_LONG_ABOUT: &str = "\
Start the broker, an HTTPS firmware server and the platform's OTA client, run PROGRAM (a device
that upgrades itself), stop everything and judge what the platform saw.

The job (FOTA by default): one image of --image-size pseudo-random bytes (or --image FILE),
served at https://localhost:<AIOT_FIRMWARE_PORT>/ota/<hex>/<name>.bin?Expires=<n>&Signature=<x>
with a certificate for DNS:localhost signed by AIOT_CA_FILE. With --push-on inform (default) it
is published (QoS 1, 300 ms after the report) on /ota/device/upgrade/<pk>/<dn> when a device
first reports a version on /ota/device/inform/<pk>/<dn>; with --push-on query it is the answer
on /sys/<pk>/<dn>/thing/ota/firmware/get_reply to each firmware/get query (config/get_reply for
cota). COTA jobs go to /sys/<pk>/<dn>/thing/config/push.

Like Aliyun's broker, the platform delivers a device's system topics (/sys/<pk>/<dn>/...,
/ota/device/<x>/<pk>/<dn>, /shadow/<x>/<pk>/<dn>, /ext/rrpc/<id>/sys/<pk>/<dn>/...,
/ext/ntp/<pk>/<dn>/...) to it without a SUBSCRIBE (a mosquitto
plugin, <state>/aiot_delivery.so), so device code written for upstream works unchanged: it
never subscribes to its OTA topics. A device that subscribes anyway gets each message once.

PROGRAM gets the variables of `exec` plus:
  AIOT_FIRMWARE_OUT        <state>/received.bin: where the device writes what it downloaded
  AIOT_FIRMWARE_PORT       HTTPS port of the firmware server (host localhost)
  AIOT_FIRMWARE_HTTP_PORT  plain HTTP port of the firmware server (host 127.0.0.1)
  AIOT_FIRMWARE_VERSION    the target version (--version)
  AIOT_FIRMWARE_SIZE       size of the (first) image in bytes

Faults (--fault), applied to every image of the job:
  none         serve correctly (Range bytes=S-, bytes=S-E, bytes=-N: 206 + Content-Range;
               no Range: 200; a range starting past the end: 416 + Content-Range: bytes */len)
  drop:N       first GET of the image only: full headers, then N body bytes, then the
               connection is closed; later (resumed Range) requests are served correctly
  corrupt:K    the byte at image offset K is sent inverted (XOR 0xFF), in every response
               covering it; the size and sign stay those of the real image
  throttle:B   the body is sent at about B bytes/s (B/10 bytes every 100 ms)
  status:CODE  every request is answered with CODE (404, 500, ...) and a short text body
  lie:N        Content-Length announces N bytes more than the body; the real body is sent,
               then the connection is closed
  drop-every:N as drop:N, but on every GET (a server that never completes a request)
  stall:N      first GET only: full headers, N body bytes, 2 s of silence, then the
               connection is closed
  mute:MS      first GET only: no answer for MS ms, then the connection is closed
  ignore-range every GET is answered 200 with the whole image, whatever its Range

Verdict (after PROGRAM exits or --timeout), for a device that got the job:
  success           a version report before the job, progress reaching 100, the target version
                    reported afterwards, AIOT_FIRMWARE_OUT equal to the image (single-file FOTA
                    only), and PROGRAM exit 0
  checksum-failure  progress step -3 seen, never 100
  fetch-failure     progress step -2 (or any negative other than -3) seen, never 100
A summary (versions, progress steps in order, HTTP requests, hash match) is printed.
Exit status: 0 when the verdict holds, 1 when not, 2 when the platform could not start.";

const SERVE_LONG_ABOUT: &str = "\
Run the broker, the HTTPS firmware server and the platform's OTA client in the foreground
(Ctrl-C, SIGTERM or SIGHUP stops them). Prints how to reach them, then what devices do, on stderr:
reported versions, queries and pushes as lines, and a progress bar per device and job: the
position is the step the device reports (0..100); 100 finishes the bar, a failure step ends it
with its meaning (-1 upgrade failed, -2 download failed, -3 verification failed, -4 flash failed).
When stderr is not a terminal there are no bars, but a line per 10 % of progress and per failure.

Jobs are sent with `aiot-platform push --state-dir DIR --device PK/DN --image FILE --version V`
(from another shell), through the file queue DIR/push-queue.

OTA over MQTT: a job pushed with `push --protocol mqtt` carries \"dProtocol\":\"mqtt\" and a stream
id (1000001 for the first, one more for each after); serve answers the device's block requests
on /sys/<pk>/<dn>/thing/file/download with that job's blocks (and its --fault). A device has one
MQTT job: the next one pushed to it replaces it (its old stream is answered with code 9201), jobs
of different devices are served side by side. serve shows the first block request of a job, each
one given a fault, the image's last block and requests for other streams.

Devices need not subscribe to their OTA topics: as on Aliyun, the platform delivers them.

The data-model and NTP side runs too (answers to posts, desired get/delete, up_raw and NTP
requests; uplinks in DIR/thing.log); `aiot-platform dm ... --state-dir DIR` talks to devices.";

const PUSH_LONG_ABOUT: &str = "\
Ask the `serve` running on --state-dir to publish a job to a device (QoS 1 on
/ota/device/upgrade/<pk>/<dn>, or /sys/<pk>/<dn>/thing/config/push with --kind cota) and to answer
the device's later firmware/get (config/get) queries with it. Prints the topic and the payload.

Every job shape of ota-exec: several --image for a multi-file job (a \"files\" array; the first
image is also the job's size/sign/url), --module, --ext-data (a JSON object), --sign-method,
--fault, --kind. The images are read by `serve` when it takes the job.

--protocol mqtt pushes the job of mota-exec instead (one image, fota): \"dProtocol\":\"mqtt\",
streamId, streamFileId 1, size, version, sign, signMethod, md5, module; `serve` then answers the
device's block requests with it, with --fault as mota-exec's (crc, offset, short, big, drop, dup,
slow[=MS], KIND[:FIRST[:COUNT]], counted from the job's first request). It replaces the MQTT job
the device had before.

The request goes through the file queue <state>/push-queue: <id>.req, answered by <id>.done
(topic and payload) or <id>.err (why not). Exit status: 0 once `serve` has pushed; 2 when the
options are wrong (a bad --ext-data, a cota job with several images, ...), no `serve` runs on the
folder, it refused the job or did not answer within 10 s.";

const EXAMPLES: &str = "\
Examples:
  aiot-platform exec -- ./build/mqtt_basic_demo
  aiot-platform exec --timeout 30 -- sh -c 'echo $AIOT_PORT'
  aiot-platform ota-exec --fault drop:100000 -- ./build/fota_demo
  aiot-platform ota-exec --fault corrupt:5 --expect checksum-failure -- ./build/fota_demo
  aiot-platform serve --state-dir /tmp/aiot
  aiot-platform push --state-dir /tmp/aiot --device a1TestPK001/device1 --image fw.bin --version 1.1.0
  aiot-platform push --state-dir /tmp/aiot --device a1TestPK001/device1 --image app.bin \\
      --image res.bin --image dsp.bin --version 1.2.0 --module mcu --ext-data '{\"key\":\"value\"}'
  aiot-platform push --state-dir /tmp/aiot --device a1TestPK001/device1 --image fw.bin --version 1.1.0 \\
      --protocol mqtt --fault crc:3
  aiot-platform broker --state-dir /tmp/aiot
  aiot-platform dm set --state-dir /tmp/aiot '{\"LightSwitch\":1}'
  aiot-platform dm rrpc --state-dir /tmp/aiot --service Reboot '{}'
  aiot-platform dm show --state-dir /tmp/aiot --device a1TestPK001/device1
  AIOT_PLATFORM_TIME_MS=1700000000000 aiot-platform exec --thing-model a1TestPK001=tsl.json -- ./dm_demo
  aiot-platform broker-ctl restart --state-dir \"$AIOT_STATE_DIR\"
  aiot-platform prov device-add --state-dir \"$AIOT_STATE_DIR\" a1RegTestPK sensor-42
  aiot-platform prov notify --state-dir /tmp/aiot --device a1TestPK001/device1
  aiot-platform password a1TestPK001 device1 s3cr3tDeviceSecretForTests0001";

#[derive(Parser)]
#[command(version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the broker in the foreground and print how to reach it; Ctrl-C or SIGTERM stops it.
    #[command(
        long_about = "Start the broker in the foreground and print how to reach it (also as \
        `export AIOT_...` lines, the variables `exec` sets). Ctrl-C, SIGTERM or SIGHUP stops \
        mosquitto and exits. The state folder is kept."
    )]
    Broker {
        /// Folder for the CA, certificates, password file, ACL, config, pid file and logs
        /// (created if missing; refused while a broker started from it still runs).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// A device as productKey/deviceName/deviceSecret. Repeatable; replaces the defaults.
        #[arg(long = "device", value_name = "PK/DN/DS", value_parser = Device::parse)]
        devices: Vec<Device>,
    },
    /// Start the broker, run PROGRAM with AIOT_* variables set, stop the broker, exit with
    /// PROGRAM's status.
    #[command(long_about = EXEC_LONG_ABOUT)]
    Exec {
        /// State folder (default: a new temporary folder, removed afterwards).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Kill PROGRAM and fail (status 124) after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 120)]
        timeout: u64,
        /// A device as productKey/deviceName/deviceSecret. Repeatable; replaces the defaults.
        #[arg(long = "device", value_name = "PK/DN/DS", value_parser = Device::parse)]
        devices: Vec<Device>,
        /// A product's thing model (Aliyun TSL JSON) as PK=FILE: unknown properties and wrong
        /// types in its property posts get Aliyun's error codes. Repeatable.
        #[arg(long = "thing-model", value_name = "PK=FILE", value_parser = parse_model_arg)]
        thing_models: Vec<(String, PathBuf)>,
        /// The program to run, and its arguments (after `--`).
        #[arg(
            value_name = "PROGRAM [ARGS]...",
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        program: Vec<String>,
    },
    /// Stop, start or restart the broker of a running `exec` or `broker` (for test programs).
    #[command(
        long_about = "Stop, start or restart the broker of a running `exec` or `broker`, \
        from a test program (C demos call \"$AIOT_PLATFORM\" broker-ctl ACTION --state-dir \
        \"$AIOT_STATE_DIR\").\n\n\
        stop:    SIGTERM (SIGKILL after 3 s) to the pid in broker.pid; returns once the plain \
        MQTT port refuses connections.\n\
        start:   start mosquitto again with the same configuration and ports; returns once both \
        ports accept connections (does nothing if it already runs). The new mosquitto outlives \
        this command; the `exec`/`broker` that owns the folder stops it at the end.\n\
        restart: stop, then start."
    )]
    BrokerCtl {
        /// What to do with the broker: stop, start or restart.
        action: Action,
        /// The state folder of the running `exec` or `broker` ($AIOT_STATE_DIR).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
    },
    /// Start the broker, the firmware server and the platform's OTA client, run PROGRAM (a
    /// device doing an OTA upgrade), then judge what the platform saw.
    #[command(long_about = OTA_EXEC_LONG_ABOUT)]
    OtaExec(ota_cli::OtaExecArgs),
    /// Run broker, firmware server and OTA client in the foreground, showing what devices
    /// report (versions, a progress bar per device and job); `push` sends jobs to it.
    #[command(long_about = SERVE_LONG_ABOUT)]
    Serve {
        /// State folder (created if missing); `push` and `dm` take the same --state-dir.
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// A device as productKey/deviceName/deviceSecret. Repeatable; replaces the defaults.
        #[arg(long = "device", value_name = "PK/DN/DS", value_parser = Device::parse)]
        devices: Vec<Device>,
        /// A product's thing model (Aliyun TSL JSON) as PK=FILE. Repeatable.
        #[arg(long = "thing-model", value_name = "PK=FILE", value_parser = parse_model_arg)]
        thing_models: Vec<(String, PathBuf)>,
    },
    /// Ask a running `serve` to push a job (one or several images) to a device; prints the topic
    /// and payload.
    #[command(long_about = PUSH_LONG_ABOUT)]
    Push(ota_cli::PushArgs),
    /// The platform's side of the data model: set properties, call services (also over RRPC),
    /// send raw data, publish anything, show what a device posted.
    #[command(long_about = dm_cli::DM_LONG_ABOUT)]
    Dm {
        #[command(subcommand)]
        cmd: dm_cli::DmCmd,
    },
    /// Job management: create jobs, list/show them with their status history, push notifies.
    #[command(long_about = task_cli::TASK_LONG_ABOUT)]
    Task {
        #[command(subcommand)]
        cmd: task_cli::TaskCmd,
    },
    /// Logpost: a device's log switch (pushed to it) and the log records it posted.
    #[command(long_about = logpost_cli::LOGPOST_LONG_ABOUT)]
    Logpost {
        #[command(subcommand)]
        cmd: logpost_cli::LogpostCmd,
    },
    /// Provisioning: products with a product secret, pre-registered device names, activations,
    /// HTTP-uplink tokens, the bootstrap notify.
    #[command(long_about = prov_cli::PROV_LONG_ABOUT)]
    Prov {
        #[command(subcommand)]
        cmd: prov_cli::ProvCmd,
    },
    /// OTA over MQTT end to end: push a dProtocol mqtt job, serve its blocks (with faults), run
    /// PROGRAM, judge the progress and the file it wrote.
    #[command(long_about = mqtt_download_cli::MOTA_LONG_ABOUT)]
    MotaExec(mqtt_download_cli::MotaExecArgs),
    /// The device shadow's cloud side: push a desired change (control), show the document.
    #[command(long_about = shadow_cli::SHADOW_LONG_ABOUT)]
    Shadow {
        #[command(subcommand)]
        cmd: shadow_cli::ShadowCmd,
    },
    /// Device tags: show what the platform keeps for a device.
    #[command(long_about = devinfo_cli::DEVINFO_LONG_ABOUT)]
    Devinfo {
        #[command(subcommand)]
        cmd: devinfo_cli::DevinfoCmd,
    },
    /// Print the MQTT password of a device (upper-case hex HMAC-SHA256).
    Password {
        /// The device's productKey.
        product_key: String,
        /// The device's deviceName.
        device_name: String,
        /// The device's deviceSecret (the HMAC-SHA256 key).
        device_secret: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Action {
    /// Stop the running mosquitto.
    Stop,
    /// Start mosquitto again (same configuration and ports).
    Start,
    /// Stop, then start.
    Restart,
}

/// Removes a temporary state folder when dropped.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn new_temp_dir() -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    for i in 0..1000u32 {
        let p = base.join(format!("aiot-platform-{}-{i}", std::process::id()));
        if std::fs::create_dir(&p).is_ok() {
            return Ok(p);
        }
    }
    Err(format!("cannot create a folder in {}", base.display()))
}

fn devices_or_default(devices: Vec<Device>) -> Vec<Device> {
    if devices.is_empty() {
        aiot_platform::default_devices()
    } else {
        devices
    }
}

fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code.clamp(0, 255) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        _ => 1,
    }
}

/// SIGTERM, then SIGKILL if it is still there after 2 s; always reaped.
fn terminate(child: &mut Child) {
    // SAFETY: kill(2) on the pid of our own, not yet reaped, child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs PROGRAM with `env` until it exits, `timeout` seconds pass (124) or we get a termination
/// signal (128+N); reaps strays meanwhile. Returns the exit code to report.
pub(crate) fn run_program(
    program: &[String],
    env: Vec<(&'static str, std::ffi::OsString)>,
    timeout: u64,
) -> Result<u8, String> {
    run_program_teed(program, env, timeout, None)
}

/// [`run_program`]; with `lines`, PROGRAM's stdout goes through a pipe: each line is printed
/// as it comes and kept in `lines` (for checks on its log).
pub(crate) fn run_program_teed(
    program: &[String],
    env: Vec<(&'static str, std::ffi::OsString)>,
    timeout: u64,
    lines: Option<Arc<Mutex<Vec<String>>>>,
) -> Result<u8, String> {
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..]).envs(env);
    if lines.is_some() {
        cmd.stdout(Stdio::piped());
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let teeing = lines.is_some();
    let status = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program[0]))
        .and_then(|mut child| {
            if let (Some(out), Some(lines)) = (child.stdout.take(), lines) {
                std::thread::spawn(move || {
                    // Lines of any bytes (a log may carry binary); ends at EOF.
                    let mut out = BufReader::new(out);
                    let mut buf = Vec::new();
                    while matches!(out.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                        let _ = std::io::stdout().write_all(&buf);
                        lines
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&buf).into_owned());
                        buf.clear();
                    }
                    let _ = done_tx.send(());
                });
            }
            let deadline = Instant::now() + Duration::from_secs(timeout);
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => return Ok(exit_code(status)),
                    Ok(None) => {}
                    Err(e) => {
                        terminate(&mut child);
                        return Err(format!("waiting for {}: {e}", program[0]));
                    }
                }
                if let Some(sig) = process::signalled() {
                    eprintln!("aiot-platform: got signal {sig}, stopping {}", program[0]);
                    terminate(&mut child);
                    return Ok((128 + sig) as u8);
                }
                if Instant::now() >= deadline {
                    eprintln!(
                        "aiot-platform: {} still running after {timeout} s, killed",
                        program[0]
                    );
                    terminate(&mut child);
                    return Ok(124);
                }
                // Collect a mosquitto stopped by `broker-ctl` (reparented to us), not PROGRAM.
                process::reap_all_except(child.id() as i32);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    if teeing {
        // PROGRAM is gone: the rest of its output is in the pipe. A child of it that still
        // holds the pipe is swept later; the wait is bounded.
        let _ = done_rx.recv_timeout(Duration::from_secs(5));
    }
    status
}

/// Starts the data-model and NTP side on `platform`, with `models` installed first.
pub(crate) fn start_thing(platform: &Platform, models: &[(String, PathBuf)]) -> Result<ThingService, String> {
    for (pk, file) in models {
        install(platform.state_dir(), pk, file).map_err(|e| format!("--thing-model: {e}"))?;
    }
    let fixed = fixed_time_from_env()?;
    ThingService::start(&platform.broker.info, fixed).map_err(|e| format!("thing service: {e}"))
}

/// Starts the shadow service on `platform`.
pub(crate) fn start_shadow(
    platform: &Platform,
) -> Result<aiot_platform::answer_service::AnswerService, String> {
    aiot_platform::shadow::start(&platform.broker.info).map_err(|e| format!("shadow service: {e}"))
}

/// Starts the device-tag service on `platform`.
pub(crate) fn start_devinfo(
    platform: &Platform,
) -> Result<aiot_platform::answer_service::AnswerService, String> {
    aiot_platform::devinfo::start(&platform.broker.info).map_err(|e| format!("devinfo service: {e}"))
}

/// Starts the logpost side (config get answers, the record of device logs) on `platform`.
pub(crate) fn start_logpost(platform: &Platform) -> Result<aiot_platform::logpost::LogpostService, String> {
    aiot_platform::logpost::LogpostService::start(&platform.broker.info)
        .map_err(|e| format!("logpost service: {e}"))
}

/// Starts the provisioning / HTTP-uplink endpoint on `platform`, with the default product
/// (AIOT_REG_* variables) installed first.
pub(crate) fn start_auth(platform: &Platform) -> Result<AuthServer, String> {
    aiot_platform::provision::install_defaults(platform.state_dir())
        .map_err(|e| format!("provisioning: {e}"))?;
    AuthServer::start(&platform.broker.info, platform.devices()).map_err(|e| format!("auth server: {e}"))
}

fn run_exec(
    state_dir: Option<PathBuf>,
    timeout: u64,
    devices: Vec<Device>,
    thing_models: Vec<(String, PathBuf)>,
    program: Vec<String>,
) -> Result<u8, String> {
    process::become_subreaper();
    process::catch_termination();
    let temp = TempDir(if state_dir.is_none() {
        Some(new_temp_dir()?)
    } else {
        None
    });
    let dir = state_dir.or_else(|| temp.0.clone()).expect("one of the two");
    // Declared after `temp`, so dropped (broker stopped) before the folder goes.
    let platform = Platform::with_devices(&dir, &devices).map_err(|e| format!("broker: {e}"))?;
    let thing = start_thing(&platform, &thing_models)?;
    let _shadow = start_shadow(&platform)?;
    let _devinfo = start_devinfo(&platform)?;
    let _logpost = start_logpost(&platform)?;
    let auth = start_auth(&platform)?;
    let me = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut env = platform.env(&me);
    env.extend(auth.env());
    let result = run_program(&program, env, timeout);
    drop(auth);
    drop(thing);
    // Stops whatever broker broker.pid names now (the program may have restarted it).
    drop(platform);
    let left = process::sweep_children(Duration::from_secs(3));
    if left > 0 {
        eprintln!(
            "aiot-platform: killed {left} process(es) left behind by {}",
            program[0]
        );
    }
    drop(temp);
    result
}

fn print_info(platform: &Platform, me: &Path) {
    let b = &platform.broker;
    println!("mqtt tcp : {}:{}", aiot_platform::HOST, b.tcp_port());
    println!(
        "mqtt tls : {}:{} (CA {}; certificate for localhost only)",
        aiot_platform::TLS_HOST,
        b.tls_port(),
        b.ca_file().display()
    );
    for d in platform.devices() {
        println!(
            "device   : {}/{}/{}  user {}  password {}",
            d.product_key,
            d.device_name,
            d.device_secret,
            d.username(),
            d.password()
        );
    }
    let (user, pass) = b.platform_credentials();
    println!("platform : user {user} password {pass} (every topic)");
    println!(
        "pid      : {} (in {})",
        b.pid().unwrap_or(0),
        b.info.pid_file().display()
    );
    println!("log      : {}", b.info.log_file().display());
    println!();
    println!("# the environment `aiot-platform exec` would set:");
    for (k, v) in platform.env(me) {
        println!("export {k}='{}'", v.to_string_lossy());
    }
}

fn run_broker(state_dir: PathBuf, devices: Vec<Device>) -> Result<u8, String> {
    process::become_subreaper();
    process::catch_termination();
    let platform = Platform::with_devices(&state_dir, &devices).map_err(|e| format!("broker: {e}"))?;
    let me = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    print_info(&platform, &me);
    println!();
    println!("running; Ctrl-C to stop");
    let sig = loop {
        if let Some(sig) = process::signalled() {
            break sig;
        }
        process::reap_all();
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(platform);
    process::sweep_children(Duration::from_secs(3));
    println!("stopped (signal {sig})");
    Ok(0)
}

fn run_broker_ctl(action: Action, state_dir: &Path) -> Result<u8, String> {
    let info = BrokerInfo::load(state_dir)
        .map_err(|e| format!("no broker set up in {}: {e}", state_dir.display()))?;
    if matches!(action, Action::Stop | Action::Restart) {
        match info.pid() {
            Some(pid) => {
                info.stop();
                println!("stopped mosquitto (pid {pid})");
            }
            None => println!("mosquitto was not running"),
        }
    }
    if matches!(action, Action::Start | Action::Restart) {
        info.start().map_err(|e| format!("start: {e}"))?;
        println!(
            "mosquitto running (pid {}) on 127.0.0.1:{} and :{}",
            info.pid().unwrap_or(0),
            info.tcp_port,
            info.tls_port
        );
    }
    Ok(0)
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::OtaExec(mut a) => {
            a.devices = devices_or_default(a.devices);
            ota_cli::run_ota_exec(a)
        }
        Cmd::Serve {
            state_dir,
            devices,
            thing_models,
        } => ota_cli::run_serve(state_dir, devices_or_default(devices), thing_models),
        Cmd::Dm { cmd } => dm_cli::run(cmd),
        Cmd::Logpost { cmd } => logpost_cli::run(cmd),
        Cmd::Prov { cmd } => prov_cli::run(cmd),
        Cmd::Task { cmd } => task_cli::run(cmd),
        Cmd::Shadow { cmd } => shadow_cli::run(cmd),
        Cmd::Devinfo { cmd } => devinfo_cli::run(cmd),
        Cmd::Push(a) => ota_cli::run_push(a),
        Cmd::MotaExec(a) => mqtt_download_cli::run_mota_exec(a),
        Cmd::Password {
            product_key,
            device_name,
            device_secret,
        } => {
            println!(
                "{}",
                aiot_platform::aliyun_password(&product_key, &device_name, &device_secret)
            );
            Ok(0)
        }
        Cmd::Exec {
            state_dir,
            timeout,
            devices,
            thing_models,
            program,
        } => run_exec(
            state_dir,
            timeout,
            devices_or_default(devices),
            thing_models,
            program,
        ),
        Cmd::BrokerCtl { action, state_dir } => run_broker_ctl(action, &state_dir),
        Cmd::Broker { state_dir, devices } => run_broker(state_dir, devices_or_default(devices)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("aiot-platform: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// `--help` documents every command and every option of each (nested ones too).
    #[test]
    fn help_documents_every_command_and_option() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        fn check(cmd: &clap::Command, path: &str) -> usize {
            let mut n = 0;
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_name() == "help" {
                    continue;
                }
                assert!(sub.get_about().is_some(), "{name} has no description");
                for arg in sub.get_arguments() {
                    let id = arg.get_id().as_str();
                    if id == "help" || id == "version" {
                        continue;
                    }
                    assert!(
                        arg.get_help().is_some() || arg.get_long_help().is_some(),
                        "{name}: option {id} has no help"
                    );
                }
                n += 1 + check(sub, &name);
            }
            n
        }
        assert!(check(&cli, "aiot-platform") >= 6);
    }
}
