//! `knife.rb` / `config.rb`: evaluated with the sandboxed Ruby evaluator against a table of
//! knife settings. The same table applies credentials profiles, so both share one parser.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use chef_api::ruby::{Block, Call, CallError, Dsl, ErrorKind, Interpreter, Value};

use super::ConfigWarning;
use super::config_yml::{self, YamlError};

/// Where a setting was made: a file and, when known, the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) file: PathBuf,
    pub(crate) line: Option<u32>,
    /// Extra context, e.g. `profile 'dev'`.
    pub(crate) note: Option<String>,
}

impl Origin {
    /// The file and line, typed.
    pub(crate) fn position(&self) -> crate::position::Position {
        crate::position::Position {
            file: self.file.clone(),
            line: self.line,
            column: None,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(n) = &self.note {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

/// A setting's value with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sourced<T> {
    pub(crate) value: T,
    pub(crate) origin: Origin,
}

/// `client_key` (a path) or `client_key_contents` / an inline PEM in credentials.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum KeySetting {
    Path(PathBuf),
    Pem(String),
}

impl std::fmt::Debug for KeySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySetting::Path(p) => f.debug_tuple("Path").field(p).finish(),
            KeySetting::Pem(_) => f.write_str("Pem(<redacted>)"),
        }
    }
}

/// The knife settings chef-sync uses, as set by one evaluation (or one profile).
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) node_name: Option<Sourced<String>>,
    pub(crate) client_key: Option<Sourced<KeySetting>>,
    pub(crate) chef_server_url: Option<Sourced<String>>,
    pub(crate) cookbook_path: Option<Vec<PathBuf>>,
    /// `chef_repo_path`: one path or several, as in Chef.
    pub(crate) chef_repo_path: Option<Vec<PathBuf>>,
    pub(crate) role_path: Option<Vec<PathBuf>>,
    pub(crate) environment_path: Option<Vec<PathBuf>>,
    pub(crate) data_bag_path: Option<Vec<PathBuf>>,
    pub(crate) ssl_verify_mode: Option<Sourced<bool>>,
    pub(crate) verify_api_cert: Option<bool>,
    pub(crate) ssl_ca_file: Option<Sourced<PathBuf>>,
    pub(crate) ssl_ca_path: Option<PathBuf>,
    pub(crate) trusted_certs_dir: Option<PathBuf>,
    pub(crate) http_proxy: Option<String>,
    pub(crate) https_proxy: Option<String>,
    pub(crate) no_proxy: Option<String>,
    pub(crate) knife: BTreeMap<String, serde_json::Value>,
    /// Every other setting, as the file stored it (Mixlib::Config stores any `name value`);
    /// a bare `name` reads it back. Config contexts other than `knife` are hashes here.
    pub(crate) stored: BTreeMap<String, Value>,
    /// Settings chef-sync warns about, with the line of their first use and why, in order of
    /// appearance: a likely typo of a setting chef-sync uses, or a setting that changes how
    /// knife talks to the server and that chef-sync does not apply.
    pub(crate) unknown: Vec<Ignored>,
    /// Names of settings chef-sync does not know that were already looked at: whether one is a
    /// likely typo is worked out once per name, not once per call (the fuzzer found a knife.rb
    /// calling one unknown setting in a loop that took 5 s of CPU in the typo check).
    unknown_seen: HashSet<String>,
}

/// A setting chef-sync ignores and says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ignored {
    pub(crate) name: String,
    pub(crate) line: Option<u32>,
    pub(crate) reason: String,
}

/// The settings chef-sync reads (with `client_name`, `client_key_contents` and `knife`).
const USED: &[&str] = &[
    "node_name",
    "client_name",
    "client_key",
    "client_key_contents",
    "chef_server_url",
    "cookbook_path",
    "chef_repo_path",
    "role_path",
    "environment_path",
    "data_bag_path",
    "ssl_verify_mode",
    "verify_api_cert",
    "ssl_ca_file",
    "ssl_ca_path",
    "trusted_certs_dir",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "knife",
];

/// Settings knife applies to its requests that chef-sync does not, with what to do instead.
const NOT_APPLIED: &[(&str, &str)] = &[
    (
        "ssl_client_cert",
        "chef-sync sends no TLS client certificate",
    ),
    (
        "ssl_client_key",
        "chef-sync sends no TLS client certificate",
    ),
    (
        "http_proxy_user",
        "put the proxy credentials in http_proxy's URL (http://user:pass@host:port)",
    ),
    (
        "http_proxy_pass",
        "put the proxy credentials in http_proxy's URL (http://user:pass@host:port)",
    ),
    (
        "https_proxy_user",
        "put the proxy credentials in https_proxy's URL (http://user:pass@host:port)",
    ),
    (
        "https_proxy_pass",
        "put the proxy credentials in https_proxy's URL (http://user:pass@host:port)",
    ),
];

