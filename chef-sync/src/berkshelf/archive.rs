//! Cookbook archives from Supermarket: hardened extraction and the `NAME-VERSION` cache.
//!
//! * The format is detected by magic bytes, not by name: gzip (`1F 8B`), tar (`ustar` at
//!   offset 257) or zip (`PK\x03\x04`); old Supermarket "tar.gz" files are sometimes plain tar.
//! * Extraction refuses absolute paths, drive prefixes, backslashes, NUL and `..`
//!   components (after GNU long names and PAX paths are applied), links pointing outside the
//!   tree, and device/FIFO entries. Links inside the tree are not created (cookbooks do not
//!   need them) and are skipped with a warning. Sizes are counted while extracting, so a
//!   header that lies about its size or a zip bomb stops at the limit.
//! * Limits ([`ExtractLimits`], all refused with [`ArchiveError::TooLarge`] or
//!   [`ArchiveError::UnsafeEntry`] naming the archive and entry): 512 MiB extracted in all,
//!   128 MiB per file, 50,000 entries (a zip's announced count is checked before its central
//!   directory is read), 1,024 bytes and 64 directory levels per path; the decompressed
//!   stream of a tar is capped too, so GNU long names and PAX headers cannot grow memory.
//! * [`CookbookStore::install_archive`] extracts into a temp dir beside the cache entry,
//!   checks the cookbook's metadata name and version, then renames it into place: a killed
//!   run never leaves half a cookbook under `NAME-VERSION`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chef_api::universe::is_valid_cookbook_name;
use chef_api::version::Version;

/// Why an archive could not be extracted or installed. Every variant names the archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Reading the archive or writing the extracted files failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Neither gzip, tar nor zip.
    #[error("{}: unknown archive format (expected gzip, tar or zip)", archive.display())]
    UnknownFormat {
        /// The archive.
        archive: PathBuf,
    },
    /// The archive is damaged or truncated.
    #[error("{}: corrupt archive: {reason}", archive.display())]
    Corrupt {
        /// The archive.
        archive: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// An entry that would write outside the extraction directory or is not a plain
    /// file/directory.
    #[error("{}: refusing entry {entry:?}: {reason}", archive.display())]
    UnsafeEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry's path as stored.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// A size or count limit was exceeded.
    #[error("{}: {what} exceeds the limit of {limit}{}", archive.display(), entry.as_ref().map(|e| format!(" (at entry {e:?})")).unwrap_or_default())]
    TooLarge {
        /// The archive.
        archive: PathBuf,
        /// The entry being extracted, when the limit is per entry or was hit inside one.
        entry: Option<String>,
        /// Which limit.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// No directory with `metadata.json` or `metadata.rb` in the archive.
    #[error("{}: does not contain a cookbook (no metadata.json or metadata.rb at the top or one level down)", archive.display())]
    NotACookbook {
        /// The archive.
        archive: PathBuf,
    },
    /// The cookbook inside is not the one requested.
    #[error("{}: expected cookbook {expected_name} {expected_version}, the archive contains {found_name} {found_version}", archive.display())]
    Mismatch {
        /// The archive.
        archive: PathBuf,
        /// Requested name.
        expected_name: String,
        /// Requested version.
        expected_version: Version,
        /// Name in the archive's metadata.
        found_name: String,
        /// Version in the archive's metadata.
        found_version: String,
    },
    /// The extracted cookbook's metadata could not be read.
    #[error("{}: cannot read the cookbook's metadata: {message}", archive.display())]
    Metadata {
        /// The archive.
        archive: PathBuf,
        /// The metadata loader's message (file, line).
        message: String,
    },
    /// The cookbook name is not `[A-Za-z0-9_-]+` and cannot be used in a path.
    #[error("invalid cookbook name {0:?}")]
    InvalidName(String),
}

type Result<T, E = ArchiveError> = std::result::Result<T, E>;

/// Limits applied while extracting (counted on the bytes actually written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Total uncompressed bytes (default 512 MiB).
    pub max_total_bytes: u64,
    /// Bytes of one file (default 128 MiB).
    pub max_file_bytes: u64,
    /// Number of entries (default 50,000).
    pub max_entries: u64,
    /// Length of one entry path in bytes (default 1,024).
    pub max_path_len: usize,
    /// Directory levels of one entry path (default 64; `a/b/c.rb` has 3).
    pub max_path_depth: usize,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_total_bytes: 512 * 1024 * 1024,
            max_file_bytes: 128 * 1024 * 1024,
            max_entries: 50_000,
            max_path_len: 1024,
            max_path_depth: 64,
        }
    }
}

