//! The seed repository (`tests/data/repos/seed/`): the OpsWorks multi-region layout with the
//! seed's knife.rb verbatim, U+00A0 no-break spaces included, and one `.chef/NAME/config.yml`
//! per server. Keys are generated per test; none is committed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chef_sync::config::{ConfigError, KeySource, LoadOptions, RepoConfig};
use chef_testkit::fleet::{repo_fixture, write_key};

fn options(home: &Path) -> LoadOptions {
    LoadOptions {
        env: BTreeMap::from([("HOME".to_owned(), home.display().to_string())]),
        ..LoadOptions::default()
    }
}

fn with_keys(repo: &Path, servers: &[&str]) {
    for s in servers {
        write_key(&repo.join(".chef").join(s).join("private.pem"));
    }
}

#[test]
fn seed_knife_rb_verbatim_gives_one_server_per_config_yml() {
    let repo = repo_fixture("seed");
    let root = repo.path();
    with_keys(root, &["us-east-1", "eu-west-1"]);
    let config = RepoConfig::load(root, &options(&root.join("home"))).unwrap();

    let names: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["eu-west-1", "us-east-1"]);
    let eu = &config.servers[0];
    assert_eq!(eu.url, "https://localhost:9443/organizations/default");
    assert_eq!(
        config.servers[1].url,
        "https://127.0.0.1:8443/organizations/default"
    );
    assert_eq!(eu.client_name, "pivotal");
    assert_eq!(
        eu.key,
        KeySource::Path(root.join(".chef/eu-west-1/private.pem"))
    );
    assert_eq!(eu.cookbook_path, vec![root.join("cookbooks")]);
    assert_eq!(
        eu.ssl_ca_file,
        Some(root.join(".chef/ca_certs/opsworks-cm-ca-2016-root.pem"))
    );
    assert_eq!(eu.trusted_certs_dir, Some(root.join(".chef/ca_certs")));
    assert!(eu.ssl_verify);
    assert_eq!(eu.http_proxy, None);
    assert!(eu.knife.is_empty());
    assert_eq!(config.berksfile, Some(root.join("Berksfile")));
    assert_eq!(config.root, root);
}

#[test]
fn seed_no_break_spaces_warn_once_per_line_and_nothing_else() {
    let repo = repo_fixture("seed");
    let root = repo.path();
    with_keys(root, &["us-east-1", "eu-west-1"]);
    let config = RepoConfig::load(root, &options(root)).unwrap();
    let knife_rb: PathBuf = root.join(".chef/knife.rb");
    // Two evaluations (one per server), but each line is reported once.
    let lines: Vec<u32> = config
        .warnings
        .iter()
        .map(|w| {
            assert_eq!(w.file, knife_rb);
            assert!(w.message.contains("U+00A0"), "{w}");
            w.line.unwrap()
        })
        .collect();
    assert_eq!(lines, [8, 9, 10, 11, 12, 13, 15, 16, 17]);
    assert!(
        config.warnings[3]
            .to_string()
            .ends_with(".chef/knife.rb:11: U+00A0 no-break space treated as a space")
    );
}

#[test]
fn injected_keys_win_over_client_key_files() {
    let repo = repo_fixture("seed");
    let root = repo.path();
    // No private.pem anywhere: the keys come from the caller (S3/SSM in Lambda).
    let mut opts = options(root);
    opts.keys.insert("eu-west-1".into(), b"EU PEM".to_vec());
    opts.keys.insert("us-east-1".into(), b"US PEM".to_vec());
    let config = RepoConfig::load(root, &opts).unwrap();
    assert_eq!(config.servers[0].key, KeySource::Pem(b"EU PEM".to_vec()));
    assert_eq!(config.servers[1].key, KeySource::Pem(b"US PEM".to_vec()));
    assert_eq!(
        format!("{:?}", config.servers[1].key),
        "Pem(<redacted>)",
        "key bytes never print"
    );
}