/// Configuration contexts of ChefConfig 16 (`knife.editor 'vim'`, `chef_zero.enabled true`).
const CONTEXTS: &[&str] = &[
    "knife",
    "chef_zero",
    "target_mode",
    "windows_service",
    "chefdk",
    "chefcli",
    "data_collector",
];

/// Settings Chef and knife know that chef-sync does not use: stored, never warned about.
/// (ChefConfig 16's `default`/`configurable` names, and knife's own.)
#[rustfmt::skip]
const KNOWN_TO_CHEF: &[&str] = &[
    "acl_path", "allowed_automatic_attributes", "allowed_default_attributes",
    "allowed_normal_attributes", "allowed_override_attributes", "always_dump_stacktrace",
    "authentication_protocol_version", "automatic_attribute_blacklist",
    "automatic_attribute_whitelist", "blocked_automatic_attributes", "blocked_default_attributes",
    "blocked_normal_attributes", "blocked_override_attributes", "cache_options", "cache_path",
    "cache_type", "checksum_path", "chef_guid", "chef_guid_path", "chef_license",
    "chef_server_root", "clear_gem_sources", "client_d_dir", "client_fork", "client_key_path",
    "client_path", "client_registration_retries", "color", "config_d_dir", "config_dir",
    "config_file", "container_path", "cookbook_artifact_path", "cookbook_copyright",
    "cookbook_email", "cookbook_license", "cookbook_sync_threads", "count_log_resource_updates",
    "daemonize", "data_bag_decrypt_minimum_version", "data_bag_encrypt_version", "data_bag_path",
    "default_attribute_blacklist", "default_attribute_whitelist", "deployment_group",
    "diff_disabled", "diff_filesize_threshold", "diff_output_threshold", "disable_event_loggers",
    "download_progress_interval", "editor", "enable_reporting", "enable_reporting_url_fatals",
    "enable_selinux_file_permission_fixup", "encrypted_data_bag_secret", "enforce_default_paths",
    "enforce_path_sanity", "environment", "environment_path", "event_handlers",
    "exception_handlers", "ez", "file_atomic_update", "file_backup_path", "file_cache_path",
    "file_staging_uses_destdir", "fips", "follow_client_key_symlink", "force_formatter",
    "force_logger", "formatter", "formatters", "ftp_proxy", "ftp_proxy_pass", "ftp_proxy_user",
    "group", "group_path", "http_disable_auth_on_redirect", "http_retry_count",
    "http_retry_delay", "internal_locale", "interval", "json_attribs", "listen",
    "local_key_generation", "local_mode", "lockfile", "log_level", "log_location",
    "minimal_ohai", "named_run_list", "no_lazy_load", "node_path", "normal_attribute_blacklist",
    "normal_attribute_whitelist", "ohai_segment_plugin_path", "once",
    "override_attribute_blacklist", "override_attribute_whitelist", "pid_file",
    "policy_document_native_api", "policy_group", "policy_group_path", "policy_name",
    "policy_path", "profile", "recipe_url", "repo_mode", "report_handlers",
    "resource_unified_mode_default", "rest_timeout", "role_path", "ruby_encoding",
    "rubygems_cache_enabled", "rubygems_url", "run_lock_timeout", "script_path",
    "show_download_progress", "silence_deprecation_warnings", "solo", "solo_d_dir",
    "solo_legacy_mode", "splay", "ssh_agent_signing", "ssh_user", "start_handlers",
    "stream_execute_output", "syntax_check_cache_path", "target",
    "treat_deprecation_warnings_as_errors", "umask", "user", "user_home", "user_path",
    "validation_client_name", "validation_key", "validation_key_contents", "verbose_logging",
    "versioned_cookbooks", "why_run", "zypper_check_gpg",
];

/// Receiver-less builtins of the evaluator that must not be taken for settings.
const BUILTINS: &[&str] = &[
    "require",
    "require_relative",
    "puts",
    "print",
    "p",
    "pp",
    "warn",
    "raise",
    "fail",
    "lambda",
    "proc",
    "__dir__",
    "format",
    "sprintf",
    "instance_eval",
    "from_file",
];

/// What [`Settings::apply`] did with a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// A setting chef-sync uses.
    Used,
    /// A harmless knife setting accepted and ignored.
    Ignored,
    /// Not a setting chef-sync knows.
    Unknown,
}

