//! Repository configuration: knife.rb / config.rb per server, `.chef/NAME/config.yml`,
//! credentials profiles; the list of servers a sync goes to.
//!
//! # Layout
//!
//! The seed's layout (an AWS OpsWorks multi-region repository) works unchanged:
//!
//! ```text
//! repo/
//! ├── .chef/knife.rb          (or .chef/config.rb, looked for first, as knife does)
//! ├── .chef/ca_certs/...
//! ├── .chef/us-east-1/config.yml   one directory per server: `server: 'https://...'`
//! ├── .chef/eu-west-1/config.yml
//! ├── Berksfile
//! └── cookbooks/
//! ```
//!
//! * Every `.chef/NAME/` holding `config.yml` is server `NAME`; knife.rb is evaluated once per
//!   server with `CHEF_SERVER=NAME` added to a private copy of [`LoadOptions::env`] (what the
//!   seed's `CHEF_SERVER=NAME berks upload` does). The process environment is never read or
//!   changed.
//! * knife.rb without server directories: one server named `default`.
//! * No knife.rb/config.rb: the `~/.chef/credentials` profile (`CHEF_PROFILE`, else
//!   `~/.chef/context`, else `default`; `HOME` from [`LoadOptions::env`]) is one server named
//!   after the profile. With knife.rb, an explicitly chosen profile is applied first and
//!   knife.rb's settings win, as in knife.
//!
//! knife.rb is evaluated by the sandbox in [`chef_api::ruby`]: nothing is executed, unsupported
//! Ruby is an error with `file:line:column`, U+00A0 no-break spaces are read as spaces with a
//! warning naming the line. Its settings follow Chef's loader (ChefConfig's
//! WorkstationConfigLoader and Mixlib::Config, checked against Debian's `ruby-chef-config` in
//! the tests): any setting is stored and can be read back, `Chef::Config[:x]` and contexts
//! (`knife.x`, `chef_zero.enabled`) work, and unset settings get Chef's defaults: `node_name`
//! is `USER`; the key is `NODE.pem` or `user.pem` in `.chef/` or `~/.chef`, else
//! `/etc/chef/client.pem`; `trusted_certs_dir` is `.chef/trusted_certs` (used when it exists);
//! `cookbook_path` is `<chef_repo_path>/cookbooks`, whose default is Chef's cache path
//! (`/var/chef` when writable, else `~/.chef`). Only likely typos of the settings chef-sync uses
//! and settings knife applies that chef-sync does not are warnings. `cookbook_path` and
//! `chef_repo_path` resolve against the repository root (where knife runs in CI), a relative
//! `client_key` against knife.rb's directory (as knife expands it).
//!
//! A server can also be given with no repository: [`ServerSpec::new`]. Either way
//! [`ServerSpec::client`] builds the `chef-api` client (key, TLS, proxy) for it.
//!
//! ```no_run
//! use chef_sync::config::{LoadOptions, RepoConfig};
//! let mut options = LoadOptions::default();
//! options.keys.insert("eu-west-1".into(), std::fs::read("/secrets/eu.pem").unwrap());
//! let config = RepoConfig::load("/src/repo".as_ref(), &options).unwrap();
//! for w in &config.warnings { eprintln!("warning: {w}"); }
//! for s in &config.servers {
//!     let client = s.client().unwrap();
//!     println!("{} {} as {}", s.name, s.url, client.client_name());
//! }
//! ```

mod client;
pub(crate) mod config_yml;
mod credentials;
mod knife_rb;
mod servers;

use crate::position::Position;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use knife_rb::{EvalFailure, Settings};
use servers::ResolveContext;

/// Where a server's private key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A PEM file (knife.rb's `client_key`).
    Path(PathBuf),
    /// PEM bytes injected by the caller (e.g. fetched from S3/SSM). Never printed.
    Pem(Vec<u8>),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Path(p) => f.debug_tuple("Path").field(p).finish(),
            KeySource::Pem(_) => f.write_str("Pem(<redacted>)"),
        }
    }
}

