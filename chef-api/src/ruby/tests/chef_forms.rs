//! The Ruby forms real Chef files use beyond the DSL calls: instance variables, `::File`,
//! `Dir.pwd`, `Etc.getlogin`, `format`/`%`, ignored `require`s, Mixlib::Config's contexts and
//! `Chef::Config`, files evaluated from another (`from_file`, `instance_eval(IO.read(..))`),
//! `method_missing`, and `Dir.glob` with `**` and `{a,b}`.

use super::*;

/// A Chef configuration: every plain name is a setting (`name v` stores, `name` reads), and
/// `knife.KEY` / `chef_zero.KEY` are contexts.
#[derive(Default, Debug)]
struct Config {
    settings: Vec<(String, Value)>,
}

impl Config {
    fn get(&self, name: &str) -> Option<&Value> {
        self.settings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

impl Dsl for Config {
    fn responds_to(&self, name: &str) -> bool {
        let plain = |n: &str| n.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        match name.split_once('.') {
            Some(("knife" | "chef_zero", key)) => plain(key),
            Some(_) => false,
            None => plain(name) && !matches!(name, "format" | "require" | "from_file" | "__dir__"),
        }
    }
    fn call(&mut self, call: Call, _block: Option<&mut dyn Block>) -> Result<Value, CallError> {
        match call.args.into_iter().next() {
            None => Ok(self.get(&call.name).cloned().unwrap_or(Value::Nil)),
            Some(v) => {
                self.settings.push((call.name, v.clone()));
                Ok(v)
            }
        }
    }
    fn is_chef_config(&self) -> bool {
        true
    }
}

/// Ignores unknown methods without a block, as Chef's metadata does.
struct Lenient(Recorder);

impl Dsl for Lenient {
    fn responds_to(&self, name: &str) -> bool {
        self.0.responds_to(name)
    }
    fn call(&mut self, call: Call, block: Option<&mut dyn Block>) -> Result<Value, CallError> {
        self.0.call(call, block)
    }
    fn method_missing(&mut self, call: &Call, block_given: bool) -> Missing {
        if block_given {
            Missing::Undefined
        } else {
            Missing::Ignored(format!(
                "{} ignored ({} arguments)",
                call.name,
                call.args.len()
            ))
        }
    }
}

fn config(src: &str, interp: &Interpreter) -> Result<(Config, Evaluation), EvalError> {
    let mut dsl = Config::default();
    let ev = interp.eval(src, Path::new("/repo/.chef/knife.rb"), &mut dsl)?;
    Ok((dsl, ev))
}

#[test]
fn instance_variables_are_shared_by_the_file_and_its_helpers() {
    let src = "@seen = []\n@count ||= 0\n\
               def add(name)\n  @seen << name\n  @count += 1\n  @seen.length\nend\n\
               add('a')\nadd('b')\n@first &&= @seen.first\n\
               [@seen, @count, @never, defined?(@seen), defined?(@never)]";
    assert_eq!(
        value_of(src),
        Value::Array(vec![
            Value::Array(vec![s("a"), s("b")]),
            Value::Int(2),
            Value::Nil,
            s("instance-variable"),
            Value::Nil,
        ])
    );
}

#[test]
fn top_level_constants_reach_the_builtin_modules() {
    let interp = Interpreter::new()
        .with_cwd("/work/repo")
        .with_env([("USER".to_owned(), "ci".to_owned())]);
    let mut dsl = Recorder::new(&[]);
    let ev = interp
        .eval(
            "[::File.join('a', 'b'), ::File.expand_path('..', '/x/y'), ::Dir.pwd, Dir.getwd, \
             Etc.getlogin, ::ENV['USER']]",
            Path::new("/work/repo/.chef/knife.rb"),
            &mut dsl,
        )
        .unwrap();
    assert_eq!(
        ev.value,
        Value::Array(vec![
            s("a/b"),
            s("/x"),
            s("/work/repo"),
            s("/work/repo"),
            s("ci"),
            s("ci")
        ])
    );
    // Without USER (and no terminal, as in CI), Ruby's Etc.getlogin is nil.
    assert_eq!(value_of("Etc.getlogin"), Value::Nil);
}

#[test]
fn format_and_percent_follow_ruby() {
    let cases = [
        ("format('%s/%s.pem', 'keys', :me)", "keys/me.pem"),
        ("'%s-%03d' % ['build', 7]", "build-007"),
        ("'%-5s|' % 'ab'", "ab   |"),
        (
            "sprintf('%.2f %x %o %+d %%', 3.14159, 255, 8, 4)",
            "3.14 ff 10 +4 %",
        ),
        (
            "'%{dir}/trusted_certs' % { dir: '/r/.chef' }",
            "/r/.chef/trusted_certs",
        ),
        ("format('%<n>05d', n: 42)", "00042"),
        ("'%p' % [nil]", "nil"),
    ];
    for (src, want) in cases {
        assert_eq!(value_of(src), s(want), "{src}");
    }
    let e = err_of("format('%s %s', 'one')", &[]);
    assert!(e.ends_with("1:1: format: too few arguments"), "{e}");
}

#[test]
fn require_of_anything_but_standard_libraries_is_ignored_with_a_warning() {
    let (_, ev) = run(
        "require 'json'\nrequire 'chef/knife'\nrequire_relative 'helpers'\nx = 1",
        &[],
    )
    .unwrap();
    let got: Vec<(u32, &str)> = ev
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                2,
                "require 'chef/knife' ignored: chef-sync loads no Ruby code"
            ),
            (
                3,
                "require_relative 'helpers' ignored: chef-sync loads no Ruby code"
            ),
        ]
    );
}

