//! `store check TARGET`: reachable? writable? free space? TARGET is a URL or a store id.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use bytes::Bytes;
use serde::Serialize;
use swarm_core::definition::{StoreEntry, SwarmDefinition, parse_location};
use swarm_core::ids::SwarmId;
use swarm_core::units::ByteSize;
use swarm_store::{StoreError, layout, open_store};

#[derive(Debug, Serialize)]
struct CheckReport {
    store: String,
    kind: String,
    url: String,
    reachable: bool,
    writable: bool,
    /// Bytes free, where the service says.
    free_space: Option<u64>,
    /// For a store id: whether it carries this swarm's marker.
    initialised: Option<bool>,
    problem: Option<String>,
}

pub async fn run(
    swarm_path: &Path,
    target: &str,
    id: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let is_url = target.contains("://") || target.starts_with('/');
    let (entry, swarm) = if is_url {
        parse_location(target)?;
        let id = id.unwrap_or("check");
        (
            StoreEntry::new(
                id.parse().with_context(|| format!("store id `{id}`"))?,
                target,
            ),
            None,
        )
    } else {
        let text = std::fs::read_to_string(swarm_path).with_context(|| {
            format!(
                "`{target}` is not a URL, and the swarm definition {} to look it up in cannot be read",
                swarm_path.display()
            )
        })?;
        let def =
            SwarmDefinition::parse(&text).with_context(|| swarm_path.display().to_string())?;
        let entry = def
            .stores
            .iter()
            .find(|s| s.id.as_str() == target)
            .with_context(|| format!("no store `{target}` in {}", swarm_path.display()))?
            .clone();
        (entry, Some(def.swarm))
    };
    let store = open_store(&entry, swarm.unwrap_or(SwarmId([0; 16])))?;
    let mut report = CheckReport {
        store: entry.id.to_string(),
        kind: store.kind().to_owned(),
        url: entry.url.clone(),
        reachable: false,
        writable: false,
        free_space: None,
        initialised: None,
        problem: None,
    };
    let probe = format!(
        "{}/annex-swarm-probe-{}-{}",
        layout::TMP,
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let data = Bytes::from(
        (0..65536u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    );
    // Reachable: the service answers a question about the marker (present or not).
    match store.stat(layout::MARKER).await {
        Ok(_) => report.reachable = true,
        Err(e) => report.problem = Some(e.to_string()),
    }
    if report.reachable {
        let outcome: Result<(), StoreError> = async {
            store.write(&probe, data.clone()).await?;
            let back = store.read(&probe).await?;
            store.delete(&probe).await?;
            if back != data {
                return Err(StoreError::Unavailable {
                    store: entry.id.to_string(),
                    reason: "the probe object read back different".into(),
                });
            }
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => report.writable = true,
            Err(e) => {
                // A local directory that does not exist is not reachable either.
                if store.kind() == "local" && e.is_unavailable() {
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
    let code = if !report.reachable {
        2
    } else if !report.writable {
        3
    } else if report.initialised == Some(false) {
        4
    } else {
        0
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let yes = |b: bool| if b { "yes" } else { "NO" };
        println!("store {} ({}) {}", report.store, report.kind, report.url);
        println!("  reachable:  {}", yes(report.reachable));
        println!("  writable:   {}", yes(report.writable));
        println!(
            "  free space: {}",
            report
                .free_space
                .map(|b| ByteSize(b).to_string())
                .unwrap_or_else(|| "not reported by this service".into())
        );
        if let Some(i) = report.initialised {
            println!(
                "  marker:     {}",
                if i {
                    "this swarm's store"
                } else {
                    "NOT this swarm's store"
                }
            );
        }
        if let Some(p) = &report.problem {
            println!("  problem:    {p}");
        }
    }
    Ok(ExitCode::from(code))
}
