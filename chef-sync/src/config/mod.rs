//! Repository configuration: knife.rb / config.rb per server, `.chef/NAME/config.yml`,
//! credentials profiles; the list of servers a sync goes to.
//!
//! CONTRACT STUB: the configuration work (issue 4) replaces the bodies; the sync engine codes
//! against these types.
#![allow(missing_docs, clippy::missing_errors_doc)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Name (the `.chef/NAME/` directory, or given explicitly).
    pub name: String,
    /// `chef_server_url`, possibly with `/organizations/ORG`.
    pub url: String,
    /// `node_name` / `client_name`.
    pub client_name: String,
    /// The signing key.
    pub key: KeySource,
    /// `cookbook_path`, absolute.
    pub cookbook_path: Vec<PathBuf>,
    /// `ssl_verify_mode :verify_none` or `verify_api_cert false` turn this off.
    pub ssl_verify: bool,
    /// `ssl_ca_file`.
    pub ssl_ca_file: Option<PathBuf>,
    /// `trusted_certs_dir` (or `ssl_ca_path`).
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

/// A warning found while reading the configuration (file and line where known).
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

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("stub")]
    Stub,
}

impl RepoConfig {
    /// Reads the repository at `root` in the seed's layout.
    pub fn load(root: &Path, options: &LoadOptions) -> Result<Self, ConfigError> {
        let _ = (root, options);
        Err(ConfigError::Stub)
    }
}
