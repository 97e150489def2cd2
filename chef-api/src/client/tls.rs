//! TLS trust: the system roots plus `ssl_ca_file` plus every certificate in `trusted_certs_dir`.

use std::path::{Path, PathBuf};

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
fn certs_from_file(path: &Path, key: &str) -> Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| Error::Config {
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
pub(crate) fn extra_roots(opts: &TlsOptions) -> Result<Vec<reqwest::Certificate>> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
