//! TLS for every transport: the self-signed certificate a run makes at start, the server's rustls
//! configuration, and a client configuration that trusts exactly that certificate.
//!
//! How the certificate reaches the built-in server: `wsbench run` generates a fresh key and
//! certificate for `localhost`, `127.0.0.1` and `::1` ([`SelfSigned::generate`]), writes both as
//! PEM into a private temporary directory ([`SelfSigned::write`]), and starts the server child
//! with `--tls-cert FILE --tls-key FILE`. The child loads them ([`server_config`]); the clients
//! trust that one certificate as their only root ([`client_config`]) — there is no "accept any
//! certificate" verifier. The directory is removed when the run ends.
//!
//! Owns certificates and rustls configurations; knows nothing of sockets, HTTP or WebSocket.
//! The crypto provider is `ring` (aws-lc-rs would need cmake and nasm to build).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// ALPN protocol id of HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
/// ALPN protocol id of HTTP/3 (RFC 9114), the only one a QUIC connection offers.
pub const ALPN_H3: &[u8] = b"h3";

/// Why a certificate or TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Generating the self-signed certificate failed (should not happen with a working RNG).
    #[error("generating the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file could not be read or holds no certificate or key; check the path.
    #[error("{}: {message}", .path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Writing the certificate files failed.
    #[error("writing the certificate to {}: {source}", .path.display())]
    Write {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// rustls refused the configuration (e.g. a key that does not match the certificate).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The run's self-signed certificate: written into a private temporary directory where the
/// server children read it, trusted by the clients. The directory goes when this is dropped.
#[derive(Debug)]
pub struct RunCert {
    cert: SelfSigned,
    /// Where the certificate and key are, for `wsbench serve --tls-cert/--tls-key`.
    pub files: CertFiles,
    _dir: tempfile::TempDir,
}

impl RunCert {
    /// A fresh certificate in a fresh directory.
    pub fn new() -> Result<RunCert, TlsError> {
        let cert = SelfSigned::generate()?;
        let dir = tempfile::Builder::new()
            .prefix("wsbench-tls-")
            .tempdir()
            .map_err(|source| TlsError::Write {
                path: std::env::temp_dir(),
                source,
            })?;
        let files = cert.write(dir.path())?;
        Ok(RunCert {
            cert,
            files,
            _dir: dir,
        })
    }

    /// A client configuration trusting this certificate only, offering `h2` or `http/1.1`.
    pub fn client_config(&self, http2: bool) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let alpn = if http2 { ALPN_H2 } else { ALPN_HTTP1 };
        client_config(self.cert.cert_der()?, &[alpn])
    }
}

/// A freshly made self-signed certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
}

/// Where [`SelfSigned::write`] put the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// The private key, PEM.
    pub key: PathBuf,
}

impl SelfSigned {
    /// A new key pair and a certificate valid for `localhost`, `127.0.0.1` and `::1`: every name
    /// a loopback client may use.
    pub fn generate() -> Result<Self, TlsError> {
        let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        let certified = rcgen::generate_simple_self_signed(names)?;
        Ok(SelfSigned {
            cert_pem: certified.cert.pem(),
            key_pem: certified.signing_key.serialize_pem(),
        })
    }

    /// Writes `cert.pem` and `key.pem` into `dir` (the key readable by its owner only).
    pub fn write(&self, dir: &Path) -> Result<CertFiles, TlsError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let files = CertFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        for (path, text) in [(&files.cert, &self.cert_pem), (&files.key, &self.key_pem)] {
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            written.map_err(|source| TlsError::Write {
                path: path.clone(),
                source,
            })?;
        }
        Ok(files)
    }

    /// The certificate in DER, as a client's trust root.
    pub fn cert_der(&self) -> Result<CertificateDer<'static>, TlsError> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).map_err(|e| TlsError::Pem {
            path: PathBuf::from("<generated certificate>"),
            message: e.to_string(),
        })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server side: the certificate chain and key from PEM files, offering `alpn` in order of
/// preference (`h2`, `http/1.1` for the built-in servers: WebSocket over HTTP/2 opens by
/// extended CONNECT, over HTTP/1.1 by an upgrade).
pub fn server_config(
    files: &CertFiles,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let pem_error = |path: &Path, e: &dyn std::fmt::Display| TlsError::Pem {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| pem_error(&files.cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&files.cert, &e))?;
    if chain.is_empty() {
        return Err(pem_error(&files.cert, &"no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| pem_error(&files.key, &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The client side: trusts `root` and nothing else, and offers `alpn` (`h2` alone for an HTTP/2
/// client, `http/1.1` alone otherwise, as a browser that knows what it wants would).
pub fn client_config(
    root: CertificateDer<'static>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_loads_on_both_sides() {
        let cert = SelfSigned::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = cert.write(dir.path()).unwrap();
        let server = server_config(&files, &[ALPN_H2, ALPN_HTTP1]).unwrap();
        assert_eq!(
            server.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        client_config(cert.cert_der().unwrap(), &[ALPN_H2]).unwrap();
    }

    #[test]
    fn a_missing_or_empty_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = CertFiles {
            cert: dir.path().join("none.pem"),
            key: dir.path().join("none.key"),
        };
        let e = server_config(&files, &[]).unwrap_err().to_string();
        assert!(e.contains("none.pem"), "{e}");
        std::fs::write(&files.cert, "not pem").unwrap();
        let e = server_config(&files, &[]).unwrap_err().to_string();
        assert!(e.contains("no certificate"), "{e}");
    }
}
