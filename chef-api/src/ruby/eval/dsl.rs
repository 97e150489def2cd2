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

/// What a DSL does with a receiver-less call it does not respond to (Ruby's
/// `method_missing`), see [`Dsl::method_missing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Ruby's `NoMethodError`: a positioned [`ErrorKind::UndefinedMethod`] error.
    ///
    /// [`ErrorKind::UndefinedMethod`]: super::super::ErrorKind::UndefinedMethod
    Undefined,
    /// The call is ignored (it returns `nil`) with this warning, which the evaluator
    /// positions at the call.
    Ignored(String),
}

/// The table of calls a file may make without a receiver.
///
/// Besides plain names, a DSL may answer [`Dsl::responds_to`] for two derived forms:
///
/// * `"NAME[]="`: `NAME[k] = v` (`knife[:aws_region] = 'eu-west-1'`) becomes the call `NAME[]=`
///   with `[k, v]`, and `NAME[k1][k2] = v` the call `NAME[]=` with `[k1, k2, v]`;
/// * `"NAME[]"`: a read `NAME[k1]...[kn]` (`v = default["a"]["b"]`) becomes the call `NAME[]`
///   with `[k1, ..., kn]` (without it, `NAME` is called and indexed as a plain value);
/// * `"NAME.KEY"`: a configuration context, as Mixlib::Config has (`knife.editor 'vim'`,
///   `chef_zero.enabled true`, `knife.editor = 'vim'`, a bare `knife.editor` reads): the call
///   `NAME.KEY` with the arguments (none for a read);
/// * `"OBJECT#METHOD"`: a method called on [`Value::Opaque`]`(OBJECT)`, an object the DSL
///   handed to a block (chef-cli's `default_source :supermarket do |s| s.preferred_for "x"
///   end`, where the DSL calls the block with `Value::Opaque("default_source")`): the call
///   `OBJECT#METHOD` with the arguments. A method the DSL does not answer is the value's.
pub trait Dsl {
    /// Whether the DSL has this method (also what `respond_to?(:name)` answers).
    fn responds_to(&self, name: &str) -> bool;
    /// Handles one call. Return [`CallError::Message`] to reject it; the evaluator adds the
    /// file, line and column.
    fn call(&mut self, call: Call, block: Option<&mut dyn Block>) -> Result<Value, CallError>;
    /// A receiver-less call the DSL does not respond to and no built-in handles, its
    /// arguments already evaluated (as Ruby evaluates them before `method_missing`);
    /// `block_given` says whether a block came with it. Default: [`Missing::Undefined`].
    fn method_missing(&mut self, call: &Call, block_given: bool) -> Missing {
        let _ = (call, block_given);
        Missing::Undefined
    }
    /// Whether this DSL is a Chef configuration (knife.rb, config.rb): then `Chef::Config` and
    /// `ChefConfig::Config` stand for its settings (`Chef::Config[:node_name]`,
    /// `Chef::Config[:x] = v`, `Chef::Config.x`) and `Chef::Config.from_file(path)` (or a bare
    /// `from_file(path)`) evaluates another configuration file against it. Default: `false`.
    fn is_chef_config(&self) -> bool {
        false
    }
}
