//! Git locations against local bare repositories made in the test (`file://` URLs): default
//! branch, `branch:`/`tag:`/`ref:`, `rel:`, locked revisions, offline mode, errors, and a
//! Berksfile with git cookbooks through `prepare` writing `revision:` into the lock.

use std::path::{Path, PathBuf};

use chef_sync::berkshelf::git::{GitError, GitFetcher};
use chef_sync::berkshelf::lockfile::Update;
use chef_sync::berkshelf::{GitLocation, PrepareError, PrepareOptions, prepare};

use crate::support::{git, write};

/// A bare repository with a cookbook `gitcb` at the root and `sub` under `cookbooks/sub`:
/// main has 1.0.0 (tagged v1.0.0) then 1.0.1; branch `feature` has 1.1.0.
struct Repo {
    work: PathBuf,
    url: String,
    v100: String,
    v101: String,
    feature: String,
}

fn commit_version(work: &Path, version: &str) -> String {
    write(
        work,
        "metadata.rb",
        &format!("name 'gitcb'\nversion '{version}'\n"),
    );
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", version]);
    git(work, &["rev-parse", "HEAD"])
}

fn make_repo(root: &Path) -> Repo {
    let work = root.join("work");
    let bare = root.join("gitcb.git");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q"]);
    write(&work, "recipes/default.rb", "log 'gitcb'\n");
    write(
        &work,
        "cookbooks/sub/metadata.rb",
        "name 'sub'\nversion '0.3.0'\n",
    );
    write(&work, "cookbooks/sub/recipes/default.rb", "log 'sub'\n");
    let v100 = commit_version(&work, "1.0.0");
    git(&work, &["tag", "v1.0.0"]);
    git(&work, &["checkout", "-q", "-b", "feature"]);
    let feature = commit_version(&work, "1.1.0");
    git(&work, &["checkout", "-q", "main"]);
    let v101 = commit_version(&work, "1.0.1");
    git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    Repo {
        work,
        url: format!("file://{}", bare.display()),
        v100,
        v101,
        feature,
    }
}

fn push(repo: &Repo) {
    git(
        &repo.work,
        &["push", "-q", "--force", &repo.url, "main", "feature"],
    );
}

fn version_in(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("metadata.rb")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("version '"))
        .unwrap()
        .trim_end_matches('\'')
        .to_owned()
}

fn loc(url: &str) -> GitLocation {
    GitLocation {
        url: url.to_owned(),
        ..Default::default()
    }
}

#[test]
fn default_branch_branch_tag_ref_and_rel_resolve_to_shas() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path());
    let cache = tmp.path().join("cache");
    let f = GitFetcher::new(cache.join("git"), cache.join("cookbooks"));

    let c = f.checkout("gitcb", &loc(&repo.url), None).unwrap();
    assert_eq!(c.revision, repo.v101, "the remote's default branch");
    assert!(c.fetched);
    assert_eq!(c.path, cache.join(format!("cookbooks/gitcb-{}", repo.v101)));
    assert_eq!(version_in(&c.path), "1.0.1");
    assert!(c.path.join("recipes/default.rb").is_file());
    assert!(!c.path.join(".git").exists());

    let branch = GitLocation {
        branch: Some("feature".into()),
        ..loc(&repo.url)
    };
    let c = f.checkout("gitcb", &branch, None).unwrap();
    assert_eq!(
        (c.revision.as_str(), version_in(&c.path).as_str()),
        (repo.feature.as_str(), "1.1.0")
    );

    let tag = GitLocation {
        tag: Some("v1.0.0".into()),
        ..loc(&repo.url)
    };
    assert_eq!(f.checkout("gitcb", &tag, None).unwrap().revision, repo.v100);

    // ref: wins over branch:, and a short SHA is resolved to the full one.
    let short = GitLocation {
        reference: Some(repo.v100[..7].to_owned()),
        branch: Some("feature".into()),
        ..loc(&repo.url)
    };
    assert_eq!(
        f.checkout("gitcb", &short, None).unwrap().revision,
        repo.v100
    );

    let rel = GitLocation {
        rel: Some("cookbooks/sub".into()),
        ..loc(&repo.url)
    };
    let c = f.checkout("sub", &rel, None).unwrap();
    assert!(c.path.join("metadata.rb").is_file());
    assert!(!c.path.join("cookbooks").exists(), "only the rel: subtree");
    assert!(
        std::fs::read_to_string(c.path.join("metadata.rb"))
            .unwrap()
            .contains("name 'sub'")
    );
}

#[test]
fn locked_revision_is_reused_without_git_and_fetched_when_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path());
    let cache = tmp.path().join("cache");
    let f = GitFetcher::new(cache.join("git"), cache.join("cookbooks"));
    let first = f.checkout("gitcb", &loc(&repo.url), None).unwrap();
    assert_eq!(first.revision, repo.v101);

    // main moves on; the lock still says v101.
    let v102 = commit_version(&repo.work, "1.0.2");
    push(&repo);
    let again = f
        .checkout("gitcb", &loc(&repo.url), Some(&repo.v101))
        .unwrap();
    assert_eq!(again, first.clone().with_fetched(false));

    // Even with the repository gone, an extracted locked revision needs nothing.
    let bare = PathBuf::from(repo.url.strip_prefix("file://").unwrap());
    let moved = tmp.path().join("moved.git");
    std::fs::rename(&bare, &moved).unwrap();
    let offline = f.clone().offline(true);
    assert_eq!(
        offline
            .checkout("gitcb", &loc(&repo.url), Some(&repo.v101))
            .unwrap()
            .path,
        first.path
    );
    // A locked revision not yet fetched cannot be had offline.
    let err = offline
        .checkout("gitcb", &loc(&repo.url), Some(&v102))
        .unwrap_err();
    assert!(matches!(err, GitError::Offline { .. }), "{err}");
    std::fs::rename(&moved, &bare).unwrap();

    // Online, a locked revision the mirror lacks is fetched.
    let c = f.checkout("gitcb", &loc(&repo.url), Some(&v102)).unwrap();
    assert!(c.fetched);
    assert_eq!(version_in(&c.path), "1.0.2");
}

