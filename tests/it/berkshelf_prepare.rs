//! `prepare` end to end on the seed layout against a fake Supermarket (wiremock on loopback):
//! first run resolves, downloads and writes the lock; a re-run with a trusted lock touches no
//! network; offline mode; adding a cookbook keeps the old pins; errors name the Berksfile line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chef_sync::berkshelf::install::BerksInstallError;
use chef_sync::berkshelf::lockfile::{LockfileError, Update};
use chef_sync::berkshelf::{PrepareError, PrepareOptions, prepare};
use chef_testkit::fleet::{copy_tree, repo_fixture_dir, write_key};
use wiremock::MockServer;

use crate::support::{self, SupermarketCookbook, forbid_requests, prepared_names as names};

const CATALOG: &[SupermarketCookbook] = &[
    ("apt", "7.0.0", &[]),
    ("apt", "7.1.1", &[]),
    ("apt", "8.0.0", &[]),
    (
        "nginx",
        "2.0.0",
        &[("apt", ">= 7.0"), ("seven_zip", ">= 0.0.0")],
    ),
    ("seven_zip", "3.1.1", &[]),
    ("seven_zip", "3.2.0", &[]),
    ("windows", "6.0.0", &[]),
];

/// Mounts the universe and every tarball; returns the server.
async fn supermarket() -> MockServer {
    let server = MockServer::start().await;
    mount_catalog(&server).await;
    server
}

async fn mount_catalog(server: &MockServer) {
    support::mount_catalog(server, CATALOG, |_| vec![]).await;
}

/// Any request at all fails the test when the server is verified.
async fn forbid_network(server: &MockServer) {
    forbid_requests(server, "no request on a trusted lock with a warm cache").await;
}

/// The seed repository with a Berksfile in the documented shape (local + Supermarket).
fn seed_repo(dir: &Path, source: &str) -> PathBuf {
    let root = dir.join("repo");
    copy_tree(&repo_fixture_dir("seed"), &root).unwrap();
    std::fs::write(
        root.join("cookbooks/app/metadata.rb"),
        "name 'app'\nversion '1.0.0'\ndepends 'apt', '~> 7.0'\n",
    )
    .unwrap();
    std::fs::write(
        root.join("Berksfile"),
        format!(
            "# Local Cookbooks\ncookbook 'app', path: 'cookbooks/app'\n\nsource '{source}'\n\u{a0}\n# Supermarket Cookbooks\ncookbook 'nginx'\n"
        ),
    )
    .unwrap();
    root
}

