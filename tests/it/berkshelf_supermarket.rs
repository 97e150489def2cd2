//! Berkshelf against a fake Supermarket (wiremock on 127.0.0.1): universe caching, redirects,
//! a full resolve + install of 30 cookbooks, and a set of malicious archives.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use chef_api::universe::Universe;
use chef_api::version::{Constraint, Version};
use chef_sync::berkshelf::archive::{ArchiveError, CookbookStore, ExtractLimits, MetadataCheck};
use chef_sync::berkshelf::install::{BerksInstallError, InstallError, Installer};
use chef_sync::berkshelf::lockfile::{Lockfile, Update};
use chef_sync::berkshelf::resolver::{Catalog, resolve};
use chef_sync::berkshelf::supermarket::{SupermarketClient, SupermarketError};
use chef_sync::berkshelf::universes::Universes;
use chef_sync::berkshelf::{Berksfile, CookbookInfo, Dependency, Location, Source};
use chef_testkit::fleet::cookbook_tarball;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::universe_entry;

/// Reads name and version from metadata.json (stands in for chef-api's metadata loader,
/// which another branch provides).
fn json_metadata() -> MetadataCheck {
    Arc::new(|dir: &Path| {
        let p = dir.join("metadata.json");
        let raw = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let v: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok((
            v["name"].as_str().unwrap_or_default().to_owned(),
            v["version"].as_str().unwrap_or_default().to_owned(),
        ))
    })
}

fn metadata_json(name: &str, version: &str, deps: &[(String, String)]) -> Vec<u8> {
    let deps: serde_json::Map<String, serde_json::Value> = deps
        .iter()
        .map(|(n, c)| (n.clone(), serde_json::Value::String(c.clone())))
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "name": name, "version": version, "dependencies": deps,
    }))
    .unwrap()
}

/// A tar header for `path` written byte for byte (no validation, so tests can be hostile).
fn raw_header(path: &[u8], kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.as_old_mut().name[..path.len()].copy_from_slice(path);
    h.set_cksum();
    h
}

/// One tar entry: raw path, type, data, raw link target.
type RawEntry<'a> = (&'a [u8], tar::EntryType, &'a [u8], Option<&'a [u8]>);

