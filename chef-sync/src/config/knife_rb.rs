//! `knife.rb` / `config.rb`: evaluated with the sandboxed Ruby evaluator against a table of
//! knife settings. The same table applies credentials profiles, so both share one parser.

use std::collections::BTreeMap;
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
    pub(crate) chef_repo_path: Option<PathBuf>,
    pub(crate) ssl_verify_mode: Option<Sourced<bool>>,
    pub(crate) verify_api_cert: Option<bool>,
    pub(crate) ssl_ca_file: Option<Sourced<PathBuf>>,
    pub(crate) ssl_ca_path: Option<PathBuf>,
    pub(crate) trusted_certs_dir: Option<PathBuf>,
    pub(crate) http_proxy: Option<String>,
    pub(crate) https_proxy: Option<String>,
    pub(crate) no_proxy: Option<String>,
    pub(crate) knife: BTreeMap<String, serde_json::Value>,
    /// Unknown settings with the line of their first use, in order of appearance.
    pub(crate) unknown: Vec<(String, Option<u32>)>,
}

/// Settings accepted and ignored: they configure knife features chef-sync does not have.
const IGNORED: &[&str] = &[
    "log_level",
    "log_location",
    "syntax_check_cache_path",
    "cache_type",
    "cache_options",
    "validation_client_name",
    "validation_key",
    "validation_key_contents",
    "cookbook_copyright",
    "cookbook_email",
    "cookbook_license",
    "data_bag_path",
    "role_path",
    "environment_path",
    "node_path",
    "client_path",
    "user_path",
    "policy_path",
    "file_cache_path",
    "file_backup_path",
    "checksum_path",
    "encrypted_data_bag_secret",
    "data_bag_encrypt_version",
    "versioned_cookbooks",
    "local_mode",
    "chef_zero",
    "environment",
    "editor",
    "color",
    "chef_license",
    "authentication_protocol_version",
    "client_d_dir",
    "config_d_dir",
    "ssh_user",
    "json_attribs",
];

/// Receiver-less builtins of the evaluator that must not be taken for settings.
const BUILTINS: &[&str] = &[
    "require", "puts", "print", "p", "pp", "warn", "raise", "fail", "lambda", "proc", "__dir__",
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
    /// `base`; `~/` against `home`. Returns an error message for a value of the wrong type.
    pub(crate) fn apply(
        &mut self,
        name: &str,
        value: &Value,
        origin: &Origin,
        base: &Path,
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
                    KeySetting::Path(resolve_path(&s, base, home))
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
            "cookbook_path" => {
                let paths = match value {
                    Value::Array(items) => items.iter().map(path).collect::<Result<_, _>>()?,
                    Value::Nil => Vec::new(),
                    other => vec![path(other)?],
                };
                self.cookbook_path = Some(paths);
            }
            "chef_repo_path" => self.chef_repo_path = Some(path(value)?),
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
            _ if IGNORED.contains(&name) => return Ok(Applied::Ignored),
            _ => {
                if !self.unknown.iter().any(|(n, _)| n == name) {
                    self.unknown.push((name.to_owned(), origin.line));
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
        for u in over.unknown {
            if !self.unknown.iter().any(|(n, _)| *n == u.0) {
                self.unknown.push(u);
            }
        }
    }

    /// The current value of a setting, for a getter call without arguments.
    fn get(&self, name: &str) -> Value {
        let s = |o: &Option<String>| o.clone().map_or(Value::Nil, Value::Str);
        let p = |o: Option<&PathBuf>| {
            o.map_or(Value::Nil, |p| Value::Str(p.to_string_lossy().into_owned()))
        };
        match name {
            "node_name" | "client_name" => s(&self.node_name.as_ref().map(|v| v.value.clone())),
            "chef_server_url" => s(&self.chef_server_url.as_ref().map(|v| v.value.clone())),
            "client_key" => match self.client_key.as_ref().map(|k| &k.value) {
                Some(KeySetting::Path(path)) => p(Some(path)),
                _ => Value::Nil,
            },
            "cookbook_path" => self.cookbook_path.as_ref().map_or(Value::Nil, |v| {
                Value::Array(v.iter().map(|x| p(Some(x))).collect())
            }),
            "chef_repo_path" => p(self.chef_repo_path.as_ref()),
            "ssl_ca_file" => p(self.ssl_ca_file.as_ref().map(|s| &s.value)),
            "ssl_ca_path" => p(self.ssl_ca_path.as_ref()),
            "trusted_certs_dir" => p(self.trusted_certs_dir.as_ref()),
            "http_proxy" => s(&self.http_proxy),
            "https_proxy" => s(&self.https_proxy),
            "no_proxy" => s(&self.no_proxy),
            "verify_api_cert" => self.verify_api_cert.map_or(Value::Nil, Value::Bool),
            "knife" => Value::Hash(
                self.knife
                    .iter()
                    .map(|(k, v)| (Value::Sym(k.clone()), Value::from_json(v)))
                    .collect(),
            ),
            _ => Value::Nil,
        }
    }
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

/// The DSL table knife.rb is evaluated against.
struct KnifeDsl<'a> {
    settings: Settings,
    file: &'a Path,
    base: &'a Path,
    home: Option<&'a Path>,
}

impl Dsl for KnifeDsl<'_> {
    fn responds_to(&self, name: &str) -> bool {
        if name == "knife[]=" {
            return true;
        }
        // Chef's configuration accepts any `name value`; unknown ones are warned about.
        let plain = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        plain && !BUILTINS.contains(&name)
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
        let value = match args.len() {
            0 => {
                if is_known(&call.name) {
                    return Ok(self.settings.get(&call.name));
                }
                return Err(CallError::Message(format!(
                    "undefined local variable or method '{}'",
                    call.name
                )));
            }
            1 => args.pop().unwrap_or(Value::Nil),
            _ => Value::Array(args),
        };
        self.settings
            .apply(&call.name, &value, &origin, self.base, self.home)
            .map_err(CallError::Message)?;
        Ok(value)
    }
}

fn is_known(name: &str) -> bool {
    IGNORED.contains(&name)
        || matches!(
            name,
            "node_name"
                | "client_name"
                | "client_key"
                | "client_key_contents"
                | "chef_server_url"
                | "cookbook_path"
                | "chef_repo_path"
                | "ssl_verify_mode"
                | "verify_api_cert"
                | "ssl_ca_file"
                | "ssl_ca_path"
                | "trusted_certs_dir"
                | "http_proxy"
                | "https_proxy"
                | "no_proxy"
                | "knife"
        )
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
    fn unknown_settings_are_collected_once() {
        let ev = eval("fancy_thing 1\nfancy_thing 2\nother_thing 'x'\nlog_level :info\n").unwrap();
        assert_eq!(
            ev.settings.unknown,
            vec![
                ("fancy_thing".to_owned(), Some(1)),
                ("other_thing".to_owned(), Some(3))
            ]
        );
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
