//! The forms Mixlib::Config gives Chef configuration files beyond `name value`: configuration
//! contexts (`knife.editor 'vim'`, `chef_zero.enabled true`) and `Chef::Config` as a receiver
//! (`Chef::Config[:node_name]`, `Chef::Config[:x] = v`, `Chef::Config.from_file(path)`). Both
//! become ordinary [`Dsl`] calls; nothing here reaches beyond the DSL and the file system the
//! interpreter already has.

use ruby_prism::{CallNode, Node};

use super::super::error::{CallError, ErrorKind};
use super::super::value::Value;
use super::{Call, Dsl, Flow, R, Run, name_of};

/// The spellings of the Chef configuration class a file may use as a receiver.
const CHEF_CONFIG: &[&str] = &[
    "Chef::Config",
    "::Chef::Config",
    "ChefConfig::Config",
    "::ChefConfig::Config",
];

impl<'pr> Run<'_, 'pr> {
    /// `CONTEXT.KEY [args]` / `CONTEXT.KEY = v`, where `CONTEXT` is a bare call the DSL
    /// answers `"CONTEXT.KEY"` for: the DSL call `CONTEXT.KEY`. `None` when the call is not
    /// one of these.
    pub(super) fn context_call(
        &mut self,
        call: &CallNode<'pr>,
        receiver: &Node<'pr>,
        name: &str,
        dsl: &mut dyn Dsl,
    ) -> R<Option<Value>> {
        let Some(context) = receiver.as_call_node().filter(|c| {
            c.receiver().is_none()
                && c.arguments().is_none()
                && c.block().is_none()
                && !self.defs.contains_key(&name_of(&c.name()))
        }) else {
            return Ok(None);
        };
        let key = name.strip_suffix('=').unwrap_or(name);
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Ok(None);
        }
        let dsl_name = format!("{}.{key}", name_of(&context.name()));
        if !dsl.responds_to(&dsl_name) {
            return Ok(None);
        }
        let (args, kwargs, _) = self.call_args(call, dsl)?;
        let start = call.location().start();
        self.plain_dsl_call(dsl_name, args, kwargs, dsl, start)
            .map(Some)
    }

    /// A call on `Chef::Config` (or `ChefConfig::Config`) in a DSL that is a Chef
    /// configuration: `[]` reads a setting, `[]=` sets it, `from_file` evaluates another
    /// file, any other method is the setting of that name. `None` when the receiver is not
    /// `Chef::Config` or the DSL is not a configuration.
    pub(super) fn chef_config_call(
        &mut self,
        call: &CallNode<'pr>,
        receiver: &Node<'pr>,
        name: &str,
        dsl: &mut dyn Dsl,
    ) -> R<Option<Value>> {
        if receiver.as_constant_path_node().is_none() {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(receiver.location().as_slice()).into_owned();
        if !CHEF_CONFIG.contains(&text.as_str()) {
            return Ok(None);
        }
        let start = call.location().start();
        if !dsl.is_chef_config() {
            return Err(self.error(
                start,
                ErrorKind::Unsupported,
                format!("{text} is only available in knife.rb/config.rb"),
            ));
        }
        let (mut args, kwargs, _) = self.call_args(call, dsl)?;
        let setting = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let value = match name {
            "[]" => {
                let key = setting(args.first())
                    .ok_or_else(|| self.runtime(start, format!("{text}[]: expected a name")))?;
                self.read_setting(&key, dsl, start)?
            }
            "[]=" => {
                if args.len() != 2 {
                    return Err(
                        self.runtime(start, format!("{text}[]=: expected a name and a value"))
                    );
                }
                let key = setting(args.first())
                    .ok_or_else(|| self.runtime(start, format!("{text}[]=: expected a name")))?;
                let value = args.pop().unwrap_or(Value::Nil);
                self.plain_dsl_call(key, vec![value], Vec::new(), dsl, start)?
            }
            "from_file" => {
                let path = self.str_arg(&args, 0, &format!("{text}.from_file"), start)?;
                self.include_file(&path, dsl, start)?
            }
            "key?" | "has_key?" => {
                let key = setting(args.first()).ok_or_else(|| {
                    self.runtime(start, format!("{text}.{name}: expected a name"))
                })?;
                Value::Bool(self.read_setting(&key, dsl, start)? != Value::Nil)
            }
            _ => {
                let key = name.strip_suffix('=').unwrap_or(name);
                if args.is_empty() && kwargs.is_empty() {
                    self.read_setting(key, dsl, start)?
                } else {
                    self.plain_dsl_call(key.to_owned(), args, kwargs, dsl, start)?
                }
            }
        };
        Ok(Some(value))
    }

    /// `Chef::Config[:knife][:k] = v`: the DSL call `knife[]=` with `[k, v]`, as `knife[:k] = v`
    /// is. `None` when the call is not one of these.
    pub(super) fn chef_config_index_write(
        &mut self,
        call: &CallNode<'pr>,
        receiver: &Node<'pr>,
        name: &str,
        dsl: &mut dyn Dsl,
    ) -> R<Option<Value>> {
        if name != "[]=" || !dsl.is_chef_config() {
            return Ok(None);
        }
        let Some(index) = receiver.as_call_node() else {
            return Ok(None);
        };
        let Some(config) = index.receiver() else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(config.location().as_slice()).into_owned();
        if name_of(&index.name()) != "[]"
            || config.as_constant_path_node().is_none()
            || !CHEF_CONFIG.contains(&text.as_str())
        {
            return Ok(None);
        }
        let (context, _, _) = self.call_args(&index, dsl)?;
        let Some(context) = context.first().and_then(Value::as_str).map(str::to_owned) else {
            return Ok(None);
        };
        let dsl_name = format!("{context}[]=");
        if !dsl.responds_to(&dsl_name) {
            return Ok(None);
        }
        let (args, kwargs, _) = self.call_args(call, dsl)?;
        let start = call.location().start();
        self.plain_dsl_call(dsl_name, args, kwargs, dsl, start)
            .map(Some)
    }

    /// Reads the setting `key` (a call without arguments), `nil` when the DSL does not know it.
    fn read_setting(&mut self, key: &str, dsl: &mut dyn Dsl, start: u32) -> R<Value> {
        if !dsl.responds_to(key) {
            return Ok(Value::Nil);
        }
        self.plain_dsl_call(key.to_owned(), Vec::new(), Vec::new(), dsl, start)
    }

    /// A DSL call without a block, positioned at `start`.
    pub(super) fn plain_dsl_call(
        &mut self,
        name: String,
        args: Vec<Value>,
        kwargs: Vec<(Value, Value)>,
        dsl: &mut dyn Dsl,
        start: u32,
    ) -> R<Value> {
        let (line, column) = self.position(start);
        let c = Call {
            name,
            args,
            kwargs,
            line,
            column,
        };
        dsl.call(c, None).map_err(|e| match e {
            CallError::Message(m) => self.error(start, ErrorKind::Dsl, m),
            CallError::Eval(e) => Flow::Error(*e),
        })
    }
}
