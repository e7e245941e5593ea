//! The firmware URL, split the way upstream's `_download_parse_url` splits it.

use crate::components::ota::codes::*;
use crate::error::Error;

/// Longest host (with `:port`) upstream's fixed buffer takes.
const MAX_HOST_LEN: usize = 128;
/// Longest path (with query) accepted; far beyond any signed OSS link.
const MAX_PATH_LEN: usize = 8 * 1024;

/// The parts of a download URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Url<'a> {
    /// Text before `://` (upstream ignores it; we only refuse `http` when TLS is required).
    pub scheme: &'a str,
    /// `host[:port]` exactly as written: the `Host:` header value.
    pub authority: &'a str,
    /// Host to connect to (IPv6 brackets removed).
    pub host: &'a str,
    /// Port written in the URL, which overrides `AIOT_DLOPT_NETWORK_PORT`.
    pub port: Option<u16>,
    /// From the first `/` after the host up to `#` (query kept, fragment dropped).
    pub path: &'a str,
}

/// Splits `url`: no `://` or an empty host is `STATE_OTA_PARSE_URL_HOST_IS_NULL`, no `/`
/// after the host `STATE_OTA_PARSE_URL_PATH_IS_NULL`, a host longer than 128 bytes
/// `STATE_PORT_INPUT_OUT_RANGE` (upstream's HTTP connect refuses it with that code). A port
/// that is not a number in 1..=65535 makes the host unusable
/// (`STATE_OTA_PARSE_URL_HOST_IS_NULL`).
pub(crate) fn parse(url: &str) -> Result<Url<'_>, Error> {
    let fail = |code: i32| Err(Error::Download(code));
    let Some((scheme, rest)) = url.split_once("://") else {
        return fail(STATE_OTA_PARSE_URL_HOST_IS_NULL);
    };
    let Some(slash) = rest.find('/') else {
        return fail(STATE_OTA_PARSE_URL_PATH_IS_NULL);
    };
    let authority = &rest[..slash];
    if authority.len() > MAX_HOST_LEN {
        return Err(Error::Port(crate::state::STATE_PORT_INPUT_OUT_RANGE));
    }
    let path = rest[slash..].split('#').next().unwrap_or("/");
    if path.len() > MAX_PATH_LEN {
        return fail(STATE_OTA_PATH_STRING_OVERFLOW);
    }
    let (host, port) = split_port(authority).ok_or(Error::Download(STATE_OTA_PARSE_URL_HOST_IS_NULL))?;
    if host.is_empty() {
        return fail(STATE_OTA_PARSE_URL_HOST_IS_NULL);
    }
    Ok(Url {
        scheme,
        authority,
        host,
        port,
        path,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` for a bad port.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, tail) = v6.split_once(']')?;
        match tail {
            "" => (host, None),
            _ => (host, Some(tail.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            match p.parse::<u16>() {
                Ok(0) | Err(_) => return None,
                Ok(n) => Some(n),
            }
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// The request target for the HTTP layer: bytes a URI may not carry as they are (blanks,
/// quotes, braces, non-ASCII...) are percent-encoded; everything else, including existing
/// `%XX` escapes, passes unchanged.
pub(crate) fn request_target(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(url: &str) -> i32 {
        parse(url).unwrap_err().code()
    }

    #[test]
    fn splits_like_upstream() {
        let u = parse("https://ota.example.com/a/b.bin?x=1&y=%2F#frag").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.authority, "ota.example.com");
        assert_eq!(u.host, "ota.example.com");
        assert_eq!(u.port, None);
        assert_eq!(u.path, "/a/b.bin?x=1&y=%2F");
        let u = parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            (u.host, u.port, u.authority, u.path),
            ("127.0.0.1", Some(8080), "127.0.0.1:8080", "/")
        );
        let u = parse("http://[::1]:81/x").unwrap();
        assert_eq!((u.host, u.port), ("::1", Some(81)));
        let u = parse("http://[::1]/x").unwrap();
        assert_eq!((u.host, u.port), ("::1", None));
    }

    #[test]
    fn errors_have_upstream_codes() {
        assert_eq!(code("ota.example.com/a"), STATE_OTA_PARSE_URL_HOST_IS_NULL);
        assert_eq!(code("https://ota.example.com"), STATE_OTA_PARSE_URL_PATH_IS_NULL);
        assert_eq!(code("https:///a"), STATE_OTA_PARSE_URL_HOST_IS_NULL);
        assert_eq!(code("https://h:99999/a"), STATE_OTA_PARSE_URL_HOST_IS_NULL);
        assert_eq!(code("https://h:x/a"), STATE_OTA_PARSE_URL_HOST_IS_NULL);
        let long = format!("https://{}/a", "h".repeat(129));
        assert_eq!(code(&long), crate::state::STATE_PORT_INPUT_OUT_RANGE);
        let ok = format!("https://{}/a", "h".repeat(128));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn target_escapes_only_what_a_uri_cannot_carry() {
        assert_eq!(
            request_target("/a b/\"c\"?q={1}&r=%20"),
            "/a%20b/%22c%22?q=%7B1%7D&r=%20"
        );
        assert_eq!(request_target("/é"), "/%C3%A9");
    }
}
