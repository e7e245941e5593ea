//! The MQTT 3.1.1 wire format of the client, in one place: fixed-header framing, decoding of
//! every packet the client receives and encoding of every packet it sends.
//!
//! Topics are bytes: they go on the wire unchanged and come back unchanged (a GBK topic stays
//! GBK), as upstream treats them. CONNECT is encoded by rumqttc's `mqttbytes::v4`; the packets
//! that carry a topic are encoded and decoded here, because `mqttbytes` requires UTF-8 topics.
//!
//! Incoming frames are decoded once, from the read buffer: [`decode`] splits the frame off the
//! buffer without copying, and a PUBLISH's topic and payload are slices of it.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{Connect, Login, Packet};
use rumqttc::mqttbytes::Protocol;

use crate::error::{Error, Result};
use crate::log;
use crate::state::STATE_MQTT_MALFORMED_REMAINING_LEN;

/// Largest incoming remaining length accepted: a 1 MiB payload (upstream's publish limit)
/// plus the largest topic and headers. A bigger packet closes the connection.
pub const MAX_INCOMING: usize = 1024 * 1024 + 65_536 + 8;

/// Longest fixed header: the type byte and four remaining-length bytes.
pub const MAX_FIXED_HEADER: usize = 5;

const CONNACK: u8 = 0x20;
const PUBLISH: u8 = 0x30;
const PUBACK: u8 = 0x40;
const PUBREC: u8 = 0x50;
const PUBREL: u8 = 0x60;
const PUBCOMP: u8 = 0x70;
const SUBACK: u8 = 0x90;
const UNSUBACK: u8 = 0xB0;
const PINGRESP: u8 = 0xD0;

/// The fixed header of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedHeader {
    /// Packet type and flags.
    pub byte1: u8,
    /// Bytes of the fixed header (2..=5).
    pub len: usize,
    /// Bytes after the fixed header.
    pub remaining: usize,
}

impl FixedHeader {
    /// Bytes of the whole frame.
    pub fn frame_len(&self) -> usize {
        self.len + self.remaining
    }
}

/// An incoming PUBLISH; topic and payload are slices of the frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    pub qos: u8,
    /// 0 for QoS0.
    pub packet_id: u16,
    pub topic: Bytes,
    pub payload: Bytes,
}

/// A decoded incoming packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    Publish(Publish),
    PubAck(u16),
    /// One return code per filter.
    SubAck {
        packet_id: u16,
        codes: Bytes,
    },
    UnsubAck(u16),
    PingResp,
    /// A packet the client accepts and ignores (QoS2 acknowledgements, short SUBACK and
    /// UNSUBACK bodies).
    Ignored,
}

/// Parses the fixed header at the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn fixed_header(buf: &[u8]) -> Result<Option<FixedHeader>> {
    let Some(&byte1) = buf.first() else {
        return Ok(None);
    };
    let mut remaining = 0usize;
    for (i, &b) in buf[1..].iter().enumerate() {
        remaining |= ((b & 0x7F) as usize) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some(FixedHeader {
                byte1,
                len: i + 2,
                remaining,
            }));
        }
        if i + 2 == MAX_FIXED_HEADER {
            // A fifth length byte would follow.
            return Err(Error::MalformedRemainingLength);
        }
    }
    Ok(None)
}

/// Refuses a remaining length above `max_incoming` (logged as upstream's LK code).
pub fn check_remaining(header: &FixedHeader, max_incoming: usize) -> Result<()> {
    if header.remaining > max_incoming {
        log::line(
            STATE_MQTT_MALFORMED_REMAINING_LEN,
            &format!(
                "MQTT incoming packet too large: {} bytes, disconnect\r\n",
                header.remaining
            ),
        );
        return Err(Error::MalformedRemainingLength);
    }
    Ok(())
}

