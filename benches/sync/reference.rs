//! The floor: a minimal client of the cookbook upload protocol, single-threaded, with no
//! planning, reports, retries or progress. Per server, all at once: one listing, the manifests
//! of versions the server already has (to compare), one sandbox with every checksum, every
//! needed file PUT at the same time, the commit, then the manifests by dependency level. Each
//! file is read once per run and its bytes shared by every server. Signing is
//! `chef_api::sign` (1.3), HTTP is plain reqwest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use chef_api::cookbook::{FileBody, LoadedCookbook};
use chef_api::key::PrivateKey;
use chef_api::sign::{RequestToSign, SignVersion, content_hash, sign_request};
use chef_api::upload::dependency_order;
use futures::StreamExt as _;
use futures::future::join_all;
use reqwest::Method;
use serde_json::Value;

/// API version the reference speaks (v0 manifests: workload W has only the classic segments).
const API_VERSION: u32 = 1;

/// One server as the reference sees it.
pub struct RefServer {
    /// Base URL (through the delay proxy).
    pub url: String,
    /// Client (user) name.
    pub user: String,
    /// Its private key (PEM).
    pub key_pem: String,
}

/// What one run sent, summed over servers.
#[derive(Debug, Default, Clone, Copy)]
pub struct RefOutcome {
    pub files_sent: u64,
    pub cookbooks_written: u64,
}

struct Server {
    base: String,
    user: String,
    key: PrivateKey,
    http: reqwest::Client,
}

impl Server {
    async fn signed(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let payload = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let url_path = path.split('?').next().unwrap();
        let headers = sign_request(
            &self.key,
            &RequestToSign {
                method: method.as_str(),
                path: url_path,
                content_hash: content_hash(SignVersion::V1_3, &payload),
                user_id: &self.user,
                timestamp: SystemTime::now(),
                server_api_version: API_VERSION,
                version: SignVersion::V1_3,
            },
        )
        .expect("sign");
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("Accept", "application/json")
            .header("X-Chef-Version", "18.0.0")
            .header("X-Ops-Server-API-Version", API_VERSION.to_string());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if body.is_some() {
            req = req.header("Content-Type", "application/json").body(payload);
        }
        let resp = req.send().await.expect("reference request");
        let status = resp.status();
        let text = resp.bytes().await.expect("reference body");
        assert!(
            status.is_success(),
            "reference {method} {path}: {status} {}",
            String::from_utf8_lossy(&text)
        );
        serde_json::from_slice(&text).unwrap_or(Value::Null)
    }
}

/// Loads and hashes `cookbooks_dir` (one thread), reads every file once, and syncs it to every
/// server concurrently on the current (single-threaded) runtime, with at most `puts_in_flight`
/// file PUTs at once per server (every one at once when that is at least the files).
pub async fn sync(
    cookbooks_dir: &Path,
    servers: &[RefServer],
    puts_in_flight: usize,
) -> RefOutcome {
    let mut cookbooks = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(cookbooks_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        cookbooks.push(LoadedCookbook::load(&dir).expect("cookbook"));
    }
    let mut bodies: HashMap<String, (Bytes, [u8; 16])> = HashMap::new();
    for cb in &cookbooks {
        for f in cb.files() {
            let bytes = match f.body() {
                FileBody::Disk(p) => Bytes::from(std::fs::read(p).unwrap()),
                FileBody::Memory(b) => b.clone(),
            };
            bodies.insert(f.checksum(), (bytes, f.md5()));
        }
    }
    let servers: Vec<Server> = servers
        .iter()
        .map(|s| Server {
            base: s.url.trim_end_matches('/').to_owned(),
            user: s.user.clone(),
            key: PrivateKey::from_pem(s.key_pem.as_bytes()).unwrap(),
            http: reqwest::Client::new(),
        })
        .collect();
    let outcomes = join_all(
        servers
            .iter()
            .map(|s| sync_one(s, &cookbooks, &bodies, puts_in_flight)),
    )
    .await;
    outcomes
        .into_iter()
        .fold(RefOutcome::default(), |a, b| RefOutcome {
            files_sent: a.files_sent + b.files_sent,
            cookbooks_written: a.cookbooks_written + b.cookbooks_written,
        })
}

