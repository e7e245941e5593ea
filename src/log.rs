//! SDK log lines in upstream's format, delivered to the callback set by `aiot_state_set_logcb`.
//!
//! A line is `[<seconds>.<millis>][LK-XXXX] <text>`; payloads are dumped 16 bytes a line
//! without a timestamp. Nothing is formatted while no sink is set.
//!
//! The timestamp is the port's clock until NTP rebases the log clock ([`set_clock`], upstream's
//! `core_log_set_timestamp`): from then on, while the time NTP gave is ahead of the port's
//! clock (a port counting from boot, or one set wrong), lines carry that time plus the port
//! time elapsed since. [`clock_ms`] reads the log clock.
//!
//! Lines reach the sink NUL-terminated, ready for the C callback: a download dumps every body
//! byte (upstream does too), 4 million lines for 64 MiB, so a dump line costs one format on the
//! stack and one call, nothing else.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::sysdep;

/// Receives each finished log line with its (negative) `STATE_*` code. The line is the text's
/// bytes then one NUL, its last byte (NULs in the text are dropped).
pub type Sink = Arc<dyn Fn(i32, &mut [u8]) + Send + Sync>;

static SINK: RwLock<Option<Sink>> = RwLock::new(None);
/// Mirrors `SINK.is_some()` for the cheap check before any formatting.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// An internal second consumer of ordinary lines (not dumps, not port lines): the logpost
/// component, which uploads the SDK's own lines while the cloud asks for them. It gets the
/// code and the finished line; it must only copy it (it runs wherever the line is logged,
/// possibly under a library lock).
pub type Tap = Arc<dyn Fn(i32, &[u8]) + Send + Sync>;

static TAP: RwLock<Option<Tap>> = RwLock::new(None);
/// Mirrors `TAP.is_some()`.
static TAPPED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while this thread runs [`untapped`]: its lines skip the tap.
    static MUTED: Cell<bool> = const { Cell::new(false) };
}

/// Code of the raw lines written by the port itself (`-0x0F00`).
pub const PORT_LOG_CODE: i32 = -0x0F00;

/// Upstream cuts prefix plus text at this many bytes.
const LINE_LIMIT: usize = 160;

/// Installs or removes the sink.
pub fn set_sink(sink: Option<Sink>) {
    let mut slot = SINK.write().unwrap_or_else(|e| e.into_inner());
    ENABLED.store(sink.is_some(), Ordering::Relaxed);
    *slot = sink;
}

/// Whether a sink or the tap is installed; callers skip building log text when not.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed) || TAPPED.load(Ordering::Relaxed)
}

/// The sink, taken out of the lock: a callback may set another sink without deadlocking.
fn sink() -> Option<Sink> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    SINK.read().ok()?.clone()
}

/// Installs or removes the tap (see [`Tap`]).
pub fn set_tap(tap: Option<Tap>) {
    let mut slot = TAP.write().unwrap_or_else(|e| e.into_inner());
    TAPPED.store(tap.is_some(), Ordering::Relaxed);
    *slot = tap;
}

/// Runs `f` with this thread's lines kept from the tap (the tap's owner uses it while it
/// publishes, so its own publish logs are not uploaded in turn).
pub fn untapped<R>(f: impl FnOnce() -> R) -> R {
    let was = MUTED.with(|m| m.replace(true));
    let r = f();
    MUTED.with(|m| m.set(was));
    r
}

fn tap(code: i32, line: &[u8]) {
    if !TAPPED.load(Ordering::Relaxed) || MUTED.with(|m| m.get()) {
        return;
    }
    let tap = TAP.read().ok().and_then(|t| t.clone());
    if let Some(tap) = tap {
        tap(code, line);
    }
}

/// The log clock after an NTP answer: `utc` at port time `start`, plus `elapsed` port time
/// counted up to `start` (moved on each read, so a port clock that steps back loses nothing
/// already counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rebase {
    utc: u64,
    start: u64,
    elapsed: u64,
}

static REBASE: Mutex<Option<Rebase>> = Mutex::new(None);
/// Mirrors `REBASE.is_some()`: until NTP answers, a line reads the port's clock only.
static REBASED: AtomicBool = AtomicBool::new(false);

fn port_time() -> u64 {
    sysdep::active().map(|p| p.time_ms()).unwrap_or(0)
}

/// Rebases the log clock on `utc_ms`, the time now (NTP's answer).
pub fn set_clock(utc_ms: u64) {
    let now = port_time();
    *REBASE.lock().unwrap_or_else(|e| e.into_inner()) = Some(Rebase {
        utc: utc_ms,
        start: now,
        elapsed: 0,
    });
    REBASED.store(true, Ordering::Relaxed);
}