trait WithFetched {
    fn with_fetched(self, fetched: bool) -> Self;
}

impl WithFetched for chef_sync::berkshelf::git::Checkout {
    fn with_fetched(mut self, fetched: bool) -> Self {
        self.fetched = fetched;
        self
    }
}

#[test]
fn errors_name_the_url_and_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path());
    let cache = tmp.path().join("cache");
    let f = GitFetcher::new(cache.join("git"), cache.join("cookbooks"));
    let err = f
        .checkout(
            "gitcb",
            &GitLocation {
                branch: Some("nope".into()),
                ..loc(&repo.url)
            },
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&repo.url) && err.contains("branch 'nope' not found"),
        "{err}"
    );
    let err = f
        .checkout(
            "gitcb",
            &GitLocation {
                rel: Some("cookbooks/missing".into()),
                ..loc(&repo.url)
            },
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rel: 'cookbooks/missing' does not exist"),
        "{err}"
    );
    let missing = format!("file://{}/absent.git", tmp.path().display());
    let err = f.checkout("gitcb", &loc(&missing), None).unwrap_err();
    assert!(matches!(err, GitError::Command { .. }), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
    let err = f
        .checkout(
            "gitcb",
            &GitLocation {
                tag: Some("--output=/tmp/x".into()),
                ..loc(&repo.url)
            },
            None,
        )
        .unwrap_err();
    assert!(matches!(err, GitError::Refused { .. }), "{err}");
    // ext:: transports are never allowed.
    let err = f
        .checkout("gitcb", &loc("ext::sh -c touch% /tmp/pwned"), None)
        .unwrap_err();
    assert!(matches!(err, GitError::Command { .. }), "{err}");
}

#[tokio::test]
async fn berksfile_with_git_cookbooks_locks_revisions_and_keeps_them() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path());
    let root = tmp.path().join("repo");
    write(
        &root,
        "Berksfile",
        &format!(
            "cookbook 'gitcb', git: '{url}', branch: 'main'\ncookbook 'sub', '~> 0.3', git: '{url}', rel: 'cookbooks/sub', tag: 'v1.0.0'\n",
            url = repo.url
        ),
    );
    let opts = PrepareOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..Default::default()
    };
    let p = prepare(&root, Path::new("Berksfile"), &opts).await.unwrap();
    assert!(p.lock_written && p.resolved);
    let lock = std::fs::read_to_string(root.join("Berksfile.lock")).unwrap();
    assert_eq!(
        lock,
        format!(
            "DEPENDENCIES\n  gitcb\n    git: {url}\n    revision: {v101}\n    branch: main\n  sub\n    git: {url}\n    revision: {v100}\n    tag: v1.0.0\n    rel: cookbooks/sub\n\nGRAPH\n  gitcb (1.0.1)\n  sub (0.3.0)\n",
            url = repo.url,
            v101 = repo.v101,
            v100 = repo.v100
        )
    );
    assert_eq!(p.cookbook_dirs.len(), 2);
    assert_eq!(version_in(&p.cookbook_dirs[0]), "1.0.1");

    // The branch moves; install keeps the locked revision and does not touch the lock.
    commit_version(&repo.work, "1.0.2");
    push(&repo);
    let p = prepare(&root, Path::new("Berksfile"), &opts).await.unwrap();
    assert!(!p.lock_written && !p.resolved);
    assert_eq!(version_in(&p.cookbook_dirs[0]), "1.0.1");
    let offline = PrepareOptions {
        offline: true,
        ..opts.clone()
    };
    assert!(
        prepare(&root, Path::new("Berksfile"), &offline)
            .await
            .is_ok()
    );

    // update moves it to the branch's new head.
    let update = PrepareOptions {
        update: Update::Only(vec!["gitcb".into()]),
        ..opts.clone()
    };
    let p = prepare(&root, Path::new("Berksfile"), &update)
        .await
        .unwrap();
    assert!(p.lock_written);
    assert_eq!(version_in(&p.cookbook_dirs[0]), "1.0.2");
    let lock = std::fs::read_to_string(root.join("Berksfile.lock")).unwrap();
    assert!(lock.contains("  gitcb (1.0.2)\n"), "{lock}");
    assert!(
        lock.contains(&format!("revision: {}\n", repo.v100)),
        "sub untouched: {lock}"
    );

    // A constraint the fetched cookbook does not meet names the Berksfile line.
    write(
        &root,
        "Berksfile",
        &format!("\ncookbook 'gitcb', '~> 2.0', git: '{}'\n", repo.url),
    );
    let err = prepare(&root, Path::new("Berksfile"), &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PrepareError::ConstraintNotSatisfied { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("Berksfile:2: "), "{err}");
}
