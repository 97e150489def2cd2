//! The Berksfile DSL on realistic files: the four real-world shapes from the research notes
//! (community cookbook with `def fixture`, an app repo with constants and a symlink-aware
//! helper, a fork with `github:` branches, a Berkshelf 2 file), the seed repo's Berksfile, and
//! the errors and warnings users see.

use std::path::Path;

use chef_api::ruby::Interpreter;
use chef_api::version::Constraint;
use chef_sync::berkshelf::dsl::{self, Evaluated};
use chef_sync::berkshelf::{GitLocation, Location, Source};
use chef_testkit::fleet::repo_fixture_dir;

use crate::support::write;

fn load(path: &Path) -> Evaluated {
    dsl::load(path, &Interpreter::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn load_err(path: &Path) -> String {
    dsl::load(path, &Interpreter::new())
        .expect_err("must fail")
        .to_string()
}

#[test]
fn community_cookbook_with_fixture_helper_and_integration_group() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "metadata.rb",
        "name 'jenkins'\nversion '9.5.0'\ndepends 'dpkg_autostart'\n",
    );
    let bf = write(
        tmp.path(),
        "Berksfile",
        r#"# -*- ruby -*-
def fixture(name)
  cookbook "jenkins_#{name}", path: "test/fixtures/cookbooks/jenkins_#{name}"
end

source 'https://supermarket.chef.io'

metadata

group :integration do
  cookbook 'java'
  fixture 'authentication'
  fixture 'credentials'
  fixture 'slave'
end
"#,
    );
    let ev = load(&bf);
    let b = &ev.berksfile;
    assert_eq!(
        b.sources,
        [Source::Supermarket {
            url: "https://supermarket.chef.io".into()
        }]
    );
    assert!(b.metadata);
    let names: Vec<&str> = b.dependencies.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "jenkins",
            "java",
            "jenkins_authentication",
            "jenkins_credentials",
            "jenkins_slave"
        ]
    );
    let jenkins = b.dependency("jenkins").unwrap();
    assert_eq!(
        jenkins.location,
        Location::Path {
            path: ".".into(),
            metadata: true
        }
    );
    assert_eq!(jenkins.groups, ["default"]);
    let slave = b.dependency("jenkins_slave").unwrap();
    assert_eq!(
        slave.location,
        Location::Path {
            path: "test/fixtures/cookbooks/jenkins_slave".into(),
            metadata: false
        }
    );
    assert_eq!(slave.groups, ["integration"]);
    assert_eq!(ev.lines["java"], 11);
    assert_eq!(ev.lines["jenkins_slave"], 3, "declared inside the helper");
}

#[test]
fn app_repo_with_constants_symlink_helper_and_pinned_git_refs() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("identity-devops");
    let bf_real = write(
        &real,
        "Berksfile",
        r#"source 'https://api.berkshelf.com'

# The commit every cookbook from the shared repository is pinned to.
COOKBOOKS_REF = '22284b06e5543b7ea734c81d6f76b7e581afab06'

# When this Berksfile is a symlink (kitchen), paths are relative to the real file.
def prefixed(path)
  if File.symlink?(__FILE__)
    File.join(File.dirname(File.readlink(__FILE__)), path)
  else
    path
  end
end

cookbook 'apt', '~> 7.0'
cookbook 'build-essential'
cookbook 'ossec', git: 'https://github.com/sous-chefs/ossec'
cookbook 'cloudhsm', '>= 0.0.2', git: 'https://github.com/example/cookbooks', rel: 'cloudhsm', ref: COOKBOOKS_REF
cookbook 'identity-base', path: prefixed('kitchen/cookbooks/identity-base')
cookbook 'login_dot_gov', :path => prefixed('kitchen/cookbooks/login_dot_gov')
"#,
    );
    let ev = load(&bf_real);
    let b = &ev.berksfile;
    assert_eq!(b.supermarket_urls(), ["https://api.berkshelf.com"]);
    assert_eq!(
        b.dependency("apt").unwrap().constraint,
        Constraint::parse("~> 7.0").unwrap()
    );
    assert_eq!(
        b.dependency("build-essential").unwrap().constraint,
        Constraint::any()
    );
    assert_eq!(
        b.dependency("cloudhsm").unwrap().location,
        Location::Git(GitLocation {
            url: "https://github.com/example/cookbooks".into(),
            reference: Some("22284b06e5543b7ea734c81d6f76b7e581afab06".into()),
            rel: Some("cloudhsm".into()),
            ..Default::default()
        })
    );
    assert_eq!(
        b.dependency("login_dot_gov").unwrap().location,
        Location::Path {
            path: "kitchen/cookbooks/login_dot_gov".into(),
            metadata: false
        }
    );

    // Through a symlink the helper sees the real directory.
    let link = tmp.path().join("Berksfile");
    std::os::unix::fs::symlink(&bf_real, &link).unwrap();
    let ev = load(&link);
    assert_eq!(
        ev.berksfile.dependency("identity-base").unwrap().location,
        Location::Path {
            path: real.join("kitchen/cookbooks/identity-base"),
            metadata: false
        }
    );
}