/// An archive format, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// gzip-compressed tar.
    TarGz,
    /// Uncompressed tar.
    Tar,
    /// zip.
    Zip,
}

/// Detects the format of `archive` by magic bytes.
pub fn detect_format(archive: &Path) -> Result<ArchiveFormat> {
    let mut head = [0u8; 262];
    let mut f = File::open(archive).map_err(io_at(archive))?;
    let mut n = 0;
    while n < head.len() {
        let r = f.read(&mut head[n..]).map_err(io_at(archive))?;
        if r == 0 {
            break;
        }
        n += r;
    }
    let head = &head[..n];
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(ArchiveFormat::TarGz)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Ok(ArchiveFormat::Zip)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Ok(ArchiveFormat::Tar)
    } else {
        Err(ArchiveError::UnknownFormat {
            archive: archive.to_owned(),
        })
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Turns a stored entry path into a safe relative path, or says why it is unsafe.
/// `None` means the entry names the root itself (`./`).
fn safe_relative(raw: &[u8], limits: &ExtractLimits) -> Result<Option<PathBuf>, String> {
    let max_len = limits.max_path_len;
    if raw.len() > max_len {
        return Err(format!("path longer than {max_len} bytes"));
    }
    if raw.contains(&0) {
        return Err("path contains a NUL byte".into());
    }
    let s = std::str::from_utf8(raw).map_err(|_| "path is not UTF-8".to_owned())?;
    if s.contains('\\') {
        return Err("path contains a backslash".into());
    }
    if s.starts_with('/') {
        return Err("absolute path".into());
    }
    let b = s.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Err("path has a drive prefix".into());
    }
    let mut out = PathBuf::new();
    let mut depth = 0usize;
    for part in s.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("path contains '..'".into()),
            p => {
                depth += 1;
                if depth > limits.max_path_depth {
                    return Err(format!(
                        "path deeper than {} directory levels",
                        limits.max_path_depth
                    ));
                }
                out.push(p);
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Does a link target, resolved from `base` (a directory inside the tree), stay inside it?
fn link_stays_inside(base: &Path, target: &[u8]) -> bool {
    if target.is_empty() || target.starts_with(b"/") || target.contains(&b'\\') {
        return false;
    }
    let Ok(t) = std::str::from_utf8(target) else {
        return false;
    };
    let mut stack: Vec<String> = base
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for part in t.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if stack.pop().is_none() {
                    return false;
                }
            }
            p => stack.push(p.to_owned()),
        }
    }
    true
}

/// Counts bytes across all entries and per entry, failing when a limit is crossed.
struct Budget<'a> {
    archive: &'a Path,
    limits: ExtractLimits,
    total: u64,
    entries: u64,
}

