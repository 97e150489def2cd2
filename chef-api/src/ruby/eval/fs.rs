//! File access for the sandbox's `File`, `IO` and `Dir` built-ins: the [`FileSystem`] trait
//! and the real one, [`StdFs`].

use std::path::{Path, PathBuf};

/// File access used by `File.read`, `IO.read`, `File.exist?` and friends.
pub trait FileSystem: Send + Sync {
    /// Reads a whole file as UTF-8.
    fn read_to_string(&self, path: &Path) -> std::io::Result<String>;
    /// Whether something exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &Path) -> bool;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` itself is a symbolic link (`File.symlink?`); default: never.
    fn is_symlink(&self, _path: &Path) -> bool {
        false
    }
    /// The target of the symbolic link at `path` (`File.readlink`); default: unsupported.
    fn read_link(&self, _path: &Path) -> std::io::Result<PathBuf> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
    /// The entry names of the directory at `path` (`Dir.glob`); default: unsupported.
    fn read_dir(&self, _path: &Path) -> std::io::Result<Vec<String>> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
    /// `path` with symbolic links resolved, for the sandbox's read confinement; default:
    /// `path` as given (a file system without links).
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
        Ok(path.to_path_buf())
    }
    /// Reads a regular file as UTF-8, failing with [`std::io::ErrorKind::FileTooLarge`] once
    /// it has more than `limit` bytes; default: [`FileSystem::read_to_string`], then the check.
    fn read_to_string_limited(&self, path: &Path, limit: u64) -> std::io::Result<String> {
        let text = self.read_to_string(path)?;
        if text.len() as u64 > limit {
            return Err(std::io::Error::from(std::io::ErrorKind::FileTooLarge));
        }
        Ok(text)
    }
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

impl FileSystem for StdFs {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn is_symlink(&self, path: &Path) -> bool {
        path.is_symlink()
    }
    fn read_link(&self, path: &Path) -> std::io::Result<PathBuf> {
        std::fs::read_link(path)
    }
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }
    fn read_to_string_limited(&self, path: &Path, limit: u64) -> std::io::Result<String> {
        use std::io::Read;
        // Checked before opening: opening a FIFO would block, a device never ends.
        if !std::fs::metadata(path)?.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        let file = std::fs::File::open(path)?;
        if !file.metadata()?.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        let mut text = String::new();
        file.take(limit.saturating_add(1))
            .read_to_string(&mut text)?;
        if text.len() as u64 > limit {
            return Err(std::io::Error::from(std::io::ErrorKind::FileTooLarge));
        }
        Ok(text)
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect()
    }
}
