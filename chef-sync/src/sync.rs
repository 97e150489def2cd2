//! The sync: configuration → cookbooks (loaded once) → every server planned and executed at
//! once → one report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chef_api::cookbook::LoadedCookbook;
use chef_api::upload::{EventSink, SharedBodies, UploadOptions, Uploader};

use crate::config::{ConfigError, LoadOptions, RepoConfig, ServerSpec};
use crate::cookbooks::{CookbookSet, CookbooksError};
use crate::events::{SyncEvent, SyncEventKind, SyncEventSink};
use crate::fanout::{self, ServerJob};
use crate::objects::plan::ObjectSync;
use crate::objects::{ObjectKinds, ObjectPaths, ObjectsError, RepoObjects, fetch_server_objects};
use crate::report::{ReportError, SyncReport};
use chef_api::error::ErrorKind;

/// Why a sync could not run at all. Failures of single servers are not errors: they are in the
/// [`SyncReport`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The repository configuration could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The local cookbooks could not be read.
    #[error(transparent)]
    Cookbooks(#[from] CookbooksError),
    /// `servers` names a server the configuration does not have.
    #[error("no server named '{name}' in the configuration (known: {known})")]
    UnknownServer {
        /// The name asked for.
        name: String,
        /// The servers the configuration has, comma-separated.
        known: String,
    },
    /// The repository's roles, environments or data bags are invalid (every problem with its
    /// file and line); nothing was sent to any server.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// The configuration has no servers (or the filter left none).
    #[error("no servers to sync to (each server needs .chef/NAME/config.yml)")]
    NoServers,
    /// The blocking facade could not start its runtime.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl SyncError {
    /// Where in the repository the problem is, typed (file, line, column), when it is in a
    /// file: the configuration, the Berksfile or its lock, a role, environment or data bag
    /// item.
    pub fn position(&self) -> Option<crate::position::Position> {
        match self {
            Self::Config(e) => e.position(),
            Self::Objects(e) => e.position(),
            Self::Cookbooks(CookbooksError::Berkshelf(e)) => e.position(),
            Self::Cookbooks(CookbooksError::ReadDir { path, .. }) => {
                Some(crate::position::Position::file(path.clone()))
            }
            _ => None,
        }
    }

    /// The server's answer, when the sync could not run because a request failed on one (a
    /// Berksfile source's status, say). Failures of single servers are in the report.
    pub fn response(&self) -> Option<&chef_api::error::ResponseError> {
        match self {
            Self::Cookbooks(e) => e.response(),
            Self::Config(ConfigError::Client { source, .. }) => source.response(),
            _ => None,
        }
    }

    /// The HTTP status, when the sync could not run because a request failed on the
    /// server's answer.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }
}

