//! The demo's HTTPS: a CA made at every start, a server certificate for `localhost` and
//! `127.0.0.1` signed by it, and the CA written to a fixed place per port
//! (`<temp dir>/strata-demo-<port>/ca.pem`) so `AWS_CA_BUNDLE` (or `SSL_CERT_FILE`,
//! `REQUESTS_CA_BUNDLE`, curl's `--cacert`) can point at it across restarts.

use std::path::PathBuf;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use strata_http::TlsServer;

/// The served certificate and where its CA was written.
pub struct DemoTls {
    pub server: TlsServer,
    pub ca_file: PathBuf,
}

/// Where the CA of the demo serving HTTPS on `port` is written.
pub fn ca_file(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("strata-demo-{port}")).join("ca.pem")
}

/// Makes the CA and the server certificate, and writes the CA for the listener on `port`.
pub fn generate(port: u16) -> anyhow::Result<DemoTls> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).context("demo CA")?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Strata demo CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().context("demo CA key")?).context("demo CA")?;

    // Names that parse as IP addresses become IP SANs.
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).context("demo certificate")?;
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Strict verifiers (Python 3.13's default) want the issuer's key identifier in the leaf.
    leaf.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().context("demo certificate key")?;
    let cert = leaf.signed_by(&key, &ca).context("demo certificate")?;

    let ca_file = ca_file(port);
    if let Some(dir) = ca_file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&ca_file, ca.pem()).with_context(|| format!("cannot write {}", ca_file.display()))?;
    let server = TlsServer::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())?;
    Ok(DemoTls { server, ca_file })
}