impl Budget<'_> {
    fn entry(&mut self, name: &str) -> Result<()> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ArchiveError::TooLarge {
                archive: self.archive.to_owned(),
                entry: Some(name.to_owned()),
                what: "number of entries",
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    fn copy(&mut self, name: &str, mut from: impl Read, to: &Path, executable: bool) -> Result<()> {
        let mut file = File::create(to).map_err(io_at(to))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ArchiveError::Corrupt {
                        archive: self.archive.to_owned(),
                        reason: format!("entry {name:?}: {e}"),
                    });
                }
            };
            written += n as u64;
            self.total += n as u64;
            if written > self.limits.max_file_bytes {
                return Err(ArchiveError::TooLarge {
                    archive: self.archive.to_owned(),
                    entry: Some(name.to_owned()),
                    what: "file size",
                    limit: self.limits.max_file_bytes,
                });
            }
            if self.total > self.limits.max_total_bytes {
                return Err(ArchiveError::TooLarge {
                    archive: self.archive.to_owned(),
                    entry: Some(name.to_owned()),
                    what: "total extracted size",
                    limit: self.limits.max_total_bytes,
                });
            }
            file.write_all(&buf[..n]).map_err(io_at(to))?;
        }
        file.flush().map_err(io_at(to))?;
        drop(file);
        set_mode(to, if executable { 0o755 } else { 0o644 })
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_at(path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

/// Reader wrapper that fails once more than `left` bytes were read: bounds what the tar
/// reader itself buffers (GNU long names, PAX headers) from a decompression bomb.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::other(
                "decompressed archive exceeds the size limit",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Extracts `archive` into `dest` (created if missing) under `limits`.
pub fn extract(archive: &Path, dest: &Path, limits: &ExtractLimits) -> Result<()> {
    std::fs::create_dir_all(dest).map_err(io_at(dest))?;
    let format = detect_format(archive)?;
    let mut budget = Budget {
        archive,
        limits: *limits,
        total: 0,
        entries: 0,
    };
    let file = File::open(archive).map_err(io_at(archive))?;
    // Headers and padding add at most ~1.5 KiB per entry on top of the file data.
    let cap = limits
        .max_total_bytes
        .saturating_add(limits.max_entries.saturating_mul(2048));
    match format {
        ArchiveFormat::TarGz => {
            let gz = flate2::read::MultiGzDecoder::new(io::BufReader::new(file));
            extract_tar(
                Capped {
                    inner: gz,
                    left: cap,
                },
                dest,
                &mut budget,
            )
        }
        ArchiveFormat::Tar => extract_tar(
            Capped {
                inner: io::BufReader::new(file),
                left: cap,
            },
            dest,
            &mut budget,
        ),
        ArchiveFormat::Zip => extract_zip(file, dest, &mut budget),
    }
}

fn extract_tar(reader: impl Read, dest: &Path, budget: &mut Budget<'_>) -> Result<()> {
    use tar::EntryType;
    let archive = budget.archive;
    let max_total = budget.limits.max_total_bytes;
    let corrupt = |e: io::Error| {
        if e.to_string().contains("exceeds the size limit") {
            return ArchiveError::TooLarge {
                archive: archive.to_owned(),
                entry: None,
                what: "decompressed size",
                limit: max_total,
            };
        }
        ArchiveError::Corrupt {
            archive: archive.to_owned(),
            reason: e.to_string(),
        }
    };
    let limits = budget.limits;
    let mut tar = tar::Archive::new(reader);
    let entries = tar.entries().map_err(corrupt)?;
    for entry in entries {
        let entry = entry.map_err(corrupt)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            continue;
        }
        budget.entry(&name)?;
        let unsafe_entry = |reason: String| ArchiveError::UnsafeEntry {
            archive: archive.to_owned(),
            entry: name.clone(),
            reason,
        };
        let rel = safe_relative(&raw, &limits).map_err(unsafe_entry)?;
        match kind {
            EntryType::Directory => {
                if let Some(rel) = rel {
                    let p = dest.join(rel);
                    std::fs::create_dir_all(&p).map_err(io_at(&p))?;
                }
            }
            EntryType::Regular | EntryType::Continuous => {
                let rel = rel.ok_or_else(|| unsafe_entry("a file entry without a name".into()))?;
                let to = dest.join(&rel);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(io_at(parent))?;
                }
                let exec = entry
                    .header()
                    .mode()
                    .map(|m| m & 0o111 != 0)
                    .unwrap_or(false);
                budget.copy(&name, entry, &to, exec)?;
            }
            EntryType::Symlink | EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                let base = match (kind, &rel) {
                    (EntryType::Symlink, Some(r)) => {
                        r.parent().map(Path::to_owned).unwrap_or_default()
                    }
                    _ => PathBuf::new(),
                };
                let what = if kind == EntryType::Symlink {
                    "symlink"
                } else {
                    "hard link"
                };
                if !link_stays_inside(&base, &target) {
                    return Err(unsafe_entry(format!(
                        "{what} to {:?} points outside the archive",
                        String::from_utf8_lossy(&target)
                    )));
                }
                tracing::warn!(archive = %archive.display(), entry = %name, "skipping {what} (cookbooks do not need links)");
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                return Err(unsafe_entry(
                    "device or FIFO entries are not allowed".into(),
                ));
            }
            other => {
                return Err(unsafe_entry(format!("unsupported entry type {other:?}")));
            }
        }
    }
    Ok(())
}

