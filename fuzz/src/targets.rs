//! One target per parser of outside input. Each takes the raw bytes of one input, runs the
//! real entry point the library uses for that input (writing a file first where the entry
//! point reads files), and returns a short "outcome key": `ok`, or the error's message with
//! digits and quoted parts removed. The loop keeps inputs that reach a new key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chef_api::client::Response;
use chef_api::cookbook::metadata::Metadata;
use chef_api::cookbook::{Chefignore, ManifestFiles};
use chef_api::endpoints::{CookbookListing, SearchPage};
use chef_api::error::ResponseError;
use chef_api::key::PrivateKey;
use chef_api::ruby::Interpreter;
use chef_api::universe::Universe;
use chef_api::version::{Constraint, Version};
use chef_sync::berkshelf::archive::CookbookStore;
use chef_sync::berkshelf::dsl;
use chef_sync::berkshelf::lockfile::Lockfile;
use chef_sync::config::{LoadOptions, RepoConfig};

use crate::mutate::Shape;

/// A fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its name (also the folder of its findings under `fuzz/regressions/`).
    pub name: &'static str,
    /// What its input looks like.
    pub shape: Shape,
    /// Tokens of its language, for the mutator.
    pub dict: &'static [&'static str],
    /// Its starting inputs.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Runs one input; returns its outcome key.
    pub run: fn(&[u8]) -> String,
}

/// Every target, in the order `scripts/fuzz` runs them.
pub fn all() -> Vec<Target> {
    vec![
        Target {
            name: "metadata_rb",
            shape: Shape::Ruby,
            dict: RUBY_DICT,
            seeds: seeds_metadata_rb,
            run: run_metadata_rb,
        },
        Target {
            name: "knife_rb",
            shape: Shape::Ruby,
            dict: RUBY_DICT,
            seeds: seeds_knife_rb,
            run: run_knife_rb,
        },
        Target {
            name: "berksfile",
            shape: Shape::Ruby,
            dict: RUBY_DICT,
            seeds: seeds_berksfile,
            run: run_berksfile,
        },
        Target {
            name: "key",
            shape: Shape::Text,
            dict: PEM_DICT,
            seeds: seeds_key,
            run: run_key,
        },
        Target {
            name: "config_yml",
            shape: Shape::Text,
            dict: YAML_DICT,
            seeds: seeds_config_yml,
            run: run_config_yml,
        },
        Target {
            name: "credentials",
            shape: Shape::Text,
            dict: TOML_DICT,
            seeds: seeds_credentials,
            run: run_credentials,
        },
        Target {
            name: "lockfile",
            shape: Shape::Text,
            dict: LOCK_DICT,
            seeds: seeds_lockfile,
            run: run_lockfile,
        },
        Target {
            name: "universe",
            shape: Shape::Json,
            dict: JSON_DICT,
            seeds: seeds_universe,
            run: run_universe,
        },
        Target {
            name: "metadata_json",
            shape: Shape::Json,
            dict: JSON_DICT,
            seeds: seeds_metadata_json,
            run: run_metadata_json,
        },
        Target {
            name: "server_json",
            shape: Shape::Json,
            dict: JSON_DICT,
            seeds: seeds_server_json,
            run: run_server_json,
        },
        Target {
            name: "constraints",
            shape: Shape::Text,
            dict: CONSTRAINT_DICT,
            seeds: seeds_constraints,
            run: run_constraints,
        },
        Target {
            name: "chefignore",
            shape: Shape::Text,
            dict: GLOB_DICT,
            seeds: seeds_chefignore,
            run: run_chefignore,
        },
        Target {
            name: "archive",
            shape: Shape::Binary,
            dict: ARCHIVE_DICT,
            seeds: seeds_archive,
            run: run_archive,
        },
    ]
}

/// The target called `name`.
pub fn by_name(name: &str) -> Option<Target> {
    all().into_iter().find(|t| t.name == name)
}

// ---------------------------------------------------------------------------------------
// Dictionaries.

