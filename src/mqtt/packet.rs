//! Packet bytes in and out, over rumqttc's MQTT 3.1.1 codec (`mqttbytes::v4`).

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{
    Connect, Disconnect, Login, Packet, PingReq, PubAck, Publish, Subscribe, SubscribeFilter, Unsubscribe,
};
use rumqttc::mqttbytes::{Protocol, QoS};

use crate::error::{Error, Result};

/// Fixed-header packet types the client receives.
pub const CONNACK: u8 = 0x20;
pub const PUBLISH: u8 = 0x30;
pub const PUBACK: u8 = 0x40;
pub const PUBREC: u8 = 0x50;
pub const PUBREL: u8 = 0x60;
pub const PUBCOMP: u8 = 0x70;
pub const SUBACK: u8 = 0x90;
pub const UNSUBACK: u8 = 0xB0;
pub const PINGRESP: u8 = 0xD0;

/// Largest incoming remaining length accepted: a 1 MiB payload (upstream's publish limit)
/// plus the largest topic and headers. A bigger packet closes the connection.
pub const MAX_INCOMING: usize = 1024 * 1024 + 65_536 + 8;

fn qos(level: u8) -> QoS {
    if level == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

fn encode(packet: &Packet) -> Bytes {
    let mut buf = BytesMut::with_capacity(packet.size());
    // Every packet here is built from validated parts; the codec cannot refuse it.
    let _ = packet.write(&mut buf, usize::MAX);
    buf.freeze()
}

/// CONNECT, protocol level 4, with login and no will.
pub fn connect(client_id: &str, username: &str, password: &str, keepalive: u16, clean: bool) -> Bytes {
    let c = Connect {
        protocol: Protocol::V4,
        keep_alive: keepalive,
        client_id: client_id.to_owned(),
        clean_session: clean,
        last_will: None,
        login: Some(Login::new(username, password)),
    };
    encode(&Packet::Connect(c))
}

/// PUBLISH with the given packet id (ignored for QoS0); no retain, no DUP.
pub fn publish(topic: &str, payload: &[u8], qos_level: u8, packet_id: u16) -> Bytes {
    let mut p = Publish::from_bytes(topic, qos(qos_level), Bytes::copy_from_slice(payload));
    p.pkid = if qos_level == 0 { 0 } else { packet_id };
    encode(&Packet::Publish(p))
}

pub fn subscribe(topic: &str, qos_level: u8, packet_id: u16) -> Bytes {
    let s = Subscribe {
        pkid: packet_id,
        filters: vec![SubscribeFilter::new(topic.to_owned(), qos(qos_level))],
    };
    encode(&Packet::Subscribe(s))
}

pub fn unsubscribe(topic: &str, packet_id: u16) -> Bytes {
    encode(&Packet::Unsubscribe(Unsubscribe {
        pkid: packet_id,
        topics: vec![topic.to_owned()],
    }))
}

pub fn puback(packet_id: u16) -> Bytes {
    encode(&Packet::PubAck(PubAck::new(packet_id)))
}

pub fn pingreq() -> Bytes {
    let _ = PingReq;
    encode(&Packet::PingReq)
}

pub fn disconnect() -> Bytes {
    let _ = Disconnect;
    encode(&Packet::Disconnect)
}

/// An incoming PUBLISH, decoded.
pub struct IncomingPublish {
    pub qos: u8,
    pub packet_id: u16,
    pub topic: String,
    pub payload: Bytes,
}

/// Decodes a whole PUBLISH frame (fixed header included).
pub fn decode_publish(frame: BytesMut) -> Result<IncomingPublish> {
    let mut frame = frame;
    match Packet::read(&mut frame, MAX_INCOMING) {
        Ok(Packet::Publish(p)) => {
            let level = match p.qos {
                QoS::AtMostOnce => 0,
                QoS::AtLeastOnce => 1,
                QoS::ExactlyOnce => return Err(Error::InvalidPublish),
            };
            Ok(IncomingPublish {
                qos: level,
                packet_id: p.pkid,
                topic: p.topic,
                payload: p.payload,
            })
        }
        _ => Err(Error::InvalidPublish),
    }
}

/// Appends the MQTT variable-length encoding of `len` (for building test frames).
pub fn remaining_length(mut len: usize, out: &mut Vec<u8>) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_flags_match_upstream() {
        let b = connect("cid", "user", "pass", 1200, true);
        assert_eq!(b[0], 0x10);
        // "MQTT", level 4, flags 0xC2 (user name, password, clean session), keepalive 1200.
        assert_eq!(&b[2..12], &[0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0x04, 0xB0]);
    }

    #[test]
    fn publish_qos1_carries_packet_id() {
        let b = publish("/a", b"hi", 1, 7);
        assert_eq!(&b[..], &[0x32, 8, 0, 2, b'/', b'a', 0, 7, b'h', b'i']);
        let b = publish("/a", b"hi", 0, 7);
        assert_eq!(&b[..], &[0x30, 6, 0, 2, b'/', b'a', b'h', b'i']);
    }

    #[test]
    fn control_packets() {
        assert_eq!(&pingreq()[..], &[0xC0, 0]);
        assert_eq!(&disconnect()[..], &[0xE0, 0]);
        assert_eq!(&puback(0x0102)[..], &[0x40, 2, 1, 2]);
        assert_eq!(&subscribe("/t", 1, 3)[..], &[0x82, 7, 0, 3, 0, 2, b'/', b't', 1]);
        assert_eq!(&unsubscribe("/t", 4)[..], &[0xA2, 6, 0, 4, 0, 2, b'/', b't']);
    }

    #[test]
    fn decode_publish_roundtrip_and_rejects_qos2() {
        let frame = BytesMut::from(&publish("/x/y", b"payload", 1, 9)[..]);
        let p = decode_publish(frame).unwrap();
        assert_eq!(
            (p.qos, p.packet_id, p.topic.as_str(), &p.payload[..]),
            (1, 9, "/x/y", &b"payload"[..])
        );
        let mut raw = publish("/x", b"p", 1, 9).to_vec();
        raw[0] = 0x34; // QoS 2
        assert_eq!(
            decode_publish(BytesMut::from(&raw[..])).err(),
            Some(Error::InvalidPublish)
        );
        let garbage = BytesMut::from(&[0x30u8, 3, 0, 9, b'x'][..]);
        assert_eq!(decode_publish(garbage).err(), Some(Error::InvalidPublish));
    }
}
