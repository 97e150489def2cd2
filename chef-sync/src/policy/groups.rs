//! Which policy group a push moves on each server: the command line's `--policy-group` for
//! every server, else the server's own `policy_group` key in `.chef/NAME/config.yml`, so a
//! staging server and production servers take different groups from one run:
//!
//! ```yaml
//! # .chef/staging/config.yml
//! server: 'https://chef-staging.example.com/organizations/default'
//! policy_group: 'staging'
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chef_api::client::ChefClient;
use serde::Deserialize;

use super::lock::is_server_id;
use crate::config::ServerSpec;
use crate::config::config_yml::{self, YamlError};

/// The key read from `.chef/NAME/config.yml`.
pub const CONFIG_KEY: &str = "policy_group";

/// Why a server has no policy group.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// Neither the command line nor the server's config.yml names one.
    #[error(
        "no policy group for server '{server}': pass --policy-group or set `policy_group: NAME` in {}",
        config.display()
    )]
    Missing {
        /// Server name.
        server: String,
        /// The config.yml looked at.
        config: PathBuf,
    },
    /// The name is not one erchef accepts in a URL.
    #[error("policy group {group:?} (server '{server}') must be 1-255 characters [.A-Za-z0-9_:-]")]
    Invalid {
        /// Server name.
        server: String,
        /// The group as given.
        group: String,
    },
    /// config.yml could not be read.
    #[error("{0}")]
    Config(String),
}

/// The group for `server`: `given` when set, else `policy_group` from
/// `ROOT/.chef/NAME/config.yml`.
///
/// # Errors
/// [`GroupError`] naming the server and the file.
pub fn group_for(
    root: &Path,
    server: &ServerSpec,
    given: Option<&str>,
) -> Result<String, GroupError> {
    let config = root.join(".chef").join(&server.name).join("config.yml");
    let group = match given {
        Some(g) => g.to_owned(),
        None => match config_yml::load_file(&config) {
            Ok((value, _)) => value
                .to_json()
                .get(CONFIG_KEY)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| GroupError::Missing {
                    server: server.name.clone(),
                    config: config.clone(),
                })?,
            Err(YamlError::NotFound(_)) => {
                return Err(GroupError::Missing {
                    server: server.name.clone(),
                    config,
                });
            }
            Err(e) => return Err(GroupError::Config(e.to_string())),
        },
    };
    if !is_server_id(&group) {
        return Err(GroupError::Invalid {
            server: server.name.clone(),
            group,
        });
    }
    Ok(group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeySource;

    fn spec(name: &str) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            url: "http://127.0.0.1:1".into(),
            client_name: "pivotal".into(),
            key: KeySource::Pem(Vec::new()),
            cookbook_path: vec![],
            ssl_verify: true,
            ssl_ca_file: None,
            trusted_certs_dir: None,
            http_proxy: None,
            https_proxy: None,
            no_proxy: None,
            knife: Default::default(),
            object_paths: Default::default(),
        }
    }

    #[test]
    fn the_command_line_wins_else_each_servers_config_yml() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(".chef/staging");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.yml"),
            "server: 'https://x/organizations/o'\npolicy_group: 'staging'\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.path().join(".chef/prod")).unwrap();
        std::fs::write(
            root.path().join(".chef/prod/config.yml"),
            "server: 'https://y'\n",
        )
        .unwrap();

        assert_eq!(
            group_for(root.path(), &spec("staging"), None).unwrap(),
            "staging"
        );
        assert_eq!(
            group_for(root.path(), &spec("staging"), Some("canary")).unwrap(),
            "canary"
        );
        let err = group_for(root.path(), &spec("prod"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'prod'") && err.contains("prod/config.yml"),
            "{err}"
        );
        let err = group_for(root.path(), &spec("prod"), Some("a/b"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"a/b\""), "{err}");
    }
}

/// Group → policy → revision id, as one server lists them.
pub(crate) type PolicyGroups = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Deserialize)]
struct GroupListing {
    #[serde(default)]
    policies: BTreeMap<String, GroupEntry>,
}

#[derive(Debug, Deserialize)]
struct GroupEntry {
    revision_id: String,
}

/// `GET policy_groups`: every group on the server, its policies and the revision each points
/// at. A 404 (a server without policy endpoints) or a `null` body (goiardi's answer) is no
/// groups. The one reader for push and status.
///
/// # Errors
/// Any other failure of the request.
pub(crate) async fn list(client: &ChefClient) -> Result<PolicyGroups, chef_api::Error> {
    match client
        .get::<Option<BTreeMap<String, GroupListing>>>("policy_groups")
        .await
    {
        Ok(groups) => Ok(groups
            .unwrap_or_default()
            .into_iter()
            .map(|(group, listing)| {
                let policies = listing
                    .policies
                    .into_iter()
                    .map(|(name, entry)| (name, entry.revision_id))
                    .collect();
                (group, policies)
            })
            .collect()),
        Err(e) if e.status() == Some(404) => Ok(PolicyGroups::new()),
        Err(e) => Err(e),
    }
}
