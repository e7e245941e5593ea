//! The evaluation of one diagnosis item (MQTT connection, MQTT heartbeat, Alink uplink), as
//! plain data: timing records are opened and closed by the taps, and [`Item::evaluate`], given
//! the time, levels them and decides the alerts (upstream's rules):
//!
//! - at most [`MAX_RECORDS`] records, the oldest dropped first;
//! - an open record older than the fatal threshold is closed at start + fatal;
//! - a closed record of duration d is `WARN` for warning <= d < fatal, `FATAL` for d >= fatal;
//! - the first levelled record of a period is reported at once (its own level); once
//!   `interval_ms` has passed since, a summary is reported if more alerts happened meanwhile
//!   (level `WARN`), and a new period starts.

use std::collections::VecDeque;

/// Records kept per item.
pub const MAX_RECORDS: usize = 20;

/// `aiot_diag_config_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// 0: the item collects nothing (upstream ignores it).
    pub enabled: u8,
    pub interval_ms: u32,
    pub warning_ms: i64,
    pub fatal_ms: i64,
}

/// Which item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Connection,
    Heartbeat,
    AlinkUplink,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Connection, Kind::Heartbeat, Kind::AlinkUplink];

    pub fn module(self) -> &'static str {
        match self {
            Kind::Connection => "DiagMqttConnection",
            Kind::Heartbeat => "DiagMqttHeartbeat",
            Kind::AlinkUplink => "DiagAlinkUplink",
        }
    }

    /// The TLV code (`code` of the report).
    pub fn code(self) -> u32 {
        match self {
            Kind::Connection => 0x10,
            Kind::Heartbeat => 0x20,
            Kind::AlinkUplink => 0x30,
        }
    }

    /// QoS of the cloud report.
    pub fn qos(self) -> u8 {
        match self {
            Kind::Connection => 1,
            _ => 0,
        }
    }

    pub fn default_config(self) -> Config {
        let (warning_ms, fatal_ms) = match self {
            Kind::Connection => (200, 500),
            Kind::Heartbeat => (800, 1500),
            Kind::AlinkUplink => (600, 1000),
        };
        Config {
            enabled: 1,
            interval_ms: 30_000,
            warning_ms,
            fatal_ms,
        }
    }
}

/// Alert level (`WARN`, `FATAL` on the wire and in the event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Warn,
    Fatal,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warn => "WARN",
            Level::Fatal => "FATAL",
        }
    }
}

/// One alert to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub kind: Kind,
    pub level: Level,
    pub desc: String,
}

#[derive(Clone, Copy, Debug)]
struct Record {
    start: u64,
    stop: Option<u64>,
    level: Option<Level>,
    /// Not levelled yet.
    open: bool,
    /// The Alink id (Alink uplink only).
    id: Option<u32>,
}

/// One item's records and period.
#[derive(Debug)]
pub struct Item {
    pub kind: Kind,
    pub config: Config,
    records: VecDeque<Record>,
    reported: bool,
    report_start: u64,
}

impl Item {
    pub fn new(kind: Kind) -> Item {
        Item {
            kind,
            config: kind.default_config(),
            records: VecDeque::new(),
            reported: false,
            report_start: 0,
        }
    }

    /// A start: opens a record.
    pub fn start(&mut self, now: u64, id: Option<u32>) {
        if self.records.len() >= MAX_RECORDS {
            self.records.pop_front();
        }
        self.records.push_back(Record {
            start: now,
            stop: None,
            level: None,
            open: true,
            id,
        });
    }

    /// A stop: closes the oldest unclosed record (with the same id, for Alink).
    pub fn stop(&mut self, now: u64, id: Option<u32>) {
        if let Some(r) = self.records.iter_mut().find(|r| r.stop.is_none() && r.id == id) {
            r.stop = Some(now);
        }
    }

    fn first_desc(&self, r: &Record) -> String {
        let d = r.stop.unwrap_or(r.start).saturating_sub(r.start);
        match self.kind {
            Kind::Connection => format!("MQTT connection establish time {d} ms"),
            Kind::Heartbeat => format!("MQTT lost heartbeat 1 times in {d} ms"),
            Kind::AlinkUplink => format!(
                "Alink message {} waiting for reply has already exceed {d} ms",
                r.id.unwrap_or(0)
            ),
        }
    }

