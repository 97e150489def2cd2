//! Helpers the test modules share: files, the mixlib spec key and clients signing with it, sync
//! reports, and fake Supermarkets (wiremock). Goiardi servers, fleets and fixture repositories
//! are in `chef_testkit`, which the examples and benchmarks use too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chef_api::client::{ChefClient, RetryConfig};
use chef_api::key::PrivateKey;
use chef_sync::berkshelf::Prepared;
use chef_sync::{ServerReport, SyncReport};
use chef_testkit::fleet::{Fleet, cookbook_tarball, example_repo_dir};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The header a Chef server answers its API version range in.
pub const API_HEADER: &str = "X-Ops-Server-API-Version";

/// A 200 answer with `body` from a server speaking API versions 0..=`max`, answering at `max`
/// (erchef's `X-Ops-Server-API-Version` answer header).
pub fn answer_at_api(max: u32, body: serde_json::Value) -> ResponseTemplate {
    let range = format!(
        r#"{{"min_version":"0","max_version":"{max}","request_version":"{max}","response_version":"{max}"}}"#
    );
    ResponseTemplate::new(200)
        .set_body_json(body)
        .insert_header(API_HEADER, range.as_str())
}

/// Writes `contents` to `root/rel`, creating the directories on the way; returns the path.
pub fn write(root: &Path, rel: &str, contents: &(impl AsRef<[u8]> + ?Sized)) -> PathBuf {
    let path = root.join(rel);
    write_file(&path, contents);
    path
}

/// Writes `contents` to `path`, creating the directories on the way.
pub fn write_file(path: &Path, contents: &(impl AsRef<[u8]> + ?Sized)) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents.as_ref()).unwrap();
}

/// `tests/data/keys/mixlib-spec.pem`: the key of mixlib-authentication's own signing specs.
pub fn spec_key_path() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/keys/mixlib-spec.pem"
    ))
}

/// The mixlib spec key, loaded.
pub fn spec_key() -> PrivateKey {
    PrivateKey::from_pem_file(spec_key_path()).expect("test key")
}

/// Retries with millisecond delays, for scripted failures.
pub fn fast_retry(max_retries: u32) -> RetryConfig {
    RetryConfig {
        max_retries,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        retry_timeout: Duration::from_secs(10),
    }
}

/// A client of `url` signing as `spec-user` with the spec key, retrying three times quickly.
pub fn spec_client(url: &str) -> ChefClient {
    ChefClient::builder(url)
        .with_client_name("spec-user")
        .with_key(spec_key())
        .with_retry(fast_retry(3))
        .build()
        .expect("client")
}

/// `NAME-VERSION` of every prepared cookbook, in order.
pub fn prepared_names(p: &Prepared) -> Vec<String> {
    p.cookbooks
        .iter()
        .map(|c| format!("{}-{}", c.name, c.version))
        .collect()
}

/// The part of `report` about `server`.
///
/// # Panics
/// When the report has no such server.
pub fn server_report<'r>(report: &'r SyncReport, server: &str) -> &'r ServerReport {
    report
        .servers
        .iter()
        .find(|s| s.name == server)
        .unwrap_or_else(|| panic!("{server} in the report"))
}

/// A cookbook a fake Supermarket serves: name, version, dependencies.
pub type SupermarketCookbook = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// A `/universe` entry as Supermarket writes it: a cookbook version of the Supermarket at
/// `base`, downloadable from `url`, with its dependencies.
pub fn universe_entry<'d>(
    base: &str,
    url: &str,
    deps: impl IntoIterator<Item = (&'d str, &'d str)>,
) -> serde_json::Value {
    serde_json::json!({
        "location_type": "opscode",
        "location_path": format!("{base}/api/v1"),
        "download_url": url,
        "dependencies": deps.into_iter().collect::<BTreeMap<_, _>>(),
    })
}

