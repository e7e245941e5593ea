//! TLS record protection for a session whose traffic secrets were taken over from rustls
//! (`ClientConnection::dangerous_extract_secrets`, the path rustls offers for kernel TLS).
//!
//! Why: rustls' buffered reader copies each record into its deframer buffer (growing it 4 KB
//! at a time), then into a fresh plaintext `Vec`, then into the caller's buffer. A firmware
//! download is almost all application data, so once its response header has been read the
//! session opens records itself, in place, with ring's AES-GCM (the same code rustls would
//! call).
//!
//! What this layer accepts after the takeover: application data, alerts (close_notify ends
//! the stream, any other alert is an error) and, in TLS 1.3, the post-handshake
//! NewSessionTicket (ignored: the session cache then misses that ticket). KeyUpdate, TLS 1.2
//! renegotiation and anything else end the connection with an error; the download then renews
//! on a new connection.
//! * TLS 1.3 (RFC 8446 section 5): outer type 23; nonce = IV xor sequence number; additional
//!   data = the record header; the real content type ends the plaintext, before zero padding.
//! * TLS 1.2 AES-GCM (RFC 5288): the outer type is the content type; the record starts with an
//!   8-byte explicit nonce after the 4-byte salt; additional data = sequence number, type,
//!   version, plaintext length.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, NONCE_LEN};
use rustls::ConnectionTrafficSecrets;

/// Record header length.
pub(super) const HEADER_LEN: usize = 5;
/// Largest TLS 1.3 ciphertext: 2^14 plaintext, the content type, 255 of padding and tag.
const MAX_CIPHERTEXT_TLS13: usize = (1 << 14) + 256;
/// Largest TLS 1.2 ciphertext after the explicit nonce: 2^14 plaintext and the tag.
const MAX_CIPHERTEXT_TLS12: usize = (1 << 14) + TAG_LEN;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// TLS 1.2 AES-GCM: the explicit part of the nonce, in front of each record's ciphertext.
const EXPLICIT_NONCE_LEN: usize = 8;

const TYPE_ALERT: u8 = 21;
const TYPE_HANDSHAKE: u8 = 22;
const TYPE_APPLICATION_DATA: u8 = 23;
const HANDSHAKE_NEW_SESSION_TICKET: u8 = 4;
const ALERT_CLOSE_NOTIFY: u8 = 0;

/// What one opened record holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Opened {
    /// This many bytes of application data, at the start of the ciphertext (may be none).
    Data(usize),
    /// The peer closed the stream.
    CloseNotify,
    /// A message this layer skips (a NewSessionTicket).
    Skipped,
}

/// Why a record was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RecordError {
    /// Wrong outer type, bad length, or authentication failed.
    Invalid,
    /// The peer sent an alert other than close_notify (its description code).
    Alert(u8),
    /// A handshake message this layer does not handle (its handshake type).
    Unsupported(u8),
    /// The 2^64 sequence numbers are used up.
    Exhausted,
}

/// The record format of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Version {
    Tls12,
    Tls13,
}

/// One direction's key, static IV and sequence number.
pub(super) struct RecordKeys {
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
    seq: u64,
    version: Version,
}

