//! Resolution against a universe document: newest versions, and conflicts explained in words.

use std::collections::BTreeMap;

use chef_api::universe::Universe;
use chef_api::version::{Constraint, Version};
use chef_sync::berkshelf::resolver::{Catalog, ResolveError, resolve};
use chef_sync::berkshelf::universes::Universes;

fn catalog() -> Catalog {
    let body = include_bytes!("../data/berkshelf/universe-conflict.json");
    let source = reqwest::Url::parse("https://supermarket.example").unwrap();
    let u = Universe::parse(&source, body).unwrap();
    Catalog::from_universes(&Universes { sources: vec![u] })
}

fn demands(list: &[(&str, &str)]) -> Vec<(String, Constraint)> {
    list.iter()
        .map(|(n, c)| ((*n).to_owned(), Constraint::parse(c).unwrap()))
        .collect()
}

#[test]
fn newest_versions_win() {
    let r = resolve(&catalog(), &demands(&[("app", "~> 1.0")]), &BTreeMap::new()).unwrap();
    let got: Vec<(String, String)> = r.iter().map(|(n, v)| (n.clone(), v.to_string())).collect();
    assert_eq!(
        got,
        [("app", "1.1.0"), ("apt", "7.1.1"), ("ntp", "4.0.1")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let mut pref = BTreeMap::new();
    pref.insert("apt".to_owned(), Version::new(7, 0, 0));
    let r = resolve(&catalog(), &demands(&[("app", "~> 1.0")]), &pref).unwrap();
    assert_eq!(r["apt"], Version::new(7, 0, 0));
}

#[test]
fn conflict_explanation_names_cookbooks_and_constraints() {
    let err = resolve(
        &catalog(),
        &demands(&[("app", "~> 1.0"), ("web", "~> 2.0")]),
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(err, ResolveError::NoSolution { .. }));
    assert_eq!(
        err.to_string(),
        "Because web 2.0.0 depends on apt (< 7.0) and app 1.0.0 or 1.1.0 depends on apt (~> 7.0), \
         web 2.0.0 and app 1.0.0 or 1.1.0 cannot be used together.\n\
         And because the Berksfile requires app (~> 1.0) and the Berksfile requires web (~> 2.0), \
         the Berksfile cannot be satisfied.\n\
         Unable to find a solution for demands: app (~> 1.0), web (~> 2.0)"
    );
}

#[test]
fn missing_cookbook_and_unmatched_constraint_are_explained() {
    let err = resolve(
        &catalog(),
        &demands(&[("nginx", ">= 0.0.0")]),
        &BTreeMap::new(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "The Berksfile requires nginx (>= 0.0.0), but cookbook nginx is not in any source.\n\
         Unable to find a solution for demands: nginx (>= 0.0.0)"
    );
    let err = resolve(&catalog(), &demands(&[("apt", "~> 8.0")]), &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "The Berksfile requires apt (~> 8.0), but no version of apt matches >= 8.0.0, < 9.0.0 \
             (newest available: 7.1.1, 7.0.0, 6.0.0)."
        ),
        "{err}"
    );
}
