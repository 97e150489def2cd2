//! Carrying out a plan: sandbox, file PUTs, commit, manifests in dependency order.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use url::Url;

use super::order::dependency_order;
use super::{
    Action, CookbookResult, Outcome, ServerPlan, SharedBodies, UploadError, UploadEvent,
    UploadOptions,
};
use crate::client::ChefClient;
use crate::cookbook::manifest::ALL_FILES_API_VERSION;
use crate::cookbook::{CookbookFile, LoadedCookbook};
use crate::error::{Error, Result, redact_url};

/// `POST /sandboxes` answer.
#[derive(Debug, Deserialize)]
struct SandboxAnswer {
    uri: String,
    #[serde(default)]
    checksums: BTreeMap<String, ChecksumAnswer>,
}

#[derive(Debug, Deserialize)]
struct ChecksumAnswer {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    needs_upload: bool,
}

/// One file the server asked for.
#[derive(Clone)]
struct Needed<'a> {
    /// Index (into the batch) of the cookbook it is counted for.
    owner: usize,
    file: &'a CookbookFile,
    url: Url,
}

/// One cookbook being written.
struct Writing<'a> {
    /// Index in the plan.
    index: usize,
    cookbook: &'a LoadedCookbook,
    action: Action,
    /// Files that go into its manifest (a v0 manifest carries only the nine segments).
    files: Vec<&'a CookbookFile>,
    files_sent: u64,
    bytes_sent: u64,
}

/// State of one `execute` call.
struct Run<'a> {
    client: &'a ChefClient,
    options: &'a UploadOptions,
    started: Instant,
    results: Vec<Option<CookbookResult>>,
}

impl Run<'_> {
    fn emit(&self, event: UploadEvent) {
        if let Some(sink) = &self.options.events {
            sink(event);
        }
    }

    fn finish(
        &mut self,
        index: usize,
        cookbook: &LoadedCookbook,
        outcome: Outcome,
        sent: (u64, u64),
        error: Option<UploadError>,
    ) {
        self.emit(UploadEvent::CookbookFinished {
            name: cookbook.name().to_owned(),
            version: cookbook.version().to_owned(),
            outcome,
        });
        self.results[index] = Some(CookbookResult {
            name: cookbook.name().to_owned(),
            version: cookbook.version().to_owned(),
            outcome,
            files_sent: sent.0,
            bytes_sent: sent.1,
            duration: self.started.elapsed(),
            error,
        });
    }

    /// Fails every cookbook still being written with the error `make` gives for it.
    fn fail_all(&mut self, writing: &[Writing<'_>], make: impl Fn(&Writing<'_>) -> UploadError) {
        for w in writing {
            if self.results[w.index].is_none() {
                let error = make(w);
                self.finish(
                    w.index,
                    w.cookbook,
                    Outcome::Failed,
                    (w.files_sent, w.bytes_sent),
                    Some(error),
                );
            }
        }
    }
}

pub(super) async fn execute(
    client: &ChefClient,
    options: &UploadOptions,
    plan: &ServerPlan,
) -> Vec<CookbookResult> {
    let mut run = Run {
        client,
        options,
        started: Instant::now(),
        results: (0..plan.cookbooks.len()).map(|_| None).collect(),
    };
    let all_files = plan.api_version >= ALL_FILES_API_VERSION;
    let mut writing = Vec::new();
    for (index, planned) in plan.cookbooks.iter().enumerate() {
        let cookbook = planned.cookbook.as_ref();
        match planned.action {
            Action::Unchanged => run.finish(index, cookbook, Outcome::Unchanged, (0, 0), None),
            Action::FrozenConflict => {
                run.finish(index, cookbook, Outcome::FrozenConflict, (0, 0), None);
            }
            action @ (Action::Create | Action::Update) => writing.push(Writing {
                index,
                cookbook,
                action,
                files: cookbook
                    .files()
                    .iter()
                    .filter(|f| all_files || f.segment().is_v0())
                    .collect(),
                files_sent: 0,
                bytes_sent: 0,
            }),
        }
    }
    if !writing.is_empty() {
        write(&mut run, &mut writing, plan.api_version).await;
    }
    run.results
        .into_iter()
        .map(|r| r.expect("every planned cookbook gets a result"))
        .collect()
}

