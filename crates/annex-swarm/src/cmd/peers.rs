//! Peer stores for a command on a swarm: when the definition names `peer://` stores, this
//! process dials them as a member, with its key (`swarm_node::client`).

use std::sync::Arc;

use anyhow::Result;
use swarm_core::definition::SwarmDefinition;
use swarm_engine::Kinds;
use swarm_node::PeerKind;

/// The kinds to open `def`'s stores with, and the peer kind when it has peer stores (its
/// endpoint is closed when the command ends).
pub async fn kinds_for(def: &SwarmDefinition) -> Result<(Kinds, Option<Arc<PeerKind>>)> {
    let mut kinds = Kinds::builtin();
    let peers = swarm_node::client::peer_kind_for(def).await?;
    if let Some(p) = &peers {
        kinds.register(p.clone());
    }
    Ok((kinds, peers))
}
