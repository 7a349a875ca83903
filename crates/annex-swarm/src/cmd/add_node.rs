//! `definition add-node`: a `[[node]]` entry (and its peer store) added to the definition file,
//! which is rewritten as format 2 with the next version. The old signature no longer matches.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use swarm_core::definition::{FORMAT_2, MemberKey, NodeEntry, Role, StoreEntry, SwarmDefinition};
use swarm_core::ids::StoreId;
use swarm_core::signed;

pub fn run(
    path: &Path,
    node: &str,
    addrs: Vec<String>,
    store: Option<String>,
    name: Option<String>,
    role: &str,
) -> Result<ExitCode> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read swarm definition {}", path.display()))?;
    let mut def = SwarmDefinition::parse(&text).with_context(|| path.display().to_string())?;
    let key: MemberKey = node.parse()?;
    let id = key.id;
    if let Some(m) = def.member(&id) {
        bail!("{id} is already a member: {} `{}`", kind(&def, &id), m.name);
    }
    let role = match role {
        "read" => Role::Read,
        "write" => Role::Write,
        "admin" => Role::Admin,
        other => bail!("bad role `{other}`: use read, write or admin"),
    };
    let name = name.unwrap_or_else(|| format!("node-{}", &id.to_hex()[..8]));
    if store.is_some() {
        let store_id = peer_store_id(&def, &name, &id.to_hex())?;
        def.stores
            .push(StoreEntry::new(store_id, format!("peer://{id}")));
    }
    def.nodes.push(NodeEntry {
        role,
        addrs,
        store,
        key,
        ..NodeEntry::new(name.clone(), id)
    });
    def.format = FORMAT_2;
    def.version = def
        .version
        .checked_add(1)
        .context("version cannot go higher")?;
    def.validate().with_context(|| path.display().to_string())?;
    write_replacing(path, def.to_toml().as_bytes())?;
    eprintln!(
        "added node {name} ({}) to {}: now version {} (format 2)",
        id.short(),
        path.display(),
        def.version
    );
    let sig = signed::sig_path(path);
    if sig.exists() {
        eprintln!(
            "{} no longer matches: sign version {} again (annex-swarm definition sign --key KEY)",
            sig.display(),
            def.version
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn kind(def: &SwarmDefinition, id: &swarm_core::node_id::NodeId) -> &'static str {
    if def.node(id).is_some() {
        "node"
    } else {
        "client"
    }
}

/// The node's name when it is a valid store id nobody uses, else `node-` and 8 hex digits.
fn peer_store_id(def: &SwarmDefinition, name: &str, hex: &str) -> Result<StoreId> {
    let free = |id: &StoreId| def.stores.iter().all(|s| s.id != *id);
    if let Ok(id) = name.parse::<StoreId>()
        && free(&id)
    {
        return Ok(id);
    }
    let fallback: StoreId = format!("node-{}", &hex[..8]).parse()?;
    if !free(&fallback) {
        bail!("store id `{fallback}` is taken: give the node another --name");
    }
    Ok(fallback)
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so a reader sees
/// the old file or the new one, never half of one.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path.file_name().context("not a file path")?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".annex-swarm-{}.tmp", std::process::id()));
    let tmp = match dir {
        Some(d) => d.join(&tmp_name),
        None => tmp_name.into(),
    };
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}", path.display())
    })
}