const RUBY_DICT: &[&str] = &[
    "name 'x'",
    "version '1.2.3'",
    "depends 'apt', '~> 18446744073709551615.0'",
    "supports 'ubuntu', '>= 18'",
    "do",
    "end",
    "do |x|",
    "{ |x| x }",
    "if true",
    "unless false",
    "else",
    "elsif x",
    "case x",
    "when 1",
    "begin",
    "rescue",
    "ensure",
    "def f(a) a end",
    "def f(n) f(n) end",
    "f(1)",
    "return",
    "next",
    "break",
    "10.times do |i| end",
    "1000000.times { }",
    "[1,2,3].each do |x| end",
    "(1..10).each { }",
    "x = []",
    "x << 1",
    "x.push(x)",
    "h = {}",
    "h[1] = 2",
    "s = 'a'",
    "s = s + s",
    "s * 1000000",
    "s << s",
    "x = x + x",
    "File.read('README.md')",
    "IO.read('/etc/passwd')",
    "File.readlines('/dev/zero')",
    "File.read('/dev/zero')",
    "File.join('a', 'b')",
    "File.expand_path('..', __FILE__)",
    "File.dirname(__FILE__)",
    "__dir__",
    "__FILE__",
    "ENV['X']",
    "ENV.fetch('HOME', 'x')",
    "JSON.parse('[[[[]]]]')",
    "YAML.load_file('x.yml')",
    "Dir.glob('*')",
    "\"#{x}\"",
    "<<~EOS\nx\nEOS\n",
    "%w[a b c]",
    "%i[a b]",
    ":sym",
    "nil",
    "true",
    "1.0",
    "0x7fffffffffffffff",
    "9223372036854775807",
    "-9223372036854775808",
    "**",
    "&.",
    "||=",
    "&&",
    "||",
    "!",
    "not",
    "defined?(x)",
    "x ? 1 : 2",
    "->(x) { x }",
    "lambda",
    "proc",
    "Proc.new",
    "method(:x)",
    "send(:x)",
    "eval('1')",
    "`ls`",
    "system('ls')",
    "require 'json'",
    "require_relative 'x'",
    "class A; end",
    "module M; end",
    "while true; end",
    "until false; end",
    "loop do end",
    "for i in 1..3 do end",
    "chef_version '>= 16'",
    "issues_url 'x'",
    "long_description File.read(File.join(__dir__, 'README.md'))",
    "source 'https://supermarket.chef.io'",
    "cookbook 'x', path: '.'",
    "group :test do end",
    "metadata",
    "node_name 'x'",
    "client_key 'k.pem'",
    "knife[:x] = 1",
    "chef_server_url 'https://x'",
    "cookbook_path ['x']",
    "ssl_verify_mode :verify_none",
];

const PEM_DICT: &[&str] = &[
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "-----BEGIN PUBLIC KEY-----",
    "\r\n",
    "\u{a0}",
    "\u{feff}",
    "MII",
    "AAAA",
    "====",
    "Proc-Type: 4,ENCRYPTED",
];

const YAML_DICT: &[&str] = &[
    "server: ",
    "'https://x/organizations/o'",
    "- ",
    "? ",
    ": ",
    "&a ",
    "*a",
    "<<: *a",
    "!!str ",
    "!!binary ",
    "---",
    "...",
    "|",
    ">",
    "{",
    "}",
    "[",
    "]",
    "\"\\u0000\"",
    "\u{a0}",
    "%YAML 1.2",
    "~",
    "null",
    "0x",
    "1e999",
];

const TOML_DICT: &[&str] = &[
    "[default]",
    "[dev]",
    "[dev.knife]",
    "client_name = ",
    "node_name = ",
    "client_key = ",
    "chef_server_url = ",
    "\"\"\"",
    "'''",
    "= [",
    "= {",
    "}",
    "]",
    "[[a]]",
    "ssl_verify_mode = \"verify_none\"",
    "1979-05-27T07:32:00Z",
    "inf",
    "nan",
    "0x",
    "\u{a0}",
    "a.b.c = 1",
];

const LOCK_DICT: &[&str] = &[
    "DEPENDENCIES",
    "GRAPH",
    "  ",
    "    ",
    "      ",
    "(= 1.2.3)",
    "(~> 1.0)",
    "(>= 0.0.0)",
    "path: .",
    "git: https://x",
    "revision: ",
    "branch: main",
    "ref: ",
    "rel: x",
    "tag: v1",
    "{\"sources\":",
    "\"locked_version\":",
    "18446744073709551615",
];