/// The log clock in ms: the port's clock, or the rebased one while that is ahead of it
/// (upstream's `core_log_get_timestamp`).
pub fn clock_ms() -> u64 {
    let now = port_time();
    if !REBASED.load(Ordering::Relaxed) {
        return now;
    }
    clock_at(&mut REBASE.lock().unwrap_or_else(|e| e.into_inner()), now)
}

/// The log clock at port time `now`, moving the rebase's count on.
fn clock_at(rebase: &mut Option<Rebase>, now: u64) -> u64 {
    match rebase {
        Some(r) if r.utc > now => {
            r.elapsed = r.elapsed.saturating_add(now.saturating_sub(r.start));
            r.start = now;
            r.utc.saturating_add(r.elapsed)
        }
        _ => now,
    }
}

/// Longest line (with its NUL) built on the stack; every line the core makes fits (lines are
/// cut at 162 bytes, port lines at 199), so logging allocates nothing.
const STACK_LINE: usize = 512;

fn emit(code: i32, text: &str) {
    emit_bytes(code, text.as_bytes());
}

fn emit_bytes(code: i32, text: &[u8]) {
    let Some(sink) = sink() else {
        return;
    };
    let mut stack = [0u8; STACK_LINE];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if text.len() < STACK_LINE {
        &mut stack
    } else {
        heap.resize(text.len() + 1, 0);
        &mut heap
    };
    let mut n = 0;
    for part in text.split(|&b| b == 0) {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    buf[n] = 0;
    sink(code, &mut buf[..=n]);
}

/// `[1579511737.377]`: port time in ms with a dot before the last three digits.
fn timestamp(ms: u64) -> String {
    if ms < 1000 {
        format!("[{ms}]")
    } else {
        format!("[{}.{:03}]", ms / 1000, ms % 1000)
    }
}

/// `LK-XXXX`: the low 16 bits of `-code` in upper-case hex.
fn tag(code: i32) -> String {
    format!("LK-{:04X}", (code.wrapping_neg() as u32) & 0xFFFF)
}

/// Formats one ordinary line as upstream does (without emitting it).
pub fn format_line(now_ms: u64, code: i32, text: &str) -> String {
    let mut line = format!("{}[{}] {}", timestamp(now_ms), tag(code), text);
    if line.len() >= LINE_LIMIT {
        // Cut at 160 bytes (on a char boundary, unlike upstream) and end the line.
        let mut cut = LINE_LIMIT;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push_str("\r\n");
    }
    line
}

/// Logs `text` (which should end in `\r\n`) under `code`, stamped with the log clock.
pub fn line(code: i32, text: &str) {
    if !enabled() {
        return;
    }
    let line = format_line(clock_ms(), code, text);
    tap(code, line.as_bytes());
    emit(code, &line);
}

/// Logs a line made of `parts` (the last should end in `\r\n`) whose bytes reach the callback
/// unchanged, as upstream's `%s` passes them: a topic in GBK or any other encoding is shown as
/// it is, never rewritten. Cut at 160 bytes like [`line`].
pub fn line_bytes(code: i32, parts: &[&[u8]]) {
    if !enabled() {
        return;
    }
    let line = format_line_bytes(clock_ms(), code, parts);
    tap(code, &line);
    emit_bytes(code, &line);
}

/// Formats a line of raw bytes as [`line_bytes`] does (without emitting it).
pub fn format_line_bytes(now_ms: u64, code: i32, parts: &[&[u8]]) -> Vec<u8> {
    let mut line = format!("{}[{}] ", timestamp(now_ms), tag(code)).into_bytes();
    for part in parts {
        line.extend_from_slice(part);
    }
    if line.len() >= LINE_LIMIT {
        line.truncate(LINE_LIMIT);
        line.extend_from_slice(b"\r\n");
    }
    line
}

/// Passes a port line through unchanged (no prefix), as the POSIX port does.
pub fn raw(code: i32, text: &str) {
    if ENABLED.load(Ordering::Relaxed) {
        emit(code, text);
    }
}

/// Length of a dump line, CRLF included (the NUL after it is not counted).
const DUMP_LINE_LEN: usize = 81;
const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";
/// Where the hex columns, the `|` and the printable column of a dump line start.
const HEX_AT: usize = 12;
const BAR_AT: usize = HEX_AT + 16 * 3 + 1;
const TEXT_AT: usize = BAR_AT + 2;

/// Upper-case hex of every byte value, two digits each.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut v = 0;
    while v < 256 {
        t[v] = [HEX_DIGITS[v >> 4], HEX_DIGITS[v & 0xF]];
        v += 1;
    }
    t
};

