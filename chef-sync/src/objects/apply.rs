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
use crate::report::{CookbookOutcome, CookbookReport, ObjectOutcome, ObjectReport};

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
    error: Option<String>,
) -> CookbookReport {
    CookbookReport {
        name: name.to_owned(),
        version: version.to_owned(),
        outcome,
        files_sent: 0,
        bytes_sent: 0,
        duration_ms: 0,
        error: error.map(crate::report::ReportError::untyped),
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

fn report(id: &ObjectId, result: Result<ObjectOutcome, chef_api::Error>) -> ObjectReport {
    match result {
        Ok(outcome) => ObjectReport::new(id, outcome, None),
        Err(e) => ObjectReport::new(id, ObjectOutcome::Failed, Some(e.to_string())),
    }
}

/// Carries out `plan` on the server of `client` (never call it with pin problems).
///
/// `cookbooks_now` are the cookbook versions the server holds after this sync's cookbook
/// upload (its listing plus what was uploaded): an environment whose pin nothing there
/// satisfies (an upload failed) is not written and reported failed.
pub async fn apply(
    client: &ChefClient,
    plan: &ObjectPlan,
    cookbooks_now: &CookbookVersions,
    concurrency: usize,
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

    // 1. Bags, so that their items have somewhere to go.
    let bags = step(ObjectKind::DataBag, writes);
    let results = bounded(bags.iter().map(|p| write(client, p)).collect(), concurrency).await;
    let mut failed_bags: BTreeSet<String> = BTreeSet::new();
    for (p, result) in bags.iter().zip(results) {
        if result.is_err() {
            failed_bags.insert(p.id.name.clone());
        }
        reports.push(report(&p.id, result));
    }
    // 2. Items (not into a bag that could not be created).
    let items = step(ObjectKind::DataBagItem, writes);
    let (orphans, items): (Vec<&PlannedObject>, Vec<&PlannedObject>) = items
        .into_iter()
        .partition(|p| p.id.bag.as_ref().is_some_and(|b| failed_bags.contains(b)));
    for p in orphans {
        reports.push(ObjectReport::new(
            &p.id,
            ObjectOutcome::Failed,
            Some(format!(
                "not sent: data bag '{}' could not be created",
                p.id.bag.as_deref().unwrap_or_default()
            )),
        ));
    }
    let results = bounded(
        items.iter().map(|p| write(client, p)).collect(),
        concurrency,
    )
    .await;
    reports.extend(items.iter().zip(results).map(|(p, r)| report(&p.id, r)));
    // 3. Roles.
    let roles = step(ObjectKind::Role, writes);
    let results = bounded(
        roles.iter().map(|p| write(client, p)).collect(),
        concurrency,
    )
    .await;
    reports.extend(roles.iter().zip(results).map(|(p, r)| report(&p.id, r)));
    // 4. Environments, last: their pins must find the cookbooks there.
    let envs = step(ObjectKind::Environment, writes);
    let mut sendable = Vec::new();
    for p in envs {
        let problems = p
            .object
            .as_ref()
            .map(|o| unsatisfied_pins([&o.json], cookbooks_now))
            .unwrap_or_default();
        if problems.is_empty() {
            sendable.push(p);
        } else {
            let why: Vec<String> = problems.iter().map(ToString::to_string).collect();
            reports.push(ObjectReport::new(
                &p.id,
                ObjectOutcome::Failed,
                Some(format!("not sent: {}", why.join("; "))),
            ));
        }
    }
    let results = bounded(
        sendable.iter().map(|p| write(client, p)).collect(),
        concurrency,
    )
    .await;
    reports.extend(sendable.iter().zip(results).map(|(p, r)| report(&p.id, r)));
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
    let mut deletions: Vec<&PlannedObject> = items;
    deletions.extend(step(ObjectKind::DataBag, deletes));
    deletions.extend(step(ObjectKind::Role, deletes));
    deletions.extend(step(ObjectKind::Environment, deletes));
    let results = bounded(
        deletions.iter().map(|p| delete(client, &p.id)).collect(),
        concurrency,
    )
    .await;
    let mut bag_results: Vec<(String, ObjectOutcome, Option<String>)> = Vec::new();
    for (p, r) in deletions.iter().zip(results) {
        let line = report(&p.id, r);
        if p.id.kind == ObjectKind::DataBag {
            bag_results.push((p.id.name.clone(), line.outcome, line.error.clone()));
        }
        reports.push(line);
    }
    for p in with_bag {
        let bag = p.id.bag.as_deref().unwrap_or_default();
        let (outcome, error) = bag_results
            .iter()
            .find(|(b, _, _)| b == bag)
            .map(|(_, o, e)| {
                (
                    *o,
                    e.clone()
                        .map(|e| format!("its data bag was not deleted: {e}")),
                )
            })
            .unwrap_or((ObjectOutcome::Failed, None));
        reports.push(ObjectReport::new(&p.id, outcome, error));
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
                Some(e.to_string()),
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
/// read; an environment pin nothing satisfies).
pub(crate) fn plan_server(
    sync: &super::plan::ObjectSync,
    fetched: chef_api::Result<std::collections::BTreeMap<ObjectId, serde_json::Value>>,
    server_cookbooks: &CookbookVersions,
    cookbooks: &[std::sync::Arc<chef_api::cookbook::LoadedCookbook>],
) -> Result<ObjectPlan, String> {
    let server = fetched
        .map_err(|e| format!("cannot read the server's roles, environments and data bags: {e}"))?;
    let carried = versions_of(cookbooks.iter().map(|c| (c.name(), c.version())));
    let plan = super::plan::plan(sync, &server, server_cookbooks, &carried);
    if plan.pin_problems.is_empty() {
        Ok(plan)
    } else {
        let list: Vec<String> = plan.pin_problems.iter().map(ToString::to_string).collect();
        Err(format!(
            "no role, environment or data bag was sent: {}",
            list.join("; ")
        ))
    }
}

/// After the cookbooks: the dry run's planned actions, or the plan carried out against the
/// cookbook versions the upload actually left on the server. Returns the object reports,
/// the purged cookbook versions, and the server's error (when the plan could not be made).
pub(crate) async fn finish_server(
    client: &ChefClient,
    sync: &super::plan::ObjectSync,
    plan: Result<ObjectPlan, String>,
    dry_run: bool,
    server_cookbooks: &CookbookVersions,
    cookbook_reports: &[CookbookReport],
) -> (Vec<ObjectReport>, Vec<CookbookReport>, Option<String>) {
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
    let (objects, cookbooks) = apply(client, &plan, &now, sync.concurrency).await;
    (objects, cookbooks, None)
}
