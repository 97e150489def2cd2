//! A scan of the source, before prism parses it, for nesting deeper than the sandbox allows:
//! brackets, braces, parentheses, `#{` interpolations and `do`/`begin`/`def`/`case`/`class`/
//! `module` ... `end` blocks. One pass over the bytes; string and comment contents are skipped
//! approximately (an interpolation inside a string still counts as a level).

/// The byte offset of the first opener past `limit` levels, or `None`.
#[cfg(test)]
fn too_deep(src: &[u8], limit: usize) -> Option<usize> {
    scan(src, limit, usize::MAX).map(|(at, _)| at)
}

/// What [`scan`] found too deep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Excess {
    /// Brackets, interpolation or blocks nested past the limit.
    Nesting,
    /// A run of operator characters (`!`, `+`, `-`, `~`, `*`, `&`, spaces between) past the
    /// limit: prism parses a chain of unary operators recursively, in time quadratic in its
    /// length.
    OperatorChain,
}

/// The first place where nesting passes `limit` or an operator run passes `chain_limit`.
pub(super) fn scan(src: &[u8], limit: usize, chain_limit: usize) -> Option<(usize, Excess)> {
    let mut chain = 0usize;
    let mut depth = 0usize;
    // The quote of the string being skipped, and how many `#{` are open inside strings.
    let mut quote: Option<u8> = None;
    let mut i = 0;
    let open = |depth: &mut usize, at: usize| {
        *depth += 1;
        (*depth > limit).then_some(at)
    };
    while i < src.len() {
        let b = src[i];
        if let Some(q) = quote {
            match b {
                b'\\' => i += 1,
                b'#' if q == b'"' && src.get(i + 1) == Some(&b'{') => {
                    if let Some(at) = open(&mut depth, i) {
                        return Some((at, Excess::Nesting));
                    }
                    i += 1;
                }
                _ if b == q => quote = None,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'!' | b'+' | b'-' | b'~' | b'*' | b'&' => {
                chain += 1;
                if chain > chain_limit {
                    return Some((i, Excess::OperatorChain));
                }
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            _ => chain = 0,
        }
        match b {
            b'#' => {
                while i < src.len() && src[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' | b'`' => quote = Some(b),
            b'(' | b'[' | b'{' => {
                if let Some(at) = open(&mut depth, i) {
                    return Some((at, Excess::Nesting));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = i;
                while i < src.len() && (src[i].is_ascii_alphanumeric() || src[i] == b'_') {
                    i += 1;
                }
                let after_dot = start > 0 && src[start - 1] == b'.';
                let word = &src[start..i];
                let ends_with_punct = matches!(src.get(i), Some(b'?' | b'!' | b':'));
                if !after_dot && !ends_with_punct {
                    match word {
                        b"do" | b"begin" | b"def" | b"case" | b"class" | b"module" => {
                            if let Some(at) = open(&mut depth, start) {
                                return Some((at, Excess::Nesting));
                            }
                        }
                        b"end" => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::too_deep;

    #[test]
    fn counts_brackets_blocks_and_interpolation_not_strings_or_comments() {
        assert_eq!(too_deep(b"[[[1]]]", 3), None);
        assert_eq!(too_deep(b"[[[1]]]", 2), Some(2));
        assert_eq!(too_deep(b"x.each do |a|\n  begin\n  end\nend\n", 2), None);
        assert_eq!(
            too_deep(b"x.each do |a|\n  begin\n  end\nend\n", 1),
            Some(16)
        );
        assert_eq!(too_deep(b"'((((' # ((((\n\"[[[\"", 0), None);
        assert_eq!(too_deep(b"\"a#{x}\"", 0), Some(2));
        // Method names are not keywords.
        assert_eq!(too_deep(b"x.end; x.do; def?; begin:", 0), None);
    }

    #[test]
    fn long_operator_chains_are_found_outside_strings_and_comments() {
        use super::{Excess, scan};
        assert_eq!(scan(b"x = !!!! - + y", 10, 6), None);
        assert_eq!(
            scan(b"x = !!!! - + - y", 10, 6),
            Some((13, Excess::OperatorChain))
        );
        assert_eq!(scan(b"# ---------\n'+++++++++'", 10, 6), None);
    }
}
