//! `node status`: the definition's nodes, greeted as a member.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use swarm_core::definition::SwarmDefinition;
use swarm_node::link::PeerAddr;
use swarm_node::spread::{Keeper, greet};
use swarm_node::{Membership, kind::node_addresses};

#[derive(Debug, Serialize)]
struct NodeStatus {
    name: String,
    id: String,
    addrs: Vec<String>,
    /// Where the addresses come from: `definition`, or `dht` (the node's record).
    found_in: Option<&'static str>,
    reachable: bool,
    /// The definition version it holds.
    version: Option<u64>,
    /// Whether it holds the very bytes of the --swarm file.
    same_definition: Option<bool>,
    problem: Option<String>,
}

pub async fn run(path: &Path, json: bool) -> Result<ExitCode> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read swarm definition {}", path.display()))?;
    let text =
        std::str::from_utf8(&bytes).with_context(|| format!("{}: not UTF-8", path.display()))?;
    let def = SwarmDefinition::parse(text).with_context(|| path.display().to_string())?;
    let Some(peers) = swarm_node::client::peer_kind_for(&def).await? else {
        bail!("{} lists no peer store: no node to ask", path.display());
    };
    let keeper = Keeper::new(def.clone(), bytes, None, None, Membership::default());
    let (_, ours) = keeper.version();
    let book = node_addresses(&def);
    let mut report = Vec::new();
    for node in &def.nodes {
        let Ok(id) = swarm_node::NodeId::from_bytes(node.key.id.as_bytes()) else {
            continue;
        };
        let mut addrs = book.get(&id).cloned().unwrap_or_default();
        let mut found_in = (!addrs.is_empty()).then_some("definition");
        if let (true, Some(dht)) = (addrs.is_empty(), peers.dht())
            && let Some(record) = dht.find(id).await
        {
            addrs = record.addrs;
            found_in = Some("dht");
        }
        let mut status = NodeStatus {
            name: node.name.clone(),
            id: id.to_string(),
            addrs: addrs.iter().map(ToString::to_string).collect(),
            found_in,
            reachable: false,
            version: None,
            same_definition: None,
            problem: None,
        };
        if addrs.is_empty() {
            status.problem = Some(match peers.dht() {
                Some(_) => "no address in the definition, no record in the DHT".into(),
                None => "no address in the definition".into(),
            });
        } else {
            match greet(peers.endpoint(), &PeerAddr { node: id, addrs }, &keeper).await {
                Ok(hello) => {
                    status.reachable = true;
                    status.version = Some(hello.definition_version);
                    status.same_definition = Some(hello.definition_hash == ours);
                }
                Err(e) => status.problem = Some(e.to_string()),
            }
        }
        report.push(status);
    }
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        peers.endpoint().close(),
    )
    .await;
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "definition version {} ({})",
            def.version,
            path.display()
        )?;
        for s in &report {
            let state = match (&s.version, s.same_definition) {
                (Some(v), Some(true)) => format!("up, version {v} (this file)"),
                (Some(v), _) => format!("up, version {v}"),
                _ => format!("down: {}", s.problem.as_deref().unwrap_or("?")),
            };
            let addr = match (s.addrs.first(), s.found_in) {
                (Some(a), Some("dht")) => format!("{a} (dht)"),
                (Some(a), _) => a.clone(),
                (None, _) => "-".into(),
            };
            writeln!(
                out,
                "  {:<12} {}  {:<22} {state}",
                s.name,
                &s.id[..10],
                addr
            )?;
        }
    }
    Ok(if report.iter().all(|s| s.reachable) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
