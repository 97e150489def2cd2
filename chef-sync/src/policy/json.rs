//! JSON written byte for byte as chef-cli writes `Policyfile.lock.json` (FFI_Yajl's pretty
//! encoder): two-space indent, `"key": value`, one element per line, an empty object or array
//! as its opener, an empty line and its closer, `/` and non-ASCII characters unescaped, and a
//! final newline.

use serde_json::Value;

/// The whole document as chef-cli writes it, final newline included.
pub fn to_lock_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, 0, &mut out);
    out.push('\n');
    out
}

fn indent(depth: usize, out: &mut String) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_value(value: &Value, depth: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(depth + 1, out);
                write_value(item, depth + 1, out);
            }
            out.push('\n');
            indent(depth, out);
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("{\n");
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(depth + 1, out);
                write_string(key, out);
                out.push_str(": ");
                write_value(item, depth + 1, out);
            }
            out.push('\n');
            indent(depth, out);
            out.push('}');
        }
    }
}

/// A JSON string as yajl escapes it: `"`, `\`, the named control characters and the other
/// control characters as `\u00XX`; everything else (including `/` and non-ASCII) raw.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_containers_take_an_empty_line_and_close_at_the_parent_indent() {
        let v: Value = serde_json::from_str(
            r#"{"a": {}, "b": [], "c": {"d": [["x", ">= 0.0.0"]], "e": null}, "f": "a/b é"}"#,
        )
        .unwrap();
        assert_eq!(
            to_lock_string(&v),
            "{\n  \"a\": {\n\n  },\n  \"b\": [\n\n  ],\n  \"c\": {\n    \"d\": [\n      [\n        \"x\",\n        \">= 0.0.0\"\n      ]\n    ],\n    \"e\": null\n  },\n  \"f\": \"a/b é\"\n}\n"
        );
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters_only() {
        let v = Value::String("q\"b\\n\nt\t\u{1}/".into());
        assert_eq!(to_lock_string(&v), "\"q\\\"b\\\\n\\nt\\t\\u0001/\"\n");
    }
}
