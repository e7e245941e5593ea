//! Streaming image digest (MD5 or SHA-256) compared with the task's hex digest.

use md5::{Digest as _, Md5};
use ring::digest::{Context, SHA256};

use crate::components::ota::message::{DIGEST_MD5, DIGEST_SHA256};

/// The running digest of the bytes received so far, in arrival order.
#[derive(Clone)]
pub(crate) enum Digest {
    Md5(Md5),
    /// ring's SHA-256 (the one rustls already carries; SHA-NI where the CPU has it).
    Sha256(Context),
}

impl Digest {
    /// A fresh context for `AIOT_OTA_DIGEST_*` `method`; `None` for an unknown method.
    pub(crate) fn new(method: u8) -> Option<Digest> {
        match method {
            DIGEST_MD5 => Some(Digest::Md5(Md5::new())),
            DIGEST_SHA256 => Some(Digest::Sha256(Context::new(&SHA256))),
            _ => None,
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Digest::Md5(d) => d.update(data),
            Digest::Sha256(d) => d.update(data),
        }
    }

    /// Whether the digest of everything fed so far equals `expected` (hex, either case).
    /// The context is left untouched.
    pub(crate) fn matches(&self, expected: &str) -> bool {
        match self {
            Digest::Md5(d) => hex_eq(&d.clone().finalize(), expected),
            Digest::Sha256(d) => hex_eq(d.clone().finish().as_ref(), expected),
        }
    }
}

/// `bytes` written as hex equals `hex` (case-insensitive, exact length).
fn hex_eq(bytes: &[u8], hex: &str) -> bool {
    let hex = hex.as_bytes();
    if hex.len() != bytes.len() * 2 {
        return false;
    }
    let nibble = |c: u8| (c as char).to_digit(16);
    bytes.iter().zip(hex.chunks_exact(2)).all(|(&b, pair)| {
        matches!((nibble(pair[0]), nibble(pair[1])), (Some(h), Some(l)) if (h << 4 | l) as u8 == b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_match_in_either_case() {
        let mut md5 = Digest::new(DIGEST_MD5).unwrap();
        md5.update(b"a");
        md5.update(b"bc");
        assert!(md5.matches("900150983cd24fb0d6963f7d28e17f72"));
        assert!(md5.matches("900150983CD24FB0D6963F7D28E17F72"));
        assert!(!md5.matches("900150983cd24fb0d6963f7d28e17f7"));
        let mut sha = Digest::new(DIGEST_SHA256).unwrap();
        sha.update(b"abc");
        assert!(sha.matches("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        assert!(!sha.matches("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae"));
        assert!(!sha.matches("zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        assert!(Digest::new(7).is_none());
    }
}
