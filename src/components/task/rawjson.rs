//! Locates a member's text inside JSON that serde_json has already accepted, so that a value
//! can be handed over exactly as the sender wrote it (upstream hands over raw text). Bounded
//! on any input all the same; keys are compared decoded and the last of duplicate keys wins,
//! as in serde_json's maps, so the text found is that of the value serde_json read.

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

/// Whether the JSON string `quoted` (with its quotes) is `key`. Escapes are decoded (a key
/// written `"job\u0044ocument"` is `jobDocument` to serde_json too).
fn key_is(quoted: &[u8], key: &str) -> bool {
    if quoted.contains(&b'\\') {
        return serde_json::from_slice::<String>(quoted).is_ok_and(|k| k == key);
    }
    quoted.len() >= 2 && &quoted[1..quoted.len() - 1] == key.as_bytes()
}

/// The text of the last top-level member `key` of the JSON object `json`.
pub fn member<'a>(json: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let mut found = None;
    let mut i = skip_blanks(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_blanks(json, i);
        if json.get(i) != Some(&b'"') {
            return found;
        }
        let key_end = string_end(json, i);
        let start = skip_blanks(json, skip_blanks(json, key_end) + 1);
        let end = value_end(json, start).min(json.len());
        if key_is(json.get(i..key_end).unwrap_or_default(), key) {
            found = json.get(start..end);
        }
        i = skip_blanks(json, end);
        if json.get(i) != Some(&b',') {
            return found;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::member;

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
        // Keys decoded, as serde_json reads them; an unterminated key matches nothing.
        let j = br#"{"a":1,"\u0061":2,"b\"":3,"\"}"#;
        assert_eq!(member(j, "a"), Some(&b"2"[..]));
        assert_eq!(member(j, "b\""), Some(&b"3"[..]));
        assert_eq!(member(br#"{"a"#, "a"), None);
    }
}
