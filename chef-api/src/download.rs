//! Download a cookbook version from a server into a directory, verifying every file.
//!
//! ```no_run
//! # async fn demo(client: chef_api::client::ChefClient) -> Result<(), chef_api::download::DownloadError> {
//! let got = chef_api::download::download_cookbook(&client, "web", "1.2.0", "out/web".as_ref()).await?;
//! println!("{} files", got.files.len());
//! # Ok(()) }
//! ```
//!
//! The manifest is fetched in the server's API shape (segments or `all_files`); each file is
//! streamed from its `url` to disk while its MD5 is computed, and kept only when the MD5 equals
//! the record's checksum. Paths come from the server and are not trusted: absolute paths,
//! `..`, empty or `.` components and backslashes are refused before anything is written.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::client::ChefClient;
use crate::cookbook::segment::Segment;

/// Files downloaded at the same time.
const CONCURRENCY: usize = 8;

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// A request failed (names the URL and the server's message).
    #[error(transparent)]
    Api(#[from] crate::Error),
    /// The manifest is not what a cookbook version looks like.
    #[error("cookbook {cookbook}: bad manifest: {message}")]
    Manifest {
        /// `NAME VERSION`.
        cookbook: String,
        /// What is wrong.
        message: String,
    },
    /// The server named a path that would leave the target directory or is not a plain
    /// relative path.
    #[error("cookbook {cookbook}: refusing unsafe file path {path:?} from the server")]
    UnsafePath {
        /// `NAME VERSION`.
        cookbook: String,
        /// The path as the server gave it.
        path: String,
    },
    /// A downloaded file's MD5 differs from its checksum in the manifest.
    #[error(
        "cookbook {cookbook}: {path}: MD5 {actual} does not match the manifest's checksum {expected}"
    )]
    ChecksumMismatch {
        /// `NAME VERSION`.
        cookbook: String,
        /// The file's path in the cookbook.
        path: String,
        /// The checksum in the manifest.
        expected: String,
        /// The MD5 of what was received.
        actual: String,
    },
    /// A local file or directory could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The local path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl DownloadError {
    /// The server's answer, when a request failed on one (see [`crate::Error::response`]).
    pub fn response(&self) -> Option<&crate::error::ResponseError> {
        match self {
            Self::Api(e) => e.response(),
            _ => None,
        }
    }

    /// The HTTP status, when a request failed on the server's answer.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }
}

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedFile {
    /// Path in the cookbook (`/` separators).
    pub path: String,
    /// Its verified MD5, lowercase hex.
    pub checksum: String,
    /// Bytes written.
    pub size: u64,
}

/// A cookbook version written to disk.
#[derive(Debug, Clone)]
pub struct DownloadedCookbook {
    /// The manifest as the server returned it.
    pub manifest: serde_json::Value,
    /// Every file written, sorted by path.
    pub files: Vec<DownloadedFile>,
}

/// The local path for a manifest `path`, or `None` when it is not a plain relative path
/// (absolute, drive or UNC prefix, `..`, `.`, empty components, backslashes, NUL).
pub fn safe_relative_path(path: &str) -> Option<PathBuf> {
    if path.is_empty() || path.contains('\\') || path.contains('\0') || path.starts_with('/') {
        return None;
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return None;
    }
    let p = PathBuf::from(path);
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(p)
}

/// One record of the manifest.
struct Record {
    path: String,
    checksum: String,
    url: Url,
}

fn records(manifest: &serde_json::Value, cookbook: &str) -> Result<Vec<Record>, DownloadError> {
    let bad = |message: String| DownloadError::Manifest {
        cookbook: cookbook.to_owned(),
        message,
    };
    let obj = manifest
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let keys: Vec<&str> = if obj.contains_key("all_files") {
        vec!["all_files"]
    } else {
        Segment::V0.iter().map(Segment::as_str).collect()
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for key in keys {
        let Some(list) = obj.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let list = list
            .as_array()
            .ok_or_else(|| bad(format!("{key:?} is not an array")))?;
        for (i, rec) in list.iter().enumerate() {
            let field = |f: &str| {
                rec.get(f)
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| bad(format!("{key:?} record #{i} has no string {f:?}")))
            };
            let path = field("path")?.to_owned();
            let url = field("url")?;
            let url = Url::parse(url).map_err(|e| bad(format!("{path}: url {url:?}: {e}")))?;
            if seen.insert(path.clone()) {
                out.push(Record {
                    checksum: field("checksum")?.to_ascii_lowercase(),
                    path,
                    url,
                });
            }
        }
    }
    Ok(out)
}