impl Settings {
    /// Applies `name value` (from knife.rb or a profile). Relative paths resolve against
    /// `base` (Chef expands `cookbook_path`/`chef_repo_path` against the working directory),
    /// a relative `client_key` against `key_base` (knife expands it against the configuration
    /// file's directory); `~/` against `home`. Returns an error message for a value of the
    /// wrong type.
    pub(crate) fn apply(
        &mut self,
        name: &str,
        value: &Value,
        origin: &Origin,
        base: &Path,
        key_base: &Path,
        home: Option<&Path>,
    ) -> Result<Applied, String> {
        let path = |v: &Value| -> Result<PathBuf, String> {
            let s = string_of(name, v)?;
            Ok(resolve_path(&s, base, home))
        };
        match name {
            "node_name" | "client_name" => {
                self.node_name = Some(Sourced {
                    value: string_of(name, value)?,
                    origin: origin.clone(),
                });
            }
            "client_key" => {
                let s = string_of(name, value)?;
                let key = if s.trim_start().starts_with("-----BEGIN") {
                    KeySetting::Pem(s)
                } else {
                    KeySetting::Path(resolve_path(&s, key_base, home))
                };
                self.client_key = Some(Sourced {
                    value: key,
                    origin: origin.clone(),
                });
            }
            "client_key_contents" => {
                self.client_key = Some(Sourced {
                    value: KeySetting::Pem(string_of(name, value)?),
                    origin: origin.clone(),
                });
            }
            "chef_server_url" => {
                self.chef_server_url = Some(Sourced {
                    value: string_of(name, value)?.trim().to_owned(),
                    origin: origin.clone(),
                });
            }
            "cookbook_path" | "role_path" | "environment_path" | "data_bag_path" => {
                let paths = match value {
                    Value::Array(items) => items.iter().map(path).collect::<Result<_, _>>()?,
                    Value::Nil => Vec::new(),
                    other => vec![path(other)?],
                };
                let slot = match name {
                    "cookbook_path" => &mut self.cookbook_path,
                    "role_path" => &mut self.role_path,
                    "environment_path" => &mut self.environment_path,
                    _ => &mut self.data_bag_path,
                };
                *slot = Some(paths);
            }
            "chef_repo_path" => {
                self.chef_repo_path = match value {
                    Value::Nil => None,
                    Value::Array(items) => Some(items.iter().map(path).collect::<Result<_, _>>()?),
                    other => Some(vec![path(other)?]),
                };
            }
            "ssl_verify_mode" => {
                let mode = match value.as_str() {
                    Some("verify_none") => false,
                    Some("verify_peer") => true,
                    _ => {
                        return Err(format!(
                            "ssl_verify_mode must be :verify_none or :verify_peer, not {}",
                            value.inspect()
                        ));
                    }
                };
                self.ssl_verify_mode = Some(Sourced {
                    value: mode,
                    origin: origin.clone(),
                });
            }
            "verify_api_cert" => match value {
                Value::Bool(b) => self.verify_api_cert = Some(*b),
                other => {
                    return Err(format!(
                        "verify_api_cert must be true or false, not {}",
                        other.inspect()
                    ));
                }
            },
            "ssl_ca_file" => {
                self.ssl_ca_file = optional(value, path)?.map(|v| Sourced {
                    value: v,
                    origin: origin.clone(),
                })
            }
            "ssl_ca_path" => self.ssl_ca_path = optional(value, path)?,
            "trusted_certs_dir" => self.trusted_certs_dir = optional(value, path)?,
            "http_proxy" => self.http_proxy = optional(value, |v| string_of(name, v))?,
            "https_proxy" => self.https_proxy = optional(value, |v| string_of(name, v))?,
            "no_proxy" => {
                self.no_proxy = optional(value, |v| match v {
                    Value::Array(items) => Ok(items
                        .iter()
                        .map(Value::to_ruby_s)
                        .collect::<Vec<_>>()
                        .join(",")),
                    other => string_of(name, other),
                })?;
            }
            "knife" => match value {
                Value::Hash(pairs) => {
                    for (k, v) in pairs {
                        self.knife.insert(k.to_ruby_s(), v.to_json());
                    }
                }
                other => return Err(format!("knife must be a table, not {}", other.inspect())),
            },
            _ => {
                self.stored.insert(name.to_owned(), value.clone());
                let known = KNOWN_TO_CHEF.contains(&name) || CONTEXTS.contains(&name);
                // An unknown name is reported (or not) the first time; later calls change
                // nothing else.
                if !known && !self.unknown_seen.insert(name.to_owned()) {
                    return Ok(Applied::Unknown);
                }
                let reason = NOT_APPLIED
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, why)| (*why).to_owned())
                    .or_else(|| {
                        if known {
                            return None;
                        }
                        likely_typo_of(name)
                            .map(|used| format!("not a Chef setting; did you mean {used}?"))
                    });
                let Some(reason) = reason else {
                    return Ok(if known {
                        Applied::Ignored
                    } else {
                        Applied::Unknown
                    });
                };
                if !self.unknown.iter().any(|u| u.name == name) {
                    self.unknown.push(Ignored {
                        name: name.to_owned(),
                        line: origin.line,
                        reason,
                    });
                }
                return Ok(Applied::Unknown);
            }
        }
        Ok(Applied::Used)
    }

    /// Lays `over` on top of `self`: every setting `over` made wins.
    pub(crate) fn overlay(&mut self, over: Settings) {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(
            node_name,
            client_key,
            chef_server_url,
            cookbook_path,
            chef_repo_path,
            role_path,
            environment_path,
            data_bag_path,
            ssl_verify_mode,
            verify_api_cert,
            ssl_ca_file,
            ssl_ca_path,
            trusted_certs_dir,
            http_proxy,
            https_proxy,
            no_proxy
        );
        self.knife.extend(over.knife);
        self.stored.extend(over.stored);
        for u in over.unknown {
            if !self.unknown.iter().any(|n| n.name == u.name) {
                self.unknown.push(u);
            }
        }
    }

    /// The current value of a setting as the file set it (`None` when it did not), for a
    /// getter call without arguments.
    fn get(&self, name: &str) -> Option<Value> {
        let s = |o: &Option<String>| o.clone().map(Value::Str);
        let p = |p: &Path| Value::Str(p.to_string_lossy().into_owned());
        let paths = |v: &Vec<PathBuf>| Value::Array(v.iter().map(|x| p(x)).collect());
        match name {
            "node_name" | "client_name" => s(&self.node_name.as_ref().map(|v| v.value.clone())),
            "chef_server_url" => s(&self.chef_server_url.as_ref().map(|v| v.value.clone())),
            "client_key" => match self.client_key.as_ref().map(|k| &k.value) {
                Some(KeySetting::Path(path)) => Some(p(path)),
                Some(KeySetting::Pem(_)) | None => None,
            },
            "cookbook_path" => self.cookbook_path.as_ref().map(paths),
            "chef_repo_path" => self.chef_repo_path.as_ref().map(paths),
            "role_path" => self.role_path.as_ref().map(paths),
            "environment_path" => self.environment_path.as_ref().map(paths),
            "data_bag_path" => self.data_bag_path.as_ref().map(paths),
            "ssl_ca_file" => self.ssl_ca_file.as_ref().map(|f| p(&f.value)),
            "ssl_ca_path" => self.ssl_ca_path.as_deref().map(p),
            "trusted_certs_dir" => self.trusted_certs_dir.as_deref().map(p),
            "ssl_verify_mode" => self.ssl_verify_mode.as_ref().map(|m| {
                Value::Sym(
                    if m.value {
                        "verify_peer"
                    } else {
                        "verify_none"
                    }
                    .to_owned(),
                )
            }),
            "http_proxy" => s(&self.http_proxy),
            "https_proxy" => s(&self.https_proxy),
            "no_proxy" => s(&self.no_proxy),
            "verify_api_cert" => self.verify_api_cert.map(Value::Bool),
            "knife" => Some(Value::Hash(
                self.knife
                    .iter()
                    .map(|(k, v)| (Value::Sym(k.clone()), Value::from_json(v)))
                    .collect(),
            )),
            _ => self.stored.get(name).cloned(),
        }
    }

    /// `cookbook_path` as Chef derives it when the file does not set it:
    /// `<chef_repo_path>/cookbooks` for each of [`Settings::chef_repo_paths`].
    pub(crate) fn chef_cookbook_path(&self, user_home: &Path) -> Vec<PathBuf> {
        match &self.cookbook_path {
            Some(paths) => paths.clone(),
            None => self
                .chef_repo_paths(user_home)
                .iter()
                .map(|r| r.join("cookbooks"))
                .collect(),
        }
    }

    /// knife's `role_path`, `environment_path` and `data_bag_path`: as set, else `roles/`,
    /// `environments/`, `data_bags/` under each of [`Settings::chef_repo_paths`].
    pub(crate) fn object_paths(&self, user_home: &Path) -> crate::objects::ObjectPaths {
        let defaults = crate::objects::ObjectPaths::under(&self.chef_repo_paths(user_home));
        crate::objects::ObjectPaths {
            role_path: self.role_path.clone().unwrap_or(defaults.role_path),
            environment_path: self
                .environment_path
                .clone()
                .unwrap_or(defaults.environment_path),
            data_bag_path: self.data_bag_path.clone().unwrap_or(defaults.data_bag_path),
        }
    }

    /// `chef_repo_path` as Chef derives it: as set, else the parent of each `cookbook_path`,
    /// else Chef's cache path ([`chef_cache_path`]).
    pub(crate) fn chef_repo_paths(&self, user_home: &Path) -> Vec<PathBuf> {
        if let Some(repo) = &self.chef_repo_path {
            return repo.clone();
        }
        match &self.cookbook_path {
            Some(paths) => paths
                .iter()
                .map(|p| p.parent().map_or_else(|| p.clone(), Path::to_path_buf))
                .collect(),
            None => vec![chef_cache_path(user_home)],
        }
    }
}

