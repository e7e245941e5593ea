//! `aiot-platform devinfo ...`: the device tags the platform keeps, from the command line.

use aiot_platform::devinfo::load;
use serde_json::Value;

use crate::dm_cli::{device_of, Target};

pub const DEVINFO_LONG_ABOUT: &str = "\
Device tags (Alink thing/deviceinfo). The service inside `exec`, `ota-exec` and `serve` keeps
each device's tags in <state>/devinfo/<pk>/<dn>.json and answers its update, delete and get on
/sys/<pk>/<dn>/thing/deviceinfo/<op>_reply with {\"id\":..,\"code\":200,\"message\":\"success\",\"data\":..}
(460 for malformed params; get: at most 10 keys). update_reply and delete_reply reach the device
without a SUBSCRIBE; get_reply only through its own SUBSCRIBE, as on Aliyun. Every exchange is a
line of <state>/devinfo.log.

  show   print the device's tags as a JSON object (attrKey -> attrValue)";

#[derive(clap::Subcommand)]
pub enum DevinfoCmd {
    /// Print the device's tags.
    Show {
        #[command(flatten)]
        target: Target,
    },
}

pub fn run(cmd: DevinfoCmd) -> Result<u8, String> {
    match cmd {
        DevinfoCmd::Show { target } => {
            let (pk, dn) = device_of(&target)?;
            println!("{}", Value::Object(load(&target.state_dir, &pk, &dn)));
            Ok(0)
        }
    }
}
