//! `aiot_mqtt_process`: heartbeats on their interval and QoS1 resend from the cache of
//! unacknowledged publishes.

use bytes::Bytes;

use super::codec;
use super::diagtap::{self, Tap};
use super::session::{lock, Client, State};
use crate::error::{Error, Result};

/// A QoS1 PUBLISH waiting for its PUBACK.
pub(super) struct Pending {
    pub(super) packet_id: u16,
    pub(super) bytes: Bytes,
    pub(super) last_sent: u64,
}

impl State {
    pub(super) fn id_pending(&self, id: u16) -> bool {
        self.pending_ids[id as usize / 64] & (1 << (id % 64)) != 0
    }

    pub(super) fn mark_pending(&mut self, id: u16, held: bool) {
        let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
        if held {
            self.pending_ids[word] |= bit;
        } else {
            self.pending_ids[word] &= !bit;
        }
    }

    /// Drops the QoS1 message a PUBACK acknowledges.
    pub(super) fn acknowledge(&mut self, id: u16) {
        if self.id_pending(id) {
            if let Some(i) = self.pending.iter().position(|p| p.packet_id == id) {
                self.pending.remove(i);
            }
            self.mark_pending(id, false);
        }
    }
}

impl Client {
    /// `aiot_mqtt_heartbeat`: sends one PINGREQ now.
    pub fn heartbeat(&self) -> Result<()> {
        let conn = self.connection().ok_or(Error::NetworkClosed)?;
        let timeout = lock(&self.cfg).send_timeout_ms;
        self.send_bytes(&conn, &codec::pingreq(), timeout)
    }

    /// `aiot_mqtt_process`: heartbeat on its interval, QoS1 resend on its timeout, then
    /// every component's tick hook.
    pub fn process(&self) -> Result<()> {
        let _g = self.enter()?;
        let now = self.now();
        let (interval, repub_timeout, send_timeout) = {
            let cfg = lock(&self.cfg);
            (
                cfg.heartbeat_interval_ms as u64,
                cfg.repub_timeout_ms as u64,
                cfg.send_timeout_ms,
            )
        };
        let mut result = Ok(());
        let ping_due = {
            let mut st = lock(&self.state);
            if now.saturating_sub(st.last_ping) >= interval || st.last_ping == 0 {
                // As upstream 4.2: the ping counts as sent (and lost until a packet
                // arrives) even when the write fails.
                st.last_ping = now;
                st.lost += 1;
                true
            } else {
                false
            }
        };
        if ping_due {
            diagtap::report(Tap::PingSent);
            result = self.heartbeat();
        }
        if let Some(conn) = self.connection() {
            let due: Vec<Bytes> = {
                let mut st = lock(&self.state);
                st.pending
                    .iter_mut()
                    .filter(|p| now.saturating_sub(p.last_sent) >= repub_timeout)
                    .map(|p| {
                        p.last_sent = now;
                        p.bytes.clone()
                    })
                    .collect()
            };
            for bytes in due {
                if self.send_bytes(&conn, &bytes, send_timeout).is_err() {
                    break;
                }
            }
        }
        self.components_on_tick();
        result
    }
}