const JSON_DICT: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"\"",
    "null",
    "true",
    "false",
    "\"location_type\"",
    "\"location_path\"",
    "\"download_url\"",
    "\"dependencies\"",
    "\"supermarket\"",
    "\"chef_server\"",
    "\"opscode\"",
    "\"uri\"",
    "\"name\"",
    "\"version\"",
    "\"versions\"",
    "\"url\"",
    "\"rows\"",
    "\"total\"",
    "\"start\"",
    "\"error\"",
    "\"all_files\"",
    "\"checksum\"",
    "\"path\"",
    "\"specificity\"",
    "\"recipes\"",
    "\"~> 1.0\"",
    "\"1.2.3\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "1e999",
    "-0",
    "18446744073709551616",
    "\"../../etc\"",
];

const CONSTRAINT_DICT: &[&str] = &[
    "~>",
    ">=",
    "<=",
    "=",
    ">",
    "<",
    "!=",
    ".",
    " ",
    "0",
    "18446744073709551615",
    "\n",
];

const GLOB_DICT: &[&str] = &[
    "*",
    "**",
    "?",
    "[",
    "]",
    "[!a-z]",
    "\\",
    "/",
    "#",
    ".git",
    "*/*/*/*/*",
    "[[[[",
    "\n",
];

const ARCHIVE_DICT: &[&str] = &[
    "ustar",
    "././@LongLink",
    "PaxHeader",
    "path=",
    "../",
    "/etc/passwd",
    "PK\u{3}\u{4}",
    "metadata.rb",
    "metadata.json",
];

// ---------------------------------------------------------------------------------------
// Shared helpers.

/// The repository's `tests/data`.
fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

fn read_data(rel: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(rel)).unwrap_or_default()
}

/// Where scratch directories go: tmpfs (`/dev/shm`) when there is one, else the temporary
/// directory. Targets that read files write every input to one, and on a disk file system
/// each write and unlink costs a journal update (on this project's VMs, most of the time of
/// an input).
pub fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The scratch directory of process `pid`.
pub fn scratch_dir(pid: u32) -> PathBuf {
    scratch_root().join(format!("chef-sync-fuzz-{pid}"))
}

/// The process's scratch directory (removed by [`cleanup`]).
fn work() -> &'static Path {
    static WORK: OnceLock<PathBuf> = OnceLock::new();
    WORK.get_or_init(|| {
        let dir = scratch_dir(std::process::id());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("fuzz scratch directory");
        dir
    })
}

/// Removes this process's scratch directory.
pub fn cleanup() {
    let _ = std::fs::remove_dir_all(scratch_dir(std::process::id()));
}

/// A directory under the scratch directory, created with `files` once.
fn fixture_dir(name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = work().join(name);
    if !dir.join(".ready").exists() {
        for (rel, content) in files {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap_or(&dir)).expect("fixture dir");
            std::fs::write(&p, content).expect("fixture file");
        }
        std::fs::create_dir_all(&dir).expect("fixture dir");
        std::fs::write(dir.join(".ready"), b"").expect("fixture marker");
    }
    dir
}

/// An outcome key for a result: `ok`, or the error message's shape.
fn key<T, E: std::fmt::Display>(r: &Result<T, E>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(e) => shape_of(&e.to_string()),
    }
}

/// A message without digits, quoted parts and paths, cut to 60 characters.
fn shape_of(msg: &str) -> String {
    let mut out = String::new();
    let mut quoted = None;
    for c in msg.chars() {
        match quoted {
            Some(q) if c == q => quoted = None,
            Some(_) => {}
            None if c == '"' || c == '`' => quoted = Some(c),
            None if c.is_ascii_digit() => {}
            None => out.push(c),
        }
        if out.len() >= 60 {
            break;
        }
    }
    out
}

fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