/// How to sync.
#[derive(Clone)]
pub struct SyncOptions {
    /// Plan only: report what would happen, change nothing.
    pub dry_run: bool,
    /// Upload versions frozen (`"frozen?": true`). `None` does what the tool being replaced
    /// does: with a Berksfile freeze, as `berks upload` does by default (`--no-freeze` is
    /// `Some(false)`); without one do not, as `knife cookbook upload` does (`--freeze` is
    /// `Some(true)`).
    pub freeze: Option<bool>,
    /// Overwrite frozen versions (knife `--force`).
    pub force: bool,
    /// File uploads in flight across all servers (default 1,024). Memory does not grow with
    /// it: file bodies are shared between servers under a global byte budget
    /// ([`SharedBodies`]).
    pub concurrency: usize,
    /// File uploads (and manifest reads) in flight per server (default 128). Each file PUT is
    /// one round trip (the protocol has no batch upload); at 100 ms RTT, 64 in flight left
    /// the server idle between ~20 latency-bound rounds for 1,240 files (knife sends 10 at a
    /// time). 256 was no faster (the file bodies' byte budgets pace the PUTs) and held ~20 MiB
    /// more in connection buffers (benches/README.md, quiet runs).
    pub per_server_concurrency: usize,
    /// Only these servers (empty: all).
    pub servers: Vec<String>,
    /// Used when the sync reads the repository itself: the environment knife.rb sees and
    /// injected keys (its `only` is replaced by `servers`).
    pub load: LoadOptions,
    /// Progress events.
    pub events: Option<SyncEventSink>,
    /// How the Berksfile is installed when the repository has one (cache directory, update,
    /// offline); an empty `env` takes `load.env`, empty `chef_servers` (what
    /// `source :chef_server` means) take the servers being synced.
    pub berkshelf: crate::berkshelf::PrepareOptions,
    /// What to carry: cookbooks, roles, environments, data bags (default: all). An object
    /// kind whose directories (`role_path`, ...) do not exist is left alone on the servers,
    /// so a repository without them syncs cookbooks only.
    pub only: ObjectKinds,
    /// Delete from each server the roles, environments (never `_default`), data bags and
    /// items the repository does not have (knife upload `--purge`); off by default.
    pub purge: bool,
    /// Delete cookbook versions the sync does not carry, except every version an environment
    /// on that server pins; off by default, independent of `purge`.
    pub purge_cookbooks: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            freeze: None,
            force: false,
            concurrency: 1024,
            per_server_concurrency: 128,
            servers: Vec::new(),
            load: LoadOptions::default(),
            events: None,
            berkshelf: crate::berkshelf::PrepareOptions::default(),
            only: ObjectKinds::ALL,
            purge: false,
            purge_cookbooks: false,
        }
    }
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("dry_run", &self.dry_run)
            .field("freeze", &self.freeze)
            .field("force", &self.force)
            .field("concurrency", &self.concurrency)
            .field("per_server_concurrency", &self.per_server_concurrency)
            .field("servers", &self.servers)
            .field("only", &self.only)
            .field("purge", &self.purge)
            .field("purge_cookbooks", &self.purge_cookbooks)
            .finish_non_exhaustive()
    }
}

/// What to sync: an already loaded configuration, or a repository directory to read.
#[derive(Debug, Clone, Copy)]
pub enum Repo<'a> {
    /// A loaded configuration.
    Config(&'a RepoConfig),
    /// A repository root in the seed's layout (`.chef/knife.rb`, `.chef/NAME/config.yml`).
    Path(&'a Path),
}

impl<'a> Repo<'a> {
    /// The configuration: as given, or read from the directory with `load`, limited to
    /// `servers` (all when empty). The one place sync, status and policy push load a repository.
    pub(crate) fn config(
        self,
        load: &LoadOptions,
        servers: &[String],
    ) -> Result<std::borrow::Cow<'a, RepoConfig>, ConfigError> {
        match self {
            Repo::Config(config) => Ok(std::borrow::Cow::Borrowed(config)),
            Repo::Path(root) => {
                let load = LoadOptions {
                    only: servers.to_vec(),
                    ..load.clone()
                };
                RepoConfig::load(root, &load).map(std::borrow::Cow::Owned)
            }
        }
    }
}

impl<'a> From<&'a RepoConfig> for Repo<'a> {
    fn from(config: &'a RepoConfig) -> Self {
        Self::Config(config)
    }
}

impl<'a> From<&'a Path> for Repo<'a> {
    fn from(path: &'a Path) -> Self {
        Self::Path(path)
    }
}

impl<'a> From<&'a PathBuf> for Repo<'a> {
    fn from(path: &'a PathBuf) -> Self {
        Self::Path(path)
    }
}

