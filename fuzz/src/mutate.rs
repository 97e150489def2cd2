//! The mutation engine: byte-level mutations (flips, interesting values, inserts, deletes,
//! duplications, splices with other corpus entries, dictionary tokens) plus cheap
//! structure-aware ones for text formats: deep nesting of brackets, repeated unary operators,
//! numbers at the edges of integer types, repeated lines.
//!
//! No coverage feedback is available on stable Rust without instrumentation; the loop in
//! [`crate::harness`] keeps an input in the corpus when it reaches an outcome (an error
//! message shape) not seen before, which steers mutation towards different parser paths.

/// A small, fast, seeded PRNG (xorshift64*): reproducible runs from `--seed`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// A random element of `items` (non-empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What kind of text a target reads: decides which structure-aware mutations apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Ruby source (metadata.rb, knife.rb, Berksfile).
    Ruby,
    /// JSON documents.
    Json,
    /// Other line-oriented text (YAML, TOML, lock files, patterns, constraints, PEM).
    Text,
    /// Binary (archives).
    Binary,
}

/// Numbers at the edges of the integer types parsers use.
const EDGE_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "127",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e308",
    "1e999",
    "-0",
    "0.0",
    "1_000_000_000",
];

const INTERESTING_BYTES: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, b'\n', b'"', b'\\', b'#', b'{', b'}'];

/// The largest input the mutator produces.
pub const MAX_INPUT: usize = 64 * 1024;

/// Mutates `input` in place with one to four stacked mutations; `dict` holds tokens of the
/// target's language and `corpus` other inputs to splice from.
pub fn mutate(input: &mut Vec<u8>, rng: &mut Rng, shape: Shape, dict: &[&str], corpus: &[Vec<u8>]) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let structured = shape != Shape::Binary && rng.one_in(3);
        if structured {
            structural(input, rng, shape, dict);
        } else {
            bytewise(input, rng, dict, corpus);
        }
        // After every round: stacked rounds that each multiply the input (a line repeated
        // 2,000 times, then that line again) would otherwise build gigabytes to keep 64 KiB.
        input.truncate(MAX_INPUT);
    }
}

fn span(len: usize, rng: &mut Rng) -> (usize, usize) {
    if len == 0 {
        return (0, 0);
    }
    let a = rng.below(len + 1);
    let max = (len - a).min(if rng.one_in(4) { len } else { 32 });
    (a, a + rng.below(max + 1))
}

fn bytewise(input: &mut Vec<u8>, rng: &mut Rng, dict: &[&str], corpus: &[Vec<u8>]) {
    let len = input.len();
    match rng.below(10) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = *rng.pick(INTERESTING_BYTES);
        }
        2 if len > 0 => {
            let i = rng.below(len);
            input[i] = rng.next_u64() as u8;
        }
        3 => {
            let (a, b) = span(len, rng);
            input.drain(a..b);
        }
        4 => {
            let (a, b) = span(len, rng);
            let copy = input[a..b].to_vec();
            let at = rng.below(input.len() + 1);
            input.splice(at..at, copy);
        }
        5 if !corpus.is_empty() => {
            let other = rng.pick(corpus);
            let (a, b) = span(other.len(), rng);
            let at = rng.below(input.len() + 1);
            let cut = if rng.one_in(2) {
                at
            } else {
                (at + rng.below(64)).min(input.len())
            };
            input.splice(at..cut, other[a..b].iter().copied());
        }
        6 | 7 if !dict.is_empty() => {
            let token = rng.pick(dict).as_bytes();
            let at = rng.below(len + 1);
            if rng.one_in(2) || len == 0 {
                input.splice(at..at, token.iter().copied());
            } else {
                let end = (at + token.len()).min(len);
                input.splice(at..end, token.iter().copied());
            }
        }
        8 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            input.splice(at..at, bytes);
        }
        _ => {
            // Swap two spans' contents by rotating a window.
            let (a, b) = span(len, rng);
            if b > a {
                let k = rng.below(b - a);
                input[a..b].rotate_left(k);
            }
        }
    }
}

