//! TLS 1.3 record protection for a session whose traffic secrets were taken over from rustls
//! (`ClientConnection::dangerous_extract_secrets`, the path rustls offers for kernel TLS).
//!
//! Why: rustls' buffered reader copies each record into its deframer buffer (growing it 4 KB
//! at a time), then into a fresh plaintext `Vec`, then into the caller's buffer. A firmware
//! download is almost all application data, so once its response header has been read the
//! session opens records itself: in place in the record buffer, with ring's AES-GCM (the
//! same code rustls would call), leaving one copy into the caller's buffer.
//!
//! What this layer accepts after the takeover (RFC 8446 section 5): protected records
//! (outer type 23) carrying application data, alerts (close_notify ends the stream, any other
//! alert is an error) and the post-handshake NewSessionTicket (ignored: the session cache
//! then simply misses that ticket). KeyUpdate and anything else end the connection with an
//! error; the download then renews on a new connection.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, NONCE_LEN};
use rustls::ConnectionTrafficSecrets;

/// Record header length.
pub(super) const HEADER_LEN: usize = 5;
/// Largest TLS 1.3 ciphertext: 2^14 plaintext, the content type, 255 of padding and tag.
const MAX_CIPHERTEXT: usize = (1 << 14) + 256;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;

const TYPE_ALERT: u8 = 21;
const TYPE_HANDSHAKE: u8 = 22;
const TYPE_APPLICATION_DATA: u8 = 23;
const HANDSHAKE_NEW_SESSION_TICKET: u8 = 4;
const ALERT_CLOSE_NOTIFY: u8 = 0;

/// What one opened record holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Opened {
    /// This many bytes of application data, at the start of the body (may be none).
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
    /// A post-handshake message this layer does not handle (its handshake type).
    Unsupported(u8),
    /// The 2^64 sequence numbers are used up.
    Exhausted,
}

/// One direction's key, static IV and sequence number.
pub(super) struct RecordKeys {
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
    seq: u64,
}

