//! `aiot-platform shadow ...`: the cloud's side of the device shadow from the command line
//! (push a desired change to the device, show its document).

use std::time::{Duration, Instant};

use aiot_platform::shadow::{control, load, now_s};
use aiot_platform::{BrokerInfo, PLATFORM_USER};
use rumqttc::{Client, ConnectReturnCode, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::Value;

use crate::dm_cli::{device_of, Target};

pub const SHADOW_LONG_ABOUT: &str = "\
The cloud's side of the device shadow (Aliyun's UpdateDeviceShadow / GetDeviceShadow). The
service inside `exec`, `ota-exec` and `serve` keeps one document per device in
<state>/shadow/<pk>/<dn>.json ({\"state\":{\"reported\":..,\"desired\":..},\"metadata\":..,\"version\":n})
and answers the device's /shadow/update/<pk>/<dn> (update, get, delete) on /shadow/get/<pk>/<dn>
as Aliyun does; a version not above the document's gets the error reply 409. Every exchange is a
line of <state>/shadow.log.

  control   set desired values ('{\"color\":\"red\"}'; a \"null\" value removes one, '\"null\"'
            removes all), raise the version by one and push the control message to the device
            (no SUBSCRIBE needed); prints topic and payload
  show      print the device's document";

#[derive(clap::Subcommand)]
pub enum ShadowCmd {
    /// Change desired values and push the control message to the device.
    Control {
        #[command(flatten)]
        target: Target,
        /// The desired change, JSON: an object ("null" values remove keys) or "null".
        desired: String,
    },
    /// Print the device's shadow document.
    Show {
        #[command(flatten)]
        target: Target,
    },
}

/// Publishes one message (QoS0) as the platform.
pub(crate) fn publish(state_dir: &std::path::Path, topic: &str, payload: Vec<u8>) -> Result<(), String> {
    let info = BrokerInfo::load(state_dir)
        .map_err(|e| format!("no platform set up in {}: {e}", state_dir.display()))?;
    let mut opts = MqttOptions::new(
        format!("aiot-platform-cli-{}", std::process::id()),
        aiot_platform::HOST,
        info.tcp_port,
    );
    opts.set_credentials(PLATFORM_USER, info.platform_password.clone());
    opts.set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024);
    let (client, mut conn) = Client::new(opts, 16);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut sent = false;
    while Instant::now() < deadline {
        match conn.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(a)))) => {
                if a.code != ConnectReturnCode::Success {
                    return Err(format!("broker refused the platform: {:?}", a.code));
                }
                client
                    .publish(topic, QoS::AtMostOnce, false, payload.clone())
                    .map_err(|e| e.to_string())?;
            }
            Ok(Ok(Event::Outgoing(Outgoing::Publish(_)))) => {
                sent = true;
                let _ = client.disconnect();
            }
            Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) if sent => return Ok(()),
            Ok(Err(_)) if sent => return Ok(()),
            Ok(Err(e)) => return Err(format!("connection to the broker: {e}")),
            _ => {}
        }
    }
    if sent {
        Ok(())
    } else {
        Err(format!("could not publish on {topic} within 5 s"))
    }
}

pub fn run(cmd: ShadowCmd) -> Result<u8, String> {
    match cmd {
        ShadowCmd::Control { target, desired } => {
            let change: Value =
                serde_json::from_str(&desired).map_err(|e| format!("DESIRED is not JSON: {e}"))?;
            let (pk, dn) = device_of(&target)?;
            let (topic, payload) =
                control(&target.state_dir, &pk, &dn, &change, now_s()).map_err(|e| e.to_string())?;
            publish(&target.state_dir, &topic, payload.clone().into_bytes())?;
            let line = format!("{pk}/{dn} -> (control) {payload}\n");
            let log = target.state_dir.join(aiot_platform::shadow::SHADOW_LOG);
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
                let _ = std::io::Write::write_all(&mut f, line.as_bytes());
            }
            println!("{topic}\n{payload}");
            Ok(0)
        }
        ShadowCmd::Show { target } => {
            let (pk, dn) = device_of(&target)?;
            println!("{}", load(&target.state_dir, &pk, &dn));
            Ok(0)
        }
    }
}