#[test]
fn fork_with_encoding_line_and_github_branches() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "metadata.rb",
        "name 'hopsworks'\nversion '3.4.0'\n",
    );
    let bf = write(
        tmp.path(),
        "Berksfile",
        r#"Encoding.default_external = "UTF-8"
source 'https://supermarket.chef.io'

metadata

cookbook 'conda', github: "logicalclocks/conda-chef", branch: "master"
cookbook 'kagent', github: "logicalclocks/kagent-chef", branch: "master"
cookbook 'ndb', github: "logicalclocks/ndb-chef", tag: "v3.4.0"
"#,
    );
    let ev = load(&bf);
    assert_eq!(ev.berksfile.dependencies.len(), 4);
    assert_eq!(
        ev.berksfile.dependency("conda").unwrap().location,
        Location::Git(GitLocation {
            url: "https://github.com/logicalclocks/conda-chef.git".into(),
            branch: Some("master".into()),
            ..Default::default()
        })
    );
    let Location::Git(ndb) = &ev.berksfile.dependency("ndb").unwrap().location else {
        panic!("ndb is a git dependency");
    };
    assert_eq!(ndb.tag.as_deref(), Some("v3.4.0"));
}

#[test]
fn berkshelf_2_site_is_an_error_saying_what_to_write() {
    let tmp = tempfile::tempdir().unwrap();
    let bf = write(
        tmp.path(),
        "Berksfile",
        "# Alfresco-era Berksfile\nsite :opscode\n\ncookbook 'alfresco', path: '/Users/me/chef-alfresco'\ncookbook 'rvm', github: 'fnichol/chef-rvm'\n",
    );
    let err = load_err(&bf);
    assert!(
        err.starts_with(&format!("{}:2:1: ", bf.display())),
        "names file and line: {err}"
    );
    assert!(
        err.contains("source 'https://supermarket.chef.io'"),
        "says what to write: {err}"
    );
}

#[test]
fn seed_berksfile_and_its_documented_shape() {
    let seed = repo_fixture_dir("seed").join("Berksfile");
    let ev = load(&seed);
    assert_eq!(ev.berksfile.dependencies.len(), 1);
    assert_eq!(
        ev.berksfile.dependency("app").unwrap().location,
        Location::Path {
            path: "cookbooks/app".into(),
            metadata: false
        }
    );
    assert!(ev.berksfile.sources.is_empty());

    // The blog post's full shape, pasted with U+00A0 where spaces belong.
    let tmp = tempfile::tempdir().unwrap();
    let bf = write(
        tmp.path(),
        "Berksfile",
        "# Local Cookbooks\ncookbook 'app', path: 'cookbooks/app'\n\nsource 'https://supermarket.chef.io'\n\u{a0}\n# Supermarket Cookbooks\ncookbook\u{a0}'apt'\n",
    );
    let ev = load(&bf);
    assert_eq!(ev.berksfile.dependencies.len(), 2);
    assert_eq!(
        ev.berksfile.dependency("apt").unwrap().location,
        Location::Supermarket
    );
    let lines: Vec<u32> = ev.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [5, 7], "one warning per no-break-space line");
}

#[test]
fn env_conditionals_solver_extension_and_policyfile_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let bf = write(
        tmp.path(),
        "Berksfile",
        r#"source ENV.fetch('SUPERMARKET', 'https://supermarket.chef.io')
solver :ruby, :required
extension 'hg'
if ENV['CI']
  cookbook 'ci_only'
end
cookbook 'apt', '>= 1', supermarket: 'https://other.example'
cookbook 'nginx', chef_server: 'https://chef.example/organizations/o'
"#,
    );
    let interp = Interpreter::new().with_env([
        ("SUPERMARKET".to_owned(), "http://127.0.0.1:9/sm".to_owned()),
        ("CI".to_owned(), "1".to_owned()),
    ]);
    let ev = dsl::load(&bf, &interp).unwrap();
    assert_eq!(ev.berksfile.supermarket_urls(), ["http://127.0.0.1:9/sm"]);
    assert!(ev.berksfile.dependency("ci_only").is_some());
    let msgs: Vec<(u32, &str)> = ev
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert_eq!(msgs[0].0, 2);
    assert!(msgs[0].1.contains("solver"), "{msgs:?}");
    assert_eq!(msgs[1].0, 3);
    assert!(
        msgs[2].1.contains("supermarket: is not a Berkshelf option"),
        "{msgs:?}"
    );
    assert_eq!(msgs[3].0, 8);
    assert_eq!(
        ev.berksfile.dependency("nginx").unwrap().location,
        Location::Supermarket
    );

    let ev = dsl::load(&bf, &Interpreter::new()).unwrap();
    assert!(ev.berksfile.dependency("ci_only").is_none());
}

