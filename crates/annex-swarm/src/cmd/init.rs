//! `init`: write a definition and prepare each store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use swarm_core::definition::SwarmDefinition;
use swarm_core::units::ByteSize;

use crate::cli::InitArgs;

pub async fn run(path: &Path, args: InitArgs) -> Result<ExitCode> {
    let InitArgs {
        k,
        m,
        stores,
        shard_size,
        inline_threshold,
        force,
    } = args;
    if path.exists() && !force {
        bail!(
            "{} already exists (use --force to replace it)",
            path.display()
        );
    }
    let urls = stores
        .iter()
        .map(|url| absolute(url))
        .collect::<Result<Vec<_>>>()?;
    let mut def = SwarmDefinition::from_urls(k, m, &urls)?;
    if let Some(size) = shard_size {
        def.coding.shard_size = Some(size.parse::<ByteSize>()?);
    }
    def.coding.inline_threshold = inline_threshold.parse::<ByteSize>()?;
    def.validate()?;
    swarm_engine::admin::create_stores(
        &def,
        swarm_engine::credentials::default_source(),
        &swarm_engine::Kinds::builtin(),
    )
    .await?;
    tokio::fs::write(path, def.to_toml())
        .await
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "created swarm {} ({}+{} over {} stores) in {}",
        def.swarm,
        k,
        m,
        def.stores.len(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Directory arguments become absolute paths, so the definition works from anywhere.
fn absolute(url: &str) -> Result<String> {
    if url.contains("://") || url.starts_with('/') {
        return Ok(url.to_owned());
    }
    let p: PathBuf = std::env::current_dir()?.join(url);
    p.to_str()
        .map(str::to_owned)
        .with_context(|| format!("store path {} is not UTF-8", p.display()))
}