#[tokio::test]
async fn seed_layout_resolves_once_then_runs_from_the_lock_without_network() {
    let server = supermarket().await;
    let tmp = tempfile::tempdir().unwrap();
    let root = seed_repo(tmp.path(), &server.uri());
    let opts = PrepareOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..Default::default()
    };
    let p = prepare(&root, &root.join("Berksfile"), &opts)
        .await
        .unwrap();
    assert!(p.resolved && p.lock_written);
    assert_eq!(
        names(&p),
        ["apt-7.1.1", "app-1.0.0", "seven_zip-3.2.0", "nginx-2.0.0"],
        "dependencies first, in Berksfile order"
    );
    let mut downloaded = p.downloaded.clone();
    downloaded.sort();
    assert_eq!(downloaded, ["apt-7.1.1", "nginx-2.0.0", "seven_zip-3.2.0"]);
    assert_eq!(
        p.cookbook_dirs[1],
        root.join("cookbooks/app"),
        "path cookbooks in place"
    );
    for d in &p.cookbook_dirs {
        assert!(d.join("metadata.json").is_file() || d.join("metadata.rb").is_file());
    }
    assert_eq!(
        p.warnings.len(),
        1,
        "the no-break space line is reported: {:?}",
        p.warnings
    );
    assert!(p.warnings[0].contains("Berksfile:5"), "{:?}", p.warnings);
    let lock = std::fs::read_to_string(root.join("Berksfile.lock")).unwrap();
    assert_eq!(
        lock,
        "DEPENDENCIES\n  app\n    path: cookbooks/app\n  nginx\n\nGRAPH\n  app (1.0.0)\n    apt (~> 7.0)\n  apt (7.1.1)\n  nginx (2.0.0)\n    apt (>= 7.0)\n    seven_zip (>= 0.0.0)\n  seven_zip (3.2.0)\n"
    );

    // Re-run: trusted lock, warm cache: not one request, lock untouched.
    forbid_network(&server).await;
    let again = prepare(&root, &root.join("Berksfile"), &opts)
        .await
        .unwrap();
    assert!(!again.resolved && !again.lock_written);
    assert!(again.downloaded.is_empty());
    assert_eq!(again.cookbook_dirs, p.cookbook_dirs);
    assert_eq!(
        std::fs::read_to_string(root.join("Berksfile.lock")).unwrap(),
        lock
    );
    let offline = PrepareOptions {
        offline: true,
        ..opts.clone()
    };
    assert_eq!(
        prepare(&root, &root.join("Berksfile"), &offline)
            .await
            .unwrap()
            .cookbook_dirs,
        p.cookbook_dirs
    );
    server.verify().await;

    // A fresh cache with the same lock installs exactly the locked versions.
    server.reset().await;
    mount_catalog(&server).await;
    let fresh = PrepareOptions {
        cache_dir: Some(tmp.path().join("cache2")),
        ..Default::default()
    };
    let offline_cold = PrepareOptions {
        offline: true,
        ..fresh.clone()
    };
    let err = prepare(&root, &root.join("Berksfile"), &offline_cold)
        .await
        .unwrap_err();
    assert!(matches!(err, PrepareError::Offline { .. }), "{err}");
    assert!(err.to_string().contains("is not in the cache"), "{err}");
    let p2 = prepare(&root, &root.join("Berksfile"), &fresh)
        .await
        .unwrap();
    assert!(!p2.resolved && !p2.lock_written);
    assert_eq!(names(&p2), names(&p));
}