/// Sandbox, files, commit, manifests for the cookbooks being written.
async fn write(run: &mut Run<'_>, writing: &mut [Writing<'_>], api_version: u32) {
    // Every checksum of the batch, counted for the first cookbook that has it.
    let mut owners: BTreeMap<String, (usize, &CookbookFile)> = BTreeMap::new();
    for (w, writing) in writing.iter().enumerate() {
        for f in &writing.files {
            owners.entry(f.checksum()).or_insert((w, *f));
        }
    }
    let sandbox = match create_sandbox(run.client, &owners).await {
        Ok(s) => s,
        Err(e) => {
            run.fail_all(writing, |_| e.clone_for_each());
            return;
        }
    };
    let (commit_url, needed) = sandbox;
    for (w, item) in writing.iter().enumerate() {
        let mine = needed.iter().filter(|n| n.owner == w);
        let (files, bytes) = mine.fold((0, 0), |(n, b), x| (n + 1, b + x.file.size()));
        run.emit(UploadEvent::CookbookStarted {
            name: item.cookbook.name().to_owned(),
            version: item.cookbook.version().to_owned(),
            files,
            bytes,
        });
    }
    // Files, then the commit; a commit still refused with 503 after its retries (the server
    // does not see some files) gets one more round of the file PUTs, as the protocol advises.
    let mut resent = false;
    loop {
        let failures = upload_files(run, writing, needed.clone()).await;
        if fail_on_file_error(run, writing, failures) {
            return;
        }
        match commit(run.client, run.options, &commit_url).await {
            Ok(()) => break,
            Err(e) if e.status() == Some(503) && !resent && !needed.is_empty() => {
                tracing::info!(error = %e, "sandbox still incomplete; sending its files again");
                resent = true;
            }
            Err(e) => {
                let source = Arc::new(e);
                run.fail_all(writing, |_| UploadError::Commit {
                    source: Arc::clone(&source),
                });
                return;
            }
        }
    }
    put_manifests(run, writing, api_version).await;
}

