//! Call dispatch: a call with a receiver goes to a built-in module or value method, one without
//! to a forbidden-call check, a `def` helper, the [`Dsl`], or a few Kernel methods.

use ruby_prism::{CallNode, Node};

use super::super::error::{CallError, ErrorKind};
use super::super::value::Value;
use super::blocks::{BlockArg, BlockRef};
use super::builtins::paths::{dirname, expand_path};
use super::flow::complete_break;
use super::{Call, Dsl, Flow, R, Run, name_of};

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
pub(super) const FORBIDDEN: &[&str] = &[
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

/// Evaluated call arguments: positional, keyword, block.
type Args<'pr> = (Vec<Value>, Vec<(Value, Value)>, Option<BlockArg<'pr>>);

impl<'pr> Run<'_, 'pr> {
    /// Evaluates call arguments into (positional, keyword, block).
    pub(super) fn call_args(&mut self, call: &CallNode<'pr>, dsl: &mut dyn Dsl) -> R<Args<'pr>> {
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

    pub(super) fn eval_call(&mut self, call: &CallNode<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
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
}
