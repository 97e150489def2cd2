//! The built-in modules: `ENV`, `File`/`IO` (through the [`FileSystem`]), `Dir.glob`, `YAML`
//! through the hook, relative paths and the working directory; and a whole real knife.rb.

use super::*;

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
        "Dir.glob('cookbooks/**/../../x')",
    ] {
        let err = interp.eval(bad, &file, &mut dsl).unwrap_err();
        assert!(err.message.contains("Dir.glob"), "{bad}: {err}");
    }
}
