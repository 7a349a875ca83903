//! `definition sign|verify|show`: the detached signature beside the definition file, checked
//! over the file's exact bytes (`docs/spec/signed-definition-v1.md`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::json;
use swarm_core::definition::{MemberKind, Role, SwarmDefinition};
use swarm_core::identity::Identity;
use swarm_core::signed::{self, Refusal, SignedDefinition, Verified};

use crate::cli::DefinitionCommand;

pub fn run(path: &Path, action: DefinitionCommand) -> Result<ExitCode> {
    match action {
        DefinitionCommand::Push { .. } => bail!("definition push is handled before this"),
        DefinitionCommand::Sign { key } => sign(path, &key),
        DefinitionCommand::Verify { held } => verify(path, held.as_deref()),
        DefinitionCommand::Show { json } => show(path, json),
        DefinitionCommand::AddNode {
            node,
            addrs,
            store,
            name,
            role,
        } => super::add_node::run(path, &node, addrs, store, name, &role),
    }
}

/// The file's bytes and its `.sig`, if there is one.
fn read(path: &Path) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read swarm definition {} (pass --swarm or ANNEX_SWARM)",
            path.display()
        )
    })?;
    let sig_path = signed::sig_path(path);
    let sig = match std::fs::read(&sig_path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", sig_path.display())),
    };
    Ok((bytes, sig))
}

fn parse(path: &Path, bytes: &[u8]) -> Result<SwarmDefinition> {
    let text = std::str::from_utf8(bytes)
        .with_context(|| format!("{}: swarm definition is not UTF-8", path.display()))?;
    SwarmDefinition::parse(text).with_context(|| path.display().to_string())
}

fn sign(path: &Path, key: &Path) -> Result<ExitCode> {
    let (bytes, _) = read(path)?;
    let def = parse(path, &bytes)?;
    let identity = Identity::load(key)?;
    let sig = signed::sign(&bytes, &identity)?;
    let sig_path = signed::sig_path(path);
    super::add_node::write_replacing(&sig_path, sig.as_bytes())?;
    let id = identity.node_id();
    let who = match def.member(&id) {
        Some(m) => format!("{} ({}, {})", m.name, id.short(), m.role),
        None => format!("{id} (not a member)"),
    };
    eprintln!(
        "signed {} version {} as {who}; wrote {}",
        path.display(),
        def.version,
        sig_path.display()
    );
    if def.member(&id).is_none_or(|m| m.role != Role::Admin) {
        eprintln!(
            "note: this key is not an admin of version {}: nodes accept a signature by an admin of the version they hold",
            def.version
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(path: &Path, held: Option<&Path>) -> Result<ExitCode> {
    let (bytes, sig) = read(path)?;
    let refused = |r: Refusal| anyhow::anyhow!("{}: refused: {r}", path.display());
    let candidate = SignedDefinition::new(bytes, sig.as_deref()).map_err(refused)?;
    let verified = match held {
        None => candidate.verify(),
        Some(held_path) => {
            let (held_bytes, _) = read(held_path)?;
            signed::adopt(&parse(held_path, &held_bytes)?, &candidate)
        }
    }
    .map_err(|r| match r {
        Refusal::Unsigned => anyhow::anyhow!(
            "{}: refused: unsigned: no {}",
            path.display(),
            signed::sig_path(path).display()
        ),
        r => refused(r),
    })?;
    let Verified {
        definition,
        signer,
        hash,
    } = verified;
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    writeln!(
        out,
        "signer {} {} ({})",
        signer.name, signer.id, signer.role
    )?;
    writeln!(out, "version {}", definition.version)?;
    writeln!(out, "hash {hash}")?;
    Ok(ExitCode::SUCCESS)
}

fn show(path: &Path, json: bool) -> Result<ExitCode> {
    let (bytes, sig) = read(path)?;
    let def = parse(path, &bytes)?;
    let hash = swarm_core::ids::Hash32::of(&bytes);
    // None: unsigned; Some(Err): a signature that does not hold for these bytes.
    let signature = match SignedDefinition::new(bytes, sig.as_deref()) {
        Ok(s) if s.signature.is_none() => None,
        Ok(s) => Some(s.verify().map(|v| v.signer).map_err(|r| r.to_string())),
        Err(r) => Some(Err(r.to_string())),
    };
    let sig_path = signed::sig_path(path);
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    let kind = |k: MemberKind| match k {
        MemberKind::Node => "node",
        MemberKind::Client => "client",
    };
    if json {
        let signature = match &signature {
            None => json!({"status": "none"}),
            Some(Ok(s)) => json!({"status": "good", "signer": {
                "name": s.name, "key": s.id.to_string(), "role": s.role.as_str()}}),
            Some(Err(reason)) => json!({"status": "bad", "reason": reason}),
        };
        let members: Vec<_> = def
            .members()
            .map(|m| {
                let node = def.node(&m.id);
                json!({
                    "name": m.name,
                    "kind": kind(m.kind),
                    "role": m.role.as_str(),
                    "key": m.id.to_string(),
                    "addrs": node.map(|n| n.addrs.clone()).unwrap_or_default(),
                    "store": node.and_then(|n| n.store.clone()),
                })
            })
            .collect();
        let stores: Vec<_> = def
            .stores
            .iter()
            .map(|s| {
                let kind = s.location().map(|l| l.kind()).unwrap_or("unknown");
                json!({"id": s.id.to_string(), "url": s.url, "kind": kind})
            })
            .collect();
        let doc = json!({
            "swarm": def.swarm.to_string(),
            "format": def.format,
            "version": def.version,
            "hash": hash.to_string(),
            "signature": signature,
            "coding": {"k": def.coding.k, "m": def.coding.m,
                       "shard_size": def.shard_size().0},
            "members": members,
            "stores": stores,
        });
        // Through a string, so a closed stdout is an io::Error `main` recognises.
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "swarm {} version {} (format {})",
        def.swarm, def.version, def.format
    )?;
    writeln!(out, "hash {hash}")?;
    match &signature {
        None => writeln!(out, "signature none (no {})", sig_path.display())?,
        Some(Ok(s)) => writeln!(out, "signature good, by {} {} ({})", s.name, s.id, s.role)?,
        Some(Err(reason)) => writeln!(out, "signature BAD: {reason}")?,
    }
    writeln!(
        out,
        "coding {}+{}, shard size {}",
        def.coding.k,
        def.coding.m,
        def.shard_size()
    )?;
    if def.members().next().is_none() {
        writeln!(out, "members: none")?;
    } else {
        writeln!(out, "members:")?;
    }
    for m in def.members() {
        let mut line = format!(
            "  {:<6} {:<16} {:<5} {}",
            kind(m.kind),
            m.name,
            m.role,
            m.id
        );
        if let Some(n) = def.node(&m.id) {
            if !n.addrs.is_empty() {
                line.push_str(&format!(" addrs {}", n.addrs.join(",")));
            }
            if let Some(store) = &n.store {
                line.push_str(&format!(" store {store}"));
            }
        }
        writeln!(out, "{line}")?;
    }
    writeln!(out, "stores:")?;
    for s in &def.stores {
        writeln!(out, "  {:<16} {}", s.id.to_string(), s.url)?;
    }
    Ok(ExitCode::SUCCESS)
}
