//! Unit tests of the evaluator: knife.rb, Berksfile and metadata.rb idioms, and rejections.
//! This module holds the shared helpers (a recording [`Dsl`], an in-memory [`FileSystem`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::*;

mod builtins;
mod chef_forms;
mod flow;
mod language;
mod limits;
mod rejections;

/// (name, args, kwargs, line) of one call.
type Recorded = (String, Vec<Value>, Vec<(Value, Value)>, u32);

/// Records every call; knows a fixed set of method names. `group` runs its block.
#[derive(Default, Debug)]
struct Recorder {
    known: Vec<&'static str>,
    calls: Vec<Recorded>,
}

impl Recorder {
    fn new(known: &[&'static str]) -> Self {
        Self {
            known: known.to_vec(),
            calls: Vec::new(),
        }
    }
    fn args_of(&self, name: &str) -> Vec<Vec<Value>> {
        self.calls
            .iter()
            .filter(|c| c.0 == name)
            .map(|c| c.1.clone())
            .collect()
    }
}

impl Dsl for Recorder {
    fn responds_to(&self, name: &str) -> bool {
        self.known.contains(&name)
    }
    fn call(&mut self, call: Call, block: Option<&mut dyn Block>) -> Result<Value, CallError> {
        if call.name == "fail_here" {
            return Err(CallError::Message("bad argument".into()));
        }
        let line = call.line;
        self.calls
            .push((call.name.clone(), call.args, call.kwargs, line));
        if let Some(b) = block {
            // `yields_object` hands its block an object whose methods come back as `src#NAME`.
            let arg = if self.calls.last().is_some_and(|c| c.0 == "yields_object") {
                Value::Opaque("src")
            } else {
                Value::Str("from-dsl".into())
            };
            b.call(self, vec![arg])?;
        }
        Ok(Value::Nil)
    }
}

/// An in-memory file system.
#[derive(Default)]
struct MemFs(HashMap<PathBuf, String>);

impl FileSystem for MemFs {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        self.0.get(path).cloned().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory")
        })
    }
    fn exists(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }
    fn is_dir(&self, _path: &Path) -> bool {
        false
    }
}

fn run(src: &str, known: &[&'static str]) -> Result<(Recorder, Evaluation), EvalError> {
    let mut dsl = Recorder::new(known);
    let ev = Interpreter::new().eval(src, Path::new("/repo/.chef/knife.rb"), &mut dsl)?;
    Ok((dsl, ev))
}

fn value_of(src: &str) -> Value {
    run(src, &[]).expect("evaluates").1.value
}

fn err_of(src: &str, known: &[&'static str]) -> String {
    run(src, known).expect_err("must fail").to_string()
}

fn s(x: &str) -> Value {
    Value::Str(x.to_owned())
}
