//! U+00A0 no-break spaces, which editors slip into Ruby files and Ruby itself rejects outside
//! strings: treated as spaces, with a warning.

use std::path::Path;

use ruby_prism::{StringNode, Visit, XStringNode};

use super::super::error::Warning;

/// Collects the byte ranges of string-literal contents (including heredoc bodies).
struct LiteralRanges(Vec<(usize, usize)>);

impl<'pr> Visit<'pr> for LiteralRanges {
    fn visit_string_node(&mut self, node: &StringNode<'pr>) {
        let l = node.content_loc();
        self.0.push((l.start() as usize, l.end() as usize));
    }
    fn visit_x_string_node(&mut self, node: &XStringNode<'pr>) {
        let l = node.content_loc();
        self.0.push((l.start() as usize, l.end() as usize));
    }
}

/// Replaces U+00A0 with a space everywhere except inside string literals (where Ruby keeps
/// it, so metadata text stays byte-identical), with one warning per line where it did so.
/// Only runs for sources that contain U+00A0; costs one extra parse.
pub(super) fn replace_nbsp(source: &str, file: &Path, warnings: &mut Vec<Warning>) -> String {
    let mut literals = LiteralRanges(Vec::new());
    {
        let first = ruby_prism::parse(source.as_bytes());
        literals.visit(&first.node());
    }
    let in_literal = |at: usize| literals.0.iter().any(|&(a, b)| a <= at && at < b);
    let mut out = String::with_capacity(source.len());
    let mut line: u32 = 1;
    let mut warned_line = 0;
    for (i, c) in source.char_indices() {
        if c == '\u{a0}' && !in_literal(i) {
            out.push(' ');
            if warned_line != line {
                warned_line = line;
                warnings.push(Warning {
                    file: file.to_path_buf(),
                    line,
                    message: "U+00A0 no-break space treated as a space".to_owned(),
                });
            }
            continue;
        }
        if c == '\n' {
            line += 1;
        }
        out.push(c);
    }
    out
}