fn extract_zip(file: File, dest: &Path, budget: &mut Budget<'_>) -> Result<()> {
    let archive = budget.archive;
    let corrupt = |e: zip::result::ZipError| ArchiveError::Corrupt {
        archive: archive.to_owned(),
        reason: e.to_string(),
    };
    let limits = budget.limits;
    // The central directory is read into memory whole: refuse one announcing too many
    // entries before the zip reader builds it.
    let announced = zip_announced_entries(&file).map_err(io_at(archive))?;
    if announced.is_some_and(|n| n > limits.max_entries) {
        return Err(ArchiveError::TooLarge {
            archive: archive.to_owned(),
            entry: None,
            what: "number of entries",
            limit: limits.max_entries,
        });
    }
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file)).map_err(corrupt)?;
    if zip.len() as u64 > limits.max_entries {
        return Err(ArchiveError::TooLarge {
            archive: archive.to_owned(),
            entry: None,
            what: "number of entries",
            limit: limits.max_entries,
        });
    }
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(corrupt)?;
        let raw = f.name_raw().to_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        budget.entry(&name)?;
        let unsafe_entry = |reason: String| ArchiveError::UnsafeEntry {
            archive: archive.to_owned(),
            entry: name.clone(),
            reason,
        };
        let rel = safe_relative(&raw, &limits).map_err(unsafe_entry)?;
        let mode = f.unix_mode().unwrap_or(0);
        let file_type = mode & 0o170_000;
        if matches!(file_type, 0o020_000 | 0o060_000 | 0o010_000 | 0o140_000) {
            return Err(unsafe_entry(
                "device, FIFO or socket entries are not allowed".into(),
            ));
        }
        if f.is_symlink() {
            let mut target = Vec::new();
            (&mut f)
                .take(4096)
                .read_to_end(&mut target)
                .map_err(|e| ArchiveError::Corrupt {
                    archive: archive.to_owned(),
                    reason: format!("entry {name:?}: {e}"),
                })?;
            let base = rel
                .as_ref()
                .and_then(|r| r.parent().map(Path::to_owned))
                .unwrap_or_default();
            if !link_stays_inside(&base, &target) {
                return Err(unsafe_entry(format!(
                    "symlink to {:?} points outside the archive",
                    String::from_utf8_lossy(&target)
                )));
            }
            tracing::warn!(archive = %archive.display(), entry = %name, "skipping symlink (cookbooks do not need links)");
            continue;
        }
        if f.is_dir() {
            if let Some(rel) = rel {
                let p = dest.join(rel);
                std::fs::create_dir_all(&p).map_err(io_at(&p))?;
            }
            continue;
        }
        let rel = rel.ok_or_else(|| unsafe_entry("a file entry without a name".into()))?;
        let to = dest.join(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io_at(parent))?;
        }
        budget.copy(&name, &mut f, &to, mode & 0o111 != 0)?;
    }
    Ok(())
}

/// The entry count a zip's end-of-central-directory record announces (the zip64 one when
/// present), read from the file's tail; `None` when no such record is found (the zip reader
/// then reports the damage).
fn zip_announced_entries(file: &File) -> io::Result<Option<u64>> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    let len = f.seek(SeekFrom::End(0))?;
    // The record is 22 bytes plus a comment of at most 65,535 bytes, plus the zip64 locator.
    let tail_len = len.min(22 + 65_535 + 20);
    f.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::new();
    f.take(tail_len).read_to_end(&mut tail)?;
    f.seek(SeekFrom::Start(0))?;
    let Some(at) = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..].starts_with(b"PK\x05\x06"))
    else {
        return Ok(None);
    };
    let total = u64::from(u16::from_le_bytes([tail[at + 10], tail[at + 11]]));
    // A zip64 archive has a locator just before the record pointing at a zip64 record that
    // holds the real (64-bit) count.
    if at >= 20 && tail[at - 20..].starts_with(b"PK\x06\x07") {
        let mut off = [0u8; 8];
        off.copy_from_slice(&tail[at - 12..at - 4]);
        let record = u64::from_le_bytes(off);
        let mut rec = [0u8; 40];
        if record.checked_add(40).is_some_and(|end| end <= len) {
            f.seek(SeekFrom::Start(record))?;
            let read = f.read_exact(&mut rec);
            f.seek(SeekFrom::Start(0))?;
            if read.is_ok() && rec.starts_with(b"PK\x06\x06") {
                let mut n = [0u8; 8];
                n.copy_from_slice(&rec[32..40]);
                return Ok(Some(u64::from_le_bytes(n).max(total)));
            }
        }
    }
    Ok(Some(total))
}

