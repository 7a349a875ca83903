//! A node's own dotfile, `node.toml` beside its key (`docs/spec/node-local-v1.md`): the machine's
//! word on where its shards live and how much of it the swarm may use. It may tighten, never
//! loosen, what the signed definition grants the node: each limit in force is the smaller of
//! the two. Parsed here; read from disk by the front end.

use serde::Deserialize;

use crate::definition::NodeEntry;
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
        assert!(
            err("quota = \"lots\"").contains("quota"),
            "{}",
            err("quota = \"lots\"")
        );
    }
}
