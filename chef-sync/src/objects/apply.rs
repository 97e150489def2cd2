//! Carrying out one server's object plan, in order: data bags, their items, roles,
//! environments (each pin checked again against what the cookbook upload actually left on
//! the server), then purges; each step's requests run concurrently (bounded), each object
//! reported whatever happens to the others.

use std::collections::BTreeSet;
use std::future::Future;

use bytes::Bytes;
use chef_api::client::ChefClient;
use futures::StreamExt as _;
use reqwest::Method;

use super::plan::{CookbookVersions, ObjectAction, ObjectPlan, PlannedObject, unsatisfied_pins};
use super::{ObjectId, ObjectKind};
use crate::report::{CookbookOutcome, CookbookReport, ObjectOutcome, ObjectReport, ReportError};

/// Called with each object's report as soon as it is known (progress events).
pub type OnObject<'a> = &'a (dyn Fn(&ObjectReport) + Send + Sync);

/// The reports of a dry run: the planned actions, every deletion listed (items of a purged
/// bag included).
pub fn dry_run_reports(plan: &ObjectPlan) -> (Vec<ObjectReport>, Vec<CookbookReport>) {
    let objects = plan
        .objects
        .iter()
        .map(|p| {
            let outcome = match p.action {
                ObjectAction::Create => ObjectOutcome::Create,
                ObjectAction::Update => ObjectOutcome::Update,
                ObjectAction::Unchanged => ObjectOutcome::Unchanged,
                ObjectAction::Delete => ObjectOutcome::Delete,
            };
            ObjectReport::new(&p.id, outcome, None)
        })
        .collect();
    let cookbooks = plan
        .cookbook_deletions
        .iter()
        .map(|(name, version)| {
            cookbook_report(name, &version.to_string(), CookbookOutcome::Delete, None)
        })
        .collect();
    (objects, cookbooks)
}

fn cookbook_report(
    name: &str,
    version: &str,
    outcome: CookbookOutcome,
    error: Option<ReportError>,
) -> CookbookReport {
    CookbookReport {
        name: name.to_owned(),
        version: version.to_owned(),
        outcome,
        files_sent: 0,
        bytes_sent: 0,
        duration_ms: 0,
        error,
    }
}

/// Runs `jobs` with up to `limit` in flight, results in input order.
async fn bounded<T, F: Future<Output = T>>(jobs: Vec<F>, limit: usize) -> Vec<T> {
    futures::stream::iter(jobs)
        .buffered(limit.max(1))
        .collect()
        .await
}

/// Sends one object: POST to its collection when new, PUT to itself when it differs. A
/// POST answered 409 (created meanwhile) becomes a PUT; a PUT answered 404 (deleted
/// meanwhile) a POST.
async fn write(
    client: &ChefClient,
    planned: &PlannedObject,
) -> Result<ObjectOutcome, chef_api::Error> {
    let Some(object) = &planned.object else {
        return Ok(ObjectOutcome::Unchanged);
    };
    let body = Bytes::from(object.body.clone());
    let (collection, path) = (planned.id.collection_path(), planned.id.server_path());
    let post = || client.request(Method::POST, &collection, Some(body.clone()));
    let put = || client.request(Method::PUT, &path, Some(body.clone()));
    match planned.action {
        ObjectAction::Unchanged | ObjectAction::Delete => Ok(ObjectOutcome::Unchanged),
        ObjectAction::Create => match post().await {
            Ok(_) => Ok(ObjectOutcome::Created),
            // A bag is only a name: if it exists, it is what the repository wants.
            Err(e) if e.is_conflict() && planned.id.kind == ObjectKind::DataBag => {
                Ok(ObjectOutcome::Unchanged)
            }
            Err(e) if e.is_conflict() => put().await.map(|_| ObjectOutcome::Updated),
            Err(e) => Err(e),
        },
        ObjectAction::Update => match put().await {
            Ok(_) => Ok(ObjectOutcome::Updated),
            Err(e) if e.is_not_found() => post().await.map(|_| ObjectOutcome::Created),
            Err(e) => Err(e),
        },
    }
}

/// Deletes one object; already gone counts as deleted.
async fn delete(client: &ChefClient, id: &ObjectId) -> Result<ObjectOutcome, chef_api::Error> {
    match client
        .request(Method::DELETE, &id.server_path(), None)
        .await
    {
        Ok(_) => Ok(ObjectOutcome::Deleted),
        Err(e) if e.is_not_found() => Ok(ObjectOutcome::Deleted),
        Err(e) => Err(e),
    }
}

