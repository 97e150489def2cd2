//! Cookbook identifiers as chef-cli computes them (`CookbookProfiler::Identifiers`) and the
//! policy `revision_id` (`PolicyfileLock#revision_id`).
//!
//! * identifier: lowercase hex SHA-1 of the fingerprint text, one `PATH:MD5\n` line per kept
//!   file sorted bytewise by path (nothing else: no name, no version);
//! * dotted decimal identifier: the identifier's hex digits 0..14, 14..28 and 28..40 read as
//!   base-16 integers, written in decimal and joined with `.`;
//! * revision id: lowercase hex SHA-256 of the canonical revision text (see
//!   [`revision_text`]).

use std::path::Path;

use chef_api::cookbook::metadata::{self, Metadata, MetadataSource};
use chef_api::cookbook::{CookbookError, CookbookFile, CookbookFiles};
use serde_json::{Map, Value};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

/// The fingerprint text of `(path, checksum)` pairs: sorted bytewise by path, one
/// `PATH:CHECKSUM\n` line each.
pub fn fingerprint_text<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut files: Vec<(&str, &str)> = files.into_iter().collect();
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    files.iter().fold(String::new(), |mut text, (path, md5)| {
        text.push_str(path);
        text.push(':');
        text.push_str(md5);
        text.push('\n');
        text
    })
}

/// The identifier of a fingerprint text: its SHA-1, 40 lowercase hex characters.
pub fn content_identifier(fingerprint: &str) -> String {
    hex(&Sha1::digest(fingerprint.as_bytes()))
}

/// The dotted decimal form of a 40-hex identifier (`None` when it is not 40 hex characters).
pub fn dotted_decimal(identifier: &str) -> Option<String> {
    if identifier.len() != 40 || !identifier.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let parts: Vec<String> = [&identifier[0..14], &identifier[14..28], &identifier[28..40]]
        .iter()
        .map(|h| u64::from_str_radix(h, 16).map(|n| n.to_string()))
        .collect::<Result<_, _>>()
        .ok()?;
    Some(parts.join("."))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A cookbook directory as a policy sees it: every kept file (the knife walk and the nearest
/// chefignore; no generated `metadata.json`), its metadata and its identifiers.
#[derive(Debug, Clone)]
pub struct CookbookIdentity {
    /// The files, sorted by path (exactly what the identifier covers and the artifact carries).
    pub files: Vec<CookbookFile>,
    /// The metadata (`metadata.json`, else `metadata.rb`).
    pub metadata: Metadata,
    /// Where the metadata came from.
    pub metadata_source: MetadataSource,
    /// The content identifier.
    pub identifier: String,
    /// Its dotted decimal form.
    pub dotted_decimal_identifier: String,
}

impl CookbookIdentity {
    /// Walks, hashes and identifies the cookbook in `dir` (blocking).
    ///
    /// # Errors
    /// What [`CookbookFiles::walk`] and [`metadata::load`] report.
    pub fn load(dir: &Path) -> Result<Self, CookbookError> {
        let files = CookbookFiles::walk(dir)?.into_files();
        let (metadata, metadata_source) =
            metadata::load(dir).map_err(|source| CookbookError::Metadata {
                path: dir.to_path_buf(),
                source,
            })?;
        let checksums: Vec<(String, String)> = files
            .iter()
            .map(|f| (f.path().to_owned(), f.checksum()))
            .collect();
        let text = fingerprint_text(checksums.iter().map(|(p, c)| (p.as_str(), c.as_str())));
        let identifier = content_identifier(&text);
        let dotted_decimal_identifier =
            dotted_decimal(&identifier).expect("a SHA-1 is 40 hex characters");
        Ok(Self {
            files,
            metadata,
            metadata_source,
            identifier,
            dotted_decimal_identifier,
        })
    }

    /// The cookbook name from its metadata.
    pub fn name(&self) -> &str {
        self.metadata.name()
    }

    /// The version from its metadata.
    pub fn version(&self) -> &str {
        self.metadata.version()
    }
}

/// The canonical text a `revision_id` hashes, from a lock document: `name:`, each run-list
/// item, each named run list's items, one `cookbook:NAME;id:IDENTIFIER` line per cookbook
/// lock **in the document's order** (chef-cli writes them sorted; ChefDK wrote them in
/// resolution order and hashed them so), then the canonical default and override attributes.
pub fn revision_text(lock: &Map<String, Value>) -> String {
    let mut text = String::new();
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    text.push_str(&format!(
        "name:{}\n",
        lock.get("name").map(str_of).unwrap_or_default()
    ));
    for item in lock
        .get("run_list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        text.push_str(&format!("run-list-item:{}\n", str_of(item)));
    }
    if let Some(named) = lock.get("named_run_lists").and_then(Value::as_object) {
        for (list, items) in named {
            for item in items.as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "named-run-list:{list};run-list-item:{}\n",
                    str_of(item)
                ));
            }
        }
    }
    if let Some(locks) = lock.get("cookbook_locks").and_then(Value::as_object) {
        for (name, cookbook) in locks {
            let id = cookbook.get("identifier").map(str_of).unwrap_or_default();
            text.push_str(&format!("cookbook:{name};id:{id}\n"));
        }
    }
    let empty = Value::Object(Map::new());
    for key in ["default_attributes", "override_attributes"] {
        text.push_str(key);
        text.push(':');
        canonicalize(lock.get(key).unwrap_or(&empty), &mut text);
        text.push('\n');
    }
    text
}

