//! `def` helpers: defining one, and calling it with its parameters bound in a fresh scope;
//! a `return` ends the call.

use std::collections::HashMap;

use ruby_prism::{DefNode, Node};

use super::super::error::ErrorKind;
use super::super::value::Value;
use super::{Dsl, Flow, HashSlot, R, Run, name_of};

impl<'pr> Run<'_, 'pr> {
    /// `def name(..) .. end`: remembers the method (its value is the name, as a symbol).
    pub(super) fn eval_def(&mut self, node: &Node<'pr>) -> R<Value> {
        let n = node.as_def_node().expect("def");
        if n.receiver().is_some() {
            return Err(self.unsupported(node, "singleton method definitions are"));
        }
        let name = name_of(&n.name());
        self.defs.insert(name.clone(), std::rc::Rc::new(n));
        Ok(Value::Sym(name))
    }

    /// Calls a `def` method: binds required, optional and keyword parameters in a new scope
    /// (the caller's locals are not visible) and evaluates the body.
    pub(super) fn call_def(
        &mut self,
        def: &DefNode<'pr>,
        args: Vec<Value>,
        kwargs: Vec<(Value, Value)>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        let name = name_of(&def.name());
        let mut scope = HashMap::new();
        let mut args = args.into_iter();
        let mut kwargs = kwargs;
        let mut defaults = Vec::new();
        if let Some(params) = def.parameters() {
            if params.block().is_some() || !params.posts().is_empty() {
                return Err(self.error(
                    start,
                    ErrorKind::Unsupported,
                    format!("the parameters of '{name}' are not supported"),
                ));
            }
            // Ruby 3: keywords given to a method that takes none arrive as a last positional
            // hash (`def my_cookbook(name, opts = {})` called with `git: ..`).
            let takes_keywords = !params.keywords().is_empty() || params.keyword_rest().is_some();
            let mut positional: Vec<Value> = args.by_ref().collect();
            if !takes_keywords && !kwargs.is_empty() {
                positional.push(Value::Hash(std::mem::take(&mut kwargs)));
            }
            let mut args = positional.into_iter();
            for p in &params.requireds() {
                let Some(r) = p.as_required_parameter_node() else {
                    return Err(self.unsupported(&p, "this parameter is"));
                };
                let v = args.next().ok_or_else(|| {
                    self.error(
                        start,
                        ErrorKind::Runtime,
                        format!("wrong number of arguments calling '{name}'"),
                    )
                })?;
                scope.insert(name_of(&r.name()), v);
            }
            for p in &params.optionals() {
                let Some(o) = p.as_optional_parameter_node() else {
                    return Err(self.unsupported(&p, "this parameter is"));
                };
                match args.next() {
                    Some(v) => {
                        scope.insert(name_of(&o.name()), v);
                    }
                    None => defaults.push((name_of(&o.name()), o.value())),
                }
            }
            // `*rest`: every remaining positional argument, as an array.
            if let Some(rest) = params.rest() {
                let Some(r) = rest.as_rest_parameter_node() else {
                    return Err(self.unsupported(&rest, "this parameter is"));
                };
                let items: Vec<Value> = args.by_ref().collect();
                if let Some(n) = r.name() {
                    scope.insert(name_of(&n), Value::Array(items));
                }
            }
            for p in &params.keywords() {
                if let Some(k) = p.as_optional_keyword_parameter_node() {
                    let key = name_of(&k.name());
                    if let Some(i) = kwargs
                        .iter()
                        .position(|(kk, _)| kk.as_str() == Some(key.as_str()))
                    {
                        scope.insert(key, kwargs.remove(i).1);
                    } else {
                        defaults.push((key, k.value()));
                    }
                } else if let Some(k) = p.as_required_keyword_parameter_node() {
                    let key = name_of(&k.name());
                    let i = kwargs
                        .iter()
                        .position(|(kk, _)| kk.as_str() == Some(key.as_str()))
                        .ok_or_else(|| {
                            self.error(
                                start,
                                ErrorKind::Runtime,
                                format!("missing keyword: :{key}"),
                            )
                        })?;
                    scope.insert(key, kwargs.remove(i).1);
                } else {
                    return Err(self.unsupported(&p, "this parameter is"));
                }
            }
            // `**opts`: the keywords no parameter took, as a hash.
            if let Some(kwrest) = params.keyword_rest() {
                let Some(k) = kwrest.as_keyword_rest_parameter_node() else {
                    return Err(self.unsupported(&kwrest, "this parameter is"));
                };
                let rest = Value::Hash(std::mem::take(&mut kwargs));
                if let Some(n) = k.name() {
                    scope.insert(name_of(&n), rest);
                }
            }
            if args.next().is_some() {
                return Err(self.error(
                    start,
                    ErrorKind::Runtime,
                    format!("wrong number of arguments calling '{name}'"),
                ));
            }
        }
        if !kwargs.is_empty() || args.next().is_some() {
            return Err(self.error(
                start,
                ErrorKind::Runtime,
                format!("wrong number of arguments calling '{name}'"),
            ));
        }
        let saved = std::mem::replace(&mut self.scopes, vec![scope]);
        // The caller's locals are out of reach of the method: their hash indexes wait aside.
        let (saved_indexes, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.hash_indexes)
            .into_iter()
            .partition(|(s, _)| matches!(s, HashSlot::Local { .. }));
        self.hash_indexes = others;
        // Blocks running around the call are not the method's: `next`/`break` directly in its
        // body are invalid (prism rejects them already), and `return` ends this call.
        let saved_blocks = std::mem::replace(&mut self.block_depth, 0);
        self.def_depth += 1;
        let mut result = Ok(Value::Nil);
        for (k, node) in defaults {
            match self.eval(&node, dsl) {
                Ok(v) => {
                    self.set_local(k, v);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() {
            result = self.eval_opt(def.body(), dsl);
        }
        self.def_depth -= 1;
        self.block_depth = saved_blocks;
        self.scopes = saved;
        self.forget_hash_indexes(|s| matches!(s, HashSlot::Local { .. }));
        for (slot, index) in saved_indexes {
            self.keep_hash_index(slot, index);
        }
        match result {
            Err(Flow::Return { value, .. }) => Ok(value),
            other => other,
        }
    }
}
