//! One function per command. Each returns the exit code; errors bubble up to `main`.

mod add_node;
mod authorize;
mod check;
mod definition;
mod init;
mod node;
#[cfg(feature = "torrent")]
mod node_seed;
mod node_status;
mod peers;
mod push;
mod report;
#[cfg(feature = "torrent")]
mod seed;
#[cfg(feature = "torrent")]
mod torrent;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use swarm_core::definition::SwarmDefinition;
use swarm_core::key::Key;
use swarm_engine::Swarm;
use swarm_engine::inventory::WhenDown;

use crate::cli::{Cli, Command, StoreCommand, SwarmCommand};
use crate::progress::Bar;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let command = match cli.command {
        Command::Init(args) => return init::run(&cli.swarm, args).await,
        Command::Authorize(args) => return authorize::run(args).await,
        Command::Node { action } => return node::run(&cli.swarm, action).await,
        #[cfg(feature = "torrent")]
        Command::Torrent { action } => return torrent::run(action).await,
        #[cfg(feature = "torrent")]
        Command::Seed(args) => return seed::run(&cli.swarm, args).await,
        Command::Definition {
            action: crate::cli::DefinitionCommand::Push { to },
        } => return push::run(&cli.swarm, &to).await,
        Command::Definition { action } => return definition::run(&cli.swarm, action),
        Command::OnSwarm(SwarmCommand::Store {
            action: StoreCommand::Check { target, id, json },
        }) => return check::run(&cli.swarm, &target, id.as_deref(), json).await,
        Command::OnSwarm(command) => command,
    };
    let all_shards = matches!(
        command,
        SwarmCommand::Put {
            all_shards: true,
            ..
        }
    );
    let (swarm, peers) = open(&cli.swarm, all_shards).await?;
    let outcome = on_swarm(&swarm, command).await;
    // Lets a gc elsewhere run at once rather than when our write lock would have lingered.
    swarm.close().await;
    if let Some(p) = peers {
        // Tells the nodes we are done; dials to nodes that are down would hold it until they
        // time out, and there is nothing to tell them.
        let _ = tokio::time::timeout(Duration::from_millis(500), p.endpoint().close()).await;
    }
    if cli.request_stats {
        report::request_stats(&mut std::io::stderr(), &swarm)?;
    }
    outcome
}

