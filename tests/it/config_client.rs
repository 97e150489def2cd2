//! From repository configuration to a working client: the seed's knife.rb, verbatim, driving
//! real requests to goiardi on loopback; and client-building errors.

use std::collections::BTreeMap;
use std::path::Path;

use chef_api::key::PrivateKey;
use chef_sync::config::{ConfigError, KeySource, LoadOptions, RepoConfig, ServerSpec};
use chef_testkit::fleet::write_key;
use chef_testkit::goiardi::Goiardi;

#[tokio::test]
async fn seed_repo_configures_clients_that_talk_to_the_server() {
    let g = Goiardi::start().expect("goiardi");
    let repo = chef_testkit::fleet::repo_fixture("seed");
    let root = repo.path();
    // Two "regions" on the one local server, reached by two loopback names.
    let url = g.url();
    let other = url.replace("127.0.0.1", "localhost");
    assert_ne!(url, other, "goiardi URL uses 127.0.0.1");
    std::fs::write(
        root.join(".chef/us-east-1/config.yml"),
        format!("server: '{url}'\n"),
    )
    .unwrap();
    std::fs::write(
        root.join(".chef/eu-west-1/config.yml"),
        format!("server: '{other}'\n"),
    )
    .unwrap();

    // The seed signs as 'pivotal': register that user with a fresh key.
    let key_file = root.join(".chef/us-east-1/private.pem");
    write_key(&key_file);
    let key = PrivateKey::from_pem_file(&key_file).unwrap();
    let admin = ServerSpec::new(
        "setup",
        url.clone(),
        "admin",
        KeySource::Path(g.admin_key_path()),
    )
    .unwrap()
    .client()
    .unwrap();
    admin
        .create_user("pivotal", &key.public_key_pem(), true)
        .await
        .unwrap();

    // us-east-1 reads private.pem where knife.rb points; eu-west-1 gets injected bytes.
    let mut options = LoadOptions {
        env: BTreeMap::from([("HOME".to_owned(), root.display().to_string())]),
        ..LoadOptions::default()
    };
    options
        .keys
        .insert("eu-west-1".into(), std::fs::read(&key_file).unwrap());
    let config = RepoConfig::load(root, &options).unwrap();
    assert_eq!(config.servers.len(), 2);
    for spec in &config.servers {
        let client = spec.client().unwrap();
        assert_eq!(client.client_name(), "pivotal");
        assert_eq!(client.server_url().as_str().trim_end_matches('/'), spec.url);
        let cookbooks = client.list_cookbooks().await.unwrap();
        assert!(cookbooks.is_empty(), "{}: {cookbooks:?}", spec.name);
    }
    assert!(matches!(config.servers[0].key, KeySource::Pem(_)));
    assert_eq!(config.servers[1].key, KeySource::Path(key_file));
}

#[test]
fn injected_bytes_that_are_not_a_key_name_the_server_and_never_echo() {
    let spec = ServerSpec::new(
        "eu-west-1",
        "https://127.0.0.1:8443/organizations/o",
        "pivotal",
        KeySource::Pem(b"-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0\n".to_vec()),
    )
    .unwrap();
    let e = spec.client().unwrap_err();
    assert!(matches!(e, ConfigError::Client { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "server 'eu-west-1': cannot build a client for https://127.0.0.1:8443/organizations/o: "
        ),
        "{msg}"
    );
    assert!(
        !msg.contains("c2VjcmV0") && !format!("{e:?}").contains("c2VjcmV0"),
        "{msg}"
    );
}

#[test]
fn missing_key_file_fails_at_build_naming_the_server() {
    let spec = ServerSpec::new(
        "lab",
        "http://127.0.0.1:4545",
        "admin",
        KeySource::Path("/nonexistent/admin.pem".into()),
    )
    .unwrap();
    let msg = spec.client().unwrap_err().to_string();
    assert!(
        msg.starts_with("server 'lab': cannot build a client"),
        "{msg}"
    );
    assert!(msg.contains("/nonexistent/admin.pem"), "{msg}");
}

#[test]
fn tls_and_proxy_settings_build() {
    let repo = tempfile::tempdir().unwrap();
    let key = repo.path().join("me.pem");
    write_key(&key);
    let ca = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/repos/seed/.chef/ca_certs/opsworks-cm-ca-2016-root.pem");
    let mut spec =
        ServerSpec::new("lab", "https://127.0.0.1:8443", "me", KeySource::Path(key)).unwrap();
    spec.ssl_ca_file = Some(ca.clone());
    spec.trusted_certs_dir = Some(ca.parent().unwrap().to_path_buf());
    spec.https_proxy = Some("http://127.0.0.1:3128".into());
    spec.no_proxy = Some("localhost".into());
    assert!(spec.client().is_ok());
    spec.ssl_verify = false;
    assert!(spec.client().is_ok());
    spec.https_proxy = Some("::not a proxy::".into());
    let msg = spec.client().unwrap_err().to_string();
    assert!(msg.starts_with("server 'lab': "), "{msg}");
}