fn seed_strings(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

// ---------------------------------------------------------------------------------------
// Ruby DSLs.

fn cookbook_dir() -> PathBuf {
    fixture_dir(
        "cookbook",
        &[
            ("README.md", b"# apt\nInstalls apt.\n"),
            ("VERSION", b"1.2.3\n"),
            ("attributes/default.rb", b"default['x'] = 1\n"),
        ],
    )
}

fn seeds_metadata_rb() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    if let Ok(rd) = std::fs::read_dir(data_dir().join("metadata")) {
        let mut dirs: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        dirs.sort();
        for d in dirs {
            if let Ok(b) = std::fs::read(d.join("metadata.rb")) {
                seeds.push(b);
            }
        }
    }
    seeds.push(read_data("repos/seed/cookbooks/app/metadata.rb"));
    seeds.extend(seed_strings(&[
        "name 'apt'\nversion '1.0.0'\n",
        "name 'x'\nversion File.read(File.join(__dir__, 'VERSION')).strip\nlong_description IO.read(File.join(File.dirname(__FILE__), 'README.md'))\n",
        "name 'x'\nversion '1.0.0'\n%w(ubuntu debian).each do |os|\n  supports os\nend\nx = []\n10.times { |i| x << i }\ndepends 'y', '~> 1.0'\n",
    ]));
    seeds
}

fn run_metadata_rb(input: &[u8]) -> String {
    let dir = cookbook_dir();
    let interp = Interpreter::new().with_cwd(&dir);
    key(&Metadata::from_rb_str(
        &text(input),
        &dir.join("metadata.rb"),
        &interp,
    ))
}

fn repo_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            ".chef/us-east-1/config.yml",
            b"server: 'https://127.0.0.1:8443/organizations/default'\n".to_vec(),
        ),
        (
            ".chef/us-east-1/private.pem",
            read_data("keys/mixlib-spec.pem"),
        ),
        (
            ".chef/ca_certs/opsworks-cm-ca-2016-root.pem",
            read_data("repos/seed/.chef/ca_certs/opsworks-cm-ca-2016-root.pem"),
        ),
        (
            "cookbooks/app/metadata.rb",
            b"name 'app'\nversion '0.1.0'\n".to_vec(),
        ),
    ]
}

fn repo_dir(name: &str) -> PathBuf {
    let files = repo_files();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_slice())).collect();
    fixture_dir(name, &refs)
}

fn seeds_knife_rb() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        read_data("repos/seed/.chef/knife.rb"),
        read_data("repos/ssl_proxy/.chef/knife.rb"),
        read_data("repos/config_rb/.chef/knife.rb"),
        read_data("repos/config_rb/.chef/config.rb"),
    ];
    seeds.retain(|s| !s.is_empty());
    seeds.push(b"node_name 'pivotal'\nclient_key \"#{__dir__}/us-east-1/private.pem\"\nchef_server_url 'https://x/organizations/o'\nknife[:editor] = 'vim'\n".to_vec());
    seeds
}

fn run_knife_rb(input: &[u8]) -> String {
    let repo = repo_dir("knife_repo");
    let knife = repo.join(".chef/knife.rb");
    if std::fs::write(&knife, input).is_err() {
        return "io".to_owned();
    }
    key(&RepoConfig::load(&repo, &LoadOptions::default()))
}

fn seeds_berksfile() -> Vec<Vec<u8>> {
    let mut seeds = vec![read_data("repos/seed/Berksfile")];
    seeds.extend(seed_strings(&[
        "source 'https://supermarket.chef.io'\nmetadata\ncookbook 'apt', '~> 7.0'\ncookbook 'app', path: 'cookbooks/app'\ngroup :test do\n  cookbook 'x', git: 'https://example.invalid/x.git', branch: 'main'\nend\n",
        "source :chef_server\nsource chef_repo: '.'\n%w(a b).each { |c| cookbook c, path: \"cookbooks/#{c}\" }\n",
        "source artifactory: 'https://art.example/api/chef/x', api_key: ENV['K']\ndef local(n) cookbook n, path: \"cookbooks/#{n}\" end\nlocal 'app'\n",
    ]));
    seeds
}

fn run_berksfile(input: &[u8]) -> String {
    let repo = repo_dir("berks_repo");
    let interp = Interpreter::new().with_cwd(&repo);
    key(&dsl::evaluate(
        &text(input),
        &repo.join("Berksfile"),
        &interp,
    ))
}

// ---------------------------------------------------------------------------------------
// Keys and configuration files.

fn seeds_key() -> Vec<Vec<u8>> {
    vec![
        read_data("keys/mixlib-spec.pem"),
        read_data("keys/mixlib-spec.pub.pem"),
    ]
}

