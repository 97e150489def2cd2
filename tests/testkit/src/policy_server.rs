//! An in-process erchef-like server for policy tests (goiardi serves no policies), following
//! the protocol notes' erchef rules, including what erchef does **not** check:
//!
//! * `GET cookbook_artifacts` lists every identifier per name (no `version`); `PUT
//!   cookbook_artifacts/N/ID` checks only the body's shape, `name`/`identifier` syntax and that
//!   they equal the URL's, then answers 409 `{"error":"Cookbook artifact already exists"}`
//!   for an existing identifier (before any checksum check), 400 for an uncommitted checksum,
//!   else 201 `{"uri": ".../cookbook_artifacts/N"}`; the identifier is never compared with
//!   the content;
//! * sandboxes: `POST sandboxes` → `needs_upload` per checksum, file PUTs to a "bookshelf"
//!   URL checked against `Content-MD5`, commit refused with 503 while a file is missing;
//! * `PUT policy_groups/G/policies/N` validates the document (names, run list, cookbook_locks
//!   shape, name = URL) and **never checks that the artifacts exist**; a revision id already
//!   stored keeps its first document; 201 for a new association, 200 for a repointed one;
//! * API versions: the response header names max 2 (or the configured max); a request above
//!   the max gets a 406 naming it.
//!
//! Signatures are not verified (chef-api's signing has its own oracle tests). Faults can be
//! scripted per request ([`Fault`]). Every request is logged, unless the fake was started with
//! [`FakeErchef::start_lean`] (benchmarks: it keeps only what a server keeps, and its upload
//! URLs point at a bare HTTP/1.1 "bookshelf" of its own instead of wiremock).

