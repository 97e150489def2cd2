//! Cookbooks on disk: file walk, chefignore, metadata, manifests.
//!
//! Loading a cookbook the way knife does is split in two so each half can be used (and tested)
//! alone:
//!
//! * [`CookbookFiles::walk`] lists the directory (top-level dot directories skipped, symlinked
//!   files followed, symlinked directories not descended, `.uploaded-cookbook-version.json`
//!   skipped), drops what the [`Chefignore`] found upwards from it matches, and MD5s every file
//!   while streaming it, in parallel.
//! * [`LoadedCookbook::load`] adds the [`metadata`] and, when it came from `metadata.rb`, the
//!   `metadata.json` knife ≥ 15.7 generates and uploads (in memory; the tree is never touched).
//!
//! [`LoadedCookbook::manifest`] then builds the JSON for `PUT /cookbooks/NAME/VERSION` in the
//! shape of the server's API version, and [`LoadedCookbook::matches_manifest`] compares a
//! manifest fetched from a server with the local files.
//!
//! All of it is blocking code; async callers run it in `spawn_blocking`.

use std::path::PathBuf;

pub mod chefignore;
pub mod files;
mod loader;
pub mod manifest;
pub mod metadata;
pub mod segment;

pub use chefignore::Chefignore;
pub use files::{CookbookFile, CookbookFiles, FileBody};
pub use loader::LoadedCookbook;
pub use manifest::{ManifestError, ManifestFiles};
pub use segment::Segment;

/// Why a cookbook directory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CookbookError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The cookbook path is not a directory.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A file or directory name in the cookbook is not valid UTF-8; Chef manifests carry
    /// paths as JSON strings, so such a file cannot be uploaded: rename it.
    #[error("file name is not valid UTF-8 (rename it): {}", path.display())]
    NonUtf8Path {
        /// The offending path (lossily displayed).
        path: PathBuf,
    },
    /// A chefignore line is not valid UTF-8.
    #[error("{}: line {line}: not valid UTF-8", path.display())]
    ChefignoreNotUtf8 {
        /// The chefignore file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// The directory has no files and no metadata: not a cookbook.
    #[error("{} is not a cookbook: it has no files", path.display())]
    Empty {
        /// The cookbook directory.
        path: PathBuf,
    },
    /// `metadata.json` / `metadata.rb` could not be loaded.
    #[error("{}: {source}", path.display())]
    Metadata {
        /// The cookbook directory.
        path: PathBuf,
        /// What was wrong (with file and line).
        source: metadata::MetadataError,
    },
    /// The metadata has no `name`, which knife requires.
    #[error("{}: the cookbook metadata has no name (add `name '...'` to metadata.rb)", path.display())]
    MissingName {
        /// The cookbook directory.
        path: PathBuf,
    },
}