fn run_key(input: &[u8]) -> String {
    match PrivateKey::from_pem(input) {
        Ok(k) => format!("ok {}", k.public_key_pem().len() + k.bits() - k.bits()),
        Err(e) => shape_of(&e.to_string()),
    }
}

fn seeds_config_yml() -> Vec<Vec<u8>> {
    let mut seeds = vec![read_data("repos/seed/.chef/us-east-1/config.yml")];
    seeds.extend(seed_strings(&[
        "server: 'https://chef.example/organizations/default'\n",
        "---\nserver: \"https://a\"\nextra:\n  - 1\n  - {a: b}\nanchor: &a [1, 2]\nref: *a\n",
        "server:\u{a0}'https://x'\n",
    ]));
    seeds
}

fn run_config_yml(input: &[u8]) -> String {
    let repo = repo_dir("yml_repo");
    let chef = repo.join(".chef");
    if std::fs::write(
        chef.join("knife.rb"),
        read_data("repos/seed/.chef/knife.rb"),
    )
    .is_err()
        || std::fs::write(chef.join("us-east-1/config.yml"), input).is_err()
    {
        return "io".to_owned();
    }
    key(&RepoConfig::load(&repo, &LoadOptions::default()))
}

fn seeds_credentials() -> Vec<Vec<u8>> {
    seed_strings(&[
        "[default]\nclient_name = \"barney\"\nclient_key = \"barney.pem\"\nchef_server_url = \"https://chef.example/organizations/bedrock\"\n",
        "[dev]\nnode_name = \"admin\"\nclient_key = \"\"\"\n-----BEGIN RSA PRIVATE KEY-----\nnot a real key\n-----END RSA PRIVATE KEY-----\n\"\"\"\nchef_server_url = \"https://dev.example\"\nssl_verify_mode = \"verify_none\"\n\n[dev.knife]\nssh_user = \"ubuntu\"\n",
        "[default]\nclient_name\u{a0}= \"x\"\n",
    ])
}

fn run_credentials(input: &[u8]) -> String {
    let home = fixture_dir("creds_home", &[(".chef/README", b"x")]);
    let repo = fixture_dir("creds_repo", &[("cookbooks/README", b"x")]);
    if std::fs::write(home.join(".chef/credentials"), input).is_err() {
        return "io".to_owned();
    }
    let mut options = LoadOptions::default();
    options
        .env
        .insert("HOME".to_owned(), home.display().to_string());
    let first = key(&RepoConfig::load(&repo, &options));
    options
        .env
        .insert("CHEF_PROFILE".to_owned(), "dev".to_owned());
    let second = key(&RepoConfig::load(&repo, &options));
    format!("{first}|{second}")
}

fn seeds_lockfile() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for f in [
        "supermarket-only.lock",
        "git-branches.lock",
        "path-fixtures.lock",
        "app-repo.lock",
        "berkshelf2.lock",
    ] {
        seeds.push(read_data(&format!("berkshelf/{f}")));
    }
    seeds.retain(|s| !s.is_empty());
    seeds
}

fn run_lockfile(input: &[u8]) -> String {
    let r = Lockfile::parse_with_warnings(&text(input), Path::new("Berksfile.lock"));
    if let Ok((lock, _)) = &r {
        let again = lock.to_lock_string();
        let _ = Lockfile::parse(&again, Path::new("Berksfile.lock"));
    }
    key(&r)
}

// ---------------------------------------------------------------------------------------
// JSON from servers.

fn seeds_universe() -> Vec<Vec<u8>> {
    let mut seeds = vec![read_data("berkshelf/universe-conflict.json")];
    seeds.extend(seed_strings(&[
        r#"{"apt":{"7.4.0":{"location_type":"opscode","location_path":"https://supermarket.chef.io/api/v1","download_url":"https://supermarket.chef.io/api/v1/cookbooks/apt/versions/7.4.0/download","dependencies":{}},"2.9.2":{"location_type":"opscode","location_path":"https://supermarket.chef.io/api/v1","download_url":"https://supermarket.chef.io/api/v1/cookbooks/apt/versions/2.9.2/download","dependencies":{"compat_resource":">= 12.16.3"}}}}"#,
        r#"{"x":{"1.0.0":{"location_type":"chef_server","location_path":"https://chef/organizations/o","dependencies":{"y":"~> 1.0"}}}}"#,
    ]));
    seeds.retain(|s| !s.is_empty());
    seeds
}

