//! The test PKI: a CA (key kept, so later servers can get certificates from it), a server
//! certificate for `localhost` signed by it, and an unrelated CA.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};

/// Common name of the test CA (`ca.pem`).
pub const CA_NAME: &str = "aiot-platform test CA";
/// Common name of the unrelated CA (`wrong-ca.pem`).
pub const WRONG_CA_NAME: &str = "aiot-platform unrelated CA";

fn err(e: rcgen::Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn ca_params(name: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

/// Writes `ca.pem`, `ca.key`, `server.pem`, `server.key` (SAN DNS:localhost only, so a client
/// connecting to 127.0.0.1 sees a host-name mismatch) and `wrong-ca.pem` into `dir`.
pub fn generate(dir: &Path) -> std::io::Result<()> {
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params(CA_NAME).map_err(err)?, ca_key).map_err(err)?;
    let wrong = CertifiedIssuer::self_signed(
        ca_params(WRONG_CA_NAME).map_err(err)?,
        KeyPair::generate().map_err(err)?,
    )
    .map_err(err)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    std::fs::write(dir.join("ca.key"), ca_key_pem)?;
    std::fs::write(dir.join("wrong-ca.pem"), wrong.pem())?;
    issue_server_cert(dir, &["localhost"], "server")
}

/// Issues a TLS server certificate for the DNS `names` from the CA in `dir` (`ca.key`), and
/// writes it to `<stem>.pem` with its key in `<stem>.key`.
pub fn issue_server_cert(dir: &Path, names: &[&str], stem: &str) -> std::io::Result<()> {
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(dir.join("ca.key"))?).map_err(err)?;
    // The issuer is identified by its name and key, both restored here.
    let ca = Issuer::new(ca_params(CA_NAME).map_err(err)?, ca_key);
    let key = KeyPair::generate().map_err(err)?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("server"));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca).map_err(err)?;
    std::fs::write(dir.join(format!("{stem}.pem")), cert.pem())?;
    std::fs::write(dir.join(format!("{stem}.key")), key.serialize_pem())?;
    Ok(())
}

/// A certificate and its private key, in PEM.
#[derive(Clone, Debug)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A test PKI made in memory (ECDSA P-256), the same shape as [`generate`]'s files: the CA, an
/// unrelated CA, server certificates signed by the CA and a client certificate.
#[derive(Debug)]
pub struct TestPki {
    /// The CA ([`CA_NAME`]).
    pub ca: Pem,
    /// An unrelated CA ([`WRONG_CA_NAME`]): trusts none of the others.
    pub wrong_ca: Pem,
    /// Server certificate for DNS:localhost and IP:127.0.0.1.
    pub server: Pem,
    /// Server certificate for DNS:localhost only.
    pub server_localhost: Pem,
    /// Client certificate (clientAuth) for `device`.
    pub client: Pem,
}

impl TestPki {
    /// A new PKI (fresh keys on every call).
    pub fn generate() -> std::io::Result<TestPki> {
        let (ca, ca_key) = self_signed(CA_NAME)?;
        let (wrong_ca, _) = self_signed(WRONG_CA_NAME)?;
        let issuer = Issuer::new(ca_params(CA_NAME).map_err(err)?, ca_key);
        Ok(TestPki {
            ca,
            wrong_ca,
            server: issue(
                &issuer,
                &["localhost", "127.0.0.1"],
                ExtendedKeyUsagePurpose::ServerAuth,
            )?,
            server_localhost: issue(&issuer, &["localhost"], ExtendedKeyUsagePurpose::ServerAuth)?,
            client: issue(&issuer, &["device"], ExtendedKeyUsagePurpose::ClientAuth)?,
        })
    }

    /// One PKI per process, made on first use (for tests that share certificates).
    pub fn shared() -> &'static TestPki {
        static PKI: std::sync::OnceLock<TestPki> = std::sync::OnceLock::new();
        PKI.get_or_init(|| TestPki::generate().expect("test PKI"))
    }
}

/// A self-signed CA named `name`, and its key for issuing.
fn self_signed(name: &str) -> std::io::Result<(Pem, KeyPair)> {
    let key = KeyPair::generate().map_err(err)?;
    let key_pem = key.serialize_pem();
    let cert = ca_params(name).map_err(err)?.self_signed(&key).map_err(err)?;
    Ok((
        Pem {
            cert: cert.pem(),
            key: key_pem,
        },
        key,
    ))
}

/// A leaf certificate for `names` (an IP literal becomes an IP SAN) with one extended usage.
fn issue(ca: &Issuer<'_, KeyPair>, names: &[&str], usage: ExtendedKeyUsagePurpose) -> std::io::Result<Pem> {
    let key = KeyPair::generate().map_err(err)?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, ca).map_err(err)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_cert_chains_to_ca_and_names_localhost_only() {
        let dir = std::env::temp_dir().join(format!("aiot-platform-pki-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        generate(&dir).unwrap();
        let run = |args: &[&str]| {
            std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .ok()
        };
        // openssl is a convenience here: skip the checks where it is missing.
        if let Some(out) = run(&["verify", "-CAfile", "ca.pem", "server.pem"]) {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let out = run(&["verify", "-CAfile", "wrong-ca.pem", "server.pem"]).unwrap();
            assert!(!out.status.success());
            let out = run(&["x509", "-in", "server.pem", "-noout", "-ext", "subjectAltName"]).unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("DNS:localhost"), "{text}");
            assert!(!text.contains("IP"), "{text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
