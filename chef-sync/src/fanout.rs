//! Fan-out: every server at once, each on its own task, each reported whatever the others do.
//!
//! Per server: plan (the listing and API version, usually fetched ahead by the sync while it
//! hashed the repository, plus the manifests needed), then, unless it is a dry run,
//! execute (sandbox, files, commit, manifests in dependency order). Both steps belong to
//! [`ServerTarget`], which `chef_api::upload::Uploader` implements; the fan-out only runs the
//! servers concurrently (a task each on the caller's runtime), turns their results into
//! [`ServerReport`]s and emits events. A server
//! that fails (or whose task panics) becomes a failed entry in the report; it never stops the
//! others. With an [`ObjectSync`], the server's roles, environments and data bags are planned
//! beside its cookbooks and written after them ([`crate::objects`]: bags, items, roles,
//! environments last, then purges).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use chef_api::cookbook::LoadedCookbook;
use chef_api::upload::{Action, CookbookResult, ServerPlan, ServerState, Uploader};

use crate::events::{SyncEventKind, SyncEventSink, emit};
use crate::objects::{self, plan::ObjectSync};
use crate::report::{CookbookOutcome, CookbookReport, ReportError, ServerReport, millis};

/// One server's upload steps, as the fan-out drives them.
pub trait ServerTarget: Send + Sync + 'static {
    /// What planning needs before it needs the cookbooks: the listing and the API version.
    fn server_state(&self) -> impl Future<Output = chef_api::Result<ServerState>> + Send;

    /// Decides, per cookbook, create / update / unchanged / frozen conflict.
    fn plan_with(
        &self,
        state: ServerState,
        cookbooks: &[Arc<LoadedCookbook>],
    ) -> impl Future<Output = chef_api::Result<ServerPlan>> + Send;

    /// Carries out a plan; one result per cookbook.
    fn execute(&self, plan: &ServerPlan) -> impl Future<Output = Vec<CookbookResult>> + Send;

    /// The server's client, for roles, environments and data bags; `None`: this target
    /// carries cookbooks only.
    fn client(&self) -> Option<&chef_api::client::ChefClient> {
        None
    }
}

impl ServerTarget for Uploader {
    fn server_state(&self) -> impl Future<Output = chef_api::Result<ServerState>> + Send {
        Uploader::server_state(self)
    }

    fn plan_with(
        &self,
        state: ServerState,
        cookbooks: &[Arc<LoadedCookbook>],
    ) -> impl Future<Output = chef_api::Result<ServerPlan>> + Send {
        Uploader::plan_with(self, state, cookbooks)
    }

    fn execute(&self, plan: &ServerPlan) -> impl Future<Output = Vec<CookbookResult>> + Send {
        Uploader::execute(self, plan)
    }

    fn client(&self) -> Option<&chef_api::client::ChefClient> {
        Some(Uploader::client(self))
    }
}

/// One server's share of a sync.
#[derive(Debug)]
pub struct ServerJob<T> {
    /// Server name.
    pub name: String,
    /// Server URL (for the report).
    pub url: String,
    /// The target, or why it could not be set up (e.g. an unreadable key); the latter makes the
    /// server a failed entry without stopping the others.
    pub target: Result<T, ReportError>,
    /// The cookbooks this server gets.
    pub cookbooks: Vec<Arc<LoadedCookbook>>,
    /// The server's listing and API version when they were fetched ahead (a sync asks while
    /// it is still hashing the repository); `None`: asked first thing.
    pub state: Option<chef_api::Result<ServerState>>,
    /// Roles, environments and data bags to sync after the cookbooks (`None`: cookbooks
    /// only). Read while the cookbooks are planned; written after them, environments last.
    pub objects: Option<ObjectSync>,
    /// The server's objects when they were fetched ahead (with `state`); `None`: asked
    /// while the cookbooks are planned.
    pub objects_state: Option<chef_api::Result<objects::ServerObjects>>,
}

