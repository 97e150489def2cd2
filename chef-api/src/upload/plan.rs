//! Deciding what to do with each cookbook: one listing, then the manifests of versions that
//! already exist.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::{Action, PlannedCookbook, ServerPlan, ServerState, UploadOptions};
use crate::client::ChefClient;
use crate::cookbook::LoadedCookbook;
use crate::cookbook::manifest::is_frozen;
use crate::error::{Error, Result};
use crate::version::Version;

/// Whether the listing has this version (numerically: `1.2` is `1.2.0`).
pub(super) fn listed(listing: &crate::endpoints::CookbookListing, version: &str) -> bool {
    Version::parse(version).is_ok_and(|v| listing.versions.iter().any(|r| r.version == v))
}

/// Decides one existing version from its fetched manifest. With `freeze`, an identical
/// version the server holds unfrozen is updated (its manifest PUT again, frozen; no file is
/// sent since the server has them all), as knife `--freeze` and `berks upload` do.
fn decide(
    cookbook: &LoadedCookbook,
    fetched: &serde_json::Value,
    freeze: bool,
    force: bool,
    url: &str,
) -> Result<Action> {
    let same = cookbook
        .matches_manifest(fetched)
        .map_err(|e| Error::InvalidResponse {
            method: "GET".into(),
            url: url.to_owned(),
            path: ".".into(),
            message: e.to_string(),
        })?;
    Ok(if same && freeze && !is_frozen(fetched) {
        Action::Update
    } else if same {
        Action::Unchanged
    } else if is_frozen(fetched) && !force {
        Action::FrozenConflict
    } else {
        Action::Update
    })
}

pub(super) async fn server_state(client: &ChefClient) -> Result<ServerState> {
    // At the same time: a server that does not name its API version in the listing's answer
    // (goiardi, older Chef servers) needs one more request, and it costs no extra round trip.
    let (listing, api_version) =
        futures::try_join!(client.list_cookbooks(), client.negotiate_api_version())?;
    Ok(ServerState::new(listing, api_version))
}

pub(super) async fn prefetch(
    client: &ChefClient,
    options: &UploadOptions,
    mut state: ServerState,
    cookbooks: impl futures::Stream<Item = Arc<LoadedCookbook>> + Send,
) -> ServerState {
    let needed = cookbooks.filter(|c| std::future::ready(state.needs_manifest(c)));
    let fetched: Vec<_> = needed
        .map(|c| async move {
            let key = (c.name().to_owned(), c.version().to_owned());
            (key, client.cookbook_version(c.name(), c.version()).await)
        })
        .buffer_unordered(options.file_concurrency.max(1))
        .collect()
        .await;
    for (key, manifest) in fetched {
        // A failure is asked again by planning, which reports it.
        if let Ok(manifest) = manifest {
            state.manifests.insert(key, manifest);
        }
    }
    state
}

pub(super) async fn plan(
    client: &ChefClient,
    options: &UploadOptions,
    state: ServerState,
    cookbooks: &[Arc<LoadedCookbook>],
) -> Result<ServerPlan> {
    let exists: Vec<bool> = cookbooks.iter().map(|c| state.needs_manifest(c)).collect();
    let ServerState {
        api_version,
        mut manifests,
        ..
    } = state;
    let actions: Vec<Action> = futures::stream::iter(
        cookbooks
            .iter()
            .zip(exists)
            .map(|(c, exists)| {
                let ahead = manifests.remove(&(c.name().to_owned(), c.version().to_owned()));
                async move {
                    if !exists {
                        return Ok(Action::Create);
                    }
                    let fetched = match ahead {
                        Some(fetched) => fetched,
                        None => client.cookbook_version(c.name(), c.version()).await?,
                    };
                    let url = client
                        .url_for(&format!("cookbooks/{}/{}", c.name(), c.version()))
                        .map(|u| crate::error::redact_url(&u))
                        .unwrap_or_default();
                    decide(c, &fetched, options.freeze, options.force, &url)
                }
            })
            .collect::<Vec<_>>(),
    )
    .buffered(options.file_concurrency.max(1))
    .try_collect()
    .await?;
    Ok(ServerPlan {
        api_version,
        cookbooks: cookbooks
            .iter()
            .zip(actions)
            .map(|(c, action)| PlannedCookbook {
                cookbook: Arc::clone(c),
                action,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cookbook::files::CookbookFiles;
    use crate::cookbook::metadata::{Metadata, MetadataSource};

    fn cookbook() -> LoadedCookbook {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("recipes")).unwrap();
        std::fs::write(dir.path().join("recipes/default.rb"), "log 'hi'\n").unwrap();
        let files = CookbookFiles::walk(dir.path()).unwrap();
        let meta = json!({"name": "demo", "version": "1.2.0"});
        let metadata = Metadata::from_map(meta.as_object().unwrap().clone());
        LoadedCookbook::from_parts(files, metadata, MetadataSource::Json).unwrap()
    }

    #[test]
    fn decides_from_the_fetched_manifest() {
        let c = cookbook();
        let mut same = c.manifest(0, false);
        let mut other = same.clone();
        other["recipes"][0]["checksum"] = json!("00000000000000000000000000000000");
        assert_eq!(
            decide(&c, &same, false, false, "u").unwrap(),
            Action::Unchanged
        );
        assert_eq!(
            decide(&c, &other, false, false, "u").unwrap(),
            Action::Update
        );
        assert_eq!(
            decide(&c, &same, true, false, "u").unwrap(),
            Action::Update,
            "freezing an identical unfrozen version re-sends its manifest"
        );
        other["frozen?"] = json!(true);
        same["frozen?"] = json!(true);
        assert_eq!(
            decide(&c, &same, false, false, "u").unwrap(),
            Action::Unchanged
        );
        assert_eq!(
            decide(&c, &same, true, false, "u").unwrap(),
            Action::Unchanged,
            "already frozen: nothing to do"
        );
        assert_eq!(
            decide(&c, &other, false, false, "u").unwrap(),
            Action::FrozenConflict
        );
        assert_eq!(
            decide(&c, &other, false, true, "u").unwrap(),
            Action::Update
        );
        let err = decide(
            &c,
            &json!([1]),
            false,
            false,
            "http://x/cookbooks/demo/1.2.0",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("http://x/cookbooks/demo/1.2.0"),
            "{err}"
        );
    }

    #[test]
    fn listing_versions_compare_numerically() {
        let listing: crate::endpoints::CookbookListing = serde_json::from_value(json!({
            "url": "u", "versions": [{"url": "u/1.2.0", "version": "1.2.0"}]
        }))
        .unwrap();
        assert!(listed(&listing, "1.2.0"));
        assert!(listed(&listing, "1.2"));
        assert!(!listed(&listing, "1.2.1"));
        assert!(!listed(&listing, "not-a-version"));
    }
}
