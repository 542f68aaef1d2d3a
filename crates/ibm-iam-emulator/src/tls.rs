//! TLS for `--tls`: a generated self-signed certificate for `localhost` and `127.0.0.1`
//! (written as PEM for clients to trust), or a certificate and key the user supplies.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// TLS material that could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Generating the self-signed certificate failed.
    #[error("generating a self-signed certificate failed: {0}")]
    Generate(String),
    /// A PEM file could not be read or parsed.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the certificate or key.
    #[error("the TLS certificate or key was refused: {0}")]
    Config(String),
}

/// A server certificate with its key.
pub struct TlsMaterial {
    /// The certificate chain, leaf first.
    pub certs: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// The leaf certificate as PEM, for clients to trust.
    pub cert_pem: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// A fresh local CA and a server certificate it signs, valid for `localhost`,
    /// `127.0.0.1` and `::1` plus any extra host names. `cert_pem` is the CA certificate:
    /// the file clients trust (strict verifiers refuse a self-signed leaf as a trust anchor).
    pub fn self_signed(extra_hosts: &[String]) -> Result<Self, TlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let generate = |e: rcgen::Error| TlsError::Generate(e.to_string());
        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        names.extend(
            extra_hosts
                .iter()
                .filter(|h| !names.contains(h))
                .cloned()
                .collect::<Vec<_>>(),
        );

        let ca_key = KeyPair::generate().map_err(generate)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(generate)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(DnType::CommonName, "ibm-iam emulator local CA");
        let ca_cert = ca.self_signed(&ca_key).map_err(generate)?;
        let issuer = Issuer::new(ca, ca_key);

        let leaf_key = KeyPair::generate().map_err(generate)?;
        let mut leaf = CertificateParams::new(names).map_err(generate)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(generate)?;

        let key = PrivateKeyDer::try_from(leaf_key.serialize_der())
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        Ok(Self {
            certs: vec![leaf_cert.der().clone(), ca_cert.der().clone()],
            key,
            cert_pem: ca_cert.pem(),
        })
    }

    /// Loads a PEM certificate chain and a PEM private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let pem_err = |p: &Path, reason: String| TlsError::Pem {
            path: p.display().to_string(),
            reason,
        };
        let cert_pem = std::fs::read_to_string(cert).map_err(|e| pem_err(cert, e.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_err(cert, e.to_string()))?;
        if certs.is_empty() {
            return Err(pem_err(cert, "no certificate found".into()));
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e.to_string()))?;
        Ok(Self {
            certs,
            key: key_der,
            cert_pem,
        })
    }

    /// A rustls server configuration (aws-lc-rs provider, HTTP/1.1).
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.certs.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