fn has_metadata(dir: &Path) -> bool {
    dir.join("metadata.json").is_file() || dir.join("metadata.rb").is_file()
}

/// Finds the cookbook in an extracted tree: the root itself if it has `metadata.json` or
/// `metadata.rb`, else the first (by name) child directory that does. Supermarket tarballs
/// contain `NAME/...`.
pub fn find_cookbook_root(dir: &Path) -> Option<PathBuf> {
    if has_metadata(dir) {
        return Some(dir.to_owned());
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    children.sort();
    children.into_iter().find(|c| has_metadata(c))
}

/// Reads a cookbook directory's `(name, version)` from its metadata; errors are messages
/// naming the file and line.
pub type MetadataCheck = Arc<dyn Fn(&Path) -> Result<(String, String), String> + Send + Sync>;

/// The production [`MetadataCheck`]: `chef_api::cookbook::metadata::load`.
pub fn chef_metadata_check() -> MetadataCheck {
    Arc::new(|dir: &Path| {
        let (m, _) = chef_api::cookbook::metadata::load(dir).map_err(|e| e.to_string())?;
        Ok((m.name().to_owned(), m.version().to_owned()))
    })
}

/// The default cache directory: `$XDG_CACHE_HOME/chef-sync/cookbooks`, else
/// `$HOME/.cache/chef-sync/cookbooks`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".cache"))
        })?;
    Some(base.join("chef-sync").join("cookbooks"))
}

/// The extracted-cookbook cache: `ROOT/NAME-VERSION/`.
#[derive(Clone)]
pub struct CookbookStore {
    root: PathBuf,
    limits: ExtractLimits,
    check: MetadataCheck,
}