/// ChefConfig's `cache_path` outside local mode: `/var/chef` when it, or `/var`, exists and
/// this process can read and write it; else `<user_home>/.chef`.
pub(crate) fn chef_cache_path(user_home: &Path) -> PathBuf {
    let accessible = |p: &str| {
        rustix::fs::access(
            p,
            rustix::fs::Access::READ_OK | rustix::fs::Access::WRITE_OK,
        )
        .is_ok()
    };
    if accessible("/var/chef") || accessible("/var") {
        PathBuf::from("/var/chef")
    } else {
        user_home.join(".chef")
    }
}

/// The setting chef-sync uses that `name` most likely misspells (one or two edits away).
fn likely_typo_of(name: &str) -> Option<&'static str> {
    USED.iter()
        .copied()
        .map(|used| (edit_distance(name, used), used))
        .filter(|(d, _)| (1..=2).contains(d))
        .min_by_key(|(d, _)| *d)
        .map(|(_, used)| used)
}

/// Levenshtein distance between two names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn optional<T>(
    value: &Value,
    f: impl FnOnce(&Value) -> Result<T, String>,
) -> Result<Option<T>, String> {
    match value {
        Value::Nil => Ok(None),
        v => f(v).map(Some),
    }
}

fn string_of(name: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::Str(s) | Value::Sym(s) => Ok(s.clone()),
        other => Err(format!(
            "{name} must be a string, not {} ({})",
            other.inspect(),
            other.class_name()
        )),
    }
}

