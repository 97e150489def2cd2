//! Ruby's path arithmetic (`File.join`, `dirname`, `basename`, `expand_path`), done lexically:
//! no file-system access.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Ruby's `File.join`: one `/` between parts, however many the parts bring.
pub(in crate::ruby::eval) fn file_join(parts: &[String]) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            out.push_str(p);
            continue;
        }
        let ends = out.ends_with('/');
        let starts = p.starts_with('/');
        match (ends, starts) {
            (true, true) => out.push_str(p.trim_start_matches('/')),
            (false, false) => {
                out.push('/');
                out.push_str(p);
            }
            _ => out.push_str(p),
        }
    }
    out
}

/// Ruby's `File.dirname`.
pub(in crate::ruby::eval) fn dirname(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return if p.starts_with('/') {
            "/".to_owned()
        } else {
            ".".to_owned()
        };
    }
    match trimmed.rfind('/') {
        None => ".".to_owned(),
        Some(i) => {
            let d = trimmed[..i].trim_end_matches('/');
            if d.is_empty() {
                "/".to_owned()
            } else {
                d.to_owned()
            }
        }
    }
}

/// Ruby's `File.basename(path[, suffix])` (`.*` strips any extension).
pub(in crate::ruby::eval) fn basename(p: &str, ext: Option<&str>) -> String {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return if p.starts_with('/') {
            "/".to_owned()
        } else {
            String::new()
        };
    }
    let base = trimmed.rsplit('/').next().unwrap_or(trimmed);
    match ext {
        Some(".*") => match base.rfind('.') {
            Some(i) if i > 0 => base[..i].to_owned(),
            _ => base.to_owned(),
        },
        Some(e) if !e.is_empty() && base != e => base.strip_suffix(e).unwrap_or(base).to_owned(),
        _ => base.to_owned(),
    }
}

/// Ruby's `File.expand_path`, resolved lexically (no symlinks, no file-system access).
pub(in crate::ruby::eval) fn expand_path(
    p: &str,
    base: &Path,
    env: &HashMap<String, String>,
) -> String {
    let path: PathBuf = if p == "~" || p.starts_with("~/") {
        let home = env.get("HOME").cloned().unwrap_or_else(|| "/".to_owned());
        Path::new(&home).join(p.trim_start_matches('~').trim_start_matches('/'))
    } else if Path::new(p).is_absolute() {
        PathBuf::from(p)
    } else {
        let base = if base.is_absolute() {
            base.to_path_buf()
        } else {
            std::env::current_dir()
                .unwrap_or_else(|_| PathBuf::from("/"))
                .join(base)
        };
        base.join(p)
    };
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_helpers_match_ruby() {
        assert_eq!(file_join(&["a/".into(), "/b".into(), "c".into()]), "a/b/c");
        assert_eq!(dirname("/x/y/z.rb"), "/x/y");
        assert_eq!(dirname("z.rb"), ".");
        assert_eq!(dirname("/z.rb"), "/");
        assert_eq!(basename("/x/y/z.rb", None), "z.rb");
        assert_eq!(basename("/x/y/z.rb", Some(".rb")), "z");
        assert_eq!(basename("/x/y/z.tar.gz", Some(".*")), "z.tar");
        let env = HashMap::from([("HOME".to_owned(), "/home/u".to_owned())]);
        assert_eq!(expand_path("../b/./c", Path::new("/r/a"), &env), "/r/b/c");
        assert_eq!(
            expand_path("~/.chef", Path::new("/x"), &env),
            "/home/u/.chef"
        );
    }
}
