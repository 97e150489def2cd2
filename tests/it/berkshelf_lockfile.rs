//! Berksfile.lock: byte-identical round trips of locks in Berkshelf's format, staleness rules,
//! updates, and a lock rebuilt after resolution.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chef_api::version::{Constraint, Version};
use chef_sync::berkshelf::lockfile::{LockLocation, Lockfile, LockfileError, Update};
use chef_sync::berkshelf::resolver::{Catalog, resolve};
use chef_sync::berkshelf::{Berksfile, CookbookInfo, Dependency, GitLocation, Location, Source};

fn fixture(name: &str) -> (PathBuf, String) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/berkshelf")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap();
    (p, text)
}

fn c(s: &str) -> Constraint {
    Constraint::parse(s).unwrap()
}

#[test]
fn berkshelf_locks_round_trip_byte_identical() {
    for name in [
        "app-repo.lock",
        "supermarket-only.lock",
        "git-branches.lock",
        "path-fixtures.lock",
    ] {
        let (path, text) = fixture(name);
        let lock = Lockfile::parse(&text, &path).unwrap();
        assert!(!lock.graph.is_empty(), "{name}");
        assert_eq!(lock.to_lock_string(), text, "{name} must round-trip");
    }
}

#[test]
fn crlf_and_blank_lines_are_tolerated() {
    let (path, text) = fixture("supermarket-only.lock");
    let crlf = text.replace('\n', "\r\n").replace("GRAPH", "\r\nGRAPH");
    let a = Lockfile::parse(&text, &path).unwrap();
    let b = Lockfile::parse(&crlf, &path).unwrap();
    assert_eq!(a, b);
    assert_eq!(b.to_lock_string(), text);
}

