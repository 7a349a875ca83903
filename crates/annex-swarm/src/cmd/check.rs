//! `store check TARGET`: reachable? writable? free space? TARGET is a URL or a store id.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use swarm_core::definition::{StoreEntry, SwarmDefinition, parse_location};
use swarm_core::units::ByteSize;

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
        let text = tokio::fs::read_to_string(swarm_path).await.with_context(|| {
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
    let report = swarm_engine::admin::probe_store(
        &entry,
        swarm,
        swarm_engine::credentials::default_source(),
    )
    .await?;
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
