//! Reading a server's objects: listings, then every object by a direct GET, many at once
//! (see [`fetch_server_objects`] for why not search).

use std::collections::{BTreeMap, VecDeque};

use chef_api::client::ChefClient;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use serde_json::Value;

use super::{ObjectId, ObjectKind, ObjectKinds, normalize};

/// One request of the fetch.
enum Task {
    /// `GET /data/BAG`: the bag's items.
    BagListing(String),
    /// `GET` one object.
    Object(ObjectId),
}

/// What a task brought back.
enum Fetched {
    Items(String, BTreeMap<String, Value>),
    Object(ObjectId, Option<Value>),
}

/// Every role, environment, data bag and data bag item on the server (of the kinds `kinds`
/// selects), normalised ([`normalize`]), by id. Data bags map to their normalised bag object
/// (`{"name", "json_class", "chef_type"}`); `_default` is included like any environment.
///
/// Listings first (at once), then one GET per object with up to `concurrency` requests in
/// flight. An object deleted between its listing and its GET (404) is left out.
///
/// # Why direct GETs, not search
///
/// The listings (`GET /roles`, `/environments`, `/data`, `/data/BAG`) return names and URLs
/// only, so each object's content costs one GET. Search with full rows (`/search/role?q=*:*`)
/// would return hundreds of objects per request, but it reads the search index, not the
/// objects: goiardi updates its index in-process, while erchef's Solr/Elasticsearch index
/// trails writes by seconds. A lagging row can show an object as unchanged when it is not,
/// and the sync would then skip a write it needs; the comparison (and `status`) must see the
/// objects themselves. So every object is read by its own GET, with up to `concurrency` in
/// flight (the sync passes its per-server concurrency, 64 by default): a few hundred objects
/// cost a handful of round trips, not hundreds. Bag listings are asked first and each bag's
/// item GETs are queued as soon as its listing answers, so the phases overlap rather than
/// wait for each other.
///
/// # Errors
/// The first request that fails (transport, 401/403, 5xx after retries, an answer that is
/// not JSON).
pub async fn fetch_server_objects(
    client: &ChefClient,
    kinds: ObjectKinds,
    concurrency: usize,
) -> chef_api::Result<super::ServerObjects> {
    let list = |path: &'static str, on: bool| async move {
        if on {
            client.get::<BTreeMap<String, Value>>(path).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let (roles, environments, bags) = futures::try_join!(
        list("roles", kinds.roles),
        list("environments", kinds.environments),
        list("data", kinds.data_bags),
    )?;
    let mut out: BTreeMap<ObjectId, Value> = BTreeMap::new();
    let mut queue: VecDeque<Task> = VecDeque::new();
    for name in roles.into_iter().flat_map(BTreeMap::into_keys) {
        queue.push_back(Task::Object(ObjectId::role(name)));
    }
    for name in environments.into_iter().flat_map(BTreeMap::into_keys) {
        queue.push_back(Task::Object(ObjectId::environment(name)));
    }
    for bag in bags.into_iter().flat_map(BTreeMap::into_keys) {
        let id = ObjectId::data_bag(bag.clone());
        out.insert(
            id,
            normalize(ObjectKind::DataBag, &serde_json::json!({ "name": bag })),
        );
        // Bag listings go first: their items are the next wave.
        queue.push_front(Task::BagListing(bag));
    }
    let run = |task: Task| async move {
        match task {
            Task::BagListing(bag) => client
                .get::<BTreeMap<String, Value>>(&format!("data/{bag}"))
                .await
                .map(|items| Fetched::Items(bag, items)),
            Task::Object(id) => match client.get::<Value>(&id.server_path()).await {
                Ok(json) => Ok(Fetched::Object(id, Some(json))),
                Err(e) if e.is_not_found() => Ok(Fetched::Object(id, None)),
                Err(e) => Err(e),
            },
        }
    };
    let mut in_flight = FuturesUnordered::new();
    let limit = concurrency.max(1);
    loop {
        while in_flight.len() < limit
            && let Some(task) = queue.pop_front()
        {
            in_flight.push(run(task));
        }
        let Some(done) = in_flight.next().await else {
            break;
        };
        match done? {
            Fetched::Items(bag, items) => {
                for item in items.into_keys() {
                    queue.push_back(Task::Object(ObjectId::data_bag_item(bag.clone(), item)));
                }
            }
            Fetched::Object(id, Some(json)) => {
                let json = normalize(id.kind, &json);
                out.insert(id, json);
            }
            Fetched::Object(_, None) => {}
        }
    }
    Ok(out)
}
