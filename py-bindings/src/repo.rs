//! A Chef repository's servers from Python: `chef_sync.repo_clients`, and the mapping of
//! `chef_sync::config::ConfigError` to `ConfigError` with `file`, `line` and `server`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chef_sync::config::{ConfigError, ConfigWarning, LoadOptions, RepoConfig};
use chef_sync::position::Position;
use pyo3::prelude::*;

use crate::client::PyChefClient;
use crate::error::{ErrorInfo, ErrorKind};

impl From<&ConfigError> for ErrorInfo {
    /// A configuration error is a `ConfigError` with the file and line at fault and the
    /// server it concerns; a client that cannot be built keeps chef-api's data too.
    fn from(err: &ConfigError) -> Self {
        use ConfigError as C;
        let message = err.to_string();
        if let C::Client { server, source, .. } = err {
            let mut info = ErrorInfo::from(&**source).with_server(server.clone());
            info.message = message;
            return info;
        }
        let server = match err {
            C::Ruby { server, .. }
            | C::Yaml { server, .. }
            | C::MissingConfigYml { server, .. }
            | C::MissingKey { server, .. }
            | C::MissingCaFile { server, .. }
            | C::MissingSetting { server, .. }
            | C::InvalidUrl { server, .. } => Some(server.clone()),
            _ => None,
        };
        let info = ErrorInfo::new(config_kind(err.position()), message);
        match server {
            Some(s) => info.with_server(s),
            None => info,
        }
    }
}

/// `ConfigError` with the typed position's file and line.
pub(crate) fn config_kind(position: Option<Position>) -> ErrorKind {
    match position {
        Some(p) => ErrorKind::Config {
            file: Some(p.file),
            line: p.line,
        },
        None => ErrorKind::Config {
            file: None,
            line: None,
        },
    }
}

/// Maps a configuration error to its Python exception.
pub fn config_err(err: &ConfigError) -> PyErr {
    ErrorInfo::from(err).into()
}

/// The environment knife.rb sees: the given mapping, or the process environment (its
/// UTF-8 entries) when none is given, as when knife runs.
pub fn knife_env(env: Option<BTreeMap<String, String>>) -> BTreeMap<String, String> {
    env.unwrap_or_else(LoadOptions::process_env)
}

/// Logs configuration warnings (pasted no-break spaces, unknown settings, ...) on the
/// `chef_sync` logger, each naming its file and line.
pub fn log_warnings(py: Python<'_>, warnings: &[ConfigWarning]) -> PyResult<()> {
    if warnings.is_empty() {
        return Ok(());
    }
    let logger = py
        .import("logging")?
        .call_method1("getLogger", ("chef_sync",))?;
    for w in warnings {
        logger.call_method1("warning", ("%s", w.to_string()))?;
    }
    Ok(())
}

/// Clients by server name, in the configuration's order.
type NamedClients = Vec<(String, chef_api::client::ChefClient)>;

/// Reads the repository and builds one client per server (file work: call without the GIL).
fn load_clients(
    root: &Path,
    options: &LoadOptions,
) -> Result<(NamedClients, Vec<ConfigWarning>), ConfigError> {
    let config = RepoConfig::load(root, options)?;
    let clients = config
        .servers
        .iter()
        .map(|s| Ok((s.name.clone(), s.client()?)))
        .collect::<Result<Vec<_>, ConfigError>>()?;
    Ok((clients, config.warnings))
}

/// The servers of the Chef repository at `repo` (knife.rb / config.rb with one
/// `.chef/NAME/config.yml` per server, as the seed's layout), each as a connected
/// `ChefClient`, by name.
///
/// `servers` limits the result to these names; `keys` maps a server name to PEM bytes that
/// replace its `client_key` file; `env` is the environment knife.rb sees (default: this
/// process's). Configuration warnings go to the `chef_sync` logger. Raises `ConfigError`
/// with `file`, `line` and `server` when the configuration is invalid.
#[pyfunction]
#[pyo3(signature = (repo, servers=None, keys=None, env=None))]
pub fn repo_clients(
    py: Python<'_>,
    repo: PathBuf,
    servers: Option<Vec<String>>,
    keys: Option<BTreeMap<String, Vec<u8>>>,
    env: Option<BTreeMap<String, String>>,
) -> PyResult<BTreeMap<String, PyChefClient>> {
    let options = LoadOptions {
        env: knife_env(env),
        keys: keys.unwrap_or_default(),
        only: servers.unwrap_or_default(),
    };
    let (clients, warnings) = py
        .detach(|| load_clients(&repo, &options))
        .map_err(|e| config_err(&e))?;
    log_warnings(py, &warnings)?;
    Ok(clients
        .into_iter()
        .map(|(name, inner)| (name, PyChefClient { inner }))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruby_errors_carry_file_line_and_server() {
        let dir = tempfile::tempdir().unwrap();
        let chef = dir.path().join(".chef");
        std::fs::create_dir_all(chef.join("eu")).unwrap();
        std::fs::write(chef.join("eu/config.yml"), "server: 'http://127.0.0.1:1'\n").unwrap();
        std::fs::write(
            chef.join("knife.rb"),
            "node_name 'pivotal'\nsystem('rm -rf /')\n",
        )
        .unwrap();
        let err = RepoConfig::load(dir.path(), &LoadOptions::default()).unwrap_err();
        let info = ErrorInfo::from(&err);
        match &info.kind {
            ErrorKind::Config { file, line } => {
                assert!(
                    file.as_ref().is_some_and(|f| f.ends_with("knife.rb")),
                    "{file:?}"
                );
                assert_eq!(*line, Some(2));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(info.server.as_deref(), Some("eu"));
        assert!(info.message.contains("knife.rb"), "{}", info.message);
    }
}