fn structural(input: &mut Vec<u8>, rng: &mut Rng, shape: Shape, dict: &[&str]) {
    let len = input.len();
    match rng.below(6) {
        // Deep nesting around a span: the stack-overflow class.
        0 => {
            let pairs: &[(&str, &str)] = match shape {
                Shape::Ruby => &[
                    ("(", ")"),
                    ("[", "]"),
                    ("{", "}"),
                    ("[1, ", "]"),
                    ("begin\n", "\nend"),
                    ("if true\n", "\nend"),
                    ("(1 + ", ")"),
                    ("\"#{", "}\""),
                    ("x(", ")"),
                    ("{a: ", "}"),
                ],
                Shape::Json => &[("[", "]"), ("{\"a\":", "}"), ("[1,", "]")],
                _ => &[("[", "]"), ("{", "}"), ("(", ")"), ("- ", ""), ("  ", "")],
            };
            let (open, close) = *rng.pick(pairs);
            let depth = if rng.one_in(4) {
                1 + rng.below(5000)
            } else {
                1 + rng.below(40)
            };
            let (a, b) = span(len, rng);
            let inner = input[a..b].to_vec();
            let mut out = Vec::with_capacity(depth * (open.len() + close.len()) + inner.len());
            for _ in 0..depth {
                out.extend_from_slice(open.as_bytes());
            }
            out.extend_from_slice(&inner);
            for _ in 0..depth {
                out.extend_from_slice(close.as_bytes());
            }
            input.splice(a..b, out);
        }
        // Long runs of a unary operator or prefix.
        1 => {
            let ops: &[&str] = match shape {
                Shape::Ruby => &["!", "-", "+", "~", "not ", "defined? ", "::", "*"],
                _ => &["-", "[", "{", "~", "*", "."],
            };
            let op = rng.pick(ops).as_bytes();
            let n = if rng.one_in(3) {
                1 + rng.below(5000)
            } else {
                1 + rng.below(50)
            };
            let at = rng.below(len + 1);
            let run: Vec<u8> = op.iter().copied().cycle().take(op.len() * n).collect();
            input.splice(at..at, run);
        }
        // Replace a run of digits (or insert) with a number at an integer edge.
        2 => {
            let number = rng.pick(EDGE_NUMBERS).as_bytes();
            let digits: Vec<usize> = (0..len).filter(|&i| input[i].is_ascii_digit()).collect();
            if digits.is_empty() {
                let at = rng.below(len + 1);
                input.splice(at..at, number.iter().copied());
            } else {
                let start = *rng.pick(&digits);
                let mut end = start;
                while end < len && input[end].is_ascii_digit() {
                    end += 1;
                }
                input.splice(start..end, number.iter().copied());
            }
        }
        // Repeat a whole line many times (large collections, long loops).
        3 => {
            let lines: Vec<(usize, usize)> = line_spans(input);
            if let Some(&(a, b)) = lines.get(rng.below(lines.len().max(1))) {
                let line = input[a..b].to_vec();
                let most = if rng.one_in(4) { 2000 } else { 20 };
                // No more copies than fit in an input.
                let n = (1 + rng.below(most)).min(1 + MAX_INPUT / line.len().max(1));
                let mut run = Vec::with_capacity(line.len() * n);
                for _ in 0..n {
                    run.extend_from_slice(&line);
                }
                input.splice(b..b, run);
            }
        }
        // Insert a dictionary token on its own line (Ruby statements, YAML keys, ...).
        4 if !dict.is_empty() => {
            let token = rng.pick(dict);
            let lines = line_spans(input);
            let at = lines
                .get(rng.below(lines.len().max(1)))
                .map_or(len, |s| s.0);
            let mut line = token.as_bytes().to_vec();
            line.push(b'\n');
            input.splice(at..at, line);
        }
        // Delete a whole line.
        _ => {
            let lines = line_spans(input);
            if !lines.is_empty() {
                let (a, b) = lines[rng.below(lines.len())];
                input.drain(a..b);
            }
        }
    }
}

/// `(start, end)` of each line, the newline included.
fn line_spans(input: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, &b) in input.iter().enumerate() {
        if b == b'\n' {
            spans.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < input.len() {
        spans.push((start, input.len()));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_within_the_size_limit_and_change_the_input() {
        let mut rng = Rng::new(7);
        let seed = b"name 'apt'\nversion '1.2.3'\ndepends 'x', '~> 1.0'\n".to_vec();
        let mut changed = 0;
        for _ in 0..2000 {
            let mut m = seed.clone();
            mutate(
                &mut m,
                &mut rng,
                Shape::Ruby,
                &["do", "end"],
                std::slice::from_ref(&seed),
            );
            assert!(m.len() <= MAX_INPUT);
            changed += usize::from(m != seed);
        }
        assert!(
            changed > 1500,
            "only {changed} of 2000 mutations changed the input"
        );
    }

    #[test]
    fn the_generator_is_reproducible() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