async fn on_swarm(swarm: &Swarm, command: SwarmCommand) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    match command {
        SwarmCommand::Put {
            file, key, json, ..
        } => {
            let key = key.map(|k| parse_key(&k)).transpose()?;
            let r = swarm.put(&file, key, &Bar::new()).await?;
            if json {
                report::json(out, &r)?
            } else {
                writeln!(out, "{}", r.key)?
            }
            Ok(ExitCode::SUCCESS)
        }
        SwarmCommand::Get { key, dest, json } => {
            let key = parse_key(&key)?;
            let r = swarm.get(&key, &dest, &Bar::new()).await?;
            for s in &r.stores {
                if let (false, Some(why)) = (json, &s.dropped)
                    && !why.starts_with("unavailable")
                {
                    eprintln!("store {} was dropped during the get: {why}", s.store);
                }
            }
            if json {
                report::json(out, &r)?;
            } else if !r.problems.is_empty() {
                let down: Vec<String> = swarm
                    .members()
                    .stores()
                    .iter()
                    .filter(|m| !m.health().is_up())
                    .map(|m| m.id().to_string())
                    .collect();
                let down = if down.is_empty() {
                    String::new()
                } else {
                    format!(" (stores down: {})", down.join(", "))
                };
                eprintln!(
                    "restored, though {} shard reads failed{down}; `annex-swarm repair {}` restores full health",
                    r.problems.len(),
                    r.key
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SwarmCommand::Fsck { keys, verify, json } => {
            let keys = keys
                .iter()
                .map(|k| parse_key(k))
                .collect::<Result<Vec<_>>>()?;
            let health = swarm.fsck(&keys, verify, &Bar::new()).await?;
            if json {
                report::json(out, &health)?
            } else {
                report::fsck(out, &health)?
            }
            Ok(if health.iter().all(|h| h.restorable) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        SwarmCommand::Repair { keys, json } => {
            let keys = keys
                .iter()
                .map(|k| parse_key(k))
                .collect::<Result<Vec<_>>>()?;
            let reports = swarm.repair(&keys, &Bar::new()).await?;
            if json {
                report::json(out, &reports)?
            } else {
                report::repair(out, &reports)?
            }
            let healthy = reports
                .iter()
                .all(|r| r.error.is_none() && r.after.as_ref().is_some_and(|h| h.restorable));
            Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        SwarmCommand::Ls { json } => {
            let keys = swarm.ls().await?;
            if json {
                report::json(out, &keys)?
            } else {
                report::ls(out, &keys)?
            }
            Ok(ExitCode::SUCCESS)
        }
        SwarmCommand::Status { json } => {
            let status = swarm.status().await?;
            if json {
                report::json(out, &status)?
            } else {
                report::status(out, &status)?
            }
            Ok(ExitCode::SUCCESS)
        }
        SwarmCommand::Rm {
            keys,
            reachable_only,
        } => {
            let down = if reachable_only {
                WhenDown::Skip
            } else {
                WhenDown::Refuse
            };
            for key in keys {
                let key = parse_key(&key)?;
                let r = swarm.rm_with(&key, down).await?;
                if !r.unreachable.is_empty() {
                    eprintln!(
                        "warning: {key}: stores down may still hold a manifest copy: {}",
                        r.unreachable.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SwarmCommand::Store {
            action: StoreCommand::Check { .. },
        } => bail!("store check is handled before the swarm is opened"),
        SwarmCommand::Store {
            action: StoreCommand::Init { id },
        } => {
            let url = swarm.prepare_store(&id).await?;
            eprintln!("store {id} ({url}) is ready; run `annex-swarm repair` to refill it");
            Ok(ExitCode::SUCCESS)
        }
        SwarmCommand::Gc { grace, force } => {
            let r = swarm.gc(parse_duration(&grace)?, force).await?;
            writeln!(
                out,
                "{} keys; deleted {} shards ({} bytes) and {} temporary files; kept {} shards, {} unreferenced but younger than the grace period",
                r.keys,
                r.shards_deleted,
                r.bytes_freed,
                r.temp_deleted,
                r.shards_kept,
                r.shards_too_young
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens the swarm; with `all_shards`, puts write every shard rather than leave parity to the
/// nodes.
async fn open(
    path: &std::path::Path,
    all_shards: bool,
) -> Result<(Swarm, Option<std::sync::Arc<swarm_node::PeerKind>>)> {
    let text = tokio::fs::read_to_string(path)
        .await
        .with_context(|| format!("cannot read swarm definition {} (create one with `annex-swarm init`, or pass --swarm / ANNEX_SWARM)", path.display()))?;
    let def = SwarmDefinition::parse(&text).with_context(|| path.display().to_string())?;
    let (kinds, peers) = peers::kinds_for(&def).await?;
    // A member signs the manifests it writes (nodes take no others).
    let policy = swarm_engine::swarm::ManifestPolicy {
        writer: peers.as_ref().map(|p| p.manifest_writer()),
        writers_only: false,
    };
    let swarm = Swarm::builder(def)
        .kinds(kinds)
        .all_shards(all_shards)
        .manifests(policy)
        .open()
        .await?;
    Ok((swarm, peers))
}

/// A key from an argument's bytes (a key need not be UTF-8).
fn parse_key(s: &std::ffi::OsStr) -> Result<Key> {
    Ok(Key::from_bytes(s.as_encoded_bytes())?)
}

/// `90s`, `30m`, `1h`, `2d`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .with_context(|| format!("bad duration `{s}` (examples: 90s, 30m, 1h, 2d)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => bail!("bad duration `{s}`: unknown unit `{unit}` (use s, m, h or d)"),
    };
    Ok(Duration::from_secs(n.saturating_mul(mult)))
}
