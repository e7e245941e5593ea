//! Topic filter validation and matching, as upstream does them: on bytes (topics need not
//! be UTF-8).

use crate::error::{Error, Result};

/// Validates a subscription / topic-map filter (upstream 4.2 rules).
///
/// With `header_check` the first character must be `/` or `$`. A `+` must follow `/` and be
/// followed by `/` or the end; a `#` must follow `/` and be last.
pub fn filter_is_valid(filter: &[u8], header_check: bool) -> bool {
    let b = filter;
    if b.is_empty() {
        return false;
    }
    if header_check && b[0] != b'/' && b[0] != b'$' {
        return false;
    }
    for i in 1..b.len() {
        match b[i] {
            b'+' if b[i - 1] != b'/' || (i + 1 < b.len() && b[i + 1] != b'/') => return false,
            b'#' if b[i - 1] != b'/' || i + 1 != b.len() => return false,
            _ => {}
        }
    }
    true
}

/// Whether `topic` matches `filter`: `+` matches one (possibly empty) level, `#` the rest,
/// and a trailing `/#` also matches the parent (`/a/#` matches `/a`).
pub fn matches(filter: &[u8], topic: &[u8]) -> bool {
    let mut f = filter.split(|&c| c == b'/');
    let mut t = topic.split(|&c| c == b'/');
    loop {
        match (f.next(), t.next()) {
            (Some(b"#"), _) => return true,
            (Some(b"+"), Some(_)) => {}
            (Some(fl), Some(tl)) => {
                if fl != tl {
                    return false;
                }
            }
            (None, None) => return true,
            // The parent matches a trailing `/#`.
            (Some(_), None) => return matches_parent(filter, topic),
            (None, Some(_)) => return false,
        }
    }
}

fn matches_parent(filter: &[u8], topic: &[u8]) -> bool {
    filter
        .strip_suffix(b"/#")
        .map(|parent| matches(parent, topic))
        .unwrap_or(false)
}

/// Longest topic or filter accepted (bytes, as upstream counts them).
pub const MAX_TOPIC_LEN: usize = 128;

/// Checks a filter's length and form (`TopicTooLong`, `TopicInvalid`).
pub fn check_filter(filter: &[u8], header_check: bool) -> Result<()> {
    if filter.len() >= MAX_TOPIC_LEN {
        return Err(Error::TopicTooLong);
    }
    if filter_is_valid(filter, header_check) {
        Ok(())
    } else {
        Err(Error::TopicInvalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(filter_is_valid(b"/a/b", true));
        assert!(filter_is_valid(b"$SYS/x", true));
        assert!(filter_is_valid(b"/a/+/c", true));
        assert!(filter_is_valid(b"/a/+", true));
        assert!(filter_is_valid(b"/a/#", true));
        assert!(!filter_is_valid(b"a/b", true));
        assert!(filter_is_valid(b"a/b", false));
        assert!(!filter_is_valid(b"/a/b+", true));
        assert!(!filter_is_valid(b"/a/+b", true));
        assert!(!filter_is_valid(b"/a/b#", true));
        assert!(!filter_is_valid(b"/a/#/c", true));
        assert!(!filter_is_valid(b"", true));
    }

    #[test]
    fn matching() {
        assert!(matches(b"/a/b", b"/a/b"));
        assert!(!matches(b"/a/b", b"/a/c"));
        assert!(!matches(b"/a/b", b"/a/b/c"));
        assert!(matches(b"/a/+/c", b"/a/x/c"));
        assert!(matches(b"/a/+/c", b"/a//c"));
        assert!(!matches(b"/a/+", b"/a/x/c"));
        assert!(matches(b"/a/#", b"/a/x/c"));
        assert!(matches(b"/a/#", b"/a"));
        assert!(matches(b"/a/#", b"/a/"));
        assert!(!matches(b"/a/#", b"/b"));
        assert!(matches(b"/#", b"/anything/at/all"));
        assert!(matches(b"/a/+/#", b"/a/x"));
        assert!(matches(b"/a/\xb2\xe2", b"/a/\xb2\xe2"));
        assert!(!matches(b"/a/\xb2\xe2", b"/a/\xef\xbf\xbd"));
    }
}