/// One Chef server to sync to, fully resolved from the repository's configuration.
///
/// `Debug` never shows key bytes or passwords in URLs (`http://user:***@proxy`).
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Name (the `.chef/NAME/` directory, or given explicitly).
    pub name: String,
    /// `chef_server_url`, possibly with `/organizations/ORG`.
    pub url: String,
    /// `node_name` / `client_name` (the name requests are signed as).
    pub client_name: String,
    /// The signing key.
    pub key: KeySource,
    /// `cookbook_path`, absolute (Chef's default: `cookbooks/` under each `chef_repo_path`,
    /// whose own default is Chef's cache path).
    pub cookbook_path: Vec<PathBuf>,
    /// `role_path`, `environment_path`, `data_bag_path`, absolute, with knife's defaults
    /// (`roles/`, `environments/`, `data_bags/` under `chef_repo_path`, itself defaulting to
    /// the parent of each `cookbook_path` entry, else the repository root).
    pub object_paths: crate::objects::ObjectPaths,
    /// Whether TLS certificates are verified: `ssl_verify_mode :verify_none` turns this off
    /// unless `verify_api_cert true` (Chef's rule: the latter forces verification of the API).
    pub ssl_verify: bool,
    /// `ssl_ca_file` (checked to exist).
    pub ssl_ca_file: Option<PathBuf>,
    /// `trusted_certs_dir` (or `ssl_ca_path`; Chef's default `<config dir>/trusted_certs`);
    /// `None` when the directory does not exist.
    pub trusted_certs_dir: Option<PathBuf>,
    /// `http_proxy`, `https_proxy`, `no_proxy`.
    pub http_proxy: Option<String>,
    /// See `http_proxy`.
    pub https_proxy: Option<String>,
    /// See `http_proxy`.
    pub no_proxy: Option<String>,
    /// `knife[:key] = value` settings, as JSON values.
    pub knife: BTreeMap<String, serde_json::Value>,
}

/// Options for [`RepoConfig::load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The environment knife.rb sees (`ENV[...]`); the process environment is never mutated.
    pub env: BTreeMap<String, String>,
    /// Keys injected per server name (PEM bytes); they win over `client_key` files.
    pub keys: BTreeMap<String, Vec<u8>>,
    /// Only these servers (empty = all).
    pub only: Vec<String>,
}

impl LoadOptions {
    /// The process environment as knife.rb sees it when knife runs: every variable whose name
    /// and value are UTF-8 (`std::env::vars` would panic on one that is not).
    pub fn process_env() -> BTreeMap<String, String> {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    }
}

/// A warning found while reading the configuration (file and line where known).
///
/// Displays as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// What was noticed.
    pub message: String,
}

