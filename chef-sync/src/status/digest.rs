//! Content digests of cookbook versions, the same whether taken from a server's manifest or
//! from a cookbook loaded from the repository.
//!
//! A cookbook version's content is the set of its files' `(path, checksum)` pairs: `path` is
//! the cookbook-relative path (`recipes/default.rb`, `templates/host-a/x.erb`, `README.md`),
//! `checksum` the lowercase hex MD5 Chef stores the file under. Both manifest shapes name these
//! pairs (v0 in nine segments, v2 in `all_files`; [`ManifestFiles::from_json`] reads either),
//! and so does a loaded cookbook's file list. The digest is the hex SHA-256 of the pairs sorted
//! by path then checksum, each written as `path NUL checksum LF` (a path cannot hold NUL).
//!
//! A v0 manifest cannot carry files outside the nine segments (`ohai/`, `compliance/`, ...),
//! so every copy also has a digest over only those segments' files: a v0 copy and any other
//! copy are compared on that one, two `all_files` copies on the full digest. No file is
//! downloaded for any of this.

use std::collections::BTreeSet;

use chef_api::cookbook::manifest::{ManifestError, ManifestFiles, is_frozen};
use chef_api::cookbook::segment::place;
use chef_api::cookbook::{CookbookFile, LoadedCookbook};
use serde_json::Value;
use sha2::Digest as _;

/// The content of one copy of a cookbook version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookbookDigest {
    /// Hex SHA-256 over every `(path, checksum)` pair the copy lists.
    pub digest: String,
    /// Hex SHA-256 over the pairs in the nine v0 segments only (equal to `digest` when the
    /// copy has no other file).
    pub segments_digest: String,
    /// Whether the copy lists every file (`all_files`, or a cookbook from disk); `false` for a
    /// v0 manifest, which lists only the nine segments.
    pub all_files: bool,
}

impl CookbookDigest {
    /// The digest of a set of `(path, checksum)` pairs; `all_files` says whether the set is
    /// complete or only the nine v0 segments.
    pub fn from_pairs(pairs: &BTreeSet<(String, String)>, all_files: bool) -> Self {
        let digest = hash_pairs(pairs.iter());
        let segments_digest = if all_files {
            hash_pairs(pairs.iter().filter(|(path, _)| place(path).segment.is_v0()))
        } else {
            digest.clone()
        };
        Self {
            digest,
            segments_digest,
            all_files,
        }
    }

    /// The digest of a manifest fetched from a server (either shape, with or without `url`s).
    ///
    /// # Errors
    /// [`ManifestError`] when the JSON is not a manifest.
    pub fn from_manifest(manifest: &Value) -> Result<Self, ManifestError> {
        let files = ManifestFiles::from_json(manifest)?;
        Ok(Self::from_pairs(&files.files, files.all_files))
    }

    /// The digest of a cookbook's files as the repository has them.
    pub fn from_files(files: &[CookbookFile]) -> Self {
        Self::from_pairs(&ManifestFiles::expected(files, true), true)
    }

    /// The digest of a loaded cookbook.
    pub fn from_cookbook(cookbook: &LoadedCookbook) -> Self {
        Self::from_files(cookbook.files())
    }

    /// Whether two copies hold the same files: compared on every file when both list every
    /// file, else on the nine v0 segments.
    pub fn same_content(&self, other: &Self) -> bool {
        if self.all_files && other.all_files {
            self.digest == other.digest
        } else {
            self.segments_digest == other.segments_digest
        }
    }
}

/// One cookbook version as a server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCookbook {
    /// Its content.
    pub digest: CookbookDigest,
    /// `frozen?`.
    pub frozen: bool,
}

impl ServerCookbook {
    /// Reads a fetched manifest.
    ///
    /// # Errors
    /// [`ManifestError`] when the JSON is not a manifest.
    pub fn from_manifest(manifest: &Value) -> Result<Self, ManifestError> {
        Ok(Self {
            digest: CookbookDigest::from_manifest(manifest)?,
            frozen: is_frozen(manifest),
        })
    }
}

