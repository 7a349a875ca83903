//! What the swarm offers to BitTorrent from its nodes: the optional `[seed]` section of a
//! format 2 definition (`docs/spec/definition-v2.md`): keys, the nodes that seed them, and
//! where those announce. Checked here; `annex-swarm node run` seeds (torrents as in
//! `docs/spec/torrent-seeding-v1.md`). Absent, nothing is seeded.

use serde::{Deserialize, Serialize};

use super::SwarmDefinition;
use crate::key::Key;
use crate::location::{UrlProblem, parse_tracker_url};
use crate::node_id::NodeId;
use crate::redact;
use crate::units::Rate;

/// Keys the listed nodes seed as v1 torrents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSection {
    /// Keys as git-annex prints them (a key that is not UTF-8 cannot be listed).
    #[serde(default)]
    pub keys: Vec<String>,
    /// Names of the `[[node]]`s that seed every key listed.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Announce URLs, each its own tier; none: peers find a seeder by its magnet (`x.pe`) or
    /// the DHT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trackers: Vec<String>,
    /// Whether seeders join BitTorrent's public mainline DHT. Default: no.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dht: bool,
    /// Cap on what one seeding node uploads to BitTorrent peers, all torrents together (a
    /// rate is above zero when parsed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_rate: Option<Rate>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("seed.keys: `{key}` is not a git-annex key ({why})")]
    Key { key: String, why: String },
    #[error("seed.keys: `{0}` listed twice")]
    DuplicateKey(String),
    #[error("seed.nodes: no [[node]] is named `{0}`")]
    UnknownNode(String),
    #[error("seed.nodes: `{0}` listed twice")]
    DuplicateNode(String),
    #[error("seed: keys are listed but no node seeds them (give seed.nodes)")]
    NoNodes,
    #[error("seed.trackers: {0}")]
    Tracker(UrlProblem),
}

impl SwarmDefinition {
    pub(super) fn validate_seed(&self) -> Result<(), SeedError> {
        let Some(seed) = &self.seed else {
            return Ok(());
        };
        let mut keys = std::collections::HashSet::new();
        for k in &seed.keys {
            if let Err(e) = Key::from_bytes(k.as_bytes()) {
                return Err(SeedError::Key {
                    key: redact::one_line(k),
                    why: e.to_string(),
                });
            }
            if !keys.insert(k) {
                return Err(SeedError::DuplicateKey(k.clone()));
            }
        }
        let mut nodes = std::collections::HashSet::new();
        for n in &seed.nodes {
            if !self.nodes.iter().any(|e| e.name == *n) {
                return Err(SeedError::UnknownNode(redact::one_line(n)));
            }
            if !nodes.insert(n) {
                return Err(SeedError::DuplicateNode(n.clone()));
            }
        }
        if !seed.keys.is_empty() && seed.nodes.is_empty() {
            return Err(SeedError::NoNodes);
        }
        for t in &seed.trackers {
            parse_tracker_url(t).map_err(SeedError::Tracker)?;
        }
        Ok(())
    }

    /// The keys node `id` seeds: all of `[seed]`'s when it is one of its nodes, else none.
    pub fn seeds_of(&self, id: &NodeId) -> Vec<Key> {
        let Some(seed) = &self.seed else {
            return Vec::new();
        };
        let named = self
            .nodes
            .iter()
            .find(|n| n.key.id == *id)
            .is_some_and(|n| seed.nodes.contains(&n.name));
        if !named {
            return Vec::new();
        }
        seed.keys
            .iter()
            .filter_map(|k| Key::from_bytes(k.as_bytes()).ok())
            .collect()
    }
}