/// Decodes the frame at the start of `buf` and removes it from `buf` (without copying).
///
/// `Ok(None)`: the frame is incomplete (nothing is removed). `Err`: the frame is malformed
/// (`MalformedRemainingLength` for a bad or too large remaining length, else the code of the
/// packet type); the connection should be closed.
pub fn decode(buf: &mut BytesMut, max_incoming: usize) -> Result<Option<Incoming>> {
    let Some(header) = fixed_header(buf)? else {
        return Ok(None);
    };
    check_remaining(&header, max_incoming)?;
    if buf.len() < header.frame_len() {
        return Ok(None);
    }
    let mut frame = buf.split_to(header.frame_len()).freeze();
    frame.advance(header.len);
    decode_body(header.byte1, frame).map(Some)
}

/// Decodes a packet body (the bytes after the fixed header).
fn decode_body(byte1: u8, body: Bytes) -> Result<Incoming> {
    match byte1 & 0xF0 {
        PUBLISH => decode_publish(byte1, body).map(Incoming::Publish),
        PUBACK => match packet_id_only(&body) {
            Some(id) => Ok(Incoming::PubAck(id)),
            None => Err(Error::InvalidPubAck),
        },
        PINGRESP if body.is_empty() => Ok(Incoming::PingResp),
        PINGRESP => Err(Error::InvalidPingResp),
        SUBACK if body.len() >= 3 => Ok(Incoming::SubAck {
            packet_id: u16::from_be_bytes([body[0], body[1]]),
            codes: body.slice(2..),
        }),
        UNSUBACK => Ok(packet_id_only(&body).map_or(Incoming::Ignored, Incoming::UnsubAck)),
        SUBACK | PUBREC | PUBREL | PUBCOMP => Ok(Incoming::Ignored),
        _ => Err(Error::UnexpectedPacket),
    }
}

fn packet_id_only(body: &[u8]) -> Option<u16> {
    match *body {
        [hi, lo] => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}

/// A PUBLISH body: topic length, topic, packet id (QoS1), payload. QoS2 and QoS3 are refused,
/// as is a QoS1 packet id of 0.
fn decode_publish(byte1: u8, mut body: Bytes) -> Result<Publish> {
    let qos = (byte1 >> 1) & 0x03;
    if qos > 1 || body.len() < 2 {
        return Err(Error::InvalidPublish);
    }
    let topic_len = body.get_u16() as usize;
    if topic_len > body.len() {
        return Err(Error::InvalidPublish);
    }
    let topic = body.split_to(topic_len);
    let packet_id = if qos == 1 {
        if body.len() < 2 {
            return Err(Error::InvalidPublish);
        }
        match body.get_u16() {
            0 => return Err(Error::InvalidPublish),
            id => id,
        }
    } else {
        0
    };
    Ok(Publish {
        qos,
        packet_id,
        topic,
        payload: body,
    })
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn put_remaining_length(out: &mut BytesMut, mut len: usize) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if len == 0 {
            break;
        }
    }
}

fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    out.put_u16(bytes.len() as u16);
    out.put_slice(bytes);
}

/// CONNECT, protocol level 4, with login and no will.
pub fn connect(client_id: &str, username: &str, password: &str, keepalive: u16, clean: bool) -> Bytes {
    let packet = Packet::Connect(Connect {
        protocol: Protocol::V4,
        keep_alive: keepalive,
        client_id: client_id.to_owned(),
        clean_session: clean,
        last_will: None,
        login: Some(Login::new(username, password)),
    });
    let mut buf = BytesMut::with_capacity(packet.size());
    // Built from validated parts; the codec cannot refuse it.
    let _ = packet.write(&mut buf, usize::MAX);
    buf.freeze()
}

/// The fixed and variable header of a PUBLISH carrying `payload_len` bytes (no DUP, no
/// retain; the packet id only for QoS1). The payload follows it on the wire unchanged.
pub fn publish_header(topic: &[u8], payload_len: usize, qos: u8, packet_id: u16) -> BytesMut {
    let mut out = BytesMut::with_capacity(MAX_FIXED_HEADER + 4 + topic.len());
    put_publish_header(&mut out, topic, payload_len, qos, packet_id);
    out
}

