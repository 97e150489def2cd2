//! Dependency order of the manifests of one batch.

use std::collections::BTreeSet;

use crate::cookbook::LoadedCookbook;

/// Groups the cookbooks of one batch into waves: every cookbook comes in a later wave than
/// each cookbook of the batch it depends on (by name; dependencies outside the batch are
/// ignored). Cookbooks of one wave do not depend on each other, so their manifests may be PUT
/// at the same time. Members of a dependency cycle (which Chef tolerates) are put in one
/// final wave. Indices refer to `cookbooks`; each wave is in input order.
pub fn dependency_order(cookbooks: &[&LoadedCookbook]) -> Vec<Vec<usize>> {
    let deps: Vec<BTreeSet<usize>> = cookbooks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let names: BTreeSet<&str> = c.metadata().dependencies().map(|(n, _)| n).collect();
            cookbooks
                .iter()
                .enumerate()
                .filter(|&(j, d)| j != i && names.contains(d.name()))
                .map(|(j, _)| j)
                .collect()
        })
        .collect();
    let mut placed = vec![false; cookbooks.len()];
    let mut waves = Vec::new();
    loop {
        let wave: Vec<usize> = (0..cookbooks.len())
            .filter(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]))
            .collect();
        if wave.is_empty() {
            break;
        }
        for &i in &wave {
            placed[i] = true;
        }
        waves.push(wave);
    }
    let rest: Vec<usize> = (0..cookbooks.len()).filter(|&i| !placed[i]).collect();
    if !rest.is_empty() {
        waves.push(rest);
    }
    waves
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::cookbook::files::CookbookFiles;
    use crate::cookbook::metadata::{Metadata, MetadataSource};

    fn cookbook(name: &str, deps: &[&str]) -> LoadedCookbook {
        let deps: serde_json::Map<String, serde_json::Value> = deps
            .iter()
            .map(|d| ((*d).to_owned(), ">= 0.0.0".into()))
            .collect();
        let json = serde_json::json!({"name": name, "version": "1.0.0", "dependencies": deps});
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README.md"), Bytes::from_static(b"x")).unwrap();
        let files = CookbookFiles::walk(dir.path()).unwrap();
        let metadata = Metadata::from_map(json.as_object().unwrap().clone());
        LoadedCookbook::from_parts(files, metadata, MetadataSource::Json).unwrap()
    }

    #[test]
    fn dependencies_come_in_earlier_waves() {
        let app = cookbook("app", &["web", "base", "outside"]);
        let web = cookbook("web", &["base"]);
        let base = cookbook("base", &[]);
        let lone = cookbook("lone", &[]);
        let order = dependency_order(&[&app, &web, &base, &lone]);
        assert_eq!(order, vec![vec![2, 3], vec![1], vec![0]]);
    }

    #[test]
    fn cycles_end_up_in_a_last_wave() {
        let a = cookbook("a", &["b"]);
        let b = cookbook("b", &["a"]);
        let c = cookbook("c", &[]);
        let d = cookbook("d", &["a"]);
        assert_eq!(
            dependency_order(&[&a, &b, &c, &d]),
            vec![vec![2], vec![0, 1, 3]]
        );
        assert!(dependency_order(&[]).is_empty());
    }
}
