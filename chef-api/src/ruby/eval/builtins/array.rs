//! Methods of `Array` (iteration with blocks, queries, building new arrays).

use super::super::super::error::ErrorKind;
use super::super::super::value::Value;
use super::super::blocks::BlockArg;
use super::super::hash_index::HashIndex;
use super::super::{Dsl, MAX_COLLECTION_LEN, R, Run};
use super::values_eq;

impl<'pr> Run<'_, 'pr> {
    /// `list.NAME(args) [{ block }]`.
    #[allow(clippy::too_many_lines)]
    pub(super) fn array_method(
        &mut self,
        items: Vec<Value>,
        name: &str,
        args: Vec<Value>,
        block: Option<BlockArg<'pr>>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        let recv_class = "Array";
        match name {
            "each" => {
                let b = self.need_block(block, name, start)?;
                for it in &items {
                    self.block_value_unused = true; // `each`/`times` ignore it
                    self.call_block(dsl, &b, vec![it.clone()], start)?;
                }
                Ok(Value::Array(items))
            }
            "each_with_index" => {
                let b = self.need_block(block, name, start)?;
                for (i, it) in items.iter().enumerate() {
                    self.block_value_unused = true; // `each`/`times` ignore it
                    self.call_block(
                        dsl,
                        &b,
                        vec![it.clone(), Value::Int(i64::try_from(i).unwrap_or(i64::MAX))],
                        start,
                    )?;
                }
                Ok(Value::Array(items))
            }
            "map" | "collect" | "flat_map" => {
                let b = self.need_block(block, name, start)?;
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    let v = self.call_block(dsl, &b, vec![it], start)?;
                    match (name, v) {
                        ("flat_map", Value::Array(inner)) => out.extend(inner),
                        (_, v) => out.push(v),
                    }
                }
                Ok(Value::Array(out))
            }
            "select" | "filter" | "reject" | "find" | "detect" | "any?" | "all?" | "count"
                if block.is_some() =>
            {
                let b = self.need_block(block, name, start)?;
                let mut out = Vec::new();
                for it in items {
                    let keep = self.call_block(dsl, &b, vec![it.clone()], start)?.truthy();
                    match name {
                        "find" | "detect" if keep => return Ok(it),
                        "any?" if keep => return Ok(Value::Bool(true)),
                        "all?" if !keep => return Ok(Value::Bool(false)),
                        "reject" if !keep => out.push(it),
                        "select" | "filter" | "count" if keep => out.push(it),
                        _ => {}
                    }
                }
                Ok(match name {
                    "find" | "detect" => Value::Nil,
                    "any?" => Value::Bool(false),
                    "all?" => Value::Bool(true),
                    "count" => Value::Int(i64::try_from(out.len()).unwrap_or(i64::MAX)),
                    _ => Value::Array(out),
                })
            }
            "first" => Ok(items.into_iter().next().unwrap_or(Value::Nil)),
            "last" => Ok(items.into_iter().last().unwrap_or(Value::Nil)),
            "length" | "size" | "count" => {
                Ok(Value::Int(i64::try_from(items.len()).unwrap_or(i64::MAX)))
            }
            "empty?" => Ok(Value::Bool(items.is_empty())),
            "any?" => Ok(Value::Bool(items.iter().any(Value::truthy))),
            "include?" | "member?" => Ok(Value::Bool(
                args.first()
                    .is_some_and(|a| items.iter().any(|i| values_eq(i, a))),
            )),
            "join" => {
                let sep = match args.first() {
                    Some(Value::Str(s)) => s.clone(),
                    None | Some(Value::Nil) => String::new(),
                    Some(o) => {
                        return Err(self.runtime(
                            start,
                            format!("no implicit conversion of {} into String", o.class_name()),
                        ));
                    }
                };
                let mut flat = Vec::new();
                flatten_into(items, &mut flat);
                Ok(Value::Str(
                    flat.iter()
                        .map(Value::to_ruby_s)
                        .collect::<Vec<_>>()
                        .join(&sep),
                ))
            }
            "flatten" => {
                let mut flat = Vec::new();
                flatten_into(items, &mut flat);
                Ok(Value::Array(flat))
            }
            "compact" => Ok(Value::Array(
                items.into_iter().filter(|v| *v != Value::Nil).collect(),
            )),
            "uniq" => {
                let mut out: Vec<Value> = Vec::new();
                for it in items {
                    if !out.contains(&it) {
                        out.push(it);
                    }
                }
                Ok(Value::Array(out))
            }
            "sort" => {
                let mut v = items;
                if v.iter().all(|x| matches!(x, Value::Str(_))) {
                    v.sort_by_key(Value::to_ruby_s);
                } else if v.iter().all(|x| matches!(x, Value::Int(_))) {
                    v.sort_by_key(|x| if let Value::Int(i) = x { *i } else { 0 });
                } else {
                    return Err(self.runtime(start, "Array#sort: elements are not comparable"));
                }
                Ok(Value::Array(v))
            }
            "reverse" => Ok(Value::Array(items.into_iter().rev().collect())),
            "to_a" | "entries" => Ok(Value::Array(items)),
            "+" => match args.into_iter().next() {
                Some(Value::Array(o))
                    if items.len().saturating_add(o.len()) > MAX_COLLECTION_LEN =>
                {
                    Err(self.error(
                        start,
                        ErrorKind::Limit,
                        format!("Array#+: more than {MAX_COLLECTION_LEN} elements (sandbox limit)"),
                    ))
                }
                Some(Value::Array(o)) => Ok(Value::Array(items.into_iter().chain(o).collect())),
                _ => Err(self.runtime(start, "Array#+ needs an Array")),
            },
            "-" => match args.into_iter().next() {
                Some(Value::Array(o)) => Ok(Value::Array(
                    items.into_iter().filter(|i| !o.contains(i)).collect(),
                )),
                _ => Err(self.runtime(start, "Array#- needs an Array")),
            },
            "[]" | "at" => {
                self.arity(&args, 1, &Value::Array(vec![]), name, start)?;
                match args[0] {
                    Value::Int(i) => {
                        let idx = if i < 0 {
                            i64::try_from(items.len()).unwrap_or(0) + i
                        } else {
                            i
                        };
                        Ok(usize::try_from(idx)
                            .ok()
                            .and_then(|i| items.get(i))
                            .cloned()
                            .unwrap_or(Value::Nil))
                    }
                    ref o => Err(self.runtime(
                        start,
                        format!("no implicit conversion of {} into Integer", o.class_name()),
                    )),
                }
            }
            "to_h" => {
                let mut pairs = Vec::new();
                let mut index = HashIndex::new(&pairs);
                let mut compared = 0usize;
                for it in items {
                    match it {
                        Value::Array(kv) if kv.len() == 2 => {
                            let mut kv = kv.into_iter();
                            let (k, v) = (
                                kv.next().unwrap_or(Value::Nil),
                                kv.next().unwrap_or(Value::Nil),
                            );
                            compared = compared.saturating_add(index.insert(&mut pairs, k, v));
                        }
                        _ => return Err(self.runtime(start, "Array#to_h: wrong element type")),
                    }
                }
                self.charge_work(start, compared)?;
                Ok(Value::Hash(pairs))
            }
            _ => Err(self.unsupported_method(recv_class, name, start)),
        }
    }
}

/// Appends `items` to `out`, nested arrays flattened (`Array#flatten`, `File.join`).
pub(super) fn flatten_into(items: Vec<Value>, out: &mut Vec<Value>) {
    for it in items {
        match it {
            Value::Array(inner) => flatten_into(inner, out),
            other => out.push(other),
        }
    }
}
