//! The one error type of the safe core and its one mapping to upstream `STATE_*` codes.

use crate::state::*;

/// What went wrong, named for the cause. [`Error::code`] is the only place that turns it into
/// the number upstream returns for the same situation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A required argument was NULL.
    NullPointer,
    /// An option value, QoS or flag is out of range.
    OutOfRange,
    /// The option number is not known.
    UnknownOption,
    MissingProductKey,
    MissingDeviceName,
    MissingDeviceSecret,
    MissingHost,
    MissingProductSecret,
    /// The handle is being torn down.
    ExecDisabled,
    /// The port gave no network handle (`network_init` returned NULL) or memory ran out.
    ResourceFailed,
    /// A `network_setopt` failed with a non-port code.
    NetworkSetopt,
    /// The `network_setopt` of the credential failed with a non-port code. Upstream's HTTP
    /// client reports this apart; its MQTT client as [`Error::NetworkSetopt`].
    NetworkCred,
    /// Establishing the connection failed with a non-port code.
    NetworkEstablish,
    /// There is no connection.
    NetworkClosed,
    /// A read timed out part way through.
    ReadLessData,
    /// A write timed out part way through.
    WriteLessData,
    /// A write failed with a non-port code.
    SendFailed,
    /// A read failed with a non-port code.
    RecvFailed,
    /// A `STATE_PORT_*` code (-0x0F01..-0x0FFF) from the port or TLS layer, passed through.
    Port(i32),
    /// CONNACK had a bad fixed header.
    ConnackFormat,
    /// CONNACK refused the connection with this MQTT 3.1.1 return code.
    ConnackRefused(u8),
    /// The QoS1 packet id is still waiting for its PUBACK.
    PacketIdInUse,
    /// A topic filter is not valid.
    TopicInvalid,
    TopicTooLong,
    PayloadTooLong,
    /// Remaining length of an incoming packet is malformed or timed out.
    MalformedRemainingLength,
    /// The body of an incoming packet was cut short.
    MalformedRemainingBytes,
    /// An incoming packet type the client does not expect.
    UnexpectedPacket,
    InvalidPingResp,
    InvalidPublish,
    InvalidPubAck,
    /// Deinit waited longer than the deinit timeout for calls in progress.
    DeinitTimeout,
    /// The QoS1 resend cache is full.
    QosCacheFull,
    /// The NTP handle has no MQTT handle (`STATE_NTP_MISSING_MQTT_HANDLE` of `aiot_ntp_api.h`).
    NtpMissingMqttHandle,
    /// An OTA or download outcome, carried as its upstream `STATE_OTA_*`, `STATE_DOWNLOAD_*`
    /// or `STATE_HTTP_*` code (these are return values, not only failures).
    Download(i32),
    /// A component's own `STATE_*` code (dynreg-mqtt: `STATE_DYNREGMQ_*`), passed through.
    Component(i32),
}

