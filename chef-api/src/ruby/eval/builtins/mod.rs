//! The built-in receivers a file may call methods on: the modules `File`, `IO`, `Dir`, `ENV`,
//! `YAML`, `JSON` and `Encoding`, and the methods of values by class (one module each), with
//! the argument checks and errors they share.

use super::super::error::ErrorKind;
use super::super::value::Value;
use super::blocks::BlockArg;
use super::calls::FORBIDDEN;
use super::{Dsl, Flow, R, Run};

mod array;
mod dir;
mod env;
mod etc;
mod file;
mod formats;
mod hash;
pub(super) mod paths;
mod scalars;
mod sprintf;
mod string;

impl<'pr> Run<'_, 'pr> {
    /// A call on a built-in module (`File.join(..)`, `ENV.fetch(..)`, ...), by module.
    pub(super) fn module_call(
        &mut self,
        module: &str,
        name: &str,
        args: Vec<Value>,
        block: Option<BlockArg<'pr>>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        let what = format!("{module}.{name}");
        match module {
            "File" | "IO" => self.file_call(module, name, args, &what, start),
            "Dir" => self.dir_call(name, &args, &what, start),
            "ENV" => self.env_call(name, &args, block, dsl, &what, start),
            "YAML" => self.yaml_call(name, &args, &what, start),
            "JSON" => self.json_call(name, &args, &what, start),
            "Etc" => self.etc_call(name, &what, start),
            // `Encoding.default_external = 'UTF-8'` (seen atop Berksfiles): harmless, ignored.
            "Encoding" if matches!(name, "default_external=" | "default_internal=") => {
                Ok(args.into_iter().next().unwrap_or(Value::Nil))
            }
            _ => Err(self.unsupported_module_method(&what, start)),
        }
    }

    /// A method of a value (`'a'.upcase`, `list.map { .. }`, `1 + 2`, ...): those every value
    /// has, then by class.
    pub(super) fn value_method(
        &mut self,
        recv: Value,
        name: &str,
        args: Vec<Value>,
        block: Option<BlockArg<'pr>>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        // Every string or collection a method builds counts against the sandbox's limits.
        let value = self.value_method_unbounded(recv, name, args, block, dsl, start)?;
        self.charge_value(start, &value)?;
        Ok(value)
    }

    fn value_method_unbounded(
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
        match recv {
            Value::Nil => self.nil_method(name, start),
            Value::Str(s) => self.string_method(s, name, &args, start),
            Value::Sym(s) => self.symbol_method(s, name, start),
            Value::Int(i) => self.integer_method(i, name, &args, block, dsl, start),
            Value::Float(f) => self.float_method(f, name, &args, start),
            Value::Bool(_) | Value::Opaque(_) => {
                Err(self.unsupported_method(recv.class_name(), name, start))
            }
            Value::Array(items) => self.array_method(items, name, args, block, dsl, start),
            Value::Hash(pairs) => self.hash_method(pairs, name, args, block, dsl, start),
        }
    }

    /// Argument `i` as a string, or the `TypeError`/`ArgumentError` Ruby would raise.
    pub(in crate::ruby::eval) fn str_arg(
        &self,
        args: &[Value],
        i: usize,
        what: &str,
        start: u32,
    ) -> R<String> {
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

    /// Checks the number of arguments, as Ruby's `ArgumentError` would.
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

    /// `<`, `>`, `<=`, `>=` between numbers or between strings.
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

    /// `method 'NAME' of CLASS is not supported`: a method the sandbox does not have.
    fn unsupported_method(&self, class: &str, name: &str, start: u32) -> Flow {
        self.error(
            start,
            ErrorKind::Unsupported,
            format!("method '{name}' of {class} is not supported"),
        )
    }

    /// `File.frobnicate`: a module method the sandbox does not have.
    fn unsupported_module_method(&self, what: &str, start: u32) -> Flow {
        self.error(
            start,
            ErrorKind::Unsupported,
            format!("{what} is not supported"),
        )
    }
}

/// `==` as Ruby compares values (`1 == 1.0`).
fn values_eq(a: &Value, b: &Value) -> bool {
    #[allow(clippy::cast_precision_loss)]
    match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        _ => a == b,
    }
}