/// One formatted dump line and its NUL, on the stack: dumping a payload allocates nothing.
pub struct DumpLine([u8; DUMP_LINE_LEN + 1]);

impl DumpLine {
    /// A blank line carrying the `[LK-XXXX] <dir> ` prefix.
    fn new(code: i32, dir: char) -> DumpLine {
        let mut b = [b' '; DUMP_LINE_LEN + 1];
        let tag = (code.wrapping_neg() as u32) & 0xFFFF;
        b[..4].copy_from_slice(b"[LK-");
        for (i, shift) in [12, 8, 4, 0].into_iter().enumerate() {
            b[4 + i] = HEX_DIGITS[((tag >> shift) & 0xF) as usize];
        }
        b[8] = b']';
        b[10] = if dir.is_ascii_graphic() { dir as u8 } else { b'?' };
        DumpLine(b)
    }

    /// Writes everything after the prefix for `chunk` (its first 16 bytes): hex columns with an
    /// extra space after the eighth, `| `, the printable column (others as `.`), CRLF, NUL.
    /// Every byte after the prefix is written, so the line is right even if the callback
    /// scribbled on the last one.
    fn fill(&mut self, chunk: &[u8]) {
        let b = &mut self.0;
        for i in 0..16 {
            let at = HEX_AT + 3 * i + usize::from(i >= 8);
            let (pair, text) = match chunk.get(i) {
                Some(&v) => (
                    HEX_PAIRS[usize::from(v)],
                    if v.wrapping_sub(0x20) < 0x5F { v } else { b'.' },
                ),
                None => ([b' '; 2], b' '),
            };
            b[at] = pair[0];
            b[at + 1] = pair[1];
            b[at + 2] = b' ';
            b[TEXT_AT + i] = text;
        }
        b[HEX_AT + 24] = b' ';
        b[BAR_AT] = b'|';
        b[BAR_AT + 1] = b' ';
        b[DUMP_LINE_LEN - 2] = b'\r';
        b[DUMP_LINE_LEN - 1] = b'\n';
        b[DUMP_LINE_LEN] = 0;
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.0[..DUMP_LINE_LEN]).unwrap_or_default()
    }
}

/// Formats one 16-byte (or shorter, last) dump line: `[LK-XXXX] <dir> `, 16 hex columns with
/// an extra space after the eighth, `| `, the printable column, CRLF.
pub fn dump_line(code: i32, dir: char, chunk: &[u8]) -> DumpLine {
    let mut line = DumpLine::new(code, dir);
    line.fill(chunk);
    line
}

/// Dumps `data` as upstream does: a blank line, one line per 16 bytes, a blank line.
/// `dir` is `'>'` for outgoing and `'<'` for incoming bytes. Nothing for empty data.
pub fn hexdump(code: i32, dir: char, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    if let Some(sink) = sink() {
        dump_to(&*sink, code, dir, data);
    }
}