/// Runs every job concurrently, each as its own task on the current runtime; one report per
/// job, in job order.
///
/// A task per server lets the runtime's worker threads spread signing of several servers over
/// the cores; no thread is parked per server (there used to be one blocking-pool thread per
/// server driving its future with `block_on`, which cost a thread and futex traffic each).
///
/// # Panics
/// When called outside a tokio runtime.
pub async fn run<T: ServerTarget>(
    jobs: Vec<ServerJob<T>>,
    dry_run: bool,
    events: Option<SyncEventSink>,
) -> Vec<ServerReport> {
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let name = job.name.clone();
            let url = job.url.clone();
            let events = events.clone();
            let started = Instant::now();
            let task_events = events.clone();
            let handle = tokio::spawn(run_one(job, dry_run, task_events));
            (name, url, events, started, handle)
        })
        .collect();
    let mut reports = Vec::with_capacity(handles.len());
    for (name, url, events, started, handle) in handles {
        let report = match handle.await {
            Ok(report) => report,
            Err(e) => {
                let error =
                    ReportError::other(format!("the sync task for this server failed: {e}"), &name);
                let server: Arc<str> = Arc::from(name.as_str());
                emit(
                    events.as_ref(),
                    &server,
                    SyncEventKind::Finished {
                        ok: false,
                        error: Some(error.clone()),
                    },
                );
                ServerReport::failed(&name, &url, error, started.elapsed())
            }
        };
        reports.push(report);
    }
    reports
}

async fn run_one<T: ServerTarget>(
    job: ServerJob<T>,
    dry_run: bool,
    events: Option<SyncEventSink>,
) -> ServerReport {
    let started = Instant::now();
    let server: Arc<str> = Arc::from(job.name.as_str());
    let fail = |error: ReportError| {
        emit(
            events.as_ref(),
            &server,
            SyncEventKind::Finished {
                ok: false,
                error: Some(error.clone()),
            },
        );
        ServerReport::failed(&job.name, &job.url, error, started.elapsed())
    };
    let target = match &job.target {
        Ok(target) => target,
        Err(e) => return fail(e.clone()),
    };
    emit(events.as_ref(), &server, SyncEventKind::Planning);
    let objects = job.objects.as_ref().zip(target.client());
    let ahead = job.state;
    let objects_ahead = job.objects_state;
    let (state, fetched) = futures::join!(
        async {
            match ahead {
                Some(state) => state,
                None => target.server_state().await,
            }
        },
        async {
            match (objects, objects_ahead) {
                (Some(_), Some(fetched)) => Some(fetched),
                (Some((sync, client)), None) => Some(
                    objects::fetch_server_objects(
                        client,
                        sync.read_kinds(),
                        sync.concurrency,
                        std::future::ready(Some(Arc::clone(&sync.repo))),
                    )
                    .await,
                ),
                (None, _) => None,
            }
        }
    );
    let server_cookbooks = match &state {
        Ok(state) => objects::listing_versions(&state.listing),
        Err(_) => Default::default(),
    };
    let planned = match state {
        Ok(state) => target.plan_with(state, &job.cookbooks).await,
        Err(e) => Err(e),
    };
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => return fail(ReportError::from_api(&e, &job.name)),
    };
    let count = |a: Action| plan.cookbooks.iter().filter(|c| c.action == a).count();
    emit(
        events.as_ref(),
        &server,
        SyncEventKind::Planned {
            create: count(Action::Create),
            update: count(Action::Update),
            unchanged: count(Action::Unchanged),
            frozen_conflict: count(Action::FrozenConflict),
        },
    );
    let object_plan = objects.zip(fetched).map(|((sync, _), fetched)| {
        objects::plan_server(&job.name, sync, fetched, &server_cookbooks, &job.cookbooks)
    });
    if let Some(Ok(plan)) = &object_plan {
        use objects::plan::ObjectAction;
        emit(
            events.as_ref(),
            &server,
            SyncEventKind::ObjectsPlanned {
                create: plan.count(ObjectAction::Create),
                update: plan.count(ObjectAction::Update),
                unchanged: plan.count(ObjectAction::Unchanged),
                delete: plan.count(ObjectAction::Delete) + plan.cookbook_deletions.len(),
            },
        );
    }
    let mut cookbooks: Vec<CookbookReport> = if dry_run {
        plan.cookbooks
            .iter()
            .map(|p| CookbookReport {
                name: p.cookbook.name().to_owned(),
                version: p.cookbook.version().to_owned(),
                outcome: p.action.into(),
                files_sent: 0,
                bytes_sent: 0,
                duration_ms: 0,
                error: None,
            })
            .collect()
    } else {
        merge_results(&job.name, &plan, target.execute(&plan).await)
    };
    let (mut object_reports, mut error) = (Vec::new(), None);
    if let (Some((sync, client)), Some(plan)) = (objects, object_plan) {
        let on_object = |o: &crate::report::ObjectReport| {
            emit(
                events.as_ref(),
                &server,
                SyncEventKind::ObjectFinished {
                    kind: o.kind,
                    name: o.name.clone(),
                    outcome: o.outcome,
                    error: o.error.clone(),
                },
            );
        };
        let (reports, purged, failure) = objects::finish_server(
            client,
            &job.name,
            sync,
            plan,
            dry_run,
            &server_cookbooks,
            &cookbooks,
            &on_object,
        )
        .await;
        object_reports = reports;
        cookbooks.extend(purged);
        error = failure;
    }
    let mut report = ServerReport {
        name: job.name.clone(),
        url: job.url.clone(),
        ok: true,
        error,
        files_sent: 0,
        bytes_sent: 0,
        duration_ms: millis(started.elapsed()),
        cookbooks,
        objects: object_reports,
    };
    report.finish();
    emit(
        events.as_ref(),
        &server,
        SyncEventKind::Finished {
            ok: report.ok,
            error: None,
        },
    );
    report
}

