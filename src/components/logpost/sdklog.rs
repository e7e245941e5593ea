//! Upload of the SDK's own log lines while the cloud has log upload switched on (`mode` 1).
//!
//! Not in upstream, which uploads only what the application sends. While one logpost handle
//! has the cloud's switch on, it owns the core's log tap: every ordinary `[LK-xxxx]` line
//! (never payload dumps or port lines) is masked and queued here, and that handle's process
//! tick uploads the queue as module `sdk` records. The switch going off, or the handle going
//! away, releases the tap and drops the queue.
//!
//! The tap runs wherever a line is logged, possibly under a library lock, so it only copies the
//! line into the queue (a leaf lock, never held while logging). The queue is bounded: beyond
//! [`QUEUE_MAX`] lines the oldest go. Lines logged while logpost itself publishes are not
//! queued (`log::untapped`), so an upload never feeds the next one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::log;

/// Lines kept waiting for the next tick.
pub const QUEUE_MAX: usize = 64;
/// Lines uploaded per tick (one publish).
pub const BATCH_MAX: usize = 16;
/// Module name of the uploaded SDK lines.
pub const MODULE: &str = "sdk";

/// A queued line: its code, the log clock when logged, and its masked text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub code: i32,
    pub utc_ms: u64,
    pub text: String,
}

struct Shared {
    /// The handle (its key) whose tick uploads the lines, while one has the switch on.
    owner: Option<usize>,
    queue: VecDeque<Line>,
}

static SHARED: Mutex<Shared> = Mutex::new(Shared {
    owner: None,
    queue: VecDeque::new(),
});

fn shared() -> MutexGuard<'static, Shared> {
    SHARED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts capturing for handle `key` unless another handle already does.
pub fn start(key: usize) {
    let mut s = shared();
    if s.owner.is_some() {
        return;
    }
    s.owner = Some(key);
    drop(s);
    log::set_tap(Some(Arc::new(|code: i32, line: &[u8]| push(code, line))));
}

/// Stops capturing if `key` owns it, dropping what is queued.
pub fn stop(key: usize) {
    let mut s = shared();
    if s.owner != Some(key) {
        return;
    }
    s.owner = None;
    s.queue.clear();
    drop(s);
    log::set_tap(None);
}

/// Whether handle `key` owns the capture.
pub fn owned_by(key: usize) -> bool {
    shared().owner == Some(key)
}

fn push(code: i32, line: &[u8]) {
    let text = mask(code, &String::from_utf8_lossy(line));
    let utc_ms = log::clock_ms();
    let mut s = shared();
    if s.owner.is_none() {
        return;
    }
    if s.queue.len() >= QUEUE_MAX {
        s.queue.pop_front();
    }
    s.queue.push_back(Line { code, utc_ms, text });
}

/// Takes up to [`BATCH_MAX`] queued lines, oldest first.
pub fn take_batch() -> Vec<Line> {
    let mut s = shared();
    let n = s.queue.len().min(BATCH_MAX);
    s.queue.drain(..n).collect()
}

/// Returns lines a failed upload took (oldest first) to the front of the queue, so they go
/// with the next tick once the connection is back; beyond [`QUEUE_MAX`] the oldest go.
pub fn put_back(lines: Vec<Line>) {
    let mut s = shared();
    if s.owner.is_none() {
        return;
    }
    restore(&mut s.queue, lines);
}

fn restore(queue: &mut VecDeque<Line>, lines: Vec<Line>) {
    for line in lines.into_iter().rev() {
        if queue.len() >= QUEUE_MAX {
            break;
        }
        queue.push_front(line);
    }
}

/// Key names whose values are secrets.
const SECRET_KEYS: [&str; 6] = [
    "devicesecret",
    "productsecret",
    "password",
    "devicetoken",
    "psk",
    "sign",
];

/// Log code of the MQTT password line (`STATE_MQTT_LOG_PASSWORD`).
const PASSWORD_LINE: i32 = -0x0318;

/// The line without its CRLF, with secrets hidden: the password line keeps only the first 8
/// characters of its text (as the core logs it), and the value after any secret-named key
/// (`deviceSecret`, `password`, `sign`, ...; followed by `":"`, `=` or `:`) becomes `********`.
pub fn mask(code: i32, line: &str) -> String {
    let line = line.trim_end_matches(['\r', '\n']);
    if code == PASSWORD_LINE {
        // `[time][LK-0318] <text>`: keep the prefix and 8 characters.
        let body = line.find("] ").map(|i| i + 2).unwrap_or(0);
        let keep: String = line[body..].chars().take(8).collect();
        return format!("{}{keep}********", &line[..body]);
    }
    let lower = line.to_ascii_lowercase();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        match secret_value_at(&lower, i) {
            Some((start, end)) => {
                out.push_str(&line[i..start]);
                out.push_str("********");
                i = end;
            }
            None => {
                let c = line[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// If a secret key starts at `i` in `lower`, the byte range of its value.
fn secret_value_at(lower: &str, i: usize) -> Option<(usize, usize)> {
    let rest = &lower[i..];
    let key = SECRET_KEYS.iter().find(|k| rest.starts_with(*k))?;
    // A whole word only: `sign` must not match inside `signmethod` or `design`.
    let before = lower[..i].chars().next_back();
    if before.is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let after = &rest[key.len()..];
    let sep = ["\":\"", "\":", "=", ":"]
        .iter()
        .find(|s| after.starts_with(*s))?;
    let start = i + key.len() + sep.len();
    let value = &lower[start..];
    let len = value
        .find(['"', '&', ',', '}', ' ', '\r', '\n', '|', ';'])
        .unwrap_or(value.len());
    (len > 0).then_some((start, start + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64) -> Line {
        Line {
            code: -1,
            utc_ms: n,
            text: format!("line {n}"),
        }
    }

    #[test]
    fn a_failed_batch_goes_back_in_front_in_order() {
        let mut queue: VecDeque<Line> = [line(3), line(4)].into_iter().collect();
        restore(&mut queue, vec![line(1), line(2)]);
        let order: Vec<u64> = queue.iter().map(|l| l.utc_ms).collect();
        assert_eq!(order, [1, 2, 3, 4]);
    }

    #[test]
    fn a_failed_batch_never_grows_the_queue_past_its_bound() {
        let mut queue: VecDeque<Line> = (10..10 + QUEUE_MAX as u64 - 1).map(line).collect();
        restore(&mut queue, vec![line(1), line(2), line(3)]);
        assert_eq!(queue.len(), QUEUE_MAX);
        // The newest of the batch is kept; its older lines go.
        assert_eq!(queue.front().map(|l| l.utc_ms), Some(3));
    }

    #[test]
    fn password_lines_keep_eight_characters() {
        assert_eq!(
            mask(-0x0318, "[12.345][LK-0318] 0123456789ABCDEF\r\n"),
            "[12.345][LK-0318] 01234567********"
        );
    }

    #[test]
    fn secret_values_are_hidden() {
        let line = r#"[1][LK-0001] {"deviceSecret":"s3cr3t","deviceName":"d","sign":"AB12"} password=xyz&k=v psk:abc"#;
        let m = mask(-1, line);
        assert!(
            !m.contains("s3cr3t") && !m.contains("AB12") && !m.contains("xyz") && !m.contains("abc"),
            "{m}"
        );
        assert!(m.contains("\"deviceName\":\"d\"") && m.contains("k=v"), "{m}");
        // Words that merely contain a key stay.
        assert_eq!(
            mask(-1, "signmethod=hmacsha256 design:x"),
            "signmethod=hmacsha256 design:x"
        );
    }
}
