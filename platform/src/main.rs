//! The `aiot-platform` command line.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use aiot_platform::{default_devices, Broker, BrokerInfo, Device};
use clap::{Parser, Subcommand, ValueEnum};

/// A local Aliyun IoT platform: mosquitto with Aliyun device authentication (plain TCP and TLS
/// with a CA it generates), for devices built on Link SDK C / libaiot.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the broker and keep it running until Ctrl-C; prints how to connect.
    Broker {
        /// Folder for the CA, certificates, password file, ACL and config.
        #[arg(long)]
        state_dir: PathBuf,
        /// A device as productKey/deviceName/deviceSecret (repeatable; replaces the defaults).
        #[arg(long = "device")]
        devices: Vec<String>,
    },
    /// Start the broker, run PROGRAM against it with AIOT_* variables set, stop the broker and
    /// exit with PROGRAM's status.
    ///
    /// Variables: AIOT_HOST, AIOT_TLS_HOST, AIOT_PORT, AIOT_TLS_PORT, AIOT_PRODUCT_KEY,
    /// AIOT_DEVICE_NAME, AIOT_DEVICE_SECRET, AIOT_DEVICE_NAME2, AIOT_DEVICE_SECRET2, AIOT_CA_FILE,
    /// AIOT_WRONG_CA_FILE, AIOT_BROKER_PID_FILE, AIOT_STATE_DIR, AIOT_PLATFORM.
    Exec {
        /// State folder (default: a new temporary folder, removed afterwards).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Kill PROGRAM and fail after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// A device as productKey/deviceName/deviceSecret (repeatable; replaces the defaults).
        #[arg(long = "device")]
        devices: Vec<String>,
        /// The program and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        program: Vec<String>,
    },
    /// Control the broker of a running `exec` or `broker` from a test program.
    BrokerCtl {
        action: Action,
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// Print the MQTT password of a device.
    Password {
        product_key: String,
        device_name: String,
        device_secret: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Action {
    Stop,
    Start,
    Restart,
}

fn devices(args: &[String]) -> Result<Vec<Device>, String> {
    if args.is_empty() {
        Ok(default_devices())
    } else {
        args.iter().map(|a| Device::parse(a)).collect()
    }
}

fn temp_dir() -> PathBuf {
    let base = std::env::temp_dir();
    for i in 0..1000u32 {
        let p = base.join(format!("aiot-platform-{}-{i}", std::process::id()));
        if std::fs::create_dir(&p).is_ok() {
            return p;
        }
    }
    base.join(format!("aiot-platform-{}", std::process::id()))
}

fn print_info(info: &BrokerInfo, devs: &[Device]) {
    println!("mqtt tcp : 127.0.0.1:{}", info.tcp_port);
    println!(
        "mqtt tls : localhost:{} (CA {})",
        info.tls_port,
        info.ca_file().display()
    );
    for d in devs {
        println!(
            "device   : {}/{}/{}",
            d.product_key, d.device_name, d.device_secret
        );
    }
}

fn run_exec(
    state_dir: Option<PathBuf>,
    timeout: u64,
    devs: Vec<Device>,
    program: Vec<String>,
) -> Result<u8, String> {
    let temporary = state_dir.is_none();
    let dir = state_dir.unwrap_or_else(temp_dir);
    let broker = Broker::start(&dir, &devs).map_err(|e| format!("broker: {e}"))?;
    let info = broker.info.clone();
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let (d1, d2) = (&devs[0], devs.get(1).unwrap_or(&devs[0]));
    let mut child = Command::new(&program[0])
        .args(&program[1..])
        .env("AIOT_HOST", "127.0.0.1")
        .env("AIOT_TLS_HOST", "localhost")
        .env("AIOT_PORT", info.tcp_port.to_string())
        .env("AIOT_TLS_PORT", info.tls_port.to_string())
        .env("AIOT_PRODUCT_KEY", &d1.product_key)
        .env("AIOT_DEVICE_NAME", &d1.device_name)
        .env("AIOT_DEVICE_SECRET", &d1.device_secret)
        .env("AIOT_DEVICE_NAME2", &d2.device_name)
        .env("AIOT_DEVICE_SECRET2", &d2.device_secret)
        .env("AIOT_CA_FILE", info.ca_file())
        .env("AIOT_WRONG_CA_FILE", info.wrong_ca_file())
        .env("AIOT_BROKER_PID_FILE", info.pid_file())
        .env("AIOT_STATE_DIR", &dir)
        .env("AIOT_PLATFORM", &me)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program[0]))?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code().unwrap_or(1).clamp(0, 255) as u8,
            Ok(None) if Instant::now() >= deadline => {
                eprintln!(
                    "aiot-platform: {} still running after {timeout} s, killed",
                    program[0]
                );
                let _ = child.kill();
                let _ = child.wait();
                break 124;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    };
    // Stops whatever broker the program left running (it may have restarted it).
    drop(broker);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(code)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<u8, String> = match cli.command {
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
            devices: d,
            program,
        } => devices(&d).and_then(|devs| run_exec(state_dir, timeout, devs, program)),
        Cmd::BrokerCtl { action, state_dir } => BrokerInfo::load(&state_dir)
            .map_err(|e| format!("no broker in {}: {e}", state_dir.display()))
            .and_then(|info| {
                match action {
                    Action::Stop => info.stop(),
                    Action::Start => info.start().map_err(|e| e.to_string())?,
                    Action::Restart => {
                        info.stop();
                        info.start().map_err(|e| e.to_string())?
                    }
                }
                Ok(0)
            }),
        Cmd::Broker {
            state_dir,
            devices: d,
        } => devices(&d).and_then(|devs| {
            let broker = Broker::start(&state_dir, &devs).map_err(|e| e.to_string())?;
            print_info(&broker.info, &devs);
            println!("running; Ctrl-C to stop");
            wait_for_signal();
            Ok(0)
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("aiot-platform: {e}");
            ExitCode::from(2)
        }
    }
}

/// Blocks until SIGINT or SIGTERM.
fn wait_for_signal() {
    // SAFETY: blocking the two signals and waiting for them with sigwait is async-signal-safe.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let mut sig = 0;
        libc::sigwait(&set, &mut sig);
    }
}
