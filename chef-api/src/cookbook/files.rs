//! The file walk and hashing of one cookbook directory (`Chef::Cookbook::CookbookVersionLoader`).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use md5::{Digest, Md5};

use super::CookbookError;
use super::chefignore::Chefignore;
use super::segment::{Placement, Segment, place};

/// knife's marker file, never uploaded at any depth.
pub const UPLOADED_VERSION_FILE: &str = ".uploaded-cookbook-version.json";

/// Read buffer size for streaming MD5.
const HASH_BUFFER: usize = 64 * 1024;

/// Where a file's bytes come from.
#[derive(Clone, PartialEq, Eq)]
pub enum FileBody {
    /// A file on disk (for a symlink, the link path; opening follows it to the target).
    Disk(PathBuf),
    /// Bytes generated in memory (the `metadata.json` knife compiles from `metadata.rb`).
    Memory(Bytes),
}

impl std::fmt::Debug for FileBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Disk(path) => f.debug_tuple("Disk").field(path).finish(),
            Self::Memory(bytes) => write!(f, "Memory({} bytes)", bytes.len()),
        }
    }
}

/// One file of a cookbook as it goes into a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookbookFile {
    path: String,
    placement: Placement,
    md5: [u8; 16],
    size: u64,
    body: FileBody,
}

impl CookbookFile {
    /// Builds the record of an in-memory file at cookbook-relative `path`, hashing `bytes`.
    pub fn in_memory(path: &str, bytes: Bytes) -> Self {
        let md5: [u8; 16] = Md5::digest(&bytes).into();
        Self {
            path: path.to_owned(),
            placement: place(path),
            md5,
            size: bytes.len() as u64,
            body: FileBody::Memory(bytes),
        }
    }

    /// Hashes the file at `disk_path` (streaming, fixed buffer) as cookbook-relative `path`.
    ///
    /// # Errors
    /// [`CookbookError::Io`] naming `disk_path` when it cannot be read.
    pub fn from_disk(path: &str, disk_path: PathBuf) -> Result<Self, CookbookError> {
        let io_err = |source| CookbookError::Io {
            path: disk_path.clone(),
            source,
        };
        let mut file = fs::File::open(&disk_path).map_err(io_err)?;
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; HASH_BUFFER];
        let mut size = 0u64;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(e)),
            };
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok(Self {
            path: path.to_owned(),
            placement: place(path),
            md5: hasher.finalize().into(),
            size,
            body: FileBody::Disk(disk_path),
        })
    }

    /// Cookbook-relative path with `/` separators (the manifest's `path`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The segment the file belongs to.
    pub fn segment(&self) -> &Segment {
        &self.placement.segment
    }

    /// Segment, names and specificity.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The record `name` in a v0 manifest (basename without the segment).
    pub fn v0_name(&self) -> &str {
        self.placement.v0_name()
    }

    /// The record `name` in a v2 manifest (`segment/basename`).
    pub fn v2_name(&self) -> &str {
        &self.placement.v2_name
    }

    /// The record `specificity`.
    pub fn specificity(&self) -> &str {
        &self.placement.specificity
    }

    /// The raw 16-byte MD5 (base64 of it is the `Content-MD5` header of the upload).
    pub fn md5(&self) -> [u8; 16] {
        self.md5
    }

    /// The checksum as manifests and sandboxes carry it: 32 lowercase hex characters.
    pub fn checksum(&self) -> String {
        use std::fmt::Write as _;
        self.md5.iter().fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Size in bytes (the upload's `Content-Length`).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where the bytes come from.
    pub fn body(&self) -> &FileBody {
        &self.body
    }

    /// Opens the body for streaming (a fresh reader each call).
    ///
    /// # Errors
    /// [`CookbookError::Io`] naming the disk path when it cannot be opened.
    pub fn open(&self) -> Result<Box<dyn Read + Send>, CookbookError> {
        match &self.body {
            FileBody::Disk(path) => fs::File::open(path)
                .map(|f| Box::new(f) as Box<dyn Read + Send>)
                .map_err(|source| CookbookError::Io {
                    path: path.clone(),
                    source,
                }),
            FileBody::Memory(bytes) => Ok(Box::new(io::Cursor::new(bytes.clone()))),
        }
    }

    /// The manifest record `{name, path, checksum, specificity}` with the v0 or v2 `name`.
    pub fn record(&self, v2: bool) -> serde_json::Value {
        serde_json::json!({
            "name": if v2 { self.v2_name() } else { self.v0_name() },
            "path": self.path,
            "checksum": self.checksum(),
            "specificity": self.specificity(),
        })
    }
}

/// A symlink in a cookbook that cannot be followed (dangling, a loop, a target that cannot be
/// read): not a cookbook file, as knife's `File.file?` says, and so not uploaded; reported as
/// a warning naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLink {
    /// The link's path on disk.
    pub path: PathBuf,
    /// Why it cannot be followed (the OS error).
    pub reason: String,
}

impl std::fmt::Display for SkippedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: symlink cannot be followed ({}); not uploaded, as knife skips it",
            self.path.display(),
            self.reason
        )
    }
}

/// A cookbook directory's files after the walk, chefignore and hashing, sorted by path; no
/// metadata yet (see [`LoadedCookbook`](super::LoadedCookbook)).
#[derive(Debug, Clone)]
pub struct CookbookFiles {
    root: PathBuf,
    chefignore: Chefignore,
    files: Vec<CookbookFile>,
    skipped_links: Vec<SkippedLink>,
}

