//! `File` and `IO`: path arithmetic (see [`paths`](super::paths)) and file access through the
//! interpreter's [`FileSystem`](super::super::FileSystem), relative to its working directory.

use std::path::{Path, PathBuf};

use super::super::super::error::ErrorKind;
use super::super::super::value::Value;
use super::super::{MAX_READ_BYTES, R, Run};
use super::array::flatten_into;
use super::paths::{basename, dirname, expand_path, file_join};

impl Run<'_, '_> {
    /// `File.NAME(args)` or `IO.NAME(args)`; `what` is `"File.NAME"` for messages.
    pub(super) fn file_call(
        &self,
        module: &str,
        name: &str,
        args: Vec<Value>,
        what: &str,
        start: u32,
    ) -> R<Value> {
        match (module, name) {
            ("File", "join") => {
                let mut parts = Vec::new();
                flatten_into(args, &mut parts);
                let strs: Vec<String> = parts.iter().map(Value::to_ruby_s).collect();
                Ok(Value::Str(file_join(&strs)))
            }
            ("File", "dirname") => Ok(Value::Str(dirname(&self.str_arg(&args, 0, what, start)?))),
            ("File", "basename") => {
                let p = self.str_arg(&args, 0, what, start)?;
                let ext = match args.get(1) {
                    Some(_) => Some(self.str_arg(&args, 1, what, start)?),
                    None => None,
                };
                Ok(Value::Str(basename(&p, ext.as_deref())))
            }
            ("File", "extname") => {
                let b = basename(&self.str_arg(&args, 0, what, start)?, None);
                Ok(Value::Str(match b.rfind('.') {
                    Some(i) if i > 0 => b[i..].to_owned(),
                    _ => String::new(),
                }))
            }
            ("File", "expand_path" | "absolute_path") => {
                let p = self.str_arg(&args, 0, what, start)?;
                let base = match args.get(1) {
                    Some(Value::Nil) | None => self.base_dir(),
                    Some(_) => PathBuf::from(expand_path(
                        &self.str_arg(&args, 1, what, start)?,
                        &self.base_dir(),
                        &self.interp.env,
                    )),
                };
                Ok(Value::Str(expand_path(&p, &base, &self.interp.env)))
            }
            ("File", "exist?" | "exists?") => {
                let p = self.str_arg(&args, 0, what, start)?;
                Ok(Value::Bool(self.interp.fs.exists(&self.resolve(&p))))
            }
            ("File", "file?") => {
                let p = self.str_arg(&args, 0, what, start)?;
                Ok(Value::Bool(self.interp.fs.is_file(&self.resolve(&p))))
            }
            ("File", "symlink?") => {
                let p = self.str_arg(&args, 0, what, start)?;
                Ok(Value::Bool(self.interp.fs.is_symlink(&self.resolve(&p))))
            }
            ("File", "readlink") => {
                let p = self.str_arg(&args, 0, what, start)?;
                let target = self
                    .interp
                    .fs
                    .read_link(&self.resolve(&p))
                    .map_err(|e| self.runtime(start, format!("{what}('{p}'): {e}")))?;
                Ok(Value::Str(target.to_string_lossy().into_owned()))
            }
            ("File", "directory?") => {
                let p = self.str_arg(&args, 0, what, start)?;
                Ok(Value::Bool(self.interp.fs.is_dir(&self.resolve(&p))))
            }
            ("File" | "IO", "read" | "readlines") => {
                let p = self.str_arg(&args, 0, what, start)?;
                let text = self.read_confined(&p, what, start)?;
                if name == "read" {
                    Ok(Value::Str(text))
                } else {
                    Ok(Value::Array(
                        text.split_inclusive('\n')
                            .map(|l| Value::Str(l.to_owned()))
                            .collect(),
                    ))
                }
            }
            _ => Err(self.unsupported_module_method(what, start)),
        }
    }
}

impl Run<'_, '_> {
    /// `File.read`/`IO.read`/`File.readlines` of `p`: only a regular file inside the read
    /// root (see [`Interpreter::with_read_root`]), of at most [`MAX_READ_BYTES`]. A missing
    /// file is a runtime error (`rescue` catches it, as in Ruby); a file outside the root, not
    /// regular, or too large is a limit error.
    ///
    /// [`Interpreter::with_read_root`]: super::super::Interpreter::with_read_root
    pub(in crate::ruby::eval) fn read_confined(
        &self,
        p: &str,
        what: &str,
        start: u32,
    ) -> R<String> {
        let fs = &self.interp.fs;
        let path = self.resolve(p);
        let real = fs
            .canonicalize(&path)
            .map_err(|e| self.runtime(start, format!("{what}('{p}'): {e}")))?;
        let root = match &self.interp.read_root {
            Some(root) => self.resolve(&root.to_string_lossy()),
            None => self
                .resolve(&self.file_str())
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        };
        let root = fs.canonicalize(&root).unwrap_or(root);
        if !fs.exists(&real) {
            return Err(self.runtime(start, format!("{what}('{p}'): No such file or directory")));
        }
        let refuse =
            |why: String| self.error(start, ErrorKind::Limit, format!("{what}('{p}'): {why}"));
        if !real.starts_with(&root) {
            return Err(refuse(format!(
                "outside {} (the sandbox reads only files inside the evaluated file's tree)",
                root.display()
            )));
        }
        if !fs.is_file(&real) {
            return Err(refuse(
                "not a regular file (the sandbox reads only regular files)".to_owned(),
            ));
        }
        fs.read_to_string_limited(&real, MAX_READ_BYTES)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::FileTooLarge {
                    refuse(format!(
                        "larger than {MAX_READ_BYTES} bytes (sandbox limit)"
                    ))
                } else {
                    self.runtime(start, format!("{what}('{p}'): {e}"))
                }
            })
    }
}
