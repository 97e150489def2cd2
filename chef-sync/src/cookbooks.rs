//! Local cookbooks: every cookbook under each `cookbook_path`, found and loaded once.
//!
//! A cookbook is a directory directly under a `cookbook_path` entry that has a `metadata.rb` or
//! a `metadata.json` (what knife's cookbook loader looks for). Loading walks the files, applies
//! chefignore and hashes every file; that is disk and CPU work, so each cookbook is loaded on
//! the blocking pool, several at once. Servers sharing a `cookbook_path` share the same
//! [`Arc<LoadedCookbook>`]: a repository is read and hashed once however many servers it goes to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chef_api::cookbook::{CookbookError, LoadedCookbook};
use futures::{StreamExt, TryStreamExt};

/// Why the local cookbooks could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CookbooksError {
    /// A `cookbook_path` entry exists but could not be listed.
    #[error("cookbook_path {}: {source}", path.display())]
    ReadDir {
        /// The `cookbook_path` entry.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A cookbook could not be loaded (unreadable file, bad metadata, ...).
    #[error(transparent)]
    Load(#[from] CookbookError),
    /// Two directories on the cookbook path hold the same cookbook name; knife would not know
    /// which one to upload either.
    #[error("cookbook '{name}' is in both {} and {}; keep one", first.display(), second.display())]
    Duplicate {
        /// The cookbook name.
        name: String,
        /// The first directory.
        first: PathBuf,
        /// The second directory.
        second: PathBuf,
    },
    /// The Berksfile could not be evaluated, resolved or installed (names the Berksfile or
    /// lock line, or the source URL).
    #[error(transparent)]
    Berkshelf(Box<crate::berkshelf::PrepareError>),
    /// The loading task panicked or was cancelled.
    #[error("loading the cookbook in {} did not finish: {message}", dir.display())]
    Task {
        /// The cookbook directory.
        dir: PathBuf,
        /// What happened to the task.
        message: String,
    },
}

impl CookbooksError {
    /// The server's answer, when a Berkshelf source's request failed on one.
    pub fn response(&self) -> Option<&chef_api::error::ResponseError> {
        match self {
            Self::Berkshelf(e) => e.response(),
            _ => None,
        }
    }

    /// The HTTP status, when a Berkshelf source's request failed on the server's answer.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }
}

/// Told about each cookbook as soon as it is loaded, before the others are, with the
/// `cookbook_path` entry (or the Berksfile) it is filed under: a sync starts each server's
/// manifest GET for it at once instead of after the whole repository is hashed.
pub type OnLoaded<'a> = &'a (dyn Fn(&Path, &Arc<LoadedCookbook>) + Send + Sync);

/// The cookbooks found under a set of `cookbook_path` entries, each loaded once.
#[derive(Debug, Clone, Default)]
pub struct CookbookSet {
    by_path: BTreeMap<PathBuf, Vec<Arc<LoadedCookbook>>>,
}

impl CookbookSet {
    /// Finds and loads every cookbook under each of `paths` (duplicates in `paths` are read once),
    /// at most `parallelism` at a time (0 means the number of CPUs). A `cookbook_path` entry
    /// that does not exist holds no cookbooks, as with knife.
    ///
    /// # Errors
    /// [`CookbooksError`] naming the directory or cookbook that could not be read.
    pub async fn load(paths: &[PathBuf], parallelism: usize) -> Result<Self, CookbooksError> {
        Self::load_with(paths, parallelism, &|_, _| {}).await
    }

    /// [`load`](Self::load), telling `on_loaded` about each cookbook as soon as it is loaded.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub async fn load_with(
        paths: &[PathBuf],
        parallelism: usize,
        on_loaded: OnLoaded<'_>,
    ) -> Result<Self, CookbooksError> {
        let parallelism = if parallelism == 0 {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        } else {
            parallelism
        };
        let mut dirs = Vec::new();
        let mut by_path: BTreeMap<PathBuf, Vec<Arc<LoadedCookbook>>> = BTreeMap::new();
        for path in paths {
            if by_path.contains_key(path) {
                continue;
            }
            by_path.insert(path.clone(), Vec::new());
            for dir in find_cookbook_dirs(path)? {
                dirs.push((path.clone(), dir));
            }
        }
        let loaded: Vec<(PathBuf, Arc<LoadedCookbook>)> = futures::stream::iter(dirs)
            .map(|(path, dir)| async move {
                let loaded = load_one(dir).await?;
                on_loaded(&path, &loaded);
                Ok::<_, CookbooksError>((path, loaded))
            })
            .buffered(parallelism)
            .try_collect()
            .await?;
        for (path, cookbook) in loaded {
            let list = by_path.entry(path).or_default();
            if let Some(other) = list.iter().find(|c| c.name() == cookbook.name()) {
                return Err(CookbooksError::Duplicate {
                    name: cookbook.name().to_owned(),
                    first: other.dir().to_path_buf(),
                    second: cookbook.dir().to_path_buf(),
                });
            }
            list.push(cookbook);
        }
        Ok(Self { by_path })
    }

    /// The Berksfile's whole lock graph ([`crate::berkshelf::prepare()`]: path cookbooks in place,
    /// the others fetched into the cache), loaded like [`load`](Self::load) and filed under the
    /// Berksfile's path, so `for_paths(&[berksfile])` returns them. Also returns what
    /// `prepare` reported (warnings, whether the lock was written).
    ///
    /// # Errors
    /// [`CookbooksError::Berkshelf`], or a cookbook that cannot be loaded.
    pub async fn load_berksfile(
        repo_root: &Path,
        berksfile: &Path,
        options: &crate::berkshelf::PrepareOptions,
        parallelism: usize,
    ) -> Result<(Self, crate::berkshelf::Prepared), CookbooksError> {
        Self::load_berksfile_with(repo_root, berksfile, options, parallelism, &|_, _| {}).await
    }

    /// [`load_berksfile`](Self::load_berksfile), telling `on_loaded` about each cookbook (filed
    /// under `berksfile`) as soon as it is loaded.
    ///
    /// # Errors
    /// As [`load_berksfile`](Self::load_berksfile).
    pub async fn load_berksfile_with(
        repo_root: &Path,
        berksfile: &Path,
        options: &crate::berkshelf::PrepareOptions,
        parallelism: usize,
        on_loaded: OnLoaded<'_>,
    ) -> Result<(Self, crate::berkshelf::Prepared), CookbooksError> {
        let prepared = crate::berkshelf::prepare(repo_root, berksfile, options)
            .await
            .map_err(|e| CookbooksError::Berkshelf(Box::new(e)))?;
        let parallelism = if parallelism == 0 {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        } else {
            parallelism
        };
        let loaded: Vec<Arc<LoadedCookbook>> =
            futures::stream::iter(prepared.cookbook_dirs.clone())
                .map(|dir| async move {
                    let loaded = load_one(dir).await?;
                    on_loaded(berksfile, &loaded);
                    Ok::<_, CookbooksError>(loaded)
                })
                .buffered(parallelism)
                .try_collect()
                .await?;
        let mut by_path = BTreeMap::new();
        by_path.insert(berksfile.to_path_buf(), loaded);
        Ok((Self { by_path }, prepared))
    }

    /// The cookbooks under `paths` (each of which must have been given to [`load`](Self::load)),
    /// sorted by name.
    ///
    /// # Errors
    /// [`CookbooksError::Duplicate`] when two of the paths hold the same cookbook name.
    pub fn for_paths(&self, paths: &[PathBuf]) -> Result<Vec<Arc<LoadedCookbook>>, CookbooksError> {
        let mut out: BTreeMap<String, Arc<LoadedCookbook>> = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for path in paths {
            if !seen.insert(path) {
                continue;
            }
            for cookbook in self.by_path.get(path).into_iter().flatten() {
                if let Some(first) = out.get(cookbook.name()) {
                    return Err(CookbooksError::Duplicate {
                        name: cookbook.name().to_owned(),
                        first: first.dir().to_path_buf(),
                        second: cookbook.dir().to_path_buf(),
                    });
                }
                out.insert(cookbook.name().to_owned(), Arc::clone(cookbook));
            }
        }
        Ok(out.into_values().collect())
    }

    /// Every loaded cookbook, sorted by name then directory.
    pub fn all(&self) -> Vec<Arc<LoadedCookbook>> {
        let mut all: Vec<_> = self.by_path.values().flatten().cloned().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()).then_with(|| a.dir().cmp(b.dir())));
        all
    }
}