#[tokio::test]
async fn adding_a_cookbook_keeps_pins_and_outdated_constraints_are_errors() {
    let server = supermarket().await;
    let tmp = tempfile::tempdir().unwrap();
    let root = seed_repo(tmp.path(), &server.uri());
    let opts = PrepareOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..Default::default()
    };
    // Lock an older seven_zip by hand, as an earlier run would have.
    std::fs::write(
        root.join("Berksfile.lock"),
        "DEPENDENCIES\n  app\n    path: cookbooks/app\n  nginx\n\nGRAPH\n  app (1.0.0)\n    apt (~> 7.0)\n  apt (7.0.0)\n  nginx (2.0.0)\n    apt (>= 7.0)\n    seven_zip (>= 0.0.0)\n  seven_zip (3.1.1)\n",
    )
    .unwrap();
    let bf = root.join("Berksfile");
    let text = std::fs::read_to_string(&bf).unwrap();
    std::fs::write(&bf, format!("{text}cookbook 'windows'\n")).unwrap();
    let p = prepare(&root, &bf, &opts).await.unwrap();
    assert!(p.resolved && p.lock_written);
    assert_eq!(
        names(&p),
        [
            "apt-7.0.0",
            "app-1.0.0",
            "seven_zip-3.1.1",
            "nginx-2.0.0",
            "windows-6.0.0"
        ],
        "old pins kept"
    );

    // Editing app's metadata to need apt 8 makes the lock untrusted (chef-sync compares the
    // constraints, not only the names), but apt stays pinned at its locked 7.0.0, as in
    // Berkshelf: the conflict is explained, naming the lock, and nothing is written.
    std::fs::write(
        root.join("cookbooks/app/metadata.rb"),
        "name 'app'\nversion '1.0.0'\ndepends 'apt', '~> 8.0'\n",
    )
    .unwrap();
    let locked = std::fs::read_to_string(root.join("Berksfile.lock")).unwrap();
    let err = prepare(&root, &bf, &opts).await.unwrap_err();
    assert!(
        matches!(err, PrepareError::Install(BerksInstallError::Resolve(_))),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("app 1.0.0 depends on apt (~> 8.0)"), "{msg}");
    assert!(msg.contains("Berksfile.lock locks apt at 7.0.0"), "{msg}");
    assert_eq!(
        std::fs::read_to_string(root.join("Berksfile.lock")).unwrap(),
        locked,
        "a failed resolution leaves the lock alone"
    );

    // `berks update apt` lets apt move; the other pins stay.
    let update_apt = PrepareOptions {
        update: Update::Only(vec!["apt".into()]),
        ..opts.clone()
    };
    let p = prepare(&root, &bf, &update_apt).await.unwrap();
    assert!(p.resolved && p.lock_written);
    assert_eq!(
        names(&p),
        [
            "apt-8.0.0",
            "app-1.0.0",
            "seven_zip-3.1.1",
            "nginx-2.0.0",
            "windows-6.0.0"
        ]
    );
    let lock = std::fs::read_to_string(root.join("Berksfile.lock")).unwrap();
    assert!(
        lock.contains("  app (1.0.0)\n    apt (~> 8.0)\n  apt (8.0.0)\n"),
        "{lock}"
    );

    // A Berksfile constraint that rejects the locked version: Berkshelf's OutdatedDependency.
    std::fs::write(
        root.join("cookbooks/app/metadata.rb"),
        "name 'app'\nversion '1.0.0'\ndepends 'apt', '~> 7.0'\n",
    )
    .unwrap();
    std::fs::write(&bf, format!("{text}cookbook 'seven_zip', '~> 3.2'\n")).unwrap();
    let err = prepare(&root, &bf, &opts).await.unwrap_err();
    assert!(
        matches!(
            err,
            PrepareError::Install(BerksInstallError::Lockfile(LockfileError::Outdated { .. }))
        ),
        "{err}"
    );
    assert!(err.to_string().contains("berks update seven_zip"), "{err}");

    // A path cookbook whose metadata names another cookbook: the Berksfile line is named.
    std::fs::write(&bf, "\n\ncookbook 'app', path: 'cookbooks/app'\n").unwrap();
    std::fs::write(root.join("cookbooks/app/metadata.rb"), "name 'other'\n").unwrap();
    let err = prepare(&root, &bf, &opts).await.unwrap_err();
    assert!(matches!(err, PrepareError::MismatchedName { .. }), "{err}");
    assert!(err.to_string().contains("Berksfile:3: "), "{err}");
    let at = err.position().expect("a typed position");
    assert_eq!((at.file, at.line), (bf.clone(), Some(3)));
}

#[tokio::test]
async fn unreachable_source_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let source = format!("http://127.0.0.1:{port}");
    let root = seed_repo(tmp.path(), &source);
    let opts = PrepareOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..Default::default()
    };
    let err = prepare(&root, &root.join("Berksfile"), &opts)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PrepareError::Install(_)), "{msg}");
    assert!(msg.contains("nginx"), "{msg}");
    assert!(
        msg.contains("These sources could not be read") && msg.contains(&source),
        "the unreadable source URL is named: {msg}"
    );
}

