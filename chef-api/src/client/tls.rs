//! TLS trust: the system roots plus `ssl_ca_file` plus every certificate in `trusted_certs_dir`.
//!
//! Every client of the process with the same trust shares one rustls configuration
//! (`shared_config`): the system root store is read and parsed once per process, not once per
//! HTTP client (reqwest's own TLS setup reads it for every client it builds).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::error::{Error, Result};

/// Where the extra trusted certificates come from, and whether verification is on.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// A PEM file with one or more CA certificates (knife's `ssl_ca_file`).
    pub ssl_ca_file: Option<PathBuf>,
    /// A directory of PEM certificates, every regular file is read (knife's
    /// `trusted_certs_dir`, filled by `knife ssl fetch`).
    pub trusted_certs_dir: Option<PathBuf>,
    /// Turns certificate verification off (knife's `ssl_verify_mode :verify_none`). Dangerous:
    /// every client built this way logs a warning.
    pub insecure_skip_verify: bool,
}

/// Reads every certificate of one PEM file.
fn certs_from_file(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Config {
            key: key.to_owned(),
            message: format!("{}: not a PEM certificate bundle: {e}", path.display()),
        })?;
    if certs.is_empty() {
        return Err(Error::Config {
            key: key.to_owned(),
            message: format!("{}: no certificate found", path.display()),
        });
    }
    Ok(certs)
}

/// Loads the extra roots named by `opts`, in a stable order.
pub(crate) fn extra_roots(opts: &TlsOptions) -> Result<Vec<CertificateDer<'static>>> {
    let mut roots = Vec::new();
    if let Some(file) = &opts.ssl_ca_file {
        roots.extend(certs_from_file(file, "ssl_ca_file")?);
    }
    if let Some(dir) = &opts.trusted_certs_dir {
        let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            if path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        for file in files {
            roots.extend(certs_from_file(&file, "trusted_certs_dir")?);
        }
    }
    Ok(roots)
}

/// The rustls configuration trusting the system roots plus `extra_roots`, verifying as
/// reqwest's own rustls setup does (rustls-platform-verifier, the default crypto provider,
/// TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`). Built once per process for each distinct set of
/// extra roots and cloned for each client (a clone shares the verifier and its root store).
///
/// # Errors
/// [`Error::Config`] (`tls`) when no root can be loaded or an extra root is not a certificate.
pub(crate) fn shared_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig> {
    Ok((*shared(extra_roots)?).clone())
}

/// Every configuration built so far, by its extra roots (usually one or two per process).
type Built = Vec<(Vec<CertificateDer<'static>>, Arc<rustls::ClientConfig>)>;

fn shared(extra_roots: &[CertificateDer<'static>]) -> Result<Arc<rustls::ClientConfig>> {
    static BUILT: Mutex<Built> = Mutex::new(Vec::new());
    // Held while building: clients built at the same time wait for one root store, not one each.
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, config)) = built.iter().find(|(roots, _)| roots == extra_roots) {
        return Ok(Arc::clone(config));
    }
    let config = Arc::new(build_config(extra_roots)?);
    built.push((extra_roots.to_vec(), Arc::clone(&config)));
    Ok(config)
}

fn build_config(extra_roots: &[CertificateDer<'static>]) -> Result<rustls::ClientConfig> {
    let tls = |e: rustls::Error| Error::Config {
        key: "tls".to_owned(),
        message: e.to_string(),
    };
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = if extra_roots.is_empty() {
        rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots.iter().cloned(),
            Arc::clone(&provider),
        )
    }
    .map_err(tls)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_configuration_per_distinct_trust() {
        let system = shared(&[]).unwrap();
        assert!(Arc::ptr_eq(&system, &shared(&[]).unwrap()));
        let pem = include_bytes!(
            "../../../tests/data/repos/seed/.chef/ca_certs/opsworks-cm-ca-2016-root.pem"
        );
        let ca = CertificateDer::from_pem_slice(pem).unwrap();
        let with_ca = shared(std::slice::from_ref(&ca)).unwrap();
        assert!(!Arc::ptr_eq(&system, &with_ca));
        assert!(Arc::ptr_eq(&with_ca, &shared(&[ca]).unwrap()));
        assert_eq!(
            system.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn reports_the_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.crt"), "not a certificate").unwrap();
        let opts = TlsOptions {
            trusted_certs_dir: Some(dir.path().to_owned()),
            ..TlsOptions::default()
        };
        let err = extra_roots(&opts).unwrap_err().to_string();
        assert!(
            err.contains("bad.crt") && err.contains("trusted_certs_dir"),
            "{err}"
        );

        let opts = TlsOptions {
            ssl_ca_file: Some(dir.path().join("missing.pem")),
            ..TlsOptions::default()
        };
        let err = extra_roots(&opts).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");
        assert!(extra_roots(&TlsOptions::default()).unwrap().is_empty());
    }
}
