//! RSA private keys (PEM, PKCS#1 or PKCS#8).
//!
//! Chef Infra Server and goiardi hand out 2048-bit PKCS#1 keys (`-----BEGIN RSA PRIVATE
//! KEY-----`); `openssl genpkey` writes PKCS#8 (`-----BEGIN PRIVATE KEY-----`). Both load here.
//! A loaded [`PrivateKey`] holds the key twice, parsed once for each signer: the `rsa` crate
//! does the raw "private encrypt" of protocols 1.0/1.1, aws-lc-rs the SHA-256 signatures of
//! 1.3. Neither `Debug` nor any error ever contains key material.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::der::pem::{self, LineEnding};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;

/// The smallest modulus accepted, in bits. Chef servers generate 2048-bit keys.
pub const MIN_KEY_BITS: usize = 2048;

/// An RSA private key used to sign requests. Cheap to clone (an `Arc` inside); `Debug` never
/// prints key material.
#[derive(Clone)]
pub struct PrivateKey {
    inner: Arc<Inner>,
}

struct Inner {
    /// For 1.0/1.1: PKCS#1 v1.5 type-1 padding without a DigestInfo.
    rsa: rsa::PrivateKey,
    /// For 1.3: RSASSA-PKCS1-v1_5 with SHA-256 (much faster than `rsa`).
    lc: aws_lc_rs::rsa::KeyPair,
    bits: usize,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(rsa {} bits, <redacted>)", self.inner.bits)
    }
}

/// Why a key could not be loaded. Messages name the file (when there is one) and say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file is missing or unreadable.
    #[error("cannot read private key file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No PEM block at all (e.g. a DER file, an empty file, or the wrong file).
    #[error("{}is not a PEM private key (expected a `-----BEGIN RSA PRIVATE KEY-----` or `-----BEGIN PRIVATE KEY-----` block)", origin(.path))]
    NotPem {
        /// The file, if the key came from one.
        path: Option<PathBuf>,
    },
    /// A PEM block is there but its base64 or framing is broken.
    #[error("{}has a malformed `{label}` PEM block: {detail}", origin(.path))]
    MalformedPem {
        /// The file, if the key came from one.
        path: Option<PathBuf>,
        /// The PEM label, e.g. `RSA PRIVATE KEY`.
        label: String,
        /// What the PEM decoder reported.
        detail: String,
    },
    /// The key is encrypted with a passphrase.
    #[error("{}holds an encrypted private key; decrypt it first, e.g. `openssl rsa -in KEY -out KEY.dec` (or `openssl pkey -in KEY -out KEY.dec`), and point the configuration at the decrypted file", origin(.path))]
    Encrypted {
        /// The file, if the key came from one.
        path: Option<PathBuf>,
    },
    /// A public key or certificate was given where a private key is needed.
    #[error("{}holds a {what} (`{label}`), not a private key; use the client's or user's private key (e.g. `client.pem`)", origin(.path))]
    NotPrivate {
        /// The file, if the key came from one.
        path: Option<PathBuf>,
        /// The PEM label found.
        label: String,
        /// "public key" or "certificate".
        what: &'static str,
    },
    /// A private key of another kind (EC, Ed25519, OpenSSH, ...): Chef only uses RSA.
    #[error("{}holds a `{label}` key; Chef servers only use RSA keys{hint}", origin(.path))]
    NotRsa {
        /// The file, if the key came from one.
        path: Option<PathBuf>,
        /// The PEM label, or the PKCS#8 algorithm.
        label: String,
        /// A conversion hint, may be empty.
        hint: &'static str,
    },
    /// The DER inside the PEM block is not a valid RSA private key.
    #[error("{}has a `{label}` block that is not a valid RSA private key: {detail}", origin(.path))]
    Invalid {
        /// The file, if the key came from one.
        path: Option<PathBuf>,
        /// The PEM label.
        label: String,
        /// What the parser reported (never key material).
        detail: String,
    },
    /// The key is too small to be safe (and too small for Chef's 1.0 signatures).
    #[error("{}holds a {bits}-bit RSA key; at least {MIN_KEY_BITS} bits are required (regenerate it, e.g. `knife client key regenerate`)", origin(.path))]
    TooSmall {
        /// The file, if the key came from one.
        path: Option<PathBuf>,
        /// The key's modulus size.
        bits: usize,
    },
}

fn origin(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("{} ", p.display()),
        None => "the key data ".to_owned(),
    }
}

