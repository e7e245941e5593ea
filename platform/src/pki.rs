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
