//! Evaluation of syntax-tree nodes: literals, variables and constants, operators, conditionals,
//! `case`, `begin/rescue`, `defined?`; calls and exits are handed to their own modules.

use ruby_prism::Node;

use super::super::error::ErrorKind;
use super::super::value::Value;
use super::hash_index::HashIndex;
use super::{Dsl, Flow, MAX_BUILT_SIZE, MAX_DEPTH, MAX_STEPS, R, Run, STACK_BUDGET, name_of};

impl<'pr> Run<'_, 'pr> {
    pub(super) fn eval_opt(&mut self, node: Option<Node<'pr>>, dsl: &mut dyn Dsl) -> R<Value> {
        match node {
            Some(n) => self.eval(&n, dsl),
            None => Ok(Value::Nil),
        }
    }

    fn eval_statements(
        &mut self,
        stmts: Option<ruby_prism::StatementsNode<'pr>>,
        dsl: &mut dyn Dsl,
    ) -> R<Value> {
        self.eval_statements_with(stmts, false, dsl)
    }

    /// Evaluates a statement list; `all_unused` when nobody uses its value either (the body
    /// of a block given to `each` or `times`), so in-place calls need not copy for it.
    fn eval_statements_with(
        &mut self,
        stmts: Option<ruby_prism::StatementsNode<'pr>>,
        all_unused: bool,
        dsl: &mut dyn Dsl,
    ) -> R<Value> {
        let mut last = Value::Nil;
        if let Some(stmts) = stmts {
            let body = stmts.body();
            let count = body.iter().count();
            for (i, n) in body.iter().enumerate() {
                // Only this statement's own node may use the flag: `eval` clears it.
                self.value_unused = all_unused || i + 1 < count;
                last = self.eval(&n, dsl)?;
            }
        }
        Ok(last)
    }

    /// Counts one evaluation step at `at` against [`MAX_STEPS`].
    pub(super) fn tick(&mut self, at: u32) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.error(
                at,
                ErrorKind::Limit,
                format!("evaluation stopped after {MAX_STEPS} steps (sandbox limit)"),
            ));
        }
        Ok(())
    }

    /// Evaluates one node, bounding how deeply evaluation may nest (nested literals, calls
    /// into `def` helpers, blocks) so no input can overflow the stack.
    pub(super) fn eval(&mut self, node: &Node<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
        let marker = 0u8;
        let here = std::ptr::addr_of!(marker) as usize;
        if self.depth >= MAX_DEPTH || self.stack_base.abs_diff(here) > STACK_BUDGET {
            return Err(self.error(
                node.location().start(),
                ErrorKind::Limit,
                "stack level too deep (nesting or recursion over the sandbox limit)",
            ));
        }
        self.tick(node.location().start())?;
        // The statement list's flag is for this node alone.
        self.result_unused = std::mem::take(&mut self.value_unused);
        self.depth += 1;
        let r = self.eval_node(node, dsl);
        self.depth -= 1;
        r
    }

    #[allow(clippy::too_many_lines)]
    fn eval_node(&mut self, node: &Node<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
        let start = node.location().start();
        match node {
            Node::ProgramNode { .. } => {
                let n = node.as_program_node().expect("program");
                self.eval_statements(Some(n.statements()), dsl)
            }
            Node::StatementsNode { .. } => {
                let n = node.as_statements_node().expect("statements");
                let unused = std::mem::take(&mut self.result_unused);
                self.eval_statements_with(Some(n), unused, dsl)
            }
            Node::NilNode { .. } => Ok(Value::Nil),
            Node::TrueNode { .. } => Ok(Value::Bool(true)),
            Node::FalseNode { .. } => Ok(Value::Bool(false)),
            Node::IntegerNode { .. } => {
                let n = node.as_integer_node().expect("integer");
                let int = n.value();
                let (negative, digits) = int.to_u32_digits();
                let magnitude: u64 = match digits {
                    [] => 0,
                    [lo] => u64::from(*lo),
                    [lo, hi] => u64::from(*lo) | (u64::from(*hi) << 32),
                    _ => u64::MAX,
                };
                let v = i64::try_from(magnitude).map_err(|_| {
                    self.error(start, ErrorKind::Unsupported, "integer literal too large")
                })?;
                Ok(Value::Int(if negative { -v } else { v }))
            }
            Node::FloatNode { .. } => {
                Ok(Value::Float(node.as_float_node().expect("float").value()))
            }
            Node::StringNode { .. } => {
                let n = node.as_string_node().expect("string");
                Ok(Value::Str(
                    String::from_utf8_lossy(n.unescaped()).into_owned(),
                ))
            }
            Node::InterpolatedStringNode { .. } => {
                let n = node.as_interpolated_string_node().expect("istring");
                Ok(Value::Str(self.interpolate(&n.parts(), dsl)?))
            }
            Node::SymbolNode { .. } => {
                let n = node.as_symbol_node().expect("symbol");
                Ok(Value::Sym(
                    String::from_utf8_lossy(n.unescaped()).into_owned(),
                ))
            }
            Node::InterpolatedSymbolNode { .. } => {
                let n = node.as_interpolated_symbol_node().expect("isymbol");
                Ok(Value::Sym(self.interpolate(&n.parts(), dsl)?))
            }
            Node::XStringNode { .. } | Node::InterpolatedXStringNode { .. } => Err(self.error(
                start,
                ErrorKind::NotAllowed,
                "backtick commands are not supported",
            )),
            Node::ArrayNode { .. } => {
                let n = node.as_array_node().expect("array");
                let mut items = Vec::new();
                for el in &n.elements() {
                    self.push_element(&el, &mut items, dsl)?;
                }
                Ok(Value::Array(items))
            }
            Node::HashNode { .. } => {
                let n = node.as_hash_node().expect("hash");
                let mut pairs = Vec::new();
                let mut index = HashIndex::new(&pairs);
                for el in &n.elements() {
                    self.push_assoc(&el, &mut pairs, &mut index, dsl)?;
                }
                Ok(Value::Hash(pairs))
            }
            Node::LocalVariableReadNode { .. } => {
                let n = node.as_local_variable_read_node().expect("lvar");
                Ok(self
                    .get_local(&name_of(&n.name()))
                    .cloned()
                    .unwrap_or(Value::Nil))
            }
            Node::ItLocalVariableReadNode { .. } => {
                Ok(self.get_local("it").cloned().unwrap_or(Value::Nil))
            }
            Node::LocalVariableWriteNode { .. } => {
                let n = node.as_local_variable_write_node().expect("lasgn");
                let v = self.eval(&n.value(), dsl)?;
                self.set_local(name_of(&n.name()), v.clone());
                Ok(v)
            }
            Node::LocalVariableOrWriteNode { .. } => {
                let n = node.as_local_variable_or_write_node().expect("lor");
                let name = name_of(&n.name());
                if let Some(v) = self.get_local(&name).filter(|v| v.truthy()) {
                    return Ok(v.clone());
                }
                let v = self.eval(&n.value(), dsl)?;
                self.set_local(name, v.clone());
                Ok(v)
            }
            Node::LocalVariableAndWriteNode { .. } => {
                let n = node.as_local_variable_and_write_node().expect("land");
                let name = name_of(&n.name());
                let cur = self.get_local(&name).cloned().unwrap_or(Value::Nil);
                if !cur.truthy() {
                    return Ok(cur);
                }
                let v = self.eval(&n.value(), dsl)?;
                self.set_local(name, v.clone());
                Ok(v)
            }
            Node::LocalVariableOperatorWriteNode { .. } => {
                let n = node.as_local_variable_operator_write_node().expect("lop");
                let name = name_of(&n.name());
                let cur = self.get_local(&name).cloned().unwrap_or(Value::Nil);
                let rhs = self.eval(&n.value(), dsl)?;
                let op = name_of(&n.binary_operator());
                let v = self.value_method(cur, &op, vec![rhs], None, dsl, start)?;
                self.set_local(name, v.clone());
                Ok(v)
            }
            Node::ConstantReadNode { .. } => {
                let n = node.as_constant_read_node().expect("const");
                let name = name_of(&n.name());
                self.constant(&name, start)
            }
            Node::ConstantWriteNode { .. } => {
                let n = node.as_constant_write_node().expect("cdecl");
                let v = self.eval(&n.value(), dsl)?;
                self.set_constant(name_of(&n.name()), v.clone());
                Ok(v)
            }
            Node::ConstantOrWriteNode { .. } => {
                let n = node.as_constant_or_write_node().expect("cor");
                let name = name_of(&n.name());
                if let Some(v) = self.constants.get(&name).filter(|v| v.truthy()) {
                    return Ok(v.clone());
                }
                let v = self.eval(&n.value(), dsl)?;
                self.set_constant(name, v.clone());
                Ok(v)
            }
            Node::GlobalVariableReadNode { .. } => {
                let n = node.as_global_variable_read_node().expect("gvar");
                match name_of(&n.name()).as_str() {
                    "$stdout" => Ok(Value::Opaque("STDOUT")),
                    "$stderr" => Ok(Value::Opaque("STDERR")),
                    other => Err(self.error(
                        start,
                        ErrorKind::Unsupported,
                        format!("global variable {other} is not supported"),
                    )),
                }
            }
            Node::SourceFileNode { .. } => Ok(Value::Str(self.file_str())),
            Node::SourceLineNode { .. } => Ok(Value::Int(i64::from(self.position(start).0))),
            Node::AndNode { .. } => {
                let n = node.as_and_node().expect("and");
                let l = self.eval(&n.left(), dsl)?;
                if l.truthy() {
                    self.eval(&n.right(), dsl)
                } else {
                    Ok(l)
                }
            }
            Node::OrNode { .. } => {
                let n = node.as_or_node().expect("or");
                let l = self.eval(&n.left(), dsl)?;
                if l.truthy() {
                    Ok(l)
                } else {
                    self.eval(&n.right(), dsl)
                }
            }
            Node::IfNode { .. } => {
                let n = node.as_if_node().expect("if");
                if self.eval(&n.predicate(), dsl)?.truthy() {
                    self.eval_statements(n.statements(), dsl)
                } else {
                    self.eval_opt(n.subsequent(), dsl)
                }
            }
            Node::UnlessNode { .. } => {
                let n = node.as_unless_node().expect("unless");
                if self.eval(&n.predicate(), dsl)?.truthy() {
                    match n.else_clause() {
                        Some(e) => self.eval_statements(e.statements(), dsl),
                        None => Ok(Value::Nil),
                    }
                } else {
                    self.eval_statements(n.statements(), dsl)
                }
            }
            Node::ElseNode { .. } => {
                let n = node.as_else_node().expect("else");
                self.eval_statements(n.statements(), dsl)
            }
            Node::CaseNode { .. } => {
                let n = node.as_case_node().expect("case");
                let subject = match n.predicate() {
                    Some(p) => Some(self.eval(&p, dsl)?),
                    None => None,
                };
                for cond in &n.conditions() {
                    let Some(when) = cond.as_when_node() else {
                        return Err(self.unsupported(&cond, "this `case` form is"));
                    };
                    for c in &when.conditions() {
                        let v = self.eval(&c, dsl)?;
                        let hit = match &subject {
                            Some(s) => *s == v,
                            None => v.truthy(),
                        };
                        if hit {
                            return self.eval_statements(when.statements(), dsl);
                        }
                    }
                }
                match n.else_clause() {
                    Some(e) => self.eval_statements(e.statements(), dsl),
                    None => Ok(Value::Nil),
                }
            }
            Node::ParenthesesNode { .. } => {
                let n = node.as_parentheses_node().expect("parens");
                self.eval_opt(n.body(), dsl)
            }
            Node::RescueModifierNode { .. } => {
                let n = node.as_rescue_modifier_node().expect("rescue mod");
                match self.eval(&n.expression(), dsl) {
                    Err(Flow::Error(e)) if e.kind == ErrorKind::Runtime => {
                        self.eval(&n.rescue_expression(), dsl)
                    }
                    other => other,
                }
            }
            Node::BeginNode { .. } => {
                let n = node.as_begin_node().expect("begin");
                if n.ensure_clause().is_some() {
                    return Err(self.unsupported(node, "`ensure` is"));
                }
                let result = self.eval_statements(n.statements(), dsl);
                let result = match (result, n.rescue_clause()) {
                    (Err(Flow::Error(e)), Some(rescue)) if e.kind == ErrorKind::Runtime => {
                        if rescue.subsequent().is_some() {
                            return Err(self.unsupported(node, "several `rescue` clauses are"));
                        }
                        if let Some(r) = rescue.reference() {
                            let Some(target) = r.as_local_variable_target_node() else {
                                return Err(self.unsupported(&r, "this rescue target is"));
                            };
                            self.set_local(name_of(&target.name()), Value::Str(e.message.clone()));
                        }
                        return self.eval_statements(rescue.statements(), dsl);
                    }
                    (other, _) => other,
                }?;
                match n.else_clause() {
                    Some(e) => self.eval_statements(e.statements(), dsl),
                    None => Ok(result),
                }
            }
            Node::DefinedNode { .. } => {
                let n = node.as_defined_node().expect("defined");
                self.defined(&n.value(), dsl)
            }
            Node::DefNode { .. } => self.eval_def(node),
            Node::IndexOrWriteNode { .. } => self.eval_index_or_write(node, dsl),
            Node::CallNode { .. } => {
                let n = node.as_call_node().expect("call");
                self.eval_call(&n, dsl)
            }
            Node::RegularExpressionNode { .. }
            | Node::InterpolatedRegularExpressionNode { .. }
            | Node::MatchLastLineNode { .. }
            | Node::InterpolatedMatchLastLineNode { .. } => {
                Err(self.unsupported(node, "regular expressions are"))
            }
            Node::WhileNode { .. } | Node::UntilNode { .. } | Node::ForNode { .. } => {
                Err(self.unsupported(node, "loops are"))
            }
            Node::ClassNode { .. } | Node::ModuleNode { .. } | Node::SingletonClassNode { .. } => {
                Err(self.unsupported(node, "class and module definitions are"))
            }
            Node::InstanceVariableReadNode { .. } => {
                let n = node.as_instance_variable_read_node().expect("ivar");
                Ok(self
                    .ivars
                    .get(&name_of(&n.name()))
                    .cloned()
                    .unwrap_or(Value::Nil))
            }
            Node::InstanceVariableWriteNode { .. } => {
                let n = node.as_instance_variable_write_node().expect("iasgn");
                let v = self.eval(&n.value(), dsl)?;
                self.set_ivar(name_of(&n.name()), v.clone());
                Ok(v)
            }
            Node::InstanceVariableOrWriteNode { .. } => {
                let n = node.as_instance_variable_or_write_node().expect("ivar ||=");
                let name = name_of(&n.name());
                if let Some(v) = self.ivars.get(&name).filter(|v| v.truthy()) {
                    return Ok(v.clone());
                }
                let v = self.eval(&n.value(), dsl)?;
                self.set_ivar(name, v.clone());
                Ok(v)
            }
            Node::InstanceVariableAndWriteNode { .. } => {
                let n = node
                    .as_instance_variable_and_write_node()
                    .expect("ivar &&=");
                let name = name_of(&n.name());
                let cur = self.ivars.get(&name).cloned().unwrap_or(Value::Nil);
                if !cur.truthy() {
                    return Ok(cur);
                }
                let v = self.eval(&n.value(), dsl)?;
                self.set_ivar(name, v.clone());
                Ok(v)
            }
            Node::InstanceVariableOperatorWriteNode { .. } => {
                let n = node
                    .as_instance_variable_operator_write_node()
                    .expect("ivar op=");
                let name = name_of(&n.name());
                let cur = self.ivars.get(&name).cloned().unwrap_or(Value::Nil);
                let rhs = self.eval(&n.value(), dsl)?;
                let op = name_of(&n.binary_operator());
                let v = self.value_method(cur, &op, vec![rhs], None, dsl, start)?;
                self.set_ivar(name, v.clone());
                Ok(v)
            }
            Node::ClassVariableReadNode { .. } | Node::ClassVariableWriteNode { .. } => {
                Err(self.unsupported(node, "class variables are"))
            }
            Node::GlobalVariableWriteNode { .. } => {
                Err(self.unsupported(node, "assigning global variables is"))
            }
            Node::ConstantPathNode { .. } => {
                let text = String::from_utf8_lossy(node.location().as_slice()).into_owned();
                Err(self.unsupported(node, &format!("constant {text} is")))
            }
            Node::SelfNode { .. } => Err(self.unsupported(node, "`self` is")),
            Node::LambdaNode { .. } => Err(self.unsupported(node, "lambdas are")),
            Node::MultiWriteNode { .. } => Err(self.unsupported(node, "multiple assignment is")),
            Node::RangeNode { .. } => Err(self.unsupported(node, "ranges are")),
            Node::NextNode { .. } | Node::BreakNode { .. } => self.eval_block_exit(node, dsl),
            Node::ReturnNode { .. } => self.eval_return(node, dsl),
            Node::YieldNode { .. } => Err(self.unsupported(node, "`yield` is")),
            Node::SuperNode { .. } | Node::ForwardingSuperNode { .. } => {
                Err(self.unsupported(node, "`super` is"))
            }
            Node::AliasMethodNode { .. } | Node::AliasGlobalVariableNode { .. } => {
                Err(self.unsupported(node, "`alias` is"))
            }
            Node::UndefNode { .. } => Err(self.unsupported(node, "`undef` is")),
            Node::PreExecutionNode { .. } | Node::PostExecutionNode { .. } => {
                Err(self.unsupported(node, "BEGIN/END blocks are"))
            }
            Node::RationalNode { .. } | Node::ImaginaryNode { .. } => {
                Err(self.unsupported(node, "rational and imaginary numbers are"))
            }
            _ => {
                let text = String::from_utf8_lossy(node.location().as_slice());
                let snippet: String = text.chars().take(40).collect();
                Err(self.unsupported(node, &format!("the construct `{snippet}` is")))
            }
        }
    }

    fn interpolate(&mut self, parts: &ruby_prism::NodeList<'pr>, dsl: &mut dyn Dsl) -> R<String> {
        let mut out = String::new();
        for part in parts {
            match &part {
                Node::StringNode { .. } => {
                    let s = part.as_string_node().expect("string");
                    out.push_str(&String::from_utf8_lossy(s.unescaped()));
                }
                Node::EmbeddedStatementsNode { .. } => {
                    let e = part.as_embedded_statements_node().expect("embedded");
                    out.push_str(&self.eval_statements(e.statements(), dsl)?.to_ruby_s());
                }
                _ => out.push_str(&self.eval(&part, dsl)?.to_ruby_s()),
            }
        }
        self.charge(start_of(parts), out.len(), MAX_BUILT_SIZE)?;
        Ok(out)
    }

    pub(super) fn push_element(
        &mut self,
        el: &Node<'pr>,
        items: &mut Vec<Value>,
        dsl: &mut dyn Dsl,
    ) -> R<()> {
        match el {
            Node::SplatNode { .. } => {
                let s = el.as_splat_node().expect("splat");
                match self.eval_opt(s.expression(), dsl)? {
                    Value::Array(v) => items.extend(v),
                    Value::Nil => {}
                    other => items.push(other),
                }
            }
            Node::KeywordHashNode { .. } => {
                let k = el.as_keyword_hash_node().expect("kwhash");
                let mut pairs = Vec::new();
                let mut index = HashIndex::new(&pairs);
                for a in &k.elements() {
                    self.push_assoc(&a, &mut pairs, &mut index, dsl)?;
                }
                items.push(Value::Hash(pairs));
            }
            _ => items.push(self.eval(el, dsl)?),
        }
        Ok(())
    }

    pub(super) fn push_assoc(
        &mut self,
        el: &Node<'pr>,
        pairs: &mut Vec<(Value, Value)>,
        index: &mut HashIndex,
        dsl: &mut dyn Dsl,
    ) -> R<()> {
        match el {
            Node::AssocNode { .. } => {
                let a = el.as_assoc_node().expect("assoc");
                let k = self.eval(&a.key(), dsl)?;
                let v = self.eval(&a.value(), dsl)?;
                let compared = index.insert(pairs, k, v);
                self.charge_work(el.location().start(), compared)?;
            }
            Node::AssocSplatNode { .. } => {
                let a = el.as_assoc_splat_node().expect("assoc splat");
                match self.eval_opt(a.value(), dsl)? {
                    Value::Hash(h) => {
                        let mut compared = 0usize;
                        for (k, v) in h {
                            compared = compared.saturating_add(index.insert(pairs, k, v));
                        }
                        self.charge_work(el.location().start(), compared)?;
                    }
                    Value::Nil => {}
                    other => {
                        return Err(self.error(
                            el.location().start(),
                            ErrorKind::Runtime,
                            format!("no implicit conversion of {} into Hash", other.class_name()),
                        ));
                    }
                }
            }
            _ => return Err(self.unsupported(el, "this hash element is")),
        }
        Ok(())
    }

    fn constant(&self, name: &str, start: u32) -> R<Value> {
        if let Some(v) = self.constants.get(name) {
            return Ok(v.clone());
        }
        match name {
            "STDOUT" => Ok(Value::Opaque("STDOUT")),
            "STDERR" => Ok(Value::Opaque("STDERR")),
            "File" | "IO" | "ENV" | "YAML" | "JSON" | "Dir" | "Etc" => Err(self.error(
                start,
                ErrorKind::Unsupported,
                format!("{name} can only be used to call its supported methods"),
            )),
            _ => Err(self.error(
                start,
                ErrorKind::Runtime,
                format!("uninitialized constant {name}"),
            )),
        }
    }

    fn defined(&mut self, node: &Node<'pr>, dsl: &mut dyn Dsl) -> R<Value> {
        let s = |x: &str| Ok(Value::Str(x.to_owned()));
        match node {
            Node::LocalVariableReadNode { .. } => s("local-variable"),
            Node::InstanceVariableReadNode { .. } => {
                let n = node.as_instance_variable_read_node().expect("ivar");
                if self.ivars.contains_key(&name_of(&n.name())) {
                    s("instance-variable")
                } else {
                    Ok(Value::Nil)
                }
            }
            Node::ConstantReadNode { .. } => {
                let n = node.as_constant_read_node().expect("const");
                let name = name_of(&n.name());
                if self.constants.contains_key(&name)
                    || matches!(
                        name.as_str(),
                        "STDOUT"
                            | "STDERR"
                            | "File"
                            | "IO"
                            | "ENV"
                            | "YAML"
                            | "JSON"
                            | "Dir"
                            | "Etc"
                    )
                {
                    s("constant")
                } else {
                    Ok(Value::Nil)
                }
            }
            Node::CallNode { .. } => {
                let n = node.as_call_node().expect("call");
                let name = name_of(&n.name());
                if n.receiver().is_none()
                    && (dsl.responds_to(&name) || self.defs.contains_key(&name))
                {
                    s("method")
                } else if n.receiver().is_none() {
                    Ok(Value::Nil)
                } else {
                    Err(self.unsupported(node, "`defined?` on a method call with a receiver is"))
                }
            }
            _ => {
                let _ = self.eval(node, dsl)?;
                s("expression")
            }
        }
    }
}

/// Where the first of `parts` starts (0 for none).
fn start_of(parts: &ruby_prism::NodeList<'_>) -> u32 {
    parts.iter().next().map_or(0, |p| p.location().start())
}