/// The report line of `id` on `server`: a request error keeps its kind, status, the server's
/// messages and the URL ([`ReportError::from_api`]).
fn report(
    server: &str,
    id: &ObjectId,
    result: Result<ObjectOutcome, chef_api::Error>,
) -> ObjectReport {
    match result {
        Ok(outcome) => ObjectReport::new(id, outcome, None),
        Err(e) => ObjectReport::new(
            id,
            ObjectOutcome::Failed,
            Some(ReportError::from_api(&e, server)),
        ),
    }
}

/// An object not attempted because something it needs failed: kind `other`, as a cookbook
/// whose dependency failed.
fn not_sent(server: &str, id: &ObjectId, why: String) -> ObjectReport {
    ObjectReport::new(
        id,
        ObjectOutcome::Failed,
        Some(ReportError::other(format!("not sent: {why}"), server)),
    )
}

/// Writes `planned` (up to `concurrency` at once), each reported to `on_object` as it is done;
/// reports in input order.
async fn send_all(
    client: &ChefClient,
    server: &str,
    planned: Vec<&PlannedObject>,
    concurrency: usize,
    on_object: OnObject<'_>,
) -> Vec<ObjectReport> {
    let jobs = planned
        .into_iter()
        .map(|p| async move {
            let line = report(server, &p.id, write(client, p).await);
            on_object(&line);
            line
        })
        .collect();
    bounded(jobs, concurrency).await
}

