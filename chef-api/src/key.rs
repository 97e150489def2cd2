//! RSA private keys (PEM, PKCS#1 or PKCS#8).
//!
//! CONTRACT STUB: the signing work (issue 2) replaces the bodies; the signatures are what the
//! client and the rest of the workspace code against.
#![allow(missing_docs, clippy::missing_errors_doc)]

use std::path::Path;

/// An RSA private key used to sign requests. Cheap to clone; `Debug` never prints key material.
#[derive(Clone)]
pub struct PrivateKey {
    _private: (),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("stub")]
    Stub,
}

impl PrivateKey {
    /// Reads a PEM private key file.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let _ = path;
        Err(KeyError::Stub)
    }
    /// Parses a PEM private key from bytes or a string.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let _ = pem;
        Err(KeyError::Stub)
    }
    /// The public half as a PEM `PUBLIC KEY` (SPKI), e.g. to create a user or client.
    pub fn public_key_pem(&self) -> String {
        String::new()
    }
    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        0
    }
}
