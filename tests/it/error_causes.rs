//! Errors that name the real cause (issue 12, point 4), against scripted servers: a 401 names
//! the server, the client and the key's origin; an expired licence is its own kind; a grace
//! period's `X-Ops-License` header is kept; a TLS port answering plain HTTP says to use
//! https://; an answer whose body is cut keeps its status; a manifest PUT retried after a lost
//! answer and then answered 409 is success when the server holds exactly that version.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chef_api::client::{ChefClient, RetryConfig};
use chef_api::cookbook::LoadedCookbook;
use chef_api::error::ErrorKind;
use chef_api::key::PrivateKey;
use chef_api::upload::{Outcome, UploadOptions, Uploader};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::answer_at_api;

const KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/keys/mixlib-spec.pem"
);

fn fast_retry(max_retries: u32) -> RetryConfig {
    RetryConfig {
        max_retries,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        retry_timeout: Duration::from_secs(10),
    }
}

fn builder(url: &str) -> chef_api::client::ChefClientBuilder {
    ChefClient::builder(url)
        .with_client_name("spec-user")
        .with_retry(fast_retry(3))
}

fn client(url: &str) -> ChefClient {
    builder(url).with_key_file(KEY).build().unwrap()
}

#[tokio::test]
async fn a_401_names_server_client_and_key_file_or_bytes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/nodes"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": ["Failed to authenticate as 'spec-user'. Ensure that your node_name and client key are correct."]}),
        ))
        .mount(&server)
        .await;
    let err = client(&server.uri())
        .get::<Value>("nodes")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "Failed to authenticate to {} as spec-user with key {KEY}",
            server.uri()
        )),
        "{text}"
    );
    assert!(
        text.contains("local clock") && text.contains("Ensure that"),
        "{text}"
    );
    let who = err.response().unwrap().signed_as.as_ref().unwrap();
    assert_eq!(who.client_name, "spec-user");

    let pem = std::fs::read(KEY).unwrap();
    let from_bytes = builder(&server.uri())
        .with_key(PrivateKey::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let text = from_bytes
        .get::<Value>("nodes")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("as spec-user with a key given as bytes"),
        "{text}"
    );
    assert!(!text.contains("PRIVATE KEY"), "no key material: {text}");
}

#[tokio::test]
async fn an_expired_licence_is_a_license_error_and_a_grace_period_a_notice() {
    let server = MockServer::start().await;
    // erchef's answers (oc_chef_wm_base:service_available): the grace period adds the header,
    // an expired licence is a 403 with `invalid-license`.
    let header = r#"{"licenseType":"commercial","expirationDateTime":"2026-12-31","warningMessage":"Your license expires soon","gracePeriod":true}"#;
    Mock::given(method("GET"))
        .and(path("/roles"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Ops-License", header)
                .set_body_json(json!({})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/nodes"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"error": "Your license has expired", "message": "invalid-license"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/clients"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({"error": ["missing read permission"]})),
        )
        .mount(&server)
        .await;
    let c = client(&server.uri());
    assert_eq!(c.license_notice(), None);
    c.get::<Value>("roles").await.unwrap();
    let notice = c.license_notice().unwrap();
    assert!(notice.grace_period);
    assert!(
        notice.to_string().contains("Your license expires soon"),
        "{notice}"
    );

    let err = c.get::<Value>("nodes").await.unwrap_err();
    assert!(err.is_license() && !err.is_forbidden() && !err.is_unauthorized());
    assert_eq!(err.kind(), ErrorKind::License);
    assert!(
        err.to_string().contains("Your license has expired"),
        "{err}"
    );
    let err = c.get::<Value>("clients").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
}

/// A port that speaks TLS and, like Go's net/http, answers a plain HTTP request in plain text.
/// Counts the connections it accepted.
async fn tls_port() -> (u16, String, Arc<AtomicUsize>) {
    use rcgen::{CertificateParams, KeyPair};

    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (acceptor, listener, port) = crate::support::tls_listener(&cert, &key).await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut first = [0u8; 1];
                if tcp.peek(&mut first).await.is_err() {
                    return;
                }
                if first[0] == 0x16 {
                    // A TLS handshake record: answer over TLS.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = read_head(&mut tls).await;
                    let reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
                    let _ = tls.write_all(reply.as_bytes()).await;
                    let _ = tls.shutdown().await;
                } else {
                    let _ = read_head(&mut tcp).await;
                    let reply = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
                    let _ = tcp.write_all(reply.as_bytes()).await;
                    let _ = tcp.shutdown().await;
                }
            });
        }
    });
    (port, cert.pem(), accepted)
}

async fn read_head(stream: &mut (impl AsyncReadExt + Unpin)) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf
}

#[tokio::test]
async fn http_to_a_tls_port_shows_the_answer_suggests_https_and_is_not_retried() {
    let (port, ca_pem, accepted) = tls_port().await;
    let err = client(&format!("http://127.0.0.1:{port}"))
        .get::<Value>("nodes")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PlainHttpToTls, "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("Client sent an HTTP request to an HTTPS server")
            && text.contains("use https://"),
        "{text}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "not retried");

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let tls = builder(&format!("https://127.0.0.1:{port}"))
        .with_key_file(KEY)
        .with_ssl_ca_file(&ca)
        .build()
        .unwrap();
    tls.get::<Value>("nodes").await.unwrap();
}