fn dump_to(sink: &dyn Fn(i32, &mut [u8]), code: i32, dir: char, data: &[u8]) {
    sink(code, &mut [b'\r', b'\n', 0]);
    let fresh = DumpLine::new(code, dir);
    let mut line = DumpLine(fresh.0);
    for chunk in data.chunks(16) {
        line.0[..HEX_AT].copy_from_slice(&fresh.0[..HEX_AT]);
        line.fill(chunk);
        sink(code, &mut line.0);
    }
    sink(code, &mut [b'\r', b'\n', 0]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tap_gets_ordinary_lines_except_untapped_ones() {
        let got: Arc<Mutex<Vec<(i32, String)>>> = Arc::default();
        let sink = got.clone();
        set_tap(Some(Arc::new(move |code: i32, line: &[u8]| {
            let text = String::from_utf8_lossy(line).into_owned();
            if text.contains("tap-test-") {
                sink.lock().unwrap().push((code, text));
            }
        })));
        line(-0x0309, "tap-test-1\r\n");
        untapped(|| line(-0x0309, "tap-test-2\r\n"));
        line_bytes(-0x0309, &[b"tap-test-", b"3\r\n"]);
        hexdump(-0x030A, '>', b"tap-test-4");
        set_tap(None);
        line(-0x0309, "tap-test-5\r\n");
        let got = got.lock().unwrap();
        let texts: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(got.len(), 2, "{texts:?}");
        assert!(texts[0].ends_with("[LK-0309] tap-test-1\r\n") && texts[1].ends_with("tap-test-3\r\n"));
        assert_eq!(got[0].0, -0x0309);
    }

    #[test]
    fn rebased_clock_runs_on_while_ahead_of_the_port_clock() {
        let mut r = None;
        assert_eq!(clock_at(&mut r, 500), 500, "not rebased: the port's clock");
        // A port counting from boot: NTP says 2036 at port time 1000.
        r = Some(Rebase {
            utc: 2_087_940_600_000,
            start: 1_000,
            elapsed: 0,
        });
        assert_eq!(clock_at(&mut r, 1_000), 2_087_940_600_000);
        assert_eq!(clock_at(&mut r, 4_500), 2_087_940_603_500);
        // The port clock steps back: the time already counted stays.
        assert_eq!(clock_at(&mut r, 4_000), 2_087_940_603_500);
        assert_eq!(clock_at(&mut r, 4_100), 2_087_940_603_600);
        // Once the port clock passes the NTP time (the system clock was set), it wins.
        assert_eq!(clock_at(&mut r, 2_087_940_600_001), 2_087_940_600_001);
        // An NTP time behind the port's clock is never used.
        let mut behind = Some(Rebase {
            utc: 1_000,
            start: 5_000,
            elapsed: 0,
        });
        assert_eq!(clock_at(&mut behind, 5_000), 5_000);
    }

    #[test]
    fn line_prefix_matches_upstream() {
        assert_eq!(
            format_line(1579511737377, -0x0313, "MQTT connect success in 152 ms\r\n"),
            "[1579511737.377][LK-0313] MQTT connect success in 152 ms\r\n"
        );
        assert_eq!(format_line(377, -0x1000, "x"), "[377][LK-1000] x");
    }

    #[test]
    fn byte_lines_keep_their_bytes() {
        let gbk: &[u8] = b"/pk/dn/user/\xb2\xe2\xca\xd4";
        let line = format_line_bytes(1_579_511_737_377, -0x0309, &[b"pub: ", gbk, b"\r\n"]);
        let mut want = b"[1579511737.377][LK-0309] pub: ".to_vec();
        want.extend_from_slice(gbk);
        want.extend_from_slice(b"\r\n");
        assert_eq!(line, want);
        let long = format_line_bytes(0, -0x0309, &[&[0xB2; 300]]);
        assert_eq!(long.len(), LINE_LIMIT + 2);
        assert!(long.ends_with(b"\xb2\r\n"));
    }

    #[test]
    fn long_line_is_cut_at_160_bytes_and_ended() {
        let text = "a".repeat(300);
        let line = format_line(1_000, -0x0319, &text);
        assert_eq!(line.len(), 162);
        assert!(line.ends_with("\r\n"));
    }

    #[test]
    fn dump_lines_stay_right_when_the_callback_writes_into_them() {
        let data: Vec<u8> = (0u8..40).map(|i| b'a' + i % 26).collect();
        let lines = std::cell::RefCell::new(Vec::new());
        let sink = |code: i32, line: &mut [u8]| {
            assert_eq!(code, -0x040E);
            assert_eq!(line.last(), Some(&0), "NUL-terminated");
            lines
                .borrow_mut()
                .push(String::from_utf8(line[..line.len() - 1].to_vec()).unwrap());
            line.fill(b'#');
            *line.last_mut().unwrap() = 0;
        };
        dump_to(&sink, -0x040E, '<', &data);
        let lines = lines.into_inner();
        let expect: Vec<String> = std::iter::once("\r\n".to_owned())
            .chain(
                data.chunks(16)
                    .map(|c| dump_line(-0x040E, '<', c).as_str().to_owned()),
            )
            .chain(std::iter::once("\r\n".to_owned()))
            .collect();
        assert_eq!(lines, expect);
        assert_eq!(
            lines[3],
            "[LK-040E] < 67 68 69 6A 6B 6C 6D 6E                          | ghijklmn        \r\n"
        );
    }

    #[test]
    fn dump_line_layout_matches_seed() {
        let line = dump_line(-0x030A, '>', b"{\"id\":0, \"params");
        let line = line.as_str();
        assert_eq!(
            line,
            "[LK-030A] > 7B 22 69 64 22 3A 30 2C  20 22 70 61 72 61 6D 73 | {\"id\":0, \"params\r\n"
        );
        assert_eq!(line.len(), 81);
        let short = dump_line(-0x030A, '>', b"0.0\"}}");
        let short = short.as_str();
        assert_eq!(
            short,
            "[LK-030A] > 30 2E 30 22 7D 7D                                | 0.0\"}}          \r\n"
        );
        assert_eq!(short.len(), 81);
        let binary = dump_line(-0x040E, '<', &[0x00, 0x7F, 0x80, 0xFF, b' ']);
        assert_eq!(
            binary.as_str(),
            "[LK-040E] < 00 7F 80 FF 20                                   | ....            \r\n"
        );
    }
}
