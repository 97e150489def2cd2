//! Values of the Ruby subset: what expressions evaluate to and what DSL handlers receive.

use std::fmt::Write as _;

/// A Ruby value of the supported subset.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `nil`
    Nil,
    /// `true` / `false`
    Bool(bool),
    /// An integer literal or result (64-bit).
    Int(i64),
    /// A float literal or result.
    Float(f64),
    /// A string.
    Str(String),
    /// A symbol (`:name`), without the colon.
    Sym(String),
    /// An array.
    Array(Vec<Value>),
    /// A hash, in insertion order (Ruby hashes are ordered).
    Hash(Vec<(Value, Value)>),
    /// An opaque object that can be passed around but not inspected, such as `STDOUT`
    /// (also what `$stdout` evaluates to) or `STDERR`, or an object a DSL hands to a block
    /// (whose methods go to the DSL as `"OBJECT#METHOD"`, see [`Dsl`](super::Dsl)).
    Opaque(&'static str),
}

/// Whether an opaque object is one of the standard streams.
fn is_io(name: &str) -> bool {
    matches!(name, "STDOUT" | "STDERR")
}

impl Default for Value {
    /// `nil`.
    fn default() -> Self {
        Value::Nil
    }
}

impl Value {
    /// Ruby truthiness: everything except `nil` and `false` is true.
    pub fn truthy(&self) -> bool {
        !matches!(self, Value::Nil | Value::Bool(false))
    }

    /// The string content of a string or symbol.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Sym(s) => Some(s),
            _ => None,
        }
    }

    /// Ruby's class name of the value, for error messages (`String`, `NilClass`, ...).
    pub fn class_name(&self) -> &'static str {
        match self {
            Value::Nil => "NilClass",
            Value::Bool(true) => "TrueClass",
            Value::Bool(false) => "FalseClass",
            Value::Int(_) => "Integer",
            Value::Float(_) => "Float",
            Value::Str(_) => "String",
            Value::Sym(_) => "Symbol",
            Value::Array(_) => "Array",
            Value::Hash(_) => "Hash",
            Value::Opaque(name) if is_io(name) => "IO",
            Value::Opaque(_) => "Object",
        }
    }

    /// Ruby's `to_s` (what string interpolation produces).
    pub fn to_ruby_s(&self) -> String {
        match self {
            Value::Nil => String::new(),
            Value::Str(s) | Value::Sym(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => float_to_s(*f),
            Value::Array(_) | Value::Hash(_) | Value::Opaque(_) => self.inspect(),
        }
    }

    /// Ruby's `inspect` (Ruby 3.4 style for hashes).
    pub fn inspect(&self) -> String {
        match self {
            Value::Nil => "nil".to_owned(),
            Value::Str(s) => inspect_str(s),
            Value::Sym(s) => format!(":{s}"),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => self.to_ruby_s(),
            Value::Array(items) => {
                let parts: Vec<String> = items.iter().map(Value::inspect).collect();
                format!("[{}]", parts.join(", "))
            }
            Value::Hash(pairs) => {
                if pairs.is_empty() {
                    return "{}".to_owned();
                }
                let parts: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| match k {
                        Value::Sym(s) => format!("{s}: {}", v.inspect()),
                        _ => format!("{} => {}", k.inspect(), v.inspect()),
                    })
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
            Value::Opaque(name) if is_io(name) => format!("#<IO:<{name}>>"),
            Value::Opaque(name) => format!("#<{name}>"),
        }
    }

    /// Converts to JSON the way Chef's JSON encoder would (symbols become strings).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Nil => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) | Value::Sym(s) => J::String(s.clone()),
            Value::Array(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Hash(pairs) => J::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_ruby_s(), v.to_json()))
                    .collect(),
            ),
            Value::Opaque(name) => J::String((*name).to_owned()),
        }
    }

    /// Converts parsed JSON (or YAML turned into JSON) into a Ruby value.
    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Nil,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => n
                .as_i64()
                .map_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0)), Value::Int),
            J::String(s) => Value::Str(s.clone()),
            J::Array(items) => Value::Array(items.iter().map(Value::from_json).collect()),
            J::Object(map) => Value::Hash(
                map.iter()
                    .map(|(k, v)| (Value::Str(k.clone()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Looks a key up in a hash value (`nil` when absent or not a hash).
    pub fn hash_get(&self, key: &Value) -> Option<&Value> {
        match self {
            Value::Hash(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Ruby's `Float#to_s` for the common cases (`1.0`, `1.5`, `1.0e+20`).
fn float_to_s(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else if f.abs() >= 1e16 {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let m = if m.contains('.') {
                    m.to_owned()
                } else {
                    format!("{m}.0")
                };
                let e = e
                    .strip_prefix('-')
                    .map_or_else(|| format!("+{:0>2}", e), |rest| format!("-{rest:0>2}"));
                format!("{m}e{e}")
            }
            None => s,
        }
    } else {
        format!("{f}")
    }
}

/// Ruby's `String#inspect` for the characters that matter.
fn inspect_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '#' => out.push('#'),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_s_and_inspect_follow_ruby() {
        assert_eq!(Value::Float(1.0).to_ruby_s(), "1.0");
        assert_eq!(Value::Float(2.5).to_ruby_s(), "2.5");
        assert_eq!(Value::Nil.to_ruby_s(), "");
        assert_eq!(Value::Sym("a".into()).inspect(), ":a");
        let arr = Value::Array(vec![Value::Str("a\"b".into()), Value::Int(3), Value::Nil]);
        assert_eq!(arr.to_ruby_s(), r#"["a\"b", 3, nil]"#);
        let h = Value::Hash(vec![
            (Value::Sym("k".into()), Value::Int(1)),
            (Value::Str("s".into()), Value::Bool(true)),
        ]);
        assert_eq!(h.inspect(), r#"{k: 1, "s" => true}"#);
    }

    #[test]
    fn json_round_trip_keeps_order() {
        let j: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":[true,null,"x"]}"#).unwrap();
        let v = Value::from_json(&j);
        assert_eq!(v.to_json(), j);
        assert_eq!(v.hash_get(&Value::Str("b".into())), Some(&Value::Int(1)));
    }
}
