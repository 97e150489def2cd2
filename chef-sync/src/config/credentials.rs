//! `~/.chef/credentials`: TOML profiles (`[default]`, `[name]`) as knife reads them, with
//! `client_name`/`node_name`, `client_key` (a path, relative to `~/.chef`, or an inline PEM),
//! `chef_server_url` and any other knife setting (`[name.knife]` for `knife[...]`).
//!
//! The profile is `CHEF_PROFILE`, else the contents of `~/.chef/context`, else `default`,
//! all taken from the environment given in [`super::LoadOptions::env`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chef_api::ruby::Value;

use super::config_yml::replace_whitespace_nbsp;
use super::knife_rb::{Origin, Settings};
use super::{ConfigError, ConfigWarning};

/// Which profile to use, and whether the user asked for it explicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProfileChoice {
    pub(crate) name: String,
    pub(crate) explicit: bool,
}

/// `$HOME/.chef` from the given environment.
pub(crate) fn chef_home(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    env.get("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(h).join(".chef"))
}

/// The profile knife would use: `CHEF_PROFILE`, `~/.chef/context`, or `default`.
pub(crate) fn choose_profile(env: &BTreeMap<String, String>) -> ProfileChoice {
    if let Some(p) = env.get("CHEF_PROFILE").filter(|p| !p.trim().is_empty()) {
        return ProfileChoice {
            name: p.trim().to_owned(),
            explicit: true,
        };
    }
    if let Some(ctx) = chef_home(env).map(|h| h.join("context"))
        && let Ok(text) = std::fs::read_to_string(ctx)
        && !text.trim().is_empty()
    {
        return ProfileChoice {
            name: text.trim().to_owned(),
            explicit: true,
        };
    }
    ProfileChoice {
        name: "default".to_owned(),
        explicit: false,
    }
}

/// Reads profile `profile` from the credentials file at `path` into settings. Relative key
/// paths resolve against `chef_home`. U+00A0 used as whitespace is read as a space, with a
/// warning per line in `warnings`.
pub(crate) fn load_profile(
    path: &Path,
    profile: &str,
    chef_home: &Path,
    home: Option<&Path>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = if text.contains('\u{a0}') {
        replace_whitespace_nbsp(&text, path, warnings)
    } else {
        text
    };
    parse_profile(&text, path, profile, chef_home, home)
}

/// Parses credentials text; see [`load_profile`].
pub(crate) fn parse_profile(
    text: &str,
    path: &Path,
    profile: &str,
    chef_home: &Path,
    home: Option<&Path>,
) -> Result<Settings, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|span| {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            (
                u32::try_from(line).unwrap_or(u32::MAX),
                u32::try_from(column).unwrap_or(u32::MAX),
            )
        });
        let prefix = at
            .map(|(line, column)| format!("line {line}, column {column}: "))
            .unwrap_or_default();
        ConfigError::Credentials {
            file: path.to_path_buf(),
            message: format!("{prefix}{}", e.message().trim()),
            line: at.map(|(line, _)| line),
            column: at.map(|(_, column)| column),
        }
    })?;
    let Some(entry) = table.get(profile) else {
        return Err(ConfigError::UnknownProfile {
            file: path.to_path_buf(),
            profile: profile.to_owned(),
            known: table.keys().cloned().collect(),
        });
    };
    let Some(entries) = entry.as_table() else {
        return Err(ConfigError::Credentials {
            file: path.to_path_buf(),
            message: format!("profile '{profile}' is not a table"),
            line: None,
            column: None,
        });
    };
    let origin = Origin {
        file: path.to_path_buf(),
        line: None,
        note: Some(format!("profile '{profile}'")),
    };
    let mut settings = Settings::default();
    for (key, value) in entries {
        settings
            .apply(key, &to_value(value), &origin, chef_home, chef_home, home)
            .map_err(|message| ConfigError::Credentials {
                file: path.to_path_buf(),
                message: format!("profile '{profile}': {message}"),
                line: None,
                column: None,
            })?;
    }
    Ok(settings)
}

fn to_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::Str(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        toml::Value::Table(t) => Value::Hash(
            t.iter()
                .map(|(k, v)| (Value::Str(k.clone()), to_value(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::knife_rb::KeySetting;
    use super::*;

    const CREDS: &str = r#"
[default]
client_name = "barney"
client_key = "barney.pem"
chef_server_url = "https://chef.example/organizations/bedrock"

[dev]
node_name = "admin"
client_key = """
-----BEGIN RSA PRIVATE KEY-----
not a real key
-----END RSA PRIVATE KEY-----
"""
chef_server_url = "https://dev.example"
ssl_verify_mode = "verify_none"

[dev.knife]
ssh_user = "ubuntu"
"#;

    fn parse(profile: &str) -> Result<Settings, ConfigError> {
        parse_profile(
            CREDS,
            Path::new("/h/.chef/credentials"),
            profile,
            Path::new("/h/.chef"),
            Some(Path::new("/h")),
        )
    }

    #[test]
    fn default_profile_key_path_is_relative_to_chef_home() {
        let s = parse("default").unwrap();
        assert_eq!(s.node_name.unwrap().value, "barney");
        assert_eq!(
            s.client_key.unwrap().value,
            KeySetting::Path("/h/.chef/barney.pem".into())
        );
    }

    #[test]
    fn inline_pem_and_knife_table() {
        let s = parse("dev").unwrap();
        assert!(matches!(s.client_key.unwrap().value, KeySetting::Pem(p) if p.contains("BEGIN")));
        assert!(!s.ssl_verify_mode.unwrap().value);
        assert_eq!(s.knife["ssh_user"], serde_json::json!("ubuntu"));
    }

    #[test]
    fn unknown_profile_lists_known_ones() {
        let e = parse("prod").unwrap_err().to_string();
        assert!(e.contains("'prod'") && e.contains("default, dev"), "{e}");
    }

    #[test]
    fn bad_toml_names_the_file_and_line() {
        let err = parse_profile(
            "[default]\nclient_name = \n",
            Path::new("/h/.chef/credentials"),
            "default",
            Path::new("/h/.chef"),
            None,
        )
        .unwrap_err();
        let at = err.position().unwrap();
        assert_eq!(
            (at.file.as_path(), at.line, at.column),
            (Path::new("/h/.chef/credentials"), Some(2), Some(15))
        );
        let e = err.to_string();
        assert!(
            e.starts_with("/h/.chef/credentials: line 2, column 15: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn profile_choice_follows_chef_profile() {
        let env = BTreeMap::from([("CHEF_PROFILE".to_owned(), "dev".to_owned())]);
        assert_eq!(
            choose_profile(&env),
            ProfileChoice {
                name: "dev".into(),
                explicit: true
            }
        );
        assert!(!choose_profile(&BTreeMap::new()).explicit);
    }
}
