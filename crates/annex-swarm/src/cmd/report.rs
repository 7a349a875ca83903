//! Human and JSON renderings of engine reports.

use anyhow::Result;
use serde::Serialize;
use swarm_engine::fsck::{KeyHealth, RepairReport};
use swarm_engine::maintain::{KeyEntry, SwarmStatus};

pub fn json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn fsck(health: &[KeyHealth]) {
    for h in health {
        let state = if !h.restorable {
            "LOST".to_owned()
        } else if h.spare == 0 {
            "at risk: no store may be lost".to_owned()
        } else {
            format!("ok: {} more stores may be lost", h.spare)
        };
        println!(
            "{}  {} chunks, {}/{} shards healthy, {} manifest copies  {}",
            h.key, h.chunks, h.shards_healthy, h.shards_expected, h.manifest_copies, state
        );
        for p in &h.problems {
            println!("    {p}");
        }
    }
    let lost = health.iter().filter(|h| !h.restorable).count();
    println!(
        "{} keys checked, {} restorable, {lost} lost",
        health.len(),
        health.len() - lost
    );
}

pub fn repair(reports: &[RepairReport]) {
    for r in reports {
        let after = r.after.as_ref().map_or("unknown".to_owned(), |h| {
            if h.restorable {
                format!("{} spare", h.spare)
            } else {
                "LOST".into()
            }
        });
        println!(
            "{}  rewrote {} shards, {} manifests; health {} -> {after}{}",
            r.key,
            r.shards_rewritten,
            r.manifests_rewritten,
            r.before.spare,
            r.error
                .as_ref()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    }
}

pub fn ls(keys: &[KeyEntry]) {
    for k in keys {
        println!("{}\t{}\t{}", k.key, k.size, k.chunks);
    }
}

pub fn status(s: &SwarmStatus) {
    println!(
        "swarm {}  {}+{}  {} keys, {} bytes stored, {} bytes on stores",
        s.swarm, s.k, s.m, s.keys, s.bytes_stored, s.bytes_on_stores
    );
    for st in &s.stores {
        let state = match &st.problem {
            None => "up".to_owned(),
            Some(p) => format!("DOWN: {p}"),
        };
        println!(
            "  {:<12} {:<40} {:>8} shards {:>6} manifests {:>14} bytes  {state}",
            st.id, st.url, st.shards, st.manifests, st.bytes_used
        );
    }
}
