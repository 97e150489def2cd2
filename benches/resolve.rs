//! Berkshelf benchmarks:
//!
//! * `resolve/5000x10`: PubGrub resolution against a generated universe of 5,000 cookbooks
//!   with 10 versions each (50,000 versions), 25 top-level demands. Target: < 200 ms.
//! * `universe/parse_5000x10`: parsing that universe as Supermarket JSON (~10 MB) and building
//!   the resolver's catalog from it.
//! * `install/cold_30`: resolve-free cold install of 30 tarballs from a local fake
//!   Supermarket (wiremock on 127.0.0.1): download (with a 302 hop), extract, verify, rename.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use chef_api::universe::Universe;
use chef_api::version::{Constraint, Version};
use chef_sync::berkshelf::archive::{CookbookStore, MetadataCheck};
use chef_sync::berkshelf::install::Installer;
use chef_sync::berkshelf::resolver::{Catalog, resolve};
use chef_sync::berkshelf::supermarket::SupermarketClient;
use chef_sync::berkshelf::universes::Universes;
use criterion::{Criterion, criterion_group, criterion_main};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Small deterministic generator (no seed files, same universe every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

const COOKBOOKS: usize = 5_000;
const VERSIONS: u64 = 10;

/// Cookbook `i` depends on up to 3 cookbooks with a smaller index (a DAG, like real
/// universes), with `~> M.0` or `>= M.0` constraints that some versions fail.
fn generated_catalog() -> Catalog {
    let mut rng = Lcg(42);
    let mut cat = Catalog::new();
    for i in 0..COOKBOOKS {
        for v in 0..VERSIONS {
            let mut deps = Vec::new();
            if i > 0 {
                for _ in 0..(rng.next() % 4) {
                    let dep = (rng.next() as usize) % i;
                    let major = rng.next() % 3 + (VERSIONS / 2 - 1);
                    let c = if rng.next() & 1 == 0 {
                        format!("~> {major}.0")
                    } else {
                        format!(">= {major}.0")
                    };
                    deps.push((format!("cb{dep:04}"), c));
                }
            }
            cat.add(&format!("cb{i:04}"), Version::new(v, 0, 0), deps);
        }
    }
    cat
}

fn bench_resolve(c: &mut Criterion) {
    let cat = generated_catalog();
    let demands: Vec<(String, Constraint)> = (0..25)
        .map(|k| {
            (
                format!("cb{:04}", COOKBOOKS - 1 - k * 37),
                Constraint::parse(">= 0.0.0").unwrap(),
            )
        })
        .collect();
    let solved =
        resolve(&cat, &demands, &BTreeMap::new()).expect("the generated universe resolves");
    eprintln!("resolve/5000x10 picks {} cookbooks", solved.len());
    c.bench_function("resolve/5000x10", |b| {
        b.iter(|| resolve(&cat, &demands, &BTreeMap::new()).unwrap())
    });
}

/// The generated catalog as a Supermarket universe document (about 10 MB of JSON).
fn generated_universe_json(cat: &Catalog) -> Vec<u8> {
    let mut doc = serde_json::Map::new();
    for i in 0..COOKBOOKS {
        let name = format!("cb{i:04}");
        let mut versions = serde_json::Map::new();
        for v in cat.versions(&name) {
            let deps: serde_json::Map<String, serde_json::Value> = cat
                .dependencies(&name, v)
                .unwrap_or_default()
                .iter()
                .map(|(n, c)| (n.clone(), serde_json::Value::String(c.clone())))
                .collect();
            versions.insert(
                v.to_string(),
                serde_json::json!({
                    "location_type": "opscode",
                    "location_path": "https://supermarket.example/api/v1",
                    "download_url": format!("https://supermarket.example/api/v1/cookbooks/{name}/versions/{v}/download"),
                    "dependencies": deps,
                }),
            );
        }
        doc.insert(name, serde_json::Value::Object(versions));
    }
    serde_json::to_vec(&serde_json::Value::Object(doc)).unwrap()
}

fn bench_universe_parse(c: &mut Criterion) {
    let body = generated_universe_json(&generated_catalog());
    eprintln!("universe/parse_5000x10 parses {} bytes", body.len());
    let source = reqwest::Url::parse("https://supermarket.example").unwrap();
    let mut group = c.benchmark_group("universe");
    group.sample_size(10);
    group.bench_function("parse_5000x10", |b| {
        b.iter(|| {
            let u = Universe::parse(&source, &body).unwrap();
            Catalog::from_universes(&Universes { sources: vec![u] })
        })
    });
    group.finish();
}

fn tarball(name: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    let meta = format!("{{\"name\": \"{name}\", \"version\": \"1.0.0\", \"dependencies\": {{}}}}");
    let files: [(String, Vec<u8>); 4] = [
        (format!("{name}/metadata.json"), meta.into_bytes()),
        (
            format!("{name}/recipes/default.rb"),
            b"package 'x'\n".repeat(200),
        ),
        (
            format!("{name}/attributes/default.rb"),
            b"default['x'] = 1\n".repeat(200),
        ),
        (
            format!("{name}/templates/default/x.conf.erb"),
            vec![b'a'; 16 * 1024],
        ),
    ];
    for (p, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, p, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn json_metadata() -> MetadataCheck {
    Arc::new(|dir: &Path| {
        let raw = std::fs::read(dir.join("metadata.json")).map_err(|e| e.to_string())?;
        let v: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| e.to_string())?;
        Ok((
            v["name"].as_str().unwrap_or_default().to_owned(),
            v["version"].as_str().unwrap_or_default().to_owned(),
        ))
    })
}

fn bench_cold_install(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, universes) = rt.block_on(async {
        let server = MockServer::start().await;
        let base = server.uri();
        let mut universe = serde_json::Map::new();
        for i in 0..30 {
            let name = format!("cb{i:02}");
            Mock::given(method("GET"))
                .and(path(format!("/api/v1/cookbooks/{name}/versions/1.0.0/download")))
                .respond_with(
                    ResponseTemplate::new(302).insert_header("location", format!("/system/{name}.tgz")),
                )
                .mount(&server)
                .await;
            Mock::given(method("GET"))
                .and(path(format!("/system/{name}.tgz")))
                .respond_with(ResponseTemplate::new(200).set_body_bytes(tarball(&name)))
                .mount(&server)
                .await;
            universe.insert(
                name.clone(),
                serde_json::json!({"1.0.0": {
                    "location_type": "opscode",
                    "location_path": format!("{base}/api/v1"),
                    "download_url": format!("{base}/api/v1/cookbooks/{name}/versions/1.0.0/download"),
                    "dependencies": {}}}),
            );
        }
        Mock::given(method("GET"))
            .and(path("/universe"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::Value::Object(universe)))
            .mount(&server)
            .await;
        let client = SupermarketClient::builder().build().unwrap();
        let (u, errors) = client
            .fetch_universes(&[reqwest::Url::parse(&base).unwrap()])
            .await;
        assert!(errors.is_empty());
        (server, u)
    });
    let resolution: BTreeMap<String, Version> = (0..30)
        .map(|i| (format!("cb{i:02}"), Version::new(1, 0, 0)))
        .collect();
    let mut group = c.benchmark_group("install");
    group.sample_size(10);
    group.bench_function("cold_30", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = CookbookStore::new(dir.path()).with_metadata_check(json_metadata());
            let installer = Installer::new(SupermarketClient::builder().build().unwrap(), store)
                .with_concurrency(4);
            let done = rt
                .block_on(installer.install(&resolution, &universes, &BTreeSet::new()))
                .unwrap();
            assert_eq!(done.len(), 30);
        })
    });
    group.finish();
    drop(server);
}

criterion_group!(
    benches,
    bench_resolve,
    bench_universe_parse,
    bench_cold_install
);
criterion_main!(benches);
