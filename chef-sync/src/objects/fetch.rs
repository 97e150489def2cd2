//! Reading a server's objects: the authoritative listings and search rows at once, then a GET
//! for every object the search index does not show exactly as the repository has it (see
//! [`fetch_server_objects`] for why, and what a lagging index does).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use chef_api::client::ChefClient;
use futures::StreamExt as _;
use serde_json::Value;

use super::{ObjectId, ObjectKind, ObjectKinds, RepoObjects, ServerObjects, normalize};

/// Rows per search page. Chef's own default; one page holds a few hundred objects of a kind.
const SEARCH_ROWS: u32 = 1000;

/// What the first two rounds brought back: every object the listings name (the truth about
/// what exists) and what the search index shows of them.
#[derive(Debug, Default)]
struct Snapshot {
    /// Every listed object (bags included), in listing order.
    listed: Vec<ObjectId>,
    /// Search rows, normalised, by id; only for listed objects.
    rows: BTreeMap<ObjectId, Value>,
}

/// How a read went: how many objects were taken from search rows and how many needed their
/// own GET (for logs and the benchmark).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchCounts {
    /// Objects the listings name (data bags included).
    pub listed: usize,
    /// Objects whose search row was identical to the repository's copy, so no GET was sent.
    pub from_search: usize,
    /// Objects read by their own GET (no row, a row that differs, or not in the repository).
    pub fetched: usize,
}

/// Every role, environment, data bag and data bag item on the server (of the kinds `kinds`
/// selects), normalised ([`normalize`]), by id. Data bags map to their normalised bag object
/// (`{"name", "json_class", "chef_type"}`); `_default` is included like any environment.
///
/// `repo` is the repository's copy to compare with (awaited only after the listings are
/// asked, so it may still be loading); `None` reads every object by GET.
///
/// # Round trips: listings and search rows, then GETs only where needed
///
/// 1. At once: `GET /roles`, `/environments`, `/data` (names only: the authoritative list of
///    what exists) and `GET /search/role?q=*:*&rows=1000`, `/search/environment?...` (whole
///    objects, hundreds per answer, from the search index).
/// 2. At once, for every bag: `GET /data/BAG` (its items) and `GET /search/BAG?q=*:*`.
/// 3. One `GET` per listed object whose normalised row is not identical to the repository's
///    normalised object (no row, a different row, or an object the repository does not
///    have), up to `concurrency` in flight.
///
/// So a server that already matches the repository costs two round trips and about
/// 3 + 2 × bags signed requests, whatever the number of objects; each difference costs one
/// GET more (a third round). Reading every object by GET instead costs ⌈objects /
/// `concurrency`⌉ rounds and one signed request (~0.7 ms of CPU) per object: 2,640 objects
/// on four servers are 10,560 signatures, seconds of CPU on a small machine. Measured in
/// `benches/objects.rs` (table in `benches/README.md`).
///
/// # When the search index lags behind a write
///
/// erchef updates its Solr/Elasticsearch index asynchronously, seconds after a write (goiardi
/// in-process, at once). A row is therefore only trusted to say "this object is exactly what
/// the repository has"; the listings, never the index, say what exists:
///
/// * an object written but not indexed yet has no row (or an old one): it is read by GET;
/// * an object deleted but still indexed is not listed: its row is ignored;
/// * an object that was identical to the repository and was changed by someone else in the
///   last seconds can still show the old, identical row: the sync then leaves the newer
///   write alone, exactly as if that write had landed just after the sync read the object
///   (any read-then-write client has this race with a concurrent writer); the next sync or
///   `status` after the index caught up sees it.
///
/// A search that fails (search disabled, index unavailable, an answer that is not rows) is
/// not an error: every object of that index is then read by GET.
///
/// # Errors
/// The first listing or GET that fails (transport, 401/403, 5xx after retries, an answer
/// that is not JSON).
pub async fn fetch_server_objects<R>(
    client: &ChefClient,
    kinds: ObjectKinds,
    concurrency: usize,
    repo: R,
) -> chef_api::Result<ServerObjects>
where
    R: Future<Output = Option<Arc<RepoObjects>>>,
{
    fetch_counted(client, kinds, concurrency, repo)
        .await
        .map(|(objects, _)| objects)
}

