//! The `aiot-platform` command line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::time::{Duration, Instant};

use aiot_platform::{process, BrokerInfo, Device, Platform};
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
Each device may use /<pk>/<dn>/#, /sys/<pk>/<dn>/#, /ota/device/+/<pk>/<dn> and
/shadow/+/<pk>/<dn>. The platform's own account 'platform' (random password) may use every topic.

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
  broker.log               mosquitto's stdout/stderr (start-up errors)

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
  AIOT_PLATFORM         absolute path of this aiot-platform executable (for broker-ctl)

Exit status: PROGRAM's own; 124 when it ran past --timeout (it is then killed); 128+N when it
was killed by signal N, or when aiot-platform itself got signal N (Ctrl-C: 130); 2 when the
broker could not be started or PROGRAM could not be run.

Whatever way it ends, the mosquitto whose pid is in broker.pid at that time is stopped (also
one restarted by `broker-ctl start`), and any process left over from PROGRAM is killed.";

const EXAMPLES: &str = "\
Examples:
  aiot-platform exec -- ./build/mqtt_basic_demo
  aiot-platform exec --timeout 30 -- sh -c 'echo $AIOT_PORT'
  aiot-platform broker --state-dir /tmp/aiot
  aiot-platform broker-ctl restart --state-dir \"$AIOT_STATE_DIR\"
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
        action: Action,
        /// The state folder of the running `exec` or `broker` ($AIOT_STATE_DIR).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
    },
    /// Print the MQTT password of a device (upper-case hex HMAC-SHA256).
    Password {
        product_key: String,
        device_name: String,
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

fn run_exec(
    state_dir: Option<PathBuf>,
    timeout: u64,
    devices: Vec<Device>,
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
    let me = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let result = Command::new(&program[0])
        .args(&program[1..])
        .envs(platform.env(&me))
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program[0]))
        .and_then(|mut child| {
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
                // Collect a mosquitto stopped by `broker-ctl` (reparented to us).
                process::reap_all();
                std::thread::sleep(Duration::from_millis(20));
            }
        });
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
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
            program,
        } => run_exec(state_dir, timeout, devices_or_default(devices), program),
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