#[tokio::test]
async fn an_answer_whose_body_is_cut_keeps_its_status_and_words() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let _ = read_head(&mut tcp).await;
            // Promises 500 bytes, sends a few, hangs up.
            let reply = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\nno such organization";
            let _ = tcp.write_all(reply.as_bytes()).await;
            let _ = tcp.shutdown().await;
        }
    });
    let err = client(&format!("http://127.0.0.1:{port}"))
        .get::<Value>("nodes")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err:?}");
    assert_eq!(err.messages(), ["no such organization"]);
    assert!(err.response().unwrap().body_cut.is_some());
    assert!(err.to_string().contains("cut short"), "{err}");
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

#[tokio::test]
async fn a_409_after_a_lost_answer_is_success_when_the_server_holds_the_same_version() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("app");
    write(
        &root,
        "metadata.json",
        br#"{"name":"app","version":"1.0.0"}"#,
    );
    write(&root, "recipes/default.rb", b"log 'app'\n");
    let cookbook = Arc::new(LoadedCookbook::load(&root).unwrap());
    let other_root = dir.path().join("other");
    write(
        &other_root,
        "metadata.json",
        br#"{"name":"other","version":"1.0.0"}"#,
    );
    write(&other_root, "recipes/default.rb", b"log 'other'\n");
    let other = Arc::new(LoadedCookbook::load(&other_root).unwrap());

    let checksums: serde_json::Map<String, Value> = [&cookbook, &other]
        .iter()
        .flat_map(|c| c.files())
        .map(|f| (f.checksum(), json!({"needs_upload": false})))
        .collect();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cookbooks"))
        .respond_with(answer_at_api(2, json!({})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sandboxes"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sandbox_id": "abc", "uri": format!("{}/sandboxes/abc", server.uri()),
            "checksums": checksums,
        })))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/sandboxes/abc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    // The first PUT's answer is lost on the way back (the proxy's 502); the PUT had stored and
    // frozen the version, so the retry meets it: 409.
    for name in ["app", "other"] {
        Mock::given(method("PUT"))
            .and(path(format!("/cookbooks/{name}/1.0.0")))
            .respond_with(ResponseTemplate::new(502))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path(format!("/cookbooks/{name}/1.0.0")))
            .respond_with(ResponseTemplate::new(409).set_body_json(json!({"error": [
                format!("The cookbook {name} at version 1.0.0 is frozen. Use the 'force' option to override.")
            ]})))
            .mount(&server)
            .await;
    }
    // The server holds exactly `app`, but a different `other`.
    let mut stored_other = other.manifest(2, true);
    stored_other["all_files"][0]["checksum"] = json!("00000000000000000000000000000000");
    Mock::given(method("GET"))
        .and(path("/cookbooks/app/1.0.0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(cookbook.manifest(2, true)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cookbooks/other/1.0.0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stored_other))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex("^/file_store/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;

    let options = UploadOptions {
        freeze: true,
        commit_retry_delay: Duration::from_millis(1),
        ..UploadOptions::default()
    };
    let results = Uploader::new(client(&server.uri()), options)
        .upload(&[Arc::clone(&cookbook), Arc::clone(&other)])
        .await
        .unwrap();
    let by_name = |n: &str| results.iter().find(|r| r.name == n).unwrap();
    assert_eq!(
        by_name("app").outcome,
        Outcome::Created,
        "{:?}",
        by_name("app").error
    );
    assert!(by_name("app").error.is_none());
    assert_eq!(by_name("other").outcome, Outcome::FrozenConflict);
    let puts = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "PUT" && r.url.path() == "/cookbooks/app/1.0.0")
        .count();
    assert_eq!(puts, 2, "the PUT was retried once after the lost answer");
}

#[test]
fn symlinks_that_cannot_be_followed_are_warnings_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let cb = dir.path().join("linky");
    write(
        &cb,
        "metadata.json",
        br#"{"name":"linky","version":"1.0.0"}"#,
    );
    write(&cb, "recipes/default.rb", b"log 'x'\n");
    write(dir.path(), "outside/ok.txt", b"followed\n");
    std::fs::create_dir_all(cb.join("files")).unwrap();
    let link = |target: &Path, at: &str| std::os::unix::fs::symlink(target, cb.join(at)).unwrap();
    link(&dir.path().join("outside/ok.txt"), "files/ok.txt");
    link(&dir.path().join("missing"), "files/dangling.txt");
    // a → b → a
    link(&cb.join("files/loop_b"), "files/loop_a");
    link(&cb.join("files/loop_a"), "files/loop_b");
    // chefignored links are no concern of the upload's
    write(&cb, "chefignore", b"files/ignored*\n");
    link(&dir.path().join("missing"), "files/ignored.txt");

    let loaded = LoadedCookbook::load(&cb).unwrap();
    let paths: Vec<&str> = loaded.files().iter().map(|f| f.path()).collect();
    assert!(paths.contains(&"files/ok.txt"), "{paths:?}");
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("dangling") || p.contains("loop")),
        "knife's file set: {paths:?}"
    );
    let mut skipped: Vec<String> = loaded
        .skipped_links()
        .iter()
        .map(|l| l.path.strip_prefix(&cb).unwrap().display().to_string())
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        ["files/dangling.txt", "files/loop_a", "files/loop_b"]
    );
    let text = loaded.skipped_links()[0].to_string();
    assert!(
        text.contains(&cb.display().to_string()) && text.contains("cannot be followed"),
        "{text}"
    );
}

