//! Limits on JSON read from outside: a nesting-depth check that runs before any recursive
//! decoder does.
//!
//! serde_json stops at 128 levels of nesting, but each level costs several KiB of stack in an
//! unoptimised build, and a decoder may run on a small worker stack. Every JSON document
//! chef-api or chef-sync reads from a file or a server (Chef server answers, universes,
//! `metadata.json`, Berkshelf 2 lock files, `JSON.parse` in the Ruby sandbox) first passes
//! [`check_depth`] with [`MAX_DEPTH`]: 64 levels, far beyond anything Chef writes (a cookbook
//! manifest is 4 deep, node attributes rarely 15). The check is one pass over the bytes, with
//! no allocation.

/// The deepest nesting of arrays and objects accepted in JSON read from outside.
pub const MAX_DEPTH: usize = 64;

/// A JSON document nested deeper than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("JSON nested deeper than {limit} levels (line {line}, column {column})")]
pub struct DepthError {
    /// The limit that was passed.
    pub limit: usize,
    /// 1-based line of the bracket that went past it.
    pub line: usize,
    /// 1-based column (in bytes) of that bracket.
    pub column: usize,
}

/// Checks that the arrays and objects of `text` nest at most `limit` levels deep. Brackets
/// inside strings do not count. Malformed JSON passes (the decoder reports it); only depth is
/// judged here.
///
/// # Errors
/// [`DepthError`] at the first bracket past `limit`.
pub fn check_depth(text: &[u8], limit: usize) -> Result<(), DepthError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let (mut line, mut line_start) = (1usize, 0usize);
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(DepthError {
                        limit,
                        line,
                        column: i - line_start + 1,
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_brackets_outside_strings() {
        assert!(check_depth(br#"{"a": [[1], {"b": []}]}"#, 4).is_ok());
        assert!(check_depth(br#"{"a": [[1], {"b": []}]}"#, 3).is_err());
        assert!(check_depth(br#"["[[[[", "\"[[[["]"#, 1).is_ok());
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        let err = check_depth(deep.as_bytes(), MAX_DEPTH).unwrap_err();
        assert_eq!((err.line, err.column), (1, 65));
        assert!(err.to_string().contains("deeper than 64"), "{err}");
        let err = check_depth(b"\n  [[", 1).unwrap_err();
        assert_eq!((err.line, err.column), (2, 4));
    }
}