/// The whole repository configuration.
#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// Repository root.
    pub root: PathBuf,
    /// Servers, sorted by name.
    pub servers: Vec<ServerSpec>,
    /// `Berksfile` at the root, if any.
    pub berksfile: Option<PathBuf>,
    /// Warnings (unknown settings, no-break spaces, ...).
    pub warnings: Vec<ConfigWarning>,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why the configuration could not be read. Every variant names the file (and line where
/// known) or the server it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The repository root is not a directory.
    #[error("{} is not a directory", root.display())]
    NotADirectory {
        /// The root given.
        root: PathBuf,
    },
    /// knife.rb/config.rb is not valid, uses Ruby the sandbox refuses, or failed.
    #[error("{source} (evaluating for server '{server}')")]
    Ruby {
        /// The server being configured.
        server: String,
        /// The positioned error (`file:line:column: message`).
        source: chef_api::ruby::EvalError,
    },
    /// A YAML file loaded by knife.rb is not valid.
    #[error("server '{server}': {message} (loaded by YAML.load_file at {loaded_from})")]
    Yaml {
        /// The server being configured.
        server: String,
        /// `file:line:column: message` of the YAML problem.
        message: String,
        /// Where the YAML problem is (boxed: the error stays small).
        at: Option<Box<Position>>,
        /// `knife.rb:LINE` of the `YAML.load_file` call.
        loaded_from: String,
    },
    /// A server's `config.yml` does not exist.
    #[error(
        "server '{server}': {} does not exist{}; each server needs .chef/{server}/config.yml",
        path.display(),
        loaded_from.as_ref().map(|l| format!(" (loaded by YAML.load_file at {l})")).unwrap_or_default()
    )]
    MissingConfigYml {
        /// The server.
        server: String,
        /// The missing file.
        path: PathBuf,
        /// `knife.rb:LINE` when knife.rb tried to load it.
        loaded_from: Option<String>,
    },
    /// The credentials file is not valid TOML or a profile has a bad value.
    #[error("{}: {message}", file.display())]
    Credentials {
        /// The credentials file.
        file: PathBuf,
        /// What is wrong (TOML errors carry line and column).
        message: String,
        /// 1-based line of a TOML error.
        line: Option<u32>,
        /// 1-based column of a TOML error.
        column: Option<u32>,
    },
    /// The requested profile is not in the credentials file (or the file does not exist).
    #[error(
        "{}: no profile '{profile}' (profiles: {})",
        file.display(),
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )]
    UnknownProfile {
        /// The credentials file.
        file: PathBuf,
        /// The profile asked for.
        profile: String,
        /// The profiles the file has.
        known: Vec<String>,
    },
    /// A required setting is not set.
    #[error("server '{server}': {source_file} does not set {setting}")]
    MissingSetting {
        /// The server.
        server: String,
        /// The setting (`chef_server_url`, `node_name`).
        setting: String,
        /// The configuration that should set it.
        source_file: String,
        /// That configuration's file.
        file: PathBuf,
    },
    /// `chef_server_url` is not an http(s) URL.
    #[error(
        "server '{server}': chef_server_url {value:?} (set at {origin}) is not an http(s) URL: {reason}"
    )]
    InvalidUrl {
        /// The server.
        server: String,
        /// The bad value.
        value: String,
        /// Where it was set (`file:line`, `config.yml`, ...).
        origin: String,
        /// Where it was set, typed, when a file set it (boxed: the error stays small).
        at: Option<Box<Position>>,
        /// Why it is not acceptable.
        reason: String,
    },
    /// The private key file does not exist.
    #[error(
        "server '{server}': private key {} does not exist ({pointed_by}); \
         put the key there or inject it with LoadOptions.keys",
        path.display()
    )]
    MissingKey {
        /// The server.
        server: String,
        /// Where the key was expected.
        path: PathBuf,
        /// What made chef-sync look there (`client_key at knife.rb:11 pointed there`).
        pointed_by: String,
    },
    /// `ssl_ca_file` does not exist.
    #[error("server '{server}': ssl_ca_file {} (set at {origin}) does not exist", path.display())]
    MissingCaFile {
        /// The server.
        server: String,
        /// The missing file.
        path: PathBuf,
        /// Where it was set.
        origin: String,
        /// Where it was set, typed (boxed: the error stays small).
        at: Box<Position>,
    },
    /// `LoadOptions::only` names a server that is not configured.
    #[error(
        "unknown server '{name}'; known servers: {}",
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )]
    UnknownServer {
        /// The name asked for.
        name: String,
        /// The servers the repository has.
        known: Vec<String>,
    },
    /// `.chef/NAME/config.yml` exists but nothing reads it.
    #[error(
        "{} has server directories ({}) but no .chef/config.rb or .chef/knife.rb to read their config.yml",
        root.display(),
        servers.join(", ")
    )]
    ConfigYmlWithoutKnifeRb {
        /// The repository root.
        root: PathBuf,
        /// The server directories found.
        servers: Vec<String>,
    },
    /// The client for a server could not be built (bad key, certificate, proxy, ...).
    #[error("server '{server}': cannot build a client for {url}: {source}")]
    Client {
        /// The server.
        server: String,
        /// Its URL.
        url: String,
        /// What `chef-api` reported (boxed: it is large).
        source: Box<chef_api::Error>,
    },
    /// Nothing configures a server.
    #[error(
        "no Chef server configured in {}: expected .chef/config.rb or .chef/knife.rb \
         (with one .chef/NAME/config.yml per server), or a profile in ~/.chef/credentials",
        root.display()
    )]
    NoServers {
        /// The repository root.
        root: PathBuf,
    },
}

