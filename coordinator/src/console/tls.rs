//! Where and how the console listens: TLS (rustls, ring) from PEM certificate and key
//! files, or plain HTTP on a loopback address only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// The certificate chain and private key files (PEM) the console serves TLS with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleListenError {
    #[error("--console-listen {0}: plain HTTP is allowed only on a loopback address (127.0.0.1, ::1); give --console-cert and --console-key to serve TLS there")]
    PlainOffLoopback(SocketAddr),
    #[error("reading the console certificate {path}: {source}")]
    Cert {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("the console certificate file {0} holds no certificate (expected PEM `BEGIN CERTIFICATE`)")]
    NoCert(PathBuf),
    #[error("reading the console private key {path}: {source} (expected a PEM private key: PKCS#8, PKCS#1 or SEC1)")]
    Key {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("the console certificate and key do not make a TLS configuration: {0}")]
    Config(#[source] rustls::Error),
}

/// Refuses plain HTTP anywhere but loopback: session cookies and passwords must not cross
/// a network in the clear.
pub fn check_plain_allowed(addr: SocketAddr, tls: bool) -> Result<(), ConsoleListenError> {
    if tls || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(ConsoleListenError::PlainOffLoopback(addr))
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConsoleListenError> {
    let cert_error = |source| ConsoleListenError::Cert {
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(cert_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(cert_error)?;
    if certs.is_empty() {
        return Err(ConsoleListenError::NoCert(path.to_owned()));
    }
    Ok(certs)
}

/// A TLS acceptor from the PEM files (TLS 1.2 and 1.3, rustls's safe defaults).
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ConsoleListenError> {
    let certs = read_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|source| ConsoleListenError::Key {
        path: files.key.clone(),
        source,
    })?;
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(ConsoleListenError::Config)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(ConsoleListenError::Config)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(check_plain_allowed(addr("127.0.0.1:8443"), false).is_ok());
        assert!(check_plain_allowed(addr("[::1]:8443"), false).is_ok());
        for off in ["0.0.0.0:8443", "192.0.2.7:8443", "[::]:8443"] {
            let refused = check_plain_allowed(addr(off), false).unwrap_err();
            assert!(refused.to_string().contains("--console-cert"), "{refused}");
            assert!(check_plain_allowed(addr(off), true).is_ok());
        }
    }

    #[test]
    fn tls_from_pem_files_and_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = dir.path().join("console.crt");
        let key = dir.path().join("console.key");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        };
        assert!(acceptor(&files).is_ok());
        // Swapped files, and a missing one, say which file is wrong.
        let swapped = TlsFiles {
            cert: key.clone(),
            key: cert.clone(),
        };
        assert!(matches!(acceptor(&swapped), Err(ConsoleListenError::NoCert(_))));
        let missing = TlsFiles {
            cert,
            key: dir.path().join("absent.key"),
        };
        let error = acceptor(&missing).err().unwrap().to_string();
        assert!(error.contains("absent.key"), "{error}");
    }
}