fn hash_pairs<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> String {
    let mut hasher = sha2::Sha256::new();
    for (path, checksum) in pairs {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(checksum.as_bytes());
        hasher.update([b'\n']);
    }
    hex(&hasher.finalize())
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use chef_api::cookbook::manifest::{ManifestHead, build_v0, build_v2};
    use serde_json::{Map, json};

    use super::*;

    fn files(extra: &[(&str, &str)]) -> Vec<CookbookFile> {
        let mut files: Vec<CookbookFile> = [
            ("README.md", "readme"),
            ("metadata.json", "{}"),
            ("recipes/default.rb", "log 'hi'"),
            ("templates/host-a/x.erb", "<%= 1 %>"),
            ("ohai/plugin.rb", "Ohai.plugin"),
        ]
        .iter()
        .chain(extra)
        .map(|(p, body)| CookbookFile::in_memory(p, Bytes::from(body.as_bytes().to_vec())))
        .collect();
        files.sort_by(|a, b| a.path().cmp(b.path()));
        files
    }

    fn manifests(files: &[CookbookFile], frozen: bool) -> (Value, Value) {
        let meta = Map::new();
        let head = ManifestHead {
            cookbook_name: "demo",
            version: "1.0.0",
            metadata: &meta,
            frozen,
        };
        (build_v0(&head, files), build_v2(&head, files))
    }

    #[test]
    fn the_repository_and_both_manifest_shapes_agree() {
        let fs = files(&[]);
        let repo = CookbookDigest::from_files(&fs);
        let (v0, v2) = manifests(&fs, true);
        let v2 = ServerCookbook::from_manifest(&v2).unwrap();
        let v0 = ServerCookbook::from_manifest(&v0).unwrap();
        assert!(v2.frozen && v0.frozen);
        assert_eq!(
            v2.digest, repo,
            "v2 names every file by its path, like the repo"
        );
        assert!(!v0.digest.all_files);
        assert_ne!(v0.digest.digest, repo.digest, "v0 cannot carry ohai/");
        assert_eq!(v0.digest.digest, repo.segments_digest);
        assert!(v0.digest.same_content(&repo) && repo.same_content(&v0.digest));
        assert!(v0.digest.same_content(&v2.digest));
        assert_eq!(repo.digest.len(), 64);
        assert!(
            repo.digest
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn one_changed_file_changes_the_digest_in_every_shape() {
        let fs = files(&[]);
        let mut changed = files(&[]);
        changed.retain(|f| f.path() != "recipes/default.rb");
        changed.push(CookbookFile::in_memory(
            "recipes/default.rb",
            Bytes::from_static(b"log 'changed'"),
        ));
        changed.sort_by(|a, b| a.path().cmp(b.path()));
        let repo = CookbookDigest::from_files(&fs);
        let (v0, v2) = manifests(&changed, false);
        for manifest in [v0, v2] {
            let server = ServerCookbook::from_manifest(&manifest).unwrap();
            assert!(!server.frozen);
            assert!(!server.digest.same_content(&repo), "{manifest}");
        }
    }

    #[test]
    fn a_file_outside_the_segments_is_seen_only_between_full_copies() {
        let with_extra = CookbookDigest::from_files(&files(&[("compliance/x.rb", "x")]));
        let without = CookbookDigest::from_files(&files(&[]));
        assert!(!with_extra.same_content(&without));
        assert_eq!(with_extra.segments_digest, without.segments_digest);
        let (v0, _) = manifests(&files(&[]), false);
        let v0 = CookbookDigest::from_manifest(&v0).unwrap();
        assert!(v0.same_content(&with_extra), "a v0 server cannot tell");
    }

    #[test]
    fn the_digest_is_the_documented_hash_and_ignores_order_and_case() {
        let pairs: BTreeSet<(String, String)> = [("b", "00ff"), ("a", "11")]
            .iter()
            .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
            .collect();
        let want = hex(&sha2::Sha256::digest(b"a\x0011\nb\x0000ff\n"));
        assert_eq!(CookbookDigest::from_pairs(&pairs, true).digest, want);
        let upper = json!({"recipes": [
            {"name": "default.rb", "path": "recipes/default.rb", "checksum": "ABCDEF"}]});
        let lower = json!({"recipes": [
            {"name": "default.rb", "path": "recipes/default.rb", "checksum": "abcdef",
             "url": "http://x/file_store/abcdef"}]});
        assert_eq!(
            CookbookDigest::from_manifest(&upper).unwrap(),
            CookbookDigest::from_manifest(&lower).unwrap()
        );
        assert!(CookbookDigest::from_manifest(&json!([])).is_err());
    }
}
