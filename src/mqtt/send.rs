//! Sending: publish, subscribe and unsubscribe, each packet written whole under the
//! connection's send lock.

use std::sync::Arc;

use super::codec;
use super::process::Pending;
use super::session::{lock, Client};
use super::topic::{check_filter, MAX_TOPIC_LEN};
use super::{RecvHandler, Userdata};
use crate::error::{Error, Result};
use crate::log;
use crate::state::*;
use crate::sysdep;
use crate::transport::Connection;

const MAX_PAYLOAD_LEN: usize = 1024 * 1024;

impl Client {
    pub(super) fn send_bytes(&self, conn: &Arc<Connection>, bytes: &[u8], timeout: u32) -> Result<()> {
        self.send_parts(conn, &[bytes], timeout)
    }

    /// Writes one packet made of `parts` under the connection's one send lock.
    pub(super) fn send_parts(&self, conn: &Arc<Connection>, parts: &[&[u8]], timeout: u32) -> Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        match conn.send_parts(parts, timeout) {
            Ok(n) if n == total => Ok(()),
            Ok(_) => Err(Error::WriteLessData),
            Err(e) => {
                self.close_if(conn);
                Err(e)
            }
        }
    }

    /// `aiot_mqtt_pub`: returns the packet id for QoS1, 0 for QoS0. The topic is sent as the
    /// bytes given.
    pub fn publish(&self, topic: impl AsRef<[u8]>, payload: &[u8], qos: u8) -> Result<u16> {
        let topic = topic.as_ref();
        // Upstream's order: arguments, then the connection, then the deinit check.
        if topic.len() >= MAX_TOPIC_LEN {
            return Err(Error::TopicTooLong);
        }
        if topic.is_empty() || qos > 1 {
            return Err(Error::OutOfRange);
        }
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(Error::PayloadTooLong);
        }
        let conn = self.connection().ok_or(Error::NetworkClosed)?;
        let _g = self.enter()?;
        let (append_rid, send_timeout, max_repub) = {
            let cfg = lock(&self.cfg);
            (
                cfg.append_requestid == 1,
                cfg.send_timeout_ms,
                cfg.max_repub_num as usize,
            )
        };
        let wire_topic;
        let topic_on_wire = if append_rid {
            let mut t = topic.to_vec();
            let rid = format!("?_rid={}{}", self.now(), sysdep::rand_u32(self.port.as_ref()));
            t.extend_from_slice(rid.as_bytes());
            wire_topic = t;
            &wire_topic[..]
        } else {
            topic
        };
        if log::enabled() {
            log::line_bytes(STATE_MQTT_LOG_TOPIC, &[b"pub: ", topic, b"\r\n"]);
            log::hexdump(STATE_MQTT_LOG_HEXDUMP, '>', payload);
        }
        if qos == 0 {
            // Header and payload go out as they are: the payload is not copied.
            let header = codec::publish_header(topic_on_wire, payload.len(), 0, 0);
            self.send_parts(&conn, &[&header, payload], send_timeout)?;
            return Ok(0);
        }
        let (id, frame) = {
            let mut st = lock(&self.state);
            let id = st.next_packet_id();
            if st.id_pending(id) {
                return Err(Error::PacketIdInUse);
            }
            // Upstream lets the cache reach MAX_REPUB_NUM + 2 entries; we hold it to the
            // configured number.
            if st.pending.len() >= max_repub.max(1) {
                return Err(Error::QosCacheFull);
            }
            // The resend cache keeps the one owned copy of the packet; it is also what is sent.
            let frame = codec::publish(topic_on_wire, payload, 1, id);
            let now = self.now();
            st.mark_pending(id, true);
            st.pending.push_back(Pending {
                packet_id: id,
                bytes: frame.clone(),
                last_sent: now,
            });
            (id, frame)
        };
        self.send_bytes(&conn, &frame, send_timeout)?;
        Ok(id)
    }

    pub(super) fn send_subscribe(&self, filter: &[u8], qos: u8) -> Result<u16> {
        // As upstream, the packet id is used up even when there is no connection.
        let id = lock(&self.state).next_packet_id();
        let conn = self.connection().ok_or(Error::NetworkClosed)?;
        let timeout = lock(&self.cfg).send_timeout_ms;
        self.send_bytes(&conn, &codec::subscribe(filter, qos, id), timeout)?;
        Ok(id)
    }

    /// `aiot_mqtt_sub`: records the handler, sends SUBSCRIBE, returns its packet id.
    pub fn subscribe(
        &self,
        filter: impl AsRef<[u8]>,
        handler: Option<RecvHandler>,
        qos: u8,
        userdata: Userdata,
    ) -> Result<u16> {
        let filter = filter.as_ref();
        let check = lock(&self.cfg).topic_header_check == 1;
        if filter.len() >= MAX_TOPIC_LEN {
            return Err(Error::TopicTooLong);
        }
        if filter.is_empty() || qos > 1 {
            return Err(Error::OutOfRange);
        }
        check_filter(filter, check)?;
        let _g = self.enter()?;
        if log::enabled() {
            log::line_bytes(STATE_MQTT_LOG_TOPIC, &[b"sub: ", filter, b"\r\n"]);
        }
        self.attach(filter, handler, userdata, Some(qos));
        self.send_subscribe(filter, qos)
    }

    /// `aiot_mqtt_unsub`: forgets every handler of the filter, sends UNSUBSCRIBE.
    pub fn unsubscribe(&self, filter: impl AsRef<[u8]>) -> Result<u16> {
        let filter = filter.as_ref();
        let check = lock(&self.cfg).topic_header_check == 1;
        if filter.len() >= MAX_TOPIC_LEN {
            return Err(Error::TopicTooLong);
        }
        if filter.is_empty() {
            return Err(Error::OutOfRange);
        }
        check_filter(filter, check)?;
        let _g = self.enter()?;
        if log::enabled() {
            log::line_bytes(STATE_MQTT_LOG_TOPIC, &[b"unsub: ", filter, b"\r\n"]);
        }
        lock(&self.state).topics.retain(|e| e.filter != filter);
        let id = lock(&self.state).next_packet_id();
        let conn = self.connection().ok_or(Error::NetworkClosed)?;
        let timeout = lock(&self.cfg).send_timeout_ms;
        self.send_bytes(&conn, &codec::unsubscribe(filter, id), timeout)?;
        Ok(id)
    }
}
