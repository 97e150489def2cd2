//! Git locations through the `git` command line.
//!
//! * Each repository URL has a bare mirror at `CACHE/git/<sha256 of the URL>`, filled and
//!   refreshed with `git fetch --force URL +refs/heads/*:refs/heads/* +refs/tags/*:refs/tags/*
//!   +HEAD:refs/chef-sync/HEAD` (the last one records the remote's default branch).
//! * The revision is the locked one when given (no fetch if the mirror already has it), else
//!   `ref:` > `branch:` > `tag:` > the remote's HEAD, resolved to a 40-hex SHA.
//! * The tree at that revision (or its `rel:` subdirectory) is exported with `git archive` and
//!   extracted with the hardened [`super::archive::extract`] into `STORE/NAME-<sha>`, which is
//!   reused as is on later runs: a locked revision already extracted needs no git at all.
//!
//! git always runs with an argument vector (never a shell), `GIT_ALLOW_PROTOCOL` limited to
//! `https:http:ssh:git:file`, no terminal prompts, and revisions starting with `-` refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest;

use super::GitLocation;
use super::archive::{ArchiveError, ExtractLimits, extract};

/// Why a git location could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// The `git` program could not be started.
    #[error("could not run git ({source}); is git installed?")]
    Spawn {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A git command failed.
    #[error("{url}: `git {command}` failed: {stderr}")]
    Command {
        /// The repository URL.
        url: String,
        /// The command (without the URL-independent details).
        command: String,
        /// git's error output.
        stderr: String,
    },
    /// The branch, tag or ref does not exist in the repository.
    #[error("{url}: {what} not found in the repository")]
    RevisionNotFound {
        /// The repository URL.
        url: String,
        /// `branch 'x'`, `tag 'v1'`, `ref 'abc'`, `revision '...'`.
        what: String,
    },
    /// A revision or URL that would be read as a git option.
    #[error("{url}: refusing revision or URL {value:?} (starts with '-')")]
    Refused {
        /// The repository URL.
        url: String,
        /// The value.
        value: String,
    },
    /// The locked revision is not in the cache and fetching is not allowed.
    #[error("{url}: revision {revision} is not in the cache at {} and offline mode forbids fetching", cache.display())]
    Offline {
        /// The repository URL.
        url: String,
        /// The wanted revision (or the ref when not locked).
        revision: String,
        /// The mirror directory.
        cache: PathBuf,
    },
    /// The `rel:` subdirectory does not exist at that revision.
    #[error("{url}: rel: '{rel}' does not exist at revision {revision}")]
    MissingRel {
        /// The repository URL.
        url: String,
        /// The subdirectory.
        rel: String,
        /// The revision.
        revision: String,
    },
    /// A file asked for does not exist at that revision.
    #[error("{url}: {path} does not exist at {revision}")]
    MissingFile {
        /// The repository URL.
        url: String,
        /// The file's path in the repository.
        path: String,
        /// The revision (as asked for).
        revision: String,
    },
    /// Extracting the exported tree failed.
    #[error("{url}: extracting revision {revision}: {source}")]
    Extract {
        /// The repository URL.
        url: String,
        /// The revision.
        revision: String,
        /// The archive error.
        #[source]
        source: Box<ArchiveError>,
    },
    /// A cache directory could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A git cookbook checked out into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The 40-hex commit (what the lock records as `revision:`).
    pub revision: String,
    /// The cookbook's directory (`STORE/NAME-<revision>`).
    pub path: PathBuf,
    /// Whether git was asked for anything over the network.
    pub fetched: bool,
}

/// Fetches git locations into a cache directory.
#[derive(Debug, Clone)]
pub struct GitFetcher {
    mirrors: PathBuf,
    store: PathBuf,
    offline: bool,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GitError + '_ {
    move |source| GitError::Io {
        path: path.to_owned(),
        source,
    }
}

impl GitFetcher {
    /// Mirrors under `mirrors` (one bare repository per URL), checkouts in `store`.
    pub fn new(mirrors: impl Into<PathBuf>, store: impl Into<PathBuf>) -> Self {
        Self {
            mirrors: mirrors.into(),
            store: store.into(),
            offline: false,
        }
    }

    /// Never fetch: only revisions already in the cache can be used.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// The bare mirror directory for `url`.
    pub fn mirror_dir(&self, url: &str) -> PathBuf {
        let digest = sha2::Sha256::digest(url.as_bytes());
        let key: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.mirrors.join(key)
    }

