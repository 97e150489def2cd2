//! Methods of `String`.

use super::super::super::error::ErrorKind;
use super::super::super::value::Value;
use super::super::{MAX_BUILT_SIZE, R, Run};

impl Run<'_, '_> {
    /// `s.NAME(args)`.
    #[allow(clippy::too_many_lines)]
    pub(super) fn string_method(
        &self,
        s: String,
        name: &str,
        args: &[Value],
        start: u32,
    ) -> R<Value> {
        match name {
            "+" => match args.first() {
                Some(Value::Str(o)) if s.len().saturating_add(o.len()) > MAX_BUILT_SIZE => {
                    Err(self.error(
                        start,
                        ErrorKind::Limit,
                        format!(
                            "String#+: result larger than {MAX_BUILT_SIZE} bytes (sandbox limit)"
                        ),
                    ))
                }
                Some(Value::Str(o)) => Ok(Value::Str(s + o)),
                Some(o) => Err(self.runtime(
                    start,
                    format!("no implicit conversion of {} into String", o.class_name()),
                )),
                None => Err(self.unsupported_method("String", name, start)),
            },
            "*" => match args.first() {
                Some(Value::Int(n)) if *n >= 0 => {
                    let n = usize::try_from(*n).unwrap_or(usize::MAX);
                    if s.len().saturating_mul(n) > MAX_BUILT_SIZE {
                        return Err(self.runtime(start, "String#*: result too large"));
                    }
                    Ok(Value::Str(s.repeat(n)))
                }
                _ => Err(self.runtime(start, "String#* needs a non-negative Integer")),
            },
            "strip" => Ok(Value::Str(
                s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0')
                    .to_owned(),
            )),
            "lstrip" => Ok(Value::Str(
                s.trim_start_matches(|c: char| c.is_ascii_whitespace())
                    .to_owned(),
            )),
            "rstrip" => Ok(Value::Str(
                s.trim_end_matches(|c: char| c.is_ascii_whitespace() || c == '\0')
                    .to_owned(),
            )),
            "chomp" => {
                if let Some(Value::Str(suffix)) = args.first() {
                    return Ok(Value::Str(
                        s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_owned(),
                    ));
                }
                let t = s
                    .strip_suffix("\r\n")
                    .or_else(|| s.strip_suffix('\n'))
                    .or_else(|| s.strip_suffix('\r'))
                    .unwrap_or(&s);
                Ok(Value::Str(t.to_owned()))
            }
            "upcase" => Ok(Value::Str(s.to_uppercase())),
            "downcase" => Ok(Value::Str(s.to_lowercase())),
            "capitalize" => {
                let mut c = s.chars();
                Ok(Value::Str(match c.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase(),
                    None => String::new(),
                }))
            }
            "to_str" => Ok(Value::Str(s)),
            "to_sym" | "intern" => Ok(Value::Sym(s)),
            "to_i" => {
                let t = s.trim_start();
                let end = t
                    .char_indices()
                    .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
                    .map_or(t.len(), |(i, _)| i);
                Ok(Value::Int(t[..end].parse().unwrap_or(0)))
            }
            "to_f" => Ok(Value::Float(s.trim().parse().unwrap_or(0.0))),
            "empty?" => Ok(Value::Bool(s.is_empty())),
            "length" | "size" => Ok(Value::Int(
                i64::try_from(s.chars().count()).unwrap_or(i64::MAX),
            )),
            "start_with?" | "end_with?" | "include?" => {
                let mut hit = false;
                for a in args {
                    let Value::Str(p) = a else {
                        return Err(self.runtime(
                            start,
                            format!("no implicit conversion of {} into String", a.class_name()),
                        ));
                    };
                    hit |= match name {
                        "start_with?" => s.starts_with(p.as_str()),
                        "end_with?" => s.ends_with(p.as_str()),
                        _ => s.contains(p.as_str()),
                    };
                }
                Ok(Value::Bool(hit))
            }
            "split" => {
                let parts: Vec<Value> = match args.first() {
                    None | Some(Value::Nil) => s
                        .split_ascii_whitespace()
                        .map(|p| Value::Str(p.to_owned()))
                        .collect(),
                    Some(Value::Str(sep)) if sep == " " => s
                        .split_ascii_whitespace()
                        .map(|p| Value::Str(p.to_owned()))
                        .collect(),
                    Some(Value::Str(sep)) => {
                        let mut v: Vec<Value> = s
                            .split(sep.as_str())
                            .map(|p| Value::Str(p.to_owned()))
                            .collect();
                        while v.last() == Some(&Value::Str(String::new())) {
                            v.pop();
                        }
                        v
                    }
                    Some(o) => {
                        return Err(self.runtime(
                            start,
                            format!("String#split: unsupported separator {}", o.class_name()),
                        ));
                    }
                };
                Ok(Value::Array(parts))
            }
            "lines" => Ok(Value::Array(
                s.split_inclusive('\n')
                    .map(|l| Value::Str(l.to_owned()))
                    .collect(),
            )),
            "sub" | "gsub" | "tr" | "delete" => {
                let pat = self.str_arg(args, 0, name, start)?;
                if name == "delete" {
                    return Ok(Value::Str(
                        s.chars().filter(|c| !pat.contains(*c)).collect(),
                    ));
                }
                let rep = self.str_arg(args, 1, name, start)?;
                Ok(Value::Str(match name {
                    "sub" => s.replacen(pat.as_str(), &rep, 1),
                    "gsub" => s.replace(pat.as_str(), &rep),
                    _ => {
                        let from: Vec<char> = pat.chars().collect();
                        let to: Vec<char> = rep.chars().collect();
                        s.chars()
                            .map(|c| {
                                from.iter()
                                    .position(|f| *f == c)
                                    .map_or(c, |i| to.get(i).or(to.last()).copied().unwrap_or(c))
                            })
                            .collect()
                    }
                }))
            }
            "[]" => match args.first() {
                Some(Value::Int(i)) => {
                    let chars: Vec<char> = s.chars().collect();
                    let idx = if *i < 0 {
                        i64::try_from(chars.len()).unwrap_or(0) + i
                    } else {
                        *i
                    };
                    Ok(usize::try_from(idx)
                        .ok()
                        .and_then(|i| chars.get(i))
                        .map_or(Value::Nil, |c| Value::Str(c.to_string())))
                }
                Some(Value::Str(sub)) => Ok(if s.contains(sub.as_str()) {
                    Value::Str(sub.clone())
                } else {
                    Value::Nil
                }),
                _ => Err(self.unsupported_method("String", name, start)),
            },
            "<" | ">" | "<=" | ">=" => self.compare(&Value::Str(s), name, args, start),
            // `"%s/%s" % [a, b]`, `"%{dir}/x" % { dir: d }`, `"%s" % a`.
            "%" => {
                let values = match args.first() {
                    Some(Value::Array(items)) => items.clone(),
                    Some(other) => vec![other.clone()],
                    None => Vec::new(),
                };
                self.format(&s, &values, start).map(Value::Str)
            }
            _ => Err(self.unsupported_method("String", name, start)),
        }
    }
}
