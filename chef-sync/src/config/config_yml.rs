//! `.chef/NAME/config.yml`: the per-server YAML file the seed's knife.rb reads with
//! `YAML.load_file`. Parsed with `serde-saphyr`; errors carry the file, line and column.

use std::path::{Path, PathBuf};

use chef_api::ruby::Value;

use super::ConfigWarning;

/// Why a YAML file could not be loaded (kept apart from [`super::ConfigError`] so the
/// evaluator's hook can report it and the loader can turn it into a positioned error).
#[derive(Debug, Clone)]
pub(crate) enum YamlError {
    /// The file does not exist.
    NotFound(PathBuf),
    /// The file could not be read.
    Io(PathBuf, String),
    /// The file is not valid YAML (or not a plain document of maps, lists and scalars).
    Parse {
        file: PathBuf,
        line: Option<u32>,
        column: Option<u32>,
        message: String,
    },
}

impl YamlError {
    /// Where the problem is.
    pub(crate) fn position(&self) -> Option<crate::position::Position> {
        match self {
            Self::NotFound(path) | Self::Io(path, _) => {
                Some(crate::position::Position::file(path.clone()))
            }
            Self::Parse {
                file, line, column, ..
            } => Some(crate::position::Position {
                file: file.clone(),
                line: *line,
                column: *column,
            }),
        }
    }
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            YamlError::NotFound(p) => write!(f, "{}: no such file", p.display()),
            YamlError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            YamlError::Parse {
                file,
                line,
                column,
                message,
            } => {
                write!(f, "{}", file.display())?;
                if let Some(l) = line {
                    write!(f, ":{l}")?;
                    if let Some(c) = column {
                        write!(f, ":{c}")?;
                    }
                }
                write!(f, ": {message}")
            }
        }
    }
}

/// Reads and parses a YAML file into a Ruby value (what `YAML.load_file` returns).
///
/// U+00A0 no-break spaces used as whitespace (indentation, around `:`, trailing) are
/// replaced by spaces, with one warning per line, since pasted files often carry them.
pub(crate) fn load_file(path: &Path) -> Result<(Value, Vec<ConfigWarning>), YamlError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(YamlError::NotFound(path.to_path_buf()));
        }
        Err(e) => return Err(YamlError::Io(path.to_path_buf(), e.to_string())),
    };
    parse(&text, path)
}

/// The deepest nesting of YAML collections accepted (config.yml and `YAML.load_file`).
pub(crate) const MAX_YAML_DEPTH: usize = 16;

/// Parses YAML text (`file` is only used in errors and warnings).
pub(crate) fn parse(text: &str, file: &Path) -> Result<(Value, Vec<ConfigWarning>), YamlError> {
    let mut warnings = Vec::new();
    let cleaned;
    let src = if text.contains('\u{a0}') {
        cleaned = replace_whitespace_nbsp(text, file, &mut warnings);
        cleaned.as_str()
    } else {
        text
    };
    if src.trim().is_empty() {
        return Ok((Value::Nil, warnings));
    }
    // Nesting is capped well below serde-saphyr's default (64): each level costs the
    // deserializer several KiB of stack in a debug build, and config.yml is one or two deep.
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: MAX_YAML_DEPTH },
    };
    let json: serde_json::Value =
        serde_saphyr::from_str_with_options(src, options).map_err(|e| {
            let loc = e.location();
            let message = e.to_string();
            // The rendered message may carry a source snippet; the first line says it all.
            let mut message = message.lines().next().unwrap_or_default().trim();
            message = message
                .strip_prefix("error:")
                .unwrap_or(message)
                .trim_start();
            if message.starts_with("line ")
                && let Some((_, rest)) = message.split_once(": ")
            {
                message = rest;
            }
            let message = message.to_owned();
            YamlError::Parse {
                file: file.to_path_buf(),
                line: loc
                    .and_then(|l| u32::try_from(l.line()).ok())
                    .filter(|&l| l > 0),
                column: loc
                    .and_then(|l| u32::try_from(l.column()).ok())
                    .filter(|&c| c > 0),
                message,
            }
        })?;
    Ok((Value::from_json(&json), warnings))
}