    /// Checks out cookbook `name` from `loc`: at `locked` (a 40-hex revision from the lock) when
    /// given, else at the ref/branch/tag/default branch, resolved to a SHA.
    pub fn checkout(
        &self,
        name: &str,
        loc: &GitLocation,
        locked: Option<&str>,
    ) -> Result<Checkout, GitError> {
        let url = &loc.url;
        for v in [
            Some(url),
            loc.branch.as_ref(),
            loc.tag.as_ref(),
            loc.reference.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if v.starts_with('-') {
                return Err(GitError::Refused {
                    url: url.clone(),
                    value: v.clone(),
                });
            }
        }
        if let Some(rev) = locked {
            let valid = rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
            if !valid {
                return Err(GitError::Refused {
                    url: url.clone(),
                    value: rev.to_owned(),
                });
            }
            let dest = self.store.join(format!("{name}-{rev}"));
            if dest.is_dir() {
                return Ok(Checkout {
                    revision: rev.to_owned(),
                    path: dest,
                    fetched: false,
                });
            }
        }
        let mirror = self.mirror_dir(url);
        let mut fetched = false;
        if !mirror.join("HEAD").is_file() {
            if self.offline {
                return Err(GitError::Offline {
                    url: url.clone(),
                    revision: locked.unwrap_or("HEAD").to_owned(),
                    cache: mirror,
                });
            }
            std::fs::create_dir_all(&mirror).map_err(io_err(&mirror))?;
            self.git(url, None, &["init", "--quiet", "--bare"], Some(&mirror))?;
            self.fetch(url, &mirror)?;
            fetched = true;
        }
        let revision = match locked {
            Some(rev) => {
                if self
                    .resolve(url, &mirror, &format!("{rev}^{{commit}}"))
                    .is_none()
                {
                    if self.offline || fetched {
                        return Err(self.not_found(url, &mirror, format!("revision '{rev}'")));
                    }
                    self.fetch(url, &mirror)?;
                    fetched = true;
                }
                self.resolve(url, &mirror, &format!("{rev}^{{commit}}"))
                    .ok_or_else(|| GitError::RevisionNotFound {
                        url: url.clone(),
                        what: format!("revision '{rev}'"),
                    })?
            }
            None => {
                if !fetched {
                    if self.offline {
                        return Err(GitError::Offline {
                            url: url.clone(),
                            revision: "the branch, tag or ref".to_owned(),
                            cache: mirror,
                        });
                    }
                    self.fetch(url, &mirror)?;
                    fetched = true;
                }
                let (spec, what) = if let Some(r) = &loc.reference {
                    (format!("{r}^{{commit}}"), format!("ref '{r}'"))
                } else if let Some(b) = &loc.branch {
                    (
                        format!("refs/heads/{b}^{{commit}}"),
                        format!("branch '{b}'"),
                    )
                } else if let Some(t) = &loc.tag {
                    (format!("refs/tags/{t}^{{commit}}"), format!("tag '{t}'"))
                } else {
                    (
                        "refs/chef-sync/HEAD^{commit}".to_owned(),
                        "the default branch (HEAD)".to_owned(),
                    )
                };
                self.resolve(url, &mirror, &spec)
                    .ok_or_else(|| GitError::RevisionNotFound {
                        url: url.clone(),
                        what,
                    })?
            }
        };
        let dest = self.store.join(format!("{name}-{revision}"));
        if !dest.is_dir() {
            self.export(url, &mirror, &revision, loc.rel.as_deref(), &dest)?;
        }
        Ok(Checkout {
            revision,
            path: dest,
            fetched,
        })
    }

    /// Reads `file` from the repository at `url` as it is at `rev` (any name `git rev-parse`
    /// resolves in a bare clone: a branch, a tag, a SHA), after refreshing the mirror (unless
    /// offline, when the mirror must already exist). Returns what `git rev-parse REV` prints
    /// (for an annotated tag: the tag object, as chef-cli's `GitLockFetcher` records it) and
    /// the file's bytes.
    ///
    /// # Errors
    /// [`GitError`]: git failing, `rev` not found, `file` not at that revision, a value that
    /// starts with `-`.
    pub fn read_file(
        &self,
        url: &str,
        rev: &str,
        file: &str,
    ) -> Result<(String, Vec<u8>), GitError> {
        for v in [url, rev] {
            if v.starts_with('-') {
                return Err(GitError::Refused {
                    url: url.to_owned(),
                    value: v.to_owned(),
                });
            }
        }
        let mirror = self.mirror_dir(url);
        if self.offline {
            if !mirror.join("HEAD").is_file() {
                return Err(GitError::Offline {
                    url: url.to_owned(),
                    revision: rev.to_owned(),
                    cache: mirror,
                });
            }
        } else {
            if !mirror.join("HEAD").is_file() {
                std::fs::create_dir_all(&mirror).map_err(io_err(&mirror))?;
                self.git(url, None, &["init", "--quiet", "--bare"], Some(&mirror))?;
            }
            self.fetch(url, &mirror)?;
        }
        let revision = self
            .resolve(url, &mirror, rev)
            .ok_or_else(|| self.not_found(url, &mirror, format!("'{rev}'")))?;
        let spec = format!("{revision}:{}", file.trim_start_matches('/'));
        let kind = self.git(url, Some(&mirror), &["cat-file", "-t", &spec], None);
        if kind.map(|k| k.trim_ascii() != b"blob").unwrap_or(true) {
            return Err(GitError::MissingFile {
                url: url.to_owned(),
                path: file.to_owned(),
                revision: rev.to_owned(),
            });
        }
        let bytes = self.git(url, Some(&mirror), &["cat-file", "blob", &spec], None)?;
        Ok((revision, bytes))
    }

