//! The test PKI: a CA, a server certificate for `localhost` signed by it, and an unrelated CA.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

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

/// Writes `ca.pem`, `server.pem`, `server.key` (SAN DNS:localhost only, so a client connecting
/// to 127.0.0.1 sees a host-name mismatch) and `wrong-ca.pem` into `dir`.
pub fn generate(dir: &Path) -> std::io::Result<()> {
    let err = |e: rcgen::Error| std::io::Error::other(e.to_string());
    let ca = CertifiedIssuer::self_signed(
        ca_params("aiot-platform test CA").map_err(err)?,
        KeyPair::generate().map_err(err)?,
    )
    .map_err(err)?;
    let server_key = KeyPair::generate().map_err(err)?;
    let mut sp = CertificateParams::new(vec!["localhost".to_owned()]).map_err(err)?;
    sp.distinguished_name.push(DnType::CommonName, "localhost");
    let server = sp.signed_by(&server_key, &ca).map_err(err)?;
    let wrong = CertifiedIssuer::self_signed(
        ca_params("unrelated CA").map_err(err)?,
        KeyPair::generate().map_err(err)?,
    )
    .map_err(err)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    std::fs::write(dir.join("server.pem"), server.pem())?;
    std::fs::write(dir.join("server.key"), server_key.serialize_pem())?;
    std::fs::write(dir.join("wrong-ca.pem"), wrong.pem())?;
    Ok(())
}
