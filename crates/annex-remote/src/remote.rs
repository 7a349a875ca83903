//! What each request does: the mapping from git-annex's requests onto the swarm engine.
//!
//! One [`Remote`] serves a whole process. PREPARE opens the swarm once (its definition comes
//! from git-annex's config, see [`crate::config`]; store credentials from GETCREDS, then the
//! environment and the credentials file, see [`crate::creds`]); every later request of every
//! job shares that [`Swarm`]. Each request gets exactly one final reply; failures are one
//! sanitised line.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use swarm_core::definition::{StoreLocation, SwarmDefinition};
use swarm_core::key::{Key, KeyError};
use swarm_engine::progress::{Observer, Quiet};
use swarm_engine::{EngineError, Swarm};
use swarm_store::credentials::{Chain, CredentialSource, DefaultSource, MapSource};
use swarm_store::remote::scrub_queries;
use swarm_store::{Store, layout, open_store_with};

use crate::config::{self, DEFINITION_FIELD, PARAMETERS, Params, Plan};
use crate::creds;
use crate::protocol::{self, Availability, Direction, Message, Request, one_line};
use crate::session::{JobIo, LineSender};

/// git-annex's standard costs (`Config/Cost.hs`).
pub const CHEAP_COST: u32 = 100;
pub const EXPENSIVE_COST: u32 = 200;

/// Extensions in use for this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Negotiated {
    pub info: bool,
    pub asynchronous: bool,
    pub git_remote_name: bool,
    pub unavailable_response: bool,
}

impl Negotiated {
    /// Names for the EXTENSIONS reply.
    pub fn names(&self) -> Vec<String> {
        [
            (self.info, "INFO"),
            (self.git_remote_name, "GETGITREMOTENAME"),
            (self.unavailable_response, "UNAVAILABLERESPONSE"),
            (self.asynchronous, "ASYNC"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| n.to_owned())
        .collect()
    }
}

/// The special remote's state in one process.
pub struct Remote {
    extensions: Mutex<Negotiated>,
    swarm: tokio::sync::OnceCell<Arc<Swarm>>,
    /// Where credentials come from besides git-annex: the environment and the credentials file.
    credentials: Arc<dyn CredentialSource>,
}

impl Default for Remote {
    fn default() -> Self {
        Remote::with_credentials(Arc::new(DefaultSource::new()))
    }
}

/// Why a request failed, as told to git-annex.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(describe(&e.to_string()))
    }
}

impl Remote {
    pub fn new() -> Self {
        Remote::default()
    }

    /// With `credentials` instead of the environment and the credentials file (tests).
    pub fn with_credentials(credentials: Arc<dyn CredentialSource>) -> Self {
        Remote {
            extensions: Mutex::default(),
            swarm: tokio::sync::OnceCell::new(),
            credentials,
        }
    }

    pub fn set_extensions(&self, n: Negotiated) {
        if let Ok(mut e) = self.extensions.lock() {
            *e = n;
        }
    }