    fn not_found(&self, url: &str, mirror: &Path, what: String) -> GitError {
        if self.offline {
            GitError::Offline {
                url: url.to_owned(),
                revision: what,
                cache: mirror.to_owned(),
            }
        } else {
            GitError::RevisionNotFound {
                url: url.to_owned(),
                what,
            }
        }
    }

    fn fetch(&self, url: &str, mirror: &Path) -> Result<(), GitError> {
        self.git(
            url,
            Some(mirror),
            &[
                "fetch",
                "--quiet",
                "--force",
                "--no-tags",
                "--",
                url,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
                "+HEAD:refs/chef-sync/HEAD",
            ],
            None,
        )
        .map(|_| ())
    }

    fn resolve(&self, url: &str, mirror: &Path, spec: &str) -> Option<String> {
        let out = self
            .git(
                url,
                Some(mirror),
                &["rev-parse", "--verify", "--quiet", "--end-of-options", spec],
                None,
            )
            .ok()?;
        let sha = String::from_utf8_lossy(&out).trim().to_owned();
        (sha.len() == 40).then_some(sha)
    }

    fn export(
        &self,
        url: &str,
        mirror: &Path,
        revision: &str,
        rel: Option<&str>,
        dest: &Path,
    ) -> Result<(), GitError> {
        std::fs::create_dir_all(&self.store).map_err(io_err(&self.store))?;
        let tree = match rel {
            Some(r) => {
                let r = r.trim_matches('/');
                let spec = format!("{revision}:{r}");
                let kind = self.git(url, Some(mirror), &["cat-file", "-t", &spec], None);
                if kind.map(|k| k.trim_ascii() != b"tree").unwrap_or(true) {
                    return Err(GitError::MissingRel {
                        url: url.to_owned(),
                        rel: r.to_owned(),
                        revision: revision.to_owned(),
                    });
                }
                spec
            }
            None => revision.to_owned(),
        };
        let tar = tempfile::NamedTempFile::new_in(&self.store).map_err(io_err(&self.store))?;
        let tar_path = tar.path().to_string_lossy().into_owned();
        self.git(
            url,
            Some(mirror),
            &["archive", "--format=tar", "-o", &tar_path, &tree],
            None,
        )?;
        let tmp = tempfile::Builder::new()
            .prefix(".git-checkout-")
            .tempdir_in(&self.store)
            .map_err(io_err(&self.store))?;
        let out = tmp.path().join("extract");
        extract(tar.path(), &out, &ExtractLimits::default()).map_err(|source| {
            GitError::Extract {
                url: url.to_owned(),
                revision: revision.to_owned(),
                source: Box::new(source),
            }
        })?;
        // Another run may have put the same revision in place first.
        if let Err(e) = std::fs::rename(&out, dest)
            && !dest.is_dir()
        {
            return Err(io_err(dest)(e));
        }
        Ok(())
    }

    /// Runs git with `args`, in `git_dir` (as `--git-dir`) or `cwd`; returns stdout.
    fn git(
        &self,
        url: &str,
        git_dir: Option<&Path>,
        args: &[&str],
        cwd: Option<&Path>,
    ) -> Result<Vec<u8>, GitError> {
        let mut cmd = Command::new("git");
        if let Some(d) = git_dir {
            cmd.arg("--git-dir").arg(d);
        }
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        cmd.args(args)
            .env("GIT_ALLOW_PROTOCOL", "https:http:ssh:git:file")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(std::process::Stdio::null());
        let out = cmd.output().map_err(|source| GitError::Spawn { source })?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(GitError::Command {
                url: url.to_owned(),
                command: args
                    .iter()
                    .take_while(|a| **a != "--")
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }
}
