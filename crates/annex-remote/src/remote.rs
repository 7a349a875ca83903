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

use swarm_core::definition::{StoreLocation, SwarmDefinition};
use swarm_core::key::{Key, KeyError};
use swarm_engine::admin::{self, Presence};
use swarm_engine::credentials::{Chain, CredentialSource, DefaultSource};
use swarm_engine::progress::{Event, Observer, Quiet};
use swarm_engine::{EngineError, Swarm};

use crate::config::{self, DEFINITION_FIELD, PARAMETERS, Params, Plan};
use crate::creds;
use crate::protocol::{self, Availability, Direction, Message, Request, one_line};
use crate::session::{JobIo, LineSender};

/// CHECKPRESENT's answer for a key the swarm lacks and a torrent has: like git-annex's own
/// bittorrent remote, never a counted copy, never reported lost.
#[cfg(feature = "torrent")]
const TORRENT_ONLY: &str = "in a torrent only: whether it has seeders cannot be known";

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
    swarm: tokio::sync::OnceCell<Swarm>,
    /// The endpoint peer stores are reached through, when the swarm has any.
    peers: Mutex<Option<Arc<swarm_node::PeerKind>>>,
    /// Where credentials come from besides git-annex: the environment and the credentials file.
    credentials: Arc<dyn CredentialSource>,
    /// The BitTorrent session and the torrents' metadata, shared by every job.
    #[cfg(feature = "torrent")]
    torrents: crate::torrent::Torrents,
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
            peers: Mutex::default(),
            credentials,
            #[cfg(feature = "torrent")]
            torrents: crate::torrent::Torrents::default(),
        }
    }

    /// Ends the process's use of the swarm (releases its write lock).
    pub async fn close(&self) {
        #[cfg(feature = "torrent")]
        self.torrents.close().await;
        if let Some(swarm) = self.swarm.get() {
            swarm.close().await;
        }
        let peers = self.peers.lock().ok().and_then(|mut p| p.take());
        if let Some(p) = peers {
            // Nodes that are down would hold the close until their dials time out.
            let close = p.endpoint().close();
            let _ = tokio::time::timeout(std::time::Duration::from_millis(500), close).await;
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
            Request::ClaimUrl(_) => Message::ClaimUrlFailure,
            Request::CheckUrl(_) => Message::CheckUrlFailure(why),
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
            Request::ClaimUrl(url) => {
                #[cfg(feature = "torrent")]
                if crate::torrent::Torrents::claims(&url) {
                    io.send(Message::ClaimUrlSuccess);
                    return;
                }
                let _ = url;
                io.send(Message::ClaimUrlFailure);
            }
            Request::CheckUrl(url) => {
                #[cfg(feature = "torrent")]
                {
                    let reply = match self.torrents.check_url(&url).await {
                        Ok(reply) => reply,
                        Err(why) => Message::CheckUrlFailure(describe(&why)),
                    };
                    io.send(reply);
                }
                #[cfg(not(feature = "torrent"))]
                io.send(Message::CheckUrlFailure(format!(
                    "{}: this build has no torrent support",
                    describe(&url)
                )));
            }
            Request::Unsupported(word) => {
                tracing::debug!("unsupported request {word}");
                io.send(Message::UnsupportedRequest);
            }
        }
    }

    /// The swarm, opened on first use from the definition in git-annex's config. What
    /// git-annex keeps (GETCREDS) wins over the environment and the credentials file.
    async fn prepare(&self, io: &mut JobIo) -> Result<Swarm, Failure> {
        let swarm = self
            .swarm
            .get_or_try_init(|| async {
                let def = self.definition(io).await?;
                let stored = stored_credentials(&def, io).await?;
                let chain = Chain(vec![Arc::new(stored), self.credentials.clone()]);
                let kinds = self.kinds(&def).await?;
                // A member signs the manifests it writes (nodes take no others).
                let writer = self
                    .peers
                    .lock()
                    .ok()
                    .and_then(|p| p.as_ref().map(|p| p.manifest_writer()));
                let swarm = Swarm::builder(def)
                    .credentials(Arc::new(chain))
                    .kinds(kinds)
                    .manifests(swarm_engine::swarm::ManifestPolicy {
                        writer,
                        writers_only: false,
                    })
                    .open()
                    .await?;
                let down = down_stores(&swarm);
                if !down.is_empty() {
                    io.send(Message::Debug(describe(&format!(
                        "stores unavailable: {down}"
                    ))));
                }
                Ok::<_, Failure>(swarm)
            })
            .await?;
        Ok(swarm.clone())
    }

    /// The store kinds for `def`: the built-in ones, and peer stores reached from this
    /// process's endpoint (bound once, closed by [`Remote::close`]).
    async fn kinds(&self, def: &SwarmDefinition) -> Result<swarm_engine::Kinds, Failure> {
        let mut kinds = swarm_engine::Kinds::builtin();
        let held = self.peers.lock().ok().and_then(|p| p.clone());
        let peers = match held {
            Some(p) => Some(p),
            None => swarm_node::client::peer_kind_for(def).await?,
        };
        if let Some(p) = peers {
            p.learn(def);
            kinds.register(p.clone());
            if let Ok(mut held) = self.peers.lock() {
                *held = Some(p);
            }
        }
        Ok(kinds)
    }

    /// The embedded definition (without opening any store).
    async fn definition(&self, io: &mut JobIo) -> Result<SwarmDefinition, Failure> {
        if let Some(s) = self.swarm.get() {
            return Ok(s.definition());
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
        // The definition file (if one is named) is read here, off the reactor; `plan` judges it.
        let file = match &params.definition {
            Some(path) => Some(tokio::fs::read_to_string(path).await),
            None => None,
        };
        let plan = config::plan(&params, |_| {
            file.unwrap_or_else(|| Err(std::io::Error::other("no definition file named")))
        })?;
        let def = plan.definition().clone();
        let mut handover = creds::handover(&def, self.credentials.as_ref());
        // What git-annex already keeps (an earlier enableremote); kept for a store's old host, it
        // moves to the new one only when the user names that host for the store.
        let mut stored = stored_credentials(&def, io).await?;
        creds::move_to_new_hosts(&def, &mut stored, &mut handover, self.credentials.as_ref());
        for note in &handover.notes {
            self.note(io, note.to_string());
        }
        for moved in &handover.moved {
            self.note(io, moved.to_string());
        }
        if !handover.pairs.is_empty() {
            refuse_embedding(io).await?;
        }
        // Found now wins; what git-annex keeps fills in.
        let creds: Arc<dyn CredentialSource> =
            Arc::new(Chain(vec![self.credentials.clone(), Arc::new(stored)]));
        match &plan {
            Plan::Create(_) | Plan::Adopt(_) => {
                admin::create_stores(&def, creds.as_ref(), &self.kinds(&def).await?).await?;
            }
            Plan::Keep(_) => {
                let swarm = Swarm::builder(def.clone())
                    .credentials(creds)
                    .kinds(self.kinds(&def).await?)
                    .open()
                    .await?;
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
        // The path's bytes as git-annex sent them: it holds the key, which need not be UTF-8.
        let path = Path::new(OsStr::from_bytes(file));
        // The swarm first: when it holds the key, it is faster and always complete. A key it
        // does not hold may have torrent URLs (GETURLS is asked only then).
        let swarm = match self.prepare(io).await {
            Ok(swarm) => swarm,
            Err(failure) => {
                #[cfg(feature = "torrent")]
                if direction == Direction::Retrieve
                    && self.retrieve_from_torrent(key, path, io).await?
                {
                    return Ok(());
                }
                return Err(failure);
            }
        };
        let progress = ProgressLines::new(io.sender());
        match direction {
            Direction::Store => {
                swarm.put(path, Some(key.clone()), &progress).await?;
            }
            Direction::Retrieve => {
                let report = match swarm.get(key, path, &progress).await {
                    Ok(report) => report,
                    Err(absent @ EngineError::NotPresent { .. }) => {
                        #[cfg(feature = "torrent")]
                        if self.retrieve_from_torrent(key, path, io).await? {
                            return Ok(());
                        }
                        return Err(absent.into());
                    }
                    Err(e) => return Err(e.into()),
                };
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
        let presence = match self.prepare(io).await {
            Ok(swarm) => match swarm.presence(key).await? {
                Presence::Unknown(why) => Presence::Unknown(describe(&why)),
                other => other,
            },
            Err(failure) => {
                #[cfg(feature = "torrent")]
                if !self.torrent_urls(key, io).await?.is_empty() {
                    return Ok(Presence::Unknown(TORRENT_ONLY.into()));
                }
                return Err(failure);
            }
        };
        #[cfg(feature = "torrent")]
        if matches!(presence, Presence::Absent) && !self.torrent_urls(key, io).await?.is_empty() {
            return Ok(Presence::Unknown(TORRENT_ONLY.into()));
        }
        Ok(presence)
    }

    /// Downloads `key` from its torrent URLs into `path`; false when it has none.
    #[cfg(feature = "torrent")]
    async fn retrieve_from_torrent(
        &self,
        key: &Key,
        path: &Path,
        io: &mut JobIo,
    ) -> Result<bool, Failure> {
        let urls = self.torrent_urls(key, io).await?;
        if urls.is_empty() {
            return Ok(false);
        }
        self.torrents
            .retrieve(key, &urls, path, io)
            .await
            .map_err(|why| Failure(describe(&why)))?;
        Ok(true)
    }

    /// The key's URLs that this remote takes as torrents (GETURLS).
    #[cfg(feature = "torrent")]
    async fn torrent_urls(&self, key: &Key, io: &mut JobIo) -> Result<Vec<String>, Failure> {
        let all = io
            .ask_list(Message::GetUrls(key.as_bytes().to_vec(), String::new()))
            .await?;
        Ok(all
            .into_iter()
            .filter(|u| crate::torrent::Torrents::claims(u))
            .collect())
    }

    async fn remove(&self, key: &Key, io: &mut JobIo) -> Result<(), Failure> {
        let swarm = self.prepare(io).await?;
        // Refused (REMOVE-FAILURE, nothing removed) while a store that may hold a copy is
        // down: the removal would not stick.
        match swarm.rm(key).await {
            Ok(_) => Ok(()),
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
        let coding = swarm.members().coding();
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
                let members = swarm.members();
                let up = members
                    .stores()
                    .iter()
                    .filter(|m| m.health().is_up())
                    .count();
                if unavailable_ok && up < usize::from(members.coding().k()) {
                    Availability::Unavailable
                } else if all_local(members.definition()) {
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

/// What git-annex keeps for the definition's stores: one GETCREDS per setting, for the host
/// each store is at (none for local stores). When nothing is kept for a store's host, what it
/// keeps for the host recorded at the last handover, or from before credentials were bound to
/// hosts, is read too: never sent, but named in the refusal and movable by enableremote.
async fn stored_credentials(def: &SwarmDefinition, io: &mut JobIo) -> Result<creds::Kept, Failure> {
    let mut kept = creds::Kept::default();
    let all = creds::settings(def);
    for store in all.chunk_by(|a, b| a.store == b.store) {
        let mut any = false;
        for setting in store {
            let (login, password) = io.ask_creds(&setting.name).await?;
            any |= kept.remember(setting, login, password);
        }
        let (false, Some(first)) = (any, store.first()) else {
            continue;
        };
        let Some(here) = &first.host else {
            continue;
        };
        let (_, recorded) = io.ask_creds(&creds::host_record(&first.store)).await?;
        let from = creds::recorded_elsewhere(&recorded, here);
        let mut pairs = Vec::new();
        for setting in store {
            let name = match &from {
                Some(h) => setting.name_for(h),
                None => setting.base.clone(),
            };
            let (login, password) = io.ask_creds(&name).await?;
            pairs.push(creds::KeptPair {
                setting: setting.clone(),
                login,
                password,
            });
        }
        kept.remember_elsewhere(&first.store, from, pairs);
    }
    Ok(kept)
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

fn all_local(def: &SwarmDefinition) -> bool {
    def.stores
        .iter()
        .all(|s| matches!(s.location(), Ok(StoreLocation::Local(_))))
}

fn down_stores(swarm: &Swarm) -> String {
    swarm
        .members()
        .stores()
        .iter()
        .filter_map(|m| m.down())
        .collect::<Vec<_>>()
        .join("; ")
}

/// GETINFO's fields: the swarm, its coding, each store and what the swarm can survive now.
fn info(swarm: &Swarm) -> Vec<(String, String)> {
    let members = swarm.members();
    let def = members.definition();
    let coding = members.coding();
    let (k, m) = (usize::from(coding.k()), usize::from(coding.m()));
    let total = members.stores().len();
    let up = members
        .stores()
        .iter()
        .filter(|s| s.health().is_up())
        .count();
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
    for member in members.stores() {
        let state = match member.down() {
            None => "up".to_owned(),
            Some(why) => format!("DOWN: {why}"),
        };
        out.push((
            format!("store {}", member.id()),
            format!("{} ({state})", member.url()),
        ));
    }
    let down = total - up;
    let health = if up < k {
        format!("{down} of {total} stores down: fewer than k = {k} up, nothing can be restored")
    } else if down == 0 {
        // Says nothing of the keys themselves: a key may have lost shards with every store up.
        format!(
            "all {total} stores up: keys whose shards are all stored survive the loss of any {m}; `annex-swarm fsck` tells which keys are"
        )
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
    one_line(&swarm_core::redact::text(text))
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
    fn event(&self, event: Event) {
        match event {
            Event::Advanced(n) => self.advance(n),
            Event::Finished => self.finish(),
            _ => {}
        }
    }
}

impl ProgressLines {
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
            describe("s3://AKIA:secret@host/bucket failed; see https://x.org/a@b"),
            "s3://***@host/bucket failed; see https://x.org/a@b"
        );
        assert_eq!(
            describe("line one\nuser:pw@x sftp://u:p@h\n"),
            "line one user:pw@x sftp://***@h"
        );
    }
}
