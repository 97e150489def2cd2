//! What is evaluated: literals, strings, control flow, blocks, `def` helpers, DSL calls with
//! keywords and blocks, in-place mutation, scoping and the sandbox's limits.

use super::*;

#[test]
fn literals_interpolation_and_string_methods() {
    assert_eq!(
        value_of("%w[a b c]"),
        Value::Array(vec![s("a"), s("b"), s("c")])
    );
    assert_eq!(
        value_of("%i[a b]"),
        Value::Array(vec![Value::Sym("a".into()), Value::Sym("b".into())])
    );
    assert_eq!(value_of("n = 3\n\"x#{n}y#{nil}#{:z}\""), s("x3yz"));
    assert_eq!(value_of("'  Ab  '.strip.downcase + 'C'.upcase"), s("abC"));
    assert_eq!(
        value_of("'a,b'.split(',')"),
        Value::Array(vec![s("a"), s("b")])
    );
    assert_eq!(
        value_of("'line\n'.chomp.start_with?('li')"),
        Value::Bool(true)
    );
    assert_eq!(value_of("'x'.to_sym"), Value::Sym("x".into()));
    assert_eq!(
        value_of("''.empty? && !nil.nil? == false"),
        Value::Bool(true)
    );
    assert_eq!(value_of("{ 'a' => 1, b: 2 }[:b]"), Value::Int(2));
    assert_eq!(value_of("[1, 2][-1]"), Value::Int(2));
    assert_eq!(
        value_of("<<~EOS\n  hello\n    world\nEOS\n"),
        s("hello\n  world\n")
    );
}

#[test]
fn control_flow() {
    assert_eq!(value_of("x = nil\nx ? 'a' : 'b'"), s("b"));
    assert_eq!(
        value_of("if false then 1 elsif nil then 2 else 3 end"),
        Value::Int(3)
    );
    assert_eq!(value_of("y = 1 unless true\ny"), Value::Nil);
    assert_eq!(value_of("z = 5 if 1 == 1\nz"), Value::Int(5));
    assert_eq!(value_of("a = nil\na ||= 'set'\na"), s("set"));
    assert_eq!(
        value_of("case 'b' when 'a' then 1 when 'b', 'c' then 2 end"),
        Value::Int(2)
    );
    assert_eq!(
        value_of("begin\n  File.read('/nope/x')\nrescue => e\n  'rescued'\nend"),
        s("rescued")
    );
}

#[test]
fn blocks_loops_and_dsl_calls() {
    let (dsl, _) = run("%w(ubuntu debian).each do |p|\n  supports p\nend\n[1, 2].each_with_index { |v, i| supports \"#{v}-#{i}\" }\n{ 'a' => 1 }.each { |k, v| supports k, v }\n%w(x y).map(&:upcase).each { supports _1 }\n", &["supports"]).unwrap();
    assert_eq!(
        dsl.args_of("supports"),
        vec![
            vec![s("ubuntu")],
            vec![s("debian")],
            vec![s("1-0")],
            vec![s("2-1")],
            vec![s("a"), Value::Int(1)],
            vec![s("X")],
            vec![s("Y")],
        ]
    );
}

#[test]
fn kwargs_blocks_given_to_the_dsl_and_def_helpers() {
    let src = "def fixture(name)\n  cookbook \"app_#{name}\", path: \"test/fixtures/#{name}\"\nend\ngroup :integration do |g|\n  cookbook 'java', '~> 2.0', git: 'https://x/java.git', 'branch' => 'main'\n  fixture 'web'\n  cookbook g\nend\n";
    let (dsl, _) = run(src, &["cookbook", "group"]).unwrap();
    let names: Vec<&str> = dsl.calls.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["group", "cookbook", "cookbook", "cookbook"]);
    assert_eq!(dsl.calls[1].1, vec![s("java"), s("~> 2.0")]);
    assert_eq!(
        dsl.calls[1].2,
        vec![
            (Value::Sym("git".into()), s("https://x/java.git")),
            (s("branch"), s("main"))
        ]
    );
    assert_eq!(dsl.calls[2].1, vec![s("app_web")]);
    assert_eq!(
        dsl.calls[2].2,
        vec![(Value::Sym("path".into()), s("test/fixtures/web"))]
    );
    assert_eq!(dsl.calls[3].1, vec![s("from-dsl")]);
    assert_eq!(dsl.calls[1].3, 5);
}

