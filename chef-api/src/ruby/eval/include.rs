//! Evaluating another file in the same sandbox: `Chef::Config.from_file(path)` (and a bare
//! `from_file` in a Chef configuration) and `instance_eval(IO.read(path))`. The included source
//! runs against the same [`Dsl`], with the same limits, and its errors and warnings are
//! positioned in the included file. It can only do what the including file could.

use std::path::{Path, PathBuf};

use ruby_prism::{CallNode, Node};

use super::super::error::ErrorKind;
use super::super::value::Value;
use super::nbsp::replace_nbsp;
use super::{
    Dsl, Flow, HashSlot, MAX_NESTING, MAX_OPERATOR_CHAIN, MAX_SOURCE_BYTES, R, Run, name_of,
    nesting,
};

/// How many files deep `from_file`/`instance_eval` may nest (a file that includes itself
/// ends here instead of recursing until the stack limit).
const MAX_INCLUDE_DEPTH: usize = 16;

impl<'pr> Run<'_, 'pr> {
    /// `from_file(path)`: reads `path` (relative to the working directory, as Ruby's
    /// `IO.read` would) and evaluates it against `dsl`.
    pub(super) fn include_file(&mut self, path: &str, dsl: &mut dyn Dsl, start: u32) -> R<Value> {
        let resolved = self.resolve(path);
        // The same confinement and size limit as `File.read`.
        let source = self.read_confined(path, "from_file", start)?;
        self.include_source(&source, &resolved, dsl, start)
    }

    /// Evaluates `source` as the contents of `file` against `dsl`, sharing constants and
    /// instance variables with the including file (Ruby's are not per file either). Locals
    /// and `def` helpers stay separate.
    pub(super) fn include_source(
        &mut self,
        source: &str,
        file: &Path,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(self.runtime(
                start,
                format!(
                    "{}: configuration files include each other more than {MAX_INCLUDE_DEPTH} deep",
                    file.display()
                ),
            ));
        }
        // The same checks as a file given to `Interpreter::eval`, before prism parses.
        if source.len() > MAX_SOURCE_BYTES {
            return Err(self.error(
                start,
                ErrorKind::Limit,
                format!(
                    "{}: file larger than {MAX_SOURCE_BYTES} bytes (sandbox limit)",
                    file.display()
                ),
            ));
        }
        if nesting::scan(source.as_bytes(), MAX_NESTING, MAX_OPERATOR_CHAIN).is_some() {
            return Err(self.error(
                start,
                ErrorKind::Limit,
                format!(
                    "{}: nesting deeper than {MAX_NESTING} levels or more than {MAX_OPERATOR_CHAIN} operators in a row (sandbox limit)",
                    file.display()
                ),
            ));
        }
        let mut warnings = Vec::new();
        let cleaned;
        let src: &str = if source.contains('\u{a0}') {
            cleaned = replace_nbsp(source, file, &mut warnings);
            &cleaned
        } else {
            source
        };
        let result = ruby_prism::parse(src.as_bytes());
        let mut inner = Run::new(self.interp, file, src);
        inner.stack_base = self.stack_base;
        inner.depth = self.depth;
        inner.include_depth = self.include_depth + 1;
        // One budget for the whole evaluation, included files too.
        inner.steps = self.steps;
        inner.built = self.built;
        inner.constants = std::mem::take(&mut self.constants);
        inner.ivars = std::mem::take(&mut self.ivars);
        inner.warnings = warnings;
        let outcome = match inner.syntax_error(&result) {
            Some(e) => Err(Flow::Error(e)),
            None => inner
                .eval(&result.node(), dsl)
                .map_err(|flow| Flow::Error(inner.misplaced_exit(flow))),
        };
        self.steps = inner.steps;
        self.built = inner.built;
        self.constants = std::mem::take(&mut inner.constants);
        self.ivars = std::mem::take(&mut inner.ivars);
        // The included file may have changed any constant or instance variable.
        self.forget_hash_indexes(|s| matches!(s, HashSlot::Const(_) | HashSlot::Ivar(_)));
        self.warnings.append(&mut inner.warnings);
        outcome
    }

    /// `instance_eval(string[, file[, line]])` without a block: the string is evaluated in
    /// this sandbox as the file named by the second argument, else, when the string is read
    /// there with `IO.read(path)` / `File.read(path)`, as that file (so positions point into
    /// it), else as `(eval)`.
    pub(super) fn instance_eval_string(
        &mut self,
        call: &CallNode<'pr>,
        args: &[Value],
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        let source = match args.first() {
            Some(Value::Str(s)) => s.clone(),
            Some(other) => {
                return Err(self.runtime(
                    start,
                    format!(
                        "instance_eval: no implicit conversion of {} into String",
                        other.class_name()
                    ),
                ));
            }
            None => {
                return Err(self.error(
                    start,
                    ErrorKind::Unsupported,
                    "instance_eval is only supported with a string (the contents of a file)",
                ));
            }
        };
        let file = match args.get(1) {
            Some(Value::Str(f)) => self.resolve(f),
            _ => match self.read_call_path(call, dsl)? {
                Some(p) => p,
                None => PathBuf::from("(eval)"),
            },
        };
        self.include_source(&source, &file, dsl, start)
    }

    /// The path of `IO.read(path)` / `File.read(path)` when that is the call's first argument.
    fn read_call_path(&mut self, call: &CallNode<'pr>, dsl: &mut dyn Dsl) -> R<Option<PathBuf>> {
        let Some(first) = call.arguments().and_then(|a| a.arguments().iter().next()) else {
            return Ok(None);
        };
        let Some(read) = first.as_call_node() else {
            return Ok(None);
        };
        let module = match read.receiver() {
            Some(Node::ConstantReadNode { .. }) => read
                .receiver()
                .and_then(|r| r.as_constant_read_node())
                .map(|c| name_of(&c.name())),
            Some(Node::ConstantPathNode { .. }) => read
                .receiver()
                .and_then(|r| r.as_constant_path_node())
                .filter(|c| c.parent().is_none())
                .and_then(|c| c.name().map(|n| name_of(&n))),
            _ => None,
        };
        if !matches!(module.as_deref(), Some("IO" | "File")) || name_of(&read.name()) != "read" {
            return Ok(None);
        }
        let Some(path_node) = read.arguments().and_then(|a| a.arguments().iter().next()) else {
            return Ok(None);
        };
        match self.eval(&path_node, dsl)? {
            Value::Str(p) => Ok(Some(self.resolve(&p))),
            _ => Ok(None),
        }
    }
}
