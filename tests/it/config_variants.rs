//! Repository configurations beyond the seed: config.rb, TLS/proxy/`knife[...]` settings,
//! credentials profiles, explicit servers, and bad input with positioned errors.

use std::path::Path;

use chef_sync::config::{ConfigError, KeySource, LoadOptions, RepoConfig, ServerSpec};
use chef_testkit::fleet::repo_fixture;

use crate::support::write_file as write;

/// A placeholder key file: the configuration only checks that the key exists.
fn touch_key(path: &Path) {
    write(path, "placeholder, not a key\n");
}

fn env(pairs: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        env: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..LoadOptions::default()
    }
}

/// A repo whose only configuration is `.chef/knife.rb` with `text`.
fn knife_repo(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join(".chef/knife.rb"), text);
    dir
}

fn load_err(text: &str) -> (String, ConfigError) {
    let repo = knife_repo(text);
    let e = RepoConfig::load(repo.path(), &LoadOptions::default()).unwrap_err();
    let file = repo.path().join(".chef/knife.rb").display().to_string();
    (file, e)
}

#[test]
fn config_rb_is_read_before_knife_rb() {
    let repo = repo_fixture("config_rb");
    let root = repo.path();
    // knife expands a relative client_key against the configuration file's directory.
    touch_key(&root.join(".chef/keys/uploader.pem"));
    let config = RepoConfig::load(root, &LoadOptions::default()).unwrap();
    assert_eq!(config.servers.len(), 1);
    let s = &config.servers[0];
    assert_eq!(s.name, "default");
    assert_eq!(s.client_name, "from-config-rb");
    assert_eq!(s.url, "http://127.0.0.1:4545");
    assert_eq!(s.key, KeySource::Path(root.join(".chef/keys/uploader.pem")));
    assert_eq!(
        s.cookbook_path,
        vec![root.join("cookbooks"), root.join("site-cookbooks")]
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert_eq!(config.berksfile, None);
}

#[test]
fn tls_proxy_and_knife_settings() {
    let repo = repo_fixture("ssl_proxy");
    let root = repo.path();
    touch_key(&root.join(".chef/ci-uploader.pem"));
    let opts = env(&[("HOME", "/home/ci")]);
    let config = RepoConfig::load(root, &opts).unwrap();
    let s = &config.servers[0];
    assert_eq!(s.client_name, "ci-uploader");
    assert_eq!(s.url, "https://127.0.0.1:8443/organizations/acme");
    assert!(!s.ssl_verify, "ssl_verify_mode :verify_none");
    assert_eq!(s.ssl_ca_file, None);
    assert_eq!(s.trusted_certs_dir, Some(root.join(".chef/trusted_certs")));
    assert_eq!(s.cookbook_path, vec![root.join("site-cookbooks")]);
    assert_eq!(s.http_proxy.as_deref(), Some("http://127.0.0.1:3128"));
    assert_eq!(s.https_proxy.as_deref(), Some("http://127.0.0.1:3129"));
    assert_eq!(s.no_proxy.as_deref(), Some("localhost,127.0.0.1"));
    assert_eq!(s.knife["supermarket_site"], "https://127.0.0.1:7443");
    assert_eq!(s.knife["vault_mode"], "client");
    assert_eq!(
        s.knife["secret_file"],
        root.join(".chef/encrypted_data_bag_secret")
            .display()
            .to_string()
    );

    // Settings Chef does not know are stored as Chef stores them, without a warning; a likely
    // typo of a setting chef-sync uses is the one warning, with its line.
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    let w = &config.warnings[0];
    assert_eq!(w.file, root.join(".chef/knife.rb"));
    assert_eq!(w.line, Some(28));
    assert_eq!(
        w.message,
        "settings ignored by chef-sync: ssl_verify_mod (line 28: not a Chef setting; did you mean ssl_verify_mode?)"
    );
}

#[test]
fn environment_reaches_knife_rb_only_through_load_options() {
    let repo = repo_fixture("ssl_proxy");
    let root = repo.path();
    touch_key(&root.join(".chef/deployer.pem"));
    let opts = env(&[
        ("CHEF_USER", "deployer"),
        ("HTTPS_PROXY", "http://127.0.0.1:8888"),
    ]);
    let s = &RepoConfig::load(root, &opts).unwrap().servers[0];
    assert_eq!(s.client_name, "deployer");
    assert_eq!(s.key, KeySource::Path(root.join(".chef/deployer.pem")));
    assert_eq!(s.https_proxy.as_deref(), Some("http://127.0.0.1:8888"));
}

#[test]
fn verify_api_cert_true_keeps_verification_under_verify_none() {
    let repo = knife_repo(
        "node_name 'me'\nclient_key_contents ENV['KEY']\nchef_server_url 'https://127.0.0.1:1'\n\
         ssl_verify_mode :verify_none\nverify_api_cert true\ncookbook_path 'cb'\n",
    );
    let opts = env(&[("KEY", "-----BEGIN RSA PRIVATE KEY-----\nx\n")]);
    let s = &RepoConfig::load(repo.path(), &opts).unwrap().servers[0];
    assert!(s.ssl_verify);
    assert!(matches!(&s.key, KeySource::Pem(p) if p.starts_with(b"-----BEGIN")));
    assert_eq!(s.cookbook_path, vec![repo.path().join("cb")]);
}

#[test]
fn default_profile_from_credentials_when_there_is_no_knife_rb() {
    let home = tempfile::tempdir().unwrap();
    write(
        &home.path().join(".chef/credentials"),
        "[default]\nclient_name = \"barney\"\nclient_key = \"barney.pem\"\n\
         chef_server_url = \"https://127.0.0.1:8443/organizations/bedrock\"\n\n\
         [dev]\nnode_name = \"admin\"\nclient_key = \"\"\"\n-----BEGIN RSA PRIVATE KEY-----\nplaceholder\n-----END RSA PRIVATE KEY-----\n\"\"\"\n\
         chef_server_url = \"http://localhost:4545\"\nssl_verify_mode = \"verify_none\"\n\n[dev.knife]\nsupermarket_site = \"https://127.0.0.1:7443\"\n",
    );
    touch_key(&home.path().join(".chef/barney.pem"));
    let repo = tempfile::tempdir().unwrap();
    let home_s = home.path().display().to_string();

    let config = RepoConfig::load(repo.path(), &env(&[("HOME", &home_s)])).unwrap();
    let s = &config.servers[0];
    assert_eq!(s.name, "default");
    assert_eq!(s.client_name, "barney");
    assert_eq!(s.key, KeySource::Path(home.path().join(".chef/barney.pem")));
    assert_eq!(s.url, "https://127.0.0.1:8443/organizations/bedrock");
    // Nothing sets cookbook_path: Chef's default, under its cache path (/var/chef when this
    // process may write there, else ~/.chef).
    assert!(
        s.cookbook_path == [Path::new("/var/chef/cookbooks")]
            || s.cookbook_path == [home.path().join(".chef/cookbooks")],
        "{:?}",
        s.cookbook_path
    );

    let opts = env(&[("HOME", &home_s), ("CHEF_PROFILE", "dev")]);
    let s = &RepoConfig::load(repo.path(), &opts).unwrap().servers[0];
    assert_eq!(s.name, "dev");
    assert_eq!(s.client_name, "admin");
    assert!(matches!(&s.key, KeySource::Pem(p) if p.starts_with(b"-----BEGIN")));
    assert!(!s.ssl_verify);
    assert_eq!(s.knife["supermarket_site"], "https://127.0.0.1:7443");

    let opts = env(&[("HOME", &home_s), ("CHEF_PROFILE", "prod")]);
    let e = RepoConfig::load(repo.path(), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no profile 'prod' (profiles: default, dev)"),
        "{e}"
    );
}

#[test]
fn explicit_profile_is_the_base_that_knife_rb_overrides() {
    let home = tempfile::tempdir().unwrap();
    write(
        &home.path().join(".chef/credentials"),
        "[ci]\nclient_name = \"ci\"\nclient_key = \"ci.pem\"\nchef_server_url = \"https://127.0.0.1:1\"\n",
    );
    touch_key(&home.path().join(".chef/ci.pem"));
    let repo = knife_repo("chef_server_url 'https://127.0.0.1:2/organizations/x'\n");
    let home_s = home.path().display().to_string();
    let opts = env(&[("HOME", &home_s), ("CHEF_PROFILE", "ci")]);
    let s = &RepoConfig::load(repo.path(), &opts).unwrap().servers[0];
    assert_eq!(s.name, "default");
    assert_eq!(s.client_name, "ci");
    assert_eq!(s.url, "https://127.0.0.1:2/organizations/x");
    assert_eq!(s.key, KeySource::Path(home.path().join(".chef/ci.pem")));

    // Without CHEF_PROFILE the credentials are not consulted when knife.rb exists.
    let e = RepoConfig::load(repo.path(), &env(&[("HOME", &home_s)])).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("does not set node_name (or client_name), and USER is not set"),
        "{e}"
    );
    // Chef's default node_name is the login name (ENV['USER'] without a terminal), and its
    // default key is NAME.pem (or user.pem) beside the configuration file or in ~/.chef.
    let opts = env(&[("HOME", &home_s), ("USER", "ci")]);
    let s = &RepoConfig::load(repo.path(), &opts).unwrap().servers[0];
    assert_eq!(s.client_name, "ci");
    assert_eq!(s.key, KeySource::Path(home.path().join(".chef/ci.pem")));
    let opts = env(&[("HOME", &home_s), ("USER", "nobody")]);
    let e = RepoConfig::load(repo.path(), &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("neither nobody.pem nor user.pem"), "{e}");
}