/// Syncs the repository's cookbooks to every configured server at once.
///
/// Reads the configuration (for [`Repo::Path`]), loads and hashes every cookbook once, then
/// per server, concurrently: one listing plus the manifests needed to plan, and (unless
/// `dry_run`) sandbox, files, commit and manifests in dependency order.
///
/// # Errors
/// Only what stops everything: configuration, cookbook loading, an unknown server name. A
/// failing server is reported in [`SyncReport::servers`] and never stops the others.
pub async fn sync(
    repo: impl Into<Repo<'_>>,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    crate::runtime::seed_signing_in_background();
    let config = repo.into().config(&options.load, &options.servers)?;
    let config = &*config;
    let servers = select_servers(&config.servers, &options.servers)?;
    // Objects are read and validated before any server is asked anything.
    let (object_syncs, object_warnings) = load_objects(&servers, options)?;
    let paths: Vec<PathBuf> = servers
        .iter()
        .flat_map(|s| s.cookbook_path.iter().cloned())
        .collect();
    let freeze = options.freeze.unwrap_or(config.berksfile.is_some());
    let global = Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));
    // Each small file is read once and its bytes shared by every server's PUT.
    let bodies = Arc::new(SharedBodies::new(servers.len()));
    let targets: Vec<(&ServerSpec, Result<Uploader, ReportError>)> = servers
        .iter()
        .map(|spec| {
            let target = client_for(spec).map(|client| {
                // Commit retries and anything the uploader adds later keep their defaults.
                let upload = UploadOptions {
                    freeze,
                    force: options.force,
                    file_concurrency: options.per_server_concurrency.max(1),
                    global_limit: Some(Arc::clone(&global)),
                    bodies: Some(Arc::clone(&bodies)),
                    events: options
                        .events
                        .as_ref()
                        .map(|sink| forward(sink, &spec.name)),
                    ..UploadOptions::default()
                };
                Uploader::new(client, upload)
            });
            (*spec, target)
        })
        .collect();
    // Each cookbook, as soon as it is loaded, with the path it is filed under: every server
    // asks for the manifest planning will need the moment both its listing and that cookbook
    // are there, not after the whole repository is hashed.
    let (loaded_tx, loaded_rx) = tokio::sync::watch::channel(Vec::<Loaded>::new());
    // With a Berksfile the lock graph is what gets uploaded (as `berks upload` does);
    // without one, every cookbook on each server's cookbook_path.
    let load = async {
        // Dropped when loading ends (or fails): the servers' prefetches then know it is over.
        let loaded_tx = loaded_tx;
        let on_loaded = |path: &Path, cookbook: &Arc<LoadedCookbook>| {
            loaded_tx.send_modify(|all| all.push((path.to_path_buf(), Arc::clone(cookbook))));
        };
        if !options.only.cookbooks {
            return Ok((CookbookSet::default(), Vec::new()));
        }
        Ok::<_, SyncError>(match &config.berksfile {
            Some(berksfile) => {
                let mut berks = options.berkshelf.clone();
                if berks.env.is_empty() {
                    berks.env = options.load.env.clone();
                }
                // `source :chef_server` in the seed's layout: the servers being synced, as
                // each `CHEF_SERVER=NAME berks install` saw its own.
                if berks.chef_servers.is_empty() {
                    berks.chef_servers = servers.iter().map(|s| (*s).clone()).collect();
                }
                let (set, prepared) = CookbookSet::load_berksfile_with(
                    &config.root,
                    berksfile,
                    &berks,
                    0,
                    &on_loaded,
                )
                .await?;
                (set, prepared.warnings)
            }
            None => (
                CookbookSet::load_with(&paths, 0, &on_loaded).await?,
                Vec::new(),
            ),
        })
    };
    // Every server's listing, API version and objects are asked while the repository is
    // read and hashed: they do not depend on it, and the round trips then cost no time. The
    // manifests planning needs follow each listing, cookbook by cookbook as they are loaded.
    let ahead = futures::future::join_all(targets.iter().zip(&object_syncs).map(
        |((spec, target), objects)| {
            let filed_under: Vec<PathBuf> = match &config.berksfile {
                Some(berksfile) => vec![berksfile.clone()],
                None => spec.cookbook_path.clone(),
            };
            let loaded = loaded_cookbooks(loaded_rx.clone(), filed_under);
            async move {
                let Ok(uploader) = target else {
                    return (None, None);
                };
                let state = async {
                    let state = uploader.server_state().await?;
                    Ok(uploader.prefetch_manifests(state, loaded).await)
                };
                let fetch = async {
                    match objects {
                        Some(sync) => Some(
                            fetch_server_objects(
                                uploader.client(),
                                sync.read_kinds(),
                                sync.concurrency,
                                std::future::ready(Some(Arc::clone(&sync.repo))),
                            )
                            .await,
                        ),
                        None => None,
                    }
                };
                let (state, fetched) = futures::join!(state, fetch);
                (Some(state), fetched)
            }
        },
    ));
    drop(loaded_rx);
    // A repository that cannot be read fails at once, without waiting for slow servers.
    let ((cookbooks, berks_warnings), states) =
        futures::try_join!(load, async { Ok(ahead.await) })?;
    let clients: Vec<(String, chef_api::client::ChefClient)> = targets
        .iter()
        .filter_map(|(spec, target)| {
            let uploader = target.as_ref().ok()?;
            Some((spec.name.clone(), uploader.client().clone()))
        })
        .collect();
    let mut jobs = Vec::with_capacity(targets.len());
    for (((spec, target), (state, objects_state)), objects) in
        targets.into_iter().zip(states).zip(object_syncs)
    {
        jobs.push(ServerJob {
            name: spec.name.clone(),
            url: spec.url.clone(),
            target,
            cookbooks: match &config.berksfile {
                _ if !options.only.cookbooks => Vec::new(),
                Some(berksfile) => cookbooks.for_paths(std::slice::from_ref(berksfile))?,
                None => cookbooks.for_paths(&spec.cookbook_path)?,
            },
            state,
            objects,
            objects_state,
        });
    }
    let reports = fanout::run(jobs, options.dry_run, options.events.clone()).await;
    // A server whose licence is in its grace period says so on every answer (X-Ops-License).
    let license_warnings: Vec<String> = clients
        .iter()
        .filter_map(|(name, client)| {
            client
                .license_notice()
                .map(|notice| format!("{name} ({}): licence: {notice}", client.server_url()))
        })
        .collect();
    let link_warnings: Vec<String> = cookbooks
        .all()
        .iter()
        .flat_map(|c| {
            c.skipped_links()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let warnings = config
        .warnings
        .iter()
        .map(|w| match w.line {
            Some(line) => format!("{}:{line}: {}", w.file.display(), w.message),
            None => format!("{}: {}", w.file.display(), w.message),
        })
        .chain(berks_warnings)
        .chain(object_warnings)
        .chain(link_warnings)
        .chain(license_warnings)
        .collect();
    Ok(SyncReport::new(
        options.dry_run,
        reports,
        warnings,
        started.elapsed(),
    ))
}

/// A loaded cookbook and the `cookbook_path` entry (or Berksfile) it is filed under.
type Loaded = (PathBuf, Arc<LoadedCookbook>);

/// The cookbooks filed under `paths`, each as soon as it is loaded; ends when loading does.
fn loaded_cookbooks(
    loaded: tokio::sync::watch::Receiver<Vec<Loaded>>,
    paths: Vec<PathBuf>,
) -> impl futures::Stream<Item = Arc<LoadedCookbook>> + Send {
    let all = futures::stream::unfold((loaded, 0usize), |(mut loaded, next)| async move {
        loop {
            let item = loaded.borrow_and_update().get(next).cloned();
            if let Some(item) = item {
                return Some((item, (loaded, next + 1)));
            }
            if loaded.changed().await.is_err() {
                // Loading is over: what it sent before it ended is still there to take.
                let item = loaded.borrow().get(next).cloned();
                return item.map(|item| (item, (loaded, next + 1)));
            }
        }
    });
    futures::StreamExt::filter_map(all, move |(path, cookbook)| {
        std::future::ready(paths.contains(&path).then_some(cookbook))
    })
}

/// [`sync`] for callers without an async runtime (Python, scripts): runs it on a new
/// multi-threaded tokio runtime sized by [`crate::runtime::build`].
///
/// # Errors
/// As [`sync`], plus [`SyncError::Runtime`].
pub fn sync_blocking<'a>(
    repo: impl Into<Repo<'a>>,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let runtime = crate::runtime::build().map_err(SyncError::Runtime)?;
    runtime.block_on(sync(repo, options))
}

