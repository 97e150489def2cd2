//! Blocks: how one is given (`do |x| .. end`, `&:sym`), running it with its parameters bound,
//! and the [`Block`] a DSL handler receives.

use std::collections::HashMap;

use ruby_prism::{BlockNode, Node};

use super::super::error::{ErrorKind, EvalError};
use super::super::value::Value;
use super::{Block, Dsl, Flow, HashSlot, R, Run, name_of};

/// How a block was given: a literal `do |x| .. end` or `&:sym`.
pub(super) enum BlockArg<'pr> {
    Node(BlockNode<'pr>),
    Sym(String),
}

/// A block given to a DSL method, as the [`Block`] its handler may run.
pub(super) struct BlockRef<'r, 'i, 'pr> {
    pub(super) run: &'r mut Run<'i, 'pr>,
    pub(super) block: BlockArg<'pr>,
}

impl Block for BlockRef<'_, '_, '_> {
    /// Runs the block. `next` and `break` both just end it with their value (the handler
    /// decides what the call returns). A `return` to an enclosing `def` is handed to the
    /// handler as an error, so it stops, and is completed by the evaluator once the handler
    /// is back, whatever the handler did with that error.
    fn call(&mut self, dsl: &mut dyn Dsl, args: Vec<Value>) -> Result<Value, EvalError> {
        match self.run.call_block(dsl, &self.block, args, 0) {
            Ok(v) | Err(Flow::Next { value: v, .. } | Flow::Break { value: v, .. }) => Ok(v),
            Err(Flow::Error(e)) => Err(e),
            Err(Flow::Return { value, at }) => {
                self.run.pending_return = Some((value, at));
                Err(self.run.eval_error(
                    at,
                    ErrorKind::Runtime,
                    "`return` from inside this block returns from the enclosing method",
                ))
            }
        }
    }
}

impl<'pr> Run<'_, 'pr> {
    /// Runs `block` once with `args` bound to its parameters; a `next` ends the run with its
    /// value.
    pub(super) fn call_block(
        &mut self,
        dsl: &mut dyn Dsl,
        block: &BlockArg<'pr>,
        mut args: Vec<Value>,
        start: u32,
    ) -> R<Value> {
        let value_unused = std::mem::take(&mut self.block_value_unused);
        // Every run of a block is a step, even of an empty one (`1_000_000.times { }`).
        self.tick(start)?;
        match block {
            BlockArg::Sym(name) => {
                if args.is_empty() {
                    return Err(self.error(start, ErrorKind::Runtime, "no receiver given"));
                }
                let recv = args.remove(0);
                self.value_method(recv, name, args, None, dsl, start)
            }
            BlockArg::Node(b) => {
                let mut scope = HashMap::new();
                match b.parameters() {
                    None => {}
                    Some(Node::BlockParametersNode { .. }) => {
                        let bp = b.parameters().expect("params");
                        let bp = bp.as_block_parameters_node().expect("params");
                        if let Some(params) = bp.parameters() {
                            let names: Vec<String> = params
                                .requireds()
                                .iter()
                                .map(|p| p.as_required_parameter_node().map(|r| name_of(&r.name())))
                                .collect::<Option<_>>()
                                .ok_or_else(|| {
                                    self.error(
                                        bp.as_node().location().start(),
                                        ErrorKind::Unsupported,
                                        "destructuring block parameters is not supported",
                                    )
                                })?;
                            if params.optionals().iter().next().is_some() || params.rest().is_some()
                            {
                                return Err(self.error(
                                    bp.as_node().location().start(),
                                    ErrorKind::Unsupported,
                                    "these block parameters are not supported",
                                ));
                            }
                            if names.len() > 1
                                && args.len() == 1
                                && matches!(args[0], Value::Array(_))
                            {
                                if let Some(Value::Array(inner)) = args.pop() {
                                    args = inner;
                                }
                            }
                            let mut it = args.into_iter();
                            for n in names {
                                scope.insert(n, it.next().unwrap_or(Value::Nil));
                            }
                        }
                    }
                    Some(Node::NumberedParametersNode { .. }) => {
                        let np = b.parameters().expect("params");
                        let max = np
                            .as_numbered_parameters_node()
                            .expect("numbered")
                            .maximum();
                        if max > 1 && args.len() == 1 && matches!(args[0], Value::Array(_)) {
                            if let Some(Value::Array(inner)) = args.pop() {
                                args = inner;
                            }
                        }
                        let mut it = args.into_iter();
                        for i in 1..=max {
                            scope.insert(format!("_{i}"), it.next().unwrap_or(Value::Nil));
                        }
                    }
                    Some(Node::ItParametersNode { .. }) => {
                        scope.insert(
                            "it".to_owned(),
                            args.into_iter().next().unwrap_or(Value::Nil),
                        );
                    }
                    Some(other) => {
                        return Err(self.unsupported(&other, "these block parameters are"));
                    }
                }
                self.scopes.push(scope);
                self.block_depth += 1;
                self.value_unused = value_unused;
                let r = self.eval_opt(b.body(), dsl);
                self.block_depth -= 1;
                self.scopes.pop();
                // The block's locals are gone: so are the indexes of hashes they held.
                let depth = self.scopes.len();
                self.forget_hash_indexes(
                    |s| matches!(s, HashSlot::Local { depth: d, .. } if *d >= depth),
                );
                match r {
                    Err(Flow::Next { value, .. }) => Ok(value),
                    other => other,
                }
            }
        }
    }

    pub(super) fn need_block(
        &self,
        block: Option<BlockArg<'pr>>,
        name: &str,
        start: u32,
    ) -> R<BlockArg<'pr>> {
        block.ok_or_else(|| {
            self.error(
                start,
                ErrorKind::Unsupported,
                format!("{name} without a block is not supported"),
            )
        })
    }
}
