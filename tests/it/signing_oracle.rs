//! Chef's own signer as the oracle: Debian's `ruby-mixlib-authentication` (the library knife,
//! chef-client and chef-zero use) must accept every request chef-api signs, produce the
//! very same headers for the same inputs, and reject tampered requests.
//!
//! Cases are random but seeded (`SEED`), so a failure names a case that reproduces.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chef_api::key::PrivateKey;
use chef_api::sign::{RequestToSign, SignError, SignVersion, content_hash, sign_request};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

const SEED: u64 = 0x00C4_EF51_6E00;
const CASES: usize = 240;

/// Reads the cases, and for each one: verifies our headers with
/// `Mixlib::Authentication::SignatureVerification` (which recomputes the canonical text and
/// the body hash itself) and signs the same inputs with `SignedHeaderAuth` to compare headers.
const ORACLE_RB: &str = r##"
require "openssl"
require "json"
require "base64"
require "mixlib/authentication/signedheaderauth"
require "mixlib/authentication/signatureverification"

Request = Struct.new(:method, :path, :env, :params, :raw_post)
keys = {}
cases = JSON.parse(File.read(ARGV[0]))
cases.each do |c|
  key = (keys[c["key_file"]] ||= OpenSSL::PKey::RSA.new(File.read(c["key_file"])))
  body = Base64.decode64(c["body_b64"])
  result = { "id" => c["id"] }
  # 1. Mixlib signs the same request (path as the server sees it: no query string).
  begin
    signer = Mixlib::Authentication::SignedHeaderAuth.signing_object(
      http_method: c["method"], path: c["server_path"], body: body,
      timestamp: c["timestamp"], user_id: c["user_id"], proto_version: c["version"],
      headers: { "X-Ops-Server-API-Version" => c["api_version"].to_s })
    result["mixlib_headers"] = signer.sign(key, sign_algorithm: c["version"] == "1.3" ? "sha256" : "sha1", sign_version: c["version"])
  rescue StandardError => e
    result["mixlib_sign_error"] = "#{e.class}: #{e.message}"
  end
  # 2. Mixlib verifies our headers as a server would.
  if c["headers"]
    env = { "HTTP_HOST" => "127.0.0.1", "HTTP_X_OPS_SERVER_API_VERSION" => c["api_version"].to_s }
    c["headers"].each { |k, v| env["HTTP_" + k.upcase.tr("-", "_")] = v }
    req = Request.new(c["method"].upcase, c["server_path"], env, {}, body)
    verifier = Mixlib::Authentication::SignatureVerification.new
    begin
      ok = verifier.authenticate_user_request(req, key.public_key, 2**40)
      result["verified"] = !ok.nil?
      result["valid_signature"] = verifier.valid_signature?
      result["valid_content_hash"] = verifier.valid_content_hash?
    rescue StandardError => e
      result["verified"] = false
      result["verify_error"] = "#{e.class}: #{e.message}"
    end
  end
  puts JSON.generate(result)
end
"##;

struct Key {
    key: PrivateKey,
    file: String,
}

