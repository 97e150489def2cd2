//! Servers: discovery in the seed's layout (`.chef/NAME/config.yml`), the `only` filter, and
//! turning evaluated settings into validated [`ServerSpec`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::knife_rb::{self, KeySetting, Settings};
use super::{ConfigError, ConfigWarning, KeySource, ServerSpec};

/// Names of the `.chef/NAME/` directories that hold a `config.yml`, sorted.
pub(crate) fn discover(chef_dir: &Path) -> Result<Vec<String>, ConfigError> {
    let entries = match std::fs::read_dir(chef_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ConfigError::Io {
                path: chef_dir.to_path_buf(),
                source,
            });
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ConfigError::Io {
            path: chef_dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() && path.join("config.yml").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Keeps the servers named in `only` (all when empty). A name that is not a server is an
/// error listing the known ones; a `.chef/NAME/` directory without `config.yml` says so.
pub(crate) fn filter_only(
    names: Vec<String>,
    only: &[String],
    chef_dir: &Path,
) -> Result<Vec<String>, ConfigError> {
    if only.is_empty() {
        return Ok(names);
    }
    for wanted in only {
        if !names.contains(wanted) {
            let dir = chef_dir.join(wanted);
            if dir.is_dir() && !wanted.is_empty() && !wanted.contains(['/', '\\']) {
                return Err(ConfigError::MissingConfigYml {
                    server: wanted.clone(),
                    path: dir.join("config.yml"),
                    loaded_from: None,
                });
            }
            return Err(ConfigError::UnknownServer {
                name: wanted.clone(),
                known: names,
            });
        }
    }
    Ok(names.into_iter().filter(|n| only.contains(n)).collect())
}

/// What [`resolve`] needs besides the settings.
pub(crate) struct ResolveContext<'a> {
    /// Repository root (absolute).
    pub(crate) root: &'a Path,
    /// The directory of the configuration file (Chef's `config_dir`; `client.pem` default).
    pub(crate) config_dir: &'a Path,
    /// What set the settings, for "X does not set Y" messages.
    pub(crate) source: String,
    /// The file that set them.
    pub(crate) source_path: PathBuf,
    /// An injected key for this server, if any.
    pub(crate) injected_key: Option<&'a Vec<u8>>,
    /// The environment knife.rb saw (`USER` for Chef's default `node_name`, `HOME` and
    /// `CHEF_HOME` for `~/.chef` and Chef's `user_home`).
    pub(crate) env: &'a BTreeMap<String, String>,
}

/// Validates settings and builds the server.
pub(crate) fn resolve(
    name: &str,
    settings: Settings,
    cx: &ResolveContext<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<ServerSpec, ConfigError> {
    let missing = |setting: &str| ConfigError::MissingSetting {
        server: name.to_owned(),
        setting: setting.to_owned(),
        source_file: cx.source.clone(),
        file: cx.source_path.clone(),
    };
    let user_home = knife_rb::user_home(cx.env, cx.root);
    let cookbook_path = settings.chef_cookbook_path(&user_home);
    let object_paths = settings.object_paths(&user_home);
    let url = settings
        .chef_server_url
        .ok_or_else(|| missing("chef_server_url"))?;
    validate_url(
        name,
        &url.value,
        &url.origin.to_string(),
        Some(url.origin.position()),
    )?;
    // WorkstationConfigLoader#apply_defaults: `node_name ||= Etc.getlogin`, which is
    // `ENV['USER']` where there is no login terminal (CI, Lambda).
    let client_name = match settings.node_name {
        Some(n) => n.value,
        None => cx
            .env
            .get("USER")
            .filter(|u| !u.is_empty())
            .cloned()
            .ok_or_else(|| missing("node_name (or client_name), and USER is not set"))?,
    };
    let key = match (cx.injected_key, settings.client_key) {
        (Some(pem), _) => KeySource::Pem(pem.clone()),
        (None, Some(k)) => match k.value {
            KeySetting::Pem(pem) => KeySource::Pem(pem.into_bytes()),
            KeySetting::Path(path) => {
                if !path.is_file() {
                    return Err(ConfigError::MissingKey {
                        server: name.to_owned(),
                        path,
                        pointed_by: format!("client_key at {} pointed there", k.origin),
                    });
                }
                KeySource::Path(path)
            }
        },
        (None, None) => default_key(name, &client_name, cx, &user_home)?,
    };
    if settings.cookbook_path.is_none()
        && !cookbook_path.iter().any(|p| p.is_dir())
        && cx.root.join("cookbooks").is_dir()
    {
        warnings.push(ConfigWarning {
            file: PathBuf::from(&cx.source),
            line: None,
            message: format!(
                "no cookbook_path is set, so Chef's default {} is used (as knife would) and {} \
                 is not read; set cookbook_path to use it",
                cookbook_path
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                cx.root.join("cookbooks").display()
            ),
        });
    }
    // Chef: `ssl_verify_mode` (default :verify_peer) applies to every request, and
    // `verify_api_cert true` forces verification of the Chef API even under :verify_none.
    let ssl_verify = settings.ssl_verify_mode.as_ref().is_none_or(|m| m.value)
        || settings.verify_api_cert == Some(true);
    let ssl_ca_file = match settings.ssl_ca_file {
        Some(f) if !f.value.is_file() => {
            return Err(ConfigError::MissingCaFile {
                server: name.to_owned(),
                path: f.value,
                origin: f.origin.to_string(),
                at: Box::new(f.origin.position()),
            });
        }
        other => other.map(|f| f.value),
    };
    if settings.trusted_certs_dir.is_some()
        && settings.ssl_ca_path.is_some()
        && settings.trusted_certs_dir != settings.ssl_ca_path
    {
        warnings.push(ConfigWarning {
            file: cx.source_path.clone(),
            line: None,
            message: "both trusted_certs_dir and ssl_ca_path are set; using trusted_certs_dir"
                .to_owned(),
        });
    }
    // Chef's default trusted_certs_dir is `<config_dir>/trusted_certs` (what `knife ssl
    // fetch` fills); a missing default is as silent as in Chef.
    let default_certs = cx.config_dir.join("trusted_certs");
    let trusted_certs_dir = match settings.trusted_certs_dir.or(settings.ssl_ca_path) {
        None if default_certs.is_dir() => Some(default_certs),
        Some(d) if !d.is_dir() => {
            // Chef silently skips a missing trusted_certs_dir; say so at least.
            warnings.push(ConfigWarning {
                file: PathBuf::from(&cx.source),
                line: None,
                message: format!(
                    "server '{name}': trusted_certs_dir {} does not exist; ignored",
                    d.display()
                ),
            });
            None
        }
        other => other,
    };
    Ok(ServerSpec {
        name: name.to_owned(),
        url: url.value,
        client_name,
        key,
        cookbook_path,
        object_paths,
        ssl_verify,
        ssl_ca_file,
        trusted_certs_dir,
        http_proxy: settings.http_proxy,
        https_proxy: settings.https_proxy,
        no_proxy: settings.no_proxy,
        knife: settings.knife,
    })
}

/// The key WorkstationConfigLoader finds when nothing sets one: `<node_name>.pem`, then
/// `user.pem`, each in the configuration file's directory, then in `~/.chef`; else ChefConfig's
/// own default, `/etc/chef/client.pem`.
fn default_key(
    server: &str,
    client_name: &str,
    cx: &ResolveContext<'_>,
    user_home: &Path,
) -> Result<KeySource, ConfigError> {
    let home_chef = user_home.join(".chef");
    let names = [format!("{client_name}.pem"), "user.pem".to_owned()];
    for file in &names {
        for dir in [cx.config_dir, home_chef.as_path()] {
            let candidate = dir.join(file);
            if candidate.is_file() {
                return Ok(KeySource::Path(candidate));
            }
        }
    }
    let chef_default = PathBuf::from("/etc/chef/client.pem");
    if chef_default.is_file() {
        return Ok(KeySource::Path(chef_default));
    }
    Err(ConfigError::MissingKey {
        server: server.to_owned(),
        path: chef_default,
        pointed_by: format!(
            "{} sets no client_key, and neither {} nor {} is in {} or {}; this is Chef's default",
            cx.source,
            names[0],
            names[1],
            cx.config_dir.display(),
            home_chef.display()
        ),
    })
}

/// Checks that `value` is an absolute http(s) URL with a host.
pub(crate) fn validate_url(
    server: &str,
    value: &str,
    origin: &str,
    at: Option<crate::position::Position>,
) -> Result<(), ConfigError> {
    let bad = |reason: String| ConfigError::InvalidUrl {
        server: server.to_owned(),
        value: redact_url(value),
        origin: origin.to_owned(),
        at: at.clone().map(Box::new),
        reason,
    };
    let url = url::Url::parse(value).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "scheme '{}' is not http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".to_owned()));
    }
    Ok(())
}

