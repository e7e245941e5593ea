//! The TLS algorithms we offer: rustls' ring provider cut down to what device connections need,
//! so the linker can drop the rest (the library size counts, see BENCHMARKS.md).
//!
//! Kept: TLS 1.3 and 1.2 AES-GCM suites (hardware AES on the targets we measure), ECDHE on
//! P-256 (mandatory in TLS 1.3, so every server offers it) and P-384, ECDSA and RSA
//! (PKCS#1 and PSS) signatures, ECDSA and RSA client keys. Left out: ChaCha20-Poly1305, X25519
//! and Ed25519 (about 180 KB of code and tables in ring). A server that insists on X25519 gets
//! a HelloRetryRequest for P-256, which every TLS 1.3 server must accept.

use std::sync::Arc;

use rustls::crypto::ring::{cipher_suite, kx_group, sign};
use rustls::crypto::{CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;
use rustls::SignatureScheme;
use webpki::ring as alg;

/// Suites in preference order.
static CIPHER_SUITES: &[rustls::SupportedCipherSuite] = &[
    cipher_suite::TLS13_AES_128_GCM_SHA256,
    cipher_suite::TLS13_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
];

/// Signature algorithms for server (and, in tests, client) certificates.
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        alg::ECDSA_P256_SHA256,
        alg::ECDSA_P256_SHA384,
        alg::ECDSA_P384_SHA256,
        alg::ECDSA_P384_SHA384,
        alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        alg::RSA_PKCS1_2048_8192_SHA256,
        alg::RSA_PKCS1_2048_8192_SHA384,
        alg::RSA_PKCS1_2048_8192_SHA512,
        alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        // TLS 1.2 does not tie the curve to the scheme; TLS 1.3 does.
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
        ),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA512,
            &[alg::RSA_PKCS1_2048_8192_SHA512],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[alg::RSA_PKCS1_2048_8192_SHA384],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA256,
            &[alg::RSA_PKCS1_2048_8192_SHA256],
        ),
    ],
};

/// Loads ECDSA (P-256, P-384) and RSA client keys.
#[derive(Debug)]
struct EcdsaRsaKeys;

impl KeyProvider for EcdsaRsaKeys {
    fn load_private_key(&self, key: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        sign::any_ecdsa_type(&key).or_else(|_| {
            sign::RsaSigningKey::new(&key)
                .map(|k| Arc::new(k) as Arc<dyn SigningKey>)
                .map_err(|_| rustls::Error::General("client key is neither ECDSA nor RSA".into()))
        })
    }
}

/// Key shares, nonces and client randoms come from the operating system (`getrandom`), not
/// from the portfile's `core_sysdep_rand`, which need not be cryptographically strong.
#[derive(Debug)]
struct SystemRandom;

impl SecureRandom for SystemRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buf).map_err(|_| GetRandomFailed)
    }
}

/// The provider every TLS connection of the library uses.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: CIPHER_SUITES.to_vec(),
        kx_groups: vec![kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &SystemRandom,
        key_provider: &EcdsaRsaKeys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::ring::default_provider;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

    use aiot_platform::pki::TestPki;

    // The platform's test PKI, made once per test process.
    /// The test CA.
    fn ca_pem() -> &'static str {
        &TestPki::shared().ca.cert
    }
    /// Server certificate: localhost and 127.0.0.1.
    fn srv_pem() -> &'static str {
        &TestPki::shared().server.cert
    }
    /// Its key.
    fn srv_key() -> &'static str {
        &TestPki::shared().server.key
    }
    /// Its key.
    fn cli_key() -> &'static str {
        &TestPki::shared().client.key
    }

    /// Runs a handshake in memory; returns the server's view of it or the first error.
    fn handshake(server: CryptoProvider) -> Result<ServerConnection, rustls::Error> {
        let chain: Vec<_> = CertificateDer::pem_slice_iter(srv_pem().as_bytes())
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_slice(srv_key().as_bytes()).unwrap();
        let scfg = ServerConfig::builder_with_provider(Arc::new(server))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(
            CertificateDer::pem_slice_iter(ca_pem().as_bytes()).map(Result::unwrap),
        );
        let ccfg = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut client = ClientConnection::new(Arc::new(ccfg), ServerName::try_from("localhost").unwrap())?;
        let mut server = ServerConnection::new(Arc::new(scfg))?;
        // Bounded: a TLS 1.3 handshake (with a retry) takes fewer than 10 flights.
        for _ in 0..10 {
            let mut wire = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            let mut rd = &wire[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).unwrap();
                server.process_new_packets()?;
            }
            wire.clear();
            while server.wants_write() {
                server.write_tls(&mut wire).unwrap();
            }
            let mut rd = &wire[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
                client.process_new_packets()?;
            }
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(server);
            }
        }
        panic!("handshake did not finish");
    }

    #[test]
    fn a_default_server_gets_p256_and_aes_gcm() {
        let server = handshake(default_provider()).unwrap();
        assert_eq!(
            server.negotiated_key_exchange_group().unwrap().name(),
            rustls::NamedGroup::secp256r1
        );
        assert_eq!(
            server.negotiated_cipher_suite().unwrap().suite(),
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        );
    }

    #[test]
    fn x25519_only_server_is_refused() {
        let mut p = default_provider();
        p.kx_groups = vec![kx_group::X25519];
        assert!(handshake(p).is_err());
    }

    #[test]
    fn chacha_only_server_is_refused() {
        let mut p = default_provider();
        p.cipher_suites = vec![cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
        assert!(handshake(p).is_err());
    }

    #[test]
    fn p384_and_aes256_servers_work() {
        let mut p = default_provider();
        p.kx_groups = vec![kx_group::SECP384R1];
        p.cipher_suites = vec![cipher_suite::TLS13_AES_256_GCM_SHA384];
        let server = handshake(p).unwrap();
        assert_eq!(
            server.negotiated_key_exchange_group().unwrap().name(),
            rustls::NamedGroup::secp384r1
        );
    }

    #[test]
    fn ecdsa_client_key_loads_and_ed25519_does_not() {
        let key = PrivateKeyDer::from_pem_slice(cli_key().as_bytes()).unwrap();
        assert!(EcdsaRsaKeys.load_private_key(key).is_ok());
        // An Ed25519 PKCS#8 key (RFC 8410 example).
        let ed = "-----BEGIN PRIVATE KEY-----\n\
                  MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                  -----END PRIVATE KEY-----\n";
        let key = PrivateKeyDer::from_pem_slice(ed.as_bytes()).unwrap();
        assert!(EcdsaRsaKeys.load_private_key(key).is_err());
    }
}
