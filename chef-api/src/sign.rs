//! Request signing, protocol versions 1.0, 1.1 and 1.3.
//!
//! A pure function of its inputs ([`sign_request`] with [`RequestToSign`]); the caller supplies
//! the time, so fixed inputs give fixed headers. Byte-for-byte what Chef's own signer
//! (mixlib-authentication) produces; `tests/signing_oracle.rs` has mixlib verify thousands of
//! our signatures.
//!
//! * 1.0: canonical text with the SHA-1-hashed path, signed with raw PKCS#1 v1.5 type-1
//!   padding (no DigestInfo; OpenSSL's `RSA_private_encrypt`). Limited to short user ids.
//! * 1.1: as 1.0 with the user id hashed too. What knife and chef-client send by default.
//! * 1.3: canonical text in clear, RSASSA-PKCS1-v1_5 with SHA-256 (via aws-lc-rs).

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use crate::key::PrivateKey;

/// Length of each `X-Ops-Authorization-N` header value (the last one may be shorter).
pub const AUTHORIZATION_LINE_LEN: usize = 60;

/// Chef's signing protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignVersion {
    /// SHA-1, user id in clear; fails for user ids longer than ~92 bytes on 2048-bit keys.
    V1_0,
    /// SHA-1, user id hashed (knife's and chef-client's default).
    V1_1,
    /// SHA-256 with a standard PKCS#1 v1.5 signature; our default.
    #[default]
    V1_3,
}

impl SignVersion {
    /// All versions this crate can sign with.
    pub const ALL: [SignVersion; 3] = [SignVersion::V1_0, SignVersion::V1_1, SignVersion::V1_3];

    /// The version string, `"1.0"`, `"1.1"` or `"1.3"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignVersion::V1_0 => "1.0",
            SignVersion::V1_1 => "1.1",
            SignVersion::V1_3 => "1.3",
        }
    }

    /// The exact `X-Ops-Sign` header value mixlib-authentication sends for this version.
    pub fn x_ops_sign(self) -> &'static str {
        match self {
            SignVersion::V1_0 => "algorithm=sha1;version=1.0;",
            SignVersion::V1_1 => "algorithm=sha1;version=1.1;",
            SignVersion::V1_3 => "algorithm=sha256;version=1.3;",
        }
    }
}

impl fmt::Display for SignVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignVersion {
    type Err = SignError;

    /// Parses `"1.0"`, `"1.1"` or `"1.3"` (surrounding whitespace ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "1.0" => Ok(SignVersion::V1_0),
            "1.1" => Ok(SignVersion::V1_1),
            "1.3" => Ok(SignVersion::V1_3),
            other => Err(SignError::UnsupportedVersion {
                given: other.to_owned(),
            }),
        }
    }
}