impl std::fmt::Debug for CookbookStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookbookStore")
            .field("root", &self.root)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl CookbookStore {
    /// A store at `root` with default limits and the Chef metadata check.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            limits: ExtractLimits::default(),
            check: chef_metadata_check(),
        }
    }

    /// Uses other extraction limits.
    pub fn with_limits(mut self, limits: ExtractLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Uses another way to read a cookbook's name and version.
    pub fn with_metadata_check(mut self, check: MetadataCheck) -> Self {
        self.check = check;
        self
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `name` at `version` lives (whether or not it is installed).
    pub fn path(&self, name: &str, version: &Version) -> Result<PathBuf> {
        if !is_valid_cookbook_name(name) {
            return Err(ArchiveError::InvalidName(name.to_owned()));
        }
        Ok(self.root.join(format!("{name}-{version}")))
    }

    /// Is `name` at `version` installed?
    pub fn contains(&self, name: &str, version: &Version) -> bool {
        self.path(name, version)
            .map(|p| p.is_dir())
            .unwrap_or(false)
    }

    /// Extracts `archive`, checks that it holds `name` at `version`, and moves it into place
    /// atomically. Returns the cookbook's directory. Already installed: returns at once.
    pub fn install_archive(
        &self,
        name: &str,
        version: &Version,
        archive: &Path,
    ) -> Result<PathBuf> {
        let target = self.path(name, version)?;
        if target.is_dir() {
            return Ok(target);
        }
        let tmp = self.staging(name, version)?;
        let out = tmp.path().join("extract");
        extract(archive, &out, &self.limits)?;
        let cookbook = find_cookbook_root(&out).ok_or_else(|| ArchiveError::NotACookbook {
            archive: archive.to_owned(),
        })?;
        self.commit(name, version, &cookbook, archive)
    }

    /// A fresh temporary directory inside the store (same filesystem, so [`commit`] can
    /// rename out of it), removed when dropped. For cookbooks assembled file by file, such as
    /// a Chef server download.
    ///
    /// [`commit`]: CookbookStore::commit
    pub fn staging(&self, name: &str, version: &Version) -> Result<tempfile::TempDir> {
        self.path(name, version)?;
        std::fs::create_dir_all(&self.root).map_err(io_at(&self.root))?;
        tempfile::Builder::new()
            .prefix(&format!(".tmp-{name}-{version}-"))
            .tempdir_in(&self.root)
            .map_err(io_at(&self.root))
    }

    /// Checks that the cookbook directory `cookbook` (inside a [`staging`] directory) holds
    /// `name` at `version` and renames it into place, so the store never shows half a
    /// cookbook. `origin` names where it came from in errors (archive, server URL).
    ///
    /// [`staging`]: CookbookStore::staging
    pub fn commit(
        &self,
        name: &str,
        version: &Version,
        cookbook: &Path,
        origin: &Path,
    ) -> Result<PathBuf> {
        let target = self.path(name, version)?;
        let (found_name, found_version) =
            (self.check)(cookbook).map_err(|message| ArchiveError::Metadata {
                archive: origin.to_owned(),
                message,
            })?;
        if found_name != name || Version::parse(&found_version).ok() != Some(*version) {
            return Err(ArchiveError::Mismatch {
                archive: origin.to_owned(),
                expected_name: name.to_owned(),
                expected_version: *version,
                found_name,
                found_version,
            });
        }
        if let Err(e) = std::fs::rename(cookbook, &target) {
            if target.is_dir() {
                return Ok(target); // another run installed it first
            }
            return Err(ArchiveError::Io {
                path: target,
                source: e,
            });
        }
        Ok(target)
    }

    /// Installed cookbooks (directories named `NAME-VERSION` with a valid version).
    pub fn list(&self) -> Vec<(String, Version)> {
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out: Vec<(String, Version)> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().into_string().ok()?;
                if n.starts_with('.') {
                    return None;
                }
                let (name, ver) = n.rsplit_once('-')?;
                Some((name.to_owned(), Version::parse(ver).ok()?))
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_validated() {
        let limits = ExtractLimits {
            max_path_len: 100,
            max_path_depth: 4,
            ..ExtractLimits::default()
        };
        let ok = |s: &str| safe_relative(s.as_bytes(), &limits).unwrap();
        assert_eq!(
            ok("./apt/metadata.json"),
            Some(PathBuf::from("apt/metadata.json"))
        );
        assert_eq!(ok("./"), None);
        for bad in ["/etc/passwd", "apt/../../x", "..", "C:/x", "a\\b", "a\0b"] {
            assert!(safe_relative(bad.as_bytes(), &limits).is_err(), "{bad:?}");
        }
        assert!(safe_relative(&[b'a'; 101], &limits).is_err());
        assert!(ok("./a/b/c/d").is_some());
        let deep = safe_relative(b"a/b/c/d/e", &limits).unwrap_err();
        assert!(deep.contains("deeper than 4"), "{deep}");
    }

    /// An end-of-central-directory record announcing `n` entries (and nothing else).
    fn eocd(n: u16) -> Vec<u8> {
        let mut b = b"PK\x05\x06".to_vec();
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(&n.to_le_bytes());
        b.extend_from_slice(&n.to_le_bytes());
        b.extend_from_slice(&[0; 10]);
        b
    }

    #[test]
    fn a_zip_announcing_too_many_entries_is_refused_before_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("many.zip");
        std::fs::write(&zip, eocd(60_000)).unwrap();
        let limits = ExtractLimits {
            max_entries: 1000,
            ..ExtractLimits::default()
        };
        let err = extract(&zip, &dir.path().join("out"), &limits).unwrap_err();
        assert!(
            matches!(err, ArchiveError::TooLarge { what, .. } if what == "number of entries"),
            "{err}"
        );
        assert!(err.to_string().contains("many.zip"), "{err}");
        // Within the limit, the same (empty) archive is read: nothing to extract.
        std::fs::write(&zip, eocd(0)).unwrap();
        extract(&zip, &dir.path().join("out"), &limits).unwrap();
    }

    #[test]
    fn link_targets_are_resolved_from_their_directory() {
        assert!(link_stays_inside(Path::new("apt/files"), b"../README.md"));
        assert!(!link_stays_inside(Path::new("apt"), b"../../etc/passwd"));
        assert!(!link_stays_inside(Path::new(""), b"/etc/passwd"));
        assert!(!link_stays_inside(Path::new(""), b".."));
    }

    #[test]
    fn store_paths_reject_unsafe_names() {
        let s = CookbookStore::new("/tmp/x");
        assert!(s.path("../evil", &Version::new(1, 0, 0)).is_err());
        assert_eq!(
            s.path("apt", &Version::new(1, 2, 0)).unwrap(),
            PathBuf::from("/tmp/x/apt-1.2.0")
        );
    }
}
