//! Raw JSON spans: the top-level members of a JSON object located in its text, so that a value
//! is handed over exactly as the sender wrote it (upstream hands over raw text), without
//! serde_json's `raw_value` feature (about 27 KB of the library). serde_json checks the text
//! first, each component as its contract says ([`object`] here, or its own `from_slice`); the
//! scan below then only locates what is known to be there. It is bounded on any input all the
//! same, and iterative (no depth limit of its own).

fn skip_blanks(json: &[u8], mut i: usize) -> usize {
    while matches!(json.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index after the string that starts (with its quote) at `i`.
fn string_end(json: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while let Some(&b) = json.get(j) {
        match b {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    json.len()
}

/// The index after the value that starts at `i`.
fn value_end(json: &[u8], i: usize) -> usize {
    match json.get(i) {
        Some(b'"') => string_end(json, i),
        Some(b'{' | b'[') => {
            let (mut j, mut depth) = (i, 0usize);
            while let Some(&b) = json.get(j) {
                match b {
                    b'"' => {
                        j = string_end(json, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            json.len()
        }
        _ => {
            let mut j = i;
            while json
                .get(j)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                j += 1;
            }
            j
        }
    }
}

/// One top-level member: its key as written, with its quotes, and its value's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// The top-level members of a JSON object, in the order written (none when `json` does not
/// start with `{`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members<'a>(pub Vec<Member<'a>>);

/// Locates the top-level members of the JSON object `json`.
pub fn members(json: &[u8]) -> Members<'_> {
    let mut out = Vec::new();
    let mut i = skip_blanks(json, 0);
    if json.get(i) != Some(&b'{') {
        return Members(out);
    }
    i += 1;
    loop {
        i = skip_blanks(json, i);
        if json.get(i) != Some(&b'"') {
            return Members(out);
        }
        let key_end = string_end(json, i);
        let key = json.get(i..key_end).unwrap_or_default();
        let start = skip_blanks(json, skip_blanks(json, key_end) + 1);
        let end = value_end(json, start).min(json.len());
        out.push(Member {
            key,
            value: json.get(start..end).unwrap_or_default(),
        });
        i = skip_blanks(json, end);
        if json.get(i) != Some(&b',') {
            return Members(out);
        }
        i += 1;
    }
}

impl<'a> Members<'a> {
    /// The value of the last member whose key reads `key` once its escapes are decoded, as
    /// serde_json's maps key members (for text [`object`] has checked).
    pub fn get(&self, key: &str) -> Option<&'a [u8]> {
        self.0.iter().rev().find(|m| reads(m.key, key)).map(|m| m.value)
    }

    /// The value of the last member whose key is written `key` (escapes not decoded).
    pub fn written(&self, key: &str) -> Option<&'a [u8]> {
        let key = key.as_bytes();
        self.0
            .iter()
            .rev()
            .find(|m| m.key.get(1..m.key.len().saturating_sub(1)) == Some(key))
            .map(|m| m.value)
    }
}

/// Whether the key `written` (with its quotes) reads `key` (`"job\u0044ocument"` reads
/// `jobDocument` to serde_json too; an unterminated key reads nothing).
fn reads(written: &[u8], key: &str) -> bool {
    if written.contains(&b'\\') {
        serde_json::from_slice::<String>(written).is_ok_and(|k| k == key)
    } else {
        written.get(1..written.len().saturating_sub(1)) == Some(key.as_bytes())
    }
}

/// The text of the last top-level member of the JSON object `json` whose key reads `key`, so
/// that the text found is that of the value serde_json read ([`Members::get`]).
pub fn member<'a>(json: &'a [u8], key: &str) -> Option<&'a [u8]> {
    members(json).get(key)
}

/// A value's text as upstream hands it over: a string without its quotes (escapes as
/// written), anything else as written.
pub fn unquoted(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

/// A non-negative integer in decimal digits: the text of a JSON number, or of a string without
/// its quotes ([`unquoted`]); `None` for anything else, or one too large for `T`.
pub fn digits<T: std::str::FromStr>(text: &[u8]) -> Option<T> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Checks that `json` is one JSON object the way serde_json reads it into a map of borrowed
/// `RawValue`s (the errors it gives, their order and positions; any nesting depth; UTF-8
/// throughout), and locates its members.
#[cfg(any(feature = "shadow", feature = "devinfo"))]
pub fn object(json: &[u8]) -> Result<Members<'_>, serde_json::Error> {
    use serde::de::{Error as _, IgnoredAny};
    // Skipped values are checked as a raw value's are, but for their UTF-8.
    let checked = serde_json::from_slice::<std::collections::BTreeMap<String, IgnoredAny>>(json);
    let found = members(json);
    if std::str::from_utf8(json).is_err() {
        // A raw value fails once it has been read whole (unless the text failed before), and
        // names the byte after its first one that is not UTF-8.
        let bad = found
            .0
            .iter()
            .find_map(|m| Some((m, std::str::from_utf8(m.value).err()?)));
        if let Some((m, utf8)) = bad {
            let start = m.value.as_ptr() as usize - json.as_ptr() as usize;
            let read = position(json, start + m.value.len());
            let whole = serde_json::from_slice::<IgnoredAny>(m.value).is_ok();
            if whole
                && checked
                    .as_ref()
                    .err()
                    .is_none_or(|e| read <= (e.line(), e.column()))
            {
                let (line, column) = position(json, start + utf8.valid_up_to() + 1);
                return Err(serde_json::Error::custom(format_args!(
                    "invalid unicode code point at line {line} column {column}"
                )));
            }
        }
    }
    checked.map(|_| found)
}

/// Line and column of byte `i` as serde_json counts them in its errors.
#[cfg(any(feature = "shadow", feature = "devinfo"))]
fn position(json: &[u8], i: usize) -> (usize, usize) {
    let head = &json[..i];
    let line_start = head.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let lines = head[..line_start].iter().filter(|&&b| b == b'\n').count();
    (1 + lines, i - line_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_as_written() {
        let j = br#" { "a" : {"x": [1, "}"]} , "b":"s\"}", "c":12 ,"a":[ ] } "#;
        assert_eq!(member(j, "a"), Some(&b"[ ]"[..]));
        assert_eq!(member(j, "b"), Some(&br#""s\"}""#[..]));
        assert_eq!(member(j, "c"), Some(&b"12"[..]));
        assert_eq!(member(j, "x"), None);
        assert_eq!(member(b"[1]", "a"), None);
        assert_eq!(member(b"{\"a\":{{{{", "a"), Some(&b"{{{{"[..]));
        assert_eq!(member(b"", "a"), None);
        assert_eq!(members(j).0.len(), 4);
        // Keys decoded, as serde_json reads them; an unterminated key matches nothing.
        let k = br#"{"a":1,"\u0061":2,"b\"":3,"\"}"#;
        assert_eq!(member(k, "a"), Some(&b"2"[..]));
        assert_eq!(members(k).written("a"), Some(&b"1"[..]));
        assert_eq!(member(k, "b\""), Some(&b"3"[..]));
        assert_eq!(member(br#"{"a"#, "a"), None);
        assert_eq!(members(j).0[1].key, br#""b""#);
    }

    #[test]
    fn unquoted_and_digits() {
        assert_eq!(unquoted(br#""a\"b""#), br#"a\"b"#);
        assert_eq!(unquoted(b"[1]"), b"[1]");
        assert_eq!(digits::<u32>(b"4294967295"), Some(u32::MAX));
        assert_eq!(digits::<u32>(b"4294967296"), None);
        assert_eq!(digits::<u64>(b""), None);
        assert_eq!(digits::<u64>(b"-1"), None);
        assert_eq!(digits::<u64>(b"1.5"), None);
    }

    #[cfg(any(feature = "shadow", feature = "devinfo"))]
    #[test]
    fn objects_read_as_serde_json_reads_them() {
        let j = br#"{"a":1, "\u0062":"x", "a":{"b":[2]}}"#;
        let m = object(j).unwrap();
        assert_eq!(m.get("a"), Some(&br#"{"b":[2]}"#[..]));
        assert_eq!(m.get("b"), Some(&br#""x""#[..]));
        assert_eq!(m.written("b"), None);
        assert_eq!(m.get("c"), None);
        // Errors are serde_json's, as a map of raw values gives them.
        let e = |j: &[u8]| object(j).unwrap_err().to_string();
        assert_eq!(
            e(b"[1]"),
            "invalid type: sequence, expected a map at line 1 column 0"
        );
        assert_eq!(e(b"{\"a\":1} x"), "trailing characters at line 1 column 9");
        assert_eq!(
            e(b"{\"a\":\"\xff\"}"),
            "invalid unicode code point at line 1 column 7"
        );
        assert_eq!(
            e(b"{\"a\":\n[\"\xff\"],\"b\":}"),
            "invalid unicode code point at line 2 column 3"
        );
        assert_eq!(
            e(b"{\"a\":[\"\xff\" 1]}"),
            "expected `,` or `]` at line 1 column 11"
        );
        assert_eq!(
            e(b"{\"\xff\":1}"),
            "invalid unicode code point at line 1 column 3"
        );
        assert_eq!(e(b"{\"a\":1\xff}"), "expected `,` or `}` at line 1 column 7");
        assert_eq!(
            e(b"{\"a\":{\"\xff\":1}"),
            "invalid unicode code point at line 1 column 8"
        );
        // Any depth.
        let deep = format!(r#"{{"a":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            object(deep.as_bytes()).unwrap().get("a").map(<[u8]>::len),
            Some(200_000)
        );
    }
}