fn run_universe(input: &[u8]) -> String {
    static URL: OnceLock<url::Url> = OnceLock::new();
    let url = URL.get_or_init(|| url::Url::parse("https://supermarket.example").expect("url"));
    let r = Universe::parse(url, input);
    if let Ok(u) = &r {
        let all = chef_sync::berkshelf::universes::Universes {
            sources: vec![u.clone()],
        };
        let _ = all.merged();
        let catalog = chef_sync::berkshelf::resolver::Catalog::from_universes(&all);
        let _ = catalog.len();
    }
    key(&r)
}

fn seeds_metadata_json() -> Vec<Vec<u8>> {
    seed_strings(&[
        r#"{"name":"apt","version":"7.4.0","dependencies":{"x":"~> 1.0"},"platforms":{"ubuntu":">= 16.04"},"recipes":{},"long_description":""}"#,
        r#"{"name":"x","version":"1.0","dependencies":{},"attributes":{"a":{"b":{"c":[1,2,{"d":null}]}}}}"#,
    ])
}

fn run_metadata_json(input: &[u8]) -> String {
    let r = Metadata::from_json_str(&text(input), Path::new("metadata.json"));
    if let Ok(m) = &r {
        let _ = (
            m.name(),
            m.version(),
            m.dependencies().count(),
            m.to_knife_json(),
        );
    }
    key(&r)
}

fn seeds_server_json() -> Vec<Vec<u8>> {
    seed_strings(&[
        r#"{"apt":{"url":"https://chef/cookbooks/apt","versions":[{"url":"https://chef/cookbooks/apt/7.4.0","version":"7.4.0"}]}}"#,
        r#"{"total":2,"start":0,"rows":[{"name":"n1","chef_environment":"_default"},{"data":{"name":"n2"}}]}"#,
        r#"{"cookbook_name":"apt","name":"apt-7.4.0","version":"7.4.0","chef_type":"cookbook_version","json_class":"Chef::CookbookVersion","frozen?":false,"metadata":{"name":"apt","version":"7.4.0"},"all_files":[{"name":"recipes/default.rb","path":"recipes/default.rb","checksum":"d41d8cd98f00b204e9800998ecf8427e","specificity":"default","url":"https://chef/bookshelf/x"}]}"#,
        r#"{"error":["Field 'name' invalid","second"]}"#,
    ])
}

fn run_server_json(input: &[u8]) -> String {
    let response = Response::new(
        reqwest::StatusCode::OK,
        reqwest::header::HeaderMap::new(),
        bytes::Bytes::copy_from_slice(input),
        &reqwest::Method::GET,
        "https://chef.example/organizations/o/cookbooks".to_owned(),
    );
    let listing = key(&response.json::<BTreeMap<String, CookbookListing>>());
    let page = key(&response.json::<SearchPage>());
    let manifest = match response.json::<serde_json::Value>() {
        Ok(v) => key(&ManifestFiles::from_json(&v)),
        Err(e) => shape_of(&e.to_string()),
    };
    let error = ResponseError::new(400, "GET", "https://chef.example/x", input);
    format!(
        "{listing}|{page}|{manifest}|{}",
        error.messages.len().min(3)
    )
}

// ---------------------------------------------------------------------------------------
// Versions, constraints, chefignore.

fn seeds_constraints() -> Vec<Vec<u8>> {
    seed_strings(&[
        "~> 1.2\n~> 1.2.3\n>= 0.0.0\n< 2.0\n<= 1.0.1\n> 0.1\n= 1.0.0\n1.2.3\n1.2\n",
        "~> 18446744073709551614.0\n>= 18446744073709551615.18446744073709551615.18446744073709551615\n",
        "~> 8\n>= 16.04\n!= 1.0\n",
    ])
}