fn ruby() -> String {
    let found = Command::new("ruby")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let hint = "the signing oracle needs `ruby` and Debian's `ruby-mixlib-authentication`; run scripts/setup to install them";
    if !found {
        // A missing oracle is a failure everywhere, in CI (`CI` set) and locally alike.
        panic!("{hint} (CI={:?})", std::env::var("CI").unwrap_or_default());
    }
    let mixlib = Command::new("ruby")
        .args([
            "-e",
            "require 'openssl'; require 'mixlib/authentication/signatureverification'",
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(mixlib, "{hint}");
    "ruby".to_owned()
}

fn random_path(rng: &mut StdRng) -> String {
    const SEGMENTS: &[&str] = &[
        "organizations",
        "clownco",
        "cookbooks",
        "apache2",
        "1.2.3",
        "sandboxes",
        "nodes",
        "web-01.example.com",
        "data",
        "users_&_roles",
        "ünïcødé",
        "日本",
        "emoji-🙂",
        "a.b_c-d",
        "%2F",
        "environments",
        "_default",
    ];
    let mut path = String::new();
    for _ in 0..rng.random_range(0..6) {
        let slashes = if rng.random_bool(0.2) {
            rng.random_range(2..4)
        } else {
            1
        };
        path.push_str(&"/".repeat(slashes));
        path.push_str(SEGMENTS.choose(rng).unwrap());
    }
    if path.is_empty() || rng.random_bool(0.25) {
        path.push_str(&"/".repeat(rng.random_range(1..3)));
    }
    path
}

fn random_user(rng: &mut StdRng) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-.";
    let len = if rng.random_bool(0.2) {
        rng.random_range(80..200)
    } else {
        rng.random_range(1..30)
    };
    (0..len)
        .map(|_| *CHARS.choose(rng).unwrap() as char)
        .collect()
}

fn random_body(rng: &mut StdRng, case: usize) -> Vec<u8> {
    // A handful of multi-megabyte bodies (cookbook files), otherwise empty or small.
    let len = if case % 59 == 5 {
        rng.random_range(1_000_000..3_500_000)
    } else if rng.random_bool(0.4) {
        0
    } else {
        rng.random_range(1..5_000)
    };
    // Random bytes, repeated past 64 KiB to keep big bodies cheap to make in a debug build.
    let mut chunk = vec![0; len.min(65_536)];
    rng.fill(&mut chunk[..]);
    chunk.iter().copied().cycle().take(len).collect()
}

fn oracle(dir: &Path, cases: &[Value]) -> BTreeMap<String, Value> {
    let cases_file = dir.join("cases.json");
    std::fs::write(&cases_file, serde_json::to_vec(cases).unwrap()).unwrap();
    let script = dir.join("oracle.rb");
    std::fs::File::create(&script)
        .unwrap()
        .write_all(ORACLE_RB.as_bytes())
        .unwrap();
    let out = Command::new(ruby())
        .arg(&script)
        .arg(&cases_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the ruby oracle failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: BTreeMap<String, Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_owned(), v)
        })
        .collect();
    assert_eq!(results.len(), cases.len(), "the oracle answered every case");
    results
}

