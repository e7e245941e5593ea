//! Network statistics of a session (upstream's `nwkstats`), read by the logpost component for
//! its `net_conn` and `net_rt` system logs: when and how the last connection was made, the
//! last failed attempt, and the heartbeat round trip.
//!
//! Updated under the `state` lock only (no I/O, no callback); [`Client::take_nwkstats`] copies
//! them out and clears the once-per-connect parts, as upstream's getter does.

use super::session::{lock, Client};

/// Heartbeat round trips at or above this are left out of the average (upstream's threshold).
const RTT_THRESHOLD_MS: u64 = 10_000;

/// A copy of the statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NwkStats {
    /// The credential asked for TLS (`TLS`), or not (`TCP`).
    pub tls: bool,
    /// Port time (ms) when the last network connect started.
    pub connect_timestamp: u64,
    /// ms the last successful network connect took (cleared by each read).
    pub connect_time_used: u64,
    /// A network connect succeeded since the last read (cleared by each read). Upstream has
    /// only `connect_time_used != 0`, which misses connects faster than 1 ms.
    pub connected: bool,
    /// Port time (ms) of the last failed network connect.
    pub failed_timestamp: u64,
    /// Its code (cleared by each read; 0: none).
    pub failed_error_code: i32,
    /// Running heartbeat round trip: `(rtt + sample) / 2` on each PINGRESP.
    pub rtt: u64,
}

impl NwkStats {
    pub(super) fn connect_started(&mut self, now: u64, tls: bool) {
        self.tls = tls;
        self.connect_timestamp = now;
    }

    pub(super) fn connect_failed(&mut self, code: i32) {
        self.failed_timestamp = self.connect_timestamp;
        self.failed_error_code = code;
    }

    pub(super) fn connect_done(&mut self, now: u64) {
        self.connect_time_used = now.saturating_sub(self.connect_timestamp);
        self.connected = true;
    }

    pub(super) fn heartbeat_answered(&mut self, round_trip: u64) {
        if round_trip < RTT_THRESHOLD_MS {
            self.rtt = (self.rtt + round_trip) / 2;
        }
    }

    /// Copies the statistics and clears the once-per-connect parts.
    fn take(&mut self) -> NwkStats {
        let copy = *self;
        self.connect_time_used = 0;
        self.connected = false;
        self.failed_error_code = 0;
        copy
    }
}

impl Client {
    /// The session's network statistics; clears the connect duration, the fresh-connect flag
    /// and the failure code (upstream's `core_mqtt_get_nwkstats`).
    pub fn take_nwkstats(&self) -> NwkStats {
        lock(&self.state).nwk.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_clears_the_once_per_connect_parts() {
        let mut s = NwkStats::default();
        s.connect_started(1000, true);
        s.connect_failed(-0x0F11);
        s.connect_started(5000, true);
        s.connect_done(5000);
        let first = s.take();
        assert!(first.connected && first.tls);
        assert_eq!(
            (
                first.connect_time_used,
                first.failed_timestamp,
                first.failed_error_code
            ),
            (0, 1000, -0x0F11)
        );
        let second = s.take();
        assert!(!second.connected);
        assert_eq!(second.failed_error_code, 0);
        assert_eq!(second.connect_timestamp, 5000);
    }

    #[test]
    fn rtt_is_a_running_half_average_ignoring_long_samples() {
        let mut s = NwkStats::default();
        s.heartbeat_answered(100);
        s.heartbeat_answered(10_000);
        s.heartbeat_answered(50);
        assert_eq!(s.rtt, 50);
    }
}
