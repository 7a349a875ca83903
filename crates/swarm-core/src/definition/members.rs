//! The members of a format 2 definition: `[[node]]` and `[[client]]` entries, their keys and
//! roles, and the rules tying `peer://` stores to listed nodes (`docs/spec/definition-v2.md`).

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SwarmDefinition;
use crate::ids::StoreId;
use crate::location::{StoreLocation, UrlProblem, parse_host_port, parse_location};
use crate::node_id::{NodeId, NodeIdError};
use crate::units::{ByteSize, Rate};

/// What a member may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Fetch shards and manifests from nodes.
    Read,
    /// Also put, rm and repair.
    Write,
    /// Also sign new versions of the definition.
    Admin,
}

impl Role {
    /// Nodes push shards to each other when they repair and mirror.
    pub const NODE_DEFAULT: Role = Role::Write;

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    fn node_default() -> Role {
        Role::NODE_DEFAULT
    }

    fn is_node_default(&self) -> bool {
        *self == Role::NODE_DEFAULT
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's `key` field: the id it names, and the text as written (hex or an OpenSSH line,
/// kept so rewriting a definition does not lose an admin's key comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberKey {
    pub id: NodeId,
    text: String,
}

impl MemberKey {
    pub fn as_text(&self) -> &str {
        &self.text
    }
}

impl From<NodeId> for MemberKey {
    fn from(id: NodeId) -> Self {
        MemberKey {
            id,
            text: id.to_hex(),
        }
    }
}

impl std::str::FromStr for MemberKey {
    type Err = NodeIdError;
    fn from_str(s: &str) -> Result<Self, NodeIdError> {
        Ok(MemberKey {
            id: NodeId::from_key_text(s)?,
            text: s.trim().to_owned(),
        })
    }
}

impl Serialize for MemberKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for MemberKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A swarm node: a daemon that serves its store to the other members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub name: String,
    pub key: MemberKey,
    #[serde(
        default = "Role::node_default",
        skip_serializing_if = "Role::is_node_default"
    )]
    pub role: Role,
    /// Static addresses, `host:port`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addrs: Vec<String>,
    /// The directory on that node that holds its shards; only that node reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Most bytes of the swarm the node holds (enforced by the node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<ByteSize>,
    /// Cap on bytes per second the node sends to peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_rate: Option<Rate>,
    /// Cap on bytes per second the node receives from peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_rate: Option<Rate>,
}

impl NodeEntry {
    /// A node with the default role, no addresses and no limits.
    pub fn new(name: impl Into<String>, key: NodeId) -> Self {
        NodeEntry {
            name: name.into(),
            key: key.into(),
            role: Role::NODE_DEFAULT,
            addrs: Vec::new(),
            store: None,
            quota: None,
            upload_rate: None,
            download_rate: None,
        }
    }
}

/// A member that runs no node: a person's or a program's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub name: String,
    pub key: MemberKey,
    /// Required: there is no safe default for a person.
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    Node,
    Client,
}

/// A member, node or client, as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub name: &'a str,
    pub id: NodeId,
    pub role: Role,
    pub kind: MemberKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    #[error("member name `{0}`: use 1 to 64 of A-Z a-z 0-9 . _ - @")]
    Name(String),
    #[error("member `{0}`: name used twice")]
    DuplicateName(String),
    #[error("members `{first}` and `{second}` have the same key (one key, one member)")]
    DuplicateKey { first: String, second: String },
    #[error("node `{node}`: {problem}")]
    Addr { node: String, problem: UrlProblem },
    #[error("node `{node}`: store `{store}` must be an absolute directory on that node")]
    NodeStore { node: String, store: String },
    #[error(
        "store `{store}`: peer://{node} names no [[node]] (a peer store is served by a node the definition lists)"
    )]
    PeerNotANode { store: StoreId, node: NodeId },
    #[error("node `{node}` is the peer of both stores `{first}` and `{second}`")]
    PeerTwice {
        node: String,
        first: StoreId,
        second: StoreId,
    },
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_@".contains(&b))
}

impl SwarmDefinition {
    /// Every member, nodes first, in document order.
    pub fn members(&self) -> impl Iterator<Item = Member<'_>> {
        let nodes = self.nodes.iter().map(|n| Member {
            name: &n.name,
            id: n.key.id,
            role: n.role,
            kind: MemberKind::Node,
        });
        let clients = self.clients.iter().map(|c| Member {
            name: &c.name,
            id: c.key.id,
            role: c.role,
            kind: MemberKind::Client,
        });
        nodes.chain(clients)
    }

    /// The member with this key.
    pub fn member(&self, id: &NodeId) -> Option<Member<'_>> {
        self.members().find(|m| m.id == *id)
    }

    /// The members who may sign the next version.
    pub fn admins(&self) -> impl Iterator<Item = Member<'_>> {
        self.members().filter(|m| m.role == Role::Admin)
    }

    pub fn node(&self, id: &NodeId) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.key.id == *id)
    }

    pub(super) fn validate_members(&self) -> Result<(), MemberError> {
        let mut names = std::collections::HashSet::new();
        let mut keys: HashMap<NodeId, &str> = HashMap::new();
        for m in self.members() {
            if !valid_name(m.name) {
                return Err(MemberError::Name(crate::redact::one_line(m.name)));
            }
            if !names.insert(m.name) {
                return Err(MemberError::DuplicateName(m.name.to_owned()));
            }
            if let Some(first) = keys.insert(m.id, m.name) {
                return Err(MemberError::DuplicateKey {
                    first: first.to_owned(),
                    second: m.name.to_owned(),
                });
            }
        }
        for n in &self.nodes {
            for a in &n.addrs {
                parse_host_port(a).map_err(|problem| MemberError::Addr {
                    node: n.name.clone(),
                    problem,
                })?;
            }
            if let Some(store) = &n.store
                && !matches!(parse_location(store), Ok(StoreLocation::Local(_)))
            {
                return Err(MemberError::NodeStore {
                    node: n.name.clone(),
                    store: crate::redact::url(store),
                });
            }
        }
        let mut served: HashMap<NodeId, &StoreId> = HashMap::new();
        for s in &self.stores {
            let Ok(StoreLocation::Peer { node, .. }) = s.location() else {
                continue;
            };
            let Some(entry) = self.node(&node) else {
                return Err(MemberError::PeerNotANode {
                    store: s.id.clone(),
                    node,
                });
            };
            if let Some(first) = served.insert(node, &s.id) {
                return Err(MemberError::PeerTwice {
                    node: entry.name.clone(),
                    first: first.clone(),
                    second: s.id.clone(),
                });
            }
        }
        Ok(())
    }
}