    fn extensions(&self) -> Negotiated {
        self.extensions
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// The failure reply for `req`, for when handling it went wrong before it could answer.
    pub fn failure(req: &Request, why: &str) -> Message {
        let why = why.to_owned();
        match req {
            Request::InitRemote => Message::InitRemoteFailure(why),
            Request::Prepare => Message::PrepareFailure(why),
            Request::Transfer { direction, key, .. } => {
                Message::TransferFailure(*direction, key.clone(), why)
            }
            Request::CheckPresent(k) => Message::CheckPresentUnknown(k.clone(), why),
            Request::Remove(k) => Message::RemoveFailure(k.clone(), why),
            Request::Whereis(_) => Message::WhereisFailure,
            Request::GetInfo => Message::InfoEnd,
            Request::ListConfigs => Message::ConfigEnd,
            Request::GetCost => Message::Cost(EXPENSIVE_COST),
            Request::GetAvailability => Message::Availability(Availability::Global),
            Request::ExportSupported => Message::ExportSupportedFailure,
            Request::GetOrdered => Message::Unordered,
            Request::Extensions(_) | Request::Unsupported(_) => Message::Error(why),
        }
    }

    /// Handles one request, sending its reply (and any queries, progress and notes before it).
    pub async fn handle(&self, req: Request, io: &mut JobIo) {
        match req {
            Request::Extensions(_) => {
                // The session answers EXTENSIONS itself; a second one changes nothing.
                io.send(Message::Extensions(self.extensions().names()));
            }
            Request::ListConfigs => {
                for (name, description) in PARAMETERS {
                    io.send(Message::Config(name.to_owned(), description.to_owned()));
                }
                io.send(Message::ConfigEnd);
            }
            Request::InitRemote => {
                let reply = match self.init_remote(io).await {
                    Ok(()) => Message::InitRemoteSuccess,
                    Err(Failure(why)) => Message::InitRemoteFailure(why),
                };
                io.send(reply);
            }
            Request::Prepare => {
                let reply = match self.prepare(io).await {
                    Ok(_) => Message::PrepareSuccess,
                    Err(Failure(why)) => Message::PrepareFailure(why),
                };
                io.send(reply);
            }
            Request::ExportSupported => io.send(Message::ExportSupportedFailure),
            Request::GetOrdered => io.send(Message::Unordered),
            Request::Transfer {
                direction,
                key,
                file,
            } => {
                let Some(parsed) = valid_key(&key, io) else {
                    return;
                };
                let reply = match self.transfer(direction, &parsed, &file, io).await {
                    Ok(()) => Message::TransferSuccess(direction, key),
                    Err(Failure(why)) => Message::TransferFailure(direction, key, why),
                };
                io.send(reply);
            }
            Request::CheckPresent(key) => {
                let Some(parsed) = valid_key(&key, io) else {
                    return;
                };
                let reply = match self.check_present(&parsed, io).await {
                    Ok(Presence::Present) => Message::CheckPresentSuccess(key),
                    Ok(Presence::Absent) => Message::CheckPresentFailure(key),
                    Ok(Presence::Unknown(why)) | Err(Failure(why)) => {
                        Message::CheckPresentUnknown(key, why)
                    }
                };
                io.send(reply);
            }
            Request::Remove(key) => {
                let Some(parsed) = valid_key(&key, io) else {
                    return;
                };
                let reply = match self.remove(&parsed, io).await {
                    Ok(()) => Message::RemoveSuccess(key),
                    Err(Failure(why)) => Message::RemoveFailure(key, why),
                };
                io.send(reply);
            }
            Request::Whereis(key) => {
                let Some(parsed) = valid_key(&key, io) else {
                    return;
                };
                let reply = match self.whereis(&parsed, io).await {
                    Ok(Some(text)) => Message::WhereisSuccess(text),
                    Ok(None) | Err(_) => Message::WhereisFailure,
                };
                io.send(reply);
            }
            Request::GetCost => {
                let cost = match self.definition(io).await {
                    Ok(def) if all_local(&def) => CHEAP_COST,
                    _ => EXPENSIVE_COST,
                };
                io.send(Message::Cost(cost));
            }
            Request::GetAvailability => {
                let reply = self.availability(io).await;
                io.send(Message::Availability(reply));
            }
            Request::GetInfo => {
                match self.prepare(io).await {
                    Ok(swarm) => {
                        for (field, value) in info(&swarm) {
                            io.send(Message::InfoField(field));
                            io.send(Message::InfoValue(value));
                        }
                    }
                    Err(Failure(why)) => {
                        io.send(Message::InfoField("swarm".into()));
                        io.send(Message::InfoValue(format!("cannot be opened: {why}")));
                    }
                }
                io.send(Message::InfoEnd);
            }
            Request::Unsupported(word) => {
                tracing::debug!("unsupported request {word}");
                io.send(Message::UnsupportedRequest);
            }
        }
    }

    /// The swarm, opened on first use from the definition in git-annex's config. What
    /// git-annex keeps (GETCREDS) wins over the environment and the credentials file.
    async fn prepare(&self, io: &mut JobIo) -> Result<Arc<Swarm>, Failure> {
        let swarm = self
            .swarm
            .get_or_try_init(|| async {
                let def = self.definition(io).await?;
                let stored = stored_credentials(&def, io).await?;
                let chain = Chain(vec![&stored, self.credentials.as_ref()]);
                let swarm = Swarm::open_with(def, &chain).await?;
                let down = down_stores(&swarm);
                if !down.is_empty() {
                    io.send(Message::Debug(describe(&format!(
                        "stores unavailable: {down}"
                    ))));
                }
                Ok::<_, Failure>(Arc::new(swarm))
            })
            .await?;
        Ok(swarm.clone())
    }

    /// The embedded definition (without opening any store).
    async fn definition(&self, io: &mut JobIo) -> Result<SwarmDefinition, Failure> {
        if let Some(s) = self.swarm.get() {
            return Ok(s.definition().clone());
        }
        let value = io.ask(Message::GetConfig(DEFINITION_FIELD.into())).await?;
        if value.trim().is_empty() {
            return Err(Failure(format!(
                "this remote has no swarm definition ({DEFINITION_FIELD} is unset): set it up with `git annex initremote NAME type=external externaltype=swarm stores=DIR,DIR,... k=K m=M encryption=...`"
            )));
        }
        Ok(config::decode_definition(&value)?)
    }

    async fn init_remote(&self, io: &mut JobIo) -> Result<(), Failure> {
        let mut values = Vec::new();
        for (name, _) in PARAMETERS {
            values.push((name, io.ask(Message::GetConfig(name.to_owned())).await?));
        }
        let params = Params::from_values(values);
        let plan = config::plan(&params, |path| {
            std::fs::read_to_string(path).map_err(|e| e.to_string())
        })?;
        let def = plan.definition().clone();
        let handover = creds::handover(&def, self.credentials.as_ref());
        for note in &handover.notes {
            self.note(io, note.clone());
        }
        if !handover.pairs.is_empty() {
            refuse_embedding(io).await?;
        }
        // Found now wins; what git-annex already keeps (an earlier enableremote) fills in.
        let stored = stored_credentials(&def, io).await?;
        let creds = Chain(vec![self.credentials.as_ref(), &stored]);
        match &plan {
            Plan::Create(_) | Plan::Adopt(_) => prepare_stores(&def, &creds).await?,
            Plan::Keep(_) => {
                let swarm = Swarm::open_with(def.clone(), &creds).await?;
                let down = down_stores(&swarm);
                if !down.is_empty() {
                    let note = format!(
                        "swarm {}: stores not reachable from here (they are needed for transfers, not for enabling): {down}",
                        def.swarm
                    );
                    self.note(io, note);
                }
            }
        }
        io.send(Message::SetConfig(
            DEFINITION_FIELD.into(),
            config::encode_definition(&def),
        ));
        if params.definition.is_some() {
            // The file's content is embedded; its path would mean nothing in another clone.
            io.send(Message::SetConfig("definition".into(), String::new()));
        }
        self.hand_over(handover.pairs, io).await
    }

    /// SETCREDS of each pair, then GETCREDS to see that git-annex kept it (with
    /// `annex.cachecreds=false` it keeps nothing), and a note saying which it keeps.
    async fn hand_over(
        &self,
        pairs: Vec<(String, protocol::CredPair)>,
        io: &mut JobIo,
    ) -> Result<(), Failure> {
        let (mut kept, mut dropped) = (Vec::new(), Vec::new());
        for (setting, pair) in pairs {
            io.send(Message::SetCreds(setting.clone(), pair));
            let (login, password) = io.ask_creds(&setting).await?;
            if login.expose().is_empty() && password.expose().is_empty() {
                dropped.push(setting);
            } else {
                kept.push(setting);
            }
        }
        if !kept.is_empty() {
            self.note(
                io,
                format!(
                    "store credentials kept by git-annex in .git/annex/creds/ of this repository only: {}",
                    kept.join(", ")
                ),
            );
        }
        if !dropped.is_empty() {
            self.note(
                io,
                format!(
                    "git-annex did not keep the store credentials {} (annex.cachecreds=false?): they must come from the environment or the credentials file",
                    dropped.join(", ")
                ),
            );
        }
        Ok(())
    }

    async fn transfer(
        &self,
        direction: Direction,
        key: &Key,
        file: &[u8],
        io: &mut JobIo,
    ) -> Result<(), Failure> {
        let swarm = self.prepare(io).await?;
        let progress = ProgressLines::new(io.sender());
        // The path's bytes as git-annex sent them: it holds the key, which need not be UTF-8.
        let path = Path::new(OsStr::from_bytes(file));
        match direction {
            Direction::Store => {
                swarm.put(path, Some(key.clone()), &progress).await?;
            }
            Direction::Retrieve => {
                let report = swarm.get(key, path, &progress).await?;
                let unused: Vec<String> = report
                    .stores
                    .iter()
                    .filter_map(|s| s.dropped.as_ref().map(|why| format!("{} ({why})", s.store)))
                    .collect();
                if !report.problems.is_empty() || !unused.is_empty() {
                    let first = report
                        .problems
                        .first()
                        .cloned()
                        .unwrap_or_else(|| format!("stores not used: {}", unused.join(", ")));
                    io.send(Message::Debug(format!(
                        "{key}: restored, though {} shard reads failed and {} stores were not used, first {first} (`annex-swarm repair` restores full health)",
                        report.problems.len(),
                        unused.len(),
                    )));
                }
            }
        }
        Ok(())
    }

    /// Present only when restorable; unknown when the stores that could not be asked might
    /// hold what decides it.
    async fn check_present(&self, key: &Key, io: &mut JobIo) -> Result<Presence, Failure> {
        let swarm = self.prepare(io).await?;
        let path = layout::manifest_path(key.as_bytes());
        let probes = join_all(swarm.slots().iter().map(|slot| {
            let path = path.clone();
            async move {
                match &slot.down {
                    Some(why) => Probe::Unknown(format!("{}: {why}", slot.store.id())),
                    None => match slot.store.stat(&path).await {
                        Ok(Some(_)) => Probe::Found,
                        Ok(None) => Probe::Absent,
                        Err(e) => Probe::Unknown(e.to_string()),
                    },
                }
            }
        }))
        .await;
        let unknown: Vec<&str> = probes
            .iter()
            .filter_map(|p| match p {
                Probe::Unknown(why) => Some(why.as_str()),
                _ => None,
            })
            .collect();
        let m = usize::from(swarm.coding().m());
        if !probes.iter().any(|p| matches!(p, Probe::Found)) {
            // Manifests are on m + 1 stores: with at most m unasked, one copy would show.
            return Ok(if unknown.len() > m {
                Presence::Unknown(describe(&format!(
                    "{} stores could not be asked (more than m = {m}): {}",
                    unknown.len(),
                    unknown.join("; ")
                )))
            } else {
                Presence::Absent
            });
        }
        let health = swarm.fsck(std::slice::from_ref(key), false, &Quiet).await?;
        let Some(h) = health.first() else {
            return Err(Failure("fsck returned nothing".into()));
        };
        if h.restorable {
            Ok(Presence::Present)
        } else if unknown.is_empty() {
            Ok(Presence::Absent)
        } else {
            Ok(Presence::Unknown(describe(&format!(
                "not restorable from the stores that answered ({}); unreachable: {}",
                h.problems.join("; "),
                unknown.join("; ")
            ))))
        }
    }

    async fn remove(&self, key: &Key, io: &mut JobIo) -> Result<(), Failure> {
        let swarm = self.prepare(io).await?;
        match swarm.rm(key).await {
            Ok(report) => {
                if !report.unreachable.is_empty() {
                    io.send(Message::Debug(format!(
                        "{key}: removed from the reachable stores; unreachable (may hold a manifest copy): {}",
                        report.unreachable.join(", ")
                    )));
                }
                Ok(())
            }
            // Removing what is not there succeeds.
            Err(EngineError::NotPresent { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn whereis(&self, key: &Key, io: &mut JobIo) -> Result<Option<String>, Failure> {
        let swarm = self.prepare(io).await?;
        let health = swarm.fsck(std::slice::from_ref(key), false, &Quiet).await?;
        let Some(h) = health.first() else {
            return Ok(None);
        };
        if h.manifest_copies == 0 {
            return Ok(None);
        }
        let coding = swarm.coding();
        let state = if h.restorable {
            format!("restorable, survives {} more lost stores", h.spare.max(0))
        } else {
            "NOT restorable".to_owned()
        };
        let shards = if h.chunks == 0 {
            "stored inline".to_owned()
        } else {
            format!(
                "{} chunks, {} of {} shards healthy",
                h.chunks, h.shards_healthy, h.shards_expected
            )
        };
        Ok(Some(format!(
            "swarm {} ({}+{}): {state}; {shards}; {} manifest copies",
            short(&swarm.definition().swarm.to_string()),
            coding.k(),
            coding.m(),
            h.manifest_copies
        )))
    }

    async fn availability(&self, io: &mut JobIo) -> Availability {
        let unavailable_ok = self.extensions().unavailable_response;
        match self.prepare(io).await {
            Ok(swarm) => {
                let up = swarm.slots().iter().filter(|s| s.down.is_none()).count();
                if unavailable_ok && up < usize::from(swarm.coding().k()) {
                    Availability::Unavailable
                } else if all_local(swarm.definition()) {
                    Availability::Local
                } else {
                    Availability::Global
                }
            }
            Err(_) if unavailable_ok => Availability::Unavailable,
            Err(_) => Availability::Global,
        }
    }

    /// Tells the user something: INFO when git-annex takes it, else DEBUG.
    fn note(&self, io: &JobIo, text: String) {
        if self.extensions().info {
            io.send(Message::Info(text));
        } else {
            io.send(Message::Debug(text));
        }
    }
}

enum Presence {
    Present,
    Absent,
    Unknown(String),
}

enum Probe {
    Found,
    Absent,
    Unknown(String),
}

/// The key to store under: parsed (so its content is checked) when it names whole content by
/// a hash this build knows; otherwise taken verbatim (encrypted and chunk keys, other backends).
/// Either way its bytes are exactly `text`.
pub fn annex_key(text: &[u8]) -> Result<Key, KeyError> {
    match Key::from_bytes(text) {
        Ok(k) if k.chunk().is_none() => Ok(k),
        _ => Key::opaque(text),
    }
}

/// The key, or `None` after answering an ERROR for a key no git-annex would send.
fn valid_key(text: &[u8], io: &JobIo) -> Option<Key> {
    match annex_key(text) {
        Ok(k) => Some(k),
        Err(e) => {
            io.send(Message::Error(e.to_string()));
            None
        }
    }
}

/// What git-annex keeps for the definition's stores (one GETCREDS per setting; none for local
/// stores).
async fn stored_credentials(def: &SwarmDefinition, io: &mut JobIo) -> Result<MapSource, Failure> {
    let mut map = MapSource::new();
    for setting in creds::settings(def) {
        let (login, password) = io.ask_creds(&setting.name).await?;
        creds::remember(&mut map, &setting, login, password);
    }
    Ok(map)
}

/// Fails when git-annex would copy SETCREDS values into the git-annex branch.
async fn refuse_embedding(io: &mut JobIo) -> Result<(), Failure> {
    let mut ask = async |name: &str| io.ask(Message::GetConfig(name.to_owned())).await;
    let embedcreds = ask("embedcreds").await?;
    let encryption = ask("encryption").await?;
    let cipherkeys = ask("cipherkeys").await?;
    Ok(creds::check_not_embedded(
        &embedcreds,
        &encryption,
        &cipherkeys,
    )?)
}

/// Creates (or checks) every store of a new or adopted definition. If one fails, the markers
/// written in this run are removed again, so a corrected initremote can start over.
async fn prepare_stores(
    def: &SwarmDefinition,
    creds: &dyn CredentialSource,
) -> Result<(), Failure> {
    let stores: Vec<Arc<dyn Store>> = def
        .stores
        .iter()
        .map(|e| open_store_with(e, def.swarm, creds))
        .collect::<Result<_, _>>()?;
    let mut created = Vec::new();
    for (store, entry) in stores.iter().zip(&def.stores) {
        let was_ready = store.check().await.is_ok();
        if let Err(e) = store.create().await {
            for s in &created {
                let s: &Arc<dyn Store> = s;
                let _ = s.delete(layout::MARKER).await;
            }
            return Err(Failure(describe(&format!(
                "cannot prepare store {} ({}): {e}",
                entry.id, entry.url
            ))));
        }
        if !was_ready {
            created.push(store.clone());
        }
    }
    Ok(())
}

fn all_local(def: &SwarmDefinition) -> bool {
    def.stores
        .iter()
        .all(|s| matches!(s.location(), Ok(StoreLocation::Local(_))))
}

fn down_stores(swarm: &Swarm) -> String {
    swarm
        .slots()
        .iter()
        .filter_map(|s| s.down.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

/// GETINFO's fields: the swarm, its coding, each store and what the swarm can survive now.
fn info(swarm: &Swarm) -> Vec<(String, String)> {
    let def = swarm.definition();
    let coding = swarm.coding();
    let (k, m) = (usize::from(coding.k()), usize::from(coding.m()));
    let total = swarm.slots().len();
    let up = swarm.slots().iter().filter(|s| s.down.is_none()).count();
    let mut out = vec![
        ("swarm".to_owned(), def.swarm.to_string()),
        (
            "coding".to_owned(),
            format!(
                "{k}+{m}: any {k} of a chunk's {} shards restore it; {:.2}x the data's size",
                k + m,
                (k + m) as f64 / k as f64
            ),
        ),
        ("stores".to_owned(), format!("{total} ({up} up)")),
    ];
    for slot in swarm.slots() {
        let state = match &slot.down {
            None => "up".to_owned(),
            Some(why) => format!("DOWN: {why}"),
        };
        out.push((
            format!("store {}", slot.store.id()),
            format!("{} ({state})", slot.url),
        ));
    }
    let down = total - up;
    let health = if up < k {
        format!("{down} of {total} stores down: fewer than k = {k} up, nothing can be restored")
    } else if down == 0 {
        format!("all stores up: fully stored keys survive the loss of any {m} stores")
    } else if down <= m {
        format!(
            "{down} of {total} stores down: fully stored keys survive {} more lost stores; run `annex-swarm fsck` and `repair`",
            m - down
        )
    } else {
        format!(
            "{down} of {total} stores down, more than m = {m}: some keys may be unrestorable until stores return"
        )
    };
    out.push(("health".to_owned(), health));
    out
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// An error as git-annex shows it: one line, without credentials (no `user:password@`, no URL
/// query string, where some services carry tokens).
pub fn describe(text: &str) -> String {
    one_line(&scrub_queries(&redact_userinfo(text)))
}

/// Replaces `user:password@` in any `scheme://` URL with `***@`.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Sends PROGRESS lines for a transfer: at most every 100 ms, and once at the end.
struct ProgressLines {
    out: LineSender,
    done: AtomicU64,
    sent: AtomicU64,
    last: Mutex<Option<Instant>>,
}

const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

impl ProgressLines {
    fn new(out: LineSender) -> Self {
        ProgressLines {
            out,
            done: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            last: Mutex::new(None),
        }
    }

    fn send(&self, done: u64) {
        self.sent.store(done, Ordering::Relaxed);
        self.out.send(Message::Progress(done));
    }
}

impl Observer for ProgressLines {
    fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let due = match self.last.lock() {
            Ok(mut last) => {
                let now = Instant::now();
                let due = last.is_none_or(|t| now.duration_since(t) >= PROGRESS_INTERVAL);
                if due {
                    *last = Some(now);
                }
                due
            }
            Err(_) => false,
        };
        if due {
            self.send(done);
        }
    }

    fn finish(&self) {
        let done = self.done.load(Ordering::Relaxed);
        if done != self.sent.load(Ordering::Relaxed) {
            self.send(done);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_are_checked_when_they_name_their_content() {
        let whole =
            "SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.txt";
        assert!(!annex_key(whole.as_bytes()).unwrap().is_opaque());
        for opaque in [
            "SHA256E-s1048576-S102400-C3--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.bin",
            "GPGHMACSHA1--c6e674906f8bd1ab1e1d5fb4a4e63b8cbb76b16d",
            "BLAKE3-s6--abc",
            "SHA256-s6--tooshort",
        ] {
            let k = annex_key(opaque.as_bytes()).unwrap();
            assert!(k.is_opaque(), "{opaque}");
            assert_eq!(k.as_bytes(), opaque.as_bytes());
        }
        // An `X…` name is an external backend: parsed, but it has no hash to check.
        let external = annex_key(b"XXH3-s6--abc").unwrap();
        assert!(!external.is_opaque() && external.hasher().is_none());
        assert!(annex_key(b"").is_err());
        assert!(annex_key(b"a\tb").is_err());
        assert!(annex_key(b"a\0b").is_err());
        // A Latin-1 extension byte: still parsed, so its content is checked.
        let latin1 = [whole.trim_end_matches("txt").as_bytes(), b"\xe9"].concat();
        let k = annex_key(&latin1).unwrap();
        assert!(!k.is_opaque() && k.hasher().is_some());
        assert_eq!(k.as_bytes(), &latin1[..]);
    }

    #[test]
    fn credentials_never_reach_git_annex() {
        assert_eq!(
            redact_userinfo("s3://AKIA:secret@host/bucket failed; see https://x.org/a@b"),
            "s3://***@host/bucket failed; see https://x.org/a@b"
        );
        assert_eq!(
            describe("line one\nuser:pw@x sftp://u:p@h\n"),
            "line one user:pw@x sftp://***@h"
        );
    }
}
