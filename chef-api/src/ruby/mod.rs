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
//! # What is evaluated
//!
//! * Literals: `nil`, booleans, integers, floats, strings (with `#{}` interpolation and
//!   heredocs), symbols, `%w[]`/`%i[]`, arrays, hashes (`k: v` and `'k' => v`), `__FILE__`,
//!   `__dir__`, `__LINE__`, `STDOUT`/`STDERR`/`$stdout`/`$stderr` (as [`Value::Opaque`]).
//! * Local variables, constants (`CHEF_SERVER = ENV['X'] || "d"`), instance variables
//!   (`@base`, one set shared by the file and its `def` helpers, as the file's `self` is one
//!   object), `||=`, `+=`, `&&`, `||`, `!`, `not`, ternaries, `if`/`unless`/`elsif`/`else`
//!   (statement and modifier), `case/when`, `begin/rescue` and `rescue` modifiers (which catch
//!   only Ruby runtime errors such as a missing file, never a sandbox refusal), `defined?`,
//!   `def` helpers with required, optional, `*rest`, keyword and `**opts` parameters
//!   (keywords given to a helper that takes none arrive as a last hash, as in Ruby 3).
//! * Calls with or without parentheses, keyword arguments, splats, blocks (`do |p| .. end`,
//!   `{ |p| .. }`, `&:sym`, `_1`, `it`) on `each`, `each_with_index`, `map`, `select`,
//!   `reject`, `find`, `any?`, `all?`, `Integer#times`, hash `each`/`map`; common `String`,
//!   `Array`, `Hash` and `Integer` methods; in-place `<<`, `push`, `concat`, `[]=`, `merge!` on
//!   locals/constants.
//! * `next [value]` (ends one run of a block with that value), `break [value]` (ends the
//!   iterating call, which returns the value; in a block given to the DSL it ends the block) and
//!   `return [value]` in a `def` body (also from a block inside it), as in Ruby. Outside a
//!   block, or `return` outside a `def`, they are positioned errors.
//! * `require` of standard libraries (`yaml`, `json`, ...) is accepted and ignored; any other
//!   `require` or `require_relative` is ignored with a [`Warning`] (nothing is ever loaded, so
//!   what it would define stays undefined); `respond_to?(:m)` asks the DSL;
//!   `puts`/`warn`/`p` are ignored; `format`/`sprintf`/`String#%` format as Ruby does.
//! * `instance_eval(string[, file])` without a block evaluates the string in this same sandbox
//!   against the same DSL (as the file it was read from with `IO.read(path)`, so errors point
//!   into it); in a Chef configuration ([`Dsl::is_chef_config`]) `Chef::Config.from_file(path)`
//!   and `from_file(path)` do the same with a file. Includes nest at most 16 deep.
//! * A receiver-less call nothing handles goes to [`Dsl::method_missing`], which may ignore it
//!   with a warning (metadata.rb does, as Chef does) instead of the `undefined method` error.
//! * `File.join/dirname/basename/extname/expand_path/exist?/file?/directory?/symlink?/readlink/read/readlines`,
//!   `IO.read`, also as `::File`/`::IO`; `Dir.pwd`, `Dir.home`, `Dir.glob`/`Dir[]` (when enabled
//!   with [`Interpreter::with_dir_glob`]: `*`, `?`, `[..]`, `**/` and `{a,b}`, only under the
//!   working directory), `Etc.getlogin` (`ENV['USER']`, as Ruby's fallback without a login
//!   terminal), `ENV['X']`, `ENV.fetch('X', 'd')` (or with a block), `ENV.key?`,
//!   `YAML.load_file` (through the hook), `JSON.parse`. Relative paths resolve against
//!   [`Interpreter::with_cwd`] (default: the process's directory), as in Ruby.
//!
//! Everything else (backticks, `system`, `eval`, `send`, `instance_eval` with a block, regexps,
//! loops, classes, unknown methods, ...) is an [`EvalError`] with [`ErrorKind`] and position:
//! nothing evaluated can run a process, write a file or reach a network. Evaluation is bounded (see
//! [Limits](#limits)), so no input can crash, hang or exhaust the process.
//!
//! [`fnmatch`] is Ruby's `File.fnmatch?` matcher, used by `Dir.glob` here and by chefignore.
//!
//! # Limits
//!
//! No file can crash, hang or exhaust the process that evaluates it (issue #17). Each limit,
//! when reached, is an [`EvalError`] of kind [`ErrorKind::Limit`] with the file, line and
//! column, naming the limit (`metadata.rb:3:1: evaluation stopped after 1000000 steps (sandbox
//! limit)`); `rescue` never catches it.
//!
//! | limit | value | why |
//! |---|---|---|
//! | stack | parsing and evaluation always have [`EVAL_STACK_BYTES`] (64 MiB) of stack: the calling thread's when that much of it is left, else a stack of that size allocated for the evaluation and switched to on the calling thread (the `stacker` crate; no thread is started) | the caller's thread may have a small stack; prism recurses up to 10,000 levels |
//! | source size | [`MAX_SOURCE_BYTES`] (256 KiB) | real files are a few KiB; prism's time on hostile input grows faster than linearly |
//! | operator runs | [`MAX_OPERATOR_CHAIN`] (256) operator characters (`!+-~*&`) in a row outside strings and comments | prism parses unary chains in quadratic time (the fuzzer found a 64 KiB `+++…` taking 0.4 s) |
//! | nesting | [`MAX_NESTING`] (1,000) levels of brackets, braces, parentheses, `#{}` and `do`/`begin`/`def`/`case` blocks, checked by a scan before prism parses | deep nesting is the cheap way to make a parser recurse |
//! | evaluation depth | 10,000 nested evaluations, and 32 MiB of the sandbox's stack | recursive `def` helpers, nested blocks |
//! | steps | [`MAX_STEPS`] (1,000,000) syntax-tree nodes evaluated per file | loops (`times`, `each`) and recursion; the real metadata.rb files in `tests/data/metadata` use at most 70 (the fuzz crate measures them) |
//! | loop count | 1,000,000 iterations of one `n.times` | |
//! | value sizes | strings 16 MiB; arrays and hashes 1,048,576 elements | |
//! | built in all | 256 M bytes and elements built by one file (every string or collection a method, `+`, `*`, interpolation or in-place call makes, and the key comparisons of hash stores) | bounds quadratic patterns (a string doubled in a loop, `a = a + [x]` in a loop) in time as well as memory |
//! | reads | `File.read`/`IO.read`/`File.readlines` read only regular files inside the read root ([`Interpreter::with_read_root`]; default the evaluated file's directory: the cookbook for metadata.rb, the repository for knife.rb and a Berksfile), after resolving symbolic links, of at most [`MAX_READ_BYTES`] (4 MiB) | a downloaded cookbook must not read a device, a FIFO, a huge file or another file's secrets |
//!
//! A missing file is still a Ruby runtime error (`File.read('VERSION') rescue '1.0.0'` works).
//! In-place calls (`list << x`, `push`, `concat`, `h[k] = v`, `store`, `merge!`, `h[k] ||= v`)
//! change the variable without copying it, and a hash store finds its key through an index of
//! the hash's keys kept between stores, so building an array or a hash is amortised O(1) per
//! element; hash literals, `to_h` and `merge` use such an index too. (A hash is still the
//! ordered list of pairs [`Value::Hash`] handlers receive; two keys with the same 64-bit hash,
//! or a NaN key, make one store scan the list, and that scan is charged to the built-in-all
//! budget.)
//!
//! # DSL conventions
//!
//! * A receiver-less call goes to [`Dsl::call`] when [`Dsl::responds_to`] says so; positional
//!   and keyword arguments arrive separately in [`Call`]; a block is passed as a [`Block`] the
//!   handler may run (`group :test do .. end`), with arguments: a handler that calls it with
//!   [`Value::Opaque`]`(OBJECT)` receives that object's method calls as `"OBJECT#METHOD"`
//!   (`default_source :supermarket do |s| s.preferred_for "nginx" end`).
//! * `x[:k] = v` where `x` is a DSL method (`knife[:aws_region] = 'eu-west-1'`) becomes the
//!   call `x[]=` with arguments `[k, v]`, if the DSL responds to `"x[]="`; a chain
//!   `x[k1][k2][k3] = v` (`default["a"]["b"]["c"] = 1`) becomes `x[]=` with `[k1, k2, k3, v]`.
//! * Handlers reject a call with [`CallError::Message`]; the evaluator adds file, line, column.
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
pub mod fnmatch;
mod value;

pub use error::{CallError, ErrorKind, EvalError, Warning};
pub use eval::{
    Block, Call, Dsl, EVAL_STACK_BYTES, Evaluation, FileSystem, Interpreter, MAX_NESTING,
    MAX_OPERATOR_CHAIN, MAX_READ_BYTES, MAX_SOURCE_BYTES, MAX_STEPS, Missing, StdFs, YamlLoader,
};
pub use value::Value;

#[cfg(test)]
mod tests;
