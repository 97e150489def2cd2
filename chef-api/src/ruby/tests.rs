//! Unit tests of the evaluator: knife.rb, Berksfile and metadata.rb idioms, and rejections.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::*;

/// (name, args, kwargs, line) of one call.
type Recorded = (String, Vec<Value>, Vec<(Value, Value)>, u32);

/// Records every call; knows a fixed set of method names. `group` runs its block.
#[derive(Default, Debug)]
struct Recorder {
    known: Vec<&'static str>,
    calls: Vec<Recorded>,
}

impl Recorder {
    fn new(known: &[&'static str]) -> Self {
        Self {
            known: known.to_vec(),
            calls: Vec::new(),
        }
    }
    fn args_of(&self, name: &str) -> Vec<Vec<Value>> {
        self.calls
            .iter()
            .filter(|c| c.0 == name)
            .map(|c| c.1.clone())
            .collect()
    }
}

impl Dsl for Recorder {
    fn responds_to(&self, name: &str) -> bool {
        self.known.contains(&name)
    }
    fn call(&mut self, call: Call, block: Option<&mut dyn Block>) -> Result<Value, CallError> {
        if call.name == "fail_here" {
            return Err(CallError::Message("bad argument".into()));
        }
        let line = call.line;
        self.calls
            .push((call.name.clone(), call.args, call.kwargs, line));
        if let Some(b) = block {
            b.call(self, vec![Value::Str("from-dsl".into())])?;
        }
        Ok(Value::Nil)
    }
}

/// An in-memory file system.
#[derive(Default)]
struct MemFs(HashMap<PathBuf, String>);

impl FileSystem for MemFs {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        self.0.get(path).cloned().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory")
        })
    }
    fn exists(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }
    fn is_dir(&self, _path: &Path) -> bool {
        false
    }
}