/// The `revision_id` of a lock document: SHA-256 of [`revision_text`], lowercase hex.
pub fn revision_id(lock: &Map<String, Value>) -> String {
    hex(&Sha256::digest(revision_text(lock).as_bytes()))
}

/// chef-cli's attribute canonicalisation: keys sorted, no spaces, strings quoted but never
/// escaped, floats as C `%.15g`.
fn canonicalize(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&format_g15(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonicalize(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(key);
                out.push_str("\":");
                canonicalize(&map[key], out);
            }
            out.push('}');
        }
    }
}

/// C's `%.15g`: 15 significant digits, trailing zeros removed, exponent form below 1e-4 or
/// from 1e15.
fn format_g15(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "nan"
        } else if f > 0.0 {
            "inf"
        } else {
            "-inf"
        }
        .to_owned();
    }
    let sci = format!("{f:.14e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    if (-4..15).contains(&exp) {
        let decimals = usize::try_from(14 - exp).unwrap_or(0);
        trim_zeros(&format!("{f:.decimals$}"))
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs())
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// chef-cli's own spec (`spec/unit/cookbook_profiler/identifiers_spec.rb`): the foo-1.0.0
    /// fixture's files and checksums, its identifier and dotted decimal identifier.
    #[test]
    fn chef_cli_foo_fixture_identifier() {
        let files = [
            ("recipes/default.rb", "9a0f27d741deaca21461073f7452474f"),
            ("README.md", "0f15038071e5a131bef176cbe2a956d1"),
            ("chefignore", "03485640b005eb1083c76518764053dd"),
            ("kitchen.yml", "85ba09a085dab072722cb197e04fa805"),
            ("metadata.rb", "4879d0004b177546cfbcfb2fd26df7c8"),
        ];
        let text = fingerprint_text(files);
        assert!(text.starts_with("README.md:0f15038071e5a131bef176cbe2a956d1\nchefignore:"));
        let id = content_identifier(&text);
        assert_eq!(id, "f24326bbf81d67fcab6a5615c75092d1c6da81cc");
        assert_eq!(
            dotted_decimal(&id).unwrap(),
            "68190778005396839.71120167330236240.161429682029004"
        );
    }

    /// The protocol notes' worked example: the nearest chefignore drops the `.bak` file and
    /// counts itself; `metadata.rb` counts; no `metadata.json` is generated.
    #[test]
    fn worked_example_from_the_protocol_notes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("demo");
        std::fs::create_dir_all(root.join("recipes")).unwrap();
        std::fs::write(root.join("metadata.rb"), "name 'demo'\nversion '0.1.0'\n").unwrap();
        std::fs::write(root.join("recipes/default.rb"), "log 'hello'\n").unwrap();
        std::fs::write(root.join("chefignore"), "*.bak\n").unwrap();
        std::fs::write(root.join("recipes/default.rb.bak"), "old\n").unwrap();
        let id = CookbookIdentity::load(&root).unwrap();
        let paths: Vec<&str> = id.files.iter().map(|f| f.path()).collect();
        assert_eq!(paths, ["chefignore", "metadata.rb", "recipes/default.rb"]);
        assert_eq!(id.identifier, "c59eb9b9e83efe5045edd8310eb7e00e48e8d105");
        assert_eq!(
            id.dotted_decimal_identifier,
            "55625090937143038.22594885973511863.246351957381381"
        );
        assert_eq!((id.name(), id.version()), ("demo", "0.1.0"));
    }

    #[test]
    fn dotted_decimal_refuses_what_is_not_a_sha1() {
        assert_eq!(dotted_decimal("abc"), None);
        assert_eq!(dotted_decimal(&"g".repeat(40)), None);
        assert_eq!(
            dotted_decimal("c59eb9b9e83efe5045edd8310eb7e00e48e8d105").unwrap(),
            "55625090937143038.22594885973511863.246351957381381"
        );
    }

    #[test]
    fn canonical_attributes_sort_keys_and_never_escape() {
        let v: Value =
            serde_json::from_str(r#"{"b": [1, 2.5, true, null], "a": {"y": "q\"/", "x": 1e20}}"#)
                .unwrap();
        let mut out = String::new();
        canonicalize(&v, &mut out);
        assert_eq!(out, r#"{"a":{"x":1e+20,"y":"q"/"},"b":[1,2.5,true,null]}"#);
    }

    #[test]
    fn g15_matches_c() {
        for (f, s) in [
            (0.1, "0.1"),
            (1.0 / 3.0, "0.333333333333333"),
            (123456.5, "123456.5"),
            (1e15, "1e+15"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (100.0, "100"),
        ] {
            assert_eq!(format_g15(f), s, "{f}");
        }
    }
}
