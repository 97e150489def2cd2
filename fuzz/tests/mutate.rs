//! The mutator's own cost. Its own test binary: the allocator's peak is process-wide.

use chef_sync_fuzz::alloc;
use chef_sync_fuzz::mutate::{self, MAX_INPUT, Rng, Shape};

/// One-line inputs (every JSON seed) made "repeat a line 2,000 times" copy the whole input
/// 2,000 times, and stacked rounds multiplied that again, before the result was cut to
/// `MAX_INPUT`: up to 128 MB built per mutation (metadata_json ran at 13 inputs/s in one CI run,
/// mostly copying). Mutations now build at most a few inputs' worth.
#[test]
fn a_mutation_builds_little_more_than_one_input() {
    let one_line = {
        let mut s = b"{\"name\":\"apt\",\"version\":\"1.0.0\",\"x\":\"".to_vec();
        s.resize(MAX_INPUT - 2, b'a');
        s.extend_from_slice(b"\"}");
        s
    };
    let corpus = vec![one_line.clone(), b"[1]\n".to_vec()];
    let mut rng = Rng::new(7);
    let mut worst = 0;
    for shape in [Shape::Json, Shape::Ruby, Shape::Text, Shape::Binary] {
        for _ in 0..300 {
            let mut input = one_line.clone();
            alloc::reset_peak();
            let base = alloc::live();
            mutate::mutate(&mut input, &mut rng, shape, &["{", "}"], &corpus);
            worst = worst.max(alloc::peak().saturating_sub(base));
            assert!(input.len() <= MAX_INPUT);
        }
    }
    assert!(
        worst <= 16 * MAX_INPUT,
        "a mutation held {worst} bytes at once (input: {MAX_INPUT})"
    );
}