impl serde::Serialize for SignVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SignVersion {
    /// Accepts the string forms, and also the numbers `1.0`, `1.1`, `1.3` (YAML and JSON
    /// users write `authentication_protocol_version: 1.3` unquoted).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SignVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Chef signing protocol version: \"1.0\", \"1.1\" or \"1.3\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SignVersion, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<SignVersion, E> {
                format!("{v:?}").parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Everything that goes into a signature.
#[derive(Debug, Clone)]
pub struct RequestToSign<'a> {
    /// HTTP method (any case; upper-cased when signing).
    pub method: &'a str,
    /// URL path as sent (canonicalised when signing; any query string is dropped).
    pub path: &'a str,
    /// `X-Ops-Content-Hash`, from [`content_hash`] or [`ContentHasher`] for this version.
    pub content_hash: String,
    /// Client or user name.
    pub user_id: &'a str,
    /// Signing time (second precision, UTC).
    pub timestamp: SystemTime,
    /// The `X-Ops-Server-API-Version` the request carries (part of the 1.3 canonical text).
    pub server_api_version: u32,
    /// Protocol version.
    pub version: SignVersion,
}

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// A version string other than 1.0, 1.1 or 1.3.
    #[error(
        "unsupported Chef signing protocol version {given:?}: use \"1.0\", \"1.1\" or \"1.3\" (1.2 is not implemented by Chef's own clients)"
    )]
    UnsupportedVersion {
        /// What was given.
        given: String,
    },
    /// Protocol 1.0 signs the canonical text itself, which must fit in the key.
    #[error(
        "cannot sign for user id {user_id:?} with signing protocol 1.0: the canonical request is {len} bytes but a {bits}-bit key can sign at most {max}; use signing protocol 1.1 or 1.3 (knife.rb: authentication_protocol_version \"1.3\")"
    )]
    CanonicalTooLong {
        /// The user id (its length is the usual cause).
        user_id: String,
        /// Canonical text length in bytes.
        len: usize,
        /// Largest signable length for this key.
        max: usize,
        /// Key size in bits.
        bits: usize,
    },
    /// A field holds a character that would corrupt the canonical text or the headers.
    #[error("cannot sign a request whose {field} {value:?} contains a control character")]
    InvalidField {
        /// `"method"`, `"path"` or `"user id"`.
        field: &'static str,
        /// The offending value.
        value: String,
    },
    /// The timestamp is before 1970.
    #[error("cannot sign with a timestamp before 1970-01-01T00:00:00Z (is the clock set?)")]
    TimestampBeforeEpoch,
    /// The RSA operation itself failed (should not happen with a loaded key).
    #[error("RSA signing with protocol {version} failed: {detail}")]
    Rsa {
        /// The protocol version.
        version: SignVersion,
        /// What the crypto library reported.
        detail: String,
    },
}

/// base64 of SHA-1 (1.0/1.1) or SHA-256 (1.3) of `body`.
pub fn content_hash(version: SignVersion, body: &[u8]) -> String {
    let mut h = ContentHasher::new(version);
    h.update(body);
    h.finish()
}

/// Streaming content hash for bodies read from disk.
#[derive(Debug, Clone)]
pub struct ContentHasher {
    state: HashState,
}

#[derive(Debug, Clone)]
enum HashState {
    Sha1(Sha1),
    Sha256(Sha256),
}

impl ContentHasher {
    /// A hasher for the digest `version` uses (SHA-1 for 1.0/1.1, SHA-256 for 1.3).
    pub fn new(version: SignVersion) -> Self {
        let state = match version {
            SignVersion::V1_0 | SignVersion::V1_1 => HashState::Sha1(Sha1::new()),
            SignVersion::V1_3 => HashState::Sha256(Sha256::new()),
        };
        Self { state }
    }

    /// Feeds the next chunk of the body.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            HashState::Sha1(h) => h.update(data),
            HashState::Sha256(h) => h.update(data),
        }
    }

    /// The `X-Ops-Content-Hash` value: standard padded base64 of the digest.
    pub fn finish(self) -> String {
        match self.state {
            HashState::Sha1(h) => BASE64.encode(h.finalize()),
            HashState::Sha256(h) => BASE64.encode(h.finalize()),
        }
    }
}