/// Loads (walks, hashes) the cookbook in `dir` on the blocking pool.
async fn load_one(dir: PathBuf) -> Result<Arc<LoadedCookbook>, CookbooksError> {
    let task_dir = dir.clone();
    let loaded = tokio::task::spawn_blocking(move || LoadedCookbook::load(&task_dir))
        .await
        .map_err(|e| CookbooksError::Task {
            dir,
            message: e.to_string(),
        })??;
    Ok(Arc::new(loaded))
}

/// The cookbook directories directly under `path`, sorted: those with `metadata.rb` or
/// `metadata.json`.
fn find_cookbook_dirs(path: &Path) -> Result<Vec<PathBuf>, CookbooksError> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CookbooksError::ReadDir {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| CookbooksError::ReadDir {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = entry.path();
        if dir.is_dir()
            && (dir.join("metadata.rb").is_file() || dir.join("metadata.json").is_file())
        {
            dirs.push(dir);
        }
    }
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[tokio::test]
    async fn finds_cookbooks_with_metadata_and_skips_other_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cookbooks");
        write(&root, "web/metadata.rb", "name 'web'\nversion '1.2.0'\n");
        write(&root, "web/recipes/default.rb", "package 'nginx'\n");
        write(
            &root,
            "db/metadata.json",
            r#"{"name": "db", "version": "0.3.0"}"#,
        );
        write(&root, "notes/README.md", "not a cookbook\n");
        write(&root, "stray.txt", "file\n");
        let missing = tmp.path().join("nope");
        let set = CookbookSet::load(&[root.clone(), missing.clone(), root.clone()], 0)
            .await
            .unwrap();
        let names: Vec<_> = set
            .for_paths(&[root, missing])
            .unwrap()
            .iter()
            .map(|c| format!("{}@{}", c.name(), c.version()))
            .collect();
        assert_eq!(names, ["db@0.3.0", "web@1.2.0"]);
        assert_eq!(set.all().len(), 2);
    }

    #[tokio::test]
    async fn servers_with_the_same_path_share_one_load() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "a/metadata.rb", "name 'a'\nversion '1.0.0'\n");
        let paths = [tmp.path().to_path_buf()];
        let set = CookbookSet::load(&paths, 1).await.unwrap();
        let one = set.for_paths(&paths).unwrap();
        let two = set.for_paths(&paths).unwrap();
        assert!(Arc::ptr_eq(&one[0], &two[0]));
    }

    #[tokio::test]
    async fn the_same_cookbook_in_two_paths_is_an_error_naming_both() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "p1/app/metadata.rb",
            "name 'app'\nversion '1.0.0'\n",
        );
        write(
            tmp.path(),
            "p2/app2/metadata.rb",
            "name 'app'\nversion '2.0.0'\n",
        );
        let paths = [tmp.path().join("p1"), tmp.path().join("p2")];
        let set = CookbookSet::load(&paths, 2).await.unwrap();
        let err = set.for_paths(&paths).unwrap_err().to_string();
        assert!(
            err.contains("'app'") && err.contains("p1") && err.contains("p2"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn each_loaded_cookbook_is_told_with_its_path_and_is_the_one_kept() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "a/metadata.rb", "name 'a'\nversion '1.0.0'\n");
        write(tmp.path(), "b/metadata.rb", "name 'b'\nversion '2.0.0'\n");
        let paths = [tmp.path().to_path_buf()];
        let told = std::sync::Mutex::new(Vec::new());
        let set = CookbookSet::load_with(&paths, 2, &|path, cookbook| {
            told.lock()
                .unwrap()
                .push((path.to_path_buf(), Arc::clone(cookbook)));
        })
        .await
        .unwrap();
        let mut told = told.into_inner().unwrap();
        told.sort_by(|x, y| x.1.name().cmp(y.1.name()));
        let kept = set.for_paths(&paths).unwrap();
        assert_eq!(told.len(), 2);
        for ((path, cookbook), kept) in told.iter().zip(&kept) {
            assert_eq!(path, &paths[0]);
            assert!(Arc::ptr_eq(cookbook, kept), "{}", cookbook.name());
        }
    }

    #[tokio::test]
    async fn bad_metadata_names_the_cookbook() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "broken/metadata.json", "{ not json");
        let err = CookbookSet::load(&[tmp.path().to_path_buf()], 0)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("broken"), "{err}");
    }
}
