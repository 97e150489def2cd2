//! A sandboxed evaluator for the small Ruby DSLs Chef tooling uses: `metadata.rb`,
//! `knife.rb`/`config.rb` and `Berksfile`.
//!
//! The source is parsed once with [prism](https://github.com/ruby/prism) (Ruby's own parser, via
//! the `ruby-prism` crate) and the syntax tree is walked directly. Nothing is ever executed: every
//! method without a receiver goes to a caller-supplied [`Dsl`] (a table of allowed calls), and a
//! fixed set of harmless builtins covers what real files use (`File.join`, `ENV['X']`,
//! `%w[..].each do |p| .. end`, string methods, ...). Anything else is an [`EvalError`] naming the
//! file, line, column and construct, never a silent skip. `ENV` is whatever the caller passes
//! (empty by default), file access goes through a [`FileSystem`], and `YAML.load_file` through an
//! optional hook.
//!
//! ```
//! use chef_api::ruby::{Call, CallError, Dsl, Block, Interpreter, Value};
//! use std::path::Path;
//!
//! #[derive(Default)]
//! struct Knife { settings: Vec<(String, Value)> }
//! impl Dsl for Knife {
//!     fn responds_to(&self, name: &str) -> bool { matches!(name, "node_name" | "chef_server_url") }
//!     fn call(&mut self, call: Call, _block: Option<&mut dyn Block>) -> Result<Value, CallError> {
//!         let v = call.args.into_iter().next().unwrap_or(Value::Nil);
//!         self.settings.push((call.name, v));
//!         Ok(Value::Nil)
//!     }
//! }
//!
//! let src = "SERVER = ENV['CHEF_SERVER'] || 'dev'\nnode_name 'pivotal'\nchef_server_url \"https://#{SERVER}.example\"\n";
//! let mut knife = Knife::default();
//! let interp = Interpreter::new().with_env([("CHEF_SERVER".to_owned(), "eu".to_owned())]);
//! interp.eval(src, Path::new("knife.rb"), &mut knife).unwrap();
//! assert_eq!(knife.settings[1].1, Value::Str("https://eu.example".into()));
//! ```

mod error;
mod eval;
mod value;

pub use error::{CallError, ErrorKind, EvalError, Warning};
pub use eval::{Block, Call, Dsl, Evaluation, FileSystem, Interpreter, StdFs, YamlLoader};
pub use value::Value;

#[cfg(test)]
mod tests;