/// `url` with any password replaced by `***` (for Debug output and messages).
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl std::fmt::Debug for ServerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |o: &Option<String>| o.as_deref().map(redact_url);
        f.debug_struct("ServerSpec")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .field("client_name", &self.client_name)
            .field("key", &self.key)
            .field("cookbook_path", &self.cookbook_path)
            .field("object_paths", &self.object_paths)
            .field("ssl_verify", &self.ssl_verify)
            .field("ssl_ca_file", &self.ssl_ca_file)
            .field("trusted_certs_dir", &self.trusted_certs_dir)
            .field("http_proxy", &redact(&self.http_proxy))
            .field("https_proxy", &redact(&self.https_proxy))
            .field("no_proxy", &self.no_proxy)
            .field("knife", &self.knife)
            .finish()
    }
}

impl ServerSpec {
    /// A server given explicitly, with no repository configuration: TLS verification on, no
    /// custom CA, no proxies, no cookbook path. Fails when `url` is not an http(s) URL.
    ///
    /// ```
    /// use chef_sync::config::{KeySource, ServerSpec};
    /// let s = ServerSpec::new("eu", "https://chef.example/organizations/o", "pivotal",
    ///     KeySource::Path("/keys/pivotal.pem".into())).unwrap();
    /// assert!(s.ssl_verify);
    /// assert!(ServerSpec::new("x", "chef.example", "me", KeySource::Pem(vec![])).is_err());
    /// ```
    pub fn new(
        name: impl Into<String>,
        url: impl Into<String>,
        client_name: impl Into<String>,
        key: KeySource,
    ) -> Result<Self, ConfigError> {
        let name = name.into();
        let url = url.into();
        validate_url(&name, &url, "ServerSpec::new", None)?;
        Ok(ServerSpec {
            name,
            url,
            client_name: client_name.into(),
            key,
            cookbook_path: Vec::new(),
            object_paths: crate::objects::ObjectPaths::default(),
            ssl_verify: true,
            ssl_ca_file: None,
            trusted_certs_dir: None,
            http_proxy: None,
            https_proxy: None,
            no_proxy: None,
            knife: BTreeMap::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(validate_url("s", "https://chef.example/organizations/o", "k", None).is_ok());
        assert!(validate_url("s", "http://127.0.0.1:4545", "k", None).is_ok());
        let e = validate_url("s", "chef.example", "/r/.chef/knife.rb:3", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"chef.example\"") && e.contains("knife.rb:3"),
            "{e}"
        );
        assert!(validate_url("s", "ftp://chef.example", "k", None).is_err());
    }

    #[test]
    fn debug_hides_keys_and_proxy_passwords() {
        let mut s = ServerSpec::new(
            "a",
            "https://127.0.0.1:1",
            "me",
            KeySource::Pem(b"SECRETPEM".to_vec()),
        )
        .unwrap();
        s.https_proxy = Some("http://bob:hunter2@127.0.0.1:3128".into());
        let d = format!("{s:?}");
        assert!(!d.contains("SECRETPEM") && !d.contains("hunter2"), "{d}");
        assert!(d.contains("bob:***@127.0.0.1:3128"), "{d}");
    }

    #[test]
    fn only_filters_and_rejects_unknown_names() {
        let names = vec!["a".to_owned(), "b".to_owned()];
        let dir = Path::new("/nonexistent/.chef");
        assert_eq!(
            filter_only(names.clone(), &["b".to_owned()], dir).unwrap(),
            vec!["b".to_owned()]
        );
        let e = filter_only(names, &["c".to_owned()], dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'c'") && e.contains("a, b"), "{e}");
    }
}
