//! The tree-walking evaluator over prism's syntax tree.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use ruby_prism::{BlockNode, CallNode, DefNode, Node, StringNode, Visit, XStringNode};

use super::error::{CallError, ErrorKind, EvalError, Warning};
use super::value::Value;

/// One call from the evaluated file to the DSL.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The method name (`depends`, `cookbook`, `chef_server_url`, ...).
    pub name: String,
    /// Positional arguments, splats expanded.
    pub args: Vec<Value>,
    /// Keyword arguments (`path: 'x'`, `'k' => v`) in source order; keys are usually symbols.
    pub kwargs: Vec<(Value, Value)>,
    /// 1-based line of the call.
    pub line: u32,
    /// 1-based column of the call.
    pub column: u32,
}

/// A block passed to a DSL call (`group :test do ... end`); the handler may run it.
pub trait Block {
    /// Runs the block with `args` bound to its parameters, dispatching its calls to `dsl`.
    fn call(&mut self, dsl: &mut dyn Dsl, args: Vec<Value>) -> Result<Value, EvalError>;
}

/// The table of calls a file may make without a receiver.
pub trait Dsl {
    /// Whether the DSL has this method (also what `respond_to?(:name)` answers).
    fn responds_to(&self, name: &str) -> bool;
    /// Handles one call. Return [`CallError::Message`] to reject it; the evaluator adds the
    /// file, line and column.
    fn call(&mut self, call: Call, block: Option<&mut dyn Block>) -> Result<Value, CallError>;
}

/// File access used by `File.read`, `IO.read`, `File.exist?` and friends.
pub trait FileSystem: Send + Sync {
    /// Reads a whole file as UTF-8.
    fn read_to_string(&self, path: &Path) -> std::io::Result<String>;
    /// Whether something exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &Path) -> bool;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` itself is a symbolic link (`File.symlink?`); default: never.
    fn is_symlink(&self, _path: &Path) -> bool {
        false
    }
    /// The target of the symbolic link at `path` (`File.readlink`); default: unsupported.
    fn read_link(&self, _path: &Path) -> std::io::Result<PathBuf> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
    /// The entry names of the directory at `path` (`Dir.glob`); default: unsupported.
    fn read_dir(&self, _path: &Path) -> std::io::Result<Vec<String>> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

impl FileSystem for StdFs {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn is_symlink(&self, path: &Path) -> bool {
        path.is_symlink()
    }
    fn read_link(&self, path: &Path) -> std::io::Result<PathBuf> {
        std::fs::read_link(path)
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect()
    }
}

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
}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreter")
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .field("yaml_hook", &self.yaml.is_some())
            .field("cwd", &self.cwd)
            .field("dir_glob", &self.dir_glob)
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

    /// Parses and evaluates `source` (the contents of `file`) against `dsl`.
    ///
    /// U+00A0 no-break spaces are treated as spaces (one [`Warning`] per affected line).
    pub fn eval(
        &self,
        source: &str,
        file: &Path,
        dsl: &mut dyn Dsl,
    ) -> Result<Evaluation, EvalError> {
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
        if let Some(diag) = result.errors().next() {
            let extra = result.errors().count() - 1;
            let mut message = format!("syntax error: {}", String::from_utf8_lossy(diag.message()));
            if extra > 0 {
                message.push_str(&format!(" (and {extra} more)"));
            }
            let mut exit = BlockExitAt {
                offset: diag.location().start(),
                keyword: None,
            };
            exit.visit(&result.node());
            if let Some(keyword) = exit.keyword {
                message = format!("syntax error: {}", block_exit_outside_block(keyword));
                if extra > 0 {
                    message.push_str(&format!(" (and {extra} more)"));
                }
            }
            return Err(run.eval_error(diag.location().start(), ErrorKind::Syntax, message));
        }
        let value = run
            .eval(&result.node(), dsl)
            .map_err(|flow| run.misplaced_exit(flow))?;
        Ok(Evaluation { value, warnings })
    }
}

/// Collects the byte ranges of string-literal contents (including heredoc bodies).
struct LiteralRanges(Vec<(usize, usize)>);

impl<'pr> Visit<'pr> for LiteralRanges {
    fn visit_string_node(&mut self, node: &StringNode<'pr>) {
        let l = node.content_loc();
        self.0.push((l.start() as usize, l.end() as usize));
    }
    fn visit_x_string_node(&mut self, node: &XStringNode<'pr>) {
        let l = node.content_loc();
        self.0.push((l.start() as usize, l.end() as usize));
    }
}

/// Replaces U+00A0 with a space everywhere except inside string literals (where Ruby keeps
/// it, so metadata text stays byte-identical), with one warning per line where it did so.
/// Only runs for sources that contain U+00A0; costs one extra parse.
fn replace_nbsp(source: &str, file: &Path, warnings: &mut Vec<Warning>) -> String {
    let mut literals = LiteralRanges(Vec::new());
    {
        let first = ruby_prism::parse(source.as_bytes());
        literals.visit(&first.node());
    }
    let in_literal = |at: usize| literals.0.iter().any(|&(a, b)| a <= at && at < b);
    let mut out = String::with_capacity(source.len());
    let mut line: u32 = 1;
    let mut warned_line = 0;
    for (i, c) in source.char_indices() {
        if c == '\u{a0}' && !in_literal(i) {
            out.push(' ');
            if warned_line != line {
                warned_line = line;
                warnings.push(Warning {
                    file: file.to_path_buf(),
                    line,
                    message: "U+00A0 no-break space treated as a space".to_owned(),
                });
            }
            continue;
        }
        if c == '\n' {
            line += 1;
        }
        out.push(c);
    }
    out
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

/// What a misplaced `next`/`break` is told (it is only valid inside a block).
fn block_exit_outside_block(keyword: &str) -> String {
    format!(
        "`{keyword}` outside a block: expected it inside a block, such as `list.each do |x| ... end`"
    )
}

/// What a `return` outside any `def` is told.
const RETURN_OUTSIDE_DEF: &str =
    "`return` at the top level of the file: expected it inside a `def` method body";

/// Finds the `next`/`break` a syntax error was reported at, so the message can say what was
/// expected (prism reports a block exit outside a block as "Invalid next").
struct BlockExitAt {
    offset: u32,
    keyword: Option<&'static str>,
}

impl<'pr> Visit<'pr> for BlockExitAt {
    fn visit_next_node(&mut self, node: &ruby_prism::NextNode<'pr>) {
        if node.location().start() == self.offset {
            self.keyword = Some("next");
        }
        ruby_prism::visit_next_node(self, node);
    }
    fn visit_break_node(&mut self, node: &ruby_prism::BreakNode<'pr>) {
        if node.location().start() == self.offset {
            self.keyword = Some("break");
        }
        ruby_prism::visit_break_node(self, node);
    }
}

/// Evaluated call arguments: positional, keyword, block.
type Args<'pr> = (Vec<Value>, Vec<(Value, Value)>, Option<BlockArg<'pr>>);

/// How a block was given: a literal `do |x| .. end` or `&:sym`.
enum BlockArg<'pr> {
    Node(BlockNode<'pr>),
    Sym(String),
}

/// Upper bound on strings and arrays a file may build with `*` or `[]=` (a sandbox must not
/// be made to allocate without limit).
const MAX_BUILT_SIZE: usize = 16 << 20;

/// Upper bound on `n.times { .. }` (a sandbox must not be made to spin without limit).
const MAX_ITERATIONS: i64 = 1_000_000;

/// How deeply evaluation may nest before it is stopped.
const MAX_DEPTH: usize = 10_000;

/// How much stack evaluation may use (measured from where it started), so nested literals,
/// recursive `def` helpers or nested blocks end in an error instead of overflowing the stack,
/// even on 2 MiB threads and in debug builds where frames are large.
const STACK_BUDGET: usize = 1 << 20;

/// Library names `require` accepts (and ignores).
const KNOWN_LIBRARIES: &[&str] = &[
    "yaml",
    "json",
    "psych",
    "fileutils",
    "pathname",
    "uri",
    "etc",
    "socket",
    "erb",
    "time",
    "date",
    "set",
    "rubygems",
    "English",
    "securerandom",
    "digest",
];

/// Calls that could run code or touch the system; always rejected.
const FORBIDDEN: &[&str] = &[
    "system",
    "exec",
    "spawn",
    "fork",
    "syscall",
    "open",
    "eval",
    "instance_eval",
    "class_eval",
    "module_eval",
    "instance_exec",
    "class_exec",
    "send",
    "__send__",
    "public_send",
    "load",
    "require_relative",
    "binding",
    "define_method",
    "exit",
    "exit!",
    "abort",
    "at_exit",
    "trap",
    "sleep",
    "loop",
    "catch",
    "throw",
    "gets",
    "readline",
    "srand",
    "rand",
];

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
}

struct BlockRef<'r, 'i, 'pr> {
    run: &'r mut Run<'i, 'pr>,
    block: BlockArg<'pr>,
}

