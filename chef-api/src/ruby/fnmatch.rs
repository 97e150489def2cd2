//! Ruby's `File.fnmatch?(pattern, path)` with no flags: the matcher chefignore uses, and the
//! sandbox's `Dir.glob` within one path component. It lives with the Ruby sandbox because these
//! are Ruby's semantics; the cookbook code imports it from here.
//!
//! The `glob` crate cannot express these semantics: its `*` never crosses `/` unless told, and
//! then `**` is a different operator (and an error inside a component such as `*_flymake**`);
//! its leading-dot rule applies to every component, not only to the start of the whole path; it
//! has no `\` escapes and no `[^...]`. Ruby's rules without `FNM_PATHNAME`, `FNM_DOTMATCH`,
//! `FNM_NOESCAPE` and `FNM_CASEFOLD` are:
//!
//! * `*` matches any run of characters including `/`; `**` is the same as `*`;
//! * `?` matches exactly one character including `/`;
//! * a wildcard (`*`, `?` or a class) never matches a `.` at the very start of the path, unless the
//!   pattern itself starts with a literal `.`; after a `/` a leading dot is nothing special;
//! * `[abc]`, ranges `[a-z]`, negation `[!...]` / `[^...]`, `\` escapes inside a class; an empty
//!   (`[]`) or unterminated class never matches anything, it is not taken literally;
//! * a range whose ends are reversed (`[z-a]`) matches only its two end characters;
//! * `\x` matches `x` literally; a trailing lone `\` matches the end of the path;
//! * no `{a,b}` braces (they are literal characters), case-sensitive, whole-path match.
//!
//! Matching works on Unicode scalar values, as Ruby does on UTF-8 strings.

/// Returns whether `path` matches `pattern` exactly as Ruby's `File.fnmatch?(pattern, path)`
/// (no flags) would answer.
///
/// ```
/// use chef_api::ruby::fnmatch::fnmatch;
/// assert!(fnmatch("*.bak", "files/default/x.bak"));
/// assert!(!fnmatch("*.rb", ".hidden.rb"));
/// assert!(fnmatch("spec/*", "spec/unit/a_spec.rb"));
/// ```
pub fn fnmatch(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    matches(&p, &s)
}

/// Index of the character an escape at `i` stands for (`\x` → index of `x`).
fn unescape(p: &[char], i: usize) -> usize {
    if p.get(i) == Some(&'\\') { i + 1 } else { i }
}

fn matches(p: &[char], s: &[char]) -> bool {
    // Leading period: only a literal `.` in the pattern may match it.
    if s.first() == Some(&'.') && p.get(unescape(p, 0)) != Some(&'.') {
        return false;
    }
    let (mut pi, mut si) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after the stars, string index).
    let mut backtrack: Option<(usize, usize)> = None;
    loop {
        let step = match p.get(pi) {
            Some('*') => {
                while p.get(pi) == Some(&'*') {
                    pi += 1;
                }
                if unescape(p, pi) >= p.len() {
                    return true;
                }
                if si >= s.len() {
                    return false;
                }
                backtrack = Some((pi, si));
                continue;
            }
            Some('?') => {
                if si >= s.len() {
                    return false;
                }
                pi += 1;
                si += 1;
                true
            }
            Some('[') => {
                if si >= s.len() {
                    return false;
                }
                match bracket(p, pi + 1, s[si]) {
                    Some(next) => {
                        pi = next;
                        si += 1;
                        true
                    }
                    None => false,
                }
            }
            _ => {
                let lit = unescape(p, pi);
                if si >= s.len() {
                    return lit >= p.len();
                }
                if lit < p.len() && p[lit] == s[si] {
                    pi = lit + 1;
                    si += 1;
                    true
                } else {
                    false
                }
            }
        };
        if !step {
            // Failed: let the last `*` swallow one more character.
            match backtrack {
                Some((bp, bs)) => {
                    backtrack = Some((bp, bs + 1));
                    pi = bp;
                    si = bs + 1;
                }
                None => return false,
            }
        }
    }
}

