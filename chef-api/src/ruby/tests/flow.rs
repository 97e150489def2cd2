//! `next`, `break` and `return`, where Ruby completes them and where they are misplaced.

use super::*;

fn strs(xs: &[&str]) -> Value {
    Value::Array(xs.iter().map(|x| s(x)).collect())
}

#[test]
fn next_gives_the_value_of_one_block_run() {
    assert_eq!(
        value_of("%w[a b c].map { |n| next \"x#{n}\" if n == 'b'; n }"),
        strs(&["a", "xb", "c"])
    );
    // Without a value `next` gives nil; the rest of that run is skipped.
    assert_eq!(
        value_of("%w[a b].map do |n|\n  next if n == 'a'\n  n + '!'\nend"),
        Value::Array(vec![Value::Nil, s("b!")])
    );
    // In select the value decides; `each` still returns its receiver.
    assert_eq!(
        value_of("%w[a b c].select { |n| next true if n == 'c'; n == 'a' }"),
        strs(&["a", "c"])
    );
    assert_eq!(
        value_of("seen = []\n%w[a b c].each { |n| next if n == 'b'; seen << n }\nseen"),
        strs(&["a", "c"])
    );
    assert_eq!(
        value_of("%w[a b c].each { |n| next if n == 'b' }"),
        strs(&["a", "b", "c"])
    );
    // Several values make an array, as in Ruby.
    assert_eq!(
        value_of("[1].map { |n| next n, 2 }"),
        Value::Array(vec![Value::Array(vec![Value::Int(1), Value::Int(2)])])
    );
    assert_eq!(
        value_of("h = { 'a' => 1, 'b' => 2 }\nh.map { |k, v| next k if v == 1; v }"),
        Value::Array(vec![s("a"), Value::Int(2)])
    );
}

#[test]
fn next_in_times_and_each_with_index() {
    assert_eq!(
        value_of("out = []\n4.times do |i|\n  next if i.zero? || i == 2\n  out << i\nend\nout"),
        Value::Array(vec![Value::Int(1), Value::Int(3)])
    );
    assert_eq!(value_of("3.times { |i| next }"), Value::Int(3));
    assert_eq!(value_of("n = 0\n0.times { n += 1 }\nn"), Value::Int(0));
    assert_eq!(
        value_of("out = []\n%w[a b c].each_with_index { |x, i| next if i == 1; out << x }\nout"),
        strs(&["a", "c"])
    );
}

#[test]
fn break_ends_the_iterating_call_with_its_value() {
    assert_eq!(
        value_of("found = %w[a b c].each { |n| break n if n == 'b' }\nfound"),
        s("b")
    );
    assert_eq!(
        value_of("seen = []\n%w[a b c].each { |n| break if n == 'b'; seen << n }\nseen"),
        strs(&["a"])
    );
    assert_eq!(value_of("%w[a b].each { |n| break }"), Value::Nil);
    assert_eq!(
        value_of("%w[a b c].map { |n| break 7 if n == 'b'; n }"),
        Value::Int(7)
    );
    assert_eq!(
        value_of("%w[a b c].select { |n| break [n] if n == 'c'; true }"),
        strs(&["c"])
    );
    assert_eq!(
        value_of("10.times { |i| break i * 2 if i == 3 }"),
        Value::Int(6)
    );
    // A loop that never breaks still returns what it always did.
    assert_eq!(
        value_of("%w[a b].each { |n| break n if n == 'z' }"),
        strs(&["a", "b"])
    );
    assert_eq!(value_of("ENV.fetch('NOPE') { |k| break 'b' }"), s("b"));
}

#[test]
fn break_in_an_inner_loop_ends_only_the_inner_loop() {
    let src = "out = []\n%w[a b].each do |x|\n  %w[1 2 3].each do |y|\n    break if y == '2'\n    out << x + y\n  end\n  out << x\nend\nout";
    assert_eq!(value_of(src), strs(&["a1", "a", "b1", "b"]));
    // `next` in the inner block likewise continues the inner loop only.
    let src = "%w[a b].map { |x| %w[1 2].map { |y| next '-' if y == '1'; x + y } }";
    assert_eq!(
        value_of(src),
        Value::Array(vec![strs(&["-", "a2"]), strs(&["-", "b2"])])
    );
    // A break value from the inner loop is the value of the inner call.
    let src = "%w[a b].map { |x| %w[1 2].each { |y| break x + y } }";
    assert_eq!(value_of(src), strs(&["a1", "b1"]));
}