/// Fails every cookbook of the batch when a file PUT failed; returns whether it did.
fn fail_on_file_error(
    run: &mut Run<'_>,
    writing: &[Writing<'_>],
    failures: Vec<(usize, &CookbookFile, Arc<Error>)>,
) -> bool {
    if let Some((owner, failed, source)) = failures.into_iter().next() {
        let owner_name = writing[owner].cookbook.name().to_owned();
        let checksum = failed.checksum();
        let path = failed.path().to_owned();
        run.fail_all(writing, |w| {
            match w.files.iter().find(|f| f.checksum() == checksum) {
                Some(own) => UploadError::File {
                    path: own.path().to_owned(),
                    source: Arc::clone(&source),
                },
                None => UploadError::OtherFile {
                    cookbook: owner_name.clone(),
                    path: path.clone(),
                    source: Arc::clone(&source),
                },
            }
        });
        return true;
    }
    false
}

/// Why the sandbox could not be used, handed to every cookbook of the batch.
enum SandboxFailure {
    Request(Arc<Error>),
    Answer {
        url: String,
        path: String,
        checksum: String,
    },
}

impl SandboxFailure {
    fn clone_for_each(&self) -> UploadError {
        match self {
            Self::Request(source) => UploadError::Sandbox {
                source: Arc::clone(source),
            },
            Self::Answer {
                url,
                path,
                checksum,
            } => UploadError::SandboxAnswer {
                url: url.clone(),
                path: path.clone(),
                checksum: checksum.clone(),
            },
        }
    }
}

/// `POST /sandboxes` with every checksum; returns the commit URL and the files to send.
async fn create_sandbox<'a>(
    client: &ChefClient,
    owners: &BTreeMap<String, (usize, &'a CookbookFile)>,
) -> Result<(Url, Vec<Needed<'a>>), SandboxFailure> {
    let checksums: serde_json::Map<String, serde_json::Value> = owners
        .keys()
        .map(|c| (c.clone(), serde_json::Value::Null))
        .collect();
    let body = serde_json::json!({ "checksums": checksums });
    let request_error = |e: Error| SandboxFailure::Request(Arc::new(e));
    let answer: SandboxAnswer = client
        .post("sandboxes", &body)
        .await
        .map_err(request_error)?;
    let shown = client
        .url_for("sandboxes")
        .map(|u| redact_url(&u))
        .unwrap_or_default();
    let commit_url = client.url_for(&answer.uri).map_err(request_error)?;
    let mut needed = Vec::new();
    for (checksum, (owner, file)) in owners {
        let Some(entry) = answer.checksums.get(checksum) else {
            continue;
        };
        if !entry.needs_upload {
            continue;
        }
        let bad = || SandboxFailure::Answer {
            url: shown.clone(),
            path: file.path().to_owned(),
            checksum: checksum.clone(),
        };
        let url = entry.url.as_deref().ok_or_else(bad)?;
        let url = Url::parse(url).map_err(|_| bad())?;
        needed.push(Needed {
            owner: *owner,
            file,
            url,
        });
    }
    Ok((commit_url, needed))
}

/// PUTs the needed files, bounded per server and by the optional global limit. Returns the
/// failures (owner, file, error); counts what was sent on each owner.
async fn upload_files<'a>(
    run: &Run<'_>,
    writing: &mut [Writing<'_>],
    needed: Vec<Needed<'a>>,
) -> Vec<(usize, &'a CookbookFile, Arc<Error>)> {
    let client = run.client;
    let global = run.options.global_limit.clone();
    let bodies = run
        .options
        .bodies
        .clone()
        .unwrap_or_else(|| Arc::new(SharedBodies::new(1)));
    let bodies = &bodies;
    let mut puts = futures::stream::iter(
        needed
            .into_iter()
            .map(|n| {
                let global = global.clone();
                async move {
                    let _permit = match global {
                        Some(limit) => limit.acquire_owned().await.ok(),
                        None => None,
                    };
                    let result = put_sandbox_file(client, bodies, n.file, &n.url).await;
                    (n.owner, n.file, result)
                }
            })
            .collect::<Vec<_>>(),
    )
    .buffer_unordered(run.options.file_concurrency.max(1));
    let mut failures = Vec::new();
    while let Some((owner, file, result)) = puts.next().await {
        match result {
            Ok(()) => {
                let w = &mut writing[owner];
                w.files_sent += 1;
                w.bytes_sent += file.size();
                run.emit(UploadEvent::BytesSent {
                    name: w.cookbook.name().to_owned(),
                    version: w.cookbook.version().to_owned(),
                    bytes: file.size(),
                });
            }
            Err(e) => {
                tracing::debug!(path = file.path(), error = %e, "file upload failed");
                failures.push((owner, file, Arc::new(e)));
            }
        }
    }
    failures
}

/// One file PUT to a sandbox upload URL as knife sends it: `Content-Type:
/// application/x-binary`, `Content-MD5`, exact `Content-Length`; the body from `bodies` (read
/// once for all servers, or streamed). Cookbook uploads and policy pushes both send files so.
///
/// # Errors
/// [`Error::Io`](crate::Error::Io) when the file cannot be read, otherwise the PUT's error.
pub async fn put_sandbox_file(
    client: &ChefClient,
    bodies: &SharedBodies,
    file: &CookbookFile,
    url: &Url,
) -> Result<()> {
    let md5 = base64::engine::general_purpose::STANDARD.encode(file.md5());
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("content-md5"),
        HeaderValue::from_str(&md5).expect("base64 is a valid header value"),
    );
    let body = bodies.body(file).await?;
    client
        .put_unsigned(url, &body.body, &headers)
        .await
        .map(drop)
}