impl RecordKeys {
    /// Keys for an AES-GCM suite; `None` for other AEADs.
    pub(super) fn new(seq: u64, secrets: &ConnectionTrafficSecrets) -> Option<RecordKeys> {
        let (alg, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&AES_256_GCM, key, iv),
            _ => return None,
        };
        let key = LessSafeKey::new(UnboundKey::new(alg, key.as_ref()).ok()?);
        let iv = <[u8; NONCE_LEN]>::try_from(iv.as_ref()).ok()?;
        Some(RecordKeys { key, iv, seq })
    }

    /// The per-record nonce (the IV xored with the sequence number), then the next number.
    fn next_nonce(&mut self) -> Result<Nonce, RecordError> {
        let mut nonce = self.iv;
        for (n, s) in nonce[NONCE_LEN - 8..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        self.seq = self.seq.checked_add(1).ok_or(RecordError::Exhausted)?;
        Ok(Nonce::assume_unique_for_key(nonce))
    }

    /// Opens one record in place: `header` as received, `body` the bytes it announces.
    pub(super) fn open(&mut self, header: &[u8], body: &mut [u8]) -> Result<Opened, RecordError> {
        let announced = match header {
            [TYPE_APPLICATION_DATA, _, _, hi, lo] => usize::from(u16::from_be_bytes([*hi, *lo])),
            _ => return Err(RecordError::Invalid),
        };
        if announced != body.len() || body.len() < TAG_LEN + 1 || body.len() > MAX_CIPHERTEXT {
            return Err(RecordError::Invalid);
        }
        let nonce = self.next_nonce()?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(header), body)
            .map_err(|_| RecordError::Invalid)?;
        // TLSInnerPlaintext: content, then the real content type, then zero padding.
        let type_at = plain.iter().rposition(|&b| b != 0).ok_or(RecordError::Invalid)?;
        let content = &plain[..type_at];
        match plain[type_at] {
            TYPE_APPLICATION_DATA => Ok(Opened::Data(type_at)),
            TYPE_ALERT => match content {
                [_, ALERT_CLOSE_NOTIFY] => Ok(Opened::CloseNotify),
                [_, desc] => Err(RecordError::Alert(*desc)),
                _ => Err(RecordError::Invalid),
            },
            TYPE_HANDSHAKE => match content.first() {
                Some(&HANDSHAKE_NEW_SESSION_TICKET) => Ok(Opened::Skipped),
                Some(&other) => Err(RecordError::Unsupported(other)),
                None => Err(RecordError::Invalid),
            },
            _ => Err(RecordError::Invalid),
        }
    }

    /// A protected close_notify alert record.
    pub(super) fn seal_close_notify(&mut self) -> Result<Vec<u8>, RecordError> {
        // Inner plaintext: alert level warning (1), close_notify, then the content type.
        let inner = [1, ALERT_CLOSE_NOTIFY, TYPE_ALERT];
        let len = (inner.len() + TAG_LEN) as u16;
        let mut record = Vec::with_capacity(HEADER_LEN + usize::from(len));
        record.push(TYPE_APPLICATION_DATA);
        record.extend_from_slice(&[3, 3]);
        record.extend_from_slice(&len.to_be_bytes());
        let header: [u8; HEADER_LEN] = record[..].try_into().map_err(|_| RecordError::Invalid)?;
        let nonce = self.next_nonce()?;
        let mut body = inner.to_vec();
        self.key
            .seal_in_place_append_tag(nonce, Aad::from(header), &mut body)
            .map_err(|_| RecordError::Invalid)?;
        record.extend_from_slice(&body);
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::cipher::{AeadKey, Iv};

    fn keys(seq: u64) -> RecordKeys {
        let secrets = ConnectionTrafficSecrets::Aes256Gcm {
            key: AeadKey::from([7u8; 32]),
            iv: Iv::from([9u8; NONCE_LEN]),
        };
        RecordKeys::new(seq, &secrets).unwrap()
    }

    /// Seals `inner` (content plus type plus padding) as our peer would.
    fn seal(k: &mut RecordKeys, inner: &[u8]) -> Vec<u8> {
        let len = (inner.len() + TAG_LEN) as u16;
        let mut header = [TYPE_APPLICATION_DATA, 3, 3, 0, 0];
        header[3..].copy_from_slice(&len.to_be_bytes());
        let nonce = k.next_nonce().unwrap();
        let mut body = inner.to_vec();
        k.key
            .seal_in_place_append_tag(nonce, Aad::from(header), &mut body)
            .unwrap();
        [&header[..], &body].concat()
    }

    fn open(k: &mut RecordKeys, record: &mut [u8]) -> Result<Opened, RecordError> {
        if record.len() < HEADER_LEN {
            return Err(RecordError::Invalid);
        }
        let (header, body) = record.split_at_mut(HEADER_LEN);
        k.open(header, body)
    }

    #[test]
    fn opens_data_alerts_and_tickets_in_sequence() {
        let (mut tx, mut rx) = (keys(3), keys(3));
        let mut r = seal(&mut tx, b"hello\x17\0\0\0");
        assert_eq!(open(&mut rx, &mut r), Ok(Opened::Data(5)));
        assert_eq!(&r[5..10], b"hello");
        let mut r = seal(&mut tx, &[TYPE_APPLICATION_DATA]);
        assert_eq!(open(&mut rx, &mut r), Ok(Opened::Data(0)));
        let mut r = seal(
            &mut tx,
            &[HANDSHAKE_NEW_SESSION_TICKET, 0, 0, 1, 0, TYPE_HANDSHAKE],
        );
        assert_eq!(open(&mut rx, &mut r), Ok(Opened::Skipped));
        let mut r = tx.seal_close_notify().unwrap();
        assert_eq!(open(&mut rx, &mut r), Ok(Opened::CloseNotify));
    }

    #[test]
    fn refuses_tampering_replay_and_unknown_content() {
        let (mut tx, mut rx) = (keys(0), keys(0));
        let good = seal(&mut tx, b"data\x17");
        let mut flipped = good.clone();
        flipped[7] ^= 1;
        assert_eq!(open(&mut rx, &mut flipped), Err(RecordError::Invalid));
        // The failed record used sequence number 0: the same record no longer opens.
        let mut again = good.clone();
        assert_eq!(open(&mut rx, &mut again), Err(RecordError::Invalid));

        let (mut tx, mut rx) = (keys(0), keys(0));
        let mut r = seal(&mut tx, &[1, 40, TYPE_ALERT]);
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Alert(40)));
        let mut r = seal(&mut tx, &[24, 0, 0, 1, 0, TYPE_HANDSHAKE]);
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Unsupported(24)));
        let mut r = seal(&mut tx, &[0, 0, 0]);
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Invalid));
        let mut r = seal(&mut tx, b"x\x14");
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Invalid));

        let (mut tx, mut rx) = (keys(0), keys(0));
        let mut r = seal(&mut tx, b"x\x17");
        r[0] = TYPE_HANDSHAKE;
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Invalid));
        let mut short = vec![TYPE_APPLICATION_DATA, 3, 3, 0, 4, 1, 2, 3, 4];
        assert_eq!(open(&mut rx, &mut short), Err(RecordError::Invalid));
        let mut r = seal(&mut tx, b"x\x17");
        r[4] ^= 1;
        assert_eq!(open(&mut rx, &mut r), Err(RecordError::Invalid));
    }

    #[test]
    fn sequence_numbers_run_out() {
        let mut k = keys(u64::MAX);
        assert_eq!(k.seal_close_notify().err(), Some(RecordError::Exhausted));
    }

    #[test]
    fn only_aes_gcm_is_taken_over() {
        let secrets = ConnectionTrafficSecrets::Chacha20Poly1305 {
            key: AeadKey::from([7u8; 32]),
            iv: Iv::from([9u8; NONCE_LEN]),
        };
        assert!(RecordKeys::new(0, &secrets).is_none());
    }
}