#[test]
fn next_and_break_in_a_dsl_block_end_that_block() {
    let known = &["group", "cookbook"];
    let src = "group :x do\n  cookbook 'a'\n  next\n  cookbook 'b'\nend\ngroup :y do\n  cookbook 'c'\n  break if true\n  cookbook 'd'\nend\ncookbook 'e'\n";
    let (dsl, _) = run(src, known).unwrap();
    let books: Vec<Vec<Value>> = dsl.args_of("cookbook");
    assert_eq!(books, vec![vec![s("a")], vec![s("c")], vec![s("e")]]);
    // A `break` in a loop inside the DSL block ends that loop, not the block.
    let src =
        "group :x do\n  %w[a b].each { |n| break if n == 'b'; cookbook n }\n  cookbook 'z'\nend\n";
    let (dsl, _) = run(src, known).unwrap();
    assert_eq!(dsl.args_of("cookbook"), vec![vec![s("a")], vec![s("z")]]);
}

#[test]
fn return_ends_the_def_method_call() {
    let known = &["cookbook", "group"];
    let src = "def fixture(name)\n  return if name.empty?\n  cookbook \"jenkins_#{name}\", path: \"test/fixtures/cookbooks/jenkins_#{name}\"\nend\nfixture('')\nfixture('smoke')\n";
    let (dsl, _) = run(src, known).unwrap();
    assert_eq!(dsl.calls.len(), 1);
    assert_eq!(dsl.calls[0].1, vec![s("jenkins_smoke")]);
    assert_eq!(
        dsl.calls[0].2,
        vec![(
            Value::Sym("path".into()),
            s("test/fixtures/cookbooks/jenkins_smoke")
        )]
    );
    // With a value, and `return` without one gives nil.
    assert_eq!(
        value_of("def pick(x)\n  return 'big' if x > 2\n  'small'\nend\n[pick(1), pick(3)]"),
        strs(&["small", "big"])
    );
    assert_eq!(value_of("def f\n  return\n  'never'\nend\nf"), Value::Nil);
    assert_eq!(
        value_of("def f\n  return 1, 2\nend\nf"),
        Value::Array(vec![Value::Int(1), Value::Int(2)])
    );
    // From inside a block in the method: the whole method returns, the loop stops.
    let src = "SEEN = []\ndef first_long(names)\n  names.each do |n|\n    SEEN << n\n    return n if n.length > 1\n  end\n  'none'\nend\n[first_long(%w[a bb ccc]), first_long(%w[a]), SEEN]";
    assert_eq!(
        value_of(src),
        Value::Array(vec![s("bb"), s("none"), strs(&["a", "bb", "a"])])
    );
    // From inside a nested block and from inside a block given to the DSL.
    let src = "def f\n  [1, 2].each { |a| [3, 4].map { |b| return a * b if b == 4 } }\n  0\nend\nf";
    assert_eq!(value_of(src), Value::Int(4));
    let src = "def add\n  group :g do\n    cookbook 'a'\n    return 'early'\n    cookbook 'b'\n  end\n  'late'\nend\nx = add\ncookbook x\n";
    let (dsl, ev) = run(src, known).unwrap();
    assert_eq!(ev.value, Value::Nil);
    assert_eq!(
        dsl.args_of("cookbook"),
        vec![vec![s("a")], vec![s("early")]]
    );
    // A method called from a block returns to that block, which goes on.
    let src =
        "def skip?(n)\n  return true if n == 'b'\n  false\nend\n%w[a b c].reject { |n| skip?(n) }";
    assert_eq!(value_of(src), strs(&["a", "c"]));
}

#[test]
fn misplaced_next_break_and_return_are_positioned_errors() {
    let f = "/repo/.chef/knife.rb";
    let cases = [
        (
            "next",
            "1:1: syntax error: `next` outside a block: expected it inside a block, such as `list.each do |x| ... end`",
        ),
        (
            "x = 1\n  break if x",
            "2:3: syntax error: `break` outside a block: expected it inside a block, such as `list.each do |x| ... end`",
        ),
        (
            "%w[a].each do |n|\n  def f\n    next\n  end\nend",
            "3:5: syntax error: `next` outside a block: expected it inside a block, such as `list.each do |x| ... end`",
        ),
        (
            "name 'x'\nreturn if true",
            "2:1: `return` at the top level of the file: expected it inside a `def` method body",
        ),
        (
            "%w[a].each { |n| return n }",
            "1:18: `return` at the top level of the file: expected it inside a `def` method body",
        ),
    ];
    for (src, want) in cases {
        let got = err_of(src, &["name"]);
        assert_eq!(got, format!("{f}:{want}"), "source: {src:?}");
    }
    let e = run("next", &[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
    let e = run("group :x do\n  return\nend", &["group"]).unwrap_err();
    assert_eq!((e.kind, e.line, e.column), (ErrorKind::Unsupported, 2, 3));
    // A `rescue` does not turn control flow into an error or swallow it.
    assert_eq!(
        value_of("def f\n  begin\n    return 'r'\n  rescue\n    'rescued'\n  end\nend\nf"),
        s("r")
    );
    assert_eq!(
        value_of("%w[a b].map { |n| (next 'n') rescue 'rescued' }"),
        strs(&["n", "n"])
    );
}
