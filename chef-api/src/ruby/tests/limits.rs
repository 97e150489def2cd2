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
fn deep_unary_chains_parse_and_evaluate_on_the_sandbox_thread_not_the_callers() {
    // Prism recurses once per unary operator; this runs on the sandbox's own thread, so a
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
