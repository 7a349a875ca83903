//! Setting stores up and asking about them: what the front ends need beyond put and get, so
//! they never reach into the store layer themselves.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::join_all;
use serde::Serialize;
use swarm_core::definition::{StoreEntry, SwarmDefinition};
use swarm_core::ids::SwarmId;
use swarm_core::key::Key;
use swarm_store::credentials::CredentialSource;
use swarm_store::{Health, Kinds, Object, Store, StoreError, Unavailable, decorate};

use crate::progress::Quiet;
use crate::{EngineError, Swarm};

/// Creates (or checks) every store of a new definition: each gets its marker. If one fails,
/// the markers written by this call are removed again, so a corrected attempt can start over.
pub async fn create_stores(
    def: &SwarmDefinition,
    creds: &dyn CredentialSource,
    kinds: &Kinds,
) -> Result<(), EngineError> {
    def.validate()?;
    let stores: Vec<Arc<dyn Store>> = def
        .stores
        .iter()
        .map(|e| {
            kinds
                .open(e, def.swarm, creds)
                .map(|s| decorate::standard(s, e))
        })
        .collect::<Result<_, _>>()?;
    let mut created: Vec<&Arc<dyn Store>> = Vec::new();
    for (store, entry) in stores.iter().zip(&def.stores) {
        let was_ready = store.check().await.is_ok();
        if let Err(e) = store.create().await {
            for s in &created {
                let _ = s.delete(&Object::Marker).await;
            }
            return Err(EngineError::Refused(format!(
                "cannot prepare store {} ({}): {e}",
                entry.id, entry.url
            )));
        }
        if !was_ready {
            created.push(store);
        }
    }
    Ok(())
}

/// Whether a key is in the swarm, as git-annex's CHECKPRESENT wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// Restorable from the stores that answered.
    Present,
    /// Not there, and the stores that could not be asked cannot change that.
    Absent,
    /// Cannot tell: why.
    Unknown(String),
}

impl Swarm {
    /// Prepares the store `id` of the definition (a replacement disk at the same place): writes
    /// its marker, after which `repair` refills it. Returns its URL.
    pub async fn prepare_store(&self, id: &str) -> Result<String, EngineError> {
        let members = self.members();
        let m = members
            .stores()
            .iter()
            .find(|m| m.id().as_str() == id)
            .ok_or_else(|| EngineError::Refused(format!("no store `{id}` in the definition")))?;
        m.store.create().await?;
        Ok(m.url().to_owned())
    }

    /// Present only when restorable; unknown when the stores that could not be asked might
    /// hold what decides it.
    pub async fn presence(&self, key: &Key) -> Result<Presence, EngineError> {
        let members = self.members();
        let object = Object::manifest_of(key.as_bytes());
        enum Probe {
            Found,
            Absent,
            Unknown(String),
        }
        let (members, object) = (&members, &object);
        let probes = join_all((0..members.stores().len()).map(|i| {
            let m = &members.stores()[i];
            async move {
                match m.health() {
                    Health::Down(why) => Probe::Unknown(format!("{}: {why}", m.id())),
                    Health::Up => match m.store.stat(object).await {
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
        let m = usize::from(members.coding().m());
        if !probes.iter().any(|p| matches!(p, Probe::Found)) {
            // Manifests are on m + 1 stores: with at most m unasked, one copy would show.
            return Ok(if unknown.len() > m {
                Presence::Unknown(format!(
                    "{} stores could not be asked (more than m = {m}): {}",
                    unknown.len(),
                    unknown.join("; ")
                ))
            } else {
                Presence::Absent
            });
        }
        let health = self.fsck(std::slice::from_ref(key), false, &Quiet).await?;
        let Some(h) = health.first() else {
            return Err(EngineError::Internal(
                "fsck of one key returned nothing".into(),
            ));
        };
        Ok(if h.restorable {
            Presence::Present
        } else if unknown.is_empty() {
            Presence::Absent
        } else {
            Presence::Unknown(format!(
                "not restorable from the stores that answered ({}); unreachable: {}",
                h.problems.join("; "),
                unknown.join("; ")
            ))
        })
    }
}

/// What `store check` found.
#[derive(Debug, Clone, Serialize)]
pub struct StoreProbe {
    pub store: String,
    pub kind: String,
    pub url: String,
    pub reachable: bool,
    pub writable: bool,
    /// Bytes free, where the service says.
    pub free_space: Option<u64>,
    /// For a store of a swarm: whether it carries this swarm's marker.
    pub initialised: Option<bool>,
    pub problem: Option<String>,
}

/// Is the store at `entry` reachable, writable, how much room has it, and (with `swarm`) is it
/// that swarm's store? Writes, reads back and deletes a probe object under the staging area.
pub async fn probe_store(
    entry: &StoreEntry,
    swarm: Option<SwarmId>,
    creds: &dyn CredentialSource,
) -> Result<StoreProbe, EngineError> {
    let bare = Kinds::builtin().open(entry, swarm.unwrap_or(SwarmId([0; 16])), creds)?;
    let store = decorate::standard(bare, entry);
    let mut report = StoreProbe {
        store: entry.id.to_string(),
        kind: store.kind().to_owned(),
        url: entry.url.clone(),
        reachable: false,
        writable: false,
        free_space: None,
        initialised: None,
        problem: None,
    };
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let probe =
        swarm_store::StagingName::new(&format!("annex-swarm-probe-{}-{nonce}", std::process::id()))
            .map(Object::Staging)
            .ok_or_else(|| EngineError::Internal("probe name".into()))?;
    let data = Bytes::from(
        (0..65536u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    );
    // Reachable: the service answers a question about the marker (present or not).
    match store.stat(&Object::Marker).await {
        Ok(_) => report.reachable = true,
        Err(e) => report.problem = Some(e.to_string()),
    }
    if report.reachable {
        let outcome: Result<(), StoreError> = async {
            store.write(&probe, data.clone()).await?;
            let back = store.read(&probe, data.len() as u64).await?;
            store.delete(&probe).await?;
            if back != data {
                return Err(StoreError::Unavailable {
                    store: entry.id.clone(),
                    why: Unavailable::Silent("the probe object read back different".into()),
                });
            }
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => report.writable = true,
            Err(e) => {
                // A local directory that does not exist is not reachable either.
                if matches!(e.unavailable(), Some(Unavailable::Absent(_))) {
                    report.reachable = false;
                }
                report.problem = Some(e.to_string());
            }
        }
        report.free_space = store.free_space().await.ok().flatten();
    }
    if swarm.is_some() && report.reachable {
        match store.check().await {
            Ok(()) => report.initialised = Some(true),
            Err(e) => {
                report.initialised = Some(false);
                report.problem.get_or_insert(e.to_string());
            }
        }
    }
    Ok(report)
}