impl RepoConfig {
    /// Reads the repository at `root` in the seed's layout (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// Any [`ConfigError`]: invalid or unsupported Ruby in knife.rb, a bad config.yml, a
    /// server without URL, node name or key, an unknown name in [`LoadOptions::only`], no
    /// servers at all.
    pub fn load(root: &Path, options: &LoadOptions) -> Result<Self, ConfigError> {
        let root = std::path::absolute(root).map_err(|source| ConfigError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let root = knife_rb::normalize(&root);
        if !root.is_dir() {
            return Err(ConfigError::NotADirectory { root });
        }
        let chef_dir = root.join(".chef");
        let config_file = ["config.rb", "knife.rb"]
            .iter()
            .map(|f| chef_dir.join(f))
            .find(|p| p.is_file());
        let discovered = servers::discover(&chef_dir)?;
        let berksfile = Some(root.join("Berksfile")).filter(|p| p.is_file());
        let home = options.env.get("HOME").map(PathBuf::from);
        let chef_home = credentials::chef_home(&options.env);
        let profile = credentials::choose_profile(&options.env);
        let creds_file = chef_home.as_ref().map(|h| h.join("credentials"));
        let read_profile = |warnings: &mut Vec<ConfigWarning>| -> Result<Settings, ConfigError> {
            let (Some(file), Some(ch)) = (&creds_file, &chef_home) else {
                return Err(ConfigError::UnknownProfile {
                    file: PathBuf::from("~/.chef/credentials (HOME is not set)"),
                    profile: profile.name.clone(),
                    known: Vec::new(),
                });
            };
            if !file.is_file() {
                return Err(ConfigError::UnknownProfile {
                    file: file.clone(),
                    profile: profile.name.clone(),
                    known: Vec::new(),
                });
            }
            credentials::load_profile(file, &profile.name, ch, home.as_deref(), warnings)
        };

        let mut warnings: Vec<ConfigWarning> = Vec::new();
        let mut specs = Vec::new();
        let all_names: Vec<String>;
        let report_file = config_file.clone().unwrap_or_else(|| root.clone());
        match config_file {
            Some(file) => {
                all_names = if discovered.is_empty() {
                    vec!["default".to_owned()]
                } else {
                    discovered.clone()
                };
                let names = servers::filter_only(all_names.clone(), &options.only, &chef_dir)?;
                let base = if profile.explicit {
                    Some(read_profile(&mut warnings)?)
                } else {
                    None
                };
                let source = std::fs::read_to_string(&file).map_err(|source| ConfigError::Io {
                    path: file.clone(),
                    source,
                })?;
                let mut unknown: Vec<knife_rb::Ignored> = Vec::new();
                for name in names {
                    let mut env = options.env.clone();
                    if !discovered.is_empty() {
                        env.insert("CHEF_SERVER".to_owned(), name.clone());
                    }
                    let evaluated = knife_rb::evaluate(&file, &source, &env, &root)
                        .map_err(|e| eval_error(&name, e))?;
                    warnings.extend(evaluated.warnings);
                    let mut settings = base.clone().unwrap_or_default();
                    settings.overlay(evaluated.settings);
                    for u in std::mem::take(&mut settings.unknown) {
                        if !unknown.iter().any(|n| n.name == u.name) {
                            unknown.push(u);
                        }
                    }
                    let cx = ResolveContext {
                        root: &root,
                        config_dir: &chef_dir,
                        source: file.display().to_string(),
                        source_path: file.clone(),
                        injected_key: options.keys.get(&name),
                        env: &env,
                    };
                    specs.push(servers::resolve(&name, settings, &cx, &mut warnings)?);
                }
                if !unknown.is_empty() {
                    warnings.push(unknown_warning(&file, &unknown));
                }
            }
            None if !discovered.is_empty() => {
                return Err(ConfigError::ConfigYmlWithoutKnifeRb {
                    root,
                    servers: discovered,
                });
            }
            None => {
                let Some(file) = creds_file.as_ref().filter(|f| f.is_file()) else {
                    return Err(ConfigError::NoServers { root });
                };
                all_names = vec![profile.name.clone()];
                let names = servers::filter_only(all_names.clone(), &options.only, &chef_dir)?;
                if let Some(name) = names.into_iter().next() {
                    let mut settings = read_profile(&mut warnings)?;
                    let unknown = std::mem::take(&mut settings.unknown);
                    if !unknown.is_empty() {
                        warnings.push(unknown_warning(file, &unknown));
                    }
                    let cx = ResolveContext {
                        root: &root,
                        config_dir: chef_home.as_deref().unwrap_or(&chef_dir),
                        source: format!("{} (profile '{}')", file.display(), profile.name),
                        source_path: file.clone(),
                        injected_key: options.keys.get(&name),
                        env: &options.env,
                    };
                    specs.push(servers::resolve(&name, settings, &cx, &mut warnings)?);
                }
            }
        }
        for injected in options.keys.keys() {
            if !all_names.contains(injected) {
                warnings.push(ConfigWarning {
                    file: report_file.clone(),
                    line: None,
                    message: format!(
                        "a key was injected for server '{injected}', which is not configured (servers: {})",
                        all_names.join(", ")
                    ),
                });
            }
        }
        for (i, a) in specs.iter().enumerate() {
            if let Some(b) = specs[..i].iter().find(|b| same_url(&b.url, &a.url)) {
                warnings.push(ConfigWarning {
                    file: report_file.clone(),
                    line: None,
                    message: format!(
                        "servers '{}' and '{}' have the same chef_server_url {}; does the configuration use CHEF_SERVER?",
                        b.name, a.name, a.url
                    ),
                });
            }
        }
        let mut unique: Vec<ConfigWarning> = Vec::with_capacity(warnings.len());
        for w in warnings {
            if !unique.contains(&w) {
                unique.push(w);
            }
        }
        let warnings = unique;
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(RepoConfig {
            root,
            servers: specs,
            berksfile,
            warnings,
        })
    }
}

/// Whether two server URLs are the same base (ignoring case of scheme/host and a trailing `/`).
fn same_url(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
                && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
        }
        _ => a == b,
    }
}