/// Canonical path: query dropped, runs of `/` collapsed, one trailing `/` dropped.
///
/// `/` stays `/`; an empty path becomes `/` (what an HTTP client sends for it). Everything
/// else is kept byte for byte, so pass the path exactly as it goes on the wire.
pub fn canonical_path(path: &str) -> String {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let mut out = String::with_capacity(path.len().max(1));
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `X-Ops-Timestamp` form of `t`: UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ`.
///
/// # Errors
/// [`SignError::TimestampBeforeEpoch`] for times before 1970.
pub fn format_timestamp(t: SystemTime) -> Result<String, SignError> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| SignError::TimestampBeforeEpoch)?
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    Ok(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

fn check_field(field: &'static str, value: &str) -> Result<(), SignError> {
    if value.chars().any(char::is_control) {
        return Err(SignError::InvalidField {
            field,
            value: value.to_owned(),
        });
    }
    Ok(())
}

fn sha1_base64(data: &[u8]) -> String {
    BASE64.encode(Sha1::digest(data))
}

/// The canonical text that gets signed (lines joined by `\n`, no trailing newline), with
/// the timestamp already formatted. Public for debugging 401s: compare it with the server's
/// log of the expected block.
///
/// # Errors
/// [`SignError::InvalidField`] for control characters in method, path or user id, and
/// [`SignError::TimestampBeforeEpoch`].
pub fn canonical_request(req: &RequestToSign<'_>) -> Result<String, SignError> {
    check_field("method", req.method)?;
    check_field("path", req.path)?;
    check_field("user id", req.user_id)?;
    let ts = format_timestamp(req.timestamp)?;
    Ok(canonical_with_timestamp(req, &ts))
}

fn canonical_with_timestamp(req: &RequestToSign<'_>, ts: &str) -> String {
    let method = req.method.to_ascii_uppercase();
    let path = canonical_path(req.path);
    let hash = &req.content_hash;
    match req.version {
        SignVersion::V1_0 | SignVersion::V1_1 => {
            let user = if req.version == SignVersion::V1_1 {
                sha1_base64(req.user_id.as_bytes())
            } else {
                req.user_id.to_owned()
            };
            format!(
                "Method:{method}\nHashed Path:{}\nX-Ops-Content-Hash:{hash}\nX-Ops-Timestamp:{ts}\nX-Ops-UserId:{user}",
                sha1_base64(path.as_bytes())
            )
        }
        SignVersion::V1_3 => format!(
            "Method:{method}\nPath:{path}\nX-Ops-Content-Hash:{hash}\nX-Ops-Sign:version=1.3\nX-Ops-Timestamp:{ts}\nX-Ops-UserId:{}\nX-Ops-Server-API-Version:{}",
            req.user_id, req.server_api_version
        ),
    }
}

/// Raw signature bytes over `canonical` for `version`.
fn raw_signature(
    key: &PrivateKey,
    version: SignVersion,
    canonical: &str,
    user_id: &str,
) -> Result<Vec<u8>, SignError> {
    let rsa_err = |detail: String| SignError::Rsa { version, detail };
    match version {
        SignVersion::V1_0 | SignVersion::V1_1 => {
            let max = key.size() - 11;
            if canonical.len() > max {
                return Err(SignError::CanonicalTooLong {
                    user_id: user_id.to_owned(),
                    len: canonical.len(),
                    max,
                    bits: key.bits(),
                });
            }
            key.rsa()
                .sign(rsa::Pkcs1v15Sign::new_unprefixed(), canonical.as_bytes())
                .map_err(|e| rsa_err(e.to_string()))
        }
        SignVersion::V1_3 => {
            let lc = key.aws_lc();
            let mut sig = vec![0; lc.public_modulus_len()];
            lc.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                canonical.as_bytes(),
                &mut sig,
            )
            .map_err(|e| rsa_err(e.to_string()))?;
            Ok(sig)
        }
    }
}

/// Seeds the random generator that protocol-1.3 signatures draw from (RSA blinding), if it is
/// not seeded yet; cheap once it is.
///
/// AWS-LC seeds it on its first use from CPU-jitter entropy: ≈ 40 ms of CPU once per process
/// (measured with `perf` as most of the time before a push's first request left the client),
/// which the first signature would otherwise wait for. Engines call it on a blocking thread as
/// they start, so that it overlaps with reading the configuration, the locks and the keys.
pub fn seed_random_generator() {
    let mut byte = [0u8; 1];
    // A generator that cannot be seeded fails the first signature too, which reports it.
    let _ = aws_lc_rs::rand::fill(&mut byte);
}

/// Splits a base64 signature into `X-Ops-Authorization-1..N` headers of 60 characters.
pub fn authorization_headers(signature_base64: &str) -> Vec<(String, String)> {
    signature_base64
        .as_bytes()
        .chunks(AUTHORIZATION_LINE_LEN)
        .enumerate()
        .map(|(i, chunk)| {
            (
                format!("X-Ops-Authorization-{}", i + 1),
                // base64 is ASCII, so every chunk boundary is a char boundary.
                String::from_utf8_lossy(chunk).into_owned(),
            )
        })
        .collect()
}

/// Signs a request: returns the `X-Ops-*` headers (`X-Ops-Sign`, `X-Ops-Userid`,
/// `X-Ops-Timestamp`, `X-Ops-Content-Hash`, `X-Ops-Authorization-1..N`) as (name, value) pairs.
/// The caller adds `X-Ops-Server-API-Version` and `X-Chef-Version`.
///
/// # Errors
/// [`SignError::CanonicalTooLong`] for 1.0 with a long user id, [`SignError::InvalidField`]
/// for control characters, [`SignError::TimestampBeforeEpoch`], and (not expected)
/// [`SignError::Rsa`].
pub fn sign_request(
    key: &PrivateKey,
    req: &RequestToSign<'_>,
) -> Result<Vec<(String, String)>, SignError> {
    check_field("method", req.method)?;
    check_field("path", req.path)?;
    check_field("user id", req.user_id)?;
    let ts = format_timestamp(req.timestamp)?;
    let canonical = canonical_with_timestamp(req, &ts);
    let signature = raw_signature(key, req.version, &canonical, req.user_id)?;
    let mut headers = vec![
        ("X-Ops-Sign".to_owned(), req.version.x_ops_sign().to_owned()),
        ("X-Ops-Userid".to_owned(), req.user_id.to_owned()),
        ("X-Ops-Timestamp".to_owned(), ts),
        ("X-Ops-Content-Hash".to_owned(), req.content_hash.clone()),
    ];
    headers.extend(authorization_headers(&BASE64.encode(signature)));
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SPEC_KEY: &str = include_str!("../../tests/data/keys/mixlib-spec.pem");
    /// 2009-01-01T12:00:00Z, the mixlib spec's timestamp.
    const SPEC_TIME: u64 = 1_230_811_200;

    // The expected `X-Ops-Authorization-1..6` lines of the mixlib-authentication spec
    // (`X_OPS_AUTHORIZATION_LINES_V1_0`, `X_OPS_AUTHORIZATION_LINES`,
    // `X_OPS_AUTHORIZATION_LINES_V1_3_SHA256`).
    const V1_0_LINES: [&str; 6] = [
        "jVHrNniWzpbez/eGWjFnO6lINRIuKOg40ZTIQudcFe47Z9e/HvrszfVXlKG4",
        "NMzYZgyooSvU85qkIUmKuCqgG2AIlvYa2Q/2ctrMhoaHhLOCWWoqYNMaEqPc",
        "3tKHE+CfvP+WuPdWk4jv4wpIkAz6ZLxToxcGhXmZbXpk56YTmqgBW2cbbw4O",
        "IWPZDHSiPcw//AYNgW1CCDptt+UFuaFYbtqZegcBd2n/jzcWODA7zL4KWEUy",
        "9q4rlh/+1tBReg60QdsmDRsw/cdO1GZrKtuCwbuD4+nbRdVBKv72rqHX9cu0",
        "utju9jzczCyB+sSAQWrxSsXB/b8vV2qs0l4VD2ML+w==",
    ];
    const V1_1_LINES: [&str; 6] = [
        "UfZD9dRz6rFu6LbP5Mo1oNHcWYxpNIcUfFCffJS1FQa0GtfU/vkt3/O5HuCM",
        "1wIFl/U0f5faH9EWpXWY5NwKR031Myxcabw4t4ZLO69CIh/3qx1XnjcZvt2w",
        "c2R9bx/43IWA/r8w8Q6decuu0f6ZlNheJeJhaYPI8piX/aH+uHBH8zTACZu8",
        "vMnl5MF3/OIlsZc8cemq6eKYstp8a8KYq9OmkB5IXIX6qVMJHA6fRvQEB/7j",
        "281Q7oI/O+lE8AmVyBbwruPb7Mp6s4839eYiOdjbDwFjYtbS3XgAjrHlaD7W",
        "FDlbAG7H8Dmvo+wBxmtNkszhzbBnEYtuwQqT8nM/8A==",
    ];
    const V1_3_LINES: [&str; 6] = [
        "FZOmXAyOBAZQV/uw188iBljBJXOm+m8xQ/8KTGLkgGwZNcRFxk1m953XjE3W",
        "VGy1dFT76KeaNWmPCNtDmprfH2na5UZFtfLIKrPv7xm80V+lzEzTd9WBwsfP",
        "42dZ9N+V9I5SVfcL/lWrrlpdybfceJC5jOcP5tzfJXWUITwb6Z3Erg3DU3Uh",
        "H9h9E0qWlYGqmiNCVrBnpe6Si1gU/Jl+rXlRSNbLJ4GlArAPuL976iTYJTzE",
        "MmbLUIm3JRYi00Yb01IUCCKdI90vUq1HHNtlTEu93YZfQaJwRxXlGkCNwIJe",
        "fy49QzaCIEu1XiOx5Jn+4GmkrZch/RrK9VzQWXgs+w==",
    ];

    fn spec_key() -> PrivateKey {
        PrivateKey::from_pem(SPEC_KEY).unwrap()
    }

    fn spec_request(version: SignVersion, user_id: &str) -> RequestToSign<'_> {
        RequestToSign {
            method: "post",
            path: "/organizations/clownco",
            content_hash: content_hash(version, b"Spec Body"),
            user_id,
            timestamp: UNIX_EPOCH + Duration::from_secs(SPEC_TIME),
            server_api_version: 1,
            version,
        }
    }

    fn header<'h>(headers: &'h [(String, String)], name: &str) -> &'h str {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no header {name} in {headers:?}"))
    }

    fn check_vector(version: SignVersion, lines: [&str; 6], sign: &str, hash: &str) {
        let headers = sign_request(&spec_key(), &spec_request(version, "spec-user")).unwrap();
        let mut expected = vec![
            ("X-Ops-Sign".to_owned(), sign.to_owned()),
            ("X-Ops-Userid".to_owned(), "spec-user".to_owned()),
            (
                "X-Ops-Timestamp".to_owned(),
                "2009-01-01T12:00:00Z".to_owned(),
            ),
            ("X-Ops-Content-Hash".to_owned(), hash.to_owned()),
        ];
        for (i, line) in lines.iter().enumerate() {
            expected.push((format!("X-Ops-Authorization-{}", i + 1), (*line).to_owned()));
        }
        assert_eq!(headers, expected);
    }

    #[test]
    fn mixlib_vector_1_0() {
        check_vector(
            SignVersion::V1_0,
            V1_0_LINES,
            "algorithm=sha1;version=1.0;",
            "DFteJZPVv6WKdQmMqZUQUumUyRs=",
        );
    }

    #[test]
    fn mixlib_vector_1_1() {
        check_vector(
            SignVersion::V1_1,
            V1_1_LINES,
            "algorithm=sha1;version=1.1;",
            "DFteJZPVv6WKdQmMqZUQUumUyRs=",
        );
    }

    #[test]
    fn mixlib_vector_1_3() {
        check_vector(
            SignVersion::V1_3,
            V1_3_LINES,
            "algorithm=sha256;version=1.3;",
            "hDlKNZhIhgso3Fs0S0pZwJ0xyBWtR1RBaeHs1DrzOho=",
        );
    }

    #[test]
    fn mixlib_canonical_texts() {
        let v10 = canonical_request(&spec_request(SignVersion::V1_0, "spec-user")).unwrap();
        assert_eq!(
            v10,
            "Method:POST\nHashed Path:YtBWDn1blGGuFIuKksdwXzHU9oE=\n\
             X-Ops-Content-Hash:DFteJZPVv6WKdQmMqZUQUumUyRs=\n\
             X-Ops-Timestamp:2009-01-01T12:00:00Z\nX-Ops-UserId:spec-user"
        );
        let v11 = canonical_request(&spec_request(SignVersion::V1_1, "spec-user")).unwrap();
        let hashed_user = sha1_base64(b"spec-user");
        assert_eq!(
            v11,
            v10.replace("UserId:spec-user", &format!("UserId:{hashed_user}"))
        );
        assert_eq!(
            v11.len(),
            179,
            "1.1 canonical text has a fixed length for POST"
        );
        let v13 = canonical_request(&spec_request(SignVersion::V1_3, "spec-user")).unwrap();
        assert_eq!(
            v13,
            "Method:POST\nPath:/organizations/clownco\n\
             X-Ops-Content-Hash:hDlKNZhIhgso3Fs0S0pZwJ0xyBWtR1RBaeHs1DrzOho=\n\
             X-Ops-Sign:version=1.3\nX-Ops-Timestamp:2009-01-01T12:00:00Z\n\
             X-Ops-UserId:spec-user\nX-Ops-Server-API-Version:1"
        );
    }

    #[test]
    fn signing_is_deterministic_and_depends_on_every_input() {
        let key = spec_key();
        for version in SignVersion::ALL {
            let base = spec_request(version, "spec-user");
            let sig = |r: &RequestToSign<'_>| {
                let h = sign_request(&key, r).unwrap();
                h[4..].iter().map(|(_, v)| v.clone()).collect::<String>()
            };
            let reference = sig(&base);
            assert_eq!(reference, sig(&base.clone()));
            let changed = [
                RequestToSign {
                    method: "PUT",
                    ..base.clone()
                },
                RequestToSign {
                    path: "/organizations/clowncoo",
                    ..base.clone()
                },
                RequestToSign {
                    user_id: "spec-user2",
                    ..base.clone()
                },
                RequestToSign {
                    content_hash: content_hash(version, b"x"),
                    ..base.clone()
                },
                RequestToSign {
                    timestamp: base.timestamp + Duration::from_secs(1),
                    ..base.clone()
                },
            ];
            for r in &changed {
                assert_ne!(reference, sig(r), "{version}: {r:?}");
            }
            let api = RequestToSign {
                server_api_version: 0,
                ..base.clone()
            };
            assert_eq!(
                version == SignVersion::V1_3,
                reference != sig(&api),
                "only 1.3 signs the server API version"
            );
            let same_path = RequestToSign {
                path: "//organizations//clownco/?x=1",
                ..base.clone()
            };
            assert_eq!(reference, sig(&same_path), "{version}: canonical path");
        }
    }

    #[test]
    fn v1_0_rejects_long_user_ids_and_points_to_1_1() {
        let key = spec_key();
        // 147 + len("POST") + 92 = 243 ≤ 245: still fits.
        let ok = "u".repeat(92);
        assert!(sign_request(&key, &spec_request(SignVersion::V1_0, &ok)).is_ok());
        let long = "u".repeat(95);
        let err = sign_request(&key, &spec_request(SignVersion::V1_0, &long)).unwrap_err();
        assert!(
            matches!(
                err,
                SignError::CanonicalTooLong {
                    len: 246,
                    max: 245,
                    bits: 2048,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("1.1 or 1.3") && msg.contains(&long), "{msg}");
        let long = "u".repeat(300);
        for version in [SignVersion::V1_1, SignVersion::V1_3] {
            let headers = sign_request(&key, &spec_request(version, &long)).unwrap();
            assert_eq!(header(&headers, "X-Ops-Userid"), long);
        }
    }

    #[test]
    fn canonical_paths() {
        for (input, expected) in [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("///", "/"),
            ("/cookbooks", "/cookbooks"),
            ("/cookbooks/", "/cookbooks"),
            ("//cookbooks/", "/cookbooks"),
            ("/cookbooks//", "/cookbooks"),
            ("/a//b///c", "/a/b/c"),
            (
                "/organizations/org/cookbooks/foo/1.0.0",
                "/organizations/org/cookbooks/foo/1.0.0",
            ),
            ("/cookbooks?num_versions=all", "/cookbooks"),
            ("/cookbooks/?a=b/c//d", "/cookbooks"),
            ("/?x", "/"),
            ("/sandboxes/abc%2Fdef", "/sandboxes/abc%2Fdef"),
            ("/nodes/ünïcødé//", "/nodes/ünïcødé"),
        ] {
            assert_eq!(canonical_path(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn authorization_lines_are_60_chars_numbered_from_1() {
        let sig: String = ('A'..='Z').cycle().take(344).collect();
        let lines = authorization_headers(&sig);
        assert_eq!(lines.len(), 6);
        for (i, (name, value)) in lines.iter().enumerate() {
            assert_eq!(name, &format!("X-Ops-Authorization-{}", i + 1));
            assert_eq!(value.len(), if i < 5 { 60 } else { 44 });
        }
        assert_eq!(
            lines.iter().map(|(_, v)| v.as_str()).collect::<String>(),
            sig
        );
        assert_eq!(authorization_headers(&"x".repeat(120)).len(), 2);
        // A 4096-bit key: 512 bytes → 684 base64 chars → 12 lines.
        assert_eq!(authorization_headers(&"x".repeat(684)).len(), 12);
    }

    #[test]
    fn timestamps() {
        let at = |s: u64| format_timestamp(UNIX_EPOCH + Duration::from_secs(s)).unwrap();
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(SPEC_TIME), "2009-01-01T12:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
        // Sub-second precision is truncated, never rounded up.
        let t = UNIX_EPOCH + Duration::from_millis(SPEC_TIME * 1000 + 999);
        assert_eq!(format_timestamp(t).unwrap(), "2009-01-01T12:00:00Z");
        // Agrees with httpdate's calendar for a spread of days.
        for s in (0..4_000_000_000u64).step_by(86_400 * 37 + 3_601) {
            let ours = at(s);
            let http = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(s));
            let (y, mo, d) = (&ours[0..4], &ours[5..7], &ours[8..10]);
            let months = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let mon = months[mo.parse::<usize>().unwrap() - 1];
            assert!(
                http.contains(&format!("{d} {mon} {y} {}", &ours[11..19])),
                "{ours} vs {http}"
            );
        }
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert!(matches!(
            format_timestamp(before),
            Err(SignError::TimestampBeforeEpoch)
        ));
    }

    #[test]
    fn content_hashes() {
        assert_eq!(
            content_hash(SignVersion::V1_0, b""),
            "2jmj7l5rSw0yVb/vlWAYkK/YBwk="
        );
        assert_eq!(
            content_hash(SignVersion::V1_1, b""),
            "2jmj7l5rSw0yVb/vlWAYkK/YBwk="
        );
        assert_eq!(
            content_hash(SignVersion::V1_3, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        let body: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for version in SignVersion::ALL {
            let mut h = ContentHasher::new(version);
            for chunk in body.chunks(4093) {
                h.update(chunk);
            }
            assert_eq!(h.finish(), content_hash(version, &body));
        }
    }

    #[test]
    fn version_strings_and_serde() {
        for v in SignVersion::ALL {
            assert_eq!(v.to_string().parse::<SignVersion>().unwrap(), v);
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{v}\""));
            assert_eq!(serde_json::from_str::<SignVersion>(&json).unwrap(), v);
        }
        assert_eq!(SignVersion::default(), SignVersion::V1_3);
        assert_eq!(
            serde_json::from_str::<SignVersion>("1.3").unwrap(),
            SignVersion::V1_3
        );
        assert_eq!(
            serde_json::from_str::<SignVersion>("1.0").unwrap(),
            SignVersion::V1_0
        );
        assert_eq!(" 1.1 ".parse::<SignVersion>().unwrap(), SignVersion::V1_1);
        for bad in ["1.2", "1", "v1.3", "", "1.30"] {
            let err = bad.parse::<SignVersion>().unwrap_err();
            assert!(
                err.to_string().contains("\"1.0\", \"1.1\" or \"1.3\""),
                "{err}"
            );
        }
        let err = serde_json::from_str::<SignVersion>("\"1.2\"").unwrap_err();
        assert!(err.to_string().contains("1.2"), "{err}");
        assert!(serde_json::from_str::<SignVersion>("1.2").is_err());
        assert!(serde_json::from_str::<SignVersion>("13").is_err());
    }

    #[test]
    fn control_characters_are_refused() {
        let key = spec_key();
        let mut req = spec_request(SignVersion::V1_3, "evil\nX-Ops-UserId:admin");
        let err = sign_request(&key, &req).unwrap_err();
        assert!(
            matches!(
                err,
                SignError::InvalidField {
                    field: "user id",
                    ..
                }
            ),
            "{err:?}"
        );
        req.user_id = "ok";
        req.path = "/nodes\r\n/x";
        let err = sign_request(&key, &req).unwrap_err();
        assert!(
            matches!(err, SignError::InvalidField { field: "path", .. }),
            "{err:?}"
        );
    }
}