#[test]
fn errors_name_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("cookbook 'a'\n  chef_api :config\n", ":2:3: ", "chef_api"),
        (
            "cookbook 'a'\n\nfoo 'bar'\n",
            ":3:1: ",
            "undefined method 'foo'",
        ),
        (
            "cookbook 'a', brnach: 'main', git: 'x'\n",
            ":1:1: ",
            "unknown option brnach:",
        ),
        ("cookbook 'a', '~> nope'\n", ":1:1: ", "invalid constraint"),
        (
            "cookbook 'a', branch: 'main'\n",
            ":1:1: ",
            "needs git: or github:",
        ),
        (
            "cookbook 'a', git: 'https://x', ref: '--upload-pack=evil'\n",
            ":1:1: ",
            "not a usable",
        ),
        (
            "group :a do\n  cookbook 'x'\nend\ncookbook 'x', group: :a\n",
            ":4:1: ",
            "multiple entries named 'x'",
        ),
        ("`rm -rf /`\n", ":1:1: ", "backtick"),
        ("metadata\n", ":1:1: ", "no metadata.json or metadata.rb"),
    ];
    for (src, pos, needle) in cases {
        let bf = write(tmp.path(), "Berksfile", src);
        let err = load_err(&bf);
        assert!(
            err.starts_with(&format!("{}{pos}", bf.display())),
            "{src:?}: {err}"
        );
        assert!(err.contains(needle), "{src:?}: {err}");
    }
}

#[test]
fn dir_glob_declares_every_local_cookbook() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "cookbooks/web/metadata.rb", "name 'web'\n");
    write(tmp.path(), "cookbooks/db/metadata.rb", "name 'db'\n");
    write(tmp.path(), "cookbooks/README.md", "not a cookbook\n");
    let bf = write(
        tmp.path(),
        "Berksfile",
        "source 'https://supermarket.chef.io'\n\nDir.glob('cookbooks/*').each do |dir|\n  cookbook File.basename(dir), path: dir if File.directory?(dir)\nend\n",
    );
    let interp = Interpreter::new().with_cwd(tmp.path()).with_dir_glob(true);
    let ev = dsl::load(&bf, &interp).unwrap();
    let deps: Vec<(&str, Location)> = ev
        .berksfile
        .dependencies
        .iter()
        .map(|d| (d.name.as_str(), d.location.clone()))
        .collect();
    let path = |p: &str| Location::Path {
        path: p.into(),
        metadata: false,
    };
    assert_eq!(
        deps,
        [("db", path("cookbooks/db")), ("web", path("cookbooks/web"))]
    );
}

#[test]
fn next_if_in_an_each_loop_skips_cookbooks() {
    let tmp = tempfile::tempdir().unwrap();
    let bf = write(
        tmp.path(),
        "Berksfile",
        r#"source 'https://supermarket.chef.io'

%w[apt yum java].each do |name|
  next if name == 'yum' && ENV['NO_YUM']
  cookbook name
end

group :integration do
  %w[smoke auth].each do |suite|
    next cookbook("jenkins_#{suite}", path: "test/fixtures/#{suite}") if suite == 'smoke'
    break
  end
end
"#,
    );
    let names = |ev: &Evaluated| -> Vec<(String, Vec<String>)> {
        ev.berksfile
            .dependencies
            .iter()
            .map(|d| (d.name.clone(), d.groups.clone()))
            .collect()
    };
    let default = || vec!["default".to_owned()];
    let interp = Interpreter::new().with_env([("NO_YUM".to_owned(), "1".to_owned())]);
    let ev = dsl::load(&bf, &interp).unwrap();
    assert_eq!(
        names(&ev),
        [
            ("apt".to_owned(), default()),
            ("java".to_owned(), default()),
            ("jenkins_smoke".to_owned(), vec!["integration".to_owned()]),
        ]
    );
    let ev = load(&bf);
    let plain: Vec<String> = names(&ev).into_iter().map(|(n, _)| n).collect();
    assert_eq!(plain, ["apt", "yum", "java", "jenkins_smoke"]);
}