fn run(src: &str, known: &[&'static str]) -> Result<(Recorder, Evaluation), EvalError> {
    let mut dsl = Recorder::new(known);
    let ev = Interpreter::new().eval(src, Path::new("/repo/.chef/knife.rb"), &mut dsl)?;
    Ok((dsl, ev))
}

fn value_of(src: &str) -> Value {
    run(src, &[]).expect("evaluates").1.value
}

fn err_of(src: &str, known: &[&'static str]) -> String {
    run(src, known).expect_err("must fail").to_string()
}

fn s(x: &str) -> Value {
    Value::Str(x.to_owned())
}

#[test]
fn owca_knife_rb_evaluates_with_env_and_yaml_hook() {
    let src = "require 'yaml'\n\nCHEF_SERVER = ENV['CHEF_SERVER'] || \"NONE\"\ncurrent_dir = File.dirname(__FILE__)\nbase_dir = File.join(File.dirname(File.expand_path(__FILE__)), '..')\nenv_config = YAML.load_file(\"#{current_dir}/#{CHEF_SERVER}/config.yml\")\n\nlog_level                :info\nlog_location             STDOUT\nnode_name                'pivotal'\nclient_key               \"#{current_dir}/#{CHEF_SERVER}/private.pem\"\ncookbook_path            [File.join(base_dir, 'cookbooks')]\nchef_server_url          env_config[\"server\"]\n";
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let interp = Interpreter::new()
        .with_env([("CHEF_SERVER".to_owned(), "eu-west".to_owned())])
        .with_yaml_loader(move |p| {
            seen2.lock().unwrap().push(p.to_path_buf());
            Ok(Value::Hash(vec![(
                s("server"),
                s("https://eu.example/organizations/default"),
            )]))
        });
    let mut dsl = Recorder::new(&[
        "log_level",
        "log_location",
        "node_name",
        "client_key",
        "cookbook_path",
        "chef_server_url",
    ]);
    interp
        .eval(src, Path::new("/repo/.chef/knife.rb"), &mut dsl)
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [PathBuf::from("/repo/.chef/eu-west/config.yml")]
    );
    assert_eq!(
        dsl.args_of("log_level"),
        vec![vec![Value::Sym("info".into())]]
    );
    assert_eq!(
        dsl.args_of("log_location"),
        vec![vec![Value::Opaque("STDOUT")]]
    );
    assert_eq!(
        dsl.args_of("client_key"),
        vec![vec![s("/repo/.chef/eu-west/private.pem")]]
    );
    assert_eq!(
        dsl.args_of("cookbook_path"),
        vec![vec![Value::Array(vec![s("/repo/.chef/../cookbooks")])]]
    );
    assert_eq!(
        dsl.args_of("chef_server_url"),
        vec![vec![s("https://eu.example/organizations/default")]]
    );
}

#[test]
fn env_default_when_unset_and_fetch() {
    assert_eq!(value_of("X = ENV['NOPE'] || \"d\"\nX"), s("d"));
    assert_eq!(value_of("ENV.fetch('NOPE', 'dflt')"), s("dflt"));
    assert_eq!(value_of("ENV.fetch('NOPE') { |k| k + '!' }"), s("NOPE!"));
    let e = err_of("ENV.fetch('NOPE')", &[]);
    assert_eq!(e, "/repo/.chef/knife.rb:1:1: key not found: \"NOPE\"");
    // The process environment is never consulted.
    assert_eq!(value_of("ENV['PATH']"), Value::Nil);
}

#[test]
fn file_helpers_and_file_arithmetic() {
    assert_eq!(
        value_of("File.basename(File.dirname(__FILE__))"),
        s(".chef")
    );
    assert_eq!(
        value_of("File.expand_path('../cookbooks', File.dirname(__FILE__))"),
        s("/repo/cookbooks")
    );
    assert_eq!(value_of("__dir__"), s("/repo/.chef"));
    assert_eq!(value_of("File.join('a', ['b', 'c'])"), s("a/b/c"));
}

#[test]
fn file_read_and_rescue_modifier() {
    let mut fs = MemFs::default();
    fs.0.insert(PathBuf::from("/cb/README.md"), "# Hello\n".to_owned());
    fs.0.insert(PathBuf::from("/cb/VERSION"), "1.4.2\n".to_owned());
    let interp = Interpreter::new().with_fs(Arc::new(fs)).with_cwd("/cb");
    let mut dsl = Recorder::new(&["long_description", "version"]);
    let src = "long_description IO.read(File.join(File.dirname(__FILE__), 'README.md'))\nversion File.read('VERSION').strip\nx = File.read('missing') rescue 'fallback'\nx";
    let ev = interp
        .eval(src, Path::new("/cb/metadata.rb"), &mut dsl)
        .unwrap();
    assert_eq!(dsl.args_of("long_description"), vec![vec![s("# Hello\n")]]);
    assert_eq!(dsl.args_of("version"), vec![vec![s("1.4.2")]]);
    assert_eq!(ev.value, s("fallback"));
}

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

/// Every rejected construct, with its exact position and message.
#[test]
fn unsupported_constructs_are_positioned_errors() {
    let f = "/repo/.chef/knife.rb";
    let cases: &[(&str, &str)] = &[
        (
            "name 'x'\n  `rm -rf /`\n",
            "2:3: backtick commands are not supported",
        ),
        ("x = %x(ls)", "1:5: backtick commands are not supported"),
        (
            "system('ls')",
            "1:1: system(...) is not allowed: chef-sync never runs commands",
        ),
        ("\neval 'name 1'", "2:1: eval is not allowed"),
        ("instance_eval { }", "1:1: instance_eval is not allowed"),
        ("'x'.send(:upcase)", "1:1: send is not allowed"),
        (
            "require_relative 'other'",
            "1:1: require_relative is not allowed",
        ),
        (
            "require 'net/http'",
            "1:1: require 'net/http' is not allowed (only standard libraries such as 'yaml' and 'json')",
        ),
        ("foo 'bar'", "1:1: undefined method 'foo'"),
        (
            "name 'a'\nfoo",
            "2:1: undefined local variable or method 'foo'",
        ),
        (
            "x = 1\nif x =~ /a/ then 1 end",
            "2:9: regular expressions are not supported",
        ),
        ("while true do end", "1:1: loops are not supported"),
        (
            "class Foo; end",
            "1:1: class and module definitions are not supported",
        ),
        (
            "@x = 1",
            "1:1: instance and class variables are not supported",
        ),
        (
            "Chef::Config[:x]",
            "1:1: constant Chef::Config is not supported",
        ),
        (
            "'a'.squeeze",
            "1:1: method 'squeeze' of String is not supported",
        ),
        ("Dir.glob('*')", "1:1: Dir.glob is not supported"),
        (
            "YAML.load_file('x.yml')",
            "1:1: YAML.load_file is not available here",
        ),
        ("fail_here 1", "1:1: bad argument"),
        (
            "name(",
            "1:6: syntax error: unexpected end-of-input; expected a `)` to close the arguments",
        ),
        // A rescue modifier never hides a sandbox refusal.
        (
            "system('ls') rescue nil",
            "1:1: system(...) is not allowed: chef-sync never runs commands",
        ),
        (
            "x = `id` rescue nil",
            "1:5: backtick commands are not supported",
        ),
    ];
    for (src, want) in cases {
        let got = err_of(src, &["name", "fail_here"]);
        assert_eq!(got, format!("{f}:{want}"), "source: {src:?}");
    }
}

#[test]
fn error_kinds_are_classified() {
    let e = run("system('x')", &[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotAllowed);
    let e = run("nil.strip", &[]).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Runtime, "undefined method 'strip' for nil")
    );
    let e = run("foo(", &[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(value_of("nil.strip rescue 'ok'"), s("ok"));
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
    assert_eq!((e.line, e.kind), (2, ErrorKind::Runtime));
    assert!(e.message.starts_with("stack level too deep"), "{e}");
    // Deep nesting is refused instead of overflowing the stack.
    let deep = format!("x = {}1{}", "[".repeat(3000), "]".repeat(3000));
    let e = run(&deep, &[]).unwrap_err();
    assert!(e.message.starts_with("stack level too deep"), "{e}");
    let calls = format!("{}1{}", "[1].map { ".repeat(300), " }".repeat(300));
    let e = run(&calls, &[]).unwrap_err();
    assert!(e.message.starts_with("stack level too deep"), "{e}");
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
fn relative_paths_resolve_against_the_working_directory_like_ruby() {
    let mut fs = MemFs::default();
    fs.0.insert(
        PathBuf::from("/repo/cookbooks/x/README.md"),
        "readme".to_owned(),
    );
    let interp = Interpreter::new().with_fs(Arc::new(fs)).with_cwd("/repo");
    let mut dsl = Recorder::new(&["long_description"]);
    let src = "long_description IO.read(File.join(File.dirname(__FILE__), 'README.md'))\n[__dir__, File.expand_path('x'), File.exist?('cookbooks/x/README.md')]";
    let ev = interp
        .eval(src, Path::new("cookbooks/x/metadata.rb"), &mut dsl)
        .unwrap();
    assert_eq!(dsl.args_of("long_description"), vec![vec![s("readme")]]);
    assert_eq!(
        ev.value,
        Value::Array(vec![
            s("/repo/cookbooks/x"),
            s("/repo/x"),
            Value::Bool(true)
        ])
    );
}

#[test]
fn file_symlink_and_readlink_use_the_file_system() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::write(real.join("Berksfile"), "").unwrap();
    let link = tmp.path().join("Berksfile");
    std::os::unix::fs::symlink(real.join("Berksfile"), &link).unwrap();
    let interp = Interpreter::new().with_cwd(tmp.path());
    let mut dsl = Recorder::new(&[]);
    let src =
        "if File.symlink?(__FILE__) then File.dirname(File.readlink(__FILE__)) else 'plain' end";
    let ev = interp.eval(src, &link, &mut dsl).unwrap();
    assert_eq!(ev.value, s(&real.to_string_lossy()));
    let ev = interp.eval(src, &real.join("Berksfile"), &mut dsl).unwrap();
    assert_eq!(ev.value, s("plain"));
    let err = interp
        .eval("File.readlink('nope')", &link, &mut dsl)
        .unwrap_err();
    assert!(err.to_string().contains("File.readlink('nope')"), "{err}");
}

#[test]
fn dir_glob_lists_only_under_the_working_directory() {
    let tmp = tempfile::tempdir().unwrap();
    for d in ["cookbooks/b", "cookbooks/a", "cookbooks/.hidden", "other"] {
        std::fs::create_dir_all(tmp.path().join(d)).unwrap();
    }
    std::fs::write(tmp.path().join("cookbooks/a/metadata.rb"), "").unwrap();
    let interp = Interpreter::new().with_cwd(tmp.path()).with_dir_glob(true);
    let mut dsl = Recorder::new(&[]);
    let file = tmp.path().join("Berksfile");
    let ev = interp
        .eval("Dir.glob('cookbooks/*')", &file, &mut dsl)
        .unwrap();
    assert_eq!(
        ev.value,
        Value::Array(vec![s("cookbooks/a"), s("cookbooks/b")])
    );
    let ev = interp
        .eval(
            "Dir[File.join(__dir__, 'cookbooks', '*', 'metadata.rb')]",
            &file,
            &mut dsl,
        )
        .unwrap();
    let want = format!("{}/cookbooks/a/metadata.rb", tmp.path().display());
    assert_eq!(ev.value, Value::Array(vec![s(&want)]));
    for bad in [
        "Dir.glob('../*')",
        "Dir.glob('/etc/*')",
        "Dir.glob('**/*.rb')",
    ] {
        let err = interp.eval(bad, &file, &mut dsl).unwrap_err();
        assert!(err.message.contains("Dir.glob"), "{bad}: {err}");
    }
}

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