#[test]
fn config_contexts_and_chef_config_are_settings() {
    let src = "node_name 'me'\nknife.editor 'vim'\nknife.vault_mode = 'client'\n\
               chef_zero.enabled true\nChef::Config[:client_key] = '/k/me.pem'\n\
               ChefConfig::Config.log_level :info\n\
               cookbook_path [\"#{Chef::Config[:node_name]}/cookbooks\", knife.editor]\n\
               [Chef::Config.node_name, Chef::Config[:unset_thing], Chef::Config.key?(:node_name)]";
    let (cfg, ev) = config(src, &Interpreter::new()).unwrap();
    assert_eq!(
        ev.value,
        Value::Array(vec![s("me"), Value::Nil, Value::Bool(true)])
    );
    assert_eq!(cfg.get("knife.editor"), Some(&s("vim")));
    assert_eq!(cfg.get("knife.vault_mode"), Some(&s("client")));
    assert_eq!(cfg.get("chef_zero.enabled"), Some(&Value::Bool(true)));
    assert_eq!(cfg.get("client_key"), Some(&s("/k/me.pem")));
    assert_eq!(cfg.get("log_level"), Some(&Value::Sym("info".into())));
    assert_eq!(
        cfg.get("cookbook_path"),
        Some(&Value::Array(vec![s("me/cookbooks"), s("vim")]))
    );
}

#[test]
fn from_file_and_instance_eval_read_another_file_in_the_same_sandbox() {
    let mut fs = MemFs::default();
    fs.0.insert(
        "/repo/.chef/shared.rb".into(),
        "SHARED = 'yes'\nchef_server_url \"https://chef/#{ORG}\"\n".into(),
    );
    fs.0.insert(
        "/repo/.chef/local.rb".into(),
        "node_name 'local'\n\n  system('id')\n".into(),
    );
    fs.0.insert(
        "/repo/.chef/loop.rb".into(),
        "from_file '/repo/.chef/loop.rb'\n".into(),
    );
    let interp = Interpreter::new().with_fs(Arc::new(fs)).with_cwd("/repo");
    let src = "ORG = 'acme'\nChef::Config.from_file(File.join(__dir__, 'shared.rb'))\n\
               instance_eval(IO.read('.chef/shared.rb'))\nnode_name SHARED\n";
    let (cfg, _) = config(src, &interp).unwrap();
    assert_eq!(cfg.get("chef_server_url"), Some(&s("https://chef/acme")));
    assert_eq!(cfg.get("node_name"), Some(&s("yes")));

    // The included file's refusal is positioned in that file.
    let e = config("from_file '.chef/local.rb'\n", &interp).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/repo/.chef/local.rb:3:3: system(...) is not allowed: chef-sync never runs commands"
    );
    let e = config(
        "x = 1\ninstance_eval(::File.read('/repo/.chef/local.rb'))\n",
        &interp,
    )
    .unwrap_err();
    assert_eq!(
        (e.file.as_path(), e.line),
        (Path::new("/repo/.chef/local.rb"), 3)
    );
    // A string of code is evaluated as `(eval)`, with the same refusals.
    let e = config("instance_eval(\"node_name 'x'\\n`id`\")\n", &interp).unwrap_err();
    assert_eq!(
        e.to_string(),
        "(eval):2:1: backtick commands are not supported"
    );
    // A file including itself stops at the include limit, and a missing file is named.
    let e = config("from_file '/repo/.chef/loop.rb'\n", &interp).unwrap_err();
    assert!(e.message.contains("include each other more than"), "{e}");
    let e = config("Chef::Config.from_file('/repo/.chef/none.rb')\n", &interp).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/repo/.chef/knife.rb:1:1: from_file('/repo/.chef/none.rb'):"),
        "{e}"
    );
}

