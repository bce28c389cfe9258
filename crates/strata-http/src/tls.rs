//! TLS for a listener (rustls with aws-lc-rs): a certificate chain and key from PEM, ALPN
//! offering `h2` and `http/1.1`, and certificates reloaded when their files change. Every
//! handshake asks a resolver for the current key pair, kept in an `ArcSwap`; a reload swaps in a
//! new one, so new handshakes use it and connections already open keep theirs. A file that
//! cannot be used (half written, wrong key) leaves the current pair in place and is logged.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::metrics::TLS_RELOADS;

/// Why a certificate and key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it")]
    NoCertificate { path: String },
    #[error("{path}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it")]
    NoKey { path: String },
    #[error("{path}: not valid PEM: {message}")]
    Pem { path: String, message: String },
    #[error("the key cannot be used with the certificate: {0}")]
    Key(rustls::Error),
    #[error("TLS setup failed: {0}")]
    Setup(rustls::Error),
}

/// Where a listener's certificate chain and key are read from (PEM; the chain's first
/// certificate is the server's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// A listener's TLS: the rustls config and, when it came from files, where to reload from.
#[derive(Clone)]
pub struct TlsServer {
    config: Arc<ServerConfig>,
    current: Arc<CurrentKey>,
    provider: Arc<CryptoProvider>,
    files: Option<TlsFiles>,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Reads the files now (an error names the file); [`crate::serve`] then reloads them when
    /// they change.
    pub fn from_files(files: TlsFiles) -> Result<TlsServer, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cert = read(&files.cert_file)?;
        let key = read(&files.key_file)?;
        let pair = certified_key(&cert, &key, &files, &provider)?;
        TlsServer::new(pair, provider, Some(files))
    }

    /// A fixed certificate and key (never reloaded), e.g. one generated at start.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsServer, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let shown = TlsFiles {
            cert_file: PathBuf::from("<certificate>"),
            key_file: PathBuf::from("<key>"),
        };
        let pair = certified_key(cert_pem, key_pem, &shown, &provider)?;
        TlsServer::new(pair, provider, None)
    }

    fn new(pair: CertifiedKey, provider: Arc<CryptoProvider>, files: Option<TlsFiles>) -> Result<TlsServer, TlsError> {
        let current = Arc::new(CurrentKey(ArcSwap::from_pointee(pair)));
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsServer {
            config: Arc::new(config),
            current,
            provider,
            files,
        })
    }

    /// The files it reloads from (`None` for a fixed certificate).
    pub fn files(&self) -> Option<&TlsFiles> {
        self.files.as_ref()
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.config))
    }

    /// Reads the files again and, if they can be used, serves them to new handshakes; if not,
    /// the current pair stays.
    pub async fn reload(&self) -> Result<(), TlsError> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let cert = read_async(&files.cert_file).await?;
        let key = read_async(&files.key_file).await?;
        let pair = certified_key(&cert, &key, files, &self.provider)?;
        self.current.0.store(Arc::new(pair));
        Ok(())
    }

    /// Checks the files every `every` and reloads them once a change has settled (unchanged
    /// for one more check, so a file caught half written is not tried). Runs until dropped.
    pub(crate) async fn watch(self, every: Duration) {
        let Some(files) = self.files.clone() else {
            return;
        };
        let mut served = stamp(&files).await;
        let mut last = served;
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let now = stamp(&files).await;
            let settled = now == last;
            last = now;
            if !settled || now == served {
                continue;
            }
            served = now;
            match self.reload().await {
                Ok(()) => {
                    metrics::counter!(TLS_RELOADS, "outcome" => "ok").increment(1);
                    tracing::info!(cert_file = %files.cert_file.display(), "TLS certificate reloaded");
                }
                Err(e) => {
                    metrics::counter!(TLS_RELOADS, "outcome" => "error").increment(1);
                    tracing::warn!(error = %e, "TLS certificate files changed but cannot be used; the current certificate stays");
                }
            }
        }
    }
}

/// The key pair new handshakes get.
struct CurrentKey(ArcSwap<CertifiedKey>);

impl fmt::Debug for CurrentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurrentKey")
    }
}

impl ResolvesServerCert for CurrentKey {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// What identifies a version of the files: modification time and length of each (through
/// symlinks, so a Kubernetes secret's swapped link counts as a change).
type Stamp = [Option<(SystemTime, u64)>; 2];

async fn stamp(files: &TlsFiles) -> Stamp {
    let one = |path: PathBuf| async move {
        let meta = tokio::fs::metadata(path).await.ok()?;
        Some((meta.modified().ok()?, meta.len()))
    };
    [one(files.cert_file.clone()).await, one(files.key_file.clone()).await]
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

async fn read_async(path: &Path) -> Result<Vec<u8>, TlsError> {
    tokio::fs::read(path).await.map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn certified_key(
    cert: &[u8],
    key: &[u8],
    shown: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_path = || shown.cert_file.display().to_string();
    let key_path = || shown.key_file.display().to_string();
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert_path(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: cert_path() });
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey { path: key_path() },
        other => TlsError::Pem {
            path: key_path(),
            message: other.to_string(),
        },
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(TlsError::Key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for `name` and its key, as PEM.
    pub(crate) fn self_signed(name: &str) -> (String, String) {
        let cert = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        (cert.cert.pem(), cert.signing_key.serialize_pem())
    }

    #[test]
    fn a_certificate_and_its_key_load_and_offer_h2_then_http1() {
        let (cert, key) = self_signed("localhost");
        let tls = TlsServer::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(tls.config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    }

    #[test]
    fn bad_files_are_refused_with_what_is_wrong() {
        let (cert, key) = self_signed("localhost");
        let (_, other_key) = self_signed("localhost");
        let err = |c: &str, k: &str| TlsServer::from_pem(c.as_bytes(), k.as_bytes()).unwrap_err().to_string();
        assert!(err("", &key).contains("no PEM certificate"), "{}", err("", &key));
        assert!(
            err(&cert, "junk").contains("no PEM private key"),
            "{}",
            err(&cert, "junk")
        );
        assert!(
            err(&cert, &other_key).contains("cannot be used"),
            "{}",
            err(&cert, &other_key)
        );
        let missing = TlsServer::from_files(TlsFiles {
            cert_file: "/nonexistent/cert.pem".into(),
            key_file: "/nonexistent/key.pem".into(),
        })
        .unwrap_err()
        .to_string();
        assert!(missing.contains("/nonexistent/cert.pem"), "{missing}");
    }

    #[tokio::test]
    async fn a_reload_swaps_the_pair_and_a_bad_file_keeps_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert_file: dir.path().join("cert.pem"),
            key_file: dir.path().join("key.pem"),
        };
        let (cert, key) = self_signed("one.test");
        std::fs::write(&files.cert_file, &cert).unwrap();
        std::fs::write(&files.key_file, &key).unwrap();
        let tls = TlsServer::from_files(files.clone()).unwrap();
        let served = || tls.current.0.load_full().cert[0].to_vec();
        let first = served();

        let (cert2, key2) = self_signed("two.test");
        std::fs::write(&files.cert_file, &cert2).unwrap();
        std::fs::write(&files.key_file, &key2).unwrap();
        tls.reload().await.unwrap();
        let second = served();
        assert_ne!(first, second);

        std::fs::write(&files.key_file, "not a key").unwrap();
        assert!(tls.reload().await.is_err());
        assert_eq!(served(), second, "a bad file keeps the current pair");
    }
}