/// Downloads cookbook `name` at `version` (or `_latest`) into `dest` (created if missing),
/// verifying every file's MD5 while streaming it.
///
/// # Errors
/// [`DownloadError`]: the request's error, an unsafe path, an MD5 mismatch (naming the file;
/// the bad file is removed), or a local write error.
pub async fn download_cookbook(
    client: &ChefClient,
    name: &str,
    version: &str,
    dest: &Path,
) -> Result<DownloadedCookbook, DownloadError> {
    let manifest = client.cookbook_version(name, version).await?;
    download_manifest(client, manifest, format!("{name} {version}"), dest).await
}

/// Downloads cookbook artifact `name` `identifier` (`GET /cookbook_artifacts/NAME/ID`, a
/// Policyfile's cookbook) into `dest`, every file MD5-checked as [`download_cookbook`] does.
///
/// # Errors
/// As [`download_cookbook`]; [`crate::Error::NotFound`] when the server has no such artifact.
pub async fn download_cookbook_artifact(
    client: &ChefClient,
    name: &str,
    identifier: &str,
    dest: &Path,
) -> Result<DownloadedCookbook, DownloadError> {
    let manifest: serde_json::Value = client
        .get(&format!("cookbook_artifacts/{name}/{identifier}"))
        .await?;
    download_manifest(client, manifest, format!("{name} {identifier}"), dest).await
}

async fn download_manifest(
    client: &ChefClient,
    manifest: serde_json::Value,
    label: String,
    dest: &Path,
) -> Result<DownloadedCookbook, DownloadError> {
    let records = records(&manifest, &label)?;
    for r in &records {
        if safe_relative_path(&r.path).is_none() {
            return Err(DownloadError::UnsafePath {
                cookbook: label,
                path: r.path.clone(),
            });
        }
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DownloadError::Io { path, source }
    };
    tokio::fs::create_dir_all(dest).await.map_err(io(dest))?;
    let mut files: Vec<DownloadedFile> = futures::stream::iter(
        records
            .into_iter()
            .map(|r| download_file(client, r, dest, &label))
            .collect::<Vec<_>>(),
    )
    .buffer_unordered(CONCURRENCY)
    .try_collect()
    .await?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(DownloadedCookbook { manifest, files })
}

async fn download_file(
    client: &ChefClient,
    record: Record,
    dest: &Path,
    label: &str,
) -> Result<DownloadedFile, DownloadError> {
    let rel = safe_relative_path(&record.path).expect("checked before");
    let target = dest.join(&rel);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DownloadError::Io { path, source }
    };
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(io(parent))?;
    }
    let mut partial = target.clone().into_os_string();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let mut out = tokio::fs::File::create(&partial)
        .await
        .map_err(io(&partial))?;
    let mut hasher = Md5::new();
    let mut size = 0u64;
    let mut body = std::pin::pin!(client.download_stream(&record.url).await?);
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(io(&partial))?;
    }
    out.flush().await.map_err(io(&partial))?;
    drop(out);
    let actual = hex(&hasher.finalize());
    if actual != record.checksum {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(DownloadError::ChecksumMismatch {
            cookbook: label.to_owned(),
            path: record.path,
            expected: record.checksum,
            actual,
        });
    }
    tokio::fs::rename(&partial, &target)
        .await
        .map_err(io(&target))?;
    Ok(DownloadedFile {
        path: record.path,
        checksum: actual,
        size,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refuses_paths_that_leave_the_directory() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a\\..\\b",
            "a/",
            ".",
            "..",
            "x\0y",
        ] {
            assert!(safe_relative_path(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            safe_relative_path("templates/host-web1/x.erb"),
            Some(PathBuf::from("templates/host-web1/x.erb"))
        );
        assert!(safe_relative_path(".kitchen.yml").is_some());
        assert!(safe_relative_path("files/ünïcödé/..name").is_some());
    }

    #[test]
    fn reads_records_of_both_shapes() {
        let v0 = json!({"recipes": [{"name": "default.rb", "path": "recipes/default.rb",
            "checksum": "AB", "specificity": "default", "url": "http://h/file_store/ab"}],
            "root_files": null});
        let r = records(&v0, "c 1").unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].path.as_str(), r[0].checksum.as_str()),
            ("recipes/default.rb", "ab")
        );
        let v2 = json!({"all_files": [{"path": "a", "checksum": "cd", "url": "http://h/a"},
            {"path": "a", "checksum": "cd", "url": "http://h/a"}]});
        assert_eq!(records(&v2, "c 1").unwrap().len(), 1);
        let no_url = json!({"all_files": [{"path": "a", "checksum": "cd"}]});
        let err = records(&no_url, "c 1").err().unwrap().to_string();
        assert!(err.contains("\"url\"") && err.contains("c 1"), "{err}");
    }
}