/// Each server's object sync: the repository's objects under its `object_paths` (read once
/// per distinct set of paths, usually once), limited to the kinds asked for whose
/// directories exist. `None` for a server with no object kind left.
fn load_objects(
    servers: &[&ServerSpec],
    options: &SyncOptions,
) -> Result<(Vec<Option<ObjectSync>>, Vec<String>), SyncError> {
    let mut loaded: Vec<(ObjectPaths, Arc<RepoObjects>)> = Vec::new();
    let mut warnings = Vec::new();
    let mut out = Vec::with_capacity(servers.len());
    for spec in servers {
        let paths = &spec.object_paths;
        let exists = |dirs: &[PathBuf]| dirs.iter().any(|d| d.is_dir());
        let kinds = ObjectKinds {
            cookbooks: options.only.cookbooks,
            roles: options.only.roles && exists(&paths.role_path),
            environments: options.only.environments && exists(&paths.environment_path),
            data_bags: options.only.data_bags && exists(&paths.data_bag_path),
        };
        let purges_cookbooks = options.purge_cookbooks && kinds.cookbooks;
        if !(kinds.any_objects() || purges_cookbooks) {
            out.push(None);
            continue;
        }
        let repo = match loaded.iter().find(|(p, _)| p == paths) {
            Some((_, repo)) => Arc::clone(repo),
            None => {
                let repo = Arc::new(RepoObjects::load(paths, &options.load.env)?);
                warnings.extend(repo.warnings.iter().cloned());
                loaded.push((paths.clone(), Arc::clone(&repo)));
                repo
            }
        };
        out.push(Some(ObjectSync {
            repo,
            kinds,
            purge: options.purge,
            purge_cookbooks: options.purge_cookbooks,
            concurrency: options.per_server_concurrency.max(1),
        }));
    }
    Ok((out, warnings))
}