#[test]
fn only_selects_servers_and_unknown_names_list_the_known_ones() {
    let repo = repo_fixture("seed");
    let root = repo.path();
    with_keys(root, &["eu-west-1"]);
    let mut opts = options(root);
    opts.only = vec!["eu-west-1".into()];
    let config = RepoConfig::load(root, &opts).unwrap();
    assert_eq!(config.servers.len(), 1);
    assert_eq!(config.servers[0].name, "eu-west-1");

    opts.only = vec!["ap-south-1".into()];
    let e = RepoConfig::load(root, &opts).unwrap_err();
    assert!(matches!(e, ConfigError::UnknownServer { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "unknown server 'ap-south-1'; known servers: eu-west-1, us-east-1"
    );
}

#[test]
fn missing_key_names_server_path_and_client_key_line() {
    let repo = repo_fixture("seed");
    let root = repo.path();
    with_keys(root, &["us-east-1"]);
    let e = RepoConfig::load(root, &options(root)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::MissingKey { ref server, .. } if server == "eu-west-1"));
    let key = root.join(".chef/eu-west-1/private.pem");
    assert!(msg.contains(&key.display().to_string()), "{msg}");
    assert!(msg.contains("client_key at"), "{msg}");
    assert!(msg.contains(".chef/knife.rb:11"), "{msg}");
}

#[test]
fn server_directory_without_config_yml_is_named() {
    let repo = repo_fixture("seed");
    let root = repo.path();
    std::fs::create_dir(root.join(".chef/ap-south-1")).unwrap();
    let mut opts = options(root);
    opts.only = vec!["ap-south-1".into()];
    let e = RepoConfig::load(root, &opts).unwrap_err();
    assert!(matches!(e, ConfigError::MissingConfigYml { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("server 'ap-south-1'"), "{msg}");
    assert!(
        msg.contains(".chef/ap-south-1/config.yml does not exist"),
        "{msg}"
    );
}

#[test]
fn without_server_directories_knife_rb_is_server_default() {
    let repo = repo_fixture("seed");
    let root = repo.path();
    std::fs::remove_dir_all(root.join(".chef/us-east-1")).unwrap();
    std::fs::remove_dir_all(root.join(".chef/eu-west-1")).unwrap();
    // CHEF_SERVER unset: the seed's knife.rb reads .chef/NONE/config.yml, as knife would.
    let e = RepoConfig::load(root, &options(root)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::MissingConfigYml { .. }), "{e:?}");
    assert!(msg.contains("server 'default'"), "{msg}");
    assert!(
        msg.contains(".chef/NONE/config.yml does not exist"),
        "{msg}"
    );
    assert!(msg.contains("YAML.load_file at "), "{msg}");
    assert!(msg.contains(".chef/knife.rb:6"), "{msg}");
}

#[test]
fn chef_server_is_set_per_server_in_a_private_environment() {
    let repo = repo_fixture("seed");
    let root = repo.path();
    with_keys(root, &["us-east-1", "eu-west-1"]);
    let before = std::env::var_os("CHEF_SERVER");
    let mut opts = options(root);
    // A caller's own CHEF_SERVER does not leak into the per-server evaluations.
    opts.env.insert("CHEF_SERVER".into(), "us-east-1".into());
    let config = RepoConfig::load(root, &opts).unwrap();
    assert_eq!(
        config.servers[0].url,
        "https://localhost:9443/organizations/default"
    );
    assert_eq!(opts.env["CHEF_SERVER"], "us-east-1");
    assert_eq!(std::env::var_os("CHEF_SERVER"), before);
}

#[test]
fn config_yml_that_is_not_a_url_names_the_value_and_files() {
    let repo = repo_fixture("seed");
    let root = repo.path();
    with_keys(root, &["us-east-1", "eu-west-1"]);
    std::fs::write(
        root.join(".chef/eu-west-1/config.yml"),
        "server: 'chef.example.com/organizations/default'\n",
    )
    .unwrap();
    let e = RepoConfig::load(root, &options(root)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::InvalidUrl { .. }), "{e:?}");
    assert!(msg.contains("server 'eu-west-1'"), "{msg}");
    assert!(
        msg.contains("\"chef.example.com/organizations/default\""),
        "{msg}"
    );
    assert!(msg.contains(".chef/knife.rb:15"), "{msg}");
    assert!(msg.contains(".chef/eu-west-1/config.yml"), "{msg}");
}

#[test]
fn invalid_config_yml_names_its_line() {
    let repo = repo_fixture("seed");
    let root = repo.path();
    with_keys(root, &["us-east-1", "eu-west-1"]);
    std::fs::write(
        root.join(".chef/us-east-1/config.yml"),
        "# region\nserver: 'https://127.0.0.1:8443'\n  port: [1, 2\n",
    )
    .unwrap();
    let e = RepoConfig::load(root, &options(root)).unwrap_err();
    let msg = e.to_string();
    let ConfigError::Yaml { ref message, .. } = e else {
        panic!("{e:?}")
    };
    let file = root
        .join(".chef/us-east-1/config.yml")
        .display()
        .to_string();
    assert!(message.starts_with(&format!("{file}:")), "{msg}");
    let at = e.position().expect("a typed position");
    assert_eq!(at.file, root.join(".chef/us-east-1/config.yml"));
    assert_eq!(at.line, Some(3), "{msg}");
    assert!(at.column.is_some(), "{at:?}");
    assert!(msg.contains("server 'us-east-1'"), "{msg}");
    assert!(msg.contains(".chef/knife.rb:6"), "{msg}");
}

#[test]
fn warns_about_servers_sharing_a_url_and_keys_for_unknown_servers() {
    let repo = repo_fixture("seed");
    let root = repo.path();
    // A knife.rb that forgets CHEF_SERVER sends every "region" to the same server.
    std::fs::write(
        root.join(".chef/knife.rb"),
        "node_name 'pivotal'\nclient_key_contents ENV['KEY']\nchef_server_url 'https://127.0.0.1:8443/organizations/default'\n",
    )
    .unwrap();
    let mut opts = options(root);
    opts.env
        .insert("KEY".into(), "-----BEGIN PRIVATE KEY-----\n".into());
    opts.keys.insert("us-east1".into(), b"typo".to_vec());
    let config = RepoConfig::load(root, &opts).unwrap();
    let messages: Vec<&str> = config.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            format!(
                "no cookbook_path is set, so Chef's default {} is used (as knife would) and {} is not read; set cookbook_path to use it",
                config.servers[0].cookbook_path[0].display(),
                root.join("cookbooks").display()
            )
            .as_str(),
            "a key was injected for server 'us-east1', which is not configured (servers: eu-west-1, us-east-1)",
            "servers 'eu-west-1' and 'us-east-1' have the same chef_server_url https://127.0.0.1:8443/organizations/default; does the configuration use CHEF_SERVER?",
        ]
    );
    assert_eq!(config.warnings[0].file, root.join(".chef/knife.rb"));
}