mod bookshelf;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use md5::Digest as _;
use serde_json::{Map, Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The organisation every fake serves.
pub const ORG: &str = "acme";

/// What a scripted fault does.
#[derive(Debug, Clone)]
pub enum FaultAction {
    /// Answer with this status and JSON body instead of handling the request.
    Status(u16, Value),
    /// Delete this artifact (name, identifier) first, then handle the request normally (a
    /// concurrent `knife` or cleanup job).
    DeleteArtifact(String, String),
}

/// A fault for the requests matching `method` and the org-relative `path` (without query),
/// from the `from`-th (1-based, counted from when the fault is added) on, `times` of them;
/// retries of a failed request count as further requests.
#[derive(Debug, Clone)]
pub struct Fault {
    /// HTTP method.
    pub method: &'static str,
    /// Org-relative path, e.g. `cookbook_artifacts` or `policy_groups/prod/policies/web`.
    pub path: String,
    /// First occurrence affected (1-based; 1 for all).
    pub from: usize,
    /// How many occurrences from `from` on (0: all of them).
    pub times: usize,
    /// What happens.
    pub action: FaultAction,
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// Method.
    pub method: String,
    /// Org-relative path (bookshelf PUTs as `bookshelf/CHECKSUM`), query dropped.
    pub path: String,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// The server's state.
#[derive(Debug, Default)]
pub struct State {
    /// Highest API version served.
    pub max_api_version: u32,
    /// Committed checksums (usable by manifests).
    pub committed: BTreeSet<String>,
    /// Uploaded file bodies by checksum (empty bodies in a [`FakeErchef::start_lean`] fake,
    /// which keeps only the checksums).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Open sandboxes: id → checksums.
    pub sandboxes: BTreeMap<String, BTreeSet<String>>,
    /// Artifacts: name → identifier → stored body.
    pub artifacts: BTreeMap<String, BTreeMap<String, Value>>,
    /// Policy revisions: name → revision id → document.
    pub revisions: BTreeMap<String, BTreeMap<String, Value>>,
    /// Groups: group → policy → revision id.
    pub groups: BTreeMap<String, BTreeMap<String, String>>,
    /// Every request, in arrival order (none in a [`FakeErchef::start_lean`] fake).
    pub log: Vec<Logged>,
    /// Scripted faults.
    pub faults: Vec<Fault>,
    /// Delay added to every answer (a round trip to a distant region).
    pub delay: std::time::Duration,
    /// The base URL handed out in sandbox upload URLs and `uri`s (default: the mock's own;
    /// set it to a proxy in front of the fake).
    pub public_base: Option<String>,
    /// The base URL of sandbox upload URLs when it is not [`State::public_base`]: a lean
    /// fake's own bookshelf, or a proxy in front of it.
    pub bookshelf_base: Option<String>,
    /// The round trip a lean fake's bookshelf plays ([`FakeErchef::set_bookshelf_rtt`]).
    pub bookshelf_rtt: std::time::Duration,
    counts: BTreeMap<(String, String), usize>,
    next_sandbox: u64,
    lean: bool,
}

/// A running fake: the mock server and its state.
pub struct FakeErchef {
    /// The wiremock server.
    pub server: MockServer,
    state: Arc<Mutex<State>>,
    bookshelf: Option<bookshelf::Bookshelf>,
}

impl FakeErchef {
    /// Starts a fake serving API versions 0..=2.
    pub async fn start() -> Self {
        Self::start_with_max_api(2).await
    }

    /// Starts a fake serving API versions 0..=`max`.
    pub async fn start_with_max_api(max: u32) -> Self {
        Self::start_on(MockServer::start().await, max, false).await
    }

    /// Starts a fake serving API versions 0..=2 that keeps only what a server keeps, for
    /// benchmarks: wiremock records no requests, [`State::log`] stays empty and uploaded files
    /// are kept as their checksums (empty bodies in [`State::files`]). The sandbox upload URLs
    /// point at a bare HTTP/1.1 server of the fake's own ([`FakeErchef::bookshelf_address`]):
    /// wiremock 0.6 keeps a copy of every request its one mock matched (it has no switch for
    /// that), i.e. of every uploaded byte. The bookshelf checks each upload as erchef's does
    /// (the body's MD5 must be the checksum of the URL and the `Content-MD5` header), and the
    /// commit still fails while a checksum is missing. It behaves the same otherwise (faults
    /// included, `bookshelf/CHECKSUM` paths as with wiremock).
    pub async fn start_lean() -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let mut fake = Self::start_on(server, 2, true).await;
        let shelf = bookshelf::Bookshelf::start(Arc::clone(&fake.state))
            .expect("the lean fake's bookshelf cannot listen on 127.0.0.1");
        fake.state().bookshelf_base = Some(format!("http://{}", shelf.address()));
        fake.bookshelf = Some(shelf);
        fake
    }

    async fn start_on(server: MockServer, max: u32, lean: bool) -> Self {
        let state = Arc::new(Mutex::new(State {
            max_api_version: max,
            lean,
            ..State::default()
        }));
        Mock::given(wiremock::matchers::any())
            .respond_with(Handler {
                state: Arc::clone(&state),
                base: server.uri(),
            })
            .mount(&server)
            .await;
        Self {
            server,
            state,
            bookshelf: None,
        }
    }

    /// Where a lean fake's bookshelf listens (`None` for [`FakeErchef::start`]'s fakes, whose
    /// uploads go to wiremock).
    pub fn bookshelf_address(&self) -> Option<std::net::SocketAddr> {
        self.bookshelf.as_ref().map(bookshelf::Bookshelf::address)
    }

    /// Hands out `base` (e.g. a delaying proxy's URL in front of
    /// [`FakeErchef::bookshelf_address`]) in sandbox upload URLs.
    pub fn set_bookshelf_public_base(&self, base: String) {
        self.state().bookshelf_base = Some(base);
    }

    /// Makes a lean fake's bookshelf answer as if it were `rtt` away, without a proxy in
    /// front of it: each answer leaves `rtt` after its request arrived, and a new connection
    /// is served only `rtt` after it was accepted (the TCP handshake's round trip, which a
    /// proxy on loopback does not play). For HTTP/1.1, one request at a time per connection,
    /// a client sees the same times as behind a proxy delaying each direction by `rtt / 2`;
    /// benchmarks use it so that the uploads' bytes do not cross two more loopback hops and a
    /// proxy's buffers on the cores the client runs on.
    pub fn set_bookshelf_rtt(&self, rtt: std::time::Duration) {
        self.state().bookshelf_rtt = rtt;
    }

    /// The organisation URL clients use.
    pub fn org_url(&self) -> String {
        format!("{}/organizations/{ORG}", self.server.uri())
    }

    /// The state (for assertions and setup).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a fault; `from` counts the matching requests that arrive after this call.
    pub fn fault(&self, mut fault: Fault) {
        let mut st = self.state();
        let seen = st
            .counts
            .get(&(fault.method.to_owned(), fault.path.clone()))
            .copied()
            .unwrap_or(0);
        fault.from += seen;
        st.faults.push(fault);
    }

    /// Adds `delay` to every answer from now on.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.state().delay = delay;
    }

    /// Hands out `base` (e.g. a delaying proxy's URL) in upload URLs and `uri`s.
    pub fn set_public_base(&self, base: String) {
        self.state().public_base = Some(base);
    }

    /// The revision group `g` points policy `n` at.
    pub fn group_revision(&self, g: &str, n: &str) -> Option<String> {
        self.state().groups.get(g).and_then(|p| p.get(n)).cloned()
    }

    /// The request log so far, and clears it.
    pub fn take_log(&self) -> Vec<Logged> {
        std::mem::take(&mut self.state().log)
    }
}

