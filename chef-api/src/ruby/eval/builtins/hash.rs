//! Methods of `Hash` (kept as ordered key/value pairs).

use super::super::super::value::Value;
use super::super::blocks::BlockArg;
use super::super::hash_index::HashIndex;
use super::super::{Dsl, R, Run};
use super::values_eq;

impl<'pr> Run<'_, 'pr> {
    /// `hash.NAME(args) [{ block }]`.
    pub(super) fn hash_method(
        &mut self,
        pairs: Vec<(Value, Value)>,
        name: &str,
        args: Vec<Value>,
        block: Option<BlockArg<'pr>>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        let lookup = |k: &Value| {
            pairs
                .iter()
                .find(|(kk, _)| values_eq(kk, k))
                .map(|(_, v)| v.clone())
        };
        match name {
            "[]" | "dig" => {
                let Some(k) = args.first() else {
                    return Err(self.runtime(start, "Hash#[]: wrong number of arguments"));
                };
                let v = lookup(k).unwrap_or(Value::Nil);
                if name == "dig" && args.len() > 1 && v != Value::Nil {
                    return self.value_method(v, "dig", args[1..].to_vec(), None, dsl, start);
                }
                Ok(v)
            }
            "fetch" => {
                let Some(k) = args.first() else {
                    return Err(self.runtime(start, "Hash#fetch: wrong number of arguments"));
                };
                if let Some(v) = lookup(k) {
                    return Ok(v);
                }
                if let Some(b) = block {
                    return self.call_block(dsl, &b, vec![k.clone()], start);
                }
                args.get(1)
                    .cloned()
                    .ok_or_else(|| self.runtime(start, format!("key not found: {}", k.inspect())))
            }
            "key?" | "has_key?" | "include?" | "member?" => Ok(Value::Bool(
                args.first().is_some_and(|k| lookup(k).is_some()),
            )),
            "keys" => Ok(Value::Array(pairs.into_iter().map(|(k, _)| k).collect())),
            "values" => Ok(Value::Array(pairs.into_iter().map(|(_, v)| v).collect())),
            "empty?" => Ok(Value::Bool(pairs.is_empty())),
            "length" | "size" | "count" => {
                Ok(Value::Int(i64::try_from(pairs.len()).unwrap_or(i64::MAX)))
            }
            "to_h" | "to_hash" => Ok(Value::Hash(pairs)),
            "merge" => {
                let mut out = pairs;
                let mut index = HashIndex::new(&out);
                let mut compared = 0usize;
                for a in args {
                    let Value::Hash(o) = a else {
                        return Err(self.runtime(start, "Hash#merge needs a Hash"));
                    };
                    for (k, v) in o {
                        compared = compared.saturating_add(index.insert(&mut out, k, v));
                    }
                }
                self.charge_work(start, compared)?;
                Ok(Value::Hash(out))
            }
            "each" | "each_pair" | "map" | "collect" => {
                let b = self.need_block(block, name, start)?;
                let mut out = Vec::new();
                for (k, v) in &pairs {
                    out.push(self.call_block(
                        dsl,
                        &b,
                        vec![Value::Array(vec![k.clone(), v.clone()])],
                        start,
                    )?);
                }
                Ok(if matches!(name, "map" | "collect") {
                    Value::Array(out)
                } else {
                    Value::Hash(pairs)
                })
            }
            "to_a" => Ok(Value::Array(
                pairs
                    .into_iter()
                    .map(|(k, v)| Value::Array(vec![k, v]))
                    .collect(),
            )),
            _ => Err(self.unsupported_method("Hash", name, start)),
        }
    }
}