#[test]
fn method_missing_can_ignore_calls_without_blocks() {
    let mut dsl = Lenient(Recorder::new(&["name"]));
    let ev = Interpreter::new()
        .eval(
            "name 'x'\nlong_name 'Legacy', ENV.fetch('X', 'd')\nv = respond_to?(:long_name)\nv",
            Path::new("metadata.rb"),
            &mut dsl,
        )
        .unwrap();
    assert_eq!(ev.value, Value::Bool(false));
    assert_eq!(ev.warnings.len(), 1);
    assert_eq!(
        (ev.warnings[0].line, ev.warnings[0].message.as_str()),
        (2, "long_name ignored (2 arguments)")
    );
    // Arguments are still evaluated: their errors stand.
    let e = Interpreter::new()
        .eval("long_name nil.strip", Path::new("metadata.rb"), &mut dsl)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Runtime);
    // With a block, it stays an error; forbidden calls never reach method_missing.
    let e = Interpreter::new()
        .eval("grouping 'x' do\nend", Path::new("metadata.rb"), &mut dsl)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "metadata.rb:1:1: undefined method 'grouping'"
    );
    let e = Interpreter::new()
        .eval("exec 'ls'", Path::new("metadata.rb"), &mut dsl)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotAllowed);
}

#[test]
fn dir_glob_recurses_with_double_star_and_expands_braces() {
    let tmp = tempfile::tempdir().unwrap();
    for f in [
        "cookbooks/a/metadata.rb",
        "cookbooks/a/recipes/default.rb",
        "site/b/metadata.rb",
        "site/b/deep/c/metadata.rb",
        "site/.hidden/metadata.rb",
    ] {
        let p = tmp.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }
    let interp = Interpreter::new().with_cwd(tmp.path()).with_dir_glob(true);
    let mut dsl = Recorder::new(&[]);
    let file = tmp.path().join("Berksfile");
    let eval = |src: &str, dsl: &mut Recorder| interp.eval(src, &file, dsl).unwrap().value;
    let strs = |xs: &[&str]| Value::Array(xs.iter().map(|x| s(x)).collect());
    assert_eq!(
        eval("Dir.glob('**/metadata.rb')", &mut dsl),
        strs(&[
            "cookbooks/a/metadata.rb",
            "site/b/deep/c/metadata.rb",
            "site/b/metadata.rb"
        ])
    );
    assert_eq!(
        eval("Dir['{cookbooks,site}/*/metadata.rb']", &mut dsl),
        strs(&["cookbooks/a/metadata.rb", "site/b/metadata.rb"])
    );
    assert_eq!(
        eval("Dir.glob('site/**/c')", &mut dsl),
        strs(&["site/b/deep/c"])
    );
    assert_eq!(
        eval("Dir.glob('./cookbooks/*')", &mut dsl),
        strs(&["./cookbooks/a"])
    );
    let e = interp
        .eval("Dir.glob('site/**/../../..')", &file, &mut dsl)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotAllowed);
}

#[test]
fn def_helpers_take_rest_keyword_rest_and_an_options_hash() {
    let src = "def cb(name, opts = {})\n  [name, opts]\nend\n\
               def many(first, *rest, tag: 'x', **more)\n  [first, rest, tag, more]\nend\n\
               [cb('a', git: 'g'), cb('b'), many(1, 2, 3, tag: 't', path: 'p'), many(0)]";
    let h = |pairs: &[(&str, Value)]| {
        Value::Hash(
            pairs
                .iter()
                .map(|(k, v)| (Value::Sym((*k).to_owned()), v.clone()))
                .collect(),
        )
    };
    assert_eq!(
        value_of(src),
        Value::Array(vec![
            Value::Array(vec![s("a"), h(&[("git", s("g"))])]),
            Value::Array(vec![s("b"), h(&[])]),
            Value::Array(vec![
                Value::Int(1),
                Value::Array(vec![Value::Int(2), Value::Int(3)]),
                s("t"),
                h(&[("path", s("p"))]),
            ]),
            Value::Array(vec![Value::Int(0), Value::Array(vec![]), s("x"), h(&[])]),
        ])
    );
    let e = err_of("def one(a)\n  a\nend\none(1, 2)", &[]);
    assert!(
        e.ends_with("4:1: wrong number of arguments calling 'one'"),
        "{e}"
    );
    let e = err_of("def kw(a:)\n  a\nend\nkw(a: 1, b: 2)", &[]);
    assert!(
        e.ends_with("4:1: wrong number of arguments calling 'kw'"),
        "{e}"
    );
}

#[test]
fn index_or_write_fills_hashes_and_config_contexts_once() {
    assert_eq!(
        value_of(
            "h = {}\nh[:a] ||= 1\nh[:a] ||= 2\n@deps = { 'x' => nil }\n@deps['x'] ||= []\n[h, @deps]"
        ),
        Value::Array(vec![
            Value::Hash(vec![(Value::Sym("a".into()), Value::Int(1))]),
            Value::Hash(vec![(s("x"), Value::Array(vec![]))]),
        ])
    );
    let e = err_of("x = 'str'\nx[:a] ||= 1", &[]);
    assert!(e.ends_with("2:1: `||=` on String is not supported"), "{e}");
}
