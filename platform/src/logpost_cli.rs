//! `aiot-platform logpost`: the cloud's log switch of a device (stored, and pushed on
//! `/sys/<pk>/<dn>/thing/config/log/push`) and the log records devices posted
//! (`<state>/logpost.log`, written by the logpost service of `exec`/`serve`).

use std::path::Path;
use std::time::{Duration, Instant};

use aiot_platform::broker::{BrokerInfo, PLATFORM_USER};
use aiot_platform::logpost::{config_push, set_mode, LOGPOST_LOG};
use rumqttc::{Client, ConnectReturnCode, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::Value;

use crate::dm_cli::{device_of, new_id, Target};

pub const LOGPOST_LONG_ABOUT: &str = "\
The platform's side of logpost. `exec` (and `serve`) answer each device's \
/sys/<pk>/<dn>/thing/config/log/get with its log switch (`mode`, 0 until set) and record every \
record of /sys/<pk>/<dn>/thing/log/post in <state>/logpost.log, one JSON line each: \
{\"pk\",\"dn\",\"id\",\"utcTime\",\"logLevel\",\"module\",\"code\",\"traceContext\",\"logContent\"} \
(or {\"pk\",\"dn\",\"invalid\"} for a payload not in upstream's shape).

  mode on|off      store the device's switch and push it on .../thing/config/log/push
  show             print the device's records (filters: --module, --contains)
  wait             exit 0 once a matching record is there, 3 after --timeout-ms
  secrets-absent   exit 0 if no record contains the device secret or its MQTT password, 1 otherwise";

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(clap::Args)]
pub struct Filter {
    /// Only records of this module (e.g. sdk, net_rt, net_conn, DiagMqttHeartbeat).
    #[arg(long, value_name = "NAME")]
    module: Option<String>,
    /// Only records whose logContent contains this text.
    #[arg(long, value_name = "TEXT")]
    contains: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum LogpostCmd {
    /// Store the device's log switch and push it to the device.
    Mode {
        #[command(flatten)]
        target: Target,
        /// Store only; do not push.
        #[arg(long)]
        no_push: bool,
        /// The new switch.
        switch: Switch,
    },
    /// Print the device's recorded log records, one JSON line each.
    Show {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        filter: Filter,
    },
    /// Wait until a matching record of the device is recorded (exit 3 on timeout).
    Wait {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        filter: Filter,
        /// Give up after this many milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 10000)]
        timeout_ms: u64,
    },
    /// Check that no recorded record contains a device's secret or MQTT password.
    SecretsAbsent {
        /// The state folder of the running platform ($AIOT_STATE_DIR).
        #[arg(long, value_name = "DIR")]
        state_dir: std::path::PathBuf,
        /// The device as productKey/deviceName/deviceSecret.
        #[arg(long, value_name = "PK/DN/DS", value_parser = aiot_platform::Device::parse)]
        device: aiot_platform::Device,
    },
}

/// The device's records matching `filter`.
fn matching(state_dir: &Path, pk: &str, dn: &str, filter: &Filter) -> Result<Vec<String>, String> {
    let log = state_dir.join(LOGPOST_LOG);
    let text = match std::fs::read_to_string(&log) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", log.display())),
    };
    Ok(text
        .lines()
        .filter(|l| {
            let Ok(v) = serde_json::from_str::<Value>(l) else {
                return false;
            };
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            s("pk") == pk
                && s("dn") == dn
                && filter.module.as_ref().is_none_or(|m| s("module") == *m)
                && filter
                    .contains
                    .as_ref()
                    .is_none_or(|c| s("logContent").contains(c.as_str()) || s("invalid").contains(c.as_str()))
        })
        .map(str::to_owned)
        .collect())
}

/// Publishes `payload` on `topic` as the platform (QoS 0), waiting until it is written.
fn publish(state_dir: &Path, topic: &str, payload: String) -> Result<(), String> {
    let info = BrokerInfo::load(state_dir)
        .map_err(|e| format!("no platform set up in {}: {e}", state_dir.display()))?;
    let mut opts = MqttOptions::new(
        format!("aiot-platform-logpost-cli-{}", std::process::id()),
        aiot_platform::HOST,
        info.tcp_port,
    );
    opts.set_credentials(PLATFORM_USER, info.platform_password.clone());
    let (client, mut conn) = Client::new(opts, 8);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut published = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("could not publish on {topic} within 5 s"));
        }
        match conn.recv_timeout(left) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(a)))) => {
                if a.code != ConnectReturnCode::Success {
                    return Err(format!("broker refused the platform: {:?}", a.code));
                }
                if !published {
                    client
                        .publish(topic, QoS::AtMostOnce, false, payload.clone().into_bytes())
                        .map_err(|e| e.to_string())?;
                    published = true;
                }
            }
            Ok(Ok(Event::Outgoing(Outgoing::Publish(_)))) => {
                let _ = client.disconnect();
                return Ok(());
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("connection to the broker: {e}")),
            Err(_) => return Err(format!("could not publish on {topic} within 5 s")),
        }
    }
}

pub fn run(cmd: LogpostCmd) -> Result<u8, String> {
    match cmd {
        LogpostCmd::Mode {
            target,
            no_push,
            switch,
        } => {
            let (pk, dn) = device_of(&target)?;
            let mode = match switch {
                Switch::On => 1,
                Switch::Off => 0,
            };
            set_mode(&target.state_dir, &pk, &dn, mode).map_err(|e| e.to_string())?;
            if !no_push {
                let topic = format!("/sys/{pk}/{dn}/thing/config/log/push");
                let payload = config_push(&new_id(), mode);
                publish(&target.state_dir, &topic, payload.clone())?;
                println!("{topic} {payload}");
            }
            Ok(0)
        }
        LogpostCmd::Show { target, filter } => {
            let (pk, dn) = device_of(&target)?;
            for l in matching(&target.state_dir, &pk, &dn, &filter)? {
                println!("{l}");
            }
            Ok(0)
        }
        LogpostCmd::Wait {
            target,
            filter,
            timeout_ms,
        } => {
            let (pk, dn) = device_of(&target)?;
            let deadline = Instant::now() + Duration::from_millis(timeout_ms);
            loop {
                if let Some(l) = matching(&target.state_dir, &pk, &dn, &filter)?.first() {
                    println!("{l}");
                    return Ok(0);
                }
                if Instant::now() >= deadline {
                    eprintln!("aiot-platform: no matching log record within {timeout_ms} ms");
                    return Ok(3);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        LogpostCmd::SecretsAbsent { state_dir, device } => {
            let log = state_dir.join(LOGPOST_LOG);
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let password = device.password();
            let bad: Vec<&str> = text
                .lines()
                .filter(|l| l.contains(&device.device_secret) || l.contains(&password))
                .collect();
            println!(
                "{} records checked, {} with a secret",
                text.lines().count(),
                bad.len()
            );
            for l in &bad {
                println!("{l}");
            }
            Ok(if bad.is_empty() { 0 } else { 1 })
        }
    }
}