/// Makes `p` absolute against `base` (`~/` against `home`) and removes `.`/`..` lexically.
pub(crate) fn resolve_path(p: &str, base: &Path, home: Option<&Path>) -> PathBuf {
    let joined = match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => base.join(p),
    };
    normalize(&joined)
}

/// Removes `.` and `..` components without touching the file system.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The DSL table knife.rb is evaluated against: Mixlib::Config's semantics, where any
/// `name value` stores a setting and a bare `name` reads it (`nil` when unset, Chef's default
/// for the defaults chef-sync derives), with config contexts (`knife.x`, `chef_zero.enabled`)
/// and `Chef::Config` standing for the same settings.
struct KnifeDsl<'a> {
    settings: Settings,
    file: &'a Path,
    base: &'a Path,
    home: Option<&'a Path>,
    /// Chef's `user_home` (`CHEF_HOME`, else `HOME`, else the working directory).
    user_home: PathBuf,
}

impl KnifeDsl<'_> {
    /// The configuration file's directory (Chef's `config_dir`).
    fn config_dir(&self) -> &Path {
        self.file.parent().unwrap_or(self.base)
    }

    /// A bare `name`: what the file set, else the default Chef has at this point of the
    /// evaluation (the workstation defaults for `node_name` and `client_key` are applied
    /// only after the file, so they read as ChefConfig's), else `nil`.
    fn read(&self, name: &str) -> Value {
        if let Some(v) = self.settings.get(name) {
            return v;
        }
        let path = |p: PathBuf| Value::Str(p.to_string_lossy().into_owned());
        let paths = |v: Vec<PathBuf>| Value::Array(v.into_iter().map(path).collect());
        match name {
            "config_dir" => path(self.config_dir().to_path_buf()),
            "config_file" => path(self.file.to_path_buf()),
            "trusted_certs_dir" => path(self.config_dir().join("trusted_certs")),
            "chef_server_url" => Value::Str("https://localhost:443".to_owned()),
            "ssl_verify_mode" => Value::Sym("verify_peer".to_owned()),
            "verify_api_cert" | "local_mode" => Value::Bool(false),
            "client_key" => Value::Str("/etc/chef/client.pem".to_owned()),
            "user_home" => path(self.user_home.clone()),
            "cache_path" => path(chef_cache_path(&self.user_home)),
            "cookbook_path" => paths(self.settings.chef_cookbook_path(&self.user_home)),
            "role_path" => paths(self.settings.object_paths(&self.user_home).role_path),
            "environment_path" => {
                paths(self.settings.object_paths(&self.user_home).environment_path)
            }
            "data_bag_path" => paths(self.settings.object_paths(&self.user_home).data_bag_path),
            "chef_repo_path" => {
                let repo = self.settings.chef_repo_paths(&self.user_home);
                match <[PathBuf; 1]>::try_from(repo) {
                    Ok([one]) if self.settings.cookbook_path.is_none() => path(one),
                    Ok([one]) => paths(vec![one]),
                    Err(many) => paths(many),
                }
            }
            _ if CONTEXTS.contains(&name) => Value::Hash(Vec::new()),
            _ => Value::Nil,
        }
    }

    /// `CONTEXT.KEY [value]`: reads or sets one key of a configuration context.
    fn context_call(&mut self, context: &str, key: &str, value: Option<Value>) -> Value {
        if context == "knife" {
            return match value {
                Some(v) => {
                    self.settings.knife.insert(key.to_owned(), v.to_json());
                    v
                }
                None => self
                    .settings
                    .knife
                    .get(key)
                    .map_or(Value::Nil, Value::from_json),
            };
        }
        let entry = self
            .settings
            .stored
            .entry(context.to_owned())
            .or_insert_with(|| Value::Hash(Vec::new()));
        let Value::Hash(pairs) = entry else {
            return Value::Nil;
        };
        let k = Value::Sym(key.to_owned());
        match value {
            Some(v) => {
                match pairs.iter_mut().find(|(pk, _)| *pk == k) {
                    Some(slot) => slot.1 = v.clone(),
                    None => pairs.push((k, v.clone())),
                }
                v
            }
            None => pairs
                .iter()
                .find(|(pk, _)| *pk == k)
                .map_or(Value::Nil, |(_, v)| v.clone()),
        }
    }
}

