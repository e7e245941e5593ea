//! Reading and dispatch: `aiot_mqtt_recv` reads one frame under the reader lock, decodes it
//! once (see `codec`), releases the lock and runs the handlers; the topic map (subscribed
//! filters and locally attached handlers) decides which.

use std::sync::Arc;

use super::codec::{self, Incoming};
use super::session::{lock, Client};
use super::topic::{self, check_filter};
use super::{DisconnectCause, Event, Recv, RecvHandler, Userdata};
use crate::error::{Error, Result};
use crate::log;
use crate::state::*;
use crate::transport::Connection;

/// A handler attached to a topic filter, with its own userdata (0 = use the handle's).
#[derive(Clone)]
pub(super) struct Attached {
    pub(super) handler: RecvHandler,
    pub(super) userdata: Userdata,
}

/// One topic filter of the shared sub / topic-map list.
pub(super) struct TopicEntry {
    pub(super) filter: Vec<u8>,
    pub(super) handlers: Vec<Attached>,
    /// Subscribed with `aiot_mqtt_sub` (so re-subscribed after a reconnect).
    pub(super) subscribed: Option<u8>,
}

pub(super) enum Dispatch {
    Handlers(Vec<Attached>),
    Default,
}

impl Client {
    /// Attaches a handler to a topic filter without SUBSCRIBE (what
    /// `AIOT_MQTTOPT_APPEND_TOPIC_MAP` does), for components; `userdata` 0 uses the handle's.
    pub fn attach_topic_handler(
        &self,
        filter: &[u8],
        handler: RecvHandler,
        userdata: Userdata,
    ) -> Result<()> {
        let check = lock(&self.cfg).topic_header_check == 1;
        check_filter(filter, check)?;
        self.attach(filter, Some(handler), userdata, None);
        Ok(())
    }

    /// Never hex-dumps received payloads in the log, only their length: for a session whose
    /// answers carry secrets (dynamic registration). Upstream dumps them.
    pub fn hide_received_payloads(&self) {
        lock(&self.cfg).log_payloads = false;
    }

    /// Removes the handler with `key` from `filter` (what `AIOT_MQTTOPT_REMOVE_TOPIC_MAP` does).
    pub fn detach_topic_handler(&self, filter: &[u8], key: usize) {
        self.detach(filter, key);
    }

    pub(super) fn detach(&self, filter: &[u8], key: usize) {
        let mut st = lock(&self.state);
        if let Some(e) = st.topics.iter_mut().find(|e| e.filter == filter) {
            e.handlers.retain(|a| a.handler.key != key);
        }
    }

    /// Adds `handler` to the entry of `filter` (created in insertion order). The same
    /// handler is kept once; adding it again replaces its userdata.
    pub(super) fn attach(
        &self,
        filter: &[u8],
        handler: Option<RecvHandler>,
        userdata: Userdata,
        sub_qos: Option<u8>,
    ) {
        let mut st = lock(&self.state);
        let idx = match st.topics.iter().position(|e| e.filter == filter) {
            Some(i) => i,
            None => {
                st.topics.push(TopicEntry {
                    filter: filter.to_vec(),
                    handlers: Vec::new(),
                    subscribed: None,
                });
                st.topics.len() - 1
            }
        };
        let entry = &mut st.topics[idx];
        if sub_qos.is_some() {
            entry.subscribed = sub_qos;
        }
        if let Some(handler) = handler {
            match entry.handlers.iter_mut().find(|a| a.handler.key == handler.key) {
                Some(a) => a.userdata = userdata,
                None => entry.handlers.push(Attached { handler, userdata }),
            }
        }
    }

    /// `aiot_mqtt_recv`: reconnects when needed, then reads and dispatches at most one packet.
    pub fn recv(&self) -> Result<()> {
        let _g = self.enter()?;
        let conn = match self.connection() {
            Some(c) => c,
            None => {
                self.report_lost_connection();
                self.try_reconnect(false)?;
                self.connection().ok_or(Error::NetworkClosed)?
            }
        };
        let (max_lost, reconn) = {
            let cfg = lock(&self.cfg);
            (cfg.heartbeat_max_lost as u32, cfg.reconn_enabled == 1)
        };
        let lost = lock(&self.state).lost;
        if lost > max_lost {
            let due = std::mem::replace(&mut lock(&self.state).connected, false);
            if due {
                self.fire(Event::Disconnect(DisconnectCause::Heartbeat));
            }
            if reconn && !lock(&self.state).user_disconnected {
                self.close_if(&conn);
                self.try_reconnect(true)?;
                let conn = self.connection().ok_or(Error::NetworkClosed)?;
                return self.read_one(&conn);
            }
        }
        self.read_one(&conn)
    }

    /// Reads one packet (or times out with `Ok`) and dispatches it. The reader lock is
    /// released before dispatch, so handlers may call `recv` themselves.
    pub(super) fn read_one(&self, conn: &Arc<Connection>) -> Result<()> {
        let timeout = lock(&self.cfg).recv_timeout_ms;
        let incoming = match self.read_frame(conn, timeout) {
            Ok(Some(incoming)) => incoming,
            Ok(None) => return Ok(()),
            Err(e) => {
                self.close_if(conn);
                return Err(e);
            }
        };
        lock(&self.state).lost = 0;
        let result = self.handle_packet(conn, incoming);
        if result.is_err() {
            self.close_if(conn);
        }
        result
    }