#[test]
fn mixlib_authentication_accepts_every_signature() {
    let dir = tempfile::tempdir().unwrap();
    let spec_file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/keys/mixlib-spec.pem"
    );
    // A second, larger key (12 authorization lines) in PKCS#8 form, made fresh by openssl.
    let big_file = dir.path().join("big.pem");
    let status = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:3072",
            "-out",
        ])
        .arg(&big_file)
        .stderr(Stdio::null())
        .status()
        .expect("the openssl CLI (scripts/setup installs it)");
    assert!(status.success());
    let keys = [
        Key {
            key: PrivateKey::from_pem_file(spec_file).unwrap(),
            file: spec_file.to_owned(),
        },
        Key {
            key: PrivateKey::from_pem_file(&big_file).unwrap(),
            file: big_file.display().to_string(),
        },
    ];
    assert_eq!(keys[1].key.bits(), 3072);

    let mut rng = StdRng::seed_from_u64(SEED);
    let methods = ["GET", "PUT", "POST", "DELETE", "HEAD", "get", "Post", "put"];
    let mut cases = Vec::new();
    let mut signed = 0;
    let mut refused = 0;
    let mut tampered = Vec::new();
    for i in 0..CASES {
        let key = &keys[usize::from(rng.random_bool(0.15))];
        let version = *SignVersion::ALL.choose(&mut rng).unwrap();
        let method = *methods.choose(&mut rng).unwrap();
        let path = random_path(&mut rng);
        let wire_path = if rng.random_bool(0.3) {
            format!("{path}?num_versions=all&q=a//b/")
        } else {
            path.clone()
        };
        let user = random_user(&mut rng);
        let body = random_body(&mut rng, i);
        // 2000-01-01 .. 2090-01-01
        let secs = rng.random_range(946_684_800..3_786_912_000u64);
        let timestamp = UNIX_EPOCH + Duration::from_secs(secs);
        let api_version = rng.random_range(0..3u32);
        let req = RequestToSign {
            method,
            path: &wire_path,
            content_hash: content_hash(version, &body),
            user_id: &user,
            timestamp,
            server_api_version: api_version,
            version,
        };
        let id = format!("case-{i}");
        let mut case = json!({
            "id": id,
            "key_file": key.file,
            "method": method,
            // What the server sees: the path without the query string.
            "server_path": path,
            "body_b64": BASE64.encode(&body),
            "user_id": user,
            "version": version.to_string(),
            "api_version": api_version,
            "timestamp": chef_api::sign::format_timestamp(timestamp).unwrap(),
            "secs": secs,
        });
        match sign_request(&key.key, &req) {
            Ok(headers) => {
                signed += 1;
                let map: BTreeMap<_, _> = headers.into_iter().collect();
                case["headers"] = json!(map);
                if i % 8 == 3 {
                    tampered.push(case.clone());
                }
            }
            Err(SignError::CanonicalTooLong { .. }) => {
                assert_eq!(
                    version,
                    SignVersion::V1_0,
                    "{id}: only 1.0 has a length limit"
                );
                refused += 1;
            }
            Err(e) => panic!("{id}: {e}"),
        }
        cases.push(case);
    }
    assert!(
        refused > 0 && signed > CASES / 2,
        "signed {signed}, refused {refused}"
    );

    // Tampered copies: every one must be rejected, or the oracle proves nothing.
    let mut tampered_cases = Vec::new();
    for (n, mut case) in tampered.into_iter().enumerate() {
        case["id"] = json!(format!("tampered-{n}-{}", case["id"].as_str().unwrap()));
        match n % 5 {
            0 => {
                let mut body = BASE64.decode(case["body_b64"].as_str().unwrap()).unwrap();
                body.push(b'!');
                case["body_b64"] = json!(BASE64.encode(body));
            }
            1 => {
                case["server_path"] = json!(format!("{}/x", case["server_path"].as_str().unwrap()))
            }
            2 => {
                let sig = case["headers"]["X-Ops-Authorization-2"].as_str().unwrap();
                let flipped = if sig.starts_with('A') { "B" } else { "A" };
                case["headers"]["X-Ops-Authorization-2"] = json!(format!("{flipped}{}", &sig[1..]));
            }
            3 => {
                let secs = case["secs"].as_u64().unwrap() + 1;
                let ts = chef_api::sign::format_timestamp(UNIX_EPOCH + Duration::from_secs(secs));
                case["headers"]["X-Ops-Timestamp"] = json!(ts.unwrap());
            }
            _ => {
                let user = case["headers"]["X-Ops-Userid"].as_str().unwrap();
                case["headers"]["X-Ops-Userid"] = json!(format!("{user}x"));
            }
        }
        tampered_cases.push(case);
    }
    assert!(tampered_cases.len() >= 20);
    let all: Vec<Value> = cases.iter().chain(&tampered_cases).cloned().collect();
    let results = oracle(dir.path(), &all);

    let mut failures = Vec::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        let r = &results[id];
        match case.get("headers") {
            Some(ours) => {
                if r["verified"] != json!(true) {
                    failures.push(format!("{id}: mixlib rejected our signature: {r}"));
                }
                if &r["mixlib_headers"] != ours {
                    failures.push(format!(
                        "{id}: headers differ from mixlib's: ours {ours}, mixlib {r}"
                    ));
                }
            }
            None => {
                // We refused (1.0, long user id); mixlib's OpenSSL signer must fail too.
                if r.get("mixlib_sign_error").is_none() {
                    failures.push(format!("{id}: we refused, mixlib signed: {r}"));
                }
            }
        }
    }
    for case in &tampered_cases {
        let id = case["id"].as_str().unwrap();
        if results[id]["verified"] != json!(false) {
            failures.push(format!(
                "{id}: mixlib accepted a tampered request: {}",
                results[id]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures (seed {SEED:#x}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
