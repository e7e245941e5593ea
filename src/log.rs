//! SDK log lines in upstream's format, delivered to the callback set by `aiot_state_set_logcb`.
//!
//! A line is `[<seconds>.<millis>][LK-XXXX] <text>`; payloads are dumped 16 bytes a line
//! without a timestamp. Nothing is formatted while no sink is set.

use std::sync::RwLock;

use crate::sysdep;

/// Receives each finished log line with its (negative) `STATE_*` code.
pub type Sink = Box<dyn Fn(i32, &str) + Send + Sync>;

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Code of the raw lines written by the port itself (`-0x0F00`).
pub const PORT_LOG_CODE: i32 = -0x0F00;

/// Upstream cuts prefix plus text at this many bytes.
const LINE_LIMIT: usize = 160;

/// Installs or removes the sink.
pub fn set_sink(sink: Option<Sink>) {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = sink;
}

/// Whether a sink is installed; callers skip building log text when not.
pub fn enabled() -> bool {
    SINK.read().map(|s| s.is_some()).unwrap_or(false)
}

fn emit(code: i32, text: &str) {
    if let Ok(guard) = SINK.read() {
        if let Some(sink) = guard.as_ref() {
            sink(code, text);
        }
    }
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

/// Logs `text` (which should end in `\r\n`) under `code` with the port's clock.
pub fn line(code: i32, text: &str) {
    if !enabled() {
        return;
    }
    let now = sysdep::active().map(|p| p.time_ms()).unwrap_or(0);
    emit(code, &format_line(now, code, text));
}

/// Passes a port line through unchanged (no prefix), as the POSIX port does.
pub fn raw(code: i32, text: &str) {
    if enabled() {
        emit(code, text);
    }
}

/// Length of a dump line, CRLF included.
const DUMP_LINE_LEN: usize = 81;
const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// One formatted dump line, on the stack: dumping a payload allocates nothing.
pub struct DumpLine([u8; DUMP_LINE_LEN]);

impl DumpLine {
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Formats one 16-byte (or shorter, last) dump line: `[LK-XXXX] <dir> `, 16 hex columns with
/// an extra space after the eighth, `| `, the printable column, CRLF.
pub fn dump_line(code: i32, dir: char, chunk: &[u8]) -> DumpLine {
    let mut b = [b' '; DUMP_LINE_LEN];
    let tag = (code.wrapping_neg() as u32) & 0xFFFF;
    b[..4].copy_from_slice(b"[LK-");
    for (i, shift) in [12, 8, 4, 0].into_iter().enumerate() {
        b[4 + i] = HEX_DIGITS[((tag >> shift) & 0xF) as usize];
    }
    b[8] = b']';
    b[10] = if dir.is_ascii_graphic() { dir as u8 } else { b'?' };
    let mut pos = 12;
    for i in 0..16 {
        if let Some(&v) = chunk.get(i) {
            b[pos] = HEX_DIGITS[usize::from(v >> 4)];
            b[pos + 1] = HEX_DIGITS[usize::from(v & 0xF)];
        }
        pos += if i == 7 { 4 } else { 3 };
    }
    b[pos] = b'|';
    pos += 2;
    for i in 0..16 {
        b[pos + i] = match chunk.get(i) {
            Some(&v) if (0x20..=0x7E).contains(&v) => v,
            Some(_) => b'.',
            None => b' ',
        };
    }
    b[DUMP_LINE_LEN - 2..].copy_from_slice(b"\r\n");
    DumpLine(b)
}

/// Dumps `data` as upstream does: a blank line, one line per 16 bytes, a blank line.
/// `dir` is `'>'` for outgoing and `'<'` for incoming bytes. Nothing for empty data.
pub fn hexdump(code: i32, dir: char, data: &[u8]) {
    if data.is_empty() || !enabled() {
        return;
    }
    emit(code, "\r\n");
    for chunk in data.chunks(16) {
        emit(code, dump_line(code, dir, chunk).as_str());
    }
    emit(code, "\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_prefix_matches_upstream() {
        assert_eq!(
            format_line(1579511737377, -0x0313, "MQTT connect success in 152 ms\r\n"),
            "[1579511737.377][LK-0313] MQTT connect success in 152 ms\r\n"
        );
        assert_eq!(format_line(377, -0x1000, "x"), "[377][LK-1000] x");
    }

    #[test]
    fn long_line_is_cut_at_160_bytes_and_ended() {
        let text = "a".repeat(300);
        let line = format_line(1_000, -0x0319, &text);
        assert_eq!(line.len(), 162);
        assert!(line.ends_with("\r\n"));
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