fn run_constraints(input: &[u8]) -> String {
    let text = text(input);
    let mut versions = vec![
        Version::new(0, 0, 0),
        Version::new(1, 2, 3),
        Version::new(u64::MAX, u64::MAX, u64::MAX),
    ];
    let mut oks = 0usize;
    // Every line is parsed; a bounded number of versions and constraints is cross-checked (the
    // cross product is the harness's cost, not the parser's).
    for line in text.lines() {
        for v in [Version::parse(line), Version::parse_platform(line)]
            .into_iter()
            .flatten()
        {
            let _ = v.to_string();
            if versions.len() < 32 {
                versions.push(v);
            }
        }
    }
    for line in text.lines().take(256) {
        for c in [Constraint::parse(line), Constraint::parse_platform(line)]
            .into_iter()
            .flatten()
        {
            oks += 1;
            let printed = c.to_string();
            let _ = Constraint::parse_platform(&printed);
            let _ = c.bounds();
            for v in &versions {
                let _ = c.matches(v);
            }
        }
    }
    format!("{}", oks.min(4))
}

fn seeds_chefignore() -> Vec<Vec<u8>> {
    seed_strings(&[
        "# comment\n.git\n*.swp\n*~\ntest/*\nspec/*\n.kitchen*\nvendor/**\n[._]*.s[a-w][a-z]\n\\#*\n",
        "a*b*c*d*e*f*g*h*\n**/*.rb\n[!a-z]?\n",
    ])
}

fn run_chefignore(input: &[u8]) -> String {
    let text = text(input);
    let ignore = Chefignore::from_text(&text);
    let mut hits = 0usize;
    for path in [
        "recipes/default.rb",
        ".git/config",
        "a.swp",
        "spec/unit/x_spec.rb",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
        "files/default/[weird]*name?.txt",
    ] {
        hits += usize::from(ignore.is_ignored(path));
    }
    // Lines of the input as paths too, so pattern and path are both chosen by the input;
    // cookbook paths are short (a file name is at most 255 bytes).
    for line in text.lines().take(4).filter(|l| l.len() <= 255) {
        hits += usize::from(ignore.is_ignored(line));
    }
    format!("{}", hits.min(3))
}

// ---------------------------------------------------------------------------------------
// Archives.

/// A tar of a small cookbook `apt` 1.0.0.
fn cookbook_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let files: &[(&str, &[u8])] = &[
        ("apt/metadata.rb", b"name 'apt'\nversion '1.0.0'\n"),
        ("apt/recipes/default.rb", b"package 'x'\n"),
        ("apt/README.md", b"# apt\n"),
    ];
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        let _ = b.append_data(&mut h, path, *data);
    }
    b.into_inner().unwrap_or_default()
}

fn cookbook_zip() -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (path, data) in [
        (
            "apt/metadata.json",
            &br#"{"name":"apt","version":"1.0.0"}"#[..],
        ),
        ("apt/recipes/default.rb", b"package 'x'\n"),
    ] {
        let _ = w.start_file(path, opts);
        let _ = w.write_all(data);
    }
    w.finish().map(|c| c.into_inner()).unwrap_or_default()
}

/// `data` as a gzip member of stored (uncompressed) deflate blocks. Written by hand: the
/// compressor of `flate2` builds its state on the stack, too big for the worker's 256 KiB in
/// a debug build, and the harness must not be what overflows.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// The first byte chooses how the rest is stored: 0 a tar to gzip (so mutations hit the tar
/// structure), 1 the bytes as they are (tar, gzip or zip), anything else a zip as it is.
fn seeds_archive() -> Vec<Vec<u8>> {
    let tar = cookbook_tar();
    let mut a = vec![0u8];
    a.extend_from_slice(&tar);
    let mut b = vec![1u8];
    b.extend_from_slice(&gzip(&tar));
    let mut c = vec![2u8];
    c.extend_from_slice(&cookbook_zip());
    vec![a, b, c]
}

fn run_archive(input: &[u8]) -> String {
    let Some((&mode, rest)) = input.split_first() else {
        return "empty".to_owned();
    };
    let dir = work().join("archive");
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return "io".to_owned();
    }
    let file = dir.join("apt.tar.gz");
    let bytes = if mode == 0 { gzip(rest) } else { rest.to_vec() };
    if std::fs::write(&file, bytes).is_err() {
        return "io".to_owned();
    }
    let store = CookbookStore::new(dir.join("store"));
    key(&store.install_archive("apt", &Version::new(1, 0, 0), &file))
}