#[test]
fn respond_to_and_defined() {
    let (dsl, _) = run("chef_version '>= 15' if respond_to?(:chef_version)\nissues_url 'x' if respond_to?(:issues_url)\nsource_url 'y' if defined?(source_url)\n", &["chef_version"]).unwrap();
    assert_eq!(dsl.calls.len(), 1);
    assert_eq!(dsl.calls[0].0, "chef_version");
}

#[test]
fn nbsp_is_a_space_with_one_warning_per_line() {
    let src = "node_name\u{a0}\u{a0}'pivotal'\nlog_level :info\nclient_key\u{a0}'k.pem'\n";
    let (dsl, ev) = run(src, &["node_name", "log_level", "client_key"]).unwrap();
    assert_eq!(dsl.args_of("node_name"), vec![vec![s("pivotal")]]);
    let lines: Vec<u32> = ev.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [1, 3]);
    assert_eq!(
        ev.warnings[0].to_string(),
        "/repo/.chef/knife.rb:1: U+00A0 no-break space treated as a space"
    );
}

#[test]
fn nbsp_inside_string_literals_is_kept() {
    let src = "node_name\u{a0}'a\u{a0}b'\nclient_key <<~K\n  x\u{a0}y\nK\n";
    let (dsl, ev) = run(src, &["node_name", "client_key"]).unwrap();
    assert_eq!(dsl.args_of("node_name"), vec![vec![s("a\u{a0}b")]]);
    assert_eq!(dsl.args_of("client_key"), vec![vec![s("x\u{a0}y\n")]]);
    let lines: Vec<u32> = ev.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [1]);
}

#[test]
fn mutation_of_locals_constants_and_dsl_index_writes() {
    assert_eq!(
        value_of("deps = %w(a)\ndeps << 'b'\ndeps.push('c', 'd')\ndeps.concat(['e'])\ndeps"),
        Value::Array(["a", "b", "c", "d", "e"].iter().map(|x| s(x)).collect())
    );
    assert_eq!(
        value_of("h = {}\nh['k'] = 1\nh[:s] = 'two'\nh.merge!('k' => 3)\nh"),
        Value::Hash(vec![
            (s("k"), Value::Int(3)),
            (Value::Sym("s".into()), s("two"))
        ])
    );
    assert_eq!(
        value_of("LIST = []\nLIST << 1\nLIST"),
        Value::Array(vec![Value::Int(1)])
    );
    assert_eq!(value_of("x = 'a'\nx << 'b'\nx"), s("ab"));
    let (dsl, _) = run(
        "Encoding.default_external = 'UTF-8'\nknife[:aws_region] = ENV['NOPE'] || 'eu-west-1'\n",
        &["knife[]="],
    )
    .unwrap();
    assert_eq!(
        dsl.args_of("knife[]="),
        vec![vec![Value::Sym("aws_region".into()), s("eu-west-1")]]
    );
    assert_eq!(
        err_of("knife[:x] = 1", &[]),
        "/repo/.chef/knife.rb:1:1: undefined local variable or method 'knife'"
    );
    // A chain of indexes on a DSL method is one call with the whole path, keys first.
    let (dsl, _) = run(
        "k = 'b'\ndefault['a'][k][:c] = 1\ndefault[:x] = 2\n",
        &["default[]="],
    )
    .unwrap();
    assert_eq!(
        dsl.args_of("default[]="),
        vec![
            vec![s("a"), s("b"), Value::Sym("c".into()), Value::Int(1)],
            vec![Value::Sym("x".into()), Value::Int(2)]
        ]
    );
    assert!(
        err_of("default['a']['b'] = 1", &[]).contains("default"),
        "a DSL without the writer still refuses the chain"
    );
    // A read chain on a DSL with a path reader is one call `NAME[]` with the keys.
    let (dsl, _) = run(
        "k = 'b'
x = default['a'][k]
y = default[:z]
default['w']['v'] = 1
",
        &["default[]", "default[]="],
    )
    .unwrap();
    assert_eq!(
        dsl.args_of("default[]"),
        vec![vec![s("a"), s("b")], vec![Value::Sym("z".into())]]
    );
    assert_eq!(dsl.args_of("default[]=").len(), 1, "a write is not a read");
}

