//! Positioned errors and warnings of the evaluator.

use std::path::PathBuf;

/// What kind of failure an [`EvalError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Ruby syntax error reported by prism.
    Syntax,
    /// Valid Ruby that this sandbox does not evaluate (backticks, `case`, regexps, ...).
    Unsupported,
    /// A call that is deliberately forbidden (`system`, `eval`, `exec`, ...).
    NotAllowed,
    /// A method or variable that neither the DSL nor the builtins know.
    UndefinedMethod,
    /// A Ruby runtime error (`nil.strip`, missing file, `ENV.fetch` without default, `raise`).
    /// Only these are caught by a `rescue` modifier, as Ruby would.
    Runtime,
    /// A DSL handler rejected the call (bad argument, invalid version, ...).
    Dsl,
    /// A sandbox limit was reached (steps, nesting, sizes, file reads; see the
    /// [module docs](crate::ruby#limits)). Never caught by `rescue`.
    Limit,
}

/// An evaluation error with the file, the 1-based line and column, and what went wrong.
///
/// Displays as `path:line:column: message`, e.g.
/// `metadata.rb:12:3: backtick commands are not supported`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct EvalError {
    /// The file being evaluated (as given by the caller).
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// The category of failure.
    pub kind: ErrorKind,
    /// Human-readable description of the construct or failure.
    pub message: String,
}

/// A non-fatal finding (for example a U+00A0 no-break space treated as a space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file being evaluated.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// What was noticed.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Why a DSL handler refused a call; the interpreter adds the position.
#[derive(Debug)]
pub enum CallError {
    /// A message for the user; reported as an [`ErrorKind::Dsl`] error at the call.
    Message(String),
    /// An error from evaluating a block the handler ran; propagated unchanged.
    Eval(Box<EvalError>),
}

impl From<EvalError> for CallError {
    fn from(e: EvalError) -> Self {
        CallError::Eval(Box::new(e))
    }
}

impl From<String> for CallError {
    fn from(s: String) -> Self {
        CallError::Message(s)
    }
}

impl From<&str> for CallError {
    fn from(s: &str) -> Self {
        CallError::Message(s.to_owned())
    }
}