#[test]
fn explicit_server_spec() {
    let s = ServerSpec::new(
        "lab",
        "http://127.0.0.1:4545",
        "admin",
        KeySource::Pem(b"pem".to_vec()),
    )
    .unwrap();
    assert_eq!((s.name.as_str(), s.client_name.as_str()), ("lab", "admin"));
    assert!(s.ssl_verify && s.cookbook_path.is_empty() && s.knife.is_empty());
    let e = ServerSpec::new("lab", "127.0.0.1:4545", "admin", KeySource::Pem(vec![]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"127.0.0.1:4545\"") && e.contains("server 'lab'"),
        "{e}"
    );
}

#[test]
fn no_configuration_explains_the_expected_layout() {
    let repo = tempfile::tempdir().unwrap();
    let e = RepoConfig::load(repo.path(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, ConfigError::NoServers { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains(".chef/knife.rb") && msg.contains(".chef/NAME/config.yml"),
        "{msg}"
    );
    assert!(msg.contains("~/.chef/credentials"), "{msg}");
}

#[test]
fn config_yml_without_knife_rb_is_an_error() {
    let repo = tempfile::tempdir().unwrap();
    write(
        &repo.path().join(".chef/us-east-1/config.yml"),
        "server: 'https://127.0.0.1:1'\n",
    );
    let e = RepoConfig::load(repo.path(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("(us-east-1)") && e.contains("no .chef/config.rb or .chef/knife.rb"),
        "{e}"
    );
}

#[test]
fn ruby_syntax_error_is_positioned() {
    let (file, e) = load_err("node_name 'me'\nchef_server_url 'https://x\n");
    assert!(matches!(e, ConfigError::Ruby { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("{file}:2:")), "{msg}");
    assert!(msg.contains("syntax error"), "{msg}");
}

#[test]
fn system_backticks_and_eval_are_refused_with_positions() {
    let cases = [
        (
            "node_name 'me'\nsystem('curl http://127.0.0.1')\n",
            ":2:1: system(...) is not allowed",
        ),
        ("node_name `whoami`.strip\n", ":1:11: "),
        (
            "x = 1\n  eval(\"node_name 'me'\")\n",
            ":2:3: eval is not allowed",
        ),
    ];
    for (src, expected) in cases {
        let (file, e) = load_err(src);
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{file}{expected}")),
            "{src:?}: {msg}"
        );
        let ConfigError::Ruby { source, .. } = e else {
            panic!("{msg}")
        };
        assert!(
            matches!(
                source.kind,
                chef_api::ruby::ErrorKind::NotAllowed | chef_api::ruby::ErrorKind::Unsupported
            ),
            "{msg}"
        );
    }
}

#[test]
fn chef_server_url_that_is_not_a_url_names_file_and_line() {
    let repo =
        knife_repo("node_name 'me'\nclient_key_contents 'x'\n\nchef_server_url 'localhost'\n");
    let e = RepoConfig::load(repo.path(), &LoadOptions::default()).unwrap_err();
    let msg = e.to_string();
    let knife_rb = repo.path().join(".chef/knife.rb").display().to_string();
    assert!(matches!(e, ConfigError::InvalidUrl { .. }), "{msg}");
    assert!(msg.contains(&format!("(set at {knife_rb}:4)")), "{msg}");
    assert!(msg.contains("\"localhost\""), "{msg}");
}

#[test]
fn missing_default_key_and_missing_ca_file_are_named() {
    let repo = knife_repo("node_name 'me'\nchef_server_url 'https://127.0.0.1:1'\n");
    let e = RepoConfig::load(repo.path(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("/etc/chef/client.pem does not exist"), "{e}");
    assert!(
        e.contains("sets no client_key, and neither me.pem nor user.pem is in"),
        "{e}"
    );

    let repo = knife_repo(
        "node_name 'me'\nclient_key_contents 'x'\nchef_server_url 'https://127.0.0.1:1'\nssl_ca_file 'ca.pem'\n",
    );
    let e = RepoConfig::load(repo.path(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("ssl_ca_file") && e.contains("knife.rb:4"), "{e}");
}

#[test]
fn no_break_space_in_knife_rb_warns_with_the_line() {
    let repo = knife_repo(
        "node_name\u{a0}\u{a0}'me'\nclient_key_contents 'x'\nchef_server_url\u{a0}'https://127.0.0.1:1'\n",
    );
    let config = RepoConfig::load(repo.path(), &LoadOptions::default()).unwrap();
    let lines: Vec<Option<u32>> = config.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [Some(1), Some(3)]);
    assert_eq!(config.servers[0].client_name, "me");
}

#[test]
fn pasted_credentials_with_no_break_spaces_still_read() {
    let home = tempfile::tempdir().unwrap();
    let creds = home.path().join(".chef/credentials");
    write(
        &creds,
        "[default]\nclient_name\u{a0}=\u{a0}\"barney\"\n\u{a0}\u{a0}client_key = \"-----BEGIN RSA PRIVATE KEY-----\\nx\\n\"\nchef_server_url = \"https://127.0.0.1:1\"\n",
    );
    let repo = tempfile::tempdir().unwrap();
    let home_s = home.path().display().to_string();
    let config = RepoConfig::load(repo.path(), &env(&[("HOME", &home_s)])).unwrap();
    assert_eq!(config.servers[0].client_name, "barney");
    let lines: Vec<(std::path::PathBuf, Option<u32>)> = config
        .warnings
        .iter()
        .map(|w| (w.file.clone(), w.line))
        .collect();
    assert_eq!(lines, [(creds.clone(), Some(2)), (creds, Some(3))]);
}
