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
            // Ruby's current directory is the interpreter's working directory.
            "pwd" | "getwd" => Ok(Value::Str(self.base_dir().to_string_lossy().into_owned())),
            "home" if args.is_empty() => match self.interp.env.get("HOME") {
                Some(h) => Ok(Value::Str(h.clone())),
                None => Err(self.runtime(start, "couldn't find login name -- expanding '~'")),
            },
            "directory?" | "exist?" => {
                let p = self.str_arg(args, 0, what, start)?;
                Ok(Value::Bool(self.interp.fs.is_dir(&self.resolve(&p))))
            }
            _ => Err(self.unsupported_module_method(what, start)),
        }
    }

    /// `Dir.glob(pattern)` confined to the working directory, as Ruby 3 globs: `*`, `?` and
    /// `[..]` within one path component, `**/` for any number of directories (not entering
    /// symbolic links or hidden directories), `{a,b}` alternatives (each one's matches in
    /// turn); never `..`. Each alternative's matches are sorted, as Ruby 3 sorts them.
    fn glob(&self, pattern: &str, start: u32) -> R<Value> {
        const MAX_ALTERNATIVES: usize = 64;
        let alternatives = expand_braces(pattern, MAX_ALTERNATIVES).ok_or_else(|| {
            self.runtime(
                start,
                format!("Dir.glob('{pattern}'): too many {{a,b}} alternatives"),
            )
        })?;
        let mut all = Vec::new();
        for alt in alternatives {
            all.extend(self.glob_one(pattern, &alt, start)?);
        }
        Ok(Value::Array(all))
    }

    /// One brace-free pattern of [`Run::glob`].
    fn glob_one(&self, pattern: &str, alt: &str, start: u32) -> R<Vec<Value>> {
        const MAX_MATCHES: usize = 10_000;
        let base = self.base_dir();
        let base_str = base.to_string_lossy().into_owned();
        let (prefix, rel) = if Path::new(alt).is_absolute() {
            match alt
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
        } else if let Some(rest) = alt.strip_prefix("./") {
            // Ruby keeps a leading `./` in what it returns (`./cookbooks/web`).
            ("./".to_owned(), rest)
        } else {
            (String::new(), alt)
        };
        let parts: Vec<&str> = rel
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if parts.contains(&"..") {
            return Err(self.error(
                start,
                ErrorKind::NotAllowed,
                format!("Dir.glob('{pattern}'): '..' is not allowed (only paths under {base_str})"),
            ));
        }
        let too_many = || self.runtime(start, format!("Dir.glob('{pattern}'): too many matches"));
        let join = |dir: &str, name: &str| {
            if dir.is_empty() {
                name.to_owned()
            } else {
                format!("{dir}/{name}")
            }
        };
        let last = parts.len().saturating_sub(1);
        let mut found: Vec<String> = vec![String::new()];
        for (i, part) in parts.iter().enumerate() {
            let mut next = Vec::new();
            if *part == "**" && i < last {
                // `**/`: this directory and every directory below it.
                let mut stack: Vec<String> = found.clone();
                while let Some(dir) = stack.pop() {
                    next.push(dir.clone());
                    let full = base.join(&dir);
                    if !dir.is_empty() && self.interp.fs.is_symlink(&full) {
                        continue;
                    }
                    let Ok(mut names) = self.interp.fs.read_dir(&full) else {
                        continue;
                    };
                    names.sort();
                    for n in names.iter().rev().filter(|n| !n.starts_with('.')) {
                        let child = join(&dir, n);
                        if self.interp.fs.is_dir(&base.join(&child))
                            && !self.interp.fs.is_symlink(&base.join(&child))
                        {
                            stack.push(child);
                        }
                    }
                    if next.len() + stack.len() > MAX_MATCHES {
                        return Err(too_many());
                    }
                }
                found = next;
                continue;
            }
            // `**` not followed by `/` is `*`, as in Ruby.
            let part = if part.contains("**") {
                part.replace("**", "*")
            } else {
                (*part).to_owned()
            };
            let wild = part.contains(['*', '?', '[']);
            for dir in &found {
                if wild {
                    let Ok(mut names) = self.interp.fs.read_dir(&base.join(dir)) else {
                        continue;
                    };
                    names.sort();
                    next.extend(
                        names
                            .iter()
                            .filter(|n| fnmatch(&part, n))
                            .map(|n| join(dir, n)),
                    );
                } else if self.interp.fs.exists(&base.join(join(dir, &part))) {
                    next.push(join(dir, &part));
                }
                if next.len() > MAX_MATCHES {
                    return Err(too_many());
                }
            }
            found = next;
        }
        found.retain(|f| !f.is_empty());
        found.sort();
        found.dedup();
        Ok(found
            .into_iter()
            .map(|f| Value::Str(format!("{prefix}{f}")))
            .collect())
    }
}

/// Ruby's `{a,b}` expansion (nested braces too), left to right; `None` past `limit`
/// alternatives.
fn expand_braces(pattern: &str, limit: usize) -> Option<Vec<String>> {
    let bytes = pattern.as_bytes();
    let Some(open) = pattern.find('{') else {
        return Some(vec![pattern.to_owned()]);
    };
    let mut depth = 0usize;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            b',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return Some(vec![pattern.to_owned()]);
    };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let middle = &pattern[w[0] + 1..w[1]];
        for expanded in expand_braces(&format!("{head}{middle}{tail}"), limit)? {
            out.push(expanded);
            if out.len() > limit {
                return None;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::expand_braces;

    #[test]
    fn braces_expand_left_to_right() {
        assert_eq!(
            expand_braces("{a,b}/x{1,{2,3}}", 64).unwrap(),
            ["a/x1", "a/x2", "a/x3", "b/x1", "b/x2", "b/x3"]
        );
        assert_eq!(expand_braces("plain/*", 64).unwrap(), ["plain/*"]);
        assert!(expand_braces("{a,b}{c,d}{e,f}", 4).is_none());
    }
}