/// A variable whose value is not UTF-8 (any byte string is legal in a Unix environment) is
/// left out of what knife.rb sees, as knife leaves it out of `ENV`, and no command panics on
/// it: `std::env::vars` would (the sync and status commands used it).
#[test]
fn a_non_utf8_environment_variable_is_left_out_and_no_command_panics_on_it() {
    use std::os::unix::ffi::OsStrExt as _;
    const NOT_UTF8: &str = "CHEF_SYNC_IT_NOT_UTF8";
    crate::support::run_in_own_process_with_env(
        "config_seed::a_non_utf8_environment_variable_is_left_out_and_no_command_panics_on_it",
        &[(NOT_UTF8, std::ffi::OsStr::from_bytes(b"caf\xe9"))],
        || {
            assert!(
                std::env::var_os(NOT_UTF8).is_some(),
                "the child has the variable"
            );
            let env = LoadOptions::process_env();
            assert!(!env.contains_key(NOT_UTF8));
            assert!(env.contains_key("PATH"), "the UTF-8 ones are kept");
            let missing = tempfile::tempdir().unwrap().path().join("no-repo");
            for command in ["sync", "status", "push"] {
                let status = chef_sync::cli::run([
                    std::ffi::OsStr::new("chef-sync"),
                    command.as_ref(),
                    "--repo".as_ref(),
                    missing.as_os_str(),
                ]);
                assert_eq!(status, 1, "chef-sync {command} on a missing repository");
            }
        },
    );
}
