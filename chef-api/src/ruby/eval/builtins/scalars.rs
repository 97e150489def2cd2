//! Methods of `nil`, `Symbol`, `Integer` and `Float`.

use super::super::super::error::ErrorKind;
use super::super::super::value::Value;
use super::super::blocks::BlockArg;
use super::super::{Dsl, Flow, MAX_ITERATIONS, R, Run};

impl<'pr> Run<'_, 'pr> {
    /// `nil.NAME`; what nil lacks is Ruby's `NoMethodError` (a runtime error).
    pub(super) fn nil_method(&self, name: &str, start: u32) -> R<Value> {
        match name {
            "to_a" => Ok(Value::Array(vec![])),
            "to_i" => Ok(Value::Int(0)),
            _ => Err(self.undefined_for_nil(name, start)),
        }
    }

    /// `undefined method 'NAME' for nil`.
    fn undefined_for_nil(&self, name: &str, start: u32) -> Flow {
        self.error(
            start,
            ErrorKind::Runtime,
            format!("undefined method '{name}' for nil"),
        )
    }

    /// `:sym.NAME`.
    pub(super) fn symbol_method(&self, s: String, name: &str, start: u32) -> R<Value> {
        match name {
            "to_sym" => Ok(Value::Sym(s)),
            "to_proc" => Err(self.unsupported_method("Symbol", name, start)),
            "length" | "size" => Ok(Value::Int(
                i64::try_from(s.chars().count()).unwrap_or(i64::MAX),
            )),
            "upcase" => Ok(Value::Sym(s.to_uppercase())),
            "downcase" => Ok(Value::Sym(s.to_lowercase())),
            "empty?" => Ok(Value::Bool(s.is_empty())),
            _ => Err(self.unsupported_method("Symbol", name, start)),
        }
    }

    /// `i.NAME(args)`, including `i.times { .. }`.
    pub(super) fn integer_method(
        &mut self,
        i: i64,
        name: &str,
        args: &[Value],
        block: Option<BlockArg<'pr>>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
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
                    r.map(Value::Int)
                        .ok_or_else(|| self.runtime(start, "integer overflow or division by zero"))
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
            "<" | ">" | "<=" | ">=" => self.compare(&Value::Int(i), name, args, start),
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
                    self.block_value_unused = true; // `each`/`times` ignore it
                    self.call_block(dsl, &b, vec![Value::Int(n)], start)?;
                }
                Ok(Value::Int(i))
            }
            _ => Err(self.unsupported_method("Integer", name, start)),
        }
    }

    /// `f.NAME(args)`.
    pub(super) fn float_method(&self, f: f64, name: &str, args: &[Value], start: u32) -> R<Value> {
        match name {
            "<" | ">" | "<=" | ">=" => self.compare(&Value::Float(f), name, args, start),
            #[allow(clippy::cast_possible_truncation)]
            "to_i" => Ok(Value::Int(f as i64)),
            "to_f" => Ok(Value::Float(f)),
            _ => Err(self.unsupported_method("Float", name, start)),
        }
    }
}
