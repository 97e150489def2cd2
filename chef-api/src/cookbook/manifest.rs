//! Cookbook version manifests: the JSON of `PUT /cookbooks/NAME/VERSION`, in the v0 (segments)
//! and v2 (`all_files`) shapes, and reading the file set back out of a fetched manifest.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::files::CookbookFile;
use super::segment::Segment;

/// The server API version from which manifests use `all_files`.
pub const ALL_FILES_API_VERSION: u32 = 2;

/// What a manifest is built from, apart from the files.
#[derive(Debug, Clone, Copy)]
pub struct ManifestHead<'a> {
    /// Cookbook name (`cookbook_name`; `name` is `NAME-VERSION`).
    pub cookbook_name: &'a str,
    /// Version string exactly as the metadata has it.
    pub version: &'a str,
    /// The metadata object.
    pub metadata: &'a Map<String, Value>,
    /// `frozen?` (knife `--freeze`).
    pub frozen: bool,
}

fn top_level(head: &ManifestHead<'_>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "name".into(),
        format!("{}-{}", head.cookbook_name, head.version).into(),
    );
    m.insert("cookbook_name".into(), head.cookbook_name.into());
    m.insert("version".into(), head.version.into());
    m.insert("json_class".into(), "Chef::CookbookVersion".into());
    m.insert("chef_type".into(), "cookbook_version".into());
    m.insert("frozen?".into(), head.frozen.into());
    m.insert("metadata".into(), Value::Object(head.metadata.clone()));
    m
}

/// The API v0 manifest: all nine segment keys (empty arrays where unused), records named by
/// basename; files outside the nine segments are left out, as knife's v0 serializer does.
pub fn build_v0(head: &ManifestHead<'_>, files: &[CookbookFile]) -> Value {
    let mut m = top_level(head);
    for segment in &Segment::V0 {
        let records: Vec<Value> = files
            .iter()
            .filter(|f| f.segment() == segment)
            .map(|f| f.record(false))
            .collect();
        m.insert(segment.as_str().into(), Value::Array(records));
    }
    Value::Object(m)
}

/// The API v2 manifest: every file in `all_files`, records named `segment/basename`.
pub fn build_v2(head: &ManifestHead<'_>, files: &[CookbookFile]) -> Value {
    let mut m = top_level(head);
    m.insert(
        "all_files".into(),
        Value::Array(files.iter().map(|f| f.record(true)).collect()),
    );
    Value::Object(m)
}

/// The manifest for a server speaking `api_version` (≥ 2 → `all_files`, else segments).
pub fn build(api_version: u32, head: &ManifestHead<'_>, files: &[CookbookFile]) -> Value {
    if api_version >= ALL_FILES_API_VERSION {
        build_v2(head, files)
    } else {
        build_v0(head, files)
    }
}

/// `frozen?` of a manifest (missing or not a boolean counts as not frozen).
pub fn is_frozen(manifest: &Value) -> bool {
    manifest
        .get("frozen?")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Why a fetched manifest could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest is not a JSON object.
    #[error("cookbook manifest is not a JSON object")]
    NotAnObject,
    /// A segment or `all_files` is not an array.
    #[error("cookbook manifest key {key:?} is not an array")]
    NotAnArray {
        /// The key.
        key: String,
    },
    /// A file record lacks a string `path` or `checksum`.
    #[error("cookbook manifest {key:?} record #{index} has no string {field:?}")]
    BadRecord {
        /// The segment or `all_files`.
        key: String,
        /// 0-based index in that array.
        index: usize,
        /// The missing field.
        field: &'static str,
    },
}

/// The set of (path, lowercase checksum) pairs a manifest names, and which shape it had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFiles {
    /// `true` for an `all_files` (v2) manifest, `false` for segments (v0).
    pub all_files: bool,
    /// (path, checksum) pairs.
    pub files: BTreeSet<(String, String)>,
}