/// The execute results, plus an entry for every planned cookbook the results leave out
/// (unchanged and conflicting ones keep their planned outcome; anything else counts as failed).
fn merge_results(
    server: &str,
    plan: &ServerPlan,
    results: Vec<CookbookResult>,
) -> Vec<CookbookReport> {
    let mut out: Vec<CookbookReport> = results
        .into_iter()
        .map(|r| CookbookReport {
            name: r.name,
            version: r.version,
            outcome: r.outcome.into(),
            files_sent: r.files_sent,
            bytes_sent: r.bytes_sent,
            duration_ms: millis(r.duration),
            error: r.error.map(|e| ReportError::from_upload(&e, server)),
        })
        .collect();
    for p in &plan.cookbooks {
        let (name, version) = (p.cookbook.name(), p.cookbook.version());
        if out.iter().any(|c| c.name == name && c.version == version) {
            continue;
        }
        let (outcome, error) = match p.action {
            Action::Unchanged => (CookbookOutcome::Unchanged, None),
            Action::FrozenConflict => (CookbookOutcome::FrozenConflict, None),
            Action::Create | Action::Update => (
                CookbookOutcome::Failed,
                Some(ReportError::other(
                    "planned for upload but the uploader reported no result",
                    server,
                )),
            ),
        };
        out.push(CookbookReport {
            name: name.to_owned(),
            version: version.to_owned(),
            outcome,
            files_sent: 0,
            bytes_sent: 0,
            duration_ms: 0,
            error,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use chef_api::upload::{Outcome, PlannedCookbook};

    use super::*;
    use crate::events::SyncEvent;

    fn cookbook(dir: &std::path::Path, name: &str) -> Arc<LoadedCookbook> {
        let cb = dir.join(name);
        std::fs::create_dir_all(&cb).unwrap();
        std::fs::write(
            cb.join("metadata.rb"),
            format!("name '{name}'\nversion '1.0.0'\n"),
        )
        .unwrap();
        Arc::new(LoadedCookbook::load(&cb).unwrap())
    }

    /// A fake server: plans every cookbook as `action`, or fails planning with a 500.
    struct Fake {
        action: Option<Action>,
        executed: Arc<AtomicUsize>,
        states_asked: Arc<AtomicUsize>,
    }

    impl ServerTarget for Fake {
        async fn plan_with(
            &self,
            state: ServerState,
            cookbooks: &[Arc<LoadedCookbook>],
        ) -> chef_api::Result<ServerPlan> {
            let action = self.action.expect("a failing fake never gets a state");
            Ok(ServerPlan {
                api_version: state.api_version,
                cookbooks: cookbooks
                    .iter()
                    .map(|c| PlannedCookbook {
                        cookbook: Arc::clone(c),
                        action,
                    })
                    .collect(),
            })
        }

        async fn server_state(&self) -> chef_api::Result<ServerState> {
            self.states_asked.fetch_add(1, Ordering::SeqCst);
            match self.action {
                Some(_) => Ok(ServerState::new(Default::default(), 0)),
                None => Err(chef_api::Error::Server(Box::new(
                    chef_api::error::ResponseError::new(
                        500,
                        "GET",
                        "http://127.0.0.1:1/cookbooks?num_versions=all",
                        br#"{"error": ["database is down"]}"#,
                    ),
                ))),
            }
        }

        async fn execute(&self, plan: &ServerPlan) -> Vec<CookbookResult> {
            self.executed.fetch_add(1, Ordering::SeqCst);
            plan.cookbooks
                .iter()
                .filter(|p| p.action != Action::Unchanged)
                .map(|p| CookbookResult {
                    name: p.cookbook.name().to_owned(),
                    version: p.cookbook.version().to_owned(),
                    outcome: Outcome::Created,
                    files_sent: p.cookbook.files().len() as u64,
                    bytes_sent: p.cookbook.total_size(),
                    duration: Duration::from_millis(3),
                    error: None,
                })
                .collect()
        }
    }

    fn job(
        name: &str,
        action: Option<Action>,
        cookbooks: &[Arc<LoadedCookbook>],
        executed: &Arc<AtomicUsize>,
    ) -> ServerJob<Fake> {
        ServerJob {
            name: name.into(),
            url: format!("http://127.0.0.1:1/{name}"),
            target: Ok(Fake {
                action,
                executed: Arc::clone(executed),
                states_asked: Arc::default(),
            }),
            cookbooks: cookbooks.to_vec(),
            state: None,
            objects: None,
            objects_state: None,
        }
    }

    #[tokio::test]
    async fn a_failing_server_does_not_stop_the_others() {
        let tmp = tempfile::tempdir().unwrap();
        let cbs = [cookbook(tmp.path(), "web"), cookbook(tmp.path(), "db")];
        let executed = Arc::new(AtomicUsize::new(0));
        let events: Arc<Mutex<Vec<SyncEvent>>> = Arc::default();
        let sink_events = Arc::clone(&events);
        let sink: SyncEventSink = Arc::new(move |e| sink_events.lock().unwrap().push(e));
        let mut broken = job("broken-key", Some(Action::Create), &cbs, &executed);
        broken.target = Err(ReportError::new(
            chef_api::error::ErrorKind::Key,
            "cannot read key /x/private.pem",
            "broken",
        ));
        let reports = run(
            vec![
                job("us", Some(Action::Create), &cbs, &executed),
                job("eu", None, &cbs, &executed),
                broken,
            ],
            false,
            Some(sink),
        )
        .await;
        assert_eq!(executed.load(Ordering::SeqCst), 1);
        let us = &reports[0];
        assert!(us.ok);
        assert_eq!(us.cookbooks.len(), 2);
        assert!(
            us.cookbooks
                .iter()
                .all(|c| c.outcome == CookbookOutcome::Created)
        );
        assert_eq!(
            us.files_sent, 4,
            "two files each (metadata.rb + generated metadata.json)"
        );
        let eu = &reports[1];
        assert!(!eu.ok);
        assert!(
            eu.error
                .as_ref()
                .unwrap()
                .messages
                .contains(&"database is down".to_owned()),
            "{eu:?}"
        );
        assert!(
            reports[2]
                .error
                .as_ref()
                .unwrap()
                .message
                .contains("private.pem")
        );
        assert_eq!(eu.error.as_ref().unwrap().status, Some(500));
        let events = events.lock().unwrap();
        let finished: Vec<(String, bool)> = events
            .iter()
            .filter_map(|e| match &e.kind {
                SyncEventKind::Finished { ok, .. } => Some((e.server.to_string(), *ok)),
                _ => None,
            })
            .collect();
        assert_eq!(finished.len(), 3);
        assert!(finished.contains(&("us".into(), true)));
        assert!(finished.contains(&("eu".into(), false)));
    }

    #[tokio::test]
    async fn dry_run_reports_the_plan_and_executes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let cbs = [cookbook(tmp.path(), "web")];
        let executed = Arc::new(AtomicUsize::new(0));
        let reports = run(
            vec![
                job("a", Some(Action::Update), &cbs, &executed),
                job("b", Some(Action::FrozenConflict), &cbs, &executed),
            ],
            true,
            None,
        )
        .await;
        assert_eq!(executed.load(Ordering::SeqCst), 0);
        assert_eq!(reports[0].cookbooks[0].outcome, CookbookOutcome::Update);
        assert!(reports[0].ok);
        assert_eq!(
            reports[1].cookbooks[0].outcome,
            CookbookOutcome::FrozenConflict
        );
        assert!(!reports[1].ok);
    }

    #[tokio::test]
    async fn a_state_fetched_ahead_is_used_and_its_failure_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let cbs = [cookbook(tmp.path(), "web")];
        let executed = Arc::new(AtomicUsize::new(0));
        let mut ahead = job("ahead", Some(Action::Create), &cbs, &executed);
        ahead.state = Some(Ok(ServerState::new(Default::default(), 2)));
        let asked = Arc::clone(&ahead.target.as_ref().unwrap().states_asked);
        let mut down = job("down", Some(Action::Create), &cbs, &executed);
        down.state = Some(Err(chef_api::Error::Server(Box::new(
            chef_api::error::ResponseError::new(
                503,
                "GET",
                "http://127.0.0.1:1/cookbooks?num_versions=all",
                br#"{"error": ["maintenance"]}"#,
            ),
        ))));
        let reports = run(vec![ahead, down], false, None).await;
        assert_eq!(asked.load(Ordering::SeqCst), 0, "not asked a second time");
        assert!(reports[0].ok);
        assert_eq!(reports[0].cookbooks[0].outcome, CookbookOutcome::Created);
        assert!(!reports[1].ok);
        assert!(
            reports[1]
                .error
                .as_ref()
                .unwrap()
                .message
                .contains("maintenance"),
            "{:?}",
            reports[1].error
        );
        assert_eq!(
            executed.load(Ordering::SeqCst),
            1,
            "only the reachable server"
        );
    }

    #[tokio::test]
    async fn planned_cookbooks_missing_from_results_are_still_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let cbs = [cookbook(tmp.path(), "web")];
        let plan = ServerPlan {
            api_version: 0,
            cookbooks: vec![PlannedCookbook {
                cookbook: Arc::clone(&cbs[0]),
                action: Action::Unchanged,
            }],
        };
        let merged = merge_results("eu", &plan, Vec::new());
        assert_eq!(merged[0].outcome, CookbookOutcome::Unchanged);
        let plan = ServerPlan {
            api_version: 0,
            cookbooks: vec![PlannedCookbook {
                cookbook: Arc::clone(&cbs[0]),
                action: Action::Create,
            }],
        };
        let merged = merge_results("eu", &plan, Vec::new());
        assert_eq!(merged[0].outcome, CookbookOutcome::Failed);
        assert!(merged[0].error.is_some());
    }
}
