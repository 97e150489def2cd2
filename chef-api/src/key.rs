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
    /// Where the key came from, for error messages (never the key itself).
    origin: KeyOrigin,
}

struct Inner {
    /// For 1.0/1.1: PKCS#1 v1.5 type-1 padding without a DigestInfo.
    rsa: rsa::PrivateKey,
    /// For 1.3: RSASSA-PKCS1-v1_5 with SHA-256 (much faster than `rsa`).
    lc: aws_lc_rs::rsa::KeyPair,
    bits: usize,
}

/// Where a [`PrivateKey`] came from: what a 401 names, as knife's "with key PATH" does. Never
/// holds key material.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyOrigin {
    /// Read from this PEM file.
    File(PathBuf),
    /// Given as bytes (an injected key, a secret store, Python's `key_pem=`).
    Bytes,
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Bytes => f.write_str("key given as bytes"),
        }
    }
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

    /// Where the key came from: its file for [`PrivateKey::from_pem_file`], otherwise
    /// [`KeyOrigin::Bytes`] unless [`PrivateKey::with_origin`] said otherwise.
    pub fn origin(&self) -> &KeyOrigin {
        &self.origin
    }

    /// The same key, named as coming from `origin` (for callers that read the file
    /// themselves). The key material is shared, not copied.
    #[must_use]
    pub fn with_origin(self, origin: KeyOrigin) -> Self {
        Self { origin, ..self }
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
    // `trim` also drops no-break spaces; a byte-order mark is not whitespace, so strip it too.
    for line in text
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim())
    {
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
        origin: path().map_or(KeyOrigin::Bytes, KeyOrigin::File),
    })
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const SPEC_KEY: &str = include_str!("../../tests/data/keys/mixlib-spec.pem");
    const SPEC_PUB: &str = include_str!("../../tests/data/keys/mixlib-spec.pub.pem");

    /// Runs `openssl ARGS` in `dir` and returns the file it wrote as `out`.
    fn openssl(dir: &Path, args: &[&str], out: &str) -> Vec<u8> {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("the openssl CLI is needed for the key tests (scripts/setup installs it)");
        assert!(status.success(), "openssl {args:?} failed");
        std::fs::read(dir.join(out)).unwrap()
    }

    fn spec_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spec.pem"), SPEC_KEY).unwrap();
        dir
    }

    #[test]
    fn loads_pkcs1_and_pkcs8_to_the_same_key() {
        let dir = spec_dir();
        let pkcs8 = openssl(
            dir.path(),
            &[
                "pkcs8", "-topk8", "-nocrypt", "-in", "spec.pem", "-out", "p8.pem",
            ],
            "p8.pem",
        );
        assert!(String::from_utf8_lossy(&pkcs8).starts_with("-----BEGIN PRIVATE KEY-----"));
        let a = PrivateKey::from_pem(SPEC_KEY).unwrap();
        let b = PrivateKey::from_pem(&pkcs8).unwrap();
        let c = PrivateKey::from_pem_file(dir.path().join("spec.pem")).unwrap();
        assert_eq!(a.bits(), 2048);
        assert_eq!(a.size(), 256);
        assert_eq!(a.public_key_pem(), SPEC_PUB);
        assert_eq!(b.public_key_pem(), SPEC_PUB);
        assert_eq!(c.public_key_pem(), SPEC_PUB);
    }

    #[test]
    fn tolerates_pasted_keys() {
        // Heredoc indentation, CRLF, blank lines and text around the block.
        let indented: String = SPEC_KEY.lines().map(|l| format!("    {l}\r\n")).collect();
        let pasted = format!("\u{feff}Here is the key:\n\n{indented}\n\nthanks\n");
        let key = PrivateKey::from_pem(pasted).unwrap();
        assert_eq!(key.public_key_pem(), SPEC_PUB);
        // Copied from a web page: a byte-order mark and no-break spaces as indentation.
        let web: String = SPEC_KEY
            .lines()
            .map(|l| format!("\u{a0}\u{a0}{l}\n"))
            .collect();
        let key = PrivateKey::from_pem(format!("\u{feff}{web}")).unwrap();
        assert_eq!(key.public_key_pem(), SPEC_PUB);
        // A certificate before the key in the same file.
        let dir = spec_dir();
        let cert = openssl(
            dir.path(),
            &[
                "req", "-x509", "-new", "-key", "spec.pem", "-subj", "/CN=t", "-days", "1", "-out",
                "c.pem",
            ],
            "c.pem",
        );
        let both = [cert.as_slice(), SPEC_KEY.as_bytes()].concat();
        assert_eq!(
            PrivateKey::from_pem(both).unwrap().public_key_pem(),
            SPEC_PUB
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = PrivateKey::from_pem_file("/nonexistent/dir/client.pem").unwrap_err();
        assert!(matches!(err, KeyError::Read { .. }), "{err:?}");
        assert!(
            err.to_string().contains("/nonexistent/dir/client.pem"),
            "{err}"
        );
    }

    #[test]
    fn not_pem() {
        for data in [&b""[..], b"hello", b"\x30\x82\x04\xa4\x02\x01\x00"] {
            let err = PrivateKey::from_pem(data).unwrap_err();
            assert!(matches!(err, KeyError::NotPem { path: None }), "{err:?}");
            assert!(err.to_string().contains("not a PEM private key"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("knife.rb");
        std::fs::write(&path, "node_name 'x'\n").unwrap();
        let err = PrivateKey::from_pem_file(&path).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        let broken = SPEC_KEY.replace("MIIEpAIBAAKCAQEA", "MIIEp*IBAAKCAQEA");
        let err = PrivateKey::from_pem(broken).unwrap_err();
        assert!(matches!(err, KeyError::MalformedPem { .. }), "{err:?}");
        let truncated: String = SPEC_KEY
            .lines()
            .filter(|l| !l.starts_with("mDi1"))
            .collect::<Vec<_>>()
            .join("\n");
        let err = PrivateKey::from_pem(truncated).unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::MalformedPem { .. } | KeyError::Invalid { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn encrypted_keys_say_how_to_decrypt() {
        let dir = spec_dir();
        let pkcs8 = openssl(
            dir.path(),
            &[
                "pkcs8", "-topk8", "-in", "spec.pem", "-passout", "pass:pw", "-out", "e8.pem",
            ],
            "e8.pem",
        );
        let legacy = openssl(
            dir.path(),
            &[
                "rsa",
                "-traditional",
                "-aes256",
                "-in",
                "spec.pem",
                "-passout",
                "pass:pw",
                "-out",
                "e1.pem",
            ],
            "e1.pem",
        );
        assert!(String::from_utf8_lossy(&legacy).contains("Proc-Type: 4,ENCRYPTED"));
        for data in [pkcs8, legacy] {
            let err = PrivateKey::from_pem(data).unwrap_err();
            assert!(matches!(err, KeyError::Encrypted { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains("openssl rsa -in KEY -out KEY.dec"), "{msg}");
            assert!(msg.contains("openssl pkey"), "{msg}");
        }
        let err = PrivateKey::from_pem_file(dir.path().join("e8.pem")).unwrap_err();
        assert!(err.to_string().contains("e8.pem"), "{err}");
    }

    #[test]
    fn public_keys_and_certificates_are_not_private_keys() {
        let dir = spec_dir();
        let rsa_pub = openssl(
            dir.path(),
            &[
                "rsa",
                "-in",
                "spec.pem",
                "-RSAPublicKey_out",
                "-out",
                "rp.pem",
            ],
            "rp.pem",
        );
        let cert = openssl(
            dir.path(),
            &[
                "req", "-x509", "-new", "-key", "spec.pem", "-subj", "/CN=t", "-days", "1", "-out",
                "c.pem",
            ],
            "c.pem",
        );
        for (data, what) in [
            (SPEC_PUB.as_bytes().to_vec(), "public key"),
            (rsa_pub, "public key"),
            (cert, "certificate"),
        ] {
            let err = PrivateKey::from_pem(data).unwrap_err();
            assert!(matches!(err, KeyError::NotPrivate { .. }), "{err:?}");
            assert!(
                err.to_string().contains(&format!("holds a {what}")),
                "{err}"
            );
        }
    }

    #[test]
    fn small_and_non_rsa_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let small = openssl(
            dir.path(),
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:1024",
                "-out",
                "s.pem",
            ],
            "s.pem",
        );
        let err = PrivateKey::from_pem(&small).unwrap_err();
        assert!(
            matches!(err, KeyError::TooSmall { bits: 1024, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("at least 2048 bits"), "{err}");
        let ec = openssl(
            dir.path(),
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "ec.pem",
            ],
            "ec.pem",
        );
        let err = PrivateKey::from_pem(ec).unwrap_err();
        assert!(matches!(err, KeyError::NotRsa { .. }), "{err:?}");
        let ossh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        let err = PrivateKey::from_pem(ossh).unwrap_err();
        assert!(err.to_string().contains("ssh-keygen -p -m PEM"), "{err}");
    }

    #[test]
    fn debug_and_errors_never_show_key_material() {
        let key = PrivateKey::from_pem(SPEC_KEY).unwrap();
        let clone = key.clone();
        let debug = format!("{clone:?} {:#?}", Some(&key));
        assert!(debug.contains("<redacted>"), "{debug}");
        // No base64 line of the PEM and no long hex/decimal run (a modulus or exponent).
        for line in SPEC_KEY.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!debug.contains(&line[..16]), "{debug}");
        }
        assert_eq!(format!("{key:?}"), "PrivateKey(rsa 2048 bits, <redacted>)");
        // Neither does a struct that holds one.
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Server {
            key: PrivateKey,
        }
        let server = format!("{:?}", Server { key });
        assert_eq!(
            server,
            "Server { key: PrivateKey(rsa 2048 bits, <redacted>) }"
        );
        let broken = SPEC_KEY.replace("MIIEpAIBAAKCAQEA", "MIIEpAIBAAKCAQEB");
        if let Err(err) = PrivateKey::from_pem(broken) {
            let text = format!("{err} {err:?}");
            for line in SPEC_KEY.lines().filter(|l| !l.starts_with("-----")) {
                assert!(!text.contains(&line[..16]), "{text}");
            }
        }
    }
}