async fn sync_one(
    server: &Server,
    cookbooks: &[LoadedCookbook],
    bodies: &HashMap<String, (Bytes, [u8; 16])>,
    puts_in_flight: usize,
) -> RefOutcome {
    let listing = server
        .signed(Method::GET, "/cookbooks?num_versions=all", None)
        .await;
    let has = |cb: &LoadedCookbook| {
        listing[cb.name()]["versions"]
            .as_array()
            .is_some_and(|vs| vs.iter().any(|v| v["version"] == cb.version()))
    };
    let compared = join_all(cookbooks.iter().filter(|cb| has(cb)).map(|cb| async move {
        let path = format!("/cookbooks/{}/{}", cb.name(), cb.version());
        let manifest = server.signed(Method::GET, &path, None).await;
        (cb.name(), cb.matches_manifest(&manifest).unwrap_or(false))
    }))
    .await;
    let same: HashSet<&str> = compared
        .into_iter()
        .filter_map(|(name, same)| same.then_some(name))
        .collect();
    let writing: Vec<&LoadedCookbook> = cookbooks
        .iter()
        .filter(|cb| !same.contains(cb.name()))
        .collect();
    if writing.is_empty() {
        return RefOutcome::default();
    }
    let checksums: BTreeMap<String, Value> = writing
        .iter()
        .flat_map(|cb| cb.files().iter().map(|f| (f.checksum(), Value::Null)))
        .collect();
    let sandbox = server
        .signed(
            Method::POST,
            "/sandboxes",
            Some(&serde_json::json!({ "checksums": checksums })),
        )
        .await;
    let puts = sandbox["checksums"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v["needs_upload"] == true)
        .map(|(checksum, v)| {
            let (bytes, md5) = &bodies[checksum];
            let url = v["url"].as_str().unwrap().to_owned();
            async move {
                // One retry on a transport error: thousands of connections opened at once
                // through the proxies were reset now and then on a loaded machine.
                for attempt in 0..2 {
                    let sent = server
                        .http
                        .put(url.clone())
                        .header("Content-Type", "application/x-binary")
                        .header("Accept", "application/json")
                        .header(
                            "Content-MD5",
                            base64::engine::general_purpose::STANDARD.encode(md5),
                        )
                        .body(bytes.clone())
                        .send()
                        .await;
                    match sent {
                        Ok(resp) => {
                            assert!(resp.status().is_success(), "file PUT: {}", resp.status());
                            let _ = resp.bytes().await;
                            return;
                        }
                        Err(e) if attempt == 0 => eprintln!("reference: file PUT retried: {e}"),
                        Err(e) => panic!("file PUT: {e}"),
                    }
                }
            }
        })
        .collect::<Vec<_>>();
    let files_sent = puts.len() as u64;
    futures::stream::iter(puts)
        .buffer_unordered(puts_in_flight.max(1))
        .collect::<Vec<()>>()
        .await;
    let commit = sandbox["uri"].as_str().unwrap();
    let commit_path = &commit[commit.find("/sandboxes/").unwrap()..];
    server
        .signed(
            Method::PUT,
            commit_path,
            Some(&serde_json::json!({ "is_completed": true })),
        )
        .await;
    for wave in dependency_order(&writing) {
        join_all(wave.into_iter().map(|i| {
            let cb = writing[i];
            let path = format!("/cookbooks/{}/{}", cb.name(), cb.version());
            let manifest = cb.manifest(API_VERSION, false);
            async move { server.signed(Method::PUT, &path, Some(&manifest)).await }
        }))
        .await;
    }
    RefOutcome {
        files_sent,
        cookbooks_written: writing.len() as u64,
    }
}