impl CookbookFiles {
    /// Walks `dir` exactly as knife does, applies the chefignore found upwards from it and
    /// hashes every file, in parallel on up to the available cores.
    ///
    /// # Errors
    /// [`CookbookError::NotADirectory`], [`CookbookError::Io`], [`CookbookError::NonUtf8Path`],
    /// [`CookbookError::ChefignoreNotUtf8`].
    pub fn walk(dir: &Path) -> Result<Self, CookbookError> {
        let chefignore = Chefignore::find(dir)?;
        Self::walk_with(dir, chefignore, default_threads())
    }

    /// Like [`walk`](Self::walk) with a given chefignore and number of hashing threads
    /// (at least one).
    ///
    /// # Errors
    /// As [`walk`](Self::walk).
    pub fn walk_with(
        dir: &Path,
        chefignore: Chefignore,
        threads: usize,
    ) -> Result<Self, CookbookError> {
        let mut skipped_links = Vec::new();
        let listed = list_files(dir, &mut skipped_links)?;
        let kept: Vec<(String, PathBuf)> = listed
            .into_iter()
            .filter(|(rel, _)| !chefignore.is_ignored(rel))
            .collect();
        // A link chefignore leaves out is no concern of the upload's.
        skipped_links.retain(|link| {
            link.path
                .strip_prefix(dir)
                .ok()
                .and_then(Path::to_str)
                .is_none_or(|rel| !chefignore.is_ignored(&rel.replace('\\', "/")))
        });
        for link in &skipped_links {
            tracing::warn!("{link}");
        }
        let files = hash_all(kept, threads)?;
        Ok(Self {
            root: dir.to_path_buf(),
            chefignore,
            files,
            skipped_links,
        })
    }

    /// Symlinks that could not be followed and so are not uploaded.
    pub fn skipped_links(&self) -> &[SkippedLink] {
        &self.skipped_links
    }

    /// The cookbook directory walked.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The chefignore applied.
    pub fn chefignore(&self) -> &Chefignore {
        &self.chefignore
    }

    /// The files, sorted by path.
    pub fn files(&self) -> &[CookbookFile] {
        &self.files
    }

    /// Takes the files out.
    pub fn into_files(self) -> Vec<CookbookFile> {
        self.files
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

fn utf8_name(name: &std::ffi::OsStr, full: &Path) -> Result<String, CookbookError> {
    name.to_str()
        .map(str::to_owned)
        .ok_or_else(|| CookbookError::NonUtf8Path {
            path: full.to_path_buf(),
        })
}

/// Lists every file knife would consider (before chefignore), as (relative path, disk path),
/// sorted by relative path.
fn list_files(
    dir: &Path,
    skipped: &mut Vec<SkippedLink>,
) -> Result<Vec<(String, PathBuf)>, CookbookError> {
    let meta = fs::metadata(dir).map_err(|source| CookbookError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(CookbookError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    for (name, path, file_type) in read_dir(dir)? {
        // Top-level directories starting with "." are skipped (File.directory? follows links).
        if name.starts_with('.') && path.is_dir() {
            continue;
        }
        visit(&name, path, file_type, &mut out, skipped)?;
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn read_dir(dir: &Path) -> Result<Vec<(String, PathBuf, fs::FileType)>, CookbookError> {
    let io_err = |source| CookbookError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let path = entry.path();
        let name = utf8_name(&entry.file_name(), &path)?;
        let file_type = entry.file_type().map_err(|source| CookbookError::Io {
            path: path.clone(),
            source,
        })?;
        entries.push((name, path, file_type));
    }
    Ok(entries)
}

fn visit(
    rel: &str,
    path: PathBuf,
    file_type: fs::FileType,
    out: &mut Vec<(String, PathBuf)>,
    skipped: &mut Vec<SkippedLink>,
) -> Result<(), CookbookError> {
    if file_type.is_dir() {
        for (name, child, child_type) in read_dir(&path)? {
            visit(&format!("{rel}/{name}"), child, child_type, out, skipped)?;
        }
        return Ok(());
    }
    // Regular files and symlinks to regular files (followed); symlinked directories, broken
    // links, sockets and the like are not cookbook files. A link that cannot be followed is
    // noted: it is often a mistake.
    let is_file = if file_type.is_symlink() {
        match fs::metadata(&path) {
            Ok(target) => target.is_file(),
            Err(e) => {
                skipped.push(SkippedLink {
                    path: path.clone(),
                    reason: e.to_string(),
                });
                false
            }
        }
    } else {
        file_type.is_file()
    };
    let base = rel.rsplit('/').next().unwrap_or(rel);
    if is_file && base != UPLOADED_VERSION_FILE {
        out.push((rel.to_owned(), path));
    }
    Ok(())
}

/// Hashes the files on `threads` threads (each taking the next unhashed file), keeping order.
fn hash_all(
    files: Vec<(String, PathBuf)>,
    threads: usize,
) -> Result<Vec<CookbookFile>, CookbookError> {
    let threads = threads.clamp(1, files.len().max(1));
    if threads == 1 {
        return files
            .into_iter()
            .map(|(rel, path)| CookbookFile::from_disk(&rel, path))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<CookbookFile, CookbookError>>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((rel, path)) = files.get(i) else {
                        break;
                    };
                    let result = CookbookFile::from_disk(rel, path.clone());
                    let failed = result.is_err();
                    *slots[i]
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
                    if failed {
                        // Stop everyone early: the first error in path order is reported.
                        next.store(files.len(), Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    let mut out = Vec::with_capacity(files.len());
    for slot in slots {
        match slot
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some(result) => out.push(result?),
            None => unreachable!("a file is left unhashed only after an earlier error"),
        }
    }
    Ok(out)
}