/// A plain setting name (`node_name`, `ssl_verify_mode`, ...).
fn is_setting_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Dsl for KnifeDsl<'_> {
    fn responds_to(&self, name: &str) -> bool {
        if name == "knife[]=" {
            return true;
        }
        if let Some((context, key)) = name.split_once('.') {
            return CONTEXTS.contains(&context) && is_setting_name(key);
        }
        // Mixlib::Config accepts any `name value` (ChefConfig is not in strict mode).
        is_setting_name(name) && !BUILTINS.contains(&name)
    }

    fn is_chef_config(&self) -> bool {
        true
    }

    fn call(&mut self, call: Call, _block: Option<&mut dyn Block>) -> Result<Value, CallError> {
        let origin = Origin {
            file: self.file.to_path_buf(),
            line: Some(call.line),
            note: None,
        };
        if call.name == "knife[]=" {
            let [key, value] = <[Value; 2]>::try_from(call.args)
                .map_err(|_| CallError::from("knife[key] = value takes one key and one value"))?;
            self.settings.knife.insert(key.to_ruby_s(), value.to_json());
            return Ok(value);
        }
        let mut args = call.args;
        if !call.kwargs.is_empty() {
            args.push(Value::Hash(call.kwargs));
        }
        // Mixlib::Config: one argument is the value, several are an array of them.
        let value = match args.len() {
            0 => None,
            1 => args.pop(),
            _ => Some(Value::Array(args)),
        };
        if let Some((context, key)) = call.name.split_once('.') {
            return Ok(self.context_call(context, key, value));
        }
        let Some(value) = value else {
            return Ok(self.read(&call.name));
        };
        let key_base = self.config_dir().to_path_buf();
        self.settings
            .apply(&call.name, &value, &origin, self.base, &key_base, self.home)
            .map_err(CallError::Message)?;
        // Like Mixlib::Config, a setter returns the setting as stored.
        Ok(self.read(&call.name))
    }
}

/// One evaluation of knife.rb: its settings and what was noticed.
#[derive(Debug)]
pub(crate) struct Evaluated {
    pub(crate) settings: Settings,
    pub(crate) warnings: Vec<ConfigWarning>,
}

/// Why an evaluation failed.
#[derive(Debug)]
pub(crate) enum EvalFailure {
    /// The Ruby was unsupported, invalid or failed.
    Ruby(chef_api::ruby::EvalError),
    /// `YAML.load_file` failed (`at` is `knife.rb:LINE`).
    Yaml { error: YamlError, at: String },
}

impl std::fmt::Display for EvalFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalFailure::Ruby(e) => write!(f, "{e}"),
            EvalFailure::Yaml { error, at } => write!(f, "{error} (loaded at {at})"),
        }
    }
}

/// Chef's `user_home`: `CHEF_HOME`, else `HOME`, else the working directory.
pub(crate) fn user_home(env: &BTreeMap<String, String>, cwd: &Path) -> PathBuf {
    ["CHEF_HOME", "HOME"]
        .iter()
        .find_map(|k| env.get(*k).filter(|v| !v.is_empty()))
        .map_or_else(|| cwd.to_path_buf(), PathBuf::from)
}