/// [`fetch_server_objects`], also saying how many objects came from search rows.
///
/// # Errors
/// As [`fetch_server_objects`].
pub async fn fetch_counted<R>(
    client: &ChefClient,
    kinds: ObjectKinds,
    concurrency: usize,
    repo: R,
) -> chef_api::Result<(ServerObjects, FetchCounts)>
where
    R: Future<Output = Option<Arc<RepoObjects>>>,
{
    let limit = concurrency.max(1);
    let (snapshot, repo) = futures::join!(snapshot(client, kinds, limit), repo);
    let snapshot = snapshot?;
    let mut out: ServerObjects = BTreeMap::new();
    let mut to_get: Vec<ObjectId> = Vec::new();
    let mut counts = FetchCounts {
        listed: snapshot.listed.len(),
        ..FetchCounts::default()
    };
    let Snapshot { listed, mut rows } = snapshot;
    for id in listed {
        if id.kind == ObjectKind::DataBag {
            let bag = normalize(ObjectKind::DataBag, &serde_json::json!({ "name": id.name }));
            out.insert(id, bag);
            continue;
        }
        let trusted = match (rows.remove(&id), repo.as_deref().and_then(|r| r.get(&id))) {
            (Some(row), Some(ours)) if row == ours.json => Some(row),
            _ => None,
        };
        match trusted {
            Some(row) => {
                counts.from_search += 1;
                out.insert(id, row);
            }
            None => to_get.push(id),
        }
    }
    counts.fetched = to_get.len();
    let mut gets = futures::stream::iter(to_get)
        .map(|id| async move {
            match client.get::<Value>(&id.server_path()).await {
                Ok(json) => Ok((id, Some(json))),
                // Deleted between its listing and its GET: not there.
                Err(e) if e.is_not_found() => Ok((id, None)),
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(limit);
    while let Some(done) = gets.next().await {
        if let (id, Some(json)) = done? {
            let json = normalize(id.kind, &json);
            out.insert(id, json);
        }
    }
    tracing::debug!(
        server = %client.server_url(),
        listed = counts.listed,
        from_search = counts.from_search,
        fetched = counts.fetched,
        "read the server's objects"
    );
    Ok((out, counts))
}

/// Rounds 1 and 2: the listings and the search rows of every selected kind and bag.
async fn snapshot(
    client: &ChefClient,
    kinds: ObjectKinds,
    limit: usize,
) -> chef_api::Result<Snapshot> {
    let list = |path: &'static str, on: bool| async move {
        if on {
            client.get::<BTreeMap<String, Value>>(path).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let rows = |index: &'static str, kind: ObjectKind, on: bool| async move {
        if on {
            search_rows(client, index, kind, None).await
        } else {
            Vec::new()
        }
    };
    let (listings, role_rows, environment_rows) = futures::join!(
        async {
            futures::try_join!(
                list("roles", kinds.roles),
                list("environments", kinds.environments),
                list("data", kinds.data_bags),
            )
        },
        rows("role", ObjectKind::Role, kinds.roles),
        rows("environment", ObjectKind::Environment, kinds.environments),
    );
    let (roles, environments, bags) = listings?;
    let mut snapshot = Snapshot::default();
    snapshot.rows.extend(role_rows);
    snapshot.rows.extend(environment_rows);
    for name in roles.into_iter().flat_map(BTreeMap::into_keys) {
        snapshot.listed.push(ObjectId::role(name));
    }
    for name in environments.into_iter().flat_map(BTreeMap::into_keys) {
        snapshot.listed.push(ObjectId::environment(name));
    }
    let bags: Vec<String> = bags.into_iter().flat_map(BTreeMap::into_keys).collect();
    let mut per_bag = futures::stream::iter(bags)
        .map(|bag| async move {
            let listing = format!("data/{bag}");
            let (items, rows) = futures::join!(
                client.get::<BTreeMap<String, Value>>(&listing),
                search_rows(client, &bag, ObjectKind::DataBagItem, Some(&bag)),
            );
            items.map(|items| (bag, items, rows))
        })
        // Two requests per bag.
        .buffer_unordered(limit.div_ceil(2).max(1));
    while let Some(done) = per_bag.next().await {
        let (bag, items, rows) = done?;
        snapshot.listed.push(ObjectId::data_bag(bag.clone()));
        for item in items.into_keys() {
            snapshot
                .listed
                .push(ObjectId::data_bag_item(bag.clone(), item));
        }
        snapshot.rows.extend(rows);
    }
    Ok(snapshot)
}

/// Every row of `index` (`q=*:*`), normalised, by the id it names; nothing when the search
/// fails (the objects are then read by GET).
async fn search_rows(
    client: &ChefClient,
    index: &str,
    kind: ObjectKind,
    bag: Option<&str>,
) -> Vec<(ObjectId, Value)> {
    let options = chef_api::endpoints::SearchOptions {
        rows: SEARCH_ROWS,
        sort: None,
    };
    let rows = match client.search_with(index, "*:*", &options, None).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::debug!(index, error = %e, "search failed; reading every object by GET");
            return Vec::new();
        }
    };
    rows.iter()
        .filter_map(|row| row_id(kind, bag, row).map(|id| (id, normalize(kind, row))))
        .collect()
}

/// The object a search row is: a role's or environment's `name`; a data bag item's `id`
/// (inside `raw_data` when the server wraps items as erchef does).
fn row_id(kind: ObjectKind, bag: Option<&str>, row: &Value) -> Option<ObjectId> {
    match kind {
        ObjectKind::Role => Some(ObjectId::role(row.get("name")?.as_str()?)),
        ObjectKind::Environment => Some(ObjectId::environment(row.get("name")?.as_str()?)),
        ObjectKind::DataBagItem => {
            let item = normalize(ObjectKind::DataBagItem, row);
            Some(ObjectId::data_bag_item(bag?, item.get("id")?.as_str()?))
        }
        ObjectKind::DataBag => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_name_their_objects_wrapped_or_not() {
        assert_eq!(
            row_id(ObjectKind::Role, None, &json!({"name": "web"})),
            Some(ObjectId::role("web"))
        );
        let wrapped = json!({"name": "data_bag_item_users_alice", "json_class": "Chef::DataBagItem",
            "chef_type": "data_bag_item", "data_bag": "users", "raw_data": {"id": "alice"}});
        assert_eq!(
            row_id(ObjectKind::DataBagItem, Some("users"), &wrapped),
            Some(ObjectId::data_bag_item("users", "alice"))
        );
        assert_eq!(
            row_id(
                ObjectKind::DataBagItem,
                Some("users"),
                &json!({"id": "bob"})
            ),
            Some(ObjectId::data_bag_item("users", "bob"))
        );
        assert_eq!(row_id(ObjectKind::Environment, None, &json!({})), None);
    }
}
