//! Calls that change their receiver in place (`list << x`, `h[k] = v`, `merge!`, ...) on a
//! local or constant, and index writes on DSL methods (`knife[:k] = v`).

use ruby_prism::{CallNode, Node};

use super::super::error::{CallError, ErrorKind};
use super::super::value::Value;
use super::builtins::hash_insert;
use super::{Call, Dsl, Flow, MAX_BUILT_SIZE, MAX_COLLECTION_LEN, R, Run, name_of};

impl<'pr> Run<'_, 'pr> {
    /// Calls that mutate their receiver: `list << x`, `h[k] = v` on a local variable or a
    /// constant defined in the file (the new value is stored back), and `knife[:k] = v` on a
    /// DSL method, which becomes the DSL call `knife[]=` with `[k, v]`. `None` when the call
    /// is not one of these.
    #[allow(clippy::too_many_lines)]
    pub(super) fn mutating_call(
        &mut self,
        call: &CallNode<'pr>,
        receiver: &Node<'pr>,
        name: &str,
        dsl: &mut dyn Dsl,
    ) -> R<Option<Value>> {
        enum Slot {
            Local(String),
            Const(String),
            Ivar(String),
        }
        // Read first: evaluating anything below resets it.
        let result_unused = std::mem::take(&mut self.result_unused);
        if !matches!(
            name,
            "[]=" | "<<" | "push" | "concat" | "unshift" | "store" | "merge!" | "update"
        ) {
            return Ok(None);
        }
        let start = call.location().start();
        let slot = if let Some(l) = receiver.as_local_variable_read_node() {
            Slot::Local(name_of(&l.name()))
        } else if let Some(i) = receiver.as_instance_variable_read_node() {
            Slot::Ivar(name_of(&i.name()))
        } else if let Some(c) = receiver
            .as_constant_read_node()
            .filter(|c| self.constants.contains_key(&name_of(&c.name())))
        {
            Slot::Const(name_of(&c.name()))
        } else if let Some(inner) = receiver
            .as_call_node()
            .filter(|c| c.receiver().is_none() && c.arguments().is_none() && c.block().is_none())
        {
            let dsl_name = format!("{}{name}", name_of(&inner.name()));
            if !dsl.responds_to(&dsl_name) {
                return Ok(None);
            }
            let (mut args, kwargs, _) = self.call_args(call, dsl)?;
            if !kwargs.is_empty() {
                args.push(Value::Hash(kwargs));
            }
            let (line, column) = self.position(start);
            let c = Call {
                name: dsl_name,
                args,
                kwargs: Vec::new(),
                line,
                column,
            };
            return dsl.call(c, None).map(Some).map_err(|e| match e {
                CallError::Message(m) => self.error(start, ErrorKind::Dsl, m),
                CallError::Eval(e) => Flow::Error(*e),
            });
        } else if name == "[]=" {
            return self.nested_dsl_index_write(call, receiver, dsl);
        } else {
            return Ok(None);
        };
        // The arguments first (they may read the receiver), then the receiver is taken out of
        // its slot, not copied: appending stays amortised O(1) (issue #17).
        let (mut args, kwargs, _) = self.call_args(call, dsl)?;
        if !kwargs.is_empty() {
            args.push(Value::Hash(kwargs));
        }
        let taken = match &slot {
            Slot::Local(n) => self.take_local(n),
            Slot::Const(n) => self.constants.get_mut(n).map(std::mem::take),
            Slot::Ivar(n) => self.ivars.get_mut(n).map(std::mem::take),
        };
        let mut current = taken.unwrap_or(Value::Nil);
        let outcome = self.mutate_value(&mut current, name, args, start);
        // Back into its slot whatever happened (a rescued error leaves the variable set).
        let receiver_copy = match &outcome {
            Ok(None) if !result_unused => {
                let charged = self.charge_value(start, &current);
                Some(charged.map(|()| current.clone()))
            }
            _ => None,
        };
        match slot {
            Slot::Local(n) => self.set_local(n, current),
            Slot::Const(n) => {
                self.constants.insert(n, current);
            }
            Slot::Ivar(n) => {
                self.ivars.insert(n, current);
            }
        }
        match (outcome?, receiver_copy) {
            (Some(value), _) => Ok(Some(value)),
            (None, Some(copy)) => copy.map(Some),
            // The call's value is the receiver, and nobody uses it.
            (None, None) => Ok(Some(Value::Nil)),
        }
    }

    /// `x[k1][k2]...[kn] = v` where `x` is a DSL method with an index writer
    /// (`default["a"]["b"]["c"] = 1` in a Policyfile): the DSL call `x[]=` with
    /// `[k1, ..., kn, v]`, the keys evaluated left to right before the value, as Ruby does.
    /// The DSL decides what the path means (chef-cli's attribute hashes auto-vivify). `None`
    /// when the receiver is not such a chain.
    fn nested_dsl_index_write(
        &mut self,
        call: &CallNode<'pr>,
        receiver: &Node<'pr>,
        dsl: &mut dyn Dsl,
    ) -> R<Option<Value>> {
        let Some((root, key_nodes)) = self.dsl_index_chain(receiver, dsl)? else {
            return Ok(None);
        };
        let dsl_name = format!("{root}[]=");
        let start = call.location().start();
        let mut path = Vec::with_capacity(key_nodes.len() + 2);
        for key in &key_nodes {
            path.push(self.eval(key, dsl)?);
        }
        let (args, kwargs, _) = self.call_args(call, dsl)?;
        path.extend(args);
        if !kwargs.is_empty() {
            path.push(Value::Hash(kwargs));
        }
        self.plain_dsl_call(dsl_name, path, Vec::new(), dsl, start)
            .map(Some)
    }

    /// `x[k1]...[kn]` read, where `x` is a DSL method with a path reader (`x[]`,
    /// `v = default["a"]["b"]` in a Policyfile): the DSL call `x[]` with `[k1, ..., kn]`, the
    /// keys evaluated left to right. The DSL decides what reading means (chef-cli's attribute
    /// hashes create a missing level as an empty hash). `None` when `node` is not such a chain.
    pub(super) fn nested_dsl_index_read(
        &mut self,
        node: &Node<'pr>,
        dsl: &mut dyn Dsl,
    ) -> R<Option<Value>> {
        let Some((root, key_nodes)) = self.dsl_index_chain_with(node, dsl, "[]")? else {
            return Ok(None);
        };
        let start = node.location().start();
        let mut path = Vec::with_capacity(key_nodes.len());
        for key in &key_nodes {
            path.push(self.eval(key, dsl)?);
        }
        self.plain_dsl_call(format!("{root}[]"), path, Vec::new(), dsl, start)
            .map(Some)
    }

    /// `x[k1]...[kn]` where `x` is a receiver-less DSL method without arguments that has an
    /// index writer (`x[]=`): `x` and the key nodes in source order. `None` for anything else.
    fn dsl_index_chain(
        &self,
        receiver: &Node<'pr>,
        dsl: &dyn Dsl,
    ) -> R<Option<(String, Vec<Node<'pr>>)>> {
        self.dsl_index_chain_with(receiver, dsl, "[]=")
    }

    /// [`Self::dsl_index_chain`] for a DSL that responds to `x` + `suffix`.
    fn dsl_index_chain_with(
        &self,
        receiver: &Node<'pr>,
        dsl: &dyn Dsl,
        suffix: &str,
    ) -> R<Option<(String, Vec<Node<'pr>>)>> {
        let mut key_nodes: Vec<Node<'pr>> = Vec::new();
        let mut current = receiver.as_call_node();
        let root = loop {
            let Some(c) = current else {
                return Ok(None);
            };
            if c.block().is_some() {
                return Ok(None);
            }
            match (c.receiver(), name_of(&c.name()).as_str()) {
                (Some(inner), "[]") => {
                    let args: Vec<Node<'pr>> = c
                        .arguments()
                        .map(|a| a.arguments().iter().collect())
                        .unwrap_or_default();
                    let [key] = <[Node<'pr>; 1]>::try_from(args)
                        .map_err(|_| self.unsupported(receiver, "an index with several keys is"))?;
                    key_nodes.push(key);
                    current = inner.as_call_node();
                }
                (None, n) if c.arguments().is_none() && !key_nodes.is_empty() => {
                    break n.to_owned();
                }
                _ => return Ok(None),
            }
        };
        if !dsl.responds_to(&format!("{root}{suffix}")) {
            return Ok(None);
        }
        key_nodes.reverse();
        Ok(Some((root, key_nodes)))
    }

    /// Applies the in-place call `name` to `value`. `Ok(None)`: the call's value is the
    /// receiver itself; `Ok(Some(v))`: it is `v`. Appends are amortised O(1) and every
    /// growth is charged to the sandbox's size limits.
    fn mutate_value(
        &mut self,
        value: &mut Value,
        name: &str,
        args: Vec<Value>,
        start: u32,
    ) -> R<Option<Value>> {
        match (value, name) {
            (Value::Array(items), "<<" | "push") => {
                self.grow(
                    start,
                    args.len(),
                    items.len() + args.len(),
                    MAX_COLLECTION_LEN,
                )?;
                items.extend(args);
                Ok(None)
            }
            (Value::Array(items), "unshift") => {
                // Shifts every element: charged as building the whole array.
                self.charge(start, items.len() + args.len(), MAX_COLLECTION_LEN)?;
                items.splice(0..0, args);
                Ok(None)
            }
            (Value::Array(items), "concat") => {
                for a in args {
                    match a {
                        Value::Array(more) => {
                            self.grow(
                                start,
                                more.len(),
                                items.len() + more.len(),
                                MAX_COLLECTION_LEN,
                            )?;
                            items.extend(more);
                        }
                        other => {
                            return Err(self.runtime(
                                start,
                                format!(
                                    "no implicit conversion of {} into Array",
                                    other.class_name()
                                ),
                            ));
                        }
                    }
                }
                Ok(None)
            }
            (Value::Array(items), "[]=") => match args.as_slice() {
                [Value::Int(i), v] => {
                    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                    let idx = usize::try_from(if *i < 0 { len.saturating_add(*i) } else { *i })
                        .map_err(|_| {
                            self.runtime(start, format!("index {i} too small for array"))
                        })?;
                    if idx >= MAX_BUILT_SIZE {
                        return Err(self.runtime(start, format!("index {i} too large")));
                    }
                    if idx >= items.len() {
                        self.grow(start, idx + 1 - items.len(), idx + 1, MAX_COLLECTION_LEN)?;
                        items.resize(idx + 1, Value::Nil);
                    }
                    items[idx] = v.clone();
                    Ok(Some(v.clone()))
                }
                _ => Err(self.runtime(start, "Array#[]= needs an Integer index and a value")),
            },
            (Value::Hash(pairs), "[]=" | "store") => match <[Value; 2]>::try_from(args) {
                Ok([k, v]) => {
                    // Hashes keep their pairs in order in a list: finding the key is linear, and that
                    // work is charged too (so building a hash is bounded, at ~20,000 keys).
                    self.grow(start, pairs.len() + 1, pairs.len() + 1, MAX_COLLECTION_LEN)?;
                    hash_insert(pairs, k, v.clone());
                    Ok(Some(v))
                }
                Err(_) => Err(self.runtime(start, format!("Hash#{name} needs a key and a value"))),
            },
            (Value::Hash(pairs), "merge!" | "update") => {
                for a in args {
                    let Value::Hash(more) = a else {
                        return Err(self.runtime(start, "Hash#merge! needs a Hash"));
                    };
                    self.grow(
                        start,
                        pairs.len().saturating_mul(more.len().max(1)),
                        pairs.len() + more.len(),
                        MAX_COLLECTION_LEN,
                    )?;
                    for (k, v) in more {
                        hash_insert(pairs, k, v);
                    }
                }
                Ok(None)
            }
            (Value::Str(s), "<<" | "concat") => {
                for a in args {
                    match a {
                        Value::Str(more) => {
                            self.grow(start, more.len(), s.len() + more.len(), MAX_BUILT_SIZE)?;
                            s.push_str(&more);
                        }
                        other => {
                            return Err(self.runtime(
                                start,
                                format!(
                                    "no implicit conversion of {} into String",
                                    other.class_name()
                                ),
                            ));
                        }
                    }
                }
                Ok(None)
            }
            (Value::Nil, _) => {
                Err(self.runtime(start, format!("undefined method '{name}' for nil")))
            }
            (other, _) => Err(self.error(
                start,
                ErrorKind::Unsupported,
                format!("method '{name}' of {} is not supported", other.class_name()),
            )),
        }
    }
}

