//! Who may talk to a node, and what each may ask (`docs/spec/wire-v1.md`, "Requests": the role
//! column). A key that is not a member is refused when the QUIC handshake completes, before it
//! can open a stream ([`Gate`], an iroh `after_handshake` hook); a member's requests are checked
//! against its role one by one ([`Role::allows`]).
//!
//! The members come from the node's verified definition and change when it adopts a newer one:
//! [`Membership::replace`] swaps them at once for every connection, and each request looks its
//! requester up again, so a key removed loses access on its next request.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use iroh::endpoint::{AfterHandshakeOutcome, Connection, EndpointHooks, Side, VarInt};
use swarm_wire::Request;
use swarm_wire::codes::close;

use crate::identity::NodeId;

/// What a member may do, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Stat, Read, ReadRange, List, Check, FreeSpace.
    Read,
    /// And Write, Touch, Delete.
    Write,
    /// And Create.
    Admin,
    /// Another node of the swarm: everything.
    Node,
}

impl Role {
    /// Whether this role may make `request` (the spec's role table; Hello and the definition
    /// requests are open to every member).
    pub fn allows(self, request: &Request) -> bool {
        self >= Role::required(request)
    }

    /// The least role a request needs.
    pub fn required(request: &Request) -> Role {
        match request {
            Request::Hello(_)
            | Request::GetDefinition
            | Request::OfferDefinition(_)
            | Request::Stat { .. }
            | Request::Read { .. }
            | Request::ReadRange { .. }
            | Request::List { .. }
            | Request::Check { .. }
            | Request::FreeSpace => Role::Read,
            Request::Write { .. } | Request::Touch { .. } | Request::Delete { .. } => Role::Write,
            Request::Create { .. } => Role::Admin,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
            Role::Node => "node",
        }
    }
}

/// How many refusals a node remembers (for `node status` and tests); older ones are dropped.
const REMEMBERED_REFUSALS: usize = 64;

/// A connection refused at the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub key: NodeId,
    pub at: SystemTime,
    pub reason: String,
}

/// The members of the swarm as this node knows them: shared by the gate and the node, replaced
/// whole when a new definition is adopted.
#[derive(Debug, Clone, Default)]
pub struct Membership {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    members: RwLock<Arc<HashMap<NodeId, Role>>>,
    refusals: Mutex<VecDeque<Refusal>>,
}

impl Membership {
    pub fn new(members: impl IntoIterator<Item = (NodeId, Role)>) -> Self {
        let m = Membership::default();
        m.replace(members);
        m
    }

    /// Swaps in a new set of members (a newly adopted definition).
    pub fn replace(&self, members: impl IntoIterator<Item = (NodeId, Role)>) {
        let members = Arc::new(members.into_iter().collect());
        *self
            .inner
            .members
            .write()
            .unwrap_or_else(|e| e.into_inner()) = members;
    }

    /// The key's role, `None` for a stranger.
    pub fn role(&self, key: &NodeId) -> Option<Role> {
        self.inner
            .members
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
    }

    /// The last connections refused, oldest first.
    pub fn refusals(&self) -> Vec<Refusal> {
        self.lock_refusals().iter().cloned().collect()
    }

    fn refuse(&self, key: NodeId, reason: String) {
        tracing::warn!(peer = %key, "connection refused: {reason}");
        let mut r = self.lock_refusals();
        if r.len() == REMEMBERED_REFUSALS {
            r.pop_front();
        }
        r.push_back(Refusal {
            key,
            at: SystemTime::now(),
            reason,
        });
    }

    fn lock_refusals(&self) -> std::sync::MutexGuard<'_, VecDeque<Refusal>> {
        self.inner
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// The endpoint hook that closes an incoming connection from a stranger with `NOT_MEMBER`
/// as soon as its key is known, before it may open a stream. Outgoing connections are not
/// gated: the dialer chose whom to dial.
#[derive(Debug, Clone)]
pub struct Gate {
    members: Membership,
}

impl Gate {
    pub fn new(members: Membership) -> Self {
        Gate { members }
    }
}

impl EndpointHooks for Gate {
    async fn after_handshake<'a>(&'a self, conn: &'a Connection) -> AfterHandshakeOutcome {
        if conn.side() == Side::Client {
            return AfterHandshakeOutcome::accept();
        }
        let key = NodeId::from(conn.remote_id());
        if self.members.role(&key).is_some() {
            return AfterHandshakeOutcome::accept();
        }
        let reason = format!("key {key} is not a member of this node's swarm");
        self.members.refuse(key, reason.clone());
        AfterHandshakeOutcome::Reject {
            error_code: VarInt::from_u32(close::NOT_MEMBER as u32),
            reason: reason.into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use swarm_wire::{ObjectName, StoreName};

    use super::*;
    use crate::identity::NodeSecret;

    #[test]
    fn roles_follow_the_spec_table() {
        let shard = ObjectName::Shard([1; 32]);
        let read = Request::Read {
            object: shard.clone(),
            max: 1,
        };
        let write = Request::Write {
            object: shard.clone(),
            len: 1,
        };
        let create = Request::Create {
            store: StoreName::new("s").unwrap(),
        };
        assert!(Role::Read.allows(&read) && Role::Read.allows(&Request::FreeSpace));
        assert!(
            !Role::Read.allows(&write) && !Role::Read.allows(&Request::Delete { object: shard })
        );
        assert!(Role::Write.allows(&write) && !Role::Write.allows(&create));
        assert!(Role::Admin.allows(&create) && Role::Node.allows(&create));
    }

    #[test]
    fn members_are_replaced_whole() {
        let a = NodeSecret::generate().id();
        let b = NodeSecret::generate().id();
        let m = Membership::new([(a, Role::Read)]);
        let shared = m.clone();
        assert_eq!(shared.role(&a), Some(Role::Read));
        m.replace([(b, Role::Write)]);
        assert_eq!(shared.role(&a), None);
        assert_eq!(shared.role(&b), Some(Role::Write));
    }
}