/// The servers to sync to (or read the status of): all, or those named (each must exist).
pub(crate) fn select_servers<'a>(
    all: &'a [ServerSpec],
    names: &[String],
) -> Result<Vec<&'a ServerSpec>, SyncError> {
    let selected: Vec<&ServerSpec> = if names.is_empty() {
        all.iter().collect()
    } else {
        let by_name: BTreeMap<&str, &ServerSpec> =
            all.iter().map(|s| (s.name.as_str(), s)).collect();
        names
            .iter()
            .map(|n| {
                by_name
                    .get(n.as_str())
                    .copied()
                    .ok_or_else(|| SyncError::UnknownServer {
                        name: n.clone(),
                        known: by_name.keys().copied().collect::<Vec<_>>().join(", "),
                    })
            })
            .collect::<Result<_, _>>()?
    };
    if selected.is_empty() {
        return Err(SyncError::NoServers);
    }
    Ok(selected)
}

/// The server's client, or the reason (naming server and URL) it cannot be built.
pub(crate) fn client_for(spec: &ServerSpec) -> Result<chef_api::client::ChefClient, ReportError> {
    spec.client().map_err(|e| {
        let base = match &e {
            ConfigError::Client { source, .. } => ReportError::from_api(source, &spec.name),
            _ => ReportError::new(ErrorKind::Config, "", &spec.name),
        };
        ReportError {
            message: e.to_string(),
            ..base
        }
    })
}