/// Evaluates knife.rb/config.rb at `file` (absolute) with `env` as `ENV`. Relative paths
/// resolve against `cwd` (the repository root, where knife is run from).
pub(crate) fn evaluate(
    file: &Path,
    source: &str,
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<Evaluated, EvalFailure> {
    #[derive(Default)]
    struct HookState {
        warnings: Vec<ConfigWarning>,
        error: Option<YamlError>,
        loaded: Vec<PathBuf>,
    }
    let state = Arc::new(Mutex::new(HookState::default()));
    let hook_state = Arc::clone(&state);
    let interp = Interpreter::new()
        .with_env(env.iter().map(|(k, v)| (k.clone(), v.clone())))
        .with_cwd(cwd)
        // knife.rb lives in .chef/: it may read files anywhere in the repository.
        .with_read_root(cwd)
        .with_yaml_loader(move |path| {
            let mut st = hook_state.lock().unwrap_or_else(|e| e.into_inner());
            match config_yml::load_file(path) {
                Ok((value, warnings)) => {
                    st.warnings.extend(warnings);
                    st.loaded.push(path.to_path_buf());
                    Ok(value)
                }
                Err(e) => {
                    let msg = e.to_string();
                    st.error = Some(e);
                    Err(msg)
                }
            }
        });
    let home = env.get("HOME").map(PathBuf::from);
    let mut dsl = KnifeDsl {
        settings: Settings::default(),
        file,
        base: cwd,
        home: home.as_deref(),
        user_home: user_home(env, cwd),
    };
    let result = interp.eval(source, file, &mut dsl);
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let evaluation = match result {
        Ok(ev) => ev,
        Err(e) => {
            if e.kind == ErrorKind::Runtime
                && let Some(yaml) = st.error.take()
            {
                return Err(EvalFailure::Yaml {
                    error: yaml,
                    at: format!("{}:{}", e.file.display(), e.line),
                });
            }
            return Err(EvalFailure::Ruby(e));
        }
    };
    let mut warnings: Vec<ConfigWarning> = evaluation
        .warnings
        .into_iter()
        .map(|w| ConfigWarning {
            file: w.file,
            line: Some(w.line),
            message: w.message,
        })
        .collect();
    warnings.append(&mut st.warnings);
    let mut settings = dsl.settings;
    if let Some(url) = &mut settings.chef_server_url
        && !st.loaded.is_empty()
    {
        let files: Vec<String> = st.loaded.iter().map(|p| p.display().to_string()).collect();
        url.origin.note = Some(format!("after loading {}", files.join(", ")));
    }
    Ok(Evaluated { settings, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Result<Evaluated, EvalFailure> {
        evaluate(
            Path::new("/repo/.chef/knife.rb"),
            src,
            &BTreeMap::from([("HOME".to_owned(), "/home/u".to_owned())]),
            Path::new("/repo"),
        )
    }

    #[test]
    fn common_settings_are_read() {
        let ev = eval(
            "node_name 'me'\nchef_server_url 'https://c.example/organizations/o'\n\
             client_key '~/.chef/me.pem'\ncookbook_path 'cookbooks'\n\
             ssl_verify_mode :verify_none\nknife[:editor] = 'vim'\nno_proxy ['a', 'b']\n",
        )
        .unwrap();
        let s = ev.settings;
        assert_eq!(s.node_name.unwrap().value, "me");
        assert_eq!(
            s.client_key.unwrap().value,
            KeySetting::Path("/home/u/.chef/me.pem".into())
        );
        assert_eq!(
            s.cookbook_path,
            Some(vec![PathBuf::from("/repo/cookbooks")])
        );
        assert!(!s.ssl_verify_mode.unwrap().value);
        assert_eq!(s.knife["editor"], serde_json::json!("vim"));
        assert_eq!(s.no_proxy.as_deref(), Some("a,b"));
        assert!(s.unknown.is_empty());
    }

    #[test]
    fn object_paths_are_read_as_knife_sets_them() {
        let ev = eval(
            "role_path 'site/roles'\nenvironment_path ['envs', '/abs/envs']\n\
             data_bag_path \"#{role_path.first}/../bags\"\n",
        )
        .unwrap();
        let s = ev.settings;
        assert_eq!(s.role_path, Some(vec![PathBuf::from("/repo/site/roles")]));
        assert_eq!(
            s.environment_path,
            Some(vec![
                PathBuf::from("/repo/envs"),
                PathBuf::from("/abs/envs")
            ])
        );
        assert_eq!(
            s.data_bag_path,
            Some(vec![PathBuf::from("/repo/site/bags")])
        );
        assert!(s.unknown.is_empty());
    }

    #[test]
    fn object_paths_default_under_chef_repo_path() {
        let home = Path::new("/home/u");
        // chef_repo_path defaults to the parent of every cookbook_path entry.
        let cookbooks = Settings {
            cookbook_path: Some(vec!["/a/cookbooks".into(), "/b/site-cookbooks".into()]),
            ..Settings::default()
        };
        let p = cookbooks.object_paths(home);
        assert_eq!(
            p.environment_path,
            [PathBuf::from("/a/environments"), "/b/environments".into()]
        );
        assert_eq!(p.role_path, [PathBuf::from("/a/roles"), "/b/roles".into()]);
        let explicit = Settings {
            chef_repo_path: Some(vec!["/c".into()]),
            role_path: Some(vec!["/x/my-roles".into()]),
            ..cookbooks
        };
        let p = explicit.object_paths(home);
        assert_eq!(p.role_path, [PathBuf::from("/x/my-roles")]);
        assert_eq!(p.data_bag_path, [PathBuf::from("/c/data_bags")]);
    }

    #[test]
    fn any_setting_is_stored_and_read_back_and_only_typos_warn() {
        let ev = eval(
            "fancy_thing 1\nfancy_thing 2\nother_thing 'x', 'y'\nlog_level :info\n\
             chef_server_ur 'https://typo'\nssl_client_cert '/c.pem'\n\
             node_name \"#{fancy_thing}-#{other_thing.join}-#{never_set.inspect}\"\n\
             3.times { |i| chef_server_ur i; ssl_client_cert i; fancy_thing i }\n",
        )
        .unwrap();
        let s = ev.settings;
        assert_eq!(s.node_name.unwrap().value, "2-xy-nil");
        // Repeated calls store their value; the warning stays the first call's.
        assert_eq!(s.stored["fancy_thing"], Value::Int(2));
        assert_eq!(s.stored["chef_server_ur"], Value::Int(2));
        assert_eq!(s.stored["log_level"], Value::Sym("info".into()));
        let warned: Vec<(&str, Option<u32>, &str)> = s
            .unknown
            .iter()
            .map(|u| (u.name.as_str(), u.line, u.reason.as_str()))
            .collect();
        assert_eq!(
            warned,
            [
                (
                    "chef_server_ur",
                    Some(5),
                    "not a Chef setting; did you mean chef_server_url?"
                ),
                (
                    "ssl_client_cert",
                    Some(6),
                    "chef-sync sends no TLS client certificate"
                ),
            ]
        );
    }

    #[test]
    fn contexts_chef_config_and_defaults_read_as_in_chef() {
        let ev = eval(
            "knife.editor 'vim'\nknife[:vault_mode] = 'client'\nchef_zero.enabled true\n\
             Chef::Config[:knife][:supermarket_site] = 'https://127.0.0.1:7443'\n\
             knife[:editor] ||= 'nano'\nknife[:ssh_user] ||= 'ubuntu'\n\
             Chef::Config[:node_name] = \"#{knife.editor}-#{knife[:vault_mode]}\"\n\
             client_key 'keys/me.pem'\n\
             chef_server_url \"#{chef_server_url}/organizations/#{chef_zero[:enabled]}\"\n\
             cookbook_path [File.join(config_dir, '..', 'cookbooks'), trusted_certs_dir]\n\
             no_proxy \"#{ssl_verify_mode}:#{verify_api_cert}:#{chef_repo_path.length}\"\n",
        )
        .unwrap();
        let s = ev.settings;
        assert_eq!(s.knife["editor"], serde_json::json!("vim"));
        assert_eq!(s.knife["ssh_user"], serde_json::json!("ubuntu"));
        assert_eq!(
            s.knife["supermarket_site"],
            serde_json::json!("https://127.0.0.1:7443")
        );
        assert_eq!(s.node_name.unwrap().value, "vim-client");
        // knife expands a relative client_key against the configuration file's directory.
        assert_eq!(
            s.client_key.unwrap().value,
            KeySetting::Path("/repo/.chef/keys/me.pem".into())
        );
        assert_eq!(
            s.chef_server_url.unwrap().value,
            "https://localhost:443/organizations/true"
        );
        assert_eq!(
            s.cookbook_path,
            Some(vec![
                PathBuf::from("/repo/cookbooks"),
                PathBuf::from("/repo/.chef/trusted_certs")
            ])
        );
        assert_eq!(s.no_proxy.as_deref(), Some("verify_peer:false:2"));
        assert!(ev.warnings.is_empty(), "{:?}", ev.warnings);
    }

    #[test]
    fn typo_detection_spares_chef_settings_and_far_names() {
        assert_eq!(likely_typo_of("node_nam"), Some("node_name"));
        assert_eq!(likely_typo_of("cookbook_paths"), Some("cookbook_path"));
        assert_eq!(likely_typo_of("fancy_new_option"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn wrong_types_are_positioned_errors() {
        let e = eval("\nssl_verify_mode :sometimes\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/repo/.chef/knife.rb:2:1: ssl_verify_mode"),
            "{e}"
        );
        let e = eval("node_name 5\n").unwrap_err();
        assert!(e.to_string().contains("node_name must be a string"), "{e}");
    }

    #[test]
    fn getter_without_arguments_returns_the_value() {
        let ev = eval("node_name 'me'\nchef_server_url \"https://x/#{node_name}\"\n").unwrap();
        assert_eq!(ev.settings.chef_server_url.unwrap().value, "https://x/me");
    }

    #[test]
    fn knife_settings_can_be_read_back() {
        let ev = eval("knife[:site] = 'https://127.0.0.1:1'\nnode_name knife[:site]\n").unwrap();
        assert_eq!(ev.settings.node_name.unwrap().value, "https://127.0.0.1:1");
    }

    #[test]
    fn normalize_removes_dot_dot() {
        assert_eq!(
            normalize(Path::new("/r/.chef/../cookbooks/./x")),
            PathBuf::from("/r/cookbooks/x")
        );
    }
}
