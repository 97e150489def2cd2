//! `ENV`: what the caller gave the interpreter (never the process environment).

use super::super::super::value::Value;
use super::super::blocks::BlockArg;
use super::super::{Dsl, R, Run};

impl<'pr> Run<'_, 'pr> {
    /// `ENV.NAME(args)` / `ENV[k]`; `what` is `"ENV.NAME"` for messages.
    pub(super) fn env_call(
        &mut self,
        name: &str,
        args: &[Value],
        block: Option<BlockArg<'pr>>,
        dsl: &mut dyn Dsl,
        what: &str,
        start: u32,
    ) -> R<Value> {
        match name {
            "[]" => {
                let k = self.str_arg(args, 0, what, start)?;
                Ok(self
                    .interp
                    .env
                    .get(&k)
                    .map_or(Value::Nil, |v| Value::Str(v.clone())))
            }
            "fetch" => {
                let k = self.str_arg(args, 0, what, start)?;
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
            "key?" | "has_key?" | "include?" | "member?" => {
                let k = self.str_arg(args, 0, what, start)?;
                Ok(Value::Bool(self.interp.env.contains_key(&k)))
            }
            "to_h" | "to_hash" => {
                let mut pairs: Vec<(Value, Value)> = self
                    .interp
                    .env
                    .iter()
                    .map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone())))
                    .collect();
                pairs.sort_by_key(|a| a.0.to_ruby_s());
                Ok(Value::Hash(pairs))
            }
            _ => Err(self.unsupported_module_method(what, start)),
        }
    }
}
