//! `definition push`: offers the definition file (and its `.sig`) to the nodes it lists.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use swarm_core::definition::SwarmDefinition;
use swarm_node::link::PeerAddr;
use swarm_node::spread::{Exchanged, Keeper, offer};
use swarm_node::{Membership, kind::node_addresses};

pub async fn run(path: &Path, to: &[String]) -> Result<ExitCode> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read swarm definition {}", path.display()))?;
    let text =
        std::str::from_utf8(&bytes).with_context(|| format!("{}: not UTF-8", path.display()))?;
    let def = SwarmDefinition::parse(text).with_context(|| path.display().to_string())?;
    let sig_path = swarm_core::signed::sig_path(path);
    let sig = std::fs::read(&sig_path).with_context(|| {
        format!(
            "{} is not signed (no {}): sign it first",
            path.display(),
            sig_path.display()
        )
    })?;
    let Some(peers) = swarm_node::client::peer_kind_for(&def).await? else {
        bail!(
            "{} lists no peer store: no node to offer it to",
            path.display()
        );
    };
    let keeper = Keeper::new(def.clone(), bytes, Some(sig), None, Membership::default());
    let book = node_addresses(&def);
    let mut failed = false;
    let stdout = std::io::stdout();
    for node in &def.nodes {
        if !to.is_empty() && !to.contains(&node.name) {
            continue;
        }
        let Some(id) = swarm_node::NodeId::from_bytes(node.key.id.as_bytes()).ok() else {
            continue;
        };
        let addrs = book.get(&id).cloned().unwrap_or_default();
        // Without an address, only the DHT (the endpoint's address lookup) can find it.
        if addrs.is_empty() && peers.dht().is_none() {
            writeln!(
                stdout.lock(),
                "{}: no address in the definition: skipped",
                node.name
            )?;
            continue;
        }
        let said = match offer(peers.endpoint(), &PeerAddr { node: id, addrs }, &keeper).await {
            Ok(Exchanged::Gave) => format!("adopted version {}", def.version),
            Ok(Exchanged::Same) => "holds it already".to_owned(),
            Ok(Exchanged::Took(v)) => {
                failed = true;
                format!("holds a newer version ({v}) than this file")
            }
            Ok(Exchanged::WeRefused(why)) => {
                failed = true;
                format!("holds a newer version than this file ({why})")
            }
            Ok(Exchanged::TheyRefused(why)) => {
                failed = true;
                why
            }
            Ok(Exchanged::Conflict) => {
                failed = true;
                format!("holds another definition of version {}", def.version)
            }
            Err(e) => {
                failed = true;
                format!("not reached: {e}")
            }
        };
        writeln!(stdout.lock(), "{}: {said}", node.name)?;
    }
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        peers.endpoint().close(),
    )
    .await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