impl<'pr> Run<'_, 'pr> {
    /// `h[k] ||= v`: `h[k]` when it is truthy, else `v` stored at `k`. `h` is a hash in a local,
    /// an instance variable or a constant, or a DSL method with an index writer
    /// (`knife[:ssh_user] ||= 'ubuntu'`, read with `knife` and written with `knife[]=`).
    pub(super) fn eval_index_or_write(&mut self, node: &Node<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
        let n = node.as_index_or_write_node().expect("index ||=");
        let start = node.location().start();
        let Some(receiver) = n.receiver() else {
            return Err(self.unsupported(node, "this `||=` is"));
        };
        let keys: Vec<Node<'pr>> = n
            .arguments()
            .map(|a| a.arguments().iter().collect())
            .unwrap_or_default();
        let [key_node] = keys.as_slice() else {
            return Err(self.unsupported(node, "`||=` with several indexes is"));
        };
        enum Slot<'pr> {
            Local(String),
            Ivar(String),
            Const(String),
            Dsl(String),
            /// `x[k1]...[kn][key] ||= v` on a DSL method: read with `x`, written with `x[]=`
            /// and the whole path.
            DslPath(String, Vec<Node<'pr>>),
        }
        let slot = if let Some(l) = receiver.as_local_variable_read_node() {
            Slot::Local(name_of(&l.name()))
        } else if let Some(i) = receiver.as_instance_variable_read_node() {
            Slot::Ivar(name_of(&i.name()))
        } else if let Some(c) = receiver
            .as_constant_read_node()
            .filter(|c| self.constants.contains_key(&name_of(&c.name())))
        {
            Slot::Const(name_of(&c.name()))
        } else if let Some(c) = receiver
            .as_call_node()
            .filter(|c| c.receiver().is_none() && c.arguments().is_none() && c.block().is_none())
            .filter(|c| dsl.responds_to(&format!("{}[]=", name_of(&c.name()))))
        {
            Slot::Dsl(name_of(&c.name()))
        } else if let Some((root, key_nodes)) = self.dsl_index_chain(&receiver, dsl)? {
            Slot::DslPath(root, key_nodes)
        } else {
            return Err(self.unsupported(node, "`||=` on this receiver is"));
        };
        let mut path = Vec::new();
        let current = match &slot {
            Slot::Local(n) => self.get_local(n).cloned().unwrap_or(Value::Nil),
            Slot::Ivar(n) => self.ivars.get(n).cloned().unwrap_or(Value::Nil),
            Slot::Const(n) => self.constants.get(n).cloned().unwrap_or(Value::Nil),
            Slot::Dsl(n) => self.plain_dsl_call(n.clone(), Vec::new(), Vec::new(), dsl, start)?,
            Slot::DslPath(root, key_nodes) => {
                // A missing level reads as an empty hash: the write creates it (the DSL's
                // `[]=` decides how, e.g. auto-vivifying).
                let mut here =
                    self.plain_dsl_call(root.clone(), Vec::new(), Vec::new(), dsl, start)?;
                for k in key_nodes {
                    let key = self.eval(k, dsl)?;
                    here = match here {
                        Value::Hash(pairs) => pairs
                            .into_iter()
                            .find(|(pk, _)| *pk == key)
                            .map_or(Value::Hash(Vec::new()), |(_, v)| v),
                        other => {
                            return Err(self.unsupported(
                                node,
                                &format!("`||=` below {} is", other.class_name()),
                            ));
                        }
                    };
                    path.push(key);
                }
                here
            }
        };
        let Value::Hash(mut pairs) = current else {
            return Err(self.unsupported(node, &format!("`||=` on {} is", current.class_name())));
        };
        let key = self.eval(key_node, dsl)?;
        if let Some((_, v)) = pairs
            .iter()
            .find(|(k, _)| *k == key)
            .filter(|(_, v)| v.truthy())
        {
            return Ok(v.clone());
        }
        let value = self.eval(&n.value(), dsl)?;
        match slot {
            Slot::Dsl(n) | Slot::DslPath(n, _) => {
                path.push(key);
                path.push(value.clone());
                self.plain_dsl_call(format!("{n}[]="), path, Vec::new(), dsl, start)?;
            }
            other => {
                hash_insert(&mut pairs, key, value.clone());
                let updated = Value::Hash(pairs);
                match other {
                    Slot::Local(n) => self.set_local(n, updated),
                    Slot::Ivar(n) => {
                        self.ivars.insert(n, updated);
                    }
                    Slot::Const(n) => {
                        self.constants.insert(n, updated);
                    }
                    Slot::Dsl(_) | Slot::DslPath(..) => {}
                }
            }
        }
        Ok(value)
    }
}