/// `planned`, grouped by data bag (first appearance order), each group in input order.
fn by_bag(planned: Vec<&PlannedObject>) -> Vec<Vec<&PlannedObject>> {
    let mut groups: Vec<(Option<&str>, Vec<&PlannedObject>)> = Vec::new();
    for p in planned {
        let bag = p.id.bag.as_deref();
        match groups.iter_mut().find(|(b, _)| *b == bag) {
            Some((_, group)) => group.push(p),
            None => groups.push((bag, vec![p])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// Server quirk: goiardi's in-memory store (the Debian package's default) keeps a bag's items
/// inside the bag. Each item POST, PUT or DELETE loads a copy of the whole bag, changes one
/// item and saves the whole bag back (goiardi `databag/databag.go`: `NewDBItem`,
/// `UpdateDBItem`, `DeleteDBItem` end in `db.Save()`, a `datastore.Set` of the bag), so
/// concurrent writes into one bag overwrite each other: every POST is answered 201, yet items
/// are lost. On goiardi (recognised by its `X-Goiardi` answer header, see
/// [`ChefClient::is_goiardi`]) one bag's items are therefore written one at a time, bags still
/// in parallel. erchef stores items as rows and gets them concurrently, as does any other
/// server.
fn one_item_at_a_time_per_bag(client: &ChefClient) -> bool {
    client.is_goiardi()
}

/// Writes data bag items like [`send_all`], except on a server with goiardi's lost item
/// updates ([`one_item_at_a_time_per_bag`]), where each bag's items go one after the other
/// (up to `concurrency` bags at once). Reports grouped by bag there, else in input order.
async fn send_items(
    client: &ChefClient,
    server: &str,
    items: Vec<&PlannedObject>,
    concurrency: usize,
    on_object: OnObject<'_>,
) -> Vec<ObjectReport> {
    if !one_item_at_a_time_per_bag(client) {
        return send_all(client, server, items, concurrency, on_object).await;
    }
    let jobs = by_bag(items)
        .into_iter()
        .map(|group| send_all(client, server, group, 1, on_object))
        .collect();
    bounded(jobs, concurrency)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Carries out `plan` on the server of `client` (never call it with pin problems); `server`
/// is its configured name (for the reports' errors), `on_object` hears of each object as soon
/// as it is done.
///
/// `cookbooks_now` are the cookbook versions the server holds after this sync's cookbook
/// upload (its listing plus what was uploaded): an environment whose pin nothing there
/// satisfies (an upload failed) is not written and reported failed.
pub async fn apply(
    client: &ChefClient,
    server: &str,
    plan: &ObjectPlan,
    cookbooks_now: &CookbookVersions,
    concurrency: usize,
    on_object: OnObject<'_>,
) -> (Vec<ObjectReport>, Vec<CookbookReport>) {
    let mut reports: Vec<ObjectReport> = Vec::with_capacity(plan.objects.len());
    let step = |kind: ObjectKind, action: fn(ObjectAction) -> bool| {
        plan.objects
            .iter()
            .filter(move |p| p.id.kind == kind && action(p.action))
            .collect::<Vec<&PlannedObject>>()
    };
    let writes = |a: ObjectAction| a != ObjectAction::Delete;
    let deletes = |a: ObjectAction| a == ObjectAction::Delete;
    let told = |line: ObjectReport| {
        on_object(&line);
        line
    };
    // 1. Bags, so that their items have somewhere to go.
    let bag_reports = send_all(
        client,
        server,
        step(ObjectKind::DataBag, writes),
        concurrency,
        on_object,
    )
    .await;
    let failed_bags: BTreeSet<String> = bag_reports
        .iter()
        .filter(|r| r.outcome == ObjectOutcome::Failed)
        .map(|r| r.name.clone())
        .collect();
    reports.extend(bag_reports);
    // 2. Items (not into a bag that could not be created).
    let (orphans, items): (Vec<&PlannedObject>, Vec<&PlannedObject>) =
        step(ObjectKind::DataBagItem, writes)
            .into_iter()
            .partition(|p| p.id.bag.as_ref().is_some_and(|b| failed_bags.contains(b)));
    for p in orphans {
        let bag = p.id.bag.as_deref().unwrap_or_default();
        reports.push(told(not_sent(
            server,
            &p.id,
            format!("data bag '{bag}' could not be created"),
        )));
    }
    reports.extend(send_items(client, server, items, concurrency, on_object).await);
    // 3. Roles.
    reports.extend(
        send_all(
            client,
            server,
            step(ObjectKind::Role, writes),
            concurrency,
            on_object,
        )
        .await,
    );
    // 4. Environments, last: their pins must find the cookbooks there.
    let mut sendable = Vec::new();
    for p in step(ObjectKind::Environment, writes) {
        let problems = p
            .object
            .as_ref()
            .map(|o| unsatisfied_pins([&o.json], cookbooks_now))
            .unwrap_or_default();
        if problems.is_empty() {
            sendable.push(p);
        } else {
            let why: Vec<String> = problems.iter().map(ToString::to_string).collect();
            reports.push(told(not_sent(server, &p.id, why.join("; "))));
        }
    }
    reports.extend(send_all(client, server, sendable, concurrency, on_object).await);
    // 5. Purges: items (of bags that stay), bags (their items go with them), roles,
    //    environments.
    let doomed_bags: BTreeSet<&str> = step(ObjectKind::DataBag, deletes)
        .iter()
        .map(|p| p.id.name.as_str())
        .collect();
    let (with_bag, items): (Vec<&PlannedObject>, Vec<&PlannedObject>) =
        step(ObjectKind::DataBagItem, deletes)
            .into_iter()
            .partition(|p| p.id.bag.as_deref().is_some_and(|b| doomed_bags.contains(b)));
    // On goiardi an item delete also saves its whole bag: one bag's deletions one at a
    // time ([`one_item_at_a_time_per_bag`]), each bag's chain one job among the others.
    let item_chains: Vec<Vec<&PlannedObject>> = if one_item_at_a_time_per_bag(client) {
        by_bag(items)
    } else {
        items.into_iter().map(|p| vec![p]).collect()
    };
    let mut deletions: Vec<Vec<&PlannedObject>> = item_chains;
    for p in step(ObjectKind::DataBag, deletes)
        .into_iter()
        .chain(step(ObjectKind::Role, deletes))
        .chain(step(ObjectKind::Environment, deletes))
    {
        deletions.push(vec![p]);
    }
    let deleted: Vec<ObjectReport> = bounded(
        deletions
            .iter()
            .map(|chain| async move {
                let mut lines = Vec::with_capacity(chain.len());
                for p in chain {
                    lines.push(told(report(server, &p.id, delete(client, &p.id).await)));
                }
                lines
            })
            .collect(),
        concurrency,
    )
    .await
    .into_iter()
    .flatten()
    .collect();
    let bag_results: Vec<(String, ObjectOutcome, Option<ReportError>)> = deleted
        .iter()
        .filter(|r| r.kind == ObjectKind::DataBag)
        .map(|r| (r.name.clone(), r.outcome, r.error.clone()))
        .collect();
    reports.extend(deleted);
    for p in with_bag {
        let bag = p.id.bag.as_deref().unwrap_or_default();
        let (outcome, error) = bag_results
            .iter()
            .find(|(b, _, _)| b == bag)
            .map(|(_, o, e)| {
                (
                    *o,
                    e.clone().map(|e| ReportError {
                        message: format!("its data bag was not deleted: {}", e.message),
                        ..e
                    }),
                )
            })
            .unwrap_or((ObjectOutcome::Failed, None));
        reports.push(told(ObjectReport::new(&p.id, outcome, error)));
    }
    // 6. Cookbook versions, after the environments that may have pinned them changed.
    let results = bounded(
        plan.cookbook_deletions
            .iter()
            .map(|(name, version)| async move {
                let path = format!("cookbooks/{name}/{version}");
                match client.request(Method::DELETE, &path, None).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_not_found() => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .collect(),
        concurrency,
    )
    .await;
    let cookbooks = plan
        .cookbook_deletions
        .iter()
        .zip(results)
        .map(|((name, version), r)| match r {
            Ok(()) => cookbook_report(name, &version.to_string(), CookbookOutcome::Deleted, None),
            Err(e) => cookbook_report(
                name,
                &version.to_string(),
                CookbookOutcome::Failed,
                Some(ReportError::from_api(&e, server)),
            ),
        })
        .collect();
    (reports, cookbooks)
}

/// The cookbook versions of a `GET /cookbooks?num_versions=all` listing.
pub(crate) fn listing_versions(
    listing: &std::collections::BTreeMap<String, chef_api::endpoints::CookbookListing>,
) -> CookbookVersions {
    listing
        .iter()
        .map(|(name, l)| (name.clone(), l.versions.iter().map(|v| v.version).collect()))
        .collect()
}

/// `(name, version)` pairs as cookbook versions (those that do not parse are left out).
fn versions_of<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> CookbookVersions {
    let mut out = CookbookVersions::new();
    for (name, version) in pairs {
        if let Ok(v) = chef_api::version::Version::parse(version) {
            out.entry(name.to_owned()).or_default().insert(v);
        }
    }
    out
}

/// One server's object plan, or why nothing of it may be written (its objects could not be
/// read: the request's error, typed; an environment pin nothing satisfies: kind `other`).
pub(crate) fn plan_server(
    server: &str,
    sync: &super::plan::ObjectSync,
    fetched: chef_api::Result<std::collections::BTreeMap<ObjectId, serde_json::Value>>,
    server_cookbooks: &CookbookVersions,
    cookbooks: &[std::sync::Arc<chef_api::cookbook::LoadedCookbook>],
) -> Result<ObjectPlan, ReportError> {
    let server_objects = fetched.map_err(|e| ReportError {
        message: format!("cannot read the server's roles, environments and data bags: {e}"),
        ..ReportError::from_api(&e, server)
    })?;
    let carried = versions_of(cookbooks.iter().map(|c| (c.name(), c.version())));
    let plan = super::plan::plan(sync, &server_objects, server_cookbooks, &carried);
    if plan.pin_problems.is_empty() {
        Ok(plan)
    } else {
        let list: Vec<String> = plan.pin_problems.iter().map(ToString::to_string).collect();
        Err(ReportError::other(
            format!(
                "no role, environment or data bag was sent: {}",
                list.join("; ")
            ),
            server,
        ))
    }
}

/// After the cookbooks: the dry run's planned actions, or the plan carried out against the
/// cookbook versions the upload actually left on the server. Returns the object reports,
/// the purged cookbook versions, and the server's error (when the plan could not be made).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn finish_server(
    client: &ChefClient,
    server: &str,
    sync: &super::plan::ObjectSync,
    plan: Result<ObjectPlan, ReportError>,
    dry_run: bool,
    server_cookbooks: &CookbookVersions,
    cookbook_reports: &[CookbookReport],
    on_object: OnObject<'_>,
) -> (Vec<ObjectReport>, Vec<CookbookReport>, Option<ReportError>) {
    let plan = match plan {
        Ok(plan) => plan,
        Err(e) => return (Vec::new(), Vec::new(), Some(e)),
    };
    if dry_run {
        let (objects, cookbooks) = dry_run_reports(&plan);
        return (objects, cookbooks, None);
    }
    let mut now = server_cookbooks.clone();
    for (name, versions) in versions_of(
        cookbook_reports
            .iter()
            .filter(|c| c.outcome.is_converged())
            .map(|c| (c.name.as_str(), c.version.as_str())),
    ) {
        now.entry(name).or_default().extend(versions);
    }
    let (objects, cookbooks) =
        apply(client, server, &plan, &now, sync.concurrency, on_object).await;
    (objects, cookbooks, None)
}