impl Error {
    /// The upstream `STATE_*` code for this error.
    pub fn code(self) -> i32 {
        match self {
            Error::NullPointer => STATE_USER_INPUT_NULL_POINTER,
            Error::OutOfRange => STATE_USER_INPUT_OUT_RANGE,
            Error::UnknownOption => STATE_USER_INPUT_UNKNOWN_OPTION,
            Error::MissingProductKey => STATE_USER_INPUT_MISSING_PRODUCT_KEY,
            Error::MissingDeviceName => STATE_USER_INPUT_MISSING_DEVICE_NAME,
            Error::MissingDeviceSecret => STATE_USER_INPUT_MISSING_DEVICE_SECRET,
            Error::MissingHost => STATE_USER_INPUT_MISSING_HOST,
            Error::MissingProductSecret => STATE_USER_INPUT_MISSING_PRODUCT_SECRET,
            Error::ExecDisabled => STATE_USER_INPUT_EXEC_DISABLED,
            Error::ResourceFailed => STATE_SYS_DEPEND_MALLOC_FAILED,
            Error::NetworkSetopt => STATE_SYS_DEPEND_NWK_INVALID_OPTION,
            Error::NetworkCred => STATE_SYS_DEPEND_NWK_INVALID_CRED,
            Error::NetworkEstablish => STATE_SYS_DEPEND_NWK_EST_FAILED,
            Error::NetworkClosed => STATE_SYS_DEPEND_NWK_CLOSED,
            Error::ReadLessData => STATE_SYS_DEPEND_NWK_READ_LESSDATA,
            Error::WriteLessData => STATE_SYS_DEPEND_NWK_WRITE_LESSDATA,
            Error::SendFailed => STATE_SYS_DEPEND_NWK_SEND_ERR,
            Error::RecvFailed => STATE_SYS_DEPEND_NWK_RECV_ERR,
            Error::Port(code) => code,
            Error::ConnackFormat => STATE_MQTT_CONNACK_FMT_ERROR,
            // Upstream maps these off by one against MQTT 3.1.1 (it treats 3 as bad
            // credentials and 4 as not authorised). We follow the specification.
            Error::ConnackRefused(1) => STATE_MQTT_CONNACK_RCODE_UNACCEPTABLE_PROTOCOL_VERSION,
            Error::ConnackRefused(3) => STATE_MQTT_CONNACK_RCODE_SERVER_UNAVAILABLE,
            Error::ConnackRefused(4) => STATE_MQTT_CONNACK_RCODE_BAD_USERNAME_PASSWORD,
            Error::ConnackRefused(5) => STATE_MQTT_CONNACK_RCODE_NOT_AUTHORIZED,
            Error::ConnackRefused(_) => STATE_MQTT_CONNACK_RCODE_UNKNOWN,
            Error::PacketIdInUse => STATE_MQTT_PUBLIST_PACKET_ID_ROLL,
            Error::TopicInvalid => STATE_MQTT_TOPIC_INVALID,
            Error::TopicTooLong => STATE_MQTT_TOPIC_TOO_LONG,
            Error::PayloadTooLong => STATE_MQTT_PUB_PAYLOAD_TOO_LONG,
            Error::MalformedRemainingLength => STATE_MQTT_MALFORMED_REMAINING_LEN,
            Error::MalformedRemainingBytes => STATE_MQTT_MALFORMED_REMAINING_BYTES,
            Error::UnexpectedPacket => STATE_MQTT_PACKET_TYPE_UNKNOWN,
            Error::InvalidPingResp => STATE_MQTT_RECV_INVALID_PINRESP_PACKET,
            Error::InvalidPublish => STATE_MQTT_RECV_INVALID_PUBLISH_PACKET,
            Error::InvalidPubAck => STATE_MQTT_RECV_INVALID_PUBACK_PACKET,
            Error::DeinitTimeout => STATE_MQTT_DEINIT_TIMEOUT,
            Error::QosCacheFull => STATE_QOS_CACHE_EXCEEDS_LIMIT,
            Error::NtpMissingMqttHandle => -0x1101,
            Error::Download(code) => code,
            Error::Component(code) => code,
        }
    }

    /// Maps a port's negative return: codes in the port range pass through, anything else
    /// becomes `fallback` (upstream's generic code for that call).
    pub fn from_port(code: i32, fallback: Error) -> Error {
        if (-0x0FFF..=-0x0F01).contains(&code) {
            Error::Port(code)
        } else {
            fallback
        }
    }
}

/// Result of the safe core.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connack_codes_follow_mqtt_311() {
        assert_eq!(Error::ConnackRefused(4).code(), -0x0304);
        assert_eq!(Error::ConnackRefused(5).code(), -0x0305);
        assert_eq!(Error::ConnackRefused(9).code(), -0x0306);
    }

    #[test]
    fn port_codes_pass_through() {
        assert_eq!(Error::from_port(-0x0F15, Error::RecvFailed).code(), -0x0F15);
        assert_eq!(Error::from_port(-1, Error::RecvFailed).code(), -0x020A);
    }
}