#[tokio::test]
async fn metadata_berksfile_locks_the_cookbook_itself_as_path_dot() {
    let server = supermarket().await;
    let tmp = tempfile::tempdir().unwrap();
    let cb = tmp.path().join("mycb");
    std::fs::create_dir_all(cb.join("recipes")).unwrap();
    std::fs::write(
        cb.join("metadata.rb"),
        "name 'mycb'\nversion '0.2.0'\ndepends 'apt', '< 7.1'\n",
    )
    .unwrap();
    std::fs::write(
        cb.join("Berksfile"),
        format!(
            "source '{}'\n\nmetadata\n\ngroup :integration do\n  cookbook 'windows'\nend\n",
            server.uri()
        ),
    )
    .unwrap();
    let opts = PrepareOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..Default::default()
    };
    let except = PrepareOptions {
        except: vec!["integration".into()],
        ..opts.clone()
    };
    let p = prepare(&cb, Path::new("Berksfile"), &except).await.unwrap();
    assert_eq!(
        names(&p),
        ["apt-7.0.0", "mycb-0.2.0"],
        "--except integration"
    );
    let only = PrepareOptions {
        only: vec!["integration".into()],
        ..opts.clone()
    };
    let p = prepare(&cb, Path::new("Berksfile"), &only).await.unwrap();
    assert_eq!(names(&p), ["windows-6.0.0"], "--only integration");
    let both = PrepareOptions {
        only: vec!["a".into()],
        except: vec!["b".into()],
        ..opts.clone()
    };
    assert!(matches!(
        prepare(&cb, Path::new("Berksfile"), &both).await,
        Err(PrepareError::OnlyAndExcept)
    ));

    let p = prepare(&cb, Path::new("Berksfile"), &opts).await.unwrap();
    assert_eq!(names(&p), ["apt-7.0.0", "mycb-0.2.0", "windows-6.0.0"]);
    assert_eq!(p.cookbook_dirs[1].as_os_str(), cb.as_os_str());
    assert_eq!(
        std::fs::read_to_string(cb.join("Berksfile.lock")).unwrap(),
        "DEPENDENCIES\n  mycb\n    path: .\n    metadata: true\n  windows\n\nGRAPH\n  apt (7.0.0)\n  mycb (0.2.0)\n    apt (< 7.1)\n  windows (6.0.0)\n"
    );
}

/// The seed layout's servers are two goiardi instances; `prepare`'s directories go straight to
/// the uploader (what the sync engine does per server). A re-run downloads nothing and sends
/// no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_cookbooks_upload_to_two_servers_and_a_rerun_sends_nothing() {
    use chef_api::cookbook::LoadedCookbook;
    use chef_api::upload::{Outcome, UploadOptions, Uploader};
    use chef_sync::config::{KeySource, LoadOptions, RepoConfig, ServerSpec};
    use chef_testkit::goiardi::Goiardi;
    use std::sync::Arc;

    let sm = supermarket().await;
    let tmp = tempfile::tempdir().unwrap();
    let root = seed_repo(tmp.path(), &sm.uri());
    let servers = [
        ("eu-west-1", Goiardi::start().expect("goiardi")),
        ("us-east-1", Goiardi::start().expect("goiardi")),
    ];
    for (region, g) in &servers {
        std::fs::write(
            root.join(format!(".chef/{region}/config.yml")),
            format!("server: '{}'\n", g.url()),
        )
        .unwrap();
        let key_file = root.join(format!(".chef/{region}/private.pem"));
        write_key(&key_file);
        let key = chef_api::key::PrivateKey::from_pem_file(&key_file).unwrap();
        // The seed's knife.rb signs as 'pivotal': create that admin, signed as goiardi's admin.
        ServerSpec::new(
            "setup",
            g.url(),
            "admin",
            KeySource::Path(g.admin_key_path()),
        )
        .unwrap()
        .client()
        .unwrap()
        .create_user("pivotal", &key.public_key_pem(), true)
        .await
        .unwrap();
    }
    let config = RepoConfig::load(
        &root,
        &LoadOptions {
            env: BTreeMap::from([("HOME".to_owned(), root.display().to_string())]),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        config.berksfile.as_deref(),
        Some(root.join("Berksfile").as_path())
    );
    let opts = PrepareOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..Default::default()
    };

    let run = |expect: Outcome| {
        let config = &config;
        let opts = &opts;
        async move {
            let berksfile = config.berksfile.as_ref().unwrap();
            let p = prepare(&config.root, berksfile, opts).await.unwrap();
            let cookbooks: Vec<Arc<LoadedCookbook>> = p
                .cookbook_dirs
                .iter()
                .map(|d| Arc::new(LoadedCookbook::load(d).unwrap()))
                .collect();
            let mut sent = 0;
            for spec in &config.servers {
                let uploader = Uploader::new(spec.client().unwrap(), UploadOptions::default());
                let results = uploader.upload(&cookbooks).await.unwrap();
                let mut got: Vec<(String, String, Outcome)> = results
                    .iter()
                    .map(|r| (r.name.clone(), r.version.clone(), r.outcome))
                    .collect();
                got.sort_by(|a, b| a.0.cmp(&b.0));
                let want: Vec<(String, String, Outcome)> = [
                    ("app", "1.0.0"),
                    ("apt", "7.1.1"),
                    ("nginx", "2.0.0"),
                    ("seven_zip", "3.2.0"),
                ]
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned(), expect))
                .collect();
                assert_eq!(got, want, "{}", spec.name);
                sent += results.iter().map(|r| r.files_sent).sum::<u64>();
            }
            (p, sent)
        }
    };
    let (first, sent) = run(Outcome::Created).await;
    assert!(first.resolved && first.lock_written);
    assert!(sent > 0);
    // What landed is what is on disk.
    for (_, g) in &servers {
        let spec = config.servers.iter().find(|s| s.url == g.url()).unwrap();
        let client = spec.client().unwrap();
        for c in &first.cookbooks {
            let local = LoadedCookbook::load(&c.path).unwrap();
            let fetched = client
                .cookbook_version(&c.name, &c.version.to_string())
                .await
                .unwrap();
            assert!(local.matches_manifest(&fetched).unwrap(), "{}", c.name);
        }
    }

    forbid_network(&sm).await;
    let (second, sent) = run(Outcome::Unchanged).await;
    assert!(!second.resolved && !second.lock_written && second.downloaded.is_empty());
    assert_eq!(sent, 0);
    sm.verify().await;
}