/// An upload event sink that tags events with the server's name.
fn forward(sink: &SyncEventSink, server: &str) -> EventSink {
    let sink = Arc::clone(sink);
    let server: Arc<str> = Arc::from(server);
    Arc::new(move |event| {
        sink(SyncEvent {
            server: Arc::clone(&server),
            kind: SyncEventKind::Upload(event),
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeySource;

    /// A Berksfile source's failed download, wrapped the way a sync reports it.
    fn failed_download(source: crate::berkshelf::sources::SourceError) -> SyncError {
        use crate::berkshelf::install::{BerksInstallError, InstallError};
        let install = InstallError::Download {
            name: "apt".into(),
            version: chef_api::version::Version::new(7, 1, 1),
            source,
        };
        let prepare =
            crate::berkshelf::PrepareError::Install(BerksInstallError::Install(Box::new(install)));
        SyncError::Cookbooks(CookbooksError::Berkshelf(Box::new(prepare)))
    }

    #[test]
    fn sync_error_answers_the_status_of_the_response_it_came_from() {
        use crate::berkshelf::sources::SourceError;
        use crate::berkshelf::supermarket::SupermarketError;
        use chef_api::error::ResponseError;
        let url = "https://supermarket.example/api/v1/cookbooks/apt/versions/7.1.1/download";
        let answer = ResponseError::new(503, "GET", url, b"maintenance");
        let e = failed_download(SourceError::Supermarket(SupermarketError::Status(
            Box::new(answer),
        )));
        assert_eq!(e.status(), Some(503), "{e}");
        assert_eq!(e.response().unwrap().url, url);
        assert!(e.to_string().contains("maintenance"), "{e}");

        let not_found = chef_api::Error::from_response(ResponseError::new(
            404,
            "GET",
            "https://chef.example/organizations/o/universe",
            br#"{"error":["not found"]}"#,
        ));
        let e = failed_download(SourceError::ChefServer {
            url: "https://chef.example/organizations/o".into(),
            source: Box::new(not_found),
        });
        assert_eq!(e.status(), Some(404));
        assert_eq!(e.response().unwrap().messages, ["not found"]);

        let local = failed_download(SourceError::Task {
            what: "extracting".into(),
            message: "panicked".into(),
        });
        assert_eq!((local.status(), local.response()), (None, None));
        assert_eq!(SyncError::NoServers.status(), None);
    }

    fn spec(name: &str) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            url: format!("http://127.0.0.1:1/{name}"),
            client_name: "pivotal".into(),
            key: KeySource::Path(PathBuf::from("/nonexistent/private.pem")),
            cookbook_path: vec![],
            object_paths: crate::objects::ObjectPaths::default(),
            ssl_verify: true,
            ssl_ca_file: None,
            trusted_certs_dir: None,
            http_proxy: None,
            https_proxy: None,
            no_proxy: None,
            knife: BTreeMap::new(),
        }
    }

    #[test]
    fn server_filter_keeps_named_servers_and_rejects_unknown_ones() {
        let all = [spec("eu"), spec("us")];
        let picked = select_servers(&all, &["us".into()]).unwrap();
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].name, "us");
        assert_eq!(select_servers(&all, &[]).unwrap().len(), 2);
        let err = select_servers(&all, &["ap".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'ap'") && err.contains("eu, us"), "{err}");
        assert!(matches!(
            select_servers(&[], &[]),
            Err(SyncError::NoServers)
        ));
    }

    #[test]
    fn the_sync_future_is_send_so_bindings_can_spawn_it() {
        fn assert_send<T: Send>(_: &T) {}
        let config = RepoConfig {
            root: PathBuf::from("/"),
            servers: vec![],
            berksfile: None,
            warnings: vec![],
        };
        let options = SyncOptions::default();
        let future = sync(&config, &options);
        assert_send(&future);
    }

    /// Each cookbook filed under the server's paths comes out as soon as it is sent, before
    /// loading ends; the stream ends when loading does, with nothing lost in between.
    #[tokio::test]
    async fn loaded_cookbooks_come_one_by_one_and_end_with_the_load() {
        use futures::StreamExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let cookbook = |name: &str| {
            let dir = tmp.path().join(name);
            std::fs::create_dir_all(dir.join("recipes")).unwrap();
            std::fs::write(
                dir.join("metadata.json"),
                format!(r#"{{"name": "{name}", "version": "1.0.0"}}"#),
            )
            .unwrap();
            std::fs::write(dir.join("recipes/default.rb"), "log 'x'\n").unwrap();
            Arc::new(LoadedCookbook::load(&dir).unwrap())
        };
        let (mine, other) = (
            PathBuf::from("/repo/cookbooks"),
            PathBuf::from("/elsewhere"),
        );
        let (tx, rx) = tokio::sync::watch::channel(Vec::<Loaded>::new());
        let mut stream = Box::pin(loaded_cookbooks(rx, vec![mine.clone()]));
        tx.send_modify(|all| all.push((mine.clone(), cookbook("a"))));
        let first = stream.next().await.unwrap();
        assert_eq!(first.name(), "a", "handed over before loading ended");
        tx.send_modify(|all| {
            all.push((other.clone(), cookbook("x")));
            all.push((mine.clone(), cookbook("b")));
        });
        tx.send_modify(|all| all.push((mine.clone(), cookbook("c"))));
        drop(tx);
        let rest: Vec<String> = stream.map(|c| c.name().to_owned()).collect().await;
        assert_eq!(
            rest,
            ["b", "c"],
            "other paths' cookbooks are not this server's"
        );
    }

    #[tokio::test]
    async fn an_unreadable_key_fails_only_that_server() {
        let config = RepoConfig {
            root: PathBuf::from("/"),
            servers: vec![spec("eu")],
            berksfile: None,
            warnings: vec![],
        };
        let report = sync(&config, &SyncOptions::default()).await.unwrap();
        assert!(!report.ok);
        let err = report.servers[0].error.as_ref().unwrap();
        assert!(err.message.contains("private.pem"), "{err}");
        assert_eq!(err.kind, ErrorKind::Key, "{err:?}");
        assert_eq!(err.server.as_deref(), Some("eu"));
    }
}