impl ManifestFiles {
    /// Reads the file set of a manifest in either shape. Segments may be missing (goiardi
    /// omits empty ones); extra fields such as `url` are ignored.
    ///
    /// # Errors
    /// [`ManifestError`] when the JSON is not a manifest.
    pub fn from_json(manifest: &Value) -> Result<Self, ManifestError> {
        let obj = manifest.as_object().ok_or(ManifestError::NotAnObject)?;
        let mut files = BTreeSet::new();
        let all_files = obj.contains_key("all_files");
        let keys: Vec<&str> = if all_files {
            vec!["all_files"]
        } else {
            Segment::V0.iter().map(Segment::as_str).collect()
        };
        for key in keys {
            let Some(value) = obj.get(key) else { continue };
            if value.is_null() {
                continue;
            }
            let records = value.as_array().ok_or_else(|| ManifestError::NotAnArray {
                key: key.to_owned(),
            })?;
            for (index, record) in records.iter().enumerate() {
                let field = |field: &'static str| {
                    record.get(field).and_then(Value::as_str).ok_or_else(|| {
                        ManifestError::BadRecord {
                            key: key.to_owned(),
                            index,
                            field,
                        }
                    })
                };
                files.insert((
                    field("path")?.to_owned(),
                    field("checksum")?.to_ascii_lowercase(),
                ));
            }
        }
        Ok(Self { all_files, files })
    }

    /// The (path, checksum) set local `files` would have in a manifest of the same shape
    /// (a v0 manifest cannot carry files outside the nine segments).
    pub fn expected(files: &[CookbookFile], all_files: bool) -> BTreeSet<(String, String)> {
        files
            .iter()
            .filter(|f| all_files || f.segment().is_v0())
            .map(|f| (f.path().to_owned(), f.checksum()))
            .collect()
    }

    /// Whether this set is exactly what `files` would produce in this manifest's shape.
    pub fn same_as(&self, files: &[CookbookFile]) -> bool {
        self.files == Self::expected(files, self.all_files)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use bytes::Bytes;

    fn files() -> Vec<CookbookFile> {
        [
            "README.md",
            "recipes/default.rb",
            "foo/bar.txt",
            "templates/host-a/x.erb",
        ]
        .iter()
        .map(|p| CookbookFile::in_memory(p, Bytes::from(p.as_bytes().to_vec())))
        .collect()
    }

    fn head(meta: &Map<String, Value>) -> ManifestHead<'_> {
        ManifestHead {
            cookbook_name: "demo",
            version: "1.2.3",
            metadata: meta,
            frozen: false,
        }
    }

    #[test]
    fn v0_and_v2_keys_are_the_whitelists() {
        let meta = Map::new();
        let v0 = build(1, &head(&meta), &files());
        let keys: BTreeSet<&str> = v0.as_object().unwrap().keys().map(String::as_str).collect();
        let want: BTreeSet<&str> =
            "name cookbook_name version json_class chef_type frozen? metadata attributes \
             definitions files libraries providers recipes resources root_files templates"
                .split_whitespace()
                .collect();
        assert_eq!(keys, want);
        let v2 = build(2, &head(&meta), &files());
        let keys: BTreeSet<&str> = v2.as_object().unwrap().keys().map(String::as_str).collect();
        let want: BTreeSet<&str> =
            "name cookbook_name version json_class chef_type frozen? metadata all_files"
                .split_whitespace()
                .collect();
        assert_eq!(keys, want);
        assert_eq!(v2["name"], "demo-1.2.3");
        assert_eq!(v2["all_files"].as_array().unwrap().len(), 4);
        assert_eq!(v0["templates"][0]["specificity"], "host-a");
    }

    #[test]
    fn fetched_v0_from_goiardi_with_urls_and_missing_segments() {
        let fs = files();
        let sum = |p: &str| fs.iter().find(|f| f.path() == p).unwrap().checksum();
        let fetched = json!({
            "name": "demo-1.2.3", "frozen?": true,
            "recipes": [{"name": "default.rb", "path": "recipes/default.rb",
                         "checksum": sum("recipes/default.rb").to_uppercase(), "specificity": "default",
                         "url": "http://127.0.0.1:1/file_store/x"}],
            "templates": [{"name": "x.erb", "path": "templates/host-a/x.erb",
                           "checksum": sum("templates/host-a/x.erb"), "specificity": "host-a"}],
            "root_files": [{"name": "README.md", "path": "README.md", "checksum": sum("README.md"),
                            "specificity": "default"}],
        });
        let got = ManifestFiles::from_json(&fetched).unwrap();
        assert!(!got.all_files);
        assert!(got.same_as(&fs), "foo/bar.txt cannot be in a v0 manifest");
        assert!(is_frozen(&fetched));
        assert!(!is_frozen(&json!({})));
        let mut fewer = fs.clone();
        fewer.retain(|f| f.path() != "README.md");
        assert!(!got.same_as(&fewer));
    }

    #[test]
    fn fetched_v2_must_include_other_dirs() {
        let fs = files();
        let meta = Map::new();
        let mut v2 = build_v2(&head(&meta), &fs);
        assert!(ManifestFiles::from_json(&v2).unwrap().same_as(&fs));
        v2["all_files"]
            .as_array_mut()
            .unwrap()
            .retain(|r| r["path"] != "foo/bar.txt");
        assert!(!ManifestFiles::from_json(&v2).unwrap().same_as(&fs));
        let v0 = build_v0(&head(&meta), &fs);
        assert!(ManifestFiles::from_json(&v0).unwrap().same_as(&fs));
    }

    #[test]
    fn changed_checksum_differs() {
        let fs = files();
        let meta = Map::new();
        let mut v0 = build_v0(&head(&meta), &fs);
        v0["recipes"][0]["checksum"] = json!("00000000000000000000000000000000");
        assert!(!ManifestFiles::from_json(&v0).unwrap().same_as(&fs));
    }

    #[test]
    fn malformed_manifests() {
        assert!(matches!(
            ManifestFiles::from_json(&json!([])),
            Err(ManifestError::NotAnObject)
        ));
        assert!(matches!(
            ManifestFiles::from_json(&json!({"recipes": {}})),
            Err(ManifestError::NotAnArray { key }) if key == "recipes"
        ));
        assert!(matches!(
            ManifestFiles::from_json(&json!({"all_files": [{"path": "a"}]})),
            Err(ManifestError::BadRecord {
                field: "checksum",
                index: 0,
                ..
            })
        ));
    }
}
