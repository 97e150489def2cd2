//! Call dispatch: a call with a receiver goes to a built-in module or value method, one without
//! to a forbidden-call check, a `def` helper, the [`Dsl`], or a few Kernel methods.

use ruby_prism::{CallNode, Node};

use super::super::error::{CallError, ErrorKind};
use super::super::value::Value;
use super::blocks::{BlockArg, BlockRef};
use super::builtins::paths::{dirname, expand_path};
use super::flow::complete_break;
use super::hash_index::HashIndex;
use super::{Call, Dsl, Flow, Missing, R, Run, name_of};

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

/// The modules a file may call methods on (see [`Run::module_call`]).
pub(super) const BUILTIN_MODULES: &[&str] = &[
    "File", "IO", "ENV", "YAML", "JSON", "Dir", "Encoding", "Etc",
];

/// Calls that could run code or touch the system; always rejected.
pub(super) const FORBIDDEN: &[&str] = &[
    "system",
    "exec",
    "spawn",
    "fork",
    "syscall",
    "open",
    "eval",
    "class_eval",
    "module_eval",
    "instance_exec",
    "class_exec",
    "send",
    "__send__",
    "public_send",
    "load",
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

/// Evaluated call arguments: positional, keyword, block.
type Args<'pr> = (Vec<Value>, Vec<(Value, Value)>, Option<BlockArg<'pr>>);

impl<'pr> Run<'_, 'pr> {
    /// Evaluates call arguments into (positional, keyword, block).
    pub(super) fn call_args(&mut self, call: &CallNode<'pr>, dsl: &mut dyn Dsl) -> R<Args<'pr>> {
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        let mut kwargs_index = HashIndex::new(&kwargs);
        if let Some(a) = call.arguments() {
            for el in &a.arguments() {
                match &el {
                    Node::KeywordHashNode { .. } => {
                        let k = el.as_keyword_hash_node().expect("kwhash");
                        for a in &k.elements() {
                            self.push_assoc(&a, &mut kwargs, &mut kwargs_index, dsl)?;
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

    pub(super) fn eval_call(&mut self, call: &CallNode<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
        let start = call.location().start();
        let name = name_of(&call.name());
        let Some(receiver) = call.receiver() else {
            return self.eval_fcall(call, &name, dsl);
        };
        // Builtin modules: File, IO, ENV, YAML, JSON, Dir, Etc (also as `::File`).
        if let Some(module) = self.builtin_module(&receiver) {
            let (mut args, kwargs, block) = self.call_args(call, dsl)?;
            if !kwargs.is_empty() {
                args.push(Value::Hash(kwargs));
            }
            let result = self.module_call(&module, &name, args, block, dsl, start);
            return complete_break(result);
        }
        if let Some(v) = self.chef_config_index_write(call, &receiver, &name, dsl)? {
            return Ok(v);
        }
        if let Some(v) = self.chef_config_call(call, &receiver, &name, dsl)? {
            return Ok(v);
        }
        if let Some(v) = self.context_call(call, &receiver, &name, dsl)? {
            return Ok(v);
        }
        if let Some(v) = self.mutating_call(call, &receiver, &name, dsl)? {
            return Ok(v);
        }
        if name == "[]"
            && let Some(v) = self.nested_dsl_index_read(&call.as_node(), dsl)?
        {
            return Ok(v);
        }
        let recv = self.eval(&receiver, dsl)?;
        if call.is_safe_navigation() && recv == Value::Nil {
            return Ok(Value::Nil);
        }
        // A method of an object the DSL yielded to a block (`do |s| s.preferred_for "x" end`).
        if let Value::Opaque(object) = recv
            && dsl.responds_to(&format!("{object}#{name}"))
        {
            let (args, kwargs, _) = self.call_args(call, dsl)?;
            return self.plain_dsl_call(format!("{object}#{name}"), args, kwargs, dsl, start);
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

    /// The built-in module a receiver names (`File`, `::File`, ...), unless the file defined
    /// a constant of that name.
    fn builtin_module(&self, receiver: &Node<'pr>) -> Option<String> {
        let name = if let Some(c) = receiver.as_constant_read_node() {
            let n = name_of(&c.name());
            if self.constants.contains_key(&n) {
                return None;
            }
            n
        } else if let Some(c) = receiver.as_constant_path_node() {
            if c.parent().is_some() {
                return None;
            }
            name_of(&c.name()?)
        } else {
            return None;
        };
        BUILTIN_MODULES.contains(&name.as_str()).then_some(name)
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
        match name {
            // Mixlib::Config evaluates a configuration with the configuration class as
            // `self`, so a bare `from_file` is `Chef::Config.from_file`.
            "from_file" if dsl.is_chef_config() => {
                let (args, _, _) = self.call_args(call, dsl)?;
                let path = self.str_arg(&args, 0, "from_file", start)?;
                return self.include_file(&path, dsl, start);
            }
            "instance_eval" => {
                if call.block().is_some() {
                    return Err(self.error(
                        start,
                        ErrorKind::NotAllowed,
                        "instance_eval with a block is not allowed",
                    ));
                }
                let (args, _, _) = self.call_args(call, dsl)?;
                return self.instance_eval_string(call, &args, dsl, start);
            }
            _ => {}
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
            "require" | "require_relative" => {
                let (args, _, _) = self.call_args(call, dsl)?;
                let lib = args.first().and_then(Value::as_str).unwrap_or_default();
                if name == "require" && KNOWN_LIBRARIES.contains(&lib) {
                    return Ok(Value::Bool(true));
                }
                // Nothing is ever loaded: what the library would define stays undefined, and
                // using it is a positioned error where it is used.
                self.warn(
                    start,
                    format!("{name} '{lib}' ignored: chef-sync loads no Ruby code"),
                );
                Ok(Value::Bool(false))
            }
            "format" | "sprintf" => {
                let (args, kwargs, _) = self.call_args(call, dsl)?;
                let mut args = args.into_iter();
                let Some(Value::Str(fmt)) = args.next() else {
                    return Err(self.runtime(start, format!("{name}: expected a format string")));
                };
                let mut rest: Vec<Value> = args.collect();
                if !kwargs.is_empty() {
                    rest.push(Value::Hash(kwargs));
                }
                self.format(&fmt, &rest, start).map(Value::Str)
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
                let (args, kwargs, _) = self.call_args(call, dsl)?;
                let (line, column) = self.position(start);
                let missing = Call {
                    name: name.to_owned(),
                    args,
                    kwargs,
                    line,
                    column,
                };
                match dsl.method_missing(&missing, call.block().is_some()) {
                    Missing::Ignored(warning) => {
                        self.warn(start, warning);
                        Ok(Value::Nil)
                    }
                    Missing::Undefined => {
                        let msg = if call.is_variable_call() {
                            format!("undefined local variable or method '{name}'")
                        } else {
                            format!("undefined method '{name}'")
                        };
                        Err(self.error(start, ErrorKind::UndefinedMethod, msg))
                    }
                }
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
}