fn eval_error(server: &str, e: EvalFailure) -> ConfigError {
    match e {
        EvalFailure::Ruby(source) => ConfigError::Ruby {
            server: server.to_owned(),
            source,
        },
        EvalFailure::Yaml {
            error: config_yml::YamlError::NotFound(path),
            at,
        } => ConfigError::MissingConfigYml {
            server: server.to_owned(),
            path,
            loaded_from: Some(at),
        },
        EvalFailure::Yaml { error, at } => ConfigError::Yaml {
            server: server.to_owned(),
            message: error.to_string(),
            at: error.position().map(Box::new),
            loaded_from: at,
        },
    }
}

fn unknown_warning(file: &Path, unknown: &[knife_rb::Ignored]) -> ConfigWarning {
    let list: Vec<String> = unknown
        .iter()
        .map(|u| match u.line {
            Some(l) => format!("{} (line {l}: {})", u.name, u.reason),
            None => format!("{} ({})", u.name, u.reason),
        })
        .collect();
    ConfigWarning {
        file: file.to_path_buf(),
        line: unknown.first().and_then(|u| u.line),
        message: format!("settings ignored by chef-sync: {}", list.join("; ")),
    }
}

impl ConfigError {
    /// Where the problem is (file, and line and column when known), typed.
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Io { path, .. } => Some(Position::file(path.clone())),
            Self::NotADirectory { root } => Some(Position::file(root.clone())),
            Self::Ruby { source, .. } => Some(Position::from(source)),
            Self::Yaml { at, .. } | Self::InvalidUrl { at, .. } => at.as_deref().cloned(),
            Self::MissingConfigYml { path, .. } | Self::MissingKey { path, .. } => {
                Some(Position::file(path.clone()))
            }
            Self::MissingCaFile { at, .. } => Some((**at).clone()),
            Self::Credentials {
                file, line, column, ..
            } => Some(Position {
                file: file.clone(),
                line: *line,
                column: *column,
            }),
            Self::UnknownProfile { file, .. } | Self::MissingSetting { file, .. } => {
                Some(Position::file(file.clone()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_configs_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<ConfigError>();
        send_sync::<RepoConfig>();
        send_sync::<ServerSpec>();
    }

    #[test]
    fn warning_display_is_file_line_message() {
        let w = ConfigWarning {
            file: "/r/.chef/knife.rb".into(),
            line: Some(3),
            message: "m".into(),
        };
        assert_eq!(w.to_string(), "/r/.chef/knife.rb:3: m");
    }
}
