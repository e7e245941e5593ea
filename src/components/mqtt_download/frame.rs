//! The wire format of the block protocol, one owner: the request payload the device publishes
//! on `/sys/{pk}/{dn}/thing/file/download` and the binary reply it gets on `.../download_reply`:
//! `[header length, u16 big-endian][JSON header][block data][CRC-16/ARC of the data, u16 little-endian]`.

use serde_json::Value;

/// The most bytes of a reply's `fileToken` handed to the receive handler (upstream's buffer is
/// 128 bytes with its NUL; a longer token is cut, never written past the buffer).
pub const TOKEN_MAX: usize = 127;

/// CRC-16/ARC (reflected polynomial 0x8005, initial value 0, no final xor).
pub fn crc16_arc(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// The request for `size` bytes at `offset`, exactly as upstream writes it (the comma after
/// `fileId` included: the platform parses it leniently).
pub fn request_payload(id: u32, stream_id: u32, file_id: u32, size: u32, offset: u32) -> String {
    format!(
        "{{\"id\":\"{id}\",\"version\":\"1.0\",\"params\":{{\"fileToken\":\"default\",\"fileInfo\":{{\"streamId\":{stream_id},\"fileId\":{file_id},}},\"fileBlock\":{{\"size\":{size},\"offset\":{offset}}}}}}}"
    )
}

/// A reply that passed the frame checks (length, header, CRC).
#[derive(Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// `fileToken`, cut to [`TOKEN_MAX`] bytes; empty when absent.
    pub token: String,
    pub offset: u32,
    pub file_length: u32,
    pub data: &'a [u8],
}

/// Why a reply frame was refused. [`FrameError::log_text`] is the line logged for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer than 2 bytes: no header length.
    Short(usize),
    /// The header length runs past the end of the reply.
    HeaderPastEnd {
        header: usize,
        total: usize,
    },
    /// `code` missing, not a number or not 200 (the value read, 0 when none).
    Code(u32),
    Data,
    BlockSize,
    BlockOffset,
    FileLength,
    /// The reply's length is not 2 + header + `bSize` + 2.
    Length,
    /// The CRC of the data is not the one sent.
    Crc {
        sent: u16,
        computed: u16,
    },
}

impl FrameError {
    /// The log line (upstream's text where upstream logs the case).
    pub fn log_text(&self) -> String {
        match self {
            FrameError::Short(n) => format!("reply of {n} bytes has no header length\r\n"),
            FrameError::HeaderPastEnd { header, total } => {
                format!("reply header length {header} runs past the reply of {total} bytes\r\n")
            }
            FrameError::Code(code) => format!("recv handle parse err code {code}\r\n"),
            FrameError::Data => "json parse error data\r\n".into(),
            FrameError::BlockSize => "json parse error bSize\r\n".into(),
            // Upstream logs the fileLength failure with the bOffset text.
            FrameError::BlockOffset | FrameError::FileLength => "json parse error bOffset\r\n".into(),
            FrameError::Length => "payload lenth dismatch data lenth\r\n".into(),
            FrameError::Crc { sent, computed } => {
                format!("block crc mismatch: sent 0x{sent:04X}, computed 0x{computed:04X}\r\n")
            }
        }
    }
}

/// An unsigned 32-bit value written as a JSON number or as a string of digits.
fn uint(v: Option<&Value>) -> Option<u32> {
    match v? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    }
}

/// Splits and checks a reply frame. The data borrows `payload`.
pub fn parse_reply(payload: &[u8]) -> Result<Reply<'_>, FrameError> {
    let total = payload.len();
    if total < 2 {
        return Err(FrameError::Short(total));
    }
    let header_len = usize::from(u16::from_be_bytes([payload[0], payload[1]]));
    let Some(header) = payload.get(2..2 + header_len) else {
        return Err(FrameError::HeaderPastEnd {
            header: header_len,
            total,
        });
    };
    let json: Value = serde_json::from_slice(header).unwrap_or(Value::Null);
    let code = uint(json.get("code"));
    if code != Some(200) {
        return Err(FrameError::Code(code.unwrap_or(0)));
    }
    let data = match json.get("data") {
        Some(d @ Value::Object(_)) => d,
        _ => return Err(FrameError::Data),
    };
    let size = uint(data.get("bSize")).ok_or(FrameError::BlockSize)?;
    let offset = uint(data.get("bOffset")).ok_or(FrameError::BlockOffset)?;
    let file_length = uint(data.get("fileLength")).ok_or(FrameError::FileLength)?;
    let token = cut_token(data.get("fileToken").and_then(Value::as_str).unwrap_or(""));
    if (total as u64) != 2 + header_len as u64 + u64::from(size) + 2 {
        return Err(FrameError::Length);
    }
    let body = &payload[2 + header_len..];
    let (data, crc) = body.split_at(body.len() - 2);
    let sent = u16::from_le_bytes([crc[0], crc[1]]);
    let computed = crc16_arc(data);
    if sent != computed {
        return Err(FrameError::Crc { sent, computed });
    }
    Ok(Reply {
        token,
        offset,
        file_length,
        data,
    })
}

/// `text` cut to at most [`TOKEN_MAX`] bytes, on a character boundary.
fn cut_token(text: &str) -> String {
    let mut end = text.len().min(TOKEN_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