/// `PUT <sandbox uri>` `{"is_completed":true}`, retried on 503 and 400 with back-off.
async fn commit(client: &ChefClient, options: &UploadOptions, url: &Url) -> Result<()> {
    let body = Bytes::from_static(br#"{"is_completed":true}"#);
    let mut delay = options.commit_retry_delay;
    let mut attempt = 0;
    loop {
        match client
            .send_signed(Method::PUT, url, Some(body.clone()))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if matches!(e.status(), Some(400 | 503)) && attempt < options.commit_retries => {
                tracing::debug!(url = %redact_url(url), attempt = attempt + 1, ?delay, error = %e, "sandbox not committed yet; retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A manifest PUT answered 409. When the PUT was retried because its first answer was lost
/// (a proxy's 502, a reset), that first PUT may have stored and frozen this very version, and
/// the retry then meets its own work: the server's copy is compared, and an identical one
/// (frozen, if freezing was asked) is success. Anything else keeps the 409.
async fn identical_on_server(
    client: &ChefClient,
    cookbook: &LoadedCookbook,
    freeze: bool,
    conflict: Error,
) -> Result<()> {
    let Ok(stored) = client
        .cookbook_version(cookbook.name(), cookbook.version())
        .await
    else {
        return Err(conflict);
    };
    let same = cookbook.matches_manifest(&stored).unwrap_or(false);
    if same && (!freeze || crate::cookbook::manifest::is_frozen(&stored)) {
        tracing::debug!(
            cookbook = cookbook.name(),
            version = cookbook.version(),
            "manifest PUT answered 409, but the server holds exactly this version: an earlier attempt stored it"
        );
        Ok(())
    } else {
        Err(conflict)
    }
}

/// `PUT /cookbooks/NAME/VERSION` for each cookbook, wave by wave in dependency order; a
/// cookbook whose dependency failed is not PUT.
async fn put_manifests(run: &mut Run<'_>, writing: &[Writing<'_>], api_version: u32) {
    let cookbooks: Vec<&LoadedCookbook> = writing.iter().map(|w| w.cookbook).collect();
    let mut failed: HashMap<&str, String> = HashMap::new();
    for wave in dependency_order(&cookbooks) {
        let mut ready = Vec::new();
        for w in wave {
            let item = &writing[w];
            let broken = item
                .cookbook
                .metadata()
                .dependencies()
                .find_map(|(dep, _)| failed.get(dep).cloned());
            match broken {
                Some(dependency) => {
                    failed.insert(
                        item.cookbook.name(),
                        format!("{} {}", item.cookbook.name(), item.cookbook.version()),
                    );
                    let error = UploadError::DependencyFailed { dependency };
                    run.finish(
                        item.index,
                        item.cookbook,
                        Outcome::Failed,
                        (item.files_sent, item.bytes_sent),
                        Some(error),
                    );
                }
                None => ready.push(w),
            }
        }
        let client = run.client;
        let (freeze, force) = (run.options.freeze, run.options.force);
        let answers: Vec<(usize, Result<()>)> = futures::stream::iter(
            ready
                .into_iter()
                .map(|w| {
                    let c = writing[w].cookbook;
                    async move {
                        let manifest = c.manifest(api_version, freeze);
                        let query = if force { "?force=true" } else { "" };
                        let path = format!("cookbooks/{}/{}{query}", c.name(), c.version());
                        let answer =
                            match client.put::<_, serde_json::Value>(&path, &manifest).await {
                                Err(e) if e.is_conflict() => {
                                    identical_on_server(client, c, freeze, e).await
                                }
                                other => other.map(drop),
                            };
                        (w, answer)
                    }
                })
                .collect::<Vec<_>>(),
        )
        .buffered(run.options.file_concurrency.max(1))
        .collect()
        .await;
        for (w, answer) in answers {
            let item = &writing[w];
            let sent = (item.files_sent, item.bytes_sent);
            let (outcome, error) = match answer {
                Ok(()) if item.action == Action::Create => (Outcome::Created, None),
                Ok(()) => (Outcome::Updated, None),
                Err(e) if e.is_conflict() => {
                    (Outcome::FrozenConflict, Some(UploadError::Manifest(e)))
                }
                Err(e) => {
                    failed.insert(
                        item.cookbook.name(),
                        format!("{} {}", item.cookbook.name(), item.cookbook.version()),
                    );
                    (Outcome::Failed, Some(UploadError::Manifest(e)))
                }
            };
            run.finish(item.index, item.cookbook, outcome, sent, error);
        }
    }
}
