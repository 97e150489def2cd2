//! `Dir`: `Dir.exist?`, and `Dir.glob`/`Dir[]` when the interpreter allows it, confined to the
//! working directory.

use std::path::Path;

use super::super::super::error::ErrorKind;
use super::super::super::fnmatch::fnmatch;
use super::super::super::value::Value;
use super::super::{R, Run};

impl Run<'_, '_> {
    /// `Dir.NAME(args)`; `what` is `"Dir.NAME"` for messages.
    pub(super) fn dir_call(&self, name: &str, args: &[Value], what: &str, start: u32) -> R<Value> {
        match name {
            "glob" | "[]" if self.interp.dir_glob => {
                let pattern = self.str_arg(args, 0, what, start)?;
                self.glob(&pattern, start)
            }
            "directory?" | "exist?" => {
                let p = self.str_arg(args, 0, what, start)?;
                Ok(Value::Bool(self.interp.fs.is_dir(&self.resolve(&p))))
            }
            _ => Err(self.unsupported_module_method(what, start)),
        }
    }

    /// `Dir.glob(pattern)` confined to the working directory: `*`, `?` and `[..]` within one
    /// path component (never `**`, never `..`), results sorted as Ruby 3 does.
    fn glob(&self, pattern: &str, start: u32) -> R<Value> {
        const MAX_MATCHES: usize = 10_000;
        let base = self.base_dir();
        let base_str = base.to_string_lossy().into_owned();
        let (prefix, rel) = if Path::new(pattern).is_absolute() {
            match pattern
                .strip_prefix(base_str.trim_end_matches('/'))
                .and_then(|r| r.strip_prefix('/'))
            {
                Some(r) => (format!("{}/", base_str.trim_end_matches('/')), r),
                None => {
                    return Err(self.error(
                        start,
                        ErrorKind::NotAllowed,
                        format!("Dir.glob('{pattern}'): only paths under {base_str} can be listed"),
                    ));
                }
            }
        } else {
            (String::new(), pattern)
        };
        let parts: Vec<&str> = rel
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if parts
            .iter()
            .any(|c| *c == ".." || c.contains("**") || c.contains('{'))
        {
            return Err(self.error(
                start,
                ErrorKind::Unsupported,
                format!("Dir.glob('{pattern}'): '..', '**' and '{{a,b}}' are not supported"),
            ));
        }
        let mut found: Vec<String> = vec![String::new()];
        for part in parts {
            let wild = part.contains(['*', '?', '[']);
            let mut next = Vec::new();
            for dir in &found {
                let join = |name: &str| {
                    if dir.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{dir}/{name}")
                    }
                };
                if wild {
                    let Ok(mut names) = self.interp.fs.read_dir(&base.join(dir)) else {
                        continue;
                    };
                    names.sort();
                    next.extend(names.iter().filter(|n| fnmatch(part, n)).map(|n| join(n)));
                } else if self.interp.fs.exists(&base.join(join(part))) {
                    next.push(join(part));
                }
                if next.len() > MAX_MATCHES {
                    return Err(
                        self.runtime(start, format!("Dir.glob('{pattern}'): too many matches"))
                    );
                }
            }
            found = next;
        }
        found.retain(|f| !f.is_empty());
        found.sort();
        Ok(Value::Array(
            found
                .into_iter()
                .map(|f| Value::Str(format!("{prefix}{f}")))
                .collect(),
        ))
    }
}