fn put_publish_header(out: &mut BytesMut, topic: &[u8], payload_len: usize, qos: u8, packet_id: u16) {
    let id_len = if qos == 0 { 0 } else { 2 };
    out.put_u8(PUBLISH | (qos.min(1) << 1));
    put_remaining_length(out, 2 + topic.len() + id_len + payload_len);
    put_bytes(out, topic);
    if qos != 0 {
        out.put_u16(packet_id);
    }
}

/// A whole PUBLISH frame in one allocation (the QoS1 resend cache keeps this one copy).
pub fn publish(topic: &[u8], payload: &[u8], qos: u8, packet_id: u16) -> Bytes {
    let mut out = BytesMut::with_capacity(MAX_FIXED_HEADER + 4 + topic.len() + payload.len());
    put_publish_header(&mut out, topic, payload.len(), qos, packet_id);
    out.extend_from_slice(payload);
    out.freeze()
}

/// SUBSCRIBE with one filter.
pub fn subscribe(filter: &[u8], qos: u8, packet_id: u16) -> Bytes {
    let mut out = BytesMut::with_capacity(MAX_FIXED_HEADER + 5 + filter.len());
    out.put_u8(0x82);
    put_remaining_length(&mut out, 2 + 2 + filter.len() + 1);
    out.put_u16(packet_id);
    put_bytes(&mut out, filter);
    out.put_u8(qos);
    out.freeze()
}

/// UNSUBSCRIBE with one filter.
pub fn unsubscribe(filter: &[u8], packet_id: u16) -> Bytes {
    let mut out = BytesMut::with_capacity(MAX_FIXED_HEADER + 4 + filter.len());
    out.put_u8(0xA2);
    put_remaining_length(&mut out, 2 + 2 + filter.len());
    out.put_u16(packet_id);
    put_bytes(&mut out, filter);
    out.freeze()
}

pub fn puback(packet_id: u16) -> [u8; 4] {
    let [hi, lo] = packet_id.to_be_bytes();
    [PUBACK, 2, hi, lo]
}

pub fn pingreq() -> [u8; 2] {
    [0xC0, 0]
}

pub fn disconnect() -> [u8; 2] {
    [0xE0, 0]
}

