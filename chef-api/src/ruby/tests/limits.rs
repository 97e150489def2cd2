//! Issue #17: every way a file could crash, hang or exhaust the process ends in a positioned
//! error naming the sandbox limit.

use super::*;

/// Runs `f` on a thread with a 256 KiB stack, the smallest worker stack we support.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn limit_err(src: &str) -> EvalError {
    let src = src.to_owned();
    let e = on_small_stack(move || run(&src, &[]).unwrap_err());
    assert_eq!(e.kind, ErrorKind::Limit, "{e}");
    e
}

#[test]
fn deep_nesting_is_refused_before_parsing_on_any_stack() {
    for (open, close) in [
        ("[", "]"),
        ("(", ")"),
        ("{a: ", "}"),
        ("begin\n", "\nend\n"),
    ] {
        let src = format!("x = {}1{}", open.repeat(5000), close.repeat(5000));
        let e = limit_err(&src);
        assert!(e.message.contains("nesting deeper than 1000"), "{e}");
        let line = if open.starts_with("begin") { 1001 } else { 1 };
        assert_eq!(e.line, line, "{e}");
    }
}

#[test]
fn deep_unary_chains_parse_and_evaluate_on_the_sandbox_stack_not_the_callers() {
    // Prism recurses once per unary operator; this runs on the sandbox's own stack, so a
    // 256 KiB caller survives. Longer runs are refused before parsing.
    let src = format!("x = {}true", "!".repeat(250));
    let r = on_small_stack(move || run(&src, &[]).map(|(_, ev)| ev.value));
    match r {
        Ok(v) => assert_eq!(v, Value::Bool(true)),
        Err(e) => assert!(
            matches!(e.kind, ErrorKind::Limit | ErrorKind::Syntax),
            "{e}"
        ),
    }
    let src = format!("x = {}1", "- ".repeat(20_000));
    let e = on_small_stack(move || run(&src, &[]).unwrap_err());
    assert_eq!(e.kind, ErrorKind::Limit, "{e}");
    assert!(
        e.message.contains("more than 256 operators in a row"),
        "{e}"
    );
    // The fuzzer's case: a run of `+` after a call, 64 KiB long.
    let src = format!("description IO.read(File.di{}", "+".repeat(65_000));
    let e = run(&src, &[]).unwrap_err();
    assert_eq!((e.kind, e.line), (ErrorKind::Limit, 1), "{e}");
}

#[test]
fn runaway_loops_stop_after_the_step_budget() {
    let e = limit_err("x = 0\n1_000_000.times do\n  1_000_000.times { x += 1 }\nend\n");
    assert!(e.message.contains("steps"), "{e}");
    assert_eq!(e.line, 3, "{e}");
}