struct Handler {
    state: Arc<Mutex<State>>,
    base: String,
}

fn error(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn is_id(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `X`, `X.Y`, `X.Y.Z`, optionally after `= `.
fn is_version(s: &str) -> bool {
    let s = s.strip_prefix("= ").unwrap_or(s);
    let parts: Vec<&str> = s.split('.').collect();
    (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_recipe(s: &str) -> bool {
    s.strip_prefix("recipe[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.split_once("::"))
        .is_some_and(|(c, r)| !c.is_empty() && !r.is_empty())
}

const SEGMENTS: [&str; 9] = [
    "recipes",
    "definitions",
    "libraries",
    "attributes",
    "files",
    "templates",
    "resources",
    "providers",
    "root_files",
];

impl Handler {
    fn api_header(&self, max: u32, requested: u32) -> String {
        json!({"min_version": "0", "max_version": max.to_string(),
               "request_version": requested.to_string(),
               "response_version": requested.min(max).to_string()})
        .to_string()
    }

    fn handle(&self, st: &mut State, method: &str, path: &str, req: &Request) -> ResponseTemplate {
        let parts: Vec<&str> = path.split('/').collect();
        let base = st.public_base.clone().unwrap_or_else(|| self.base.clone());
        let org = format!("{base}/organizations/{ORG}");
        match (method, parts.as_slice()) {
            ("GET", ["cookbook_artifacts"]) => {
                let listing: Map<String, Value> = st
                    .artifacts
                    .iter()
                    .filter(|(_, ids)| !ids.is_empty())
                    .map(|(name, ids)| {
                        let versions: Vec<Value> = ids
                            .keys()
                            .map(|id| json!({"url": format!("{org}/cookbook_artifacts/{name}/{id}"), "identifier": id}))
                            .collect();
                        (name.clone(), json!({"url": format!("{org}/cookbook_artifacts/{name}"), "versions": versions}))
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(Value::Object(listing))
            }
            ("GET", ["cookbook_artifacts", name, id]) => {
                match st.artifacts.get(*name).and_then(|ids| ids.get(*id)) {
                    Some(body) => {
                        let mut body = body.clone();
                        if let Some(o) = body.as_object_mut() {
                            o.remove("json_class");
                        }
                        ResponseTemplate::new(200).set_body_json(body)
                    }
                    None => error(404, json!({"error": ["not_found"]})),
                }
            }
            ("PUT", ["cookbook_artifacts", name, id]) => self.put_artifact(st, name, id, req, &org),
            ("POST", ["sandboxes"]) => {
                let Ok(body) = req.body_json::<Value>() else {
                    return error(400, json!({"error": ["invalid JSON"]}));
                };
                let Some(checksums) = body.get("checksums").and_then(Value::as_object) else {
                    return error(400, json!({"error": ["Field 'checksums' missing"]}));
                };
                st.next_sandbox += 1;
                let id = format!("{:032x}", st.next_sandbox);
                let shelf = st.bookshelf_base.clone().unwrap_or_else(|| base.clone());
                let mut answer = Map::new();
                for c in checksums.keys() {
                    let needs = !st.committed.contains(c);
                    let mut entry = json!({"needs_upload": needs});
                    if needs {
                        entry["url"] = format!("{shelf}/bookshelf/{c}").into();
                    }
                    answer.insert(c.clone(), entry);
                }
                st.sandboxes
                    .insert(id.clone(), checksums.keys().cloned().collect());
                ResponseTemplate::new(201).set_body_json(json!({
                    "uri": format!("{org}/sandboxes/{id}"), "sandbox_id": id, "checksums": answer
                }))
            }
            ("PUT", ["sandboxes", id]) => {
                let Some(checksums) = st.sandboxes.get(*id).cloned() else {
                    return error(404, json!({"error": ["No such sandbox"]}));
                };
                if let Some(missing) = checksums.iter().find(|c| !st.files.contains_key(*c)) {
                    return error(
                        503,
                        json!({"error": [format!("checksum {missing} not uploaded")]}),
                    );
                }
                st.committed.extend(checksums);
                st.sandboxes.remove(*id);
                ResponseTemplate::new(200).set_body_json(json!({"guid": id, "is_completed": true}))
            }
            ("GET", ["policy_groups"]) => {
                let listing: Map<String, Value> = st
                    .groups
                    .iter()
                    .map(|(g, policies)| {
                        let mut entry = json!({"uri": format!("{org}/policy_groups/{g}")});
                        if !policies.is_empty() {
                            entry["policies"] = policies
                                .iter()
                                .map(|(n, r)| (n.clone(), json!({"revision_id": r})))
                                .collect::<Map<_, _>>()
                                .into();
                        }
                        (g.clone(), entry)
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(Value::Object(listing))
            }
            ("GET", ["policy_groups", g, "policies", n]) => {
                match st
                    .groups
                    .get(*g)
                    .and_then(|p| p.get(*n))
                    .and_then(|r| st.revisions.get(*n).and_then(|revs| revs.get(r)))
                {
                    Some(doc) => ResponseTemplate::new(200).set_body_json(doc.clone()),
                    None => error(
                        404,
                        json!({"error": [format!("Cannot load policy {n} in policy group {g}")]}),
                    ),
                }
            }
            ("PUT", ["policy_groups", g, "policies", n]) => self.put_policy(st, g, n, req, &org),
            _ => error(
                404,
                json!({"error": [format!("no route for {method} {path}")]}),
            ),
        }
    }

    fn put_artifact(
        &self,
        st: &mut State,
        name: &str,
        id: &str,
        req: &Request,
        org: &str,
    ) -> ResponseTemplate {
        let Ok(Value::Object(body)) = req.body_json::<Value>() else {
            return error(400, json!({"error": ["Incomplete JSON"]}));
        };
        for (field, ok) in [("name", is_name as fn(&str) -> bool), ("identifier", is_id)] {
            match body.get(field).and_then(Value::as_str) {
                None if !body.contains_key(field) => {
                    return error(400, json!({"error": [format!("Field '{field}' missing")]}));
                }
                Some(v) if ok(v) => {}
                _ => return error(400, json!({"error": [format!("Field '{field}' invalid")]})),
            }
        }
        if body["name"] != name {
            return error(
                400,
                json!({"error": [format!("Field 'name' invalid : {name} does not match {}", body["name"].as_str().unwrap_or_default())]}),
            );
        }
        if body["identifier"] != id {
            return error(
                400,
                json!({"error": [format!("Field 'identifier' invalid : {id} does not match {}", body["identifier"].as_str().unwrap_or_default())]}),
            );
        }
        let mut checksums = Vec::new();
        for key in std::iter::once("all_files").chain(SEGMENTS) {
            let Some(records) = body.get(key) else {
                continue;
            };
            let Some(records) = records.as_array() else {
                return error(500, json!({"error": "internal service error"}));
            };
            for r in records {
                match r.get("checksum").and_then(Value::as_str) {
                    Some(c) => checksums.push(c.to_owned()),
                    None => return error(500, json!({"error": "internal service error"})),
                }
            }
        }
        if st
            .artifacts
            .get(name)
            .is_some_and(|ids| ids.contains_key(id))
        {
            return error(409, json!({"error": "Cookbook artifact already exists"}));
        }
        if checksums.iter().any(|c| !st.committed.contains(c)) {
            return error(
                400,
                json!({"error": ["Manifest has a checksum that hasn't been uploaded."]}),
            );
        }
        st.artifacts
            .entry(name.to_owned())
            .or_default()
            .insert(id.to_owned(), Value::Object(body));
        let uri = format!("{org}/cookbook_artifacts/{name}");
        ResponseTemplate::new(201)
            .insert_header("Location", uri.as_str())
            .set_body_json(json!({ "uri": uri }))
    }

    fn put_policy(
        &self,
        st: &mut State,
        group: &str,
        name: &str,
        req: &Request,
        org: &str,
    ) -> ResponseTemplate {
        let Ok(Value::Object(doc)) = req.body_json::<Value>() else {
            return error(400, json!({"error": ["Incomplete JSON"]}));
        };
        for field in ["revision_id", "name"] {
            match doc.get(field).and_then(Value::as_str) {
                Some(v) if is_id(v) => {}
                None if !doc.contains_key(field) => {
                    return error(400, json!({"error": [format!("Field '{field}' missing")]}));
                }
                _ => return error(400, json!({"error": [format!("Field '{field}' invalid")]})),
            }
        }
        let run_list_ok = doc
            .get("run_list")
            .and_then(Value::as_array)
            .is_some_and(|items| items.iter().all(|i| i.as_str().is_some_and(is_recipe)));
        if !run_list_ok {
            return error(
                400,
                json!({"error": ["Field 'run_list' is not a valid run list"]}),
            );
        }
        let Some(locks) = doc.get("cookbook_locks").and_then(Value::as_object) else {
            return error(400, json!({"error": ["Field 'cookbook_locks' invalid"]}));
        };
        for (cookbook, lock) in locks {
            let ok = is_name(cookbook)
                && lock
                    .get("identifier")
                    .and_then(Value::as_str)
                    .is_some_and(is_id)
                && lock
                    .get("version")
                    .and_then(Value::as_str)
                    .is_some_and(is_version)
                && lock
                    .get("dotted_decimal_identifier")
                    .is_none_or(|d| d.as_str().is_some_and(is_version));
            if !ok {
                return error(
                    400,
                    json!({"error": [format!("Field 'cookbook_locks.{cookbook}' is not valid")]}),
                );
            }
        }
        if doc["name"] != name {
            return error(
                400,
                json!({"error": [format!("Field 'name' invalid : {name} does not match {}", doc["name"].as_str().unwrap_or_default())]}),
            );
        }
        // No check that the artifacts exist: erchef's silence.
        let revision = doc["revision_id"].as_str().unwrap_or_default().to_owned();
        let mut stored = doc.clone();
        stored.remove("policy_group");
        st.revisions
            .entry(name.to_owned())
            .or_default()
            .entry(revision.clone())
            .or_insert(Value::Object(stored));
        let previous = st
            .groups
            .entry(group.to_owned())
            .or_default()
            .insert(name.to_owned(), revision);
        let body = Value::Object(doc);
        if previous.is_some() {
            ResponseTemplate::new(200).set_body_json(body)
        } else {
            ResponseTemplate::new(201)
                .insert_header(
                    "Location",
                    format!("{org}/policy_groups/{group}/policies/{name}").as_str(),
                )
                .set_body_json(body)
        }
    }

    fn put_file(&self, st: &mut State, checksum: &str, req: &Request) -> ResponseTemplate {
        let header = req.headers.get("content-md5").and_then(|v| v.to_str().ok());
        if let Err((status, body)) = check_upload(checksum, &req.body, header) {
            return error(status, body);
        }
        let body = if st.lean {
            Vec::new()
        } else {
            req.body.clone()
        };
        st.files.insert(checksum.to_owned(), body);
        ResponseTemplate::new(204)
    }
}

/// What bookshelf checks of an upload to `bookshelf/CHECKSUM`: the body's MD5 is the URL's
/// checksum and the `Content-MD5` header (base64) names it too; else 400.
fn check_upload(
    checksum: &str,
    body: &[u8],
    content_md5: Option<&str>,
) -> Result<(), (u16, Value)> {
    let digest = md5::Md5::digest(body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let expected = base64::engine::general_purpose::STANDARD.encode(digest);
    if hex != checksum || content_md5 != Some(expected.as_str()) {
        return Err((400, json!({"error": ["checksum mismatch"]})));
    }
    Ok(())
}

/// Counts the request and applies the scripted faults matching it: a status to answer
/// instead, if one says so (an artifact deletion happens here and the request goes on).
fn apply_faults(st: &mut State, method: &str, path: &str) -> Option<(u16, Value)> {
    let key = (method.to_owned(), path.to_owned());
    let count = {
        let c = st.counts.entry(key).or_insert(0);
        *c += 1;
        *c
    };
    let mut actions = Vec::new();
    for f in &st.faults {
        if f.method == method
            && f.path == path
            && count >= f.from
            && (f.times == 0 || count < f.from + f.times)
        {
            actions.push(f.action.clone());
        }
    }
    for action in actions {
        match action {
            FaultAction::Status(status, body) => return Some((status, body)),
            FaultAction::DeleteArtifact(name, id) => {
                if let Some(ids) = st.artifacts.get_mut(&name) {
                    ids.remove(&id);
                }
            }
        }
    }
    None
}

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let delay = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .delay;
        self.answer(req).set_delay(delay)
    }
}

impl Handler {
    fn answer(&self, req: &Request) -> ResponseTemplate {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let method = req.method.to_string();
        let full = req.url.path().to_owned();
        let prefix = format!("/organizations/{ORG}/");
        let (path, signed) = if let Some(p) = full.strip_prefix(&prefix) {
            (p.to_owned(), true)
        } else if let Some(p) = full.strip_prefix('/') {
            (p.to_owned(), false)
        } else {
            (full.clone(), false)
        };
        if !st.lean {
            st.log.push(Logged {
                method: method.clone(),
                path: path.clone(),
                at: std::time::Instant::now(),
            });
        }
        if let Some((status, body)) = apply_faults(&mut st, &method, &path) {
            return error(status, body);
        }
        if !signed {
            return match path.split_once('/') {
                Some(("bookshelf", checksum)) if method == "PUT" => {
                    self.put_file(&mut st, checksum, req)
                }
                _ => error(404, json!({"error": ["not found"]})),
            };
        }
        if req.headers.get("x-ops-userid").is_none() {
            return error(401, json!({"error": ["missing X-Ops-UserId"]}));
        }
        let max = st.max_api_version;
        let requested: u32 = req
            .headers
            .get("x-ops-server-api-version")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if requested > max {
            return error(
                406,
                json!({"error": "invalid-x-ops-server-api-version",
                       "message": format!("Specified version {requested} not supported"),
                       "min_version": 0, "max_version": max}),
            );
        }
        let header = self.api_header(max, requested);
        self.handle(&mut st, &method, &path, req)
            .insert_header("X-Ops-Server-API-Version", header.as_str())
    }
}
