//! Ruby's non-local exits: `next`, `break` and `return` start here as a [`Flow`] and are
//! completed where Ruby completes them (a block run, the iterating call, the `def` call).

use ruby_prism::Node;

use super::super::error::{ErrorKind, EvalError};
use super::super::value::Value;
use super::{Dsl, Flow, R, Run};

/// What a misplaced `next`/`break` is told (it is only valid inside a block).
pub(super) fn block_exit_outside_block(keyword: &str) -> String {
    format!(
        "`{keyword}` outside a block: expected it inside a block, such as `list.each do |x| ... end`"
    )
}

/// What a `return` outside any `def` is told.
const RETURN_OUTSIDE_DEF: &str =
    "`return` at the top level of the file: expected it inside a `def` method body";

/// Finds the `next`/`break` a syntax error was reported at, so the message can say what was
/// expected (prism reports a block exit outside a block as "Invalid next").
/// The `next`/`break` keyword at byte `offset` of `src`, if there is one there. Read from the
/// source, not by walking the tree: a syntax error may come with a tree nested as deep as
/// prism allows, and a recursive walk of it could overflow the stack.
pub(super) fn block_exit_at(src: &[u8], offset: u32) -> Option<&'static str> {
    let rest = src.get(offset as usize..)?;
    ["next", "break"].into_iter().find(|k| {
        rest.starts_with(k.as_bytes())
            && !rest.get(k.len()).is_some_and(|b| {
                b.is_ascii_alphanumeric() || *b == b'_' || *b == b'?' || *b == b'!'
            })
    })
}

/// Completes a `break` from the block given to a method: the method call returns its value.
/// Only that block's `break` can arrive here: nested blocks' are completed by their own calls,
/// and DSL blocks and `def` bodies never let one out.
pub(super) fn complete_break(result: R<Value>) -> R<Value> {
    match result {
        Err(Flow::Break { value, .. }) => Ok(value),
        other => other,
    }
}

impl<'pr> Run<'_, 'pr> {
    /// The error for a non-local exit that reached a place where nothing completes it
    /// (the top of the file); the checks at `next`/`break`/`return` normally prevent this.
    pub(super) fn misplaced_exit(&self, flow: Flow) -> EvalError {
        match flow {
            Flow::Error(e) => e,
            Flow::Next { at, .. } => {
                self.eval_error(at, ErrorKind::Unsupported, block_exit_outside_block("next"))
            }
            Flow::Break { at, .. } => self.eval_error(
                at,
                ErrorKind::Unsupported,
                block_exit_outside_block("break"),
            ),
            Flow::Return { at, .. } => {
                self.eval_error(at, ErrorKind::Unsupported, RETURN_OUTSIDE_DEF)
            }
        }
    }

    /// `next [value]` / `break [value]`: valid only while a block runs.
    pub(super) fn eval_block_exit(&mut self, node: &Node<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
        let start = node.location().start();
        let (is_next, arguments) = match node.as_next_node() {
            Some(n) => (true, n.arguments()),
            None => (false, node.as_break_node().expect("break").arguments()),
        };
        if self.block_depth == 0 {
            let keyword = if is_next { "next" } else { "break" };
            return Err(self.error(
                start,
                ErrorKind::Unsupported,
                block_exit_outside_block(keyword),
            ));
        }
        let value = self.exit_value(arguments, dsl)?;
        Err(if is_next {
            Flow::Next { value, at: start }
        } else {
            Flow::Break { value, at: start }
        })
    }

    /// `return [value]`: valid only while a `def` method runs.
    pub(super) fn eval_return(&mut self, node: &Node<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
        let start = node.location().start();
        let n = node.as_return_node().expect("return");
        if self.def_depth == 0 {
            return Err(self.error(start, ErrorKind::Unsupported, RETURN_OUTSIDE_DEF));
        }
        let value = self.exit_value(n.arguments(), dsl)?;
        Err(Flow::Return { value, at: start })
    }

    /// The value `next`/`break`/`return` carry: `nil` without arguments, the value of a
    /// single one, an array of several (or of a splat), as in Ruby.
    fn exit_value(
        &mut self,
        arguments: Option<ruby_prism::ArgumentsNode<'pr>>,
        dsl: &mut dyn Dsl,
    ) -> R<Value> {
        let Some(arguments) = arguments else {
            return Ok(Value::Nil);
        };
        let list = arguments.arguments();
        let mut items = Vec::new();
        let mut single = true;
        for (i, el) in list.iter().enumerate() {
            single &= i == 0 && !matches!(el, Node::SplatNode { .. });
            self.push_element(&el, &mut items, dsl)?;
        }
        if single && items.len() == 1 {
            Ok(items.pop().unwrap_or(Value::Nil))
        } else {
            Ok(Value::Array(items))
        }
    }
}