fn targz(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    for (p, kind, data, link) in entries {
        let mut h = raw_header(p, *kind, data.len() as u64);
        if let Some(l) = link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
            h.set_cksum();
        }
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn write_tmp(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

fn store(dir: &Path) -> CookbookStore {
    CookbookStore::new(dir).with_metadata_check(json_metadata())
}

/// 30 cookbooks `cb00`..`cb29`, each at 1.0.0 (no deps) and 2.0.0 (depends on the next one
/// with `~> 2.0`), so resolving `cb00` pulls in all 30 at 2.0.0.
fn deps_of(i: usize, version: &str) -> Vec<(String, String)> {
    if version == "2.0.0" && i + 1 < 30 {
        vec![(format!("cb{:02}", i + 1), "~> 2.0".to_owned())]
    } else {
        vec![]
    }
}

async fn fake_supermarket() -> MockServer {
    let server = MockServer::start().await;
    let base = server.uri();
    let mut universe = serde_json::Map::new();
    for i in 0..30 {
        let name = format!("cb{i:02}");
        let mut versions = serde_json::Map::new();
        for ver in ["1.0.0", "2.0.0"] {
            let deps = deps_of(i, ver);
            let deps: Vec<(&str, &str)> = deps.iter().map(|(n, c)| (&**n, &**c)).collect();
            versions.insert(
                ver.to_owned(),
                universe_entry(
                    &base,
                    &format!("{base}/api/v1/cookbooks/{name}/versions/{ver}/download"),
                    deps.iter().copied(),
                ),
            );
            // Supermarket answers the download URL with a 302 to the stored file.
            Mock::given(method("GET"))
                .and(path(format!(
                    "/api/v1/cookbooks/{name}/versions/{ver}/download"
                )))
                .respond_with(
                    ResponseTemplate::new(302)
                        .insert_header("location", format!("/system/{name}-{ver}.tar.gz")),
                )
                .mount(&server)
                .await;
            Mock::given(method("GET"))
                .and(path(format!("/system/{name}-{ver}.tar.gz")))
                .respond_with(ResponseTemplate::new(200).set_body_bytes(cookbook_tarball(
                    &name,
                    ver,
                    &deps,
                    &[],
                )))
                .mount(&server)
                .await;
        }
        universe.insert(name, serde_json::Value::Object(versions));
    }
    Mock::given(method("GET"))
        .and(path("/universe"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::Value::Object(universe))
                .insert_header("etag", "\"universe-v1\""),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn resolves_installs_and_locks_thirty_cookbooks() {
    let server = fake_supermarket().await;
    let tmp = tempfile::tempdir().unwrap();
    let client = SupermarketClient::builder().build().unwrap();
    let source = Url::parse(&server.uri()).unwrap();
    let berksfile = Berksfile {
        sources: vec![Source::Supermarket { url: server.uri() }],
        dependencies: vec![Dependency::new(
            "cb00",
            Constraint::parse("~> 2.0").unwrap(),
        )],
        metadata: false,
    };
    let (universes, errors) = client.fetch_universes(&[source]).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(universes.sources[0].cookbooks.len(), 30);

    let catalog = Catalog::from_universes(&universes);
    let demands: Vec<_> = berksfile
        .dependencies
        .iter()
        .map(|d| (d.name.clone(), d.constraint.clone()))
        .collect();
    let resolution = resolve(&catalog, &demands, &BTreeMap::new()).unwrap();
    assert_eq!(resolution.len(), 30);
    assert!(resolution.values().all(|v| *v == Version::new(2, 0, 0)));

    let installer = Installer::new(client, store(tmp.path())).with_concurrency(4);
    let installed = installer
        .install(&resolution, &universes, &BTreeSet::new())
        .await
        .unwrap();
    assert_eq!(installed.len(), 30);
    assert!(installed.iter().all(|c| c.downloaded));
    let cb07 = tmp.path().join("cb07-2.0.0");
    assert_eq!(
        std::fs::read_to_string(cb07.join("recipes/default.rb")).unwrap(),
        "log 'cb07 2.0.0'\n"
    );
    // Nothing half-written is left beside the cookbooks.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Second install: everything comes from the cache, no download.
    let before = server.received_requests().await.unwrap().len();
    let again = installer
        .install(&resolution, &universes, &BTreeSet::new())
        .await
        .unwrap();
    assert!(again.iter().all(|c| !c.downloaded));
    assert_eq!(server.received_requests().await.unwrap().len(), before);

    // The lock built from the install has every cookbook and its metadata dependencies.
    let infos: Vec<CookbookInfo> = resolution
        .iter()
        .map(|(n, v)| CookbookInfo {
            name: n.clone(),
            version: *v,
            dependencies: universes.sources[0].cookbooks[n][v]
                .dependencies
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect(),
        })
        .collect();
    let lock = Lockfile::from_install(&berksfile, &infos, &BTreeMap::new());
    let text = lock.to_lock_string();
    assert!(
        text.starts_with(
            "DEPENDENCIES\n  cb00 (~> 2.0)\n\nGRAPH\n  cb00 (2.0.0)\n    cb01 (~> 2.0)\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("  cb29 (2.0.0)\n"), "{text}");
    let plan = lock.plan(&berksfile, &Default::default()).unwrap();
    assert!(plan.is_trusted(), "{:?}", plan.untrusted_reason);
}

#[tokio::test]
async fn universe_is_cached_and_revalidated_with_etag() {
    let server = MockServer::start().await;
    let body = serde_json::json!({"apt": {"7.1.1": {
        "location_type": "opscode", "location_path": format!("{}/api/v1", server.uri()),
        "download_url": format!("{}/dl/apt", server.uri()), "dependencies": {}}}});
    Mock::given(method("GET"))
        .and(path("/universe"))
        .and(header("if-none-match", "\"abc\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/universe"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(&body)
                .insert_header("etag", "\"abc\"")
                .insert_header("last-modified", "Wed, 21 Oct 2026 07:28:00 GMT"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let cache = tempfile::tempdir().unwrap();
    let client = SupermarketClient::builder()
        .with_cache_dir(cache.path())
        .build()
        .unwrap();
    let source = Url::parse(&server.uri()).unwrap();
    let first = client.fetch_universe(&source).await.unwrap();
    let second = client.fetch_universe(&source).await.unwrap();
    assert_eq!(first, second);
    assert!(second.get("apt", &Version::new(7, 1, 1)).is_some());
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0].headers.get("if-none-match").is_none());
    assert_eq!(reqs[1].headers.get("if-none-match").unwrap(), "\"abc\"");
    assert_eq!(
        reqs[1].headers.get("if-modified-since").unwrap(),
        "Wed, 21 Oct 2026 07:28:00 GMT"
    );
}

#[tokio::test]
async fn failing_source_is_reported_and_others_still_used() {
    let good = fake_supermarket().await;
    let bad = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/universe"))
        .respond_with(ResponseTemplate::new(500).set_body_string("database on fire"))
        .mount(&bad)
        .await;
    let client = SupermarketClient::builder().build().unwrap();
    let sources = [
        Url::parse(&bad.uri()).unwrap(),
        Url::parse(&good.uri()).unwrap(),
    ];
    let (universes, errors) = client.fetch_universes(&sources).await;
    assert_eq!(universes.sources.len(), 1);
    assert_eq!(errors.len(), 1);
    let msg = errors[0].to_string();
    assert!(
        msg.contains("HTTP 500") && msg.contains("database on fire"),
        "{msg}"
    );
    assert!(msg.contains(&format!("{}/universe", bad.uri())), "{msg}");
}

#[tokio::test]
async fn redirect_to_another_host_drops_credentials() {
    let origin = MockServer::start().await;
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/cookbooks/apt/versions/1.0.0/download"))
        .and(header_exists("authorization"))
        .and(header_exists("x-jfrog-art-api"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/bucket/apt.tgz", other.uri())),
        )
        .expect(1)
        .mount(&origin)
        .await;
    Mock::given(method("GET"))
        .and(path("/bucket/apt.tgz"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"tarball bytes".to_vec()))
        .expect(1)
        .mount(&other)
        .await;
    let client = SupermarketClient::builder()
        .with_header(AUTHORIZATION, HeaderValue::from_static("Bearer s3cr3t"))
        .with_header(
            HeaderName::from_static("x-jfrog-art-api"),
            HeaderValue::from_static("apikey"),
        )
        .build()
        .unwrap();
    assert!(!format!("{client:?}").contains("s3cr3t"));
    let dir = tempfile::tempdir().unwrap();
    let url = Url::parse(&format!(
        "{}/api/v1/cookbooks/apt/versions/1.0.0/download",
        origin.uri()
    ))
    .unwrap();
    let dl = client.download(&url, dir.path()).await.unwrap();
    assert_eq!(std::fs::read(dl.file.path()).unwrap(), b"tarball bytes");
    assert_eq!(
        dl.final_url.as_str(),
        format!("{}/bucket/apt.tgz", other.uri())
    );
    let reqs: Vec<Request> = other.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].headers.get("authorization").is_none());
    assert!(reqs[0].headers.get("x-jfrog-art-api").is_none());
}

#[tokio::test]
async fn download_size_is_limited() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![7u8; 4096]))
        .mount(&server)
        .await;
    let client = SupermarketClient::builder()
        .with_max_download_bytes(1000)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = client
        .download(
            &Url::parse(&format!("{}/big", server.uri())).unwrap(),
            dir.path(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, SupermarketError::TooLarge { limit: 1000, .. }),
        "{err}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "temp file removed"
    );
}

#[tokio::test]
async fn version_missing_from_every_source_is_named() {
    let server = fake_supermarket().await;
    let client = SupermarketClient::builder().build().unwrap();
    let (universes, _) = client
        .fetch_universes(&[Url::parse(&server.uri()).unwrap()])
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let mut res = BTreeMap::new();
    res.insert("cb03".to_owned(), Version::new(9, 9, 9));
    let err = Installer::new(client, store(tmp.path()))
        .install(&res, &universes, &BTreeSet::new())
        .await
        .unwrap_err();
    assert!(matches!(err, InstallError::NotInSources { .. }));
    assert!(
        err.to_string()
            .contains("Cookbook 'cb03' (9.9.9) not found in any of the sources")
    );
}

// ---------------------------------------------------------------- malicious archives

fn install_bytes(bytes: &[u8], name: &str, limits: ExtractLimits) -> Result<(), ArchiveError> {
    let tmp = tempfile::tempdir().unwrap();
    let archive = write_tmp(tmp.path(), "in.tar.gz", bytes);
    let root = tmp.path().join("store");
    let s = store(&root).with_limits(limits);
    let r = s
        .install_archive(name, &Version::new(1, 0, 0), &archive)
        .map(|_| ());
    if r.is_err() {
        // A refused archive leaves neither the cookbook nor a temp dir behind.
        let left: Vec<_> = std::fs::read_dir(&root)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left behind: {left:?}");
        assert!(!tmp.path().join("evil").exists());
    }
    r
}

fn meta(name: &str) -> Vec<u8> {
    metadata_json(name, "1.0.0", &[])
}

#[test]
fn traversal_is_refused() {
    let m = meta("apt");
    let bytes = targz(&[
        (b"apt/metadata.json", tar::EntryType::Regular, &m, None),
        (b"apt/../../evil", tar::EntryType::Regular, b"x", None),
    ]);
    let err = install_bytes(&bytes, "apt", ExtractLimits::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("refusing entry \"apt/../../evil\": path contains '..'"),
        "{msg}"
    );
    assert!(msg.contains("in.tar.gz"), "{msg}");
}

/// The mixlib-archive bug class (chef/chef#16381): a GNU long name smuggling `..` past a
/// filter that only looked at the short header name.
#[test]
fn gnu_long_name_traversal_is_refused() {
    let m = meta("apt");
    let bytes = targz(&[
        (b"apt/metadata.json", tar::EntryType::Regular, &m, None),
        (
            b"././@LongLink",
            tar::EntryType::GNULongName,
            b"apt/../../../evil\0",
            None,
        ),
        (b"apt/harmless", tar::EntryType::Regular, b"x", None),
    ]);
    let msg = install_bytes(&bytes, "apt", ExtractLimits::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("refusing entry \"apt/../../../evil\": path contains '..'"),
        "{msg}"
    );
    // The same through a PAX extended header's `path` record.
    let pax = targz(&[
        (b"apt/metadata.json", tar::EntryType::Regular, &m, None),
        (
            b"PaxHeader/x",
            tar::EntryType::XHeader,
            b"23 path=apt/../../evil\n",
            None,
        ),
        (b"apt/harmless", tar::EntryType::Regular, b"x", None),
    ]);
    let msg = install_bytes(&pax, "apt", ExtractLimits::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("refusing entry \"apt/../../evil\": path contains '..'"),
        "{msg}"
    );
}

#[test]
fn absolute_paths_are_refused() {
    let bytes = targz(&[(b"/tmp/evil", tar::EntryType::Regular, b"x", None)]);
    let msg = install_bytes(&bytes, "apt", ExtractLimits::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("refusing entry \"/tmp/evil\": absolute path"),
        "{msg}"
    );
}

#[test]
fn symlinks_and_hard_links_escaping_are_refused() {
    let m = meta("apt");
    let sym = targz(&[
        (b"apt/metadata.json", tar::EntryType::Regular, &m, None),
        (
            b"apt/files/passwd",
            tar::EntryType::Symlink,
            b"",
            Some(b"../../../etc/passwd"),
        ),
    ]);
    let msg = install_bytes(&sym, "apt", ExtractLimits::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("symlink to \"../../../etc/passwd\" points outside"),
        "{msg}"
    );
    let hard = targz(&[(b"apt/x", tar::EntryType::Link, b"", Some(b"/etc/shadow"))]);
    let msg = install_bytes(&hard, "apt", ExtractLimits::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("hard link to \"/etc/shadow\" points outside"),
        "{msg}"
    );
}

#[test]
fn links_inside_the_tree_are_skipped_not_created() {
    let m = meta("apt");
    let bytes = targz(&[
        (b"apt/metadata.json", tar::EntryType::Regular, &m, None),
        (
            b"apt/README.md",
            tar::EntryType::Symlink,
            b"",
            Some(b"metadata.json"),
        ),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let archive = write_tmp(tmp.path(), "ok.tgz", &bytes);
    let dir = store(&tmp.path().join("s"))
        .install_archive("apt", &Version::new(1, 0, 0), &archive)
        .unwrap();
    assert!(dir.join("metadata.json").is_file());
    assert!(std::fs::symlink_metadata(dir.join("README.md")).is_err());
}

#[test]
fn fifo_entries_are_refused() {
    let bytes = targz(&[(b"apt/pipe", tar::EntryType::Fifo, b"", None)]);
    let msg = install_bytes(&bytes, "apt", ExtractLimits::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("device or FIFO entries are not allowed"),
        "{msg}"
    );
}

#[test]
fn gzip_bomb_stops_at_the_total_limit() {
    let m = meta("apt");
    let zeros = vec![0u8; 3 * 1024 * 1024];
    let bytes = targz(&[
        (b"apt/metadata.json", tar::EntryType::Regular, &m, None),
        (b"apt/files/a", tar::EntryType::Regular, &zeros, None),
        (b"apt/files/b", tar::EntryType::Regular, &zeros, None),
    ]);
    assert!(bytes.len() < 64 * 1024, "the bomb is small compressed");
    let limits = ExtractLimits {
        max_total_bytes: 4 * 1024 * 1024,
        ..ExtractLimits::default()
    };
    let err = install_bytes(&bytes, "apt", limits).unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::TooLarge {
                what: "total extracted size",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("apt/files/b"), "{err}");
    let per_file = ExtractLimits {
        max_file_bytes: 1024 * 1024,
        ..ExtractLimits::default()
    };
    let err = install_bytes(&bytes, "apt", per_file).unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::TooLarge {
                what: "file size",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn zip_bomb_and_zip_traversal_are_refused() {
    fn zip_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (n, data) in files {
            w.start_file(*n, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }
    let m = meta("apt");
    let zeros = vec![0u8; 2 * 1024 * 1024];
    let bomb = zip_bytes(&[("apt/metadata.json", &m), ("apt/big", &zeros)]);
    let limits = ExtractLimits {
        max_total_bytes: 1024 * 1024,
        ..ExtractLimits::default()
    };
    let err = install_bytes(&bomb, "apt", limits).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err}");
    let trav = zip_bytes(&[("apt/../../evil", b"x")]);
    let msg = install_bytes(&trav, "apt", ExtractLimits::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("path contains '..'"), "{msg}");
    // A well-formed zip cookbook installs.
    let good = zip_bytes(&[("apt/metadata.json", &m), ("apt/recipes/default.rb", b"")]);
    install_bytes(&good, "apt", ExtractLimits::default()).unwrap();
}

#[test]
fn wrong_cookbook_inside_is_refused() {
    let m = meta("not-apt");
    let bytes = targz(&[(b"not-apt/metadata.json", tar::EntryType::Regular, &m, None)]);
    let msg = install_bytes(&bytes, "apt", ExtractLimits::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("expected cookbook apt 1.0.0, the archive contains not-apt 1.0.0"),
        "{msg}"
    );
}

#[test]
fn plain_tar_and_dot_slash_prefixes_are_accepted_and_garbage_is_not() {
    let m = meta("apt");
    let mut b = tar::Builder::new(Vec::new());
    let h = raw_header(
        b"./apt/metadata.json",
        tar::EntryType::Regular,
        m.len() as u64,
    );
    b.append(&h, m.as_slice()).unwrap();
    let plain = b.into_inner().unwrap();
    install_bytes(&plain, "apt", ExtractLimits::default()).unwrap();
    let err =
        install_bytes(b"this is not an archive", "apt", ExtractLimits::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::UnknownFormat { .. }), "{err}");
    let err = install_bytes(
        &targz(&[(b"apt/README.md", tar::EntryType::Regular, b"hi", None)]),
        "apt",
        ExtractLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::NotACookbook { .. }), "{err}");
}

#[test]
fn hostile_universe_names_never_reach_paths() {
    let body = br#"{"../../etc": {"1.0.0": {"location_type": "opscode", "location_path": "x", "dependencies": {}}},
                   "ok": {"1.0.0": {"location_type": "opscode", "location_path": "x", "dependencies": {}}}}"#;
    let u = Universe::parse(&Url::parse("http://127.0.0.1:1").unwrap(), body).unwrap();
    let all = Universes { sources: vec![u] };
    assert_eq!(all.merged().keys().collect::<Vec<_>>(), vec!["ok"]);
}

#[tokio::test]
async fn install_berksfile_locks_then_installs_from_the_lock() {
    let server = fake_supermarket().await;
    let tmp = tempfile::tempdir().unwrap();
    let installer = Installer::new(
        SupermarketClient::builder().build().unwrap(),
        store(&tmp.path().join("cache")),
    );
    // A path cookbook (metadata) depending on cb25 from the Supermarket.
    let mine = CookbookInfo {
        name: "mine".into(),
        version: Version::new(0, 1, 0),
        dependencies: vec![("cb25".into(), "~> 1.0".into())],
    };
    let mut berksfile = Berksfile {
        sources: vec![Source::Supermarket { url: server.uri() }],
        dependencies: vec![
            Dependency::new("mine", Constraint::any()).with_location(Location::Path {
                path: ".".into(),
                metadata: true,
            }),
            Dependency::new("cb27", Constraint::parse("~> 2.0").unwrap()),
        ],
        metadata: true,
    };
    let first = installer
        .install_berksfile(
            &berksfile,
            None,
            &Update::None,
            std::slice::from_ref(&mine),
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    assert!(first.resolved);
    assert_eq!(
        first.lock.to_lock_string(),
        "DEPENDENCIES\n  cb27 (~> 2.0)\n  mine\n    path: .\n    metadata: true\n\n\
         GRAPH\n  cb25 (1.0.0)\n  cb27 (2.0.0)\n    cb28 (~> 2.0)\n  cb28 (2.0.0)\n    cb29 (~> 2.0)\n  \
         cb29 (2.0.0)\n  mine (0.1.0)\n    cb25 (~> 1.0)\n"
    );
    assert_eq!(
        first.cookbooks.len(),
        4,
        "the path cookbook is not downloaded"
    );

    // Same Berksfile with the lock: trusted, nothing fetched at all.
    let before = server.received_requests().await.unwrap().len();
    let second = installer
        .install_berksfile(
            &berksfile,
            Some(&first.lock),
            &Update::None,
            std::slice::from_ref(&mine),
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    assert!(!second.resolved);
    assert_eq!(second.lock, first.lock);
    assert_eq!(server.received_requests().await.unwrap().len(), before);

    // Tightening a constraint the lock violates is an error until that cookbook is updated.
    berksfile.dependencies[1].constraint = Constraint::parse("~> 1.0").unwrap();
    let err = installer
        .install_berksfile(
            &berksfile,
            Some(&first.lock),
            &Update::None,
            std::slice::from_ref(&mine),
            &BTreeMap::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, BerksInstallError::Lockfile(_)), "{err}");
    assert!(
        err.to_string().contains("Try running `berks update cb27`"),
        "{err}"
    );
    let updated = installer
        .install_berksfile(
            &berksfile,
            Some(&first.lock),
            &Update::Only(vec!["cb27".into()]),
            std::slice::from_ref(&mine),
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.lock.locked_version("cb27"),
        Some(Version::new(1, 0, 0))
    );
    assert_eq!(
        updated.lock.locked_version("cb25"),
        Some(Version::new(1, 0, 0))
    );
    assert!(
        updated.lock.locked_version("cb28").is_none(),
        "orphaned by the update"
    );

    let no_sources = Berksfile {
        sources: vec![],
        ..berksfile
    };
    let err = installer
        .install_berksfile(&no_sources, None, &Update::None, &[], &BTreeMap::new())
        .await
        .unwrap_err();
    assert!(matches!(err, BerksInstallError::NoSources), "{err}");
}