/// Whether a CONNACK's first two bytes are well formed.
pub fn is_connack_header(bytes: [u8; 2]) -> bool {
    bytes == [CONNACK, 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Result<Option<Incoming>> {
        decode(&mut BytesMut::from(bytes), MAX_INCOMING)
    }

    #[test]
    fn connect_flags_match_upstream() {
        let b = connect("cid", "user", "pass", 1200, true);
        assert_eq!(b[0], 0x10);
        // "MQTT", level 4, flags 0xC2 (user name, password, clean session), keepalive 1200.
        assert_eq!(&b[2..12], &[0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0x04, 0xB0]);
    }

    #[test]
    fn publish_qos1_carries_packet_id() {
        let b = publish(b"/a", b"hi", 1, 7);
        assert_eq!(&b[..], &[0x32, 8, 0, 2, b'/', b'a', 0, 7, b'h', b'i']);
        let b = publish(b"/a", b"hi", 0, 7);
        assert_eq!(&b[..], &[0x30, 6, 0, 2, b'/', b'a', b'h', b'i']);
    }

    #[test]
    fn control_packets() {
        assert_eq!(pingreq(), [0xC0, 0]);
        assert_eq!(disconnect(), [0xE0, 0]);
        assert_eq!(puback(0x0102), [0x40, 2, 1, 2]);
        assert_eq!(&subscribe(b"/t", 1, 3)[..], &[0x82, 7, 0, 3, 0, 2, b'/', b't', 1]);
        assert_eq!(&unsubscribe(b"/t", 4)[..], &[0xA2, 6, 0, 4, 0, 2, b'/', b't']);
    }

    #[test]
    fn publish_roundtrip_keeps_topic_bytes_and_rejects_qos2() {
        let gbk = b"/a/\xb2\xe2\xca\xd4";
        let mut buf = BytesMut::from(&publish(gbk, b"payload", 1, 9)[..]);
        buf.extend_from_slice(&[0xD0]); // the start of the next frame stays
        let p = decode(&mut buf, MAX_INCOMING).unwrap().unwrap();
        let want = Publish {
            qos: 1,
            packet_id: 9,
            topic: Bytes::from_static(gbk),
            payload: Bytes::from_static(b"payload"),
        };
        assert_eq!(p, Incoming::Publish(want));
        assert_eq!(&buf[..], &[0xD0]);
        let mut raw = publish(b"/x", b"p", 1, 9).to_vec();
        raw[0] = 0x34; // QoS 2
        assert_eq!(decode_all(&raw), Err(Error::InvalidPublish));
        assert_eq!(decode_all(&[0x30, 3, 0, 9, b'x']), Err(Error::InvalidPublish));
        assert_eq!(decode_all(&[0x32, 4, 0, 1, b'x', 0]), Err(Error::InvalidPublish));
        assert_eq!(
            decode_all(&[0x32, 5, 0, 1, b'x', 0, 0]),
            Err(Error::InvalidPublish)
        );
    }

    #[test]
    fn framing_limits() {
        assert_eq!(decode_all(&[]), Ok(None));
        assert_eq!(decode_all(&[0x30]), Ok(None));
        assert_eq!(decode_all(&[0x30, 0x80]), Ok(None));
        assert_eq!(
            decode_all(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(Error::MalformedRemainingLength)
        );
        assert_eq!(decode_all(&[0x30, 5, 0]), Ok(None));
        assert_eq!(
            decode_all(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(Error::MalformedRemainingLength)
        );
        assert_eq!(
            decode_all(&[0x30, 0x80, 0x80, 0x80, 0x64]),
            Err(Error::MalformedRemainingLength)
        );
        assert_eq!(
            decode(&mut BytesMut::from(&[0xD0u8, 1, 0][..]), 0),
            Err(Error::MalformedRemainingLength)
        );
        assert_eq!(
            fixed_header(&[0x30, 0x80, 0x01]),
            Ok(Some(FixedHeader {
                byte1: 0x30,
                len: 3,
                remaining: 128
            }))
        );
    }

    #[test]
    fn acks_and_unexpected_packets() {
        assert_eq!(decode_all(&[0x40, 2, 0, 5]), Ok(Some(Incoming::PubAck(5))));
        assert_eq!(decode_all(&[0x40, 3, 0, 1, 0]), Err(Error::InvalidPubAck));
        assert_eq!(decode_all(&[0xD0, 0]), Ok(Some(Incoming::PingResp)));
        assert_eq!(decode_all(&[0xD0, 1, 0]), Err(Error::InvalidPingResp));
        assert_eq!(
            decode_all(&[0x90, 4, 0, 3, 1, 0x80]),
            Ok(Some(Incoming::SubAck {
                packet_id: 3,
                codes: Bytes::from_static(&[1, 0x80])
            }))
        );
        assert_eq!(decode_all(&[0x90, 2, 0, 3]), Ok(Some(Incoming::Ignored)));
        assert_eq!(decode_all(&[0xB0, 2, 0, 4]), Ok(Some(Incoming::UnsubAck(4))));
        assert_eq!(decode_all(&[0x50, 2, 0, 4]), Ok(Some(Incoming::Ignored)));
        assert_eq!(decode_all(&[0x20, 2, 0, 0]), Err(Error::UnexpectedPacket));
        assert_eq!(decode_all(&[0xF0, 0]), Err(Error::UnexpectedPacket));
    }
}