#[test]
fn locations_are_typed() {
    let (path, text) = fixture("app-repo.lock");
    let lock = Lockfile::parse(&text, &path).unwrap();
    let get = |n: &str| lock.dependencies.iter().find(|d| d.name == n).unwrap();
    assert_eq!(get("apt").constraint.as_deref(), Some("~> 7.0"));
    assert_eq!(
        get("myapp").location,
        LockLocation::Path {
            path: ".".into(),
            metadata: true
        }
    );
    match &get("cloudhsm").location {
        LockLocation::Git {
            url,
            revision,
            reference,
            rel,
            branch,
            tag,
        } => {
            assert_eq!(url, "https://github.com/example/cookbooks");
            assert_eq!(revision, "22284b06e5543b7ea734c81d6f76b7e581afab06");
            assert_eq!(reference.as_deref(), Some("22284b0"));
            assert_eq!(rel.as_deref(), Some("cloudhsm"));
            assert!(branch.is_none() && tag.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        lock.locked_version("seven_zip"),
        Some(Version::new(3, 1, 1))
    );
    assert_eq!(
        lock.graph["build-essential"].dependencies["mingw"].as_deref(),
        Some(">= 1.1")
    );
}

#[test]
fn parse_errors_are_positioned() {
    let (path, text) = fixture("app-repo.lock");
    let broken = text.replace("  windows (6.0.0)", "  windows (6.0.x)");
    let err = Lockfile::parse(&broken, &path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, LockfileError::Parse { line: 30, .. }),
        "{msg}"
    );
    assert!(msg.contains("app-repo.lock:30:"), "{msg}");
    assert!(msg.contains("6.0.x"), "{msg}");
    let missing_rev = text.replace(
        "    revision: 7e63571e40456e63c08dc5e4538bd5006993563c\n",
        "",
    );
    // An old Berkshelf's git entry without a revision: read, left out so it is resolved and
    // fetched again (Berkshelf fetches its branch again), with a warning naming it.
    let (lock, warnings) = Lockfile::parse_with_warnings(&missing_rev, &path).unwrap();
    assert!(lock.dependencies.iter().all(|d| d.name != "ossec"));
    assert!(!lock.graph.contains_key("ossec"));
    assert!(lock.graph.contains_key("windows"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("app-repo.lock:12: git dependency ossec has no locked revision"),
        "{warnings:?}"
    );
    // JSON is a Berkshelf 2 lock: converted (see the berkshelf2_* tests), not rejected.
    let json = Lockfile::parse("{\"dependencies\": {}}", &path).unwrap();
    assert!(json.from_berkshelf2 && json.dependencies.is_empty());
}

/// The Berksfile that app-repo.lock was written for.
fn app_berksfile() -> Berksfile {
    Berksfile {
        sources: vec![Source::Supermarket {
            url: "https://supermarket.chef.io".into(),
        }],
        dependencies: vec![
            Dependency::new("apt", c("~> 7.0")),
            Dependency::new("build-essential", Constraint::any()),
            Dependency::new("cloudhsm", c(">= 0.0.1")).with_location(Location::Git(GitLocation {
                url: "https://github.com/example/cookbooks".into(),
                reference: Some("22284b06e5543b7ea734c81d6f76b7e581afab06".into()),
                rel: Some("cloudhsm".into()),
                ..Default::default()
            })),
            Dependency::new("myapp", Constraint::any()).with_location(Location::Path {
                path: ".".into(),
                metadata: true,
            }),
            Dependency::new("ossec", Constraint::any()).with_location(Location::Git(GitLocation {
                url: "https://github.com/sous-chefs/ossec".into(),
                ..Default::default()
            })),
        ],
        metadata: true,
    }
}

fn app_lock() -> Lockfile {
    let (path, text) = fixture("app-repo.lock");
    Lockfile::parse(&text, &path).unwrap()
}

#[test]
fn matching_lock_is_trusted() {
    let plan = app_lock().plan(&app_berksfile(), &Update::None).unwrap();
    assert!(plan.is_trusted(), "{:?}", plan.untrusted_reason);
    assert_eq!(plan.lock, app_lock());
    assert!(plan.added.is_empty() && plan.removed.is_empty());
    assert_eq!(plan.pins["windows"], Version::new(6, 0, 0));
}

#[test]
fn constraint_that_rejects_the_lock_is_an_error_unless_updating() {
    let mut b = app_berksfile();
    b.dependencies[0].constraint = c("~> 8.0");
    let err = app_lock().plan(&b, &Update::None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Berkshelf could not find compatible versions for cookbook 'apt':\n  In Berksfile:\n    apt (~> 8.0)\n\n  In Berksfile.lock:\n    apt (7.1.1)\n\nTry running `berks update apt`, which will try to find 'apt' matching '~> 8.0'."
    );
    let plan = app_lock()
        .plan(&b, &Update::Only(vec!["apt".into()]))
        .unwrap();
    assert!(!plan.is_trusted());
    assert!(!plan.pins.contains_key("apt"));
    assert_eq!(plan.pins["seven_zip"], Version::new(3, 1, 1));
    let all = app_lock().plan(&b, &Update::All).unwrap();
    assert!(all.pins.is_empty());
    let unknown = app_lock().plan(&b, &Update::Only(vec!["nginx".into()]));
    assert!(matches!(
        unknown,
        Err(LockfileError::UnknownCookbook { .. })
    ));
}

#[test]
fn removed_dependency_drops_its_orphans() {
    let mut b = app_berksfile();
    b.dependencies.retain(|d| d.name != "build-essential");
    let plan = app_lock().plan(&b, &Update::None).unwrap();
    assert_eq!(plan.removed, vec!["build-essential".to_owned()]);
    let names: Vec<&str> = plan.lock.graph.keys().map(String::as_str).collect();
    assert_eq!(names, ["apt", "cloudhsm", "myapp", "ossec"]);
    assert!(plan.is_trusted(), "{:?}", plan.untrusted_reason);
}

#[test]
fn added_dependency_or_changed_location_needs_resolution() {
    let mut b = app_berksfile();
    b.dependencies.push(Dependency::new("nginx", c("~> 2.7")));
    let plan = app_lock().plan(&b, &Update::None).unwrap();
    assert_eq!(plan.added, vec!["nginx".to_owned()]);
    assert_eq!(
        plan.untrusted_reason.as_deref(),
        Some("nginx is not in the lock file's DEPENDENCIES")
    );
    assert_eq!(plan.pins.len(), 5, "old pins are kept");
    assert!(
        !plan.pins.contains_key("myapp") && !plan.pins.contains_key("ossec"),
        "path and git cookbooks are what is on disk, never pinned"
    );

    let mut b = app_berksfile();
    if let Location::Git(g) = &mut b.dependencies[4].location {
        g.branch = Some("main".into());
    }
    let plan = app_lock().plan(&b, &Update::None).unwrap();
    assert_eq!(
        plan.untrusted_reason.as_deref(),
        Some("the location of ossec changed")
    );
}

#[test]
fn broken_transitive_constraint_is_not_trusted() {
    let (path, text) = fixture("app-repo.lock");
    let edited = text.replace("    mingw (>= 1.1)", "    mingw (>= 3.0)");
    let lock = Lockfile::parse(&edited, &path).unwrap();
    let plan = lock.plan(&app_berksfile(), &Update::None).unwrap();
    assert_eq!(
        plan.untrusted_reason.as_deref(),
        Some("build-essential needs mingw (>= 3.0) but 2.1.0 is locked")
    );
}

#[test]
fn new_dependency_resolves_keeping_old_pins_and_writes_the_lock() {
    let (path, text) = fixture("supermarket-only.lock");
    let lock = Lockfile::parse(&text, &path).unwrap();
    let mut b = Berksfile {
        sources: vec![],
        dependencies: vec![
            Dependency::new("chef-client", c("= 12.3.4")),
            Dependency::new("java", c(">= 1.0")),
            Dependency::new("jenkins", c("~> 8.2")),
            Dependency::new("ntp", Constraint::any()),
        ],
        metadata: false,
    };
    b.dependencies
        .push(Dependency::new("nginx", Constraint::any()));
    let plan = lock.plan(&b, &Update::None).unwrap();
    assert!(!plan.is_trusted());

    let v = |s: &str| Version::parse(s).unwrap();
    let dep = |n: &str, c: &str| (n.to_owned(), c.to_owned());
    let mut cat = Catalog::new();
    for (n, vs) in [
        ("cron", &["6.4.0", "7.0.0"][..]),
        ("java", &["8.6.0", "9.0.0"]),
        ("jenkins", &["8.2.3", "8.9.0"]),
        ("logrotate", &["2.2.3", "3.0.0"]),
        ("ntp", &["4.0.1", "5.0.0"]),
    ] {
        for ver in vs {
            cat.add(n, v(ver), vec![]);
        }
    }
    cat.add(
        "chef-client",
        v("12.3.4"),
        vec![dep("cron", ">= 4.2.0"), dep("logrotate", ">= 1.9.0")],
    );
    cat.add("nginx", v("2.7.6"), vec![dep("ohai", "~> 4.0")]);
    cat.add("ohai", v("4.2.0"), vec![]);
    let demands: Vec<_> = b
        .dependencies
        .iter()
        .map(|d| (d.name.clone(), d.constraint.clone()))
        .collect();
    let res = resolve(&cat, &demands, &plan.pins).unwrap();
    assert_eq!(res["java"], v("8.6.0"), "locked, although 9.0.0 exists");
    assert_eq!(res["cron"], v("6.4.0"));
    assert_eq!(res["nginx"], v("2.7.6"));
    let infos: Vec<CookbookInfo> = res
        .iter()
        .map(|(n, ver)| CookbookInfo {
            name: n.clone(),
            version: *ver,
            dependencies: cat.dependencies(n, ver).unwrap().to_vec(),
        })
        .collect();
    let new_lock = Lockfile::from_install(&b, &infos, &BTreeMap::new());
    let expected = text
        .replace("  ntp\n\nGRAPH", "  nginx\n  ntp\n\nGRAPH")
        .replace(
            "  logrotate (2.2.3)\n",
            "  logrotate (2.2.3)\n  nginx (2.7.6)\n    ohai (~> 4.0)\n",
        )
        .replace("  ntp (4.0.1)\n", "  ntp (4.0.1)\n  ohai (4.2.0)\n");
    assert_eq!(new_lock.to_lock_string(), expected);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("Berksfile.lock");
    assert!(new_lock.save(&out).unwrap());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
    assert!(
        !Lockfile::default()
            .save(&dir.path().join("empty.lock"))
            .unwrap()
    );
    assert!(!dir.path().join("empty.lock").exists());
}

#[test]
fn edited_metadata_of_a_path_cookbook_is_not_trusted() {
    let v = |s: &str| Version::parse(s).unwrap();
    let same = CookbookInfo {
        name: "myapp".into(),
        version: v("0.1.0"),
        dependencies: vec![("apt".into(), "~> 7.0".into())],
    };
    let plan = app_lock()
        .plan_with_local(&app_berksfile(), &Update::None, std::slice::from_ref(&same))
        .unwrap();
    assert!(plan.is_trusted(), "{:?}", plan.untrusted_reason);
    let mut edited = same.clone();
    edited
        .dependencies
        .push(("nginx".into(), ">= 0.0.0".into()));
    let plan = app_lock()
        .plan_with_local(&app_berksfile(), &Update::None, &[edited])
        .unwrap();
    assert_eq!(
        plan.untrusted_reason.as_deref(),
        Some("myapp now depends on nginx, which the lock file does not record")
    );
    let mut bumped = same;
    bumped.version = v("0.2.0");
    let plan = app_lock()
        .plan_with_local(&app_berksfile(), &Update::None, &[bumped])
        .unwrap();
    assert_eq!(
        plan.untrusted_reason.as_deref(),
        Some("myapp is 0.2.0 on disk but 0.1.0 in the lock file")
    );
}

/// What berkshelf2.lock converts to, in the current format: every entry in DEPENDENCIES
/// (constraints only where there is no location, as Berkshelf writes them; the git `ref`
/// is the locked revision), GRAPH from the locked versions without dependencies, and the
/// git cookbook without a locked commit (sudo) left out.
const BERKSHELF2_CONVERTED: &str = "DEPENDENCIES
  apt (~> 2.3)
  build-essential
  cloudhsm
    git: https://github.com/example/cookbooks.git
    revision: 22284b06e5543b7ea734c81d6f76b7e581afab06
    ref: 22284b0
    rel: cookbooks/cloudhsm
  myapp
    path: .
  ntp (~> 1.5.0)
  ossec
    git: git://github.com/sous-chefs/ossec.git
    revision: 7e63571e40456e63c08dc5e4538bd5006993563c
    ref: 7e63571
  yum (= 3.0.0)

GRAPH
  apt (2.3.8)
  build-essential (1.4.2)
  cloudhsm (0.0.7)
  myapp (0.1.0)
  ossec (1.0.5)
  yum (3.0.0)
";

#[test]
fn berkshelf2_json_lock_converts_to_the_current_format() {
    let (path, text) = fixture("berkshelf2.lock");
    let (lock, warnings) = Lockfile::parse_with_warnings(&text, &path).unwrap();
    assert!(lock.from_berkshelf2);
    assert_eq!(lock.to_lock_string(), BERKSHELF2_CONVERTED);
    let get = |n: &str| lock.dependencies.iter().find(|d| d.name == n).unwrap();
    assert_eq!(
        get("myapp").location,
        LockLocation::Path {
            path: ".".into(),
            metadata: false
        }
    );
    assert_eq!(
        get("ossec").location,
        LockLocation::Git {
            url: "git://github.com/sous-chefs/ossec.git".into(),
            revision: "7e63571e40456e63c08dc5e4538bd5006993563c".into(),
            reference: Some("7e63571".into()),
            branch: None,
            tag: None,
            rel: None,
        }
    );
    assert_eq!(
        get("build-essential").constraint,
        None,
        ">= 0.0.0 is not written"
    );
    assert!(lock.dependencies.iter().all(|d| d.name != "sudo"));
    assert!(!lock.graph.contains_key("sudo") && !lock.graph.contains_key("ntp"));
    assert!(lock.graph.values().all(|g| g.dependencies.is_empty()));
    assert_eq!(lock.locked_version("apt"), Some(Version::new(2, 3, 8)));

    // One warning, naming the file and what happens to it and to sudo.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(w.starts_with(&format!("{}: ", path.display())), "{w}");
    assert!(
        w.contains("converted from the Berkshelf 2 lock format"),
        "{w}"
    );
    assert!(w.contains("rewritten in the current format"), "{w}");
    assert!(w.contains("sudo had no locked git revision"), "{w}");

    // `parse` converts too; written out and read back, it is an ordinary lock.
    assert_eq!(Lockfile::parse(&text, &path).unwrap(), lock);
    let reread = Lockfile::parse_with_warnings(BERKSHELF2_CONVERTED, &path).unwrap();
    assert!(reread.1.is_empty());
    assert_eq!(reread.0.dependencies, lock.dependencies);
    assert_eq!(reread.0.graph, lock.graph);
    assert!(!reread.0.from_berkshelf2);
    // The current format gives no warnings.
    let (_, text) = fixture("app-repo.lock");
    assert!(
        Lockfile::parse_with_warnings(&text, &path)
            .unwrap()
            .1
            .is_empty()
    );
}

#[test]
fn berkshelf3_beta_dependencies_key_and_empty_locks_convert() {
    let path = PathBuf::from("/repo/Berksfile.lock");
    let text = "{\"dependencies\": {\"apt\": {\"locked_version\": \"2.3.8\"}}}";
    let (lock, warnings) = Lockfile::parse_with_warnings(text, &path).unwrap();
    assert_eq!(
        lock.to_lock_string(),
        "DEPENDENCIES\n  apt\n\nGRAPH\n  apt (2.3.8)\n"
    );
    assert_eq!(warnings.len(), 1);
    assert!(!warnings[0].contains("resolved again"), "{warnings:?}");
    let (lock, _) = Lockfile::parse_with_warnings("  {\"sha\": \"abc\"}\n", &path).unwrap();
    assert!(lock.dependencies.is_empty() && lock.graph.is_empty());
}

#[test]
fn converted_berkshelf2_lock_is_resolved_again_keeping_its_versions() {
    let (path, text) = fixture("berkshelf2.lock");
    let lock = Lockfile::parse(&text, &path).unwrap();
    let b = Berksfile {
        sources: vec![Source::Supermarket {
            url: "https://supermarket.chef.io".into(),
        }],
        dependencies: vec![
            Dependency::new("apt", c("~> 2.3")),
            Dependency::new("myapp", Constraint::any()).with_location(Location::Path {
                path: ".".into(),
                metadata: false,
            }),
        ],
        metadata: false,
    };
    let plan = lock.plan(&b, &Update::None).unwrap();
    let reason = plan.untrusted_reason.as_deref().unwrap_or_default();
    assert!(reason.contains("Berkshelf 2"), "{reason}");
    assert_eq!(plan.lock.locked_version("apt"), Some(Version::new(2, 3, 8)));
    // Berkshelf 2 listed transitive cookbooks among its entries; the Berksfile decides.
    assert!(
        plan.removed.contains(&"yum".to_owned()),
        "{:?}",
        plan.removed
    );
}

#[test]
fn berkshelf2_json_errors_name_the_line_and_what_was_expected() {
    let path = PathBuf::from("/repo/Berksfile.lock");
    let parse_err = |text: &str| match Lockfile::parse_with_warnings(text, &path) {
        Err(e @ LockfileError::Parse { .. }) => e,
        other => panic!("expected a parse error, got {other:?}"),
    };
    let line_of = |e: &LockfileError| match e {
        LockfileError::Parse { line, .. } => *line,
        _ => 0,
    };
    // Bad syntax: a missing comma on line 4.
    let (_, text) = fixture("berkshelf2.lock");
    let broken = text.replacen("\"path\": \".\",", "\"path\": \".\"", 1);
    let e = parse_err(&broken);
    let msg = e.to_string();
    assert_eq!(line_of(&e), 6, "{msg}");
    assert!(msg.starts_with("/repo/Berksfile.lock:6: "), "{msg}");
    assert!(msg.contains("expected {\"sources\""), "{msg}");
    // A value of the wrong type, on line 3.
    let e = parse_err("{\n  \"sources\": {\n    \"apt\": {\"locked_version\": 2}\n  }\n}\n");
    let msg = e.to_string();
    assert_eq!(line_of(&e), 3, "{msg}");
    assert!(msg.contains("expected a string"), "{msg}");
    // Values that read but make no sense, at the entry's line.
    let e = parse_err("{\"sources\": {\n  \"apt\": {\"locked_version\": \"2.x\"}\n}}");
    assert_eq!(line_of(&e), 2, "{e}");
    assert!(
        e.to_string()
            .contains("expected \"locked_version\" to be a version"),
        "{e}"
    );
    let e = parse_err("{\"sources\": {\n\n  \"x\": {\"path\": \".\", \"git\": \"https://g\"}\n}}");
    assert_eq!(line_of(&e), 3, "{e}");
    assert!(
        e.to_string()
            .contains("expected \"path\" or \"git\", not both"),
        "{e}"
    );
    let e = parse_err("{\"sources\": [\"apt\"]}");
    assert!(e.to_string().contains("expected a map"), "{e}");
    let e = parse_err("{\"sources\": {}, \"dependencies\": {}}");
    assert!(e.to_string().contains("not both"), "{e}");
}
