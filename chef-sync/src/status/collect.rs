//! Reading one server, read-only: its cookbook listing, every version's manifest (no file is
//! downloaded), its roles, environments and data bags, and its policy groups.
//!
//! Round trips: the cookbook listing, the API version, the object listings and the policy
//! groups are asked together; then every manifest at once (at most `per_server` in flight on this server, and
//! never more than the global limit across all servers) while the objects are read by
//! [`fetch_server_objects`] (listings and search rows; a GET only for an object whose row is
//! not identical to the repository's). A server holding N cookbook versions costs
//! 1 + ⌈N / per_server⌉ round trips for them.

use std::collections::BTreeMap;
use std::sync::Arc;

use chef_api::client::ChefClient;
use chef_api::error::ErrorKind;
use chef_api::version::Version;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Semaphore;

use super::digest::ServerCookbook;
use super::policies::{self, PolicyGroups};
use crate::objects::{ObjectId, ObjectKinds, RepoObjects, fetch_server_objects};
use crate::report::ReportError;

/// A cookbook version: name and version.
pub(crate) type CookbookKey = (String, Version);

/// What one server holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inventory {
    /// The negotiated API version.
    pub api_version: u32,
    /// Every cookbook version, by (name, version).
    pub cookbooks: BTreeMap<CookbookKey, ServerCookbook>,
    /// The digest of every role, environment, data bag and item's normalised JSON.
    pub objects: BTreeMap<ObjectId, String>,
    /// Policy group → policy → revision id (empty on servers without policies).
    pub policy_groups: PolicyGroups,
}

/// How much one server may be asked at once.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Requests in flight on this server.
    pub per_server: usize,
    /// Requests in flight across every server.
    pub global: Arc<Semaphore>,
}

/// Reads everything status needs from one server: the cookbooks (when `kinds.cookbooks`) and
/// the objects of the other selected kinds, both at once.
///
/// # Errors
/// The first request that failed (typed as the sync report's errors, on `server`), or a
/// manifest that is not one (kind `invalid_response`, with its URL).
pub(crate) async fn collect(
    client: &ChefClient,
    server: &str,
    kinds: ObjectKinds,
    limits: &Limits,
    repo: impl std::future::Future<Output = Option<Arc<RepoObjects>>>,
) -> Result<Inventory, ReportError> {
    let objects = async {
        if !kinds.any_objects() {
            return Ok(BTreeMap::new());
        }
        let fetched = fetch_server_objects(client, kinds, limits.per_server, repo)
            .await
            .map_err(|e| ReportError::from_api(&e, server))?;
        Ok(fetched
            .into_iter()
            .map(|(id, json)| {
                let digest = crate::objects::digest(&json);
                (id, digest)
            })
            .collect())
    };
    let cookbooks = async {
        if kinds.cookbooks {
            cookbooks(client, server, limits).await
        } else {
            let api_version = client
                .negotiate_api_version()
                .await
                .map_err(|e| ReportError::from_api(&e, server))?;
            Ok((api_version, BTreeMap::new()))
        }
    };
    let ((api_version, cookbooks), objects, policy_groups) =
        futures::try_join!(cookbooks, objects, policies::fetch(client, server))?;
    Ok(Inventory {
        api_version,
        cookbooks,
        objects,
        policy_groups,
    })
}

/// The API version and every cookbook version's digest.
async fn cookbooks(
    client: &ChefClient,
    server: &str,
    limits: &Limits,
) -> Result<(u32, BTreeMap<CookbookKey, ServerCookbook>), ReportError> {
    let closed = |e: tokio::sync::AcquireError| ReportError::other(e.to_string(), server);
    let (listing, api_version) = {
        let _permit = limits.global.acquire().await.map_err(closed)?;
        futures::try_join!(client.list_cookbooks(), client.negotiate_api_version())
            .map_err(|e| ReportError::from_api(&e, server))?
    };
    let versions: Vec<CookbookKey> = listing
        .into_iter()
        .flat_map(|(name, l)| {
            l.versions
                .into_iter()
                .map(move |v| (name.clone(), v.version))
        })
        .collect();
    let cookbooks = futures::stream::iter(versions)
        .map(|(name, version)| async move {
            let _permit = limits.global.acquire().await.map_err(closed)?;
            let manifest = client
                .cookbook_version(&name, &version.to_string())
                .await
                .map_err(|e| ReportError::from_api(&e, server))?;
            let held = ServerCookbook::from_manifest(&manifest).map_err(|e| {
                let url = client
                    .url_for(&format!("cookbooks/{name}/{version}"))
                    .map(|u| chef_api::error::redact_url(&u))
                    .unwrap_or_default();
                ReportError {
                    message: format!("GET {url}: {e}"),
                    url: Some(url),
                    ..ReportError::new(ErrorKind::InvalidResponse, "", server)
                }
            })?;
            Ok::<_, ReportError>(((name, version), held))
        })
        .buffer_unordered(limits.per_server.max(1))
        .try_collect()
        .await?;
    Ok((api_version, cookbooks))
}
