//! A node's own dotfile, `node.toml` beside its key (`docs/spec/node-local-v1.md`): the machine's
//! word on where its shards live and how much of it the swarm may use. It may tighten, never
//! loosen, what the signed definition grants the node: each limit in force is the smaller of
//! the two. Parsed here; read from disk by the front end.

use std::net::SocketAddr;

use serde::Deserialize;

use crate::definition::{NodeEntry, SwarmDefinition};
use crate::key::Key;
use crate::node_id::NodeId;
use crate::units::{ByteSize, Rate};

/// The format this version reads.
pub const NODE_LOCAL_FORMAT: u32 = 1;

/// What `node.toml` says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeLocal {
    /// 1; absent means 1.
    #[serde(default)]
    pub format: Option<u32>,
    /// The directory that holds this node's shards: used instead of the definition's `store`.
    #[serde(default)]
    pub store: Option<String>,
    #[serde(default)]
    pub quota: Option<ByteSize>,
    #[serde(default)]
    pub upload_rate: Option<Rate>,
    #[serde(default)]
    pub download_rate: Option<Rate>,
    /// Seeding what the definition's `[seed]` lists for this node.
    #[serde(default)]
    pub seed: LocalSeed,
}

/// `node.toml`'s `[seed]`: the machine's word on seeding to BitTorrent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSeed {
    /// `false`: seed nothing, whatever the definition lists. Default: seed.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Where the seeder listens; default `0.0.0.0`, a port chosen at each start.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Tightens the definition's `seed.upload_rate`.
    #[serde(default)]
    pub upload_rate: Option<Rate>,
    /// `false` keeps the seeder off the public DHT even when the definition's `seed.dht` asks.
    #[serde(default)]
    pub dht: Option<bool>,
}

/// What a node seeds under one definition, with the limits in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedPlan {
    pub keys: Vec<Key>,
    pub trackers: Vec<String>,
    pub dht: bool,
    pub upload_rate: Option<Rate>,
    pub listen: Option<SocketAddr>,
}

/// A `node.toml` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeLocalError {
    #[error("{0}")]
    Toml(String),
    #[error("format {0}: this version reads node.toml format {NODE_LOCAL_FORMAT}")]
    Format(u32),
    #[error("store `{0}`: not an absolute directory")]
    Store(String),
    #[error("{0} must be more than 0")]
    Zero(&'static str),
}

/// What a node runs with: its directory and the limits in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLimits {
    pub store: Option<String>,
    pub quota: Option<ByteSize>,
    pub upload_rate: Option<Rate>,
    pub download_rate: Option<Rate>,
}

impl NodeLocal {
    pub fn parse(text: &str) -> Result<Self, NodeLocalError> {
        let local: NodeLocal =
            toml::from_str(text).map_err(|e| NodeLocalError::Toml(one_line(&e.to_string())))?;
        match local.format {
            None | Some(NODE_LOCAL_FORMAT) => {}
            Some(f) => return Err(NodeLocalError::Format(f)),
        }
        if let Some(s) = &local.store
            && !std::path::Path::new(s).is_absolute()
        {
            return Err(NodeLocalError::Store(s.clone()));
        }
        if local.quota.is_some_and(|q| q.0 == 0) {
            return Err(NodeLocalError::Zero("quota"));
        }
        if local.upload_rate.is_some_and(|r| r.0 == 0) {
            return Err(NodeLocalError::Zero("upload_rate"));
        }
        if local.download_rate.is_some_and(|r| r.0 == 0) {
            return Err(NodeLocalError::Zero("download_rate"));
        }
        Ok(local)
    }

    /// The limits in force for a node the definition lists as `entry`: each the smaller of
    /// the definition's and this file's (either alone when the other is silent); the store
    /// directory this file names, else the definition's.
    pub fn apply(&self, entry: &NodeEntry) -> NodeLimits {
        fn least<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        NodeLimits {
            store: self.store.clone().or_else(|| entry.store.clone()),
            quota: least(entry.quota.map(|q| q.0), self.quota.map(|q| q.0)).map(ByteSize),
            upload_rate: least(
                entry.upload_rate.map(|r| r.0),
                self.upload_rate.map(|r| r.0),
            )
            .map(Rate),
            download_rate: least(
                entry.download_rate.map(|r| r.0),
                self.download_rate.map(|r| r.0),
            )
            .map(Rate),
        }
    }
}

