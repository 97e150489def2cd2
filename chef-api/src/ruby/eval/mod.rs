//! The tree-walking evaluator over prism's syntax tree.
//!
//! This module holds the [`Interpreter`] (the configuration) and the state of one evaluation;
//! the work is split by what is evaluated:
//!
//! * [`nodes`]: syntax-tree nodes (literals, variables, operators, conditionals, `rescue`);
//! * [`calls`]: call dispatch, to built-ins, `def` helpers ([`defs`]) or the [`Dsl`];
//!   [`blocks`]: running blocks; [`flow`]: `next`, `break` and `return`; [`in_place`]:
//!   calls that change their receiver (`<<`, `[]=`, `merge!`);
//! * [`builtins`]: `File`, `IO`, `Dir`, `ENV`, `YAML`, `JSON` and the methods of values;
//! * [`nbsp`]: the U+00A0 clean-up done before parsing.
//!
//! A DSL is a table of handlers on top of [`dsl`]'s small API; file access goes through
//! [`fs`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ruby_prism::{DefNode, Node};

use super::error::{ErrorKind, EvalError, Warning};
use super::value::Value;

mod blocks;
mod builtins;
mod calls;
mod config_forms;
mod defs;
mod dsl;
mod flow;
mod fs;
mod hash_index;
mod in_place;
mod include;
mod nbsp;
mod nesting;
mod nodes;

pub use dsl::{Block, Call, Dsl, Missing};
pub use fs::{FileSystem, StdFs};

use flow::{block_exit_at, block_exit_outside_block};
use nbsp::replace_nbsp;

/// The hook behind `YAML.load_file(path)`: returns the document as a [`Value`] or a message.
pub type YamlLoader = dyn Fn(&Path) -> Result<Value, String> + Send + Sync;

/// The evaluator's configuration: environment, file access and hooks. Cheap to share; one
/// `Interpreter` can evaluate many files.
#[derive(Clone)]
pub struct Interpreter {
    env: HashMap<String, String>,
    fs: Arc<dyn FileSystem>,
    yaml: Option<Arc<YamlLoader>>,
    cwd: Option<PathBuf>,
    dir_glob: bool,
    read_root: Option<PathBuf>,
}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreter")
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .field("yaml_hook", &self.yaml.is_some())
            .field("cwd", &self.cwd)
            .field("dir_glob", &self.dir_glob)
            .field("read_root", &self.read_root)
            .finish_non_exhaustive()
    }
}

impl Default for Interpreter {
    fn default() -> Self {
        Self::new()
    }
}

/// The result of evaluating a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The value of the last statement.
    pub value: Value,
    /// Non-fatal findings, e.g. one per line where U+00A0 was treated as a space.
    pub warnings: Vec<Warning>,
    /// Evaluation steps used (syntax-tree nodes evaluated; the budget is [`MAX_STEPS`]).
    pub steps: u64,
}

impl Interpreter {
    /// An interpreter with an empty `ENV`, the real file system and no YAML hook.
    pub fn new() -> Self {
        Self {
            env: HashMap::new(),
            fs: Arc::new(StdFs),
            yaml: None,
            cwd: None,
            dir_glob: false,
            read_root: None,
        }
    }

    /// Sets what `ENV` contains (the process environment is never read implicitly).
    #[must_use]
    pub fn with_env(mut self, env: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env = env.into_iter().collect();
        self
    }

    /// Replaces the file access used by `File.read`, `File.exist?`, ....
    #[must_use]
    pub fn with_fs(mut self, fs: Arc<dyn FileSystem>) -> Self {
        self.fs = fs;
        self
    }

    /// Supplies `YAML.load_file(path)`; without it the call is an error.
    #[must_use]
    pub fn with_yaml_loader(
        mut self,
        f: impl Fn(&Path) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.yaml = Some(Arc::new(f));
        self
    }

    /// The working directory that relative paths (`File.read('x')`, `File.expand_path('x')`, a
    /// relative `__FILE__`) resolve against, as Ruby's current directory would be; default: the
    /// process's current directory.
    #[must_use]
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Allows `Dir.glob(pattern)` / `Dir[pattern]`, confined to the working directory (see
    /// [`Interpreter::with_cwd`]); off by default, where it is an unsupported construct.
    #[must_use]
    pub fn with_dir_glob(mut self, allow: bool) -> Self {
        self.dir_glob = allow;
        self
    }

    /// The directory tree `File.read`, `IO.read` and `File.readlines` may read from (the
    /// cookbook for metadata.rb, the repository for knife.rb and a Berksfile). Default: the
    /// directory of the evaluated file. Only regular files inside it (after resolving
    /// symbolic links), of at most [`MAX_READ_BYTES`], are read; anything else is a
    /// positioned [`ErrorKind::Limit`] error.
    #[must_use]
    pub fn with_read_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.read_root = Some(root.into());
        self
    }

