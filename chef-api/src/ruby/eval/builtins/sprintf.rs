//! Ruby's `format` / `sprintf` / `String#%` for the directives configuration files use:
//! `%s`, `%d`/`%i`, `%f`, `%x`/`%o`/`%b`, `%p` (inspect), `%%`, `%{name}` and `%<name>s`, with
//! flags (`-`, `0`, `+`, space), width and precision.

use std::fmt::Write as _;

use super::super::super::value::Value;
use super::super::{MAX_BUILT_SIZE, R, Run};

impl Run<'_, '_> {
    /// Formats `args` by `fmt` as Ruby's `format(fmt, *args)`; a trailing hash serves the
    /// named references.
    #[allow(clippy::too_many_lines)]
    pub(in crate::ruby::eval) fn format(&self, fmt: &str, args: &[Value], start: u32) -> R<String> {
        let mut out = String::new();
        let mut next_arg = 0usize;
        let mut chars = fmt.chars().peekable();
        let named = |name: &str| -> R<Value> {
            let hash = args.last().filter(|a| matches!(a, Value::Hash(_)));
            let Some(hash) = hash else {
                return Err(self.runtime(start, "format: one hash required for named references"));
            };
            hash.hash_get(&Value::Sym(name.to_owned()))
                .or_else(|| hash.hash_get(&Value::Str(name.to_owned())))
                .cloned()
                .ok_or_else(|| self.runtime(start, format!("format: key<{name}> not found")))
        };
        while let Some(c) = chars.next() {
            if out.len() > MAX_BUILT_SIZE {
                return Err(self.runtime(start, "format: result too large"));
            }
            if c != '%' {
                out.push(c);
                continue;
            }
            let (mut left, mut zero, mut plus, mut space) = (false, false, false, false);
            let mut named_value: Option<Value> = None;
            // Flags, and a `<name>` reference, in any order before the width.
            while let Some(&f) = chars.peek() {
                match f {
                    '-' => left = true,
                    '0' => zero = true,
                    '+' => plus = true,
                    ' ' => space = true,
                    '<' if named_value.is_none() => {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                        named_value = Some(named(&name)?);
                        continue;
                    }
                    _ => break,
                }
                chars.next();
            }
            if named_value.is_none() && chars.peek() == Some(&'{') {
                chars.next();
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.push_str(&named(&name)?.to_ruby_s());
                continue;
            }
            let mut width = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                width.push(d);
                chars.next();
            }
            let mut precision: Option<usize> = None;
            if chars.peek() == Some(&'.') {
                chars.next();
                let mut p = String::new();
                while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    p.push(d);
                    chars.next();
                }
                precision = Some(p.parse().unwrap_or(0));
            }
            let width: usize = width.parse().unwrap_or(0);
            if width > MAX_BUILT_SIZE {
                return Err(self.runtime(start, "format: width too large"));
            }
            let Some(directive) = chars.next() else {
                return Err(
                    self.runtime(start, "format: incomplete format specifier; use %% instead")
                );
            };
            if directive == '%' {
                out.push('%');
                continue;
            }
            let value = match named_value {
                Some(v) => v,
                None => {
                    let v = args
                        .get(next_arg)
                        .cloned()
                        .ok_or_else(|| self.runtime(start, "format: too few arguments"))?;
                    next_arg += 1;
                    v
                }
            };
            let sign = |negative: bool| {
                if negative {
                    "-"
                } else if plus {
                    "+"
                } else if space {
                    " "
                } else {
                    ""
                }
            };
            let (body, numeric) = match directive {
                's' => {
                    let s = value.to_ruby_s();
                    (
                        match precision {
                            Some(p) => s.chars().take(p).collect(),
                            None => s,
                        },
                        false,
                    )
                }
                'p' => (value.inspect(), false),
                'd' | 'i' | 'u' | 'x' | 'X' | 'o' | 'b' => {
                    let n = match &value {
                        Value::Int(i) => *i,
                        #[allow(clippy::cast_possible_truncation)]
                        Value::Float(f) => f.floor() as i64,
                        Value::Str(s) => s.trim().parse().map_err(|_| {
                            self.runtime(start, format!("invalid value for Integer(): {s:?}"))
                        })?,
                        other => {
                            return Err(self.runtime(
                                start,
                                format!("can't convert {} into Integer", other.class_name()),
                            ));
                        }
                    };
                    let mag = n.unsigned_abs();
                    let digits = match directive {
                        'x' => format!("{mag:x}"),
                        'X' => format!("{mag:X}"),
                        'o' => format!("{mag:o}"),
                        'b' => format!("{mag:b}"),
                        _ => mag.to_string(),
                    };
                    (format!("{}{digits}", sign(n < 0)), true)
                }
                'f' | 'e' | 'g' => {
                    #[allow(clippy::cast_precision_loss)]
                    let f = match &value {
                        Value::Int(i) => *i as f64,
                        Value::Float(f) => *f,
                        Value::Str(s) => s.trim().parse().map_err(|_| {
                            self.runtime(start, format!("invalid value for Float(): {s:?}"))
                        })?,
                        other => {
                            return Err(self.runtime(
                                start,
                                format!("can't convert {} into Float", other.class_name()),
                            ));
                        }
                    };
                    let p = precision.unwrap_or(6).min(64);
                    let mut digits = String::new();
                    match directive {
                        'e' => {
                            let _ = write!(digits, "{:.p$e}", f.abs());
                        }
                        _ => {
                            let _ = write!(digits, "{:.p$}", f.abs());
                        }
                    }
                    (
                        format!("{}{digits}", sign(f.is_sign_negative() && f != 0.0)),
                        true,
                    )
                }
                other => {
                    return Err(
                        self.runtime(start, format!("format: malformed format string - %{other}"))
                    );
                }
            };
            let len = body.chars().count();
            if len >= width {
                out.push_str(&body);
            } else if left {
                out.push_str(&body);
                out.push_str(&" ".repeat(width - len));
            } else if zero && numeric {
                let (sign_part, digits) = match body.chars().next() {
                    Some(c @ ('-' | '+' | ' ')) => (c.to_string(), body[1..].to_owned()),
                    _ => (String::new(), body.clone()),
                };
                out.push_str(&sign_part);
                out.push_str(&"0".repeat(width - len));
                out.push_str(&digits);
            } else {
                out.push_str(&" ".repeat(width - len));
                out.push_str(&body);
            }
        }
        Ok(out)
    }
}
