//! The API a DSL is written against: the [`Call`]s a file makes without a receiver, the
//! [`Dsl`] table that handles them and the [`Block`]s they may carry. Each DSL (metadata.rb,
//! knife.rb, Berksfile, ...) is one such table of handlers.

use super::super::error::{CallError, EvalError};
use super::super::value::Value;

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