/// A Berksfile with one Supermarket source and one cookbook.
fn berks_repo(root: &Path, source: &str) {
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(
        root.join("Berksfile"),
        format!("source '{source}'\ncookbook 'apt'\n"),
    )
    .unwrap();
}

#[tokio::test]
async fn an_unreachable_source_is_never_cookbook_not_found_even_with_a_trusted_lock() {
    use chef_sync::berkshelf::install::BerksInstallError;
    use chef_sync::berkshelf::{PrepareError, PrepareOptions, prepare};

    let server = MockServer::start().await;
    let base = server.uri();
    let download = "/api/v1/cookbooks/apt/versions/7.1.1/download";
    Mock::given(method("GET"))
        .and(path("/universe"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"apt": {"7.1.1": {
            "location_type": "opscode", "location_path": format!("{base}/api/v1"),
            "download_url": format!("{base}{download}"), "dependencies": {}}}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(download))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(
            chef_testkit::fleet::cookbook_tarball("apt", "7.1.1", &[], &[]),
        ))
        .mount(&server)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    berks_repo(&root, &base);
    let warm = PrepareOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..Default::default()
    };
    let locked = prepare(&root, &root.join("Berksfile"), &warm)
        .await
        .unwrap();
    assert!(locked.lock_written);
    // The source moves to a port nothing listens on (bound, then released); the lock stays
    // trusted (it names no source) and a cold cache must fetch the locked apt 7.1.1.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    berks_repo(&root, &base);
    let cold = PrepareOptions {
        cache_dir: Some(tmp.path().join("cold")),
        ..Default::default()
    };
    let err = prepare(&root, &root.join("Berksfile"), &cold)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            PrepareError::Install(BerksInstallError::SourcesUnreachable { name, .. }) if name == "apt"
        ),
        "{err:?}"
    );
    assert!(!text.contains("not found"), "{text}");
    assert!(text.contains("apt 7.1.1 could not be fetched"), "{text}");
    assert!(text.contains(&base), "names the source URL: {text}");
    assert!(
        text.to_ascii_lowercase().contains("connect"),
        "names the network error: {text}"
    );

    // Resolving (no lock) against the dead source leads with the source, too.
    std::fs::remove_file(root.join("Berksfile.lock")).unwrap();
    let text = prepare(&root, &root.join("Berksfile"), &cold)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.starts_with("These sources could not be read:") && text.contains(&base),
        "{text}"
    );
}

#[tokio::test]
async fn a_licence_grace_period_and_a_401_reach_the_sync_report() {
    use chef_sync::config::{KeySource, RepoConfig, ServerSpec};
    use chef_sync::{SyncOptions, sync};

    let grace = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cookbooks"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "X-Ops-License",
                    r#"{"licenseType":"commercial","expirationDateTime":"2026-12-31","warningMessage":"Your license expired; renew within 30 days","gracePeriod":true}"#,
                )
                .set_body_json(json!({})),
        )
        .mount(&grace)
        .await;
    let refused = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": ["Failed to authenticate as 'spec-user'."]})),
        )
        .mount(&refused)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let spec = |name: &str, url: String| {
        let mut s = ServerSpec::new(name, url, "spec-user", KeySource::Path(KEY.into())).unwrap();
        s.cookbook_path = vec![dir.path().to_path_buf()];
        s
    };
    let config = RepoConfig {
        root: dir.path().to_path_buf(),
        servers: vec![spec("grace", grace.uri()), spec("refused", refused.uri())],
        berksfile: None,
        warnings: vec![],
    };
    let report = sync(&config, &SyncOptions::default()).await.unwrap();
    let licence: Vec<&String> = report
        .warnings
        .iter()
        .filter(|w| w.contains("licence"))
        .collect();
    assert_eq!(licence.len(), 1, "{:?}", report.warnings);
    assert!(
        licence[0].starts_with("grace (") && licence[0].contains("renew within 30 days"),
        "{licence:?}"
    );
    let refused_report = report.servers.iter().find(|s| s.name == "refused").unwrap();
    let error = refused_report.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::Unauthorized);
    assert_eq!(error.status, Some(401));
    assert_eq!(error.server.as_deref(), Some("refused"));
    assert!(
        error.message.contains(&format!("with key {KEY}")),
        "{error}"
    );
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    let shown = json["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "refused")
        .unwrap();
    assert_eq!(shown["error"]["kind"], "unauthorized");
    assert_eq!(
        shown["error"]["messages"][0],
        "Failed to authenticate as 'spec-user'."
    );
}