/// Replaces U+00A0 that stands where whitespace belongs (next to whitespace, a line edge or a
/// separator) and keeps it between two letters or digits, where it is content.
/// Shared with the credentials file (TOML), which pasted text spoils the same way.
pub(crate) fn replace_whitespace_nbsp(
    text: &str,
    file: &Path,
    warnings: &mut Vec<ConfigWarning>,
) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut replaced = false;
        for (j, &c) in chars.iter().enumerate() {
            if c != '\u{a0}' {
                out.push(c);
                continue;
            }
            let before = j.checked_sub(1).map(|k| chars[k]);
            let after = chars.get(j + 1).copied();
            // Next to whitespace, a line edge or a separator (`:`, `-`, `=`, `,`).
            let is_gap = |ch: Option<char>| {
                ch.is_none_or(|ch| {
                    ch.is_whitespace() || ch == '\u{a0}' || matches!(ch, ':' | '-' | '=' | ',')
                })
            };
            if is_gap(before) || is_gap(after) {
                out.push(' ');
                replaced = true;
            } else {
                out.push(c);
            }
        }
        if replaced {
            warnings.push(ConfigWarning {
                file: file.to_path_buf(),
                line: u32::try_from(i + 1).ok(),
                message: "U+00A0 no-break space treated as a space".to_owned(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_config_yml_gives_the_server() {
        let (v, w) = parse(
            "server: 'https://chef.example/organizations/default'\n",
            Path::new("c.yml"),
        )
        .unwrap();
        assert!(w.is_empty());
        assert_eq!(
            v.hash_get(&Value::Str("server".into())),
            Some(&Value::Str(
                "https://chef.example/organizations/default".into()
            ))
        );
    }

    /// Issue #17: nesting is refused past MAX_YAML_DEPTH, before the deserializer recurses.
    #[test]
    fn deep_nesting_is_an_error_naming_the_file() {
        let ok = format!("a: {}1{}\n", "[".repeat(10), "]".repeat(10));
        parse(&ok, Path::new("c.yml")).unwrap();
        for deep in [
            format!("a: {}1{}\n", "[".repeat(20), "]".repeat(20)),
            format!("a: {}1{}\n", "[".repeat(5000), "]".repeat(5000)),
            (0..20)
                .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
                .collect(),
        ] {
            let e = parse(&deep, Path::new("/r/.chef/a/config.yml")).unwrap_err();
            assert!(e.to_string().contains("/r/.chef/a/config.yml"), "{e}");
            let text = e.to_string();
            assert!(
                text.contains("Depth") || text.contains("recursion limit"),
                "{text}"
            );
        }
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let e = parse(
            "server: 'x'\n  bad: [1, 2\n",
            Path::new("/r/.chef/a/config.yml"),
        )
        .unwrap_err();
        let YamlError::Parse { line, .. } = &e else {
            panic!("{e}")
        };
        assert!(line.is_some(), "{e}");
        assert!(e.to_string().starts_with("/r/.chef/a/config.yml:"), "{e}");
    }

    #[test]
    fn nbsp_indentation_is_whitespace_but_kept_inside_words() {
        let (v, w) = parse("a:\n\u{a0}\u{a0}b:\u{a0}'x\u{a0}y'\n", Path::new("c.yml")).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].line, Some(2));
        let a = v.hash_get(&Value::Str("a".into())).unwrap();
        assert_eq!(
            a.hash_get(&Value::Str("b".into())),
            Some(&Value::Str("x\u{a0}y".into()))
        );
    }

    #[test]
    fn missing_file_is_not_found() {
        let e = load_file(Path::new("/nonexistent/config.yml")).unwrap_err();
        assert!(matches!(e, YamlError::NotFound(_)));
    }
}
