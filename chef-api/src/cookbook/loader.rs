//! A whole cookbook: files plus metadata, ready for upload.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::Value;

use super::CookbookError;
use super::files::{CookbookFile, CookbookFiles};
use super::manifest::{self, ManifestError, ManifestFiles, ManifestHead};
use super::metadata::{self, Metadata, MetadataSource};

/// The generated root file knife ≥ 15.7 adds when metadata came from `metadata.rb`.
const METADATA_JSON: &str = "metadata.json";

/// A cookbook loaded from disk exactly as knife would upload it.
#[derive(Debug, Clone)]
pub struct LoadedCookbook {
    dir: PathBuf,
    name: String,
    version: String,
    metadata: Metadata,
    metadata_source: MetadataSource,
    files: Vec<CookbookFile>,
    skipped_links: Vec<super::files::SkippedLink>,
}

impl LoadedCookbook {
    /// Loads the cookbook in `dir`: walk, chefignore, hashes ([`CookbookFiles::walk`]), then
    /// metadata ([`metadata::load`]).
    ///
    /// # Errors
    /// Anything [`CookbookFiles::walk`] reports; [`CookbookError::Metadata`] when the metadata
    /// is missing or invalid; [`CookbookError::MissingName`] when it has no name.
    pub fn load(dir: &Path) -> Result<Self, CookbookError> {
        let files = CookbookFiles::walk(dir)?;
        let (metadata, source) = metadata::load(dir).map_err(|source| CookbookError::Metadata {
            path: dir.to_path_buf(),
            source,
        })?;
        Self::from_parts(files, metadata, source)
    }

    /// Combines walked files with already loaded metadata. When the metadata came from
    /// `metadata.rb`, adds the root file `metadata.json` with the bytes of
    /// [`Metadata::to_knife_json`] (in memory), replacing any walked file of that name.
    ///
    /// # Errors
    /// [`CookbookError::MissingName`], or [`CookbookError::Empty`] when there are no files.
    pub fn from_parts(
        files: CookbookFiles,
        metadata: Metadata,
        metadata_source: MetadataSource,
    ) -> Result<Self, CookbookError> {
        let dir = files.root().to_path_buf();
        let skipped_links = files.skipped_links().to_vec();
        let mut files = files.into_files();
        if metadata.name().is_empty() {
            return Err(CookbookError::MissingName { path: dir });
        }
        if metadata_source == MetadataSource::Rb {
            files.retain(|f| f.path() != METADATA_JSON);
            let body = Bytes::from(metadata.to_knife_json().into_bytes());
            let generated = CookbookFile::in_memory(METADATA_JSON, body);
            let at = files.partition_point(|f| f.path() < METADATA_JSON);
            files.insert(at, generated);
        }
        if files.is_empty() {
            return Err(CookbookError::Empty { path: dir });
        }
        Ok(Self {
            name: metadata.name().to_owned(),
            version: metadata.version().to_owned(),
            dir,
            metadata,
            metadata_source,
            files,
            skipped_links,
        })
    }

    /// Symlinks that could not be followed and so are not uploaded (each a warning).
    pub fn skipped_links(&self) -> &[super::files::SkippedLink] {
        &self.skipped_links
    }

    /// The cookbook directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cookbook name (from metadata).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version string exactly as the metadata has it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Whether the metadata came from `metadata.json` or `metadata.rb`.
    pub fn metadata_source(&self) -> MetadataSource {
        self.metadata_source
    }

    /// Every file that is uploaded, sorted by path (including a generated `metadata.json`).
    pub fn files(&self) -> &[CookbookFile] {
        &self.files
    }

    /// The distinct checksums of all files (what `POST /sandboxes` lists).
    pub fn checksums(&self) -> std::collections::BTreeSet<String> {
        self.files.iter().map(CookbookFile::checksum).collect()
    }

    /// Total bytes of all files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(CookbookFile::size).sum()
    }

    fn head(&self, frozen: bool) -> ManifestHead<'_> {
        ManifestHead {
            cookbook_name: &self.name,
            version: &self.version,
            metadata: self.metadata.as_json(),
            frozen,
        }
    }

    /// The API v0 manifest (nine segments; files outside them are left out).
    pub fn manifest_v0(&self, frozen: bool) -> Value {
        manifest::build_v0(&self.head(frozen), &self.files)
    }

    /// The API v2 manifest (`all_files`).
    pub fn manifest_v2(&self, frozen: bool) -> Value {
        manifest::build_v2(&self.head(frozen), &self.files)
    }

    /// The manifest in the shape of server API `api_version` (≥ 2 → `all_files`).
    pub fn manifest(&self, api_version: u32, frozen: bool) -> Value {
        manifest::build(api_version, &self.head(frozen), &self.files)
    }

    /// Whether a manifest fetched from a server (either shape, with or without `url`s and
    /// empty segments) names exactly the (path, checksum) pairs of this cookbook's files
    /// (for a v0 manifest: those a v0 manifest can carry).
    ///
    /// # Errors
    /// [`ManifestError`] when `fetched` is not a manifest.
    pub fn matches_manifest(&self, fetched: &Value) -> Result<bool, ManifestError> {
        Ok(ManifestFiles::from_json(fetched)?.same_as(&self.files))
    }
}