#[test]
fn block_scoping_and_resource_caps() {
    // Blocks update outer locals; their own locals do not leak.
    assert_eq!(
        value_of("total = 0\n[1, 2].each { |x| total += x; inner = 1 }\n[total, defined?(inner)]"),
        Value::Array(vec![Value::Int(3), Value::Nil])
    );
    // Method bodies do not see the caller's locals.
    assert_eq!(
        err_of("secret = 1\ndef peek\n  secret\nend\npeek", &[]),
        "/repo/.chef/knife.rb:3:3: undefined local variable or method 'secret'"
    );
    assert_eq!(
        err_of("'a' * 1_000_000_000_000", &[]),
        "/repo/.chef/knife.rb:1:1: String#*: result too large"
    );
    assert_eq!(
        err_of("a = []\na[1_000_000_000_000] = 1", &[]),
        "/repo/.chef/knife.rb:2:1: index 1000000000000 too large"
    );
    let e = run("def f(n)\n  f(n)\nend\nf(1)", &[]).unwrap_err();
    assert_eq!((e.line, e.kind), (2, ErrorKind::Limit));
    assert!(e.message.starts_with("stack level too deep"), "{e}");
    // Deep nesting is refused instead of overflowing the stack.
    let deep = format!("x = {}1{}", "[".repeat(3000), "]".repeat(3000));
    let e = run(&deep, &[]).unwrap_err();
    assert_eq!((e.line, e.column, e.kind), (1, 1005, ErrorKind::Limit));
    assert!(
        e.message.starts_with("nesting deeper than 1000 levels"),
        "{e}"
    );
    // 300 nested blocks are within the limits (and run on the sandbox's own stack).
    let calls = format!("{}1{}", "[1].map { ".repeat(300), " }".repeat(300));
    run(&calls, &[]).unwrap();
    let calls = format!("{}1{}", "[1].map { ".repeat(1001), " }".repeat(1001));
    let e = run(&calls, &[]).unwrap_err();
    assert!(e.message.starts_with("nesting deeper than 1000"), "{e}");
}

#[test]
fn interpreter_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Interpreter>();
    let interp = Interpreter::new().with_env([("A".to_owned(), "1".to_owned())]);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let i = interp.clone();
            std::thread::spawn(move || {
                let mut d = Recorder::new(&[]);
                i.eval("ENV['A']", Path::new("x.rb"), &mut d)
                    .map(|e| e.value)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), s("1"));
    }
}

#[test]
fn methods_of_an_object_the_dsl_yields_go_back_to_the_dsl() {
    let known = ["yields_object", "src#prefer"];
    let (dsl, _) = run(
        "yields_object do |s|\n  s.prefer 'a', 'b'\n  %w(c).each { |n| s.prefer(n) }\nend\n",
        &known,
    )
    .unwrap();
    assert_eq!(
        dsl.args_of("src#prefer"),
        [vec![s("a"), s("b")], vec![s("c")]]
    );
    assert_eq!(dsl.calls[1].3, 2, "the method call's own line");
    // A method the DSL does not answer is the value's: an error with the position.
    let err = err_of("yields_object do |s|\n  s.other 1\nend\n", &known);
    assert!(err.contains(":2:") && err.contains("other"), "{err}");
    let (dsl, ev) = run("x = nil\nyields_object { |s| x = s.inspect }\nx\n", &known).unwrap();
    assert_eq!(dsl.calls.len(), 1);
    assert_eq!(ev.value, s("#<src>"));
}