/// Mounts `/universe` listing `catalog` and each cookbook's tarball (built by
/// [`cookbook_tarball`], plus the files `extra` gives for its name) at its download URL.
pub async fn mount_catalog(
    server: &MockServer,
    catalog: &[SupermarketCookbook],
    extra: impl Fn(&str) -> Vec<(String, &'static [u8])>,
) {
    let base = server.uri();
    let mut universe: BTreeMap<&str, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    for (name, version, deps) in catalog {
        let dl = format!("/api/v1/cookbooks/{name}/versions/{version}/download");
        universe.entry(name).or_default().insert(
            (*version).to_owned(),
            universe_entry(&base, &format!("{base}{dl}"), deps.iter().copied()),
        );
        let extra = extra(name);
        let extra: Vec<(&str, &[u8])> = extra.iter().map(|(p, d)| (p.as_str(), *d)).collect();
        Mock::given(method("GET"))
            .and(path(dl))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_bytes(cookbook_tarball(name, version, deps, &extra)),
            )
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/universe"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&universe))
        .mount(server)
        .await;
}

/// From now on any request to `server` fails the test when it is verified; `why` names the
/// expectation in the failure.
pub async fn forbid_requests(server: &MockServer, why: &str) {
    server.reset().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named(why)
        .mount(server)
        .await;
}

/// The environment variable that tells this binary it runs as [`run_in_own_process`]'s child.
const OWN_PROCESS: &str = "CHEF_SYNC_IT_OWN_PROCESS";

/// Runs `body` in a process of its own: the test `test_path` (module path within this
/// binary) re-runs this test binary with only itself selected, and `body` runs in that child.
/// For checks that process-wide state (tracing's per-callsite interest) would make racy among
/// the other tests' threads.
///
/// # Panics
/// When the child fails or does not run exactly that test.
pub fn run_in_own_process(test_path: &str, body: impl FnOnce()) {
    run_in_own_process_with_env(test_path, &[], body);
}

/// [`run_in_own_process`] with extra variables in the child's environment.
///
/// # Panics
/// As [`run_in_own_process`].
pub fn run_in_own_process_with_env(
    test_path: &str,
    env: &[(&str, &std::ffi::OsStr)],
    body: impl FnOnce(),
) {
    if std::env::var_os(OWN_PROCESS).is_some_and(|v| v == test_path) {
        body();
        return;
    }
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([test_path, "--exact", "--test-threads=1"])
        .env(OWN_PROCESS, test_path)
        .envs(env.iter().copied())
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{test_path} in its own process: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test_path} ran in its own process: {stdout}"
    );
}

/// A TLS listener on 127.0.0.1 (a free port) serving `cert` with its `key`: the acceptor, the
/// listener and its port, for the tests' small TLS servers.
pub async fn tls_listener(
    cert: &rcgen::Certificate,
    key: &rcgen::KeyPair,
) -> (tokio_rustls::TlsAcceptor, tokio::net::TcpListener, u16) {
    use std::sync::Arc;
    use tokio_rustls::rustls;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (acceptor, listener, port)
}

/// The three regions the end-to-end goiardi tests stand up.
pub const REGIONS: [&str; 3] = ["ap-southeast-2", "eu-west-1", "us-east-1"];

/// The example repository's cookbooks (`examples/repo`), sorted.
pub const EXAMPLE_COOKBOOKS: [&str; 5] = [
    "app_web",
    "base",
    "nginx_proxy",
    "ntp_client",
    "role_marker",
];

/// goiardi servers for `regions` and a temporary copy of the example repository laid out for
/// them (each server's pivotal user created, knife.rb and keys in place).
pub async fn example_fleet(regions: &[&str]) -> (Fleet, tempfile::TempDir) {
    let fleet = Fleet::start(regions).expect("goiardi servers");
    let repo = tempfile::tempdir().unwrap();
    fleet
        .provision_repo(&example_repo_dir(), repo.path())
        .await
        .expect("pivotal users and repo");
    (fleet, repo)
}

/// Runs `git ARGS` in `dir` with a fixed identity, `main` as the default branch and no signing
/// (whatever the user's git config says); asserts it succeeded and returns its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(["-c", "tag.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