impl Block for BlockRef<'_, '_, '_> {
    /// Runs the block. `next` and `break` both just end it with their value (the handler
    /// decides what the call returns). A `return` to an enclosing `def` is handed to the
    /// handler as an error, so it stops, and is completed by the evaluator once the handler
    /// is back, whatever the handler did with that error.
    fn call(&mut self, dsl: &mut dyn Dsl, args: Vec<Value>) -> Result<Value, EvalError> {
        match self.run.call_block(dsl, &self.block, args, 0) {
            Ok(v) | Err(Flow::Next { value: v, .. } | Flow::Break { value: v, .. }) => Ok(v),
            Err(Flow::Error(e)) => Err(e),
            Err(Flow::Return { value, at }) => {
                self.run.pending_return = Some((value, at));
                Err(self.run.eval_error(
                    at,
                    ErrorKind::Runtime,
                    "`return` from inside this block returns from the enclosing method",
                ))
            }
        }
    }
}

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
            stack_base: 0,
            block_depth: 0,
            def_depth: 0,
            pending_return: None,
        }
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

    /// [`Run::eval_error`] as the error of an evaluation result.
    fn error(&self, offset: u32, kind: ErrorKind, message: impl Into<String>) -> Flow {
        Flow::Error(self.eval_error(offset, kind, message))
    }

    /// The error for a non-local exit that reached a place where nothing completes it
    /// (the top of the file); the checks at `next`/`break`/`return` normally prevent this.
    fn misplaced_exit(&self, flow: Flow) -> EvalError {
        match flow {
            Flow::Error(e) => e,
            Flow::Next { at, .. } => {
                self.eval_error(at, ErrorKind::Unsupported, block_exit_outside_block("next"))
            }
            Flow::Break { at, .. } => self.eval_error(
                at,
                ErrorKind::Unsupported,
                block_exit_outside_block("break"),
            ),
            Flow::Return { at, .. } => {
                self.eval_error(at, ErrorKind::Unsupported, RETURN_OUTSIDE_DEF)
            }
        }
    }

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

    fn set_local(&mut self, name: String, value: Value) {
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

    // ----- evaluation ------------------------------------------------------------------

    fn eval_opt(&mut self, node: Option<Node<'pr>>, dsl: &mut dyn Dsl) -> R<Value> {
        match node {
            Some(n) => self.eval(&n, dsl),
            None => Ok(Value::Nil),
        }
    }

    fn eval_statements(
        &mut self,
        stmts: Option<ruby_prism::StatementsNode<'pr>>,
        dsl: &mut dyn Dsl,
    ) -> R<Value> {
        let mut last = Value::Nil;
        if let Some(stmts) = stmts {
            for n in &stmts.body() {
                last = self.eval(&n, dsl)?;
            }
        }
        Ok(last)
    }

    /// Evaluates one node, bounding how deeply evaluation may nest (nested literals, calls
    /// into `def` helpers, blocks) so no input can overflow the stack.
    fn eval(&mut self, node: &Node<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
        let marker = 0u8;
        let here = std::ptr::addr_of!(marker) as usize;
        if self.depth >= MAX_DEPTH || self.stack_base.abs_diff(here) > STACK_BUDGET {
            return Err(self.error(
                node.location().start(),
                ErrorKind::Runtime,
                "stack level too deep (nesting or recursion over the sandbox limit)",
            ));
        }
        self.depth += 1;
        let r = self.eval_node(node, dsl);
        self.depth -= 1;
        r
    }

    #[allow(clippy::too_many_lines)]
    fn eval_node(&mut self, node: &Node<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
        let start = node.location().start();
        match node {
            Node::ProgramNode { .. } => {
                let n = node.as_program_node().expect("program");
                self.eval_statements(Some(n.statements()), dsl)
            }
            Node::StatementsNode { .. } => {
                let n = node.as_statements_node().expect("statements");
                self.eval_statements(Some(n), dsl)
            }
            Node::NilNode { .. } => Ok(Value::Nil),
            Node::TrueNode { .. } => Ok(Value::Bool(true)),
            Node::FalseNode { .. } => Ok(Value::Bool(false)),
            Node::IntegerNode { .. } => {
                let n = node.as_integer_node().expect("integer");
                let int = n.value();
                let (negative, digits) = int.to_u32_digits();
                let magnitude: u64 = match digits {
                    [] => 0,
                    [lo] => u64::from(*lo),
                    [lo, hi] => u64::from(*lo) | (u64::from(*hi) << 32),
                    _ => u64::MAX,
                };
                let v = i64::try_from(magnitude).map_err(|_| {
                    self.error(start, ErrorKind::Unsupported, "integer literal too large")
                })?;
                Ok(Value::Int(if negative { -v } else { v }))
            }
            Node::FloatNode { .. } => {
                Ok(Value::Float(node.as_float_node().expect("float").value()))
            }
            Node::StringNode { .. } => {
                let n = node.as_string_node().expect("string");
                Ok(Value::Str(
                    String::from_utf8_lossy(n.unescaped()).into_owned(),
                ))
            }
            Node::InterpolatedStringNode { .. } => {
                let n = node.as_interpolated_string_node().expect("istring");
                Ok(Value::Str(self.interpolate(&n.parts(), dsl)?))
            }
            Node::SymbolNode { .. } => {
                let n = node.as_symbol_node().expect("symbol");
                Ok(Value::Sym(
                    String::from_utf8_lossy(n.unescaped()).into_owned(),
                ))
            }
            Node::InterpolatedSymbolNode { .. } => {
                let n = node.as_interpolated_symbol_node().expect("isymbol");
                Ok(Value::Sym(self.interpolate(&n.parts(), dsl)?))
            }
            Node::XStringNode { .. } | Node::InterpolatedXStringNode { .. } => Err(self.error(
                start,
                ErrorKind::NotAllowed,
                "backtick commands are not supported",
            )),
            Node::ArrayNode { .. } => {
                let n = node.as_array_node().expect("array");
                let mut items = Vec::new();
                for el in &n.elements() {
                    self.push_element(&el, &mut items, dsl)?;
                }
                Ok(Value::Array(items))
            }
            Node::HashNode { .. } => {
                let n = node.as_hash_node().expect("hash");
                let mut pairs = Vec::new();
                for el in &n.elements() {
                    self.push_assoc(&el, &mut pairs, dsl)?;
                }
                Ok(Value::Hash(pairs))
            }
            Node::LocalVariableReadNode { .. } => {
                let n = node.as_local_variable_read_node().expect("lvar");
                Ok(self
                    .get_local(&name_of(&n.name()))
                    .cloned()
                    .unwrap_or(Value::Nil))
            }
            Node::ItLocalVariableReadNode { .. } => {
                Ok(self.get_local("it").cloned().unwrap_or(Value::Nil))
            }
            Node::LocalVariableWriteNode { .. } => {
                let n = node.as_local_variable_write_node().expect("lasgn");
                let v = self.eval(&n.value(), dsl)?;
                self.set_local(name_of(&n.name()), v.clone());
                Ok(v)
            }
            Node::LocalVariableOrWriteNode { .. } => {
                let n = node.as_local_variable_or_write_node().expect("lor");
                let name = name_of(&n.name());
                if let Some(v) = self.get_local(&name).filter(|v| v.truthy()) {
                    return Ok(v.clone());
                }
                let v = self.eval(&n.value(), dsl)?;
                self.set_local(name, v.clone());
                Ok(v)
            }
            Node::LocalVariableAndWriteNode { .. } => {
                let n = node.as_local_variable_and_write_node().expect("land");
                let name = name_of(&n.name());
                let cur = self.get_local(&name).cloned().unwrap_or(Value::Nil);
                if !cur.truthy() {
                    return Ok(cur);
                }
                let v = self.eval(&n.value(), dsl)?;
                self.set_local(name, v.clone());
                Ok(v)
            }
            Node::LocalVariableOperatorWriteNode { .. } => {
                let n = node.as_local_variable_operator_write_node().expect("lop");
                let name = name_of(&n.name());
                let cur = self.get_local(&name).cloned().unwrap_or(Value::Nil);
                let rhs = self.eval(&n.value(), dsl)?;
                let op = name_of(&n.binary_operator());
                let v = self.value_method(cur, &op, vec![rhs], None, dsl, start)?;
                self.set_local(name, v.clone());
                Ok(v)
            }
            Node::ConstantReadNode { .. } => {
                let n = node.as_constant_read_node().expect("const");
                let name = name_of(&n.name());
                self.constant(&name, start)
            }
            Node::ConstantWriteNode { .. } => {
                let n = node.as_constant_write_node().expect("cdecl");
                let v = self.eval(&n.value(), dsl)?;
                self.constants.insert(name_of(&n.name()), v.clone());
                Ok(v)
            }
            Node::ConstantOrWriteNode { .. } => {
                let n = node.as_constant_or_write_node().expect("cor");
                let name = name_of(&n.name());
                if let Some(v) = self.constants.get(&name).filter(|v| v.truthy()) {
                    return Ok(v.clone());
                }
                let v = self.eval(&n.value(), dsl)?;
                self.constants.insert(name, v.clone());
                Ok(v)
            }
            Node::GlobalVariableReadNode { .. } => {
                let n = node.as_global_variable_read_node().expect("gvar");
                match name_of(&n.name()).as_str() {
                    "$stdout" => Ok(Value::Opaque("STDOUT")),
                    "$stderr" => Ok(Value::Opaque("STDERR")),
                    other => Err(self.error(
                        start,
                        ErrorKind::Unsupported,
                        format!("global variable {other} is not supported"),
                    )),
                }
            }
            Node::SourceFileNode { .. } => Ok(Value::Str(self.file_str())),
            Node::SourceLineNode { .. } => Ok(Value::Int(i64::from(self.position(start).0))),
            Node::AndNode { .. } => {
                let n = node.as_and_node().expect("and");
                let l = self.eval(&n.left(), dsl)?;
                if l.truthy() {
                    self.eval(&n.right(), dsl)
                } else {
                    Ok(l)
                }
            }
            Node::OrNode { .. } => {
                let n = node.as_or_node().expect("or");
                let l = self.eval(&n.left(), dsl)?;
                if l.truthy() {
                    Ok(l)
                } else {
                    self.eval(&n.right(), dsl)
                }
            }
            Node::IfNode { .. } => {
                let n = node.as_if_node().expect("if");
                if self.eval(&n.predicate(), dsl)?.truthy() {
                    self.eval_statements(n.statements(), dsl)
                } else {
                    self.eval_opt(n.subsequent(), dsl)
                }
            }
            Node::UnlessNode { .. } => {
                let n = node.as_unless_node().expect("unless");
                if self.eval(&n.predicate(), dsl)?.truthy() {
                    match n.else_clause() {
                        Some(e) => self.eval_statements(e.statements(), dsl),
                        None => Ok(Value::Nil),
                    }
                } else {
                    self.eval_statements(n.statements(), dsl)
                }
            }
            Node::ElseNode { .. } => {
                let n = node.as_else_node().expect("else");
                self.eval_statements(n.statements(), dsl)
            }
            Node::CaseNode { .. } => {
                let n = node.as_case_node().expect("case");
                let subject = match n.predicate() {
                    Some(p) => Some(self.eval(&p, dsl)?),
                    None => None,
                };
                for cond in &n.conditions() {
                    let Some(when) = cond.as_when_node() else {
                        return Err(self.unsupported(&cond, "this `case` form is"));
                    };
                    for c in &when.conditions() {
                        let v = self.eval(&c, dsl)?;
                        let hit = match &subject {
                            Some(s) => *s == v,
                            None => v.truthy(),
                        };
                        if hit {
                            return self.eval_statements(when.statements(), dsl);
                        }
                    }
                }
                match n.else_clause() {
                    Some(e) => self.eval_statements(e.statements(), dsl),
                    None => Ok(Value::Nil),
                }
            }
            Node::ParenthesesNode { .. } => {
                let n = node.as_parentheses_node().expect("parens");
                self.eval_opt(n.body(), dsl)
            }
            Node::RescueModifierNode { .. } => {
                let n = node.as_rescue_modifier_node().expect("rescue mod");
                match self.eval(&n.expression(), dsl) {
                    Err(Flow::Error(e)) if e.kind == ErrorKind::Runtime => {
                        self.eval(&n.rescue_expression(), dsl)
                    }
                    other => other,
                }
            }
            Node::BeginNode { .. } => {
                let n = node.as_begin_node().expect("begin");
                if n.ensure_clause().is_some() {
                    return Err(self.unsupported(node, "`ensure` is"));
                }
                let result = self.eval_statements(n.statements(), dsl);
                let result = match (result, n.rescue_clause()) {
                    (Err(Flow::Error(e)), Some(rescue)) if e.kind == ErrorKind::Runtime => {
                        if rescue.subsequent().is_some() {
                            return Err(self.unsupported(node, "several `rescue` clauses are"));
                        }
                        if let Some(r) = rescue.reference() {
                            let Some(target) = r.as_local_variable_target_node() else {
                                return Err(self.unsupported(&r, "this rescue target is"));
                            };
                            self.set_local(name_of(&target.name()), Value::Str(e.message.clone()));
                        }
                        return self.eval_statements(rescue.statements(), dsl);
                    }
                    (other, _) => other,
                }?;
                match n.else_clause() {
                    Some(e) => self.eval_statements(e.statements(), dsl),
                    None => Ok(result),
                }
            }
            Node::DefinedNode { .. } => {
                let n = node.as_defined_node().expect("defined");
                self.defined(&n.value(), dsl)
            }
            Node::DefNode { .. } => {
                let n = node.as_def_node().expect("def");
                if n.receiver().is_some() {
                    return Err(self.unsupported(node, "singleton method definitions are"));
                }
                let name = name_of(&n.name());
                self.defs.insert(name.clone(), std::rc::Rc::new(n));
                Ok(Value::Sym(name))
            }
            Node::CallNode { .. } => {
                let n = node.as_call_node().expect("call");
                self.eval_call(&n, dsl)
            }
            Node::RegularExpressionNode { .. }
            | Node::InterpolatedRegularExpressionNode { .. }
            | Node::MatchLastLineNode { .. }
            | Node::InterpolatedMatchLastLineNode { .. } => {
                Err(self.unsupported(node, "regular expressions are"))
            }
            Node::WhileNode { .. } | Node::UntilNode { .. } | Node::ForNode { .. } => {
                Err(self.unsupported(node, "loops are"))
            }
            Node::ClassNode { .. } | Node::ModuleNode { .. } | Node::SingletonClassNode { .. } => {
                Err(self.unsupported(node, "class and module definitions are"))
            }
            Node::InstanceVariableReadNode { .. }
            | Node::InstanceVariableWriteNode { .. }
            | Node::ClassVariableReadNode { .. }
            | Node::ClassVariableWriteNode { .. } => {
                Err(self.unsupported(node, "instance and class variables are"))
            }
            Node::GlobalVariableWriteNode { .. } => {
                Err(self.unsupported(node, "assigning global variables is"))
            }
            Node::ConstantPathNode { .. } => {
                let text = String::from_utf8_lossy(node.location().as_slice()).into_owned();
                Err(self.unsupported(node, &format!("constant {text} is")))
            }
            Node::SelfNode { .. } => Err(self.unsupported(node, "`self` is")),
            Node::LambdaNode { .. } => Err(self.unsupported(node, "lambdas are")),
            Node::MultiWriteNode { .. } => Err(self.unsupported(node, "multiple assignment is")),
            Node::RangeNode { .. } => Err(self.unsupported(node, "ranges are")),
            Node::NextNode { .. } | Node::BreakNode { .. } => {
                let (is_next, arguments) = match node.as_next_node() {
                    Some(n) => (true, n.arguments()),
                    None => (false, node.as_break_node().expect("break").arguments()),
                };
                if self.block_depth == 0 {
                    let keyword = if is_next { "next" } else { "break" };
                    return Err(self.error(
                        start,
                        ErrorKind::Unsupported,
                        block_exit_outside_block(keyword),
                    ));
                }
                let value = self.exit_value(arguments, dsl)?;
                Err(if is_next {
                    Flow::Next { value, at: start }
                } else {
                    Flow::Break { value, at: start }
                })
            }
            Node::ReturnNode { .. } => {
                let n = node.as_return_node().expect("return");
                if self.def_depth == 0 {
                    return Err(self.error(start, ErrorKind::Unsupported, RETURN_OUTSIDE_DEF));
                }
                let value = self.exit_value(n.arguments(), dsl)?;
                Err(Flow::Return { value, at: start })
            }
            Node::YieldNode { .. } => Err(self.unsupported(node, "`yield` is")),
            Node::SuperNode { .. } | Node::ForwardingSuperNode { .. } => {
                Err(self.unsupported(node, "`super` is"))
            }
            Node::AliasMethodNode { .. } | Node::AliasGlobalVariableNode { .. } => {
                Err(self.unsupported(node, "`alias` is"))
            }
            Node::UndefNode { .. } => Err(self.unsupported(node, "`undef` is")),
            Node::PreExecutionNode { .. } | Node::PostExecutionNode { .. } => {
                Err(self.unsupported(node, "BEGIN/END blocks are"))
            }
            Node::RationalNode { .. } | Node::ImaginaryNode { .. } => {
                Err(self.unsupported(node, "rational and imaginary numbers are"))
            }
            _ => {
                let text = String::from_utf8_lossy(node.location().as_slice());
                let snippet: String = text.chars().take(40).collect();
                Err(self.unsupported(node, &format!("the construct `{snippet}` is")))
            }
        }
    }

    /// The value `next`/`break`/`return` carry: `nil` without arguments, the value of a
    /// single one, an array of several (or of a splat), as in Ruby.
    fn exit_value(
        &mut self,
        arguments: Option<ruby_prism::ArgumentsNode<'pr>>,
        dsl: &mut dyn Dsl,
    ) -> R<Value> {
        let Some(arguments) = arguments else {
            return Ok(Value::Nil);
        };
        let list = arguments.arguments();
        let mut items = Vec::new();
        let mut single = true;
        for (i, el) in list.iter().enumerate() {
            single &= i == 0 && !matches!(el, Node::SplatNode { .. });
            self.push_element(&el, &mut items, dsl)?;
        }
        if single && items.len() == 1 {
            Ok(items.pop().unwrap_or(Value::Nil))
        } else {
            Ok(Value::Array(items))
        }
    }

    fn interpolate(&mut self, parts: &ruby_prism::NodeList<'pr>, dsl: &mut dyn Dsl) -> R<String> {
        let mut out = String::new();
        for part in parts {
            match &part {
                Node::StringNode { .. } => {
                    let s = part.as_string_node().expect("string");
                    out.push_str(&String::from_utf8_lossy(s.unescaped()));
                }
                Node::EmbeddedStatementsNode { .. } => {
                    let e = part.as_embedded_statements_node().expect("embedded");
                    out.push_str(&self.eval_statements(e.statements(), dsl)?.to_ruby_s());
                }
                _ => out.push_str(&self.eval(&part, dsl)?.to_ruby_s()),
            }
        }
        Ok(out)
    }

    fn push_element(&mut self, el: &Node<'pr>, items: &mut Vec<Value>, dsl: &mut dyn Dsl) -> R<()> {
        match el {
            Node::SplatNode { .. } => {
                let s = el.as_splat_node().expect("splat");
                match self.eval_opt(s.expression(), dsl)? {
                    Value::Array(v) => items.extend(v),
                    Value::Nil => {}
                    other => items.push(other),
                }
            }
            Node::KeywordHashNode { .. } => {
                let k = el.as_keyword_hash_node().expect("kwhash");
                let mut pairs = Vec::new();
                for a in &k.elements() {
                    self.push_assoc(&a, &mut pairs, dsl)?;
                }
                items.push(Value::Hash(pairs));
            }
            _ => items.push(self.eval(el, dsl)?),
        }
        Ok(())
    }

    fn push_assoc(
        &mut self,
        el: &Node<'pr>,
        pairs: &mut Vec<(Value, Value)>,
        dsl: &mut dyn Dsl,
    ) -> R<()> {
        match el {
            Node::AssocNode { .. } => {
                let a = el.as_assoc_node().expect("assoc");
                let k = self.eval(&a.key(), dsl)?;
                let v = self.eval(&a.value(), dsl)?;
                hash_insert(pairs, k, v);
            }
            Node::AssocSplatNode { .. } => {
                let a = el.as_assoc_splat_node().expect("assoc splat");
                match self.eval_opt(a.value(), dsl)? {
                    Value::Hash(h) => {
                        for (k, v) in h {
                            hash_insert(pairs, k, v);
                        }
                    }
                    Value::Nil => {}
                    other => {
                        return Err(self.error(
                            el.location().start(),
                            ErrorKind::Runtime,
                            format!("no implicit conversion of {} into Hash", other.class_name()),
                        ));
                    }
                }
            }
            _ => return Err(self.unsupported(el, "this hash element is")),
        }
        Ok(())
    }

    fn constant(&self, name: &str, start: u32) -> R<Value> {
        if let Some(v) = self.constants.get(name) {
            return Ok(v.clone());
        }
        match name {
            "STDOUT" => Ok(Value::Opaque("STDOUT")),
            "STDERR" => Ok(Value::Opaque("STDERR")),
            "File" | "IO" | "ENV" | "YAML" | "JSON" | "Dir" => Err(self.error(
                start,
                ErrorKind::Unsupported,
                format!("{name} can only be used to call its supported methods"),
            )),
            _ => Err(self.error(
                start,
                ErrorKind::Runtime,
                format!("uninitialized constant {name}"),
            )),
        }
    }

    fn defined(&mut self, node: &Node<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
        let s = |x: &str| Ok(Value::Str(x.to_owned()));
        match node {
            Node::LocalVariableReadNode { .. } => s("local-variable"),
            Node::ConstantReadNode { .. } => {
                let n = node.as_constant_read_node().expect("const");
                let name = name_of(&n.name());
                if self.constants.contains_key(&name)
                    || matches!(
                        name.as_str(),
                        "STDOUT" | "STDERR" | "File" | "IO" | "ENV" | "YAML" | "JSON"
                    )
                {
                    s("constant")
                } else {
                    Ok(Value::Nil)
                }
            }
            Node::CallNode { .. } => {
                let n = node.as_call_node().expect("call");
                let name = name_of(&n.name());
                if n.receiver().is_none()
                    && (dsl.responds_to(&name) || self.defs.contains_key(&name))
                {
                    s("method")
                } else if n.receiver().is_none() {
                    Ok(Value::Nil)
                } else {
                    Err(self.unsupported(node, "`defined?` on a method call with a receiver is"))
                }
            }
            _ => {
                let _ = self.eval(node, dsl)?;
                s("expression")
            }
        }
    }

    // ----- calls -----------------------------------------------------------------------

    /// Evaluates call arguments into (positional, keyword, block).
    fn call_args(&mut self, call: &CallNode<'pr>, dsl: &mut dyn Dsl) -> R<Args<'pr>> {
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        if let Some(a) = call.arguments() {
            for el in &a.arguments() {
                match &el {
                    Node::KeywordHashNode { .. } => {
                        let k = el.as_keyword_hash_node().expect("kwhash");
                        for a in &k.elements() {
                            self.push_assoc(&a, &mut kwargs, dsl)?;
                        }
                    }
                    Node::BlockArgumentNode { .. } => {
                        return Err(self.unsupported(&el, "passing a block argument here is"));
                    }
                    _ => self.push_element(&el, &mut args, dsl)?,
                }
            }
        }
        let block = match call.block() {
            None => None,
            Some(b) => match &b {
                Node::BlockNode { .. } => Some(BlockArg::Node(b.as_block_node().expect("block"))),
                Node::BlockArgumentNode { .. } => {
                    let ba = b.as_block_argument_node().expect("block arg");
                    match ba.expression() {
                        Some(Node::SymbolNode { .. }) => {
                            let e = ba.expression().expect("sym");
                            let sym = e.as_symbol_node().expect("sym");
                            Some(BlockArg::Sym(
                                String::from_utf8_lossy(sym.unescaped()).into_owned(),
                            ))
                        }
                        _ => return Err(self.unsupported(&b, "this block argument is")),
                    }
                }
                _ => return Err(self.unsupported(&b, "this block is")),
            },
        };
        Ok((args, kwargs, block))
    }

    fn eval_call(&mut self, call: &CallNode<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
        let start = call.location().start();
        let name = name_of(&call.name());
        let Some(receiver) = call.receiver() else {
            return self.eval_fcall(call, &name, dsl);
        };
        // Builtin modules: File, IO, ENV, YAML, JSON.
        if let Some(c) = receiver.as_constant_read_node() {
            let cname = name_of(&c.name());
            if !self.constants.contains_key(&cname)
                && matches!(
                    cname.as_str(),
                    "File" | "IO" | "ENV" | "YAML" | "JSON" | "Dir" | "Encoding"
                )
            {
                let (mut args, kwargs, block) = self.call_args(call, dsl)?;
                if !kwargs.is_empty() {
                    args.push(Value::Hash(kwargs));
                }
                let result = self.module_call(&cname, &name, args, block, dsl, start);
                return complete_break(result);
            }
        }
        if let Some(v) = self.mutating_call(call, &receiver, &name, dsl)? {
            return Ok(v);
        }
        let recv = self.eval(&receiver, dsl)?;
        if call.is_safe_navigation() && recv == Value::Nil {
            return Ok(Value::Nil);
        }
        // `a && b` style operators evaluate lazily only for && / ||, which prism gives as
        // AndNode/OrNode; everything here is a plain method call.
        let (mut args, kwargs, block) = self.call_args(call, dsl)?;
        if !kwargs.is_empty() {
            args.push(Value::Hash(kwargs));
        }
        let result = self.value_method(recv, &name, args, block, dsl, start);
        complete_break(result)
    }

    fn eval_fcall(&mut self, call: &CallNode<'pr>, name: &str, dsl: &mut dyn Dsl) -> R<Value> {
        let start = call.location().start();
        if FORBIDDEN.contains(&name) {
            let msg = if matches!(
                name,
                "system" | "exec" | "spawn" | "fork" | "syscall" | "open"
            ) {
                format!("{name}(...) is not allowed: chef-sync never runs commands")
            } else {
                format!("{name} is not allowed")
            };
            return Err(self.error(start, ErrorKind::NotAllowed, msg));
        }
        if let Some(def) = self.defs.get(name).cloned() {
            let (args, kwargs, _block) = self.call_args(call, dsl)?;
            return self.call_def(&def, args, kwargs, dsl, start);
        }
        if dsl.responds_to(name) {
            let (args, kwargs, block) = self.call_args(call, dsl)?;
            let (line, column) = self.position(start);
            let c = Call {
                name: name.to_owned(),
                args,
                kwargs,
                line,
                column,
            };
            return self.dsl_call(c, block, dsl, start);
        }
        match name {
            "require" => {
                let (args, _, _) = self.call_args(call, dsl)?;
                let lib = args.first().and_then(Value::as_str).unwrap_or_default();
                if KNOWN_LIBRARIES.contains(&lib) {
                    Ok(Value::Bool(true))
                } else {
                    Err(self.error(
                        start,
                        ErrorKind::NotAllowed,
                        format!("require '{lib}' is not allowed (only standard libraries such as 'yaml' and 'json')"),
                    ))
                }
            }
            "puts" | "print" | "p" | "pp" | "warn" => {
                let _ = self.call_args(call, dsl)?;
                Ok(Value::Nil)
            }
            "respond_to?" => {
                let (args, _, _) = self.call_args(call, dsl)?;
                let m = args.first().and_then(Value::as_str).unwrap_or_default();
                Ok(Value::Bool(dsl.responds_to(m) || self.defs.contains_key(m)))
            }
            "__dir__" => {
                let dir = expand_path(&self.file_str(), &self.base_dir(), &self.interp.env);
                Ok(Value::Str(dirname(&dir)))
            }
            "raise" | "fail" => {
                let (args, _, _) = self.call_args(call, dsl)?;
                let msg = args
                    .last()
                    .map_or_else(|| "unhandled exception".to_owned(), Value::to_ruby_s);
                Err(self.error(start, ErrorKind::Runtime, msg))
            }
            "lambda" | "proc" => {
                Err(self.error(start, ErrorKind::Unsupported, "lambdas are not supported"))
            }
            _ => {
                let msg = if call.is_variable_call() {
                    format!("undefined local variable or method '{name}'")
                } else {
                    format!("undefined method '{name}'")
                };
                Err(self.error(start, ErrorKind::UndefinedMethod, msg))
            }
        }
    }

    /// Hands a call (and its block) to the DSL, adding the position to a rejection. A
    /// `return` that left the block (parked by [`BlockRef`]) continues once the handler is
    /// back, whatever the handler made of the error it was given.
    fn dsl_call(
        &mut self,
        call: Call,
        block: Option<BlockArg<'pr>>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        let result = match block {
            Some(b) => {
                let saved = self.pending_return.take();
                let mut r = BlockRef {
                    run: self,
                    block: b,
                };
                let result = dsl.call(call, Some(&mut r));
                if let Some((value, at)) = std::mem::replace(&mut self.pending_return, saved) {
                    return Err(Flow::Return { value, at });
                }
                result
            }
            None => dsl.call(call, None),
        };
        result.map_err(|e| match e {
            CallError::Message(m) => self.error(start, ErrorKind::Dsl, m),
            CallError::Eval(e) => Flow::Error(*e),
        })
    }

    fn call_def(
        &mut self,
        def: &DefNode<'pr>,
        args: Vec<Value>,
        kwargs: Vec<(Value, Value)>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        let name = name_of(&def.name());
        let mut scope = HashMap::new();
        let mut args = args.into_iter();
        let mut kwargs = kwargs;
        let mut defaults = Vec::new();
        if let Some(params) = def.parameters() {
            if params.rest().is_some()
                || params.keyword_rest().is_some()
                || params.block().is_some()
                || !params.posts().is_empty()
            {
                return Err(self.error(
                    start,
                    ErrorKind::Unsupported,
                    format!("the parameters of '{name}' are not supported"),
                ));
            }
            for p in &params.requireds() {
                let Some(r) = p.as_required_parameter_node() else {
                    return Err(self.unsupported(&p, "this parameter is"));
                };
                let v = args.next().ok_or_else(|| {
                    self.error(
                        start,
                        ErrorKind::Runtime,
                        format!("wrong number of arguments calling '{name}'"),
                    )
                })?;
                scope.insert(name_of(&r.name()), v);
            }
            for p in &params.optionals() {
                let Some(o) = p.as_optional_parameter_node() else {
                    return Err(self.unsupported(&p, "this parameter is"));
                };
                match args.next() {
                    Some(v) => {
                        scope.insert(name_of(&o.name()), v);
                    }
                    None => defaults.push((name_of(&o.name()), o.value())),
                }
            }
            for p in &params.keywords() {
                if let Some(k) = p.as_optional_keyword_parameter_node() {
                    let key = name_of(&k.name());
                    if let Some(i) = kwargs
                        .iter()
                        .position(|(kk, _)| kk.as_str() == Some(key.as_str()))
                    {
                        scope.insert(key, kwargs.remove(i).1);
                    } else {
                        defaults.push((key, k.value()));
                    }
                } else if let Some(k) = p.as_required_keyword_parameter_node() {
                    let key = name_of(&k.name());
                    let i = kwargs
                        .iter()
                        .position(|(kk, _)| kk.as_str() == Some(key.as_str()))
                        .ok_or_else(|| {
                            self.error(
                                start,
                                ErrorKind::Runtime,
                                format!("missing keyword: :{key}"),
                            )
                        })?;
                    scope.insert(key, kwargs.remove(i).1);
                } else {
                    return Err(self.unsupported(&p, "this parameter is"));
                }
            }
        }
        if args.next().is_some() || !kwargs.is_empty() {
            return Err(self.error(
                start,
                ErrorKind::Runtime,
                format!("wrong number of arguments calling '{name}'"),
            ));
        }
        let saved = std::mem::replace(&mut self.scopes, vec![scope]);
        // Blocks running around the call are not the method's: `next`/`break` directly in its
        // body are invalid (prism rejects them already), and `return` ends this call.
        let saved_blocks = std::mem::replace(&mut self.block_depth, 0);
        self.def_depth += 1;
        let mut result = Ok(Value::Nil);
        for (k, node) in defaults {
            match self.eval(&node, dsl) {
                Ok(v) => {
                    self.set_local(k, v);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() {
            result = self.eval_opt(def.body(), dsl);
        }
        self.def_depth -= 1;
        self.block_depth = saved_blocks;
        self.scopes = saved;
        match result {
            Err(Flow::Return { value, .. }) => Ok(value),
            other => other,
        }
    }

    fn call_block(
        &mut self,
        dsl: &mut dyn Dsl,
        block: &BlockArg<'pr>,
        mut args: Vec<Value>,
        start: u32,
    ) -> R<Value> {
        match block {
            BlockArg::Sym(name) => {
                if args.is_empty() {
                    return Err(self.error(start, ErrorKind::Runtime, "no receiver given"));
                }
                let recv = args.remove(0);
                self.value_method(recv, name, args, None, dsl, start)
            }
            BlockArg::Node(b) => {
                let mut scope = HashMap::new();
                match b.parameters() {
                    None => {}
                    Some(Node::BlockParametersNode { .. }) => {
                        let bp = b.parameters().expect("params");
                        let bp = bp.as_block_parameters_node().expect("params");
                        if let Some(params) = bp.parameters() {
                            let names: Vec<String> = params
                                .requireds()
                                .iter()
                                .map(|p| p.as_required_parameter_node().map(|r| name_of(&r.name())))
                                .collect::<Option<_>>()
                                .ok_or_else(|| {
                                    self.error(
                                        bp.as_node().location().start(),
                                        ErrorKind::Unsupported,
                                        "destructuring block parameters is not supported",
                                    )
                                })?;
                            if params.optionals().iter().next().is_some() || params.rest().is_some()
                            {
                                return Err(self.error(
                                    bp.as_node().location().start(),
                                    ErrorKind::Unsupported,
                                    "these block parameters are not supported",
                                ));
                            }
                            if names.len() > 1
                                && args.len() == 1
                                && matches!(args[0], Value::Array(_))
                            {
                                if let Some(Value::Array(inner)) = args.pop() {
                                    args = inner;
                                }
                            }
                            let mut it = args.into_iter();
                            for n in names {
                                scope.insert(n, it.next().unwrap_or(Value::Nil));
                            }
                        }
                    }
                    Some(Node::NumberedParametersNode { .. }) => {
                        let np = b.parameters().expect("params");
                        let max = np
                            .as_numbered_parameters_node()
                            .expect("numbered")
                            .maximum();
                        if max > 1 && args.len() == 1 && matches!(args[0], Value::Array(_)) {
                            if let Some(Value::Array(inner)) = args.pop() {
                                args = inner;
                            }
                        }
                        let mut it = args.into_iter();
                        for i in 1..=max {
                            scope.insert(format!("_{i}"), it.next().unwrap_or(Value::Nil));
                        }
                    }
                    Some(Node::ItParametersNode { .. }) => {
                        scope.insert(
                            "it".to_owned(),
                            args.into_iter().next().unwrap_or(Value::Nil),
                        );
                    }
                    Some(other) => {
                        return Err(self.unsupported(&other, "these block parameters are"));
                    }
                }
                self.scopes.push(scope);
                self.block_depth += 1;
                let r = self.eval_opt(b.body(), dsl);
                self.block_depth -= 1;
                self.scopes.pop();
                match r {
                    Err(Flow::Next { value, .. }) => Ok(value),
                    other => other,
                }
            }
        }
    }

    // ----- builtin modules ------------------------------------------------------------

    fn runtime(&self, start: u32, msg: impl Into<String>) -> Flow {
        self.error(start, ErrorKind::Runtime, msg)
    }

    fn str_arg(&self, args: &[Value], i: usize, what: &str, start: u32) -> R<String> {
        match args.get(i) {
            Some(Value::Str(s)) => Ok(s.clone()),
            Some(other) => Err(self.runtime(
                start,
                format!(
                    "{what}: no implicit conversion of {} into String",
                    other.class_name()
                ),
            )),
            None => Err(self.runtime(start, format!("{what}: wrong number of arguments"))),
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
                    next.extend(
                        names
                            .iter()
                            .filter(|n| super::fnmatch::fnmatch(part, n))
                            .map(|n| join(n)),
                    );
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

    fn resolve(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir().join(path)
        }
    }

    #[allow(clippy::too_many_lines)]
    fn module_call(
        &mut self,
        module: &str,
        name: &str,
        args: Vec<Value>,
        block: Option<BlockArg<'pr>>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        let what = format!("{module}.{name}");
        match (module, name) {
            ("File", "join") => {
                let mut parts = Vec::new();
                flatten_into(args, &mut parts);
                let strs: Vec<String> = parts.iter().map(Value::to_ruby_s).collect();
                Ok(Value::Str(file_join(&strs)))
            }
            ("File", "dirname") => Ok(Value::Str(dirname(&self.str_arg(&args, 0, &what, start)?))),
            ("File", "basename") => {
                let p = self.str_arg(&args, 0, &what, start)?;
                let ext = match args.get(1) {
                    Some(_) => Some(self.str_arg(&args, 1, &what, start)?),
                    None => None,
                };
                Ok(Value::Str(basename(&p, ext.as_deref())))
            }
            ("File", "extname") => {
                let b = basename(&self.str_arg(&args, 0, &what, start)?, None);
                Ok(Value::Str(match b.rfind('.') {
                    Some(i) if i > 0 => b[i..].to_owned(),
                    _ => String::new(),
                }))
            }
            ("File", "expand_path" | "absolute_path") => {
                let p = self.str_arg(&args, 0, &what, start)?;
                let base = match args.get(1) {
                    Some(Value::Nil) | None => self.base_dir(),
                    Some(_) => PathBuf::from(expand_path(
                        &self.str_arg(&args, 1, &what, start)?,
                        &self.base_dir(),
                        &self.interp.env,
                    )),
                };
                Ok(Value::Str(expand_path(&p, &base, &self.interp.env)))
            }
            ("File", "exist?" | "exists?") => {
                let p = self.str_arg(&args, 0, &what, start)?;
                Ok(Value::Bool(self.interp.fs.exists(&self.resolve(&p))))
            }
            ("File", "file?") => {
                let p = self.str_arg(&args, 0, &what, start)?;
                Ok(Value::Bool(self.interp.fs.is_file(&self.resolve(&p))))
            }
            ("File", "symlink?") => {
                let p = self.str_arg(&args, 0, &what, start)?;
                Ok(Value::Bool(self.interp.fs.is_symlink(&self.resolve(&p))))
            }
            ("File", "readlink") => {
                let p = self.str_arg(&args, 0, &what, start)?;
                let target = self
                    .interp
                    .fs
                    .read_link(&self.resolve(&p))
                    .map_err(|e| self.runtime(start, format!("{what}('{p}'): {e}")))?;
                Ok(Value::Str(target.to_string_lossy().into_owned()))
            }
            ("Dir", "glob" | "[]") if self.interp.dir_glob => {
                let pattern = self.str_arg(&args, 0, &what, start)?;
                self.glob(&pattern, start)
            }
            ("File" | "Dir", "directory?" | "exist?") => {
                let p = self.str_arg(&args, 0, &what, start)?;
                Ok(Value::Bool(self.interp.fs.is_dir(&self.resolve(&p))))
            }
            ("File" | "IO", "read" | "readlines") => {
                let p = self.str_arg(&args, 0, &what, start)?;
                let text = self
                    .interp
                    .fs
                    .read_to_string(&self.resolve(&p))
                    .map_err(|e| self.runtime(start, format!("{what}('{p}'): {e}")))?;
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
            ("YAML", "load_file" | "safe_load_file" | "unsafe_load_file") => {
                let p = self.str_arg(&args, 0, &what, start)?;
                let Some(hook) = self.interp.yaml.clone() else {
                    return Err(self.error(
                        start,
                        ErrorKind::Unsupported,
                        format!("{what} is not available here"),
                    ));
                };
                hook(&self.resolve(&p))
                    .map_err(|e| self.runtime(start, format!("{what}('{p}'): {e}")))
            }
            ("JSON", "parse") => {
                let s = self.str_arg(&args, 0, &what, start)?;
                let j: serde_json::Value = serde_json::from_str(&s)
                    .map_err(|e| self.runtime(start, format!("JSON.parse: {e}")))?;
                Ok(Value::from_json(&j))
            }
            ("ENV", "[]") => {
                let k = self.str_arg(&args, 0, &what, start)?;
                Ok(self
                    .interp
                    .env
                    .get(&k)
                    .map_or(Value::Nil, |v| Value::Str(v.clone())))
            }
            ("ENV", "fetch") => {
                let k = self.str_arg(&args, 0, &what, start)?;
                if let Some(v) = self.interp.env.get(&k) {
                    return Ok(Value::Str(v.clone()));
                }
                if let Some(b) = block {
                    return self.call_block(dsl, &b, vec![Value::Str(k)], start);
                }
                match args.get(1) {
                    Some(d) => Ok(d.clone()),
                    None => Err(self.runtime(start, format!("key not found: \"{k}\""))),
                }
            }
            ("ENV", "key?" | "has_key?" | "include?" | "member?") => {
                let k = self.str_arg(&args, 0, &what, start)?;
                Ok(Value::Bool(self.interp.env.contains_key(&k)))
            }
            ("ENV", "to_h" | "to_hash") => {
                let mut pairs: Vec<(Value, Value)> = self
                    .interp
                    .env
                    .iter()
                    .map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone())))
                    .collect();
                pairs.sort_by_key(|a| a.0.to_ruby_s());
                Ok(Value::Hash(pairs))
            }
            // `Encoding.default_external = 'UTF-8'` (seen atop Berksfiles): harmless, ignored.
            ("Encoding", "default_external=" | "default_internal=") => {
                Ok(args.into_iter().next().unwrap_or(Value::Nil))
            }
            _ => Err(self.error(
                start,
                ErrorKind::Unsupported,
                format!("{what} is not supported"),
            )),
        }
    }

    /// Calls that mutate their receiver: `list << x`, `h[k] = v` on a local variable or a
    /// constant defined in the file (the new value is stored back), and `knife[:k] = v` on a
    /// DSL method, which becomes the DSL call `knife[]=` with `[k, v]`. `None` when the call
    /// is not one of these.
    #[allow(clippy::too_many_lines)]
    fn mutating_call(
        &mut self,
        call: &CallNode<'pr>,
        receiver: &Node<'pr>,
        name: &str,
        dsl: &mut dyn Dsl,
    ) -> R<Option<Value>> {
        enum Slot {
            Local(String),
            Const(String),
        }
        if !matches!(
            name,
            "[]=" | "<<" | "push" | "concat" | "unshift" | "store" | "merge!" | "update"
        ) {
            return Ok(None);
        }
        let start = call.location().start();
        let slot = if let Some(l) = receiver.as_local_variable_read_node() {
            Slot::Local(name_of(&l.name()))
        } else if let Some(c) = receiver
            .as_constant_read_node()
            .filter(|c| self.constants.contains_key(&name_of(&c.name())))
        {
            Slot::Const(name_of(&c.name()))
        } else if let Some(inner) = receiver
            .as_call_node()
            .filter(|c| c.receiver().is_none() && c.arguments().is_none() && c.block().is_none())
        {
            let dsl_name = format!("{}{name}", name_of(&inner.name()));
            if !dsl.responds_to(&dsl_name) {
                return Ok(None);
            }
            let (mut args, kwargs, _) = self.call_args(call, dsl)?;
            if !kwargs.is_empty() {
                args.push(Value::Hash(kwargs));
            }
            let (line, column) = self.position(start);
            let c = Call {
                name: dsl_name,
                args,
                kwargs: Vec::new(),
                line,
                column,
            };
            return dsl.call(c, None).map(Some).map_err(|e| match e {
                CallError::Message(m) => self.error(start, ErrorKind::Dsl, m),
                CallError::Eval(e) => Flow::Error(*e),
            });
        } else {
            return Ok(None);
        };
        let current = match &slot {
            Slot::Local(n) => self.get_local(n).cloned().unwrap_or(Value::Nil),
            Slot::Const(n) => self.constants.get(n).cloned().unwrap_or(Value::Nil),
        };
        let (mut args, kwargs, _) = self.call_args(call, dsl)?;
        if !kwargs.is_empty() {
            args.push(Value::Hash(kwargs));
        }
        let (updated, result) = match (current, name) {
            (Value::Array(mut items), "<<" | "push") => {
                items.extend(args);
                (Value::Array(items.clone()), Value::Array(items))
            }
            (Value::Array(mut items), "unshift") => {
                items.splice(0..0, args);
                (Value::Array(items.clone()), Value::Array(items))
            }
            (Value::Array(mut items), "concat") => {
                for a in args {
                    match a {
                        Value::Array(more) => items.extend(more),
                        other => {
                            return Err(self.runtime(
                                start,
                                format!(
                                    "no implicit conversion of {} into Array",
                                    other.class_name()
                                ),
                            ));
                        }
                    }
                }
                (Value::Array(items.clone()), Value::Array(items))
            }
            (Value::Array(mut items), "[]=") => match args.as_slice() {
                [Value::Int(i), v] => {
                    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                    let idx = usize::try_from(if *i < 0 { len + i } else { *i }).map_err(|_| {
                        self.runtime(start, format!("index {i} too small for array"))
                    })?;
                    if idx >= MAX_BUILT_SIZE {
                        return Err(self.runtime(start, format!("index {i} too large")));
                    }
                    if idx >= items.len() {
                        items.resize(idx + 1, Value::Nil);
                    }
                    items[idx] = v.clone();
                    (Value::Array(items), v.clone())
                }
                _ => {
                    return Err(self.runtime(start, "Array#[]= needs an Integer index and a value"));
                }
            },
            (Value::Hash(mut pairs), "[]=" | "store") => match <[Value; 2]>::try_from(args) {
                Ok([k, v]) => {
                    hash_insert(&mut pairs, k, v.clone());
                    (Value::Hash(pairs), v)
                }
                Err(_) => {
                    return Err(self.runtime(start, format!("Hash#{name} needs a key and a value")));
                }
            },
            (Value::Hash(mut pairs), "merge!" | "update") => {
                for a in args {
                    let Value::Hash(more) = a else {
                        return Err(self.runtime(start, "Hash#merge! needs a Hash"));
                    };
                    for (k, v) in more {
                        hash_insert(&mut pairs, k, v);
                    }
                }
                (Value::Hash(pairs.clone()), Value::Hash(pairs))
            }
            (Value::Str(mut s), "<<" | "concat") => {
                for a in args {
                    match a {
                        Value::Str(more) => s.push_str(&more),
                        other => {
                            return Err(self.runtime(
                                start,
                                format!(
                                    "no implicit conversion of {} into String",
                                    other.class_name()
                                ),
                            ));
                        }
                    }
                }
                (Value::Str(s.clone()), Value::Str(s))
            }
            (Value::Nil, _) => {
                return Err(self.runtime(start, format!("undefined method '{name}' for nil")));
            }
            (other, _) => {
                return Err(self.error(
                    start,
                    ErrorKind::Unsupported,
                    format!("method '{name}' of {} is not supported", other.class_name()),
                ));
            }
        };
        match slot {
            Slot::Local(n) => self.set_local(n, updated),
            Slot::Const(n) => {
                self.constants.insert(n, updated);
            }
        }
        Ok(Some(result))
    }

    // ----- methods on values ----------------------------------------------------------

    fn arity(&self, args: &[Value], n: usize, recv: &Value, name: &str, start: u32) -> R<()> {
        if args.len() == n {
            Ok(())
        } else {
            Err(self.runtime(
                start,
                format!(
                    "wrong number of arguments for {}#{name} (given {}, expected {n})",
                    recv.class_name(),
                    args.len()
                ),
            ))
        }
    }

    #[allow(clippy::too_many_lines)]
    fn value_method(
        &mut self,
        recv: Value,
        name: &str,
        args: Vec<Value>,
        block: Option<BlockArg<'pr>>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        // Methods every value has.
        match name {
            "nil?" => return Ok(Value::Bool(recv == Value::Nil)),
            "==" => {
                return Ok(Value::Bool(
                    args.first().is_some_and(|a| values_eq(&recv, a)),
                ));
            }
            "!=" => {
                return Ok(Value::Bool(
                    !args.first().is_some_and(|a| values_eq(&recv, a)),
                ));
            }
            "!" => return Ok(Value::Bool(!recv.truthy())),
            "to_s" if !matches!(recv, Value::Int(_)) || args.is_empty() => {
                return Ok(Value::Str(recv.to_ruby_s()));
            }
            "inspect" => return Ok(Value::Str(recv.inspect())),
            "freeze" | "dup" | "clone" | "itself" => return Ok(recv),
            "is_a?" | "kind_of?" => {
                return Err(self.error(
                    start,
                    ErrorKind::Unsupported,
                    format!("{name} is not supported"),
                ));
            }
            "respond_to?" => {
                return Err(self.error(
                    start,
                    ErrorKind::Unsupported,
                    "respond_to? with a receiver is not supported",
                ));
            }
            _ => {}
        }
        if FORBIDDEN.contains(&name) {
            return Err(self.error(
                start,
                ErrorKind::NotAllowed,
                format!("{name} is not allowed"),
            ));
        }
        let class = recv.class_name();
        let undefined = |this: &Self| {
            let kind = if recv == Value::Nil {
                ErrorKind::Runtime
            } else {
                ErrorKind::Unsupported
            };
            let msg = if recv == Value::Nil {
                format!("undefined method '{name}' for nil")
            } else {
                format!("method '{name}' of {class} is not supported")
            };
            this.error(start, kind, msg)
        };
        match recv {
            Value::Nil => match name {
                "to_a" => Ok(Value::Array(vec![])),
                "to_i" => Ok(Value::Int(0)),
                "empty?" => Err(undefined(self)),
                _ => Err(undefined(self)),
            },
            Value::Str(ref s) => {
                let s = s.clone();
                match name {
                    "+" => match args.first() {
                        Some(Value::Str(o)) => Ok(Value::Str(s + o)),
                        Some(o) => Err(self.runtime(
                            start,
                            format!("no implicit conversion of {} into String", o.class_name()),
                        )),
                        None => Err(undefined(self)),
                    },
                    "*" => match args.first() {
                        Some(Value::Int(n)) if *n >= 0 => {
                            let n = usize::try_from(*n).unwrap_or(usize::MAX);
                            if s.len().saturating_mul(n) > MAX_BUILT_SIZE {
                                return Err(self.runtime(start, "String#*: result too large"));
                            }
                            Ok(Value::Str(s.repeat(n)))
                        }
                        _ => Err(self.runtime(start, "String#* needs a non-negative Integer")),
                    },
                    "strip" => Ok(Value::Str(
                        s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0')
                            .to_owned(),
                    )),
                    "lstrip" => Ok(Value::Str(
                        s.trim_start_matches(|c: char| c.is_ascii_whitespace())
                            .to_owned(),
                    )),
                    "rstrip" => Ok(Value::Str(
                        s.trim_end_matches(|c: char| c.is_ascii_whitespace() || c == '\0')
                            .to_owned(),
                    )),
                    "chomp" => {
                        if let Some(Value::Str(suffix)) = args.first() {
                            return Ok(Value::Str(
                                s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_owned(),
                            ));
                        }
                        let t = s
                            .strip_suffix("\r\n")
                            .or_else(|| s.strip_suffix('\n'))
                            .or_else(|| s.strip_suffix('\r'))
                            .unwrap_or(&s);
                        Ok(Value::Str(t.to_owned()))
                    }
                    "upcase" => Ok(Value::Str(s.to_uppercase())),
                    "downcase" => Ok(Value::Str(s.to_lowercase())),
                    "capitalize" => {
                        let mut c = s.chars();
                        Ok(Value::Str(match c.next() {
                            Some(f) => {
                                f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase()
                            }
                            None => String::new(),
                        }))
                    }
                    "to_str" => Ok(Value::Str(s)),
                    "to_sym" | "intern" => Ok(Value::Sym(s)),
                    "to_i" => {
                        let t = s.trim_start();
                        let end = t
                            .char_indices()
                            .find(|&(i, c)| {
                                !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+')))
                            })
                            .map_or(t.len(), |(i, _)| i);
                        Ok(Value::Int(t[..end].parse().unwrap_or(0)))
                    }
                    "to_f" => Ok(Value::Float(s.trim().parse().unwrap_or(0.0))),
                    "empty?" => Ok(Value::Bool(s.is_empty())),
                    "length" | "size" => Ok(Value::Int(
                        i64::try_from(s.chars().count()).unwrap_or(i64::MAX),
                    )),
                    "start_with?" | "end_with?" | "include?" => {
                        let mut hit = false;
                        for a in &args {
                            let Value::Str(p) = a else {
                                return Err(self.runtime(
                                    start,
                                    format!(
                                        "no implicit conversion of {} into String",
                                        a.class_name()
                                    ),
                                ));
                            };
                            hit |= match name {
                                "start_with?" => s.starts_with(p.as_str()),
                                "end_with?" => s.ends_with(p.as_str()),
                                _ => s.contains(p.as_str()),
                            };
                        }
                        Ok(Value::Bool(hit))
                    }
                    "split" => {
                        let parts: Vec<Value> = match args.first() {
                            None | Some(Value::Nil) => s
                                .split_ascii_whitespace()
                                .map(|p| Value::Str(p.to_owned()))
                                .collect(),
                            Some(Value::Str(sep)) if sep == " " => s
                                .split_ascii_whitespace()
                                .map(|p| Value::Str(p.to_owned()))
                                .collect(),
                            Some(Value::Str(sep)) => {
                                let mut v: Vec<Value> = s
                                    .split(sep.as_str())
                                    .map(|p| Value::Str(p.to_owned()))
                                    .collect();
                                while v.last() == Some(&Value::Str(String::new())) {
                                    v.pop();
                                }
                                v
                            }
                            Some(o) => {
                                return Err(self.runtime(
                                    start,
                                    format!(
                                        "String#split: unsupported separator {}",
                                        o.class_name()
                                    ),
                                ));
                            }
                        };
                        Ok(Value::Array(parts))
                    }
                    "lines" => Ok(Value::Array(
                        s.split_inclusive('\n')
                            .map(|l| Value::Str(l.to_owned()))
                            .collect(),
                    )),
                    "sub" | "gsub" | "tr" | "delete" => {
                        let pat = self.str_arg(&args, 0, name, start)?;
                        if name == "delete" {
                            return Ok(Value::Str(
                                s.chars().filter(|c| !pat.contains(*c)).collect(),
                            ));
                        }
                        let rep = self.str_arg(&args, 1, name, start)?;
                        Ok(Value::Str(match name {
                            "sub" => s.replacen(pat.as_str(), &rep, 1),
                            "gsub" => s.replace(pat.as_str(), &rep),
                            _ => {
                                let from: Vec<char> = pat.chars().collect();
                                let to: Vec<char> = rep.chars().collect();
                                s.chars()
                                    .map(|c| {
                                        from.iter().position(|f| *f == c).map_or(c, |i| {
                                            to.get(i).or(to.last()).copied().unwrap_or(c)
                                        })
                                    })
                                    .collect()
                            }
                        }))
                    }
                    "[]" => match args.first() {
                        Some(Value::Int(i)) => {
                            let chars: Vec<char> = s.chars().collect();
                            let idx = if *i < 0 {
                                i64::try_from(chars.len()).unwrap_or(0) + i
                            } else {
                                *i
                            };
                            Ok(usize::try_from(idx)
                                .ok()
                                .and_then(|i| chars.get(i))
                                .map_or(Value::Nil, |c| Value::Str(c.to_string())))
                        }
                        Some(Value::Str(sub)) => Ok(if s.contains(sub.as_str()) {
                            Value::Str(sub.clone())
                        } else {
                            Value::Nil
                        }),
                        _ => Err(undefined(self)),
                    },
                    "<" | ">" | "<=" | ">=" => self.compare(&Value::Str(s), name, &args, start),
                    _ => Err(undefined(self)),
                }
            }
            Value::Sym(ref s) => match name {
                "to_sym" => Ok(recv.clone()),
                "to_proc" => Err(undefined(self)),
                "length" | "size" => Ok(Value::Int(
                    i64::try_from(s.chars().count()).unwrap_or(i64::MAX),
                )),
                "upcase" => Ok(Value::Sym(s.to_uppercase())),
                "downcase" => Ok(Value::Sym(s.to_lowercase())),
                "empty?" => Ok(Value::Bool(s.is_empty())),
                _ => Err(undefined(self)),
            },
            Value::Int(i) => {
                match name {
                    "+" | "-" | "*" | "/" | "%" => match args.first() {
                        Some(Value::Int(j)) => {
                            let r = match name {
                                "+" => i.checked_add(*j),
                                "-" => i.checked_sub(*j),
                                "*" => i.checked_mul(*j),
                                "/" => i.checked_div_euclid(*j),
                                _ => i.checked_rem_euclid(*j),
                            };
                            r.map(Value::Int).ok_or_else(|| {
                                self.runtime(start, "integer overflow or division by zero")
                            })
                        }
                        #[allow(clippy::cast_precision_loss)]
                        Some(Value::Float(f)) => Ok(Value::Float(match name {
                            "+" => i as f64 + f,
                            "-" => i as f64 - f,
                            "*" => i as f64 * f,
                            "/" => i as f64 / f,
                            _ => (i as f64) % f,
                        })),
                        _ => Err(self.runtime(start, format!("Integer#{name} needs a number"))),
                    },
                    "-@" => Ok(Value::Int(-i)),
                    "<" | ">" | "<=" | ">=" => self.compare(&recv, name, &args, start),
                    "to_i" => Ok(Value::Int(i)),
                    #[allow(clippy::cast_precision_loss)]
                    "to_f" => Ok(Value::Float(i as f64)),
                    "to_s" => Ok(Value::Str(i.to_string())),
                    "zero?" => Ok(Value::Bool(i == 0)),
                    "times" => {
                        let b = self.need_block(block, name, start)?;
                        if i > MAX_ITERATIONS {
                            return Err(self.runtime(
                            start,
                            format!("{i}.times: more than {MAX_ITERATIONS} iterations (sandbox limit)"),
                        ));
                        }
                        for n in 0..i.max(0) {
                            self.call_block(dsl, &b, vec![Value::Int(n)], start)?;
                        }
                        Ok(Value::Int(i))
                    }
                    _ => Err(undefined(self)),
                }
            }
            Value::Float(f) => match name {
                "<" | ">" | "<=" | ">=" => self.compare(&recv, name, &args, start),
                #[allow(clippy::cast_possible_truncation)]
                "to_i" => Ok(Value::Int(f as i64)),
                "to_f" => Ok(Value::Float(f)),
                _ => Err(undefined(self)),
            },
            Value::Bool(_) | Value::Opaque(_) => Err(undefined(self)),
            Value::Array(items) => self.array_method(items, name, args, block, dsl, start),
            Value::Hash(pairs) => self.hash_method(pairs, name, args, block, dsl, start),
        }
    }

    fn compare(&self, recv: &Value, op: &str, args: &[Value], start: u32) -> R<Value> {
        #[allow(clippy::cast_precision_loss)]
        let ord = match (recv, args.first()) {
            (Value::Int(a), Some(Value::Int(b))) => a.partial_cmp(b),
            (Value::Int(a), Some(Value::Float(b))) => (*a as f64).partial_cmp(b),
            (Value::Float(a), Some(Value::Int(b))) => a.partial_cmp(&(*b as f64)),
            (Value::Float(a), Some(Value::Float(b))) => a.partial_cmp(b),
            (Value::Str(a), Some(Value::Str(b))) => a.partial_cmp(b),
            (_, other) => {
                return Err(self.runtime(
                    start,
                    format!(
                        "comparison of {} with {} failed",
                        recv.class_name(),
                        other.map_or("nothing", Value::class_name)
                    ),
                ));
            }
        };
        let ord = ord.ok_or_else(|| self.runtime(start, "comparison failed"))?;
        Ok(Value::Bool(match op {
            "<" => ord.is_lt(),
            ">" => ord.is_gt(),
            "<=" => ord.is_le(),
            _ => ord.is_ge(),
        }))
    }

    fn need_block(&self, block: Option<BlockArg<'pr>>, name: &str, start: u32) -> R<BlockArg<'pr>> {
        block.ok_or_else(|| {
            self.error(
                start,
                ErrorKind::Unsupported,
                format!("{name} without a block is not supported"),
            )
        })
    }

    #[allow(clippy::too_many_lines)]
    fn array_method(
        &mut self,
        items: Vec<Value>,
        name: &str,
        args: Vec<Value>,
        block: Option<BlockArg<'pr>>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        let recv_class = "Array";
        match name {
            "each" => {
                let b = self.need_block(block, name, start)?;
                for it in &items {
                    self.call_block(dsl, &b, vec![it.clone()], start)?;
                }
                Ok(Value::Array(items))
            }
            "each_with_index" => {
                let b = self.need_block(block, name, start)?;
                for (i, it) in items.iter().enumerate() {
                    self.call_block(
                        dsl,
                        &b,
                        vec![it.clone(), Value::Int(i64::try_from(i).unwrap_or(i64::MAX))],
                        start,
                    )?;
                }
                Ok(Value::Array(items))
            }
            "map" | "collect" | "flat_map" => {
                let b = self.need_block(block, name, start)?;
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    let v = self.call_block(dsl, &b, vec![it], start)?;
                    match (name, v) {
                        ("flat_map", Value::Array(inner)) => out.extend(inner),
                        (_, v) => out.push(v),
                    }
                }
                Ok(Value::Array(out))
            }
            "select" | "filter" | "reject" | "find" | "detect" | "any?" | "all?" | "count"
                if block.is_some() =>
            {
                let b = self.need_block(block, name, start)?;
                let mut out = Vec::new();
                for it in items {
                    let keep = self.call_block(dsl, &b, vec![it.clone()], start)?.truthy();
                    match name {
                        "find" | "detect" if keep => return Ok(it),
                        "any?" if keep => return Ok(Value::Bool(true)),
                        "all?" if !keep => return Ok(Value::Bool(false)),
                        "reject" if !keep => out.push(it),
                        "select" | "filter" | "count" if keep => out.push(it),
                        _ => {}
                    }
                }
                Ok(match name {
                    "find" | "detect" => Value::Nil,
                    "any?" => Value::Bool(false),
                    "all?" => Value::Bool(true),
                    "count" => Value::Int(i64::try_from(out.len()).unwrap_or(i64::MAX)),
                    _ => Value::Array(out),
                })
            }
            "first" => Ok(items.into_iter().next().unwrap_or(Value::Nil)),
            "last" => Ok(items.into_iter().last().unwrap_or(Value::Nil)),
            "length" | "size" | "count" => {
                Ok(Value::Int(i64::try_from(items.len()).unwrap_or(i64::MAX)))
            }
            "empty?" => Ok(Value::Bool(items.is_empty())),
            "any?" => Ok(Value::Bool(items.iter().any(Value::truthy))),
            "include?" | "member?" => Ok(Value::Bool(
                args.first()
                    .is_some_and(|a| items.iter().any(|i| values_eq(i, a))),
            )),
            "join" => {
                let sep = match args.first() {
                    Some(Value::Str(s)) => s.clone(),
                    None | Some(Value::Nil) => String::new(),
                    Some(o) => {
                        return Err(self.runtime(
                            start,
                            format!("no implicit conversion of {} into String", o.class_name()),
                        ));
                    }
                };
                let mut flat = Vec::new();
                flatten_into(items, &mut flat);
                Ok(Value::Str(
                    flat.iter()
                        .map(Value::to_ruby_s)
                        .collect::<Vec<_>>()
                        .join(&sep),
                ))
            }
            "flatten" => {
                let mut flat = Vec::new();
                flatten_into(items, &mut flat);
                Ok(Value::Array(flat))
            }
            "compact" => Ok(Value::Array(
                items.into_iter().filter(|v| *v != Value::Nil).collect(),
            )),
            "uniq" => {
                let mut out: Vec<Value> = Vec::new();
                for it in items {
                    if !out.contains(&it) {
                        out.push(it);
                    }
                }
                Ok(Value::Array(out))
            }
            "sort" => {
                let mut v = items;
                if v.iter().all(|x| matches!(x, Value::Str(_))) {
                    v.sort_by_key(Value::to_ruby_s);
                } else if v.iter().all(|x| matches!(x, Value::Int(_))) {
                    v.sort_by_key(|x| if let Value::Int(i) = x { *i } else { 0 });
                } else {
                    return Err(self.runtime(start, "Array#sort: elements are not comparable"));
                }
                Ok(Value::Array(v))
            }
            "reverse" => Ok(Value::Array(items.into_iter().rev().collect())),
            "to_a" | "entries" => Ok(Value::Array(items)),
            "+" => match args.into_iter().next() {
                Some(Value::Array(o)) => Ok(Value::Array(items.into_iter().chain(o).collect())),
                _ => Err(self.runtime(start, "Array#+ needs an Array")),
            },
            "-" => match args.into_iter().next() {
                Some(Value::Array(o)) => Ok(Value::Array(
                    items.into_iter().filter(|i| !o.contains(i)).collect(),
                )),
                _ => Err(self.runtime(start, "Array#- needs an Array")),
            },
            "[]" | "at" => {
                self.arity(&args, 1, &Value::Array(vec![]), name, start)?;
                match args[0] {
                    Value::Int(i) => {
                        let idx = if i < 0 {
                            i64::try_from(items.len()).unwrap_or(0) + i
                        } else {
                            i
                        };
                        Ok(usize::try_from(idx)
                            .ok()
                            .and_then(|i| items.get(i))
                            .cloned()
                            .unwrap_or(Value::Nil))
                    }
                    ref o => Err(self.runtime(
                        start,
                        format!("no implicit conversion of {} into Integer", o.class_name()),
                    )),
                }
            }
            "to_h" => {
                let mut pairs = Vec::new();
                for it in items {
                    match it {
                        Value::Array(kv) if kv.len() == 2 => {
                            let mut kv = kv.into_iter();
                            let (k, v) = (
                                kv.next().unwrap_or(Value::Nil),
                                kv.next().unwrap_or(Value::Nil),
                            );
                            hash_insert(&mut pairs, k, v);
                        }
                        _ => return Err(self.runtime(start, "Array#to_h: wrong element type")),
                    }
                }
                Ok(Value::Hash(pairs))
            }
            _ => Err(self.error(
                start,
                ErrorKind::Unsupported,
                format!("method '{name}' of {recv_class} is not supported"),
            )),
        }
    }

    fn hash_method(
        &mut self,
        pairs: Vec<(Value, Value)>,
        name: &str,
        args: Vec<Value>,
        block: Option<BlockArg<'pr>>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        let lookup = |k: &Value| {
            pairs
                .iter()
                .find(|(kk, _)| values_eq(kk, k))
                .map(|(_, v)| v.clone())
        };
        match name {
            "[]" | "dig" => {
                let Some(k) = args.first() else {
                    return Err(self.runtime(start, "Hash#[]: wrong number of arguments"));
                };
                let v = lookup(k).unwrap_or(Value::Nil);
                if name == "dig" && args.len() > 1 && v != Value::Nil {
                    return self.value_method(v, "dig", args[1..].to_vec(), None, dsl, start);
                }
                Ok(v)
            }
            "fetch" => {
                let Some(k) = args.first() else {
                    return Err(self.runtime(start, "Hash#fetch: wrong number of arguments"));
                };
                if let Some(v) = lookup(k) {
                    return Ok(v);
                }
                if let Some(b) = block {
                    return self.call_block(dsl, &b, vec![k.clone()], start);
                }
                args.get(1)
                    .cloned()
                    .ok_or_else(|| self.runtime(start, format!("key not found: {}", k.inspect())))
            }
            "key?" | "has_key?" | "include?" | "member?" => Ok(Value::Bool(
                args.first().is_some_and(|k| lookup(k).is_some()),
            )),
            "keys" => Ok(Value::Array(pairs.into_iter().map(|(k, _)| k).collect())),
            "values" => Ok(Value::Array(pairs.into_iter().map(|(_, v)| v).collect())),
            "empty?" => Ok(Value::Bool(pairs.is_empty())),
            "length" | "size" | "count" => {
                Ok(Value::Int(i64::try_from(pairs.len()).unwrap_or(i64::MAX)))
            }
            "to_h" | "to_hash" => Ok(Value::Hash(pairs)),
            "merge" => {
                let mut out = pairs;
                for a in args {
                    let Value::Hash(o) = a else {
                        return Err(self.runtime(start, "Hash#merge needs a Hash"));
                    };
                    for (k, v) in o {
                        hash_insert(&mut out, k, v);
                    }
                }
                Ok(Value::Hash(out))
            }
            "each" | "each_pair" | "map" | "collect" => {
                let b = self.need_block(block, name, start)?;
                let mut out = Vec::new();
                for (k, v) in &pairs {
                    out.push(self.call_block(
                        dsl,
                        &b,
                        vec![Value::Array(vec![k.clone(), v.clone()])],
                        start,
                    )?);
                }
                Ok(if matches!(name, "map" | "collect") {
                    Value::Array(out)
                } else {
                    Value::Hash(pairs)
                })
            }
            "to_a" => Ok(Value::Array(
                pairs
                    .into_iter()
                    .map(|(k, v)| Value::Array(vec![k, v]))
                    .collect(),
            )),
            _ => Err(self.error(
                start,
                ErrorKind::Unsupported,
                format!("method '{name}' of Hash is not supported"),
            )),
        }
    }
}

/// Completes a `break` from the block given to a method: the method call returns its value.
/// Only that block's `break` can arrive here: nested blocks' are completed by their own calls,
/// and DSL blocks and `def` bodies never let one out.
fn complete_break(result: R<Value>) -> R<Value> {
    match result {
        Err(Flow::Break { value, .. }) => Ok(value),
        other => other,
    }
}

fn values_eq(a: &Value, b: &Value) -> bool {
    #[allow(clippy::cast_precision_loss)]
    match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        _ => a == b,
    }
}

fn hash_insert(pairs: &mut Vec<(Value, Value)>, k: Value, v: Value) {
    if let Some(slot) = pairs.iter_mut().find(|(kk, _)| *kk == k) {
        slot.1 = v;
    } else {
        pairs.push((k, v));
    }
}

fn flatten_into(items: Vec<Value>, out: &mut Vec<Value>) {
    for it in items {
        match it {
            Value::Array(inner) => flatten_into(inner, out),
            other => out.push(other),
        }
    }
}

/// Ruby's `File.join`: one `/` between parts, however many the parts bring.
fn file_join(parts: &[String]) -> String {
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
fn dirname(p: &str) -> String {
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
fn basename(p: &str, ext: Option<&str>) -> String {
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
fn expand_path(p: &str, base: &Path, env: &HashMap<String, String>) -> String {
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
mod path_tests {
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