    /// Reads one whole frame under the reader lock and decodes it once, from the read
    /// buffer; `None` when nothing arrived within the timeout.
    pub(super) fn read_frame(&self, conn: &Connection, timeout: u32) -> Result<Option<Incoming>> {
        let mut buf = lock(&self.reader);
        buf.clear();
        buf.resize(1, 0);
        if conn.recv(&mut buf[..1], timeout)? == 0 {
            return Ok(None);
        }
        let header = loop {
            if let Some(header) = codec::fixed_header(&buf)? {
                break header;
            }
            let at = buf.len();
            buf.resize(at + 1, 0);
            if conn.recv(&mut buf[at..], timeout)? != 1 {
                return Err(Error::ReadLessData);
            }
        };
        codec::check_remaining(&header, codec::MAX_INCOMING)?;
        buf.resize(header.frame_len(), 0);
        if header.remaining > 0 && conn.recv(&mut buf[header.len..], timeout)? != header.remaining {
            return Err(Error::MalformedRemainingBytes);
        }
        codec::decode(&mut buf, codec::MAX_INCOMING)?
            .map(Some)
            .ok_or(Error::MalformedRemainingBytes)
    }

    pub(super) fn handle_packet(&self, conn: &Arc<Connection>, incoming: Incoming) -> Result<()> {
        match incoming {
            Incoming::Publish(publish) => self.handle_publish(conn, &publish),
            Incoming::PingResp => {
                let now = self.now();
                {
                    let mut st = lock(&self.state);
                    let sent = st.last_ping;
                    st.nwk.heartbeat_answered(now.saturating_sub(sent));
                }
                super::diagtap::report(super::diagtap::Tap::PingAnswered);
                self.deliver_default(&Recv::HeartbeatResponse);
                Ok(())
            }
            Incoming::PubAck(id) => {
                lock(&self.state).acknowledge(id);
                self.deliver_default(&Recv::PubAck { packet_id: id });
                Ok(())
            }
            Incoming::SubAck { packet_id, codes } => {
                for &code in codes.iter() {
                    let (res, max_qos) = match code {
                        0..=2 => (STATE_SUCCESS, code),
                        0x80 => (STATE_MQTT_SUBACK_RCODE_FAILURE, 0),
                        _ => (STATE_MQTT_SUBACK_RCODE_UNKNOWN, 0),
                    };
                    self.deliver_default(&Recv::SubAck {
                        res,
                        max_qos,
                        packet_id,
                    });
                }
                Ok(())
            }
            Incoming::UnsubAck(packet_id) => {
                self.deliver_default(&Recv::UnsubAck { packet_id });
                Ok(())
            }
            Incoming::Ignored => Ok(()),
        }
    }

    /// Acknowledges a QoS1 PUBLISH, then runs every handler whose filter matches (or the
    /// default handler); topic and payload are borrowed from the read buffer.
    pub(super) fn handle_publish(&self, conn: &Arc<Connection>, publish: &codec::Publish) -> Result<()> {
        if publish.qos == 1 {
            // As upstream: a PUBACK that cannot be written closes the connection (which the
            // next recv reports) but the message is still delivered and recv succeeds.
            let timeout = lock(&self.cfg).send_timeout_ms;
            let _ = self.send_bytes(conn, &codec::puback(publish.packet_id), timeout);
        }
        if log::enabled() {
            log::line_bytes(STATE_MQTT_LOG_TOPIC, &[b"pub: ", &publish.topic, b"\r\n"]);
            if lock(&self.cfg).log_payloads {
                log::hexdump(STATE_MQTT_LOG_HEXDUMP, '<', &publish.payload);
            } else {
                log::line(
                    STATE_MQTT_LOG_HEXDUMP,
                    &format!(
                        "< ({} bytes, not shown: they carry credentials)\r\n",
                        publish.payload.len()
                    ),
                );
            }
        }
        let recv = Recv::Pub {
            qos: publish.qos,
            topic: &publish.topic,
            payload: &publish.payload,
        };
        match self.dispatch_for(&publish.topic) {
            Dispatch::Handlers(list) => {
                let handle_userdata = lock(&self.cfg).userdata;
                for a in list {
                    let ud = if a.userdata != 0 {
                        a.userdata
                    } else {
                        handle_userdata
                    };
                    (a.handler.call)(&recv, ud);
                }
            }
            Dispatch::Default => self.deliver_default(&recv),
        }
        Ok(())
    }

    pub(super) fn dispatch_for(&self, topic: &[u8]) -> Dispatch {
        let st = lock(&self.state);
        let list: Vec<Attached> = st
            .topics
            .iter()
            .filter(|e| topic::matches(&e.filter, topic))
            .flat_map(|e| e.handlers.iter().cloned())
            .collect();
        if list.is_empty() {
            Dispatch::Default
        } else {
            Dispatch::Handlers(list)
        }
    }

    pub(super) fn deliver_default(&self, recv: &Recv<'_>) {
        let (handler, userdata) = {
            let cfg = lock(&self.cfg);
            (cfg.recv_handler.clone(), cfg.userdata)
        };
        if let Some(h) = handler {
            (h.call)(recv, userdata);
        }
    }
}
