//! `node init` and `node id`: the node's ed25519 key file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use swarm_core::identity::Identity;

use crate::cli::NodeCommand;

pub fn run(action: NodeCommand) -> Result<ExitCode> {
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
    }
    Ok(ExitCode::SUCCESS)
}

/// The given path, or `$XDG_CONFIG_HOME/annex-swarm/node_ed25519`, or
/// `~/.config/annex-swarm/node_ed25519`.
pub fn key_path(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => bail!("neither XDG_CONFIG_HOME nor HOME is set: give the key file with --key"),
        },
    };
    Ok(config.join("annex-swarm").join("node_ed25519"))
}
