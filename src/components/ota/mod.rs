//! OTA (`aiot_ota_api.h`, OTA half): version reports, firmware queries, progress reports,
//! and the upgrade / config pushes delivered to the OTA receive handler.

pub mod codes;
pub mod message;
mod session;

pub use session::{Ota, OtaFn, PUSH_TOPICS};

use crate::error::Result;
use crate::log;
use crate::mqtt::{next_alink_id, Client};
use codes::STATE_OTA_REPORT_FAILED;

/// Publishes `{"id":n, "params":P}` (`n` the process-wide alink id) on `<prefix>/<pk>/<dn>` (QoS0); a failure is logged
/// with the topic prefix (LK-0902) and returned.
fn publish(client: &Client, prefix: &str, topic: &str, params: &str) -> Result<()> {
    let payload = message::envelope(next_alink_id(), params);
    match client.publish(topic, payload.as_bytes(), 0) {
        Ok(_) => Ok(()),
        Err(e) => {
            log::line(STATE_OTA_REPORT_FAILED, prefix);
            Err(e)
        }
    }
}

/// `/ota/device/inform/<pk>/<dn>` with `{"version":"V"[,"module":"M"]}`.
pub fn report_version(
    client: &Client,
    pk: &str,
    dn: &str,
    version: &str,
    module: Option<&str>,
) -> Result<()> {
    let prefix = "/ota/device/inform";
    publish(
        client,
        prefix,
        &format!("{prefix}/{pk}/{dn}"),
        &message::version_params(version, module),
    )
}

/// `/ota/device/progress/<pk>/<dn>` with `{"step":"<n>","desc":""[,"module":"M"]}`.
pub fn report_progress(client: &Client, pk: &str, dn: &str, step: i32, module: Option<&str>) -> Result<()> {
    let prefix = "/ota/device/progress";
    publish(
        client,
        prefix,
        &format!("{prefix}/{pk}/{dn}"),
        &message::progress_params(step, module),
    )
}

/// `/sys/<pk>/<dn>/thing/ota/firmware/get` with `{}` or `{"module":"M"}`.
pub fn query_firmware(client: &Client, pk: &str, dn: &str, module: Option<&str>) -> Result<()> {
    let topic = format!("/sys/{pk}/{dn}/thing/ota/firmware/get");
    publish(client, "/sys", &topic, &message::query_params(module))
}