/// Matches `c` against the class starting at `p[start]` (just after `[`). Returns the index
/// after the closing `]` on a match, `None` on no match or a malformed class.
fn bracket(p: &[char], start: usize, c: char) -> Option<usize> {
    let mut i = start;
    if i >= p.len() {
        return None;
    }
    let negated = matches!(p[i], '!' | '^');
    if negated {
        i += 1;
    }
    let mut ok = false;
    while p.get(i) != Some(&']') {
        let lo_at = unescape(p, i);
        let &lo = p.get(lo_at)?;
        i = lo_at + 1;
        if i >= p.len() {
            return None;
        }
        if p[i] == '-' && p.get(i + 1) != Some(&']') {
            let hi_at = unescape(p, i + 1);
            let &hi = p.get(hi_at)?;
            i = hi_at + 1;
            if !ok && (c == lo || c == hi || (lo <= c && c <= hi)) {
                ok = true;
            }
        } else if c == lo {
            ok = true;
        }
    }
    (ok != negated).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[track_caller]
    fn yes(pattern: &str, path: &str) {
        assert!(fnmatch(pattern, path), "{pattern:?} should match {path:?}");
    }

    #[track_caller]
    fn no(pattern: &str, path: &str) {
        assert!(
            !fnmatch(pattern, path),
            "{pattern:?} should not match {path:?}"
        );
    }

    #[test]
    fn literal_whole_path() {
        yes("Rakefile", "Rakefile");
        no("Rakefile", "Rakefile2");
        no("Rakefile", "sub/Rakefile");
        no("rakefile", "Rakefile");
        yes("", "");
        no("", "a");
        no("a", "");
    }

    #[test]
    fn star_crosses_slashes() {
        yes("*", "a");
        yes("*", "a/b/c");
        yes("*.bak", "files/default/x.bak");
        yes("spec/*", "spec/unit/deep/a_spec.rb");
        no("spec/*", "spec");
        no("test/*", "test");
        yes("*/.git", "sub/.git");
        no("*/.git", ".git");
        yes("a*b*c", "a/x/b/y/c");
        no("a*b", "a");
        yes("a*", "a");
        yes("*a", "a");
        no("*a", "ab");
        yes("*_flymake.*", "libraries/x_flymake.rb");
    }

    #[test]
    fn double_star_is_star() {
        yes("**", "a/b");
        yes("**/x.rb", "a/b/x.rb");
        no("**/x.rb", "x.rb");
        yes("a**b", "a/c/b");
        yes("*_flymake**", "recipes/a_flymake.rb");
    }

    #[test]
    fn question_mark() {
        yes("Icon?", "Icon\r");
        yes("Icon?", "Icons");
        no("Icon?", "Icon");
        yes("a?b", "a/b");
        yes("??", "ab");
        no("??", "a");
        yes("?", "é");
    }

    #[test]
    fn leading_dot_only_at_start_of_whole_path() {
        no("*", ".hidden");
        no("*.rb", ".hidden.rb");
        no("?hidden", ".hidden");
        no("[.]hidden", ".hidden");
        yes(".*", ".hidden");
        yes("\\.hidden", ".hidden");
        yes("*", "dir/.hidden");
        yes("dir/*", "dir/.hidden");
        yes("*.rb", "dir/.hidden.rb");
        yes(".#*", ".#foo");
        no(".#*", "x/.#foo");
    }

    #[test]
    fn classes() {
        yes("*.sw[a-z]", "x.swp");
        no("*.sw[a-z]", "x.swP");
        no("*.sw[a-z]", "x.sw");
        yes("[abc]", "b");
        no("[abc]", "d");
        yes("[!abc]", "d");
        no("[!abc]", "a");
        yes("[^abc]", "d");
        no("[^abc]", "c");
        yes("[a-]", "-");
        yes("[a-]", "a");
        no("[]-]", "]");
        yes("[\\]]", "]");
        yes("[\\-]", "-");
        yes("[a\\-z]", "-");
        no("[a\\-z]", "b");
        yes("x[/]y", "x/y");
        yes("[!a]", "/");
    }

    #[test]
    fn malformed_classes_never_match() {
        no("[]", "[]");
        no("[]", "]");
        no("[", "[");
        no("[abc", "a");
        no("[abc", "[abc");
        no("a[b-", "ab");
        // Ruby reads `[!]` as "not nothing": any one character.
        yes("[!]", "x");
        no("[!]", "");
    }

    #[test]
    fn reversed_range_matches_only_its_ends() {
        yes("[z-a]", "z");
        yes("[z-a]", "a");
        no("[z-a]", "m");
    }

    #[test]
    fn escapes() {
        yes("\\#*", "#foo#");
        no("\\#*", "x#");
        yes("\\*", "*");
        no("\\*", "a");
        yes("a\\?", "a?");
        no("a\\?", "ab");
        yes("a\\", "a");
        yes("a*\\", "abc");
    }

    #[test]
    fn no_braces_and_case_sensitive() {
        no("{a,b}", "a");
        yes("{a,b}", "{a,b}");
        no("*.RB", "x.rb");
        yes("TAGS*", "TAGS.old");
        no("TAGS*", "tags");
    }

    #[test]
    fn non_ascii() {
        yes("r*sum*", "résumé.txt");
        yes("[à-ê]", "é");
        no("[à-ê]", "z");
        yes("files/日本/?", "files/日本/語");
    }
}
