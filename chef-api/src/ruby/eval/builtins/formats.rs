//! `YAML.load_file` (through the interpreter's hook) and `JSON.parse`.

use super::super::super::error::ErrorKind;
use super::super::super::value::Value;
use super::super::{R, Run};

impl Run<'_, '_> {
    /// `YAML.NAME(args)`; `what` is `"YAML.NAME"` for messages.
    pub(super) fn yaml_call(&self, name: &str, args: &[Value], what: &str, start: u32) -> R<Value> {
        match name {
            "load_file" | "safe_load_file" | "unsafe_load_file" => {
                let p = self.str_arg(args, 0, what, start)?;
                let Some(hook) = self.interp.yaml.clone() else {
                    return Err(self.error(
                        start,
                        ErrorKind::Unsupported,
                        format!("{what} is not available here"),
                    ));
                };
                hook(&self.resolve(&p))
                    .map_err(|e| self.runtime(start, format!("{what}('{p}'): {e}")))
            }
            _ => Err(self.unsupported_module_method(what, start)),
        }
    }

    /// `JSON.NAME(args)`; `what` is `"JSON.NAME"` for messages.
    pub(super) fn json_call(&self, name: &str, args: &[Value], what: &str, start: u32) -> R<Value> {
        match name {
            "parse" => {
                let s = self.str_arg(args, 0, what, start)?;
                let j: serde_json::Value = serde_json::from_str(&s)
                    .map_err(|e| self.runtime(start, format!("JSON.parse: {e}")))?;
                Ok(Value::from_json(&j))
            }
            _ => Err(self.unsupported_module_method(what, start)),
        }
    }
}
