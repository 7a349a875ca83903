//! `node init` and `node id`: the node's ed25519 key file; `node run`: the node daemon, and
//! (feature `torrent`) the seeder of the keys its definition's `[seed]` lists for it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use swarm_core::identity::Identity;

use crate::cli::NodeCommand;

pub async fn run(swarm: &std::path::Path, action: NodeCommand) -> Result<ExitCode> {
    if let NodeCommand::Run {
        key,
        listen,
        replicate_every,
        status,
    } = action
    {
        let every = super::parse_duration(&replicate_every)
            .map_err(|e| anyhow::anyhow!("--replicate-every {replicate_every}: {e}"))?;
        if every.is_zero() {
            bail!("--replicate-every must be more than 0");
        }
        return serve(swarm, key, listen, every, status).await;
    }
    if let NodeCommand::Status { json } = action {
        return super::node_status::run(swarm, json).await;
    }
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    match action {
        NodeCommand::Init { key } => {
            let path = key_path(key)?;
            let identity = Identity::create(&path)?;
            eprintln!("wrote a new node key to {} (mode 0600)", path.display());
            writeln!(out, "{}", identity.node_id())?;
        }
        NodeCommand::Id { key, openssh } => {
            let identity = Identity::load(&key_path(key)?)?;
            if openssh {
                writeln!(out, "{}", identity.public_openssh())?;
            } else {
                writeln!(out, "{}", identity.node_id())?;
            }
        }
        NodeCommand::Run { .. } | NodeCommand::Status { .. } => {
            bail!("handled before the key commands")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `node run`: serves until a signal ends the process.
async fn serve(
    swarm: &std::path::Path,
    key: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
    replicate_every: std::time::Duration,
    status: Option<std::net::SocketAddr>,
) -> Result<ExitCode> {
    let key = key_path(key)?;
    let identity = Identity::load(&key)?;
    let local = node_local(&key)?;
    let bytes = std::fs::read(swarm)
        .with_context(|| format!("cannot read swarm definition {}", swarm.display()))?;
    let text =
        std::str::from_utf8(&bytes).with_context(|| format!("{}: not UTF-8", swarm.display()))?;
    let definition = swarm_core::definition::SwarmDefinition::parse(text)
        .with_context(|| swarm.display().to_string())?;
    let sig_path = swarm_core::signed::sig_path(swarm);
    let signature = match std::fs::read(&sig_path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", sig_path.display())),
    };
    #[cfg(feature = "torrent")]
    let seed_local = local.clone();
    let daemon = swarm_node::daemon::start(swarm_node::DaemonConfig {
        secret: swarm_node::NodeSecret::from_bytes(identity.secret_bytes()),
        definition,
        definition_bytes: bytes,
        signature,
        definition_path: Some(swarm.to_owned()),
        listen,
        exchange_every: swarm_node::daemon::EXCHANGE_EVERY,
        replicate_every,
        status,
        local,
    })
    .await?;
    {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        writeln!(
            out,
            "{} listening on {} (store {})",
            identity.node_id(),
            daemon.addr,
            daemon.store
        )?;
        if let Some(a) = daemon.status_addr() {
            writeln!(out, "status page on http://{a}/")?;
        }
        out.flush()?;
    }
    // Keys the definition's [seed] lists for this node, seeded beside it (dropped with it).
    #[cfg(feature = "torrent")]
    let _seeder = super::node_seed::start(&daemon, seed_local, identity.node_id());
    // Until SIGINT, SIGTERM or SIGHUP: `main` drops this future, and with it the node.
    std::future::pending::<()>().await;
    Ok(ExitCode::SUCCESS)
}

/// The node's `node.toml`, beside its key file; empty when there is none.
fn node_local(key: &std::path::Path) -> Result<swarm_core::node_local::NodeLocal> {
    let path = key.with_file_name("node.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => swarm_core::node_local::NodeLocal::parse(&text)
            .with_context(|| path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The given path, or `$XDG_CONFIG_HOME/annex-swarm/node_ed25519`, or
/// `~/.config/annex-swarm/node_ed25519`.
pub fn key_path(given: Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p),
        None => match swarm_node::client::default_key_path() {
            Some(p) => Ok(p),
            None => bail!("neither XDG_CONFIG_HOME nor HOME is set: give the key file with --key"),
        },
    }
}