#[tokio::test]
async fn a_berkshelf_2_lock_is_converted_keeping_its_versions_and_rewritten() {
    let server = supermarket().await;
    let tmp = tempfile::tempdir().unwrap();
    let root = seed_repo(tmp.path(), &server.uri());
    // Berkshelf 2 listed transitive cookbooks too, and recorded no dependency edges.
    std::fs::write(
        root.join("Berksfile.lock"),
        r#"{
  "sha": "0123456789abcdef0123456789abcdef01234567",
  "sources": {
    "app": {"path": "cookbooks/app", "locked_version": "1.0.0"},
    "nginx": {"locked_version": "2.0.0"},
    "apt": {"locked_version": "7.0.0"},
    "seven_zip": {"locked_version": "3.1.1"}
  }
}
"#,
    )
    .unwrap();
    let opts = PrepareOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..Default::default()
    };
    let p = prepare(&root, &root.join("Berksfile"), &opts)
        .await
        .unwrap();
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("Berksfile.lock") && w.contains("Berkshelf 2")),
        "{:?}",
        p.warnings
    );
    assert!(p.resolved && p.lock_written);
    assert_eq!(
        names(&p),
        ["apt-7.0.0", "app-1.0.0", "seven_zip-3.1.1", "nginx-2.0.0"],
        "the versions Berkshelf 2 locked, although apt 7.1.1 and seven_zip 3.2.0 exist"
    );
    let lock = std::fs::read_to_string(root.join("Berksfile.lock")).unwrap();
    assert_eq!(
        lock,
        "DEPENDENCIES\n  app\n    path: cookbooks/app\n  nginx\n\nGRAPH\n  app (1.0.0)\n    apt (~> 7.0)\n  apt (7.0.0)\n  nginx (2.0.0)\n    apt (>= 7.0)\n    seven_zip (>= 0.0.0)\n  seven_zip (3.1.1)\n"
    );
    // The rewritten lock is trusted from now on.
    let again = prepare(&root, &root.join("Berksfile"), &opts)
        .await
        .unwrap();
    assert!(
        !again.resolved
            && !again.lock_written
            && again.warnings.iter().all(|w| !w.contains("Berkshelf 2"))
    );
}