/// Fuzz finding: empty blocks evaluated no node, so they escaped the step budget.
#[test]
fn empty_blocks_count_as_steps() {
    let e = limit_err("x = 1\n1_000_000.times { }\n");
    assert!(e.message.contains("steps"), "{e}");
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn strings_and_arrays_cannot_grow_without_limit() {
    let e = limit_err("s = 'ab'\n64.times { s = s + s }\n");
    assert!(e.message.contains("sandbox limit"), "{e}");
    assert_eq!(e.line, 2, "{e}");
    let e = limit_err("a = [1, 2]\n64.times { a = a + a }\n");
    assert!(e.message.contains("sandbox limit"), "{e}");
    let e = limit_err("s = 'x' * 1_000_000\n1_000.times { |i| t = \"#{s}#{i}\" }\n");
    assert!(e.message.contains("sandbox limit"), "{e}");
}

#[test]
fn appending_is_linear_and_keeps_ruby_semantics() {
    // 100,000 appends: quadratic copying would be 5e9 element copies.
    let (_, ev) = run(
        "a = []\n100_000.times { |i| a << i }\nh = {}\n1000.times { |i| h[i] = i }\nb = (a << 5)\n[a.size, h.size, b.size]",
        &[],
    )
    .unwrap();
    assert_eq!(
        ev.value,
        Value::Array(vec![
            Value::Int(100_001),
            Value::Int(1000),
            Value::Int(100_001)
        ])
    );
    // A failed in-place call (rescued) leaves the variable as it was.
    let (_, ev) = run("s = 'a'\n(s << 1) rescue nil\ns", &[]).unwrap();
    assert_eq!(ev.value, s("a"));
}

/// Issue #17, point 3: `h[k] = v` finds `k` through the hash's key index, not by a scan.
#[test]
fn hash_stores_are_amortised_constant_time() {
    // 60,000 new keys, then 60,000 overwrites: a scan per store would compare ~5e9 keys,
    // and the sandbox charges every key comparison to its budget of 256 M units of work (see
    // `HashIndex::insert`), so a quadratic store ends in a limit error here instead of passing
    // slowly.
    let (_, ev) = run(
        "h = {}\n60_000.times { |i| h[i] = i }\n60_000.times { |i| h.store(i, -i) }\n[h.size, h[0], h[59_999], h.keys.last]",
        &[],
    )
    .unwrap();
    assert_eq!(
        ev.value,
        Value::Array(vec![
            Value::Int(60_000),
            Value::Int(0),
            Value::Int(-59_999),
            Value::Int(59_999)
        ])
    );
    // `||=` stores the same way.
    let (_, ev) = run(
        "h = {}\n60_000.times { |i| h[i] ||= i }\n60_000.times { |i| h[i] ||= 0 }\n[h.size, h[5]]",
        &[],
    )
    .unwrap();
    assert_eq!(
        ev.value,
        Value::Array(vec![Value::Int(60_000), Value::Int(5)])
    );
    // So do constants and instance variables.
    let (_, ev) = run(
        "H = {}\n@h = {}\n40_000.times { |i| H[i] = i; @h[i] = i }\n[H.size, @h.size]",
        &[],
    )
    .unwrap();
    assert_eq!(
        ev.value,
        Value::Array(vec![Value::Int(40_000), Value::Int(40_000)])
    );
}

/// The key index of a hash is the index of what the variable holds now.
#[test]
fn hash_stores_see_every_change_of_the_variable() {
    let sym = |x: &str| Value::Sym(x.to_owned());
    let h = |pairs: &[(&str, i64)]| {
        Value::Hash(
            pairs
                .iter()
                .map(|(k, v)| (sym(k), Value::Int(*v)))
                .collect(),
        )
    };
    for (src, want) in [
        // Assigned another hash of the same size.
        (
            "h = {}\nh[:a] = 1\nh = {b: 2}\nh[:a] = 3\nh",
            h(&[("b", 2), ("a", 3)]),
        ),
        // A block's local of the same name, in a new scope at the same depth each run.
        (
            "out = []\n2.times { |i| g = {}\ng[:a] = i\ng[:b] = i\nout << g }\nout[1]",
            h(&[("a", 1), ("b", 1)]),
        ),
        // A block parameter shadowing the variable.
        (
            "x = {}\nx[:a] = 1\n[{z: 0}].each { |x| x[:b] = 2 }\nx[:c] = 3\nx",
            h(&[("a", 1), ("c", 3)]),
        ),
        // A method's own locals.
        (
            "def f(h)\n  h[:x] = 1\n  h\nend\nh = {}\nh[:a] = 1\ny = f({})\nh[:b] = 2\nh",
            h(&[("a", 1), ("b", 2)]),
        ),
        // `merge!` and `||=` whose value stores into the hash first.
        (
            "h = {a: 1}\nh[:b] = 2\nh.merge!({a: 3, c: 4})\nh[:d] = 5\nh[:e] ||= (h[:f] = 6)\nh",
            h(&[("a", 3), ("b", 2), ("c", 4), ("d", 5), ("f", 6), ("e", 6)]),
        ),
        // Constants and instance variables assigned anew.
        ("H = {}\nH[:a] = 1\nH = {}\nH[:b] = 2\nH", h(&[("b", 2)])),
        (
            "@h = {}\n@h[:a] = 1\n@h = {}\n@h[:b] = 2\n@h",
            h(&[("b", 2)]),
        ),
        // Duplicate keys in a literal: the last value, in the first key's place.
        ("{a: 1, b: 2, a: 3}", h(&[("a", 3), ("b", 2)])),
    ] {
        assert_eq!(value_of(src), want, "{src}");
    }
}

#[test]
fn recursive_defs_stop_with_a_limit_error() {
    let e = limit_err("def f(n)\n  f(n + 1)\nend\nf(1)\n");
    assert!(e.message.contains("stack level too deep"), "{e}");
    assert_eq!(e.line, 2);
}

#[test]
fn reads_are_confined_to_regular_files_inside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cookbook");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("README.md"), "# hi\n").unwrap();
    std::fs::write(dir.path().join("secret.pem"), "KEY").unwrap();
    std::fs::write(root.join("big"), vec![b'a'; (MAX_READ_BYTES + 1) as usize]).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("secret.pem"), root.join("link.pem")).unwrap();
    let file = root.join("metadata.rb");
    let eval = |src: &str| {
        let mut dsl = Recorder::new(&[]);
        Interpreter::new()
            .with_cwd(&root)
            .eval(src, &file, &mut dsl)
            .map(|e| e.value)
    };
    assert_eq!(eval("File.read('README.md')").unwrap(), s("# hi\n"));
    for (src, why) in [
        ("File.read('../secret.pem')", "outside"),
        ("IO.read(File.join(__dir__, '..', 'secret.pem'))", "outside"),
        ("File.readlines('/etc/passwd')", "outside"),
        ("File.read('big')", "larger than"),
        ("File.read('.')", "not a regular file"),
        #[cfg(unix)]
        ("File.read('link.pem')", "outside"),
    ] {
        let e = eval(src).unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::Limit, 1), "{src}: {e}");
        assert!(e.message.contains(why), "{src}: {e}");
    }
    // A limit error is not a runtime error: `rescue` does not hide it.
    let e = eval("x = File.read('../secret.pem') rescue 'fallback'").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    // A missing file stays a runtime error, as in Ruby.
    assert_eq!(
        eval("File.read('nope') rescue 'fallback'").unwrap(),
        s("fallback")
    );
    // The root can be widened (knife.rb reads from the whole repository).
    let mut dsl = Recorder::new(&[]);
    let v = Interpreter::new()
        .with_cwd(&root)
        .with_read_root(dir.path())
        .eval("File.read('../secret.pem')", &file, &mut dsl)
        .unwrap()
        .value;
    assert_eq!(v, s("KEY"));
}