    fn summary_desc(&self, count: u32, elapsed: u64) -> String {
        match self.kind {
            Kind::Connection => {
                format!("MQTT connection has been alert extra {count} times in past {elapsed} ms")
            }
            Kind::Heartbeat => {
                format!("MQTT lost heartbeat has been alert extra {count} times in past {elapsed} ms")
            }
            Kind::AlinkUplink => {
                format!(
                    "Alink message reply too slow has been alert extra {count} times in past {elapsed} ms"
                )
            }
        }
    }

    /// Levels the records at time `now` and returns the alerts due.
    pub fn evaluate(&mut self, now: u64) -> Vec<Alert> {
        let (warning, fatal) = (self.config.warning_ms, self.config.fatal_ms);
        let interval = u64::from(self.config.interval_ms);
        let mut alerts = Vec::new();
        let mut count = 0u32;
        for i in 0..self.records.len() {
            let mut r = self.records[i];
            if let Some(stop) = r.stop {
                r.start = r.start.min(stop);
            }
            if r.open {
                r.start = r.start.min(now);
                if r.stop.is_none() && (now - r.start) as i64 >= fatal {
                    r.stop = Some(r.start.saturating_add(fatal.max(0) as u64));
                }
                if let Some(stop) = r.stop {
                    let d = stop.saturating_sub(r.start) as i64;
                    r.level = if d >= fatal {
                        Some(Level::Fatal)
                    } else if d >= warning {
                        Some(Level::Warn)
                    } else {
                        None
                    };
                    r.open = false;
                }
                if !self.reported {
                    if let Some(level) = r.level {
                        alerts.push(Alert {
                            kind: self.kind,
                            level,
                            desc: self.first_desc(&r),
                        });
                        self.reported = true;
                        self.report_start = now;
                    }
                }
            }
            if r.start >= self.report_start && r.level.is_some() {
                count += 1;
            }
            self.report_start = self.report_start.min(now);
            let last = i + 1 == self.records.len();
            if self.reported && now - self.report_start >= interval && last {
                if count > 0 {
                    alerts.push(Alert {
                        kind: self.kind,
                        level: Level::Warn,
                        desc: self.summary_desc(count, now - self.report_start),
                    });
                }
                self.reported = false;
                self.report_start = now;
            }
            self.records[i] = r;
        }
        alerts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_connect_is_a_warning_and_a_lost_ping_fatal() {
        let mut c = Item::new(Kind::Connection);
        c.start(1000, None);
        c.stop(1300, None);
        let a = c.evaluate(2000);
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].level, a[0].desc.as_str()),
            (Level::Warn, "MQTT connection establish time 300 ms")
        );
        assert!(c.evaluate(4000).is_empty(), "reported once");

        let mut h = Item::new(Kind::Heartbeat);
        h.start(1000, None);
        assert!(h.evaluate(2000).is_empty(), "still waiting");
        let a = h.evaluate(2600);
        assert_eq!(
            (a[0].level, a[0].desc.as_str()),
            (Level::Fatal, "MQTT lost heartbeat 1 times in 1500 ms")
        );
    }

    #[test]
    fn fast_answers_raise_nothing_and_alink_matches_ids() {
        let mut u = Item::new(Kind::AlinkUplink);
        u.start(0, Some(7));
        u.start(0, Some(8));
        u.stop(100, Some(8));
        u.stop(700, Some(7));
        let a = u.evaluate(2000);
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[0].desc,
            "Alink message 7 waiting for reply has already exceed 700 ms"
        );
    }

    #[test]
    fn later_alerts_of_a_period_are_summed_up_after_the_interval() {
        let mut h = Item::new(Kind::Heartbeat);
        h.config.interval_ms = 10_000;
        h.start(0, None);
        assert_eq!(h.evaluate(2000).len(), 1);
        for t in [3000, 5000] {
            h.start(t, None);
        }
        assert!(h.evaluate(8000).is_empty());
        let a = h.evaluate(12_000);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].level, Level::Warn);
        assert_eq!(
            a[0].desc,
            "MQTT lost heartbeat has been alert extra 2 times in past 10000 ms"
        );
        // A new period: the next alert is reported at once again.
        h.start(12_500, None);
        assert_eq!(h.evaluate(14_500).len(), 1);
    }

    #[test]
    fn records_are_bounded() {
        let mut c = Item::new(Kind::Connection);
        for t in 0..100 {
            c.start(t, None);
        }
        assert_eq!(c.records.len(), MAX_RECORDS);
    }
}