    /// Parses and evaluates `source` (the contents of `file`) against `dsl`.
    ///
    /// U+00A0 no-break spaces are treated as spaces (one [`Warning`] per affected line).
    /// Parsing and evaluation run with an [`EVAL_STACK_BYTES`] stack whatever the caller's
    /// stack, within the limits of the [module docs](crate::ruby#limits): on the calling thread
    /// when it has that much stack left, else on a stack of that size allocated for this call
    /// and switched to on the calling thread (no thread is started).
    pub fn eval(
        &self,
        source: &str,
        file: &Path,
        dsl: &mut (dyn Dsl + Send),
    ) -> Result<Evaluation, EvalError> {
        // `maybe_grow` runs the closure here only if at least EVAL_STACK_BYTES of this
        // thread's stack are left (and when that cannot be known, on a new stack), so the
        // evaluation always has the whole EVAL_STACK_BYTES, as on a thread of its own, and
        // STACK_BUDGET (measured from where it starts) stays well inside it. A panic inside
        // comes back out of `maybe_grow` on the caller's stack.
        stacker::maybe_grow(EVAL_STACK_BYTES, EVAL_STACK_BYTES, || {
            self.eval_here(source, file, dsl)
        })
    }

    /// [`Interpreter::eval`] on the current thread (which must have the sandbox's stack).
    fn eval_here(
        &self,
        source: &str,
        file: &Path,
        dsl: &mut dyn Dsl,
    ) -> Result<Evaluation, EvalError> {
        let limit_at = |offset: usize, message: String| {
            let before = &source[..offset.min(source.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            EvalError {
                file: file.to_path_buf(),
                line: u32::try_from(line).unwrap_or(u32::MAX),
                column: u32::try_from(column).unwrap_or(u32::MAX),
                kind: ErrorKind::Limit,
                message,
            }
        };
        if source.len() > MAX_SOURCE_BYTES {
            return Err(limit_at(
                0,
                format!("file larger than {MAX_SOURCE_BYTES} bytes (sandbox limit)"),
            ));
        }
        match nesting::scan(source.as_bytes(), MAX_NESTING, MAX_OPERATOR_CHAIN) {
            None => {}
            Some((at, nesting::Excess::Nesting)) => {
                return Err(limit_at(
                    at,
                    format!("nesting deeper than {MAX_NESTING} levels (sandbox limit)"),
                ));
            }
            Some((at, nesting::Excess::OperatorChain)) => {
                return Err(limit_at(
                    at,
                    format!("more than {MAX_OPERATOR_CHAIN} operators in a row (sandbox limit)"),
                ));
            }
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
        let mut run = Run::new(self, file, src);
        let base_marker = 0u8;
        run.stack_base = std::ptr::addr_of!(base_marker) as usize;
        if let Some(e) = run.syntax_error(&result) {
            return Err(e);
        }
        let value = run
            .eval(&result.node(), dsl)
            .map_err(|flow| run.misplaced_exit(flow))?;
        warnings.append(&mut run.warnings);
        Ok(Evaluation {
            value,
            warnings,
            steps: run.steps,
        })
    }
}

/// Why evaluating a node ended without a value: an error, or one of Ruby's non-local exits
/// travelling up to the construct that completes it. `at` is the byte offset of the keyword.
#[derive(Debug)]
enum Flow {
    /// A positioned error; ends the evaluation unless a `rescue` catches a runtime error.
    Error(EvalError),
    /// `next [value]`: ends the current run of a block, whose value it gives
    /// (completed in [`Run::call_block`]).
    Next { value: Value, at: u32 },
    /// `break [value]`: ends the call the block was given to, which returns `value`
    /// (completed where that call is dispatched; a DSL block just ends).
    Break { value: Value, at: u32 },
    /// `return [value]`: ends the innermost `def` method call, which returns `value`
    /// (completed in [`Run::call_def`]).
    Return { value: Value, at: u32 },
}

/// An evaluation result: a value, or why there is none.
type R<T> = Result<T, Flow>;

/// Upper bound on the bytes of a string and the elements of an array or hash a file may
/// build (a sandbox must not be made to allocate without limit).
const MAX_BUILT_SIZE: usize = 16 << 20;

/// Upper bound on the elements of one array or hash (each costs tens of bytes).
const MAX_COLLECTION_LEN: usize = 1 << 20;

/// Upper bound on everything one evaluation builds, summed: bytes of strings and elements of
/// collections created by `+`, `*`, interpolation, `join`, in-place calls and copies. Bounds
/// the work of quadratic patterns (a string doubled in a loop) as well as their memory.
const MAX_BUILT_TOTAL: usize = 256 << 20;

/// Upper bound on `n.times { .. }` (a sandbox must not be made to spin without limit).
const MAX_ITERATIONS: i64 = 1_000_000;

/// Upper bound on the evaluation steps (syntax-tree nodes evaluated) of one file.
pub const MAX_STEPS: u64 = 1_000_000;

/// How deeply evaluation may nest before it is stopped.
const MAX_DEPTH: usize = 10_000;

/// Largest source the sandbox parses (real metadata.rb, knife.rb and Berksfiles are a few
/// KiB; prism's time on hostile input grows faster than linearly).
pub const MAX_SOURCE_BYTES: usize = 256 << 10;

/// Longest run of operator characters (`!+-~*&`, blanks between) outside strings and
/// comments: prism parses a chain of unary operators in time quadratic in its length.
pub const MAX_OPERATOR_CHAIN: usize = 256;

/// Deepest nesting of brackets, braces, parentheses and `do`/`begin`/`def`/`case` ... `end`
/// blocks, checked by a scan of the source before prism parses it.
pub const MAX_NESTING: usize = 1000;

/// Largest file `File.read`/`IO.read`/`File.readlines` read.
pub const MAX_READ_BYTES: u64 = 4 << 20;

/// Stack every evaluation runs with (the calling thread's, when that much is left, else one
/// allocated for the call): prism's own recursion (at most 10,000 levels) and the
/// evaluator's fit in it even in a debug build.
pub const EVAL_STACK_BYTES: usize = 64 << 20;

/// How much stack evaluation may use (measured from where it started), so nested literals,
/// recursive `def` helpers or nested blocks end in an error instead of overflowing the stack.
const STACK_BUDGET: usize = 32 << 20;

/// State of one evaluation.
struct Run<'i, 'pr> {
    interp: &'i Interpreter,
    file: &'i Path,
    src: &'i str,
    line_starts: Vec<usize>,
    scopes: Vec<HashMap<String, Value>>,
    constants: HashMap<String, Value>,
    defs: HashMap<String, std::rc::Rc<DefNode<'pr>>>,
    depth: usize,
    /// Syntax-tree nodes evaluated so far (bounded by [`MAX_STEPS`]).
    steps: u64,
    /// Bytes and elements built so far (bounded by [`MAX_BUILT_TOTAL`]).
    built: usize,
    /// Set by a statement list for a statement whose value nobody uses: an in-place call
    /// (`list << x`) then skips copying its receiver as its result.
    value_unused: bool,
    /// [`Run::value_unused`] as it was for the node [`Run::eval`] entered last.
    result_unused: bool,
    /// Set by an iterator that ignores its block's value (`each`, `times`) for the next
    /// [`Run::call_block`].
    block_value_unused: bool,
    /// Address of a local in [`Interpreter::eval`]; stack use is measured from it.
    stack_base: usize,
    /// How many blocks are running in the current method body (or the file's top level):
    /// `next`/`break` are valid only when this is not zero.
    block_depth: usize,
    /// How many `def` method calls are running: `return` is valid only when this is not zero.
    def_depth: usize,
    /// A `return` that left a block given to a DSL method: the [`Block`] trait can only hand
    /// the handler an error, so the return is parked here and completed once the handler is
    /// back (see [`Run::dsl_call`]).
    pending_return: Option<(Value, u32)>,
    /// Instance variables (`@name`): the file's `self` is one object, so they are shared by
    /// the top level and every `def` helper, as in Ruby.
    ivars: HashMap<String, Value>,
    /// Warnings found while evaluating (ignored `require`s, ignored unknown methods, ...).
    warnings: Vec<Warning>,
    /// How many files deep this evaluation is included (`from_file`, `instance_eval`).
    include_depth: usize,
    /// Key indexes of the hashes in-place stores are building, by the variable that holds
    /// each (at most [`KEPT_HASH_INDEXES`]); dropped whenever that variable is assigned or goes
    /// out of scope (see [`Run::forget_hash_indexes`]).
    hash_indexes: Vec<(HashSlot, hash_index::HashIndex)>,
}

/// How many hash key indexes one evaluation keeps between in-place stores.
const KEPT_HASH_INDEXES: usize = 8;

/// A variable holding a hash that in-place stores change, for [`Run::hash_indexes`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum HashSlot {
    /// A local variable, and how many scopes deep it is (`scopes[depth]`).
    Local { name: String, depth: usize },
    /// A constant defined in the file.
    Const(String),
    /// An instance variable.
    Ivar(String),
}

/// A name from the syntax tree (identifiers are UTF-8 in practice; lossy otherwise).
fn name_of(id: &ruby_prism::ConstantId<'_>) -> String {
    String::from_utf8_lossy(id.as_slice()).into_owned()
}

impl<'i, 'pr> Run<'i, 'pr> {
    fn new(interp: &'i Interpreter, file: &'i Path, src: &'i str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            interp,
            file,
            src,
            line_starts,
            scopes: vec![HashMap::new()],
            constants: HashMap::new(),
            defs: HashMap::new(),
            depth: 0,
            steps: 0,
            built: 0,
            value_unused: false,
            result_unused: false,
            block_value_unused: false,
            stack_base: 0,
            block_depth: 0,
            def_depth: 0,
            pending_return: None,
            ivars: HashMap::new(),
            warnings: Vec::new(),
            include_depth: 0,
            hash_indexes: Vec::new(),
        }
    }

    /// The positioned syntax error of a parse, if it has one.
    fn syntax_error(&self, result: &ruby_prism::ParseResult<'_>) -> Option<EvalError> {
        let diag = result.errors().next()?;
        let extra = result.errors().count() - 1;
        let mut message = format!("syntax error: {}", String::from_utf8_lossy(diag.message()));
        if let Some(keyword) = block_exit_at(self.src.as_bytes(), diag.location().start()) {
            message = format!("syntax error: {}", block_exit_outside_block(keyword));
        }
        if extra > 0 {
            message.push_str(&format!(" (and {extra} more)"));
        }
        Some(self.eval_error(diag.location().start(), ErrorKind::Syntax, message))
    }

    /// A warning at byte `offset` of the file being evaluated.
    fn warn(&mut self, offset: u32, message: impl Into<String>) {
        let (line, _) = self.position(offset);
        self.warnings.push(Warning {
            file: self.file.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    /// 1-based (line, column-in-characters) of a byte offset.
    fn position(&self, offset: u32) -> (u32, u32) {
        let offset = (offset as usize).min(self.src.len());
        let idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[idx];
        let col = self
            .src
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (
            u32::try_from(idx + 1).unwrap_or(u32::MAX),
            u32::try_from(col + 1).unwrap_or(u32::MAX),
        )
    }

    /// A positioned error at byte `offset`.
    fn eval_error(&self, offset: u32, kind: ErrorKind, message: impl Into<String>) -> EvalError {
        let (line, column) = self.position(offset);
        EvalError {
            file: self.file.to_path_buf(),
            line,
            column,
            kind,
            message: message.into(),
        }
    }

    /// Counts `units` (bytes or elements) built at `start` against [`MAX_BUILT_TOTAL`], and
    /// refuses a single value over `size_limit`.
    fn charge(&mut self, start: u32, units: usize, size_limit: usize) -> R<()> {
        self.grow(start, units, units, size_limit)
    }

    /// Counts `work` units at `start` against [`MAX_BUILT_TOTAL`] for a value that becomes
    /// `new_size` long, refused over `size_limit`.
    fn grow(&mut self, start: u32, work: usize, new_size: usize, size_limit: usize) -> R<()> {
        let units = work;
        if new_size > size_limit {
            return Err(self.error(
                start,
                ErrorKind::Limit,
                format!("value larger than {size_limit} (sandbox limit)"),
            ));
        }
        self.built = self.built.saturating_add(units);
        if self.built > MAX_BUILT_TOTAL {
            return Err(self.error(
                start,
                ErrorKind::Limit,
                format!(
                    "evaluation stopped after building {MAX_BUILT_TOTAL} bytes and elements (sandbox limit)"
                ),
            ));
        }
        Ok(())
    }

    /// Counts `units` of work done at `start` (key comparisons, say) against
    /// [`MAX_BUILT_TOTAL`].
    fn charge_work(&mut self, start: u32, units: usize) -> R<()> {
        self.grow(start, units, 0, usize::MAX)
    }

    /// [`Run::charge`] for a whole value: string bytes, or collection elements.
    fn charge_value(&mut self, start: u32, v: &Value) -> R<()> {
        match v {
            Value::Str(s) => self.charge(start, s.len(), MAX_BUILT_SIZE),
            Value::Array(items) => self.charge(start, items.len(), MAX_COLLECTION_LEN),
            Value::Hash(pairs) => self.charge(start, pairs.len(), MAX_COLLECTION_LEN),
            _ => Ok(()),
        }
    }

    /// [`Run::eval_error`] as the error of an evaluation result.
    fn error(&self, offset: u32, kind: ErrorKind, message: impl Into<String>) -> Flow {
        Flow::Error(self.eval_error(offset, kind, message))
    }

    /// A Ruby runtime error (what `rescue` catches) at byte `start`.
    fn runtime(&self, start: u32, msg: impl Into<String>) -> Flow {
        self.error(start, ErrorKind::Runtime, msg)
    }

    /// `WHAT not supported` at `node`: a construct the sandbox does not evaluate.
    fn unsupported(&self, node: &Node<'_>, what: &str) -> Flow {
        self.error(
            node.location().start(),
            ErrorKind::Unsupported,
            format!("{what} not supported"),
        )
    }

    // ----- variables -------------------------------------------------------------------

    fn get_local(&self, name: &str) -> Option<&Value> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    /// Moves a local's value out of its slot (leaving `nil`), for in-place calls.
    fn take_local(&mut self, name: &str) -> Option<Value> {
        self.scopes
            .iter_mut()
            .rev()
            .find_map(|s| s.get_mut(name))
            .map(std::mem::take)
    }

    fn set_local(&mut self, name: String, value: Value) {
        self.forget_hash_indexes(|s| matches!(s, HashSlot::Local { name: n, .. } if *n == name));
        for scope in self.scopes.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(&name) {
                *slot = value;
                return;
            }
        }
        if let Some(top) = self.scopes.last_mut() {
            top.insert(name, value);
        }
    }

    /// How many scopes deep the local `name` is (the innermost that has it).
    fn local_depth(&self, name: &str) -> Option<usize> {
        self.scopes.iter().rposition(|s| s.contains_key(name))
    }

    /// Assigns the constant `name`.
    fn set_constant(&mut self, name: String, value: Value) {
        self.forget_hash_indexes(|s| matches!(s, HashSlot::Const(n) if *n == name));
        self.constants.insert(name, value);
    }

    /// Assigns the instance variable `name`.
    fn set_ivar(&mut self, name: String, value: Value) {
        self.forget_hash_indexes(|s| matches!(s, HashSlot::Ivar(n) if *n == name));
        self.ivars.insert(name, value);
    }

    /// Drops the hash key indexes of the variables `which` selects: a variable's index is
    /// valid only while nothing but an in-place store has changed the variable.
    fn forget_hash_indexes(&mut self, which: impl Fn(&HashSlot) -> bool) {
        if !self.hash_indexes.is_empty() {
            self.hash_indexes.retain(|(slot, _)| !which(slot));
        }
    }

    /// The value of the variable `slot` names, if it is set.
    fn slot_value(&self, slot: &HashSlot) -> Option<&Value> {
        match slot {
            HashSlot::Local { name, depth } => self.scopes.get(*depth)?.get(name),
            HashSlot::Const(name) => self.constants.get(name),
            HashSlot::Ivar(name) => self.ivars.get(name),
        }
    }

    /// Takes the key index kept for the hash in `slot`, if there is one.
    fn take_hash_index(&mut self, slot: &HashSlot) -> Option<hash_index::HashIndex> {
        let i = self.hash_indexes.iter().position(|(s, _)| s == slot)?;
        Some(self.hash_indexes.remove(i).1)
    }

    /// Keeps `index` for the hash in `slot` until the next in-place store (the oldest kept
    /// index goes when there are too many).
    fn keep_hash_index(&mut self, slot: HashSlot, index: hash_index::HashIndex) {
        if self.hash_indexes.len() >= KEPT_HASH_INDEXES {
            self.hash_indexes.remove(0);
        }
        self.hash_indexes.push((slot, index));
    }

    fn file_str(&self) -> String {
        self.file.to_string_lossy().into_owned()
    }

    /// The working directory relative paths resolve against, as in Ruby: the configured one,
    /// else the process's.
    fn base_dir(&self) -> PathBuf {
        if let Some(cwd) = &self.interp.cwd {
            return cwd.clone();
        }
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
    }

    /// A path from the file, resolved against the working directory as Ruby would.
    fn resolve(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir().join(path)
        }
    }
}