impl RecordKeys {
    /// Keys for an AES-GCM suite; `None` for other AEADs.
    pub(super) fn new(version: Version, seq: u64, secrets: &ConnectionTrafficSecrets) -> Option<RecordKeys> {
        let (alg, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&AES_256_GCM, key, iv),
            _ => return None,
        };
        let key = LessSafeKey::new(UnboundKey::new(alg, key.as_ref()).ok()?);
        let iv = <[u8; NONCE_LEN]>::try_from(iv.as_ref()).ok()?;
        Some(RecordKeys {
            key,
            iv,
            seq,
            version,
        })
    }

    /// Bytes between the record header and the ciphertext: TLS 1.2's explicit nonce.
    pub(super) fn explicit_len(&self) -> usize {
        match self.version {
            Version::Tls12 => EXPLICIT_NONCE_LEN,
            Version::Tls13 => 0,
        }
    }

    /// The sequence number of the next record, then counts it.
    fn next_seq(&mut self) -> Result<u64, RecordError> {
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(RecordError::Exhausted)?;
        Ok(seq)
    }

    /// The IV xored with `seq` (TLS 1.3's nonce; in TLS 1.2 the salt stays, the rest is ours).
    fn nonce_for(&self, seq: u64) -> [u8; NONCE_LEN] {
        let mut nonce = self.iv;
        for (n, s) in nonce[NONCE_LEN - 8..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    /// TLS 1.2's additional data for a record of `len` plaintext bytes.
    fn aad12(seq: u64, header: &[u8], len: usize) -> [u8; 13] {
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&seq.to_be_bytes());
        aad[8..11].copy_from_slice(&header[..3]);
        aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
        aad
    }

    /// Opens one record in place: `header` as received, `explicit` the bytes after it
    /// ([`Self::explicit_len`]), `body` the rest the header announces (ciphertext and tag).
    pub(super) fn open(
        &mut self,
        header: &[u8],
        explicit: &[u8],
        body: &mut [u8],
    ) -> Result<Opened, RecordError> {
        let [outer, _, _, hi, lo] = *header else {
            return Err(RecordError::Invalid);
        };
        let announced = usize::from(u16::from_be_bytes([hi, lo]));
        let max = match self.version {
            Version::Tls12 => MAX_CIPHERTEXT_TLS12,
            Version::Tls13 => MAX_CIPHERTEXT_TLS13,
        };
        if explicit.len() != self.explicit_len()
            || announced != explicit.len() + body.len()
            || body.len() < TAG_LEN
            || body.len() > max
        {
            return Err(RecordError::Invalid);
        }
        let seq = self.next_seq()?;
        let (content_type, content) = match self.version {
            Version::Tls13 => {
                if outer != TYPE_APPLICATION_DATA {
                    return Err(RecordError::Invalid);
                }
                let nonce = Nonce::assume_unique_for_key(self.nonce_for(seq));
                let plain = self
                    .key
                    .open_in_place(nonce, Aad::from(header), body)
                    .map_err(|_| RecordError::Invalid)?;
                // TLSInnerPlaintext: content, then the real content type, then zero padding.
                let at = plain.iter().rposition(|&b| b != 0).ok_or(RecordError::Invalid)?;
                (plain[at], &plain[..at])
            }
            Version::Tls12 => {
                let mut nonce = self.iv;
                nonce[NONCE_LEN - EXPLICIT_NONCE_LEN..].copy_from_slice(explicit);
                let aad = Self::aad12(seq, header, body.len() - TAG_LEN);
                let plain = self
                    .key
                    .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), body)
                    .map_err(|_| RecordError::Invalid)?;
                (outer, &plain[..])
            }
        };
        match content_type {
            TYPE_APPLICATION_DATA => Ok(Opened::Data(content.len())),
            TYPE_ALERT => match content {
                [_, ALERT_CLOSE_NOTIFY] => Ok(Opened::CloseNotify),
                [_, desc] => Err(RecordError::Alert(*desc)),
                _ => Err(RecordError::Invalid),
            },
            TYPE_HANDSHAKE => match content.first() {
                Some(&HANDSHAKE_NEW_SESSION_TICKET) if self.version == Version::Tls13 => Ok(Opened::Skipped),
                Some(&other) => Err(RecordError::Unsupported(other)),
                None => Err(RecordError::Invalid),
            },
            _ => Err(RecordError::Invalid),
        }
    }

    /// A protected record of `content_type` carrying `content`.
    fn seal(&mut self, content_type: u8, content: &[u8]) -> Result<Vec<u8>, RecordError> {
        let seq = self.next_seq()?;
        let nonce = self.nonce_for(seq);
        let mut record = Vec::with_capacity(HEADER_LEN + EXPLICIT_NONCE_LEN + content.len() + 1 + TAG_LEN);
        let mut body = content.to_vec();
        let (outer, aad_bytes, explicit) = match self.version {
            Version::Tls13 => {
                body.push(content_type);
                let len = (body.len() + TAG_LEN) as u16;
                let [hi, lo] = len.to_be_bytes();
                let header = [TYPE_APPLICATION_DATA, 3, 3, hi, lo];
                (TYPE_APPLICATION_DATA, header.to_vec(), &[][..])
            }
            Version::Tls12 => {
                let header = [content_type, 3, 3];
                (
                    content_type,
                    Self::aad12(seq, &header, body.len()).to_vec(),
                    &nonce[4..],
                )
            }
        };
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad_bytes),
                &mut body,
            )
            .map_err(|_| RecordError::Invalid)?;
        let len = (explicit.len() + body.len()) as u16;
        record.extend_from_slice(&[outer, 3, 3]);
        record.extend_from_slice(&len.to_be_bytes());
        record.extend_from_slice(explicit);
        record.extend_from_slice(&body);
        Ok(record)
    }

    /// A protected close_notify alert record (level warning).
    pub(super) fn seal_close_notify(&mut self) -> Result<Vec<u8>, RecordError> {
        self.seal(TYPE_ALERT, &[1, ALERT_CLOSE_NOTIFY])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::cipher::{AeadKey, Iv};

    fn keys(version: Version, seq: u64) -> RecordKeys {
        let secrets = ConnectionTrafficSecrets::Aes256Gcm {
            key: AeadKey::from([7u8; 32]),
            iv: Iv::from([9u8; NONCE_LEN]),
        };
        RecordKeys::new(version, seq, &secrets).unwrap()
    }

    /// A TLS 1.3 record around `inner` (content, type, padding), as any peer may send it.
    fn seal13(k: &mut RecordKeys, inner: &[u8]) -> Vec<u8> {
        let len = (inner.len() + TAG_LEN) as u16;
        let mut header = [TYPE_APPLICATION_DATA, 3, 3, 0, 0];
        header[3..].copy_from_slice(&len.to_be_bytes());
        let seq = k.next_seq().unwrap();
        let nonce = Nonce::assume_unique_for_key(k.nonce_for(seq));
        let mut body = inner.to_vec();
        k.key
            .seal_in_place_append_tag(nonce, Aad::from(header), &mut body)
            .unwrap();
        [&header[..], &body].concat()
    }

    fn open(k: &mut RecordKeys, record: &mut [u8]) -> Result<Opened, RecordError> {
        let x = k.explicit_len();
        if record.len() < HEADER_LEN + x {
            return Err(RecordError::Invalid);
        }
        let (header, rest) = record.split_at_mut(HEADER_LEN);
        let (explicit, body) = rest.split_at_mut(x);
        k.open(header, explicit, body)
    }

    #[test]
    fn tls13_opens_data_alerts_and_tickets_in_sequence() {
        let (mut tx, mut rx) = (keys(Version::Tls13, 3), keys(Version::Tls13, 3));
        let mut r = seal13(&mut tx, b"hello\x17\0\0\0");
        assert_eq!(open(&mut rx, &mut r), Ok(Opened::Data(5)));
        assert_eq!(&r[5..10], b"hello");
        let mut r = seal13(&mut tx, &[TYPE_APPLICATION_DATA]);
        assert_eq!(open(&mut rx, &mut r), Ok(Opened::Data(0)));
        let mut r = seal13(
            &mut tx,
            &[HANDSHAKE_NEW_SESSION_TICKET, 0, 0, 1, 0, TYPE_HANDSHAKE],
        );
        assert_eq!(open(&mut rx, &mut r), Ok(Opened::Skipped));
        let mut r = tx.seal(TYPE_APPLICATION_DATA, b"sealed by us").unwrap();
        assert_eq!(open(&mut rx, &mut r), Ok(Opened::Data(12)));
        assert_eq!(&r[5..17], b"sealed by us");
        let mut r = tx.seal_close_notify().unwrap();
        assert_eq!(open(&mut rx, &mut r), Ok(Opened::CloseNotify));
    }

    #[test]
    fn tls12_opens_data_and_close_notify_behind_the_explicit_nonce() {
        let (mut tx, mut rx) = (keys(Version::Tls12, 1), keys(Version::Tls12, 1));
        let mut r = tx.seal(TYPE_APPLICATION_DATA, b"twelve").unwrap();
        assert_eq!(r[0], TYPE_APPLICATION_DATA);
        assert_eq!(r.len(), HEADER_LEN + EXPLICIT_NONCE_LEN + 6 + TAG_LEN);
        assert_eq!(open(&mut rx, &mut r), Ok(Opened::Data(6)));
        assert_eq!(&r[13..19], b"twelve");
        let mut r = tx.seal(TYPE_HANDSHAKE, &[0, 0, 0, 0]).unwrap();
        assert_eq!(
            open(&mut rx, &mut r),
            Err(RecordError::Unsupported(0)),
            "renegotiation"
        );
        let mut r = tx.seal(TYPE_ALERT, &[2, 40]).unwrap();
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Alert(40)));
        let mut r = tx.seal_close_notify().unwrap();
        assert_eq!(r[0], TYPE_ALERT);
        assert_eq!(open(&mut rx, &mut r), Ok(Opened::CloseNotify));
        // The outer type is authenticated.
        let mut r = tx.seal(TYPE_APPLICATION_DATA, b"x").unwrap();
        r[0] = TYPE_ALERT;
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Invalid));
        // A TLS 1.3 record does not open as TLS 1.2.
        let mut r = seal13(&mut keys(Version::Tls13, 6), b"x\x17");
        assert_eq!(
            open(&mut keys(Version::Tls12, 6), &mut r),
            Err(RecordError::Invalid)
        );
    }

    #[test]
    fn refuses_tampering_replay_and_unknown_content() {
        let (mut tx, mut rx) = (keys(Version::Tls13, 0), keys(Version::Tls13, 0));
        let good = seal13(&mut tx, b"data\x17");
        let mut flipped = good.clone();
        flipped[7] ^= 1;
        assert_eq!(open(&mut rx, &mut flipped), Err(RecordError::Invalid));
        // The failed record used sequence number 0: the same record no longer opens.
        let mut again = good.clone();
        assert_eq!(open(&mut rx, &mut again), Err(RecordError::Invalid));

        let (mut tx, mut rx) = (keys(Version::Tls13, 0), keys(Version::Tls13, 0));
        let mut r = seal13(&mut tx, &[1, 40, TYPE_ALERT]);
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Alert(40)));
        let mut r = seal13(&mut tx, &[24, 0, 0, 1, 0, TYPE_HANDSHAKE]);
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Unsupported(24)));
        let mut r = seal13(&mut tx, &[0, 0, 0]);
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Invalid));
        let mut r = seal13(&mut tx, b"x\x14");
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Invalid));

        let (mut tx, mut rx) = (keys(Version::Tls13, 0), keys(Version::Tls13, 0));
        let mut r = seal13(&mut tx, b"x\x17");
        r[0] = TYPE_HANDSHAKE;
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Invalid));
        let mut short = vec![TYPE_APPLICATION_DATA, 3, 3, 0, 4, 1, 2, 3, 4];
        assert_eq!(open(&mut rx, &mut short), Err(RecordError::Invalid));
        let mut r = seal13(&mut tx, b"x\x17");
        r[4] ^= 1;
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Invalid));
        let mut huge = vec![0u8; HEADER_LEN + MAX_CIPHERTEXT_TLS13 + 1];
        huge[..5].copy_from_slice(&[TYPE_APPLICATION_DATA, 3, 3, 0x41, 0x01]);
        assert_eq!(open(&mut rx, &mut huge), Err(RecordError::Invalid));
    }

    #[test]
    fn sequence_numbers_run_out() {
        let mut k = keys(Version::Tls13, u64::MAX);
        assert_eq!(k.seal_close_notify().err(), Some(RecordError::Exhausted));
    }

    #[test]
    fn only_aes_gcm_is_taken_over() {
        let secrets = ConnectionTrafficSecrets::Chacha20Poly1305 {
            key: AeadKey::from([7u8; 32]),
            iv: Iv::from([9u8; NONCE_LEN]),
        };
        assert!(RecordKeys::new(Version::Tls13, 0, &secrets).is_none());
    }
}