impl NodeLocal {
    /// What node `me` seeds under `def`: `None` when this file turns seeding off or `def`
    /// lists nothing for it. The upload rate is the smaller of the two files'; the DHT only
    /// when both allow it.
    pub fn seed_plan(&self, def: &SwarmDefinition, me: &NodeId) -> Option<SeedPlan> {
        let seed = def.seed.as_ref()?;
        let keys = def.seeds_of(me);
        if self.seed.enabled == Some(false) || keys.is_empty() {
            return None;
        }
        let upload_rate = match (seed.upload_rate, self.seed.upload_rate) {
            (Some(a), Some(b)) => Some(Rate(a.0.min(b.0))),
            (a, b) => a.or(b),
        };
        Some(SeedPlan {
            keys,
            trackers: seed.trackers.clone(),
            dht: seed.dht && self.seed.dht != Some(false),
            upload_rate,
            listen: self.seed.listen,
        })
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::node_id::NodeId;

    fn entry() -> NodeEntry {
        let id: NodeId = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
            .parse()
            .unwrap();
        let mut e = NodeEntry::new("n", id);
        e.store = Some("/srv/def".into());
        e.quota = Some(ByteSize(100 << 30));
        e.upload_rate = Some(Rate(20 << 20));
        e
    }

    #[test]
    fn it_tightens_and_never_loosens() {
        let local = NodeLocal::parse(
            "format = 1\nstore = \"/srv/mine\"\nquota = \"1TiB\"\nupload_rate = \"5MiB\"\ndownload_rate = \"50MiB\"\n",
        )
        .unwrap();
        let l = local.apply(&entry());
        assert_eq!(l.store.as_deref(), Some("/srv/mine"));
        // The definition grants 100 GiB: a file asking 1 TiB gets 100 GiB.
        assert_eq!(l.quota, Some(ByteSize(100 << 30)));
        // 5 MiB/s is tighter than the definition's 20.
        assert_eq!(l.upload_rate, Some(Rate(5 << 20)));
        // The definition is silent on download: the file's cap holds.
        assert_eq!(l.download_rate, Some(Rate(50 << 20)));
        // An empty file changes nothing.
        let none = NodeLocal::parse("").unwrap().apply(&entry());
        assert_eq!(none.store.as_deref(), Some("/srv/def"));
        assert_eq!(none.quota, Some(ByteSize(100 << 30)));
        assert_eq!(none.upload_rate, Some(Rate(20 << 20)));
        assert_eq!(none.download_rate, None);
    }

    #[test]
    fn seeding_follows_the_definition_and_is_tightened_here() {
        let me: NodeId = "db9b2447c192989c621149a31599f271acfbdfe4a0553e97149d8baa85090dd6"
            .parse()
            .unwrap();
        let golden = include_str!("../tests/data/signing/definition-v2.toml");
        let key = "SHA256E-s5--0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let def = |extra: &str| {
            let seed = format!("[seed]\nkeys = [\"{key}\"]\nnodes = [\"nas\"]\n{extra}\n[[node]]");
            SwarmDefinition::parse(&golden.replacen("[[node]]", &seed, 1)).unwrap()
        };
        let plain = def("upload_rate = \"8MiB/s\"\ndht = true\n");
        let none = NodeLocal::parse("").unwrap();
        let plan = none.seed_plan(&plain, &me).unwrap();
        assert_eq!(plan.keys.len(), 1);
        assert_eq!(plan.upload_rate, Some(Rate(8 << 20)));
        assert!(plan.dht);
        assert_eq!(plan.listen, None);
        let tight = NodeLocal::parse(
            "[seed]\nlisten = \"127.0.0.5:6881\"\nupload_rate = \"1MiB/s\"\ndht = false\n",
        )
        .unwrap();
        let plan = tight.seed_plan(&plain, &me).unwrap();
        assert_eq!(plan.upload_rate, Some(Rate(1 << 20)));
        assert!(!plan.dht);
        assert_eq!(plan.listen, Some("127.0.0.5:6881".parse().unwrap()));
        // Never loosened: a higher rate here keeps the definition's; dht cannot be turned on.
        let loose = NodeLocal::parse("[seed]\nupload_rate = \"1GiB/s\"\ndht = true\n").unwrap();
        let quiet = def("");
        let plan = loose.seed_plan(&plain, &me).unwrap();
        assert_eq!(plan.upload_rate, Some(Rate(8 << 20)));
        assert!(!loose.seed_plan(&quiet, &me).unwrap().dht);
        // Off here, or nothing listed for this node: no plan.
        let off = NodeLocal::parse("[seed]\nenabled = false\n").unwrap();
        assert_eq!(off.seed_plan(&plain, &me), None);
        let golden_def = SwarmDefinition::parse(golden).unwrap();
        assert_eq!(none.seed_plan(&golden_def, &me), None);
        let other: NodeId = "ecac916f1117be9b88d9491752f050e60c33d4337a3c208f552dabb13ddbe232"
            .parse()
            .unwrap();
        assert_eq!(none.seed_plan(&plain, &other), None);
    }

    #[test]
    fn bad_files_are_refused_by_name() {
        let err = |t: &str| NodeLocal::parse(t).unwrap_err().to_string();
        assert!(
            err("format = 2").contains("format 2"),
            "{}",
            err("format = 2")
        );
        assert!(err("store = \"rel/dir\"").contains("not an absolute"));
        assert!(err("quota = \"0\"").contains("quota must be more than 0"));
        assert!(err("upload_rate = \"0\"").contains("upload_rate"));
        assert!(err("speed = 3").contains("speed"), "{}", err("speed = 3"));
        assert!(err("[seed]\nupload_rate = \"0\"").contains("above zero"));
        assert!(err("[seed]\nlisten = \"nowhere\"").contains("listen"));
        assert!(err("[seed]\nport = 1").contains("port"));
        assert!(
            err("quota = \"lots\"").contains("quota"),
            "{}",
            err("quota = \"lots\"")
        );
    }
}