impl PrivateKey {
    /// Reads a PEM private key file (PKCS#1 or PKCS#8, unencrypted, RSA, ≥ 2048 bits).
    ///
    /// # Errors
    /// [`KeyError::Read`] if the file cannot be read, otherwise as [`PrivateKey::from_pem`],
    /// with the path in the error.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        parse(&bytes, Some(path))
    }

    /// Parses a PEM private key from bytes or a string (PKCS#1 or PKCS#8, unencrypted, RSA,
    /// ≥ 2048 bits). Text around the block, indentation and CRLF line ends are tolerated.
    ///
    /// # Errors
    /// A [`KeyError`] saying what was found instead of a usable private key.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        parse(pem.as_ref(), None)
    }

    /// The public half as a PEM `PUBLIC KEY` (SPKI), e.g. to create a user or client.
    pub fn public_key_pem(&self) -> String {
        self.inner
            .rsa
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("encoding an RSA public key as SPKI PEM cannot fail")
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.inner.bits
    }

    /// Modulus size in bytes (the length of a signature).
    pub fn size(&self) -> usize {
        self.inner.bits.div_ceil(8)
    }

    pub(crate) fn rsa(&self) -> &rsa::PrivateKey {
        &self.inner.rsa
    }

    pub(crate) fn aws_lc(&self) -> &aws_lc_rs::rsa::KeyPair {
        &self.inner.lc
    }
}

/// One `-----BEGIN label-----` … `-----END label-----` block, re-emitted in canonical form.
struct Block {
    label: String,
    headers: bool,
    canonical: String,
}

/// Finds the PEM blocks in `text`, trimming indentation, blank lines and CR characters so that
/// pasted or heredoc-indented keys load; the strict RFC 7468 decoder then checks each block.
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for line in text.lines().map(str::trim) {
        match current.as_mut() {
            None => {
                if let Some(label) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    current = Some(Block {
                        label: label.to_owned(),
                        headers: false,
                        canonical: format!("{line}\n"),
                    });
                }
            }
            Some(block) => {
                if line.is_empty() {
                    continue;
                }
                if line.contains(':') && !line.starts_with("-----") {
                    // RFC 1421 headers, e.g. `Proc-Type: 4,ENCRYPTED` of legacy OpenSSL keys.
                    block.headers = true;
                    continue;
                }
                block.canonical.push_str(line);
                block.canonical.push('\n');
                if line.starts_with("-----END ") {
                    out.extend(current.take());
                }
            }
        }
    }
    out
}

fn parse(bytes: &[u8], path: Option<&Path>) -> Result<PrivateKey, KeyError> {
    let path = || path.map(Path::to_owned);
    let text = String::from_utf8_lossy(bytes);
    let blocks = blocks(&text);
    // Prefer a private key block (a file may hold a key and its certificate).
    let Some(block) = blocks
        .iter()
        .find(|b| b.label.contains("PRIVATE KEY"))
        .or_else(|| blocks.first())
    else {
        return Err(KeyError::NotPem { path: path() });
    };
    let label = block.label.as_str();
    let not_rsa = |hint| KeyError::NotRsa {
        path: path(),
        label: label.to_owned(),
        hint,
    };
    match label {
        "RSA PRIVATE KEY" | "PRIVATE KEY" if block.headers => {
            return Err(KeyError::Encrypted { path: path() });
        }
        "RSA PRIVATE KEY" | "PRIVATE KEY" => {}
        "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted { path: path() }),
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "SSH2 PUBLIC KEY" => {
            return Err(KeyError::NotPrivate {
                path: path(),
                label: label.to_owned(),
                what: "public key",
            });
        }
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" | "CERTIFICATE REQUEST" => {
            return Err(KeyError::NotPrivate {
                path: path(),
                label: label.to_owned(),
                what: "certificate",
            });
        }
        "OPENSSH PRIVATE KEY" => {
            return Err(not_rsa(
                " in PEM form; convert an OpenSSH RSA key with `ssh-keygen -p -m PEM -f KEY` (it rewrites the file)",
            ));
        }
        _ => return Err(not_rsa("")),
    }
    let malformed = |detail: String| KeyError::MalformedPem {
        path: path(),
        label: label.to_owned(),
        detail,
    };
    let (_, der) =
        pem::decode_vec(block.canonical.as_bytes()).map_err(|e| malformed(e.to_string()))?;
    let der = rsa::pkcs8::der::zeroize::Zeroizing::new(der);
    let invalid = |detail: String| KeyError::Invalid {
        path: path(),
        label: label.to_owned(),
        detail,
    };
    let rsa_key = if label == "RSA PRIVATE KEY" {
        rsa::PrivateKey::from_pkcs1_der(&der).map_err(|e| invalid(e.to_string()))?
    } else {
        match rsa::PrivateKey::from_pkcs8_der(&der) {
            Ok(k) => k,
            Err(rsa::pkcs8::Error::PublicKey(rsa::pkcs8::spki::Error::OidUnknown { .. })) => {
                return Err(not_rsa(
                    " (the PKCS#8 key's algorithm is not rsaEncryption)",
                ));
            }
            Err(e) => return Err(invalid(e.to_string())),
        }
    };
    let bits = rsa_key.n().bit_width() as usize;
    if bits < MIN_KEY_BITS {
        return Err(KeyError::TooSmall { path: path(), bits });
    }
    let lc = if label == "RSA PRIVATE KEY" {
        aws_lc_rs::rsa::KeyPair::from_der(&der)
    } else {
        aws_lc_rs::rsa::KeyPair::from_pkcs8(&der)
    }
    .map_err(|e| invalid(format!("rejected by aws-lc: {e}")))?;
    Ok(PrivateKey {
        inner: Arc::new(Inner {
            rsa: rsa_key,
            lc,
            bits,
        }),
    })
}
