//! `Etc`: the login name, from the interpreter's `ENV` (never the process's).

use super::super::super::value::Value;
use super::super::{R, Run};

impl Run<'_, '_> {
    /// `Etc.NAME`; `what` is `"Etc.NAME"` for messages.
    pub(super) fn etc_call(&self, name: &str, what: &str, start: u32) -> R<Value> {
        match name {
            // Ruby's Etc.getlogin asks getlogin(3) (the terminal's login, which a CI job or a
            // Lambda does not have) and falls back to `ENV['USER']`; here only the fallback
            // exists, over the environment the caller gave.
            "getlogin" => Ok(self
                .interp
                .env
                .get("USER")
                .map_or(Value::Nil, |v| Value::Str(v.clone()))),
            _ => Err(self.unsupported_module_method(what, start)),
        }
    }
}
