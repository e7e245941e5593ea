//! Topic filter validation and matching, as upstream does them.

/// Validates a subscription / topic-map filter (upstream 4.2 rules).
///
/// With `header_check` the first character must be `/` or `$`. A `+` must follow `/` and be
/// followed by `/` or the end; a `#` must follow `/` and be last.
pub fn filter_is_valid(filter: &str, header_check: bool) -> bool {
    let b = filter.as_bytes();
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
pub fn matches(filter: &str, topic: &[u8]) -> bool {
    let mut f = filter.as_bytes().split(|&c| c == b'/');
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

fn matches_parent(filter: &str, topic: &[u8]) -> bool {
    filter
        .strip_suffix("/#")
        .map(|parent| matches(parent, topic))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(filter_is_valid("/a/b", true));
        assert!(filter_is_valid("$SYS/x", true));
        assert!(filter_is_valid("/a/+/c", true));
        assert!(filter_is_valid("/a/+", true));
        assert!(filter_is_valid("/a/#", true));
        assert!(!filter_is_valid("a/b", true));
        assert!(filter_is_valid("a/b", false));
        assert!(!filter_is_valid("/a/b+", true));
        assert!(!filter_is_valid("/a/+b", true));
        assert!(!filter_is_valid("/a/b#", true));
        assert!(!filter_is_valid("/a/#/c", true));
        assert!(!filter_is_valid("", true));
    }

    #[test]
    fn matching() {
        assert!(matches("/a/b", b"/a/b"));
        assert!(!matches("/a/b", b"/a/c"));
        assert!(!matches("/a/b", b"/a/b/c"));
        assert!(matches("/a/+/c", b"/a/x/c"));
        assert!(matches("/a/+/c", b"/a//c"));
        assert!(!matches("/a/+", b"/a/x/c"));
        assert!(matches("/a/#", b"/a/x/c"));
        assert!(matches("/a/#", b"/a"));
        assert!(matches("/a/#", b"/a/"));
        assert!(!matches("/a/#", b"/b"));
        assert!(matches("/#", b"/anything/at/all"));
        assert!(matches("/a/+/#", b"/a/x"));
    }
}
